/* SPDX-License-Identifier: MIT */
/*
 * The optional virtio devices of `vireo run` (--balloon, --console virtio, --vsock, --rng):
 * created from struct vm_config, attached to PCI bus 0 after the disks. Part of the machine
 * (machine.c); split out to keep device wiring in one place.
 */
#ifndef VIREO_VMM_MACHINE_DEVS_H
#define VIREO_VMM_MACHINE_DEVS_H

#include <stddef.h>
#include "base/util.h"
#include "config/config.h"

struct vm;
struct pci_bus;
struct virtio_dev;
struct chardev;

struct machine_devs {
	/* Created in mdevs_prepare / mdevs_build; NULL once handed to the transport. */
	struct virtio_dev *pending[4];
	unsigned nr_pending;
	/* Live devices (owned by the VM once built), for the API and host restore. */
	struct virtio_dev *balloon;
	struct virtio_dev *console;
	struct virtio_dev *vsock;
	struct virtio_dev *rng;
	struct chardev *console_chr;
};

/* Everything that needs no VM: validates the balloon, binds the vsock socket. */
int mdevs_prepare(struct machine_devs *d, const struct vm_config *cfg, char *err,
		  size_t errlen) WUR;
/* Create the rest (the console needs the event loop) and attach all to the PCI bus. */
int mdevs_build(struct machine_devs *d, const struct vm_config *cfg, struct vm *vm,
		struct pci_bus *pci, char *err, size_t errlen) WUR;
void mdevs_restore_host(struct machine_devs *d);
/* Destroys what was never attached. */
void mdevs_fini(struct machine_devs *d);

#endif
