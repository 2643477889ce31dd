/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "vq_driver.h"
#include "base/ev_loop.h"

int vqd_mem_init(struct vqd_mem *m, uint64_t gpa, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->hva = p;
	m->gpa = gpa;
	m->size = size;
	m->brk = gpa + size / 2;
	gm_init(&m->gm);
	int r = gm_add_region(&m->gm, gpa, size, p, -1, 0, false);
	if (r < 0) {
		munmap(p, size);
		m->hva = NULL;
	}
	return r;
}

void vqd_mem_fini(struct vqd_mem *m)
{
	for (unsigned i = 0; i < m->gm.nr; i++)
		munmap(m->gm.regions[i].hva, m->gm.regions[i].size);
	memset(m, 0, sizeof(*m));
}

int vqd_mem_add_region(struct vqd_mem *m, uint64_t gpa, uint64_t size, bool readonly,
		       void **hva_out)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	int r = gm_add_region(&m->gm, gpa, size, p, -1, 0, readonly);
	if (r < 0) {
		munmap(p, size);
		return r;
	}
	if (hva_out)
		*hva_out = p;
	return 0;
}

uint64_t vqd_alloc(struct vqd_mem *m, uint64_t len, uint64_t align)
{
	if (!align)
		align = 1;
	uint64_t a = (m->brk + align - 1) & ~(align - 1);
	if (a + len > m->gpa + m->size || a + len < a)
		return 0;
	m->brk = a + len;
	return a;
}

void *vqd_hva(struct vqd_mem *m, uint64_t gpa)
{
	if (gpa < m->gpa || gpa >= m->gpa + m->size)
		return NULL;
	return m->hva + (gpa - m->gpa);
}

int vqd_init(struct vq_driver *d, struct vqd_mem *m, uint64_t ring_gpa, uint16_t size)
{
	memset(d, 0, sizeof(*d));
	if (!IS_POW2(size))
		return -EINVAL;
	d->m = m;
	d->size = size;
	d->desc_gpa = ALIGN_UP(ring_gpa, 16);
	d->avail_gpa = d->desc_gpa + 16ull * size;
	d->used_gpa = ALIGN_UP(d->avail_gpa + 6 + 2ull * size, 4);
	uint64_t end = d->used_gpa + 6 + 8ull * size;
	if (!vqd_hva(m, d->desc_gpa) || !vqd_hva(m, end - 1))
		return -ERANGE;
	memset(vqd_hva(m, d->desc_gpa), 0, end - d->desc_gpa);
	d->indirect_gpa = vqd_alloc(m, 16ull * VQD_MAX_INDIRECT * size, 16);
	if (!d->indirect_gpa)
		return -ENOMEM;
	d->next_free = calloc(size, sizeof(uint16_t));
	d->chain_len = calloc(size, sizeof(uint16_t));
	if (!d->next_free || !d->chain_len) {
		vqd_fini(d);
		return -ENOMEM;
	}
	for (uint16_t i = 0; i < size; i++)
		d->next_free[i] = (uint16_t)(i + 1);
	d->free_head = 0;
	d->nr_free = size;
	return 0;
}

void vqd_fini(struct vq_driver *d)
{
	free(d->next_free);
	free(d->chain_len);
	d->next_free = d->chain_len = NULL;
}

int vqd_attach(struct vq_driver *d, struct virtio_dev *dev, uint16_t q)
{
	int r = virtio_queue_set_size(dev, q, d->size);
	if (!r)
		r = virtio_queue_set_addr(dev, q, VIRTIO_RING_DESC, d->desc_gpa);
	if (!r)
		r = virtio_queue_set_addr(dev, q, VIRTIO_RING_AVAIL, d->avail_gpa);
	if (!r)
		r = virtio_queue_set_addr(dev, q, VIRTIO_RING_USED, d->used_gpa);
	if (!r)
		r = virtio_queue_enable(dev, q);
	return r;
}

uint8_t vqd_negotiate(struct virtio_dev *dev, uint64_t features)
{
	virtio_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	virtio_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_set_driver_features(dev, 0, (uint32_t)features);
	virtio_set_driver_features(dev, 1, (uint32_t)(features >> 32));
	virtio_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				       VIRTIO_CONFIG_S_FEATURES_OK);
	return virtio_get_status(dev);
}

uint8_t vqd_settle(struct virtio_dev *dev)
{
	for (int i = 0; i < 5000 && dev->loop && (dev->activating || dev->resetting); i++)
		(void)ev_loop_run_once(dev->loop, 2);
	return virtio_get_status(dev);
}

static uint8_t *desc_at(struct vq_driver *d, uint64_t table, uint16_t idx)
{
	return vqd_hva(d->m, table + 16ull * idx);
}

static void put_desc(uint8_t *p, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	gm_store64(p, addr);
	gm_store32(p + 8, len);
	gm_store16(p + 12, flags);
	gm_store16(p + 14, next);
}

void vqd_write_desc(struct vq_driver *d, uint16_t idx, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	put_desc(desc_at(d, d->desc_gpa, idx), addr, len, flags, next);
}

void vqd_write_table_desc(struct vq_driver *d, uint64_t table_gpa, uint16_t idx, uint64_t addr,
			  uint32_t len, uint16_t flags, uint16_t next)
{
	put_desc(desc_at(d, table_gpa, idx), addr, len, flags, next);
}

static uint16_t alloc_desc(struct vq_driver *d)
{
	uint16_t i = d->free_head;
	d->free_head = d->next_free[i];
	d->nr_free--;
	return i;
}

int vqd_add(struct vq_driver *d, const struct vqd_seg *segs, unsigned n, bool indirect)
{
	if (n == 0)
		return -EINVAL;
	if (indirect) {
		if (n > VQD_MAX_INDIRECT || d->nr_free < 1)
			return -ENOSPC;
		uint16_t head = alloc_desc(d);
		uint64_t table = d->indirect_gpa + 16ull * VQD_MAX_INDIRECT * head;
		for (unsigned i = 0; i < n; i++) {
			uint16_t fl = (uint16_t)((segs[i].write ? VRING_DESC_F_WRITE : 0) |
						 (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			put_desc(desc_at(d, table, (uint16_t)i), segs[i].gpa, segs[i].len, fl,
				 (uint16_t)(i + 1));
		}
		vqd_write_desc(d, head, table, 16u * n, VRING_DESC_F_INDIRECT, 0);
		d->chain_len[head] = 1;
		vqd_publish(d, head);
		return head;
	}
	if (d->nr_free < n)
		return -ENOSPC;
	uint16_t idx[VQD_MAX_INDIRECT];
	if (n > VQD_MAX_INDIRECT)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		idx[i] = alloc_desc(d);
	for (unsigned i = 0; i < n; i++) {
		uint16_t fl = (uint16_t)((segs[i].write ? VRING_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		vqd_write_desc(d, idx[i], segs[i].gpa, segs[i].len, fl, i + 1 < n ? idx[i + 1] : 0);
	}
	d->chain_len[idx[0]] = (uint16_t)n;
	vqd_publish(d, idx[0]);
	return idx[0];
}

bool vqd_get_used(struct vq_driver *d, uint32_t *id, uint32_t *len)
{
	uint8_t *u = vqd_hva(d->m, d->used_gpa);
	if (gm_load16(u + 2) == d->last_used)
		return false;
	gm_rmb();
	uint8_t *e = u + 4 + 8u * (d->last_used & (d->size - 1));
	uint32_t head = gm_load32(e);
	*id = head;
	*len = gm_load32(e + 4);
	d->last_used++;
	/* Free the chain (driver-owned metadata, so trust it). */
	if (head < d->size && d->chain_len[head]) {
		uint16_t i = (uint16_t)head;
		for (uint16_t k = d->chain_len[head]; k > 0; k--) {
			uint16_t next = gm_load16(desc_at(d, d->desc_gpa, i) + 14);
			d->next_free[i] = d->free_head;
			d->free_head = i;
			d->nr_free++;
			i = next;
		}
		d->chain_len[head] = 0;
	}
	return true;
}

void vqd_publish(struct vq_driver *d, uint16_t head)
{
	uint8_t *a = vqd_hva(d->m, d->avail_gpa);
	gm_store16(a + 4 + 2u * (d->avail_idx & (d->size - 1)), head);
	gm_wmb();
	d->avail_idx++;
	gm_store16(a + 2, d->avail_idx);
	gm_mb();
}

void vqd_set_avail_idx(struct vq_driver *d, uint16_t idx)
{
	d->avail_idx = idx;
	gm_store16((uint8_t *)vqd_hva(d->m, d->avail_gpa) + 2, idx);
}

void vqd_set_avail_flags(struct vq_driver *d, uint16_t flags)
{
	gm_store16(vqd_hva(d->m, d->avail_gpa), flags);
}

void vqd_set_used_event(struct vq_driver *d, uint16_t v)
{
	gm_store16((uint8_t *)vqd_hva(d->m, d->avail_gpa) + 4 + 2u * d->size, v);
}

uint16_t vqd_avail_event(struct vq_driver *d)
{
	return gm_load16((uint8_t *)vqd_hva(d->m, d->used_gpa) + 4 + 8u * d->size);
}

uint16_t vqd_used_flags(struct vq_driver *d)
{
	return gm_load16(vqd_hva(d->m, d->used_gpa));
}

uint16_t vqd_used_idx(struct vq_driver *d)
{
	return gm_load16((uint8_t *)vqd_hva(d->m, d->used_gpa) + 2);
}

struct counter_find {
	const char *name;
	uint64_t value;
};

static void counter_find_cb(void *ctx, const char *name, uint64_t value)
{
	struct counter_find *f = ctx;
	if (!strcmp(name, f->name))
		f->value = value;
}

uint64_t vqd_counter(struct virtio_dev *dev, const char *name)
{
	struct counter_find f = {name, UINT64_MAX};
	virtio_dev_counters(dev, counter_find_cb, &f);
	return f.value;
}
