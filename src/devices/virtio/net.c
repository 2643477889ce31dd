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

#define HDR_LEN ((uint32_t)sizeof(struct virtio_net_hdr_v1)) /* 12: VERSION_1 always */
#define ETH_HLEN_ 14u
#define FRAME_MAX (65535u + ETH_HLEN_ + 4u) /* a 64 KiB GSO frame + Ethernet + VLAN tag */
#define BUF_LEN (HDR_LEN + FRAME_MAX)
#define BUDGET 256u         /* frames per direction per callback */
#define TX_SEG_MAX 1023u    /* writev takes IOV_MAX (1024) entries: header + 1023 */
#define CTRL_QUEUE_SIZE 64u

#define GUEST_OFFLOADS                                                                             \
	((1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN))

/* A virtio-net header as a typed local (wire: le16 fields). */
struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

struct vnet;

struct vnet_rx {
	uint8_t *buf;      /* BUF_LEN: header + frame as read from the port */
	uint32_t len;      /* bytes in buf; 0 = no frame pending */
	bool charged;      /* the rate limiter has been charged for the pending frame */
	bool waiting;      /* ring empty with a frame pending: polling paused until a kick */
	bool kept;         /* without MRG_RXBUF: ch is popped and unused (too small last time) */
	struct vq_chain ch;
	/* With MRG_RXBUF: chains filled so far with the pending frame (popped, not pushed). */
	uint32_t copied;
	uint16_t nheld;
	uint16_t *held_head;
	uint32_t *held_len;
	uint8_t *nb[2]; /* where num_buffers (le16) lands in the first chain */
};

struct vnet_tx {
	struct vq_chain ch;
	struct iovec *wiov; /* header + frame segments for writev */
	struct virtio_net_hdr_v1 out; /* the header we write */
	bool pending;       /* ch popped and not sent yet */
	bool blocked;       /* the port said EAGAIN: wait for EPOLLOUT */
	bool again;         /* the budget ran out with chains left */
};

struct vnet_pair {
	struct vnet *n;
	unsigned index;
	int fd;
	struct ev_handler *h;
	uint32_t events;
	bool attached;
	struct vnet_rx rx;
	struct vnet_tx tx;
	struct vnet_pair_stats st;
};

struct vnet {
	struct virtio_dev vdev; /* first */
	struct virtio_net_config cfg;
	struct net_port *port;
	unsigned max_pairs;
	unsigned curr_pairs;
	bool has_ctrl;
	uint16_t ctrl_q;
	struct iovec ctrl_iov[CTRL_QUEUE_SIZE];
	struct vnet_pair *pairs;
	uint64_t guest_offloads; /* GUEST_* feature bits currently on */
	unsigned tun_flags;
	bool tun_flags_set;
	struct tbucket rx_bytes, rx_pkts, tx_bytes, tx_pkts;
	bool rx_throttled, tx_throttled;
	struct ev_loop *loop;   /* set at the first activation that has one */
	int timer_fd;
	struct ev_handler *timer_h;
	uint64_t timer_deadline; /* 0: not armed */
	int work_fd;
	struct ev_handler *work_h;
	bool port_dead;
	bool stats_logged; /* vnet_log_stats ran: destroy does not repeat them */
	struct vnet_stats st;
};

static struct vnet *to_net(struct virtio_dev *dev)
{
	return container_of(dev, struct vnet, vdev);
}

/* ---- headers ---- */

static void hdr_decode(const uint8_t *b, struct vnet_hdr *h)
{
	h->flags = b[0];
	h->gso_type = b[1];
	h->hdr_len = (uint16_t)(b[2] | b[3] << 8);
	h->gso_size = (uint16_t)(b[4] | b[5] << 8);
	h->csum_start = (uint16_t)(b[6] | b[7] << 8);
	h->csum_offset = (uint16_t)(b[8] | b[9] << 8);
}

static void hdr_encode(const struct vnet_hdr *h, uint16_t num_buffers,
		       struct virtio_net_hdr_v1 *out)
{
	memset(out, 0, sizeof(*out));
	out->flags = h->flags;
	out->gso_type = h->gso_type;
	out->hdr_len = htole16(h->hdr_len);
	out->gso_size = htole16(h->gso_size);
	out->csum_start = htole16(h->csum_start);
	out->csum_offset = htole16(h->csum_offset);
	out->num_buffers = htole16(num_buffers);
}

/* TX: the driver's header against what it may send (5.1.6.2.1). NULL when fine. */
static const char *tx_hdr_error(const struct virtio_dev *dev, const struct vnet_hdr *h,
				uint32_t frame_len)
{
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return "flags other than NEEDS_CSUM";
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!virtio_has_feature(dev, VIRTIO_NET_F_CSUM))
			return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
		if ((uint32_t)h->csum_start + h->csum_offset + 2u > frame_len)
			return "checksum location beyond the frame";
	}
	if (h->hdr_len > frame_len)
		return "hdr_len beyond the frame";
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return "ECN without GSO";
		return NULL;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!virtio_has_feature(dev, VIRTIO_NET_F_HOST_TSO4))
			return "TCPv4 GSO without VIRTIO_NET_F_HOST_TSO4";
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!virtio_has_feature(dev, VIRTIO_NET_F_HOST_TSO6))
			return "TCPv6 GSO without VIRTIO_NET_F_HOST_TSO6";
		break;
	default:
		return "unknown GSO type";
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !virtio_has_feature(dev, VIRTIO_NET_F_HOST_ECN))
		return "ECN without VIRTIO_NET_F_HOST_ECN";
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return "GSO without NEEDS_CSUM";
	if (h->gso_size == 0)
		return "GSO with gso_size 0";
	return NULL;
}

/* RX: the port's header made fit for what the guest has on. False: the guest cannot take
 * this frame (offloads it turned off while the frame was queued). */
static bool rx_hdr_fix(const struct vnet *n, struct vnet_hdr *h)
{
	uint64_t on = n->guest_offloads;
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if (!(on & (1ULL << VIRTIO_NET_F_GUEST_CSUM))) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		h->flags = 0; /* 5.1.6.3.1: flags zero without GUEST_CSUM */
	}
	h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		h->gso_type = 0;
		h->gso_size = 0;
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(on & (1ULL << VIRTIO_NET_F_GUEST_TSO4)))
			return false;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(on & (1ULL << VIRTIO_NET_F_GUEST_TSO6)))
			return false;
		break;
	default:
		return false;
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(on & (1ULL << VIRTIO_NET_F_GUEST_ECN)))
		return false;
	return true;
}

/* ---- pair state ---- */

static bool pair_live(struct vnet_pair *pp)
{
	struct vnet *n = pp->n;
	struct virtio_dev *dev = &n->vdev;
	return dev->active && !dev->failed && pp->index < n->curr_pairs &&
	       dev->queues[2 * pp->index].ready;
}

/* Port polling: EPOLLIN while frames can be taken, EPOLLOUT while a write waits. */
static void pair_update_events(struct vnet_pair *pp, bool live)
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
	pair_update_events(pp, live);
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

/* ---- rate limiter ---- */

static void timer_arm(struct vnet *n, uint64_t wait_ns)
{
	uint64_t now = time_now_ns();
	uint64_t deadline = now + (wait_ns ? wait_ns : 1);
	if (n->timer_fd < 0 || (n->timer_deadline && n->timer_deadline <= deadline))
		return;
	struct itimerspec its = {.it_value = {(time_t)(deadline / 1000000000ULL),
					      (long)(deadline % 1000000000ULL)}};
	if (timerfd_settime(n->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		n->timer_deadline = deadline;
}

/* Charge one frame of len bytes; false (and the timer armed) when the limiter says wait. */
static bool limit_take(struct vnet *n, bool rx, uint32_t len)
{
	struct tbucket *b = rx ? &n->rx_bytes : &n->tx_bytes;
	struct tbucket *p = rx ? &n->rx_pkts : &n->tx_pkts;
	if (tb_unlimited(b) && tb_unlimited(p))
		return true;
	uint64_t now = time_now_ns();
	uint64_t wait = MAX(tb_wait_ns(b, now), tb_wait_ns(p, now));
	if (wait) {
		bool *flag = rx ? &n->rx_throttled : &n->tx_throttled;
		if (!*flag) {
			*flag = true;
			if (rx)
				n->st.rx_throttled++;
			else
				n->st.tx_throttled++;
		}
		timer_arm(n, wait);
		return false;
	}
	(void)tb_take(b, len, now);
	(void)tb_take(p, 1, now);
	return true;
}

/* ---- RX ---- */

enum rx_res { RX_DONE, RX_NOBUF, RX_DROP, RX_FAIL };

/* Checks every RX chain gets: device-writable only, room for the header. */
static bool rx_chain_ok(struct vnet_pair *pp, const struct vq_chain *ch)
{
	struct virtio_dev *dev = &pp->n->vdev;
	if (ch->nr_out) {
		virtio_dev_fail(dev, "rx queue %u: buffer 0x%x has device-readable parts",
				2 * pp->index, ch->head);
		return false;
	}
	if (ch->in_len < HDR_LEN) {
		virtio_dev_fail(dev, "rx queue %u: buffer 0x%x of %u bytes cannot hold the %u-byte "
				     "header",
				2 * pp->index, ch->head, ch->in_len, HDR_LEN);
		return false;
	}
	return true;
}

static enum rx_res rx_deliver_one(struct vnet_pair *pp, struct virtqueue *vq)
{
	struct vnet_rx *rx = &pp->rx;
	struct vq_cursor w;

	if (!rx->kept) {
		int r = vq_pop(vq, &rx->ch);
		if (r < 0)
			return RX_FAIL;
		if (r == 0)
			return RX_NOBUF;
		if (!rx_chain_ok(pp, &rx->ch))
			return RX_FAIL;
		rx->kept = true;
	}
	if (rx->ch.in_len < rx->len) {
		log_rl(LOG_INFO, "%s: rx queue %u: %u-byte frame dropped: buffer holds %u bytes",
		       pp->n->vdev.name, vq->index, rx->len - HDR_LEN, rx->ch.in_len);
		return RX_DROP; /* the chain stays ours for the next frame */
	}
	vq_writer_init(&w, &rx->ch);
	if (vq_cursor_write(&w, rx->buf, rx->len) < 0)
		return RX_FAIL; /* cannot happen: in_len >= len */
	vq_push(vq, rx->ch.head, rx->len);
	rx->kept = false;
	return RX_DONE;
}

static enum rx_res rx_deliver_mrg(struct vnet_pair *pp, struct virtqueue *vq)
{
	struct vnet_rx *rx = &pp->rx;
	struct vq_cursor w;

	while (rx->copied < rx->len) {
		if (rx->nheld == vq->size) {
			virtio_dev_fail(&pp->n->vdev,
					"rx queue %u: a %u-byte frame does not fit in all %u buffers "
					"of the ring",
					vq->index, rx->len, vq->size);
			return RX_FAIL;
		}
		int r = vq_pop(vq, &rx->ch);
		if (r < 0)
			return RX_FAIL;
		if (r == 0)
			return RX_NOBUF; /* keep what is filled; continue after the next kick */
		if (!rx_chain_ok(pp, &rx->ch))
			return RX_FAIL;
		uint32_t n = MIN(rx->len - rx->copied, rx->ch.in_len);
		vq_writer_init(&w, &rx->ch);
		if (rx->nheld == 0) {
			/* num_buffers: bytes 10 and 11 of the header, wherever they are. */
			for (unsigned i = 0; i < 2; i++) {
				struct vq_cursor c = w;
				struct iovec one;
				uint32_t k;
				if (vq_cursor_skip(&c, 10 + i) < 0 ||
				    vq_cursor_iov(&c, 1, &one, 1, &k) < 0)
					return RX_FAIL; /* cannot happen: in_len >= HDR_LEN */
				rx->nb[i] = one.iov_base;
			}
		}
		if (vq_cursor_write(&w, rx->buf + rx->copied, n) < 0)
			return RX_FAIL;
		rx->held_head[rx->nheld] = rx->ch.head;
		rx->held_len[rx->nheld] = n;
		rx->nheld++;
		rx->copied += n;
	}
	uint16_t nb = rx->nheld;
	*(volatile uint8_t *)rx->nb[0] = (uint8_t)nb;
	*(volatile uint8_t *)rx->nb[1] = (uint8_t)(nb >> 8);
	for (uint16_t i = 0; i < rx->nheld; i++)
		vq_push(vq, rx->held_head[i], rx->held_len[i]);
	rx->nheld = 0;
	rx->copied = 0;
	return RX_DONE;
}

/* Read the next frame into the bounce buffer. 1: got one, 0: none, -1: port error. */
static int rx_read(struct vnet_pair *pp)
{
	struct vnet *n = pp->n;
	struct vnet_rx *rx = &pp->rx;
	for (;;) {
		ssize_t r = read(pp->fd, rx->buf, BUF_LEN);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			log_rl(LOG_WARN, "%s: pair %u: reading %s: %s", n->vdev.name, pp->index,
			       n->port->name, strerror(errno));
			return -1;
		}
		if ((size_t)r < HDR_LEN + ETH_HLEN_) {
			pp->st.rx_dropped++;
			log_rl(LOG_INFO, "%s: pair %u: runt frame of %zd bytes from %s dropped",
			       n->vdev.name, pp->index, r, n->port->name);
			continue;
		}
		struct vnet_hdr h;
		hdr_decode(rx->buf, &h);
		if (!rx_hdr_fix(n, &h)) {
			pp->st.rx_dropped++;
			log_rl(LOG_INFO,
			       "%s: pair %u: frame with offloads the guest has off (flags 0x%x, gso "
			       "0x%x) dropped",
			       n->vdev.name, pp->index, h.flags, h.gso_type);
			continue;
		}
		struct virtio_net_hdr_v1 out;
		hdr_encode(&h, 1, &out);
		memcpy(rx->buf, &out, HDR_LEN);
		rx->len = (uint32_t)r;
		rx->charged = false;
		return 1;
	}
}

static void rx_process(struct vnet_pair *pp)
{
	struct vnet *n = pp->n;
	struct virtio_dev *dev = &n->vdev;
	struct virtqueue *vq = &dev->queues[2 * pp->index];
	struct vnet_rx *rx = &pp->rx;
	bool mrg = virtio_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	unsigned done = 0;
	bool pushed = false;

	if (!pair_live(pp) || n->port_dead) {
		pair_update_events(pp, false);
		return;
	}
	rx->waiting = false;
	vq_set_notification(vq, false);
	while (!n->loop || done < BUDGET) {
		if (!rx->len) {
			int r = rx_read(pp);
			if (r <= 0)
				break;
		}
		if (!rx->charged) {
			if (!limit_take(n, true, rx->len - HDR_LEN))
				break;
			rx->charged = true;
		}
		enum rx_res res = mrg ? rx_deliver_mrg(pp, vq) : rx_deliver_one(pp, vq);
		if (res == RX_FAIL)
			break;
		if (res == RX_NOBUF) {
			/* Wait for buffers: ask for a kick, then look once more (the driver may
			 * have added some before it saw the request). */
			vq_set_notification(vq, true);
			if (vq_has_avail(vq)) {
				vq_set_notification(vq, false);
				continue;
			}
			rx->waiting = true;
			pp->st.rx_stalls++;
			break;
		}
		if (res == RX_DONE) {
			pp->st.rx_packets++;
			pp->st.rx_bytes += rx->len - HDR_LEN;
			pushed = true;
		} else {
			pp->st.rx_dropped++;
		}
		rx->len = 0;
		done++;
	}
	if (pushed)
		virtio_notify_queue(dev, vq->index);
	pair_update_events(pp, pair_live(pp));
}

/* ---- TX ---- */

static void work_signal(struct vnet *n)
{
	uint64_t one = 1;
	if (n->work_fd >= 0 && write(n->work_fd, &one, sizeof(one)) < 0) {
		/* saturated: the loop is going to run it anyway */
	}
}

enum tx_res { TX_DONE, TX_FULL, TX_LIMITED, TX_FAIL };

/* Send the pending chain: TX_DONE (sent or dropped: complete it), TX_FULL (the port said
 * EAGAIN), TX_LIMITED (the rate limiter says wait), TX_FAIL (device failed). */
static enum tx_res tx_send(struct vnet_pair *pp)
{
	struct vnet *n = pp->n;
	struct virtio_dev *dev = &n->vdev;
	struct vnet_tx *tx = &pp->tx;
	struct vq_chain *ch = &tx->ch;
	struct vq_cursor r;
	uint8_t raw[HDR_LEN];
	struct vnet_hdr h;
	uint32_t nseg;

	if (ch->nr_in) {
		virtio_dev_fail(dev, "tx queue %u: packet 0x%x has device-writable parts",
				2 * pp->index + 1, ch->head);
		return TX_FAIL;
	}
	vq_reader_init(&r, ch);
	if (vq_cursor_read(&r, raw, HDR_LEN) < 0) {
		virtio_dev_fail(dev, "tx queue %u: packet 0x%x of %u bytes is shorter than the "
				     "%u-byte header",
				2 * pp->index + 1, ch->head, ch->out_len, HDR_LEN);
		return TX_FAIL;
	}
	hdr_decode(raw, &h);
	uint32_t flen = ch->out_len - HDR_LEN;
	const char *bad = tx_hdr_error(dev, &h, flen);
	if (bad) {
		virtio_dev_fail(dev, "tx queue %u: packet 0x%x: bad header: %s (flags 0x%x gso 0x%x "
				     "csum %u+%u hdr_len %u, frame %u bytes)",
				2 * pp->index + 1, ch->head, bad, h.flags, h.gso_type, h.csum_start,
				h.csum_offset, h.hdr_len, flen);
		return TX_FAIL;
	}
	if (flen < ETH_HLEN_ || flen > FRAME_MAX) {
		pp->st.tx_dropped++;
		log_rl(LOG_INFO, "%s: tx queue %u: %u-byte frame dropped (%u..%u)", dev->name,
		       2 * pp->index + 1, flen, ETH_HLEN_, FRAME_MAX);
		return TX_DONE;
	}
	if (!limit_take(n, false, flen))
		return TX_LIMITED;
	hdr_encode(&h, 0, &tx->out);
	tx->wiov[0].iov_base = &tx->out;
	tx->wiov[0].iov_len = HDR_LEN;
	if (vq_cursor_iov(&r, flen, tx->wiov + 1, ch->cap, &nseg) < 0)
		return TX_FAIL; /* cannot happen: the frame has at most ch->cap segments */
	for (;;) {
		ssize_t w = writev(pp->fd, tx->wiov, (int)nseg + 1);
		if (w >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return TX_FULL;
		/* EIO: the TAP is down; EINVAL: the kernel refused the frame. Dropped. */
		pp->st.tx_dropped++;
		log_rl(LOG_INFO, "%s: tx queue %u: %s refused a %u-byte frame: %s", dev->name,
		       2 * pp->index + 1, n->port->name, flen, strerror(errno));
		return TX_DONE;
	}
	pp->st.tx_packets++;
	pp->st.tx_bytes += flen;
	return TX_DONE;
}

static void tx_process(struct vnet_pair *pp)
{
	struct vnet *n = pp->n;
	struct virtio_dev *dev = &n->vdev;
	struct virtqueue *vq = &dev->queues[2 * pp->index + 1];
	struct vnet_tx *tx = &pp->tx;
	unsigned done = 0;
	bool pushed = false;

	tx->again = false;
	if (!dev->active || dev->failed || !vq->ready || tx->blocked)
		return;
	vq_set_notification(vq, false);
	for (;;) {
		if (n->loop && done >= BUDGET) {
			tx->again = true;
			work_signal(n);
			break;
		}
		if (!tx->pending) {
			int r = vq_pop(vq, &tx->ch);
			if (r < 0)
				break;
			if (r == 0) {
				vq_set_notification(vq, true);
				if (vq_has_avail(vq)) {
					vq_set_notification(vq, false);
					continue;
				}
				break;
			}
			tx->pending = true;
		}
		enum tx_res s = tx_send(pp);
		if (s == TX_FAIL || s == TX_LIMITED) /* limited: the timer resumes us */
			break;
		if (s == TX_FULL) {
			/* The chain waits for room (no kicks meanwhile). */
			tx->blocked = true;
			pair_update_events(pp, pair_live(pp));
			break;
		}
		vq_push(vq, tx->ch.head, 0);
		tx->pending = false;
		pushed = true;
		done++;
	}
	if (pushed)
		virtio_notify_queue(dev, vq->index);
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
		tx_process(pp);
	}
	if (events & EPOLLIN)
		rx_process(pp);
	pair_update_events(pp, pair_live(pp));
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
			tx_process(&n->pairs[i]);
		if (rx)
			rx_process(&n->pairs[i]);
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
			tx_process(&n->pairs[i]);
	virtio_dev_unlock(dev);
}

/* Loop handlers are made once, at the first activation with a loop, and live as long as the
 * device: activation and reset may run on a vCPU thread, where only ev_mod is allowed. */
static int handlers_create(struct vnet *n, struct ev_loop *loop)
{
	int r;
	n->loop = loop;
	n->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	n->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->timer_fd < 0 || n->work_fd < 0)
		return -errno;
	if ((r = ev_add(loop, n->timer_fd, EPOLLIN, timer_cb, n, &n->timer_h)) < 0 ||
	    (r = ev_add(loop, n->work_fd, EPOLLIN, work_cb, n, &n->work_h)) < 0)
		return r;
	for (unsigned i = 0; i < n->max_pairs; i++) {
		struct vnet_pair *pp = &n->pairs[i];
		r = ev_add(loop, pp->fd, EPOLLIN, pair_fd_cb, pp, &pp->h);
		if (r < 0)
			return r;
		pp->events = EPOLLIN;
		r = ev_mod(loop, pp->h, 0);
		if (r < 0)
			return r;
		pp->events = 0;
	}
	return 0;
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
			pair_sync(&n->pairs[i], pair_live(&n->pairs[i]));
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
	n->curr_pairs = n->has_ctrl ? 1 : n->max_pairs;
	n->guest_offloads = dev->features & GUEST_OFFLOADS;
	/* Attach first: device-wide TAP ioctls need an attached queue. */
	for (unsigned i = 0; i < n->max_pairs; i++)
		pair_sync(&n->pairs[i], i < n->curr_pairs);
	apply_offloads(n);
	for (unsigned i = 0; i < n->max_pairs; i++)
		pair_update_events(&n->pairs[i], pair_live(&n->pairs[i]));
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

static void vnet_reset(struct virtio_dev *dev)
{
	struct vnet *n = to_net(dev);
	n->guest_offloads = 0;
	apply_offloads(n); /* frames queued from now on are plain for the next driver */
	for (unsigned i = 0; i < n->max_pairs; i++) {
		pair_clear(&n->pairs[i]);
		pair_sync(&n->pairs[i], false); /* TAP queues detached until the next driver */
	}
	n->rx_throttled = n->tx_throttled = false;
	n->curr_pairs = n->has_ctrl ? 1 : n->max_pairs;
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
		pair_sync(pp, pair_live(pp));
		rx_process(pp);
	} else {
		tx_process(pp);
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
		pair_update_events(pp, pair_live(pp));
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
	if (n->pairs && !n->stats_logged) {
		for (unsigned i = 0; i < n->max_pairs; i++)
			stats_line(n, i, LOG_INFO);
		limiter_line(n, LOG_INFO);
	}
	if (n->loop) {
		for (unsigned i = 0; i < n->max_pairs; i++)
			if (n->pairs[i].h)
				ev_del(n->loop, n->pairs[i].h);
		if (n->timer_h)
			ev_del(n->loop, n->timer_h);
		if (n->work_h)
			ev_del(n->loop, n->work_h);
	}
	if (n->timer_fd >= 0)
		close(n->timer_fd);
	if (n->work_fd >= 0)
		close(n->work_fd);
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

static const struct virtio_dev_ops vnet_ops = {
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
		p->mac[0] = (uint8_t)((p->mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
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
		snprintf(err, errlen, "%s: bad parameters (queue pairs %u of %u, queue size %u, mtu %u)",
			 name, p->pairs, port->nr_queues, p->queue_size, p->mtu);
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
