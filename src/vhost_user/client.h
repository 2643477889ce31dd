/* SPDX-License-Identifier: MIT */
/*
 * The front-end end of a vhost-user connection, device-independent: connect, the feature
 * handshake, requests with optional REPLY_ACK, the memory table from a struct guest_mem and
 * starting/stopping rings from a struct virtqueue. Used by the vhost-user-net front-end
 * (frontend_net.c); blocking calls with a receive timeout, on the caller's thread.
 */
#ifndef VIREO_VHOST_USER_CLIENT_H
#define VIREO_VHOST_USER_CLIENT_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "base/util.h"
#include "mem/guest_mem.h"
#include "vhost_user/protocol.h"
#include "virtio/virtqueue.h"

struct vu_client {
	int sock;
	char path[108];
	uint64_t features;	    /* the back-end's GET_FEATURES */
	uint64_t protocol_features; /* negotiated (what we asked for that it offered) */
	uint64_t nr_queues;	    /* GET_QUEUE_NUM, 1 without MQ */
};

/* Connect to path and negotiate: GET_FEATURES (VERSION_1 required), the protocol features in
 * want_pf it offers, SET_OWNER, GET_QUEUE_NUM. -errno with "what: why" in err. */
int vu_client_open(struct vu_client *c, const char *path, uint64_t want_pf, char *err,
		   size_t errlen) WUR;
void vu_client_close(struct vu_client *c);

/* One request; reply != NULL waits for the reply of the same request; ack asks for and
 * waits for a REPLY_ACK when negotiated. 0 or -errno. */
int vu_client_call(struct vu_client *c, uint32_t req, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds, struct vu_msg *reply, bool ack) WUR;
int vu_client_set_features(struct vu_client *c, uint64_t features) WUR;
/* Every memfd-backed writable region of gm (front-end address = our mapping). */
int vu_client_set_mem_table(struct vu_client *c, const struct guest_mem *gm) WUR;
/* Hand a validated, ready ring to the back-end: NUM, BASE, ADDR, CALL, KICK, then ENABLE
 * (when the protocol-features bit is on) with `enable`. */
int vu_client_ring_start(struct vu_client *c, const struct virtqueue *vq, int kick_fd, int call_fd,
			 bool enable) WUR;
int vu_client_ring_enable(struct vu_client *c, uint16_t index, bool enable) WUR;
/* GET_VRING_BASE: the ring stops; returns its last_avail_idx (0..65535) or -errno. */
int vu_client_ring_stop(struct vu_client *c, uint16_t index) WUR;

#endif
