/* SPDX-License-Identifier: MIT */
/*
 * Internal to virtio-vsock, shared by devices/virtio/vsock.c (queues, packets, the protocol)
 * and backends/vsock_host.c (the connection table and the host's unix sockets). Everything
 * here runs under the device lock.
 */
#ifndef VIREO_DEVICES_VIRTIO_VSOCK_INT_H
#define VIREO_DEVICES_VIRTIO_VSOCK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_vsock.h>
#include "devices/virtio/vsock.h"
#include "virtio/virtio.h"

struct ev_loop;
struct ev_handler;

#define Q_RX 0
#define Q_TX 1
#define VSOCK_QUEUE_SIZE 256u
#define VSOCK_CHAIN_CAP 64u
#define HDR_LEN ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define MAX_PKT (64u * 1024)		    /* payload we put in one rx packet at most */
#define LINE_MAX_LEN 64u		    /* "CONNECT <port>\n" */
#define DEADLINE_NS (10ULL * 1000000000ULL) /* guest answer to REQUEST / RST after SHUTDOWN */
#define HOST_PORT_BASE (1u << 30)	    /* local ports of host-initiated connections */
#define NR_BUCKETS 256u
#define ORPHAN_RST_MAX 64u

/* Pending control packets of a connection (sent in this order). */
enum {
	P_REQUEST = 1u << 0,
	P_RESPONSE = 1u << 1,
	P_CREDIT_UPDATE = 1u << 2,
	P_CREDIT_REQUEST = 1u << 3,
	P_SHUTDOWN = 1u << 4,
};

enum conn_state {
	CS_HOST_LINE, /* host client connected; reading its CONNECT line */
	CS_HOST_REQ,  /* REQUEST on its way to the guest */
	CS_ESTABLISHED,
};

struct vconn {
	struct vsock *vs;
	int fd;
	struct ev_handler *h;
	enum conn_state state;
	uint32_t local_port, peer_port;
	bool keyed;  /* in the hash table */
	bool zombie; /* the device was reset: freed on the loop thread */
	uint32_t pending;
	uint32_t shut_flags; /* flags of the pending SHUTDOWN */
	bool queued;	     /* in the rx FIFO */
	struct vconn *rx_next, *hnext, *prev, *next;
	/* host socket (edge-triggered) */
	bool readable, host_eof, host_hup;
	/* guest -> host */
	uint32_t rx_cnt, fwd_cnt, fwd_reported;
	uint8_t *buf; /* VSOCK_CONN_BUF ring, only while the socket lags */
	uint32_t buf_head, buf_len;
	bool guest_shut_send, guest_shut_rcv;
	bool host_wr_shut; /* we shut the socket's write side (the guest sent SHUTDOWN SEND) */
	/* host -> guest */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	bool sent_shut_send;
	bool credit_req_sent;
	uint64_t deadline_ns;
	/* CONNECT line */
	char line[LINE_MAX_LEN + 1];
};

struct orphan_rst {
	uint32_t src_port, dst_port; /* as seen from the host */
};

struct vsock {
	struct virtio_dev vdev; /* first */
	struct virtio_vsock_config cfg;
	uint64_t cid;
	char *uds;
	int listen_fd;
	struct ev_loop *loop;
	struct ev_handler *listen_h, *reap_h, *timer_h;
	int reap_fd, timer_fd;
	bool timer_armed;
	struct vconn *all; /* every live connection */
	struct vconn *zombies;
	struct vconn *buckets[NR_BUCKETS];
	struct vconn *rx_head, *rx_tail;
	unsigned nconns;
	uint32_t next_host_port;
	struct orphan_rst orphans[ORPHAN_RST_MAX];
	unsigned nr_orphans;
	/* the rx chain we hold */
	bool rx_held;
	struct vq_chain rx_chain;
	struct iovec rx_iov[VSOCK_CHAIN_CAP];
	struct iovec data_iov[VSOCK_CHAIN_CAP];
	struct iovec tx_iov[VSOCK_CHAIN_CAP];
	struct vsock_info info;
};

/* ---- backends/vsock_host.c: connections and their host sockets ---- */

struct vconn *vsk_conn_find(struct vsock *vs, uint32_t local, uint32_t peer);
/* Enter c in the table as (local port, peer port). */
void vsk_conn_key(struct vconn *c, uint32_t local, uint32_t peer);
/* A connection over host socket fd (watched on vs->loop); NULL without a loop or memory. */
struct vconn *vsk_conn_new(struct vsock *vs, int fd, enum conn_state st);
/* Forget c now (loop thread): out of every list, socket closed. */
void vsk_conn_close(struct vconn *c);
/* RST to the guest (when it knows the connection), then close; why goes to the debug log. */
void vsk_conn_reset(struct vconn *c, const char *why);
/* Free a connection already out of the lists (zombies). */
void vsk_conn_free(struct vconn *c);
/* c wants the rx queue: for the control packets in `what` (P_*) / for data. */
void vsk_conn_queue(struct vconn *c, uint32_t what);
void vsk_rx_enqueue(struct vconn *c);
struct vconn *vsk_rx_dequeue(struct vsock *vs);
/* A RST for a connection we do not have (ports as the host sees them). */
void vsk_orphan_rst(struct vsock *vs, uint32_t src_port, uint32_t dst_port);
/* The guest must answer within DEADLINE_NS (the housekeeping timer resets c otherwise). */
void vsk_set_deadline(struct vconn *c);
/* Guest payload (len bytes at r) for the host socket. False when c was reset. */
bool vsk_conn_deliver(struct vconn *c, struct vq_cursor *r, uint32_t len);
/* After our buffer drained: shut the socket's write side if the guest asked, credit update. */
void vsk_after_drain(struct vconn *c);
/* The guest shut both directions and everything reached the socket: RST and close (true). */
bool vsk_maybe_finish(struct vconn *c);
/* Loop callbacks: the listening socket, the reaper eventfd, the housekeeping timer. */
void vsk_listen_cb(void *opaque, uint32_t events);
void vsk_reap_cb(void *opaque, uint32_t events);
void vsk_timer_cb(void *opaque, uint32_t events);

/* ---- devices/virtio/vsock.c ---- */

/* Send what the connections in the rx FIFO (and orphan RSTs) have, while rx buffers last. */
void vsk_rx_pump(struct vsock *vs);

#endif
