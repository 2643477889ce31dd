/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon through the test-side driver: inflating releases exactly the named pages
 * (they read back as zeros, neighbours keep their bytes), deflate and `actual` accounting,
 * runtime target changes with the config interrupt, the statistics buffer protocol, free page
 * reporting, queue numbering per negotiated features, and malformed input -> NEEDS_RESET.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include "harness.h"
#include "vq_driver.h"
#include "devices/virtio/balloon.h"

#define RAM (64u << 20)
#define QSZ 64
#define PG 4096u

struct tbal {
	struct virtio_dev *dev;
	struct vqd_mem m;
	struct vq_driver q[4];
	unsigned nq;
	unsigned irq_config, irq_queue;
};

static void irq_q(void *o, uint16_t q)
{
	((struct tbal *)o)->irq_queue++;
}
static void irq_c(void *o)
{
	((struct tbal *)o)->irq_config++;
}
static const struct virtio_irq_ops t_irq = {irq_q, irq_c};

static struct tbal *tbal_new(const struct balloon_config *cfg, uint64_t features)
{
	struct tbal *t = calloc(1, sizeof(*t));
	char err[256];
	if (vbal_create(cfg, RAM, "balloon0", &t->dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	if (vqd_mem_init(&t->m, 0, RAM) < 0)
		return NULL;
	virtio_dev_attach(t->dev, &t->m.gm, NULL, &t_irq, t);
	uint8_t st = vqd_negotiate(t->dev, (1ULL << VIRTIO_F_VERSION_1) | features);
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK))
		return NULL;
	t->nq = 2 + !!(features & (1ULL << VIRTIO_BALLOON_F_STATS_VQ)) +
		!!(features & (1ULL << VIRTIO_BALLOON_F_REPORTING));
	for (unsigned i = 0; i < t->nq; i++)
		if (vqd_init(&t->q[i], &t->m, 0x10000 + i * 0x4000, QSZ) < 0 ||
		    vqd_attach(&t->q[i], t->dev, (uint16_t)i) < 0)
			return NULL;
	virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(t->dev);
	return t;
}

static uint8_t *page(struct tbal *t, uint32_t pfn)
{
	return vqd_hva(&t->m, (uint64_t)pfn * PG);
}

/* Send a PFN array on queue q; returns the used length (or -1). */
static int send_pfns(struct tbal *t, unsigned q, const uint32_t *pfns, unsigned n, uint32_t bytes)
{
	uint64_t buf = vqd_alloc(&t->m, 4 * n + 8, 8);
	for (unsigned i = 0; i < n; i++) {
		uint32_t le = htole32(pfns[i]);
		memcpy((uint8_t *)vqd_hva(&t->m, buf) + 4 * i, &le, 4);
	}
	struct vqd_seg s = {buf, bytes ? bytes : 4 * n, false};
	if (vqd_add(&t->q[q], &s, 1, false) < 0)
		return -1;
	virtio_queue_kick(t->dev, (uint16_t)q);
	uint32_t id, len;
	return vqd_get_used(&t->q[q], &id, &len) ? (int)len : -1;
}

static uint32_t cfg32(struct tbal *t, uint32_t off)
{
	uint32_t v = 0;
	virtio_read_config(t->dev, off, &v, 4);
	return le32toh(v);
}

static bool needs_reset(struct tbal *t)
{
	return virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

TEST(balloon_inflate_releases_named_pages)
{
	struct balloon_config cfg = {.enabled = true, .size = 8 << 20};
	struct tbal *t = tbal_new(&cfg, 0);
	REQUIRE(t);
	CHECK_EQ(cfg32(t, offsetof(struct virtio_balloon_config, num_pages)), 2048);
	/* Pages 100..103 and 200 get a pattern; 100, 101, 102 (a run) and 200 are inflated. */
	for (uint32_t p = 100; p <= 103; p++)
		memset(page(t, p), 0xa5, PG);
	memset(page(t, 200), 0x5a, PG);
	uint32_t pfns[] = {100, 101, 102, 200};
	CHECK_EQ(send_pfns(t, 0, pfns, 4, 0), 0);
	for (uint32_t p = 100; p <= 102; p++)
		CHECK_EQ(page(t, p)[0] | page(t, p)[PG - 1], 0);
	CHECK_EQ(page(t, 200)[17], 0);
	CHECK_EQ(page(t, 103)[0], 0xa5); /* the neighbour keeps its bytes */
	CHECK_EQ(page(t, 99)[0], 0);
	struct vbal_info info;
	vbal_get_info(t->dev, &info);
	CHECK_EQ(info.inflated_bytes, 4 * PG);
	CHECK_EQ(info.discard_errors, 0);
	CHECK(t->irq_queue > 0);
	/* Deflate counts; the driver reports `actual`; num_pages is not the driver's to write. */
	uint32_t back[] = {200};
	CHECK_EQ(send_pfns(t, 1, back, 1, 0), 0);
	uint32_t actual = htole32(3), np = htole32(7);
	virtio_write_config(t->dev, offsetof(struct virtio_balloon_config, actual), &actual, 4);
	virtio_write_config(t->dev, offsetof(struct virtio_balloon_config, num_pages), &np, 4);
	vbal_get_info(t->dev, &info);
	CHECK_EQ(info.deflated_bytes, PG);
	CHECK_EQ(info.actual_bytes, 3 * PG);
	CHECK_EQ(info.target_bytes, 8 << 20);
	/* vm.counters says the same */
	CHECK_EQ(vqd_counter(t->dev, "actual_bytes"), 3 * PG);
	CHECK_EQ(vqd_counter(t->dev, "target_bytes"), 8 << 20);
	CHECK_EQ(vqd_counter(t->dev, "inflated_bytes"), 4 * PG);
	CHECK_EQ(vqd_counter(t->dev, "deflated_bytes"), PG);
	CHECK(!needs_reset(t));
	virtio_dev_destroy(t->dev);
}

TEST(balloon_target_changes_raise_config_interrupt)
{
	struct balloon_config cfg = {.enabled = true};
	struct tbal *t = tbal_new(&cfg, 0);
	REQUIRE(t);
	unsigned before = t->irq_config;
	uint32_t gen = virtio_config_generation(t->dev);
	CHECK_EQ(vbal_set_target(t->dev, 32 << 20), 0);
	CHECK_EQ(cfg32(t, 0), 8192);
	CHECK_EQ(t->irq_config, before + 1);
	CHECK(virtio_config_generation(t->dev) != gen);
	CHECK_EQ(vbal_set_target(t->dev, 32 << 20), 0); /* unchanged: no interrupt */
	CHECK_EQ(t->irq_config, before + 1);
	CHECK_EQ(vbal_set_target(t->dev, (uint64_t)RAM + PG), -EINVAL);
	CHECK_EQ(vbal_set_target(t->dev, 0), 0);
	CHECK_EQ(cfg32(t, 0), 0);
	/* Before the driver runs: the target is kept, no interrupt. */
	virtio_reset(t->dev);
	before = t->irq_config;
	CHECK_EQ(vbal_set_target(t->dev, 4 << 20), 0);
	CHECK_EQ(t->irq_config, before);
	CHECK_EQ(cfg32(t, 0), 1024);
	virtio_dev_destroy(t->dev);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	uint16_t t = htole16(tag);
	uint64_t v = htole64(val);
	memcpy(p, &t, 2);
	memcpy(p + 2, &v, 8);
}

TEST(balloon_stats_buffer_is_held_and_returned_on_request)
{
	struct balloon_config cfg = {.enabled = true};
	struct tbal *t = tbal_new(&cfg, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	REQUIRE(t);
	uint64_t buf = vqd_alloc(&t->m, 64, 8);
	uint8_t *p = vqd_hva(&t->m, buf);
	put_stat(p, VIRTIO_BALLOON_S_MEMTOT, 1000);
	put_stat(p + 10, VIRTIO_BALLOON_S_MEMFREE, 600);
	put_stat(p + 20, 200, 5); /* unknown tag: ignored */
	struct vqd_seg s = {buf, 30, false};
	REQUIRE(vqd_add(&t->q[2], &s, 1, false) >= 0);
	virtio_queue_kick(t->dev, 2);
	uint32_t id, len;
	CHECK(!vqd_get_used(&t->q[2], &id, &len)); /* kept by the device */
	struct vbal_info info;
	vbal_get_info(t->dev, &info);
	CHECK(info.stats_valid);
	CHECK_EQ(info.stats[VIRTIO_BALLOON_S_MEMTOT], 1000);
	CHECK_EQ(info.stats[VIRTIO_BALLOON_S_MEMFREE], 600);
	CHECK_EQ(info.stats_present,
		 (1u << VIRTIO_BALLOON_S_MEMTOT) | (1u << VIRTIO_BALLOON_S_MEMFREE));
	/* vm.counters shows them under the UAPI's names; tags not reported are absent */
	CHECK_EQ(vqd_counter(t->dev, "stats_total-memory"), 1000);
	CHECK_EQ(vqd_counter(t->dev, "stats_free-memory"), 600);
	CHECK_EQ(vqd_counter(t->dev, "stats_swap-in"), UINT64_MAX);
	CHECK(vqd_counter(t->dev, "stats_age_ms") != UINT64_MAX);
	vbal_request_stats(t->dev);
	CHECK(vqd_get_used(&t->q[2], &id, &len));
	CHECK_EQ(len, 0);
	vbal_request_stats(t->dev); /* nothing held: nothing returned */
	CHECK(!vqd_get_used(&t->q[2], &id, &len));
	/* The driver answers with fresh values. */
	put_stat(p, VIRTIO_BALLOON_S_MEMTOT, 2000);
	s.len = 10;
	REQUIRE(vqd_add(&t->q[2], &s, 1, false) >= 0);
	virtio_queue_kick(t->dev, 2);
	vbal_get_info(t->dev, &info);
	CHECK_EQ(info.stats[VIRTIO_BALLOON_S_MEMTOT], 2000);
	CHECK_EQ(info.stats_present, 1u << VIRTIO_BALLOON_S_MEMTOT);
	virtio_dev_destroy(t->dev);
}

TEST(balloon_free_page_reporting_releases_ranges)
{
	struct balloon_config cfg = {.enabled = true, .free_page_reporting = true};
	/* Without STATS_VQ the reporting queue is number 2 (the driver numbers what exists). */
	struct tbal *t = tbal_new(&cfg, 1ULL << VIRTIO_BALLOON_F_REPORTING);
	REQUIRE(t);
	uint64_t a = 40ull << 20, b = 44ull << 20;
	memset(vqd_hva(&t->m, a), 0x77, 2 << 20);
	memset(vqd_hva(&t->m, b), 0x66, 2 << 20);
	memset(vqd_hva(&t->m, b + (2 << 20)), 0x55, PG);
	struct vqd_seg s[] = {{a, 2 << 20, true}, {b, 2 << 20, true}};
	REQUIRE(vqd_add(&t->q[2], s, 2, false) >= 0);
	virtio_queue_kick(t->dev, 2);
	uint32_t id, len;
	CHECK(vqd_get_used(&t->q[2], &id, &len));
	CHECK_EQ(len, 0);
	uint8_t *pa = vqd_hva(&t->m, a), *pb = vqd_hva(&t->m, b);
	CHECK_EQ(pa[0] | pa[(2 << 20) - 1] | pb[12345], 0);
	CHECK_EQ(*(uint8_t *)vqd_hva(&t->m, b + (2 << 20)), 0x55);
	struct vbal_info info;
	vbal_get_info(t->dev, &info);
	CHECK_EQ(info.reported_bytes, 4 << 20);
	CHECK(info.free_page_reporting);
	virtio_dev_destroy(t->dev);
}

TEST(balloon_malformed_input_needs_reset_and_recovers)
{
	struct balloon_config cfg = {.enabled = true, .free_page_reporting = true};
	uint64_t f = (1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_REPORTING);
	struct tbal *t = tbal_new(&cfg, f);
	REQUIRE(t);
	uint32_t pfn[] = {5, 6};
	CHECK_EQ(send_pfns(t, 0, pfn, 2, 6), -1); /* 6 bytes: not a PFN array */
	CHECK(needs_reset(t));
	virtio_dev_destroy(t->dev);

	const struct {
		unsigned q;
		int kind;
	} cases[] = {{0, 0}, {1, 0}, {2, 1}, {3, 2}, {3, 3}};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		t = tbal_new(&cfg, f);
		REQUIRE(t);
		memset(page(t, 300), 0x11, PG);
		uint64_t buf = vqd_alloc(&t->m, 64, 8);
		struct vqd_seg s = {buf, 4, false};
		if (cases[i].kind == 0) { /* a frame beyond guest RAM, after a valid one */
			uint32_t bad[] = {300, (RAM / PG) + 1};
			CHECK_EQ(send_pfns(t, cases[i].q, bad, 2, 0), -1);
			CHECK_EQ(page(t, 300)[0], 0x11); /* nothing released before validation */
			CHECK(needs_reset(t));
			virtio_dev_destroy(t->dev);
			continue;
		}
		if (cases[i].kind == 1) { /* statistics of 7 bytes */
			s.len = 7;
		} else if (cases[i].kind == 2) { /* reported range not page-aligned */
			s = (struct vqd_seg){(1 << 20) + 512, PG, true};
		} else { /* reported range whose length is not a page multiple */
			s = (struct vqd_seg){1 << 20, 100, true};
		}
		REQUIRE(vqd_add(&t->q[cases[i].q], &s, 1, false) >= 0);
		virtio_queue_kick(t->dev, (uint16_t)cases[i].q);
		CHECK(needs_reset(t));
		/* The guest resets and starts over: the device works again. */
		virtio_reset(t->dev);
		uint8_t st = vqd_negotiate(t->dev, (1ULL << VIRTIO_F_VERSION_1) | f);
		for (unsigned k = 0; k < t->nq; k++) {
			vqd_fini(&t->q[k]);
			REQUIRE(vqd_init(&t->q[k], &t->m, 0x10000 + k * 0x4000, QSZ) == 0);
			REQUIRE(vqd_attach(&t->q[k], t->dev, (uint16_t)k) == 0);
		}
		virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
		(void)vqd_settle(t->dev);
		CHECK(!needs_reset(t));
		uint32_t good[] = {300};
		CHECK_EQ(send_pfns(t, 0, good, 1, 0), 0);
		CHECK_EQ(page(t, 300)[0], 0);
		virtio_dev_destroy(t->dev);
	}
}

TEST(balloon_create_refuses_size_above_ram)
{
	struct balloon_config cfg = {.enabled = true, .size = (uint64_t)RAM + (1 << 20)};
	struct virtio_dev *dev;
	char err[256] = "";
	CHECK_EQ(vbal_create(&cfg, RAM, "balloon0", &dev, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "more than the guest"));
	/* Features offered follow the options. */
	cfg = (struct balloon_config){.enabled = true, .deflate_on_oom = true};
	REQUIRE(vbal_create(&cfg, RAM, "balloon0", &dev, err, sizeof(err)) == 0);
	uint64_t f = virtio_device_features(dev);
	CHECK(f & (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	CHECK(f & (1ULL << VIRTIO_BALLOON_F_STATS_VQ));
	CHECK(!(f & (1ULL << VIRTIO_BALLOON_F_REPORTING)));
	CHECK(!(f & (1ULL << VIRTIO_BALLOON_F_FREE_PAGE_HINT)));
	CHECK_EQ(dev->nr_queues, 3);
	virtio_dev_destroy(dev);
}

TEST(gm_discard_punches_holes_in_the_memfd)
{
	int fd;
	void *hva;
	const uint64_t size = 16 << 20;
	REQUIRE(gm_alloc_memfd("t", size, &fd, &hva) == 0);
	struct guest_mem gm;
	gm_init(&gm);
	REQUIRE(gm_add_region(&gm, 1 << 20, size, hva, fd, 0, false) == 0);
	memset(hva, 0x42, size);
	struct stat st;
	REQUIRE(fstat(fd, &st) == 0);
	uint64_t before = (uint64_t)st.st_blocks * 512;
	CHECK(before >= size);
	CHECK_EQ(gm_discard(&gm, (1 << 20) + (4 << 20), 8 << 20), 0);
	REQUIRE(fstat(fd, &st) == 0);
	CHECK_EQ(before - (uint64_t)st.st_blocks * 512, 8 << 20); /* the host got 8 MiB back */
	uint8_t *p = hva;
	CHECK_EQ(p[(4 << 20) - 1], 0x42);
	CHECK_EQ(p[4 << 20] | p[(12 << 20) - 1], 0);
	CHECK_EQ(p[12 << 20], 0x42);
	CHECK_EQ(gm_discard(&gm, (1 << 20) + 100, 4096), -EINVAL);
	CHECK_EQ(gm_discard(&gm, 1 << 20, 100), -EINVAL);
	CHECK_EQ(gm_discard(&gm, 0, 4096), -EFAULT);
	CHECK_EQ(gm_discard(&gm, (1 << 20) + size - 4096, 8192), -EFAULT);
	uint64_t gpa = 0;
	CHECK_EQ(gm_hva_to_gpa(&gm, p + 12345, 100, &gpa), 0);
	CHECK_EQ(gpa, (1 << 20) + 12345);
	CHECK_EQ(gm_hva_to_gpa(&gm, p + size - 10, 100, &gpa), -EFAULT);
	CHECK_EQ(gm_hva_to_gpa(&gm, &gpa, 8, &gpa), -EFAULT);
	munmap(hva, size);
	close(fd);
}

TEST(balloon_buffers_made_available_before_driver_ok_are_taken)
{
	/* Linux primes the statistics queue and kicks it before DRIVER_OK. */
	struct balloon_config cfg = {.enabled = true};
	struct virtio_dev *dev;
	struct vqd_mem m;
	struct vq_driver q[3];
	char err[128];
	REQUIRE(vbal_create(&cfg, RAM, "balloon0", &dev, err, sizeof(err)) == 0);
	REQUIRE(vqd_mem_init(&m, 0, RAM) == 0);
	virtio_dev_attach(dev, &m.gm, NULL, NULL, NULL);
	uint8_t st =
	    vqd_negotiate(dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BALLOON_F_STATS_VQ));
	for (unsigned i = 0; i < 3; i++)
		REQUIRE(vqd_init(&q[i], &m, 0x10000 + i * 0x4000, QSZ) == 0 &&
			vqd_attach(&q[i], dev, (uint16_t)i) == 0);
	uint64_t buf = vqd_alloc(&m, 16, 8);
	put_stat(vqd_hva(&m, buf), VIRTIO_BALLOON_S_MEMTOT, 777);
	struct vqd_seg s = {buf, 10, false};
	REQUIRE(vqd_add(&q[2], &s, 1, false) >= 0);
	virtio_queue_kick(dev, 2); /* not live yet: ignored */
	struct vbal_info info;
	vbal_get_info(dev, &info);
	CHECK(!info.stats_valid);
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(dev);
	vbal_get_info(dev, &info);
	CHECK(info.stats_valid);
	CHECK_EQ(info.stats[VIRTIO_BALLOON_S_MEMTOT], 777);
	virtio_dev_destroy(dev);
	vqd_mem_fini(&m);
}
