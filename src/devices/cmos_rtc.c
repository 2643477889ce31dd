/* SPDX-License-Identifier: MIT */
/* MC146818-style CMOS RAM and RTC. See cmos_rtc.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "devices/cmos_rtc.h"

#define CMOS_PORT 0x70
#define CMOS_INDEX_MASK 0x7f
#define CMOS_NMI_DISABLE 0x80

/* Clock registers. */
#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32

#define REG_A_UIP 0x80
#define REG_A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz rate */
#define REG_B_SET 0x80
#define REG_B_DM_BINARY 0x04
#define REG_B_24H 0x02
#define REG_B_DEFAULT REG_B_24H /* 24h, BCD */
#define REG_D_VRT 0x80
#define HOUR_PM 0x80

/* Configuration bytes. */
#define CMOS_EQUIPMENT 0x14
#define CMOS_BASE_MEM_LO 0x15
#define CMOS_BASE_MEM_HI 0x16
#define CMOS_EXT_MEM_LO 0x17
#define CMOS_EXT_MEM_HI 0x18
#define CMOS_CSUM_FIRST 0x10
#define CMOS_CSUM_LAST 0x2d
#define CMOS_CSUM_HI 0x2e
#define CMOS_CSUM_LO 0x2f
#define CMOS_EXT_MEM2_LO 0x30
#define CMOS_EXT_MEM2_HI 0x31
#define CMOS_MEM_16M_LO 0x34
#define CMOS_MEM_16M_HI 0x35
#define CMOS_MEM_4G_0 0x5b
#define CMOS_MEM_4G_1 0x5c
#define CMOS_MEM_4G_2 0x5d
#define CMOS_SMP_COUNT 0x5f

#define EQUIPMENT_FPU 0x02

struct cmos_rtc {
	pthread_mutex_t lock;
	struct bus *pio;
	uint8_t index; /* as last written, NMI bit included */
	uint8_t ram[CMOS_SIZE];
	cmos_clock_fn clock;
	void *clock_opaque;
	int64_t offset;	  /* guest time - host time, seconds */
	bool frozen;	  /* register B SET: the clock does not advance */
	int64_t frozen_t; /* the guest time while frozen */
};

static time_t cmos_host_clock(void *opaque)
{
	return time(NULL);
}

static int64_t rtc_guest_time_locked(const struct cmos_rtc *c)
{
	return c->frozen ? c->frozen_t : (int64_t)c->clock(c->clock_opaque) + c->offset;
}

static uint8_t rtc_encode(const struct cmos_rtc *c, int v)
{
	if (c->ram[RTC_REG_B] & REG_B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static int rtc_decode(const struct cmos_rtc *c, uint8_t v)
{
	if (c->ram[RTC_REG_B] & REG_B_DM_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

static bool rtc_is_clock_reg(uint8_t idx)
{
	return idx == RTC_SECONDS || idx == RTC_MINUTES || idx == RTC_HOURS ||
	       idx == RTC_DAY_OF_WEEK || idx == RTC_DAY_OF_MONTH || idx == RTC_MONTH ||
	       idx == RTC_YEAR || idx == RTC_CENTURY;
}

static bool rtc_broken_down_locked(const struct cmos_rtc *c, struct tm *tm)
{
	time_t t = (time_t)rtc_guest_time_locked(c);

	return gmtime_r(&t, tm) != NULL;
}

static uint8_t rtc_read_clock_locked(const struct cmos_rtc *c, uint8_t idx)
{
	struct tm tm;

	if (!rtc_broken_down_locked(c, &tm))
		return 0;
	switch (idx) {
	case RTC_SECONDS:
		return rtc_encode(c, tm.tm_sec > 59 ? 59 : tm.tm_sec);
	case RTC_MINUTES:
		return rtc_encode(c, tm.tm_min);
	case RTC_HOURS:
		if (c->ram[RTC_REG_B] & REG_B_24H)
			return rtc_encode(c, tm.tm_hour);
		return (uint8_t)(rtc_encode(c, tm.tm_hour % 12 ? tm.tm_hour % 12 : 12) |
				 (tm.tm_hour >= 12 ? HOUR_PM : 0));
	case RTC_DAY_OF_WEEK:
		return rtc_encode(c, tm.tm_wday + 1); /* Sunday = 1 */
	case RTC_DAY_OF_MONTH:
		return rtc_encode(c, tm.tm_mday);
	case RTC_MONTH:
		return rtc_encode(c, tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_encode(c, (tm.tm_year + 1900) % 100);
	default: /* RTC_CENTURY */
		return rtc_encode(c, ((tm.tm_year + 1900) / 100) % 100);
	}
}

/* The guest sets one field of the clock: keep the others, move the offset. */
static void rtc_write_clock_locked(struct cmos_rtc *c, uint8_t idx, uint8_t v)
{
	struct tm tm;
	int year, n;

	if (!rtc_broken_down_locked(c, &tm))
		return;
	year = tm.tm_year + 1900;
	switch (idx) {
	case RTC_SECONDS:
		tm.tm_sec = rtc_decode(c, v);
		break;
	case RTC_MINUTES:
		tm.tm_min = rtc_decode(c, v);
		break;
	case RTC_HOURS:
		if (c->ram[RTC_REG_B] & REG_B_24H) {
			tm.tm_hour = rtc_decode(c, v);
		} else {
			n = rtc_decode(c, v & (uint8_t)~HOUR_PM) % 12;
			tm.tm_hour = n + ((v & HOUR_PM) ? 12 : 0);
		}
		break;
	case RTC_DAY_OF_WEEK:
		return; /* derived from the date */
	case RTC_DAY_OF_MONTH:
		tm.tm_mday = rtc_decode(c, v);
		break;
	case RTC_MONTH:
		tm.tm_mon = rtc_decode(c, v) - 1;
		break;
	case RTC_YEAR:
		tm.tm_year = year - year % 100 + rtc_decode(c, v) % 100 - 1900;
		break;
	default: /* RTC_CENTURY */
		tm.tm_year = rtc_decode(c, v) % 100 * 100 + year % 100 - 1900;
		break;
	}
	tm.tm_isdst = 0;
	time_t t = timegm(&tm); /* normalises out-of-range fields */
	if (t == (time_t)-1)
		return;
	if (c->frozen)
		c->frozen_t = t;
	else
		c->offset = (int64_t)t - (int64_t)c->clock(c->clock_opaque);
}

static uint8_t cmos_read_locked(struct cmos_rtc *c)
{
	uint8_t idx = c->index & CMOS_INDEX_MASK;

	if (rtc_is_clock_reg(idx))
		return rtc_read_clock_locked(c, idx);
	switch (idx) {
	case RTC_REG_A:
		return c->ram[RTC_REG_A] & (uint8_t)~REG_A_UIP; /* never mid-update */
	case RTC_REG_C:
		return 0; /* no interrupt flags: no RTC interrupts are modelled */
	case RTC_REG_D:
		return REG_D_VRT;
	default:
		return c->ram[idx];
	}
}

static void cmos_write_locked(struct cmos_rtc *c, uint8_t v)
{
	uint8_t idx = c->index & CMOS_INDEX_MASK;

	if (rtc_is_clock_reg(idx)) {
		rtc_write_clock_locked(c, idx, v);
		return;
	}
	switch (idx) {
	case RTC_REG_A:
		c->ram[RTC_REG_A] = v & (uint8_t)~REG_A_UIP;
		break;
	case RTC_REG_B: {
		bool set = v & REG_B_SET;
		if (set && !c->frozen) {
			c->frozen_t = rtc_guest_time_locked(c);
			c->frozen = true;
		} else if (!set && c->frozen) {
			c->offset = c->frozen_t - (int64_t)c->clock(c->clock_opaque);
			c->frozen = false;
		}
		c->ram[RTC_REG_B] = v;
		break;
	}
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		c->ram[idx] = v;
	}
}

static void cmos_pio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct cmos_rtc *c = opaque;
	uint8_t *d = data;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < len; i++)
		d[i] = off + i == 0 ? c->index : cmos_read_locked(c);
	pthread_mutex_unlock(&c->lock);
}

static void cmos_pio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct cmos_rtc *c = opaque;
	const uint8_t *d = data;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < len; i++) {
		if (off + i == 0)
			c->index = d[i];
		else
			cmos_write_locked(c, d[i]);
	}
	pthread_mutex_unlock(&c->lock);
}

static const struct bus_ops cmos_ops = {.read = cmos_pio_read, .write = cmos_pio_write};

static void cmos_put16(uint8_t *ram, uint8_t lo, uint64_t v)
{
	ram[lo] = (uint8_t)v;
	ram[lo + 1] = (uint8_t)(v >> 8);
}

static void cmos_fill_config(uint8_t *ram, uint64_t below, uint64_t above, unsigned nr_cpus)
{
	uint64_t ext_kib = below > 1 * MiB ? (below - 1 * MiB) / KiB : 0;
	uint64_t over16 = below > 16 * MiB ? (below - 16 * MiB) / (64 * KiB) : 0;
	uint64_t over4g = above / (64 * KiB);
	unsigned sum = 0;

	ram[RTC_REG_A] = REG_A_DEFAULT;
	ram[RTC_REG_B] = REG_B_DEFAULT;
	ram[CMOS_EQUIPMENT] = EQUIPMENT_FPU;
	cmos_put16(ram, CMOS_BASE_MEM_LO, 640);
	cmos_put16(ram, CMOS_EXT_MEM_LO, MIN(ext_kib, 0xffffULL));
	cmos_put16(ram, CMOS_EXT_MEM2_LO, MIN(ext_kib, 0xffffULL));
	cmos_put16(ram, CMOS_MEM_16M_LO, MIN(over16, 0xffffULL));
	over4g = MIN(over4g, 0xffffffULL);
	ram[CMOS_MEM_4G_0] = (uint8_t)over4g;
	ram[CMOS_MEM_4G_1] = (uint8_t)(over4g >> 8);
	ram[CMOS_MEM_4G_2] = (uint8_t)(over4g >> 16);
	ram[CMOS_SMP_COUNT] = (uint8_t)(nr_cpus ? MIN(nr_cpus - 1, 0xffU) : 0);
	for (unsigned i = CMOS_CSUM_FIRST; i <= CMOS_CSUM_LAST; i++)
		sum += ram[i];
	ram[CMOS_CSUM_HI] = (uint8_t)(sum >> 8);
	ram[CMOS_CSUM_LO] = (uint8_t)sum;
}

int cmos_rtc_create(struct bus *pio, uint64_t ram_below_4g, uint64_t ram_above_4g, unsigned nr_cpus,
		    struct cmos_rtc **out)
{
	struct cmos_rtc *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	r = pthread_mutex_init(&c->lock, NULL);
	if (r) {
		free(c);
		return -r;
	}
	c->pio = pio;
	c->clock = cmos_host_clock;
	cmos_fill_config(c->ram, ram_below_4g, ram_above_4g, nr_cpus);
	r = bus_insert(pio, CMOS_PORT, 2, &cmos_ops, c, "cmos-rtc");
	if (r < 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

void cmos_rtc_destroy(struct cmos_rtc *c)
{
	if (!c)
		return;
	if (bus_remove(c->pio, CMOS_PORT, c) < 0)
		log_debug("cmos-rtc: range already gone");
	pthread_mutex_destroy(&c->lock);
	free(c);
}

bool cmos_rtc_nmi_disabled(struct cmos_rtc *c)
{
	pthread_mutex_lock(&c->lock);
	bool r = c->index & CMOS_NMI_DISABLE;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void cmos_rtc_set_clock(struct cmos_rtc *c, cmos_clock_fn fn, void *opaque)
{
	pthread_mutex_lock(&c->lock);
	c->clock = fn ? fn : cmos_host_clock;
	c->clock_opaque = opaque;
	pthread_mutex_unlock(&c->lock);
}
