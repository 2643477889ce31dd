/* SPDX-License-Identifier: MIT */
/* Host side of a console: stdio (raw terminal while attached), file, unix socket, pty, none.
 * See chardev.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include "backends/chardev.h"
#include "backends/uds.h"
#include "base/log.h"

#define CHR_IN_CHUNK 64	     /* bytes read from the input fd per event */
#define CHR_STALL_WAIT_MS 50 /* longest a writer waits for a stalled reader, once */

/* How an fd is used without ever setting O_NONBLOCK on a description others share. */
enum chr_io {
	CHR_IO_NONBLOCK, /* our private non-blocking description (reopened pipe/FIFO/tty) */
	CHR_IO_SOCKET,	 /* shared socket: recv/send with MSG_DONTWAIT */
	CHR_IO_PLAIN,	 /* regular file, /dev/null: plain I/O never blocks for long */
	CHR_IO_GUARD,	 /* shared blocking pipe/tty: FIONREAD / poll before 1-byte writes */
};

struct chardev {
	enum serial_mode mode;
	struct ev_loop *loop;

	/* Input: everything below except the consumer is touched only on the loop thread
	 * (or in create/destroy while the loop does not run). */
	int in_fd; /* -1: no input */
	enum chr_io in_io;
	int wake_fd;		 /* eventfd: chardev_input_resume() */
	struct ev_handler *in_h; /* non-NULL while in_fd is watched */
	struct ev_handler *wake_h;
	bool in_eof;		    /* input ended or failed: never watched again */
	uint8_t pend[CHR_IN_CHUNK]; /* read but not yet accepted by the consumer */
	size_t pend_off, pend_len;

	pthread_mutex_t in_lock; /* consumer pointer; held while it runs */
	chardev_input_fn in_fn;
	void *in_opaque;

	/* Terminal state: written in create, read by restore (maybe from a signal handler). */
	int tty_fd;
	struct termios saved_tio;
	atomic_bool raw;

	/* An attached client (chardev_attach): loop thread, except att_fd which writers read
	 * under out_lock. */
	int att_fd;
	struct ev_handler *att_h;
	void (*att_on_detach)(void *opaque);
	void *att_opaque;

	/* Output. */
	pthread_mutex_t out_lock;
	int out_fd; /* -1: discard */
	enum chr_io out_io;
	bool out_stalled;
	bool out_dead;
	atomic_uint_least64_t dropped;

	/* socket mode: the listener; in_fd == out_fd is the client (loop thread changes it,
	 * out_fd under out_lock). */
	int listen_fd;
	struct ev_handler *listen_h;
	char *sock_path;
	/* pty mode: our own slave fd keeps the pty alive between users. */
	int pty_slave_fd;
	char pty_path[64];
	/* terminal size */
	int winch_fd;
	struct ev_handler *winch_h;
	chardev_winsize_fn winsz_fn;
	void *winsz_opaque;
};

static void chr_sock_drop_client(struct chardev *chr);

/* A private, non-blocking file description for fd where possible (pipes, FIFOs, ttys), so
 * O_NONBLOCK never leaks into the description the shell shares with us. Else a dup, used
 * per *io without changing its flags. */
static int chr_reopen(int fd, int acc, enum chr_io *io)
{
	struct stat st;
	int nfd;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		char p[40];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		nfd = open(p, acc | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (nfd >= 0) {
			*io = CHR_IO_NONBLOCK;
			return nfd;
		}
	}
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -errno;
	if (S_ISSOCK(st.st_mode))
		*io = CHR_IO_SOCKET;
	else if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		*io = CHR_IO_PLAIN;
	else
		*io = CHR_IO_GUARD;
	return nfd;
}

static size_t chr_deliver(struct chardev *chr, const uint8_t *buf, size_t len)
{
	size_t took = 0;

	pthread_mutex_lock(&chr->in_lock);
	if (chr->in_fn)
		took = chr->in_fn(chr->in_opaque, buf, len);
	pthread_mutex_unlock(&chr->in_lock);
	return took > len ? len : took;
}

static void chr_in_unwatch(struct chardev *chr)
{
	if (chr->in_h) {
		ev_del(chr->loop, chr->in_h);
		chr->in_h = NULL;
	}
}

static void chr_att_unwatch(struct chardev *chr)
{
	if (chr->att_h) {
		ev_del(chr->loop, chr->att_h);
		chr->att_h = NULL;
	}
}

/* Hand bytes just read to the consumer; keep what it does not take and stop reading. */
static void chr_take(struct chardev *chr, const uint8_t *buf, size_t n)
{
	size_t took = chr_deliver(chr, buf, n);
	if (took < n) {
		memcpy(chr->pend, buf + took, n - took);
		chr->pend_off = 0;
		chr->pend_len = n - took;
		chr_in_unwatch(chr);
		chr_att_unwatch(chr);
	}
}

static void chr_in_cb(void *opaque, uint32_t events)
{
	struct chardev *chr = opaque;
	uint8_t buf[CHR_IN_CHUNK];
	size_t want = sizeof(buf);
	ssize_t n;

	if (chr->pend_len) { /* not expected while watched; keep ordering anyway */
		chr_in_unwatch(chr);
		return;
	}
	if (chr->in_io == CHR_IO_GUARD) { /* blocking description: read only what is there */
		int avail = 0;
		if (ioctl(chr->in_fd, FIONREAD, &avail) < 0)
			avail = 0;
		if (avail <= 0 && !(events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
			return;
		if (avail > 0 && (size_t)avail < want)
			want = (size_t)avail;
	}
	if (chr->in_io == CHR_IO_SOCKET)
		n = recv(chr->in_fd, buf, want, MSG_DONTWAIT);
	else
		n = read(chr->in_fd, buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* end of input, or hang-up (EIO on a pty whose master closed) */
		if (chr->mode == SERIAL_SOCKET) { /* the client left: wait for the next one */
			chr_sock_drop_client(chr);
			return;
		}
		if (n < 0)
			log_info("chardev: input: read failed: %s; input closed", strerror(errno));
		chr->in_eof = true;
		chr_in_unwatch(chr);
		return;
	}
	chr_take(chr, buf, (size_t)n);
}

static void chr_detach(struct chardev *chr, bool notify);

static void chr_att_cb(void *opaque, uint32_t events)
{
	struct chardev *chr = opaque;
	uint8_t buf[CHR_IN_CHUNK];

	(void)events;
	if (chr->pend_len) {
		chr_att_unwatch(chr);
		return;
	}
	ssize_t n = recv(chr->att_fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* the client hung up */
		chr_detach(chr, true);
		return;
	}
	chr_take(chr, buf, (size_t)n);
}

/* Watch the current input source (the attached client, else our input fd) unless bytes are
 * pending for the consumer. */
static void chr_watch_input(struct chardev *chr)
{
	int r;
	if (chr->pend_len)
		return;
	if (chr->att_fd >= 0) {
		if (!chr->att_h) {
			r = ev_add(chr->loop, chr->att_fd, EPOLLIN | EPOLLRDHUP, chr_att_cb, chr,
				   &chr->att_h);
			if (r < 0) {
				log_warn("chardev: console client: cannot watch: %s", strerror(-r));
				chr->att_h = NULL;
			}
		}
		return;
	}
	if (chr->in_h || chr->in_eof || chr->in_fd < 0)
		return;
	r = ev_add(chr->loop, chr->in_fd, EPOLLIN | EPOLLRDHUP, chr_in_cb, chr, &chr->in_h);
	if (r == -EPERM) { /* /dev/null or a regular file: epoll cannot watch it */
		log_debug("chardev: input: stdin cannot be polled; no input");
		chr->in_eof = true;
		chr->in_h = NULL;
	} else if (r < 0) {
		log_warn("chardev: input: cannot watch stdin: %s; input disabled", strerror(-r));
		chr->in_eof = true;
		chr->in_h = NULL;
	}
}

static void chr_wake_cb(void *opaque, uint32_t events)
{
	struct chardev *chr = opaque;
	uint64_t v;

	(void)events;
	if (read(chr->wake_fd, &v, sizeof(v)) < 0) {
		/* spurious wakeup: nothing to drain */
	}
	if (chr->pend_len) {
		size_t took = chr_deliver(chr, chr->pend + chr->pend_off, chr->pend_len);
		chr->pend_off += took;
		chr->pend_len -= took;
		if (chr->pend_len)
			return; /* still full: wait for the next resume */
		chr->pend_off = 0;
	}
	chr_watch_input(chr);
}

static int chr_wake_setup(struct chardev *chr)
{
	if (chr->wake_fd >= 0)
		return 0;
	chr->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (chr->wake_fd < 0)
		return -errno;
	return ev_add(chr->loop, chr->wake_fd, EPOLLIN, chr_wake_cb, chr, &chr->wake_h);
}

int chardev_attach(struct chardev *chr, int fd, void (*on_detach)(void *opaque), void *opaque)
{
	if (!chr->loop)
		return -ENOTSUP;
	if (chr->att_fd >= 0)
		return -EBUSY;
	int r = chr_wake_setup(chr);
	if (r < 0)
		return r;
	chr_in_unwatch(chr); /* the client is the input while attached */
	chr->att_on_detach = on_detach;
	chr->att_opaque = opaque;
	pthread_mutex_lock(&chr->out_lock);
	chr->att_fd = fd;
	pthread_mutex_unlock(&chr->out_lock);
	chr_watch_input(chr);
	return 0;
}

static void chr_detach(struct chardev *chr, bool notify)
{
	if (chr->att_fd < 0)
		return;
	chr_att_unwatch(chr);
	pthread_mutex_lock(&chr->out_lock);
	chr->att_fd = -1;
	pthread_mutex_unlock(&chr->out_lock);
	chr_watch_input(chr);
	if (notify && chr->att_on_detach)
		chr->att_on_detach(chr->att_opaque);
}

void chardev_detach(struct chardev *chr)
{
	if (chr)
		chr_detach(chr, false);
}

bool chardev_attached(struct chardev *chr)
{
	return chr && chr->att_fd >= 0;
}

void chardev_input_resume(struct chardev *chr)
{
	uint64_t one = 1;

	if (!chr || chr->wake_fd < 0)
		return;
	if (write(chr->wake_fd, &one, sizeof(one)) < 0) {
		/* counter saturated: a wakeup is pending anyway */
	}
}

void chardev_set_input(struct chardev *chr, chardev_input_fn fn, void *opaque)
{
	if (!chr)
		return;
	pthread_mutex_lock(&chr->in_lock);
	chr->in_fn = fn;
	chr->in_opaque = opaque;
	pthread_mutex_unlock(&chr->in_lock);
	if (fn)
		chardev_input_resume(chr);
}

void chardev_restore_terminal(struct chardev *chr)
{
	if (!chr)
		return;
	if (atomic_exchange(&chr->raw, false)) {
		/* Block SIGTTOU so a backgrounded vireo can still put the terminal back. */
		sigset_t set, old;
		sigemptyset(&set);
		sigaddset(&set, SIGTTOU);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		while (tcsetattr(chr->tty_fd, TCSANOW, &chr->saved_tio) < 0 && errno == EINTR)
			;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
}

bool chardev_term_raw(struct chardev *chr)
{
	return chr && atomic_load(&chr->raw);
}

uint64_t chardev_dropped(struct chardev *chr)
{
	return chr ? atomic_load(&chr->dropped) : 0;
}

/* Raw mode on a foreground terminal: no echo, no line editing, bytes as typed. ISIG stays so
 * Ctrl-C reaches vireo; suspend and quit characters are disabled (they go to the guest). */
static void chr_term_raw(struct chardev *chr)
{
	pid_t fg = tcgetpgrp(chr->in_fd);
	struct termios t;

	if (fg >= 0 && fg != getpgrp()) {
		log_info("chardev: stdin: terminal not in the foreground; input disabled");
		close(chr->in_fd);
		chr->in_fd = -1;
		return;
	}
	if (tcgetattr(chr->in_fd, &chr->saved_tio) < 0)
		return;
	t = chr->saved_tio;
	cfmakeraw(&t);
	t.c_oflag = chr->saved_tio.c_oflag; /* keep output processing as the user had it */
	t.c_lflag |= ISIG;
	t.c_cc[VSUSP] = _POSIX_VDISABLE;
	t.c_cc[VQUIT] = _POSIX_VDISABLE;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	chr->tty_fd = chr->in_fd;
	if (tcsetattr(chr->in_fd, TCSANOW, &t) == 0)
		atomic_store(&chr->raw, true);
}

static int chr_open_stdio(struct chardev *chr, char *err, size_t errlen)
{
	int fd = chr_reopen(STDOUT_FILENO, O_WRONLY, &chr->out_io);

	if (fd < 0) {
		snprintf(err, errlen, "serial: stdout: %s", strerror(-fd));
		return fd;
	}
	chr->out_fd = fd;
	if (!chr->loop)
		return 0;
	fd = chr_reopen(STDIN_FILENO, O_RDONLY, &chr->in_io);
	if (fd < 0) {
		log_info("chardev: stdin: %s; input disabled", strerror(-fd));
		return 0;
	}
	chr->in_fd = fd;
	if (isatty(fd))
		chr_term_raw(chr);
	return 0;
}

/* ---- socket mode ---- */

static void chr_accept_cb(void *opaque, uint32_t events)
{
	struct chardev *chr = opaque;
	(void)events;
	if (chr->in_fd >= 0)
		return; /* one client at a time: the next waits in the backlog */
	int fd = accept4(chr->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_rl(LOG_WARN, "console socket %s: accept: %s", chr->sock_path, strerror(errno));
		return;
	}
	pthread_mutex_lock(&chr->out_lock);
	chr->out_fd = fd;
	chr->out_stalled = chr->out_dead = false;
	pthread_mutex_unlock(&chr->out_lock);
	chr->in_fd = fd;
	chr->in_eof = false;
	chr->pend_len = chr->pend_off = 0;
	if (chr->listen_h) {
		ev_del(chr->loop, chr->listen_h);
		chr->listen_h = NULL;
	}
	log_info("console socket %s: client connected", chr->sock_path);
	chardev_input_resume(chr); /* starts reading if a consumer is set */
}

static void chr_sock_drop_client(struct chardev *chr)
{
	chr_in_unwatch(chr);
	pthread_mutex_lock(&chr->out_lock);
	chr->out_fd = -1;
	pthread_mutex_unlock(&chr->out_lock);
	if (chr->in_fd >= 0)
		close(chr->in_fd);
	chr->in_fd = -1;
	chr->pend_len = chr->pend_off = 0;
	log_info("console socket %s: client left", chr->sock_path);
	if (!chr->listen_h &&
	    ev_add(chr->loop, chr->listen_fd, EPOLLIN, chr_accept_cb, chr, &chr->listen_h) < 0)
		log_warn("console socket %s: cannot accept clients any more", chr->sock_path);
}

static int chr_open_socket(struct chardev *chr, const char *path, char *err, size_t errlen)
{
	if (!path || !*path || !chr->loop) {
		snprintf(err, errlen, "console socket: needs a path and an event loop");
		return -EINVAL;
	}
	int r = uds_listen(path, 4, &chr->listen_fd);
	if (r < 0) {
		snprintf(err, errlen, "console socket %s: %s", path,
			 r == -EEXIST	     ? "exists and is not a socket"
			 : r == -EADDRINUSE ? "in use by another process"
					     : strerror(-r));
		return r;
	}
	chr->sock_path = strdup(path);
	chr->in_io = chr->out_io = CHR_IO_SOCKET;
	return chr->sock_path ? 0 : -ENOMEM;
}

bool chardev_connected(struct chardev *chr)
{
	return chr && chr->mode == SERIAL_SOCKET && chr->in_fd >= 0;
}

/* ---- pty mode ---- */

static int chr_open_pty(struct chardev *chr, char *err, size_t errlen)
{
	struct termios t;
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
	    ptsname_r(m, chr->pty_path, sizeof(chr->pty_path)) != 0) {
		int e = errno;
		if (m >= 0)
			close(m);
		snprintf(err, errlen, "console pty: %s", strerror(e));
		return -e;
	}
	chr->pty_slave_fd = open(chr->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (chr->pty_slave_fd < 0 || tcgetattr(chr->pty_slave_fd, &t) < 0) {
		int e = errno;
		close(m);
		snprintf(err, errlen, "console pty %s: %s", chr->pty_path, strerror(e));
		return -e;
	}
	cfmakeraw(&t);
	if (tcsetattr(chr->pty_slave_fd, TCSANOW, &t) < 0) {
		int e = errno;
		close(m);
		snprintf(err, errlen, "console pty %s: raw mode: %s", chr->pty_path, strerror(e));
		return -e;
	}
	chr->in_fd = m;
	chr->out_fd = fcntl(m, F_DUPFD_CLOEXEC, 3);
	if (chr->out_fd < 0) {
		int e = errno;
		snprintf(err, errlen, "console pty: %s", strerror(e));
		return -e;
	}
	chr->in_io = chr->out_io = CHR_IO_NONBLOCK;
	return 0;
}

const char *chardev_pty_path(struct chardev *chr)
{
	return chr && chr->mode == SERIAL_PTY ? chr->pty_path : NULL;
}

/* ---- terminal size ---- */

static void chr_winch_cb(void *opaque, uint32_t events)
{
	struct chardev *chr = opaque;
	struct signalfd_siginfo si;
	struct winsize ws;
	(void)events;
	while (read(chr->winch_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	if (ioctl(chr->tty_fd, TIOCGWINSZ, &ws) == 0 && chr->winsz_fn)
		chr->winsz_fn(chr->winsz_opaque, ws.ws_col, ws.ws_row);
}

int chardev_watch_winsize(struct chardev *chr, chardev_winsize_fn fn, void *opaque,
			  uint16_t *cols, uint16_t *rows)
{
	struct winsize ws;
	sigset_t set;

	if (!chr || chr->mode != SERIAL_STDIO || chr->tty_fd < 0 || !chr->loop)
		return -ENOTTY;
	if (ioctl(chr->tty_fd, TIOCGWINSZ, &ws) < 0)
		return -errno;
	*cols = ws.ws_col;
	*rows = ws.ws_row;
	if (chr->winch_fd >= 0)
		return -EBUSY;
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	int r = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (r)
		return -r;
	chr->winch_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (chr->winch_fd < 0)
		return -errno;
	chr->winsz_fn = fn;
	chr->winsz_opaque = opaque;
	return ev_add(chr->loop, chr->winch_fd, EPOLLIN, chr_winch_cb, chr, &chr->winch_h);
}

static int chr_create(enum serial_mode mode, const char *path, struct ev_loop *loop, bool append,
		      struct chardev **out, char *err, size_t errlen)
{
	struct chardev *chr = calloc(1, sizeof(*chr));
	int r = 0;

	if (!chr) {
		snprintf(err, errlen, "serial: out of memory");
		return -ENOMEM;
	}
	chr->mode = mode;
	chr->loop = loop;
	chr->in_fd = chr->out_fd = chr->wake_fd = chr->tty_fd = chr->att_fd = -1;
	chr->listen_fd = chr->pty_slave_fd = chr->winch_fd = -1;
	chr->in_io = chr->out_io = CHR_IO_PLAIN;
	atomic_init(&chr->raw, false);
	atomic_init(&chr->dropped, 0);
	pthread_mutex_init(&chr->in_lock, NULL);
	pthread_mutex_init(&chr->out_lock, NULL);

	switch (mode) {
	case SERIAL_STDIO:
		r = chr_open_stdio(chr, err, errlen);
		break;
	case SERIAL_FILE:
		if (!path || !*path) {
			snprintf(err, errlen, "serial: file mode needs a path");
			r = -EINVAL;
			break;
		}
		chr->out_fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC) | O_CLOEXEC,
				   0644);
		if (chr->out_fd < 0) {
			r = -errno;
			snprintf(err, errlen, "serial: %s: %s", path, strerror(errno));
		}
		break;
	case SERIAL_NONE:
		break;
	case SERIAL_SOCKET:
		r = chr_open_socket(chr, path, err, errlen);
		break;
	case SERIAL_PTY:
		r = chr_open_pty(chr, err, errlen);
		break;
	default:
		snprintf(err, errlen, "serial: unknown mode %d", (int)mode);
		r = -EINVAL;
	}
	if (r == 0 && (chr->in_fd >= 0 || chr->listen_fd >= 0)) {
		r = chr_wake_setup(chr);
		if (r < 0)
			snprintf(err, errlen, "serial: eventfd: %s", strerror(-r));
		/* Input starts when a consumer is set (chardev_set_input resumes). */
	}
	if (r == 0 && chr->listen_fd >= 0) {
		r = ev_add(loop, chr->listen_fd, EPOLLIN, chr_accept_cb, chr, &chr->listen_h);
		if (r < 0)
			snprintf(err, errlen, "console socket: event loop: %s", strerror(-r));
	}
	if (r < 0) {
		chardev_destroy(chr);
		return r;
	}
	*out = chr;
	return 0;
}

int chardev_create(enum serial_mode mode, const char *path, struct ev_loop *loop,
		   struct chardev **out, char *err, size_t errlen)
{
	return chr_create(mode, path, loop, false, out, err, errlen);
}

int chardev_create_append(enum serial_mode mode, const char *path, struct ev_loop *loop,
			  struct chardev **out, char *err, size_t errlen)
{
	return chr_create(mode, path, loop, true, out, err, errlen);
}

void chardev_destroy(struct chardev *chr)
{
	if (!chr)
		return;
	chr_detach(chr, true);
	chr_in_unwatch(chr);
	if (chr->wake_h)
		ev_del(chr->loop, chr->wake_h);
	if (chr->listen_h)
		ev_del(chr->loop, chr->listen_h);
	if (chr->winch_h)
		ev_del(chr->loop, chr->winch_h);
	if (chr->winch_fd >= 0)
		close(chr->winch_fd);
	if (chr->listen_fd >= 0) {
		close(chr->listen_fd);
		if (chr->sock_path)
			unlink(chr->sock_path);
	}
	free(chr->sock_path);
	if (chr->pty_slave_fd >= 0)
		close(chr->pty_slave_fd);
	if (chr->mode == SERIAL_SOCKET && chr->in_fd >= 0) {
		close(chr->in_fd); /* the client: in_fd and out_fd are the same socket */
		chr->in_fd = chr->out_fd = -1;
	}
	chardev_restore_terminal(chr);
	if (chr->in_fd >= 0)
		close(chr->in_fd);
	if (chr->out_fd >= 0)
		close(chr->out_fd);
	if (chr->wake_fd >= 0)
		close(chr->wake_fd);
	pthread_mutex_destroy(&chr->in_lock);
	pthread_mutex_destroy(&chr->out_lock);
	free(chr);
}

/* Wait (bounded) until the output fd takes data. False: the reader stalled, drop. */
static bool chr_wait_writable_locked(struct chardev *chr)
{
	struct pollfd pfd = {.fd = chr->out_fd, .events = POLLOUT};
	int r;

	do
		r = poll(&pfd, 1, chr->out_stalled ? 0 : CHR_STALL_WAIT_MS);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return true; /* writable, or an error the write will report */
	chr->out_stalled = true;
	return false;
}

void chardev_write(struct chardev *chr, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	bool was_stalled;

	if (!chr || !len)
		return;
	pthread_mutex_lock(&chr->out_lock);
	if (chr->att_fd >= 0) { /* the attached client gets what it can take now */
		size_t off = 0;
		while (off < len) {
			ssize_t n = send(chr->att_fd, p + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (!(n < 0 && errno == EINTR))
				break; /* full (dropped) or gone (the loop sees the hang-up) */
		}
	}
	was_stalled = chr->out_stalled;
	if (chr->out_fd < 0) { /* none, file-less modes, or no socket client right now */
		pthread_mutex_unlock(&chr->out_lock);
		return;
	}
	while (len && !chr->out_dead) {
		ssize_t n;
		if (chr->out_io == CHR_IO_GUARD) {
			/* A blocking pipe or tty: POLLOUT promises room for one byte. */
			if (!chr_wait_writable_locked(chr))
				break;
			n = write(chr->out_fd, p, 1);
		} else if (chr->out_io == CHR_IO_SOCKET) {
			n = send(chr->out_fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			n = write(chr->out_fd, p, len);
		}
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			chr->out_stalled = false;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			if (!chr_wait_writable_locked(chr))
				break;
		} else {
			chr->out_dead = true;
			if (chr->mode == SERIAL_SOCKET) /* the client left; the next one gets output */
				log_info("chardev: output: client gone: %s",
					 n < 0 ? strerror(errno) : "wrote nothing");
			else
				log_warn("chardev: output: write failed: %s; discarding further output",
					 n < 0 ? strerror(errno) : "wrote nothing");
		}
	}
	if (len) {
		uint64_t d = atomic_fetch_add(&chr->dropped, len) + len;
		if (!chr->out_dead && !was_stalled) /* one line per stall */
			log_rl(LOG_WARN,
			       "chardev: output: reader stalled, dropping output (%llu "
			       "bytes so far)",
			       (unsigned long long)d);
	}
	pthread_mutex_unlock(&chr->out_lock);
}
