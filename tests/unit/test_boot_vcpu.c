/* SPDX-License-Identifier: MIT */
/*
 * vCPU setup against the real /dev/kvm (skipped without it): CPUID, MSRs, LAPIC, FPU and the
 * entry state, and tiny payloads entered through the ELF64 and PVH paths that report what they
 * see (boot_params / hvm_start_info) on port 0xe9.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <asm/kvm_para.h>
#include "harness.h"
#include "test_boot.h"
#include "arch/x86/arch.h"
#include "arch/x86/layout.h"
#include "arch/x86/pvh.h"

#define MEM_SIZE (16 * MiB)

struct kvm_fx {
	int sys, vm;
	void *mem;
	struct guest_mem gm;
	struct kvm_cpuid2 *sup;
};

static void fx_init(struct kvm_fx *f)
{
	uint64_t ident = LAYOUT_IDENTITY_MAP_GPA;

	f->sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (f->sys < 0)
		test_skip("no /dev/kvm");
	f->vm = ioctl(f->sys, KVM_CREATE_VM, 0);
	if (f->vm < 0)
		test_skip("KVM_CREATE_VM failed");
	(void)ioctl(f->vm, KVM_SET_IDENTITY_MAP_ADDR, &ident);
	(void)ioctl(f->vm, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS_GPA);
	if (ioctl(f->vm, KVM_CREATE_IRQCHIP, 0) < 0)
		test_skip("KVM_CREATE_IRQCHIP failed");
	f->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->mem == MAP_FAILED)
		abort();
	struct kvm_userspace_memory_region reg = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)f->mem};
	if (ioctl(f->vm, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
		abort();
	gm_init(&f->gm);
	if (gm_add_region(&f->gm, 0, MEM_SIZE, f->mem, -1, 0, false) < 0)
		abort();
	for (unsigned n = 128;; n *= 2) {
		f->sup = calloc(1, sizeof(*f->sup) + n * sizeof(f->sup->entries[0]));
		f->sup->nent = n;
		if (ioctl(f->sys, KVM_GET_SUPPORTED_CPUID, f->sup) == 0)
			break;
		if (errno != E2BIG || n > 4096)
			abort();
		free(f->sup);
	}
}

static int fx_vcpu(struct kvm_fx *f, unsigned id)
{
	int fd = ioctl(f->vm, KVM_CREATE_VCPU, (unsigned long)id);
	if (fd < 0)
		abort();
	return fd;
}

static const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c, uint32_t fn,
						 uint32_t idx)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static uint64_t get_msr(int vcpu, uint32_t index)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sizeof(m->entries[0]));
	uint64_t v = 0xdeadbeefULL;
	m->nmsrs = 1;
	m->entries[0].index = index;
	if (ioctl(vcpu, KVM_GET_MSRS, m) == 1)
		v = m->entries[0].data;
	free(m);
	return v;
}

TEST(boot_cpuid_build_topology)
{
	struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 8 * sizeof(sup->entries[0]));
	struct kvm_cpuid2 *c;
	sup->entries[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0x1f, .ebx = 0x756e6547};
	sup->entries[1] = (struct kvm_cpuid_entry2){.function = 1, .ebx = 0x00010800};
	sup->entries[2] = (struct kvm_cpuid_entry2){
		.function = 4, .index = 3, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.eax = 0xfc000000 | 3 << 5 | 3};
	sup->entries[3] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 0, .edx = 77};
	sup->entries[4] = (struct kvm_cpuid_entry2){.function = 0x1f, .index = 0};
	sup->entries[5] = (struct kvm_cpuid_entry2){.function = KVM_CPUID_SIGNATURE, .eax = 7};
	sup->entries[6] = (struct kvm_cpuid_entry2){.function = KVM_CPUID_FEATURES, .eax = 0x1234};
	sup->nent = 7;
	REQUIRE(x86_cpuid_build(sup, 5, 6, &c) == 0);
	const struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);
	REQUIRE(e);
	CHECK_EQ(e->ebx >> 24, 5);
	CHECK_EQ((e->ebx >> 16) & 0xff, 6);
	CHECK_EQ(e->ebx & 0xffff, 0x0800);
	CHECK(e->edx & (1u << 28));
	CHECK(e->ecx & (1u << 31));
	e = cpuid_find(c, 4, 3);
	REQUIRE(e);
	CHECK_EQ(e->eax >> 26, 5);
	CHECK_EQ((e->eax >> 14) & 0xfff, 5);
	for (uint32_t fn = 0xb; fn <= 0x1f; fn += 0x14) {
		const struct kvm_cpuid_entry2 *s0 = cpuid_find(c, fn, 0), *s1 = cpuid_find(c, fn, 1),
					      *s2 = cpuid_find(c, fn, 2);
		REQUIRE(s0 && s1 && s2);
		CHECK_EQ(s0->edx, 5);
		CHECK_EQ(s1->edx, 5);
		CHECK_EQ(s0->ebx & 0xffff, 1);
		CHECK_EQ((s0->ecx >> 8) & 0xff, 1);
		CHECK_EQ(s1->ebx & 0xffff, 6);
		CHECK_EQ((s1->ecx >> 8) & 0xff, 2);
		CHECK_EQ(s1->eax & 0x1f, 3); /* 6 cores need 3 APIC ID bits */
		CHECK_EQ((s2->ecx >> 8) & 0xff, 0);
		CHECK(s0->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	}
	e = cpuid_find(c, KVM_CPUID_SIGNATURE, 0);
	REQUIRE(e);
	CHECK_EQ(e->eax, KVM_CPUID_FEATURES);
	char sig[13] = {0};
	memcpy(sig, &e->ebx, 4);
	memcpy(sig + 4, &e->ecx, 4);
	memcpy(sig + 8, &e->edx, 4);
	CHECK_STR(sig, "KVMKVMKVM");
	e = cpuid_find(c, KVM_CPUID_FEATURES, 0);
	REQUIRE(e);
	CHECK_EQ(e->eax, 0x1234);
	unsigned nsig = 0;
	for (unsigned i = 0; i < c->nent; i++)
		nsig += c->entries[i].function == KVM_CPUID_SIGNATURE;
	CHECK_EQ(nsig, 1);
	CHECK_EQ(x86_cpuid_build(sup, 6, 6, &c), -EINVAL);
}

TEST(boot_cpuid_build_amd_caches)
{
	struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 8 * sizeof(sup->entries[0]));
	struct kvm_cpuid2 *c;
	sup->entries[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0x10, .ebx = 0x68747541};
	/* the host's L1D shared by 2 threads, its L3 by 16 */
	sup->entries[1] = (struct kvm_cpuid_entry2){
		.function = 0x8000001d, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.eax = 1u << 14 | 1 << 5 | 1};
	sup->entries[2] = (struct kvm_cpuid_entry2){
		.function = 0x8000001d, .index = 3, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.eax = 15u << 14 | 3 << 5 | 3};
	sup->entries[3] = (struct kvm_cpuid_entry2){.function = 0x8000001e, .eax = 9, .ebx = 0x107};
	sup->nent = 4;
	REQUIRE(x86_cpuid_build(sup, 2, 4, &c) == 0);
	const struct kvm_cpuid_entry2 *e = cpuid_find(c, 0x8000001d, 0);
	REQUIRE(e);
	CHECK_EQ((e->eax >> 14) & 0xfff, 0); /* one thread per core */
	CHECK_EQ(e->eax & 0xff, 1 << 5 | 1);
	e = cpuid_find(c, 0x8000001d, 3);
	REQUIRE(e);
	CHECK_EQ((e->eax >> 14) & 0xfff, 3); /* the L3: all 4 vCPUs */
	e = cpuid_find(c, 0x8000001e, 0);
	REQUIRE(e);
	CHECK_EQ(e->eax, 2);
	CHECK_EQ(e->ebx, 2);
	free(c);
	free(sup);
}

TEST(boot_vcpu_setup_state)
{
	struct kvm_fx f;
	fx_init(&f);
	struct boot_entry entry = {.kind = BOOT_ELF64, .rip = 0x200000, .rsi = LAYOUT_ZERO_PAGE_GPA,
				   .rsp = LAYOUT_BOOT_STACK_GPA};
	int v0 = fx_vcpu(&f, 0), v1 = fx_vcpu(&f, 1);
	REQUIRE(x86_vcpu_setup(f.sys, v0, f.sup, 0, 2, &entry, &f.gm) == 0);
	REQUIRE(x86_vcpu_setup(f.sys, v1, f.sup, 1, 2, &entry, &f.gm) == 0);

	struct kvm_sregs s;
	struct kvm_regs r;
	REQUIRE(ioctl(v0, KVM_GET_SREGS, &s) == 0);
	REQUIRE(ioctl(v0, KVM_GET_REGS, &r) == 0);
	CHECK_EQ(s.cs.selector, LAYOUT_SEL_CODE64);
	CHECK_EQ(s.cs.l, 1);
	CHECK_EQ(s.cs.db, 0);
	CHECK_EQ(s.ds.selector, LAYOUT_SEL_DATA);
	CHECK_EQ(s.ss.selector, LAYOUT_SEL_DATA);
	CHECK_EQ(s.cr0 & 0x80000011, 0x80000011);
	CHECK(s.cr4 & 0x20);
	CHECK_EQ(s.efer & 0x500, 0x500);
	CHECK_EQ(s.cr3, LAYOUT_PML4_GPA);
	CHECK_EQ(s.gdt.base, LAYOUT_GDT_GPA);
	CHECK_EQ(r.rip, 0x200000);
	CHECK_EQ(r.rsi, LAYOUT_ZERO_PAGE_GPA);
	CHECK_EQ(r.rflags, 2);

	/* vCPU 1 keeps the reset state and waits for INIT/SIPI */
	struct kvm_mp_state mp;
	REQUIRE(ioctl(v1, KVM_GET_MP_STATE, &mp) == 0);
	CHECK_EQ(mp.mp_state, KVM_MP_STATE_UNINITIALIZED);
	REQUIRE(ioctl(v1, KVM_GET_REGS, &r) == 0);
	CHECK_EQ(r.rip, 0xfff0);

	for (int v = 0; v < 2; v++) {
		int fd = v ? v1 : v0;
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 512 * sizeof(c->entries[0]));
		c->nent = 512;
		REQUIRE(ioctl(fd, KVM_GET_CPUID2, c) == 0);
		const struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);
		REQUIRE(e);
		CHECK_EQ(e->ebx >> 24, (unsigned)v);
		e = cpuid_find(c, KVM_CPUID_SIGNATURE, 0);
		REQUIRE(e);
		CHECK_EQ(e->ebx, 0x4b4d564b);
		free(c);

		CHECK_EQ(get_msr(fd, 0x1a0) & 1, 1);    /* MISC_ENABLE fast strings */
		CHECK_EQ(get_msr(fd, 0x2ff), 0x806);    /* MTRR default type: enabled, WB */
		CHECK_EQ(get_msr(fd, 0xc0000082), 0);   /* LSTAR */
		CHECK_EQ(get_msr(fd, 0x174), 0);        /* SYSENTER_CS */

		struct kvm_lapic_state la;
		uint32_t lvt0, lvt1;
		REQUIRE(ioctl(fd, KVM_GET_LAPIC, &la) == 0);
		memcpy(&lvt0, la.regs + 0x350, 4);
		memcpy(&lvt1, la.regs + 0x360, 4);
		CHECK_EQ(lvt0 & 0x10700, 0x700);
		CHECK_EQ(lvt1 & 0x10700, 0x400);

		struct kvm_fpu fpu;
		REQUIRE(ioctl(fd, KVM_GET_FPU, &fpu) == 0);
		CHECK_EQ(fpu.fcw, 0x37f);
		/* KVM_GET/SET_FPU do not carry MXCSR; the XSAVE legacy area shows it (offset 24) */
		struct kvm_xsave xs;
		if (ioctl(fd, KVM_GET_XSAVE, &xs) == 0)
			CHECK_EQ(xs.region[6], 0x1f80);
	}
}

TEST(boot_vcpu_reset_and_pvh_state)
{
	struct kvm_fx f;
	fx_init(&f);
	int v0 = fx_vcpu(&f, 0);
	struct boot_entry entry = {.kind = BOOT_RESET};
	struct kvm_sregs s;
	struct kvm_regs r;
	REQUIRE(x86_vcpu_setup(f.sys, v0, f.sup, 0, 1, &entry, &f.gm) == 0);
	REQUIRE(ioctl(v0, KVM_GET_SREGS, &s) == 0);
	REQUIRE(ioctl(v0, KVM_GET_REGS, &r) == 0);
	CHECK_EQ(s.cs.selector, 0xf000);
	CHECK_EQ(s.cs.base, 0xffff0000);
	CHECK_EQ(r.rip, 0xfff0);
	CHECK_EQ(s.cr0 & 1, 0);
	CHECK_EQ(s.efer, 0);

	entry = (struct boot_entry){.kind = BOOT_PVH, .rip = 0x200000, .rbx = LAYOUT_PVH_INFO_GPA};
	REQUIRE(x86_vcpu_setup(f.sys, v0, f.sup, 0, 1, &entry, &f.gm) == 0);
	REQUIRE(ioctl(v0, KVM_GET_SREGS, &s) == 0);
	REQUIRE(ioctl(v0, KVM_GET_REGS, &r) == 0);
	CHECK_EQ(s.cs.db, 1);
	CHECK_EQ(s.cs.l, 0);
	CHECK_EQ(s.cs.base, 0);
	CHECK_EQ(s.cs.limit, 0xffffffff);
	CHECK_EQ(s.cr0 & 0x80000001, 1);
	CHECK_EQ(s.cr4, 0);
	CHECK_EQ(s.efer & 0x500, 0);
	CHECK_EQ(s.tr.type, 11);
	CHECK_EQ(s.tr.limit, 0x67);
	CHECK_EQ(r.rbx, LAYOUT_PVH_INFO_GPA);
	CHECK_EQ(r.rip, 0x200000);
}

/* Load `code` as an ELF (PVH or plain), run vCPU 0 to its first exit, return the OUT to 0xe9. */
static void run_payload(const uint8_t *code, size_t len, bool pvh, uint32_t want)
{
	struct kvm_fx f;
	fx_init(&f);
	char path[512], err[256] = "";
	snprintf(path, sizeof(path), "%s/payload.elf", test_tmpdir());
	REQUIRE(tb_write_elf(path, code, len, pvh) == 0);
	struct x86_boot_plan plan;
	struct boot_entry entry;
	struct boot_mem_info mi = {MEM_SIZE, 0};
	REQUIRE(x86_boot_prepare(path, NULL, "payload", MEM_SIZE, &plan, err, sizeof(err)) == 0);
	CHECK_EQ(plan.kind, pvh ? BOOT_PVH : BOOT_ELF64);
	REQUIRE(x86_boot_load(&plan, &f.gm, &mi, 1, &entry, err, sizeof(err)) == 0);
	x86_boot_plan_fini(&plan);

	int v0 = fx_vcpu(&f, 0);
	REQUIRE(x86_vcpu_setup(f.sys, v0, f.sup, 0, 1, &entry, &f.gm) == 0);
	int sz = ioctl(f.sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, v0, 0);
	REQUIRE(run != MAP_FAILED);
	alarm(30);
	int r;
	do
		r = ioctl(v0, KVM_RUN, 0);
	while (r < 0 && errno == EINTR);
	REQUIRE(r == 0);
	if (run->exit_reason != KVM_EXIT_IO) {
		struct kvm_regs regs;
		(void)ioctl(v0, KVM_GET_REGS, &regs);
		test_fail_at(__FILE__, __LINE__, "exit reason %u (suberror %u), rip 0x%llx",
			     run->exit_reason, run->internal.suberror,
			     (unsigned long long)regs.rip);
		return;
	}
	CHECK_EQ(run->io.port, 0xe9);
	CHECK_EQ(run->io.direction, KVM_EXIT_IO_OUT);
	CHECK_EQ(run->io.size, 4);
	uint32_t v;
	memcpy(&v, (uint8_t *)run + run->io.data_offset, 4);
	CHECK_EQ(v, want);
}

TEST(boot_vcpu_run_elf64_payload)
{
	/* mov rax, [rsi + 0x200]; shr rax, 16; out 0xe9, eax; hlt; jmp .-1
	 * In long mode this outputs boot_params.hdr.header ("HdrS"); the REX.W prefixes would
	 * decode as dec eax in 32-bit mode and give a different value. */
	static const uint8_t code[] = {0x48, 0x8b, 0x86, 0x00, 0x02, 0x00, 0x00, 0x48, 0xc1, 0xe8,
				       0x10, 0xe7, 0xe9, 0xf4, 0xeb, 0xfd};
	run_payload(code, sizeof(code), false, 0x53726448);
}

TEST(boot_vcpu_run_pvh_payload)
{
	/* mov eax, [ebx]; out 0xe9, eax; hlt: outputs hvm_start_info.magic */
	static const uint8_t code[] = {0x8b, 0x03, 0xe7, 0xe9, 0xf4, 0xeb, 0xfd};
	run_payload(code, sizeof(code), true, XEN_HVM_START_MAGIC_VALUE);
}
