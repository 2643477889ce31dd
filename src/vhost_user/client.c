/* SPDX-License-Identifier: MIT */
/* The front-end end of a vhost-user connection (see client.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include "vhost_user/client.h"

#define VU_CLIENT_TIMEOUT_S 5

int vu_client_call(struct vu_client *c, uint32_t req, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds, struct vu_msg *reply, bool ack)
{
	struct vu_msg m, ackmsg;
	int rfds[VU_MAX_FDS];
	unsigned rn = 0;

	if (c->sock < 0)
		return -ENOTCONN;
	if (size > VU_MAX_PAYLOAD)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = size;
	if (size)
		memcpy(&m.p, payload, size);
	ack = ack && !reply && (c->protocol_features & (1ULL << VU_PROTOCOL_F_REPLY_ACK));
	if (ack)
		m.hdr.flags |= VU_FLAG_NEED_REPLY;
	int r = vu_msg_send(c->sock, &m, fds, nfds);
	if (r < 0)
		return r;
	if (!reply && !ack)
		return 0;
	struct vu_msg *out = reply ? reply : &ackmsg;
	memset(out, 0, sizeof(*out));
	r = vu_msg_recv(c->sock, out, rfds, &rn);
	for (unsigned i = 0; i < (r > 0 ? rn : 0); i++)
		close(rfds[i]);
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return r == -EAGAIN ? -ETIMEDOUT : r;
	if (out->hdr.request != req || !(out->hdr.flags & VU_FLAG_REPLY))
		return -EPROTO;
	if (ack) {
		if (out->hdr.size != 8)
			return -EPROTO;
		return out->p.u64 ? -EIO : 0;
	}
	return 0;
}

static int get_u64(struct vu_client *c, uint32_t req, uint64_t *v)
{
	struct vu_msg r;
	int e = vu_client_call(c, req, NULL, 0, NULL, 0, &r, false);
	if (e < 0)
		return e;
	if (r.hdr.size != 8)
		return -EPROTO;
	*v = r.p.u64;
	return 0;
}

static int set_state(struct vu_client *c, uint32_t req, uint32_t index, uint32_t num, bool ack)
{
	struct vu_vring_state st = {index, num};
	return vu_client_call(c, req, &st, sizeof(st), NULL, 0, NULL, ack);
}

void vu_client_close(struct vu_client *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

int vu_client_open(struct vu_client *c, const char *path, uint64_t want_pf, char *err,
		   size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {VU_CLIENT_TIMEOUT_S, 0};
	const char *what = "connect";
	int r;

	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->nr_queues = 1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long");
		return -ENAMETOOLONG;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0) {
		r = -errno;
		goto fail;
	}
	if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
		goto fail;
	}
	what = "GET_FEATURES";
	if ((r = get_u64(c, VU_GET_FEATURES, &c->features)) < 0)
		goto fail;
	if (!(c->features & (1ULL << VIRTIO_F_VERSION_1))) {
		snprintf(err, errlen, "back-end is not a virtio 1.0 device");
		vu_client_close(c);
		return -ENOTSUP;
	}
	if (c->features & (1ULL << VU_F_PROTOCOL_FEATURES)) {
		uint64_t pf;
		what = "GET_PROTOCOL_FEATURES";
		if ((r = get_u64(c, VU_GET_PROTOCOL_FEATURES, &pf)) < 0)
			goto fail;
		c->protocol_features = pf & want_pf;
		what = "SET_PROTOCOL_FEATURES";
		r = vu_client_call(c, VU_SET_PROTOCOL_FEATURES, &c->protocol_features, 8, NULL, 0,
				   NULL, false);
		if (r < 0)
			goto fail;
	}
	what = "SET_OWNER";
	if ((r = vu_client_call(c, VU_SET_OWNER, NULL, 0, NULL, 0, NULL, false)) < 0)
		goto fail;
	if (c->protocol_features & (1ULL << VU_PROTOCOL_F_MQ)) {
		what = "GET_QUEUE_NUM";
		if ((r = get_u64(c, VU_GET_QUEUE_NUM, &c->nr_queues)) < 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", what, strerror(-r));
	vu_client_close(c);
	return r;
}

int vu_client_set_features(struct vu_client *c, uint64_t features)
{
	features |= c->features & (1ULL << VU_F_PROTOCOL_FEATURES);
	return vu_client_call(c, VU_SET_FEATURES, &features, 8, NULL, 0, NULL, true);
}

int vu_client_set_mem_table(struct vu_client *c, const struct guest_mem *gm)
{
	struct vu_mem_table t;
	int fds[VU_MAX_MEM_REGIONS];
	unsigned n = 0;

	memset(&t, 0, sizeof(t));
	for (unsigned i = 0; gm && i < gm->nr; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (r->readonly || r->fd < 0)
			continue; /* ROM: never a ring or a buffer the back-end writes */
		if (n == VU_MAX_MEM_REGIONS)
			return -E2BIG;
		t.regions[n] =
		    (struct vu_mem_region){r->gpa, r->size, (uint64_t)(uintptr_t)r->hva, r->fd_off};
		fds[n++] = r->fd;
	}
	if (n == 0)
		return -EINVAL; /* guest RAM is not shareable (no memfd) */
	t.nregions = n;
	return vu_client_call(c, VU_SET_MEM_TABLE, &t,
			      (uint32_t)(8 + n * sizeof(struct vu_mem_region)), fds, n, NULL, true);
}

int vu_client_ring_enable(struct vu_client *c, uint16_t index, bool enable)
{
	if (!(c->features & (1ULL << VU_F_PROTOCOL_FEATURES)))
		return enable ? 0 : -ENOTSUP; /* rings run from SET_VRING_KICK on */
	return set_state(c, VU_SET_VRING_ENABLE, index, enable, true);
}

int vu_client_ring_start(struct vu_client *c, const struct virtqueue *vq, int kick_fd, int call_fd,
			 bool enable)
{
	uint64_t idx = vq->index;
	int r = set_state(c, VU_SET_VRING_NUM, vq->index, vq->size, false);
	if (r == 0)
		r = set_state(c, VU_SET_VRING_BASE, vq->index, vq->last_avail_idx, false);
	if (r == 0) {
		struct vu_vring_addr a = {vq->index,
					  0,
					  (uint64_t)(uintptr_t)vq->desc_hva,
					  (uint64_t)(uintptr_t)vq->used_hva,
					  (uint64_t)(uintptr_t)vq->avail_hva,
					  0};
		r = vu_client_call(c, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL, false);
	}
	if (r == 0)
		r = vu_client_call(c, VU_SET_VRING_CALL, &idx, 8, &call_fd, 1, NULL, false);
	if (r == 0)
		r = vu_client_call(c, VU_SET_VRING_KICK, &idx, 8, &kick_fd, 1, NULL, false);
	if (r == 0 && (c->features & (1ULL << VU_F_PROTOCOL_FEATURES)))
		r = set_state(c, VU_SET_VRING_ENABLE, vq->index, enable, true);
	return r;
}

int vu_client_ring_stop(struct vu_client *c, uint16_t index)
{
	struct vu_msg r;
	struct vu_vring_state st = {index, 0};
	int e = vu_client_call(c, VU_GET_VRING_BASE, &st, sizeof(st), NULL, 0, &r, false);
	if (e < 0)
		return e;
	if (r.hdr.size != sizeof(st))
		return -EPROTO;
	return (int)(r.p.state.num & 0xffff);
}
