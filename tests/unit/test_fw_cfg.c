/* SPDX-License-Identifier: MIT */
/* fw_cfg and debugcon: port and DMA semantics over a malloc'd guest memory. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "firmware/fw_cfg.h"
#include "firmware/debugcon.h"
#include "firmware/boot_fw.h"
#include "arch/x86/acpi.h"
#include "vmm/machine.h"
#include "base/util.h"

#define RAM_SIZE (64 * 1024)
#define ROM_GPA 0x100000ULL
#define ROM_SIZE 4096

struct fx {
	struct guest_mem gm;
	uint8_t *ram;
	uint8_t *rom;
	struct fwcfg *fw;
};

static int fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	gm_init(&f->gm);
	f->ram = calloc(1, RAM_SIZE);
	f->rom = calloc(1, ROM_SIZE);
	if (!f->ram || !f->rom)
		return -1;
	if (gm_add_region(&f->gm, 0, RAM_SIZE, f->ram, -1, 0, false))
		return -1;
	if (gm_add_region(&f->gm, ROM_GPA, ROM_SIZE, f->rom, -1, 0, true))
		return -1;
	return fwcfg_create(&f->gm, &f->fw);
}

static void fx_fini(struct fx *f)
{
	fwcfg_destroy(f->fw);
	free(f->ram);
	free(f->rom);
}

static void io_select(struct fx *f, uint16_t key)
{
	uint16_t le = htole16(key);
	fwcfg_ctl_write(f->fw, 0, &le, 2);
}

static void io_read(struct fx *f, void *buf, size_t n)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < n; i++)
		fwcfg_ctl_read(f->fw, 1, &p[i], 1);
}

/* Write a FWCfgDmaAccess at gpa and kick it through the two 32-bit halves. */
static uint32_t dma(struct fx *f, uint64_t desc_gpa, uint32_t control, uint32_t len,
		    uint64_t addr)
{
	struct fw_cfg_dma_access a = {htobe32(control), htobe32(len), htobe64(addr)};
	if (desc_gpa + sizeof(a) <= RAM_SIZE)
		memcpy(f->ram + desc_gpa, &a, sizeof(a));
	uint32_t hi = htobe32((uint32_t)(desc_gpa >> 32)), lo = htobe32((uint32_t)desc_gpa);
	fwcfg_dma_write(f->fw, 0, &hi, 4);
	fwcfg_dma_write(f->fw, 4, &lo, 4);
	if (desc_gpa + sizeof(a) > RAM_SIZE)
		return 0xdeadbeef;
	memcpy(&a, f->ram + desc_gpa, sizeof(a));
	return be32toh(a.control);
}

TEST(fwcfg_signature_and_id)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	char sig[6] = {0};
	/* The signature is selected after reset. */
	io_read(&f, sig, 5);
	CHECK_STR(sig, "QEMU");
	io_select(&f, FW_CFG_SIGNATURE);
	memset(sig, 0, sizeof(sig));
	io_read(&f, sig, 4);
	CHECK_STR(sig, "QEMU");
	uint32_t id;
	io_select(&f, FW_CFG_ID);
	io_read(&f, &id, 4);
	CHECK_EQ(le32toh(id), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	/* DMA register reads back "QEMU CFG". */
	uint8_t reg[8];
	fwcfg_dma_read(f.fw, 0, reg, 4);
	fwcfg_dma_read(f.fw, 4, reg + 4, 4);
	CHECK(memcmp(reg, "QEMU CFG", 8) == 0);
	fx_fini(&f);
}

TEST(fwcfg_fixed_items_and_unknown)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	REQUIRE(fwcfg_add_u64(f.fw, FW_CFG_RAM_SIZE, 0x20000000ULL) == 0);
	REQUIRE(fwcfg_add_u16(f.fw, FW_CFG_NB_CPUS, 2) == 0);
	REQUIRE(fwcfg_add_u16(f.fw, FW_CFG_NB_CPUS, 3) == 0); /* replace */
	uint64_t ram = 0;
	io_select(&f, FW_CFG_RAM_SIZE);
	io_read(&f, &ram, 8);
	CHECK_EQ(le64toh(ram), 0x20000000ULL);
	/* Past the end: zeros. */
	uint8_t b = 0xaa;
	io_read(&f, &b, 1);
	CHECK_EQ(b, 0);
	uint16_t n = 0;
	io_select(&f, FW_CFG_NB_CPUS);
	io_read(&f, &n, 2);
	CHECK_EQ(le16toh(n), 3);
	/* The write-channel bit is ignored on select. */
	io_select(&f, FW_CFG_NB_CPUS | FW_CFG_WRITE_CHANNEL);
	io_read(&f, &n, 2);
	CHECK_EQ(le16toh(n), 3);
	/* Writes to the data port change nothing. */
	io_select(&f, FW_CFG_NB_CPUS);
	uint8_t w = 9;
	fwcfg_ctl_write(f.fw, 1, &w, 1);
	io_read(&f, &n, 2);
	CHECK_EQ(le16toh(n), 3);
	/* Unknown selectors read as zeros; so does a wide read of the selector port. */
	uint8_t buf[16];
	memset(buf, 0xaa, sizeof(buf));
	io_select(&f, 0x1234);
	io_read(&f, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], 0);
	uint16_t selr = 0xaaaa;
	fwcfg_ctl_read(f.fw, 0, &selr, 2);
	CHECK_EQ(selr, 0);
	/* Reserved selectors cannot be overwritten. */
	CHECK(fwcfg_add_u32(f.fw, FW_CFG_SIGNATURE, 1) < 0);
	CHECK(fwcfg_add_u32(f.fw, FW_CFG_ID, 1) < 0);
	CHECK(fwcfg_add_u32(f.fw, FW_CFG_FILE_DIR, 1) < 0);
	CHECK(fwcfg_add_u32(f.fw, FW_CFG_FILE_FIRST, 1) < 0);
	CHECK(fwcfg_add_u32(f.fw, FW_CFG_RAM_SIZE | FW_CFG_WRITE_CHANNEL, 1) < 0);
	CHECK(fwcfg_add_item(f.fw, FW_CFG_UUID, NULL, 16) < 0);
	fx_fini(&f);
}

TEST(fwcfg_file_directory)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	uint16_t k1 = 0, k2 = 0;
	REQUIRE(fwcfg_add_file(f.fw, "bootorder", "/pci@i0cf8/scsi@3/disk@0,0\n", 28, &k1) == 0);
	uint32_t wait = htole32(1000);
	REQUIRE(fwcfg_add_file(f.fw, "etc/boot-fail-wait", &wait, 4, &k2) == 0);
	CHECK_EQ(k1, FW_CFG_FILE_FIRST);
	CHECK_EQ(k2, FW_CFG_FILE_FIRST + 1);
	CHECK(fwcfg_add_file(f.fw, "bootorder", "x", 1, NULL) == -EEXIST);
	char longname[FW_CFG_MAX_FILE_PATH + 1];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK(fwcfg_add_file(f.fw, longname, "x", 1, NULL) == -EINVAL);
	CHECK(fwcfg_add_file(f.fw, "", "x", 1, NULL) == -EINVAL);

	uint32_t count;
	io_select(&f, FW_CFG_FILE_DIR);
	io_read(&f, &count, 4);
	REQUIRE(be32toh(count) == 2);
	struct fw_cfg_file e[2];
	io_read(&f, e, sizeof(e));
	CHECK_STR(e[0].name, "bootorder");
	CHECK_EQ(be32toh(e[0].size), 28);
	CHECK_EQ(be16toh(e[0].select), k1);
	CHECK_STR(e[1].name, "etc/boot-fail-wait");
	CHECK_EQ(be32toh(e[1].size), 4);
	CHECK_EQ(be16toh(e[1].select), k2);

	char bo[29] = {0};
	io_select(&f, be16toh(e[0].select));
	io_read(&f, bo, 28);
	CHECK_STR(bo, "/pci@i0cf8/scsi@3/disk@0,0\n");
	uint32_t v;
	io_select(&f, k2);
	io_read(&f, &v, 4);
	CHECK_EQ(le32toh(v), 1000);
	fx_fini(&f);
}

TEST(fwcfg_file_limit)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	char name[32];
	int r = 0;
	unsigned i;
	for (i = 0; i < FWCFG_MAX_FILES + 2; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		r = fwcfg_add_file(f.fw, name, &i, sizeof(i), NULL);
		if (r)
			break;
	}
	CHECK_EQ(i, FWCFG_MAX_FILES);
	CHECK(r == -ENOSPC);
	uint32_t count;
	io_select(&f, FW_CFG_FILE_DIR);
	io_read(&f, &count, 4);
	CHECK_EQ(be32toh(count), FWCFG_MAX_FILES);
	fx_fini(&f);
}

TEST(fwcfg_dma_read_select_skip)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	uint8_t blob[100];
	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 1);
	uint16_t key;
	REQUIRE(fwcfg_add_file(f.fw, "etc/e820", blob, sizeof(blob), &key) == 0);

	/* SELECT + READ 10 bytes. */
	uint32_t c = dma(&f, 0x1000, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT |
					 FW_CFG_DMA_CTL_READ, 10, 0x2000);
	CHECK_EQ(c, 0);
	CHECK(memcmp(f.ram + 0x2000, blob, 10) == 0);
	/* SKIP 20, then READ continues at 30. */
	CHECK_EQ(dma(&f, 0x1000, FW_CFG_DMA_CTL_SKIP, 20, 0), 0);
	CHECK_EQ(dma(&f, 0x1000, FW_CFG_DMA_CTL_READ, 10, 0x2100), 0);
	CHECK(memcmp(f.ram + 0x2100, blob + 30, 10) == 0);
	/* Reading past the end: the item's tail, then zeros. */
	memset(f.ram + 0x3000, 0xaa, 200);
	CHECK_EQ(dma(&f, 0x1000, FW_CFG_DMA_CTL_READ, 200, 0x3000), 0);
	CHECK(memcmp(f.ram + 0x3000, blob + 40, 60) == 0);
	for (unsigned i = 60; i < 200; i++)
		CHECK_EQ(f.ram[0x3000 + i], 0);
	/* The port interface shares the offset: at the end now. */
	uint8_t b = 0xaa;
	io_read(&f, &b, 1);
	CHECK_EQ(b, 0);
	/* A zero-length read is a no-op that succeeds. */
	CHECK_EQ(dma(&f, 0x1000, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT |
				     FW_CFG_DMA_CTL_READ, 0, 0xffffffffffffULL), 0);
	/* The same item via the 64-bit register write. */
	struct fw_cfg_dma_access a = {
		htobe32((uint32_t)FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT |
			FW_CFG_DMA_CTL_READ),
		htobe32(4), htobe64(0x4000)};
	memcpy(f.ram + 0x1800, &a, sizeof(a));
	uint64_t be = htobe64(0x1800);
	fwcfg_dma_write(f.fw, 0, &be, 8);
	CHECK(memcmp(f.ram + 0x4000, "QEMU", 4) == 0);
	memcpy(&a, f.ram + 0x1800, sizeof(a));
	CHECK_EQ(a.control, 0);
	fx_fini(&f);
}

TEST(fwcfg_dma_malformed)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	REQUIRE(fwcfg_add_u64(f.fw, FW_CFG_RAM_SIZE, 123) == 0);
	uint32_t rd = (uint32_t)FW_CFG_RAM_SIZE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
	/* Destination outside RAM, straddling the end, in the read-only region, wrapping. */
	CHECK_EQ(dma(&f, 0x100, rd, 8, 0x80000000ULL), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(dma(&f, 0x100, rd, 8, RAM_SIZE - 4), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(dma(&f, 0x100, rd, 8, ROM_GPA), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(dma(&f, 0x100, rd, 0xffffffffu, 0xffffffffffffff00ULL), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(dma(&f, 0x100, rd, 0xffffffffu, 0x10), FW_CFG_DMA_CTL_ERROR);
	for (unsigned i = 0; i < ROM_SIZE; i++)
		CHECK_EQ(f.rom[i], 0);
	/* WRITE is refused, also combined with READ. */
	CHECK_EQ(dma(&f, 0x100, rd | FW_CFG_DMA_CTL_WRITE, 8, 0x200), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(dma(&f, 0x100, FW_CFG_DMA_CTL_WRITE, 8, 0x200), FW_CFG_DMA_CTL_ERROR);
	/* Descriptor outside RAM / in ROM / straddling: ignored, no crash. */
	(void)dma(&f, 0x7fffffff0ULL, rd, 8, 0x200);
	(void)dma(&f, RAM_SIZE - 8, rd, 8, 0x200);
	uint32_t hi = htobe32(0), lo = htobe32((uint32_t)ROM_GPA);
	fwcfg_dma_write(f.fw, 0, &hi, 4);
	fwcfg_dma_write(f.fw, 4, &lo, 4);
	for (unsigned i = 0; i < ROM_SIZE; i++)
		CHECK_EQ(f.rom[i], 0);
	/* Odd register widths are ignored. */
	uint16_t w = 0x1234;
	fwcfg_dma_write(f.fw, 2, &w, 2);
	fwcfg_dma_write(f.fw, 4, &w, 2);
	/* Unknown control bits / no operation: completes with 0. */
	CHECK_EQ(dma(&f, 0x100, 0xffff0000u | 0x20, 8, 0x200), 0);
	/* The high half is consumed by a trigger: a later low-only write is a 32-bit address. */
	hi = htobe32(0x1);
	fwcfg_dma_write(f.fw, 0, &hi, 4);
	lo = htobe32(0x100);
	fwcfg_dma_write(f.fw, 4, &lo, 4); /* 0x1_0000_0100: outside RAM, ignored */
	CHECK_EQ(dma(&f, 0x100, rd, 8, 0x300), 0);
	uint64_t v;
	memcpy(&v, f.ram + 0x300, 8);
	CHECK_EQ(le64toh(v), 123);
	fx_fini(&f);
}

TEST(fwcfg_attach_bus)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	struct bus pio;
	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(fwcfg_attach(f.fw, &pio) == 0);
	uint16_t sel = htole16(FW_CFG_SIGNATURE);
	CHECK(bus_write(&pio, 0x510, &sel, 2));
	char sig[5] = {0};
	for (int i = 0; i < 4; i++)
		CHECK(bus_read(&pio, 0x511, &sig[i], 1));
	CHECK_STR(sig, "QEMU");
	uint32_t hi;
	CHECK(bus_read(&pio, 0x514, &hi, 4));
	CHECK(memcmp(&hi, "QEMU", 4) == 0);
	/* A second device on the same ports is refused. */
	CHECK(fwcfg_attach(f.fw, &pio) < 0);
	bus_fini(&pio);
	fx_fini(&f);
}

TEST(debugcon_log_file)
{
	const char *dir = test_tmpdir();
	REQUIRE(dir);
	char path[512];
	snprintf(path, sizeof(path), "%s/fw.log", dir);
	struct debugcon *dc;
	REQUIRE(debugcon_create(path, &dc) == 0);
	struct bus pio;
	REQUIRE(bus_init(&pio, "pio") == 0);
	REQUIRE(debugcon_attach(dc, &pio, 0x402) == 0);
	const char *msg = "SeaBIOS (version test)\npartial";
	for (const char *p = msg; *p; p++)
		CHECK(bus_write(&pio, 0x402, p, 1));
	uint8_t rb = 0;
	CHECK(bus_read(&pio, 0x402, &rb, 1));
	CHECK_EQ(rb, DEBUGCON_READBACK);
	bus_fini(&pio);
	debugcon_destroy(dc);
	uint8_t *buf = NULL;
	size_t len = 0;
	REQUIRE(read_file(path, 4096, &buf, &len) == 0);
	CHECK_EQ(len, strlen(msg));
	CHECK(memcmp(buf, msg, len) == 0);
	free(buf);
	/* No file: output discarded, reads still answer. */
	REQUIRE(debugcon_create(NULL, &dc) == 0);
	debugcon_write(dc, 0, "x", 1);
	debugcon_read(dc, 0, &rb, 1);
	CHECK_EQ(rb, DEBUGCON_READBACK);
	debugcon_destroy(dc);
}

/* Read a whole file item by name through the directory, as SeaBIOS does. */
static int read_named(struct fx *f, const char *name, void *buf, uint32_t cap, uint32_t *len)
{
	uint32_t count;
	io_select(f, FW_CFG_FILE_DIR);
	io_read(f, &count, 4);
	for (uint32_t i = 0; i < be32toh(count); i++) {
		struct fw_cfg_file e;
		io_read(f, &e, sizeof(e));
		if (strcmp(e.name, name) == 0) {
			*len = be32toh(e.size);
			if (*len > cap)
				return -1;
			io_select(f, be16toh(e.select));
			io_read(f, buf, *len);
			return 0;
		}
	}
	return -1;
}

TEST(fw_populate_items)
{
	struct fx f;
	REQUIRE(fx_init(&f) == 0);
	struct fw_setup fs = {.firmware = "x", .boot_pci_dev = 3, .boot_pci_fn = 0,
			      .serial_console = true};
	REQUIRE(fw_cfg_populate(f.fw, 3ULL * GiB, 1ULL * GiB, 2, &fs) == 0);
	uint64_t ram;
	io_select(&f, FW_CFG_RAM_SIZE);
	io_read(&f, &ram, 8);
	CHECK_EQ(le64toh(ram), 4ULL * GiB);
	uint16_t v16;
	io_select(&f, FW_CFG_NB_CPUS);
	io_read(&f, &v16, 2);
	CHECK_EQ(le16toh(v16), 2);
	io_select(&f, FW_CFG_MAX_CPUS);
	io_read(&f, &v16, 2);
	CHECK_EQ(le16toh(v16), 2);
	v16 = 0xffff;
	io_select(&f, FW_CFG_BOOT_MENU);
	io_read(&f, &v16, 2);
	CHECK_EQ(v16, 0);

	uint8_t buf[256];
	uint32_t len = 0;
	REQUIRE(read_named(&f, "etc/e820", buf, sizeof(buf), &len) == 0);
	REQUIRE(len == 4 * 20);
	struct {
		uint64_t addr, len;
		uint32_t type;
	} exp[4] = {{0, 3ULL * GiB, 1},
		    {0xe0000000ULL, 0x10000000ULL, 2},
		    {0xfeffc000ULL, 0x4000, 2},
		    {4ULL * GiB, 1ULL * GiB, 1}};
	for (unsigned i = 0; i < 4; i++) {
		uint64_t a, l;
		uint32_t t;
		memcpy(&a, buf + i * 20, 8);
		memcpy(&l, buf + i * 20 + 8, 8);
		memcpy(&t, buf + i * 20 + 16, 4);
		CHECK_EQ(le64toh(a), exp[i].addr);
		CHECK_EQ(le64toh(l), exp[i].len);
		CHECK_EQ(le32toh(t), exp[i].type);
	}
	REQUIRE(read_named(&f, "bootorder", buf, sizeof(buf), &len) == 0);
	CHECK_EQ(len, strlen("/pci@i0cf8/scsi@3/disk@0,0") + 1);
	CHECK_STR((char *)buf, "/pci@i0cf8/scsi@3/disk@0,0");
	REQUIRE(read_named(&f, "etc/sercon-port", buf, sizeof(buf), &len) == 0);
	CHECK_EQ(len, 2);
	CHECK_EQ(buf[0] | buf[1] << 8, 0x3f8);
	REQUIRE(read_named(&f, "etc/boot-cpus", buf, sizeof(buf), &len) == 0);
	CHECK_EQ(len, 2);
	CHECK_EQ(buf[0], 2);
	REQUIRE(read_named(&f, "etc/boot-fail-wait", buf, sizeof(buf), &len) == 0);
	CHECK_EQ(len, 4);
	uint32_t w;
	memcpy(&w, buf, 4);
	CHECK_EQ(le32toh(w), FW_BOOT_FAIL_WAIT_MS);
	fx_fini(&f);

	/* No boot disk, no serial console, no RAM above 4 GiB. */
	REQUIRE(fx_init(&f) == 0);
	struct fw_setup fs2 = {.firmware = "x", .boot_pci_dev = FW_BOOT_NONE};
	REQUIRE(fw_cfg_populate(f.fw, 512 * MiB, 0, 1, &fs2) == 0);
	CHECK(read_named(&f, "bootorder", buf, sizeof(buf), &len) < 0);
	CHECK(read_named(&f, "etc/sercon-port", buf, sizeof(buf), &len) < 0);
	REQUIRE(read_named(&f, "etc/e820", buf, sizeof(buf), &len) == 0);
	CHECK_EQ(len, 3 * 20);
	CHECK(fw_cfg_populate(f.fw, 512 * MiB, 0, 0, &fs2) < 0);
	fx_fini(&f);
}

/* The ACPI tables go to SeaBIOS as QEMU's three files, byte for byte as built. */
TEST(fw_populate_acpi_files)
{
	struct fx f;
	struct acpi_params p;
	struct acpi_tables t;
	machine_acpi_params(2, 512 * MiB, &p);
	REQUIRE(acpi_build(&p, &t) == 0);
	REQUIRE(fx_init(&f) == 0);
	struct fw_setup fs = {.firmware = "x", .boot_pci_dev = FW_BOOT_NONE, .acpi = &t};
	REQUIRE(fw_cfg_populate(f.fw, 512 * MiB, 0, 2, &fs) == 0);
	static uint8_t buf[16384];
	uint32_t len = 0;
	REQUIRE(read_named(&f, ACPI_FILE_TABLES, buf, sizeof(buf), &len) == 0);
	CHECK_EQ(len, t.tables_len);
	CHECK(memcmp(buf, t.tables, len) == 0);
	REQUIRE(read_named(&f, ACPI_FILE_RSDP, buf, sizeof(buf), &len) == 0);
	CHECK_EQ(len, ACPI_RSDP_LEN);
	CHECK(memcmp(buf, t.rsdp, len) == 0);
	REQUIRE(read_named(&f, ACPI_FILE_LOADER, buf, sizeof(buf), &len) == 0);
	CHECK_EQ(len, t.loader_len);
	CHECK(memcmp(buf, t.loader, len) == 0);
	fx_fini(&f);

	/* without tables SeaBIOS builds its own: no loader file */
	REQUIRE(fx_init(&f) == 0);
	fs.acpi = NULL;
	REQUIRE(fw_cfg_populate(f.fw, 512 * MiB, 0, 2, &fs) == 0);
	CHECK(read_named(&f, ACPI_FILE_LOADER, buf, sizeof(buf), &len) < 0);
	fx_fini(&f);
	acpi_tables_fini(&t);
}

TEST(fw_bootorder_format)
{
	char b[64];
	CHECK_EQ(fw_bootorder_pci(b, sizeof(b), 1, 0), strlen("/pci@i0cf8/scsi@1/disk@0,0"));
	CHECK_STR(b, "/pci@i0cf8/scsi@1/disk@0,0");
	CHECK(fw_bootorder_pci(b, sizeof(b), 0x1f, 2) > 0);
	CHECK_STR(b, "/pci@i0cf8/scsi@1f,2/disk@0,0");
	CHECK(fw_bootorder_pci(b, sizeof(b), 32, 0) == -EINVAL);
	CHECK(fw_bootorder_pci(b, sizeof(b), 1, 8) == -EINVAL);
	CHECK(fw_bootorder_pci(b, sizeof(b), -1, 0) == -EINVAL);
	CHECK(fw_bootorder_pci(b, 10, 1, 0) == -ENOSPC);
}

TEST(fw_check_image_sizes)
{
	const char *dir = test_tmpdir();
	REQUIRE(dir);
	char path[512], err[256];
	snprintf(path, sizeof(path), "%s/img", dir);
	static const size_t sizes[] = {0, 1000, 64 * 1024, 100 * 1024, 128 * 1024, 17 * 1024 * 1024};
	static const int ok[] = {0, 0, 1, 0, 1, 0};
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		FILE *fp = fopen(path, "w");
		REQUIRE(fp);
		REQUIRE(ftruncate(fileno(fp), (off_t)sizes[i]) == 0);
		fclose(fp);
		err[0] = 0;
		int r = fw_check_image(path, err, sizeof(err));
		CHECK_EQ(r == 0, ok[i]);
		if (!ok[i])
			CHECK(strstr(err, "not a BIOS image") != NULL);
	}
	CHECK(fw_check_image(dir, err, sizeof(err)) < 0);
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK(fw_check_image(path, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "missing") != NULL);
}
