/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/proxy.c: behind a load balancer. From trusted proxies only
 * (server.trusted_proxies), the client's address comes from Forwarded
 * (RFC 7239) or X-Forwarded-For, the scheme and host from Forwarded's
 * proto= and host= or X-Forwarded-Proto / X-Forwarded-Host, and the
 * proxy's X-Request-Id is kept beside ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/core.h"
#include "http/http.h"
#include "http/internal.h"

/* Most proxies walked from the right before giving up (a chain is rarely longer than 3). */
#define HOPS_MAX 32
/* Most list entries looked at in one header (the rest, further left, are never reached). */
#define ITEMS_MAX 256

/* One Forwarded element or X-Forwarded-For entry, as slices of the header text. */
struct item {
	const char *p;
	size_t n;
};

enum node_kind {
	NODE_ADDR = 0, /* an IP address (port dropped) */
	NODE_UNKNOWN,  /* "unknown": the proxy did not know */
	NODE_HIDDEN,   /* an obfuscated identifier ("_abc") */
	NODE_BAD,      /* anything else */
};

enum fb_status
fb_http_proxies_parse(char *const *list, size_t n, struct fb_http_proxies *out, struct fb_err *err)
{
	enum fb_status r;

	out->c = NULL;
	out->n = 0;
	if (n == 0)
		return FB_OK;
	out->c = fb_xcalloc(n, sizeof(*out->c));
	for (size_t i = 0; i < n; i++)
		if ((r = fb_addr_cidr_parse(list[i], &out->c[i], err)) != FB_OK) {
			fb_http_proxies_cleanup(out);
			return r;
		}
	out->n = n;
	return FB_OK;
}

void
fb_http_proxies_cleanup(struct fb_http_proxies *tp)
{
	if (tp == NULL)
		return;
	free(tp->c);
	tp->c = NULL;
	tp->n = 0;
}

static int
trusted(const struct fb_http_proxies *tp, const struct fb_addr *a)
{
	for (size_t i = 0; i < tp->n; i++)
		if (fb_addr_cidr_match(&tp->c[i], a))
			return 1;
	return 0;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static void
trim(struct item *it)
{
	while (it->n > 0 && is_ows(it->p[0])) {
		it->p++;
		it->n--;
	}
	while (it->n > 0 && is_ows(it->p[it->n - 1]))
		it->n--;
}

/*
 * Splits s at commas outside quoted strings into at most ITEMS_MAX items,
 * the rightmost kept when there are more. -1 when a quoted string is not
 * closed, else the number of items (empty ones kept: "a,,b" has three).
 */
static int
split_list(const char *s, struct item *items)
{
	const char *start = s;
	int n = 0, quoted = 0;

	for (const char *p = s;; p++) {
		if (*p == '\0' || (*p == ',' && !quoted)) {
			if (n == ITEMS_MAX) {
				memmove(items, items + 1, (ITEMS_MAX - 1) * sizeof(*items));
				n--;
			}
			items[n].p = start;
			items[n].n = (size_t)(p - start);
			trim(&items[n]);
			n++;
			if (*p == '\0')
				break;
			start = p + 1;
		} else if (*p == '"') {
			quoted = !quoted;
		} else if (*p == '\\' && quoted) {
			if (p[1] == '\0')
				return -1;
			p++;
		}
	}
	return quoted ? -1 : n;
}

/* RFC 7230 tchar. */
static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 for "_" 1*(ALPHA / DIGIT / "." / "_" / "-") (RFC 7239 obfnode, obfport). */
static int
is_obf(const char *s, size_t n)
{
	if (n < 2 || s[0] != '_')
		return 0;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* 1 for a port: 1..65535 in at most 5 digits. */
static int
is_port(const char *s, size_t n)
{
	long v = 0;

	if (n == 0 || n > 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* Parses n bytes at s as a whole address into *a. */
static int
addr_of(const char *s, size_t n, struct fb_addr *a)
{
	char buf[FB_ADDR_TEXT_MAX];

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return fb_addr_parse(buf, a);
}

/*
 * A node: "unknown", "_obf", IPV4, IPV4:PORT, "[IPV6]" or "[IPV6]:PORT";
 * bare IPV6 too when bare_v6 (X-Forwarded-For writes it so; RFC 7239
 * wants brackets). obf_port allows "_obf" ports (RFC 7239 only).
 */
static enum node_kind
node_parse(const char *s, size_t n, int bare_v6, int obf_port, struct fb_addr *a)
{
	const char *colon, *port = NULL;
	size_t alen = n, plen = 0;

	if (n == 7 && strncasecmp(s, "unknown", 7) == 0)
		return NODE_UNKNOWN;
	if (n > 0 && s[0] == '_')
		return is_obf(s, n) ? NODE_HIDDEN : NODE_BAD;
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (close == NULL)
			return NODE_BAD;
		if ((size_t)(close - s) + 1 < n) {
			if (close[1] != ':')
				return NODE_BAD;
			port = close + 2;
			plen = n - (size_t)(port - s);
		}
		/* Brackets hold IPv6 text only (an IPv4-mapped one becomes IPv4). */
		if (memchr(s + 1, ':', (size_t)(close - s - 1)) == NULL ||
		    !addr_of(s + 1, (size_t)(close - s - 1), a))
			return NODE_BAD;
	} else {
		colon = memchr(s, ':', n);
		if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)) != NULL) {
			/* Two colons or more: a bare IPv6 address. */
			if (!bare_v6 || !addr_of(s, n, a))
				return NODE_BAD;
			return NODE_ADDR;
		}
		if (colon != NULL) {
			alen = (size_t)(colon - s);
			port = colon + 1;
			plen = n - alen - 1;
		}
		if (!addr_of(s, alen, a) || a->v6)
			return NODE_BAD;
	}
	if (port != NULL && !is_port(port, plen) && !(obf_port && is_obf(port, plen)))
		return NODE_BAD;
	return NODE_ADDR;
}

/* Forwarded's parameters of one element, unquoted into the arena. */
struct fwd_elem {
	const char *for_, *proto, *host, *by;
};

/*
 * Parses one Forwarded element: pairs "name=value" separated by ";" (empty
 * pairs allowed, white space around ";" tolerated), value a token or a
 * quoted string. 0 on a syntax error or a repeated parameter (RFC 7239 4).
 */
static int
elem_parse(struct fb_arena *arena, const struct item *it, struct fwd_elem *e)
{
	const char *p = it->p, *end = it->p + it->n;

	memset(e, 0, sizeof(*e));
	while (p < end) {
		const char *name = p, **slot = NULL;
		size_t nlen;
		char *v;
		size_t vn = 0;

		if (*p == ';' || is_ows(*p)) {
			p++;
			continue;
		}
		while (p < end && is_tchar((unsigned char)*p))
			p++;
		nlen = (size_t)(p - name);
		if (nlen == 0 || p >= end || *p != '=')
			return 0;
		p++;
		if (nlen == 3 && strncasecmp(name, "for", 3) == 0)
			slot = &e->for_;
		else if (nlen == 5 && strncasecmp(name, "proto", 5) == 0)
			slot = &e->proto;
		else if (nlen == 4 && strncasecmp(name, "host", 4) == 0)
			slot = &e->host;
		else if (nlen == 2 && strncasecmp(name, "by", 2) == 0)
			slot = &e->by; /* read (once) and not used */
		/* Extension parameters: read and dropped. */
		v = fb_arena_alloc(arena, (size_t)(end - p) + 1);
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					return 0;
				v[vn++] = *p;
			}
			if (p >= end)
				return 0;
			p++;
		} else {
			while (p < end && is_tchar((unsigned char)*p))
				v[vn++] = *p++;
			if (vn == 0)
				return 0;
		}
		v[vn] = '\0';
		if (slot != NULL) {
			if (*slot != NULL)
				return 0;
			*slot = v;
		}
		while (p < end && is_ows(*p))
			p++;
		if (p < end && *p != ';')
			return 0;
	}
	return 1;
}

/* "http" or "https" (any case) into out, else 0. */
static int
proto_take(const char *v, size_t n, char *out)
{
	if (n == 4 && strncasecmp(v, "http", 4) == 0)
		memcpy(out, "http", 5);
	else if (n == 5 && strncasecmp(v, "https", 5) == 0)
		memcpy(out, "https", 6);
	else
		return 0;
	return 1;
}

/* A host name or address with an optional port, of a safe alphabet, into out; else 0. */
static int
host_take(const char *v, size_t n, char *out)
{
	if (n == 0 || n > FB_HTTP_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
			return 0;
	}
	memcpy(out, v, n);
	out[n] = '\0';
	return 1;
}

static const char *
node_reason(enum node_kind k)
{
	switch (k) {
	case NODE_UNKNOWN:
		return "a proxy forwarded for an unknown client";
	case NODE_HIDDEN:
		return "a proxy forwarded for an obfuscated identifier";
	case NODE_ADDR:
	case NODE_BAD:
	default:
		return "not an IP address";
	}
}

/*
 * The walk, right to left: each entry was written by the hop to its right,
 * trusted so far. The first untrusted address is the client; when every
 * hop is trusted, the leftmost. An entry that is no address stops the walk
 * at the trusted hop that wrote it (never a garbage address). Returns the
 * index where it stopped (-1: none looked at) and sets out->client.
 */
static int
walk(const struct fb_http_proxies *tp, const struct fb_addr *peer, struct item *items, int n,
    int forwarded, struct fb_arena *arena, struct fb_http_origin *out)
{
	struct fb_addr cur = *peer, a;
	int i, hops = 0;

	for (i = n - 1; i >= 0; i--) {
		enum node_kind k;
		struct fwd_elem e;

		/* Empty list elements are ignored (RFC 9110 5.6.1). */
		if (items[i].n == 0)
			continue;
		if (forwarded) {
			if (!elem_parse(arena, &items[i], &e)) {
				out->reason = "malformed Forwarded element";
				break;
			}
			if (e.for_ == NULL) {
				out->reason = "a Forwarded element without for=";
				break;
			}
			k = node_parse(e.for_, strlen(e.for_), 0, 1, &a);
		} else {
			k = node_parse(items[i].p, items[i].n, 1, 0, &a);
		}
		if (k != NODE_ADDR) {
			out->reason = node_reason(k);
			break;
		}
		cur = a;
		if (!trusted(tp, &a)) {
			fb_addr_format(&cur, out->client, sizeof(out->client));
			out->hops = hops;
			return i;
		}
		if (++hops >= HOPS_MAX) {
			out->reason = "too many trusted proxies in a row";
			break;
		}
	}
	fb_addr_format(&cur, out->client, sizeof(out->client));
	out->hops = hops;
	return i < 0 ? 0 : i;
}

/* The values of every header field name, joined with ", " (NULL when none), in the arena. */
static const char *
joined(struct fb_arena *arena, const struct evkeyvalq *h, const char *name)
{
	const struct evkeyval *kv;
	char *s = NULL;

	TAILQ_FOREACH(kv, h, next) {
		if (strcasecmp(kv->key, name) != 0)
			continue;
		s = s == NULL ? fb_arena_printf(arena, "%s", kv->value)
		              : fb_arena_printf(arena, "%s, %s", s, kv->value);
	}
	return s;
}

/* The rightmost entry of a list header (the nearest proxy's) into *it; 0 when none. */
static int
rightmost(const char *v, struct item *it)
{
	const char *c;

	if (v == NULL)
		return 0;
	c = strrchr(v, ',');
	it->p = c != NULL ? c + 1 : v;
	it->n = strlen(it->p);
	trim(it);
	return it->n > 0;
}

void
fb_http_origin_resolve(const struct fb_http_proxies *tp, const char *peer,
    const struct evkeyvalq *h, struct fb_arena *arena, struct fb_http_origin *out)
{
	struct fb_addr pa;
	struct item *items = NULL, it;
	const char *fwd, *xff, *v;
	int n, at;

	memset(out, 0, sizeof(*out));
	snprintf(out->client, sizeof(out->client), "%s", peer != NULL ? peer : "-");
	if (tp == NULL || tp->n == 0 || peer == NULL || !fb_addr_parse(peer, &pa) ||
	    !trusted(tp, &pa))
		return; /* SECURITY: an untrusted peer's forwarding headers are not read at all */
	out->trusted = 1;
	/* The proxy's request id, kept beside ours; only a safe alphabet passes. */
	v = evhttp_find_header(h, "X-Request-Id");
	if (v != NULL && fb_http_reqid_check(v))
		snprintf(out->upstream_id, sizeof(out->upstream_id), "%s", v);
	else if (v != NULL)
		out->reason = "malformed X-Request-Id";
	fwd = joined(arena, h, "Forwarded");
	xff = fwd == NULL ? joined(arena, h, "X-Forwarded-For") : NULL;
	if (fwd == NULL && xff == NULL)
		goto scheme;
	items = fb_arena_alloc(arena, ITEMS_MAX * sizeof(*items));
	n = split_list(fwd != NULL ? fwd : xff, items);
	if (n < 0) {
		out->reason = fwd != NULL ? "malformed Forwarded (a quote is not closed)"
		                          : "malformed X-Forwarded-For (a quote is not closed)";
		goto scheme;
	}
	at = walk(tp, &pa, items, n, fwd != NULL, arena, out);
	if (fwd != NULL) {
		struct fwd_elem e;

		/* proto= and host= of the element that named the client, written by a trusted hop.
		 */
		if (at < n && elem_parse(arena, &items[at], &e)) {
			if (e.proto != NULL && !proto_take(e.proto, strlen(e.proto), out->proto))
				out->reason = "Forwarded proto= is not http or https";
			if (e.host != NULL && !host_take(e.host, strlen(e.host), out->host))
				out->reason = "malformed Forwarded host=";
		}
		return;
	}
scheme:
	if (rightmost(evhttp_find_header(h, "X-Forwarded-Proto"), &it) &&
	    !proto_take(it.p, it.n, out->proto))
		out->reason = "X-Forwarded-Proto is not http or https";
	if (rightmost(evhttp_find_header(h, "X-Forwarded-Host"), &it) &&
	    !host_take(it.p, it.n, out->host))
		out->reason = "malformed X-Forwarded-Host";
}

/*
 * The scheme the proxy saw against server.public_url's, once per process
 * each way: https:// with requests reaching the proxy over http means
 * Secure cookies browsers never send back (sign-in loops); http:// with
 * https at the proxy means cookies that are not Secure.
 */
static void
scheme_check(struct fb_http_req *req)
{
	static int warned_http, warned_https;
	int fwd_https;

	if (req->fwd_proto == NULL)
		return;
	fwd_https = strcmp(req->fwd_proto, "https") == 0;
	if (req->tls && !fwd_https && !warned_http) {
		warned_http = 1;
		fb_rlog(req, FB_LOG_WARN,
		    "proxy %s forwarded a request it received over http, but "
		    "server.public_url is https: browsers will not send the "
		    "Secure cookies back (redirect http to https at the proxy)",
		    req->peer);
	} else if (!req->tls && fwd_https && !warned_https) {
		warned_https = 1;
		fb_rlog(req, FB_LOG_WARN,
		    "proxy %s forwarded a request it received over https, "
		    "but server.public_url is http: cookies are not Secure and "
		    "no HSTS is sent (set server.public_url to the https:// "
		    "address)",
		    req->peer);
	}
}

void
fb_http_req_origin_apply(struct fb_http_req *req, const struct fb_http_proxies *tp)
{
	struct fb_http_origin o;

	snprintf(req->peer_buf, sizeof(req->peer_buf), "%s", req->client);
	req->peer = req->client = req->peer_buf;
	fb_log_peer_set(NULL);
	if (tp == NULL || tp->n == 0)
		return;
	fb_http_origin_resolve(tp, req->client, evhttp_request_get_input_headers(req->ev),
	    fb_http_req_arena(req), &o);
	if (!o.trusted)
		return;
	req->proxied = 1;
	req->client = fb_arena_printf(fb_http_req_arena(req), "%s", o.client);
	if (o.upstream_id[0] != '\0')
		req->upstream_id = fb_arena_printf(fb_http_req_arena(req), "%s", o.upstream_id);
	if (o.proto[0] != '\0')
		req->fwd_proto = fb_arena_printf(fb_http_req_arena(req), "%s", o.proto);
	if (o.host[0] != '\0')
		req->fwd_host = fb_arena_printf(fb_http_req_arena(req), "%s", o.host);
	/* SECURITY: a garbage hop is never a client address; say why the proxy's is used. */
	if (o.reason != NULL)
		fb_rlog(req, FB_LOG_WARN,
		    "forwarding headers from proxy %s partly ignored: %s "
		    "(client taken as %s)",
		    req->peer, o.reason, req->client);
	scheme_check(req);
	fb_http_req_log_context(req);
}

void
fb_http_req_log_context(const struct fb_http_req *req)
{
	fb_log_peer_set(
	    req->peer != NULL && strcmp(req->peer, req->client) != 0 ? req->peer : NULL);
}

const char *
fb_http_req_peer(const struct fb_http_req *req)
{
	return req->peer != NULL ? req->peer : req->client;
}

void
fb_http_account_req(const struct fb_http_req *req, int code, size_t bytes)
{
	const char *kv[FB_HTTP_ACCOUNT_EXTRA_MAX * 2 + 1];
	size_t i = 0;

	if (req->peer != NULL && strcmp(req->peer, req->client) != 0) {
		kv[i++] = "peer";
		kv[i++] = req->peer;
	}
	if (req->upstream_id != NULL) {
		kv[i++] = "upstream_request_id";
		kv[i++] = req->upstream_id;
	}
	if (req->fwd_proto != NULL) {
		kv[i++] = "forwarded_proto";
		kv[i++] = req->fwd_proto;
	}
	if (req->fwd_host != NULL) {
		kv[i++] = "forwarded_host";
		kv[i++] = req->fwd_host;
	}
	kv[i] = NULL;
	fb_http_account(req->env, req->method, req->route, req->path, code, bytes, req->start_us,
	    req->client, req->id, kv);
	fb_log_peer_set(NULL); /* the request is over */
}
