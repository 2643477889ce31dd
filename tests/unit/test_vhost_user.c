/* SPDX-License-Identifier: MIT */
/*
 * vhost-user back-end: the message validator against crafted malformed messages, and the
 * back-end over a socketpair (the test plays the front-end): handshake, SET_MEM_TABLE mapping
 * and address translation, a virtio-rng request end to end, malformed messages that must
 * close the connection without crashing or leaking fds, and a front-end that shrinks its
 * guest memory. The front-end side is in test_vhost_user_frontend.c.
 */
#include <dirent.h>
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
#include "devices/virtio/rng.h"
#include "vhost_user/backend.h"
#include "vhost_user/protocol.h"

#define MEM_SIZE (1u << 20)
#define QSIZE 16
#define RING_GPA 0x1000

/* ---- the validator alone ---- */

static struct vu_msg mk(uint32_t req, uint32_t size)
{
	struct vu_msg m;
	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = size;
	return m;
}

static int val(const struct vu_msg *m, unsigned nfds, unsigned nq)
{
	char why[200] = "";
	int r = vu_msg_validate(m, nfds, nq, why, sizeof(why));
	if (r < 0 && !why[0])
		test_fail_at(__FILE__, __LINE__, "rejected without a reason");
	return r;
}

TEST(vu_validate_header)
{
	struct vu_msg m = mk(VU_GET_FEATURES, 0);
	CHECK_EQ(val(&m, 0, 1), 0);
	m.hdr.flags = 2; /* version 2 */
	CHECK(val(&m, 0, 1) < 0);
	m.hdr.flags = VU_VERSION | VU_FLAG_REPLY; /* a reply sent to the back-end */
	CHECK(val(&m, 0, 1) < 0);
	m.hdr.flags = VU_VERSION | 0x100;
	CHECK(val(&m, 0, 1) < 0);
	m.hdr.flags = VU_VERSION | VU_FLAG_NEED_REPLY;
	CHECK_EQ(val(&m, 0, 1), 0);
	m.hdr.size = 8; /* GET_FEATURES carries no payload */
	CHECK(val(&m, 0, 1) < 0);
	m = mk(VU_GET_FEATURES, 0);
	m.hdr.size = (uint32_t)VU_MAX_PAYLOAD + 1;
	CHECK(val(&m, 0, 1) < 0);
	m = mk(99, 0);
	CHECK(val(&m, 0, 1) < 0);
	m = mk(VU_SET_LOG_BASE, 8); /* not offered */
	CHECK(val(&m, 1, 1) < 0);
}

TEST(vu_validate_sizes_and_fds)
{
	struct vu_msg m = mk(VU_SET_FEATURES, 8);
	CHECK_EQ(val(&m, 0, 1), 0);
	m.hdr.size = 4;
	CHECK(val(&m, 0, 1) < 0);
	m.hdr.size = 16;
	CHECK(val(&m, 0, 1) < 0);
	m.hdr.size = 8;
	CHECK(val(&m, 1, 1) < 0); /* an fd where none belongs */

	m = mk(VU_SET_VRING_NUM, 8);
	CHECK_EQ(val(&m, 0, 1), 0);
	CHECK(val(&m, 2, 1) < 0);
	m.hdr.size = 7;
	CHECK(val(&m, 0, 1) < 0);

	m = mk(VU_SET_VRING_ADDR, 40);
	CHECK_EQ(val(&m, 0, 1), 0);
	m.hdr.size = 32;
	CHECK(val(&m, 0, 1) < 0);
	m.hdr.size = 40;
	m.p.addr.flags = 2;
	CHECK(val(&m, 0, 1) < 0);

	m = mk(VU_SET_VRING_KICK, 8);
	CHECK_EQ(val(&m, 1, 1), 0);
	CHECK(val(&m, 0, 1) < 0); /* fd missing */
	CHECK(val(&m, 2, 1) < 0);
	m.p.u64 = VU_VRING_NOFD_MASK;
	CHECK_EQ(val(&m, 0, 1), 0);
	CHECK(val(&m, 1, 1) < 0); /* fd despite the no-fd flag */
	m.p.u64 = 1ull << 20;	  /* reserved bits */
	CHECK(val(&m, 1, 1) < 0);

	m = mk(VU_GET_CONFIG, VU_CONFIG_HDR_SIZE + 8);
	m.p.config.size = 8;
	CHECK_EQ(val(&m, 0, 1), 0);
	m.p.config.size = 9; /* disagrees with the header size */
	CHECK(val(&m, 0, 1) < 0);
	m.p.config.size = 8;
	m.p.config.offset = VU_MAX_CONFIG_SIZE - 4;
	CHECK(val(&m, 0, 1) < 0);
	m.p.config.offset = 0xfffffffc; /* offset + size wraps */
	CHECK(val(&m, 0, 1) < 0);
	m = mk(VU_SET_CONFIG, 4);
	CHECK(val(&m, 0, 1) < 0);
	m = mk(VU_SET_CONFIG, VU_CONFIG_HDR_SIZE + 300);
	m.p.config.size = 300;
	CHECK(val(&m, 0, 1) < 0);
}

TEST(vu_validate_queue_index)
{
	static const uint32_t reqs[] = {VU_SET_VRING_NUM, VU_SET_VRING_BASE, VU_GET_VRING_BASE,
					VU_SET_VRING_ENABLE};
	for (unsigned i = 0; i < ARRAY_SIZE(reqs); i++) {
		struct vu_msg m = mk(reqs[i], 8);
		m.p.state.index = 1;
		CHECK_EQ(val(&m, 0, 2), 0);
		CHECK(val(&m, 0, 1) < 0);
		m.p.state.index = 0xffffffff;
		CHECK(val(&m, 0, 2) < 0);
	}
	struct vu_msg m = mk(VU_SET_VRING_ADDR, 40);
	m.p.addr.index = 3;
	CHECK(val(&m, 0, 3) < 0);
	m = mk(VU_SET_VRING_CALL, 8);
	m.p.u64 = 5;
	CHECK(val(&m, 1, 5) < 0);
	CHECK_EQ(val(&m, 1, 6), 0);
}

static void mem_msg(struct vu_msg *m, unsigned n)
{
	*m = mk(VU_SET_MEM_TABLE, (uint32_t)(8 + n * sizeof(struct vu_mem_region)));
	m->p.mem.nregions = n;
	for (unsigned i = 0; i < n; i++)
		m->p.mem.regions[i] =
		    (struct vu_mem_region){.gpa = i * 0x100000ull,
					   .size = 0x100000,
					   .uaddr = 0x7f0000000000ull + i * 0x200000ull,
					   .mmap_offset = 0};
}

TEST(vu_validate_mem_table)
{
	struct vu_msg m;
	mem_msg(&m, 2);
	CHECK_EQ(val(&m, 2, 1), 0);
	CHECK(val(&m, 1, 1) < 0); /* one fd per region */
	CHECK(val(&m, 3, 1) < 0);
	m.hdr.size -= 8;
	CHECK(val(&m, 2, 1) < 0);

	mem_msg(&m, 8);
	CHECK_EQ(val(&m, 8, 1), 0);
	m.p.mem.nregions = 9;
	m.hdr.size = 8 + 9 * 32;
	CHECK(val(&m, 8, 1) < 0);
	mem_msg(&m, 1);
	m.p.mem.nregions = 0;
	m.hdr.size = 8;
	CHECK(val(&m, 0, 1) < 0);

	mem_msg(&m, 2); /* overlap in guest-physical space */
	m.p.mem.regions[1].gpa = 0x80000;
	CHECK(val(&m, 2, 1) < 0);
	mem_msg(&m, 2); /* overlap in front-end address space */
	m.p.mem.regions[1].uaddr = m.p.mem.regions[0].uaddr + 0x1000;
	CHECK(val(&m, 2, 1) < 0);
	mem_msg(&m, 1); /* empty region */
	m.p.mem.regions[0].size = 0;
	CHECK(val(&m, 1, 1) < 0);
	mem_msg(&m, 1); /* wrap-arounds */
	m.p.mem.regions[0].gpa = ~0ull - 0x1000;
	CHECK(val(&m, 1, 1) < 0);
	mem_msg(&m, 1);
	m.p.mem.regions[0].uaddr = ~0ull - 0x1000;
	CHECK(val(&m, 1, 1) < 0);
	mem_msg(&m, 1);
	m.p.mem.regions[0].mmap_offset = ~0ull - 0x1000;
	CHECK(val(&m, 1, 1) < 0);
}

/* ---- the back-end over a socketpair ---- */

struct fe {
	int sock; /* our end */
	struct ev_loop *loop;
	struct virtio_dev *dev;
	struct vu_backend *vb;
	int memfd;
	struct vqd_mem m; /* the front-end's view of guest RAM (hva = its user address) */
};

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void fe_init(struct fe *f)
{
	int sv[2];
	memset(f, 0, sizeof(*f));
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	f->sock = sv[0];
	REQUIRE(ev_loop_create(&f->loop) == 0);
	REQUIRE(vrng_create("rng0", &f->dev) == 0);
	REQUIRE(vu_backend_create(f->dev, f->loop, "vu-test", &f->vb) == 0);
	REQUIRE(vu_backend_attach_conn(f->vb, sv[1]) == 0);
	f->memfd = memfd_create("guest", MFD_CLOEXEC);
	REQUIRE(f->memfd >= 0);
	REQUIRE(ftruncate(f->memfd, MEM_SIZE) == 0);
	void *p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	REQUIRE(p != MAP_FAILED);
	f->m.hva = p;
	f->m.gpa = 0;
	f->m.size = MEM_SIZE;
	f->m.brk = MEM_SIZE / 2;
	gm_init(&f->m.gm);
	REQUIRE(gm_add_region(&f->m.gm, 0, MEM_SIZE, p, f->memfd, 0, false) == 0);
}

static void fe_fini(struct fe *f)
{
	vu_backend_destroy(f->vb);
	virtio_dev_destroy(f->dev);
	ev_loop_destroy(f->loop);
	close(f->sock);
	close(f->memfd);
	munmap(f->m.hva, MEM_SIZE);
}

/* Let the back-end handle everything pending. */
static void fe_pump(struct fe *f)
{
	while (ev_loop_run_once(f->loop, 0) > 0) {
	}
}

static int fe_send(struct fe *f, struct vu_msg *m, const int *fds, unsigned nfds)
{
	int r = vu_msg_send(f->sock, m, fds, nfds);
	fe_pump(f);
	return r;
}

/* Read a reply (after fe_send). Returns 1, 0 on EOF (the back-end closed), or -errno. */
static int fe_recv(struct fe *f, struct vu_msg *m)
{
	struct pollfd p = {f->sock, POLLIN, 0};
	int fds[VU_MAX_FDS];
	unsigned nfds;
	if (poll(&p, 1, 1000) != 1)
		return -ETIMEDOUT;
	int r = vu_msg_recv(f->sock, m, fds, &nfds);
	for (unsigned i = 0; i < (r > 0 ? nfds : 0); i++)
		close(fds[i]);
	return r;
}

static uint64_t fe_get_u64(struct fe *f, uint32_t req)
{
	struct vu_msg m = mk(req, 0), r;
	if (fe_send(f, &m, NULL, 0) < 0 || fe_recv(f, &r) != 1)
		return ~0ull;
	CHECK_EQ(r.hdr.request, req);
	CHECK_EQ(r.hdr.flags, VU_VERSION | VU_FLAG_REPLY);
	CHECK_EQ(r.hdr.size, 8);
	return r.p.u64;
}

static void fe_set_u64(struct fe *f, uint32_t req, uint64_t v, bool need_ack)
{
	struct vu_msg m = mk(req, 8), r;
	m.p.u64 = v;
	if (need_ack)
		m.hdr.flags |= VU_FLAG_NEED_REPLY;
	CHECK_EQ(fe_send(f, &m, NULL, 0), 0);
	if (need_ack) {
		CHECK_EQ(fe_recv(f, &r), 1);
		CHECK_EQ(r.p.u64, 0);
	}
}

static void fe_state(struct fe *f, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_msg m = mk(req, 8);
	m.p.state = (struct vu_vring_state){index, num};
	CHECK_EQ(fe_send(f, &m, NULL, 0), 0);
}

static void fe_handshake(struct fe *f)
{
	uint64_t feat = fe_get_u64(f, VU_GET_FEATURES);
	CHECK(feat & (1ull << VU_F_PROTOCOL_FEATURES));
	CHECK(feat & (1ull << VIRTIO_F_VERSION_1));
	uint64_t pf = fe_get_u64(f, VU_GET_PROTOCOL_FEATURES);
	CHECK(pf & (1ull << VU_PROTOCOL_F_REPLY_ACK));
	CHECK(pf & (1ull << VU_PROTOCOL_F_MQ));
	CHECK(pf & (1ull << VU_PROTOCOL_F_CONFIG));
	fe_set_u64(f, VU_SET_PROTOCOL_FEATURES, pf, false);
	struct vu_msg m = mk(VU_SET_OWNER, 0), r;
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	CHECK_EQ(fe_send(f, &m, NULL, 0), 0);
	CHECK_EQ(fe_recv(f, &r), 1); /* REPLY_ACK */
	CHECK_EQ(r.hdr.request, VU_SET_OWNER);
	CHECK_EQ(r.p.u64, 0);
	CHECK_EQ(fe_get_u64(f, VU_GET_QUEUE_NUM), 1);
	fe_set_u64(f, VU_SET_FEATURES,
		   (1ull << VIRTIO_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES), true);
}

/* The table: guest RAM [0, 1 MiB) as two regions at front-end addresses hva and hva + 512K,
 * the second one through mmap_offset. */
static void fe_mem_table(struct fe *f)
{
	struct vu_msg m;
	mem_msg(&m, 2);
	uint64_t half = MEM_SIZE / 2;
	m.p.mem.regions[0] = (struct vu_mem_region){0, half, (uint64_t)(uintptr_t)f->m.hva, 0};
	m.p.mem.regions[1] =
	    (struct vu_mem_region){half, half, (uint64_t)(uintptr_t)f->m.hva + half, half};
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	int fds[2] = {f->memfd, f->memfd};
	CHECK_EQ(fe_send(f, &m, fds, 2), 0);
	struct vu_msg r;
	CHECK_EQ(fe_recv(f, &r), 1);
	CHECK_EQ(r.p.u64, 0);
}

TEST(vu_backend_handshake_and_mem_table)
{
	struct fe f;
	fe_init(&f);
	fe_handshake(&f);
	fe_mem_table(&f);
	REQUIRE(vu_backend_connected(f.vb));

	const struct guest_mem *gm = vu_backend_mem(f.vb);
	CHECK_EQ(gm->nr, 2);
	/* What the front-end writes at gpa X, the back-end sees at gm_ptr(X). */
	memcpy(f.m.hva + 0x1234, "front", 5);
	memcpy(f.m.hva + MEM_SIZE / 2 + 0x10, "second", 6);
	uint8_t *p = gm_ptr(gm, 0x1234, 5);
	REQUIRE(p);
	CHECK(memcmp(p, "front", 5) == 0);
	p = gm_ptr(gm, MEM_SIZE / 2 + 0x10, 6);
	REQUIRE(p);
	CHECK(memcmp(p, "second", 6) == 0);
	CHECK(gm_ptr(gm, MEM_SIZE - 2, 4) == NULL);

	uint64_t gpa = 0;
	CHECK_EQ(vu_backend_uaddr_to_gpa(f.vb, (uint64_t)(uintptr_t)f.m.hva + 0x5000, 16, &gpa), 0);
	CHECK_EQ(gpa, 0x5000);
	CHECK_EQ(
	    vu_backend_uaddr_to_gpa(f.vb, (uint64_t)(uintptr_t)f.m.hva + MEM_SIZE / 2 + 8, 8, &gpa),
	    0);
	CHECK_EQ(gpa, MEM_SIZE / 2 + 8);
	/* a range crossing the region boundary is not one region */
	CHECK(vu_backend_uaddr_to_gpa(f.vb, (uint64_t)(uintptr_t)f.m.hva + MEM_SIZE / 2 - 4, 8,
				      &gpa) < 0);
	CHECK(vu_backend_uaddr_to_gpa(f.vb, 0x1000, 8, &gpa) < 0);
	fe_fini(&f);
}

static void fe_ring(struct fe *f, struct vq_driver *d, int kick, int call)
{
	REQUIRE(vqd_init(d, &f->m, RING_GPA, QSIZE) == 0);
	fe_state(f, VU_SET_VRING_NUM, 0, QSIZE);
	fe_state(f, VU_SET_VRING_BASE, 0, 0);
	struct vu_msg m = mk(VU_SET_VRING_ADDR, 40);
	uint64_t base = (uint64_t)(uintptr_t)f->m.hva;
	m.p.addr = (struct vu_vring_addr){
	    0, 0, base + d->desc_gpa, base + d->used_gpa, base + d->avail_gpa, 0};
	CHECK_EQ(fe_send(f, &m, NULL, 0), 0);
	m = mk(VU_SET_VRING_CALL, 8);
	CHECK_EQ(fe_send(f, &m, &call, 1), 0);
	m = mk(VU_SET_VRING_KICK, 8);
	CHECK_EQ(fe_send(f, &m, &kick, 1), 0);
	fe_state(f, VU_SET_VRING_ENABLE, 0, 1);
}

TEST(vu_backend_rng_request_end_to_end)
{
	struct fe f;
	struct vq_driver d;
	fe_init(&f);
	fe_handshake(&f);
	fe_mem_table(&f);
	int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fe_ring(&f, &d, kick, call);
	REQUIRE(vu_backend_connected(f.vb));
	CHECK(f.dev->active);

	uint64_t buf = vqd_alloc(&f.m, 256, 16);
	struct vqd_seg seg = {buf, 256, true};
	REQUIRE(vqd_add(&d, &seg, 1, false) >= 0);
	uint64_t one = 1, v = 0;
	CHECK_EQ(write(kick, &one, 8), 8);
	fe_pump(&f);
	CHECK_EQ(read(call, &v, 8), 8); /* the back-end signalled the call eventfd */
	uint32_t id, len;
	REQUIRE(vqd_get_used(&d, &id, &len));
	CHECK_EQ(len, 256);
	uint8_t zero[256] = {0};
	CHECK(memcmp(vqd_hva(&f.m, buf), zero, 256) != 0);
	CHECK_EQ(vu_backend_queue_requests(f.vb, 0), 1);

	/* A new memory table while the ring runs (memory hotplug): the ring is drained,
	 * switched to the new mappings and keeps working. */
	const struct guest_mem *old_gm = vu_backend_mem(f.vb);
	fe_mem_table(&f);
	CHECK(vu_backend_mem(f.vb) != old_gm);
	REQUIRE(vu_backend_connected(f.vb));
	memset(vqd_hva(&f.m, buf), 0, 256);
	REQUIRE(vqd_add(&d, &seg, 1, false) >= 0);
	CHECK_EQ(write(kick, &one, 8), 8);
	fe_pump(&f);
	REQUIRE(vqd_get_used(&d, &id, &len));
	CHECK_EQ(len, 256);
	CHECK(memcmp(vqd_hva(&f.m, buf), zero, 256) != 0);
	CHECK_EQ(vu_backend_queue_requests(f.vb, 0), 2);

	/* GET_VRING_BASE stops the ring and returns last_avail_idx. */
	struct vu_msg m = mk(VU_GET_VRING_BASE, 8), r;
	CHECK_EQ(fe_send(&f, &m, NULL, 0), 0);
	CHECK_EQ(fe_recv(&f, &r), 1);
	CHECK_EQ(r.hdr.size, 8);
	CHECK_EQ(r.p.state.index, 0);
	CHECK_EQ(r.p.state.num, 2);
	/* a stopped ring does not process new buffers */
	REQUIRE(vqd_add(&d, &seg, 1, false) >= 0);
	CHECK_EQ(write(kick, &one, 8), 8);
	fe_pump(&f);
	CHECK(!vqd_get_used(&d, &id, &len));
	CHECK_EQ(vu_backend_queue_requests(f.vb, 0), 2);
	fe_fini(&f);
	close(kick);
	close(call);
}

TEST(vu_backend_guest_error_signals_err_fd)
{
	/* A descriptor outside guest RAM fails the device (NEEDS_RESET); the back-end keeps
	 * the connection, writes the error eventfd and processes nothing more. */
	struct fe f;
	struct vq_driver d;
	fe_init(&f);
	fe_handshake(&f);
	fe_mem_table(&f);
	int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct vu_msg m = mk(VU_SET_VRING_ERR, 8);
	CHECK_EQ(fe_send(&f, &m, &err, 1), 0);
	fe_ring(&f, &d, kick, call);
	struct vqd_seg seg = {MEM_SIZE + 0x1000, 64, true};
	REQUIRE(vqd_add(&d, &seg, 1, false) >= 0);
	uint64_t one = 1, v = 0;
	CHECK_EQ(write(kick, &one, 8), 8);
	fe_pump(&f);
	CHECK(f.dev->failed);
	CHECK_EQ(read(err, &v, 8), 8);
	CHECK(vu_backend_connected(f.vb));
	uint32_t id, len;
	CHECK(!vqd_get_used(&d, &id, &len));
	/* the front-end still gets answers, and GET_VRING_BASE works */
	CHECK_EQ(fe_get_u64(&f, VU_GET_QUEUE_NUM), 1);
	fe_fini(&f);
	close(kick);
	close(call);
	close(err);
}

/* Send one message that must close the connection; check the back-end did, and that the
 * fds sent with it were not leaked. */
static void expect_closed(struct vu_msg *m, const int *fds, unsigned nfds, bool handshake)
{
	struct fe f;
	fe_init(&f);
	if (handshake) {
		fe_handshake(&f);
		fe_mem_table(&f);
	}
	REQUIRE(vu_backend_connected(f.vb));
	int before = open_fds();
	CHECK_EQ(fe_send(&f, m, fds, nfds), 0);
	CHECK(!vu_backend_connected(f.vb));
	struct vu_msg r;
	CHECK_EQ(fe_recv(&f, &r), 0);	  /* EOF */
	CHECK_EQ(open_fds(), before - 1); /* only the back-end's connection end went away */
	fe_fini(&f);
}

TEST(vu_backend_rejects_malformed)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	struct vu_msg m = mk(VU_SET_VRING_NUM, 8);
	m.p.state = (struct vu_vring_state){1, 16}; /* queue 1 of 1 */
	expect_closed(&m, NULL, 0, false);

	m = mk(VU_SET_VRING_NUM, 8);
	m.p.state = (struct vu_vring_state){0, 16};
	int three[3] = {efd, efd, efd}; /* fds where none belong */
	expect_closed(&m, three, 3, false);

	m = mk(VU_SET_VRING_NUM, 8);
	m.p.state = (struct vu_vring_state){0, 12}; /* not a power of two */
	expect_closed(&m, NULL, 0, false);

	m = mk(VU_SET_VRING_NUM, 8);
	m.p.state = (struct vu_vring_state){0, 65536};
	expect_closed(&m, NULL, 0, false);

	m = mk(VU_SET_FEATURES, 8);
	m.p.u64 = 1ull << 45; /* not offered */
	expect_closed(&m, NULL, 0, false);

	m = mk(VU_SET_PROTOCOL_FEATURES, 8);
	m.p.u64 = 1ull << VU_PROTOCOL_F_INFLIGHT_SHMFD;
	expect_closed(&m, NULL, 0, false);

	m = mk(VU_GET_FEATURES, 4); /* payload where none belongs */
	expect_closed(&m, NULL, 0, false);

	m = mk(42, 0); /* unknown request */
	expect_closed(&m, NULL, 0, false);

	/* ring addresses outside the mapped regions */
	m = mk(VU_SET_VRING_ADDR, 40);
	m.p.addr = (struct vu_vring_addr){0, 0, 0x1000, 0x2000, 0x3000, 0};
	expect_closed(&m, NULL, 0, true);

	/* a region whose fd is smaller than the region: mapping it would SIGBUS later */
	int small = memfd_create("small", MFD_CLOEXEC);
	REQUIRE(ftruncate(small, 4096) == 0);
	mem_msg(&m, 1);
	int one_fd[1] = {small};
	expect_closed(&m, one_fd, 1, false);
	close(small);
	close(efd);
}

TEST(vu_backend_rejects_ring_outside_memory_at_start)
{
	/* The used ring's last bytes fall off the end of guest RAM. */
	struct fe f;
	fe_init(&f);
	fe_handshake(&f);
	fe_mem_table(&f);
	fe_state(&f, VU_SET_VRING_NUM, 0, QSIZE);
	struct vu_msg m = mk(VU_SET_VRING_ADDR, 40);
	uint64_t base = (uint64_t)(uintptr_t)f.m.hva;
	m.p.addr =
	    (struct vu_vring_addr){0, 0, base + 0x1000, base + MEM_SIZE - 8, base + 0x2000, 0};
	CHECK_EQ(fe_send(&f, &m, NULL, 0), 0);
	CHECK(!vu_backend_connected(f.vb));
	fe_fini(&f);
}

TEST(vu_backend_truncated_message)
{
	struct fe f;
	fe_init(&f);
	struct vu_msg m = mk(VU_SET_FEATURES, 8);
	/* header promises 8 bytes, 4 arrive, then the front-end goes away */
	CHECK_EQ(send(f.sock, &m.hdr, VU_HDR_SIZE + 4, 0), (ssize_t)(VU_HDR_SIZE + 4));
	shutdown(f.sock, SHUT_WR);
	fe_pump(&f);
	CHECK(!vu_backend_connected(f.vb));
	fe_fini(&f);
}

TEST(vu_backend_serves_again_after_disconnect)
{
	struct fe f;
	fe_init(&f);
	char path[256];
	snprintf(path, sizeof(path), "%s/vu.sock", test_tmpdir());
	vu_backend_disconnect(f.vb);
	REQUIRE(vu_backend_listen(f.vb, path) == 0);
	for (int round = 0; round < 3; round++) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		REQUIRE(strlen(path) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, path, strlen(path) + 1);
		REQUIRE(connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		fe_pump(&f);
		CHECK(vu_backend_connected(f.vb));
		close(f.sock);
		f.sock = s;
		CHECK(fe_get_u64(&f, VU_GET_QUEUE_NUM) == 1);
		if (round == 1) { /* leave with a malformed message this time */
			struct vu_msg m = mk(VU_SET_OWNER, 8);
			CHECK_EQ(fe_send(&f, &m, NULL, 0), 0);
		} else {
			shutdown(s, SHUT_RDWR);
			fe_pump(&f);
		}
		CHECK(!vu_backend_connected(f.vb));
	}
	fe_fini(&f);
	CHECK(access(path, F_OK) != 0); /* destroy removed the socket */
}

/* A front-end that shrinks its guest memfd under the back-end: the daemon survives the fault
 * (SIGBUS), drops that front-end and serves the next one. */
TEST(vu_backend_survives_a_shrunk_memfd)
{
	struct fe f;
	struct vq_driver d;
	fe_init(&f);
	fe_handshake(&f);
	fe_mem_table(&f);
	int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fe_ring(&f, &d, kick, call);
	REQUIRE(vu_backend_connected(f.vb));
	uint64_t buf = vqd_alloc(&f.m, 256, 16);
	struct vqd_seg seg = {buf, 256, true};
	REQUIRE(vqd_add(&d, &seg, 1, false) >= 0);
	/* The request is published; now the memory goes away under the back-end. */
	REQUIRE(ftruncate(f.memfd, 0) == 0);
	uint64_t one = 1;
	CHECK_EQ(write(kick, &one, 8), 8);
	fe_pump(&f);
	CHECK(!vu_backend_connected(f.vb));
	vqd_fini(&d);
	munmap(f.m.hva, MEM_SIZE);
	close(f.memfd);
	close(f.sock);
	close(kick);
	close(call);

	/* The next front-end gets served. */
	int sv[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	f.sock = sv[0];
	REQUIRE(vu_backend_attach_conn(f.vb, sv[1]) == 0);
	f.memfd = memfd_create("guest2", MFD_CLOEXEC);
	REQUIRE(f.memfd >= 0 && ftruncate(f.memfd, MEM_SIZE) == 0);
	f.m.hva = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f.memfd, 0);
	REQUIRE(f.m.hva != MAP_FAILED);
	f.m.brk = MEM_SIZE / 2;
	gm_init(&f.m.gm);
	REQUIRE(gm_add_region(&f.m.gm, 0, MEM_SIZE, f.m.hva, f.memfd, 0, false) == 0);
	kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fe_handshake(&f);
	fe_mem_table(&f);
	fe_ring(&f, &d, kick, call);
	buf = vqd_alloc(&f.m, 256, 16);
	seg = (struct vqd_seg){buf, 256, true};
	REQUIRE(vqd_add(&d, &seg, 1, false) >= 0);
	CHECK_EQ(write(kick, &one, 8), 8);
	fe_pump(&f);
	uint32_t id, len;
	REQUIRE(vqd_get_used(&d, &id, &len));
	CHECK_EQ(len, 256);
	uint8_t zero[256] = {0};
	CHECK(memcmp(vqd_hva(&f.m, buf), zero, 256) != 0);
	vqd_fini(&d);
	fe_fini(&f);
	close(kick);
	close(call);
}
