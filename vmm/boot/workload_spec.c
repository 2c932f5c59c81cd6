/* workload_spec.c - workload names and argument validation (see workload_spec.h). */
#include "workload_spec.h"

#include "size_parse.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(((struct wl_request *)0)->name) == WL_NAME_MAX + 1, "name size");
_Static_assert(sizeof(((struct wl_arg *)0)->key) == WL_KEY_MAX + 1, "key size");
_Static_assert(sizeof(((struct wl_arg *)0)->value) == WL_VALUE_MAX + 1, "value size");

enum arg_type { ARG_NUM, ARG_ENUM };

struct arg_spec {
	const char *key;
	enum arg_type type;
	const char *choices; /* "a|b|c" for ARG_ENUM */
};

static const struct wl_spec {
	const char *name;
	struct arg_spec args[WL_MAX_ARGS];
} specs[] = {
	{ "hello", { { 0 } } },
	{ "memtouch", { { "mode", ARG_ENUM, "seq|rand" }, { "op", ARG_ENUM, "read|write" },
	                { "mib", ARG_NUM, 0 }, { "iters", ARG_NUM, 0 }, { "seed", ARG_NUM, 0 } } },
	{ "fault", { { "kind", ARG_ENUM, "pf|de|wp|ud" }, { "addr", ARG_NUM, 0 } } },
	{ "spin", { { 0 } } },
	{ "snaptest", { { "mib", ARG_NUM, 0 }, { "layers", ARG_NUM, 0 }, { "touch", ARG_NUM, 0 },
	                { "aps", ARG_NUM, 0 } } },
	{ "warm", { { "mib", ARG_NUM, 0 } } },
	{ "fuzz", { { "target", ARG_ENUM, "parser|warm|syscall" }, { "mib", ARG_NUM, 0 } } },
	{ "chaos", { { "mode", ARG_ENUM, "hcall|block|alias|flood|ptwrite|triple|hlt|msr|cr0|spin|random" },
	             { "seed", ARG_NUM, 0 }, { "n", ARG_NUM, 0 }, { "snap", ARG_NUM, 0 } } },
	{ "bench", { { "mib", ARG_NUM, 0 }, { "op", ARG_ENUM, "exit|seq|rand|seqrand|pages|chunks|tsc" },
	             { "count", ARG_NUM, 0 }, { "per", ARG_NUM, 0 }, { "chunks", ARG_NUM, 0 },
	             { "read", ARG_NUM, 0 }, { "seed", ARG_NUM, 0 } } },
};

const char *wl_names(void) { return "hello, memtouch, fault, spin, snaptest, warm, fuzz, chaos, bench"; }

const char *wl_help(void)
{
	return "  hello                      print a greeting on COM1 and exit 0\n"
	       "  memtouch[:k=v,...]         touch one qword per page of a heap buffer and\n"
	       "                             print/report a checksum; mode=seq|rand,\n"
	       "                             op=read|write, mib=N (16), iters=N (1), seed=N (1)\n"
	       "  fault[:kind=K,addr=A]      take a deliberate exception in ring 3: kind=pf\n"
	       "                             (read addr, default 0 = NULL guard), de (divide\n"
	       "                             error), wp (write to read-only code), ud (UD2)\n"
	       "  spin                       loop forever (use with --timeout)\n"
	       "  snaptest[:mib=N,layers=L,touch=T,aps=A]  fill N MiB (4), snapshot; each\n"
	       "                             clone writes its own pattern into T pages (all)\n"
	       "                             and checks it; layers=1 snapshots again in the\n"
	       "                             clone; aps=1 keeps the other vCPUs writing and\n"
	       "                             doing MMIO through the snapshot\n"
	       "  warm[:mib=N]               build an N MiB (16) table, snapshot, then answer\n"
	       "                             one request (input buffer) per clone\n"
	       "  fuzz:target=T[,mib=N]      a fuzz target (parser|warm|syscall), run one\n"
	       "                             input per snapshot reset (see cowvm fuzz-target)\n"
	       "  chaos:mode=M[,seed=S,n=N,snap=1]  a hostile guest (hcall|block|alias|flood|\n"
	       "                             ptwrite|triple|hlt|msr|cr0|spin|random); snap=1\n"
	       "                             snapshots first, clones attack; guest-stub/chaos.c\n"
	       "  bench[:mib=M,op=OP,...]    fill M MiB (1), snapshot; each clone runs a timed\n"
	       "                             access pattern (op=exit|seq|rand|seqrand|pages|\n"
	       "                             chunks|tsc, count=N, per=K, chunks=C, read=R,\n"
	       "                             seed=S) and reports cycles per access (cowvm bench)\n";
}

static int valid_number(const char *s)
{
	uint64_t v;
	return parse_u64_arg(s, &v) == 0;
}

static int in_choices(const char *v, const char *choices)
{
	size_t n = strlen(v);
	for (const char *c = choices; *c;) {
		const char *bar = strchr(c, '|');
		size_t len = bar ? (size_t)(bar - c) : strlen(c);
		if (len == n && !strncmp(c, v, n))
			return 1;
		c += len + (bar ? 1 : 0);
	}
	return 0;
}

/* Device-tree property-name characters (Devicetree Specification v0.4,
 * 2.2.4.1, Table 2.2), what a foreign guest's argument keys may use. */
static int key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr(",._+?#-", c));
}

static const struct wl_spec *find_spec(const char *name)
{
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (!strcmp(specs[i].name, name))
			return &specs[i];
	return NULL;
}

/* Append key [k, k+klen) = value [v, v+vlen) to w; checked against ws when
 * given, else for syntax only. */
static int add_arg(struct wl_request *w, const struct wl_spec *ws, const char *k, size_t klen, const char *v,
                   size_t vlen, struct vmm_err *e)
{
	if (klen > WL_KEY_MAX || vlen > WL_VALUE_MAX)
		return vmm_fail(e, -EINVAL, "%s %s: argument too long (key at most %d, value at most %d bytes)",
		                ws ? "workload" : "guest", w->name, WL_KEY_MAX, WL_VALUE_MAX);
	if (w->nargs == WL_MAX_ARGS)
		return vmm_fail(e, -EINVAL, "%s %s: too many arguments (at most %d)", ws ? "workload" : "guest",
		                w->name, WL_MAX_ARGS);
	struct wl_arg a;
	memset(&a, 0, sizeof(a));
	memcpy(a.key, k, klen);
	memcpy(a.value, v, vlen);
	if (memchr(v, 0, vlen))
		return vmm_fail(e, -EINVAL, "guest %s: argument '%s' holds a NUL byte", w->name, a.key);
	if (ws) {
		const struct arg_spec *as = NULL;
		for (unsigned i = 0; i < WL_MAX_ARGS && ws->args[i].key; i++)
			if (!strcmp(ws->args[i].key, a.key))
				as = &ws->args[i];
		if (!as)
			return vmm_fail(e, -EINVAL, "workload %s: unknown argument '%s'", ws->name, a.key);
		for (unsigned i = 0; i < w->nargs; i++)
			if (!strcmp(w->args[i].key, a.key))
				return vmm_fail(e, -EINVAL, "workload %s: argument '%s' given twice", ws->name, a.key);
		if (as->type == ARG_NUM && !valid_number(a.value))
			return vmm_fail(e, -EINVAL, "workload %s: %s=%s is not a number", ws->name, a.key, a.value);
		if (as->type == ARG_ENUM && !in_choices(a.value, as->choices))
			return vmm_fail(e, -EINVAL, "workload %s: %s must be one of %s", ws->name, a.key, as->choices);
	} else {
		for (size_t i = 0; i < klen; i++)
			if (!key_char(k[i]))
				return vmm_fail(e, -EINVAL,
				                "guest %s: argument key '%s' may hold only letters, digits and ,._+?#-",
				                w->name, a.key);
		for (unsigned i = 0; i < w->nargs; i++)
			if (!strcmp(w->args[i].key, a.key))
				return vmm_fail(e, -EINVAL, "guest %s: argument '%s' given twice", w->name, a.key);
	}
	w->args[w->nargs++] = a;
	return 0;
}

/* "NAME[:k=v,...]": ws NULL for a foreign guest (any name, syntax only). */
static int parse_spec(const char *spec, struct wl_request *out, bool builtin, struct vmm_err *e)
{
	memset(out, 0, sizeof(*out));
	const char *colon = strchr(spec, ':');
	size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
	const struct wl_spec *ws = NULL;
	if (builtin) {
		for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
			if (strlen(specs[i].name) == nlen && !strncmp(specs[i].name, spec, nlen))
				ws = &specs[i];
		if (!ws)
			return vmm_fail(e, -EINVAL, "unknown workload '%.*s' (known: %s)",
			                (int)(nlen > 40 ? 40 : nlen), spec, wl_names());
		strcpy(out->name, ws->name);
	} else {
		if (!nlen || nlen > WL_NAME_MAX)
			return vmm_fail(e, -EINVAL, "guest workload name '%.*s' must be 1..%d bytes",
			                (int)(nlen > 40 ? 40 : nlen), spec, WL_NAME_MAX);
		for (size_t i = 0; i < nlen; i++)
			if (spec[i] <= ' ' || spec[i] > '~' || spec[i] == ',')
				return vmm_fail(e, -EINVAL, "guest workload name '%.*s' may hold only printable "
				                "characters other than space and ','", (int)nlen, spec);
		memcpy(out->name, spec, nlen);
	}
	const char *kind = builtin ? "workload" : "guest";
	if (!colon)
		return 0;
	const char *p = colon + 1;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (!eq || eq == p || eq == p + len - 1)
			return vmm_fail(e, -EINVAL, "%s %s: argument '%.*s' is not key=value", kind, out->name,
			                (int)(len > 40 ? 40 : len), p);
		size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
		int r = add_arg(out, ws, p, klen, eq + 1, vlen, e);
		if (r)
			return r;
		p += len + (comma ? 1 : 0);
		if (comma && !*p)
			return vmm_fail(e, -EINVAL, "%s %s: trailing comma", kind, out->name);
	}
	return 0;
}

int wl_parse(const char *spec, struct wl_request *out, struct vmm_err *e)
{
	return parse_spec(spec, out, true, e);
}

int wl_parse_any(const char *spec, struct wl_request *out, struct vmm_err *e)
{
	return parse_spec(spec, out, false, e);
}

int wl_add_arg(struct wl_request *w, const char *kv, bool builtin, struct vmm_err *e)
{
	const struct wl_spec *ws = builtin ? find_spec(w->name) : NULL;
	if (builtin && !ws)
		return vmm_fail(e, -EINVAL, "unknown workload '%s' (known: %s)", w->name, wl_names());
	const char *eq = strchr(kv, '=');
	size_t len = strlen(kv);
	if (!eq || eq == kv || eq == kv + len - 1)
		return vmm_fail(e, -EINVAL, "%s %s: argument '%.*s' is not key=value", builtin ? "workload" : "guest",
		                w->name, (int)(len > 40 ? 40 : len), kv);
	return add_arg(w, ws, kv, (size_t)(eq - kv), eq + 1, len - (size_t)(eq - kv) - 1, e);
}

void wl_set_image_name(struct wl_request *w, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t n = strlen(base);
	if (n > WL_NAME_MAX)
		n = WL_NAME_MAX;
	memset(w->name, 0, sizeof(w->name));
	for (size_t i = 0; i < n; i++)
		w->name[i] = base[i] >= ' ' && base[i] <= '~' ? base[i] : '?';
	if (!n)
		strcpy(w->name, "guest");
}
