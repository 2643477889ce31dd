/* SPDX-License-Identifier: MIT */
/*
 * The graphics part of the machine (--gpu, --input, --display): the display core, virtio-gpu,
 * the virtio keyboard and tablet, the firmware screen (bochs-display, for --firmware with a
 * --display) and the back-ends (VNC server, screenshot trigger). Split out of machine.c.
 *
 * Teardown order (vm_add_device destroys in reverse): the back-ends first (no viewer input
 * reaches a freed device, the last screenshot still sees the screen), then the devices, then
 * the display core.
 */
#ifndef VIREO_VMM_MACHINE_DISPLAY_H
#define VIREO_VMM_MACHINE_DISPLAY_H

#include <stddef.h>
#include "base/util.h"
#include "config/config.h"

struct vm;
struct display;
struct pci_bus;
struct fw_file;
struct machine_display;

/* Before the VM: bind the VNC socket, read its password, find the VGA BIOS for the firmware
 * screen. *out is NULL when nothing graphical was asked for. */
int machine_display_prepare(const struct vm_config *cfg, struct machine_display **out, char *err,
			    size_t errlen) WUR;
/* Create the display and the devices on bus (the VM owns them afterwards), then start the
 * back-ends. NULL md: nothing to do. */
int machine_display_build(struct machine_display *md, struct vm *vm, struct pci_bus *bus, char *err,
			  size_t errlen) WUR;
/* The fw_cfg files the firmware screen needs (its VGA BIOS); returns how many (0 or 1). */
unsigned machine_display_fw_files(struct machine_display *md, struct fw_file *files, unsigned cap);
/* The display (NULL before machine_display_build or without graphics): what an API route
 * passes to display_screenshot(). */
struct display *machine_display_get(struct machine_display *md);
/* Free what the VM does not own. NULL-safe. */
void machine_display_destroy(struct machine_display *md);

#endif
