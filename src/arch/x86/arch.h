/* SPDX-License-Identifier: MIT */
/*
 * The x86 arch interface used by the VMM core: kernel image probing/loading, per-vCPU setup
 * (CPUID, MSRs, LAPIC, registers) and the platform tables.
 */
#ifndef VIREO_ARCH_X86_ARCH_H
#define VIREO_ARCH_X86_ARCH_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/kvm.h>
#include <asm/bootparam.h>
#include "base/util.h"
#include "mem/guest_mem.h"

enum boot_kind {
	BOOT_LINUX64, /* bzImage 64-bit entry: RSI = boot_params, long mode, identity paging */
	BOOT_PVH,     /* ELF with XEN_ELFNOTE_PHYS32_ENTRY: 32-bit protected mode, EBX = start_info */
	BOOT_ELF64,   /* plain x86-64 ELF: e_entry in long mode, RSI = boot_params */
	BOOT_RESET,   /* firmware: real mode at the reset vector F000:FFF0 */
};

struct boot_entry {
	enum boot_kind kind;
	uint64_t rip;
	uint64_t rsi;
	uint64_t rbx;
	uint64_t rsp;
};

/* Everything the loader needs about the guest's RAM layout. */
struct boot_mem_info {
	uint64_t ram_below_4g; /* RAM mapped at 0 .. ram_below_4g */
	uint64_t ram_above_4g; /* RAM mapped at 4 GiB .. */
	uint64_t rsdp_gpa;     /* the ACPI RSDP (boot_params.acpi_rsdp_addr, PVH rsdp_paddr); 0: none */
};

/*
 * Direct kernel boot, in three steps called by the VMM:
 *
 *   1. x86_boot_prepare()  before any VM exists: reads and validates the kernel (and opens the
 *      initrd), checks that everything fits in `mem_size` bytes of guest RAM. On failure writes a
 *      one-line reason naming the problem to err (vireo then exits 2).
 *   2. x86_boot_load()     after guest RAM exists: writes the kernel, initrd, command line, boot
 *      structures (zero page or PVH start_info, e820, GDT, page tables, MP table) into guest
 *      memory and fills *out with the entry state for vCPU 0.
 *   3. x86_vcpu_setup()    per vCPU (id 0 gets *out).
 *   x86_boot_plan_fini()   releases the plan after a successful step 1 (a failed step 1 has
 *                          already released everything; calling fini again is harmless).
 *
 * Which entry is used (documented in docs/memory-layout.md):
 *   - a bzImage (boot sector 0xAA55 + "HdrS", protocol >= 2.06, XLF_KERNEL_64): BOOT_LINUX64,
 *     64-bit entry at load address + 0x200 with RSI = boot_params;
 *   - an x86-64 ELF with a XEN_ELFNOTE_PHYS32_ENTRY note (e.g. vmlinux with CONFIG_PVH):
 *     BOOT_PVH, the note's entry in 32-bit protected mode, EBX = hvm_start_info. PVH wins over
 *     e_entry because it is the entry the kernel declares for "loaded by a hypervisor, no
 *     firmware", and it needs no boot_params fields that only a bzImage header can describe;
 *   - any other x86-64 ELF: BOOT_ELF64, e_entry in 64-bit mode with RSI = boot_params.
 */
enum x86_image_kind { X86_IMAGE_BZIMAGE, X86_IMAGE_ELF };

#define X86_ELF_MAX_SEGS 32
#define X86_ELF_CMDLINE_MAX 2047 /* x86 Linux COMMAND_LINE_SIZE (2048) less the NUL */

struct x86_elf_seg {
	uint64_t file_off;
	uint64_t filesz;
	uint64_t gpa;
	uint64_t memsz;
};

/* A parsed and validated kernel plus what goes with it. Plain data; fini frees it. */
struct x86_boot_plan {
	enum x86_image_kind image;
	enum boot_kind kind;
	uint8_t *kernel; /* the whole kernel file */
	size_t kernel_len;
	char *cmdline; /* copy of the command line ("" when none) */
	size_t cmdline_len;
	size_t cmdline_max; /* longest command line this kernel takes (without NUL) */
	int initrd_fd;      /* -1 when no initrd */
	uint64_t initrd_size;
	uint64_t initrd_limit; /* initrd must end at or below this GPA */
	uint64_t kernel_end;   /* first GPA above everything the kernel may use while it boots */
	uint64_t mem_size;
	/* bzImage */
	uint16_t version;   /* boot protocol version, e.g. 0x020f */
	size_t setup_len;   /* bytes of real-mode setup (boot sector included) in the file */
	size_t hdr_end;     /* end of the setup header to copy (file offset) */
	uint64_t load_gpa;  /* where the protected-mode kernel goes */
	/* ELF */
	struct x86_elf_seg segs[X86_ELF_MAX_SEGS];
	unsigned nr_segs;
	uint64_t entry; /* entry GPA (ELF64: e_entry; PVH: the note's entry) */
};

int x86_boot_prepare(const char *kernel, const char *initrd, const char *cmdline,
		     uint64_t mem_size, struct x86_boot_plan *plan, char *err, size_t errlen) WUR;
int x86_boot_load(const struct x86_boot_plan *plan, struct guest_mem *gm,
		  const struct boot_mem_info *mi, unsigned nr_cpus, struct boot_entry *out,
		  char *err, size_t errlen) WUR;
void x86_boot_plan_fini(struct x86_boot_plan *plan);

/* Where the initrd goes for this plan and RAM layout (also used by the loader). Returns 0 or
 * -ENOSPC when it does not fit between the kernel and its limit. */
int x86_initrd_place(const struct x86_boot_plan *plan, uint64_t ram_below_4g, uint64_t *gpa) WUR;

/* e820 types as in the boot protocol (E820_RAM, E820_RESERVED from <asm/e820.h>). */
/* Build the guest's e820 map for this RAM layout, sorted by address. Returns the number of
 * entries, or -ENOSPC when `max` is too small. Also used for fw_cfg "etc/e820". */
int x86_e820_build(const struct boot_mem_info *mi, struct boot_e820_entry *out, unsigned max) WUR;

/* Write the MP floating pointer and configuration table (nr_cpus processors, PCI bus 0,
 * ISA bus 1, the IOAPIC, ISA IRQ 0 on IOAPIC pin 2 and IRQ n on pin n otherwise, as kvm.c
 * routes them, LINT0 ExtINT / LINT1 NMI) at LAYOUT_MPTABLE_GPA (EBDA, 1 KiB: up to 40 CPUs).
 * Returns 0, -EINVAL (0 or > 254 CPUs), -ENOSPC (too many CPUs for the EBDA) or -EFAULT. */
int x86_mptable_write(struct guest_mem *gm, unsigned nr_cpus) WUR;

/* CPUID for vCPU `id` of `nr_vcpus`: a malloc'd copy of `supported` with the APIC IDs,
 * topology (leaves 1, 4, 0xB, 0x1F; on AMD 0x8000_0008, 0x8000_001E) and the hypervisor
 * signature leaf filled in. The caller frees *out. */
int x86_cpuid_build(const struct kvm_cpuid2 *supported, unsigned id, unsigned nr_vcpus,
		    struct kvm_cpuid2 **out) WUR;

/* Set up one vCPU before it first runs: CPUID, MSRs, LAPIC LINT0/LINT1, FPU, and for vCPU 0 the
 * registers for `entry` (entry->kind BOOT_RESET: real mode at F000:FFF0). Other vCPUs keep
 * KVM's reset state (KVM_MP_STATE_UNINITIALIZED with the in-kernel LAPIC) and wait for
 * INIT/SIPI. `gm` is unused today (kept for firmware setups that read guest memory). */
int x86_vcpu_setup(int kvm_sys_fd, int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned id,
		   unsigned nr_vcpus, const struct boot_entry *entry, struct guest_mem *gm) WUR;

#endif
