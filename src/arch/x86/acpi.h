/* SPDX-License-Identifier: MIT */
/*
 * The ACPI tables vireo gives a guest (ACPI 6.0 layout), built in C at start: RSDP (revision
 * 2), RSDT and XSDT, FADT (a PC with legacy devices, not hardware-reduced), FACS, DSDT (PCI
 * root bridge with _CRS and _PRT, COM1, the PS/2 keyboard controller, RTC, PIT, PIC,
 * motherboard resources, one processor device per vCPU, _S5), MADT (a Local APIC per vCPU,
 * the IOAPIC, IRQ0 -> GSI 2 and the SCI overrides, LAPIC NMI on LINT1) and MCFG (the ECAM).
 * docs/acpi.md describes every table and why.
 *
 * They come out as QEMU's fw_cfg files (docs/specs/fw_cfg.rst, "etc/table-loader"):
 *   - "etc/acpi/tables": every table but the RSDP, position-independent: each pointer field
 *     holds the offset of its target within this blob;
 *   - "etc/acpi/rsdp": the RSDP, its XSDT/RSDT fields likewise offsets into the tables blob;
 *   - "etc/table-loader": the commands firmware runs to place them (ALLOCATE the tables in high
 *     memory and the RSDP in the F-segment, ADD_POINTER to turn offsets into addresses,
 *     ADD_CHECKSUM to fix every checksum afterwards).
 * SeaBIOS runs the loader itself (firmware boot). For direct boot vireo runs the very same
 * commands (acpi_loader_exec) with the files placed at LAYOUT_ACPI_*: both kinds of guest get
 * the same bytes up to the addresses.
 */
#ifndef VIREO_ARCH_X86_ACPI_H
#define VIREO_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>
#include "base/util.h"
#include "mem/guest_mem.h"

#define ACPI_FILE_TABLES "etc/acpi/tables"
#define ACPI_FILE_RSDP "etc/acpi/rsdp"
#define ACPI_FILE_LOADER "etc/table-loader"
#define ACPI_RSDP_LEN 36
#define ACPI_MAX_CPUS 254 /* xAPIC IDs 0..253; the IOAPIC takes ID nr_cpus */
#define ACPI_MAX_TABLES 8

/* table-loader commands (128 bytes each, little-endian) */
#define ACPI_LOADER_ENTRY_LEN 128
#define ACPI_LOADER_FILE_LEN 56 /* FW_CFG_MAX_FILE_PATH */
enum acpi_loader_cmd {
	ACPI_LOADER_ALLOCATE = 1,
	ACPI_LOADER_ADD_POINTER = 2,
	ACPI_LOADER_ADD_CHECKSUM = 3,
};
enum acpi_loader_zone { ACPI_ZONE_HIGH = 1, ACPI_ZONE_FSEG = 2 };

/* What the tables describe. All addresses are guest physical. */
struct acpi_params {
	unsigned nr_cpus; /* 1..ACPI_MAX_CPUS; APIC ID = processor UID = vCPU index */
	uint64_t ecam_gpa;
	unsigned ecam_buses; /* 1..256, from bus 0 */
	/* PCI host bridge memory windows ([start, end), end exclusive); a zero size is omitted */
	uint64_t mmio32_start[2], mmio32_end[2];
	uint64_t mmio64_start, mmio64_end;
	uint16_t pm_base; /* the ACPI PM register block (devices/acpi_pm.h) */
	uint8_t sci_irq;
	/* INTx routing for _PRT: the GSI of slot (1..31), pin (1 = INTA .. 4 = INTD) */
	uint32_t (*pci_intx_gsi)(unsigned slot, unsigned pin);
};

struct acpi_table_ref {
	char sig[5]; /* "DSDT", ... NUL-terminated */
	uint32_t off, len;
};

struct acpi_tables {
	uint8_t *tables; /* "etc/acpi/tables" */
	uint32_t tables_len;
	uint8_t rsdp[ACPI_RSDP_LEN]; /* "etc/acpi/rsdp" */
	uint8_t *loader;	     /* "etc/table-loader" */
	uint32_t loader_len;
	struct acpi_table_ref index[ACPI_MAX_TABLES]; /* where each table is in `tables` */
	unsigned nr;
};

/* Build everything. Returns 0, -EINVAL (bad params) or -ENOMEM. acpi_tables_fini frees. */
int acpi_build(const struct acpi_params *p, struct acpi_tables *t) WUR;
void acpi_tables_fini(struct acpi_tables *t);
/* The table with this signature in t->index, or NULL. */
const struct acpi_table_ref *acpi_table_find(const struct acpi_tables *t, const char *sig);

/* A file the loader works on, with the address it was "allocated" at. */
struct acpi_loader_file {
	const char *name;
	uint8_t *data;
	uint32_t len;
	uint64_t gpa; /* where it will live in the guest */
	uint8_t zone; /* ACPI_ZONE_*: where the address must be (checked) */
	bool allocated;
};

/*
 * Run table-loader commands as firmware does, over files already given their addresses:
 * ALLOCATE checks that the file exists, that its address has the requested alignment and is
 * in the requested zone (FSEG: 0xE0000-0xFFFFF; HIGH: below 4 GiB), and marks it allocated;
 * ADD_POINTER adds the source file's address to the little-endian 1/2/4/8-byte field at offset
 * in the destination file (wrap-around of the field is an error); ADD_CHECKSUM sets the byte at
 * offset so that the range [start, start + length) sums to zero. Unknown commands (and 0,
 * padding) are skipped, as SeaBIOS does. Every range is checked; on error a one-line reason goes
 * to err and -EINVAL is returned (the files may be half-patched).
 */
int acpi_loader_exec(const uint8_t *loader, size_t len, struct acpi_loader_file *files,
		     unsigned nfiles, char *err, size_t errlen) WUR;

/* Direct boot: link copies of the tables at tables_gpa and the RSDP at rsdp_gpa (through
 * acpi_loader_exec) and write them into guest memory. One-line reason in err. */
int acpi_write(const struct acpi_tables *t, struct guest_mem *gm, uint64_t tables_gpa,
	       uint64_t rsdp_gpa, char *err, size_t errlen) WUR;

#endif
