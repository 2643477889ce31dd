/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <unistd.h>
#include "backends/net_port.h"

void net_port_destroy(struct net_port *p)
{
	if (!p)
		return;
	if (p->ops && p->ops->destroy) {
		p->ops->destroy(p);
		return;
	}
	for (unsigned i = 0; i < p->nr_queues; i++)
		if (p->fd[i] >= 0)
			close(p->fd[i]);
	free(p);
}
