/* SPDX-License-Identifier: MIT */
/*
 * The VNC back-end of the display, on libvncserver (`--display vnc=ADDR:PORT[,password=FILE]`).
 *
 * One server thread owns every libvncserver object: it accepts viewers (several at once, all
 * shared), reads their messages (keys and pointer go to the display's input sinks, desktop
 * size requests to display_request_resize()) and sends framebuffer updates. Damage, mode and
 * cursor changes from the display are queued under a small lock and applied by that thread, so
 * viewers get only the damaged rectangles. The framebuffer libvncserver reads is the display's
 * surface itself (it never moves; see display.h).
 *
 * Authentication: none, or classic VNC authentication (the DES challenge; only the first 8
 * characters of the password count) with the password on the first line of FILE.
 */
#ifndef VIREO_BACKENDS_DISPLAY_VNC_H
#define VIREO_BACKENDS_DISPLAY_VNC_H

#include <stddef.h>
#include <stdint.h>
#include "base/util.h"

struct display;
struct display_vnc;

/* Bind and listen on addr (an IPv4 address) and port, and read the password file (NULL: no
 * authentication). No thread yet. One-line reason in err, e.g.
 * "vnc 127.0.0.1:5900: Address already in use". */
int display_vnc_create(const char *addr, uint16_t port, const char *password_file,
		       struct display_vnc **out, char *err, size_t errlen) WUR;
/* Show d and start serving viewers (call with the VMM's signals blocked). */
int display_vnc_start(struct display_vnc *v, struct display *d) WUR;
/* Stop the thread, disconnect the viewers, close the socket, free. NULL-safe. */
void display_vnc_destroy(struct display_vnc *v);
void display_vnc_destroy_opaque(void *v);
/* The port listened on (the kernel's choice when 0 was asked for). */
uint16_t display_vnc_port(struct display_vnc *v);

#endif
