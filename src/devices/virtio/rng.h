/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (device type 4): one queue whose writable buffers are filled from getrandom(),
 * optionally limited to `rate` bytes per second (a token bucket with a one-second burst). When
 * the bucket is empty the device keeps the driver's buffers and serves them when tokens are
 * back (a timer on the event loop); it never returns an empty buffer.
 */
#ifndef VIREO_DEVICES_VIRTIO_RNG_H
#define VIREO_DEVICES_VIRTIO_RNG_H

#include <stdint.h>
#include "base/util.h"
#include "virtio/virtio.h"

/* Bytes written per request at most (the driver asks for far less). */
#define VRNG_MAX_PER_REQUEST (64 * 1024)

/* Create the device named `name` (log prefix, e.g. "rng0"); free with virtio_dev_destroy().
 * rate: bytes per second, 0 = unlimited. */
int vrng_create_rate(const char *name, uint64_t rate, struct virtio_dev **out) WUR;
static inline int vrng_create(const char *name, struct virtio_dev **out)
{
	return vrng_create_rate(name, 0, out);
}
/* Bytes handed to the driver since creation. */
uint64_t vrng_bytes(struct virtio_dev *dev);

#endif
