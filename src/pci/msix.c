/* SPDX-License-Identifier: MIT */
/* MSI-X capability, table and PBA emulation with KVM MSI routes + irqfds. See msix.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "base/log.h"
#include "pci/msix.h"
#include "pci/pci.h"

_Static_assert(MSIX_TABLE_OFF == 0, "the table handlers assume the table at BAR offset 0");

struct msix_vec {
	uint32_t gsi;
	int irqfd;	  /* -1 until first delivery */
	bool route_dirty; /* table entry changed since the route was programmed */
};

struct msix {
	struct pci_dev *dev;
	uint16_t nr;
	uint8_t cap; /* config offset of the capability */
	pthread_mutex_t lock;
	bool enabled, fn_masked; /* shadow of Message Control */
	uint8_t table[MSIX_MAX_VECTORS * PCI_MSIX_ENTRY_SIZE];
	uint64_t pba[MSIX_MAX_VECTORS / 64];
	struct msix_vec vec[MSIX_MAX_VECTORS];
};

static uint32_t entry_get32(const struct msix *m, uint16_t v, unsigned field)
{
	const uint8_t *p = &m->table[v * PCI_MSIX_ENTRY_SIZE + field];
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static bool entry_masked(const struct msix *m, uint16_t v)
{
	return entry_get32(m, v, PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

static bool pba_test(const struct msix *m, uint16_t v)
{
	return (m->pba[v / 64] >> (v % 64)) & 1;
}

static void pba_set(struct msix *m, uint16_t v, bool on)
{
	if (on)
		m->pba[v / 64] |= 1ULL << (v % 64);
	else
		m->pba[v / 64] &= ~(1ULL << (v % 64));
}

/* Fire vector v now (lock held). */
static void msix_deliver_locked(struct msix *m, uint16_t v)
{
	struct msix_vec *mv = &m->vec[v];
	void *kopq;
	const struct pci_kvm_ops *ops = pci_bus_kvm_ops(m->dev->bus, &kopq);
	int r = 0;
	if (mv->irqfd < 0) {
		uint32_t gsi;
		r = ops->gsi_alloc(kopq, &gsi);
		if (r < 0)
			goto fail;
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0) {
			r = -errno;
			goto fail;
		}
		uint64_t addr = entry_get32(m, v, PCI_MSIX_ENTRY_LOWER_ADDR) |
				((uint64_t)entry_get32(m, v, PCI_MSIX_ENTRY_UPPER_ADDR) << 32);
		r = ops->msi_route_set(kopq, gsi, addr, entry_get32(m, v, PCI_MSIX_ENTRY_DATA));
		if (r == 0)
			r = ops->irqfd(kopq, fd, gsi, true);
		if (r < 0) {
			close(fd);
			goto fail;
		}
		mv->gsi = gsi;
		mv->irqfd = fd;
		mv->route_dirty = false;
	} else if (mv->route_dirty) {
		uint64_t addr = entry_get32(m, v, PCI_MSIX_ENTRY_LOWER_ADDR) |
				((uint64_t)entry_get32(m, v, PCI_MSIX_ENTRY_UPPER_ADDR) << 32);
		r = ops->msi_route_set(kopq, mv->gsi, addr, entry_get32(m, v, PCI_MSIX_ENTRY_DATA));
		if (r < 0)
			goto fail;
		mv->route_dirty = false;
	}
	uint64_t one = 1;
	if (write(mv->irqfd, &one, sizeof(one)) < 0) {
		r = -errno;
		goto fail;
	}
	return;
fail:
	log_rl(LOG_WARN, "%s: MSI-X vector %u: interrupt not delivered (%s)", m->dev->name, v,
	       strerror(-r));
}

/* Deliver every pending vector that is no longer masked (lock held). */
static void msix_flush_pending_locked(struct msix *m)
{
	if (!m->enabled || m->fn_masked)
		return;
	for (uint16_t v = 0; v < m->nr; v++) {
		if (pba_test(m, v) && !entry_masked(m, v)) {
			pba_set(m, v, false);
			msix_deliver_locked(m, v);
		}
	}
}

bool msix_notify(struct msix *m, uint16_t v)
{
	pthread_mutex_lock(&m->lock);
	bool enabled = m->enabled;
	if (enabled && v < m->nr) {
		if (m->fn_masked || entry_masked(m, v))
			pba_set(m, v, true);
		else
			msix_deliver_locked(m, v);
	}
	pthread_mutex_unlock(&m->lock);
	return enabled;
}

bool msix_enabled(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	bool e = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return e;
}

bool msix_pending(struct msix *m, uint16_t v)
{
	pthread_mutex_lock(&m->lock);
	bool p = v < m->nr && pba_test(m, v);
	pthread_mutex_unlock(&m->lock);
	return p;
}

uint16_t msix_nr_vectors(const struct msix *m)
{
	return m->nr;
}

void msix_cap_written(struct msix *m)
{
	uint16_t ctrl = pci_cfg_get16(m->dev, m->cap + PCI_MSIX_FLAGS);
	pthread_mutex_lock(&m->lock);
	m->enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
	m->fn_masked = ctrl & PCI_MSIX_FLAGS_MASKALL;
	msix_flush_pending_locked(m);
	pthread_mutex_unlock(&m->lock);
}

/* ---- the BAR: table at MSIX_TABLE_OFF, PBA at MSIX_PBA_OFF ---- */

static void msix_bar_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct msix *m = opaque;
	uint8_t *out = data;
	memset(data, 0, len);
	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (o < (uint64_t)m->nr * PCI_MSIX_ENTRY_SIZE) /* table at offset 0 */
			out[i] = m->table[o];
		else if (o >= MSIX_PBA_OFF && o < MSIX_PBA_OFF + sizeof(m->pba)) {
			uint64_t bit = (o - MSIX_PBA_OFF) * 8;
			uint8_t b = 0;
			for (unsigned k = 0; k < 8; k++)
				if (bit + k < m->nr && pba_test(m, (uint16_t)(bit + k)))
					b |= (uint8_t)(1u << k);
			out[i] = b;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static void msix_bar_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct msix *m = opaque;
	const uint8_t *in = data;
	uint64_t tend = (uint64_t)m->nr * PCI_MSIX_ENTRY_SIZE; /* table at offset 0 */
	if (off >= tend || len > tend - off)
		return; /* PBA and reserved space are read-only */
	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint16_t v = (uint16_t)(o / PCI_MSIX_ENTRY_SIZE);
		unsigned f = (unsigned)(o % PCI_MSIX_ENTRY_SIZE);
		uint8_t val = in[i];
		if (f == PCI_MSIX_ENTRY_LOWER_ADDR)
			val &= 0xfc; /* dword-aligned address */
		if (f >= PCI_MSIX_ENTRY_VECTOR_CTRL)
			val = f == PCI_MSIX_ENTRY_VECTOR_CTRL ? (val & 1) : 0;
		bool was_masked = entry_masked(m, v);
		if (m->table[o] != val && f < PCI_MSIX_ENTRY_VECTOR_CTRL)
			m->vec[v].route_dirty = true;
		m->table[o] = val;
		if (f == PCI_MSIX_ENTRY_VECTOR_CTRL && was_masked && !entry_masked(m, v) &&
		    pba_test(m, v) && m->enabled && !m->fn_masked) {
			pba_set(m, v, false);
			msix_deliver_locked(m, v);
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static const struct bus_ops msix_bar_ops = {.read = msix_bar_read, .write = msix_bar_write};

int msix_create(struct pci_dev *d, unsigned bar, uint16_t nr_vectors, struct msix **out)
{
	if (!nr_vectors || nr_vectors > MSIX_MAX_VECTORS || d->msix)
		return -EINVAL;
	struct msix *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dev = d;
	m->nr = nr_vectors;
	pthread_mutex_init(&m->lock, NULL);
	for (uint16_t v = 0; v < nr_vectors; v++) {
		m->vec[v].irqfd = -1;
		/* Vector Control: masked at reset. */
		m->table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL] =
		    PCI_MSIX_ENTRY_CTRL_MASKBIT;
	}
	int r = pci_dev_add_bar(d, bar, MSIX_BAR_SIZE, 0, &msix_bar_ops, m);
	if (r < 0)
		goto fail;
	uint8_t cap[12] = {0};
	uint16_t ctrl = (uint16_t)(nr_vectors - 1);
	cap[PCI_MSIX_FLAGS] = (uint8_t)ctrl;
	cap[PCI_MSIX_FLAGS + 1] = (uint8_t)(ctrl >> 8);
	uint32_t table = MSIX_TABLE_OFF | bar, pba = MSIX_PBA_OFF | bar;
	for (unsigned i = 0; i < 4; i++) {
		cap[PCI_MSIX_TABLE + i] = (uint8_t)(table >> (8 * i));
		cap[PCI_MSIX_PBA + i] = (uint8_t)(pba >> (8 * i));
	}
	r = pci_dev_add_cap(d, PCI_CAP_ID_MSIX, cap, sizeof(cap), &m->cap);
	if (r < 0) {
		memset(&d->bars[bar], 0, sizeof(d->bars[bar]));
		d->bars[bar].mapped_gpa = PCI_BAR_UNMAPPED;
		pci_cfg_set32(d, PCI_BASE_ADDRESS_0 + 4 * bar, 0);
		pci_dev_set_wmask(d, PCI_BASE_ADDRESS_0 + 4 * bar, 4, 0);
		goto fail;
	}
	/* Only Enable and Function Mask are writable. */
	d->wmask[m->cap + PCI_MSIX_FLAGS + 1] =
	    (uint8_t)((PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);
	d->msix = m;
	*out = m;
	return 0;
fail:
	pthread_mutex_destroy(&m->lock);
	free(m);
	return r;
}

void msix_destroy(struct msix *m)
{
	if (!m)
		return;
	void *kopq;
	const struct pci_kvm_ops *ops = m->dev->bus ? pci_bus_kvm_ops(m->dev->bus, &kopq) : NULL;
	for (uint16_t v = 0; v < m->nr; v++) {
		if (m->vec[v].irqfd < 0)
			continue;
		if (ops)
			(void)ops->irqfd(kopq, m->vec[v].irqfd, m->vec[v].gsi, false);
		close(m->vec[v].irqfd);
	}
	if (m->dev->msix == m)
		m->dev->msix = NULL;
	pthread_mutex_destroy(&m->lock);
	free(m);
}
