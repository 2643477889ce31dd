/* SPDX-License-Identifier: MIT */
/*
 * Guest side of bench/run-vsock.sh (built static, runs in the benchmark guest's initramfs).
 *   vsockperf serve           fork three AF_VSOCK servers, each serving connections one
 *                             after the other (no fork per connection, so that connection
 *                             rates measure the transport, not process creation):
 *                               7000 sink:   read to EOF, answer the byte count (8 bytes LE)
 *                               7001 source: read an 8-byte LE count N, write N bytes, close
 *                               7002 ping:   read 1 byte, write it back, close
 *   vsockperf rate CID PORT N connect to CID:PORT N times (1-byte ping each), retrying the
 *                             first connection for up to 60 s; prints "VT: g2h_conn_per_s=R"
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static char buf[1 << 16];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int full_write(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int full_read(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static void serve_one(int kind, int c)
{
	uint64_t n = 0;
	if (kind == 0) {
		ssize_t r;
		while ((r = read(c, buf, sizeof(buf))) > 0)
			n += (uint64_t)r;
		full_write(c, &n, 8);
	} else if (kind == 1) {
		if (full_read(c, &n, 8) == 0)
			while (n) {
				size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);
				if (full_write(c, buf, k) < 0)
					break;
				n -= k;
			}
	} else {
		char b;
		if (full_read(c, &b, 1) == 0)
			full_write(c, &b, 1);
	}
	close(c);
}

static void serve(int kind, unsigned port)
{
	struct sockaddr_vm sa = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 64) < 0) {
		perror("vsockperf: listen");
		exit(1);
	}
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c >= 0)
			serve_one(kind, c);
	}
}

static int ping(unsigned cid, unsigned port)
{
	struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	char b = 'p';
	int r = -1;
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    full_write(s, &b, 1) == 0 && full_read(s, &b, 1) == 0)
		r = 0;
	if (s >= 0)
		close(s);
	return r;
}

int main(int argc, char **argv)
{
	memset(buf, 0x5a, sizeof(buf));
	if (argc == 2 && !strcmp(argv[1], "serve")) {
		for (int k = 0; k < 3; k++)
			if (fork() == 0)
				serve(k, 7000u + (unsigned)k);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "rate")) {
		unsigned cid = (unsigned)atoi(argv[2]), port = (unsigned)atoi(argv[3]);
		int n = atoi(argv[4]);
		double t0 = now();
		while (ping(cid, port) < 0) {
			if (now() - t0 > 60) {
				printf("VT: g2h_conn_per_s=unreachable\n");
				return 1;
			}
			usleep(200000);
		}
		t0 = now();
		for (int i = 0; i < n; i++)
			if (ping(cid, port) < 0) {
				printf("VT: g2h_conn_per_s=failed-at-%d\n", i);
				return 1;
			}
		printf("VT: g2h_conn_per_s=%.0f\n", n / (now() - t0));
		return 0;
	}
	fprintf(stderr, "usage: vsockperf serve | rate CID PORT N\n");
	return 2;
}
