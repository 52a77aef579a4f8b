/* SPDX-License-Identifier: Apache-2.0 */
/* core/logctx.c: the proxy address that audit lines of the request being handled carry. */
#include <stdarg.h>
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

void
fb_log_vaudit(const char *reqid, const char *func, const char *event, const char *user,
    const char *addr, const char *key, const char *val, const char *fmt, va_list ap)
{
	const char *kv[11], *peer = fb_log_peer();
	size_t i = 0;

	kv[i++] = "event";
	kv[i++] = event;
	if (user != NULL) {
		kv[i++] = "user";
		kv[i++] = user;
	}
	if (addr != NULL) {
		kv[i++] = "addr";
		kv[i++] = addr;
	}
	/* Behind a trusted proxy: the proxy's address too (set by http for the request). */
	if (addr != NULL && peer != NULL && strcmp(peer, addr) != 0) {
		kv[i++] = "peer";
		kv[i++] = peer;
	}
	if (key != NULL && val != NULL) {
		kv[i++] = key;
		kv[i++] = val;
	}
	kv[i] = NULL;
	fb_log_vwrite(FB_LOG_WARN, "audit", func, reqid, kv, fmt, ap);
}
