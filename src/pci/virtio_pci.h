/* SPDX-License-Identifier: MIT */
/*
 * The virtio-pci modern transport (VirtIO 1.2 section 4.1) for any struct virtio_dev:
 * vendor 0x1AF4, device 0x1040 + type, revision 1. Guest-visible layout:
 *
 *   BAR4 (64-bit, 16 KiB): 0x0000 common config, 0x1000 ISR, 0x2000 device config,
 *                          0x3000 notify (4 bytes per queue, notify_off_multiplier 4)
 *   BAR1 (32-bit, 4 KiB):  MSI-X table (one vector per queue + one for config) and PBA
 *   capabilities: COMMON, NOTIFY, ISR, DEVICE (if the device has config), PCI_CFG, MSI-X
 *
 * Kicks: each queue's notify address has an eventfd registered with KVM as an ioeventfd
 * (while BAR4 is decoded) and watched on the event loop, so device queue_notify runs on the
 * loop thread. A notify write that still reaches the MMIO handler writes the same eventfd.
 *
 * Interrupts: MSI-X vectors when the driver enabled MSI-X, else ISR + INTx (level, cleared
 * by reading ISR).
 */
#ifndef VIREO_PCI_VIRTIO_PCI_H
#define VIREO_PCI_VIRTIO_PCI_H

#include <stdint.h>
#include "base/util.h"

struct pci_bus;
struct virtio_dev;
struct guest_mem;
struct ev_loop;
struct vm;
struct vpci_dev;

#define VPCI_VENDOR_ID 0x1af4
#define VPCI_DEVICE_ID_BASE 0x1040
#define VPCI_SUBSYS_ID 0x1100
#define VPCI_BAR 4
#define VPCI_MSIX_BAR 1
#define VPCI_BAR_SIZE 0x4000
#define VPCI_COMMON_OFF 0x0000
#define VPCI_ISR_OFF 0x1000
#define VPCI_DEVICE_OFF 0x2000
#define VPCI_NOTIFY_OFF 0x3000
#define VPCI_NOTIFY_MULT 4
#define VPCI_MAX_QUEUES 127 /* one MSI-X vector each plus config */

/* Put vdev on the bus at slot (1..31, or -1 for any). mem/loop: guest RAM and the VMM loop
 * (loop may be NULL in tests: kicks then run synchronously on the calling thread).
 * On success the transport owns vdev (virtio_pci_destroy destroys it); on failure the caller
 * still does. */
int virtio_pci_create(struct pci_bus *bus, struct virtio_dev *vdev, const struct guest_mem *mem,
		      struct ev_loop *loop, int slot, struct vpci_dev **out) WUR;
/* Unplug, destroy the device (reset drains its I/O), release eventfds and MSI-X.
 * Call with vCPUs stopped and from the loop thread or after the loop stopped. */
void virtio_pci_destroy(struct vpci_dev *v);
/* Tear the transport down but keep vdev (reset, unbound; the caller owns it again). */
void virtio_pci_detach(struct vpci_dev *v);

/* For a VM: virtio_pci_create with vm->mem and vm->loop, owned by the VM afterwards
 * (destroyed at vm_destroy). This is what device constructors plug into. */
int virtio_pci_add(struct vm *vm, struct pci_bus *bus, struct virtio_dev *vdev, int slot,
		   struct vpci_dev **out) WUR;

/* Introspection for tests and the MP table/ACPI code. */
struct pci_dev *virtio_pci_pci_dev(struct vpci_dev *v);

#endif
