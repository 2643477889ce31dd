/* SPDX-License-Identifier: MIT */
/*
 * /dev/kvm and the VM file descriptor: capability checks, memslots, the in-kernel irqchip,
 * GSI routing (irqchip pins + MSI), irqfd and ioeventfd.
 */
#ifndef VIREO_KVM_KVM_H
#define VIREO_KVM_KVM_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include "base/util.h"

#define KVM_MAX_ROUTES 1024
#define KVM_IRQCHIP_PINS 24 /* GSIs 0..23: PIC + IOAPIC */
#define KVM_GSI_CASCADE 2    /* not routed: see kvm_create_vm() */

/* The IOAPIC pin of irqchip GSI 0..23: the PC wiring, ISA IRQ 0 (the PIT) on pin 2. */
static inline uint32_t kvm_gsi_ioapic_pin(uint32_t gsi)
{
	return gsi == 0 ? 2 : gsi;
}

struct kvm {
	int sys_fd;
	int vm_fd;
	int run_mmap_size;
	unsigned max_vcpus;
	unsigned nr_memslots;
	bool pvm;                      /* software KVM (kvm_pvm): kernel-mode guest code is emulated */
	struct kvm_cpuid2 *supported_cpuid;
	uint32_t next_slot;
	pthread_mutex_t routes_lock;
	struct kvm_irq_routing *routes; /* the full table we hand to KVM_SET_GSI_ROUTING */
	uint32_t next_gsi;
};

/* Open /dev/kvm, check the API version and every capability vireo uses. Does not create a VM.
 * On failure *why names the problem (static string). */
int kvm_open(struct kvm *kvm, const char **why) WUR;
/* Create the VM: TSS and identity-map addresses, in-kernel irqchip, PIT2, the PC's GSI routing
 * (GSI 0 -> PIC pin 0 + IOAPIC pin 2, GSI 2 unrouted, GSI n -> pin n otherwise). */
int kvm_create_vm(struct kvm *kvm, const char **why) WUR;
void kvm_close(struct kvm *kvm);

int kvm_add_memslot(struct kvm *kvm, uint64_t gpa, uint64_t size, void *hva, bool readonly) WUR;
/* A memslot number of its own for memory that moves (a PCI BAR backed by host memory). */
int kvm_memslot_alloc(struct kvm *kvm, uint32_t *slot) WUR;
/* Map [gpa, gpa + size) to hva in that slot, or remove the mapping (size 0). */
int kvm_memslot_set(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva) WUR;
int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level) WUR;
/* Allocate a GSI above the irqchip pins for an MSI route. */
int kvm_gsi_alloc(struct kvm *kvm, uint32_t *gsi) WUR;
/* Install or update the MSI route for gsi and commit the routing table. */
int kvm_msi_route_set(struct kvm *kvm, uint32_t gsi, uint64_t addr, uint32_t data) WUR;
int kvm_msi_route_del(struct kvm *kvm, uint32_t gsi) WUR;
int kvm_signal_msi(struct kvm *kvm, uint64_t addr, uint32_t data) WUR;
int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign) WUR;
/* ioeventfd on a PIO port or MMIO address; len 0 matches any width (MMIO only). */
int kvm_ioeventfd(struct kvm *kvm, int fd, uint64_t addr, uint32_t len, bool pio, bool assign) WUR;

/* Fill `routes` (room for at least 2 * KVM_IRQCHIP_PINS entries) with the irqchip routes of a
 * PC: see kvm.c. Exported for the unit tests. */
void kvm_routes_init_pc(struct kvm_irq_routing *routes);

/* True when /dev/kvm is served by the kvm_pvm module (no VT-x/AMD-V). */
bool kvm_host_is_pvm(void);

#endif
