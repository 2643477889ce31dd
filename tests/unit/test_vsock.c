/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock through the test-side driver and real unix sockets: guest- and host-initiated
 * connections (the CONNECT/OK handshake), data both ways, credit in both directions,
 * shutdown and reset, RSTs for everything that has no connection, many connections at once,
 * malformed packets -> NEEDS_RESET (host sockets closed after the reset), create errors.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_vsock.h>
#include "harness.h"
#include "vq_driver.h"
#include "backends/uds.h"
#include "base/ev_loop.h"
#include "devices/virtio/vsock.h"

#define QSZ 128
#define RXBUF (4096 + 44)
#define GCID 3

struct tvs {
	struct virtio_dev *dev;
	struct ev_loop *loop;
	struct vqd_mem m;
	struct vq_driver q[3];
	uint64_t rx_gpa[QSZ]; /* buffer of each rx head */
	uint64_t txbuf;
	char uds[108];
};

static struct tvs *tvs_new(void)
{
	struct tvs *t = calloc(1, sizeof(*t));
	char err[256];
	snprintf(t->uds, sizeof(t->uds), "%s/v%d.sock", test_tmpdir(), getpid());
	struct vsock_config cfg = {.enabled = true, .cid = GCID, .uds = t->uds};
	if (vsock_create(&cfg, "vsock0", &t->dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	if (ev_loop_create(&t->loop) < 0 || vqd_mem_init(&t->m, 0, 64 << 20) < 0)
		return NULL;
	virtio_dev_attach(t->dev, &t->m.gm, t->loop, NULL, NULL);
	uint8_t st = vqd_negotiate(t->dev, 1ULL << VIRTIO_F_VERSION_1);
	for (unsigned i = 0; i < 3; i++)
		if (vqd_init(&t->q[i], &t->m, 0x10000 + i * 0x4000, QSZ) < 0 ||
		    vqd_attach(&t->q[i], t->dev, (uint16_t)i) < 0)
			return NULL;
	virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(t->dev);
	t->txbuf = vqd_alloc(&t->m, 8 << 20, 4096);
	return t;
}

static void tvs_free(struct tvs *t)
{
	virtio_dev_destroy(t->dev);
	ev_loop_destroy(t->loop);
	vqd_mem_fini(&t->m);
	free(t);
}

static void pump(struct tvs *t, int rounds)
{
	for (int i = 0; i < rounds; i++)
		ev_loop_run_once(t->loop, 2);
}

static void post_rx(struct tvs *t, unsigned n, uint32_t len)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = vqd_alloc(&t->m, len, 8);
		struct vqd_seg s = {b, len, true};
		int head = vqd_add(&t->q[0], &s, 1, false);
		if (head >= 0)
			t->rx_gpa[head] = b;
	}
	virtio_queue_kick(t->dev, 0);
}

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
	uint16_t type, op;
};

/* Send one packet: header and payload in separate descriptors (as Linux does). */
static void send_pkt(struct tvs *t, struct hdr h, const void *data)
{
	struct virtio_vsock_hdr raw = {
	    .src_cid = htole64(h.src_cid ? h.src_cid : GCID),
	    .dst_cid = htole64(h.dst_cid ? h.dst_cid : 2),
	    .src_port = htole32(h.src_port),
	    .dst_port = htole32(h.dst_port),
	    .len = htole32(h.len),
	    .type = htole16(h.type ? h.type : VIRTIO_VSOCK_TYPE_STREAM),
	    .op = htole16(h.op),
	    .flags = htole32(h.flags),
	    .buf_alloc = htole32(h.buf_alloc),
	    .fwd_cnt = htole32(h.fwd_cnt),
	};
	uint64_t hb = t->txbuf, pb = t->txbuf + 64;
	memcpy(vqd_hva(&t->m, hb), &raw, sizeof(raw));
	if (h.len && data)
		memcpy(vqd_hva(&t->m, pb), data, h.len);
	struct vqd_seg s[] = {{hb, sizeof(raw), false}, {pb, h.len, false}};
	REQUIRE(vqd_add(&t->q[1], s, h.len ? 2 : 1, false) >= 0);
	virtio_queue_kick(t->dev, 1);
	uint32_t id, len;
	while (vqd_get_used(&t->q[1], &id, &len))
		;
}

/* Next packet the device put on rx (running the loop up to `rounds` times). */
static bool recv_pkt(struct tvs *t, struct hdr *h, void *data, int rounds)
{
	uint32_t id, len;
	for (int i = 0; i <= rounds; i++) {
		if (vqd_get_used(&t->q[0], &id, &len)) {
			struct virtio_vsock_hdr raw;
			uint8_t *p = vqd_hva(&t->m, t->rx_gpa[id]);
			memcpy(&raw, p, sizeof(raw));
			*h = (struct hdr){le64toh(raw.src_cid),	  le64toh(raw.dst_cid),
					  le32toh(raw.src_port),  le32toh(raw.dst_port),
					  le32toh(raw.len),	  le32toh(raw.flags),
					  le32toh(raw.buf_alloc), le32toh(raw.fwd_cnt),
					  le16toh(raw.type),	  le16toh(raw.op)};
			if (len != sizeof(raw) + h->len)
				test_fail_at(__FILE__, __LINE__, "used len %u for a %u-byte packet",
					     len, h->len);
			if (data && h->len)
				memcpy(data, p + sizeof(raw), h->len);
			post_rx(t, 1, RXBUF);
			return true;
		}
		ev_loop_run_once(t->loop, 5);
	}
	return false;
}

static int host_listen(struct tvs *t, unsigned port)
{
	char p[128];
	int fd;
	snprintf(p, sizeof(p), "%s_%u", t->uds, port);
	return uds_listen(p, 128, &fd) < 0 ? -1 : fd;
}

static int accept_wait(struct tvs *t, int lfd)
{
	for (int i = 0; i < 200; i++) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) {
			fcntl(c, F_SETFL, 0);
			return c;
		}
		pump(t, 1);
	}
	return -1;
}

/* Read exactly n bytes from a host socket, running the loop meanwhile. */
static bool host_read(struct tvs *t, int fd, void *buf, size_t n)
{
	size_t got = 0;
	for (int i = 0; i < 2000 && got < n; i++) {
		ssize_t r = recv(fd, (uint8_t *)buf + got, n - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			return false;
		else
			pump(t, 1);
	}
	return got == n;
}

static bool host_eof(struct tvs *t, int fd)
{
	char c;
	for (int i = 0; i < 500; i++) {
		ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
		if (r == 0)
			return true;
		if (r > 0)
			return false;
		pump(t, 1);
	}
	return false;
}

static bool needs_reset(struct tvs *t)
{
	return virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* A guest-initiated connection from guest port gport to host port hport, accepted. */
static int guest_connect(struct tvs *t, int lfd, uint32_t gport, uint32_t hport, uint32_t ba)
{
	struct hdr h;
	send_pkt(t,
		 (struct hdr){.src_port = gport,
			      .dst_port = hport,
			      .op = VIRTIO_VSOCK_OP_REQUEST,
			      .buf_alloc = ba},
		 NULL);
	int c = accept_wait(t, lfd);
	if (!recv_pkt(t, &h, NULL, 50) || h.op != VIRTIO_VSOCK_OP_RESPONSE || h.src_port != hport ||
	    h.dst_port != gport) {
		test_fail_at(__FILE__, __LINE__, "no RESPONSE for guest port %u", gport);
		return -1;
	}
	return c;
}

TEST(vsock_guest_connects_to_host_socket)
{
	struct tvs *t = tvs_new();
	REQUIRE(t);
	uint64_t cid = 0;
	virtio_read_config(t->dev, 0, &cid, 8);
	CHECK_EQ(le64toh(cid), GCID);
	post_rx(t, 16, RXBUF);
	int lfd = host_listen(t, 5000);
	REQUIRE(lfd >= 0);
	struct hdr h;
	send_pkt(t,
		 (struct hdr){.src_port = 1234,
			      .dst_port = 5000,
			      .op = VIRTIO_VSOCK_OP_REQUEST,
			      .buf_alloc = 65536},
		 NULL);
	int c = accept_wait(t, lfd);
	REQUIRE(c >= 0);
	REQUIRE(recv_pkt(t, &h, NULL, 50));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	CHECK_EQ(h.src_cid, 2);
	CHECK_EQ(h.dst_cid, GCID);
	CHECK_EQ(h.src_port, 5000);
	CHECK_EQ(h.dst_port, 1234);
	CHECK_EQ(h.type, VIRTIO_VSOCK_TYPE_STREAM);
	CHECK_EQ(h.buf_alloc, VSOCK_CONN_BUF);

	send_pkt(t,
		 (struct hdr){.src_port = 1234,
			      .dst_port = 5000,
			      .op = VIRTIO_VSOCK_OP_RW,
			      .len = 5,
			      .buf_alloc = 65536},
		 "hello");
	char buf[64] = "";
	CHECK(host_read(t, c, buf, 5));
	CHECK(!memcmp(buf, "hello", 5));

	REQUIRE(send(c, "world!", 6, 0) == 6);
	char data[64] = "";
	REQUIRE(recv_pkt(t, &h, data, 100));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(h.len, 6);
	CHECK(!memcmp(data, "world!", 6));
	CHECK_EQ(h.fwd_cnt, 5);

	/* The guest closes: SHUTDOWN both -> the device answers RST, the host sees EOF. */
	send_pkt(
	    t,
	    (struct hdr){
		.src_port = 1234, .dst_port = 5000, .op = VIRTIO_VSOCK_OP_SHUTDOWN, .flags = 3},
	    NULL);
	REQUIRE(recv_pkt(t, &h, NULL, 50));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(h.dst_port, 1234);
	CHECK(host_eof(t, c));
	struct vsock_info info;
	vsock_get_info(t->dev, &info);
	CHECK_EQ(info.conns, 0);
	CHECK_EQ(info.conns_total, 1);
	CHECK_EQ(info.bytes_from_guest, 5);
	CHECK_EQ(info.bytes_to_guest, 6);
	CHECK_EQ(vqd_counter(t->dev, "bytes_from_guest"), 5); /* vm.counters */
	CHECK_EQ(vqd_counter(t->dev, "bytes_to_guest"), 6);
	CHECK_EQ(vqd_counter(t->dev, "conns_total"), 1);
	close(c);
	close(lfd);
	tvs_free(t);
}

static int host_client(struct tvs *t, const char *line)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->uds);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	if (line && send(fd, line, strlen(line), 0) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

TEST(vsock_host_connects_with_connect_line)
{
	struct tvs *t = tvs_new();
	REQUIRE(t);
	post_rx(t, 16, RXBUF);
	struct hdr h;
	int fd = host_client(t, "CONNECT 52\nearly");
	REQUIRE(fd >= 0);
	REQUIRE(recv_pkt(t, &h, NULL, 100));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(h.dst_port, 52);
	CHECK(h.src_port >= (1u << 30));
	uint32_t hp = h.src_port;
	/* Data sent before the guest answered waits for the connection. */
	CHECK(!recv_pkt(t, &h, NULL, 5));
	send_pkt(
	    t,
	    (struct hdr){
		.src_port = 52, .dst_port = hp, .op = VIRTIO_VSOCK_OP_RESPONSE, .buf_alloc = 4096},
	    NULL);
	char ok[32] = "", want[32];
	int n = snprintf(want, sizeof(want), "OK %u\n", hp);
	CHECK(host_read(t, fd, ok, (size_t)n));
	CHECK_STR(ok, want);
	char data[64] = "";
	REQUIRE(recv_pkt(t, &h, data, 100));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(h.len, 5);
	CHECK(!memcmp(data, "early", 5));
	send_pkt(t,
		 (struct hdr){.src_port = 52,
			      .dst_port = hp,
			      .op = VIRTIO_VSOCK_OP_RW,
			      .len = 3,
			      .buf_alloc = 4096},
		 "abc");
	char buf[8] = "";
	CHECK(host_read(t, fd, buf, 3));
	CHECK(!memcmp(buf, "abc", 3));
	/* The host program exits: SHUTDOWN (send and receive) to the guest, its RST closes. */
	close(fd);
	REQUIRE(recv_pkt(t, &h, NULL, 100));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	CHECK_EQ(h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
	send_pkt(t, (struct hdr){.src_port = 52, .dst_port = hp, .op = VIRTIO_VSOCK_OP_RST}, NULL);
	struct vsock_info info;
	vsock_get_info(t->dev, &info);
	CHECK_EQ(info.conns, 0);

	/* Not a CONNECT line: closed, nothing reaches the guest. */
	fd = host_client(t, "HELLO 1\n");
	REQUIRE(fd >= 0);
	CHECK(host_eof(t, fd));
	close(fd);
	CHECK(!recv_pkt(t, &h, NULL, 5));
	/* The guest refuses (no listener): RST -> the socket closes without "OK". */
	fd = host_client(t, "CONNECT 53\n");
	REQUIRE(recv_pkt(t, &h, NULL, 100));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_REQUEST);
	send_pkt(t, (struct hdr){.src_port = 53, .dst_port = h.src_port, .op = VIRTIO_VSOCK_OP_RST},
		 NULL);
	CHECK(host_eof(t, fd));
	close(fd);
	tvs_free(t);
}

TEST(vsock_rst_for_what_has_no_connection)
{
	struct tvs *t = tvs_new();
	REQUIRE(t);
	post_rx(t, 16, RXBUF);
	struct hdr h;
	const struct hdr cases[] = {
	    /* data for a connection that does not exist */
	    {.src_port = 10, .dst_port = 20, .op = VIRTIO_VSOCK_OP_RW, .len = 2},
	    /* a connection to a host port nobody serves */
	    {.src_port = 11, .dst_port = 21, .op = VIRTIO_VSOCK_OP_REQUEST},
	    /* to CID 5, which is not the host */
	    {.dst_cid = 5, .src_port = 12, .dst_port = 22, .op = VIRTIO_VSOCK_OP_REQUEST},
	    /* from a CID that is not the guest's */
	    {.src_cid = 9, .src_port = 13, .dst_port = 23, .op = VIRTIO_VSOCK_OP_REQUEST},
	    /* seqpacket (not offered) */
	    {.type = 2, .src_port = 14, .dst_port = 24, .op = VIRTIO_VSOCK_OP_REQUEST},
	    /* unknown op */
	    {.src_port = 15, .dst_port = 25, .op = 99},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		send_pkt(t, cases[i], "xx");
		if (!recv_pkt(t, &h, NULL, 20)) {
			test_fail_at(__FILE__, __LINE__, "case %zu: no RST", i);
			continue;
		}
		CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RST);
		CHECK_EQ(h.src_port, cases[i].dst_port);
		CHECK_EQ(h.dst_port, cases[i].src_port);
	}
	/* A RST for nothing gets nothing back. */
	send_pkt(t, (struct hdr){.src_port = 16, .dst_port = 26, .op = VIRTIO_VSOCK_OP_RST}, NULL);
	CHECK(!recv_pkt(t, &h, NULL, 5));
	/* An unknown op on a live connection resets it. */
	int lfd = host_listen(t, 30);
	int c = guest_connect(t, lfd, 40, 30, 4096);
	REQUIRE(c >= 0);
	send_pkt(t, (struct hdr){.src_port = 40, .dst_port = 30, .op = 77}, NULL);
	REQUIRE(recv_pkt(t, &h, NULL, 20));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RST);
	CHECK(host_eof(t, c));
	CHECK(!needs_reset(t));
	close(c);
	close(lfd);
	tvs_free(t);
}

TEST(vsock_credit_both_directions)
{
	struct tvs *t = tvs_new();
	REQUIRE(t);
	post_rx(t, 64, RXBUF);
	int lfd = host_listen(t, 7);
	int c = guest_connect(t, lfd, 70, 7, 100); /* the guest takes 100 bytes at a time */
	REQUIRE(c >= 0);
	char big[300];
	for (int i = 0; i < 300; i++)
		big[i] = (char)i;
	REQUIRE(send(c, big, sizeof(big), 0) == 300);
	struct hdr h;
	char data[4096];
	REQUIRE(recv_pkt(t, &h, data, 100));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(h.len, 100);
	CHECK(!memcmp(data, big, 100));
	/* Out of credit: the device asks, and sends nothing more. */
	REQUIRE(recv_pkt(t, &h, NULL, 50));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	CHECK(!recv_pkt(t, &h, NULL, 10));
	send_pkt(t,
		 (struct hdr){.src_port = 70,
			      .dst_port = 7,
			      .op = VIRTIO_VSOCK_OP_CREDIT_UPDATE,
			      .buf_alloc = 100,
			      .fwd_cnt = 100},
		 NULL);
	REQUIRE(recv_pkt(t, &h, data, 100));
	CHECK_EQ(h.len, 100);
	CHECK(!memcmp(data, big + 100, 100));
	/* A CREDIT_REQUEST from the guest is answered with our counters. */
	send_pkt(t,
		 (struct hdr){.src_port = 70,
			      .dst_port = 7,
			      .op = VIRTIO_VSOCK_OP_CREDIT_REQUEST,
			      .buf_alloc = 100,
			      .fwd_cnt = 100},
		 NULL);
	bool seen = false;
	while (recv_pkt(t, &h, NULL, 20))
		if (h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE && h.buf_alloc == VSOCK_CONN_BUF)
			seen = true;
	CHECK(seen);

	/* Guest -> host: the host reads everything; after more than half our credit the device
	 * tells the guest how much it forwarded. */
	uint8_t *chunk = malloc(32768);
	memset(chunk, 0x3c, 32768);
	uint32_t sent = 0, last_fwd = 0;
	char *sink = malloc(1 << 20);
	for (int i = 0; i < 6; i++) {
		send_pkt(t,
			 (struct hdr){.src_port = 70,
				      .dst_port = 7,
				      .op = VIRTIO_VSOCK_OP_RW,
				      .len = 32768,
				      .buf_alloc = 100,
				      .fwd_cnt = 200},
			 chunk);
		sent += 32768;
		CHECK(host_read(t, c, sink, 32768));
	}
	while (recv_pkt(t, &h, NULL, 20))
		if (h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
			last_fwd = h.fwd_cnt;
	CHECK(last_fwd > VSOCK_CONN_BUF / 2 && last_fwd <= sent);

	/* The host stops reading; the guest ignores its credit: reset, not unbounded memory. */
	bool reset = false;
	for (int i = 0; i < 256 && !reset; i++) {
		send_pkt(t,
			 (struct hdr){.src_port = 70,
				      .dst_port = 7,
				      .op = VIRTIO_VSOCK_OP_RW,
				      .len = 32768,
				      .buf_alloc = 100,
				      .fwd_cnt = 200},
			 chunk);
		while (recv_pkt(t, &h, NULL, 0))
			reset |= h.op == VIRTIO_VSOCK_OP_RST;
	}
	CHECK(reset);
	CHECK(!needs_reset(t));
	free(chunk);
	free(sink);
	close(c);
	close(lfd);
	tvs_free(t);
}

/* Linux piggybacks its fwd_cnt on every packet it sends and then sends no CREDIT_UPDATE of
 * its own: credit that comes back in a data packet's header must restart a stalled stream. */
TEST(vsock_credit_in_a_data_header_restarts_the_stream)
{
	struct tvs *t = tvs_new();
	REQUIRE(t);
	post_rx(t, 64, RXBUF);
	int lfd = host_listen(t, 7);
	int c = guest_connect(t, lfd, 71, 7, 100);
	REQUIRE(c >= 0);
	char big[200];
	memset(big, 0x5a, sizeof(big));
	REQUIRE(send(c, big, sizeof(big), 0) == 200);
	struct hdr h;
	char data[4096];
	REQUIRE(recv_pkt(t, &h, data, 100));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(h.len, 100);
	REQUIRE(recv_pkt(t, &h, NULL, 50));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	CHECK(!recv_pkt(t, &h, NULL, 10));
	/* vm.counters shows where the stream waits. */
	CHECK_EQ(vqd_counter(t->dev, "conns_no_credit"), 1);
	CHECK_EQ(vqd_counter(t->dev, "credit_requests"), 1);
	CHECK_EQ(vqd_counter(t->dev, "bytes_to_guest_unacked"), 100);
	/* The guest answers with data, its header carrying the credit. */
	send_pkt(t,
		 (struct hdr){.src_port = 71,
			      .dst_port = 7,
			      .op = VIRTIO_VSOCK_OP_RW,
			      .len = 3,
			      .buf_alloc = 100,
			      .fwd_cnt = 100},
		 "abc");
	/* (The host reads "abc" only afterwards: its read would wake the socket for writing.) */
	REQUIRE(recv_pkt(t, &h, data, 100));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(h.len, 100);
	char got[3];
	CHECK(host_read(t, c, got, 3));
	CHECK(!memcmp(got, "abc", 3));
	CHECK_EQ(vqd_counter(t->dev, "conns_no_credit"), 1); /* 200 of 200 sent, none read */
	/* Out of credit again; a SHUTDOWN SEND (our direction stays open) brings the credit. */
	REQUIRE(send(c, big, 50, 0) == 50);
	CHECK(!recv_pkt(t, &h, NULL, 10) || h.op == VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	send_pkt(t,
		 (struct hdr){.src_port = 71,
			      .dst_port = 7,
			      .op = VIRTIO_VSOCK_OP_SHUTDOWN,
			      .flags = VIRTIO_VSOCK_SHUTDOWN_SEND,
			      .buf_alloc = 100,
			      .fwd_cnt = 200},
		 NULL);
	bool got_data = false;
	while (recv_pkt(t, &h, data, 20))
		if (h.op == VIRTIO_VSOCK_OP_RW && h.len == 50)
			got_data = true;
	CHECK(got_data);
	CHECK(host_eof(t, c));
	CHECK(!needs_reset(t));
	close(c);
	close(lfd);
	tvs_free(t);
}

/* Control packets go ahead of data: a new connection's RESPONSE does not wait behind
 * another connection's stream (Linux gives up a connect() after 2 s). */
TEST(vsock_response_goes_ahead_of_data)
{
	struct tvs *t = tvs_new();
	REQUIRE(t);
	post_rx(t, 1, RXBUF); /* one rx buffer at a time: recv_pkt posts the next */
	int lfd = host_listen(t, 7);
	int a = guest_connect(t, lfd, 80, 7, 1 << 20);
	REQUIRE(a >= 0);
	static char big[32768];
	memset(big, 0x11, sizeof(big));
	REQUIRE(send(a, big, sizeof(big), 0) == (ssize_t)sizeof(big));
	pump(t, 5); /* A's data takes the buffer; A waits for more */
	send_pkt(
	    t,
	    (struct hdr){
		.src_port = 81, .dst_port = 7, .op = VIRTIO_VSOCK_OP_REQUEST, .buf_alloc = 1 << 20},
	    NULL);
	struct hdr h;
	REQUIRE(recv_pkt(t, &h, NULL, 20));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(h.dst_port, 80);
	REQUIRE(recv_pkt(t, &h, NULL, 20));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	CHECK_EQ(h.dst_port, 81);
	REQUIRE(recv_pkt(t, &h, NULL, 20));
	CHECK_EQ(h.op, VIRTIO_VSOCK_OP_RW); /* then A's stream goes on */
	CHECK_EQ(h.dst_port, 80);
	int b = accept_wait(t, lfd);
	CHECK(b >= 0);
	CHECK(!needs_reset(t));
	if (b >= 0)
		close(b);
	close(a);
	close(lfd);
	tvs_free(t);
}

TEST(vsock_many_connections_keep_their_streams)
{
	enum { N = 48 };
	struct tvs *t = tvs_new();
	REQUIRE(t);
	post_rx(t, QSZ - 8, RXBUF);
	int lfd = host_listen(t, 9000);
	int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = guest_connect(t, lfd, 2000 + (uint32_t)i, 9000, 65536);
		REQUIRE(fds[i] >= 0);
	}
	/* Each guest connection sends its own bytes; each host socket sees exactly them. */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < N; i++) {
			char msg[32];
			int n = snprintf(msg, sizeof(msg), "conn %d round %d;", i, round);
			send_pkt(t,
				 (struct hdr){.src_port = 2000 + (uint32_t)i,
					      .dst_port = 9000,
					      .op = VIRTIO_VSOCK_OP_RW,
					      .len = (uint32_t)n,
					      .buf_alloc = 65536},
				 msg);
		}
	for (int i = 0; i < N; i++) {
		char want[128] = "", got[128] = "";
		size_t len = 0;
		for (int round = 0; round < 3; round++)
			len += (size_t)snprintf(want + len, sizeof(want) - len, "conn %d round %d;",
						i, round);
		CHECK(host_read(t, fds[i], got, len));
		CHECK_STR(got, want);
	}
	/* And the other way: every host socket's bytes arrive for its guest port only. */
	for (int i = 0; i < N; i++) {
		uint32_t v = 0xab000000u | (uint32_t)i;
		REQUIRE(send(fds[i], &v, 4, 0) == 4);
	}
	int seen = 0;
	struct hdr h;
	uint32_t v;
	while (seen < N && recv_pkt(t, &h, &v, 200)) {
		if (h.op != VIRTIO_VSOCK_OP_RW)
			continue;
		CHECK_EQ(h.len, 4);
		CHECK_EQ(v, 0xab000000u | (h.dst_port - 2000));
		seen++;
	}
	CHECK_EQ(seen, N);
	struct vsock_info info;
	vsock_get_info(t->dev, &info);
	CHECK_EQ(info.conns, N);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	close(lfd);
	tvs_free(t);
}

TEST(vsock_malformed_packets_need_reset_and_reset_closes_sockets)
{
	for (int kind = 0; kind < 3; kind++) {
		struct tvs *t = tvs_new();
		REQUIRE(t);
		post_rx(t, 4, RXBUF);
		int lfd = host_listen(t, 5);
		int c = guest_connect(t, lfd, 50, 5, 4096);
		REQUIRE(c >= 0);
		if (kind == 0) { /* shorter than a header */
			struct vqd_seg s = {t->txbuf, 20, false};
			REQUIRE(vqd_add(&t->q[1], &s, 1, false) >= 0);
			virtio_queue_kick(t->dev, 1);
		} else if (kind == 1) { /* a header promising more than the buffer holds */
			struct virtio_vsock_hdr raw = {.src_cid = htole64(GCID),
						       .dst_cid = htole64(2),
						       .src_port = htole32(50),
						       .dst_port = htole32(5),
						       .len = htole32(100),
						       .type = htole16(1),
						       .op = htole16(VIRTIO_VSOCK_OP_RW)};
			memcpy(vqd_hva(&t->m, t->txbuf), &raw, sizeof(raw));
			struct vqd_seg s[] = {{t->txbuf, sizeof(raw), false},
					      {t->txbuf + 64, 10, false}};
			REQUIRE(vqd_add(&t->q[1], s, 2, false) >= 0);
			virtio_queue_kick(t->dev, 1);
		} else { /* an rx buffer that cannot hold a header */
			uint32_t id, len;
			while (vqd_get_used(&t->q[0], &id, &len))
				;
			for (int i = 0; i < 8; i++) { /* use up the good buffers */
				REQUIRE(send(c, "x", 1, 0) == 1);
				pump(t, 3);
			}
			uint64_t b = vqd_alloc(&t->m, 16, 8);
			struct vqd_seg s = {b, 16, true};
			REQUIRE(vqd_add(&t->q[0], &s, 1, false) >= 0);
			virtio_queue_kick(t->dev, 0);
			pump(t, 3);
		}
		CHECK(needs_reset(t));
		/* The guest resets the device: its connections are gone, the host sees EOF. */
		virtio_reset(t->dev);
		CHECK(host_eof(t, c));
		close(c);
		close(lfd);
		tvs_free(t);
	}
}

TEST(vsock_create_errors_and_connect_line)
{
	struct virtio_dev *dev;
	char err[256] = "", path[200];
	struct vsock_config cfg = {.enabled = true, .cid = 2, .uds = path};
	snprintf(path, sizeof(path), "%s/x.sock", test_tmpdir());
	CHECK_EQ(vsock_create(&cfg, "vsock0", &dev, err, sizeof(err)), -EINVAL);
	cfg.cid = 3;
	snprintf(path, sizeof(path), "%s/%0100d", test_tmpdir(), 0);
	CHECK_EQ(vsock_create(&cfg, "vsock0", &dev, err, sizeof(err)), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "%s/file", test_tmpdir());
	close(open(path, O_CREAT | O_WRONLY, 0600));
	CHECK_EQ(vsock_create(&cfg, "vsock0", &dev, err, sizeof(err)), -EEXIST);
	CHECK(strstr(err, "exists and is not a socket"));
	snprintf(path, sizeof(path), "%s/live.sock", test_tmpdir());
	REQUIRE(vsock_create(&cfg, "vsock0", &dev, err, sizeof(err)) == 0);
	struct virtio_dev *dev2;
	CHECK_EQ(vsock_create(&cfg, "vsock1", &dev2, err, sizeof(err)), -EADDRINUSE);
	CHECK(strstr(err, "in use"));
	virtio_dev_destroy(dev);
	/* A stale socket file (nobody listens) is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	REQUIRE(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
	REQUIRE(vsock_create(&cfg, "vsock0", &dev, err, sizeof(err)) == 0);
	virtio_dev_destroy(dev);
	CHECK(access(path, F_OK) < 0); /* unlinked on destroy */

	uint32_t port = 0;
	CHECK_EQ(vsock_parse_connect("CONNECT 1234", 12, &port), 0);
	CHECK_EQ(port, 1234);
	CHECK_EQ(vsock_parse_connect("CONNECT 4294967295", 18, &port), 0);
	CHECK_EQ(port, 4294967295u);
	const char *bad[] = {"CONNECT 4294967296", "CONNECT ",	 "CONNECT",    "connect 1",
			     "CONNECT 1x",	   "CONNECT -1", "CONNECT  1", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_EQ(vsock_parse_connect(bad[i], strlen(bad[i]), &port), -EINVAL);
}
