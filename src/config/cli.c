/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "config/cli.h"

void cli_usage_run(FILE *out)
{
	fputs("usage: vireo run (--kernel PATH | --firmware PATH) [options]\n"
	      "\n"
	      "  --kernel PATH        bzImage (boot protocol >= 2.06), ELF vmlinux (PVH note),\n"
	      "                       or any x86-64 ELF (entered in 64-bit mode)\n"
	      "  --initrd PATH        initial ramdisk\n"
	      "  --cmdline STR        kernel command line\n"
	      "  --firmware PATH      boot firmware instead of a kernel (e.g. SeaBIOS bios.bin)\n"
	      "  --firmware-log PATH  write the firmware debug console (port 0x402) to PATH\n"
	      "  --cpus N             vCPUs, 1..32 (default 1)\n"
	      "  --memory SIZE        guest RAM, e.g. 512M, 2G (default 512M)\n"
	      "  --serial MODE        stdio | file=PATH | none (default stdio)\n"
	      "  --disk OPTS          virtio-blk disk, repeatable: path=FILE[,readonly=on]\n"
	      "                       [,serial=ID][,direct=on][,queues=N][,queue_size=N]\n"
	      "                       or vhost-user=SOCKET\n"
	      "  --net OPTS           virtio-net, repeatable: tap=NAME[,mac=MAC][,queues=N]\n"
	      "                       [,mtu=N][,queue_size=N][,rx_rate=BYTES/s][,rx_pps=N]\n"
	      "                       [,tx_rate=BYTES/s][,tx_pps=N] or vhost-user=SOCKET\n"
	      "                       [,mac=MAC][,queues=N][,mtu=N]\n"
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

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *log_level, FILE *out,
		  char *err, size_t errlen)
{
	int c, r = 0;
	uint64_t n;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hv", run_opts, NULL)) != -1) {
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
			if (!strcmp(optarg, "stdio")) {
				cfg->serial = SERIAL_STDIO;
			} else if (!strcmp(optarg, "none")) {
				cfg->serial = SERIAL_NONE;
			} else if (!strncmp(optarg, "file=", 5) && optarg[5]) {
				cfg->serial = SERIAL_FILE;
				free(cfg->serial_path);
				cfg->serial_path = strdup(optarg + 5);
			} else {
				snprintf(err, errlen,
					 "--serial %s: expected stdio, none or file=PATH", optarg);
				r = -EINVAL;
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
	return cfg_validate(cfg, err, errlen);
}
