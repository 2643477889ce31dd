/* SPDX-License-Identifier: MIT */
/*
 * 8250/16550A UART. Register semantics from the 16550 datasheet; see serial_8250.h and
 * docs/devices/platform.md for what is and is not modelled.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <linux/serial_reg.h>
#include "base/log.h"
#include "devices/serial_8250.h"

#define IIR_FIFO_BITS 0xc0 /* IIR bits 7:6 read 11 while the FIFOs are enabled */
#define IER_MASK 0x0f	   /* RDI, THRI, RLSI, MSI: the rest is reserved on a 16550A */
#define MCR_MASK 0x1f	   /* DTR, RTS, OUT1, OUT2, LOOP */

struct serial8250 {
	pthread_mutex_t lock;
	struct bus *pio;
	uint16_t base;
	struct irq_line irq;
	int irq_level;
	struct chardev *chr;

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t msr;	 /* line bits 7:4 and sticky delta bits 3:0 */
	uint8_t lsr_err; /* sticky OE (cleared by reading LSR) */
	bool fifo_en;
	uint8_t rx_trigger; /* bytes: 1, 4, 8 or 14 */
	bool thri_pending;  /* THR empty interrupt condition (cleared by IIR read or THR write) */
	bool rx_throttled;  /* refused host input: resume the chardev when there is room */
	uint8_t rx[SERIAL8250_FIFO_SIZE];
	unsigned rx_head, rx_count;
};

static unsigned serial_rx_cap(const struct serial8250 *s)
{
	return s->fifo_en ? SERIAL8250_FIFO_SIZE : 1;
}

static void serial_rx_clear(struct serial8250 *s)
{
	s->rx_head = s->rx_count = 0;
}

static void serial_rx_push(struct serial8250 *s, uint8_t v)
{
	s->rx[(s->rx_head + s->rx_count) % SERIAL8250_FIFO_SIZE] = v;
	s->rx_count++;
}

/* The interrupt the IIR reports now, by priority: line status > rx data > THR empty > modem. */
static uint8_t serial_iir_id_locked(const struct serial8250 *s)
{
	if ((s->ier & UART_IER_RLSI) && (s->lsr_err & UART_LSR_BRK_ERROR_BITS))
		return UART_IIR_RLSI;
	if ((s->ier & UART_IER_RDI) && s->rx_count) {
		/* No timing is modelled: data below the trigger level reports the character
		 * timeout at once, so the guest always learns about it. */
		if (s->fifo_en && s->rx_count < s->rx_trigger)
			return UART_IIR_RX_TIMEOUT;
		return UART_IIR_RDI;
	}
	if ((s->ier & UART_IER_THRI) && s->thri_pending)
		return UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_ANY_DELTA))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/* On a PC the UART's interrupt pin is gated by the OUT2 output, which loopback forces off. */
static void serial_update_irq_locked(struct serial8250 *s)
{
	int level = serial_iir_id_locked(s) != UART_IIR_NO_INT && (s->mcr & UART_MCR_OUT2) &&
		    !(s->mcr & UART_MCR_LOOP);
	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

/* Modem status lines: asserted CTS/DSR/DCD from the host side, or MCR looped back. */
static void serial_update_msr_locked(struct serial8250 *s)
{
	uint8_t now = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
	uint8_t old = s->msr & 0xf0, delta = 0, ch;

	if (s->mcr & UART_MCR_LOOP) {
		now = 0;
		if (s->mcr & UART_MCR_RTS)
			now |= UART_MSR_CTS;
		if (s->mcr & UART_MCR_DTR)
			now |= UART_MSR_DSR;
		if (s->mcr & UART_MCR_OUT1)
			now |= UART_MSR_RI;
		if (s->mcr & UART_MCR_OUT2)
			now |= UART_MSR_DCD;
	}
	ch = now ^ old;
	if (ch & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if (ch & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if (ch & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
		delta |= UART_MSR_TERI;
	s->msr = (uint8_t)(now | (s->msr & UART_MSR_ANY_DELTA) | delta);
}

/* There is room in the RX FIFO again: let the chardev push held input. */
static void serial_maybe_resume_locked(struct serial8250 *s)
{
	if (s->rx_throttled && !(s->mcr & UART_MCR_LOOP) && s->rx_count <= serial_rx_cap(s) / 2) {
		s->rx_throttled = false;
		chardev_input_resume(s->chr);
	}
}

static void serial_tx_locked(struct serial8250 *s, uint8_t v)
{
	if (s->mcr & UART_MCR_LOOP) {
		if (s->rx_count < serial_rx_cap(s)) {
			serial_rx_push(s, v);
		} else {
			s->lsr_err |= UART_LSR_OE;
			if (!s->fifo_en) /* a 16450-mode RBR is overwritten */
				s->rx[s->rx_head] = v;
		}
	} else {
		chardev_write(s->chr, &v, 1);
	}
	s->thri_pending = true; /* transmitted at once: THR is empty again */
}

static uint8_t serial_read_locked(struct serial8250 *s, unsigned off)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t v = 0;

	switch (off) {
	case UART_RX:
		if (dlab)
			return s->dll;
		if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL8250_FIFO_SIZE;
			s->rx_count--;
			serial_maybe_resume_locked(s);
		}
		return v;
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		v = serial_iir_id_locked(s);
		if (v == UART_IIR_THRI)
			s->thri_pending = false;
		return (uint8_t)(v | (s->fifo_en ? IIR_FIFO_BITS : 0));
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = (uint8_t)((s->rx_count ? UART_LSR_DR : 0) | s->lsr_err | UART_LSR_THRE |
			      UART_LSR_TEMT);
		s->lsr_err = 0;
		return v;
	case UART_MSR:
		v = s->msr;
		s->msr &= (uint8_t)~UART_MSR_ANY_DELTA;
		return v;
	default:
		return s->scr;
	}
}

static void serial_write_locked(struct serial8250 *s, unsigned off, uint8_t v)
{
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (off) {
	case UART_TX:
		if (dlab)
			s->dll = v;
		else
			serial_tx_locked(s, v);
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
		} else {
			/* Enabling THRI while THR is empty raises the interrupt, as on a 16550. */
			if (!(s->ier & UART_IER_THRI) && (v & UART_IER_THRI))
				s->thri_pending = true;
			s->ier = v & IER_MASK;
		}
		break;
	case UART_FCR: {
		bool en = v & UART_FCR_ENABLE_FIFO;
		static const uint8_t trig[4] = {1, 4, 8, 14};
		if (en != s->fifo_en || (v & UART_FCR_CLEAR_RCVR))
			serial_rx_clear(s); /* toggling the FIFO mode resets both FIFOs */
		s->fifo_en = en;
		s->rx_trigger = en ? trig[UART_FCR_R_TRIG_BITS(v)] : 1;
		serial_maybe_resume_locked(s);
		break;
	}
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & MCR_MASK;
		serial_update_msr_locked(s);
		serial_maybe_resume_locked(s);
		break;
	case UART_LSR: /* factory test register: writes ignored */
	case UART_MSR:
		break;
	default:
		s->scr = v;
	}
}

static void serial_pio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct serial8250 *s = opaque;
	uint8_t *d = data;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++) /* wide accesses: one byte register after another */
		d[i] = off + i < SERIAL8250_NR_PORTS ? serial_read_locked(s, (unsigned)(off + i))
						     : 0xff;
	serial_update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_pio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct serial8250 *s = opaque;
	const uint8_t *d = data;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		if (off + i < SERIAL8250_NR_PORTS)
			serial_write_locked(s, (unsigned)(off + i), d[i]);
	serial_update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops serial_ops = {
    .read = serial_pio_read,
    .write = serial_pio_write,
};

size_t serial8250_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct serial8250 *s = opaque;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	/* In loopback the receiver is cut off from the line: hold host input until it ends. */
	if (!(s->mcr & UART_MCR_LOOP))
		while (n < len && s->rx_count < serial_rx_cap(s))
			serial_rx_push(s, buf[n++]);
	if (n < len)
		s->rx_throttled = true;
	serial_update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

int serial8250_create(struct bus *pio, uint16_t base, struct irq_line irq, struct chardev *chr,
		      struct serial8250 **out)
{
	struct serial8250 *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	r = pthread_mutex_init(&s->lock, NULL);
	if (r) {
		free(s);
		return -r;
	}
	s->pio = pio;
	s->base = base;
	s->irq = irq;
	s->chr = chr;
	s->dll = 0x0c; /* 9600 baud, a common firmware default */
	s->rx_trigger = 1;
	s->thri_pending = false;
	serial_update_msr_locked(s);
	s->msr &= (uint8_t)~UART_MSR_ANY_DELTA; /* power-on lines are not a change */
	r = bus_insert(pio, base, SERIAL8250_NR_PORTS, &serial_ops, s, "serial8250");
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	if (chr)
		chardev_set_input(chr, serial8250_receive, s);
	*out = s;
	return 0;
}

void serial8250_destroy(struct serial8250 *s)
{
	if (!s)
		return;
	if (s->chr)
		chardev_set_input(s->chr, NULL, NULL);
	if (bus_remove(s->pio, s->base, s) < 0)
		log_debug("serial8250: 0x%x: range already gone", s->base);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
