/* SPDX-License-Identifier: Apache-2.0 */
/* http/internal.h: definitions shared by the http module's files only. */
#ifndef FB_HTTP_INTERNAL_H
#define FB_HTTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/core.h"
#include "http/http.h"

/* Longest request id we accept from a peer (characters). */
#define FB_HTTP_REQID_MAX 64
/* Random bytes in a generated request id (base64url: 22 characters). */
#define FB_HTTP_REQID_BYTES 16

struct fb_http_conn;

/* One request being answered (http.h: struct fb_http_req). */
struct fb_http_req {
	struct fb_arena *arena; /* everything below that is allocated lives here */
	struct evhttp_request *ev;
	struct fb_http_conn *conn;
	struct fb_http_server *srv;
	const struct fb_http_env *env;
	const char *method;
	enum fb_http_method mid;
	const char *path;  /* decoded, no query */
	const char *route; /* pattern or FB_HTTP_ROUTE_UNMATCHED */
	struct evkeyvalq query;
	int query_parsed;
	const char *body;
	size_t body_len;
	char client[64];
	char id[FB_HTTP_REQID_MAX + 1];
	int tls;
	int64_t start_us;
};

/*
 * Appends "Name: value\r\n" lines of the headers every response carries
 * (security headers; Strict-Transport-Security when tls) to out (size
 * >= 512); for responses libevent or the server itself writes.
 */
void fb_http_security_headers_text(int tls, char *out, size_t outlen);
/* Adds the same headers to an evhttp header list, plus Cache-Control: no-store. */
void fb_http_security_headers_add(struct evkeyvalq *h, int tls);

/* Server side of a reply: logs the access line, counts it, frees req. */
void fb_http_req_finish(struct fb_http_req *req, int code, size_t bytes);
/* 1 when the server is draining (replies then close their connection). */
int fb_http_server_draining(const struct fb_http_server *srv);

/* Writes the access log line and counts the request in the metrics. */
void fb_http_account(const struct fb_http_env *env, const char *method, const char *route,
    const char *path, int code, size_t bytes, int64_t start_us, const char *client,
    const char *reqid);

#ifdef FB_UNIT_TESTS
/* server.c: bytes of the request line and header fields, for max_header_bytes. */
size_t fb_http_header_bytes(const char *method, const char *uri, const struct evkeyvalq *h);
#endif

#endif
