/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: virtio-net's TX path (header decoding and validation, frame gathering) and
 * control queue (command decoding) on fuzzed rings, plus one fuzzed frame through the RX
 * path, with a SOCK_DGRAM socketpair in place of the TAP.
 *
 * Input: byte 0 = log2 queue size (mod 5), byte 1 = driver features (bit 0 CSUM, 1 HOST_TSO4,
 * 2 HOST_TSO6, 3 HOST_ECN, 4 MRG_RXBUF, 5 GUEST_CSUM, 6 INDIRECT_DESC, 7 EVENT_IDX),
 * bytes 2..3 = length of the frame the port delivers (mod 2048; 0 = none), then the first
 * 64 KiB of guest memory. Rings: TX desc 0x0, avail 0x1000, used 0x1400; control desc
 * 0x2000, avail 0x3000, used 0x3400; RX desc 0x4000, avail 0x5000, used 0x5400; buffers
 * anywhere. The frame is the last bytes of the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include "backends/net_port.h"
#include "base/log.h"
#include "devices/virtio/net.h"

#define RAM (64u * 1024)

static uint8_t ram[RAM] __attribute__((aligned(4096)));
static struct virtio_dev *dev;
static struct guest_mem gm;
static int peer = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	char err[256];
	int sv[2];
	struct net_port *port = calloc(1, sizeof(*port));
	if (!port || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int big = 1 << 22;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	port->nr_queues = 1;
	port->fd[0] = sv[0];
	peer = sv[1];
	struct vnet_params p = {
	    .mac = {2, 0, 0, 0, 0, 1}, .pairs = 1, .queue_size = 64, .ctrl_vq = true};
	if (vnet_create(&p, port, "netfuzz", &dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	gm_init(&gm);
	if (gm_add_region(&gm, 0, RAM, ram, -1, 0, false) < 0)
		abort();
	virtio_dev_attach(dev, &gm, NULL, NULL, NULL);
}

static void ring(uint16_t q, uint64_t base, uint16_t qsize)
{
	if (virtio_queue_set_size(dev, q, qsize) < 0 ||
	    virtio_queue_set_addr(dev, q, VIRTIO_RING_DESC, base) < 0 ||
	    virtio_queue_set_addr(dev, q, VIRTIO_RING_AVAIL, base + 0x1000) < 0 ||
	    virtio_queue_set_addr(dev, q, VIRTIO_RING_USED, base + 0x1400) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned fbits[8] = {VIRTIO_NET_F_CSUM,	       VIRTIO_NET_F_HOST_TSO4,
					  VIRTIO_NET_F_HOST_TSO6,      VIRTIO_NET_F_HOST_ECN,
					  VIRTIO_NET_F_MRG_RXBUF,      VIRTIO_NET_F_GUEST_CSUM,
					  VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX};
	uint8_t drain[70000];

	if (size < 4)
		return 0;
	log_set_level(LOG_ERR);
	if (!dev)
		setup();
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_CTRL_VQ) |
		     (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR) |
		     (1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
	for (int i = 0; i < 8; i++)
		if (data[1] & (1u << i))
			f |= 1ULL << fbits[i];
	f &= virtio_device_features(dev);
	uint32_t flen = (uint32_t)(data[2] | data[3] << 8) % 2048;
	memset(ram, 0, sizeof(ram));
	memcpy(ram, data + 4, MIN(size - 4, sizeof(ram)));

	virtio_reset(dev);
	if (virtio_set_features(dev, f) < 0)
		abort();
	uint16_t qsize = (uint16_t)(1u << (data[0] % 5));
	ring(0, 0x4000, qsize); /* RX */
	ring(1, 0x0000, qsize); /* TX */
	ring(2, 0x2000, qsize); /* control */
	for (uint16_t q = 0; q < 3; q++)
		if (virtio_queue_enable(dev, q) < 0)
			return 0;
	if (virtio_dev_activate(dev) < 0)
		abort();
	if (flen && size > flen) {
		if (send(peer, data + size - flen, flen, 0) < 0) {
			/* a full socket: the frame is skipped */
		}
	}
	virtio_queue_kick(dev, 1);
	virtio_queue_kick(dev, 2);
	virtio_queue_kick(dev, 0);
	virtio_queue_kick(dev, 1);
	while (recv(peer, drain, sizeof(drain), MSG_DONTWAIT) > 0) {
	}
	return 0;
}
