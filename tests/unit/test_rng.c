/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng with a rate limit, and the token bucket itself (driven by a fake clock).
 * The rate test only asserts an upper bound that no amount of slowness can break: bytes
 * delivered <= burst + rate * elapsed.
 */
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "harness.h"
#include "vq_driver.h"
#include "base/ev_loop.h"
#include "base/ratelimit.h"
#include "devices/virtio/rng.h"

TEST(tbucket_refills_at_its_rate)
{
	struct tbucket b;
	const uint64_t s = 1000000000ULL;
	tbucket_init(&b, 1000, 500, 10 * s);
	CHECK_EQ(tbucket_take(&b, 800, 10 * s), 500); /* starts full: the burst */
	CHECK_EQ(tbucket_take(&b, 1, 10 * s), 0);
	CHECK_EQ(tbucket_wait_ns(&b, 100, 10 * s), 100000000ULL); /* 100 tokens = 0.1 s */
	CHECK_EQ(tbucket_take(&b, 1000, 10 * s + s / 10), 100);
	/* Sub-token remainders are not lost: 3 x 0.5 ms at 1000/s = 1.5 tokens. */
	uint64_t now = 20 * s, got = 0;
	tbucket_init(&b, 1000, 1000, now);
	tbucket_take(&b, 1000, now);
	for (int i = 0; i < 2000; i++) {
		now += 500000;
		got += tbucket_take(&b, 1000, now);
	}
	CHECK_EQ(got, 1000);
	/* Never above the burst, however long it waited. */
	CHECK_EQ(tbucket_take(&b, 1u << 30, now + 3600 * s), 1000);
	/* rate 0: unlimited. */
	tbucket_init(&b, 0, 0, 0);
	CHECK_EQ(tbucket_take(&b, 123456789, 0), 123456789);
	CHECK_EQ(tbucket_wait_ns(&b, 5, 0), 0);
}

static uint32_t used_total(struct vq_driver *d, unsigned *n)
{
	uint32_t id, len, total = 0;
	while (vqd_get_used(d, &id, &len)) {
		total += len;
		(*n)++;
	}
	return total;
}

TEST(rng_rate_limit_holds_requests_until_tokens)
{
	struct virtio_dev *dev;
	struct ev_loop *loop;
	struct vqd_mem m;
	struct vq_driver d;
	const uint64_t rate = 2000;
	uint64_t t0 = time_now_ns();
	REQUIRE(vrng_create_rate("rng0", rate, &dev) == 0);
	REQUIRE(ev_loop_create(&loop) == 0 && vqd_mem_init(&m, 0, 4 << 20) == 0);
	virtio_dev_attach(dev, &m.gm, loop, NULL, NULL);
	uint8_t st = vqd_negotiate(dev, 1ULL << VIRTIO_F_VERSION_1);
	REQUIRE(vqd_init(&d, &m, 0x1000, 64) == 0 && vqd_attach(&d, dev, 0) == 0);
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(dev);
	uint64_t buf = vqd_alloc(&m, 8 * 4096, 8);
	memset(vqd_hva(&m, buf), 0, 8 * 4096);
	for (int i = 0; i < 8; i++) {
		struct vqd_seg s = {buf + 4096 * (uint64_t)i, 4096, true};
		REQUIRE(vqd_add(&d, &s, 1, false) >= 0);
	}
	virtio_queue_kick(dev, 0);
	unsigned n = 0;
	uint32_t total = used_total(&d, &n);
	CHECK_EQ(n, 1); /* the burst (one second's worth) fills one request partly */
	CHECK_EQ(total, rate);
	/* The rest waits for the refill timer on the loop. */
	for (int i = 0; i < 200 && n < 3; i++) {
		ev_loop_run_once(loop, 20);
		total += used_total(&d, &n);
	}
	uint64_t elapsed = time_now_ns() - t0;
	CHECK(n >= 3);
	CHECK(total <= rate + rate * elapsed / 1000000000ULL + 1);
	CHECK_EQ(vrng_bytes(dev), total);
	CHECK_EQ(vqd_counter(dev, "bytes"), total); /* vm.counters */
	/* Random bytes: the first request's 2000 bytes are not all zero. */
	const uint8_t *p = vqd_hva(&m, buf);
	unsigned zeros = 0;
	for (unsigned i = 0; i < rate; i++)
		zeros += p[i] == 0;
	CHECK(zeros < 100);
	virtio_dev_destroy(dev);
	ev_loop_destroy(loop);
	vqd_mem_fini(&m);
}

/* What a driver with EVENT_IDX does (vring_need_event): kick only when the device asked. */
static bool kick_needed(struct vq_driver *d, uint16_t old)
{
	uint16_t ev = vqd_avail_event(d), nw = d->avail_idx;
	return (uint16_t)(nw - ev - 1) < (uint16_t)(nw - old);
}

TEST(rng_rate_limit_one_request_at_a_time_with_event_idx)
{
	/* Linux's virtio-rng: one 64-byte request outstanding, the next one after the answer,
	 * kicks only when avail_event asks for them. The device must keep asking. */
	struct virtio_dev *dev;
	struct ev_loop *loop;
	struct vqd_mem m;
	struct vq_driver d;
	REQUIRE(vrng_create_rate("rng0", 2000, &dev) == 0);
	REQUIRE(ev_loop_create(&loop) == 0 && vqd_mem_init(&m, 0, 4 << 20) == 0);
	virtio_dev_attach(dev, &m.gm, loop, NULL, NULL);
	uint8_t st =
	    vqd_negotiate(dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX));
	REQUIRE(vqd_init(&d, &m, 0x1000, 64) == 0 && vqd_attach(&d, dev, 0) == 0);
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(dev);
	uint64_t buf = vqd_alloc(&m, 64, 8);
	uint32_t total = 0;
	for (int i = 0; i < 400 && total < 3000; i++) {
		struct vqd_seg s = {buf, 64, true};
		uint16_t old = d.avail_idx;
		REQUIRE(vqd_add(&d, &s, 1, false) >= 0);
		if (kick_needed(&d, old))
			virtio_queue_kick(dev, 0);
		uint32_t id, len = 0;
		int waits = 0;
		while (!vqd_get_used(&d, &id, &len) && waits++ < 100)
			ev_loop_run_once(loop, 20);
		if (waits > 100) {
			test_fail_at(__FILE__, __LINE__, "no answer after %u bytes", total);
			break;
		}
		CHECK(len > 0);
		total += len;
	}
	CHECK(total >= 3000);
	virtio_dev_destroy(dev);
	ev_loop_destroy(loop);
	vqd_mem_fini(&m);
}
