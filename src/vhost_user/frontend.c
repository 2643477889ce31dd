/* SPDX-License-Identifier: MIT */
/* vhost-user-blk front-end device (see frontend.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "vhost_user/frontend.h"
#include "vhost_user/protocol.h"

/* VirtIO 1.1 virtio-blk config up to write_zeroes_may_unmap + padding (no secure-erase or
 * zoned fields: those features are not passed on). */
#define VUBLK_CONFIG_LEN (offsetof(struct virtio_blk_config, unused1) + 3)
#define VUBLK_TIMEOUT_S 5

/* Feature bits the front-end passes on from the back-end: device-specific bits the guest may
 * use without extra config (no SECURE_ERASE, no ZONED), and what the virtio core and
 * virtio-pci transport implement. */
#define VUBLK_DEVICE_BITS (((1ULL << 24) - 1) & ~((1ULL << 16) | (1ULL << 17)))
#define VUBLK_CORE_BITS                                                                            \
	((1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |               \
	 (1ULL << VIRTIO_F_VERSION_1))

struct vublk;

struct vublk_queue {
	struct vublk *vb;
	uint16_t index;
	int kick_fd;
	int call_fd;
	struct ev_handler *call_h;
	bool started;
};

struct vublk {
	struct virtio_dev vdev; /* first */
	int sock;
	char path[108];
	uint64_t backend_features;
	uint64_t protocol_features;
	uint8_t config[VUBLK_CONFIG_LEN];
	struct ev_loop *loop;
	struct vublk_queue q[VU_MAX_QUEUES];
};

/* One request; with reply != NULL wait for the reply of the same request. With ack, ask for
 * a REPLY_ACK (when negotiated) and wait for it. Returns 0 or -errno. */
static int vu_call(struct vublk *vb, uint32_t req, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds, struct vu_msg *reply, bool ack)
{
	struct vu_msg m;
	struct vu_msg ackmsg;
	int rfds[VU_MAX_FDS];
	unsigned rn = 0;

	if (vb->sock < 0)
		return -ENOTCONN;
	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = size;
	if (size)
		memcpy(&m.p, payload, size);
	ack = ack && !reply && (vb->protocol_features & (1ULL << VU_PROTOCOL_F_REPLY_ACK));
	if (ack)
		m.hdr.flags |= VU_FLAG_NEED_REPLY;
	int r = vu_msg_send(vb->sock, &m, fds, nfds);
	if (r < 0)
		return r;
	if (!reply && !ack)
		return 0;
	struct vu_msg *out = reply ? reply : &ackmsg;
	memset(out, 0, sizeof(*out));
	r = vu_msg_recv(vb->sock, out, rfds, &rn);
	for (unsigned i = 0; i < (r > 0 ? rn : 0); i++)
		close(rfds[i]);
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return r == -EAGAIN ? -ETIMEDOUT : r;
	if (out->hdr.request != req || !(out->hdr.flags & VU_FLAG_REPLY))
		return -EPROTO;
	if (ack) {
		if (out->hdr.size != 8)
			return -EPROTO;
		return out->p.u64 ? -EIO : 0;
	}
	return 0;
}

static int vu_get_u64(struct vublk *vb, uint32_t req, uint64_t *v)
{
	struct vu_msg r;
	int e = vu_call(vb, req, NULL, 0, NULL, 0, &r, false);
	if (e < 0)
		return e;
	if (r.hdr.size != 8)
		return -EPROTO;
	*v = r.p.u64;
	return 0;
}

static int vu_set_u64(struct vublk *vb, uint32_t req, uint64_t v, bool ack)
{
	return vu_call(vb, req, &v, 8, NULL, 0, NULL, ack);
}

static int vu_set_state(struct vublk *vb, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_vring_state st = {index, num};
	return vu_call(vb, req, &st, sizeof(st), NULL, 0, NULL, false);
}

/* ---- rings ---- */

static void call_cb(void *opaque, uint32_t events)
{
	struct vublk_queue *q = opaque;
	struct virtio_dev *dev = &q->vb->vdev;
	uint64_t v;

	if (read(q->call_fd, &v, sizeof(v)) < 0 || !q->started)
		return;
	/* The back-end already applied the driver's notification suppression. */
	virtio_dev_lock(dev);
	__atomic_or_fetch(&dev->isr, 1, __ATOMIC_SEQ_CST);
	if (dev->irq && dev->irq->notify_queue)
		dev->irq->notify_queue(dev->irq_opaque, q->index);
	virtio_dev_unlock(dev);
}

/* The kick/call eventfds live as long as the device (the call fd stays on the loop: handlers
 * are only added or removed where the loop allows it, see vublk_activate/vublk_destroy). */
static void queue_release(struct vublk *vb, struct vublk_queue *q)
{
	uint64_t v;
	q->started = false;
	if (read(q->kick_fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
}

/* Stop ring q on the back-end; returns its last_avail_idx or -errno. */
static int queue_stop_backend(struct vublk *vb, struct vublk_queue *q)
{
	struct vu_msg r;
	struct vu_vring_state st = {q->index, 0};
	int e = vu_call(vb, VU_GET_VRING_BASE, &st, sizeof(st), NULL, 0, &r, false);
	queue_release(vb, q);
	if (e < 0)
		return e;
	if (r.hdr.size != sizeof(st))
		return -EPROTO;
	return (int)(r.p.state.num & 0xffff);
}

static int queue_start(struct vublk *vb, struct vublk_queue *q)
{
	struct virtqueue *vq = &vb->vdev.queues[q->index];
	int r;

	r = vu_set_state(vb, VU_SET_VRING_NUM, q->index, vq->size);
	if (r == 0)
		r = vu_set_state(vb, VU_SET_VRING_BASE, q->index, vq->last_avail_idx);
	if (r == 0) {
		struct vu_vring_addr a = {q->index,
					  0,
					  (uint64_t)(uintptr_t)vq->desc_hva,
					  (uint64_t)(uintptr_t)vq->used_hva,
					  (uint64_t)(uintptr_t)vq->avail_hva,
					  0};
		r = vu_call(vb, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL, false);
	}
	if (r == 0) {
		uint64_t idx = q->index;
		r = vu_call(vb, VU_SET_VRING_CALL, &idx, 8, &q->call_fd, 1, NULL, false);
		if (r == 0)
			r = vu_call(vb, VU_SET_VRING_KICK, &idx, 8, &q->kick_fd, 1, NULL, false);
	}
	if (r == 0 && (vb->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES)))
		r = vu_set_state(vb, VU_SET_VRING_ENABLE, q->index, 1);
	if (r < 0)
		goto fail;
	q->started = true;
	return 0;
fail:
	queue_release(vb, q);
	return r;
}

/* ---- virtio_dev ops ---- */

static int send_mem_table(struct vublk *vb, const struct guest_mem *gm)
{
	struct vu_mem_table t;
	int fds[VU_MAX_MEM_REGIONS];
	unsigned n = 0;

	memset(&t, 0, sizeof(t));
	for (unsigned i = 0; gm && i < gm->nr; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (r->readonly || r->fd < 0)
			continue; /* ROM: never a ring or a buffer the back-end writes */
		if (n == VU_MAX_MEM_REGIONS)
			return -E2BIG;
		t.regions[n] =
		    (struct vu_mem_region){r->gpa, r->size, (uint64_t)(uintptr_t)r->hva, r->fd_off};
		fds[n++] = r->fd;
	}
	if (n == 0)
		return -EINVAL; /* guest RAM is not shareable (no memfd) */
	t.nregions = n;
	return vu_call(vb, VU_SET_MEM_TABLE, &t, (uint32_t)(8 + n * sizeof(struct vu_mem_region)),
		       fds, n, NULL, true);
}

static int vublk_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vublk *vb = (struct vublk *)dev;
	uint64_t f = dev->features | (vb->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES));
	int r;

	if (!vb->loop && ctx->loop) {
		/* First activation: from here on the loop watches every queue's call fd. */
		for (uint16_t i = 0; i < dev->nr_queues; i++) {
			r = ev_add(ctx->loop, vb->q[i].call_fd, EPOLLIN, call_cb, &vb->q[i],
				   &vb->q[i].call_h);
			if (r < 0)
				return r;
		}
		vb->loop = ctx->loop;
	}
	r = vu_set_u64(vb, VU_SET_FEATURES, f, true);
	if (r == 0)
		r = send_mem_table(vb, ctx->mem);
	for (uint16_t i = 0; r == 0 && i < dev->nr_queues; i++)
		if (dev->queues[i].ready)
			r = queue_start(vb, &vb->q[i]);
	if (r < 0) {
		log_err("%s: vhost-user back-end %s: activation failed: %s", dev->name, vb->path,
			strerror(-r));
		for (uint16_t i = 0; i < dev->nr_queues; i++)
			if (vb->q[i].started)
				(void)queue_stop_backend(vb, &vb->q[i]);
	}
	return r;
}

static void vublk_reset(struct virtio_dev *dev)
{
	struct vublk *vb = (struct vublk *)dev;
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		if (vb->q[i].started && queue_stop_backend(vb, &vb->q[i]) < 0)
			log_rl(LOG_WARN, "%s: vhost-user back-end %s: stopping queue %u failed",
			       dev->name, vb->path, i);
}

static void vublk_queue_notify(struct virtio_dev *dev, uint16_t qi)
{
	struct vublk *vb = (struct vublk *)dev;
	uint64_t one = 1;
	if (qi < dev->nr_queues && vb->q[qi].started &&
	    write(vb->q[qi].kick_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the back-end is awake anyway */
	}
}

static void vublk_queue_stop(struct virtio_dev *dev, uint16_t qi)
{
	struct vublk *vb = (struct vublk *)dev;
	if (qi >= dev->nr_queues || !vb->q[qi].started)
		return;
	int idx = queue_stop_backend(vb, &vb->q[qi]);
	if (idx >= 0) {
		dev->queues[qi].last_avail_idx = (uint16_t)idx;
		dev->queues[qi].used_idx = (uint16_t)idx;
	}
}

/* vm.pause: stop every ring on the back-end (it finishes what is in flight and tells where
 * it stopped); vm.resume sets them up again from there and kicks, so requests the driver
 * posted meanwhile are seen. */
static void vublk_pause(struct virtio_dev *dev)
{
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		vublk_queue_stop(dev, i);
}

static void vublk_resume(struct virtio_dev *dev)
{
	struct vublk *vb = (struct vublk *)dev;
	for (uint16_t i = 0; i < dev->nr_queues; i++) {
		if (!dev->queues[i].ready || vb->q[i].started)
			continue;
		if (queue_start(vb, &vb->q[i]) < 0) {
			virtio_dev_fail(dev, "vhost-user back-end %s: restarting queue %u failed",
					vb->path, i);
			return;
		}
		vublk_queue_notify(dev, i);
	}
}

static void vublk_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
	struct vublk *vb = (struct vublk *)dev;
	/* Only writeback (CONFIG_WCE) is writable in virtio-blk config. */
	if (off != offsetof(struct virtio_blk_config, wce) || len != 1)
		return;
	memcpy(vb->config + off, data, len);
	struct vu_config c;
	memset(&c, 0, sizeof(c));
	c.offset = off;
	c.size = len;
	memcpy(c.data, data, len);
	if (vu_call(vb, VU_SET_CONFIG, &c, VU_CONFIG_HDR_SIZE + len, NULL, 0, NULL, true) < 0)
		log_rl(LOG_WARN, "%s: vhost-user back-end %s: SET_CONFIG failed", dev->name,
		       vb->path);
}

static void vublk_destroy(struct virtio_dev *dev)
{
	struct vublk *vb = (struct vublk *)dev;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		if (vb->q[i].call_h)
			ev_del(vb->loop, vb->q[i].call_h);
		if (vb->q[i].kick_fd >= 0)
			close(vb->q[i].kick_fd);
		if (vb->q[i].call_fd >= 0)
			close(vb->q[i].call_fd);
	}
	if (vb->sock >= 0)
		close(vb->sock);
	free(vb);
}

static const struct virtio_dev_ops vublk_ops = {
    .activate = vublk_activate,
    .reset = vublk_reset,
    .queue_notify = vublk_queue_notify,
    .queue_stop = vublk_queue_stop,
    .pause = vublk_pause,
    .resume = vublk_resume,
    .write_config = vublk_write_config,
    .destroy = vublk_destroy,
};

/* ---- creation ---- */

static int vublk_connect(const char *path, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {VUBLK_TIMEOUT_S, 0};

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

int vublk_create(const struct disk_config *cfg, const char *name, struct virtio_dev **out,
		 char *err, size_t errlen)
{
	struct vublk *vb = calloc(1, sizeof(*vb));
	uint64_t nq = 1, pf = 0;
	const char *what = "connect";
	int r;

	if (!vb)
		return -ENOMEM;
	snprintf(vb->path, sizeof(vb->path), "%s", cfg->vhost_user);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vb->q[i] = (struct vublk_queue){vb, (uint16_t)i, -1, -1, NULL, false};
	for (unsigned i = 0; i < cfg->queues && i < VU_MAX_QUEUES; i++) {
		vb->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vb->q[i].call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vb->q[i].kick_fd < 0 || vb->q[i].call_fd < 0) {
			r = -errno;
			vb->sock = -1;
			what = "eventfd";
			goto fail;
		}
	}
	r = vublk_connect(cfg->vhost_user, &vb->sock);
	if (r < 0) {
		vb->sock = -1;
		goto fail;
	}
	what = "GET_FEATURES";
	r = vu_get_u64(vb, VU_GET_FEATURES, &vb->backend_features);
	if (r < 0)
		goto fail;
	if (!(vb->backend_features & (1ULL << VIRTIO_F_VERSION_1))) {
		snprintf(err, errlen, "--disk vhost-user=%s: back-end is not a virtio 1.0 device",
			 cfg->vhost_user);
		r = -ENOTSUP;
		goto fail_msg;
	}
	if (vb->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES)) {
		what = "GET_PROTOCOL_FEATURES";
		r = vu_get_u64(vb, VU_GET_PROTOCOL_FEATURES, &pf);
		if (r < 0)
			goto fail;
		vb->protocol_features =
		    pf & ((1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_REPLY_ACK) |
			  (1ULL << VU_PROTOCOL_F_CONFIG));
		what = "SET_PROTOCOL_FEATURES";
		r = vu_set_u64(vb, VU_SET_PROTOCOL_FEATURES, vb->protocol_features, false);
		if (r < 0)
			goto fail;
	}
	if (!(vb->protocol_features & (1ULL << VU_PROTOCOL_F_CONFIG))) {
		snprintf(err, errlen,
			 "--disk vhost-user=%s: back-end lacks the CONFIG protocol feature",
			 cfg->vhost_user);
		r = -ENOTSUP;
		goto fail_msg;
	}
	what = "SET_OWNER";
	r = vu_call(vb, VU_SET_OWNER, NULL, 0, NULL, 0, NULL, false);
	if (r < 0)
		goto fail;
	if (vb->protocol_features & (1ULL << VU_PROTOCOL_F_MQ)) {
		what = "GET_QUEUE_NUM";
		r = vu_get_u64(vb, VU_GET_QUEUE_NUM, &nq);
		if (r < 0)
			goto fail;
	}
	if (cfg->queues > nq || cfg->queues > VU_MAX_QUEUES) {
		snprintf(err, errlen, "--disk vhost-user=%s: %u queues wanted, back-end has %llu",
			 cfg->vhost_user, cfg->queues, (unsigned long long)nq);
		r = -EINVAL;
		goto fail_msg;
	}
	what = "GET_CONFIG";
	struct vu_config c;
	struct vu_msg rep;
	memset(&c, 0, sizeof(c));
	c.size = VUBLK_CONFIG_LEN;
	r = vu_call(vb, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + c.size, NULL, 0, &rep, false);
	if (r == 0 && (rep.hdr.size != VU_CONFIG_HDR_SIZE + VUBLK_CONFIG_LEN ||
		       rep.p.config.size != VUBLK_CONFIG_LEN))
		r = -EPROTO;
	if (r < 0)
		goto fail;
	memcpy(vb->config, rep.p.config.data, VUBLK_CONFIG_LEN);
	uint16_t nq16 = (uint16_t)cfg->queues;
	memcpy(vb->config + offsetof(struct virtio_blk_config, num_queues), &nq16, 2);

	uint64_t feats = vb->backend_features & (VUBLK_DEVICE_BITS | VUBLK_CORE_BITS);
	if (cfg->queues == 1)
		feats &= ~(1ULL << VIRTIO_BLK_F_MQ);
	if (cfg->readonly)
		feats |= 1ULL << VIRTIO_BLK_F_RO; /* the back-end rejects writes if it agrees */
	r = virtio_dev_init(&vb->vdev, &vublk_ops, name, VIRTIO_ID_BLOCK, feats,
			    (uint16_t)cfg->queues, (uint16_t)cfg->queue_size, vb->config,
			    VUBLK_CONFIG_LEN);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
		goto fail_msg;
	}
	/* The core adds what it implements; keep only what the back-end offers too. */
	vb->vdev.device_features &= feats;
	*out = &vb->vdev;
	return 0;
fail:
	snprintf(err, errlen, "--disk vhost-user=%s: %s: %s", cfg->vhost_user, what, strerror(-r));
fail_msg:
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		if (vb->q[i].kick_fd >= 0)
			close(vb->q[i].kick_fd);
		if (vb->q[i].call_fd >= 0)
			close(vb->q[i].call_fd);
	}
	if (vb->sock >= 0)
		close(vb->sock);
	free(vb);
	return r;
}
