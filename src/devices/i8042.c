/* SPDX-License-Identifier: MIT */
/* Minimal i8042 controller: command byte, self-tests, output buffer, reset. See i8042.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include "base/log.h"
#include "devices/i8042.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

/* Status register (read at 0x64). */
#define STR_OBF 0x01	 /* output buffer full: a byte waits at 0x60 */
#define STR_SYS 0x04	 /* system flag (self-test passed) */
#define STR_CMDDAT 0x08	 /* last write went to 0x64 */
#define STR_KEYLOCK 0x10 /* 1: keyboard not locked */
#define STR_AUXDATA 0x20 /* the byte in the output buffer came from the aux port */

/* Controller command byte. */
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_DEFAULT 0x45 /* kbd interrupt on, system flag, scancode translation */

#define OUTPORT_RESET_N 0x01 /* output port bit 0: the CPU reset line, active low */
#define OUTPORT_A20 0x02

struct i8042 {
	pthread_mutex_t lock;
	struct bus *pio;
	platform_reset_fn on_reset;
	void *opaque;
	uint8_t ctr;
	uint8_t outport;
	uint8_t obuf;
	bool obf, obf_aux;
	bool last_cmd;
	uint8_t pending; /* a command waiting for its data byte at 0x60, or 0 */
};

static void i8042_put_locked(struct i8042 *k, uint8_t v, bool aux)
{
	k->obuf = v;
	k->obf = true;
	k->obf_aux = aux;
}

/* Returns true when the command pulses the reset line. */
static bool i8042_command_locked(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	switch (cmd) {
	case 0x20: /* read command byte */
		i8042_put_locked(k, k->ctr, false);
		break;
	case 0x60: /* write command byte */
	case 0xd1: /* write output port */
	case 0xd2: /* write keyboard output buffer */
	case 0xd3: /* write aux output buffer */
	case 0xd4: /* write to aux device */
		k->pending = cmd;
		break;
	case 0xa7:
		k->ctr |= CTR_AUXDIS;
		break;
	case 0xa8:
		k->ctr &= (uint8_t)~CTR_AUXDIS;
		break;
	case 0xa9: /* aux interface test: 0 = no error */
	case 0xab: /* keyboard interface test */
		i8042_put_locked(k, 0x00, false);
		break;
	case 0xaa: /* controller self-test */
		k->ctr |= CTR_SYS;
		i8042_put_locked(k, 0x55, false);
		break;
	case 0xad:
		k->ctr |= CTR_KBDDIS;
		break;
	case 0xae:
		k->ctr &= (uint8_t)~CTR_KBDDIS;
		break;
	case 0xd0: /* read output port */
		i8042_put_locked(k, k->outport, false);
		break;
	case 0xe0: /* read test inputs */
		i8042_put_locked(k, 0x00, false);
		break;
	default:
		if (cmd >= 0xf0) /* pulse output lines: low bit clear pulses reset */
			return !(cmd & 0x01);
		log_rl(LOG_DEBUG, "i8042: command 0x%02x ignored", cmd);
	}
	return false;
}

static bool i8042_data_locked(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case 0x60:
		k->ctr = v;
		break;
	case 0xd1:
		k->outport = v;
		return !(v & OUTPORT_RESET_N);
	case 0xd2:
		i8042_put_locked(k, v, false);
		break;
	case 0xd3:
		i8042_put_locked(k, v, true);
		break;
	default: /* to the keyboard or mouse: none attached, dropped */
		break;
	}
	return false;
}

static uint8_t i8042_status_locked(struct i8042 *k)
{
	uint8_t s = STR_KEYLOCK;

	if (k->obf)
		s |= STR_OBF;
	if (k->obf_aux)
		s |= STR_AUXDATA;
	if (k->ctr & CTR_SYS)
		s |= STR_SYS;
	if (k->last_cmd)
		s |= STR_CMDDAT;
	return s; /* input buffer always empty: IBF clear */
}

static void i8042_io_read(struct i8042 *k, bool cmd_port, uint8_t *d, uint32_t len)
{
	pthread_mutex_lock(&k->lock);
	if (cmd_port) {
		d[0] = i8042_status_locked(k);
	} else {
		d[0] = k->obuf; /* the last byte again when nothing new is there */
		k->obf = k->obf_aux = false;
	}
	pthread_mutex_unlock(&k->lock);
	for (uint32_t i = 1; i < len; i++)
		d[i] = 0xff;
}

static void i8042_io_write(struct i8042 *k, bool cmd_port, const uint8_t *d)
{
	bool reset;

	pthread_mutex_lock(&k->lock);
	k->last_cmd = cmd_port;
	reset = cmd_port ? i8042_command_locked(k, d[0]) : i8042_data_locked(k, d[0]);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->on_reset)
		k->on_reset(k->opaque);
}

static void i8042_data_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	i8042_io_read(opaque, false, data, len);
}

static void i8042_data_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	i8042_io_write(opaque, false, data);
}

static void i8042_cmd_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	i8042_io_read(opaque, true, data, len);
}

static void i8042_cmd_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	i8042_io_write(opaque, true, data);
}

static const struct bus_ops i8042_data_ops = {.read = i8042_data_read, .write = i8042_data_write};
static const struct bus_ops i8042_cmd_ops = {.read = i8042_cmd_read, .write = i8042_cmd_write};

int i8042_create(struct bus *pio, platform_reset_fn on_reset, void *opaque, struct i8042 **out)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	r = pthread_mutex_init(&k->lock, NULL);
	if (r) {
		free(k);
		return -r;
	}
	k->pio = pio;
	k->on_reset = on_reset;
	k->opaque = opaque;
	k->ctr = CTR_DEFAULT;
	k->outport = OUTPORT_RESET_N | OUTPORT_A20;
	r = bus_insert(pio, I8042_DATA_PORT, 1, &i8042_data_ops, k, "i8042-data");
	if (r == 0) {
		r = bus_insert(pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, k, "i8042-cmd");
		if (r < 0 && bus_remove(pio, I8042_DATA_PORT, k) < 0)
			log_debug("i8042: data port already gone");
	}
	if (r < 0) {
		pthread_mutex_destroy(&k->lock);
		free(k);
		return r;
	}
	*out = k;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	if (bus_remove(k->pio, I8042_DATA_PORT, k) < 0)
		log_debug("i8042: data port already gone");
	if (bus_remove(k->pio, I8042_CMD_PORT, k) < 0)
		log_debug("i8042: command port already gone");
	pthread_mutex_destroy(&k->lock);
	free(k);
}
