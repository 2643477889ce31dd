/* SPDX-License-Identifier: MIT */
/*
 * What every vhost-user front-end device (frontend.c: blk, frontend_net.c: net) does the same
 * way: the connection (client.c), one kick and one call eventfd per ring handed to the
 * back-end, starting the rings at activation, stopping them (GET_VRING_BASE) on a driver
 * reset without waiting on the loop thread, and failing the device for good when the
 * back-end refuses a request or goes away.
 *
 * Guest kicks go to the ring's kick eventfd; the back-end's call eventfd raises the queue
 * interrupt (the back-end already applied the driver's notification suppression). Locking:
 * everything runs under the device lock (the loop callbacks take it).
 */
#ifndef VIREO_VHOST_USER_FE_RINGS_H
#define VIREO_VHOST_USER_FE_RINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/util.h"
#include "vhost_user/client.h"
#include "virtio/virtio.h"

struct vu_fe;

struct vu_fe_ring {
	struct vu_fe *fe;
	uint16_t index;
	int kick_fd;
	int call_fd;
	struct ev_handler *call_h;
	bool started;  /* the ring was handed to the back-end */
	bool stopping; /* GET_VRING_BASE sent, reply not in yet */
	uint16_t base; /* last_avail_idx from the GET_VRING_BASE reply */
};

struct vu_fe {
	struct vu_client c;
	struct virtio_dev *dev; /* the device this front-end serves (embedding struct) */
	bool created;		/* dev is initialised: failures go to the device */
	bool stop_async;	/* a driver reset waits for the rings to stop */
	struct ev_loop *loop;
	unsigned nr_rings; /* rings 0..nr_rings-1 go to the back-end */
	struct vu_fe_ring r[VU_MAX_QUEUES];
};

/* Eventfds for nr_rings rings, then connect to path and negotiate (vu_client_open). dev: the
 * device's struct, initialised later. -errno with "OPT=PATH: why" in err (opt: e.g.
 * "--disk vhost-user"). On failure everything is closed. */
int vu_fe_open(struct vu_fe *fe, struct virtio_dev *dev, const char *opt, const char *path,
	       unsigned nr_rings, uint64_t want_pf, char *err, size_t errlen) WUR;
/* The device is initialised: from now on failures fail it. */
void vu_fe_created(struct vu_fe *fe);
/* The activate op: features, memory table, every ready ring (rings below nr_enabled start
 * enabled). Sends everything, waits for nothing (without a loop: waits, bounded). */
int vu_fe_activate(struct vu_fe *fe, const struct virtio_ctx *ctx, uint64_t features,
		   unsigned nr_enabled) WUR;
/* The reset op: stop the back-end's rings; 0 done, -EINPROGRESS (virtio_dev_reset_done()
 * follows from the loop once every ring stopped or the back-end went away). */
int vu_fe_reset(struct vu_fe *fe, bool wait) WUR;
/* A guest kick for ring q. */
void vu_fe_kick(struct vu_fe *fe, uint16_t q);
/* vhost-user GET_VRING_BASE on this device: stop ring q synchronously (bounded) and take the
 * back-end's ring position. */
void vu_fe_queue_stop(struct vu_fe *fe, uint16_t q);
/* Start again every ready ring that is stopped (after vu_fe_queue_stop), with a kick. */
void vu_fe_resume(struct vu_fe *fe);
/* Close the rings' eventfds and the connection (loop thread or loop stopped). */
void vu_fe_close(struct vu_fe *fe);

#endif
