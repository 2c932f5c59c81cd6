/*
 * cowvm.h - the internal umbrella header of the VMM (what the cowvm program,
 * the tests and the benchmarks use; struct fields included). Programs that
 * embed cowvm use the installed public API instead: include/cowvm/cowvm.h
 * (opaque handles, docs/library.md), a thin layer over these functions:
 *
 *   struct vm *vm;            vm_create(&cfg (cfg.snapshots = true), &vm, &err)
 *   vm_run(vm, &res, &err)    ... res.end == VM_END_SNAPSHOT: the guest asked
 *   struct snapshot *s;       snapshot_take(vm, &s, &err)  (vm may run on)
 *   snapshot_save(s, path)    / snapshot_load(path, &s)
 *   struct vm_pool *pool;     vm_pool_create(max_idle, &pool, &err)
 *   struct vm *c;             vm_clone(pool, s, &opts, &c, &err); vm_run(c, ...)
 *   vm_reset(c, &st, &err)    back to s in O(dirty pages); run again
 *   vm_mem_stats(c, &m, &err) RSS / GPT accounting of one clone
 *   vm_release(pool, c)       keep the shell for the next clone (or vm_destroy)
 *   snapshot_put(s); vm_pool_destroy(pool); vm_destroy(vm);
 *
 * Every function returns 0 or -errno and fills a struct vmm_err with a
 * one-line message; nothing exits or aborts. Functions on different VMs and
 * snapshots may be called from different threads at once; one VM is driven
 * by one thread at a time. See docs/snapshots.md.
 */
#ifndef COWVM_H
#define COWVM_H

#include "clone.h"
#include "cowvm_abi.h"
#include "snapshot.h"
#include "snapshot_file.h"
#include "vm.h"

#endif
