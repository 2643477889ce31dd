/* SPDX-License-Identifier: MIT */
/*
 * The VMM process: at most one VM, its state (no VM, Created, Running, Paused, Shutdown) and
 * the API requests that move it (docs/api.md). Everything here runs on one thread, the main
 * thread: it runs the VM's event loop while a VM runs and a small loop of its own otherwise;
 * API requests arrive on both as an eventfd (src/api/server.h) and are applied in order.
 *
 * Guest power-off, a guest reset, SIGINT/SIGTERM or a failure end the process (exit status as
 * `vireo run` documents); vm.shutdown / vm.reboot / vm.delete stop the VM but not the VMM;
 * vmm.shutdown ends it.
 */
#ifndef VIREO_VMM_VMM_H
#define VIREO_VMM_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include "api/api.h"
#include "config/config.h"

struct api_server;
struct ev_loop;
struct ev_handler;
struct machine;
struct vm;

enum vmm_action {
	VMM_ACT_NONE = 0,
	VMM_ACT_SHUTDOWN, /* vm.shutdown */
	VMM_ACT_REBOOT,	  /* vm.reboot */
	VMM_ACT_DELETE,	  /* vm.delete */
	VMM_ACT_QUIT,	  /* vmm.shutdown */
};

struct vmm {
	char name[80];
	enum api_state state;
	struct vm_config cfg; /* the VM's configuration; valid unless state is NONE */
	struct machine *m;    /* while a VM exists (booting, running, paused) */
	struct vm *vm;
	uint64_t boot_ns; /* CLOCK_MONOTONIC at the last boot */
	unsigned boots;	  /* since vm.create (or the start) */

	struct ev_loop *idle; /* runs while no VM does */
	int sig_fd;
	struct ev_handler *sig_h, *api_idle_h, *api_vm_h;
	struct api_server *api;	 /* NULL: no API */
	struct api_req *console; /* the attached console connection (API_CONSOLE_ATTACH) */

	enum vmm_action action; /* stop in progress on behalf of action_req */
	struct api_req *action_req;
	bool quit;
	int exit_status;
	char exit_reason[200];
	bool pvm_noted;
};

/* Set up (no VM yet). api may be NULL. Blocks SIGINT/SIGTERM/SIGHUP first. */
int vmm_init(struct vmm *v, const char *name, struct api_server *api, char *err, size_t errlen) WUR;
void vmm_fini(struct vmm *v);
/* Take cfg (moved: cfg is cfg_init()ed afterwards) as the VM and boot it, as `vireo run` with
 * a payload does. Returns 0, or the exit status for main (2: bad configuration, 1: runtime
 * failure) with a one-line reason in err. */
int vmm_boot_initial(struct vmm *v, struct vm_config *cfg, char *err, size_t errlen);
/* Serve until the process should end; returns its exit status (exit_reason says why). */
int vmm_run(struct vmm *v);

/* Apply one API request (state rules, then the route) and fill its response. Returns false
 * when the answer comes later: requests that stop the VM (shutdown, reboot, delete,
 * vmm.shutdown) are answered when the stop completed, an attached console when it detaches.
 * Exposed for tests. */
bool vmm_exec(struct vmm *v, struct api_req *req);

#endif
