/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the split-ring descriptor-chain walker over fuzzed ring memory.
 * Input: byte 0 = log2 queue size (mod 9), byte 1 = feature bits (indirect, event idx),
 * bytes 2..3 = last_avail_idx start, the rest = the first 64 KiB of guest memory (rings at
 * fixed places, buffers anywhere). A small read-only region sits right after RAM.
 * Each popped chain is read and written completely through the cursors and pushed back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "base/log.h"
#include "virtio/virtio.h"

#define RAM (64u * 1024)
#define ROM (4u * 1024)
#define DESC_GPA 0x0
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000

static uint8_t ram[RAM] __attribute__((aligned(4096)));
static uint8_t rom[ROM] __attribute__((aligned(4096)));
static uint8_t scratch[RAM];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem gm;
	struct virtio_dev dev;

	if (size < 4)
		return 0;
	log_set_level(LOG_ERR);
	uint16_t qsize = (uint16_t)(1u << (data[0] % 9));
	uint64_t features = 1ULL << VIRTIO_F_VERSION_1;
	if (data[1] & 1)
		features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (data[1] & 2)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	memset(ram, 0, sizeof(ram));
	memcpy(ram, data + 4, MIN(size - 4, sizeof(ram)));
	memset(rom, 0x5a, sizeof(rom));

	gm_init(&gm);
	if (gm_add_region(&gm, 0, RAM, ram, -1, 0, false) < 0 ||
	    gm_add_region(&gm, RAM, ROM, rom, -1, 0, true) < 0)
		abort();
	if (virtio_dev_init(&dev, NULL, "fuzz", 1, 0, 1, 256, NULL, 0) < 0)
		abort();
	virtio_dev_attach(&dev, &gm, NULL, NULL, NULL);
	if (virtio_set_features(&dev, features) < 0)
		abort();
	if (virtio_queue_set_size(&dev, 0, qsize) < 0 ||
	    virtio_queue_set_addr(&dev, 0, VIRTIO_RING_DESC, DESC_GPA) < 0 ||
	    virtio_queue_set_addr(&dev, 0, VIRTIO_RING_AVAIL, AVAIL_GPA) < 0 ||
	    virtio_queue_set_addr(&dev, 0, VIRTIO_RING_USED, USED_GPA) < 0 ||
	    virtio_queue_set_last_avail(&dev, 0, (uint16_t)(data[2] | data[3] << 8)) < 0)
		abort();
	if (virtio_queue_enable(&dev, 0) < 0 || virtio_dev_activate(&dev) < 0)
		abort();

	struct virtqueue *vq = &dev.queues[0];
	struct iovec iov[300];
	struct vq_chain ch = {.iov = iov, .cap = 300};
	for (unsigned n = 0; n < 2u * qsize + 4; n++) {
		int r = vq_pop(vq, &ch);
		if (r <= 0)
			break;
		if (ch.out_len + (uint64_t)ch.in_len > UINT32_MAX)
			abort();
		struct vq_cursor c;
		vq_reader_init(&c, &ch);
		while (vq_cursor_remaining(&c)) {
			size_t k = MIN(vq_cursor_remaining(&c), sizeof(scratch));
			if (vq_cursor_read(&c, scratch, k) < 0)
				abort();
		}
		vq_writer_init(&c, &ch);
		struct iovec part[8];
		uint32_t nr;
		if (vq_cursor_remaining(&c) >= 3 && vq_cursor_iov(&c, 3, part, 8, &nr) < 0)
			abort();
		while (vq_cursor_remaining(&c)) {
			size_t k = MIN(vq_cursor_remaining(&c), sizeof(scratch));
			if (vq_cursor_write(&c, scratch, k) < 0)
				abort();
		}
		vq_push(vq, ch.head, ch.in_len);
		(void)vq_should_notify(vq);
	}
	/* The read-only region must never have been written. */
	for (unsigned i = 0; i < ROM; i++)
		if (rom[i] != 0x5a)
			abort();
	virtio_dev_fini(&dev);
	return 0;
}
