/* SPDX-License-Identifier: MIT */
/* PCI for a real VM: KVM ops over src/kvm/kvm.h, the layout.h windows, VM ownership. */
#include <errno.h>
#include "arch/x86/layout.h"
#include "kvm/kvm.h"
#include "pci/pci.h"
#include "pci/virtio_pci.h"
#include "virtio/virtio.h"
#include "vmm/vm.h"

static int pk_gsi_alloc(void *opaque, uint32_t *gsi)
{
	return kvm_gsi_alloc(opaque, gsi);
}

static int pk_msi_route_set(void *opaque, uint32_t gsi, uint64_t addr, uint32_t data)
{
	return kvm_msi_route_set(opaque, gsi, addr, data);
}

static int pk_irqfd(void *opaque, int fd, uint32_t gsi, bool assign)
{
	return kvm_irqfd(opaque, fd, gsi, assign);
}

static int pk_ioeventfd(void *opaque, int fd, uint64_t addr, uint32_t len, bool pio, bool assign)
{
	return kvm_ioeventfd(opaque, fd, addr, len, pio, assign);
}

const struct pci_kvm_ops pci_kvm_ops_real = {
    .gsi_alloc = pk_gsi_alloc,
    .msi_route_set = pk_msi_route_set,
    .irqfd = pk_irqfd,
    .ioeventfd = pk_ioeventfd,
};

static void pci_bus_destroy_cb(void *opaque)
{
	pci_bus_destroy(opaque);
}

int pci_bus_create(struct vm *vm, struct pci_bus **out)
{
	struct pci_bus_params p = {
	    .pio = &vm->pio,
	    .mmio = &vm->mmio,
	    .kvm_ops = &pci_kvm_ops_real,
	    .kvm_opaque = &vm->kvm,
	    .intx = vm_irq_line(vm, 0), /* .gsi is set per line */
	    .ecam_gpa = LAYOUT_ECAM_GPA,
	    .ecam_size = LAYOUT_ECAM_SIZE,
	    .mmio32_start = LAYOUT_PCI_MMIO32_START,
	    .mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
	    .mmio64_start = layout_pci_mmio64_start(vm->ram_size),
	    .mmio64_size = LAYOUT_PCI_MMIO64_SIZE,
	};
	struct pci_bus *bus;
	int r = pci_bus_create_params(&p, &bus);
	if (r < 0)
		return r;
	r = vm_add_device(vm, "pci", bus, pci_bus_destroy_cb);
	if (r < 0) {
		pci_bus_destroy(bus);
		return r;
	}
	*out = bus;
	return 0;
}

static void vpci_destroy_cb(void *opaque)
{
	virtio_pci_destroy(opaque);
}

/* vm.pause / vm.resume / vm.counters for every virtio device on the bus. */
static void vdev_pause(void *opaque)
{
	virtio_dev_pause(opaque);
}

static void vdev_resume(void *opaque)
{
	virtio_dev_resume(opaque);
}

struct vdev_counter_ctx {
	vm_counter_fn emit;
	void *ctx;
	const char *dev;
};

static void vdev_counter(void *opaque, const char *name, uint64_t value)
{
	struct vdev_counter_ctx *c = opaque;
	c->emit(c->ctx, c->dev, name, value);
}

static void vdev_counters(void *opaque, vm_counter_fn emit, void *ctx)
{
	struct virtio_dev *vdev = opaque;
	struct vdev_counter_ctx c = {emit, ctx, vdev->name};
	virtio_dev_counters(vdev, vdev_counter, &c);
}

static const struct vm_dev_ops vdev_ops = {
    .pause = vdev_pause,
    .resume = vdev_resume,
    .counters = vdev_counters,
};

int virtio_pci_add(struct vm *vm, struct pci_bus *bus, struct virtio_dev *vdev, int slot,
		   struct vpci_dev **out)
{
	struct vpci_dev *v;
	int r = virtio_pci_create(bus, vdev, &vm->mem, vm->loop, slot, &v);
	if (r < 0)
		return r;
	r = vm_add_device(vm, vdev->name, v, vpci_destroy_cb);
	if (r < 0) {
		virtio_pci_detach(v); /* the caller still owns vdev */
		return r;
	}
	r = vm_add_hooks(vm, vdev->name, vdev, &vdev_ops);
	if (r < 0)
		return r; /* the VM owns the device already */
	if (out)
		*out = v;
	return 0;
}
