/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (device type 3) with one port (port 0, the guest's hvc0) connected to a
 * chardev (stdio, file, unix socket or pty; backends/chardev.h). See docs/devices/console.md.
 */
#ifndef VIREO_DEVICES_VIRTIO_CONSOLE_H
#define VIREO_DEVICES_VIRTIO_CONSOLE_H

#include <stdint.h>
#include "base/util.h"
#include "virtio/virtio.h"

struct chardev;

/* Create the device named `name` over chr, which it owns from now on (also on failure).
 * When chr is a terminal the device offers VIRTIO_CONSOLE_F_SIZE and follows its size
 * (SIGWINCH): call from the main thread before other threads start. */
int vcon_create(struct chardev *chr, const char *name, struct virtio_dev **out) WUR;
/* The console size changed (also used by tests): raises a config interrupt when the driver
 * negotiated VIRTIO_CONSOLE_F_SIZE. */
void vcon_set_size(struct virtio_dev *dev, uint16_t cols, uint16_t rows);
/* The chardev, e.g. to restore the terminal on exit paths. */
struct chardev *vcon_chardev(struct virtio_dev *dev);

#endif
