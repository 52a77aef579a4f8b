/* SPDX-License-Identifier: Apache-2.0 */
/* http: the HTTP front end of one worker: listeners, router, request context, replies, metrics. */
#ifndef FB_HTTP_HTTP_H
#define FB_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"

struct event_base;

struct fb_http_req;	/* one request being answered; opaque */
struct fb_http_router;	/* path patterns -> handlers */
struct fb_http_server;	/* one worker's evhttp with its listeners */
struct fb_http_metrics; /* counters in a segment shared by every process */

/*
 * What handlers may use while a worker runs; set up by the daemon before
 * the server is created and immutable afterwards (a reload starts new
 * workers with a new one). Every member is borrowed and must outlive the
 * server. Members other than conf may be NULL when not loaded.
 */
struct fb_http_env {
	const struct fb_conf *conf;
	struct fb_store *store;
	const struct fb_keyring *keyring;
	const struct fb_sealer *sealer;
	struct fb_http_metrics *metrics;
};

/* ---- methods and routes -------------------------------------------------- */

/* Request methods, as bits so a route can accept several. */
enum fb_http_method {
	FB_HTTP_OTHER = 0, /* anything else: never routed, answered 405 or 501 */
	FB_HTTP_GET = 1 << 0,
	FB_HTTP_HEAD = 1 << 1,
	FB_HTTP_POST = 1 << 2,
	FB_HTTP_PUT = 1 << 3,
	FB_HTTP_DELETE = 1 << 4,
	FB_HTTP_PATCH = 1 << 5,
	FB_HTTP_OPTIONS = 1 << 6,
};

/*
 * A handler answers req with one of the fb_http_reply* functions before it
 * returns, or hands CPU work to fb_http_req_defer whose completion replies
 * (req is borrowed and invalid after the reply). arg is the pointer given
 * to fb_http_router_add.
 */
typedef void fb_http_handler_fn(struct fb_http_req *req, void *arg);

/* The result of fb_http_router_match. */
enum fb_http_route_result {
	FB_HTTP_ROUTE_FOUND = 0,
	FB_HTTP_ROUTE_NOT_FOUND,	/* 404 */
	FB_HTTP_ROUTE_BAD_METHOD,	/* 405; allowed methods in *allow */
};

/* Route label of requests that match no pattern (metrics, access log). */
#define FB_HTTP_ROUTE_UNMATCHED "unmatched"

/* Distinct audit event names counted (they are fixed strings in the code). */
#define FB_HTTP_AUDIT_EVENTS_MAX 96
/* Most routes a router holds (so metrics cardinality stays bounded). */
#define FB_HTTP_ROUTES_MAX 64

/* New, empty router (fb_http_router_free). */
struct fb_http_router *fb_http_router_new(void);
/* NULL is a no-op. */
void fb_http_router_free(struct fb_http_router *r);
/*
 * Adds a route. pattern (copied) is an exact path ("/healthz") or a prefix:
 * a path ending in a slash and an asterisk, which matches the path up to
 * its slash and everything below it ("/upstream/" + "*" matches
 * "/upstream/" and "/upstream/a/acs"). An exact pattern wins over a prefix; the longest prefix wins over a
 * shorter one. methods is a mask of enum fb_http_method (GET implies HEAD).
 * fn and arg are borrowed. FB_ERR_INVALID (err filled) when pattern does not
 * start with '/', is already present, or methods is 0; FB_ERR_LIMIT when
 * FB_HTTP_ROUTES_MAX routes exist.
 */
enum fb_status fb_http_router_add(struct fb_http_router *r, const char *pattern,
    unsigned methods, fb_http_handler_fn *fn, void *arg, struct fb_err *err);
/*
 * Finds the route for (method, path). FB_HTTP_ROUTE_FOUND: *fn and *arg set.
 * Whatever the result, *label (may be NULL) is set to the route pattern
 * (borrowed, valid while r lives) or FB_HTTP_ROUTE_UNMATCHED, and *allow
 * (may be NULL) to the methods the path accepts (0 when not found).
 */
enum fb_http_route_result fb_http_router_match(const struct fb_http_router *r,
    enum fb_http_method method, const char *path, fb_http_handler_fn **fn, void **arg,
    const char **label, unsigned *allow);
/* Parses a method token ("GET"); FB_HTTP_OTHER when not one we know. */
enum fb_http_method fb_http_method_parse(const char *s);
/* Writes "GET, HEAD, POST" style text for a mask into out (size >= 64). */
void fb_http_methods_format(unsigned methods, char *out, size_t outlen);

/* ---- request accessors (all borrowed, valid until the reply) --------------- */

/* The method as sent ("GET") and as a bit. */
const char *fb_http_req_method(const struct fb_http_req *req);
enum fb_http_method fb_http_req_method_id(const struct fb_http_req *req);
/* The path, percent-decoded, without the query string. */
const char *fb_http_req_path(const struct fb_http_req *req);
/* The route pattern that matched, or FB_HTTP_ROUTE_UNMATCHED. */
const char *fb_http_req_route(const struct fb_http_req *req);
/* The first value of query parameter name (decoded), NULL when absent. */
const char *fb_http_req_query(const struct fb_http_req *req, const char *name);
/* The first value of header name (case-insensitive), NULL when absent. */
const char *fb_http_req_header(const struct fb_http_req *req, const char *name);
/*
 * The body (at most conf->max_body_bytes, NUL-terminated after the last
 * byte; "" when none) and its length in *len (may be NULL).
 */
const char *fb_http_req_body(const struct fb_http_req *req, size_t *len);
/*
 * The client's address without port ("127.0.0.1", "::1"): the peer's, or
 * what a trusted proxy (server.trusted_proxies) forwarded for.
 */
const char *fb_http_req_client(const struct fb_http_req *req);
/* The connection's peer address (a proxy's when one forwarded for the client). */
const char *fb_http_req_peer(const struct fb_http_req *req);
/*
 * Our request id (always generated; a trusted proxy's X-Request-Id is
 * logged beside it as upstream_request_id).
 */
const char *fb_http_req_id(const struct fb_http_req *req);
/*
 * 1 when the site is served over https: TLS here, or server.public_url
 * https:// (TLS ended at a proxy). Cookies are then Secure and __Host-.
 */
int fb_http_req_tls(const struct fb_http_req *req);
/* The worker's environment (borrowed). */
const struct fb_http_env *fb_http_req_env(const struct fb_http_req *req);
/* An arena freed when the request completes: for per-request allocations. */
struct fb_arena *fb_http_req_arena(struct fb_http_req *req);

/* Per-request logging: prefixes the function and the request id. */
#define fb_rlog(req, lvl, ...)                                                           \
	do {                                                                             \
		if ((lvl) >= fb_log_min_level)                                           \
			fb_log_write((lvl), "app", __func__, fb_http_req_id(req), NULL,  \
			    __VA_ARGS__);                                                \
	} while (0)
/* Logs err (file:line, message) with the request id. */
#define fb_rlog_err(req, err) fb_log_err(FB_LOG_ERROR, fb_http_req_id(req), (err))

/* ---- replies --------------------------------------------------------------- */

/*
 * Adds a response header (name and value copied). Values with CR or LF are
 * refused (logged, not added): SECURITY: no header injection.
 */
void fb_http_reply_header(struct fb_http_req *req, const char *name, const char *value);
/*
 * Sends the reply: status code (100..599), content type (NULL: none) and
 * body of len bytes (borrowed, copied; NULL when len is 0). Security headers
 * and X-Request-Id are added to every reply. For HEAD the body is omitted.
 * req is finished afterwards: do not touch it again.
 */
void fb_http_reply(struct fb_http_req *req, int code, const char *content_type,
    const void *body, size_t len);
/*
 * Replies with the HTTP status mapped from s (the one table in reply.c) and
 * a small text/plain body: public (borrowed; NULL = the status' reason
 * phrase), never err's message. err (may be NULL) is logged with the
 * request id. req is finished afterwards.
 */
void fb_http_reply_error(struct fb_http_req *req, enum fb_status s, const char *public,
    const struct fb_err *err);
/* The HTTP status for s (FB_OK -> 200, FB_ERR_NOTFOUND -> 404, ... default 500). */
int fb_http_status_for(enum fb_status s);
/*
 * The one rule for a failing store (or the process itself): 1 when s, from
 * a store call, means the store cannot answer now (FB_ERR_IO: unreachable,
 * locked, failing; FB_ERR_INTERNAL, FB_ERR_NOMEM). Such a request decides
 * nothing (a session is neither valid nor absent) and is answered 503.
 * Every 503 (fb_http_reply and all built on it) carries
 * "Retry-After: FB_HTTP_RETRY_AFTER" unless the handler set its own.
 */
int fb_http_store_down(enum fb_status s);
#define FB_HTTP_RETRY_AFTER "5"
/* The reason phrase for an HTTP status ("Not Found"); "Unknown" when not known. Static. */
const char *fb_http_reason(int code);

/*
 * 1 when id may be used as a request id: 1..64 characters of
 * [A-Za-z0-9._-]. SECURITY: anything else from a peer is replaced.
 */
int fb_http_reqid_check(const char *id);

/* ---- deferred replies: CPU work off the event loop ------------------------ */

/*
 * The CPU part of a request (hashing a password), run on a thread of the
 * worker's pool (server.cpu_threads). It may use only arg: never a
 * request, the store, a libevent object or anything else of the loop.
 */
typedef void fb_http_work_fn(void *arg);
/*
 * Runs on the event loop thread once work(arg) returned, and owns arg.
 * req is the request: reply to it as a handler would (it may also defer
 * again). When the client went away meanwhile, req is still valid, the
 * reply is dropped (fb_http_req_gone). req is NULL when the server is
 * being freed before the job ran or completed: only free arg then.
 */
typedef void fb_http_done_fn(struct fb_http_req *req, void *arg);
/*
 * Instead of replying, a handler hands work(arg) to the worker's pool and
 * returns; done(req, arg) replies later (see above). A drain waits for
 * pending jobs. FB_ERR_LIMIT (err filled) when server.cpu_queue jobs are
 * pending: nothing is queued, the handler still owns arg and must reply
 * (503 with Retry-After).
 */
enum fb_status fb_http_req_defer(struct fb_http_req *req, fb_http_work_fn *work,
    fb_http_done_fn *done, void *arg, struct fb_err *err);
/* 1 when the client closed the connection while req was deferred. */
int fb_http_req_gone(const struct fb_http_req *req);

/* ---- metrics (shared by the master, workers and jobs) ---------------------- */

/*
 * Creates the shared counters segment (mmap MAP_SHARED|MAP_ANONYMOUS), to
 * be called by the master before forking so every child sees the same
 * counters. New in *out (fb_http_metrics_free, once per process that
 * holds the mapping). FB_ERR_IO when mmap fails (err filled).
 */
enum fb_status fb_http_metrics_new(struct fb_http_metrics **out, struct fb_err *err);
/* Unmaps the segment in this process. NULL is a no-op. */
void fb_http_metrics_free(struct fb_http_metrics *m);
/*
 * Records one request: route label (unknown labels, beyond the segment's
 * capacity of FB_HTTP_ROUTES_MAX + 1, count as FB_HTTP_ROUTE_UNMATCHED),
 * HTTP status and duration in seconds. Lock-free (C11 atomics).
 */
void fb_http_metrics_observe(struct fb_http_metrics *m, const char *route, int code,
    double seconds);
/* Sets the fedbroker_workers gauge; adds one to fedbroker_worker_restarts_total. */
void fb_http_metrics_set_workers(struct fb_http_metrics *m, int n);
void fb_http_metrics_worker_restarted(struct fb_http_metrics *m);
/* Why a worker stopped accepting connections. */
enum fb_http_pause {
	FB_HTTP_PAUSE_DESCRIPTORS = 0, /* accept failed: EMFILE, ENFILE */
	FB_HTTP_PAUSE_CONNECTIONS,     /* server.max_connections, none idle to close */
};
/* Adds one to fedbroker_http_accept_paused_total{reason}. */
void fb_http_metrics_accept_paused(struct fb_http_metrics *m, enum fb_http_pause why);
/* Adds one to fedbroker_http_idle_closed_total (closed to make room). */
void fb_http_metrics_idle_closed(struct fb_http_metrics *m);
/*
 * Counts one audit event by name (fedbroker_audit_events_total{event});
 * the signature of fb_log_audit_hook_set, arg being the metrics. Past
 * FB_HTTP_AUDIT_EVENTS_MAX names, further ones count as "other".
 */
void fb_http_metrics_audit(const char *event, void *arg);
/*
 * Appends the Prometheus text exposition (format 0.0.4) of every counter
 * to out. FB_ERR_LIMIT when out's bound is reached (err filled).
 */
enum fb_status fb_http_metrics_render(struct fb_http_metrics *m, struct fb_buf *out,
    struct fb_err *err);
/* The Content-Type of the exposition. */
#define FB_HTTP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- operations endpoints ---------------------------------------------------- */

/*
 * Registers /healthz, /readyz and (when conf->metrics_enabled and no
 * conf->metrics_listen is set) /metrics on
 * r; the handlers read fb_http_req_env(). FB_ERR_INVALID when a route is
 * already present (err filled).
 */
enum fb_status fb_http_ops_register(struct fb_http_router *r, const struct fb_conf *conf,
    struct fb_err *err);
/*
 * Registers /metrics (when conf->metrics_enabled) on r, the router of the
 * metrics.listen listener. Wherever it is served, /metrics answers 401
 * with WWW-Authenticate: Bearer unless the request carries conf->metrics_token
 * as a bearer token (when set). FB_ERR_INVALID as above.
 */
enum fb_status fb_http_ops_metrics_register(struct fb_http_router *r,
    const struct fb_conf *conf, struct fb_err *err);

/* ---- sign-in through an upstream (http/upstream.c) ----------------------------- */

struct fb_upstream_identity;

/*
 * Completes a sign-in through an upstream; the protocol handlers (OIDC
 * callback, SAML ACS) call it once what the upstream sent passed THEIR
 * checks (id borrowed). Runs fb_upstream_signin, then creates the broker
 * session (recording the upstream, ending no later than id->expires_at and
 * the upstream's session_lifetime; subject, session_index and id_token kept
 * for logout) and redirects to the return-to saved by /upstream/NAME/start
 * (else "/"). A refusal is a clear page (403) and an audit line, with no
 * user and no session created. Replies to req.
 */
void fb_http_upstream_finish(struct fb_http_req *req, const struct fb_upstream_identity *id);
/*
 * The key/value namespace where fb_http_upstream_finish keeps, per broker
 * session id and until the session ends, the JSON object {"upstream",
 * "issuer", "subject", "subject_format", "session_index", "id_token"} that
 * logging out at the upstream needs.
 */
#define FB_HTTP_UPSTREAM_SESSION_NS "upstream_session"

/* ---- forward auth (http/authz.c) ---------------------------------------------- */

/* The endpoints the proxies ask (Envoy/Istio: the prefix of ext_authz's path_prefix). */
#define FB_HTTP_AUTHZ_ENVOY   "/auth/envoy"
#define FB_HTTP_AUTHZ_NGINX   "/auth/nginx"
#define FB_HTTP_AUTHZ_CADDY   "/auth/caddy"
#define FB_HTTP_AUTHZ_TRAEFIK "/auth/traefik"
/* On fedbroker's host: /auth/start?rd=URL signs in, then hands a code to URL's host. */
#define FB_HTTP_AUTHZ_START "/auth/start"
/* On each app's host, routed to fedbroker by the proxy: the code becomes the app's cookie. */
#define FB_HTTP_AUTHZ_CALLBACK "/_fedbroker/callback"
/* nginx's error_page 401 asks this (X-Original-URL) for the browser's redirect. */
#define FB_HTTP_AUTHZ_NGINX_SIGNIN "/auth/nginx/signin"
/* The app cookie is session.cookie_name + this ("__Host-" before it over https). */
#define FB_HTTP_AUTHZ_COOKIE_SUFFIX "_app"
/* The sign-in state cookie on an app host (login CSRF guard), and its lifetime (seconds). */
#define FB_HTTP_AUTHZ_STATE_SUFFIX   "_app_state"
#define FB_HTTP_AUTHZ_STATE_LIFETIME 900
/* Lifetime of the access token minted for an app's upstream (apps[].pass_access_token, s). */
#define FB_HTTP_AUTHZ_TOKEN_LIFETIME 300

/*
 * Registers the endpoints above on r when conf has apps (none: nothing).
 * FB_ERR_INVALID or FB_ERR_LIMIT as fb_http_router_add.
 */
enum fb_status fb_http_authz_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    struct fb_err *err);

/* ---- the server -------------------------------------------------------------- */

/*
 * Creates a worker's server on base: one evhttp accepting on each of the
 * nfds listening sockets (borrowed: never closed by the server), with the limits, timeouts
 * and TLS of env->conf, routing through r (borrowed). env is borrowed and
 * must outlive the server. Routes libevent's log into ours. New in *out
 * (fb_http_server_free). FB_ERR_CONFIG when the TLS certificate or key
 * cannot be loaded, FB_ERR_IO when a socket cannot be used; err filled.
 *
 * Limits: a malformed request is answered 400; a body over max_body_bytes
 * 413; a request line plus headers over max_header_bytes 431 (beyond
 * max(4 x max_header_bytes, 64 KiB) libevent itself answers 413); a
 * request not fully received within request_timeout seconds of its first
 * byte 408 (then the connection is closed); an idle keep-alive connection
 * is closed after idle_timeout seconds.
 */
enum fb_status fb_http_server_new(struct event_base *base, const struct fb_http_env *env,
    const struct fb_http_router *r, const int *fds, size_t nfds, struct fb_http_server **out,
    struct fb_err *err);
/*
 * Stops accepting new connections; requests already started (including
 * those whose headers or body are still arriving) are answered. For the
 * drain window (conf->drain_window_ms, at most shutdown_timeout) idle
 * keep-alive connections stay open and every reply carries Connection:
 * close; when it ends the idle ones are closed. done (may be NULL) is called once,
 * from the event loop, when no connection is left.
 */
void fb_http_server_drain(struct fb_http_server *srv, void (*done)(void *arg), void *arg);
/* Number of open client connections. */
size_t fb_http_server_connections(const struct fb_http_server *srv);
/* Closes every connection and frees. NULL is a no-op. */
void fb_http_server_free(struct fb_http_server *srv);

/*
 * Loads conf->tls_cert and conf->tls_key as the server would (nothing when
 * neither is set), so the master can refuse to start on a bad pair.
 * FB_ERR_CONFIG naming the file and OpenSSL's reason (err filled).
 */
enum fb_status fb_http_tls_check(const struct fb_conf *conf, struct fb_err *err);

/*
 * Sends libevent's log messages to ours and makes its fatal errors log
 * and abort. Idempotent; fb_http_server_new calls it.
 */
void fb_http_libevent_log_init(void);

#endif
