/* SPDX-License-Identifier: MIT */
/* The VNC back-end: see display_vnc.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include <rfb/rfb.h>
#include "backends/display.h"
#include "backends/display_vnc.h"
#include "backends/keymap.h"
#include "base/log.h"

#define VNC_MAX_RECTS 32 /* queued damage rectangles before they merge into one */
#define VNC_PASSWORD_MAX 64

struct display_vnc {
	rfbScreenInfoPtr screen;
	struct display *d;
	struct display_listener *listener;
	char where[64]; /* "127.0.0.1:5900" for log lines */
	uint16_t port;
	char password[VNC_PASSWORD_MAX];
	char *passwords[2]; /* for rfbCheckPasswordByList */

	pthread_t thread;
	bool running;
	atomic_bool stop;
	int wake_fd;

	/* Queued by the display (any thread), applied by the server thread. */
	pthread_mutex_t lock;
	bool mode_pending;
	void *fb;
	uint32_t w, h;
	struct display_rect rects[VNC_MAX_RECTS];
	unsigned nr_rects;
	bool cursor_pending;
	struct display_cursor cursor; /* visible == false: hidden */

	/* Server thread only. */
	int last_buttons;
};

/* libvncserver's log hooks are process-wide function pointers; these only forward. */
static void vnc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vnc_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vnc_log(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("vnc: %s", buf);
}

static void vnc_err(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_rl(LOG_INFO, "vnc: %s", buf);
}

static void wake(struct display_vnc *v)
{
	uint64_t one = 1;
	if (write(v->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_rl(LOG_WARN, "vnc %s: wakeup: %s", v->where, strerror(errno));
}

/* ---- display listener (any thread, display lock held) ---- */

static void on_mode(void *opaque, void *fb, uint32_t w, uint32_t h, uint32_t stride)
{
	struct display_vnc *v = opaque;
	(void)stride; /* always w * 4 */
	pthread_mutex_lock(&v->lock);
	v->mode_pending = true;
	v->fb = fb;
	v->w = w;
	v->h = h;
	v->nr_rects = 0;
	pthread_mutex_unlock(&v->lock);
	wake(v);
}

static void on_damage(void *opaque, const struct display_rect *r)
{
	struct display_vnc *v = opaque;
	pthread_mutex_lock(&v->lock);
	if (v->nr_rects < VNC_MAX_RECTS) {
		v->rects[v->nr_rects++] = *r;
	} else {
		/* Too many pieces: merge everything into the bounding box. */
		struct display_rect *b = &v->rects[0];
		uint32_t x1 = MIN(b->x, r->x), y1 = MIN(b->y, r->y);
		uint32_t x2 = MAX(b->x + b->w, r->x + r->w), y2 = MAX(b->y + b->h, r->y + r->h);
		for (unsigned i = 1; i < v->nr_rects; i++) {
			x1 = MIN(x1, v->rects[i].x);
			y1 = MIN(y1, v->rects[i].y);
			x2 = MAX(x2, v->rects[i].x + v->rects[i].w);
			y2 = MAX(y2, v->rects[i].y + v->rects[i].h);
		}
		*b = (struct display_rect){x1, y1, x2 - x1, y2 - y1};
		v->nr_rects = 1;
	}
	pthread_mutex_unlock(&v->lock);
	wake(v);
}

static void on_cursor(void *opaque, const struct display_cursor *c)
{
	struct display_vnc *v = opaque;
	pthread_mutex_lock(&v->lock);
	v->cursor_pending = true;
	if (c)
		v->cursor = *c;
	else
		v->cursor.visible = false;
	pthread_mutex_unlock(&v->lock);
	wake(v);
}

static const struct display_listener_ops vnc_listener_ops = {
    .mode = on_mode,
    .damage = on_damage,
    .cursor = on_cursor,
};

/* ---- server thread ---- */

/* The surface is B G R X in memory: a little-endian word with red at bit 16. */
static void set_server_format(rfbScreenInfoPtr s)
{
	s->serverFormat.redShift = 16;
	s->serverFormat.greenShift = 8;
	s->serverFormat.blueShift = 0;
}

static void apply_cursor(struct display_vnc *v, const struct display_cursor *c)
{
	uint32_t w = c->visible ? c->w : 1, h = c->visible ? c->h : 1;
	rfbCursorPtr cur = calloc(1, sizeof(*cur));
	unsigned char *rich = calloc((size_t)w * h, 4);
	unsigned char *alpha = calloc((size_t)w * h, 1);
	if (!cur || !rich || !alpha) {
		free(cur);
		free(rich);
		free(alpha);
		return;
	}
	if (c->visible) {
		for (uint32_t i = 0; i < w * h; i++) {
			uint32_t p = c->pixels[i]; /* bytes B G R A */
			memcpy(rich + 4 * i, &p, 4);
			rich[4 * i + 3] = 0;
			alpha[i] = (unsigned char)(p >> 24);
		}
	}
	cur->width = (unsigned short)w;
	cur->height = (unsigned short)h;
	cur->xhot = (unsigned short)(c->visible ? c->hot_x : 0);
	cur->yhot = (unsigned short)(c->visible ? c->hot_y : 0);
	cur->richSource = rich;
	cur->alphaSource = alpha;
	cur->mask = (unsigned char *)rfbMakeMaskFromAlphaSource((int)w, (int)h, alpha);
	cur->cleanup = TRUE;
	cur->cleanupRichSource = TRUE;
	cur->cleanupMask = TRUE;
	cur->cleanupSource = TRUE;
	/* rfbFreeCursor frees alphaSource with the rich source (libvncserver >= 0.9.11). */
	rfbSetCursor(v->screen, cur);
}

static void apply_pending(struct display_vnc *v)
{
	struct display_rect rects[VNC_MAX_RECTS];
	struct display_cursor *cursor = NULL;
	bool mode;
	void *fb;
	uint32_t w, h;
	unsigned n;

	pthread_mutex_lock(&v->lock);
	mode = v->mode_pending;
	fb = v->fb;
	w = v->w;
	h = v->h;
	n = v->nr_rects;
	memcpy(rects, v->rects, n * sizeof(rects[0]));
	v->mode_pending = false;
	v->nr_rects = 0;
	if (v->cursor_pending) {
		cursor = malloc(sizeof(*cursor));
		if (cursor)
			*cursor = v->cursor;
		v->cursor_pending = false;
	}
	pthread_mutex_unlock(&v->lock);

	rfbScreenInfoPtr s = v->screen;
	if (mode) {
		rfbNewFramebuffer(s, fb, (int)w, (int)h, 8, 3, 4);
		/* rfbNewFramebuffer reset the pixel format: set ours and let every viewer's
		 * translation follow it. */
		set_server_format(s);
		rfbClientIteratorPtr it = rfbGetClientIterator(s);
		rfbClientPtr cl;
		while ((cl = rfbClientIteratorNext(it)))
			s->setTranslateFunction(cl);
		rfbReleaseClientIterator(it);
		rfbMarkRectAsModified(s, 0, 0, (int)w, (int)h);
	}
	for (unsigned i = 0; i < n; i++) {
		/* Rectangles queued before a mode change may lie outside the new mode. */
		uint32_t x2 = MIN(rects[i].x + rects[i].w, (uint32_t)s->width);
		uint32_t y2 = MIN(rects[i].y + rects[i].h, (uint32_t)s->height);
		if (rects[i].x < x2 && rects[i].y < y2)
			rfbMarkRectAsModified(s, (int)rects[i].x, (int)rects[i].y, (int)x2,
					      (int)y2);
	}
	if (cursor) {
		apply_cursor(v, cursor);
		free(cursor);
	}
}

static void *vnc_thread(void *opaque)
{
	struct display_vnc *v = opaque;
	while (!atomic_load(&v->stop)) {
		apply_pending(v);
		/* Wait for viewers' sockets, a new viewer or the display. */
		fd_set fds = v->screen->allFds;
		int maxfd = MAX(v->screen->maxFd, v->wake_fd);
		FD_SET(v->wake_fd, &fds);
		struct timeval tv = {1, 0};
		int n = select(maxfd + 1, &fds, NULL, NULL, &tv);
		if (n < 0 && errno != EINTR) {
			log_err("vnc %s: select: %s", v->where, strerror(errno));
			break;
		}
		if (n > 0 && FD_ISSET(v->wake_fd, &fds)) {
			uint64_t x;
			if (read(v->wake_fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
				break;
		}
		apply_pending(v);
		/* Accept, read one message per ready viewer, send pending updates. */
		rfbProcessEvents(v->screen, 0);
	}
	return NULL;
}

/* ---- viewer callbacks (server thread) ---- */

static struct display_vnc *vnc_of(rfbClientPtr cl)
{
	return cl->screen->screenData;
}

static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct display_vnc *v = vnc_of(cl);
	uint16_t code = keymap_keysym_to_linux((uint32_t)keysym);
	if (!code) {
		log_rl(LOG_INFO, "vnc %s: keysym 0x%x has no key on a US keyboard", v->where,
		       (unsigned)keysym);
		return;
	}
	display_input_key(v->d, code, down);
}

static void on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	struct display_vnc *v = vnc_of(cl);
	rfbScreenInfoPtr s = cl->screen;
	int wheel = 0;
	/* Buttons 4 and 5 (bits 3, 4) are wheel steps: count the presses. */
	if ((mask & 8) && !(v->last_buttons & 8))
		wheel++;
	if ((mask & 16) && !(v->last_buttons & 16))
		wheel--;
	v->last_buttons = mask;
	x = MAX(0, MIN(x, s->width - 1));
	y = MAX(0, MIN(y, s->height - 1));
	uint32_t ax =
	    s->width > 1 ? (uint32_t)((uint64_t)x * DISPLAY_ABS_MAX / (uint32_t)(s->width - 1)) : 0;
	uint32_t ay = s->height > 1
			  ? (uint32_t)((uint64_t)y * DISPLAY_ABS_MAX / (uint32_t)(s->height - 1))
			  : 0;
	display_input_pointer(v->d, ax, ay, (uint32_t)mask & 7, wheel);
	rfbDefaultPtrAddEvent(mask, x, y, cl);
}

static int on_desktop_size(int w, int h, int nr_screens, struct rfbExtDesktopScreen *screens,
			   rfbClientPtr cl)
{
	struct display_vnc *v = vnc_of(cl);
	(void)nr_screens;
	(void)screens;
	if (w <= 0 || h <= 0 || (uint32_t)w > DISPLAY_MAX_WIDTH || (uint32_t)h > DISPLAY_MAX_HEIGHT)
		return rfbExtDesktopSize_InvalidScreenLayout;
	log_info("vnc %s: viewer %s asks for %dx%d", v->where, cl->host, w, h);
	display_request_resize(v->d, (uint32_t)w, (uint32_t)h);
	return rfbExtDesktopSize_Success;
}

static void on_client_gone(rfbClientPtr cl)
{
	log_info("vnc %s: viewer %s disconnected", vnc_of(cl)->where, cl->host);
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
	log_info("vnc %s: viewer %s connected", vnc_of(cl)->where, cl->host);
	cl->clientGoneHook = on_client_gone;
	return RFB_CLIENT_ACCEPT;
}

/* ---- lifecycle ---- */

static int read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = -errno;
		snprintf(err, errlen, "--display password=%s: %s", path, strerror(-e));
		return e;
	}
	char line[256] = "";
	bool got = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (!got || !line[0]) {
		snprintf(err, errlen, "--display password=%s: the first line is empty", path);
		return -EINVAL;
	}
	if (strlen(line) >= outlen) {
		snprintf(err, errlen, "--display password=%s: longer than %zu characters", path,
			 outlen - 1);
		return -EINVAL;
	}
	if (strlen(line) > 8)
		log_warn("--display password=%s: VNC authentication uses only the first 8 "
			 "characters",
			 path);
	snprintf(out, outlen, "%s", line);
	memset(line, 0, sizeof(line));
	return 0;
}

static int listen_tcp(const char *addr, uint16_t port, int *fd_out, uint16_t *bound, char *err,
		      size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "--display vnc=%s:%u: not an IPv4 address", addr, port);
		return -EINVAL;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = -errno;
		snprintf(err, errlen, "vnc %s:%u: socket: %s", addr, port, strerror(-e));
		return e;
	}
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		int e = -errno;
		snprintf(err, errlen, "vnc %s:%u: %s", addr, port, strerror(-e));
		close(fd);
		return e;
	}
	socklen_t len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	*bound = port;
	*fd_out = fd;
	return 0;
}

int display_vnc_create(const char *addr, uint16_t port, const char *password_file,
		       struct display_vnc **out, char *err, size_t errlen)
{
	struct display_vnc *v = calloc(1, sizeof(*v));
	int fd = -1, r;
	if (!v) {
		snprintf(err, errlen, "vnc: out of memory");
		return -ENOMEM;
	}
	v->wake_fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	if (password_file &&
	    (r = read_password(password_file, v->password, sizeof(v->password), err, errlen)) < 0)
		goto fail;
	r = listen_tcp(addr, port, &fd, &v->port, err, errlen);
	if (r < 0)
		goto fail;
	snprintf(v->where, sizeof(v->where), "%s:%u", addr, v->port);
	v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->wake_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "vnc %s: eventfd: %s", v->where, strerror(-r));
		goto fail;
	}

	rfbLog = vnc_log;
	rfbErr = vnc_err;
	int argc = 1;
	char arg0[] = "vireo";
	char *argv[] = {arg0, NULL};
	rfbScreenInfoPtr s = rfbGetScreen(&argc, argv, 640, 480, 8, 3, 4);
	if (!s) {
		snprintf(err, errlen, "vnc %s: cannot create the server", v->where);
		r = -ENOMEM;
		goto fail;
	}
	v->screen = s;
	s->screenData = v;
	s->desktopName = "vireo";
	/* No pointer image until the guest defines one (libvncserver's default arrow would be
	 * painted into the pictures of viewers that cannot draw cursors themselves). */
	s->cursor = NULL;
	set_server_format(s);
	/* Our own socket: libvncserver takes it as already set up. */
	s->autoPort = FALSE;
	s->port = v->port;
	s->ipv6port = 0;
	s->listenSock = fd;
	s->listen6Sock = RFB_INVALID_SOCKET;
	FD_ZERO(&s->allFds);
	FD_SET(fd, &s->allFds);
	s->maxFd = fd;
	s->socketState = RFB_SOCKET_READY;
	fd = -1;
	s->httpDir = NULL;
	s->alwaysShared = TRUE; /* several viewers at once */
	s->deferUpdateTime = 0; /* the server thread already batches the display's damage */
	s->maxClientWait = 5000;
	s->kbdAddEvent = on_key;
	s->ptrAddEvent = on_pointer;
	s->setDesktopSizeHook = on_desktop_size;
	s->newClientHook = on_new_client;
	if (v->password[0]) {
		v->passwords[0] = v->password;
		v->passwords[1] = NULL;
		s->authPasswdData = v->passwords;
		s->passwordCheck = rfbCheckPasswordByList;
	}
	rfbInitServer(s);
	*out = v;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	display_vnc_destroy(v);
	return r;
}

int display_vnc_start(struct display_vnc *v, struct display *d)
{
	v->d = d;
	int r = display_listener_add(d, &vnc_listener_ops, v, &v->listener);
	if (r < 0)
		return r;
	/* The first mode is applied before any viewer can connect. */
	v->screen->frameBuffer = v->fb;
	apply_pending(v);
	r = -pthread_create(&v->thread, NULL, vnc_thread, v);
	if (r < 0) {
		display_listener_remove(v->listener);
		v->listener = NULL;
		return r;
	}
	v->running = true;
	pthread_setname_np(v->thread, "vnc"); /* for top/ps and the benchmarks */
	log_info("vnc: listening on %s%s", v->where, v->password[0] ? " (password)" : "");
	return 0;
}

void display_vnc_destroy(struct display_vnc *v)
{
	if (!v)
		return;
	if (v->running) {
		atomic_store(&v->stop, true);
		wake(v);
		pthread_join(v->thread, NULL);
	}
	if (v->listener)
		display_listener_remove(v->listener);
	if (v->screen) {
		rfbShutdownServer(v->screen, TRUE);
		rfbScreenCleanup(v->screen);
	}
	if (v->wake_fd >= 0)
		close(v->wake_fd);
	pthread_mutex_destroy(&v->lock);
	memset(v->password, 0, sizeof(v->password));
	free(v);
}

void display_vnc_destroy_opaque(void *v)
{
	display_vnc_destroy(v);
}

uint16_t display_vnc_port(struct display_vnc *v)
{
	return v->port;
}
