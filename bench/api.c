/* SPDX-License-Identifier: MIT */
/*
 * API latency benchmark (bench/run-api.sh runs it):
 *
 *   api-bench http SOCKET ROUTE CLIENTS REQUESTS   GET /api/v1/ROUTE from CLIENTS threads, each
 *                                                  on its own keep-alive connection (libcurl)
 *   api-bench http-pause SOCKET ROUNDS             PUT vm.pause then vm.resume, ROUNDS times
 *   api-bench qmp SOCKET COMMAND REQUESTS          a QEMU QMP command, one client (the peer)
 *   api-bench qmp-pause SOCKET ROUNDS              QMP stop then cont
 *
 * Prints one line: what, count, p50 and p99 in microseconds (and the pause/resume pairs).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *v, size_t n)
{
	if (!n) {
		printf("%s: no samples\n", what);
		return;
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("%s: n=%zu p50=%llu us p99=%llu us max=%llu us\n", what, n,
	       (unsigned long long)v[n / 2], (unsigned long long)v[(n * 99) / 100],
	       (unsigned long long)v[n - 1]);
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

struct client {
	const char *sock, *method, *route;
	unsigned requests;
	uint64_t *lat;
	unsigned errors;
};

static void *http_client(void *arg)
{
	struct client *c = arg;
	char url[128];
	CURL *h = curl_easy_init();
	snprintf(url, sizeof(url), "http://localhost/api/v1/%s", c->route);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	if (!strcmp(c->method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	for (unsigned i = 0; i < c->requests; i++) {
		long code = 0;
		uint64_t t0 = now_us();
		CURLcode rc = curl_easy_perform(h);
		c->lat[i] = now_us() - t0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (rc != CURLE_OK || code >= 300)
			c->errors++;
	}
	curl_easy_cleanup(h);
	return NULL;
}

static int http_bench(const char *sock, const char *route, unsigned clients, unsigned requests)
{
	struct client *cs = calloc(clients, sizeof(*cs));
	pthread_t *th = calloc(clients, sizeof(*th));
	uint64_t *all = calloc((size_t)clients * requests, sizeof(*all));
	unsigned errors = 0;
	char what[128];

	for (unsigned i = 0; i < clients; i++) {
		cs[i] =
		    (struct client){sock, "GET", route, requests, all + (size_t)i * requests, 0};
		pthread_create(&th[i], NULL, http_client, &cs[i]);
	}
	for (unsigned i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		errors += cs[i].errors;
	}
	snprintf(what, sizeof(what), "vireo %s, %u client%s", route, clients,
		 clients > 1 ? "s" : "");
	report(what, all, (size_t)clients * requests);
	if (errors)
		printf("  %u errors\n", errors);
	free(cs);
	free(th);
	free(all);
	return errors ? 1 : 0;
}

static int http_pause(const char *sock, unsigned rounds)
{
	uint64_t *p = calloc(rounds, sizeof(*p)), *r = calloc(rounds, sizeof(*r));
	struct client pause = {sock, "PUT", "vm.pause", 1, NULL, 0};
	struct client resume = {sock, "PUT", "vm.resume", 1, NULL, 0};
	for (unsigned i = 0; i < rounds; i++) {
		pause.lat = &p[i];
		resume.lat = &r[i];
		http_client(&pause);
		usleep(20000);
		http_client(&resume);
		usleep(20000);
	}
	report("vireo vm.pause", p, rounds);
	report("vireo vm.resume", r, rounds);
	free(p);
	free(r);
	return pause.errors + resume.errors ? 1 : 0;
}

/* ---- QMP (QEMU's JSON monitor), the peer ---- */

static int qmp_fd = -1;
static char qbuf[65536];
static size_t qlen;

/* The next line QEMU sent (NUL-terminated in line), or -1. */
static int qmp_line(char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(qbuf, '\n', qlen);
		if (nl) {
			size_t n = (size_t)(nl - qbuf);
			snprintf(line, cap, "%.*s", (int)n, qbuf);
			memmove(qbuf, nl + 1, qlen - n - 1);
			qlen -= n + 1;
			return 0;
		}
		if (qlen == sizeof(qbuf))
			return -1;
		ssize_t r = read(qmp_fd, qbuf + qlen, sizeof(qbuf) - qlen);
		if (r <= 0)
			return -1;
		qlen += (size_t)r;
	}
}

/* Skip events until the command's "return" (0) or "error" (-1). */
static int qmp_read_reply(void)
{
	char line[4096];
	while (qmp_line(line, sizeof(line)) == 0) {
		if (strstr(line, "\"return\""))
			return 0;
		if (strstr(line, "\"error\""))
			return -1;
	}
	return -1;
}

static int qmp_cmd(const char *cmd)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "{\"execute\": \"%s\"}\n", cmd);
	if (write(qmp_fd, msg, (size_t)n) != n)
		return -1;
	return qmp_read_reply();
}

static int qmp_connect(const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char greet[4096];
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	qmp_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(qmp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    qmp_line(greet, sizeof(greet)) < 0 || qmp_cmd("qmp_capabilities") < 0) {
		fprintf(stderr, "qmp %s: cannot connect\n", sock);
		return -1;
	}
	return 0;
}

static int qmp_bench(const char *sock, const char *cmd, unsigned requests)
{
	uint64_t *v = calloc(requests, sizeof(*v));
	char what[128];
	if (qmp_connect(sock) < 0)
		return 1;
	for (unsigned i = 0; i < requests; i++) {
		uint64_t t0 = now_us();
		if (qmp_cmd(cmd) < 0)
			return 1;
		v[i] = now_us() - t0;
	}
	snprintf(what, sizeof(what), "qemu qmp %s, 1 client", cmd);
	report(what, v, requests);
	free(v);
	return 0;
}

static int qmp_pause(const char *sock, unsigned rounds)
{
	uint64_t *p = calloc(rounds, sizeof(*p)), *r = calloc(rounds, sizeof(*r));
	if (qmp_connect(sock) < 0)
		return 1;
	for (unsigned i = 0; i < rounds; i++) {
		uint64_t t0 = now_us();
		if (qmp_cmd("stop") < 0)
			return 1;
		p[i] = now_us() - t0;
		usleep(20000);
		t0 = now_us();
		if (qmp_cmd("cont") < 0)
			return 1;
		r[i] = now_us() - t0;
		usleep(20000);
	}
	report("qemu qmp stop", p, rounds);
	report("qemu qmp cont", r, rounds);
	return 0;
}

int main(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc == 6 && !strcmp(argv[1], "http"))
		return http_bench(argv[2], argv[3], (unsigned)atoi(argv[4]),
				  (unsigned)atoi(argv[5]));
	if (argc == 4 && !strcmp(argv[1], "http-pause"))
		return http_pause(argv[2], (unsigned)atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "qmp"))
		return qmp_bench(argv[2], argv[3], (unsigned)atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "qmp-pause"))
		return qmp_pause(argv[2], (unsigned)atoi(argv[3]));
	fprintf(stderr, "usage: api-bench http SOCK ROUTE CLIENTS REQUESTS | http-pause SOCK ROUNDS"
			" | qmp SOCK CMD REQUESTS | qmp-pause SOCK ROUNDS\n");
	return 2;
}
