/* SPDX-License-Identifier: MIT */
/*
 * The ACPI fixed hardware of a PC (ACPI 6.5 chapter 4.8, "ACPI hardware"), as a block of I/O
 * ports that the FADT points to (docs/acpi.md):
 *
 *   base + 0  PM1a_STS  16-bit: TMR_STS (bit 0), PWRBTN_STS (8), WAK_STS (15); write 1 to clear
 *   base + 2  PM1a_EN   16-bit: TMR_EN (0), GBL_EN (5), PWRBTN_EN (8), SLPBTN_EN (9), RTC_EN (10)
 *   base + 4  PM1a_CNT  16-bit: SCI_EN (0, always 1: the machine is always in ACPI mode, the
 *                       FADT has no SMI_CMD), SLP_TYP (12:10), SLP_EN (13, write-only)
 *   base + 8  PM_TMR    32-bit, read-only: 3.579545 MHz, free-running (FADT TMR_VAL_EXT)
 *
 * The SCI (a level on an irq_line, ISA IRQ 9 as the FADT and MADT say) is high while a status
 * bit and its enable bit are both set. Writing SLP_EN with SLP_TYP = ACPI_PM_SLP_TYP_S5 (the
 * value in the DSDT's _S5) calls the power-off callback; other sleep types are not offered by
 * the DSDT and are ignored (one log line). TMR_STS is set when bit 31 of the timer changes,
 * seen when PM1a_STS is read; no timer interrupt is raised (no OS enables TMR_EN: Linux reads
 * the counter only). Accesses of any width at any offset work byte by byte, except that a
 * write covering both bytes of a register takes effect at once.
 *
 * Thread safety: one mutex; registers are accessed from vCPU threads, the power button from
 * the event-loop thread (management API).
 */
#ifndef VIREO_DEVICES_ACPI_PM_H
#define VIREO_DEVICES_ACPI_PM_H

#include <stdint.h>
#include "base/irq.h"
#include "base/util.h"
#include "bus/bus.h"

#define ACPI_PM_EVT_OFF 0
#define ACPI_PM_EVT_LEN 4
#define ACPI_PM_CNT_OFF 4
#define ACPI_PM_CNT_LEN 2
#define ACPI_PM_TMR_OFF 8
#define ACPI_PM_TMR_LEN 4
#define ACPI_PM_LEN 12
#define ACPI_PM_TIMER_HZ 3579545ULL
#define ACPI_PM_SLP_TYP_S5 5

/* PM1 status / enable bits */
#define ACPI_PM1_TMR 0x0001
#define ACPI_PM1_GBL 0x0020
#define ACPI_PM1_PWRBTN 0x0100
#define ACPI_PM1_SLPBTN 0x0200
#define ACPI_PM1_RTC 0x0400
#define ACPI_PM1_WAK 0x8000
/* PM1 control bits */
#define ACPI_PM1_SCI_EN 0x0001
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK 0x1c00
#define ACPI_PM1_SLP_EN 0x2000

struct acpi_pm;
typedef void (*acpi_pm_poweroff_fn)(void *opaque);
/* Monotonic nanoseconds; the default is CLOCK_MONOTONIC. */
typedef uint64_t (*acpi_pm_clock_fn)(void *opaque);

/* Register the block at `base` on pio (NULL: no bus, for tests that call the ops directly). */
int acpi_pm_create(struct bus *pio, uint16_t base, struct irq_line sci,
		   acpi_pm_poweroff_fn on_poweroff, void *opaque, struct acpi_pm **out) WUR;
void acpi_pm_destroy(struct acpi_pm *pm);

/* Press the power button: sets PWRBTN_STS and raises the SCI if the OS enabled PWRBTN_EN.
 * An ACPI OS then shuts down in an orderly way (ending in S5). Any thread. */
void acpi_pm_press_power_button(struct acpi_pm *pm);

/* For tests: replace the clock the PM timer counts (restarts the timer at 0). */
void acpi_pm_set_clock(struct acpi_pm *pm, acpi_pm_clock_fn fn, void *opaque);

/* The register block as bus ops (opaque: the struct acpi_pm; offsets from base). */
extern const struct bus_ops acpi_pm_ops;

#endif
