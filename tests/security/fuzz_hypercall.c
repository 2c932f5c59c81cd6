/*
 * fuzz_hypercall.c - fuzz harness for the hypercall decoder and the port /
 * MMIO devices (vmm/devices/devices.c), through the public vm_handle_mmio() and
 * vm_handle_io(), with no KVM: a struct vm whose guest RAM (vm->mem) is a
 * malloc'd buffer of exactly its size (ASan sees any access past it).
 *
 * Input:
 *   byte 0      flags: bit 0 cfg.snapshots; bits 4-5: RAM is (1 + n) pages
 *   byte 1      number of exits N (at most 32)
 *   N x 24      exits: u8 kind, u8 vcpu, u8 width, u8 dir, u16 count,
 *               u16 port, u64 addr, u64 data; kind % 4:
 *                 0 doorbell: 4-byte MMIO write of `data` (the block's gpa)
 *                   to COWVM_GPA_DOORBELL (ring 3's hypercall)
 *                 1 MMIO at `addr`, width 1..8, read or write
 *                 2 hypercall port: 4-byte OUT of `data` to COWVM_HC_PORT
 *                   (ring 0's hypercall)
 *                 3 port I/O: `port`, width 1/2/4, `count` repetitions
 *                   (string I/O, at most one page of data like kvm_run's)
 *   the rest    initial guest RAM from gpa 0 (zero after it)
 *
 * Properties: a hypercall changes at most the 8-byte `ret` of its block
 * (guest RAM is otherwise untouched by every exit); console output lies
 * inside guest RAM or the exit's data and is at most COWVM_HC_WRITE_MAX
 * bytes; every IN and MMIO read fills all its data; the result stays well
 * formed (reports <= VM_MAX_REPORTS with non-empty terminated keys, a
 * terminated message); the action is one of CONTINUE/STOP/PARK.
 */
#include <string.h>

#include "cowvm_abi.h"
#include "fuzz_common.h"
#include "vm.h"

#define PAGE 4096u
#define EXIT_BYTES 24
#define MAX_EXITS 32

struct sink {
	const uint8_t *ram;
	uint64_t ram_size;
	const uint8_t *io;
	size_t io_len;
	uint64_t bytes;
	uint8_t sum;
};

static void console(void *ctx, const char *buf, size_t len)
{
	struct sink *k = ctx;
	const uint8_t *b = (const uint8_t *)buf;
	int in_ram = b >= k->ram && len <= k->ram_size && (uint64_t)(b - k->ram) <= k->ram_size - len;
	int in_io = k->io && b >= k->io && len <= k->io_len && (size_t)(b - k->io) <= k->io_len - len;
	FUZZ_CHECK(in_ram || in_io, "console bytes from outside guest RAM and the exit's data");
	FUZZ_CHECK(len <= COWVM_HC_WRITE_MAX, "console write of %zu bytes", len);
	for (size_t i = 0; i < len; i++) /* touch every byte (ASan) */
		k->sum ^= b[i];
	k->bytes += len;
}

static void check_result(struct vm *vm)
{
	const struct vm_result *r = &vm->result;
	FUZZ_CHECK(r->nreports <= VM_MAX_REPORTS, "%u reports", r->nreports);
	for (unsigned i = 0; i < r->nreports; i++) {
		size_t n = strnlen(r->reports[i].key, sizeof(r->reports[i].key));
		FUZZ_CHECK(n > 0 && n < sizeof(r->reports[i].key), "report %u key of %zu bytes", i, n);
	}
	FUZZ_CHECK(strnlen(r->msg, sizeof(r->msg)) < sizeof(r->msg), "unterminated message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned flags = data[0], nexit = data[1] % (MAX_EXITS + 1);
	data += 2, size -= 2;
	if (nexit * EXIT_BYTES > size)
		nexit = (unsigned)(size / EXIT_BYTES);
	const uint8_t *exits = data;
	data += nexit * EXIT_BYTES, size -= nexit * EXIT_BYTES;

	uint64_t ram_size = (uint64_t)PAGE * (1 + ((flags >> 4) & 3));
	uint8_t *ram = calloc(1, ram_size), *before = malloc(ram_size);
	memcpy(ram, data, size < ram_size ? size : ram_size);
	struct sink k = { .ram = ram, .ram_size = ram_size };

	struct vm *vm = calloc(1, sizeof(*vm));
	vm->mem = (struct guest_mem){ .host = ram, .size = ram_size };
	vm->cfg.console = console;
	vm->cfg.console_ctx = &k;
	vm->cfg.snapshots = flags & 1;
	vm->nvcpus = 2;
	vm->kvm_fd = vm->vm_fd = -1;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		vm->vcpus[i].index = i;
		vm->vcpus[i].fd = -1;
	}
	pthread_mutex_init(&vm->lock, NULL);

	for (unsigned i = 0; i < nexit; i++) {
		const uint8_t *x = exits + i * EXIT_BYTES;
		unsigned kind = x[0] % 4, vcpu = x[1] % vm->nvcpus, width = x[2], dir = x[3] & 1;
		uint16_t count, port;
		uint64_t addr, val;
		memcpy(&count, x + 4, 2);
		memcpy(&port, x + 6, 2);
		memcpy(&addr, x + 8, 8);
		memcpy(&val, x + 16, 8);
		struct vcpu *v = &vm->vcpus[vcpu];
		struct vcpu_exit ex = { .kind = kind < 2 ? VCPU_EXIT_MMIO : VCPU_EXIT_IO };
		size_t dlen;
		if (kind == 0) {
			ex.mmio.gpa = COWVM_GPA_DOORBELL, ex.mmio.len = 4, ex.mmio.write = 1;
			dlen = 4;
		} else if (kind == 1) {
			ex.mmio.gpa = addr, ex.mmio.len = 1 + width % 8, ex.mmio.write = dir;
			dlen = ex.mmio.len;
		} else if (kind == 2) {
			ex.io.port = COWVM_HC_PORT, ex.io.size = 4, ex.io.out = 1, ex.io.count = 1;
			dlen = 4;
		} else {
			static const uint8_t widths[] = { 1, 2, 4 };
			ex.io.port = port, ex.io.size = widths[width % 3], ex.io.out = dir;
			ex.io.count = 1 + count % (PAGE / ex.io.size);
			dlen = (size_t)ex.io.size * ex.io.count;
		}
		/* The exit's data, exactly dlen bytes (in KVM: inside kvm_run). */
		uint8_t *d = malloc(dlen);
		for (size_t j = 0; j < dlen; j++)
			d[j] = j < 8 ? (uint8_t)(val >> (8 * j)) : (uint8_t)(val >> (8 * (j % 8))) ^ (uint8_t)j;
		int reads = kind == 1 ? !dir : kind == 3 ? !dir : 0;
		if (reads)
			memset(d, 0x5a, dlen);
		if (ex.kind == VCPU_EXIT_MMIO)
			ex.mmio.data = d;
		else
			ex.io.data = d;
		k.io = d, k.io_len = dlen;

		/* Which block a hypercall names (only its ret may change). */
		uint32_t blk = 0;
		int hcall = kind == 0 || kind == 2 ||
		            (kind == 1 && ex.mmio.gpa == COWVM_GPA_DOORBELL && dir && ex.mmio.len == 4) ||
		            (kind == 3 && ex.io.port == COWVM_HC_PORT && dir && ex.io.size == 4 && ex.io.count == 1);
		if (hcall)
			memcpy(&blk, d, 4);
		memcpy(before, ram, ram_size);

		enum vm_action a = ex.kind == VCPU_EXIT_MMIO ? vm_handle_mmio(vm, v, &ex) : vm_handle_io(vm, v, &ex);
		FUZZ_CHECK(a == VM_CONTINUE || a == VM_STOP || a == VM_PARK, "action %d", (int)a);

		uint64_t ret_off = (uint64_t)blk + offsetof(struct cowvm_hcall, ret);
		int changed = memcmp(ram, before, ram_size) != 0; /* the byte loop only if needed */
		for (uint64_t g = 0; changed && g < ram_size; g++)
			FUZZ_CHECK(ram[g] == before[g] || (hcall && g >= ret_off && g < ret_off + 8),
			           "exit %u (kind %u) changed guest byte %#llx", i, kind, (unsigned long long)g);
		if (reads)
			for (size_t j = 0; j < dlen; j++)
				FUZZ_CHECK(d[j] != 0x5a, "exit %u (kind %u): read data byte %zu not filled", i, kind, j);
		check_result(vm);
		free(d);
		k.io = NULL, k.io_len = 0;
		if (a == VM_STOP) {
			/* The run ended; the caller runs the VM again (vm_run resets). */
			memset(&vm->result, 0, sizeof(vm->result));
			atomic_store(&vm->stopping, 0);
		}
	}
	pthread_mutex_destroy(&vm->lock);
	free(vm);
	free(before);
	free(ram);
	return 0;
}
