/* SPDX-License-Identifier: MIT */
/*
 * virtio-input (VirtIO 1.2, 5.8): a keyboard or a tablet (absolute pointer with three buttons
 * and a wheel), fed by the display back-ends through struct display_input_ops. Transport
 * independent like blk.c: attach the device to virtio-pci (or serve it over vhost-user) and
 * free it with virtio_dev_destroy().
 *
 * Events wait in a bounded ring (VINPUT_PENDING_MAX) until the driver posts buffers on the
 * event queue; a driver that never reads loses the newest events (one rate-limited line), never
 * host memory. Events are dropped while the driver has not set DRIVER_OK.
 */
#ifndef VIREO_DEVICES_VIRTIO_INPUT_H
#define VIREO_DEVICES_VIRTIO_INPUT_H

#include <stdint.h>
#include "backends/display.h"
#include "base/util.h"
#include "virtio/virtio.h"

#define VINPUT_PENDING_MAX 256u
#define VINPUT_QUEUE_SIZE 64u

enum vinput_kind {
	VINPUT_KEYBOARD,
	VINPUT_TABLET,
};

struct vinput_event {
	uint16_t type, code;
	int32_t value;
};

/* name: log prefix, e.g. "input0". */
int vinput_create(enum vinput_kind kind, const char *name, struct virtio_dev **out) WUR;
/* Queue n events and a SYN_REPORT as one report (all or nothing), deliver what the driver has
 * buffers for, and interrupt. Any thread. Returns false when the report was dropped. */
bool vinput_send(struct virtio_dev *dev, const struct vinput_event *ev, unsigned n);
/* Events dropped so far because the driver was not reading (tests, diagnostics). */
uint64_t vinput_dropped(struct virtio_dev *dev);
/* The display sink for this device (keyboard: key; tablet: pointer); opaque is the dev. */
extern const struct display_input_ops vinput_display_ops;

#endif
