/* SPDX-License-Identifier: MIT */
/* The ACPI PM device through the PIO bus: S5, the power button and the SCI, the PM timer. */
#include <string.h>
#include "harness.h"
#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/acpi_pm.h"

#define BASE LAYOUT_PIO_ACPI_PM
#define STS (BASE + ACPI_PM_EVT_OFF)
#define EN (BASE + ACPI_PM_EVT_OFF + 2)
#define CNT (BASE + ACPI_PM_CNT_OFF)
#define TMR (BASE + ACPI_PM_TMR_OFF)

struct fx {
	struct bus pio;
	struct acpi_pm *pm;
	unsigned poweroffs;
	int sci;	    /* last level */
	unsigned sci_edges; /* 0 -> 1 */
	uint64_t now_ns;
};

static void fx_sci(void *opaque, uint32_t gsi, int level)
{
	struct fx *f = opaque;
	CHECK_EQ(gsi, LAYOUT_IRQ_SCI);
	if (level && !f->sci)
		f->sci_edges++;
	f->sci = level;
}

static void fx_poweroff(void *opaque)
{
	((struct fx *)opaque)->poweroffs++;
}

static uint64_t fx_clock(void *opaque)
{
	return ((struct fx *)opaque)->now_ns;
}

static int fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	if (bus_init(&f->pio, "pio"))
		return -1;
	struct irq_line sci = {fx_sci, f, LAYOUT_IRQ_SCI};
	if (acpi_pm_create(&f->pio, BASE, sci, fx_poweroff, f, &f->pm))
		return -1;
	f->now_ns = 1000000000ULL;
	acpi_pm_set_clock(f->pm, fx_clock, f);
	return 0;
}

static void fx_fini(struct fx *f)
{
	acpi_pm_destroy(f->pm);
	struct bus_range r;
	CHECK(!bus_lookup(&f->pio, BASE, &r));
	bus_fini(&f->pio);
}

static uint32_t rd(struct fx *f, uint16_t port, uint32_t len)
{
	uint32_t v = 0;
	CHECK(bus_read(&f->pio, port, &v, len));
	return v;
}

static void wr(struct fx *f, uint16_t port, uint32_t v, uint32_t len)
{
	CHECK(bus_write(&f->pio, port, &v, len));
}

TEST(acpi_pm_s5_powers_off)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	CHECK_EQ(rd(&f, CNT, 2) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN); /* always in ACPI mode */
	/* what ACPICA does: SLP_TYP first, then SLP_TYP | SLP_EN */
	uint16_t typ = ACPI_PM_SLP_TYP_S5 << ACPI_PM1_SLP_TYP_SHIFT;
	wr(&f, CNT, typ, 2);
	CHECK_EQ(f.poweroffs, 0);
	CHECK_EQ(rd(&f, CNT, 2) & ACPI_PM1_SLP_TYP_MASK, typ);
	wr(&f, CNT, typ | ACPI_PM1_SLP_EN, 2);
	CHECK_EQ(f.poweroffs, 1);
	CHECK_EQ(rd(&f, CNT, 2) & ACPI_PM1_SLP_EN, 0); /* write-only */
	/* byte by byte: the high byte carries SLP_TYP and SLP_EN */
	wr(&f, CNT + 1, (typ | ACPI_PM1_SLP_EN) >> 8, 1);
	CHECK_EQ(f.poweroffs, 2);
	/* a sleep type the DSDT does not offer, or SLP_EN clear: nothing */
	wr(&f, CNT, (1 << ACPI_PM1_SLP_TYP_SHIFT) | ACPI_PM1_SLP_EN, 2);
	wr(&f, CNT, (3 << ACPI_PM1_SLP_TYP_SHIFT) | ACPI_PM1_SLP_EN, 2);
	wr(&f, CNT, typ, 2);
	CHECK_EQ(f.poweroffs, 2);
	/* a 32-bit write over PM1_EN and PM1_STS does not reach the control register */
	wr(&f, STS, 0xffffffff, 4);
	CHECK_EQ(f.poweroffs, 2);
	fx_fini(&f);
}

TEST(acpi_pm_power_button_sci)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	/* pressed while the OS has not enabled it: status only */
	acpi_pm_press_power_button(f.pm);
	CHECK_EQ(rd(&f, STS, 2) & ACPI_PM1_PWRBTN, ACPI_PM1_PWRBTN);
	CHECK_EQ(f.sci, 0);
	/* enabling it raises the SCI (level: status and enable) */
	wr(&f, EN, ACPI_PM1_PWRBTN, 2);
	CHECK_EQ(rd(&f, EN, 2), ACPI_PM1_PWRBTN);
	CHECK_EQ(f.sci, 1);
	/* writing 0 to the status, or 1 to another bit, keeps it */
	wr(&f, STS, 0, 2);
	wr(&f, STS, ACPI_PM1_WAK, 2);
	CHECK_EQ(f.sci, 1);
	/* write 1 to clear: the SCI drops */
	wr(&f, STS, ACPI_PM1_PWRBTN, 2);
	CHECK_EQ(rd(&f, STS, 2) & ACPI_PM1_PWRBTN, 0);
	CHECK_EQ(f.sci, 0);
	/* pressed while enabled: the SCI rises at once */
	acpi_pm_press_power_button(f.pm);
	CHECK_EQ(f.sci, 1);
	CHECK_EQ(f.sci_edges, 2);
	/* disabling it drops the SCI, status stays */
	wr(&f, EN + 1, 0, 1);
	CHECK_EQ(f.sci, 0);
	CHECK_EQ(rd(&f, STS + 1, 1), ACPI_PM1_PWRBTN >> 8);
	/* one 32-bit access covers both registers */
	CHECK_EQ(rd(&f, STS, 4) & 0xffff, ACPI_PM1_PWRBTN);
	wr(&f, STS, (uint32_t)ACPI_PM1_PWRBTN << 16 | ACPI_PM1_PWRBTN, 4);
	CHECK_EQ(rd(&f, STS, 4), (uint32_t)ACPI_PM1_PWRBTN << 16);
	CHECK_EQ(f.sci, 0);
	/* reserved enable bits do not stick */
	wr(&f, EN, 0x80fe, 2);
	CHECK_EQ(rd(&f, EN, 2), ACPI_PM1_GBL);
	fx_fini(&f);
}

TEST(acpi_pm_timer)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	CHECK_EQ(rd(&f, TMR, 4), 0);
	f.now_ns += 1000000000ULL; /* one second: 3579545 ticks */
	CHECK_EQ(rd(&f, TMR, 4), ACPI_PM_TIMER_HZ);
	f.now_ns += 1000; /* 1 us: 3.58 ticks */
	CHECK_EQ(rd(&f, TMR, 4), ACPI_PM_TIMER_HZ + 3);
	/* read-only */
	wr(&f, TMR, 0, 4);
	CHECK_EQ(rd(&f, TMR, 4), ACPI_PM_TIMER_HZ + 3);
	/* byte reads of the counter */
	uint32_t v = rd(&f, TMR, 4);
	CHECK_EQ(rd(&f, TMR + 2, 1), (v >> 16) & 0xff);
	CHECK_EQ(rd(&f, STS, 2) & ACPI_PM1_TMR, 0);
	/* bit 31 flips after 2^31 ticks (600 s): TMR_STS, cleared by writing 1 */
	f.now_ns = 1000000000ULL + 600ULL * 1000000000ULL;
	v = rd(&f, TMR, 4);
	CHECK(v & 0x80000000u);
	CHECK_EQ(rd(&f, STS, 2) & ACPI_PM1_TMR, ACPI_PM1_TMR);
	wr(&f, STS, ACPI_PM1_TMR, 2);
	CHECK_EQ(rd(&f, STS, 2) & ACPI_PM1_TMR, 0);
	/* 32 bits wrap after 1200 s */
	f.now_ns = 1000000000ULL + 1200ULL * 1000000000ULL;
	CHECK(rd(&f, TMR, 4) < ACPI_PM_TIMER_HZ);
	CHECK_EQ(rd(&f, STS, 2) & ACPI_PM1_TMR, ACPI_PM1_TMR);
	/* the gap and past the block */
	CHECK_EQ(rd(&f, BASE + 6, 2), 0);
	fx_fini(&f);
}

TEST(acpi_pm_default_clock_runs)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	acpi_pm_set_clock(f.pm, NULL, NULL); /* back to CLOCK_MONOTONIC */
	uint32_t a = rd(&f, TMR, 4);
	uint64_t t0 = time_now_ns();
	while (time_now_ns() - t0 < 2000000) /* 2 ms: ~7000 ticks */
		;
	uint32_t b = rd(&f, TMR, 4);
	CHECK(b - a >= 7000 && b - a < ACPI_PM_TIMER_HZ);
	fx_fini(&f);
}
