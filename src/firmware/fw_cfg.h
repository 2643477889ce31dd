/* SPDX-License-Identifier: MIT */
/*
 * QEMU's firmware configuration device (fw_cfg), as specified in QEMU docs/specs/fw_cfg.rst,
 * on the x86 I/O ports SeaBIOS and OVMF probe:
 *
 *   0x510  selector (16-bit write; bit 14 "write channel" is ignored)
 *   0x511  data (8-bit read; each read returns the next byte of the selected item, 0 past its
 *          end or for unknown items; writes are ignored, as in QEMU >= 2.4)
 *   0x514  DMA address, 64-bit big-endian, written as two 32-bit big-endian halves (0x514 high,
 *          0x518 low); the write of the low half starts the transfer. Reading it returns the
 *          signature "QEMU CFG".
 *
 * Items are blobs keyed by 16-bit selectors; "files" get selectors from FW_CFG_FILE_FIRST and
 * an entry in the FW_CFG_FILE_DIR directory. Nothing the guest can write is ever stored: DMA
 * WRITE requests complete with the error bit. All constants come from <linux/qemu_fw_cfg.h>.
 *
 * Thread safety: the port handlers take the device lock (any vCPU may poke the ports).
 * Items are added before the guest runs.
 */
#ifndef VIREO_FIRMWARE_FW_CFG_H
#define VIREO_FIRMWARE_FW_CFG_H

#include <stdint.h>
#include <stdbool.h>
#include <linux/qemu_fw_cfg.h>
#include "base/util.h"
#include "bus/bus.h"
#include "mem/guest_mem.h"

#define FWCFG_PIO_BASE 0x510      /* selector; data at +1 */
#define FWCFG_PIO_LEN 2
#define FWCFG_PIO_DMA_BASE 0x514  /* DMA address high half; low half at +4 */
#define FWCFG_PIO_DMA_LEN 8

#define FWCFG_MAX_ITEMS 128       /* fixed items + files */
#define FWCFG_MAX_FILES 64
#define FWCFG_MAX_ITEM_LEN (64u * 1024 * 1024)

/* x86 arch-local selectors (FW_CFG_ARCH_LOCAL + n), as QEMU's pc machine defines them. */
#define FWCFG_X86_ACPI_TABLES (FW_CFG_ARCH_LOCAL + 0)
#define FWCFG_X86_SMBIOS_ENTRIES (FW_CFG_ARCH_LOCAL + 1)
#define FWCFG_X86_IRQ0_OVERRIDE (FW_CFG_ARCH_LOCAL + 2)
#define FWCFG_X86_E820_TABLE (FW_CFG_ARCH_LOCAL + 3)

struct fwcfg;

/* A device with the signature, the ID (traditional + DMA) and an empty file directory.
 * gm is used for DMA; it must outlive the device. */
int fwcfg_create(const struct guest_mem *gm, struct fwcfg **out) WUR;
void fwcfg_destroy(struct fwcfg *fw);
/* Same shape as vm_add_device()'s destroy callback. */
void fwcfg_destroy_opaque(void *fw);

/* Add (or replace) a fixed item; the data is copied. -EINVAL for the reserved selectors
 * (signature, ID, file directory, file range), -E2BIG, -ENOSPC, -ENOMEM. */
int fwcfg_add_item(struct fwcfg *fw, uint16_t key, const void *data, uint32_t len) WUR;
/* Fixed items holding a little-endian integer. */
int fwcfg_add_u16(struct fwcfg *fw, uint16_t key, uint16_t v) WUR;
int fwcfg_add_u32(struct fwcfg *fw, uint16_t key, uint32_t v) WUR;
int fwcfg_add_u64(struct fwcfg *fw, uint16_t key, uint64_t v) WUR;
/* Add a named file (name < FW_CFG_MAX_FILE_PATH bytes, unique); the data is copied and the
 * directory rebuilt. The selector is returned in *key when key is not NULL. */
int fwcfg_add_file(struct fwcfg *fw, const char *name, const void *data, uint32_t len,
		   uint16_t *key) WUR;

/* Register the selector/data and DMA ranges on the PIO bus (FWCFG_PIO_BASE, FWCFG_PIO_DMA_BASE). */
int fwcfg_attach(struct fwcfg *fw, struct bus *pio) WUR;

/* The bus handlers, exported for tests and fuzzing: `off` is relative to the range base. */
void fwcfg_ctl_read(void *opaque, uint64_t off, void *data, uint32_t len);
void fwcfg_ctl_write(void *opaque, uint64_t off, const void *data, uint32_t len);
void fwcfg_dma_read(void *opaque, uint64_t off, void *data, uint32_t len);
void fwcfg_dma_write(void *opaque, uint64_t off, const void *data, uint32_t len);

#endif
