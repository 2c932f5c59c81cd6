/*
 * serve.c - a host program that serves requests from clones of a warm
 * guest through the installed libcowvm (docs/library.md):
 *
 *   serve snapshot GUEST.elf SNAPFILE [KEY=VALUE...]
 *       boot GUEST.elf with the arguments, run it until it asks for its
 *       snapshot (its warm state built), save the snapshot to SNAPFILE and
 *       let the original finish
 *   serve requests SNAPFILE
 *       load SNAPFILE; every line of stdin is one request: a fresh clone
 *       gets it, runs, and its response is printed; a line "\" + text
 *       sends the text with its "\n" escapes turned into newlines (several
 *       queries in one request)
 *
 * Exit status: 0, 1 if a clone failed (its end is printed on stderr), 2 on
 * bad arguments or files.
 *
 * Build:
 *   cc -O2 -o serve serve.c $(pkg-config --cflags --libs cowvm)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cowvm/cowvm.h>

static int usage(void)
{
	fprintf(stderr, "usage: serve snapshot GUEST.elf SNAPFILE [KEY=VALUE...]\n"
	                "       serve requests SNAPFILE < requests\n");
	return 2;
}

static int fail(const char *what)
{
	fprintf(stderr, "serve: %s: %s\n", what, cowvm_last_error());
	return 2;
}

static int make_snapshot(const char *guest, const char *path, int nargs, char **args)
{
	cowvm_config *c;
	cowvm_vm *vm = NULL;
	cowvm_snapshot *s = NULL;
	int code = 2;
	if (cowvm_config_new(&c))
		return fail("configuration");
	if (cowvm_config_set_guest_file(c, guest)) {
		code = fail("guest");
		goto out;
	}
	for (int i = 0; i < nargs; i++) {
		char *eq = strchr(args[i], '=');
		if (!eq) {
			fprintf(stderr, "serve: argument '%s' is not KEY=VALUE\n", args[i]);
			goto out;
		}
		*eq = 0;
		if (cowvm_config_add_arg(c, args[i], eq + 1)) {
			code = fail("argument");
			goto out;
		}
	}
	if (cowvm_vm_create(c, &vm) || cowvm_vm_run(vm)) {
		code = fail("boot");
		goto out;
	}
	if (cowvm_vm_end(vm) != COWVM_END_SNAPSHOT) {
		fprintf(stderr, "serve: the guest ended before its snapshot: %s (status %d)\n",
		        cowvm_vm_end_message(vm), cowvm_vm_exit_status(vm));
		code = 1;
		goto out;
	}
	if (cowvm_snapshot_take(vm, &s) || cowvm_snapshot_save(s, path)) {
		code = fail("snapshot");
		goto out;
	}
	printf("snapshot of %s saved to %s (%llu MiB guest)\n", cowvm_snapshot_name(s), path,
	       (unsigned long long)(cowvm_snapshot_memory(s) >> 20));
	fflush(stdout);
	/* The original goes on (its snapshot call returns 0) and finishes. */
	if (cowvm_vm_run(vm)) {
		code = fail("run");
		goto out;
	}
	code = cowvm_vm_end(vm) == COWVM_END_EXIT && cowvm_vm_exit_status(vm) == 0 ? 0 : 1;
out:
	cowvm_snapshot_put(s);
	cowvm_vm_destroy(vm);
	cowvm_config_free(c);
	return code;
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* "\" + text: the text with "\n" as newlines; else the line as it is. */
static size_t request_of(char *line)
{
	size_t n = strcspn(line, "\n");
	line[n] = 0;
	if (line[0] != '\\')
		return n;
	size_t o = 0;
	for (size_t i = 1; line[i]; i++) {
		if (line[i] == '\\' && line[i + 1] == 'n') {
			line[o++] = '\n';
			i++;
		} else {
			line[o++] = line[i];
		}
	}
	line[o] = 0;
	return o;
}

static int serve_requests(const char *path)
{
	cowvm_snapshot *s;
	cowvm_pool *pool;
	if (cowvm_snapshot_load(path, &s))
		return fail("snapshot");
	if (cowvm_pool_create(1, &pool)) {
		cowvm_snapshot_put(s);
		return fail("pool");
	}
	static char line[65536], resp[65536];
	int code = 0;
	unsigned served = 0;
	double total_us = 0;
	while (fgets(line, sizeof(line), stdin)) {
		size_t n = request_of(line);
		cowvm_vm *vm;
		double t0 = now_us();
		if (cowvm_clone(pool, s, &vm) || cowvm_vm_request(vm, line, n) || cowvm_vm_run(vm)) {
			code = fail("clone");
			cowvm_release(vm);
			break;
		}
		int len = cowvm_vm_end(vm) == COWVM_END_EXIT ? cowvm_vm_response(vm, resp, sizeof(resp), NULL) : -1;
		total_us += now_us() - t0;
		if (len < 0 || cowvm_vm_exit_status(vm) != 0) {
			fprintf(stderr, "serve: clone %llu: %s (status %d)%s\n",
			        (unsigned long long)cowvm_vm_clone_number(vm), cowvm_vm_end_message(vm),
			        cowvm_vm_exit_status(vm), len < 0 ? ", no response" : "");
			code = 1;
		} else {
			fwrite(resp, 1, (size_t)len, stdout);
			served++;
		}
		cowvm_release(vm);
	}
	fprintf(stderr, "serve: %u request(s) served by clones of %s, %.0f us each on average\n", served,
	        cowvm_snapshot_name(s), served ? total_us / served : 0.0);
	cowvm_pool_destroy(pool);
	cowvm_snapshot_put(s);
	return code;
}

int main(int argc, char **argv)
{
	if (cowvm_version() >> 16 != COWVM_VERSION_MAJOR) {
		fprintf(stderr, "serve: built for libcowvm %s, running with %s\n", COWVM_VERSION_STRING,
		        cowvm_version_string());
		return 2;
	}
	if (argc >= 4 && !strcmp(argv[1], "snapshot"))
		return make_snapshot(argv[2], argv[3], argc - 4, argv + 4);
	if (argc == 3 && !strcmp(argv[1], "requests"))
		return serve_requests(argv[2]);
	return usage();
}
