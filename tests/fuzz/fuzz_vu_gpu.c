// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the vhost-user-gpu socket's handling of what a front-end sends back
 * (src/vhost_user/gpu_socket.c). Input: u8 expect (the request whose reply is due for the
 * decoder alone), then the bytes a front-end writes on its end of the gpu socket. First the
 * decoder must accept or refuse them within their length; then the whole socket, attached to
 * a real display with a screen to send, takes them as its front-end's stream while the loop
 * runs: it must neither crash nor hang, only drop the socket.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "backends/display.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "vhost_user/gpu_socket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct display *disp;
static struct display_source *src;

static void drain(int fd)
{
	static uint8_t sink[1 << 16];
	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!loop) {
		static uint32_t px[64 * 64];
		log_set_level(LOG_ERR);
		if (ev_loop_create(&loop) < 0 || display_create(NULL, 64, 64, &disp) < 0 ||
		    display_source_add(disp, "fuzz", 1, NULL, NULL, &src) < 0)
			abort();
		for (unsigned i = 0; i < 64 * 64; i++)
			px[i] = i * 2654435761u;
		display_source_set_mode(src, 64, 64);
		display_source_update(src, 0, 0, 64, 64, px, 64 * 4, DFMT_BGRX);
	}
	if (size < 1)
		return 0;
	uint32_t expect = data[0] & 0xf;
	data++;
	size--;

	/* the decoder alone */
	struct vu_gpu_reply r;
	char why[160];
	int n = vu_gpu_parse_reply(data, size, expect, &r, why, sizeof(why));
	if (n > 0 && (size_t)n > size)
		abort();

	/* the socket: the input is the front-end's stream */
	struct vu_gpu *g;
	int sv[2];
	if (vu_gpu_create(disp, NULL, loop, "fuzz", true, &g) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (vu_gpu_attach(g, sv[0], why, sizeof(why)) == 0) {
		size_t off = 0;
		for (int round = 0; round < 8 && vu_gpu_attached(g); round++) {
			size_t chunk = size - off < 64 ? size - off : 64;
			if (chunk && send(sv[1], data + off, chunk, MSG_NOSIGNAL) > 0)
				off += chunk;
			(void)ev_loop_run_once(loop, 0);
			drain(sv[1]);
		}
	}
	vu_gpu_destroy(g);
	close(sv[1]);
	return 0;
}
