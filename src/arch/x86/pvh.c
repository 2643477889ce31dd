/* SPDX-License-Identifier: MIT */
/*
 * The PVH start of day structure (Xen public arch-x86/hvm/start_info.h, version 1): magic,
 * command line, one module (the initrd), the ACPI RSDP and the memory map with e820 types.
 */
#include <errno.h>
#include <string.h>
#include "arch/x86/boot_internal.h"
#include "arch/x86/layout.h"
#include "arch/x86/pvh.h"

int x86_pvh_write(struct guest_mem *gm, const struct boot_e820_entry *e820, unsigned nr_e820,
		  uint64_t cmdline_gpa, uint64_t initrd_gpa, uint64_t initrd_size, uint64_t rsdp_gpa)
{
	struct hvm_start_info si = {
		.magic = XEN_HVM_START_MAGIC_VALUE,
		.version = 1,
		.cmdline_paddr = cmdline_gpa,
		.rsdp_paddr = rsdp_gpa,
		.memmap_paddr = LAYOUT_PVH_MEMMAP_GPA,
		.memmap_entries = nr_e820,
	};
	int r;

	if (nr_e820 > LAYOUT_PVH_MEMMAP_MAX)
		return -ENOSPC;
	if (initrd_size) {
		struct hvm_modlist_entry mod = {.paddr = initrd_gpa, .size = initrd_size};
		si.nr_modules = 1;
		si.modlist_paddr = LAYOUT_PVH_MODLIST_GPA;
		r = gm_write(gm, LAYOUT_PVH_MODLIST_GPA, &mod, sizeof(mod));
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < nr_e820; i++) {
		struct hvm_memmap_table_entry m = {
			.addr = e820[i].addr,
			.size = e820[i].size,
			.type = e820[i].type,
		};
		r = gm_write(gm, LAYOUT_PVH_MEMMAP_GPA + i * sizeof(m), &m, sizeof(m));
		if (r < 0)
			return r;
	}
	return gm_write(gm, LAYOUT_PVH_INFO_GPA, &si, sizeof(si));
}
