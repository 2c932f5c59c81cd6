/*
 * test_fuzz_replay.c - regression test of one parser fuzz harness: calls
 * the harness's LLVMFuzzerTestOneInput (the very function libFuzzer drives
 * in bench/fuzz/run.sh) on every stored input of its corpus directory,
 * tests/security/corpus/<harness>/: the seeds, every crash the fuzzer found
 * (fixed since), and a minimized corpus. One Criterion case per input, so
 * a crash names its input; built once per harness (tests/security/meson.build
 * sets FUZZ_SUITE and FUZZ_CORPUS).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#ifndef FUZZ_SUITE
#error FUZZ_SUITE (the harness name) must be defined
#endif
#ifndef FUZZ_CORPUS
#error FUZZ_CORPUS (the input directory) must be defined
#endif

#define MIN_INPUTS 3 /* a few seeds at least: an empty directory is a broken test */

struct input {
	char path[512];
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct input *)a)->path, ((const struct input *)b)->path);
}

/* Regular files of the corpus directory, sorted; *n of them (cr_malloc'd). */
static struct input *list_inputs(size_t *n)
{
	*n = 0;
	DIR *d = opendir(FUZZ_CORPUS);
	if (!d)
		return NULL;
	size_t cap = 0;
	for (struct dirent *de; (de = readdir(d));)
		cap += de->d_name[0] != '.';
	struct input *v = cap ? cr_malloc(cap * sizeof(*v)) : NULL;
	rewinddir(d);
	for (struct dirent *de; v && *n < cap && (de = readdir(d));)
		if (de->d_name[0] != '.')
			snprintf(v[(*n)++].path, sizeof(v->path), "%s/%s", FUZZ_CORPUS, de->d_name);
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), by_name);
	return v;
}

static void free_inputs(struct criterion_test_params *p)
{
	cr_free(p->params);
}

ParameterizedTestParameters(FUZZ_SUITE, replay)
{
	size_t n;
	struct input *v = list_inputs(&n);
	return cr_make_param_array(struct input, v, n, free_inputs);
}

ParameterizedTest(struct input *in, FUZZ_SUITE, replay)
{
	FILE *f = fopen(in->path, "rb");
	cr_assert_not_null(f, "cannot open %s", in->path);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
	cr_assert(len >= 0 && fread(buf, 1, (size_t)len, f) == (size_t)len, "cannot read %s", in->path);
	fclose(f);
	/* Named before it runs: a crash below belongs to this input. */
	fprintf(stderr, "replay %s (%ld bytes)\n", in->path, len);
	int r = LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	cr_assert_eq(r, 0, "%s: harness returned %d", in->path, r);
}

Test(FUZZ_SUITE, corpus_present)
{
	size_t n = 0;
	DIR *d = opendir(FUZZ_CORPUS);
	cr_assert_not_null(d, "cannot open %s", FUZZ_CORPUS);
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	cr_assert_geq(n, MIN_INPUTS, "%s holds %zu inputs, expected at least %d", FUZZ_CORPUS, n, MIN_INPUTS);
}
