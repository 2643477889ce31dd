/* SPDX-License-Identifier: MIT */
/*
 * The host side of a console (serial port): where guest output goes and where guest input
 * comes from.
 *
 *   stdio       output to stdout, input from stdin. When stdin is a terminal in the foreground
 *               it is put into raw mode while the chardev exists (Ctrl-C still raises SIGINT
 *               for vireo; Ctrl-Z and Ctrl-\ go to the guest). The saved termios are restored
 *               by chardev_destroy() and by chardev_restore_terminal() (async-signal-safe).
 *   file=PATH   output to PATH (created/truncated, 0644), no input.
 *   none        output discarded, no input.
 *   socket=PATH a unix socket vireo listens on (a stale socket file is replaced); one client
 *               at a time is the terminal (input and output), the next waits in the backlog
 *               until it leaves. Output while nobody is connected is discarded.
 *   pty         a new pseudo-terminal in raw mode; chardev_pty_path() names its slave
 *               (/dev/pts/N) for the user to attach to (screen, minicom, picocom). vireo keeps
 *               the slave open, so users may come and go; output nobody reads fills the
 *               pty's buffer and is then dropped like a stalled reader's.
 *
 * Input is read non-blocking on the event-loop thread and pushed to one consumer. The consumer
 * returns how many bytes it took; when it takes fewer than offered the chardev keeps the rest,
 * stops reading its input fd and waits for chardev_input_resume() (callable from any thread,
 * e.g. a vCPU that drained the UART FIFO). Nothing is dropped on the input side.
 *
 * O_NONBLOCK is never set on a file description vireo shares with others: stdio pipes, FIFOs
 * and ttys are reopened through /proc/self/fd as private non-blocking descriptions; sockets
 * use MSG_DONTWAIT; where reopening fails, reads are sized by FIONREAD and writes go one byte
 * at a time after poll(POLLOUT).
 * chardev_write() never blocks for long: when the reader stalls, vireo waits at most 50 ms once,
 * then drops output (counted, logged rate-limited) until the reader catches up. EPIPE/EIO disable
 * output for good (one log line); SIGPIPE must be ignored by main.
 */
#ifndef VIREO_BACKENDS_CHARDEV_H
#define VIREO_BACKENDS_CHARDEV_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "base/util.h"
#include "base/ev_loop.h"
#include "config/config.h"

struct chardev;

/* Input consumer: called on the event-loop thread; returns the number of bytes accepted
 * (0..len). Accepting fewer than len pauses input until chardev_input_resume(). */
typedef size_t (*chardev_input_fn)(void *opaque, const uint8_t *buf, size_t len);

/* modes SERIAL_FILE and SERIAL_SOCKET need path. loop may be NULL for modes without input (or to not read
 * input at all). On error returns -errno and writes a one-line reason to err. */
int chardev_create(enum serial_mode mode, const char *path, struct ev_loop *loop,
		   struct chardev **out, char *err, size_t errlen) WUR;
/* The same, but SERIAL_FILE appends instead of truncating (a VM rebooted in place keeps its
 * earlier output). */
int chardev_create_append(enum serial_mode mode, const char *path, struct ev_loop *loop,
			  struct chardev **out, char *err, size_t errlen) WUR;
/* Stop reading input, restore the terminal, close fds. Call on the loop thread or after the
 * loop stopped, and after the consumer is gone (or detached with chardev_set_input(NULL)). */
void chardev_destroy(struct chardev *chr);

/* Write guest output. Thread-safe; bounded time (see above). */
void chardev_write(struct chardev *chr, const void *buf, size_t len);

/* Set (or clear with fn NULL) the input consumer. Thread-safe; waits for a running callback.
 * Setting a consumer resumes input. Must not be called with a lock the consumer takes. */
void chardev_set_input(struct chardev *chr, chardev_input_fn fn, void *opaque);
/* The consumer has room again: deliver held bytes and read input again. Any thread; cheap
 * (an eventfd write); may be called while holding the consumer's own lock. */
void chardev_input_resume(struct chardev *chr);

/* Attach a client over a connected stream socket (`vireo console`): from now on it gets a
 * copy of the output (never blocking: bytes it cannot take at once are dropped) and its bytes
 * are the input (the chardev's own input pauses meanwhile). One client at a time: -EBUSY.
 * Loop thread only; the chardev needs a loop (-ENOTSUP). The chardev does not own fd: when the
 * client hangs up or fails, on_detach(opaque) runs on the loop thread and the caller closes fd.
 * chardev_destroy() detaches (calling on_detach) too. */
int chardev_attach(struct chardev *chr, int fd, void (*on_detach)(void *opaque), void *opaque) WUR;
/* Detach the client now (loop thread); on_detach is not called, the caller closes fd. */
void chardev_detach(struct chardev *chr);
bool chardev_attached(struct chardev *chr);

/* Put the terminal back as it was (the saved termios). Idempotent, async-signal-safe: may
 * be called from a SIGINT/SIGTERM handler or atexit (clear the pointer the handler uses
 * before chardev_destroy). chardev_destroy calls it too. */
void chardev_restore_terminal(struct chardev *chr);

/* The terminal size changed (columns, rows). Called on the event-loop thread. */
typedef void (*chardev_winsize_fn)(void *opaque, uint16_t cols, uint16_t rows);
/* stdio on a terminal: report its size now (in cols and rows) and call fn on every change
 * (SIGWINCH, read from a signalfd on the loop). Blocks SIGWINCH in the calling thread: call
 * it from the main thread before other threads start. -ENOTTY when this chardev has no
 * terminal (file, socket, pty, stdio redirected): no size to follow. fn may be NULL. */
int chardev_watch_winsize(struct chardev *chr, chardev_winsize_fn fn, void *opaque,
			  uint16_t *cols, uint16_t *rows) WUR;
/* pty mode: the path of the slave, e.g. /dev/pts/3; NULL otherwise. */
const char *chardev_pty_path(struct chardev *chr);
/* socket mode: whether a client is connected now. */
bool chardev_connected(struct chardev *chr);

/* True while this chardev holds a terminal in raw mode. */
bool chardev_term_raw(struct chardev *chr);
/* Bytes of output dropped because the reader stalled or the output failed. */
uint64_t chardev_dropped(struct chardev *chr);

#endif
