/* SPDX-License-Identifier: MIT */
/*
 * The x86 machine that `vireo run` builds: platform devices (COM1, i8042, CMOS/RTC, POST port,
 * reset control), PCI bus 0 with the virtio devices, and either a Linux kernel (direct boot)
 * or firmware (SeaBIOS) with fw_cfg. machine_prepare() does every check that needs no VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/arch.h"
#include "arch/x86/layout.h"
#include "backends/chardev.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/post.h"
#include "devices/reset_cf9.h"
#include "devices/serial_8250.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "backends/tap.h"
#include "vhost_user/frontend.h"
#include "vhost_user/frontend_net.h"
#include "firmware/boot_fw.h"
#include "pci/pci.h"
#include "pci/virtio_pci.h"
#include "virtio/virtio.h"
#include "vmm/machine.h"
#include "vmm/vm.h"

struct machine {
	const struct vm_config *cfg;
	bool have_plan;
	struct x86_boot_plan plan;
	/* Devices created before the VM (disks are opened and locked in machine_prepare); handed
	 * to the VM's PCI bus by machine_build, which then owns them. */
	struct virtio_dev *disks[VM_MAX_DISKS];
	char disk_names[VM_MAX_DISKS][16];
	unsigned nr_disks;
	struct virtio_dev *nets[VM_MAX_NETS]; /* like disks: TAPs opened in machine_prepare */
	char net_names[VM_MAX_NETS][16];
	unsigned nr_nets;
	struct chardev *console; /* owned by the VM once built; kept to restore the terminal */
	struct pci_bus *pci;
	struct reset_cf9 *cf9;
	struct vm *vm;
};

/* A --net device: its TAP opened (or back-end connected) before any VM exists. */
static int machine_net_create(const struct net_config *nc, const char *name,
			      struct virtio_dev **out, char *err, size_t errlen)
{
	struct vnet_params p;
	struct net_port *port;
	char why[256] = "";
	int r;

	vnet_params_from_config(nc, &p);
	if (nc->vhost_user)
		return vunet_create(nc, &p, name, out, err, errlen);
	r = tap_open(nc->tap, nc->queues, nc->mtu, &port, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "--net %s", why);
		return r;
	}
	return vnet_create(&p, port, name, out, err, errlen);
}

int machine_prepare(const struct vm_config *cfg, struct machine **out, char *err, size_t errlen)
{
	struct machine *m = calloc(1, sizeof(*m));
	int r = 0;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->cfg = cfg;
	if (cfg->kernel) {
		r = x86_boot_prepare(cfg->kernel, cfg->initrd, cfg->cmdline, cfg->mem_size, &m->plan,
				     err, errlen);
		m->have_plan = r == 0;
	} else if (cfg->firmware) {
		r = fw_check_image(cfg->firmware, err, errlen);
	}
	for (unsigned i = 0; r == 0 && i < cfg->nr_disks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		snprintf(m->disk_names[i], sizeof(m->disk_names[i]), "blk%u", i);
		if (d->vhost_user)
			r = vublk_create(d, m->disk_names[i], &m->disks[i], err, errlen);
		else
			r = vblk_create(d, m->disk_names[i], &m->disks[i], err, errlen);
		if (r == 0)
			m->nr_disks = i + 1;
	}
	for (unsigned i = 0; r == 0 && i < cfg->nr_nets; i++) {
		snprintf(m->net_names[i], sizeof(m->net_names[i]), "net%u", i);
		r = machine_net_create(&cfg->nets[i], m->net_names[i], &m->nets[i], err, errlen);
		if (r == 0)
			m->nr_nets = i + 1;
	}
	if (r < 0) {
		machine_destroy(m);
		return r;
	}
	*out = m;
	return 0;
}

static void machine_on_reset(void *opaque)
{
	struct vm *vm = opaque;
	vm_request_stop(vm, VM_EXIT_OK, "guest requested reset");
}


static void destroy_chardev(void *p)
{
	chardev_destroy(p);
}
static void destroy_serial(void *p)
{
	serial8250_destroy(p);
}
static void destroy_i8042(void *p)
{
	i8042_destroy(p);
}
static void destroy_post(void *p)
{
	post_destroy(p);
}
static void destroy_cmos(void *p)
{
	cmos_rtc_destroy(p);
}
static void destroy_cf9(void *p)
{
	reset_cf9_destroy(p);
}

/* Register a freshly created device for teardown, or destroy it at once on failure. */
static int own(struct vm *vm, const char *name, void *dev, void (*destroy)(void *), char *err,
	       size_t errlen)
{
	int r = vm_add_device(vm, name, dev, destroy);
	if (r < 0) {
		destroy(dev);
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
	}
	return r;
}

static int build_platform(struct machine *m, struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = m->cfg;
	struct serial8250 *uart;
	struct i8042 *kbd;
	struct post *post;
	struct cmos_rtc *cmos;
	int r;

	r = chardev_create(cfg->serial, cfg->serial_path, vm->loop, &m->console, err, errlen);
	if (r < 0)
		return r;
	if ((r = own(vm, "console", m->console, destroy_chardev, err, errlen)) < 0)
		return r;
	r = serial8250_create(&vm->pio, LAYOUT_PIO_SERIAL0, vm_irq_line(vm, LAYOUT_IRQ_SERIAL0),
			      m->console, &uart);
	if (r < 0 || (r = own(vm, "serial0", uart, destroy_serial, err, errlen)) < 0)
		goto fail;
	r = i8042_create(&vm->pio, machine_on_reset, vm, &kbd);
	if (r < 0 || (r = own(vm, "i8042", kbd, destroy_i8042, err, errlen)) < 0)
		goto fail;
	r = post_create(&vm->pio, LAYOUT_PIO_POST, &post);
	if (r < 0 || (r = own(vm, "post", post, destroy_post, err, errlen)) < 0)
		goto fail;
	r = cmos_rtc_create(&vm->pio, vm->ram_below_4g, vm->ram_above_4g, cfg->cpus, &cmos);
	if (r < 0 || (r = own(vm, "cmos", cmos, destroy_cmos, err, errlen)) < 0)
		goto fail;
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "platform devices: %s", strerror(-r));
	return r;
}

static int build_pci(struct machine *m, struct vm *vm, int *boot_slot, char *err, size_t errlen)
{
	int r = pci_bus_create(vm, &m->pci);
	if (r < 0) {
		snprintf(err, errlen, "pci: creating the host bridge: %s", strerror(-r));
		return r;
	}
	/* 0xCF9 (reset control) sits inside the host bridge's 0xCF8 dword. */
	r = reset_cf9_create(NULL, machine_on_reset, vm, &m->cf9);
	if (r < 0 || (r = own(vm, "cf9", m->cf9, destroy_cf9, err, errlen)) < 0) {
		if (!err[0])
			snprintf(err, errlen, "cf9: %s", strerror(-r));
		return r;
	}
	pci_bus_set_cf9(m->pci, &reset_cf9_ops, m->cf9);

	*boot_slot = FW_BOOT_NONE;
	for (unsigned i = 0; i < m->nr_disks; i++) {
		struct vpci_dev *vp;
		r = virtio_pci_add(vm, m->pci, m->disks[i], -1, &vp);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot attach to PCI: %s", m->disk_names[i],
				 strerror(-r));
			return r;
		}
		m->disks[i] = NULL; /* owned by the transport now */
		if (i == 0)
			*boot_slot = virtio_pci_pci_dev(vp)->slot;
	}
	for (unsigned i = 0; i < m->nr_nets; i++) {
		struct vpci_dev *vp;
		r = virtio_pci_add(vm, m->pci, m->nets[i], -1, &vp);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot attach to PCI: %s", m->net_names[i],
				 strerror(-r));
			return r;
		}
		m->nets[i] = NULL; /* owned by the transport now */
	}
	return 0;
}

int machine_build(struct machine *m, struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = m->cfg;
	int boot_slot;
	int r;

	err[0] = '\0';
	m->vm = vm;
	if ((r = build_platform(m, vm, err, errlen)) < 0)
		return r;
	if ((r = build_pci(m, vm, &boot_slot, err, errlen)) < 0)
		return r;

	if (m->have_plan) {
		struct boot_mem_info mi = {vm->ram_below_4g, vm->ram_above_4g};
		r = x86_boot_load(&m->plan, &vm->mem, &mi, cfg->cpus, &vm->boot, err, errlen);
		if (r < 0)
			return r;
		r = x86_mptable_write(&vm->mem, cfg->cpus);
		if (r < 0) {
			snprintf(err, errlen, "mptable: %s", strerror(-r));
			return r;
		}
		/* The kernel is in guest RAM now: drop the file's copy (up to tens of MiB of VMM
		 * RSS for the whole run otherwise). */
		x86_boot_plan_fini(&m->plan);
		m->have_plan = false;
		return 0;
	}
	struct fw_setup fs = {
		.firmware = cfg->firmware,
		.firmware_log = cfg->firmware_log,
		.boot_pci_dev = boot_slot,
		.boot_pci_fn = 0,
		.serial_console = true,
	};
	return fw_boot_setup(vm, &fs, &vm->boot, err, errlen);
}

void machine_restore_host(struct machine *m)
{
	if (m && m->console)
		chardev_restore_terminal(m->console);
}

void machine_destroy(struct machine *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->nr_disks; i++)
		if (m->disks[i])
			virtio_dev_destroy(m->disks[i]);
	for (unsigned i = 0; i < m->nr_nets; i++)
		virtio_dev_destroy(m->nets[i]);
	if (m->have_plan)
		x86_boot_plan_fini(&m->plan);
	free(m);
}
