/* SPDX-License-Identifier: MIT */
/* vireo ls / ctl / stop / console: the API's command-line client. See client.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include "api/api.h"
#include "api/client.h"
#include "api/runtime.h"
#include "config/json.h"

#define CALL_TIMEOUT_MS 10000 /* one request; the VMM answers at once except boot/stop */
#define RESP_MAX (16 * 1024 * 1024)

/* ---- HTTP over the unix socket (libcurl) ---- */

struct resp_buf {
	char *p;
	size_t len;
	bool overflow;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *opaque)
{
	struct resp_buf *b = opaque;
	size_t len = size * n;
	if (b->len + len > RESP_MAX) {
		b->overflow = true;
		return 0;
	}
	char *np = realloc(b->p, b->len + len + 1);
	if (!np)
		return 0;
	memcpy(np + b->len, ptr, len);
	b->p = np;
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

int api_call(const char *sock, const char *method, const char *route, const char *body, char **resp,
	     long timeout_ms, char *err, size_t errlen)
{
	struct resp_buf b = {NULL, 0, false};
	struct curl_slist *hdr = NULL;
	char url[160];
	long code = 0;
	CURL *c = curl_easy_init();

	if (!c) {
		snprintf(err, errlen, "libcurl: cannot initialise");
		return -ENOMEM;
	}
	snprintf(url, sizeof(url), "http://localhost" API_PREFIX "%s", route);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	hdr = curl_slist_append(hdr, "Expect:");
	if (!strcmp(method, "PUT")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
		if (body)
			hdr = curl_slist_append(hdr, "Content-Type: application/json");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		free(b.p);
		snprintf(err, errlen, "%s: %s", sock,
			 rc == CURLE_COULDNT_CONNECT ? "cannot connect (is the VM running?)"
			 : b.overflow		     ? "response too large"
						     : curl_easy_strerror(rc));
		return rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
	}
	if (resp)
		*resp = b.p ? b.p : strdup("");
	else
		free(b.p);
	return (int)code;
}

/* The one-line reason of an error response ({"error": "..."}), or the raw body. */
static void print_error(const char *who, const char *route, int status, const char *body)
{
	json_t *o = body ? json_loads(body, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(o, "error"));
	if (msg)
		fprintf(stderr, "vireo: %s: %s (HTTP %d)\n", who, msg, status);
	else
		fprintf(stderr, "vireo: %s: %s: HTTP %d\n", who, route, status);
	json_decref(o);
}

/* ---- vireo ls ---- */

static void fmt_size(char *out, size_t len, uint64_t b)
{
	if (b && b % GiB == 0)
		snprintf(out, len, "%lluG", (unsigned long long)(b / GiB));
	else if (b % MiB == 0)
		snprintf(out, len, "%lluM", (unsigned long long)(b / MiB));
	else
		snprintf(out, len, "%lluK", (unsigned long long)(b / KiB));
}

static void fmt_uptime(char *out, size_t len, json_int_t ms)
{
	long long s = ms / 1000;
	if (s < 60)
		snprintf(out, len, "%llds", s);
	else if (s < 3600)
		snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, len, "%lldh%02lldm", s / 3600, (s / 60) % 60);
	else
		snprintf(out, len, "%lldd%02lldh", s / 86400, (s / 3600) % 24);
}

/* What ls shows of one VM, as JSON: name, pid, state, cpus, memory, uptime_ms, disks. */
static json_t *ls_query(const struct rt_entry *e)
{
	char err[256], *body = NULL;
	json_t *row = json_pack("{s:s, s:i}", "name", e->name, "pid", (int)e->pid);
	int st = api_call(e->sock, "GET", "vm.info", NULL, &body, 2000, err, sizeof(err));

	if (st == 404) {
		json_object_set_new(row, "state", json_string("NotCreated"));
	} else if (st != 200) {
		json_object_set_new(row, "state", json_string("Unresponsive"));
	} else {
		json_t *info = json_loads(body, 0, NULL), *cfg = json_object_get(info, "config");
		json_t *disks = json_array(), *d;
		size_t i;
		json_object_set(row, "state", json_object_get(info, "state"));
		json_object_set(row, "cpus",
				json_object_get(json_object_get(cfg, "cpus"), "boot_vcpus"));
		json_object_set(row, "memory",
				json_object_get(json_object_get(cfg, "memory"), "size"));
		if (json_object_get(info, "uptime_ms"))
			json_object_set(row, "uptime_ms", json_object_get(info, "uptime_ms"));
		json_array_foreach(json_object_get(cfg, "disks"), i, d)
		{
			json_t *p = json_object_get(d, "path");
			json_array_append(disks, p ? p : json_object_get(d, "vhost_socket"));
		}
		json_object_set_new(row, "disks", disks);
		json_decref(info);
	}
	free(body);
	return row;
}

static void ls_usage(FILE *out)
{
	fputs("usage: vireo ls [--json]\n"
	      "Lists the VMs in the runtime directory ($XDG_RUNTIME_DIR/vireo, or /run/vireo as\n"
	      "root): name, pid, state, vCPUs, memory, uptime and disks. Entries left by VMs\n"
	      "that died are removed.\n",
	      out);
}

int cmd_ls(int argc, char **argv)
{
	struct rt_entry *v;
	size_t n;
	char err[512];
	bool as_json = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			as_json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			ls_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "vireo: ls: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (rt_list(&v, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "vireo: ls: %s\n", err);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	json_t *rows = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(rows, ls_query(&v[i]));
	free(v);
	if (as_json) {
		char *s = json_dumps(rows, JSON_INDENT(2));
		puts(s ? s : "[]");
		free(s);
	} else {
		size_t i;
		json_t *r;
		printf("%-20s %8s %-12s %4s %7s %9s %s\n", "NAME", "PID", "STATE", "CPUS", "MEMORY",
		       "UPTIME", "DISKS");
		json_array_foreach(rows, i, r)
		{
			char mem[32] = "-", up[32] = "-", cpus[16] = "-", disks[1024] = "";
			json_t *d;
			size_t k;
			if (json_is_integer(json_object_get(r, "memory")))
				fmt_size(
				    mem, sizeof(mem),
				    (uint64_t)json_integer_value(json_object_get(r, "memory")));
			if (json_is_integer(json_object_get(r, "uptime_ms")))
				fmt_uptime(up, sizeof(up),
					   json_integer_value(json_object_get(r, "uptime_ms")));
			if (json_is_integer(json_object_get(r, "cpus")))
				snprintf(cpus, sizeof(cpus), "%lld",
					 (long long)json_integer_value(json_object_get(r, "cpus")));
			json_array_foreach(json_object_get(r, "disks"), k, d)
			{
				size_t len = strlen(disks);
				snprintf(disks + len, sizeof(disks) - len, "%s%s", k ? "," : "",
					 json_string_value(d) ? json_string_value(d) : "?");
			}
			printf("%-20s %8d %-12s %4s %7s %9s %s\n",
			       json_string_value(json_object_get(r, "name")),
			       (int)json_integer_value(json_object_get(r, "pid")),
			       json_string_value(json_object_get(r, "state")), cpus, mem, up,
			       disks[0] ? disks : "-");
		}
	}
	json_decref(rows);
	curl_global_cleanup();
	return 0;
}

/* ---- vireo ctl ---- */

enum verb_body { VB_NONE, VB_FILE, VB_RESIZE };

static const struct {
	const char *verb;
	const char *route;
	enum verb_body body;
	const char *help;
} verbs[] = {
    {"ping", "vmm.ping", VB_NONE, "the VMM's version, pid and name"},
    {"create", "vm.create", VB_FILE, "FILE.json|-   create the VM from a VmConfig"},
    {"boot", "vm.boot", VB_NONE, "boot the created VM"},
    {"info", "vm.info", VB_NONE, "configuration and state"},
    {"pause", "vm.pause", VB_NONE, "stop the vCPUs and devices"},
    {"resume", "vm.resume", VB_NONE, "continue a paused VM"},
    {"shutdown", "vm.shutdown", VB_NONE, "stop the VM (the VMM stays)"},
    {"reboot", "vm.reboot", VB_NONE, "stop the VM and boot it again"},
    {"power-button", "vm.power-button", VB_NONE, "press the ACPI power button"},
    {"delete", "vm.delete", VB_NONE, "stop and forget the VM"},
    {"counters", "vm.counters", VB_NONE, "per-device counters"},
    {"resize", "vm.resize", VB_RESIZE, "desired_balloon=SIZE   resize the balloon"},
    {"console", "vm.console", VB_NONE, "attach to the serial console (as vireo console)"},
    {"vmm-shutdown", "vmm.shutdown", VB_NONE, "stop the VM and end the VMM process"},
};

static void ctl_usage(FILE *out)
{
	fputs("usage: vireo ctl NAME VERB [ARGS]\n"
	      "NAME is a VM name (vireo ls) or the path of an API socket. VERB is a route name\n"
	      "(vm.pause, vmm.ping, ...) or one of:\n",
	      out);
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(out, "  %-14s %s\n", verbs[i].verb, verbs[i].help);
	fputs("JSON answers go to stdout; errors are one line on stderr (exit status 1).\n", out);
}

static int read_body_file(const char *path, char **out, char *err, size_t errlen)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f || !b) {
		snprintf(err, errlen, "%s: %s", path, f ? "out of memory" : strerror(errno));
		free(b);
		return -1;
	}
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= CFG_JSON_MAX) {
				snprintf(err, errlen, "%s: larger than 1 MiB", path);
				free(b);
				if (f != stdin)
					fclose(f);
				return -1;
			}
			cap *= 2;
			char *nb = realloc(b, cap);
			if (!nb)
				break;
			b = nb;
		}
		size_t n = fread(b + len, 1, cap - len - 1, f);
		if (!n)
			break;
		len += n;
	}
	b[len] = '\0';
	if (f != stdin)
		fclose(f);
	*out = b;
	return 0;
}

/* key=value arguments of `ctl NAME resize` -> a VmResize body. */
static int resize_body(int argc, char **argv, char **out, char *err, size_t errlen)
{
	json_t *o = json_object();
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		uint64_t v;
		if (!eq) {
			snprintf(err, errlen, "resize: '%s' is not key=value", argv[i]);
			json_decref(o);
			return -1;
		}
		*eq = '\0';
		bool vcpus = !strcmp(argv[i], "desired_vcpus");
		if ((vcpus ? parse_uint(eq + 1, 1, 4096, &v) : parse_size(eq + 1, &v)) < 0 ||
		    (!vcpus && strcmp(argv[i], "desired_ram") &&
		     strcmp(argv[i], "desired_balloon"))) {
			snprintf(err, errlen,
				 "resize: %s=%s: expected desired_balloon=SIZE, "
				 "desired_ram=SIZE or desired_vcpus=N",
				 argv[i], eq + 1);
			json_decref(o);
			return -1;
		}
		json_object_set_new(o, argv[i], json_integer((json_int_t)v));
	}
	*out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return 0;
}

static int console_run(const char *who, const char *sock);

int cmd_ctl(int argc, char **argv)
{
	char sock[RT_PATH_MAX], err[512], *body = NULL, *resp = NULL;
	const char *route = NULL;
	enum verb_body vb = VB_NONE;
	int extra;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		ctl_usage(stdout);
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr,
			"vireo: ctl: usage: vireo ctl NAME VERB [ARGS] (vireo ctl --help)\n");
		return 2;
	}
	const char *name = argv[1], *verb = argv[2];
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(verb, verbs[i].verb) || !strcmp(verb, verbs[i].route)) {
			route = verbs[i].route;
			vb = verbs[i].body;
		}
	const struct api_route *rt = NULL;
	if (route) {
		char path[96];
		snprintf(path, sizeof(path), API_PREFIX "%s", route);
		rt = api_route_find(path);
	}
	if (!rt) {
		fprintf(stderr, "vireo: ctl: unknown verb '%s' (vireo ctl --help)\n", verb);
		return 2;
	}
	extra = argc - 3;
	if ((vb == VB_NONE && extra) || (vb == VB_FILE && extra != 1) ||
	    (vb == VB_RESIZE && !extra)) {
		fprintf(stderr, "vireo: ctl: %s: %s\n", verb,
			vb == VB_FILE	  ? "needs one FILE.json (or - for stdin)"
			: vb == VB_RESIZE ? "needs desired_balloon=SIZE"
					  : "takes no arguments");
		return 2;
	}
	if (vb == VB_FILE && read_body_file(argv[3], &body, err, sizeof(err)) < 0) {
		fprintf(stderr, "vireo: ctl: %s\n", err);
		return 2;
	}
	if (vb == VB_RESIZE && resize_body(extra, argv + 3, &body, err, sizeof(err)) < 0) {
		fprintf(stderr, "vireo: ctl: %s\n", err);
		return 2;
	}
	int r = rt_resolve(name, sock, sizeof(sock), err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vireo: ctl: %s\n", err);
		free(body);
		return r == -EINVAL ? 2 : 1;
	}
	if (rt->op == API_VM_CONSOLE)
		return console_run(name, sock);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int st = api_call(sock, rt->method, rt->name, body, &resp, 120000, err, sizeof(err));
	int ret = 0;
	if (st < 0) {
		fprintf(stderr, "vireo: %s: %s\n", name, err);
		ret = 1;
	} else if (st < 200 || st >= 300) {
		print_error(name, rt->name, st, resp);
		ret = 1;
	} else if (resp && *resp) {
		json_t *o = json_loads(resp, 0, NULL);
		char *pretty = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
		puts(pretty ? pretty : resp);
		free(pretty);
		json_decref(o);
	}
	free(resp);
	free(body);
	curl_global_cleanup();
	return ret;
}

/* ---- vireo stop ---- */

/* Has the VM's process gone? Its lock (named VMs) or its socket tells. */
static bool vm_gone(const char *name, const char *sock)
{
	char dir[256], path[512], err[256];
	if (!strchr(name, '/') && rt_dir(dir, sizeof(dir), false, err, sizeof(err)) == 0) {
		snprintf(path, sizeof(path), "%s/%s.lock", dir, name);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return true;
		bool free_ = flock(fd, LOCK_SH | LOCK_NB) == 0;
		close(fd);
		return free_;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool gone = fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0;
	if (fd >= 0)
		close(fd);
	return gone;
}

static bool wait_gone(const char *name, const char *sock, double secs)
{
	struct timespec t = {0, 100 * 1000 * 1000};
	for (double waited = 0; waited < secs; waited += 0.1) {
		if (vm_gone(name, sock))
			return true;
		nanosleep(&t, NULL);
	}
	return vm_gone(name, sock);
}

int cmd_stop(int argc, char **argv)
{
	char sock[RT_PATH_MAX], err[512], *resp = NULL;
	uint64_t timeout = 30;
	const char *name = NULL;
	int st;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			puts("usage: vireo stop NAME [--timeout SECONDS]\n"
			     "Presses the VM's ACPI power button and waits for the guest to power "
			     "off;\n"
			     "after SECONDS (default 30), or at once when the VM is not running or "
			     "has\n"
			     "no power button, stops it (vmm.shutdown).");
			return 0;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (parse_uint(argv[++i], 0, 86400, &timeout) < 0) {
				fprintf(stderr, "vireo: stop: --timeout %s: expected seconds\n",
					argv[i]);
				return 2;
			}
		} else if (!name && argv[i][0] != '-') {
			name = argv[i];
		} else {
			fprintf(stderr, "vireo: stop: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!name) {
		fprintf(stderr, "vireo: stop: usage: vireo stop NAME [--timeout SECONDS]\n");
		return 2;
	}
	int r = rt_resolve(name, sock, sizeof(sock), err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vireo: stop: %s\n", err);
		return r == -EINVAL ? 2 : 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	st = api_call(sock, "GET", "vm.info", NULL, &resp, CALL_TIMEOUT_MS, err, sizeof(err));
	json_t *info = st == 200 ? json_loads(resp, 0, NULL) : NULL;
	const char *state = json_string_value(json_object_get(info, "state"));
	bool running = state && !strcmp(state, "Running");
	json_decref(info);
	free(resp);
	resp = NULL;
	if (st < 0) {
		fprintf(stderr, "vireo: %s: %s\n", name, err);
		curl_global_cleanup();
		return 1;
	}
	if (running) {
		st = api_call(sock, "PUT", "vm.power-button", NULL, &resp, CALL_TIMEOUT_MS, err,
			      sizeof(err));
		if (st == 204) {
			if (wait_gone(name, sock, (double)timeout)) {
				printf("%s: powered off\n", name);
				free(resp);
				curl_global_cleanup();
				return 0;
			}
			printf("%s: still running after %llu s; stopping it\n", name,
			       (unsigned long long)timeout);
		} else if (st > 0) {
			json_t *o = json_loads(resp, 0, NULL);
			const char *m = json_string_value(json_object_get(o, "error"));
			printf("%s: %s; stopping it\n", name, m ? m : "power button refused");
			json_decref(o);
		}
		free(resp);
		resp = NULL;
	}
	st = api_call(sock, "PUT", "vmm.shutdown", NULL, &resp, 60000, err, sizeof(err));
	free(resp);
	curl_global_cleanup();
	if (st != 204 && !vm_gone(name, sock)) {
		fprintf(stderr, "vireo: %s: vmm.shutdown: %s\n", name, st < 0 ? err : "refused");
		return 1;
	}
	if (!wait_gone(name, sock, 10)) {
		fprintf(stderr, "vireo: %s: still running 10 s after vmm.shutdown\n", name);
		return 1;
	}
	printf("%s: stopped\n", name);
	return 0;
}

/* ---- vireo console ---- */

#define DETACH_KEY 0x1d /* Ctrl-] */

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved; /* only ever set once, before the handlers */

static void restore_tty(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static void on_term_signal(int sig)
{
	restore_tty();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Connect, ask for the upgrade and check for "101". One-line reason on failure. */
static int console_open(const char *sock, int *fd_out, char *err, size_t errlen)
{
	static const char req[] = "PUT " API_PREFIX "vm.console HTTP/1.1\r\n"
				  "Host: localhost\r\nConnection: Upgrade\r\n"
				  "Upgrade: vireo-console\r\nContent-Length: 0\r\n\r\n";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[4096];
	size_t len = 0;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "%s: cannot connect (is the VM running?)", sock);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
		snprintf(err, errlen, "%s: %s", sock, strerror(errno));
		close(fd);
		return -1;
	}
	/* Read the response head byte by byte so no console byte after it is consumed. */
	while (len + 1 < sizeof(buf)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, CALL_TIMEOUT_MS) <= 0 || recv(fd, buf + len, 1, 0) != 1)
			break;
		len++;
		if (len >= 4 && !memcmp(buf + len - 4, "\r\n\r\n", 4))
			break;
	}
	buf[len] = '\0';
	if (len >= 12 && !strncmp(buf, "HTTP/1.1 101", 12)) {
		*fd_out = fd;
		return 0;
	}
	/* An error: its JSON body follows (Content-Length). */
	int status = len >= 12 ? atoi(buf + 9) : 0;
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	size_t blen = cl ? strtoul(cl + 17, NULL, 10) : 0;
	char body[1024] = "";
	size_t got = 0;
	while (got < blen && got + 1 < sizeof(body)) {
		ssize_t n = recv(fd, body + got, MIN(blen - got, sizeof(body) - 1 - got), 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	body[got] = '\0';
	close(fd);
	json_t *o = json_loads(body, 0, NULL);
	const char *m = json_string_value(json_object_get(o, "error"));
	snprintf(err, errlen, "vm.console: HTTP %d: %s", status, m ? m : "no console");
	json_decref(o);
	return -1;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static int console_run(const char *who, const char *sock)
{
	char err[512], buf[4096];
	int fd;
	bool tty = isatty(STDIN_FILENO);

	if (console_open(sock, &fd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vireo: %s: %s\n", who, err);
		return 1;
	}
	if (tty && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		struct termios t = saved_tio;
		tio_saved = 1;
		atexit(restore_tty);
		signal(SIGTERM, on_term_signal);
		signal(SIGHUP, on_term_signal);
		cfmakeraw(&t); /* Ctrl-C and friends go to the guest */
		t.c_oflag = saved_tio.c_oflag;
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
		fprintf(stderr, "vireo: attached to %s (detach: Ctrl-])\r\n", who);
	}
	int ret = 0;
	bool in_open = true;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = STDIN_FILENO, .events = POLLIN}};
		if (poll(p, in_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n <= 0) {
				if (tty)
					restore_tty();
				fprintf(stderr, "%svireo: %s: console closed\n", tty ? "\r\n" : "",
					who);
				break;
			}
			if (!write_all(STDOUT_FILENO, buf, (size_t)n))
				break;
		}
		if (in_open && p[1].revents) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) { /* end of input: detach */
				break;
			}
			char *k = tty ? memchr(buf, DETACH_KEY, (size_t)n) : NULL;
			size_t send_n = k ? (size_t)(k - buf) : (size_t)n;
			if (send_n && send(fd, buf, send_n, MSG_NOSIGNAL) != (ssize_t)send_n) {
				ret = 1;
				break;
			}
			if (k) {
				restore_tty();
				fprintf(stderr, "\r\nvireo: detached from %s\n", who);
				break;
			}
		}
	}
	close(fd);
	restore_tty();
	return ret;
}

int cmd_console(int argc, char **argv)
{
	char sock[RT_PATH_MAX], err[512];
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		puts(
		    "usage: vireo console NAME\n"
		    "Attaches this terminal to the VM's serial console (one client at a time).\n"
		    "Ctrl-] detaches; the terminal is restored. Without a terminal, input is sent\n"
		    "until it ends.");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "vireo: console: usage: vireo console NAME\n");
		return 2;
	}
	int r = rt_resolve(argv[1], sock, sizeof(sock), err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vireo: console: %s\n", err);
		return r == -EINVAL ? 2 : 1;
	}
	return console_run(argv[1], sock);
}
