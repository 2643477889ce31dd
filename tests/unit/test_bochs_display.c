/* SPDX-License-Identifier: MIT */
/*
 * The firmware screen (bochs-display) on a PCI bus with a fake KVM, driven through config
 * cycles and MMIO as a guest would: identification, the DISPI registers the VGA BIOS uses,
 * the framebuffer reaching the display (with damage limited to what changed), bad modes.
 */
#include <stdlib.h>
#include <string.h>
#include "backends/display.h"
#include "devices/bochs_display.h"
#include "harness.h"
#include "pci_fake.h"

#define FB_GPA 0xd0000000ULL
#define MMIO_GPA 0xd1000000ULL

struct tb {
	struct pci_env e;
	struct display *d;
	struct display_listener *l;
	struct bochs_display *b;
	unsigned slot;
	struct display_rect dmg;
	unsigned nr_dmg;
};

static void l_mode(void *o, void *fb, uint32_t w, uint32_t h, uint32_t s)
{
	(void)o, (void)fb, (void)w, (void)h, (void)s;
}
static void l_damage(void *o, const struct display_rect *r)
{
	struct tb *t = o;
	if (!t->nr_dmg++) {
		t->dmg = *r;
		return;
	}
	uint32_t x2 = MAX(t->dmg.x + t->dmg.w, r->x + r->w),
		 y2 = MAX(t->dmg.y + t->dmg.h, r->y + r->h);
	t->dmg.x = MIN(t->dmg.x, r->x);
	t->dmg.y = MIN(t->dmg.y, r->y);
	t->dmg.w = x2 - t->dmg.x;
	t->dmg.h = y2 - t->dmg.y;
}
static const struct display_listener_ops lops = {l_mode, l_damage, NULL, NULL};

static struct tb *tb_new(void)
{
	struct tb *t = calloc(1, sizeof(*t));
	if (!t || pci_env_init(&t->e) < 0 || display_create(NULL, 320, 200, &t->d) < 0)
		return NULL;
	if (display_listener_add(t->d, &lops, t, &t->l) < 0)
		return NULL;
	if (bochs_display_create(t->e.pci, NULL, t->d, NULL, &t->b) < 0)
		return NULL;
	t->slot = bochs_display_pci_dev(t->b)->slot;
	/* What the firmware does: place the BARs, enable decoding. */
	cfg1_wr(&t->e, t->slot, PCI_BASE_ADDRESS_0, 4, (uint32_t)FB_GPA);
	cfg1_wr(&t->e, t->slot, PCI_BASE_ADDRESS_2, 4, (uint32_t)MMIO_GPA);
	cfg1_wr(&t->e, t->slot, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	return t;
}

static void tb_free(struct tb *t)
{
	bochs_display_destroy(t->b);
	display_listener_remove(t->l);
	display_destroy(t->d);
	pci_env_fini(&t->e);
	free(t);
}

static void dispi_wr(struct tb *t, unsigned idx, uint16_t v)
{
	mmio_wr(&t->e, MMIO_GPA + 0x500 + 2 * idx, 2, v);
}

static uint16_t dispi_rd(struct tb *t, unsigned idx)
{
	return (uint16_t)mmio_rd(&t->e, MMIO_GPA + 0x500 + 2 * idx, 2);
}

static void set_mode(struct tb *t, uint16_t w, uint16_t h, uint16_t bpp, uint16_t flags)
{
	dispi_wr(t, DISPI_INDEX_ENABLE, 0);
	dispi_wr(t, DISPI_INDEX_XRES, w);
	dispi_wr(t, DISPI_INDEX_YRES, h);
	dispi_wr(t, DISPI_INDEX_BPP, bpp);
	dispi_wr(t, DISPI_INDEX_ENABLE, (uint16_t)(DISPI_ENABLED | flags));
}

static uint32_t shown_px(struct tb *t, uint32_t x, uint32_t y, uint32_t *w, uint32_t *h)
{
	size_t n = display_read(t->d, w, h, NULL, 0);
	uint32_t *buf = malloc(n);
	display_read(t->d, w, h, buf, n);
	uint32_t v = buf[y * *w + x] & 0xffffff;
	free(buf);
	return v;
}

TEST(bochs_display_identifies_like_the_vga_bios_expects)
{
	struct tb *t = tb_new();
	REQUIRE(t);
	CHECK_EQ(cfg1_rd(&t->e, t->slot, PCI_VENDOR_ID, 4), 0x11111234);
	CHECK_EQ(cfg1_rd(&t->e, t->slot, PCI_CLASS_DEVICE, 2), 0x0300);
	/* BAR2 is a plain 32-bit memory BAR (the VGA BIOS masks it with the I/O mask). */
	CHECK_EQ(cfg1_rd(&t->e, t->slot, PCI_BASE_ADDRESS_2, 4), (uint32_t)MMIO_GPA);
	CHECK_EQ(dispi_rd(t, DISPI_INDEX_ID), DISPI_ID5);
	CHECK_EQ(dispi_rd(t, DISPI_INDEX_VIDEO_MEMORY_64K), BOCHS_VRAM_SIZE >> 16);
	dispi_wr(t, DISPI_INDEX_ENABLE, DISPI_GETCAPS);
	CHECK_EQ(dispi_rd(t, DISPI_INDEX_XRES), BOCHS_MAX_XRES);
	CHECK_EQ(dispi_rd(t, DISPI_INDEX_BPP), 32);
	dispi_wr(t, DISPI_INDEX_ENABLE, 0);
	CHECK_EQ(dispi_rd(t, DISPI_INDEX_XRES), 0);
	/* An EDID at the start of BAR2; QEMU's extended registers say little-endian. */
	CHECK_EQ(mmio_rd(&t->e, MMIO_GPA, 4), 0xffffff00u);
	CHECK_EQ(mmio_rd(&t->e, MMIO_GPA + 0x604, 4), 0x1e1e1e1eu);
	/* Garbage writes change nothing that matters. */
	mmio_wr(&t->e, MMIO_GPA + 0x500, 1, 0xff);
	mmio_wr(&t->e, MMIO_GPA + 0x501, 2, 0xffff);
	mmio_wr(&t->e, MMIO_GPA + 0x5fe, 2, 0xffff);
	mmio_wr(&t->e, MMIO_GPA + 0xffc, 4, 0xffffffff);
	dispi_wr(t, DISPI_INDEX_ID, 0x1234);
	CHECK_EQ(dispi_rd(t, DISPI_INDEX_ID), DISPI_ID5);
	tb_free(t);
}

TEST(bochs_display_framebuffer_reaches_the_display)
{
	struct tb *t = tb_new();
	REQUIRE(t);
	/* Leftovers in VRAM are cleared by enabling (without NOCLEARMEM). */
	mmio_wr(&t->e, FB_GPA + 4 * 10, 4, 0x00123456);
	set_mode(t, 640, 480, 32, DISPI_LFB_ENABLED);
	bochs_display_poll(t->b);
	uint32_t w, h;
	CHECK_EQ(shown_px(t, 10, 0, &w, &h), 0);
	CHECK_EQ(w, 640);
	CHECK_EQ(h, 480);
	/* Draw through BAR0 (MMIO here; a KVM memslot in a VM). */
	for (uint32_t x = 100; x < 108; x++)
		mmio_wr(&t->e, FB_GPA + 4 * (300 * 640 + x), 4, 0x00aabbcc);
	t->nr_dmg = 0;
	bochs_display_poll(t->b);
	CHECK_EQ(shown_px(t, 104, 300, &w, &h), 0xaabbcc);
	CHECK_EQ(shown_px(t, 99, 300, &w, &h), 0);
	/* The damage is the changed band, not the screen. */
	CHECK(t->nr_dmg >= 1);
	CHECK(t->dmg.x <= 100 && t->dmg.x + t->dmg.w >= 108 && t->dmg.w <= 64);
	CHECK(t->dmg.y <= 300 && t->dmg.h <= 16);
	/* Nothing changed: nothing pushed. */
	t->nr_dmg = 0;
	bochs_display_poll(t->b);
	CHECK_EQ(t->nr_dmg, 0);
	/* 16 bpp with a virtual width and a y offset (panning). */
	set_mode(t, 320, 200, 16, DISPI_NOCLEARMEM);
	dispi_wr(t, DISPI_INDEX_VIRT_WIDTH, 400);
	dispi_wr(t, DISPI_INDEX_Y_OFFSET, 2);
	mmio_wr(&t->e, FB_GPA + 2 * (2 * 400 + 400 + 5), 2, 0xf800); /* (5, 1) red */
	bochs_display_poll(t->b);
	CHECK_EQ(shown_px(t, 5, 1, &w, &h), 0xff0000);
	CHECK_EQ(w, 320);
	tb_free(t);
}

TEST(bochs_display_bad_modes_show_nothing)
{
	struct tb *t = tb_new();
	REQUIRE(t);
	uint32_t w, h;
	set_mode(t, 8000, 100, 32, 0); /* wider than the device allows */
	bochs_display_poll(t->b);
	shown_px(t, 0, 0, &w, &h);
	CHECK_EQ(w, 320); /* the display's default: nothing shown */
	set_mode(t, 2560, 1600, 32, DISPI_NOCLEARMEM);
	dispi_wr(t, DISPI_INDEX_Y_OFFSET, 1000); /* past the end of VRAM */
	bochs_display_poll(t->b);
	shown_px(t, 0, 0, &w, &h);
	CHECK_EQ(w, 320);
	set_mode(t, 640, 480, 8, 0); /* palette modes are not shown */
	bochs_display_poll(t->b);
	shown_px(t, 0, 0, &w, &h);
	CHECK_EQ(w, 320);
	set_mode(t, 640, 480, 32, 0);
	bochs_display_poll(t->b);
	shown_px(t, 0, 0, &w, &h);
	CHECK_EQ(w, 640);
	dispi_wr(t, DISPI_INDEX_ENABLE, 0);
	bochs_display_poll(t->b);
	shown_px(t, 0, 0, &w, &h);
	CHECK_EQ(w, 320);
	tb_free(t);
}
