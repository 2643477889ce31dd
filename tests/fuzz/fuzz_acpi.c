/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the table-loader runner (acpi_loader_exec): the input is two file
 * addresses (8 bytes each) and then a command script, run over copies of the real
 * "etc/acpi/tables" and "etc/acpi/rsdp" (exact-size heap copies). Invariants: no crash, no
 * access outside the files or the script (ASan), and a refused script gets a one-line reason
 * naming its command.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/acpi.h"
#include "base/log.h"
#include "vmm/machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct acpi_tables t;
	static bool built;
	char err[256];

	log_set_level(LOG_ERR);
	if (!built) {
		struct acpi_params p;
		machine_acpi_params(2, 512ULL << 20, &p);
		if (acpi_build(&p, &t) < 0)
			abort();
		built = true;
	}
	if (size < 16)
		return 0;
	/* exact-size copies, so that ASan sees any access past their ends */
	uint8_t *tables = malloc(t.tables_len);
	uint8_t *rsdp = malloc(ACPI_RSDP_LEN);
	uint8_t *script = malloc(size - 16 ? size - 16 : 1);
	if (!tables || !rsdp || !script)
		abort();
	memcpy(tables, t.tables, t.tables_len);
	memcpy(rsdp, t.rsdp, ACPI_RSDP_LEN);
	memcpy(script, data + 16, size - 16);
	struct acpi_loader_file files[] = {
	    {ACPI_FILE_TABLES, tables, t.tables_len, ld64(data), 0, false},
	    {ACPI_FILE_RSDP, rsdp, ACPI_RSDP_LEN, ld64(data + 8), 0, false},
	};
	err[0] = '\0';
	if (acpi_loader_exec(script, size - 16, files, 2, err, sizeof(err)) < 0 &&
	    (strncmp(err, "table-loader: command ", 22) != 0 || strchr(err, '\n')))
		abort();
	free(script);
	free(rsdp);
	free(tables);
	return 0;
}
