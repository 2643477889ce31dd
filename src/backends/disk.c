/* SPDX-License-Identifier: MIT */
/* Raw disk images: open + OFD lock + size, and I/O queues (io_uring or synchronous). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif
#include "backends/disk.h"
#include "base/ev_loop.h"

int disk_open(const char *path, bool readonly, bool direct, struct disk **out, char *err,
	      size_t errlen)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
	struct stat st;
	int r;

	int fd = open(path, flags);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "disk %s: %s", path, strerror(-r));
		goto fail;
	}
	uint64_t size;
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			r = -errno;
			snprintf(err, errlen, "disk %s: cannot get size: %s", path, strerror(-r));
			goto fail;
		}
	} else {
		r = -EINVAL;
		snprintf(err, errlen, "disk %s: not a regular file or block device", path);
		goto fail;
	}
	struct flock fl = {
		.l_type = readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		r = -errno;
		if (r == -EAGAIN || r == -EACCES) {
			r = -EBUSY;
			snprintf(err, errlen, "disk %s: already in use by another process", path);
		} else {
			snprintf(err, errlen, "disk %s: cannot lock: %s", path, strerror(-r));
		}
		goto fail;
	}
	struct disk *d = calloc(1, sizeof(*d));
	char *p = strdup(path);
	if (!d || !p) {
		free(d);
		free(p);
		r = -ENOMEM;
		snprintf(err, errlen, "disk %s: out of memory", path);
		goto fail;
	}
	d->fd = fd;
	d->path = p;
	d->readonly = readonly;
	d->direct = direct;
	d->is_blockdev = S_ISBLK(st.st_mode);
	d->size = size;
	*out = d;
	return 0;
fail:
	close(fd);
	return r;
}

void disk_close(struct disk *d)
{
	if (!d)
		return;
	if (d->zero_buf)
		munmap(d->zero_buf, DISK_ZERO_STEP);
	close(d->fd); /* drops the OFD lock */
	free(d->path);
	free(d);
}

/* ---- synchronous I/O ---- */

/* Transfer bytes [skip, len) of the iovec to/from the file at off + skip. */
static int sync_rw(int fd, bool write, const struct iovec *iov, uint32_t nr, uint64_t off,
		   uint64_t len, uint64_t skip)
{
	struct iovec tmp[64];
	uint32_t i = 0;
	uint64_t base = 0;

	/* Find the segment holding byte `skip`. */
	while (i < nr && base + iov[i].iov_len <= skip)
		base += iov[i++].iov_len;
	while (skip < len) {
		uint32_t n = 0;
		uint64_t pos = skip, want = 0;
		uint32_t j = i;
		uint64_t b = base;
		while (j < nr && n < ARRAY_SIZE(tmp) && pos + want < len) {
			uint64_t in = pos + want - b;
			tmp[n].iov_base = (uint8_t *)iov[j].iov_base + in;
			tmp[n].iov_len = MIN(iov[j].iov_len - in, len - pos - want);
			want += tmp[n].iov_len;
			n++;
			b += iov[j].iov_len;
			j++;
		}
		if (n == 0)
			return -EIO;
		ssize_t r = write ? pwritev(fd, tmp, (int)n, (off_t)(off + skip))
				  : preadv(fd, tmp, (int)n, (off_t)(off + skip));
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* EOF or no progress */
		skip += (uint64_t)r;
		while (i < nr && base + iov[i].iov_len <= skip)
			base += iov[i++].iov_len;
	}
	return 0;
}

/* O_DIRECT with guest buffers that are not aligned: go through an aligned bounce buffer. */
static int bounce_rw(int fd, bool write, const struct iovec *iov, uint32_t nr, uint64_t off,
		     uint64_t len)
{
	void *buf;
	if (posix_memalign(&buf, 4096, len ? len : 1))
		return -ENOMEM;
	struct iovec one = {buf, len};
	int r = 0;
	if (write) {
		uint64_t p = 0;
		for (uint32_t i = 0; i < nr && p < len; i++) {
			size_t k = MIN(iov[i].iov_len, len - p);
			memcpy((uint8_t *)buf + p, iov[i].iov_base, k);
			p += k;
		}
		r = sync_rw(fd, true, &one, 1, off, len, 0);
	} else {
		r = sync_rw(fd, false, &one, 1, off, len, 0);
		uint64_t p = 0;
		for (uint32_t i = 0; r == 0 && i < nr && p < len; i++) {
			size_t k = MIN(iov[i].iov_len, len - p);
			memcpy(iov[i].iov_base, (uint8_t *)buf + p, k);
			p += k;
		}
	}
	free(buf);
	return r;
}

static int rw_rest(struct disk *d, struct disk_io *io, uint64_t skip)
{
	bool w = io->op == DISK_WRITE;
	int r = sync_rw(d->fd, w, io->iov, io->nr_iov, io->off, io->len, skip);
	if (r == -EINVAL && d->direct)
		r = bounce_rw(d->fd, w, io->iov, io->nr_iov, io->off, io->len);
	return r;
}

/* DISK_ZERO_STEP bytes of zeroes to write from: a read-only anonymous mapping (the kernel's
 * zero page, no memory used), aligned for O_DIRECT. */
static const void *zero_buf(struct disk *d)
{
	if (!d->zero_buf) {
		void *p = mmap(NULL, DISK_ZERO_STEP, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		d->zero_buf = p;
	}
	return d->zero_buf;
}

/* Write one step (at most DISK_ZERO_STEP bytes of len) of zeroes at off. 0 or -errno. */
static int zero_step_sync(struct disk *d, uint64_t off, uint64_t len)
{
	const void *z = zero_buf(d);
	if (!z)
		return -ENOMEM;
	struct iovec iov = {(void *)(uintptr_t)z, (size_t)MIN(len, (uint64_t)DISK_ZERO_STEP)};
	int r = sync_rw(d->fd, true, &iov, 1, off, iov.iov_len, 0);
	if (r == -EINVAL && d->direct)
		r = bounce_rw(d->fd, true, &iov, 1, off, iov.iov_len);
	return r;
}

/* The fallocate mode for io, or 0 when the file system is known to refuse it. */
static int dwz_mode(const struct disk *d, const struct disk_io *io)
{
	bool punch = io->op == DISK_DISCARD || io->unmap;
	if (punch)
		return d->no_punch_hole ? 0 : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	return d->no_zero_range ? 0 : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
}

/* A fallocate for io ended with res. Returns 1 when write-zeroes must be written by hand,
 * else the final result (0 or -errno). */
static int dwz_result(struct disk *d, const struct disk_io *io, int mode, int res)
{
	bool unsupported = res == -EOPNOTSUPP || res == -ENOTSUP ||
			   (io->op == DISK_WRITE_ZEROES && res == -EINVAL);
	if (mode && unsupported) {
		if (mode & FALLOC_FL_PUNCH_HOLE)
			d->no_punch_hole = true;
		else
			d->no_zero_range = true;
	}
	if (res == 0 || (mode && !unsupported))
		return res;
	/* Discard is a hint: nothing to do where holes are unsupported. */
	return io->op == DISK_DISCARD ? 0 : 1;
}

int disk_exec_sync(struct disk *d, struct disk_io *io)
{
	switch (io->op) {
	case DISK_READ:
	case DISK_WRITE:
		return rw_rest(d, io, 0);
	case DISK_FLUSH:
		return fdatasync(d->fd) < 0 ? -errno : 0;
	case DISK_DISCARD:
	case DISK_WRITE_ZEROES: {
		int mode = dwz_mode(d, io), r = -EOPNOTSUPP;
		if (mode)
			r = fallocate(d->fd, mode, (off_t)io->off, (off_t)io->len) < 0 ? -errno : 0;
		r = dwz_result(d, io, mode, r);
		for (uint64_t done = 0; r == 1 && done < io->len; done += DISK_ZERO_STEP) {
			int e = zero_step_sync(d, io->off + done, io->len - done);
			if (e < 0)
				return e;
		}
		return r == 1 ? 0 : r;
	}
	}
	return -EINVAL;
}

/* ---- queues ---- */

struct disk_queue {
	struct disk *d;
	bool async;
	unsigned depth;
	unsigned inflight;
	bool abort;
	disk_ready_fn ready;
	void *opaque;
	struct ev_loop *loop;
#ifdef HAVE_LIBURING
	struct io_uring ring;
	int efd;
	struct ev_handler *h;
#endif
};

#ifdef HAVE_LIBURING
static void efd_cb(void *opaque, uint32_t events)
{
	struct disk_queue *q = opaque;
	uint64_t v;
	if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	q->ready(q->opaque);
}

static int uring_setup(struct disk_queue *q)
{
	int r = io_uring_queue_init(q->depth, &q->ring, 0);
	if (r < 0)
		return r;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		r = -errno;
		io_uring_queue_exit(&q->ring);
		return r;
	}
	r = io_uring_register_eventfd(&q->ring, q->efd);
	if (r == 0)
		r = ev_add(q->loop, q->efd, 0x001 /* EPOLLIN */, efd_cb, q, &q->h);
	if (r < 0) {
		close(q->efd);
		io_uring_queue_exit(&q->ring);
		return r;
	}
	return 0;
}
#endif

int disk_queue_create(struct disk *d, struct ev_loop *loop, unsigned depth, bool force_sync,
		      disk_ready_fn ready, void *opaque, struct disk_queue **out)
{
	struct disk_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->d = d;
	q->depth = depth ? depth : 1;
	q->ready = ready;
	q->opaque = opaque;
	q->loop = loop;
#ifdef HAVE_LIBURING
	q->efd = -1;
	if (loop && !force_sync) {
		int r = uring_setup(q);
		if (r == 0)
			q->async = true;
		else if (r != -ENOSYS && r != -EPERM && r != -EACCES && r != -EINVAL &&
			 r != -ENOMEM) {
			free(q);
			return r;
		}
		/* else: io_uring unavailable here, run synchronously. */
	}
#endif
	*out = q;
	return 0;
}

bool disk_queue_is_async(const struct disk_queue *q)
{
	return q->async;
}

unsigned disk_queue_inflight(const struct disk_queue *q)
{
	return q->inflight;
}

void disk_queue_abort(struct disk_queue *q, bool on)
{
	q->abort = on;
}

void disk_queue_destroy(struct disk_queue *q)
{
	if (!q)
		return;
	disk_queue_drain(q);
#ifdef HAVE_LIBURING
	if (q->async) {
		ev_del(q->loop, q->h);
		io_uring_queue_exit(&q->ring);
		close(q->efd);
	}
#endif
	free(q);
}

static void finish(struct disk_queue *q, struct disk_io *io, int res)
{
	io->done(io, res);
}

#ifdef HAVE_LIBURING
static struct io_uring_sqe *get_sqe(struct disk_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	if (!sqe) {
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

/* Prepare the SQE for io's next step (the whole request for all but write-zeroes by hand).
 * false when no SQE could be had or the zero buffer cannot be mapped. */
static bool prep(struct disk_queue *q, struct disk_io *io)
{
	struct disk *d = q->d;
	const void *z = NULL;
	if (io->by_hand_ && !(z = zero_buf(d)))
		return false;
	struct io_uring_sqe *sqe = get_sqe(q);
	if (!sqe)
		return false;
	switch (io->op) {
	case DISK_READ:
		/* One segment: the plain (non-vectored) opcodes skip the iovec import. */
		if (io->nr_iov == 1)
			io_uring_prep_read(sqe, d->fd, io->iov[0].iov_base,
					   (unsigned)io->iov[0].iov_len, io->off);
		else
			io_uring_prep_readv(sqe, d->fd, io->iov, io->nr_iov, io->off);
		break;
	case DISK_WRITE:
		if (io->nr_iov == 1)
			io_uring_prep_write(sqe, d->fd, io->iov[0].iov_base,
					    (unsigned)io->iov[0].iov_len, io->off);
		else
			io_uring_prep_writev(sqe, d->fd, io->iov, io->nr_iov, io->off);
		break;
	case DISK_FLUSH:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	case DISK_DISCARD:
	case DISK_WRITE_ZEROES:
		if (io->by_hand_) {
			uint64_t n = MIN(io->len - io->done_, (uint64_t)DISK_ZERO_STEP);
			io_uring_prep_write(sqe, d->fd, z, (unsigned)n, io->off + io->done_);
		} else {
			/* dwz_mode() != 0 here: see disk_submit */
			io->mode_ = dwz_mode(d, io);
			io_uring_prep_fallocate(sqe, d->fd, io->mode_, (off_t)io->off,
						(off_t)io->len);
		}
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	return true;
}
#endif

int disk_submit(struct disk_queue *q, struct disk_io *io)
{
	io->by_hand_ = false;
	io->done_ = 0;
#ifdef HAVE_LIBURING
	if (q->async && q->inflight < q->depth) {
		if ((io->op == DISK_DISCARD || io->op == DISK_WRITE_ZEROES) && !dwz_mode(q->d, io)) {
			if (io->op == DISK_DISCARD) {
				finish(q, io, 0); /* a hint the file system cannot take */
				return 0;
			}
			io->by_hand_ = true;
		}
		if (prep(q, io)) {
			q->inflight++;
			return 0;
		}
	}
#endif
	finish(q, io, disk_exec_sync(q->d, io));
	return 0;
}

void disk_queue_flush(struct disk_queue *q)
{
#ifdef HAVE_LIBURING
	if (q->async && io_uring_sq_ready(&q->ring))
		io_uring_submit(&q->ring);
#else
	(void)q;
#endif
}

#ifdef HAVE_LIBURING
/* Completion of one step of discard / write-zeroes. Returns the final result, or 1 when the
 * next step was queued (the request stays in flight). */
static int dwz_cqe(struct disk_queue *q, struct disk_io *io, int res)
{
	struct disk *d = q->d;
	if (!io->by_hand_) {
		int r = dwz_result(d, io, io->mode_, res);
		if (r != 1)
			return r;
		io->by_hand_ = true;
	} else if (res == -EAGAIN || res == -EINTR) {
		/* the same step again */
	} else if (res == -EINVAL && d->direct) {
		uint64_t n = MIN(io->len - io->done_, (uint64_t)DISK_ZERO_STEP);
		int r = zero_step_sync(d, io->off + io->done_, n); /* unaligned for O_DIRECT */
		if (r < 0)
			return r;
		io->done_ += n;
	} else if (res <= 0) {
		return res < 0 ? res : -EIO;
	} else {
		io->done_ += (uint64_t)res;
	}
	if (io->done_ >= io->len)
		return 0;
	if (q->abort)
		return -ECANCELED;
	return prep(q, io) ? 1 : -EAGAIN;
}

static void complete_cqe(struct disk_queue *q, struct disk_io *io, int res)
{
	if (io->op == DISK_DISCARD || io->op == DISK_WRITE_ZEROES) {
		int r = dwz_cqe(q, io, res);
		if (r == 1)
			return; /* next step queued, still in flight */
		q->inflight--;
		finish(q, io, r);
		return;
	}
	q->inflight--;
	if (io->op == DISK_FLUSH) {
		finish(q, io, res < 0 ? res : 0);
		return;
	}
	if (res == -EAGAIN || res == -EINTR || (res == -EINVAL && q->d->direct)) {
		finish(q, io, rw_rest(q->d, io, 0));
		return;
	}
	if (res < 0) {
		finish(q, io, res);
		return;
	}
	if ((uint64_t)res < io->len) {
		/* Short transfer: finish the rest synchronously (rare). */
		finish(q, io, res == 0 ? -EIO : rw_rest(q->d, io, (uint64_t)res));
		return;
	}
	finish(q, io, 0);
}
#endif

unsigned disk_queue_reap(struct disk_queue *q)
{
	unsigned n = 0;
#ifdef HAVE_LIBURING
	struct io_uring_cqe *cqe;
	if (!q->async)
		return 0;
	while (q->inflight && io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		struct disk_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		complete_cqe(q, io, res);
		n++;
	}
	disk_queue_flush(q); /* next steps of multi-step requests, resubmissions from done */
#else
	(void)q;
#endif
	return n;
}

void disk_queue_drain(struct disk_queue *q)
{
#ifdef HAVE_LIBURING
	if (!q->async)
		return;
	disk_queue_flush(q);
	while (q->inflight) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&q->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break; /* cannot happen with a live ring; avoid spinning */
		disk_queue_reap(q);
	}
#else
	(void)q;
#endif
}
