/* SPDX-License-Identifier: MIT */
/*
 * acpi-dump: write the ACPI tables `vireo run` gives a direct-boot guest, one file per table,
 * so that tests can disassemble them with iasl (acpica-tools) and compare them with what a
 * guest read:
 *
 *   acpi-dump [--cpus N] [--memory SIZE] DIR
 *
 * The tables come from the same code path as `vireo run` (machine_acpi_params, acpi_build, the
 * table-loader run at the LAYOUT_ACPI_* addresses); DIR gets RSDP.dat, FACS.dat, DSDT.dat,
 * FACP.dat, APIC.dat, MCFG.dat, RSDT.dat, XSDT.dat (the names iasl -d expects) and
 * table-loader.bin (the fw_cfg "etc/table-loader" file SeaBIOS gets).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "vmm/machine.h"

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "acpi-dump: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t cpus = 1, mem = 512 * MiB;
	const char *dir = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc) {
			if (parse_uint(argv[++i], 1, ACPI_MAX_CPUS, &cpus) < 0) {
				fprintf(stderr, "acpi-dump: bad --cpus '%s'\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--memory") == 0 && i + 1 < argc) {
			if (parse_size(argv[++i], &mem) < 0) {
				fprintf(stderr, "acpi-dump: bad --memory '%s'\n", argv[i]);
				return 2;
			}
		} else if (!dir && argv[i][0] != '-') {
			dir = argv[i];
		} else {
			fprintf(stderr, "usage: acpi-dump [--cpus N] [--memory SIZE] DIR\n");
			return 2;
		}
	}
	if (!dir) {
		fprintf(stderr, "usage: acpi-dump [--cpus N] [--memory SIZE] DIR\n");
		return 2;
	}

	struct acpi_params p;
	struct acpi_tables t;
	char err[256] = "";
	machine_acpi_params((unsigned)cpus, mem, &p);
	int r = acpi_build(&p, &t);
	if (r < 0) {
		fprintf(stderr, "acpi-dump: acpi_build: %s\n", strerror(-r));
		return 1;
	}
	struct acpi_loader_file files[] = {
	    {ACPI_FILE_TABLES, t.tables, t.tables_len, LAYOUT_ACPI_TABLES_GPA, 0, false},
	    {ACPI_FILE_RSDP, t.rsdp, ACPI_RSDP_LEN, LAYOUT_ACPI_RSDP_GPA, 0, false},
	};
	/* the loader file as built, before the run below patches the tables in place */
	if (write_file(dir, "table-loader.bin", t.loader, t.loader_len) < 0)
		goto fail;
	r = acpi_loader_exec(t.loader, t.loader_len, files, 2, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "acpi-dump: %s\n", err);
		goto fail;
	}
	if (write_file(dir, "RSDP.dat", t.rsdp, ACPI_RSDP_LEN) < 0)
		goto fail;
	for (unsigned i = 0; i < t.nr; i++) {
		char name[16];
		snprintf(name, sizeof(name), "%s.dat", t.index[i].sig);
		if (write_file(dir, name, t.tables + t.index[i].off, t.index[i].len) < 0)
			goto fail;
	}
	acpi_tables_fini(&t);
	return 0;
fail:
	acpi_tables_fini(&t);
	return 1;
}
