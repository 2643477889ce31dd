/* SPDX-License-Identifier: MIT */
/* The virtio-net control queue (see net_ctrl.h). */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <linux/virtio_net.h>
#include "base/log.h"
#include "devices/virtio/net_ctrl.h"

/* The longest command data we accept (GUEST_OFFLOADS_SET: a u64). */
#define CTRL_DATA_MAX 8u

/* Guest offloads the driver may turn on and off with GUEST_OFFLOADS_SET. */
#define GUEST_OFFLOAD_BITS                                                                         \
	((1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN) |                    \
	 (1ULL << VIRTIO_NET_F_GUEST_UFO))

int vnet_ctrl_decode(const struct virtio_dev *dev, uint8_t cls, uint8_t cmd, const uint8_t *data,
		     uint32_t len, struct vnet_ctrl_cmd *out)
{
	memset(out, 0, sizeof(*out));
	switch (cls) {
	case VIRTIO_NET_CTRL_MQ:
		if (!virtio_has_feature(dev, VIRTIO_NET_F_MQ) ||
		    cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len != 2)
			return -EINVAL;
		out->kind = VNET_CTRL_MQ_PAIRS;
		out->u.pairs = (uint16_t)(data[0] | data[1] << 8);
		return 0;
	case VIRTIO_NET_CTRL_MAC:
		if (!virtio_has_feature(dev, VIRTIO_NET_F_CTRL_MAC_ADDR) ||
		    cmd != VIRTIO_NET_CTRL_MAC_ADDR_SET || len != 6)
			return -EINVAL;
		out->kind = VNET_CTRL_MAC_ADDR;
		memcpy(out->u.mac, data, 6);
		return 0;
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS: {
		if (!virtio_has_feature(dev, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) ||
		    cmd != VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET || len != 8)
			return -EINVAL;
		uint64_t v;
		memcpy(&v, data, 8);
		v = le64toh(v);
		/* Only offloads that were negotiated, and only guest (receive) ones. */
		if (v & ~(dev->features & GUEST_OFFLOAD_BITS))
			return -EINVAL;
		out->kind = VNET_CTRL_GUEST_OFFLOADS;
		out->u.offloads = v;
		return 0;
	}
	default: /* RX mode, MAC table, VLAN, ANNOUNCE, RSS, coalescing: not offered */
		return -EINVAL;
	}
}

unsigned vnet_ctrl_process(struct virtio_dev *dev, uint16_t q, struct iovec *iov, uint32_t cap,
			   vnet_ctrl_apply_fn apply)
{
	struct virtqueue *vq = &dev->queues[q];
	struct vq_chain ch = {.iov = iov, .cap = cap};
	unsigned n = 0;
	int r;

	while ((r = vq_pop(vq, &ch)) > 0) {
		struct vq_cursor rd, wr;
		uint8_t hdr[2], data[CTRL_DATA_MAX], ack = VIRTIO_NET_ERR;
		struct vnet_ctrl_cmd cmd;

		if (ch.in_len < 1) {
			virtio_dev_fail(dev, "control queue: command 0x%x has no writable ack byte",
					ch.head);
			return n;
		}
		vq_reader_init(&rd, &ch);
		vq_writer_init(&wr, &ch);
		uint32_t dlen = ch.out_len >= 2 ? ch.out_len - 2 : 0;
		if (ch.out_len < 2 || dlen > CTRL_DATA_MAX) {
			log_rl(LOG_INFO, "%s: control queue: command of %u bytes refused",
			       dev->name, ch.out_len);
		} else if (vq_cursor_read(&rd, hdr, 2) == 0 &&
			   vq_cursor_read(&rd, data, dlen) == 0) {
			if (vnet_ctrl_decode(dev, hdr[0], hdr[1], data, dlen, &cmd) == 0)
				ack = apply(dev, &cmd);
			else
				log_rl(LOG_INFO,
				       "%s: control queue: class %u command %u (%u bytes) refused",
				       dev->name, hdr[0], hdr[1], dlen);
		}
		/* The ack is the last writable byte; anything before it is the driver's. */
		if (vq_cursor_skip(&wr, ch.in_len - 1) < 0 || vq_cursor_write(&wr, &ack, 1) < 0)
			ack = VIRTIO_NET_ERR; /* cannot happen: in_len >= 1 */
		vq_push(vq, ch.head, ch.in_len);
		n++;
	}
	if (n)
		virtio_notify_queue(dev, q);
	return n;
}
