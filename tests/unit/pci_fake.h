/* SPDX-License-Identifier: MIT */
/*
 * Test fixture for the PCI tests: PIO and MMIO buses, a fake KVM (GSI allocation, MSI routes,
 * irqfds and ioeventfds recorded in tables) and a fake irqchip recording INTx levels.
 * The guest side is driven only through bus_read/bus_write, as a vCPU would.
 */
#ifndef VIREO_TESTS_PCI_FAKE_H
#define VIREO_TESTS_PCI_FAKE_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "pci/pci.h"

#define FAKE_MAX 64

struct fake_kvm {
	uint32_t next_gsi;
	unsigned nr_gsi_alloc;
	struct {
		uint32_t gsi;
		uint64_t addr;
		uint32_t data;
	} routes[FAKE_MAX];
	unsigned nr_routes, nr_route_sets;
	struct {
		int fd;
		uint32_t gsi;
	} irqfds[FAKE_MAX];
	unsigned nr_irqfds;
	struct {
		int fd;
		uint64_t addr;
		uint32_t len;
	} ioevs[FAKE_MAX];
	unsigned nr_ioevs, nr_ioev_assign, nr_ioev_deassign;
	int levels[32]; /* INTx level per GSI as last set */
	unsigned nr_level_sets;
};

static inline int fk_gsi_alloc(void *o, uint32_t *gsi)
{
	struct fake_kvm *k = o;
	*gsi = k->next_gsi++;
	k->nr_gsi_alloc++;
	return 0;
}

static inline int fk_msi_route_set(void *o, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct fake_kvm *k = o;
	k->nr_route_sets++;
	for (unsigned i = 0; i < k->nr_routes; i++) {
		if (k->routes[i].gsi == gsi) {
			k->routes[i].addr = addr;
			k->routes[i].data = data;
			return 0;
		}
	}
	if (k->nr_routes == FAKE_MAX)
		return -ENOSPC;
	k->routes[k->nr_routes].gsi = gsi;
	k->routes[k->nr_routes].addr = addr;
	k->routes[k->nr_routes].data = data;
	k->nr_routes++;
	return 0;
}

static inline int fk_irqfd(void *o, int fd, uint32_t gsi, bool assign)
{
	struct fake_kvm *k = o;
	if (!assign) {
		for (unsigned i = 0; i < k->nr_irqfds; i++)
			if (k->irqfds[i].fd == fd) {
				k->irqfds[i] = k->irqfds[--k->nr_irqfds];
				return 0;
			}
		return -ENOENT;
	}
	if (k->nr_irqfds == FAKE_MAX)
		return -ENOSPC;
	k->irqfds[k->nr_irqfds].fd = fd;
	k->irqfds[k->nr_irqfds].gsi = gsi;
	k->nr_irqfds++;
	return 0;
}

static inline int fk_ioeventfd(void *o, int fd, uint64_t addr, uint32_t len, bool pio, bool assign)
{
	struct fake_kvm *k = o;
	(void)pio;
	if (!assign) {
		k->nr_ioev_deassign++;
		for (unsigned i = 0; i < k->nr_ioevs; i++)
			if (k->ioevs[i].fd == fd && k->ioevs[i].addr == addr) {
				k->ioevs[i] = k->ioevs[--k->nr_ioevs];
				return 0;
			}
		return -ENOENT;
	}
	for (unsigned i = 0; i < k->nr_ioevs; i++)
		if (k->ioevs[i].addr == addr)
			return -EEXIST;
	if (k->nr_ioevs == FAKE_MAX)
		return -ENOSPC;
	k->nr_ioev_assign++;
	k->ioevs[k->nr_ioevs].fd = fd;
	k->ioevs[k->nr_ioevs].addr = addr;
	k->ioevs[k->nr_ioevs].len = len;
	k->nr_ioevs++;
	return 0;
}

/* fd of the ioeventfd registered at addr, or -1. */
static inline int fk_ioev_at(const struct fake_kvm *k, uint64_t addr)
{
	for (unsigned i = 0; i < k->nr_ioevs; i++)
		if (k->ioevs[i].addr == addr)
			return k->ioevs[i].fd;
	return -1;
}

/* gsi of the irqfd fd, or UINT32_MAX. */
static inline const struct fake_kvm *fk_route(const struct fake_kvm *k, uint32_t gsi,
					      uint64_t *addr, uint32_t *data)
{
	for (unsigned i = 0; i < k->nr_routes; i++)
		if (k->routes[i].gsi == gsi) {
			*addr = k->routes[i].addr;
			*data = k->routes[i].data;
			return k;
		}
	return NULL;
}

/* Number of MSIs signalled through any irqfd whose route has this data (drains counters). */
static inline uint64_t fk_msi_count(struct fake_kvm *k, uint32_t data)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < k->nr_irqfds; i++) {
		uint64_t a;
		uint32_t d;
		if (!fk_route(k, k->irqfds[i].gsi, &a, &d) || d != data)
			continue;
		uint64_t v;
		if (read(k->irqfds[i].fd, &v, sizeof(v)) == sizeof(v))
			total += v;
	}
	return total;
}

static inline void fk_set_level(void *o, uint32_t gsi, int level)
{
	struct fake_kvm *k = o;
	if (gsi < 32)
		k->levels[gsi] = level;
	k->nr_level_sets++;
}

static const struct pci_kvm_ops fake_kvm_ops = {
    .gsi_alloc = fk_gsi_alloc,
    .msi_route_set = fk_msi_route_set,
    .irqfd = fk_irqfd,
    .ioeventfd = fk_ioeventfd,
};

struct pci_env {
	struct bus pio, mmio;
	struct fake_kvm kvm;
	struct pci_bus *pci;
};

static inline int pci_env_init(struct pci_env *e)
{
	memset(e, 0, sizeof(*e));
	e->kvm.next_gsi = 24;
	if (bus_init(&e->pio, "pio") || bus_init(&e->mmio, "mmio"))
		return -ENOMEM;
	struct pci_bus_params p = {
	    .pio = &e->pio,
	    .mmio = &e->mmio,
	    .kvm_ops = &fake_kvm_ops,
	    .kvm_opaque = &e->kvm,
	    .intx = {.set = fk_set_level, .opaque = &e->kvm},
	    .ecam_gpa = LAYOUT_ECAM_GPA,
	    .ecam_size = LAYOUT_ECAM_SIZE,
	    .mmio32_start = LAYOUT_PCI_MMIO32_START,
	    .mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
	    .mmio64_start = 0x4000000000ULL,
	    .mmio64_size = 0x1000000000ULL,
	};
	return pci_bus_create_params(&p, &e->pci);
}

static inline void pci_env_fini(struct pci_env *e)
{
	pci_bus_destroy(e->pci);
	bus_fini(&e->pio);
	bus_fini(&e->mmio);
}

/* Guest-side accessors. */
static inline uint32_t pio_in(struct pci_env *e, uint16_t port, uint32_t len)
{
	uint32_t v = 0;
	bus_read(&e->pio, port, &v, len);
	return v;
}
static inline void pio_out(struct pci_env *e, uint16_t port, uint32_t len, uint32_t v)
{
	bus_write(&e->pio, port, &v, len);
}
static inline uint64_t mmio_rd(struct pci_env *e, uint64_t gpa, uint32_t len)
{
	uint64_t v = 0;
	bus_read(&e->mmio, gpa, &v, len);
	return v;
}
static inline void mmio_wr(struct pci_env *e, uint64_t gpa, uint32_t len, uint64_t v)
{
	bus_write(&e->mmio, gpa, &v, len);
}

/* Config mechanism #1. */
static inline uint32_t cfg1_rd(struct pci_env *e, unsigned slot, uint32_t off, uint32_t len)
{
	pio_out(e, 0xcf8, 4, 0x80000000u | (slot << 11) | (off & 0xfc));
	return pio_in(e, (uint16_t)(0xcfc + (off & 3)), len);
}
static inline void cfg1_wr(struct pci_env *e, unsigned slot, uint32_t off, uint32_t len, uint32_t v)
{
	pio_out(e, 0xcf8, 4, 0x80000000u | (slot << 11) | (off & 0xfc));
	pio_out(e, (uint16_t)(0xcfc + (off & 3)), len, v);
}
/* ECAM, bus 0. */
static inline uint32_t ecam_rd(struct pci_env *e, unsigned slot, unsigned fn, uint32_t off,
			       uint32_t len)
{
	return (uint32_t)mmio_rd(e, LAYOUT_ECAM_GPA + ((uint64_t)slot << 15) + (fn << 12) + off,
				 len);
}
static inline void ecam_wr(struct pci_env *e, unsigned slot, uint32_t off, uint32_t len, uint32_t v)
{
	mmio_wr(e, LAYOUT_ECAM_GPA + ((uint64_t)slot << 15) + off, len, v);
}

#endif
