/*
 * agent_cov.c - the pure parts of `cowvm-agent fuzz`: the fuzz input out of
 * the input buffer, and KCOV's program counters turned into AFL edges.
 *
 * Edges as AFL's own instrumentation counts them (docs/fuzzing.md "How
 * coverage reaches AFL"): every basic block gets a pseudo-random id, an
 * edge is cur ^ prev, prev = cur >> 1 (so A->B and B->A differ), and the
 * map's byte for the edge counts up (wrapping, as AFL's counters do). A
 * kernel PC's id is a hash of the PC: KCOV reports PCs (no ids), and the
 * fuzzing kernel is not relocatable, so the same PC means the same block in
 * every boot.
 */
#include "agent.h"

#include <errno.h>
#include <string.h>

/* Murmur3's 64-bit finaliser: every PC bit reaches every id bit, so PCs a
 * few bytes apart (KCOV's are call sites) spread over the whole map. */
static uint64_t pc_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

void agent_cov_edges(const uint64_t *pcs, size_t n, volatile uint8_t *map, size_t size)
{
	if (!size)
		return;
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t cur = pc_mix(pcs[i]) % size;
		map[(cur ^ prev) % size]++;
		prev = cur >> 1;
	}
}

int agent_fuzz_input(const uint8_t *buf, size_t size, const uint8_t **data, size_t *len)
{
	uint64_t n;
	if (size < sizeof(n))
		return -EMSGSIZE;
	memcpy(&n, buf, sizeof(n));
	/* cowvm never writes more than the buffer holds; a longer length is
	 * not its doing, so say so rather than cut. */
	if (n > size - sizeof(n))
		return -EBADMSG;
	*data = buf + sizeof(n);
	*len = (size_t)n;
	return 0;
}
