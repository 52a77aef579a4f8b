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
/*
 * A generated request id: a per-worker random prefix of 12 bytes (16
 * base64url characters, drawn when the server starts, after the fork)
 * and a 36-bit per-worker counter (6 characters): 22 characters.
 */
#define FB_HTTP_REQID_PREFIX_BYTES 12
#define FB_HTTP_REQID_PREFIX_LEN 16
#define FB_HTTP_REQID_SEQ_LEN 6
/* Room for the text of fb_http_security_headers_text. */
#define FB_HTTP_SECURITY_TEXT_MAX 512

struct fb_http_conn;

/* ---- behind a load balancer (proxy.c) ---- */

/* Longest forwarded host (X-Forwarded-Host, Forwarded host=) kept. */
#define FB_HTTP_HOST_MAX 255

/* server.trusted_proxies, parsed. */
struct fb_http_proxies {
	struct fb_addr_cidr *c;
	size_t n;
};

/* What a request's forwarding headers say (fb_http_origin_resolve). */
struct fb_http_origin {
	int trusted;			 /* the peer is a trusted proxy: the rest was read */
	char client[FB_ADDR_TEXT_MAX];	 /* the client's address (the peer's when not trusted) */
	char proto[8];			 /* "http", "https" or "" */
	char host[FB_HTTP_HOST_MAX + 1]; /* host[:port] or "" */
	char upstream_id[FB_HTTP_REQID_MAX + 1]; /* the proxy's X-Request-Id or "" */
	int hops;			 /* trusted proxies walked past in the list */
	const char *reason; /* static text: why something was ignored, NULL when nothing was */
};

/*
 * Parses n addresses or CIDR blocks (borrowed) into *out (members new:
 * fb_http_proxies_cleanup). FB_ERR_INVALID on the first that is neither.
 */
enum fb_status fb_http_proxies_parse(char *const *list, size_t n, struct fb_http_proxies *out,
    struct fb_err *err);
/* Frees tp's members. NULL is a no-op. */
void fb_http_proxies_cleanup(struct fb_http_proxies *tp);
/*
 * Reads the forwarding headers of h when peer (an address, borrowed) is
 * in tp: the client is the rightmost untrusted address of Forwarded (RFC
 * 7239) or, without it, X-Forwarded-For; proto and host come from the
 * element naming the client (Forwarded) or the rightmost X-Forwarded-Proto
 * and X-Forwarded-Host. A malformed or non-address entry stops the walk at
 * the trusted hop that wrote it (never a garbage address) and sets reason.
 * From any other peer nothing is read: out->client is peer. Scratch memory
 * comes from arena. Never fails.
 */
void fb_http_origin_resolve(const struct fb_http_proxies *tp, const char *peer,
    const struct evkeyvalq *h, struct fb_arena *arena, struct fb_http_origin *out);
/*
 * Sets req's client (the derived one), peer, upstream id, forwarded proto
 * and host from its headers and tp (borrowed; NULL or empty: the peer is
 * the client); logs a reason when a trusted proxy's headers were ignored.
 */
void fb_http_req_origin_apply(struct fb_http_req *req, const struct fb_http_proxies *tp);
/*
 * Makes this thread's audit lines name req's peer beside its client
 * (fb_log_peer_set) until the request's access line: at the start of the
 * request and again when a deferred one resumes.
 */
void fb_http_req_log_context(const struct fb_http_req *req);

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
	char *path_buf;	   /* what path points to when decoded (owned) */
	const char *route; /* pattern or FB_HTTP_ROUTE_UNMATCHED */
	struct evkeyvalq query;
	int query_parsed;
	const char *body;
	size_t body_len;
	const char *client; /* the client: the peer, or what a trusted proxy forwarded for */
	const char *peer;   /* the connection's peer: peer_buf */
	char peer_buf[64];  /* a copy: the connection record may go before a deferred reply */
	const char *upstream_id; /* a trusted proxy's X-Request-Id, or NULL */
	const char *fwd_proto;	 /* a trusted proxy's forwarded scheme, or NULL */
	const char *fwd_host;	 /* a trusted proxy's forwarded host, or NULL */
	int proxied;		 /* the peer is in server.trusted_proxies */
	char id[FB_HTTP_REQID_MAX + 1]; /* ours, always generated */
	int tls; /* the site is https: TLS here, or server.public_url https:// (a TLS proxy) */
	int own_csp; /* the handler set its own Content-Security-Policy */
	int close; /* the reply closes the connection (framing error, CONNECT) */
	int deferred; /* a CPU job runs for it (fb_http_req_defer) */
	int gone;     /* the client went away meanwhile: the reply is dropped */
	int64_t start_us;
};

/*
 * The "Name: value\r\n" lines every response carries: the security
 * headers, Strict-Transport-Security when tls (the site is https) and
 * server.hsts_max_age is not 0, Cache-Control: no-store.
 * Without the default Content-Security-Policy when own_csp (the handler
 * set its own). Static text, built once; its length in *len (may be NULL).
 */
const char *fb_http_security_headers_text(int tls, int own_csp, size_t *len);
/*
 * The max-age of Strict-Transport-Security (seconds; 0: not sent), for
 * this process's replies from now on (a worker's server sets it at start).
 */
void fb_http_hsts_set(int64_t max_age);
/* 1 when the site is https: tls (TLS here), or conf's public_url is https://. */
int fb_http_site_https(const struct fb_conf *conf, int tls);
/* Adds the same headers to an evhttp header list. */
void fb_http_security_headers_add(struct evkeyvalq *h, int tls, int own_csp);

/*
 * Server side of a reply whose headers (but the security ones and
 * X-Request-Id, which the server adds) and body are set: sends it with
 * code, logs the access line (bytes of body), counts it, frees req.
 */
void fb_http_req_send(struct fb_http_req *req, int code, size_t bytes);
/* 1 when the reply to req closes the connection (draining, or req->close). */
int fb_http_req_closing(const struct fb_http_req *req);

/* ---- the CPU pool of deferred replies (defer.c) ---- */

struct fb_http_pool;
struct fb_net_http;

/*
 * Starts nthreads threads on a pool holding at most max jobs (queued,
 * running or waiting for their completion), whose completions run on
 * base's loop; idle(idle_arg) (may be NULL) is called on the loop each time
 * the last pending job completed. New in *out (fb_http_pool_free).
 * FB_ERR_IO / FB_ERR_INTERNAL when the eventfd or a thread cannot be made.
 */
enum fb_status fb_http_pool_new(struct event_base *base, size_t nthreads, size_t max,
    void (*idle)(void *arg), void *idle_arg, struct fb_http_pool **out, struct fb_err *err);
/*
 * Queues work(arg) for a thread; done(req, arg) then runs on the loop
 * (after fb_http_req_resume(req)). req (may be NULL) is borrowed. FB_ERR_LIMIT
 * when max jobs are pending (nothing queued).
 */
enum fb_status fb_http_pool_submit(struct fb_http_pool *p, struct fb_http_req *req,
    fb_http_work_fn *work, fb_http_done_fn *done, void *arg, struct fb_err *err);
/* Jobs submitted whose completion has not run yet; 0 for NULL. */
size_t fb_http_pool_pending(const struct fb_http_pool *p);
/*
 * Stops the threads (after the job each is running), then calls done(NULL,
 * arg) for every job whose completion did not run, and drops its request
 * (fb_http_req_drop). NULL is a no-op.
 */
void fb_http_pool_free(struct fb_http_pool *p);
/* server.c: the request's CPU job is over (its completion runs next). NULL is a no-op. */
void fb_http_req_resume(struct fb_http_req *req);
/*
 * server.c: the worker's outbound HTTPS client (net/), made on the server's
 * event base at first use; freed with the server (cancelling what runs).
 */
struct fb_net_http *fb_http_req_net(struct fb_http_req *req);
/*
 * server.c: the handler returns without replying while an outbound call
 * runs for req; the call's completion calls fb_http_req_resume, then replies
 * (a client gone meanwhile: the reply is dropped).
 */
void fb_http_req_wait(struct fb_http_req *req);
/* server.c: frees a deferred request that will never be answered. NULL is a no-op. */
void fb_http_req_drop(struct fb_http_req *req);

/* Most extra fields of an access line. */
#define FB_HTTP_ACCOUNT_EXTRA_MAX 4
/*
 * Writes the access log line and counts the request in the metrics. extra
 * (may be NULL): further "name", "value" pairs for the line, NULL-ended,
 * at most FB_HTTP_ACCOUNT_EXTRA_MAX pairs.
 */
void fb_http_account(const struct fb_http_env *env, const char *method, const char *route,
    const char *path, int code, size_t bytes, int64_t start_us, const char *client,
    const char *reqid, const char *const *extra);
/*
 * fb_http_account for req: client is the derived client; the connection's
 * peer (when another), the proxy's request id and the forwarded scheme and
 * host are extra fields (proxy.c).
 */
void fb_http_account_req(const struct fb_http_req *req, int code, size_t bytes);

#ifdef FB_UNIT_TESTS
/* server.c: bytes of the request line and header fields, for max_header_bytes. */
size_t fb_http_header_bytes(const char *method, const char *uri, const struct evkeyvalq *h);
/* server.c: 0 when the request's framing headers are sound, else 400 or 501. */
int fb_http_framing_check(const struct evkeyvalq *h);
/* server.c: evhttp's own response with our headers, its length and Connection: close. */
enum fb_status fb_http_own_reply_rewrite(const char *resp, size_t len, const char *extra,
    struct fb_buf *out, struct fb_err *err);
/* server.c: writes prefix (FB_HTTP_REQID_PREFIX_LEN characters) and seq as a request id. */
void fb_http_reqid_format(const char *prefix, uint64_t seq, char *out);
/* server.c: a worker's connection cap for a descriptor limit of nofile. */
size_t fb_http_conn_cap(uint64_t nofile);
#endif

/* ---- client certificates (mtls.c, RFC 8705) ---- */

struct fb_crypto_cert;
/* Most bytes of a proxy's client-certificate header read. */
#define FB_HTTP_CLIENT_CERT_HEADER_MAX (64 * 1024)
/*
 * Reads a TLS-ending proxy's client-certificate header: format
 * FB_CONF_MTLS_XFCC (Envoy's x-forwarded-client-cert: of the last element,
 * the one the nearest proxy appended, Chain or else Cert, quoted or not)
 * or FB_CONF_MTLS_PEM (nginx's $ssl_client_escaped_cert); the value
 * url-decoded into *pem (new). FB_ERR_INVALID: malformed, too long, no
 * certificate, or not url-encoded PEM.
 */
enum fb_status fb_http_client_cert_header_parse(const char *value, enum fb_conf_mtls_header format,
    char **pem, struct fb_err *err);
/*
 * The client certificate of req (new, fb_crypto_cert_free), or NULL: from
 * oidc.mtls.header when the peer is a trusted proxy (a header from another
 * peer is ignored, a malformed one too, each with an audit line), else
 * from our TLS handshake.
 */
struct fb_crypto_cert *fb_http_req_client_cert(struct fb_http_req *req);
/* The certificate the TLS client presented on req's connection (new), or NULL. */
struct fb_crypto_cert *fb_http_req_tls_cert(const struct fb_http_req *req);

#endif
