/* SPDX-License-Identifier: MIT */
/* The API's HTTP server: libmicrohttpd on a unix socket, requests queued to the VMM thread. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include "api/server.h"
#include "base/log.h"

enum conn_phase {
	PH_RECEIVING, /* headers done, body arriving */
	PH_QUEUED,    /* decoded, waiting for the VMM (connection suspended) */
	PH_DONE,      /* the VMM answered; send it */
};

struct conn {
	struct api_server *s;
	struct MHD_Connection *c;
	enum conn_phase phase;
	char *buf;
	size_t len;
	bool too_big;
	bool counted; /* counted in s->busy until the library completes the request */
	struct api_req req;
	struct conn *next; /* queue */
};

/* An upgraded vm.console connection, handed to the VMM as an API_CONSOLE_ATTACH request. */
struct upgraded {
	struct api_req req;
	struct MHD_UpgradeResponseHandle *urh;
	struct upgraded *next; /* queue */
};

struct api_server {
	struct MHD_Daemon *d;
	int listen_fd;
	int wake_fd; /* eventfd: requests queued */
	atomic_bool closing;

	pthread_mutex_t lock; /* the queue and the counters below */
	pthread_cond_t cond;
	struct conn *head, *tail;
	struct upgraded *att_head; /* API_CONSOLE_ATTACH requests (served first) */
	unsigned queued;
	unsigned taken;	   /* handed to the VMM, not done yet */
	unsigned busy;	   /* requests queued or answered but not completed by the library */
	unsigned upgraded; /* console connections not closed yet */
};

/* ---- listening socket ---- */

int api_listen_unix(const char *path, int *fd_out, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "api socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "api socket %s: exists and is not a socket", path);
			return -EEXIST;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			snprintf(err, errlen, "api socket %s: in use by another process", path);
			return -EADDRINUSE;
		}
		if (fd >= 0)
			close(fd);
		unlink(path); /* left behind by a VMM that died */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "api socket: %s", strerror(errno));
		return -errno;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "api socket %s: %s", path, strerror(e));
		return e == EADDRINUSE ? -EADDRINUSE : -e;
	}
	*fd_out = fd;
	return 0;
}

/* ---- responses ---- */

static enum MHD_Result send_reply(struct conn *k, unsigned status, const char *body,
				  const char *allow)
{
	struct api_server *s = k->s;
	size_t len = body ? strlen(body) : 0;
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (len)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result r = MHD_queue_response(k->c, status, resp);
	MHD_destroy_response(resp);
	if (r == MHD_YES) {
		pthread_mutex_lock(&s->lock);
		if (!k->counted)
			s->busy++;
		k->counted = true;
		pthread_mutex_unlock(&s->lock);
	}
	return r;
}

/* An error before the request reached the VMM. */
static enum MHD_Result send_error(struct conn *k, unsigned status, const char *allow,
				  const char *msg)
{
	api_req_error(&k->req, status, "%s", msg);
	return send_reply(k, status, k->req.body, allow);
}

/* ---- vm.console upgrade ---- */

static void on_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra,
			size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct api_server *s = cls;
	struct upgraded *u = calloc(1, sizeof(*u));
	uint64_t one = 1;

	(void)c;
	(void)req_cls;
	(void)extra;
	if (extra_len)
		log_rl(LOG_INFO, "api: vm.console: %zu bytes sent before the upgrade dropped",
		       extra_len);
	pthread_mutex_lock(&s->lock);
	s->upgraded++;
	pthread_mutex_unlock(&s->lock);
	if (!u) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		pthread_mutex_lock(&s->lock);
		s->upgraded--;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	api_req_init(&u->req);
	u->req.route = NULL;
	u->req.fd = sock;
	u->req.upgrade = u;
	u->urh = urh;
	pthread_mutex_lock(&s->lock);
	u->next = s->att_head;
	s->att_head = u;
	s->queued++;
	pthread_mutex_unlock(&s->lock);
	if (write(s->wake_fd, &one, sizeof(one)) < 0) {
		/* saturated: the VMM is being woken anyway */
	}
}

static enum MHD_Result reply_done(struct api_server *s, struct conn *k)
{
	struct api_req *req = &k->req;
	if (req->route && req->route->op == API_VM_CONSOLE && req->status == 101) {
		struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, s);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "vireo-console");
		enum MHD_Result r = MHD_queue_response(k->c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
		MHD_destroy_response(resp);
		return r; /* counted since it was queued */
	}
	return send_reply(k, req->status ? req->status : 500, req->body, NULL);
}

/* ---- the request handler (libmicrohttpd's thread) ---- */

static bool parse_content_length(const char *v, uint64_t *out)
{
	char *end;
	if (!v || !*v || *v == '-' || *v == '+')
		return false;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end)
		return false;
	*out = n;
	return true;
}

static void enqueue(struct api_server *s, struct conn *k)
{
	uint64_t one = 1;
	k->next = NULL;
	if (s->tail)
		s->tail->next = k;
	else
		s->head = k;
	s->tail = k;
	s->queued++;
	s->busy++;
	k->counted = true;
	if (write(s->wake_fd, &one, sizeof(one)) < 0) {
		/* saturated: the VMM is being woken anyway */
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct api_server *s = cls;
	struct conn *k = *con_cls;

	(void)version;
	if (!k) { /* headers are in: check what can be checked before any body */
		const struct api_route *rt = api_route_find(url);
		uint64_t cl = 0;
		const char *clh;

		k = calloc(1, sizeof(*k));
		if (!k)
			return MHD_NO;
		k->s = s;
		k->c = c;
		api_req_init(&k->req);
		*con_cls = k;
		char msg[160];
		if (atomic_load(&s->closing))
			return send_error(k, 503, NULL, "the VMM is shutting down");
		if (!rt) {
			snprintf(msg, sizeof(msg), "no route %.80s", url);
			return send_error(k, 404, NULL, msg);
		}
		if (strcmp(method, rt->method) != 0) {
			snprintf(msg, sizeof(msg), "%s: use %s", rt->name, rt->method);
			return send_error(k, 405, rt->method, msg);
		}
		clh =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clh && !parse_content_length(clh, &cl))
			return send_error(k, 400, NULL, "bad Content-Length");
		if (cl > API_BODY_MAX) {
			snprintf(msg, sizeof(msg), "%s: body larger than %d bytes", rt->name,
				 API_BODY_MAX);
			return send_error(k, 413, NULL, msg);
		}
		k->req.route = rt;
		return MHD_YES;
	}
	if (k->phase == PH_DONE)
		return reply_done(s, k);
	if (k->phase == PH_QUEUED) /* resumed without an answer: cannot happen */
		return MHD_NO;
	if (*upload_len) {
		size_t n = *upload_len;
		*upload_len = 0;
		if (k->too_big || k->len + n > API_BODY_MAX) {
			/* chunked and over the limit: drop the connection (no response is
			 * possible while the body arrives) */
			k->too_big = true;
			return MHD_NO;
		}
		char *nb = realloc(k->buf, k->len + n + 1);
		if (!nb)
			return MHD_NO;
		memcpy(nb + k->len, upload, n);
		k->buf = nb;
		k->len += n;
		k->buf[k->len] = '\0';
		return MHD_YES;
	}
	/* The whole request is in. */
	if (api_req_decode(&k->req, k->req.route, k->buf ? k->buf : "", k->len) != 0)
		return send_reply(k, k->req.status, k->req.body, NULL);
	pthread_mutex_lock(&s->lock);
	if (atomic_load(&s->closing) || s->queued >= API_MAX_QUEUED) {
		pthread_mutex_unlock(&s->lock);
		return send_error(k, 503, NULL,
				  atomic_load(&s->closing) ? "the VMM is shutting down"
							   : "too many requests queued");
	}
	k->phase = PH_QUEUED;
	MHD_suspend_connection(c);
	enqueue(s, k);
	pthread_mutex_unlock(&s->lock);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct api_server *s = cls;
	struct conn *k = *con_cls;
	(void)c;
	(void)why;
	if (!k)
		return;
	pthread_mutex_lock(&s->lock);
	if (k->counted)
		s->busy--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	api_req_fini(&k->req);
	free(k->buf);
	free(k);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_rl(LOG_INFO, "api: %s", msg);
}

/* ---- the VMM side ---- */

int api_server_start(int listen_fd, struct api_server **out, char *err, size_t errlen)
{
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s) {
		close(listen_fd);
		snprintf(err, errlen, "api: out of memory");
		return -ENOMEM;
	}
	s->listen_fd = listen_fd;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	atomic_init(&s->closing, false);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		int e = errno;
		snprintf(err, errlen, "api: eventfd: %s", strerror(e));
		close(listen_fd);
		free(s);
		return -e;
	}
	s->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)API_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)API_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "api: cannot start the HTTP server (libmicrohttpd)");
		close(s->wake_fd);
		close(listen_fd);
		free(s);
		return -EIO;
	}
	*out = s;
	return 0;
}

int api_server_fd(struct api_server *s)
{
	return s->wake_fd;
}

struct api_req *api_server_take(struct api_server *s)
{
	struct api_req *req = NULL;
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	if (s->att_head) {
		struct upgraded *u = s->att_head;
		s->att_head = u->next;
		req = &u->req;
	} else if (s->head) {
		struct conn *k = s->head;
		s->head = k->next;
		if (!s->head)
			s->tail = NULL;
		req = &k->req;
	}
	if (req) {
		s->queued--;
		s->taken++;
	}
	if (!s->queued && read(s->wake_fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
	pthread_mutex_unlock(&s->lock);
	return req;
}

void api_server_done(struct api_server *s, struct api_req *req)
{
	pthread_mutex_lock(&s->lock);
	s->taken--;
	pthread_mutex_unlock(&s->lock);
	if (req->upgrade) { /* a console connection: close it */
		struct upgraded *u = req->upgrade;
		MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
		api_req_fini(&u->req);
		free(u);
		pthread_mutex_lock(&s->lock);
		s->upgraded--;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	struct conn *k = container_of(req, struct conn, req);
	k->phase = PH_DONE;
	MHD_resume_connection(k->c);
}

void api_server_close(struct api_server *s)
{
	if (s)
		atomic_store(&s->closing, true);
}

void api_server_stop(struct api_server *s)
{
	struct api_req *req;
	struct timespec dl;

	if (!s)
		return;
	api_server_close(s);
	while ((req = api_server_take(s))) {
		if (!req->upgrade)
			api_req_error(req, 503, "the VMM is shutting down");
		api_server_done(s, req);
	}
	/* Let the answers go out: the library completes each one it sent. */
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 1;
	pthread_mutex_lock(&s->lock);
	while ((s->busy || s->upgraded) && pthread_cond_timedwait(&s->cond, &s->lock, &dl) == 0)
		;
	pthread_mutex_unlock(&s->lock);
	MHD_stop_daemon(s->d);
	close(s->listen_fd);
	close(s->wake_fd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
