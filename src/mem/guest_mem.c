/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mem/guest_mem.h"

void gm_init(struct guest_mem *gm)
{
	memset(gm, 0, sizeof(*gm));
}

int gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *hva, int fd,
		  uint64_t fd_off, bool readonly)
{
	if (size == 0 || gpa + size < gpa || !hva)
		return -EINVAL;
	if (gm->nr >= GM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EEXIST;
	}
	/* Keep regions sorted by gpa. */
	unsigned pos = gm->nr;
	while (pos > 0 && gm->regions[pos - 1].gpa > gpa) {
		gm->regions[pos] = gm->regions[pos - 1];
		pos--;
	}
	gm->regions[pos] = (struct gm_region){gpa, size, hva, fd, fd_off, readonly};
	gm->nr++;
	return 0;
}

int gm_alloc_memfd(const char *name, uint64_t size, int *fd_out, void **hva_out)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Sealed at its size: a vhost-user back-end given this fd can rely on it. */
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		int e = -errno;
		close(fd);
		return e;
	}
	*fd_out = fd;
	*hva_out = p;
	return 0;
}

const struct gm_region *gm_find(const struct guest_mem *gm, uint64_t gpa)
{
	unsigned lo = 0, hi = gm->nr;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct gm_region *r = &gm->regions[mid];
		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r = gm_find(gm, gpa);
	if (!r)
		return NULL;
	uint64_t off = gpa - r->gpa;
	if (len > r->size - off)
		return NULL;
	return r->hva + off;
}

void *gm_ptr_w(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r = gm_find(gm, gpa);
	if (!r || r->readonly)
		return NULL;
	uint64_t off = gpa - r->gpa;
	if (len > r->size - off)
		return NULL;
	return r->hva + off;
}

int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len)
{
	uint8_t *d = dst;
	while (len) {
		const struct gm_region *r = gm_find(gm, gpa);
		if (!r)
			return -EFAULT;
		uint64_t off = gpa - r->gpa;
		uint64_t n = MIN(len, r->size - off);
		memcpy(d, r->hva + off, n);
		d += n;
		gpa += n;
		len -= n;
		if (len && gpa == 0)
			return -EFAULT;
	}
	return 0;
}

int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	const uint8_t *s = src;
	while (len) {
		const struct gm_region *r = gm_find(gm, gpa);
		if (!r || r->readonly)
			return -EFAULT;
		uint64_t off = gpa - r->gpa;
		uint64_t n = MIN(len, r->size - off);
		memcpy(r->hva + off, s, n);
		s += n;
		gpa += n;
		len -= n;
		if (len && gpa == 0)
			return -EFAULT;
	}
	return 0;
}

uint64_t gm_ram_size(const struct guest_mem *gm)
{
	uint64_t t = 0;
	for (unsigned i = 0; i < gm->nr; i++)
		if (!gm->regions[i].readonly)
			t += gm->regions[i].size;
	return t;
}
