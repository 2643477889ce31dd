/* SPDX-License-Identifier: MIT */
/* 16550A UART register semantics through the PIO bus, and the chardev backends. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include "harness.h"
#include "backends/chardev.h"
#include "base/ev_loop.h"
#include "base/util.h"
#include "bus/bus.h"
#include "devices/serial_8250.h"

#define COM1 0x3f8
#define THR (COM1 + 0)
#define IER (COM1 + 1)
#define IIR (COM1 + 2)
#define FCR (COM1 + 2)
#define LCR (COM1 + 3)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)
#define MSR (COM1 + 6)
#define SCR (COM1 + 7)

struct fake_irq {
	int level;
	unsigned raises, lowers;
	uint32_t gsi;
};

static void fake_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct fake_irq *f = opaque;
	f->gsi = gsi;
	if (level && !f->level)
		f->raises++;
	if (!level && f->level)
		f->lowers++;
	f->level = level;
}

static struct irq_line fake_line(struct fake_irq *f)
{
	return (struct irq_line){.set = fake_irq_set, .opaque = f, .gsi = 4};
}

static uint8_t rd(struct bus *b, uint16_t port)
{
	uint8_t v = 0;
	CHECK(bus_read(b, port, &v, 1));
	return v;
}

static void wr(struct bus *b, uint16_t port, uint8_t v)
{
	CHECK(bus_write(b, port, &v, 1));
}

struct uart_fixture {
	struct bus pio;
	struct fake_irq irq;
	struct serial8250 *s;
};

static int uart_setup(struct uart_fixture *f, struct chardev *chr)
{
	memset(f, 0, sizeof(*f));
	if (bus_init(&f->pio, "pio") < 0)
		return -1;
	return serial8250_create(&f->pio, COM1, fake_line(&f->irq), chr, &f->s);
}

static void uart_teardown(struct uart_fixture *f)
{
	serial8250_destroy(f->s);
	bus_fini(&f->pio);
}

static size_t read_whole(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;
	if (fd < 0)
		return (size_t)-1;
	n = read(fd, buf, cap);
	close(fd);
	return n < 0 ? (size_t)-1 : (size_t)n;
}

TEST(serial_reset_state)
{
	struct uart_fixture f;
	REQUIRE(uart_setup(&f, NULL) == 0);
	CHECK_EQ(rd(&f.pio, IER), 0);
	CHECK_EQ(rd(&f.pio, IIR), 0x01);
	CHECK_EQ(rd(&f.pio, LCR), 0);
	CHECK_EQ(rd(&f.pio, MCR), 0);
	CHECK_EQ(rd(&f.pio, LSR), 0x60);
	CHECK_EQ(rd(&f.pio, MSR), 0xb0); /* CTS, DSR, DCD asserted, no deltas */
	CHECK_EQ(rd(&f.pio, SCR), 0);
	CHECK_EQ(f.irq.level, 0);
	/* 8 ports claimed, nothing more */
	struct bus_range r;
	CHECK(bus_lookup(&f.pio, COM1 + 7, &r));
	CHECK(!bus_lookup(&f.pio, COM1 + 8, &r));
	uart_teardown(&f);
}

TEST(serial_dlab_divisor_latch)
{
	char path[512], buf[64];
	char err[128];
	struct chardev *chr;
	struct uart_fixture f;

	snprintf(path, sizeof(path), "%s/out", test_tmpdir());
	REQUIRE(chardev_create(SERIAL_FILE, path, NULL, &chr, err, sizeof(err)) == 0);
	REQUIRE(uart_setup(&f, chr) == 0);
	wr(&f.pio, IER, 0x05);
	wr(&f.pio, LCR, 0x83); /* DLAB, 8N1 */
	wr(&f.pio, THR, 0x41); /* DLL, not a character */
	wr(&f.pio, IER, 0x02); /* DLM, not IER */
	CHECK_EQ(rd(&f.pio, COM1 + 0), 0x41);
	CHECK_EQ(rd(&f.pio, COM1 + 1), 0x02);
	CHECK_EQ(rd(&f.pio, LCR), 0x83);
	wr(&f.pio, LCR, 0x03);
	CHECK_EQ(rd(&f.pio, IER), 0x05);      /* untouched by the DLM write */
	CHECK_EQ(rd(&f.pio, COM1 + 0), 0x00); /* RBR: empty */
	wr(&f.pio, THR, 'B');
	wr(&f.pio, LCR, 0x83);
	CHECK_EQ(rd(&f.pio, COM1 + 0), 0x41); /* divisor kept */
	CHECK_EQ(rd(&f.pio, COM1 + 1), 0x02);
	wr(&f.pio, IER, 0xff); /* DLM takes all 8 bits */
	CHECK_EQ(rd(&f.pio, COM1 + 1), 0xff);
	wr(&f.pio, LCR, 0x03);
	CHECK_EQ(rd(&f.pio, IER), 0x05);
	wr(&f.pio, IER, 0xff); /* IER keeps only its 4 bits */
	CHECK_EQ(rd(&f.pio, IER), 0x0f);
	uart_teardown(&f);
	chardev_destroy(chr);
	CHECK_EQ(read_whole(path, buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'B');
}

TEST(serial_output_to_file_and_lsr)
{
	char path[512], buf[64];
	char err[128];
	const char *msg = "hello, vireo\r\n";
	struct chardev *chr;
	struct uart_fixture f;

	snprintf(path, sizeof(path), "%s/console.log", test_tmpdir());
	REQUIRE(chardev_create(SERIAL_FILE, path, NULL, &chr, err, sizeof(err)) == 0);
	REQUIRE(uart_setup(&f, chr) == 0);
	wr(&f.pio, LCR, 0x03);
	for (const char *p = msg; *p; p++) {
		wr(&f.pio, THR, (uint8_t)*p);
		CHECK_EQ(rd(&f.pio, LSR) & 0x60, 0x60); /* THRE and TEMT right after */
	}
	/* a 16-bit access hits THR then IER, byte by byte */
	uint16_t w = 'x' | 0x0000;
	CHECK(bus_write(&f.pio, THR, &w, 2));
	CHECK_EQ(rd(&f.pio, IER), 0);
	uart_teardown(&f);
	chardev_destroy(chr);
	CHECK_EQ(read_whole(path, buf, sizeof(buf)), strlen(msg) + 1);
	CHECK(memcmp(buf, msg, strlen(msg)) == 0);
	CHECK_EQ(buf[strlen(msg)], 'x');
}

TEST(serial_iir_priority_and_clearing)
{
	struct uart_fixture f;
	REQUIRE(uart_setup(&f, NULL) == 0);
	wr(&f.pio, IER, 0x0f);
	CHECK_EQ(rd(&f.pio, IIR), 0x02); /* enabling THRI with THR empty: THRI pending */
	CHECK_EQ(rd(&f.pio, IIR), 0x01); /* ...and reading IIR cleared it */
	/* Loopback, FIFOs off: two bytes overrun the 1-byte RBR. */
	wr(&f.pio, MCR, 0x10); /* LOOP: CTS/DSR/DCD drop -> modem-status deltas */
	wr(&f.pio, THR, 'a');
	wr(&f.pio, THR, 'b');
	CHECK_EQ(rd(&f.pio, IIR), 0x06); /* line status (overrun) first */
	CHECK_EQ(rd(&f.pio, IIR), 0x06); /* not cleared by reading IIR */
	CHECK_EQ(rd(&f.pio, LSR), 0x63); /* DR | OE | THRE | TEMT */
	CHECK_EQ(rd(&f.pio, LSR), 0x61); /* OE cleared by the read */
	CHECK_EQ(rd(&f.pio, IIR), 0x04); /* then received data */
	CHECK_EQ(rd(&f.pio, COM1), 'b'); /* 16450-mode RBR was overwritten */
	CHECK_EQ(rd(&f.pio, IIR), 0x02); /* then THR empty */
	CHECK_EQ(rd(&f.pio, IIR), 0x00); /* then modem status */
	CHECK_EQ(rd(&f.pio, MSR), 0x0b); /* DCD/DSR/CTS fell: DDCD|DDSR|DCTS */
	CHECK_EQ(rd(&f.pio, IIR), 0x01); /* nothing left */
	CHECK_EQ(f.irq.raises, 0);	 /* loopback gates the PC's IRQ pin */
	/* A THR write re-arms THRI; masking in IER hides it. */
	wr(&f.pio, IER, 0x00);
	wr(&f.pio, THR, 'c');
	CHECK_EQ(rd(&f.pio, IIR), 0x01);
	uart_teardown(&f);
}

TEST(serial_irq_line_level)
{
	struct uart_fixture f;
	REQUIRE(uart_setup(&f, NULL) == 0);
	wr(&f.pio, IER, 0x02);
	CHECK_EQ(f.irq.level, 0); /* OUT2 clear: pin gated */
	wr(&f.pio, MCR, 0x08);	  /* OUT2 */
	CHECK_EQ(f.irq.level, 1);
	CHECK_EQ(f.irq.gsi, 4);
	CHECK_EQ(rd(&f.pio, IIR), 0x02);
	CHECK_EQ(f.irq.level, 0); /* cleared by the IIR read */
	wr(&f.pio, THR, 'x');
	CHECK_EQ(f.irq.level, 1); /* THR empty again */
	wr(&f.pio, IER, 0x00);
	CHECK_EQ(f.irq.level, 0);
	/* Received data: raised while data is there and RDI enabled. */
	wr(&f.pio, IER, 0x01);
	CHECK_EQ(f.irq.level, 0);
	uint8_t in[2] = {'1', '2'};
	CHECK_EQ(serial8250_receive(f.s, in, 1), 1);
	CHECK_EQ(f.irq.level, 1);
	wr(&f.pio, MCR, 0x00);
	CHECK_EQ(f.irq.level, 0); /* OUT2 off lowers it */
	wr(&f.pio, MCR, 0x08);
	CHECK_EQ(f.irq.level, 1);
	CHECK_EQ(rd(&f.pio, COM1), '1');
	CHECK_EQ(f.irq.level, 0);
	/* Modem status interrupt from loopback MCR changes shows in IIR, pin stays gated. */
	wr(&f.pio, IER, 0x08);
	wr(&f.pio, MCR, 0x18);
	CHECK_EQ(rd(&f.pio, IIR), 0x00);
	CHECK_EQ(f.irq.level, 0);
	wr(&f.pio, MCR, 0x08); /* leave loopback: lines change again, deltas still set */
	CHECK_EQ(f.irq.level, 1);
	rd(&f.pio, MSR);
	CHECK_EQ(f.irq.level, 0);
	CHECK_EQ(f.irq.raises, f.irq.lowers);
	uart_teardown(&f);
}

TEST(serial_rx_fifo_and_trigger)
{
	struct uart_fixture f;
	uint8_t in[20];
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)('a' + i);
	REQUIRE(uart_setup(&f, NULL) == 0);
	/* FIFOs off: one byte of room, never an overrun from host input. */
	CHECK_EQ(serial8250_receive(f.s, in, 3), 1);
	CHECK_EQ(rd(&f.pio, LSR), 0x61);
	CHECK_EQ(rd(&f.pio, COM1), 'a');
	CHECK_EQ(rd(&f.pio, LSR), 0x60);
	/* FIFOs on: 16 bytes, in order. */
	wr(&f.pio, FCR, 0x01);
	CHECK_EQ(rd(&f.pio, IIR), 0xc1);
	CHECK_EQ(serial8250_receive(f.s, in, 20), 16);
	CHECK_EQ(serial8250_receive(f.s, in + 16, 4), 0); /* full: refused, not dropped */
	for (unsigned i = 0; i < 16; i++) {
		CHECK_EQ(rd(&f.pio, LSR) & 0x03, 0x01); /* DR, never OE */
		CHECK_EQ(rd(&f.pio, COM1), 'a' + i);
	}
	CHECK_EQ(rd(&f.pio, LSR), 0x60);
	CHECK_EQ(rd(&f.pio, COM1), 0);
	/* Trigger level 14: below it the character timeout is reported. */
	wr(&f.pio, FCR, 0xc1);
	wr(&f.pio, IER, 0x01);
	CHECK_EQ(serial8250_receive(f.s, in, 3), 3);
	CHECK_EQ(rd(&f.pio, IIR), 0xcc);
	CHECK_EQ(serial8250_receive(f.s, in, 11), 11);
	CHECK_EQ(rd(&f.pio, IIR), 0xc4);
	uart_teardown(&f);
}

TEST(serial_fcr_reset)
{
	struct uart_fixture f;
	uint8_t in[8] = "abcdefg";
	REQUIRE(uart_setup(&f, NULL) == 0);
	wr(&f.pio, FCR, 0x01);
	CHECK_EQ(serial8250_receive(f.s, in, 5), 5);
	wr(&f.pio, FCR, 0x03); /* clear RX FIFO, stay enabled */
	CHECK_EQ(rd(&f.pio, LSR) & 0x01, 0);
	CHECK_EQ(rd(&f.pio, IIR) & 0xc0, 0xc0);
	CHECK_EQ(serial8250_receive(f.s, in, 3), 3);
	wr(&f.pio, FCR, 0x05); /* TX reset only: RX kept */
	CHECK_EQ(rd(&f.pio, LSR) & 0x01, 1);
	wr(&f.pio, FCR, 0x00); /* FIFOs off: both reset */
	CHECK_EQ(rd(&f.pio, LSR) & 0x01, 0);
	CHECK_EQ(rd(&f.pio, IIR) & 0xc0, 0x00);
	uart_teardown(&f);
}

TEST(serial_loopback_msr_and_scratch)
{
	char path[512], buf[16], err[128];
	struct chardev *chr;
	struct uart_fixture f;

	snprintf(path, sizeof(path), "%s/loop.log", test_tmpdir());
	REQUIRE(chardev_create(SERIAL_FILE, path, NULL, &chr, err, sizeof(err)) == 0);
	REQUIRE(uart_setup(&f, chr) == 0);
	wr(&f.pio, MCR, 0x1a); /* LOOP | OUT2 | RTS: Linux's probe expects CTS|DCD */
	CHECK_EQ(rd(&f.pio, MSR) & 0xf0, 0x90);
	wr(&f.pio, MCR, 0x15);		 /* LOOP | OUT1 | DTR */
	CHECK_EQ(rd(&f.pio, MSR), 0x6b); /* DSR|RI; DDCD|DDSR|DCTS (RI rose: no TERI) */
	CHECK_EQ(rd(&f.pio, MSR), 0x60);
	wr(&f.pio, MCR, 0x11); /* OUT1 off: RI trailing edge */
	CHECK_EQ(rd(&f.pio, MSR), 0x24);
	CHECK_EQ(rd(&f.pio, MCR), 0x11);
	wr(&f.pio, MCR, 0xff);
	CHECK_EQ(rd(&f.pio, MCR), 0x1f);
	/* TX goes to RX, not out. */
	wr(&f.pio, FCR, 0x01);
	wr(&f.pio, THR, 'L');
	wr(&f.pio, THR, 'P');
	CHECK_EQ(rd(&f.pio, COM1), 'L');
	CHECK_EQ(rd(&f.pio, COM1), 'P');
	/* Host input is held off while looped back. */
	uint8_t in = 'h';
	CHECK_EQ(serial8250_receive(f.s, &in, 1), 0);
	/* FIFO overrun in loopback: 17th byte lost, OE set, FIFO contents intact */
	for (int i = 0; i < 17; i++)
		wr(&f.pio, THR, (uint8_t)('A' + i));
	CHECK_EQ(rd(&f.pio, LSR), 0x63);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(rd(&f.pio, COM1), 'A' + i);
	CHECK_EQ(rd(&f.pio, LSR), 0x60);
	wr(&f.pio, MCR, 0x00);
	CHECK_EQ(rd(&f.pio, MSR) & 0xf0, 0xb0);
	CHECK_EQ(serial8250_receive(f.s, &in, 1), 1);
	/* Scratch register */
	wr(&f.pio, SCR, 0x5a);
	CHECK_EQ(rd(&f.pio, SCR), 0x5a);
	wr(&f.pio, LCR, 0x80);
	CHECK_EQ(rd(&f.pio, SCR), 0x5a);
	wr(&f.pio, LCR, 0x00);
	wr(&f.pio, THR, '!');
	uart_teardown(&f);
	chardev_destroy(chr);
	CHECK_EQ(read_whole(path, buf, sizeof(buf)), 1); /* only '!' left vireo */
	CHECK_EQ(buf[0], '!');
}

/* The register sequences real drivers use to find and classify the UART. */
TEST(serial_driver_probe_sequences)
{
	struct uart_fixture f;
	REQUIRE(uart_setup(&f, NULL) == 0);

	/* SeaBIOS COM detection: IER reads back, and IIR then reports THR empty. */
	wr(&f.pio, IER, 0x02);
	CHECK_EQ(rd(&f.pio, IER), 0x02);
	CHECK_EQ(rd(&f.pio, IIR) & 0x3f, 0x02);
	wr(&f.pio, IER, 0x00);

	/* Linux 8250 autoconfig: IER scratch test, loopback MSR test... */
	wr(&f.pio, IER, 0x00);
	CHECK_EQ(rd(&f.pio, IER) & 0x0f, 0x00);
	wr(&f.pio, IER, 0x0f);
	CHECK_EQ(rd(&f.pio, IER) & 0x0f, 0x0f);
	wr(&f.pio, IER, 0x00);
	wr(&f.pio, MCR, 0x10 | 0x0a);
	CHECK_EQ(rd(&f.pio, MSR) & 0xf0, 0x90);
	wr(&f.pio, MCR, 0x00);
	/* ...EFR probe (offset 2 with LCR=0xBF is FCR on a 16550A)... */
	wr(&f.pio, LCR, 0xbf);
	wr(&f.pio, FCR, 0x00);
	wr(&f.pio, LCR, 0x00);
	/* ...FIFO test: IIR bits 7:6 = 3 means 16550A... */
	wr(&f.pio, FCR, 0x01);
	CHECK_EQ(rd(&f.pio, IIR) >> 6, 3);
	/* ...no ST16C650 EFR: IIR reads non-zero under both config modes... */
	wr(&f.pio, LCR, 0x80);
	CHECK(rd(&f.pio, IIR) != 0);
	wr(&f.pio, LCR, 0xbf);
	CHECK(rd(&f.pio, IIR) != 0);
	/* ...not a 16750: the 64-byte FIFO bit never shows in IIR bit 5... */
	wr(&f.pio, LCR, 0x00);
	wr(&f.pio, FCR, 0x21);
	CHECK_EQ(rd(&f.pio, IIR) >> 5, 6);
	wr(&f.pio, LCR, 0x80);
	wr(&f.pio, FCR, 0x21);
	CHECK_EQ(rd(&f.pio, IIR) >> 5, 6);
	wr(&f.pio, LCR, 0x00);
	/* ...not an XScale: IER bit 6 (UUE) does not stick. */
	wr(&f.pio, IER, 0x40);
	CHECK_EQ(rd(&f.pio, IER) & 0x40, 0);
	wr(&f.pio, IER, 0x00);

	/* Linux serial8250_do_startup THRE test: enabling THRI must show it in IIR at once,
	 * also the second time (else the driver marks the UART buggy and polls). */
	wr(&f.pio, IER, 0x02);
	CHECK_EQ(rd(&f.pio, IIR) & 0x01, 0);
	wr(&f.pio, IER, 0x00);
	wr(&f.pio, IER, 0x02);
	CHECK_EQ(rd(&f.pio, IIR) & 0x01, 0);
	wr(&f.pio, IER, 0x00);
	CHECK_EQ(rd(&f.pio, LSR) & 0x40, 0x40);
	uart_teardown(&f);
}

/* Replace stdin/stdout of this (forked) test process with pipes. */
static int pipes_as_stdio(int *in_w, int *out_r)
{
	int pin[2], pout[2];
	if (pipe(pin) < 0 || pipe(pout) < 0)
		return -1;
	if (dup2(pin[0], 0) < 0 || dup2(pout[1], 1) < 0)
		return -1;
	close(pin[0]);
	close(pout[1]);
	*in_w = pin[1];
	*out_r = pout[0];
	return 0;
}

static int pipe_pending(int fd)
{
	int n = -1;
	if (ioctl(fd, FIONREAD, &n) < 0)
		return -1;
	return n;
}

TEST(serial_stdio_input_flow_control)
{
	int in_w, out_r;
	struct ev_loop *loop;
	struct chardev *chr;
	struct uart_fixture f;
	char err[128];
	uint8_t data[100], got[100];
	unsigned ngot = 0;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	REQUIRE(pipes_as_stdio(&in_w, &out_r) == 0);
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(chardev_create(SERIAL_STDIO, NULL, loop, &chr, err, sizeof(err)) == 0);
	CHECK(!chardev_term_raw(chr)); /* a pipe is no terminal */
	REQUIRE(uart_setup(&f, chr) == 0);
	wr(&f.pio, FCR, 0x01);
	REQUIRE(write(in_w, data, sizeof(data)) == (ssize_t)sizeof(data));
	for (int i = 0; i < 5; i++)
		ev_loop_run_once(loop, 20);
	/* FIFO full (16), one 64-byte chunk held by the chardev, the rest still in the pipe. */
	CHECK_EQ(rd(&f.pio, LSR) & 1, 1);
	CHECK_EQ(pipe_pending(0), sizeof(data) - 64);
	/* The guest drains; the chardev refills; nothing lost or reordered. */
	for (int round = 0; round < 200 && ngot < sizeof(data); round++) {
		while ((rd(&f.pio, LSR) & 1) && ngot < sizeof(got))
			got[ngot++] = rd(&f.pio, COM1);
		ev_loop_run_once(loop, 20);
	}
	CHECK_EQ(ngot, sizeof(data));
	CHECK(memcmp(got, data, sizeof(data)) == 0);
	CHECK_EQ(pipe_pending(0), 0);
	/* Output reaches stdout. */
	wr(&f.pio, THR, 'Z');
	char c = 0;
	CHECK_EQ(read(out_r, &c, 1), 1);
	CHECK_EQ(c, 'Z');
	/* EOF on stdin: input stops, nothing breaks. */
	close(in_w);
	ev_loop_run_once(loop, 20);
	ev_loop_run_once(loop, 0);
	uart_teardown(&f);
	chardev_destroy(chr);
	ev_loop_destroy(loop);
}

TEST(chardev_output_never_blocks)
{
	int in_w, out_r;
	struct chardev *chr;
	char err[128];
	static uint8_t big[256 * 1024];

	REQUIRE(pipes_as_stdio(&in_w, &out_r) == 0);
	REQUIRE(chardev_create(SERIAL_STDIO, NULL, NULL, &chr, err, sizeof(err)) == 0);
	/* The original stdout description stays blocking: only our private copy is not. */
	CHECK_EQ(fcntl(1, F_GETFL) & O_NONBLOCK, 0);
	uint64_t t0 = time_now_ns();
	chardev_write(chr, big, sizeof(big)); /* nobody reads: pipe fills */
	for (int i = 0; i < 100; i++)
		chardev_write(chr, "x", 1);
	uint64_t ms = (time_now_ns() - t0) / 1000000;
	CHECK(ms < 500);
	CHECK(chardev_dropped(chr) > 0);
	/* The reader catches up: output flows again. */
	uint8_t sink[4096];
	while (pipe_pending(out_r) > 0)
		if (read(out_r, sink, sizeof(sink)) <= 0)
			break;
	uint64_t dropped = chardev_dropped(chr);
	chardev_write(chr, "ok", 2);
	CHECK_EQ(chardev_dropped(chr), dropped);
	CHECK_EQ(read(out_r, sink, sizeof(sink)), 2);
	/* Reader gone: EPIPE does not kill us, output is discarded. */
	close(out_r);
	chardev_write(chr, "gone", 4);
	chardev_write(chr, "gone", 4);
	CHECK(chardev_dropped(chr) >= dropped + 8);
	chardev_destroy(chr);
	close(in_w);
}

struct sink {
	uint8_t buf[64];
	size_t len;
};

static size_t sink_take(void *opaque, const uint8_t *b, size_t len)
{
	struct sink *s = opaque;
	size_t n = MIN(len, sizeof(s->buf) - s->len);
	memcpy(s->buf + s->len, b, n);
	s->len += n;
	return n;
}

TEST(chardev_file_and_none_modes)
{
	char path[512], buf[16], err[128] = "";
	struct chardev *chr;

	CHECK(chardev_create(SERIAL_FILE, "/nonexistent-dir/x", NULL, &chr, err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent-dir/x") != NULL);
	CHECK(chardev_create(SERIAL_FILE, NULL, NULL, &chr, err, sizeof(err)) == -EINVAL);
	REQUIRE(chardev_create(SERIAL_NONE, NULL, NULL, &chr, err, sizeof(err)) == 0);
	chardev_write(chr, "discard", 7);
	chardev_input_resume(chr);
	chardev_restore_terminal(chr);
	chardev_destroy(chr);
	/* stdio with stdin from /dev/null: no input, no complaint, output still works */
	struct ev_loop *loop;
	int nul = open("/dev/null", O_RDWR);
	REQUIRE(nul >= 0 && dup2(nul, 0) == 0);
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(chardev_create(SERIAL_STDIO, NULL, loop, &chr, err, sizeof(err)) == 0);
	CHECK(!chardev_term_raw(chr));
	struct sink sk = {.len = 0};
	chardev_set_input(chr, sink_take, &sk);
	ev_loop_run_once(loop, 10);
	CHECK_EQ(ev_loop_run_once(loop, 0), 0);
	CHECK_EQ(sk.len, 0);
	chardev_destroy(chr);
	ev_loop_destroy(loop);
	close(nul);
	/* file mode truncates */
	snprintf(path, sizeof(path), "%s/trunc", test_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, "old contents", 12), 12);
	close(fd);
	REQUIRE(chardev_create(SERIAL_FILE, path, NULL, &chr, err, sizeof(err)) == 0);
	chardev_write(chr, "new", 3);
	chardev_destroy(chr);
	CHECK_EQ(read_whole(path, buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "new", 3) == 0);
}

/* Sockets cannot be reopened: per-call MSG_DONTWAIT, the shared description untouched. */
TEST(chardev_stdio_sockets)
{
	int in_sv[2], out_sv[2];
	struct ev_loop *loop;
	struct chardev *chr;
	char err[128];
	struct sink sk = {.len = 0};
	static uint8_t big[1 << 20];

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, in_sv) == 0);
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, out_sv) == 0);
	REQUIRE(dup2(in_sv[0], 0) == 0 && dup2(out_sv[0], 1) == 1);
	close(in_sv[0]);
	close(out_sv[0]);
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(chardev_create(SERIAL_STDIO, NULL, loop, &chr, err, sizeof(err)) == 0);
	chardev_set_input(chr, sink_take, &sk);
	REQUIRE(write(in_sv[1], "abc", 3) == 3);
	for (int i = 0; i < 10 && sk.len < 3; i++)
		ev_loop_run_once(loop, 20);
	CHECK_EQ(sk.len, 3);
	CHECK(memcmp(sk.buf, "abc", 3) == 0);
	CHECK_EQ(fcntl(0, F_GETFL) & O_NONBLOCK, 0);
	CHECK_EQ(fcntl(1, F_GETFL) & O_NONBLOCK, 0);
	/* output */
	chardev_write(chr, "xyz", 3);
	char got[8] = "";
	CHECK_EQ(read(out_sv[1], got, sizeof(got)), 3);
	CHECK(memcmp(got, "xyz", 3) == 0);
	/* a stalled reader costs a bounded wait, then output is dropped */
	uint64_t t0 = time_now_ns();
	chardev_write(chr, big, sizeof(big));
	chardev_write(chr, "x", 1);
	CHECK((time_now_ns() - t0) / 1000000 < 500);
	CHECK(chardev_dropped(chr) > 0);
	/* peer half-closes: EOF, no busy loop */
	shutdown(in_sv[1], SHUT_WR);
	for (int i = 0; i < 3; i++)
		ev_loop_run_once(loop, 20);
	CHECK_EQ(ev_loop_run_once(loop, 0), 0);
	/* reader gone: no SIGPIPE, output discarded */
	close(out_sv[1]);
	uint64_t d = chardev_dropped(chr);
	chardev_write(chr, "gone", 4);
	CHECK_EQ(chardev_dropped(chr), d + 4);
	chardev_destroy(chr);
	ev_loop_destroy(loop);
	close(in_sv[1]);
}

static bool termios_same(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
	       a->c_lflag == b->c_lflag && memcmp(a->c_cc, b->c_cc, sizeof(a->c_cc)) == 0;
}

/* A terminal vireo may not reopen (another user's tty): raw mode still works and is undone,
 * input is read FIONREAD-sized and output poll-guarded, all on the shared blocking fds. */
TEST(chardev_stdio_unreopenable_tty)
{
	struct termios before, now;
	struct ev_loop *loop;
	struct chardev *chr;
	char err[128], got[16] = "";
	struct sink sk = {.len = 0};

	if (geteuid() != 0)
		test_skip("needs root to drop privileges");
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0)
		test_skip("no ptys");
	REQUIRE(grantpt(master) == 0 && unlockpt(master) == 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	REQUIRE(slave >= 0);
	REQUIRE(fchmod(slave, 0600) == 0);
	REQUIRE(dup2(slave, 0) == 0 && dup2(slave, 1) == 1);
	REQUIRE(tcgetattr(0, &before) == 0);
	REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
	REQUIRE(open("/proc/self/fd/0", O_RDONLY | O_NOCTTY) < 0); /* the premise */
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(chardev_create(SERIAL_STDIO, NULL, loop, &chr, err, sizeof(err)) == 0);
	CHECK(chardev_term_raw(chr));
	chardev_set_input(chr, sink_take, &sk);
	REQUIRE(write(master, "in", 2) == 2);
	for (int i = 0; i < 10 && sk.len < 2; i++)
		ev_loop_run_once(loop, 20);
	CHECK_EQ(sk.len, 2);
	CHECK(memcmp(sk.buf, "in", 2) == 0);
	CHECK_EQ(ev_loop_run_once(loop, 0), 0); /* nothing left: no busy loop */
	chardev_write(chr, "out", 3);
	usleep(10000);
	CHECK_EQ(read(master, got, sizeof(got)), 3);
	CHECK(memcmp(got, "out", 3) == 0);
	CHECK_EQ(fcntl(0, F_GETFL) & O_NONBLOCK, 0);
	chardev_destroy(chr);
	REQUIRE(tcgetattr(slave, &now) == 0);
	CHECK(termios_same(&now, &before));
	ev_loop_destroy(loop);
}

TEST(chardev_stdio_tty_raw_and_restored)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	struct termios before, now;
	struct ev_loop *loop;
	struct chardev *chr;
	char err[128];
	struct sink sk = {.len = 0};

	if (master < 0)
		test_skip("no ptys");
	REQUIRE(grantpt(master) == 0 && unlockpt(master) == 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	REQUIRE(slave >= 0);
	REQUIRE(dup2(slave, 0) == 0);
	REQUIRE(tcgetattr(0, &before) == 0);
	CHECK(before.c_lflag & ICANON);
	CHECK(before.c_lflag & ECHO);
	REQUIRE(ev_loop_create(&loop) == 0);

	/* 1: raw while attached, input flows, destroy restores. */
	REQUIRE(chardev_create(SERIAL_STDIO, NULL, loop, &chr, err, sizeof(err)) == 0);
	CHECK(chardev_term_raw(chr));
	REQUIRE(tcgetattr(slave, &now) == 0);
	CHECK(!(now.c_lflag & ICANON));
	CHECK(!(now.c_lflag & ECHO));
	CHECK(now.c_lflag & ISIG); /* Ctrl-C still stops vireo */
	CHECK(!(now.c_iflag & ICRNL));
	CHECK_EQ(fcntl(0, F_GETFL) & O_NONBLOCK, 0); /* shared description untouched */
	chardev_set_input(chr, sink_take, &sk);
	REQUIRE(write(master, "hi\r", 3) == 3);
	for (int i = 0; i < 10 && sk.len < 3; i++)
		ev_loop_run_once(loop, 50);
	CHECK_EQ(sk.len, 3); /* raw: no newline needed, CR not translated */
	CHECK(memcmp(sk.buf, "hi\r", 3) == 0);
	chardev_destroy(chr);
	REQUIRE(tcgetattr(slave, &now) == 0);
	CHECK(termios_same(&now, &before));

	/* 2: the emergency restore (signal path), then destroy does not re-raw it. */
	REQUIRE(chardev_create(SERIAL_STDIO, NULL, loop, &chr, err, sizeof(err)) == 0);
	REQUIRE(tcgetattr(slave, &now) == 0);
	CHECK(!(now.c_lflag & ICANON));
	chardev_restore_terminal(chr);
	CHECK(!chardev_term_raw(chr));
	REQUIRE(tcgetattr(slave, &now) == 0);
	CHECK(termios_same(&now, &before));
	chardev_restore_terminal(chr); /* idempotent */
	chardev_destroy(chr);
	REQUIRE(tcgetattr(slave, &now) == 0);
	CHECK(termios_same(&now, &before));

	/* 3: hang-up while attached: input stops (no busy loop), teardown still works. */
	REQUIRE(chardev_create(SERIAL_STDIO, NULL, loop, &chr, err, sizeof(err)) == 0);
	chardev_set_input(chr, sink_take, &sk);
	ev_loop_run_once(loop, 20); /* starts watching */
	close(master);
	for (int i = 0; i < 3; i++)
		ev_loop_run_once(loop, 20);
	CHECK_EQ(ev_loop_run_once(loop, 0), 0); /* the dead fd is no longer watched */
	chardev_destroy(chr);
	ev_loop_destroy(loop);
	close(slave);
}
