/* SPDX-License-Identifier: MIT */
/* The rings and the connection of a vhost-user front-end device (see fe_rings.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "base/ev_loop.h"
#include "vhost_user/fe_rings.h"

static bool any_stopping(const struct vu_fe *fe)
{
	for (unsigned i = 0; i < fe->nr_rings; i++)
		if (fe->r[i].stopping)
			return true;
	return false;
}

/* A ring stopped (or the back-end went away): a driver reset waiting for that is done. */
static void stop_done(struct vu_fe *fe)
{
	if (fe->stop_async && !any_stopping(fe)) {
		fe->stop_async = false;
		virtio_dev_reset_done(fe->dev);
	}
}

static void on_ring_stopped(void *opaque, uint16_t queue, uint16_t base)
{
	struct vu_fe *fe = opaque;
	if (queue < fe->nr_rings) {
		fe->r[queue].base = base;
		fe->r[queue].stopping = false;
	}
	stop_done(fe);
}

static void on_refused(void *opaque, uint32_t request)
{
	struct vu_fe *fe = opaque;
	virtio_dev_fail(fe->dev, "vhost-user back-end %s refused %s", fe->c.path,
			vu_request_name(request));
}

/* The socket is closed (a back-end stops using guest memory when its front-end goes away);
 * the device fails for good. */
static void on_broken(void *opaque, const char *why)
{
	struct vu_fe *fe = opaque;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		fe->r[i].started = fe->r[i].stopping = false;
	if (!fe->created)
		return; /* the device's create function reports it */
	virtio_dev_fail(fe->dev, "vhost-user back-end %s: %s; disconnected", fe->c.path, why);
	stop_done(fe);
}

static const struct vu_client_ops fe_client_ops = {
    .ring_stopped = on_ring_stopped,
    .refused = on_refused,
    .broken = on_broken,
};

static void call_cb(void *opaque, uint32_t events)
{
	struct vu_fe_ring *q = opaque;
	struct virtio_dev *dev = q->fe->dev;
	uint64_t v;
	(void)events;

	if (read(q->call_fd, &v, sizeof(v)) < 0)
		return;
	virtio_dev_lock(dev);
	/* The back-end already applied the driver's notification suppression. */
	if (q->started && !dev->resetting) {
		__atomic_or_fetch(&dev->isr, 1, __ATOMIC_SEQ_CST);
		if (dev->irq && dev->irq->notify_queue)
			dev->irq->notify_queue(dev->irq_opaque, q->index);
	}
	virtio_dev_unlock(dev);
}

static void ring_stop_send(struct vu_fe *fe, struct vu_fe_ring *q)
{
	uint64_t v;

	if (!q->started || q->stopping)
		return;
	q->started = false;
	if (fe->c.broken)
		return;
	q->stopping = true;
	if (read(q->kick_fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
	vu_client_ring_stop(&fe->c, q->index);
}

/* Hand ring q to the back-end. Nothing waits: the kick fd is ours, so kicks written before
 * the back-end has read SET_VRING_KICK are counted there and seen when it starts the ring. */
static void ring_start(struct vu_fe *fe, struct vu_fe_ring *q, bool enable)
{
	vu_client_ring_start(&fe->c, &fe->dev->queues[q->index], q->kick_fd, q->call_fd, enable);
	q->started = !fe->c.broken;
}

int vu_fe_open(struct vu_fe *fe, struct virtio_dev *dev, const char *opt, const char *path,
	       unsigned nr_rings, uint64_t want_pf, char *err, size_t errlen)
{
	char why[200];
	int r;

	memset(fe, 0, sizeof(*fe));
	fe->dev = dev;
	fe->c.sock = -1;
	fe->nr_rings = nr_rings;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		fe->r[i] = (struct vu_fe_ring){
		    .fe = fe, .index = (uint16_t)i, .kick_fd = -1, .call_fd = -1};
	if (nr_rings > VU_MAX_QUEUES) {
		snprintf(err, errlen, "%s=%s: %u rings (at most %u)", opt, path, nr_rings,
			 VU_MAX_QUEUES);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nr_rings; i++) {
		fe->r[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fe->r[i].call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fe->r[i].kick_fd < 0 || fe->r[i].call_fd < 0) {
			r = -errno;
			snprintf(err, errlen, "%s=%s: eventfd: %s", opt, path, strerror(-r));
			vu_fe_close(fe);
			return r;
		}
	}
	r = vu_client_open(&fe->c, path, want_pf, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "%s=%s: %s", opt, path, why);
		vu_fe_close(fe);
		return r;
	}
	vu_client_set_ops(&fe->c, dev, &fe_client_ops, fe);
	return 0;
}

void vu_fe_created(struct vu_fe *fe)
{
	fe->created = true;
}

int vu_fe_activate(struct vu_fe *fe, const struct virtio_ctx *ctx, uint64_t features,
		   unsigned nr_enabled)
{
	int r;

	if (fe->c.broken)
		return -ENOTCONN;
	if (!fe->loop && ctx->loop) {
		/* First activation: from here on the loop reads replies and call fds. */
		r = vu_client_attach_loop(&fe->c, ctx->loop);
		for (unsigned i = 0; r == 0 && i < fe->nr_rings; i++)
			r = ev_add(ctx->loop, fe->r[i].call_fd, EPOLLIN, call_cb, &fe->r[i],
				   &fe->r[i].call_h);
		fe->loop = ctx->loop;
		if (r < 0)
			return r;
	}
	vu_client_set_features(&fe->c, features);
	r = vu_client_set_mem_table(&fe->c, ctx->mem);
	if (r < 0)
		return r; /* -EINVAL: RAM is not shareable (no memfd); -E2BIG: too many regions */
	for (unsigned i = 0; i < fe->nr_rings; i++)
		if (fe->dev->queues[i].ready)
			ring_start(fe, &fe->r[i], i < nr_enabled);
	if (!fe->loop)
		vu_client_wait_all(&fe->c);
	return fe->c.broken ? -EIO : 0;
}

int vu_fe_reset(struct vu_fe *fe, bool wait)
{
	for (unsigned i = 0; i < fe->nr_rings; i++)
		ring_stop_send(fe, &fe->r[i]);
	if (wait || !fe->loop) {
		fe->stop_async = false;
		vu_client_wait_all(&fe->c);
		return 0;
	}
	if (!any_stopping(fe))
		return 0;
	fe->stop_async = true; /* stop_done() finishes it */
	return -EINPROGRESS;
}

void vu_fe_kick(struct vu_fe *fe, uint16_t q)
{
	uint64_t one = 1;
	if (q < fe->nr_rings && fe->r[q].started &&
	    write(fe->r[q].kick_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the back-end is awake anyway */
	}
}

void vu_fe_queue_stop(struct vu_fe *fe, uint16_t q)
{
	if (q >= fe->nr_rings || !fe->r[q].started)
		return;
	ring_stop_send(fe, &fe->r[q]);
	vu_client_wait_all(&fe->c);
	if (!fe->c.broken) {
		fe->dev->queues[q].last_avail_idx = fe->r[q].base;
		fe->dev->queues[q].used_idx = fe->r[q].base;
	}
}

void vu_fe_resume(struct vu_fe *fe)
{
	for (unsigned i = 0; i < fe->nr_rings; i++) {
		if (!fe->dev->queues[i].ready || fe->r[i].started)
			continue;
		ring_start(fe, &fe->r[i], true);
		if (fe->c.broken)
			return; /* on_broken() failed the device */
		vu_fe_kick(fe, (uint16_t)i);
	}
}

void vu_fe_close(struct vu_fe *fe)
{
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		if (fe->r[i].call_h)
			ev_del(fe->loop, fe->r[i].call_h);
		if (fe->r[i].kick_fd >= 0)
			close(fe->r[i].kick_fd);
		if (fe->r[i].call_fd >= 0)
			close(fe->r[i].call_fd);
		fe->r[i].call_h = NULL;
		fe->r[i].kick_fd = fe->r[i].call_fd = -1;
	}
	vu_client_close(&fe->c);
}
