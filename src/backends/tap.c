/* SPDX-License-Identifier: MIT */
/* TAP devices as a net_port (see tap.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include "backends/tap.h"

#define TUN_PATH "/dev/net/tun"

struct tap {
	struct net_port port; /* first */
	char ifname[IFNAMSIZ];
	bool created;
	bool mq;
	bool attached[NET_PORT_MAX_QUEUES];
};

static struct tap *to_tap(struct net_port *p)
{
	return (struct tap *)p;
}

bool tap_created(const struct net_port *p)
{
	return ((const struct tap *)p)->created;
}

/* An fd of an attached queue: device-wide ioctls fail on a detached one (EBADFD). */
static int tap_any_fd(struct tap *t)
{
	for (unsigned i = 0; i < t->port.nr_queues; i++)
		if (t->attached[i])
			return t->port.fd[i];
	return -1;
}

static int tap_set_offload(struct net_port *p, unsigned flags)
{
	int fd = tap_any_fd(to_tap(p));
	if (fd < 0)
		return -EBADFD;
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

static int tap_set_queue_enabled(struct net_port *p, unsigned q, bool on)
{
	struct tap *t = to_tap(p);
	struct ifreq ifr;

	if (q >= p->nr_queues)
		return -EINVAL;
	if (!t->mq || t->attached[q] == on)
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(p->fd[q], TUNSETQUEUE, &ifr) < 0)
		return -errno;
	t->attached[q] = on;
	return 0;
}

static void tap_destroy(struct net_port *p)
{
	for (unsigned i = 0; i < p->nr_queues; i++)
		if (p->fd[i] >= 0)
			close(p->fd[i]);
	free(to_tap(p));
}

static const struct net_port_ops tap_ops = {
    .set_offload = tap_set_offload,
    .set_queue_enabled = tap_set_queue_enabled,
    .destroy = tap_destroy,
};

/* /sys/class/net/NAME/tun_flags of an existing TUN/TAP, or -ENOENT (no such interface),
 * -ENOTTY (an interface, but not a TUN/TAP). */
static int tun_flags_of(const char *name, unsigned *flags)
{
	char path[64], buf[32];
	snprintf(path, sizeof(path), "/sys/class/net/%s", name);
	if (access(path, F_OK) < 0)
		return if_nametoindex(name) ? -ENOTTY : -ENOENT;
	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	FILE *f = fopen(path, "re");
	if (!f)
		return -ENOTTY;
	bool ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -ENOTTY;
	*flags = (unsigned)strtoul(buf, NULL, 0);
	return 0;
}

/* Another process with a queue of TAP `name` open: its pid (0 if none). The kernel refuses a
 * second opener of a single-queue TAP itself (EBUSY), but would hand a multi-queue TAP out
 * to two VMMs at once; /proc/PID/fdinfo names the interface of every tun fd ("iff:"). */
static long tap_user(const char *name, char *comm, size_t commlen)
{
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	char want[IFNAMSIZ + 8];
	long self = (long)getpid(), found = 0;

	if (!proc)
		return 0;
	snprintf(want, sizeof(want), "iff:\t%s\n", name);
	while (!found && (pe = readdir(proc))) {
		if (!isdigit((unsigned char)pe->d_name[0]))
			continue;
		long pid = strtol(pe->d_name, NULL, 10);
		if (pid == self)
			continue;
		char dpath[64];
		snprintf(dpath, sizeof(dpath), "/proc/%ld/fdinfo", pid);
		DIR *fdd = opendir(dpath);
		if (!fdd)
			continue;
		struct dirent *fe;
		while (!found && (fe = readdir(fdd))) {
			char fpath[352], buf[512];
			if (fe->d_name[0] == '.')
				continue;
			snprintf(fpath, sizeof(fpath), "%s/%s", dpath, fe->d_name);
			int fd = open(fpath, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0) {
				buf[n] = '\0';
				if (strstr(buf, want))
					found = pid;
			}
		}
		closedir(fdd);
	}
	closedir(proc);
	if (found) {
		char cpath[64];
		snprintf(cpath, sizeof(cpath), "/proc/%ld/comm", found);
		FILE *f = fopen(cpath, "re");
		comm[0] = '\0';
		if (f) {
			if (fgets(comm, (int)commlen, f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
	}
	return found;
}

static int set_mtu(const char *name, unsigned mtu)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = (int)mtu;
	int r = ioctl(s, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
	close(s);
	return r;
}

int tap_open(const char *name, unsigned queues, unsigned mtu, struct net_port **out, char *err,
	     size_t errlen)
{
	unsigned flags = 0, features = 0;
	bool exists;
	char comm[32];
	int r;

	if (!name || !*name || strlen(name) >= IFNAMSIZ || strchr(name, '/') || strchr(name, '%')) {
		snprintf(err, errlen, "tap '%s': not a valid interface name (1..%d characters)",
			 name ? name : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (queues < 1 || queues > NET_PORT_MAX_QUEUES) {
		snprintf(err, errlen, "tap %s: queues must be 1..%d", name, NET_PORT_MAX_QUEUES);
		return -EINVAL;
	}
	r = tun_flags_of(name, &flags);
	exists = r == 0;
	if (r == -ENOTTY) {
		snprintf(err, errlen, "tap %s: an interface of that name exists and is not a TAP",
			 name);
		return -EEXIST;
	}
	if (exists && !(flags & IFF_TAP)) {
		snprintf(err, errlen, "tap %s: exists as a TUN (layer 3) device, not a TAP", name);
		return -EEXIST;
	}
	if (exists && queues > 1 && !(flags & IFF_MULTI_QUEUE)) {
		snprintf(err, errlen,
			 "tap %s: single-queue TAP cannot serve queues=%u (create it with "
			 "multi_queue)",
			 name, queues);
		return -EINVAL;
	}
	if (exists) {
		long pid = tap_user(name, comm, sizeof(comm));
		if (pid) {
			snprintf(err, errlen, "tap %s: in use by process %ld (%s)", name, pid,
				 comm[0] ? comm : "?");
			return -EBUSY;
		}
	}
	struct tap *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "tap %s: out of memory", name);
		return -ENOMEM;
	}
	t->port.ops = &tap_ops;
	snprintf(t->port.name, sizeof(t->port.name), "tap %s", name);
	snprintf(t->ifname, sizeof(t->ifname), "%s", name);
	t->mq = queues > 1 || (exists && (flags & IFF_MULTI_QUEUE));
	for (unsigned i = 0; i < NET_PORT_MAX_QUEUES; i++)
		t->port.fd[i] = -1;
	for (unsigned i = 0; i < queues; i++) {
		int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			snprintf(err, errlen, "tap %s: %s: %s%s", name, TUN_PATH, strerror(errno),
				 errno == ENOENT ? " (tun module not loaded?)" : "");
			goto fail;
		}
		t->port.fd[i] = fd;
		t->port.nr_queues = i + 1;
		if (i == 0) {
			if (ioctl(fd, TUNGETFEATURES, &features) < 0) {
				r = -errno;
				snprintf(err, errlen, "tap %s: TUNGETFEATURES: %s", name,
					 strerror(errno));
				goto fail;
			}
			unsigned need =
			    IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (t->mq ? IFF_MULTI_QUEUE : 0);
			if ((features & need) != need) {
				r = -ENOTSUP;
				snprintf(err, errlen,
					 "tap %s: the kernel's tun lacks IFF_VNET_HDR%s", name,
					 t->mq ? " or IFF_MULTI_QUEUE" : "");
				goto fail;
			}
		}
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		ifr.ifr_flags =
		    (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (t->mq ? IFF_MULTI_QUEUE : 0));
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			r = -errno;
			if (errno == EBUSY)
				snprintf(err, errlen, "tap %s: in use by another process", name);
			else if (errno == EPERM)
				snprintf(err, errlen,
					 "tap %s: TUNSETIFF: Operation not permitted (needs "
					 "CAP_NET_ADMIN)",
					 name);
			else
				snprintf(err, errlen, "tap %s: TUNSETIFF: %s", name,
					 strerror(errno));
			goto fail;
		}
		t->attached[i] = true;
		if (i == 0)
			t->created = !exists;
		int hdr = (int)sizeof(struct virtio_net_hdr_v1);
		if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
			r = -errno;
			snprintf(err, errlen, "tap %s: vnet header setup: %s", name,
				 strerror(errno));
			goto fail;
		}
	}
	if (mtu && (r = set_mtu(name, mtu)) < 0) {
		snprintf(err, errlen, "tap %s: setting MTU %u: %s", name, mtu, strerror(-r));
		goto fail;
	}
	*out = &t->port;
	return 0;
fail:
	tap_destroy(&t->port);
	return r;
}
