/* SPDX-License-Identifier: MIT */
/*
 * The virtio-gpu 2D command decoder (VirtIO 1.2, 5.7.6): a request, copied out of the guest's
 * descriptor chain into private memory, becomes a typed struct vgpu_cmd with every field in
 * host byte order. It checks what needs no device state: the length of each command, the
 * queue it arrived on, the number of backing entries, resource id 0, known pixel formats,
 * empty or wrapping rectangles, width * height overflow. The device (gpu.c) checks the rest
 * against its state (resources, scanouts, guest RAM, the hostmem cap).
 */
#ifndef VIREO_DEVICES_VIRTIO_GPU_CMD_H
#define VIREO_DEVICES_VIRTIO_GPU_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <linux/virtio_gpu.h>

/* Backing entries per ATTACH_BACKING (a 4096x4096 resource in 4 KiB pages needs 16384). */
#define VGPU_MAX_ENTRIES 16384u
/* The longest request the device reads: ATTACH_BACKING with VGPU_MAX_ENTRIES entries. */
#define VGPU_MAX_REQUEST                                                                           \
	(sizeof(struct virtio_gpu_resource_attach_backing) +                                       \
	 VGPU_MAX_ENTRIES * sizeof(struct virtio_gpu_mem_entry))
/* Largest resource side, in pixels (bytes are capped by max_hostmem separately). */
#define VGPU_MAX_DIM 16384u

/* vgpu_decode() results besides VIRTIO_GPU_RESP_ERR_*. */
#define VGPU_DECODE_OK 0u
#define VGPU_DECODE_NO_HEADER 1u /* shorter than struct virtio_gpu_ctrl_hdr: a framing error */

struct vgpu_hdr {
	uint32_t type;
	uint32_t flags;
	uint64_t fence_id;
	uint32_t ctx_id;
	uint8_t ring_idx;
};

struct vgpu_rect {
	uint32_t x, y, w, h;
};

struct vgpu_cmd {
	struct vgpu_hdr hdr;
	union {
		struct {
			uint32_t scanout_id;
		} get_edid;
		struct {
			uint32_t resource_id, format, width, height;
		} create_2d;
		struct {
			uint32_t resource_id;
		} unref, detach;
		struct {
			struct vgpu_rect r;
			uint32_t scanout_id, resource_id;
		} set_scanout;
		struct {
			struct vgpu_rect r;
			uint32_t resource_id;
		} flush;
		struct {
			struct vgpu_rect r;
			uint64_t offset;
			uint32_t resource_id;
		} transfer;
		struct {
			uint32_t resource_id, nr_entries;
			const uint8_t
			    *entries; /* nr_entries raw virtio_gpu_mem_entry, in the buffer */
		} attach;
		struct {
			uint32_t scanout_id, x, y;
			uint32_t resource_id, hot_x, hot_y; /* UPDATE_CURSOR only */
		} cursor;
	} u;
};

/* Decode the request in buf[0, len) that arrived on the cursor queue (cursorq) or the control
 * queue. Returns VGPU_DECODE_OK with *cmd filled, VGPU_DECODE_NO_HEADER, or the
 * VIRTIO_GPU_RESP_ERR_* code to answer with (cmd->hdr is then valid for the response). For
 * ATTACH_BACKING, cmd->u.attach.entries points into buf. */
uint32_t vgpu_decode(const void *buf, size_t len, bool cursorq, struct vgpu_cmd *cmd);
/* Entry i (< nr_entries) of a decoded ATTACH_BACKING. */
void vgpu_mem_entry(const struct vgpu_cmd *cmd, uint32_t i, uint64_t *addr, uint32_t *len);
/* Bytes per pixel of a VIRTIO_GPU_FORMAT_*, 0 when unknown. */
unsigned vgpu_format_bpp(uint32_t format);
/* The command's name for log lines ("RESOURCE_CREATE_2D", or "0x...": static buffer-free). */
const char *vgpu_cmd_name(uint32_t type);

#endif
