/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user-gpu socket (QEMU docs/interop/vhost-user-gpu.rst): how `vireo backend gpu`
 * shows its screen in the front-end. The front-end hands the back-end one end of a unix
 * stream socket (VHOST_USER_GPU_SET_SOCKET); over it the back-end sends requests, and the
 * front-end answers the few that want a reply.
 *
 * The device (devices/virtio/gpu.c) is the same as in `vireo run`: it draws into a struct
 * display. A display listener here turns the display's mode, damage and cursor callbacks into
 * SCANOUT, UPDATE (pixel data, XRGB8888) and CURSOR_* messages:
 *
 *   connect:  GET_PROTOCOL_FEATURES -> reply u64; SET_PROTOCOL_FEATURES (none of them: the
 *             device makes its own EDID); GET_DISPLAY_INFO -> reply (the front-end's preferred
 *             size, offered to the guest unless the user fixed the size)
 *   then:     SCANOUT w x h, UPDATE bands of at most VU_GPU_MAX_UPDATE bytes, CURSOR_UPDATE /
 *             CURSOR_POS / CURSOR_POS_HIDE; none of these has a reply.
 *
 * Nothing blocks: the socket is non-blocking and served from the event loop. Damage is
 * coalesced into one rectangle while the front-end is slow, so memory stays bounded. The
 * front-end's replies are hostile input: each must be the reply to the request outstanding,
 * with exactly its size (vu_gpu_parse_reply); anything else, no reply within
 * VU_GPU_REPLY_TIMEOUT_S or a front-end that stops reading for VU_GPU_STALL_TIMEOUT_S drops the
 * socket with one log line (the device keeps running; the next SET_SOCKET starts afresh).
 *
 * Threading: display callbacks may come from any thread (they only record state and post
 * work); everything else runs on the loop thread, which in `vireo backend` is also where the
 * device draws, so the surface does not change while a band is copied from it.
 */
#ifndef VIREO_VHOST_USER_GPU_SOCKET_H
#define VIREO_VHOST_USER_GPU_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_gpu.h>
#include "base/util.h"

struct display;
struct ev_loop;
struct virtio_dev;

/* Back-end -> front-end requests. */
enum vu_gpu_request {
	VU_GPU_GET_PROTOCOL_FEATURES = 1,
	VU_GPU_SET_PROTOCOL_FEATURES = 2,
	VU_GPU_GET_DISPLAY_INFO = 3,
	VU_GPU_CURSOR_POS = 4,
	VU_GPU_CURSOR_POS_HIDE = 5,
	VU_GPU_CURSOR_UPDATE = 6,
	VU_GPU_SCANOUT = 7,
	VU_GPU_UPDATE = 8,
	VU_GPU_DMABUF_SCANOUT = 9,
	VU_GPU_DMABUF_UPDATE = 10,
	VU_GPU_GET_EDID = 11,
};

#define VU_GPU_FLAG_REPLY 0x4u
#define VU_GPU_HDR_SIZE 12u
#define VU_GPU_CURSOR_DIM 64u
/* CURSOR_UPDATE payload: pos (scanout, x, y), hot_x, hot_y, 64 x 64 ARGB words. */
#define VU_GPU_CURSOR_UPDATE_SIZE (5u * 4u + VU_GPU_CURSOR_DIM * VU_GPU_CURSOR_DIM * 4u)
/* UPDATE payload: scanout, x, y, w, h, then w * h XRGB8888 words. */
#define VU_GPU_UPDATE_HDR_SIZE 20u
/* Pixel bytes per UPDATE message at most (larger damage goes in bands of rows). */
#define VU_GPU_MAX_UPDATE (1u << 20)
#define VU_GPU_REPLY_TIMEOUT_S 10
#define VU_GPU_STALL_TIMEOUT_S 30

/* A decoded reply from the front-end. */
struct vu_gpu_reply {
	uint32_t request;
	union {
		uint64_t features;			  /* GET_PROTOCOL_FEATURES */
		struct virtio_gpu_resp_display_info info; /* GET_DISPLAY_INFO */
	} u;
};

/*
 * Decode the reply to `expect` (GET_PROTOCOL_FEATURES or GET_DISPLAY_INFO) from the first len
 * bytes the front-end sent. Returns the bytes it used (> 0) with *out filled, 0 when the
 * bytes so far are a valid beginning (read more), or -EBADMSG/-EPROTO with a one-line reason
 * in why: not a reply, another request, a size other than the reply's, a display-info reply
 * of the wrong type.
 */
int vu_gpu_parse_reply(const void *buf, size_t len, uint32_t expect, struct vu_gpu_reply *out,
		       char *why, size_t whylen) WUR;

/* Encode a request without payload or with a u64 / u32 triple; returns the wire bytes
 * written to buf (which holds at least VU_GPU_HDR_SIZE + 12). */
size_t vu_gpu_encode_u64(void *buf, uint32_t request, uint64_t v);
size_t vu_gpu_encode_3u32(void *buf, uint32_t request, uint32_t a, uint32_t b, uint32_t c);
size_t vu_gpu_encode_empty(void *buf, uint32_t request);

struct vu_gpu;

/*
 * Show display d (where the gpu device dev draws) to front-ends through gpu sockets; requests
 * go through loop. fixed_size: the user chose the mode, so the front-end's preferred size is
 * not offered to the guest. name: log prefix.
 */
int vu_gpu_create(struct display *d, struct virtio_dev *dev, struct ev_loop *loop, const char *name,
		  bool fixed_size, struct vu_gpu **out) WUR;
void vu_gpu_destroy(struct vu_gpu *g);
/* A new gpu socket from the front-end (takes fd, also on error); replaces an earlier one. */
int vu_gpu_attach(struct vu_gpu *g, int fd, char *why, size_t whylen) WUR;
/* The front-end is gone: close its gpu socket (no-op without one). */
void vu_gpu_detach(struct vu_gpu *g);
bool vu_gpu_attached(const struct vu_gpu *g);
/* Messages sent since creation, by request number (tests, the exit report). */
uint64_t vu_gpu_sent(const struct vu_gpu *g, uint32_t request);

#endif
