/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock's host side (see devices/virtio/vsock.h): the connection table, the unix
 * sockets behind the connections, the listening socket with its "CONNECT <port>" handshake,
 * credit towards the guest, and housekeeping (deadlines, freeing connections after a reset).
 * The packets themselves are devices/virtio/vsock.c's.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/vsock_int.h"

static void conn_io_cb(void *opaque, uint32_t events);

/* ---- connection table ---- */

static unsigned bucket(uint32_t local, uint32_t peer)
{
	return (local * 2654435761u ^ peer * 40503u) % NR_BUCKETS;
}

struct vconn *vsk_conn_find(struct vsock *vs, uint32_t local, uint32_t peer)
{
	for (struct vconn *c = vs->buckets[bucket(local, peer)]; c; c = c->hnext)
		if (c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

void vsk_conn_key(struct vconn *c, uint32_t local, uint32_t peer)
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

void vsk_rx_enqueue(struct vconn *c)
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

struct vconn *vsk_rx_dequeue(struct vsock *vs)
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

void vsk_conn_queue(struct vconn *c, uint32_t what)
{
	c->pending |= what;
	vsk_rx_enqueue(c);
}

void vsk_orphan_rst(struct vsock *vs, uint32_t src_port, uint32_t dst_port)
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

void vsk_set_deadline(struct vconn *c)
{
	c->deadline_ns = time_now_ns() + DEADLINE_NS;
	arm_timer(c->vs);
}

/* ---- host socket I/O ---- */

struct vconn *vsk_conn_new(struct vsock *vs, int fd, enum conn_state st)
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

void vsk_conn_free(struct vconn *c)
{
	if (c->h)
		ev_del(c->vs->loop, c->h);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

/* Forget the connection now (loop thread). */
void vsk_conn_close(struct vconn *c)
{
	rx_unlink(c);
	conn_unkey(c);
	conn_unlist(c);
	vsk_conn_free(c);
}

/* Reset the connection: RST to the guest (when it knows it), then close. */
void vsk_conn_reset(struct vconn *c, const char *why)
{
	struct vsock *vs = c->vs;
	log_debug("%s: port %u (guest port %u): reset: %s", vs->vdev.name, c->local_port,
		  c->peer_port, why);
	if (c->state != CS_HOST_LINE) {
		vsk_orphan_rst(vs, c->local_port, c->peer_port);
		vs->info.rst_sent++;
	}
	vsk_conn_close(c);
}

/* Credit we have left for the guest, as the guest sees it, is small: tell it what we did. */
static void maybe_credit_update(struct vconn *c)
{
	if (c->fwd_cnt != c->fwd_reported && c->rx_cnt - c->fwd_reported > VSOCK_CONN_BUF / 2)
		vsk_conn_queue(c, P_CREDIT_UPDATE);
}

/* The guest has shut both directions and everything it sent reached the socket: done. */
bool vsk_maybe_finish(struct vconn *c)
{
	if (c->guest_shut_send && c->guest_shut_rcv && c->buf_len == 0) {
		vsk_conn_reset(c, "the guest shut down, all data delivered");
		return true;
	}
	return false;
}

void vsk_after_drain(struct vconn *c)
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
			vsk_conn_reset(c, "socket write failed");
			return false;
		}
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_CONN_BUF;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	free(c->buf);
	c->buf = NULL;
	c->buf_head = 0;
	vsk_after_drain(c);
	return !vsk_maybe_finish(c);
}

/* Guest payload for the host socket. Returns false when the connection was reset. */
bool vsk_conn_deliver(struct vconn *c, struct vq_cursor *r, uint32_t len)
{
	struct vsock *vs = c->vs;
	if (len > VSOCK_CONN_BUF - (c->rx_cnt - c->fwd_cnt)) {
		log_rl(LOG_WARN, "%s: port %u: guest sent %u bytes beyond its credit; reset",
		       vs->vdev.name, c->local_port, len);
		vsk_conn_reset(c, "beyond the credit");
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
				vsk_conn_reset(c, "socket write failed");
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
			vsk_conn_reset(c, "out of memory");
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
		vsk_after_drain(c);
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
		if (!vsk_conn_find(vs, p, peer))
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
		vsk_conn_close(c); /* EOF, error or an overlong line */
		return false;
	}
	size_t len = (size_t)(nl - buf);
	if (recv(c->fd, buf, len + 1, MSG_DONTWAIT) != (ssize_t)(len + 1) ||
	    vsock_parse_connect(buf, len > 0 && buf[len - 1] == '\r' ? len - 1 : len, &port) < 0) {
		log_rl(LOG_WARN, "%s: host connection: expected \"CONNECT <port>\\n\"; closed",
		       vs->vdev.name);
		vsk_conn_close(c);
		return false;
	}
	uint32_t local = alloc_host_port(vs, port);
	if (!local) {
		vsk_conn_close(c);
		return false;
	}
	c->state = CS_HOST_REQ;
	c->peer_port = port;
	vsk_conn_key(c, local, port);
	vsk_set_deadline(c);
	vsk_conn_queue(c, P_REQUEST);
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
		vsk_rx_enqueue(c);
	}
out:
	vsk_rx_pump(vs);
	virtio_dev_unlock(dev);
}

void vsk_listen_cb(void *opaque, uint32_t events)
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
		    !vsk_conn_new(vs, fd, CS_HOST_LINE))
			close(fd);
	}
	virtio_dev_unlock(dev);
}

/* ---- housekeeping ---- */

void vsk_reap_cb(void *opaque, uint32_t events)
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
		vsk_conn_free(c);
	}
	virtio_dev_unlock(&vs->vdev);
}

void vsk_timer_cb(void *opaque, uint32_t events)
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
		vsk_conn_reset(c, "no answer from the guest");
	}
	if (!any) {
		struct itimerspec off = {0};
		if (timerfd_settime(vs->timer_fd, 0, &off, NULL) == 0)
			vs->timer_armed = false;
	}
	vsk_rx_pump(vs);
	virtio_dev_unlock(&vs->vdev);
}