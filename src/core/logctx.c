/* SPDX-License-Identifier: Apache-2.0 */
/* core/logctx.c: the proxy address that audit lines of the request being handled carry. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

/* Per thread: a worker's loop sets it; CPU pool threads never do. */
static _Thread_local char log_peer[64];

void
fb_log_peer_set(const char *peer)
{
	snprintf(log_peer, sizeof(log_peer), "%s", peer != NULL ? peer : "");
}

const char *
fb_log_peer(void)
{
	return log_peer[0] != '\0' ? log_peer : NULL;
}
