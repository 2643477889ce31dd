/* SPDX-License-Identifier: MIT */
/*
 * The PCI reset control register at 0xCF9 (one byte). A write with bit 2 (RST_CPU) set resets
 * the machine (0x06 warm, 0x0E cold): the reset callback runs. Bits 1 (SYS_RST) and 3
 * (FULL_RST) are stored and read back; bit 2 always reads 0.
 *
 * 0xCF9 lies inside the PCI CONFIG_ADDRESS dword (0xCF8-0xCFB), which only decodes 32-bit
 * accesses. Two ways to wire it:
 *   - reset_cf9_create(pio, ...) registers 0xCF9 as a 1-byte range of its own (then the PCI
 *     host bridge must not claim 0xCF8-0xCFB as one range), or
 *   - reset_cf9_create(NULL, ...) registers nothing, and the PCI host bridge, which owns
 *     0xCF8-0xCFB, forwards byte accesses at 0xCF9 to reset_cf9_ops (pci_bus_set_cf9) or to
 *     reset_cf9_read/reset_cf9_write.
 */
#ifndef VIREO_DEVICES_RESET_CF9_H
#define VIREO_DEVICES_RESET_CF9_H

#include <stdint.h>
#include "base/util.h"
#include "bus/bus.h"
#include "devices/i8042.h"

struct reset_cf9;

int reset_cf9_create(struct bus *pio, platform_reset_fn on_reset, void *opaque,
		     struct reset_cf9 **out) WUR;
void reset_cf9_destroy(struct reset_cf9 *r);
/* The register as bus ops (opaque: the struct reset_cf9, offset 0, 1 byte), for a PCI host
 * bridge that forwards byte accesses at 0xCF9: pci_bus_set_cf9(pci, &reset_cf9_ops, r). */
extern const struct bus_ops reset_cf9_ops;
/* The register itself, for a PCI host bridge that forwards byte accesses at 0xCF9. */
uint8_t reset_cf9_read(struct reset_cf9 *r);
void reset_cf9_write(struct reset_cf9 *r, uint8_t v);

#endif
