/* SPDX-License-Identifier: MIT */
/*
 * virtio-input keyboard and tablet (VirtIO 1.2, 5.8). The config space answers the driver's
 * (select, subsel) queries from the device description below; events go out on queue 0, LED
 * updates come in on queue 1 (read and dropped: there are no host LEDs).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/input.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_input.h>
#include "base/log.h"
#include "devices/virtio/input.h"

#define VINPUT_EVENTQ 0
#define VINPUT_STATUSQ 1
#define VINPUT_CHAIN_CAP 4
#define VINPUT_ABS_MAX DISPLAY_ABS_MAX

struct vinput {
	struct virtio_dev vdev; /* first */
	enum vinput_kind kind;
	struct virtio_input_config cfg;
	struct vinput_event ring[VINPUT_PENDING_MAX];
	unsigned head, count;
	uint64_t dropped;
	uint32_t buttons; /* tablet: last button state sent */
	struct iovec iov[VINPUT_CHAIN_CAP];
};

static struct vinput *to_in(struct virtio_dev *dev)
{
	return container_of(dev, struct vinput, vdev);
}

/* ---- config space ---- */

static void set_bit8(uint8_t *bm, unsigned bit)
{
	bm[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static uint8_t bitmap_size(const uint8_t *bm)
{
	for (unsigned n = 128; n > 0; n--)
		if (bm[n - 1])
			return (uint8_t)n;
	return 0;
}

/* Fill cfg.size and cfg.u for the current (select, subsel). */
static void config_update(struct vinput *in)
{
	struct virtio_input_config *c = &in->cfg;
	bool kbd = in->kind == VINPUT_KEYBOARD;
	memset(&c->u, 0, sizeof(c->u));
	c->size = 0;
	switch (c->select) {
	case VIRTIO_INPUT_CFG_ID_NAME: {
		const char *name = kbd ? "vireo keyboard" : "vireo tablet";
		if (c->subsel == 0) {
			c->size = (uint8_t)strlen(name);
			memcpy(c->u.string, name, c->size);
		}
		break;
	}
	case VIRTIO_INPUT_CFG_ID_SERIAL:
		if (c->subsel == 0) {
			c->size = 1;
			c->u.string[0] = '0';
		}
		break;
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		if (c->subsel == 0) {
			c->u.ids.bustype = htole16(BUS_VIRTUAL);
			c->u.ids.vendor = htole16(0x0627); /* what virtio-input devices report */
			c->u.ids.product = htole16(kbd ? 1 : 3);
			c->u.ids.version = htole16(1);
			c->size = sizeof(c->u.ids);
		}
		break;
	case VIRTIO_INPUT_CFG_PROP_BITS:
		break; /* no properties */
	case VIRTIO_INPUT_CFG_EV_BITS:
		if (kbd && c->subsel == EV_KEY) {
			/* Every key of a PC keyboard (and what the keymap produces). */
			for (unsigned k = KEY_ESC; k <= KEY_MICMUTE; k++)
				set_bit8(c->u.bitmap, k);
		} else if (kbd && c->subsel == EV_LED) {
			set_bit8(c->u.bitmap, LED_NUML);
			set_bit8(c->u.bitmap, LED_CAPSL);
			set_bit8(c->u.bitmap, LED_SCROLLL);
		} else if (kbd && c->subsel == EV_REP) {
			c->u.bitmap[0] = 1; /* autorepeat by the guest's input core */
		} else if (!kbd && c->subsel == EV_KEY) {
			set_bit8(c->u.bitmap, BTN_LEFT);
			set_bit8(c->u.bitmap, BTN_RIGHT);
			set_bit8(c->u.bitmap, BTN_MIDDLE);
		} else if (!kbd && c->subsel == EV_ABS) {
			set_bit8(c->u.bitmap, ABS_X);
			set_bit8(c->u.bitmap, ABS_Y);
		} else if (!kbd && c->subsel == EV_REL) {
			set_bit8(c->u.bitmap, REL_WHEEL);
		}
		c->size = bitmap_size(c->u.bitmap);
		break;
	case VIRTIO_INPUT_CFG_ABS_INFO:
		if (!kbd && (c->subsel == ABS_X || c->subsel == ABS_Y)) {
			c->u.abs.min = 0;
			c->u.abs.max = htole32(VINPUT_ABS_MAX);
			c->size = sizeof(c->u.abs);
		}
		break;
	default:
		break;
	}
}

static void vinput_write_config(struct virtio_dev *dev, uint32_t off, const void *data,
				uint32_t len)
{
	struct vinput *in = to_in(dev);
	const uint8_t *p = data;
	/* Only select and subsel are writable. */
	for (uint32_t i = 0; i < len; i++) {
		if (off + i == offsetof(struct virtio_input_config, select))
			in->cfg.select = p[i];
		else if (off + i == offsetof(struct virtio_input_config, subsel))
			in->cfg.subsel = p[i];
	}
	config_update(in);
}

/* ---- events ---- */

/* Deliver queued events into the driver's buffers (dev lock held). */
static void flush_locked(struct vinput *in)
{
	struct virtio_dev *dev = &in->vdev;
	struct virtqueue *vq = &dev->queues[VINPUT_EVENTQ];
	bool pushed = false;

	if (!dev->active || dev->failed)
		return;
	while (in->count) {
		struct vq_chain chain = {.iov = in->iov, .cap = VINPUT_CHAIN_CAP};
		int r = vq_pop(vq, &chain);
		if (r <= 0)
			break;
		struct virtio_input_event raw;
		const struct vinput_event *e = &in->ring[in->head];
		raw.type = htole16(e->type);
		raw.code = htole16(e->code);
		raw.value = htole32((uint32_t)e->value);
		struct vq_cursor w;
		vq_writer_init(&w, &chain);
		if (vq_write_obj(&w, &raw) < 0) {
			virtio_dev_fail(dev,
					"event queue: buffer 0x%x has %u writable bytes, need %zu",
					chain.head, chain.in_len, sizeof(raw));
			return;
		}
		vq_push(vq, chain.head, sizeof(raw));
		pushed = true;
		in->head = (in->head + 1) % VINPUT_PENDING_MAX;
		in->count--;
	}
	if (pushed)
		virtio_notify_queue(dev, VINPUT_EVENTQ);
}

bool vinput_send(struct virtio_dev *dev, const struct vinput_event *ev, unsigned n)
{
	struct vinput *in = to_in(dev);
	bool ok = false;

	virtio_dev_lock(dev);
	if (!dev->active || dev->failed) {
		virtio_dev_unlock(dev);
		return false;
	}
	if (in->count + n + 1 <= VINPUT_PENDING_MAX) {
		for (unsigned i = 0; i <= n; i++) {
			struct vinput_event syn = {EV_SYN, SYN_REPORT, 0};
			in->ring[(in->head + in->count) % VINPUT_PENDING_MAX] = i < n ? ev[i] : syn;
			in->count++;
		}
		ok = true;
	} else {
		in->dropped += n + 1;
		log_rl(LOG_WARN,
		       "%s: the guest is not reading input events: %u dropped (%llu so far)",
		       dev->name, n + 1, (unsigned long long)in->dropped);
	}
	flush_locked(in);
	virtio_dev_unlock(dev);
	return ok;
}

uint64_t vinput_dropped(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	uint64_t n = to_in(dev)->dropped;
	virtio_dev_unlock(dev);
	return n;
}

static void drain_status(struct vinput *in)
{
	struct virtio_dev *dev = &in->vdev;
	struct virtqueue *vq = &dev->queues[VINPUT_STATUSQ];
	bool pushed = false;
	for (;;) {
		struct vq_chain chain = {.iov = in->iov, .cap = VINPUT_CHAIN_CAP};
		if (vq_pop(vq, &chain) <= 0)
			break;
		struct virtio_input_event raw;
		struct vq_cursor r;
		vq_reader_init(&r, &chain);
		if (vq_read_obj(&r, &raw) == 0)
			log_debug("%s: status event type %u code %u value %u", dev->name,
				  le16toh(raw.type), le16toh(raw.code), le32toh(raw.value));
		vq_push(vq, chain.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(dev, VINPUT_STATUSQ);
}

/* ---- virtio ops ---- */

static void vinput_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vinput *in = to_in(dev);
	if (q == VINPUT_EVENTQ)
		flush_locked(in);
	else
		drain_status(in);
}

static int vinput_reset(struct virtio_dev *dev, bool wait)
{
	(void)wait;
	struct vinput *in = to_in(dev);
	in->head = in->count = 0;
	in->buttons = 0;
	in->cfg.select = in->cfg.subsel = 0;
	config_update(in);
	return 0;
}

static void vinput_destroy(struct virtio_dev *dev)
{
	free(to_in(dev));
}

static const struct virtio_dev_ops vinput_ops = {
    .write_config = vinput_write_config,
    .reset = vinput_reset,
    .queue_notify = vinput_queue_notify,
    .destroy = vinput_destroy,
};

int vinput_create(enum vinput_kind kind, const char *name, struct virtio_dev **out)
{
	struct vinput *in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->kind = kind;
	config_update(in);
	int r = virtio_dev_init(&in->vdev, &vinput_ops, name, VIRTIO_ID_INPUT, 0, 2,
				VINPUT_QUEUE_SIZE, &in->cfg, sizeof(in->cfg));
	if (r < 0) {
		free(in);
		return r;
	}
	*out = &in->vdev;
	return 0;
}

/* ---- display sink ---- */

static void sink_key(void *opaque, uint16_t code, bool down)
{
	struct virtio_dev *dev = opaque;
	if (to_in(dev)->kind != VINPUT_KEYBOARD)
		return;
	struct vinput_event e = {EV_KEY, code, down ? 1 : 0};
	vinput_send(dev, &e, 1);
}

static void sink_pointer(void *opaque, uint32_t x, uint32_t y, uint32_t buttons, int wheel)
{
	struct virtio_dev *dev = opaque;
	struct vinput *in = to_in(dev);
	static const uint16_t btn[3] = {BTN_LEFT, BTN_MIDDLE, BTN_RIGHT};
	struct vinput_event ev[6];
	unsigned n = 0;

	if (in->kind != VINPUT_TABLET)
		return;
	ev[n++] = (struct vinput_event){EV_ABS, ABS_X, (int32_t)MIN(x, VINPUT_ABS_MAX)};
	ev[n++] = (struct vinput_event){EV_ABS, ABS_Y, (int32_t)MIN(y, VINPUT_ABS_MAX)};
	virtio_dev_lock(dev);
	uint32_t changed = (buttons ^ in->buttons) & 7;
	for (unsigned i = 0; i < 3; i++)
		if (changed & (1u << i))
			ev[n++] = (struct vinput_event){EV_KEY, btn[i], (buttons >> i) & 1};
	if (wheel)
		ev[n++] = (struct vinput_event){EV_REL, REL_WHEEL, wheel};
	if (vinput_send(dev, ev, n))
		in->buttons = buttons & 7;
	virtio_dev_unlock(dev);
}

const struct display_input_ops vinput_display_ops = {
    .key = sink_key,
    .pointer = sink_pointer,
};
