/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the virtio-gpu command decoder and the device behind it. The input is first
 * decoded as one raw request (both queues), then split into a sequence of requests
 * [u8 queue (bit 0) | u8 response space / 8 | u16 length | bytes] that the test-side driver
 * sends one by one through real rings to a GPU with 4 MiB of guest RAM and a 16 MiB
 * max_hostmem, shown on a display. Fuzzed ATTACH_BACKING entries point anywhere; transfers,
 * flushes and scanouts then read that memory and write the display.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include "backends/display.h"
#include "base/log.h"
#include "devices/virtio/gpu.h"
#include "devices/virtio/gpu_cmd.h"
#include "../unit/vq_driver.h"

#define RAM (4u << 20)
#define QSZ 16

static struct virtio_dev *dev;
static struct display *disp;
static struct vqd_mem mem;
static uint64_t req_gpa, resp_gpa, base_brk;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	char err[256];
	struct vgpu_params p = {1024, 768, 16u << 20};
	log_set_level(LOG_ERR);
	if (display_create(NULL, 640, 480, &disp) < 0 || vqd_mem_init(&mem, 0, RAM) < 0 ||
	    vgpu_create(&p, disp, "gpufuzz", &dev, err, sizeof(err)) < 0)
		abort();
	virtio_dev_attach(dev, &mem.gm, NULL, NULL, NULL);
	req_gpa = vqd_alloc(&mem, 64 * 1024, 16);
	resp_gpa = vqd_alloc(&mem, 4096, 16);
	base_brk = mem.brk;
}

static void decode_only(const uint8_t *data, size_t size)
{
	struct vgpu_cmd cmd;
	for (int q = 0; q < 2; q++) {
		uint32_t r = vgpu_decode(data, size, q, &cmd);
		if (r == VGPU_DECODE_OK && cmd.hdr.type == VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING) {
			uint64_t sum = 0;
			for (uint32_t i = 0; i < cmd.u.attach.nr_entries; i++) {
				uint64_t a;
				uint32_t l;
				vgpu_mem_entry(&cmd, i, &a, &l);
				sum += a + l;
			}
			if (sum == 1) /* keep the loop */
				fprintf(stderr, " ");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dev)
		setup();
	decode_only(data, size);

	struct vq_driver ctrl, cursor;
	virtio_reset(dev);
	mem.brk = base_brk; /* the rings' indirect tables, allocated again below */
	if (vqd_init(&ctrl, &mem, 0x1000, QSZ) < 0 || vqd_init(&cursor, &mem, 0x3000, QSZ) < 0)
		abort();
	uint8_t st = vqd_negotiate(dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_GPU_F_EDID));
	if (vqd_attach(&ctrl, dev, 0) < 0 || vqd_attach(&cursor, dev, 1) < 0)
		abort();
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));

	size_t off = 0;
	for (int n = 0; n < 64 && off + 4 <= size; n++) {
		uint8_t q = data[off] & 1;
		uint32_t resp = (uint32_t)data[off + 1] * 8;
		size_t len = (size_t)data[off + 2] | (size_t)data[off + 3] << 8;
		off += 4;
		len = MIN(len, size - off);
		memcpy(vqd_hva(&mem, req_gpa), data + off, len);
		off += len;
		struct vq_driver *d = q ? &cursor : &ctrl;
		struct vqd_seg s[2] = {{req_gpa, (uint32_t)len, false}, {resp_gpa, resp, true}};
		unsigned nseg = len ? 1 : 0;
		if (resp)
			s[nseg++] = s[1];
		if (!nseg || vqd_add(d, s, nseg, false) < 0)
			break;
		virtio_queue_kick(dev, q);
		uint32_t id, wl;
		while (vqd_get_used(d, &id, &wl))
			;
		if (virtio_get_status(dev) & VIRTIO_CONFIG_S_NEEDS_RESET)
			break;
	}
	vqd_fini(&ctrl);
	vqd_fini(&cursor);
	return 0;
}
