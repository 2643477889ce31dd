/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/util.h"

/* The one process-wide setting: written once by main before any thread starts. */
static enum log_level log_level_cur = LOG_WARN;

void log_set_level(enum log_level lvl)
{
	log_level_cur = lvl;
}

enum log_level log_get_level(void)
{
	return log_level_cur;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (lvl > log_level_cur)
		return;
	n = snprintf(buf, sizeof(buf), "vireo: ");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* One line per message, written with one call so threads do not interleave. */
	size_t len = strnlen(buf, sizeof(buf) - 2);
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[len++] = '\n';
	fwrite(buf, 1, len, stderr);
}

bool ratelimit_ok(struct ratelimit *rl)
{
	uint64_t now = time_now_ns();
	uint64_t start = __atomic_load_n(&rl->window_ns, __ATOMIC_RELAXED);

	if (now - start > 1000000000ULL) {
		unsigned sup = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&rl->window_ns, now, __ATOMIC_RELAXED);
		__atomic_store_n(&rl->burst, 0, __ATOMIC_RELAXED);
		if (sup)
			log_msg(LOG_WARN, "(%u similar messages suppressed)", sup);
	}
	if (__atomic_add_fetch(&rl->burst, 1, __ATOMIC_RELAXED) <= 10)
		return true;
	__atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
	return false;
}
