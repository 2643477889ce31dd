/* SPDX-License-Identifier: MIT */
/*
 * bzImage parsing and loading per the Linux x86 boot protocol (Documentation/arch/x86/boot.rst).
 * Only the 64-bit entry is used: the protected-mode kernel is loaded at LAYOUT_KERNEL_GPA and
 * entered at +0x200 in long mode with RSI = boot_params; the real-mode setup code is not run.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <asm/bootparam.h>
#include "arch/x86/boot_internal.h"
#include "arch/x86/layout.h"

#define BZ_HDR_OFF 0x1f1
#define BZ_BOOT_FLAG_OFF 0x1fe
#define BZ_JUMP_LEN_OFF 0x201 /* second byte of the jump: header length - 2 */
#define BZ_MAGIC_OFF 0x202
#define BZ_HDRS_MAGIC 0x53726448u /* "HdrS" */
#define BZ_BOOT_FLAG 0xaa55
#define BZ_MIN_VERSION 0x0206
#define BZ_ENTRY64_OFF 0x200
#define BZ_HEAP_END 0xe000 /* boot.rst: heap_end_ptr = heap end - 0x200 */
#define BZ_INITRD_ADDR_MAX_DEFAULT 0x37ffffffu /* protocol < 2.03 */
#define BZ_HDR_COPY_END offsetof(struct boot_params, edd_mbr_sig_buffer) /* 0x290 */
#define BZ_LOADER_UNDEFINED 0xff

static uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool x86_bzimage_probe(const uint8_t *buf, size_t len)
{
	return len >= BZ_MAGIC_OFF + 4 && ld16(buf + BZ_BOOT_FLAG_OFF) == BZ_BOOT_FLAG &&
	       ld32(buf + BZ_MAGIC_OFF) == BZ_HDRS_MAGIC;
}

int x86_bzimage_parse(struct x86_boot_plan *plan, const char *name, uint64_t ram_below_4g,
		      char *err, size_t errlen)
{
	const uint8_t *buf = plan->kernel;
	size_t len = plan->kernel_len;
	struct setup_header hdr;

	if (len < BZ_HDR_OFF + sizeof(hdr))
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': truncated bzImage (%zu bytes, setup header incomplete)",
				     name, len);
	memcpy(&hdr, buf + BZ_HDR_OFF, sizeof(hdr));

	if (hdr.version < BZ_MIN_VERSION)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': boot protocol %u.%02u is older than 2.06", name,
				     hdr.version >> 8, hdr.version & 0xff);
	if (hdr.version < 0x020c || !(hdr.xloadflags & XLF_KERNEL_64))
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': bzImage has no 64-bit entry point (XLF_KERNEL_64 not set, protocol %u.%02u)",
				     name, hdr.version >> 8, hdr.version & 0xff);

	unsigned sects = hdr.setup_sects ? hdr.setup_sects : 4;
	size_t setup_len = ((size_t)sects + 1) * 512;
	if (setup_len >= len)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': truncated bzImage: setup_sects %u needs %zu bytes, file has %zu",
				     name, sects, setup_len, len);
	size_t hdr_end = BZ_MAGIC_OFF + buf[BZ_JUMP_LEN_OFF];
	if (hdr_end > setup_len)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': setup header ends at 0x%zx, beyond the %zu-byte setup",
				     name, hdr_end, setup_len);
	if (hdr_end > BZ_HDR_COPY_END)
		hdr_end = BZ_HDR_COPY_END;

	uint64_t pm_len = len - setup_len;
	uint64_t sys_len = (uint64_t)hdr.syssize * 16;
	if (sys_len == 0)
		return x86_boot_fail(err, errlen, -EINVAL, "kernel '%s': bzImage syssize is 0",
				     name);
	if (sys_len > pm_len)
		return x86_boot_fail(err, errlen, -EINVAL,
				     "kernel '%s': truncated bzImage: syssize says %llu bytes of kernel, file has %llu after the setup",
				     name, (unsigned long long)sys_len, (unsigned long long)pm_len);

	uint64_t load = LAYOUT_KERNEL_GPA;
	uint64_t end = load + pm_len;
	if (hdr.version >= 0x020a) {
		/* The decompressor runs at max(load aligned to kernel_alignment, pref_address) and
		 * needs init_size bytes from there. */
		uint64_t align = IS_POW2(hdr.kernel_alignment) ? hdr.kernel_alignment : 1;
		uint64_t run = MAX(ALIGN_UP(load, align), hdr.pref_address);
		if (run > UINT32_MAX)
			return x86_boot_fail(err, errlen, -EINVAL,
					     "kernel '%s': pref_address 0x%llx is above 4 GiB", name,
					     (unsigned long long)hdr.pref_address);
		end = MAX(end, run + hdr.init_size);
	}
	if (end > ram_below_4g)
		return x86_boot_fail(err, errlen, -ENOSPC,
				     "kernel '%s': needs RAM up to %llu MiB below 4 GiB to decompress, guest has %llu MiB there",
				     name, (unsigned long long)((end + MiB - 1) / MiB),
				     (unsigned long long)(ram_below_4g / MiB));

	uint64_t initrd_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : BZ_INITRD_ADDR_MAX_DEFAULT;
	plan->image = X86_IMAGE_BZIMAGE;
	plan->kind = BOOT_LINUX64;
	plan->version = hdr.version;
	plan->setup_len = setup_len;
	plan->hdr_end = hdr_end;
	plan->load_gpa = load;
	plan->entry = load + BZ_ENTRY64_OFF;
	plan->kernel_end = end;
	plan->cmdline_max = MIN((size_t)hdr.cmdline_size, (size_t)LAYOUT_CMDLINE_MAX - 1);
	plan->initrd_limit = MIN(initrd_max + 1, ram_below_4g);
	return 0;
}

int x86_bzimage_load(const struct x86_boot_plan *plan, struct guest_mem *gm)
{
	return gm_write(gm, plan->load_gpa, plan->kernel + plan->setup_len,
			plan->kernel_len - plan->setup_len);
}

void x86_bzimage_fill_header(const struct x86_boot_plan *plan, struct boot_params *bp)
{
	struct setup_header *h = &bp->hdr;

	if (plan->image == X86_IMAGE_BZIMAGE) {
		/* boot.rst: copy the setup header from the file (0x1f1 .. 0x202 + byte at 0x201)
		 * into a zeroed boot_params, then fill in the loader's fields. */
		memcpy((uint8_t *)bp + BZ_HDR_OFF, plan->kernel + BZ_HDR_OFF,
		       plan->hdr_end - BZ_HDR_OFF);
		h->code32_start = (uint32_t)plan->load_gpa;
	} else {
		/* No setup header in an ELF: describe ourselves minimally, like a header would. */
		h->boot_flag = BZ_BOOT_FLAG;
		h->header = BZ_HDRS_MAGIC;
		h->kernel_alignment = 0x1000000;
		h->cmdline_size = (uint32_t)plan->cmdline_max;
	}
	h->type_of_loader = BZ_LOADER_UNDEFINED;
	h->loadflags |= LOADED_HIGH | CAN_USE_HEAP;
	h->heap_end_ptr = BZ_HEAP_END - 0x200;
}
