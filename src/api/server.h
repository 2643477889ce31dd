/* SPDX-License-Identifier: MIT */
/*
 * The API's HTTP/1.1 server (libmicrohttpd) on a unix socket, on its own thread. It never
 * waits for the VMM: a complete, decoded request is queued and its connection suspended; the
 * VMM thread takes requests when api_server_fd() is readable, applies them and hands each back
 * with api_server_done(), which resumes the connection and sends the response.
 *
 * Limits: bodies over API_BODY_MAX get 413; headers over 16 KiB are refused by the library;
 * a connection idle for 30 s is closed; at most API_MAX_CONNECTIONS connections and
 * API_MAX_QUEUED queued requests (503 beyond).
 */
#ifndef VIREO_API_SERVER_H
#define VIREO_API_SERVER_H

#include <stddef.h>
#include "api/api.h"
#include "base/util.h"

#define API_MAX_CONNECTIONS 1000
#define API_MAX_QUEUED 1024
#define API_IDLE_TIMEOUT_S 30

struct api_server;

/* Bind a listening unix socket at path. An existing socket file nobody answers on is replaced;
 * one that answers is "in use" (-EADDRINUSE). One-line reason in err. */
int api_listen_unix(const char *path, int *fd_out, char *err, size_t errlen) WUR;

/* Serve on listen_fd (the server owns it from now on, also on failure). */
int api_server_start(int listen_fd, struct api_server **out, char *err, size_t errlen) WUR;
/* Readable (an eventfd) while requests wait in the queue. */
int api_server_fd(struct api_server *s);
/* The next queued request, or NULL. */
struct api_req *api_server_take(struct api_server *s);
/* The response in req is complete: send it (any thread). For API_CONSOLE_ATTACH requests:
 * close the upgraded connection and free the request. */
void api_server_done(struct api_server *s, struct api_req *req);
/* From now on new requests get 503 at once (the VMM is going away). */
void api_server_close(struct api_server *s);
/* Answer what is still queued with 503, let the responses go out (at most ~1 s), stop the
 * thread and free. Every taken request must have been done. NULL-safe. */
void api_server_stop(struct api_server *s);

#endif
