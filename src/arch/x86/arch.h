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
};

/* Set up one vCPU before it first runs. Boot vCPU (id 0) gets `entry`; others wait for SIPI. */
int x86_vcpu_setup(int kvm_sys_fd, int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned id,
		   unsigned nr_vcpus, const struct boot_entry *entry, struct guest_mem *gm) WUR;

#endif
