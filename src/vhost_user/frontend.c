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
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "vhost_user/fe_rings.h"
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

struct vublk {
	struct virtio_dev vdev; /* first */
	struct vu_fe fe;	/* the connection and the rings */
	uint8_t config[VUBLK_CONFIG_LEN];
	struct ev_work config_work;
	bool config_dirty;
};

/* ---- virtio_dev ops: the rings are fe_rings.c's ---- */

static int vublk_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vublk *vb = (struct vublk *)dev;
	return vu_fe_activate(&vb->fe, ctx, dev->features, dev->nr_queues);
}

static int vublk_reset(struct virtio_dev *dev, bool wait)
{
	return vu_fe_reset(&((struct vublk *)dev)->fe, wait);
}

static void vublk_queue_notify(struct virtio_dev *dev, uint16_t qi)
{
	vu_fe_kick(&((struct vublk *)dev)->fe, qi);
}

static void vublk_queue_stop(struct virtio_dev *dev, uint16_t qi)
{
	vu_fe_queue_stop(&((struct vublk *)dev)->fe, qi);
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
	vu_fe_resume(&((struct vublk *)dev)->fe);
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
	vu_client_send(&vb->fe.c, VU_SET_CONFIG, &c, VU_CONFIG_HDR_SIZE + 1, NULL, 0, VU_W_NONE, 0,
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

static void vublk_destroy(struct virtio_dev *dev)
{
	struct vublk *vb = (struct vublk *)dev;
	ev_cancel(dev->loop, &vb->config_work); /* where vublk_write_config posted it */
	vu_fe_close(&vb->fe);
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

	if (cfg->readonly && !(vb->fe.c.features & (1ULL << VIRTIO_BLK_F_RO))) {
		snprintf(err, errlen,
			 "--disk vhost-user=%s,readonly=on: the back-end is writable (it does not "
			 "offer VIRTIO_BLK_F_RO); start it read-only",
			 sock);
		return -EINVAL;
	}
	if (!(vb->fe.c.protocol_features & (1ULL << VU_PROTOCOL_F_CONFIG))) {
		snprintf(err, errlen,
			 "--disk vhost-user=%s: back-end lacks the CONFIG protocol feature", sock);
		return -ENOTSUP;
	}
	if (cfg->queues > vb->fe.c.nr_queues || cfg->queues > VU_MAX_QUEUES) {
		snprintf(err, errlen, "--disk vhost-user=%s: %u queues wanted, back-end has %llu",
			 sock, cfg->queues, (unsigned long long)vb->fe.c.nr_queues);
		return -EINVAL;
	}
	struct vu_config c;
	struct vu_msg rep;
	memset(&c, 0, sizeof(c));
	c.size = VUBLK_CONFIG_LEN;
	vu_client_send(&vb->fe.c, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + c.size, NULL, 0,
		       VU_W_REPLY, 0, &rep);
	vu_client_wait_all(&vb->fe.c);
	if (vb->fe.c.broken) {
		snprintf(err, errlen, "--disk vhost-user=%s: GET_CONFIG: %s", sock, vb->fe.c.why);
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
	int r;

	if (!vb) {
		snprintf(err, errlen, "--disk vhost-user=%s: out of memory", cfg->vhost_user);
		return -ENOMEM;
	}
	ev_work_init(&vb->config_work, config_work, vb);
	r = vu_fe_open(&vb->fe, &vb->vdev, "--disk vhost-user", cfg->vhost_user,
		       MIN(cfg->queues, VU_MAX_QUEUES),
		       (1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_REPLY_ACK) |
			   (1ULL << VU_PROTOCOL_F_CONFIG),
		       err, errlen);
	if (r < 0) {
		free(vb);
		return r;
	}
	r = handshake(vb, cfg, err, errlen);
	if (r < 0)
		goto fail;
	uint16_t nq16 = (uint16_t)cfg->queues;
	memcpy(vb->config + offsetof(struct virtio_blk_config, num_queues), &nq16, 2);

	uint64_t feats = vb->fe.c.features & (VUBLK_DEVICE_BITS | VUBLK_CORE_BITS);
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
	vu_fe_created(&vb->fe);
	*out = &vb->vdev;
	return 0;
fail:
	vu_fe_close(&vb->fe);
	free(vb);
	return r;
}
