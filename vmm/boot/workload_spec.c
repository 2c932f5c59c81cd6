/* workload_spec.c - workload names and argument validation (see workload_spec.h). */
#include "workload_spec.h"

#include "size_parse.h"

#include <errno.h>
#include <string.h>

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

int wl_parse(const char *spec, struct wl_request *out, struct vmm_err *e)
{
	memset(out, 0, sizeof(*out));
	const char *colon = strchr(spec, ':');
	size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
	const struct wl_spec *ws = NULL;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (strlen(specs[i].name) == nlen && !strncmp(specs[i].name, spec, nlen))
			ws = &specs[i];
	if (!ws)
		return vmm_fail(e, -EINVAL, "unknown workload '%.*s' (known: %s)", (int)(nlen > 40 ? 40 : nlen),
		                spec, wl_names());
	strcpy(out->name, ws->name);
	if (!colon)
		return 0;
	const char *p = colon + 1;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (!eq || eq == p || eq == p + len - 1)
			return vmm_fail(e, -EINVAL, "workload %s: argument '%.*s' is not key=value", ws->name,
			                (int)(len > 40 ? 40 : len), p);
		size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
		if (klen >= sizeof(out->args[0].key) || vlen >= sizeof(out->args[0].value))
			return vmm_fail(e, -EINVAL, "workload %s: argument too long", ws->name);
		if (out->nargs == WL_MAX_ARGS)
			return vmm_fail(e, -EINVAL, "workload %s: too many arguments", ws->name);
		struct wl_arg *a = &out->args[out->nargs];
		memcpy(a->key, p, klen);
		memcpy(a->value, eq + 1, vlen);
		const struct arg_spec *as = NULL;
		for (unsigned i = 0; i < WL_MAX_ARGS && ws->args[i].key; i++)
			if (!strcmp(ws->args[i].key, a->key))
				as = &ws->args[i];
		if (!as)
			return vmm_fail(e, -EINVAL, "workload %s: unknown argument '%s'", ws->name, a->key);
		for (unsigned i = 0; i < out->nargs; i++)
			if (!strcmp(out->args[i].key, a->key))
				return vmm_fail(e, -EINVAL, "workload %s: argument '%s' given twice", ws->name, a->key);
		if (as->type == ARG_NUM && !valid_number(a->value))
			return vmm_fail(e, -EINVAL, "workload %s: %s=%s is not a number", ws->name, a->key, a->value);
		if (as->type == ARG_ENUM && !in_choices(a->value, as->choices))
			return vmm_fail(e, -EINVAL, "workload %s: %s must be one of %s", ws->name, a->key, as->choices);
		out->nargs++;
		p += len + (comma ? 1 : 0);
		if (comma && !*p)
			return vmm_fail(e, -EINVAL, "workload %s: trailing comma", ws->name);
	}
	return 0;
}
