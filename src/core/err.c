/* SPDX-License-Identifier: Apache-2.0 */
/* core/err.c: filling struct fb_err where a failure happens. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "core/core.h"

static void
err_vset(struct fb_err *err, enum fb_status c, const char *file, int line, const char *func,
    const char *fmt, va_list ap)
{
	err->code = c;
	err->file = file;
	err->line = line;
	err->func = func;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

enum fb_status
fb_err_set_(struct fb_err *err, enum fb_status c, const char *file, int line, const char *func,
    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return c;
	va_start(ap, fmt);
	err_vset(err, c, file, line, func, fmt, ap);
	va_end(ap);
	return c;
}

enum fb_status
fb_err_openssl_(struct fb_err *err, enum fb_status c, const char *file, int line,
    const char *func, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	char ebuf[256];
	size_t len;

	if (err != NULL) {
		va_start(ap, fmt);
		err_vset(err, c, file, line, func, fmt, ap);
		va_end(ap);
		/* The last queued error is the most specific one. */
		if ((e = ERR_peek_last_error()) != 0) {
			ERR_error_string_n(e, ebuf, sizeof(ebuf));
			len = strlen(err->msg);
			snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", ebuf);
		}
	}
	ERR_clear_error();
	return c;
}

void
fb_err_prefix(struct fb_err *err, const char *fmt, ...)
{
	char pre[256], old[sizeof(err->msg)];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Precision bounds keep the compiler sure nothing overflows. */
	snprintf(err->msg, sizeof(err->msg), "%.255s: %.254s", pre, old);
}

void
fb_err_clear(struct fb_err *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
}

const char *
fb_status_name(enum fb_status s)
{
	switch (s) {
	case FB_OK:
		return "ok";
	case FB_ERR_NOMEM:
		return "nomem";
	case FB_ERR_INVALID:
		return "invalid";
	case FB_ERR_PROTOCOL:
		return "protocol";
	case FB_ERR_SIGNATURE:
		return "signature";
	case FB_ERR_EXPIRED:
		return "expired";
	case FB_ERR_REPLAY:
		return "replay";
	case FB_ERR_DENIED:
		return "denied";
	case FB_ERR_UPSTREAM:
		return "upstream";
	case FB_ERR_IO:
		return "io";
	case FB_ERR_CONFIG:
		return "config";
	case FB_ERR_INTERNAL:
		return "internal";
	case FB_ERR_NOTFOUND:
		return "notfound";
	case FB_ERR_LIMIT:
		return "limit";
	default:
		return "unknown";
	}
}
