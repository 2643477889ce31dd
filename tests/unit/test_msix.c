/* SPDX-License-Identifier: MIT */
/* MSI-X: capability, table/PBA semantics, masking and pending delivery, KVM routes. */
#include <stdlib.h>
#include "harness.h"
#include "pci/msix.h"
#include "pci_fake.h"

struct mdev {
	struct pci_env e;
	struct pci_dev pci;
	struct msix *msix;
	uint8_t cap;
	uint64_t bar; /* where BAR1 (the MSI-X BAR) is decoded */
};

#define MSIX_SLOT 6

static int mdev_init(struct mdev *m, uint16_t nvec)
{
	memset(m, 0, sizeof(*m));
	if (pci_env_init(&m->e))
		return -1;
	pci_dev_init(&m->pci, "msix", 0x1234, 0x1, 0xff0000, 0, 0, 0, NULL);
	if (msix_create(&m->pci, 1, nvec, &m->msix) ||
	    pci_bus_add_dev(m->e.pci, &m->pci, MSIX_SLOT))
		return -1;
	m->cap = (uint8_t)cfg1_rd(&m->e, MSIX_SLOT, PCI_CAPABILITY_LIST, 1);
	cfg1_wr(&m->e, MSIX_SLOT, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	m->bar = pci_dev_bar_mapped(&m->pci, 1);
	return m->bar == PCI_BAR_UNMAPPED ? -1 : 0;
}

static void mdev_fini(struct mdev *m)
{
	pci_bus_del_dev(m->e.pci, &m->pci);
	msix_destroy(m->msix);
	pci_env_fini(&m->e);
}

static void msix_ctrl(struct mdev *m, uint16_t v)
{
	cfg1_wr(&m->e, MSIX_SLOT, m->cap + PCI_MSIX_FLAGS, 2, v);
}

static void entry_prog(struct mdev *m, uint16_t v, uint64_t addr, uint32_t data)
{
	uint64_t e = m->bar + MSIX_TABLE_OFF + v * 16u;
	mmio_wr(&m->e, e + 0, 4, (uint32_t)addr);
	mmio_wr(&m->e, e + 4, 4, (uint32_t)(addr >> 32));
	mmio_wr(&m->e, e + 8, 4, data);
}

static void entry_mask(struct mdev *m, uint16_t v, bool masked)
{
	mmio_wr(&m->e, m->bar + MSIX_TABLE_OFF + v * 16u + 12, 4, masked ? 1 : 0);
}

static uint64_t pba(struct mdev *m)
{
	return mmio_rd(&m->e, m->bar + MSIX_PBA_OFF, 8);
}

TEST(msix_capability_layout)
{
	struct mdev m;
	REQUIRE(mdev_init(&m, 5) == 0);
	CHECK_EQ(cfg1_rd(&m.e, MSIX_SLOT, m.cap, 1), PCI_CAP_ID_MSIX);
	CHECK_EQ(cfg1_rd(&m.e, MSIX_SLOT, m.cap + 1, 1), 0);
	CHECK_EQ(cfg1_rd(&m.e, MSIX_SLOT, m.cap + PCI_MSIX_FLAGS, 2), 4); /* N-1, off */
	CHECK_EQ(cfg1_rd(&m.e, MSIX_SLOT, m.cap + PCI_MSIX_TABLE, 4), MSIX_TABLE_OFF | 1);
	CHECK_EQ(cfg1_rd(&m.e, MSIX_SLOT, m.cap + PCI_MSIX_PBA, 4), MSIX_PBA_OFF | 1);
	/* Only Enable and Function Mask are writable. */
	msix_ctrl(&m, 0xffff);
	CHECK_EQ(cfg1_rd(&m.e, MSIX_SLOT, m.cap + PCI_MSIX_FLAGS, 2), 0xc004);
	cfg1_wr(&m.e, MSIX_SLOT, m.cap + PCI_MSIX_TABLE, 4, 0x12345678);
	CHECK_EQ(cfg1_rd(&m.e, MSIX_SLOT, m.cap + PCI_MSIX_TABLE, 4), MSIX_TABLE_OFF | 1);
	/* BAR1 is a 4 KiB 32-bit BAR. */
	uint32_t old = cfg1_rd(&m.e, MSIX_SLOT, PCI_BASE_ADDRESS_1, 4);
	cfg1_wr(&m.e, MSIX_SLOT, PCI_BASE_ADDRESS_1, 4, 0xffffffffu);
	CHECK_EQ(cfg1_rd(&m.e, MSIX_SLOT, PCI_BASE_ADDRESS_1, 4), 0xfffff000u);
	cfg1_wr(&m.e, MSIX_SLOT, PCI_BASE_ADDRESS_1, 4, old);
	/* Table entries: masked at reset, address bits 1:0 and reserved control bits RO. */
	for (uint16_t v = 0; v < 5; v++)
		CHECK_EQ(mmio_rd(&m.e, m.bar + v * 16u + 12, 4), 1);
	mmio_wr(&m.e, m.bar + 0, 4, 0xfee00003u);
	CHECK_EQ(mmio_rd(&m.e, m.bar + 0, 4), 0xfee00000u);
	mmio_wr(&m.e, m.bar + 12, 4, 0xfffffffeu);
	CHECK_EQ(mmio_rd(&m.e, m.bar + 12, 4), 0);
	/* Qword access to an entry. */
	mmio_wr(&m.e, m.bar + 16, 8, 0x00000001fee01000ULL);
	CHECK_EQ(mmio_rd(&m.e, m.bar + 16, 8), 0x00000001fee01000ULL);
	/* Beyond the table and the PBA: reads 0, writes ignored. */
	mmio_wr(&m.e, m.bar + 5 * 16, 4, 0xffffffffu);
	CHECK_EQ(mmio_rd(&m.e, m.bar + 5 * 16, 4), 0);
	mmio_wr(&m.e, m.bar + MSIX_PBA_OFF, 8, ~0ULL);
	CHECK_EQ(pba(&m), 0);
	mdev_fini(&m);
}

TEST(msix_disabled_means_intx)
{
	struct mdev m;
	REQUIRE(mdev_init(&m, 2) == 0);
	CHECK(!msix_enabled(m.msix));
	CHECK(!msix_notify(m.msix, 0));
	CHECK_EQ(m.e.kvm.nr_gsi_alloc, 0);
	msix_ctrl(&m, PCI_MSIX_FLAGS_ENABLE);
	CHECK(msix_enabled(m.msix));
	CHECK(msix_notify(m.msix, 7)); /* out of range: dropped, but MSI-X mode */
	msix_ctrl(&m, 0);
	CHECK(!msix_enabled(m.msix));
	mdev_fini(&m);
}

TEST(msix_delivery_through_route_and_irqfd)
{
	struct mdev m;
	REQUIRE(mdev_init(&m, 4) == 0);
	msix_ctrl(&m, PCI_MSIX_FLAGS_ENABLE);
	entry_prog(&m, 2, 0xfee00000u, 0x4041);
	entry_mask(&m, 2, false);
	CHECK(msix_notify(m.msix, 2));
	CHECK_EQ(m.e.kvm.nr_gsi_alloc, 1);
	CHECK_EQ(m.e.kvm.nr_irqfds, 1);
	uint64_t a;
	uint32_t d;
	REQUIRE(fk_route(&m.e.kvm, m.e.kvm.irqfds[0].gsi, &a, &d));
	CHECK_EQ(a, 0xfee00000u);
	CHECK_EQ(d, 0x4041);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x4041), 1);
	/* Second delivery reuses the route. */
	unsigned sets = m.e.kvm.nr_route_sets;
	CHECK(msix_notify(m.msix, 2));
	CHECK(msix_notify(m.msix, 2));
	CHECK_EQ(m.e.kvm.nr_route_sets, sets);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x4041), 2);
	/* The guest retargets the vector (masking around it, as drivers do). */
	entry_mask(&m, 2, true);
	entry_prog(&m, 2, 0xfee01000u, 0x4052);
	entry_mask(&m, 2, false);
	CHECK(msix_notify(m.msix, 2));
	REQUIRE(fk_route(&m.e.kvm, m.e.kvm.irqfds[0].gsi, &a, &d));
	CHECK_EQ(a, 0xfee01000u);
	CHECK_EQ(d, 0x4052);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x4052), 1);
	CHECK_EQ(m.e.kvm.nr_gsi_alloc, 1);
	mdev_fini(&m);
	CHECK_EQ(m.e.kvm.nr_irqfds, 0); /* deassigned at destroy */
}

TEST(msix_vector_mask_pends_and_unmask_delivers)
{
	struct mdev m;
	REQUIRE(mdev_init(&m, 4) == 0);
	msix_ctrl(&m, PCI_MSIX_FLAGS_ENABLE);
	entry_prog(&m, 1, 0xfee00000u, 0x31);
	entry_prog(&m, 3, 0xfee00000u, 0x33);
	/* Entries are masked at reset: the interrupt pends. */
	CHECK(msix_notify(m.msix, 1));
	CHECK(msix_notify(m.msix, 3));
	CHECK(msix_pending(m.msix, 1));
	CHECK_EQ(pba(&m), 0xa);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x31), 0);
	/* Unmasking vector 1 delivers it once and clears its pending bit only. */
	entry_mask(&m, 1, false);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x31), 1);
	CHECK_EQ(pba(&m), 0x8);
	CHECK(!msix_pending(m.msix, 1));
	/* Re-masking does not re-deliver; unmasking without pending does nothing. */
	entry_mask(&m, 1, true);
	entry_mask(&m, 1, false);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x31), 0);
	/* Byte access to Vector Control works too. */
	mmio_wr(&m.e, m.bar + 3 * 16 + 12, 1, 0);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x33), 1);
	CHECK_EQ(pba(&m), 0);
	mdev_fini(&m);
}

TEST(msix_function_mask)
{
	struct mdev m;
	REQUIRE(mdev_init(&m, 2) == 0);
	msix_ctrl(&m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	entry_prog(&m, 0, 0xfee00000u, 0x50);
	entry_mask(&m, 0, false); /* still function-masked: nothing pending to deliver */
	CHECK(msix_notify(m.msix, 0));
	CHECK(msix_notify(m.msix, 0)); /* coalesces into one pending bit */
	CHECK(msix_pending(m.msix, 0));
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x50), 0);
	/* Clearing Function Mask delivers the pending, unmasked vector once. */
	msix_ctrl(&m, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x50), 1);
	CHECK(!msix_pending(m.msix, 0));
	/* A vector pending behind both masks waits for both. */
	entry_mask(&m, 1, true);
	entry_prog(&m, 1, 0xfee00000u, 0x51);
	msix_ctrl(&m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	CHECK(msix_notify(m.msix, 1));
	entry_mask(&m, 1, false);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x51), 0);
	CHECK(msix_pending(m.msix, 1));
	msix_ctrl(&m, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(fk_msi_count(&m.e.kvm, 0x51), 1);
	/* Pending while disabled is not a thing: disabled means INTx. */
	msix_ctrl(&m, 0);
	CHECK(!msix_notify(m.msix, 1));
	CHECK(!msix_pending(m.msix, 1));
	mdev_fini(&m);
}

static int failing_gsi_alloc(void *o, uint32_t *gsi)
{
	(void)o;
	(void)gsi;
	return -ENOSPC;
}

TEST(msix_kvm_failure_is_survivable)
{
	struct mdev m;
	REQUIRE(mdev_init(&m, 1) == 0);
	/* Swap in ops whose GSI allocation fails: delivery logs and carries on. */
	struct pci_kvm_ops bad = fake_kvm_ops;
	bad.gsi_alloc = failing_gsi_alloc;
	struct pci_bus_params p = {.mmio = &m.e.mmio,
				   .kvm_ops = &bad,
				   .kvm_opaque = &m.e.kvm,
				   .mmio32_start = 0xc8000000u,
				   .mmio32_size = 0x100000};
	struct pci_bus *b2;
	REQUIRE(pci_bus_create_params(&p, &b2) == 0);
	struct pci_dev d;
	struct msix *mx;
	pci_dev_init(&d, "bad", 1, 2, 0, 0, 0, 0, NULL);
	REQUIRE(msix_create(&d, 0, 1, &mx) == 0);
	REQUIRE(pci_bus_add_dev(b2, &d, 1) == 0);
	pci_bus_cfg_write(b2, 1, 0, mx ? 0x40 + PCI_MSIX_FLAGS : 0, 2, PCI_MSIX_FLAGS_ENABLE);
	uint8_t z[16] = {0};
	CHECK(pci_dev_bar_write(&d, 0, 0, z, 16));
	CHECK(msix_notify(mx, 0)); /* no crash, nothing delivered */
	CHECK_EQ(m.e.kvm.nr_irqfds, 0);
	pci_bus_del_dev(b2, &d);
	msix_destroy(mx);
	pci_bus_destroy(b2);
	mdev_fini(&m);
}
