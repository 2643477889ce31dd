/* SPDX-License-Identifier: MIT */
/* The API without KVM: JSON <-> vm_config, the CLI and --config giving the same config, route
 * decoding, and the VMM's state rules and device hooks (vm.power-button, vm.resize) with fake
 * devices registered on a real machine. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "api/api.h"
#include "config/cli.h"
#include "config/json.h"
#include "harness.h"
#include "vmm/machine.h"
#include "vmm/vmm.h"

static const char *tmpfile_with(const char *name, const char *text, size_t size)
{
	static char paths[8][256];
	static int n;
	char *p = paths[n++ % 8];
	snprintf(p, 256, "%s/%s", test_tmpdir(), name);
	FILE *f = fopen(p, "w");
	if (text)
		fputs(text, f);
	fclose(f);
	if (size && truncate(p, (off_t)size) != 0)
		test_fail_at(__FILE__, __LINE__, "truncate %s", p);
	return p;
}

static char *dump(const struct vm_config *cfg)
{
	json_t *o = cfg_to_json(cfg);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static int parse_text(struct vm_config *cfg, const char *text, char *err, size_t errlen)
{
	cfg_init(cfg);
	return cfg_from_json_text(cfg, text, strlen(text), err, errlen);
}

TEST(api_json_full_round_trip)
{
	const char *k = tmpfile_with("k", "x", 0), *d = tmpfile_with("d.img", NULL, 1 << 20);
	char text[2048], err[256] = "";
	struct vm_config a, b;
	snprintf(
	    text, sizeof(text),
	    "{\"payload\": {\"kernel\": \"%s\", \"initramfs\": \"%s\", \"cmdline\": \"a=b c\"},"
	    " \"cpus\": {\"boot_vcpus\": 3, \"max_vcpus\": 3}, \"memory\": {\"size\": 268435456},"
	    " \"disks\": [{\"path\": \"%s\", \"readonly\": true, \"direct\": true,"
	    " \"num_queues\": 2, \"queue_size\": 64, \"serial\": \"abc\"},"
	    " {\"vhost_user\": true, \"vhost_socket\": \"/run/x.sock\"}],"
	    " \"serial\": {\"mode\": \"File\", \"file\": \"/tmp/s.log\"},"
	    " \"console\": {\"mode\": \"Off\"}, \"net\": [],"
	    " \"debug_console\": {\"mode\": \"File\", \"file\": \"/tmp/fw.log\", \"iobase\": "
	    "1026}}",
	    k, k, d);
	REQUIRE(parse_text(&a, text, err, sizeof(err)) == 0);
	CHECK_STR(a.kernel, k);
	CHECK_STR(a.initrd, k);
	CHECK_STR(a.cmdline, "a=b c");
	CHECK_EQ(a.cpus, 3);
	CHECK_EQ(a.mem_size, 256ULL << 20);
	CHECK_EQ(a.nr_disks, 2);
	CHECK_STR(a.disks[0].path, d);
	CHECK(a.disks[0].readonly && a.disks[0].direct);
	CHECK_EQ(a.disks[0].queues, 2);
	CHECK_EQ(a.disks[0].queue_size, 64);
	CHECK_STR(a.disks[0].serial, "abc");
	CHECK_STR(a.disks[1].vhost_user, "/run/x.sock");
	CHECK(!a.disks[1].path);
	CHECK_EQ(a.serial, SERIAL_FILE);
	CHECK_STR(a.serial_path, "/tmp/s.log");
	CHECK_STR(a.firmware_log, "/tmp/fw.log");
	/* emit -> parse -> emit gives the same document */
	char *s1 = dump(&a);
	REQUIRE(parse_text(&b, s1, err, sizeof(err)) == 0);
	char *s2 = dump(&b);
	CHECK_STR(s1, s2);
	free(s1);
	free(s2);
	cfg_fini(&a);
	cfg_fini(&b);
}

TEST(api_json_defaults_are_the_cli_defaults)
{
	const char *k = tmpfile_with("k", "x", 0);
	char text[512], err[256];
	struct vm_config a, c;
	snprintf(text, sizeof(text), "{\"payload\": {\"kernel\": \"%s\"}}", k);
	REQUIRE(parse_text(&a, text, err, sizeof(err)) == 0);
	cfg_init(&c);
	CHECK_EQ(a.cpus, c.cpus);
	CHECK_EQ(a.mem_size, c.mem_size);
	CHECK_EQ(a.serial, c.serial);
	CHECK_EQ(a.nr_disks, 0);
	cfg_fini(&a);
	cfg_fini(&c);
}

/* Each bad document: an error naming the field, one line. */
static void expect_bad(const char *text, const char *needle, int line)
{
	struct vm_config c;
	char err[512] = "";
	int r = parse_text(&c, text, err, sizeof(err));
	if (r >= 0 || !strstr(err, needle) || strchr(err, '\n'))
		test_fail_at(__FILE__, line, "%s: want error with '%s', got r=%d '%s'", text,
			     needle, r, err);
	cfg_fini(&c);
}
#define BAD(text, needle) expect_bad(text, needle, __LINE__)

TEST(api_json_errors_name_the_field)
{
	BAD("{\"payload\": {\"kernel\": \"k\"", "bad JSON at line 1");
	BAD("[]", "expected an object");
	BAD("{}", "payload: missing");
	BAD("{\"payload\": {}}", "give exactly one of kernel and firmware");
	BAD("{\"payload\": {\"kernel\": \"k\", \"firmware\": \"f\"}}", "exactly one");
	BAD("{\"payload\": {\"firmware\": \"f\", \"cmdline\": \"x\"}}", "need a kernel");
	BAD("{\"payload\": {\"kernel\": \"\"}}", "payload.kernel: must not be empty");
	BAD("{\"payload\": {\"kernel\": 7}}", "payload.kernel: expected a string, got an integer");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"bogus\": 1}", "bogus: unknown field");
	BAD("{\"payload\": {\"kernel\": \"k\", \"igvm\": \"x\"}}", "payload.igvm: unknown field");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"cpus\": {\"boot_vcpus\": 0}}",
	    "cpus.boot_vcpus: 0 is out of range (1..32)");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"cpus\": {\"boot_vcpus\": true}}",
	    "cpus.boot_vcpus: expected an integer, got a boolean");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"cpus\": {\"boot_vcpus\": 2, \"max_vcpus\": 4}}",
	    "no CPU hotplug");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"cpus\": {}}", "cpus.boot_vcpus: missing");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"memory\": {\"size\": 1000}}",
	    "memory.size: 1000 is out of range");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"memory\": {\"size\": 3000000}}",
	    "multiple of 4096");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"memory\": {\"size\": -1}}", "out of range");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"memory\": {\"size\": 1.5}}",
	    "expected an integer");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"disks\": {}}", "disks: expected an array");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"disks\": [{}]}",
	    "disks[0]: give exactly one of path and vhost_socket");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"disks\": [{\"path\": \"a\"}, {\"path\": \"b\","
	    " \"queue_size\": 100}]}",
	    "disks[1].queue_size: 100 is out of range (a power of two, 2..1024)");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"disks\": [{\"path\": \"a\", \"vhost_user\": "
	    "true}]}",
	    "vhost_user needs vhost_socket");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"disks\": [{\"vhost_socket\": \"s\"}]}",
	    "vhost_socket needs vhost_user: true");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"disks\": [{\"path\": \"a\", \"serial\":"
	    " \"123456789012345678901\"}]}",
	    "disks[0].serial: longer than 20 characters");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"serial\": {\"mode\": \"Vt100\"}}",
	    "serial.mode: 'Vt100' is not one of Off, Null, Tty, Pty, File, Socket");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"serial\": {\"mode\": \"File\"}}",
	    "mode File needs file");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"serial\": {\"mode\": \"Tty\", \"file\": \"x\"}}",
	    "file is only for mode File");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"debug_console\": {\"mode\": \"File\", \"file\":"
	    " \"x\", \"iobase\": 233}}",
	    "debug_console.iobase: only 1026");
	BAD("{\"payload\": {\"kernel\": \"k\"}, \"payload\": {\"kernel\": \"j\"}}", "duplicate");
	BAD("{\"payload\": {\"kernel\": \"a\\u0000b\"}}", "is not allowed");
	BAD("{\"\\u0007evil\\nkey\": 1, \"payload\": {\"kernel\": \"k\"}}", "?evil?key: unknown");
}

TEST(api_json_null_is_absent)
{
	struct vm_config c;
	char err[256];
	REQUIRE(parse_text(&c,
			   "{\"payload\": {\"kernel\": \"k\", \"initramfs\": null},"
			   " \"cpus\": null, \"disks\": null}",
			   err, sizeof(err)) == 0);
	CHECK(!c.initrd);
	CHECK_EQ(c.cpus, 1);
	cfg_fini(&c);
}

/* One configuration model: the same VM from flags and from --config is the same vm_config. */
TEST(api_cli_and_config_file_agree)
{
	const char *k = tmpfile_with("kernel", "x", 0), *i = tmpfile_with("initrd", "y", 0);
	const char *d = tmpfile_with("disk.img", NULL, 1 << 20);
	char disk[300], err[512] = "";
	snprintf(disk, sizeof(disk), "path=%s,readonly=on,queues=2,queue_size=128,serial=s1", d);
	char *argv1[] = {"run",	    "--kernel", (char *)k, "--initrd", (char *)i, "--cmdline",
			 "quiet x", "--cpus",	"2",	   "--memory", "96M",	  "--disk",
			 disk,	    "--serial", "none",	   "--name",   "web1",	  NULL};
	struct vm_config a, b;
	struct cli_run_opts o1 = {0}, o2 = {0};
	FILE *null = fopen("/dev/null", "w");
	cfg_init(&a);
	REQUIRE(cli_parse_run(17, argv1, &a, &o1, null, err, sizeof(err)) == 0);
	CHECK(o1.have_vm);
	CHECK_STR(o1.name, "web1");
	char *s1 = dump(&a);
	const char *file = tmpfile_with("vm.json", s1, 0);
	char *argv2[] = {"run", "--config", (char *)file, "--name", "web1", NULL};
	cfg_init(&b);
	REQUIRE(cli_parse_run(5, argv2, &b, &o2, null, err, sizeof(err)) == 0);
	CHECK(o2.have_vm);
	char *s2 = dump(&b);
	CHECK_STR(s2, s1);
	/* --config with a VM flag: refused by name */
	char *argv3[] = {"run", "--config", (char *)file, "--cpus", "2", NULL};
	struct vm_config c;
	struct cli_run_opts o3 = {0};
	cfg_init(&c);
	CHECK(cli_parse_run(5, argv3, &c, &o3, null, err, sizeof(err)) < 0);
	CHECK(strstr(err, "--cpus: not with --config") != NULL);
	/* no payload, a name: an empty VMM */
	char *argv4[] = {"run", "--name", "idle", NULL};
	struct vm_config e;
	struct cli_run_opts o4 = {0};
	cfg_init(&e);
	CHECK_EQ(cli_parse_run(3, argv4, &e, &o4, null, err, sizeof(err)), 0);
	CHECK(!o4.have_vm);
	char *argv5[] = {"run", "--name", "no/slash", NULL};
	struct cli_run_opts o5 = {0};
	CHECK(cli_parse_run(3, argv5, &e, &o5, null, err, sizeof(err)) < 0);
	CHECK(strstr(err, "name 'no/slash'") != NULL);
	fclose(null);
	free(s1);
	free(s2);
	cfg_fini(&a);
	cfg_fini(&b);
	cfg_fini(&c);
	cfg_fini(&e);
	cli_run_opts_fini(&o1);
	cli_run_opts_fini(&o2);
	cli_run_opts_fini(&o3);
	cli_run_opts_fini(&o4);
	cli_run_opts_fini(&o5);
}

TEST(api_routes_and_decoding)
{
	struct api_req req;
	CHECK(api_route_find("/api/v1/vm.pause") != NULL);
	CHECK_STR(api_route_find("/api/v1/vm.pause")->method, "PUT");
	CHECK_STR(api_route_find("/api/v1/vm.info")->method, "GET");
	CHECK(!api_route_find("/api/v1/vm.pause/"));
	CHECK(!api_route_find("/api/v2/vm.pause"));
	CHECK(!api_route_find("/vm.pause"));
	CHECK(!api_route_find(NULL));
	for (const struct api_route *r = api_routes; r->name; r++) {
		char path[64];
		snprintf(path, sizeof(path), API_PREFIX "%s", r->name);
		CHECK(api_route_find(path) == r);
	}

	const struct api_route *pause = api_route_find("/api/v1/vm.pause");
	api_req_init(&req);
	CHECK_EQ(api_req_decode(&req, pause, " \r\n", 3), 0);
	api_req_fini(&req);
	api_req_init(&req);
	CHECK_EQ(api_req_decode(&req, pause, "{}", 2), 400);
	CHECK(strstr(req.body, "vm.pause: takes no body") != NULL);
	api_req_fini(&req);

	const struct api_route *resize = api_route_find("/api/v1/vm.resize");
	api_req_init(&req);
	CHECK_EQ(api_req_decode(&req, resize, "{\"desired_balloon\": 1048576}", 28), 0);
	CHECK(req.resize.has_balloon && !req.resize.has_ram && !req.resize.has_vcpus);
	CHECK_EQ(req.resize.balloon, 1048576);
	api_req_fini(&req);
	api_req_init(&req);
	CHECK_EQ(api_req_decode(&req, resize, "{\"desired_ballon\": 1}", 21), 400);
	CHECK(strstr(req.body, "desired_ballon: unknown field") != NULL);
	api_req_fini(&req);
	api_req_init(&req);
	CHECK_EQ(api_req_decode(&req, resize, "{\"desired_vcpus\": -2}", 21), 400);
	api_req_fini(&req);

	const struct api_route *create = api_route_find("/api/v1/vm.create");
	api_req_init(&req);
	CHECK_EQ(api_req_decode(&req, create, "", 0), 400);
	CHECK(strstr(req.body, "needs a VmConfig body") != NULL);
	api_req_fini(&req);
	api_req_init(&req);
	CHECK_EQ(api_req_decode(&req, create, "{\"payload\": {\"kernel\": \"/nonexistent\"}}", 39),
		 400);
	CHECK(strstr(req.body, "/nonexistent: No such file") != NULL);
	api_req_fini(&req);
	/* error bodies are one line even when the reason had a newline */
	api_req_init(&req);
	api_req_error(&req, 400, "a\nb\tc");
	CHECK_STR(req.body, "{\"error\":\"a b c\"}");
	api_req_fini(&req);
}

/* ---- the VMM's rules, with fake devices on a real machine (no KVM needed) ---- */

static int pressed;
static void fake_press(void *opaque)
{
	(*(int *)opaque)++;
}

static uint64_t balloon_target;
static int fake_balloon(void *opaque, uint64_t bytes)
{
	(void)opaque;
	if (bytes > (1ULL << 30))
		return -EINVAL;
	balloon_target = bytes;
	return 0;
}

static unsigned exec(struct vmm *v, const char *route, const char *body)
{
	char path[64];
	struct api_req req;
	snprintf(path, sizeof(path), API_PREFIX "%s", route);
	api_req_init(&req);
	unsigned st = api_req_decode(&req, api_route_find(path), body, strlen(body));
	if (st == 0) {
		if (!vmm_exec(v, &req))
			test_fail_at(__FILE__, __LINE__, "%s: answer deferred", route);
		st = req.status;
	}
	api_req_fini(&req);
	return st;
}

TEST(api_vmm_state_rules_and_hooks)
{
	struct vmm v;
	char err[256], body[512];
	REQUIRE(vmm_init(&v, "unit", NULL, err, sizeof(err)) == 0);
	CHECK_EQ(exec(&v, "vmm.ping", ""), 200);
	CHECK_EQ(exec(&v, "vm.info", ""), 404);
	CHECK_EQ(exec(&v, "vm.power-button", ""), 404);
	CHECK_EQ(exec(&v, "vm.delete", ""), 204);

	/* vm.create and vm.info with a firmware-booted VM (no KVM is touched) */
	const char *fw = tmpfile_with("bios.bin", NULL, 64 << 10);
	snprintf(body, sizeof(body),
		 "{\"payload\": {\"firmware\": \"%s\"}, \"serial\": "
		 "{\"mode\": \"Null\"}}",
		 fw);
	CHECK_EQ(exec(&v, "vm.create", body), 204);
	CHECK_EQ(v.state, API_ST_CREATED);
	CHECK_EQ(exec(&v, "vm.create", body), 405);
	CHECK_EQ(exec(&v, "vm.info", ""), 200);
	CHECK_EQ(exec(&v, "vm.pause", ""), 405);
	CHECK_EQ(exec(&v, "vm.power-button", ""), 405);

	/* A machine for the hooks; the state as if it ran. */
	REQUIRE(machine_prepare(&v.cfg, &v.m, err, sizeof(err)) == 0);
	v.state = API_ST_RUNNING;
	CHECK_EQ(exec(&v, "vm.power-button", ""), 400); /* no ACPI power button registered */
	pressed = 0;
	machine_set_power_button(v.m, fake_press, &pressed);
	CHECK_EQ(exec(&v, "vm.power-button", ""), 204);
	CHECK_EQ(pressed, 1);
	CHECK_EQ(exec(&v, "vm.resize", "{\"desired_balloon\": 4096}"), 400); /* no balloon */
	machine_set_balloon(v.m, fake_balloon, NULL);
	CHECK_EQ(exec(&v, "vm.resize", "{\"desired_balloon\": 1048576}"), 204);
	CHECK_EQ(balloon_target, 1048576);
	CHECK_EQ(exec(&v, "vm.resize", "{\"desired_balloon\": 4294967296}"), 400);
	CHECK_EQ(balloon_target, 1048576);
	CHECK_EQ(exec(&v, "vm.resize", "{\"desired_vcpus\": 2}"), 400);
	v.state = API_ST_PAUSED;
	CHECK_EQ(exec(&v, "vm.power-button", ""), 405);
	CHECK_EQ(pressed, 1);
	CHECK_EQ(exec(&v, "vm.boot", ""), 405);
	v.state = API_ST_SHUTDOWN;
	CHECK_EQ(exec(&v, "vm.resume", ""), 405);

	CHECK_EQ(exec(&v, "vmm.shutdown", ""), 204);
	CHECK(v.quit);
	CHECK_EQ(v.exit_status, 0);
	vmm_fini(&v);
}

TEST(api_json_syntax_errors_are_one_line)
{
	struct vm_config c;
	char err[512];
	/* jansson quotes the offending input, newlines included */
	CHECK(parse_text(&c, "\n\"ezi\\\n\"ezi\\r1r1}", err, sizeof(err)) < 0);
	CHECK(strstr(err, "bad JSON at line") != NULL);
	CHECK(!strchr(err, '\n'));
	cfg_fini(&c);
}

/* ---- the runtime directory: names, locks, dead entries ---- */

#include <sys/socket.h>
#include <sys/un.h>
#include "api/runtime.h"

TEST(api_runtime_names_and_dead_entries)
{
	char dir[512], err[256], sock[RT_PATH_MAX];
	struct rt_lock a, b;
	struct rt_entry *v;
	size_t n;

	snprintf(dir, sizeof(dir), "%s/xdg", test_tmpdir());
	REQUIRE(mkdir(dir, 0700) == 0);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	REQUIRE(rt_lock_name("web1", NULL, &a, err, sizeof(err)) == 0);
	CHECK(strstr(a.sock, "/vireo/web1.sock") != NULL);
	CHECK_EQ(rt_lock_name("web1", NULL, &b, err, sizeof(err)), -EBUSY);
	char want[64];
	snprintf(want, sizeof(want), "name 'web1' is in use (pid %d)", (int)getpid());
	CHECK_STR(err, want);
	CHECK_EQ(rt_lock_name("../x", NULL, &b, err, sizeof(err)), -EINVAL);
	REQUIRE(rt_resolve("web1", sock, sizeof(sock), err, sizeof(err)) == 0);
	CHECK_STR(sock, a.sock);
	CHECK_EQ(rt_resolve("ghost", sock, sizeof(sock), err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "no VM named 'ghost'") != NULL);
	REQUIRE(rt_resolve("/some/path.sock", sock, sizeof(sock), err, sizeof(err)) == 0);
	CHECK_STR(sock, "/some/path.sock");

	/* a dead VM's leftovers: a lock file nobody holds, and its socket */
	char lock[600], dsock[600];
	snprintf(lock, sizeof(lock), "%s/vireo/dead.lock", dir);
	snprintf(dsock, sizeof(dsock), "%s/vireo/dead.sock", dir);
	FILE *f = fopen(lock, "w");
	fprintf(f, "999999\n%s\n", dsock);
	fclose(f);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	REQUIRE(strlen(dsock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, dsock, strlen(dsock) + 1);
	REQUIRE(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(s);
	REQUIRE(rt_list(&v, &n, err, sizeof(err)) == 0);
	CHECK_EQ(n, 1);
	CHECK_STR(v[0].name, "web1");
	CHECK_EQ(v[0].pid, getpid());
	free(v);
	CHECK(access(lock, F_OK) != 0 && access(dsock, F_OK) != 0);

	rt_unlock(&a);
	REQUIRE(rt_list(&v, &n, err, sizeof(err)) == 0);
	CHECK_EQ(n, 0);
	free(v);
	REQUIRE(rt_lock_name("web1", NULL, &b, err, sizeof(err)) == 0); /* free again */
	rt_unlock(&b);
}

/* ---- a console client attached to a chardev ---- */

#include "backends/chardev.h"
#include "base/ev_loop.h"

static char got_in[64];
static size_t got_len;
static size_t take_input(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	len = MIN(len, sizeof(got_in) - got_len);
	memcpy(got_in + got_len, buf, len);
	got_len += len;
	return len;
}

static int detached;
static void on_detach(void *opaque)
{
	(void)opaque;
	detached++;
}

TEST(api_console_attach_both_ways)
{
	struct ev_loop *loop;
	struct chardev *chr;
	char err[256], buf[64];
	int sv[2];

	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(chardev_create(SERIAL_NONE, NULL, loop, &chr, err, sizeof(err)) == 0);
	chardev_set_input(chr, take_input, NULL);
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	REQUIRE(chardev_attach(chr, sv[0], on_detach, NULL) == 0);
	CHECK(chardev_attached(chr));
	CHECK_EQ(chardev_attach(chr, sv[0], on_detach, NULL), -EBUSY);
	/* guest output reaches the client */
	chardev_write(chr, "hello", 5);
	CHECK_EQ(read(sv[1], buf, sizeof(buf)), 5);
	CHECK(!memcmp(buf, "hello", 5));
	/* client input reaches the guest side */
	CHECK_EQ(write(sv[1], "typed", 5), 5);
	for (int i = 0; i < 10 && got_len < 5; i++)
		ev_loop_run_once(loop, 100);
	CHECK_EQ(got_len, 5);
	CHECK(!memcmp(got_in, "typed", 5));
	/* the client hangs up: detached, the owner told once */
	close(sv[1]);
	for (int i = 0; i < 10 && !detached; i++)
		ev_loop_run_once(loop, 100);
	CHECK_EQ(detached, 1);
	CHECK(!chardev_attached(chr));
	chardev_write(chr, "more", 4); /* nobody attached: no crash, no write to a closed fd */
	close(sv[0]);
	chardev_set_input(chr, NULL, NULL);
	chardev_destroy(chr);
	CHECK_EQ(detached, 1);
	ev_loop_destroy(loop);
}
