/*
 * printf.c - the guest SDK's formatted output (libcowguest): cg_vsnprintf
 * does the formatting (conversions and flags listed in cowguest.h); the
 * printf family sends the text to the console in chunks of the local
 * buffer through cg_write.
 */
#include "sdk_int.h"

/* An output sink: a caller buffer (snprintf) or a chunk flushed to the
 * console (printf). `total` counts every byte produced. */
struct sink {
	char *buf;
	size_t cap, len;   /* bytes stored in buf (at most cap) */
	size_t total;
	int console;       /* flush to the console when full */
};

static void put(struct sink *s, char c)
{
	s->total++;
	if (s->console && s->len == s->cap) {
		cg_write(s->buf, s->len);
		s->len = 0;
	}
	if (s->len < s->cap)
		s->buf[s->len++] = c;
}

static void pad(struct sink *s, char c, int n)
{
	while (n-- > 0)
		put(s, c);
}

enum { F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8 };

/* One integer conversion: magnitude v, sign character (0 = none). */
static void number(struct sink *s, uint64_t v, char sign, unsigned base, int upper, int flags, int width,
                   int prec, const char *prefix)
{
	char digits[24];
	int n = 0;
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	while (v) {
		digits[n++] = dig[v % base];
		v /= base;
	}
	if (prec < 0 && !n)
		digits[n++] = '0';  /* plain 0; an explicit precision 0 prints none */
	int zeros = prec > n ? prec - n : 0;
	int plen = (int)strlen(prefix) + (sign != 0);
	int body = plen + zeros + n;
	if (prec < 0 && (flags & F_ZERO) && !(flags & F_LEFT) && width > body) {
		zeros += width - body;
		body = width;
	}
	if (!(flags & F_LEFT))
		pad(s, ' ', width - body);
	if (sign)
		put(s, sign);
	for (const char *p = prefix; *p; p++)
		put(s, *p);
	pad(s, '0', zeros);
	while (n)
		put(s, digits[--n]);
	if (flags & F_LEFT)
		pad(s, ' ', width - body);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(s, *fmt);
			continue;
		}
		int flags = 0, width = 0, prec = -1, size = 0;
		for (;; fmt++) {
			char c = fmt[1];
			if (c == '-') flags |= F_LEFT;
			else if (c == '0') flags |= F_ZERO;
			else if (c == '+') flags |= F_PLUS;
			else if (c == ' ') flags |= F_SPACE;
			else break;
		}
		fmt++;
		if (*fmt == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				flags |= F_LEFT;
				width = width == -2147483647 - 1 ? 0 : -width;
			}
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9' && width < 100000)
				width = width * 10 + (*fmt++ - '0');
		}
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				if (prec < 0)
					prec = -1;
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9' && prec < 100000)
					prec = prec * 10 + (*fmt++ - '0');
			}
		}
		/* size: 0 int, 1 long/long long/size_t/intmax_t/ptrdiff_t, -1 short, -2 char */
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' || *fmt == 't')
				size = 1;
			else if (*fmt == 'h')
				size = size == -1 ? -2 : -1;
			else
				break;
		}
		uint64_t u;
		int64_t i;
		switch (*fmt) {
		case 'd':
		case 'i':
			i = size == 1 ? va_arg(ap, int64_t) : va_arg(ap, int);
			if (size == -1)
				i = (short)i;
			else if (size == -2)
				i = (signed char)i;
			u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
			number(s, u, i < 0 ? '-' : (flags & F_PLUS) ? '+' : (flags & F_SPACE) ? ' ' : 0, 10, 0, flags,
			       width, prec, "");
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			u = size == 1 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			if (size == -1)
				u = (unsigned short)u;
			else if (size == -2)
				u = (unsigned char)u;
			number(s, u, 0, *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16, *fmt == 'X', flags, width, prec, "");
			break;
		case 'p':
			u = (uint64_t)(uintptr_t)va_arg(ap, void *);
			number(s, u, 0, 16, 0, flags, width, prec, "0x");
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			if (!(flags & F_LEFT))
				pad(s, ' ', width - 1);
			put(s, c);
			if (flags & F_LEFT)
				pad(s, ' ', width - 1);
			break;
		}
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			int n = 0;
			while ((prec < 0 || n < prec) && str[n])
				n++;
			if (!(flags & F_LEFT))
				pad(s, ' ', width - n);
			for (int k = 0; k < n; k++)
				put(s, str[k]);
			if (flags & F_LEFT)
				pad(s, ' ', width - n);
			break;
		}
		case '%':
			put(s, '%');
			break;
		case 0:
			fmt--;  /* a lone '%' at the end: print nothing more */
			break;
		default:
			/* Unknown conversion: print it as written. */
			put(s, '%');
			put(s, *fmt);
			break;
		}
	}
}

int cg_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct sink s = { .buf = buf, .cap = n ? n - 1 : 0 };
	format(&s, fmt, ap);
	if (n)
		buf[s.len] = 0;
	return (int)s.total;
}

int cg_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = cg_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

int cg_vprintf(const char *fmt, va_list ap)
{
	char chunk[256];
	struct sink s = { .buf = chunk, .cap = sizeof(chunk), .console = 1 };
	format(&s, fmt, ap);
	if (s.len)
		cg_write(chunk, s.len);
	return (int)s.total;
}

int cg_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = cg_vprintf(fmt, ap);
	va_end(ap);
	return r;
}
