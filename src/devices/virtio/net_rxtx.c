/* SPDX-License-Identifier: MIT */
/*
 * virtio-net data path: headers, the rate limiter, RX and TX (see net.c for the overview).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>
#include "base/log.h"
#include "devices/virtio/net_priv.h"

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
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
	    !virtio_has_feature(dev, VIRTIO_NET_F_HOST_ECN))
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

/* ---- rate limiter ---- */

static void timer_arm(struct vnet *n, uint64_t wait_ns)
{
	uint64_t now = time_now_ns();
	uint64_t deadline = now + (wait_ns ? wait_ns : 1);
	if (n->timer_fd < 0 || (n->timer_deadline && n->timer_deadline <= deadline))
		return;
	struct itimerspec its = {
	    .it_value = {(time_t)(deadline / 1000000000ULL), (long)(deadline % 1000000000ULL)}};
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
		virtio_dev_fail(dev,
				"rx queue %u: buffer 0x%x of %u bytes cannot hold the %u-byte "
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
			virtio_dev_fail(
			    &pp->n->vdev,
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
			log_rl(
			    LOG_INFO,
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

void vnet_rx_process(struct vnet_pair *pp)
{
	struct vnet *n = pp->n;
	struct virtio_dev *dev = &n->vdev;
	struct virtqueue *vq = &dev->queues[2 * pp->index];
	struct vnet_rx *rx = &pp->rx;
	bool mrg = virtio_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	unsigned done = 0;
	bool pushed = false;

	if (!vnet_pair_live(pp) || n->port_dead) {
		vnet_pair_update_events(pp, false);
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
	vnet_pair_update_events(pp, vnet_pair_live(pp));
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
		virtio_dev_fail(dev,
				"tx queue %u: packet 0x%x of %u bytes is shorter than the "
				"%u-byte header",
				2 * pp->index + 1, ch->head, ch->out_len, HDR_LEN);
		return TX_FAIL;
	}
	hdr_decode(raw, &h);
	uint32_t flen = ch->out_len - HDR_LEN;
	const char *bad = tx_hdr_error(dev, &h, flen);
	if (bad) {
		virtio_dev_fail(dev,
				"tx queue %u: packet 0x%x: bad header: %s (flags 0x%x gso 0x%x "
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

void vnet_tx_process(struct vnet_pair *pp)
{
	struct vnet *n = pp->n;
	struct virtio_dev *dev = &n->vdev;
	struct virtqueue *vq = &dev->queues[2 * pp->index + 1];
	struct vnet_tx *tx = &pp->tx;
	unsigned done = 0;
	bool pushed = false;

	tx->again = false;
	if (!virtio_dev_live(dev) || !vq->ready || tx->blocked)
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
			vnet_pair_update_events(pp, vnet_pair_live(pp));
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
