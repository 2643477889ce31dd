/* SPDX-License-Identifier: MIT */
/* Port 0x80, the POST-code port: writes are kept silently, reads return the last value (0 at
 * first). Firmware and Linux (io delays) write it often, so nothing is logged. */
#ifndef VIREO_DEVICES_POST_H
#define VIREO_DEVICES_POST_H

#include <stdint.h>
#include "base/util.h"
#include "bus/bus.h"

struct post;

int post_create(struct bus *pio, uint16_t port, struct post **out) WUR;
void post_destroy(struct post *p);
/* The last POST code written (for debugging and tests). */
uint8_t post_last(struct post *p);

#endif
