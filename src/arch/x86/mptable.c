/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables, so that a guest without ACPI finds every vCPU,
 * the IOAPIC and the ISA interrupt routing. Layout, all at LAYOUT_MPTABLE_GPA (EBDA, which the
 * guest scans in "the last KiB of base memory"):
 *   MP floating pointer (16 bytes), then the configuration table: header, one processor entry
 *   per vCPU (APIC ID = vCPU id, vCPU 0 the BSP), bus 0 PCI, bus 1 ISA, the IOAPIC (ID =
 *   nr_cpus), the ISA IRQs wired as on a PC: IRQ 0 (the PIT) on IOAPIC pin 2, IRQs 1 and 3-15
 *   on the pin of the same number (kvm.c routes KVM GSI 0, which the in-kernel PIT raises, to
 *   IOAPIC pin 2, and GSI n to pin n otherwise; the MADT says the same with an interrupt
 *   source override), and LINT0 ExtINT / LINT1 NMI on every LAPIC.
 */
#include <errno.h>
#include <string.h>
#include "arch/x86/arch.h"
#include "arch/x86/layout.h"

#define MP_SPEC_REV 4
#define MP_LAPIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_EN 0x01
#define MP_CPU_BP 0x02
#define MP_CPU_SIGNATURE 0x600 /* family 6 */
#define MP_CPU_FEATURES 0x201  /* FPU, APIC */
#define MP_BUS_PCI 0
#define MP_BUS_ISA 1
#define MP_ISA_IRQS 16

enum { MP_ENT_CPU = 0, MP_ENT_BUS = 1, MP_ENT_IOAPIC = 2, MP_ENT_IOINT = 3, MP_ENT_LINT = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

struct mp_fp {
	char signature[4];
	uint32_t config_gpa;
	uint8_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mp_header {
	char signature[4];
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_gpa;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t id;
	uint8_t version;
	uint8_t flags;
	uint32_t gpa;
} __attribute__((packed));

struct mp_int {
	uint8_t type;
	uint8_t int_type;
	uint16_t flags; /* 0: polarity and trigger conform to the bus */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_id;
	uint8_t dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_fp) == 16, "mp_fp");
_Static_assert(sizeof(struct mp_header) == 44, "mp_header");
_Static_assert(sizeof(struct mp_cpu) == 20, "mp_cpu");
_Static_assert(sizeof(struct mp_bus) == 8 && sizeof(struct mp_ioapic) == 8, "mp entries");
_Static_assert(sizeof(struct mp_int) == 8, "mp_int");

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0x100 - sum);
}

struct mp_buf {
	uint8_t data[LAYOUT_EBDA_SIZE];
	size_t len;
	uint16_t count;
	bool overflow;
};

static void mp_put(struct mp_buf *b, const void *ent, size_t len)
{
	if (b->len + len > sizeof(b->data)) {
		b->overflow = true;
		return;
	}
	memcpy(b->data + b->len, ent, len);
	b->len += len;
	b->count++;
}

int x86_mptable_write(struct guest_mem *gm, unsigned nr_cpus)
{
	struct mp_buf b;
	uint8_t ioapic_id = (uint8_t)nr_cpus;

	if (nr_cpus == 0 || nr_cpus > 254)
		return -EINVAL;
	memset(&b, 0, sizeof(b));
	b.len = sizeof(struct mp_fp) + sizeof(struct mp_header);

	for (unsigned i = 0; i < nr_cpus; i++) {
		struct mp_cpu c = {
			.type = MP_ENT_CPU,
			.apic_id = (uint8_t)i,
			.apic_version = MP_LAPIC_VERSION,
			.flags = (uint8_t)(MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0)),
			.signature = MP_CPU_SIGNATURE,
			.features = MP_CPU_FEATURES,
		};
		mp_put(&b, &c, sizeof(c));
	}
	struct mp_bus pci = {.type = MP_ENT_BUS, .id = MP_BUS_PCI};
	memcpy(pci.bus_type, "PCI   ", 6);
	mp_put(&b, &pci, sizeof(pci));
	struct mp_bus isa = {.type = MP_ENT_BUS, .id = MP_BUS_ISA};
	memcpy(isa.bus_type, "ISA   ", 6);
	mp_put(&b, &isa, sizeof(isa));
	struct mp_ioapic io = {
		.type = MP_ENT_IOAPIC,
		.id = ioapic_id,
		.version = MP_IOAPIC_VERSION,
		.flags = 1,
		.gpa = (uint32_t)LAYOUT_IOAPIC_GPA,
	};
	mp_put(&b, &io, sizeof(io));
	for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++) {
		if (irq == 2) /* the PIC cascade */
			continue;
		uint8_t pin = irq == 0 ? 2 : irq;
		struct mp_int e = {MP_ENT_IOINT, MP_INT, 0, MP_BUS_ISA, irq, ioapic_id, pin};
		mp_put(&b, &e, sizeof(e));
	}
	struct mp_int lint0 = {MP_ENT_LINT, MP_EXTINT, 0, MP_BUS_ISA, 0, 0xff, 0};
	mp_put(&b, &lint0, sizeof(lint0));
	struct mp_int lint1 = {MP_ENT_LINT, MP_NMI, 0, MP_BUS_ISA, 0, 0xff, 1};
	mp_put(&b, &lint1, sizeof(lint1));
	if (b.overflow)
		return -ENOSPC;

	struct mp_header h = {
		.signature = {'P', 'C', 'M', 'P'},
		.length = (uint16_t)(b.len - sizeof(struct mp_fp)),
		.spec_rev = MP_SPEC_REV,
		.oem_id = {'V', 'I', 'R', 'E', 'O', ' ', ' ', ' '},
		.product_id = {'V', 'I', 'R', 'E', 'O', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
		.entry_count = b.count,
		.lapic_gpa = (uint32_t)LAYOUT_LAPIC_GPA,
	};
	memcpy(b.data + sizeof(struct mp_fp), &h, sizeof(h));
	b.data[sizeof(struct mp_fp) + offsetof(struct mp_header, checksum)] =
		mp_checksum(b.data + sizeof(struct mp_fp), h.length);

	struct mp_fp fp = {
		.signature = {'_', 'M', 'P', '_'},
		.config_gpa = (uint32_t)(LAYOUT_MPTABLE_GPA + sizeof(struct mp_fp)),
		.length = 1,
		.spec_rev = MP_SPEC_REV,
	};
	fp.checksum = mp_checksum((const uint8_t *)&fp, sizeof(fp));
	memcpy(b.data, &fp, sizeof(fp));
	return gm_write(gm, LAYOUT_MPTABLE_GPA, b.data, b.len);
}
