/* SPDX-License-Identifier: MIT */
/* The graphics options of `vireo run`: --gpu, --input, --display. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/cli.h"
#include "cli_test.h"
#include "harness.h"

static void expect_error(int line, const char *needle, const char **args)
{
	struct vm_config cfg;
	char err[512] = "";
	int r = cli_test_parse(&cfg, err, sizeof(err), args);
	if (r >= 0 || !strstr(err, needle) || strchr(err, '\n'))
		test_fail_at(__FILE__, line, "expected an error with '%s', got r=%d '%s'", needle,
			     r, err);
	cfg_fini(&cfg);
}
#define EXPECT_ERROR(needle, ...)                                                                  \
	expect_error(__LINE__, needle, (const char *[]){__VA_ARGS__, NULL})

TEST(cli_gpu_input_display_values)
{
	struct vm_config cfg;
	char err[512] = "", shot[300];
	const char *k = cli_test_kernel();
	snprintf(shot, sizeof(shot), "screenshot=%s/s.png", test_tmpdir());
	const char *a1[] = {"--kernel", k,	     "--gpu", "--input", "--display",
			    "vnc=5901", "--display", shot,    NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), a1), 0);
	CHECK(cfg.gpu.enabled);
	CHECK_EQ(cfg.gpu.width, 1280);
	CHECK_EQ(cfg.gpu.height, 800);
	CHECK_EQ(cfg.gpu.max_hostmem, 256ULL << 20);
	CHECK(cfg.input);
	CHECK(cfg.display.vnc);
	CHECK_STR(cfg.display.vnc_addr, "127.0.0.1");
	CHECK_EQ(cfg.display.vnc_port, 5901);
	CHECK(cfg.display.screenshot && strstr(cfg.display.screenshot, "/s.png"));
	cfg_fini(&cfg);

	/* "--gpu OPTS" and "--gpu=OPTS"; addresses */
	const char *a2[] = {
	    "--kernel",	     k,	  "--gpu", "width=1024,height=768,max_hostmem=64M", "--display",
	    "vnc=0.0.0.0:0", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), a2), 0);
	CHECK_EQ(cfg.gpu.width, 1024);
	CHECK_EQ(cfg.gpu.height, 768);
	CHECK_EQ(cfg.gpu.max_hostmem, 64ULL << 20);
	CHECK_STR(cfg.display.vnc_addr, "0.0.0.0");
	CHECK_EQ(cfg.display.vnc_port, 0);
	cfg_fini(&cfg);
	const char *a3[] = {
	    "--kernel", k, "--gpu=height=600", "--display", "vnc=localhost:5,password=/dev/null",
	    NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), a3), 0);
	CHECK_EQ(cfg.gpu.height, 600);
	CHECK_EQ(cfg.gpu.width, 1280);
	CHECK_STR(cfg.display.vnc_addr, "127.0.0.1");
	CHECK_STR(cfg.display.vnc_password, "/dev/null");
	cfg_fini(&cfg);
	/* The firmware screen needs no --gpu. */
	const char *a4[] = {"--firmware", k, "--display", "vnc=:6000", NULL};
	CHECK_EQ(cli_test_parse(&cfg, err, sizeof(err), a4), 0);
	CHECK(!cfg.gpu.enabled);
	cfg_fini(&cfg);
}

TEST(cli_gpu_display_errors)
{
	const char *k = cli_test_kernel();
	EXPECT_ERROR("width=100: expected 320..3840", "--kernel", k, "--gpu", "width=100");
	EXPECT_ERROR("height=5000", "--kernel", k, "--gpu", "height=5000");
	EXPECT_ERROR("unknown key 'depth'", "--kernel", k, "--gpu", "depth=32");
	EXPECT_ERROR("max_hostmem=1K", "--kernel", k, "--gpu", "max_hostmem=1K");
	EXPECT_ERROR("too small for two 3840x2400", "--kernel", k, "--gpu",
		     "width=3840,height=2400,max_hostmem=4M");
	EXPECT_ERROR("--gpu given twice", "--kernel", k, "--gpu", "--gpu");
	EXPECT_ERROR("'wide' is not key=value", "--kernel", k, "--gpu", "wide,width=1000");
	EXPECT_ERROR("--display: missing value", "--kernel", k, "--gpu", "--display");
	EXPECT_ERROR("nothing to show", "--kernel", k, "--display", "vnc=5900");
	EXPECT_ERROR("not an IPv4 address", "--kernel", k, "--gpu", "--display", "vnc=1.2.3:5900");
	EXPECT_ERROR("port 0..65535", "--kernel", k, "--gpu", "--display", "vnc=127.0.0.1:70000");
	EXPECT_ERROR("port 0..65535", "--kernel", k, "--gpu", "--display", "vnc=abc");
	EXPECT_ERROR("vnc= given twice", "--kernel", k, "--gpu", "--display", "vnc=1", "--display",
		     "vnc=2");
	EXPECT_ERROR("password=: needs vnc=", "--kernel", k, "--gpu", "--display",
		     "password=/dev/null");
	EXPECT_ERROR("password=/nonexistent/pw: No such file", "--kernel", k, "--gpu", "--display",
		     "vnc=1,password=/nonexistent/pw");
	EXPECT_ERROR("directory /nonexistent-dir", "--kernel", k, "--gpu", "--display",
		     "screenshot=/nonexistent-dir/s.png");
	EXPECT_ERROR("unknown key 'sdl'", "--kernel", k, "--gpu", "--display", "sdl=on");
	EXPECT_ERROR("screenshot= needs a value", "--kernel", k, "--gpu", "--display",
		     "screenshot=");
}
