/* SPDX-License-Identifier: MIT */
/*
 * The VM's screen, between the devices that draw it and the back-ends that show it
 * (docs/devices/display.md).
 *
 *   sources (devices)                 display core                     back-ends
 *   virtio-gpu scanout 0  --update-->  surface (XRGB8888, fixed  --damage-->  VNC server
 *   bochs-display (firmware)           capacity, never moves)    <--input--   (keyboard,
 *                                      damage, cursor                         pointer, resize)
 *                                      PNG screenshots
 *
 * Sources register with a priority; the enabled source with the highest priority is shown
 * (virtio-gpu over the firmware screen). Sources push rectangles of pixels in their own format;
 * only the shown source's pushes reach the surface. A source that becomes shown is asked to
 * repaint (display_source_take_refresh()). With no source enabled the screen is black.
 *
 * The surface is one mapping of DISPLAY_MAX_WIDTH * DISPLAY_MAX_HEIGHT * 4 bytes reserved at
 * creation (pages are touched only as used). Its address never changes: readers on other
 * threads (VNC client threads) never see it freed; a mode change only changes its width,
 * height and stride.
 *
 * Input goes the other way, from the back-ends to the input devices (virtio-input keyboard
 * and tablet) through struct display_input_ops. Viewer resize requests are posted to the loop
 * thread and handed to the source that registered a resize handler (virtio-gpu).
 *
 * Threading: sources and listeners call in from any thread; the display lock serialises
 * surface writes and listener calls. Listener ops run with it held and must not call back.
 * Input ops are called without the display lock (from back-end threads).
 */
#ifndef VIREO_BACKENDS_DISPLAY_H
#define VIREO_BACKENDS_DISPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "base/util.h"

struct ev_loop;
struct display;
struct display_source;

#define DISPLAY_MAX_WIDTH 4096u
#define DISPLAY_MAX_HEIGHT 4096u
#define DISPLAY_BPP 4u
#define DISPLAY_CURSOR_MAX 64u

/* Source pixel formats, named by their byte order in memory. The surface is DFMT_BGRX (a
 * little-endian XRGB8888 word: DRM's XRGB8888, virtio-gpu's B8G8R8X8). */
enum display_fmt {
	DFMT_BGRX = 0, /* B G R X (or A) */
	DFMT_XRGB,     /* X R G B */
	DFMT_RGBX,     /* R G B X */
	DFMT_XBGR,     /* X B G R */
	DFMT_BGR,      /* B G R, 3 bytes (VBE 24 bpp) */
	DFMT_RGB565,   /* little-endian 16-bit 5:6:5 (VBE 16 bpp) */
};
/* Bytes per pixel of a format. */
unsigned display_fmt_bpp(enum display_fmt fmt);

struct display_rect {
	uint32_t x, y, w, h;
};

/* The pointer image: w * h pixels, bytes B G R A (straight alpha), hotspot inside it. */
struct display_cursor {
	uint32_t w, h;
	uint32_t hot_x, hot_y;
	bool visible;
	uint32_t pixels[DISPLAY_CURSOR_MAX * DISPLAY_CURSOR_MAX];
};

/* ---- the display ---- */

/* default_w/h: the size shown while no source is enabled (and what a new viewer sees first).
 * loop: where viewer resize requests are delivered (may be NULL: then they are dropped). */
int display_create(struct ev_loop *loop, uint32_t default_w, uint32_t default_h,
		   struct display **out) WUR;
void display_destroy(struct display *d);
/* Same shape as vm_add_device()'s destroy callback. */
void display_destroy_opaque(void *d);

/* Snapshot of the surface: copies the current mode (and, when buf is not NULL, up to buflen
 * bytes of pixels, rows packed at w * 4 bytes). Returns the bytes the whole frame needs. */
size_t display_read(struct display *d, uint32_t *w, uint32_t *h, void *buf, size_t buflen);
/* The current size (atomics: no lock, any thread). */
void display_size(struct display *d, uint32_t *w, uint32_t *h);
/* Write the current screen to path as a PNG (RGB, 8 bits per channel). One-line reason in
 * err on failure. Thread-safe. (The management API's screenshot route calls this.) */
int display_screenshot(struct display *d, const char *path, char *err, size_t errlen) WUR;

/* ---- sources (devices) ---- */

struct display_source_ops {
	/* A viewer asked for a new size (w, h within DISPLAY_MAX_*), delivered on the loop
	 * thread. Optional: only sources that can follow (virtio-gpu) set it. */
	void (*resize_request)(void *opaque, uint32_t w, uint32_t h);
};

/* Higher priority wins. name: for log lines. */
int display_source_add(struct display *d, const char *name, int priority,
		       const struct display_source_ops *ops, void *opaque,
		       struct display_source **out) WUR;
/* Unregister (the display falls back to the next source); NULL-safe. */
void display_source_remove(struct display_source *s);
/* Enable with a mode (w, h within DISPLAY_MAX_*; larger values are clamped) or disable
 * (w or h 0). Enabling marks the whole source for repaint. */
void display_source_set_mode(struct display_source *s, uint32_t w, uint32_t h);
/* Copy a w * h rectangle at (x, y) from src (its first pixel; rows src_stride bytes apart)
 * into the surface, converting from fmt, and report it as damage. Clipped to the mode;
 * ignored unless s is the shown source. */
void display_source_update(struct display_source *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
			   const void *src, size_t src_stride, enum display_fmt fmt);
/* True once after s became the shown source (the source should push everything). */
bool display_source_take_refresh(struct display_source *s);
bool display_source_shown(struct display_source *s);
/* Pointer image and position (ignored unless s is shown). */
void display_source_set_cursor(struct display_source *s, const struct display_cursor *c);
void display_source_move_cursor(struct display_source *s, uint32_t x, uint32_t y);

/* ---- listeners (back-ends that show the screen) ---- */

struct display_listener_ops {
	/* The surface changed size: fb (never moves), w, h, stride in bytes. */
	void (*mode)(void *opaque, void *fb, uint32_t w, uint32_t h, uint32_t stride);
	/* A rectangle of the surface changed. */
	void (*damage)(void *opaque, const struct display_rect *r);
	/* The pointer image changed (NULL cursor: hidden). */
	void (*cursor)(void *opaque, const struct display_cursor *c);
	/* The guest moved its pointer to (x, y). Optional (viewers with an absolute pointer
	 * draw their own; the vhost-user-gpu socket forwards it). */
	void (*cursor_pos)(void *opaque, uint32_t x, uint32_t y);
};

struct display_listener;
/* The listener gets the current mode at once. Returns a handle for display_listener_remove. */
int display_listener_add(struct display *d, const struct display_listener_ops *ops, void *opaque,
			 struct display_listener **out) WUR;
void display_listener_remove(struct display_listener *l);

/* ---- input (back-ends -> input devices) ---- */

/* Linux input event codes (linux/input-event-codes.h): keys are KEY_*; pointer coordinates are
 * scaled to [0, DISPLAY_ABS_MAX] over the screen; buttons are BTN_LEFT/RIGHT/MIDDLE. */
#define DISPLAY_ABS_MAX 32767u
struct display_input_ops {
	void (*key)(void *opaque, uint16_t code, bool down);
	/* x, y in [0, DISPLAY_ABS_MAX]; buttons: bit 0 left, 1 middle, 2 right; wheel: steps
	 * (positive = up). Sent when anything changed. */
	void (*pointer)(void *opaque, uint32_t x, uint32_t y, uint32_t buttons, int wheel);
};
/* At most one keyboard and one pointer sink; ops members may be NULL. Set before back-ends
 * start and cleared (NULL) only after they stopped. */
void display_set_keyboard(struct display *d, const struct display_input_ops *ops, void *opaque);
void display_set_pointer(struct display *d, const struct display_input_ops *ops, void *opaque);
/* For back-ends: deliver input (dropped when no sink). */
void display_input_key(struct display *d, uint16_t code, bool down);
void display_input_pointer(struct display *d, uint32_t x, uint32_t y, uint32_t buttons, int wheel);
/* For back-ends: a viewer asked for w x h (posted to the loop thread). */
void display_request_resize(struct display *d, uint32_t w, uint32_t h);

#endif
