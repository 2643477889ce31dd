/* SPDX-License-Identifier: MIT */
/*
 * The firmware's screen: a bochs-display compatible PCI device (1234:1111, class VGA), the one
 * SeaBIOS's VGA BIOS build `vgabios-bochs-display.bin` drives (docs/devices/display.md has the
 * choice and the reasons).
 *
 *   BAR0  linear framebuffer (BOCHS_VRAM_SIZE, prefetchable); backed by host memory and
 *         mapped into the guest as a KVM memslot that follows the BAR, so firmware drawing
 *         text pixel by pixel never exits to the VMM
 *   BAR2  4 KiB of registers: 0x000 EDID, 0x400 VGA ports 0x3c0-0x3df (ignored),
 *         0x500 the bochs VBE "DISPI" registers (16-bit, index * 2), 0x600 QEMU extended
 *         registers (size, framebuffer endianness)
 *
 * The option ROM is the caller's: SeaBIOS loads "pci1234,1111.rom" from fw_cfg.
 *
 * The framebuffer is compared with a shadow copy 20 times a second while this device is the
 * shown display source, and the changed rectangles are pushed to the display (damage).
 */
#ifndef VIREO_DEVICES_BOCHS_DISPLAY_H
#define VIREO_DEVICES_BOCHS_DISPLAY_H

#include <stdint.h>
#include "base/util.h"

struct pci_bus;
struct pci_dev;
struct kvm;
struct display;
struct ev_loop;
struct bochs_display;

#define BOCHS_VENDOR_ID 0x1234
#define BOCHS_DEVICE_ID 0x1111
#define BOCHS_VRAM_SIZE (16u << 20)
#define BOCHS_MMIO_SIZE 0x1000u
#define BOCHS_MAX_XRES 2560u
#define BOCHS_MAX_YRES 1600u
#define BOCHS_DISPLAY_PRIO 10 /* below virtio-gpu */
#define BOCHS_POLL_NS (50ULL * 1000 * 1000)

/* DISPI register indices and ENABLE bits (the Bochs VBE interface). */
enum bochs_dispi_index {
	DISPI_INDEX_ID = 0,
	DISPI_INDEX_XRES,
	DISPI_INDEX_YRES,
	DISPI_INDEX_BPP,
	DISPI_INDEX_ENABLE,
	DISPI_INDEX_BANK,
	DISPI_INDEX_VIRT_WIDTH,
	DISPI_INDEX_VIRT_HEIGHT,
	DISPI_INDEX_X_OFFSET,
	DISPI_INDEX_Y_OFFSET,
	DISPI_INDEX_VIDEO_MEMORY_64K,
	DISPI_INDEX_NR,
};
#define DISPI_ID0 0xb0c0
#define DISPI_ID5 0xb0c5
#define DISPI_ENABLED 0x01
#define DISPI_GETCAPS 0x02
#define DISPI_8BIT_DAC 0x20
#define DISPI_LFB_ENABLED 0x40
#define DISPI_NOCLEARMEM 0x80

/* Plug into bus (any free slot) and register as a display source. kvm may be NULL (tests):
 * then the framebuffer is reached through MMIO exits only. loop may be NULL (tests call
 * bochs_display_poll themselves). */
int bochs_display_create(struct pci_bus *bus, struct kvm *kvm, struct display *display,
			 struct ev_loop *loop, struct bochs_display **out) WUR;
/* Unplug and free. NULL-safe. */
void bochs_display_destroy(struct bochs_display *b);
void bochs_display_destroy_opaque(void *b);
struct pci_dev *bochs_display_pci_dev(struct bochs_display *b);
/* Compare the framebuffer with the shadow and push what changed (the timer's work). */
void bochs_display_poll(struct bochs_display *b);

#endif
