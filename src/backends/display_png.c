/* SPDX-License-Identifier: MIT */
/*
 * PNG screenshots of the display (libpng's simplified write API), and the `--display
 * screenshot=PATH` trigger: the file is written on SIGUSR2 and once more when the VM stops.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <png.h>
#include "backends/display.h"
#include "backends/display_png.h"
#include "base/ev_loop.h"
#include "base/log.h"

int display_screenshot(struct display *d, const char *path, char *err, size_t errlen)
{
	uint32_t w = 0, h = 0;
	uint8_t *bgrx = NULL, *rgb = NULL;
	char tmp[4096];
	int r = 0;

	/* The mode may change between sizing and copying: retry until the copy is whole. */
	bool whole = false;
	for (int tries = 0; tries < 8 && !whole; tries++) {
		size_t need = display_read(d, &w, &h, NULL, 0);
		free(bgrx);
		bgrx = malloc(need ? need : 1);
		if (!bgrx)
			break;
		whole = display_read(d, &w, &h, bgrx, need) <= need;
	}
	rgb = whole ? malloc((size_t)w * h * 3 + 1) : NULL;
	if (!rgb) {
		snprintf(err, errlen, "screenshot %s: %s", path,
			 whole || !bgrx ? "out of memory" : "the screen keeps changing size");
		r = whole || !bgrx ? -ENOMEM : -EAGAIN;
		goto out;
	}
	for (size_t i = 0, n = (size_t)w * h; i < n; i++) {
		rgb[3 * i] = bgrx[4 * i + 2];
		rgb[3 * i + 1] = bgrx[4 * i + 1];
		rgb[3 * i + 2] = bgrx[4 * i];
	}
	/* Write beside the target and rename: readers never see a half-written file. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "screenshot: path too long");
		r = -ENAMETOOLONG;
		goto out;
	}
	png_image img;
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = w;
	img.height = h;
	img.format = PNG_FORMAT_RGB;
	if (!png_image_write_to_file(&img, tmp, 0, rgb, (png_int_32)(w * 3), NULL)) {
		snprintf(err, errlen, "screenshot %s: %s", path, img.message);
		png_image_free(&img);
		unlink(tmp);
		r = -EIO;
		goto out;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		snprintf(err, errlen, "screenshot %s: %s", path, strerror(-r));
		unlink(tmp);
		goto out;
	}
	log_info("display: screenshot %ux%u written to %s", w, h, path);
out:
	free(bgrx);
	free(rgb);
	return r;
}

struct display_snap {
	struct display *d;
	struct ev_loop *loop;
	char *path;
	int sig_fd;
	struct ev_handler *h;
};

static void snap_write(struct display_snap *s)
{
	char err[512];
	if (display_screenshot(s->d, s->path, err, sizeof(err)) < 0)
		log_warn("%s", err);
}

static void on_sigusr2(void *opaque, uint32_t events)
{
	struct display_snap *s = opaque;
	struct signalfd_siginfo si;
	(void)events;
	while (read(s->sig_fd, &si, sizeof(si)) == sizeof(si))
		;
	snap_write(s);
}

int display_snap_create(struct display *d, struct ev_loop *loop, const char *path,
			struct display_snap **out)
{
	struct display_snap *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->d = d;
	s->loop = loop;
	s->sig_fd = -1;
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return -ENOMEM;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	int r = s->sig_fd < 0 ? -errno : 0;
	if (r == 0)
		r = ev_add(loop, s->sig_fd, EPOLLIN, on_sigusr2, s, &s->h);
	if (r < 0) {
		if (s->sig_fd >= 0)
			close(s->sig_fd);
		free(s->path);
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

void display_snap_destroy(struct display_snap *s)
{
	if (!s)
		return;
	snap_write(s);
	if (s->h)
		ev_del(s->loop, s->h);
	close(s->sig_fd);
	free(s->path);
	free(s);
}

void display_snap_destroy_opaque(void *s)
{
	display_snap_destroy(s);
}
