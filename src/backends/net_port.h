/* SPDX-License-Identifier: MIT */
/*
 * The host side of a network device: one file descriptor per queue pair, each carrying whole
 * Ethernet frames, one per read()/writev(), each preceded by a 12-byte virtio-net header
 * (struct virtio_net_hdr_v1, little-endian). A TAP opened with IFF_VNET_HDR and
 * TUNSETVNETHDRSZ 12 is exactly that (backends/tap.c); so is a SOCK_DGRAM socketpair, which
 * the unit tests and the fuzzer use in its place. The fds are non-blocking.
 *
 * Ops are optional (NULL for a socketpair): offloads the host may hand the guest (TUN_F_*
 * from linux/if_tun.h, set from the guest's negotiated features) and per-queue attach/detach
 * (IFF_MULTI_QUEUE TAPs: a detached queue gets no frames from the kernel). The device owns
 * the port and calls destroy.
 */
#ifndef VIREO_BACKENDS_NET_PORT_H
#define VIREO_BACKENDS_NET_PORT_H

#include <stdbool.h>
#include "base/util.h"

#define NET_PORT_MAX_QUEUES 16

struct net_port;

struct net_port_ops {
	int (*set_offload)(struct net_port *p, unsigned tun_flags) WUR;
	int (*set_queue_enabled)(struct net_port *p, unsigned q, bool on) WUR;
	void (*destroy)(struct net_port *p);
};

struct net_port {
	const struct net_port_ops *ops; /* NULL: plain fds, closed by net_port_destroy */
	char name[40];			/* for log lines: "tap vtap0" */
	unsigned nr_queues;
	int fd[NET_PORT_MAX_QUEUES];
};

/* Closes the fds (and, for a TAP vireo created, the interface goes with them). NULL-safe. */
void net_port_destroy(struct net_port *p);

#endif
