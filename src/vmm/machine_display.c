/* SPDX-License-Identifier: MIT */
/* The graphics part of the machine: see machine_display.h. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backends/display.h"
#include "backends/display_png.h"
#include "backends/display_vnc.h"
#include "base/log.h"
#include "devices/bochs_display.h"
#include "devices/virtio/gpu.h"
#include "devices/virtio/input.h"
#include "firmware/boot_fw.h"
#include "pci/virtio_pci.h"
#include "vmm/machine_display.h"
#include "vmm/vm.h"

#define VGABIOS_NAME "vgabios-bochs-display.bin"
#define VGABIOS_DIR "/usr/share/seabios"
#define VGABIOS_MAX (256u * 1024)
#define FW_SCREEN_W 1024u
#define FW_SCREEN_H 768u

struct machine_display {
	const struct vm_config *cfg;
	struct display_vnc *vnc; /* until handed to the VM */
	uint8_t *vgabios;	 /* the firmware screen's option ROM, or NULL */
	size_t vgabios_len;
	char rom_name[32];
	struct display *display;
	struct display_snap *snap;
	struct display_vnc *vnc_running;
};

/* Beside the firmware image first (a user's own SeaBIOS build), then Debian's. */
static void load_vgabios(struct machine_display *md, const char *firmware)
{
	char path[4096];
	char *dup = strdup(firmware);
	const char *dirs[2] = {dup ? dirname(dup) : NULL, VGABIOS_DIR};
	for (unsigned i = 0; i < 2 && !md->vgabios; i++) {
		if (!dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirs[i], VGABIOS_NAME);
		if (read_file(path, VGABIOS_MAX, &md->vgabios, &md->vgabios_len) == 0)
			log_debug("firmware screen: VGA BIOS %s", path);
	}
	free(dup);
	if (!md->vgabios)
		log_warn("firmware screen: no %s beside %s or in %s: the firmware will not show on "
			 "the display (its console stays on the serial port)",
			 VGABIOS_NAME, firmware, VGABIOS_DIR);
	snprintf(md->rom_name, sizeof(md->rom_name), "pci%04x,%04x.rom", BOCHS_VENDOR_ID,
		 BOCHS_DEVICE_ID);
}

int machine_display_prepare(const struct vm_config *cfg, struct machine_display **out, char *err,
			    size_t errlen)
{
	const struct display_config *dc = &cfg->display;
	bool shown = dc->vnc || dc->screenshot;
	*out = NULL;
	if (!cfg->gpu.enabled && !cfg->input && !shown)
		return 0;
	struct machine_display *md = calloc(1, sizeof(*md));
	if (!md) {
		snprintf(err, errlen, "display: out of memory");
		return -ENOMEM;
	}
	md->cfg = cfg;
	if (dc->vnc) {
		int r = display_vnc_create(dc->vnc_addr, dc->vnc_port, dc->vnc_password, &md->vnc,
					   err, errlen);
		if (r < 0) {
			free(md);
			return r;
		}
	}
	if (cfg->firmware && shown)
		load_vgabios(md, cfg->firmware);
	*out = md;
	return 0;
}

static void stop_backends(void *opaque)
{
	struct machine_display *md = opaque;
	/* The last screenshot first, while every source still draws. */
	display_snap_destroy(md->snap);
	md->snap = NULL;
	display_vnc_destroy(md->vnc_running);
	md->vnc_running = NULL;
	display_set_keyboard(md->display, NULL, NULL);
	display_set_pointer(md->display, NULL, NULL);
}

static int add_virtio(struct vm *vm, struct pci_bus *bus, struct virtio_dev *dev, char *err,
		      size_t errlen)
{
	struct vpci_dev *vp;
	int r = virtio_pci_add(vm, bus, dev, -1, &vp);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot attach to PCI: %s", dev->name, strerror(-r));
		virtio_dev_destroy(dev);
	}
	return r;
}

int machine_display_build(struct machine_display *md, struct vm *vm, struct pci_bus *bus, char *err,
			  size_t errlen)
{
	if (!md)
		return 0;
	const struct vm_config *cfg = md->cfg;
	uint32_t w = cfg->gpu.enabled ? cfg->gpu.width : FW_SCREEN_W;
	uint32_t h = cfg->gpu.enabled ? cfg->gpu.height : FW_SCREEN_H;
	int r = display_create(vm->loop, w, h, &md->display);
	if (r < 0) {
		snprintf(err, errlen, "display: %s", strerror(-r));
		return r;
	}
	if ((r = vm_add_device(vm, "display", md->display, display_destroy_opaque)) < 0) {
		display_destroy(md->display);
		md->display = NULL;
		snprintf(err, errlen, "display: %s", strerror(-r));
		return r;
	}

	if (cfg->gpu.enabled) {
		struct vgpu_params p = {cfg->gpu.width, cfg->gpu.height, cfg->gpu.max_hostmem};
		struct virtio_dev *gpu;
		if ((r = vgpu_create(&p, md->display, "gpu0", &gpu, err, errlen)) < 0 ||
		    (r = add_virtio(vm, bus, gpu, err, errlen)) < 0)
			return r;
	}
	if (cfg->input) {
		struct virtio_dev *kbd, *tablet;
		if ((r = vinput_create(VINPUT_KEYBOARD, "input0", &kbd)) < 0) {
			snprintf(err, errlen, "input0: %s", strerror(-r));
			return r;
		}
		if ((r = add_virtio(vm, bus, kbd, err, errlen)) < 0)
			return r;
		if ((r = vinput_create(VINPUT_TABLET, "input1", &tablet)) < 0) {
			snprintf(err, errlen, "input1: %s", strerror(-r));
			return r;
		}
		if ((r = add_virtio(vm, bus, tablet, err, errlen)) < 0)
			return r;
		display_set_keyboard(md->display, &vinput_display_ops, kbd);
		display_set_pointer(md->display, &vinput_display_ops, tablet);
	}
	if (md->vgabios) {
		struct bochs_display *b;
		r = bochs_display_create(bus, &vm->kvm, md->display, vm->loop, &b);
		if (r < 0) {
			snprintf(err, errlen, "firmware screen: %s", strerror(-r));
			return r;
		}
		if ((r = vm_add_device(vm, "bochs-display", b, bochs_display_destroy_opaque)) < 0) {
			bochs_display_destroy(b);
			snprintf(err, errlen, "firmware screen: %s", strerror(-r));
			return r;
		}
	}

	/* Back-ends last: registered last, they stop first. */
	if (cfg->display.screenshot &&
	    (r = display_snap_create(md->display, vm->loop, cfg->display.screenshot, &md->snap)) <
		0) {
		snprintf(err, errlen, "--display screenshot=%s: %s", cfg->display.screenshot,
			 strerror(-r));
		return r;
	}
	if ((r = vm_add_device(vm, "display-backends", md, stop_backends)) < 0) {
		display_snap_destroy(md->snap);
		md->snap = NULL;
		snprintf(err, errlen, "display: %s", strerror(-r));
		return r;
	}
	if (md->vnc) {
		r = display_vnc_start(md->vnc, md->display);
		if (r < 0) {
			snprintf(err, errlen, "vnc: cannot start: %s", strerror(-r));
			return r;
		}
		md->vnc_running = md->vnc;
		md->vnc = NULL;
	}
	return 0;
}

unsigned machine_display_fw_files(struct machine_display *md, struct fw_file *files, unsigned cap)
{
	if (!md || !md->vgabios || cap < 1)
		return 0;
	files[0] = (struct fw_file){md->rom_name, md->vgabios, (uint32_t)md->vgabios_len};
	return 1;
}

struct display *machine_display_get(struct machine_display *md)
{
	return md ? md->display : NULL;
}

void machine_display_destroy(struct machine_display *md)
{
	if (!md)
		return;
	display_vnc_destroy(md->vnc);
	free(md->vgabios);
	free(md);
}
