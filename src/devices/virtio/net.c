/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (VirtIO 1.2, 5.1) over a net_port. See net.h and docs/devices/net.md.
 *
 * RX (port -> guest): a frame is read whole, with its virtio-net header, into the pair's
 * bounce buffer; the header is decoded, checked against the offloads the guest has on and
 * re-encoded, then the frame is copied into guest buffers: one chain without MRG_RXBUF, as
 * many chains as it takes with it (num_buffers in the first). A frame is never dropped
 * silently: while the ring is empty it waits in the buffer (port polling paused until the
 * driver kicks), and one that fits no buffer the driver gives is counted in rx_dropped and
 * logged (rate-limited).
 * TX (guest -> port): the chain's header is decoded into a local struct and validated (a
 * header the driver was not allowed to send fails the device), and the port gets our own
 * re-encoded header followed by the frame straight from guest memory (one writev).
 * Both directions pass the rate limiter (token buckets on bytes and packets); a frame the
 * limiter holds back waits where it is and a timer resumes the pair.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "base/token_bucket.h"
#include "devices/virtio/net.h"
#include "devices/virtio/net_ctrl.h"
#include "devices/virtio/net_priv.h"

/* ---- pair state ---- */

bool vnet_pair_live(struct vnet_pair *pp)
{
	struct vnet *n = pp->n;
	struct virtio_dev *dev = &n->vdev;
	return virtio_dev_live(dev) && pp->index < n->curr_pairs &&
	       dev->queues[2 * pp->index].ready;
}

void vnet_pair_update_events(struct vnet_pair *pp, bool live)
{
	struct vnet *n = pp->n;
	uint32_t want = 0;

	if (!pp->h || n->port_dead)
		return;
	/* A detached TAP queue polls as an error: keep it out of the epoll set. */
	if (live && pp->attached && !pp->rx.waiting && !n->rx_throttled)
		want |= EPOLLIN;
	if (pp->tx.blocked && pp->attached)
		want |= EPOLLOUT;
	if (want == pp->events)
		return;
	int r = ev_mod(n->loop, pp->h, want);
	if (r < 0)
		log_rl(LOG_WARN, "%s: pair %u: polling the port: %s", n->vdev.name, pp->index,
		       strerror(-r));
	else
		pp->events = want;
}

static void apply_offloads(struct vnet *n);

/* A multi-queue TAP hands frames only to attached queues: attach the queues of live pairs. */
static void pair_sync(struct vnet_pair *pp, bool live)
{
	struct vnet *n = pp->n;
	if (live != pp->attached && n->port->ops && n->port->ops->set_queue_enabled) {
		int r = n->port->ops->set_queue_enabled(n->port, pp->index, live);
		if (r < 0) {
			log_rl(LOG_WARN, "%s: %s: queue %u: %s: %s", n->vdev.name, n->port->name,
			       pp->index, live ? "attach" : "detach", strerror(-r));
		} else {
			pp->attached = live;
			if (live && !n->tun_flags_set)
				apply_offloads(n);
		}
	}
	vnet_pair_update_events(pp, live);
}

static void apply_offloads(struct vnet *n)
{
	uint64_t on = n->guest_offloads;
	unsigned f = 0;
	bool any = false;
	for (unsigned i = 0; i < n->max_pairs; i++)
		any = any || n->pairs[i].attached;
	if (!any) {
		/* TAP ioctls need an attached queue: applied when the first one attaches. */
		n->tun_flags_set = false;
		return;
	}
	if (on & (1ULL << VIRTIO_NET_F_GUEST_CSUM)) {
		f |= TUN_F_CSUM;
		if (on & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
			f |= TUN_F_TSO4;
		if (on & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
			f |= TUN_F_TSO6;
		if ((on & (1ULL << VIRTIO_NET_F_GUEST_ECN)) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
			f |= TUN_F_TSO_ECN;
	}
	if (n->tun_flags_set && f == n->tun_flags)
		return;
	if (n->port->ops && n->port->ops->set_offload) {
		int r = n->port->ops->set_offload(n->port, f);
		if (r < 0) {
			log_rl(LOG_WARN, "%s: %s: TUNSETOFFLOAD 0x%x: %s", n->vdev.name,
			       n->port->name, f, strerror(-r));
			return;
		}
	}
	n->tun_flags = f;
	n->tun_flags_set = true;
}

/* ---- loop callbacks ---- */

static void pair_fd_cb(void *opaque, uint32_t events)
{
	struct vnet_pair *pp = opaque;
	struct vnet *n = pp->n;
	struct virtio_dev *dev = &n->vdev;

	virtio_dev_lock(dev);
	if ((events & (EPOLLERR | EPOLLHUP)) && !n->port_dead && pp->attached) {
		log_warn("%s: %s: queue %u: the interface went away; the device carries no "
			 "traffic from now on",
			 dev->name, n->port->name, pp->index);
		n->port_dead = true;
		for (unsigned i = 0; i < n->max_pairs; i++)
			if (n->pairs[i].h && ev_mod(n->loop, n->pairs[i].h, 0) == 0)
				n->pairs[i].events = 0;
		virtio_dev_unlock(dev);
		return;
	}
	if (events & EPOLLOUT) {
		pp->tx.blocked = false;
		vnet_tx_process(pp);
	}
	if (events & EPOLLIN)
		vnet_rx_process(pp);
	vnet_pair_update_events(pp, vnet_pair_live(pp));
	virtio_dev_unlock(dev);
}

static void timer_cb(void *opaque, uint32_t events)
{
	struct vnet *n = opaque;
	struct virtio_dev *dev = &n->vdev;
	(void)events;
	virtio_dev_lock(dev);
	n->timer_deadline = 0;
	bool rx = n->rx_throttled, tx = n->tx_throttled;
	n->rx_throttled = n->tx_throttled = false;
	for (unsigned i = 0; i < n->max_pairs; i++) {
		if (tx)
			vnet_tx_process(&n->pairs[i]);
		if (rx)
			vnet_rx_process(&n->pairs[i]);
	}
	virtio_dev_unlock(dev);
}

static void work_cb(void *opaque, uint32_t events)
{
	struct vnet *n = opaque;
	struct virtio_dev *dev = &n->vdev;
	uint64_t v;
	(void)events;
	if (read(n->work_fd, &v, sizeof(v)) < 0) {
		/* spurious */
	}
	virtio_dev_lock(dev);
	for (unsigned i = 0; i < n->max_pairs; i++)
		if (n->pairs[i].tx.again)
			vnet_tx_process(&n->pairs[i]);
	virtio_dev_unlock(dev);
}

static void handlers_destroy(struct vnet *n)
{
	if (n->loop) {
		for (unsigned i = 0; i < n->max_pairs; i++) {
			if (n->pairs[i].h)
				ev_del(n->loop, n->pairs[i].h);
			n->pairs[i].h = NULL;
			n->pairs[i].events = 0;
		}
		if (n->timer_h)
			ev_del(n->loop, n->timer_h);
		if (n->work_h)
			ev_del(n->loop, n->work_h);
	}
	n->timer_h = n->work_h = NULL;
	if (n->timer_fd >= 0)
		close(n->timer_fd);
	if (n->work_fd >= 0)
		close(n->work_fd);
	n->timer_fd = n->work_fd = -1;
	n->loop = NULL;
}

/* Loop handlers are made once, at the first activation with a loop, and live as long as the
 * device: activation and reset may run on a vCPU thread, where only ev_mod is allowed (and
 * a failed first activation cleans up on that thread before any of them ever fired). */
static int handlers_create(struct vnet *n, struct ev_loop *loop)
{
	int r;
	n->loop = loop;
	n->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	n->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->timer_fd < 0 || n->work_fd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = ev_add(loop, n->timer_fd, EPOLLIN, timer_cb, n, &n->timer_h)) < 0 ||
	    (r = ev_add(loop, n->work_fd, EPOLLIN, work_cb, n, &n->work_h)) < 0)
		goto fail;
	for (unsigned i = 0; i < n->max_pairs; i++) {
		struct vnet_pair *pp = &n->pairs[i];
		r = ev_add(loop, pp->fd, EPOLLIN, pair_fd_cb, pp, &pp->h);
		if (r < 0)
			goto fail;
		pp->events = EPOLLIN;
		r = ev_mod(loop, pp->h, 0); /* polled once the pair is live */
		if (r < 0)
			goto fail;
		pp->events = 0;
	}
	return 0;
fail:
	handlers_destroy(n);
	return r;
}

/* ---- control queue ---- */

static uint8_t vnet_ctrl_apply(struct virtio_dev *dev, const struct vnet_ctrl_cmd *cmd)
{
	struct vnet *n = to_net(dev);
	switch (cmd->kind) {
	case VNET_CTRL_MQ_PAIRS:
		if (cmd->u.pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || cmd->u.pairs > n->max_pairs) {
			log_rl(LOG_INFO, "%s: control queue: %u queue pairs refused (1..%u)",
			       dev->name, cmd->u.pairs, n->max_pairs);
			return VIRTIO_NET_ERR;
		}
		n->curr_pairs = cmd->u.pairs;
		for (unsigned i = 0; i < n->max_pairs; i++)
			pair_sync(&n->pairs[i], vnet_pair_live(&n->pairs[i]));
		log_debug("%s: %u queue pairs", dev->name, n->curr_pairs);
		return VIRTIO_NET_OK;
	case VNET_CTRL_MAC_ADDR:
		memcpy(n->cfg.mac, cmd->u.mac, 6);
		return VIRTIO_NET_OK;
	case VNET_CTRL_GUEST_OFFLOADS:
		n->guest_offloads = cmd->u.offloads;
		apply_offloads(n);
		return VIRTIO_NET_OK;
	}
	return VIRTIO_NET_ERR;
}

/* ---- virtio ops ---- */

static int vnet_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vnet *n = to_net(dev);
	if (!n->loop && ctx->loop) {
		int r = handlers_create(n, ctx->loop);
		if (r < 0)
			return r;
	}
	n->ever_active = true;
	n->curr_pairs = n->has_ctrl ? 1 : n->max_pairs;
	n->guest_offloads = dev->features & GUEST_OFFLOADS;
	/* Attach first: device-wide TAP ioctls need an attached queue. */
	for (unsigned i = 0; i < n->max_pairs; i++)
		pair_sync(&n->pairs[i], i < n->curr_pairs);
	apply_offloads(n);
	for (unsigned i = 0; i < n->max_pairs; i++)
		vnet_pair_update_events(&n->pairs[i], vnet_pair_live(&n->pairs[i]));
	return 0;
}

static void pair_clear(struct vnet_pair *pp)
{
	if (pp->rx.len)
		pp->st.rx_dropped++; /* a frame that waited for buffers the driver took back */
	pp->rx.len = 0;
	pp->rx.charged = pp->rx.waiting = pp->rx.kept = false;
	pp->rx.copied = 0;
	pp->rx.nheld = 0;
	pp->tx.pending = pp->tx.blocked = pp->tx.again = false;
}

/* Nothing is ever in flight outside the device lock: a reset is immediate (wait or not). */
static int vnet_reset(struct virtio_dev *dev, bool wait)
{
	(void)wait;
	struct vnet *n = to_net(dev);
	n->guest_offloads = 0;
	apply_offloads(n); /* frames queued from now on are plain for the next driver */
	for (unsigned i = 0; i < n->max_pairs; i++) {
		pair_clear(&n->pairs[i]);
		pair_sync(&n->pairs[i], false); /* TAP queues detached until the next driver */
	}
	n->rx_throttled = n->tx_throttled = false;
	n->curr_pairs = n->has_ctrl ? 1 : n->max_pairs;
	return 0;
}

static void vnet_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vnet *n = to_net(dev);
	if (n->has_ctrl && q == n->ctrl_q) {
		vnet_ctrl_process(dev, q, n->ctrl_iov, CTRL_QUEUE_SIZE, vnet_ctrl_apply);
		return;
	}
	struct vnet_pair *pp = &n->pairs[q / 2];
	if (q % 2 == 0) {
		pair_sync(pp, vnet_pair_live(pp));
		vnet_rx_process(pp);
	} else {
		vnet_tx_process(pp);
	}
}

/* vhost-user GET_VRING_BASE / ring disable: give back chains popped and not completed (they
 * are the most recent pops), so the index handed out covers only finished work. */
static void vnet_queue_stop(struct virtio_dev *dev, uint16_t q)
{
	struct vnet *n = to_net(dev);
	struct virtqueue *vq = &dev->queues[q];
	if (n->has_ctrl && q == n->ctrl_q)
		return;
	struct vnet_pair *pp = &n->pairs[q / 2];
	if (q % 2 == 0) {
		uint16_t back = (uint16_t)(pp->rx.nheld + (pp->rx.kept ? 1 : 0));
		if (vq->ready)
			vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - back);
		pp->rx.nheld = 0;
		pp->rx.copied = 0;
		pp->rx.kept = false;
		pp->rx.waiting = false;
		pair_sync(pp, false);
	} else {
		if (pp->tx.pending && vq->ready)
			vq->last_avail_idx--;
		pp->tx.pending = pp->tx.blocked = pp->tx.again = false;
		vnet_pair_update_events(pp, vnet_pair_live(pp));
	}
}

static void stats_line(struct vnet *n, unsigned i, int level)
{
	const struct vnet_pair_stats *s = &n->pairs[i].st;
	log_msg((enum log_level)level,
		"%s: pair %u: rx %llu packets (%llu bytes, %llu dropped, %llu stalls), tx %llu "
		"packets (%llu bytes, %llu dropped)",
		n->vdev.name, i, (unsigned long long)s->rx_packets, (unsigned long long)s->rx_bytes,
		(unsigned long long)s->rx_dropped, (unsigned long long)s->rx_stalls,
		(unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes,
		(unsigned long long)s->tx_dropped);
}

static void limiter_line(struct vnet *n, int level)
{
	if (n->st.rx_throttled || n->st.tx_throttled)
		log_msg((enum log_level)level,
			"%s: rate limiter held rx back %llu times, tx %llu times", n->vdev.name,
			(unsigned long long)n->st.rx_throttled,
			(unsigned long long)n->st.tx_throttled);
}

static void vnet_destroy(struct virtio_dev *dev)
{
	struct vnet *n = to_net(dev);
	/* The core has already finalised dev (lock included): nothing else runs now. */
	if (n->pairs && n->ever_active && !n->stats_logged) {
		for (unsigned i = 0; i < n->max_pairs; i++)
			stats_line(n, i, LOG_INFO);
		limiter_line(n, LOG_INFO);
	}
	if (n->pairs)
		handlers_destroy(n);
	for (unsigned i = 0; n->pairs && i < n->max_pairs; i++) {
		struct vnet_pair *pp = &n->pairs[i];
		free(pp->rx.buf);
		free(pp->rx.ch.iov);
		free(pp->rx.held_head);
		free(pp->rx.held_len);
		free(pp->tx.ch.iov);
		free(pp->tx.wiov);
	}
	free(n->pairs);
	net_port_destroy(n->port);
	free(n);
}

/* vm.counters (under the device lock): Cloud Hypervisor's names, summed over the pairs. */
static void vnet_counters(struct virtio_dev *dev, void (*emit)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	struct vnet *n = to_net(dev);
	struct vnet_pair_stats t = {0};
	for (unsigned i = 0; i < n->max_pairs; i++) {
		const struct vnet_pair_stats *s = &n->pairs[i].st;
		t.rx_bytes += s->rx_bytes;
		t.rx_packets += s->rx_packets;
		t.rx_dropped += s->rx_dropped;
		t.tx_bytes += s->tx_bytes;
		t.tx_packets += s->tx_packets;
		t.tx_dropped += s->tx_dropped;
	}
	emit(ctx, "rx_bytes", t.rx_bytes);
	emit(ctx, "rx_frames", t.rx_packets);
	emit(ctx, "rx_dropped", t.rx_dropped);
	emit(ctx, "tx_bytes", t.tx_bytes);
	emit(ctx, "tx_frames", t.tx_packets);
	emit(ctx, "tx_dropped", t.tx_dropped);
	emit(ctx, "rx_throttled", n->st.rx_throttled);
	emit(ctx, "tx_throttled", n->st.tx_throttled);
}

static const struct virtio_dev_ops vnet_ops = {
    .counters = vnet_counters,
    .activate = vnet_activate,
    .reset = vnet_reset,
    .queue_notify = vnet_queue_notify,
    .queue_stop = vnet_queue_stop,
    .destroy = vnet_destroy,
};

/* ---- creation and stats ---- */

void vnet_params_from_config(const struct net_config *nc, struct vnet_params *p)
{
	memset(p, 0, sizeof(*p));
	if (nc->mac_set) {
		memcpy(p->mac, nc->mac, 6);
	} else {
		if (getrandom(p->mac, 6, 0) != 6) {
			uint64_t t = time_now_ns();
			memcpy(p->mac, &t, 6);
		}
		p->mac[0] =
		    (uint8_t)((p->mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
	}
	p->pairs = nc->queues ? nc->queues : 1;
	p->queue_size = nc->queue_size ? nc->queue_size : 256;
	p->mtu = nc->mtu;
	p->ctrl_vq = true;
	p->rx_bps = nc->rx_bps;
	p->rx_pps = nc->rx_pps;
	p->tx_bps = nc->tx_bps;
	p->tx_pps = nc->tx_pps;
}

static int pairs_alloc(struct vnet *n, unsigned qs)
{
	n->pairs = calloc(n->max_pairs, sizeof(*n->pairs));
	if (!n->pairs)
		return -ENOMEM;
	for (unsigned i = 0; i < n->max_pairs; i++) {
		struct vnet_pair *pp = &n->pairs[i];
		uint32_t txcap = MIN(qs, TX_SEG_MAX);
		pp->n = n;
		pp->index = i;
		pp->fd = n->port->fd[i];
		pp->attached = true; /* a port starts with every queue attached */
		pp->rx.buf = malloc(BUF_LEN);
		pp->rx.ch.iov = calloc(qs, sizeof(struct iovec));
		pp->rx.ch.cap = qs;
		pp->rx.held_head = calloc(qs, sizeof(uint16_t));
		pp->rx.held_len = calloc(qs, sizeof(uint32_t));
		pp->tx.ch.iov = calloc(txcap, sizeof(struct iovec));
		pp->tx.ch.cap = txcap;
		pp->tx.wiov = calloc(txcap + 1, sizeof(struct iovec));
		if (!pp->rx.buf || !pp->rx.ch.iov || !pp->rx.held_head || !pp->rx.held_len ||
		    !pp->tx.ch.iov || !pp->tx.wiov)
			return -ENOMEM;
	}
	return 0;
}

int vnet_create(const struct vnet_params *p, struct net_port *port, const char *name,
		struct virtio_dev **out, char *err, size_t errlen)
{
	struct vnet *n = NULL;
	int r = -EINVAL;

	if (!p->pairs || p->pairs > NET_MAX_QUEUE_PAIRS || p->pairs > port->nr_queues ||
	    !IS_POW2(p->queue_size) || p->queue_size < 64 || p->queue_size > 1024 ||
	    (p->mtu && (p->mtu < NET_MIN_MTU || p->mtu > NET_MAX_MTU))) {
		snprintf(err, errlen,
			 "%s: bad parameters (queue pairs %u of %u, queue size %u, mtu %u)", name,
			 p->pairs, port->nr_queues, p->queue_size, p->mtu);
		goto fail;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		r = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", name);
		goto fail;
	}
	n->port = port;
	n->max_pairs = p->pairs;
	n->has_ctrl = p->ctrl_vq;
	n->curr_pairs = p->ctrl_vq ? 1 : p->pairs;
	n->timer_fd = n->work_fd = -1;
	r = pairs_alloc(n, p->queue_size);
	if (r < 0) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto fail_n;
	}
	uint64_t now = time_now_ns();
	tb_init(&n->rx_bytes, p->rx_bps, 0, now);
	tb_init(&n->rx_pkts, p->rx_pps, 0, now);
	tb_init(&n->tx_bytes, p->tx_bps, 0, now);
	tb_init(&n->tx_pkts, p->tx_pps, 0, now);

	memcpy(n->cfg.mac, p->mac, 6);
	n->cfg.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->cfg.max_virtqueue_pairs = htole16((uint16_t)p->pairs);
	n->cfg.mtu = htole16((uint16_t)p->mtu);
	uint64_t f = (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
		     (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
		     (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN) |
		     (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
		     (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
		     (1ULL << VIRTIO_NET_F_STATUS);
	if (p->mtu)
		f |= 1ULL << VIRTIO_NET_F_MTU;
	if (p->pairs > 1)
		f |= 1ULL << VIRTIO_NET_F_MQ;
	if (p->ctrl_vq)
		f |= (1ULL << VIRTIO_NET_F_CTRL_VQ) | (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR) |
		     (1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
	uint16_t nq = (uint16_t)(2 * p->pairs + (p->ctrl_vq ? 1 : 0));
	n->ctrl_q = (uint16_t)(2 * p->pairs);
	/* Config space: mac, status, max_virtqueue_pairs, mtu (no speed/duplex, RSS). */
	r = virtio_dev_init(&n->vdev, &vnet_ops, name, VIRTIO_ID_NET, f, nq,
			    (uint16_t)p->queue_size, &n->cfg,
			    (uint32_t)offsetof(struct virtio_net_config, speed));
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
		goto fail_n;
	}
	*out = &n->vdev;
	return 0;
fail_n:
	n->port = NULL;
	vnet_destroy(&n->vdev);
fail:
	net_port_destroy(port);
	return r;
}

unsigned vnet_nr_pairs(struct virtio_dev *dev)
{
	return to_net(dev)->max_pairs;
}

void vnet_get_stats(struct virtio_dev *dev, unsigned pair, struct vnet_pair_stats *out)
{
	struct vnet *n = to_net(dev);
	memset(out, 0, sizeof(*out));
	virtio_dev_lock(dev);
	if (pair < n->max_pairs)
		*out = n->pairs[pair].st;
	virtio_dev_unlock(dev);
}

void vnet_get_dev_stats(struct virtio_dev *dev, struct vnet_stats *out)
{
	virtio_dev_lock(dev);
	*out = to_net(dev)->st;
	virtio_dev_unlock(dev);
}

void vnet_log_stats(struct virtio_dev *dev, int level)
{
	struct vnet *n = to_net(dev);
	virtio_dev_lock(dev);
	for (unsigned i = 0; i < n->max_pairs; i++)
		stats_line(n, i, level);
	limiter_line(n, level);
	n->stats_logged = true;
	virtio_dev_unlock(dev);
}
