/* SPDX-License-Identifier: MIT */
/* vhost-user back-end: protocol state machine over a virtio_dev (see backend.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "mem/fault_guard.h"
#include "mem/guest_mem.h"
#include "virtio/virtio.h"
#include "vhost_user/backend.h"

#define VU_OFFERED_PROTOCOL_FEATURES                                                               \
	((1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_REPLY_ACK) |                          \
	 (1ULL << VU_PROTOCOL_F_CONFIG) | (1ULL << VU_PROTOCOL_F_RESET_DEVICE))
/* A front-end that stalls mid-message for this long is dropped. */
#define VU_RECV_TIMEOUT_S 5

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	void *map;
	size_t map_len;
	struct gm_guard *guard; /* a shrunk file faults into anonymous memory, not SIGBUS */
};

/* One memory table: the regions as the front-end described them plus the guest_mem view. */
struct vu_memtab {
	struct vu_region regions[VU_MAX_MEM_REGIONS];
	unsigned nr;
	struct guest_mem gm;
};

struct vu_queue {
	struct vu_backend *vb;
	uint16_t index;
	int kick_fd;
	int call_fd;
	int err_fd;
	struct ev_handler *kick_h;
	bool kick_set;
	bool enabled;
	bool started;
	uint16_t seen_idx; /* last_avail_idx when `requests` was last brought up to date */
	uint64_t requests;
};

struct vu_backend {
	struct virtio_dev *dev;
	struct ev_loop *loop;
	char name[32];
	uint16_t nr_queues;

	int listen_fd;
	struct ev_handler *listen_h;
	char *sock_path;
	int conn_fd;
	struct ev_handler *conn_h;
	int fault_fd; /* eventfd: a guarded region faulted (the front-end shrank its memory) */
	struct ev_handler *fault_h;

	bool owner;
	bool features_set;
	uint64_t features;
	uint64_t protocol_features;

	struct vu_memtab mem[2]; /* double-buffered: the old table is unmapped after the swap */
	unsigned cur;

	struct vu_queue q[VU_MAX_QUEUES];

	const struct vu_backend_hooks *hooks;
	void *hooks_opaque;
};

static void vu_notify_queue(void *opaque, uint16_t q)
{
	struct vu_backend *vb = opaque;
	uint64_t one = 1;

	if (q >= vb->nr_queues || vb->q[q].call_fd < 0)
		return;
	if (write(vb->q[q].call_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the front-end will see it anyway */
	}
}

static void vu_notify_config(void *opaque)
{
	struct vu_backend *vb = opaque;
	uint64_t one = 1;

	if (!vb->dev->failed) {
		/* A config change needs the back-end request channel, which is not offered;
		 * the front-end reads config again on its own. */
		log_rl(LOG_INFO, "%s: config change not forwarded (no back-end channel)", vb->name);
		return;
	}
	/* The device went to NEEDS_RESET (a guest broke the rules): tell the front-end
	 * through each queue's error eventfd (QEMU logs it). */
	for (unsigned i = 0; i < vb->nr_queues; i++)
		if (vb->q[i].err_fd >= 0 && write(vb->q[i].err_fd, &one, sizeof(one)) < 0) {
			/* saturated: already signalled */
		}
}

static const struct virtio_irq_ops vu_irq_ops = {
    .notify_queue = vu_notify_queue,
    .notify_config = vu_notify_config,
};

static void vu_no_notify_queue(void *opaque, uint16_t q)
{
}

static void vu_no_notify_config(void *opaque)
{
}

static const struct virtio_irq_ops vu_no_irq_ops = {
    .notify_queue = vu_no_notify_queue,
    .notify_config = vu_no_notify_config,
};
static const struct guest_mem vu_no_mem;

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void memtab_clear(struct vu_memtab *t)
{
	for (unsigned i = 0; i < t->nr; i++) {
		gm_guard_remove(t->regions[i].guard);
		munmap(t->regions[i].map, t->regions[i].map_len);
	}
	t->nr = 0;
	gm_init(&t->gm);
}

static struct vu_memtab *cur_mem(const struct vu_backend *vb)
{
	return (struct vu_memtab *)&vb->mem[vb->cur];
}

const struct guest_mem *vu_backend_mem(const struct vu_backend *vb)
{
	return &vb->mem[vb->cur].gm;
}

uint16_t vu_backend_nr_queues(const struct vu_backend *vb)
{
	return vb->nr_queues;
}

uint64_t vu_backend_queue_requests(struct vu_backend *vb, uint16_t q)
{
	if (q >= vb->nr_queues)
		return 0;
	uint64_t n = vb->q[q].requests;
	if (vb->q[q].started)
		n += (uint16_t)(virtio_queue_get_last_avail(vb->dev, q) - vb->q[q].seen_idx);
	return n;
}

int vu_backend_uaddr_to_gpa(const struct vu_backend *vb, uint64_t uaddr, uint64_t len,
			    uint64_t *gpa)
{
	const struct vu_memtab *t = &vb->mem[vb->cur];
	for (unsigned i = 0; i < t->nr; i++) {
		const struct vu_region *r = &t->regions[i];
		if (uaddr < r->uaddr || uaddr - r->uaddr >= r->size)
			continue;
		if (len > r->size - (uaddr - r->uaddr))
			return -EFAULT;
		*gpa = r->gpa + (uaddr - r->uaddr);
		return 0;
	}
	return -EFAULT;
}

/* ---- rings ---- */

static void kick_cb(void *opaque, uint32_t events)
{
	struct vu_queue *q = opaque;
	uint64_t v;

	if (read(q->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		/* a broken kick fd: the next SET_VRING_KICK replaces it */
	}
	virtio_queue_kick(q->vb->dev, q->index);
	/* Count consumed requests often enough that the 16-bit index cannot wrap unseen. */
	uint16_t idx = virtio_queue_get_last_avail(q->vb->dev, q->index);
	q->requests += (uint16_t)(idx - q->seen_idx);
	q->seen_idx = idx;
}

static void ring_stop(struct vu_backend *vb, struct vu_queue *q)
{
	if (!q->started)
		return;
	ev_del(vb->loop, q->kick_h);
	q->kick_h = NULL;
	uint16_t idx = virtio_queue_stop(vb->dev, q->index);
	q->requests += (uint16_t)(idx - q->seen_idx);
	q->started = false;
}

static int ring_maybe_start(struct vu_backend *vb, struct vu_queue *q, char *why, size_t whylen)
{
	int r;

	if (q->started || !q->kick_set || !q->enabled)
		return 0;
	if (!vb->features_set) {
		snprintf(why, whylen, "queue %u started before SET_FEATURES", q->index);
		return -EINVAL;
	}
	if (!vb->dev->active) {
		r = virtio_dev_activate(vb->dev);
		if (r < 0) {
			snprintf(why, whylen, "device activation failed: %s", strerror(-r));
			return r;
		}
	}
	r = virtio_queue_enable(vb->dev, q->index);
	if (r < 0) {
		snprintf(why, whylen, "queue %u: ring geometry rejected (size %u)", q->index,
			 virtio_queue_get_size(vb->dev, q->index));
		return r;
	}
	if (q->kick_fd >= 0) {
		r = ev_add(vb->loop, q->kick_fd, EPOLLIN, kick_cb, q, &q->kick_h);
		if (r < 0) {
			(void)virtio_queue_stop(vb->dev, q->index);
			snprintf(why, whylen, "queue %u: cannot watch kick fd: %s", q->index,
				 strerror(-r));
			return r;
		}
	}
	q->seen_idx = virtio_queue_get_last_avail(vb->dev, q->index);
	q->started = true;
	/* Buffers made available before the ring started are processed now. */
	virtio_queue_kick(vb->dev, q->index);
	return 0;
}

static bool any_ring_started(const struct vu_backend *vb)
{
	for (unsigned i = 0; i < vb->nr_queues; i++)
		if (vb->q[i].started)
			return true;
	return false;
}

/* Stop rings and reset the device; connection-level state (fds, memory) is kept. */
static void device_reset(struct vu_backend *vb)
{
	for (unsigned i = 0; i < vb->nr_queues; i++)
		ring_stop(vb, &vb->q[i]);
	virtio_reset(vb->dev);
	virtio_dev_attach(vb->dev, &cur_mem(vb)->gm, vb->loop, &vu_irq_ops, vb);
	vb->features_set = false;
	for (unsigned i = 0; i < vb->nr_queues; i++) {
		vb->q[i].enabled = false;
		vb->q[i].kick_set = false;
		close_fd(&vb->q[i].kick_fd);
	}
}

/* ---- requests ---- */

static int set_mem_table(struct vu_backend *vb, const struct vu_mem_table *t, int *fds, char *why,
			 size_t whylen)
{
	struct vu_memtab *nt = &vb->mem[vb->cur ^ 1];
	int r = 0;

	memtab_clear(nt);
	for (unsigned i = 0; i < t->nregions; i++) {
		const struct vu_mem_region *mr = &t->regions[i];
		struct stat st;
		uint64_t len = mr->mmap_offset + mr->size; /* no wrap: validated */

		if (fstat(fds[i], &st) < 0) {
			r = -errno;
			snprintf(why, whylen, "region %u: fstat: %s", i, strerror(errno));
			goto fail;
		}
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < len) {
			snprintf(why, whylen, "region %u: fd holds %llu bytes, needs %llu", i,
				 (unsigned long long)st.st_size, (unsigned long long)len);
			r = -EINVAL;
			goto fail;
		}
		if (len > SIZE_MAX) {
			r = -EINVAL;
			goto fail;
		}
		void *map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (map == MAP_FAILED) {
			r = -errno;
			snprintf(why, whylen, "region %u: mmap of %llu bytes: %s", i,
				 (unsigned long long)len, strerror(errno));
			goto fail;
		}
		nt->regions[nt->nr++] =
		    (struct vu_region){mr->gpa, mr->size, mr->uaddr, map, (size_t)len, NULL};
		r = gm_guard_add(map, (size_t)len, vb->fault_fd, &nt->regions[nt->nr - 1].guard);
		if (r < 0) {
			snprintf(why, whylen, "region %u: cannot guard the mapping: %s", i,
				 strerror(-r));
			goto fail;
		}
		r = gm_add_region(&nt->gm, mr->gpa, mr->size, (uint8_t *)map + mr->mmap_offset, -1,
				  0, false);
		if (r < 0) {
			snprintf(why, whylen, "region %u: rejected by the memory map: %s", i,
				 strerror(-r));
			goto fail;
		}
	}
	for (unsigned i = 0; i < t->nregions; i++)
		close_fd(&fds[i]);
	/* Running rings are stopped (their in-flight I/O drained) across the switch, so no
	 * request still targets the old mappings when they go. */
	bool was_started[VU_MAX_QUEUES];
	for (unsigned i = 0; i < vb->nr_queues; i++) {
		was_started[i] = vb->q[i].started;
		ring_stop(vb, &vb->q[i]);
	}
	r = virtio_dev_set_mem(vb->dev, &nt->gm);
	if (r < 0) {
		snprintf(why, whylen, "new memory table does not hold the rings");
		memtab_clear(nt);
		return r;
	}
	vb->cur ^= 1;
	memtab_clear(&vb->mem[vb->cur ^ 1]);
	for (unsigned i = 0; i < vb->nr_queues; i++) {
		if (!was_started[i])
			continue;
		r = ring_maybe_start(vb, &vb->q[i], why, whylen);
		if (r < 0)
			return r;
	}
	return 0;
fail:
	memtab_clear(nt);
	return r;
}

static int set_vring_addr(struct vu_backend *vb, const struct vu_vring_addr *a, char *why,
			  size_t whylen)
{
	uint16_t q = (uint16_t)a->index;
	uint64_t n = virtio_queue_get_size(vb->dev, q);
	uint64_t desc, avail, used;
	int r;

	if (vb->q[q].started) {
		snprintf(why, whylen, "queue %u: address change while the ring runs", q);
		return -EBUSY;
	}
	if (vu_backend_uaddr_to_gpa(vb, a->desc_uaddr, 16 * n, &desc) < 0 ||
	    vu_backend_uaddr_to_gpa(vb, a->avail_uaddr, 6 + 2 * n, &avail) < 0 ||
	    vu_backend_uaddr_to_gpa(vb, a->used_uaddr, 6 + 8 * n, &used) < 0) {
		snprintf(why, whylen,
			 "queue %u: ring addresses 0x%llx/0x%llx/0x%llx (size %llu) outside guest "
			 "memory",
			 q, (unsigned long long)a->desc_uaddr, (unsigned long long)a->avail_uaddr,
			 (unsigned long long)a->used_uaddr, (unsigned long long)n);
		return -EFAULT;
	}
	r = virtio_queue_set_addr(vb->dev, q, VIRTIO_RING_DESC, desc);
	if (r >= 0)
		r = virtio_queue_set_addr(vb->dev, q, VIRTIO_RING_AVAIL, avail);
	if (r >= 0)
		r = virtio_queue_set_addr(vb->dev, q, VIRTIO_RING_USED, used);
	if (r < 0)
		snprintf(why, whylen, "queue %u: addresses rejected: %s", q, strerror(-r));
	return r;
}

static int set_vring_fd(struct vu_backend *vb, uint32_t req, uint64_t val, int *fds, char *why,
			size_t whylen)
{
	struct vu_queue *q = &vb->q[val & VU_VRING_IDX_MASK];
	int fd = (val & VU_VRING_NOFD_MASK) ? -1 : fds[0];

	fds[0] = -1;
	switch (req) {
	case VU_SET_VRING_KICK:
		if (fd < 0) {
			snprintf(why, whylen, "queue %u: polling mode (no kick fd) unsupported",
				 q->index);
			return -EOPNOTSUPP;
		}
		if (q->started) {
			ev_del(vb->loop, q->kick_h);
			q->kick_h = NULL;
		}
		close_fd(&q->kick_fd);
		q->kick_fd = fd;
		q->kick_set = true;
		if (!(vb->features & (1ULL << VU_F_PROTOCOL_FEATURES)))
			q->enabled = true; /* without the extension rings start enabled */
		if (q->started) {
			int r = ev_add(vb->loop, q->kick_fd, EPOLLIN, kick_cb, q, &q->kick_h);
			if (r < 0) {
				snprintf(why, whylen, "queue %u: cannot watch kick fd", q->index);
				return r;
			}
			virtio_queue_kick(vb->dev, q->index);
			return 0;
		}
		return ring_maybe_start(vb, q, why, whylen);
	case VU_SET_VRING_CALL:
		virtio_dev_lock(vb->dev);
		close_fd(&q->call_fd);
		q->call_fd = fd;
		virtio_dev_unlock(vb->dev);
		return 0;
	default: /* VU_SET_VRING_ERR */
		close_fd(&q->err_fd);
		q->err_fd = fd;
		return 0;
	}
}

static int set_features(struct vu_backend *vb, uint64_t f, char *why, size_t whylen)
{
	uint64_t offered = virtio_device_features(vb->dev) | (1ULL << VU_F_PROTOCOL_FEATURES);

	/* QEMU 7.2's vhost-user-gpu front-end passes its transport's VIRTIO_F_RING_RESET on
	 * without asking (its vhost-user backend object filters no feature bits). The rings are
	 * the front-end's to reset here (it stops and restarts them), so the bit is dropped. */
	if ((f & ~offered) == (1ULL << VIRTIO_F_RING_RESET)) {
		log_info("%s: front-end sets VIRTIO_F_RING_RESET, never offered: ignored",
			 vb->name);
		f &= ~(1ULL << VIRTIO_F_RING_RESET);
	}
	uint64_t dev_f = f & ~(1ULL << VU_F_PROTOCOL_FEATURES);
	if (f & ~offered) {
		snprintf(why, whylen, "features 0x%llx not offered (0x%llx)", (unsigned long long)f,
			 (unsigned long long)offered);
		return -EINVAL;
	}
	if (vb->dev->active) {
		if (any_ring_started(vb)) {
			if (dev_f == vb->dev->features) {
				vb->features = f;
				return 0;
			}
			snprintf(why, whylen, "feature change while rings run");
			return -EBUSY;
		}
		/* A restart after every ring stopped: begin again from a reset device, keeping
		 * the ring state the front-end sends next. */
		log_info("%s: front-end restarts the device", vb->name);
		device_reset(vb);
	}
	int r = virtio_set_features(vb->dev, dev_f);
	if (r < 0) {
		snprintf(why, whylen, "features 0x%llx rejected by the device",
			 (unsigned long long)dev_f);
		return r;
	}
	vb->features = f;
	vb->features_set = true;
	return 0;
}

static int reply(struct vu_backend *vb, const struct vu_msg *req, const void *payload,
		 uint32_t size)
{
	struct vu_msg m;

	m.hdr.request = req->hdr.request;
	m.hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	m.hdr.size = size;
	memcpy(&m.p, payload, size);
	if (vb->conn_fd < 0)
		return 0; /* fuzzer/tests without a peer */
	return vu_msg_send(vb->conn_fd, &m, NULL, 0);
}

static int reply_u64(struct vu_backend *vb, const struct vu_msg *req, uint64_t v)
{
	return reply(vb, req, &v, sizeof(v));
}

int vu_backend_handle(struct vu_backend *vb, struct vu_msg *msg, int *fds, unsigned nfds, char *why,
		      size_t whylen)
{
	int r = vu_msg_validate(msg, nfds, vb->nr_queues, why, whylen);
	bool replied = false;

	if (r < 0)
		goto out;
	union vu_payload *p = &msg->p;
	switch (msg->hdr.request) {
	case VU_GET_FEATURES:
		r = reply_u64(vb, msg,
			      virtio_device_features(vb->dev) | (1ULL << VU_F_PROTOCOL_FEATURES));
		replied = true;
		break;
	case VU_SET_FEATURES:
		r = set_features(vb, p->u64, why, whylen);
		break;
	case VU_GET_PROTOCOL_FEATURES:
		r = reply_u64(vb, msg, VU_OFFERED_PROTOCOL_FEATURES);
		replied = true;
		break;
	case VU_SET_PROTOCOL_FEATURES:
		if (p->u64 & ~VU_OFFERED_PROTOCOL_FEATURES) {
			snprintf(why, whylen, "protocol features 0x%llx not offered",
				 (unsigned long long)p->u64);
			r = -EINVAL;
			break;
		}
		vb->protocol_features = p->u64;
		break;
	case VU_SET_OWNER:
		vb->owner = true;
		break;
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		device_reset(vb);
		if (msg->hdr.request == VU_RESET_OWNER)
			vb->owner = false;
		break;
	case VU_GET_QUEUE_NUM:
		r = reply_u64(vb, msg, vb->nr_queues);
		replied = true;
		break;
	case VU_GET_MAX_MEM_SLOTS:
		r = reply_u64(vb, msg, VU_MAX_MEM_REGIONS);
		replied = true;
		break;
	case VU_SET_MEM_TABLE:
		r = set_mem_table(vb, &p->mem, fds, why, whylen);
		break;
	case VU_SET_VRING_NUM:
		if (p->state.num == 0 || p->state.num > VQ_MAX_SIZE || !IS_POW2(p->state.num)) {
			snprintf(why, whylen, "queue %u: size %u", p->state.index, p->state.num);
			r = -EINVAL;
			break;
		}
		r = virtio_queue_set_size(vb->dev, (uint16_t)p->state.index,
					  (uint16_t)p->state.num);
		if (r < 0)
			snprintf(why, whylen, "queue %u: size %u rejected (max %u)", p->state.index,
				 p->state.num, virtio_queue_max(vb->dev, (uint16_t)p->state.index));
		break;
	case VU_SET_VRING_ADDR:
		r = set_vring_addr(vb, &p->addr, why, whylen);
		break;
	case VU_SET_VRING_BASE:
		if (p->state.num > 0xffff) {
			snprintf(why, whylen, "queue %u: base %u", p->state.index, p->state.num);
			r = -EINVAL;
			break;
		}
		r = virtio_queue_set_last_avail(vb->dev, (uint16_t)p->state.index,
						(uint16_t)p->state.num);
		if (r < 0)
			snprintf(why, whylen, "queue %u: base set while the ring runs",
				 p->state.index);
		break;
	case VU_GET_VRING_BASE: {
		struct vu_queue *q = &vb->q[p->state.index];
		ring_stop(vb, q);
		if (q->kick_h)
			ev_del(vb->loop, q->kick_h);
		q->kick_h = NULL;
		close_fd(&q->kick_fd);
		q->kick_set = false;
		struct vu_vring_state st = {p->state.index,
					    virtio_queue_get_last_avail(vb->dev, q->index)};
		r = reply(vb, msg, &st, sizeof(st));
		replied = true;
		break;
	}
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		r = set_vring_fd(vb, msg->hdr.request, p->u64, fds, why, whylen);
		break;
	case VU_SET_VRING_ENABLE: {
		struct vu_queue *q = &vb->q[p->state.index];
		if (p->state.num > 1) {
			snprintf(why, whylen, "queue %u: enable value %u", q->index, p->state.num);
			r = -EINVAL;
			break;
		}
		q->enabled = p->state.num;
		if (q->enabled)
			r = ring_maybe_start(vb, q, why, whylen);
		else
			ring_stop(vb, q);
		break;
	}
	case VU_GET_CONFIG: {
		struct vu_config c;
		memset(&c, 0, sizeof(c));
		c.offset = p->config.offset;
		c.size = p->config.size;
		c.flags = p->config.flags;
		virtio_read_config(vb->dev, c.offset, c.data, c.size);
		r = reply(vb, msg, &c, VU_CONFIG_HDR_SIZE + c.size);
		replied = true;
		break;
	}
	case VU_SET_CONFIG:
		virtio_write_config(vb->dev, p->config.offset, p->config.data, p->config.size);
		break;
	case VU_GPU_SET_SOCKET:
		if (!vb->hooks || !vb->hooks->gpu_set_socket) {
			snprintf(why, whylen, "not a GPU back-end");
			r = -EINVAL;
			break;
		}
		r = vb->hooks->gpu_set_socket(vb->hooks_opaque, fds[0], why, whylen);
		fds[0] = -1;
		break;
	default: /* vu_msg_validate rejects everything else */
		r = -EINVAL;
		break;
	}
	if (r < 0 && why[0] == '\0')
		snprintf(why, whylen, "failed: %s", strerror(-r));
	if (!replied && (msg->hdr.flags & VU_FLAG_NEED_REPLY) &&
	    (vb->protocol_features & (1ULL << VU_PROTOCOL_F_REPLY_ACK))) {
		int s = reply_u64(vb, msg, r < 0 ? 1 : 0);
		if (s < 0 && r >= 0) {
			snprintf(why, whylen, "reply: %s", strerror(-s));
			r = s;
		}
	}
out:
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

/* ---- connection and server ---- */

static int listen_resume(struct vu_backend *vb);

static void conn_cb(void *opaque, uint32_t events)
{
	struct vu_backend *vb = opaque;
	struct vu_msg msg;
	int fds[VU_MAX_FDS];
	unsigned nfds = 0;
	char why[200] = "";

	int r = vu_msg_recv(vb->conn_fd, &msg, fds, &nfds);
	if (r == 0) {
		log_info("%s: front-end disconnected", vb->name);
		vu_backend_disconnect(vb);
		return;
	}
	if (r < 0) {
		log_warn("%s: receive failed (%s); closing connection", vb->name, strerror(-r));
		vu_backend_disconnect(vb);
		return;
	}
	r = vu_backend_handle(vb, &msg, fds, nfds, why, sizeof(why));
	if (r < 0) {
		log_warn("%s: %s: %s; closing connection", vb->name,
			 vu_request_name(msg.hdr.request), why);
		vu_backend_disconnect(vb);
	}
}

/* A guarded region faulted: the front-end shrank the file behind its guest memory. */
static void fault_cb(void *opaque, uint32_t events)
{
	struct vu_backend *vb = opaque;
	uint64_t v;

	if (read(vb->fault_fd, &v, sizeof(v)) < 0) {
		/* spurious */
	}
	for (unsigned t = 0; t < 2; t++) {
		for (unsigned i = 0; i < vb->mem[t].nr; i++) {
			if (!gm_guard_tripped(vb->mem[t].regions[i].guard))
				continue;
			log_warn("%s: guest memory region %u (gpa 0x%llx) was truncated by the "
				 "front-end; closing connection",
				 vb->name, i, (unsigned long long)vb->mem[t].regions[i].gpa);
			if (vb->conn_fd >= 0)
				vu_backend_disconnect(vb);
			return;
		}
	}
}

void vu_backend_set_hooks(struct vu_backend *vb, const struct vu_backend_hooks *hooks, void *opaque)
{
	vb->hooks = hooks;
	vb->hooks_opaque = opaque;
}

bool vu_backend_connected(const struct vu_backend *vb)
{
	return vb->conn_fd >= 0;
}

int vu_backend_attach_conn(struct vu_backend *vb, int fd)
{
	struct timeval tv = {VU_RECV_TIMEOUT_S, 0};

	if (vb->conn_fd >= 0)
		return -EBUSY;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		/* a socketpair in tests may not care; the timeout is a safety net */
	}
	int r = ev_add(vb->loop, fd, EPOLLIN, conn_cb, vb, &vb->conn_h);
	if (r < 0)
		return r;
	vb->conn_fd = fd;
	if (vb->listen_h) {
		ev_del(vb->loop, vb->listen_h);
		vb->listen_h = NULL;
	}
	return 0;
}

void vu_backend_disconnect(struct vu_backend *vb)
{
	device_reset(vb);
	for (unsigned i = 0; i < vb->nr_queues; i++) {
		struct vu_queue *q = &vb->q[i];
		virtio_dev_lock(vb->dev);
		close_fd(&q->call_fd);
		virtio_dev_unlock(vb->dev);
		close_fd(&q->err_fd);
	}
	/* The device no longer touches guest memory: unmap it. */
	vb->cur ^= 1;
	memtab_clear(cur_mem(vb));
	if (virtio_dev_set_mem(vb->dev, &cur_mem(vb)->gm) < 0) {
		/* no ring is ready after the reset: cannot fail */
	}
	memtab_clear(&vb->mem[vb->cur ^ 1]);
	vb->owner = false;
	vb->features = 0;
	vb->protocol_features = 0;
	if (vb->hooks && vb->hooks->disconnected)
		vb->hooks->disconnected(vb->hooks_opaque);
	if (vb->conn_h)
		ev_del(vb->loop, vb->conn_h);
	vb->conn_h = NULL;
	close_fd(&vb->conn_fd);
	if (vb->listen_fd >= 0 && !vb->listen_h && listen_resume(vb) < 0)
		log_err("%s: cannot watch the listening socket again", vb->name);
}

static void listen_cb(void *opaque, uint32_t events)
{
	struct vu_backend *vb = opaque;
	int fd = accept4(vb->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("%s: accept: %s", vb->name, strerror(errno));
		return;
	}
	int r = vu_backend_attach_conn(vb, fd);
	if (r < 0) {
		log_warn("%s: cannot serve the new front-end: %s", vb->name, strerror(-r));
		close(fd);
		return;
	}
	log_info("%s: front-end connected", vb->name);
}

static int listen_resume(struct vu_backend *vb)
{
	return ev_add(vb->loop, vb->listen_fd, EPOLLIN, listen_cb, vb, &vb->listen_h);
}

int vu_backend_listen(struct vu_backend *vb, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	if (vb->listen_fd >= 0)
		return -EBUSY;
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path); /* a stale socket from an earlier run */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	vb->listen_fd = fd;
	vb->sock_path = strdup(path);
	int r = listen_resume(vb);
	if (r < 0) {
		close_fd(&vb->listen_fd);
		unlink(path);
		return r;
	}
	return 0;
}

int vu_backend_create(struct virtio_dev *dev, struct ev_loop *loop, const char *name,
		      struct vu_backend **out)
{
	if (dev->nr_queues == 0 || dev->nr_queues > VU_MAX_QUEUES)
		return -EINVAL;
	struct vu_backend *vb = calloc(1, sizeof(*vb));
	if (!vb)
		return -ENOMEM;
	vb->dev = dev;
	vb->loop = loop;
	snprintf(vb->name, sizeof(vb->name), "%s", name);
	vb->nr_queues = dev->nr_queues;
	vb->listen_fd = -1;
	vb->conn_fd = -1;
	vb->fault_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r = vb->fault_fd < 0 ? -errno : 0;
	if (r == 0)
		r = ev_add(loop, vb->fault_fd, EPOLLIN, fault_cb, vb, &vb->fault_h);
	if (r < 0) {
		if (vb->fault_fd >= 0)
			close(vb->fault_fd);
		free(vb);
		return r;
	}
	gm_init(&vb->mem[0].gm);
	gm_init(&vb->mem[1].gm);
	for (uint16_t i = 0; i < vb->nr_queues; i++) {
		vb->q[i] = (struct vu_queue){
		    .vb = vb, .index = i, .kick_fd = -1, .call_fd = -1, .err_fd = -1};
	}
	virtio_dev_attach(dev, &cur_mem(vb)->gm, loop, &vu_irq_ops, vb);
	*out = vb;
	return 0;
}

void vu_backend_destroy(struct vu_backend *vb)
{
	if (!vb)
		return;
	vu_backend_disconnect(vb);
	if (vb->listen_h)
		ev_del(vb->loop, vb->listen_h);
	close_fd(&vb->listen_fd);
	ev_del(vb->loop, vb->fault_h);
	close_fd(&vb->fault_fd);
	if (vb->sock_path) {
		unlink(vb->sock_path);
		free(vb->sock_path);
	}
	/* The device may outlive us (its owner destroys it next): leave it nothing of ours. */
	virtio_dev_attach(vb->dev, &vu_no_mem, vb->loop, &vu_no_irq_ops, NULL);
	free(vb);
}
