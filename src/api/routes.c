/* SPDX-License-Identifier: MIT */
/* Route table, request decoding and responses. Pure functions: no I/O, no VMM state. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"
#include "config/json.h"

#define LIVE (API_ST(API_ST_RUNNING) | API_ST(API_ST_PAUSED))

/* Which state each route is allowed in is part of the contract (openapi.yaml, docs/api.md).
 * In a state not listed: 404 when no VM exists, else 405, with the reason. */
const struct api_route api_routes[] = {
    {"vmm.ping", "GET", API_VMM_PING, API_BODY_NONE, API_ST_ALL},
    {"vmm.shutdown", "PUT", API_VMM_SHUTDOWN, API_BODY_NONE, API_ST_ALL},
    {"vm.create", "PUT", API_VM_CREATE, API_BODY_VMCONFIG, API_ST(API_ST_NONE)},
    {"vm.boot", "PUT", API_VM_BOOT, API_BODY_NONE,
     API_ST(API_ST_CREATED) | API_ST(API_ST_SHUTDOWN)},
    {"vm.info", "GET", API_VM_INFO, API_BODY_NONE, API_ST_ALL & ~API_ST(API_ST_NONE)},
    {"vm.pause", "PUT", API_VM_PAUSE, API_BODY_NONE, API_ST(API_ST_RUNNING)},
    {"vm.resume", "PUT", API_VM_RESUME, API_BODY_NONE, API_ST(API_ST_PAUSED)},
    {"vm.shutdown", "PUT", API_VM_SHUTDOWN, API_BODY_NONE, LIVE},
    {"vm.reboot", "PUT", API_VM_REBOOT, API_BODY_NONE, LIVE},
    {"vm.power-button", "PUT", API_VM_POWER_BUTTON, API_BODY_NONE, API_ST(API_ST_RUNNING)},
    {"vm.delete", "PUT", API_VM_DELETE, API_BODY_NONE, API_ST_ALL},
    {"vm.counters", "GET", API_VM_COUNTERS, API_BODY_NONE, LIVE},
    {"vm.resize", "PUT", API_VM_RESIZE, API_BODY_RESIZE, API_ST(API_ST_RUNNING)},
    {"vm.console", "PUT", API_VM_CONSOLE, API_BODY_NONE, LIVE},
    {NULL, NULL, 0, 0, 0},
};

const char *api_state_name(enum api_state st)
{
	switch (st) {
	case API_ST_CREATED:
		return "Created";
	case API_ST_RUNNING:
		return "Running";
	case API_ST_PAUSED:
		return "Paused";
	case API_ST_SHUTDOWN:
		return "Shutdown";
	default:
		return "NotCreated";
	}
}

const struct api_route *api_route_find(const char *path)
{
	size_t n = strlen(API_PREFIX);
	if (!path || strncmp(path, API_PREFIX, n) != 0)
		return NULL;
	for (const struct api_route *r = api_routes; r->name; r++)
		if (!strcmp(path + n, r->name))
			return r;
	return NULL;
}

void api_req_init(struct api_req *req)
{
	memset(req, 0, sizeof(*req));
	cfg_init(&req->cfg);
	req->fd = -1;
}

void api_req_fini(struct api_req *req)
{
	cfg_fini(&req->cfg);
	free(req->body);
	req->body = NULL;
}

static void set_body(struct api_req *req, unsigned status, char *body)
{
	free(req->body);
	req->body = body;
	req->status = status;
}

void api_req_error(struct api_req *req, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++) /* one line, printable */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	json_t *o = json_pack("{s:s}", "error", msg);
	if (!o) { /* not UTF-8 (a parse error quoting the client's bytes): keep it ASCII */
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		o = json_pack("{s:s}", "error", msg);
	}
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (o && !text)
		text = strdup("{\"error\":\"(unprintable)\"}");
	json_decref(o);
	set_body(req, status, text);
}

void api_req_json(struct api_req *req, unsigned status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		api_req_error(req, 500, "out of memory");
		return;
	}
	set_body(req, status, text);
}

void api_req_empty(struct api_req *req, unsigned status)
{
	set_body(req, status, NULL);
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* An optional non-negative integer field of a VmResize object. */
static int resize_field(const json_t *o, const char *key, bool *has, uint64_t *val, char *err,
			size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "%s: expected a non-negative integer", key);
		return -EINVAL;
	}
	*has = true;
	*val = (uint64_t)json_integer_value(v);
	return 0;
}

static int decode_resize(struct api_resize *rs, const char *body, size_t len, char *err,
			 size_t errlen)
{
	json_error_t je;
	const char *key;
	json_t *v;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	int r = 0;

	if (!o) {
		cfg_json_syntax_error(err, errlen, &je);
		return -EINVAL;
	}
	if (!json_is_object(o)) {
		snprintf(err, errlen, "VmResize: expected an object");
		r = -EINVAL;
	}
	json_object_foreach(o, key, v)
	{
		if (r < 0)
			break;
		if (strcmp(key, "desired_vcpus") && strcmp(key, "desired_ram") &&
		    strcmp(key, "desired_balloon")) {
			snprintf(err, errlen, "%.48s: unknown field", key);
			r = -EINVAL;
		}
	}
	if (r == 0)
		r = resize_field(o, "desired_vcpus", &rs->has_vcpus, &rs->vcpus, err, errlen);
	if (r == 0)
		r = resize_field(o, "desired_ram", &rs->has_ram, &rs->ram, err, errlen);
	if (r == 0)
		r = resize_field(o, "desired_balloon", &rs->has_balloon, &rs->balloon, err, errlen);
	json_decref(o);
	return r;
}

unsigned api_req_decode(struct api_req *req, const struct api_route *route, const char *body,
			size_t len)
{
	char err[400];
	int r;

	req->route = route;
	if (len > API_BODY_MAX) {
		api_req_error(req, 413, "%s: body larger than %d bytes", route->name, API_BODY_MAX);
		return 413;
	}
	switch (route->body) {
	case API_BODY_NONE:
		if (!blank(body, len)) {
			api_req_error(req, 400, "%s: takes no body", route->name);
			return 400;
		}
		return 0;
	case API_BODY_VMCONFIG:
		if (blank(body, len)) {
			api_req_error(req, 400, "%s: needs a VmConfig body", route->name);
			return 400;
		}
		r = cfg_from_json_text(&req->cfg, body, len, err, sizeof(err));
		if (r == 0) {
			cfg_devices_defaults(&req->cfg); /* as `vireo run --config` does */
			r = cfg_validate(&req->cfg, err, sizeof(err));
		}
		if (r < 0) {
			api_req_error(req, 400, "%s: %s", route->name, err);
			return 400;
		}
		req->have_cfg = true;
		return 0;
	case API_BODY_RESIZE:
		if (decode_resize(&req->resize, body, len, err, sizeof(err)) < 0) {
			api_req_error(req, 400, "%s: %s", route->name, err);
			return 400;
		}
		return 0;
	}
	api_req_error(req, 500, "%s: no decoder", route->name);
	return 500;
}
