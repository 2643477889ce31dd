/* SPDX-License-Identifier: MIT */
/*
 * The CLI client of the API (libcurl over the VM's unix socket):
 *   vireo ls [--json]                     the live VMs (and removes entries of dead ones)
 *   vireo ctl NAME VERB [ARGS]            any route, e.g. `vireo ctl web1 pause`
 *   vireo stop NAME [--timeout S]         ACPI power-off, then vmm.shutdown after S seconds
 *   vireo console NAME                    the serial console (detach: Ctrl-])
 * NAME is a VM name (runtime.h) or an API socket path (anything with a '/').
 * Exit status: 0 done, 1 the VM refused or could not be reached (one line), 2 usage.
 */
#ifndef VIREO_API_CLIENT_H
#define VIREO_API_CLIENT_H

#include <stddef.h>
#include "base/util.h"

int cmd_ls(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_console(int argc, char **argv);

/* One request over the unix socket sock: method "GET"/"PUT", route "vm.info", body NULL or
 * JSON. Returns the HTTP status, or -errno with a one-line reason in err (e.g. "cannot
 * connect"). *resp gets the body (malloc'd, NUL-terminated) when resp is not NULL. */
int api_call(const char *sock, const char *method, const char *route, const char *body, char **resp,
	     long timeout_ms, char *err, size_t errlen) WUR;

#endif
