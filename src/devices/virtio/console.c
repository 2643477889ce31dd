/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (VirtIO 1.2, 5.3), single port: receiveq (0) carries host input to the guest,
 * transmitq (1) guest output to the chardev. VIRTIO_CONSOLE_F_SIZE when the chardev is a
 * terminal (cols/rows in config space, a config interrupt on every change and once after the
 * driver first transmits, when its port exists) and VIRTIO_CONSOLE_F_EMERG_WRITE (a character
 * written to emerg_wr is output at once). MULTIPORT is not offered: its RESIZE control message
 * carries rows/cols in an order that differs between Linux versions and the spec, while the
 * config-space size is unambiguous.
 *
 * Input flow control: the chardev hands input to vcon_input() on the loop thread; without
 * receive buffers the device takes nothing, the chardev stops reading its fd, and the guest's
 * next receiveq kick resumes it. No input is dropped.
 *
 * Nothing a guest puts in a chain can fail this device: output is whatever the readable
 * segments hold (writable segments in a transmit chain are ignored, used length 0), input
 * goes into the writable segments of receive chains (readable ones are skipped).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include "backends/chardev.h"
#include "base/log.h"
#include "devices/virtio/console.h"

#define VCON_QUEUE_SIZE 256u
#define VCON_CHAIN_CAP 256u
#define Q_RX 0
#define Q_TX 1

struct vcon {
	struct virtio_dev vdev; /* first */
	struct virtio_console_config cfg;
	struct chardev *chr;
	bool size_sent;	 /* the current size went to the driver since activation */
	bool rx_waiting; /* input paused until the driver adds receive buffers */
	uint64_t tx_bytes, rx_bytes;
	struct iovec iov[VCON_CHAIN_CAP];
};

static struct vcon *to_con(struct virtio_dev *dev)
{
	return container_of(dev, struct vcon, vdev);
}

static bool live(struct virtio_dev *dev, uint16_t q)
{
	return dev->active && !dev->failed && dev->queues[q].ready;
}

static void send_size_locked(struct vcon *c)
{
	struct virtio_dev *dev = &c->vdev;
	if (!dev->active || dev->failed || !virtio_has_feature(dev, VIRTIO_CONSOLE_F_SIZE))
		return;
	c->size_sent = true;
	virtio_notify_config(dev);
}

/* chardev input consumer (loop thread). */
static size_t vcon_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct vcon *c = opaque;
	struct virtio_dev *dev = &c->vdev;
	struct vq_chain ch = {.iov = c->iov, .cap = VCON_CHAIN_CAP};
	size_t took = 0;
	bool pushed = false;

	virtio_dev_lock(dev);
	if (!live(dev, Q_RX)) {
		c->rx_waiting = true; /* resumed at the first receiveq kick */
		virtio_dev_unlock(dev);
		return 0;
	}
	while (took < len) {
		int r = vq_pop(&dev->queues[Q_RX], &ch);
		if (r <= 0) {
			c->rx_waiting = r == 0;
			break;
		}
		struct vq_cursor w;
		vq_writer_init(&w, &ch);
		uint32_t n = (uint32_t)MIN(len - took, (size_t)vq_cursor_remaining(&w));
		if (n && vq_cursor_write(&w, buf + took, n) < 0)
			n = 0;
		took += n;
		vq_push(&dev->queues[Q_RX], ch.head, n);
		pushed = true;
	}
	c->rx_bytes += took;
	if (pushed)
		virtio_notify_queue(dev, Q_RX);
	virtio_dev_unlock(dev);
	return took;
}

static void process_tx(struct vcon *c)
{
	struct virtio_dev *dev = &c->vdev;
	struct virtqueue *vq = &dev->queues[Q_TX];
	struct vq_chain ch = {.iov = c->iov, .cap = VCON_CHAIN_CAP};
	bool pushed = false;

	while (vq_pop(vq, &ch) > 0) {
		for (uint32_t i = 0; i < ch.nr_out; i++)
			chardev_write(c->chr, ch.iov[i].iov_base, ch.iov[i].iov_len);
		c->tx_bytes += ch.out_len;
		vq_push(vq, ch.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(dev, Q_TX);
}

static void vcon_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vcon *c = to_con(dev);
	if (q == Q_RX) {
		if (c->rx_waiting) {
			c->rx_waiting = false;
			chardev_input_resume(c->chr);
		}
	} else if (q == Q_TX) {
		process_tx(c);
		/* The driver's port exists once it transmits: tell it the size. */
		if (!c->size_sent)
			send_size_locked(c);
	}
}

static int vcon_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vcon *c = to_con(dev);
	c->size_sent = false;
	/* Input held while the device was down can go to the new receive buffers. */
	c->rx_waiting = false;
	chardev_input_resume(c->chr);
	/* Output queued before DRIVER_OK (its kick found no live device). */
	if (ctx->queues[Q_TX].ready)
		process_tx(c);
	return 0;
}

/* Nothing of this device runs outside the loop thread: the reset is complete at once. */
static int vcon_reset(struct virtio_dev *dev, bool wait)
{
	(void)wait;
	struct vcon *c = to_con(dev);
	c->size_sent = false;
	c->rx_waiting = false;
	return 0;
}

static void vcon_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
	struct vcon *c = to_con(dev);
	const uint32_t e = offsetof(struct virtio_console_config, emerg_wr);
	/* emerg_wr is the only writable field: its first byte is the character. */
	if (virtio_has_feature(dev, VIRTIO_CONSOLE_F_EMERG_WRITE) && off == e && len >= 1)
		chardev_write(c->chr, data, 1);
}

static void vcon_destroy(struct virtio_dev *dev)
{
	struct vcon *c = to_con(dev);
	chardev_set_input(c->chr, NULL, NULL);
	chardev_destroy(c->chr);
	free(c);
}

/* vm.counters (under the device lock) */
static void vcon_counters(struct virtio_dev *dev, void (*emit)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	emit(ctx, "tx_bytes", to_con(dev)->tx_bytes);
	emit(ctx, "rx_bytes", to_con(dev)->rx_bytes);
}

static const struct virtio_dev_ops vcon_ops = {
    .counters = vcon_counters,
    .activate = vcon_activate,
    .reset = vcon_reset,
    .write_config = vcon_write_config,
    .queue_notify = vcon_queue_notify,
    .destroy = vcon_destroy,
};

static void vcon_winsize(void *opaque, uint16_t cols, uint16_t rows)
{
	vcon_set_size(opaque, cols, rows);
}

int vcon_create(struct chardev *chr, const char *name, struct virtio_dev **out)
{
	struct vcon *c = calloc(1, sizeof(*c));
	uint16_t cols = 0, rows = 0;
	if (!c) {
		chardev_destroy(chr);
		return -ENOMEM;
	}
	c->chr = chr;
	uint64_t f = 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE;
	if (chardev_watch_winsize(chr, vcon_winsize, &c->vdev, &cols, &rows) == 0) {
		f |= 1ULL << VIRTIO_CONSOLE_F_SIZE;
		c->cfg.cols = htole16(cols);
		c->cfg.rows = htole16(rows);
	}
	c->cfg.max_nr_ports = htole32(1);
	int r = virtio_dev_init(&c->vdev, &vcon_ops, name, VIRTIO_ID_CONSOLE, f, 2, VCON_QUEUE_SIZE,
				&c->cfg, sizeof(c->cfg));
	if (r < 0) {
		chardev_destroy(chr);
		free(c);
		return r;
	}
	chardev_set_input(chr, vcon_input, c);
	*out = &c->vdev;
	return 0;
}

void vcon_set_size(struct virtio_dev *dev, uint16_t cols, uint16_t rows)
{
	struct vcon *c = to_con(dev);
	virtio_dev_lock(dev);
	if (le16toh(c->cfg.cols) != cols || le16toh(c->cfg.rows) != rows) {
		c->cfg.cols = htole16(cols);
		c->cfg.rows = htole16(rows);
		send_size_locked(c);
	}
	virtio_dev_unlock(dev);
}

struct chardev *vcon_chardev(struct virtio_dev *dev)
{
	return to_con(dev)->chr;
}
