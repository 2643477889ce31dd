/* SPDX-License-Identifier: MIT */
/* virtio-rng (device type 4): one queue whose writable buffers are filled from getrandom(). */
#ifndef VIREO_DEVICES_VIRTIO_RNG_H
#define VIREO_DEVICES_VIRTIO_RNG_H

#include "base/util.h"
#include "virtio/virtio.h"

/* Bytes written per request at most (the driver asks for far less). */
#define VRNG_MAX_PER_REQUEST (64 * 1024)

/* Create the device named `name` (log prefix, e.g. "rng0"); free with virtio_dev_destroy(). */
int vrng_create(const char *name, struct virtio_dev **out) WUR;

#endif
