/* SPDX-License-Identifier: MIT */
/*
 * The REST API's routes and requests (docs/api.md, src/api/openapi.yaml): Cloud Hypervisor's
 * paths under /api/v1/, JSON bodies decoded into typed requests here, before anything acts on
 * them. The HTTP server (server.c) parses and queues; the VMM thread (src/vmm/vmm.c) applies
 * a request and fills its response.
 */
#ifndef VIREO_API_API_H
#define VIREO_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/util.h"
#include "config/config.h"

#define API_PREFIX "/api/v1/"
#define API_BODY_MAX (64 * 1024) /* request bodies larger than this get 413 */

enum api_op {
	API_VMM_PING,
	API_VMM_SHUTDOWN,
	API_VM_CREATE,
	API_VM_BOOT,
	API_VM_INFO,
	API_VM_PAUSE,
	API_VM_RESUME,
	API_VM_SHUTDOWN,
	API_VM_REBOOT,
	API_VM_POWER_BUTTON,
	API_VM_DELETE,
	API_VM_COUNTERS,
	API_VM_RESIZE,
	API_VM_CONSOLE,	    /* vireo: HTTP upgrade to the serial console's byte stream */
	API_CONSOLE_ATTACH, /* internal: the upgraded socket of a vm.console request */
};

/* The VM's state as vm.info names it (VmState), plus "no VM". */
enum api_state {
	API_ST_NONE = 0, /* no VM created (vm.info: 404) */
	API_ST_CREATED,
	API_ST_RUNNING,
	API_ST_PAUSED,
	API_ST_SHUTDOWN,
};
#define API_ST(s) (1u << (s))
#define API_ST_ALL                                                                                 \
	(API_ST(API_ST_NONE) | API_ST(API_ST_CREATED) | API_ST(API_ST_RUNNING) |                   \
	 API_ST(API_ST_PAUSED) | API_ST(API_ST_SHUTDOWN))
const char *api_state_name(enum api_state st);

enum api_body { API_BODY_NONE = 0, API_BODY_VMCONFIG, API_BODY_RESIZE };

struct api_route {
	const char *name;   /* "vm.pause": the path is API_PREFIX + name */
	const char *method; /* "GET" or "PUT" */
	enum api_op op;
	enum api_body body;
	unsigned states; /* API_ST() mask of the states the route is allowed in */
};

/* The route for a request path ("/api/v1/vm.pause"), or NULL. */
const struct api_route *api_route_find(const char *path);
/* Every route, terminated by a NULL name. */
extern const struct api_route api_routes[];

/* vm.resize (VmResize): which fields were given. */
struct api_resize {
	bool has_vcpus, has_ram, has_balloon;
	uint64_t vcpus, ram, balloon;
};

struct api_req {
	const struct api_route *route;
	/* decoded body */
	struct vm_config cfg; /* vm.create: owned here until the VMM takes it */
	bool have_cfg;
	struct api_resize resize;

	/* response, filled by the VMM thread */
	unsigned status;
	char *body; /* JSON text (malloc), or NULL */

	/* API_CONSOLE_ATTACH */
	int fd;
	void *upgrade; /* the server's handle for the upgraded connection */
};

void api_req_init(struct api_req *req);
void api_req_fini(struct api_req *req);
/* Decode a request for route (method and path already matched) with body[0..len) into req.
 * Returns 0, or an HTTP status (400, 413) with a one-line {"error"} response already set. */
unsigned api_req_decode(struct api_req *req, const struct api_route *route, const char *body,
			size_t len);
/* Set the response: an error {"error": "<one line>"} / a JSON body (takes the reference) /
 * no body. */
void api_req_error(struct api_req *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void api_req_json(struct api_req *req, unsigned status, json_t *body);
void api_req_empty(struct api_req *req, unsigned status);

#endif
