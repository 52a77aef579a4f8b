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
    const char *addr, const struct fb_log_field *more, const char *fmt, va_list ap)
{
	const char *peer = fb_log_peer();
	/* Behind a trusted proxy: the proxy's address too (set by http for the request). */
	struct fb_log_field f[12] = {FB_LOG_STR("user", user), FB_LOG_STR("addr", addr),
	    FB_LOG_STR("peer", addr != NULL && peer != NULL && strcmp(peer, addr) != 0 ? peer : NULL)};
	size_t n = 3;

	for (; more != NULL && more->key != NULL && n < sizeof(f) / sizeof(f[0]) - 1; more++)
		f[n++] = *more;
	f[n].key = NULL;
	fb_log_vevent(FB_LOG_INFO, "audit", func, reqid, event, f, fmt, ap);
}
