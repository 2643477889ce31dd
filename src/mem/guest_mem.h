/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory: a small set of non-overlapping regions {gpa, size, hva, fd, fd_off}.
 * All translation is checked: a pointer is returned only when the whole [gpa, gpa+len) lies
 * inside one region. Accessors for guest-shared fields are little-endian and volatile so that
 * each field is fetched exactly once.
 */
#ifndef VIREO_MEM_GUEST_MEM_H
#define VIREO_MEM_GUEST_MEM_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "base/util.h"

#define GM_MAX_REGIONS 16

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	int fd;          /* memfd backing this region, -1 if anonymous */
	uint64_t fd_off; /* offset of this region inside fd */
	bool readonly;   /* e.g. firmware ROM: guest sees it, device DMA must not write it */
};

struct guest_mem {
	struct gm_region regions[GM_MAX_REGIONS];
	unsigned nr;
};

void gm_init(struct guest_mem *gm);
/* Add a region; rejects overlap, zero size, wrap-around and a full table with -EINVAL/-ENOSPC. */
int gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *hva, int fd,
		  uint64_t fd_off, bool readonly) WUR;

/* Allocate `size` bytes of shareable guest RAM as a memfd (sealed against shrinking and
 * growing) and map it. Returns 0 or -errno. */
int gm_alloc_memfd(const char *name, uint64_t size, int *fd_out, void **hva_out) WUR;

/* Find the region holding gpa, or NULL. */
const struct gm_region *gm_find(const struct guest_mem *gm, uint64_t gpa);
/* Host pointer for [gpa, gpa+len) if it lies wholly in one region, else NULL (overflow-safe). */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/* Like gm_ptr but also NULL for read-only regions: use for anything the device writes. */
void *gm_ptr_w(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/* Copy across region boundaries; -EFAULT if any byte is outside guest memory. */
int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len) WUR;
int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len) WUR;
/* Total bytes of RAM across regions that are not read-only. */
uint64_t gm_ram_size(const struct guest_mem *gm);

/* Single-fetch little-endian accessors on host pointers into guest memory (x86 is LE). The
 * guest picks the addresses, so they may be misaligned: the types carry aligned(1) and the
 * compiler emits one (possibly unaligned) volatile access, which x86 performs atomically for
 * naturally aligned fields. */
typedef uint16_t gm_u16 __attribute__((aligned(1), may_alias));
typedef uint32_t gm_u32 __attribute__((aligned(1), may_alias));
typedef uint64_t gm_u64 __attribute__((aligned(1), may_alias));

static inline uint16_t gm_load16(const void *p)
{
	return *(const volatile gm_u16 *)p;
}
static inline uint32_t gm_load32(const void *p)
{
	return *(const volatile gm_u32 *)p;
}
static inline uint64_t gm_load64(const void *p)
{
	return *(const volatile gm_u64 *)p;
}
static inline void gm_store16(void *p, uint16_t v)
{
	*(volatile gm_u16 *)p = v;
}
static inline void gm_store32(void *p, uint32_t v)
{
	*(volatile gm_u32 *)p = v;
}
static inline void gm_store64(void *p, uint64_t v)
{
	*(volatile gm_u64 *)p = v;
}

/* Barriers named for what they order, as in the virtio spec. */
#define gm_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define gm_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define gm_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)

#endif
