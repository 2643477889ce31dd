/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (VirtIO 1.2, 5.2) over a raw image. Each virtqueue has its own disk_queue (one
 * io_uring per queue when available) and a fixed pool of requests. Requests are decoded into
 * typed locals before anything acts on them; malformed framing (no header, no status byte)
 * fails the device, bad requests get IOERR / UNSUPP as the spec says. Every request, discard
 * and write-zeroes included, is asynchronous on the disk queue; a driver reset finishes when
 * the last in-flight request has come back (never waiting on the loop thread).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include "backends/disk.h"
#include "base/log.h"
#include "devices/virtio/blk.h"

#define SECTOR 512u
#define VBLK_SEG_MAX 126u                  /* data segments per request, advertised */
#define VBLK_CHAIN_CAP (VBLK_SEG_MAX + 2)  /* + header + status */
#define VBLK_SIZE_MAX (1u << 20)           /* bytes per segment, advertised */
#define VBLK_DISCARD_MAX_SECTORS (1u << 22) /* 2 GiB per discard segment */
#define VBLK_DISCARD_MAX_SEG 32u
/* Write-zeroes may be written by hand (no FALLOC_FL_ZERO_RANGE): one segment of at most
 * 256 MiB per request bounds that work (Linux sends one segment anyway). */
#define VBLK_WZ_MAX_SECTORS (1u << 19)
#define VBLK_WZ_MAX_SEG 1u
#define VBLK_DISCARD_ALIGN 8u              /* sectors (4 KiB) */
#define VBLK_DEFAULT_QUEUE_SIZE 256u

struct vblk_queue;

/* One decoded discard / write-zeroes segment. */
struct vblk_dwz {
	uint64_t off, len; /* bytes */
	bool unmap;
};

struct vblk_req {
	struct disk_io io;
	struct vblk_queue *q;
	uint16_t head;
	uint8_t *status; /* last writable byte of the chain */
	uint32_t written;
	struct vblk_req *next_free;
	/* discard / write-zeroes: segments run one after the other */
	bool dwz_discard;
	uint8_t dwz_n, dwz_i;
	struct vblk_dwz dwz[VBLK_DISCARD_MAX_SEG];
	struct vq_chain chain;
	struct iovec iov[VBLK_CHAIN_CAP];
	struct iovec data[VBLK_CHAIN_CAP];
};

struct vblk_queue {
	struct vblk *blk;
	uint16_t index;
	struct disk_queue *dq;
	struct vblk_req *reqs;
	struct vblk_req *free;
	bool need_notify;
	bool stalled; /* ran out of requests with buffers still available */
};

struct vblk {
	struct virtio_dev vdev; /* first */
	struct virtio_blk_config cfg;
	struct disk *disk;
	bool readonly;
	bool force_sync;
	bool resetting; /* a driver reset waits for in-flight requests */
	uint64_t capacity; /* sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	struct vblk_queue *qs;
	uint16_t nr_qs;
};

/* A decoded request header. */
struct vblk_hdr {
	uint32_t type;
	uint64_t sector;
};

static struct vblk *to_blk(struct virtio_dev *dev)
{
	return container_of(dev, struct vblk, vdev);
}

/* ---- completion ---- */

static void req_complete(struct vblk_req *req, uint8_t status)
{
	struct vblk_queue *q = req->q;
	struct virtio_dev *dev = &q->blk->vdev;
	*(volatile uint8_t *)req->status = status;
	vq_push(&dev->queues[q->index], req->head, req->written);
	q->need_notify = true;
	req->next_free = q->free;
	q->free = req;
}

static void req_done(struct disk_io *io, int res)
{
	struct vblk_req *req = container_of(io, struct vblk_req, io);
	if (res < 0) {
		log_rl(LOG_WARN, "%s: I/O error at byte %llu: %s", req->q->blk->vdev.name,
		       (unsigned long long)io->off, strerror(-res));
		req->written = 1;
	}
	req_complete(req, res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

/* ---- request handling ---- */

static bool range_ok(const struct vblk *b, uint64_t sector, uint64_t nsect)
{
	return sector <= b->capacity && nsect <= b->capacity - sector;
}

static uint8_t do_rw(struct vblk_req *req, const struct vblk_hdr *h, struct vq_cursor *r,
		     struct vq_cursor *w, uint32_t in_data)
{
	struct vblk *b = req->q->blk;
	bool write = h->type == VIRTIO_BLK_T_OUT;
	struct vq_cursor *c = write ? r : w;
	uint32_t len = write ? vq_cursor_remaining(r) : in_data;
	uint32_t nr;

	if (write && b->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (len % SECTOR || !range_ok(b, h->sector, len / SECTOR))
		return VIRTIO_BLK_S_IOERR;
	if (len == 0)
		return VIRTIO_BLK_S_OK;
	if (vq_cursor_iov(c, len, req->data, VBLK_CHAIN_CAP, &nr) < 0)
		return VIRTIO_BLK_S_IOERR;
	req->io = (struct disk_io){
		.op = write ? DISK_WRITE : DISK_READ,
		.off = h->sector * SECTOR,
		.len = len,
		.iov = req->data,
		.nr_iov = nr,
		.done = req_done,
	};
	req->written = write ? 1 : len + 1;
	return 0xff; /* submitted */
}

static void dwz_done(struct disk_io *io, int res);

/* Submit the next non-empty segment, or complete the request when none is left. */
static void dwz_step(struct vblk_req *req)
{
	while (req->dwz_i < req->dwz_n && req->dwz[req->dwz_i].len == 0)
		req->dwz_i++;
	if (req->dwz_i == req->dwz_n) {
		req_complete(req, VIRTIO_BLK_S_OK);
		return;
	}
	const struct vblk_dwz *seg = &req->dwz[req->dwz_i];
	req->io = (struct disk_io){
		.op = req->dwz_discard ? DISK_DISCARD : DISK_WRITE_ZEROES,
		.off = seg->off,
		.len = seg->len,
		.unmap = seg->unmap,
		.done = dwz_done,
	};
	if (disk_submit(req->q->dq, &req->io) < 0)
		req_complete(req, VIRTIO_BLK_S_IOERR);
}

static void dwz_done(struct disk_io *io, int res)
{
	struct vblk_req *req = container_of(io, struct vblk_req, io);
	struct vblk *b = req->q->blk;
	if (res < 0) {
		if (res != -ECANCELED)
			log_rl(LOG_WARN, "%s: %s at byte %llu: %s", b->vdev.name,
			       req->dwz_discard ? "discard" : "write-zeroes",
			       (unsigned long long)io->off, strerror(-res));
		req_complete(req, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (!b->vdev.queues[req->q->index].ready) {
		/* reset or failed meanwhile: the rest is not wanted any more */
		req_complete(req, VIRTIO_BLK_S_IOERR);
		return;
	}
	req->dwz_i++;
	dwz_step(req);
}

/* Decode and validate every segment before acting on any; 0xff when submitted. */
static uint8_t do_dwz(struct vblk_req *req, const struct vblk_hdr *h, struct vq_cursor *r)
{
	struct vblk *b = req->q->blk;
	bool discard = h->type == VIRTIO_BLK_T_DISCARD;
	struct virtio_blk_discard_write_zeroes raw;
	uint32_t payload = vq_cursor_remaining(r);
	uint32_t nseg = payload / (uint32_t)sizeof(raw);
	uint32_t max_seg = discard ? VBLK_DISCARD_MAX_SEG : VBLK_WZ_MAX_SEG;
	uint32_t max_sectors = discard ? VBLK_DISCARD_MAX_SECTORS : VBLK_WZ_MAX_SECTORS;

	if (b->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (payload == 0 || payload % sizeof(raw) || nseg > max_seg)
		return VIRTIO_BLK_S_IOERR;
	for (uint32_t i = 0; i < nseg; i++) {
		if (vq_read_obj(r, &raw) < 0)
			return VIRTIO_BLK_S_IOERR;
		uint64_t sector = le64toh(raw.sector);
		uint32_t n = le32toh(raw.num_sectors);
		uint32_t flags = le32toh(raw.flags);
		if (flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			return VIRTIO_BLK_S_UNSUPP;
		if (discard && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			return VIRTIO_BLK_S_UNSUPP;
		if (n > max_sectors || !range_ok(b, sector, n))
			return VIRTIO_BLK_S_IOERR;
		req->dwz[i] = (struct vblk_dwz){sector * SECTOR, (uint64_t)n * SECTOR,
						flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP};
	}
	req->dwz_discard = discard;
	req->dwz_n = (uint8_t)nseg;
	req->dwz_i = 0;
	return 0xff;
}

/* Returns false when the guest broke the framing (device failed). */
static bool handle_req(struct vblk_queue *q, struct vblk_req *req)
{
	struct vblk *b = q->blk;
	struct vq_chain *ch = &req->chain;
	struct virtio_blk_outhdr raw;
	struct vq_cursor r, w;

	vq_reader_init(&r, ch);
	vq_writer_init(&w, ch);
	if (vq_read_obj(&r, &raw) < 0) {
		virtio_dev_fail(&b->vdev, "queue %u: request 0x%x: header shorter than %zu bytes",
				q->index, ch->head, sizeof(raw));
		return false;
	}
	if (ch->in_len < 1) {
		virtio_dev_fail(&b->vdev, "queue %u: request 0x%x: no status byte", q->index,
				ch->head);
		return false;
	}
	const struct vblk_hdr h = {.type = le32toh(raw.type), .sector = le64toh(raw.sector)};
	const struct iovec *last = &ch->iov[ch->nr_out + ch->nr_in - 1];
	uint32_t in_data = ch->in_len - 1;
	uint8_t st;

	req->head = ch->head;
	req->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	req->written = 1;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		st = do_rw(req, &h, &r, &w, in_data);
		if (st == 0xff) {
			if (disk_submit(q->dq, &req->io) < 0)
				req_complete(req, VIRTIO_BLK_S_IOERR);
			return true;
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		req->io = (struct disk_io){.op = DISK_FLUSH, .done = req_done};
		if (disk_submit(q->dq, &req->io) < 0)
			req_complete(req, VIRTIO_BLK_S_IOERR);
		return true;
	case VIRTIO_BLK_T_GET_ID: {
		uint32_t n = MIN(in_data, (uint32_t)VIRTIO_BLK_ID_BYTES);
		if (vq_cursor_write(&w, b->serial, n) < 0) {
			st = VIRTIO_BLK_S_IOERR;
			break;
		}
		req->written = n + 1;
		st = VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = do_dwz(req, &h, &r);
		if (st == 0xff) {
			dwz_step(req);
			return true;
		}
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	req_complete(req, st);
	return true;
}

static void process_queue(struct vblk_queue *q)
{
	struct virtio_dev *dev = &q->blk->vdev;
	struct virtqueue *vq = &dev->queues[q->index];

	q->stalled = false;
	for (;;) {
		struct vblk_req *req = q->free;
		if (!req) {
			q->stalled = vq_has_avail(vq);
			break;
		}
		req->chain.iov = req->iov;
		req->chain.cap = VBLK_CHAIN_CAP;
		int r = vq_pop(vq, &req->chain);
		if (r <= 0)
			break;
		q->free = req->next_free;
		if (!handle_req(q, req)) {
			req->next_free = q->free;
			q->free = req;
			break;
		}
	}
	disk_queue_flush(q->dq);
	/* Buffered I/O often completes during submission: finish it now. */
	disk_queue_reap(q->dq);
	if (q->need_notify) {
		q->need_notify = false;
		virtio_notify_queue(dev, q->index);
	}
}

static bool all_idle(const struct vblk *b)
{
	for (uint16_t i = 0; i < b->nr_qs; i++)
		if (disk_queue_inflight(b->qs[i].dq))
			return false;
	return true;
}

/* Every request is back in its pool: forget what the old driver left behind. */
static void reset_finish(struct vblk *b)
{
	b->resetting = false;
	for (uint16_t i = 0; i < b->nr_qs; i++) {
		b->qs[i].need_notify = false;
		b->qs[i].stalled = false;
		disk_queue_abort(b->qs[i].dq, false);
	}
}

static void dq_ready(void *opaque)
{
	struct vblk_queue *q = opaque;
	struct vblk *b = q->blk;
	struct virtio_dev *dev = &b->vdev;

	virtio_dev_lock(dev);
	if (q->dq) {
		disk_queue_reap(q->dq);
		if (b->resetting) {
			if (all_idle(b)) {
				reset_finish(b);
				virtio_dev_reset_done(dev);
			}
		} else {
			if (q->stalled && virtio_dev_live(dev))
				process_queue(q);
			if (q->need_notify) {
				q->need_notify = false;
				virtio_notify_queue(dev, q->index);
			}
		}
	}
	virtio_dev_unlock(dev);
}

/* ---- virtio ops ---- */

static void queues_free(struct vblk *b)
{
	if (!b->qs)
		return;
	for (uint16_t i = 0; i < b->nr_qs; i++) {
		disk_queue_destroy(b->qs[i].dq);
		free(b->qs[i].reqs);
	}
	free(b->qs);
	b->qs = NULL;
}

/* Queues, request pools and disk queues (with their loop handlers) are created at the first
 * activation (on the loop thread) and live until the device is destroyed: a reset only waits
 * for their requests to come back. */
static int vblk_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vblk *b = to_blk(dev);

	if (b->qs)
		return 0;
	b->qs = calloc(ctx->nr_queues, sizeof(*b->qs));
	if (!b->qs)
		return -ENOMEM;
	b->nr_qs = ctx->nr_queues;
	for (uint16_t i = 0; i < ctx->nr_queues; i++) {
		struct vblk_queue *q = &b->qs[i];
		unsigned n = ctx->queues[i].max_size;
		q->blk = b;
		q->index = i;
		q->reqs = calloc(n, sizeof(*q->reqs));
		if (!q->reqs) {
			queues_free(b);
			return -ENOMEM;
		}
		for (unsigned k = 0; k < n; k++) {
			q->reqs[k].q = q;
			q->reqs[k].next_free = q->free;
			q->free = &q->reqs[k];
		}
		int r = disk_queue_create(b->disk, ctx->loop, n, b->force_sync, dq_ready, q, &q->dq);
		if (r < 0) {
			queues_free(b);
			return r;
		}
	}
	return 0;
}

/* The queues are stopped: completions no longer reach the used rings. Multi-step requests
 * (discard / write-zeroes) end at their next step. */
static int vblk_reset(struct virtio_dev *dev, bool wait)
{
	struct vblk *b = to_blk(dev);
	if (!b->qs)
		return 0;
	for (uint16_t i = 0; i < b->nr_qs; i++) {
		disk_queue_abort(b->qs[i].dq, true);
		if (wait)
			disk_queue_drain(b->qs[i].dq); /* every request returns to its pool */
	}
	if (!all_idle(b)) {
		b->resetting = true; /* dq_ready finishes it */
		return -EINPROGRESS;
	}
	reset_finish(b);
	return 0;
}

static void vblk_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vblk *b = to_blk(dev);
	if (b->qs)
		process_queue(&b->qs[q]);
}

static void vblk_queue_stop(struct virtio_dev *dev, uint16_t q)
{
	struct vblk *b = to_blk(dev);
	if (b->qs && b->qs[q].dq) {
		disk_queue_drain(b->qs[q].dq);
		if (b->qs[q].need_notify) {
			b->qs[q].need_notify = false;
			virtio_notify_queue(dev, q);
		}
	}
}

static void vblk_destroy(struct virtio_dev *dev)
{
	struct vblk *b = to_blk(dev);
	queues_free(b);
	disk_close(b->disk);
	free(b);
}

static const struct virtio_dev_ops vblk_ops = {
	.activate = vblk_activate,
	.reset = vblk_reset,
	.queue_notify = vblk_queue_notify,
	.queue_stop = vblk_queue_stop,
	.destroy = vblk_destroy,
};

int vblk_create(const struct disk_config *cfg, const char *name, struct virtio_dev **out,
		char *err, size_t errlen)
{
	unsigned nq = cfg->queues ? cfg->queues : 1;
	unsigned qs = cfg->queue_size ? cfg->queue_size : VBLK_DEFAULT_QUEUE_SIZE;
	struct disk *disk;
	int r;

	if (!cfg->path) {
		snprintf(err, errlen, "%s: no image path", name);
		return -EINVAL;
	}
	if (nq > 16 || !IS_POW2(qs) || qs > 1024 || qs < 2) {
		snprintf(err, errlen, "disk %s: bad queues/queue_size", cfg->path);
		return -EINVAL;
	}
	r = disk_open(cfg->path, cfg->readonly, cfg->direct, &disk, err, errlen);
	if (r < 0)
		return r;
	struct vblk *b = calloc(1, sizeof(*b));
	if (!b) {
		disk_close(disk);
		snprintf(err, errlen, "disk %s: out of memory", cfg->path);
		return -ENOMEM;
	}
	b->disk = disk;
	b->readonly = cfg->readonly;
	b->capacity = disk->size / SECTOR; /* a partial last sector is not exposed */
	memcpy(b->serial, cfg->serial, strnlen(cfg->serial, sizeof(b->serial)));

	uint64_t f = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH);
	if (nq > 1)
		f |= 1ULL << VIRTIO_BLK_F_MQ;
	if (cfg->readonly)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else
		f |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	struct virtio_blk_config *c = &b->cfg;
	c->capacity = htole64(b->capacity);
	c->size_max = htole32(VBLK_SIZE_MAX);
	c->seg_max = htole32(VBLK_SEG_MAX);
	c->blk_size = htole32(SECTOR);
	c->num_queues = htole16((uint16_t)nq);
	c->max_discard_sectors = htole32(VBLK_DISCARD_MAX_SECTORS);
	c->max_discard_seg = htole32(VBLK_DISCARD_MAX_SEG);
	c->discard_sector_alignment = htole32(VBLK_DISCARD_ALIGN);
	c->max_write_zeroes_sectors = htole32(VBLK_WZ_MAX_SECTORS);
	c->max_write_zeroes_seg = htole32(VBLK_WZ_MAX_SEG);
	c->write_zeroes_may_unmap = 1;
	r = virtio_dev_init(&b->vdev, &vblk_ops, name, VIRTIO_ID_BLOCK, f, (uint16_t)nq,
			    (uint16_t)qs, c, sizeof(*c));
	if (r < 0) {
		disk_close(disk);
		free(b);
		snprintf(err, errlen, "disk %s: %s", cfg->path, strerror(-r));
		return r;
	}
	*out = &b->vdev;
	return 0;
}

void vblk_force_sync(struct virtio_dev *dev, bool on)
{
	to_blk(dev)->force_sync = on;
}

bool vblk_uses_io_uring(struct virtio_dev *dev)
{
	struct vblk *b = to_blk(dev);
	virtio_dev_lock(dev);
	bool r = b->qs != NULL;
	for (uint16_t i = 0; r && i < b->nr_qs; i++)
		r = disk_queue_is_async(b->qs[i].dq);
	virtio_dev_unlock(dev);
	return r;
}
