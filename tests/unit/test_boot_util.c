/* SPDX-License-Identifier: MIT */
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test_boot.h"

int tb_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

int tb_write_elf(const char *path, const uint8_t *code, size_t len, bool pvh)
{
	uint8_t *f = calloc(1, 0x1000 + len);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)f;
	Elf64_Phdr *ph = (Elf64_Phdr *)(f + sizeof(*eh));
	int r;

	if (!f)
		return -1;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = TB_ELF_PADDR + (pvh ? TB_ELF_DECOY_OFF : 0);
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = pvh ? 2 : 1;
	ph[0].p_type = PT_LOAD;
	ph[0].p_flags = PF_R | PF_X | PF_W;
	ph[0].p_offset = 0x1000;
	ph[0].p_vaddr = 0xffffffff80000000ULL + TB_ELF_PADDR;
	ph[0].p_paddr = TB_ELF_PADDR;
	ph[0].p_filesz = len;
	ph[0].p_memsz = len + TB_ELF_BSS;
	ph[0].p_align = 0x1000;
	if (pvh) {
		/* One note: namesz 4 "Xen\0", descsz 4, type 18 (XEN_ELFNOTE_PHYS32_ENTRY),
		 * after an unrelated note that must be skipped. */
		uint32_t note[] = {4, 4, 1, 0x004e4547 /* "GNU\0" */, 0xdeadbeef,
				   4, 4, 18, 0x006e6558 /* "Xen\0" */, (uint32_t)TB_ELF_PADDR};
		memcpy(f + 0x200, note, sizeof(note));
		ph[1].p_type = PT_NOTE;
		ph[1].p_offset = 0x200;
		ph[1].p_filesz = sizeof(note);
		ph[1].p_align = 4;
	}
	memcpy(f + 0x1000, code, len);
	r = tb_write_file(path, f, 0x1000 + len);
	free(f);
	return r;
}

struct guest_mem *tb_fake_gm(uint64_t size, uint8_t fill)
{
	struct guest_mem *gm = calloc(1, sizeof(*gm));
	void *buf = malloc(size);
	if (!gm || !buf)
		abort();
	memset(buf, fill, size);
	gm_init(gm);
	if (gm_add_region(gm, 0, size, buf, -1, 0, false) < 0)
		abort();
	return gm;
}

void tb_fake_gm_free(struct guest_mem *gm)
{
	free(gm->regions[0].hva);
	free(gm);
}
