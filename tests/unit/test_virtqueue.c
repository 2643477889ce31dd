/* SPDX-License-Identifier: MIT */
/* Virtqueue + virtio core against the test-side driver writing rings into fake guest memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "harness.h"
#include "vq_driver.h"
#include "virtio/virtio.h"

#define QSIZE 16
#define RING_GPA 0x1000
#define F_V1 (1ULL << VIRTIO_F_VERSION_1)
#define F_EVIDX (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT (1ULL << VIRTIO_RING_F_INDIRECT_DESC)

struct tdev {
	struct virtio_dev vdev; /* first */
	uint8_t config[24];
	unsigned activations, resets, kicks;
	unsigned waited_resets;
	bool busy; /* reset(dev, false) reports work in flight */
	unsigned irq_queue, irq_config;
	struct vqd_mem m;
	struct vq_driver d;
};

static int t_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct tdev *t = (struct tdev *)dev;
	t->activations++;
	return ctx->nr_queues == 2 ? 0 : -EINVAL;
}
static int t_reset(struct virtio_dev *dev, bool wait)
{
	struct tdev *t = (struct tdev *)dev;
	t->resets++;
	if (wait)
		t->waited_resets++;
	return t->busy && !wait ? -EINPROGRESS : 0;
}
static void t_notify(struct virtio_dev *dev, uint16_t q)
{
	((struct tdev *)dev)->kicks++;
}
static const struct virtio_dev_ops t_ops = {
	.activate = t_activate,
	.reset = t_reset,
	.queue_notify = t_notify,
};
static void irq_q(void *opaque, uint16_t q)
{
	((struct tdev *)opaque)->irq_queue++;
}
static void irq_c(void *opaque)
{
	((struct tdev *)opaque)->irq_config++;
}
static const struct virtio_irq_ops t_irq = {irq_q, irq_c};

static struct tdev *tdev_new(void)
{
	struct tdev *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	for (unsigned i = 0; i < sizeof(t->config); i++)
		t->config[i] = (uint8_t)(0xa0 + i);
	if (virtio_dev_init(&t->vdev, &t_ops, "tst0", 42, 1ULL << 3, 2, QSIZE, t->config,
			    sizeof(t->config)) < 0)
		return NULL;
	if (vqd_mem_init(&t->m, 0, 16 << 20) < 0)
		return NULL;
	virtio_dev_attach(&t->vdev, &t->m.gm, NULL, &t_irq, t);
	if (vqd_init(&t->d, &t->m, RING_GPA, QSIZE) < 0)
		return NULL;
	return t;
}

/* Negotiate, enable queue 0 with the driver's ring, DRIVER_OK. */
static struct tdev *tdev_live(uint64_t features)
{
	struct tdev *t = tdev_new();
	if (!t)
		return NULL;
	uint8_t st = vqd_negotiate(&t->vdev, features);
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK))
		return NULL;
	if (vqd_attach(&t->d, &t->vdev, 0) < 0)
		return NULL;
	virtio_set_status(&t->vdev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	return t;
}

static bool needs_reset(struct tdev *t)
{
	return (virtio_get_status(&t->vdev) & VIRTIO_CONFIG_S_NEEDS_RESET) && t->irq_config == 1 &&
	       !virtio_queue_enabled(&t->vdev, 0);
}

/* Pop expecting a guest error. */
static bool pop_fails(struct tdev *t)
{
	struct iovec iov[QSIZE];
	struct vq_chain ch = {.iov = iov, .cap = QSIZE};
	int r = vq_pop(&t->vdev.queues[0], &ch);
	return r == -EIO && needs_reset(t);
}

TEST(vq_pop_direct_chain_and_cursors)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 4096, 16);
	uint8_t *h = vqd_hva(&t->m, b);
	for (int i = 0; i < 64; i++)
		h[i] = (uint8_t)i;
	struct vqd_seg s[] = {{b, 10, false}, {b + 10, 20, false}, {b + 100, 8, true},
			      {b + 200, 0, true}, {b + 300, 100, true}};
	int head = vqd_add(&t->d, s, 5, false);
	REQUIRE(head >= 0);
	struct iovec iov[8];
	struct vq_chain ch = {.iov = iov, .cap = 8};
	struct virtqueue *vq = &t->vdev.queues[0];
	CHECK_EQ(vq_pop(vq, &ch), 1);
	CHECK_EQ(ch.head, head);
	CHECK_EQ(ch.nr_out, 2);
	CHECK_EQ(ch.nr_in, 2); /* the zero-length segment is dropped */
	CHECK_EQ(ch.out_len, 30);
	CHECK_EQ(ch.in_len, 108);
	struct vq_cursor r, w;
	vq_reader_init(&r, &ch);
	uint8_t buf[32];
	CHECK_EQ(vq_cursor_read(&r, buf, 12), 0); /* crosses a segment */
	CHECK_EQ(buf[11], 11);
	CHECK_EQ(vq_cursor_remaining(&r), 18);
	CHECK_EQ(vq_cursor_read(&r, buf, 19), -EMSGSIZE);
	CHECK_EQ(vq_cursor_skip(&r, 17), 0);
	CHECK_EQ(vq_cursor_read(&r, buf, 1), 0);
	CHECK_EQ(buf[0], 29);
	vq_writer_init(&w, &ch);
	uint64_t v = 0x1122334455667788ULL;
	CHECK_EQ(vq_cursor_skip(&w, 4), 0);
	CHECK_EQ(vq_write_obj(&w, &v), 0); /* straddles the two writable segments */
	CHECK_EQ(h[104], 0x88);
	CHECK_EQ(h[107], 0x55);
	CHECK_EQ(h[300], 0x44);
	struct iovec out[4];
	uint32_t n = 0;
	CHECK_EQ(vq_cursor_iov(&w, 10, out, 0, &n), -E2BIG);
	CHECK_EQ(vq_cursor_iov(&w, 10, out, 4, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(vq_cursor_remaining(&w), 86);
	CHECK_EQ(vq_pop(vq, &ch), 0); /* empty */
	vq_push(vq, (uint16_t)head, 12);
	uint32_t id, len;
	CHECK(vqd_get_used(&t->d, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 12);
	virtio_notify_queue(&t->vdev, 0);
	CHECK_EQ(t->irq_queue, 1);
	CHECK_EQ(virtio_isr_read(&t->vdev), 1);
	CHECK_EQ(virtio_isr_read(&t->vdev), 0);
}

TEST(vq_cursor_fd_roundtrip)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 8192, 16);
	uint8_t *h = vqd_hva(&t->m, b);
	for (int i = 0; i < 3000; i++)
		h[i] = (uint8_t)(i * 7);
	struct vqd_seg s[] = {{b, 1000, false}, {b + 1000, 2000, false}, {b + 4096, 1500, true},
			      {b + 6000, 1500, true}};
	REQUIRE(vqd_add(&t->d, s, 4, false) >= 0);
	struct iovec iov[8];
	struct vq_chain ch = {.iov = iov, .cap = 8};
	REQUIRE(vq_pop(&t->vdev.queues[0], &ch) == 1);
	char path[256];
	snprintf(path, sizeof(path), "%s/fd", test_tmpdir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	struct vq_cursor r, w;
	vq_reader_init(&r, &ch);
	CHECK_EQ(vq_reader_to_fd(&r, fd, 512, 3000), 3000);
	vq_writer_init(&w, &ch);
	CHECK_EQ(vq_writer_from_fd(&w, fd, 512, 3000), 3000);
	CHECK(memcmp(h, h + 4096, 1500) == 0);
	CHECK(memcmp(h + 1500, h + 6000, 1500) == 0);
	close(fd);
}

TEST(vq_indirect_chain)
{
	struct tdev *t = tdev_live(F_V1 | F_INDIRECT);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 4096, 16);
	struct vqd_seg s[] = {{b, 16, false}, {b + 16, 512, true}, {b + 600, 1, true}};
	int head = vqd_add(&t->d, s, 3, true);
	REQUIRE(head >= 0);
	struct iovec iov[8];
	struct vq_chain ch = {.iov = iov, .cap = 8};
	CHECK_EQ(vq_pop(&t->vdev.queues[0], &ch), 1);
	CHECK_EQ(ch.nr_out, 1);
	CHECK_EQ(ch.nr_in, 2);
	CHECK_EQ(ch.in_len, 513);
	CHECK_EQ(t->irq_config, 0);
}

TEST(vq_indirect_not_negotiated)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 4096, 16);
	struct vqd_seg s[] = {{b, 16, false}};
	REQUIRE(vqd_add(&t->d, s, 1, true) >= 0);
	CHECK(pop_fails(t));
}

/* ---- geometry ---- */

static void geometry_case(uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	REQUIRE(vqd_negotiate(&t->vdev, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(virtio_queue_set_size(&t->vdev, 0, size), 0);
	CHECK_EQ(virtio_queue_set_addr(&t->vdev, 0, VIRTIO_RING_DESC, desc), 0);
	CHECK_EQ(virtio_queue_set_addr(&t->vdev, 0, VIRTIO_RING_AVAIL, avail), 0);
	CHECK_EQ(virtio_queue_set_addr(&t->vdev, 0, VIRTIO_RING_USED, used), 0);
	CHECK_EQ(virtio_queue_enable(&t->vdev, 0), -EINVAL);
	CHECK(needs_reset(t));
	/* Recovery: reset, then a good ring works. */
	virtio_reset(&t->vdev);
	CHECK_EQ(virtio_get_status(&t->vdev), 0);
	REQUIRE(vqd_negotiate(&t->vdev, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(vqd_attach(&t->d, &t->vdev, 0), 0);
	CHECK(virtio_queue_enabled(&t->vdev, 0));
}

TEST(vq_geometry_size_not_pow2)
{
	geometry_case(12, 0x1000, 0x2000, 0x3000);
}
TEST(vq_geometry_size_zero)
{
	geometry_case(0, 0x1000, 0x2000, 0x3000);
}
TEST(vq_geometry_size_above_max)
{
	geometry_case(QSIZE * 2, 0x1000, 0x2000, 0x3000);
}
TEST(vq_geometry_desc_misaligned)
{
	geometry_case(QSIZE, 0x1008, 0x2000, 0x3000);
}
TEST(vq_geometry_avail_misaligned)
{
	geometry_case(QSIZE, 0x1000, 0x2001, 0x3000);
}
TEST(vq_geometry_used_misaligned)
{
	geometry_case(QSIZE, 0x1000, 0x2000, 0x3002);
}
TEST(vq_geometry_desc_outside_ram)
{
	geometry_case(QSIZE, (16 << 20) - 128, 0x2000, 0x3000);
}
TEST(vq_geometry_used_outside_ram)
{
	geometry_case(QSIZE, 0x1000, 0x2000, 0xfffffffffffff000ULL);
}

TEST(vq_geometry_used_in_readonly_region)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	REQUIRE(vqd_mem_add_region(&t->m, 1ULL << 32, 1 << 16, true, NULL) == 0);
	REQUIRE(vqd_negotiate(&t->vdev, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(virtio_queue_set_addr(&t->vdev, 0, VIRTIO_RING_DESC, 0x1000), 0);
	CHECK_EQ(virtio_queue_set_addr(&t->vdev, 0, VIRTIO_RING_AVAIL, 0x2000), 0);
	CHECK_EQ(virtio_queue_set_addr(&t->vdev, 0, VIRTIO_RING_USED, 1ULL << 32), 0);
	CHECK_EQ(virtio_queue_enable(&t->vdev, 0), -EINVAL);
	CHECK(needs_reset(t));
}

TEST(vq_setters_refused_while_ready)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	CHECK_EQ(virtio_queue_set_size(&t->vdev, 0, 8), -EBUSY);
	CHECK_EQ(virtio_queue_set_addr(&t->vdev, 0, VIRTIO_RING_DESC, 0), -EBUSY);
	CHECK_EQ(virtio_queue_set_size(&t->vdev, 7, 8), -EINVAL);
	CHECK_EQ(virtio_queue_get_size(&t->vdev, 0), QSIZE);
	CHECK_EQ(virtio_queue_max(&t->vdev, 1), QSIZE);
}

/* ---- malformed chains ---- */

TEST(vq_avail_idx_jump)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	vqd_set_avail_idx(&t->d, QSIZE + 1);
	CHECK(pop_fails(t));
	CHECK_EQ(t->kicks, 0);
	/* Kicks after the failure reach nothing. */
	virtio_queue_kick(&t->vdev, 0);
	CHECK_EQ(t->kicks, 0);
}

TEST(vq_head_out_of_range)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	vqd_publish(&t->d, QSIZE);
	CHECK(pop_fails(t));
}

TEST(vq_chain_loop_ttl)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	vqd_write_desc(&t->d, 0, b, 8, VRING_DESC_F_NEXT, 1);
	vqd_write_desc(&t->d, 1, b, 8, VRING_DESC_F_NEXT, 0);
	vqd_publish(&t->d, 0);
	CHECK(pop_fails(t));
}

TEST(vq_chain_self_loop_zero_len)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	vqd_write_desc(&t->d, 3, 0, 0, VRING_DESC_F_NEXT, 3);
	vqd_publish(&t->d, 3);
	CHECK(pop_fails(t));
}

TEST(vq_chain_next_out_of_range)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	vqd_write_desc(&t->d, 0, b, 8, VRING_DESC_F_NEXT, QSIZE);
	vqd_publish(&t->d, 0);
	CHECK(pop_fails(t));
}

TEST(vq_indirect_loop_ttl)
{
	struct tdev *t = tdev_live(F_V1 | F_INDIRECT);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	uint64_t tbl = vqd_alloc(&t->m, 32, 16);
	vqd_write_table_desc(&t->d, tbl, 0, b, 8, VRING_DESC_F_NEXT, 1);
	vqd_write_table_desc(&t->d, tbl, 1, b, 8, VRING_DESC_F_NEXT, 0);
	vqd_write_desc(&t->d, 0, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	vqd_publish(&t->d, 0);
	CHECK(pop_fails(t));
}

TEST(vq_indirect_nested)
{
	struct tdev *t = tdev_live(F_V1 | F_INDIRECT);
	REQUIRE(t);
	uint64_t tbl = vqd_alloc(&t->m, 32, 16);
	uint64_t tbl2 = vqd_alloc(&t->m, 32, 16);
	vqd_write_table_desc(&t->d, tbl, 0, tbl2, 32, VRING_DESC_F_INDIRECT, 0);
	vqd_write_desc(&t->d, 0, tbl, 16, VRING_DESC_F_INDIRECT, 0);
	vqd_publish(&t->d, 0);
	CHECK(pop_fails(t));
}

TEST(vq_indirect_len_not_multiple_of_16)
{
	struct tdev *t = tdev_live(F_V1 | F_INDIRECT);
	REQUIRE(t);
	uint64_t tbl = vqd_alloc(&t->m, 64, 16);
	vqd_write_desc(&t->d, 0, tbl, 24, VRING_DESC_F_INDIRECT, 0);
	vqd_publish(&t->d, 0);
	CHECK(pop_fails(t));
}

TEST(vq_indirect_len_zero)
{
	struct tdev *t = tdev_live(F_V1 | F_INDIRECT);
	REQUIRE(t);
	vqd_write_desc(&t->d, 0, 0x100000, 0, VRING_DESC_F_INDIRECT, 0);
	vqd_publish(&t->d, 0);
	CHECK(pop_fails(t));
}

TEST(vq_indirect_with_next)
{
	struct tdev *t = tdev_live(F_V1 | F_INDIRECT);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	uint64_t tbl = vqd_alloc(&t->m, 16, 16);
	vqd_write_table_desc(&t->d, tbl, 0, b, 8, 0, 0);
	vqd_write_desc(&t->d, 0, tbl, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	vqd_write_desc(&t->d, 1, b, 8, 0, 0);
	vqd_publish(&t->d, 0);
	CHECK(pop_fails(t));
}

TEST(vq_indirect_table_outside_ram)
{
	struct tdev *t = tdev_live(F_V1 | F_INDIRECT);
	REQUIRE(t);
	vqd_write_desc(&t->d, 0, (16 << 20) - 16, 32, VRING_DESC_F_INDIRECT, 0);
	vqd_publish(&t->d, 0);
	CHECK(pop_fails(t));
}

TEST(vq_writable_then_readable)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	struct vqd_seg s[] = {{b, 8, true}, {b + 8, 8, false}};
	REQUIRE(vqd_add(&t->d, s, 2, false) >= 0);
	CHECK(pop_fails(t));
}

TEST(vq_writable_then_readable_indirect)
{
	struct tdev *t = tdev_live(F_V1 | F_INDIRECT);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	struct vqd_seg s[] = {{b, 8, false}, {b + 8, 8, true}, {b + 16, 8, false}};
	REQUIRE(vqd_add(&t->d, s, 3, true) >= 0);
	CHECK(pop_fails(t));
}

TEST(vq_segment_outside_ram)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	struct vqd_seg s[] = {{0x40000000, 8, false}};
	REQUIRE(vqd_add(&t->d, s, 1, false) >= 0);
	CHECK(pop_fails(t));
}

TEST(vq_segment_straddles_end)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	struct vqd_seg s[] = {{(16 << 20) - 8, 16, true}};
	REQUIRE(vqd_add(&t->d, s, 1, false) >= 0);
	CHECK(pop_fails(t));
}

TEST(vq_segment_address_wraps)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	struct vqd_seg s[] = {{0xfffffffffffffff0ULL, 0x20, false}};
	REQUIRE(vqd_add(&t->d, s, 1, false) >= 0);
	CHECK(pop_fails(t));
}

TEST(vq_writable_segment_in_readonly_region)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	REQUIRE(vqd_mem_add_region(&t->m, 1ULL << 32, 1 << 16, true, NULL) == 0);
	/* Reading from ROM is fine ... */
	struct vqd_seg ok[] = {{1ULL << 32, 64, false}};
	REQUIRE(vqd_add(&t->d, ok, 1, false) >= 0);
	struct iovec iov[4];
	struct vq_chain ch = {.iov = iov, .cap = 4};
	CHECK_EQ(vq_pop(&t->vdev.queues[0], &ch), 1);
	/* ... writing into it is not. */
	struct vqd_seg bad[] = {{1ULL << 32, 64, true}};
	REQUIRE(vqd_add(&t->d, bad, 1, false) >= 0);
	CHECK(pop_fails(t));
}

TEST(vq_total_length_overflow)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	/* A 3 GiB region that is never touched (gm_ptr only does arithmetic). */
	uint64_t big = 3ULL << 30;
	void *p = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	REQUIRE(p != MAP_FAILED);
	REQUIRE(gm_add_region(&t->m.gm, 1ULL << 33, big, p, -1, 0, false) == 0);
	struct vqd_seg s[] = {{1ULL << 33, 0xc0000000u, false}, {1ULL << 33, 0xc0000000u, true}};
	REQUIRE(vqd_add(&t->d, s, 2, false) >= 0);
	CHECK(pop_fails(t));
}

TEST(vq_too_many_segments_for_cap)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	struct vqd_seg s[6];
	for (int i = 0; i < 6; i++)
		s[i] = (struct vqd_seg){b + 8u * (unsigned)i, 8, false};
	REQUIRE(vqd_add(&t->d, s, 6, false) >= 0);
	struct iovec iov[4];
	struct vq_chain ch = {.iov = iov, .cap = 4};
	CHECK_EQ(vq_pop(&t->vdev.queues[0], &ch), -EIO);
	CHECK(needs_reset(t));
}

TEST(vq_fail_is_reported_once_and_reset_recovers)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	vqd_publish(&t->d, QSIZE + 3);
	CHECK(pop_fails(t));
	virtio_dev_fail(&t->vdev, "second error");
	CHECK_EQ(t->irq_config, 1);
	CHECK_EQ(virtio_isr_read(&t->vdev), 2);
	virtio_set_status(&t->vdev, 0);
	CHECK_EQ(t->resets, 1);
	CHECK_EQ(virtio_get_status(&t->vdev), 0);
	CHECK(!virtio_queue_enabled(&t->vdev, 0));
	/* A fresh driver session works again. */
	vqd_fini(&t->d);
	REQUIRE(vqd_init(&t->d, &t->m, RING_GPA, QSIZE) == 0);
	uint8_t st = vqd_negotiate(&t->vdev, F_V1);
	REQUIRE(st & VIRTIO_CONFIG_S_FEATURES_OK);
	REQUIRE(vqd_attach(&t->d, &t->vdev, 0) == 0);
	virtio_set_status(&t->vdev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	CHECK_EQ(t->activations, 2);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	struct vqd_seg s[] = {{b, 8, false}};
	REQUIRE(vqd_add(&t->d, s, 1, false) >= 0);
	virtio_queue_kick(&t->vdev, 0);
	CHECK_EQ(t->kicks, 1);
}

/* ---- notification suppression ---- */

TEST(vq_event_idx_suppression)
{
	struct tdev *t = tdev_live(F_V1 | F_EVIDX);
	REQUIRE(t);
	struct virtqueue *vq = &t->vdev.queues[0];
	CHECK(vq->event_idx);
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	struct vqd_seg s[] = {{b, 8, true}};
	struct iovec iov[4];
	struct vq_chain ch = {.iov = iov, .cap = 4};
	for (int i = 0; i < 4; i++)
		REQUIRE(vqd_add(&t->d, s, 1, false) >= 0);
	for (int i = 0; i < 4; i++)
		REQUIRE(vq_pop(vq, &ch) == 1);
	/* The device asks to be kicked for the next new buffer. */
	CHECK_EQ(vqd_avail_event(&t->d), 4);
	/* Driver: interrupt me only once used idx passes 2 (used_event = 2). */
	vqd_set_used_event(&t->d, 2);
	vq_push(vq, 0, 0); /* used idx 1 */
	CHECK(vq_should_notify(vq)); /* first ever: always */
	vq_push(vq, 1, 0); /* used idx 2: event 2 not yet crossed (needs new > 2) */
	CHECK(!vq_should_notify(vq));
	vq_push(vq, 2, 0); /* used idx 3 crosses used_event 2 */
	CHECK(vq_should_notify(vq));
	CHECK(!vq_should_notify(vq)); /* nothing new */
	vq_push(vq, 3, 0);
	CHECK(!vq_should_notify(vq)); /* used_event still 2 */
	/* Notification enable/disable toggles avail_event updates. */
	vq_set_notification(vq, false);
	REQUIRE(vqd_add(&t->d, s, 1, false) >= 0);
	REQUIRE(vq_pop(vq, &ch) == 1);
	CHECK_EQ(vqd_avail_event(&t->d), 4);
	vq_set_notification(vq, true);
	CHECK_EQ(vqd_avail_event(&t->d), 5);
	CHECK(!vq_has_avail(vq));
}

TEST(vq_no_interrupt_flag_and_no_notify)
{
	struct tdev *t = tdev_live(F_V1);
	REQUIRE(t);
	struct virtqueue *vq = &t->vdev.queues[0];
	vqd_set_avail_flags(&t->d, VRING_AVAIL_F_NO_INTERRUPT);
	vq_push(vq, 0, 0);
	virtio_notify_queue(&t->vdev, 0);
	CHECK_EQ(t->irq_queue, 0);
	vqd_set_avail_flags(&t->d, 0);
	vq_push(vq, 1, 0);
	virtio_notify_queue(&t->vdev, 0);
	CHECK_EQ(t->irq_queue, 1);
	vq_set_notification(vq, false);
	CHECK_EQ(vqd_used_flags(&t->d), VRING_USED_F_NO_NOTIFY);
	vq_set_notification(vq, true);
	CHECK_EQ(vqd_used_flags(&t->d), 0);
}

/* ---- status machine, features, config ---- */

TEST(virtio_rejects_driver_without_version_1)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	uint8_t st = vqd_negotiate(&t->vdev, 1ULL << 3);
	CHECK(!(st & VIRTIO_CONFIG_S_FEATURES_OK));
	/* DRIVER_OK anyway: refused, device needs reset, not activated. */
	virtio_set_status(&t->vdev, (uint8_t)(st | VIRTIO_CONFIG_S_FEATURES_OK |
					      VIRTIO_CONFIG_S_DRIVER_OK));
	CHECK_EQ(t->activations, 0);
	CHECK(virtio_get_status(&t->vdev) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

TEST(virtio_rejects_unoffered_features)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	CHECK(!(vqd_negotiate(&t->vdev, F_V1 | (1ULL << 5)) & VIRTIO_CONFIG_S_FEATURES_OK));
	virtio_reset(&t->vdev);
	CHECK(vqd_negotiate(&t->vdev, F_V1 | (1ULL << 3)) & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK(virtio_has_feature(&t->vdev, 3));
	/* Feature writes after FEATURES_OK are ignored. */
	virtio_set_driver_features(&t->vdev, 0, 0);
	CHECK_EQ(virtio_get_driver_features(&t->vdev, 0), 1u << 3);
	CHECK_EQ(virtio_get_device_features(&t->vdev, 1),
		 (uint32_t)((F_V1 | F_EVIDX | F_INDIRECT) >> 32));
	CHECK_EQ(virtio_get_device_features(&t->vdev, 0) & 0xff, 1u << 3);
	CHECK_EQ(virtio_get_device_features(&t->vdev, 2), 0);
}

TEST(virtio_status_bits_and_reset_from_any_state)
{
	uint8_t steps[] = {VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER,
			   VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_DRIVER_OK};
	for (unsigned stop = 0; stop <= ARRAY_SIZE(steps); stop++) {
		struct tdev *t = tdev_new();
		REQUIRE(t);
		virtio_set_driver_features(&t->vdev, 1, 1);
		uint8_t st = 0;
		for (unsigned i = 0; i < stop; i++) {
			st = (uint8_t)(st | steps[i]);
			virtio_set_status(&t->vdev, st);
		}
		if (stop == ARRAY_SIZE(steps))
			CHECK_EQ(t->activations, 1);
		/* Bits cannot be cleared without a reset. */
		virtio_set_status(&t->vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
		CHECK_EQ(virtio_get_status(&t->vdev) | VIRTIO_CONFIG_S_ACKNOWLEDGE,
			 st | VIRTIO_CONFIG_S_ACKNOWLEDGE);
		virtio_set_status(&t->vdev, 0);
		CHECK_EQ(virtio_get_status(&t->vdev), 0);
		CHECK_EQ(t->resets, stop == ARRAY_SIZE(steps) ? 1 : 0);
		CHECK_EQ(virtio_get_driver_features(&t->vdev, 1), 0);
	}
}

TEST(virtio_driver_cannot_set_needs_reset)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	virtio_set_status(&t->vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(virtio_get_status(&t->vdev), VIRTIO_CONFIG_S_ACKNOWLEDGE);
}

TEST(virtio_kick_before_driver_ok_ignored)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	REQUIRE(vqd_negotiate(&t->vdev, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
	REQUIRE(vqd_attach(&t->d, &t->vdev, 0) == 0);
	virtio_queue_kick(&t->vdev, 0);
	virtio_queue_kick(&t->vdev, 1);
	virtio_queue_kick(&t->vdev, 500);
	CHECK_EQ(t->kicks, 0);
}

TEST(virtio_config_clamped)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	uint8_t b[8];
	virtio_read_config(&t->vdev, 20, b, 8);
	CHECK_EQ(b[0], 0xa0 + 20);
	CHECK_EQ(b[3], 0xa0 + 23);
	CHECK_EQ(b[4], 0);
	virtio_read_config(&t->vdev, 0xffffffffu, b, 8);
	CHECK_EQ(b[0], 0);
	virtio_write_config(&t->vdev, 0xfffffffcu, b, 8); /* ignored, no crash */
	uint32_t g = virtio_config_generation(&t->vdev);
	virtio_notify_config(&t->vdev);
	CHECK_EQ(virtio_config_generation(&t->vdev), g + 1);
	CHECK_EQ(t->irq_config, 1);
}

TEST(virtio_activation_failure_needs_reset)
{
	struct tdev *t = calloc(1, sizeof(*t));
	REQUIRE(t);
	/* One queue only: t_activate refuses. */
	REQUIRE(virtio_dev_init(&t->vdev, &t_ops, "tst1", 42, 0, 1, QSIZE, NULL, 0) == 0);
	virtio_dev_attach(&t->vdev, NULL, NULL, &t_irq, t);
	uint8_t st = vqd_negotiate(&t->vdev, F_V1);
	virtio_set_status(&t->vdev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	CHECK(virtio_get_status(&t->vdev) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(t->irq_config, 1);
}

TEST(virtio_vhost_style_lifecycle)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	CHECK_EQ(virtio_set_features(&t->vdev, 1ULL << 3), -EINVAL);
	CHECK_EQ(virtio_set_features(&t->vdev, F_V1 | F_EVIDX), 0);
	CHECK_EQ(virtio_queue_set_last_avail(&t->vdev, 0, 7), 0);
	CHECK_EQ(vqd_attach(&t->d, &t->vdev, 0), 0);
	CHECK_EQ(virtio_queue_set_last_avail(&t->vdev, 0, 7), -EBUSY);
	CHECK_EQ(virtio_dev_activate(&t->vdev), 0);
	CHECK_EQ(t->activations, 1);
	CHECK(t->vdev.queues[0].event_idx);
	vqd_set_avail_idx(&t->d, 9);
	virtio_queue_kick(&t->vdev, 0);
	CHECK_EQ(t->kicks, 1);
	struct iovec iov[4];
	struct vq_chain ch = {.iov = iov, .cap = 4};
	uint64_t b = vqd_alloc(&t->m, 64, 16);
	vqd_write_desc(&t->d, 0, b, 8, 0, 0);
	vqd_write_desc(&t->d, 1, b, 8, 0, 0);
	gm_store16((uint8_t *)vqd_hva(&t->m, t->d.avail_gpa) + 4 + 2 * 7, 0);
	gm_store16((uint8_t *)vqd_hva(&t->m, t->d.avail_gpa) + 4 + 2 * 8, 1);
	CHECK_EQ(vq_pop(&t->vdev.queues[0], &ch), 1);
	CHECK_EQ(virtio_queue_stop(&t->vdev, 0), 8);
	CHECK(!virtio_queue_enabled(&t->vdev, 0));
	CHECK_EQ(virtio_queue_get_last_avail(&t->vdev, 0), 8);
	/* A new memory table that no longer holds the rings fails the device. */
	CHECK_EQ(virtio_queue_enable(&t->vdev, 0), 0);
	struct guest_mem empty;
	gm_init(&empty);
	CHECK_EQ(virtio_dev_set_mem(&t->vdev, &empty), -EINVAL);
	CHECK(virtio_get_status(&t->vdev) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* With a loop, status writes only record what the driver asked: activation and the reset of a
 * live device run on the loop thread; a busy device finishes its reset later, and
 * device_status keeps its old value until then. */
TEST(virtio_status_writes_are_finished_on_the_loop)
{
	struct tdev *t = tdev_new();
	REQUIRE(t);
	struct ev_loop *loop;
	REQUIRE(ev_loop_create(&loop) == 0);
	virtio_dev_attach(&t->vdev, &t->m.gm, loop, &t_irq, t);
	uint8_t st = vqd_negotiate(&t->vdev, F_V1);
	REQUIRE(st & VIRTIO_CONFIG_S_FEATURES_OK);
	REQUIRE(vqd_attach(&t->d, &t->vdev, 0) == 0);
	virtio_set_status(&t->vdev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	uint8_t live = virtio_get_status(&t->vdev);
	CHECK_EQ(live, st | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(t->activations, 0); /* not on this (vCPU) thread */
	/* A kick before the loop has activated the device is delivered right after. */
	virtio_queue_kick(&t->vdev, 0);
	virtio_queue_kick(&t->vdev, 1); /* queue 1 is not enabled: dropped */
	CHECK_EQ(t->kicks, 0);
	CHECK(ev_loop_run_once(loop, 1000) > 0);
	CHECK_EQ(t->activations, 1);
	CHECK_EQ(t->kicks, 1);
	CHECK(t->vdev.active);
	virtio_queue_kick(&t->vdev, 0);
	CHECK_EQ(t->kicks, 2);

	/* Reset of a busy device: in progress until the device says it is done. */
	t->busy = true;
	virtio_set_status(&t->vdev, 0);
	CHECK_EQ(t->resets, 0);
	CHECK_EQ(virtio_get_status(&t->vdev), live);
	CHECK(!virtio_queue_enabled(&t->vdev, 0)); /* stopped at once */
	virtio_queue_kick(&t->vdev, 0);
	CHECK_EQ(t->kicks, 2);
	CHECK(ev_loop_run_once(loop, 1000) > 0);
	CHECK_EQ(t->resets, 1);
	CHECK_EQ(t->waited_resets, 0);
	CHECK_EQ(virtio_get_status(&t->vdev), live);
	/* Whatever the driver writes meanwhile is ignored. */
	virtio_set_status(&t->vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	virtio_set_driver_features(&t->vdev, 0, 1u << 3);
	CHECK(virtio_queue_set_size(&t->vdev, 0, 8) < 0);
	CHECK(virtio_queue_enable(&t->vdev, 0) < 0);
	CHECK_EQ(virtio_get_status(&t->vdev), live);
	virtio_dev_reset_done(&t->vdev);
	CHECK_EQ(virtio_get_status(&t->vdev), 0);
	CHECK_EQ(virtio_get_driver_features(&t->vdev, 0), 0);
	CHECK(!t->vdev.active);

	/* A reset before the loop ran the activation: at once, and no activation follows. */
	t->busy = false;
	st = vqd_negotiate(&t->vdev, F_V1);
	REQUIRE(vqd_attach(&t->d, &t->vdev, 0) == 0);
	virtio_set_status(&t->vdev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	virtio_queue_kick(&t->vdev, 0);
	virtio_set_status(&t->vdev, 0);
	CHECK_EQ(virtio_get_status(&t->vdev), 0);
	while (ev_loop_run_once(loop, 0) > 0) {
	}
	CHECK_EQ(t->activations, 1);
	CHECK_EQ(t->kicks, 2);

	/* Teardown completes a reset in progress, waiting for the device. */
	st = vqd_negotiate(&t->vdev, F_V1);
	REQUIRE(vqd_attach(&t->d, &t->vdev, 0) == 0);
	virtio_set_status(&t->vdev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	CHECK(ev_loop_run_once(loop, 1000) > 0);
	CHECK_EQ(t->activations, 2);
	t->busy = true;
	virtio_set_status(&t->vdev, 0);
	CHECK(ev_loop_run_once(loop, 1000) > 0);
	CHECK_EQ(virtio_get_status(&t->vdev), live);
	virtio_reset(&t->vdev);
	CHECK_EQ(t->waited_resets, 1);
	CHECK_EQ(virtio_get_status(&t->vdev), 0);
	virtio_dev_destroy(&t->vdev);
	ev_loop_destroy(loop);
}
