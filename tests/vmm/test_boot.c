/*
 * test_boot.c - integration tests: boot the real guest-stub (and tiny test
 * guests) on KVM for every workload and assert exact console output, exit
 * status, exception vector/error code/CR2, checksums against a host model,
 * timeouts, multi-vCPU and concurrent VMs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cowvm_abi.h"
#include "kvm_test_util.h"

#define MiB (1ull << 20)

/* Host model of the memtouch workload (see guest-stub/workloads.c): a flat
 * array of each page's first qword. */
static uint64_t model_memtouch(int rnd, int wr, uint64_t mib, uint64_t iters, uint64_t seed)
{
	uint64_t npages = mib << 8, h = COWVM_FOLD_INIT, s = seed ? seed : 1;
	uint64_t *first = calloc(npages, sizeof(uint64_t));
	cr_assert_not_null(first);
	for (uint64_t it = 0; it < iters; it++)
		for (uint64_t i = 0; i < npages; i++) {
			uint64_t p = rnd ? cowvm_xorshift64(&s) % npages : i;
			if (wr)
				first[p] = cowvm_memtouch_value(p, it);
			else
				h = cowvm_fold(h, first[p]);
		}
	if (wr)
		for (uint64_t p = 0; p < npages; p++)
			h = cowvm_fold(h, first[p]);
	free(first);
	return h;
}

static void assert_exit(const struct boot *b, int status)
{
	cr_assert_eq(b->res.end, VM_END_EXIT, "VM ended with %d: %s", b->res.end, b->res.msg);
	cr_assert_eq(b->res.status, status, "exit status %d, expected %d (console: %s)",
	             b->res.status, status, b->con.data);
}

static void assert_checksum(const struct boot *b, uint64_t want)
{
	uint64_t got;
	cr_assert_eq(vm_result_report(&b->res, "memtouch.checksum", &got), 0, "no checksum report");
	cr_assert_eq(got, want, "checksum %#llx, host model says %#llx", (unsigned long long)got,
	             (unsigned long long)want);
	char line[64];
	snprintf(line, sizeof(line), "checksum=0x%016llx\n", (unsigned long long)want);
	cr_assert_not_null(strstr(b->con.data, line), "console lacks '%s': %s", line, b->con.data);
}

static int in_exec_segment(const struct elf_image *img, uint64_t addr)
{
	for (unsigned i = 0; i < img->nseg; i++)
		if (img->seg[i].executable && addr >= img->seg[i].gpa && addr < img->seg[i].gpa + img->seg[i].memsz)
			return 1;
	return 0;
}

static void assert_exception(const struct boot *b, uint64_t vector, uint64_t error, uint64_t cr2)
{
	cr_assert_eq(b->res.end, VM_END_EXCEPTION, "VM ended with %d: %s", b->res.end, b->res.msg);
	cr_assert_eq(b->res.exc.vector, vector, "vector %llu", (unsigned long long)b->res.exc.vector);
	cr_assert_eq(b->res.exc.error_code, error, "error code %#llx", (unsigned long long)b->res.exc.error_code);
	cr_assert_eq(b->res.exc.cr2, cr2, "cr2 %#llx", (unsigned long long)b->res.exc.cr2);
	cr_assert(in_exec_segment(&b->image, b->res.exc.rip), "rip %#llx outside the guest's code",
	          (unsigned long long)b->res.exc.rip);
}

Test(boot, hello_prints_greeting_and_exits_0)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "hello", 64 * MiB, 1, 0, NULL, 0);
	assert_exit(&b, 0);
	cr_assert_str_eq(b.con.data, "Hello from the cowvm guest-stub!\n");
}

Test(boot, hello_on_four_vcpus)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "hello", 64 * MiB, 4, 10000, NULL, 0);
	assert_exit(&b, 0);
	cr_assert_str_eq(b.con.data, "Hello from the cowvm guest-stub!\n");
}

Test(memtouch, seq_write_512mib_in_1gib_guest, .timeout = 120)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "memtouch:mode=seq,op=write,mib=512", 1024 * MiB, 1, 0, NULL, 0);
	assert_exit(&b, 0);
	assert_checksum(&b, model_memtouch(0, 1, 512, 1, 1));
	uint64_t tsc;
	cr_assert_eq(vm_result_report(&b.res, "memtouch.tsc", &tsc), 0);
	cr_assert_gt(tsc, 0);
}

Test(memtouch, rand_write_three_iterations)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "memtouch:mode=rand,op=write,mib=16,iters=3,seed=42", 64 * MiB, 1, 0, NULL, 0);
	assert_exit(&b, 0);
	assert_checksum(&b, model_memtouch(1, 1, 16, 3, 42));
}

Test(memtouch, seq_and_rand_read_see_zeroed_ram)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "memtouch:mode=seq,op=read,mib=8", 64 * MiB, 1, 0, NULL, 0);
	assert_exit(&b, 0);
	assert_checksum(&b, model_memtouch(0, 0, 8, 1, 1));
	boot_guest(&b, "memtouch:mode=rand,op=read,mib=8,seed=7", 64 * MiB, 1, 0, NULL, 0);
	assert_exit(&b, 0);
	assert_checksum(&b, model_memtouch(1, 0, 8, 1, 7));
}

Test(memtouch, too_large_buffer_is_a_guest_error)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "memtouch:mib=64", 64 * MiB, 1, 0, NULL, 0);
	assert_exit(&b, 3);
	cr_assert_not_null(strstr(b.con.data, "memtouch: mib must be 1.."), "console: %s", b.con.data);
}

/* Page-fault error code bits (SDM Vol. 3A 4.7): P=1, W/R=2, U/S=4. */
Test(fault, null_read_hits_the_guard_page)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "fault:kind=pf", 64 * MiB, 1, 0, NULL, 0);
	assert_exception(&b, 14, 0x4, 0);
	cr_assert_str_eq(b.con.data, "");
}

Test(fault, user_read_of_supervisor_page)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "fault:kind=pf,addr=0x1000", 64 * MiB, 1, 0, NULL, 0);
	assert_exception(&b, 14, 0x5, 0x1000); /* present, user: the GDT is supervisor-only */
}

Test(fault, read_beyond_ram)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "fault:kind=pf,addr=0x5000000", 64 * MiB, 1, 0, NULL, 0);
	assert_exception(&b, 14, 0x4, 0x5000000);
}

Test(fault, write_to_read_only_code)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "fault:kind=wp", 64 * MiB, 1, 0, NULL, 0);
	cr_assert_eq(b.res.end, VM_END_EXCEPTION, "%s", b.res.msg);
	cr_assert_eq(b.res.exc.vector, 14);
	cr_assert_eq(b.res.exc.error_code, 0x7, "error %#llx", (unsigned long long)b.res.exc.error_code);
	cr_assert(in_exec_segment(&b.image, b.res.exc.cr2), "cr2 %#llx is not in the code",
	          (unsigned long long)b.res.exc.cr2);
}

Test(fault, divide_error)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "fault:kind=de", 64 * MiB, 1, 0, NULL, 0);
	assert_exception(&b, 0, 0, 0);
	cr_assert_not_null(strstr(b.res.msg, "#DE (divide error) vector=0"), "%s", b.res.msg);
}

Test(fault, invalid_opcode)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "fault:kind=ud", 64 * MiB, 1, 0, NULL, 0);
	assert_exception(&b, 6, 0, 0);
}

Test(spin, timeout_stops_a_spinning_guest)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "spin", 64 * MiB, 1, 300, NULL, 0);
	cr_assert_eq(b.res.end, VM_END_TIMEOUT, "%s", b.res.msg);
	cr_assert_geq(b.seconds, 0.29);
	cr_assert_lt(b.seconds, 5.0);
	cr_assert_str_eq(b.res.msg, "timeout after 300 ms");
}

Test(spin, timeout_with_several_vcpus)
{
	REQUIRE_KVM();
	struct boot b;
	boot_guest(&b, "spin", 64 * MiB, 3, 200, NULL, 0);
	cr_assert_eq(b.res.end, VM_END_TIMEOUT, "%s", b.res.msg);
	cr_assert_lt(b.seconds, 5.0);
}

Test(guest, com1_serial_output_and_port_hypercall)
{
	REQUIRE_KVM();
	size_t len;
	void *img = slurp(getenv("COM1_GUEST"), &len);
	struct boot b;
	boot_guest(&b, "hello", 16 * MiB, 1, 10000, img, len);
	free(img);
	assert_exit(&b, 7);
	cr_assert_str_eq(b.con.data, "COM1 says hi\nrep outsb too\n");
}

Test(guest, triple_fault_is_a_shutdown)
{
	REQUIRE_KVM();
	size_t len;
	void *img = slurp(getenv("TRIPLE_GUEST"), &len);
	struct boot b;
	boot_guest(&b, "hello", 16 * MiB, 1, 10000, img, len);
	free(img);
	cr_assert_eq(b.res.end, VM_END_SHUTDOWN, "ended %d: %s", b.res.end, b.res.msg);
}

Test(create, rejects_bad_configs_before_touching_kvm)
{
	struct vm_config cfg = { .mem_size = 64 * MiB, .nvcpus = 1 };
	struct vmm_err err = { 0 };
	struct vm *vm = (struct vm *)1;
	cr_assert_eq(wl_parse("hello", &cfg.workload, &err), 0);
	uint64_t bad_mem[] = { 0, 3 * MiB, 2 * MiB, 65ull << 30, 64 * MiB + 4096 };
	for (size_t i = 0; i < sizeof(bad_mem) / sizeof(bad_mem[0]); i++) {
		cfg.mem_size = bad_mem[i];
		cr_assert_eq(vm_create(&cfg, &vm, &err), -EINVAL, "mem %llu accepted", (unsigned long long)bad_mem[i]);
		cr_assert_null(vm);
		cr_assert_not_null(strstr(err.msg, "memory size"), "%s", err.msg);
	}
	cfg.mem_size = 64 * MiB;
	unsigned bad_cpus[] = { 0, COWVM_MAX_VCPUS + 1 };
	for (size_t i = 0; i < 2; i++) {
		cfg.nvcpus = bad_cpus[i];
		cr_assert_eq(vm_create(&cfg, &vm, &err), -EINVAL);
	}
}

Test(create, rejects_corrupt_guest_image)
{
	REQUIRE_KVM();
	struct vm_config cfg = { .mem_size = 64 * MiB, .nvcpus = 1 };
	struct vmm_err err = { 0 };
	struct vm *vm;
	cr_assert_eq(wl_parse("hello", &cfg.workload, &err), 0);
	static const char junk[] = "\x7f" "ELF this is not really an ELF file at all, just text....";
	cfg.guest_image = junk;
	cfg.guest_image_len = sizeof(junk);
	cr_assert_eq(vm_create(&cfg, &vm, &err), -ENOEXEC, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "invalid guest ELF"), "%s", err.msg);
}

/* Two VM objects on two threads at once: no shared VM state. */
struct par {
	const char *spec;
	struct boot b;
};
static void *par_main(void *arg)
{
	struct par *p = arg;
	boot_guest(&p->b, p->spec, 64 * MiB, 1, 30000, NULL, 0);
	return NULL;
}

Test(boot, two_vms_run_concurrently_and_stay_isolated)
{
	REQUIRE_KVM();
	struct par a = { .spec = "memtouch:mode=rand,op=write,mib=16,seed=3" };
	struct par c = { .spec = "memtouch:mode=seq,op=read,mib=16" };
	pthread_t ta, tc;
	pthread_create(&ta, NULL, par_main, &a);
	pthread_create(&tc, NULL, par_main, &c);
	pthread_join(ta, NULL);
	pthread_join(tc, NULL);
	assert_exit(&a.b, 0);
	assert_exit(&c.b, 0);
	assert_checksum(&a.b, model_memtouch(1, 1, 16, 1, 3));
	assert_checksum(&c.b, model_memtouch(0, 0, 16, 1, 1)); /* reads zeros, not A's writes */
}
