/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-console's data path and config writes, through real split rings built
 * by the test-side driver, with a unix-socket client on the host side (input and output).
 * (The device has no MULTIPORT, hence no control messages: see devices/virtio/console.c.)
 * Input: byte 0 = features (EMERG_WRITE), then records {u8 op, u8 len, len bytes}:
 *   op % 6 = 0 transmit chain: byte 0 = split point and readable/writable mix, the rest
 *            the payload; 1 post len/8 receive buffers of (byte 0 % 64) bytes; 2 the host
 *            client types the bytes; 3 config write (byte 0 = offset); 4 run the loop;
 *            5 reset and negotiate again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include "backends/chardev.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "devices/virtio/console.h"
#include "vq_driver.h"

#define RAM (1u << 20)
#define QSZ 16

static struct vqd_mem m;
static struct virtio_dev *dev;
static struct ev_loop *loop;
static struct vq_driver q[2];
static int client = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	struct chardev *chr;
	char err[128], path[108];
	snprintf(path, sizeof(path), "/tmp/vireo-fuzz-console-%d.sock", getpid());
	if (vqd_mem_init(&m, 0, RAM) < 0 || ev_loop_create(&loop) < 0 ||
	    chardev_create(SERIAL_SOCKET, path, loop, &chr, err, sizeof(err)) < 0 ||
	    vcon_create(chr, "consolefuzz", &dev) < 0)
		abort();
	virtio_dev_attach(dev, &m.gm, loop, NULL, NULL);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path));
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (connect(client, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	unlink(path);
	for (int i = 0; i < 4; i++)
		ev_loop_run_once(loop, 0);
}

static void start(uint8_t fbyte)
{
	uint64_t f = 1ULL << VIRTIO_F_VERSION_1;
	if (fbyte & 1)
		f |= 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE;
	virtio_reset(dev);
	uint8_t st = vqd_negotiate(dev, f);
	m.brk = RAM - (256u << 10); /* the driver's indirect tables, the same every time */
	for (unsigned i = 0; i < 2; i++) {
		vqd_fini(&q[i]);
		if (vqd_init(&q[i], &m, 0x1000 + i * 0x1000, QSZ) < 0 ||
		    vqd_attach(&q[i], dev, (uint16_t)i) < 0)
			abort();
	}
	virtio_set_status(dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(dev);
}

static void drain(void)
{
	char b[4096];
	uint32_t id, len;
	while (recv(client, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
	for (unsigned i = 0; i < 2; i++)
		while (vqd_get_used(&q[i], &id, &len))
			;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	log_set_level(LOG_ERR);
	if (!dev)
		setup();
	start(data[0]);
	size_t i = 1;
	while (i + 2 <= size) {
		uint8_t op = data[i] % 6, len = data[i + 1];
		const uint8_t *p = data + i + 2;
		if (i + 2 + len > size)
			len = (uint8_t)(size - i - 2);
		i += 2u + len;
		m.brk = RAM / 2;
		switch (op) {
		case 0: {
			uint64_t buf = vqd_alloc(&m, 512, 8);
			memcpy(vqd_hva(&m, buf), p, len);
			uint32_t cut = len ? p[0] % (len + 1u) : 0;
			struct vqd_seg s[] = {{buf, cut, (len && (p[0] & 0x80))},
					      {buf + 256, len - cut, (len && (p[0] & 0x40))}};
			if (vqd_add(&q[1], s, 2, len & 1) >= 0)
				virtio_queue_kick(dev, 1);
			break;
		}
		case 1:
			for (unsigned k = 0; k < len / 8u + 1; k++) {
				uint64_t b = vqd_alloc(&m, 64, 8);
				struct vqd_seg s = {b, len ? p[0] % 64u : 0, true};
				if (vqd_add(&q[0], &s, 1, false) < 0)
					break;
			}
			virtio_queue_kick(dev, 0);
			break;
		case 2:
			if (send(client, p, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
				/* full: fine */
			}
			break;
		case 3:
			if (len)
				virtio_write_config(dev, p[0], p + 1, len - 1u);
			break;
		case 4:
			ev_loop_run_once(loop, 0);
			break;
		default:
			start(len);
			break;
		}
		drain();
	}
	ev_loop_run_once(loop, 0);
	drain();
	return 0;
}
