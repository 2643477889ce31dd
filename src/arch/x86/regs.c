/* SPDX-License-Identifier: MIT */
/*
 * Per-vCPU state before the first KVM_RUN: CPUID, the MSRs a Linux guest expects, LAPIC
 * LINT0/LINT1, FPU, and for the boot vCPU the registers of the chosen entry:
 *   BOOT_LINUX64 / BOOT_ELF64: long mode, CS = LAYOUT_SEL_CODE64, CR3 = identity PML4;
 *   BOOT_PVH: flat 32-bit protected mode, paging off, EBX = hvm_start_info;
 *   BOOT_RESET: real mode at F000:FFF0 with CS base 0xffff0000 (firmware).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <asm/processor-flags.h>
#include "arch/x86/boot_internal.h"
#include "arch/x86/layout.h"
#include "base/log.h"

/* Architectural MSR numbers (Intel SDM vol. 4). */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MISC_ENABLE_FAST_STRING 0x1ULL
#define MTRR_DEF_TYPE_E (1ULL << 11)
#define MTRR_TYPE_WB 6ULL
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_LVT_MASKED (1u << 16)
#define APIC_DM_MASK 0x700u
#define APIC_DM_NMI 0x400u
#define APIC_DM_EXTINT 0x700u

#define FPU_FCW_DEFAULT 0x37f
#define FPU_MXCSR_DEFAULT 0x1f80

static int setup_msrs(int vcpu_fd, unsigned id)
{
	static const struct kvm_msr_entry want[] = {
		{.index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING},
		{.index = MSR_IA32_SYSENTER_CS},
		{.index = MSR_IA32_SYSENTER_ESP},
		{.index = MSR_IA32_SYSENTER_EIP},
		{.index = MSR_STAR},
		{.index = MSR_LSTAR},
		{.index = MSR_CSTAR},
		{.index = MSR_SYSCALL_MASK},
		{.index = MSR_KERNEL_GS_BASE},
		{.index = MSR_IA32_TSC},
		{.index = MSR_MTRR_DEF_TYPE, .data = MTRR_DEF_TYPE_E | MTRR_TYPE_WB},
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[ARRAY_SIZE(want)];
	} m;
	unsigned done = 0;

	/* KVM_SET_MSRS stops at the first MSR it rejects: skip that one (it keeps its reset
	 * value, the guest copes) and go on with the rest. */
	while (done < ARRAY_SIZE(want)) {
		memset(&m, 0, sizeof(m));
		m.hdr.nmsrs = (uint32_t)(ARRAY_SIZE(want) - done);
		memcpy(m.e, want + done, m.hdr.nmsrs * sizeof(m.e[0]));
		int n = ioctl(vcpu_fd, KVM_SET_MSRS, &m);
		if (n < 0)
			return -errno;
		done += (unsigned)n;
		if (done < ARRAY_SIZE(want)) {
			if (id == 0)
				log_warn("vcpu0: KVM rejects MSR 0x%x; it keeps its reset value",
					 want[done].index);
			done++;
		}
	}
	return 0;
}

static int setup_lapic(int vcpu_fd)
{
	struct kvm_lapic_state st;
	uint32_t v;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &st) < 0)
		return -errno;
	memcpy(&v, st.regs + APIC_LVT0, 4);
	v = (v & ~(APIC_DM_MASK | APIC_LVT_MASKED)) | APIC_DM_EXTINT;
	memcpy(st.regs + APIC_LVT0, &v, 4);
	memcpy(&v, st.regs + APIC_LVT1, 4);
	v = (v & ~(APIC_DM_MASK | APIC_LVT_MASKED)) | APIC_DM_NMI;
	memcpy(st.regs + APIC_LVT1, &v, 4);
	return ioctl(vcpu_fd, KVM_SET_LAPIC, &st) < 0 ? -errno : 0;
}

/* x87 control word and MXCSR at their reset values. (KVM_SET_FPU ignores mxcsr; KVM's initial
 * guest FPU state already has 0x1f80 there, which test_boot_vcpu.c checks through XSAVE.) */
static int setup_fpu(int vcpu_fd)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = FPU_FCW_DEFAULT;
	fpu.mxcsr = FPU_MXCSR_DEFAULT;
	return ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

static struct kvm_segment seg_flat(uint16_t sel, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.s = 1,
		.db = !code64,
		.l = code64,
		.g = 1,
	};
}

static struct kvm_segment seg_real(uint16_t sel, uint64_t base, uint8_t type)
{
	return (struct kvm_segment){
		.base = base, .limit = 0xffff, .selector = sel, .type = type, .present = 1, .s = 1};
}

void x86_sregs_for_entry(enum boot_kind kind, struct kvm_sregs *s)
{
	struct kvm_segment tss = {
		.limit = 0x67, .selector = LAYOUT_SEL_TSS, .type = 11, .present = 1};
	struct kvm_segment data;

	if (kind == BOOT_RESET) {
		data = seg_real(0, 0, 3);
		s->cs = seg_real(0xf000, 0xffff0000, 11);
		s->ds = s->es = s->fs = s->gs = s->ss = data;
		s->tr = (struct kvm_segment){.limit = 0xffff, .type = 11, .present = 1};
		s->ldt = (struct kvm_segment){.limit = 0xffff, .type = 2, .present = 1};
		s->gdt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
		s->idt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
		s->cr0 = X86_CR0_CD | X86_CR0_NW | X86_CR0_ET;
		s->cr2 = s->cr3 = s->cr4 = 0;
		s->efer = 0;
		return;
	}
	data = seg_flat(LAYOUT_SEL_DATA, 3, false);
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = tss;
	s->ldt = (struct kvm_segment){.limit = 0xffff, .type = 2, .present = 1};
	s->gdt = (struct kvm_dtable){.base = LAYOUT_GDT_GPA, .limit = LAYOUT_GDT_SIZE - 1};
	s->idt = (struct kvm_dtable){.base = LAYOUT_IDT_GPA, .limit = 0};
	s->cr2 = 0;
	if (kind == BOOT_PVH) {
		s->cs = seg_flat(LAYOUT_SEL_CODE32, 11, false);
		s->cr0 = X86_CR0_PE | X86_CR0_ET;
		s->cr3 = 0;
		s->cr4 = 0;
		s->efer = 0;
		return;
	}
	s->cs = seg_flat(LAYOUT_SEL_CODE64, 11, true);
	s->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	s->cr3 = LAYOUT_PML4_GPA;
	s->cr4 = X86_CR4_PAE;
	s->efer = EFER_LME | EFER_LMA;
}

static int setup_boot_regs(int vcpu_fd, const struct boot_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	x86_sregs_for_entry(entry->kind, &sregs);
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = X86_EFLAGS_FIXED;
	if (entry->kind == BOOT_RESET) {
		regs.rip = 0xfff0;
		regs.rdx = 0x600; /* the reset CPU signature: family 6 */
	} else {
		regs.rip = entry->rip;
		regs.rsi = entry->rsi;
		regs.rbx = entry->rbx;
		regs.rsp = entry->rsp;
		regs.rbp = entry->rsp;
	}
	return ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

int x86_vcpu_setup(int kvm_sys_fd, int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned id,
		   unsigned nr_vcpus, const struct boot_entry *entry, struct guest_mem *gm)
{
	struct kvm_cpuid2 *cpuid;
	int r;

	(void)kvm_sys_fd;
	(void)gm;
	r = x86_cpuid_build(supported, id, nr_vcpus, &cpuid);
	if (r < 0)
		return r;
	r = ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
	free(cpuid);
	if (r == 0)
		r = setup_msrs(vcpu_fd, id);
	if (r == 0)
		r = setup_lapic(vcpu_fd);
	if (r == 0)
		r = setup_fpu(vcpu_fd);
	if (r == 0 && id == 0)
		r = setup_boot_regs(vcpu_fd, entry);
	return r;
}
