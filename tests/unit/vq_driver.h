/* SPDX-License-Identifier: MIT */
/*
 * A test-side virtio driver: it owns fake guest memory (a guest_mem over an anonymous
 * mapping) and writes split rings into it the way a guest driver would, so device code can be
 * exercised in-process (unit tests, fuzzers, benchmarks). It also has raw writers for building
 * malformed rings on purpose.
 *
 * Typical use:
 *   struct vqd_mem m;  vqd_mem_init(&m, 0, 16 << 20);
 *   struct vq_driver d; vqd_init(&d, &m, 0x1000, 256);
 *   vqd_attach(&d, dev, 0);                     // set size/addresses, enable queue 0
 *   uint64_t buf = vqd_alloc(&m, 4096, 16);
 *   struct vqd_seg s[] = {{buf, 16, false}, {buf + 16, 1, true}};
 *   int head = vqd_add(&d, s, 2, false);        // publish a chain
 *   virtio_queue_kick(dev, 0);
 *   uint32_t id, len; vqd_get_used(&d, &id, &len);
 */
#ifndef VIREO_TESTS_VQ_DRIVER_H
#define VIREO_TESTS_VQ_DRIVER_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "mem/guest_mem.h"
#include "virtio/virtio.h"

/* Fake guest RAM: one region [gpa, gpa + size) over an anonymous (or memfd) mapping. */
struct vqd_mem {
	struct guest_mem gm;
	uint8_t *hva;
	uint64_t gpa;
	uint64_t size;
	uint64_t brk; /* bump allocator for vqd_alloc, grows up from gpa + size / 2 */
};

/* 0 or -errno. The lower half of the region is free for rings; vqd_alloc uses the upper half. */
int vqd_mem_init(struct vqd_mem *m, uint64_t gpa, uint64_t size);
void vqd_mem_fini(struct vqd_mem *m);
/* Add a second region (e.g. read-only) at gpa backed by fresh memory. */
int vqd_mem_add_region(struct vqd_mem *m, uint64_t gpa, uint64_t size, bool readonly,
		       void **hva_out);
/* Bump-allocate len bytes aligned to align from the upper half; 0 when exhausted. */
uint64_t vqd_alloc(struct vqd_mem *m, uint64_t len, uint64_t align);
/* Host pointer for a gpa in the main region (asserts range; NULL if outside). */
void *vqd_hva(struct vqd_mem *m, uint64_t gpa);

struct vqd_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

#define VQD_MAX_INDIRECT 256u

struct vq_driver {
	struct vqd_mem *m;
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint64_t indirect_gpa; /* per-head indirect tables, VQD_MAX_INDIRECT entries each */
	uint16_t avail_idx;    /* next avail slot the driver fills */
	uint16_t last_used;    /* next used slot the driver reads */
	uint16_t nr_free;
	uint16_t free_head;    /* free descriptors chained through next_free */
	uint16_t *next_free;
	uint16_t *chain_len;   /* per head: direct descriptors used */
};

/* Lay out desc (16-aligned) at ring_gpa, avail right after, used 4-aligned after that; zero
 * them. size must be a power of two. Returns 0 or -errno. */
int vqd_init(struct vq_driver *d, struct vqd_mem *m, uint64_t ring_gpa, uint16_t size);
void vqd_fini(struct vq_driver *d);
/* Program queue q of dev with this ring (size, addresses) and enable it. */
int vqd_attach(struct vq_driver *d, struct virtio_dev *dev, uint16_t q);
/* Negotiate features and set DRIVER_OK through the status register like a driver would:
 * ACK, DRIVER, driver features (page 0/1), FEATURES_OK. Returns the status read back. */
uint8_t vqd_negotiate(struct virtio_dev *dev, uint64_t features);

/* Run the device's loop (if any) until the work that status writes defer to it (activation,
 * reset) is done, like a driver polling device_status; bounded. Returns virtio_get_status(). */
uint8_t vqd_settle(struct virtio_dev *dev);

/* Publish a chain of n segments (direct descriptors, or one indirect table). Returns the head
 * or -ENOSPC when out of descriptors. */
int vqd_add(struct vq_driver *d, const struct vqd_seg *segs, unsigned n, bool indirect);
/* Pop one used element; false when none. Frees the chain's descriptors. */
bool vqd_get_used(struct vq_driver *d, uint32_t *id, uint32_t *len);

/* Raw writers for malformed rings. */
void vqd_write_desc(struct vq_driver *d, uint16_t idx, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next);
void vqd_write_table_desc(struct vq_driver *d, uint64_t table_gpa, uint16_t idx, uint64_t addr,
			  uint32_t len, uint16_t flags, uint16_t next);
/* Put head into the next avail slot and publish it (avail->idx++). */
void vqd_publish(struct vq_driver *d, uint16_t head);
void vqd_set_avail_idx(struct vq_driver *d, uint16_t idx);
void vqd_set_avail_flags(struct vq_driver *d, uint16_t flags);
void vqd_set_used_event(struct vq_driver *d, uint16_t v);
uint16_t vqd_avail_event(struct vq_driver *d);
uint16_t vqd_used_flags(struct vq_driver *d);
uint16_t vqd_used_idx(struct vq_driver *d);
/* The value a device reports for counter `name` through vm.counters (virtio_dev_counters), or
 * UINT64_MAX when it reports no such counter. */
uint64_t vqd_counter(struct virtio_dev *dev, const char *name);

#endif
