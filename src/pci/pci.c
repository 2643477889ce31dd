/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0: host bridge, config mechanism #1 and ECAM, config space semantics, BARs and
 * INTx. See pci.h and docs/devices/pci.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "pci/msix.h"
#include "pci/pci.h"

#define PCI_GSI_MAX 24 /* INTx GSIs are irqchip pins */

struct pci_bus {
	struct pci_bus_params p;
	pthread_mutex_t cfg_lock; /* config cycles, 0xCF8 latch, BAR moves */
	uint32_t cf8;
	struct pci_dev host;
	struct pci_dev *slots[PCI_SLOTS];
	uint64_t mmio32_next, mmio64_next;
	const struct bus_ops *cf9_ops;
	void *cf9_opaque;
	bool pio_registered, ecam_registered;

	pthread_mutex_t intx_lock;
	uint32_t gsi_slots[PCI_GSI_MAX]; /* bit s: slot s asserts that GSI */
};

uint32_t pci_slot_irq(unsigned slot, unsigned pin)
{
	static const uint8_t gsis[4] = {PCI_INTX_GSI_A, PCI_INTX_GSI_A, PCI_INTX_GSI_B,
					PCI_INTX_GSI_B};
	if (pin < 1 || pin > 4)
		pin = 1;
	return gsis[(slot + pin - 2) & 3];
}

/* ---- config space of one device ---- */

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id,
		  const struct pci_dev_ops *ops)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->ops = ops;
	pci_cfg_set16(d, PCI_VENDOR_ID, vendor);
	pci_cfg_set16(d, PCI_DEVICE_ID, device);
	d->cfg[PCI_REVISION_ID] = revision;
	d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	d->cfg[PCI_CLASS_DEVICE] = (uint8_t)(class_code >> 8);
	d->cfg[PCI_CLASS_DEVICE + 1] = (uint8_t)(class_code >> 16);
	d->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	pci_cfg_set16(d, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	pci_cfg_set16(d, PCI_SUBSYSTEM_ID, subsys_id);
	d->cfg[PCI_INTERRUPT_PIN] = 1;

	uint16_t cmd_mask = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			    PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;
	d->wmask[PCI_COMMAND] = (uint8_t)cmd_mask;
	d->wmask[PCI_COMMAND + 1] = (uint8_t)(cmd_mask >> 8);
	/* Status error bits are RW1C (never set by us, but honour the semantics). */
	d->w1cmask[PCI_STATUS + 1] = 0xf9;
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_LATENCY_TIMER] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_end = 0x40;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		d->bars[i].mapped_gpa = PCI_BAR_UNMAPPED;
}

void pci_dev_set_wmask(struct pci_dev *d, uint32_t off, uint32_t len, uint8_t mask)
{
	for (uint32_t i = off; i < off + len && i < PCI_CFG_SIZE; i++)
		d->wmask[i] = mask;
}

int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, unsigned flags,
		    const struct bus_ops *ops, void *opaque)
{
	bool is64 = flags & PCI_BAR_F_64;
	if (d->attached || bar >= PCI_NUM_BARS || (is64 && bar + 1 >= PCI_NUM_BARS) ||
	    !IS_POW2(size) || size < 16 || (!is64 && size > (1ULL << 31)) || !ops)
		return -EINVAL;
	if (d->bars[bar].size || (is64 && d->bars[bar + 1].size) ||
	    (bar > 0 && d->bars[bar - 1].size && (d->bars[bar - 1].flags & PCI_BAR_F_64)))
		return -EEXIST;
	struct pci_bar *b = &d->bars[bar];
	b->size = size;
	b->flags = flags;
	b->ops = ops;
	b->opaque = opaque;
	b->dev = d;
	b->mapped_gpa = PCI_BAR_UNMAPPED;
	snprintf(b->name, sizeof(b->name), "%s-bar%u", d->name, bar);

	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint32_t lo = (is64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : PCI_BASE_ADDRESS_MEM_TYPE_32) |
		      ((flags & PCI_BAR_F_PREFETCH) ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
	pci_cfg_set32(d, off, lo);
	uint64_t mask = ~(size - 1);
	uint32_t lomask = (uint32_t)mask & ~0xfu;
	for (unsigned i = 0; i < 4; i++)
		d->wmask[off + i] = (uint8_t)(lomask >> (8 * i));
	if (is64) {
		pci_cfg_set32(d, off + 4, 0);
		for (unsigned i = 0; i < 4; i++)
			d->wmask[off + 4 + i] = (uint8_t)(mask >> (32 + 8 * i));
	}
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, uint8_t len, uint8_t *off)
{
	if (len < 2)
		return -EINVAL;
	uint32_t o = ALIGN_UP((uint32_t)d->cap_end, 4u);
	if (o + len > PCI_CFG_SIZE)
		return -ENOSPC;
	if (body)
		memcpy(&d->cfg[o], body, len);
	else
		memset(&d->cfg[o], 0, len);
	d->cfg[o] = id;
	d->cfg[o + 1] = 0;
	if (d->cap_last)
		d->cfg[d->cap_last + 1] = (uint8_t)o;
	else
		d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)o;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_last = (uint8_t)o;
	d->cap_end = (uint8_t)MIN(o + len, 0xffu);
	if (off)
		*off = (uint8_t)o;
	return 0;
}

static bool bar_is_upper_half(const struct pci_dev *d, unsigned bar)
{
	return bar > 0 && d->bars[bar - 1].size && (d->bars[bar - 1].flags & PCI_BAR_F_64);
}

uint64_t pci_dev_bar_addr(struct pci_dev *d, unsigned bar)
{
	if (bar >= PCI_NUM_BARS || !d->bars[bar].size)
		return 0;
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t addr = pci_cfg_get32(d, off) & PCI_BASE_ADDRESS_MEM_MASK;
	if (d->bars[bar].flags & PCI_BAR_F_64)
		addr |= (uint64_t)pci_cfg_get32(d, off + 4) << 32;
	return addr;
}

uint64_t pci_dev_bar_mapped(struct pci_dev *d, unsigned bar)
{
	return bar < PCI_NUM_BARS ? d->bars[bar].mapped_gpa : PCI_BAR_UNMAPPED;
}

static void pci_bar_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct pci_bar *b = opaque;
	if (b->ops->read)
		b->ops->read(b->opaque, off, data, len);
	else
		memset(data, 0xff, len);
}

static void pci_bar_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct pci_bar *b = opaque;
	if (b->ops->write)
		b->ops->write(b->opaque, off, data, len);
}

static const struct bus_ops pci_bar_bus_ops = {.read = pci_bar_read, .write = pci_bar_write};

bool pci_dev_bar_read(struct pci_dev *d, unsigned bar, uint64_t off, void *data, uint32_t len)
{
	if (bar >= PCI_NUM_BARS || !d->bars[bar].size || off >= d->bars[bar].size ||
	    len > d->bars[bar].size - off)
		return false;
	pci_bar_read(&d->bars[bar], off, data, len);
	return true;
}

bool pci_dev_bar_write(struct pci_dev *d, unsigned bar, uint64_t off, const void *data,
		       uint32_t len)
{
	if (bar >= PCI_NUM_BARS || !d->bars[bar].size || off >= d->bars[bar].size ||
	    len > d->bars[bar].size - off)
		return false;
	pci_bar_write(&d->bars[bar], off, data, len);
	return true;
}

/* Make the MMIO bus match the BAR registers and the memory-enable bit (config lock held). */
static void pci_dev_update_bars(struct pci_dev *d)
{
	struct pci_bus *bus = d->bus;
	bool mem_on = pci_cfg_get16(d, PCI_COMMAND) & PCI_COMMAND_MEMORY;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bars[i];
		if (!b->size || bar_is_upper_half(d, i))
			continue;
		uint64_t addr = pci_dev_bar_addr(d, i);
		uint64_t want = PCI_BAR_UNMAPPED;
		if (d->attached && mem_on && addr != 0 && addr + b->size - 1 >= addr)
			want = addr;
		if (want == b->mapped_gpa)
			continue;
		uint64_t old = b->mapped_gpa;
		if (old != PCI_BAR_UNMAPPED && bus_remove(bus->p.mmio, old, b) < 0)
			log_warn("%s: BAR%u: range at 0x%llx was not on the bus", d->name, i,
				 (unsigned long long)old);
		b->mapped_gpa = PCI_BAR_UNMAPPED;
		if (want != PCI_BAR_UNMAPPED) {
			int r =
			    bus_insert(bus->p.mmio, want, b->size, &pci_bar_bus_ops, b, b->name);
			if (r < 0)
				log_rl(LOG_WARN,
				       "%s: BAR%u at 0x%llx (0x%llx bytes) collides with another "
				       "range: not decoded",
				       d->name, i, (unsigned long long)want,
				       (unsigned long long)b->size);
			else
				b->mapped_gpa = want;
		}
		if (b->mapped_gpa != old && d->ops && d->ops->bar_remap)
			d->ops->bar_remap(d, i, old, b->mapped_gpa);
	}
}

/* ---- INTx ---- */

static void pci_bus_update_gsi_locked(struct pci_bus *bus, uint32_t gsi, unsigned slot, bool level)
{
	if (gsi >= PCI_GSI_MAX || slot >= PCI_SLOTS)
		return;
	bool before = bus->gsi_slots[gsi] != 0;
	if (level)
		bus->gsi_slots[gsi] |= 1u << slot;
	else
		bus->gsi_slots[gsi] &= ~(1u << slot);
	bool after = bus->gsi_slots[gsi] != 0;
	if (before != after && bus->p.intx.set) {
		struct irq_line l = bus->p.intx;
		l.gsi = gsi;
		irq_line_set(&l, after);
	}
}

static void pci_dev_intx_refresh_locked(struct pci_dev *d)
{
	bool disabled = pci_cfg_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
	pci_bus_update_gsi_locked(d->bus, d->intx_gsi, d->slot, d->intx_level && !disabled);
}

void pci_dev_set_intx(struct pci_dev *d, bool level)
{
	if (!d->bus || !d->attached || !d->cfg[PCI_INTERRUPT_PIN])
		return;
	pthread_mutex_lock(&d->bus->intx_lock);
	d->intx_level = level;
	pci_dev_intx_refresh_locked(d);
	pthread_mutex_unlock(&d->bus->intx_lock);
}

/* ---- config cycles ---- */

static struct pci_dev *pci_bus_dev(struct pci_bus *bus, unsigned slot, unsigned fn)
{
	if (slot >= PCI_SLOTS || fn != 0)
		return NULL;
	return bus->slots[slot];
}

static bool range_overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t end)
{
	return off < end && off + len > start;
}

static uint32_t pci_cfg_read_locked(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off,
				    uint32_t len)
{
	struct pci_dev *d = pci_bus_dev(bus, slot, fn);
	if (!d)
		return len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
	if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return 0;
	uint32_t val = 0;
	for (uint32_t i = 0; i < len; i++) {
		uint8_t b = d->cfg[off + i];
		if (off + i == PCI_STATUS) {
			pthread_mutex_lock(&bus->intx_lock);
			if (d->intx_level)
				b |= PCI_STATUS_INTERRUPT;
			pthread_mutex_unlock(&bus->intx_lock);
		}
		val |= (uint32_t)b << (8 * i);
	}
	if (d->ops && d->ops->cfg_read)
		d->ops->cfg_read(d, off, len, &val);
	return val;
}

static void pci_cfg_write_locked(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off,
				 uint32_t len, uint32_t val)
{
	struct pci_dev *d = pci_bus_dev(bus, slot, fn);
	if (!d || off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	for (uint32_t i = 0; i < len; i++) {
		uint8_t v = (uint8_t)(val >> (8 * i));
		uint8_t *c = &d->cfg[off + i];
		*c &= (uint8_t) ~(v & d->w1cmask[off + i]);
		*c = (uint8_t)((*c & ~d->wmask[off + i]) | (v & d->wmask[off + i]));
	}
	bool cmd = range_overlaps(off, len, PCI_COMMAND, PCI_COMMAND + 2);
	if (cmd || range_overlaps(off, len, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_5 + 4))
		pci_dev_update_bars(d);
	if (cmd) {
		pthread_mutex_lock(&bus->intx_lock);
		pci_dev_intx_refresh_locked(d);
		pthread_mutex_unlock(&bus->intx_lock);
	}
	if (d->msix)
		msix_cap_written(d->msix);
	if (d->ops && d->ops->cfg_write)
		d->ops->cfg_write(d, off, len, val);
}

uint32_t pci_bus_cfg_read(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off,
			  uint32_t len)
{
	pthread_mutex_lock(&bus->cfg_lock);
	uint32_t v = pci_cfg_read_locked(bus, slot, fn, off, len);
	pthread_mutex_unlock(&bus->cfg_lock);
	return v;
}

void pci_bus_cfg_write(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off, uint32_t len,
		       uint32_t val)
{
	pthread_mutex_lock(&bus->cfg_lock);
	pci_cfg_write_locked(bus, slot, fn, off, len, val);
	pthread_mutex_unlock(&bus->cfg_lock);
}

static uint32_t load_le(const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint32_t v = 0;
	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void store_le(void *data, uint32_t len, uint32_t v)
{
	uint8_t *p = data;
	for (uint32_t i = 0; i < len; i++)
		p[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0xff;
}

/* 0xCF8..0xCFB: CONFIG_ADDRESS for dword accesses; 0xCF9 bytes go to the reset register. */
static void pci_cf8_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	if (off == 0 && len == 4) {
		pthread_mutex_lock(&bus->cfg_lock);
		store_le(data, 4, bus->cf8);
		pthread_mutex_unlock(&bus->cfg_lock);
	} else if (off == 1 && len == 1 && bus->cf9_ops && bus->cf9_ops->read) {
		bus->cf9_ops->read(bus->cf9_opaque, 0, data, 1);
	} else {
		memset(data, 0xff, len);
	}
}

static void pci_cf8_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	if (off == 0 && len == 4) {
		pthread_mutex_lock(&bus->cfg_lock);
		bus->cf8 = load_le(data, 4) & 0x80fffffcu;
		pthread_mutex_unlock(&bus->cfg_lock);
	} else if (off == 1 && len == 1 && bus->cf9_ops && bus->cf9_ops->write) {
		bus->cf9_ops->write(bus->cf9_opaque, 0, data, 1);
	}
}

static const struct bus_ops pci_cf8_ops = {.read = pci_cf8_read, .write = pci_cf8_write};

static void pci_cfc_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	uint32_t v = 0xffffffffu;
	pthread_mutex_lock(&bus->cfg_lock);
	uint32_t a = bus->cf8;
	if ((a & 0x80000000u) && ((a >> 16) & 0xff) == 0 && off + len <= 4)
		v = pci_cfg_read_locked(bus, (a >> 11) & 31, (a >> 8) & 7,
					(a & 0xfc) + (uint32_t)off, len);
	pthread_mutex_unlock(&bus->cfg_lock);
	store_le(data, len, v);
}

static void pci_cfc_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	pthread_mutex_lock(&bus->cfg_lock);
	uint32_t a = bus->cf8;
	if ((a & 0x80000000u) && ((a >> 16) & 0xff) == 0 && off + len <= 4)
		pci_cfg_write_locked(bus, (a >> 11) & 31, (a >> 8) & 7, (a & 0xfc) + (uint32_t)off,
				     len, load_le(data, len));
	pthread_mutex_unlock(&bus->cfg_lock);
}

static const struct bus_ops pci_cfc_ops = {.read = pci_cfc_read, .write = pci_cfc_write};

/* ECAM: bus[27:20] dev[19:15] fn[14:12] reg[11:0]. Misaligned or 8-byte accesses split. */
static void pci_ecam_access(struct pci_bus *bus, uint64_t off, uint8_t *p, uint32_t len, bool write)
{
	if (len == 8 && (off & 7) == 0) {
		pci_ecam_access(bus, off, p, 4, write);
		pci_ecam_access(bus, off + 4, p + 4, 4, write);
		return;
	}
	if ((len != 1 && len != 2 && len != 4) || (off & (len - 1))) {
		for (uint32_t i = 0; i < len; i++)
			pci_ecam_access(bus, off + i, p + i, 1, write);
		return;
	}
	unsigned busnr = (unsigned)(off >> 20);
	unsigned slot = (unsigned)(off >> 15) & 31, fn = (unsigned)(off >> 12) & 7;
	uint32_t reg = (uint32_t)off & 0xfff;
	pthread_mutex_lock(&bus->cfg_lock);
	if (write) {
		if (busnr == 0)
			pci_cfg_write_locked(bus, slot, fn, reg, len, load_le(p, len));
	} else {
		uint32_t v =
		    busnr == 0 ? pci_cfg_read_locked(bus, slot, fn, reg, len) : 0xffffffffu;
		store_le(p, len, v);
	}
	pthread_mutex_unlock(&bus->cfg_lock);
}

static void pci_ecam_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	pci_ecam_access(opaque, off, data, len, false);
}

static void pci_ecam_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	pci_ecam_access(opaque, off, (uint8_t *)(uintptr_t)data, len, true);
}

static const struct bus_ops pci_ecam_ops = {.read = pci_ecam_read, .write = pci_ecam_write};

/* ---- bus lifecycle ---- */

/* Teardown/rollback removal of a range we inserted ourselves: it cannot be missing. */
static void bus_remove_quiet(struct bus *b, uint64_t base, void *opaque)
{
	if (bus_remove(b, base, opaque) < 0)
		log_debug("pci: range 0x%llx already gone", (unsigned long long)base);
}

static void pci_host_init(struct pci_dev *h)
{
	pci_dev_init(h, "pci-host", PCI_HOST_VENDOR_ID, PCI_HOST_DEVICE_ID, 0x060000, 0x02, 0, 0,
		     NULL);
	h->cfg[PCI_INTERRUPT_PIN] = 0;
	h->wmask[PCI_INTERRUPT_LINE] = 0;
	/* Chipset registers are plain scratch bytes. PAM0..6 (0x59..0x5f) say "DRAM, read and
	 * write" because the BIOS area is always RAM here. */
	pci_dev_set_wmask(h, 0x40, PCI_CFG_SIZE - 0x40, 0xff);
	h->cfg[0x59] = 0x30;
	for (unsigned i = 0x5a; i <= 0x5f; i++)
		h->cfg[i] = 0x33;
	/* The host bridge always decodes memory (it forwards to the bus). */
	pci_cfg_set16(h, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

int pci_bus_create_params(const struct pci_bus_params *p, struct pci_bus **out)
{
	if (!p->mmio || !p->kvm_ops)
		return -EINVAL;
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	bus->p = *p;
	bus->mmio32_next = p->mmio32_start;
	bus->mmio64_next = p->mmio64_start;
	pthread_mutex_init(&bus->cfg_lock, NULL);
	pthread_mutex_init(&bus->intx_lock, NULL);
	pci_host_init(&bus->host);
	bus->host.bus = bus;
	bus->host.slot = 0;
	bus->host.attached = true;
	bus->slots[0] = &bus->host;

	int r = 0;
	if (p->pio) {
		r = bus_insert(p->pio, 0xcf8, 4, &pci_cf8_ops, bus, "pci-cf8");
		if (r == 0) {
			r = bus_insert(p->pio, 0xcfc, 4, &pci_cfc_ops, bus, "pci-cfc");
			if (r < 0)
				bus_remove_quiet(p->pio, 0xcf8, bus);
		}
		if (r < 0)
			goto fail;
		bus->pio_registered = true;
	}
	if (p->ecam_gpa) {
		if (!p->ecam_size || p->ecam_size % (1ULL << 20)) {
			r = -EINVAL;
			goto fail;
		}
		r = bus_insert(p->mmio, p->ecam_gpa, p->ecam_size, &pci_ecam_ops, bus, "pci-ecam");
		if (r < 0)
			goto fail;
		bus->ecam_registered = true;
	}
	*out = bus;
	return 0;
fail:
	pci_bus_destroy(bus);
	return r;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	if (!bus)
		return;
	for (unsigned s = 1; s < PCI_SLOTS; s++)
		if (bus->slots[s])
			pci_bus_del_dev(bus, bus->slots[s]);
	if (bus->pio_registered) {
		bus_remove_quiet(bus->p.pio, 0xcf8, bus);
		bus_remove_quiet(bus->p.pio, 0xcfc, bus);
	}
	if (bus->ecam_registered)
		bus_remove_quiet(bus->p.mmio, bus->p.ecam_gpa, bus);
	pthread_mutex_destroy(&bus->cfg_lock);
	pthread_mutex_destroy(&bus->intx_lock);
	free(bus);
}

void pci_bus_set_cf9(struct pci_bus *bus, const struct bus_ops *ops, void *opaque)
{
	pthread_mutex_lock(&bus->cfg_lock);
	bus->cf9_ops = ops;
	bus->cf9_opaque = opaque;
	pthread_mutex_unlock(&bus->cfg_lock);
}

const struct pci_kvm_ops *pci_bus_kvm_ops(struct pci_bus *bus, void **opaque)
{
	if (opaque)
		*opaque = bus->p.kvm_opaque;
	return bus->p.kvm_ops;
}

/* Natural-alignment bump allocation in [*next, end). */
static bool pci_alloc(uint64_t *next, uint64_t end, uint64_t size, uint64_t *addr)
{
	if (!*next)
		return false;
	uint64_t a = ALIGN_UP(*next, size);
	if (a < *next || a > end || size > end - a)
		return false;
	*addr = a;
	*next = a + size;
	return true;
}

int pci_bus_add_dev(struct pci_bus *bus, struct pci_dev *d, int slot)
{
	if (d->attached)
		return -EBUSY;
	pthread_mutex_lock(&bus->cfg_lock);
	int r = 0;
	if (slot < 0) {
		for (slot = 1; slot < PCI_SLOTS && bus->slots[slot]; slot++)
			;
		if (slot >= PCI_SLOTS)
			r = -ENOSPC;
	} else if (slot == 0 || slot >= PCI_SLOTS) {
		r = -EINVAL;
	} else if (bus->slots[slot]) {
		r = -EEXIST;
	}
	if (r < 0)
		goto out;

	/* Place BARs, biggest first, so natural alignment wastes little. */
	uint64_t n32 = bus->mmio32_next, n64 = bus->mmio64_next;
	uint64_t end32 = bus->p.mmio32_start + bus->p.mmio32_size;
	uint64_t end64 = bus->p.mmio64_start + bus->p.mmio64_size;
	uint64_t addrs[PCI_NUM_BARS] = {0};
	bool done[PCI_NUM_BARS] = {false};
	for (;;) {
		int best = -1;
		for (unsigned i = 0; i < PCI_NUM_BARS; i++)
			if (d->bars[i].size && !bar_is_upper_half(d, i) && !done[i] &&
			    (best < 0 || d->bars[i].size > d->bars[best].size))
				best = (int)i;
		if (best < 0)
			break;
		struct pci_bar *b = &d->bars[best];
		bool ok = pci_alloc(&n32, end32, b->size, &addrs[best]);
		if (!ok && (b->flags & PCI_BAR_F_64))
			ok = pci_alloc(&n64, end64, b->size, &addrs[best]);
		if (!ok) {
			r = -ENOSPC;
			goto out;
		}
		done[best] = true;
	}
	bus->mmio32_next = n32;
	bus->mmio64_next = n64;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		if (!done[i])
			continue;
		uint32_t off = PCI_BASE_ADDRESS_0 + 4 * i;
		uint32_t lo = pci_cfg_get32(d, off) & ~(uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
		pci_cfg_set32(d, off, lo | ((uint32_t)addrs[i] & PCI_BASE_ADDRESS_MEM_MASK));
		if (d->bars[i].flags & PCI_BAR_F_64)
			pci_cfg_set32(d, off + 4, (uint32_t)(addrs[i] >> 32));
	}
	d->bus = bus;
	d->slot = (uint8_t)slot;
	d->attached = true;
	d->intx_gsi = pci_slot_irq((unsigned)slot, d->cfg[PCI_INTERRUPT_PIN]);
	if (d->cfg[PCI_INTERRUPT_PIN])
		d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)d->intx_gsi;
	bus->slots[slot] = d;
	pci_dev_update_bars(d); /* no-op until memory decoding is enabled */
out:
	pthread_mutex_unlock(&bus->cfg_lock);
	return r;
}

void pci_bus_del_dev(struct pci_bus *bus, struct pci_dev *d)
{
	if (!d->attached || d->bus != bus)
		return;
	pthread_mutex_lock(&bus->cfg_lock);
	pthread_mutex_lock(&bus->intx_lock);
	d->intx_level = false;
	pci_bus_update_gsi_locked(bus, d->intx_gsi, d->slot, false);
	pthread_mutex_unlock(&bus->intx_lock);
	d->attached = false;
	pci_dev_update_bars(d);
	bus->slots[d->slot] = NULL;
	pthread_mutex_unlock(&bus->cfg_lock);
}

unsigned pci_bus_intx_routes(struct pci_bus *bus, struct pci_intx_route *out, unsigned cap)
{
	unsigned n = 0;
	pthread_mutex_lock(&bus->cfg_lock);
	for (unsigned s = 1; s < PCI_SLOTS && n < cap; s++) {
		struct pci_dev *d = bus->slots[s];
		if (!d || !d->cfg[PCI_INTERRUPT_PIN])
			continue;
		out[n].slot = (uint8_t)s;
		out[n].pin = d->cfg[PCI_INTERRUPT_PIN];
		out[n].gsi = d->intx_gsi;
		n++;
	}
	pthread_mutex_unlock(&bus->cfg_lock);
	return n;
}
