/* SPDX-License-Identifier: MIT */
/*
 * 8250/16550A UART on the PIO bus (8 ports), the registers Linux and SeaBIOS use.
 * Transmission is instantaneous (THRE and TEMT are always set after a THR write); output goes
 * to a chardev. Input arrives from the chardev into a 16-byte RX FIFO (1 byte with FIFOs
 * off); when it is full the UART refuses further bytes and the chardev stops reading until the
 * guest drains the FIFO, so nothing is lost. The interrupt is a level on an irq_line: high while
 * an enabled condition is pending and MCR.OUT2 is set (and not in loopback), as on a PC.
 * Thread-safety: one mutex per UART (vCPU register accesses vs. event-loop input).
 */
#ifndef VIREO_DEVICES_SERIAL_8250_H
#define VIREO_DEVICES_SERIAL_8250_H

#include <stddef.h>
#include <stdint.h>
#include "base/util.h"
#include "base/irq.h"
#include "bus/bus.h"
#include "backends/chardev.h"

#define SERIAL8250_NR_PORTS 8
#define SERIAL8250_FIFO_SIZE 16

struct serial8250;

/* Register the UART at base (8 ports) on pio and attach it to chr (may be NULL: output
 * discarded, no input). The chardev must outlive the UART. */
int serial8250_create(struct bus *pio, uint16_t base, struct irq_line irq, struct chardev *chr,
		      struct serial8250 **out) WUR;
/* Detach from the chardev and remove the bus range (call before bus_fini, vCPUs stopped). */
void serial8250_destroy(struct serial8250 *s);

/* Receive bytes from the host side (the chardev input consumer). Returns how many were taken
 * into the RX FIFO; fewer than len means "full, call chardev_input_resume later" (the UART
 * does that itself when the guest drains the FIFO). */
size_t serial8250_receive(void *opaque, const uint8_t *buf, size_t len);

#endif
