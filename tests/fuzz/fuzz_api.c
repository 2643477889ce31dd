/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the API's request decoding and the JSON -> vm_config conversion.
 * Input: byte 0 selects the route (mod the number of routes), the rest is the request body,
 * decoded exactly as the server does (api_req_decode: VmConfig, VmResize, "no body"). The
 * same bytes also go to cfg_from_json_text; a document it accepts must survive
 * cfg_to_json -> cfg_from_json_text -> cfg_to_json unchanged (the round trip vm.info relies
 * on). Route lookup gets the body as a path too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"
#include "base/log.h"
#include "config/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dump(const struct vm_config *cfg)
{
	json_t *o = cfg_to_json(cfg);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned nr_routes;
	char err[512];

	if (!nr_routes) {
		log_set_level(LOG_ERR);
		while (api_routes[nr_routes].name)
			nr_routes++;
	}
	if (size < 1 || size > API_BODY_MAX + 1)
		return 0;
	const struct api_route *rt = &api_routes[data[0] % nr_routes];
	const char *body = (const char *)data + 1;
	size_t len = size - 1;

	struct api_req req;
	api_req_init(&req);
	unsigned st = api_req_decode(&req, rt, body, len);
	if (st && (!req.body || strchr(req.body, '\n')))
		abort(); /* every refusal carries a one-line reason */
	api_req_fini(&req);

	char *path = malloc(len + 1);
	memcpy(path, body, len);
	path[len] = '\0';
	(void)api_route_find(path);
	free(path);

	struct vm_config a, b;
	cfg_init(&a);
	if (cfg_from_json_text(&a, body, len, err, sizeof(err)) == 0) {
		char *s1 = dump(&a);
		if (s1) {
			cfg_init(&b);
			if (cfg_from_json_text(&b, s1, strlen(s1), err, sizeof(err)) != 0)
				abort(); /* what we emit, we must read back */
			char *s2 = dump(&b);
			if (!s2 || strcmp(s1, s2))
				abort();
			free(s2);
			cfg_fini(&b);
			free(s1);
		}
	} else if (strchr(err, '\n')) {
		abort();
	}
	cfg_fini(&a);
	return 0;
}
