/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon (device type 5), see docs/devices/balloon.md. Transport-independent: attach
 * the returned device to virtio-pci and free it with virtio_dev_destroy().
 *
 * The control functions below are thread-safe (they take the device lock) and are what the
 * management API uses: vbal_set_target() for `vm.resize`, vbal_get_info() for counters and
 * the guest's statistics.
 */
#ifndef VIREO_DEVICES_VIRTIO_BALLOON_H
#define VIREO_DEVICES_VIRTIO_BALLOON_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "base/util.h"
#include "config/config.h"
#include "virtio/virtio.h"

/* Statistics tags kept (VIRTIO_BALLOON_S_*: 0..9 in the UAPI header, newer kernels send
 * more); larger tags are ignored. */
#define VBAL_MAX_TAGS 16

struct vbal_info {
	uint64_t target_bytes;	 /* what the host asks the balloon to hold */
	uint64_t actual_bytes;	 /* what the driver says the balloon holds (config `actual`) */
	uint64_t inflated_bytes; /* given back to the host through the inflate queue, total */
	uint64_t deflated_bytes; /* taken back by the guest through the deflate queue, total */
	uint64_t reported_bytes; /* given back through free page reporting, total */
	uint64_t discard_errors; /* ranges the host could not release (logged) */
	bool deflate_on_oom;	 /* negotiated */
	bool free_page_reporting;
	bool stats_valid;	/* stats[] hold the driver's last report */
	uint64_t stats_age_ns;	/* how long ago that report arrived */
	uint32_t stats_present; /* bit t set: tag t was in the report */
	uint64_t stats[VBAL_MAX_TAGS];
};

/* On error returns -errno with a one-line reason in err. mem_size: guest RAM, the largest
 * target accepted. */
int vbal_create(const struct balloon_config *cfg, uint64_t mem_size, const char *name,
		struct virtio_dev **out, char *err, size_t errlen) WUR;
/* Ask the guest to grow/shrink the balloon to `bytes` (rounded down to 4 KiB pages). Raises
 * a config interrupt when the driver runs. -EINVAL above guest RAM. */
int vbal_set_target(struct virtio_dev *dev, uint64_t bytes) WUR;
void vbal_get_info(struct virtio_dev *dev, struct vbal_info *out);
/* Hand the driver's statistics buffer back so it sends fresh values (no-op when the device
 * holds none). */
void vbal_request_stats(struct virtio_dev *dev);

#endif
