/* SPDX-License-Identifier: MIT */
/* The vhost-user-gpu socket: display listener -> SCANOUT/UPDATE/CURSOR_* (see gpu_socket.h). */
#include <errno.h>
#include <endian.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "backends/display.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "config/config.h"
#include "devices/virtio/gpu.h"
#include "vhost_user/gpu_socket.h"

#define NS_PER_S 1000000000ull
#define RX_CAP (VU_GPU_HDR_SIZE + sizeof(struct virtio_gpu_resp_display_info))
#define TX_CAP (VU_GPU_HDR_SIZE + VU_GPU_UPDATE_HDR_SIZE + VU_GPU_MAX_UPDATE)
#define NR_COUNTED 16u
/* Protocol features this back-end uses (none: the device makes its own EDID, no DMA-BUF). */
#define VU_GPU_OUR_FEATURES 0ull

struct vu_gpu {
	struct display *display;
	struct virtio_dev *dev;
	struct ev_loop *loop;
	char name[32];
	bool fixed_size;
	struct display_listener *listener;
	struct ev_work flush;

	/* the socket (loop thread only) */
	int fd;
	struct ev_handler *fd_h;
	struct ev_handler *timer;
	bool want_out;
	uint32_t awaiting;    /* request whose reply is outstanding, 0: none */
	bool ready;	      /* handshake done: display messages may go */
	uint64_t deadline_ns; /* for the outstanding reply */
	uint64_t progress_ns; /* last time bytes went out while some were pending */
	uint8_t rx[RX_CAP];
	size_t rx_len;
	uint8_t *tx;
	size_t tx_len, tx_off;
	uint64_t sent[NR_COUNTED];

	/* what the display told us (under lock; callbacks come from any thread) */
	pthread_mutex_t lock;
	const uint8_t *fb;
	uint32_t w, h, stride;
	bool mode_dirty;
	struct display_rect damage; /* w == 0: none */
	bool cursor_dirty, pos_dirty, cursor_visible;
	uint32_t cursor_x, cursor_y;
	struct display_cursor cursor;
};

/* ---- wire format ---- */

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* the protocol is in the machine's byte order */
}

static size_t put_hdr(void *buf, uint32_t request, uint32_t size)
{
	uint8_t *p = buf;
	put32(p, request);
	put32(p + 4, 0);
	put32(p + 8, size);
	return VU_GPU_HDR_SIZE;
}

size_t vu_gpu_encode_empty(void *buf, uint32_t request)
{
	return put_hdr(buf, request, 0);
}

size_t vu_gpu_encode_u64(void *buf, uint32_t request, uint64_t v)
{
	size_t n = put_hdr(buf, request, 8);
	memcpy((uint8_t *)buf + n, &v, 8);
	return n + 8;
}

size_t vu_gpu_encode_3u32(void *buf, uint32_t request, uint32_t a, uint32_t b, uint32_t c)
{
	uint8_t *p = buf;
	size_t n = put_hdr(p, request, 12);
	put32(p + n, a);
	put32(p + n + 4, b);
	put32(p + n + 8, c);
	return n + 12;
}

static uint32_t reply_size(uint32_t request)
{
	switch (request) {
	case VU_GPU_GET_PROTOCOL_FEATURES:
		return 8;
	case VU_GPU_GET_DISPLAY_INFO:
		return sizeof(struct virtio_gpu_resp_display_info);
	default:
		return 0;
	}
}

int vu_gpu_parse_reply(const void *buf, size_t len, uint32_t expect, struct vu_gpu_reply *out,
		       char *why, size_t whylen)
{
	const uint8_t *p = buf;
	uint32_t want = reply_size(expect);
	uint32_t request, flags, size;

	if (!want) {
		snprintf(why, whylen, "no reply expected, got %zu bytes", len);
		return -EPROTO;
	}
	if (len < VU_GPU_HDR_SIZE)
		return 0;
	memcpy(&request, p, 4);
	memcpy(&flags, p + 4, 4);
	memcpy(&size, p + 8, 4);
	if (request != expect) {
		snprintf(why, whylen, "request %u where the reply to %u was due", request, expect);
		return -EPROTO;
	}
	if (!(flags & VU_GPU_FLAG_REPLY) || (flags & ~VU_GPU_FLAG_REPLY)) {
		snprintf(why, whylen, "reply to %u with flags 0x%x", request, flags);
		return -EPROTO;
	}
	if (size != want) {
		snprintf(why, whylen, "reply to %u of %u bytes, want %u", request, size, want);
		return -EBADMSG;
	}
	if (len < VU_GPU_HDR_SIZE + size)
		return 0;
	memset(out, 0, sizeof(*out));
	out->request = request;
	if (request == VU_GPU_GET_PROTOCOL_FEATURES) {
		memcpy(&out->u.features, p + VU_GPU_HDR_SIZE, 8);
	} else {
		memcpy(&out->u.info, p + VU_GPU_HDR_SIZE, sizeof(out->u.info));
		uint32_t type = le32toh(out->u.info.hdr.type);
		if (type != VIRTIO_GPU_RESP_OK_DISPLAY_INFO) {
			snprintf(why, whylen, "display info of type 0x%x", type);
			return -EBADMSG;
		}
	}
	return (int)(VU_GPU_HDR_SIZE + size);
}

/* ---- the socket ---- */

static void set_want_out(struct vu_gpu *g, bool want)
{
	if (g->want_out == want || !g->fd_h)
		return;
	if (ev_mod(g->loop, g->fd_h, EPOLLIN | (want ? EPOLLOUT : 0)) == 0)
		g->want_out = want;
}

static void drop(struct vu_gpu *g, const char *why)
{
	log_warn("%s: gpu socket: %s; dropping it", g->name, why);
	vu_gpu_detach(g);
}

/* Queue one message at the end of tx (room checked by the caller's sizes). */
static void tx_count(struct vu_gpu *g, const uint8_t *msg)
{
	uint32_t request;
	memcpy(&request, msg, 4);
	if (request < NR_COUNTED)
		g->sent[request]++;
}

static void tx_request(struct vu_gpu *g, uint32_t request, uint64_t *u64)
{
	uint8_t *m = g->tx + g->tx_len;
	g->tx_len += u64 ? vu_gpu_encode_u64(m, request, *u64) : vu_gpu_encode_empty(m, request);
	tx_count(g, m);
}

/* With tx empty and the lock held: encode the next display message. False: nothing to send. */
static bool build_next_locked(struct vu_gpu *g)
{
	uint8_t *m = g->tx;

	if (g->mode_dirty) {
		g->tx_len = vu_gpu_encode_3u32(m, VU_GPU_SCANOUT, 0, g->w, g->h);
		g->mode_dirty = false;
		g->damage = (struct display_rect){0, 0, g->w, g->h};
		return true;
	}
	if (g->cursor_dirty && g->cursor_visible) {
		size_t n = put_hdr(m, VU_GPU_CURSOR_UPDATE, VU_GPU_CURSOR_UPDATE_SIZE);
		uint32_t *px = (uint32_t *)(m + n + 20);
		put32(m + n, 0);
		put32(m + n + 4, g->cursor_x);
		put32(m + n + 8, g->cursor_y);
		put32(m + n + 12, g->cursor.hot_x);
		put32(m + n + 16, g->cursor.hot_y);
		memset(px, 0, VU_GPU_CURSOR_DIM * VU_GPU_CURSOR_DIM * 4);
		for (uint32_t y = 0; y < g->cursor.h && y < VU_GPU_CURSOR_DIM; y++)
			memcpy(px + y * VU_GPU_CURSOR_DIM,
			       g->cursor.pixels + y * DISPLAY_CURSOR_MAX,
			       MIN(g->cursor.w, VU_GPU_CURSOR_DIM) * 4);
		g->tx_len = n + VU_GPU_CURSOR_UPDATE_SIZE;
		g->cursor_dirty = g->pos_dirty = false;
		return true;
	}
	if (g->cursor_dirty || (g->pos_dirty && g->cursor_visible)) {
		uint32_t req = g->cursor_visible ? VU_GPU_CURSOR_POS : VU_GPU_CURSOR_POS_HIDE;
		g->tx_len = vu_gpu_encode_3u32(m, req, 0, g->cursor_x, g->cursor_y);
		g->cursor_dirty = g->pos_dirty = false;
		return true;
	}
	struct display_rect *d = &g->damage;
	if (!d->w || !d->h || !g->fb)
		return false;
	uint32_t row = d->w * 4;
	uint32_t rows = MIN(d->h, VU_GPU_MAX_UPDATE / row);
	uint32_t size = VU_GPU_UPDATE_HDR_SIZE + rows * row;
	size_t n = put_hdr(m, VU_GPU_UPDATE, size);
	put32(m + n, 0);
	put32(m + n + 4, d->x);
	put32(m + n + 8, d->y);
	put32(m + n + 12, d->w);
	put32(m + n + 16, rows);
	n += VU_GPU_UPDATE_HDR_SIZE;
	for (uint32_t y = 0; y < rows; y++)
		memcpy(m + n + (size_t)y * row, g->fb + (size_t)(d->y + y) * g->stride + d->x * 4u,
		       row);
	g->tx_len = n + (size_t)rows * row;
	log_debug("%s: gpu socket: UPDATE %u,%u %ux%u", g->name, d->x, d->y, d->w, rows);
	d->y += rows;
	d->h -= rows;
	if (!d->h)
		*d = (struct display_rect){0, 0, 0, 0};
	return true;
}

/* Send what is queued, then the next display messages, until the socket is full. */
static void pump(struct vu_gpu *g)
{
	while (g->fd >= 0) {
		if (g->tx_off == g->tx_len) {
			g->tx_off = g->tx_len = 0;
			if (!g->ready)
				break;
			pthread_mutex_lock(&g->lock);
			bool more = build_next_locked(g);
			pthread_mutex_unlock(&g->lock);
			if (!more)
				break;
			tx_count(g, g->tx);
		}
		ssize_t n = send(g->fd, g->tx + g->tx_off, g->tx_len - g->tx_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_want_out(g, true);
			return;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			log_info("%s: gpu socket: closed by the front-end", g->name);
			vu_gpu_detach(g);
			return;
		}
		if (n < 0) {
			char why[96];
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			drop(g, why);
			return;
		}
		g->tx_off += (size_t)n;
		g->progress_ns = time_now_ns();
	}
	set_want_out(g, false);
}

static void on_reply(struct vu_gpu *g, const struct vu_gpu_reply *r)
{
	if (r->request == VU_GPU_GET_PROTOCOL_FEATURES) {
		uint64_t use = r->u.features & VU_GPU_OUR_FEATURES;
		log_info("%s: gpu socket: front-end protocol features 0x%llx, using 0x%llx",
			 g->name, (unsigned long long)r->u.features, (unsigned long long)use);
		tx_request(g, VU_GPU_SET_PROTOCOL_FEATURES, &use);
		tx_request(g, VU_GPU_GET_DISPLAY_INFO, NULL);
		g->awaiting = VU_GPU_GET_DISPLAY_INFO;
		g->deadline_ns = time_now_ns() + VU_GPU_REPLY_TIMEOUT_S * NS_PER_S;
		return;
	}
	const struct virtio_gpu_display_one *m = &r->u.info.pmodes[0];
	uint32_t w = le32toh(m->r.width), h = le32toh(m->r.height);
	bool on = le32toh(m->enabled) != 0;
	g->awaiting = 0;
	g->ready = true;
	if (!on || g->fixed_size) {
		log_info("%s: gpu socket: front-end prefers %ux%u%s", g->name, w, h,
			 on ? " (the size was given: kept)" : " (disabled)");
	} else if (w < GPU_MIN_WIDTH || w > GPU_MAX_WIDTH || h < GPU_MIN_HEIGHT ||
		   h > GPU_MAX_HEIGHT) {
		log_warn("%s: gpu socket: front-end prefers %ux%u, outside %ux%u..%ux%u: ignored",
			 g->name, w, h, GPU_MIN_WIDTH, GPU_MIN_HEIGHT, GPU_MAX_WIDTH,
			 GPU_MAX_HEIGHT);
	} else {
		vgpu_request_mode(g->dev, w, h);
	}
}

static void fd_cb(void *opaque, uint32_t events)
{
	struct vu_gpu *g = opaque;
	char why[160] = "";

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n;
		do
			n = recv(g->fd, g->rx + g->rx_len, sizeof(g->rx) - g->rx_len, MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			log_info("%s: gpu socket: closed by the front-end", g->name);
			vu_gpu_detach(g);
			return;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(why, sizeof(why), "receive: %s", strerror(errno));
			drop(g, why);
			return;
		}
		if (n > 0)
			g->rx_len += (size_t)n;
		while (g->rx_len) {
			struct vu_gpu_reply r;
			int used =
			    vu_gpu_parse_reply(g->rx, g->rx_len, g->awaiting, &r, why, sizeof(why));
			if (used < 0) {
				drop(g, why);
				return;
			}
			if (used == 0)
				break;
			memmove(g->rx, g->rx + used, g->rx_len - (size_t)used);
			g->rx_len -= (size_t)used;
			on_reply(g, &r);
		}
	}
	pump(g);
}

static void timer_cb(void *opaque, uint32_t events)
{
	struct vu_gpu *g = opaque;
	uint64_t now = time_now_ns();
	char why[96];

	(void)events;
	if (g->awaiting && now > g->deadline_ns) {
		snprintf(why, sizeof(why), "no reply to request %u within %d s", g->awaiting,
			 VU_GPU_REPLY_TIMEOUT_S);
		drop(g, why);
	} else if (g->tx_off < g->tx_len &&
		   now - g->progress_ns > VU_GPU_STALL_TIMEOUT_S * NS_PER_S) {
		snprintf(why, sizeof(why), "the front-end read nothing for %d s",
			 VU_GPU_STALL_TIMEOUT_S);
		drop(g, why);
	}
}

static void flush_cb(void *opaque)
{
	pump(opaque);
}

int vu_gpu_attach(struct vu_gpu *g, int fd, char *why, size_t whylen)
{
	int r;

	if (g->fd >= 0) {
		log_info("%s: gpu socket: replaced by a new one", g->name);
		vu_gpu_detach(g);
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(why, whylen, "gpu socket: %s", strerror(errno));
		close(fd);
		return r;
	}
	r = ev_add(g->loop, fd, EPOLLIN, fd_cb, g, &g->fd_h);
	if (r == 0)
		r = ev_timer_add(g->loop, NS_PER_S, NS_PER_S, timer_cb, g, &g->timer);
	if (r < 0) {
		snprintf(why, whylen, "gpu socket: cannot watch it: %s", strerror(-r));
		if (g->fd_h)
			ev_del(g->loop, g->fd_h);
		g->fd_h = NULL;
		close(fd);
		return r;
	}
	g->fd = fd;
	g->want_out = false;
	g->rx_len = g->tx_len = g->tx_off = 0;
	g->ready = false;
	/* Everything is new to this front-end. */
	pthread_mutex_lock(&g->lock);
	g->mode_dirty = true;
	g->cursor_dirty = g->cursor_visible;
	pthread_mutex_unlock(&g->lock);
	tx_request(g, VU_GPU_GET_PROTOCOL_FEATURES, NULL);
	g->awaiting = VU_GPU_GET_PROTOCOL_FEATURES;
	g->deadline_ns = time_now_ns() + VU_GPU_REPLY_TIMEOUT_S * NS_PER_S;
	g->progress_ns = time_now_ns();
	log_info("%s: gpu socket: connected", g->name);
	pump(g);
	return 0;
}

void vu_gpu_detach(struct vu_gpu *g)
{
	if (g->fd < 0)
		return;
	ev_del(g->loop, g->fd_h);
	g->fd_h = NULL;
	ev_del(g->loop, g->timer);
	g->timer = NULL;
	close(g->fd);
	g->fd = -1;
	g->awaiting = 0;
	g->ready = false;
	g->rx_len = g->tx_len = g->tx_off = 0;
}

bool vu_gpu_attached(const struct vu_gpu *g)
{
	return g->fd >= 0;
}

uint64_t vu_gpu_sent(const struct vu_gpu *g, uint32_t request)
{
	return request < NR_COUNTED ? g->sent[request] : 0;
}

/* ---- display listener ---- */

static void post_flush(struct vu_gpu *g)
{
	ev_post(g->loop, &g->flush);
}

static void on_mode(void *opaque, void *fb, uint32_t w, uint32_t h, uint32_t stride)
{
	struct vu_gpu *g = opaque;
	pthread_mutex_lock(&g->lock);
	g->fb = fb;
	g->w = w;
	g->h = h;
	g->stride = stride;
	g->mode_dirty = true;
	g->damage = (struct display_rect){0, 0, w, h};
	pthread_mutex_unlock(&g->lock);
	post_flush(g);
}

static void on_damage(void *opaque, const struct display_rect *r)
{
	struct vu_gpu *g = opaque;
	pthread_mutex_lock(&g->lock);
	uint32_t x1 = MIN(r->x, g->w), y1 = MIN(r->y, g->h);
	uint32_t x2 = r->w > g->w - x1 ? g->w : x1 + r->w;
	uint32_t y2 = r->h > g->h - y1 ? g->h : y1 + r->h;
	struct display_rect *d = &g->damage;
	if (x2 > x1 && y2 > y1) {
		if (d->w && d->h) {
			x1 = MIN(x1, d->x);
			y1 = MIN(y1, d->y);
			x2 = MAX(x2, d->x + d->w);
			y2 = MAX(y2, d->y + d->h);
		}
		*d = (struct display_rect){x1, y1, x2 - x1, y2 - y1};
	}
	pthread_mutex_unlock(&g->lock);
	post_flush(g);
}

static void on_cursor(void *opaque, const struct display_cursor *c)
{
	struct vu_gpu *g = opaque;
	pthread_mutex_lock(&g->lock);
	g->cursor_visible = c != NULL;
	if (c)
		g->cursor = *c;
	g->cursor_dirty = true;
	pthread_mutex_unlock(&g->lock);
	post_flush(g);
}

static void on_cursor_pos(void *opaque, uint32_t x, uint32_t y)
{
	struct vu_gpu *g = opaque;
	pthread_mutex_lock(&g->lock);
	g->cursor_x = x;
	g->cursor_y = y;
	g->pos_dirty = true;
	pthread_mutex_unlock(&g->lock);
	post_flush(g);
}

static const struct display_listener_ops vu_gpu_listener_ops = {
    .mode = on_mode,
    .damage = on_damage,
    .cursor = on_cursor,
    .cursor_pos = on_cursor_pos,
};

int vu_gpu_create(struct display *d, struct virtio_dev *dev, struct ev_loop *loop, const char *name,
		  bool fixed_size, struct vu_gpu **out)
{
	struct vu_gpu *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->tx = malloc(TX_CAP);
	if (!g->tx) {
		free(g);
		return -ENOMEM;
	}
	g->display = d;
	g->dev = dev;
	g->loop = loop;
	g->fixed_size = fixed_size;
	g->fd = -1;
	snprintf(g->name, sizeof(g->name), "%s", name);
	pthread_mutex_init(&g->lock, NULL);
	ev_work_init(&g->flush, flush_cb, g);
	int r = display_listener_add(d, &vu_gpu_listener_ops, g, &g->listener);
	if (r < 0) {
		pthread_mutex_destroy(&g->lock);
		free(g->tx);
		free(g);
		return r;
	}
	*out = g;
	return 0;
}

void vu_gpu_destroy(struct vu_gpu *g)
{
	if (!g)
		return;
	display_listener_remove(g->listener);
	ev_cancel(g->loop, &g->flush);
	vu_gpu_detach(g);
	pthread_mutex_destroy(&g->lock);
	free(g->tx);
	free(g);
}
