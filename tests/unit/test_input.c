/* SPDX-License-Identifier: MIT */
/*
 * virtio-input through the test-side driver: the config space a driver reads, key and pointer
 * events as the guest sees them, an event queue left unread (bounded, nothing breaks), buffers
 * too small for an event (the device needs a reset).
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <linux/input.h>
#include <linux/virtio_config.h>
#include <linux/virtio_input.h>
#include "backends/display.h"
#include "backends/keymap.h"
#include "devices/virtio/input.h"
#include "harness.h"
#include "vq_driver.h"

struct tin {
	struct virtio_dev *dev;
	struct vqd_mem m;
	struct vq_driver evq, stq;
	uint64_t bufs;
	unsigned irq_queue;
};

static void irq_q(void *o, uint16_t q)
{
	(void)q;
	((struct tin *)o)->irq_queue++;
}
static void irq_c(void *o)
{
	(void)o;
}
static const struct virtio_irq_ops t_irq = {irq_q, irq_c};

static struct tin *tin_new(enum vinput_kind kind, bool driver_ok)
{
	struct tin *t = calloc(1, sizeof(*t));
	if (!t || vinput_create(kind, "input0", &t->dev) < 0 || vqd_mem_init(&t->m, 0, 4 << 20) < 0)
		return NULL;
	virtio_dev_attach(t->dev, &t->m.gm, NULL, &t_irq, t);
	if (vqd_init(&t->evq, &t->m, 0x10000, VINPUT_QUEUE_SIZE) < 0 ||
	    vqd_init(&t->stq, &t->m, 0x20000, VINPUT_QUEUE_SIZE) < 0)
		return NULL;
	uint8_t st = vqd_negotiate(t->dev, 1ULL << VIRTIO_F_VERSION_1);
	if (vqd_attach(&t->evq, t->dev, 0) < 0 || vqd_attach(&t->stq, t->dev, 1) < 0)
		return NULL;
	if (driver_ok)
		virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	t->bufs = vqd_alloc(&t->m, 8 * VINPUT_QUEUE_SIZE, 8);
	return t;
}

static void tin_free(struct tin *t)
{
	virtio_dev_destroy(t->dev);
	vqd_mem_fini(&t->m);
	free(t);
}

/* Post n 8-byte event buffers and kick. */
static void post(struct tin *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vqd_seg s = {t->bufs + 8 * (i % VINPUT_QUEUE_SIZE), 8, true};
		vqd_add(&t->evq, &s, 1, false);
	}
	virtio_queue_kick(t->dev, 0);
}

static bool next_event(struct tin *t, struct virtio_input_event *e)
{
	uint32_t id, len;
	if (!vqd_get_used(&t->evq, &id, &len) || len != 8)
		return false;
	/* id is the head descriptor; the test posts one descriptor per buffer. */
	uint64_t gpa = gm_load64(vqd_hva(&t->m, t->evq.desc_gpa + 16ull * id));
	memcpy(e, vqd_hva(&t->m, gpa), sizeof(*e));
	return true;
}

static void expect(struct tin *t, uint16_t type, uint16_t code, int32_t value, int line)
{
	struct virtio_input_event e;
	if (!next_event(t, &e)) {
		test_fail_at(__FILE__, line, "no event (want %u/%u/%d)", type, code, value);
		return;
	}
	if (le16toh(e.type) != type || le16toh(e.code) != code ||
	    (int32_t)le32toh(e.value) != value)
		test_fail_at(__FILE__, line, "event %u/%u/%d, want %u/%u/%d", le16toh(e.type),
			     le16toh(e.code), (int32_t)le32toh(e.value), type, code, value);
}
#define EXPECT(t, ty, c, v) expect(t, ty, c, v, __LINE__)

static uint8_t cfg_select(struct tin *t, uint8_t sel, uint8_t sub, struct virtio_input_config *c)
{
	virtio_write_config(t->dev, 0, &sel, 1);
	virtio_write_config(t->dev, 1, &sub, 1);
	virtio_read_config(t->dev, 0, c, sizeof(*c));
	return c->size;
}

static bool has_bit(const struct virtio_input_config *c, unsigned bit)
{
	return bit / 8 < c->size && (c->u.bitmap[bit / 8] >> (bit % 8)) & 1;
}

TEST(input_config_describes_keyboard_and_tablet)
{
	struct tin *k = tin_new(VINPUT_KEYBOARD, true), *p = tin_new(VINPUT_TABLET, true);
	REQUIRE(k && p);
	struct virtio_input_config c;
	REQUIRE(cfg_select(k, VIRTIO_INPUT_CFG_ID_NAME, 0, &c) == 14);
	CHECK(memcmp(c.u.string, "vireo keyboard", 14) == 0);
	CHECK(cfg_select(k, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, &c) > 0);
	CHECK(has_bit(&c, KEY_A) && has_bit(&c, KEY_ENTER) && has_bit(&c, KEY_F12));
	CHECK(!has_bit(&c, BTN_LEFT));
	CHECK(cfg_select(k, VIRTIO_INPUT_CFG_EV_BITS, EV_REP, &c) > 0);
	CHECK(cfg_select(k, VIRTIO_INPUT_CFG_EV_BITS, EV_LED, &c) > 0 && has_bit(&c, LED_CAPSL));
	CHECK_EQ(cfg_select(k, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, &c), 0);
	CHECK_EQ(cfg_select(k, VIRTIO_INPUT_CFG_ID_DEVIDS, 0, &c), sizeof(c.u.ids));
	CHECK_EQ(le16toh(c.u.ids.bustype), BUS_VIRTUAL);
	CHECK_EQ(cfg_select(k, 0x77, 0, &c), 0);

	CHECK(cfg_select(p, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, &c) > 0);
	CHECK(has_bit(&c, ABS_X) && has_bit(&c, ABS_Y));
	CHECK(cfg_select(p, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, &c) > 0);
	CHECK(has_bit(&c, BTN_LEFT) && has_bit(&c, BTN_RIGHT) && !has_bit(&c, KEY_A));
	CHECK(cfg_select(p, VIRTIO_INPUT_CFG_EV_BITS, EV_REL, &c) > 0 && has_bit(&c, REL_WHEEL));
	CHECK_EQ(cfg_select(p, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y, &c), sizeof(c.u.abs));
	CHECK_EQ(le32toh(c.u.abs.max), DISPLAY_ABS_MAX);
	CHECK_EQ(cfg_select(p, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Z, &c), 0);
	tin_free(k);
	tin_free(p);
}

TEST(input_key_and_pointer_events)
{
	struct tin *k = tin_new(VINPUT_KEYBOARD, true), *p = tin_new(VINPUT_TABLET, true);
	REQUIRE(k && p);
	post(k, 8);
	vinput_display_ops.key(k->dev, keymap_keysym_to_linux('q'), true);
	vinput_display_ops.key(k->dev, keymap_keysym_to_linux('Q'), false);
	EXPECT(k, EV_KEY, KEY_Q, 1);
	EXPECT(k, EV_SYN, SYN_REPORT, 0);
	EXPECT(k, EV_KEY, KEY_Q, 0);
	EXPECT(k, EV_SYN, SYN_REPORT, 0);
	CHECK(k->irq_queue >= 1);
	/* The keyboard ignores pointer input. */
	vinput_display_ops.pointer(k->dev, 1, 2, 1, 0);
	struct virtio_input_event e;
	CHECK(!next_event(k, &e));

	post(p, 16);
	vinput_display_ops.pointer(p->dev, 100, 200, 4, 0);
	EXPECT(p, EV_ABS, ABS_X, 100);
	EXPECT(p, EV_ABS, ABS_Y, 200);
	EXPECT(p, EV_KEY, BTN_RIGHT, 1);
	EXPECT(p, EV_SYN, SYN_REPORT, 0);
	vinput_display_ops.pointer(p->dev, 100, 201, 0, -1);
	EXPECT(p, EV_ABS, ABS_X, 100);
	EXPECT(p, EV_ABS, ABS_Y, 201);
	EXPECT(p, EV_KEY, BTN_RIGHT, 0);
	EXPECT(p, EV_REL, REL_WHEEL, -1);
	EXPECT(p, EV_SYN, SYN_REPORT, 0);
	tin_free(k);
	tin_free(p);
}

TEST(input_unread_queue_is_bounded)
{
	struct tin *t = tin_new(VINPUT_KEYBOARD, true);
	REQUIRE(t);
	/* The driver never posts a buffer: every report waits, until the ring is full. */
	unsigned sent = 0;
	for (unsigned i = 0; i < 10000; i++) {
		struct vinput_event e = {EV_KEY, KEY_A, (int32_t)(i & 1)};
		sent += vinput_send(t->dev, &e, 1);
	}
	CHECK_EQ(sent, VINPUT_PENDING_MAX / 2);
	CHECK_EQ(vinput_dropped(t->dev), (10000 - VINPUT_PENDING_MAX / 2) * 2);
	CHECK(!(virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET));
	/* Once it reads, the oldest reports arrive in order. */
	post(t, 4);
	EXPECT(t, EV_KEY, KEY_A, 0);
	EXPECT(t, EV_SYN, SYN_REPORT, 0);
	EXPECT(t, EV_KEY, KEY_A, 1);
	EXPECT(t, EV_SYN, SYN_REPORT, 0);
	/* A reset forgets what was pending. */
	virtio_reset(t->dev);
	CHECK(!vinput_send(t->dev, &(struct vinput_event){EV_KEY, KEY_B, 1}, 1));
	tin_free(t);
}

TEST(input_events_before_driver_ok_are_dropped)
{
	struct tin *t = tin_new(VINPUT_KEYBOARD, false);
	REQUIRE(t);
	struct vinput_event e = {EV_KEY, KEY_A, 1};
	CHECK(!vinput_send(t->dev, &e, 1));
	tin_free(t);
}

TEST(input_short_buffer_needs_reset)
{
	struct tin *t = tin_new(VINPUT_KEYBOARD, true);
	REQUIRE(t);
	struct vqd_seg s = {t->bufs, 4, true};
	vqd_add(&t->evq, &s, 1, false);
	virtio_queue_kick(t->dev, 0);
	vinput_send(t->dev, &(struct vinput_event){EV_KEY, KEY_A, 1}, 1);
	CHECK(virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET);
	tin_free(t);
}

TEST(input_status_queue_is_consumed)
{
	struct tin *t = tin_new(VINPUT_KEYBOARD, true);
	REQUIRE(t);
	struct virtio_input_event *led = vqd_hva(&t->m, t->bufs);
	led->type = htole16(EV_LED);
	led->code = htole16(LED_CAPSL);
	led->value = htole32(1);
	struct vqd_seg s = {t->bufs, 8, false};
	vqd_add(&t->stq, &s, 1, false);
	virtio_queue_kick(t->dev, 1);
	uint32_t id, len;
	CHECK(vqd_get_used(&t->stq, &id, &len));
	CHECK_EQ(len, 0);
	tin_free(t);
}

TEST(keymap_us_layout)
{
	CHECK_EQ(keymap_keysym_to_linux('a'), KEY_A);
	CHECK_EQ(keymap_keysym_to_linux('Z'), KEY_Z);
	CHECK_EQ(keymap_keysym_to_linux('0'), KEY_0);
	CHECK_EQ(keymap_keysym_to_linux('!'), KEY_1);
	CHECK_EQ(keymap_keysym_to_linux('?'), KEY_SLASH);
	CHECK_EQ(keymap_keysym_to_linux(0xff0d), KEY_ENTER); /* Return */
	CHECK_EQ(keymap_keysym_to_linux(0xffe1), KEY_LEFTSHIFT);
	CHECK_EQ(keymap_keysym_to_linux(0xffbe), KEY_F1);
	CHECK_EQ(keymap_keysym_to_linux(0x20ac), 0); /* EuroSign: no US key */
}
