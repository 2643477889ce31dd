/* SPDX-License-Identifier: MIT */
/*
 * The front-end end of a vhost-user connection, device-independent (used by the blk and net
 * front-ends, frontend.c and frontend_net.c).
 *
 * The socket is non-blocking. vu_client_open() does the handshake before the VM runs, waiting
 * for each reply (bounded by VU_CLIENT_TIMEOUT_S). Once attached to a loop, requests are sent
 * without waiting: each reply the back-end owes (an ack, a GET_VRING_BASE answer) is queued in
 * send order and consumed when the loop finds the socket readable, so activation, resets and
 * control-queue work on the loop thread never block on the back-end. A back-end that does not
 * answer within VU_CLIENT_TIMEOUT_S, closes the socket or breaks the protocol is dropped:
 * ops->broken runs once and nothing is sent any more. vu_client_wait_all() waits (bounded) for
 * the owed replies where blocking is allowed: creation, teardown, no loop.
 */
#ifndef VIREO_VHOST_USER_CLIENT_H
#define VIREO_VHOST_USER_CLIENT_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "base/util.h"
#include "mem/guest_mem.h"
#include "vhost_user/protocol.h"
#include "virtio/virtio.h"

#define VU_CLIENT_TIMEOUT_S 5
#define VU_CLIENT_MAX_WAITS (8 + 4 * VU_MAX_QUEUES)

/* What a request expects back. */
enum vu_wait_kind {
	VU_W_NONE,  /* nothing */
	VU_W_ACK,   /* a REPLY_ACK when negotiated (else nothing): non-zero -> ops->refused */
	VU_W_STOP,  /* GET_VRING_BASE: -> ops->ring_stopped */
	VU_W_REPLY, /* copy the reply to `out` (handshake) */
};

/* Called on the loop thread with the device lock held. */
struct vu_client_ops {
	void (*ring_stopped)(void *opaque, uint16_t queue, uint16_t base);
	void (*refused)(void *opaque, uint32_t request);
	void (*broken)(void *opaque, const char *why);
};

struct vu_client_wait {
	uint32_t request;
	enum vu_wait_kind kind;
	uint16_t queue;
	struct vu_msg *out;
};

struct vu_client {
	int sock;
	bool broken;
	char why[200];
	char path[108];
	uint64_t features;	    /* the back-end's GET_FEATURES */
	uint64_t protocol_features; /* negotiated (what we asked for that it offered) */
	uint64_t nr_queues;	    /* GET_QUEUE_NUM, 1 without MQ */
	struct virtio_dev *dev;	    /* locked around loop callbacks */
	struct ev_loop *loop;
	struct ev_handler *sock_h;
	struct ev_handler *timer_h;
	const struct vu_client_ops *ops;
	void *opaque;
	struct vu_rx rx;
	struct vu_client_wait waits[VU_CLIENT_MAX_WAITS]; /* FIFO */
	unsigned wait_head, wait_n;
};

/* Connect to path and negotiate: GET_FEATURES (VERSION_1 required), the protocol features in
 * want_pf it offers, SET_OWNER, GET_QUEUE_NUM. -errno with "what: why" in err. */
int vu_client_open(struct vu_client *c, const char *path, uint64_t want_pf, char *err,
		   size_t errlen) WUR;
/* Callbacks from here on (dev: the device whose lock guards them). */
void vu_client_set_ops(struct vu_client *c, struct virtio_dev *dev, const struct vu_client_ops *ops,
		       void *opaque);
/* Serve replies from loop (once; loop thread or before the loop runs). */
int vu_client_attach_loop(struct vu_client *c, struct ev_loop *loop) WUR;
/* Remove the loop handlers (loop thread or loop stopped) and close the socket. */
void vu_client_close(struct vu_client *c);

/* Send one request; never blocks. A send that fails breaks the connection. */
void vu_client_send(struct vu_client *c, uint32_t req, const void *payload, uint32_t size,
		    const int *fds, unsigned nfds, enum vu_wait_kind kind, uint16_t queue,
		    struct vu_msg *out);
/* Wait (blocking, bounded) until every owed reply is in or the connection broke. */
void vu_client_wait_all(struct vu_client *c);

/* Requests. Acks are checked as they arrive (ops->refused). */
void vu_client_set_features(struct vu_client *c, uint64_t features);
/* Every memfd-backed writable region of gm (front-end address = our mapping); -EINVAL when
 * there is none (guest RAM not shareable), -E2BIG beyond VU_MAX_MEM_REGIONS. */
int vu_client_set_mem_table(struct vu_client *c, const struct guest_mem *gm) WUR;
/* Hand a validated, ready ring to the back-end: NUM, BASE, ADDR, CALL, KICK, then ENABLE (when
 * the protocol-features bit is on) with `enable`. */
void vu_client_ring_start(struct vu_client *c, const struct virtqueue *vq, int kick_fd, int call_fd,
			  bool enable);
void vu_client_ring_enable(struct vu_client *c, uint16_t index, bool enable);
/* GET_VRING_BASE: ops->ring_stopped(index, base) when the back-end answers. */
void vu_client_ring_stop(struct vu_client *c, uint16_t index);

#endif
