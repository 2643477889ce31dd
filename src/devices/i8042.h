/* SPDX-License-Identifier: MIT */
/*
 * A minimal i8042 keyboard controller at 0x60 (data) and 0x64 (status/command): enough for
 * a guest to reset the machine (command 0xFE, or 0xD1 with output-port bit 0 clear) and for
 * Linux's i8042 probe to pass quickly (command byte 0x20/0x60, self-tests 0xAA/0xAB/0xA9,
 * 0xD2/0xD3 output-buffer writes). No keyboard or mouse is attached and no interrupts are
 * raised; data written to the keyboard is dropped. Port 0x61 (speaker) is KVM's, not ours.
 */
#ifndef VIREO_DEVICES_I8042_H
#define VIREO_DEVICES_I8042_H

#include <stdint.h>
#include "base/util.h"
#include "bus/bus.h"

/* Called on a vCPU thread, without any device lock held, when the guest pulses reset. */
typedef void (*platform_reset_fn)(void *opaque);

struct i8042;

/* Registers 0x60 and 0x64 (one port each) on pio. */
int i8042_create(struct bus *pio, platform_reset_fn on_reset, void *opaque, struct i8042 **out) WUR;
/* Removes the ranges (call before bus_fini, vCPUs stopped). */
void i8042_destroy(struct i8042 *k);

#endif
