/* SPDX-License-Identifier: MIT */
/*
 * virtio-net internals shared by net.c (device ops, control queue, loop, creation) and
 * net_rxtx.c (headers, rate limiter, RX and TX). Not an interface: see net.h.
 */
#ifndef VIREO_DEVICES_VIRTIO_NET_PRIV_H
#define VIREO_DEVICES_VIRTIO_NET_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>
#include "base/token_bucket.h"
#include "devices/virtio/net.h"

#define HDR_LEN ((uint32_t)sizeof(struct virtio_net_hdr_v1)) /* 12: VERSION_1 always */
#define ETH_HLEN_ 14u
#define FRAME_MAX (65535u + ETH_HLEN_ + 4u) /* a 64 KiB GSO frame + Ethernet + VLAN tag */
#define BUF_LEN (HDR_LEN + FRAME_MAX)
#define BUDGET 256u	 /* frames per direction per callback */
#define TX_SEG_MAX 1023u /* writev takes IOV_MAX (1024) entries: header + 1023 */
#define CTRL_QUEUE_SIZE 64u

#define GUEST_OFFLOADS                                                                             \
	((1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN))

/* A virtio-net header as a typed local (wire: le16 fields). */
struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

struct vnet;

struct vnet_rx {
	uint8_t *buf; /* BUF_LEN: header + frame as read from the port */
	uint32_t len; /* bytes in buf; 0 = no frame pending */
	bool charged; /* the rate limiter has been charged for the pending frame */
	bool waiting; /* ring empty with a frame pending: polling paused until a kick */
	bool kept;    /* without MRG_RXBUF: ch is popped and unused (too small last time) */
	struct vq_chain ch;
	/* With MRG_RXBUF: chains filled so far with the pending frame (popped, not pushed). */
	uint32_t copied;
	uint16_t nheld;
	uint16_t *held_head;
	uint32_t *held_len;
	uint8_t *nb[2]; /* where num_buffers (le16) lands in the first chain */
};

struct vnet_tx {
	struct vq_chain ch;
	struct iovec *wiov;	      /* header + frame segments for writev */
	struct virtio_net_hdr_v1 out; /* the header we write */
	bool pending;		      /* ch popped and not sent yet */
	bool blocked;		      /* the port said EAGAIN: wait for EPOLLOUT */
	bool again;		      /* the budget ran out with chains left */
};

struct vnet_pair {
	struct vnet *n;
	unsigned index;
	int fd;
	struct ev_handler *h;
	uint32_t events;
	bool attached;
	struct vnet_rx rx;
	struct vnet_tx tx;
	struct vnet_pair_stats st;
};

struct vnet {
	struct virtio_dev vdev; /* first */
	struct virtio_net_config cfg;
	struct net_port *port;
	unsigned max_pairs;
	unsigned curr_pairs;
	bool has_ctrl;
	uint16_t ctrl_q;
	struct iovec ctrl_iov[CTRL_QUEUE_SIZE];
	struct vnet_pair *pairs;
	uint64_t guest_offloads; /* GUEST_* feature bits currently on */
	unsigned tun_flags;
	bool tun_flags_set;
	struct tbucket rx_bytes, rx_pkts, tx_bytes, tx_pkts;
	bool rx_throttled, tx_throttled;
	struct ev_loop *loop; /* set at the first activation that has one */
	int timer_fd;
	struct ev_handler *timer_h;
	uint64_t timer_deadline; /* 0: not armed */
	int work_fd;
	struct ev_handler *work_h;
	bool port_dead;
	bool stats_logged; /* vnet_log_stats ran: destroy does not repeat them */
	bool ever_active;  /* a driver started it: destroy logs the counters */
	struct vnet_stats st;
};

static inline struct vnet *to_net(struct virtio_dev *dev)
{
	return container_of(dev, struct vnet, vdev);
}

/* net.c */
bool vnet_pair_live(struct vnet_pair *pp);
/* Port polling: EPOLLIN while frames can be taken, EPOLLOUT while a write waits. */
void vnet_pair_update_events(struct vnet_pair *pp, bool live);

/* net_rxtx.c: under the device lock, on the loop thread (or the caller's without a loop). */
void vnet_rx_process(struct vnet_pair *pp);
void vnet_tx_process(struct vnet_pair *pp);

#endif
