/* SPDX-License-Identifier: Apache-2.0 */
/* http/reply.c: the status table (enum fb_status -> HTTP), security headers, replies. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/core.h"
#include "http/http.h"
#include "http/internal.h"

/*
 * The one table mapping fb_status to an HTTP status (STYLE 2.4). Only the
 * code crosses to the peer; the fb_err message goes to the log.
 */
static const struct {
	enum fb_status s;
	int code;
} status_table[] = {
	{FB_OK, 200},
	{FB_ERR_NOMEM, 503},
	{FB_ERR_INVALID, 400},
	{FB_ERR_PROTOCOL, 400},
	{FB_ERR_SIGNATURE, 403},
	{FB_ERR_EXPIRED, 403},
	{FB_ERR_REPLAY, 409},
	{FB_ERR_DENIED, 403},
	{FB_ERR_UPSTREAM, 502},
	{FB_ERR_IO, 503}, /* the store cannot answer now: fb_http_store_down */
	{FB_ERR_CONFIG, 500},
	{FB_ERR_INTERNAL, 500},
	{FB_ERR_NOTFOUND, 404},
	{FB_ERR_LIMIT, 413},
};

static const struct {
	int code;
	const char *reason;
} reasons[] = {
	{200, "OK"},
	{201, "Created"},
	{204, "No Content"},
	{302, "Found"},
	{303, "See Other"},
	{304, "Not Modified"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{408, "Request Timeout"},
	{409, "Conflict"},
	{413, "Content Too Large"},
	{414, "URI Too Long"},
	{429, "Too Many Requests"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{502, "Bad Gateway"},
	{503, "Service Unavailable"},
	{504, "Gateway Timeout"},
};

/* Headers on every response (OWASP secure headers). */
static const struct {
	const char *name;
	const char *value;
} security_headers[] = {
	{"X-Content-Type-Options", "nosniff"},
	{"Content-Security-Policy", "frame-ancestors 'none'"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "no-referrer"},
};

/*
 * Strict-Transport-Security's max-age (server.hsts_max_age; 0: no header).
 * Set once per worker when its server starts (workers are single-threaded).
 */
static int64_t hsts_max_age = 31536000;
static char hsts_value[48] = "max-age=31536000";

void
fb_http_hsts_set(int64_t max_age)
{
	if (max_age == hsts_max_age)
		return;
	hsts_max_age = max_age;
	snprintf(hsts_value, sizeof(hsts_value), "max-age=%lld", (long long)max_age);
	/* The cached header texts are built again with it. */
	fb_http_security_headers_text(-1, 0, NULL);
}

int
fb_http_site_https(const struct fb_conf *conf, int tls)
{
	/* SECURITY: https:// people use means TLS somewhere before us: Secure cookies, HSTS. */
	return tls || (conf->public_url != NULL && strncasecmp(conf->public_url, "https://", 8) == 0);
}

int
fb_http_status_for(enum fb_status s)
{
	for (size_t i = 0; i < sizeof(status_table) / sizeof(status_table[0]); i++)
		if (status_table[i].s == s)
			return status_table[i].code;
	return 500;
}

int
fb_http_store_down(enum fb_status s)
{
	return s == FB_ERR_IO || s == FB_ERR_INTERNAL || s == FB_ERR_NOMEM;
}

const char *
fb_http_reason(int code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].reason;
	return "Unknown";
}

int
fb_http_reqid_check(const char *id)
{
	size_t n = 0;

	if (id == NULL)
		return 0;
	for (const char *p = id; *p != '\0'; p++, n++) {
		char c = *p;

		if (n >= FB_HTTP_REQID_MAX)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

/* 1 for the default Content-Security-Policy: a handler may set a stricter one of its own. */
static int
is_csp(const char *name)
{
	return strcasecmp(name, "Content-Security-Policy") == 0;
}

const char *
fb_http_security_headers_text(int tls, int own_csp, size_t *len)
{
	/* Built once from the table: workers are single-threaded. */
	static char text[4][FB_HTTP_SECURITY_TEXT_MAX];
	static size_t textlen[4];
	int t = (tls != 0) | (own_csp != 0) << 1;

	if (tls < 0) {
		/* fb_http_hsts_set: forget the texts. */
		memset(textlen, 0, sizeof(textlen));
		return NULL;
	}
	if (textlen[t] == 0) {
		size_t off = 0;

		for (size_t i = 0; i < sizeof(security_headers) / sizeof(security_headers[0]); i++)
			if (!own_csp || !is_csp(security_headers[i].name))
				off += (size_t)snprintf(text[t] + off, sizeof(text[t]) - off,
				    "%s: %s\r\n", security_headers[i].name,
				    security_headers[i].value);
		if (tls && hsts_max_age > 0)
			off += (size_t)snprintf(text[t] + off, sizeof(text[t]) - off,
			    "Strict-Transport-Security: %s\r\n", hsts_value);
		off += (size_t)snprintf(text[t] + off, sizeof(text[t]) - off,
		    "Cache-Control: no-store\r\n");
		textlen[t] = off;
	}
	if (len != NULL)
		*len = textlen[t];
	return text[t];
}

void
fb_http_security_headers_add(struct evkeyvalq *h, int tls, int own_csp)
{
	for (size_t i = 0; i < sizeof(security_headers) / sizeof(security_headers[0]); i++)
		if (!own_csp || !is_csp(security_headers[i].name))
			evhttp_add_header(h, security_headers[i].name, security_headers[i].value);
	if (tls && hsts_max_age > 0)
		evhttp_add_header(h, "Strict-Transport-Security", hsts_value);
	evhttp_add_header(h, "Cache-Control", "no-store");
}

void
fb_http_reply_header(struct fb_http_req *req, const char *name, const char *value)
{
	/* SECURITY: no response splitting through a header name or value. */
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL) {
		fb_rlog(req, FB_LOG_ERROR, "refused header %s with CR or LF", name);
		return;
	}
	/* A handler's own policy replaces the default one (it must keep frame-ancestors). */
	if (is_csp(name))
		req->own_csp = 1;
	evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value);
}

void
fb_http_reply(struct fb_http_req *req, int code, const char *content_type, const void *body,
    size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
	/* RFC 9110 6.4.1, 8.6: 1xx, 204 and 304 have no content and no length. */
	int bodyless;
	size_t sent;

	if (code < 100 || code > 599)
		code = 500;
	bodyless = code < 200 || code == 204 || code == 304;
	if (content_type != NULL)
		evhttp_add_header(h, "Content-Type", content_type);
	/* RFC 9110 10.2.3: when to come back (a balancer or a browser retries then). */
	if (code == 503 && evhttp_find_header(h, "Retry-After") == NULL)
		evhttp_add_header(h, "Retry-After", FB_HTTP_RETRY_AFTER);
	/*
	 * The length is always ours: evhttp leaves it out of replies to HEAD
	 * (which then get no body) and CONNECT, and of HTTP/1.0 ones.
	 */
	if (!bodyless) {
		char cl[24];

		snprintf(cl, sizeof(cl), "%zu", len);
		evhttp_add_header(h, "Content-Length", cl);
	}
	if (fb_http_req_closing(req))
		evhttp_add_header(h, "Connection", "close");
	/* Every 503 says when to come back (a store outage: RFC 9110 10.2.3). */
	if (code == 503 && evhttp_find_header(h, "Retry-After") == NULL)
		evhttp_add_header(h, "Retry-After", "5");
	sent = bodyless || req->mid == FB_HTTP_HEAD ? 0 : len;
	if (sent > 0)
		evbuffer_add(evhttp_request_get_output_buffer(req->ev), body, sent);
	fb_http_req_send(req, code, sent);
}

void
fb_http_reply_error(struct fb_http_req *req, enum fb_status s, const char *public,
    const struct fb_err *err)
{
	int code = fb_http_status_for(s);
	char body[256];
	int n;

	if (err != NULL)
		fb_log_err(code >= 500 ? FB_LOG_ERROR : FB_LOG_INFO, req->id, err);
	n = snprintf(body, sizeof(body), "%s\n", public != NULL ? public : fb_http_reason(code));
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	fb_http_reply(req, code, "text/plain; charset=utf-8", body, (size_t)n);
}
