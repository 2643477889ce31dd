/* SPDX-License-Identifier: MIT */
/*
 * Per-vCPU CPUID from KVM_GET_SUPPORTED_CPUID: APIC IDs equal vCPU ids, one package with
 * nr_vcpus cores of one thread each, and the KVM hypervisor signature leaf.
 *
 * Audit of the leaves KVM reports and what changes (docs/memory-layout.md, "vCPU state"):
 * 1 (APIC ID, logical count, HTT, hypervisor bit), 4 and 0x8000001D (caches: sharing by our
 * topology), 0xB/0x1F (rebuilt), 0x80000008/0x8000001E (AMD core count and IDs), 0x40000000
 * (signature); the rest is KVM's. Leaf 0xD stays as KVM reports it: KVM itself rewrites
 * EBX (size for the enabled XCR0 | XSS) when the guest writes XCR0 or IA32_XSS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <asm/kvm_para.h>
#include "arch/x86/arch.h"

#define CPUID_EXT_TOPO 0xb
#define CPUID_EXT_TOPO_V2 0x1f
#define CPUID_AMD_TOPO 0x8000001e
#define CPUID_AMD_CACHE 0x8000001d
#define CPUID_AMD_SIZES 0x80000008
#define CPUID_1_EDX_HTT (1u << 28)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define TOPO_TYPE_SMT 1
#define TOPO_TYPE_CORE 2
#define VENDOR_AMD_EBX 0x68747541u /* "Auth" */

static unsigned order_of(unsigned n)
{
	unsigned s = 0;
	while ((1u << s) < n)
		s++;
	return s;
}

/* Leaf 0xB / 0x1F: SMT level (1 thread), core level (nr cores), then the invalid terminator. */
static unsigned topo_leaf(struct kvm_cpuid_entry2 *e, uint32_t fn, unsigned id, unsigned nr)
{
	for (uint32_t sub = 0; sub < 3; sub++) {
		memset(&e[sub], 0, sizeof(e[sub]));
		e[sub].function = fn;
		e[sub].index = sub;
		e[sub].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e[sub].edx = id;
	}
	e[0].eax = 0;
	e[0].ebx = 1;
	e[0].ecx = TOPO_TYPE_SMT << 8 | 0;
	e[1].eax = order_of(nr);
	e[1].ebx = nr;
	e[1].ecx = TOPO_TYPE_CORE << 8 | 1;
	e[2].ecx = 2;
	return 3;
}

int x86_cpuid_build(const struct kvm_cpuid2 *sup, unsigned id, unsigned nr,
		    struct kvm_cpuid2 **out)
{
	unsigned cap = sup->nent + 8;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(c->entries[0]));
	uint32_t max_basic = 0;
	bool amd = false, have_v2 = false;
	unsigned n = 0;

	if (!c)
		return -ENOMEM;
	if (nr == 0 || id >= nr) {
		free(c);
		return -EINVAL;
	}
	for (unsigned i = 0; i < sup->nent; i++) {
		if (sup->entries[i].function == 0) {
			max_basic = sup->entries[i].eax;
			amd = sup->entries[i].ebx == VENDOR_AMD_EBX;
		}
		if (sup->entries[i].function == CPUID_EXT_TOPO_V2)
			have_v2 = true;
	}

	for (unsigned i = 0; i < sup->nent; i++) {
		struct kvm_cpuid_entry2 e = sup->entries[i];
		switch (e.function) {
		case CPUID_EXT_TOPO:
		case CPUID_EXT_TOPO_V2:
		case KVM_CPUID_SIGNATURE:
			continue; /* rebuilt below */
		case 1:
			e.ebx = (e.ebx & 0xffff) | (MIN(nr, 255u) << 16) | (id << 24);
			if (nr > 1)
				e.edx |= CPUID_1_EDX_HTT;
			e.ecx |= CPUID_1_ECX_HYPERVISOR;
			break;
		case 4:
			if ((e.eax & 0x1f) == 0) /* no cache at this index */
				break;
			e.eax &= ~(0xfc000000u | 0x03ffc000u);
			e.eax |= (MIN(nr, 64u) - 1) << 26;
			if (((e.eax >> 5) & 7) == 3) /* the L3 is shared by all cores */
				e.eax |= (MIN(nr, 4096u) - 1) << 14;
			break;
		case CPUID_AMD_SIZES:
			if (amd)
				e.ecx = (e.ecx & ~0xf0ffu) | ((nr - 1) & 0xff) | order_of(nr) << 12;
			break;
		case CPUID_AMD_CACHE:
			/* NumSharingCache-1 in EAX[25:14]: the host's value would describe the
			 * host's cores, not ours: per-core caches are not shared (one thread per
			 * core), the L3 is shared by every vCPU, as leaf 4 says on Intel. */
			if (amd && (e.eax & 0x1f) != 0) {
				e.eax &= ~0x03ffc000u;
				if (((e.eax >> 5) & 7) == 3)
					e.eax |= (MIN(nr, 4096u) - 1) << 14;
			}
			break;
		case CPUID_AMD_TOPO:
			if (amd) {
				e.eax = id;
				e.ebx = id & 0xff; /* core id, one thread per core */
				e.ecx = 0;
			}
			break;
		default:
			break;
		}
		c->entries[n++] = e;
	}
	if (max_basic >= CPUID_EXT_TOPO)
		n += topo_leaf(&c->entries[n], CPUID_EXT_TOPO, id, nr);
	if (have_v2)
		n += topo_leaf(&c->entries[n], CPUID_EXT_TOPO_V2, id, nr);

	struct kvm_cpuid_entry2 *sig = &c->entries[n++];
	memset(sig, 0, sizeof(*sig));
	sig->function = KVM_CPUID_SIGNATURE;
	sig->eax = KVM_CPUID_FEATURES;
	static const char kvm_sig[12] = KVM_SIGNATURE;
	memcpy(&sig->ebx, &kvm_sig[0], 4);
	memcpy(&sig->ecx, &kvm_sig[4], 4);
	memcpy(&sig->edx, &kvm_sig[8], 4);
	c->nent = n;
	*out = c;
	return 0;
}
