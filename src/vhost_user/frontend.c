/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk front-end device (see frontend.h).
 *
 * The connection is non-blocking. At creation (before the VM runs) the handshake waits for
 * each reply. Once the VM runs, requests are sent from the loop thread without waiting: each
 * reply the back-end owes is queued (in send order) and consumed when the loop finds the
 * socket readable, so activation (SET_FEATURES, SET_MEM_TABLE, the rings) and a driver reset
 * (GET_VRING_BASE per ring) never hold up a vCPU or the loop. A back-end that does not answer
 * within VUBLK_TIMEOUT_S, closes the socket or breaks the protocol is dropped: the device
 * fails (NEEDS_RESET) and stays failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "vhost_user/frontend.h"
#include "vhost_user/protocol.h"

/* VirtIO 1.1 virtio-blk config up to write_zeroes_may_unmap + padding (no secure-erase or
 * zoned fields: those features are not passed on). */
#define VUBLK_CONFIG_LEN (offsetof(struct virtio_blk_config, unused1) + 3)
#define VUBLK_TIMEOUT_S 5
#define VUBLK_TIMEOUT_NS (VUBLK_TIMEOUT_S * 1000000000ULL)
/* Replies owed at most: SET_FEATURES + SET_MEM_TABLE + one GET_VRING_BASE per queue. */
#define VUBLK_MAX_WAITS (2 + 2 * VU_MAX_QUEUES)

/* Feature bits the front-end passes on from the back-end: device-specific bits the guest may
 * use without extra config (no SECURE_ERASE, no ZONED), and what the virtio core and
 * virtio-pci transport implement. */
#define VUBLK_DEVICE_BITS (((1ULL << 24) - 1) & ~((1ULL << 16) | (1ULL << 17)))
#define VUBLK_CORE_BITS                                                                            \
	((1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |               \
	 (1ULL << VIRTIO_F_VERSION_1))

struct vublk;

struct vublk_queue {
	struct vublk *vb;
	uint16_t index;
	int kick_fd;
	int call_fd;
	struct ev_handler *call_h;
	bool started;  /* the ring was handed to the back-end */
	bool stopping; /* GET_VRING_BASE sent, reply not in yet */
	uint16_t base; /* last_avail_idx from the GET_VRING_BASE reply */
};

/* What to do with a reply the back-end owes. */
enum vublk_wait_kind {
	VUBLK_W_ACK,   /* REPLY_ACK: non-zero fails the device */
	VUBLK_W_STOP,  /* GET_VRING_BASE: the ring stopped */
	VUBLK_W_REPLY, /* copy the reply to `out` (creation handshake) */
};

struct vublk_wait {
	uint32_t request;
	enum vublk_wait_kind kind;
	uint16_t queue;
	struct vu_msg *out;
};

struct vublk {
	struct virtio_dev vdev; /* first */
	int sock;
	bool broken;  /* the connection is gone: nothing is sent any more */
	bool created; /* vdev is initialised: failures go to the log and the device */
	char broken_why[200];
	char path[108];
	uint64_t backend_features;
	uint64_t protocol_features;
	uint8_t config[VUBLK_CONFIG_LEN];
	struct ev_loop *loop;
	struct ev_handler *sock_h;
	struct ev_handler *timer_h;
	struct vu_rx rx;
	struct vublk_wait waits[VUBLK_MAX_WAITS]; /* FIFO */
	unsigned wait_head, wait_n;
	bool stop_async; /* a driver reset waits for the rings to stop */
	struct ev_work config_work;
	bool config_dirty;
	struct vublk_queue q[VU_MAX_QUEUES];
};

static const char *req_name(uint32_t r)
{
	return vu_request_name(r);
}

/* ---- the connection ---- */

static void arm_timer(struct vublk *vb)
{
	if (vb->timer_h && ev_timer_arm(vb->timer_h, vb->wait_n ? VUBLK_TIMEOUT_NS : 0, 0) < 0)
		log_warn("%s: cannot arm the back-end reply timer", vb->vdev.name);
}

static void stop_done(struct vublk *vb);

/* Give up on the back-end: one log line, the socket closed (a back-end stops using guest
 * memory when its front-end goes away), the device failed for good. */
static void conn_broken(struct vublk *vb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conn_broken(struct vublk *vb, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (vb->broken)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(vb->broken_why, sizeof(vb->broken_why), "%s", msg);
	vb->broken = true;
	if (vb->sock_h)
		ev_del(vb->loop, vb->sock_h);
	vb->sock_h = NULL;
	close(vb->sock);
	vb->sock = -1;
	vb->wait_n = 0;
	arm_timer(vb);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		vb->q[i].started = false;
		vb->q[i].stopping = false;
	}
	if (!vb->created)
		return; /* vublk_create reports it */
	virtio_dev_fail(&vb->vdev, "vhost-user back-end %s: %s; disconnected", vb->path, msg);
	stop_done(vb);
}

/* Send one request. expect: queue a wait of that kind (ACK only when REPLY_ACK was
 * negotiated: then the back-end is asked for one). Never blocks. */
static void vu_send(struct vublk *vb, uint32_t req, const void *payload, uint32_t size,
		    const int *fds, unsigned nfds, bool expect, enum vublk_wait_kind kind,
		    uint16_t queue, struct vu_msg *out)
{
	struct vu_msg m;

	if (vb->broken)
		return;
	if (expect && kind == VUBLK_W_ACK &&
	    !(vb->protocol_features & (1ULL << VU_PROTOCOL_F_REPLY_ACK)))
		expect = false;
	if (expect && vb->wait_n == VUBLK_MAX_WAITS) {
		conn_broken(vb, "%u requests unanswered", vb->wait_n);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION | (expect && kind == VUBLK_W_ACK ? VU_FLAG_NEED_REPLY : 0);
	m.hdr.size = size;
	if (size)
		memcpy(&m.p, payload, size);
	int r = vu_msg_send(vb->sock, &m, fds, nfds);
	if (r < 0) {
		conn_broken(vb, "sending %s: %s", req_name(req),
			    r == -EAGAIN ? "the back-end does not read" : strerror(-r));
		return;
	}
	if (!expect)
		return;
	vb->waits[(vb->wait_head + vb->wait_n) % VUBLK_MAX_WAITS] =
	    (struct vublk_wait){req, kind, queue, out};
	if (vb->wait_n++ == 0)
		arm_timer(vb);
}

static void handle_reply(struct vublk *vb, const struct vu_msg *m)
{
	if (vb->wait_n == 0) {
		conn_broken(vb, "unexpected %s message", req_name(m->hdr.request));
		return;
	}
	struct vublk_wait w = vb->waits[vb->wait_head];
	vb->wait_head = (vb->wait_head + 1) % VUBLK_MAX_WAITS;
	vb->wait_n--;
	arm_timer(vb); /* progress: a new period for the rest, or off */
	if (m->hdr.request != w.request || !(m->hdr.flags & VU_FLAG_REPLY)) {
		conn_broken(vb, "got %s while waiting for the reply to %s",
			    req_name(m->hdr.request), req_name(w.request));
		return;
	}
	switch (w.kind) {
	case VUBLK_W_ACK:
		if (m->hdr.size != 8) {
			conn_broken(vb, "%s: ack of %u bytes", req_name(w.request), m->hdr.size);
			return;
		}
		if (m->p.u64)
			virtio_dev_fail(&vb->vdev, "vhost-user back-end %s refused %s", vb->path,
					req_name(w.request));
		break;
	case VUBLK_W_STOP: {
		struct vublk_queue *q = &vb->q[w.queue];
		if (m->hdr.size != sizeof(struct vu_vring_state) || m->p.state.index != w.queue) {
			conn_broken(vb, "malformed GET_VRING_BASE reply");
			return;
		}
		q->base = (uint16_t)m->p.state.num;
		q->stopping = false;
		stop_done(vb);
		break;
	}
	case VUBLK_W_REPLY:
		*w.out = *m;
		break;
	}
}

/* Consume whatever replies have arrived. */
static void conn_read(struct vublk *vb)
{
	while (!vb->broken) {
		int r = vu_msg_recv_nb(vb->sock, &vb->rx);
		if (r == -EAGAIN)
			return;
		for (unsigned i = 0; i < (r == 1 ? vb->rx.nfds : 0); i++)
			close(vb->rx.fds[i]); /* no reply here carries fds */
		if (r <= 0) {
			conn_broken(vb, "%s", r == 0 ? "closed the connection" : strerror(-r));
			return;
		}
		struct vu_msg m = vb->rx.msg;
		vb->rx.got = 0;
		vb->rx.nfds = 0;
		handle_reply(vb, &m);
	}
}

static void sock_cb(void *opaque, uint32_t events)
{
	struct vublk *vb = opaque;
	virtio_dev_lock(&vb->vdev);
	conn_read(vb);
	virtio_dev_unlock(&vb->vdev);
}

static void timer_cb(void *opaque, uint32_t events)
{
	struct vublk *vb = opaque;
	virtio_dev_lock(&vb->vdev);
	if (vb->wait_n)
		conn_broken(vb, "no reply to %s within %d s",
			    req_name(vb->waits[vb->wait_head].request), VUBLK_TIMEOUT_S);
	virtio_dev_unlock(&vb->vdev);
}

/* Wait (blocking, bounded) until every owed reply is in: creation, teardown, and where no
 * loop runs. */
static void wait_replies(struct vublk *vb)
{
	uint64_t deadline = time_now_ns() + VUBLK_TIMEOUT_NS;
	while (vb->wait_n && !vb->broken) {
		uint64_t now = time_now_ns();
		struct pollfd p = {vb->sock, POLLIN, 0};
		int left = now < deadline ? (int)((deadline - now) / 1000000) + 1 : 0;
		int r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			conn_broken(vb, "no reply to %s within %d s",
				    req_name(vb->waits[vb->wait_head].request), VUBLK_TIMEOUT_S);
			return;
		}
		conn_read(vb);
	}
}

/* One request answered by a reply (creation handshake). */
static int vu_call(struct vublk *vb, uint32_t req, const void *payload, uint32_t size,
		   struct vu_msg *reply)
{
	vu_send(vb, req, payload, size, NULL, 0, true, VUBLK_W_REPLY, 0, reply);
	wait_replies(vb);
	return vb->broken ? -EIO : 0;
}

static int vu_get_u64(struct vublk *vb, uint32_t req, uint64_t *v)
{
	struct vu_msg r;
	int e = vu_call(vb, req, NULL, 0, &r);
	if (e < 0)
		return e;
	if (r.hdr.size != 8)
		return -EPROTO;
	*v = r.p.u64;
	return 0;
}

static void vu_set_u64(struct vublk *vb, uint32_t req, uint64_t v, bool ack)
{
	vu_send(vb, req, &v, 8, NULL, 0, ack, VUBLK_W_ACK, 0, NULL);
}

static void vu_set_state(struct vublk *vb, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_vring_state st = {index, num};
	vu_send(vb, req, &st, sizeof(st), NULL, 0, false, VUBLK_W_ACK, 0, NULL);
}

/* ---- rings ---- */

static void call_cb(void *opaque, uint32_t events)
{
	struct vublk_queue *q = opaque;
	struct virtio_dev *dev = &q->vb->vdev;
	uint64_t v;

	if (read(q->call_fd, &v, sizeof(v)) < 0)
		return;
	virtio_dev_lock(dev);
	/* The back-end already applied the driver's notification suppression. */
	if (q->started && !dev->resetting) {
		__atomic_or_fetch(&dev->isr, 1, __ATOMIC_SEQ_CST);
		if (dev->irq && dev->irq->notify_queue)
			dev->irq->notify_queue(dev->irq_opaque, q->index);
	}
	virtio_dev_unlock(dev);
}

static void queue_stop_send(struct vublk *vb, struct vublk_queue *q)
{
	struct vu_vring_state st = {q->index, 0};
	uint64_t v;

	if (!q->started || q->stopping)
		return;
	if (vb->broken) {
		q->started = false;
		return;
	}
	q->stopping = true;
	q->started = false;
	if (read(q->kick_fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
	vu_send(vb, VU_GET_VRING_BASE, &st, sizeof(st), NULL, 0, true, VUBLK_W_STOP, q->index,
		NULL);
}

static bool any_stopping(const struct vublk *vb)
{
	for (uint16_t i = 0; i < vb->vdev.nr_queues; i++)
		if (vb->q[i].stopping)
			return true;
	return false;
}

/* A ring stopped (or the back-end went away): a driver reset waiting for that is done. */
static void stop_done(struct vublk *vb)
{
	if (vb->stop_async && !any_stopping(vb)) {
		vb->stop_async = false;
		virtio_dev_reset_done(&vb->vdev);
	}
}

/* Hand ring q to the back-end. Nothing waits: the kick fd is ours, so kicks written before
 * the back-end has read SET_VRING_KICK are counted there and seen when it starts the ring. */
static void queue_start(struct vublk *vb, struct vublk_queue *q)
{
	struct virtqueue *vq = &vb->vdev.queues[q->index];
	uint64_t idx = q->index;
	struct vu_vring_addr a = {q->index,
				  0,
				  (uint64_t)(uintptr_t)vq->desc_hva,
				  (uint64_t)(uintptr_t)vq->used_hva,
				  (uint64_t)(uintptr_t)vq->avail_hva,
				  0};

	vu_set_state(vb, VU_SET_VRING_NUM, q->index, vq->size);
	vu_set_state(vb, VU_SET_VRING_BASE, q->index, vq->last_avail_idx);
	vu_send(vb, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, false, VUBLK_W_ACK, 0, NULL);
	vu_send(vb, VU_SET_VRING_CALL, &idx, 8, &q->call_fd, 1, false, VUBLK_W_ACK, 0, NULL);
	vu_send(vb, VU_SET_VRING_KICK, &idx, 8, &q->kick_fd, 1, false, VUBLK_W_ACK, 0, NULL);
	if (vb->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES))
		vu_set_state(vb, VU_SET_VRING_ENABLE, q->index, 1);
	q->started = !vb->broken;
}

/* ---- virtio_dev ops ---- */

static void send_mem_table(struct vublk *vb, const struct guest_mem *gm)
{
	struct vu_mem_table t;
	int fds[VU_MAX_MEM_REGIONS];
	unsigned n = 0;

	memset(&t, 0, sizeof(t));
	for (unsigned i = 0; gm && i < gm->nr; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (r->readonly || r->fd < 0)
			continue; /* ROM: never a ring or a buffer the back-end writes */
		if (n == VU_MAX_MEM_REGIONS)
			break; /* checked in vublk_activate */
		t.regions[n] =
		    (struct vu_mem_region){r->gpa, r->size, (uint64_t)(uintptr_t)r->hva, r->fd_off};
		fds[n++] = r->fd;
	}
	t.nregions = n;
	vu_send(vb, VU_SET_MEM_TABLE, &t, (uint32_t)(8 + n * sizeof(struct vu_mem_region)), fds, n,
		true, VUBLK_W_ACK, 0, NULL);
}

static int mem_regions(const struct guest_mem *gm)
{
	int n = 0;
	for (unsigned i = 0; gm && i < gm->nr; i++)
		if (!gm->regions[i].readonly && gm->regions[i].fd >= 0)
			n++;
	if (n == 0)
		return -EINVAL; /* guest RAM is not shareable (no memfd) */
	return n > VU_MAX_MEM_REGIONS ? -E2BIG : 0;
}

/* Runs on the loop thread (the core defers DRIVER_OK there). Sends everything, waits for
 * nothing: acks are checked as they come in. */
static int vublk_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vublk *vb = (struct vublk *)dev;
	uint64_t f = dev->features | (vb->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES));
	int r;

	if (vb->broken)
		return -ENOTCONN;
	r = mem_regions(ctx->mem);
	if (r < 0)
		return r;
	if (!vb->loop && ctx->loop) {
		/* First activation: from here on the loop reads replies and call fds. */
		r = ev_add(ctx->loop, vb->sock, EPOLLIN, sock_cb, vb, &vb->sock_h);
		if (r == 0)
			r = ev_timer_add(ctx->loop, VUBLK_TIMEOUT_NS, 0, timer_cb, vb,
					 &vb->timer_h);
		if (r == 0)
			r = ev_timer_arm(vb->timer_h, 0, 0);
		for (uint16_t i = 0; r == 0 && i < dev->nr_queues; i++)
			r = ev_add(ctx->loop, vb->q[i].call_fd, EPOLLIN, call_cb, &vb->q[i],
				   &vb->q[i].call_h);
		vb->loop = ctx->loop;
		if (r < 0)
			return r;
	}
	vu_set_u64(vb, VU_SET_FEATURES, f, true);
	send_mem_table(vb, ctx->mem);
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		if (dev->queues[i].ready)
			queue_start(vb, &vb->q[i]);
	if (!vb->loop)
		wait_replies(vb);
	return vb->broken ? -EIO : 0;
}

/* The queues are stopped on our side; stop the back-end's rings (GET_VRING_BASE each). */
static int vublk_reset(struct virtio_dev *dev, bool wait)
{
	struct vublk *vb = (struct vublk *)dev;
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		queue_stop_send(vb, &vb->q[i]);
	if (wait || !vb->loop) {
		vb->stop_async = false;
		wait_replies(vb);
		return 0;
	}
	if (!any_stopping(vb))
		return 0;
	vb->stop_async = true; /* stop_done() finishes it */
	return -EINPROGRESS;
}

static void vublk_queue_notify(struct virtio_dev *dev, uint16_t qi)
{
	struct vublk *vb = (struct vublk *)dev;
	uint64_t one = 1;
	if (qi < dev->nr_queues && vb->q[qi].started &&
	    write(vb->q[qi].kick_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the back-end is awake anyway */
	}
}

/* vhost-user GET_VRING_BASE on this device (not reached from virtio-pci): synchronous. */
static void vublk_queue_stop(struct virtio_dev *dev, uint16_t qi)
{
	struct vublk *vb = (struct vublk *)dev;
	if (qi >= dev->nr_queues || !vb->q[qi].started)
		return;
	queue_stop_send(vb, &vb->q[qi]);
	wait_replies(vb);
	if (!vb->broken) {
		dev->queues[qi].last_avail_idx = vb->q[qi].base;
		dev->queues[qi].used_idx = vb->q[qi].base;
	}
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
	vu_send(vb, VU_SET_CONFIG, &c, VU_CONFIG_HDR_SIZE + 1, NULL, 0, false, VUBLK_W_ACK, 0,
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
	if (vb->sock_h)
		ev_del(vb->loop, vb->sock_h);
	if (vb->timer_h)
		ev_del(vb->loop, vb->timer_h);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		if (vb->q[i].call_h)
			ev_del(vb->loop, vb->q[i].call_h);
		if (vb->q[i].kick_fd >= 0)
			close(vb->q[i].kick_fd);
		if (vb->q[i].call_fd >= 0)
			close(vb->q[i].call_fd);
	}
	if (vb->sock >= 0)
		close(vb->sock);
	free(vb);
}

static const struct virtio_dev_ops vublk_ops = {
    .activate = vublk_activate,
    .reset = vublk_reset,
    .queue_notify = vublk_queue_notify,
    .queue_stop = vublk_queue_stop,
    .write_config = vublk_write_config,
    .destroy = vublk_destroy,
};

/* ---- creation ---- */

static int vublk_connect(const char *path, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

/* The handshake: features, protocol features, queues, config. 0, or -errno with `what`
 * naming the step (or a whole reason in err, then -ENOTSUP/-EINVAL and *msg = true). */
static int handshake(struct vublk *vb, const struct disk_config *cfg, const char **what, char *err,
		     size_t errlen, bool *msg)
{
	uint64_t nq = 1, pf = 0;
	int r;

	*what = "GET_FEATURES";
	r = vu_get_u64(vb, VU_GET_FEATURES, &vb->backend_features);
	if (r < 0)
		return r;
	*msg = true;
	if (!(vb->backend_features & (1ULL << VIRTIO_F_VERSION_1))) {
		snprintf(err, errlen, "--disk vhost-user=%s: back-end is not a virtio 1.0 device",
			 cfg->vhost_user);
		return -ENOTSUP;
	}
	if (cfg->readonly && !(vb->backend_features & (1ULL << VIRTIO_BLK_F_RO))) {
		snprintf(err, errlen,
			 "--disk vhost-user=%s,readonly=on: the back-end is writable (it does not "
			 "offer VIRTIO_BLK_F_RO); start it read-only",
			 cfg->vhost_user);
		return -EINVAL;
	}
	*msg = false;
	if (vb->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES)) {
		*what = "GET_PROTOCOL_FEATURES";
		r = vu_get_u64(vb, VU_GET_PROTOCOL_FEATURES, &pf);
		if (r < 0)
			return r;
		vb->protocol_features =
		    pf & ((1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_REPLY_ACK) |
			  (1ULL << VU_PROTOCOL_F_CONFIG));
		vu_set_u64(vb, VU_SET_PROTOCOL_FEATURES, vb->protocol_features, false);
	}
	if (!(vb->protocol_features & (1ULL << VU_PROTOCOL_F_CONFIG))) {
		snprintf(err, errlen,
			 "--disk vhost-user=%s: back-end lacks the CONFIG protocol feature",
			 cfg->vhost_user);
		*msg = true;
		return -ENOTSUP;
	}
	*what = "SET_OWNER";
	vu_send(vb, VU_SET_OWNER, NULL, 0, NULL, 0, false, VUBLK_W_ACK, 0, NULL);
	if (vb->protocol_features & (1ULL << VU_PROTOCOL_F_MQ)) {
		*what = "GET_QUEUE_NUM";
		r = vu_get_u64(vb, VU_GET_QUEUE_NUM, &nq);
		if (r < 0)
			return r;
	}
	if (cfg->queues > nq || cfg->queues > VU_MAX_QUEUES) {
		snprintf(err, errlen, "--disk vhost-user=%s: %u queues wanted, back-end has %llu",
			 cfg->vhost_user, cfg->queues, (unsigned long long)nq);
		*msg = true;
		return -EINVAL;
	}
	*what = "GET_CONFIG";
	struct vu_config c;
	struct vu_msg rep;
	memset(&c, 0, sizeof(c));
	c.size = VUBLK_CONFIG_LEN;
	r = vu_call(vb, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + c.size, &rep);
	if (r < 0)
		return r;
	if (rep.hdr.size != VU_CONFIG_HDR_SIZE + VUBLK_CONFIG_LEN ||
	    rep.p.config.size != VUBLK_CONFIG_LEN)
		return -EPROTO;
	memcpy(vb->config, rep.p.config.data, VUBLK_CONFIG_LEN);
	return 0;
}

int vublk_create(const struct disk_config *cfg, const char *name, struct virtio_dev **out,
		 char *err, size_t errlen)
{
	struct vublk *vb = calloc(1, sizeof(*vb));
	const char *what = "connect";
	bool msg = false;
	int r;

	if (!vb)
		return -ENOMEM;
	snprintf(vb->path, sizeof(vb->path), "%s", cfg->vhost_user);
	ev_work_init(&vb->config_work, config_work, vb);
	vb->sock = -1;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vb->q[i] = (struct vublk_queue){
		    .vb = vb, .index = (uint16_t)i, .kick_fd = -1, .call_fd = -1};
	for (unsigned i = 0; i < cfg->queues && i < VU_MAX_QUEUES; i++) {
		vb->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vb->q[i].call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vb->q[i].kick_fd < 0 || vb->q[i].call_fd < 0) {
			r = -errno;
			what = "eventfd";
			goto fail;
		}
	}
	r = vublk_connect(cfg->vhost_user, &vb->sock);
	if (r < 0)
		goto fail;
	r = handshake(vb, cfg, &what, err, errlen, &msg);
	if (r == 0 && vb->broken)
		r = -EIO; /* a request without a reply could not be sent */
	if (r < 0)
		goto fail;
	uint16_t nq16 = (uint16_t)cfg->queues;
	memcpy(vb->config + offsetof(struct virtio_blk_config, num_queues), &nq16, 2);

	uint64_t feats = vb->backend_features & (VUBLK_DEVICE_BITS | VUBLK_CORE_BITS);
	if (cfg->queues == 1)
		feats &= ~(1ULL << VIRTIO_BLK_F_MQ);
	r = virtio_dev_init(&vb->vdev, &vublk_ops, name, VIRTIO_ID_BLOCK, feats,
			    (uint16_t)cfg->queues, (uint16_t)cfg->queue_size, vb->config,
			    VUBLK_CONFIG_LEN);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
		msg = true;
		goto fail;
	}
	/* The core adds what it implements; keep only what the back-end offers too. */
	vb->vdev.device_features &= feats;
	vb->created = true;
	*out = &vb->vdev;
	return 0;
fail:
	if (!msg)
		snprintf(err, errlen, "--disk vhost-user=%s: %s: %s", cfg->vhost_user, what,
			 vb->broken ? vb->broken_why : strerror(-r));
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		if (vb->q[i].kick_fd >= 0)
			close(vb->q[i].kick_fd);
		if (vb->q[i].call_fd >= 0)
			close(vb->q[i].call_fd);
	}
	if (vb->sock >= 0)
		close(vb->sock);
	free(vb);
	return r;
}
