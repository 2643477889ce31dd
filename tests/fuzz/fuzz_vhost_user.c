// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the vhost-user back-end's message validator and state machine, serving a
 * virtio-rng device. Input: u16 LEN, LEN bytes copied to the start of guest RAM (a memfd, so
 * rings can hold anything), then messages {u8 nfds, 12-byte header, payload of header.size
 * bytes (cut at the end of the input)}. fds are dups of the guest memfd for SET_MEM_TABLE and
 * eventfds otherwise. A rejected message "closes the connection" (disconnect + reset) like the
 * socket server does. After each message the loop runs once and every queue is kicked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/rng.h"
#include "vhost_user/backend.h"
#include "vhost_user/protocol.h"

#define GUEST_SIZE (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int guest_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ev_loop *loop = NULL;
	struct virtio_dev *dev = NULL;
	struct vu_backend *vb = NULL;

	if (guest_fd < 0) {
		log_set_level(LOG_ERR);
		guest_fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
		if (guest_fd < 0 || ftruncate(guest_fd, GUEST_SIZE) < 0)
			abort();
	}
	if (size < 2)
		return 0;
	size_t img = (size_t)(data[0] | (data[1] << 8)) % 8192;
	data += 2;
	size -= 2;
	if (img > size)
		img = size;
	uint8_t *g = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, guest_fd, 0);
	if (g == MAP_FAILED)
		abort();
	memset(g, 0, GUEST_SIZE);
	memcpy(g, data, img);
	munmap(g, GUEST_SIZE);
	data += img;
	size -= img;

	if (ev_loop_create(&loop) < 0 || vrng_create("rng0", &dev) < 0 ||
	    vu_backend_create(dev, loop, "fuzz", &vb) < 0)
		abort();
	while (size >= 1 + VU_HDR_SIZE) {
		struct vu_msg msg;
		int fds[VU_MAX_FDS];
		unsigned nfds = data[0] % (VU_MAX_FDS + 1);
		char why[200] = "";

		memset(&msg, 0, sizeof(msg));
		memcpy(&msg.hdr, data + 1, VU_HDR_SIZE);
		data += 1 + VU_HDR_SIZE;
		size -= 1 + VU_HDR_SIZE;
		size_t plen = msg.hdr.size;
		if (plen > sizeof(msg.p))
			plen = sizeof(msg.p); /* the socket layer rejects these before validation */
		if (plen > size)
			plen = size;
		memcpy(&msg.p, data, plen);
		data += plen;
		size -= plen;
		for (unsigned i = 0; i < nfds; i++)
			fds[i] = msg.hdr.request == VU_SET_MEM_TABLE ? dup(guest_fd)
								     : eventfd(0, EFD_NONBLOCK);
		if (vu_backend_handle(vb, &msg, fds, nfds, why, sizeof(why)) < 0)
			vu_backend_disconnect(vb);
		(void)ev_loop_run_once(loop, 0);
		for (uint16_t q = 0; q < dev->nr_queues; q++)
			virtio_queue_kick(dev, q);
	}
	vu_backend_destroy(vb);
	virtio_dev_destroy(dev);
	ev_loop_destroy(loop);
	return 0;
}
