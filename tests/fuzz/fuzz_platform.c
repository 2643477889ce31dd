/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: arbitrary guest port I/O against the platform devices (16550A UART, i8042,
 * 0xCF9, POST, CMOS/RTC, the ACPI PM block) plus host input into the UART and power-button
 * presses. Each 4-byte record is {op, port-select, offset, value}. Invariants: no crash, the
 * IRQ level matches what the UART reports in IIR, host input is never dropped (taken bytes <=
 * FIFO room), and the SCI is high exactly when a PM1 status bit and its enable are both set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "bus/bus.h"
#include "devices/acpi_pm.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/post.h"
#include "devices/reset_cf9.h"
#include "devices/serial_8250.h"

static int irq_level;

static void irq_set(void *opaque, uint32_t gsi, int level)
{
	irq_level = level;
}

static int sci_level;

static void sci_set(void *opaque, uint32_t gsi, int level)
{
	sci_level = level;
}

static void on_reset(void *opaque)
{
}

/* The SCI must follow PM1_STS & PM1_EN (the timer status excluded, see acpi_pm.h). */
static void check_sci(struct bus *pio)
{
	uint16_t sts = 0, en = 0;
	bus_read(pio, 0x600, &sts, 2);
	bus_read(pio, 0x602, &en, 2);
	int want = (sts & en & (ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | ACPI_PM1_RTC)) != 0;
	if (sci_level != want)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t bases[] = {0x3f8, 0x60, 0x64, 0xcf9, 0x80, 0x70, 0x600};
	static const uint8_t spans[] = {8, 1, 1, 1, 1, 2, ACPI_PM_LEN};
	struct bus pio;
	struct serial8250 *s;
	struct i8042 *k;
	struct reset_cf9 *r;
	struct post *p;
	struct cmos_rtc *c;
	struct acpi_pm *pm;
	struct irq_line irq = {.set = irq_set, .opaque = NULL, .gsi = 4};
	struct irq_line sci = {.set = sci_set, .opaque = NULL, .gsi = 9};

	log_set_level(LOG_ERR);
	irq_level = 0;
	sci_level = 0;
	if (bus_init(&pio, "pio") < 0)
		abort();
	if (serial8250_create(&pio, 0x3f8, irq, NULL, &s) < 0 ||
	    i8042_create(&pio, on_reset, NULL, &k) < 0 ||
	    reset_cf9_create(&pio, on_reset, NULL, &r) < 0 || post_create(&pio, 0x80, &p) < 0 ||
	    cmos_rtc_create(&pio, 3ULL << 30, 5ULL << 30, 4, &c) < 0 ||
	    acpi_pm_create(&pio, 0x600, sci, on_reset, NULL, &pm) < 0)
		abort();
	for (size_t i = 0; i + 4 <= size; i += 4) {
		uint8_t op = data[i], sel = data[i + 1] % 7, off = data[i + 2], val = data[i + 3];
		uint16_t port = (uint16_t)(bases[sel] + off % spans[sel]);
		uint32_t len = 1u << (op >> 6); /* 1, 2, 4 or 8 bytes */
		uint8_t buf[8];
		memset(buf, val, sizeof(buf));
		switch (op & 3) {
		case 0:
			bus_write(&pio, port, buf, len > 4 ? 4 : len);
			break;
		case 1:
			bus_read(&pio, port, buf, len > 4 ? 4 : len);
			break;
		case 2: {
			if (sel == 6) { /* the power button instead of host input */
				acpi_pm_press_power_button(pm);
				check_sci(&pio);
				break;
			}
			uint8_t in[32];
			size_t n = val % sizeof(in);
			memset(in, off, n);
			if (serial8250_receive(s, in, n) > n)
				abort();
			break;
		}
		default: { /* check the IRQ level against IIR, MCR */
			uint8_t iir, mcr;
			bus_read(&pio, 0x3fc, &mcr, 1);
			int gated = !(mcr & 0x08) || (mcr & 0x10);
			int before = irq_level;
			bus_read(&pio, 0x3fa, &iir, 1); /* may clear THRI */
			if (before != (!(iir & 1) && !gated))
				abort();
			check_sci(&pio);
		}
		}
	}
	acpi_pm_destroy(pm);
	cmos_rtc_destroy(c);
	post_destroy(p);
	reset_cf9_destroy(r);
	i8042_destroy(k);
	serial8250_destroy(s);
	if (pio.nr != 0)
		abort();
	bus_fini(&pio);
	return 0;
}
