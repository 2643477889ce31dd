/* SPDX-License-Identifier: MIT */
/*
 * Guest program for bench/run-gpu.sh: full-screen frames through DRM's dumb-buffer API (the
 * plain KMS path any 2D compositor uses): a dumb buffer on the first connector's preferred mode,
 * then for SECONDS: redraw every pixel, DIRTYFB (virtio-gpu: TRANSFER_TO_HOST_2D +
 * RESOURCE_FLUSH of the whole screen), next frame. Prints
 *   GPUFILL start WxH
 *   GPUFILL frames=N ns=T
 * on stdout. Built static (no libdrm needed: only its UAPI headers).
 *   gcc -static -O2 -I/usr/include/libdrm -o gpufill gpufill.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <drm.h>
#include <drm_mode.h>

static int xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	int r;
	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		fprintf(stderr, "gpufill: %s: %s\n", what, strerror(errno));
	return r;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 10;
	int fd = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("gpufill: /dev/dri/card0");
		return 1;
	}
	uint32_t crtcs[8], conns[8];
	struct drm_mode_card_res res = {0};
	if (xioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res, "GETRESOURCES") < 0)
		return 1;
	if (!res.count_crtcs || !res.count_connectors || res.count_crtcs > 8 ||
	    res.count_connectors > 8)
		return 1;
	struct drm_mode_card_res res2 = {.crtc_id_ptr = (uintptr_t)crtcs,
					 .connector_id_ptr = (uintptr_t)conns,
					 .count_crtcs = res.count_crtcs,
					 .count_connectors = res.count_connectors};
	if (xioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res2, "GETRESOURCES") < 0)
		return 1;
	struct drm_mode_modeinfo modes[64];
	struct drm_mode_get_connector conn = {.connector_id = conns[0]};
	if (xioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &conn, "GETCONNECTOR") < 0 || !conn.count_modes)
		return 1;
	uint32_t nmodes = conn.count_modes > 64 ? 64 : conn.count_modes;
	conn = (struct drm_mode_get_connector){
	    .connector_id = conns[0], .modes_ptr = (uintptr_t)modes, .count_modes = nmodes};
	if (xioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &conn, "GETCONNECTOR") < 0)
		return 1;
	struct drm_mode_modeinfo *mode = &modes[0];
	for (uint32_t i = 0; i < nmodes; i++)
		if (modes[i].type & DRM_MODE_TYPE_PREFERRED) {
			mode = &modes[i];
			break;
		}
	uint32_t w = mode->hdisplay, h = mode->vdisplay;
	struct drm_mode_create_dumb cd = {.width = w, .height = h, .bpp = 32};
	if (xioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd, "CREATE_DUMB") < 0)
		return 1;
	struct drm_mode_fb_cmd fb = {.width = w,
				     .height = h,
				     .pitch = cd.pitch,
				     .bpp = 32,
				     .depth = 24,
				     .handle = cd.handle};
	if (xioctl(fd, DRM_IOCTL_MODE_ADDFB, &fb, "ADDFB") < 0)
		return 1;
	struct drm_mode_map_dumb md = {.handle = cd.handle};
	if (xioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md, "MAP_DUMB") < 0)
		return 1;
	uint8_t *px = mmap(NULL, cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
	if (px == MAP_FAILED) {
		perror("gpufill: mmap");
		return 1;
	}
	struct drm_mode_crtc crtc = {.crtc_id = crtcs[0],
				     .fb_id = fb.fb_id,
				     .set_connectors_ptr = (uintptr_t)&conns[0],
				     .count_connectors = 1,
				     .mode = *mode,
				     .mode_valid = 1};
	if (xioctl(fd, DRM_IOCTL_MODE_SETCRTC, &crtc, "SETCRTC") < 0)
		return 1;
	printf("GPUFILL start %ux%u\n", w, h);
	fflush(stdout);
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)seconds * 1000000000ull;
	uint64_t frames = 0;
	do {
		/* A different picture every frame: a gradient that scrolls, so every pixel changes
		 * and a VNC encoder cannot reuse anything. */
		for (uint32_t y = 0; y < h; y++) {
			uint32_t *row = (uint32_t *)(px + (size_t)y * cd.pitch);
			for (uint32_t x = 0; x < w; x++)
				row[x] = ((x + (uint32_t)frames * 7) & 0xff) << 16 |
					 ((y + (uint32_t)frames * 3) & 0xff) << 8 |
					 ((x ^ y ^ (uint32_t)frames) & 0xff);
		}
		struct drm_mode_fb_dirty_cmd dirty = {.fb_id = fb.fb_id};
		if (xioctl(fd, DRM_IOCTL_MODE_DIRTYFB, &dirty, "DIRTYFB") < 0)
			return 1;
		frames++;
	} while (now_ns() < end);
	printf("GPUFILL frames=%llu ns=%llu\n", (unsigned long long)frames,
	       (unsigned long long)(now_ns() - t0));
	return 0;
}
