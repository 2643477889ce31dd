/* SPDX-License-Identifier: MIT */
/*
 * The `--display screenshot=PATH` trigger: PATH is (re)written as a PNG each time vireo gets
 * SIGUSR2 (which vm_block_signals() blocks in every thread; this reads it from a signalfd on the
 * loop) and once more when the VM stops (display_snap_destroy). display_screenshot() itself
 * is in display.h.
 */
#ifndef VIREO_BACKENDS_DISPLAY_PNG_H
#define VIREO_BACKENDS_DISPLAY_PNG_H

#include "base/util.h"

struct display;
struct ev_loop;
struct display_snap;

int display_snap_create(struct display *d, struct ev_loop *loop, const char *path,
			struct display_snap **out) WUR;
/* Writes the final screenshot, then frees. NULL-safe. */
void display_snap_destroy(struct display_snap *s);
void display_snap_destroy_opaque(void *s);

#endif
