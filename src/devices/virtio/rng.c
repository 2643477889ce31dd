/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (VirtIO 1.2, 5.4): a single request queue; each chain's device-writable part is
 * filled with up to VRNG_MAX_PER_REQUEST bytes from getrandom() and returned. No config, no
 * feature bits. Readable segments in a request are not the driver's to send: they are
 * skipped (nothing is read from them). With a rate limit, a request gets at most the tokens
 * available once the bucket holds VRNG_MIN_GRANT (or the whole burst, when smaller); until
 * then the chain stays in the ring and a timer fires when the tokens are there.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <linux/virtio_ids.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "base/ratelimit.h"
#include "devices/virtio/rng.h"

#define VRNG_QUEUE_SIZE 256u
#define VRNG_MIN_GRANT 64u /* a rate-limited request waits for this many tokens */

struct vrng {
	struct virtio_dev vdev; /* first */
	uint64_t rate;
	struct tbucket tb;
	int timer_fd;
	struct ev_handler *timer_h;
	bool timer_armed;
	uint64_t bytes;
	struct iovec iov[VRNG_QUEUE_SIZE];
};

static struct vrng *to_rng(struct virtio_dev *dev)
{
	return container_of(dev, struct vrng, vdev);
}

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

static void arm_timer(struct vrng *rng, uint64_t ns)
{
	struct itimerspec its = {
	    .it_value = {(time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL)},
	};
	if (rng->timer_fd < 0 || rng->timer_armed)
		return;
	if (!ns)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(rng->timer_fd, 0, &its, NULL) == 0)
		rng->timer_armed = true;
}

static void process(struct vrng *rng, uint16_t q)
{
	struct virtio_dev *dev = &rng->vdev;
	struct virtqueue *vq = &dev->queues[q];
	struct vq_chain chain = {.iov = rng->iov, .cap = VRNG_QUEUE_SIZE};
	bool pushed = false;
	int r;

	for (;;) {
		uint64_t now = time_now_ns();
		/* Short of tokens (a request gets VRNG_MIN_GRANT bytes or more, not a trickle of
		 * tiny answers): leave the requests in the ring for the timer. */
		if (rng->rate && tbucket_wait_ns(&rng->tb, VRNG_MIN_GRANT, now)) {
			if (vq_has_avail(vq))
				arm_timer(rng, tbucket_wait_ns(&rng->tb, VRNG_MIN_GRANT, now));
			break;
		}
		if ((r = vq_pop(vq, &chain)) <= 0)
			break;
		uint32_t want = MIN(chain.in_len, (uint32_t)VRNG_MAX_PER_REQUEST);
		uint32_t budget = (uint32_t)tbucket_take(&rng->tb, want, now);
		uint32_t written = 0;
		for (uint32_t i = 0; i < chain.nr_in && written < budget; i++) {
			const struct iovec *v = &chain.iov[chain.nr_out + i];
			size_t n = MIN(v->iov_len, (size_t)(budget - written));
			if (fill_random(v->iov_base, n) < 0)
				break;
			written += (uint32_t)n;
		}
		rng->bytes += written;
		vq_push(vq, chain.head, written);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(dev, q);
}

static void vrng_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	process(to_rng(dev), q);
}

static void timer_cb(void *opaque, uint32_t events)
{
	struct vrng *rng = opaque;
	struct virtio_dev *dev = &rng->vdev;
	uint64_t exp;

	(void)events;
	if (read(rng->timer_fd, &exp, sizeof(exp)) < 0) {
		/* spurious: nothing expired */
	}
	virtio_dev_lock(dev);
	rng->timer_armed = false;
	if (dev->active && !dev->failed && dev->queues[0].ready)
		process(rng, 0);
	virtio_dev_unlock(dev);
}

static int vrng_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vrng *rng = to_rng(dev);

	/* Requests queued before DRIVER_OK (their kick found no live device). */
	if (ctx->queues[0].ready)
		process(rng, 0);
	if (!rng->rate || rng->timer_fd >= 0 || !ctx->loop)
		return 0;
	rng->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (rng->timer_fd < 0)
		return -errno;
	int r = ev_add(ctx->loop, rng->timer_fd, EPOLLIN, timer_cb, rng, &rng->timer_h);
	if (r < 0) {
		close(rng->timer_fd);
		rng->timer_fd = -1;
	}
	return r;
}

/* Nothing of this device runs outside the loop thread: the reset is complete at once. */
static int vrng_reset(struct virtio_dev *dev, bool wait)
{
	(void)wait;
	struct vrng *rng = to_rng(dev);
	struct itimerspec off = {0};
	if (rng->timer_fd >= 0 && timerfd_settime(rng->timer_fd, 0, &off, NULL) == 0)
		rng->timer_armed = false;
	return 0;
}

static void vrng_destroy(struct virtio_dev *dev)
{
	struct vrng *rng = to_rng(dev);
	if (rng->timer_h)
		ev_del(dev->loop, rng->timer_h);
	if (rng->timer_fd >= 0)
		close(rng->timer_fd);
	free(rng);
}

/* vm.counters (under the device lock) */
static void vrng_counters(struct virtio_dev *dev, void (*emit)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	emit(ctx, "bytes", to_rng(dev)->bytes);
}

static const struct virtio_dev_ops vrng_ops = {
    .counters = vrng_counters,
    .activate = vrng_activate,
    .reset = vrng_reset,
    .queue_notify = vrng_queue_notify,
    .destroy = vrng_destroy,
};

int vrng_create_rate(const char *name, uint64_t rate, struct virtio_dev **out)
{
	struct vrng *rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	rng->timer_fd = -1;
	rng->rate = rate;
	tbucket_init(&rng->tb, rate, rate, time_now_ns());
	int r = virtio_dev_init(&rng->vdev, &vrng_ops, name, VIRTIO_ID_RNG, 0, 1, VRNG_QUEUE_SIZE,
				NULL, 0);
	if (r < 0) {
		free(rng);
		return r;
	}
	*out = &rng->vdev;
	return 0;
}

uint64_t vrng_bytes(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	uint64_t n = to_rng(dev)->bytes;
	virtio_dev_unlock(dev);
	return n;
}
