/* SPDX-License-Identifier: MIT */
/*
 * A token bucket for data-path rate limits (bytes per second), e.g. `--rng rate=`.
 * Not thread-safe: one owner (a device, under its lock). Times are CLOCK_MONOTONIC ns
 * (time_now_ns()), passed in so tests can drive the clock.
 *
 * The bucket holds at most `burst` tokens and refills at `rate` tokens per second; it starts
 * full. rate 0 means unlimited.
 */
#ifndef VIREO_BASE_RATELIMIT_H
#define VIREO_BASE_RATELIMIT_H

#include <stdint.h>
#include "base/util.h"

struct tbucket {
	uint64_t rate;	 /* tokens per second, 0 = unlimited */
	uint64_t burst;	 /* capacity */
	uint64_t tokens; /* available now */
	uint64_t last_ns;
	uint64_t frac; /* sub-token remainder of the last refill, in token-ns */
};

void tbucket_init(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* Take up to `want` tokens; returns how many were taken (all of them when unlimited). */
uint64_t tbucket_take(struct tbucket *b, uint64_t want, uint64_t now_ns);
/* Nanoseconds until at least `want` (clamped to burst) tokens are available; 0 = now. */
uint64_t tbucket_wait_ns(struct tbucket *b, uint64_t want, uint64_t now_ns);

#endif
