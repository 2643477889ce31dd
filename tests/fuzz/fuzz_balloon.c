/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-balloon's wire formats (PFN arrays on inflateq/deflateq, the statistics
 * buffer, free page reporting ranges, config writes) fed through real split rings built by
 * the test-side driver, over 8 MiB of guest memory.
 * Input: byte 0 = features (STATS_VQ, DEFLATE_ON_OOM, REPORTING), then records
 * {u8 op, u8 len, len bytes}:
 *   op % 8 = 0 inflate / 1 deflate: the bytes are the PFN array (any length);
 *            2 statistics buffer; 3 reporting: 6-byte {le32 page, le16 pages} ranges;
 *            4 set target (le32 pages); 5 request statistics; 6 config write (byte 0 =
 *            offset, the rest the data); 7 reset and negotiate again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include "base/log.h"
#include "devices/virtio/balloon.h"
#include "vq_driver.h"

#define RAM (8u << 20)
#define QSZ 16

static struct vqd_mem m;
static struct virtio_dev *dev;
static struct vq_driver q[4];
static unsigned nq;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void start(uint8_t fbyte)
{
	uint64_t f = 1ULL << VIRTIO_F_VERSION_1;
	if (fbyte & 1)
		f |= 1ULL << VIRTIO_BALLOON_F_STATS_VQ;
	if (fbyte & 2)
		f |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (fbyte & 4)
		f |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
	virtio_reset(dev);
	uint8_t st = vqd_negotiate(dev, f);
	nq = 2 + !!(fbyte & 1) + !!(fbyte & 4);
	m.brk = RAM - (1u << 20); /* the driver's indirect tables, the same every time */
	for (unsigned i = 0; i < nq; i++) {
		vqd_fini(&q[i]);
		if (vqd_init(&q[i], &m, 0x1000 + i * 0x1000, QSZ) < 0 ||
		    vqd_attach(&q[i], dev, (uint16_t)i) < 0)
			abort();
	}
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(dev);
}

static void reap(void)
{
	uint32_t id, len;
	for (unsigned i = 0; i < nq; i++)
		while (vqd_get_used(&q[i], &id, &len))
			;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	log_set_level(LOG_ERR);
	if (!dev) {
		struct balloon_config cfg = {
		    .enabled = true, .free_page_reporting = true, .deflate_on_oom = true};
		char err[128];
		if (vqd_mem_init(&m, 0, RAM) < 0 ||
		    vbal_create(&cfg, RAM, "balloonfuzz", &dev, err, sizeof(err)) < 0)
			abort();
		virtio_dev_attach(dev, &m.gm, NULL, NULL, NULL);
	}
	start(data[0]);
	size_t i = 1;
	while (i + 2 <= size) {
		uint8_t op = data[i] % 8, len = data[i + 1];
		const uint8_t *p = data + i + 2;
		if (i + 2 + len > size)
			len = (uint8_t)(size - i - 2);
		i += 2u + len;
		m.brk = RAM / 2; /* buffers from the same place every record */
		uint64_t buf = vqd_alloc(&m, 4096, 8);
		memcpy(vqd_hva(&m, buf), p, len);
		struct vqd_seg s = {buf, len, false};
		switch (op) {
		case 0:
		case 1:
		case 2: {
			unsigned qi = op == 2 ? 2 : op;
			if (qi < nq && vqd_add(&q[qi], &s, 1, len & 1) >= 0)
				virtio_queue_kick(dev, (uint16_t)qi);
			break;
		}
		case 3: {
			struct vqd_seg segs[8];
			unsigned n = 0;
			for (unsigned k = 0; k + 6 <= len && n < 8; k += 6) {
				uint32_t pg;
				uint16_t cnt;
				memcpy(&pg, p + k, 4);
				memcpy(&cnt, p + k + 4, 2);
				segs[n++] = (struct vqd_seg){
				    (uint64_t)(pg % (2 * RAM / 4096)) * 4096 +
					(cnt & 0x8000 ? 512 : 0),
				    (uint32_t)(cnt & 0x7fff) * 4096 + (cnt >> 15), true};
			}
			if (n && nq > 2 && vqd_add(&q[nq - 1], segs, n, false) >= 0)
				virtio_queue_kick(dev, (uint16_t)(nq - 1));
			break;
		}
		case 4: {
			uint32_t pages = 0;
			memcpy(&pages, p, MIN(len, 4u));
			(void)vbal_set_target(dev, (uint64_t)pages * 4096);
			break;
		}
		case 5:
			vbal_request_stats(dev);
			break;
		case 6:
			if (len)
				virtio_write_config(dev, p[0], p + 1, len - 1u);
			break;
		default:
			start(len);
			break;
		}
		reap();
		struct vbal_info info;
		vbal_get_info(dev, &info);
	}
	return 0;
}
