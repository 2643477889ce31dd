/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock (VirtIO 1.2, 5.10): rx (0), tx (1) and event (2) queues; stream sockets only.
 *
 * Guest -> host (tx): every chain holds one packet: a 44-byte header, then `len` bytes of
 * payload, split across descriptors any way the driver likes. A chain shorter than a header,
 * or a header whose len exceeds what the chain holds, fails the device (NEEDS_RESET). Packets
 * that are well-formed but wrong (not from the guest's CID, not to the host, not a stream,
 * unknown op, for no known connection, beyond the credit we gave) get a RST.
 *
 * Host -> guest (rx): control packets (RESPONSE, REQUEST, CREDIT_UPDATE, CREDIT_REQUEST,
 * SHUTDOWN, RST) and data read straight from the host socket into the guest's buffer. The
 * connections with something to send wait in a FIFO and get one packet per turn; a popped
 * rx chain that could not be used is held for the next packet.
 *
 * Credit: we advertise VSOCK_CONN_BUF per connection and count what we forwarded to the host
 * socket (fwd_cnt); guest data the socket cannot take yet is buffered (at most our credit).
 * Towards the guest we send at most peer_buf_alloc - (tx_cnt - peer_fwd_cnt) bytes.
 *
 * Threads: everything runs on the event loop (kicks, socket events, timers) under the device
 * lock, except a reset, which may come from a vCPU: it moves every connection to a zombie
 * list that the loop thread frees (closing sockets and removing their handlers).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>
#include <linux/vm_sockets.h>
#include "backends/uds.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/vsock_int.h"

/* A decoded packet header. */
struct pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
	uint16_t type, op;
};

static struct vsock *to_vs(struct virtio_dev *dev)
{
	return container_of(dev, struct vsock, vdev);
}

/* ---- rx: packets to the guest ---- */

static void hdr_make(struct virtio_vsock_hdr *h, const struct vsock *vs, uint32_t src_port,
		     uint32_t dst_port, uint16_t op, uint32_t len, uint32_t flags,
		     const struct vconn *c)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = htole64(VMADDR_CID_HOST);
	h->dst_cid = htole64(vs->cid);
	h->src_port = htole32(src_port);
	h->dst_port = htole32(dst_port);
	h->len = htole32(len);
	h->type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
	h->op = htole16(op);
	h->flags = htole32(flags);
	h->buf_alloc = htole32(c ? VSOCK_CONN_BUF : 0);
	h->fwd_cnt = htole32(c ? c->fwd_cnt : 0);
}

/* Make sure we hold an rx chain with room for a header. Returns false when none (or the
 * device failed). */
static bool rx_chain_get(struct vsock *vs)
{
	struct virtqueue *vq = &vs->vdev.queues[Q_RX];
	if (vs->rx_held)
		return true;
	vs->rx_chain.iov = vs->rx_iov;
	vs->rx_chain.cap = VSOCK_CHAIN_CAP;
	if (!vq->ready || vq_pop(vq, &vs->rx_chain) <= 0)
		return false;
	if (vs->rx_chain.in_len < HDR_LEN) {
		virtio_dev_fail(
		    &vs->vdev, "queue 0: rx buffer of %u writable bytes (a packet header needs %u)",
		    vs->rx_chain.in_len, HDR_LEN);
		return false;
	}
	vs->rx_held = true;
	return true;
}

static void rx_send(struct vsock *vs, const struct virtio_vsock_hdr *h, uint32_t len)
{
	struct vq_cursor w;
	vq_writer_init(&w, &vs->rx_chain);
	if (vq_write_obj(&w, h) < 0)
		return; /* cannot happen: checked in rx_chain_get */
	vq_push(&vs->vdev.queues[Q_RX], vs->rx_chain.head, HDR_LEN + len);
	vs->rx_held = false;
}

static void rx_ctl(struct vsock *vs, struct vconn *c, uint16_t op, uint32_t flags)
{
	struct virtio_vsock_hdr h;
	hdr_make(&h, vs, c->local_port, c->peer_port, op, 0, flags, c);
	c->fwd_reported = c->fwd_cnt;
	rx_send(vs, &h, 0);
}

static uint32_t peer_credit(const struct vconn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;
	return inflight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - inflight;
}

/* One data packet from the host socket. Returns 1 sent, 0 nothing to send now, -1 closed. */
static int rx_data(struct vsock *vs, struct vconn *c)
{
	uint32_t credit = peer_credit(c);
	if (!credit) {
		if (!c->credit_req_sent) {
			c->credit_req_sent = true;
			vs->info.credit_requests++;
			vsk_conn_queue(c, P_CREDIT_REQUEST);
		}
		return 0;
	}
	struct vq_cursor w;
	uint32_t nr;
	vq_writer_init(&w, &vs->rx_chain);
	uint32_t room = vq_cursor_remaining(&w) - HDR_LEN;
	uint32_t want = MIN(MIN(credit, room), MAX_PKT);
	if (!want)
		return 0;
	if (vq_cursor_skip(&w, HDR_LEN) < 0 ||
	    vq_cursor_iov(&w, want, vs->data_iov, VSOCK_CHAIN_CAP, &nr) < 0)
		return 0;
	ssize_t n;
	do
		n = readv(c->fd, vs->data_iov, (int)nr);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		c->readable = false;
		return 0;
	}
	if (n < 0) {
		vsk_conn_reset(c, "rx: socket read failed");
		return -1;
	}
	if (n == 0) { /* the host side will not send more */
		c->host_eof = true;
		c->readable = false;
		if (!c->sent_shut_send) {
			c->sent_shut_send = true;
			c->shut_flags = VIRTIO_VSOCK_SHUTDOWN_SEND |
					(c->host_hup ? VIRTIO_VSOCK_SHUTDOWN_RCV : 0);
			if (c->host_hup)
				vsk_set_deadline(c);
			vsk_conn_queue(c, P_SHUTDOWN);
		}
		return 0;
	}
	struct virtio_vsock_hdr h;
	hdr_make(&h, vs, c->local_port, c->peer_port, VIRTIO_VSOCK_OP_RW, (uint32_t)n, 0, c);
	c->fwd_reported = c->fwd_cnt;
	c->tx_cnt += (uint32_t)n;
	vs->info.bytes_to_guest += (uint64_t)n;
	rx_send(vs, &h, (uint32_t)n);
	return 1;
}

static bool wants_data(const struct vconn *c)
{
	return c->state == CS_ESTABLISHED && c->readable && !c->host_eof && !c->guest_shut_rcv;
}

static void rx_orphan_rst(struct vsock *vs)
{
	struct orphan_rst o = vs->orphans[--vs->nr_orphans];
	struct virtio_vsock_hdr h;
	hdr_make(&h, vs, o.src_port, o.dst_port, VIRTIO_VSOCK_OP_RST, 0, 0, NULL);
	rx_send(vs, &h, 0);
}

/* The lowest pending control packet of c (REQUEST before ... SHUTDOWN) into the held chain. */
static void rx_ctl_next(struct vsock *vs, struct vconn *c)
{
	uint32_t bit = c->pending & -c->pending;
	c->pending &= ~bit;
	switch (bit) {
	case P_REQUEST:
		rx_ctl(vs, c, VIRTIO_VSOCK_OP_REQUEST, 0);
		break;
	case P_RESPONSE:
		rx_ctl(vs, c, VIRTIO_VSOCK_OP_RESPONSE, 0);
		break;
	case P_CREDIT_UPDATE:
		rx_ctl(vs, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
		break;
	case P_CREDIT_REQUEST:
		rx_ctl(vs, c, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0);
		break;
	case P_SHUTDOWN:
		rx_ctl(vs, c, VIRTIO_VSOCK_OP_SHUTDOWN, c->shut_flags);
		break;
	default:
		break;
	}
}

void vsk_rx_pump(struct vsock *vs)
{
	struct virtio_dev *dev = &vs->vdev;
	bool pushed = false;

	if (dev->failed) /* the queues' readiness is checked by rx_chain_get */
		return;
	/* Control first: resets, then every connection's pending REQUEST/RESPONSE/credit/
	 * SHUTDOWN, ahead of any data. A guest's connect() gives up after 2 s by default, and a
	 * RESPONSE must not wait behind other connections' data. */
	while (vs->nr_orphans && rx_chain_get(vs)) {
		rx_orphan_rst(vs);
		pushed = true;
	}
	for (struct vconn *c = vs->rx_head; c && !vs->nr_orphans; c = c->rx_next) {
		while (c->pending && rx_chain_get(vs)) {
			rx_ctl_next(vs, c);
			pushed = true;
		}
		if (c->pending)
			break; /* out of rx buffers */
	}
	/* Data: connections take turns, one packet each (resets made meanwhile go first). */
	while (vs->nr_orphans || vs->rx_head) {
		if (!rx_chain_get(vs)) {
			vs->info.rx_starved++;
			break;
		}
		if (vs->nr_orphans) {
			rx_orphan_rst(vs);
			pushed = true;
			continue;
		}
		struct vconn *c = vsk_rx_dequeue(vs);
		if (c->pending) { /* queued by rx_data below during this pass */
			rx_ctl_next(vs, c);
			pushed = true;
			if (c->pending || wants_data(c))
				vsk_rx_enqueue(c);
			continue;
		}
		if (!wants_data(c))
			continue;
		int r = rx_data(vs, c);
		if (r > 0) {
			pushed = true;
			vsk_rx_enqueue(c); /* more next turn: connections take turns */
		} else if (r == 0 && c->pending) {
			vsk_rx_enqueue(c);
		}
	}
	if (pushed)
		virtio_notify_queue(dev, Q_RX);
}

/* ---- tx: packets from the guest ---- */

static void pkt_decode(const struct virtio_vsock_hdr *h, struct pkt *p)
{
	p->src_cid = le64toh(h->src_cid);
	p->dst_cid = le64toh(h->dst_cid);
	p->src_port = le32toh(h->src_port);
	p->dst_port = le32toh(h->dst_port);
	p->len = le32toh(h->len);
	p->type = le16toh(h->type);
	p->op = le16toh(h->op);
	p->flags = le32toh(h->flags);
	p->buf_alloc = le32toh(h->buf_alloc);
	p->fwd_cnt = le32toh(h->fwd_cnt);
}

static void reply_rst(struct vsock *vs, const struct pkt *p)
{
	if (p->op == VIRTIO_VSOCK_OP_RST)
		return;
	vsk_orphan_rst(vs, p->dst_port, p->src_port);
	vs->info.rst_sent++;
}

/* The guest connects to host port p->dst_port: connect to "<uds>_<port>". */
static void guest_connect(struct vsock *vs, const struct pkt *p)
{
	char path[128];
	int fd, r;

	if (vs->nconns >= VSOCK_MAX_CONNS) {
		reply_rst(vs, p);
		return;
	}
	snprintf(path, sizeof(path), "%s_%u", vs->uds, p->dst_port);
	r = uds_connect(path, &fd);
	if (r < 0) {
		log_debug("%s: guest port %u -> %s: %s", vs->vdev.name, p->src_port, path,
			  strerror(-r));
		reply_rst(vs, p);
		return;
	}
	struct vconn *c = vsk_conn_new(vs, fd, CS_ESTABLISHED);
	if (!c) {
		close(fd);
		reply_rst(vs, p);
		return;
	}
	vsk_conn_key(c, p->dst_port, p->src_port);
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	vs->info.conns_total++;
	vsk_conn_queue(c, P_RESPONSE);
}

static void handle_pkt(struct vsock *vs, const struct pkt *p, struct vq_cursor *payload)
{
	if (p->src_cid != vs->cid || p->dst_cid != VMADDR_CID_HOST ||
	    p->type != VIRTIO_VSOCK_TYPE_STREAM) {
		log_rl(LOG_WARN,
		       "%s: packet %llu:%u -> %llu:%u type %u: not a stream to the host; reset",
		       vs->vdev.name, (unsigned long long)p->src_cid, p->src_port,
		       (unsigned long long)p->dst_cid, p->dst_port, p->type);
		reply_rst(vs, p);
		return;
	}
	struct vconn *c = vsk_conn_find(vs, p->dst_port, p->src_port);
	if (p->op == VIRTIO_VSOCK_OP_REQUEST) {
		if (c) { /* a second REQUEST for a live connection: both are gone */
			vsk_conn_reset(c, "second REQUEST");
			return;
		}
		guest_connect(vs, p);
		return;
	}
	if (!c) {
		reply_rst(vs, p);
		return;
	}
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	if (peer_credit(c))
		c->credit_req_sent = false;
	switch (p->op) {
	case VIRTIO_VSOCK_OP_RESPONSE: {
		char ok[32];
		if (c->state != CS_HOST_REQ || (c->pending & P_REQUEST)) {
			vsk_conn_reset(c, "RESPONSE in a wrong state");
			return;
		}
		int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
		if (send(c->fd, ok, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
			vsk_conn_reset(c, "cannot write OK line");
			return;
		}
		c->state = CS_ESTABLISHED;
		c->deadline_ns = 0;
		vs->info.conns_total++;
		if (c->readable)
			vsk_rx_enqueue(c);
		break;
	}
	case VIRTIO_VSOCK_OP_RST:
		log_debug("%s: port %u: reset by the guest", vs->vdev.name, c->local_port);
		vsk_conn_close(c);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (p->flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->guest_shut_send = true;
		if (p->flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
			c->guest_shut_rcv = true;
		if (c->state != CS_ESTABLISHED) {
			vsk_conn_reset(c, "SHUTDOWN before established");
			return;
		}
		if (vsk_maybe_finish(c))
			return;
		if (c->buf_len == 0)
			vsk_after_drain(c);
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != CS_ESTABLISHED || c->guest_shut_send) {
			vsk_conn_reset(c, "data before established or after SHUTDOWN SEND");
			return;
		}
		if (!vsk_conn_deliver(c, payload, p->len))
			return;
		break; /* its header may have given us credit: send what waits */
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		vsk_conn_queue(c, P_CREDIT_UPDATE);
		break;
	default:
		vsk_conn_reset(c, "unknown op");
		return;
	}
	if (wants_data(c))
		vsk_rx_enqueue(c);
}

static void process_tx(struct vsock *vs)
{
	struct virtio_dev *dev = &vs->vdev;
	struct virtqueue *vq = &dev->queues[Q_TX];
	struct vq_chain ch = {.iov = vs->tx_iov, .cap = VSOCK_CHAIN_CAP};
	bool pushed = false;

	while (vq_pop(vq, &ch) > 0) {
		struct virtio_vsock_hdr raw;
		struct vq_cursor r;
		struct pkt p;
		vq_reader_init(&r, &ch);
		if (vq_read_obj(&r, &raw) < 0) {
			virtio_dev_fail(dev, "queue 1: packet of %u bytes, shorter than its header",
					ch.out_len);
			return;
		}
		pkt_decode(&raw, &p);
		if (p.len > vq_cursor_remaining(&r)) {
			virtio_dev_fail(dev,
					"queue 1: packet header says %u bytes, the buffer holds %u",
					p.len, vq_cursor_remaining(&r));
			return;
		}
		handle_pkt(vs, &p, &r);
		vq_push(vq, ch.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(dev, Q_TX);
}

/* ---- housekeeping ---- */
/* ---- virtio ops ---- */

static void vsock_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vsock *vs = to_vs(dev);
	if (q == Q_TX)
		process_tx(vs);
	vsk_rx_pump(vs);
}

static int watch(struct vsock *vs, int *fd, int newfd, ev_cb_fn cb, struct ev_handler **h)
{
	if (newfd < 0)
		return -errno;
	*fd = newfd;
	return ev_add(vs->loop, newfd, EPOLLIN, cb, vs, h);
}

/* Handlers are added once and live until the device is destroyed. */
static int vsock_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vsock *vs = to_vs(dev);
	int r;

	if (!vs->loop && ctx->loop) {
		vs->loop = ctx->loop;
		if ((r = ev_add(vs->loop, vs->listen_fd, EPOLLIN, vsk_listen_cb, vs,
				&vs->listen_h)) < 0 ||
		    (r = watch(vs, &vs->reap_fd, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
			       vsk_reap_cb, &vs->reap_h)) < 0 ||
		    (r = watch(vs, &vs->timer_fd,
			       timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
			       vsk_timer_cb, &vs->timer_h)) < 0)
			return r;
	}
	/* Packets queued before DRIVER_OK (their kick found no live device). */
	if (ctx->queues[Q_TX].ready)
		process_tx(vs);
	vsk_rx_pump(vs);
	return 0;
}

/* Any thread: every connection becomes a zombie for the loop thread to free. */
/* Nothing of this device runs outside the loop thread: the reset is complete at once. */
static int vsock_reset(struct virtio_dev *dev, bool wait)
{
	(void)wait;
	struct vsock *vs = to_vs(dev);
	while (vs->all) {
		struct vconn *c = vs->all;
		vs->all = c->next;
		c->zombie = true;
		c->next = vs->zombies;
		vs->zombies = c;
	}
	memset(vs->buckets, 0, sizeof(vs->buckets));
	vs->rx_head = vs->rx_tail = NULL;
	vs->nconns = 0;
	vs->nr_orphans = 0;
	vs->rx_held = false;
	if (vs->zombies) {
		uint64_t one = 1;
		if (vs->reap_fd < 0 || write(vs->reap_fd, &one, sizeof(one)) < 0) {
			/* no loop yet (tests): freed at destroy */
		}
	}
	return 0;
}

static void vsock_destroy(struct virtio_dev *dev)
{
	struct vsock *vs = to_vs(dev);
	/* After the loop stopped (or on its thread): handlers can go now. */
	while (vs->zombies) {
		struct vconn *c = vs->zombies;
		vs->zombies = c->next;
		vsk_conn_free(c);
	}
	if (vs->listen_h)
		ev_del(vs->loop, vs->listen_h);
	if (vs->reap_h)
		ev_del(vs->loop, vs->reap_h);
	if (vs->timer_h)
		ev_del(vs->loop, vs->timer_h);
	if (vs->reap_fd >= 0)
		close(vs->reap_fd);
	if (vs->timer_fd >= 0)
		close(vs->timer_fd);
	if (vs->listen_fd >= 0) {
		close(vs->listen_fd);
		unlink(vs->uds);
	}
	free(vs->uds);
	free(vs);
}

/* vm.counters (under the device lock, which is recursive) */
static void vsock_counters(struct virtio_dev *dev,
			   void (*emit)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	struct vsock_info i;
	vsock_get_info(dev, &i);
	emit(ctx, "conns", i.conns);
	emit(ctx, "conns_total", i.conns_total);
	emit(ctx, "rst_sent", i.rst_sent);
	emit(ctx, "bytes_to_guest", i.bytes_to_guest);
	emit(ctx, "bytes_from_guest", i.bytes_from_guest);
	emit(ctx, "credit_requests", i.credit_requests);
	emit(ctx, "rx_starved", i.rx_starved);
	emit(ctx, "conns_no_credit", i.conns_no_credit);
	emit(ctx, "conns_rx_queued", i.conns_rx_queued);
	emit(ctx, "bytes_to_guest_unacked", i.bytes_to_guest_unacked);
	emit(ctx, "bytes_buffered", i.bytes_buffered);
}

static const struct virtio_dev_ops vsock_ops = {
    .counters = vsock_counters,
    .activate = vsock_activate,
    .reset = vsock_reset,
    .queue_notify = vsock_queue_notify,
    .destroy = vsock_destroy,
};

int vsock_create(const struct vsock_config *cfg, const char *name, struct virtio_dev **out,
		 char *err, size_t errlen)
{
	if (cfg->cid < 3 || cfg->cid >= VMADDR_CID_ANY || !cfg->uds || !*cfg->uds) {
		snprintf(err, errlen, "--vsock: needs cid=3..%u and socket=PATH",
			 VMADDR_CID_ANY - 1);
		return -EINVAL;
	}
	/* "PATH_4294967295" must fit in sockaddr_un.sun_path (108 bytes with the NUL). */
	if (strlen(cfg->uds) > 107 - 11) {
		snprintf(err, errlen,
			 "--vsock socket=%s: longer than 96 bytes (PATH_<port> must fit a "
			 "unix socket address)",
			 cfg->uds);
		return -ENAMETOOLONG;
	}
	struct vsock *vs = calloc(1, sizeof(*vs));
	if (!vs || !(vs->uds = strdup(cfg->uds))) {
		free(vs);
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	vs->cid = cfg->cid;
	vs->reap_fd = vs->timer_fd = -1;
	vs->cfg.guest_cid = htole64(cfg->cid);
	int r = uds_listen(cfg->uds, 128, &vs->listen_fd);
	if (r < 0) {
		snprintf(err, errlen, "--vsock socket=%s: %s", cfg->uds,
			 r == -EEXIST	    ? "exists and is not a socket"
			 : r == -EADDRINUSE ? "in use by another process"
					    : strerror(-r));
		free(vs->uds);
		free(vs);
		return r;
	}
	r = virtio_dev_init(&vs->vdev, &vsock_ops, name, VIRTIO_ID_VSOCK, 0, 3, VSOCK_QUEUE_SIZE,
			    &vs->cfg, sizeof(vs->cfg));
	if (r < 0) {
		close(vs->listen_fd);
		unlink(vs->uds);
		free(vs->uds);
		free(vs);
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
		return r;
	}
	*out = &vs->vdev;
	return 0;
}

void vsock_get_info(struct virtio_dev *dev, struct vsock_info *out)
{
	struct vsock *vs = to_vs(dev);
	virtio_dev_lock(dev);
	*out = vs->info;
	out->conns = vs->nconns;
	out->conns_no_credit = out->conns_rx_queued = 0;
	out->bytes_to_guest_unacked = out->bytes_buffered = 0;
	for (const struct vconn *c = vs->all; c; c = c->next) {
		if (c->state == CS_ESTABLISHED && !peer_credit(c))
			out->conns_no_credit++;
		out->conns_rx_queued += c->queued;
		out->bytes_to_guest_unacked += c->tx_cnt - c->peer_fwd_cnt;
		out->bytes_buffered += c->buf_len;
	}
	virtio_dev_unlock(dev);
}
