/* SPDX-License-Identifier: MIT */
/*
 * A token bucket for rate limits (bytes or operations per second): `rate` tokens accrue per
 * second up to `burst`. Rate 0 means unlimited. Time is passed in (monotonic ns) so callers
 * batch clock reads and tests are deterministic. Not thread-safe: one owner at a time.
 *
 * Two ways to spend:
 *  - tb_take(): all-or-debt. Allowed whenever the bucket is not in debt; the whole cost is
 *    taken and the balance may go negative. Suits indivisible items (a 64 KiB frame against a
 *    bucket smaller than that still passes, and the debt holds the next one back): the
 *    long-run rate is exact and no item size can wedge the bucket.
 *  - tb_take_upto(): grants up to `want` whole tokens from what is there (divisible work,
 *    e.g. bytes of entropy).
 * tb_wait_ns() says when spending is possible again (for a timer).
 */
#ifndef VIREO_BASE_TOKEN_BUCKET_H
#define VIREO_BASE_TOKEN_BUCKET_H

#include <stdint.h>
#include <stdbool.h>

struct tbucket {
	uint64_t rate;	/* tokens per second; 0 = unlimited */
	uint64_t burst; /* capacity */
	int64_t tokens; /* may be negative (debt) after tb_take */
	uint64_t last_ns;
	uint64_t frac; /* sub-token remainder of the last refill, in token*ns units */
};

/* burst 0 picks rate / 10 (100 ms worth), at least 1. The bucket starts full. */
void tb_init(struct tbucket *tb, uint64_t rate, uint64_t burst, uint64_t now_ns);
static inline bool tb_unlimited(const struct tbucket *tb)
{
	return tb->rate == 0;
}
/* Refill for the time since the last call. */
void tb_refill(struct tbucket *tb, uint64_t now_ns);
/* True (and cost taken, possibly into debt) unless the bucket is in debt or empty. */
bool tb_take(struct tbucket *tb, uint64_t cost, uint64_t now_ns);
/* Up to want tokens granted from the balance (0 when empty or in debt). */
uint64_t tb_take_upto(struct tbucket *tb, uint64_t want, uint64_t now_ns);
/* Nanoseconds until the balance is positive again (0 if it is now). */
uint64_t tb_wait_ns(struct tbucket *tb, uint64_t now_ns);

#endif
