/*
 * kernel_syscall.c - the stub kernel's system calls (ring 0, entered through
 * the #UD gate of entry.S, RAX = number, RDI = argument), a TriforceAFL-style fuzz target. Compiled
 * with -fsanitize-coverage=trace-pc. Planted bug: SET_STATE(0x1337), then
 * DROP, then READ dereferences a NULL pointer in ring 0 (#PF, cr2 < 64).
 * Ring 0 is emulated on the development machines: keep it short.
 */
#include "guest.h"

enum { SYS_NOP = 0, SYS_SET_STATE = 1, SYS_TOGGLE = 2, SYS_DROP = 3, SYS_READ = 4 };

static uint64_t kstate;
static uint8_t kbuf[64];
static uint8_t *volatile kptr = kbuf;

int64_t kernel_syscall(uint64_t nr, uint64_t arg)
{
	switch (nr) {
	case SYS_NOP:
		return 0;
	case SYS_SET_STATE:
		kstate = arg;
		return 0;
	case SYS_TOGGLE:
		if (arg < sizeof(kbuf))
			kbuf[arg] ^= 1;
		return kbuf[arg % sizeof(kbuf)];
	case SYS_DROP:
		if (kstate == 0x1337)
			kptr = 0; /* the bug: a later READ uses it */
		return 0;
	case SYS_READ:
		return kptr[arg % sizeof(kbuf)];
	default:
		return -1;
	}
}
