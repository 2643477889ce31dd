/* SPDX-License-Identifier: MIT */
/*
 * `vireo backend TYPE --socket PATH [options]`: create one device from the same device code
 * as `vireo run` and serve it over vhost-user until SIGTERM/SIGINT. Front-ends come and go;
 * the device is reset between them. Adding a device type is one line in backend_types[].
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "base/ev_loop.h"
#include "base/log.h"
#include "config/config.h"
#include "backends/display.h"
#include "backends/tap.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/gpu.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "vhost_user/backend.h"
#include "vhost_user/cmd_backend.h"
#include "vhost_user/gpu_socket.h"

#define EXIT_USAGE 2

struct backend_opts {
	const char *type;
	const char *socket;
	const char *disk;
	const char *tap;
	const char *vsock;
	const char *rate;
	const char *gpu;
	int verbose;
	uint64_t poll_us;
};

/* What a device type needs besides the device (gpu: its screen and the gpu socket). */
struct backend_extra {
	struct display *display;
	struct vu_gpu *gpu;
	bool gpu_fixed_size;
};

struct backend_type {
	const char *name;
	const char *args;
	const char *what;
	/* NULL: the device does not exist in this build yet. */
	int (*create)(const struct backend_opts *o, struct backend_extra *x,
		      struct virtio_dev **dev, char *err, size_t errlen);
	/* Optional: the exit report, one line per queue (default: requests per queue). */
	void (*report)(struct virtio_dev *dev);
};

static int create_blk(const struct backend_opts *o, struct backend_extra *x,
		      struct virtio_dev **dev, char *err, size_t errlen)
{
	struct disk_config d;
	int r;

	if (!o->disk) {
		snprintf(err, errlen, "backend blk: --disk path=FILE is required");
		return -EINVAL;
	}
	r = cfg_parse_disk(o->disk, &d, err, errlen);
	if (r < 0)
		return r;
	if (d.vhost_user || !d.path) {
		snprintf(err, errlen, "backend blk: --disk needs path=FILE (not vhost-user=)");
		r = -EINVAL;
	} else if (d.queues > VU_MAX_QUEUES) {
		snprintf(err, errlen, "backend blk: at most %u queues", VU_MAX_QUEUES);
		r = -EINVAL;
	} else {
		r = vblk_create(&d, "blk0", dev, err, errlen);
		if (r < 0 && !err[0])
			snprintf(err, errlen, "backend blk: %s: %s", d.path, strerror(-r));
	}
	free(d.path);
	free(d.vhost_user);
	return r;
}

static int create_rng(const struct backend_opts *o, struct backend_extra *x,
		      struct virtio_dev **dev, char *err, size_t errlen)
{
	struct rng_config rc = {0};
	int r = 0;
	if (o->rate) {
		char kv[64];
		snprintf(kv, sizeof(kv), "rate=%s", o->rate);
		r = cfg_parse_rng(kv, &rc, err, errlen);
		if (r < 0)
			return r;
	}
	r = vrng_create_rate("rng0", rc.rate, dev);
	if (r < 0)
		snprintf(err, errlen, "backend rng: %s", strerror(-r));
	return r;
}

static int create_vsock(const struct backend_opts *o, struct backend_extra *x,
			struct virtio_dev **dev, char *err, size_t errlen)
{
	struct vsock_config vc = {0};
	if (!o->vsock) {
		snprintf(err, errlen, "backend vsock: --vsock cid=N,socket=PATH is required");
		return -EINVAL;
	}
	int r = cfg_parse_vsock(o->vsock, &vc, err, errlen);
	if (r == 0)
		r = vsock_create(&vc, "vsock0", dev, err, errlen);
	free(vc.uds);
	return r;
}

/* --tap NAME[,queues=N][,mtu=N][,queue_size=N][,rx_rate=...]: the same keys as --net. */
static int create_net(const struct backend_opts *o, struct backend_extra *x,
		      struct virtio_dev **dev, char *err, size_t errlen)
{
	struct net_config nc;
	struct vnet_params p;
	struct net_port *port;
	char val[512], why[256] = "";
	int r;

	if (!o->tap) {
		snprintf(err, errlen, "backend net: --tap NAME is required");
		return -EINVAL;
	}
	/* "NAME[,key=value...]": NAME is what --net calls tap=NAME. */
	snprintf(val, sizeof(val), "%s%s", strncmp(o->tap, "tap=", 4) ? "tap=" : "", o->tap);
	r = cfg_parse_net("backend net: --tap", val, &nc, err, errlen);
	if (r < 0)
		return r;
	if (!nc.tap) {
		snprintf(err, errlen, "backend net: --tap needs an interface name");
		cfg_net_fini(&nc);
		return -EINVAL;
	}
	if (nc.mac_set) {
		snprintf(err, errlen,
			 "backend net: mac= belongs to the front-end (e.g. QEMU's -device "
			 "virtio-net-pci,mac=...)");
		cfg_net_fini(&nc);
		return -EINVAL;
	}
	vnet_params_from_config(&nc, &p);
	p.ctrl_vq = false; /* the front-end serves the control queue */
	r = tap_open(nc.tap, nc.queues, nc.mtu, &port, why, sizeof(why));
	if (r < 0)
		snprintf(err, errlen, "backend net: %s", why);
	else
		r = vnet_create(&p, port, "net0", dev, err, errlen);
	cfg_net_fini(&nc);
	return r;
}

/* True when the option string sets key (key=... at the start or after a comma). */
static bool has_key(const char *val, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = val; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == '=')
			return true;
	return false;
}

/* --gpu [width=W,height=H,max_hostmem=SIZE]: the same keys as `vireo run --gpu`. The screen
 * goes to the front-end through the gpu socket it hands over (GPU_SET_SOCKET). */
static int create_gpu(const struct backend_opts *o, struct backend_extra *x,
		      struct virtio_dev **dev, char *err, size_t errlen)
{
	struct gpu_config gc = {0};
	int r = cfg_parse_gpu(o->gpu ? o->gpu : "", &gc, err, errlen);
	if (r < 0)
		return r;
	x->gpu_fixed_size = o->gpu && (has_key(o->gpu, "width") || has_key(o->gpu, "height"));
	r = display_create(NULL, gc.width, gc.height, &x->display);
	if (r < 0) {
		snprintf(err, errlen, "backend gpu: display: %s", strerror(-r));
		return r;
	}
	struct vgpu_params p = {gc.width, gc.height, gc.max_hostmem};
	return vgpu_create(&p, x->display, "gpu0", dev, err, errlen);
}

static void report_net(struct virtio_dev *dev)
{
	vnet_log_stats(dev, LOG_ERR);
}

static const struct backend_type backend_types[] = {
    {"blk", "--socket PATH --disk path=FILE[,readonly=on,serial=S,queues=N,queue_size=N,direct=on]",
     "virtio-blk over a raw image", create_blk, NULL},
    {"rng", "--socket PATH [--rate BYTES]",
     "virtio-rng from getrandom(), optionally BYTES per second", create_rng, NULL},
    {"vsock", "--socket PATH --vsock cid=N,socket=UDS",
     "virtio-vsock; host programs connect to UDS (\"CONNECT <port>\\n\"), guest connections\n"
     "        to host port P go to UDS_P (QEMU: -device vhost-user-vsock-pci)",
     create_vsock, NULL},
    {"net",
     "--socket PATH --tap NAME[,queues=N,mtu=N,queue_size=N,rx_rate=R,rx_pps=N,tx_rate=R,tx_pps=N]",
     "virtio-net over a TAP (created if missing)", create_net, report_net},
    {"gpu", "--socket PATH [--gpu width=W,height=H,max_hostmem=SIZE]",
     "virtio-gpu 2D; the screen goes to the front-end over its vhost-user-gpu socket\n"
     "        (QEMU: -device vhost-user-gpu-pci); without width/height the front-end's\n"
     "        preferred size is offered to the guest",
     create_gpu, NULL},
};

static void usage(FILE *out)
{
	fputs("usage: vireo backend TYPE --socket PATH [options]\n"
	      "Serve one virtio device to a vhost-user front-end (e.g. QEMU) until SIGTERM.\n\n"
	      "types:\n",
	      out);
	for (size_t i = 0; i < ARRAY_SIZE(backend_types); i++)
		fprintf(out, "  %-5s %s\n        %s%s\n", backend_types[i].name,
			backend_types[i].args, backend_types[i].what,
			backend_types[i].create ? "" : " (not available yet)");
	fputs(
	    "\noptions:\n"
	    "  --poll-us N    after each event keep polling the loop for N us before\n"
	    "                 sleeping (lower latency at low queue depth, burns CPU; 0..1000000,\n"
	    "                 default 0)\n"
	    "  -v, --verbose  more log output (repeat for debug)\n"
	    "  -h, --help     this help\n",
	    out);
}

/* --opt VALUE or --opt=VALUE. Returns the value or NULL (i advanced past it). */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* Returns 0, 1 for --help, or -EINVAL with a reason. */
static int parse_args(int argc, char **argv, struct backend_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v;
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return 1;
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o->verbose++;
		} else if (!strcmp(a, "-vv")) {
			o->verbose += 2;
		} else if (!strncmp(a, "--socket", 8) &&
			   (v = opt_value(argc, argv, &i, "--socket"))) {
			o->socket = v;
		} else if (!strncmp(a, "--disk", 6) && (v = opt_value(argc, argv, &i, "--disk"))) {
			if (o->disk) {
				snprintf(err, errlen, "backend: --disk given twice");
				return -EINVAL;
			}
			o->disk = v;
		} else if (!strncmp(a, "--tap", 5) && (v = opt_value(argc, argv, &i, "--tap"))) {
			o->tap = v;
		} else if (!strncmp(a, "--vsock", 7) &&
			   (v = opt_value(argc, argv, &i, "--vsock"))) {
			o->vsock = v;
		} else if (!strncmp(a, "--rate", 6) && (v = opt_value(argc, argv, &i, "--rate"))) {
			o->rate = v;
		} else if (!strncmp(a, "--gpu", 5) && (v = opt_value(argc, argv, &i, "--gpu"))) {
			o->gpu = v;
		} else if (!strncmp(a, "--poll-us", 9) &&
			   (v = opt_value(argc, argv, &i, "--poll-us"))) {
			if (parse_uint(v, 0, 1000000, &o->poll_us) < 0) {
				snprintf(err, errlen, "backend: --poll-us %s: expected 0..1000000",
					 v);
				return -EINVAL;
			}
		} else if (a[0] == '-') {
			snprintf(err, errlen, "backend: unknown or incomplete option '%s'", a);
			return -EINVAL;
		} else if (!o->type) {
			o->type = a;
		} else {
			snprintf(err, errlen, "backend: unexpected argument '%s'", a);
			return -EINVAL;
		}
	}
	if (!o->type) {
		snprintf(err, errlen, "backend: device TYPE missing (try vireo backend --help)");
		return -EINVAL;
	}
	return 0;
}

static void signal_cb(void *opaque, uint32_t events)
{
	struct ev_loop *loop = opaque;
	(void)events;
	ev_loop_stop(loop);
}

struct signal_cb_ctx {
	int fd;
	struct ev_loop *loop;
	struct ev_handler *h;
};

static void signalfd_cb(void *opaque, uint32_t events)
{
	struct signal_cb_ctx *s = opaque;
	struct signalfd_siginfo si;

	if (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		log_info("backend: signal %u, stopping", si.ssi_signo);
	signal_cb(s->loop, events);
}

/* Like ev_loop_run, but after each event keep polling (epoll_wait with no timeout) for
 * poll_ns before sleeping: a front-end's next kick is then seen without a scheduler wakeup. */
static int run_loop(struct ev_loop *loop, uint64_t poll_ns)
{
	uint64_t last = time_now_ns();

	if (!poll_ns)
		return ev_loop_run(loop);
	while (!ev_loop_stopped(loop)) {
		bool polling = time_now_ns() - last < poll_ns;
		int n = ev_loop_run_once(loop, polling ? 0 : -1);
		if (n < 0)
			return n;
		if (n > 0)
			last = time_now_ns();
	}
	return 0;
}

static int gpu_set_socket_hook(void *opaque, int fd, char *why, size_t whylen)
{
	return vu_gpu_attach(opaque, fd, why, whylen);
}

static void gpu_disconnected_hook(void *opaque)
{
	vu_gpu_detach(opaque);
}

static const struct vu_backend_hooks gpu_hooks = {
    .gpu_set_socket = gpu_set_socket_hook,
    .disconnected = gpu_disconnected_hook,
};

static int serve(const struct backend_type *t, const struct backend_opts *o)
{
	struct backend_extra x = {0};
	struct ev_loop *loop = NULL;
	struct virtio_dev *dev = NULL;
	struct vu_backend *vb = NULL;
	struct signal_cb_ctx sig = {-1, NULL, NULL};
	sigset_t mask, old;
	char err[512] = "";
	char name[48];
	int status = 1;
	bool served = false;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &mask, &old) != 0) {
		fprintf(stderr, "vireo: backend: cannot block signals\n");
		return 1;
	}
	r = t->create(o, &x, &dev, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vireo: %s\n", err);
		status =
		    EXIT_USAGE; /* like `vireo run`: a disk that cannot be used is bad config */
		goto out;
	}
	r = ev_loop_create(&loop);
	if (r < 0) {
		fprintf(stderr, "vireo: backend: event loop: %s\n", strerror(-r));
		goto out;
	}
	sig.loop = loop;
	sig.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig.fd < 0 || ev_add(loop, sig.fd, EPOLLIN, signalfd_cb, &sig, &sig.h) < 0) {
		fprintf(stderr, "vireo: backend: signalfd: %s\n", strerror(errno));
		goto out;
	}
	snprintf(name, sizeof(name), "vhost-user-%s", t->name);
	r = vu_backend_create(dev, loop, name, &vb);
	if (r < 0) {
		fprintf(stderr, "vireo: backend %s: %s\n", t->name, strerror(-r));
		goto out;
	}
	if (x.display) {
		r = vu_gpu_create(x.display, dev, loop, dev->name, x.gpu_fixed_size, &x.gpu);
		if (r < 0) {
			fprintf(stderr, "vireo: backend %s: gpu socket: %s\n", t->name,
				strerror(-r));
			goto out;
		}
		vu_backend_set_hooks(vb, &gpu_hooks, x.gpu);
	}
	r = vu_backend_listen(vb, o->socket);
	if (r < 0) {
		fprintf(stderr, "vireo: backend %s: cannot listen on %s: %s\n", t->name, o->socket,
			r == -EEXIST ? "exists and is not a socket" : strerror(-r));
		status = EXIT_USAGE;
		goto out;
	}
	log_info("%s: listening on %s", name, o->socket);
	served = true;
	r = run_loop(loop, o->poll_us * 1000);
	if (r < 0) {
		fprintf(stderr, "vireo: backend %s: event loop: %s\n", t->name, strerror(-r));
		goto out;
	}
	status = 0;
out:
	if (vb) {
		vu_backend_disconnect(vb);
		if (served && t->report)
			t->report(dev);
		for (uint16_t q = 0; served && !t->report && q < vu_backend_nr_queues(vb); q++)
			fprintf(stderr, "vireo: %s: queue %u: %llu requests\n", dev->name, q,
				(unsigned long long)vu_backend_queue_requests(vb, q));
		vu_backend_destroy(vb);
	}
	if (x.gpu && served) {
		unsigned long long cursor = vu_gpu_sent(x.gpu, VU_GPU_CURSOR_UPDATE) +
					    vu_gpu_sent(x.gpu, VU_GPU_CURSOR_POS) +
					    vu_gpu_sent(x.gpu, VU_GPU_CURSOR_POS_HIDE);
		fprintf(stderr,
			"vireo: %s: gpu socket: %llu scanouts, %llu updates, %llu cursor "
			"messages\n",
			dev->name, (unsigned long long)vu_gpu_sent(x.gpu, VU_GPU_SCANOUT),
			(unsigned long long)vu_gpu_sent(x.gpu, VU_GPU_UPDATE), cursor);
	}
	vu_gpu_destroy(x.gpu);
	virtio_dev_destroy(dev);
	display_destroy(x.display);
	if (sig.h)
		ev_del(loop, sig.h);
	if (sig.fd >= 0)
		close(sig.fd);
	ev_loop_destroy(loop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return status;
}

int cmd_backend(int argc, char **argv)
{
	struct backend_opts o;
	char err[256] = "";

	int r = parse_args(argc, argv, &o, err, sizeof(err));
	if (r == 1) {
		usage(stdout);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "vireo: %s\n", err);
		return EXIT_USAGE;
	}
	const struct backend_type *t = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(backend_types); i++)
		if (!strcmp(backend_types[i].name, o.type))
			t = &backend_types[i];
	if (!t) {
		fprintf(stderr,
			"vireo: backend: unknown device type '%s' (try vireo backend --help)\n",
			o.type);
		return EXIT_USAGE;
	}
	if (!t->create) {
		fprintf(stderr,
			"vireo: backend %s: not available yet (no %s device in this build)\n",
			t->name, t->name);
		return EXIT_USAGE;
	}
	if (!o.socket) {
		fprintf(stderr, "vireo: backend %s: --socket PATH is required\n", t->name);
		return EXIT_USAGE;
	}
	if (o.disk && strcmp(t->name, "blk") != 0) {
		fprintf(stderr, "vireo: backend %s: --disk applies to blk only\n", t->name);
		return EXIT_USAGE;
	}
	if (o.vsock && strcmp(t->name, "vsock") != 0) {
		fprintf(stderr, "vireo: backend %s: --vsock applies to vsock only\n", t->name);
		return EXIT_USAGE;
	}
	if (o.rate && strcmp(t->name, "rng") != 0) {
		fprintf(stderr, "vireo: backend %s: --rate applies to rng only\n", t->name);
		return EXIT_USAGE;
	}
	if (o.gpu && strcmp(t->name, "gpu") != 0) {
		fprintf(stderr, "vireo: backend %s: --gpu applies to gpu only\n", t->name);
		return EXIT_USAGE;
	}
	if (o.tap && strcmp(t->name, "net") != 0) {
		fprintf(stderr, "vireo: backend %s: --tap applies to net only\n", t->name);
		return EXIT_USAGE;
	}
	if (o.verbose)
		log_set_level(o.verbose > 1 ? LOG_DEBUG : LOG_INFO);
	return serve(t, &o);
}
