/* SPDX-License-Identifier: MIT */
/* vhost-user-net front-end device (see frontend_net.h). */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/net_ctrl.h"
#include "vhost_user/client.h"
#include "vhost_user/frontend_net.h"

#define VUNET_CTRL_SIZE 64u
#define VUNET_MAX_DATA_QUEUES (2 * NET_MAX_QUEUE_PAIRS)

/* What we pass on from the back-end: data-path offloads and ring features. */
#define VUNET_BACKEND_BITS                                                                         \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |                         \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                   \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |                     \
	 (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_ECN) |                      \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1))

struct vunet;

struct vunet_queue {
	struct vunet *v;
	uint16_t index;
	int kick_fd;
	int call_fd;
	struct ev_handler *call_h;
	bool started;  /* the ring was handed to the back-end */
	bool stopping; /* GET_VRING_BASE sent, reply not in yet */
	uint16_t base; /* last_avail_idx from the GET_VRING_BASE reply */
};

struct vunet {
	struct virtio_dev vdev; /* first */
	struct virtio_net_config cfg;
	struct vu_client c;
	bool created; /* vdev initialised: connection failures go to the device */
	unsigned pairs;
	unsigned curr_pairs;
	uint16_t ctrl_q;
	struct iovec ctrl_iov[VUNET_CTRL_SIZE];
	struct ev_loop *loop;
	bool stop_async; /* a driver reset waits for the rings to stop */
	struct vunet_queue q[VUNET_MAX_DATA_QUEUES];
};

static struct vunet *to_vunet(struct virtio_dev *dev)
{
	return container_of(dev, struct vunet, vdev);
}

/* ---- connection events (loop thread, device lock held) ---- */

static bool any_stopping(const struct vunet *v)
{
	for (unsigned i = 0; i < 2 * v->pairs; i++)
		if (v->q[i].stopping)
			return true;
	return false;
}

/* A ring stopped (or the back-end went away): a driver reset waiting for that is done. */
static void stop_done(struct vunet *v)
{
	if (v->stop_async && !any_stopping(v)) {
		v->stop_async = false;
		virtio_dev_reset_done(&v->vdev);
	}
}

static void on_ring_stopped(void *opaque, uint16_t queue, uint16_t base)
{
	struct vunet *v = opaque;
	if (queue < 2 * v->pairs) {
		v->q[queue].base = base;
		v->q[queue].stopping = false;
	}
	stop_done(v);
}

static void on_refused(void *opaque, uint32_t request)
{
	struct vunet *v = opaque;
	virtio_dev_fail(&v->vdev, "vhost-user back-end %s refused %s", v->c.path,
			vu_request_name(request));
}

static void on_broken(void *opaque, const char *why)
{
	struct vunet *v = opaque;
	for (unsigned i = 0; i < VUNET_MAX_DATA_QUEUES; i++)
		v->q[i].started = v->q[i].stopping = false;
	if (!v->created)
		return; /* vunet_create reports it */
	virtio_dev_fail(&v->vdev, "vhost-user back-end %s: %s; disconnected", v->c.path, why);
	stop_done(v);
}

static const struct vu_client_ops vunet_client_ops = {
    .ring_stopped = on_ring_stopped,
    .refused = on_refused,
    .broken = on_broken,
};

static void call_cb(void *opaque, uint32_t events)
{
	struct vunet_queue *q = opaque;
	struct virtio_dev *dev = &q->v->vdev;
	uint64_t val;
	(void)events;
	if (read(q->call_fd, &val, sizeof(val)) < 0)
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

static void queue_stop_send(struct vunet *v, struct vunet_queue *q)
{
	uint64_t cnt;
	if (!q->started || q->stopping)
		return;
	q->started = false;
	if (v->c.broken)
		return;
	q->stopping = true;
	if (read(q->kick_fd, &cnt, sizeof(cnt)) < 0) {
		/* nothing pending */
	}
	vu_client_ring_stop(&v->c, q->index);
}

/* ---- virtio_dev ops ---- */

/* Runs on the loop thread (the core defers DRIVER_OK there). Sends everything, waits for
 * nothing: acks are checked as they come in. Pairs beyond the first start disabled. */
static int vunet_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vunet *v = to_vunet(dev);
	int r;

	if (v->c.broken)
		return -ENOTCONN;
	if (!v->loop && ctx->loop) {
		r = vu_client_attach_loop(&v->c, ctx->loop);
		for (unsigned i = 0; r == 0 && i < 2 * v->pairs; i++)
			r = ev_add(ctx->loop, v->q[i].call_fd, EPOLLIN, call_cb, &v->q[i],
				   &v->q[i].call_h);
		v->loop = ctx->loop;
		if (r < 0)
			return r;
	}
	v->curr_pairs = 1;
	vu_client_set_features(&v->c, dev->features & v->c.features);
	r = vu_client_set_mem_table(&v->c, ctx->mem);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < 2 * v->pairs; i++) {
		if (!dev->queues[i].ready)
			continue;
		vu_client_ring_start(&v->c, &dev->queues[i], v->q[i].kick_fd, v->q[i].call_fd,
				     i / 2 < v->curr_pairs);
		v->q[i].started = !v->c.broken;
	}
	if (!v->loop)
		vu_client_wait_all(&v->c);
	return v->c.broken ? -EIO : 0;
}

/* The queues are stopped on our side; stop the back-end's rings (GET_VRING_BASE each). */
static int vunet_reset(struct virtio_dev *dev, bool wait)
{
	struct vunet *v = to_vunet(dev);
	v->curr_pairs = 1;
	for (unsigned i = 0; i < 2 * v->pairs; i++)
		queue_stop_send(v, &v->q[i]);
	if (wait || !v->loop) {
		v->stop_async = false;
		vu_client_wait_all(&v->c);
		return 0;
	}
	if (!any_stopping(v))
		return 0;
	v->stop_async = true; /* stop_done() finishes it */
	return -EINPROGRESS;
}

/* Queue pairs go to the back-end as SET_VRING_ENABLE; its acks arrive later (a refusal
 * fails the device). */
static uint8_t vunet_ctrl_apply(struct virtio_dev *dev, const struct vnet_ctrl_cmd *cmd)
{
	struct vunet *v = to_vunet(dev);
	switch (cmd->kind) {
	case VNET_CTRL_MQ_PAIRS:
		if (cmd->u.pairs < 1 || cmd->u.pairs > v->pairs) {
			log_rl(LOG_INFO, "%s: control queue: %u queue pairs refused (1..%u)",
			       dev->name, cmd->u.pairs, v->pairs);
			return VIRTIO_NET_ERR;
		}
		if (v->c.broken)
			return VIRTIO_NET_ERR;
		for (unsigned i = 0; i < 2 * v->pairs; i++)
			if (v->q[i].started && (i / 2 < cmd->u.pairs) != (i / 2 < v->curr_pairs))
				vu_client_ring_enable(&v->c, (uint16_t)i, i / 2 < cmd->u.pairs);
		v->curr_pairs = cmd->u.pairs;
		return VIRTIO_NET_OK;
	case VNET_CTRL_MAC_ADDR:
		memcpy(v->cfg.mac, cmd->u.mac, 6);
		return VIRTIO_NET_OK;
	default: /* GUEST_OFFLOADS is not offered: the back-end owns the offloads */
		return VIRTIO_NET_ERR;
	}
}

static void vunet_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vunet *v = to_vunet(dev);
	uint64_t one = 1;
	if (q == v->ctrl_q) {
		vnet_ctrl_process(dev, q, v->ctrl_iov, VUNET_CTRL_SIZE, vunet_ctrl_apply);
		return;
	}
	if (q < 2 * v->pairs && v->q[q].started && write(v->q[q].kick_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the back-end is awake anyway */
	}
}

/* vhost-user GET_VRING_BASE on this device (not reached from virtio-pci): synchronous. */
static void vunet_queue_stop(struct virtio_dev *dev, uint16_t q)
{
	struct vunet *v = to_vunet(dev);
	if (q >= 2 * v->pairs || !v->q[q].started)
		return;
	queue_stop_send(v, &v->q[q]);
	vu_client_wait_all(&v->c);
	if (!v->c.broken) {
		dev->queues[q].last_avail_idx = v->q[q].base;
		dev->queues[q].used_idx = v->q[q].base;
	}
}

static void vunet_destroy(struct virtio_dev *dev)
{
	struct vunet *v = to_vunet(dev);
	for (unsigned i = 0; i < VUNET_MAX_DATA_QUEUES; i++) {
		if (v->q[i].call_h)
			ev_del(v->loop, v->q[i].call_h);
		if (v->q[i].kick_fd >= 0)
			close(v->q[i].kick_fd);
		if (v->q[i].call_fd >= 0)
			close(v->q[i].call_fd);
	}
	vu_client_close(&v->c);
	free(v);
}

static const struct virtio_dev_ops vunet_ops = {
    .activate = vunet_activate,
    .reset = vunet_reset,
    .queue_notify = vunet_queue_notify,
    .queue_stop = vunet_queue_stop,
    .destroy = vunet_destroy,
};

int vunet_create(const struct net_config *nc, const struct vnet_params *p, const char *name,
		 struct virtio_dev **out, char *err, size_t errlen)
{
	struct vunet *v = calloc(1, sizeof(*v));
	char why[200] = "";
	int r;

	if (!v) {
		snprintf(err, errlen, "--net vhost-user=%s: out of memory", nc->vhost_user);
		return -ENOMEM;
	}
	v->c.sock = -1;
	for (unsigned i = 0; i < VUNET_MAX_DATA_QUEUES; i++)
		v->q[i] = (struct vunet_queue){
		    .v = v, .index = (uint16_t)i, .kick_fd = -1, .call_fd = -1};
	v->pairs = p->pairs;
	v->curr_pairs = 1;
	for (unsigned i = 0; i < 2 * p->pairs; i++) {
		v->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		v->q[i].call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->q[i].kick_fd < 0 || v->q[i].call_fd < 0) {
			r = -errno;
			snprintf(err, errlen, "--net vhost-user=%s: eventfd: %s", nc->vhost_user,
				 strerror(errno));
			goto fail;
		}
	}
	r = vu_client_open(&v->c, nc->vhost_user,
			   (1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_REPLY_ACK), why,
			   sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "--net vhost-user=%s: %s", nc->vhost_user, why);
		goto fail;
	}
	if (v->c.nr_queues < 2 * p->pairs) {
		snprintf(err, errlen,
			 "--net vhost-user=%s: %u queue pairs wanted, the back-end serves %llu "
			 "queues",
			 nc->vhost_user, p->pairs, (unsigned long long)v->c.nr_queues);
		r = -EINVAL;
		goto fail;
	}
	memcpy(v->cfg.mac, p->mac, 6);
	v->cfg.status = htole16(VIRTIO_NET_S_LINK_UP);
	v->cfg.max_virtqueue_pairs = htole16((uint16_t)p->pairs);
	v->cfg.mtu = htole16((uint16_t)p->mtu);
	uint64_t ours = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
			(1ULL << VIRTIO_NET_F_CTRL_VQ) | (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR);
	if (p->pairs > 1)
		ours |= 1ULL << VIRTIO_NET_F_MQ;
	if (p->mtu)
		ours |= 1ULL << VIRTIO_NET_F_MTU;
	uint64_t feats = (v->c.features & VUNET_BACKEND_BITS) | ours;
	v->ctrl_q = (uint16_t)(2 * p->pairs);
	r = virtio_dev_init(&v->vdev, &vunet_ops, name, VIRTIO_ID_NET, feats,
			    (uint16_t)(2 * p->pairs + 1), (uint16_t)p->queue_size, &v->cfg,
			    (uint32_t)offsetof(struct virtio_net_config, speed));
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
		goto fail;
	}
	/* The core adds the ring features it implements: keep those the back-end has too. */
	v->vdev.device_features &= feats;
	vu_client_set_ops(&v->c, &v->vdev, &vunet_client_ops, v);
	v->created = true;
	*out = &v->vdev;
	return 0;
fail:
	for (unsigned i = 0; i < VUNET_MAX_DATA_QUEUES; i++) {
		if (v->q[i].kick_fd >= 0)
			close(v->q[i].kick_fd);
		if (v->q[i].call_fd >= 0)
			close(v->q[i].call_fd);
	}
	vu_client_close(&v->c);
	free(v);
	return r;
}
