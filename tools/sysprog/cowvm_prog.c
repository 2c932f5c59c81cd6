/*
 * cowvm_prog.c - cowvm-prog, the host tool for system-call programs
 * (docs/sysprog.md): compiles the text form to the binary form the fuzzing
 * agent runs, and prints a binary program as text.
 *
 *   cowvm-prog compile IN.txt OUT.bin
 *   cowvm-prog print [--lenient] IN.bin
 *
 * Exit status: 0 done, 1 a file could not be read or written, 2 bad
 * arguments or a malformed input (the reason on stderr: IN.txt:LINE:COL: ...
 * or IN.bin: offset N: ...).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sysprog_text.h"

#define EXIT_IO    1
#define EXIT_INPUT 2

static const char usage[] =
	"usage: cowvm-prog compile IN.txt OUT.bin\n"
	"       cowvm-prog print [--lenient] IN.bin\n"
	"       cowvm-prog --help\n"
	"\n"
	"System-call programs for cowvm's kernel fuzzing (docs/sysprog.md).\n"
	"  compile   text, one call per line, e.g.\n"
	"              r0 = openat(-100, \"/tmp/f\", 0x42, 384)   # comment\n"
	"              write(r0, x\"434f57\", 3)\n"
	"            to the binary format (abi/cowvm_sysprog.h)\n"
	"  print     a binary program as text (compile gives the same bytes back);\n"
	"            strict: any malformed byte is an error. --lenient prints what the\n"
	"            fuzzing agent runs: the valid prefix (for AFL's crash files).\n"
	"Exit status: 0 done, 1 file I/O error, 2 bad arguments or malformed input.\n";

/* Whole file into a malloc'd buffer (a NUL after it); at most max bytes. */
static int read_file(const char *path, size_t max, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cowvm-prog: %s: %s\n", path, strerror(errno));
		return EXIT_IO;
	}
	char *b = malloc(max + 1);
	if (!b) {
		fclose(f);
		fprintf(stderr, "cowvm-prog: out of memory\n");
		return EXIT_IO;
	}
	size_t n = fread(b, 1, max + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(b);
		fprintf(stderr, "cowvm-prog: %s: read error\n", path);
		return EXIT_IO;
	}
	if (n > max) {
		free(b);
		fprintf(stderr, "cowvm-prog: %s: larger than %zu bytes\n", path, max);
		return EXIT_INPUT;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

static int cmd_compile(const char *in, const char *out)
{
	char *text;
	size_t len;
	int r = read_file(in, SYSPROG_TEXT_MAX, &text, &len);
	if (r)
		return r;
	static uint8_t bin[SYSPROG_BIN_MAX];
	size_t n;
	char err[256];
	if (sysprog_compile(text, len, bin, sizeof(bin), &n, err, sizeof(err))) {
		fprintf(stderr, "%s:%s\n", in, err);
		free(text);
		return EXIT_INPUT;
	}
	free(text);
	/* The compiler checks every limit; the agent's strict parser agrees. */
	static struct sysprog p;
	static uint8_t data[SYSPROG_DATA_MAX];
	if (sysprog_parse(bin, n, SYSPROG_STRICT, &p, data, err, sizeof(err))) {
		fprintf(stderr, "cowvm-prog: %s: internal error, the compiled program is refused: %s\n",
		        in, err);
		return EXIT_INPUT;
	}
	FILE *f = fopen(out, "wb");
	if (!f) {
		fprintf(stderr, "cowvm-prog: %s: %s\n", out, strerror(errno));
		return EXIT_IO;
	}
	size_t w = fwrite(bin, 1, n, f);
	if (fclose(f) || w != n) {
		fprintf(stderr, "cowvm-prog: %s: write error\n", out);
		remove(out);
		return EXIT_IO;
	}
	return 0;
}

static int cmd_print(const char *in, enum sysprog_mode mode)
{
	char *buf;
	size_t len;
	/* Larger inputs are malformed anyway (strict); the agent's input
	 * buffer is far smaller than this (lenient). */
	int r = read_file(in, 16u << 20, &buf, &len);
	if (r)
		return r;
	static struct sysprog p;
	static uint8_t data[SYSPROG_DATA_MAX];
	char err[256];
	r = sysprog_parse((const uint8_t *)buf, len, mode, &p, data, err, sizeof(err));
	free(buf);
	if (r) {
		fprintf(stderr, "%s: %s\n", in, err);
		return EXIT_INPUT;
	}
	if (mode == SYSPROG_STRICT)
		printf("# %s: %u call%s\n", in, p.ncalls, p.ncalls == 1 ? "" : "s");
	else
		printf("# %s (lenient): %u of %u declared calls run, %zu of %zu bytes used%s%s\n", in,
		       p.ncalls, p.declared, p.used, len, err[0] ? "; stopped at " : "", err);
	if (sysprog_print(&p, stdout) || fflush(stdout)) {
		fprintf(stderr, "cowvm-prog: write error\n");
		return EXIT_IO;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "compile"))
		return cmd_compile(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "print"))
		return cmd_print(argv[2], SYSPROG_STRICT);
	if (argc == 4 && !strcmp(argv[1], "print") && !strcmp(argv[2], "--lenient"))
		return cmd_print(argv[3], SYSPROG_LENIENT);
	fputs(usage, stderr);
	return EXIT_INPUT;
}
