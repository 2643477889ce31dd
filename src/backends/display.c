/* SPDX-License-Identifier: MIT */
/* The display core: sources, surface, listeners, input routing. See display.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include "backends/display.h"
#include "base/ev_loop.h"
#include "base/log.h"

struct display_source {
	struct display *d;
	char name[32];
	int prio;
	const struct display_source_ops *ops;
	void *opaque;
	uint32_t w, h; /* 0: disabled */
	bool refresh;
	struct display_source *next;
};

struct display_listener {
	struct display *d;
	const struct display_listener_ops *ops;
	void *opaque;
	struct display_listener *next;
};

struct display_sink {
	const struct display_input_ops *_Atomic ops;
	void *_Atomic opaque;
};

struct display {
	pthread_mutex_t lock;
	uint8_t *fb; /* DISPLAY_MAX_WIDTH * DISPLAY_MAX_HEIGHT * 4 bytes, reserved once */
	size_t fb_cap;
	uint32_t w, h;
	_Atomic uint32_t aw, ah;
	uint32_t default_w, default_h;
	struct display_source *sources; /* highest priority first */
	struct display_source *shown;
	struct display_listener *listeners;
	struct display_cursor cursor;

	struct display_sink kbd, ptr;

	struct ev_loop *loop;
	int resize_fd;
	struct ev_handler *resize_h;
	_Atomic uint64_t resize_req; /* w << 32 | h, 0: none */
};

unsigned display_fmt_bpp(enum display_fmt fmt)
{
	switch (fmt) {
	case DFMT_BGR:
		return 3;
	case DFMT_RGB565:
		return 2;
	default:
		return 4;
	}
}

/* ---- pixel conversion into the surface (B G R X) ---- */

static void convert_row(uint8_t *dst, const uint8_t *src, uint32_t n, enum display_fmt fmt)
{
	switch (fmt) {
	case DFMT_BGRX:
		memcpy(dst, src, (size_t)n * 4);
		return;
	case DFMT_XRGB:
		for (uint32_t i = 0; i < n; i++, dst += 4, src += 4) {
			dst[0] = src[3];
			dst[1] = src[2];
			dst[2] = src[1];
			dst[3] = 0;
		}
		return;
	case DFMT_RGBX:
		for (uint32_t i = 0; i < n; i++, dst += 4, src += 4) {
			dst[0] = src[2];
			dst[1] = src[1];
			dst[2] = src[0];
			dst[3] = 0;
		}
		return;
	case DFMT_XBGR:
		for (uint32_t i = 0; i < n; i++, dst += 4, src += 4) {
			dst[0] = src[1];
			dst[1] = src[2];
			dst[2] = src[3];
			dst[3] = 0;
		}
		return;
	case DFMT_BGR:
		for (uint32_t i = 0; i < n; i++, dst += 4, src += 3) {
			dst[0] = src[0];
			dst[1] = src[1];
			dst[2] = src[2];
			dst[3] = 0;
		}
		return;
	case DFMT_RGB565:
		for (uint32_t i = 0; i < n; i++, dst += 4, src += 2) {
			uint16_t p = (uint16_t)(src[0] | src[1] << 8);
			uint8_t r = (uint8_t)(p >> 11), g = (uint8_t)((p >> 5) & 0x3f),
				b = (uint8_t)(p & 0x1f);
			dst[0] = (uint8_t)(b << 3 | b >> 2);
			dst[1] = (uint8_t)(g << 2 | g >> 4);
			dst[2] = (uint8_t)(r << 3 | r >> 2);
			dst[3] = 0;
		}
		return;
	}
}

/* ---- mode and source selection (lock held) ---- */

static void notify_damage_locked(struct display *d, const struct display_rect *r)
{
	for (struct display_listener *l = d->listeners; l; l = l->next)
		if (l->ops->damage)
			l->ops->damage(l->opaque, r);
}

static void notify_cursor_locked(struct display *d)
{
	for (struct display_listener *l = d->listeners; l; l = l->next)
		if (l->ops->cursor)
			l->ops->cursor(l->opaque, d->cursor.visible ? &d->cursor : NULL);
}

static void set_mode_locked(struct display *d, uint32_t w, uint32_t h)
{
	d->w = w;
	d->h = h;
	atomic_store(&d->aw, w);
	atomic_store(&d->ah, h);
	memset(d->fb, 0, (size_t)w * h * DISPLAY_BPP);
	for (struct display_listener *l = d->listeners; l; l = l->next)
		if (l->ops->mode)
			l->ops->mode(l->opaque, d->fb, w, h, w * DISPLAY_BPP);
	struct display_rect all = {0, 0, w, h};
	notify_damage_locked(d, &all);
}

static void select_source_locked(struct display *d)
{
	struct display_source *best = NULL;
	for (struct display_source *s = d->sources; s; s = s->next)
		if (s->w && s->h) {
			best = s;
			break;
		}
	uint32_t w = best ? best->w : d->default_w, h = best ? best->h : d->default_h;
	if (best != d->shown) {
		log_info("display: showing %s (%ux%u)", best ? best->name : "nothing", w, h);
		d->shown = best;
		if (best)
			best->refresh = true;
		if (d->cursor.visible) {
			d->cursor.visible = false;
			notify_cursor_locked(d);
		}
		set_mode_locked(d, w, h);
	} else if (w != d->w || h != d->h) {
		set_mode_locked(d, w, h);
	}
}

/* ---- lifecycle ---- */

static void on_resize_request(void *opaque, uint32_t events)
{
	struct display *d = opaque;
	uint64_t v;
	(void)events;
	if (read(d->resize_fd, &v, sizeof(v)) != sizeof(v))
		return;
	uint64_t req = atomic_exchange(&d->resize_req, 0);
	if (!req)
		return;
	uint32_t w = (uint32_t)(req >> 32), h = (uint32_t)req;
	pthread_mutex_lock(&d->lock);
	struct display_source *target = NULL;
	for (struct display_source *s = d->sources; s && !target; s = s->next)
		if (s->ops && s->ops->resize_request)
			target = s;
	pthread_mutex_unlock(&d->lock);
	/* Sources are removed only at teardown, after the loop stopped. */
	if (target)
		target->ops->resize_request(target->opaque, w, h);
	else
		log_info("display: viewer asked for %ux%u; no device can change its mode", w, h);
}

int display_create(struct ev_loop *loop, uint32_t default_w, uint32_t default_h,
		   struct display **out)
{
	struct display *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->resize_fd = -1;
	d->fb_cap = (size_t)DISPLAY_MAX_WIDTH * DISPLAY_MAX_HEIGHT * DISPLAY_BPP;
	d->fb = mmap(NULL, d->fb_cap, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->fb == MAP_FAILED) {
		int e = -errno;
		free(d);
		return e;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->default_w = MIN(MAX(default_w, 1u), DISPLAY_MAX_WIDTH);
	d->default_h = MIN(MAX(default_h, 1u), DISPLAY_MAX_HEIGHT);
	set_mode_locked(d, d->default_w, d->default_h);
	if (loop) {
		d->resize_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		int r = d->resize_fd < 0 ? -errno : 0;
		if (r == 0)
			r = ev_add(loop, d->resize_fd, EPOLLIN, on_resize_request, d, &d->resize_h);
		if (r < 0) {
			display_destroy(d);
			return r;
		}
		d->loop = loop;
	}
	*out = d;
	return 0;
}

void display_destroy(struct display *d)
{
	if (!d)
		return;
	if (d->resize_h)
		ev_del(d->loop, d->resize_h);
	if (d->resize_fd >= 0)
		close(d->resize_fd);
	while (d->sources) {
		struct display_source *s = d->sources;
		d->sources = s->next;
		free(s);
	}
	while (d->listeners) {
		struct display_listener *l = d->listeners;
		d->listeners = l->next;
		free(l);
	}
	munmap(d->fb, d->fb_cap);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void display_destroy_opaque(void *d)
{
	display_destroy(d);
}

size_t display_read(struct display *d, uint32_t *w, uint32_t *h, void *buf, size_t buflen)
{
	pthread_mutex_lock(&d->lock);
	size_t need = (size_t)d->w * d->h * DISPLAY_BPP;
	*w = d->w;
	*h = d->h;
	if (buf)
		memcpy(buf, d->fb, MIN(need, buflen));
	pthread_mutex_unlock(&d->lock);
	return need;
}

void display_size(struct display *d, uint32_t *w, uint32_t *h)
{
	*w = atomic_load(&d->aw);
	*h = atomic_load(&d->ah);
}

/* ---- sources ---- */

int display_source_add(struct display *d, const char *name, int priority,
		       const struct display_source_ops *ops, void *opaque,
		       struct display_source **out)
{
	struct display_source *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->d = d;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->prio = priority;
	s->ops = ops;
	s->opaque = opaque;
	pthread_mutex_lock(&d->lock);
	struct display_source **p = &d->sources;
	while (*p && (*p)->prio >= priority)
		p = &(*p)->next;
	s->next = *p;
	*p = s;
	pthread_mutex_unlock(&d->lock);
	*out = s;
	return 0;
}

void display_source_remove(struct display_source *s)
{
	if (!s)
		return;
	struct display *d = s->d;
	pthread_mutex_lock(&d->lock);
	for (struct display_source **p = &d->sources; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	if (d->shown == s)
		d->shown = NULL;
	s->w = s->h = 0;
	select_source_locked(d);
	pthread_mutex_unlock(&d->lock);
	free(s);
}

void display_source_set_mode(struct display_source *s, uint32_t w, uint32_t h)
{
	struct display *d = s->d;
	if (!w || !h)
		w = h = 0;
	pthread_mutex_lock(&d->lock);
	s->w = MIN(w, DISPLAY_MAX_WIDTH);
	s->h = MIN(h, DISPLAY_MAX_HEIGHT);
	bool was_shown = d->shown == s;
	bool resized = was_shown && (s->w != d->w || s->h != d->h);
	select_source_locked(d);
	if (resized && d->shown == s)
		s->refresh = true;
	pthread_mutex_unlock(&d->lock);
}

void display_source_update(struct display_source *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
			   const void *src, size_t src_stride, enum display_fmt fmt)
{
	struct display *d = s->d;
	pthread_mutex_lock(&d->lock);
	if (d->shown != s || x >= d->w || y >= d->h || !w || !h) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	w = MIN(w, d->w - x);
	h = MIN(h, d->h - y);
	size_t stride = (size_t)d->w * DISPLAY_BPP;
	const uint8_t *sp = src;
	uint8_t *dp = d->fb + (size_t)y * stride + (size_t)x * DISPLAY_BPP;
	for (uint32_t row = 0; row < h; row++, sp += src_stride, dp += stride)
		convert_row(dp, sp, w, fmt);
	struct display_rect r = {x, y, w, h};
	notify_damage_locked(d, &r);
	pthread_mutex_unlock(&d->lock);
}

bool display_source_take_refresh(struct display_source *s)
{
	pthread_mutex_lock(&s->d->lock);
	bool r = s->refresh && s->d->shown == s;
	s->refresh = false;
	pthread_mutex_unlock(&s->d->lock);
	return r;
}

bool display_source_shown(struct display_source *s)
{
	pthread_mutex_lock(&s->d->lock);
	bool r = s->d->shown == s;
	pthread_mutex_unlock(&s->d->lock);
	return r;
}

void display_source_set_cursor(struct display_source *s, const struct display_cursor *c)
{
	struct display *d = s->d;
	pthread_mutex_lock(&d->lock);
	if (d->shown == s) {
		uint32_t w = MIN(c->w, DISPLAY_CURSOR_MAX), h = MIN(c->h, DISPLAY_CURSOR_MAX);
		d->cursor.w = w;
		d->cursor.h = h;
		d->cursor.hot_x = MIN(c->hot_x, w ? w - 1 : 0);
		d->cursor.hot_y = MIN(c->hot_y, h ? h - 1 : 0);
		d->cursor.visible = c->visible && w && h;
		memcpy(d->cursor.pixels, c->pixels, sizeof(d->cursor.pixels));
		notify_cursor_locked(d);
	}
	pthread_mutex_unlock(&d->lock);
}

void display_source_move_cursor(struct display_source *s, uint32_t x, uint32_t y)
{
	struct display *d = s->d;
	pthread_mutex_lock(&d->lock);
	if (d->shown == s)
		for (struct display_listener *l = d->listeners; l; l = l->next)
			if (l->ops->cursor_pos)
				l->ops->cursor_pos(l->opaque, x, y);
	pthread_mutex_unlock(&d->lock);
}

/* ---- listeners ---- */

int display_listener_add(struct display *d, const struct display_listener_ops *ops, void *opaque,
			 struct display_listener **out)
{
	struct display_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->d = d;
	l->ops = ops;
	l->opaque = opaque;
	pthread_mutex_lock(&d->lock);
	l->next = d->listeners;
	d->listeners = l;
	if (ops->mode)
		ops->mode(opaque, d->fb, d->w, d->h, d->w * DISPLAY_BPP);
	if (ops->cursor && d->cursor.visible)
		ops->cursor(opaque, &d->cursor);
	pthread_mutex_unlock(&d->lock);
	*out = l;
	return 0;
}

void display_listener_remove(struct display_listener *l)
{
	if (!l)
		return;
	struct display *d = l->d;
	pthread_mutex_lock(&d->lock);
	for (struct display_listener **p = &d->listeners; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	pthread_mutex_unlock(&d->lock);
	free(l);
}

/* ---- input ---- */

static void sink_set(struct display_sink *k, const struct display_input_ops *ops, void *opaque)
{
	atomic_store(&k->opaque, opaque);
	atomic_store(&k->ops, ops);
}

void display_set_keyboard(struct display *d, const struct display_input_ops *ops, void *opaque)
{
	sink_set(&d->kbd, ops, opaque);
}

void display_set_pointer(struct display *d, const struct display_input_ops *ops, void *opaque)
{
	sink_set(&d->ptr, ops, opaque);
}

void display_input_key(struct display *d, uint16_t code, bool down)
{
	const struct display_input_ops *ops = atomic_load(&d->kbd.ops);
	if (ops && ops->key)
		ops->key(atomic_load(&d->kbd.opaque), code, down);
	else
		log_rl(LOG_INFO, "display: key %u dropped: no keyboard device (--input)", code);
}

void display_input_pointer(struct display *d, uint32_t x, uint32_t y, uint32_t buttons, int wheel)
{
	const struct display_input_ops *ops = atomic_load(&d->ptr.ops);
	if (ops && ops->pointer)
		ops->pointer(atomic_load(&d->ptr.opaque), MIN(x, DISPLAY_ABS_MAX),
			     MIN(y, DISPLAY_ABS_MAX), buttons, wheel);
}

void display_request_resize(struct display *d, uint32_t w, uint32_t h)
{
	if (!d->loop || !w || !h || w > DISPLAY_MAX_WIDTH || h > DISPLAY_MAX_HEIGHT)
		return;
	atomic_store(&d->resize_req, (uint64_t)w << 32 | h);
	uint64_t one = 1;
	if (write(d->resize_fd, &one, sizeof(one)) < 0)
		log_rl(LOG_WARN, "display: resize request: %s", strerror(errno));
}
