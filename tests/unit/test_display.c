/* SPDX-License-Identifier: MIT */
/*
 * The display core, PNG screenshots (read back with libpng) and the VNC server, driven by
 * libvncclient (a VNC client library nobody here wrote): framebuffer contents, incremental
 * updates, several viewers, keys and pointer to the input sinks, mode changes, passwords,
 * desktop-size requests.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/input-event-codes.h>
#include <png.h>
#include <rfb/rfbclient.h>
#include "backends/display.h"
#include "backends/display_vnc.h"
#include "base/ev_loop.h"
#include "harness.h"

static uint32_t pat(uint32_t x, uint32_t y, uint32_t salt)
{
	return ((x * 3 + salt) & 0xff) << 16 | ((y * 5) & 0xff) << 8 | ((x ^ y ^ salt) & 0xff);
}

/* Push a w x h pattern (BGRX) at (x, y). */
static void push(struct display_source *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
		 uint32_t salt)
{
	uint32_t *buf = malloc((size_t)w * h * 4);
	for (uint32_t j = 0; j < h; j++)
		for (uint32_t i = 0; i < w; i++)
			buf[j * w + i] = pat(x + i, y + j, salt);
	display_source_update(s, x, y, w, h, buf, (size_t)w * 4, DFMT_BGRX);
	free(buf);
}

static uint32_t px_at(struct display *d, uint32_t x, uint32_t y)
{
	uint32_t w, h;
	size_t n = display_read(d, &w, &h, NULL, 0);
	uint32_t *buf = malloc(n);
	display_read(d, &w, &h, buf, n);
	uint32_t v = x < w && y < h ? buf[y * w + x] & 0xffffff : 0xdeadbeef;
	free(buf);
	return v;
}

TEST(display_sources_priority_and_fallback)
{
	struct display *d;
	struct display_source *lo, *hi;
	REQUIRE(display_create(NULL, 320, 200, &d) == 0);
	REQUIRE(display_source_add(d, "lo", 1, NULL, NULL, &lo) == 0);
	REQUIRE(display_source_add(d, "hi", 9, NULL, NULL, &hi) == 0);
	uint32_t w, h;
	display_size(d, &w, &h);
	CHECK_EQ(w, 320);
	CHECK_EQ(px_at(d, 5, 5), 0);
	display_source_set_mode(lo, 100, 50);
	CHECK(display_source_shown(lo));
	CHECK(display_source_take_refresh(lo));
	CHECK(!display_source_take_refresh(lo));
	push(lo, 0, 0, 100, 50, 1);
	CHECK_EQ(px_at(d, 7, 9), pat(7, 9, 1));
	/* The higher source wins; the lower one's pushes are ignored meanwhile. */
	display_source_set_mode(hi, 64, 32);
	display_size(d, &w, &h);
	CHECK_EQ(w, 64);
	CHECK(!display_source_shown(lo));
	push(lo, 0, 0, 50, 30, 2);
	CHECK_EQ(px_at(d, 7, 9), 0);
	push(hi, 0, 0, 64, 32, 3);
	/* Clipping: a push past the mode's edge is cut, not written past it. */
	push(hi, 60, 30, 100, 100, 4);
	CHECK_EQ(px_at(d, 61, 31), pat(61, 31, 4));
	CHECK_EQ(px_at(d, 7, 9), pat(7, 9, 3));
	/* Back to the lower one, which must repaint. */
	display_source_set_mode(hi, 0, 0);
	display_size(d, &w, &h);
	CHECK_EQ(w, 100);
	CHECK(display_source_take_refresh(lo));
	display_source_remove(lo);
	display_size(d, &w, &h);
	CHECK_EQ(w, 320);
	display_source_remove(hi);
	display_destroy(d);
}

TEST(display_converts_source_formats)
{
	struct display *d;
	struct display_source *s;
	REQUIRE(display_create(NULL, 4, 1, &d) == 0);
	REQUIRE(display_source_add(d, "s", 1, NULL, NULL, &s) == 0);
	display_source_set_mode(s, 4, 1);
	const uint8_t bgr[3] = {0x11, 0x22, 0x33};
	display_source_update(s, 0, 0, 1, 1, bgr, 3, DFMT_BGR);
	CHECK_EQ(px_at(d, 0, 0), 0x332211);
	const uint8_t rgb565[2] = {0x1f, 0xf8}; /* red 31, green 0, blue 31 */
	display_source_update(s, 1, 0, 1, 1, rgb565, 2, DFMT_RGB565);
	CHECK_EQ(px_at(d, 1, 0), 0xff00ff);
	const uint8_t xrgb[4] = {0x00, 0xaa, 0xbb, 0xcc};
	display_source_update(s, 2, 0, 1, 1, xrgb, 4, DFMT_XRGB);
	CHECK_EQ(px_at(d, 2, 0), 0xaabbcc);
	const uint8_t xbgr[4] = {0x00, 0xcc, 0xbb, 0xaa};
	display_source_update(s, 3, 0, 1, 1, xbgr, 4, DFMT_XBGR);
	CHECK_EQ(px_at(d, 3, 0), 0xaabbcc);
	display_destroy(d);
}

TEST(display_screenshot_png_round_trip)
{
	struct display *d;
	struct display_source *s;
	char path[512], err[256];
	REQUIRE(display_create(NULL, 8, 8, &d) == 0);
	REQUIRE(display_source_add(d, "s", 1, NULL, NULL, &s) == 0);
	display_source_set_mode(s, 33, 17);
	push(s, 0, 0, 33, 17, 7);
	snprintf(path, sizeof(path), "%s/shot.png", test_tmpdir());
	REQUIRE(display_screenshot(d, path, err, sizeof(err)) == 0);
	png_image img;
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	REQUIRE(png_image_begin_read_from_file(&img, path));
	CHECK_EQ(img.width, 33);
	CHECK_EQ(img.height, 17);
	img.format = PNG_FORMAT_RGB;
	uint8_t *rgb = malloc(PNG_IMAGE_SIZE(img));
	REQUIRE(png_image_finish_read(&img, NULL, rgb, 0, NULL));
	bool same = true;
	for (uint32_t y = 0; y < 17; y++)
		for (uint32_t x = 0; x < 33; x++) {
			const uint8_t *p = rgb + 3 * (y * 33 + x);
			uint32_t v = (uint32_t)p[0] << 16 | p[1] << 8 | p[2];
			same = same && v == pat(x, y, 7);
		}
	CHECK(same);
	free(rgb);
	/* An unwritable path is a one-line error. */
	CHECK(display_screenshot(d, "/nonexistent-dir/x.png", err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent-dir/x.png") && !strchr(err, '\n'));
	display_destroy(d);
}

/* ---- VNC ---- */

struct sink {
	pthread_mutex_t lock;
	uint16_t keys[64];
	bool downs[64];
	unsigned nr_keys;
	uint32_t x, y, buttons;
	int wheel;
	unsigned nr_ptr;
};

static void sink_key(void *o, uint16_t code, bool down)
{
	struct sink *k = o;
	pthread_mutex_lock(&k->lock);
	if (k->nr_keys < 64) {
		k->keys[k->nr_keys] = code;
		k->downs[k->nr_keys++] = down;
	}
	pthread_mutex_unlock(&k->lock);
}

static void sink_ptr(void *o, uint32_t x, uint32_t y, uint32_t buttons, int wheel)
{
	struct sink *k = o;
	pthread_mutex_lock(&k->lock);
	k->x = x;
	k->y = y;
	k->buttons = buttons;
	k->wheel += wheel;
	k->nr_ptr++;
	pthread_mutex_unlock(&k->lock);
}

static const struct display_input_ops sink_ops = {sink_key, sink_ptr};

struct viewer {
	rfbClient *c;
	/* Rectangles of the framebuffer update being received... */
	uint64_t p_area;
	uint32_t px1, py1, px2, py2;
	/* ...and of the completed ones since the last reset. */
	unsigned nr_updates;
	uint64_t area;
	uint32_t x1, y1, x2, y2;
};

static char *pw_good(rfbClient *c)
{
	(void)c;
	return strdup("sesame");
}
static char *pw_bad(rfbClient *c)
{
	(void)c;
	return strdup("wrong!");
}

static void on_update(rfbClient *c, int x, int y, int w, int h)
{
	struct viewer *v = rfbClientGetClientData(c, (void *)on_update);
	v->p_area += (uint64_t)w * h;
	v->px1 = MIN(v->px1, (uint32_t)x);
	v->py1 = MIN(v->py1, (uint32_t)y);
	v->px2 = MAX(v->px2, (uint32_t)(x + w));
	v->py2 = MAX(v->py2, (uint32_t)(y + h));
}

/* Pixel data is in the framebuffer only once the whole update message is handled. */
static void on_finished(rfbClient *c)
{
	struct viewer *v = rfbClientGetClientData(c, (void *)on_update);
	if (v->p_area) {
		v->nr_updates++;
		v->area += v->p_area;
		v->x1 = MIN(v->x1, v->px1);
		v->y1 = MIN(v->y1, v->py1);
		v->x2 = MAX(v->x2, v->px2);
		v->y2 = MAX(v->y2, v->py2);
	}
	v->p_area = 0;
	v->px1 = v->py1 = UINT32_MAX;
	v->px2 = v->py2 = 0;
}

static void quiet(const char *fmt, ...)
{
	(void)fmt;
}

static void viewer_reset(struct viewer *v)
{
	v->nr_updates = 0;
	v->area = 0;
	v->x1 = v->y1 = v->px1 = v->py1 = UINT32_MAX;
	v->x2 = v->y2 = v->px2 = v->py2 = 0;
	v->p_area = 0;
}

static bool viewer_open(struct viewer *v, uint16_t port, char *(*pw)(rfbClient *),
			const char *encodings)
{
	rfbClientLog = quiet;
	rfbClientErr = quiet;
	memset(v, 0, sizeof(*v));
	viewer_reset(v);
	rfbClient *c = rfbGetClient(8, 3, 4);
	if (!c)
		return false;
	c->format.redShift = 16; /* B G R X in memory, like the display */
	c->format.greenShift = 8;
	c->format.blueShift = 0;
	c->serverHost = strdup("127.0.0.1");
	c->serverPort = port;
	c->appData.encodingsString = encodings;
	c->canHandleNewFBSize = TRUE;
	c->GotFrameBufferUpdate = on_update;
	c->FinishedFrameBufferUpdate = on_finished;
	c->GetPassword = pw;
	rfbClientSetClientData(c, (void *)on_update, v);
	if (!rfbInitClient(c, NULL, NULL))
		return false; /* it freed c */
	v->c = c;
	return true;
}

static void viewer_close(struct viewer *v)
{
	if (!v->c)
		return;
	free(v->c->frameBuffer);
	v->c->frameBuffer = NULL;
	rfbClientCleanup(v->c);
	v->c = NULL;
}

/* Handle server messages until the viewer has updates covering (x, y, w, h), 5 s at most. */
static bool viewer_wait(struct viewer *v, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	for (int i = 0; i < 100; i++) {
		if (v->nr_updates && v->x1 <= x && v->y1 <= y && v->x2 >= x + w && v->y2 >= y + h)
			return true;
		int n = WaitForMessage(v->c, 50000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(v->c)))
			return false;
		if (n == 0)
			SendFramebufferUpdateRequest(v->c, 0, 0, v->c->width, v->c->height, TRUE);
	}
	return false;
}

static bool viewer_shows(struct viewer *v, uint32_t w, uint32_t h, uint32_t salt)
{
	if ((uint32_t)v->c->width != w || (uint32_t)v->c->height != h)
		return false;
	const uint32_t *fb = (const uint32_t *)v->c->frameBuffer;
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			if ((fb[y * w + x] & 0xffffff) != pat(x, y, salt)) {
				fprintf(stderr, "  viewer pixel (%u,%u) = %06x, want %06x\n", x, y,
					fb[y * w + x] & 0xffffff, pat(x, y, salt));
				return false;
			}
	return true;
}

static bool wait_for(struct sink *k, unsigned *counter, unsigned want)
{
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&k->lock);
		bool ok = *counter >= want;
		pthread_mutex_unlock(&k->lock);
		if (ok)
			return true;
		usleep(10000);
	}
	return false;
}

TEST(vnc_viewers_see_the_screen_and_send_input)
{
	struct display *d;
	struct display_source *s;
	struct display_vnc *vnc;
	struct sink k = {.lock = PTHREAD_MUTEX_INITIALIZER};
	char err[256];
	REQUIRE(display_create(NULL, 64, 48, &d) == 0);
	REQUIRE(display_source_add(d, "s", 1, NULL, NULL, &s) == 0);
	display_source_set_mode(s, 64, 48);
	push(s, 0, 0, 64, 48, 1);
	display_set_keyboard(d, &sink_ops, &k);
	display_set_pointer(d, &sink_ops, &k);
	REQUIRE(display_vnc_create("127.0.0.1", 0, NULL, &vnc, err, sizeof(err)) == 0);
	uint16_t port = display_vnc_port(vnc);
	CHECK(port != 0);
	REQUIRE(display_vnc_start(vnc, d) == 0);

	struct viewer a, b;
	REQUIRE(viewer_open(&a, port, NULL, "raw"));
	CHECK(viewer_wait(&a, 0, 0, 64, 48));
	CHECK(viewer_shows(&a, 64, 48, 1));
	/* A second viewer at the same time, with a compressing encoding. */
	REQUIRE(viewer_open(&b, port, NULL, "zrle hextile raw"));
	CHECK(viewer_wait(&b, 0, 0, 64, 48));
	CHECK(viewer_shows(&b, 64, 48, 1));

	/* Incremental: a 5x3 change reaches both viewers as a small update. */
	viewer_reset(&a);
	viewer_reset(&b);
	push(s, 10, 20, 5, 3, 2);
	CHECK(viewer_wait(&a, 10, 20, 5, 3));
	CHECK(viewer_wait(&b, 10, 20, 5, 3));
	CHECK(a.area < 64 * 48 / 4);
	CHECK(b.area < 64 * 48 / 4);
	const uint32_t *fb = (const uint32_t *)a.c->frameBuffer;
	CHECK_EQ(fb[21 * 64 + 12] & 0xffffff, pat(12, 21, 2));
	CHECK_EQ(fb[5 * 64 + 5] & 0xffffff, pat(5, 5, 1));

	/* Keys (keysyms -> Linux codes) and the pointer (scaled to the tablet's range). */
	SendKeyEvent(a.c, 'a', TRUE);
	SendKeyEvent(a.c, 'A', FALSE);
	CHECK(wait_for(&k, &k.nr_keys, 2));
	SendKeyEvent(b.c, XK_Return, TRUE);
	CHECK(wait_for(&k, &k.nr_keys, 3));
	CHECK_EQ(k.keys[0], KEY_A);
	CHECK(k.downs[0]);
	CHECK_EQ(k.keys[1], KEY_A);
	CHECK(!k.downs[1]);
	CHECK_EQ(k.keys[2], KEY_ENTER);
	SendPointerEvent(a.c, 63, 47, 1);
	CHECK(wait_for(&k, &k.nr_ptr, 1));
	CHECK_EQ(k.x, DISPLAY_ABS_MAX);
	CHECK_EQ(k.y, DISPLAY_ABS_MAX);
	CHECK_EQ(k.buttons, 1);
	SendPointerEvent(a.c, 0, 0, 8); /* wheel up press */
	SendPointerEvent(a.c, 0, 0, 0);
	CHECK(wait_for(&k, &k.nr_ptr, 3));
	CHECK_EQ(k.x, 0);
	CHECK_EQ(k.wheel, 1);

	/* A mode change reaches the viewers as a new framebuffer size. */
	viewer_reset(&a);
	display_source_set_mode(s, 80, 60);
	push(s, 0, 0, 80, 60, 3);
	CHECK(viewer_wait(&a, 0, 0, 80, 60));
	CHECK(viewer_shows(&a, 80, 60, 3));

	viewer_close(&a);
	viewer_close(&b);
	display_vnc_destroy(vnc);
	display_destroy(d);
}

TEST(vnc_password)
{
	struct display *d;
	struct display_source *s;
	struct display_vnc *vnc;
	char err[256], path[512];
	snprintf(path, sizeof(path), "%s/pw", test_tmpdir());
	FILE *f = fopen(path, "w");
	REQUIRE(f);
	fputs("sesame\n", f);
	fclose(f);
	REQUIRE(display_create(NULL, 16, 16, &d) == 0);
	REQUIRE(display_source_add(d, "s", 1, NULL, NULL, &s) == 0);
	display_source_set_mode(s, 16, 16);
	push(s, 0, 0, 16, 16, 5);
	REQUIRE(display_vnc_create("127.0.0.1", 0, path, &vnc, err, sizeof(err)) == 0);
	REQUIRE(display_vnc_start(vnc, d) == 0);
	struct viewer v;
	CHECK(!viewer_open(&v, display_vnc_port(vnc), pw_bad, "raw"));
	CHECK(!viewer_open(&v, display_vnc_port(vnc), NULL, "raw"));
	REQUIRE(viewer_open(&v, display_vnc_port(vnc), pw_good, "raw"));
	CHECK(viewer_wait(&v, 0, 0, 16, 16));
	CHECK(viewer_shows(&v, 16, 16, 5));
	viewer_close(&v);
	display_vnc_destroy(vnc);
	display_destroy(d);
}

TEST(vnc_create_errors)
{
	struct display_vnc *a, *b;
	char err[256];
	CHECK_EQ(display_vnc_create("300.1.1.1", 5900, NULL, &a, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not an IPv4 address") != NULL);
	CHECK(display_vnc_create("127.0.0.1", 0, "/nonexistent/pw", &a, err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent/pw") != NULL);
	REQUIRE(display_vnc_create("127.0.0.1", 0, NULL, &a, err, sizeof(err)) == 0);
	CHECK_EQ(display_vnc_create("127.0.0.1", display_vnc_port(a), NULL, &b, err, sizeof(err)),
		 -EADDRINUSE);
	CHECK(strstr(err, "in use") != NULL && !strchr(err, '\n'));
	display_vnc_destroy(a);
}

struct resize_rec {
	uint32_t w, h;
	unsigned n;
};

static void on_resize(void *o, uint32_t w, uint32_t h)
{
	struct resize_rec *r = o;
	r->w = w;
	r->h = h;
	r->n++;
}

static const struct display_source_ops resize_ops = {.resize_request = on_resize};

TEST(vnc_viewer_resize_request_reaches_the_source)
{
	struct ev_loop *loop;
	struct display *d;
	struct display_source *s;
	struct display_vnc *vnc;
	struct resize_rec rec = {0};
	char err[256];
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(display_create(loop, 64, 48, &d) == 0);
	REQUIRE(display_source_add(d, "gpu", 5, &resize_ops, &rec, &s) == 0);
	display_source_set_mode(s, 64, 48);
	REQUIRE(display_vnc_create("127.0.0.1", 0, NULL, &vnc, err, sizeof(err)) == 0);
	REQUIRE(display_vnc_start(vnc, d) == 0);
	struct viewer v;
	REQUIRE(viewer_open(&v, display_vnc_port(vnc), NULL, "raw"));
	CHECK(viewer_wait(&v, 0, 0, 64, 48));
	/* libvncclient sends SetDesktopSize only once the server announced ExtendedDesktopSize,
	 * which comes with the first update. */
	REQUIRE(SendExtDesktopSize(v.c, 800, 600));
	for (int i = 0; i < 200 && !rec.n; i++) {
		ev_loop_run_once(loop, 10);
		if (WaitForMessage(v.c, 1000) > 0)
			HandleRFBServerMessage(v.c);
	}
	CHECK_EQ(rec.n, 1);
	CHECK_EQ(rec.w, 800);
	CHECK_EQ(rec.h, 600);
	viewer_close(&v);
	display_vnc_destroy(vnc);
	display_destroy(d);
	ev_loop_destroy(loop);
}
