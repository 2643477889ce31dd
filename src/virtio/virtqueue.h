/* SPDX-License-Identifier: MIT */
/*
 * Virtqueues (split ring; packed ring reserved) with validated descriptor chains and
 * reader/writer cursors over them.
 *
 * Validation (ARCHITECTURE.md "Virtqueue"):
 *  - vq_setup(): size is a power of two and <= max_size; desc/avail/used are aligned
 *    (16/2/4) and each ring lies wholly in one guest RAM region (used: writable region).
 *  - vq_pop(): avail delta <= size, head < size, a TTL of `size` descriptors per chain
 *    (indirect ones included), one level of indirection (len % 16 == 0, len != 0, no
 *    NEXT together with INDIRECT, no nested INDIRECT), readable segments before writable
 *    ones, every segment wholly in one region (gm_ptr_w for writable ones), and a 32-bit
 *    total length with no overflow. Every guest-shared field is read once into a local.
 *  - Any violation calls virtio_dev_fail() on the owning device (NEEDS_RESET + config
 *    interrupt + queues stopped + one rate-limited log line) and vq_pop() returns -EIO.
 *
 * Threading: a queue is processed by one thread at a time with dev->lock held (see virtio.h).
 */
#ifndef VIREO_VIRTIO_VIRTQUEUE_H
#define VIREO_VIRTIO_VIRTQUEUE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "base/util.h"
#include "mem/guest_mem.h"

struct virtio_dev;

/* The spec's largest split queue. Devices choose their own max_size (<= this). */
#define VQ_MAX_SIZE 32768u

enum vq_format {
	VQ_FORMAT_SPLIT = 0,
	VQ_FORMAT_PACKED, /* reserved: VIRTIO_F_RING_PACKED is never offered yet */
};

struct virtqueue {
	/* Identity, fixed by vq_init(). */
	struct virtio_dev *dev; /* owner: errors go to virtio_dev_fail(dev) */
	uint16_t index;
	uint16_t max_size;

	/* Driver-programmed geometry (transport registers / vhost-user SET_VRING_*).
	 * Only meaningful while !ready; checked by vq_setup(). */
	uint16_t size;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;

	/* State. */
	enum vq_format format;
	bool ready;      /* geometry validated, host pointers valid, processing allowed */
	bool event_idx;  /* VIRTIO_RING_F_EVENT_IDX negotiated (copied at vq_setup) */
	bool indirect;   /* VIRTIO_RING_F_INDIRECT_DESC negotiated (copied at vq_setup) */
	uint16_t last_avail_idx; /* next avail ring slot the device consumes */
	uint16_t used_idx;       /* next used ring slot the device fills (shadow of used->idx) */
	uint16_t signalled_used; /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_used_valid;
	bool no_notify;          /* vq_set_notification(false) in effect */
	uint64_t popped;         /* chains popped since creation (kept across resets): stats */
	bool kick_pending;       /* kicked before the device was activated (virtio.c) */

	/* Host pointers into guest memory, valid while ready. */
	const struct guest_mem *mem;
	uint8_t *desc_hva;  /* struct vring_desc[size] */
	uint8_t *avail_hva; /* flags, idx, ring[size], used_event */
	uint8_t *used_hva;  /* flags, idx, ring[size], avail_event */
};

/* One popped, validated descriptor chain. The caller provides iov storage (cap entries);
 * a chain with more segments than cap is treated as a guest error (the device advertises
 * its limit, e.g. blk seg_max). Readable segments are iov[0, nr_out), writable ones
 * iov[nr_out, nr_out + nr_in). */
struct vq_chain {
	struct iovec *iov;
	uint32_t cap;
	uint16_t head;
	uint32_t nr_out;
	uint32_t nr_in;
	uint32_t out_len; /* total readable bytes */
	uint32_t in_len;  /* total writable bytes */
};

/* A cursor over one direction of a chain. */
struct vq_cursor {
	const struct iovec *iov;
	uint32_t nr;
	uint32_t idx;    /* current segment */
	size_t off;      /* offset in the current segment */
	uint32_t remaining;
};

/* ---- lifecycle (used by virtio.c; transports go through virtio.h) ---- */

void vq_init(struct virtqueue *vq, struct virtio_dev *dev, uint16_t index, uint16_t max_size);
/* Back to power-on state: size = max_size, addresses 0, indices 0, !ready. */
void vq_reset(struct virtqueue *vq);
/* Validate geometry against mem and the negotiated features and make the queue ready.
 * Returns 0 or -EINVAL (nothing logged; the caller reports). Does not touch indices. */
int vq_setup(struct virtqueue *vq, const struct guest_mem *mem, uint64_t features) WUR;
/* Stop processing (ready = false). Indices are kept (vhost-user GET_VRING_BASE). */
void vq_stop(struct virtqueue *vq);
/* Read used->idx from guest memory into used_idx (vhost-user reconnect). Needs ready. */
void vq_sync_used_idx(struct virtqueue *vq);

/* ---- data path (device side) ---- */

/* Pop the next available chain into *chain.
 * Returns 1 with a chain, 0 when the ring is empty (or the queue not ready), -EIO when
 * the guest broke the rules (the device is already failed: stop processing). */
int vq_pop(struct virtqueue *vq, struct vq_chain *chain) WUR;
/* True when the driver has made buffers available that vq_pop has not consumed. */
bool vq_has_avail(struct virtqueue *vq);
/* Return the chain with `written` bytes written into its writable part. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* Whether the driver wants an interrupt for what was pushed since the last one
 * (VRING_AVAIL_F_NO_INTERRUPT or used_event with EVENT_IDX). Updates the bookkeeping:
 * call once per batch, then notify if true (virtio_notify_queue() does both). */
bool vq_should_notify(struct virtqueue *vq);
/* Ask the driver to (not) kick: VRING_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX.
 * After enabling, re-check vq_has_avail() to close the race. */
void vq_set_notification(struct virtqueue *vq, bool enable);

/* ---- cursors ---- */

void vq_reader_init(struct vq_cursor *c, const struct vq_chain *chain);
void vq_writer_init(struct vq_cursor *c, const struct vq_chain *chain);
static inline uint32_t vq_cursor_remaining(const struct vq_cursor *c)
{
	return c->remaining;
}
/* Copy len bytes out of (reader) / into (writer) the chain and advance.
 * -EMSGSIZE when fewer than len bytes remain (cursor unchanged). */
int vq_cursor_read(struct vq_cursor *c, void *dst, size_t len) WUR;
int vq_cursor_write(struct vq_cursor *c, const void *src, size_t len) WUR;
#define vq_read_obj(c, obj) vq_cursor_read((c), (obj), sizeof(*(obj)))
#define vq_write_obj(c, obj) vq_cursor_write((c), (obj), sizeof(*(obj)))
/* Advance by len bytes; -EMSGSIZE when fewer remain (cursor unchanged). */
int vq_cursor_skip(struct vq_cursor *c, size_t len) WUR;
/* Split off the next len bytes as an iovec array (for preadv/pwritev/io_uring) and advance.
 * -EMSGSIZE when fewer than len bytes remain, -E2BIG when more than cap entries are needed
 * (cursor unchanged on error). */
int vq_cursor_iov(struct vq_cursor *c, size_t len, struct iovec *out, uint32_t cap,
		  uint32_t *nr_out) WUR;
/* Reader -> fd at offset (pwritev) / fd at offset -> writer (preadv), len bytes, looping on
 * short transfers. Returns bytes moved (short only at EOF for from_fd) or -errno. */
ssize_t vq_reader_to_fd(struct vq_cursor *c, int fd, off_t off, size_t len) WUR;
ssize_t vq_writer_from_fd(struct vq_cursor *c, int fd, off_t off, size_t len) WUR;

#endif
