/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user-gpu socket (src/vhost_user/gpu_socket.c): the reply decoder against crafted
 * replies, and the socket over a socketpair with the test as the front-end: the handshake
 * (protocol features, display info offered to the guest through the device's config event),
 * SCANOUT then UPDATE with the display's exact pixels, damage that becomes a small UPDATE, the
 * cursor, and hostile front-ends (garbage, oversized and unasked replies) that get the socket
 * dropped without harm, after which a new socket works again. Plus GPU_SET_SOCKET in the
 * vhost-user validator and back-end.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_gpu.h>
#include "harness.h"
#include "backends/display.h"
#include "base/ev_loop.h"
#include "base/util.h"
#include "devices/virtio/gpu.h"
#include "devices/virtio/rng.h"
#include "vhost_user/backend.h"
#include "vhost_user/gpu_socket.h"
#include "vhost_user/protocol.h"

/* ---- the reply decoder ---- */

static size_t mk_reply(uint8_t *buf, uint32_t req, uint32_t flags, uint32_t size,
		       const void *payload)
{
	memcpy(buf, &req, 4);
	memcpy(buf + 4, &flags, 4);
	memcpy(buf + 8, &size, 4);
	if (payload)
		memcpy(buf + 12, payload, size);
	return 12 + (payload ? size : 0);
}

static int parse(const uint8_t *b, size_t n, uint32_t expect, struct vu_gpu_reply *r)
{
	char why[160] = "";
	int v = vu_gpu_parse_reply(b, n, expect, r, why, sizeof(why));
	if (v < 0 && !why[0])
		test_fail_at(__FILE__, __LINE__, "rejected without a reason");
	return v;
}

TEST(vu_gpu_parse_reply_features)
{
	uint8_t b[64];
	struct vu_gpu_reply r;
	uint64_t f = 0x3;
	size_t n = mk_reply(b, VU_GPU_GET_PROTOCOL_FEATURES, VU_GPU_FLAG_REPLY, 8, &f);
	CHECK_EQ(parse(b, n, VU_GPU_GET_PROTOCOL_FEATURES, &r), 20);
	CHECK_EQ(r.u.features, 3);
	/* every shorter prefix asks for more */
	for (size_t k = 0; k < n; k++)
		CHECK_EQ(parse(b, k, VU_GPU_GET_PROTOCOL_FEATURES, &r), 0);
	/* not what was asked */
	CHECK(parse(b, n, VU_GPU_GET_DISPLAY_INFO, &r) < 0);
	CHECK(parse(b, n, 0, &r) < 0);
	/* no reply flag, extra flags */
	mk_reply(b, VU_GPU_GET_PROTOCOL_FEATURES, 0, 8, &f);
	CHECK(parse(b, n, VU_GPU_GET_PROTOCOL_FEATURES, &r) < 0);
	mk_reply(b, VU_GPU_GET_PROTOCOL_FEATURES, VU_GPU_FLAG_REPLY | 1, 8, &f);
	CHECK(parse(b, n, VU_GPU_GET_PROTOCOL_FEATURES, &r) < 0);
	/* a size other than the reply's: judged on the header alone */
	mk_reply(b, VU_GPU_GET_PROTOCOL_FEATURES, VU_GPU_FLAG_REPLY, 4, NULL);
	CHECK(parse(b, 12, VU_GPU_GET_PROTOCOL_FEATURES, &r) < 0);
	mk_reply(b, VU_GPU_GET_PROTOCOL_FEATURES, VU_GPU_FLAG_REPLY, 0xffffffffu, NULL);
	CHECK(parse(b, 12, VU_GPU_GET_PROTOCOL_FEATURES, &r) < 0);
}

TEST(vu_gpu_parse_reply_display_info)
{
	uint8_t b[12 + sizeof(struct virtio_gpu_resp_display_info)];
	struct virtio_gpu_resp_display_info di;
	struct vu_gpu_reply r;
	memset(&di, 0, sizeof(di));
	di.hdr.type = htole32(VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	di.pmodes[0].enabled = htole32(1);
	di.pmodes[0].r.width = htole32(1024);
	di.pmodes[0].r.height = htole32(768);
	size_t n = mk_reply(b, VU_GPU_GET_DISPLAY_INFO, VU_GPU_FLAG_REPLY, sizeof(di), &di);
	CHECK_EQ(parse(b, n, VU_GPU_GET_DISPLAY_INFO, &r), (int)n);
	CHECK_EQ(le32toh(r.u.info.pmodes[0].r.width), 1024);
	CHECK_EQ(parse(b, n - 1, VU_GPU_GET_DISPLAY_INFO, &r), 0);
	di.hdr.type = htole32(VIRTIO_GPU_RESP_ERR_UNSPEC);
	mk_reply(b, VU_GPU_GET_DISPLAY_INFO, VU_GPU_FLAG_REPLY, sizeof(di), &di);
	CHECK(parse(b, n, VU_GPU_GET_DISPLAY_INFO, &r) < 0);
}

/* ---- the socket, the test as front-end ---- */

struct fe {
	struct ev_loop *loop;
	struct display *d;
	struct display_source *src;
	struct virtio_dev *dev;
	struct vu_gpu *g;
	int sock; /* the front-end's end */
	uint8_t *buf;
	size_t len;
};

#define FE_BUF (VU_GPU_HDR_SIZE + VU_GPU_UPDATE_HDR_SIZE + VU_GPU_MAX_UPDATE)

static uint32_t pat(uint32_t x, uint32_t y)
{
	return ((x * 7) & 0xff) << 16 | ((y * 3) & 0xff) << 8 | ((x ^ y) & 0xff);
}

static void push(struct fe *f, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	uint32_t *px = malloc((size_t)w * h * 4);
	for (uint32_t j = 0; j < h; j++)
		for (uint32_t i = 0; i < w; i++)
			px[j * w + i] = pat(x + i, y + j);
	display_source_update(f->src, x, y, w, h, px, (size_t)w * 4, DFMT_BGRX);
	free(px);
}

static int fe_attach(struct fe *f)
{
	int sv[2];
	char why[160] = "";
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	f->sock = sv[1];
	f->len = 0;
	return vu_gpu_attach(f->g, sv[0], why, sizeof(why));
}

static void fe_init(struct fe *f, bool fixed)
{
	char err[160];
	memset(f, 0, sizeof(*f));
	REQUIRE(ev_loop_create(&f->loop) == 0);
	REQUIRE(display_create(NULL, 320, 200, &f->d) == 0);
	struct vgpu_params p = {320, 200, 0};
	REQUIRE(vgpu_create(&p, f->d, "gpu0", &f->dev, err, sizeof(err)) == 0);
	/* a source above the (disabled) device: the test draws through it */
	REQUIRE(display_source_add(f->d, "test", 1000, NULL, NULL, &f->src) == 0);
	display_source_set_mode(f->src, 320, 200);
	push(f, 0, 0, 320, 200);
	REQUIRE(vu_gpu_create(f->d, f->dev, f->loop, "gpu0", fixed, &f->g) == 0);
	f->buf = malloc(FE_BUF);
	REQUIRE(f->buf);
	REQUIRE(fe_attach(f) == 0);
}

static void fe_fini(struct fe *f)
{
	vu_gpu_destroy(f->g);
	display_source_remove(f->src);
	virtio_dev_destroy(f->dev);
	display_destroy(f->d);
	ev_loop_destroy(f->loop);
	if (f->sock >= 0)
		close(f->sock);
	free(f->buf);
}

/* Run the loop and read until one whole message is in f->buf (returns its request), or EOF
 * (-1), or nothing for 2 s (-2). */
static int fe_next(struct fe *f)
{
	for (int spins = 0; spins < 400; spins++) {
		if (f->len >= 12) {
			uint32_t size;
			memcpy(&size, f->buf + 8, 4);
			if (size > FE_BUF - 12)
				return -3;
			if (f->len >= 12 + size) {
				uint32_t req;
				memcpy(&req, f->buf, 4);
				return (int)req;
			}
		}
		(void)ev_loop_run_once(f->loop, 5);
		ssize_t n = recv(f->sock, f->buf + f->len, FE_BUF - f->len, MSG_DONTWAIT);
		if (n == 0)
			return -1;
		if (n > 0)
			f->len += (size_t)n;
	}
	return -2;
}

static uint32_t msg_size(struct fe *f)
{
	uint32_t size;
	memcpy(&size, f->buf + 8, 4);
	return size;
}

static uint32_t msg_u32(struct fe *f, unsigned i)
{
	uint32_t v;
	memcpy(&v, f->buf + 12 + 4 * i, 4);
	return v;
}

static void fe_consume(struct fe *f)
{
	size_t n = 12 + msg_size(f);
	memmove(f->buf, f->buf + n, f->len - n);
	f->len -= n;
}

static void fe_send(struct fe *f, const void *p, size_t n)
{
	REQUIRE(send(f->sock, p, n, MSG_NOSIGNAL) == (ssize_t)n);
}

static void fe_handshake(struct fe *f, uint32_t w, uint32_t h)
{
	uint8_t b[12 + sizeof(struct virtio_gpu_resp_display_info)];
	uint64_t feat = 0x3;

	REQUIRE(fe_next(f) == VU_GPU_GET_PROTOCOL_FEATURES);
	CHECK_EQ(msg_size(f), 0);
	fe_consume(f);
	fe_send(f, b, mk_reply(b, VU_GPU_GET_PROTOCOL_FEATURES, VU_GPU_FLAG_REPLY, 8, &feat));
	REQUIRE(fe_next(f) == VU_GPU_SET_PROTOCOL_FEATURES);
	CHECK_EQ(msg_size(f), 8);
	CHECK_EQ(msg_u32(f, 0), 0); /* none of them used */
	fe_consume(f);
	REQUIRE(fe_next(f) == VU_GPU_GET_DISPLAY_INFO);
	fe_consume(f);
	struct virtio_gpu_resp_display_info di;
	memset(&di, 0, sizeof(di));
	di.hdr.type = htole32(VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	di.pmodes[0].enabled = htole32(1);
	di.pmodes[0].r.width = htole32(w);
	di.pmodes[0].r.height = htole32(h);
	fe_send(f, b, mk_reply(b, VU_GPU_GET_DISPLAY_INFO, VU_GPU_FLAG_REPLY, sizeof(di), &di));
}

/* Read UPDATEs until rows [y0, y0 + h) at x0..x0+w are covered; check every pixel. */
static void fe_expect_updates(struct fe *f, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h)
{
	uint32_t next = y0;
	while (next < y0 + h) {
		REQUIRE(fe_next(f) == VU_GPU_UPDATE);
		CHECK_EQ(msg_u32(f, 0), 0);
		CHECK_EQ(msg_u32(f, 1), x0);
		CHECK_EQ(msg_u32(f, 2), next);
		CHECK_EQ(msg_u32(f, 3), w);
		uint32_t rows = msg_u32(f, 4);
		REQUIRE(rows > 0);
		CHECK_EQ(msg_size(f), VU_GPU_UPDATE_HDR_SIZE + rows * w * 4);
		const uint8_t *px = f->buf + 12 + VU_GPU_UPDATE_HDR_SIZE;
		unsigned bad = 0;
		for (uint32_t j = 0; j < rows; j++)
			for (uint32_t i = 0; i < w; i++) {
				uint32_t v;
				memcpy(&v, px + ((size_t)j * w + i) * 4, 4);
				bad += (v & 0xffffff) != pat(x0 + i, next + j);
			}
		CHECK_EQ(bad, 0);
		next += rows;
		fe_consume(f);
	}
	CHECK_EQ(next, y0 + h);
}

TEST(vu_gpu_socket_handshake_scanout_updates_cursor)
{
	struct fe f;
	fe_init(&f, false);
	CHECK(vu_gpu_attached(f.g));
	fe_handshake(&f, 1024, 768);
	/* the front-end's preferred size is offered to the guest: a display event */
	struct virtio_gpu_config cfg;
	for (int i = 0; i < 20; i++)
		(void)ev_loop_run_once(f.loop, 5);
	virtio_read_config(f.dev, 0, &cfg, sizeof(cfg));
	CHECK(le32toh(cfg.events_read) & VIRTIO_GPU_EVENT_DISPLAY);

	REQUIRE(fe_next(&f) == VU_GPU_SCANOUT);
	CHECK_EQ(msg_u32(&f, 0), 0);
	CHECK_EQ(msg_u32(&f, 1), 320);
	CHECK_EQ(msg_u32(&f, 2), 200);
	fe_consume(&f);
	fe_expect_updates(&f, 0, 0, 320, 200);

	/* a small change: only its rectangle */
	push(&f, 10, 20, 30, 5);
	fe_expect_updates(&f, 10, 20, 30, 5);

	/* the pointer: shape with hotspot, a move, then hidden */
	struct display_cursor *c = calloc(1, sizeof(*c));
	c->w = c->h = 16;
	c->hot_x = 3;
	c->hot_y = 4;
	c->visible = true;
	for (unsigned i = 0; i < DISPLAY_CURSOR_MAX * DISPLAY_CURSOR_MAX; i++)
		c->pixels[i] = 0xff000000u | i;
	display_source_set_cursor(f.src, c);
	REQUIRE(fe_next(&f) == VU_GPU_CURSOR_UPDATE);
	CHECK_EQ(msg_size(&f), VU_GPU_CURSOR_UPDATE_SIZE);
	CHECK_EQ(msg_u32(&f, 3), 3);
	CHECK_EQ(msg_u32(&f, 4), 4);
	CHECK_EQ(msg_u32(&f, 5 + 1 * 64 + 2), 0xff000000u | (1 * DISPLAY_CURSOR_MAX + 2));
	CHECK_EQ(msg_u32(&f, 5 + 1 * 64 + 20), 0); /* outside the 16 x 16 image */
	fe_consume(&f);
	display_source_move_cursor(f.src, 100, 50);
	REQUIRE(fe_next(&f) == VU_GPU_CURSOR_POS);
	CHECK_EQ(msg_u32(&f, 1), 100);
	CHECK_EQ(msg_u32(&f, 2), 50);
	fe_consume(&f);
	c->visible = false;
	display_source_set_cursor(f.src, c);
	REQUIRE(fe_next(&f) == VU_GPU_CURSOR_POS_HIDE);
	fe_consume(&f);
	free(c);

	/* a mode change: SCANOUT again and the whole new screen */
	display_source_set_mode(f.src, 640, 480);
	push(&f, 0, 0, 640, 480);
	REQUIRE(fe_next(&f) == VU_GPU_SCANOUT);
	CHECK_EQ(msg_u32(&f, 1), 640);
	fe_consume(&f);
	fe_expect_updates(&f, 0, 0, 640, 480);
	CHECK(vu_gpu_sent(f.g, VU_GPU_UPDATE) >= 3);
	CHECK_EQ(vu_gpu_sent(f.g, VU_GPU_SCANOUT), 2);
	fe_fini(&f);
}

TEST(vu_gpu_socket_fixed_size_keeps_the_mode)
{
	struct fe f;
	fe_init(&f, true);
	fe_handshake(&f, 1024, 768);
	REQUIRE(fe_next(&f) == VU_GPU_SCANOUT);
	struct virtio_gpu_config cfg;
	virtio_read_config(f.dev, 0, &cfg, sizeof(cfg));
	CHECK_EQ(le32toh(cfg.events_read) & VIRTIO_GPU_EVENT_DISPLAY, 0);
	fe_fini(&f);
}

/* The socket was dropped: the front-end sees EOF and the back-end has no socket. */
static void expect_dropped(struct fe *f)
{
	int r;
	while ((r = fe_next(f)) >= 0)
		fe_consume(f);
	CHECK_EQ(r, -1);
	CHECK(!vu_gpu_attached(f->g));
	close(f->sock);
	f->sock = -1;
}

TEST(vu_gpu_socket_drops_hostile_front_ends)
{
	struct fe f;
	uint8_t b[64];
	uint64_t v = 0;
	fe_init(&f, false);

	/* a reply to something never asked */
	REQUIRE(fe_next(&f) == VU_GPU_GET_PROTOCOL_FEATURES);
	fe_consume(&f);
	fe_send(&f, b, mk_reply(b, VU_GPU_GET_DISPLAY_INFO, VU_GPU_FLAG_REPLY, 8, &v));
	expect_dropped(&f);

	/* an oversized reply (1 GiB announced) */
	REQUIRE(fe_attach(&f) == 0);
	REQUIRE(fe_next(&f) == VU_GPU_GET_PROTOCOL_FEATURES);
	fe_consume(&f);
	fe_send(&f, b,
		mk_reply(b, VU_GPU_GET_PROTOCOL_FEATURES, VU_GPU_FLAG_REPLY, 1u << 30, NULL));
	expect_dropped(&f);

	/* plain garbage */
	REQUIRE(fe_attach(&f) == 0);
	memset(b, 0xa5, sizeof(b));
	fe_send(&f, b, sizeof(b));
	expect_dropped(&f);

	/* bytes after the handshake, when no reply is due */
	REQUIRE(fe_attach(&f) == 0);
	fe_handshake(&f, 800, 600);
	REQUIRE(fe_next(&f) == VU_GPU_SCANOUT);
	fe_send(&f, b, 12);
	expect_dropped(&f);

	/* a front-end that closes: detached quietly, and the next socket works again */
	REQUIRE(fe_attach(&f) == 0);
	close(f.sock);
	f.sock = -1;
	for (int i = 0; i < 20 && vu_gpu_attached(f.g); i++)
		(void)ev_loop_run_once(f.loop, 5);
	CHECK(!vu_gpu_attached(f.g));
	REQUIRE(fe_attach(&f) == 0);
	fe_handshake(&f, 800, 600);
	REQUIRE(fe_next(&f) == VU_GPU_SCANOUT);
	CHECK_EQ(msg_u32(&f, 1), 320);
	fe_consume(&f);
	fe_expect_updates(&f, 0, 0, 320, 200);
	fe_fini(&f);
}

/* A front-end that never reads: the back-end neither blocks nor grows; damage coalesces. */
TEST(vu_gpu_socket_slow_front_end_does_not_block)
{
	struct fe f;
	fe_init(&f, false);
	fe_handshake(&f, 800, 600);
	for (int i = 0; i < 200; i++) {
		push(&f, (uint32_t)i % 300, (uint32_t)i % 180, 20, 20);
		(void)ev_loop_run_once(f.loop, 0);
	}
	/* now read everything: SCANOUT, and updates that end with the screen as it is */
	REQUIRE(fe_next(&f) == VU_GPU_SCANOUT);
	fe_consume(&f);
	int r;
	unsigned updates = 0;
	while ((r = fe_next(&f)) == VU_GPU_UPDATE) {
		updates++;
		fe_consume(&f);
	}
	CHECK_EQ(r, -2); /* quiet, not dropped */
	CHECK(vu_gpu_attached(f.g));
	CHECK(updates > 0 && updates < 200);
	/* the front-end dies with a whole screen on its way: closed, not an error */
	display_source_set_mode(f.src, 1024, 768);
	push(&f, 0, 0, 1024, 768);
	(void)ev_loop_run_once(f.loop, 0);
	close(f.sock);
	f.sock = -1;
	for (int i = 0; i < 50 && vu_gpu_attached(f.g); i++)
		(void)ev_loop_run_once(f.loop, 5);
	CHECK(!vu_gpu_attached(f.g));
	fe_fini(&f);
}

/* ---- GPU_SET_SOCKET in the vhost-user back-end ---- */

static int hook_fd = -1;
static int hook_set_socket(void *opaque, int fd, char *why, size_t whylen)
{
	(void)opaque;
	(void)why;
	(void)whylen;
	hook_fd = fd;
	return 0;
}
static const struct vu_backend_hooks test_hooks = {.gpu_set_socket = hook_set_socket};

TEST(vu_backend_gpu_set_socket)
{
	struct vu_msg m;
	char why[200] = "";
	memset(&m, 0, sizeof(m));
	m.hdr.request = VU_GPU_SET_SOCKET;
	m.hdr.flags = VU_VERSION;
	CHECK_EQ(vu_msg_validate(&m, 1, 1, why, sizeof(why)), 0);
	CHECK(vu_msg_validate(&m, 0, 1, why, sizeof(why)) < 0);
	m.hdr.size = 8;
	CHECK(vu_msg_validate(&m, 1, 1, why, sizeof(why)) < 0);
	m.hdr.size = 0;

	struct ev_loop *loop;
	struct virtio_dev *dev;
	struct vu_backend *vb;
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(vrng_create_rate("rng0", 0, &dev) == 0);
	REQUIRE(vu_backend_create(dev, loop, "t", &vb) == 0);
	int fds[1];
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* not a GPU back-end: refused, the fd closed */
	CHECK(vu_backend_handle(vb, &m, fds, 1, why, sizeof(why)) < 0);
	CHECK(fcntl(fds[0], F_GETFD) < 0);
	vu_backend_set_hooks(vb, &test_hooks, NULL);
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int want = fds[0];
	CHECK_EQ(vu_backend_handle(vb, &m, fds, 1, why, sizeof(why)), 0);
	CHECK_EQ(hook_fd, want);
	CHECK(fcntl(want, F_GETFD) >= 0); /* handed over, not closed */
	close(want);
	vu_backend_destroy(vb);
	virtio_dev_destroy(dev);
	ev_loop_destroy(loop);
}

/* QEMU 7.2's vhost-user-gpu sets VIRTIO_F_RING_RESET unasked: ignored, other extras refused. */
TEST(vu_backend_tolerates_unasked_ring_reset_only)
{
	struct ev_loop *loop;
	struct virtio_dev *dev;
	struct vu_backend *vb;
	struct vu_msg m;
	char why[200] = "";
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(vrng_create_rate("rng0", 0, &dev) == 0);
	REQUIRE(vu_backend_create(dev, loop, "t", &vb) == 0);
	memset(&m, 0, sizeof(m));
	m.hdr.request = VU_SET_FEATURES;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = 8;
	uint64_t offered = virtio_device_features(dev) | (1ull << VU_F_PROTOCOL_FEATURES);
	m.p.u64 = offered | (1ull << 40);
	CHECK_EQ(vu_backend_handle(vb, &m, NULL, 0, why, sizeof(why)), 0);
	CHECK_EQ(dev->features & (1ull << 40), 0);
	m.p.u64 = offered | (1ull << 40) | (1ull << 41);
	CHECK(vu_backend_handle(vb, &m, NULL, 0, why, sizeof(why)) < 0);
	vu_backend_destroy(vb);
	virtio_dev_destroy(dev);
	ev_loop_destroy(loop);
}
