/* SPDX-License-Identifier: MIT */
/* The firmware screen (bochs-display): see bochs_display.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "backends/display.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/bochs_display.h"
#include "devices/edid.h"
#include "kvm/kvm.h"
#include "pci/pci.h"

#define MMIO_EDID 0x000u
#define MMIO_VGA 0x400u
#define MMIO_DISPI 0x500u
#define MMIO_QEXT 0x600u
#define QEXT_SIZE 8u
#define QEXT_LITTLE_ENDIAN 0x1e1e1e1eu
#define BAND 16u  /* rows compared per band */
#define CHUNK 64u /* bytes per column chunk */

struct bochs_mode {
	bool on;
	uint32_t w, h, bytespp, stride;
	uint64_t start;
	enum display_fmt fmt;
};

struct bochs_display {
	struct pci_dev pci; /* first */
	struct kvm *kvm;
	uint32_t slot;
	bool slot_ok, mapped;
	uint8_t *vram;
	uint8_t *shadow;
	uint8_t edid[EDID_BLOCK_LEN];
	struct display_source *src;
	struct ev_loop *loop;
	struct ev_handler *timer;

	pthread_mutex_t lock;
	uint16_t regs[DISPI_INDEX_NR];
	struct bochs_mode shown; /* the mode last pushed to the display */
};

/* ---- mode ---- */

static void mode_of(const struct bochs_display *b, struct bochs_mode *m)
{
	const uint16_t *r = b->regs;
	memset(m, 0, sizeof(*m));
	if (!(r[DISPI_INDEX_ENABLE] & DISPI_ENABLED))
		return;
	switch (r[DISPI_INDEX_BPP]) {
	case 32:
		m->fmt = DFMT_BGRX;
		break;
	case 24:
		m->fmt = DFMT_BGR;
		break;
	case 16:
		m->fmt = DFMT_RGB565;
		break;
	default:
		return; /* 8 bpp (palette) and 15 bpp are not shown */
	}
	m->bytespp = r[DISPI_INDEX_BPP] / 8u;
	m->w = r[DISPI_INDEX_XRES];
	m->h = r[DISPI_INDEX_YRES];
	uint32_t vw = MAX((uint32_t)r[DISPI_INDEX_VIRT_WIDTH], m->w);
	m->stride = vw * m->bytespp;
	m->start = (uint64_t)r[DISPI_INDEX_Y_OFFSET] * m->stride +
		   (uint64_t)r[DISPI_INDEX_X_OFFSET] * m->bytespp;
	if (!m->w || !m->h || m->w > BOCHS_MAX_XRES || m->h > BOCHS_MAX_YRES ||
	    m->start + (uint64_t)m->stride * (m->h - 1) + (uint64_t)m->w * m->bytespp >
		BOCHS_VRAM_SIZE)
		return;
	m->on = true;
}

/* ---- DISPI registers (vCPU threads) ---- */

static uint16_t dispi_read(struct bochs_display *b, unsigned idx)
{
	uint16_t en = b->regs[DISPI_INDEX_ENABLE];
	switch (idx) {
	case DISPI_INDEX_XRES:
		return en & DISPI_GETCAPS ? BOCHS_MAX_XRES : b->regs[idx];
	case DISPI_INDEX_YRES:
		return en & DISPI_GETCAPS ? BOCHS_MAX_YRES : b->regs[idx];
	case DISPI_INDEX_BPP:
		return en & DISPI_GETCAPS ? 32 : b->regs[idx];
	case DISPI_INDEX_VIRT_HEIGHT: {
		uint32_t bpp = MAX(b->regs[DISPI_INDEX_BPP] / 8u, 1u);
		uint32_t stride = MAX((uint32_t)b->regs[DISPI_INDEX_VIRT_WIDTH], 1u) * bpp;
		return (uint16_t)MIN(BOCHS_VRAM_SIZE / stride, 0xffffu);
	}
	case DISPI_INDEX_VIDEO_MEMORY_64K:
		return BOCHS_VRAM_SIZE >> 16;
	default:
		return idx < DISPI_INDEX_NR ? b->regs[idx] : 0;
	}
}

static void dispi_write(struct bochs_display *b, unsigned idx, uint16_t v)
{
	switch (idx) {
	case DISPI_INDEX_ID:
		if (v >= DISPI_ID0 && v <= DISPI_ID5)
			b->regs[idx] = v;
		break;
	case DISPI_INDEX_ENABLE: {
		bool was = b->regs[idx] & DISPI_ENABLED;
		b->regs[idx] = v;
		if ((v & DISPI_ENABLED) && !was) {
			/* Enabling sets up a packed mode at offset 0 and, unless asked not to,
			 * clears the framebuffer. */
			b->regs[DISPI_INDEX_VIRT_WIDTH] = b->regs[DISPI_INDEX_XRES];
			b->regs[DISPI_INDEX_X_OFFSET] = 0;
			b->regs[DISPI_INDEX_Y_OFFSET] = 0;
			struct bochs_mode m;
			mode_of(b, &m);
			if (m.on && !(v & DISPI_NOCLEARMEM))
				memset(b->vram, 0, (size_t)m.stride * m.h);
		}
		break;
	}
	case DISPI_INDEX_VIDEO_MEMORY_64K:
	case DISPI_INDEX_VIRT_HEIGHT:
		break; /* read-only */
	default:
		if (idx < DISPI_INDEX_NR)
			b->regs[idx] = v;
		break;
	}
}

static uint32_t mmio_read32(struct bochs_display *b, uint64_t off, uint32_t len)
{
	if (off < MMIO_EDID + EDID_BLOCK_LEN) {
		uint32_t v = 0;
		for (uint32_t i = 0; i < len && off + i < EDID_BLOCK_LEN; i++)
			v |= (uint32_t)b->edid[off + i] << (8 * i);
		return v;
	}
	if (off >= MMIO_DISPI && off < MMIO_DISPI + 2 * DISPI_INDEX_NR && len == 2 && !(off & 1))
		return dispi_read(b, (unsigned)(off - MMIO_DISPI) / 2);
	if (off == MMIO_QEXT && len == 4)
		return QEXT_SIZE;
	if (off == MMIO_QEXT + 4 && len == 4)
		return QEXT_LITTLE_ENDIAN;
	return 0;
}

static void mmio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct bochs_display *b = opaque;
	uint32_t v;
	pthread_mutex_lock(&b->lock);
	v = mmio_read32(b, off, MIN(len, 4u));
	pthread_mutex_unlock(&b->lock);
	memset(data, 0, len);
	memcpy(data, &v, MIN(len, 4u));
}

static void mmio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct bochs_display *b = opaque;
	/* Only 16-bit DISPI writes do something; VGA ports, EDID and the rest are ignored. */
	if (off >= MMIO_DISPI && off < MMIO_DISPI + 2 * DISPI_INDEX_NR && len == 2 && !(off & 1)) {
		uint16_t v;
		memcpy(&v, data, 2);
		pthread_mutex_lock(&b->lock);
		dispi_write(b, (unsigned)(off - MMIO_DISPI) / 2, v);
		pthread_mutex_unlock(&b->lock);
	}
}

static const struct bus_ops mmio_ops = {.read = mmio_read, .write = mmio_write};

/* BAR0 accesses that exit (no memslot: tests, or KVM refused the slot). */
static void fb_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct bochs_display *b = opaque;
	if (off < BOCHS_VRAM_SIZE && len <= BOCHS_VRAM_SIZE - off)
		memcpy(data, b->vram + off, len);
	else
		memset(data, 0xff, len);
}

static void fb_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct bochs_display *b = opaque;
	if (off < BOCHS_VRAM_SIZE && len <= BOCHS_VRAM_SIZE - off)
		memcpy(b->vram + off, data, len);
}

static const struct bus_ops fb_ops = {.read = fb_read, .write = fb_write};

/* The guest moved BAR0 (config lock held, a vCPU thread): move the memslot with it. */
static void bar_remap(struct pci_dev *d, unsigned bar, uint64_t old_gpa, uint64_t new_gpa)
{
	struct bochs_display *b = (struct bochs_display *)d;
	(void)old_gpa;
	if (bar != 0 || !b->slot_ok)
		return;
	int r;
	if (b->mapped) {
		r = kvm_memslot_set(b->kvm, b->slot, 0, 0, NULL);
		if (r < 0)
			log_warn("%s: removing the framebuffer memslot: %s", d->name, strerror(-r));
		b->mapped = false;
	}
	if (new_gpa == PCI_BAR_UNMAPPED)
		return;
	r = kvm_memslot_set(b->kvm, b->slot, new_gpa, BOCHS_VRAM_SIZE, b->vram);
	if (r < 0)
		log_rl(LOG_WARN,
		       "%s: framebuffer at 0x%llx: memslot refused (%s), using MMIO exits", d->name,
		       (unsigned long long)new_gpa, strerror(-r));
	else
		b->mapped = true;
}

static const struct pci_dev_ops bochs_pci_ops = {.bar_remap = bar_remap};

/* ---- showing the framebuffer ---- */

/* Compare band by band; push the changed part of each band. */
static void push_changes(struct bochs_display *b, const struct bochs_mode *m, bool all)
{
	uint32_t rowbytes = m->w * m->bytespp;
	for (uint32_t y0 = 0; y0 < m->h; y0 += BAND) {
		uint32_t bh = MIN(BAND, m->h - y0);
		uint32_t first = UINT32_MAX, last = 0, ytop = UINT32_MAX, ybot = 0;
		for (uint32_t y = y0; y < y0 + bh; y++) {
			const uint8_t *row = b->vram + m->start + (size_t)y * m->stride;
			uint8_t *sh = b->shadow + (size_t)y * rowbytes;
			if (!all && !memcmp(row, sh, rowbytes))
				continue;
			for (uint32_t x = 0; x < rowbytes; x += CHUNK) {
				uint32_t n = MIN(CHUNK, rowbytes - x);
				if (all || memcmp(row + x, sh + x, n)) {
					first = MIN(first, x);
					last = MAX(last, x + n);
				}
			}
			memcpy(sh, row, rowbytes);
			ytop = MIN(ytop, y);
			ybot = y;
		}
		if (ytop == UINT32_MAX)
			continue;
		uint32_t x1 = first / m->bytespp,
			 x2 = MIN((last + m->bytespp - 1) / m->bytespp, m->w);
		display_source_update(b->src, x1, ytop, x2 - x1, ybot - ytop + 1,
				      b->vram + m->start + (size_t)ytop * m->stride +
					  (size_t)x1 * m->bytespp,
				      m->stride, m->fmt);
	}
}

void bochs_display_poll(struct bochs_display *b)
{
	struct bochs_mode m;
	if (!b->src)
		return;
	pthread_mutex_lock(&b->lock);
	mode_of(b, &m);
	if (m.on != b->shown.on || m.w != b->shown.w || m.h != b->shown.h) {
		if (m.on)
			log_info("%s: mode %ux%u, %u bpp", b->pci.name, m.w, m.h, m.bytespp * 8);
		display_source_set_mode(b->src, m.on ? m.w : 0, m.on ? m.h : 0);
	}
	bool refresh = display_source_take_refresh(b->src);
	bool changed = memcmp(&m, &b->shown, sizeof(m)) != 0;
	b->shown = m;
	if (m.on && display_source_shown(b->src))
		push_changes(b, &m, refresh || changed);
	pthread_mutex_unlock(&b->lock);
}

static void on_timer(void *opaque, uint32_t events)
{
	(void)events;
	bochs_display_poll(opaque);
}

/* ---- lifecycle ---- */

int bochs_display_create(struct pci_bus *bus, struct kvm *kvm, struct display *display,
			 struct ev_loop *loop, struct bochs_display **out)
{
	struct bochs_display *b = calloc(1, sizeof(*b));
	int r = -ENOMEM;
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->kvm = kvm;
	b->loop = loop;
	b->vram = mmap(NULL, BOCHS_VRAM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	b->shadow = malloc((size_t)BOCHS_MAX_XRES * BOCHS_MAX_YRES * 4);
	if (b->vram == MAP_FAILED || !b->shadow) {
		if (b->vram == MAP_FAILED)
			b->vram = NULL;
		goto fail;
	}
	b->regs[DISPI_INDEX_ID] = DISPI_ID5;
	edid_build(b->edid, 1024, 768, "vireo firmware");

	pci_dev_init(&b->pci, "bochs-display", BOCHS_VENDOR_ID, BOCHS_DEVICE_ID, 0x030000, 0x02,
		     0x1af4, 0x1100, &bochs_pci_ops);
	b->pci.cfg[PCI_INTERRUPT_PIN] = 0; /* no interrupt */
	/* BAR2 must be a plain 32-bit memory BAR: the VGA BIOS masks it like an I/O BAR. */
	if ((r = pci_dev_add_bar(&b->pci, 0, BOCHS_VRAM_SIZE, PCI_BAR_F_PREFETCH, &fb_ops, b)) <
		0 ||
	    (r = pci_dev_add_bar(&b->pci, 2, BOCHS_MMIO_SIZE, 0, &mmio_ops, b)) < 0)
		goto fail;
	if (kvm) {
		r = kvm_memslot_alloc(kvm, &b->slot);
		if (r < 0)
			goto fail;
		b->slot_ok = true;
	}
	if (display && (r = display_source_add(display, "firmware screen", BOCHS_DISPLAY_PRIO, NULL,
					       b, &b->src)) < 0)
		goto fail;
	if ((r = pci_bus_add_dev(bus, &b->pci, -1)) < 0)
		goto fail;
	if (loop && b->src &&
	    (r = ev_timer_add(loop, BOCHS_POLL_NS, BOCHS_POLL_NS, on_timer, b, &b->timer)) < 0) {
		pci_bus_del_dev(bus, &b->pci);
		goto fail;
	}
	*out = b;
	return 0;
fail:
	display_source_remove(b->src);
	if (b->vram)
		munmap(b->vram, BOCHS_VRAM_SIZE);
	free(b->shadow);
	pthread_mutex_destroy(&b->lock);
	free(b);
	return r;
}

void bochs_display_destroy(struct bochs_display *b)
{
	if (!b)
		return;
	if (b->timer)
		ev_del(b->loop, b->timer);
	if (b->pci.bus)
		pci_bus_del_dev(b->pci.bus, &b->pci); /* unmaps the BARs (and the memslot) */
	display_source_remove(b->src);
	munmap(b->vram, BOCHS_VRAM_SIZE);
	free(b->shadow);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void bochs_display_destroy_opaque(void *b)
{
	bochs_display_destroy(b);
}

struct pci_dev *bochs_display_pci_dev(struct bochs_display *b)
{
	return &b->pci;
}
