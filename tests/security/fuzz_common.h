/*
 * fuzz_common.h - shared by the parser fuzz harnesses (tests/security/fuzz_*.c).
 *
 * Each harness defines the libFuzzer entry LLVMFuzzerTestOneInput. It is
 * built twice: by bench/fuzz/run.sh with clang -fsanitize=fuzzer (libFuzzer
 * calls the entry), and by meson into a Criterion test (test_fuzz_replay.c)
 * that calls the same entry on every stored input of tests/security/corpus/NAME.
 * A harness reports a broken property with FUZZ_CHECK, which aborts: under
 * libFuzzer that is a crash (the input is saved), under Criterion the test
 * crashes.
 */
#ifndef COWVM_FUZZ_COMMON_H
#define COWVM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                        \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: fuzz property violated: %s: ", __FILE__, \
			        __LINE__, #cond);                                    \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
			abort();                                                     \
		}                                                                    \
	} while (0)

#endif
