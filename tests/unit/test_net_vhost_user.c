/* SPDX-License-Identifier: MIT */
/*
 * `vireo run --net vhost-user=SOCKET` (src/vhost_user/frontend_net.c over client.c) against
 * an in-process `vireo backend net` thread (the device in net.c with its control queue left to
 * the front-end), with a socketpair per queue pair in place of the TAP: frames both ways on
 * pair 0, the control queue turning pair 1 on (SET_VRING_ENABLE) and a frame through it, and
 * a driver reset that stops the back-end's rings without the loop thread waiting.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include "harness.h"
#include "vq_driver.h"
#include "backends/net_port.h"
#include "base/ev_loop.h"
#include "devices/virtio/net.h"
#include "vhost_user/backend.h"
#include "vhost_user/frontend_net.h"

#define MEM_SIZE (4u << 20)
#define QSIZE 16
#define HDR 12u

struct be_thread {
	struct ev_loop *loop;
	struct virtio_dev *dev;
	struct vu_backend *vb;
	pthread_t tid;
};

static void *be_main(void *arg)
{
	struct be_thread *b = arg;
	return ev_loop_run(b->loop) < 0 ? (void *)1 : NULL;
}

static void irq_q(void *opaque, uint16_t q)
{
	__atomic_add_fetch((unsigned *)opaque, 1, __ATOMIC_SEQ_CST);
}
static void irq_c(void *opaque)
{
}
static const struct virtio_irq_ops t_irq = {irq_q, irq_c};

/* Run the front-end loop until d has a used entry (or ~2 s). */
static bool wait_used(struct vq_driver *d, struct ev_loop *loop, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < 400; i++) {
		if (vqd_get_used(d, id, len))
			return true;
		(void)ev_loop_run_once(loop, 5);
	}
	return false;
}

TEST(vu_frontend_net_with_backend)
{
	char sock[256], err[256] = "";
	snprintf(sock, sizeof(sock), "%s/net.sock", test_tmpdir());

	/* back-end: vireo backend net (2 pairs, no control queue) on socketpairs */
	struct be_thread b;
	int peer[2];
	struct net_port *port = calloc(1, sizeof(*port));
	REQUIRE(port);
	port->nr_queues = 2;
	for (int i = 0; i < 2; i++) {
		int sv[2];
		REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
		port->fd[i] = sv[0];
		peer[i] = sv[1];
	}
	struct vnet_params bp = {.pairs = 2, .queue_size = 256, .ctrl_vq = false};
	REQUIRE(ev_loop_create(&b.loop) == 0);
	if (vnet_create(&bp, port, "net0", &b.dev, err, sizeof(err)) < 0)
		test_fail_at(__FILE__, __LINE__, "vnet_create: %s", err);
	REQUIRE(vu_backend_create(b.dev, b.loop, "vu-net", &b.vb) == 0);
	REQUIRE(vu_backend_listen(b.vb, sock) == 0);
	REQUIRE(pthread_create(&b.tid, NULL, be_main, &b) == 0);

	/* front-end over memfd guest RAM */
	struct vqd_mem m;
	memset(&m, 0, sizeof(m));
	int memfd = memfd_create("guest", MFD_CLOEXEC);
	REQUIRE(memfd >= 0 && ftruncate(memfd, MEM_SIZE) == 0);
	m.hva = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	REQUIRE(m.hva != MAP_FAILED);
	m.size = MEM_SIZE;
	m.brk = MEM_SIZE / 2;
	gm_init(&m.gm);
	REQUIRE(gm_add_region(&m.gm, 0, MEM_SIZE, m.hva, memfd, 0, false) == 0);
	struct ev_loop *loop;
	REQUIRE(ev_loop_create(&loop) == 0);
	struct net_config nc = {.vhost_user = sock, .queues = 2, .queue_size = 256};
	struct vnet_params fp;
	vnet_params_from_config(&nc, &fp);
	struct virtio_dev *dev = NULL;
	if (vunet_create(&nc, &fp, "net0", &dev, err, sizeof(err)) < 0)
		test_fail_at(__FILE__, __LINE__, "vunet_create: %s", err);
	REQUIRE(dev);
	unsigned irqs = 0;
	virtio_dev_attach(dev, &m.gm, loop, &t_irq, &irqs);
	CHECK_EQ(dev->nr_queues, 5);
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		     (1ULL << VIRTIO_NET_F_CTRL_VQ) | (1ULL << VIRTIO_NET_F_MQ) |
		     (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_MAC);
	REQUIRE(vqd_negotiate(dev, f) & VIRTIO_CONFIG_S_FEATURES_OK);
	struct vq_driver d[5];
	for (int i = 0; i < 5; i++) {
		REQUIRE(vqd_init(&d[i], &m, 0x1000 + 0x2000ull * i, QSIZE) == 0);
		REQUIRE(vqd_attach(&d[i], dev, (uint16_t)i) == 0);
	}
	virtio_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(vqd_settle(dev) & VIRTIO_CONFIG_S_DRIVER_OK);

	/* TX on pair 0: the frame reaches the back-end's port */
	uint64_t tx = vqd_alloc(&m, 4096, 16);
	uint8_t *p = vqd_hva(&m, tx);
	memset(p, 0, HDR);
	for (int i = 0; i < 100; i++)
		p[HDR + i] = (uint8_t)(i + 1);
	struct vqd_seg ts = {tx, HDR + 100, false};
	REQUIRE(vqd_add(&d[1], &ts, 1, false) >= 0);
	virtio_queue_kick(dev, 1);
	uint8_t got[256];
	struct pollfd pf = {peer[0], POLLIN, 0};
	ssize_t n = -1;
	for (int i = 0; i < 400 && n < 0; i++) {
		(void)ev_loop_run_once(loop, 5);
		if (poll(&pf, 1, 0) == 1)
			n = recv(peer[0], got, sizeof(got), MSG_DONTWAIT);
	}
	CHECK_EQ(n, HDR + 100);
	CHECK(n == HDR + 100 && memcmp(got + HDR, p + HDR, 100) == 0);
	uint32_t id, len;
	CHECK(wait_used(&d[1], loop, &id, &len));

	/* RX on pair 0 */
	uint64_t rx = vqd_alloc(&m, 4096, 16);
	struct vqd_seg rs = {rx, 2048, true};
	REQUIRE(vqd_add(&d[0], &rs, 1, false) >= 0);
	virtio_queue_kick(dev, 0);
	uint8_t frame[HDR + 64];
	memset(frame, 0, HDR);
	for (int i = 0; i < 64; i++)
		frame[HDR + i] = (uint8_t)(0x80 + i);
	REQUIRE(send(peer[0], frame, sizeof(frame), 0) == (ssize_t)sizeof(frame));
	REQUIRE(wait_used(&d[0], loop, &id, &len));
	CHECK_EQ(len, HDR + 64);
	CHECK(memcmp((uint8_t *)vqd_hva(&m, rx) + HDR, frame + HDR, 64) == 0);
	CHECK(__atomic_load_n(&irqs, __ATOMIC_SEQ_CST) >= 1);

	/* The control queue: 2 pairs (the front-end enables pair 1's rings on the back-end) */
	uint64_t c = vqd_alloc(&m, 64, 16);
	uint8_t *cp = vqd_hva(&m, c);
	cp[0] = VIRTIO_NET_CTRL_MQ;
	cp[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
	cp[2] = 2;
	cp[3] = 0;
	cp[32] = 0xee;
	struct vqd_seg cs[2] = {{c, 4, false}, {c + 32, 1, true}};
	REQUIRE(vqd_add(&d[4], cs, 2, false) >= 0);
	virtio_queue_kick(dev, 4);
	REQUIRE(wait_used(&d[4], loop, &id, &len));
	CHECK_EQ(cp[32], VIRTIO_NET_OK);
	uint64_t rx1 = vqd_alloc(&m, 4096, 16);
	struct vqd_seg rs1 = {rx1, 2048, true};
	REQUIRE(vqd_add(&d[2], &rs1, 1, false) >= 0);
	virtio_queue_kick(dev, 2);
	REQUIRE(send(peer[1], frame, sizeof(frame), 0) == (ssize_t)sizeof(frame));
	CHECK(wait_used(&d[2], loop, &id, &len));
	CHECK_EQ(len, HDR + 64);

	/* A driver reset: the rings stop on the back-end, answered asynchronously */
	virtio_set_status(dev, 0);
	CHECK_EQ(vqd_settle(dev), 0);
	CHECK(!dev->active);
	CHECK(!dev->failed);

	virtio_dev_destroy(dev);
	ev_loop_stop(b.loop);
	void *ret = NULL;
	pthread_join(b.tid, &ret);
	CHECK(ret == NULL);
	struct vnet_pair_stats s0, s1;
	vnet_get_stats(b.dev, 0, &s0);
	vnet_get_stats(b.dev, 1, &s1);
	CHECK_EQ(s0.tx_packets, 1);
	CHECK_EQ(s0.rx_packets, 1);
	CHECK_EQ(s1.rx_packets, 1);
	vu_backend_destroy(b.vb);
	virtio_dev_destroy(b.dev);
	for (int i = 0; i < 5; i++)
		vqd_fini(&d[i]);
	close(peer[0]);
	close(peer[1]);
	ev_loop_destroy(b.loop);
	ev_loop_destroy(loop);
	munmap(m.hva, MEM_SIZE);
	close(memfd);
}
