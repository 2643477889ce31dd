// SPDX-License-Identifier: MIT
/*
 * A minimal vhost-user-blk front-end for benchmarking back-ends (vireo backend blk,
 * qemu-storage-daemon) without a guest: it owns "guest RAM" (a memfd), sets up one split
 * ring over the protocol, and pumps virtio-blk requests at a fixed queue depth.
 *
 *   vhost-user-blk-bench --socket PATH --rw randread|randwrite|read|write --bs N --qd N
 *                        [--runtime S] [--wait poll|event] [--backend-pid PID] [--label L]
 *
 * Completion: `poll` busy-polls the used ring with interrupts suppressed
 * (VRING_AVAIL_F_NO_INTERRUPT); `event` sleeps on the call eventfd. Prints one line:
 *   label rw bs qd wait iops MB/s p50_us p99_us backend_cpu_us_per_io
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include "vhost_user/protocol.h"

#define QSIZE 256u
#define MAX_QD 64u
#define RAM_SIZE (64ull << 20)
#define DESC_GPA 0x0ull
#define AVAIL_GPA (DESC_GPA + 16ull * QSIZE)
#define USED_GPA 0x2000ull
#define SLOT_GPA 0x10000ull /* per slot: 16 header + 1 status at +0, data at +4096 */
#define SLOT_SIZE (4096ull + (1ull << 20))

struct slot {
	uint64_t submit_ns;
	bool busy;
};

struct bench {
	int sock, kick, call;
	uint8_t *ram;
	uint64_t capacity; /* sectors */
	const char *rw;
	unsigned bs, qd;
	bool poll_mode, is_write, is_rand;
	uint16_t avail_idx, last_used;
	uint64_t seq_off, rng;
	struct slot slots[MAX_QD];
	uint64_t *lat;
	size_t nlat, caplat;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "vhost-user-blk-bench: %s\n", what);
	exit(1);
}

static void xfer(struct bench *b, uint32_t req, const void *payload, uint32_t size, const int *fds,
		 unsigned nfds, struct vu_msg *reply)
{
	struct vu_msg m;
	memset(&m, 0, sizeof(m));
	if (reply)
		memset(reply, 0, sizeof(*reply));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = size;
	if (size)
		memcpy(&m.p, payload, size);
	if (vu_msg_send(b->sock, &m, fds, nfds) < 0)
		die("send failed");
	if (reply) {
		int rfds[VU_MAX_FDS];
		unsigned rn;
		if (vu_msg_recv(b->sock, reply, rfds, &rn) != 1)
			die(vu_request_name(req));
		for (unsigned i = 0; i < rn; i++)
			close(rfds[i]);
	}
}

static uint64_t get_u64(struct bench *b, uint32_t req)
{
	struct vu_msg r;
	xfer(b, req, NULL, 0, NULL, 0, &r);
	return r.p.u64;
}

static void set_u64(struct bench *b, uint32_t req, uint64_t v)
{
	xfer(b, req, &v, 8, NULL, 0, NULL);
}

static void setup(struct bench *b, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	b->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(b->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect failed");
	int memfd = memfd_create("bench-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)RAM_SIZE) < 0)
		die("memfd");
	b->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
	if (b->ram == MAP_FAILED)
		die("mmap");

	uint64_t f = get_u64(b, VU_GET_FEATURES);
	if (!(f & (1ull << VIRTIO_F_VERSION_1)))
		die("back-end lacks VERSION_1");
	uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (f & (1ull << VU_F_PROTOCOL_FEATURES));
	if (f & (1ull << VU_F_PROTOCOL_FEATURES)) {
		uint64_t pf = get_u64(b, VU_GET_PROTOCOL_FEATURES);
		set_u64(b, VU_SET_PROTOCOL_FEATURES, pf & (1ull << VU_PROTOCOL_F_CONFIG));
		if (pf & (1ull << VU_PROTOCOL_F_CONFIG)) {
			struct vu_config c = {0, 8, 0, {0}}; /* capacity */
			struct vu_msg r;
			xfer(b, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + c.size, NULL, 0, &r);
			if (r.hdr.size == VU_CONFIG_HDR_SIZE + 8 && r.p.config.size == 8)
				memcpy(&b->capacity, r.p.config.data, 8);
			if (getenv("BENCH_DEBUG"))
				fprintf(
				    stderr,
				    "pf 0x%llx config reply req %u size %u cfg size %u cap %llu\n",
				    (unsigned long long)pf, r.hdr.request, r.hdr.size,
				    r.p.config.size, (unsigned long long)b->capacity);
		}
	}
	if (!b->capacity)
		die("no capacity (back-end without CONFIG)");
	xfer(b, VU_SET_OWNER, NULL, 0, NULL, 0, NULL);
	set_u64(b, VU_SET_FEATURES, want);
	struct vu_mem_table t = {1, 0, {{0, RAM_SIZE, (uint64_t)(uintptr_t)b->ram, 0}}};
	xfer(b, VU_SET_MEM_TABLE, &t, 8 + 32, &memfd, 1, NULL);
	close(memfd);

	struct vu_vring_state st = {0, QSIZE};
	xfer(b, VU_SET_VRING_NUM, &st, 8, NULL, 0, NULL);
	st.num = 0;
	xfer(b, VU_SET_VRING_BASE, &st, 8, NULL, 0, NULL);
	uint64_t base = (uint64_t)(uintptr_t)b->ram;
	struct vu_vring_addr a = {0, 0, base + DESC_GPA, base + USED_GPA, base + AVAIL_GPA, 0};
	xfer(b, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL);
	b->kick = eventfd(0, EFD_CLOEXEC);
	b->call = eventfd(0, EFD_CLOEXEC);
	uint64_t idx = 0;
	xfer(b, VU_SET_VRING_CALL, &idx, 8, &b->call, 1, NULL);
	xfer(b, VU_SET_VRING_KICK, &idx, 8, &b->kick, 1, NULL);
	if (want & (1ull << VU_F_PROTOCOL_FEATURES)) {
		st.num = 1;
		xfer(b, VU_SET_VRING_ENABLE, &st, 8, NULL, 0, NULL);
	}
	/* A round trip so that everything above has been handled. */
	(void)get_u64(b, VU_GET_FEATURES);
}

static uint64_t next_off(struct bench *b)
{
	uint64_t span = b->capacity * 512 / b->bs;
	uint64_t blk;
	if (b->is_rand) {
		b->rng ^= b->rng << 13;
		b->rng ^= b->rng >> 7;
		b->rng ^= b->rng << 17;
		blk = b->rng % span;
	} else {
		blk = b->seq_off++ % span;
	}
	return blk * b->bs;
}

static void put_desc(struct bench *b, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = b->ram + DESC_GPA + 16ull * i;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void submit(struct bench *b, unsigned s)
{
	uint64_t slot = SLOT_GPA + s * SLOT_SIZE;
	struct virtio_blk_outhdr h = {b->is_write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 0,
				      next_off(b) / 512};
	memcpy(b->ram + slot, &h, sizeof(h));
	b->ram[slot + 16] = 0xff;
	uint16_t d0 = (uint16_t)(s * 3);
	put_desc(b, d0, slot, 16, VRING_DESC_F_NEXT, (uint16_t)(d0 + 1));
	put_desc(b, (uint16_t)(d0 + 1), slot + 4096, b->bs,
		 (uint16_t)(VRING_DESC_F_NEXT | (b->is_write ? 0 : VRING_DESC_F_WRITE)),
		 (uint16_t)(d0 + 2));
	put_desc(b, (uint16_t)(d0 + 2), slot + 16, 1, VRING_DESC_F_WRITE, 0);
	uint16_t *ring = (uint16_t *)(void *)(b->ram + AVAIL_GPA + 4);
	ring[b->avail_idx % QSIZE] = d0;
	b->slots[s].busy = true;
	b->slots[s].submit_ns = now_ns();
	b->avail_idx++;
	__atomic_store_n((uint16_t *)(void *)(b->ram + AVAIL_GPA + 2), b->avail_idx,
			 __ATOMIC_RELEASE);
}

static void kick(struct bench *b)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t flags = __atomic_load_n((uint16_t *)(void *)(b->ram + USED_GPA), __ATOMIC_ACQUIRE);
	if (flags & VRING_USED_F_NO_NOTIFY)
		return;
	uint64_t one = 1;
	if (write(b->kick, &one, 8) != 8)
		die("kick");
}

/* Reap completions; returns how many, resubmitting each while `resubmit`. */
static unsigned reap(struct bench *b, bool resubmit, uint64_t *ios)
{
	uint16_t used =
	    __atomic_load_n((uint16_t *)(void *)(b->ram + USED_GPA + 2), __ATOMIC_ACQUIRE);
	unsigned n = 0;
	while (b->last_used != used) {
		uint32_t id;
		memcpy(&id, b->ram + USED_GPA + 4 + 8ull * (b->last_used % QSIZE), 4);
		b->last_used++;
		unsigned s = id / 3;
		if (s >= b->qd || !b->slots[s].busy)
			die("bad used id");
		uint64_t slot = SLOT_GPA + s * SLOT_SIZE;
		if (b->ram[slot + 16] != VIRTIO_BLK_S_OK) {
			fprintf(stderr, "vhost-user-blk-bench: request failed: status %u\n",
				b->ram[slot + 16]);
			exit(1);
		}
		if (b->nlat < b->caplat)
			b->lat[b->nlat++] = now_ns() - b->slots[s].submit_ns;
		b->slots[s].busy = false;
		(*ios)++;
		n++;
		if (resubmit)
			submit(b, s);
	}
	if (n && resubmit)
		kick(b);
	return n;
}

static uint64_t proc_cpu_ticks(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, stt = 0;
	if (p &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) == 2)
		return ut + stt;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct bench b = {
	    .rw = "randread", .bs = 4096, .qd = 1, .poll_mode = true, .rng = 0x9e3779b97f4a7c15ull};
	const char *sock = NULL, *label = "backend";
	double runtime = 5;
	int bpid = 0;
	static const struct option opts[] = {
	    {"socket", 1, 0, 's'},	{"rw", 1, 0, 'r'},	{"bs", 1, 0, 'b'},
	    {"qd", 1, 0, 'q'},		{"runtime", 1, 0, 't'}, {"wait", 1, 0, 'w'},
	    {"backend-pid", 1, 0, 'p'}, {"label", 1, 0, 'l'},	{0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'r':
			b.rw = optarg;
			break;
		case 'b':
			b.bs = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			b.qd = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 't':
			runtime = strtod(optarg, NULL);
			break;
		case 'w':
			b.poll_mode = strcmp(optarg, "event") != 0;
			break;
		case 'p':
			bpid = atoi(optarg);
			break;
		case 'l':
			label = optarg;
			break;
		default:
			return 2;
		}
	}
	if (!sock || b.qd == 0 || b.qd > MAX_QD || b.bs == 0 || b.bs % 512 || b.bs > (1u << 20))
		die("usage: --socket PATH [--rw R] [--bs N(512..1M)] [--qd 1..64] [--runtime S] "
		    "[--wait poll|event] [--backend-pid PID] [--label L]");
	b.is_write = strstr(b.rw, "write") != NULL;
	b.is_rand = strncmp(b.rw, "rand", 4) == 0;
	b.caplat = 20000000;
	b.lat = malloc(b.caplat * sizeof(*b.lat));
	if (!b.lat)
		die("oom");
	setup(&b, sock);
	if (b.poll_mode)
		*(uint16_t *)(void *)(b.ram + AVAIL_GPA) = VRING_AVAIL_F_NO_INTERRUPT;
	memset(b.ram + SLOT_GPA, 0x5a, MAX_QD * SLOT_SIZE); /* write payload, faulted in */

	uint64_t ios = 0, t_end, t0, cpu0;
	/* warm-up 0.5 s, then the measured run */
	for (int phase = 0; phase < 2; phase++) {
		t0 = now_ns();
		t_end = t0 + (uint64_t)((phase ? runtime : 0.5) * 1e9);
		cpu0 = bpid ? proc_cpu_ticks(bpid) : 0;
		ios = 0;
		b.nlat = 0;
		for (unsigned s = 0; s < b.qd; s++)
			submit(&b, s);
		kick(&b);
		while (now_ns() < t_end) {
			if (reap(&b, true, &ios))
				continue;
			if (!b.poll_mode) {
				struct pollfd p = {b.call, POLLIN, 0};
				if (poll(&p, 1, 100) == 1) {
					uint64_t v;
					if (read(b.call, &v, 8) != 8)
						die("call read");
				}
			}
		}
		/* drain */
		unsigned outstanding = b.qd;
		uint64_t dl = now_ns() + 5000000000ull, dummy = 0;
		while (outstanding && now_ns() < dl) {
			unsigned n = reap(&b, false, &dummy);
			outstanding -= n;
			if (!n && !b.poll_mode) {
				struct pollfd p = {b.call, POLLIN, 0};
				if (poll(&p, 1, 10) == 1) {
					uint64_t v;
					if (read(b.call, &v, 8) != 8)
						die("call read");
				}
			}
		}
		if (outstanding)
			die("requests did not complete");
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	uint64_t cpu1 = bpid ? proc_cpu_ticks(bpid) : 0;
	qsort(b.lat, b.nlat, sizeof(*b.lat), cmp_u64);
	double p50 = b.nlat ? (double)b.lat[b.nlat / 2] / 1e3 : 0;
	double p99 = b.nlat ? (double)b.lat[(size_t)((double)b.nlat * 0.99)] / 1e3 : 0;
	double cpu_us =
	    bpid && ios ? (double)(cpu1 - cpu0) * 1e6 / (double)sysconf(_SC_CLK_TCK) / (double)ios
			: 0;
	printf("%-8s %-9s %7u %3u %-5s %10.0f %9.1f %9.1f %9.1f %8.2f\n", label, b.rw, b.bs, b.qd,
	       b.poll_mode ? "poll" : "event", (double)ios / secs, (double)ios * b.bs / secs / 1e6,
	       p50, p99, cpu_us);
	/* Stop the ring (drains on the back-end) before leaving. */
	struct vu_vring_state st = {0, 0};
	struct vu_msg r;
	xfer(&b, VU_GET_VRING_BASE, &st, 8, NULL, 0, &r);
	close(b.sock);
	return 0;
}
