/* SPDX-License-Identifier: MIT */
/* The x86 machine assembly (interim: devices and loaders are wired as their areas land). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "devices/virtio/blk.h"
#include "pci/pci.h"
#include "pci/virtio_pci.h"
#include "vmm/machine.h"
#include "vmm/vm.h"

struct machine {
	const struct vm_config *cfg;
	struct pci_bus *pci; /* owned by the vm (vm_add_device), destroyed at vm_destroy */
};

int machine_prepare(const struct vm_config *cfg, struct machine **out, char *err, size_t errlen)
{
	struct machine *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->cfg = cfg;
	*out = m;
	return 0;
}

/* --disk path=...: virtio-blk devices on virtio-pci (vhost-user disks are attached elsewhere). */
static int machine_add_disks(struct machine *m, struct vm *vm, char *err, size_t errlen)
{
	for (unsigned i = 0; i < m->cfg->nr_disks; i++) {
		const struct disk_config *dc = &m->cfg->disks[i];
		struct virtio_dev *vd;
		char name[16];
		if (!dc->path)
			continue;
		snprintf(name, sizeof(name), "blk%u", i);
		int r = vblk_create(dc, name, &vd, err, errlen);
		if (r < 0)
			return r;
		r = virtio_pci_add(vm, m->pci, vd, -1, NULL);
		if (r < 0) {
			virtio_dev_destroy(vd);
			snprintf(err, errlen, "disk %s: attaching to PCI: %s", dc->path, strerror(-r));
			return r;
		}
	}
	return 0;
}

int machine_build(struct machine *m, struct vm *vm, char *err, size_t errlen)
{
	/* Every VM has PCI bus 0 with the host bridge (0xCF8/0xCFC, ECAM). Virtio devices plug
	 * in with virtio_pci_add(vm, m->pci, vdev, -1, NULL) (pci/virtio_pci.h). */
	int r = pci_bus_create(vm, &m->pci);
	if (r < 0) {
		snprintf(err, errlen, "pci: creating the host bridge: %s", strerror(-r));
		return r;
	}
	r = machine_add_disks(m, vm, err, errlen);
	if (r < 0)
		return r;
	snprintf(err, errlen, "machine: not wired yet");
	return -ENOSYS;
}

void machine_restore_host(struct machine *m)
{
	(void)m;
}

void machine_destroy(struct machine *m)
{
	free(m);
}
