/* SPDX-License-Identifier: MIT */
/*
 * Raw disk images (regular files or block devices) for block devices.
 *
 * disk_open() opens with O_CLOEXEC (+O_DIRECT), takes an OFD lock on the whole image (write
 * lock for read-write, read lock for read-only) so two VMs cannot use one image writable at
 * once, and sizes it (st_size or BLKGETSIZE64).
 *
 * I/O goes through a disk_queue: one per virtqueue. With liburing compiled in and an event
 * loop given, each disk_queue owns an io_uring whose completion eventfd is watched by the
 * loop; otherwise (no loop, io_uring not compiled in, or io_uring_queue_init failing with
 * ENOSYS/EPERM/...) the queue is synchronous: disk_submit() does the preadv/pwritev/fdatasync/
 * fallocate itself and calls io->done before it returns.
 *
 * Discard is fallocate(PUNCH_HOLE | KEEP_SIZE), a hint: where holes are unsupported it does
 * nothing. Write-zeroes is fallocate(ZERO_RANGE | KEEP_SIZE) (PUNCH_HOLE | KEEP_SIZE with
 * unmap); where the filesystem supports neither, zeroes are written by hand in steps of
 * DISK_ZERO_STEP bytes, one step in flight per request, so a long range never holds up the
 * loop. On an async queue all of that goes through io_uring (IORING_OP_FALLOCATE runs on the
 * kernel's io-wq workers).
 *
 * All disk_queue functions run on one thread (the loop thread) under the caller's lock.
 */
#ifndef VIREO_BACKENDS_DISK_H
#define VIREO_BACKENDS_DISK_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>
#include "base/util.h"

struct ev_loop;

struct disk {
	int fd;
	char *path;
	bool readonly;
	bool direct;
	bool is_blockdev;
	uint64_t size; /* bytes */
	/* Learnt on first use (loop thread): the file system refuses these fallocate modes. */
	bool no_zero_range;
	bool no_punch_hole;
	void *zero_buf; /* DISK_ZERO_STEP read-only zero bytes, mapped on first need */
};

#define DISK_ZERO_STEP (1u << 20)

/* On error: -errno and a one-line reason in err ("disk PATH: already in use by another
 * process", "disk PATH: No such file or directory", ...). */
int disk_open(const char *path, bool readonly, bool direct, struct disk **out, char *err,
	      size_t errlen) WUR;
void disk_close(struct disk *d);

enum disk_op { DISK_READ = 0, DISK_WRITE, DISK_FLUSH, DISK_DISCARD, DISK_WRITE_ZEROES };

/* One request, embedded in the caller's request struct (container_of in done). */
struct disk_io {
	enum disk_op op;
	uint64_t off;             /* bytes */
	uint64_t len;             /* bytes (READ/WRITE: sum of iov; DISCARD/WRITE_ZEROES: range) */
	const struct iovec *iov;  /* READ/WRITE; must stay valid until done */
	uint32_t nr_iov;
	bool unmap;               /* WRITE_ZEROES: a hole is fine */
	/* res: 0 when all of len was transferred/applied, else -errno (-EIO for short I/O,
	 * -ECANCELED for a multi-step request stopped by disk_queue_abort). */
	void (*done)(struct disk_io *io, int res);
	/* private */
	bool by_hand_;  /* WRITE_ZEROES written as zero buffers */
	int mode_;      /* the fallocate mode submitted */
	uint64_t done_; /* bytes finished so far (by hand) */
};

struct disk_queue;
/* Called from the loop when completions are pending: call disk_queue_reap() (under your
 * lock). */
typedef void (*disk_ready_fn)(void *opaque);

/* depth: max requests in flight. loop NULL or force_sync: synchronous queue. */
int disk_queue_create(struct disk *d, struct ev_loop *loop, unsigned depth, bool force_sync,
		      disk_ready_fn ready, void *opaque, struct disk_queue **out) WUR;
/* Drains in-flight I/O (done is called for each) and frees. NULL-safe. */
void disk_queue_destroy(struct disk_queue *q);
bool disk_queue_is_async(const struct disk_queue *q);
/* Queue io. Async: prepared now, sent at the next disk_queue_flush() (or when the submission
 * ring fills); done runs later from disk_queue_reap(). Sync: done has run on return.
 * Returns 0 (done will be / was called) or -errno (done will not be called). */
int disk_submit(struct disk_queue *q, struct disk_io *io) WUR;
/* Send prepared requests to the kernel. */
void disk_queue_flush(struct disk_queue *q);
/* Complete whatever has finished; returns the number of done callbacks run. */
unsigned disk_queue_reap(struct disk_queue *q);
/* Wait until every in-flight request has completed (done called for each). Blocks: for
 * teardown and the vhost-user back-end's GET_VRING_BASE, on the loop thread. */
void disk_queue_drain(struct disk_queue *q);
unsigned disk_queue_inflight(const struct disk_queue *q);
/* While on, multi-step requests (write-zeroes written by hand) end at their next step with
 * -ECANCELED instead of going on (a device reset does not wait for all of them). */
void disk_queue_abort(struct disk_queue *q, bool on);
/* Run io synchronously on the calling thread (io->done is not called). 0 or -errno. */
int disk_exec_sync(struct disk *d, struct disk_io *io) WUR;

#endif
