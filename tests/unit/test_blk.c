/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk request handling against a temp file, through the test-side driver. Every
 * behaviour test runs twice: on the event loop with io_uring (async) and with the synchronous
 * preadv/pwritev fallback (sync). An async test never quietly runs the fallback: where io_uring
 * is unavailable it is skipped with the reason, and a device that does not use io_uring
 * although the host has it fails it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <stddef.h>
#include <linux/virtio_pci.h>
#include "harness.h"
#include "pci_fake.h"
#include "pci/virtio_pci.h"
#include "vq_driver.h"
#include "backends/disk.h"
#include "base/ev_loop.h"
#include "devices/virtio/blk.h"

#define DISK_SIZE (4u << 20)
#define QSZ 64

struct tblk {
	struct virtio_dev *dev;
	struct ev_loop *loop;
	struct vqd_mem m;
	struct vq_driver d;
	char path[256];
	unsigned irq_queue, irq_config;
	uint64_t buf; /* 1 MiB scratch in guest memory */
};

static void irq_q(void *opaque, uint16_t q)
{
	((struct tblk *)opaque)->irq_queue++;
}
static void irq_c(void *opaque)
{
	((struct tblk *)opaque)->irq_config++;
}
static const struct virtio_irq_ops t_irq = {irq_q, irq_c};

static int make_image_in(const char *dir, char *path, size_t len, uint64_t size)
{
	snprintf(path, len, "%s/disk-%d.img", dir, getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	/* A recognisable pattern: byte i = (i / 512) ^ (i & 0xff). */
	uint8_t *b = malloc(size);
	for (uint64_t i = 0; i < size; i++)
		b[i] = (uint8_t)((i / 512) ^ (i & 0xff));
	ssize_t w = pwrite(fd, b, size, 0);
	free(b);
	close(fd);
	return w == (ssize_t)size ? 0 : -EIO;
}

static int make_image(char *path, size_t len, uint64_t size)
{
	return make_image_in(test_tmpdir(), path, len, size);
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)((i / 512) ^ (i & 0xff));
}

/* Whether this host gives us an io_uring (probed the way the disk layer sets one up). */
static bool host_has_io_uring(void)
{
#ifdef HAVE_LIBURING
	char path[256], err[256];
	struct disk *d;
	struct ev_loop *loop;
	struct disk_queue *q;
	bool r = false;
	if (make_image(path, sizeof(path), 4096) < 0 ||
	    disk_open(path, false, false, &d, err, sizeof(err)) < 0)
		return false;
	if (ev_loop_create(&loop) == 0) {
		if (disk_queue_create(d, loop, 4, false, NULL, NULL, &q) == 0) {
			r = disk_queue_is_async(q);
			disk_queue_destroy(q);
		}
		ev_loop_destroy(loop);
	}
	disk_close(d);
	unlink(path);
	return r;
#else
	return false;
#endif
}

/* An async test must really run on io_uring. */
static void require_io_uring(struct virtio_dev *dev)
{
	if (vblk_uses_io_uring(dev))
		return;
#ifndef HAVE_LIBURING
	test_skip("built without liburing: no async I/O to test");
#else
	if (!host_has_io_uring())
		test_skip("io_uring is not available here (io_uring_setup fails): the async "
			  "path cannot be tested");
	test_fail_at(__FILE__, __LINE__, "the device does not use io_uring although the host has it");
	_exit(1);
#endif
}

static struct tblk *tblk_new_in(const char *dir, bool sync, bool readonly, uint64_t size,
				uint64_t extra_features, bool direct)
{
	struct tblk *t = calloc(1, sizeof(*t));
	char err[256];
	if (!t || make_image_in(dir, t->path, sizeof(t->path), size) < 0)
		return NULL;
	struct disk_config cfg = {.path = t->path, .readonly = readonly, .queues = 1,
				  .queue_size = QSZ, .direct = direct};
	snprintf(cfg.serial, sizeof(cfg.serial), "VIREO-SERIAL-1");
	if (vblk_create(&cfg, "blk0", &t->dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	vblk_force_sync(t->dev, sync);
	if (!sync && ev_loop_create(&t->loop) < 0)
		return NULL;
	if (vqd_mem_init(&t->m, 0, 32 << 20) < 0)
		return NULL;
	virtio_dev_attach(t->dev, &t->m.gm, t->loop, &t_irq, t);
	if (vqd_init(&t->d, &t->m, 0x10000, QSZ) < 0)
		return NULL;
	uint8_t st = vqd_negotiate(t->dev, (1ULL << VIRTIO_F_VERSION_1) |
						   (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | extra_features);
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK))
		return NULL;
	if (vqd_attach(&t->d, t->dev, 0) < 0)
		return NULL;
	virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	if (!(vqd_settle(t->dev) & VIRTIO_CONFIG_S_DRIVER_OK) || !t->dev->active)
		return NULL;
	if (!sync)
		require_io_uring(t->dev);
	t->buf = vqd_alloc(&t->m, 1 << 20, 4096);
	return t;
}

static struct tblk *tblk_new_ex(bool sync, bool readonly, uint64_t size, uint64_t extra_features,
				bool direct)
{
	return tblk_new_in(test_tmpdir(), sync, readonly, size, extra_features, direct);
}

static struct tblk *tblk_new(bool sync, bool readonly, uint64_t size, uint64_t extra_features)
{
	return tblk_new_ex(sync, readonly, size, extra_features, false);
}

/* Wait (running the loop) for one used element. */
static bool wait_used(struct tblk *t, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < 2000; i++) {
		if (vqd_get_used(&t->d, id, len))
			return true;
		if (!t->loop)
			return false;
		ev_loop_run_once(t->loop, 5);
	}
	return false;
}

struct io_desc {
	uint32_t type;
	uint64_t sector;
	const void *out; /* payload after the header */
	uint32_t out_len;
	uint32_t in_len; /* data bytes before the status byte */
	bool indirect;
};

/* Send one request; returns the status byte (or -1 when nothing came back) and copies in
 * data to `in`. used_len gets the used length. */
static int blk_do(struct tblk *t, const struct io_desc *io, void *in, uint32_t *used_len)
{
	uint64_t hdr = t->buf, out = hdr + 16, inb = out + ALIGN_UP(io->out_len, 512) + 512;
	uint64_t st = inb + ALIGN_UP(io->in_len, 16) + 16;
	struct virtio_blk_outhdr h = {.type = io->type, .ioprio = 0, .sector = io->sector};
	memcpy(vqd_hva(&t->m, hdr), &h, sizeof(h));
	if (io->out_len)
		memcpy(vqd_hva(&t->m, out), io->out, io->out_len);
	*(uint8_t *)vqd_hva(&t->m, st) = 0xee;
	struct vqd_seg s[4];
	unsigned n = 0;
	s[n++] = (struct vqd_seg){hdr, 16, false};
	if (io->out_len)
		s[n++] = (struct vqd_seg){out, io->out_len, false};
	if (io->in_len)
		s[n++] = (struct vqd_seg){inb, io->in_len, true};
	s[n++] = (struct vqd_seg){st, 1, true};
	int head = vqd_add(&t->d, s, n, io->indirect);
	if (head < 0)
		return -1;
	virtio_queue_kick(t->dev, 0);
	uint32_t id, len;
	if (!wait_used(t, &id, &len) || id != (uint32_t)head)
		return -1;
	if (used_len)
		*used_len = len;
	if (in && io->in_len)
		memcpy(in, vqd_hva(&t->m, inb), io->in_len);
	return *(uint8_t *)vqd_hva(&t->m, st);
}

#define BOTH(name)                                                                                 \
	static void name(bool sync);                                                               \
	TEST(name##_async)                                                                         \
	{                                                                                          \
		name(false);                                                                       \
	}                                                                                          \
	TEST(name##_sync)                                                                          \
	{                                                                                          \
		name(true);                                                                        \
	}                                                                                          \
	static void name(bool sync)

BOTH(blk_read_write_roundtrip)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE, 0);
	REQUIRE(t);
	uint8_t in[8192];
	uint32_t ul = 0;
	struct io_desc rd = {VIRTIO_BLK_T_IN, 3, NULL, 0, 4096, false};
	CHECK_EQ(blk_do(t, &rd, in, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 4097);
	CHECK_EQ(in[0], pattern(3 * 512));
	CHECK_EQ(in[4095], pattern(3 * 512 + 4095));
	uint8_t data[8192];
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	struct io_desc wr = {VIRTIO_BLK_T_OUT, 100, data, 8192, 0, false};
	CHECK_EQ(blk_do(t, &wr, NULL, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 1);
	struct io_desc rd2 = {VIRTIO_BLK_T_IN, 100, NULL, 0, 8192, true};
	memset(in, 0, sizeof(in));
	CHECK_EQ(blk_do(t, &rd2, in, NULL), VIRTIO_BLK_S_OK);
	CHECK(memcmp(in, data, sizeof(data)) == 0);
	/* And it really is in the file. */
	int fd = open(t->path, O_RDONLY);
	uint8_t f[8192];
	CHECK_EQ(pread(fd, f, sizeof(f), 100 * 512), (ssize_t)sizeof(f));
	CHECK(memcmp(f, data, sizeof(data)) == 0);
	close(fd);
	CHECK(t->irq_queue >= 1);
	CHECK_EQ(t->irq_config, 0);
	/* The last sector is readable, one past it is not. */
	struct io_desc last = {VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1, NULL, 0, 512, false};
	CHECK_EQ(blk_do(t, &last, in, NULL), VIRTIO_BLK_S_OK);
}

BOTH(blk_out_of_range_ioerr)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE, 0);
	REQUIRE(t);
	uint8_t in[1024];
	struct io_desc a = {VIRTIO_BLK_T_IN, DISK_SIZE / 512, NULL, 0, 512, false};
	CHECK_EQ(blk_do(t, &a, in, NULL), VIRTIO_BLK_S_IOERR);
	struct io_desc b = {VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1, NULL, 0, 1024, false};
	CHECK_EQ(blk_do(t, &b, in, NULL), VIRTIO_BLK_S_IOERR);
	struct io_desc c = {VIRTIO_BLK_T_OUT, ~0ULL, in, 512, 0, false};
	CHECK_EQ(blk_do(t, &c, NULL, NULL), VIRTIO_BLK_S_IOERR);
	/* Data not a multiple of 512. */
	struct io_desc d = {VIRTIO_BLK_T_IN, 0, NULL, 0, 100, false};
	CHECK_EQ(blk_do(t, &d, in, NULL), VIRTIO_BLK_S_IOERR);
	struct io_desc e = {VIRTIO_BLK_T_OUT, 0, in, 700, 0, false};
	CHECK_EQ(blk_do(t, &e, NULL, NULL), VIRTIO_BLK_S_IOERR);
	/* The device keeps working. */
	CHECK_EQ(t->irq_config, 0);
	struct io_desc ok = {VIRTIO_BLK_T_IN, 0, NULL, 0, 512, false};
	CHECK_EQ(blk_do(t, &ok, in, NULL), VIRTIO_BLK_S_OK);
}

BOTH(blk_tail_not_exposed)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE + 100, 0);
	REQUIRE(t);
	uint64_t cap = 0;
	virtio_read_config(t->dev, 0, &cap, 8);
	CHECK_EQ(cap, DISK_SIZE / 512);
	uint8_t in[512];
	struct io_desc a = {VIRTIO_BLK_T_IN, DISK_SIZE / 512, NULL, 0, 512, false};
	CHECK_EQ(blk_do(t, &a, in, NULL), VIRTIO_BLK_S_IOERR);
}

BOTH(blk_readonly_enforced)
{
	struct tblk *t = tblk_new(sync, true, DISK_SIZE, 0);
	REQUIRE(t);
	CHECK(virtio_get_device_features(t->dev, 0) & (1u << VIRTIO_BLK_F_RO));
	CHECK(!(virtio_get_device_features(t->dev, 0) & (1u << VIRTIO_BLK_F_DISCARD)));
	uint8_t data[512] = {1, 2, 3};
	struct io_desc wr = {VIRTIO_BLK_T_OUT, 0, data, 512, 0, false};
	CHECK_EQ(blk_do(t, &wr, NULL, NULL), VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes seg = {.sector = 0, .num_sectors = 8, .flags = 0};
	struct io_desc wz = {VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), 0, false};
	CHECK_EQ(blk_do(t, &wz, NULL, NULL), VIRTIO_BLK_S_IOERR);
	int fd = open(t->path, O_RDONLY);
	uint8_t f[4];
	CHECK_EQ(pread(fd, f, 4, 0), 4);
	CHECK_EQ(f[1], pattern(1));
	close(fd);
	/* Reads and flush still work. */
	struct io_desc rd = {VIRTIO_BLK_T_IN, 0, NULL, 0, 512, false};
	CHECK_EQ(blk_do(t, &rd, data, NULL), VIRTIO_BLK_S_OK);
	struct io_desc fl = {VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, false};
	CHECK_EQ(blk_do(t, &fl, NULL, NULL), VIRTIO_BLK_S_OK);
}

BOTH(blk_flush_get_id_unsupported)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE, 0);
	REQUIRE(t);
	struct io_desc fl = {VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, false};
	CHECK_EQ(blk_do(t, &fl, NULL, NULL), VIRTIO_BLK_S_OK);
	char id[20];
	uint32_t ul = 0;
	struct io_desc gi = {VIRTIO_BLK_T_GET_ID, 0, NULL, 0, 20, false};
	CHECK_EQ(blk_do(t, &gi, id, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 21);
	CHECK(memcmp(id, "VIREO-SERIAL-1\0\0\0\0\0\0", 20) == 0);
	struct io_desc gl = {10 /* GET_LIFETIME */, 0, NULL, 0, 16, false};
	CHECK_EQ(blk_do(t, &gl, NULL, NULL), VIRTIO_BLK_S_UNSUPP);
	struct io_desc junk = {0x12345, 0, NULL, 0, 0, false};
	CHECK_EQ(blk_do(t, &junk, NULL, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t->irq_config, 0);
}

static bool range_is_zero(const char *path, uint64_t off, size_t len)
{
	uint8_t *b = malloc(len);
	int fd = open(path, O_RDONLY);
	bool z = pread(fd, b, len, (off_t)off) == (ssize_t)len;
	for (size_t i = 0; z && i < len; i++)
		z = b[i] == 0;
	close(fd);
	free(b);
	return z;
}

static uint64_t file_blocks(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks : 0;
}

BOTH(blk_discard_punches_hole)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE, 0);
	REQUIRE(t);
	CHECK(virtio_get_device_features(t->dev, 0) & (1u << VIRTIO_BLK_F_DISCARD));
	uint64_t before = file_blocks(t->path);
	struct virtio_blk_discard_write_zeroes seg[2] = {
		{.sector = 2048, .num_sectors = 2048, .flags = 0},
		{.sector = 6000, .num_sectors = 8, .flags = 0},
	};
	struct io_desc dc = {VIRTIO_BLK_T_DISCARD, 0, seg, sizeof(seg), 0, false};
	CHECK_EQ(blk_do(t, &dc, NULL, NULL), VIRTIO_BLK_S_OK);
	CHECK(range_is_zero(t->path, 2048 * 512, 2048 * 512));
	CHECK(file_blocks(t->path) < before);
	CHECK(!range_is_zero(t->path, 4096 * 512, 512));
	/* The unmap flag on discard, unknown flags, bad payload sizes. */
	seg[0].flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	struct io_desc d1 = {VIRTIO_BLK_T_DISCARD, 0, seg, 16, 0, false};
	CHECK_EQ(blk_do(t, &d1, NULL, NULL), VIRTIO_BLK_S_UNSUPP);
	seg[0].flags = 0x80;
	CHECK_EQ(blk_do(t, &d1, NULL, NULL), VIRTIO_BLK_S_UNSUPP);
	seg[0].flags = 0;
	struct io_desc d2 = {VIRTIO_BLK_T_DISCARD, 0, seg, 12, 0, false};
	CHECK_EQ(blk_do(t, &d2, NULL, NULL), VIRTIO_BLK_S_IOERR);
	seg[0].sector = DISK_SIZE / 512 - 4;
	CHECK_EQ(blk_do(t, &d1, NULL, NULL), VIRTIO_BLK_S_IOERR);
}

BOTH(blk_write_zeroes)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE, 0);
	REQUIRE(t);
	struct virtio_blk_discard_write_zeroes seg = {.sector = 10, .num_sectors = 3, .flags = 0};
	struct io_desc wz = {VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), 0, false};
	CHECK_EQ(blk_do(t, &wz, NULL, NULL), VIRTIO_BLK_S_OK);
	CHECK(range_is_zero(t->path, 10 * 512, 3 * 512));
	CHECK(!range_is_zero(t->path, 13 * 512, 512));
	CHECK(!range_is_zero(t->path, 9 * 512 + 500, 12));
	seg = (struct virtio_blk_discard_write_zeroes){
		.sector = 4096, .num_sectors = 1024, .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP};
	CHECK_EQ(blk_do(t, &wz, NULL, NULL), VIRTIO_BLK_S_OK);
	CHECK(range_is_zero(t->path, 4096 * 512, 1024 * 512));
	uint8_t in[512];
	struct io_desc rd = {VIRTIO_BLK_T_IN, 4096, NULL, 0, 512, false};
	CHECK_EQ(blk_do(t, &rd, in, NULL), VIRTIO_BLK_S_OK);
	CHECK(in[0] == 0 && in[511] == 0);
}

/* Framing errors the device cannot answer: NEEDS_RESET, the VMM goes on. */
static void framing_case(bool sync, unsigned which)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE, 0);
	REQUIRE(t);
	uint64_t b = t->buf;
	struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = 0};
	memcpy(vqd_hva(&t->m, b), &h, sizeof(h));
	struct vqd_seg s[3];
	unsigned n = 0;
	switch (which) {
	case 0: /* header too short */
		s[n++] = (struct vqd_seg){b, 8, false};
		s[n++] = (struct vqd_seg){b + 512, 1, true};
		break;
	case 1: /* no status byte (no writable part) */
		s[n++] = (struct vqd_seg){b, 16, false};
		break;
	case 2: /* only writable buffers */
		s[n++] = (struct vqd_seg){b, 513, true};
		break;
	}
	REQUIRE(vqd_add(&t->d, s, n, false) >= 0);
	virtio_queue_kick(t->dev, 0);
	CHECK(virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(t->irq_config, 1);
	CHECK(!virtio_queue_enabled(t->dev, 0));
	/* Reset and start over: the device serves again. */
	virtio_set_status(t->dev, 0);
	CHECK_EQ(vqd_settle(t->dev), 0);
	vqd_fini(&t->d);
	REQUIRE(vqd_init(&t->d, &t->m, 0x10000, QSZ) == 0);
	uint8_t st = vqd_negotiate(t->dev, 1ULL << VIRTIO_F_VERSION_1);
	REQUIRE(vqd_attach(&t->d, t->dev, 0) == 0);
	virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	uint8_t in[512];
	struct io_desc rd = {VIRTIO_BLK_T_IN, 1, NULL, 0, 512, false};
	CHECK_EQ(blk_do(t, &rd, in, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(in[5], pattern(512 + 5));
}

BOTH(blk_header_too_short)
{
	framing_case(sync, 0);
}
BOTH(blk_status_missing)
{
	framing_case(sync, 1);
}
BOTH(blk_no_readable_header)
{
	framing_case(sync, 2);
}

/* Short data buffer: read of 512 with status but the data segment is 100 bytes -> IOERR. */
BOTH(blk_short_data_buffer_ioerr)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE, 0);
	REQUIRE(t);
	uint8_t in[512];
	struct io_desc rd = {VIRTIO_BLK_T_IN, 0, NULL, 0, 100, false};
	CHECK_EQ(blk_do(t, &rd, in, NULL), VIRTIO_BLK_S_IOERR);
	/* GET_ID with a short buffer writes what fits. */
	struct io_desc gi = {VIRTIO_BLK_T_GET_ID, 0, NULL, 0, 5, false};
	uint32_t ul = 0;
	CHECK_EQ(blk_do(t, &gi, in, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 6);
	CHECK(memcmp(in, "VIREO", 5) == 0);
}

/* Many requests in flight at once; reset with I/O outstanding drains it. */
BOTH(blk_queue_depth_and_reset)
{
	struct tblk *t = tblk_new(sync, false, DISK_SIZE,
				  (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
	REQUIRE(t);
	int heads[32];
	for (int i = 0; i < 32; i++) {
		uint64_t base = t->buf + (uint64_t)i * 8192;
		struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = (uint64_t)i * 8};
		memcpy(vqd_hva(&t->m, base), &h, sizeof(h));
		struct vqd_seg s[] = {{base, 16, false}, {base + 4096, 4096, true},
				      {base + 16, 1, true}};
		heads[i] = vqd_add(&t->d, s, 3, i % 2);
		REQUIRE(heads[i] >= 0);
	}
	virtio_queue_kick(t->dev, 0);
	unsigned got = 0;
	uint32_t id, len;
	while (got < 32 && wait_used(t, &id, &len)) {
		CHECK_EQ(len, 4097);
		got++;
	}
	CHECK_EQ(got, 32);
	for (int i = 0; i < 32; i++) {
		uint64_t base = t->buf + (uint64_t)i * 8192;
		CHECK_EQ(*(uint8_t *)vqd_hva(&t->m, base + 16), VIRTIO_BLK_S_OK);
		CHECK_EQ(*(uint8_t *)vqd_hva(&t->m, base + 4096 + 7), pattern((uint64_t)i * 4096 + 7));
	}
	/* Submit more, reset before running the loop: nothing is left in flight afterwards. */
	for (int i = 0; i < 8; i++) {
		uint64_t base = t->buf + (uint64_t)i * 8192;
		struct vqd_seg s[] = {{base, 16, false}, {base + 4096, 4096, true},
				      {base + 16, 1, true}};
		REQUIRE(vqd_add(&t->d, s, 3, false) >= 0);
	}
	virtio_queue_kick(t->dev, 0);
	virtio_set_status(t->dev, 0);
	CHECK_EQ(vqd_settle(t->dev), 0);
	virtio_dev_destroy(t->dev);
}

TEST(blk_config_space)
{
	struct tblk *t = tblk_new(true, false, DISK_SIZE, 0);
	REQUIRE(t);
	struct virtio_blk_config c;
	virtio_read_config(t->dev, 0, &c, sizeof(c));
	CHECK_EQ(c.capacity, DISK_SIZE / 512);
	CHECK_EQ(c.blk_size, 512);
	CHECK(c.seg_max >= 1);
	CHECK_EQ(c.num_queues, 1);
	CHECK(c.max_discard_sectors > 0);
	CHECK(c.max_discard_seg > 0);
	CHECK(c.max_write_zeroes_sectors > 0);
	uint32_t f = virtio_get_device_features(t->dev, 0);
	CHECK(f & (1u << VIRTIO_BLK_F_FLUSH));
	CHECK(f & (1u << VIRTIO_BLK_F_WRITE_ZEROES));
	CHECK(!(f & (1u << VIRTIO_BLK_F_MQ)));
	CHECK(!(f & (1u << VIRTIO_BLK_F_RO)));
}

TEST(blk_multiqueue)
{
	char path[256], err[256];
	REQUIRE(make_image(path, sizeof(path), DISK_SIZE) == 0);
	struct disk_config cfg = {.path = path, .queues = 4, .queue_size = 16};
	struct virtio_dev *dev;
	REQUIRE(vblk_create(&cfg, "blk1", &dev, err, sizeof(err)) == 0);
	CHECK(virtio_get_device_features(dev, 0) & (1u << VIRTIO_BLK_F_MQ));
	uint16_t nq = 0;
	virtio_read_config(dev, offsetof(struct virtio_blk_config, num_queues), &nq, 2);
	CHECK_EQ(nq, 4);
	CHECK_EQ(dev->nr_queues, 4);
	CHECK_EQ(virtio_queue_max(dev, 3), 16);
	virtio_dev_destroy(dev);
}

TEST(blk_io_uring_available)
{
	char path[256], err[256];
	REQUIRE(make_image(path, sizeof(path), DISK_SIZE) == 0);
	struct disk *d;
	struct ev_loop *loop;
	REQUIRE(disk_open(path, false, false, &d, err, sizeof(err)) == 0);
	REQUIRE(ev_loop_create(&loop) == 0);
	struct disk_queue *q;
	REQUIRE(disk_queue_create(d, loop, 8, false, NULL, NULL, &q) == 0);
#ifdef HAVE_LIBURING
	if (!disk_queue_is_async(q))
		test_skip("io_uring unavailable here: the *_async blk tests are skipped");
	CHECK(disk_queue_is_async(q));
#else
	test_skip("built without liburing");
#endif
	disk_queue_destroy(q);
	disk_close(d);
}

TEST(disk_lock_second_writer_fails)
{
	char path[256], err[256];
	REQUIRE(make_image(path, sizeof(path), DISK_SIZE) == 0);
	struct disk *d;
	REQUIRE(disk_open(path, false, false, &d, err, sizeof(err)) == 0);
	int pfd[2];
	REQUIRE(pipe(pfd) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct disk *d2;
		char e2[256] = "";
		int r1 = disk_open(path, false, false, &d2, e2, sizeof(e2));
		ssize_t w = write(pfd[1], e2, strlen(e2) + 1);
		(void)w;
		char e3[256] = "";
		int r2 = disk_open(path, true, false, &d2, e3, sizeof(e3)); /* ro vs rw: also busy */
		_exit(r1 == -EBUSY && r2 == -EBUSY ? 0 : 1);
	}
	char msg[256] = "";
	ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
	CHECK(n > 0);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char want[512];
	snprintf(want, sizeof(want), "disk %s: already in use by another process", path);
	CHECK_STR(msg, want);
	disk_close(d);
	/* Released on close: a new writer gets it. */
	REQUIRE(disk_open(path, false, false, &d, err, sizeof(err)) == 0);
	disk_close(d);
}

TEST(disk_lock_two_readers_ok)
{
	char path[256], err[256];
	REQUIRE(make_image(path, sizeof(path), DISK_SIZE) == 0);
	struct disk *d;
	REQUIRE(disk_open(path, true, false, &d, err, sizeof(err)) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct disk *d2;
		char e2[256];
		_exit(disk_open(path, true, false, &d2, e2, sizeof(e2)) == 0 ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	disk_close(d);
}

TEST(disk_open_errors)
{
	char err[256];
	struct disk *d;
	CHECK_EQ(disk_open("/nonexistent/x.img", false, false, &d, err, sizeof(err)), -ENOENT);
	CHECK_STR(err, "disk /nonexistent/x.img: No such file or directory");
	CHECK_EQ(disk_open("/dev/null", false, false, &d, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "disk /dev/null: not a regular file or block device");
}

/* The real device behind the real virtio-pci transport (fake KVM), driven through MMIO. */
TEST(blk_over_virtio_pci)
{
#define VCC(f) offsetof(struct virtio_pci_common_cfg, f)
	struct pci_env e;
	struct vqd_mem m;
	struct vq_driver d;
	struct ev_loop *loop;
	struct virtio_dev *dev;
	struct vpci_dev *v;
	char path[256], err[256];
	REQUIRE(make_image(path, sizeof(path), DISK_SIZE) == 0);
	REQUIRE(pci_env_init(&e) == 0 && vqd_mem_init(&m, 0, 16 << 20) == 0);
	REQUIRE(ev_loop_create(&loop) == 0);
	struct disk_config cfg = {.path = path, .queues = 2, .queue_size = 64};
	REQUIRE(vblk_create(&cfg, "blk0", &dev, err, sizeof(err)) == 0);
	REQUIRE(virtio_pci_create(e.pci, dev, &m.gm, loop, 4, &v) == 0);
	struct pci_dev *pd = virtio_pci_pci_dev(v);
	cfg1_wr(&e, 4, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	uint64_t bar = pci_dev_bar_mapped(pd, VPCI_BAR);
	REQUIRE(bar != PCI_BAR_UNMAPPED);
	CHECK_EQ(cfg1_rd(&e, 4, PCI_DEVICE_ID, 2), 0x1040 + 2);
	uint64_t c = bar + VPCI_COMMON_OFF;
	mmio_wr(&e, c + VCC(device_status), 1, 0);
	mmio_wr(&e, c + VCC(device_status), 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_wr(&e, c + VCC(device_feature_select), 4, 0);
	uint32_t f0 = (uint32_t)mmio_rd(&e, c + VCC(device_feature), 4);
	CHECK(f0 & (1u << VIRTIO_BLK_F_MQ));
	mmio_wr(&e, c + VCC(guest_feature_select), 4, 0);
	mmio_wr(&e, c + VCC(guest_feature), 4, f0 & ((1u << VIRTIO_BLK_F_FLUSH) | (1u << VIRTIO_BLK_F_MQ)));
	mmio_wr(&e, c + VCC(guest_feature_select), 4, 1);
	mmio_wr(&e, c + VCC(guest_feature), 4, 1); /* VERSION_1 */
	mmio_wr(&e, c + VCC(device_status), 1,
		VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK(mmio_rd(&e, c + VCC(device_status), 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(mmio_rd(&e, c + VCC(num_queues), 2), 2);
	/* Device config through BAR4: capacity and num_queues. */
	CHECK_EQ(mmio_rd(&e, bar + VPCI_DEVICE_OFF, 4), DISK_SIZE / 512);
	CHECK_EQ(mmio_rd(&e, bar + VPCI_DEVICE_OFF + offsetof(struct virtio_blk_config, num_queues), 2), 2);
	REQUIRE(vqd_init(&d, &m, 0x10000, 64) == 0);
	mmio_wr(&e, c + VCC(queue_select), 2, 1); /* use queue 1 */
	mmio_wr(&e, c + VCC(queue_size), 2, 64);
	mmio_wr(&e, c + VCC(queue_desc_lo), 4, (uint32_t)d.desc_gpa);
	mmio_wr(&e, c + VCC(queue_avail_lo), 4, (uint32_t)d.avail_gpa);
	mmio_wr(&e, c + VCC(queue_used_lo), 4, (uint32_t)d.used_gpa);
	mmio_wr(&e, c + VCC(queue_enable), 2, 1);
	mmio_wr(&e, c + VCC(device_status), 1,
		VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
			VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(mmio_rd(&e, c + VCC(device_status), 1) & VIRTIO_CONFIG_S_DRIVER_OK);
	uint32_t noff = (uint32_t)mmio_rd(&e, c + VCC(queue_notify_off), 2);
	uint64_t b = vqd_alloc(&m, 8192, 4096);
	struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = 7};
	memcpy(vqd_hva(&m, b), &h, sizeof(h));
	struct vqd_seg sg[] = {{b, 16, false}, {b + 4096, 1024, true}, {b + 16, 1, true}};
	int head = vqd_add(&d, sg, 3, false);
	REQUIRE(head >= 0);
	mmio_wr(&e, bar + VPCI_NOTIFY_OFF + noff * VPCI_NOTIFY_MULT, 2, 1);
	uint32_t id = 0, len = 0;
	bool got = false;
	for (int i = 0; i < 200 && !got; i++) {
		ev_loop_run_once(loop, 10);
		got = vqd_get_used(&d, &id, &len);
	}
	CHECK(got);
	CHECK_EQ(id, head);
	CHECK_EQ(len, 1025);
	CHECK_EQ(*(uint8_t *)vqd_hva(&m, b + 16), VIRTIO_BLK_S_OK);
	CHECK_EQ(*(uint8_t *)vqd_hva(&m, b + 4096 + 3), pattern(7 * 512 + 3));
	/* INTx path (no MSI-X enabled): the ISR says "queue". */
	CHECK_EQ(mmio_rd(&e, bar + VPCI_ISR_OFF, 1) & 1, 1);
	virtio_pci_destroy(v);
	ev_loop_destroy(loop);
	pci_env_fini(&e);
#undef VCC
}

/* A hostile driver republishes one head far more often than the pool holds requests: the
 * device stops popping when its pool is empty and resumes as completions come back. */
BOTH(blk_republished_head_backpressure)
{
	/* O_DIRECT keeps requests in flight (page-cache hits would complete inline). */
	struct tblk *t = tblk_new_ex(sync, false, DISK_SIZE, 0, true);
	REQUIRE(t);
	uint64_t b = t->buf;
	struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = 0};
	memcpy(vqd_hva(&t->m, b), &h, sizeof(h));
	vqd_write_desc(&t->d, 0, b, 16, VRING_DESC_F_NEXT, 1);
	vqd_write_desc(&t->d, 1, b + 4096, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	vqd_write_desc(&t->d, 2, b + 16, 1, VRING_DESC_F_WRITE, 0);
	unsigned total = 0, got = 0;
	for (int round = 0; round < 4; round++) {
		/* Two full rings back to back: the second kick finds the pool empty (async). */
		for (int twice = 0; twice < 2; twice++) {
			for (unsigned i = 0; i < QSZ; i++)
				vqd_publish(&t->d, 0);
			total += QSZ;
			virtio_queue_kick(t->dev, 0);
		}
		uint8_t *u = vqd_hva(&t->m, t->d.used_gpa);
		for (int k = 0; k < 4000 && got < total; k++) {
			uint16_t idx = gm_load16(u + 2);
			if ((uint16_t)(idx - t->d.last_used) == 0 && t->loop)
				ev_loop_run_once(t->loop, 5);
			while (t->d.last_used != gm_load16(u + 2)) {
				CHECK_EQ(gm_load32(u + 4 + 8u * (t->d.last_used & (QSZ - 1))), 0);
				t->d.last_used++;
				got++;
			}
		}
	}
	CHECK_EQ(got, total);
	CHECK_EQ(t->irq_config, 0);
	CHECK_EQ(*(uint8_t *)vqd_hva(&t->m, b + 16), VIRTIO_BLK_S_OK);
}

/* A driver reset of a live device must not wait for in-flight I/O on the thread that writes
 * the register (a vCPU): the write returns at once, device_status keeps reading the old value
 * while the loop finishes the requests, then reads 0 (VirtIO 1.2, 2.4: the driver polls
 * device_status after writing 0). */
TEST(blk_reset_finishes_on_the_loop_async)
{
	struct tblk *t = tblk_new_ex(false, false, DISK_SIZE, 0, true);
	REQUIRE(t);
	uint8_t in[512];
	struct io_desc rd = {VIRTIO_BLK_T_IN, 1, NULL, 0, 512, false};
	REQUIRE(blk_do(t, &rd, in, NULL) == VIRTIO_BLK_S_OK); /* the device is live */
	uint8_t live = virtio_get_status(t->dev);
	CHECK(live & VIRTIO_CONFIG_S_DRIVER_OK);
	for (int i = 0; i < 16; i++) {
		uint64_t base = t->buf + (uint64_t)i * 8192;
		struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = (uint64_t)i * 8};
		memcpy(vqd_hva(&t->m, base), &h, sizeof(h));
		struct vqd_seg s[] = {{base, 16, false}, {base + 4096, 4096, true},
				      {base + 16, 1, true}};
		REQUIRE(vqd_add(&t->d, s, 3, false) >= 0);
	}
	virtio_queue_kick(t->dev, 0);
	virtio_set_status(t->dev, 0);
	CHECK_EQ(virtio_get_status(t->dev), live); /* in progress: the loop has not run */
	CHECK(!virtio_queue_enabled(t->dev, 0));
	for (int k = 0; k < 2000 && virtio_get_status(t->dev) != 0; k++)
		ev_loop_run_once(t->loop, 5);
	CHECK_EQ(virtio_get_status(t->dev), 0);
	/* And it serves again after the reset. */
	vqd_fini(&t->d);
	REQUIRE(vqd_init(&t->d, &t->m, 0x10000, QSZ) == 0);
	uint8_t st = vqd_negotiate(t->dev, 1ULL << VIRTIO_F_VERSION_1);
	REQUIRE(vqd_attach(&t->d, t->dev, 0) == 0);
	virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	memset(in, 0, sizeof(in));
	CHECK_EQ(blk_do(t, &rd, in, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(in[7], pattern(512 + 7));
	virtio_dev_destroy(t->dev);
}

/* Write-zeroes and discard limits: one write-zeroes segment per request and a bounded range
 * (the fallback writes zeroes by hand), advertised in config space and enforced. */
TEST(blk_write_zeroes_limits)
{
	struct tblk *t = tblk_new(true, false, DISK_SIZE, 0);
	REQUIRE(t);
	struct virtio_blk_config c;
	virtio_read_config(t->dev, 0, &c, sizeof(c));
	CHECK_EQ(c.max_write_zeroes_seg, 1);
	CHECK(c.max_write_zeroes_sectors > 0 && c.max_write_zeroes_sectors <= (1u << 19));
	CHECK(c.max_discard_seg >= 1);
	struct virtio_blk_discard_write_zeroes seg[2] = {
		{.sector = 10, .num_sectors = 3, .flags = 0},
		{.sector = 20, .num_sectors = 3, .flags = 0},
	};
	struct io_desc wz2 = {VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, sizeof(seg), 0, false};
	CHECK_EQ(blk_do(t, &wz2, NULL, NULL), VIRTIO_BLK_S_IOERR);
	CHECK(!range_is_zero(t->path, 10 * 512, 512));
	seg[0].num_sectors = c.max_write_zeroes_sectors + 8;
	struct io_desc wz = {VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, sizeof(seg[0]), 0, false};
	CHECK_EQ(blk_do(t, &wz, NULL, NULL), VIRTIO_BLK_S_IOERR);
}

/* Where the filesystem cannot zero a range (tmpfs has no FALLOC_FL_ZERO_RANGE) write-zeroes
 * writes zeroes by hand, in bounded asynchronous steps: the kick returns with the request
 * still in flight and the queue keeps serving other requests meanwhile. */
TEST(blk_write_zeroes_by_hand_does_not_stall_async)
{
	struct statfs sf;
	if (statfs("/dev/shm", &sf) != 0 || sf.f_type != TMPFS_MAGIC)
		test_skip("/dev/shm is not a tmpfs");
	const uint64_t size = 48u << 20;
	struct tblk *t = tblk_new_in("/dev/shm", false, false, size, 0, false);
	REQUIRE(t);
	uint64_t b = vqd_alloc(&t->m, 8192, 4096);
	struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_WRITE_ZEROES, .sector = 0};
	struct virtio_blk_discard_write_zeroes seg = {.sector = 2048, .num_sectors = 65536};
	memcpy(vqd_hva(&t->m, b), &h, sizeof(h));
	memcpy(vqd_hva(&t->m, b + 16), &seg, sizeof(seg));
	*(uint8_t *)vqd_hva(&t->m, b + 64) = 0xee;
	struct vqd_seg s[] = {{b, 16, false}, {b + 16, sizeof(seg), false}, {b + 64, 1, true}};
	int wz_head = vqd_add(&t->d, s, 3, false);
	REQUIRE(wz_head >= 0);
	virtio_queue_kick(t->dev, 0);
	uint32_t id, len;
	CHECK(!vqd_get_used(&t->d, &id, &len)); /* 32 MiB of zeroes are not written yet */
	/* A read on the same queue while the zeroes are being written. */
	h = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN, .sector = 1};
	memcpy(vqd_hva(&t->m, b + 128), &h, sizeof(h));
	*(uint8_t *)vqd_hva(&t->m, b + 192) = 0xee;
	struct vqd_seg r[] = {{b + 128, 16, false}, {b + 4096, 512, true}, {b + 192, 1, true}};
	int rd_head = vqd_add(&t->d, r, 3, false);
	REQUIRE(rd_head >= 0);
	virtio_queue_kick(t->dev, 0);
	bool wz_done = false, rd_done = false;
	for (int k = 0; k < 20000 && !(wz_done && rd_done); k++) {
		while (vqd_get_used(&t->d, &id, &len)) {
			wz_done |= id == (uint32_t)wz_head;
			rd_done |= id == (uint32_t)rd_head;
		}
		if (!(wz_done && rd_done))
			ev_loop_run_once(t->loop, 5);
	}
	CHECK(wz_done && rd_done);
	CHECK_EQ(*(uint8_t *)vqd_hva(&t->m, b + 64), VIRTIO_BLK_S_OK);
	CHECK_EQ(*(uint8_t *)vqd_hva(&t->m, b + 192), VIRTIO_BLK_S_OK);
	CHECK_EQ(*(uint8_t *)vqd_hva(&t->m, b + 4096 + 9), pattern(512 + 9));
	CHECK(range_is_zero(t->path, 2048 * 512, 65536 * 512));
	CHECK(!range_is_zero(t->path, 2047 * 512, 512));
	CHECK(!range_is_zero(t->path, (2048 + 65536) * 512, 512));
	virtio_dev_destroy(t->dev);
	unlink(t->path);
}
