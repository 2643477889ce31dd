/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables (ACPI 6.0 layouts; field offsets from the spec's tables, chapter 5.2) and the
 * table-loader that places them. See acpi.h and docs/acpi.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"

#define ACPI_OEM_ID "VIREO "
#define ACPI_OEM_TABLE_ID "VIREOVMM"
#define ACPI_CREATOR_ID "VIRE"
#define ACPI_HDR_LEN 36
#define ACPI_HDR_CSUM 9

#define FACS_LEN 64
#define FADT_LEN 276 /* revision 6 (ACPI 6.0) */
#define FADT_REV 6
#define FADT_MINOR 0
#define MADT_REV 4
#define DSDT_REV 2 /* 64-bit integers */

/* FADT field offsets */
#define FADT_DSDT 40
#define FADT_PM_PROFILE 45
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define FADT_HYPERVISOR_ID 268

/* FADT flags */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5) /* no fixed sleep button */
#define FADT_F_FIX_RTC (1u << 6)    /* no RTC wake status in PM1 */
#define FADT_F_TMR_VAL_EXT (1u << 8)
#define FADT_F_RESET_REG_SUP (1u << 10)
/* IA-PC boot architecture flags */
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042 (1u << 1)
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define BOOT_ARCH_PCIE_ASPM_CONTROLS (1u << 4)

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3
#define RESET_PORT 0xcf9
#define RESET_VALUE 0x06 /* RST_CPU | SYS_RST */
#define RTC_CENTURY_INDEX 0x32

/* MADT */
#define MADT_PCAT_COMPAT 1u
enum { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_ISO = 2, MADT_LAPIC_NMI = 4 };
#define MADT_LAPIC_ENABLED 1u
#define MPS_INTI_POLARITY_HIGH 0x1
#define MPS_INTI_TRIGGER_LEVEL 0xc
#define MADT_ALL_PROCESSORS 0xff

/* ---- little-endian stores into a buffer ---- */

static void st(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t ld(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* ---- the build state ---- */

struct acpi_build {
	struct aml blob;   /* etc/acpi/tables (struct aml doubles as a growable byte buffer) */
	struct aml loader; /* etc/table-loader */
	struct acpi_tables *t;
	const struct acpi_params *p;
};

static void loader_name(uint8_t *dst, const char *name)
{
	memset(dst, 0, ACPI_LOADER_FILE_LEN);
	memcpy(dst, name, strlen(name)); /* the names are ours and short */
}

static void loader_allocate(struct acpi_build *b, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t e[ACPI_LOADER_ENTRY_LEN] = {0};
	st(e, ACPI_LOADER_ALLOCATE, 4);
	loader_name(e + 4, file);
	st(e + 60, align, 4);
	e[64] = zone;
	aml_bytes(&b->loader, e, sizeof(e));
}

static void loader_add_pointer(struct acpi_build *b, const char *dest, uint32_t off, uint8_t size,
			       const char *src)
{
	uint8_t e[ACPI_LOADER_ENTRY_LEN] = {0};
	st(e, ACPI_LOADER_ADD_POINTER, 4);
	loader_name(e + 4, dest);
	loader_name(e + 60, src);
	st(e + 116, off, 4);
	e[120] = size;
	aml_bytes(&b->loader, e, sizeof(e));
}

static void loader_add_checksum(struct acpi_build *b, const char *file, uint32_t off,
				uint32_t start, uint32_t len)
{
	uint8_t e[ACPI_LOADER_ENTRY_LEN] = {0};
	st(e, ACPI_LOADER_ADD_CHECKSUM, 4);
	loader_name(e + 4, file);
	st(e + 60, off, 4);
	st(e + 64, start, 4);
	st(e + 68, len, 4);
	aml_bytes(&b->loader, e, sizeof(e));
}

/* Pad the blob to `align` and return the offset where the next table starts. */
static uint32_t blob_align(struct acpi_build *b, size_t align)
{
	static const uint8_t zero[64];
	size_t pad = ALIGN_UP(b->blob.len, align) - b->blob.len;
	aml_bytes(&b->blob, zero, pad);
	return (uint32_t)b->blob.len;
}

static uint32_t table_begin(struct acpi_build *b, const char *sig, uint8_t rev)
{
	uint8_t h[ACPI_HDR_LEN] = {0};
	uint32_t off = blob_align(b, 8);
	memcpy(h, sig, 4);
	h[8] = rev;
	memcpy(h + 10, ACPI_OEM_ID, 6);
	memcpy(h + 16, ACPI_OEM_TABLE_ID, 8);
	st(h + 24, 1, 4); /* OEM revision */
	memcpy(h + 28, ACPI_CREATOR_ID, 4);
	st(h + 32, 1, 4); /* creator revision */
	aml_bytes(&b->blob, h, sizeof(h));
	return off;
}

/* Record the table, fix its length, and have the loader compute its checksum last. */
static void table_end(struct acpi_build *b, uint32_t off, const char *sig)
{
	struct acpi_tables *t = b->t;
	if (b->blob.err)
		return;
	uint32_t len = (uint32_t)(b->blob.len - off);
	st(b->blob.buf + off + 4, len, 4);
	if (t->nr < ACPI_MAX_TABLES) {
		struct acpi_table_ref *r = &t->index[t->nr++];
		memcpy(r->sig, sig, 4);
		r->sig[4] = '\0';
		r->off = off;
		r->len = len;
	}
}

/* A pointer field in the blob: its initial value is the target's offset in the blob. */
static void blob_pointer(struct acpi_build *b, uint32_t field_off, uint8_t size, uint32_t target)
{
	if (b->blob.err)
		return;
	st(b->blob.buf + field_off, target, size);
	loader_add_pointer(b, ACPI_FILE_TABLES, field_off, size, ACPI_FILE_TABLES);
}

static void gas_io(uint8_t *p, uint8_t bits, uint8_t access, uint64_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	st(p + 4, port, 8);
}

/* ---- FACS ---- */

static uint32_t build_facs(struct acpi_build *b)
{
	uint8_t f[FACS_LEN] = {0};
	uint32_t off = blob_align(b, 64); /* the FACS must be 64-byte aligned */
	memcpy(f, "FACS", 4);
	st(f + 4, FACS_LEN, 4);
	f[32] = 2; /* version */
	aml_bytes(&b->blob, f, sizeof(f));
	if (b->t->nr < ACPI_MAX_TABLES && !b->blob.err)
		b->t->index[b->t->nr++] = (struct acpi_table_ref){"FACS", off, FACS_LEN};
	return off;
}

/* ---- DSDT ---- */

/* Name (_CRS, ResourceTemplate () {...}) is opened by the caller with these two calls. */
static void crs_begin(struct aml *a)
{
	aml_name(a, "_CRS");
	aml_buffer_begin(a);
}

static void crs_end(struct aml *a)
{
	aml_res_end(a);
	aml_end(a);
}

static void dsdt_pci_root(struct aml *a, const struct acpi_params *p)
{
	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08"); /* PCI Express root bridge: ECAM, see MCFG */
	aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name_int(a, "_SEG", 0);
	aml_name_int(a, "_UID", 0);
	aml_name_int(a, "_BBN", 0);

	crs_begin(a);
	aml_res_word_bus(a, 0, (uint16_t)(p->ecam_buses - 1));
	aml_res_io(a, LAYOUT_PIO_PCI_CONFIG, 8); /* the config mechanism #1 ports it consumes */
	aml_res_word_io(a, 0x0000, LAYOUT_PIO_PCI_CONFIG - 1);
	aml_res_word_io(a, LAYOUT_PIO_PCI_CONFIG + 8, 0xffff);
	for (unsigned i = 0; i < 2; i++)
		if (p->mmio32_end[i] > p->mmio32_start[i])
			aml_res_dword_mem(a, (uint32_t)p->mmio32_start[i],
					  (uint32_t)(p->mmio32_end[i] - 1));
	if (p->mmio64_end > p->mmio64_start)
		aml_res_qword_mem(a, p->mmio64_start, p->mmio64_end - 1);
	crs_end(a);

	/* _PRT: slot s, pin p -> GSI, with no link devices (Source = 0, Source Index = GSI). */
	aml_name(a, "_PRT");
	aml_package_begin(a, 31 * 4);
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			aml_package_begin(a, 4);
			aml_int(a, ((uint64_t)slot << 16) | 0xffff);
			aml_int(a, pin);
			aml_int(a, 0);
			aml_int(a, p->pci_intx_gsi(slot, pin + 1));
			aml_end(a);
		}
	}
	aml_end(a);

	/* The legacy devices (on a PC they sit behind the LPC/ISA bridge of this root). */
	aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_int(a, "_UID", 1);
	crs_begin(a);
	aml_res_io(a, LAYOUT_PIO_SERIAL0, 8);
	aml_res_irq(a, LAYOUT_IRQ_SERIAL0);
	crs_end(a);
	aml_end(a);

	/* The i8042: keyboard port only (no mouse is attached, so no PNP0F13). */
	aml_device_begin(a, "PS2K");
	aml_name_eisaid(a, "_HID", "PNP0303");
	crs_begin(a);
	aml_res_io(a, LAYOUT_PIO_I8042, 1);
	aml_res_io(a, LAYOUT_PIO_I8042 + 4, 1);
	aml_res_irq(a, 1);
	crs_end(a);
	aml_end(a);

	/* CMOS/RTC: no IRQ 8, vireo's RTC raises no interrupts (FADT FIX_RTC too). */
	aml_device_begin(a, "RTC");
	aml_name_eisaid(a, "_HID", "PNP0B00");
	crs_begin(a);
	aml_res_io(a, LAYOUT_PIO_CMOS, 2);
	crs_end(a);
	aml_end(a);

	/* KVM's in-kernel 8254 PIT and 8259 PICs (with the ELCR). */
	aml_device_begin(a, "TMR");
	aml_name_eisaid(a, "_HID", "PNP0100");
	crs_begin(a);
	aml_res_io(a, 0x40, 4);
	aml_res_irq(a, 0);
	crs_end(a);
	aml_end(a);

	aml_device_begin(a, "PIC");
	aml_name_eisaid(a, "_HID", "PNP0000");
	crs_begin(a);
	aml_res_io(a, 0x20, 2);
	aml_res_io(a, 0xa0, 2);
	aml_res_io(a, 0x4d0, 2);
	aml_res_irq(a, 2);
	crs_end(a);
	aml_end(a);

	/* Motherboard resources: the ACPI PM block and the ECAM (Linux accepts MMCONFIG that
	 * is reserved here). */
	aml_device_begin(a, "MBRD");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_int(a, "_UID", 0);
	crs_begin(a);
	aml_res_io(a, p->pm_base, ACPI_PM_LEN);
	aml_res_mem32_fixed(a, (uint32_t)p->ecam_gpa, p->ecam_buses * (uint32_t)MiB, true);
	crs_end(a);
	aml_end(a);

	aml_end(a); /* PCI0 */
}

static uint32_t build_dsdt(struct acpi_build *b)
{
	const struct acpi_params *p = b->p;
	struct aml *a = &b->blob;
	uint32_t off = table_begin(b, "DSDT", DSDT_REV);

	aml_scope_begin(a, "\\_SB");
	dsdt_pci_root(a, p);
	for (unsigned i = 0; i < p->nr_cpus; i++) {
		char name[8];
		snprintf(name, sizeof(name), "C%03X", i & 0xfffu);
		aml_device_begin(a, name);
		aml_name_string(a, "_HID", "ACPI0007");
		aml_name_int(a, "_UID", i); /* = the MADT's processor UID */
		aml_end(a);
	}
	aml_end(a); /* \_SB */

	/* S5 (soft off): SLP_TYP for PM1a and PM1b, then two reserved values. */
	aml_name(a, "\\_S5");
	aml_package_begin(a, 4);
	aml_int(a, ACPI_PM_SLP_TYP_S5);
	aml_int(a, ACPI_PM_SLP_TYP_S5);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_end(a);

	table_end(b, off, "DSDT");
	return off;
}

/* ---- FADT ---- */

static uint32_t build_fadt(struct acpi_build *b, uint32_t facs, uint32_t dsdt)
{
	const struct acpi_params *p = b->p;
	uint32_t off = table_begin(b, "FACP", FADT_REV);
	uint8_t f[FADT_LEN - ACPI_HDR_LEN] = {0};
#define F(o) (f + (o)-ACPI_HDR_LEN)
	F(FADT_PM_PROFILE)[0] = 0; /* unspecified */
	st(F(FADT_SCI_INT), p->sci_irq, 2);
	st(F(FADT_SMI_CMD), 0, 4); /* no SMM: always in ACPI mode (SCI_EN reads 1) */
	st(F(FADT_PM1A_EVT_BLK), p->pm_base + ACPI_PM_EVT_OFF, 4);
	st(F(FADT_PM1A_CNT_BLK), p->pm_base + ACPI_PM_CNT_OFF, 4);
	st(F(FADT_PM_TMR_BLK), p->pm_base + ACPI_PM_TMR_OFF, 4);
	F(FADT_PM1_EVT_LEN)[0] = ACPI_PM_EVT_LEN;
	F(FADT_PM1_CNT_LEN)[0] = ACPI_PM_CNT_LEN;
	F(FADT_PM_TMR_LEN)[0] = ACPI_PM_TMR_LEN;
	st(F(FADT_P_LVL2_LAT), 101, 2);	 /* > 100: no C2 */
	st(F(FADT_P_LVL3_LAT), 1001, 2); /* > 1000: no C3 */
	F(FADT_CENTURY)[0] = RTC_CENTURY_INDEX;
	st(F(FADT_IAPC_BOOT_ARCH),
	   BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042 | BOOT_ARCH_VGA_NOT_PRESENT |
	       BOOT_ARCH_PCIE_ASPM_CONTROLS,
	   2);
	st(F(FADT_FLAGS),
	   FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC |
	       FADT_F_TMR_VAL_EXT | FADT_F_RESET_REG_SUP,
	   4);
	gas_io(F(FADT_RESET_REG), 8, GAS_ACCESS_BYTE, RESET_PORT);
	F(FADT_RESET_VALUE)[0] = RESET_VALUE;
	F(FADT_MINOR_VERSION)[0] = FADT_MINOR;
	gas_io(F(FADT_X_PM1A_EVT_BLK), ACPI_PM_EVT_LEN * 8, GAS_ACCESS_WORD,
	       p->pm_base + ACPI_PM_EVT_OFF);
	gas_io(F(FADT_X_PM1A_CNT_BLK), ACPI_PM_CNT_LEN * 8, GAS_ACCESS_WORD,
	       p->pm_base + ACPI_PM_CNT_OFF);
	gas_io(F(FADT_X_PM_TMR_BLK), ACPI_PM_TMR_LEN * 8, GAS_ACCESS_DWORD,
	       p->pm_base + ACPI_PM_TMR_OFF);
	memcpy(F(FADT_HYPERVISOR_ID), "VIREO\0\0\0", 8);
#undef F
	aml_bytes(&b->blob, f, sizeof(f));
	/* The FACS through X_FIRMWARE_CTRL only (ACPI 6.0 5.2.9: FIRMWARE_CTRL is then 0, else
	 * an OS installs the FACS twice); the DSDT through both fields, equal (the tables lie
	 * below 4 GiB, and SeaBIOS reads the 32-bit one). */
	blob_pointer(b, off + FADT_DSDT, 4, dsdt);
	blob_pointer(b, off + FADT_X_FIRMWARE_CTRL, 8, facs);
	blob_pointer(b, off + FADT_X_DSDT, 8, dsdt);
	table_end(b, off, "FACP");
	return off;
}

/* ---- MADT ---- */

static void madt_iso(struct aml *a, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	uint8_t e[10] = {MADT_ISO, 10, 0 /* ISA */, irq};
	st(e + 4, gsi, 4);
	st(e + 8, flags, 2);
	aml_bytes(a, e, sizeof(e));
}

static uint32_t build_madt(struct acpi_build *b)
{
	const struct acpi_params *p = b->p;
	struct aml *a = &b->blob;
	uint32_t off = table_begin(b, "APIC", MADT_REV);
	uint8_t h[8];
	st(h, LAYOUT_LAPIC_GPA, 4);
	st(h + 4, MADT_PCAT_COMPAT, 4); /* 8259 PICs present (masked by the OS in APIC mode) */
	aml_bytes(a, h, sizeof(h));

	for (unsigned i = 0; i < p->nr_cpus; i++) {
		uint8_t e[8] = {MADT_LAPIC, 8, (uint8_t)i /* UID */, (uint8_t)i /* APIC ID */};
		st(e + 4, MADT_LAPIC_ENABLED, 4);
		aml_bytes(a, e, sizeof(e));
	}
	/* IOAPIC: ID after the CPUs' (as in the MP table), GSIs 0-23. */
	uint8_t io[12] = {MADT_IOAPIC, 12, (uint8_t)p->nr_cpus, 0};
	st(io + 4, LAYOUT_IOAPIC_GPA, 4);
	st(io + 8, 0, 4);
	aml_bytes(a, io, sizeof(io));
	/* The PC wiring: ISA IRQ 0 (the PIT) on IOAPIC pin 2 (kvm.c routes KVM GSI 0 there), and
	 * the SCI level-triggered, active high. */
	madt_iso(a, 0, 2, 0);
	madt_iso(a, p->sci_irq, p->sci_irq, MPS_INTI_POLARITY_HIGH | MPS_INTI_TRIGGER_LEVEL);
	uint8_t nmi[6] = {MADT_LAPIC_NMI, 6, MADT_ALL_PROCESSORS, 0, 0, 1 /* LINT1 */};
	aml_bytes(a, nmi, sizeof(nmi));
	table_end(b, off, "APIC");
	return off;
}

/* ---- MCFG ---- */

static uint32_t build_mcfg(struct acpi_build *b)
{
	const struct acpi_params *p = b->p;
	uint32_t off = table_begin(b, "MCFG", 1);
	uint8_t m[8 + 16] = {0}; /* reserved, then one allocation */
	st(m + 8, p->ecam_gpa, 8);
	st(m + 16, 0, 2);		      /* PCI segment group */
	m[18] = 0;			      /* start bus */
	m[19] = (uint8_t)(p->ecam_buses - 1); /* end bus */
	aml_bytes(&b->blob, m, sizeof(m));
	table_end(b, off, "MCFG");
	return off;
}

/* ---- RSDT, XSDT, RSDP ---- */

static uint32_t build_sdt(struct acpi_build *b, const char *sig, unsigned size,
			  const uint32_t *entries, unsigned n)
{
	uint32_t off = table_begin(b, sig, 1);
	uint32_t first = (uint32_t)b->blob.len;
	static const uint8_t zero[8];
	for (unsigned i = 0; i < n; i++)
		aml_bytes(&b->blob, zero, size);
	for (unsigned i = 0; i < n; i++)
		blob_pointer(b, first + i * size, (uint8_t)size, entries[i]);
	table_end(b, off, sig);
	return off;
}

static void build_rsdp(struct acpi_build *b, uint32_t rsdt, uint32_t xsdt)
{
	uint8_t *r = b->t->rsdp;
	memset(r, 0, ACPI_RSDP_LEN);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, ACPI_OEM_ID, 6);
	r[15] = 2; /* revision: ACPI 2.0+ (XSDT) */
	st(r + 16, rsdt, 4);
	st(r + 20, ACPI_RSDP_LEN, 4);
	st(r + 24, xsdt, 8);
	loader_add_pointer(b, ACPI_FILE_RSDP, 16, 4, ACPI_FILE_TABLES);
	loader_add_pointer(b, ACPI_FILE_RSDP, 24, 8, ACPI_FILE_TABLES);
}

static bool params_ok(const struct acpi_params *p)
{
	if (p->nr_cpus == 0 || p->nr_cpus > ACPI_MAX_CPUS || p->ecam_buses == 0 ||
	    p->ecam_buses > 256 || !p->pci_intx_gsi || p->sci_irq > 15)
		return false;
	if (p->ecam_gpa + (uint64_t)p->ecam_buses * MiB > LAYOUT_MMIO_HOLE_END)
		return false;
	for (unsigned i = 0; i < 2; i++)
		if (p->mmio32_end[i] > LAYOUT_MMIO_HOLE_END ||
		    p->mmio32_end[i] < p->mmio32_start[i])
			return false;
	return p->mmio64_end >= p->mmio64_start;
}

int acpi_build(const struct acpi_params *p, struct acpi_tables *t)
{
	struct acpi_build b = {.t = t, .p = p};

	memset(t, 0, sizeof(*t));
	if (!params_ok(p))
		return -EINVAL;
	aml_init(&b.blob);
	aml_init(&b.loader);

	/* The RSDP goes in the F-segment, where an OS scans for it; the rest anywhere below
	 * 4 GiB, 64-byte aligned for the FACS at its start. */
	loader_allocate(&b, ACPI_FILE_RSDP, 16, ACPI_ZONE_FSEG);
	loader_allocate(&b, ACPI_FILE_TABLES, 64, ACPI_ZONE_HIGH);

	uint32_t facs = build_facs(&b);
	uint32_t dsdt = build_dsdt(&b);
	uint32_t sdts[3];
	sdts[0] = build_fadt(&b, facs, dsdt);
	sdts[1] = build_madt(&b);
	sdts[2] = build_mcfg(&b);
	uint32_t rsdt = build_sdt(&b, "RSDT", 4, sdts, 3);
	uint32_t xsdt = build_sdt(&b, "XSDT", 8, sdts, 3);
	build_rsdp(&b, rsdt, xsdt);

	/* Checksums last, after every pointer is patched. */
	for (unsigned i = 0; i < t->nr; i++)
		if (strcmp(t->index[i].sig, "FACS") != 0)
			loader_add_checksum(&b, ACPI_FILE_TABLES, t->index[i].off + ACPI_HDR_CSUM,
					    t->index[i].off, t->index[i].len);
	loader_add_checksum(&b, ACPI_FILE_RSDP, 8, 0, 20);
	loader_add_checksum(&b, ACPI_FILE_RSDP, 32, 0, ACPI_RSDP_LEN);

	int r = aml_error(&b.blob);
	if (r == 0)
		r = aml_error(&b.loader);
	if (r == 0 && t->nr != 7) /* FACS DSDT FACP APIC MCFG RSDT XSDT */
		r = -EINVAL;
	if (r < 0) {
		aml_fini(&b.blob);
		aml_fini(&b.loader);
		memset(t, 0, sizeof(*t));
		return r;
	}
	t->tables = b.blob.buf;
	t->tables_len = (uint32_t)b.blob.len;
	t->loader = b.loader.buf;
	t->loader_len = (uint32_t)b.loader.len;
	/* Unlinked, the checksums are those of the offsets: fill them in anyway so that each
	 * table is well-formed on its own (the loader fixes them again once linked). */
	for (unsigned i = 0; i < t->nr; i++) {
		if (strcmp(t->index[i].sig, "FACS") == 0)
			continue;
		uint8_t *tb = t->tables + t->index[i].off;
		tb[ACPI_HDR_CSUM] = 0;
		tb[ACPI_HDR_CSUM] = (uint8_t)(0x100 - sum8(tb, t->index[i].len));
	}
	t->rsdp[8] = (uint8_t)(0x100 - sum8(t->rsdp, 20));
	t->rsdp[32] = (uint8_t)(0x100 - sum8(t->rsdp, ACPI_RSDP_LEN));
	return 0;
}

void acpi_tables_fini(struct acpi_tables *t)
{
	free(t->tables);
	free(t->loader);
	memset(t, 0, sizeof(*t));
}

const struct acpi_table_ref *acpi_table_find(const struct acpi_tables *t, const char *sig)
{
	for (unsigned i = 0; i < t->nr; i++)
		if (strncmp(t->index[i].sig, sig, 4) == 0)
			return &t->index[i];
	return NULL;
}

/* ---- the loader, run as firmware would ---- */

static int lfail(char *err, size_t errlen, unsigned idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int lfail(char *err, size_t errlen, unsigned idx, const char *fmt, ...)
{
	if (err && errlen) {
		int n = snprintf(err, errlen, "table-loader: command %u: ", idx);
		va_list ap;
		va_start(ap, fmt);
		if (n >= 0 && (size_t)n < errlen)
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The file named by a 56-byte, NUL-terminated field, or NULL. */
static struct acpi_loader_file *lfile(const uint8_t *field, struct acpi_loader_file *files,
				      unsigned nfiles)
{
	if (!memchr(field, 0, ACPI_LOADER_FILE_LEN))
		return NULL;
	for (unsigned i = 0; i < nfiles; i++)
		if (strcmp((const char *)field, files[i].name) == 0)
			return &files[i];
	return NULL;
}

static bool range_ok(uint64_t off, uint64_t len, uint32_t size)
{
	return off <= size && len <= size - off;
}

int acpi_loader_exec(const uint8_t *loader, size_t len, struct acpi_loader_file *files,
		     unsigned nfiles, char *err, size_t errlen)
{
	if (len % ACPI_LOADER_ENTRY_LEN)
		return lfail(err, errlen, (unsigned)(len / ACPI_LOADER_ENTRY_LEN),
			     "%zu bytes is not a whole number of %u-byte commands", len,
			     ACPI_LOADER_ENTRY_LEN);
	for (size_t i = 0; i < len / ACPI_LOADER_ENTRY_LEN; i++) {
		const uint8_t *e = loader + i * ACPI_LOADER_ENTRY_LEN;
		unsigned idx = (unsigned)i;
		uint32_t cmd = (uint32_t)ld(e, 4);
		if (cmd == ACPI_LOADER_ALLOCATE) {
			struct acpi_loader_file *f = lfile(e + 4, files, nfiles);
			uint32_t align = (uint32_t)ld(e + 60, 4);
			uint8_t zone = e[64];
			if (!f)
				return lfail(err, errlen, idx, "ALLOCATE of an unknown file");
			if (align && (!IS_POW2(align) || f->gpa % align))
				return lfail(err, errlen, idx, "%s: 0x%llx is not %u-byte aligned",
					     f->name, (unsigned long long)f->gpa, align);
			bool in_fseg = f->gpa >= 0xe0000 && f->gpa + f->len <= 0x100000;
			bool in_high = f->gpa + f->len <= LAYOUT_MMIO_HOLE_END;
			if ((zone == ACPI_ZONE_FSEG && !in_fseg) ||
			    (zone == ACPI_ZONE_HIGH && !in_high) ||
			    (zone != ACPI_ZONE_FSEG && zone != ACPI_ZONE_HIGH))
				return lfail(err, errlen, idx, "%s: 0x%llx is not in zone %u",
					     f->name, (unsigned long long)f->gpa, zone);
			f->allocated = true;
		} else if (cmd == ACPI_LOADER_ADD_POINTER) {
			struct acpi_loader_file *dst = lfile(e + 4, files, nfiles);
			struct acpi_loader_file *src = lfile(e + 60, files, nfiles);
			uint32_t off = (uint32_t)ld(e + 116, 4);
			uint8_t size = e[120];
			if (!dst || !src || !dst->allocated || !src->allocated)
				return lfail(err, errlen, idx,
					     "ADD_POINTER between unallocated files");
			if (size != 1 && size != 2 && size != 4 && size != 8)
				return lfail(err, errlen, idx, "ADD_POINTER of size %u", size);
			if (!range_ok(off, size, dst->len))
				return lfail(err, errlen, idx,
					     "ADD_POINTER at %u+%u beyond %s (%u bytes)", off, size,
					     dst->name, dst->len);
			uint64_t v = ld(dst->data + off, size);
			uint64_t sum = v + src->gpa;
			uint64_t max = size == 8 ? UINT64_MAX : (1ULL << (8 * size)) - 1;
			if (sum < v || sum > max)
				return lfail(err, errlen, idx,
					     "ADD_POINTER: %s + 0x%llx overflows %u bytes",
					     src->name, (unsigned long long)v, size);
			st(dst->data + off, sum, size);
		} else if (cmd == ACPI_LOADER_ADD_CHECKSUM) {
			struct acpi_loader_file *f = lfile(e + 4, files, nfiles);
			uint32_t off = (uint32_t)ld(e + 60, 4);
			uint32_t start = (uint32_t)ld(e + 64, 4);
			uint32_t clen = (uint32_t)ld(e + 68, 4);
			if (!f || !f->allocated)
				return lfail(err, errlen, idx,
					     "ADD_CHECKSUM of an unallocated file");
			if (!range_ok(start, clen, f->len) || off >= f->len)
				return lfail(err, errlen, idx,
					     "ADD_CHECKSUM range beyond %s (%u bytes)", f->name,
					     f->len);
			f->data[off] = (uint8_t)(f->data[off] - sum8(f->data + start, clen));
		}
		/* anything else (0: padding, WRITE_POINTER, future commands): skipped */
	}
	return 0;
}

int acpi_write(const struct acpi_tables *t, struct guest_mem *gm, uint64_t tables_gpa,
	       uint64_t rsdp_gpa, char *err, size_t errlen)
{
	uint8_t rsdp[ACPI_RSDP_LEN];
	uint8_t *tables = malloc(t->tables_len);
	if (!tables) {
		snprintf(err, errlen, "acpi: out of memory");
		return -ENOMEM;
	}
	memcpy(tables, t->tables, t->tables_len);
	memcpy(rsdp, t->rsdp, sizeof(rsdp));
	struct acpi_loader_file files[] = {
	    {ACPI_FILE_TABLES, tables, t->tables_len, tables_gpa, 0, false},
	    {ACPI_FILE_RSDP, rsdp, sizeof(rsdp), rsdp_gpa, 0, false},
	};
	int r = acpi_loader_exec(t->loader, t->loader_len, files, ARRAY_SIZE(files), err, errlen);
	if (r == 0) {
		r = gm_write(gm, tables_gpa, tables, t->tables_len);
		if (r == 0)
			r = gm_write(gm, rsdp_gpa, rsdp, sizeof(rsdp));
		if (r < 0)
			snprintf(err, errlen, "acpi: cannot write the tables at 0x%llx: %s",
				 (unsigned long long)tables_gpa, strerror(-r));
	}
	free(tables);
	return r;
}
