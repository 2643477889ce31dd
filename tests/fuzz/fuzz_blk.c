/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-blk request parsing and handling on fuzzed rings and requests against a
 * 1 MiB memfd disk (synchronous I/O path). Input: byte 0 = log2 queue size (mod 5),
 * byte 1 = features, the rest = the first 64 KiB of guest memory (descriptor table at 0,
 * avail ring at 0x2000, used ring at 0x3000; requests anywhere).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "base/log.h"
#include "devices/virtio/blk.h"

#define RAM (64u * 1024)
#define DISK (1u << 20)

static uint8_t ram[RAM] __attribute__((aligned(4096)));
static struct virtio_dev *dev;
static struct guest_mem gm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	char path[64], err[256];
	int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, DISK) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct disk_config cfg = {.path = path, .queues = 1, .queue_size = 16};
	snprintf(cfg.serial, sizeof(cfg.serial), "fuzz");
	if (vblk_create(&cfg, "blkfuzz", &dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	vblk_force_sync(dev, true);
	gm_init(&gm);
	if (gm_add_region(&gm, 0, RAM, ram, -1, 0, false) < 0)
		abort();
	virtio_dev_attach(dev, &gm, NULL, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	log_set_level(LOG_ERR);
	if (!dev)
		setup();
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | ((uint64_t)data[1] & 0xff) << 8 |
		     (data[1] & 1 ? 1ULL << VIRTIO_RING_F_INDIRECT_DESC : 0) |
		     (data[1] & 2 ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0);
	f &= virtio_device_features(dev);
	memset(ram, 0, sizeof(ram));
	memcpy(ram, data + 2, MIN(size - 2, sizeof(ram)));

	virtio_reset(dev);
	if (virtio_set_features(dev, f) < 0)
		abort();
	if (virtio_queue_set_size(dev, 0, (uint16_t)(1u << (data[0] % 5))) < 0 ||
	    virtio_queue_set_addr(dev, 0, VIRTIO_RING_DESC, 0) < 0 ||
	    virtio_queue_set_addr(dev, 0, VIRTIO_RING_AVAIL, 0x2000) < 0 ||
	    virtio_queue_set_addr(dev, 0, VIRTIO_RING_USED, 0x3000) < 0)
		abort();
	if (virtio_queue_enable(dev, 0) < 0)
		return 0;
	if (virtio_dev_activate(dev) < 0)
		abort();
	virtio_queue_kick(dev, 0);
	virtio_queue_kick(dev, 0);
	return 0;
}
