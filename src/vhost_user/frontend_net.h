/* SPDX-License-Identifier: MIT */
/*
 * `vireo run --net vhost-user=SOCKET[,mac=MAC][,queues=N][,mtu=N]`: a virtio-net device whose
 * data rings are served by an external vhost-user-net back-end (`vireo backend net`, or any
 * other). The control queue stays here, as in QEMU: queue-pair changes become
 * SET_VRING_ENABLE, MAC changes stay in our config space. To the transport it is an ordinary
 * struct virtio_dev.
 */
#ifndef VIREO_VHOST_USER_FRONTEND_NET_H
#define VIREO_VHOST_USER_FRONTEND_NET_H

#include <stddef.h>
#include "base/util.h"
#include "config/config.h"
#include "devices/virtio/net.h"

/* Connect to nc->vhost_user and create the device; p: MAC, pairs, queue size, MTU. On error
 * -errno and "--net vhost-user=PATH: why" in err. */
int vunet_create(const struct net_config *nc, const struct vnet_params *p, const char *name,
		 struct virtio_dev **out, char *err, size_t errlen) WUR;

#endif
