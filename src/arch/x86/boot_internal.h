/* SPDX-License-Identifier: MIT */
/* Shared between the x86 boot files only (not part of the arch interface). */
#ifndef VIREO_ARCH_X86_BOOT_INTERNAL_H
#define VIREO_ARCH_X86_BOOT_INTERNAL_H

#include <stdarg.h>
#include "arch/x86/arch.h"

/* snprintf into err (if any) and return `ret`; keeps error paths one line each. */
int x86_boot_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Image probes on the first bytes of a file. */
bool x86_bzimage_probe(const uint8_t *buf, size_t len);
bool x86_elf_probe(const uint8_t *buf, size_t len);

/* Parse and validate plan->kernel; fill the image-specific plan fields, kind, cmdline_max,
 * initrd_limit and kernel_end. `name` is used in error lines. */
int x86_bzimage_parse(struct x86_boot_plan *plan, const char *name, uint64_t ram_below_4g,
		      char *err, size_t errlen) WUR;
int x86_elf_parse(struct x86_boot_plan *plan, const char *name, uint64_t ram_below_4g,
		  uint64_t ram_above_4g, char *err, size_t errlen) WUR;

/* Copy the kernel image into guest memory. */
int x86_bzimage_load(const struct x86_boot_plan *plan, struct guest_mem *gm) WUR;
int x86_elf_load(const struct x86_boot_plan *plan, struct guest_mem *gm) WUR;

/* Fill the setup header part of boot_params (bzImage: copied from the file; ELF: a minimal one). */
void x86_bzimage_fill_header(const struct x86_boot_plan *plan, struct boot_params *bp);

/* The boot GDT (+ empty IDT) and the identity page tables (2 MiB pages, first 4 GiB). */
int x86_boot_gdt_write(struct guest_mem *gm) WUR;
int x86_boot_pagetables_write(struct guest_mem *gm) WUR;

/* PVH hvm_start_info + module list + memory map at the LAYOUT_PVH_* addresses; rsdp_gpa 0:
 * no ACPI. */
int x86_pvh_write(struct guest_mem *gm, const struct boot_e820_entry *e820, unsigned nr_e820,
		  uint64_t cmdline_gpa, uint64_t initrd_gpa, uint64_t initrd_size,
		  uint64_t rsdp_gpa) WUR;

/* The segment/control registers of an entry kind (fields other than those left untouched). */
void x86_sregs_for_entry(enum boot_kind kind, struct kvm_sregs *s);

#endif
