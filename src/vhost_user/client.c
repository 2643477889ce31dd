/* SPDX-License-Identifier: MIT */
/* The front-end end of a vhost-user connection (see client.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "vhost_user/client.h"

#define TIMEOUT_NS (VU_CLIENT_TIMEOUT_S * 1000000000ULL)

static void arm_timer(struct vu_client *c)
{
	if (c->timer_h && ev_timer_arm(c->timer_h, c->wait_n ? TIMEOUT_NS : 0, 0) < 0)
		log_warn("vhost-user %s: cannot arm the reply timer", c->path);
}

static void broken(struct vu_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void broken(struct vu_client *c, const char *fmt, ...)
{
	va_list ap;
	if (c->broken)
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	c->broken = true;
	if (c->sock_h)
		ev_del(c->loop, c->sock_h);
	c->sock_h = NULL;
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	c->wait_n = 0;
	arm_timer(c);
	if (c->ops && c->ops->broken)
		c->ops->broken(c->opaque, c->why);
}

void vu_client_send(struct vu_client *c, uint32_t req, const void *payload, uint32_t size,
		    const int *fds, unsigned nfds, enum vu_wait_kind kind, uint16_t queue,
		    struct vu_msg *out)
{
	struct vu_msg m;

	if (c->broken)
		return;
	if (kind == VU_W_ACK && !(c->protocol_features & (1ULL << VU_PROTOCOL_F_REPLY_ACK)))
		kind = VU_W_NONE;
	if (kind != VU_W_NONE && c->wait_n == VU_CLIENT_MAX_WAITS) {
		broken(c, "%u requests unanswered", c->wait_n);
		return;
	}
	if (size > VU_MAX_PAYLOAD) {
		broken(c, "%s: payload of %u bytes", vu_request_name(req), size);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION | (kind == VU_W_ACK ? VU_FLAG_NEED_REPLY : 0);
	m.hdr.size = size;
	if (size)
		memcpy(&m.p, payload, size);
	int r = vu_msg_send(c->sock, &m, fds, nfds);
	if (r < 0) {
		broken(c, "sending %s: %s", vu_request_name(req),
		       r == -EAGAIN ? "the back-end does not read" : strerror(-r));
		return;
	}
	if (kind == VU_W_NONE)
		return;
	c->waits[(c->wait_head + c->wait_n) % VU_CLIENT_MAX_WAITS] =
	    (struct vu_client_wait){req, kind, queue, out};
	if (c->wait_n++ == 0)
		arm_timer(c);
}

static void handle_reply(struct vu_client *c, const struct vu_msg *m)
{
	if (c->wait_n == 0) {
		broken(c, "unexpected %s message", vu_request_name(m->hdr.request));
		return;
	}
	struct vu_client_wait w = c->waits[c->wait_head];
	c->wait_head = (c->wait_head + 1) % VU_CLIENT_MAX_WAITS;
	c->wait_n--;
	arm_timer(c); /* progress: a new period for the rest, or off */
	if (m->hdr.request != w.request || !(m->hdr.flags & VU_FLAG_REPLY)) {
		broken(c, "got %s while waiting for the reply to %s",
		       vu_request_name(m->hdr.request), vu_request_name(w.request));
		return;
	}
	switch (w.kind) {
	case VU_W_ACK:
		if (m->hdr.size != 8) {
			broken(c, "%s: ack of %u bytes", vu_request_name(w.request), m->hdr.size);
			return;
		}
		if (m->p.u64 && c->ops && c->ops->refused)
			c->ops->refused(c->opaque, w.request);
		break;
	case VU_W_STOP:
		if (m->hdr.size != sizeof(struct vu_vring_state) || m->p.state.index != w.queue) {
			broken(c, "malformed GET_VRING_BASE reply");
			return;
		}
		if (c->ops && c->ops->ring_stopped)
			c->ops->ring_stopped(c->opaque, w.queue, (uint16_t)m->p.state.num);
		break;
	case VU_W_REPLY:
		*w.out = *m;
		break;
	case VU_W_NONE:
		break;
	}
}

/* Consume whatever replies have arrived. */
static void conn_read(struct vu_client *c)
{
	while (!c->broken) {
		int r = vu_msg_recv_nb(c->sock, &c->rx);
		if (r == -EAGAIN)
			return;
		for (unsigned i = 0; i < (r == 1 ? c->rx.nfds : 0); i++)
			close(c->rx.fds[i]); /* no reply here carries fds */
		if (r <= 0) {
			broken(c, "%s", r == 0 ? "closed the connection" : strerror(-r));
			return;
		}
		struct vu_msg m = c->rx.msg;
		c->rx.got = 0;
		c->rx.nfds = 0;
		handle_reply(c, &m);
	}
}

static void sock_cb(void *opaque, uint32_t events)
{
	struct vu_client *c = opaque;
	(void)events;
	virtio_dev_lock(c->dev);
	conn_read(c);
	virtio_dev_unlock(c->dev);
}

static void timer_cb(void *opaque, uint32_t events)
{
	struct vu_client *c = opaque;
	(void)events;
	virtio_dev_lock(c->dev);
	if (c->wait_n)
		broken(c, "no reply to %s within %d s",
		       vu_request_name(c->waits[c->wait_head].request), VU_CLIENT_TIMEOUT_S);
	virtio_dev_unlock(c->dev);
}

void vu_client_wait_all(struct vu_client *c)
{
	uint64_t deadline = time_now_ns() + TIMEOUT_NS;
	while (c->wait_n && !c->broken) {
		uint64_t now = time_now_ns();
		struct pollfd p = {c->sock, POLLIN, 0};
		int left = now < deadline ? (int)((deadline - now) / 1000000) + 1 : 0;
		int r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			broken(c, "no reply to %s within %d s",
			       vu_request_name(c->waits[c->wait_head].request),
			       VU_CLIENT_TIMEOUT_S);
			return;
		}
		conn_read(c);
	}
}

static int get_u64(struct vu_client *c, uint32_t req, uint64_t *v)
{
	struct vu_msg r;
	vu_client_send(c, req, NULL, 0, NULL, 0, VU_W_REPLY, 0, &r);
	vu_client_wait_all(c);
	if (c->broken)
		return -EIO;
	if (r.hdr.size != 8)
		return -EPROTO;
	*v = r.p.u64;
	return 0;
}

void vu_client_set_ops(struct vu_client *c, struct virtio_dev *dev, const struct vu_client_ops *ops,
		       void *opaque)
{
	c->dev = dev;
	c->ops = ops;
	c->opaque = opaque;
}

int vu_client_attach_loop(struct vu_client *c, struct ev_loop *loop)
{
	int r;
	if (c->loop || c->broken)
		return c->broken ? -ENOTCONN : 0;
	r = ev_add(loop, c->sock, EPOLLIN, sock_cb, c, &c->sock_h);
	if (r == 0)
		r = ev_timer_add(loop, TIMEOUT_NS, 0, timer_cb, c, &c->timer_h);
	c->loop = loop;
	if (r == 0 && (r = ev_timer_arm(c->timer_h, c->wait_n ? TIMEOUT_NS : 0, 0)) < 0)
		return r;
	return r;
}

void vu_client_close(struct vu_client *c)
{
	if (c->sock_h)
		ev_del(c->loop, c->sock_h);
	if (c->timer_h)
		ev_del(c->loop, c->timer_h);
	c->sock_h = c->timer_h = NULL;
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

int vu_client_open(struct vu_client *c, const char *path, uint64_t want_pf, char *err,
		   size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *what = "connect";
	int r;

	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->nr_queues = 1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long");
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0 || connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fcntl(c->sock, F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	what = "GET_FEATURES";
	if ((r = get_u64(c, VU_GET_FEATURES, &c->features)) < 0)
		goto fail;
	if (!(c->features & (1ULL << VIRTIO_F_VERSION_1))) {
		snprintf(err, errlen, "back-end is not a virtio 1.0 device");
		vu_client_close(c);
		return -ENOTSUP;
	}
	if (c->features & (1ULL << VU_F_PROTOCOL_FEATURES)) {
		uint64_t pf;
		what = "GET_PROTOCOL_FEATURES";
		if ((r = get_u64(c, VU_GET_PROTOCOL_FEATURES, &pf)) < 0)
			goto fail;
		c->protocol_features = pf & want_pf;
		vu_client_send(c, VU_SET_PROTOCOL_FEATURES, &c->protocol_features, 8, NULL, 0,
			       VU_W_NONE, 0, NULL);
	}
	what = "SET_OWNER";
	vu_client_send(c, VU_SET_OWNER, NULL, 0, NULL, 0, VU_W_NONE, 0, NULL);
	if (c->protocol_features & (1ULL << VU_PROTOCOL_F_MQ)) {
		what = "GET_QUEUE_NUM";
		if ((r = get_u64(c, VU_GET_QUEUE_NUM, &c->nr_queues)) < 0)
			goto fail;
	}
	if (c->broken) {
		r = -EIO;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", what, c->broken ? c->why : strerror(-r));
	vu_client_close(c);
	return r;
}

void vu_client_set_features(struct vu_client *c, uint64_t features)
{
	features |= c->features & (1ULL << VU_F_PROTOCOL_FEATURES);
	vu_client_send(c, VU_SET_FEATURES, &features, 8, NULL, 0, VU_W_ACK, 0, NULL);
}

int vu_client_set_mem_table(struct vu_client *c, const struct guest_mem *gm)
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
			return -E2BIG;
		t.regions[n] =
		    (struct vu_mem_region){r->gpa, r->size, (uint64_t)(uintptr_t)r->hva, r->fd_off};
		fds[n++] = r->fd;
	}
	if (n == 0)
		return -EINVAL;
	t.nregions = n;
	vu_client_send(c, VU_SET_MEM_TABLE, &t, (uint32_t)(8 + n * sizeof(struct vu_mem_region)),
		       fds, n, VU_W_ACK, 0, NULL);
	return 0;
}

static void set_state(struct vu_client *c, uint32_t req, uint32_t index, uint32_t num,
		      enum vu_wait_kind kind)
{
	struct vu_vring_state st = {index, num};
	vu_client_send(c, req, &st, sizeof(st), NULL, 0, kind, (uint16_t)index, NULL);
}

void vu_client_ring_enable(struct vu_client *c, uint16_t index, bool enable)
{
	if (c->features & (1ULL << VU_F_PROTOCOL_FEATURES))
		set_state(c, VU_SET_VRING_ENABLE, index, enable, VU_W_ACK);
}

void vu_client_ring_start(struct vu_client *c, const struct virtqueue *vq, int kick_fd, int call_fd,
			  bool enable)
{
	uint64_t idx = vq->index;
	struct vu_vring_addr a = {vq->index,
				  0,
				  (uint64_t)(uintptr_t)vq->desc_hva,
				  (uint64_t)(uintptr_t)vq->used_hva,
				  (uint64_t)(uintptr_t)vq->avail_hva,
				  0};
	set_state(c, VU_SET_VRING_NUM, vq->index, vq->size, VU_W_NONE);
	set_state(c, VU_SET_VRING_BASE, vq->index, vq->last_avail_idx, VU_W_NONE);
	vu_client_send(c, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, VU_W_NONE, 0, NULL);
	vu_client_send(c, VU_SET_VRING_CALL, &idx, 8, &call_fd, 1, VU_W_NONE, 0, NULL);
	vu_client_send(c, VU_SET_VRING_KICK, &idx, 8, &kick_fd, 1, VU_W_NONE, 0, NULL);
	vu_client_ring_enable(c, vq->index, enable);
}

void vu_client_ring_stop(struct vu_client *c, uint16_t index)
{
	set_state(c, VU_GET_VRING_BASE, index, 0, VU_W_STOP);
}
