/* SPDX-License-Identifier: MIT */
/*
 * ACPI: the AML encoder, the tables (linked by the table-loader as firmware and the direct
 * boot do), the loader's checks, and the PC interrupt routing the tables describe.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "kvm/kvm.h"
#include "pci/pci.h"
#include "vmm/machine.h"

static uint64_t ld(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* ---- AML encoder ---- */

static bool aml_is(struct aml *a, const uint8_t *want, size_t n)
{
	return aml_error(a) == 0 && a->len == n && memcmp(a->buf, want, n) == 0;
}

TEST(aml_pkglen_boundaries)
{
	uint8_t e[4];
	/* 1 byte up to a total of 63 (the byte counts itself) */
	CHECK_EQ(aml_pkglen_encode(0, e), 1);
	CHECK_EQ(e[0], 1);
	CHECK_EQ(aml_pkglen_encode(62, e), 1);
	CHECK_EQ(e[0], 63);
	/* 2 bytes: low nibble in the lead byte, the rest in the next */
	CHECK_EQ(aml_pkglen_encode(63, e), 2);
	CHECK_EQ(e[0], 0x40 | (65 & 0xf));
	CHECK_EQ(e[1], 65 >> 4);
	CHECK_EQ(aml_pkglen_encode(0xfff - 2, e), 2);
	CHECK_EQ(e[0], 0x4f);
	CHECK_EQ(e[1], 0xff);
	CHECK_EQ(aml_pkglen_encode(0xfff - 1, e), 3);
	CHECK_EQ(e[0], 0x80 | (0x1001 & 0xf)); /* 0xffe + 3 */
	CHECK_EQ(e[1], 0x00);
	CHECK_EQ(e[2], 0x01);
	CHECK_EQ(aml_pkglen_encode(0xfffff - 3, e), 3);
	CHECK_EQ(aml_pkglen_encode(0xfffff - 2, e), 4);
	CHECK_EQ(e[0] >> 6, 3);
	CHECK_EQ(aml_pkglen_encode(0x0fffffff, e), 0);
}

TEST(aml_integers_and_strings)
{
	struct aml a;
	aml_init(&a);
	aml_int(&a, 0);
	aml_int(&a, 1);
	aml_int(&a, 0x0a);
	aml_int(&a, 0x1234);
	aml_int(&a, 0x12345678);
	aml_int(&a, 0x100000000ULL);
	aml_int(&a, UINT64_MAX);
	aml_string(&a, "AB");
	static const uint8_t want[] = {0x00, 0x01, 0x0a, 0x0a, 0x0b, 0x34, 0x12, 0x0c, 0x78,
				       0x56, 0x34, 0x12, 0x0e, 0,    0,	   0,	 0,    1,
				       0,    0,	   0,	 0xff, 0x0d, 'A',  'B',	 0};
	CHECK(aml_is(&a, want, sizeof(want)));
	aml_fini(&a);

	aml_init(&a);
	aml_string(&a, "caf\xc3\xa9"); /* not ASCII */
	CHECK_EQ(aml_error(&a), -EINVAL);
	aml_fini(&a);
}

TEST(aml_eisaid_encoding)
{
	struct aml a;
	aml_init(&a);
	aml_eisaid(&a, "PNP0A03");
	aml_eisaid(&a, "PNP0501");
	aml_eisaid(&a, "PNP0000");
	/* the well-known encodings: PNP0A03 = 0x030ad041, PNP0501 = 0x0105d041, PNP0000 = 0xd041
	 * (a Word, the shortest integer encoding) */
	static const uint8_t want[] = {0x0c, 0x41, 0xd0, 0x0a, 0x03, 0x0c, 0x41,
				       0xd0, 0x05, 0x01, 0x0b, 0x41, 0xd0};
	CHECK(aml_is(&a, want, sizeof(want)));
	aml_fini(&a);

	const char *bad[] = {"PNP0A0", "pnp0A03", "PNP0A0G", "PNP0A033"};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		aml_init(&a);
		aml_eisaid(&a, bad[i]);
		CHECK_EQ(aml_error(&a), -EINVAL);
		aml_fini(&a);
	}
}

TEST(aml_namestrings)
{
	struct aml a;
	aml_init(&a);
	aml_namestring(&a, "PCI0");
	aml_namestring(&a, "\\_SB");
	aml_namestring(&a, "\\_SB.PCI0");
	aml_namestring(&a, "^A.B.C");
	static const uint8_t want[] = {'P',  'C',  'I',	 '0', 0x5c, '_', 'S', 'B', '_',
				       0x5c, 0x2e, '_',	 'S', 'B',  '_', 'P', 'C', 'I',
				       '0',  0x5e, 0x2f, 3,   'A',  '_', '_', '_', 'B',
				       '_',  '_',  '_',	 'C', '_',  '_', '_'};
	CHECK(aml_is(&a, want, sizeof(want)));
	aml_fini(&a);

	const char *bad[] = {"", "TOOLONG", "0ABC", "a", "A..B", "A.", "A-B"};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		aml_init(&a);
		aml_namestring(&a, bad[i]);
		if (aml_error(&a) != -EINVAL)
			test_fail_at(__FILE__, __LINE__, "name '%s' accepted", bad[i]);
		aml_fini(&a);
	}
}

TEST(aml_nesting)
{
	struct aml a;
	aml_init(&a);
	aml_device_begin(&a, "DEV");
	aml_name_int(&a, "_UID", 2);
	aml_name(&a, "_CRS");
	aml_buffer_begin(&a);
	aml_res_io(&a, 0x3f8, 8);
	aml_res_irq(&a, 4);
	aml_res_end(&a);
	aml_end(&a);
	aml_end(&a);
	static const uint8_t want[] = {
	    0x5b, 0x82, 0x22, 'D',  'E',  'V',	'_',		  /* Device (DEV), PkgLength 34 */
	    0x08, '_',	'U',  'I',  'D',  0x0a, 0x02,		  /* Name (_UID, 2) */
	    0x08, '_',	'C',  'R',  'S',  0x11, 0x10, 0x0a, 0x0d, /* Name (_CRS, Buffer (13) */
	    0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,	  /* IO (Decode16, 0x3f8, ..., 8) */
	    0x22, 0x10, 0x00,					  /* IRQNoFlags () {4} */
	    0x79, 0x00};					  /* EndTag */
	CHECK(aml_is(&a, want, sizeof(want)));
	aml_fini(&a);

	/* unbalanced */
	aml_init(&a);
	aml_package_begin(&a, 1);
	CHECK_EQ(aml_error(&a), -EINVAL);
	aml_end(&a);
	CHECK_EQ(aml_error(&a), 0);
	aml_end(&a);
	CHECK_EQ(aml_error(&a), -EINVAL);
	aml_fini(&a);

	/* a package long enough for a 2-byte PkgLength: the contents move */
	aml_init(&a);
	aml_package_begin(&a, 100);
	for (unsigned i = 0; i < 100; i++)
		aml_int(&a, 0x10);
	aml_end(&a);
	REQUIRE(aml_error(&a) == 0);
	CHECK_EQ(a.len, 1 + 2 + 1 + 200);
	CHECK_EQ(a.buf[0], 0x12);
	CHECK_EQ(a.buf[1], 0x40 | ((2 + 1 + 200) & 0xf));
	CHECK_EQ(a.buf[2], (2 + 1 + 200) >> 4);
	CHECK_EQ(a.buf[3], 100);
	CHECK_EQ(a.buf[4], 0x0a);
	aml_fini(&a);

	/* resource ranges that do not fit their fields */
	aml_init(&a);
	aml_res_word_io(&a, 0, 0xffff); /* length 0x10000 does not fit 16 bits */
	CHECK_EQ(aml_error(&a), -EINVAL);
	aml_fini(&a);
	aml_init(&a);
	aml_res_irq(&a, 16);
	CHECK_EQ(aml_error(&a), -EINVAL);
	aml_fini(&a);
}

/* ---- the tables ---- */

#define TABLES_GPA 0x7fe0000ULL
#define RSDP_GPA 0xf5a40ULL

struct linked {
	struct acpi_tables t;
	uint64_t tables_gpa, rsdp_gpa;
};

/* Build for this many CPUs and link as firmware would, at the given addresses. */
static int build_linked(unsigned cpus, uint64_t tables_gpa, uint64_t rsdp_gpa, struct linked *l)
{
	struct acpi_params p;
	char err[200] = "";
	machine_acpi_params(cpus, 512 * MiB, &p);
	int r = acpi_build(&p, &l->t);
	if (r < 0)
		return r;
	l->tables_gpa = tables_gpa;
	l->rsdp_gpa = rsdp_gpa;
	struct acpi_loader_file files[] = {
	    {ACPI_FILE_TABLES, l->t.tables, l->t.tables_len, tables_gpa, 0, false},
	    {ACPI_FILE_RSDP, l->t.rsdp, ACPI_RSDP_LEN, rsdp_gpa, 0, false},
	};
	r = acpi_loader_exec(l->t.loader, l->t.loader_len, files, 2, err, sizeof(err));
	if (r < 0)
		test_fail_at(__FILE__, __LINE__, "loader: %s", err);
	return r;
}

/* The table at a guest address, or NULL. */
static const uint8_t *at(const struct linked *l, uint64_t gpa, const char *sig)
{
	if (gpa < l->tables_gpa || gpa + 36 > l->tables_gpa + l->t.tables_len)
		return NULL;
	const uint8_t *p = l->t.tables + (gpa - l->tables_gpa);
	if (memcmp(p, sig, 4) != 0)
		return NULL;
	if (gpa + ld(p + 4, 4) > l->tables_gpa + l->t.tables_len)
		return NULL;
	return p;
}

static void check_tables(unsigned cpus)
{
	struct linked l;
	REQUIRE(build_linked(cpus, TABLES_GPA, RSDP_GPA, &l) == 0);

	/* RSDP: both checksums, revision 2, the XSDT and RSDT it points at */
	const uint8_t *r = l.t.rsdp;
	CHECK(memcmp(r, "RSD PTR ", 8) == 0);
	CHECK_EQ(sum8(r, 20), 0);
	CHECK_EQ(sum8(r, 36), 0);
	CHECK_EQ(r[15], 2);
	CHECK_EQ(ld(r + 20, 4), 36);
	const uint8_t *xsdt = at(&l, ld(r + 24, 8), "XSDT");
	const uint8_t *rsdt = at(&l, ld(r + 16, 4), "RSDT");
	REQUIRE(xsdt && rsdt);

	/* every table: its length as indexed and a zero checksum */
	for (unsigned i = 0; i < l.t.nr; i++) {
		const struct acpi_table_ref *t = &l.t.index[i];
		const uint8_t *p = l.t.tables + t->off;
		CHECK(memcmp(p, t->sig, 4) == 0);
		CHECK_EQ(ld(p + 4, 4), t->len);
		if (strcmp(t->sig, "FACS") != 0) {
			CHECK_EQ(sum8(p, t->len), 0);
			CHECK(memcmp(p + 10, "VIREO ", 6) == 0);
		}
	}

	/* XSDT and RSDT list the same three tables: FADT, MADT, MCFG */
	uint32_t xlen = (uint32_t)ld(xsdt + 4, 4), rlen = (uint32_t)ld(rsdt + 4, 4);
	REQUIRE(xlen == 36 + 3 * 8 && rlen == 36 + 3 * 4);
	const char *sigs[] = {"FACP", "APIC", "MCFG"};
	const uint8_t *tab[3];
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(ld(xsdt + 36 + 8 * i, 8), ld(rsdt + 36 + 4 * i, 4));
		tab[i] = at(&l, ld(xsdt + 36 + 8 * i, 8), sigs[i]);
		REQUIRE(tab[i]);
	}

	/* FADT (ACPI 6.0, revision 6): not hardware-reduced, the PM block, the SCI, reset */
	const uint8_t *f = tab[0];
	CHECK_EQ(ld(f + 4, 4), 276);
	CHECK_EQ(f[8], 6);
	uint64_t dsdt_gpa = ld(f + 140, 8);
	CHECK_EQ(ld(f + 40, 4), dsdt_gpa);
	const uint8_t *dsdt = at(&l, dsdt_gpa, "DSDT");
	REQUIRE(dsdt);
	CHECK_EQ(ld(f + 36, 4), 0); /* FIRMWARE_CTRL: only the 64-bit field */
	uint64_t facs_gpa = ld(f + 132, 8);
	CHECK_EQ(facs_gpa % 64, 0);
	REQUIRE(facs_gpa >= l.tables_gpa);
	CHECK(memcmp(l.t.tables + (facs_gpa - l.tables_gpa), "FACS", 4) == 0);
	CHECK_EQ(ld(f + 46, 2), LAYOUT_IRQ_SCI);
	CHECK_EQ(ld(f + 48, 4), 0); /* no SMI_CMD: always in ACPI mode */
	CHECK_EQ(ld(f + 56, 4), LAYOUT_PIO_ACPI_PM + ACPI_PM_EVT_OFF);
	CHECK_EQ(ld(f + 64, 4), LAYOUT_PIO_ACPI_PM + ACPI_PM_CNT_OFF);
	CHECK_EQ(ld(f + 76, 4), LAYOUT_PIO_ACPI_PM + ACPI_PM_TMR_OFF);
	CHECK_EQ(f[88], 4);
	CHECK_EQ(f[89], 2);
	CHECK_EQ(f[91], 4);
	uint32_t flags = (uint32_t)ld(f + 112, 4);
	CHECK_EQ(flags & (1u << 20), 0);     /* HW_REDUCED_ACPI */
	CHECK_EQ(flags & (1u << 4), 0);	     /* a fixed power button */
	CHECK(flags & (1u << 8));	     /* 32-bit PM timer */
	CHECK(flags & (1u << 10));	     /* RESET_REG_SUP */
	CHECK_EQ(ld(f + 109, 2) & 0x3, 0x3); /* legacy devices, 8042 */
	CHECK_EQ(f[116], 1);		     /* reset register: system I/O */
	CHECK_EQ(f[117], 8);
	CHECK_EQ(ld(f + 120, 8), 0xcf9);
	CHECK_EQ(f[128], 6);
	CHECK_EQ(f[148], 1); /* X_PM1a_EVT_BLK in I/O space, 32 bits, = the 32-bit field */
	CHECK_EQ(f[149], 32);
	CHECK_EQ(ld(f + 152, 8), LAYOUT_PIO_ACPI_PM);
	CHECK_EQ(f[173], 16);
	CHECK_EQ(ld(f + 176, 8), LAYOUT_PIO_ACPI_PM + ACPI_PM_CNT_OFF);
	CHECK_EQ(f[209], 32);
	CHECK_EQ(ld(f + 212, 8), LAYOUT_PIO_ACPI_PM + ACPI_PM_TMR_OFF);

	/* MADT: one enabled LAPIC per vCPU (UID = APIC ID = index), the IOAPIC, the overrides */
	const uint8_t *m = tab[1];
	uint32_t mlen = (uint32_t)ld(m + 4, 4);
	CHECK_EQ(ld(m + 36, 4), LAYOUT_LAPIC_GPA);
	CHECK_EQ(ld(m + 40, 4), 1); /* PCAT_COMPAT */
	unsigned ncpu = 0, nio = 0, iso0 = 0, iso9 = 0, nmi = 0;
	for (uint32_t off = 44; off < mlen;) {
		uint8_t type = m[off], len = m[off + 1];
		REQUIRE(len >= 2 && off + len <= mlen);
		switch (type) {
		case 0:
			CHECK_EQ(len, 8);
			CHECK_EQ(m[off + 2], ncpu);
			CHECK_EQ(m[off + 3], ncpu);
			CHECK_EQ(ld(m + off + 4, 4), 1);
			ncpu++;
			break;
		case 1:
			CHECK_EQ(len, 12);
			CHECK_EQ(m[off + 2], cpus);
			CHECK_EQ(ld(m + off + 4, 4), LAYOUT_IOAPIC_GPA);
			CHECK_EQ(ld(m + off + 8, 4), 0);
			nio++;
			break;
		case 2:
			CHECK_EQ(len, 10);
			CHECK_EQ(m[off + 2], 0); /* ISA */
			if (m[off + 3] == 0) {
				/* IRQ 0 -> GSI 2, as kvm.c routes the PIT */
				CHECK_EQ(ld(m + off + 4, 4), kvm_gsi_ioapic_pin(0));
				CHECK_EQ(ld(m + off + 8, 2), 0);
				iso0++;
			} else if (m[off + 3] == LAYOUT_IRQ_SCI) {
				CHECK_EQ(ld(m + off + 4, 4), LAYOUT_IRQ_SCI);
				CHECK_EQ(ld(m + off + 8, 2), 0x0d); /* level, active high */
				iso9++;
			} else {
				test_fail_at(__FILE__, __LINE__, "unexpected override of IRQ %u",
					     m[off + 3]);
			}
			break;
		case 4:
			CHECK_EQ(len, 6);
			CHECK_EQ(m[off + 2], 0xff);
			CHECK_EQ(m[off + 5], 1); /* LINT1 */
			nmi++;
			break;
		default:
			test_fail_at(__FILE__, __LINE__, "unexpected MADT entry type %u", type);
		}
		off += len;
	}
	CHECK_EQ(ncpu, cpus);
	CHECK_EQ(nio, 1);
	CHECK_EQ(iso0, 1);
	CHECK_EQ(iso9, 1);
	CHECK_EQ(nmi, 1);

	/* MCFG: the ECAM, segment 0, buses 0-255 */
	const uint8_t *c = tab[2];
	CHECK_EQ(ld(c + 4, 4), 60);
	CHECK_EQ(ld(c + 44, 8), LAYOUT_ECAM_GPA);
	CHECK_EQ(ld(c + 52, 2), 0);
	CHECK_EQ(c[54], 0);
	CHECK_EQ(c[55], 255);
	CHECK_EQ((uint64_t)(c[55] + 1) * MiB, LAYOUT_ECAM_SIZE);

	/* DSDT: one processor device per vCPU ... */
	uint32_t dlen = (uint32_t)ld(dsdt + 4, 4);
	unsigned nproc = 0;
	for (uint32_t i = 0; i + 8 < dlen; i++)
		if (memcmp(dsdt + i,
			   "\x0d"
			   "ACPI0007",
			   9) == 0)
			nproc++;
	CHECK_EQ(nproc, cpus);
	/* ... _S5 with the SLP_TYP the PM device acts on ... */
	static const uint8_t s5[] = {0x08,
				     0x5c,
				     '_',
				     'S',
				     '5',
				     '_',
				     0x12,
				     0x08,
				     0x04,
				     0x0a,
				     ACPI_PM_SLP_TYP_S5,
				     0x0a,
				     ACPI_PM_SLP_TYP_S5,
				     0,
				     0};
	CHECK(memmem(dsdt, dlen, s5, sizeof(s5)) != NULL);
	/* ... and a _PRT entry for every slot and pin, with pci.c's GSI */
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			uint8_t e[13] = {0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, (uint8_t)slot, 0x00};
			size_t n = 8;
			if (pin < 2) {
				e[n++] = (uint8_t)pin; /* ZeroOp / OneOp */
			} else {
				e[n++] = 0x0a;
				e[n++] = (uint8_t)pin;
			}
			e[1] = (uint8_t)(e[1] + (pin >= 2));
			e[n++] = 0x00;
			e[n++] = 0x0a;
			e[n++] = (uint8_t)pci_slot_irq(slot, pin + 1);
			if (!memmem(dsdt, dlen, e, n))
				test_fail_at(__FILE__, __LINE__, "no _PRT entry for slot %u pin %u",
					     slot, pin);
		}
	}
	acpi_tables_fini(&l.t);
}

TEST(acpi_tables_1cpu)
{
	check_tables(1);
}
TEST(acpi_tables_2cpus)
{
	check_tables(2);
}
TEST(acpi_tables_4cpus)
{
	check_tables(4);
}
TEST(acpi_tables_254cpus)
{
	check_tables(ACPI_MAX_CPUS);
}

TEST(acpi_params_refused)
{
	struct acpi_params p;
	struct acpi_tables t;
	machine_acpi_params(0, 512 * MiB, &p);
	CHECK_EQ(acpi_build(&p, &t), -EINVAL);
	machine_acpi_params(ACPI_MAX_CPUS + 1, 512 * MiB, &p);
	CHECK_EQ(acpi_build(&p, &t), -EINVAL);
	machine_acpi_params(1, 512 * MiB, &p);
	p.pci_intx_gsi = NULL;
	CHECK_EQ(acpi_build(&p, &t), -EINVAL);
	machine_acpi_params(1, 512 * MiB, &p);
	p.ecam_buses = 257;
	CHECK_EQ(acpi_build(&p, &t), -EINVAL);
}

/* The PCI windows in the host bridge's _CRS follow the RAM size (MMIO64 above RAM). */
TEST(acpi_mmio64_window_follows_ram)
{
	struct acpi_params p;
	machine_acpi_params(1, 6 * GiB + 512 * MiB, &p);
	CHECK_EQ(p.mmio64_start,
		 8 * GiB); /* RAM above 4 GiB ends at 7.5 GiB: the next 1 GiB boundary */
	CHECK_EQ(p.mmio64_end - p.mmio64_start, LAYOUT_PCI_MMIO64_SIZE);
	machine_acpi_params(1, 512 * MiB, &p);
	CHECK_EQ(p.mmio64_start, 4 * GiB);
	CHECK_EQ(p.mmio32_start[0], LAYOUT_PCI_MMIO32_START);
	CHECK_EQ(p.mmio32_end[1], LAYOUT_IOAPIC_GPA);
	CHECK(p.mmio32_end[0] <= LAYOUT_ECAM_GPA);
	CHECK(p.mmio32_start[1] >= LAYOUT_ECAM_GPA + LAYOUT_ECAM_SIZE);
}

/* Linked at two places, the tables differ only where pointers are: the DSDT and MADT a
 * firmware-booted guest gets are byte for byte those of a direct boot. */
TEST(acpi_same_tables_any_address)
{
	struct linked a, b;
	REQUIRE(build_linked(2, LAYOUT_ACPI_TABLES_GPA, LAYOUT_ACPI_RSDP_GPA, &a) == 0);
	REQUIRE(build_linked(2, TABLES_GPA, RSDP_GPA, &b) == 0);
	REQUIRE(a.t.tables_len == b.t.tables_len);
	const char *same[] = {"DSDT", "APIC", "MCFG", "FACS"};
	for (unsigned i = 0; i < ARRAY_SIZE(same); i++) {
		const struct acpi_table_ref *ra = acpi_table_find(&a.t, same[i]);
		const struct acpi_table_ref *rb = acpi_table_find(&b.t, same[i]);
		REQUIRE(ra && rb && ra->len == rb->len);
		CHECK(memcmp(a.t.tables + ra->off, b.t.tables + rb->off, ra->len) == 0);
	}
	const struct acpi_table_ref *fa = acpi_table_find(&a.t, "FACP");
	REQUIRE(fa);
	CHECK(memcmp(a.t.tables + fa->off, b.t.tables + fa->off, fa->len) != 0);
	acpi_tables_fini(&a.t);
	acpi_tables_fini(&b.t);
}

/* acpi_write: what the direct boot puts in guest memory. */
TEST(acpi_write_guest_memory)
{
	struct acpi_params p;
	struct acpi_tables t;
	char err[200] = "";
	uint8_t *ram = calloc(1, 1 * MiB);
	struct guest_mem gm;
	REQUIRE(ram);
	gm_init(&gm);
	REQUIRE(gm_add_region(&gm, 0, 1 * MiB, ram, -1, 0, false) == 0);
	machine_acpi_params(4, 512 * MiB, &p);
	REQUIRE(acpi_build(&p, &t) == 0);
	CHECK(t.tables_len <= LAYOUT_ACPI_TABLES_MAX);
	REQUIRE(acpi_write(&t, &gm, LAYOUT_ACPI_TABLES_GPA, LAYOUT_ACPI_RSDP_GPA, err,
			   sizeof(err)) == 0);
	const uint8_t *r = ram + LAYOUT_ACPI_RSDP_GPA;
	CHECK(memcmp(r, "RSD PTR ", 8) == 0);
	CHECK_EQ(sum8(r, 36), 0);
	uint64_t x = ld(r + 24, 8);
	REQUIRE(x > LAYOUT_ACPI_TABLES_GPA && x < 1 * MiB);
	CHECK(memcmp(ram + x, "XSDT", 4) == 0);
	CHECK_EQ(sum8(ram + x, (size_t)ld(ram + x + 4, 4)), 0);
	/* the built tables are untouched (fw_cfg would get them unlinked) */
	CHECK_EQ(ld(t.rsdp + 24, 8), acpi_table_find(&t, "XSDT")->off);
	/* no room: an error, nothing half-written past RAM */
	CHECK(acpi_write(&t, &gm, 1 * MiB - 64, LAYOUT_ACPI_RSDP_GPA, err, sizeof(err)) < 0);
	acpi_tables_fini(&t);
	free(ram);
}

/* ---- the table-loader ---- */

static void put_entry(uint8_t *e, uint32_t cmd)
{
	memset(e, 0, ACPI_LOADER_ENTRY_LEN);
	e[0] = (uint8_t)cmd;
}

TEST(acpi_loader_commands)
{
	struct acpi_params p;
	struct acpi_tables t;
	machine_acpi_params(2, 512 * MiB, &p);
	REQUIRE(acpi_build(&p, &t) == 0);
	REQUIRE(t.loader_len % ACPI_LOADER_ENTRY_LEN == 0);
	unsigned n = t.loader_len / ACPI_LOADER_ENTRY_LEN, alloc = 0, ptr = 0, csum = 0;
	bool csum_seen = false;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = t.loader + i * ACPI_LOADER_ENTRY_LEN;
		switch (ld(e, 4)) {
		case ACPI_LOADER_ALLOCATE:
			alloc++;
			if (strcmp((const char *)e + 4, ACPI_FILE_RSDP) == 0) {
				CHECK_EQ(e[64], ACPI_ZONE_FSEG);
				CHECK_EQ(ld(e + 60, 4), 16);
			} else {
				CHECK_STR((const char *)e + 4, ACPI_FILE_TABLES);
				CHECK_EQ(e[64], ACPI_ZONE_HIGH);
				CHECK_EQ(ld(e + 60, 4), 64);
			}
			break;
		case ACPI_LOADER_ADD_POINTER:
			ptr++;
			CHECK(!csum_seen); /* pointers before checksums */
			CHECK_STR((const char *)e + 60, ACPI_FILE_TABLES);
			CHECK(e[120] == 4 || e[120] == 8);
			break;
		case ACPI_LOADER_ADD_CHECKSUM:
			csum++;
			csum_seen = true;
			break;
		default:
			test_fail_at(__FILE__, __LINE__, "command %u: unknown %llu", i,
				     (unsigned long long)ld(e, 4));
		}
	}
	CHECK_EQ(alloc, 2);
	/* FADT: DSDT x2, FACS x1; RSDT 3, XSDT 3; RSDP 2 */
	CHECK_EQ(ptr, 3 + 3 + 3 + 2);
	/* DSDT FADT MADT MCFG RSDT XSDT, and the RSDP's two */
	CHECK_EQ(csum, 6 + 2);

	uint8_t rsdp[ACPI_RSDP_LEN];
	uint8_t *tables = malloc(t.tables_len);
	REQUIRE(tables);
	char err[200];
#define FILES(tg, rg)                                                                              \
	memcpy(tables, t.tables, t.tables_len);                                                    \
	memcpy(rsdp, t.rsdp, sizeof(rsdp));                                                        \
	struct acpi_loader_file files_##tg[] = {                                                   \
	    {ACPI_FILE_TABLES, tables, t.tables_len, tg, 0, false},                                \
	    {ACPI_FILE_RSDP, rsdp, ACPI_RSDP_LEN, rg, 0, false},                                   \
	};
	/* the RSDP outside the F-segment, the tables misaligned or above 4 GiB: refused */
	{
		FILES(0x100000, 0x9fc00);
		CHECK(acpi_loader_exec(t.loader, t.loader_len, files_0x100000, 2, err,
				       sizeof(err)) < 0);
		CHECK(strstr(err, "zone") != NULL);
	}
	{
		FILES(0x100020, 0xf0000);
		CHECK(acpi_loader_exec(t.loader, t.loader_len, files_0x100020, 2, err,
				       sizeof(err)) < 0);
		CHECK(strstr(err, "aligned") != NULL);
	}
	{
		FILES(0x100000000ULL, 0xf0000);
		CHECK(acpi_loader_exec(t.loader, t.loader_len, files_0x100000000ULL, 2, err,
				       sizeof(err)) < 0);
	}
	/* a truncated script */
	{
		FILES(0x100000, 0xf0000);
		CHECK(acpi_loader_exec(t.loader, t.loader_len - 1, files_0x100000, 2, err,
				       sizeof(err)) < 0);
		/* and the whole one works */
		CHECK(acpi_loader_exec(t.loader, t.loader_len, files_0x100000, 2, err,
				       sizeof(err)) == 0);
	}
#undef FILES
	acpi_tables_fini(&t);

	/* hand-made scripts: each bad command is refused with a reason */
	uint8_t data[64] = {0};
	struct acpi_loader_file f1[] = {{"a", data, sizeof(data), 0x1000, 0, false}};
	uint8_t s[3 * ACPI_LOADER_ENTRY_LEN];
	put_entry(s, ACPI_LOADER_ALLOCATE);
	strcpy((char *)s + 4, "a");
	s[64] = ACPI_ZONE_HIGH;
	/* pointer of a bad size */
	put_entry(s + 128, ACPI_LOADER_ADD_POINTER);
	strcpy((char *)s + 128 + 4, "a");
	strcpy((char *)s + 128 + 60, "a");
	s[128 + 120] = 3;
	CHECK(acpi_loader_exec(s, 256, f1, 1, err, sizeof(err)) < 0);
	CHECK(strstr(err, "command 1") != NULL);
	/* pointer past the end of the file */
	s[128 + 120] = 8;
	s[128 + 116] = 60;
	f1[0].allocated = false;
	CHECK(acpi_loader_exec(s, 256, f1, 1, err, sizeof(err)) < 0);
	/* a 1-byte pointer that overflows */
	s[128 + 116] = 0;
	s[128 + 120] = 1;
	data[0] = 0x10;
	f1[0].gpa = 0xf0;
	f1[0].allocated = false;
	CHECK(acpi_loader_exec(s, 256, f1, 1, err, sizeof(err)) < 0);
	CHECK(strstr(err, "overflows") != NULL);
	/* a 2-byte pointer that fits: 0x10 + 0xf0 */
	s[128 + 120] = 2;
	f1[0].allocated = false;
	CHECK(acpi_loader_exec(s, 256, f1, 1, err, sizeof(err)) == 0);
	CHECK_EQ(ld(data, 2), 0x100);
	/* checksum over a range beyond the file, then one that fits */
	put_entry(s + 256, ACPI_LOADER_ADD_CHECKSUM);
	strcpy((char *)s + 256 + 4, "a");
	s[256 + 60] = 5;       /* offset */
	s[256 + 64] = 0;       /* start */
	s[256 + 68] = 65;      /* length */
	put_entry(s + 128, 0); /* padding: skipped */
	f1[0].allocated = false;
	CHECK(acpi_loader_exec(s, sizeof(s), f1, 1, err, sizeof(err)) < 0);
	s[256 + 68] = 64;
	f1[0].allocated = false;
	data[7] = 0x33;
	CHECK(acpi_loader_exec(s, sizeof(s), f1, 1, err, sizeof(err)) == 0);
	CHECK_EQ(sum8(data, 64), 0);
	/* a file name without its NUL, an unknown file, unallocated files */
	memset(s + 4, 'a', ACPI_LOADER_FILE_LEN);
	CHECK(acpi_loader_exec(s, 128, f1, 1, err, sizeof(err)) < 0);
	memset(s + 4, 0, ACPI_LOADER_FILE_LEN);
	strcpy((char *)s + 4, "b");
	CHECK(acpi_loader_exec(s, 128, f1, 1, err, sizeof(err)) < 0);
	f1[0].allocated = false;
	CHECK(acpi_loader_exec(s + 256, 128, f1, 1, err, sizeof(err)) < 0);
	free(tables);
}

/* ---- the interrupt routing the tables describe ---- */

TEST(kvm_pc_routing)
{
	struct kvm_irq_routing *r =
	    calloc(1, sizeof(*r) + 2 * KVM_IRQCHIP_PINS * sizeof(struct kvm_irq_routing_entry));
	REQUIRE(r);
	kvm_routes_init_pc(r);
	bool pic0 = false, ioapic2 = false;
	unsigned seen[3][KVM_IRQCHIP_PINS] = {{0}};
	for (uint32_t i = 0; i < r->nr; i++) {
		const struct kvm_irq_routing_entry *e = &r->entries[i];
		REQUIRE(e->type == KVM_IRQ_ROUTING_IRQCHIP);
		REQUIRE(e->u.irqchip.irqchip < 3 && e->u.irqchip.pin < KVM_IRQCHIP_PINS);
		/* one GSI per irqchip pin: KVM maps EOIs back through this */
		CHECK_EQ(seen[e->u.irqchip.irqchip][e->u.irqchip.pin]++, 0);
		CHECK(e->gsi != 2); /* the cascade is not routed */
		if (e->gsi == 0 && e->u.irqchip.irqchip == KVM_IRQCHIP_PIC_MASTER)
			pic0 = e->u.irqchip.pin == 0;
		if (e->gsi == 0 && e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
			ioapic2 = e->u.irqchip.pin == 2;
		if (e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC && e->gsi != 0)
			CHECK_EQ(e->u.irqchip.pin, e->gsi);
		if (e->u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE)
			CHECK_EQ(e->u.irqchip.pin, e->gsi - 8);
	}
	CHECK(pic0);
	CHECK(ioapic2);
	CHECK_EQ(seen[KVM_IRQCHIP_IOAPIC][0], 0); /* pin 0: nothing, as on a PC */
	/* the devices' GSIs reach their IOAPIC pins: COM1, the SCI, PCI INTx */
	CHECK_EQ(seen[KVM_IRQCHIP_IOAPIC][LAYOUT_IRQ_SERIAL0], 1);
	CHECK_EQ(seen[KVM_IRQCHIP_IOAPIC][LAYOUT_IRQ_SCI], 1);
	CHECK_EQ(seen[KVM_IRQCHIP_IOAPIC][PCI_INTX_GSI_A], 1);
	CHECK_EQ(seen[KVM_IRQCHIP_IOAPIC][PCI_INTX_GSI_B], 1);
	CHECK_EQ(r->nr, 8 - 1 + 8 + 24 - 1);
	free(r);
}
