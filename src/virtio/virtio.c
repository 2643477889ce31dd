/* SPDX-License-Identifier: MIT */
/*
 * The transport-independent virtio device core: status state machine, feature negotiation,
 * reset, NEEDS_RESET, config space clamping, queue registers and interrupts. Activation and the
 * reset of a live device are deferred to the loop thread (see virtio.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "base/log.h"
#include "virtio/virtio.h"

#define ISR_QUEUE 0x1u
#define ISR_CONFIG 0x2u

#define CORE_FEATURES                                                                              \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |                        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

/* Status bits a driver may set; NEEDS_RESET is the device's. */
#define DRIVER_STATUS_BITS                                                                         \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |       \
	 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED)

static void virtio_work(void *opaque);

int virtio_dev_init(struct virtio_dev *dev, const struct virtio_dev_ops *ops, const char *name,
		    uint32_t device_id, uint64_t device_features, uint16_t nr_queues,
		    uint16_t queue_max, void *config, uint32_t config_len)
{
	static const struct virtio_dev_ops no_ops;
	pthread_mutexattr_t attr;

	if (!IS_POW2(queue_max) || queue_max > VQ_MAX_SIZE || nr_queues == 0)
		return -EINVAL;
	memset(dev, 0, sizeof(*dev));
	dev->ops = ops ? ops : &no_ops;
	snprintf(dev->name, sizeof(dev->name), "%s", name ? name : "virtio");
	dev->device_id = device_id;
	dev->device_features = device_features | CORE_FEATURES;
	if (dev->ops->features)
		dev->device_features |= dev->ops->features(dev);
	dev->config = config;
	dev->config_len = config ? config_len : 0;
	dev->queues = calloc(nr_queues, sizeof(*dev->queues));
	if (!dev->queues)
		return -ENOMEM;
	dev->nr_queues = nr_queues;
	for (uint16_t i = 0; i < nr_queues; i++)
		vq_init(&dev->queues[i], dev, i, queue_max);
	ev_work_init(&dev->work, virtio_work, dev);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&dev->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return 0;
}

void virtio_dev_fini(struct virtio_dev *dev)
{
	free(dev->queues);
	dev->queues = NULL;
	dev->nr_queues = 0;
	pthread_mutex_destroy(&dev->lock);
}

void virtio_dev_lock(struct virtio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
}

void virtio_dev_unlock(struct virtio_dev *dev)
{
	pthread_mutex_unlock(&dev->lock);
}

/* The device has stopped: back to the power-on state, device_status reads 0. */
static void finish_reset_locked(struct virtio_dev *dev)
{
	dev->active = false;
	dev->failed = false;
	dev->activating = false;
	dev->resetting = false;
	dev->reset_started = false;
	dev->status = 0;
	dev->driver_features = 0;
	dev->features = 0;
	__atomic_store_n(&dev->isr, 0, __ATOMIC_SEQ_CST);
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		vq_reset(&dev->queues[i]);
}

/* Reset now, waiting for in-flight work (also completes a reset in progress). */
static void reset_sync_locked(struct virtio_dev *dev)
{
	dev->activating = false;
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		vq_stop(&dev->queues[i]);
	if (dev->active && dev->ops->reset)
		(void)dev->ops->reset(dev, true);
	finish_reset_locked(dev);
}

/* The driver wrote 0. A live device with a loop finishes on the loop (virtio_work). */
static void request_reset_locked(struct virtio_dev *dev)
{
	dev->activating = false; /* an activation that has not run yet never will */
	if (!dev->active || !dev->loop) {
		reset_sync_locked(dev);
		return;
	}
	dev->resetting = true;
	dev->reset_started = false;
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		vq_stop(&dev->queues[i]);
	ev_post(dev->loop, &dev->work);
}

void virtio_dev_reset_done(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	if (dev->resetting && dev->reset_started)
		finish_reset_locked(dev);
	virtio_dev_unlock(dev);
}

void virtio_dev_destroy(struct virtio_dev *dev)
{
	if (!dev)
		return;
	ev_cancel(dev->loop, &dev->work);
	virtio_dev_lock(dev);
	reset_sync_locked(dev);
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		if (dev->queues[i].popped)
			log_info("%s: queue %u: %llu requests", dev->name, i,
				 (unsigned long long)dev->queues[i].popped);
	virtio_dev_unlock(dev);
	const struct virtio_dev_ops *ops = dev->ops;
	virtio_dev_fini(dev);
	if (ops->destroy)
		ops->destroy(dev);
}

static void raise_config_locked(struct virtio_dev *dev)
{
	__atomic_or_fetch(&dev->isr, ISR_CONFIG, __ATOMIC_SEQ_CST);
	if (dev->irq && dev->irq->notify_config)
		dev->irq->notify_config(dev->irq_opaque);
}

void virtio_dev_fail(struct virtio_dev *dev, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	virtio_dev_lock(dev);
	if (dev->failed) {
		virtio_dev_unlock(dev);
		return;
	}
	dev->failed = true;
	for (uint16_t i = 0; i < dev->nr_queues; i++)
		vq_stop(&dev->queues[i]);
	dev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (!dev->resetting) /* a reset in progress clears it anyway: no interrupt for it */
		raise_config_locked(dev);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_rl(LOG_WARN, "%s: %s (device needs reset)", dev->name, msg);
	virtio_dev_unlock(dev);
}

void virtio_notify_queue(struct virtio_dev *dev, uint16_t q)
{
	virtio_dev_lock(dev);
	if (q < dev->nr_queues && vq_should_notify(&dev->queues[q])) {
		__atomic_or_fetch(&dev->isr, ISR_QUEUE, __ATOMIC_SEQ_CST);
		if (dev->irq && dev->irq->notify_queue)
			dev->irq->notify_queue(dev->irq_opaque, q);
	}
	virtio_dev_unlock(dev);
}

void virtio_notify_config(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	dev->config_generation++;
	raise_config_locked(dev);
	virtio_dev_unlock(dev);
}

void virtio_dev_attach(struct virtio_dev *dev, const struct guest_mem *mem, struct ev_loop *loop,
		       const struct virtio_irq_ops *irq, void *irq_opaque)
{
	virtio_dev_lock(dev);
	if (dev->loop != loop)
		ev_cancel(dev->loop, &dev->work);
	dev->mem = mem;
	dev->loop = loop;
	dev->irq = irq;
	dev->irq_opaque = irq_opaque;
	virtio_dev_unlock(dev);
}

/* ---- features ---- */

static bool features_ok(const struct virtio_dev *dev, uint64_t f)
{
	return (f & ~dev->device_features) == 0 && (f >> VIRTIO_F_VERSION_1) & 1;
}

uint32_t virtio_get_device_features(struct virtio_dev *dev, uint32_t page)
{
	if (page > 1)
		return 0;
	return (uint32_t)(dev->device_features >> (32 * page));
}

void virtio_set_driver_features(struct virtio_dev *dev, uint32_t page, uint32_t value)
{
	virtio_dev_lock(dev);
	if (page <= 1 && !(dev->status & VIRTIO_CONFIG_S_FEATURES_OK) && !dev->resetting) {
		unsigned sh = 32 * page;
		dev->driver_features &= ~(0xffffffffULL << sh);
		dev->driver_features |= (uint64_t)value << sh;
	}
	virtio_dev_unlock(dev);
}

uint32_t virtio_get_driver_features(struct virtio_dev *dev, uint32_t page)
{
	if (page > 1)
		return 0;
	virtio_dev_lock(dev);
	uint32_t v = (uint32_t)(dev->driver_features >> (32 * page));
	virtio_dev_unlock(dev);
	return v;
}

uint64_t virtio_device_features(struct virtio_dev *dev)
{
	return dev->device_features;
}

/* Ready queues follow the negotiated ring features. */
static void queues_take_features(struct virtio_dev *dev)
{
	for (uint16_t i = 0; i < dev->nr_queues; i++) {
		struct virtqueue *vq = &dev->queues[i];
		vq->event_idx = virtio_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
		vq->indirect = virtio_has_feature(dev, VIRTIO_RING_F_INDIRECT_DESC);
	}
}

int virtio_set_features(struct virtio_dev *dev, uint64_t features)
{
	virtio_dev_lock(dev);
	if (!features_ok(dev, features)) {
		virtio_dev_unlock(dev);
		return -EINVAL;
	}
	dev->driver_features = features;
	dev->features = features;
	dev->status |= VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK;
	queues_take_features(dev);
	virtio_dev_unlock(dev);
	return 0;
}

/* ---- status ---- */

static void activate_locked(struct virtio_dev *dev)
{
	struct virtio_ctx ctx = {
		.mem = dev->mem,
		.queues = dev->queues,
		.nr_queues = dev->nr_queues,
		.loop = dev->loop,
	};
	queues_take_features(dev);
	int r = dev->ops->activate ? dev->ops->activate(dev, &ctx) : 0;
	if (r < 0) {
		virtio_dev_fail(dev, "activation failed: %s", strerror(-r));
		return;
	}
	dev->active = true;
}

/* Kicks that came while the activation was pending. */
static void deliver_pending_kicks_locked(struct virtio_dev *dev)
{
	for (uint16_t i = 0; i < dev->nr_queues; i++) {
		struct virtqueue *vq = &dev->queues[i];
		if (!vq->kick_pending)
			continue;
		vq->kick_pending = false;
		if (virtio_dev_live(dev) && vq->ready && dev->ops->queue_notify)
			dev->ops->queue_notify(dev, i);
	}
}

/* On the loop thread: the deferred half of status writes. */
static void virtio_work(void *opaque)
{
	struct virtio_dev *dev = opaque;

	virtio_dev_lock(dev);
	if (dev->resetting && !dev->reset_started) {
		dev->reset_started = true;
		int r = dev->ops->reset ? dev->ops->reset(dev, false) : 0;
		if (r != -EINPROGRESS)
			finish_reset_locked(dev);
	}
	if (dev->activating && !dev->resetting) {
		dev->activating = false;
		if (!dev->failed)
			activate_locked(dev);
		deliver_pending_kicks_locked(dev);
	}
	virtio_dev_unlock(dev);
}

uint8_t virtio_get_status(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	uint8_t s = dev->status;
	virtio_dev_unlock(dev);
	return s;
}

void virtio_reset(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	reset_sync_locked(dev);
	virtio_dev_unlock(dev);
}

void virtio_set_status(struct virtio_dev *dev, uint8_t val)
{
	virtio_dev_lock(dev);
	if (dev->resetting) {
		/* The driver must wait for 0 before it writes again. */
		log_rl(LOG_DEBUG, "%s: status 0x%x written while a reset is in progress: ignored",
		       dev->name, val);
		virtio_dev_unlock(dev);
		return;
	}
	if (val == 0) {
		request_reset_locked(dev);
		virtio_dev_unlock(dev);
		return;
	}
	uint8_t old = dev->status;
	uint8_t add = (uint8_t)(val & DRIVER_STATUS_BITS & ~old);
	dev->status = (uint8_t)(old | add);
	if (add & VIRTIO_CONFIG_S_FEATURES_OK) {
		if (features_ok(dev, dev->driver_features))
			dev->features = dev->driver_features;
		else
			dev->status &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	if (add & VIRTIO_CONFIG_S_DRIVER_OK) {
		if (!(dev->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
			dev->status &= (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK;
			virtio_dev_fail(dev, "DRIVER_OK without accepted FEATURES_OK");
		} else if (!dev->failed && !dev->loop) {
			activate_locked(dev);
		} else if (!dev->failed) {
			dev->activating = true;
			ev_post(dev->loop, &dev->work);
		}
	}
	if (add & VIRTIO_CONFIG_S_FAILED) {
		for (uint16_t i = 0; i < dev->nr_queues; i++)
			vq_stop(&dev->queues[i]);
	}
	virtio_dev_unlock(dev);
}

int virtio_dev_activate(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	if (dev->active) {
		virtio_dev_unlock(dev);
		return 0;
	}
	if (dev->resetting || !features_ok(dev, dev->features)) {
		virtio_dev_unlock(dev);
		return -EINVAL;
	}
	dev->status |= VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	activate_locked(dev);
	int r = dev->active ? 0 : -EIO;
	virtio_dev_unlock(dev);
	return r;
}

uint32_t virtio_config_generation(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	uint32_t g = dev->config_generation;
	virtio_dev_unlock(dev);
	return g;
}

/* ---- config space ---- */

void virtio_read_config(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len)
{
	memset(data, 0, len);
	virtio_dev_lock(dev);
	if (off < dev->config_len) {
		uint32_t n = MIN(len, dev->config_len - off);
		if (dev->ops->read_config)
			dev->ops->read_config(dev, off, data, n);
		else
			memcpy(data, (const uint8_t *)dev->config + off, n);
	}
	virtio_dev_unlock(dev);
}

void virtio_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
	virtio_dev_lock(dev);
	if (off < dev->config_len && dev->ops->write_config && !dev->resetting) {
		uint32_t n = MIN(len, dev->config_len - off);
		dev->ops->write_config(dev, off, data, n);
	}
	virtio_dev_unlock(dev);
}

uint8_t virtio_isr_read(struct virtio_dev *dev)
{
	return __atomic_exchange_n(&dev->isr, 0, __ATOMIC_SEQ_CST);
}

/* ---- queues ---- */

uint16_t virtio_queue_max(struct virtio_dev *dev, uint16_t q)
{
	return q < dev->nr_queues ? dev->queues[q].max_size : 0;
}

uint16_t virtio_queue_get_size(struct virtio_dev *dev, uint16_t q)
{
	if (q >= dev->nr_queues)
		return 0;
	virtio_dev_lock(dev);
	uint16_t s = dev->queues[q].size;
	virtio_dev_unlock(dev);
	return s;
}

int virtio_queue_set_size(struct virtio_dev *dev, uint16_t q, uint16_t size)
{
	if (q >= dev->nr_queues)
		return -EINVAL;
	int r = 0;
	virtio_dev_lock(dev);
	if (dev->queues[q].ready || dev->resetting)
		r = -EBUSY;
	else
		dev->queues[q].size = size;
	virtio_dev_unlock(dev);
	return r;
}

uint64_t virtio_queue_get_addr(struct virtio_dev *dev, uint16_t q, enum virtio_ring_part part)
{
	if (q >= dev->nr_queues)
		return 0;
	virtio_dev_lock(dev);
	struct virtqueue *vq = &dev->queues[q];
	uint64_t v = part == VIRTIO_RING_DESC	 ? vq->desc_gpa
		     : part == VIRTIO_RING_AVAIL ? vq->avail_gpa
						 : vq->used_gpa;
	virtio_dev_unlock(dev);
	return v;
}

int virtio_queue_set_addr(struct virtio_dev *dev, uint16_t q, enum virtio_ring_part part,
			  uint64_t gpa)
{
	if (q >= dev->nr_queues)
		return -EINVAL;
	int r = 0;
	virtio_dev_lock(dev);
	struct virtqueue *vq = &dev->queues[q];
	if (vq->ready || dev->resetting)
		r = -EBUSY;
	else if (part == VIRTIO_RING_DESC)
		vq->desc_gpa = gpa;
	else if (part == VIRTIO_RING_AVAIL)
		vq->avail_gpa = gpa;
	else if (part == VIRTIO_RING_USED)
		vq->used_gpa = gpa;
	else
		r = -EINVAL;
	virtio_dev_unlock(dev);
	return r;
}

int virtio_queue_enable(struct virtio_dev *dev, uint16_t q)
{
	if (q >= dev->nr_queues)
		return -EINVAL;
	virtio_dev_lock(dev);
	struct virtqueue *vq = &dev->queues[q];
	int r = 0;
	if (dev->resetting) {
		r = -EBUSY;
	} else if (!vq->ready && !dev->failed) {
		r = vq_setup(vq, dev->mem, dev->features);
		if (r < 0)
			virtio_dev_fail(dev,
					"queue %u: bad geometry (size %u, desc 0x%llx, avail 0x%llx, used 0x%llx)",
					q, vq->size, (unsigned long long)vq->desc_gpa,
					(unsigned long long)vq->avail_gpa,
					(unsigned long long)vq->used_gpa);
	} else if (dev->failed) {
		r = -EIO;
	}
	virtio_dev_unlock(dev);
	return r;
}

bool virtio_queue_enabled(struct virtio_dev *dev, uint16_t q)
{
	if (q >= dev->nr_queues)
		return false;
	virtio_dev_lock(dev);
	bool r = dev->queues[q].ready;
	virtio_dev_unlock(dev);
	return r;
}

uint16_t virtio_queue_stop(struct virtio_dev *dev, uint16_t q)
{
	if (q >= dev->nr_queues)
		return 0;
	virtio_dev_lock(dev);
	if (dev->active && dev->ops->queue_stop)
		dev->ops->queue_stop(dev, q);
	vq_stop(&dev->queues[q]);
	uint16_t idx = dev->queues[q].last_avail_idx;
	virtio_dev_unlock(dev);
	return idx;
}

int virtio_queue_set_last_avail(struct virtio_dev *dev, uint16_t q, uint16_t idx)
{
	if (q >= dev->nr_queues)
		return -EINVAL;
	int r = 0;
	virtio_dev_lock(dev);
	struct virtqueue *vq = &dev->queues[q];
	if (vq->ready) {
		r = -EBUSY;
	} else {
		vq->last_avail_idx = idx;
		vq->used_idx = idx;
		vq->signalled_used_valid = false;
	}
	virtio_dev_unlock(dev);
	return r;
}

uint16_t virtio_queue_get_last_avail(struct virtio_dev *dev, uint16_t q)
{
	if (q >= dev->nr_queues)
		return 0;
	virtio_dev_lock(dev);
	uint16_t idx = dev->queues[q].last_avail_idx;
	virtio_dev_unlock(dev);
	return idx;
}

void virtio_queue_kick(struct virtio_dev *dev, uint16_t q)
{
	if (q >= dev->nr_queues)
		return;
	virtio_dev_lock(dev);
	struct virtqueue *vq = &dev->queues[q];
	if (dev->activating && !dev->failed && vq->ready)
		vq->kick_pending = true; /* delivered once the loop has activated the device */
	else if (virtio_dev_live(dev) && vq->ready && dev->ops->queue_notify)
		dev->ops->queue_notify(dev, q);
	virtio_dev_unlock(dev);
}

int virtio_dev_set_mem(struct virtio_dev *dev, const struct guest_mem *mem)
{
	int r = 0;
	virtio_dev_lock(dev);
	dev->mem = mem;
	for (uint16_t i = 0; i < dev->nr_queues && r == 0; i++) {
		struct virtqueue *vq = &dev->queues[i];
		if (!vq->ready)
			continue;
		vq->ready = false;
		r = vq_setup(vq, mem, dev->features);
		if (r < 0)
			virtio_dev_fail(dev, "queue %u: rings outside the new memory table", i);
	}
	virtio_dev_unlock(dev);
	return r;
}
