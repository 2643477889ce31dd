/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include "base/log.h"
#include "config/cli.h"
#include "config/json.h"

void cli_usage_run(FILE *out)
{
	fputs("usage: vireo run (--kernel PATH | --firmware PATH) [options]\n"
	      "       vireo run --config FILE.json [--name NAME] [--api-socket PATH]\n"
	      "       vireo run --name NAME | --api-socket PATH   (empty; wait for vm.create)\n"
	      "\n"
	      "  --kernel PATH        bzImage (boot protocol >= 2.06), ELF vmlinux (PVH note),\n"
	      "                       or any x86-64 ELF (entered in 64-bit mode)\n"
	      "  --initrd PATH        initial ramdisk\n"
	      "  --cmdline STR        kernel command line\n"
	      "  --firmware PATH      boot firmware instead of a kernel (e.g. SeaBIOS bios.bin)\n"
	      "  --firmware-log PATH  write the firmware debug console (port 0x402) to PATH\n"
	      "  --cpus N             vCPUs, 1..32 (default 1)\n"
	      "  --memory SIZE        guest RAM, e.g. 512M, 2G (default 512M)\n"
	      "  --serial MODE        stdio | file=PATH | socket=PATH | pty | none (default stdio;\n"
	      "                       none when a virtio console has stdio)\n"
	      "  --disk OPTS          virtio-blk disk, repeatable: path=FILE[,readonly=on]\n"
	      "                       [,serial=ID][,direct=on][,queues=N][,queue_size=N]\n"
	      "                       or vhost-user=SOCKET\n"
	      "  --net OPTS           virtio-net, repeatable: tap=NAME[,mac=MAC][,queues=N]\n"
	      "                       [,mtu=N][,queue_size=N][,rx_rate=BYTES/s][,rx_pps=N]\n"
	      "                       [,tx_rate=BYTES/s][,tx_pps=N] or vhost-user=SOCKET\n"
	      "                       [,mac=MAC][,queues=N][,mtu=N]\n"
	      "  --gpu [OPTS]         virtio-gpu (2D): [width=W,height=H][,max_hostmem=SIZE]\n"
	      "                       (default 1280x800, 256M)\n"
	      "  --input              virtio keyboard and tablet, fed by the display\n"
	      "  --display OPTS       repeatable: vnc=[ADDRESS:]PORT[,password=FILE]\n"
	      "                       (default address 127.0.0.1); screenshot=PATH (a PNG\n"
	      "                       written on SIGUSR2 and when the VM stops)\n"
	      "  --config FILE.json   the VM as a VmConfig (the API's vm.create body), instead\n"
	      "                       of the flags above\n"
	      "  --name NAME          the VM's name for vireo ls/ctl/stop/console (default\n"
	      "                       vm-PID); its API socket is RUNDIR/NAME.sock, RUNDIR =\n"
	      "                       $XDG_RUNTIME_DIR/vireo, or /run/vireo as root\n"
	      "  --api-socket PATH    serve the REST API on PATH instead\n"
	      "  --balloon [OPTS]     virtio-balloon: [size=SIZE][,deflate_on_oom=on]\n"
	      "                       [,free_page_reporting=on][,stats=SECONDS]\n"
	      "  --console virtio[,MODE]\n"
	      "                       virtio console (hvc0): stdio (default), file=PATH,\n"
	      "                       socket=PATH or pty\n"
	      "  --vsock cid=N,socket=PATH\n"
	      "                       virtio-vsock; host connects to PATH (\"CONNECT <port>\\n\"),\n"
	      "                       guest connections to host port P go to PATH_P\n"
	      "  --rng [rate=BYTES]   virtio-rng from getrandom(), optionally BYTES per second\n"
	      "  --log-level LEVEL    error | warn | info | debug (default warn); -v = info\n"
	      "  -h, --help           this help\n"
	      "\n"
	      "Ctrl-C (SIGINT) or SIGTERM stops the VM cleanly.\n"
	      "Exit status: 0 guest powered off or reset, 1 runtime failure, 2 usage error.\n",
	      out);
}

enum {
	OPT_KERNEL = 0x100,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_FIRMWARE,
	OPT_FIRMWARE_LOG,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_SERIAL,
	OPT_DISK,
	OPT_NET,
	OPT_LOG_LEVEL,
	OPT_GPU,
	OPT_INPUT,
	OPT_DISPLAY,
	OPT_CONFIG,
	OPT_NAME,
	OPT_API_SOCKET,
	OPT_BALLOON,
	OPT_CONSOLE,
	OPT_VSOCK,
	OPT_RNG,
};

static const struct option run_opts[] = {
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"firmware", required_argument, NULL, OPT_FIRMWARE},
	{"firmware-log", required_argument, NULL, OPT_FIRMWARE_LOG},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"serial", required_argument, NULL, OPT_SERIAL},
	{"disk", required_argument, NULL, OPT_DISK},
	{"net", required_argument, NULL, OPT_NET},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"gpu", optional_argument, NULL, OPT_GPU},
	{"input", no_argument, NULL, OPT_INPUT},
	{"display", required_argument, NULL, OPT_DISPLAY},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"name", required_argument, NULL, OPT_NAME},
	{"api-socket", required_argument, NULL, OPT_API_SOCKET},
	{"balloon", optional_argument, NULL, OPT_BALLOON},
	{"console", required_argument, NULL, OPT_CONSOLE},
	{"vsock", required_argument, NULL, OPT_VSOCK},
	{"rng", optional_argument, NULL, OPT_RNG},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int set_str(char **dst, const char *opt, const char *val, char *err, size_t errlen)
{
	if (*dst) {
		snprintf(err, errlen, "--%s given twice", opt);
		return -EINVAL;
	}
	if (!*val) {
		snprintf(err, errlen, "--%s: empty value", opt);
		return -EINVAL;
	}
	*dst = strdup(val);
	return *dst ? 0 : -ENOMEM;
}

static int parse_log_level(const char *v, int *lvl)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(v, names[i])) {
			*lvl = i;
			return 0;
		}
	return -EINVAL;
}

void cli_run_opts_fini(struct cli_run_opts *o)
{
	free(o->name);
	free(o->api_socket);
	o->name = o->api_socket = NULL;
}

int cli_check_name(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);
	bool ok = len >= 1 && len <= 64 && name[0] != '.' && name[0] != '-';
	for (size_t i = 0; ok && i < len; i++) {
		char ch = name[i];
		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		     ch == '_' || ch == '.' || ch == '-';
	}
	if (!ok) {
		snprintf(err, errlen,
			 "name '%.64s': use 1 to 64 of A-Z a-z 0-9 _ . - (not starting with . or -)",
			 name);
		return -EINVAL;
	}
	return 0;
}

/* Options that describe the VM itself (every long option but those of the VMM process): not
 * allowed together with --config. */
static bool is_vm_flag(int c)
{
	return c >= OPT_KERNEL && c != OPT_LOG_LEVEL && c != OPT_CONFIG && c != OPT_NAME &&
	       c != OPT_API_SOCKET;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, struct cli_run_opts *opts,
		  FILE *out, char *err, size_t errlen)
{
	int c, r = 0;
	uint64_t n;
	const char *config = NULL;
	const char *first_vm_flag = NULL;
	int *log_level = &opts->log_level;

	opts->have_vm = false;
	optind = 1;
	opterr = 0;
	int idx = -1;
	while ((c = getopt_long(argc, argv, ":hv", run_opts, &idx)) != -1) {
		if (is_vm_flag(c) && !first_vm_flag && idx >= 0)
			first_vm_flag = run_opts[idx].name;
		switch (c) {
		case OPT_KERNEL:
			r = set_str(&cfg->kernel, "kernel", optarg, err, errlen);
			break;
		case OPT_INITRD:
			r = set_str(&cfg->initrd, "initrd", optarg, err, errlen);
			break;
		case OPT_CMDLINE:
			if (cfg->cmdline) {
				snprintf(err, errlen, "--cmdline given twice");
				r = -EINVAL;
			} else {
				cfg->cmdline = strdup(optarg);
			}
			break;
		case OPT_FIRMWARE:
			r = set_str(&cfg->firmware, "firmware", optarg, err, errlen);
			break;
		case OPT_FIRMWARE_LOG:
			r = set_str(&cfg->firmware_log, "firmware-log", optarg, err, errlen);
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1, VM_MAX_CPUS, &n) < 0) {
				snprintf(err, errlen, "--cpus %s: must be a number from 1 to %d", optarg,
					 VM_MAX_CPUS);
				r = -EINVAL;
			} else {
				cfg->cpus = (unsigned)n;
			}
			break;
		case OPT_MEMORY:
			if (parse_size(optarg, &n) < 0) {
				snprintf(err, errlen, "--memory %s: not a size (e.g. 512M, 2G)", optarg);
				r = -EINVAL;
			} else if (n < VM_MIN_MEM) {
				snprintf(err, errlen, "--memory %s: too small (at least 2M)", optarg);
				r = -EINVAL;
			} else {
				cfg->mem_size = n;
			}
			break;
		case OPT_SERIAL:
			cfg->serial_given = true;
			if (!strcmp(optarg, "stdio")) {
				cfg->serial = SERIAL_STDIO;
			} else if (!strcmp(optarg, "none")) {
				cfg->serial = SERIAL_NONE;
			} else if (!strcmp(optarg, "pty")) {
				cfg->serial = SERIAL_PTY;
			} else if ((!strncmp(optarg, "file=", 5) || !strncmp(optarg, "socket=", 7)) &&
				   strchr(optarg, '=')[1]) {
				cfg->serial = optarg[0] == 'f' ? SERIAL_FILE : SERIAL_SOCKET;
				free(cfg->serial_path);
				cfg->serial_path = strdup(strchr(optarg, '=') + 1);
			} else {
				snprintf(err, errlen,
					 "--serial %s: expected stdio, none, file=PATH, socket=PATH or pty",
					 optarg);
				r = -EINVAL;
			}
			break;
		case OPT_BALLOON:
		case OPT_RNG: {
			/* Every key is optional: "--balloon", "--balloon=k=v" or "--balloon k=v". */
			const char *v = optarg;
			if (!v && optind < argc && argv[optind][0] != '-' && strchr(argv[optind], '='))
				v = argv[optind++];
			if (c == OPT_BALLOON && cfg->balloon.enabled) {
				snprintf(err, errlen, "--balloon given twice");
				r = -EINVAL;
			} else if (c == OPT_RNG && cfg->rng.enabled) {
				snprintf(err, errlen, "--rng given twice");
				r = -EINVAL;
			} else if (c == OPT_BALLOON) {
				r = cfg_parse_balloon(v, &cfg->balloon, err, errlen);
			} else {
				r = cfg_parse_rng(v, &cfg->rng, err, errlen);
			}
			break;
		}
		case OPT_CONSOLE:
			if (cfg->console.enabled) {
				snprintf(err, errlen, "--console given twice");
				r = -EINVAL;
			} else {
				r = cfg_parse_console(optarg, &cfg->console, err, errlen);
			}
			break;
		case OPT_VSOCK:
			if (cfg->vsock.enabled) {
				snprintf(err, errlen, "--vsock given twice");
				r = -EINVAL;
			} else {
				r = cfg_parse_vsock(optarg, &cfg->vsock, err, errlen);
			}
			break;
		case OPT_DISK:
			if (cfg->nr_disks >= VM_MAX_DISKS) {
				snprintf(err, errlen, "--disk: at most %d disks", VM_MAX_DISKS);
				r = -EINVAL;
				break;
			}
			r = cfg_parse_disk(optarg, &cfg->disks[cfg->nr_disks], err, errlen);
			if (r == 0)
				cfg->nr_disks++;
			break;
		case OPT_NET:
			if (cfg->nr_nets >= VM_MAX_NETS) {
				snprintf(err, errlen, "--net: at most %d network devices", VM_MAX_NETS);
				r = -EINVAL;
				break;
			}
			r = cfg_parse_net("--net", optarg, &cfg->nets[cfg->nr_nets], err, errlen);
			if (r == 0)
				cfg->nr_nets++;
			break;
		case OPT_LOG_LEVEL:
			if (parse_log_level(optarg, log_level) < 0) {
				snprintf(err, errlen,
					 "--log-level %s: expected error, warn, info or debug", optarg);
				r = -EINVAL;
			}
			break;
		case OPT_GPU: {
			/* The value is optional: "--gpu=OPTS", "--gpu OPTS" (a key=value word) or
			 * a bare "--gpu". */
			const char *v = optarg;
			if (!v && optind < argc && argv[optind][0] != '-' && strchr(argv[optind], '='))
				v = argv[optind++];
			r = cfg_parse_gpu(v, &cfg->gpu, err, errlen);
			break;
		}
		case OPT_INPUT:
			cfg->input = true;
			break;
		case OPT_DISPLAY:
			r = cfg_parse_display(optarg, &cfg->display, err, errlen);
			break;
		case OPT_CONFIG:
			if (config) {
				snprintf(err, errlen, "--config given twice");
				r = -EINVAL;
			}
			config = optarg;
			break;
		case OPT_NAME:
			r = set_str(&opts->name, "name", optarg, err, errlen);
			if (r == 0)
				r = cli_check_name(optarg, err, errlen);
			break;
		case OPT_API_SOCKET:
			r = set_str(&opts->api_socket, "api-socket", optarg, err, errlen);
			if (r == 0 && strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
				snprintf(err, errlen, "--api-socket: path longer than %zu bytes",
					 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
				r = -EINVAL;
			}
			break;
		case 'v':
			*log_level = LOG_INFO;
			break;
		case 'h':
			cli_usage_run(out);
			return 1;
		case ':':
			snprintf(err, errlen, "%s: missing value", argv[optind - 1]);
			r = -EINVAL;
			break;
		default:
			if (optopt)
				snprintf(err, errlen, "unknown option -%c", optopt);
			else
				snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
			r = -EINVAL;
			break;
		}
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (config) {
		if (first_vm_flag) {
			snprintf(err, errlen, "--%s: not with --config (put it in %s)",
				 first_vm_flag, config);
			return -EINVAL;
		}
		r = cfg_load_file(cfg, config, err, errlen);
		if (r < 0)
			return r;
	} else if (!cfg->kernel && !cfg->firmware && !first_vm_flag &&
		   (opts->name || opts->api_socket)) {
		return 0; /* an empty VMM: the VM comes through the API */
	}
	cfg_devices_defaults(cfg);
	opts->have_vm = true;
	return cfg_validate(cfg, err, errlen);
}
