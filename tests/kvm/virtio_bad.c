/*
 * A hostile virtio-blk driver: finds the device through ECAM, then (A) enables a queue with bad
 * geometry, (B) submits a descriptor chain that loops, (C) points a descriptor outside guest
 * RAM. After each, it reports the device status (vireo must set NEEDS_RESET and keep running).
 * Finally (D) it resets the device and reads sector 0 with a well-formed request, proving the
 * device recovers. Offsets of the virtio-pci structures are vireo's (src/pci/virtio_pci.h).
 */
#include <stdint.h>
#include "payload.h"

#define ECAM 0xe0000000ULL
#define COMMON 0x0000
#define NOTIFY 0x3000
#define DESC 0x10000ULL
#define AVAIL 0x11000ULL
#define USED 0x12000ULL
#define HDR 0x20000ULL
#define DATA 0x21000ULL
#define STATUS 0x22000ULL

/* virtio_pci_common_cfg offsets */
#define DF_SEL 0x00
#define GF_SEL 0x08
#define GF 0x0c
#define DEV_STATUS 0x14
#define Q_SEL 0x16
#define Q_SIZE 0x18
#define Q_ENABLE 0x1c
#define Q_NOTIFY_OFF 0x1e
#define Q_DESC 0x20
#define Q_DRIVER 0x28
#define Q_DEVICE 0x30

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static uint64_t bar;

static void mem_clear(uint64_t a, uint64_t n)
{
	for (uint64_t i = 0; i < n; i += 8)
		*(volatile uint64_t *)(a + i) = 0;
}

static uint8_t status(void)
{
	return mmio_r8(bar + COMMON + DEV_STATUS);
}

/* Reset, negotiate VERSION_1 only, and program queue 0. Returns the status after DRIVER_OK. */
static uint8_t setup(uint16_t qsize, uint64_t desc)
{
	uint64_t c = bar + COMMON;
	mmio_w8(c + DEV_STATUS, 0);
	for (int i = 0; i < 1000 && status() != 0; i++)
		;
	mmio_w8(c + DEV_STATUS, 1);
	mmio_w8(c + DEV_STATUS, 3);
	mmio_w32(c + GF_SEL, 1);
	mmio_w32(c + GF, 1); /* VIRTIO_F_VERSION_1 (bit 32) */
	mmio_w32(c + GF_SEL, 0);
	mmio_w32(c + GF, 0);
	mmio_w8(c + DEV_STATUS, 0xb);
	mmio_w16(c + Q_SEL, 0);
	mmio_w16(c + Q_SIZE, qsize);
	mmio_w64(c + Q_DESC, desc);
	mmio_w64(c + Q_DRIVER, AVAIL);
	mmio_w64(c + Q_DEVICE, USED);
	mmio_w16(c + Q_ENABLE, 1);
	mmio_w8(c + DEV_STATUS, 0xf);
	return status();
}

static void kick_and_wait(void)
{
	uint16_t off = mmio_r16(bar + COMMON + Q_NOTIFY_OFF);
	mmio_w16(bar + NOTIFY + off * 4u, 0);
	/* The kick is served on the VMM's event loop: poll (bounded) for a used entry or
	 * NEEDS_RESET. */
	for (int i = 0; i < 200000; i++) {
		if ((status() & 0x40) || mmio_r16(USED + 2) != 0)
			return;
	}
}

static void submit(struct desc *d, int n)
{
	volatile struct desc *t = (volatile struct desc *)DESC;
	mem_clear(AVAIL, 0x1000);
	mem_clear(USED, 0x1000);
	for (int i = 0; i < n; i++) {
		t[i].addr = d[i].addr;
		t[i].len = d[i].len;
		t[i].flags = d[i].flags;
		t[i].next = d[i].next;
	}
	mmio_w16(AVAIL + 4, 0); /* ring[0] = head 0 */
	wmb();
	mmio_w16(AVAIL + 2, 1); /* idx = 1 */
	wmb();
	kick_and_wait();
}

static void report(const char *what, uint8_t st)
{
	print(what);
	print(" status=");
	print_hex(st, 2);
	print((st & 0x40) ? " needs_reset\n" : "\n");
}

void payload_main(void);
void payload_main(void)
{
	int slot;
	for (slot = 1; slot < 32; slot++)
		if (mmio_r32(ECAM + ((uint64_t)slot << 15)) == 0x10421af4)
			break;
	if (slot == 32) {
		print("virtio-bad: no virtio-blk device\n");
		return;
	}
	uint64_t cfg = ECAM + ((uint64_t)slot << 15);
	bar = (mmio_r32(cfg + 0x20) & ~0xfULL) | ((uint64_t)mmio_r32(cfg + 0x24) << 32);
	mmio_w16(cfg + 4, 0x6); /* memory space + bus master */
	print("virtio-bad: blk at slot ");
	print_hex((uint64_t)slot, 2);
	print(" bar ");
	print_hex(bar, 16);
	print("\n");

	/* A: a queue size that is not a power of two. */
	report("A bad-geometry", setup(3, DESC));

	/* B: a chain whose descriptor points back at itself. */
	setup(8, DESC);
	struct desc loop[1] = {{HDR, 16, 1 /* NEXT */, 0}};
	submit(loop, 1);
	report("B loop", status());

	/* C: a descriptor outside guest RAM (RAM is 64 MiB). */
	setup(8, DESC);
	struct desc outside[3] = {{0x7fff0000ULL, 16, 1, 1}, {DATA, 512, 3, 2}, {STATUS, 1, 2, 0}};
	submit(outside, 3);
	report("C outside-ram", status());

	/* D: reset, then a well-formed read of sector 0. */
	uint8_t st = setup(8, DESC);
	mem_clear(HDR, 16);
	mem_clear(DATA, 512);
	*(volatile uint8_t *)STATUS = 0xff;
	struct desc rd[3] = {{HDR, 16, 1, 1}, {DATA, 512, 3, 2}, {STATUS, 1, 2, 0}};
	submit(rd, 3);
	report("D reset+read", st | status());
	print("D used.idx=");
	print_hex(mmio_r16(USED + 2), 4);
	print(" req.status=");
	print_hex(*(volatile uint8_t *)STATUS, 2);
	print(" data=");
	for (int i = 0; i < 8; i++)
		outb(0x3f8, *(volatile uint8_t *)(DATA + (uint64_t)i));
	print("\n");
}
