/* SPDX-License-Identifier: MIT */
/* PCI bus: config mechanism #1, ECAM, config space semantics, BARs, capabilities, INTx. */
#include <stdlib.h>
#include "harness.h"
#include "pci_fake.h"

struct tdev {
	struct pci_dev pci;
	uint8_t regs[2][0x4000];
	unsigned nr_remaps;
	unsigned last_bar;
	uint64_t last_old, last_new;
};

static void tdev_read0(void *o, uint64_t off, void *data, uint32_t len)
{
	struct tdev *t = o;
	memcpy(data, &t->regs[0][off], len);
}
static void tdev_write0(void *o, uint64_t off, const void *data, uint32_t len)
{
	struct tdev *t = o;
	memcpy(&t->regs[0][off], data, len);
}
static void tdev_read2(void *o, uint64_t off, void *data, uint32_t len)
{
	struct tdev *t = o;
	memcpy(data, &t->regs[1][off], len);
}
static void tdev_write2(void *o, uint64_t off, const void *data, uint32_t len)
{
	struct tdev *t = o;
	memcpy(&t->regs[1][off], data, len);
}
static const struct bus_ops tdev_ops0 = {.read = tdev_read0, .write = tdev_write0};
static const struct bus_ops tdev_ops2 = {.read = tdev_read2, .write = tdev_write2};

static void tdev_remap(struct pci_dev *d, unsigned bar, uint64_t old_gpa, uint64_t new_gpa)
{
	struct tdev *t = container_of(d, struct tdev, pci);
	t->nr_remaps++;
	t->last_bar = bar;
	t->last_old = old_gpa;
	t->last_new = new_gpa;
}
static const struct pci_dev_ops tdev_pci_ops = {.bar_remap = tdev_remap};

/* BAR0: 32-bit 4 KiB; BAR2: 64-bit 16 KiB. */
static struct tdev *tdev_new(struct pci_env *e, int slot)
{
	struct tdev *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pci_dev_init(&t->pci, "tdev", 0x1234, 0x5678, 0xff0000, 3, 0x1af4, 0x1100, &tdev_pci_ops);
	if (pci_dev_add_bar(&t->pci, 0, 0x1000, 0, &tdev_ops0, t) ||
	    pci_dev_add_bar(&t->pci, 2, 0x4000, PCI_BAR_F_64, &tdev_ops2, t) ||
	    pci_bus_add_dev(e->pci, &t->pci, slot)) {
		free(t);
		return NULL;
	}
	return t;
}

TEST(pci_cfg1_host_bridge_all_widths)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	CHECK_EQ(cfg1_rd(&e, 0, 0, 4), 0x12378086);
	CHECK_EQ(cfg1_rd(&e, 0, 0, 2), 0x8086);
	CHECK_EQ(cfg1_rd(&e, 0, 2, 2), 0x1237);
	CHECK_EQ(cfg1_rd(&e, 0, 1, 1), 0x80);
	CHECK_EQ(cfg1_rd(&e, 0, 3, 1), 0x12);
	CHECK_EQ(cfg1_rd(&e, 0, 1, 2), 0x3780);	   /* word at 0xCFD */
	CHECK_EQ(cfg1_rd(&e, 0, 0x0a, 2), 0x0600); /* class: host bridge */
	CHECK_EQ(cfg1_rd(&e, 0, PCI_HEADER_TYPE, 1), 0);
	/* CONFIG_ADDRESS reads back (reserved bits 1:0 and 30:24 clear). */
	pio_out(&e, 0xcf8, 4, 0xff00080fu);
	CHECK_EQ(pio_in(&e, 0xcf8, 4), 0x8000080c);
	/* Byte/word accesses to 0xCF8 are not CONFIG_ADDRESS. */
	pio_out(&e, 0xcf8, 1, 0);
	pio_out(&e, 0xcfa, 2, 0);
	CHECK_EQ(pio_in(&e, 0xcf8, 4), 0x8000080c);
	/* Enable bit clear: data port reads all-ones and ignores writes. */
	pio_out(&e, 0xcf8, 4, 0x00000000u);
	CHECK_EQ(pio_in(&e, 0xcfc, 4), 0xffffffffu);
	/* Another bus: nothing there. */
	pio_out(&e, 0xcf8, 4, 0x80010000u);
	CHECK_EQ(pio_in(&e, 0xcfc, 4), 0xffffffffu);
	/* The host bridge's vendor ID is read-only. */
	cfg1_wr(&e, 0, 0, 4, 0);
	CHECK_EQ(cfg1_rd(&e, 0, 0, 4), 0x12378086);
	pci_env_fini(&e);
}

static uint8_t cf9_val;
static void cf9_read(void *o, uint64_t off, void *data, uint32_t len)
{
	(void)o;
	(void)off;
	(void)len;
	*(uint8_t *)data = cf9_val;
}
static void cf9_write(void *o, uint64_t off, const void *data, uint32_t len)
{
	(void)o;
	(void)off;
	(void)len;
	cf9_val = *(const uint8_t *)data;
}
static const struct bus_ops cf9_ops = {.read = cf9_read, .write = cf9_write};

TEST(pci_cf9_forwarded)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	pci_bus_set_cf9(e.pci, &cf9_ops, NULL);
	pio_out(&e, 0xcf8, 4, 0x80000000u);
	pio_out(&e, 0xcf9, 1, 0x06);
	CHECK_EQ(cf9_val, 0x06);
	cf9_val = 0x42;
	CHECK_EQ(pio_in(&e, 0xcf9, 1), 0x42);
	CHECK_EQ(pio_in(&e, 0xcf8, 4), 0x80000000u); /* the latch was not touched */
	pci_env_fini(&e);
}

TEST(pci_absent_functions_read_ffff)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	struct tdev *t = tdev_new(&e, 3);
	REQUIRE(t);
	for (unsigned s = 1; s < 32; s++) {
		uint32_t want = s == 3 ? 0x56781234u : 0xffffffffu;
		CHECK_EQ(cfg1_rd(&e, s, 0, 4), want);
		CHECK_EQ(ecam_rd(&e, s, 0, 0, 4), want);
	}
	/* Function 1..7 of a present single-function device: absent. */
	pio_out(&e, 0xcf8, 4, 0x80000000u | (3u << 11) | (1u << 8));
	CHECK_EQ(pio_in(&e, 0xcfc, 2), 0xffff);
	CHECK_EQ(ecam_rd(&e, 3, 7, 0, 2), 0xffff);
	CHECK_EQ(ecam_rd(&e, 0, 1, 0, 4), 0xffffffffu);
	/* Other buses in the ECAM window read all-ones too. */
	CHECK_EQ((uint32_t)mmio_rd(&e, LAYOUT_ECAM_GPA + (1u << 20), 4), 0xffffffffu);
	/* Writes to absent functions are ignored without harm. */
	ecam_wr(&e, 9, PCI_COMMAND, 2, 0xffff);
	cfg1_wr(&e, 9, PCI_COMMAND, 2, 0xffff);
	pci_env_fini(&e);
	free(t);
}

TEST(pci_ecam_matches_cfg1)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	struct tdev *t = tdev_new(&e, 5);
	REQUIRE(t);
	for (uint32_t off = 0; off < 0x100; off += 4) {
		CHECK_EQ(ecam_rd(&e, 5, 0, off, 4), cfg1_rd(&e, 5, off, 4));
		CHECK_EQ(ecam_rd(&e, 0, 0, off, 4), cfg1_rd(&e, 0, off, 4));
		CHECK_EQ(ecam_rd(&e, 5, 0, off + 2, 2), cfg1_rd(&e, 5, off + 2, 2));
		CHECK_EQ(ecam_rd(&e, 5, 0, off + 1, 1), cfg1_rd(&e, 5, off + 1, 1));
	}
	/* Writes through one mechanism are seen through the other. */
	ecam_wr(&e, 5, PCI_INTERRUPT_LINE, 1, 0x0b);
	CHECK_EQ(cfg1_rd(&e, 5, PCI_INTERRUPT_LINE, 1), 0x0b);
	cfg1_wr(&e, 5, PCI_LATENCY_TIMER, 1, 0x40);
	CHECK_EQ(ecam_rd(&e, 5, 0, PCI_LATENCY_TIMER, 1), 0x40);
	/* Extended config space is empty: no extended capabilities. */
	CHECK_EQ(ecam_rd(&e, 5, 0, 0x100, 4), 0);
	CHECK_EQ(ecam_rd(&e, 5, 0, 0xffc, 4), 0);
	/* A qword ECAM access is split into two dwords. */
	CHECK_EQ(mmio_rd(&e, LAYOUT_ECAM_GPA + (5u << 15), 8),
		 ((uint64_t)cfg1_rd(&e, 5, 4, 4) << 32) | cfg1_rd(&e, 5, 0, 4));
	pci_env_fini(&e);
	free(t);
}

TEST(pci_config_write_masks)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	struct tdev *t = tdev_new(&e, 2);
	REQUIRE(t);
	/* Read-only identity. */
	cfg1_wr(&e, 2, 0, 4, 0);
	cfg1_wr(&e, 2, PCI_CLASS_REVISION, 4, 0);
	cfg1_wr(&e, 2, PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
	CHECK_EQ(cfg1_rd(&e, 2, 0, 4), 0x56781234u);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_CLASS_REVISION, 4), 0xff000003u);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4u);
	/* Command: only implemented bits stick. */
	cfg1_wr(&e, 2, PCI_COMMAND, 2, 0xffff);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_COMMAND, 2), 0x0547);
	cfg1_wr(&e, 2, PCI_COMMAND, 2, 0);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_COMMAND, 2), 0);
	/* Status is read-only here (no caps on this device). */
	cfg1_wr(&e, 2, PCI_STATUS, 2, 0xffff);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_STATUS, 2), 0);
	/* Interrupt pin RO (INTA), line RW and preset to the routed GSI. */
	CHECK_EQ(cfg1_rd(&e, 2, PCI_INTERRUPT_PIN, 1), 1);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_INTERRUPT_LINE, 1), pci_slot_irq(2, 1));
	cfg1_wr(&e, 2, PCI_INTERRUPT_LINE, 2 /* line + pin */, 0x0000);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_INTERRUPT_PIN, 1), 1);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_INTERRUPT_LINE, 1), 0);
	/* No expansion ROM, header type 0. */
	cfg1_wr(&e, 2, PCI_ROM_ADDRESS, 4, 0xffffffffu);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_ROM_ADDRESS, 4), 0);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_HEADER_TYPE, 1), 0);
	/* Unimplemented BARs read 0 and ignore sizing. */
	cfg1_wr(&e, 2, PCI_BASE_ADDRESS_1, 4, 0xffffffffu);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_BASE_ADDRESS_1, 4), 0);
	cfg1_wr(&e, 2, PCI_BASE_ADDRESS_4, 4, 0xffffffffu);
	CHECK_EQ(cfg1_rd(&e, 2, PCI_BASE_ADDRESS_4, 4), 0);
	pci_env_fini(&e);
	free(t);
}

TEST(pci_slot_allocation)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	struct tdev *a = tdev_new(&e, -1), *b = tdev_new(&e, -1);
	REQUIRE(a && b);
	CHECK_EQ(a->pci.slot, 1);
	CHECK_EQ(b->pci.slot, 2);
	struct pci_dev x;
	pci_dev_init(&x, "x", 1, 2, 0, 0, 0, 0, NULL);
	CHECK_EQ(pci_bus_add_dev(e.pci, &x, 0), -EINVAL);
	CHECK_EQ(pci_bus_add_dev(e.pci, &x, 32), -EINVAL);
	CHECK_EQ(pci_bus_add_dev(e.pci, &x, 2), -EEXIST);
	CHECK_EQ(pci_bus_add_dev(e.pci, &x, 31), 0);
	CHECK_EQ(pci_bus_add_dev(e.pci, &x, 30), -EBUSY);
	struct pci_intx_route routes[8];
	unsigned n = pci_bus_intx_routes(e.pci, routes, 8);
	CHECK_EQ(n, 3);
	CHECK_EQ(routes[0].slot, 1);
	CHECK_EQ(routes[0].gsi, pci_slot_irq(1, 1));
	CHECK_EQ(routes[2].slot, 31);
	/* The documented rotation: slots 1,2 -> 10, slots 3,4 -> 11, slot 5 -> 10 ... */
	CHECK_EQ(pci_slot_irq(1, 1), 10);
	CHECK_EQ(pci_slot_irq(2, 1), 10);
	CHECK_EQ(pci_slot_irq(3, 1), 11);
	CHECK_EQ(pci_slot_irq(4, 1), 11);
	CHECK_EQ(pci_slot_irq(5, 1), 10);
	CHECK_EQ(pci_slot_irq(1, 3), 11);
	pci_env_fini(&e);
	free(a);
	free(b);
}

TEST(pci_bar_sizing_32_and_64)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	struct tdev *t = tdev_new(&e, 1);
	REQUIRE(t);
	/* Initial placement: naturally aligned inside the MMIO32 window. */
	uint64_t b0 = pci_dev_bar_addr(&t->pci, 0), b2 = pci_dev_bar_addr(&t->pci, 2);
	CHECK(b0 >= LAYOUT_PCI_MMIO32_START &&
	      b0 < LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE);
	CHECK(b2 >= LAYOUT_PCI_MMIO32_START &&
	      b2 < LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE);
	CHECK_EQ(b0 & 0xfff, 0);
	CHECK_EQ(b2 & 0x3fff, 0);
	CHECK(b0 + 0x1000 <= b2 || b2 + 0x4000 <= b0);
	CHECK_EQ(cfg1_rd(&e, 1, PCI_BASE_ADDRESS_0, 4), (uint32_t)b0);
	CHECK_EQ(cfg1_rd(&e, 1, PCI_BASE_ADDRESS_2, 4), (uint32_t)b2 | 4u);
	CHECK_EQ(cfg1_rd(&e, 1, PCI_BASE_ADDRESS_3, 4), 0);

	/* 32-bit sizing. */
	uint32_t old = cfg1_rd(&e, 1, PCI_BASE_ADDRESS_0, 4);
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffffu);
	CHECK_EQ(cfg1_rd(&e, 1, PCI_BASE_ADDRESS_0, 4), 0xfffff000u);
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_0, 4, old);
	CHECK_EQ(cfg1_rd(&e, 1, PCI_BASE_ADDRESS_0, 4), old);

	/* 64-bit sizing: type bits stay, the upper half is fully writable. */
	uint32_t lo = cfg1_rd(&e, 1, PCI_BASE_ADDRESS_2, 4);
	uint32_t hi = cfg1_rd(&e, 1, PCI_BASE_ADDRESS_3, 4);
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_2, 4, 0xffffffffu);
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_3, 4, 0xffffffffu);
	CHECK_EQ(cfg1_rd(&e, 1, PCI_BASE_ADDRESS_2, 4), 0xffffc004u);
	CHECK_EQ(cfg1_rd(&e, 1, PCI_BASE_ADDRESS_3, 4), 0xffffffffu);
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_2, 4, lo);
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_3, 4, hi);
	CHECK_EQ(pci_dev_bar_addr(&t->pci, 2), b2);
	/* Sizing never decoded anything (memory space is off). */
	CHECK_EQ(t->nr_remaps, 0);
	pci_env_fini(&e);
	free(t);
}

TEST(pci_bar_decode_and_relocation)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	struct tdev *t = tdev_new(&e, 1);
	REQUIRE(t);
	uint64_t b0 = pci_dev_bar_addr(&t->pci, 0), b2 = pci_dev_bar_addr(&t->pci, 2);
	t->regs[0][0x10] = 0xab;
	t->regs[1][0x20] = 0xcd;
	uint8_t v;
	/* Not decoded until memory space is enabled. */
	CHECK(!bus_read(&e.mmio, b0 + 0x10, &v, 1));
	CHECK_EQ(pci_dev_bar_mapped(&t->pci, 0), PCI_BAR_UNMAPPED);
	cfg1_wr(&e, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(t->nr_remaps, 2);
	CHECK(bus_read(&e.mmio, b0 + 0x10, &v, 1));
	CHECK_EQ(v, 0xab);
	CHECK_EQ(mmio_rd(&e, b2 + 0x20, 1), 0xcd);
	mmio_wr(&e, b2 + 0x24, 4, 0x11223344);
	CHECK_EQ(t->regs[1][0x24], 0x44);

	/* Firmware moves BAR0 (32-bit) and BAR2 (64-bit, above 4 GiB). */
	t->nr_remaps = 0;
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_0, 4, 0xd0000000u);
	CHECK_EQ(t->nr_remaps, 1);
	CHECK_EQ(t->last_bar, 0);
	CHECK_EQ(t->last_old, b0);
	CHECK_EQ(t->last_new, 0xd0000000u);
	CHECK(!bus_read(&e.mmio, b0 + 0x10, &v, 1)); /* old address unhandled */
	CHECK_EQ(mmio_rd(&e, 0xd0000010u, 1), 0xab);

	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_3, 4, 0x80);
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_2, 4, 0x00004000);
	CHECK_EQ(pci_dev_bar_mapped(&t->pci, 2), 0x8000004000ULL);
	CHECK(!bus_read(&e.mmio, b2 + 0x20, &v, 1));
	CHECK_EQ(mmio_rd(&e, 0x8000004020ULL, 1), 0xcd);
	CHECK_EQ(t->last_bar, 2);
	CHECK_EQ(t->last_new, 0x8000004000ULL);

	/* A BAR moved onto another range (ECAM) is not decoded, and the guest cannot break
	 * the ECAM window that way. */
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)LAYOUT_ECAM_GPA);
	CHECK_EQ(pci_dev_bar_mapped(&t->pci, 0), PCI_BAR_UNMAPPED);
	CHECK_EQ(t->last_new, PCI_BAR_UNMAPPED);
	CHECK_EQ(ecam_rd(&e, 1, 0, 0, 4), 0x56781234u);
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_0, 4, 0xd0001000u);
	CHECK_EQ(mmio_rd(&e, 0xd0001010u, 1), 0xab);

	/* Memory decoding off: everything unmapped, remap callbacks say so. */
	t->nr_remaps = 0;
	cfg1_wr(&e, 1, PCI_COMMAND, 2, 0);
	CHECK_EQ(t->nr_remaps, 2);
	CHECK_EQ(t->last_new, PCI_BAR_UNMAPPED);
	CHECK(!bus_read(&e.mmio, 0xd0001010u, &v, 1));
	CHECK(!bus_read(&e.mmio, 0x8000004020ULL, &v, 1));
	/* Moving while off does not decode. */
	cfg1_wr(&e, 1, PCI_BASE_ADDRESS_0, 4, 0xd0002000u);
	CHECK_EQ(t->nr_remaps, 2);
	cfg1_wr(&e, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(mmio_rd(&e, 0xd0002010u, 1), 0xab);
	/* Unplug unmaps. */
	pci_bus_del_dev(e.pci, &t->pci);
	CHECK(!bus_read(&e.mmio, 0xd0002010u, &v, 1));
	CHECK_EQ(cfg1_rd(&e, 1, 0, 4), 0xffffffffu);
	pci_env_fini(&e);
	free(t);
}

TEST(pci_bar_allocation_falls_back_to_mmio64)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	/* A 256 MiB 64-bit BAR twice: the second does not fit MMIO32 (512 MiB) after the
	 * first one plus alignment... the third certainly not. */
	struct pci_dev d[3];
	uint64_t addr[3];
	for (unsigned i = 0; i < 3; i++) {
		pci_dev_init(&d[i], "big", 1, 2, 0, 0, 0, 0, NULL);
		REQUIRE(pci_dev_add_bar(&d[i], 0, 256 * MiB, PCI_BAR_F_64, &tdev_ops0, NULL) == 0);
		REQUIRE(pci_bus_add_dev(e.pci, &d[i], -1) == 0);
		addr[i] = pci_dev_bar_addr(&d[i], 0);
		CHECK_EQ(addr[i] % (256 * MiB), 0);
	}
	CHECK(addr[0] < 4 * GiB);
	CHECK(addr[2] >= 0x4000000000ULL);
	/* A 32-bit BAR that does not fit anywhere is refused. */
	struct pci_dev x;
	pci_dev_init(&x, "x", 1, 2, 0, 0, 0, 0, NULL);
	REQUIRE(pci_dev_add_bar(&x, 0, 1ULL << 31, 0, &tdev_ops0, NULL) == 0);
	CHECK_EQ(pci_bus_add_dev(e.pci, &x, -1), -ENOSPC);
	/* Bad BAR declarations. */
	CHECK_EQ(pci_dev_add_bar(&x, 5, 0x1000, PCI_BAR_F_64, &tdev_ops0, NULL), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&x, 1, 0x1800, 0, &tdev_ops0, NULL), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&x, 0, 0x1000, 0, &tdev_ops0, NULL), -EEXIST);
	struct pci_dev y;
	pci_dev_init(&y, "y", 1, 2, 0, 0, 0, 0, NULL);
	REQUIRE(pci_dev_add_bar(&y, 2, 0x1000, PCI_BAR_F_64, &tdev_ops0, NULL) == 0);
	CHECK_EQ(pci_dev_add_bar(&y, 3, 0x1000, 0, &tdev_ops0, NULL), -EEXIST);
	CHECK_EQ(pci_dev_add_bar(&y, 1, 0x1000, PCI_BAR_F_64, &tdev_ops0, NULL), -EEXIST);
	pci_env_fini(&e);
}

TEST(pci_capability_chain)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	struct pci_dev d;
	pci_dev_init(&d, "caps", 1, 2, 0, 0, 0, 0, NULL);
	uint8_t body[9] = {0, 0, 9, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	uint8_t offs[3];
	for (unsigned i = 0; i < 3; i++) {
		body[3] = (uint8_t)i;
		REQUIRE(pci_dev_add_cap(&d, PCI_CAP_ID_VNDR, body, sizeof(body), &offs[i]) == 0);
	}
	REQUIRE(pci_bus_add_dev(e.pci, &d, 4) == 0);
	CHECK(cfg1_rd(&e, 4, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	uint8_t p = (uint8_t)cfg1_rd(&e, 4, PCI_CAPABILITY_LIST, 1);
	unsigned n = 0;
	while (p && n < 48) {
		CHECK_EQ(p & 3, 0);
		CHECK(p >= 0x40);
		CHECK_EQ(p, offs[n]);
		CHECK_EQ(cfg1_rd(&e, 4, p, 1), PCI_CAP_ID_VNDR);
		CHECK_EQ(cfg1_rd(&e, 4, p + 2, 1), 9);
		CHECK_EQ(cfg1_rd(&e, 4, p + 3, 1), n);
		CHECK_EQ(ecam_rd(&e, 4, 0, p + 4, 4), 0xeeddccbbu);
		p = (uint8_t)cfg1_rd(&e, 4, p + 1, 1);
		n++;
	}
	CHECK_EQ(n, 3);
	/* Capabilities are read-only unless a device opens bits. */
	cfg1_wr(&e, 4, offs[0], 4, 0);
	CHECK_EQ(cfg1_rd(&e, 4, offs[0], 1), PCI_CAP_ID_VNDR);
	CHECK_EQ(cfg1_rd(&e, 4, PCI_CAPABILITY_LIST, 1), offs[0]);
	/* Config space runs out eventually. */
	uint8_t big[200] = {0};
	CHECK_EQ(pci_dev_add_cap(&d, PCI_CAP_ID_VNDR, big, 200, NULL), -ENOSPC);
	pci_env_fini(&e);
}

TEST(pci_intx_levels)
{
	struct pci_env e;
	REQUIRE(pci_env_init(&e) == 0);
	struct tdev *a = tdev_new(&e, 1), *b = tdev_new(&e, 2); /* both on GSI 10 */
	REQUIRE(a && b);
	uint32_t gsi = pci_slot_irq(1, 1);
	CHECK_EQ(gsi, pci_slot_irq(2, 1));
	pci_dev_set_intx(&a->pci, true);
	CHECK_EQ(e.kvm.levels[gsi], 1);
	CHECK(cfg1_rd(&e, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	CHECK(!(cfg1_rd(&e, 2, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	/* Shared line: stays high until both deassert. */
	pci_dev_set_intx(&b->pci, true);
	pci_dev_set_intx(&a->pci, false);
	CHECK_EQ(e.kvm.levels[gsi], 1);
	CHECK(!(cfg1_rd(&e, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	pci_dev_set_intx(&b->pci, false);
	CHECK_EQ(e.kvm.levels[gsi], 0);
	/* INTx Disable masks the pin, Status still shows the device's state. */
	cfg1_wr(&e, 1, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	unsigned sets = e.kvm.nr_level_sets;
	pci_dev_set_intx(&a->pci, true);
	CHECK_EQ(e.kvm.levels[gsi], 0);
	CHECK_EQ(e.kvm.nr_level_sets, sets);
	CHECK(cfg1_rd(&e, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	cfg1_wr(&e, 1, PCI_COMMAND, 2, 0);
	CHECK_EQ(e.kvm.levels[gsi], 1);
	cfg1_wr(&e, 1, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	CHECK_EQ(e.kvm.levels[gsi], 0);
	/* Slot 3 uses the other GSI. */
	struct tdev *c = tdev_new(&e, 3);
	REQUIRE(c);
	pci_dev_set_intx(&c->pci, true);
	CHECK_EQ(e.kvm.levels[pci_slot_irq(3, 1)], 1);
	CHECK_EQ(e.kvm.levels[gsi], 0);
	pci_env_fini(&e);
	free(a);
	free(b);
	free(c);
}
