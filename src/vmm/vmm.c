/* SPDX-License-Identifier: MIT */
/* The VMM process: VM lifecycle and the API requests that drive it. See vmm.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "api/server.h"
#include "backends/chardev.h"
#include "base/ev_loop.h"
#include "base/log.h"
#include "config/json.h"
#include "vireo_version.h"
#include "vmm/machine.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

static const char pvm_note[] =
    "note: /dev/kvm here is kvm_pvm (no VT-x/AMD-V): guest kernel-mode code is emulated "
    "instruction by instruction and the VM stops at the guest's first CPU exception in "
    "kernel mode; pass 'noxsave' to Linux guests (see README, Platform note)";

static void on_api(void *opaque, uint32_t events);

/* ---- VM lifecycle ---- */

/* Destroy the VM and the machine (the VM must not run). The console client is detached
 * (and its connection closed) when the chardev goes. */
static void teardown(struct vmm *v)
{
	if (v->m)
		machine_restore_host(v->m);
	if (v->vm) {
		if (v->api_vm_h)
			ev_del(v->vm->loop, v->api_vm_h);
		v->api_vm_h = NULL;
		vm_destroy(v->vm);
		free(v->vm);
		v->vm = NULL;
	}
	machine_destroy(v->m);
	v->m = NULL;
}

/* Build and start a VM from v->cfg. On failure: nothing left, *status is the exit status
 * `vireo run` would use (2 for bad configuration), *http the API's. */
static int boot(struct vmm *v, char *err, size_t errlen, int *status, unsigned *http)
{
	int r;

	err[0] = '\0';
	*status = VM_EXIT_USAGE;
	r = machine_prepare(&v->cfg, &v->m, err, errlen);
	if (r < 0) {
		*http = r == -EBUSY ? 409 : 400;
		v->m = NULL;
		return r;
	}
	if (v->boots++)
		machine_keep_serial_output(v->m);
	*status = VM_EXIT_FAILURE;
	*http = 500;
	v->vm = calloc(1, sizeof(*v->vm));
	if (!v->vm) {
		snprintf(err, errlen, "out of memory");
		teardown(v);
		return -ENOMEM;
	}
	r = vm_create(v->vm, &v->cfg, err, errlen);
	const char *t0 = getenv("VIREO_STARTUP_T0");
	if (t0)
		v->vm->startup_t0_ns = strtoull(t0, NULL, 10);
	if (r == 0 && v->vm->kvm.pvm && !v->pvm_noted) {
		log_warn("%s", pvm_note);
		v->pvm_noted = true;
	}
	if (r == 0 && v->api) {
		r = ev_add(v->vm->loop, api_server_fd(v->api), EPOLLIN, on_api, v, &v->api_vm_h);
		if (r < 0)
			snprintf(err, errlen, "api: event loop: %s", strerror(-r));
	}
	if (r == 0) {
		r = machine_build(v->m, v->vm, err, errlen);
		if (r == -EINVAL) {
			*status = VM_EXIT_USAGE;
			*http = 400;
		}
	}
	if (r == 0)
		r = vm_start(v->vm, err, errlen);
	if (r < 0) {
		teardown(v);
		return r;
	}
	v->state = API_ST_RUNNING;
	v->boot_ns = time_now_ns();
	return 0;
}

static void answer(struct vmm *v, struct api_req *req)
{
	if (v->api && req)
		api_server_done(v->api, req);
}

/* vm_wait() returned: the VM stopped. Finish the action that stopped it, or end. */
static void vm_stopped(struct vmm *v, int status)
{
	struct api_req *req = v->action_req;
	enum vmm_action act = v->action;
	char err[400];

	snprintf(v->exit_reason, sizeof(v->exit_reason), "%s", v->vm->exit_reason);
	teardown(v);
	v->action = VMM_ACT_NONE;
	v->action_req = NULL;
	switch (act) {
	case VMM_ACT_SHUTDOWN:
		v->state = API_ST_SHUTDOWN;
		api_req_empty(req, 204);
		break;
	case VMM_ACT_REBOOT: {
		int st;
		unsigned http;
		if (boot(v, err, sizeof(err), &st, &http) < 0) {
			v->state = API_ST_SHUTDOWN;
			api_req_error(req, http, "vm.reboot: %s", err);
		} else {
			api_req_empty(req, 204);
		}
		break;
	}
	case VMM_ACT_DELETE:
		cfg_fini(&v->cfg);
		cfg_init(&v->cfg);
		v->state = API_ST_NONE;
		api_req_empty(req, 204);
		break;
	case VMM_ACT_QUIT:
		v->state = API_ST_SHUTDOWN;
		v->quit = true;
		v->exit_status = VM_EXIT_OK;
		snprintf(v->exit_reason, sizeof(v->exit_reason), "vmm.shutdown");
		api_req_empty(req, 204);
		break;
	case VMM_ACT_NONE: /* the guest, a signal or a failure */
		v->state = API_ST_SHUTDOWN;
		v->quit = true;
		v->exit_status = status;
		break;
	}
	answer(v, req);
}

/* Stop the running VM on behalf of req; it is answered in vm_stopped(). */
static bool stop_for(struct vmm *v, struct api_req *req, enum vmm_action act, const char *why)
{
	v->action = act;
	v->action_req = req;
	vm_request_stop(v->vm, VM_EXIT_OK, "%s", why); /* parked vCPUs leave too */
	return false;
}

/* ---- requests ---- */

static json_t *info_json(struct vmm *v)
{
	json_t *o =
	    json_pack("{s:o, s:s, s:I}", "config", cfg_to_json(&v->cfg), "state",
		      api_state_name(v->state), "memory_actual_size", (json_int_t)v->cfg.mem_size);
	if (o && v->vm)
		json_object_set_new(
		    o, "uptime_ms",
		    json_integer((json_int_t)((time_now_ns() - v->boot_ns) / 1000000)));
	return o;
}

static void counter_emit(void *ctx, const char *dev, const char *name, uint64_t value)
{
	json_t *root = ctx, *d = json_object_get(root, dev);
	if (!d) {
		d = json_object();
		if (!d || json_object_set_new(root, dev, d) < 0)
			return;
	}
	json_object_set_new(d, name, json_integer((json_int_t)(value & INT64_MAX)));
}

static void do_resize(struct vmm *v, struct api_req *req)
{
	const struct api_resize *rs = &req->resize;
	if (!rs->has_vcpus && !rs->has_ram && !rs->has_balloon) {
		api_req_error(req, 400, "vm.resize: give desired_balloon");
		return;
	}
	if (rs->has_vcpus && rs->vcpus != v->cfg.cpus) {
		api_req_error(req, 400, "vm.resize: desired_vcpus: vireo has no CPU hotplug");
		return;
	}
	if (rs->has_ram && rs->ram != v->cfg.mem_size) {
		api_req_error(
		    req, 400,
		    "vm.resize: desired_ram: vireo has no memory hotplug (use the balloon)");
		return;
	}
	if (rs->has_balloon) {
		int r = machine_balloon_resize(v->m, rs->balloon);
		if (r == -ENOTSUP) {
			api_req_error(req, 400,
				      "vm.resize: desired_balloon: this VM has no balloon");
			return;
		}
		if (r < 0) {
			api_req_error(req, r == -EINVAL ? 400 : 500, "vm.resize: balloon: %s",
				      strerror(-r));
			return;
		}
	}
	api_req_empty(req, 204);
}

static void on_console_detach(void *opaque)
{
	struct vmm *v = opaque;
	struct api_req *req = v->console;
	v->console = NULL;
	answer(v, req);
}

/* The upgraded socket of a vm.console request. */
static bool console_attach(struct vmm *v, struct api_req *req)
{
	struct chardev *chr = v->vm ? machine_console(v->m) : NULL;
	int r = chr ? chardev_attach(chr, req->fd, on_console_detach, v) : -ENODEV;
	if (r < 0) {
		log_info("api: vm.console: %s",
			 r == -EBUSY ? "another client is attached" : "the VM is gone");
		return true; /* closes the connection */
	}
	v->console = req;
	return false;
}

bool vmm_exec(struct vmm *v, struct api_req *req)
{
	const struct api_route *rt = req->route;
	char err[400];
	int r;

	if (req->upgrade)
		return console_attach(v, req);
	if (!(rt->states & API_ST(v->state))) {
		if (v->state == API_ST_NONE)
			api_req_error(req, 404, "%s: no VM (vm.create one first)", rt->name);
		else
			api_req_error(req, 405, "%s: not while the VM is %s", rt->name,
				      api_state_name(v->state));
		return true;
	}
	switch (rt->op) {
	case API_VMM_PING: {
		json_t *o = json_pack("{s:s, s:s, s:I, s:[s], s:s}", "version", VIREO_VERSION,
				      "build_version", "vireo " VIREO_VERSION, "pid",
				      (json_int_t)getpid(), "features", "kvm", "name", v->name);
		api_req_json(req, 200, o);
		return true;
	}
	case API_VMM_SHUTDOWN:
		if (v->vm)
			return stop_for(v, req, VMM_ACT_QUIT, "vmm.shutdown");
		v->quit = true;
		v->exit_status = VM_EXIT_OK;
		snprintf(v->exit_reason, sizeof(v->exit_reason), "vmm.shutdown");
		api_req_empty(req, 204);
		return true;
	case API_VM_CREATE:
		cfg_fini(&v->cfg);
		v->cfg = req->cfg; /* moved */
		cfg_init(&req->cfg);
		req->have_cfg = false;
		v->boots = 0;
		v->state = API_ST_CREATED;
		api_req_empty(req, 204);
		return true;
	case API_VM_BOOT: {
		int st;
		unsigned http;
		if (boot(v, err, sizeof(err), &st, &http) < 0)
			api_req_error(req, http, "vm.boot: %s", err);
		else
			api_req_empty(req, 204);
		return true;
	}
	case API_VM_INFO:
		api_req_json(req, 200, info_json(v));
		return true;
	case API_VM_PAUSE:
		r = vm_pause(v->vm, err, sizeof(err));
		if (r < 0) {
			api_req_error(req, 500, "vm.pause: %s", err);
		} else {
			v->state = API_ST_PAUSED;
			api_req_empty(req, 204);
		}
		return true;
	case API_VM_RESUME:
		vm_resume(v->vm);
		v->state = API_ST_RUNNING;
		api_req_empty(req, 204);
		return true;
	case API_VM_SHUTDOWN:
		return stop_for(v, req, VMM_ACT_SHUTDOWN, "vm.shutdown");
	case API_VM_REBOOT:
		return stop_for(v, req, VMM_ACT_REBOOT, "vm.reboot");
	case API_VM_DELETE:
		if (v->vm)
			return stop_for(v, req, VMM_ACT_DELETE, "vm.delete");
		cfg_fini(&v->cfg);
		cfg_init(&v->cfg);
		v->state = API_ST_NONE;
		api_req_empty(req, 204);
		return true;
	case API_VM_POWER_BUTTON:
		r = machine_power_button(v->m);
		if (r == -ENOTSUP)
			api_req_error(req, 400,
				      "vm.power-button: this VM has no ACPI power button");
		else if (r < 0)
			api_req_error(req, 500, "vm.power-button: %s", strerror(-r));
		else
			api_req_empty(req, 204);
		return true;
	case API_VM_COUNTERS: {
		json_t *o = json_object();
		if (o)
			vm_counters(v->vm, counter_emit, o);
		api_req_json(req, 200, o);
		return true;
	}
	case API_VM_RESIZE:
		do_resize(v, req);
		return true;
	case API_VM_CONSOLE:
		if (!machine_console(v->m))
			api_req_error(req, 409, "vm.console: the VM has no serial console");
		else if (chardev_attached(machine_console(v->m)))
			api_req_error(req, 409, "vm.console: another client is attached");
		else
			req->status = 101; /* the server upgrades; API_CONSOLE_ATTACH follows */
		return true;
	case API_CONSOLE_ATTACH:
		break;
	}
	api_req_error(req, 500, "%s: not implemented", rt->name);
	return true;
}

/* The API's eventfd: apply queued requests in order. Stop at a request that stops the VM:
 * the rest waits until that finished (the eventfd stays readable). */
static void on_api(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	struct api_req *req;
	(void)events;
	while (!v->action && !v->quit && (req = api_server_take(v->api))) {
		if (vmm_exec(v, req))
			answer(v, req);
	}
}

/* ---- the process ---- */

static void on_signal(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(v->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	v->quit = true;
	v->exit_status = VM_EXIT_OK;
	snprintf(v->exit_reason, sizeof(v->exit_reason), "stopped by %s",
		 strsignal((int)si.ssi_signo));
}

int vmm_init(struct vmm *v, const char *name, struct api_server *api, char *err, size_t errlen)
{
	sigset_t set;
	int r;

	memset(v, 0, sizeof(*v));
	v->sig_fd = -1;
	snprintf(v->name, sizeof(v->name), "%s", name ? name : "");
	cfg_init(&v->cfg);
	v->api = api;
	if ((r = vm_block_signals()) < 0) {
		snprintf(err, errlen, "cannot block signals: %s", strerror(-r));
		return r;
	}
	if ((r = ev_loop_create(&v->idle)) < 0) {
		snprintf(err, errlen, "event loop: %s", strerror(-r));
		return r;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	v->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (v->sig_fd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -errno;
	}
	r = ev_add(v->idle, v->sig_fd, EPOLLIN, on_signal, v, &v->sig_h);
	if (r == 0 && api)
		r = ev_add(v->idle, api_server_fd(api), EPOLLIN, on_api, v, &v->api_idle_h);
	if (r < 0) {
		snprintf(err, errlen, "event loop: %s", strerror(-r));
		return r;
	}
	return 0;
}

void vmm_fini(struct vmm *v)
{
	teardown(v);
	if (v->idle) {
		if (v->sig_h)
			ev_del(v->idle, v->sig_h);
		if (v->api_idle_h)
			ev_del(v->idle, v->api_idle_h);
		ev_loop_destroy(v->idle);
		v->idle = NULL;
	}
	if (v->sig_fd >= 0)
		close(v->sig_fd);
	v->sig_fd = -1;
	cfg_fini(&v->cfg);
}

int vmm_boot_initial(struct vmm *v, struct vm_config *cfg, char *err, size_t errlen)
{
	int status;
	unsigned http;

	cfg_fini(&v->cfg);
	v->cfg = *cfg;
	cfg_init(cfg);
	v->state = API_ST_CREATED;
	if (boot(v, err, errlen, &status, &http) < 0)
		return status;
	return 0;
}

int vmm_run(struct vmm *v)
{
	while (!v->quit) {
		if (v->vm) {
			vm_stopped(v, vm_wait(v->vm));
			continue;
		}
		int r = ev_loop_run_once(v->idle, -1);
		if (r < 0) {
			v->quit = true;
			v->exit_status = VM_EXIT_FAILURE;
			snprintf(v->exit_reason, sizeof(v->exit_reason), "event loop: %s",
				 strerror(-r));
		}
	}
	if (v->api)
		api_server_close(v->api); /* new requests: 503 from here on */
	return v->exit_status;
}
