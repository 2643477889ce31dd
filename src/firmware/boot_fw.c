/* SPDX-License-Identifier: MIT */
/* Firmware (SeaBIOS) boot: see boot_fw.h and docs/firmware.md. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <asm/e820.h>
#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "base/log.h"
#include "firmware/boot_fw.h"
#include "firmware/debugcon.h"
#include "firmware/fw_cfg.h"
#include "vmm/vm.h"

#define FW_LEGACY_END 0x100000ULL
#define FW_SERCON_PORT 0x3f8

/* One "etc/e820" entry as SeaBIOS reads it: little-endian, packed, 20 bytes. */
struct fw_e820 {
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

struct fw_rom {
	void *hva;
	size_t size;
};

static void fw_rom_destroy(void *opaque)
{
	struct fw_rom *rom = opaque;
	if (rom->hva)
		munmap(rom->hva, rom->size);
	free(rom);
}

/* Open and size-check the image; returns the fd or -errno with err filled. */
static int fw_open_image(const char *path, size_t *size, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = -errno;
		snprintf(err, errlen, "--firmware %s: %s", path, strerror(-e));
		return e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		snprintf(err, errlen, "--firmware %s: %s", path, strerror(-e));
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < FW_IMAGE_MIN || st.st_size > FW_IMAGE_MAX ||
	    st.st_size % FW_IMAGE_MIN) {
		snprintf(err, errlen,
			 "--firmware %s: not a BIOS image (need a regular file of 64 KiB..16 MiB, "
			 "a multiple of 64 KiB; this is %lld bytes)",
			 path, (long long)st.st_size);
		close(fd);
		return -EINVAL;
	}
	*size = (size_t)st.st_size;
	return fd;
}

int fw_check_image(const char *path, char *err, size_t errlen)
{
	size_t size;
	int fd = fw_open_image(path, &size, err, errlen);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int fw_read_all(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank */
		done += (size_t)n;
	}
	return 0;
}

int fw_bootorder_pci(char *buf, size_t len, int dev, int fn)
{
	if (dev < 0 || dev > 31 || fn < 0 || fn > 7)
		return -EINVAL;
	int n = fn ? snprintf(buf, len, "/pci@i0cf8/scsi@%x,%x/disk@0,0", (unsigned)dev, (unsigned)fn)
		   : snprintf(buf, len, "/pci@i0cf8/scsi@%x/disk@0,0", (unsigned)dev);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

static int fw_add_file_u16(struct fwcfg *fw, const char *name, uint16_t v)
{
	uint16_t le = htole16(v);
	return fwcfg_add_file(fw, name, &le, sizeof(le), NULL);
}

static int fw_add_file_u32(struct fwcfg *fw, const char *name, uint32_t v)
{
	uint32_t le = htole32(v);
	return fwcfg_add_file(fw, name, &le, sizeof(le), NULL);
}

int fw_cfg_populate(struct fwcfg *fw, uint64_t ram_below_4g, uint64_t ram_above_4g,
		    unsigned nr_cpus, const struct fw_setup *fs)
{
	int r;
	if (nr_cpus == 0 || nr_cpus > 0xffff)
		return -EINVAL;
	if ((r = fwcfg_add_u64(fw, FW_CFG_RAM_SIZE, ram_below_4g + ram_above_4g)) ||
	    (r = fwcfg_add_u16(fw, FW_CFG_NOGRAPHIC, 1)) ||
	    (r = fwcfg_add_u16(fw, FW_CFG_NB_CPUS, (uint16_t)nr_cpus)) ||
	    (r = fwcfg_add_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)nr_cpus)) ||
	    /* SeaBIOS reads this as "etc/show-boot-menu": no menu, no F12 wait. */
	    (r = fwcfg_add_u16(fw, FW_CFG_BOOT_MENU, 0)) ||
	    /* ISA IRQ 0 is on IOAPIC pin 2 (kvm.c routes the PIT's GSI 0 there): SeaBIOS's MP
	     * table says so when it builds one. */
	    (r = fwcfg_add_u32(fw, FWCFG_X86_IRQ0_OVERRIDE, 1)))
		return r;

	/* RAM and reservations. SeaBIOS takes RAM below 4 GiB from CMOS and ignores the RAM
	 * entries it already has; RAM above 4 GiB and the reserved ranges come from here. */
	struct fw_e820 e820[5];
	unsigned n = 0;
	e820[n++] = (struct fw_e820){htole64(0), htole64(ram_below_4g), htole32(E820_RAM)};
	e820[n++] = (struct fw_e820){htole64(LAYOUT_ECAM_GPA), htole64(LAYOUT_ECAM_SIZE),
				     htole32(E820_RESERVED)};
	/* KVM's identity-map page and the 3 TSS pages. */
	e820[n++] = (struct fw_e820){htole64(LAYOUT_IDENTITY_MAP_GPA),
				     htole64(LAYOUT_TSS_GPA + 3 * 4096 - LAYOUT_IDENTITY_MAP_GPA),
				     htole32(E820_RESERVED)};
	if (ram_above_4g)
		e820[n++] = (struct fw_e820){htole64(LAYOUT_RAM_ABOVE_4G_START),
					     htole64(ram_above_4g), htole32(E820_RAM)};
	if ((r = fwcfg_add_file(fw, "etc/e820", e820, (uint32_t)(n * sizeof(e820[0])), NULL)))
		return r;

	if ((r = fw_add_file_u16(fw, "etc/boot-cpus", (uint16_t)nr_cpus)) ||
	    (r = fw_add_file_u32(fw, "etc/boot-fail-wait", FW_BOOT_FAIL_WAIT_MS)))
		return r;
	if (fs && fs->serial_console && (r = fw_add_file_u16(fw, "etc/sercon-port", FW_SERCON_PORT)))
		return r;
	/* vireo's ACPI tables, the same as a direct boot gets; SeaBIOS links them with the
	 * loader commands and then builds none of its own. */
	if (fs && fs->acpi &&
	    ((r = fwcfg_add_file(fw, ACPI_FILE_TABLES, fs->acpi->tables, fs->acpi->tables_len,
				 NULL)) ||
	     (r = fwcfg_add_file(fw, ACPI_FILE_RSDP, fs->acpi->rsdp, ACPI_RSDP_LEN, NULL)) ||
	     (r = fwcfg_add_file(fw, ACPI_FILE_LOADER, fs->acpi->loader, fs->acpi->loader_len,
				 NULL))))
		return r;
	for (unsigned i = 0; fs && i < fs->nr_files; i++)
		if ((r = fwcfg_add_file(fw, fs->files[i].name, fs->files[i].data, fs->files[i].len,
					NULL)))
			return r;
	if (fs && fs->boot_pci_dev != FW_BOOT_NONE) {
		/* One device per line, no trailing newline (SeaBIOS would see an empty entry);
		 * the NUL is part of the file as QEMU gives it. */
		char line[64];
		int len = fw_bootorder_pci(line, sizeof(line), fs->boot_pci_dev, fs->boot_pci_fn);
		if (len < 0)
			return len;
		len++;
		if ((r = fwcfg_add_file(fw, "bootorder", line, (uint32_t)len, NULL)))
			return r;
	}
	return 0;
}

/* Map the image read-only below 4 GiB and copy its tail into the legacy window. */
static int fw_map_rom(struct vm *vm, const char *path, char *err, size_t errlen)
{
	size_t size;
	int fd = fw_open_image(path, &size, err, errlen);
	if (fd < 0)
		return fd;
	struct fw_rom *rom = calloc(1, sizeof(*rom));
	if (!rom) {
		close(fd);
		snprintf(err, errlen, "firmware: out of memory");
		return -ENOMEM;
	}
	rom->size = size;
	rom->hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rom->hva == MAP_FAILED) {
		int e = -errno;
		rom->hva = NULL;
		fw_rom_destroy(rom);
		close(fd);
		snprintf(err, errlen, "firmware: cannot map %zu bytes: %s", size, strerror(-e));
		return e;
	}
	int r = fw_read_all(fd, rom->hva, size);
	close(fd);
	if (r < 0) {
		fw_rom_destroy(rom);
		snprintf(err, errlen, "--firmware %s: read: %s", path, strerror(-r));
		return r;
	}
	/* The legacy copy: plain RAM that SeaBIOS may write (see boot_fw.h). */
	size_t alias = MIN(size, (size_t)FW_LEGACY_ALIAS_MAX);
	uint8_t *low = gm_ptr_w(&vm->mem, FW_LEGACY_END - alias, alias);
	if (!low) {
		fw_rom_destroy(rom);
		snprintf(err, errlen, "firmware: no RAM at 0x%llx..0x%llx for the BIOS copy",
			 (unsigned long long)(FW_LEGACY_END - alias), FW_LEGACY_END - 1);
		return -ENOSPC;
	}
	memcpy(low, (uint8_t *)rom->hva + size - alias, alias);

	if (mprotect(rom->hva, size, PROT_READ) < 0) {
		int e = -errno;
		fw_rom_destroy(rom);
		snprintf(err, errlen, "firmware: mprotect: %s", strerror(-e));
		return e;
	}
	uint64_t gpa = LAYOUT_BIOS_END - size;
	r = vm_add_device(vm, "bios-rom", rom, fw_rom_destroy);
	if (r < 0) {
		fw_rom_destroy(rom);
		snprintf(err, errlen, "firmware: out of memory");
		return r;
	}
	r = kvm_add_memslot(&vm->kvm, gpa, size, rom->hva, true);
	if (r < 0) {
		snprintf(err, errlen, "firmware: read-only memslot at 0x%llx: %s",
			 (unsigned long long)gpa, strerror(-r));
		return r;
	}
	r = gm_add_region(&vm->mem, gpa, size, rom->hva, -1, 0, true);
	if (r < 0) {
		snprintf(err, errlen, "firmware: ROM region at 0x%llx: %s", (unsigned long long)gpa,
			 strerror(-r));
		return r;
	}
	log_debug("firmware: %s: %zu KiB at 0x%llx, copy at 0x%llx", path, size / 1024,
		  (unsigned long long)gpa, (unsigned long long)(FW_LEGACY_END - alias));
	return 0;
}

int fw_boot_setup(struct vm *vm, const struct fw_setup *fs, struct boot_entry *entry, char *err,
		  size_t errlen)
{
	int r = fw_map_rom(vm, fs->firmware, err, errlen);
	if (r < 0)
		return r;

	struct fwcfg *fw;
	r = fwcfg_create(&vm->mem, &fw);
	if (r < 0) {
		snprintf(err, errlen, "fw_cfg: %s", strerror(-r));
		return r;
	}
	r = vm_add_device(vm, "fw_cfg", fw, fwcfg_destroy_opaque);
	if (r < 0) {
		fwcfg_destroy(fw);
		snprintf(err, errlen, "fw_cfg: %s", strerror(-r));
		return r;
	}
	r = fw_cfg_populate(fw, vm->ram_below_4g, vm->ram_above_4g, vm->cfg->cpus, fs);
	if (r == 0)
		r = fwcfg_attach(fw, &vm->pio);
	if (r < 0) {
		snprintf(err, errlen, "fw_cfg: %s", strerror(-r));
		return r;
	}

	struct debugcon *dc;
	r = debugcon_create(fs->firmware_log, &dc);
	if (r < 0) {
		snprintf(err, errlen, "--firmware-log %s: %s", fs->firmware_log, strerror(-r));
		return r;
	}
	r = vm_add_device(vm, "debugcon", dc, debugcon_destroy_opaque);
	if (r < 0) {
		debugcon_destroy(dc);
		snprintf(err, errlen, "debugcon: %s", strerror(-r));
		return r;
	}
	r = debugcon_attach(dc, &vm->pio, LAYOUT_PIO_DEBUGCON);
	if (r < 0) {
		snprintf(err, errlen, "debugcon: port 0x%x: %s", LAYOUT_PIO_DEBUGCON, strerror(-r));
		return r;
	}

	memset(entry, 0, sizeof(*entry));
	entry->kind = BOOT_RESET;
	entry->rip = 0xfff0;
	return 0;
}
