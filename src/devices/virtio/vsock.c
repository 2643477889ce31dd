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
#include "devices/virtio/vsock.h"

#define Q_RX 0
#define Q_TX 1
#define VSOCK_QUEUE_SIZE 256u
#define VSOCK_CHAIN_CAP 64u
#define HDR_LEN ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define MAX_PKT (64u * 1024)	  /* payload we put in one rx packet at most */
#define LINE_MAX_LEN 64u	  /* "CONNECT <port>\n" */
#define DEADLINE_NS (10ULL * 1000000000ULL) /* guest answer to REQUEST / RST after SHUTDOWN */
#define HOST_PORT_BASE (1u << 30) /* local ports of host-initiated connections */
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
	CS_HOST_LINE,	/* host client connected; reading its CONNECT line */
	CS_HOST_REQ,	/* REQUEST on its way to the guest */
	CS_ESTABLISHED,
};

struct vconn {
	struct vsock *vs;
	int fd;
	struct ev_handler *h;
	enum conn_state state;
	uint32_t local_port, peer_port;
	bool keyed;	/* in the hash table */
	bool zombie;	/* the device was reset: freed on the loop thread */
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
	struct vconn *all;  /* every live connection */
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

static void rx_pump(struct vsock *vs);
static void conn_close(struct vconn *c);

/* ---- connection table ---- */

static unsigned bucket(uint32_t local, uint32_t peer)
{
	return (local * 2654435761u ^ peer * 40503u) % NR_BUCKETS;
}

static struct vconn *conn_find(struct vsock *vs, uint32_t local, uint32_t peer)
{
	for (struct vconn *c = vs->buckets[bucket(local, peer)]; c; c = c->hnext)
		if (c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

static void conn_key(struct vconn *c, uint32_t local, uint32_t peer)
{
	struct vsock *vs = c->vs;
	unsigned b = bucket(local, peer);
	c->local_port = local;
	c->peer_port = peer;
	c->hnext = vs->buckets[b];
	vs->buckets[b] = c;
	c->keyed = true;
}

static void conn_unkey(struct vconn *c)
{
	if (!c->keyed)
		return;
	struct vconn **pp = &c->vs->buckets[bucket(c->local_port, c->peer_port)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	c->keyed = false;
}

static void rx_enqueue(struct vconn *c)
{
	struct vsock *vs = c->vs;
	if (c->queued || c->zombie)
		return;
	c->queued = true;
	c->rx_next = NULL;
	if (vs->rx_tail)
		vs->rx_tail->rx_next = c;
	else
		vs->rx_head = c;
	vs->rx_tail = c;
}

static struct vconn *rx_dequeue(struct vsock *vs)
{
	struct vconn *c = vs->rx_head;
	if (!c)
		return NULL;
	vs->rx_head = c->rx_next;
	if (!vs->rx_head)
		vs->rx_tail = NULL;
	c->queued = false;
	return c;
}

static void rx_unlink(struct vconn *c)
{
	struct vsock *vs = c->vs;
	struct vconn *prev = NULL;
	if (!c->queued)
		return;
	for (struct vconn *p = vs->rx_head; p; prev = p, p = p->rx_next) {
		if (p != c)
			continue;
		if (prev)
			prev->rx_next = c->rx_next;
		else
			vs->rx_head = c->rx_next;
		if (vs->rx_tail == c)
			vs->rx_tail = prev;
		break;
	}
	c->queued = false;
}

static void conn_queue(struct vconn *c, uint32_t what)
{
	c->pending |= what;
	rx_enqueue(c);
}

static void orphan_rst(struct vsock *vs, uint32_t src_port, uint32_t dst_port)
{
	if (vs->nr_orphans < ORPHAN_RST_MAX)
		vs->orphans[vs->nr_orphans++] = (struct orphan_rst){src_port, dst_port};
}

static void arm_timer(struct vsock *vs)
{
	struct itimerspec its = {.it_value = {1, 0}, .it_interval = {1, 0}};
	if (vs->timer_fd < 0 || vs->timer_armed)
		return;
	if (timerfd_settime(vs->timer_fd, 0, &its, NULL) == 0)
		vs->timer_armed = true;
}

static void set_deadline(struct vconn *c)
{
	c->deadline_ns = time_now_ns() + DEADLINE_NS;
	arm_timer(c->vs);
}

/* ---- host socket I/O ---- */

static void conn_io_cb(void *opaque, uint32_t events);

static struct vconn *conn_new(struct vsock *vs, int fd, enum conn_state st)
{
	struct vconn *c = vs->loop ? calloc(1, sizeof(*c)) : NULL;
	if (!c)
		return NULL;
	c->vs = vs;
	c->fd = fd;
	c->state = st;
	if (ev_add(vs->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, conn_io_cb, c, &c->h) <
	    0) {
		free(c);
		return NULL;
	}
	c->next = vs->all;
	if (vs->all)
		vs->all->prev = c;
	vs->all = c;
	vs->nconns++;
	return c;
}

static void conn_unlist(struct vconn *c)
{
	struct vsock *vs = c->vs;
	if (c->prev)
		c->prev->next = c->next;
	else
		vs->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	vs->nconns--;
}

static void conn_free(struct vconn *c)
{
	if (c->h)
		ev_del(c->vs->loop, c->h);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

/* Forget the connection now (loop thread). */
static void conn_close(struct vconn *c)
{
	rx_unlink(c);
	conn_unkey(c);
	conn_unlist(c);
	conn_free(c);
}

/* Reset the connection: RST to the guest (when it knows it), then close. */
static void conn_reset(struct vconn *c)
{
	struct vsock *vs = c->vs;
	if (c->state != CS_HOST_LINE) {
		orphan_rst(vs, c->local_port, c->peer_port);
		vs->info.rst_sent++;
	}
	conn_close(c);
}

/* Credit we have left for the guest, as the guest sees it, is small: tell it what we did. */
static void maybe_credit_update(struct vconn *c)
{
	if (c->fwd_cnt != c->fwd_reported && c->rx_cnt - c->fwd_reported > VSOCK_CONN_BUF / 2)
		conn_queue(c, P_CREDIT_UPDATE);
}

/* The guest has shut both directions and everything it sent reached the socket: done. */
static bool maybe_finish(struct vconn *c)
{
	if (c->guest_shut_send && c->guest_shut_rcv && c->buf_len == 0) {
		conn_reset(c);
		return true;
	}
	return false;
}

static void after_drain(struct vconn *c)
{
	if (c->buf_len == 0 && c->guest_shut_send && !c->host_hup && !c->host_wr_shut) {
		c->host_wr_shut = true;
		shutdown(c->fd, SHUT_WR);
	}
	maybe_credit_update(c);
}

/* Write buffered guest data to the socket. Returns false when the connection was reset. */
static bool conn_drain(struct vconn *c)
{
	while (c->buf_len) {
		uint32_t first = MIN(c->buf_len, VSOCK_CONN_BUF - c->buf_head);
		ssize_t n = send(c->fd, c->buf + c->buf_head, first, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0) {
			conn_reset(c);
			return false;
		}
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_CONN_BUF;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	free(c->buf);
	c->buf = NULL;
	c->buf_head = 0;
	after_drain(c);
	return !maybe_finish(c);
}

/* Guest payload for the host socket. Returns false when the connection was reset. */
static bool conn_deliver(struct vconn *c, struct vq_cursor *r, uint32_t len)
{
	struct vsock *vs = c->vs;
	if (len > VSOCK_CONN_BUF - (c->rx_cnt - c->fwd_cnt)) {
		log_rl(LOG_WARN, "%s: port %u: guest sent %u bytes beyond its credit; reset",
		       vs->vdev.name, c->local_port, len);
		conn_reset(c);
		return false;
	}
	c->rx_cnt += len;
	vs->info.bytes_from_guest += len;
	if (c->buf_len == 0) {
		/* Straight from guest memory to the socket. */
		uint32_t nr;
		struct vq_cursor probe = *r;
		if (vq_cursor_iov(&probe, len, vs->data_iov, VSOCK_CHAIN_CAP, &nr) == 0) {
			struct msghdr mh = {.msg_iov = vs->data_iov, .msg_iovlen = nr};
			ssize_t n;
			do
				n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
			while (n < 0 && errno == EINTR);
			if (n < 0 && errno != EAGAIN) {
				conn_reset(c);
				return false;
			}
			if (n > 0) {
				c->fwd_cnt += (uint32_t)n;
				len -= (uint32_t)n;
				if (vq_cursor_skip(r, (size_t)n) < 0)
					len = 0;
			}
		}
	}
	if (len) {
		if (!c->buf && !(c->buf = malloc(VSOCK_CONN_BUF))) {
			conn_reset(c);
			return false;
		}
		while (len) {
			uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF;
			uint32_t n = MIN(len, VSOCK_CONN_BUF - tail);
			if (vq_cursor_read(r, c->buf + tail, n) < 0)
				break;
			c->buf_len += n;
			len -= n;
		}
	} else {
		after_drain(c);
	}
	return true;
}

/* ---- CONNECT line (host-initiated connections) ---- */

int vsock_parse_connect(const char *line, size_t len, uint32_t *port)
{
	static const char kw[] = "CONNECT ";
	uint64_t v = 0;
	size_t i = sizeof(kw) - 1;

	if (len <= i || memcmp(line, kw, i) != 0)
		return -EINVAL;
	for (; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(line[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*port = (uint32_t)v;
	return 0;
}

static uint32_t alloc_host_port(struct vsock *vs, uint32_t peer)
{
	for (unsigned tries = 0; tries < 4 * VSOCK_MAX_CONNS; tries++) {
		uint32_t p = HOST_PORT_BASE + (vs->next_host_port++ % (1u << 30));
		if (!conn_find(vs, p, peer))
			return p;
	}
	return 0;
}

/* Read the CONNECT line. Returns false when the connection was closed. */
static bool conn_read_line(struct vconn *c, bool rdhup)
{
	struct vsock *vs = c->vs;
	char buf[LINE_MAX_LEN];
	uint32_t port;
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->readable = false;
		return true;
	}
	char *nl = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;
	if (!nl) {
		if (n > 0 && (size_t)n < sizeof(buf) && !rdhup) {
			c->readable = false; /* wait for the rest of the line */
			return true;
		}
		conn_close(c); /* EOF, error or an overlong line */
		return false;
	}
	size_t len = (size_t)(nl - buf);
	if (recv(c->fd, buf, len + 1, MSG_DONTWAIT) != (ssize_t)(len + 1) ||
	    vsock_parse_connect(buf, len > 0 && buf[len - 1] == '\r' ? len - 1 : len, &port) < 0) {
		log_rl(LOG_WARN, "%s: host connection: expected \"CONNECT <port>\\n\"; closed",
		       vs->vdev.name);
		conn_close(c);
		return false;
	}
	uint32_t local = alloc_host_port(vs, port);
	if (!local) {
		conn_close(c);
		return false;
	}
	c->state = CS_HOST_REQ;
	c->peer_port = port;
	conn_key(c, local, port);
	set_deadline(c);
	conn_queue(c, P_REQUEST);
	return true;
}

static void conn_io_cb(void *opaque, uint32_t events)
{
	struct vconn *c = opaque;
	struct vsock *vs = c->vs;
	struct virtio_dev *dev = &vs->vdev;

	virtio_dev_lock(dev);
	if (c->zombie || !dev->active || dev->failed) {
		virtio_dev_unlock(dev);
		return;
	}
	if (events & EPOLLHUP)
		c->host_hup = true;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->readable = true;
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->buf_len && !conn_drain(c))
		goto out;
	if (c->state == CS_HOST_LINE) {
		if (c->readable)
			conn_read_line(c, events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
	} else if (c->readable && c->state == CS_ESTABLISHED) {
		rx_enqueue(c);
	}
out:
	rx_pump(vs);
	virtio_dev_unlock(dev);
}

static void listen_cb(void *opaque, uint32_t events)
{
	struct vsock *vs = opaque;
	struct virtio_dev *dev = &vs->vdev;
	(void)events;

	virtio_dev_lock(dev);
	for (;;) {
		int fd = accept4(vs->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_rl(LOG_WARN, "%s: accept on %s: %s", dev->name, vs->uds,
				       strerror(errno));
			break;
		}
		/* No driver, or too many connections: the client sees its socket close. */
		if (!dev->active || dev->failed || vs->nconns >= VSOCK_MAX_CONNS ||
		    !conn_new(vs, fd, CS_HOST_LINE))
			close(fd);
	}
	virtio_dev_unlock(dev);
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
		virtio_dev_fail(&vs->vdev, "queue 0: rx buffer of %u writable bytes (a packet header needs %u)",
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
			conn_queue(c, P_CREDIT_REQUEST);
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
		conn_reset(c);
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
				set_deadline(c);
			conn_queue(c, P_SHUTDOWN);
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

static void rx_pump(struct vsock *vs)
{
	struct virtio_dev *dev = &vs->vdev;
	bool pushed = false;

	if (dev->failed) /* the queues' readiness is checked by rx_chain_get */
		return;
	while (vs->nr_orphans || vs->rx_head) {
		if (!rx_chain_get(vs))
			break;
		if (vs->nr_orphans) {
			struct orphan_rst o = vs->orphans[--vs->nr_orphans];
			struct virtio_vsock_hdr h;
			hdr_make(&h, vs, o.src_port, o.dst_port, VIRTIO_VSOCK_OP_RST, 0, 0, NULL);
			rx_send(vs, &h, 0);
			pushed = true;
			continue;
		}
		struct vconn *c = rx_dequeue(vs);
		uint32_t p = c->pending;
		if (p) {
			uint32_t bit = p & -p; /* lowest first: REQUEST before ... RST */
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
			pushed = true;
			if (c->pending || wants_data(c))
				rx_enqueue(c);
			continue;
		}
		if (!wants_data(c))
			continue;
		int r = rx_data(vs, c);
		if (r > 0) {
			pushed = true;
			rx_enqueue(c); /* more next turn: connections take turns */
		} else if (r == 0 && c->pending) {
			rx_enqueue(c);
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
	orphan_rst(vs, p->dst_port, p->src_port);
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
	struct vconn *c = conn_new(vs, fd, CS_ESTABLISHED);
	if (!c) {
		close(fd);
		reply_rst(vs, p);
		return;
	}
	conn_key(c, p->dst_port, p->src_port);
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	vs->info.conns_total++;
	conn_queue(c, P_RESPONSE);
}

static void handle_pkt(struct vsock *vs, const struct pkt *p, struct vq_cursor *payload)
{
	if (p->src_cid != vs->cid || p->dst_cid != VMADDR_CID_HOST ||
	    p->type != VIRTIO_VSOCK_TYPE_STREAM) {
		log_rl(LOG_WARN, "%s: packet %llu:%u -> %llu:%u type %u: not a stream to the host; reset",
		       vs->vdev.name, (unsigned long long)p->src_cid, p->src_port,
		       (unsigned long long)p->dst_cid, p->dst_port, p->type);
		reply_rst(vs, p);
		return;
	}
	struct vconn *c = conn_find(vs, p->dst_port, p->src_port);
	if (p->op == VIRTIO_VSOCK_OP_REQUEST) {
		if (c) { /* a second REQUEST for a live connection: both are gone */
			conn_reset(c);
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
			conn_reset(c);
			return;
		}
		int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
		if (send(c->fd, ok, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
			conn_reset(c);
			return;
		}
		c->state = CS_ESTABLISHED;
		c->deadline_ns = 0;
		vs->info.conns_total++;
		if (c->readable)
			rx_enqueue(c);
		break;
	}
	case VIRTIO_VSOCK_OP_RST:
		conn_close(c);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (p->flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->guest_shut_send = true;
		if (p->flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
			c->guest_shut_rcv = true;
		if (c->state != CS_ESTABLISHED) {
			conn_reset(c);
			return;
		}
		if (!maybe_finish(c) && c->buf_len == 0)
			after_drain(c);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != CS_ESTABLISHED || c->guest_shut_send) {
			conn_reset(c);
			return;
		}
		conn_deliver(c, payload, p->len);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		conn_queue(c, P_CREDIT_UPDATE);
		break;
	default:
		conn_reset(c);
		return;
	}
	if (wants_data(c))
		rx_enqueue(c);
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
			virtio_dev_fail(dev, "queue 1: packet header says %u bytes, the buffer holds %u",
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

static void reap_cb(void *opaque, uint32_t events)
{
	struct vsock *vs = opaque;
	uint64_t v;
	(void)events;
	if (read(vs->reap_fd, &v, sizeof(v)) < 0) {
		/* nothing to drain */
	}
	virtio_dev_lock(&vs->vdev);
	while (vs->zombies) {
		struct vconn *c = vs->zombies;
		vs->zombies = c->next;
		conn_free(c);
	}
	virtio_dev_unlock(&vs->vdev);
}

static void timer_cb(void *opaque, uint32_t events)
{
	struct vsock *vs = opaque;
	uint64_t now = time_now_ns(), v;
	bool any = false;
	(void)events;
	if (read(vs->timer_fd, &v, sizeof(v)) < 0) {
		/* spurious */
	}
	virtio_dev_lock(&vs->vdev);
	for (struct vconn *c = vs->all, *next; c; c = next) {
		next = c->next;
		if (!c->deadline_ns)
			continue;
		if (now < c->deadline_ns) {
			any = true;
			continue;
		}
		log_rl(LOG_INFO, "%s: port %u: no answer from the guest; reset", vs->vdev.name,
		       c->local_port);
		conn_reset(c);
	}
	if (!any) {
		struct itimerspec off = {0};
		if (timerfd_settime(vs->timer_fd, 0, &off, NULL) == 0)
			vs->timer_armed = false;
	}
	rx_pump(vs);
	virtio_dev_unlock(&vs->vdev);
}

/* ---- virtio ops ---- */

static void vsock_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vsock *vs = to_vs(dev);
	if (q == Q_TX)
		process_tx(vs);
	rx_pump(vs);
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
		if ((r = ev_add(vs->loop, vs->listen_fd, EPOLLIN, listen_cb, vs, &vs->listen_h)) <
			    0 ||
		    (r = watch(vs, &vs->reap_fd, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), reap_cb,
			       &vs->reap_h)) < 0 ||
		    (r = watch(vs, &vs->timer_fd,
			       timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
			       timer_cb, &vs->timer_h)) < 0)
			return r;
	}
	/* Packets queued before DRIVER_OK (their kick found no live device). */
	if (ctx->queues[Q_TX].ready)
		process_tx(vs);
	rx_pump(vs);
	return 0;
}

/* Any thread: every connection becomes a zombie for the loop thread to free. */
static void vsock_reset(struct virtio_dev *dev)
{
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
}

static void vsock_destroy(struct virtio_dev *dev)
{
	struct vsock *vs = to_vs(dev);
	/* After the loop stopped (or on its thread): handlers can go now. */
	while (vs->zombies) {
		struct vconn *c = vs->zombies;
		vs->zombies = c->next;
		conn_free(c);
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

static const struct virtio_dev_ops vsock_ops = {
	.activate = vsock_activate,
	.reset = vsock_reset,
	.queue_notify = vsock_queue_notify,
	.destroy = vsock_destroy,
};

int vsock_create(const struct vsock_config *cfg, const char *name, struct virtio_dev **out,
		 char *err, size_t errlen)
{
	if (cfg->cid < 3 || cfg->cid >= VMADDR_CID_ANY || !cfg->uds || !*cfg->uds) {
		snprintf(err, errlen, "--vsock: needs cid=3..%u and socket=PATH", VMADDR_CID_ANY - 1);
		return -EINVAL;
	}
	/* "PATH_4294967295" must fit in sockaddr_un.sun_path (108 bytes with the NUL). */
	if (strlen(cfg->uds) > 107 - 11) {
		snprintf(err, errlen, "--vsock socket=%s: longer than 96 bytes (PATH_<port> must fit a "
			 "unix socket address)", cfg->uds);
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
			 r == -EEXIST	     ? "exists and is not a socket"
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
	virtio_dev_unlock(dev);
}
