/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include "mem/guest_mem.h"
#include "harness.h"

TEST(gm_translate_bounds)
{
	struct guest_mem gm;
	static uint8_t low[0x1000], high[0x1000];
	gm_init(&gm);
	REQUIRE(gm_add_region(&gm, 0x100000, sizeof(high), high, -1, 0, false) == 0);
	REQUIRE(gm_add_region(&gm, 0, sizeof(low), low, -1, 0, false) == 0);
	CHECK_EQ(gm_add_region(&gm, 0x800, 0x1000, low, -1, 0, false), -EEXIST);
	CHECK_EQ(gm_add_region(&gm, 0x5000, 0, low, -1, 0, false), -EINVAL);
	CHECK_EQ(gm_add_region(&gm, UINT64_MAX - 10, 0x100, low, -1, 0, false), -EINVAL);
	CHECK(gm_ptr(&gm, 0, 0x1000) == low);
	CHECK(gm_ptr(&gm, 0xfff, 1) == low + 0xfff);
	CHECK(gm_ptr(&gm, 0xfff, 2) == NULL);   /* straddles the end */
	CHECK(gm_ptr(&gm, 0x1000, 1) == NULL);  /* in the gap */
	CHECK(gm_ptr(&gm, 0x100000, 0x1000) == high);
	CHECK(gm_ptr(&gm, 0x100010, UINT64_MAX) == NULL); /* overflow */
	CHECK(gm_ptr(&gm, UINT64_MAX, 2) == NULL);
	CHECK(gm_find(&gm, 0x100fff) != NULL);
	CHECK(gm_find(&gm, 0x101000) == NULL);
	CHECK_EQ(gm_ram_size(&gm), 0x2000);
}

TEST(gm_copy_across_regions)
{
	struct guest_mem gm;
	static uint8_t a[0x1000], b[0x1000];
	gm_init(&gm);
	REQUIRE(gm_add_region(&gm, 0, sizeof(a), a, -1, 0, false) == 0);
	REQUIRE(gm_add_region(&gm, 0x1000, sizeof(b), b, -1, 0, false) == 0);
	uint8_t buf[32];
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(i + 1);
	CHECK_EQ(gm_write(&gm, 0xff0, buf, sizeof(buf)), 0);
	CHECK_EQ(a[0xfff], 16);
	CHECK_EQ(b[0], 17);
	uint8_t back[32] = {0};
	CHECK_EQ(gm_read(&gm, 0xff0, back, sizeof(back)), 0);
	CHECK(memcmp(buf, back, sizeof(buf)) == 0);
	CHECK_EQ(gm_read(&gm, 0x1ff0, back, sizeof(back)), -EFAULT);
	CHECK_EQ(gm_write(&gm, 0x3000, buf, 1), -EFAULT);
}

TEST(gm_readonly_region_refuses_writes)
{
	struct guest_mem gm;
	static uint8_t rom[0x1000];
	gm_init(&gm);
	REQUIRE(gm_add_region(&gm, 0xfffff000, sizeof(rom), rom, -1, 0, true) == 0);
	CHECK(gm_ptr(&gm, 0xfffff000, 16) == rom);
	CHECK(gm_ptr_w(&gm, 0xfffff000, 16) == NULL);
	uint8_t v = 1;
	CHECK_EQ(gm_write(&gm, 0xfffff000, &v, 1), -EFAULT);
	CHECK_EQ(gm_ram_size(&gm), 0);
}

TEST(gm_memfd_is_shared_mapping)
{
	int fd;
	void *p;
	REQUIRE(gm_alloc_memfd("test", 1 << 20, &fd, &p) == 0);
	memset(p, 0xab, 4096);
	uint8_t b = 0;
	CHECK_EQ(pread(fd, &b, 1, 100), 1);
	CHECK_EQ(b, 0xab);
	/* Sealed at its size: whoever it is shared with cannot shrink it under us. */
	CHECK(ftruncate(fd, 4096) < 0 && errno == EPERM);
	CHECK(ftruncate(fd, 2 << 20) < 0 && errno == EPERM);
	CHECK_EQ(fcntl(fd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}
