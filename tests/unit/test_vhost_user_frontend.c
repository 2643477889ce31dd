/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user front-end (`vireo run --disk vhost-user=SOCKET`, src/vhost_user/frontend.c):
 * against an in-process `vireo backend blk` thread, and against a scripted back-end that holds
 * its replies, hangs up or is writable when read-only is asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "harness.h"
#include "vq_driver.h"
#include "base/ev_loop.h"
#include "vhost_user/backend.h"
#include "vhost_user/protocol.h"

#define MEM_SIZE (1u << 20)
#define QSIZE 16
#define RING_GPA 0x1000

/* The front-end's guest RAM and loop. */
struct fe {
	int sock;
	struct ev_loop *loop;
	int memfd;
	struct vqd_mem m; /* guest RAM (hva = the front-end's user address) */
};

/* ---- the front-end (vireo run --disk vhost-user=) against the back-end, in-process ---- */

#include <pthread.h>
#include <linux/virtio_blk.h>
#include "devices/virtio/blk.h"
#include "vhost_user/frontend.h"

struct be_thread {
	struct ev_loop *loop;
	struct virtio_dev *dev;
	struct vu_backend *vb;
	pthread_t tid;
};

static void *be_main(void *arg)
{
	struct be_thread *b = arg;
	if (ev_loop_run(b->loop) < 0)
		return (void *)1;
	return NULL;
}

static unsigned fe_irqs;
static void fe_irq_queue(void *opaque, uint16_t q)
{
	__atomic_add_fetch((unsigned *)opaque, 1, __ATOMIC_SEQ_CST);
}
static void fe_irq_config(void *opaque)
{
}
static const struct virtio_irq_ops fe_irq_ops = {fe_irq_queue, fe_irq_config};

/* Publish one blk request and wait for the back-end's interrupt; returns the status byte. */
static int blk_rw_q(struct vq_driver *d, struct virtio_dev *dev, uint16_t q, struct ev_loop *loop,
		    uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len)
{
	struct vqd_mem *m = d->m;
	uint64_t hdr = vqd_alloc(m, 16, 16), st = vqd_alloc(m, 1, 1);
	struct virtio_blk_outhdr h = {type, 0, sector};
	memcpy(vqd_hva(m, hdr), &h, sizeof(h));
	*(uint8_t *)vqd_hva(m, st) = 0xff;
	struct vqd_seg segs[3] = {
	    {hdr, 16, false}, {data_gpa, len, type == VIRTIO_BLK_T_IN}, {st, 1, true}};
	unsigned before = __atomic_load_n(&fe_irqs, __ATOMIC_SEQ_CST);
	vqd_set_used_event(d, d->last_used); /* EVENT_IDX: interrupt me for the next one */
	if (vqd_add(d, segs, 3, false) < 0)
		return -1;
	virtio_queue_kick(dev, q);
	for (int i = 0; i < 200 && __atomic_load_n(&fe_irqs, __ATOMIC_SEQ_CST) == before; i++)
		(void)ev_loop_run_once(loop, 10);
	uint32_t id, ulen;
	if (__atomic_load_n(&fe_irqs, __ATOMIC_SEQ_CST) == before || !vqd_get_used(d, &id, &ulen))
		return -2;
	return *(uint8_t *)vqd_hva(m, st);
}

static int blk_rw(struct vq_driver *d, struct virtio_dev *dev, struct ev_loop *loop, uint32_t type,
		  uint64_t sector, uint64_t data_gpa, uint32_t len)
{
	return blk_rw_q(d, dev, 0, loop, type, sector, data_gpa, len);
}

TEST(vu_frontend_blk_roundtrip_with_backend)
{
	char img[256], sock[256];
	snprintf(img, sizeof(img), "%s/disk.img", test_tmpdir());
	snprintf(sock, sizeof(sock), "%s/blk.sock", test_tmpdir());
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	uint8_t sect[512];
	for (unsigned i = 0; i < sizeof(sect); i++)
		sect[i] = (uint8_t)(i * 7 + 1);
	REQUIRE(pwrite(fd, sect, sizeof(sect), 0) == (ssize_t)sizeof(sect));
	REQUIRE(ftruncate(fd, 1 << 20) == 0);

	/* back-end: vireo backend blk in a thread */
	struct be_thread b;
	struct disk_config dc;
	char err[256] = "";
	memset(&dc, 0, sizeof(dc));
	dc.path = img;
	dc.queues = 2;
	dc.queue_size = 256;
	REQUIRE(ev_loop_create(&b.loop) == 0);
	if (vblk_create(&dc, "blk0", &b.dev, err, sizeof(err)) < 0)
		test_fail_at(__FILE__, __LINE__, "vblk_create: %s", err);
	REQUIRE(b.dev);
	REQUIRE(vu_backend_create(b.dev, b.loop, "vu-be", &b.vb) == 0);
	REQUIRE(vu_backend_listen(b.vb, sock) == 0);
	REQUIRE(pthread_create(&b.tid, NULL, be_main, &b) == 0);

	/* front-end device over memfd guest RAM, driven like a guest driver would */
	struct fe f;
	memset(&f, 0, sizeof(f));
	f.memfd = memfd_create("guest", MFD_CLOEXEC);
	REQUIRE(f.memfd >= 0 && ftruncate(f.memfd, MEM_SIZE) == 0);
	f.m.hva = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f.memfd, 0);
	REQUIRE(f.m.hva != MAP_FAILED);
	f.m.size = MEM_SIZE;
	f.m.brk = MEM_SIZE / 2;
	gm_init(&f.m.gm);
	REQUIRE(gm_add_region(&f.m.gm, 0, MEM_SIZE, f.m.hva, f.memfd, 0, false) == 0);
	REQUIRE(ev_loop_create(&f.loop) == 0);

	struct disk_config fc;
	memset(&fc, 0, sizeof(fc));
	fc.vhost_user = sock;
	fc.queues = 2;
	fc.queue_size = 256;
	struct virtio_dev *dev = NULL;
	if (vublk_create(&fc, "vublk0", &dev, err, sizeof(err)) < 0)
		test_fail_at(__FILE__, __LINE__, "vublk_create: %s", err);
	REQUIRE(dev);
	uint64_t cap = 0;
	virtio_read_config(dev, 0, &cap, 8);
	CHECK_EQ(cap, (1 << 20) / 512);
	virtio_dev_attach(dev, &f.m.gm, f.loop, &fe_irq_ops, &fe_irqs);

	struct vq_driver d, d1;
	uint16_t nq = 0;
	virtio_read_config(dev, offsetof(struct virtio_blk_config, num_queues), &nq, 2);
	CHECK_EQ(nq, 2);
	CHECK(dev->device_features & (1ULL << VIRTIO_BLK_F_MQ));
	CHECK(vqd_negotiate(dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
				     (1ULL << VIRTIO_BLK_F_MQ)) &
	      VIRTIO_CONFIG_S_FEATURES_OK);
	REQUIRE(vqd_init(&d, &f.m, RING_GPA, QSIZE) == 0);
	REQUIRE(vqd_attach(&d, dev, 0) == 0);
	REQUIRE(vqd_init(&d1, &f.m, RING_GPA + 0x8000, QSIZE) == 0);
	REQUIRE(vqd_attach(&d1, dev, 1) == 0);
	virtio_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);

	/* The first request is kicked before the loop has handed the rings over: the kick is
	 * not lost. */
	uint64_t data = vqd_alloc(&f.m, 512, 512);
	CHECK_EQ(blk_rw(&d, dev, f.loop, VIRTIO_BLK_T_IN, 0, data, 512), VIRTIO_BLK_S_OK);
	CHECK(dev->active);
	CHECK(memcmp(vqd_hva(&f.m, data), sect, 512) == 0);
	memset(vqd_hva(&f.m, data), 0xab, 512);
	CHECK_EQ(blk_rw(&d, dev, f.loop, VIRTIO_BLK_T_OUT, 3, data, 512), VIRTIO_BLK_S_OK);
	uint8_t back[512], want[512];
	memset(want, 0xab, sizeof(want));
	CHECK_EQ(pread(fd, back, sizeof(back), 3 * 512), 512);
	CHECK(memcmp(back, want, 512) == 0);
	/* the second queue has its own ring, kick and call fds */
	memset(vqd_hva(&f.m, data), 0, 512);
	CHECK_EQ(blk_rw_q(&d1, dev, 1, f.loop, VIRTIO_BLK_T_IN, 0, data, 512), VIRTIO_BLK_S_OK);
	CHECK(memcmp(vqd_hva(&f.m, data), sect, 512) == 0);

	/* a driver reset stops the back-end's ring; a second activation works again */
	virtio_set_status(dev, 0);
	CHECK_EQ(vqd_settle(dev), 0);
	CHECK(!dev->active);
	CHECK(vqd_negotiate(dev, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK);
	vqd_fini(&d);
	REQUIRE(vqd_init(&d, &f.m, RING_GPA, QSIZE) == 0);
	REQUIRE(vqd_attach(&d, dev, 0) == 0);
	virtio_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(blk_rw(&d, dev, f.loop, VIRTIO_BLK_T_IN, 3, data, 512), VIRTIO_BLK_S_OK);
	CHECK(dev->active);
	CHECK(memcmp(vqd_hva(&f.m, data), want, 512) == 0);

	virtio_dev_destroy(dev);
	vqd_fini(&d);
	vqd_fini(&d1);
	ev_loop_stop(b.loop);
	void *ret = NULL;
	pthread_join(b.tid, &ret);
	CHECK(ret == NULL);
	CHECK_EQ(vu_backend_queue_requests(b.vb, 0), 3);
	CHECK_EQ(vu_backend_queue_requests(b.vb, 1), 1);
	vu_backend_destroy(b.vb);
	virtio_dev_destroy(b.dev);
	ev_loop_destroy(b.loop);
	ev_loop_destroy(f.loop);
	munmap(f.m.hva, MEM_SIZE);
	close(f.memfd);
	close(fd);
}

/* ---- a scripted back-end: the front-end's register writes must not wait for it ---- */

#include <stdatomic.h>

struct slow_be {
	int listen_fd;
	int gate; /* eventfd (semaphore): each held reply waits for one release */
	bool ro;
	uint32_t hang_up_on; /* close the connection instead of answering this request */
	pthread_t tid;
	atomic_uint seen[VU_REQUEST_MAX];
};

static void sbe_reply(int fd, const struct vu_msg *req, const void *p, uint32_t size)
{
	struct vu_msg m;
	memset(&m, 0, sizeof(m));
	m.hdr.request = req->hdr.request;
	m.hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	m.hdr.size = size;
	memcpy(&m.p, p, size);
	if (vu_msg_send(fd, &m, NULL, 0) < 0)
		fprintf(stderr, "slow back-end: reply failed\n");
}

/* Wait (bounded) until the test releases the gate once. */
static void sbe_wait_gate(struct slow_be *s)
{
	struct pollfd p = {s->gate, POLLIN, 0};
	uint64_t v;
	if (poll(&p, 1, 20000) == 1 && read(s->gate, &v, 8) == 8)
		return;
	fprintf(stderr, "slow back-end: gate never opened\n");
}

static void *sbe_main(void *arg)
{
	struct slow_be *s = arg;
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		struct vu_msg m;
		int fds[VU_MAX_FDS];
		unsigned nfds = 0;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 30000) != 1 || vu_msg_recv(fd, &m, fds, &nfds) != 1)
			break;
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		uint32_t rq = m.hdr.request;
		uint64_t v = 0;
		if (rq < VU_REQUEST_MAX) /* counted before the reply: the test reads it after */
			atomic_fetch_add(&s->seen[rq], 1);
		if (rq == s->hang_up_on)
			break;
		switch (rq) {
		case VU_GET_FEATURES:
			v = (1ull << VIRTIO_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES) |
			    (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_BLK_F_FLUSH) |
			    (s->ro ? 1ull << VIRTIO_BLK_F_RO : 0);
			sbe_reply(fd, &m, &v, 8);
			break;
		case VU_GET_PROTOCOL_FEATURES:
			v = (1ull << VU_PROTOCOL_F_MQ) | (1ull << VU_PROTOCOL_F_REPLY_ACK) |
			    (1ull << VU_PROTOCOL_F_CONFIG);
			sbe_reply(fd, &m, &v, 8);
			break;
		case VU_GET_QUEUE_NUM:
			v = 1;
			sbe_reply(fd, &m, &v, 8);
			break;
		case VU_GET_CONFIG: {
			struct vu_config c = m.p.config;
			memset(c.data, 0, sizeof(c.data));
			uint64_t cap = 2048;
			memcpy(c.data, &cap, 8);
			sbe_reply(fd, &m, &c, m.hdr.size);
			break;
		}
		case VU_GET_VRING_BASE: {
			sbe_wait_gate(s);
			struct vu_vring_state st = {m.p.state.index, 0};
			sbe_reply(fd, &m, &st, sizeof(st));
			break;
		}
		default:
			if (m.hdr.flags & VU_FLAG_NEED_REPLY) {
				if (rq == VU_SET_FEATURES)
					sbe_wait_gate(s);
				sbe_reply(fd, &m, &v, 8);
			}
			break;
		}
	}
	close(fd);
	return NULL;
}

static int sbe_start(struct slow_be *s, const char *path, bool ro)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memset(s, 0, sizeof(*s));
	s->ro = ro;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s->gate = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
	if (s->listen_fd < 0 || s->gate < 0 || bind(s->listen_fd, (void *)&sa, sizeof(sa)) < 0 ||
	    listen(s->listen_fd, 1) < 0)
		return -1;
	return pthread_create(&s->tid, NULL, sbe_main, s) == 0 ? 0 : -1;
}

static void sbe_release(struct slow_be *s)
{
	uint64_t one = 1;
	CHECK_EQ(write(s->gate, &one, 8), 8);
}

/* Guest RAM for a front-end: one memfd region of MEM_SIZE at gpa 0. */
static void fe_ram(struct fe *f)
{
	memset(f, 0, sizeof(*f));
	f->sock = -1;
	f->memfd = memfd_create("guest", MFD_CLOEXEC);
	REQUIRE(f->memfd >= 0 && ftruncate(f->memfd, MEM_SIZE) == 0);
	f->m.hva = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	REQUIRE(f->m.hva != MAP_FAILED);
	f->m.size = MEM_SIZE;
	f->m.brk = MEM_SIZE / 2;
	gm_init(&f->m.gm);
	REQUIRE(gm_add_region(&f->m.gm, 0, MEM_SIZE, f->m.hva, f->memfd, 0, false) == 0);
	REQUIRE(ev_loop_create(&f->loop) == 0);
}

/* DRIVER_OK and reset of a vhost-user disk are register writes on a vCPU thread: they return
 * at once, the round trips with the back-end finish on the loop, and device_status reads the
 * old value until the reset is complete. The back-end here holds its SET_FEATURES ack and its
 * GET_VRING_BASE reply until the write has returned. */
TEST(vu_frontend_status_writes_do_not_wait_for_backend)
{
	char sock[256], err[256] = "";
	struct slow_be s;
	struct fe f;
	snprintf(sock, sizeof(sock), "%s/slow.sock", test_tmpdir());
	REQUIRE(sbe_start(&s, sock, false) == 0);
	fe_ram(&f);
	struct disk_config fc;
	memset(&fc, 0, sizeof(fc));
	fc.vhost_user = sock;
	fc.queues = 1;
	fc.queue_size = 256;
	struct virtio_dev *dev = NULL;
	if (vublk_create(&fc, "vublk0", &dev, err, sizeof(err)) < 0)
		test_fail_at(__FILE__, __LINE__, "vublk_create: %s", err);
	REQUIRE(dev);
	virtio_dev_attach(dev, &f.m.gm, f.loop, &fe_irq_ops, &fe_irqs);
	uint8_t st = vqd_negotiate(dev, (1ULL << VIRTIO_F_VERSION_1));
	REQUIRE(st & VIRTIO_CONFIG_S_FEATURES_OK);
	struct vq_driver d;
	REQUIRE(vqd_init(&d, &f.m, RING_GPA, QSIZE) == 0);
	REQUIRE(vqd_attach(&d, dev, 0) == 0);

	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	sbe_release(&s); /* only now may the back-end acknowledge SET_FEATURES */
	uint8_t live = virtio_get_status(dev);
	CHECK(live & VIRTIO_CONFIG_S_DRIVER_OK);
	for (int k = 0; k < 4000 && !atomic_load(&s.seen[VU_SET_VRING_ENABLE]); k++)
		(void)ev_loop_run_once(f.loop, 5);
	CHECK_EQ(atomic_load(&s.seen[VU_SET_VRING_ENABLE]), 1);
	CHECK_EQ(atomic_load(&s.seen[VU_SET_VRING_KICK]), 1);
	CHECK_EQ(atomic_load(&s.seen[VU_SET_MEM_TABLE]), 1);
	CHECK(!(virtio_get_status(dev) & VIRTIO_CONFIG_S_NEEDS_RESET));
	CHECK(dev->active);

	virtio_set_status(dev, 0);
	CHECK_EQ(virtio_get_status(dev), live); /* the back-end has not answered GET_VRING_BASE */
	sbe_release(&s);
	for (int k = 0; k < 4000 && virtio_get_status(dev) != 0; k++)
		(void)ev_loop_run_once(f.loop, 5);
	CHECK_EQ(virtio_get_status(dev), 0);
	CHECK_EQ(atomic_load(&s.seen[VU_GET_VRING_BASE]), 1);
	CHECK(!dev->active);

	virtio_dev_destroy(dev);
	pthread_join(s.tid, NULL);
	vqd_fini(&d);
	close(s.listen_fd);
	close(s.gate);
	ev_loop_destroy(f.loop);
	munmap(f.m.hva, MEM_SIZE);
	close(f.memfd);
}

/* readonly=on must be the back-end's own read-only mode, not just a bit offered to the guest:
 * against a back-end that does not offer VIRTIO_BLK_F_RO the front-end refuses to start. */
TEST(vu_frontend_readonly_needs_a_readonly_backend)
{
	for (int ro = 0; ro < 2; ro++) {
		char sock[256], err[256] = "";
		struct slow_be s;
		snprintf(sock, sizeof(sock), "%s/ro%d.sock", test_tmpdir(), ro);
		REQUIRE(sbe_start(&s, sock, ro) == 0);
		struct disk_config fc;
		memset(&fc, 0, sizeof(fc));
		fc.vhost_user = sock;
		fc.queues = 1;
		fc.queue_size = 256;
		fc.readonly = true;
		struct virtio_dev *dev = NULL;
		int r = vublk_create(&fc, "vublk0", &dev, err, sizeof(err));
		if (ro) {
			CHECK_EQ(r, 0);
			REQUIRE(dev);
			CHECK(virtio_device_features(dev) & (1ULL << VIRTIO_BLK_F_RO));
			virtio_dev_destroy(dev);
		} else {
			CHECK(r < 0);
			CHECK(dev == NULL);
			CHECK(strstr(err, "read-only") != NULL);
			CHECK(strchr(err, '\n') == NULL);
			if (dev)
				virtio_dev_destroy(dev);
		}
		pthread_join(s.tid, NULL);
		close(s.listen_fd);
		close(s.gate);
	}
}


/* A back-end that goes away while the driver resets the device: the reset still completes
 * (device_status reads 0), the disk then fails (NEEDS_RESET) instead of hanging or killing
 * the VMM, with one log line. */
TEST(vu_frontend_backend_gone_during_reset)
{
	char sock[256], err[256] = "";
	struct slow_be s;
	struct fe f;
	snprintf(sock, sizeof(sock), "%s/gone.sock", test_tmpdir());
	REQUIRE(sbe_start(&s, sock, false) == 0);
	s.hang_up_on = VU_GET_VRING_BASE;
	fe_ram(&f);
	struct disk_config fc;
	memset(&fc, 0, sizeof(fc));
	fc.vhost_user = sock;
	fc.queues = 1;
	fc.queue_size = 256;
	struct virtio_dev *dev = NULL;
	if (vublk_create(&fc, "vublk0", &dev, err, sizeof(err)) < 0)
		test_fail_at(__FILE__, __LINE__, "vublk_create: %s", err);
	REQUIRE(dev);
	virtio_dev_attach(dev, &f.m.gm, f.loop, &fe_irq_ops, &fe_irqs);
	uint8_t st = vqd_negotiate(dev, (1ULL << VIRTIO_F_VERSION_1));
	struct vq_driver d;
	REQUIRE(vqd_init(&d, &f.m, RING_GPA, QSIZE) == 0);
	REQUIRE(vqd_attach(&d, dev, 0) == 0);
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	sbe_release(&s); /* SET_FEATURES ack */
	for (int k = 0; k < 4000 && !atomic_load(&s.seen[VU_SET_VRING_ENABLE]); k++)
		(void)ev_loop_run_once(f.loop, 5);
	CHECK(dev->active);
	virtio_set_status(dev, 0);
	CHECK(virtio_get_status(dev) != 0);
	for (int k = 0; k < 4000 && virtio_get_status(dev) != 0; k++)
		(void)ev_loop_run_once(f.loop, 5);
	CHECK_EQ(virtio_get_status(dev), 0);
	/* The driver starts again: activation fails, the device says so. */
	st = vqd_negotiate(dev, (1ULL << VIRTIO_F_VERSION_1));
	REQUIRE(vqd_attach(&d, dev, 0) == 0);
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	CHECK(vqd_settle(dev) & VIRTIO_CONFIG_S_NEEDS_RESET);
	virtio_set_status(dev, 0);
	CHECK_EQ(vqd_settle(dev), 0);
	virtio_dev_destroy(dev);
	pthread_join(s.tid, NULL);
	vqd_fini(&d);
	close(s.listen_fd);
	close(s.gate);
	ev_loop_destroy(f.loop);
	munmap(f.m.hva, MEM_SIZE);
	close(f.memfd);
}
