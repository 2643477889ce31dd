/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk over a raw image (regular file or block device), see docs/devices/blk.md.
 * The device is transport-independent: attach the returned struct virtio_dev to virtio-pci or
 * serve it from the vhost-user backend, and free it with virtio_dev_destroy().
 */
#ifndef VIREO_DEVICES_VIRTIO_BLK_H
#define VIREO_DEVICES_VIRTIO_BLK_H

#include <stddef.h>
#include "base/util.h"
#include "config/config.h"
#include "virtio/virtio.h"

/* Open cfg->path (locked, see backends/disk.h) and create the device named `name` (log prefix,
 * e.g. "blk0"). On error returns -errno and writes a one-line reason to err, e.g.
 * "disk /x.img: already in use by another process". */
int vblk_create(const struct disk_config *cfg, const char *name, struct virtio_dev **out,
		char *err, size_t errlen) WUR;
/* Tests/benchmarks: use synchronous preadv/pwritev instead of io_uring from the next
 * activation on. */
void vblk_force_sync(struct virtio_dev *dev, bool on);
/* Tests: whether every queue does its I/O through io_uring (false before the first
 * activation, with vblk_force_sync, or where io_uring is unavailable). */
bool vblk_uses_io_uring(struct virtio_dev *dev);

#endif
