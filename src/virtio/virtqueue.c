/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues: geometry check, validated chain walk, used ring, notification
 * suppression (EVENT_IDX aware), and cursors over popped chains.
 *
 * Split ring layout (VirtIO 1.2, 2.7): desc[size] of 16 bytes {le64 addr, le32 len,
 * le16 flags, le16 next}; avail {le16 flags, le16 idx, le16 ring[size], le16 used_event};
 * used {le16 flags, le16 idx, {le32 id, le32 len} ring[size], le16 avail_event}.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "virtio/virtqueue.h"
#include "virtio/virtio.h"

#define DESC_SIZE 16u

static uint64_t desc_bytes(uint16_t size)
{
	return (uint64_t)DESC_SIZE * size;
}
static uint64_t avail_bytes(uint16_t size)
{
	return 6u + 2u * (uint64_t)size;
}
static uint64_t used_bytes(uint16_t size)
{
	return 6u + 8u * (uint64_t)size;
}

void vq_init(struct virtqueue *vq, struct virtio_dev *dev, uint16_t index, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->dev = dev;
	vq->index = index;
	vq->max_size = max_size;
	vq_reset(vq);
}

void vq_reset(struct virtqueue *vq)
{
	vq->size = vq->max_size;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->format = VQ_FORMAT_SPLIT;
	vq->ready = false;
	vq->event_idx = vq->indirect = false;
	vq->last_avail_idx = vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->no_notify = false;
	vq->kick_pending = false;
	vq->mem = NULL;
	vq->desc_hva = vq->avail_hva = vq->used_hva = NULL;
}

int vq_setup(struct virtqueue *vq, const struct guest_mem *mem, uint64_t features)
{
	uint16_t size = vq->size;

	if (vq->format != VQ_FORMAT_SPLIT || !mem)
		return -EINVAL;
	if (!IS_POW2(size) || size > vq->max_size)
		return -EINVAL;
	if ((vq->desc_gpa & (VRING_DESC_ALIGN_SIZE - 1)) ||
	    (vq->avail_gpa & (VRING_AVAIL_ALIGN_SIZE - 1)) ||
	    (vq->used_gpa & (VRING_USED_ALIGN_SIZE - 1)))
		return -EINVAL;
	uint8_t *d = gm_ptr(mem, vq->desc_gpa, desc_bytes(size));
	uint8_t *a = gm_ptr(mem, vq->avail_gpa, avail_bytes(size));
	uint8_t *u = gm_ptr_w(mem, vq->used_gpa, used_bytes(size));
	if (!d || !a || !u)
		return -EINVAL;
	vq->mem = mem;
	vq->desc_hva = d;
	vq->avail_hva = a;
	vq->used_hva = u;
	vq->event_idx = (features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	vq->indirect = (features >> VIRTIO_RING_F_INDIRECT_DESC) & 1;
	vq->signalled_used_valid = false;
	vq->ready = true;
	return 0;
}

void vq_stop(struct virtqueue *vq)
{
	vq->ready = false;
}

void vq_sync_used_idx(struct virtqueue *vq)
{
	if (vq->ready)
		vq->used_idx = gm_load16(vq->used_hva + 2);
}

/* ---- chain walk ---- */

static uint16_t avail_idx(const struct virtqueue *vq)
{
	return gm_load16(vq->avail_hva + 2);
}

bool vq_has_avail(struct virtqueue *vq)
{
	if (!vq->ready)
		return false;
	return avail_idx(vq) != vq->last_avail_idx;
}

static void avail_event_store(struct virtqueue *vq, uint16_t val)
{
	gm_store16(vq->used_hva + 4 + 8u * vq->size, val);
}

/* The device's rules for one chain; `why` gets a static description on failure. */
static int walk_chain(struct virtqueue *vq, uint16_t head, struct vq_chain *ch, char *why,
		      size_t whylen)
{
	const uint8_t *table = vq->desc_hva;
	uint32_t table_n = vq->size;
	uint32_t ttl = vq->size;
	uint32_t idx = head;
	bool in_indirect = false;
	bool seen_write = false;
	uint64_t total = 0;

	ch->head = head;
	ch->nr_out = ch->nr_in = 0;
	ch->out_len = ch->in_len = 0;
	for (;;) {
		const uint8_t *d = table + (size_t)DESC_SIZE * idx;
		/* Each field read exactly once. */
		uint64_t addr = gm_load64(d);
		uint32_t len = gm_load32(d + 8);
		uint16_t flags = gm_load16(d + 12);
		uint16_t next = gm_load16(d + 14);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect) {
				snprintf(why, whylen, "indirect descriptor 0x%x not negotiated", idx);
				return -EINVAL;
			}
			if (in_indirect) {
				snprintf(why, whylen, "nested indirect descriptor 0x%x", idx);
				return -EINVAL;
			}
			if (flags & VRING_DESC_F_NEXT) {
				snprintf(why, whylen, "indirect descriptor 0x%x has NEXT", idx);
				return -EINVAL;
			}
			if (len == 0 || len % DESC_SIZE) {
				snprintf(why, whylen, "indirect descriptor 0x%x length %u", idx, len);
				return -EINVAL;
			}
			const uint8_t *t = gm_ptr(vq->mem, addr, len);
			if (!t) {
				snprintf(why, whylen, "indirect table 0x%llx+0x%x out of guest RAM",
					 (unsigned long long)addr, len);
				return -EINVAL;
			}
			table = t;
			table_n = len / DESC_SIZE;
			in_indirect = true;
			idx = 0;
			continue;
		}
		if (ttl == 0) {
			snprintf(why, whylen, "descriptor chain at head 0x%x longer than %u (loop?)",
				 head, vq->size);
			return -ELOOP;
		}
		ttl--;
		bool w = flags & VRING_DESC_F_WRITE;
		if (w)
			seen_write = true;
		else if (seen_write) {
			snprintf(why, whylen, "readable descriptor 0x%x after a writable one", idx);
			return -EINVAL;
		}
		total += len;
		if (total > UINT32_MAX) {
			snprintf(why, whylen, "descriptor chain at head 0x%x longer than 4 GiB",
				 head);
			return -EOVERFLOW;
		}
		if (len) {
			void *p = w ? gm_ptr_w(vq->mem, addr, len) : gm_ptr(vq->mem, addr, len);
			if (!p) {
				snprintf(why, whylen, "descriptor 0x%x (0x%llx+0x%x) out of %sguest RAM",
					 idx, (unsigned long long)addr, len, w ? "writable " : "");
				return -EFAULT;
			}
			uint32_t n = ch->nr_out + ch->nr_in;
			if (n >= ch->cap) {
				snprintf(why, whylen, "descriptor chain at head 0x%x has more than %u segments",
					 head, ch->cap);
				return -E2BIG;
			}
			ch->iov[n].iov_base = p;
			ch->iov[n].iov_len = len;
			if (w) {
				ch->nr_in++;
				ch->in_len += len;
			} else {
				ch->nr_out++;
				ch->out_len += len;
			}
		}
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		if (next >= table_n) {
			snprintf(why, whylen, "descriptor 0x%x: next 0x%x beyond %u", idx, next,
				 table_n);
			return -EINVAL;
		}
		idx = next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *chain)
{
	char why[160];

	if (!vq->ready)
		return 0;
	uint16_t aidx = avail_idx(vq);
	uint16_t delta = (uint16_t)(aidx - vq->last_avail_idx);
	if (delta == 0)
		return 0;
	if (delta > vq->size) {
		virtio_dev_fail(vq->dev, "queue %u: avail index jumped by %u (size %u)", vq->index,
				delta, vq->size);
		return -EIO;
	}
	/* Read the ring entry only after seeing the index that publishes it. */
	gm_rmb();
	uint16_t slot = vq->last_avail_idx & (uint16_t)(vq->size - 1);
	uint16_t head = gm_load16(vq->avail_hva + 4 + 2u * slot);
	if (head >= vq->size) {
		virtio_dev_fail(vq->dev, "queue %u: head descriptor 0x%x beyond size %u", vq->index,
				head, vq->size);
		return -EIO;
	}
	if (walk_chain(vq, head, chain, why, sizeof(why)) < 0) {
		virtio_dev_fail(vq->dev, "queue %u: %s", vq->index, why);
		return -EIO;
	}
	vq->last_avail_idx++;
	vq->popped++;
	if (vq->event_idx && !vq->no_notify) {
		avail_event_store(vq, vq->last_avail_idx);
		/* Publish avail_event before the next read of avail->idx (lost-kick race). */
		gm_mb();
	}
	return 1;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	if (!vq->ready)
		return;
	uint16_t slot = vq->used_idx & (uint16_t)(vq->size - 1);
	uint8_t *e = vq->used_hva + 4 + 8u * slot;
	gm_store32(e, head);
	gm_store32(e + 4, written);
	/* The element must be visible before the index that publishes it. */
	gm_wmb();
	vq->used_idx++;
	gm_store16(vq->used_hva + 2, vq->used_idx);
}

bool vq_should_notify(struct virtqueue *vq)
{
	if (!vq->ready)
		return false;
	/* Our used->idx store must be ordered before reading the driver's suppression fields. */
	gm_mb();
	uint16_t old = vq->signalled_used;
	uint16_t new_idx = vq->used_idx;
	bool valid = vq->signalled_used_valid;
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;
	if (valid && old == new_idx)
		return false;
	if (!vq->event_idx)
		return !(gm_load16(vq->avail_hva) & VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	uint16_t used_event = gm_load16(vq->avail_hva + 4 + 2u * vq->size);
	return (uint16_t)(new_idx - used_event - 1) < (uint16_t)(new_idx - old);
}

void vq_set_notification(struct virtqueue *vq, bool enable)
{
	vq->no_notify = !enable;
	if (!vq->ready)
		return;
	if (vq->event_idx) {
		if (enable)
			avail_event_store(vq, vq->last_avail_idx);
	} else {
		uint16_t f = enable ? 0 : VRING_USED_F_NO_NOTIFY;
		gm_store16(vq->used_hva, f);
	}
	gm_mb();
}

/* ---- cursors ---- */

void vq_reader_init(struct vq_cursor *c, const struct vq_chain *chain)
{
	c->iov = chain->iov;
	c->nr = chain->nr_out;
	c->idx = 0;
	c->off = 0;
	c->remaining = chain->out_len;
}

void vq_writer_init(struct vq_cursor *c, const struct vq_chain *chain)
{
	c->iov = chain->iov + chain->nr_out;
	c->nr = chain->nr_in;
	c->idx = 0;
	c->off = 0;
	c->remaining = chain->in_len;
}

static void cursor_advance(struct vq_cursor *c, size_t len)
{
	c->remaining -= (uint32_t)len;
	while (len) {
		size_t left = c->iov[c->idx].iov_len - c->off;
		if (len < left) {
			c->off += len;
			return;
		}
		len -= left;
		c->idx++;
		c->off = 0;
	}
}

static int cursor_copy(struct vq_cursor *c, void *buf, size_t len, bool to_chain)
{
	if (len > c->remaining)
		return -EMSGSIZE;
	uint8_t *b = buf;
	size_t done = 0;
	uint32_t idx = c->idx;
	size_t off = c->off;
	while (done < len) {
		size_t n = MIN(len - done, c->iov[idx].iov_len - off);
		uint8_t *g = (uint8_t *)c->iov[idx].iov_base + off;
		if (to_chain)
			memcpy(g, b + done, n);
		else
			memcpy(b + done, g, n);
		done += n;
		idx++;
		off = 0;
	}
	cursor_advance(c, len);
	return 0;
}

int vq_cursor_read(struct vq_cursor *c, void *dst, size_t len)
{
	return cursor_copy(c, dst, len, false);
}

int vq_cursor_write(struct vq_cursor *c, const void *src, size_t len)
{
	return cursor_copy(c, (void *)(uintptr_t)src, len, true);
}

int vq_cursor_skip(struct vq_cursor *c, size_t len)
{
	if (len > c->remaining)
		return -EMSGSIZE;
	cursor_advance(c, len);
	return 0;
}

/* Describe up to len bytes from the cursor in at most cap entries without advancing.
 * Returns the bytes covered. */
static size_t cursor_peek(const struct vq_cursor *c, size_t len, struct iovec *out, uint32_t cap,
			  uint32_t *nr)
{
	size_t done = 0;
	uint32_t n = 0, idx = c->idx;
	size_t off = c->off;
	if (len > c->remaining)
		len = c->remaining;
	while (done < len && n < cap && idx < c->nr) {
		size_t k = MIN(len - done, c->iov[idx].iov_len - off);
		out[n].iov_base = (uint8_t *)c->iov[idx].iov_base + off;
		out[n].iov_len = k;
		n++;
		done += k;
		idx++;
		off = 0;
	}
	*nr = n;
	return done;
}

int vq_cursor_iov(struct vq_cursor *c, size_t len, struct iovec *out, uint32_t cap,
		  uint32_t *nr_out)
{
	if (len > c->remaining)
		return -EMSGSIZE;
	uint32_t n;
	size_t got = cursor_peek(c, len, out, cap, &n);
	if (got < len)
		return -E2BIG;
	cursor_advance(c, len);
	*nr_out = n;
	return 0;
}

static ssize_t cursor_fd_io(struct vq_cursor *c, int fd, off_t off, size_t len, bool to_fd)
{
	struct iovec iov[64];
	size_t done = 0;

	if (len > c->remaining)
		return -EMSGSIZE;
	while (done < len) {
		uint32_t n;
		size_t want = cursor_peek(c, len - done, iov, ARRAY_SIZE(iov), &n);
		ssize_t r = to_fd ? pwritev(fd, iov, (int)n, off + (off_t)done)
				  : preadv(fd, iov, (int)n, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		if (r == 0) {
			if (to_fd)
				return done ? (ssize_t)done : -EIO;
			break; /* EOF */
		}
		if ((size_t)r > want)
			return -EIO;
		cursor_advance(c, (size_t)r);
		done += (size_t)r;
	}
	return (ssize_t)done;
}

ssize_t vq_reader_to_fd(struct vq_cursor *c, int fd, off_t off, size_t len)
{
	return cursor_fd_io(c, fd, off, len, true);
}

ssize_t vq_writer_from_fd(struct vq_cursor *c, int fd, off_t off, size_t len)
{
	return cursor_fd_io(c, fd, off, len, false);
}
