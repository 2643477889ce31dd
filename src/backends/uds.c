/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "backends/uds.h"

static int uds_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!path || !*path || strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

int uds_connect(const char *path, int *fd_out)
{
	struct sockaddr_un sa;
	int r = uds_addr(path, &sa);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*fd_out = fd;
	return 0;
}

int uds_check(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int probe, r = uds_addr(path, &sa);
	if (r < 0 || lstat(path, &st) < 0)
		return r;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	r = uds_connect(path, &probe);
	if (r == 0)
		close(probe);
	return r == 0 || r == -EAGAIN ? -EADDRINUSE : 0;
}

int uds_listen(const char *path, int backlog, int *fd_out)
{
	struct sockaddr_un sa;
	struct stat st;
	int r = uds_addr(path, &sa);
	if (r < 0)
		return r;
	if (lstat(path, &st) == 0) {
		int probe;
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		r = uds_connect(path, &probe);
		if (r == 0 || r == -EAGAIN) {
			if (r == 0)
				close(probe);
			return -EADDRINUSE;
		}
		unlink(path); /* a stale socket from an earlier run */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*fd_out = fd;
	return 0;
}
