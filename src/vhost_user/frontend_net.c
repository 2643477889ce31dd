/* SPDX-License-Identifier: MIT */
/* vhost-user-net front-end device (see frontend_net.h). */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/net_ctrl.h"
#include "vhost_user/fe_rings.h"
#include "vhost_user/frontend_net.h"

#define VUNET_CTRL_SIZE 64u

/* What we pass on from the back-end: data-path offloads and ring features. */
#define VUNET_BACKEND_BITS                                                                         \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |                         \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                   \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |                     \
	 (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_ECN) |                      \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1))

struct vunet {
	struct virtio_dev vdev; /* first */
	struct virtio_net_config cfg;
	struct vu_fe fe; /* the connection and the data rings */
	unsigned pairs;
	unsigned curr_pairs;
	uint16_t ctrl_q;
	struct iovec ctrl_iov[VUNET_CTRL_SIZE];
};

static struct vunet *to_vunet(struct virtio_dev *dev)
{
	return (struct vunet *)dev;
}

/* ---- virtio_dev ops: the data rings are fe_rings.c's; the control queue is ours ---- */

/* Pairs beyond the first start disabled. */
static int vunet_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vunet *v = to_vunet(dev);
	v->curr_pairs = 1;
	return vu_fe_activate(&v->fe, ctx, dev->features & v->fe.c.features, 2);
}

static int vunet_reset(struct virtio_dev *dev, bool wait)
{
	struct vunet *v = to_vunet(dev);
	v->curr_pairs = 1;
	return vu_fe_reset(&v->fe, wait);
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
		if (v->fe.c.broken)
			return VIRTIO_NET_ERR;
		for (unsigned i = 0; i < 2 * v->pairs; i++)
			if (v->fe.r[i].started && (i / 2 < cmd->u.pairs) != (i / 2 < v->curr_pairs))
				vu_client_ring_enable(&v->fe.c, (uint16_t)i, i / 2 < cmd->u.pairs);
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
	if (q == v->ctrl_q)
		vnet_ctrl_process(dev, q, v->ctrl_iov, VUNET_CTRL_SIZE, vunet_ctrl_apply);
	else
		vu_fe_kick(&v->fe, q);
}

static void vunet_queue_stop(struct virtio_dev *dev, uint16_t q)
{
	vu_fe_queue_stop(&to_vunet(dev)->fe, q);
}

static void vunet_destroy(struct virtio_dev *dev)
{
	struct vunet *v = to_vunet(dev);
	vu_fe_close(&v->fe);
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
	int r;

	if (!v) {
		snprintf(err, errlen, "--net vhost-user=%s: out of memory", nc->vhost_user);
		return -ENOMEM;
	}
	v->pairs = p->pairs;
	v->curr_pairs = 1;
	r = vu_fe_open(&v->fe, &v->vdev, "--net vhost-user", nc->vhost_user, 2 * p->pairs,
		       (1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_REPLY_ACK), err, errlen);
	if (r < 0) {
		free(v);
		return r;
	}
	if (v->fe.c.nr_queues < 2 * p->pairs) {
		snprintf(err, errlen,
			 "--net vhost-user=%s: %u queue pairs wanted, the back-end serves %llu "
			 "queues",
			 nc->vhost_user, p->pairs, (unsigned long long)v->fe.c.nr_queues);
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
	uint64_t feats = (v->fe.c.features & VUNET_BACKEND_BITS) | ours;
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
	vu_fe_created(&v->fe);
	*out = &v->vdev;
	return 0;
fail:
	vu_fe_close(&v->fe);
	free(v);
	return r;
}
