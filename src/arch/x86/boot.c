/* SPDX-License-Identifier: MIT */
/*
 * Direct kernel boot: validation before the VM exists (x86_boot_prepare) and writing the
 * kernel, initrd, command line and boot structures into guest memory (x86_boot_load).
 * The image formats live in bzimage.c and elf.c; the structures in e820.c, pvh.c, mptable.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "arch/x86/boot_internal.h"
#include "arch/x86/layout.h"

#define KERNEL_FILE_MAX (1ULL * GiB)

_Static_assert(sizeof(struct boot_params) == 4096, "boot_params is one page");

/* Boot GDT descriptors: flat 4 GiB segments, DPL 0. */
#define GDT_CODE32 0x00cf9b000000ffffULL /* G, D, P, S, type 0xb exec/read/accessed */
#define GDT_CODE64 0x00af9b000000ffffULL /* G, L, P, S, type 0xb */
#define GDT_DATA 0x00cf93000000ffffULL   /* G, B, P, S, type 0x3 read/write/accessed */
#define GDT_TSS_LO 0x00008b0000000067ULL /* P, type 0xb busy TSS, base 0, limit 0x67 */
#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

int x86_boot_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

int x86_boot_gdt_write(struct guest_mem *gm)
{
	uint64_t gdt[LAYOUT_GDT_SIZE / 8] = {0};
	uint64_t idt[2] = {0};

	gdt[LAYOUT_SEL_CODE32 / 8] = GDT_CODE32;
	gdt[LAYOUT_SEL_CODE64 / 8] = GDT_CODE64;
	gdt[LAYOUT_SEL_DATA / 8] = GDT_DATA;
	gdt[LAYOUT_SEL_TSS / 8] = GDT_TSS_LO;
	int r = gm_write(gm, LAYOUT_GDT_GPA, gdt, sizeof(gdt));
	return r < 0 ? r : gm_write(gm, LAYOUT_IDT_GPA, idt, sizeof(idt));
}

int x86_boot_pagetables_write(struct guest_mem *gm)
{
	uint64_t pml4[512] = {0}, pdpt[512] = {0}, pd[512];
	int r;

	pml4[0] = LAYOUT_PDPT_GPA | PTE_P | PTE_RW;
	for (unsigned i = 0; i < 4; i++) {
		pdpt[i] = (LAYOUT_PD_GPA + i * 4096ULL) | PTE_P | PTE_RW;
		for (unsigned j = 0; j < 512; j++)
			pd[j] = ((uint64_t)i * GiB + (uint64_t)j * 2 * MiB) | PTE_P | PTE_RW | PTE_PS;
		r = gm_write(gm, LAYOUT_PD_GPA + i * 4096ULL, pd, sizeof(pd));
		if (r < 0)
			return r;
	}
	r = gm_write(gm, LAYOUT_PDPT_GPA, pdpt, sizeof(pdpt));
	return r < 0 ? r : gm_write(gm, LAYOUT_PML4_GPA, pml4, sizeof(pml4));
}

int x86_initrd_place(const struct x86_boot_plan *plan, uint64_t ram_below_4g, uint64_t *gpa)
{
	uint64_t top = MIN(plan->initrd_limit, ram_below_4g);

	*gpa = 0;
	if (!plan->initrd_size)
		return 0;
	if (plan->initrd_size > top)
		return -ENOSPC;
	uint64_t addr = ALIGN_DOWN(top - plan->initrd_size, 4096ULL);
	if (addr < plan->kernel_end)
		return -ENOSPC;
	*gpa = addr;
	return 0;
}

static int prepare_initrd(struct x86_boot_plan *plan, const char *path, uint64_t below,
			  char *err, size_t errlen)
{
	struct stat st;
	uint64_t gpa;

	plan->initrd_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (plan->initrd_fd < 0)
		return x86_boot_fail(err, errlen, -errno, "initrd '%s': %s", path, strerror(errno));
	if (fstat(plan->initrd_fd, &st) < 0)
		return x86_boot_fail(err, errlen, -errno, "initrd '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return x86_boot_fail(err, errlen, -EINVAL, "initrd '%s': not a regular file", path);
	if (st.st_size == 0)
		return x86_boot_fail(err, errlen, -EINVAL, "initrd '%s': file is empty", path);
	plan->initrd_size = (uint64_t)st.st_size;
	if (x86_initrd_place(plan, below, &gpa) < 0)
		return x86_boot_fail(err, errlen, -ENOSPC,
				     "initrd '%s' (%llu KiB) does not fit in RAM between the kernel (up to 0x%llx) and 0x%llx",
				     path, (unsigned long long)(plan->initrd_size / KiB),
				     (unsigned long long)plan->kernel_end,
				     (unsigned long long)MIN(plan->initrd_limit, below));
	return 0;
}

static int prepare(const char *kernel, const char *initrd, const char *cmdline, uint64_t mem_size,
		   struct x86_boot_plan *plan, char *err, size_t errlen)
{
	uint64_t below = layout_ram_below_4g(mem_size), above = layout_ram_above_4g(mem_size);
	int r;

	memset(plan, 0, sizeof(*plan));
	plan->initrd_fd = -1;
	plan->mem_size = mem_size;
	if (!kernel || !*kernel)
		return x86_boot_fail(err, errlen, -EINVAL, "no kernel given");
	r = read_file(kernel, KERNEL_FILE_MAX, &plan->kernel, &plan->kernel_len);
	if (r == -EFBIG)
		return x86_boot_fail(err, errlen, r, "kernel '%s': larger than %llu MiB", kernel,
				     KERNEL_FILE_MAX / MiB);
	if (r == -EINVAL)
		return x86_boot_fail(err, errlen, r, "kernel '%s': not a regular file", kernel);
	if (r < 0)
		return x86_boot_fail(err, errlen, r, "kernel '%s': %s", kernel, strerror(-r));

	if (x86_bzimage_probe(plan->kernel, plan->kernel_len))
		r = x86_bzimage_parse(plan, kernel, below, err, errlen);
	else if (x86_elf_probe(plan->kernel, plan->kernel_len))
		r = x86_elf_parse(plan, kernel, below, above, err, errlen);
	else
		r = x86_boot_fail(err, errlen, -EINVAL,
				  "kernel '%s': not a kernel (neither a bzImage with a 'HdrS' setup header nor an ELF file)",
				  kernel);
	if (r < 0)
		return r;

	if (!cmdline)
		cmdline = "";
	plan->cmdline_len = strlen(cmdline);
	if (plan->cmdline_len > plan->cmdline_max)
		return x86_boot_fail(err, errlen, -E2BIG,
				     "command line is %zu bytes; kernel '%s' accepts at most %zu",
				     plan->cmdline_len, kernel, plan->cmdline_max);
	plan->cmdline = strdup(cmdline);
	if (!plan->cmdline)
		return x86_boot_fail(err, errlen, -ENOMEM, "out of memory");

	if (initrd && *initrd)
		return prepare_initrd(plan, initrd, below, err, errlen);
	return 0;
}

int x86_boot_prepare(const char *kernel, const char *initrd, const char *cmdline,
		     uint64_t mem_size, struct x86_boot_plan *plan, char *err, size_t errlen)
{
	int r = prepare(kernel, initrd, cmdline, mem_size, plan, err, errlen);
	if (r < 0)
		x86_boot_plan_fini(plan); /* a failed plan holds nothing */
	return r;
}

void x86_boot_plan_fini(struct x86_boot_plan *plan)
{
	free(plan->kernel);
	free(plan->cmdline);
	if (plan->initrd_fd >= 0)
		close(plan->initrd_fd);
	plan->kernel = NULL;
	plan->cmdline = NULL;
	plan->initrd_fd = -1;
}

static int load_initrd(const struct x86_boot_plan *plan, struct guest_mem *gm, uint64_t gpa)
{
	uint8_t *dst = gm_ptr_w(gm, gpa, plan->initrd_size);
	uint64_t off = 0;

	if (!dst)
		return -EFAULT;
	while (off < plan->initrd_size) {
		ssize_t n = pread(plan->initrd_fd, dst + off, plan->initrd_size - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank since prepare */
		off += (uint64_t)n;
	}
	return 0;
}

static int write_boot_params(const struct x86_boot_plan *plan, struct guest_mem *gm,
			     const struct boot_e820_entry *e820, unsigned nr_e820,
			     uint64_t initrd_gpa, uint64_t rsdp_gpa)
{
	struct boot_params *bp = calloc(1, sizeof(*bp));
	if (!bp)
		return -ENOMEM;
	x86_bzimage_fill_header(plan, bp);
	bp->hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE_GPA;
	bp->ext_cmd_line_ptr = (uint32_t)(LAYOUT_CMDLINE_GPA >> 32);
	bp->hdr.ramdisk_image = (uint32_t)initrd_gpa;
	bp->hdr.ramdisk_size = (uint32_t)plan->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(plan->initrd_size >> 32);
	bp->acpi_rsdp_addr = rsdp_gpa; /* boot protocol 2.14+; older kernels scan for it */
	bp->e820_entries = (uint8_t)nr_e820;
	memcpy(bp->e820_table, e820, nr_e820 * sizeof(*e820));
	int r = gm_write(gm, LAYOUT_ZERO_PAGE_GPA, bp, sizeof(*bp));
	free(bp);
	return r;
}

int x86_boot_load(const struct x86_boot_plan *plan, struct guest_mem *gm,
		  const struct boot_mem_info *mi, unsigned nr_cpus, struct boot_entry *out,
		  char *err, size_t errlen)
{
	struct boot_e820_entry e820[E820_MAX_ENTRIES_ZEROPAGE];
	uint64_t initrd_gpa = 0;
	uint16_t bda[2] = {(uint16_t)(LAYOUT_EBDA_GPA >> 4), (uint16_t)(LAYOUT_EBDA_GPA / KiB)};
	int r;

	if (plan->kernel_end > mi->ram_below_4g)
		return x86_boot_fail(err, errlen, -ENOSPC,
				     "kernel: needs RAM up to 0x%llx, guest has 0x%llx below 4 GiB",
				     (unsigned long long)plan->kernel_end,
				     (unsigned long long)mi->ram_below_4g);
	if (x86_initrd_place(plan, mi->ram_below_4g, &initrd_gpa) < 0)
		return x86_boot_fail(err, errlen, -ENOSPC, "initrd: does not fit in guest RAM");

	r = plan->image == X86_IMAGE_BZIMAGE ? x86_bzimage_load(plan, gm) : x86_elf_load(plan, gm);
	if (r < 0)
		return x86_boot_fail(err, errlen, r, "kernel: cannot write it to guest memory: %s",
				     strerror(-r));
	r = gm_write(gm, LAYOUT_CMDLINE_GPA, plan->cmdline, plan->cmdline_len + 1);
	if (r < 0)
		return x86_boot_fail(err, errlen, r, "cmdline: cannot write it to guest memory");
	if (plan->initrd_size) {
		r = load_initrd(plan, gm, initrd_gpa);
		if (r < 0)
			return x86_boot_fail(err, errlen, r, "initrd: cannot load it: %s",
					     strerror(-r));
	}

	int nr_e820 = x86_e820_build(mi, e820, ARRAY_SIZE(e820));
	if (nr_e820 < 0)
		return x86_boot_fail(err, errlen, nr_e820, "e820: too many entries");
	r = gm_write(gm, LAYOUT_BDA_EBDA_SEG_GPA, &bda[0], 2);
	if (r == 0)
		r = gm_write(gm, LAYOUT_BDA_BASE_MEM_GPA, &bda[1], 2);
	if (r == 0)
		r = x86_boot_gdt_write(gm);
	if (r < 0)
		return x86_boot_fail(err, errlen, r, "boot: cannot write the BIOS data area and GDT");
	r = x86_mptable_write(gm, nr_cpus);
	if (r < 0)
		return x86_boot_fail(err, errlen, r, "mptable: cannot describe %u CPUs: %s",
				     nr_cpus, strerror(-r));

	memset(out, 0, sizeof(*out));
	out->kind = plan->kind;
	out->rip = plan->entry;
	out->rsp = LAYOUT_BOOT_STACK_GPA;
	if (plan->kind == BOOT_PVH) {
		r = x86_pvh_write(gm, e820, (unsigned)nr_e820, LAYOUT_CMDLINE_GPA, initrd_gpa,
				  plan->initrd_size, mi->rsdp_gpa);
		if (r < 0)
			return x86_boot_fail(err, errlen, r, "pvh: cannot write hvm_start_info");
		out->rbx = LAYOUT_PVH_INFO_GPA;
		return 0;
	}
	r = x86_boot_pagetables_write(gm);
	if (r == 0)
		r = write_boot_params(plan, gm, e820, (unsigned)nr_e820, initrd_gpa, mi->rsdp_gpa);
	if (r < 0)
		return x86_boot_fail(err, errlen, r, "boot: cannot write page tables or boot_params");
	out->rsi = LAYOUT_ZERO_PAGE_GPA;
	return 0;
}
