/* SPDX-License-Identifier: MIT */
/*
 * x86-64 ELF kernels: PT_LOAD segments go to their physical addresses (p_paddr). A
 * XEN_ELFNOTE_PHYS32_ENTRY note (PVH, Xen docs/misc/pvh.pandoc) selects the PVH entry; without
 * it the image is entered at e_entry in 64-bit mode like a bzImage's 64-bit entry.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>
#include "arch/x86/boot_internal.h"
#include "arch/x86/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

bool x86_elf_probe(const uint8_t *buf, size_t len)
{
	return len >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

/* Look for the PVH entry note in one PT_NOTE segment. Returns 1 found, 0 not, -EINVAL bad. */
static int elf_find_pvh_note(const uint8_t *p, uint64_t len, uint64_t *entry)
{
	uint64_t off = 0;
	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		uint64_t name_len = ALIGN_UP((uint64_t)nh.n_namesz, 4);
		uint64_t desc_len = ALIGN_UP((uint64_t)nh.n_descsz, 4);
		if (name_len > len - off || desc_len > len - off - name_len)
			return -EINVAL;
		const uint8_t *name = p + off;
		const uint8_t *desc = p + off + name_len;
		off += name_len + desc_len;
		if (nh.n_type != XEN_ELFNOTE_PHYS32_ENTRY || nh.n_namesz != 4 ||
		    memcmp(name, "Xen", 4) != 0)
			continue;
		if (nh.n_descsz == 4)
			*entry = ld32(desc);
		else if (nh.n_descsz == 8)
			*entry = ld64(desc);
		else
			return -EINVAL;
		return 1;
	}
	return 0;
}

/* Low-memory ranges the loader writes (layout.h); ELF segments must stay clear of them. */
static const struct {
	uint64_t start, end;
} boot_areas[] = {
	{0, 0x1000}, /* IVT, BIOS data area, GDT, IDT */
	{LAYOUT_PVH_INFO_GPA, LAYOUT_ZERO_PAGE_GPA + 0x1000},
	{LAYOUT_PML4_GPA, LAYOUT_PD_GPA + 4 * 0x1000},
	{LAYOUT_CMDLINE_GPA, LAYOUT_CMDLINE_GPA + LAYOUT_CMDLINE_MAX},
};

static bool elf_in_ram(uint64_t gpa, uint64_t len, uint64_t below, uint64_t above)
{
	uint64_t end = gpa + len;
	if (end < gpa)
		return false;
	if (end <= MIN(below, LAYOUT_LOW_RAM_END)) /* base memory below the EBDA */
		return true;
	if (gpa >= LAYOUT_HIGH_RAM_START && end <= below)
		return true;
	return above && gpa >= LAYOUT_RAM_ABOVE_4G_START && end <= LAYOUT_RAM_ABOVE_4G_START + above;
}

static int elf_boot_area_overlap(uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < ARRAY_SIZE(boot_areas); i++)
		if (gpa < boot_areas[i].end && gpa + len > boot_areas[i].start)
			return (int)i;
	return -1;
}

/* The physical address for a (possibly virtual) entry point, or UINT64_MAX. */
static uint64_t elf_entry_gpa(const struct x86_boot_plan *plan, const Elf64_Phdr *ph,
			      unsigned phnum, uint64_t entry)
{
	for (unsigned i = 0; i < plan->nr_segs; i++)
		if (entry >= plan->segs[i].gpa && entry - plan->segs[i].gpa < plan->segs[i].memsz)
			return entry;
	for (unsigned i = 0; i < phnum; i++)
		if (ph[i].p_type == PT_LOAD && entry >= ph[i].p_vaddr &&
		    entry - ph[i].p_vaddr < ph[i].p_memsz)
			return entry - ph[i].p_vaddr + ph[i].p_paddr;
	return UINT64_MAX;
}

int x86_elf_parse(struct x86_boot_plan *plan, const char *name, uint64_t below, uint64_t above,
		  char *err, size_t errlen)
{
	const uint8_t *buf = plan->kernel;
	size_t len = plan->kernel_len;
	Elf64_Ehdr eh;

	if (len < EI_NIDENT)
		return x86_boot_fail(err, errlen, -EINVAL, "kernel '%s': truncated ELF header",
				     name);
	if (buf[EI_CLASS] != ELFCLASS64)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': ELF class %u is not ELF64; need an x86-64 ELF",
				     name, buf[EI_CLASS]);
	if (buf[EI_DATA] != ELFDATA2LSB)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': big-endian ELF; need an x86-64 ELF", name);
	if (len < sizeof(eh))
		return x86_boot_fail(err, errlen, -EINVAL, "kernel '%s': truncated ELF header",
				     name);
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_machine != EM_X86_64)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': ELF for machine %u; need x86-64 (%u)", name,
				     eh.e_machine, EM_X86_64);
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': ELF type %u is not an executable", name,
				     eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': ELF has no usable program headers", name);
	if (eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': ELF program headers beyond the end of the file (truncated?)",
				     name);

	Elf64_Phdr ph[64];
	unsigned phnum = eh.e_phnum;
	if (phnum > ARRAY_SIZE(ph))
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': ELF has %u program headers (at most %zu)", name,
				     phnum, ARRAY_SIZE(ph));
	memcpy(ph, buf + eh.e_phoff, phnum * sizeof(Elf64_Phdr));

	bool pvh = false;
	uint64_t pvh_entry = 0;
	plan->nr_segs = 0;
	plan->kernel_end = LAYOUT_KERNEL_GPA;
	for (unsigned i = 0; i < phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD && p->p_type != PT_NOTE)
			continue;
		if (p->p_offset > len || p->p_filesz > len - p->p_offset)
			return x86_boot_fail(err, errlen, -EINVAL,
					     "kernel '%s': ELF segment %u extends beyond the end of the file (truncated?)",
					     name, i);
		if (p->p_type == PT_NOTE) {
			if (pvh)
				continue;
			int r = elf_find_pvh_note(buf + p->p_offset, p->p_filesz, &pvh_entry);
			if (r < 0)
				return x86_boot_fail(err, errlen, -EINVAL,
						     "kernel '%s': malformed ELF note in segment %u",
						     name, i);
			pvh = r > 0;
			continue;
		}
		if (p->p_memsz == 0)
			continue;
		if (p->p_filesz > p->p_memsz)
			return x86_boot_fail(err, errlen, -EINVAL,
					     "kernel '%s': ELF segment %u has filesz > memsz", name,
					     i);
		if (!elf_in_ram(p->p_paddr, p->p_memsz, below, above))
			return x86_boot_fail(err, errlen, -ENOSPC,
					     "kernel '%s': ELF segment %u at 0x%llx-0x%llx does not fit in guest RAM (0-0x9fc00, 1 MiB-%llu MiB%s)",
					     name, i, (unsigned long long)p->p_paddr,
					     (unsigned long long)(p->p_paddr + p->p_memsz),
					     (unsigned long long)(below / MiB),
					     above ? ", above 4 GiB" : "");
		int ov = elf_boot_area_overlap(p->p_paddr, p->p_memsz);
		if (ov >= 0)
			return x86_boot_fail(err, errlen, -EINVAL,
					     "kernel '%s': ELF segment %u at 0x%llx-0x%llx overlaps the boot structures at 0x%llx-0x%llx (docs/memory-layout.md)",
					     name, i, (unsigned long long)p->p_paddr,
					     (unsigned long long)(p->p_paddr + p->p_memsz),
					     (unsigned long long)boot_areas[ov].start,
					     (unsigned long long)boot_areas[ov].end);
		if (plan->nr_segs == X86_ELF_MAX_SEGS)
			return x86_boot_fail(err, errlen, -EINVAL,
					     "kernel '%s': more than %d loadable ELF segments", name,
					     X86_ELF_MAX_SEGS);
		plan->segs[plan->nr_segs++] = (struct x86_elf_seg){
			.file_off = p->p_offset,
			.filesz = p->p_filesz,
			.gpa = p->p_paddr,
			.memsz = p->p_memsz,
		};
		if (p->p_paddr + p->p_memsz <= below)
			plan->kernel_end = MAX(plan->kernel_end, p->p_paddr + p->p_memsz);
	}
	if (plan->nr_segs == 0)
		return x86_boot_fail(err, errlen, -EINVAL, "kernel '%s': ELF has no loadable segments",
				     name);

	uint64_t entry = elf_entry_gpa(plan, ph, phnum, pvh ? pvh_entry : eh.e_entry);
	if (entry == UINT64_MAX)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': %s entry point 0x%llx is outside every loadable segment",
				     name, pvh ? "PVH" : "ELF",
				     (unsigned long long)(pvh ? pvh_entry : eh.e_entry));
	if (entry >= LAYOUT_MMIO_HOLE_END)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': entry point 0x%llx is above 4 GiB", name,
				     (unsigned long long)entry);

	plan->image = X86_IMAGE_ELF;
	plan->kind = pvh ? BOOT_PVH : BOOT_ELF64;
	plan->entry = entry;
	plan->cmdline_max = X86_ELF_CMDLINE_MAX;
	plan->initrd_limit = below;
	return 0;
}

int x86_elf_load(const struct x86_boot_plan *plan, struct guest_mem *gm)
{
	static const uint8_t zeros[4096];

	for (unsigned i = 0; i < plan->nr_segs; i++) {
		const struct x86_elf_seg *s = &plan->segs[i];
		int r = gm_write(gm, s->gpa, plan->kernel + s->file_off, s->filesz);
		if (r < 0)
			return r;
		for (uint64_t off = s->filesz; off < s->memsz;) {
			uint64_t n = MIN(s->memsz - off, (uint64_t)sizeof(zeros));
			r = gm_write(gm, s->gpa + off, zeros, n);
			if (r < 0)
				return r;
			off += n;
		}
	}
	return 0;
}
