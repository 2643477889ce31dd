/* SPDX-License-Identifier: MIT */
/*
 * The back-end side of vhost-user: serves one struct virtio_dev (the same device code that
 * runs behind virtio-pci in `vireo run`) to a front-end such as QEMU over a unix socket.
 *
 * Mapping onto the virtio core (src/virtio/virtio.h):
 *   SET_FEATURES      -> virtio_set_features (bit 30, the protocol-features bit, is ours)
 *   SET_MEM_TABLE     -> mmap the passed fds into a struct guest_mem -> virtio_dev_set_mem
 *   SET_VRING_NUM/ADDR/BASE -> virtio_queue_set_size/addr/last_avail (ADDR: front-end
 *                        virtual addresses translated to guest-physical through the table)
 *   SET_VRING_KICK + enabled -> virtio_dev_activate, virtio_queue_enable, kick fd on the loop
 *                        -> virtio_queue_kick
 *   GET_VRING_BASE    -> virtio_queue_stop (drains) and returns last_avail_idx
 *   GET/SET_CONFIG    -> virtio_read_config / virtio_write_config
 *   interrupts        -> the queue's call eventfd
 * Every message passes vu_msg_validate() first; any malformed or unacceptable message closes
 * the connection with one log line and resets the device. The server then accepts the next
 * front-end. Single-threaded: everything runs on the given event loop.
 */
#ifndef VIREO_VHOST_USER_BACKEND_H
#define VIREO_VHOST_USER_BACKEND_H

#include <stdint.h>
#include <stdbool.h>
#include "base/util.h"
#include "vhost_user/protocol.h"

struct ev_loop;
struct virtio_dev;
struct guest_mem;
struct vu_backend;

/* Serve dev (not owned) on loop. name is the log prefix ("vhost-user-blk"). */
int vu_backend_create(struct virtio_dev *dev, struct ev_loop *loop, const char *name,
		      struct vu_backend **out) WUR;
/* Disconnects (device reset), closes the listening socket and unlinks its path. */
void vu_backend_destroy(struct vu_backend *vb);

/* Device-specific extras a back-end type plugs in (vireo backend gpu). */
struct vu_backend_hooks {
	/* VHOST_USER_GPU_SET_SOCKET: takes fd (also on error). Returns 0 or -errno with a
	 * one-line reason in why. Without this hook the request is refused. */
	int (*gpu_set_socket)(void *opaque, int fd, char *why, size_t whylen);
	/* The front-end is gone (called after the device reset). Optional. */
	void (*disconnected)(void *opaque);
};
/* Set before serving; hooks (static) and opaque must outlive vb. */
void vu_backend_set_hooks(struct vu_backend *vb, const struct vu_backend_hooks *hooks,
			  void *opaque);

/* Listen on a unix socket at path (a stale socket there is replaced) and serve front-ends,
 * one at a time, from the loop. Returns 0 or -errno. */
int vu_backend_listen(struct vu_backend *vb, const char *path) WUR;
/* Serve an already-connected socket (takes ownership). -EBUSY if one is being served. */
int vu_backend_attach_conn(struct vu_backend *vb, int fd) WUR;
/* Drop the current front-end: stop rings, reset the device, unmap memory, close fds. */
void vu_backend_disconnect(struct vu_backend *vb);
bool vu_backend_connected(const struct vu_backend *vb);

/* Validate and act on one received message; replies go to the connection socket. Consumes
 * fds (closed or kept). Returns 0, or -errno with a one-line reason in why: the caller then
 * disconnects. Used by the socket callback, the unit tests and the fuzzer. */
int vu_backend_handle(struct vu_backend *vb, struct vu_msg *msg, int *fds, unsigned nfds, char *why,
		      size_t whylen) WUR;

/* Requests consumed on queue q since the backend started (all connections). */
uint64_t vu_backend_queue_requests(struct vu_backend *vb, uint16_t q);
uint16_t vu_backend_nr_queues(const struct vu_backend *vb);
/* The current guest memory table (for tests). */
const struct guest_mem *vu_backend_mem(const struct vu_backend *vb);
/* Translate a front-end virtual address range to guest-physical; -EFAULT if not wholly
 * inside one region. */
int vu_backend_uaddr_to_gpa(const struct vu_backend *vb, uint64_t uaddr, uint64_t len,
			    uint64_t *gpa) WUR;

#endif
