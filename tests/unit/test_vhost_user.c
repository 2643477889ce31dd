/* SPDX-License-Identifier: MIT */
/*
 * vhost-user back-end: the message validator against crafted malformed messages, and the
 * back-end over a socketpair (the test plays the front-end): handshake, SET_MEM_TABLE mapping
 * and address translation, a virtio-rng request end to end, and malformed messages that must
 * close the connection without crashing or leaking fds.
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
