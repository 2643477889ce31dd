/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net control queue (VirtIO 1.2, 5.1.6.5), shared by the device in net.c and the
 * vhost-user-net front-end (whose data rings live in the back-end but whose control queue is
 * ours). Each chain is {u8 class, u8 command, command data} readable, then {u8 ack} writable.
 *
 * vnet_ctrl_process() pops every available chain, decodes the command into a typed struct
 * (struct vnet_ctrl_cmd) and hands it to the owner's apply(), which answers VIRTIO_NET_OK or
 * VIRTIO_NET_ERR. Unknown classes and commands, commands for features that were not
 * negotiated, and data of the wrong size are answered VIRTIO_NET_ERR without reaching
 * apply(); a chain without a writable ack byte (nothing to answer into) fails the device.
 */
#ifndef VIREO_DEVICES_VIRTIO_NET_CTRL_H
#define VIREO_DEVICES_VIRTIO_NET_CTRL_H

#include <stdint.h>
#include <sys/uio.h>
#include "virtio/virtio.h"

enum vnet_ctrl_kind {
	VNET_CTRL_MQ_PAIRS, /* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: u.pairs (not yet range-checked) */
	VNET_CTRL_MAC_ADDR, /* VIRTIO_NET_CTRL_MAC_ADDR_SET: u.mac */
	VNET_CTRL_GUEST_OFFLOADS, /* VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET: u.offloads (feature bits)
				   */
};

struct vnet_ctrl_cmd {
	enum vnet_ctrl_kind kind;
	union {
		uint16_t pairs;
		uint8_t mac[6];
		uint64_t offloads;
	} u;
};

/* Returns VIRTIO_NET_OK or VIRTIO_NET_ERR. Called with the device lock held. */
typedef uint8_t (*vnet_ctrl_apply_fn)(struct virtio_dev *dev, const struct vnet_ctrl_cmd *cmd);

/* Decode one command (class, command, data bytes after the 2-byte header). Returns 0 with
 * *cmd filled, or -EINVAL (answer VIRTIO_NET_ERR). Checks the negotiated features in dev. */
int vnet_ctrl_decode(const struct virtio_dev *dev, uint8_t cls, uint8_t cmd, const uint8_t *data,
		     uint32_t len, struct vnet_ctrl_cmd *out) WUR;

/* Serve control queue q: every available chain is answered and returned, then the queue
 * interrupt raised. iov: scratch of cap entries. Returns the number of commands answered. */
unsigned vnet_ctrl_process(struct virtio_dev *dev, uint16_t q, struct iovec *iov, uint32_t cap,
			   vnet_ctrl_apply_fn apply);

#endif
