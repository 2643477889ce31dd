/* SPDX-License-Identifier: MIT */
/*
 * The virtio device core: features, status state machine, reset, NEEDS_RESET, config space,
 * queues and interrupts, independent of transport (virtio-pci, vhost-user backend) and of the
 * event loop. A device embeds struct virtio_dev FIRST and supplies a static const ops table;
 * every op is optional (the core has defaults).
 *
 * Two users drive a device:
 *  - a transport (virtio-pci): virtio_get_device_features/virtio_set_driver_features page by
 *    page, virtio_set_status (0 = reset; FEATURES_OK is kept only for an acceptable feature
 *    set; DRIVER_OK activates), per-queue size/address/enable, virtio_queue_kick from the
 *    ioeventfd, virtio_read/write_config with any offset (clamped here), virtio_isr_read.
 *  - the vhost-user backend: virtio_set_features (64-bit), virtio_dev_set_mem on
 *    SET_MEM_TABLE, virtio_queue_set_size/addr/last_avail, virtio_dev_activate (no status
 *    register), virtio_queue_enable to start a ring, virtio_queue_stop for GET_VRING_BASE,
 *    virtio_queue_kick when its kick fd fires.
 * Both implement struct virtio_irq_ops.
 *
 * Threading: every function here takes dev->lock itself (vCPU threads write registers while
 * the loop thread processes queues). Device ops are called with dev->lock held. Device code
 * that runs from its own loop callbacks (e.g. I/O completions) takes virtio_dev_lock() around
 * queue access. Calling back into virtio_* functions from an op is allowed (the lock is
 * recursive).
 *
 * Status writes never wait (they come from vCPU threads): when the device has a loop,
 * virtio_set_status() only records what the driver asked for and the loop thread does the
 * work (ARCHITECTURE.md: a vCPU exit never blocks on I/O):
 *  - DRIVER_OK: ops->activate runs on the loop. Kicks that arrive before it has run are
 *    remembered per queue and delivered (ops->queue_notify) right after it.
 *  - 0 (reset) of a live device: the queues stop at once (no more pops or used-ring writes),
 *    then ops->reset(dev, false) runs on the loop; a device with work in flight returns
 *    -EINPROGRESS and calls virtio_dev_reset_done() when it is finished. Until then
 *    device_status reads the old value, as the spec allows (VirtIO 1.2, 2.4: the driver polls
 *    device_status after writing 0 until it reads 0), and every other driver write is ignored.
 *    A device that is not live resets at once.
 * Without a loop (unit tests, fuzzers) both happen inline. virtio_reset() (teardown, vhost-user)
 * is synchronous: ops->reset(dev, true) waits for in-flight work.
 *
 * Guest errors: virtio_dev_fail() sets VIRTIO_CONFIG_S_NEEDS_RESET, raises the config
 * interrupt, stops every queue and logs one rate-limited line "<name>: <reason>". The guest
 * recovers with a reset. The VMM keeps running.
 */
#ifndef VIREO_VIRTIO_VIRTIO_H
#define VIREO_VIRTIO_VIRTIO_H

#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "base/ev_loop.h"
#include "base/util.h"
#include "mem/guest_mem.h"
#include "virtio/virtqueue.h"

struct ev_loop;
struct virtio_dev;

/* Implemented by the transport. Called with dev->lock held, from any thread. */
struct virtio_irq_ops {
	void (*notify_queue)(void *opaque, uint16_t queue); /* used buffers on `queue` */
	void (*notify_config)(void *opaque);                /* config change / NEEDS_RESET */
};

/* What a device gets when the driver sets DRIVER_OK (or vhost-user activates it). */
struct virtio_ctx {
	const struct guest_mem *mem;
	struct virtqueue *queues;
	uint16_t nr_queues;
	struct ev_loop *loop; /* may be NULL (tests): devices then complete synchronously */
};

struct virtio_dev_ops {
	/* Extra device feature bits, beyond what virtio_dev_init got (rarely needed). */
	uint64_t (*features)(struct virtio_dev *dev);
	/* Offsets and lengths are clamped by the core to [0, config_len). Default: copy from /
	 * ignore writes to dev->config. */
	void (*read_config)(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len);
	void (*write_config)(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len);
	/* Negotiated features are in dev->features. A failure fails the device (NEEDS_RESET). */
	int (*activate)(struct virtio_dev *dev, const struct virtio_ctx *ctx);
	/* Back to the pre-activation state (called only after a successful activate). The queues
	 * are already stopped. When it returns 0 the device touches neither guest memory nor
	 * the queues any more. wait: finish in-flight work before returning (teardown,
	 * vhost-user). !wait (on the loop thread, for a driver's reset): never block; return
	 * -EINPROGRESS while work is in flight and call virtio_dev_reset_done() from the loop
	 * once it has finished. */
	int (*reset)(struct virtio_dev *dev, bool wait);
	/* The driver kicked queue q (called only while q is ready and the device is live). */
	void (*queue_notify)(struct virtio_dev *dev, uint16_t q);
	/* Drain in-flight requests of queue q (vhost-user GET_VRING_BASE, queue reset). */
	void (*queue_stop)(struct virtio_dev *dev, uint16_t q);
	/* Free the device (the core has already called virtio_dev_fini). */
	void (*destroy)(struct virtio_dev *dev);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	char name[32];        /* log prefix, e.g. "blk0" */
	uint32_t device_id;   /* VIRTIO_ID_* (linux/virtio_ids.h) */
	uint64_t device_features; /* offered: device bits | VERSION_1 | EVENT_IDX | INDIRECT_DESC */
	uint64_t driver_features; /* as written by the driver */
	uint64_t features;        /* negotiated, valid once FEATURES_OK is accepted */
	uint8_t status;
	uint8_t isr;              /* bit 0 queue, bit 1 config (VIRTIO_PCI_ISR_*) */
	uint32_t config_generation;
	void *config;             /* device config space (little-endian), config_len bytes */
	uint32_t config_len;
	struct virtqueue *queues;
	uint16_t nr_queues;
	bool active;              /* ops->activate succeeded and no reset since */
	bool failed;              /* NEEDS_RESET set; logged once until reset */
	bool activating;          /* DRIVER_OK written, ops->activate not run yet (on the loop) */
	bool resetting;           /* 0 written to a live device, reset not finished */
	bool reset_started;       /* ops->reset(dev, false) has run for this reset */
	struct ev_work work;      /* deferred activation / reset on the loop */

	/* Bound by the transport (virtio_dev_attach) / the vhost-user backend. */
	const struct guest_mem *mem;
	struct ev_loop *loop;
	const struct virtio_irq_ops *irq;
	void *irq_opaque;

	pthread_mutex_t lock; /* recursive */
};

/* ---- device side ---- */

/* Initialise the embedded core: allocates nr_queues queues of queue_max entries (a power of
 * two, <= VQ_MAX_SIZE). device_features gets VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX and
 * VIRTIO_RING_F_INDIRECT_DESC added. config/config_len: the device's config struct. */
int virtio_dev_init(struct virtio_dev *dev, const struct virtio_dev_ops *ops, const char *name,
		    uint32_t device_id, uint64_t device_features, uint16_t nr_queues,
		    uint16_t queue_max, void *config, uint32_t config_len) WUR;
void virtio_dev_fini(struct virtio_dev *dev);
/* Reset (drains I/O), virtio_dev_fini, then ops->destroy. NULL-safe. */
void virtio_dev_destroy(struct virtio_dev *dev);

void virtio_dev_lock(struct virtio_dev *dev);
void virtio_dev_unlock(struct virtio_dev *dev);

/* A guest broke the rules: NEEDS_RESET, config interrupt, all queues stopped, one
 * rate-limited log line "<dev->name>: <fmt...>". Idempotent until the next reset. */
void virtio_dev_fail(struct virtio_dev *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A reset that ops->reset returned -EINPROGRESS for has finished (loop thread): device_status
 * reads 0 from now on. */
void virtio_dev_reset_done(struct virtio_dev *dev);
/* Activated, not failed, not being reset: the device may process its queues. */
static inline bool virtio_dev_live(const struct virtio_dev *dev)
{
	return dev->active && !dev->failed && !dev->resetting;
}
/* Raise the queue interrupt if vq_should_notify() says the driver wants one. */
void virtio_notify_queue(struct virtio_dev *dev, uint16_t q);
/* The device changed its config: bump config_generation and raise the config interrupt. */
void virtio_notify_config(struct virtio_dev *dev);
static inline bool virtio_has_feature(const struct virtio_dev *dev, unsigned bit)
{
	return (dev->features >> bit) & 1;
}

/* ---- transport side ---- */

/* Bind memory, loop and interrupt ops (before the driver runs). */
void virtio_dev_attach(struct virtio_dev *dev, const struct guest_mem *mem, struct ev_loop *loop,
		       const struct virtio_irq_ops *irq, void *irq_opaque);

/* Features, 32 bits per page (page 0: bits 0..31, page 1: 32..63; others read 0). */
uint32_t virtio_get_device_features(struct virtio_dev *dev, uint32_t page);
/* Ignored once FEATURES_OK is set or for page > 1. */
void virtio_set_driver_features(struct virtio_dev *dev, uint32_t page, uint32_t value);
uint32_t virtio_get_driver_features(struct virtio_dev *dev, uint32_t page);

/* Status register. 0 resets. Bits are only ever added (clearing needs a reset). Setting
 * FEATURES_OK validates driver_features (a subset of device_features that includes
 * VIRTIO_F_VERSION_1): when not acceptable FEATURES_OK stays clear and the driver sees it on
 * read-back. Setting DRIVER_OK after FEATURES_OK activates the device (a failing activate
 * fails the device). FAILED stops the queues. Never waits: see "Status writes" above. */
uint8_t virtio_get_status(struct virtio_dev *dev);
void virtio_set_status(struct virtio_dev *dev, uint8_t status);
/* Synchronous reset (waits for in-flight work): teardown, hot-unplug, vhost-user back-end.
 * Call it from the loop thread, or when the loop is not running. */
void virtio_reset(struct virtio_dev *dev);
uint32_t virtio_config_generation(struct virtio_dev *dev);

/* Any (off, len) is accepted: bytes outside [0, config_len) read as 0 / are ignored. */
void virtio_read_config(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len);
void virtio_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len);

/* ISR status: read returns the pending bits and clears them (virtio-pci INTx semantics). */
uint8_t virtio_isr_read(struct virtio_dev *dev);

/* Queues. q >= nr_queues: getters return 0 and setters -EINVAL. Setters on a ready queue
 * return -EBUSY and change nothing. Geometry is validated by virtio_queue_enable. */
uint16_t virtio_queue_max(struct virtio_dev *dev, uint16_t q);
uint16_t virtio_queue_get_size(struct virtio_dev *dev, uint16_t q);
int virtio_queue_set_size(struct virtio_dev *dev, uint16_t q, uint16_t size) WUR;
enum virtio_ring_part { VIRTIO_RING_DESC = 0, VIRTIO_RING_AVAIL, VIRTIO_RING_USED };
uint64_t virtio_queue_get_addr(struct virtio_dev *dev, uint16_t q, enum virtio_ring_part part);
int virtio_queue_set_addr(struct virtio_dev *dev, uint16_t q, enum virtio_ring_part part,
			  uint64_t gpa) WUR;
/* virtio-pci queue_enable=1 / vhost-user ring start: validates geometry against dev->mem and
 * the negotiated features. Bad geometry fails the device and returns -EINVAL. */
int virtio_queue_enable(struct virtio_dev *dev, uint16_t q) WUR;
bool virtio_queue_enabled(struct virtio_dev *dev, uint16_t q);
/* Stop a ring (drains its in-flight requests via ops->queue_stop) and return last_avail_idx
 * (vhost-user GET_VRING_BASE). */
uint16_t virtio_queue_stop(struct virtio_dev *dev, uint16_t q);
/* vhost-user SET_VRING_BASE: sets last_avail_idx and used_idx (queue must not be ready). */
int virtio_queue_set_last_avail(struct virtio_dev *dev, uint16_t q, uint16_t idx) WUR;
uint16_t virtio_queue_get_last_avail(struct virtio_dev *dev, uint16_t q);
/* The driver kicked q (ioeventfd / notify register / vhost-user kick fd). No-op unless the
 * device is live (activated, not failed) and q is ready. */
void virtio_queue_kick(struct virtio_dev *dev, uint16_t q);

/* vhost-user: negotiate a 64-bit feature set at once (-EINVAL if not acceptable, i.e. not a
 * subset of the device's or without VERSION_1; the vhost-user protocol bit is the caller's). */
uint64_t virtio_device_features(struct virtio_dev *dev);
int virtio_set_features(struct virtio_dev *dev, uint64_t features) WUR;
/* vhost-user SET_MEM_TABLE: rebind memory; ready queues are re-validated (failure fails the
 * device and returns -EINVAL). */
int virtio_dev_set_mem(struct virtio_dev *dev, const struct guest_mem *mem) WUR;
/* vhost-user: activate without a status register (status becomes ACKNOWLEDGE | DRIVER |
 * FEATURES_OK | DRIVER_OK). Returns 0 if already active. */
int virtio_dev_activate(struct virtio_dev *dev) WUR;

#endif
