/* SPDX-License-Identifier: MIT */
/*
 * EDID 1.4 base blocks (VESA E-EDID) for vireo's virtual monitors: virtio-gpu answers
 * GET_EDID with one, the firmware screen (bochs-display) exposes one in its MMIO BAR.
 */
#ifndef VIREO_DEVICES_EDID_H
#define VIREO_DEVICES_EDID_H

#include <stdint.h>

#define EDID_BLOCK_LEN 128u
#define EDID_MAX_DIM 4095u /* the detailed timing descriptor holds 12 bits per side */

/* A monitor whose preferred (native) mode is w x h at 60 Hz (CVT reduced blanking timings;
 * the refresh drops when the pixel clock would not fit). w and h are clamped to
 * [1, EDID_MAX_DIM]. name: the product name (up to 13 characters are kept). */
void edid_build(uint8_t out[EDID_BLOCK_LEN], uint32_t w, uint32_t h, const char *name);

#endif
