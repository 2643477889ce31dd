/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for fw_cfg: the input is a program of port accesses and DMA descriptors
 * run against a device with a few items over 64 KiB of RAM plus a read-only "ROM" region.
 * Invariants: no crash, the ROM is never written, DMA never writes outside RAM (guard bytes
 * around the RAM buffer stay intact, ASan checks the rest).
 */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "firmware/fw_cfg.h"

#define RAM_SIZE 0x10000u
#define ROM_GPA 0x20000u
#define ROM_SIZE 0x1000u
#define GUARD 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct rd *r, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		uint8_t b = 0;
		if (r->n) {
			b = *r->p++;
			r->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ram_buf[RAM_SIZE + 2 * GUARD];
	static uint8_t rom[ROM_SIZE];
	uint8_t *ram = ram_buf + GUARD;
	log_set_level(LOG_ERR);
	memset(ram_buf, 0xa5, sizeof(ram_buf));
	memset(ram, 0, RAM_SIZE);
	memset(rom, 0x5a, sizeof(rom));

	struct guest_mem gm;
	gm_init(&gm);
	if (gm_add_region(&gm, 0, RAM_SIZE, ram, -1, 0, false) ||
	    gm_add_region(&gm, ROM_GPA, ROM_SIZE, rom, -1, 0, true))
		abort();
	struct fwcfg *fw;
	if (fwcfg_create(&gm, &fw))
		abort();
	static const uint8_t e820[40] = {1, 2, 3};
	if (fwcfg_add_u64(fw, FW_CFG_RAM_SIZE, RAM_SIZE) || fwcfg_add_u16(fw, FW_CFG_NB_CPUS, 1) ||
	    fwcfg_add_file(fw, "etc/e820", e820, sizeof(e820), NULL) ||
	    fwcfg_add_file(fw, "bootorder", "/pci@i0cf8/scsi@3/disk@0,0\n", 28, NULL) ||
	    fwcfg_add_file(fw, "empty", NULL, 0, NULL))
		abort();

	struct rd r = {data, size};
	unsigned steps = 0;
	while (r.n && steps++ < 256) {
		uint8_t op = (uint8_t)take(&r, 1);
		uint8_t buf[8];
		switch (op % 8) {
		case 0: { /* select */
			uint16_t k = htole16((uint16_t)take(&r, 2));
			fwcfg_ctl_write(fw, 0, &k, 2);
			break;
		}
		case 1: /* data reads of 1..8 bytes at offset 0..1 */
			fwcfg_ctl_read(fw, op >> 7, buf, 1 + ((op >> 3) & 7));
			break;
		case 2: /* data/selector writes of odd widths */
			memcpy(buf, (uint8_t[8]){(uint8_t)take(&r, 1), (uint8_t)take(&r, 1)}, 8);
			fwcfg_ctl_write(fw, op >> 7, buf, 1 + ((op >> 3) & 7));
			break;
		case 3: { /* place a descriptor in RAM and trigger it with the two halves */
			uint32_t gpa = (uint32_t)take(&r, 2) & (RAM_SIZE - 1);
			uint32_t control = (uint32_t)take(&r, 4);
			uint32_t len = (uint32_t)take(&r, 4);
			if (op & 0x80)
				len &= 0xfff;
			uint64_t addr = take(&r, 8);
			if (op & 0x40)
				addr &= 0x3ffff;
			struct fw_cfg_dma_access a = {htobe32(control), htobe32(len), htobe64(addr)};
			size_t n = MIN(sizeof(a), RAM_SIZE - gpa);
			memcpy(ram + gpa, &a, n);
			uint32_t hi = 0, lo = htobe32(gpa);
			fwcfg_dma_write(fw, 0, &hi, 4);
			fwcfg_dma_write(fw, 4, &lo, 4);
			break;
		}
		case 4: { /* trigger at an arbitrary 64-bit address */
			uint64_t be = htobe64(take(&r, 8));
			fwcfg_dma_write(fw, 0, &be, 8);
			break;
		}
		case 5: { /* raw DMA register writes of any width/offset */
			uint64_t v = take(&r, 8);
			fwcfg_dma_write(fw, (op >> 3) & 7, &v, 1u << ((op >> 6) & 3));
			break;
		}
		case 6: /* DMA register reads */
			fwcfg_dma_read(fw, (op >> 3) & 7, buf, 1 + ((op >> 6) & 3));
			break;
		default: { /* poke RAM (the guest racing itself) */
			uint32_t gpa = (uint32_t)take(&r, 2) & (RAM_SIZE - 1);
			ram[gpa] = (uint8_t)take(&r, 1);
			break;
		}
		}
	}
	for (unsigned i = 0; i < ROM_SIZE; i++)
		if (rom[i] != 0x5a)
			abort();
	for (unsigned i = 0; i < GUARD; i++)
		if (ram_buf[i] != 0xa5 || ram_buf[GUARD + RAM_SIZE + i] != 0xa5)
			abort();
	fwcfg_destroy(fw);
	return 0;
}
