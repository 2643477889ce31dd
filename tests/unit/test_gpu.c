/* SPDX-License-Identifier: MIT */
/*
 * virtio-gpu through the test-side driver: the 2D command set against the real display core,
 * and the corners a real driver does not reach: malformed commands (unknown resources,
 * rectangles outside resources, backing outside RAM, width * height overflow, short and
 * unknown commands), a resource-creation storm up to max_hostmem, framing errors.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include "backends/display.h"
#include "devices/edid.h"
#include "devices/virtio/gpu.h"
#include "harness.h"
#include "vq_driver.h"

#define QSZ 256
#define MEM (64u << 20)

struct tgpu {
	struct virtio_dev *dev;
	struct display *display;
	struct display_listener *listener;
	struct vqd_mem m;
	struct vq_driver ctrl, cursor;
	unsigned irq_config;
	uint64_t req, resp; /* scratch in guest RAM */
	/* what the display listener saw */
	struct display_rect last_damage;
	unsigned nr_damage;
	struct display_cursor cur;
	bool cur_visible;
	unsigned nr_cursor;
};

static void irq_q(void *o, uint16_t q)
{
	(void)o;
	(void)q;
}
static void irq_c(void *o)
{
	((struct tgpu *)o)->irq_config++;
}
static const struct virtio_irq_ops t_irq = {irq_q, irq_c};

static void l_mode(void *o, void *fb, uint32_t w, uint32_t h, uint32_t stride)
{
	(void)o, (void)fb, (void)w, (void)h, (void)stride;
}
static void l_damage(void *o, const struct display_rect *r)
{
	struct tgpu *t = o;
	t->last_damage = *r;
	t->nr_damage++;
}
static void l_cursor(void *o, const struct display_cursor *c)
{
	struct tgpu *t = o;
	t->nr_cursor++;
	t->cur_visible = c != NULL;
	if (c)
		t->cur = *c;
}
static const struct display_listener_ops t_listener = {l_mode, l_damage, l_cursor, NULL};

static struct tgpu *tgpu_new(uint64_t max_hostmem)
{
	struct tgpu *t = calloc(1, sizeof(*t));
	char err[256];
	struct vgpu_params p = {1280, 800, max_hostmem};
	if (!t || display_create(NULL, 640, 480, &t->display) < 0)
		return NULL;
	if (display_listener_add(t->display, &t_listener, t, &t->listener) < 0)
		return NULL;
	if (vgpu_create(&p, t->display, "gpu0", &t->dev, err, sizeof(err)) < 0)
		return NULL;
	if (vqd_mem_init(&t->m, 0, MEM) < 0)
		return NULL;
	virtio_dev_attach(t->dev, &t->m.gm, NULL, &t_irq, t);
	if (vqd_init(&t->ctrl, &t->m, 0x10000, QSZ) < 0 ||
	    vqd_init(&t->cursor, &t->m, 0x20000, QSZ) < 0)
		return NULL;
	uint8_t st =
	    vqd_negotiate(t->dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_GPU_F_EDID));
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK))
		return NULL;
	if (vqd_attach(&t->ctrl, t->dev, 0) < 0 || vqd_attach(&t->cursor, t->dev, 1) < 0)
		return NULL;
	virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	t->req = vqd_alloc(&t->m, 1 << 20, 4096);
	t->resp = vqd_alloc(&t->m, 4096, 4096);
	return t;
}

static void tgpu_free(struct tgpu *t)
{
	virtio_dev_destroy(t->dev);
	display_listener_remove(t->listener);
	display_destroy(t->display);
	vqd_mem_fini(&t->m);
	free(t);
}

static bool needs_reset(struct tgpu *t)
{
	return virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* Send req on queue q with resp_len bytes of response space; returns the response type (0
 * when nothing came back) and the bytes written in *written. */
static uint32_t send_q(struct tgpu *t, uint16_t q, const void *req, uint32_t len, uint32_t resp_len,
		       uint32_t *written)
{
	struct vq_driver *d = q ? &t->cursor : &t->ctrl;
	memcpy(vqd_hva(&t->m, t->req), req, len);
	memset(vqd_hva(&t->m, t->resp), 0xee, 4096);
	struct vqd_seg s[2] = {{t->req, len, false}, {t->resp, resp_len, true}};
	if (vqd_add(d, s, resp_len ? 2 : 1, false) < 0)
		return 0;
	virtio_queue_kick(t->dev, q);
	uint32_t id, wl = 0;
	if (!vqd_get_used(d, &id, &wl))
		return 0;
	if (written)
		*written = wl;
	if (wl < sizeof(struct virtio_gpu_ctrl_hdr))
		return 0;
	return le32toh(((struct virtio_gpu_ctrl_hdr *)vqd_hva(&t->m, t->resp))->type);
}

static uint32_t send(struct tgpu *t, const void *req, uint32_t len)
{
	return send_q(t, 0, req, len, sizeof(struct virtio_gpu_resp_edid), NULL);
}

static void hdr(struct virtio_gpu_ctrl_hdr *h, uint32_t type)
{
	memset(h, 0, sizeof(*h));
	h->type = htole32(type);
}

static uint32_t create(struct tgpu *t, uint32_t id, uint32_t fmt, uint32_t w, uint32_t h)
{
	struct virtio_gpu_resource_create_2d c;
	hdr(&c.hdr, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D);
	c.resource_id = htole32(id);
	c.format = htole32(fmt);
	c.width = htole32(w);
	c.height = htole32(h);
	return send(t, &c, sizeof(c));
}

static uint32_t unref(struct tgpu *t, uint32_t id)
{
	struct virtio_gpu_resource_unref c;
	hdr(&c.hdr, VIRTIO_GPU_CMD_RESOURCE_UNREF);
	c.resource_id = htole32(id);
	c.padding = 0;
	return send(t, &c, sizeof(c));
}

struct ent {
	uint64_t addr;
	uint32_t len;
};

static uint32_t attach(struct tgpu *t, uint32_t id, const struct ent *e, uint32_t n,
		       uint32_t claimed)
{
	uint8_t buf[sizeof(struct virtio_gpu_resource_attach_backing) + 16 * 8];
	struct virtio_gpu_resource_attach_backing *a = (void *)buf;
	hdr(&a->hdr, VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING);
	a->resource_id = htole32(id);
	a->nr_entries = htole32(claimed);
	struct virtio_gpu_mem_entry *me = (void *)(a + 1);
	for (uint32_t i = 0; i < n; i++) {
		me[i].addr = htole64(e[i].addr);
		me[i].length = htole32(e[i].len);
		me[i].padding = 0;
	}
	return send(t, buf, (uint32_t)(sizeof(*a) + n * sizeof(*me)));
}

static uint32_t transfer(struct tgpu *t, uint32_t id, uint32_t x, uint32_t y, uint32_t w,
			 uint32_t h, uint64_t off)
{
	struct virtio_gpu_transfer_to_host_2d c;
	hdr(&c.hdr, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D);
	c.r = (struct virtio_gpu_rect){htole32(x), htole32(y), htole32(w), htole32(h)};
	c.offset = htole64(off);
	c.resource_id = htole32(id);
	c.padding = 0;
	return send(t, &c, sizeof(c));
}

static uint32_t flush(struct tgpu *t, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct virtio_gpu_resource_flush c;
	hdr(&c.hdr, VIRTIO_GPU_CMD_RESOURCE_FLUSH);
	c.r = (struct virtio_gpu_rect){htole32(x), htole32(y), htole32(w), htole32(h)};
	c.resource_id = htole32(id);
	c.padding = 0;
	return send(t, &c, sizeof(c));
}

static uint32_t scanout(struct tgpu *t, uint32_t sid, uint32_t id, uint32_t x, uint32_t y,
			uint32_t w, uint32_t h)
{
	struct virtio_gpu_set_scanout c;
	hdr(&c.hdr, VIRTIO_GPU_CMD_SET_SCANOUT);
	c.r = (struct virtio_gpu_rect){htole32(x), htole32(y), htole32(w), htole32(h)};
	c.scanout_id = htole32(sid);
	c.resource_id = htole32(id);
	return send(t, &c, sizeof(c));
}

static uint32_t pix(uint32_t x, uint32_t y)
{
	return (x * 7 + y * 131) * 0x010203u & 0x00ffffffu;
}

#define OK VIRTIO_GPU_RESP_OK_NODATA
#define E_RES VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID
#define E_PAR VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
#define E_MEM VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
#define E_UNSPEC VIRTIO_GPU_RESP_ERR_UNSPEC

/* A W x H B8G8R8X8 resource with backing in two pieces (split mid-row) at gpa. */
static void make_fb(struct tgpu *t, uint32_t id, uint32_t w, uint32_t h, uint64_t gpa)
{
	uint32_t *p = vqd_hva(&t->m, gpa);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			p[y * w + x] = pix(x, y);
	uint32_t bytes = w * h * 4, half = bytes / 2 + 12;
	/* The second piece lives elsewhere: copy it there. */
	uint64_t gpa2 = gpa + (8u << 20);
	memcpy(vqd_hva(&t->m, gpa2), (uint8_t *)p + half, bytes - half);
	struct ent e[2] = {{gpa, half}, {gpa2, bytes - half}};
	CHECK_EQ(create(t, id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, h), OK);
	CHECK_EQ(attach(t, id, e, 2, 2), OK);
}

static bool display_matches(struct tgpu *t, uint32_t w, uint32_t h,
			    uint32_t (*f)(uint32_t, uint32_t))
{
	uint32_t dw, dh;
	uint32_t *buf = malloc((size_t)w * h * 4);
	display_read(t->display, &dw, &dh, buf, (size_t)w * h * 4);
	bool ok = dw == w && dh == h;
	for (uint32_t i = 0; ok && i < w * h; i++)
		ok = (buf[i] & 0xffffff) == f(i % w, i / w);
	free(buf);
	return ok;
}

TEST(gpu_display_info_and_edid)
{
	struct tgpu *t = tgpu_new(0);
	REQUIRE(t);
	struct virtio_gpu_ctrl_hdr h;
	hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	CHECK_EQ(send(t, &h, sizeof(h)), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	struct virtio_gpu_resp_display_info *di = vqd_hva(&t->m, t->resp);
	CHECK_EQ(le32toh(di->pmodes[0].r.width), 1280);
	CHECK_EQ(le32toh(di->pmodes[0].r.height), 800);
	CHECK_EQ(le32toh(di->pmodes[0].enabled), 1);
	CHECK_EQ(le32toh(di->pmodes[1].enabled), 0);

	struct virtio_gpu_cmd_get_edid ge;
	hdr(&ge.hdr, VIRTIO_GPU_CMD_GET_EDID);
	ge.scanout = 0;
	ge.padding = 0;
	CHECK_EQ(send(t, &ge, sizeof(ge)), VIRTIO_GPU_RESP_OK_EDID);
	struct virtio_gpu_resp_edid *re = vqd_hva(&t->m, t->resp);
	CHECK_EQ(le32toh(re->size), 128);
	static const uint8_t magic[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	CHECK(memcmp(re->edid, magic, 8) == 0);
	uint8_t sum = 0;
	for (unsigned i = 0; i < 128; i++)
		sum = (uint8_t)(sum + re->edid[i]);
	CHECK_EQ(sum, 0);
	/* The first detailed timing is the preferred mode: 1280 x 800. */
	const uint8_t *dtd = re->edid + 54;
	CHECK_EQ(dtd[2] | (dtd[4] >> 4) << 8, 1280);
	CHECK_EQ(dtd[5] | (dtd[7] >> 4) << 8, 800);
	ge.scanout = htole32(1);
	CHECK_EQ(send(t, &ge, sizeof(ge)), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	tgpu_free(t);
}

TEST(gpu_transfer_scanout_flush_show_pixels)
{
	struct tgpu *t = tgpu_new(0);
	REQUIRE(t);
	uint64_t fb = vqd_alloc(&t->m, 16u << 20, 4096);
	const uint32_t w = 96, h = 40;
	make_fb(t, 7, w, h, fb);
	CHECK_EQ(transfer(t, 7, 0, 0, w, h, 0), OK);
	CHECK_EQ(scanout(t, 0, 7, 0, 0, w, h), OK);
	CHECK(display_matches(t, w, h, pix));

	/* Change a 16x8 rectangle at (8, 4) in guest memory: nothing shows until transfer +
	 * flush, and the flush damages exactly that rectangle. */
	uint32_t *p = vqd_hva(&t->m, fb);
	for (uint32_t y = 4; y < 12; y++)
		for (uint32_t x = 8; x < 24; x++)
			p[y * w + x] = 0x00abcdef;
	uint32_t half = w * h * 4 / 2 + 12;
	memcpy(vqd_hva(&t->m, fb + (8u << 20)), (uint8_t *)p + half, w * h * 4 - half);
	CHECK(display_matches(t, w, h, pix));
	CHECK_EQ(transfer(t, 7, 8, 4, 16, 8, (4 * w + 8) * 4), OK);
	CHECK(display_matches(t, w, h, pix));
	unsigned before = t->nr_damage;
	CHECK_EQ(flush(t, 7, 8, 4, 16, 8), OK);
	CHECK_EQ(t->nr_damage, before + 1);
	CHECK_EQ(t->last_damage.x, 8);
	CHECK_EQ(t->last_damage.y, 4);
	CHECK_EQ(t->last_damage.w, 16);
	CHECK_EQ(t->last_damage.h, 8);
	uint32_t dw, dh, *buf = malloc(w * h * 4);
	display_read(t->display, &dw, &dh, buf, w * h * 4);
	CHECK_EQ(buf[5 * w + 10] & 0xffffff, 0xabcdef);
	CHECK_EQ(buf[3 * w + 10] & 0xffffff, pix(10, 3));
	CHECK_EQ(buf[5 * w + 30] & 0xffffff, pix(30, 5));
	free(buf);

	CHECK(vqd_counter(t->dev, "hostmem_bytes") >= (uint64_t)w * h * 4); /* vm.counters */
	CHECK_EQ(vqd_counter(t->dev, "hostmem_bytes"), vgpu_hostmem_used(t->dev));
	/* Unref of the scanout's resource turns the scanout off: the display falls back. */
	CHECK_EQ(unref(t, 7), OK);
	display_size(t->display, &dw, &dh);
	CHECK_EQ(dw, 640);
	CHECK_EQ(dh, 480);
	CHECK_EQ(vgpu_hostmem_used(t->dev), 0);
	CHECK(!needs_reset(t));
	tgpu_free(t);
}

static uint32_t swz(uint32_t x, uint32_t y)
{
	return pix(x, y);
}

TEST(gpu_pixel_formats_convert)
{
	struct tgpu *t = tgpu_new(0);
	REQUIRE(t);
	uint64_t fb = vqd_alloc(&t->m, 1 << 20, 4096);
	uint8_t *p = vqd_hva(&t->m, fb);
	const uint32_t w = 8, h = 4;
	struct {
		uint32_t fmt;
		int r, g, b; /* byte positions */
	} fmts[] = {
	    {VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, 1, 2, 3},
	    {VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, 0, 1, 2},
	    {VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, 3, 2, 1},
	    {VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 2, 1, 0},
	};
	for (unsigned f = 0; f < 4; f++) {
		for (uint32_t i = 0; i < w * h; i++) {
			uint32_t c = pix(i % w, i / w);
			p[4 * i + fmts[f].r] = (uint8_t)(c >> 16);
			p[4 * i + fmts[f].g] = (uint8_t)(c >> 8);
			p[4 * i + fmts[f].b] = (uint8_t)c;
			p[4 * i + (6 - fmts[f].r - fmts[f].g - fmts[f].b)] = 0x55;
		}
		struct ent e = {fb, w * h * 4};
		CHECK_EQ(create(t, 10 + f, fmts[f].fmt, w, h), OK);
		CHECK_EQ(attach(t, 10 + f, &e, 1, 1), OK);
		CHECK_EQ(transfer(t, 10 + f, 0, 0, w, h, 0), OK);
		CHECK_EQ(scanout(t, 0, 10 + f, 0, 0, w, h), OK);
		if (!display_matches(t, w, h, swz))
			test_fail_at(__FILE__, __LINE__, "format %u shows wrong colours",
				     fmts[f].fmt);
	}
	tgpu_free(t);
}

TEST(gpu_malformed_commands_get_errors)
{
	struct tgpu *t = tgpu_new(0);
	REQUIRE(t);
	uint64_t fb = vqd_alloc(&t->m, 1 << 20, 4096);
	struct ent e = {fb, 64 * 64 * 4};
	/* creation */
	CHECK_EQ(create(t, 0, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), E_RES);
	CHECK_EQ(create(t, 1, 999, 64, 64), E_PAR);
	CHECK_EQ(create(t, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 0, 64), E_PAR);
	CHECK_EQ(create(t, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 0xffffffffu, 0xffffffffu), E_PAR);
	CHECK_EQ(create(t, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16384, 16384), E_MEM);
	CHECK_EQ(create(t, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), OK);
	CHECK_EQ(create(t, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), E_RES);
	/* unknown resources */
	CHECK_EQ(unref(t, 2), E_RES);
	CHECK_EQ(attach(t, 2, &e, 1, 1), E_RES);
	CHECK_EQ(transfer(t, 2, 0, 0, 1, 1, 0), E_RES);
	CHECK_EQ(flush(t, 2, 0, 0, 1, 1), E_RES);
	CHECK_EQ(scanout(t, 0, 2, 0, 0, 1, 1), E_RES);
	/* backing outside guest RAM, wrapping, empty, too many or missing entries */
	struct ent bad[] = {
	    {1ULL << 40, 4096}, {0xfffffffffffff000ULL, 0x2000}, {MEM - 4096, 8192}, {fb, 0}};
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(attach(t, 1, &bad[i], 1, 1), E_PAR);
	CHECK_EQ(attach(t, 1, &e, 1, 0), E_PAR);
	CHECK_EQ(attach(t, 1, &e, 1, 20000), E_PAR);
	CHECK_EQ(attach(t, 1, &e, 1, 2), E_PAR);
	/* transfers without backing, then outside the resource or the backing */
	CHECK_EQ(transfer(t, 1, 0, 0, 64, 64, 0), E_UNSPEC);
	CHECK_EQ(attach(t, 1, &e, 1, 1), OK);
	CHECK_EQ(attach(t, 1, &e, 1, 1), E_UNSPEC);
	CHECK_EQ(transfer(t, 1, 0, 0, 65, 1, 0), E_PAR);
	CHECK_EQ(transfer(t, 1, 60, 60, 5, 5, 0), E_PAR);
	CHECK_EQ(transfer(t, 1, 0xffffffffu, 0, 2, 1, 0), E_PAR);
	CHECK_EQ(transfer(t, 1, 0, 0, 64, 64, 4), E_PAR);
	CHECK_EQ(transfer(t, 1, 0, 0, 1, 1, 64 * 64 * 4), E_PAR);
	CHECK_EQ(transfer(t, 1, 0, 0, 1, 1, 0xfffffffffffffff0ULL), E_PAR);
	CHECK_EQ(transfer(t, 1, 0, 0, 64, 64, 0), OK);
	/* flush and scanout rectangles */
	CHECK_EQ(flush(t, 1, 0, 0, 0, 0), E_PAR);
	CHECK_EQ(flush(t, 1, 1, 0, 64, 1), E_PAR);
	CHECK_EQ(scanout(t, 0, 1, 0, 0, 64, 65), E_PAR);
	CHECK_EQ(scanout(t, 0, 1, 0x80000000u, 0x80000000u, 0x80000000u, 0x80000000u), E_PAR);
	CHECK_EQ(scanout(t, 1, 1, 0, 0, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	CHECK_EQ(scanout(t, 0, 0, 0, 0, 0, 0), OK); /* disabling needs no rectangle */
	/* detach twice */
	struct virtio_gpu_resource_detach_backing d;
	hdr(&d.hdr, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING);
	d.resource_id = htole32(1);
	d.padding = 0;
	CHECK_EQ(send(t, &d, sizeof(d)), OK);
	CHECK_EQ(send(t, &d, sizeof(d)), E_UNSPEC);
	/* unknown, 3D and short commands; a cursor command on the control queue */
	struct virtio_gpu_ctrl_hdr h;
	hdr(&h, 0x0200);
	CHECK_EQ(send(t, &h, sizeof(h)), E_UNSPEC);
	hdr(&h, 0x7777);
	CHECK_EQ(send(t, &h, sizeof(h)), E_UNSPEC);
	hdr(&h, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D);
	CHECK_EQ(send(t, &h, sizeof(h)), E_PAR);
	hdr(&h, VIRTIO_GPU_CMD_UPDATE_CURSOR);
	CHECK_EQ(send(t, &h, sizeof(h)), E_UNSPEC);
	/* Errors never broke the device. */
	CHECK(!needs_reset(t));
	CHECK_EQ(unref(t, 1), OK);
	CHECK_EQ(vgpu_hostmem_used(t->dev), 0);
	tgpu_free(t);
}

TEST(gpu_framing_errors_need_reset)
{
	struct tgpu *t = tgpu_new(0);
	REQUIRE(t);
	/* Shorter than a header. */
	uint8_t tiny[8] = {0};
	send(t, tiny, sizeof(tiny));
	CHECK(needs_reset(t));
	CHECK(t->irq_config >= 1);
	tgpu_free(t);

	t = tgpu_new(0);
	REQUIRE(t);
	/* No room for the response. */
	struct virtio_gpu_ctrl_hdr h;
	hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	uint32_t written = 0;
	send_q(t, 0, &h, sizeof(h), 16, &written);
	CHECK(needs_reset(t));
	tgpu_free(t);
}

TEST(gpu_resource_storm_stops_at_max_hostmem)
{
	const uint64_t cap = 8u << 20;
	struct tgpu *t = tgpu_new(cap);
	REQUIRE(t);
	uint32_t n = 0, st = OK;
	while (st == OK && n < 100000) {
		st = create(t, n + 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1);
		if (st == OK)
			n++;
	}
	CHECK_EQ(st, E_MEM);
	/* Each 1x1 resource costs a page at least: the cap, not the ids, stopped the storm. */
	CHECK(n > 1000 && n <= cap / 4096);
	CHECK(vgpu_hostmem_used(t->dev) <= cap);
	/* A big one fails too; freeing one makes room for exactly one more. */
	CHECK_EQ(create(t, 200000, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 1024), E_MEM);
	CHECK_EQ(unref(t, 1), OK);
	CHECK_EQ(create(t, 200001, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1), OK);
	CHECK_EQ(create(t, 200002, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1), E_MEM);
	CHECK(!needs_reset(t));
	/* A device reset frees everything. */
	virtio_reset(t->dev);
	CHECK_EQ(vgpu_hostmem_used(t->dev), 0);
	tgpu_free(t);
}

TEST(gpu_fence_is_echoed)
{
	struct tgpu *t = tgpu_new(0);
	REQUIRE(t);
	struct virtio_gpu_ctrl_hdr h;
	hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	h.flags = htole32(VIRTIO_GPU_FLAG_FENCE);
	h.fence_id = htole64(0x1122334455667788ULL);
	CHECK_EQ(send(t, &h, sizeof(h)), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	struct virtio_gpu_ctrl_hdr *r = vqd_hva(&t->m, t->resp);
	CHECK(le32toh(r->flags) & VIRTIO_GPU_FLAG_FENCE);
	CHECK_EQ(le64toh(r->fence_id), 0x1122334455667788ULL);
	tgpu_free(t);
}

TEST(gpu_cursor_queue)
{
	struct tgpu *t = tgpu_new(0);
	REQUIRE(t);
	uint64_t fb = vqd_alloc(&t->m, 16u << 20, 4096);
	make_fb(t, 3, 96, 40, fb);
	CHECK_EQ(transfer(t, 3, 0, 0, 96, 40, 0), OK);
	CHECK_EQ(scanout(t, 0, 3, 0, 0, 96, 40), OK);
	/* A 64x64 B8G8R8A8 cursor: opaque red top half, transparent bottom half. */
	uint64_t cb = vqd_alloc(&t->m, 64 * 64 * 4, 4096);
	uint32_t *c = vqd_hva(&t->m, cb);
	for (unsigned i = 0; i < 64 * 64; i++)
		c[i] = i < 64 * 32 ? 0xffff0000u : 0x00000000u;
	struct ent e = {cb, 64 * 64 * 4};
	CHECK_EQ(create(t, 9, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64), OK);
	CHECK_EQ(attach(t, 9, &e, 1, 1), OK);
	CHECK_EQ(transfer(t, 9, 0, 0, 64, 64, 0), OK);
	struct virtio_gpu_update_cursor u;
	memset(&u, 0, sizeof(u));
	hdr(&u.hdr, VIRTIO_GPU_CMD_UPDATE_CURSOR);
	u.resource_id = htole32(9);
	u.hot_x = htole32(5);
	u.hot_y = htole32(6);
	uint32_t written = 99;
	send_q(t, 1, &u, sizeof(u), 0, &written);
	CHECK_EQ(written, 0);
	CHECK(t->cur_visible);
	CHECK_EQ(t->cur.w, 64);
	CHECK_EQ(t->cur.hot_x, 5);
	CHECK_EQ(t->cur.hot_y, 6);
	CHECK_EQ(t->cur.pixels[0], 0xffff0000u);
	CHECK_EQ(t->cur.pixels[64 * 40], 0);
	/* Moving keeps it; resource 0 hides it; an unknown resource changes nothing. */
	hdr(&u.hdr, VIRTIO_GPU_CMD_MOVE_CURSOR);
	u.pos.x = htole32(10);
	CHECK_EQ(send_q(t, 1, &u, sizeof(u), sizeof(struct virtio_gpu_ctrl_hdr), NULL), OK);
	hdr(&u.hdr, VIRTIO_GPU_CMD_UPDATE_CURSOR);
	u.resource_id = 0;
	send_q(t, 1, &u, sizeof(u), 0, NULL);
	CHECK(!t->cur_visible);
	unsigned n = t->nr_cursor;
	u.resource_id = htole32(12345);
	send_q(t, 1, &u, sizeof(u), 0, NULL);
	CHECK_EQ(t->nr_cursor, n);
	/* A control command on the cursor queue is refused. */
	struct virtio_gpu_ctrl_hdr h;
	hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	CHECK_EQ(send_q(t, 1, &h, sizeof(h), 64, NULL), E_UNSPEC);
	CHECK(!needs_reset(t));
	tgpu_free(t);
}

TEST(gpu_viewer_resize_raises_display_event)
{
	struct tgpu *t = tgpu_new(0);
	REQUIRE(t);
	unsigned before = t->irq_config;
	vgpu_request_mode(t->dev, 1024, 768);
	CHECK_EQ(t->irq_config, before + 1);
	struct virtio_gpu_config cfg;
	virtio_read_config(t->dev, 0, &cfg, sizeof(cfg));
	CHECK(le32toh(cfg.events_read) & VIRTIO_GPU_EVENT_DISPLAY);
	CHECK_EQ(le32toh(cfg.num_scanouts), 1);
	struct virtio_gpu_ctrl_hdr h;
	hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	CHECK_EQ(send(t, &h, sizeof(h)), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	struct virtio_gpu_resp_display_info *di = vqd_hva(&t->m, t->resp);
	CHECK_EQ(le32toh(di->pmodes[0].r.width), 1024);
	CHECK_EQ(le32toh(di->pmodes[0].r.height), 768);
	uint32_t clear = htole32(VIRTIO_GPU_EVENT_DISPLAY);
	virtio_write_config(t->dev, offsetof(struct virtio_gpu_config, events_clear), &clear, 4);
	virtio_read_config(t->dev, 0, &cfg, sizeof(cfg));
	CHECK_EQ(le32toh(cfg.events_read), 0);
	/* The same size again is no event. */
	vgpu_request_mode(t->dev, 1024, 768);
	CHECK_EQ(t->irq_config, before + 1);
	tgpu_free(t);
}

TEST(edid_checksums_and_modes)
{
	uint32_t sizes[][2] = {{640, 480},   {1280, 800},  {1920, 1080},
			       {3840, 2160}, {4095, 4095}, {9000, 9000}};
	for (unsigned i = 0; i < 6; i++) {
		uint8_t e[EDID_BLOCK_LEN];
		edid_build(e, sizes[i][0], sizes[i][1], "a very long monitor name");
		uint8_t sum = 0;
		for (unsigned k = 0; k < EDID_BLOCK_LEN; k++)
			sum = (uint8_t)(sum + e[k]);
		CHECK_EQ(sum, 0);
		uint32_t hact = e[56] | (e[58] >> 4) << 8, vact = e[59] | (e[61] >> 4) << 8;
		CHECK_EQ(hact, sizes[i][0] > EDID_MAX_DIM ? EDID_MAX_DIM : sizes[i][0]);
		CHECK_EQ(vact, sizes[i][1] > EDID_MAX_DIM ? EDID_MAX_DIM : sizes[i][1]);
		uint32_t clock = e[54] | e[55] << 8;
		CHECK(clock > 0);
	}
}
