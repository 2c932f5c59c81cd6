/*
 * primes.c - a guest function for cowvm, built on the guest SDK: a prime
 * number service. Before its snapshot it builds its warm state, a sieve of
 * every prime up to `limit` (argument, default 2000000) on the heap; each
 * clone then answers ONE request from the input buffer and exits:
 *
 *   request (text, one query a line)     response (one line each)
 *   prime N       the N-th prime          prime 10 = 29
 *   count X       primes <= X             count 100 = 25
 *   isprime X     is X prime?             isprime 7919 = yes
 *
 * A query it cannot answer gets "? <the line>" (beyond the sieve, a bad
 * number, an unknown word). Exit status: 0 answered, 1 no request.
 *
 * Build (docs/guest-sdk.md):
 *   gcc -O2 -o primes.elf primes.c $(pkg-config --cflags --libs cowguest)
 */
#include <cowguest.h>

static uint8_t *composite;    /* composite[x] for x <= limit: the warm state */
static uint32_t *primes;      /* the primes in order */
static uint64_t limit, nprimes;

static int build_sieve(void)
{
	if (cg_arg_u64("limit", 2000000, &limit) || limit < 2 || limit > 100000000) {
		cg_printf("primes: limit must be 2..100000000\n");
		return -1;
	}
	composite = cg_calloc(limit + 1, 1);
	if (!composite) {
		cg_printf("primes: the heap cannot hold a sieve of %llu (more guest memory?)\n",
		          (unsigned long long)limit);
		return -1;
	}
	for (uint64_t i = 2; i * i <= limit; i++)
		if (!composite[i])
			for (uint64_t j = i * i; j <= limit; j += i)
				composite[j] = 1;
	for (uint64_t i = 2; i <= limit; i++)
		nprimes += !composite[i];
	primes = cg_malloc(nprimes * sizeof(*primes));
	if (!primes)
		return -1;
	for (uint64_t i = 2, n = 0; i <= limit; i++)
		if (!composite[i])
			primes[n++] = (uint32_t)i;
	return 0;
}

/* Primes <= x (x <= limit): binary search in the table. */
static uint64_t count_upto(uint64_t x)
{
	uint64_t lo = 0, hi = nprimes;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (primes[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Answer one query line [q, q+n) into out; returns the bytes written. */
static size_t answer(const char *q, size_t n, char *out, size_t cap)
{
	char line[64], word[16], num[24];
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, q, n);
	line[n] = 0;
	/* "WORD NUMBER" */
	size_t i = 0, w = 0, d = 0;
	while (line[i] && line[i] != ' ' && w < sizeof(word) - 1)
		word[w++] = line[i++];
	word[w] = 0;
	while (line[i] == ' ')
		i++;
	while (line[i] && line[i] != ' ' && d < sizeof(num) - 1)
		num[d++] = line[i++];
	num[d] = 0;
	uint64_t x;
	int ok = !line[i] && !cg_parse_u64(num, &x);
	if (ok && cg_streq(word, "prime") && x >= 1 && x <= nprimes)
		return (size_t)cg_snprintf(out, cap, "prime %llu = %u\n", (unsigned long long)x, primes[x - 1]);
	if (ok && cg_streq(word, "count") && x <= limit)
		return (size_t)cg_snprintf(out, cap, "count %llu = %llu\n", (unsigned long long)x,
		                           (unsigned long long)count_upto(x));
	if (ok && cg_streq(word, "isprime") && x <= limit)
		return (size_t)cg_snprintf(out, cap, "isprime %llu = %s\n", (unsigned long long)x,
		                           x >= 2 && !composite[x] ? "yes" : "no");
	return (size_t)cg_snprintf(out, cap, "? %s\n", line);
}

int main(void)
{
	if (build_sieve())
		return 3;
	cg_report("primes.count", nprimes);
	int64_t clone = cg_snapshot();  /* 0 here in the original, N in clone N */
	if (clone == 0) {
		cg_printf("primes: %llu primes up to %llu, snapshot taken\n", (unsigned long long)nprimes,
		          (unsigned long long)limit);
		return 0;
	}
	const char *req;
	size_t len;
	if (cg_request((const void **)&req, &len)) {
		cg_printf("primes: no request\n");
		return 1;
	}
	static char resp[COWVM_MSG_MAX];
	size_t out = 0;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && req[j] != '\n')
			j++;
		if (j > i && out < sizeof(resp))
			out += answer(req + i, j - i, resp + out, sizeof(resp) - out);
		i = j + 1;
	}
	if (out > sizeof(resp))
		out = sizeof(resp); /* the last line was cut short */
	cg_report("primes.clone", (uint64_t)clone);
	return cg_respond(resp, out) ? 2 : 0;
}
