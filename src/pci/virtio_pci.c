/* SPDX-License-Identifier: MIT */
/* virtio-pci modern transport. See virtio_pci.h and docs/devices/pci.md. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "pci/virtio_pci.h"
#include "virtio/virtio.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio-pci register images assume a little-endian host"
#endif

struct vpci_kick {
	struct vpci_dev *v;
	uint16_t q;
	int fd;
	struct ev_handler *h;
	uint64_t gpa; /* where the ioeventfd is registered, PCI_BAR_UNMAPPED if not */
};

struct vpci_dev {
	struct pci_dev pci;
	struct virtio_dev *vdev;
	struct msix *msix;
	struct ev_loop *loop;
	uint16_t nq;	 /* vdev->nr_queues, kept for teardown after vdev is gone */
	uint8_t cfg_cap; /* config offset of the VIRTIO_PCI_CAP_PCI_CFG capability */

	/* Transport registers, under vdev->lock. */
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t msix_config;
	uint16_t *queue_vector;

	struct vpci_kick *kicks;
};

#define COMMON_LEN ((uint32_t)sizeof(struct virtio_pci_common_cfg))
#define CF(field) offsetof(struct virtio_pci_common_cfg, field)
#define CFS(field) sizeof(((struct virtio_pci_common_cfg *)0)->field)

struct pci_dev *virtio_pci_pci_dev(struct vpci_dev *v)
{
	return &v->pci;
}

/* ---- interrupts (called by the core with vdev->lock held) ---- */

static bool vector_ok(struct vpci_dev *v, uint16_t vec)
{
	return vec == VIRTIO_MSI_NO_VECTOR || vec < msix_nr_vectors(v->msix);
}

static void vpci_signal(struct vpci_dev *v, uint16_t vec)
{
	if (msix_enabled(v->msix)) {
		if (vec == VIRTIO_MSI_NO_VECTOR || msix_notify(v->msix, vec))
			return;
	}
	/* INTx: the core already set the ISR bit. */
	pci_dev_set_intx(&v->pci, true);
}

static void vpci_notify_queue(void *opaque, uint16_t q)
{
	struct vpci_dev *v = opaque;
	uint16_t vec = q < v->vdev->nr_queues ? v->queue_vector[q] : VIRTIO_MSI_NO_VECTOR;
	vpci_signal(v, vec);
}

static void vpci_notify_config(void *opaque)
{
	struct vpci_dev *v = opaque;
	vpci_signal(v, v->msix_config);
}

static const struct virtio_irq_ops vpci_irq_ops = {
    .notify_queue = vpci_notify_queue,
    .notify_config = vpci_notify_config,
};

/* ---- kicks ---- */

static void vpci_kick_cb(void *opaque, uint32_t events)
{
	struct vpci_kick *k = opaque;
	uint64_t cnt;
	(void)events;
	if (read(k->fd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return;
	virtio_queue_kick(k->v->vdev, k->q);
}

/* A notify write that reached the MMIO handler (no ioeventfd yet, or a width KVM did not
 * match): hand it to the loop thread like an ioeventfd would. */
static void vpci_kick(struct vpci_dev *v, uint16_t q)
{
	struct vpci_kick *k = &v->kicks[q];
	if (k->h) {
		uint64_t one = 1;
		if (write(k->fd, &one, sizeof(one)) == sizeof(one))
			return;
	}
	virtio_queue_kick(v->vdev, q);
}

static void vpci_ioeventfds_move(struct vpci_dev *v, uint64_t bar_gpa)
{
	void *kopq;
	const struct pci_kvm_ops *ops = pci_bus_kvm_ops(v->pci.bus, &kopq);
	for (uint16_t q = 0; q < v->nq; q++) {
		struct vpci_kick *k = &v->kicks[q];
		if (k->fd < 0)
			continue;
		if (k->gpa != PCI_BAR_UNMAPPED) {
			int r = ops->ioeventfd(kopq, k->fd, k->gpa, 0, false, false);
			if (r < 0)
				log_warn("%s: queue %u: removing ioeventfd at 0x%llx: %s",
					 v->vdev->name, q, (unsigned long long)k->gpa,
					 strerror(-r));
			k->gpa = PCI_BAR_UNMAPPED;
		}
		if (bar_gpa == PCI_BAR_UNMAPPED)
			continue;
		uint64_t gpa = bar_gpa + VPCI_NOTIFY_OFF + (uint64_t)q * VPCI_NOTIFY_MULT;
		int r = ops->ioeventfd(kopq, k->fd, gpa, 0, false, true);
		if (r < 0)
			log_rl(LOG_WARN, "%s: queue %u: ioeventfd at 0x%llx: %s (kicks will exit)",
			       v->vdev->name, q, (unsigned long long)gpa, strerror(-r));
		else
			k->gpa = gpa;
	}
}

static void vpci_bar_remap(struct pci_dev *d, unsigned bar, uint64_t old_gpa, uint64_t new_gpa)
{
	struct vpci_dev *v = container_of(d, struct vpci_dev, pci);
	(void)old_gpa;
	if (bar != VPCI_BAR)
		return;
	virtio_dev_lock(v->vdev);
	vpci_ioeventfds_move(v, new_gpa);
	virtio_dev_unlock(v->vdev);
}

/* ---- common configuration ---- */

/* Register image for the selected queue (vdev->lock held). */
static void common_snapshot(struct vpci_dev *v, struct virtio_pci_common_cfg *c)
{
	struct virtio_dev *d = v->vdev;
	uint16_t q = v->queue_select;
	memset(c, 0, sizeof(*c));
	c->device_feature_select = v->dfselect;
	c->device_feature = virtio_get_device_features(d, v->dfselect);
	c->guest_feature_select = v->gfselect;
	c->guest_feature = virtio_get_driver_features(d, v->gfselect);
	c->msix_config = v->msix_config;
	c->num_queues = d->nr_queues;
	c->device_status = virtio_get_status(d);
	c->config_generation = (uint8_t)virtio_config_generation(d);
	c->queue_select = q;
	if (q >= d->nr_queues)
		return; /* queue registers of a nonexistent queue read 0 */
	c->queue_size = virtio_queue_get_size(d, q);
	c->queue_msix_vector = v->queue_vector[q];
	c->queue_enable = virtio_queue_enabled(d, q) ? 1 : 0;
	c->queue_notify_off = q;
	uint64_t a = virtio_queue_get_addr(d, q, VIRTIO_RING_DESC);
	c->queue_desc_lo = (uint32_t)a;
	c->queue_desc_hi = (uint32_t)(a >> 32);
	a = virtio_queue_get_addr(d, q, VIRTIO_RING_AVAIL);
	c->queue_avail_lo = (uint32_t)a;
	c->queue_avail_hi = (uint32_t)(a >> 32);
	a = virtio_queue_get_addr(d, q, VIRTIO_RING_USED);
	c->queue_used_lo = (uint32_t)a;
	c->queue_used_hi = (uint32_t)(a >> 32);
}

/* Transport state back to reset values (vdev->lock held). */
static void vpci_reset_locked(struct vpci_dev *v)
{
	v->dfselect = v->gfselect = 0;
	v->queue_select = 0;
	v->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (uint16_t q = 0; q < v->vdev->nr_queues; q++)
		v->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
	pci_dev_set_intx(&v->pci, false);
}

static void set_addr(struct vpci_dev *v, uint16_t q, enum virtio_ring_part part, uint32_t lo,
		     uint32_t hi)
{
	if (virtio_queue_set_addr(v->vdev, q, part, ((uint64_t)hi << 32) | lo) < 0)
		log_rl(LOG_INFO, "%s: queue %u: address written while enabled: ignored",
		       v->vdev->name, q);
}

/* Apply one field whose new value is in *c (vdev->lock held). */
static void common_apply(struct vpci_dev *v, size_t field, const struct virtio_pci_common_cfg *c)
{
	struct virtio_dev *d = v->vdev;
	uint16_t q = v->queue_select;
	bool qok = q < d->nr_queues;
	switch (field) {
	case CF(device_feature_select):
		v->dfselect = c->device_feature_select;
		break;
	case CF(guest_feature_select):
		v->gfselect = c->guest_feature_select;
		break;
	case CF(guest_feature):
		virtio_set_driver_features(d, v->gfselect, c->guest_feature);
		break;
	case CF(msix_config):
		v->msix_config =
		    vector_ok(v, c->msix_config) ? c->msix_config : VIRTIO_MSI_NO_VECTOR;
		break;
	case CF(device_status):
		virtio_set_status(d, c->device_status);
		if (c->device_status == 0)
			vpci_reset_locked(v);
		break;
	case CF(queue_select):
		v->queue_select = c->queue_select;
		break;
	case CF(queue_size):
		if (qok && virtio_queue_set_size(d, q, c->queue_size) < 0)
			log_rl(LOG_INFO, "%s: queue %u: size written while enabled: ignored",
			       d->name, q);
		break;
	case CF(queue_msix_vector):
		if (qok)
			v->queue_vector[q] = vector_ok(v, c->queue_msix_vector)
						 ? c->queue_msix_vector
						 : VIRTIO_MSI_NO_VECTOR;
		break;
	case CF(queue_enable):
		/* Writing 0 is not allowed to the driver; ignore it. Bad geometry fails the
		 * device (NEEDS_RESET) inside the core. */
		if (qok && c->queue_enable == 1 && !virtio_queue_enabled(d, q) &&
		    virtio_queue_enable(d, q) < 0)
			log_debug("%s: queue %u: enable refused", d->name, q);
		break;
	case CF(queue_desc_lo):
	case CF(queue_desc_hi):
		if (qok)
			set_addr(v, q, VIRTIO_RING_DESC, c->queue_desc_lo, c->queue_desc_hi);
		break;
	case CF(queue_avail_lo):
	case CF(queue_avail_hi):
		if (qok)
			set_addr(v, q, VIRTIO_RING_AVAIL, c->queue_avail_lo, c->queue_avail_hi);
		break;
	case CF(queue_used_lo):
	case CF(queue_used_hi):
		if (qok)
			set_addr(v, q, VIRTIO_RING_USED, c->queue_used_lo, c->queue_used_hi);
		break;
	default: /* read-only: device_feature, num_queues, config_generation, notify_off */
		break;
	}
}

static const struct {
	size_t off, len;
} common_fields[] = {
#define F(x)                                                                                       \
	{                                                                                          \
		CF(x), CFS(x)                                                                      \
	}
    F(device_feature_select), F(device_feature), F(guest_feature_select), F(guest_feature),
    F(msix_config),	      F(num_queues),	 F(device_status),	  F(config_generation),
    F(queue_select),	      F(queue_size),	 F(queue_msix_vector),	  F(queue_enable),
    F(queue_notify_off),      F(queue_desc_lo),	 F(queue_desc_hi),	  F(queue_avail_lo),
    F(queue_avail_hi),	      F(queue_used_lo),	 F(queue_used_hi),
#undef F
};

static void common_read(struct vpci_dev *v, uint64_t off, void *data, uint32_t len)
{
	struct virtio_pci_common_cfg c;
	memset(data, 0, len);
	if (off >= COMMON_LEN)
		return;
	virtio_dev_lock(v->vdev);
	common_snapshot(v, &c);
	virtio_dev_unlock(v->vdev);
	memcpy(data, (const uint8_t *)&c + off, MIN(len, COMMON_LEN - off));
}

static void common_write(struct vpci_dev *v, uint64_t off, const void *data, uint32_t len)
{
	if (off >= COMMON_LEN)
		return;
	uint32_t n = (uint32_t)MIN(len, COMMON_LEN - off);
	struct virtio_pci_common_cfg c;
	virtio_dev_lock(v->vdev);
	common_snapshot(v, &c);
	memcpy((uint8_t *)&c + off, data, n);
	for (size_t i = 0; i < ARRAY_SIZE(common_fields); i++)
		if (common_fields[i].off < off + n &&
		    common_fields[i].off + common_fields[i].len > off)
			common_apply(v, common_fields[i].off, &c);
	virtio_dev_unlock(v->vdev);
}

/* ---- BAR4 ---- */

static void vpci_bar_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct vpci_dev *v = opaque;
	if (off < VPCI_ISR_OFF) {
		common_read(v, off - VPCI_COMMON_OFF, data, len);
	} else if (off < VPCI_DEVICE_OFF) {
		memset(data, 0, len);
		if (off == VPCI_ISR_OFF) {
			/* Read-to-clear and deassert atomically w.r.t. the notify paths. */
			virtio_dev_lock(v->vdev);
			*(uint8_t *)data = virtio_isr_read(v->vdev);
			pci_dev_set_intx(&v->pci, false);
			virtio_dev_unlock(v->vdev);
		}
	} else if (off < VPCI_NOTIFY_OFF) {
		virtio_read_config(v->vdev, (uint32_t)(off - VPCI_DEVICE_OFF), data, len);
	} else {
		memset(data, 0, len);
	}
}

static void vpci_bar_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct vpci_dev *v = opaque;
	if (off < VPCI_ISR_OFF) {
		common_write(v, off - VPCI_COMMON_OFF, data, len);
	} else if (off < VPCI_DEVICE_OFF) {
		/* ISR is read-only */
	} else if (off < VPCI_NOTIFY_OFF) {
		virtio_write_config(v->vdev, (uint32_t)(off - VPCI_DEVICE_OFF), data, len);
	} else {
		uint64_t q = (off - VPCI_NOTIFY_OFF) / VPCI_NOTIFY_MULT;
		if (q < v->vdev->nr_queues)
			vpci_kick(v, (uint16_t)q);
		else
			log_rl(LOG_INFO, "%s: notify for nonexistent queue %llu ignored",
			       v->vdev->name, (unsigned long long)q);
	}
}

static const struct bus_ops vpci_bar_ops = {.read = vpci_bar_read, .write = vpci_bar_write};

/* ---- VIRTIO_PCI_CAP_PCI_CFG: a window onto the BARs through config space ---- */

#define PCFG_DATA offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)

static bool pcfg_target(struct vpci_dev *v, unsigned *bar, uint32_t *off, uint32_t *len)
{
	*bar = v->pci.cfg[v->cfg_cap + offsetof(struct virtio_pci_cap, bar)];
	*off = pci_cfg_get32(&v->pci, v->cfg_cap + offsetof(struct virtio_pci_cap, offset));
	*len = pci_cfg_get32(&v->pci, v->cfg_cap + offsetof(struct virtio_pci_cap, length));
	return (*len == 1 || *len == 2 || *len == 4) && (*off & (*len - 1)) == 0;
}

static void vpci_cfg_read(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t *val)
{
	struct vpci_dev *v = container_of(d, struct vpci_dev, pci);
	uint32_t data = v->cfg_cap + (uint32_t)PCFG_DATA;
	if (!v->cfg_cap || off >= data + 4 || off + len <= data)
		return;
	unsigned bar;
	uint32_t boff, blen;
	uint8_t buf[4] = {0};
	if (pcfg_target(v, &bar, &boff, &blen) && pci_dev_bar_read(d, bar, boff, buf, blen))
		memcpy(&d->cfg[data], buf, 4);
	uint32_t r = 0;
	for (uint32_t i = 0; i < len; i++)
		r |= (uint32_t)d->cfg[off + i] << (8 * i);
	*val = r;
}

static void vpci_cfg_write(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t val)
{
	struct vpci_dev *v = container_of(d, struct vpci_dev, pci);
	uint32_t data = v->cfg_cap + (uint32_t)PCFG_DATA;
	(void)val;
	if (!v->cfg_cap || off >= data + 4 || off + len <= data)
		return;
	unsigned bar;
	uint32_t boff, blen;
	if (pcfg_target(v, &bar, &boff, &blen) &&
	    !pci_dev_bar_write(d, bar, boff, &d->cfg[data], blen))
		log_rl(LOG_INFO, "%s: PCI_CFG window write to BAR%u+0x%x ignored", v->vdev->name,
		       bar, boff);
}

static const struct pci_dev_ops vpci_pci_ops = {
    .cfg_read = vpci_cfg_read,
    .cfg_write = vpci_cfg_write,
    .bar_remap = vpci_bar_remap,
};

/* ---- creation ---- */

static uint32_t vpci_class(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return 0x018000; /* mass storage, other */
	case VIRTIO_ID_NET:
		return 0x020000;
	case VIRTIO_ID_CONSOLE:
		return 0x078000;
	case VIRTIO_ID_GPU:
		return 0x038000;
	case VIRTIO_ID_INPUT:
		return 0x098000;
	default:
		return 0xff0000;
	}
}

static int vpci_add_cap(struct vpci_dev *v, uint8_t type, uint32_t off, uint32_t len,
			uint8_t caplen, uint32_t extra, uint8_t *cap_off)
{
	uint8_t buf[sizeof(struct virtio_pci_cfg_cap)] = {0};
	struct virtio_pci_cap c = {
	    .cap_vndr = PCI_CAP_ID_VNDR,
	    .cap_len = caplen,
	    .cfg_type = type,
	    .bar = VPCI_BAR,
	    .offset = off,
	    .length = len,
	};
	memcpy(buf, &c, sizeof(c));
	if (caplen > sizeof(c))
		memcpy(buf + sizeof(c), &extra, 4);
	return pci_dev_add_cap(&v->pci, PCI_CAP_ID_VNDR, buf, caplen, cap_off);
}

static void vpci_free(struct vpci_dev *v)
{
	if (v->kicks) {
		for (uint16_t q = 0; q < v->nq; q++) {
			if (v->kicks[q].h)
				ev_del(v->loop, v->kicks[q].h);
			if (v->kicks[q].fd >= 0)
				close(v->kicks[q].fd);
		}
	}
	msix_destroy(v->msix);
	free(v->kicks);
	free(v->queue_vector);
	free(v);
}

int virtio_pci_create(struct pci_bus *bus, struct virtio_dev *vdev, const struct guest_mem *mem,
		      struct ev_loop *loop, int slot, struct vpci_dev **out)
{
	uint16_t nq = vdev->nr_queues;
	if (!nq || nq > VPCI_MAX_QUEUES || vdev->config_len > VPCI_NOTIFY_OFF - VPCI_DEVICE_OFF)
		return -EINVAL;
	struct vpci_dev *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vdev = vdev;
	v->loop = loop;
	v->nq = nq;
	v->queue_vector = calloc(nq, sizeof(*v->queue_vector));
	v->kicks = calloc(nq, sizeof(*v->kicks));
	if (!v->queue_vector || !v->kicks) {
		free(v->queue_vector);
		free(v->kicks);
		free(v);
		return -ENOMEM;
	}
	int r = 0;
	for (uint16_t q = 0; q < nq; q++) {
		struct vpci_kick *k = &v->kicks[q];
		k->v = v;
		k->q = q;
		k->gpa = PCI_BAR_UNMAPPED;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0 && r == 0)
			r = -errno;
		else if (k->fd >= 0 && loop && r == 0)
			r = ev_add(loop, k->fd, EPOLLIN, vpci_kick_cb, k, &k->h);
	}
	v->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (uint16_t q = 0; q < nq; q++)
		v->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
	if (r < 0)
		goto fail;

	pci_dev_init(&v->pci, vdev->name, VPCI_VENDOR_ID,
		     (uint16_t)(VPCI_DEVICE_ID_BASE + vdev->device_id), vpci_class(vdev->device_id),
		     1, VPCI_VENDOR_ID, VPCI_SUBSYS_ID, &vpci_pci_ops);
	r = pci_dev_add_bar(&v->pci, VPCI_BAR, VPCI_BAR_SIZE, PCI_BAR_F_64, &vpci_bar_ops, v);
	if (r < 0)
		goto fail;
	uint8_t off;
	r = vpci_add_cap(v, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON_OFF, COMMON_LEN,
			 sizeof(struct virtio_pci_cap), 0, &off);
	if (r == 0)
		r = vpci_add_cap(v, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY_OFF,
				 (uint32_t)nq * VPCI_NOTIFY_MULT,
				 sizeof(struct virtio_pci_notify_cap), VPCI_NOTIFY_MULT, &off);
	if (r == 0)
		r = vpci_add_cap(v, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR_OFF, 1,
				 sizeof(struct virtio_pci_cap), 0, &off);
	if (r == 0 && vdev->config_len)
		r = vpci_add_cap(v, VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVICE_OFF, vdev->config_len,
				 sizeof(struct virtio_pci_cap), 0, &off);
	if (r == 0)
		r = vpci_add_cap(v, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, sizeof(struct virtio_pci_cfg_cap),
				 0, &v->cfg_cap);
	if (r < 0)
		goto fail;
	/* The window's bar, offset, length and data are the driver's to write. */
	pci_dev_set_wmask(&v->pci, v->cfg_cap + offsetof(struct virtio_pci_cap, bar), 1, 0xff);
	pci_dev_set_wmask(&v->pci, v->cfg_cap + offsetof(struct virtio_pci_cap, offset), 8, 0xff);
	pci_dev_set_wmask(&v->pci, v->cfg_cap + (uint32_t)PCFG_DATA, 4, 0xff);
	r = msix_create(&v->pci, VPCI_MSIX_BAR, (uint16_t)(nq + 1), &v->msix);
	if (r < 0)
		goto fail;

	virtio_dev_attach(vdev, mem, loop, &vpci_irq_ops, v);
	r = pci_bus_add_dev(bus, &v->pci, slot);
	if (r < 0) {
		virtio_dev_attach(vdev, mem, loop, NULL, NULL);
		goto fail;
	}
	*out = v;
	return 0;
fail:
	vpci_free(v);
	return r;
}

void virtio_pci_detach(struct vpci_dev *v)
{
	if (!v)
		return;
	pci_bus_del_dev(v->pci.bus, &v->pci);
	virtio_reset(v->vdev);
	virtio_dev_attach(v->vdev, NULL, NULL, NULL, NULL);
	vpci_free(v);
}

void virtio_pci_destroy(struct vpci_dev *v)
{
	if (!v)
		return;
	pci_bus_del_dev(v->pci.bus, &v->pci); /* unmaps BARs: ioeventfds are deassigned */
	virtio_dev_destroy(v->vdev);
	vpci_free(v);
}
