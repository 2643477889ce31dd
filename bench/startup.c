/* SPDX-License-Identifier: MIT */
/*
 * Startup benchmark: runs a command N times and measures, per run, the wall time from just
 * before exec to the first byte on its stdout (the guest's first serial byte), the time to the
 * first KVM_RUN when the VMM reports it (vireo with VIREO_STARTUP_T0), the whole run, and the
 * peak RSS (ru_maxrss) plus, sampled at the first byte, RssAnon+RssFile (VMM memory without
 * the shared-memory guest RAM). Prints min/median/p90/max for each. With BENCH_MARKER=STR in the
 * environment it also measures exec to the first occurrence of STR on stdout (e.g. a line the
 * guest's /init prints: boot to init).
 *
 *   startup N NAME -- CMD ARGS...
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, const char *what, double *v, int n, const char *unit)
{
	if (n == 0) {
		printf("%-8s %-28s n/a\n", name, what);
		return;
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	printf("%-8s %-28s min %8.2f  median %8.2f  p90 %8.2f  max %8.2f %s  (n=%d)\n", name, what,
	       v[0], v[n / 2], v[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1], v[n - 1], unit, n);
}

/* RssAnon + RssFile in KiB from /proc/PID/status, -1 if unavailable. */
static long rss_no_shmem_kib(pid_t pid)
{
	char path[64], line[256];
	long anon = -1, file = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "RssAnon: %ld kB", &anon);
		sscanf(line, "RssFile: %ld kB", &file);
	}
	fclose(f);
	return anon < 0 || file < 0 ? -1 : anon + file;
}

int main(int argc, char **argv)
{
	if (argc < 5 || strcmp(argv[3], "--")) {
		fprintf(stderr, "usage: startup N NAME -- CMD ARGS...\n");
		return 2;
	}
	int n = atoi(argv[1]);
	const char *name = argv[2];
	char **cmd = argv + 4;
	double *first_byte = calloc((size_t)n, sizeof(double));
	double *first_run = calloc((size_t)n, sizeof(double));
	double *total = calloc((size_t)n, sizeof(double));
	double *maxrss = calloc((size_t)n, sizeof(double));
	double *rss = calloc((size_t)n, sizeof(double));
	double *marked = calloc((size_t)n, sizeof(double));
	int nfb = 0, nfr = 0, nt = 0, nrss = 0, nm = 0, failures = 0;
	const char *marker = getenv("BENCH_MARKER");
	size_t mlen = marker ? strlen(marker) : 0;
	if (mlen == 0 || mlen > 1024)
		marker = NULL;

	for (int i = 0; i < n; i++) {
		int out[2], err[2];
		if (pipe(out) || pipe(err))
			return 1;
		char t0s[32];
		unsigned long long t0 = now_ns();
		snprintf(t0s, sizeof(t0s), "%llu", t0);
		pid_t pid = fork();
		if (pid == 0) {
			int nul = open("/dev/null", O_RDONLY);
			dup2(nul, 0);
			dup2(out[1], 1);
			dup2(err[1], 2);
			close(out[0]);
			close(err[0]);
			setenv("VIREO_STARTUP_T0", t0s, 1);
			execvp(cmd[0], cmd);
			_exit(127);
		}
		close(out[1]);
		close(err[1]);
		char buf[4096];
		ssize_t got = read(out[0], buf, 1);
		unsigned long long tfb = now_ns();
		if (got == 1) {
			first_byte[nfb++] = (double)(tfb - t0) / 1e6;
			long r = rss_no_shmem_kib(pid);
			if (r > 0)
				rss[nrss++] = (double)r / 1024.0;
		}
		/* stdout: look for the marker across reads (keep its length less one byte) */
		char win[2048 + 4096];
		size_t wlen = got == 1 ? 1 : 0;
		bool seen = false;
		if (got == 1)
			win[0] = buf[0];
		for (;;) {
			if (marker && !seen && memmem(win, wlen, marker, mlen)) {
				marked[nm++] = (double)(now_ns() - t0) / 1e6;
				seen = true;
			}
			if (wlen >= mlen) {
				memmove(win, win + wlen - (mlen ? mlen - 1 : 0),
					mlen ? mlen - 1 : 0);
				wlen = mlen ? mlen - 1 : 0;
			}
			ssize_t r = read(out[0], win + wlen, 4096);
			if (r <= 0)
				break;
			wlen += (size_t)r;
		}
		if (marker && !seen)
			failures++;
		char ebuf[8192];
		size_t elen = 0;
		ssize_t k;
		while ((k = read(err[0], ebuf + elen, sizeof(ebuf) - 1 - elen)) > 0)
			elen += (size_t)k;
		ebuf[elen] = 0;
		int st;
		struct rusage ru;
		wait4(pid, &st, 0, &ru);
		unsigned long long tend = now_ns();
		total[nt++] = (double)(tend - t0) / 1e6;
		maxrss[i] = (double)ru.ru_maxrss / 1024.0;
		char *p = strstr(ebuf, "first KVM_RUN at +");
		if (p)
			first_run[nfr++] = strtod(p + strlen("first KVM_RUN at +"), NULL) / 1000.0;
		if (!WIFEXITED(st) || got != 1)
			failures++;
		close(out[0]);
		close(err[0]);
	}
	report(name, "exec -> first KVM_RUN", first_run, nfr, "ms");
	report(name, "exec -> first serial byte", first_byte, nfb, "ms");
	if (marker)
		report(name, "exec -> marker on stdout", marked, nm, "ms");
	report(name, "exec -> exit", total, nt, "ms");
	report(name, "peak RSS (ru_maxrss)", maxrss, n, "MiB");
	report(name, "RssAnon+RssFile at 1st byte", rss, nrss, "MiB");
	if (failures)
		printf("%-8s %d of %d runs failed\n", name, failures, n);
	return failures ? 1 : 0;
}
