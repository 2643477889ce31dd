/* SPDX-License-Identifier: MIT */
/* The runtime directory: named VMs, their locks and API sockets. See runtime.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "api/runtime.h"
#include "config/cli.h"

int rt_dir(char *out, size_t len, bool create, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (xdg && *xdg)
		n = snprintf(out, len, "%s/vireo", xdg);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/run/vireo");
	else {
		snprintf(err, errlen,
			 "runtime directory: XDG_RUNTIME_DIR is not set "
			 "(set it, or give --api-socket)");
		return -ENOENT;
	}
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "runtime directory: $XDG_RUNTIME_DIR is too long");
		return -ENAMETOOLONG;
	}
	if (create && mkdir(out, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "runtime directory %s: %s", out, strerror(e));
		return -e;
	}
	return 0;
}

/* "PID\nSOCKET\n" from an entry's lock file. */
static bool read_entry(int fd, struct rt_entry *e)
{
	char buf[RT_PATH_MAX + 32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	char *nl;

	if (n <= 0)
		return false;
	buf[n] = '\0';
	pid = strtol(buf, &nl, 10);
	if (pid <= 0 || *nl != '\n')
		return false;
	char *sock = nl + 1, *end = strchr(sock, '\n');
	if (!end || end == sock || (size_t)(end - sock) >= sizeof(e->sock))
		return false;
	*end = '\0';
	e->pid = (pid_t)pid;
	memcpy(e->sock, sock, (size_t)(end - sock) + 1);
	return true;
}

int rt_lock_name(const char *name, const char *sock, struct rt_lock *l, char *err, size_t errlen)
{
	char dir[256];
	int r;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if ((r = cli_check_name(name, err, errlen)) < 0)
		return r;
	if ((r = rt_dir(dir, sizeof(dir), true, err, errlen)) < 0)
		return r;
	snprintf(l->lock_path, sizeof(l->lock_path), "%s/%s.lock", dir, name);
	if (sock)
		r = snprintf(l->sock, sizeof(l->sock), "%s", sock);
	else
		r = snprintf(l->sock, sizeof(l->sock), "%s/%s.sock", dir, name);
	if (r < 0 || (size_t)r >= sizeof(l->sock)) {
		snprintf(err, errlen, "api socket for '%s': path longer than %zu bytes", name,
			 sizeof(l->sock) - 1);
		return -ENAMETOOLONG;
	}
	/* An `ls` may remove a dead entry between our open and flock: retry on a new inode. */
	for (int tries = 0; tries < 5; tries++) {
		struct stat a, b;
		int fd = open(l->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			snprintf(err, errlen, "%s: %s", l->lock_path, strerror(errno));
			return -errno;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			struct rt_entry e;
			int e_no = errno;
			bool known = read_entry(fd, &e);
			close(fd);
			if (e_no != EWOULDBLOCK) {
				snprintf(err, errlen, "%s: %s", l->lock_path, strerror(e_no));
				return -e_no;
			}
			if (known)
				snprintf(err, errlen, "name '%s' is in use (pid %d)", name,
					 (int)e.pid);
			else
				snprintf(err, errlen, "name '%s' is in use", name);
			return -EBUSY;
		}
		if (fstat(fd, &a) == 0 && stat(l->lock_path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			char buf[RT_PATH_MAX + 32];
			int n = snprintf(buf, sizeof(buf), "%d\n%s\n", (int)getpid(), l->sock);
			if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
				int e = errno;
				snprintf(err, errlen, "%s: %s", l->lock_path, strerror(e));
				unlink(l->lock_path);
				close(fd);
				return -e;
			}
			l->fd = fd;
			return 0;
		}
		close(fd);
	}
	snprintf(err, errlen, "%s: keeps being replaced", l->lock_path);
	return -EAGAIN;
}

void rt_unlock(struct rt_lock *l)
{
	if (!l || l->fd < 0)
		return;
	unlink(l->lock_path); /* while holding the lock */
	close(l->fd);
	l->fd = -1;
}

static bool is_socket(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct rt_entry *)a)->name, ((const struct rt_entry *)b)->name);
}

int rt_list(struct rt_entry **out, size_t *nout, char *err, size_t errlen)
{
	char dir[256], path[512];
	struct rt_entry *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int r;

	*out = NULL;
	*nout = 0;
	if ((r = rt_dir(dir, sizeof(dir), false, err, errlen)) < 0)
		return r;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char name[RT_NAME_MAX + 1];
		if (len <= 5 || len - 5 > RT_NAME_MAX || strcmp(de->d_name + len - 5, ".lock"))
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		struct rt_entry e;
		memset(&e, 0, sizeof(e));
		bool known = read_entry(fd, &e);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* Nobody holds it: the VM died. Remove its socket and the entry. */
			char sock[sizeof(dir) + RT_NAME_MAX + 8];
			snprintf(sock, sizeof(sock), "%s/%s.sock", dir, name);
			if (is_socket(sock))
				unlink(sock);
			if (known && strcmp(e.sock, sock) && is_socket(e.sock))
				unlink(e.sock);
			unlink(path);
			close(fd);
			continue;
		}
		close(fd);
		if (!known)
			continue; /* starting: not written yet */
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct rt_entry *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			v = nv;
		}
		memcpy(e.name, name, len - 4);
		v[n++] = e;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_entry);
	*out = v;
	*nout = n;
	return 0;
}

int rt_resolve(const char *name, char *sock, size_t len, char *err, size_t errlen)
{
	char dir[256], path[512];
	struct rt_entry e;
	int r, fd;

	if (strchr(name, '/')) {
		if (strlen(name) >= len) {
			snprintf(err, errlen, "%s: path too long", name);
			return -ENAMETOOLONG;
		}
		memcpy(sock, name, strlen(name) + 1);
		return 0;
	}
	if ((r = cli_check_name(name, err, errlen)) < 0)
		return r;
	if ((r = rt_dir(dir, sizeof(dir), false, err, errlen)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s.lock", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0 || !read_entry(fd, &e)) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "no VM named '%s' (vireo ls lists them)", name);
		return -ENOENT;
	}
	close(fd);
	if (strlen(e.sock) >= len) {
		snprintf(err, errlen, "%s: socket path too long", name);
		return -ENAMETOOLONG;
	}
	memcpy(sock, e.sock, strlen(e.sock) + 1);
	return 0;
}
