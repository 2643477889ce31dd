/* SPDX-License-Identifier: MIT */
/* Kernel loaders, boot_params, PVH start_info, e820, page tables, GDT and the MP table. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <asm/e820.h>
#include "harness.h"
#include "test_boot.h"
#include "arch/x86/arch.h"
#include "arch/x86/layout.h"
#include "arch/x86/pvh.h"
#include "base/util.h"

#define CMDLINE "console=ttyS0 noxsave vireo.test=unit"
#define LEGACY_HOLE (LAYOUT_HIGH_RAM_START - LAYOUT_LOW_RAM_END)

static const uint8_t tiny_code[] = {0x90, 0x90, 0xf4, 0xeb, 0xfd};

/* A path in this test's temp dir (leaked: tests are short-lived children). */
static char *tmp_path(const char *name)
{
	char *p = malloc(512);
	if (!p)
		abort();
	snprintf(p, 512, "%s/%s", test_tmpdir(), name);
	return p;
}

static const char *guest_file(const char *name)
{
	static char buf[512];
	const char *dir = test_shared_guest_dir();
	if (!dir)
		test_skip("../shared/guest is absent");
	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	if (access(buf, R_OK) != 0)
		test_skip("guest kernel file is absent");
	return buf;
}

/* Copy a file with an optional patch and/or truncation. */
static const char *patched_copy(const char *src, const char *name, size_t trunc, size_t off,
				const void *patch, size_t plen)
{
	uint8_t *b;
	size_t len;
	const char *dst = tmp_path(name);
	if (read_file(src, 1ULL << 30, &b, &len) < 0)
		return NULL;
	if (plen && off + plen <= len)
		memcpy(b + off, patch, plen);
	if (trunc && trunc < len)
		len = trunc;
	int r = tb_write_file(dst, b, len);
	free(b);
	return r == 0 ? dst : NULL;
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* prepare() must fail with a reason containing `want`. */
static void expect_fail(const char *kernel, const char *initrd, const char *cmdline, uint64_t mem,
			const char *want)
{
	struct x86_boot_plan plan;
	char err[512] = "";
	int r = x86_boot_prepare(kernel, initrd, cmdline, mem, &plan, err, sizeof(err));
	if (r < 0 && (plan.kernel || plan.cmdline || plan.initrd_fd != -1))
		test_fail_at(__FILE__, __LINE__, "a failed prepare(%s) still holds resources",
			     kernel ? kernel : "(null)");
	x86_boot_plan_fini(&plan); /* harmless after a failure */
	if (r >= 0 || !strstr(err, want) || strchr(err, '\n'))
		test_fail_at(__FILE__, __LINE__, "prepare(%s): r=%d err='%s', want '%s'",
			     kernel ? kernel : "(null)", r, err, want);
}

/* ---- e820 ---- */

static void check_e820(uint64_t mem)
{
	struct boot_mem_info mi = {layout_ram_below_4g(mem), layout_ram_above_4g(mem), 0};
	struct boot_e820_entry e[32];
	int n = x86_e820_build(&mi, e, ARRAY_SIZE(e));
	uint64_t usable = 0;
	REQUIRE(n > 0);
	for (int i = 0; i < n; i++) {
		if (i > 0)
			CHECK(e[i].addr >= e[i - 1].addr + e[i - 1].size); /* sorted, disjoint */
		if (e[i].type == E820_RAM) {
			usable += e[i].size;
			/* no RAM in the legacy hole or in the MMIO hole */
			CHECK(e[i].addr + e[i].size <= LAYOUT_LOW_RAM_END ||
			      e[i].addr >= LAYOUT_HIGH_RAM_START);
			CHECK(e[i].addr + e[i].size <= LAYOUT_MMIO_HOLE_START ||
			      e[i].addr >= LAYOUT_MMIO_HOLE_END);
		} else {
			CHECK_EQ(e[i].type, E820_RESERVED);
		}
	}
	CHECK_EQ(usable, mem - LEGACY_HOLE);
	CHECK_EQ(e[0].addr, 0);
	CHECK_EQ(e[0].size, LAYOUT_LOW_RAM_END);
	CHECK_EQ(e[0].type, E820_RAM);
	bool high = false, above = false;
	for (int i = 0; i < n; i++) {
		if (e[i].type == E820_RAM && e[i].addr == LAYOUT_HIGH_RAM_START) {
			high = true;
			CHECK_EQ(e[i].size, MIN(mem, LAYOUT_MMIO_HOLE_START) - MiB);
		}
		if (e[i].type == E820_RAM && e[i].addr == LAYOUT_RAM_ABOVE_4G_START) {
			above = true;
			CHECK_EQ(e[i].size, mem - 3 * GiB);
		}
	}
	CHECK(high);
	CHECK_EQ(above, mem > 3 * GiB);
	CHECK_EQ(x86_e820_build(&mi, e, 2), -ENOSPC);
}

TEST(boot_e820_512m)
{
	check_e820(512 * MiB);
}
TEST(boot_e820_2g)
{
	check_e820(2 * GiB);
}
TEST(boot_e820_4g)
{
	check_e820(4 * GiB);
}
TEST(boot_e820_8g)
{
	check_e820(8 * GiB);
}

/* ---- MP table ---- */

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void check_mptable(unsigned cpus)
{
	struct guest_mem *gm = tb_fake_gm(2 * MiB, 0);
	const uint8_t *fp, *t;
	REQUIRE(x86_mptable_write(gm, cpus) == 0);
	fp = gm_ptr(gm, LAYOUT_MPTABLE_GPA, 16);
	REQUIRE(memcmp(fp, "_MP_", 4) == 0);
	CHECK_EQ(sum8(fp, 16), 0);
	CHECK_EQ(fp[8], 1);
	CHECK_EQ(fp[9], 4);
	uint32_t cfg;
	memcpy(&cfg, fp + 4, 4);
	CHECK(cfg >= LAYOUT_EBDA_GPA && cfg < LAYOUT_EBDA_GPA + LAYOUT_EBDA_SIZE);
	t = gm_ptr(gm, cfg, 44);
	REQUIRE(t && memcmp(t, "PCMP", 4) == 0);
	uint16_t len, count;
	memcpy(&len, t + 4, 2);
	memcpy(&count, t + 34, 2);
	CHECK(cfg + len <= LAYOUT_EBDA_GPA + LAYOUT_EBDA_SIZE);
	t = gm_ptr(gm, cfg, len);
	REQUIRE(t);
	CHECK_EQ(sum8(t, len), 0);
	uint32_t lapic;
	memcpy(&lapic, t + 36, 4);
	CHECK_EQ(lapic, LAYOUT_LAPIC_GPA);

	unsigned ncpu = 0, nbsp = 0, nioapic = 0, nirq = 0, nbus = 0, irq0 = 0;
	size_t off = 44;
	for (unsigned i = 0; i < count; i++) {
		REQUIRE(off < len);
		switch (t[off]) {
		case 0:
			CHECK_EQ(t[off + 1], ncpu); /* APIC ID = vCPU id */
			CHECK(t[off + 3] & 1);
			if (t[off + 3] & 2) {
				nbsp++;
				CHECK_EQ(ncpu, 0);
			}
			ncpu++;
			off += 20;
			break;
		case 1:
			nbus++;
			off += 8;
			break;
		case 2: {
			uint32_t a;
			memcpy(&a, t + off + 4, 4);
			CHECK_EQ(a, LAYOUT_IOAPIC_GPA);
			CHECK_EQ(t[off + 1], cpus);
			nioapic++;
			off += 8;
			break;
		}
		case 3:
			CHECK_EQ(t[off + 1], 0);          /* INT */
			CHECK_EQ(t[off + 4], 1);          /* from the ISA bus */
			/* the PC wiring kvm.c routes: ISA IRQ 0 -> INTIN 2, IRQ n -> INTIN n */
			CHECK_EQ(t[off + 7], t[off + 5] == 0 ? 2 : t[off + 5]);
			CHECK_EQ(t[off + 6], cpus); /* the IOAPIC */
			CHECK(t[off + 5] != 2);
			if (t[off + 5] == 0)
				irq0++;
			nirq++;
			off += 8;
			break;
		case 4:
			off += 8;
			break;
		default:
			test_fail_at(__FILE__, __LINE__, "bad MP entry type %u", t[off]);
			return;
		}
	}
	CHECK_EQ(off, len);
	CHECK_EQ(ncpu, cpus);
	CHECK_EQ(nbsp, 1);
	CHECK_EQ(nioapic, 1);
	CHECK_EQ(nbus, 2);
	CHECK_EQ(nirq, 15); /* ISA IRQs 0, 1, 3..15 */
	CHECK_EQ(irq0, 1);
	tb_fake_gm_free(gm);
}

TEST(boot_mptable_1cpu)
{
	check_mptable(1);
}
TEST(boot_mptable_32cpus)
{
	check_mptable(32);
}
TEST(boot_mptable_limits)
{
	struct guest_mem *gm = tb_fake_gm(2 * MiB, 0);
	CHECK_EQ(x86_mptable_write(gm, 0), -EINVAL);
	CHECK_EQ(x86_mptable_write(gm, 255), -EINVAL);
	CHECK_EQ(x86_mptable_write(gm, 100), -ENOSPC); /* more than fits in the 1 KiB EBDA */
	tb_fake_gm_free(gm);
}

/* ---- prepare: validation failures ---- */

TEST(boot_prepare_missing_files)
{
	const char *elf = tmp_path("k.elf");
	REQUIRE(tb_write_elf(elf, tiny_code, sizeof(tiny_code), false) == 0);
	expect_fail(tmp_path("nope"), NULL, "", 64 * MiB, "No such file");
	expect_fail(NULL, NULL, "", 64 * MiB, "no kernel");
	expect_fail(test_tmpdir(), NULL, "", 64 * MiB, "not a regular file");
	expect_fail(elf, tmp_path("no-initrd"), "", 64 * MiB, "initrd");
	const char *empty = tmp_path("empty");
	REQUIRE(tb_write_file(empty, "", 0) == 0);
	expect_fail(elf, empty, "", 64 * MiB, "empty");
}

TEST(boot_prepare_not_a_kernel)
{
	const char *p = tmp_path("text");
	REQUIRE(tb_write_file(p, "hello, this is no kernel\n", 25) == 0);
	expect_fail(p, NULL, "", 64 * MiB, "not a kernel");
	REQUIRE(tb_write_file(p, "", 0) == 0);
	expect_fail(p, NULL, "", 64 * MiB, "not a kernel");
}

TEST(boot_prepare_bad_elf)
{
	const char *src = tmp_path("good.elf");
	uint8_t b;
	uint16_t m = 3; /* EM_386 */
	REQUIRE(tb_write_elf(src, tiny_code, sizeof(tiny_code), false) == 0);
	b = ELFCLASS32;
	expect_fail(patched_copy(src, "c32.elf", 0, EI_CLASS, &b, 1), NULL, "", 64 * MiB,
		    "not ELF64");
	expect_fail(patched_copy(src, "m.elf", 0, offsetof(Elf64_Ehdr, e_machine), &m, 2), NULL,
		    "", 64 * MiB, "machine 3");
	expect_fail(patched_copy(src, "t.elf", 0x1002, 0, NULL, 0), NULL, "", 64 * MiB,
		    "beyond the end of the file");
	expect_fail(patched_copy(src, "h.elf", 40, 0, NULL, 0), NULL, "", 64 * MiB,
		    "truncated ELF header");
	/* a segment at 2 MiB + bss does not fit in 2 MiB of RAM */
	expect_fail(src, NULL, "", 2 * MiB, "does not fit in guest RAM");
	/* e_entry outside every segment */
	uint64_t entry = 0x12345678;
	expect_fail(patched_copy(src, "e.elf", 0, offsetof(Elf64_Ehdr, e_entry), &entry, 8), NULL,
		    "", 64 * MiB, "outside every loadable segment");
}

/* A copy of the crafted ELF with its segment (and entry) moved to paddr. */
static const char *elf_at(const char *src, const char *name, uint64_t paddr)
{
	const char *p = patched_copy(src, name, 0,
				     sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_paddr), &paddr, 8);
	return p ? patched_copy(p, name, 0, offsetof(Elf64_Ehdr, e_entry), &paddr, 8) : NULL;
}

TEST(boot_prepare_low_elf_segments)
{
	const char *src = tmp_path("good.elf");
	struct x86_boot_plan plan;
	char err[256] = "";
	REQUIRE(tb_write_elf(src, tiny_code, sizeof(tiny_code), false) == 0);
	/* base memory clear of the boot structures is fine (e.g. an AP trampoline); this one has
	 * 4 KiB of bss, so at 0x8000 it would reach the page tables at 0x9000 */
	CHECK_EQ(x86_boot_prepare(elf_at(src, "low.elf", 0x30000), NULL, "", 8 * MiB, &plan, err,
				  sizeof(err)),
		 0);
	CHECK_EQ(plan.entry, 0x30000);
	x86_boot_plan_fini(&plan);
	expect_fail(elf_at(src, "stack.elf", 0x8000), NULL, "", 8 * MiB, "0x9000-0xf000");
	expect_fail(elf_at(src, "zp.elf", 0x7000), NULL, "", 8 * MiB, "overlaps the boot structures");
	expect_fail(elf_at(src, "pt.elf", 0xa000), NULL, "", 8 * MiB, "overlaps the boot structures");
	expect_fail(elf_at(src, "vga.elf", 0xa0000), NULL, "", 8 * MiB, "does not fit in guest RAM");
	expect_fail(elf_at(src, "ebda.elf", 0x9f000), NULL, "", 8 * MiB, "does not fit in guest RAM");
	expect_fail(elf_at(src, "hole.elf", 0xc0000000), NULL, "", 4 * GiB, "does not fit");
}

TEST(boot_prepare_cmdline_and_initrd_limits)
{
	const char *elf = tmp_path("k.elf");
	REQUIRE(tb_write_elf(elf, tiny_code, sizeof(tiny_code), false) == 0);
	char *longcmd = malloc(X86_ELF_CMDLINE_MAX + 2);
	memset(longcmd, 'x', X86_ELF_CMDLINE_MAX + 1);
	longcmd[X86_ELF_CMDLINE_MAX + 1] = 0;
	expect_fail(elf, NULL, longcmd, 64 * MiB, "at most 2047");
	longcmd[X86_ELF_CMDLINE_MAX] = 0; /* exactly the limit is fine */
	struct x86_boot_plan plan;
	char err[256] = "";
	CHECK_EQ(x86_boot_prepare(elf, NULL, longcmd, 64 * MiB, &plan, err, sizeof(err)), 0);
	x86_boot_plan_fini(&plan);
	free(longcmd);

	/* a 40 MiB initrd does not fit in 32 MiB of RAM; sparse files cost nothing */
	const char *big = tmp_path("big.initrd");
	int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, 40 * MiB) == 0);
	close(fd);
	expect_fail(elf, big, "", 32 * MiB, "does not fit in RAM");
	CHECK_EQ(x86_boot_prepare(elf, big, "", 64 * MiB, &plan, err, sizeof(err)), 0);
	x86_boot_plan_fini(&plan);
}

TEST(boot_prepare_bad_bzimage)
{
	const char *bz = guest_file("bzImage");
	uint16_t v205 = 0x0205, zero = 0;
	expect_fail(patched_copy(bz, "old.bz", 0, 0x206, &v205, 2), NULL, "", 512 * MiB,
		    "older than 2.06");
	expect_fail(patched_copy(bz, "no64.bz", 0, 0x236, &zero, 2), NULL, "", 512 * MiB,
		    "no 64-bit entry");
	expect_fail(patched_copy(bz, "magic.bz", 0, 0x202, "HdrX", 4), NULL, "", 512 * MiB,
		    "not a kernel");
	expect_fail(patched_copy(bz, "short.bz", 4096, 0, NULL, 0), NULL, "", 512 * MiB,
		    "setup_sects");
	expect_fail(patched_copy(bz, "trunc.bz", 1 * MiB, 0, NULL, 0), NULL, "", 512 * MiB,
		    "syssize");
	expect_fail(patched_copy(bz, "tiny.bz", 0x200, 0, NULL, 0), NULL, "", 512 * MiB,
		    "not a kernel");
	expect_fail(bz, NULL, "", 16 * MiB, "needs RAM");
	char *longcmd = malloc(3000);
	memset(longcmd, 'y', 2999);
	longcmd[2999] = 0;
	expect_fail(bz, NULL, longcmd, 512 * MiB, "at most 2047");
	free(longcmd);
}

TEST(boot_prepare_bad_vmlinux)
{
	const char *vm = guest_file("vmlinux");
	expect_fail(vm, NULL, "", 16 * MiB, "does not fit in guest RAM");
	expect_fail(patched_copy(vm, "trunc.vmlinux", 4 * MiB, 0, NULL, 0), NULL, "", 512 * MiB,
		    "beyond the end of the file");
}

/* ---- load: bzImage ---- */

TEST(boot_bzimage_load)
{
	const char *bz = guest_file("bzImage");
	const char *initrd = tmp_path("initrd.img");
	uint8_t blob[10000];
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 1);
	REQUIRE(tb_write_file(initrd, blob, sizeof(blob)) == 0);

	const uint64_t mem = 64 * MiB;
	struct x86_boot_plan plan;
	char err[256] = "";
	int r = x86_boot_prepare(bz, initrd, CMDLINE, mem, &plan, err, sizeof(err));
	if (r < 0)
		test_fail_at(__FILE__, __LINE__, "prepare: %s", err);
	REQUIRE(r == 0);
	CHECK_EQ(plan.kind, BOOT_LINUX64);
	CHECK_EQ(plan.image, X86_IMAGE_BZIMAGE);
	CHECK(plan.version >= 0x206);
	CHECK_EQ(plan.cmdline_max, 2047);

	struct guest_mem *gm = tb_fake_gm(mem, 0xaa);
	struct boot_mem_info mi = {mem, 0, LAYOUT_ACPI_RSDP_GPA};
	struct boot_entry out;
	r = x86_boot_load(&plan, gm, &mi, 2, &out, err, sizeof(err));
	if (r < 0)
		test_fail_at(__FILE__, __LINE__, "load: %s", err);
	REQUIRE(r == 0);
	CHECK_EQ(out.kind, BOOT_LINUX64);
	CHECK_EQ(out.rip, LAYOUT_KERNEL_GPA + 0x200);
	CHECK_EQ(out.rsi, LAYOUT_ZERO_PAGE_GPA);

	/* protected-mode kernel at 1 MiB, byte for byte */
	CHECK(memcmp(gm_ptr(gm, LAYOUT_KERNEL_GPA, plan.kernel_len - plan.setup_len),
		     plan.kernel + plan.setup_len, plan.kernel_len - plan.setup_len) == 0);

	const struct boot_params *bp = gm_ptr(gm, LAYOUT_ZERO_PAGE_GPA, sizeof(*bp));
	REQUIRE(bp);
	CHECK_EQ(bp->hdr.header, 0x53726448);
	CHECK_EQ(bp->hdr.boot_flag, 0xaa55);
	CHECK_EQ(bp->hdr.version, plan.version);
	CHECK_EQ(bp->hdr.setup_sects, plan.kernel[0x1f1]);
	CHECK_EQ(bp->hdr.type_of_loader, 0xff);
	CHECK(bp->hdr.loadflags & CAN_USE_HEAP);
	CHECK(bp->hdr.loadflags & LOADED_HIGH);
	CHECK(bp->hdr.heap_end_ptr != 0);
	CHECK_EQ(bp->hdr.code32_start, LAYOUT_KERNEL_GPA);
	CHECK_EQ(bp->sentinel, 0);
	CHECK_EQ(bp->screen_info.orig_video_mode, 0); /* outside the header: zero */
	CHECK_EQ(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE_GPA);
	CHECK_EQ(bp->ext_cmd_line_ptr, 0);
	CHECK_STR((const char *)gm_ptr(gm, bp->hdr.cmd_line_ptr, sizeof(CMDLINE)), CMDLINE);
	CHECK_EQ(bp->acpi_rsdp_addr, LAYOUT_ACPI_RSDP_GPA);

	uint64_t rd = bp->hdr.ramdisk_image | (uint64_t)bp->ext_ramdisk_image << 32;
	CHECK_EQ(bp->hdr.ramdisk_size, sizeof(blob));
	CHECK_EQ(bp->ext_ramdisk_size, 0);
	CHECK_EQ(rd % 4096, 0);
	CHECK(rd + sizeof(blob) <= mem);
	CHECK(rd + sizeof(blob) <= (uint64_t)bp->hdr.initrd_addr_max + 1);
	CHECK(mem - (rd + sizeof(blob)) < 4096); /* at the top */
	CHECK(rd >= plan.kernel_end);
	CHECK(memcmp(gm_ptr(gm, rd, sizeof(blob)), blob, sizeof(blob)) == 0);

	struct boot_e820_entry e[16];
	int n = x86_e820_build(&mi, e, ARRAY_SIZE(e));
	CHECK_EQ(bp->e820_entries, n);
	CHECK(memcmp(bp->e820_table, e, (size_t)n * sizeof(e[0])) == 0);
	CHECK_EQ(bp->e820_table[0].type, E820_RAM);

	/* MP table present; BDA points at the EBDA */
	CHECK(memcmp(gm_ptr(gm, LAYOUT_MPTABLE_GPA, 4), "_MP_", 4) == 0);
	uint16_t ebda;
	memcpy(&ebda, gm_ptr(gm, LAYOUT_BDA_EBDA_SEG_GPA, 2), 2);
	CHECK_EQ((uint64_t)ebda << 4, LAYOUT_EBDA_GPA);
	tb_fake_gm_free(gm);
	x86_boot_plan_fini(&plan);
}

/* ---- load: vmlinux through PVH ---- */

TEST(boot_vmlinux_pvh_load)
{
	const char *vm = guest_file("vmlinux");
	const char *initrd = tmp_path("initrd.img");
	uint8_t blob[5000];
	memset(blob, 0x5a, sizeof(blob));
	REQUIRE(tb_write_file(initrd, blob, sizeof(blob)) == 0);

	const uint64_t mem = 64 * MiB;
	struct x86_boot_plan plan;
	char err[256] = "";
	int r = x86_boot_prepare(vm, initrd, CMDLINE, mem, &plan, err, sizeof(err));
	if (r < 0)
		test_fail_at(__FILE__, __LINE__, "prepare: %s", err);
	REQUIRE(r == 0);
	CHECK_EQ(plan.kind, BOOT_PVH);
	CHECK_EQ(plan.image, X86_IMAGE_ELF);
	CHECK(plan.nr_segs >= 2);
	CHECK(plan.entry >= plan.segs[0].gpa && plan.entry < plan.segs[0].gpa + plan.segs[0].memsz);

	struct guest_mem *gm = tb_fake_gm(mem, 0xaa);
	struct boot_mem_info mi = {mem, 0, LAYOUT_ACPI_RSDP_GPA};
	struct boot_entry out;
	r = x86_boot_load(&plan, gm, &mi, 1, &out, err, sizeof(err));
	if (r < 0)
		test_fail_at(__FILE__, __LINE__, "load: %s", err);
	REQUIRE(r == 0);
	CHECK_EQ(out.kind, BOOT_PVH);
	CHECK_EQ(out.rip, plan.entry);
	CHECK_EQ(out.rbx, LAYOUT_PVH_INFO_GPA);

	/* every segment: file bytes, then zeros up to memsz */
	for (unsigned i = 0; i < plan.nr_segs; i++) {
		const struct x86_elf_seg *s = &plan.segs[i];
		const uint8_t *g = gm_ptr(gm, s->gpa, s->memsz);
		REQUIRE(g);
		CHECK(memcmp(g, plan.kernel + s->file_off, s->filesz) == 0);
		for (uint64_t j = s->filesz; j < s->memsz; j += 4093)
			if (g[j] != 0) {
				test_fail_at(__FILE__, __LINE__, "segment %u bss byte %llu = 0x%x", i,
					     (unsigned long long)j, g[j]);
				break;
			}
	}

	const struct hvm_start_info *si = gm_ptr(gm, LAYOUT_PVH_INFO_GPA, sizeof(*si));
	REQUIRE(si);
	CHECK_EQ(si->magic, XEN_HVM_START_MAGIC_VALUE);
	CHECK_EQ(si->version, 1);
	CHECK_EQ(si->rsdp_paddr, LAYOUT_ACPI_RSDP_GPA);
	CHECK_STR((const char *)gm_ptr(gm, si->cmdline_paddr, sizeof(CMDLINE)), CMDLINE);
	CHECK_EQ(si->nr_modules, 1);
	const struct hvm_modlist_entry *mod = gm_ptr(gm, si->modlist_paddr, sizeof(*mod));
	REQUIRE(mod);
	CHECK_EQ(mod->size, sizeof(blob));
	CHECK_EQ(mod->paddr % 4096, 0);
	CHECK(mod->paddr + mod->size <= mem);
	CHECK(memcmp(gm_ptr(gm, mod->paddr, sizeof(blob)), blob, sizeof(blob)) == 0);

	struct boot_e820_entry e[16];
	int n = x86_e820_build(&mi, e, ARRAY_SIZE(e));
	CHECK_EQ(si->memmap_entries, n);
	const struct hvm_memmap_table_entry *mm =
		gm_ptr(gm, si->memmap_paddr, (uint64_t)n * sizeof(*mm));
	REQUIRE(mm);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(mm[i].addr, e[i].addr);
		CHECK_EQ(mm[i].size, e[i].size);
		CHECK_EQ(mm[i].type, e[i].type);
	}
	tb_fake_gm_free(gm);
	x86_boot_plan_fini(&plan);
}

/* ---- load: plain ELF64 (and the PVH note picked over e_entry) ---- */

TEST(boot_elf64_load)
{
	const char *elf = tmp_path("k.elf");
	REQUIRE(tb_write_elf(elf, tiny_code, sizeof(tiny_code), false) == 0);
	const uint64_t mem = 8 * MiB;
	struct x86_boot_plan plan;
	char err[256] = "";
	REQUIRE(x86_boot_prepare(elf, NULL, "", mem, &plan, err, sizeof(err)) == 0);
	CHECK_EQ(plan.kind, BOOT_ELF64);
	CHECK_EQ(plan.entry, TB_ELF_PADDR);

	struct guest_mem *gm = tb_fake_gm(mem, 0xaa);
	struct boot_mem_info mi = {mem, 0, 0};
	struct boot_entry out;
	REQUIRE(x86_boot_load(&plan, gm, &mi, 1, &out, err, sizeof(err)) == 0);
	CHECK_EQ(out.kind, BOOT_ELF64);
	CHECK_EQ(out.rip, TB_ELF_PADDR);
	CHECK_EQ(out.rsi, LAYOUT_ZERO_PAGE_GPA);
	CHECK(memcmp(gm_ptr(gm, TB_ELF_PADDR, sizeof(tiny_code)), tiny_code, sizeof(tiny_code)) ==
	      0);
	CHECK_EQ(*(const uint8_t *)gm_ptr(gm, TB_ELF_PADDR + sizeof(tiny_code), 1), 0);

	const struct boot_params *bp = gm_ptr(gm, LAYOUT_ZERO_PAGE_GPA, sizeof(*bp));
	CHECK_EQ(bp->hdr.header, 0x53726448);
	CHECK_EQ(bp->hdr.type_of_loader, 0xff);
	CHECK_EQ(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE_GPA);
	CHECK_EQ(*(const char *)gm_ptr(gm, LAYOUT_CMDLINE_GPA, 1), 0);
	CHECK_EQ(bp->hdr.ramdisk_image, 0);
	CHECK_EQ(bp->hdr.ramdisk_size, 0);
	CHECK_EQ(bp->e820_entries, 6); /* low, EBDA, BIOS area, high, ECAM, KVM's TSS pages */

	/* identity page tables: 2 MiB pages over the first 4 GiB */
	const uint8_t *pml4 = gm_ptr(gm, LAYOUT_PML4_GPA, 4096);
	const uint8_t *pdpt = gm_ptr(gm, LAYOUT_PDPT_GPA, 4096);
	CHECK_EQ(ld64(pml4), LAYOUT_PDPT_GPA | 3);
	CHECK_EQ(ld64(pml4 + 8), 0);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(ld64(pdpt + 8 * i), (LAYOUT_PD_GPA + 4096 * i) | 3);
		const uint8_t *pd = gm_ptr(gm, LAYOUT_PD_GPA + 4096 * i, 4096);
		CHECK_EQ(ld64(pd), (i * GiB) | 0x83);
		CHECK_EQ(ld64(pd + 8 * 511), (i * GiB + 511 * 2 * MiB) | 0x83);
	}
	CHECK_EQ(ld64(pdpt + 32), 0);

	/* GDT: 0x10 64-bit code, 0x18 data, 0x08 32-bit code, 0x20 busy TSS */
	const uint8_t *gdt = gm_ptr(gm, LAYOUT_GDT_GPA, LAYOUT_GDT_SIZE);
	CHECK_EQ(ld64(gdt), 0);
	CHECK_EQ(ld64(gdt + LAYOUT_SEL_CODE64), 0x00af9b000000ffffULL);
	CHECK_EQ(ld64(gdt + LAYOUT_SEL_DATA), 0x00cf93000000ffffULL);
	CHECK_EQ(ld64(gdt + LAYOUT_SEL_CODE32), 0x00cf9b000000ffffULL);
	CHECK_EQ((ld64(gdt + LAYOUT_SEL_TSS) >> 40) & 0x8f, 0x8b);
	tb_fake_gm_free(gm);
	x86_boot_plan_fini(&plan);
}

TEST(boot_elf_pvh_note_wins)
{
	const char *elf = tmp_path("pvh.elf");
	REQUIRE(tb_write_elf(elf, tiny_code, sizeof(tiny_code), true) == 0);
	struct x86_boot_plan plan;
	char err[256] = "";
	REQUIRE(x86_boot_prepare(elf, NULL, "x", 8 * MiB, &plan, err, sizeof(err)) == 0);
	CHECK_EQ(plan.kind, BOOT_PVH);
	CHECK_EQ(plan.entry, TB_ELF_PADDR); /* the note, not e_entry (paddr + 0x800) */
	x86_boot_plan_fini(&plan);
}

TEST(boot_load_checks_ram_layout)
{
	const char *elf = tmp_path("k.elf");
	REQUIRE(tb_write_elf(elf, tiny_code, sizeof(tiny_code), false) == 0);
	struct x86_boot_plan plan;
	char err[256] = "";
	REQUIRE(x86_boot_prepare(elf, NULL, "", 8 * MiB, &plan, err, sizeof(err)) == 0);
	struct guest_mem *gm = tb_fake_gm(2 * MiB, 0);
	struct boot_mem_info mi = {2 * MiB, 0, 0};
	struct boot_entry out;
	CHECK(x86_boot_load(&plan, gm, &mi, 1, &out, err, sizeof(err)) < 0);
	CHECK(strstr(err, "needs RAM") != NULL);
	tb_fake_gm_free(gm);
	x86_boot_plan_fini(&plan);
}
