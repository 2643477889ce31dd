/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci modern transport, driven like a guest driver through config cycles and MMIO,
 * with a tiny "echo" virtio device (completes every chain, counts kicks) and the fake KVM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include "harness.h"
#include "pci_fake.h"
#include "vq_driver.h"
#include "base/ev_loop.h"
#include "devices/virtio/blk.h"
#include "kvm/kvm.h"
#include "pci/msix.h"
#include "pci/virtio_pci.h"
#include "virtio/virtio.h"

#define SLOT 3
#define QMAX 16
#define NQ 2
#define CC(f) offsetof(struct virtio_pci_common_cfg, f)
#define F_V1 (1ULL << VIRTIO_F_VERSION_1)

struct echo {
	struct virtio_dev vdev; /* first */
	uint8_t config[8];
	unsigned activations, resets, kicks[NQ], done;
	bool destroyed_flag;
};

static int echo_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct echo *e = (struct echo *)dev;
	(void)ctx;
	e->activations++;
	return 0;
}
static int echo_reset(struct virtio_dev *dev, bool wait)
{
	((struct echo *)dev)->resets++;
	return 0;
}
static void echo_notify(struct virtio_dev *dev, uint16_t q)
{
	struct echo *e = (struct echo *)dev;
	struct iovec iov[8];
	struct vq_chain ch = {.iov = iov, .cap = 8};
	e->kicks[q]++;
	while (vq_pop(&dev->queues[q], &ch) == 1) {
		vq_push(&dev->queues[q], ch.head, ch.in_len);
		e->done++;
	}
	virtio_notify_queue(dev, q);
}
static void echo_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
	struct echo *e = (struct echo *)dev;
	if (off >= 4) /* bytes 4..7 writable */
		memcpy(&e->config[off], data, len);
}
static void echo_destroy(struct virtio_dev *dev)
{
	(void)dev; /* embedded in struct fx, freed by the test */
}
static const struct virtio_dev_ops echo_ops = {
    .activate = echo_activate,
    .reset = echo_reset,
    .queue_notify = echo_notify,
    .write_config = echo_write_config,
    .destroy = echo_destroy,
};

struct fx {
	struct pci_env e;
	struct vqd_mem m;
	struct echo echo;
	struct ev_loop *loop;
	struct vpci_dev *v;
	struct pci_dev *pd;
	uint64_t bar;  /* BAR4 decoded address */
	uint64_t mbar; /* MSI-X BAR */
};

static int fx_init(struct fx *f, bool with_loop)
{
	memset(f, 0, sizeof(*f));
	if (pci_env_init(&f->e) || vqd_mem_init(&f->m, 0, 16 << 20))
		return -1;
	for (unsigned i = 0; i < 8; i++)
		f->echo.config[i] = (uint8_t)(0x10 + i);
	if (virtio_dev_init(&f->echo.vdev, &echo_ops, "echo0", VIRTIO_ID_RNG, 1ULL << 5, NQ, QMAX,
			    f->echo.config, sizeof(f->echo.config)))
		return -1;
	if (with_loop && ev_loop_create(&f->loop))
		return -1;
	if (virtio_pci_create(f->e.pci, &f->echo.vdev, &f->m.gm, f->loop, SLOT, &f->v))
		return -1;
	f->pd = virtio_pci_pci_dev(f->v);
	cfg1_wr(&f->e, SLOT, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	f->bar = pci_dev_bar_mapped(f->pd, VPCI_BAR);
	f->mbar = pci_dev_bar_mapped(f->pd, VPCI_MSIX_BAR);
	return f->bar == PCI_BAR_UNMAPPED || f->mbar == PCI_BAR_UNMAPPED ? -1 : 0;
}

static void fx_fini(struct fx *f)
{
	virtio_pci_destroy(f->v);
	ev_loop_destroy(f->loop);
	vqd_mem_fini(&f->m);
	pci_env_fini(&f->e);
}

static uint32_t cr(struct fx *f, size_t off, uint32_t len)
{
	return (uint32_t)mmio_rd(&f->e, f->bar + VPCI_COMMON_OFF + off, len);
}
static void cw(struct fx *f, size_t off, uint32_t len, uint32_t v)
{
	mmio_wr(&f->e, f->bar + VPCI_COMMON_OFF + off, len, v);
}
static uint8_t status(struct fx *f)
{
	return (uint8_t)cr(f, CC(device_status), 1);
}

/* Driver init up to FEATURES_OK; returns the status read back. */
static uint8_t negotiate(struct fx *f, uint64_t feat)
{
	cw(f, CC(device_status), 1, 0);
	cw(f, CC(device_status), 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	cw(f, CC(device_status), 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	cw(f, CC(guest_feature_select), 4, 0);
	cw(f, CC(guest_feature), 4, (uint32_t)feat);
	cw(f, CC(guest_feature_select), 4, 1);
	cw(f, CC(guest_feature), 4, (uint32_t)(feat >> 32));
	cw(f, CC(device_status), 1,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	return status(f);
}

static void program_queue(struct fx *f, uint16_t q, const struct vq_driver *d)
{
	cw(f, CC(queue_select), 2, q);
	cw(f, CC(queue_size), 2, d->size);
	cw(f, CC(queue_desc_lo), 4, (uint32_t)d->desc_gpa);
	cw(f, CC(queue_desc_hi), 4, (uint32_t)(d->desc_gpa >> 32));
	cw(f, CC(queue_avail_lo), 4, (uint32_t)d->avail_gpa);
	cw(f, CC(queue_avail_hi), 4, (uint32_t)(d->avail_gpa >> 32));
	cw(f, CC(queue_used_lo), 4, (uint32_t)d->used_gpa);
	cw(f, CC(queue_used_hi), 4, (uint32_t)(d->used_gpa >> 32));
	cw(f, CC(queue_enable), 2, 1);
}

static void driver_ok(struct fx *f)
{
	cw(f, CC(device_status), 1,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
	       VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Find a virtio vendor capability of cfg_type; returns its config offset or 0. */
static uint8_t find_vcap(struct fx *f, uint8_t type)
{
	uint8_t p = (uint8_t)cfg1_rd(&f->e, SLOT, PCI_CAPABILITY_LIST, 1);
	for (unsigned n = 0; p && n < 48; n++) {
		if (cfg1_rd(&f->e, SLOT, p, 1) == PCI_CAP_ID_VNDR &&
		    cfg1_rd(&f->e, SLOT, p + 3, 1) == type)
			return p;
		p = (uint8_t)cfg1_rd(&f->e, SLOT, p + 1, 1);
	}
	return 0;
}

TEST(vpci_identity_and_capabilities)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, PCI_VENDOR_ID, 2), 0x1af4);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, PCI_REVISION_ID, 1), 1);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	CHECK(cfg1_rd(&f.e, SLOT, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	static const struct {
		uint8_t type;
		uint32_t off, minlen;
	} want[] = {
	    {VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON_OFF, 0x38},
	    {VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY_OFF, NQ * 4},
	    {VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR_OFF, 1},
	    {VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVICE_OFF, 8},
	};
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		uint8_t c = find_vcap(&f, want[i].type);
		REQUIRE(c);
		CHECK_EQ(cfg1_rd(&f.e, SLOT, c + 4, 1), VPCI_BAR);
		CHECK_EQ(cfg1_rd(&f.e, SLOT, c + 8, 4), want[i].off);
		CHECK(cfg1_rd(&f.e, SLOT, c + 12, 4) >= want[i].minlen);
		CHECK(cfg1_rd(&f.e, SLOT, c + 2, 1) >= 16);
	}
	uint8_t n = find_vcap(&f, VIRTIO_PCI_CAP_NOTIFY_CFG);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, n + 16, 4), 4); /* notify_off_multiplier */
	CHECK_EQ(cfg1_rd(&f.e, SLOT, n + 2, 1), 20);
	uint8_t pc = find_vcap(&f, VIRTIO_PCI_CAP_PCI_CFG);
	REQUIRE(pc);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, pc + 2, 1), 20);
	/* The memory BAR is 64-bit and 16 KiB. */
	uint32_t lo = cfg1_rd(&f.e, SLOT, PCI_BASE_ADDRESS_4, 4);
	CHECK_EQ(lo & 0x6, PCI_BASE_ADDRESS_MEM_TYPE_64);
	cfg1_wr(&f.e, SLOT, PCI_COMMAND, 2, 0);
	cfg1_wr(&f.e, SLOT, PCI_BASE_ADDRESS_4, 4, 0xffffffffu);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, PCI_BASE_ADDRESS_4, 4), 0xffffc004u);
	cfg1_wr(&f.e, SLOT, PCI_BASE_ADDRESS_4, 4, lo);
	/* MSI-X: one vector per queue plus config. */
	uint8_t p = (uint8_t)cfg1_rd(&f.e, SLOT, PCI_CAPABILITY_LIST, 1);
	uint8_t mx = 0;
	for (unsigned i = 0; p && i < 48; i++, p = (uint8_t)cfg1_rd(&f.e, SLOT, p + 1, 1))
		if (cfg1_rd(&f.e, SLOT, p, 1) == PCI_CAP_ID_MSIX)
			mx = p;
	REQUIRE(mx);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, mx + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, NQ);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, mx + PCI_MSIX_TABLE, 4) & 7, VPCI_MSIX_BAR);
	fx_fini(&f);
}

TEST(vpci_feature_pages)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	cw(&f, CC(device_feature_select), 4, 0);
	CHECK_EQ(cr(&f, CC(device_feature_select), 4), 0);
	uint32_t lo = cr(&f, CC(device_feature), 4);
	CHECK(lo & (1u << 5));
	CHECK(lo & (1u << VIRTIO_RING_F_EVENT_IDX));
	cw(&f, CC(device_feature_select), 4, 1);
	CHECK_EQ(cr(&f, CC(device_feature), 4) & 1, 1); /* VERSION_1 = bit 32 */
	cw(&f, CC(device_feature_select), 4, 2);
	CHECK_EQ(cr(&f, CC(device_feature), 4), 0);
	cw(&f, CC(device_feature_select), 4, 0xffffffffu);
	CHECK_EQ(cr(&f, CC(device_feature), 4), 0);
	/* device_feature is read-only. */
	cw(&f, CC(device_feature_select), 4, 0);
	cw(&f, CC(device_feature), 4, 0);
	CHECK_EQ(cr(&f, CC(device_feature), 4), lo);
	/* Driver features per page. */
	cw(&f, CC(guest_feature_select), 4, 0);
	cw(&f, CC(guest_feature), 4, 1u << 5);
	cw(&f, CC(guest_feature_select), 4, 1);
	cw(&f, CC(guest_feature), 4, 1);
	CHECK_EQ(cr(&f, CC(guest_feature), 4), 1);
	cw(&f, CC(guest_feature_select), 4, 0);
	CHECK_EQ(cr(&f, CC(guest_feature), 4), 1u << 5);
	cw(&f, CC(guest_feature_select), 4, 7);
	cw(&f, CC(guest_feature), 4, 0xffffffffu);
	CHECK_EQ(cr(&f, CC(guest_feature), 4), 0);
	CHECK_EQ(f.echo.vdev.driver_features, F_V1 | (1u << 5));
	fx_fini(&f);
}

TEST(vpci_status_sequence)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	CHECK_EQ(status(&f), 0);
	CHECK_EQ(cr(&f, CC(num_queues), 2), NQ);
	/* FEATURES_OK without VERSION_1 is refused: the bit does not stick. */
	CHECK_EQ(negotiate(&f, 1u << 5) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	/* Features the device does not offer are refused too. */
	CHECK_EQ(negotiate(&f, F_V1 | (1u << 6)) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	uint8_t s = negotiate(&f, F_V1 | (1u << 5));
	CHECK_EQ(s, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			VIRTIO_CONFIG_S_FEATURES_OK);
	/* Features are frozen after FEATURES_OK. */
	cw(&f, CC(guest_feature_select), 4, 0);
	cw(&f, CC(guest_feature), 4, 0);
	CHECK_EQ(cr(&f, CC(guest_feature), 4), 1u << 5);
	driver_ok(&f);
	CHECK_EQ(f.echo.activations, 1);
	CHECK(status(&f) & VIRTIO_CONFIG_S_DRIVER_OK);
	/* Reset. */
	cw(&f, CC(device_status), 1, 0);
	CHECK_EQ(status(&f), 0);
	CHECK_EQ(f.echo.resets, 1);
	fx_fini(&f);
}

TEST(vpci_queue_select_out_of_range)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	cw(&f, CC(queue_select), 2, 0);
	CHECK_EQ(cr(&f, CC(queue_size), 2), QMAX);
	CHECK_EQ(cr(&f, CC(queue_notify_off), 2), 0);
	cw(&f, CC(queue_select), 2, 1);
	CHECK_EQ(cr(&f, CC(queue_notify_off), 2), 1);
	CHECK_EQ(cr(&f, CC(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
	for (uint32_t q = NQ; q < 0x10000; q = q * 7 + 1) {
		cw(&f, CC(queue_select), 2, q);
		CHECK_EQ(cr(&f, CC(queue_select), 2), q);
		CHECK_EQ(cr(&f, CC(queue_size), 2), 0);
		CHECK_EQ(cr(&f, CC(queue_enable), 2), 0);
		CHECK_EQ(cr(&f, CC(queue_msix_vector), 2), 0);
		CHECK_EQ(cr(&f, CC(queue_desc_lo), 4), 0);
		/* Writes are ignored. */
		cw(&f, CC(queue_size), 2, 8);
		cw(&f, CC(queue_msix_vector), 2, 0);
		cw(&f, CC(queue_desc_lo), 4, 0x1000);
		cw(&f, CC(queue_enable), 2, 1);
		CHECK_EQ(cr(&f, CC(queue_size), 2), 0);
		CHECK_EQ(cr(&f, CC(queue_enable), 2), 0);
	}
	CHECK_EQ(status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* Real queues are untouched. */
	cw(&f, CC(queue_select), 2, 0);
	CHECK_EQ(cr(&f, CC(queue_size), 2), QMAX);
	CHECK_EQ(cr(&f, CC(queue_desc_lo), 4), 0);
	/* num_queues and config_generation are read-only. */
	cw(&f, CC(num_queues), 2, 9);
	CHECK_EQ(cr(&f, CC(num_queues), 2), NQ);
	fx_fini(&f);
}

TEST(vpci_bad_geometry_needs_reset_and_reset_clears)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	REQUIRE(negotiate(&f, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
	/* Vectors and a queue with a non-power-of-two size. */
	cw(&f, CC(msix_config), 2, 0);
	CHECK_EQ(cr(&f, CC(msix_config), 2), 0);
	cw(&f, CC(msix_config), 2, 99); /* beyond the table: refused */
	CHECK_EQ(cr(&f, CC(msix_config), 2), VIRTIO_MSI_NO_VECTOR);
	cw(&f, CC(queue_select), 2, 1);
	cw(&f, CC(queue_msix_vector), 2, 2);
	CHECK_EQ(cr(&f, CC(queue_msix_vector), 2), 2);
	cw(&f, CC(queue_size), 2, 3);
	cw(&f, CC(queue_desc_lo), 4, 0x1000);
	cw(&f, CC(queue_avail_lo), 4, 0x2000);
	cw(&f, CC(queue_used_lo), 4, 0x3000);
	cw(&f, CC(queue_enable), 2, 1);
	CHECK_EQ(cr(&f, CC(queue_enable), 2), 0);
	CHECK(status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* INTx mode (MSI-X off): the config interrupt is on the line, ISR bit 1. */
	uint32_t gsi = pci_slot_irq(SLOT, 1);
	CHECK_EQ(f.e.kvm.levels[gsi], 1);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
	CHECK_EQ(f.e.kvm.levels[gsi], 0);
	/* Rings outside guest RAM: also NEEDS_RESET (after a reset). */
	cw(&f, CC(device_status), 1, 0);
	CHECK_EQ(status(&f), 0);
	CHECK_EQ(cr(&f, CC(msix_config), 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(cr(&f, CC(queue_select), 2), 0); /* select resets too */
	cw(&f, CC(queue_select), 2, 1);
	CHECK_EQ(cr(&f, CC(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(cr(&f, CC(queue_size), 2), QMAX);
	CHECK_EQ(cr(&f, CC(queue_avail_lo), 4), 0);
	cw(&f, CC(queue_select), 2, 0);
	REQUIRE(negotiate(&f, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
	cw(&f, CC(queue_desc_lo), 4, 0);
	cw(&f, CC(queue_desc_hi), 4, 0x10);
	cw(&f, CC(queue_enable), 2, 1);
	CHECK(status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* Once failed, further enables stay refused until reset. */
	cw(&f, CC(queue_select), 2, 1);
	cw(&f, CC(queue_enable), 2, 1);
	CHECK_EQ(cr(&f, CC(queue_enable), 2), 0);
	fx_fini(&f);
}

TEST(vpci_config_space_and_generation)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_DEVICE_OFF, 4), 0x13121110u);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_DEVICE_OFF + 6, 2), 0x1716);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_DEVICE_OFF + 8, 4), 0); /* beyond config_len */
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_DEVICE_OFF + 0xffc, 4), 0);
	mmio_wr(&f.e, f.bar + VPCI_DEVICE_OFF + 4, 4, 0xaabbccdd);
	mmio_wr(&f.e, f.bar + VPCI_DEVICE_OFF + 0, 4, 0); /* read-only part: ignored */
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_DEVICE_OFF + 4, 4), 0xaabbccddu);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_DEVICE_OFF, 4), 0x13121110u);
	uint8_t g = (uint8_t)cr(&f, CC(config_generation), 1);
	virtio_notify_config(&f.echo.vdev);
	CHECK_EQ((uint8_t)cr(&f, CC(config_generation), 1), (uint8_t)(g + 1));
	cw(&f, CC(config_generation), 1, 0x55); /* read-only */
	CHECK_EQ((uint8_t)cr(&f, CC(config_generation), 1), (uint8_t)(g + 1));
	fx_fini(&f);
}

TEST(vpci_ioeventfd_per_queue_follows_bar)
{
	struct fx f;
	REQUIRE(fx_init(&f, true) == 0);
	/* Memory decoding on: one ioeventfd per queue notify address. */
	CHECK_EQ(f.e.kvm.nr_ioevs, NQ);
	int fd0 = fk_ioev_at(&f.e.kvm, f.bar + VPCI_NOTIFY_OFF);
	int fd1 = fk_ioev_at(&f.e.kvm, f.bar + VPCI_NOTIFY_OFF + 4);
	CHECK(fd0 >= 0 && fd1 >= 0 && fd0 != fd1);
	/* Firmware moves BAR4 above 4 GiB: the ioeventfds follow. */
	cfg1_wr(&f.e, SLOT, PCI_BASE_ADDRESS_5, 4, 0x1);
	cfg1_wr(&f.e, SLOT, PCI_BASE_ADDRESS_4, 4, 0x8000);
	uint64_t nb = 0x100008000ULL;
	CHECK_EQ(pci_dev_bar_mapped(f.pd, VPCI_BAR), nb);
	CHECK_EQ(f.e.kvm.nr_ioevs, NQ);
	CHECK_EQ(fk_ioev_at(&f.e.kvm, f.bar + VPCI_NOTIFY_OFF), -1);
	CHECK_EQ(fk_ioev_at(&f.e.kvm, nb + VPCI_NOTIFY_OFF), fd0);
	CHECK_EQ(fk_ioev_at(&f.e.kvm, nb + VPCI_NOTIFY_OFF + 4), fd1);
	CHECK_EQ(f.e.kvm.ioevs[0].len, 0); /* any access width */
	/* Decoding off: none registered. */
	cfg1_wr(&f.e, SLOT, PCI_COMMAND, 2, 0);
	CHECK_EQ(f.e.kvm.nr_ioevs, 0);
	cfg1_wr(&f.e, SLOT, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(f.e.kvm.nr_ioevs, NQ);
	f.bar = nb;
	fx_fini(&f);
	CHECK_EQ(f.e.kvm.nr_ioevs, 0); /* destroy deassigned them */
}

/* Set up queue 0 with a driver ring and go DRIVER_OK. */
static void bring_up(struct fx *f, struct vq_driver *d)
{
	REQUIRE(vqd_init(d, &f->m, 0x10000, 8) == 0);
	REQUIRE(negotiate(f, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
	program_queue(f, 0, d);
	driver_ok(f);
	REQUIRE(cr(f, CC(queue_enable), 2) == 1);
	REQUIRE(!(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET));
}

static int add_buf(struct fx *f, struct vq_driver *d)
{
	uint64_t buf = vqd_alloc(&f->m, 64, 16);
	struct vqd_seg s[] = {{buf, 16, false}, {buf + 16, 32, true}};
	return vqd_add(d, s, 2, false);
}

TEST(vpci_kicks_reach_the_device_on_the_loop)
{
	struct fx f;
	REQUIRE(fx_init(&f, true) == 0);
	struct vq_driver d;
	bring_up(&f, &d);
	/* A notify write that reached the MMIO handler is queued to the loop thread. */
	REQUIRE(add_buf(&f, &d) >= 0);
	mmio_wr(&f.e, f.bar + VPCI_NOTIFY_OFF, 2, 0);
	CHECK_EQ(f.echo.kicks[0], 0);
	CHECK(ev_loop_run_once(f.loop, 1000) >= 1);
	CHECK_EQ(f.echo.kicks[0], 1);
	CHECK_EQ(f.echo.done, 1);
	uint32_t id, len;
	CHECK(vqd_get_used(&d, &id, &len));
	CHECK_EQ(len, 32);
	/* A kick KVM delivers through the ioeventfd. */
	REQUIRE(add_buf(&f, &d) >= 0);
	int fd = fk_ioev_at(&f.e.kvm, f.bar + VPCI_NOTIFY_OFF);
	REQUIRE(fd >= 0);
	uint64_t one = 1;
	CHECK_EQ(write(fd, &one, 8), 8);
	CHECK(ev_loop_run_once(f.loop, 1000) >= 1);
	CHECK_EQ(f.echo.kicks[0], 2);
	CHECK_EQ(f.echo.done, 2);
	/* Kicks for a queue that is not enabled, or beyond the notify area, do nothing. */
	mmio_wr(&f.e, f.bar + VPCI_NOTIFY_OFF + 4, 2, 1);
	CHECK(ev_loop_run_once(f.loop, 1000) >= 1);
	CHECK_EQ(f.echo.kicks[1], 0);
	mmio_wr(&f.e, f.bar + VPCI_NOTIFY_OFF + 0x40, 2, 16);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_NOTIFY_OFF, 4), 0);
	vqd_fini(&d);
	fx_fini(&f);
}

TEST(vpci_msix_queue_interrupts)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	uint8_t p = (uint8_t)cfg1_rd(&f.e, SLOT, PCI_CAPABILITY_LIST, 1), mx = 0;
	for (unsigned i = 0; p && i < 48; i++, p = (uint8_t)cfg1_rd(&f.e, SLOT, p + 1, 1))
		if (cfg1_rd(&f.e, SLOT, p, 1) == PCI_CAP_ID_MSIX)
			mx = p;
	REQUIRE(mx);
	cfg1_wr(&f.e, SLOT, mx + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	/* Vector 1 for queue 0, vector 0 for config. */
	for (uint16_t v = 0; v < 2; v++) {
		mmio_wr(&f.e, f.mbar + v * 16u, 4, 0xfee00000u);
		mmio_wr(&f.e, f.mbar + v * 16u + 8, 4, 0x60 + v);
		mmio_wr(&f.e, f.mbar + v * 16u + 12, 4, 0);
	}
	struct vq_driver d;
	REQUIRE(vqd_init(&d, &f.m, 0x10000, 8) == 0);
	REQUIRE(negotiate(&f, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
	cw(&f, CC(msix_config), 2, 0);
	cw(&f, CC(queue_select), 2, 0);
	cw(&f, CC(queue_msix_vector), 2, 1);
	CHECK_EQ(cr(&f, CC(queue_msix_vector), 2), 1);
	program_queue(&f, 0, &d);
	driver_ok(&f);
	REQUIRE(add_buf(&f, &d) >= 0);
	mmio_wr(&f.e, f.bar + VPCI_NOTIFY_OFF, 2, 0); /* no loop: synchronous */
	CHECK_EQ(f.echo.done, 1);
	CHECK_EQ(fk_msi_count(&f.e.kvm, 0x61), 1);
	CHECK_EQ(f.e.kvm.levels[pci_slot_irq(SLOT, 1)], 0); /* no INTx in MSI-X mode */
	/* Config change -> vector 0. */
	virtio_notify_config(&f.echo.vdev);
	CHECK_EQ(fk_msi_count(&f.e.kvm, 0x60), 1);
	/* Masked vector: pending, delivered on unmask. */
	mmio_wr(&f.e, f.mbar + 16 + 12, 4, 1);
	REQUIRE(add_buf(&f, &d) >= 0);
	mmio_wr(&f.e, f.bar + VPCI_NOTIFY_OFF, 2, 0);
	CHECK_EQ(fk_msi_count(&f.e.kvm, 0x61), 0);
	CHECK(msix_pending(f.pd->msix, 1));
	mmio_wr(&f.e, f.mbar + 16 + 12, 4, 0);
	CHECK_EQ(fk_msi_count(&f.e.kvm, 0x61), 1);
	/* NO_VECTOR for the queue: no interrupt at all. */
	cw(&f, CC(device_status), 1, 0);
	CHECK_EQ(cr(&f, CC(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
	vqd_fini(&d);
	fx_fini(&f);
}

TEST(vpci_intx_and_isr)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	struct vq_driver d;
	bring_up(&f, &d);
	uint32_t gsi = pci_slot_irq(SLOT, 1);
	REQUIRE(add_buf(&f, &d) >= 0);
	mmio_wr(&f.e, f.bar + VPCI_NOTIFY_OFF, 4, 0); /* dword kick works too */
	CHECK_EQ(f.echo.done, 1);
	CHECK_EQ(f.e.kvm.levels[gsi], 1);
	CHECK(cfg1_rd(&f.e, SLOT, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* ISR: read-to-clear, deasserts the line. */
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_ISR_OFF, 1), 1 /* queue interrupt */);
	CHECK_EQ(f.e.kvm.levels[gsi], 0);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_ISR_OFF, 1), 0);
	CHECK(!(cfg1_rd(&f.e, SLOT, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	/* Writes to ISR are ignored. */
	mmio_wr(&f.e, f.bar + VPCI_ISR_OFF, 1, 0xff);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_ISR_OFF, 1), 0);
	/* Reset deasserts a pending line. */
	REQUIRE(add_buf(&f, &d) >= 0);
	mmio_wr(&f.e, f.bar + VPCI_NOTIFY_OFF, 2, 0);
	CHECK_EQ(f.e.kvm.levels[gsi], 1);
	cw(&f, CC(device_status), 1, 0);
	CHECK_EQ(f.e.kvm.levels[gsi], 0);
	vqd_fini(&d);
	fx_fini(&f);
}

TEST(vpci_pci_cfg_access_window)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	uint8_t c = find_vcap(&f, VIRTIO_PCI_CAP_PCI_CFG);
	REQUIRE(c);
	/* Works with BAR decoding off, as firmware above 4 GiB would use it. */
	cfg1_wr(&f.e, SLOT, PCI_COMMAND, 2, 0);
	cfg1_wr(&f.e, SLOT, c + 4, 1, VPCI_BAR);
	cfg1_wr(&f.e, SLOT, c + 8, 4, VPCI_COMMON_OFF + CC(num_queues));
	cfg1_wr(&f.e, SLOT, c + 12, 4, 2);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, c + 16, 2), NQ);
	/* Write through the window: device_status. */
	cfg1_wr(&f.e, SLOT, c + 8, 4, VPCI_COMMON_OFF + CC(device_status));
	cfg1_wr(&f.e, SLOT, c + 12, 4, 1);
	cfg1_wr(&f.e, SLOT, c + 16, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK_EQ(virtio_get_status(&f.echo.vdev), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, c + 16, 1), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	/* Device config through ECAM. */
	ecam_wr(&f.e, SLOT, c + 8, 4, VPCI_DEVICE_OFF);
	ecam_wr(&f.e, SLOT, c + 12, 4, 4);
	CHECK_EQ(ecam_rd(&f.e, SLOT, 0, c + 16, 4), 0x13121110u);
	/* Garbage windows are ignored: bad length, misaligned, bad BAR, beyond the BAR. */
	cfg1_wr(&f.e, SLOT, c + 12, 4, 3);
	cfg1_wr(&f.e, SLOT, c + 16, 4, 0);
	cfg1_wr(&f.e, SLOT, c + 12, 4, 4);
	cfg1_wr(&f.e, SLOT, c + 8, 4, 2);
	cfg1_wr(&f.e, SLOT, c + 16, 4, 0);
	cfg1_wr(&f.e, SLOT, c + 4, 1, 5);
	cfg1_wr(&f.e, SLOT, c + 8, 4, 0);
	cfg1_wr(&f.e, SLOT, c + 16, 4, 0);
	cfg1_wr(&f.e, SLOT, c + 4, 1, VPCI_BAR);
	cfg1_wr(&f.e, SLOT, c + 8, 4, 0xfffffffcu);
	cfg1_wr(&f.e, SLOT, c + 16, 4, 0);
	(void)cfg1_rd(&f.e, SLOT, c + 16, 4);
	CHECK_EQ(virtio_get_status(&f.echo.vdev), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	/* The MSI-X BAR is reachable through the window too. */
	cfg1_wr(&f.e, SLOT, c + 4, 1, VPCI_MSIX_BAR);
	cfg1_wr(&f.e, SLOT, c + 8, 4, 12);
	cfg1_wr(&f.e, SLOT, c + 12, 4, 4);
	CHECK_EQ(cfg1_rd(&f.e, SLOT, c + 16, 4), 1); /* vector 0 masked */
	fx_fini(&f);
}

TEST(vpci_odd_accesses_are_harmless)
{
	struct fx f;
	REQUIRE(fx_init(&f, false) == 0);
	/* Every width at every common-config offset, reads and writes of junk. */
	for (uint32_t off = 0; off < 0x40; off++) {
		for (uint32_t len = 1; len <= 8; len *= 2) {
			(void)mmio_rd(&f.e, f.bar + off, len);
			if (off != CC(device_status) && off != CC(queue_enable))
				mmio_wr(&f.e, f.bar + off, len, 0x5a5a5a5a5a5a5a5aULL);
		}
	}
	/* An 8-byte write spanning device_status, config_generation and queue_select. */
	cw(&f, CC(device_status), 1, 0);
	mmio_wr(&f.e, f.bar + CC(device_status), 4, 0x00010001u);
	CHECK_EQ(status(&f), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK_EQ(cr(&f, CC(queue_select), 2), 1);
	/* 64-bit queue address writes in one access. */
	cw(&f, CC(device_status), 1, 0);
	mmio_wr(&f.e, f.bar + CC(queue_desc_lo), 8, 0x0000000100002000ULL);
	CHECK_EQ(cr(&f, CC(queue_desc_lo), 4), 0x2000);
	CHECK_EQ(cr(&f, CC(queue_desc_hi), 4), 1);
	/* Beyond the registers of each region. */
	mmio_wr(&f.e, f.bar + 0x800, 4, 1);
	CHECK_EQ(mmio_rd(&f.e, f.bar + 0x800, 4), 0);
	CHECK_EQ(mmio_rd(&f.e, f.bar + VPCI_ISR_OFF + 4, 4), 0);
	mmio_wr(&f.e, f.bar + VPCI_NOTIFY_OFF + 0xffc, 4, 0);
	CHECK_EQ(f.echo.kicks[0] + f.echo.kicks[1], 0);
	fx_fini(&f);
}

/* The real KVM ops accept what the transport and MSI-X ask of them: any-length MMIO
 * ioeventfds at notify addresses (assign, move, deassign), MSI routes and irqfds. */
TEST(vpci_real_kvm_ops)
{
	struct kvm kvm;
	const char *why = NULL;
	memset(&kvm, 0, sizeof(kvm));
	if (access("/dev/kvm", R_OK | W_OK) != 0 || kvm_open(&kvm, &why) < 0) {
		test_skip("no usable /dev/kvm");
		return;
	}
	REQUIRE(kvm_create_vm(&kvm, &why) == 0);
	const struct pci_kvm_ops *ops = &pci_kvm_ops_real;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	REQUIRE(fd >= 0);
	uint64_t a = LAYOUT_PCI_MMIO32_START + VPCI_NOTIFY_OFF;
	CHECK_EQ(ops->ioeventfd(&kvm, fd, a, 0, false, true), 0);
	CHECK_EQ(ops->ioeventfd(&kvm, fd, a + 0x10000, 0, false, true), 0);
	CHECK_EQ(ops->ioeventfd(&kvm, fd, a, 0, false, false), 0);
	CHECK_EQ(ops->ioeventfd(&kvm, fd, a + 0x10000, 0, false, false), 0);
	uint32_t gsi;
	CHECK_EQ(ops->gsi_alloc(&kvm, &gsi), 0);
	CHECK(gsi >= 24);
	CHECK_EQ(ops->msi_route_set(&kvm, gsi, 0xfee00000u, 0x4041), 0);
	int ifd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	REQUIRE(ifd >= 0);
	CHECK_EQ(ops->irqfd(&kvm, ifd, gsi, true), 0);
	CHECK_EQ(ops->msi_route_set(&kvm, gsi, 0xfee01000u, 0x4042), 0);
	CHECK_EQ(ops->irqfd(&kvm, ifd, gsi, false), 0);
	close(fd);
	close(ifd);
	kvm_close(&kvm);
}

/* The real virtio-blk device behind the transport, driven through MMIO like a guest driver:
 * capacity from the device config region, a read request kicked through the notify address
 * (-> eventfd -> loop -> io_uring or sync), completion signalled through MSI-X. */
TEST(vpci_blk_end_to_end)
{
	struct pci_env e;
	struct vqd_mem m;
	struct ev_loop *loop;
	REQUIRE(pci_env_init(&e) == 0);
	REQUIRE(vqd_mem_init(&m, 0, 16 << 20) == 0);
	REQUIRE(ev_loop_create(&loop) == 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/vpci-blk-%d.img", test_tmpdir(), getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	uint8_t sector[512];
	for (unsigned s = 0; s < 8; s++) {
		memset(sector, 0xa0 + s, sizeof(sector));
		REQUIRE(pwrite(fd, sector, 512, s * 512) == 512);
	}
	close(fd);
	struct disk_config dc = {.path = path, .queues = 1, .queue_size = 64};
	struct virtio_dev *blk;
	char err[256];
	REQUIRE(vblk_create(&dc, "blk0", &blk, err, sizeof(err)) == 0);
	struct vpci_dev *v;
	REQUIRE(virtio_pci_create(e.pci, blk, &m.gm, loop, -1, &v) == 0);
	struct pci_dev *pd = virtio_pci_pci_dev(v);
	unsigned slot = pd->slot;
	CHECK_EQ(cfg1_rd(&e, slot, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_BLOCK);
	cfg1_wr(&e, slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	uint64_t bar = pci_dev_bar_mapped(pd, VPCI_BAR),
		 mbar = pci_dev_bar_mapped(pd, VPCI_MSIX_BAR);
	REQUIRE(bar != PCI_BAR_UNMAPPED && mbar != PCI_BAR_UNMAPPED);
	/* Capacity (sectors) at device config offset 0. */
	CHECK_EQ(mmio_rd(&e, bar + VPCI_DEVICE_OFF, 8), 8);

	/* MSI-X on, vector 1 for queue 0. */
	uint8_t p = (uint8_t)cfg1_rd(&e, slot, PCI_CAPABILITY_LIST, 1), mx = 0;
	for (unsigned i = 0; p && i < 48; i++, p = (uint8_t)cfg1_rd(&e, slot, p + 1, 1))
		if (cfg1_rd(&e, slot, p, 1) == PCI_CAP_ID_MSIX)
			mx = p;
	REQUIRE(mx);
	cfg1_wr(&e, slot, mx + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	mmio_wr(&e, mbar + 16, 4, 0xfee00000u);
	mmio_wr(&e, mbar + 16 + 8, 4, 0x77);
	mmio_wr(&e, mbar + 16 + 12, 4, 0);

#define W(f, len, val) mmio_wr(&e, bar + CC(f), len, val)
	W(device_status, 1, 0);
	W(device_status, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	W(guest_feature_select, 4, 1);
	W(guest_feature, 4, 1); /* VERSION_1 only */
	W(device_status, 1,
	  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	REQUIRE(mmio_rd(&e, bar + CC(device_status), 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	struct vq_driver d;
	REQUIRE(vqd_init(&d, &m, 0x10000, 16) == 0);
	W(queue_select, 2, 0);
	W(queue_size, 2, 16);
	W(queue_desc_lo, 4, (uint32_t)d.desc_gpa);
	W(queue_avail_lo, 4, (uint32_t)d.avail_gpa);
	W(queue_used_lo, 4, (uint32_t)d.used_gpa);
	W(queue_msix_vector, 2, 1);
	W(queue_enable, 2, 1);
	W(device_status, 1,
	  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
	      VIRTIO_CONFIG_S_DRIVER_OK);
#undef W
	REQUIRE(!(mmio_rd(&e, bar + CC(device_status), 1) & VIRTIO_CONFIG_S_NEEDS_RESET));

	/* Read sector 3. */
	uint64_t hdr = vqd_alloc(&m, 16, 16), data = vqd_alloc(&m, 512, 512),
		 st = vqd_alloc(&m, 16, 16);
	struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = 3};
	memcpy(vqd_hva(&m, hdr), &h, sizeof(h));
	*(uint8_t *)vqd_hva(&m, st) = 0xee;
	struct vqd_seg s[] = {{hdr, 16, false}, {data, 512, true}, {st, 1, true}};
	int head = vqd_add(&d, s, 3, false);
	REQUIRE(head >= 0);
	mmio_wr(&e, bar + VPCI_NOTIFY_OFF, 2, 0);
	uint32_t id = 0, len = 0;
	bool got = false;
	for (int i = 0; i < 2000 && !got; i++) {
		ev_loop_run_once(loop, 5);
		got = vqd_get_used(&d, &id, &len);
	}
	REQUIRE(got);
	CHECK_EQ(id, (uint32_t)head);
	CHECK_EQ(*(uint8_t *)vqd_hva(&m, st), VIRTIO_BLK_S_OK);
	CHECK_EQ(((uint8_t *)vqd_hva(&m, data))[0], 0xa3);
	CHECK_EQ(((uint8_t *)vqd_hva(&m, data))[511], 0xa3);
	CHECK(fk_msi_count(&e.kvm, 0x77) >= 1);

	vqd_fini(&d);
	virtio_pci_destroy(v); /* destroys blk too */
	ev_loop_destroy(loop);
	vqd_mem_fini(&m);
	pci_env_fini(&e);
	unlink(path);
}
