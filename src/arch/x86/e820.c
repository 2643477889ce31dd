/* SPDX-License-Identifier: MIT */
/*
 * The guest's e820 map, derived from layout.h and the RAM split. Usable RAM is everything the
 * VM maps as RAM except [LAYOUT_LOW_RAM_END, 1 MiB): the EBDA (MP table) and the BIOS segment
 * are reserved, the VGA/option-ROM window 0xa0000-0xeffff is a gap, the 32-bit MMIO hole is
 * not RAM (ECAM and KVM's identity-map/TSS pages in it are reserved so that nobody puts a BAR
 * there), and RAM over 3 GiB continues at 4 GiB.
 */
#include <errno.h>
#include <asm/e820.h>
#include "arch/x86/arch.h"
#include "arch/x86/layout.h"

static int e820_add(struct boot_e820_entry *out, unsigned max, unsigned *n, uint64_t addr,
		    uint64_t size, uint32_t type)
{
	if (size == 0)
		return 0;
	if (*n >= max)
		return -ENOSPC;
	out[*n].addr = addr;
	out[*n].size = size;
	out[*n].type = type;
	(*n)++;
	return 0;
}

int x86_e820_build(const struct boot_mem_info *mi, struct boot_e820_entry *out, unsigned max)
{
	uint64_t below = MIN(mi->ram_below_4g, LAYOUT_MMIO_HOLE_START);
	unsigned n = 0;
	int r = 0;

	r |= e820_add(out, max, &n, 0, MIN(below, LAYOUT_LOW_RAM_END), E820_RAM);
	if (below > LAYOUT_LOW_RAM_END)
		r |= e820_add(out, max, &n, LAYOUT_EBDA_GPA,
			      MIN(below, LAYOUT_LEGACY_HOLE_START) - LAYOUT_EBDA_GPA, E820_RESERVED);
	if (below > LAYOUT_BIOS_AREA_GPA)
		r |= e820_add(out, max, &n, LAYOUT_BIOS_AREA_GPA,
			      MIN(below, LAYOUT_LEGACY_HOLE_END) - LAYOUT_BIOS_AREA_GPA,
			      E820_RESERVED);
	if (below > LAYOUT_HIGH_RAM_START)
		r |= e820_add(out, max, &n, LAYOUT_HIGH_RAM_START, below - LAYOUT_HIGH_RAM_START,
			      E820_RAM);
	r |= e820_add(out, max, &n, LAYOUT_ECAM_GPA, LAYOUT_ECAM_SIZE, E820_RESERVED);
	r |= e820_add(out, max, &n, LAYOUT_IDENTITY_MAP_GPA,
		      LAYOUT_TSS_GPA + 3 * 4096 - LAYOUT_IDENTITY_MAP_GPA, E820_RESERVED);
	r |= e820_add(out, max, &n, LAYOUT_RAM_ABOVE_4G_START, mi->ram_above_4g, E820_RAM);
	return r ? -ENOSPC : (int)n;
}
