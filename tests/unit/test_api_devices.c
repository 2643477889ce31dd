/* SPDX-License-Identifier: MIT */
/* The devices in a VmConfig (src/config/json_devices.c): each object's round trip through
 * cfg_to_json and back, the same VM from flags and from --config, every refusal by name, and
 * the cross-field rules vm.create applies (cfg_validate, as the command line). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "api/api.h"
#include "config/cli.h"
#include "config/json.h"
#include "harness.h"

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

static const char *tmp_path(const char *name, const char *text)
{
	static char paths[4][256];
	static int n;
	char *p = paths[n++ % 4];
	snprintf(p, 256, "%s/%s", test_tmpdir(), name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

#define K "{\"payload\": {\"kernel\": \"k\"}, "

TEST(api_devices_round_trip)
{
	struct vm_config a, b;
	char err[512] = "";
	const char *text =
	    K "\"net\": [{\"tap\": \"tap7\", \"mac\": \"52:54:00:ab:cd:ef\", \"num_queues\": 4,"
	      " \"queue_size\": 512, \"mtu\": 9000, \"vhost_user\": false,"
	      " \"rate_limiter_config\": {\"bandwidth\": {\"size\": 1000, \"refill_time\": 100},"
	      " \"ops\": {\"size\": 500, \"refill_time\": 1000, \"one_time_burst\": 0}}},"
	      " {\"vhost_user\": true, \"vhost_socket\": \"/run/n.sock\", \"vhost_mode\": "
	      "\"Client\"},"
	      " {\"tap\": \"tap8\", \"rx_rate_limiter_config\": {\"bandwidth\": {\"size\": 4096,"
	      " \"refill_time\": 1000}}, \"tx_rate_limiter_config\": {\"ops\": {\"size\": 20,"
	      " \"refill_time\": 1000}}}],"
	      " \"rng\": {\"src\": \"/dev/urandom\", \"rate_limiter_config\": {\"bandwidth\":"
	      " {\"size\": 65536, \"refill_time\": 1000}}},"
	      " \"balloon\": {\"size\": 67108864, \"deflate_on_oom\": true,"
	      " \"free_page_reporting\": true, \"stats_polling_interval_s\": 5},"
	      " \"vsock\": {\"cid\": 42, \"socket\": \"/run/v.sock\"},"
	      " \"serial\": {\"mode\": \"Pty\"},"
	      " \"console\": {\"mode\": \"Socket\", \"socket\": \"/run/c.sock\"},"
	      " \"gpu\": {\"width\": 1024, \"height\": 768, \"max_hostmem\": 67108864},"
	      " \"input\": true,"
	      " \"display\": {\"vnc\": {\"address\": \"0.0.0.0\", \"port\": 5901,"
	      " \"password_file\": \"/etc/vnc.pw\"}, \"screenshot\": \"/tmp/shot.png\"}}";
	REQUIRE(parse_text(&a, text, err, sizeof(err)) == 0);
	REQUIRE(a.nr_nets == 3);
	CHECK_STR(a.nets[0].tap, "tap7");
	CHECK(a.nets[0].mac_set && a.nets[0].mac[0] == 0x52 && a.nets[0].mac[5] == 0xef);
	CHECK_EQ(a.nets[0].queues, 2); /* 4 queues = 2 pairs */
	CHECK_EQ(a.nets[0].queue_size, 512);
	CHECK_EQ(a.nets[0].mtu, 9000);
	CHECK_EQ(a.nets[0].rx_bps, 10000); /* 1000 per 100 ms */
	CHECK_EQ(a.nets[0].tx_bps, 10000);
	CHECK_EQ(a.nets[0].rx_pps, 500);
	CHECK_EQ(a.nets[0].tx_pps, 500);
	CHECK(!a.nets[1].tap);
	CHECK_STR(a.nets[1].vhost_user, "/run/n.sock");
	CHECK_EQ(a.nets[1].queues, 1);
	CHECK(!a.nets[1].mac_set);
	CHECK_EQ(a.nets[2].rx_bps, 4096);
	CHECK_EQ(a.nets[2].tx_bps, 0);
	CHECK_EQ(a.nets[2].tx_pps, 20);
	CHECK(a.rng.enabled);
	CHECK_EQ(a.rng.rate, 65536);
	CHECK(a.balloon.enabled && a.balloon.deflate_on_oom && a.balloon.free_page_reporting);
	CHECK_EQ(a.balloon.size, 64ULL << 20);
	CHECK_EQ(a.balloon.stats_s, 5);
	CHECK(a.vsock.enabled);
	CHECK_EQ(a.vsock.cid, 42);
	CHECK_STR(a.vsock.uds, "/run/v.sock");
	CHECK_EQ(a.serial, SERIAL_PTY);
	CHECK(a.console.enabled);
	CHECK_EQ(a.console.mode, SERIAL_SOCKET);
	CHECK_STR(a.console.path, "/run/c.sock");
	CHECK(a.gpu.enabled);
	CHECK_EQ(a.gpu.width, 1024);
	CHECK_EQ(a.gpu.height, 768);
	CHECK_EQ(a.gpu.max_hostmem, 64ULL << 20);
	CHECK(a.input);
	CHECK(a.display.vnc);
	CHECK_STR(a.display.vnc_addr, "0.0.0.0");
	CHECK_EQ(a.display.vnc_port, 5901);
	CHECK_STR(a.display.vnc_password, "/etc/vnc.pw");
	CHECK_STR(a.display.screenshot, "/tmp/shot.png");

	/* emit: Cloud Hypervisor's shapes (queues, not pairs; one limiter when both directions
	 * agree, the per-direction extension when they do not) */
	json_t *o = cfg_to_json(&a);
	json_t *n0 = json_array_get(json_object_get(o, "net"), 0);
	CHECK_EQ(json_integer_value(json_object_get(n0, "num_queues")), 4);
	CHECK_STR(json_string_value(json_object_get(n0, "mac")), "52:54:00:ab:cd:ef");
	json_t *bw = json_object_get(json_object_get(n0, "rate_limiter_config"), "bandwidth");
	CHECK_EQ(json_integer_value(json_object_get(bw, "size")), 10000);
	CHECK_EQ(json_integer_value(json_object_get(bw, "refill_time")), 1000);
	json_t *n2 = json_array_get(json_object_get(o, "net"), 2);
	CHECK(!json_object_get(n2, "rate_limiter_config"));
	CHECK(json_object_get(n2, "rx_rate_limiter_config") != NULL);
	CHECK(json_object_get(n2, "tx_rate_limiter_config") != NULL);
	CHECK_STR(json_string_value(json_object_get(json_object_get(o, "rng"), "src")),
		  "/dev/urandom");
	CHECK_STR(json_string_value(json_object_get(json_object_get(o, "console"), "mode")),
		  "Socket");
	CHECK_STR(json_string_value(json_object_get(json_object_get(o, "serial"), "mode")), "Pty");
	json_decref(o);

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

TEST(api_devices_absent_and_off)
{
	struct vm_config a;
	char err[256];
	REQUIRE(parse_text(&a, K "\"console\": {\"mode\": \"Null\"}, \"net\": []}", err,
			   sizeof(err)) == 0);
	CHECK(!a.console.enabled && !a.rng.enabled && !a.balloon.enabled && !a.vsock.enabled);
	CHECK(!a.gpu.enabled && !a.input && !a.display.vnc && a.nr_nets == 0);
	json_t *o = cfg_to_json(&a);
	/* nothing configured: no rng/balloon/vsock/gpu/display keys, console Off, net [] */
	CHECK(!json_object_get(o, "rng") && !json_object_get(o, "balloon"));
	CHECK(!json_object_get(o, "vsock") && !json_object_get(o, "gpu"));
	CHECK(!json_object_get(o, "display") && !json_object_get(o, "input"));
	CHECK_STR(json_string_value(json_object_get(json_object_get(o, "console"), "mode")), "Off");
	CHECK_EQ(json_array_size(json_object_get(o, "net")), 0);
	json_decref(o);
	cfg_fini(&a);
	/* defaults are the command line's */
	REQUIRE(parse_text(&a, K "\"rng\": {}, \"gpu\": {}, \"net\": [{\"tap\": \"t\"}]}", err,
			   sizeof(err)) == 0);
	struct gpu_config g = {0};
	struct net_config n;
	REQUIRE(cfg_parse_gpu(NULL, &g, err, sizeof(err)) == 0);
	REQUIRE(cfg_parse_net("--net", "tap=t", &n, err, sizeof(err)) == 0);
	CHECK(a.rng.enabled && a.rng.rate == 0);
	CHECK_EQ(a.gpu.width, g.width);
	CHECK_EQ(a.gpu.height, g.height);
	CHECK_EQ(a.gpu.max_hostmem, g.max_hostmem);
	CHECK_EQ(a.nets[0].queues, n.queues);
	CHECK_EQ(a.nets[0].queue_size, n.queue_size);
	cfg_net_fini(&n);
	cfg_fini(&a);
}

/* One configuration model: every device from flags, then the same VM from --config. */
TEST(api_devices_cli_and_config_file_agree)
{
	const char *k = tmp_path("kernel", "x");
	const char *pw = tmp_path("vnc.pw", "secret\n");
	char shot[300], vnc[300], err[512] = "";
	snprintf(shot, sizeof(shot), "screenshot=%s/shot.png", test_tmpdir());
	snprintf(vnc, sizeof(vnc), "vnc=127.0.0.1:0,password=%s", pw);
	char *argv1[] = {
	    "run",
	    "--kernel",
	    (char *)k,
	    "--memory",
	    "256M",
	    "--net",
	    "tap=tap7,mac=52:54:00:12:34:56,queues=2,queue_size=512,mtu=9000,rx_rate=10M,"
	    "tx_rate=5M,rx_pps=1000",
	    "--net",
	    "vhost-user=/run/n.sock,queues=4",
	    "--rng",
	    "rate=1M",
	    "--balloon",
	    "size=64M,deflate_on_oom=on,free_page_reporting=on,stats=5",
	    "--vsock",
	    "cid=7,socket=/run/v.sock",
	    "--console",
	    "virtio,socket=/run/c.sock",
	    "--serial",
	    "pty",
	    "--gpu",
	    "width=1024,height=768,max_hostmem=64M",
	    "--input",
	    "--display",
	    vnc,
	    "--display",
	    shot,
	    NULL};
	int argc1 = (int)(sizeof(argv1) / sizeof(argv1[0])) - 1;
	struct vm_config a, b;
	struct cli_run_opts o1 = {0}, o2 = {0};
	FILE *null = fopen("/dev/null", "w");
	cfg_init(&a);
	REQUIRE(cli_parse_run(argc1, argv1, &a, &o1, null, err, sizeof(err)) == 0);
	char *s1 = dump(&a);
	const char *file = tmp_path("vm.json", s1);
	char *argv2[] = {"run", "--config", (char *)file, NULL};
	cfg_init(&b);
	if (cli_parse_run(3, argv2, &b, &o2, null, err, sizeof(err)) != 0)
		test_fail_at(__FILE__, __LINE__, "--config: %s", err);
	char *s2 = dump(&b);
	CHECK_STR(s2, s1);
	CHECK_EQ(b.nr_nets, 2);
	CHECK_EQ(b.nets[0].rx_bps, 10ULL << 20);
	CHECK_EQ(b.nets[0].tx_bps, 5ULL << 20);
	CHECK_EQ(b.nets[0].rx_pps, 1000);
	CHECK_EQ(b.nets[0].tx_pps, 0);
	CHECK_EQ(b.nets[1].queues, 4);
	CHECK_EQ(b.rng.rate, 1ULL << 20);
	CHECK_EQ(b.balloon.stats_s, 5);
	CHECK_EQ(b.vsock.cid, 7);
	CHECK_EQ(b.console.mode, SERIAL_SOCKET);
	CHECK_EQ(b.serial, SERIAL_PTY);
	CHECK(b.input && b.gpu.enabled && b.display.vnc && b.display.screenshot);
	CHECK_STR(b.display.vnc_password, pw);
	fclose(null);
	free(s1);
	free(s2);
	cfg_fini(&a);
	cfg_fini(&b);
	cli_run_opts_fini(&o1);
	cli_run_opts_fini(&o2);
}

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
#define NET(obj) K "\"net\": [" obj "]}"
#define TB(size, refill) "{\"size\": " #size ", \"refill_time\": " #refill "}"

TEST(api_devices_refused_by_name)
{
	/* net */
	BAD(NET("{\"tap\": \"t\", \"ip\": \"192.168.249.1\"}"),
	    "net[0].ip: not supported: vireo opens an existing TAP");
	BAD(NET("{\"tap\": \"t\", \"mask\": \"255.255.255.0\"}"), "net[0].mask: not supported");
	BAD(NET("{\"tap\": \"t\", \"host_mac\": \"52:54:00:00:00:01\"}"),
	    "net[0].host_mac: not supported");
	BAD(NET("{\"vhost_user\": true, \"vhost_socket\": \"/s\", \"vhost_mode\": \"Server\"}"),
	    "net[0].vhost_mode: not supported");
	BAD(NET("{\"tap\": \"t\", \"num_queues\": 3}"),
	    "net[0].num_queues: 3 is out of range (an even number, 2..16");
	BAD(NET("{\"tap\": \"t\", \"num_queues\": 18}"), "net[0].num_queues: 18 is out of range");
	BAD(NET("{\"tap\": \"t\", \"num_queues\": \"2\"}"),
	    "net[0].num_queues: expected an integer, got a string");
	BAD(NET("{\"tap\": \"t\", \"mac\": \"01:00:5e:00:00:01\"}"), "net[0].mac: bad MAC address");
	BAD(NET("{\"tap\": \"t\", \"queue_size\": 32}"), "net[0].queue_size: 32 is out of range");
	BAD(NET("{\"tap\": \"t\", \"mtu\": 67}"), "net[0].mtu: 67 is out of range (68..65535)");
	BAD(NET("{}"), "net[0]: give exactly one of tap and vhost_socket");
	BAD(NET("{\"tap\": \"t\"}, {\"tap\": \"u\", \"vhost_user\": true, \"vhost_socket\": "
		"\"/s\"}"),
	    "net[1]: give exactly one of tap and vhost_socket");
	BAD(NET("{\"tap\": \"\"}"), "net[0].tap: must not be empty");
	BAD(NET("{\"vhost_user\": true, \"vhost_socket\": \"/s\", \"rate_limiter_config\": "
		"{\"ops\": " TB(10, 1000) "}}"),
	    "net[0]: rate limits apply to tap=");
	BAD(NET("{\"tap\": \"t\", \"rate_limiter_config\": {\"bandwidth\": {\"size\": 10, "
		"\"refill_time\": 1000, \"one_time_burst\": 100}}}"),
	    "net[0].rate_limiter_config.bandwidth.one_time_burst: not supported");
	BAD(NET("{\"tap\": \"t\", \"rate_limiter_config\": {\"bandwidth\": {\"size\": 10}}}"),
	    "net[0].rate_limiter_config.bandwidth.refill_time: missing");
	BAD(NET("{\"tap\": \"t\", \"rate_limiter_config\": {\"bandwidth\": " TB(1, 2000) "}}"),
	    "net[0].rate_limiter_config.bandwidth: size * 1000 / refill_time is 0 per second");
	BAD(NET("{\"tap\": \"t\", \"rate_limiter_config\": {\"burst\": " TB(1, 1) "}}"),
	    "net[0].rate_limiter_config.burst: unknown field");
	BAD(NET("{\"tap\": \"t\", \"rate_limiter_config\": {\"ops\": " TB(
		1, 1) "},"
		      " \"tx_rate_limiter_config\": {\"ops\": " TB(1, 1) "}}"),
	    "net[0]: give rate_limiter_config (both directions) or rx_/tx_rate_limiter_config");
	BAD(NET("{\"tap\": \"t\", \"id\": \"net7\"}"), "net[0].id: unknown field");
	BAD(NET("{\"tap\": \"a\"}, {\"tap\": \"b\"}, {\"tap\": \"c\"}, {\"tap\": \"d\"}, {\"tap\": "
		"\"e\"}, {\"tap\": \"f\"}, {\"tap\": \"g\"}, {\"tap\": \"h\"}, {\"tap\": \"i\"}"),
	    "net: at most 8 network devices");
	BAD(K "\"net\": {\"tap\": \"t\"}}", "net: expected an array, got an object");
	/* rng */
	BAD(K "\"rng\": {\"src\": \"/dev/random\"}}", "rng.src: not supported: vireo's rng reads");
	BAD(K "\"rng\": {\"rate_limiter_config\": {\"ops\": " TB(10, 1000) "}}}",
	    "rng.rate_limiter_config.ops: not supported: this device limits bytes only");
	BAD(K "\"rng\": {\"rate_limiter_config\": {\"bandwidth\": " TB(2147483648, 1000) "}}}",
	    "rng.rate_limiter_config.bandwidth: size * 1000 / refill_time is 2147483648 per "
	    "second (1..1073741824)");
	BAD(K "\"rng\": {\"iommu\": false}}", "rng.iommu: unknown field");
	BAD(K "\"rng\": true}", "rng: expected an object, got a boolean");
	/* balloon */
	BAD(K "\"balloon\": {\"deflate_on_oom\": true}}", "balloon.size: missing");
	BAD(K "\"balloon\": {\"size\": 1000}}", "balloon.size: must be a multiple of 4096");
	BAD(K "\"balloon\": {\"size\": 0, \"stats_polling_interval_s\": 3601}}",
	    "balloon.stats_polling_interval_s: 3601 is out of range (0..3600)");
	BAD(K "\"balloon\": {\"size\": 0, \"free_page_reporting\": 1}}",
	    "balloon.free_page_reporting: expected a boolean, got an integer");
	/* vsock */
	BAD(K "\"vsock\": {\"cid\": 2, \"socket\": \"/s\"}}", "vsock.cid: 2 is out of range (3..");
	BAD(K "\"vsock\": {\"cid\": 3}}", "vsock.socket: missing");
	BAD(K "\"vsock\": {\"socket\": \"/s\"}}", "vsock.cid: missing");
	/* console and serial */
	BAD(K "\"console\": {\"mode\": \"File\"}}", "console: mode File needs file");
	BAD(K "\"console\": {\"mode\": \"Socket\"}}", "console: mode Socket needs socket");
	BAD(K "\"console\": {\"mode\": \"Tty\", \"socket\": \"/s\"}}",
	    "console: socket is only for mode Socket");
	BAD(K "\"console\": {\"mode\": \"Vga\"}}", "console.mode: 'Vga' is not one of");
	BAD(K "\"console\": {}}", "console.mode: missing");
	BAD(K "\"serial\": {\"mode\": \"Socket\", \"file\": \"/f\"}}",
	    "serial: file is only for mode File");
	/* gpu, input, display (extensions) */
	BAD(K "\"gpu\": {\"width\": 100}}", "gpu.width: 100 is out of range (320..3840)");
	BAD(K "\"gpu\": {\"max_hostmem\": 1024}}", "gpu.max_hostmem: 1024 is out of range");
	BAD(K "\"gpu\": {\"virgl\": true}}", "gpu.virgl: unknown field");
	BAD(K "\"input\": \"yes\"}", "input: expected a boolean, got a string");
	BAD(K "\"display\": {\"vnc\": {\"port\": 70000}}}",
	    "display.vnc.port: 70000 is out of range");
	BAD(K "\"display\": {\"vnc\": {\"address\": \"::1\", \"port\": 1}}}",
	    "display.vnc.address: not an IPv4 address");
	BAD(K "\"display\": {\"vnc\": {}}}", "display.vnc.port: missing");
	BAD(K "\"display\": {\"screenshot\": \"\"}}", "display.screenshot: must not be empty");
}

/* vm.create applies the command line's cross-field rules (cfg_devices_defaults and
 * cfg_validate), with the reason in the 400. */
static unsigned create(const char *body, struct api_req *req)
{
	api_req_init(req);
	return api_req_decode(req, api_route_find("/api/v1/vm.create"), body, strlen(body));
}

TEST(api_devices_cross_field_rules)
{
	const char *k = tmp_path("kernel", "x");
	char body[1024];
	struct api_req req;
#define CREATE(fmt)                                                                                \
	(snprintf(body, sizeof(body), "{\"payload\": {\"kernel\": \"%s\"}, " fmt, k),              \
	 create(body, &req))

	/* a virtio console on the terminal takes it from the serial port unless serial is given */
	CHECK_EQ(CREATE("\"console\": {\"mode\": \"Tty\"}}"), 0);
	CHECK_EQ(req.cfg.serial, SERIAL_NONE);
	CHECK_EQ(req.cfg.console.mode, SERIAL_STDIO);
	api_req_fini(&req);
	CHECK_EQ(CREATE("\"console\": {\"mode\": \"Tty\"}, \"serial\": {\"mode\": \"Tty\"}}"), 400);
	CHECK(strstr(req.body, "cannot share the terminal") != NULL);
	api_req_fini(&req);
	CHECK_EQ(CREATE("\"memory\": {\"size\": 67108864}, \"balloon\": {\"size\": 134217728}}"),
		 400);
	CHECK(strstr(req.body, "more than the guest's 64 MiB") != NULL);
	api_req_fini(&req);
	CHECK_EQ(CREATE("\"net\": [{\"tap\": \"t0\"}, {\"tap\": \"t0\"}]}"), 400);
	CHECK(strstr(req.body, "tap=t0: given twice") != NULL);
	api_req_fini(&req);
	CHECK_EQ(CREATE("\"net\": [{\"tap\": \"a\", \"mac\": \"52:54:00:00:00:01\"},"
			" {\"tap\": \"b\", \"mac\": \"52:54:00:00:00:01\"}]}"),
		 400);
	CHECK(strstr(req.body, "given twice") != NULL);
	api_req_fini(&req);
	CHECK_EQ(CREATE("\"display\": {\"vnc\": {\"port\": 0}}}"), 400);
	CHECK(strstr(req.body, "nothing to show") != NULL);
	api_req_fini(&req);
	CHECK_EQ(CREATE("\"gpu\": {\"width\": 3840, \"height\": 2400, \"max_hostmem\": 67108864}}"),
		 400);
	CHECK(strstr(req.body, "too small for two 3840x2400 buffers") != NULL);
	api_req_fini(&req);
	CHECK_EQ(CREATE("\"console\": {\"mode\": \"Socket\", \"socket\": \"/tmp/x.sock\"},"
			" \"vsock\": {\"cid\": 3, \"socket\": \"/tmp/x.sock\"}}"),
		 400);
	CHECK(strstr(req.body, "both use /tmp/x.sock") != NULL);
	api_req_fini(&req);
	CHECK_EQ(CREATE("\"rng\": {}, \"balloon\": {\"size\": 0}, \"vsock\": {\"cid\": 3, "
			"\"socket\": \"/tmp/v.sock\"}}"),
		 0);
	CHECK(req.have_cfg && req.cfg.rng.enabled && req.cfg.balloon.enabled &&
	      req.cfg.vsock.enabled);
	api_req_fini(&req);
#undef CREATE
}

/* A refusal quoting bytes that are not UTF-8 (jansson's parse error does) still has a body. */
TEST(api_error_with_non_utf8_bytes_has_a_body)
{
	static const char body[] = "{\"eb\\b\\b?bb\\b?bbb\\\xd0\x9d\x9d\x9d"
				   "b\\n\":81}";
	struct api_req req;
	CHECK_EQ(create(body, &req), 400);
	REQUIRE(req.body != NULL);
	CHECK(strstr(req.body, "vm.create: bad JSON") != NULL);
	CHECK(!strchr(req.body, '\n'));
	api_req_fini(&req);
}
