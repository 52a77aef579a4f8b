/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/server.c: one worker's evhttp: listeners inherited from the master,
 * TLS, limits, the request deadline, draining, and the request context.
 *
 * libevent 2.1's evhttp hides its connections, so each connection's
 * bufferevent is made here (evhttp_set_bevcb) with a small record beside
 * it, bound to evhttp's connection through its close callback. Callbacks
 * on the bufferevent's input buffer see the first byte of each request,
 * which starts the request's deadline (evhttp only has an inactivity
 * timeout, which a client trickling bytes never trips); callbacks on its
 * output buffer put the security headers into the responses evhttp writes
 * by itself (400, 413, 501).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h> /* ev_write: see fb_http_req_send */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/web.h"

/* libevent's own header cap: above it evhttp answers 413 by itself. */
#define HARD_HEADER_MIN (64 * 1024)
/* After a 408, how long to wait for the peer's FIN before closing (ms). */
#define LINGER_MS 1000
/* Paused for lack of descriptors: try accepting again after this long (ms). */
#define ACCEPT_RETRY_MS 1000
/* At most one line about paused accepting per this long (us). */
#define PRESSURE_LOG_US (60 * 1000000LL)
/* Idle connections closed at once when accept(2) ran out of descriptors. */
#define EVICT_BATCH 16

enum conn_state {
	CONN_IDLE = 0,	/* between requests */
	CONN_RECEIVING, /* bytes of a request arrived; its deadline runs */
	CONN_HANDLING,	/* dispatched; waiting for the reply to be sent */
};

struct fb_http_conn {
	struct fb_http_server *srv;
	struct bufferevent *bev;	    /* evhttp's (it frees it) */
	struct evhttp_connection *evcon;    /* NULL until bound */
	struct evbuffer_cb_entry *in_cb, *out_cb;
	struct event *deadline;		    /* request_timeout from the first byte */
	struct event *kick;		    /* deferred work: bind, close when idle */
	struct event *linger;		    /* after a 408: the peer's FIN or this */
	bufferevent_event_cb http_eventcb;  /* evhttp's, saved while a 408 is written */
	void *http_eventarg;
	evutil_socket_t fd;
	enum conn_state state;
	int bound;	/* the close callback is set on evhttp's connection */
	int inject;	/* the next response is evhttp's own: add our headers */
	int own;	/* evhttp's own response is being written: rewrite it when whole */
	size_t own_start; /* where it starts in the output buffer */
	int rewriting;	/* our own changes to the output buffer are being made */
	int close_after; /* close once the output buffer is written out */
	int close_now;	/* conn_kick: close whatever the state */
	int timed_out;	/* 408 being written: the connection is ours until closed */
	int close_idle; /* draining: close as soon as idle */
	int served;	/* a reply was sent on it: idle now means between requests */
	int evicted;	/* closed idle to make room (connection pressure) */
	struct fb_http_req *reply; /* ours being sent: its status line gets our headers */
	struct fb_http_req *deferred; /* waiting for a CPU job (fb_http_req_defer) */
	char client[64];	   /* the peer's address, once known */
	int64_t start_us;
	TAILQ_ENTRY(fb_http_conn) link;
};

TAILQ_HEAD(conn_list, fb_http_conn);

struct fb_http_server {
	struct event_base *base;
	const struct fb_http_env *env;
	const struct fb_conf *conf;
	const struct fb_http_router *router;
	struct evhttp *http;
	SSL_CTX *ssl;
	struct evhttp_bound_socket **bound;
	size_t nbound;
	struct conn_list conns;
	size_t nconns;
	struct fb_http_conn **byfd; /* connection of a socket, by descriptor */
	size_t nbyfd;
	int draining;
	size_t max_conns;   /* server.max_connections, or derived from RLIMIT_NOFILE */
	size_t nevicting;   /* idle connections being closed to make room */
	int paused;	    /* not accepting: at the cap or out of descriptors */
	int pause_counted;  /* this pause is in the metrics and the log already */
	enum fb_http_pause pause_why;
	struct event *resume_ev; /* a connection ended, or ACCEPT_RETRY_MS passed */
	struct event *window_ev; /* the end of the drain window */
	int window_over;	 /* draining and the window has ended */
	int64_t pressure_log_next; /* us, monotonic: when the next line may be written */
	unsigned pressure_missed;  /* pauses not logged since the last line */
	struct fb_http_server *next_srv; /* in the list of servers (accept_error) */
	char reqid_prefix[FB_HTTP_REQID_PREFIX_LEN + 1]; /* random, drawn at start */
	struct fb_http_proxies proxies;			 /* server.trusted_proxies (proxy.c) */
	uint64_t reqid_seq;
	time_t date_sec;	/* the second date_text shows */
	char date_text[40];	/* its IMF-fixdate (RFC 9110 5.6.7), for Date */
	struct fb_http_pool *pool; /* CPU jobs of deferred replies */
	struct fb_net_http *net;   /* outbound HTTPS (fb_http_req_net), or NULL */
	void (*done)(void *arg);
	void *done_arg;
	struct event *done_ev;
};

/* Draining, and nothing is left: no connection, no CPU job. */
static int
drained(const struct fb_http_server *srv)
{
	return srv->draining && srv->nconns == 0 && fb_http_pool_pending(srv->pool) == 0;
}

/* ---- libevent's log --------------------------------------------------- */

static void
libevent_log(int severity, const char *msg)
{
	enum fb_log_level lvl = severity == EVENT_LOG_DEBUG ? FB_LOG_DEBUG
	    : severity == EVENT_LOG_MSG			     ? FB_LOG_INFO
	    : severity == EVENT_LOG_WARN		     ? FB_LOG_WARN
							     : FB_LOG_ERROR;

	if (lvl >= fb_log_min_level)
		fb_log_write(lvl, "app", "libevent", NULL, NULL, "%s", msg);
}

static void
libevent_fatal(int code)
{
	fb_log_write(FB_LOG_ERROR, "app", "libevent", NULL, NULL, "fatal error %d", code);
	abort();
}

void
fb_http_libevent_log_init(void)
{
	event_set_log_callback(libevent_log);
	event_set_fatal_callback(libevent_fatal);
}

/* ---- TLS ---------------------------------------------------------------- */

/*
 * Records, never refuses: the OpenID provider decides what a client
 * certificate is worth (RFC 8705: a self-signed one is pinned, not chained).
 */
static int
tls_verify_any(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

/* server.tls.client_ca: ask for a client certificate, naming its CAs; never require one. */
static enum fb_status
tls_client_certs(SSL_CTX *ctx, const struct fb_conf *conf, struct fb_err *err)
{
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(conf->tls_client_ca);
	static const unsigned char sid_ctx[] = "fedbroker";

	if (names == NULL)
		return fb_err_openssl(err, FB_ERR_CONFIG, "server.tls.client_ca: %s",
		    conf->tls_client_ca);
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, tls_verify_any);
	/* Sessions resumed keep the certificate: they need a context id. */
	if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1)
		return fb_err_openssl(err, FB_ERR_INTERNAL, "TLS session id context");
	return FB_OK;
}

static enum fb_status
tls_ctx_new(const struct fb_conf *conf, SSL_CTX **out, struct fb_err *err)
{
	SSL_CTX *ctx;
	enum fb_status rc;

	*out = NULL;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return fb_err_openssl(err, FB_ERR_INTERNAL, "TLS context");
	/* SECURITY: TLS 1.2 or later, forward-secret AEAD suites, our order, no compression. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM") != 1) {
		rc = fb_err_openssl(err, FB_ERR_INTERNAL, "TLS settings");
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1) {
		rc = fb_err_openssl(err, FB_ERR_CONFIG, "server.tls.cert: %s", conf->tls_cert);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key, SSL_FILETYPE_PEM) != 1) {
		rc = fb_err_openssl(err, FB_ERR_CONFIG, "server.tls.key: %s", conf->tls_key);
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		rc = fb_err_openssl(err, FB_ERR_CONFIG,
		    "server.tls: key %s does not match certificate %s", conf->tls_key,
		    conf->tls_cert);
		goto out;
	}
	if (conf->tls_client_ca != NULL && (rc = tls_client_certs(ctx, conf, err)) != FB_OK)
		goto out;
	*out = ctx;
	ctx = NULL;
	rc = FB_OK;
out:
	SSL_CTX_free(ctx);
	return rc;
}

enum fb_status
fb_http_tls_check(const struct fb_conf *conf, struct fb_err *err)
{
	SSL_CTX *ctx;
	enum fb_status rc;

	if (conf->tls_cert == NULL || conf->tls_key == NULL)
		return FB_OK;
	rc = tls_ctx_new(conf, &ctx, err);
	SSL_CTX_free(ctx);
	return rc;
}

/* ---- request ids ----------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

FB_STATIC void
fb_http_reqid_format(const char *prefix, uint64_t seq, char *out)
{
	memcpy(out, prefix, FB_HTTP_REQID_PREFIX_LEN);
	for (int i = FB_HTTP_REQID_SEQ_LEN - 1; i >= 0; i--, seq >>= 6)
		out[FB_HTTP_REQID_PREFIX_LEN + i] = b64url[seq & 63];
	out[FB_HTTP_REQID_PREFIX_LEN + FB_HTTP_REQID_SEQ_LEN] = '\0';
}

/*
 * A new request id into out (FB_HTTP_REQID_MAX + 1 bytes): unique across
 * workers by the random prefix, within the worker by the counter. Ids are
 * labels, not secrets: no random bytes per request.
 */
static void
reqid_new(struct fb_http_server *srv, char *out)
{
	fb_http_reqid_format(srv->reqid_prefix, srv->reqid_seq++, out);
}

/* ---- Date ------------------------------------------------------------------ */

/*
 * The Date header of the current second, formatted once per second rather
 * than by evhttp for every reply. Real time, as evhttp's own (not
 * fb_time_now, which tests may move). Borrowed, valid until the next call.
 */
static const char *
date_now(struct fb_http_server *srv)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;

	if (now != srv->date_sec || srv->date_text[0] == '\0') {
		srv->date_sec = now;
		gmtime_r(&now, &tm);
		snprintf(srv->date_text, sizeof(srv->date_text), "%s, %02d %s %04d %02d:%02d:%02d GMT",
		    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	return srv->date_text;
}

/* ---- connections -------------------------------------------------------- */

static void
conn_byfd_set(struct fb_http_server *srv, evutil_socket_t fd, struct fb_http_conn *conn)
{
	size_t i;

	if (fd < 0)
		return;
	i = (size_t)fd;
	if (i >= srv->nbyfd) {
		size_t n = i + 64;

		srv->byfd = fb_xrealloc(srv->byfd, n * sizeof(srv->byfd[0]));
		memset(srv->byfd + srv->nbyfd, 0, (n - srv->nbyfd) * sizeof(srv->byfd[0]));
		srv->nbyfd = n;
	}
	srv->byfd[i] = conn;
}

/* 1 when the site is https (TLS here or at a proxy): HSTS on every reply, Secure cookies. */
static int
srv_https(const struct fb_http_server *srv)
{
	return fb_http_site_https(srv->conf, srv->ssl != NULL);
}

static struct fb_http_conn *
conn_byfd(struct fb_http_server *srv, evutil_socket_t fd)
{
	if (fd < 0 || (size_t)fd >= srv->nbyfd)
		return NULL;
	return srv->byfd[fd];
}

/* Forgets conn; evhttp frees the bufferevent itself. */
static void
conn_free(struct fb_http_conn *conn)
{
	struct fb_http_server *srv = conn->srv;

	TAILQ_REMOVE(&srv->conns, conn, link);
	srv->nconns--;
	if (conn_byfd(srv, conn->fd) == conn)
		conn_byfd_set(srv, conn->fd, NULL);
	if (conn->deferred != NULL) {
		/* The client went away while a CPU job ran: its reply will be dropped. */
		conn->deferred->conn = NULL;
		conn->deferred->gone = 1;
	}
	evbuffer_remove_cb_entry(bufferevent_get_input(conn->bev), conn->in_cb);
	evbuffer_remove_cb_entry(bufferevent_get_output(conn->bev), conn->out_cb);
	event_free(conn->deadline);
	event_free(conn->kick);
	event_free(conn->linger);
	if (conn->evicted)
		srv->nevicting--;
	free(conn);
	if (srv->paused && srv->resume_ev != NULL)
		event_active(srv->resume_ev, EV_TIMEOUT, 0); /* a descriptor frees */
	if (drained(srv))
		event_active(srv->done_ev, EV_TIMEOUT, 0);
}

/* evhttp is freeing the connection. */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	conn_free(arg);
}

/* Makes evhttp drop the connection as if the peer had closed it. */
static void
conn_close_evhttp(struct fb_http_conn *conn, bufferevent_event_cb ecb, void *earg)
{
	if (ecb != NULL)
		ecb(conn->bev, BEV_EVENT_EOF | BEV_EVENT_READING, earg);
}

static void
conn_deadline_arm(struct fb_http_conn *conn)
{
	struct timeval tv = {.tv_sec = (time_t)conn->srv->conf->request_timeout};

	conn->state = CONN_RECEIVING;
	conn->start_us = fb_time_mono_us();
	event_add(conn->deadline, &tv);
}

/* After a 408: hand the connection back to evhttp, which closes and frees it. */
static void
timeout_finish(struct fb_http_conn *conn)
{
	bufferevent_setcb(conn->bev, NULL, NULL, conn->http_eventcb, conn->http_eventarg);
	conn_close_evhttp(conn, conn->http_eventcb, conn->http_eventarg);
}

static void
timeout_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	evbuffer_drain(in, evbuffer_get_length(in));
}

/*
 * The 408 is out: half-close and wait a little for the peer's FIN, since
 * closing with unread input sends a reset that can destroy the response.
 */
static void
timeout_written(struct bufferevent *bev, void *arg)
{
	struct fb_http_conn *conn = arg;
	struct timeval tv = {.tv_sec = 0, .tv_usec = LINGER_MS * 1000};

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0 || conn->fd < 0)
		return;
	if (conn->srv->ssl == NULL)
		shutdown(conn->fd, SHUT_WR);
	event_add(conn->linger, &tv);
}

static void
timeout_event(struct bufferevent *bev, short what, void *arg)
{
	timeout_finish(arg);
}

static void
linger_done(evutil_socket_t fd, short what, void *arg)
{
	timeout_finish(arg);
}

/* The whole request did not arrive in time: 408, then close (RFC 9110 15.5.9). */
static void
conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct fb_http_conn *conn = arg;
	char reqid[FB_HTTP_REQID_MAX + 1];
	char *resp;
	static const char body[] = "Request Timeout\n";

	if (conn->state != CONN_RECEIVING || conn->timed_out)
		return;
	conn->timed_out = 1;
	conn->inject = 0;
	conn->own = 0;
	reqid_new(conn->srv, reqid);
	resp = fb_xasprintf("HTTP/1.1 408 Request Timeout\r\n%s"
			    "X-Request-Id: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    fb_http_security_headers_text(srv_https(conn->srv), 0, NULL), reqid, sizeof(body) - 1,
	    body);
	/* evhttp is still reading: take the connection over until it is closed. */
	bufferevent_getcb(conn->bev, NULL, NULL, &conn->http_eventcb, &conn->http_eventarg);
	bufferevent_setcb(conn->bev, timeout_read, timeout_written, timeout_event, conn);
	bufferevent_set_timeouts(conn->bev, NULL, NULL);
	timeout_read(conn->bev, conn);
	bufferevent_write(conn->bev, resp, strlen(resp));
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	fb_http_account(conn->srv->env, "-", FB_HTTP_ROUTE_UNMATCHED, "-", 408, sizeof(body) - 1,
	    conn->start_us, "-", reqid, NULL);
	free(resp);
}

static void
conn_kick(evutil_socket_t fd, short what, void *arg)
{
	struct fb_http_conn *conn = arg;
	bufferevent_data_cb rcb = NULL;
	bufferevent_event_cb ecb = NULL;
	void *earg = NULL;

	if (!conn->bound) {
		/*
		 * evhttp made its connection right after conn_new returned and
		 * passes it as the bufferevent's callback argument. No read
		 * callback means evhttp gave up on it already (and freed it;
		 * our reference kept the memory).
		 */
		bufferevent_getcb(conn->bev, &rcb, NULL, &ecb, &earg);
		if (rcb == NULL && ecb == NULL) {
			struct bufferevent *bev = conn->bev;

			conn_free(conn);
			bufferevent_decref(bev);
			return;
		}
		conn->bound = 1;
		conn->evcon = earg;
		conn->fd = bufferevent_getfd(conn->bev);
		conn_byfd_set(conn->srv, conn->fd, conn);
		evhttp_connection_set_closecb(conn->evcon, conn_closed, conn);
		bufferevent_decref(conn->bev);
	}
	if ((conn->close_now || (conn->close_idle && conn->state == CONN_IDLE)) &&
	    !conn->timed_out) {
		bufferevent_getcb(conn->bev, NULL, NULL, &ecb, &earg);
		conn_close_evhttp(conn, ecb, earg);
	}
}

/* Input arrived (or was consumed): a request's first byte starts its deadline. */
static void
conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct fb_http_conn *conn = arg;

	if (info->n_added > 0 && conn->state == CONN_IDLE && !conn->timed_out)
		conn_deadline_arm(conn);
}

static int
field_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/*
 * Rewrites a complete response evhttp wrote by itself (resp, len bytes:
 * status line, header fields, empty line, body) into out: the status line,
 * extra ("Name: value\r\n" lines), evhttp's fields except Content-Length
 * and Connection, then Content-Length of the body and Connection: close.
 * So the reply is delimited however the request came (evhttp leaves the
 * length out after CONNECT, HEAD and HTTP/1.0) and ends the connection.
 * FB_ERR_INVALID when resp has no complete head; FB_ERR_LIMIT from out.
 */
FB_STATIC enum fb_status
fb_http_own_reply_rewrite(const char *resp, size_t len, const char *extra, struct fb_buf *out,
    struct fb_err *err)
{
	const char *end = memmem(resp, len, "\r\n\r\n", 4);
	const char *line, *eol;
	size_t blen;
	enum fb_status rc;

	if (end == NULL || len < 5 || memcmp(resp, "HTTP/", 5) != 0)
		return fb_err_set(err, FB_ERR_INVALID, "evhttp response: no complete head");
	blen = len - (size_t)(end + 4 - resp);
	eol = memmem(resp, (size_t)(end + 2 - resp), "\r\n", 2);
	rc = fb_buf_add(out, resp, (size_t)(eol + 2 - resp), err);
	if (rc == FB_OK)
		rc = fb_buf_add(out, extra, strlen(extra), err);
	for (line = eol + 2; rc == FB_OK && line < end + 2; line = eol + 2) {
		eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
		if (!field_is(line, (size_t)(eol - line), "Content-Length") &&
		    !field_is(line, (size_t)(eol - line), "Connection"))
			rc = fb_buf_add(out, line, (size_t)(eol + 2 - line), err);
	}
	if (rc == FB_OK)
		rc = fb_buf_addf(out, err, "Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
	if (rc == FB_OK)
		rc = fb_buf_add(out, end + 4, blen, err);
	return rc;
}

/*
 * evhttp's own response is in buf from conn->own_start on. Once its body
 * (added in one piece after the empty line) is there, rewrites it with our
 * headers, its length and Connection: close.
 */
static void
own_reply_finish(struct fb_http_conn *conn, struct evbuffer *buf)
{
	size_t len = evbuffer_get_length(buf);
	const char *all = (const char *)evbuffer_pullup(buf, -1);
	const char *head_end;
	char extra[FB_HTTP_SECURITY_TEXT_MAX + FB_HTTP_REQID_MAX + 32], reqid[FB_HTTP_REQID_MAX + 1];
	struct fb_err err = {0};
	struct fb_buf b;

	if (all == NULL || len <= conn->own_start)
		return;
	head_end = memmem(all + conn->own_start, len - conn->own_start, "\r\n\r\n", 4);
	if (head_end == NULL || (size_t)(head_end + 4 - all) == len)
		return;
	conn->own = 0;
	reqid_new(conn->srv, reqid);
	snprintf(extra, sizeof(extra), "%sX-Request-Id: %s\r\n",
	    fb_http_security_headers_text(srv_https(conn->srv), 0, NULL), reqid);
	fb_buf_init(&b, len + sizeof(extra) + 64);
	if (fb_buf_add(&b, all, conn->own_start, &err) != FB_OK ||
	    fb_http_own_reply_rewrite(all + conn->own_start, len - conn->own_start, extra, &b,
		&err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, reqid, &err); /* left as evhttp wrote it; still closed */
	} else {
		conn->rewriting = 1;
		evbuffer_drain(buf, len);
		evbuffer_add(buf, b.data, b.len);
		conn->rewriting = 0;
	}
	fb_buf_cleanup(&b);
}

/*
 * Output was added or written. While conn->inject is set, a response is
 * evhttp's own: an error (400, 413, 501; it answers 100 Continue too, left
 * alone). Its status line is the first thing added; once it is whole it is
 * rewritten (own_reply_finish), and the connection is closed when it has
 * been written: SECURITY: after a framing error the rest of the input
 * cannot be trusted, and evhttp keeps connections after a CONNECT open.
 */
static void
conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct fb_http_conn *conn = arg;

	if (conn->rewriting)
		return;
	if (conn->reply != NULL && info->n_added > 0) {
		/* The status line of our reply (fb_http_req_send): our headers go after it. */
		char head[FB_HTTP_SECURITY_TEXT_MAX + FB_HTTP_REQID_MAX + 32];
		size_t n, idlen = strlen(conn->reply->id);
		const char *sec = fb_http_security_headers_text(conn->reply->tls, conn->reply->own_csp, &n);

		memcpy(head, sec, n);
		memcpy(head + n, "X-Request-Id: ", 14);
		memcpy(head + n + 14, conn->reply->id, idlen);
		memcpy(head + n + 14 + idlen, "\r\n", 2);
		conn->reply = NULL;
		conn->rewriting = 1;
		evbuffer_add(buf, head, n + 16 + idlen);
		conn->rewriting = 0;
		return;
	}
	if (info->n_added == 0) {
		if (conn->close_after && !conn->close_now && evbuffer_get_length(buf) == 0) {
			conn->close_now = 1;
			event_active(conn->kick, EV_TIMEOUT, 0);
		}
		return;
	}
	if (conn->inject) {
		struct evbuffer_ptr p;
		char line[10];

		if (evbuffer_ptr_set(buf, &p, info->orig_size, EVBUFFER_PTR_SET) != 0 ||
		    evbuffer_copyout_from(buf, &p, line, sizeof(line)) != (ev_ssize_t)sizeof(line) ||
		    line[9] == '1')
			return; /* 100 Continue */
		conn->inject = 0;
		conn->own = 1;
		conn->own_start = info->orig_size;
		conn->close_after = 1;
		return;
	}
	if (conn->own)
		own_reply_finish(conn, buf);
}

/* ---- connection pressure ------------------------------------------------ */

/*
 * The connection cap of a worker with a descriptor limit of nofile when
 * server.max_connections is 0: the limit less a reserve for the worker's
 * own files (listening sockets, the store, the event loop, the CPU pool):
 * 32 and a sixteenth of the limit. At least 1.
 */
FB_STATIC size_t
fb_http_conn_cap(uint64_t nofile)
{
	uint64_t reserve = 32 + nofile / 16;

	if (nofile > 1048576)
		nofile = 1048576;
	if (nofile <= reserve)
		return nofile / 2 > 0 ? (size_t)(nofile / 2) : 1;
	return (size_t)(nofile - reserve);
}

/* server.max_connections, or the cap derived from RLIMIT_NOFILE (warned when above it). */
static size_t
conn_cap(const struct fb_conf *conf)
{
	static int warned; /* once per process: a worker has two servers with metrics.listen */
	struct rlimit rl;
	uint64_t nofile = 1024;
	size_t derived;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		nofile = rl.rlim_cur == RLIM_INFINITY ? 1048576 : (uint64_t)rl.rlim_cur;
	derived = fb_http_conn_cap(nofile);
	if (conf->max_connections <= 0)
		return derived;
	if ((size_t)conf->max_connections > derived && !warned++)
		fb_log(FB_LOG_WARN, "server.max_connections %d is above what %ju descriptors allow "
				    "(%zu): accept(2) may run out of descriptors first",
		    conf->max_connections, (uintmax_t)nofile, derived);
	return (size_t)conf->max_connections;
}

/* The servers of this process, for accept_error (libevent gives it evhttp only). */
static struct fb_http_server *servers;

static void
pressure_log(struct fb_http_server *srv, const char *why)
{
	int64_t now = fb_time_mono_us();
	char open[24], cap[24], missed[24];

	if (now < srv->pressure_log_next) {
		srv->pressure_missed++;
		return;
	}
	snprintf(open, sizeof(open), "%zu", srv->nconns);
	snprintf(cap, sizeof(cap), "%zu", srv->max_conns);
	snprintf(missed, sizeof(missed), "%u", srv->pressure_missed);
	fb_log_write(FB_LOG_WARN, "app", __func__, NULL,
	    (const char *const[]){"connections", open, "max_connections", cap,
		"pauses_not_logged", missed, NULL},
	    "not accepting connections for now: %s (at most one such line a minute; see "
	    "fedbroker_http_accept_paused_total)", why);
	srv->pressure_log_next = now + PRESSURE_LOG_US;
	srv->pressure_missed = 0;
}

static void
accept_enable(struct fb_http_server *srv, int on)
{
	for (size_t i = 0; i < srv->nbound; i++) {
		struct evconnlistener *l = evhttp_bound_socket_get_listener(srv->bound[i]);

		if (on)
			evconnlistener_enable(l);
		else
			evconnlistener_disable(l);
	}
}

/* Stops accepting until accept_resume finds room. */
static void
accept_hold(struct fb_http_server *srv, enum fb_http_pause why)
{
	if (!srv->paused) {
		srv->paused = 1;
		srv->pause_counted = 0;
		accept_enable(srv, 0);
	}
	srv->pause_why = why;
}

/* A pause that lasts: counted and logged (rate-limited) once; retried after a while. */
static void
accept_pause(struct fb_http_server *srv, enum fb_http_pause why)
{
	struct timeval tv = {.tv_sec = ACCEPT_RETRY_MS / 1000,
	    .tv_usec = (ACCEPT_RETRY_MS % 1000) * 1000};

	accept_hold(srv, why);
	evtimer_add(srv->resume_ev, &tv);
	if (srv->pause_counted)
		return;
	srv->pause_counted = 1;
	fb_http_metrics_accept_paused(srv->env->metrics, why);
	pressure_log(srv, why == FB_HTTP_PAUSE_DESCRIPTORS
		? "out of file descriptors (accept failed with EMFILE or ENFILE)"
		: "server.max_connections reached and no idle connection to close");
}

/* 1 when conn may be closed to make room: no request on it, nothing pending. */
static int
conn_evictable(const struct fb_http_conn *conn, int served)
{
	return conn->bound && conn->state == CONN_IDLE && !conn->timed_out && !conn->close_now &&
	    !conn->close_idle && conn->deferred == NULL && conn->served == served;
}

/*
 * Closes up to n idle connections, oldest first: keep-alive connections
 * between requests, then connections that have not sent a request yet.
 * Returns how many.
 */
static size_t
idle_evict(struct fb_http_server *srv, size_t n)
{
	struct fb_http_conn *conn;
	size_t done = 0;

	for (int served = 1; served >= 0 && done < n; served--)
		TAILQ_FOREACH(conn, &srv->conns, link) {
			if (done == n)
				break;
			if (!conn_evictable(conn, served))
				continue;
			conn->evicted = 1;
			conn->close_now = 1;
			srv->nevicting++;
			event_active(conn->kick, EV_TIMEOUT, 0);
			fb_http_metrics_idle_closed(srv->env->metrics);
			done++;
		}
	return done;
}

/*
 * A connection ended, connections just accepted were set up, or the retry
 * delay passed: accept again when there is room. Over the cap, the oldest
 * idle connection makes room first; with none idle the pause lasts.
 */
static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct fb_http_server *srv = arg;

	if (!srv->paused || srv->draining)
		return;
	/* At most one over the cap, while the next accepted one makes room. */
	if (srv->pause_why == FB_HTTP_PAUSE_CONNECTIONS && srv->nconns > srv->max_conns) {
		if (srv->nevicting == 0 && idle_evict(srv, srv->nconns - srv->max_conns) == 0)
			accept_pause(srv, FB_HTTP_PAUSE_CONNECTIONS);
		return; /* the evicted ones' end calls again */
	}
	srv->paused = 0;
	evtimer_del(srv->resume_ev);
	accept_enable(srv, 1);
}

/*
 * A connection was accepted. At the cap it is served all the same and
 * accepting waits until accept_resume has made room (libevent accepts a
 * whole burst in one go, before the connections just accepted are set up
 * and faster than closes happen), so descriptors stay at most one above
 * the cap. accept_resume runs after the set-up of those connections.
 */
static void
conn_admit(struct fb_http_server *srv)
{
	if (srv->nconns < srv->max_conns)
		return;
	accept_hold(srv, FB_HTTP_PAUSE_CONNECTIONS);
	event_active(srv->resume_ev, EV_TIMEOUT, 0);
}

/*
 * accept(2) failed (libevent retries EAGAIN and the like by itself). Out of
 * descriptors: idle connections make room and accepting pauses until one
 * ends, instead of a listener that is always readable spinning the loop
 * and logging each failure.
 */
static void
accept_error(struct evconnlistener *l, void *http)
{
	int e = EVUTIL_SOCKET_ERROR();
	struct fb_http_server *srv;

	for (srv = servers; srv != NULL && srv->http != http; srv = srv->next_srv)
		;
	if (srv == NULL)
		return;
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		/* Anything else: retried after a while, logged at the same pace. */
		struct timeval tv = {.tv_sec = ACCEPT_RETRY_MS / 1000,
		    .tv_usec = (ACCEPT_RETRY_MS % 1000) * 1000};

		accept_hold(srv, FB_HTTP_PAUSE_DESCRIPTORS);
		evtimer_add(srv->resume_ev, &tv);
		pressure_log(srv, strerror(e));
		return;
	}
	idle_evict(srv, EVICT_BATCH);
	accept_pause(srv, FB_HTTP_PAUSE_DESCRIPTORS);
}

/* evhttp asks for a new connection's bufferevent. */
static struct bufferevent *
conn_new(struct event_base *base, void *arg)
{
	struct fb_http_server *srv = arg;
	struct fb_http_conn *conn = fb_xcalloc(1, sizeof(*conn));

	conn->srv = srv;
	conn->fd = -1;
	conn->inject = 1;
	if (srv->ssl != NULL) {
		SSL *ssl = SSL_new(srv->ssl);

		conn->bev = ssl == NULL ? NULL
		    : bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
			BEV_OPT_CLOSE_ON_FREE);
	} else {
		conn->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (conn->bev == NULL) {
		fb_log(FB_LOG_ERROR, "cannot create a bufferevent: out of memory");
		abort();
	}
	/* Until bound, keep the bufferevent alive even if evhttp drops it at once. */
	bufferevent_incref(conn->bev);
	conn->in_cb = evbuffer_add_cb(bufferevent_get_input(conn->bev), conn_input, conn);
	conn->out_cb = evbuffer_add_cb(bufferevent_get_output(conn->bev), conn_output, conn);
	conn->deadline = evtimer_new(base, conn_deadline, conn);
	conn->kick = event_new(base, -1, 0, conn_kick, conn);
	conn->linger = evtimer_new(base, linger_done, conn);
	conn_admit(srv);
	TAILQ_INSERT_TAIL(&srv->conns, conn, link);
	srv->nconns++;
	event_active(conn->kick, EV_TIMEOUT, 0);
	return conn->bev;
}

/* evhttp sent a reply completely (called before it decides to keep the connection). */
static void
conn_reply_sent(struct evhttp_request *ev, void *arg)
{
	struct fb_http_conn *conn = arg;

	conn->state = CONN_IDLE;
	conn->served = 1;
	conn->inject = 1;
	if (evbuffer_get_length(bufferevent_get_input(conn->bev)) > 0)
		conn_deadline_arm(conn); /* a pipelined request arrived already */
	/*
	 * After the drain window. Within it the connection stays: this reply
	 * may have been made before the drain, without Connection: close, and
	 * the client's next request may be on its way already.
	 */
	if (conn->srv->draining && conn->srv->window_over) {
		conn->close_idle = 1;
		event_active(conn->kick, EV_TIMEOUT, 0);
	}
}

/* ---- requests ----------------------------------------------------------- */

static const struct {
	enum evhttp_cmd_type ev;
	enum fb_http_method m;
	const char *name;
} ev_methods[] = {
	{EVHTTP_REQ_GET, FB_HTTP_GET, "GET"},
	{EVHTTP_REQ_HEAD, FB_HTTP_HEAD, "HEAD"},
	{EVHTTP_REQ_POST, FB_HTTP_POST, "POST"},
	{EVHTTP_REQ_PUT, FB_HTTP_PUT, "PUT"},
	{EVHTTP_REQ_DELETE, FB_HTTP_DELETE, "DELETE"},
	{EVHTTP_REQ_PATCH, FB_HTTP_PATCH, "PATCH"},
	{EVHTTP_REQ_OPTIONS, FB_HTTP_OPTIONS, "OPTIONS"},
	{EVHTTP_REQ_TRACE, FB_HTTP_OTHER, "TRACE"},
	{EVHTTP_REQ_CONNECT, FB_HTTP_OTHER, "CONNECT"},
};

/*
 * Bytes of the request line and header fields as received (give or take
 * optional whitespace), for the max_header_bytes check.
 */
FB_STATIC size_t
fb_http_header_bytes(const char *method, const char *uri, const struct evkeyvalq *h)
{
	size_t n = strlen(method) + 1 + strlen(uri) + sizeof(" HTTP/1.1\r\n") - 1;
	const struct evkeyval *kv;

	TAILQ_FOREACH(kv, h, next)
		n += strlen(kv->key) + 2 + strlen(kv->value) + 2;
	return n + 2;
}

void
fb_http_account(const struct fb_http_env *env, const char *method, const char *route,
    const char *path, int code, size_t bytes, int64_t start_us, const char *client,
    const char *reqid, const char *const *extra)
{
	double secs = (double)(fb_time_mono_us() - start_us) / 1e6;

	fb_http_metrics_observe(env->metrics, route, code, secs);
	if (env->conf->log_access && FB_LOG_INFO >= fb_log_min_level) {
		struct fb_log_field f[8 + FB_HTTP_ACCOUNT_EXTRA_MAX] = {FB_LOG_STR("method", method),
		    FB_LOG_STR("route", route), FB_LOG_STR("path", path), FB_LOG_INT("status", code),
		    FB_LOG_INT("bytes", bytes), FB_LOG_REAL("duration_ms", secs * 1e3),
		    FB_LOG_STR("client", client)};
		size_t i = 7;

		for (size_t j = 0; extra != NULL && extra[j] != NULL && extra[j + 1] != NULL &&
		     j < FB_HTTP_ACCOUNT_EXTRA_MAX * 2;
		     j += 2)
			f[i++] = (struct fb_log_field)FB_LOG_STR(extra[j], extra[j + 1]);
		f[i].key = NULL;
		fb_log_event(FB_LOG_INFO, "access", "http", reqid, NULL, f, "%s %s %d", method, path,
		    code);
	}
}

/* Logs and counts the reply, frees req. */
static void
req_finish(struct fb_http_req *req, int code, size_t bytes)
{
	fb_http_account_req(req, code, bytes);
	if (req->query_parsed)
		evhttp_clear_headers(&req->query);
	fb_arena_free(req->arena);
	free(req->path_buf);
	free(req);
}

int
fb_http_req_closing(const struct fb_http_req *req)
{
	return req->close || req->srv->draining;
}

/*
 * Frees a deferred request that will not be answered (the server is being
 * freed). evhttp frees its own request with the connection, unless the
 * client was gone already: evhttp then left the request to us.
 */
void
fb_http_req_drop(struct fb_http_req *req)
{
	if (req == NULL)
		return;
	if (req->gone)
		evhttp_request_free(req->ev);
	else if (req->conn != NULL)
		req->conn->deferred = NULL;
	if (req->query_parsed)
		evhttp_clear_headers(&req->query);
	fb_arena_free(req->arena);
	free(req->path_buf);
	free(req);
}

void
fb_http_req_resume(struct fb_http_req *req)
{
	if (req == NULL)
		return;
	fb_http_req_log_context(req);
	req->deferred = 0;
	if (req->conn != NULL)
		req->conn->deferred = NULL;
}

int
fb_http_req_gone(const struct fb_http_req *req)
{
	return req->gone;
}

struct fb_net_http *
fb_http_req_net(struct fb_http_req *req)
{
	if (req->srv->net == NULL)
		req->srv->net = fb_net_http_new(req->srv->base);
	return req->srv->net;
}

void
fb_http_req_wait(struct fb_http_req *req)
{
	req->deferred = 1;
	if (req->conn != NULL)
		req->conn->deferred = req;
}

enum fb_status
fb_http_req_defer(struct fb_http_req *req, fb_http_work_fn *work, fb_http_done_fn *done,
    void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = fb_http_pool_submit(req->srv->pool, req, work, done, arg, err)) != FB_OK)
		return r;
	req->deferred = 1;
	if (req->conn != NULL)
		req->conn->deferred = req;
	return FB_OK;
}

void
fb_http_req_send(struct fb_http_req *req, int code, size_t bytes)
{
	struct fb_http_conn *conn = req->conn;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);

	if (req->gone) {
		/* Nobody to answer: evhttp detached the request from the closed connection. */
		fb_rlog(req, FB_LOG_DEBUG, "client went away before the reply (%d)", code);
		evhttp_request_free(req->ev);
		req_finish(req, code, 0);
		return;
	}

	if (evhttp_find_header(h, "Date") == NULL)
		evhttp_add_header(h, "Date", date_now(req->srv));
	if (conn != NULL) {
		/* conn_output adds the security headers and the id after the status line. */
		conn->reply = req;
		if (req->close)
			conn->close_after = 1; /* even where evhttp would keep it (CONNECT) */
	} else {
		fb_http_security_headers_add(h, req->tls, req->own_csp);
		evhttp_add_header(h, "X-Request-Id", req->id);
	}
	evhttp_send_reply(req->ev, code, fb_http_reason(code), NULL);
	if (conn != NULL) {
		conn->reply = NULL;
		/*
		 * Write in this loop iteration instead of after another trip
		 * through epoll: the socket is almost always writable. This runs
		 * the socket bufferevent's own write callback, which writes and
		 * tells evhttp when done (waiting for writability if need be).
		 */
		if (conn->srv->ssl == NULL)
			event_active(&conn->bev->ev_write, EV_WRITE, 1);
	}
	req_finish(req, code, bytes);
}

static void
reply_status(struct fb_http_req *req, int code)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%s\n", fb_http_reason(code));

	fb_http_reply(req, code, "text/plain; charset=utf-8", text, (size_t)n);
}

/* RFC 9110 5.6.2: a token character. */
static int
tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 when s is a token: one or more tchar and nothing else. */
static int
token_is(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!tchar((unsigned char)*s))
			return 0;
	return 1;
}

/*
 * 1 when v is a well-formed list of transfer codings: tokens separated by
 * commas with optional spaces, no empty element. A folded line (obs-fold,
 * which evhttp joins with a space) or any other character is not.
 */
static int
coding_list_is(const char *v)
{
	/* evhttp drops the spaces after the colon: leading whitespace is a fold. */
	for (;;) {
		if (!tchar((unsigned char)*v))
			return 0;
		while (tchar((unsigned char)*v))
			v++;
		v += strspn(v, " \t");
		if (*v == '\0')
			return 1;
		if (*v++ != ',')
			return 0;
		v += strspn(v, " \t");
	}
}

/*
 * SECURITY: request framing evhttp 2.1 does not check (RFC 9112 5.1, 6.1,
 * 6.3), against request smuggling. It frames the body by the first field
 * named exactly Content-Length alone and ignores a Transfer-Encoding other
 * than exactly "chunked"; it keeps a field name with whitespace before the
 * colon ("Content-Length : 5") as a different name, and joins folded lines
 * (obs-fold) with a space. So the bytes after what it read cannot be
 * trusted: the reply to such a request closes the connection. 400 for a
 * field name that is not a token (whitespace before the colon, RFC 9112
 * 5.1), Content-Length fields that are not digits or differ, a
 * Transfer-Encoding that is not a list of codings (folded, empty),
 * several Transfer-Encoding fields, or Transfer-Encoding with
 * Content-Length; 501 for a transfer coding other than chunked; else 0.
 */
FB_STATIC int
fb_http_framing_check(const struct evkeyvalq *h)
{
	const struct evkeyval *kv;
	const char *cl = NULL;
	int te = 0, te_other = 0;

	TAILQ_FOREACH(kv, h, next) {
		if (!token_is(kv->key))
			return 400;
		if (strcasecmp(kv->key, "Content-Length") == 0) {
			if (kv->value[0] == '\0' || kv->value[strspn(kv->value, "0123456789")] != '\0')
				return 400;
			if (cl != NULL && strcmp(cl, kv->value) != 0)
				return 400;
			cl = kv->value;
		} else if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
			te++;
			if (!coding_list_is(kv->value))
				return 400;
			if (strcasecmp(kv->value, "chunked") != 0)
				te_other = 1;
		}
	}
	if (te > 1 || (te == 1 && cl != NULL))
		return 400;
	if (te_other)
		return 501;
	return 0;
}

/* Reads what routing needs; a status to answer with when the request is unusable, else 0. */
static int
req_parse(struct fb_http_req *req)
{
	struct evhttp_request *ev = req->ev;
	const struct evkeyvalq *hdrs = evhttp_request_get_input_headers(ev);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	const char *raw, *q;
	size_t declen = 0;
	struct evbuffer *in;
	int st;

	/* Our own id always; a trusted proxy's X-Request-Id is kept beside it (proxy.c). */
	reqid_new(req->srv, req->id);
	fb_http_req_origin_apply(req, &req->srv->proxies);
	st = fb_http_framing_check(hdrs);
	if (st != 0) {
		req->close = 1;
		return st;
	}
	if (fb_http_header_bytes(req->method, evhttp_request_get_uri(ev), hdrs) >
	    req->env->conf->max_header_bytes)
		return 431;
	raw = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (raw == NULL || raw[0] != '/')
		return 400;
	req->path_buf = evhttp_uridecode(raw, 0, &declen);
	if (req->path_buf == NULL)
		return 400;
	/* SECURITY: an encoded NUL would cut the path short of what was checked. */
	if (strlen(req->path_buf) != declen)
		return 400;
	req->path = req->path_buf;
	q = evhttp_uri_get_query(uri);
	if (q != NULL) {
		req->query_parsed = 1;
		if (evhttp_parse_query_str(q, &req->query) != 0)
			return 400;
	}
	in = evhttp_request_get_input_buffer(ev);
	req->body_len = evbuffer_get_length(in);
	if (req->body_len > req->env->conf->max_body_bytes)
		return 413;
	if (req->body_len > 0) {
		char *b = fb_arena_alloc(fb_http_req_arena(req), req->body_len + 1);

		evbuffer_copyout(in, b, req->body_len);
		b[req->body_len] = '\0';
		req->body = b;
	}
	return 0;
}

/* evhttp's callback for every complete request. */
static void
on_request(struct evhttp_request *ev, void *arg)
{
	struct fb_http_server *srv = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct fb_http_conn *conn = conn_byfd(srv, bufferevent_getfd(bev));
	struct fb_http_req *req = fb_xcalloc(1, sizeof(*req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(ev);
	fb_http_handler_fn *fn = NULL;
	void *harg = NULL;
	unsigned allow = 0;
	int st;

	req->ev = ev;
	req->conn = conn;
	req->srv = srv;
	req->env = srv->env;
	req->tls = srv_https(srv);
	req->method = "OTHER";
	req->mid = FB_HTTP_OTHER;
	req->path = "-";
	req->route = FB_HTTP_ROUTE_UNMATCHED;
	req->client = "-";
	req->start_us = fb_time_mono_us();
	for (size_t i = 0; i < sizeof(ev_methods) / sizeof(ev_methods[0]); i++)
		if (ev_methods[i].ev == cmd) {
			req->method = ev_methods[i].name;
			req->mid = ev_methods[i].m;
			break;
		}
	/* evhttp frames no reply to CONNECT and keeps its connection: it ends with ours. */
	if (cmd == EVHTTP_REQ_CONNECT)
		req->close = 1;
	if (conn != NULL) {
		if (conn->client[0] == '\0') {
			char *peer = NULL;
			ev_uint16_t port = 0;

			evhttp_connection_get_peer(evcon, &peer, &port);
			snprintf(conn->client, sizeof(conn->client), "%s", peer != NULL ? peer : "-");
		}
		req->client = conn->client;
		event_del(conn->deadline);
		if (conn->state == CONN_RECEIVING)
			req->start_us = conn->start_us;
		conn->state = CONN_HANDLING;
		conn->inject = 0;
		evhttp_request_set_on_complete_cb(ev, conn_reply_sent, conn);
	}
	st = req_parse(req);
	if (st != 0) {
		reply_status(req, st);
		return;
	}
	switch (fb_http_router_match(srv->router, req->mid, req->path, &fn, &harg, &req->route,
	    &allow)) {
	case FB_HTTP_ROUTE_FOUND:
		fn(req, harg);
		break;
	case FB_HTTP_ROUTE_BAD_METHOD: {
		char methods[96];

		fb_http_methods_format(allow, methods, sizeof(methods));
		fb_http_reply_header(req, "Allow", methods);
		reply_status(req, 405);
		break;
	}
	case FB_HTTP_ROUTE_NOT_FOUND:
	default:
		fb_http_page_not_found(req);
		break;
	}
}

/* ---- accessors ---------------------------------------------------------- */

const char *
fb_http_req_method(const struct fb_http_req *req)
{
	return req->method;
}

enum fb_http_method
fb_http_req_method_id(const struct fb_http_req *req)
{
	return req->mid;
}

const char *
fb_http_req_path(const struct fb_http_req *req)
{
	return req->path;
}

const char *
fb_http_req_route(const struct fb_http_req *req)
{
	return req->route;
}

const char *
fb_http_req_query(const struct fb_http_req *req, const char *name)
{
	if (!req->query_parsed)
		return NULL;
	return evhttp_find_header(&req->query, name);
}

const char *
fb_http_req_header(const struct fb_http_req *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const char *
fb_http_req_body(const struct fb_http_req *req, size_t *len)
{
	if (len != NULL)
		*len = req->body_len;
	return req->body != NULL ? req->body : "";
}

const char *
fb_http_req_client(const struct fb_http_req *req)
{
	return req->client;
}

const char *
fb_http_req_id(const struct fb_http_req *req)
{
	return req->id;
}

struct fb_crypto_cert *
fb_http_req_tls_cert(const struct fb_http_req *req)
{
	SSL *ssl;
	X509 *leaf;

	if (req->conn == NULL || req->conn->bev == NULL || req->srv->ssl == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(req->conn->bev)) == NULL ||
	    (leaf = SSL_get0_peer_certificate(ssl)) == NULL)
		return NULL;
	return fb_crypto_cert_from_x509(leaf, SSL_get_peer_cert_chain(ssl));
}

int
fb_http_req_tls(const struct fb_http_req *req)
{
	return req->tls;
}

const struct fb_http_env *
fb_http_req_env(const struct fb_http_req *req)
{
	return req->env;
}

struct fb_arena *
fb_http_req_arena(struct fb_http_req *req)
{
	/* Made on first use: most requests need none. */
	if (req->arena == NULL)
		req->arena = fb_arena_new();
	return req->arena;
}

/* ---- the server ------------------------------------------------------- */

/* Every CPU job completed: the end of a drain may have been waiting for it. */
static void
pool_idle(void *arg)
{
	struct fb_http_server *srv = arg;

	if (drained(srv))
		event_active(srv->done_ev, EV_TIMEOUT, 0);
}

static void
drain_done(evutil_socket_t fd, short what, void *arg)
{
	struct fb_http_server *srv = arg;

	if (srv->done != NULL) {
		void (*done)(void *) = srv->done;

		srv->done = NULL;
		done(srv->done_arg);
	}
}

/*
 * The drain window is over: idle keep-alive connections are closed. One
 * accepted just before the drain has not sent its request yet: closing it
 * would fail a client that did nothing wrong, so it is answered (with
 * Connection: close, conn_reply_sent) or times out as usual.
 */
static void
drain_window_end(evutil_socket_t fd, short what, void *arg)
{
	struct fb_http_server *srv = arg;
	struct fb_http_conn *conn;

	srv->window_over = 1;
	TAILQ_FOREACH(conn, &srv->conns, link) {
		if (!conn->served && conn->state == CONN_IDLE)
			continue;
		conn->close_idle = 1;
		if (conn->state == CONN_IDLE)
			event_active(conn->kick, EV_TIMEOUT, 0);
	}
}

/*
 * Starts the drain window (server.drain_window, at most shutdown_timeout):
 * as Envoy drains, keep-alive connections stay open and every reply sent
 * meanwhile carries Connection: close (fb_http_req_closing), so a client
 * whose next request is already on its way gets an answer instead of a
 * closed connection, and moves to a new one.
 */
static void
drain_window_start(struct fb_http_server *srv)
{
	int64_t ms = srv->conf->drain_window_ms;
	struct timeval tv;

	if (ms > srv->conf->shutdown_timeout * 1000)
		ms = srv->conf->shutdown_timeout * 1000;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(srv->window_ev, &tv);
}

enum fb_status
fb_http_server_new(struct event_base *base, const struct fb_http_env *env,
    const struct fb_http_router *r, const int *fds, size_t nfds, struct fb_http_server **out,
    struct fb_err *err)
{
	struct fb_http_server *srv = fb_xcalloc(1, sizeof(*srv));
	const struct fb_conf *conf = env->conf;
	size_t hard = conf->max_header_bytes * 4;
	unsigned char rnd[FB_HTTP_REQID_PREFIX_BYTES];
	char *prefix;
	enum fb_status rc;

	*out = NULL;
	fb_http_libevent_log_init();
	/* Each worker makes its own server after the fork: its own prefix. */
	fb_rand_bytes(rnd, sizeof(rnd));
	prefix = fb_b64url_encode(rnd, sizeof(rnd));
	snprintf(srv->reqid_prefix, sizeof(srv->reqid_prefix), "%s", prefix);
	free(prefix);
	srv->base = base;
	srv->env = env;
	srv->conf = conf;
	srv->router = r;
	TAILQ_INIT(&srv->conns);
	srv->done_ev = event_new(base, -1, 0, drain_done, srv);
	srv->resume_ev = evtimer_new(base, accept_resume, srv);
	srv->window_ev = evtimer_new(base, drain_window_end, srv);
	srv->max_conns = conn_cap(conf);
	srv->next_srv = servers;
	servers = srv;
	fb_http_hsts_set(conf->hsts_max_age);
	if ((rc = fb_http_proxies_parse(conf->trusted_proxies, conf->ntrusted_proxies,
		 &srv->proxies, err)) != FB_OK)
		goto out;
	rc = fb_http_pool_new(base, conf->cpu_threads > 0 ? (size_t)conf->cpu_threads : 1,
	    conf->cpu_queue > 0 ? (size_t)conf->cpu_queue : 1, pool_idle, srv, &srv->pool, err);
	if (rc != FB_OK)
		goto out;
	if (conf->tls_cert != NULL && conf->tls_key != NULL) {
		rc = tls_ctx_new(conf, &srv->ssl, err);
		if (rc != FB_OK)
			goto out;
	}
	srv->http = evhttp_new(base);
	if (srv->http == NULL) {
		rc = fb_err_set(err, FB_ERR_INTERNAL, "evhttp_new failed");
		goto out;
	}
	/* Every method reaches the router, which answers 405 with Allow. */
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)conf->max_body_bytes);
	/*
	 * evhttp answers 413 to oversized headers; 431 (RFC 6585 5) is ours,
	 * checked in req_parse, so libevent's cap sits well above the limit.
	 */
	evhttp_set_max_headers_size(srv->http,
	    (ev_ssize_t)(hard > HARD_HEADER_MIN ? hard : HARD_HEADER_MIN));
	evhttp_set_timeout(srv->http, (int)conf->idle_timeout);
	evhttp_set_default_content_type(srv->http, "text/plain; charset=utf-8");
	evhttp_set_bevcb(srv->http, conn_new, srv);
	evhttp_set_gencb(srv->http, on_request, srv);
	srv->bound = fb_xcalloc(nfds > 0 ? nfds : 1, sizeof(srv->bound[0]));
	for (size_t i = 0; i < nfds; i++) {
		/*
		 * The descriptors themselves, never closed here: no dup(), whose
		 * copies would outlive an epoll registration libevent drops
		 * lazily (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST).
		 */
		struct evconnlistener *l = evconnlistener_new(base, NULL, NULL,
		    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 0, fds[i]);

		srv->bound[i] = l != NULL ? evhttp_bind_listener(srv->http, l) : NULL;
		if (srv->bound[i] == NULL) {
			if (l != NULL)
				evconnlistener_free(l);
			rc = fb_err_set(err, FB_ERR_IO, "cannot accept on listening socket %d", fds[i]);
			goto out;
		}
		evconnlistener_set_error_cb(l, accept_error);
		srv->nbound++;
	}
	*out = srv;
	srv = NULL;
	rc = FB_OK;
out:
	fb_http_server_free(srv);
	return rc;
}

void
fb_http_server_drain(struct fb_http_server *srv, void (*done)(void *arg), void *arg)
{
	srv->done = done;
	srv->done_arg = arg;
	if (!srv->draining) {
		srv->draining = 1;
		for (size_t i = 0; i < srv->nbound; i++)
			evhttp_del_accept_socket(srv->http, srv->bound[i]);
		srv->nbound = 0;
		drain_window_start(srv);
	}
	if (drained(srv))
		event_active(srv->done_ev, EV_TIMEOUT, 0);
}

size_t
fb_http_server_connections(const struct fb_http_server *srv)
{
	return srv->nconns;
}

void
fb_http_server_free(struct fb_http_server *srv)
{
	struct fb_http_conn *conn;

	if (srv == NULL)
		return;
	/* First the CPU jobs (their requests belong to connections evhttp_free frees). */
	fb_http_pool_free(srv->pool);
	/* Outbound calls still running are cancelled: their requests go with their connections. */
	fb_net_http_free(srv->net);
	/* evhttp_free closes every connection: conn_closed frees the bound ones. */
	if (srv->http != NULL)
		evhttp_free(srv->http);
	while ((conn = TAILQ_FIRST(&srv->conns)) != NULL) {
		struct bufferevent *bev = conn->bev;
		int bound = conn->bound;

		conn_free(conn);
		if (!bound)
			bufferevent_decref(bev);
	}
	if (srv->done_ev != NULL)
		event_free(srv->done_ev);
	if (srv->resume_ev != NULL)
		event_free(srv->resume_ev);
	if (srv->window_ev != NULL)
		event_free(srv->window_ev);
	for (struct fb_http_server **p = &servers; *p != NULL; p = &(*p)->next_srv)
		if (*p == srv) {
			*p = srv->next_srv;
			break;
		}
	SSL_CTX_free(srv->ssl);
	fb_http_proxies_cleanup(&srv->proxies);
	free(srv->bound);
	free(srv->byfd);
	free(srv);
}
