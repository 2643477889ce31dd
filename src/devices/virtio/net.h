/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (VirtIO 1.2, 5.1) over a net_port (a TAP, see backends/tap.h), see
 * docs/devices/net.md. Transport-independent: attach the returned device to virtio-pci
 * (`vireo run --net tap=...`) or serve it from the vhost-user back-end (`vireo backend net`,
 * created with ctrl_vq = false: the front-end runs the control queue itself).
 *
 * Queues: RX of pair p is queue 2p, TX 2p + 1, the control queue (if any) comes last. Pair p
 * uses port fd p. Everything runs on the device's event loop (ioeventfd kicks, port fds, the
 * rate-limit timer) under the device lock; each pair is served on its own (no pair waits for
 * another's buffers, a callback handles at most one budget of frames).
 */
#ifndef VIREO_DEVICES_VIRTIO_NET_H
#define VIREO_DEVICES_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "backends/net_port.h"
#include "base/util.h"
#include "config/config.h"
#include "virtio/virtio.h"

struct vnet_params {
	uint8_t mac[6];
	unsigned pairs;	     /* 1..NET_MAX_QUEUE_PAIRS; the port has at least this many fds */
	unsigned queue_size; /* power of two, 64..1024 */
	unsigned mtu;	     /* 0: VIRTIO_NET_F_MTU not offered */
	bool ctrl_vq;	     /* offer the control queue (CTRL_VQ, MQ, CTRL_MAC_ADDR, ...) */
	uint64_t rx_bps, rx_pps, tx_bps, tx_pps; /* 0 = unlimited */
};

/* Per queue pair, counted since creation. */
struct vnet_pair_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_dropped; /* frames that fit no buffer the driver gave, or bad from the port */
	uint64_t rx_stalls;  /* times the RX ring ran out of buffers with a frame waiting */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_dropped; /* frames the port refused (e.g. TAP down: EIO) or of a bad size */
};

struct vnet_stats {
	uint64_t rx_throttled, tx_throttled; /* times the rate limiter held traffic back */
};

/* Fill params from a --net config (a random locally administered MAC when none is set). */
void vnet_params_from_config(const struct net_config *nc, struct vnet_params *p);

/* Create the device named `name` ("net0") over port (owned by the device from here on, also
 * on failure). One-line reason in err on failure. */
int vnet_create(const struct vnet_params *p, struct net_port *port, const char *name,
		struct virtio_dev **out, char *err, size_t errlen) WUR;

unsigned vnet_nr_pairs(struct virtio_dev *dev);
void vnet_get_stats(struct virtio_dev *dev, unsigned pair, struct vnet_pair_stats *out);
void vnet_get_dev_stats(struct virtio_dev *dev, struct vnet_stats *out);
/* One line per pair ("net0: pair 0: rx 10 packets (1234 bytes, ...), tx ...") at `level`
 * (enum log_level). Without this call the lines are logged at LOG_INFO when the device is
 * destroyed (`vireo run -v` shows them at exit). */
void vnet_log_stats(struct virtio_dev *dev, int level);

#endif
