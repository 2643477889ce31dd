/* SPDX-License-Identifier: MIT */
/*
 * Booting a legacy BIOS (SeaBIOS) instead of a kernel: `vireo run --firmware PATH`.
 *
 * Memory (docs/firmware.md):
 *   [4 GiB - size, 4 GiB)  the whole image, read-only (KVM read-only memslot: guest writes
 *                          exit as MMIO and are dropped; a read-only gm region: no device DMA)
 *   [1 MiB - n, 1 MiB)     n = min(size, 256 KiB): a copy of the image's tail in ordinary RAM.
 *                          SeaBIOS writes its own variables there after POST starts; on
 *                          i440FX/Q35 it first opens that window with the PAM registers, which
 *                          vireo's host bridge does not have, so the window is plain RAM from
 *                          the start (SeaBIOS then logs "Unable to unlock ram - bridge not
 *                          found" and goes on).
 * Devices: fw_cfg at 0x510/0x511 + DMA at 0x514, debugcon at 0x402 (--firmware-log).
 * CMOS memory/CPU bytes come from the cmos_rtc device (devices/cmos_rtc.h); SeaBIOS needs them
 * right: RAM below 4 GiB is taken from CMOS, fw_cfg's "etc/e820" adds RAM above 4 GiB and
 * reservations.
 * Entry: vCPU 0 in real mode at the reset vector (BOOT_RESET: CS 0xF000 base 0xFFFF0000,
 * IP 0xFFF0); the image's last 16 bytes hold the jump into the F-segment.
 */
#ifndef VIREO_FIRMWARE_BOOT_FW_H
#define VIREO_FIRMWARE_BOOT_FW_H

#include <stddef.h>
#include <stdint.h>
#include "arch/x86/arch.h"
#include "base/util.h"

struct vm;
struct fwcfg;
struct acpi_tables;

#define FW_IMAGE_MIN (64 * 1024)
#define FW_IMAGE_MAX (16 * 1024 * 1024)
#define FW_LEGACY_ALIAS_MAX (256 * 1024) /* 0xC0000 .. 0xFFFFF */
#define FW_BOOT_FAIL_WAIT_MS 1000        /* "No bootable device": retry (reset) after 1 s */
#define FW_BOOT_NONE (-1)

/* An extra fw_cfg file for the firmware (e.g. an option ROM "pciVVVV,DDDD.rom"). */
struct fw_file {
	const char *name;
	const void *data;
	uint32_t len;
};

struct fw_setup {
	const char *firmware;     /* image path (vm_config.firmware) */
	const char *firmware_log; /* debugcon output file (vm_config.firmware_log), or NULL */
	/* The boot disk for "bootorder": its PCI device and function on bus 0, or FW_BOOT_NONE. */
	int boot_pci_dev;
	int boot_pci_fn;
	bool serial_console;      /* "etc/sercon-port" = COM1: SeaBIOS's screen output on 0x3F8 */
	const struct fw_file *files; /* extra files (copied), nr_files of them */
	unsigned nr_files;
	/* ACPI tables for "etc/table-loader", "etc/acpi/tables", "etc/acpi/rsdp" (copied), or NULL
	 * to let SeaBIOS build its own. */
	const struct acpi_tables *acpi;
};

/* Check the image without a VM (machine_prepare): readable, a multiple of 64 KiB between
 * FW_IMAGE_MIN and FW_IMAGE_MAX. One-line reason in err. */
int fw_check_image(const char *path, char *err, size_t errlen) WUR;

/* Everything for a firmware boot: map the ROM and its legacy copy, create fw_cfg and debugcon
 * on vm->pio (both handed to vm_add_device) and fill *entry (BOOT_RESET). Needs vm->mem with
 * RAM at 0 covering 1 MiB, and vm->cfg (cpus). One-line reason in err. */
int fw_boot_setup(struct vm *vm, const struct fw_setup *fs, struct boot_entry *entry, char *err,
		  size_t errlen) WUR;

/* Fill the fw_cfg items SeaBIOS reads for this machine (exported for tests). */
int fw_cfg_populate(struct fwcfg *fw, uint64_t ram_below_4g, uint64_t ram_above_4g,
		    unsigned nr_cpus, const struct fw_setup *fs) WUR;

/* The "bootorder" line SeaBIOS matches for a PCI device on bus 0 behind the 0xCF8 host bridge:
 * "/pci@i0cf8/scsi@D/disk@0,0" (",F" after D when the function is not 0). Returns the length
 * or -ENOSPC / -EINVAL. */
int fw_bootorder_pci(char *buf, size_t len, int dev, int fn) WUR;

#endif
