/* SPDX-License-Identifier: MIT */
#include "base/ratelimit.h"

#define NS_PER_S 1000000000ULL

void tbucket_init(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	b->rate = rate;
	b->burst = burst ? burst : rate;
	b->tokens = b->burst;
	b->last_ns = now_ns;
	b->frac = 0;
}

static void refill(struct tbucket *b, uint64_t now_ns)
{
	if (now_ns <= b->last_ns)
		return;
	uint64_t dt = now_ns - b->last_ns;
	b->last_ns = now_ns;
	if (b->tokens >= b->burst) {
		b->frac = 0;
		return;
	}
	/* Whole seconds first so that rate * dt cannot overflow for any sane rate. */
	uint64_t add = (dt / NS_PER_S) * b->rate;
	unsigned __int128 part = (unsigned __int128)(dt % NS_PER_S) * b->rate + b->frac;
	add += (uint64_t)(part / NS_PER_S);
	b->frac = (uint64_t)(part % NS_PER_S);
	if (add >= b->burst - b->tokens) {
		b->tokens = b->burst;
		b->frac = 0;
	} else {
		b->tokens += add;
	}
}

uint64_t tbucket_take(struct tbucket *b, uint64_t want, uint64_t now_ns)
{
	if (!b->rate)
		return want;
	refill(b, now_ns);
	uint64_t n = MIN(want, b->tokens);
	b->tokens -= n;
	return n;
}

uint64_t tbucket_wait_ns(struct tbucket *b, uint64_t want, uint64_t now_ns)
{
	if (!b->rate)
		return 0;
	refill(b, now_ns);
	want = MIN(want, b->burst);
	if (b->tokens >= want)
		return 0;
	uint64_t missing = want - b->tokens;
	unsigned __int128 ns = (unsigned __int128)missing * NS_PER_S;
	ns = ns > b->frac ? ns - b->frac : 0;
	return (uint64_t)((ns + b->rate - 1) / b->rate);
}
