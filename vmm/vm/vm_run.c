/*
 * vm_run.c - the run loop: one thread per vCPU turns exits (vcpu.h's enum)
 * into device calls and VM ends; the caller's thread supervises (timeout,
 * kicking vCPUs out of KVM_RUN once the VM ends, joining).
 *
 * Kicking: a vCPU inside KVM_RUN leaves it when it gets a signal (SIGUSR1,
 * with an empty handler installed without SA_RESTART, so KVM_RUN returns
 * EINTR); a vCPU about to enter KVM_RUN sees kvm_run->immediate_exit and
 * returns at once. The supervisor repeats the kick every millisecond until
 * every vCPU thread has left its loop, so no ordering between "thread
 * started" and "kick sent" can lose a kick.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvm_ioctl.h"
#include "pc_devices.h"
#include "vcpu_fast.h"
#include "vm.h"

#define KICK_SIGNAL SIGUSR1
#define PC_KICK_NS 50000000ll /* PC guests: every vCPU looks for a halt this often */

static void kick_handler(int sig) { (void)sig; }

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static void install_kick_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN must see EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);
}

struct vcpu_thread {
	struct vm *vm;
	struct vcpu *v;
	atomic_int done;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
};

void vm_stop(struct vm *vm, enum vm_end end, int status, const struct vm_exception *exc,
             const char *fmt, ...)
{
	pthread_mutex_lock(&vm->lock);
	/* First writer wins: a VM ends once, and later ends (e.g. a timeout
	 * racing a guest exit) must not overwrite the recorded cause. */
	if (!atomic_load(&vm->stopping)) {
		vm->result.end = end;
		vm->result.status = status;
		if (exc)
			vm->result.exc = *exc;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->result.msg, sizeof(vm->result.msg), fmt, ap);
		va_end(ap);
		atomic_store(&vm->stopping, 1);
	}
	pthread_mutex_unlock(&vm->lock);
}

static const char *internal_suberror(uint32_t s)
{
	switch (s) {
	case KVM_INTERNAL_ERROR_EMULATION: return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX: return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV: return "event delivery failed";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "unexpected exit reason";
	default: return "unknown suberror";
	}
}

/* Inline runs (one vCPU on the caller's thread): what the supervisor
 * thread does otherwise, checked at every kick of the periodic timer. */
struct inline_watch {
	struct timespec deadline;
	bool has_deadline;
};

static bool past(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void inline_check(struct vm *vm, struct inline_watch *w)
{
	if (w->has_deadline && past(&w->deadline))
		vm_stop(vm, VM_END_TIMEOUT, 0, NULL, "timeout after %llu ms", (unsigned long long)vm->cfg.timeout_ms);
	else if (vm->cfg.should_stop && vm->cfg.should_stop(vm->cfg.should_stop_ctx))
		vm_stop(vm, VM_END_TIMEOUT, 0, NULL, "stopped: its watcher asked (fuzzer timeout)");
}

/*
 * Halt detection for PC guests (Linux `halt`): KVM runs HLT itself when the
 * irqchip is in the kernel, so a halted vCPU never exits; it only returns
 * from KVM_RUN when kicked (the inline tick, or the supervisor's periodic
 * kick for PC guests). At each kick a vCPU asks KVM whether it is halted
 * with interrupts off (MP state HALTED, RFLAGS.IF = 0) or still waiting
 * for its start-up IPI: nothing but an NMI, INIT or SIPI from another vCPU
 * can wake it then, and no device here sends those. When every
 * vCPU has been so for HALT_GRACE_NS the VM has halted for good.
 */
#define HALT_GRACE_NS 200000000ll
#define X86_RFLAGS_IF (1ull << 9)

static long long mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

static void check_halt(struct vm *vm, struct vcpu *v)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	bool off = false;
	if (KVM_IOCTL(v->fd, KVM_GET_MP_STATE, &mp, NULL) >= 0) {
		/* An AP still waiting for its INIT/SIPI cannot run either. */
		off = mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED ||
		      (mp.mp_state == KVM_MP_STATE_HALTED && KVM_IOCTL(v->fd, KVM_GET_REGS, &regs, NULL) >= 0 &&
		       !(regs.rflags & X86_RFLAGS_IF));
	}
	long long now = mono_ns();
	if (!off) {
		atomic_store(&v->halted_since, 0);
		return;
	}
	long long zero = 0;
	atomic_compare_exchange_strong(&v->halted_since, &zero, now);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		long long t = atomic_load(&vm->vcpus[i].halted_since);
		if (!vm->vcpus[i].parked && (!t || now - t < HALT_GRACE_NS))
			return;
	}
	vm_stop(vm, VM_END_HALT, 0, NULL, "every vCPU halted with interrupts off (guest halt)");
}

/* A hypercall exit: devices.c will write the result into the block the
 * guest named. The fast reset must hear of VMM writes onto page tables or
 * the TSS (vcpu_fast.h): tell every vCPU's plan. PC guests never take the
 * fast path. */
static void note_hypercall_write(struct vm *vm, const struct vcpu_exit *x)
{
	uint32_t block;
	if (vm->pc)
		return;
	if (x->kind == VCPU_EXIT_MMIO && x->mmio.gpa == COWVM_GPA_DOORBELL && x->mmio.write && x->mmio.len == 4)
		memcpy(&block, x->mmio.data, 4);
	else if (x->kind == VCPU_EXIT_IO && x->io.out && x->io.port == COWVM_HC_PORT && x->io.size == 4 &&
	         x->io.count == 1)
		memcpy(&block, x->io.data, 4);
	else
		return;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_fast_host_write(&vm->vcpus[i], (uint64_t)block + offsetof(struct cowvm_hcall, ret));
}

/* One vCPU's loop; returns when the VM stops or this vCPU parks. `w` is
 * set when the vCPU runs on the caller's thread (no supervisor). */
static void run_vcpu(struct vm *vm, struct vcpu *v, struct inline_watch *w)
{
	struct vmm_err err = { 0 };
	struct vcpu_exit x;
	while (!atomic_load(&vm->stopping)) {
		if (vcpu_run(v, &x, &err)) {
			v->tainted = true;
			vm_stop(vm, VM_END_ERROR, 0, NULL, "vCPU %u: %s", v->index, err.msg);
			return;
		}
		switch (x.kind) {
		case VCPU_EXIT_IO:
		case VCPU_EXIT_MMIO:
			note_hypercall_write(vm, &x);
			switch (x.kind == VCPU_EXIT_IO ? vm_handle_io(vm, v, &x) : vm_handle_mmio(vm, v, &x)) {
			case VM_CONTINUE: break;
			case VM_STOP: return;
			case VM_PARK: goto park;
			}
			break;
		case VCPU_EXIT_HLT:
			v->tainted = true; /* HLT is CPL 0: the fast reset must not vouch */
			goto park;         /* no interrupt source: it would sleep forever */
		case VCPU_EXIT_INTR:
			if (w)
				inline_check(vm, w);
			if (vm->pc)
				check_halt(vm, v);
			break;     /* a kick: the loop condition decides */
		case VCPU_EXIT_DIRTY_RING_FULL:
			/* Only this thread touches this vCPU's ring while it runs;
			 * the GPT serialises the faults of all vCPUs (gpt.h). */
			if (dirty_ring_harvest(&vm->dlog, &v->ring, vm_mark_dirty, vm, NULL, &err)) {
				v->tainted = true;
				vm_stop(vm, VM_END_ERROR, 0, NULL, "vCPU %u: harvesting the dirty ring failed: %s",
				        v->index, atomic_load(&vm->gpt_error) ? strerror(-atomic_load(&vm->gpt_error)) : err.msg);
				return;
			}
			break;
		case VCPU_EXIT_SHUTDOWN:
			/* KVM may reinitialise parts of the vCPU on a shutdown
			 * (SVM: the VMCB): no fast reset after these ends. */
			v->tainted = true;
			vm_stop(vm, VM_END_SHUTDOWN, 0, NULL, "guest shut down (triple fault) on vCPU %u", v->index);
			return;
		case VCPU_EXIT_FAIL_ENTRY:
			v->tainted = true;
			vm_stop(vm, VM_END_ERROR, 0, NULL, "KVM_EXIT_FAIL_ENTRY on vCPU %u: hardware reason %#llx",
			        v->index, (unsigned long long)x.hw_reason);
			return;
		case VCPU_EXIT_INTERNAL_ERROR:
			v->tainted = true;
			vm_stop(vm, VM_END_ERROR, 0, NULL, "KVM_EXIT_INTERNAL_ERROR on vCPU %u: suberror %u (%s)",
			        v->index, x.suberror, internal_suberror(x.suberror));
			return;
		case VCPU_EXIT_UNKNOWN:
			v->tainted = true;
			vm_stop(vm, VM_END_ERROR, 0, NULL, "unexpected KVM exit reason %u on vCPU %u",
			        x.raw_reason, v->index);
			return;
		}
	}
	return;
park:
	pthread_mutex_lock(&vm->lock);
	vm->parked++;
	v->parked = true;
	pthread_mutex_unlock(&vm->lock);
}

static void *vcpu_thread_main(void *arg)
{
	struct vcpu_thread *t = arg;
	run_vcpu(t->vm, t->v, NULL);
	pthread_mutex_lock(t->mu);
	atomic_store(&t->done, 1);
	pthread_cond_signal(t->cv);
	pthread_mutex_unlock(t->mu);
	return NULL;
}

static void deadline_after(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * One runnable vCPU: run it on the caller's thread instead of starting a
 * thread per run (a thread start and the wake-ups around it cost tens of
 * microseconds, and milliseconds when the CPUs are busy). A periodic timer
 * aimed at this thread (SIGEV_THREAD_ID, every TICK) interrupts KVM_RUN so
 * the loop can check the timeout and the should_stop hook, which the
 * supervisor thread does otherwise. A tick that arrives outside KVM_RUN is
 * harmless and the next one comes 10 ms later, so none is "lost".
 *
 * The timer is the vCPU's, made once for the thread that runs it and
 * armed and disarmed per run: two system calls per run instead of four
 * (gettid, timer_create, timer_settime, timer_delete: the old path, still
 * taken with vcpu.old_path). Threads are told apart by a number handed out
 * once per thread: a thread id can be reused after a thread exits, and a
 * timer aimed at a dead thread would never tick.
 */
#define INLINE_TICK_NS 10000000L

static atomic_ullong thread_numbers;
static _Thread_local unsigned long long this_thread_number;

static unsigned long long thread_number(void)
{
	if (!this_thread_number)
		this_thread_number = atomic_fetch_add(&thread_numbers, 1) + 1;
	return this_thread_number;
}

static int tick_start(struct vcpu *v, struct vmm_err *e)
{
	unsigned long long me = thread_number();
	if (v->old_path || !v->has_tick_timer || v->tick_owner != me) {
		if (v->has_tick_timer)
			timer_delete(v->tick_timer);
		v->has_tick_timer = false;
		struct sigevent sev;
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = KICK_SIGNAL;
		sev._sigev_un._tid = gettid(); /* sigev_notify_thread_id; glibc 2.36 lacks the name */
		if (timer_create(CLOCK_MONOTONIC, &sev, &v->tick_timer))
			return vmm_fail(e, -errno, "timer_create for the vCPU watch failed: %s", strerror(errno));
		v->has_tick_timer = true;
		v->tick_owner = me;
	}
	struct itimerspec its = { .it_interval = { 0, INLINE_TICK_NS }, .it_value = { 0, INLINE_TICK_NS } };
	timer_settime(v->tick_timer, 0, &its, NULL);
	return 0;
}

static void tick_stop(struct vcpu *v)
{
	if (v->old_path) {
		timer_delete(v->tick_timer);
		v->has_tick_timer = false;
		return;
	}
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	timer_settime(v->tick_timer, 0, &off, NULL);
}

static int run_inline(struct vm *vm, struct vcpu *v, struct vmm_err *e)
{
	struct inline_watch w = { .has_deadline = vm->cfg.timeout_ms != 0 };
	if (w.has_deadline)
		deadline_after(&w.deadline, vm->cfg.timeout_ms);
	int r = tick_start(v, e);
	if (r)
		return r;
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELAXED);
	run_vcpu(vm, v, &w);
	tick_stop(v);
	return 0;
}

int vm_run(struct vm *vm, struct vm_result *res, struct vmm_err *e)
{
	pthread_once(&kick_once, install_kick_handler);
	memset(&vm->result, 0, sizeof(vm->result));
	atomic_store(&vm->stopping, 0);
	vm->parked = 0;

	unsigned runnable = 0;
	struct vcpu *only = NULL;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (!vm->vcpus[i].parked) {
			runnable++;
			only = &vm->vcpus[i];
		}
	if (runnable == 1) {
		int rc = run_inline(vm, only, e);
		if (rc)
			return rc;
		if (!atomic_load(&vm->stopping))
			vm_stop(vm, VM_END_ERROR, 0, NULL, "every vCPU halted or parked without the guest exiting");
		pc_devices_flush(vm);
		*res = vm->result;
		return 0;
	}

	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_condattr_t ca;
	pthread_cond_t cv;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &ca);
	pthread_condattr_destroy(&ca);

	struct vcpu_thread th[COWVM_MAX_VCPUS];
	unsigned started = 0;
	int rc = 0;
	/* A parked vCPU stays parked across runs (a resumed original or a
	 * clone): it asked never to be run again. */
	struct vcpu *runv[COWVM_MAX_VCPUS];
	unsigned nrun = 0;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (!vm->vcpus[i].parked)
			runv[nrun++] = &vm->vcpus[i];
	for (unsigned i = 0; i < nrun; i++) {
		th[i] = (struct vcpu_thread){ .vm = vm, .v = runv[i], .mu = &mu, .cv = &cv };
		__atomic_store_n(&runv[i]->run->immediate_exit, 0, __ATOMIC_RELAXED);
		int r = pthread_create(&runv[i]->thread, NULL, vcpu_thread_main, &th[i]);
		if (r) {
			rc = vmm_fail(e, -r, "cannot start vCPU thread: %s", strerror(r));
			vm_stop(vm, VM_END_ERROR, 0, NULL, "cannot start vCPU thread");
			break;
		}
		started++;
	}

	/* Supervise: wait for the end (a vCPU stops the VM, all vCPUs park, or
	 * the timeout expires). */
	struct timespec deadline;
	if (vm->cfg.timeout_ms)
		deadline_after(&deadline, vm->cfg.timeout_ms);
	long long last_kick = mono_ns();
	pthread_mutex_lock(&mu);
	for (;;) {
		unsigned done = 0;
		for (unsigned i = 0; i < started; i++)
			done += (unsigned)atomic_load(&th[i].done);
		if (done == started || atomic_load(&vm->stopping))
			break;
		struct timespec tick;
		deadline_after(&tick, 10); /* re-check `stopping` at least every 10 ms */
		if (vm->cfg.timeout_ms && (tick.tv_sec > deadline.tv_sec ||
		                           (tick.tv_sec == deadline.tv_sec && tick.tv_nsec > deadline.tv_nsec)))
			tick = deadline;
		if (vm->cfg.should_stop && vm->cfg.should_stop(vm->cfg.should_stop_ctx)) {
			pthread_mutex_unlock(&mu);
			vm_stop(vm, VM_END_TIMEOUT, 0, NULL, "stopped: its watcher asked (fuzzer timeout)");
			pthread_mutex_lock(&mu);
			continue;
		}
		int waited = pthread_cond_timedwait(&cv, &mu, &tick);
		if (vm->pc && waited == ETIMEDOUT && mono_ns() - last_kick >= PC_KICK_NS) {
			/* Let halted vCPUs look at themselves (check_halt): a
			 * signal only, no immediate_exit, so a running vCPU just
			 * re-enters KVM_RUN. */
			last_kick = mono_ns();
			for (unsigned i = 0; i < started; i++)
				if (!atomic_load(&th[i].done))
					pthread_kill(runv[i]->thread, KICK_SIGNAL);
		}
		if (waited == ETIMEDOUT && vm->cfg.timeout_ms) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > deadline.tv_sec ||
			    (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
				pthread_mutex_unlock(&mu);
				vm_stop(vm, VM_END_TIMEOUT, 0, NULL, "timeout after %llu ms",
				        (unsigned long long)vm->cfg.timeout_ms);
				pthread_mutex_lock(&mu);
			}
		}
	}
	pthread_mutex_unlock(&mu);

	/* Kick every vCPU still in its loop until all have left it. */
	for (;;) {
		unsigned running = 0;
		for (unsigned i = 0; i < started; i++) {
			if (atomic_load(&th[i].done))
				continue;
			running++;
			__atomic_store_n(&runv[i]->run->immediate_exit, 1, __ATOMIC_RELAXED);
			pthread_kill(runv[i]->thread, KICK_SIGNAL);
		}
		if (!running)
			break;
		struct timespec ms = { 0, 1000000L };
		nanosleep(&ms, NULL);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(runv[i]->thread, NULL);
	pthread_cond_destroy(&cv);
	pthread_mutex_destroy(&mu);

	if (!atomic_load(&vm->stopping))
		vm_stop(vm, VM_END_ERROR, 0, NULL, "every vCPU halted or parked without the guest exiting");
	pc_devices_flush(vm);
	*res = vm->result;
	return rc;
}
