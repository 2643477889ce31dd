/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0: host bridge (00:00.0), configuration mechanism #1 (0xCF8/0xCFC) and ECAM,
 * type-0 config space with write masks, memory BARs (32/64-bit) that the guest can size and
 * relocate, capability lists and INTx. docs/devices/pci.md describes the guest-visible model.
 *
 * A device embeds struct pci_dev, fills it with pci_dev_init(), declares BARs and
 * capabilities, then plugs it in with pci_bus_add_dev(). The core owns the config space and
 * the MMIO bus ranges of the BARs: when the guest moves a BAR or toggles memory decoding the
 * range follows and ops->bar_remap() tells the device (e.g. to move its ioeventfds).
 *
 * Threading: config cycles (from any vCPU) are serialised by the bus's config lock; device
 * cfg hooks and bar_remap run with it held. INTx levels have their own lock and may be
 * changed from any thread. Lock order: config lock -> device locks -> MSI-X lock -> INTx lock.
 *
 * KVM is reached through struct pci_kvm_ops so unit tests can substitute a fake.
 */
#ifndef VIREO_PCI_PCI_H
#define VIREO_PCI_PCI_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <linux/pci_regs.h>
#include "base/util.h"
#include "base/irq.h"
#include "bus/bus.h"

struct vm;
struct msix;
struct pci_bus;
struct pci_dev;

/* The host bridge identifies as an Intel 440FX (see docs/devices/pci.md for why not Q35). */
#define PCI_HOST_VENDOR_ID 0x8086
#define PCI_HOST_DEVICE_ID 0x1237

#define PCI_SLOTS 32
#define PCI_CFG_SIZE 256      /* conventional config space; ECAM offsets above read 0 */
#define PCI_ECAM_FN_SIZE 4096 /* ECAM bytes per function */
#define PCI_NUM_BARS 6
#define PCI_BAR_UNMAPPED UINT64_MAX

/* INTx routing: slot s, pin p (1 = INTA .. 4 = INTD) -> GSI pci_slot_irq(s, p). The same
 * rotation SeaBIOS applies for a 440FX host bridge, so the Interrupt Line it writes, the MP
 * table and ACPI all agree. Lines are level-triggered, active-low in the tables; several
 * devices may share one GSI (the bus ORs their levels). */
#define PCI_INTX_GSI_A 10
#define PCI_INTX_GSI_B 11
uint32_t pci_slot_irq(unsigned slot, unsigned pin);

/* The KVM operations PCI/MSI-X/virtio-pci need. opaque: a struct kvm * for the real ones. */
struct pci_kvm_ops {
	int (*gsi_alloc)(void *opaque, uint32_t *gsi);
	int (*msi_route_set)(void *opaque, uint32_t gsi, uint64_t addr, uint32_t data);
	int (*irqfd)(void *opaque, int fd, uint32_t gsi, bool assign);
	int (*ioeventfd)(void *opaque, int fd, uint64_t addr, uint32_t len, bool pio, bool assign);
};
/* The real ones, over src/kvm/kvm.h (pci_kvm.c). */
extern const struct pci_kvm_ops pci_kvm_ops_real;

struct pci_bus_params {
	struct bus *pio;  /* 0xCF8/0xCFC go here (NULL: no mechanism #1) */
	struct bus *mmio; /* ECAM and BARs */
	const struct pci_kvm_ops *kvm_ops;
	void *kvm_opaque;
	struct irq_line intx; /* template: .set/.opaque; .gsi is filled per line */
	uint64_t ecam_gpa;    /* 0: no ECAM */
	uint64_t ecam_size; /* bytes; a multiple of 1 MiB (one bus each; only bus 0 has devices) */
	uint64_t mmio32_start, mmio32_size; /* initial BAR placement */
	uint64_t mmio64_start, mmio64_size; /* for 64-bit BARs when MMIO32 is full */
};

struct pci_dev_ops {
	/* After the core produced the value of a config read (little-endian in *val). */
	void (*cfg_read)(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t *val);
	/* After the core applied a config write (masks honoured) to d->cfg. */
	void (*cfg_write)(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t val);
	/* BAR bar's decoded address changed (PCI_BAR_UNMAPPED when not decoded any more). Called
	 * after the MMIO range moved, with the config lock held. */
	void (*bar_remap)(struct pci_dev *d, unsigned bar, uint64_t old_gpa, uint64_t new_gpa);
};

#define PCI_BAR_F_64 1u	      /* 64-bit memory BAR (takes bar and bar + 1) */
#define PCI_BAR_F_PREFETCH 2u /* prefetchable (only for side-effect-free registers) */

struct pci_bar {
	uint64_t size; /* power of two >= 16; 0 = BAR not implemented */
	unsigned flags;
	const struct bus_ops *ops; /* the device's handlers, offsets relative to the BAR */
	void *opaque;
	struct pci_dev *dev;
	uint64_t mapped_gpa; /* where it is on the MMIO bus, PCI_BAR_UNMAPPED if nowhere */
	char name[40];
};

struct pci_dev {
	struct pci_bus *bus;
	const struct pci_dev_ops *ops;
	char name[32];
	uint8_t slot; /* device number on bus 0 (function 0 only) */
	bool attached;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* bits cleared by writing 1 */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t cap_end;   /* next free config offset for a capability */
	uint8_t cap_last;  /* offset of the last capability (0: none) */
	struct msix *msix; /* set by msix_create(); the core forwards cap writes */
	uint32_t intx_gsi;
	bool intx_level; /* the device's INTx output as last set (before INTx disable) */
};

/* ---- bus ---- */

int pci_bus_create_params(const struct pci_bus_params *p, struct pci_bus **out) WUR;
/* For a VM: mechanism #1 on vm->pio, ECAM at LAYOUT_ECAM_GPA, BAR windows from layout.h and
 * the RAM size, real KVM ops, INTx through vm->gsi_line. The VM owns the bus afterwards
 * (vm_add_device): it is destroyed at vm_destroy after the devices added later. */
int pci_bus_create(struct vm *vm, struct pci_bus **out) WUR;
void pci_bus_destroy(struct pci_bus *bus);

/* Port 0xCF9 lies inside the 0xCF8 dword: byte accesses to it are handed to these ops at
 * offset 0 (the reset control register's owner registers here instead of on the PIO bus). */
void pci_bus_set_cf9(struct pci_bus *bus, const struct bus_ops *ops, void *opaque);

const struct pci_kvm_ops *pci_bus_kvm_ops(struct pci_bus *bus, void **opaque);

/* Config cycle as the guest would issue it (bus 0 only; other buses read all-ones).
 * len 1, 2 or 4 within one dword. */
uint32_t pci_bus_cfg_read(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off,
			  uint32_t len);
void pci_bus_cfg_write(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off, uint32_t len,
		       uint32_t val);

/* INTx routes of the devices present, for the MP table / ACPI. Returns the number written
 * (at most cap) for a slot-ordered list. */
struct pci_intx_route {
	uint8_t slot;
	uint8_t pin; /* 1 = INTA */
	uint32_t gsi;
};
unsigned pci_bus_intx_routes(struct pci_bus *bus, struct pci_intx_route *out, unsigned cap);

/* ---- device ---- */

/* class_code: 24-bit base/sub/prog-if. Interrupt pin INTA; nothing is decoded yet. */
void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id,
		  const struct pci_dev_ops *ops);
/* Declare memory BAR `bar` (size a power of two >= 16; with PCI_BAR_F_64 bar must be < 5
 * and bar + 1 unused). Before pci_bus_add_dev only. */
int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, unsigned flags,
		    const struct bus_ops *ops, void *opaque) WUR;
/* Append a capability of len bytes (id and next included; body may be NULL for zeros except
 * the header). *off gets its config offset. -ENOSPC when config space is full. */
int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, uint8_t len, uint8_t *off) WUR;
/* Let the guest write `mask` bits of the bytes [off, off + len). */
void pci_dev_set_wmask(struct pci_dev *d, uint32_t off, uint32_t len, uint8_t mask);
/* Plug into bus 0 at slot (1..31, or -1 for the first free one), place the BARs (naturally
 * aligned, 32-bit ones in MMIO32, 64-bit ones in MMIO32 while it has room and else MMIO64).
 * BARs are decoded once the guest enables memory space in the command register. */
int pci_bus_add_dev(struct pci_bus *bus, struct pci_dev *d, int slot) WUR;
/* Unplug (teardown only, vCPUs stopped): unmaps the BARs. */
void pci_bus_del_dev(struct pci_bus *bus, struct pci_dev *d);

/* Current guest-programmed BAR address (bits from config space) and where it is decoded. */
uint64_t pci_dev_bar_addr(struct pci_dev *d, unsigned bar);
uint64_t pci_dev_bar_mapped(struct pci_dev *d, unsigned bar);
/* Access a BAR's registers directly (VIRTIO_PCI_CAP_PCI_CFG window). false if no BAR. */
bool pci_dev_bar_read(struct pci_dev *d, unsigned bar, uint64_t off, void *data, uint32_t len);
bool pci_dev_bar_write(struct pci_dev *d, unsigned bar, uint64_t off, const void *data,
		       uint32_t len);

/* Drive the device's INTx pin (level). Honours Command.INTx-disable, reflects Status.INT. */
void pci_dev_set_intx(struct pci_dev *d, bool level);

static inline uint16_t pci_cfg_get16(const struct pci_dev *d, uint32_t off)
{
	return (uint16_t)(d->cfg[off] | (d->cfg[off + 1] << 8));
}
static inline uint32_t pci_cfg_get32(const struct pci_dev *d, uint32_t off)
{
	return (uint32_t)d->cfg[off] | ((uint32_t)d->cfg[off + 1] << 8) |
	       ((uint32_t)d->cfg[off + 2] << 16) | ((uint32_t)d->cfg[off + 3] << 24);
}
static inline void pci_cfg_set16(struct pci_dev *d, uint32_t off, uint16_t v)
{
	d->cfg[off] = (uint8_t)v;
	d->cfg[off + 1] = (uint8_t)(v >> 8);
}
static inline void pci_cfg_set32(struct pci_dev *d, uint32_t off, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		d->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

#endif
