/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "backends/chardev.h"
#include "backends/uds.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/console.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "pci/virtio_pci.h"
#include "virtio/virtio.h"
#include "vmm/machine_devs.h"
#include "vmm/vm.h"

static void keep(struct machine_devs *d, struct virtio_dev *dev)
{
	d->pending[d->nr_pending++] = dev;
}

/* A socket back-end is bound only once the VM exists (it needs the event loop): refuse an
 * unusable path now, as a configuration error. */
static int check_socket(const char *what, const char *path, char *err, size_t errlen)
{
	int r = uds_check(path);
	if (r < 0)
		snprintf(err, errlen, "%s socket=%s: %s", what, path,
			 r == -EEXIST	    ? "exists and is not a socket"
			 : r == -EADDRINUSE ? "in use by another process"
					    : strerror(-r));
	return r;
}

int mdevs_prepare(struct machine_devs *d, const struct vm_config *cfg, char *err, size_t errlen)
{
	int r;
	memset(d, 0, sizeof(*d));
	if (cfg->console.enabled && cfg->console.mode == SERIAL_SOCKET &&
	    (r = check_socket("--console", cfg->console.path, err, errlen)) < 0)
		return r;
	if (cfg->serial == SERIAL_SOCKET &&
	    (r = check_socket("--serial", cfg->serial_path, err, errlen)) < 0)
		return r;
	if (cfg->balloon.enabled) {
		r = vbal_create(&cfg->balloon, cfg->mem_size, "balloon0", &d->balloon, err, errlen);
		if (r < 0)
			return r;
		keep(d, d->balloon);
	}
	if (cfg->vsock.enabled) {
		r = vsock_create(&cfg->vsock, "vsock0", &d->vsock, err, errlen);
		if (r < 0)
			return r;
		keep(d, d->vsock);
	}
	if (cfg->rng.enabled) {
		r = vrng_create_rate("rng0", cfg->rng.rate, &d->rng);
		if (r < 0) {
			snprintf(err, errlen, "rng0: %s", strerror(-r));
			return r;
		}
		keep(d, d->rng);
	}
	return 0;
}

int mdevs_build(struct machine_devs *d, const struct vm_config *cfg, struct vm *vm,
		struct pci_bus *pci, char *err, size_t errlen)
{
	int r;
	if (cfg->console.enabled) {
		struct chardev *chr;
		r = chardev_create(cfg->console.mode, cfg->console.path, vm->loop, &chr, err,
				   errlen);
		if (r < 0)
			return r;
		if (chardev_pty_path(chr))
			fprintf(stderr, "vireo: console: %s\n", chardev_pty_path(chr));
		r = vcon_create(chr, "console0", &d->console); /* owns chr from here on */
		if (r < 0) {
			snprintf(err, errlen, "console0: %s", strerror(-r));
			return r;
		}
		d->console_chr = chr;
		keep(d, d->console);
	}
	for (unsigned i = 0; i < d->nr_pending; i++) {
		struct virtio_dev *dev = d->pending[i];
		r = virtio_pci_add(vm, pci, dev, -1, NULL);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot attach to PCI: %s", dev->name,
				 strerror(-r));
			return r;
		}
		d->pending[i] = NULL; /* owned by the transport now */
	}
	d->nr_pending = 0;
	return 0;
}

void mdevs_restore_host(struct machine_devs *d)
{
	if (d->console_chr)
		chardev_restore_terminal(d->console_chr);
}

void mdevs_fini(struct machine_devs *d)
{
	for (unsigned i = 0; i < d->nr_pending; i++)
		virtio_dev_destroy(d->pending[i]);
	memset(d, 0, sizeof(*d));
}
