/* SPDX-License-Identifier: MIT */
/*
 * bench-blk: the virtio-blk data path driven in-process by a synthetic driver (no guest).
 * A vq_driver writes requests into fake guest memory, kicks the device, and the device does
 * the I/O on the event loop (io_uring) or synchronously (--sync). Prints IOPS, MB/s and CPU
 * time per request (getrusage, whole process: driver + device + io_uring workers).
 *
 *   bench-blk --file IMG --rw randread|randwrite|read|write --bs 4096 --qd 32 --time 5
 *             [--direct] [--sync]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "vq_driver.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/blk.h"

#define QSIZE 256u

struct bench {
	struct virtio_dev *dev;
	struct ev_loop *loop;
	struct vqd_mem m;
	struct vq_driver d;
	bool write, random;
	uint32_t bs;
	uint64_t nblocks, seq, rng;
	uint64_t slot_gpa[QSIZE];
	int slot_of_head[QSIZE];
	uint64_t done, errors;
};

static void irq_q(void *o, uint16_t q)
{
}
static void irq_c(void *o)
{
}
static const struct virtio_irq_ops irq = {irq_q, irq_c};

static uint64_t next_block(struct bench *b)
{
	if (!b->random)
		return b->seq++ % b->nblocks;
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng % b->nblocks;
}

/* Slot layout: [0,16) header, [512] status, [4096, 4096+bs) data. */
static int submit(struct bench *b, int slot)
{
	uint64_t g = b->slot_gpa[slot];
	struct virtio_blk_outhdr *h = vqd_hva(&b->m, g);
	h->type = b->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	h->ioprio = 0;
	h->sector = next_block(b) * (b->bs / 512);
	struct vqd_seg s[] = {{g, 16, false}, {g + 4096, b->bs, !b->write}, {g + 512, 1, true}};
	int head = vqd_add(&b->d, s, 3, true);
	if (head >= 0)
		b->slot_of_head[head] = slot;
	return head;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-blk --file IMG --rw randread|randwrite|read|write --bs N "
			"--qd N --time SEC [--direct] [--sync]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *rw = "randread";
	unsigned qd = 1;
	double secs = 5;
	bool direct = false, sync = false;
	struct bench *b = calloc(1, sizeof(*b));
	b->bs = 4096;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--file") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--rw") && i + 1 < argc)
			rw = argv[++i];
		else if (!strcmp(argv[i], "--bs") && i + 1 < argc)
			b->bs = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--qd") && i + 1 < argc)
			qd = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--time") && i + 1 < argc)
			secs = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--direct"))
			direct = true;
		else if (!strcmp(argv[i], "--sync"))
			sync = true;
		else
			usage();
	}
	if (!file || qd == 0 || qd > QSIZE / 2 || b->bs % 512 || b->bs == 0 || b->bs > (1u << 20))
		usage();
	b->write = strstr(rw, "write") != NULL;
	b->random = !strncmp(rw, "rand", 4);
	b->rng = 0x9e3779b97f4a7c15ULL;
	log_set_level(LOG_WARN);

	char err[256];
	struct disk_config cfg = {.path = (char *)file, .direct = direct, .queues = 1,
				  .queue_size = QSIZE};
	if (vblk_create(&cfg, "blk0", &b->dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-blk: %s\n", err);
		return 1;
	}
	vblk_force_sync(b->dev, sync);
	uint64_t cap;
	virtio_read_config(b->dev, 0, &cap, 8);
	b->nblocks = cap * 512 / b->bs;
	if (!b->nblocks || ev_loop_create(&b->loop) < 0 ||
	    vqd_mem_init(&b->m, 0, 2 * (64ULL << 20) + (uint64_t)qd * (4096 + b->bs)) < 0 ||
	    vqd_init(&b->d, &b->m, 0x10000, QSIZE) < 0) {
		fprintf(stderr, "bench-blk: setup failed\n");
		return 1;
	}
	virtio_dev_attach(b->dev, &b->m.gm, b->loop, &irq, b);
	uint8_t st = vqd_negotiate(b->dev, (1ULL << VIRTIO_F_VERSION_1) |
						   (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
						   (1ULL << VIRTIO_RING_F_EVENT_IDX));
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK) || vqd_attach(&b->d, b->dev, 0) < 0) {
		fprintf(stderr, "bench-blk: negotiation failed\n");
		return 1;
	}
	virtio_set_status(b->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	if (!(vqd_settle(b->dev) & VIRTIO_CONFIG_S_DRIVER_OK) || !b->dev->active) {
		fprintf(stderr, "bench-blk: activation failed\n");
		return 1;
	}
	for (unsigned i = 0; i < qd; i++) {
		b->slot_gpa[i] = vqd_alloc(&b->m, 4096 + b->bs, 4096);
		if (!b->slot_gpa[i]) {
			fprintf(stderr, "bench-blk: out of fake guest memory\n");
			return 1;
		}
		memset(vqd_hva(&b->m, b->slot_gpa[i]), 0x5a, 4096 + b->bs);
	}

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	uint64_t t0 = time_now_ns(), end = t0 + (uint64_t)(secs * 1e9);
	for (unsigned i = 0; i < qd; i++)
		if (submit(b, (int)i) < 0)
			return 1;
	virtio_queue_kick(b->dev, 0);
	uint64_t now = t0;
	bool stopping = false;
	unsigned inflight = qd;
	while (inflight) {
		uint32_t id, len;
		unsigned n = 0;
		while (vqd_get_used(&b->d, &id, &len)) {
			int slot = b->slot_of_head[id];
			if (*(uint8_t *)vqd_hva(&b->m, b->slot_gpa[slot] + 512) != VIRTIO_BLK_S_OK)
				b->errors++;
			b->done++;
			inflight--;
			if (!stopping) {
				if (submit(b, slot) < 0)
					return 1;
				inflight++;
				n++;
			}
		}
		if (n)
			virtio_queue_kick(b->dev, 0);
		if ((b->done & 63) == 0 || inflight < qd) {
			now = time_now_ns();
			stopping = now >= end;
		}
		if (inflight && vqd_used_idx(&b->d) == b->d.last_used)
			ev_loop_run_once(b->loop, 100);
	}
	now = time_now_ns();
	getrusage(RUSAGE_SELF, &ru1);
	double el = (double)(now - t0) / 1e9;
	double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		     (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
		     (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	printf("vireo-blk rw=%s bs=%u qd=%u %s%s: %.0f IOPS, %.1f MB/s, %.2f us CPU/req, "
	       "%llu errors\n",
	       rw, b->bs, qd, sync ? "sync" : "io_uring", direct ? " direct" : "",
	       (double)b->done / el, (double)b->done * b->bs / el / 1e6, cpu * 1e6 / (double)b->done,
	       (unsigned long long)b->errors);
	virtio_dev_destroy(b->dev);
	return b->errors ? 1 : 0;
}
