/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-vsock packet headers and the connection state machine, through real
 * split rings built by the test-side driver, with real unix sockets on the host side: a
 * listener for guest connections to host port 1 ("<uds>_1") and host clients that speak the
 * CONNECT protocol.
 * Input: records {u8 op, u8 len, len bytes}:
 *   op % 7 = 0 a packet: the first 44 bytes are the header as the guest wrote it (src_cid
 *            forced to the guest's when byte 0 is even, dst_cid to the host's when byte 1
 *            is even, type to stream when byte 2 is even), then the payload, split in two
 *            descriptors at byte 3; 1 post len/4 rx buffers of (byte 0 * 8) bytes;
 *            2 a host client connects and sends the bytes (e.g. "CONNECT 5\n"); 3 the host
 *            side of every connection writes the bytes; 4 close one host socket; 5 run the
 *            loop; 6 reset the device and negotiate again.
 * Every input ends with a reset, so nothing leaks into the next one.
 */
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_vsock.h>
#include "backends/uds.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/vsock.h"
#include "vq_driver.h"

#define RAM (2u << 20)
#define QSZ 32
#define MAXFD 64

static struct vqd_mem m;
static struct virtio_dev *dev;
static struct ev_loop *loop;
static struct vq_driver q[3];
static char uds[108];
static int listener = -1;
static int fds[MAXFD];
static unsigned nfds;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void cleanup(void)
{
	char p[120];
	snprintf(p, sizeof(p), "%s_1", uds);
	unlink(p);
	unlink(uds);
}

static void setup(void)
{
	char err[128], p[120];
	const char *tmp = getenv("TMPDIR");
	snprintf(uds, sizeof(uds), "%s/vireo-fuzz-vsock-%d.sock",
		 tmp && strlen(tmp) < 60 ? tmp : "/tmp", getpid());
	atexit(cleanup);
	struct vsock_config cfg = {.enabled = true, .cid = 3, .uds = uds};
	if (vqd_mem_init(&m, 0, RAM) < 0 || ev_loop_create(&loop) < 0 ||
	    vsock_create(&cfg, "vsockfuzz", &dev, err, sizeof(err)) < 0)
		abort();
	snprintf(p, sizeof(p), "%s_1", uds);
	if (uds_listen(p, 64, &listener) < 0)
		abort();
	virtio_dev_attach(dev, &m.gm, loop, NULL, NULL);
}

static void start(void)
{
	virtio_reset(dev);
	uint8_t st = vqd_negotiate(dev, 1ULL << VIRTIO_F_VERSION_1);
	m.brk = RAM - (512u << 10); /* the driver's indirect tables, the same every time */
	for (unsigned i = 0; i < 3; i++) {
		vqd_fini(&q[i]);
		if (vqd_init(&q[i], &m, 0x1000 + i * 0x2000, QSZ) < 0 ||
		    vqd_attach(&q[i], dev, (uint16_t)i) < 0)
			abort();
	}
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(dev);
}

static void keep_fd(int fd)
{
	if (fd < 0)
		return;
	if (nfds < MAXFD)
		fds[nfds++] = fd;
	else
		close(fd);
}

static void settle(void)
{
	uint32_t id, len;
	char b[4096];
	for (;;) {
		int c = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			break;
		keep_fd(c);
	}
	for (unsigned i = 0; i < nfds; i++)
		while (recv(fds[i], b, sizeof(b), MSG_DONTWAIT) > 0)
			;
	for (unsigned i = 0; i < 3; i++)
		while (vqd_get_used(&q[i], &id, &len))
			;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_set_level(LOG_ERR);
	if (!dev)
		setup();
	start();
	size_t i = 0;
	while (i + 2 <= size) {
		uint8_t op = data[i] % 7, len = data[i + 1];
		const uint8_t *p = data + i + 2;
		if (i + 2 + len > size)
			len = (uint8_t)(size - i - 2);
		i += 2u + len;
		switch (op) {
		case 0: {
			uint8_t pkt[300];
			struct virtio_vsock_hdr h;
			memset(pkt, 0, sizeof(pkt));
			memcpy(pkt, p, len);
			memcpy(&h, pkt, sizeof(h));
			if (!(pkt[0] & 1))
				h.src_cid = htole64(3);
			if (!(pkt[1] & 1))
				h.dst_cid = htole64(2);
			if (!(pkt[2] & 1))
				h.type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
			memcpy(pkt, &h, sizeof(h));
			uint32_t total = len > sizeof(h) ? len : (uint32_t)sizeof(h);
			uint32_t cut = pkt[3] % (total + 1);
			m.brk = RAM / 2;
			uint64_t b = vqd_alloc(&m, 1024, 8);
			memcpy(vqd_hva(&m, b), pkt, cut);
			memcpy(vqd_hva(&m, b + 512), pkt + cut, total - cut);
			struct vqd_seg s[] = {{b, cut, false}, {b + 512, total - cut, false}};
			if (vqd_add(&q[1], s, 2, pkt[3] & 1) >= 0)
				virtio_queue_kick(dev, 1);
			break;
		}
		case 1:
			for (unsigned k = 0; k < len / 4u + 1; k++) {
				uint64_t b = vqd_alloc(&m, 2048, 8);
				if (!b) {
					m.brk = RAM / 2 + 64 * 1024;
					b = vqd_alloc(&m, 2048, 8);
				}
				struct vqd_seg s = {b, len ? p[0] * 8u : 44, true};
				if (vqd_add(&q[0], &s, 1, false) < 0)
					break;
			}
			virtio_queue_kick(dev, 0);
			break;
		case 2: {
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			memcpy(sa.sun_path, uds, strlen(uds));
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
				close(fd);
				break;
			}
			if (send(fd, p, len, MSG_NOSIGNAL) < 0) {
				/* fine */
			}
			keep_fd(fd);
			break;
		}
		case 3:
			for (unsigned k = 0; k < nfds; k++)
				if (send(fds[k], p, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
					/* full or gone: fine */
				}
			break;
		case 4:
			if (nfds) {
				unsigned k = (len ? p[0] : 0) % nfds;
				close(fds[k]);
				fds[k] = fds[--nfds];
			}
			break;
		case 5:
			ev_loop_run_once(loop, 0);
			break;
		default:
			start();
			break;
		}
		settle();
	}
	ev_loop_run_once(loop, 0);
	virtio_reset(dev);
	ev_loop_run_once(loop, 0); /* frees the connections */
	settle();
	for (unsigned k = 0; k < nfds; k++)
		close(fds[k]);
	nfds = 0;
	return 0;
}
