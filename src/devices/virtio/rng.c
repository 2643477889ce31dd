/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (VirtIO 1.2, 5.4): a single request queue; each chain's device-writable part is
 * filled with up to VRNG_MAX_PER_REQUEST bytes from getrandom() and returned. No config, no
 * feature bits. Readable segments in a request are not the driver's to send: they are
 * skipped (nothing is read from them).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <linux/virtio_ids.h>
#include "devices/virtio/rng.h"

#define VRNG_QUEUE_SIZE 256u

struct vrng {
	struct virtio_dev vdev; /* first */
	struct iovec iov[VRNG_QUEUE_SIZE];
};

static int fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void vrng_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vrng *rng = (struct vrng *)dev;
	struct virtqueue *vq = &dev->queues[q];
	struct vq_chain chain = {.iov = rng->iov, .cap = VRNG_QUEUE_SIZE};
	bool pushed = false;
	int r;

	while ((r = vq_pop(vq, &chain)) > 0) {
		uint32_t written = 0;
		for (uint32_t i = 0; i < chain.nr_in && written < VRNG_MAX_PER_REQUEST; i++) {
			const struct iovec *v = &chain.iov[chain.nr_out + i];
			size_t n = MIN(v->iov_len, (size_t)(VRNG_MAX_PER_REQUEST - written));
			if (fill_random(v->iov_base, n) < 0)
				break;
			written += (uint32_t)n;
		}
		vq_push(vq, chain.head, written);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(dev, q);
}

static void vrng_destroy(struct virtio_dev *dev)
{
	free(dev);
}

static const struct virtio_dev_ops vrng_ops = {
    .queue_notify = vrng_queue_notify,
    .destroy = vrng_destroy,
};

int vrng_create(const char *name, struct virtio_dev **out)
{
	struct vrng *rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	int r = virtio_dev_init(&rng->vdev, &vrng_ops, name, VIRTIO_ID_RNG, 0, 1, VRNG_QUEUE_SIZE,
				NULL, 0);
	if (r < 0) {
		free(rng);
		return r;
	}
	*out = &rng->vdev;
	return 0;
}
