/* SPDX-License-Identifier: MIT */
/*
 * The x86 guest physical memory map, in one place. docs/memory-layout.md explains it.
 *
 *   0x0000_0000  real-mode IVT
 *   0x0000_0400  BIOS data area (EBDA segment at 0x40e, base memory KiB at 0x413)
 *   0x0000_0500  GDT (boot: null, code32, code64, data, 16-byte TSS), 0x0000_0540 IDT (empty)
 *   0x0000_6000  PVH hvm_start_info, 0x6040 its module list, 0x6080 its memory map
 *   0x0000_7000  boot_params (zero page); 0x8ff0 initial RSP
 *   0x0000_9000  identity page tables: PML4, PDPT, 4 PDs (2 MiB pages, first 4 GiB)
 *   0x0002_0000  kernel command line (up to 64 KiB)
 *   0x0009_fc00  EBDA: MP table
 *   0x000a_0000 - 0x000f_ffff  legacy hole (VGA, option ROMs, BIOS); no RAM in e820
 *                (0x9fc00-0x9ffff and 0xe0000-0xfffff reserved, the rest a gap)
 *   0x000e_0000  ACPI RSDP (where an OS scans for it), 0xe0040 the other ACPI tables
 *   0x0010_0000  kernel (bzImage protected-mode code / ELF segments at their p_paddr)
 *   ... RAM up to min(mem, 3 GiB)
 *   0xc000_0000 - 0xffff_ffff  32-bit MMIO hole: PCI MMIO32 window, ECAM, IOAPIC, LAPIC, BIOS ROM
 *   0x1_0000_0000  RAM above 4 GiB (the part of guest memory over 3 GiB)
 *   MMIO64 window after the top of RAM, 1 GiB aligned
 */
#ifndef VIREO_ARCH_X86_LAYOUT_H
#define VIREO_ARCH_X86_LAYOUT_H

#include <stdint.h>

#define LAYOUT_BDA_EBDA_SEG_GPA 0x40eULL /* u16: EBDA segment (0x9fc0) */
#define LAYOUT_BDA_BASE_MEM_GPA 0x413ULL /* u16: KiB of base memory below the EBDA (639) */
#define LAYOUT_GDT_GPA 0x500ULL
#define LAYOUT_GDT_SIZE 0x30ULL /* 6 slots: null, code32, code64, data, TSS (2 slots) */
#define LAYOUT_IDT_GPA 0x540ULL
/* Boot GDT selectors. 0x10/0x18 are what the Linux 64-bit boot protocol asks for
 * (__BOOT_CS/__BOOT_DS); 0x08 is a flat 32-bit code segment for the PVH entry. */
#define LAYOUT_SEL_CODE32 0x08
#define LAYOUT_SEL_CODE64 0x10
#define LAYOUT_SEL_DATA 0x18
#define LAYOUT_SEL_TSS 0x20
#define LAYOUT_PVH_INFO_GPA 0x6000ULL
#define LAYOUT_PVH_MODLIST_GPA 0x6040ULL
#define LAYOUT_PVH_MEMMAP_GPA 0x6080ULL
#define LAYOUT_PVH_MEMMAP_MAX ((LAYOUT_ZERO_PAGE_GPA - LAYOUT_PVH_MEMMAP_GPA) / 24)
#define LAYOUT_ZERO_PAGE_GPA 0x7000ULL
#define LAYOUT_BOOT_STACK_GPA 0x8ff0ULL
#define LAYOUT_PML4_GPA 0x9000ULL
#define LAYOUT_PDPT_GPA 0xa000ULL
#define LAYOUT_PD_GPA 0xb000ULL /* 4 pages: 0xb000..0xefff */
#define LAYOUT_CMDLINE_GPA 0x20000ULL
#define LAYOUT_CMDLINE_MAX 0x10000ULL
#define LAYOUT_EBDA_GPA 0x9fc00ULL
#define LAYOUT_EBDA_SIZE 0x400ULL
#define LAYOUT_MPTABLE_GPA LAYOUT_EBDA_GPA
#define LAYOUT_BIOS_AREA_GPA 0xe0000ULL /* e820-reserved like a PC's BIOS area (E and F segments) */
/* Direct boot: the ACPI tables (arch/x86/acpi.h) in the BIOS area, the RSDP first (16-byte
 * aligned, inside the 0xE0000-0xFFFFF range Linux scans), the tables 64-byte aligned after it. */
#define LAYOUT_ACPI_RSDP_GPA 0xe0000ULL
#define LAYOUT_ACPI_TABLES_GPA 0xe0040ULL
#define LAYOUT_ACPI_TABLES_MAX (0x100000ULL - LAYOUT_ACPI_TABLES_GPA)
#define LAYOUT_LOW_RAM_END 0x9fc00ULL /* end of usable low RAM (EBDA above) */
#define LAYOUT_LEGACY_HOLE_START 0xa0000ULL
#define LAYOUT_LEGACY_HOLE_END 0x100000ULL
#define LAYOUT_HIGH_RAM_START 0x100000ULL
#define LAYOUT_KERNEL_GPA 0x100000ULL

#define LAYOUT_MMIO_HOLE_START 0xc0000000ULL /* RAM below 4 GiB ends here at most */
#define LAYOUT_MMIO_HOLE_END 0x100000000ULL
#define LAYOUT_PCI_MMIO32_START 0xc0000000ULL
#define LAYOUT_PCI_MMIO32_SIZE 0x20000000ULL /* 512 MiB */
/* Firmware (SeaBIOS) places BARs top-down below the IOAPIC; the host bridge's ACPI _CRS
 * declares this second 32-bit window too (it lies between the ECAM and the IOAPIC). */
#define LAYOUT_PCI_MMIO32_HIGH_START 0xf0000000ULL
#define LAYOUT_PCI_MMIO32_HIGH_END LAYOUT_IOAPIC_GPA
/* 64-bit BARs: after the top of RAM, 1 GiB aligned, 64 GiB long. */
#define LAYOUT_PCI_MMIO64_SIZE (64ULL << 30)
#define LAYOUT_ECAM_GPA 0xe0000000ULL
#define LAYOUT_ECAM_SIZE 0x10000000ULL /* 256 buses */
#define LAYOUT_IOAPIC_GPA 0xfec00000ULL
#define LAYOUT_LAPIC_GPA 0xfee00000ULL
#define LAYOUT_IDENTITY_MAP_GPA 0xfeffc000ULL /* KVM_SET_IDENTITY_MAP_ADDR, 1 page */
#define LAYOUT_TSS_GPA 0xfeffd000ULL          /* KVM_SET_TSS_ADDR, 3 pages */
#define LAYOUT_BIOS_END 0x100000000ULL        /* firmware ROM ends at 4 GiB */
#define LAYOUT_RAM_ABOVE_4G_START 0x100000000ULL

/* RAM placement for a guest of `mem` bytes: the part below the MMIO hole starts at GPA 0,
 * the rest starts at 4 GiB. vm.c maps RAM this way and the e820 map describes it. */
static inline uint64_t layout_ram_below_4g(uint64_t mem)
{
	return mem < LAYOUT_MMIO_HOLE_START ? mem : LAYOUT_MMIO_HOLE_START;
}
static inline uint64_t layout_ram_above_4g(uint64_t mem)
{
	return mem > LAYOUT_MMIO_HOLE_START ? mem - LAYOUT_MMIO_HOLE_START : 0;
}

static inline uint64_t layout_pci_mmio64_start(uint64_t mem)
{
	uint64_t top = LAYOUT_RAM_ABOVE_4G_START + layout_ram_above_4g(mem);
	return (top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
}

#define LAYOUT_IRQ_SERIAL0 4
#define LAYOUT_IRQ_SCI 9 /* ACPI SCI: ISA IRQ 9, level-triggered, active high */
#define LAYOUT_PIO_SERIAL0 0x3f8
#define LAYOUT_PIO_I8042 0x60
#define LAYOUT_PIO_POST 0x80
#define LAYOUT_PIO_CMOS 0x70
#define LAYOUT_PIO_RESET_CF9 0xcf9
#define LAYOUT_PIO_FW_CFG 0x510
#define LAYOUT_PIO_FW_CFG_DMA 0x514
#define LAYOUT_PIO_DEBUGCON 0x402
#define LAYOUT_PIO_PCI_CONFIG 0xcf8
#define LAYOUT_PIO_ACPI_PM 0x600 /* PM1a event (4), PM1a control (2), gap (2), PM timer (4) */

#endif
