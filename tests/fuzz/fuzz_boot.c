/* SPDX-License-Identifier: MIT */
/*
 * Kernel image loaders: bytes as the --kernel file, then loaded into 16 MiB of RAM. The first
 * input byte picks the shape, so that the fuzzer gets past the magic numbers even without
 * coverage feedback from the library:
 *   0: the input as is;
 *   1: a valid ELF64 x86-64 header (1-4 program headers) followed by the input;
 *   2: a bzImage boot sector + "HdrS" protocol 2.15 header with the input laid over the
 *      setup header fields (0x1f1..) and following it.
 * FUZZ_BOOT_TRACE=1 prints a line for each input that got as far as being loaded.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "arch/x86/arch.h"

#define FUZZ_MEM (16ULL * MiB)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t shape(const uint8_t *data, size_t size, uint8_t **out)
{
	uint8_t mode = size ? data[0] % 3 : 0;
	uint8_t *b;
	size_t len;

	if (size)
		data++, size--;
	if (mode == 1) {
		Elf64_Ehdr eh = {0};
		len = sizeof(eh) + size;
		b = calloc(1, len);
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_type = ET_EXEC;
		eh.e_machine = EM_X86_64;
		eh.e_entry = 0x100000;
		if (size >= 32) /* the first segment's p_paddr */
			memcpy(&eh.e_entry, data + offsetof(Elf64_Phdr, p_paddr), 8);
		eh.e_phoff = sizeof(eh);
		eh.e_phentsize = sizeof(Elf64_Phdr);
		eh.e_phnum = (uint16_t)(1 + (size ? data[size - 1] % 4 : 0));
		memcpy(b, &eh, sizeof(eh));
		memcpy(b + sizeof(eh), data, size);
	} else if (mode == 2) {
		len = 0x1f1 + size;
		if (len < 0x280)
			len = 0x280;
		b = calloc(1, len);
		b[0x1f1] = 1;                           /* setup_sects */
		b[0x1fe] = 0x55, b[0x1ff] = 0xaa;       /* boot_flag */
		b[0x201] = 0x6a;                        /* header length */
		memcpy(b + 0x202, "HdrS", 4);
		b[0x206] = 0x0f, b[0x207] = 0x02;       /* version 2.15 */
		b[0x236] = 0x01;                        /* XLF_KERNEL_64 */
		memcpy(b + 0x1f1, data, size);
		memcpy(b + 0x1fe, "\x55\xaa", 2);
		memcpy(b + 0x202, "HdrS", 4);
	} else {
		len = size;
		b = malloc(size ? size : 1);
		memcpy(b, data, size);
	}
	if (!b)
		abort();
	*out = b;
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x86_boot_plan plan;
	char path[64], err[512] = "";
	uint8_t *img;
	size_t len = shape(data, size, &img);
	int fd = memfd_create("fuzz-kernel", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (len && write(fd, img, len) != (ssize_t)len)
		abort();
	free(img);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (x86_boot_prepare(path, NULL, "console=ttyS0", FUZZ_MEM, &plan, err, sizeof(err)) == 0) {
		struct guest_mem gm;
		struct boot_mem_info mi = {FUZZ_MEM, 0, 0};
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
		if (getenv("FUZZ_BOOT_TRACE"))
			fprintf(stderr, "loaded: kind %d, err '%s'\n", plan.kind, err);
		x86_boot_plan_fini(&plan);
	} else if (!err[0] || strchr(err, '\n') || plan.kernel || plan.initrd_fd != -1) {
		abort(); /* one-line reason, nothing held */
	}
	close(fd);
	return 0;
}
