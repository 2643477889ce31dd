/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon (VirtIO 1.2, 5.5).
 *
 * Queues, numbered as the driver numbers them (only those of negotiated features exist):
 * inflateq, deflateq, then statsq (STATS_VQ), then reporting_vq (REPORTING). Free page hinting
 * and page poisoning are not offered.
 *
 *  - inflateq: arrays of le32 4 KiB page frame numbers the guest gave up; each run of
 *    contiguous frames is released on the host with gm_discard() (a hole punched in the guest
 *    RAM memfd), so the host's resident memory falls.
 *  - deflateq: frames the guest takes back; nothing to do (they fault in as zero pages).
 *  - statsq: the driver's buffer of {le16 tag, le64 value} entries. The device keeps the
 *    buffer and returns it (used length 0) when it wants fresh values: every `stats` seconds
 *    and on vbal_request_stats().
 *  - reporting_vq: device-writable buffers, each a free range of guest memory to release
 *    (page-aligned); returned with used length 0 once released.
 *
 * Guest errors that fail the device (NEEDS_RESET): a PFN array whose length is not a
 * multiple of 4 or that names a frame outside guest RAM, a statistics buffer whose length is
 * not a multiple of 10, a reported range that is not page-aligned or not in RAM.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/balloon.h"

#define PAGE 4096u
#define VBAL_QUEUE_SIZE 128u
#define VBAL_CHAIN_CAP 128u
#define STAT_LEN 10u /* sizeof(struct virtio_balloon_stat): packed le16 + le64 */
#define Q_NONE 0xffffu

struct vbal {
	struct virtio_dev vdev; /* first */
	struct virtio_balloon_config cfg;
	uint64_t mem_size;
	unsigned stats_s;
	/* queue roles after negotiation */
	uint16_t q_stats, q_report;
	/* the statistics buffer we hold */
	bool stats_held;
	uint16_t stats_head;
	/* statistics and counters */
	bool stats_valid;
	uint64_t stats_ns;
	uint32_t stats_present;
	uint64_t stats[VBAL_MAX_TAGS];
	uint64_t inflated, deflated, reported, discard_errors;
	/* periodic statistics request */
	struct ev_handler *timer_h;
	struct iovec iov[VBAL_CHAIN_CAP];
};

static struct vbal *to_bal(struct virtio_dev *dev)
{
	return container_of(dev, struct vbal, vdev);
}

static uint64_t mib(uint64_t bytes)
{
	return bytes / (1024 * 1024);
}

/* ---- inflate / deflate ---- */

static void discard(struct vbal *b, uint64_t gpa, uint64_t len)
{
	int r = gm_discard(b->vdev.mem, gpa, len);
	if (r < 0) {
		b->discard_errors++;
		log_rl(LOG_WARN, "%s: cannot release guest memory 0x%llx+0x%llx: %s", b->vdev.name,
		       (unsigned long long)gpa, (unsigned long long)len, strerror(-r));
	}
}

/* One PFN array. Returns false when the guest broke the rules (device failed). */
static bool handle_pfns(struct vbal *b, uint16_t q, const struct vq_chain *ch, bool inflate)
{
	struct vq_cursor c;
	uint64_t run_gpa = 0, run_len = 0;
	uint32_t n = ch->out_len / 4;

	if (ch->out_len % 4) {
		virtio_dev_fail(&b->vdev, "queue %u: PFN array of %u bytes (not a multiple of 4)",
				q, ch->out_len);
		return false;
	}
	vq_reader_init(&c, ch);
	/* Validate every frame before releasing any. */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pfn;
		if (vq_read_obj(&c, &pfn) < 0)
			return false;
		uint64_t gpa = (uint64_t)le32toh(pfn) << VIRTIO_BALLOON_PFN_SHIFT;
		if (!gm_ptr_w(b->vdev.mem, gpa, PAGE)) {
			virtio_dev_fail(&b->vdev, "queue %u: PFN 0x%x is not guest RAM", q,
					le32toh(pfn));
			return false;
		}
	}
	if (!inflate) {
		b->deflated += (uint64_t)n * PAGE;
		return true;
	}
	vq_reader_init(&c, ch);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pfn;
		if (vq_read_obj(&c, &pfn) < 0)
			return false;
		uint64_t gpa = (uint64_t)le32toh(pfn) << VIRTIO_BALLOON_PFN_SHIFT;
		/* Coalesce runs of contiguous frames that stay inside one region. */
		if (run_len && gpa == run_gpa + run_len &&
		    gm_ptr(b->vdev.mem, run_gpa, run_len + PAGE)) {
			run_len += PAGE;
			continue;
		}
		if (run_len)
			discard(b, run_gpa, run_len);
		run_gpa = gpa;
		run_len = PAGE;
	}
	if (run_len)
		discard(b, run_gpa, run_len);
	b->inflated += (uint64_t)n * PAGE;
	return true;
}

static void process_pfn_queue(struct vbal *b, uint16_t q, bool inflate)
{
	struct virtqueue *vq = &b->vdev.queues[q];
	struct vq_chain ch = {.iov = b->iov, .cap = VBAL_CHAIN_CAP};
	bool pushed = false;

	while (vq_pop(vq, &ch) > 0) {
		if (!handle_pfns(b, q, &ch, inflate))
			return;
		vq_push(vq, ch.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(&b->vdev, q);
}

/* ---- statistics ---- */

static void process_stats(struct vbal *b)
{
	struct virtqueue *vq = &b->vdev.queues[b->q_stats];
	struct vq_chain ch = {.iov = b->iov, .cap = VBAL_CHAIN_CAP};
	struct vq_cursor c;

	while (vq_pop(vq, &ch) > 0) {
		if (ch.out_len % STAT_LEN) {
			virtio_dev_fail(
			    &b->vdev,
			    "queue %u: statistics buffer of %u bytes (not a multiple of %u)",
			    b->q_stats, ch.out_len, STAT_LEN);
			return;
		}
		if (b->stats_held) {
			/* The driver has one buffer; a second one is not ours to keep. */
			vq_push(vq, b->stats_head, 0);
			virtio_notify_queue(&b->vdev, b->q_stats);
		}
		b->stats_held = true;
		b->stats_head = ch.head;
		vq_reader_init(&c, &ch);
		b->stats_present = 0;
		for (uint32_t i = 0; i < ch.out_len / STAT_LEN; i++) {
			uint8_t raw[STAT_LEN];
			uint16_t tag;
			uint64_t val;
			if (vq_cursor_read(&c, raw, sizeof(raw)) < 0)
				break;
			memcpy(&tag, raw, 2);
			memcpy(&val, raw + 2, 8);
			tag = le16toh(tag);
			if (tag >= VBAL_MAX_TAGS)
				continue;
			b->stats[tag] = le64toh(val);
			b->stats_present |= 1u << tag;
		}
		b->stats_valid = true;
		b->stats_ns = time_now_ns();
		log_debug("%s: stats: target=%llu MiB actual=%llu MiB memtot=%llu memfree=%llu "
			  "avail=%llu caches=%llu majflt=%llu minflt=%llu",
			  b->vdev.name,
			  (unsigned long long)mib((uint64_t)le32toh(b->cfg.num_pages) * PAGE),
			  (unsigned long long)mib((uint64_t)le32toh(b->cfg.actual) * PAGE),
			  (unsigned long long)b->stats[VIRTIO_BALLOON_S_MEMTOT],
			  (unsigned long long)b->stats[VIRTIO_BALLOON_S_MEMFREE],
			  (unsigned long long)b->stats[VIRTIO_BALLOON_S_AVAIL],
			  (unsigned long long)b->stats[VIRTIO_BALLOON_S_CACHES],
			  (unsigned long long)b->stats[VIRTIO_BALLOON_S_MAJFLT],
			  (unsigned long long)b->stats[VIRTIO_BALLOON_S_MINFLT]);
	}
}

static void request_stats_locked(struct vbal *b)
{
	struct virtio_dev *dev = &b->vdev;
	if (!b->stats_held || !dev->active || dev->failed || b->q_stats == Q_NONE ||
	    !dev->queues[b->q_stats].ready)
		return;
	b->stats_held = false;
	vq_push(&dev->queues[b->q_stats], b->stats_head, 0);
	virtio_notify_queue(dev, b->q_stats);
}

void vbal_request_stats(struct virtio_dev *dev)
{
	virtio_dev_lock(dev);
	request_stats_locked(to_bal(dev));
	virtio_dev_unlock(dev);
}

static void timer_cb(void *opaque, uint32_t events)
{
	struct vbal *b = opaque;
	(void)events;
	vbal_request_stats(&b->vdev);
}

/* ---- free page reporting ---- */

static void process_report(struct vbal *b)
{
	struct virtqueue *vq = &b->vdev.queues[b->q_report];
	struct vq_chain ch = {.iov = b->iov, .cap = VBAL_CHAIN_CAP};
	bool pushed = false;

	while (vq_pop(vq, &ch) > 0) {
		uint32_t n = ch.nr_out + ch.nr_in;
		uint64_t gpa[VBAL_CHAIN_CAP];
		/* Validate every range before releasing any. */
		for (uint32_t i = 0; i < n; i++) {
			const struct iovec *v = &ch.iov[i];
			if (gm_hva_to_gpa(b->vdev.mem, v->iov_base, v->iov_len, &gpa[i]) < 0 ||
			    ((gpa[i] | v->iov_len) & (PAGE - 1)) ||
			    !gm_ptr_w(b->vdev.mem, gpa[i], v->iov_len)) {
				virtio_dev_fail(&b->vdev,
						"queue %u: reported range %u (%zu bytes) is not "
						"page-aligned RAM",
						b->q_report, i, v->iov_len);
				return;
			}
		}
		for (uint32_t i = 0; i < n; i++) {
			discard(b, gpa[i], ch.iov[i].iov_len);
			b->reported += ch.iov[i].iov_len;
		}
		vq_push(vq, ch.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(&b->vdev, b->q_report);
}

/* ---- virtio ops ---- */

static void vbal_queue_notify(struct virtio_dev *dev, uint16_t q)
{
	struct vbal *b = to_bal(dev);
	if (q == 0 || q == 1)
		process_pfn_queue(b, q, q == 0);
	else if (q == b->q_stats)
		process_stats(b);
	else if (q == b->q_report)
		process_report(b);
}

static int vbal_activate(struct virtio_dev *dev, const struct virtio_ctx *ctx)
{
	struct vbal *b = to_bal(dev);
	uint16_t next = 2;

	b->q_stats = b->q_report = Q_NONE;
	if (virtio_has_feature(dev, VIRTIO_BALLOON_F_STATS_VQ))
		b->q_stats = next++;
	if (virtio_has_feature(dev, VIRTIO_BALLOON_F_REPORTING))
		b->q_report = next++;
	if (next > dev->nr_queues)
		return -EINVAL; /* cannot happen: features are a subset of ours */
	/* Linux primes the stats queue (and may fill others) before DRIVER_OK, when its kick
	 * does not reach a device that is not live yet: take what is there now. */
	for (uint16_t q = 0; q < next; q++)
		if (ctx->queues[q].ready)
			vbal_queue_notify(dev, q);
	/* The timer lives until the device is destroyed (ev_del is for the loop thread). */
	if (b->stats_s && b->q_stats != Q_NONE && !b->timer_h && ctx->loop) {
		uint64_t ns = (uint64_t)b->stats_s * 1000000000ULL;
		return ev_timer_add(ctx->loop, ns, ns, timer_cb, b, &b->timer_h);
	}
	return 0;
}

/* Nothing of this device runs outside the loop thread: the reset is complete at once. */
static int vbal_reset(struct virtio_dev *dev, bool wait)
{
	(void)wait;
	struct vbal *b = to_bal(dev);
	b->stats_held = false;
	b->cfg.actual = 0;
	return 0;
}

static void vbal_write_config(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
	struct vbal *b = to_bal(dev);
	const uint32_t a = offsetof(struct virtio_balloon_config, actual);
	uint8_t *cfg = (uint8_t *)&b->cfg;
	uint32_t old = le32toh(b->cfg.actual);
	/* Only `actual` is the driver's to write. */
	for (uint32_t i = 0; i < len; i++)
		if (off + i >= a && off + i < a + 4)
			cfg[off + i] = ((const uint8_t *)data)[i];
	uint32_t now = le32toh(b->cfg.actual);
	if (now != old && now == le32toh(b->cfg.num_pages))
		log_info("%s: balloon at its target, %llu MiB", dev->name,
			 (unsigned long long)mib((uint64_t)now * PAGE));
}

static void vbal_destroy(struct virtio_dev *dev)
{
	struct vbal *b = to_bal(dev);
	if (b->timer_h)
		ev_del(dev->loop, b->timer_h);
	free(b);
}

/* vm.counters (under the device lock, which is recursive) */
static void vbal_counters(struct virtio_dev *dev, void (*emit)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	struct vbal_info i;
	vbal_get_info(dev, &i);
	emit(ctx, "target_bytes", i.target_bytes);
	emit(ctx, "actual_bytes", i.actual_bytes);
	emit(ctx, "inflated_bytes", i.inflated_bytes);
	emit(ctx, "deflated_bytes", i.deflated_bytes);
	emit(ctx, "reported_bytes", i.reported_bytes);
	emit(ctx, "discard_errors", i.discard_errors);
	/* The driver's last statistics report (VIRTIO_BALLOON_F_STATS_VQ), under the UAPI's own
	 * names: stats_free-memory, stats_total-memory, ... (bytes or counts, as the spec says). */
	static const char *const names[] = VIRTIO_BALLOON_S_NAMES_WITH_PREFIX("stats_");
	if (!i.stats_valid)
		return;
	emit(ctx, "stats_age_ms", i.stats_age_ns / 1000000);
	for (unsigned t = 0; t < ARRAY_SIZE(names) && t < VBAL_MAX_TAGS; t++)
		if (i.stats_present & (1u << t))
			emit(ctx, names[t], i.stats[t]);
}

static const struct virtio_dev_ops vbal_ops = {
    .counters = vbal_counters,
    .activate = vbal_activate,
    .reset = vbal_reset,
    .write_config = vbal_write_config,
    .queue_notify = vbal_queue_notify,
    .destroy = vbal_destroy,
};

int vbal_create(const struct balloon_config *cfg, uint64_t mem_size, const char *name,
		struct virtio_dev **out, char *err, size_t errlen)
{
	if (cfg->size > mem_size) {
		snprintf(err, errlen, "--balloon size=%llu MiB: more than the guest's %llu MiB",
			 (unsigned long long)mib(cfg->size), (unsigned long long)mib(mem_size));
		return -EINVAL;
	}
	struct vbal *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	b->mem_size = mem_size;
	b->stats_s = cfg->stats_s;
	b->q_stats = b->q_report = Q_NONE;
	b->cfg.num_pages = htole32((uint32_t)(cfg->size / PAGE));
	uint64_t f = 1ULL << VIRTIO_BALLOON_F_STATS_VQ;
	uint16_t nq = 3;
	if (cfg->deflate_on_oom)
		f |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (cfg->free_page_reporting) {
		f |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
		nq++;
	}
	int r = virtio_dev_init(&b->vdev, &vbal_ops, name, VIRTIO_ID_BALLOON, f, nq,
				VBAL_QUEUE_SIZE, &b->cfg, sizeof(b->cfg));
	if (r < 0) {
		free(b);
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
		return r;
	}
	*out = &b->vdev;
	return 0;
}

int vbal_set_target(struct virtio_dev *dev, uint64_t bytes)
{
	struct vbal *b = to_bal(dev);
	if (bytes > b->mem_size)
		return -EINVAL;
	virtio_dev_lock(dev);
	uint32_t pages = (uint32_t)(bytes / PAGE);
	if (pages != le32toh(b->cfg.num_pages)) {
		b->cfg.num_pages = htole32(pages);
		log_info("%s: target %llu MiB", dev->name, (unsigned long long)mib(bytes));
		if (dev->active && !dev->failed)
			virtio_notify_config(dev);
	}
	virtio_dev_unlock(dev);
	return 0;
}

void vbal_get_info(struct virtio_dev *dev, struct vbal_info *o)
{
	struct vbal *b = to_bal(dev);
	memset(o, 0, sizeof(*o));
	virtio_dev_lock(dev);
	o->target_bytes = (uint64_t)le32toh(b->cfg.num_pages) * PAGE;
	o->actual_bytes = (uint64_t)le32toh(b->cfg.actual) * PAGE;
	o->inflated_bytes = b->inflated;
	o->deflated_bytes = b->deflated;
	o->reported_bytes = b->reported;
	o->discard_errors = b->discard_errors;
	o->deflate_on_oom = virtio_has_feature(dev, VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	o->free_page_reporting = virtio_has_feature(dev, VIRTIO_BALLOON_F_REPORTING);
	o->stats_valid = b->stats_valid;
	if (b->stats_valid)
		o->stats_age_ns = time_now_ns() - b->stats_ns;
	o->stats_present = b->stats_present;
	memcpy(o->stats, b->stats, sizeof(o->stats));
	virtio_dev_unlock(dev);
}
