/* SPDX-License-Identifier: MIT */
/* Helpers shared by the boot unit tests: crafted kernels and a fake guest memory. */
#ifndef VIREO_TESTS_TEST_BOOT_H
#define VIREO_TESTS_TEST_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mem/guest_mem.h"

#define TB_ELF_PADDR 0x200000ULL
#define TB_ELF_BSS 0x1000ULL
#define TB_ELF_DECOY_OFF 0x800ULL /* e_entry of PVH test ELFs: paddr + this */

/* Write an x86-64 ELF with one PT_LOAD (code at TB_ELF_PADDR, TB_ELF_BSS bytes of bss) and,
 * when pvh, a Xen PHYS32_ENTRY note pointing at the code (e_entry then points elsewhere). */
int tb_write_elf(const char *path, const uint8_t *code, size_t len, bool pvh);
int tb_write_file(const char *path, const void *data, size_t len);
/* A malloc'd guest_mem with one RAM region at 0 of `size` bytes, filled with `fill`. */
struct guest_mem *tb_fake_gm(uint64_t size, uint8_t fill);
void tb_fake_gm_free(struct guest_mem *gm);

#endif
