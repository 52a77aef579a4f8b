/* SPDX-License-Identifier: Apache-2.0 */
/* net: outbound connections: mail through the configured SMTP relay, and HTTPS requests (libcurl).
 */
#ifndef FB_NET_NET_H
#define FB_NET_NET_H

#include "core/core.h"
#include "conf/conf.h"

/* Largest text body fb_net_mail_send accepts (bytes). */
#define FB_NET_MAIL_MAX_BODY (256 * 1024)
/* Largest subject (bytes, before encoding). */
#define FB_NET_MAIL_MAX_SUBJECT 256

/*
 * Sends one plain-text message (UTF-8) to the single address `to` through
 * conf's smtp: relay (host, port, security starttls|tls|none, username and
 * password when set, from, timeout), using libcurl's SMTP.
 *
 * BLOCKING: it waits for the whole SMTP dialogue (up to smtp.timeout).
 * Only the CLI and the jobs process may call it, never an event-loop
 * worker.
 *
 * All arguments are borrowed. The message carries From (smtp.from, display
 * name RFC 2047-encoded when not ASCII), To, Subject (RFC 2047-encoded when
 * not ASCII), Date, Message-ID (random, @ the from domain), MIME-Version,
 * Content-Type: text/plain; charset=utf-8 and Content-Transfer-Encoding:
 * 8bit (quoted-printable when a body line is longer than 998 bytes).
 * Body line ends are sent as CRLF.
 *
 * Returns:
 *   FB_ERR_CONFIG    smtp.host is not set (email is off);
 *   FB_ERR_INVALID   `to` is not an addr-spec (fb_conf_addr_spec_check),
 *                    `to` or subject contain CR or LF (SECURITY: header
 *                    injection), subject or body are not UTF-8 or too long;
 *   FB_ERR_UPSTREAM  the connection, TLS (certificate verification is on),
 *                    STARTTLS, authentication or a command failed; msg has
 *                    the server and curl's error text (never the password).
 */
enum fb_status fb_net_mail_send(const struct fb_conf *conf, const char *to, const char *subject,
    const char *text_body, struct fb_err *err);

/*
 * HTTPS client (net/http.c). Every request: https:// only, TLS peer and
 * host verification always on (ca_file replaces the system CA store when
 * set), connect and total timeouts, a bounded response body, redirects
 * never followed (a 3xx is handed back as it is), no cookies, no proxy
 * from the environment.
 */
struct event_base;

/* Protocol parameter names used in requests. */
#define FB_NET_HTTP_FORM "application/x-www-form-urlencoded"

/* Default limits when an option is 0. */
#define FB_NET_HTTP_TIMEOUT_MS         10000
#define FB_NET_HTTP_CONNECT_TIMEOUT_MS 5000
#define FB_NET_HTTP_MAX_BODY           (1024 * 1024)

/* One request. Every member is borrowed for the duration of the start/fetch call. */
struct fb_net_http_request {
	const char *url;  /* https:// (http:// too on loopback hosts with loopback_http) */
	const char *method; /* "PUT", "PATCH", "DELETE", ...; NULL: GET, or POST with a body */
	int loopback_http;  /* 1: plain http:// is allowed to 127.0.0.0/8, ::1, localhost */
	const char *body; /* NULL: GET; otherwise POST with this body */
	size_t body_len;
	const char *content_type;   /* of body; NULL: FB_NET_HTTP_FORM */
	const char *accept;         /* Accept header, or NULL */
	const char *username;       /* HTTP Basic (RFC 7617) when not NULL, with password */
	const char *password;       /* SECRET: never logged */
	const char *bearer;         /* SECRET: Authorization: Bearer (RFC 6750 2.1), or NULL */
	const char *ca_file;        /* CA bundle (PEM), or NULL: the system's */
	int64_t timeout_ms;         /* whole request; 0: FB_NET_HTTP_TIMEOUT_MS */
	int64_t connect_timeout_ms; /* 0: FB_NET_HTTP_CONNECT_TIMEOUT_MS (capped at timeout) */
	size_t max_body;            /* 0: FB_NET_HTTP_MAX_BODY */
};

/* A response. Members are owned by the response; fb_net_http_response_cleanup frees them. */
struct fb_net_http_response {
	long status;        /* HTTP status */
	char *content_type; /* or NULL */
	char *body;         /* NUL-terminated (the NUL not counted in body_len) */
	size_t body_len;
	int64_t retry_after; /* Retry-After in seconds (either form); -1 when absent */
};
void fb_net_http_response_cleanup(struct fb_net_http_response *r);

/*
 * BLOCKING: performs one request and waits for it (up to its timeout).
 * For the CLI and the jobs process only, never an event-loop worker.
 * *out (caller cleans up with fb_net_http_response_cleanup) is filled on
 * FB_OK, whatever the HTTP status. FB_ERR_INVALID: not an https:// URL;
 * FB_ERR_UPSTREAM: connection, TLS, timeout or a body over max_body (msg
 * has curl's text; never the password or the body).
 */
enum fb_status fb_net_http_fetch(const struct fb_net_http_request *rq,
    struct fb_net_http_response *out, struct fb_err *err);

/*
 * The asynchronous client: libcurl's multi interface driven by an event
 * base (the worker's), so a slow or dead peer never stalls other events.
 * One per event base; not thread-safe (use it on its base's thread).
 */
struct fb_net_http;
struct fb_net_http_call;

/*
 * Called once per started request, on the base's thread, when it ends:
 * st is FB_OK with resp filled (any HTTP status), or the failure as
 * fb_net_http_fetch reports it with resp NULL. resp and err are borrowed
 * for the duration of the call (steal resp->body by setting it to NULL).
 * The call is freed after it returns.
 */
typedef void fb_net_http_done_fn(enum fb_status st, struct fb_net_http_response *resp,
    const struct fb_err *err, void *arg);

/* New (fb_net_http_free) client on base (borrowed; must outlive it). */
struct fb_net_http *fb_net_http_new(struct event_base *base);
/* Cancels every call still running (their callbacks are not called); NULL is a no-op. */
void fb_net_http_free(struct fb_net_http *h);
/*
 * Starts rq (copied: nothing of it need outlive the call). done(arg) is
 * called later, never from inside fb_net_http_start. *call (may be NULL)
 * identifies it for fb_net_http_cancel until done runs. Errors as
 * fb_net_http_fetch for what is known at once.
 */
enum fb_status fb_net_http_start(struct fb_net_http *h, const struct fb_net_http_request *rq,
    fb_net_http_done_fn *done, void *arg, struct fb_net_http_call **call, struct fb_err *err);
/* Stops a running call without calling its done (e.g. its browser went away). */
void fb_net_http_cancel(struct fb_net_http_call *call);
/* The number of calls running. */
size_t fb_net_http_running(const struct fb_net_http *h);

#endif
