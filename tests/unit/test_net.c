/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (devices/virtio/net.c) through the test-side driver, with SOCK_DGRAM socketpairs
 * in place of the TAP: what the device writes to its port end is read back here, and frames
 * written here are what the device receives. Covers TX header validation, RX into one or
 * many buffers (MRG_RXBUF), frames that fit no buffer, the control queue, queue pairs
 * without head-of-line blocking, the rate limiter, and the token bucket itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include "harness.h"
#include "vq_driver.h"
#include "backends/net_port.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "base/token_bucket.h"
#include "devices/virtio/net.h"
#include "devices/virtio/net_ctrl.h"

#define QSZ 16
#define HDR 12u
#define F(x) (1ULL << (x))
#define BASE_F (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX))

struct tnet {
	struct virtio_dev *dev;
	struct vqd_mem m;
	struct vq_driver q[2 * NET_MAX_QUEUE_PAIRS + 1];
	unsigned nq;
	unsigned pairs;
	int peer[NET_MAX_QUEUE_PAIRS];
	unsigned irq_queue, irq_config;
	uint64_t buf; /* scratch in guest memory */
};

static void irq_q(void *opaque, uint16_t q)
{
	((struct tnet *)opaque)->irq_queue++;
}
static void irq_c(void *opaque)
{
	((struct tnet *)opaque)->irq_config++;
}
static const struct virtio_irq_ops t_irq = {irq_q, irq_c};

/* A device with `pairs` socketpair queues; rate limits from *lim if given. */
static struct tnet *tnet_new_ex(unsigned pairs, bool ctrl, const struct vnet_params *lim,
				struct ev_loop *loop)
{
	struct tnet *t = calloc(1, sizeof(*t));
	struct net_port *port = calloc(1, sizeof(*port));
	char err[256];
	if (!t || !port || vqd_mem_init(&t->m, 0, 16 << 20) < 0)
		return NULL;
	snprintf(port->name, sizeof(port->name), "socketpair");
	port->nr_queues = pairs;
	for (unsigned i = 0; i < pairs; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
			return NULL;
		int big = 1 << 20;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		port->fd[i] = sv[0];
		t->peer[i] = sv[1];
	}
	struct vnet_params p = {.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56},
				.pairs = pairs,
				.queue_size = 64,
				.ctrl_vq = ctrl};
	if (lim) {
		p.rx_bps = lim->rx_bps;
		p.rx_pps = lim->rx_pps;
		p.tx_bps = lim->tx_bps;
		p.tx_pps = lim->tx_pps;
	}
	if (vnet_create(&p, port, "net0", &t->dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	t->pairs = pairs;
	t->nq = 2 * pairs + (ctrl ? 1 : 0);
	for (unsigned i = 0; i < t->nq; i++)
		if (vqd_init(&t->q[i], &t->m, 0x1000 + 0x2000ull * i, QSZ) < 0)
			return NULL;
	t->buf = vqd_alloc(&t->m, 4 << 20, 4096);
	virtio_dev_attach(t->dev, &t->m.gm, loop, &t_irq, t);
	return t;
}

static struct tnet *tnet_new(unsigned pairs, bool ctrl)
{
	return tnet_new_ex(pairs, ctrl, NULL, NULL);
}

/* Negotiate, set up every queue, DRIVER_OK. Returns the status. */
static uint8_t tnet_start(struct tnet *t, uint64_t features)
{
	uint8_t s = vqd_negotiate(t->dev, features);
	if (!(s & VIRTIO_CONFIG_S_FEATURES_OK))
		return s;
	for (unsigned i = 0; i < t->nq; i++)
		if (vqd_attach(&t->q[i], t->dev, (uint16_t)i) < 0)
			return 0;
	virtio_set_status(t->dev, s | VIRTIO_CONFIG_S_DRIVER_OK);
	return virtio_get_status(t->dev);
}

static void tnet_free(struct tnet *t)
{
	virtio_dev_destroy(t->dev);
	for (unsigned i = 0; i < t->pairs; i++)
		close(t->peer[i]);
}

static bool needs_reset(struct tnet *t)
{
	return virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static void put_hdr(uint8_t *b, uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
		    uint16_t cs, uint16_t co)
{
	memset(b, 0, HDR);
	b[0] = flags;
	b[1] = gso;
	b[2] = (uint8_t)hdr_len;
	b[3] = (uint8_t)(hdr_len >> 8);
	b[4] = (uint8_t)gso_size;
	b[5] = (uint8_t)(gso_size >> 8);
	b[6] = (uint8_t)cs;
	b[7] = (uint8_t)(cs >> 8);
	b[8] = (uint8_t)co;
	b[9] = (uint8_t)(co >> 8);
}

static void fill_frame(uint8_t *f, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7);
}

/* Publish one TX packet: header then frame in guest memory at t->buf + off, as nseg
 * descriptors (header alone first when split). */
static int tx_add(struct tnet *t, unsigned pair, uint64_t off, const uint8_t *hdr,
		  const uint8_t *frame, uint32_t flen, bool split)
{
	uint8_t *p = vqd_hva(&t->m, t->buf + off);
	memcpy(p, hdr, HDR);
	memcpy(p + HDR, frame, flen);
	if (split) {
		struct vqd_seg s[3] = {{t->buf + off, 5, false},
				       {t->buf + off + 5, HDR - 5 + 3, false},
				       {t->buf + off + HDR + 3, flen - 3, false}};
		return vqd_add(&t->q[2 * pair + 1], s, 3, false);
	}
	struct vqd_seg s = {t->buf + off, HDR + flen, false};
	return vqd_add(&t->q[2 * pair + 1], &s, 1, false);
}

static ssize_t peer_recv(struct tnet *t, unsigned pair, uint8_t *b, size_t len)
{
	return recv(t->peer[pair], b, len, MSG_DONTWAIT);
}

TEST(net_tx_frame_reaches_port)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	uint64_t f =
	    BASE_F | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_MRG_RXBUF);
	REQUIRE(tnet_start(t, f) & VIRTIO_CONFIG_S_DRIVER_OK);
	uint8_t hdr[HDR], frame[1500], got[2048];
	fill_frame(frame, sizeof(frame), 1);

	/* plain frame, header in its own descriptor and split oddly */
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	REQUIRE(tx_add(t, 0, 0, hdr, frame, 60, true) >= 0);
	/* checksum offload + TSO request, one descriptor */
	put_hdr(hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	REQUIRE(tx_add(t, 0, 4096, hdr, frame, 1500, false) >= 0);
	virtio_queue_kick(t->dev, 1);

	ssize_t n = peer_recv(t, 0, got, sizeof(got));
	CHECK_EQ(n, HDR + 60);
	uint8_t zero[HDR] = {0};
	CHECK(memcmp(got, zero, HDR) == 0);
	CHECK(memcmp(got + HDR, frame, 60) == 0);
	n = peer_recv(t, 0, got, sizeof(got));
	CHECK_EQ(n, HDR + 1500);
	CHECK(memcmp(got, hdr, 10) == 0); /* re-encoded, same fields; num_buffers 0 */
	CHECK(got[10] == 0 && got[11] == 0);
	CHECK(memcmp(got + HDR, frame, 1500) == 0);
	uint32_t id, len;
	CHECK(vqd_get_used(&t->q[1], &id, &len));
	CHECK_EQ(len, 0);
	CHECK(vqd_get_used(&t->q[1], &id, &len));
	CHECK(t->irq_queue >= 1);
	CHECK(!needs_reset(t));
	struct vnet_pair_stats st;
	vnet_get_stats(t->dev, 0, &st);
	CHECK_EQ(st.tx_packets, 2);
	CHECK_EQ(st.tx_bytes, 1560);
	CHECK_EQ(vqd_counter(t->dev, "tx_frames"), 2); /* vm.counters, Cloud Hypervisor's names */
	CHECK_EQ(vqd_counter(t->dev, "tx_bytes"), 1560);
	CHECK_EQ(vqd_counter(t->dev, "rx_frames"), 0);
	tnet_free(t);
}

/* Every header a driver may not send fails the device; nothing reaches the port. */
TEST(net_tx_bad_headers_need_reset)
{
	static const struct {
		const char *what;
		uint8_t flags, gso;
		uint16_t hdr_len, gso_size, cs, co;
		uint64_t extra; /* features beyond CSUM and HOST_TSO4 */
	} cases[] = {
	    {"DATA_VALID from the driver", VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0, 0},
	    {"unknown flag", 0x80, 0, 0, 0, 0, 0, 0},
	    {"csum beyond frame", VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 90, 16, 0},
	    {"TSO6 not negotiated", VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 54, 1448,
	     34, 16, 0},
	    {"UFO", VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 42, 1000, 34, 6, 0},
	    {"ECN not negotiated", VIRTIO_NET_HDR_F_NEEDS_CSUM,
	     VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 54, 1448, 34, 16, 0},
	    {"ECN without GSO", 0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0, 0, F(VIRTIO_NET_F_HOST_ECN)},
	    {"GSO without NEEDS_CSUM", 0, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 0, 0, 0},
	    {"GSO size 0", VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 0, 34, 16, 0},
	    {"hdr_len beyond frame", VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 200,
	     1448, 34, 16, 0},
	    {"garbage GSO type", 0, 0x42, 0, 0, 0, 0, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tnet *t = tnet_new(1, false);
		REQUIRE(t);
		uint64_t f =
		    BASE_F | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | cases[i].extra;
		REQUIRE(tnet_start(t, f) & VIRTIO_CONFIG_S_DRIVER_OK);
		uint8_t hdr[HDR], frame[100], got[256];
		fill_frame(frame, sizeof(frame), 3);
		put_hdr(hdr, cases[i].flags, cases[i].gso, cases[i].hdr_len, cases[i].gso_size,
			cases[i].cs, cases[i].co);
		REQUIRE(tx_add(t, 0, 0, hdr, frame, 100, false) >= 0);
		virtio_queue_kick(t->dev, 1);
		if (!needs_reset(t))
			test_fail_at(__FILE__, __LINE__, "case '%s' accepted", cases[i].what);
		CHECK(t->irq_config >= 1);
		CHECK(peer_recv(t, 0, got, sizeof(got)) < 0);
		tnet_free(t);
	}
}

TEST(net_tx_chain_shorter_than_header_or_writable)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F) & VIRTIO_CONFIG_S_DRIVER_OK);
	struct vqd_seg s = {t->buf, 8, false};
	REQUIRE(vqd_add(&t->q[1], &s, 1, false) >= 0);
	virtio_queue_kick(t->dev, 1);
	CHECK(needs_reset(t));

	/* the guest recovers with a reset; then a device-writable part in a TX chain fails it */
	virtio_reset(t->dev);
	for (unsigned i = 0; i < t->nq; i++) {
		vqd_fini(&t->q[i]);
		REQUIRE(vqd_init(&t->q[i], &t->m, 0x1000 + 0x2000ull * i, QSZ) == 0);
	}
	REQUIRE(tnet_start(t, BASE_F) & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(!needs_reset(t));
	uint8_t hdr[HDR], frame[60], got[128];
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	fill_frame(frame, 60, 9);
	REQUIRE(tx_add(t, 0, 0, hdr, frame, 60, false) >= 0);
	virtio_queue_kick(t->dev, 1);
	CHECK_EQ(peer_recv(t, 0, got, sizeof(got)), HDR + 60);
	struct vqd_seg w[2] = {{t->buf, HDR + 60, false}, {t->buf + 4096, 16, true}};
	REQUIRE(vqd_add(&t->q[1], w, 2, false) >= 0);
	virtio_queue_kick(t->dev, 1);
	CHECK(needs_reset(t));
	tnet_free(t);
}

TEST(net_tx_bad_sizes_dropped_and_counted)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F) & VIRTIO_CONFIG_S_DRIVER_OK);
	uint8_t hdr[HDR], frame[16], got[64];
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	fill_frame(frame, 16, 1);
	REQUIRE(tx_add(t, 0, 0, hdr, frame, 10, false) >= 0); /* shorter than Ethernet */
	virtio_queue_kick(t->dev, 1);
	CHECK(!needs_reset(t));
	CHECK(peer_recv(t, 0, got, sizeof(got)) < 0);
	uint32_t id, len;
	CHECK(vqd_get_used(&t->q[1], &id, &len)); /* completed all the same */
	struct vnet_pair_stats st;
	vnet_get_stats(t->dev, 0, &st);
	CHECK_EQ(st.tx_dropped, 1);
	CHECK_EQ(st.tx_packets, 0);
	tnet_free(t);
}

/* Give the RX queue of `pair` n buffers of len bytes at t->buf + off (each 4 KiB apart). */
static void rx_give(struct tnet *t, unsigned pair, unsigned n, uint32_t len, uint64_t off)
{
	for (unsigned i = 0; i < n; i++) {
		struct vqd_seg s = {t->buf + off + 4096ull * i, len, true};
		if (vqd_add(&t->q[2 * pair], &s, 1, false) < 0)
			test_fail_at(__FILE__, __LINE__, "rx_give: ring full");
	}
}

static void peer_send(struct tnet *t, unsigned pair, const uint8_t *hdr, const uint8_t *frame,
		      uint32_t flen)
{
	uint8_t b[HDR + 70000];
	memcpy(b, hdr, HDR);
	memcpy(b + HDR, frame, flen);
	if (send(t->peer[pair], b, HDR + flen, 0) != (ssize_t)(HDR + flen))
		test_fail_at(__FILE__, __LINE__, "peer_send: %s", strerror(errno));
}

TEST(net_rx_single_buffer_and_flags)
{
	for (int csum = 0; csum < 2; csum++) {
		struct tnet *t = tnet_new(1, false);
		REQUIRE(t);
		uint64_t f = BASE_F | (csum ? F(VIRTIO_NET_F_GUEST_CSUM) : 0);
		REQUIRE(tnet_start(t, f) & VIRTIO_CONFIG_S_DRIVER_OK);
		rx_give(t, 0, 2, 1526, 0);
		uint8_t hdr[HDR], frame[1514];
		fill_frame(frame, sizeof(frame), 5);
		put_hdr(hdr, VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0);
		peer_send(t, 0, hdr, frame, 1514);
		virtio_queue_kick(t->dev, 0);
		uint32_t id, len;
		REQUIRE(vqd_get_used(&t->q[0], &id, &len));
		CHECK_EQ(len, HDR + 1514);
		uint8_t *g = vqd_hva(&t->m, t->buf + 4096ull * id);
		CHECK_EQ(g[0],
			 csum ? VIRTIO_NET_HDR_F_DATA_VALID : 0); /* zero without GUEST_CSUM */
		CHECK_EQ(g[10] | g[11] << 8, 1);		  /* num_buffers */
		CHECK(memcmp(g + HDR, frame, 1514) == 0);
		CHECK(t->irq_queue >= 1);
		struct vnet_pair_stats st;
		vnet_get_stats(t->dev, 0, &st);
		CHECK_EQ(st.rx_packets, 1);
		CHECK_EQ(st.rx_bytes, 1514);
		CHECK_EQ(vqd_counter(t->dev, "rx_bytes"), 1514);
		CHECK_EQ(vqd_counter(t->dev, "rx_frames"), 1);
		tnet_free(t);
	}
}

TEST(net_rx_mergeable_frame_spans_buffers_and_waits)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F | F(VIRTIO_NET_F_MRG_RXBUF)) & VIRTIO_CONFIG_S_DRIVER_OK);
	rx_give(t, 0, 2, 256, 0); /* 512 bytes: not enough for 12 + 1000 */
	uint8_t hdr[HDR], frame[1000];
	fill_frame(frame, sizeof(frame), 11);
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	peer_send(t, 0, hdr, frame, 1000);
	virtio_queue_kick(t->dev, 0);
	uint32_t id, len;
	CHECK(!vqd_get_used(&t->q[0], &id, &len)); /* waits, nothing half-delivered */
	CHECK(!needs_reset(t));
	rx_give(t, 0, 2, 256, 2 * 4096);
	virtio_queue_kick(t->dev, 0); /* the driver kicks: it was asked to */
	uint8_t out[HDR + 1000];
	uint32_t lens[4], total = 0;
	for (int i = 0; i < 4; i++) {
		REQUIRE(vqd_get_used(&t->q[0], &id, &len));
		lens[i] = len;
		memcpy(out + total, vqd_hva(&t->m, t->buf + 4096ull * id), len);
		total += len;
	}
	CHECK(!vqd_get_used(&t->q[0], &id, &len));
	CHECK_EQ(lens[0], 256);
	CHECK_EQ(lens[3], HDR + 1000 - 3 * 256);
	CHECK_EQ(total, HDR + 1000);
	CHECK_EQ(out[10] | out[11] << 8, 4); /* num_buffers */
	CHECK(memcmp(out + HDR, frame, 1000) == 0);
	struct vnet_pair_stats st;
	vnet_get_stats(t->dev, 0, &st);
	CHECK_EQ(st.rx_stalls, 1);
	CHECK_EQ(st.rx_packets, 1);
	tnet_free(t);
}

/* Without MRG_RXBUF a frame bigger than the buffer is dropped and counted, the buffer kept
 * for the next frame; the log stays rate-limited under a flood. */
TEST(net_rx_too_big_counted_not_silent)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F) & VIRTIO_CONFIG_S_DRIVER_OK);
	char logpath[300];
	snprintf(logpath, sizeof(logpath), "%s/net-log.txt", test_tmpdir());
	int lf = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(lf >= 0);
	int saved = dup(2);
	dup2(lf, 2);
	log_set_level(LOG_INFO);
	rx_give(t, 0, 1, 200, 0);
	uint8_t hdr[HDR], frame[600];
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	fill_frame(frame, sizeof(frame), 2);
	for (int i = 0; i < 50; i++)
		peer_send(t, 0, hdr, frame, 500);
	peer_send(t, 0, hdr, frame, 100);
	virtio_queue_kick(t->dev, 0);
	fflush(stderr);
	dup2(saved, 2);
	log_set_level(LOG_WARN);
	uint32_t id, len;
	REQUIRE(vqd_get_used(&t->q[0], &id, &len));
	CHECK_EQ(len, HDR + 100);
	CHECK(memcmp(vqd_hva(&t->m, t->buf + HDR), frame, 100) == 0);
	struct vnet_pair_stats st;
	vnet_get_stats(t->dev, 0, &st);
	CHECK_EQ(st.rx_dropped, 50);
	CHECK_EQ(st.rx_packets, 1);
	CHECK(!needs_reset(t));
	/* count the log lines about it: at most the rate limit's 10 (+ a summary) */
	char buf[16384];
	ssize_t n = pread(lf, buf, sizeof(buf) - 1, 0);
	REQUIRE(n > 0);
	buf[n] = '\0';
	int lines = 0;
	for (char *p = buf; (p = strstr(p, "frame dropped")); p++)
		lines++;
	CHECK(lines >= 1 && lines <= 11);
	close(lf);
	tnet_free(t);
}

TEST(net_rx_buffer_smaller_than_header_needs_reset)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F | F(VIRTIO_NET_F_MRG_RXBUF)) & VIRTIO_CONFIG_S_DRIVER_OK);
	rx_give(t, 0, 1, 8, 0);
	uint8_t hdr[HDR], frame[64];
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	fill_frame(frame, 64, 1);
	peer_send(t, 0, hdr, frame, 64);
	virtio_queue_kick(t->dev, 0);
	CHECK(needs_reset(t));
	CHECK(t->irq_config >= 1);
	tnet_free(t);
}

TEST(net_rx_ring_too_small_for_a_frame_needs_reset)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F | F(VIRTIO_NET_F_MRG_RXBUF)) & VIRTIO_CONFIG_S_DRIVER_OK);
	rx_give(t, 0, QSZ, 64, 0); /* the whole ring: 16 x 64 bytes < 12 + 1500 */
	uint8_t hdr[HDR], frame[1500];
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	fill_frame(frame, sizeof(frame), 1);
	peer_send(t, 0, hdr, frame, 1500);
	virtio_queue_kick(t->dev, 0);
	CHECK(needs_reset(t));
	tnet_free(t);
}

TEST(net_rx_offloads_the_guest_lacks_dropped)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_MRG_RXBUF)) &
		VIRTIO_CONFIG_S_DRIVER_OK);
	rx_give(t, 0, 4, 2048, 0);
	uint8_t hdr[HDR], frame[1500];
	fill_frame(frame, sizeof(frame), 1);
	/* TSO4 frame: the guest did not negotiate GUEST_TSO4 */
	put_hdr(hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	peer_send(t, 0, hdr, frame, 1500);
	put_hdr(hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
	peer_send(t, 0, hdr, frame, 100);
	virtio_queue_kick(t->dev, 0);
	uint32_t id, len;
	REQUIRE(vqd_get_used(&t->q[0], &id, &len));
	CHECK_EQ(len, HDR + 100);
	CHECK(!vqd_get_used(&t->q[0], &id, &len));
	struct vnet_pair_stats st;
	vnet_get_stats(t->dev, 0, &st);
	CHECK_EQ(st.rx_dropped, 1);
	CHECK_EQ(st.rx_packets, 1);
	tnet_free(t);
}

/* Control queue: one command, returns the ack byte (0xee if the chain was not used). */
static uint8_t ctrl_cmd(struct tnet *t, uint8_t cls, uint8_t cmd, const void *data, uint32_t dlen,
			bool with_ack)
{
	struct vq_driver *c = &t->q[t->nq - 1];
	uint64_t a = t->buf + 0x100000;
	uint8_t *p = vqd_hva(&t->m, a);
	p[0] = cls;
	p[1] = cmd;
	memcpy(p + 2, data, dlen);
	p[0x800] = 0xee;
	struct vqd_seg s[2] = {{a, 2 + dlen, false}, {a + 0x800, 1, true}};
	if (vqd_add(c, s, with_ack ? 2 : 1, false) < 0)
		return 0xef;
	virtio_queue_kick(t->dev, (uint16_t)(t->nq - 1));
	uint32_t id, len;
	if (!vqd_get_used(c, &id, &len))
		return 0xee;
	return p[0x800];
}

TEST(net_ctrl_queue_commands)
{
	struct tnet *t = tnet_new(2, true);
	REQUIRE(t);
	uint64_t f = BASE_F | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ) |
		     F(VIRTIO_NET_F_CTRL_MAC_ADDR) | F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) |
		     F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_MAC);
	REQUIRE(tnet_start(t, f) & VIRTIO_CONFIG_S_DRIVER_OK);
	uint16_t pairs = 2;
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2, true),
		 VIRTIO_NET_OK);
	pairs = 3; /* out of range: max_virtqueue_pairs is 2 */
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2, true),
		 VIRTIO_NET_ERR);
	pairs = 0;
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2, true),
		 VIRTIO_NET_ERR);
	pairs = 0x8000;
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2, true),
		 VIRTIO_NET_ERR);
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 1, true),
		 VIRTIO_NET_ERR); /* short data */
	CHECK_EQ(ctrl_cmd(t, 99, 0, "", 0, true), VIRTIO_NET_ERR);
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\1", 1, true),
		 VIRTIO_NET_ERR); /* CTRL_RX not offered */
	uint8_t garbage[64];
	memset(garbage, 0xa5, sizeof(garbage));
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, garbage, 64, true),
		 VIRTIO_NET_ERR);
	uint8_t mac[6] = {0x02, 1, 2, 3, 4, 5}, cfg[6];
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac, 6, true),
		 VIRTIO_NET_OK);
	virtio_read_config(t->dev, 0, cfg, 6);
	CHECK(memcmp(cfg, mac, 6) == 0);
	uint64_t off = F(VIRTIO_NET_F_GUEST_TSO6); /* not negotiated */
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
			  &off, 8, true),
		 VIRTIO_NET_ERR);
	off = F(VIRTIO_NET_F_GUEST_CSUM);
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
			  &off, 8, true),
		 VIRTIO_NET_OK);
	CHECK(!needs_reset(t));
	/* a command with nowhere to put the ack fails the device */
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MQ, 0, &pairs, 2, false), 0xee);
	CHECK(needs_reset(t));
	tnet_free(t);
}

/* Pair 0 has no buffers and a frame waiting: pair 1 still delivers; pair 0 catches up. Also:
 * until the driver sets 2 pairs, frames on pair 1's port queue wait. */
TEST(net_mq_pairs_no_head_of_line_blocking)
{
	struct tnet *t = tnet_new(2, true);
	REQUIRE(t);
	uint64_t f =
	    BASE_F | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_MRG_RXBUF);
	REQUIRE(tnet_start(t, f) & VIRTIO_CONFIG_S_DRIVER_OK);
	uint8_t hdr[HDR], frame[200];
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	fill_frame(frame, 200, 0x40);
	rx_give(t, 1, 4, 2048, 0x10000);
	peer_send(t, 1, hdr, frame, 200);
	virtio_queue_kick(t->dev, 2);
	uint32_t id, len;
	CHECK(!vqd_get_used(&t->q[2], &id, &len)); /* one pair in use: pair 1 idle */
	uint16_t pairs = 2;
	CHECK_EQ(ctrl_cmd(t, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2, true),
		 VIRTIO_NET_OK);
	peer_send(t, 0, hdr, frame, 200); /* pair 0: no buffers */
	virtio_queue_kick(t->dev, 0);
	virtio_queue_kick(t->dev, 2);
	REQUIRE(vqd_get_used(&t->q[2], &id, &len));
	CHECK_EQ(len, HDR + 200);
	CHECK(!vqd_get_used(&t->q[0], &id, &len));
	rx_give(t, 0, 2, 2048, 0);
	virtio_queue_kick(t->dev, 0);
	REQUIRE(vqd_get_used(&t->q[0], &id, &len));
	CHECK_EQ(len, HDR + 200);
	struct vnet_pair_stats s0, s1;
	vnet_get_stats(t->dev, 0, &s0);
	vnet_get_stats(t->dev, 1, &s1);
	CHECK_EQ(s0.rx_packets, 1);
	CHECK_EQ(s1.rx_packets, 1);
	CHECK_EQ(s0.rx_stalls, 1);
	tnet_free(t);
}

/* vhost-user GET_VRING_BASE while a frame is half-delivered: the held buffers are given back
 * (the index covers finished work only) and delivered after the ring starts again. */
TEST(net_queue_stop_gives_back_held_buffers)
{
	struct tnet *t = tnet_new(1, false);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F | F(VIRTIO_NET_F_MRG_RXBUF)) & VIRTIO_CONFIG_S_DRIVER_OK);
	rx_give(t, 0, 2, 256, 0);
	uint8_t hdr[HDR], frame[1000];
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	fill_frame(frame, 1000, 1);
	peer_send(t, 0, hdr, frame, 1000);
	virtio_queue_kick(t->dev, 0);
	CHECK_EQ(virtio_queue_stop(t->dev, 0), 0);
	REQUIRE(virtio_queue_enable(t->dev, 0) == 0);
	rx_give(t, 0, 2, 256, 2 * 4096);
	virtio_queue_kick(t->dev, 0);
	uint32_t id, len, total = 0;
	int n = 0;
	while (vqd_get_used(&t->q[0], &id, &len)) {
		total += len;
		n++;
	}
	CHECK_EQ(n, 4);
	CHECK_EQ(total, HDR + 1000);
	tnet_free(t);
}

struct loop_ctx {
	struct tnet *t;
	struct ev_loop *loop;
	int got;
	uint8_t seq[8];
};

static void drain_cb(void *opaque, uint32_t events)
{
	struct loop_ctx *c = opaque;
	uint8_t b[256];
	while (recv(c->t->peer[0], b, sizeof(b), MSG_DONTWAIT) > 0) {
		if (c->got < 8)
			c->seq[c->got] = b[HDR];
		c->got++;
	}
	if (c->got >= 6)
		ev_loop_stop(c->loop);
}

static void give_up_cb(void *opaque, uint32_t events)
{
	ev_loop_stop(opaque);
}

/* tx_pps=20: six frames all arrive, in order, and the limiter says it held some back. */
TEST(net_rate_limiter_holds_tx_back)
{
	struct ev_loop *loop;
	REQUIRE(ev_loop_create(&loop) == 0);
	struct vnet_params lim = {.tx_pps = 20};
	struct tnet *t = tnet_new_ex(1, false, &lim, loop);
	REQUIRE(t);
	REQUIRE(tnet_start(t, BASE_F) & VIRTIO_CONFIG_S_DRIVER_OK);
	struct loop_ctx c = {t, loop, 0, {0}};
	struct ev_handler *h, *th;
	REQUIRE(ev_add(loop, t->peer[0], EPOLLIN, drain_cb, &c, &h) == 0);
	REQUIRE(ev_timer_add(loop, 10ull * 1000000000ull, 0, give_up_cb, loop, &th) == 0);
	uint8_t hdr[HDR], frame[60];
	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	/* the bucket holds 2 (100 ms at 20/s): drain it, then six more */
	for (int i = 0; i < 8; i++) {
		fill_frame(frame, 60, (uint8_t)i);
		REQUIRE(tx_add(t, 0, 4096ull * i, hdr, frame, 60, false) >= 0);
	}
	virtio_queue_kick(t->dev, 1);
	REQUIRE(ev_loop_run(loop) == 0);
	CHECK(c.got >= 6);
	for (int i = 1; i < 6; i++)
		CHECK_EQ(c.seq[i], c.seq[i - 1] + 1);
	struct vnet_stats ds;
	vnet_get_dev_stats(t->dev, &ds);
	CHECK(ds.tx_throttled >= 1);
	ev_del(loop, h);
	ev_del(loop, th);
	tnet_free(t);
	ev_loop_destroy(loop);
}

TEST(net_create_rejects_bad_params)
{
	struct net_port *port = calloc(1, sizeof(*port));
	struct virtio_dev *dev;
	char err[256];
	REQUIRE(port);
	port->nr_queues = 1;
	port->fd[0] = -1;
	struct vnet_params p = {.pairs = 2, .queue_size = 256}; /* more pairs than the port */
	CHECK(vnet_create(&p, port, "net0", &dev, err, sizeof(err)) < 0); /* frees the port */
	CHECK(strstr(err, "net0") != NULL);
}

/* ---- token bucket ---- */

TEST(token_bucket_rate_and_debt)
{
	struct tbucket b;
	const uint64_t s = 1000000000ull;
	tb_init(&b, 1000, 100, 0); /* 1000/s, burst 100 */
	CHECK(tb_take(&b, 60, 0));
	CHECK(tb_take(&b, 60, 0));		    /* 40 left: allowed, goes to -20 */
	CHECK(!tb_take(&b, 1, 0));		    /* in debt */
	CHECK_EQ(tb_wait_ns(&b, 0), 21 * s / 1000); /* back above zero after 21 tokens */
	CHECK(!tb_take(&b, 1, 20 * s / 1000));
	CHECK(tb_take(&b, 1, 21 * s / 1000));
	/* refill caps at burst */
	CHECK_EQ(tb_take_upto(&b, 1000, 10 * s), 100);
	CHECK_EQ(tb_take_upto(&b, 1000, 10 * s), 0);
	/* sub-token time accumulates: 2000 x 0.5 ms = 1000 tokens, capped per step at 100 */
	uint64_t got = 0, t = 10 * s;
	for (int i = 0; i < 2000; i++) {
		t += s / 2000;
		got += tb_take_upto(&b, 1, t);
	}
	CHECK(got >= 999 && got <= 1000);
	/* unlimited */
	tb_init(&b, 0, 0, 0);
	CHECK(tb_unlimited(&b));
	CHECK(tb_take(&b, UINT64_MAX, 0));
	CHECK_EQ(tb_wait_ns(&b, 0), 0);
	/* huge rates and long gaps do not overflow */
	tb_init(&b, UINT64_MAX / 2, 0, 0);
	CHECK(tb_take(&b, 1, 0));
	tb_refill(&b, UINT64_MAX - 1);
	CHECK_EQ((uint64_t)b.tokens, b.burst);
	tb_init(&b, 1, 1, 0);
	CHECK(tb_take(&b, 1ull << 40, 0));
	CHECK(!tb_take(&b, 1, 1000 * s));
	CHECK(tb_wait_ns(&b, 1000 * s) > 0);
}
