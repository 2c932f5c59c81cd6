/*
 * err.h - error reporting for library code: functions return a negative
 * errno-style code and leave a one-line message in a struct vmm_err that the
 * caller owns (only the CLI prints it and decides to exit).
 */
#ifndef COWVM_ERR_H
#define COWVM_ERR_H

struct vmm_err {
	int code;       /* negative errno-style code, 0 if none */
	char msg[256];  /* one line, no trailing newline */
};

/* Record the error (if e) and return code (< 0). */
int vmm_fail(struct vmm_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
