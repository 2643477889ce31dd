/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk front-end device (see frontend.h).
 *
 * The connection is vhost_user/client.c's, shared with the net front-end: non-blocking; at
 * creation (before the VM runs) the handshake waits for each reply; once the VM runs,
 * activation (SET_FEATURES, SET_MEM_TABLE, the rings) and a driver reset (GET_VRING_BASE per
 * ring) are sent from the loop thread without waiting, and the replies are consumed as they
 * arrive, so nothing holds up a vCPU or the loop. A back-end that does not answer within
 * VU_CLIENT_TIMEOUT_S, closes the socket or breaks the protocol is dropped: the device fails
 * (NEEDS_RESET) and stays failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "vhost_user/client.h"
#include "vhost_user/frontend.h"
#include "vhost_user/protocol.h"

/* VirtIO 1.1 virtio-blk config up to write_zeroes_may_unmap + padding (no secure-erase or
 * zoned fields: those features are not passed on). */
#define VUBLK_CONFIG_LEN (offsetof(struct virtio_blk_config, unused1) + 3)

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
	bool started;  /* the ring was handed to the back-end */
	bool stopping; /* GET_VRING_BASE sent, reply not in yet */
	uint16_t base; /* last_avail_idx from the GET_VRING_BASE reply */
};

struct vublk {
	struct virtio_dev vdev; /* first */
	struct vu_client c;
	bool created; /* vdev is initialised: failures go to the log and the device */
	uint8_t config[VUBLK_CONFIG_LEN];
	struct ev_loop *loop;
	bool stop_async; /* a driver reset waits for the rings to stop */
	struct ev_work config_work;
	bool config_dirty;
	struct vublk_queue q[VU_MAX_QUEUES];
};

/* ---- the connection (vhost_user/client.c) ---- */

static bool any_stopping(const struct vublk *vb)
{
	for (uint16_t i = 0; i < vb->vdev.nr_queues; i++)
		if (vb->q[i].stopping)
			return true;
	return false;
}

/* A ring stopped (or the back-end went away): a driver reset waiting for that is done. */
static void stop_done(struct vublk *vb)
{
	if (vb->stop_async && !any_stopping(vb)) {
		vb->stop_async = false;
		virtio_dev_reset_done(&vb->vdev);
	}
}

static void on_ring_stopped(void *opaque, uint16_t queue, uint16_t base)
{
	struct vublk *vb = opaque;
	if (queue < VU_MAX_QUEUES) {
		vb->q[queue].base = base;
		vb->q[queue].stopping = false;
	}
	stop_done(vb);
}

static void on_refused(void *opaque, uint32_t request)
{
	struct vublk *vb = opaque;
	virtio_dev_fail(&vb->vdev, "vhost-user back-end %s refused %s", vb->c.path,
			vu_request_name(request));
}

/* The socket is closed (a back-end stops using guest memory when its front-end goes away);
 * the device fails for good. */
static void on_broken(void *opaque, const char *why)
{
	struct vublk *vb = opaque;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vb->q[i].started = vb->q[i].stopping = false;
	if (!vb->created)
		return; /* vublk_create reports it */
	virtio_dev_fail(&vb->vdev, "vhost-user back-end %s: %s; disconnected", vb->c.path, why);
	stop_done(vb);
}

static const struct vu_client_ops vublk_client_ops = {
    .ring_stopped = on_ring_stopped,
    .refused = on_refused,
    .broken = on_broken,
};

/* ---- rings ---- */

static void call_cb(void *opaque, uint32_t events)
{
	struct vublk_queue *q = opaque;
	struct virtio_dev *dev = &q->vb->vdev;
	uint64_t v;
	(void)events;

	if (read(q->call_fd, &v, sizeof(v)) < 0)
		return;
	virtio_dev_lock(dev);
	/* The back-end already applied the driver's notification suppression. */
	if (q->started && !dev->resetting) {
		__atomic_or_fetch(&dev->isr, 1, __ATOMIC_SEQ_CST);
		if (dev->irq && dev->irq->notify_queue)
			dev->irq->notify_queue(dev->irq_opaque, q->index);
	}
	virtio_dev_unlock(dev);
}

static void queue_stop_send(struct vublk *vb, struct vublk_queue *q)
{
	uint64_t v;

	if (!q->started || q->stopping)
		return;
	q->started = false;
	if (vb->c.broken)
		return;
	q->stopping = true;
	if (read(q->kick_fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
	vu_client_ring_stop(&vb->c, q->index);
}

/* Hand ring q to the back-end. Nothing waits: the kick fd is ours, so kicks written before
 * the back-end has read SET_VRING_KICK are counted there and seen when it starts the ring. */
static void queue_start(struct vublk *vb, struct vublk_queue *q)
{
	vu_client_ring_start(&vb->c, &vb->vdev.queues[q->index], q->kick_fd, q->call_fd, true);
	q->started = !vb->c.broken;
}

/* ---- virtio_dev ops ---- */

/* Runs on the loop thread (the core defers DRIVER_OK there). Sends everything, waits for
 * nothing: acks are checked as they come in. */
static int vublk_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vublk *vb = (struct vublk *)dev;
	int r;

	if (vb->c.broken)
		return -ENOTCONN;
	if (!vb->loop && ctx->loop) {
		/* First activation: from here on the loop reads replies and call fds. */
		r = vu_client_attach_loop(&vb->c, ctx->loop);
		for (uint16_t i = 0; r == 0 && i < dev->nr_queues; i++)
			r = ev_add(ctx->loop, vb->q[i].call_fd, EPOLLIN, call_cb, &vb->q[i],
				   &vb->q[i].call_h);
		vb->loop = ctx->loop;
		if (r < 0)
			return r;
	}
	vu_client_set_features(&vb->c, dev->features);
	r = vu_client_set_mem_table(&vb->c, ctx->mem);
	if (r < 0)
		return r; /* -EINVAL: RAM is not shareable (no memfd); -E2BIG: too many regions */
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		if (dev->queues[i].ready)
			queue_start(vb, &vb->q[i]);
	if (!vb->loop)
		vu_client_wait_all(&vb->c);
	return vb->c.broken ? -EIO : 0;
}

/* The queues are stopped on our side; stop the back-end's rings (GET_VRING_BASE each). */
static int vublk_reset(struct virtio_dev *dev, bool wait)
{
	struct vublk *vb = (struct vublk *)dev;
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		queue_stop_send(vb, &vb->q[i]);
	if (wait || !vb->loop) {
		vb->stop_async = false;
		vu_client_wait_all(&vb->c);
		return 0;
	}
	if (!any_stopping(vb))
		return 0;
	vb->stop_async = true; /* stop_done() finishes it */
	return -EINPROGRESS;
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

/* vhost-user GET_VRING_BASE on this device (not reached from virtio-pci): synchronous. */
static void vublk_queue_stop(struct virtio_dev *dev, uint16_t qi)
{
	struct vublk *vb = (struct vublk *)dev;
	if (qi >= dev->nr_queues || !vb->q[qi].started)
		return;
	queue_stop_send(vb, &vb->q[qi]);
	vu_client_wait_all(&vb->c);
	if (!vb->c.broken) {
		dev->queues[qi].last_avail_idx = vb->q[qi].base;
		dev->queues[qi].used_idx = vb->q[qi].base;
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
		queue_start(vb, &vb->q[i]);
		if (vb->c.broken)
			return; /* on_broken() failed the device */
		vublk_queue_notify(dev, i);
	}
}

static void send_config(struct vublk *vb)
{
	const uint32_t off = offsetof(struct virtio_blk_config, wce);
	struct vu_config c;

	if (!vb->config_dirty)
		return;
	vb->config_dirty = false;
	memset(&c, 0, sizeof(c));
	c.offset = off;
	c.size = 1;
	c.data[0] = vb->config[off];
	vu_client_send(&vb->c, VU_SET_CONFIG, &c, VU_CONFIG_HDR_SIZE + 1, NULL, 0, VU_W_NONE, 0,
		       NULL);
}

static void config_work(void *opaque)
{
	struct vublk *vb = opaque;
	virtio_dev_lock(&vb->vdev);
	send_config(vb);
	virtio_dev_unlock(&vb->vdev);
}

/* From a vCPU: only writeback (CONFIG_WCE) is writable; the loop passes it on. */
static void vublk_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
	struct vublk *vb = (struct vublk *)dev;
	if (off != offsetof(struct virtio_blk_config, wce) || len != 1)
		return;
	memcpy(vb->config + off, data, len);
	vb->config_dirty = true;
	if (dev->loop)
		ev_post(dev->loop, &vb->config_work);
	else
		send_config(vb);
}

static void close_queues(struct vublk *vb)
{
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		if (vb->q[i].call_h)
			ev_del(vb->loop, vb->q[i].call_h);
		if (vb->q[i].kick_fd >= 0)
			close(vb->q[i].kick_fd);
		if (vb->q[i].call_fd >= 0)
			close(vb->q[i].call_fd);
	}
}

static void vublk_destroy(struct virtio_dev *dev)
{
	struct vublk *vb = (struct vublk *)dev;
	ev_cancel(dev->loop, &vb->config_work); /* where vublk_write_config posted it */
	close_queues(vb);
	vu_client_close(&vb->c);
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

/* After vu_client_open: what blk needs of the back-end, and its config. 0, or -errno with the
 * whole reason in err. */
static int handshake(struct vublk *vb, const struct disk_config *cfg, char *err, size_t errlen)
{
	const char *sock = cfg->vhost_user;

	if (cfg->readonly && !(vb->c.features & (1ULL << VIRTIO_BLK_F_RO))) {
		snprintf(err, errlen,
			 "--disk vhost-user=%s,readonly=on: the back-end is writable (it does not "
			 "offer VIRTIO_BLK_F_RO); start it read-only",
			 sock);
		return -EINVAL;
	}
	if (!(vb->c.protocol_features & (1ULL << VU_PROTOCOL_F_CONFIG))) {
		snprintf(err, errlen, "--disk vhost-user=%s: back-end lacks the CONFIG protocol feature",
			 sock);
		return -ENOTSUP;
	}
	if (cfg->queues > vb->c.nr_queues || cfg->queues > VU_MAX_QUEUES) {
		snprintf(err, errlen, "--disk vhost-user=%s: %u queues wanted, back-end has %llu", sock,
			 cfg->queues, (unsigned long long)vb->c.nr_queues);
		return -EINVAL;
	}
	struct vu_config c;
	struct vu_msg rep;
	memset(&c, 0, sizeof(c));
	c.size = VUBLK_CONFIG_LEN;
	vu_client_send(&vb->c, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + c.size, NULL, 0, VU_W_REPLY,
		       0, &rep);
	vu_client_wait_all(&vb->c);
	if (vb->c.broken) {
		snprintf(err, errlen, "--disk vhost-user=%s: GET_CONFIG: %s", sock, vb->c.why);
		return -EIO;
	}
	if (rep.hdr.size != VU_CONFIG_HDR_SIZE + VUBLK_CONFIG_LEN ||
	    rep.p.config.size != VUBLK_CONFIG_LEN) {
		snprintf(err, errlen, "--disk vhost-user=%s: GET_CONFIG: %s", sock,
			 strerror(EPROTO));
		return -EPROTO;
	}
	memcpy(vb->config, rep.p.config.data, VUBLK_CONFIG_LEN);
	return 0;
}

int vublk_create(const struct disk_config *cfg, const char *name, struct virtio_dev **out,
		 char *err, size_t errlen)
{
	struct vublk *vb = calloc(1, sizeof(*vb));
	char why[200];
	int r;

	if (!vb) {
		snprintf(err, errlen, "--disk vhost-user=%s: out of memory", cfg->vhost_user);
		return -ENOMEM;
	}
	ev_work_init(&vb->config_work, config_work, vb);
	vb->c.sock = -1;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vb->q[i] = (struct vublk_queue){
		    .vb = vb, .index = (uint16_t)i, .kick_fd = -1, .call_fd = -1};
	for (unsigned i = 0; i < cfg->queues && i < VU_MAX_QUEUES; i++) {
		vb->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vb->q[i].call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vb->q[i].kick_fd < 0 || vb->q[i].call_fd < 0) {
			r = -errno;
			snprintf(err, errlen, "--disk vhost-user=%s: eventfd: %s", cfg->vhost_user,
				 strerror(-r));
			goto fail;
		}
	}
	r = vu_client_open(&vb->c, cfg->vhost_user,
			   (1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_REPLY_ACK) |
			       (1ULL << VU_PROTOCOL_F_CONFIG),
			   why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "--disk vhost-user=%s: %s", cfg->vhost_user, why);
		goto fail;
	}
	vu_client_set_ops(&vb->c, &vb->vdev, &vublk_client_ops, vb);
	r = handshake(vb, cfg, err, errlen);
	if (r < 0)
		goto fail;
	uint16_t nq16 = (uint16_t)cfg->queues;
	memcpy(vb->config + offsetof(struct virtio_blk_config, num_queues), &nq16, 2);

	uint64_t feats = vb->c.features & (VUBLK_DEVICE_BITS | VUBLK_CORE_BITS);
	if (cfg->queues == 1)
		feats &= ~(1ULL << VIRTIO_BLK_F_MQ);
	r = virtio_dev_init(&vb->vdev, &vublk_ops, name, VIRTIO_ID_BLOCK, feats,
			    (uint16_t)cfg->queues, (uint16_t)cfg->queue_size, vb->config,
			    VUBLK_CONFIG_LEN);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
		goto fail;
	}
	/* The core adds what it implements; keep only what the back-end offers too. */
	vb->vdev.device_features &= feats;
	vb->created = true;
	*out = &vb->vdev;
	return 0;
fail:
	close_queues(vb);
	vu_client_close(&vb->c);
	free(vb);
	return r;
}
