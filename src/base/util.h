/* SPDX-License-Identifier: MIT */
/* Small helpers used everywhere: result annotation, array size, alignment, container_of. */
#ifndef VIREO_BASE_UTIL_H
#define VIREO_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define WUR __attribute__((warn_unused_result))
#define UNUSED __attribute__((unused))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define IS_POW2(x) ((x) != 0 && (((x) & ((x)-1)) == 0))

#define KiB (1024ULL)
#define MiB (1024ULL * 1024)
#define GiB (1024ULL * 1024 * 1024)

/* Monotonic clock in nanoseconds. */
uint64_t time_now_ns(void);

/* Parse "512M", "2G", "4096", "64K" into bytes. Returns 0 or -EINVAL / -ERANGE. */
int parse_size(const char *s, uint64_t *out) WUR;
/* Parse an unsigned decimal integer in [min, max]. Returns 0 or -EINVAL / -ERANGE. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out) WUR;

/* Read a whole file into a malloc'd buffer (max_len bounds it). Returns 0 or -errno. */
int read_file(const char *path, size_t max_len, uint8_t **buf, size_t *len) WUR;

#endif
