/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "arch/x86/layout.h"
#include "kvm/kvm.h"

struct kvm_cap_req {
	int cap;
	const char *name;
};

/* Every capability vireo relies on; a missing one is reported by name. */
static const struct kvm_cap_req kvm_required_caps[] = {
	{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
	{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
	{KVM_CAP_PIT2, "KVM_CAP_PIT2"},
	{KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
	{KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
	{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	{KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
	{KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
	{KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
	{KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI"},
	{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
	{KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"},
	{KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
};

bool kvm_host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

static int kvm_fetch_cpuid(struct kvm *kvm)
{
	for (int nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c =
			calloc(1, sizeof(*c) + (size_t)nent * sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return -ENOMEM;
		c->nent = (uint32_t)nent;
		if (ioctl(kvm->sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			kvm->supported_cpuid = c;
			return 0;
		}
		int e = errno;
		free(c);
		if (e != E2BIG)
			return -e;
	}
	return -E2BIG;
}

int kvm_open(struct kvm *kvm, const char **why)
{
	memset(kvm, 0, sizeof(*kvm));
	kvm->vm_fd = -1;
	kvm->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm->sys_fd < 0) {
		int e = -errno;
		*why = e == -ENOENT ? "/dev/kvm does not exist (is the kvm module loaded?)"
				    : "cannot open /dev/kvm";
		return e;
	}
	if (ioctl(kvm->sys_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		*why = "unsupported KVM API version (need 12)";
		goto fail_inval;
	}
	for (size_t i = 0; i < ARRAY_SIZE(kvm_required_caps); i++) {
		if (ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
			*why = kvm_required_caps[i].name;
			close(kvm->sys_fd);
			kvm->sys_fd = -1;
			return -ENOTSUP;
		}
	}
	int max = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	kvm->max_vcpus = max > 0 ? (unsigned)max : 1;
	int slots = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	kvm->nr_memslots = slots > 0 ? (unsigned)slots : 32;
	kvm->run_mmap_size = ioctl(kvm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->run_mmap_size <= 0) {
		*why = "KVM_GET_VCPU_MMAP_SIZE failed";
		goto fail_inval;
	}
	int r = kvm_fetch_cpuid(kvm);
	if (r < 0) {
		*why = "KVM_GET_SUPPORTED_CPUID failed";
		close(kvm->sys_fd);
		kvm->sys_fd = -1;
		return r;
	}
	kvm->pvm = kvm_host_is_pvm();
	if (pthread_mutex_init(&kvm->routes_lock, NULL)) {
		*why = "mutex init failed";
		goto fail_inval;
	}
	return 0;
fail_inval:
	close(kvm->sys_fd);
	kvm->sys_fd = -1;
	free(kvm->supported_cpuid);
	kvm->supported_cpuid = NULL;
	return -EINVAL;
}

static int kvm_commit_routes_locked(struct kvm *kvm)
{
	if (ioctl(kvm->vm_fd, KVM_SET_GSI_ROUTING, kvm->routes) < 0)
		return -errno;
	return 0;
}

static void kvm_route_irqchip(struct kvm_irq_routing *routes, uint32_t gsi, uint32_t chip,
			      uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &routes->entries[routes->nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/* The routing is a PC's (docs/acpi.md, "Interrupt routing"): GSI 0, which KVM's in-kernel PIT
 * raises, goes to PIC master pin 0 and IOAPIC pin 2, as ISA IRQ 0 is wired on a PC and as the
 * MADT (interrupt source override IRQ 0 -> GSI 2), the MP table and SeaBIOS's own tables
 * (fw_cfg IRQ0_OVERRIDE) say. GSI 2 is not routed: the PIC cascade has no ISA device, and a
 * second route to IOAPIC pin 2 would make KVM report that pin's EOIs for GSI 2, so the PIT
 * would never see its interrupt acknowledged and stop ticking. The other GSIs 1-15 go to their
 * PIC pin and the IOAPIC pin of the same number, 16-23 to the IOAPIC only. */
void kvm_routes_init_pc(struct kvm_irq_routing *routes)
{
	routes->nr = 0;
	routes->flags = 0;
	for (uint32_t gsi = 0; gsi < KVM_IRQCHIP_PINS; gsi++) {
		if (gsi == KVM_GSI_CASCADE)
			continue;
		if (gsi < 8)
			kvm_route_irqchip(routes, gsi, KVM_IRQCHIP_PIC_MASTER, gsi);
		else if (gsi < 16)
			kvm_route_irqchip(routes, gsi, KVM_IRQCHIP_PIC_SLAVE, gsi - 8);
		kvm_route_irqchip(routes, gsi, KVM_IRQCHIP_IOAPIC, kvm_gsi_ioapic_pin(gsi));
	}
}

int kvm_create_vm(struct kvm *kvm, const char **why)
{
	kvm->vm_fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, 0);
	if (kvm->vm_fd < 0) {
		*why = "KVM_CREATE_VM failed";
		return -errno;
	}
	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS_GPA) < 0) {
		*why = "KVM_SET_TSS_ADDR failed";
		return -errno;
	}
	uint64_t idmap = LAYOUT_IDENTITY_MAP_GPA;
	if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		*why = "KVM_SET_IDENTITY_MAP_ADDR failed";
		return -errno;
	}
	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		*why = "KVM_CREATE_IRQCHIP failed";
		return -errno;
	}
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		*why = "KVM_CREATE_PIT2 failed";
		return -errno;
	}
	/* The PC routing (kvm_routes_init_pc), then MSI routes as devices ask for them. */
	kvm->routes = calloc(1, sizeof(*kvm->routes) +
					KVM_MAX_ROUTES * sizeof(struct kvm_irq_routing_entry));
	if (!kvm->routes) {
		*why = "out of memory";
		return -ENOMEM;
	}
	kvm_routes_init_pc(kvm->routes);
	kvm->next_gsi = KVM_IRQCHIP_PINS;
	pthread_mutex_lock(&kvm->routes_lock);
	int r = kvm_commit_routes_locked(kvm);
	pthread_mutex_unlock(&kvm->routes_lock);
	if (r < 0)
		*why = "KVM_SET_GSI_ROUTING failed";
	return r;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->sys_fd >= 0)
		close(kvm->sys_fd);
	if (kvm->sys_fd >= 0 || kvm->vm_fd >= 0)
		pthread_mutex_destroy(&kvm->routes_lock);
	kvm->vm_fd = kvm->sys_fd = -1;
	free(kvm->supported_cpuid);
	free(kvm->routes);
	kvm->supported_cpuid = NULL;
	kvm->routes = NULL;
}

int kvm_add_memslot(struct kvm *kvm, uint64_t gpa, uint64_t size, void *hva, bool readonly)
{
	if (kvm->next_slot >= kvm->nr_memslots)
		return -ENOSPC;
	struct kvm_userspace_memory_region r = {
		.slot = kvm->next_slot,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	kvm->next_slot++;
	return 0;
}

int kvm_memslot_alloc(struct kvm *kvm, uint32_t *slot)
{
	if (kvm->next_slot >= kvm->nr_memslots)
		return -ENOSPC;
	*slot = kvm->next_slot++;
	return 0;
}

int kvm_memslot_set(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = size ? gpa : 0,
		.memory_size = size,
		.userspace_addr = size ? (uint64_t)(uintptr_t)hva : 0,
	};
	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	return 0;
}

int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level)
{
	struct kvm_irq_level l = {.irq = gsi, .level = (uint32_t)level};
	if (ioctl(kvm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		return -errno;
	return 0;
}

int kvm_gsi_alloc(struct kvm *kvm, uint32_t *gsi)
{
	pthread_mutex_lock(&kvm->routes_lock);
	if (kvm->next_gsi >= KVM_MAX_ROUTES) {
		pthread_mutex_unlock(&kvm->routes_lock);
		return -ENOSPC;
	}
	*gsi = kvm->next_gsi++;
	pthread_mutex_unlock(&kvm->routes_lock);
	return 0;
}

static struct kvm_irq_routing_entry *kvm_find_msi_locked(struct kvm *kvm, uint32_t gsi)
{
	for (uint32_t i = 0; i < kvm->routes->nr; i++) {
		struct kvm_irq_routing_entry *e = &kvm->routes->entries[i];
		if (e->gsi == gsi && e->type == KVM_IRQ_ROUTING_MSI)
			return e;
	}
	return NULL;
}

int kvm_msi_route_set(struct kvm *kvm, uint32_t gsi, uint64_t addr, uint32_t data)
{
	if (gsi < KVM_IRQCHIP_PINS)
		return -EINVAL;
	pthread_mutex_lock(&kvm->routes_lock);
	struct kvm_irq_routing_entry *e = kvm_find_msi_locked(kvm, gsi);
	if (!e) {
		if (kvm->routes->nr >= KVM_MAX_ROUTES) {
			pthread_mutex_unlock(&kvm->routes_lock);
			return -ENOSPC;
		}
		e = &kvm->routes->entries[kvm->routes->nr++];
		memset(e, 0, sizeof(*e));
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
	} else if (e->u.msi.address_lo == (uint32_t)addr &&
		   e->u.msi.address_hi == (uint32_t)(addr >> 32) && e->u.msi.data == data) {
		pthread_mutex_unlock(&kvm->routes_lock);
		return 0;
	}
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
	int r = kvm_commit_routes_locked(kvm);
	pthread_mutex_unlock(&kvm->routes_lock);
	return r;
}

int kvm_msi_route_del(struct kvm *kvm, uint32_t gsi)
{
	pthread_mutex_lock(&kvm->routes_lock);
	struct kvm_irq_routing_entry *e = kvm_find_msi_locked(kvm, gsi);
	if (!e) {
		pthread_mutex_unlock(&kvm->routes_lock);
		return -ENOENT;
	}
	*e = kvm->routes->entries[--kvm->routes->nr];
	int r = kvm_commit_routes_locked(kvm);
	pthread_mutex_unlock(&kvm->routes_lock);
	return r;
}

int kvm_signal_msi(struct kvm *kvm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	if (ioctl(kvm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		return -errno;
	return 0;
}

int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd f = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	if (ioctl(kvm->vm_fd, KVM_IRQFD, &f) < 0)
		return -errno;
	return 0;
}

int kvm_ioeventfd(struct kvm *kvm, int fd, uint64_t addr, uint32_t len, bool pio, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	if (ioctl(kvm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}
