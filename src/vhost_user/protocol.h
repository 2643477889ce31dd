/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user wire protocol (QEMU docs/interop/vhost-user.rst): message layout, request
 * numbers, feature bits, and the one validator every received message passes before anything
 * acts on it. Everything here is plain data: no sockets, no device.
 *
 * A message is a 12-byte header {request, flags, size} followed by `size` payload bytes and,
 * carried as SCM_RIGHTS ancillary data, up to VU_MAX_FDS file descriptors.
 */
#ifndef VIREO_VHOST_USER_PROTOCOL_H
#define VIREO_VHOST_USER_PROTOCOL_H

#include <stdint.h>
#include <stddef.h>
#include "base/util.h"

/* Front-end -> back-end requests. */
enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_GPU_SET_SOCKET = 33, /* one fd: the vhost-user-gpu socket (gpu_socket.h) */
	VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_REQUEST_MAX = 41,
};

/* Header flags. */
#define VU_VERSION 0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)

/* Virtio feature bit 30 in GET/SET_FEATURES: the protocol-features extension. */
#define VU_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_LOG_SHMFD 1
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_BACKEND_REQ 5
#define VU_PROTOCOL_F_CONFIG 9
#define VU_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VU_PROTOCOL_F_RESET_DEVICE 13
#define VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15

/* SET_VRING_KICK/CALL/ERR u64 payload: queue index and "no fd passed" (polling) flag. */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD_MASK (1u << 8)

#define VU_MAX_MEM_REGIONS 8
#define VU_MAX_FDS VU_MAX_MEM_REGIONS
#define VU_MAX_CONFIG_SIZE 256
/* Highest queue count any backend here serves (blk: 16). */
#define VU_MAX_QUEUES 16

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags; /* bit 0: VHOST_VRING_F_LOG */
	uint64_t desc_uaddr;
	uint64_t used_uaddr;
	uint64_t avail_uaddr;
	uint64_t log_gpa;
};

struct vu_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MAX_MEM_REGIONS];
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VU_MAX_CONFIG_SIZE];
};
#define VU_CONFIG_HDR_SIZE 12u

union vu_payload {
	uint64_t u64;
	struct vu_vring_state state;
	struct vu_vring_addr addr;
	struct vu_mem_table mem;
	struct vu_config config;
};

/* In memory the wire bytes start at &hdr and run contiguously into p: the leading pad puts
 * the 12-byte header right before the 8-byte aligned payload, so nothing is packed. */
struct vu_msg {
	uint32_t pad_;
	struct vu_hdr hdr;
	union vu_payload p;
};

#define VU_HDR_SIZE sizeof(struct vu_hdr)
#define VU_MAX_PAYLOAD sizeof(union vu_payload)

/*
 * Validate a received message before it is acted on: header version and flags, the payload
 * size for the request type, the number of fds that came with it, and request-specific
 * structure (queue index < nr_queues, memory table: 1..8 regions, one fd each, non-zero
 * sizes, no wrap-around, no overlap in guest-physical or front-end address space; config:
 * offset/size within VU_MAX_CONFIG_SIZE). Unknown requests are rejected.
 * Returns 0, or -EINVAL/-EPROTO/-EBADMSG with a one-line reason in why.
 */
int vu_msg_validate(const struct vu_msg *msg, unsigned nfds, unsigned nr_queues, char *why,
		    size_t whylen) WUR;

/* Name of a request for log lines ("SET_MEM_TABLE"); "UNKNOWN" for others. */
const char *vu_request_name(uint32_t request);

/* ---- socket I/O (blocking socket with a receive timeout) ---- */

/* Receive one message and its fds (MSG_CMSG_CLOEXEC). Returns 1 with a message (header and
 * payload read in full, *nfds fds in fds[]), 0 on orderly EOF before a header, or -errno
 * (-EBADMSG for truncation, too many fds or an oversized payload; no fd is left open). */
int vu_msg_recv(int sock, struct vu_msg *msg, int *fds, unsigned *nfds) WUR;
/* Send a message with optional fds. Returns 0 or -errno (-EAGAIN: a non-blocking socket's
 * buffer is full; -EIO: only part of it was sent). */
int vu_msg_send(int sock, const struct vu_msg *msg, const int *fds, unsigned nfds) WUR;

/* ---- non-blocking receive (a loop reads what has arrived, whole messages or not) ---- */

struct vu_rx {
	struct vu_msg msg;
	size_t got; /* wire bytes of msg so far */
	int fds[VU_MAX_FDS];
	unsigned nfds;
};
/* Read what is there of the next message (MSG_DONTWAIT). Returns 1 when msg is complete (the
 * caller takes msg and fds, then sets got = nfds = 0), -EAGAIN when more is to come, 0 on EOF
 * before a message, -EBADMSG on EOF inside one or an oversized payload, or -errno. */
int vu_msg_recv_nb(int sock, struct vu_rx *rx) WUR;

#endif
