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
#include "arch/x86/acpi.h"
#include "arch/x86/arch.h"
#include "arch/x86/layout.h"
#include "backends/chardev.h"
#include "devices/acpi_pm.h"
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
#include "vmm/machine_display.h"
#include "devices/virtio/balloon.h"
#include "vmm/machine_devs.h"
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
	struct machine_display *md; /* --gpu, --input, --display */
	struct acpi_pm *pm; /* owned by the VM */
	struct vm *vm;
	bool serial_append; /* a reboot in place: keep the serial file's earlier output */
	/* Registered by the devices that provide them (ACPI PM, balloon). */
	void (*power_button)(void *opaque);
	void *power_button_opaque;
	int (*balloon_resize)(void *opaque, uint64_t bytes);
	void *balloon_opaque;
	struct machine_devs devs; /* balloon, virtio console, vsock, rng */
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
	if (r == 0)
		r = machine_display_prepare(cfg, &m->md, err, errlen);
	if (r == 0)
		r = mdevs_prepare(&m->devs, cfg, err, errlen);
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

static void machine_on_poweroff(void *opaque)
{
	struct vm *vm = opaque;
	vm_request_stop(vm, VM_EXIT_OK, "guest powered off (ACPI S5)");
}

static void machine_press_acpi_button(void *opaque)
{
	acpi_pm_press_power_button(opaque);
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
static void destroy_acpi_pm(void *p)
{
	acpi_pm_destroy(p);
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

	r = (m->serial_append ? chardev_create_append : chardev_create)(
		cfg->serial, cfg->serial_path, vm->loop, &m->console, err, errlen);
	if (r < 0)
		return r;
	if ((r = own(vm, "console", m->console, destroy_chardev, err, errlen)) < 0)
		return r;
	if (chardev_pty_path(m->console))
		fprintf(stderr, "vireo: serial: %s\n", chardev_pty_path(m->console));
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
	r = acpi_pm_create(&vm->pio, LAYOUT_PIO_ACPI_PM, vm_irq_line(vm, LAYOUT_IRQ_SCI),
			   machine_on_poweroff, vm, &m->pm);
	if (r < 0 || (r = own(vm, "acpi-pm", m->pm, destroy_acpi_pm, err, errlen)) < 0)
		goto fail;
	machine_set_power_button(m, machine_press_acpi_button, m->pm);
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "platform devices: %s", strerror(-r));
	return r;
}

/* vm.resize desired_balloon: the balloon's new target. */
static int machine_balloon_target(void *opaque, uint64_t bytes)
{
	return vbal_set_target(opaque, bytes);
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
	r = mdevs_build(&m->devs, m->cfg, vm, m->pci, err, errlen);
	if (r == 0 && m->devs.balloon)
		machine_set_balloon(m, machine_balloon_target, m->devs.balloon);
	return r;
}

/* What the ACPI tables describe: this machine (layout.h, the PCI windows, the PM block). */
void machine_acpi_params(unsigned nr_cpus, uint64_t mem_size, struct acpi_params *p)
{
	memset(p, 0, sizeof(*p));
	p->nr_cpus = nr_cpus;
	p->ecam_gpa = LAYOUT_ECAM_GPA;
	p->ecam_buses = (unsigned)(LAYOUT_ECAM_SIZE / MiB);
	p->mmio32_start[0] = LAYOUT_PCI_MMIO32_START;
	p->mmio32_end[0] = LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE;
	p->mmio32_start[1] = LAYOUT_PCI_MMIO32_HIGH_START;
	p->mmio32_end[1] = LAYOUT_PCI_MMIO32_HIGH_END;
	p->mmio64_start = layout_pci_mmio64_start(mem_size);
	p->mmio64_end = p->mmio64_start + LAYOUT_PCI_MMIO64_SIZE;
	p->pm_base = LAYOUT_PIO_ACPI_PM;
	p->sci_irq = LAYOUT_IRQ_SCI;
	p->pci_intx_gsi = pci_slot_irq;
}

static int build_boot(struct machine *m, struct vm *vm, const struct acpi_tables *acpi,
		      int boot_slot, char *err, size_t errlen)
{
	const struct vm_config *cfg = m->cfg;
	int r;

	if (m->have_plan) {
		if (acpi->tables_len > LAYOUT_ACPI_TABLES_MAX) {
			snprintf(err, errlen, "acpi: the tables (%u bytes) do not fit at 0x%llx",
				 acpi->tables_len, LAYOUT_ACPI_TABLES_GPA);
			return -ENOSPC;
		}
		r = acpi_write(acpi, &vm->mem, LAYOUT_ACPI_TABLES_GPA, LAYOUT_ACPI_RSDP_GPA, err,
			       errlen);
		if (r < 0)
			return r;
		struct boot_mem_info mi = {vm->ram_below_4g, vm->ram_above_4g, LAYOUT_ACPI_RSDP_GPA};
		/* (writes the MP table too, for guests booted with acpi=off) */
		r = x86_boot_load(&m->plan, &vm->mem, &mi, cfg->cpus, &vm->boot, err, errlen);
		if (r < 0)
			return r;
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
		.acpi = acpi,
	};
	struct fw_file files[1];
	fs.files = files;
	fs.nr_files = machine_display_fw_files(m->md, files, 1);
	return fw_boot_setup(vm, &fs, &vm->boot, err, errlen);
}

int machine_build(struct machine *m, struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = m->cfg;
	struct acpi_params ap;
	struct acpi_tables acpi;
	int boot_slot;
	int r;

	err[0] = '\0';
	m->vm = vm;
	if ((r = build_platform(m, vm, err, errlen)) < 0)
		return r;
	if ((r = build_pci(m, vm, &boot_slot, err, errlen)) < 0)
		return r;
	if ((r = machine_display_build(m->md, vm, m->pci, err, errlen)) < 0)
		return r;

	machine_acpi_params(cfg->cpus, vm->ram_size, &ap);
	r = acpi_build(&ap, &acpi);
	if (r < 0) {
		snprintf(err, errlen, "acpi: cannot build the tables for %u CPUs: %s", cfg->cpus,
			 strerror(-r));
		return r;
	}
	r = build_boot(m, vm, &acpi, boot_slot, err, errlen);
	acpi_tables_fini(&acpi);
	return r;
}

int machine_power_button(struct machine *m)
{
	if (!m->power_button)
		return -ENOTSUP;
	m->power_button(m->power_button_opaque);
	return 0;
}

void machine_set_power_button(struct machine *m, void (*press)(void *opaque), void *opaque)
{
	m->power_button = press;
	m->power_button_opaque = opaque;
}

int machine_balloon_resize(struct machine *m, uint64_t bytes)
{
	return m->balloon_resize ? m->balloon_resize(m->balloon_opaque, bytes) : -ENOTSUP;
}

void machine_set_balloon(struct machine *m, int (*resize)(void *opaque, uint64_t bytes),
			 void *opaque)
{
	m->balloon_resize = resize;
	m->balloon_opaque = opaque;
}

void machine_keep_serial_output(struct machine *m)
{
	m->serial_append = true;
}

struct chardev *machine_console(struct machine *m)
{
	return m ? m->console : NULL;
}

void machine_restore_host(struct machine *m)
{
	if (m && m->console)
		chardev_restore_terminal(m->console);
	if (m)
		mdevs_restore_host(&m->devs);
}

struct virtio_dev *machine_balloon(struct machine *m)
{
	return m ? m->devs.balloon : NULL;
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
	mdevs_fini(&m->devs);
	if (m->have_plan)
		x86_boot_plan_fini(&m->plan);
	machine_display_destroy(m->md);
	free(m);
}
