/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per message on stderr, "vireo: <context>: <what>".
 * The level is the only process-wide setting (set once from main).
 * Guest-triggerable messages must go through log_rl() with a per-site ratelimit.
 */
#ifndef VIREO_BASE_LOG_H
#define VIREO_BASE_LOG_H

#include <stdint.h>
#include <stdbool.h>

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* A token bucket: at most `burst` messages per second; the rest are counted and summarised. */
struct ratelimit {
	uint64_t window_ns;
	unsigned burst;
	unsigned suppressed;
};
#define RATELIMIT_INIT {0, 0, 0}
bool ratelimit_ok(struct ratelimit *rl);

/* Rate-limited log (10 lines per second per site). Thread-safe enough for logging. */
#define log_rl(lvl, ...)                                                                           \
	do {                                                                                       \
		static struct ratelimit rl_ = RATELIMIT_INIT;                                      \
		if (ratelimit_ok(&rl_))                                                            \
			log_msg(lvl, __VA_ARGS__);                                                 \
	} while (0)

#endif
