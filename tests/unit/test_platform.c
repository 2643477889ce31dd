/* SPDX-License-Identifier: MIT */
/* i8042, 0xCF9 reset, POST port and CMOS/RTC through the PIO bus. */
#include <string.h>
#include <time.h>
#include "harness.h"
#include "base/util.h"
#include "bus/bus.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/post.h"
#include "devices/reset_cf9.h"
#include "pci_fake.h"

static uint8_t rd(struct bus *b, uint16_t port)
{
	uint8_t v = 0;
	CHECK(bus_read(b, port, &v, 1));
	return v;
}

static void wr(struct bus *b, uint16_t port, uint8_t v)
{
	CHECK(bus_write(b, port, &v, 1));
}

static void count_reset(void *opaque)
{
	(*(unsigned *)opaque)++;
}

TEST(i8042_reset_commands)
{
	struct bus pio;
	struct i8042 *k;
	unsigned resets = 0;

	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(i8042_create(&pio, count_reset, &resets, &k) == 0);
	wr(&pio, 0x64, 0xfe); /* pulse reset */
	CHECK_EQ(resets, 1);
	wr(&pio, 0x64, 0xff); /* pulse nothing */
	CHECK_EQ(resets, 1);
	wr(&pio, 0x64, 0xf0); /* pulse all lines incl. reset */
	CHECK_EQ(resets, 2);
	wr(&pio, 0x64, 0xd1); /* write output port: A20 on, reset line high */
	wr(&pio, 0x60, 0xdf);
	CHECK_EQ(resets, 2);
	wr(&pio, 0x64, 0xd0);
	CHECK_EQ(rd(&pio, 0x60), 0xdf);
	wr(&pio, 0x64, 0xd1); /* reset line low */
	wr(&pio, 0x60, 0x02);
	CHECK_EQ(resets, 3);
	wr(&pio, 0x60, 0xfe); /* 0xFE as data (to the keyboard) is not a reset */
	CHECK_EQ(resets, 3);
	i8042_destroy(k);
	struct bus_range r;
	CHECK(!bus_lookup(&pio, 0x60, &r));
	CHECK(!bus_lookup(&pio, 0x64, &r));
	bus_fini(&pio);
}

TEST(i8042_probe_answers)
{
	struct bus pio;
	struct i8042 *k;
	unsigned resets = 0;

	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(i8042_create(&pio, count_reset, &resets, &k) == 0);
	uint8_t st = rd(&pio, 0x64);
	CHECK_EQ(st & 0x02, 0);	   /* input buffer empty: writes never wait */
	CHECK_EQ(st & 0x01, 0);	   /* nothing to read */
	CHECK_EQ(st & 0x10, 0x10); /* not key-locked */
	struct bus_range r;
	CHECK(!bus_lookup(&pio, 0x61, &r)); /* speaker port left to KVM's PIT */
	/* controller self-test */
	wr(&pio, 0x64, 0xaa);
	st = rd(&pio, 0x64);
	CHECK_EQ(st & 0x01, 0x01);
	CHECK_EQ(st & 0x08, 0x08); /* last write was a command */
	CHECK_EQ(st & 0x04, 0x04); /* system flag */
	CHECK_EQ(rd(&pio, 0x60), 0x55);
	CHECK_EQ(rd(&pio, 0x64) & 0x01, 0); /* consumed */
	wr(&pio, 0x64, 0xab);
	CHECK_EQ(rd(&pio, 0x60), 0x00);
	wr(&pio, 0x64, 0xa9);
	CHECK_EQ(rd(&pio, 0x60), 0x00);
	/* command byte read/write */
	wr(&pio, 0x64, 0x20);
	CHECK_EQ(rd(&pio, 0x60), 0x45);
	wr(&pio, 0x64, 0x60);
	wr(&pio, 0x60, 0x47);
	CHECK_EQ(rd(&pio, 0x64) & 0x08, 0); /* last write was data */
	wr(&pio, 0x64, 0x20);
	CHECK_EQ(rd(&pio, 0x60), 0x47);
	wr(&pio, 0x64, 0xad); /* disable keyboard sets CTR bit 4 */
	wr(&pio, 0x64, 0xa7); /* disable aux sets CTR bit 5 */
	wr(&pio, 0x64, 0x20);
	CHECK_EQ(rd(&pio, 0x60), 0x77);
	wr(&pio, 0x64, 0xae);
	wr(&pio, 0x64, 0xa8);
	wr(&pio, 0x64, 0x20);
	CHECK_EQ(rd(&pio, 0x60), 0x47);
	/* aux loopback (0xD3) comes back flagged as aux data; 0xD2 as keyboard data */
	wr(&pio, 0x64, 0xd3);
	wr(&pio, 0x60, 0x5a);
	CHECK_EQ(rd(&pio, 0x64) & 0x21, 0x21);
	CHECK_EQ(rd(&pio, 0x60), 0x5a);
	wr(&pio, 0x64, 0xd2);
	wr(&pio, 0x60, 0xa5);
	CHECK_EQ(rd(&pio, 0x64) & 0x21, 0x01);
	CHECK_EQ(rd(&pio, 0x60), 0xa5);
	/* data to the (absent) keyboard: no answer, no output */
	wr(&pio, 0x60, 0xff);
	CHECK_EQ(rd(&pio, 0x64) & 0x01, 0);
	CHECK_EQ(resets, 0);
	i8042_destroy(k);
	bus_fini(&pio);
}

TEST(reset_cf9_semantics)
{
	struct bus pio;
	struct reset_cf9 *r;
	unsigned resets = 0;

	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(reset_cf9_create(&pio, count_reset, &resets, &r) == 0);
	CHECK_EQ(rd(&pio, 0xcf9), 0);
	wr(&pio, 0xcf9, 0x02); /* SYS_RST alone: no reset yet (Linux writes this first) */
	CHECK_EQ(resets, 0);
	CHECK_EQ(rd(&pio, 0xcf9), 0x02);
	wr(&pio, 0xcf9, 0x06); /* warm reset */
	CHECK_EQ(resets, 1);
	CHECK_EQ(rd(&pio, 0xcf9), 0x02); /* RST_CPU reads back 0 */
	wr(&pio, 0xcf9, 0x0e);		 /* cold reset */
	CHECK_EQ(resets, 2);
	CHECK_EQ(rd(&pio, 0xcf9), 0x0a);
	wr(&pio, 0xcf9, 0x08);
	CHECK_EQ(resets, 2);
	/* Only 0xCF9 is claimed: the PCI config dwords are someone else's. */
	struct bus_range br;
	CHECK(!bus_lookup(&pio, 0xcf8, &br));
	CHECK(!bus_lookup(&pio, 0xcfa, &br));
	reset_cf9_destroy(r);
	CHECK(!bus_lookup(&pio, 0xcf9, &br));

	/* Forwarded mode: nothing on the bus, the PCI bridge calls us. */
	REQUIRE(reset_cf9_create(NULL, count_reset, &resets, &r) == 0);
	reset_cf9_write(r, 0x06);
	CHECK_EQ(resets, 3);
	CHECK_EQ(reset_cf9_read(r), 0x02);
	uint8_t v = 0x0e;
	reset_cf9_ops.write(r, 0, &v, 1); /* as the PCI bridge forwards it */
	CHECK_EQ(resets, 4);
	reset_cf9_ops.read(r, 0, &v, 1);
	CHECK_EQ(v, 0x0a);
	reset_cf9_destroy(r);
	bus_fini(&pio);
}

/* As wired in the machine: the PCI host bridge owns 0xCF8-0xCFB and forwards 0xCF9 bytes. */
TEST(reset_cf9_behind_pci_host_bridge)
{
	struct pci_env e;
	struct reset_cf9 *r;
	unsigned resets = 0;

	REQUIRE(pci_env_init(&e) == 0);
	REQUIRE(reset_cf9_create(NULL, count_reset, &resets, &r) == 0);
	pci_bus_set_cf9(e.pci, &reset_cf9_ops, r);
	uint32_t addr = 0x80000000u;
	CHECK(bus_write(&e.pio, 0xcf8, &addr, 4)); /* a CONFIG_ADDRESS dword is no reset */
	CHECK_EQ(resets, 0);
	wr(&e.pio, 0xcf9, 0x02);
	CHECK_EQ(resets, 0);
	CHECK_EQ(rd(&e.pio, 0xcf9), 0x02);
	wr(&e.pio, 0xcf9, 0x06);
	CHECK_EQ(resets, 1);
	uint32_t back = 0;
	CHECK(bus_read(&e.pio, 0xcf8, &back, 4));
	CHECK_EQ(back, 0x80000000u); /* the byte writes did not touch CONFIG_ADDRESS */
	pci_env_fini(&e);
	reset_cf9_destroy(r);
}

TEST(post_port_sink)
{
	struct bus pio;
	struct post *p;

	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(post_create(&pio, 0x80, &p) == 0);
	CHECK_EQ(rd(&pio, 0x80), 0);
	wr(&pio, 0x80, 0x12);
	wr(&pio, 0x80, 0x34);
	CHECK_EQ(rd(&pio, 0x80), 0x34);
	CHECK_EQ(post_last(p), 0x34);
	post_destroy(p);
	bus_fini(&pio);
}

static uint8_t cmos_get(struct bus *pio, uint8_t idx)
{
	wr(pio, 0x70, idx);
	return rd(pio, 0x71);
}

static void cmos_set(struct bus *pio, uint8_t idx, uint8_t v)
{
	wr(pio, 0x70, idx);
	wr(pio, 0x71, v);
}

struct mem_case {
	uint64_t below, above;
	unsigned cpus;
	uint16_t ext_kib, over16;
	uint32_t over4g;
};

TEST(cmos_memory_bytes)
{
	static const struct mem_case cases[] = {
	    /* 512 MiB: all below 4G; KiB above 1 MiB capped at 0xFFFF */
	    {512 * MiB, 0, 1, 0xffff, (512 - 16) * 16, 0},
	    /* 3.5 GiB: 3 GiB below the MMIO hole, 512 MiB above 4 GiB */
	    {3 * GiB, 512 * MiB, 4, 0xffff, 0xbf00, 0x2000},
	    /* 8 GiB: 3 GiB below, 5 GiB above */
	    {3 * GiB, 5 * GiB, 32, 0xffff, 0xbf00, 0x14000},
	    /* 8 MiB: small enough not to cap, nothing over 16 MiB */
	    {8 * MiB, 0, 2, 7 * 1024, 0, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct mem_case *c = &cases[i];
		struct bus pio;
		struct cmos_rtc *rtc;
		REQUIRE(bus_init(&pio, "pio") == 0);
		REQUIRE(cmos_rtc_create(&pio, c->below, c->above, c->cpus, &rtc) == 0);
		CHECK_EQ(cmos_get(&pio, 0x15) | cmos_get(&pio, 0x16) << 8, 640);
		CHECK_EQ(cmos_get(&pio, 0x17) | cmos_get(&pio, 0x18) << 8, c->ext_kib);
		CHECK_EQ(cmos_get(&pio, 0x30) | cmos_get(&pio, 0x31) << 8, c->ext_kib);
		CHECK_EQ(cmos_get(&pio, 0x34) | cmos_get(&pio, 0x35) << 8, c->over16);
		CHECK_EQ(cmos_get(&pio, 0x5b) | cmos_get(&pio, 0x5c) << 8 |
			     (uint32_t)cmos_get(&pio, 0x5d) << 16,
			 c->over4g);
		CHECK_EQ(cmos_get(&pio, 0x5f), c->cpus - 1);
		CHECK_EQ(cmos_get(&pio, 0x14) & 0x01, 0); /* no floppy */
		unsigned sum = 0;
		for (uint8_t j = 0x10; j <= 0x2d; j++)
			sum += cmos_get(&pio, j);
		CHECK_EQ(cmos_get(&pio, 0x2e) << 8 | cmos_get(&pio, 0x2f), sum);
		cmos_rtc_destroy(rtc);
		bus_fini(&pio);
	}
}

static time_t fake_now(void *opaque)
{
	return *(time_t *)opaque;
}

/* 2026-11-25 19:45:07 UTC, a Wednesday */
#define T0 ((time_t)1795635907)

TEST(cmos_rtc_time_formats)
{
	struct bus pio;
	struct cmos_rtc *rtc;
	time_t now = T0;
	struct tm tm;

	REQUIRE(gmtime_r(&now, &tm) != NULL);
	REQUIRE(tm.tm_year == 126 && tm.tm_mon == 10 && tm.tm_mday == 25 && tm.tm_hour == 19);
	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(cmos_rtc_create(&pio, 512 * MiB, 0, 1, &rtc) == 0);
	cmos_rtc_set_clock(rtc, fake_now, &now);
	CHECK_EQ(cmos_get(&pio, 0x0a), 0x26); /* UIP clear, divider */
	CHECK_EQ(cmos_get(&pio, 0x0b), 0x02); /* 24h, BCD */
	CHECK_EQ(cmos_get(&pio, 0x0c), 0x00);
	CHECK_EQ(cmos_get(&pio, 0x0d), 0x80);
	/* BCD, 24h */
	CHECK_EQ(cmos_get(&pio, 0x00), 0x07);
	CHECK_EQ(cmos_get(&pio, 0x02), 0x45);
	CHECK_EQ(cmos_get(&pio, 0x04), 0x19);
	CHECK_EQ(cmos_get(&pio, 0x06), 0x04); /* Wednesday; Sunday = 1 */
	CHECK_EQ(cmos_get(&pio, 0x07), 0x25);
	CHECK_EQ(cmos_get(&pio, 0x08), 0x11);
	CHECK_EQ(cmos_get(&pio, 0x09), 0x26);
	CHECK_EQ(cmos_get(&pio, 0x32), 0x20);
	/* binary, 24h */
	cmos_set(&pio, 0x0b, 0x06);
	CHECK_EQ(cmos_get(&pio, 0x00), 7);
	CHECK_EQ(cmos_get(&pio, 0x02), 45);
	CHECK_EQ(cmos_get(&pio, 0x04), 19);
	CHECK_EQ(cmos_get(&pio, 0x07), 25);
	CHECK_EQ(cmos_get(&pio, 0x08), 11);
	CHECK_EQ(cmos_get(&pio, 0x09), 26);
	CHECK_EQ(cmos_get(&pio, 0x32), 20);
	/* binary, 12h: 19h = 7 PM */
	cmos_set(&pio, 0x0b, 0x04);
	CHECK_EQ(cmos_get(&pio, 0x04), 0x87);
	/* BCD, 12h: midnight is 12 AM, noon 12 PM */
	cmos_set(&pio, 0x0b, 0x00);
	CHECK_EQ(cmos_get(&pio, 0x04), 0x87);
	now = T0 - 19 * 3600 - 45 * 60; /* 00:00:07 */
	CHECK_EQ(cmos_get(&pio, 0x04), 0x12);
	now += 12 * 3600;
	CHECK_EQ(cmos_get(&pio, 0x04), 0x92);
	/* the clock follows the host */
	now = T0 + 60;
	cmos_set(&pio, 0x0b, 0x02);
	CHECK_EQ(cmos_get(&pio, 0x02), 0x46);
	cmos_rtc_destroy(rtc);
	bus_fini(&pio);
}

TEST(cmos_rtc_guest_sets_time)
{
	struct bus pio;
	struct cmos_rtc *rtc;
	time_t now = T0;

	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(cmos_rtc_create(&pio, 512 * MiB, 0, 1, &rtc) == 0);
	cmos_rtc_set_clock(rtc, fake_now, &now);
	cmos_set(&pio, 0x0b, 0x82); /* SET: freeze, then write */
	now += 100;		    /* frozen: does not move */
	CHECK_EQ(cmos_get(&pio, 0x00), 0x07);
	cmos_set(&pio, 0x04, 0x08);
	cmos_set(&pio, 0x02, 0x30);
	cmos_set(&pio, 0x00, 0x00);
	cmos_set(&pio, 0x09, 0x30); /* 2030 */
	cmos_set(&pio, 0x0b, 0x02); /* run again */
	CHECK_EQ(cmos_get(&pio, 0x04), 0x08);
	CHECK_EQ(cmos_get(&pio, 0x02), 0x30);
	CHECK_EQ(cmos_get(&pio, 0x09), 0x30);
	CHECK_EQ(cmos_get(&pio, 0x32), 0x20);
	now += 61;
	CHECK_EQ(cmos_get(&pio, 0x02), 0x31);
	CHECK_EQ(cmos_get(&pio, 0x00), 0x01);
	/* garbage BCD does not break anything */
	cmos_set(&pio, 0x08, 0xff);
	cmos_set(&pio, 0x07, 0x00);
	(void)cmos_get(&pio, 0x08);
	/* register A's UIP bit cannot be set; C and D are read-only */
	cmos_set(&pio, 0x0a, 0xa6);
	CHECK_EQ(cmos_get(&pio, 0x0a), 0x26);
	cmos_set(&pio, 0x0d, 0x00);
	CHECK_EQ(cmos_get(&pio, 0x0d), 0x80);
	cmos_rtc_destroy(rtc);
	bus_fini(&pio);
}

TEST(cmos_nmi_bit_masking)
{
	struct bus pio;
	struct cmos_rtc *rtc;

	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(cmos_rtc_create(&pio, 512 * MiB, 0, 1, &rtc) == 0);
	CHECK(!cmos_rtc_nmi_disabled(rtc));
	wr(&pio, 0x70, 0x80 | 0x0b); /* NMI off + register B */
	CHECK(cmos_rtc_nmi_disabled(rtc));
	CHECK_EQ(rd(&pio, 0x71), 0x02); /* the index is 0x0B, not 0x8B */
	wr(&pio, 0x70, 0x80 | 0x40);
	wr(&pio, 0x71, 0xa5);
	wr(&pio, 0x70, 0x40);
	CHECK(!cmos_rtc_nmi_disabled(rtc));
	CHECK_EQ(rd(&pio, 0x71), 0xa5);
	/* all 128 bytes of plain CMOS RAM hold data; index 0x7f is the last */
	wr(&pio, 0x70, 0xff);
	wr(&pio, 0x71, 0x3c);
	CHECK_EQ(cmos_get(&pio, 0x7f), 0x3c);
	struct bus_range r;
	CHECK(!bus_lookup(&pio, 0x72, &r));
	cmos_rtc_destroy(rtc);
	bus_fini(&pio);
}
