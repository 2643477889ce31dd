/* SPDX-License-Identifier: MIT */
/*
 * virtio-gpu 2D (VirtIO 1.2, 5.7). Two queues: control (0) and cursor (1). Each request is
 * copied out of the chain into private memory once, decoded into a struct vgpu_cmd
 * (gpu_cmd.c), validated against the device state and executed; the response goes into the
 * chain's writable part. Framing errors (no header, no room for the response) fail the device;
 * bad commands get the VIRTIO_GPU_RESP_ERR_* the spec names.
 *
 * Resources live in a hash table keyed by id (seeded per device, so a guest cannot pick ids
 * that all collide). Their pixels are host copies, filled from the guest's backing pages by
 * TRANSFER_TO_HOST_2D and pushed to the display by RESOURCE_FLUSH and SET_SCANOUT.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ids.h>
#include "backends/display.h"
#include "base/log.h"
#include "devices/edid.h"
#include "devices/virtio/gpu.h"
#include "devices/virtio/gpu_cmd.h"

#define VGPU_CTRLQ 0
#define VGPU_CURSORQ 1
#define VGPU_CHAIN_CAP 64
#define VGPU_BUCKETS 4096u
#define VGPU_SCANOUTS 1u
#define VGPU_DISPLAY_PRIO 100 /* above the firmware screen */

struct vgpu_backing {
	uint64_t gpa;
	uint32_t len;
};

struct vgpu_res {
	uint32_t id, format, width, height, stride;
	uint8_t *pixels; /* stride * height bytes */
	uint64_t cost;	 /* charged against max_hostmem, backing table excluded */
	struct vgpu_backing *backing;
	uint32_t nr_backing;
	uint64_t backing_len;
	struct vgpu_res *next;
};

struct vgpu_scanout {
	uint32_t res_id; /* 0: disabled */
	struct vgpu_rect r;
	uint32_t pref_w, pref_h; /* the mode offered (GET_DISPLAY_INFO, EDID) */
};

struct vgpu {
	struct virtio_dev vdev; /* first */
	struct virtio_gpu_config cfg;
	struct display_source *src;
	uint64_t max_hostmem, hostmem;
	uint32_t seed;
	struct vgpu_res *buckets[VGPU_BUCKETS];
	uint32_t nr_res;
	struct vgpu_scanout scanout;
	uint8_t *req; /* VGPU_MAX_REQUEST bytes: the request being handled */
	struct iovec iov[VGPU_CHAIN_CAP];
	struct display_cursor cursor;
};

union vgpu_resp {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resp_edid edid;
};

static struct vgpu *to_gpu(struct virtio_dev *dev)
{
	return container_of(dev, struct vgpu, vdev);
}

/* ---- resources ---- */

static uint32_t bucket_of(const struct vgpu *g, uint32_t id)
{
	return ((id ^ g->seed) * 0x9e3779b1u) >> 20; /* top 12 bits: VGPU_BUCKETS */
}

static struct vgpu_res *res_find(struct vgpu *g, uint32_t id)
{
	for (struct vgpu_res *r = g->buckets[bucket_of(g, id)]; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static uint64_t backing_cost(uint32_t n)
{
	return (uint64_t)n * sizeof(struct vgpu_backing);
}

static void backing_free(struct vgpu *g, struct vgpu_res *r)
{
	if (!r->backing)
		return;
	g->hostmem -= backing_cost(r->nr_backing);
	free(r->backing);
	r->backing = NULL;
	r->nr_backing = 0;
	r->backing_len = 0;
}

static void scanout_disable(struct vgpu *g)
{
	g->scanout.res_id = 0;
	if (g->src)
		display_source_set_mode(g->src, 0, 0);
}

static void res_destroy(struct vgpu *g, struct vgpu_res *r)
{
	struct vgpu_res **p = &g->buckets[bucket_of(g, r->id)];
	while (*p != r)
		p = &(*p)->next;
	*p = r->next;
	if (g->scanout.res_id == r->id)
		scanout_disable(g);
	backing_free(g, r);
	g->hostmem -= r->cost;
	g->nr_res--;
	free(r->pixels);
	free(r);
}

static void res_destroy_all(struct vgpu *g)
{
	for (uint32_t b = 0; b < VGPU_BUCKETS; b++)
		while (g->buckets[b])
			res_destroy(g, g->buckets[b]);
}

static enum display_fmt display_fmt_of(uint32_t format)
{
	switch (format) {
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM:
		return DFMT_XRGB;
	case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM:
	case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM:
		return DFMT_RGBX;
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM:
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM:
		return DFMT_XBGR;
	default:
		return DFMT_BGRX;
	}
}

static bool rect_in_res(const struct vgpu_rect *rc, const struct vgpu_res *r)
{
	return (uint64_t)rc->x + rc->w <= r->width && (uint64_t)rc->y + rc->h <= r->height;
}

/* Copy len bytes at offset off of r's backing into dst. *hint: the entry to start looking
 * from (transfers walk forward). -EFAULT when guest memory moved under the backing. */
static int backing_read(struct vgpu *g, const struct vgpu_res *r, uint64_t off, uint8_t *dst,
			uint64_t len, uint32_t *hint, uint64_t *hint_start)
{
	uint32_t i = *hint;
	uint64_t start = *hint_start;
	if (i >= r->nr_backing || off < start) {
		i = 0;
		start = 0;
	}
	while (len) {
		while (i < r->nr_backing && off >= start + r->backing[i].len) {
			start += r->backing[i].len;
			i++;
		}
		if (i >= r->nr_backing)
			return -EFAULT; /* checked by the caller: cannot happen */
		uint64_t in = off - start;
		uint64_t n = MIN(len, r->backing[i].len - in);
		const uint8_t *src = gm_ptr(g->vdev.mem, r->backing[i].gpa + in, n);
		if (!src)
			return -EFAULT;
		memcpy(dst, src, n);
		dst += n;
		off += n;
		len -= n;
	}
	*hint = i;
	*hint_start = start;
	return 0;
}

/* Push part of the scanout's resource (rc, in resource coordinates) to the display. */
static void scanout_show(struct vgpu *g, const struct vgpu_res *r, struct vgpu_rect rc)
{
	const struct vgpu_rect *s = &g->scanout.r;
	if (!g->src || g->scanout.res_id != r->id)
		return;
	uint32_t x1 = MAX(rc.x, s->x), y1 = MAX(rc.y, s->y);
	uint32_t x2 = MIN(rc.x + rc.w, s->x + s->w), y2 = MIN(rc.y + rc.h, s->y + s->h);
	if (x1 >= x2 || y1 >= y2)
		return;
	display_source_update(g->src, x1 - s->x, y1 - s->y, x2 - x1, y2 - y1,
			      r->pixels + (size_t)y1 * r->stride + (size_t)x1 * 4, r->stride,
			      display_fmt_of(r->format));
}

/* ---- commands (dev lock held) ---- */

/* Log why a command failed (one shared rate limit: guests choose how often) and return code. */
static uint32_t gpu_err(struct vgpu *g, uint32_t code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static uint32_t gpu_err(struct vgpu *g, uint32_t code, const char *what, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_rl(LOG_INFO, "%s: %s: %s", g->vdev.name, what, msg);
	return code;
}

static uint32_t cmd_create_2d(struct vgpu *g, const struct vgpu_cmd *c)
{
	uint32_t id = c->u.create_2d.resource_id;
	if (res_find(g, id))
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "RESOURCE_CREATE_2D",
			       "resource %u already exists", id);
	uint64_t stride = (uint64_t)c->u.create_2d.width * vgpu_format_bpp(c->u.create_2d.format);
	uint64_t bytes = stride * c->u.create_2d.height;
	uint64_t cost = ALIGN_UP(bytes, 4096ULL) + sizeof(struct vgpu_res);
	if (cost > g->max_hostmem - g->hostmem)
		return gpu_err(
		    g, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY, "RESOURCE_CREATE_2D",
		    "resource %u (%ux%u) would pass max_hostmem (%llu of %llu bytes used)", id,
		    c->u.create_2d.width, c->u.create_2d.height, (unsigned long long)g->hostmem,
		    (unsigned long long)g->max_hostmem);
	struct vgpu_res *r = calloc(1, sizeof(*r));
	uint8_t *px = calloc(1, (size_t)bytes);
	if (!r || !px) {
		free(r);
		free(px);
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY, "RESOURCE_CREATE_2D",
			       "out of host memory for %llu bytes", (unsigned long long)bytes);
	}
	r->id = id;
	r->format = c->u.create_2d.format;
	r->width = c->u.create_2d.width;
	r->height = c->u.create_2d.height;
	r->stride = (uint32_t)stride;
	r->pixels = px;
	r->cost = cost;
	uint32_t b = bucket_of(g, id);
	r->next = g->buckets[b];
	g->buckets[b] = r;
	g->hostmem += cost;
	g->nr_res++;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static struct vgpu_res *find_or_log(struct vgpu *g, const char *what, uint32_t id)
{
	struct vgpu_res *r = res_find(g, id);
	if (!r)
		log_rl(LOG_INFO, "%s: %s: no resource %u", g->vdev.name, what, id);
	return r;
}

static uint32_t cmd_unref(struct vgpu *g, const struct vgpu_cmd *c)
{
	struct vgpu_res *r = find_or_log(g, "RESOURCE_UNREF", c->u.unref.resource_id);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	res_destroy(g, r);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_attach(struct vgpu *g, const struct vgpu_cmd *c)
{
	const char *what = "RESOURCE_ATTACH_BACKING";
	struct vgpu_res *r = find_or_log(g, what, c->u.attach.resource_id);
	uint32_t n = c->u.attach.nr_entries;
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (r->backing)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_UNSPEC, what,
			       "resource %u already has backing", r->id);
	if (backing_cost(n) > g->max_hostmem - g->hostmem)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY, what,
			       "%u entries would pass max_hostmem", n);
	struct vgpu_backing *b = calloc(n, sizeof(*b));
	if (!b)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		vgpu_mem_entry(c, i, &b[i].gpa, &b[i].len);
		if (!b[i].len || !gm_ptr(g->vdev.mem, b[i].gpa, b[i].len)) {
			log_rl(LOG_INFO,
			       "%s: %s: resource %u entry %u (0x%llx, %u bytes) is not in "
			       "guest RAM",
			       g->vdev.name, what, r->id, i, (unsigned long long)b[i].gpa,
			       b[i].len);
			free(b);
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		}
		total += b[i].len;
	}
	r->backing = b;
	r->nr_backing = n;
	r->backing_len = total;
	g->hostmem += backing_cost(n);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_detach(struct vgpu *g, const struct vgpu_cmd *c)
{
	struct vgpu_res *r = find_or_log(g, "RESOURCE_DETACH_BACKING", c->u.detach.resource_id);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!r->backing)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_DETACH_BACKING",
			       "resource %u has no backing", r->id);
	backing_free(g, r);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_set_scanout(struct vgpu *g, const struct vgpu_cmd *c)
{
	const char *what = "SET_SCANOUT";
	const struct vgpu_rect *rc = &c->u.set_scanout.r;
	if (c->u.set_scanout.scanout_id >= VGPU_SCANOUTS)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, what, "no scanout %u",
			       c->u.set_scanout.scanout_id);
	if (!c->u.set_scanout.resource_id) {
		scanout_disable(g);
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	struct vgpu_res *r = find_or_log(g, what, c->u.set_scanout.resource_id);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!rect_in_res(rc, r) || rc->w > DISPLAY_MAX_WIDTH || rc->h > DISPLAY_MAX_HEIGHT)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, what,
			       "%ux%u+%u+%u is not inside resource %u (%ux%u) or is larger than "
			       "%ux%u",
			       rc->w, rc->h, rc->x, rc->y, r->id, r->width, r->height,
			       DISPLAY_MAX_WIDTH, DISPLAY_MAX_HEIGHT);
	g->scanout.res_id = r->id;
	g->scanout.r = *rc;
	if (g->src) {
		display_source_set_mode(g->src, rc->w, rc->h);
		(void)display_source_take_refresh(g->src);
	}
	scanout_show(g, r, *rc); /* a scanout shows its resource at once */
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_transfer(struct vgpu *g, const struct vgpu_cmd *c)
{
	const char *what = "TRANSFER_TO_HOST_2D";
	const struct vgpu_rect *rc = &c->u.transfer.r;
	struct vgpu_res *r = find_or_log(g, what, c->u.transfer.resource_id);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!r->backing)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_UNSPEC, what, "resource %u has no backing",
			       r->id);
	if (!rect_in_res(rc, r))
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, what,
			       "%ux%u+%u+%u is not inside resource %u (%ux%u)", rc->w, rc->h, rc->x,
			       rc->y, r->id, r->width, r->height);
	/* Row i of the rectangle is at offset + i * stride in the backing. */
	uint64_t row = (uint64_t)rc->w * 4;
	uint64_t span = (uint64_t)(rc->h - 1) * r->stride + row;
	uint64_t off = c->u.transfer.offset;
	if (off > r->backing_len || span > r->backing_len - off)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, what,
			       "offset %llu + %llu bytes is past resource %u's %llu bytes of "
			       "backing",
			       (unsigned long long)off, (unsigned long long)span, r->id,
			       (unsigned long long)r->backing_len);
	uint32_t hint = 0;
	uint64_t hint_start = 0;
	uint8_t *dst = r->pixels + (size_t)rc->y * r->stride + (size_t)rc->x * 4;
	int e = 0;
	if (rc->x == 0 && rc->w == r->width) {
		e = backing_read(g, r, off, dst, span, &hint, &hint_start);
	} else {
		for (uint32_t i = 0; i < rc->h && !e; i++)
			e = backing_read(g, r, off + (uint64_t)i * r->stride,
					 dst + (size_t)i * r->stride, row, &hint, &hint_start);
	}
	if (e < 0)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_UNSPEC, what,
			       "resource %u: backing no longer in guest RAM", r->id);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_flush(struct vgpu *g, const struct vgpu_cmd *c)
{
	const struct vgpu_rect *rc = &c->u.flush.r;
	struct vgpu_res *r = find_or_log(g, "RESOURCE_FLUSH", c->u.flush.resource_id);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!rect_in_res(rc, r))
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "RESOURCE_FLUSH",
			       "%ux%u+%u+%u is not inside resource %u (%ux%u)", rc->w, rc->h, rc->x,
			       rc->y, r->id, r->width, r->height);
	if (g->src && display_source_take_refresh(g->src))
		scanout_show(g, r, g->scanout.r);
	else
		scanout_show(g, r, *rc);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static void cmd_display_info(struct vgpu *g, struct virtio_gpu_resp_display_info *info)
{
	info->pmodes[0].r.width = htole32(g->scanout.pref_w);
	info->pmodes[0].r.height = htole32(g->scanout.pref_h);
	info->pmodes[0].enabled = htole32(1);
}

static uint32_t cmd_edid(struct vgpu *g, const struct vgpu_cmd *c, struct virtio_gpu_resp_edid *e)
{
	if (c->u.get_edid.scanout_id >= VGPU_SCANOUTS)
		return gpu_err(g, VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, "GET_EDID",
			       "no scanout %u", c->u.get_edid.scanout_id);
	edid_build(e->edid, g->scanout.pref_w, g->scanout.pref_h, "vireo");
	e->size = htole32(EDID_BLOCK_LEN);
	return VIRTIO_GPU_RESP_OK_EDID;
}

/* UPDATE_CURSOR / MOVE_CURSOR. The cursor queue has no error responses worth sending: bad
 * requests are logged and ignored. */
static void cmd_cursor(struct vgpu *g, const struct vgpu_cmd *c)
{
	if (c->u.cursor.scanout_id >= VGPU_SCANOUTS || !g->src)
		return;
	if (c->hdr.type == VIRTIO_GPU_CMD_MOVE_CURSOR) {
		display_source_move_cursor(g->src, c->u.cursor.x, c->u.cursor.y);
		return;
	}
	struct display_cursor *cur = &g->cursor;
	if (!c->u.cursor.resource_id) {
		cur->visible = false;
		display_source_set_cursor(g->src, cur);
		return;
	}
	struct vgpu_res *r = find_or_log(g, "UPDATE_CURSOR", c->u.cursor.resource_id);
	if (!r)
		return;
	if (r->width > DISPLAY_CURSOR_MAX || r->height > DISPLAY_CURSOR_MAX) {
		log_rl(LOG_INFO, "%s: UPDATE_CURSOR: resource %u is %ux%u, larger than %ux%u",
		       g->vdev.name, r->id, r->width, r->height, DISPLAY_CURSOR_MAX,
		       DISPLAY_CURSOR_MAX);
		return;
	}
	enum display_fmt fmt = display_fmt_of(r->format);
	bool has_alpha = r->format == VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM ||
			 r->format == VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM ||
			 r->format == VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM ||
			 r->format == VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM;
	/* Alpha position per format (bytes): BGRA 3, ARGB 0, RGBA 3, ABGR 0. */
	unsigned apos = fmt == DFMT_XRGB || fmt == DFMT_XBGR ? 0 : 3;
	memset(cur->pixels, 0, sizeof(cur->pixels));
	for (uint32_t y = 0; y < r->height; y++) {
		const uint8_t *src = r->pixels + (size_t)y * r->stride;
		for (uint32_t x = 0; x < r->width; x++, src += 4) {
			uint8_t px[4];
			uint8_t a = has_alpha ? src[apos] : 0xff;
			switch (fmt) {
			case DFMT_XRGB:
				px[0] = src[3], px[1] = src[2], px[2] = src[1];
				break;
			case DFMT_RGBX:
				px[0] = src[2], px[1] = src[1], px[2] = src[0];
				break;
			case DFMT_XBGR:
				px[0] = src[1], px[1] = src[2], px[2] = src[3];
				break;
			default:
				px[0] = src[0], px[1] = src[1], px[2] = src[2];
				break;
			}
			px[3] = a;
			memcpy(&cur->pixels[y * r->width + x], px, 4);
		}
	}
	cur->w = r->width;
	cur->h = r->height;
	cur->hot_x = c->u.cursor.hot_x;
	cur->hot_y = c->u.cursor.hot_y;
	cur->visible = true;
	display_source_set_cursor(g->src, cur);
}

/* Execute a decoded command; fills the response body, returns its type and length. */
static uint32_t exec(struct vgpu *g, const struct vgpu_cmd *c, union vgpu_resp *resp,
		     size_t *resp_len)
{
	*resp_len = sizeof(resp->hdr);
	switch (c->hdr.type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
		cmd_display_info(g, &resp->info);
		*resp_len = sizeof(resp->info);
		return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
	case VIRTIO_GPU_CMD_GET_EDID: {
		uint32_t t = cmd_edid(g, c, &resp->edid);
		if (t == VIRTIO_GPU_RESP_OK_EDID)
			*resp_len = sizeof(resp->edid);
		return t;
	}
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
		return cmd_create_2d(g, c);
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		return cmd_unref(g, c);
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
		return cmd_attach(g, c);
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		return cmd_detach(g, c);
	case VIRTIO_GPU_CMD_SET_SCANOUT:
		return cmd_set_scanout(g, c);
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
		return cmd_transfer(g, c);
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
		return cmd_flush(g, c);
	case VIRTIO_GPU_CMD_UPDATE_CURSOR:
	case VIRTIO_GPU_CMD_MOVE_CURSOR:
		cmd_cursor(g, c);
		return VIRTIO_GPU_RESP_OK_NODATA;
	default:
		return VIRTIO_GPU_RESP_ERR_UNSPEC; /* the decoder lets nothing else through */
	}
}

/* Handle one chain; false when the guest broke the framing (device failed). */
static bool handle(struct vgpu *g, uint16_t q, struct vq_chain *ch)
{
	struct virtio_dev *dev = &g->vdev;
	struct vq_cursor rd, wr;
	struct vgpu_cmd cmd;
	union vgpu_resp resp;
	size_t resp_len = sizeof(resp.hdr);
	size_t len = MIN((size_t)ch->out_len, VGPU_MAX_REQUEST);

	vq_reader_init(&rd, ch);
	if (vq_cursor_read(&rd, g->req, len) < 0)
		len = 0;
	uint32_t st = vgpu_decode(g->req, len, q == VGPU_CURSORQ, &cmd);
	if (st == VGPU_DECODE_NO_HEADER) {
		virtio_dev_fail(dev, "queue %u: request 0x%x: %zu bytes, shorter than a header", q,
				ch->head, len);
		return false;
	}
	memset(&resp, 0, sizeof(resp));
	if (st == VGPU_DECODE_OK) {
		st = exec(g, &cmd, &resp, &resp_len);
	} else {
		log_rl(LOG_INFO, "%s: queue %u: %s (0x%x): malformed, answered 0x%x", dev->name, q,
		       vgpu_cmd_name(cmd.hdr.type), cmd.hdr.type, st);
	}
	resp.hdr.type = htole32(st);
	if (cmd.hdr.flags & VIRTIO_GPU_FLAG_FENCE) {
		/* Everything completes before the response: the fence is signalled with it. */
		resp.hdr.flags = htole32(VIRTIO_GPU_FLAG_FENCE |
					 (cmd.hdr.flags & VIRTIO_GPU_FLAG_INFO_RING_IDX));
		resp.hdr.fence_id = htole64(cmd.hdr.fence_id);
		resp.hdr.ctx_id = htole32(cmd.hdr.ctx_id);
		resp.hdr.ring_idx = cmd.hdr.ring_idx;
	}
	uint32_t written = 0;
	if (q == VGPU_CURSORQ && ch->in_len < sizeof(resp.hdr)) {
		written = 0; /* cursor requests need not take a response */
	} else if (ch->in_len < resp_len) {
		virtio_dev_fail(dev,
				"queue %u: request 0x%x (%s): %u writable bytes, the response "
				"needs %zu",
				q, ch->head, vgpu_cmd_name(cmd.hdr.type), ch->in_len, resp_len);
		return false;
	} else {
		vq_writer_init(&wr, ch);
		if (vq_cursor_write(&wr, &resp, resp_len) < 0) {
			virtio_dev_fail(dev, "queue %u: request 0x%x: response write failed", q,
					ch->head);
			return false;
		}
		written = (uint32_t)resp_len;
	}
	vq_push(&dev->queues[q], ch->head, written);
	return true;
}

/* ---- virtio ops ---- */

static void vgpu_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vgpu *g = to_gpu(dev);
	struct virtqueue *vq = &dev->queues[q];
	bool pushed = false;
	for (;;) {
		struct vq_chain ch = {.iov = g->iov, .cap = VGPU_CHAIN_CAP};
		if (vq_pop(vq, &ch) <= 0)
			break;
		if (!handle(g, q, &ch))
			return;
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(dev, q);
}

static void vgpu_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
	struct vgpu *g = to_gpu(dev);
	uint32_t at = offsetof(struct virtio_gpu_config, events_clear);
	if (off == at && len == 4) {
		uint32_t v;
		memcpy(&v, data, 4);
		g->cfg.events_read &= htole32(~le32toh(v));
	}
}

/* Nothing is in flight between commands (each one completes on the thread that pops it). */
static int vgpu_reset(struct virtio_dev *dev, bool wait)
{
	(void)wait;
	struct vgpu *g = to_gpu(dev);
	res_destroy_all(g);
	scanout_disable(g);
	if (g->src && g->cursor.visible) {
		g->cursor.visible = false;
		display_source_set_cursor(g->src, &g->cursor);
	}
	g->cfg.events_read = 0;
	return 0;
}

static void vgpu_destroy(struct virtio_dev *dev)
{
	struct vgpu *g = to_gpu(dev);
	res_destroy_all(g);
	display_source_remove(g->src);
	free(g->req);
	free(g);
}

/* vm.counters (under the device lock) */
static void vgpu_counters(struct virtio_dev *dev, void (*emit)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	emit(ctx, "hostmem_bytes", to_gpu(dev)->hostmem);
}

static const struct virtio_dev_ops vgpu_ops = {
    .counters = vgpu_counters,
    .write_config = vgpu_write_config,
    .reset = vgpu_reset,
    .queue_notify = vgpu_queue_notify,
    .destroy = vgpu_destroy,
};

void vgpu_request_mode(struct virtio_dev *dev, uint32_t w, uint32_t h)
{
	struct vgpu *g = to_gpu(dev);
	w = MIN(MAX(w, 16u), EDID_MAX_DIM);
	h = MIN(MAX(h, 16u), EDID_MAX_DIM);
	virtio_dev_lock(dev);
	if (w != g->scanout.pref_w || h != g->scanout.pref_h) {
		log_info("%s: offering %ux%u to the driver", dev->name, w, h);
		g->scanout.pref_w = w;
		g->scanout.pref_h = h;
		g->cfg.events_read |= htole32(VIRTIO_GPU_EVENT_DISPLAY);
		if (dev->active)
			virtio_notify_config(dev);
	}
	virtio_dev_unlock(dev);
}

static void on_resize_request(void *opaque, uint32_t w, uint32_t h)
{
	vgpu_request_mode(opaque, w, h);
}

static const struct display_source_ops vgpu_source_ops = {
    .resize_request = on_resize_request,
};

uint64_t vgpu_hostmem_used(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	uint64_t n = to_gpu(dev)->hostmem;
	virtio_dev_unlock(dev);
	return n;
}

int vgpu_create(const struct vgpu_params *p, struct display *display, const char *name,
		struct virtio_dev **out, char *err, size_t errlen)
{
	struct vgpu *g = calloc(1, sizeof(*g));
	int r = -ENOMEM;
	if (!g || !(g->req = malloc(VGPU_MAX_REQUEST)))
		goto fail;
	g->max_hostmem = p->max_hostmem ? p->max_hostmem : VGPU_DEFAULT_HOSTMEM;
	g->scanout.pref_w = MIN(MAX(p->width ? p->width : VGPU_DEFAULT_WIDTH, 16u), EDID_MAX_DIM);
	g->scanout.pref_h =
	    MIN(MAX(p->height ? p->height : VGPU_DEFAULT_HEIGHT, 16u), EDID_MAX_DIM);
	if (getrandom(&g->seed, sizeof(g->seed), 0) != sizeof(g->seed))
		g->seed = (uint32_t)time_now_ns();
	g->cfg.num_scanouts = htole32(VGPU_SCANOUTS);
	if (display) {
		r = display_source_add(display, name, VGPU_DISPLAY_PRIO, &vgpu_source_ops, &g->vdev,
				       &g->src);
		if (r < 0)
			goto fail;
	}
	r = virtio_dev_init(&g->vdev, &vgpu_ops, name, VIRTIO_ID_GPU, 1ULL << VIRTIO_GPU_F_EDID, 2,
			    VGPU_QUEUE_SIZE, &g->cfg, sizeof(g->cfg));
	if (r < 0)
		goto fail;
	*out = &g->vdev;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", name, strerror(-r));
	if (g) {
		display_source_remove(g->src);
		free(g->req);
	}
	free(g);
	return r;
}
