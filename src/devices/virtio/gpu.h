/* SPDX-License-Identifier: MIT */
/*
 * virtio-gpu, 2D only (VirtIO 1.2, 5.7; docs/devices/gpu.md): one scanout, EDID, the whole 2D
 * command set and the cursor queue. Requests are decoded by gpu_cmd.c and validated here
 * against the device state: resource ids, rectangles inside their resources, backing pages in
 * guest RAM, transfers inside the backing, and host memory (every resource and backing table
 * is charged against max_hostmem; past it, ERR_OUT_OF_MEMORY).
 *
 * Transport independent like blk.c. The scanout is shown through a display source (NULL
 * display: nothing is shown, the device still works, e.g. in tests).
 */
#ifndef VIREO_DEVICES_VIRTIO_GPU_H
#define VIREO_DEVICES_VIRTIO_GPU_H

#include <stddef.h>
#include <stdint.h>
#include "base/util.h"
#include "virtio/virtio.h"

struct display;

#define VGPU_DEFAULT_WIDTH 1280u
#define VGPU_DEFAULT_HEIGHT 800u
#define VGPU_DEFAULT_HOSTMEM (256ULL << 20)
#define VGPU_QUEUE_SIZE 256u

struct vgpu_params {
	uint32_t width, height; /* the mode offered to the driver (and the EDID's) */
	uint64_t max_hostmem;	/* bytes of resources + backing tables the guest may hold */
};

/* name: log prefix, e.g. "gpu0". One-line reason in err. */
int vgpu_create(const struct vgpu_params *p, struct display *display, const char *name,
		struct virtio_dev **out, char *err, size_t errlen) WUR;
/* Host memory the guest holds now (tests, diagnostics). */
uint64_t vgpu_hostmem_used(struct virtio_dev *dev);
/* A viewer asked for w x h: offer it and raise VIRTIO_GPU_EVENT_DISPLAY (tests call it
 * directly; in a VM the display delivers it). */
void vgpu_request_mode(struct virtio_dev *dev, uint32_t w, uint32_t h);

#endif
