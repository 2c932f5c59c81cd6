/*
 * workload_spec.h - the guest-stub's workloads as the VMM knows them: names,
 * accepted arguments and their types, so bad `--workload` strings are
 * rejected on the host with a clear message before a VM exists.
 */
#ifndef COWVM_WORKLOAD_SPEC_H
#define COWVM_WORKLOAD_SPEC_H

#include "err.h"

#define WL_MAX_ARGS 8

struct wl_arg {
	char key[32];
	char value[64];
};

struct wl_request {
	char name[32];
	unsigned nargs;
	struct wl_arg args[WL_MAX_ARGS];
};

/* Parse "NAME[:k=v,...]" and validate it against the known workloads.
 * -EINVAL with a message on any defect. */
int wl_parse(const char *spec, struct wl_request *out, struct vmm_err *e);
/* Comma-separated list of workload names (for --help). */
const char *wl_names(void);
/* Multi-line description of workloads and their arguments (for --help). */
const char *wl_help(void);

#endif
