/* SPDX-License-Identifier: MIT */
/*
 * The front-end side of vhost-user for `vireo run --disk vhost-user=SOCKET`: a virtio-blk
 * device whose data path lives in an external back-end (`vireo backend blk`,
 * qemu-storage-daemon, ...). To the transport it is an ordinary struct virtio_dev: features
 * and config come from the back-end at creation; at activation the guest memory table (the
 * memfd-backed RAM regions) and every ready ring are handed over; guest kicks are forwarded to
 * the back-end's kick eventfd and its call eventfd raises the queue interrupt.
 */
#ifndef VIREO_VHOST_USER_FRONTEND_H
#define VIREO_VHOST_USER_FRONTEND_H

#include <stddef.h>
#include "base/util.h"
#include "config/config.h"
#include "virtio/virtio.h"

/* Connect to cfg->vhost_user and create the device named `name`. cfg->queues is the number
 * of queues wanted (at most what the back-end has), cfg->queue_size the ring size limit.
 * On error returns -errno with a one-line reason in err. */
int vublk_create(const struct disk_config *cfg, const char *name, struct virtio_dev **out,
		 char *err, size_t errlen) WUR;

#endif
