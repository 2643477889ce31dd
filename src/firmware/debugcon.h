/* SPDX-License-Identifier: MIT */
/*
 * The Bochs/QEMU debug console: one I/O port (0x402 for SeaBIOS, 0xE9 traditionally) where
 * every byte written is firmware log output. Reads return 0xE9 so firmware can detect it.
 * Output goes to a file (--firmware-log), or is discarded. The file is capped at
 * DEBUGCON_MAX_BYTES so a guest cannot fill the host disk.
 */
#ifndef VIREO_FIRMWARE_DEBUGCON_H
#define VIREO_FIRMWARE_DEBUGCON_H

#include <stdint.h>
#include "base/util.h"
#include "bus/bus.h"

#define DEBUGCON_READBACK 0xe9
#define DEBUGCON_MAX_BYTES (16u * 1024 * 1024)

struct debugcon;

/* path NULL: discard output. The file is created/truncated (mode 0644). */
int debugcon_create(const char *path, struct debugcon **out) WUR;
/* Flushes and closes the file. */
void debugcon_destroy(struct debugcon *dc);
void debugcon_destroy_opaque(void *dc);
/* Register one port at `port` on the PIO bus. */
int debugcon_attach(struct debugcon *dc, struct bus *pio, uint16_t port) WUR;
/* Push buffered output to the file now. */
void debugcon_flush(struct debugcon *dc);

/* Bus handlers, exported for tests. */
void debugcon_read(void *opaque, uint64_t off, void *data, uint32_t len);
void debugcon_write(void *opaque, uint64_t off, const void *data, uint32_t len);

#endif
