/*
 * workload_spec.h - what a guest is told to do (boot info /chosen): a name
 * and key=value arguments. For the built-in guest-stub the VMM knows the
 * workloads (names, accepted arguments and their types), so bad
 * `--workload` strings are rejected on the host with a clear message
 * before a VM exists. A foreign guest (`--guest FILE`) gets any name and
 * any arguments within the size limits below; only their syntax is checked.
 */
#ifndef COWVM_WORKLOAD_SPEC_H
#define COWVM_WORKLOAD_SPEC_H

#include <stdbool.h>

#include "err.h"

/* Limits of a request (they size the snapshot file's workload section:
 * changing them changes the file format). */
#define WL_MAX_ARGS 8
#define WL_NAME_MAX 31   /* bytes of a name, NUL not counted */
#define WL_KEY_MAX 31
#define WL_VALUE_MAX 63

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
/* The same syntax for a foreign guest: any NAME (1..WL_NAME_MAX printable
 * bytes, no ':' or ','), any keys; values are strings. */
int wl_parse_any(const char *spec, struct wl_request *out, struct vmm_err *e);
/* Append one "key=value" (the value may hold ',' and '=') to w: checked
 * against w's workload when `builtin`, else only for syntax (key: 1..31
 * bytes of [A-Za-z0-9,._+?#-], the characters of a device-tree property
 * name; value: at most 63 bytes, no NUL). No duplicate keys, at most
 * WL_MAX_ARGS. -EINVAL with a message. */
int wl_add_arg(struct wl_request *w, const char *kv, bool builtin, struct vmm_err *e);
/* Set w's name from a guest file's path: its basename, cut to WL_NAME_MAX
 * bytes, bytes outside printable ASCII as '?' (what `cowvm stats` shows). */
void wl_set_image_name(struct wl_request *w, const char *path);
/* Comma-separated list of workload names (for --help). */
const char *wl_names(void);
/* Multi-line description of workloads and their arguments (for --help). */
const char *wl_help(void);

#endif
