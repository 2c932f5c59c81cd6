/*
 * cli_common.c - what every cowvm subcommand shares (see cli.h): usage
 * errors, the exit code of a library error, the guest memory size, reading
 * an input file without ever blocking, and checking a --snapshot-out target
 * before the guest runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cowvm_abi.h"
#include "size_parse.h"
#include "vm.h"

int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "cowvm %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try cowvm help %s)\n", cmd);
	return COWVM_EXIT_USAGE;
}

int cli_exit_for(int code)
{
	/* The codes the library uses for "what you gave me is wrong" (a bad
	 * image, a defective snapshot file, a path that cannot be used); all
	 * others (ENOMEM, EIO, EMFILE, ENOSPC, ...) are failures of the host,
	 * KVM or the VMM. snapshot_file.h lists the codes a bad file gets. */
	switch (-code) {
	case EINVAL: case ENOEXEC: case ENOENT: case ENOTDIR: case EISDIR: case EACCES:
	case EPERM: case EROFS: case ENAMETOOLONG: case ENOTSUP: case E2BIG: case EFBIG:
	case EBADMSG: case ESTALE: case ELOOP: case ENXIO: case ENODEV:
		return COWVM_EXIT_USAGE;
	default:
		return COWVM_EXIT_VMM_ERROR;
	}
}

int cli_parse_mem(const char *cmd, const char *arg, uint64_t *out)
{
	uint64_t v;
	if (parse_size(arg, &v) || v < VM_MEM_MIN || v > VM_MEM_MAX || v % (2u << 20))
		return cli_usage_error(cmd, "bad memory size '%s' (a multiple of 2 MiB, 4M..64G)", arg);
	*out = v;
	return 0;
}

static const char *kind_of(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO or pipe" : S_ISCHR(m) ? "a character device"
	     : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : S_ISLNK(m) ? "a symbolic link"
	     : "not a file";
}

static int why_not_regular(mode_t m, char *why, size_t n)
{
	snprintf(why, n, "%s, not a regular file", kind_of(m));
	return -EINVAL;
}

int cli_open_regular(const char *path, struct stat *st, char *why, size_t whylen)
{
	/* stat first: a device is never opened at all (opening one can have
	 * effects); then open without blocking (a FIFO without a writer would
	 * block open() forever) and check the file opened, not the name. */
	if (stat(path, st)) {
		int err = errno;
		snprintf(why, whylen, "%s", strerror(err));
		return -err;
	}
	if (!S_ISREG(st->st_mode))
		return why_not_regular(st->st_mode, why, whylen);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		int err = errno;
		snprintf(why, whylen, "%s", strerror(err));
		return -err;
	}
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		close(fd);
		return why_not_regular(st->st_mode, why, whylen);
	}
	return fd;
}

int cli_read_file(const char *path, size_t max, unsigned flags, void **buf, size_t *len,
                  char *why, size_t whylen)
{
	*buf = NULL;
	*len = 0;
	struct stat st;
	int fd = cli_open_regular(path, &st, why, whylen);
	if (fd < 0)
		return fd;
	/* Read to EOF (a /proc file says size 0), at most max + 1 bytes. */
	size_t cap = (uint64_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1;
	size_t n = 0;
	uint8_t *p = malloc(cap ? cap : 1);
	int r = p ? 0 : -ENOMEM;
	while (!r && n <= max) {
		if (n == cap) {
			size_t ncap = cap * 2 < max + 1 ? cap * 2 : max + 1;
			uint8_t *q = realloc(p, ncap);
			if (!q) {
				r = -ENOMEM;
				break;
			}
			p = q;
			cap = ncap;
		}
		ssize_t k = read(fd, p + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r = -errno;
		else if (k == 0)
			break;
		else
			n += (size_t)k;
	}
	close(fd);
	if (!r && n > max) {
		if (flags & CLI_READ_CUT)
			n = max;
		else
			r = -EFBIG;
	}
	if (r) {
		if (r == -EFBIG)
			snprintf(why, whylen, "larger than %zu bytes", max);
		else
			snprintf(why, whylen, "%s", strerror(-r));
		free(p);
		return r;
	}
	*buf = p;
	*len = n;
	return 0;
}

int cli_check_output(const char *path, char *why, size_t whylen)
{
	/* snapshot_save writes PATH.tmp.XXXXXX beside the target and renames
	 * it over the target: whatever is at PATH is replaced. Only a regular
	 * file may be (lstat: a symbolic link would be replaced, not followed). */
	struct stat st;
	if (!lstat(path, &st)) {
		if (!S_ISREG(st.st_mode)) {
			snprintf(why, whylen, "%s is %s, not a regular file: refusing to replace it", path,
			         kind_of(st.st_mode));
			return -EINVAL;
		}
	} else if (errno != ENOENT) {
		int err = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(err));
		return -err;
	}
	/* The folder: create (and remove) a file of the temporary's name, the
	 * only honest test of "writable" (access(W_OK) says yes to root on a
	 * mode-0555 folder and on sysfs, where creating a file still fails). */
	size_t plen = strlen(path);
	char *probe = malloc(plen + 12);
	if (!probe) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	memcpy(probe, path, plen);
	memcpy(probe + plen, ".tmp.XXXXXX", 12);
	int fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		snprintf(why, whylen, "%s: cannot create a file in its folder: %s", path, strerror(err));
		free(probe);
		return -err;
	}
	close(fd);
	unlink(probe);
	free(probe);
	return 0;
}
