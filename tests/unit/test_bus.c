/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include "bus/bus.h"
#include "harness.h"

struct fake_dev {
	uint64_t last_off;
	uint32_t last_len;
	uint8_t mem[16];
	int reads, writes;
};

static void fake_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct fake_dev *d = opaque;
	d->last_off = off;
	d->last_len = len;
	d->reads++;
	memcpy(data, d->mem + off, len);
}

static void fake_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct fake_dev *d = opaque;
	d->last_off = off;
	d->last_len = len;
	d->writes++;
	memcpy(d->mem + off, data, len);
}

static const struct bus_ops fake_ops = {fake_read, fake_write};

TEST(bus_offset_relative_dispatch)
{
	struct bus b;
	struct fake_dev d = {0};
	REQUIRE(bus_init(&b, "pio") == 0);
	REQUIRE(bus_insert(&b, 0x3f8, 8, &fake_ops, &d, "uart") == 0);
	uint8_t v = 0x5a;
	CHECK(bus_write(&b, 0x3fb, &v, 1));
	CHECK_EQ(d.last_off, 3);
	CHECK_EQ(d.mem[3], 0x5a);
	uint16_t w = 0;
	CHECK(bus_read(&b, 0x3fa, &w, 2));
	CHECK_EQ(d.last_off, 2);
	CHECK_EQ(d.last_len, 2);
	CHECK_EQ(w, 0x5a00);
	bus_fini(&b);
}

TEST(bus_rejects_overlap_and_bad_ranges)
{
	struct bus b;
	struct fake_dev d = {0};
	REQUIRE(bus_init(&b, "mmio") == 0);
	REQUIRE(bus_insert(&b, 0x1000, 0x100, &fake_ops, &d, "a") == 0);
	CHECK_EQ(bus_insert(&b, 0x10ff, 1, &fake_ops, &d, "tail"), -EEXIST);
	CHECK_EQ(bus_insert(&b, 0xf00, 0x101, &fake_ops, &d, "head"), -EEXIST);
	CHECK_EQ(bus_insert(&b, 0x1010, 0x10, &fake_ops, &d, "inside"), -EEXIST);
	CHECK_EQ(bus_insert(&b, 0x0, 0x10000, &fake_ops, &d, "around"), -EEXIST);
	CHECK_EQ(bus_insert(&b, 0x2000, 0, &fake_ops, &d, "empty"), -EINVAL);
	CHECK_EQ(bus_insert(&b, UINT64_MAX - 4, 16, &fake_ops, &d, "wrap"), -EINVAL);
	CHECK_EQ(bus_insert(&b, 0xf00, 0x100, &fake_ops, &d, "below"), 0);
	CHECK_EQ(bus_insert(&b, 0x1100, 0x100, &fake_ops, &d, "above"), 0);
	CHECK_EQ(bus_insert(&b, UINT64_MAX - 15, 16, &fake_ops, &d, "top"), 0);
	struct bus_range r;
	CHECK(bus_lookup(&b, 0x10ff, &r));
	CHECK_STR(r.name, "a");
	CHECK(bus_lookup(&b, 0x1100, &r));
	CHECK_STR(r.name, "above");
	CHECK(bus_lookup(&b, UINT64_MAX, &r));
	CHECK_STR(r.name, "top");
	CHECK(!bus_lookup(&b, 0x1200, &r));
	bus_fini(&b);
}

TEST(bus_unhandled_reads_all_ones)
{
	struct bus b;
	struct fake_dev d = {0};
	REQUIRE(bus_init(&b, "pio") == 0);
	REQUIRE(bus_insert(&b, 0x60, 1, &fake_ops, &d, "kbd") == 0);
	uint32_t v = 0;
	CHECK(!bus_read(&b, 0x61, &v, 4));
	CHECK_EQ(v, 0xffffffffu);
	/* An access straddling the end of a range is not handled either. */
	uint16_t w = 0;
	CHECK(!bus_read(&b, 0x60, &w, 2));
	CHECK_EQ(w, 0xffff);
	CHECK_EQ(d.reads, 0);
	CHECK(!bus_write(&b, 0x64, &v, 1));
	CHECK_EQ(d.writes, 0);
	bus_fini(&b);
}

TEST(bus_remove_and_many_ranges)
{
	struct bus b;
	struct fake_dev d[64];
	memset(d, 0, sizeof(d));
	REQUIRE(bus_init(&b, "mmio") == 0);
	/* Insert in a scrambled order; lookup must still find each one. */
	for (unsigned i = 0; i < 64; i++) {
		unsigned k = (i * 37) % 64;
		REQUIRE(bus_insert(&b, 0x10000 + k * 0x1000, 0x800, &fake_ops, &d[k], "r") == 0);
	}
	for (unsigned k = 0; k < 64; k++) {
		struct bus_range r;
		CHECK(bus_lookup(&b, 0x10000 + k * 0x1000 + 0x7ff, &r));
		CHECK(r.opaque == &d[k]);
		CHECK(!bus_lookup(&b, 0x10000 + k * 0x1000 + 0x800, &r));
	}
	CHECK_EQ(bus_remove(&b, 0x10000 + 5 * 0x1000, &d[6]), -ENOENT);
	CHECK_EQ(bus_remove(&b, 0x10000 + 5 * 0x1000, &d[5]), 0);
	struct bus_range r;
	CHECK(!bus_lookup(&b, 0x10000 + 5 * 0x1000, &r));
	CHECK(bus_lookup(&b, 0x10000 + 6 * 0x1000, &r));
	bus_fini(&b);
}
