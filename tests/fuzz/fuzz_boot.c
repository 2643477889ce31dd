/* SPDX-License-Identifier: MIT */
/* Kernel image loaders: arbitrary bytes as the --kernel file, then loaded into 16 MiB of RAM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "arch/x86/arch.h"

#define FUZZ_MEM (16ULL * MiB)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x86_boot_plan plan;
	char path[64], err[512] = "";
	int fd = memfd_create("fuzz-kernel", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (x86_boot_prepare(path, NULL, "console=ttyS0", FUZZ_MEM, &plan, err, sizeof(err)) == 0) {
		struct guest_mem gm;
		struct boot_mem_info mi = {FUZZ_MEM, 0};
		struct boot_entry entry;
		void *ram = calloc(1, FUZZ_MEM);
		if (!ram)
			abort();
		gm_init(&gm);
		if (gm_add_region(&gm, 0, FUZZ_MEM, ram, -1, 0, false) < 0)
			abort();
		if (x86_boot_load(&plan, &gm, &mi, 2, &entry, err, sizeof(err)) < 0 && !err[0])
			abort(); /* every failure has a reason */
		free(ram);
	} else if (!err[0] || strchr(err, '\n')) {
		abort(); /* one-line reason */
	}
	x86_boot_plan_fini(&plan);
	close(fd);
	return 0;
}
