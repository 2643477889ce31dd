/* SPDX-License-Identifier: MIT */
/* ACPI PM1a event/control blocks and the PM timer. See acpi_pm.h and docs/acpi.md. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include "base/log.h"
#include "devices/acpi_pm.h"

/* Bits that raise the SCI when both status and enable are set. TMR is left out: its status
 * is only computed when read, so it could not interrupt in time (see acpi_pm.h). */
#define PM1_SCI_EVENTS (ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | ACPI_PM1_RTC)
#define PM1_EN_MASK (ACPI_PM1_TMR | PM1_SCI_EVENTS)
#define PM1_CNT_RW (ACPI_PM1_SLP_TYP_MASK | 0x0002 /* BM_RLD */)

struct acpi_pm {
	struct bus *pio;
	uint16_t base;
	struct irq_line sci;
	acpi_pm_poweroff_fn on_poweroff;
	void *opaque;
	acpi_pm_clock_fn clock;
	void *clock_opaque;

	pthread_mutex_t lock;
	uint64_t t0_ns;	     /* the timer counts from here */
	uint64_t tmr_period; /* bit-31 periods of the timer already reflected in TMR_STS */
	uint16_t sts, en, cnt;
	bool sci_level;
};

static uint64_t pm_clock_default(void *opaque)
{
	return time_now_ns();
}

/* Ticks of the 3.579545 MHz timer since t0 (64 bits: never wraps in practice). */
static uint64_t pm_ticks_locked(struct acpi_pm *pm)
{
	uint64_t now = pm->clock(pm->clock_opaque);
	uint64_t ns = now > pm->t0_ns ? now - pm->t0_ns : 0;
	return ns / 1000000000ULL * ACPI_PM_TIMER_HZ +
	       ns % 1000000000ULL * ACPI_PM_TIMER_HZ / 1000000000ULL;
}

/* TMR_STS: set whenever bit 31 of the counter changed since the last look. */
static void pm_update_tmr_locked(struct acpi_pm *pm)
{
	uint64_t period = pm_ticks_locked(pm) >> 31;
	if (period != pm->tmr_period) {
		pm->tmr_period = period;
		pm->sts |= ACPI_PM1_TMR;
	}
}

static void pm_update_sci_locked(struct acpi_pm *pm)
{
	bool level = (pm->sts & pm->en & PM1_SCI_EVENTS) != 0;
	if (level != pm->sci_level) {
		pm->sci_level = level;
		irq_line_set(&pm->sci, level);
	}
}

static void pm_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint8_t *d = data;
	uint8_t img[ACPI_PM_LEN] = {0};

	pthread_mutex_lock(&pm->lock);
	pm_update_tmr_locked(pm);
	uint32_t tmr = (uint32_t)pm_ticks_locked(pm);
	uint16_t cnt = (uint16_t)(pm->cnt | ACPI_PM1_SCI_EN);
	img[0] = (uint8_t)pm->sts;
	img[1] = (uint8_t)(pm->sts >> 8);
	img[2] = (uint8_t)pm->en;
	img[3] = (uint8_t)(pm->en >> 8);
	img[4] = (uint8_t)cnt;
	img[5] = (uint8_t)(cnt >> 8);
	for (unsigned i = 0; i < 4; i++)
		img[ACPI_PM_TMR_OFF + i] = (uint8_t)(tmr >> (8 * i));
	pthread_mutex_unlock(&pm->lock);
	for (uint32_t i = 0; i < len; i++)
		d[i] = off + i < ACPI_PM_LEN ? img[off + i] : 0xff;
}

static void pm_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	const uint8_t *d = data;
	uint16_t val[3] = {0}, mask[3] = {0}; /* STS, EN, CNT: the bytes written */

	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (o >= ACPI_PM_CNT_OFF + ACPI_PM_CNT_LEN)
			continue; /* the gap and the timer are read-only */
		unsigned reg = (unsigned)(o / 2), sh = (unsigned)(o % 2) * 8;
		val[reg] = (uint16_t)(val[reg] | d[i] << sh);
		mask[reg] = (uint16_t)(mask[reg] | 0xff << sh);
	}

	bool sleep = false;
	unsigned typ = 0;
	pthread_mutex_lock(&pm->lock);
	if (mask[0]) {
		pm_update_tmr_locked(pm); /* a status seen now is cleared now */
		pm->sts = (uint16_t)(pm->sts & ~(val[0] & mask[0]));
	}
	if (mask[1])
		pm->en = (uint16_t)((pm->en & ~mask[1]) | (val[1] & mask[1] & PM1_EN_MASK));
	if (mask[2]) {
		pm->cnt = (uint16_t)((pm->cnt & ~mask[2]) | (val[2] & mask[2] & PM1_CNT_RW));
		if (val[2] & mask[2] & ACPI_PM1_SLP_EN) {
			sleep = true;
			typ = (pm->cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;
		}
	}
	pm_update_sci_locked(pm);
	pthread_mutex_unlock(&pm->lock);

	if (!sleep)
		return;
	if (typ == ACPI_PM_SLP_TYP_S5) {
		if (pm->on_poweroff)
			pm->on_poweroff(pm->opaque);
	} else {
		log_rl(LOG_WARN,
		       "acpi-pm: guest asked for sleep type %u, which is not offered; ignored",
		       typ);
	}
}

const struct bus_ops acpi_pm_ops = {.read = pm_read, .write = pm_write};

void acpi_pm_press_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= ACPI_PM1_PWRBTN;
	pm_update_sci_locked(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_set_clock(struct acpi_pm *pm, acpi_pm_clock_fn fn, void *opaque)
{
	pthread_mutex_lock(&pm->lock);
	pm->clock = fn ? fn : pm_clock_default;
	pm->clock_opaque = fn ? opaque : NULL;
	pm->t0_ns = pm->clock(pm->clock_opaque);
	pm->tmr_period = 0;
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_create(struct bus *pio, uint16_t base, struct irq_line sci,
		   acpi_pm_poweroff_fn on_poweroff, void *opaque, struct acpi_pm **out)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	pm->pio = pio;
	pm->base = base;
	pm->sci = sci;
	pm->on_poweroff = on_poweroff;
	pm->opaque = opaque;
	pm->clock = pm_clock_default;
	pm->t0_ns = pm->clock(NULL);
	if (pthread_mutex_init(&pm->lock, NULL)) {
		free(pm);
		return -ENOMEM;
	}
	if (pio) {
		int r = bus_insert(pio, base, ACPI_PM_LEN, &acpi_pm_ops, pm, "acpi-pm");
		if (r < 0) {
			pthread_mutex_destroy(&pm->lock);
			free(pm);
			return r;
		}
	}
	*out = pm;
	return 0;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	if (pm->pio && bus_remove(pm->pio, pm->base, pm) < 0)
		log_debug("acpi-pm: range already gone");
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}
