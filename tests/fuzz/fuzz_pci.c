/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a guest hammering the PCI bus (mechanism #1, ECAM), a virtio-pci device's
 * BARs (common config, ISR, device config, notify, MSI-X table/PBA) and the rings in its RAM,
 * with a fake KVM. Invariants: no crash or sanitizer report, at most one ioeventfd per queue,
 * ioeventfds only while BAR4 is decoded, and the INTx line equals the device's state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "../unit/pci_fake.h"
#include "base/log.h"
#include "mem/guest_mem.h"
#include "pci/msix.h"
#include "pci/virtio_pci.h"
#include "virtio/virtio.h"

#define RAM_SIZE (256 * 1024)
#define SLOT 2
#define NQ 2

struct echo {
	struct virtio_dev vdev;
	uint8_t config[16];
};

static void echo_notify(struct virtio_dev *dev, uint16_t q)
{
	struct iovec iov[4];
	struct vq_chain ch = {.iov = iov, .cap = 4};
	int r;
	unsigned n = 0;
	while (n++ < 64 && (r = vq_pop(&dev->queues[q], &ch)) == 1)
		vq_push(&dev->queues[q], ch.head, ch.in_len ? 1 : 0);
	virtio_notify_queue(dev, q);
}

static void echo_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
	struct echo *e = (struct echo *)dev;
	memcpy(&e->config[off], data, len);
}

static const struct virtio_dev_ops echo_ops = {
    .queue_notify = echo_notify,
    .write_config = echo_write_config,
};

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		uint8_t b = 0;
		if (in->n) {
			b = *in->p++;
			in->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t lens[4] = {1, 2, 4, 8};
	struct pci_env e;
	struct echo *ec = calloc(1, sizeof(*ec));
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct guest_mem gm;
	struct vpci_dev *v = NULL;

	log_set_level(LOG_ERR);
	if (!ec || !ram || pci_env_init(&e))
		abort();
	gm_init(&gm);
	if (gm_add_region(&gm, 0, RAM_SIZE, ram, -1, 0, false) ||
	    virtio_dev_init(&ec->vdev, &echo_ops, "fuzz0", 42, 1, NQ, 8, ec->config,
			    sizeof(ec->config)) ||
	    virtio_pci_create(e.pci, &ec->vdev, &gm, NULL, SLOT, &v))
		abort();
	struct pci_dev *pd = virtio_pci_pci_dev(v);
	struct in in = {data, size};

	while (in.n) {
		uint8_t op = (uint8_t)take(&in, 1);
		uint32_t len = lens[(op >> 4) & 3];
		switch (op & 0xf) {
		case 0: /* mechanism #1: address, then data at any offset/width */
		case 1: {
			uint32_t addr = (uint32_t)take(&in, 4);
			if (!(op & 0x40))
				addr = 0x80000000u | (SLOT << 11) | (addr & 0xfc);
			pio_out(&e, 0xcf8, 4, addr);
			uint16_t port = (uint16_t)(0xcfc + (take(&in, 1) & 3));
			uint64_t val = take(&in, 4);
			if (len > 4)
				len = 4;
			if (op & 1)
				(void)pio_in(&e, port, len);
			else
				pio_out(&e, port, len, (uint32_t)val);
			break;
		}
		case 2: /* ECAM anywhere in bus 0..1 */
		case 3: {
			uint64_t off = take(&in, 3) & 0x1fffff;
			if (!(op & 0x40))
				off = ((uint64_t)SLOT << 15) | (off & 0xfff);
			uint64_t val = take(&in, 8);
			if (op & 1)
				(void)mmio_rd(&e, LAYOUT_ECAM_GPA + off, len);
			else
				mmio_wr(&e, LAYOUT_ECAM_GPA + off, len, val);
			break;
		}
		case 4: /* BAR4 / BAR1 registers, through the bus when decoded */
		case 5:
		case 6:
		case 7: {
			unsigned bar = (op & 2) ? VPCI_MSIX_BAR : VPCI_BAR;
			uint64_t off = take(&in, 2) & (bar == VPCI_BAR ? 0x3fff : 0xfff);
			uint64_t val = take(&in, 8);
			uint64_t gpa = pci_dev_bar_mapped(pd, bar);
			if (gpa == PCI_BAR_UNMAPPED ||
			    off + len > (bar == VPCI_BAR ? 0x4000u : 0x1000u))
				break;
			if (op & 1)
				(void)mmio_rd(&e, gpa + off, len);
			else
				mmio_wr(&e, gpa + off, len, val);
			break;
		}
		case 8: /* the driver's ring memory */
		{
			uint64_t off = take(&in, 2) * 8;
			uint64_t val = take(&in, 8);
			if (off + 8 <= RAM_SIZE)
				memcpy(ram + off, &val, 8);
			break;
		}
		case 9:
			virtio_notify_config(&ec->vdev);
			break;
		case 10: /* a device-side completion sweep on every queue */
			for (uint16_t q = 0; q < NQ; q++)
				virtio_queue_kick(&ec->vdev, q);
			break;
		default: /* a handy shortcut: enable decoding and bus mastering */
			cfg1_wr(&e, SLOT, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
			break;
		}
		/* Invariants. */
		if (e.kvm.nr_ioevs > NQ)
			abort();
		if (pci_dev_bar_mapped(pd, VPCI_BAR) == PCI_BAR_UNMAPPED && e.kvm.nr_ioevs)
			abort();
		bool intx = pd->intx_level &&
			    !(pci_cfg_get16(pd, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) &&
			    !msix_enabled(pd->msix);
		if (e.kvm.levels[pci_slot_irq(SLOT, 1)] != intx)
			abort();
	}
	virtio_pci_destroy(v); /* destroys ec's core (ops has no destroy) */
	if (e.kvm.nr_ioevs || e.kvm.nr_irqfds)
		abort();
	free(ec);
	pci_env_fini(&e);
	free(ram);
	return 0;
}
