/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/cli.h"
#include "cli_test.h"
#include "harness.h"

/* Expect a parse error whose one-line message contains `needle`. */
static void expect_error(const char *needle, const char **args)
{
	struct vm_config cfg;
	char err[512] = "";
	int r = cli_test_parse(&cfg, err, sizeof(err), args);
	if (r >= 0 || !strstr(err, needle) || strchr(err, '\n'))
		test_fail_at(__FILE__, __LINE__, "expected error containing '%s', got r=%d '%s'",
			     needle, r, err);
	cfg_fini(&cfg);
}

TEST(cli_defaults_and_values)
{
	struct vm_config cfg;
	char err[512] = "";
	const char *k = cli_test_kernel();
	const char *args[] = {"--kernel", k, "--cmdline", "console=ttyS0 a=b", "--cpus", "4",
			      "--memory", "1G", "--serial", "none", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), args), 0);
	CHECK_STR(cfg.kernel, k);
	CHECK_STR(cfg.cmdline, "console=ttyS0 a=b");
	CHECK_EQ(cfg.cpus, 4);
	CHECK_EQ(cfg.mem_size, 1ULL << 30);
	CHECK_EQ(cfg.serial, SERIAL_NONE);
	cfg_fini(&cfg);

	const char *args2[] = {"--kernel", k, NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), args2), 0);
	CHECK_EQ(cfg.cpus, 1);
	CHECK_EQ(cfg.mem_size, 512ULL << 20);
	CHECK_EQ(cfg.serial, SERIAL_STDIO);
	cfg_fini(&cfg);

	const char *args3[] = {"--kernel", k, "--serial", "file=/tmp/x.log", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), args3), 0);
	CHECK_EQ(cfg.serial, SERIAL_FILE);
	CHECK_STR(cfg.serial_path, "/tmp/x.log");
	cfg_fini(&cfg);
}

TEST(cli_help_returns_1)
{
	struct vm_config cfg;
	char err[64];
	const char *args[] = {"--help", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), args), 1);
	cfg_fini(&cfg);
}

TEST(cli_bad_inputs_one_line_errors)
{
	const char *k = cli_test_kernel();
	expect_error("--kernel or --firmware is required", (const char *[]){NULL});
	expect_error("--kernel /nonexistent/bzImage: No such file",
		     (const char *[]){"--kernel", "/nonexistent/bzImage", NULL});
	expect_error("--initrd /nonexistent/initrd: No such file",
		     (const char *[]){"--kernel", k, "--initrd", "/nonexistent/initrd", NULL});
	expect_error("--memory 0: too small", (const char *[]){"--kernel", k, "--memory", "0", NULL});
	expect_error("--memory abc: not a size",
		     (const char *[]){"--kernel", k, "--memory", "abc", NULL});
	expect_error("more than this host",
		     (const char *[]){"--kernel", k, "--memory", "64T", NULL});
	expect_error("multiple of 4K", (const char *[]){"--kernel", k, "--memory", "4097K", NULL});
	expect_error("--cpus 0: must be a number from 1 to 32",
		     (const char *[]){"--kernel", k, "--cpus", "0", NULL});
	expect_error("--cpus 999", (const char *[]){"--kernel", k, "--cpus", "999", NULL});
	expect_error("--cpus x", (const char *[]){"--kernel", k, "--cpus", "x", NULL});
	expect_error("unknown option --frobnicate",
		     (const char *[]){"--kernel", k, "--frobnicate", NULL});
	expect_error("--memory: missing value", (const char *[]){"--kernel", k, "--memory", NULL});
	expect_error("unexpected argument 'extra'", (const char *[]){"--kernel", k, "extra", NULL});
	expect_error("--serial tty: expected stdio, none, file=PATH, socket=PATH or pty",
		     (const char *[]){"--kernel", k, "--serial", "tty", NULL});
	expect_error("--kernel given twice", (const char *[]){"--kernel", k, "--kernel", k, NULL});
	expect_error("mutually exclusive",
		     (const char *[]){"--kernel", k, "--firmware", k, NULL});
	expect_error("--log-level loud",
		     (const char *[]){"--kernel", k, "--log-level", "loud", NULL});
}

TEST(cli_disk_options)
{
	struct vm_config cfg;
	char err[512] = "";
	const char *k = cli_test_kernel();
	char disk[300], opt[400];
	snprintf(disk, sizeof(disk), "%s/disk.img", test_tmpdir());
	FILE *f = fopen(disk, "w");
	fclose(f);
	snprintf(opt, sizeof(opt), "path=%s,readonly=on,serial=abc123,queues=2,queue_size=128",
		 disk);
	const char *args[] = {"--kernel", k, "--disk", opt, NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), args), 0);
	CHECK_EQ(cfg.nr_disks, 1);
	CHECK_STR(cfg.disks[0].path, disk);
	CHECK(cfg.disks[0].readonly);
	CHECK_STR(cfg.disks[0].serial, "abc123");
	CHECK_EQ(cfg.disks[0].queues, 2);
	CHECK_EQ(cfg.disks[0].queue_size, 128);
	cfg_fini(&cfg);

	expect_error("unknown key 'size'", (const char *[]){"--kernel", k, "--disk", "size=1", NULL});
	expect_error("needs path=FILE", (const char *[]){"--kernel", k, "--disk", "readonly=on", NULL});
	expect_error("queue_size=100: expected a power of two",
		     (const char *[]){"--kernel", k, "--disk", "path=/x,queue_size=100", NULL});
	expect_error("queues=0", (const char *[]){"--kernel", k, "--disk", "path=/x,queues=0", NULL});
	expect_error("readonly=maybe",
		     (const char *[]){"--kernel", k, "--disk", "path=/x,readonly=maybe", NULL});
	expect_error("serial is longer than 20",
		     (const char *[]){"--kernel", k, "--disk",
				      "path=/x,serial=123456789012345678901", NULL});
	expect_error("--disk /nonexistent.img: No such file",
		     (const char *[]){"--kernel", k, "--disk", "path=/nonexistent.img", NULL});
	snprintf(opt, sizeof(opt), "path=%s", disk);
	expect_error("given twice", (const char *[]){"--kernel", k, "--disk", opt, "--disk", opt, NULL});
}

TEST(cli_balloon_console_vsock_rng)
{
	struct vm_config cfg;
	char err[512] = "";
	const char *k = cli_test_kernel();
	const char *a1[] = {"--kernel", k, "--balloon", "--rng", "--console", "virtio", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), a1), 0);
	CHECK(cfg.balloon.enabled && !cfg.balloon.size && !cfg.balloon.deflate_on_oom);
	CHECK(cfg.rng.enabled && cfg.rng.rate == 0);
	CHECK(cfg.console.enabled && cfg.console.mode == SERIAL_STDIO);
	CHECK_EQ(cfg.serial, SERIAL_NONE); /* stdin goes to the virtio console */
	CHECK(!cfg.vsock.enabled);
	cfg_fini(&cfg);

	const char *a2[] = {"--kernel", k, "--balloon",
			    "size=128M,deflate_on_oom=on,free_page_reporting=on,stats=5", "--rng",
			    "rate=1M/s", "--console", "virtio,socket=/tmp/con.sock", "--vsock",
			    "cid=42,socket=/tmp/v.sock", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), a2), 0);
	CHECK_EQ(cfg.balloon.size, 128ULL << 20);
	CHECK(cfg.balloon.deflate_on_oom && cfg.balloon.free_page_reporting);
	CHECK_EQ(cfg.balloon.stats_s, 5);
	CHECK_EQ(cfg.rng.rate, 1ULL << 20);
	CHECK_EQ(cfg.console.mode, SERIAL_SOCKET);
	CHECK_STR(cfg.console.path, "/tmp/con.sock");
	CHECK_EQ(cfg.serial, SERIAL_STDIO); /* the console does not take stdio */
	CHECK_EQ(cfg.vsock.cid, 42);
	CHECK_STR(cfg.vsock.uds, "/tmp/v.sock");
	cfg_fini(&cfg);

	const char *a3[] = {"--kernel", k, "--balloon=size=64M", "--console", "virtio,pty",
			    "--serial", "socket=/tmp/s.sock", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), a3), 0);
	CHECK_EQ(cfg.balloon.size, 64ULL << 20);
	CHECK_EQ(cfg.console.mode, SERIAL_PTY);
	CHECK_EQ(cfg.serial, SERIAL_SOCKET);
	CHECK_STR(cfg.serial_path, "/tmp/s.sock");
	cfg_fini(&cfg);

	expect_error("--balloon size=3000: expected a size in 4K units",
		     (const char *[]){"--kernel", k, "--balloon", "size=3000", NULL});
	expect_error("--balloon size=1024 MiB: more than the guest's 512 MiB",
		     (const char *[]){"--kernel", k, "--balloon", "size=1G", NULL});
	expect_error("unknown key 'target'",
		     (const char *[]){"--kernel", k, "--balloon", "target=1", NULL});
	expect_error("--balloon stats=9999: expected seconds",
		     (const char *[]){"--kernel", k, "--balloon", "stats=9999", NULL});
	expect_error("--balloon deflate_on_oom=maybe: expected on or off",
		     (const char *[]){"--kernel", k, "--balloon", "deflate_on_oom=maybe", NULL});
	expect_error("--balloon given twice",
		     (const char *[]){"--kernel", k, "--balloon", "--balloon", NULL});
	expect_error("--console serial: expected virtio",
		     (const char *[]){"--kernel", k, "--console", "serial", NULL});
	expect_error("--console: file needs a value",
		     (const char *[]){"--kernel", k, "--console", "virtio,file=", NULL});
	expect_error("give one of stdio, file=, socket=, pty",
		     (const char *[]){"--kernel", k, "--console", "virtio,pty,stdio", NULL});
	expect_error("cannot share the terminal",
		     (const char *[]){"--kernel", k, "--console", "virtio", "--serial", "stdio",
				      NULL});
	expect_error("--console and --serial both use /tmp/x",
		     (const char *[]){"--kernel", k, "--console", "virtio,socket=/tmp/x", "--serial",
				      "socket=/tmp/x", NULL});
	expect_error("--vsock cid=2: expected 3..4294967294",
		     (const char *[]){"--kernel", k, "--vsock", "cid=2,socket=/tmp/v", NULL});
	expect_error("--vsock cid=4294967295: expected",
		     (const char *[]){"--kernel", k, "--vsock", "cid=4294967295,socket=/tmp/v", NULL});
	expect_error("needs cid=N and socket=PATH",
		     (const char *[]){"--kernel", k, "--vsock", "cid=3", NULL});
	expect_error("--vsock: socket needs a value",
		     (const char *[]){"--kernel", k, "--vsock", "cid=3,socket=", NULL});
	expect_error("--console and --vsock both use /tmp/v",
		     (const char *[]){"--kernel", k, "--console", "virtio,socket=/tmp/v", "--vsock",
				      "cid=3,socket=/tmp/v", NULL});
	expect_error("--rng rate=fast: expected bytes per second",
		     (const char *[]){"--kernel", k, "--rng", "rate=fast", NULL});
	expect_error("--rng rate=2G",
		     (const char *[]){"--kernel", k, "--rng", "rate=2G", NULL});
}

TEST(cli_net_values)
{
	struct vm_config cfg;
	char err[512] = "";
	const char *k = cli_test_kernel();
	const char *args[] = {"--kernel", k, "--net",
			      "tap=vtap0,mac=52:54:00:AB:cd:01,queues=4,mtu=9000,queue_size=512,"
			      "rx_rate=10M,rx_pps=20000,tx_rate=1G,tx_pps=5",
			      "--net", "vhost-user=/run/n.sock,queues=2", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), args), 0);
	REQUIRE(cfg.nr_nets == 2);
	const struct net_config *n = &cfg.nets[0];
	CHECK_STR(n->tap, "vtap0");
	CHECK(n->mac_set);
	CHECK_EQ(n->mac[3], 0xab);
	CHECK_EQ(n->mac[5], 0x01);
	CHECK_EQ(n->queues, 4);
	CHECK_EQ(n->mtu, 9000);
	CHECK_EQ(n->queue_size, 512);
	CHECK_EQ(n->rx_bps, 10ULL << 20);
	CHECK_EQ(n->rx_pps, 20000);
	CHECK_EQ(n->tx_bps, 1ULL << 30);
	CHECK_EQ(n->tx_pps, 5);
	CHECK_STR(cfg.nets[1].vhost_user, "/run/n.sock");
	CHECK_EQ(cfg.nets[1].queues, 2);
	CHECK(!cfg.nets[1].mac_set);
	CHECK_EQ(cfg.nets[1].mtu, 0);
	cfg_fini(&cfg);
}

TEST(cli_net_errors)
{
	const char *k = cli_test_kernel();
#define NET_ERR(needle, val)                                                                       \
	do {                                                                                       \
		const char *a_[] = {"--kernel", k, "--net", val, NULL};                            \
		expect_error(needle, a_);                                                          \
	} while (0)
	NET_ERR("bad MAC", "tap=t0,mac=52:54:00:12:34");
	NET_ERR("bad MAC", "tap=t0,mac=52:54:00:12:34:zz");
	NET_ERR("bad MAC", "tap=t0,mac=01:00:5e:00:00:01"); /* multicast */
	NET_ERR("bad MAC", "tap=t0,mac=00:00:00:00:00:00");
	NET_ERR("bad MAC", "tap=t0,mac=52:54:00:12:34:567");
	NET_ERR("out of range (68..65535)", "tap=t0,mtu=67");
	NET_ERR("out of range (68..65535)", "tap=t0,mtu=65536");
	NET_ERR("queues=9", "tap=t0,queues=9");
	NET_ERR("queues=0", "tap=t0,queues=0");
	NET_ERR("power of two", "tap=t0,queue_size=100");
	NET_ERR("rx_rate=fast", "tap=t0,rx_rate=fast");
	NET_ERR("tx_pps=0", "tap=t0,tx_pps=0");
	NET_ERR("unknown key 'speed'", "tap=t0,speed=10");
	NET_ERR("needs tap=NAME or vhost-user=SOCKET", "mac=52:54:00:12:34:56");
	NET_ERR("mutually exclusive", "tap=t0,vhost-user=/x");
	NET_ERR("rate limits apply to tap=", "vhost-user=/x,rx_rate=1M");
	NET_ERR("must be given once", "tap=t0,tap=t1");
	NET_ERR("not key=value", "tap=t0,oops");
#undef NET_ERR
	const char *twice[] = {"--kernel", k, "--net", "tap=t0", "--net", "tap=t0", NULL};
	expect_error("--net tap=t0: given twice", twice);
	const char *mac2[] = {"--kernel", k, "--net", "tap=t0,mac=02:00:00:00:00:01", "--net",
			      "tap=t1,mac=02:00:00:00:00:01", NULL};
	expect_error("given twice", mac2);
}
