/* SPDX-License-Identifier: MIT */
/* vhost-user message validation and socket I/O (see protocol.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "vhost_user/protocol.h"

_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring address payload is 40 bytes");
_Static_assert(sizeof(struct vu_mem_region) == 32, "memory region is 32 bytes");
_Static_assert(offsetof(struct vu_msg, p) == offsetof(struct vu_msg, hdr) + VU_HDR_SIZE,
	       "payload follows the header");

static const char *const vu_names[VU_REQUEST_MAX] = {
    [VU_GET_FEATURES] = "GET_FEATURES",
    [VU_SET_FEATURES] = "SET_FEATURES",
    [VU_SET_OWNER] = "SET_OWNER",
    [VU_RESET_OWNER] = "RESET_OWNER",
    [VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
    [VU_SET_LOG_BASE] = "SET_LOG_BASE",
    [VU_SET_LOG_FD] = "SET_LOG_FD",
    [VU_SET_VRING_NUM] = "SET_VRING_NUM",
    [VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
    [VU_SET_VRING_BASE] = "SET_VRING_BASE",
    [VU_GET_VRING_BASE] = "GET_VRING_BASE",
    [VU_SET_VRING_KICK] = "SET_VRING_KICK",
    [VU_SET_VRING_CALL] = "SET_VRING_CALL",
    [VU_SET_VRING_ERR] = "SET_VRING_ERR",
    [VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
    [VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
    [VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
    [VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
    [VU_SEND_RARP] = "SEND_RARP",
    [VU_NET_SET_MTU] = "NET_SET_MTU",
    [VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
    [VU_IOTLB_MSG] = "IOTLB_MSG",
    [VU_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
    [VU_GET_CONFIG] = "GET_CONFIG",
    [VU_SET_CONFIG] = "SET_CONFIG",
    [VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
    [VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
    [VU_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
    [VU_RESET_DEVICE] = "RESET_DEVICE",
    [VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
};

const char *vu_request_name(uint32_t request)
{
	if (request < VU_REQUEST_MAX && vu_names[request])
		return vu_names[request];
	return "UNKNOWN";
}

#define WHY(...)                                                                                   \
	do {                                                                                       \
		snprintf(why, whylen, __VA_ARGS__);                                                \
	} while (0)

static int check_mem_table(const struct vu_msg *msg, unsigned nfds, char *why, size_t whylen)
{
	uint32_t size = msg->hdr.size;
	const struct vu_mem_table *t = &msg->p.mem;

	if (size < 8) {
		WHY("payload of %u bytes, want at least 8", size);
		return -EBADMSG;
	}
	uint32_t n = t->nregions;
	if (n == 0 || n > VU_MAX_MEM_REGIONS) {
		WHY("%u memory regions, want 1..%u", n, VU_MAX_MEM_REGIONS);
		return -EINVAL;
	}
	if (size != 8 + n * sizeof(struct vu_mem_region)) {
		WHY("payload of %u bytes for %u regions", size, n);
		return -EBADMSG;
	}
	if (nfds != n) {
		WHY("%u fds for %u regions", nfds, n);
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct vu_mem_region *r = &t->regions[i];
		if (r->size == 0 || r->gpa + r->size < r->gpa || r->uaddr + r->size < r->uaddr ||
		    r->mmap_offset + r->size < r->mmap_offset) {
			WHY("region %u: empty or wraps around (gpa 0x%llx size 0x%llx)", i,
			    (unsigned long long)r->gpa, (unsigned long long)r->size);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			const struct vu_mem_region *o = &t->regions[j];
			if (r->gpa < o->gpa + o->size && o->gpa < r->gpa + r->size) {
				WHY("regions %u and %u overlap in guest-physical space", j, i);
				return -EINVAL;
			}
			if (r->uaddr < o->uaddr + o->size && o->uaddr < r->uaddr + r->size) {
				WHY("regions %u and %u overlap in front-end address space", j, i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int vu_msg_validate(const struct vu_msg *msg, unsigned nfds, unsigned nr_queues, char *why,
		    size_t whylen)
{
	const struct vu_hdr *h = &msg->hdr;
	uint32_t want_size = 0;
	unsigned want_fds = 0;
	bool has_queue = false;
	uint32_t queue = 0;

	if ((h->flags & VU_FLAG_VERSION_MASK) != VU_VERSION) {
		WHY("version %u, want %u", h->flags & VU_FLAG_VERSION_MASK, VU_VERSION);
		return -EPROTO;
	}
	if (h->flags & ~(VU_FLAG_VERSION_MASK | VU_FLAG_NEED_REPLY)) {
		WHY("unexpected flags 0x%x", h->flags);
		return -EPROTO;
	}
	if (h->size > VU_MAX_PAYLOAD) {
		WHY("payload of %u bytes exceeds %zu", h->size, VU_MAX_PAYLOAD);
		return -EBADMSG;
	}

	switch (h->request) {
	case VU_GET_FEATURES:
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
	case VU_RESET_DEVICE:
	case VU_GET_MAX_MEM_SLOTS:
		want_size = 0;
		break;
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
		want_size = 8;
		break;
	case VU_SET_MEM_TABLE:
		return check_mem_table(msg, nfds, why, whylen);
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		want_size = sizeof(struct vu_vring_state);
		has_queue = true;
		queue = msg->p.state.index;
		break;
	case VU_SET_VRING_ADDR:
		want_size = sizeof(struct vu_vring_addr);
		has_queue = true;
		queue = msg->p.addr.index;
		if (h->size == want_size && (msg->p.addr.flags & ~1u)) {
			WHY("vring address flags 0x%x", msg->p.addr.flags);
			return -EINVAL;
		}
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		want_size = 8;
		if (h->size != 8)
			break;
		if (msg->p.u64 & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD_MASK)) {
			WHY("vring fd payload 0x%llx has reserved bits",
			    (unsigned long long)msg->p.u64);
			return -EINVAL;
		}
		has_queue = true;
		queue = (uint32_t)(msg->p.u64 & VU_VRING_IDX_MASK);
		want_fds = (msg->p.u64 & VU_VRING_NOFD_MASK) ? 0 : 1;
		break;
	case VU_GET_CONFIG:
	case VU_SET_CONFIG: {
		const struct vu_config *c = &msg->p.config;
		if (h->size < VU_CONFIG_HDR_SIZE) {
			WHY("payload of %u bytes, want at least %u", h->size, VU_CONFIG_HDR_SIZE);
			return -EBADMSG;
		}
		if (c->size > VU_MAX_CONFIG_SIZE || c->offset > VU_MAX_CONFIG_SIZE - c->size) {
			WHY("config offset %u size %u beyond %u bytes", c->offset, c->size,
			    VU_MAX_CONFIG_SIZE);
			return -EINVAL;
		}
		want_size = VU_CONFIG_HDR_SIZE + c->size;
		break;
	}
	case VU_GPU_SET_SOCKET:
		want_fds = 1;
		break;
	default:
		WHY("unsupported request %u (%s)", h->request, vu_request_name(h->request));
		return -EINVAL;
	}
	if (h->size != want_size) {
		WHY("payload of %u bytes, want %u", h->size, want_size);
		return -EBADMSG;
	}
	if (nfds != want_fds) {
		WHY("%u fds, want %u", nfds, want_fds);
		return -EBADMSG;
	}
	if (has_queue && queue >= nr_queues) {
		WHY("queue %u out of range (%u queues)", queue, nr_queues);
		return -EINVAL;
	}
	return 0;
}

static void close_fds(int *fds, unsigned *nfds)
{
	for (unsigned i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

int vu_msg_recv(int sock, struct vu_msg *msg, int *fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {&msg->hdr, VU_HDR_SIZE};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < VU_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		close_fds(fds, nfds);
		return -EBADMSG;
	}
	if ((size_t)n < VU_HDR_SIZE) {
		ssize_t m;
		do
			m = recv(sock, (char *)&msg->hdr + n, VU_HDR_SIZE - (size_t)n, MSG_WAITALL);
		while (m < 0 && errno == EINTR);
		if (m != (ssize_t)(VU_HDR_SIZE - (size_t)n)) {
			close_fds(fds, nfds);
			return -EBADMSG;
		}
	}
	if (msg->hdr.size > VU_MAX_PAYLOAD) {
		close_fds(fds, nfds);
		return -EBADMSG;
	}
	size_t got = 0;
	while (got < msg->hdr.size) {
		n = recv(sock, (char *)&msg->p + got, msg->hdr.size - got, MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close_fds(fds, nfds);
			return -EBADMSG;
		}
		got += (size_t)n;
	}
	return 1;
}

int vu_msg_recv_nb(int sock, struct vu_rx *rx)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;

	for (;;) {
		size_t total = VU_HDR_SIZE;
		if (rx->got >= VU_HDR_SIZE) {
			if (rx->msg.hdr.size > VU_MAX_PAYLOAD)
				return -EBADMSG;
			total += rx->msg.hdr.size;
		}
		if (rx->got == total)
			return 1;
		struct iovec iov = {(char *)&rx->msg.hdr + rx->got, total - rx->got};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < cnt; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (rx->nfds < VU_MAX_FDS)
					rx->fds[rx->nfds++] = fd;
				else
					close(fd);
			}
		}
		if (n == 0)
			return rx->got == 0 ? 0 : -EBADMSG;
		rx->got += (size_t)n;
	}
}

int vu_msg_send(int sock, const struct vu_msg *msg, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	size_t len = VU_HDR_SIZE + msg->hdr.size;
	struct iovec iov = {(void *)&msg->hdr, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (msg->hdr.size > VU_MAX_PAYLOAD || nfds > VU_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EIO;
	return 0;
}
