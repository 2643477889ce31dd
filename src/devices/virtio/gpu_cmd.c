/* SPDX-License-Identifier: MIT */
/* virtio-gpu 2D command decoding: see gpu_cmd.h. */
#include <endian.h>
#include <string.h>
#include "devices/virtio/gpu_cmd.h"

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

#define FIELD(buf, type, member) ((const uint8_t *)(buf) + offsetof(type, member))
#define LD32(buf, type, member) ld32(FIELD(buf, type, member))

unsigned vgpu_format_bpp(uint32_t format)
{
	switch (format) {
	case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM:
	case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM:
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM:
	case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM:
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM:
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM:
	case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM:
		return 4;
	default:
		return 0;
	}
}

const char *vgpu_cmd_name(uint32_t type)
{
	switch (type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
		return "GET_DISPLAY_INFO";
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
		return "RESOURCE_CREATE_2D";
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		return "RESOURCE_UNREF";
	case VIRTIO_GPU_CMD_SET_SCANOUT:
		return "SET_SCANOUT";
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
		return "RESOURCE_FLUSH";
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
		return "TRANSFER_TO_HOST_2D";
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
		return "RESOURCE_ATTACH_BACKING";
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		return "RESOURCE_DETACH_BACKING";
	case VIRTIO_GPU_CMD_GET_EDID:
		return "GET_EDID";
	case VIRTIO_GPU_CMD_UPDATE_CURSOR:
		return "UPDATE_CURSOR";
	case VIRTIO_GPU_CMD_MOVE_CURSOR:
		return "MOVE_CURSOR";
	default:
		return "unsupported command";
	}
}

static void rect_at(const uint8_t *p, struct vgpu_rect *r)
{
	r->x = ld32(p + offsetof(struct virtio_gpu_rect, x));
	r->y = ld32(p + offsetof(struct virtio_gpu_rect, y));
	r->w = ld32(p + offsetof(struct virtio_gpu_rect, width));
	r->h = ld32(p + offsetof(struct virtio_gpu_rect, height));
}

/* A rectangle must be non-empty and must not wrap around 2^32. */
static bool rect_ok(const struct vgpu_rect *r)
{
	return r->w && r->h && (uint64_t)r->x + r->w <= UINT32_MAX &&
	       (uint64_t)r->y + r->h <= UINT32_MAX;
}

/* The size each command needs, 0 for commands the 2D device does not implement. */
static size_t cmd_size(uint32_t type)
{
	switch (type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
		return sizeof(struct virtio_gpu_ctrl_hdr);
	case VIRTIO_GPU_CMD_GET_EDID:
		return sizeof(struct virtio_gpu_cmd_get_edid);
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
		return sizeof(struct virtio_gpu_resource_create_2d);
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		return sizeof(struct virtio_gpu_resource_unref);
	case VIRTIO_GPU_CMD_SET_SCANOUT:
		return sizeof(struct virtio_gpu_set_scanout);
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
		return sizeof(struct virtio_gpu_resource_flush);
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
		return sizeof(struct virtio_gpu_transfer_to_host_2d);
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
		return sizeof(struct virtio_gpu_resource_attach_backing);
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		return sizeof(struct virtio_gpu_resource_detach_backing);
	case VIRTIO_GPU_CMD_UPDATE_CURSOR:
	case VIRTIO_GPU_CMD_MOVE_CURSOR:
		return sizeof(struct virtio_gpu_update_cursor);
	default:
		return 0;
	}
}

uint32_t vgpu_decode(const void *buf, size_t len, bool cursorq, struct vgpu_cmd *cmd)
{
	const uint8_t *b = buf;

	memset(cmd, 0, sizeof(*cmd));
	if (len < sizeof(struct virtio_gpu_ctrl_hdr))
		return VGPU_DECODE_NO_HEADER;
	cmd->hdr.type = LD32(b, struct virtio_gpu_ctrl_hdr, type);
	cmd->hdr.flags = LD32(b, struct virtio_gpu_ctrl_hdr, flags);
	cmd->hdr.fence_id = ld64(FIELD(b, struct virtio_gpu_ctrl_hdr, fence_id));
	cmd->hdr.ctx_id = LD32(b, struct virtio_gpu_ctrl_hdr, ctx_id);
	cmd->hdr.ring_idx = *FIELD(b, struct virtio_gpu_ctrl_hdr, ring_idx);

	uint32_t t = cmd->hdr.type;
	size_t need = cmd_size(t);
	bool is_cursor = t == VIRTIO_GPU_CMD_UPDATE_CURSOR || t == VIRTIO_GPU_CMD_MOVE_CURSOR;
	if (!need || is_cursor != cursorq)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (len < need)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;

	switch (t) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
		break;
	case VIRTIO_GPU_CMD_GET_EDID:
		cmd->u.get_edid.scanout_id = LD32(b, struct virtio_gpu_cmd_get_edid, scanout);
		break;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D: {
		typedef struct virtio_gpu_resource_create_2d T;
		cmd->u.create_2d.resource_id = LD32(b, T, resource_id);
		cmd->u.create_2d.format = LD32(b, T, format);
		cmd->u.create_2d.width = LD32(b, T, width);
		cmd->u.create_2d.height = LD32(b, T, height);
		if (!cmd->u.create_2d.resource_id)
			return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		if (!vgpu_format_bpp(cmd->u.create_2d.format) || !cmd->u.create_2d.width ||
		    !cmd->u.create_2d.height || cmd->u.create_2d.width > VGPU_MAX_DIM ||
		    cmd->u.create_2d.height > VGPU_MAX_DIM)
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		break;
	}
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		cmd->u.unref.resource_id = LD32(b, struct virtio_gpu_resource_unref, resource_id);
		break;
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		cmd->u.detach.resource_id =
		    LD32(b, struct virtio_gpu_resource_detach_backing, resource_id);
		break;
	case VIRTIO_GPU_CMD_SET_SCANOUT: {
		typedef struct virtio_gpu_set_scanout T;
		rect_at(FIELD(b, T, r), &cmd->u.set_scanout.r);
		cmd->u.set_scanout.scanout_id = LD32(b, T, scanout_id);
		cmd->u.set_scanout.resource_id = LD32(b, T, resource_id);
		/* resource 0 disables the scanout and ignores the rectangle. */
		if (cmd->u.set_scanout.resource_id && !rect_ok(&cmd->u.set_scanout.r))
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		break;
	}
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH: {
		typedef struct virtio_gpu_resource_flush T;
		rect_at(FIELD(b, T, r), &cmd->u.flush.r);
		cmd->u.flush.resource_id = LD32(b, T, resource_id);
		if (!rect_ok(&cmd->u.flush.r))
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		break;
	}
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: {
		typedef struct virtio_gpu_transfer_to_host_2d T;
		rect_at(FIELD(b, T, r), &cmd->u.transfer.r);
		cmd->u.transfer.offset = ld64(FIELD(b, T, offset));
		cmd->u.transfer.resource_id = LD32(b, T, resource_id);
		if (!rect_ok(&cmd->u.transfer.r))
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		break;
	}
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: {
		typedef struct virtio_gpu_resource_attach_backing T;
		cmd->u.attach.resource_id = LD32(b, T, resource_id);
		cmd->u.attach.nr_entries = LD32(b, T, nr_entries);
		uint32_t n = cmd->u.attach.nr_entries;
		if (n == 0 || n > VGPU_MAX_ENTRIES ||
		    len - sizeof(T) < (size_t)n * sizeof(struct virtio_gpu_mem_entry))
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		cmd->u.attach.entries = b + sizeof(T);
		break;
	}
	case VIRTIO_GPU_CMD_UPDATE_CURSOR:
	case VIRTIO_GPU_CMD_MOVE_CURSOR: {
		typedef struct virtio_gpu_update_cursor T;
		const uint8_t *pos = FIELD(b, T, pos);
		cmd->u.cursor.scanout_id =
		    ld32(pos + offsetof(struct virtio_gpu_cursor_pos, scanout_id));
		cmd->u.cursor.x = ld32(pos + offsetof(struct virtio_gpu_cursor_pos, x));
		cmd->u.cursor.y = ld32(pos + offsetof(struct virtio_gpu_cursor_pos, y));
		if (t == VIRTIO_GPU_CMD_UPDATE_CURSOR) {
			cmd->u.cursor.resource_id = LD32(b, T, resource_id);
			cmd->u.cursor.hot_x = LD32(b, T, hot_x);
			cmd->u.cursor.hot_y = LD32(b, T, hot_y);
		}
		break;
	}
	}
	return VGPU_DECODE_OK;
}

void vgpu_mem_entry(const struct vgpu_cmd *cmd, uint32_t i, uint64_t *addr, uint32_t *len)
{
	const uint8_t *e = cmd->u.attach.entries + (size_t)i * sizeof(struct virtio_gpu_mem_entry);
	*addr = ld64(e + offsetof(struct virtio_gpu_mem_entry, addr));
	*len = ld32(e + offsetof(struct virtio_gpu_mem_entry, length));
}
