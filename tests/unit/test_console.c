/* SPDX-License-Identifier: MIT */
/*
 * virtio-console through the test-side driver over real chardevs: guest output to a file,
 * input from a unix-socket client with flow control (nothing lost without receive buffers),
 * a client coming back after leaving, the terminal size of a pty on stdin (F_SIZE, SIGWINCH),
 * emergency writes, and chains that carry nothing useful.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include "harness.h"
#include "vq_driver.h"
#include "backends/chardev.h"
#include "base/ev_loop.h"
#include "devices/virtio/console.h"

#define QSZ 64

struct tcon {
	struct virtio_dev *dev;
	struct ev_loop *loop;
	struct vqd_mem m;
	struct vq_driver q[2];
	uint64_t rx_gpa[QSZ];
	unsigned irq_config;
	char path[200];
};

static void irq_q(void *o, uint16_t q)
{
}
static void irq_c(void *o)
{
	((struct tcon *)o)->irq_config++;
}
static const struct virtio_irq_ops t_irq = {irq_q, irq_c};

static struct tcon *tcon_new(enum serial_mode mode, uint64_t features)
{
	struct tcon *t = calloc(1, sizeof(*t));
	struct chardev *chr;
	char err[256];
	snprintf(t->path, sizeof(t->path), "%s/con%d", test_tmpdir(), getpid());
	if (ev_loop_create(&t->loop) < 0 ||
	    chardev_create(mode, t->path, t->loop, &chr, err, sizeof(err)) < 0 ||
	    vcon_create(chr, "console0", &t->dev) < 0 || vqd_mem_init(&t->m, 0, 16 << 20) < 0)
		return NULL;
	virtio_dev_attach(t->dev, &t->m.gm, t->loop, &t_irq, t);
	uint8_t st = vqd_negotiate(t->dev, (1ULL << VIRTIO_F_VERSION_1) | features);
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK))
		return NULL;
	for (unsigned i = 0; i < 2; i++)
		if (vqd_init(&t->q[i], &t->m, 0x10000 + i * 0x4000, QSZ) < 0 ||
		    vqd_attach(&t->q[i], t->dev, (uint16_t)i) < 0)
			return NULL;
	virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(t->dev);
	return t;
}

static void tcon_free(struct tcon *t)
{
	virtio_dev_destroy(t->dev);
	ev_loop_destroy(t->loop);
	vqd_mem_fini(&t->m);
	free(t);
}

static void pump(struct tcon *t, int n)
{
	for (int i = 0; i < n; i++)
		ev_loop_run_once(t->loop, 2);
}

static void post_rx(struct tcon *t, unsigned n, uint32_t len)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = vqd_alloc(&t->m, len, 8);
		struct vqd_seg s = {b, len, true};
		int head = vqd_add(&t->q[0], &s, 1, false);
		if (head >= 0)
			t->rx_gpa[head] = b;
	}
	virtio_queue_kick(t->dev, 0);
}

/* Collect what the guest received into out (NUL-terminated). */
static size_t rx_collect(struct tcon *t, char *out, size_t cap, int rounds)
{
	size_t n = 0;
	uint32_t id, len;
	for (int i = 0; i < rounds; i++) {
		while (vqd_get_used(&t->q[0], &id, &len) && n + len < cap) {
			memcpy(out + n, vqd_hva(&t->m, t->rx_gpa[id]), len);
			n += len;
		}
		pump(t, 1);
	}
	out[n] = '\0';
	return n;
}

static void tx(struct tcon *t, const char *a, const char *b)
{
	uint64_t buf = vqd_alloc(&t->m, 256, 8);
	memcpy(vqd_hva(&t->m, buf), a, strlen(a));
	memcpy(vqd_hva(&t->m, buf + 128), b, strlen(b));
	struct vqd_seg s[] = {{buf, (uint32_t)strlen(a), false},
			      {buf + 128, (uint32_t)strlen(b), false}};
	REQUIRE(vqd_add(&t->q[1], s, b[0] ? 2 : 1, false) >= 0);
	virtio_queue_kick(t->dev, 1);
	uint32_t id, len;
	CHECK(vqd_get_used(&t->q[1], &id, &len));
	CHECK_EQ(len, 0);
}

static int client(struct tcon *t)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, t->path, strlen(t->path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	pump(t, 3); /* accepted */
	return fd;
}

TEST(console_output_to_file_and_emergency_write)
{
	struct tcon *t = tcon_new(SERIAL_FILE, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
	REQUIRE(t);
	/* No terminal behind a file: no size to offer. */
	CHECK(!(virtio_device_features(t->dev) & (1ULL << VIRTIO_CONSOLE_F_SIZE)));
	tx(t, "hello ", "world\n");
	uint32_t e = htole32('!');
	virtio_write_config(t->dev, offsetof(struct virtio_console_config, emerg_wr), &e, 4);
	/* A transmit chain of writable buffers only carries nothing: used, 0 bytes. */
	uint64_t w = vqd_alloc(&t->m, 16, 8);
	struct vqd_seg s = {w, 16, true};
	REQUIRE(vqd_add(&t->q[1], &s, 1, false) >= 0);
	virtio_queue_kick(t->dev, 1);
	uint32_t id, len;
	CHECK(vqd_get_used(&t->q[1], &id, &len));
	CHECK_EQ(len, 0);
	CHECK(!(virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET));
	char buf[64] = "";
	int fd = open(t->path, O_RDONLY);
	CHECK_EQ(read(fd, buf, sizeof(buf) - 1), 13);
	CHECK_STR(buf, "hello world\n!");
	CHECK_EQ(vqd_counter(t->dev, "tx_bytes"), 12); /* vm.counters: the transmit queue's */
	CHECK_EQ(vqd_counter(t->dev, "rx_bytes"), 0);
	close(fd);
	tcon_free(t);
}

TEST(console_socket_input_waits_for_buffers)
{
	struct tcon *t = tcon_new(SERIAL_SOCKET, 0);
	REQUIRE(t);
	int c = client(t);
	REQUIRE(c >= 0);
	/* Typed before the guest has receive buffers: kept, not dropped. */
	REQUIRE(write(c, "abcdefghij", 10) == 10);
	pump(t, 5);
	char got[256];
	post_rx(t, 2, 4); /* room for 8 bytes */
	CHECK_EQ(rx_collect(t, got, sizeof(got), 5), 8);
	CHECK_STR(got, "abcdefgh");
	post_rx(t, 4, 4);
	CHECK_EQ(rx_collect(t, got, sizeof(got), 5), 2);
	CHECK_STR(got, "ij");
	REQUIRE(write(c, "klm", 3) == 3);
	CHECK_EQ(rx_collect(t, got, sizeof(got), 10), 3);
	CHECK_STR(got, "klm");
	/* Output goes to the client. */
	tx(t, "out", "put");
	char back[16] = "";
	CHECK_EQ(read(c, back, sizeof(back)), 6);
	CHECK_STR(back, "output");
	/* The client leaves; output meanwhile is discarded; the next client gets the rest. */
	close(c);
	pump(t, 5);
	CHECK(!chardev_connected(vcon_chardev(t->dev)));
	tx(t, "lost", "");
	c = client(t);
	REQUIRE(c >= 0);
	CHECK(chardev_connected(vcon_chardev(t->dev)));
	tx(t, "again", "");
	memset(back, 0, sizeof(back));
	CHECK_EQ(read(c, back, sizeof(back)), 5);
	CHECK_STR(back, "again");
	REQUIRE(write(c, "z", 1) == 1);
	CHECK_EQ(rx_collect(t, got, sizeof(got), 10), 1);
	CHECK_STR(got, "z");
	close(c);
	tcon_free(t);
}

TEST(console_follows_terminal_size)
{
	int master, slave;
	struct winsize ws = {.ws_row = 37, .ws_col = 101};
	REQUIRE(openpty(&master, &slave, NULL, NULL, &ws) == 0);
	REQUIRE(dup2(slave, STDIN_FILENO) == 0 && dup2(slave, STDOUT_FILENO) == 1);
	struct tcon *t = tcon_new(SERIAL_STDIO, 1ULL << VIRTIO_CONSOLE_F_SIZE);
	REQUIRE(t);
	CHECK(virtio_device_features(t->dev) & (1ULL << VIRTIO_CONSOLE_F_SIZE));
	struct virtio_console_config cfg;
	virtio_read_config(t->dev, 0, &cfg, sizeof(cfg));
	CHECK_EQ(le16toh(cfg.cols), 101);
	CHECK_EQ(le16toh(cfg.rows), 37);
	/* The size goes to the driver (config interrupt) once its port transmits. */
	unsigned before = t->irq_config;
	tx(t, "prompt$ ", "");
	CHECK_EQ(t->irq_config, before + 1);
	tx(t, "more", "");
	CHECK_EQ(t->irq_config, before + 1);
	/* The terminal is resized: SIGWINCH -> new size and another config interrupt. */
	ws = (struct winsize){.ws_row = 50, .ws_col = 132};
	REQUIRE(ioctl(master, TIOCSWINSZ, &ws) == 0);
	kill(getpid(), SIGWINCH);
	for (int i = 0; i < 100 && t->irq_config == before + 1; i++)
		pump(t, 1);
	CHECK_EQ(t->irq_config, before + 2);
	virtio_read_config(t->dev, 0, &cfg, sizeof(cfg));
	CHECK_EQ(le16toh(cfg.cols), 132);
	CHECK_EQ(le16toh(cfg.rows), 50);
	/* The terminal is in raw mode while the console has it, and restored after. */
	struct termios tio;
	REQUIRE(tcgetattr(slave, &tio) == 0);
	CHECK(!(tio.c_lflag & ICANON));
	tcon_free(t);
	REQUIRE(tcgetattr(slave, &tio) == 0);
	CHECK(tio.c_lflag & ICANON);
	close(master);
	close(slave);
}

TEST(console_bad_ring_needs_reset_then_works)
{
	struct tcon *t = tcon_new(SERIAL_FILE, 0);
	REQUIRE(t);
	/* A descriptor outside guest memory: the core fails the device; the VMM goes on. */
	vqd_write_desc(&t->q[1], 0, 1ull << 40, 16, 0, 0);
	vqd_publish(&t->q[1], 0);
	virtio_queue_kick(t->dev, 1);
	CHECK(virtio_get_status(t->dev) & VIRTIO_CONFIG_S_NEEDS_RESET);
	virtio_reset(t->dev);
	uint8_t st = vqd_negotiate(t->dev, 1ULL << VIRTIO_F_VERSION_1);
	for (unsigned i = 0; i < 2; i++) {
		vqd_fini(&t->q[i]);
		REQUIRE(vqd_init(&t->q[i], &t->m, 0x20000 + i * 0x4000, QSZ) == 0);
		REQUIRE(vqd_attach(&t->q[i], t->dev, (uint16_t)i) == 0);
	}
	virtio_set_status(t->dev, (uint8_t)(st | VIRTIO_CONFIG_S_DRIVER_OK));
	(void)vqd_settle(t->dev);
	tx(t, "ok\n", "");
	char buf[16] = "";
	int fd = open(t->path, O_RDONLY);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 3);
	CHECK_STR(buf, "ok\n");
	close(fd);
	tcon_free(t);
}
