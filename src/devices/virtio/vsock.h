/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock (device type 19) with a hybrid AF_UNIX host side (the design Firecracker users
 * know), see docs/devices/vsock.md:
 *  - vireo listens on PATH. A host program connects, writes "CONNECT <port>\n", and once the
 *    guest accepts gets "OK <host-port>\n"; the socket then carries the stream. If the guest
 *    refuses (nothing listens on that port) or does not answer, the socket is closed.
 *  - A guest connection to the host (CID 2) port P is connected to the unix socket
 *    "PATH_P"; nothing listening there = the guest gets a reset (ECONNRESET/ECONNREFUSED).
 * Stream sockets only, credit-based flow control per connection in both directions.
 * Transport-independent: behind virtio-pci in `vireo run` and vhost-user in `vireo backend
 * vsock`.
 */
#ifndef VIREO_DEVICES_VIRTIO_VSOCK_H
#define VIREO_DEVICES_VIRTIO_VSOCK_H

#include <stdint.h>
#include <stddef.h>
#include "base/util.h"
#include "config/config.h"
#include "virtio/virtio.h"

/* Connections open at once, at most; more are refused (RST / closed). */
#define VSOCK_MAX_CONNS 512
/* Bytes of guest data buffered per connection towards the host socket (our buf_alloc). */
#define VSOCK_CONN_BUF (256u * 1024)

/* Binds cfg->uds (a stale socket file is replaced) so that bad paths fail before the VM
 * exists; the loop is attached at the first activation. On error returns -errno with a
 * one-line reason in err. */
int vsock_create(const struct vsock_config *cfg, const char *name, struct virtio_dev **out,
		 char *err, size_t errlen) WUR;

struct vsock_info {
	unsigned conns;	      /* open now */
	uint64_t conns_total; /* ever established */
	uint64_t rst_sent;    /* resets sent to the guest */
	uint64_t bytes_to_guest;
	uint64_t bytes_from_guest;
	/* Where a stream waits (what to look at when one stalls): */
	uint64_t credit_requests;	 /* CREDIT_REQUESTs sent: the guest's buffer was full */
	uint64_t rx_starved;		 /* times data waited for the guest's rx buffers */
	unsigned conns_no_credit;	 /* now: host data waiting for the guest's credit */
	unsigned conns_rx_queued;	 /* now: connections waiting for an rx buffer */
	uint64_t bytes_to_guest_unacked; /* now: sent, not yet consumed by the guest (sum) */
	uint64_t bytes_buffered;	 /* now: guest data waiting for a slow host socket */
};
void vsock_get_info(struct virtio_dev *dev, struct vsock_info *out);

/* "CONNECT <port>\n" (the line without its newline): 0 with *port, or -EINVAL. Exposed for
 * tests and the fuzzer. */
int vsock_parse_connect(const char *line, size_t len, uint32_t *port) WUR;

#endif
