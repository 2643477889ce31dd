/* SPDX-License-Identifier: MIT */
#include "base/token_bucket.h"

#define NS_PER_S 1000000000ULL

void tb_init(struct tbucket *tb, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	tb->rate = rate;
	if (!burst)
		burst = rate / 10 ? rate / 10 : 1;
	if (burst > INT64_MAX / 2)
		burst = INT64_MAX / 2;
	tb->burst = burst;
	tb->tokens = (int64_t)burst;
	tb->last_ns = now_ns;
	tb->frac = 0;
}

void tb_refill(struct tbucket *tb, uint64_t now_ns)
{
	if (tb_unlimited(tb) || now_ns <= tb->last_ns)
		return;
	uint64_t dt = now_ns - tb->last_ns;
	tb->last_ns = now_ns;
	/* Enough time to fill the bucket from any debt: saturate (also avoids overflow). */
	uint64_t debt = tb->tokens < 0 ? (uint64_t)-tb->tokens : 0;
	if (dt >= NS_PER_S && dt / NS_PER_S >= (tb->burst + debt) / tb->rate + 1) {
		tb->tokens = (int64_t)tb->burst;
		tb->frac = 0;
		return;
	}
	/* dt is then below (burst + debt) / rate + 2 seconds: rate * dt fits in 128 bits. */
	unsigned __int128 acc = (unsigned __int128)tb->rate * dt + tb->frac;
	unsigned __int128 add = acc / NS_PER_S;
	tb->frac = (uint64_t)(acc % NS_PER_S);
	if (add >= (unsigned __int128)tb->burst + debt) {
		tb->tokens = (int64_t)tb->burst;
		tb->frac = 0;
		return;
	}
	tb->tokens += (int64_t)add;
}

bool tb_take(struct tbucket *tb, uint64_t cost, uint64_t now_ns)
{
	if (tb_unlimited(tb))
		return true;
	tb_refill(tb, now_ns);
	if (tb->tokens <= 0)
		return false;
	if (cost > (uint64_t)INT64_MAX / 4)
		cost = (uint64_t)INT64_MAX / 4;
	tb->tokens -= (int64_t)cost;
	return true;
}

uint64_t tb_take_upto(struct tbucket *tb, uint64_t want, uint64_t now_ns)
{
	if (tb_unlimited(tb))
		return want;
	tb_refill(tb, now_ns);
	if (tb->tokens <= 0)
		return 0;
	uint64_t got = want < (uint64_t)tb->tokens ? want : (uint64_t)tb->tokens;
	tb->tokens -= (int64_t)got;
	return got;
}

uint64_t tb_wait_ns(struct tbucket *tb, uint64_t now_ns)
{
	if (tb_unlimited(tb))
		return 0;
	tb_refill(tb, now_ns);
	if (tb->tokens > 0)
		return 0;
	/* Need (1 - tokens) more tokens; frac already holds part of the next one. */
	unsigned __int128 need = (unsigned __int128)(1 + (uint64_t)-tb->tokens) * NS_PER_S;
	need = need > tb->frac ? need - tb->frac : 0;
	unsigned __int128 ns = (need + tb->rate - 1) / tb->rate;
	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}
