/* SPDX-License-Identifier: MIT */
/*
 * CMOS RAM and real-time clock at 0x70 (index, bit 7 = NMI disable) / 0x71 (data).
 * 128 bytes of CMOS; the clock reads the host's UTC time (plus whatever offset the guest set by
 * writing the time registers), in BCD or binary and 24h or 12h per register B. Register A
 * never shows update-in-progress; C reads 0; D reads 0x80 (valid RAM and time). No periodic,
 * alarm or update-ended interrupts are raised (IRQ 8 is never driven), and the NMI-disable bit
 * is recorded but not enforced.
 * Memory-size bytes are filled at creation for firmware (SeaBIOS reads them when fw_cfg does
 * not say): 0x15/0x16 base memory (640 KiB), 0x17/0x18 = 0x30/0x31 KiB above 1 MiB (max
 * 0xFFFF), 0x34/0x35 64 KiB units above 16 MiB below 4 GiB (max 0xFFFF), 0x5B-0x5D 64 KiB
 * units above 4 GiB, 0x5F CPUs - 1, 0x14 equipment (FPU, no floppy), checksum 0x2E/0x2F.
 */
#ifndef VIREO_DEVICES_CMOS_RTC_H
#define VIREO_DEVICES_CMOS_RTC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "base/util.h"
#include "bus/bus.h"

#define CMOS_SIZE 128

struct cmos_rtc;

/* Registers ports 0x70-0x71 on pio. */
int cmos_rtc_create(struct bus *pio, uint64_t ram_below_4g, uint64_t ram_above_4g, unsigned nr_cpus,
		    struct cmos_rtc **out) WUR;
/* Removes the range (call before bus_fini, vCPUs stopped). */
void cmos_rtc_destroy(struct cmos_rtc *c);
/* Whether the guest last wrote the index register with bit 7 (NMI disable) set. */
bool cmos_rtc_nmi_disabled(struct cmos_rtc *c);

/* Replace the host clock (seconds since the epoch, UTC); for tests. */
typedef time_t (*cmos_clock_fn)(void *opaque);
void cmos_rtc_set_clock(struct cmos_rtc *c, cmos_clock_fn fn, void *opaque);

#endif
