/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net/http.c: HTTPS requests through libcurl. The asynchronous client runs
 * curl's multi interface on a libevent base (curl's docs/examples/multi-event.c
 * pattern: curl tells us which sockets to watch and when to wake it, libevent
 * watches them); the blocking variant is curl_easy_perform for the CLI.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "core/core.h"
#include "net/net.h"

struct fb_net_http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	size_t running;
	struct fb_net_http_call *calls; /* every running call, to cancel them on free */
};

struct fb_net_http_call {
	struct fb_net_http *h;
	struct fb_net_http_call *prev, *next;
	CURL *easy;
	struct curl_slist *headers;
	char *password; /* SECRET: wiped on free */
	char *bearer;   /* SECRET: wiped on free */
	struct fb_buf body;
	size_t max_body;
	int toobig;
	char errbuf[CURL_ERROR_SIZE];
	fb_net_http_done_fn *done;
	void *arg;
};

/* The event watching one socket curl asked for. */
struct sock {
	struct event *ev;
	struct fb_net_http *h;
};

void
fb_net_http_response_cleanup(struct fb_net_http_response *r)
{
	if (r == NULL)
		return;
	free(r->content_type);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fb_net_http_call *c = arg;

	/* A body over max_body ends the transfer (curl reports CURLE_WRITE_ERROR). */
	if (fb_buf_add(&c->body, p, size * n, NULL) != FB_OK) {
		c->toobig = 1;
		return 0;
	}
	return size * n;
}

static int
https_url(const char *url)
{
	return url != NULL && strncasecmp(url, "https://", 8) == 0;
}

/* 1 when url is http:// to a loopback host (a test peer, a sidecar): 127.0.0.0/8, ::1, localhost. */
static int
loopback_http_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL;
	struct in_addr a4;
	int ok = 0;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    strcmp(scheme, "http") == 0 &&
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		ok = strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
		    (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

static void
call_free(struct fb_net_http_call *c)
{
	if (c == NULL)
		return;
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	fb_secret_free(c->password);
	fb_secret_free(c->bearer);
	fb_buf_cleanup(&c->body);
	free(c);
}

/* A new call with its easy handle set up for rq, or NULL with err set. */
static struct fb_net_http_call *
call_new(const struct fb_net_http_request *rq, struct fb_err *err)
{
	struct fb_net_http_call *c;
	int64_t total = rq->timeout_ms > 0 ? rq->timeout_ms : FB_NET_HTTP_TIMEOUT_MS;
	int64_t conn =
	    rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : FB_NET_HTTP_CONNECT_TIMEOUT_MS;
	char *h;

	int plain = rq->loopback_http && loopback_http_url(rq->url);

	if (!https_url(rq->url) && !plain) {
		fb_err_set(err, FB_ERR_INVALID, "only https:// URLs are fetched");
		return NULL;
	}
	if (conn > total)
		conn = total;
	c = fb_xcalloc(1, sizeof(*c));
	c->max_body = rq->max_body > 0 ? rq->max_body : FB_NET_HTTP_MAX_BODY;
	fb_buf_init(&c->body, c->max_body);
	if ((c->easy = curl_easy_init()) == NULL) {
		fb_err_set(err, FB_ERR_INTERNAL, "curl_easy_init failed");
		call_free(c);
		return NULL;
	}
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_URL, rq->url);
	/* SECURITY: https only (http to loopback when asked), also after anything curl does. */
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, plain ? "http" : "https");
	curl_easy_setopt(c->easy, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (rq->ca_file != NULL) {
		curl_easy_setopt(c->easy, CURLOPT_CAINFO, rq->ca_file);
		curl_easy_setopt(c->easy, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(c->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)total);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)conn);
	curl_easy_setopt(c->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)(rq->max_body > 0 ? rq->max_body : FB_NET_HTTP_MAX_BODY));
	curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "fedbroker");
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	if (rq->accept != NULL) {
		h = fb_xasprintf("Accept: %s", rq->accept);
		c->headers = curl_slist_append(c->headers, h);
		free(h);
	}
	if (rq->body != NULL) {
		h = fb_xasprintf("Content-Type: %s",
		    rq->content_type != NULL ? rq->content_type : FB_NET_HTTP_FORM);
		c->headers = curl_slist_append(c->headers, h);
		free(h);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(c->easy, CURLOPT_COPYPOSTFIELDS, rq->body);
	}
	if (rq->method != NULL)
		curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, rq->method);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	if (rq->username != NULL) {
		c->password = fb_xstrdup(rq->password != NULL ? rq->password : "");
		curl_easy_setopt(c->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c->easy, CURLOPT_USERNAME, rq->username);
		curl_easy_setopt(c->easy, CURLOPT_PASSWORD, c->password);
	}
	if (rq->bearer != NULL) {
		c->bearer = fb_xstrdup(rq->bearer);
		curl_easy_setopt(c->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		curl_easy_setopt(c->easy, CURLOPT_XOAUTH2_BEARER, c->bearer);
	}
	return c;
}

/* The outcome of a finished transfer: *out filled on FB_OK. */
static enum fb_status
call_result(struct fb_net_http_call *c, CURLcode rc, struct fb_net_http_response *out,
    struct fb_err *err)
{
	char *url = NULL, *ct = NULL;
	curl_off_t retry = -1;
	long status = 0;

	memset(out, 0, sizeof(*out));
	curl_easy_getinfo(c->easy, CURLINFO_EFFECTIVE_URL, &url);
	if (c->toobig || rc == CURLE_FILESIZE_EXCEEDED)
		return fb_err_set(err, FB_ERR_UPSTREAM, "%s: the response is larger than %zu bytes",
		    url != NULL ? url : "?", c->max_body);
	if (rc != CURLE_OK)
		return fb_err_set(err, FB_ERR_UPSTREAM, "%s: %s%s%s", url != NULL ? url : "?",
		    curl_easy_strerror(rc), c->errbuf[0] != '\0' ? ": " : "", c->errbuf);
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
	if (curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry) != CURLE_OK || retry < 0)
		retry = -1;
	out->retry_after = retry > 0 ? (int64_t)retry : -1;
	out->status = status;
	out->content_type = ct != NULL ? fb_xstrdup(ct) : NULL;
	out->body_len = c->body.len;
	out->body = fb_buf_take(&c->body);
	return FB_OK;
}

enum fb_status
fb_net_http_fetch(const struct fb_net_http_request *rq, struct fb_net_http_response *out,
    struct fb_err *err)
{
	struct fb_net_http_call *c;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((c = call_new(rq, err)) == NULL)
		return err != NULL ? err->code : FB_ERR_INVALID;
	r = call_result(c, curl_easy_perform(c->easy), out, err);
	call_free(c);
	return r;
}

/* --- the multi interface on libevent --- */

/* Takes c off its client's multi handle and list (c is not freed). */
static void
detach(struct fb_net_http_call *c)
{
	struct fb_net_http *h = c->h;

	if (h == NULL)
		return;
	curl_multi_remove_handle(h->multi, c->easy);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->h = NULL;
	h->running--;
}

/* Hands every finished transfer to its done callback. */
static void
check_done(struct fb_net_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct fb_net_http_call *c = NULL;
		struct fb_net_http_response resp;
		struct fb_err err;
		enum fb_status st;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		st = call_result(c, m->data.result, &resp, &err);
		detach(c);
		c->done(st, st == FB_OK ? &resp : NULL, st == FB_OK ? NULL : &err, c->arg);
		if (st == FB_OK)
			fb_net_http_response_cleanup(&resp);
		call_free(c);
	}
}

static void
event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fb_net_http *h = arg;
	int flags = 0, running = 0;

	if ((what & EV_READ) != 0)
		flags |= CURL_CSELECT_IN;
	if ((what & EV_WRITE) != 0)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	check_done(h);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fb_net_http *h = arg;
	int running = 0;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: wake curl in ms milliseconds (-1: never). */
static int
multi_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct fb_net_http *h = arg;
	struct timeval tv;

	if (ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl asks (or stop watching it). */
static int
multi_sock_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct fb_net_http *h = arg;
	struct sock *k = sockp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (k != NULL) {
			event_free(k->ev);
			free(k);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	if ((what & CURL_POLL_IN) != 0)
		kind |= EV_READ;
	if ((what & CURL_POLL_OUT) != 0)
		kind |= EV_WRITE;
	if (k == NULL) {
		k = fb_xcalloc(1, sizeof(*k));
		k->h = h;
		curl_multi_assign(h->multi, s, k);
	} else {
		event_free(k->ev);
	}
	k->ev = event_new(h->base, s, kind, event_cb, h);
	if (k->ev == NULL) {
		fb_log(FB_LOG_ERROR, "event_new failed for an outbound HTTP socket");
		return -1;
	}
	event_add(k->ev, NULL);
	return 0;
}

struct fb_net_http *
fb_net_http_new(struct event_base *base)
{
	struct fb_net_http *h = fb_xcalloc(1, sizeof(*h));

	h->base = base;
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, timer_cb, h);
	if (h->multi == NULL || h->timer == NULL) {
		fb_log(FB_LOG_ERROR, "cannot set up the outbound HTTP client");
		fb_net_http_free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, multi_sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
fb_net_http_free(struct fb_net_http *h)
{
	if (h == NULL)
		return;
	while (h->calls != NULL) {
		struct fb_net_http_call *c = h->calls;

		detach(c);
		call_free(c);
	}
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	if (h->timer != NULL)
		event_free(h->timer);
	free(h);
}

enum fb_status
fb_net_http_start(struct fb_net_http *h, const struct fb_net_http_request *rq,
    fb_net_http_done_fn *done, void *arg, struct fb_net_http_call **call, struct fb_err *err)
{
	struct fb_net_http_call *c;
	CURLMcode mc;

	if (call != NULL)
		*call = NULL;
	if ((c = call_new(rq, err)) == NULL)
		return err != NULL ? err->code : FB_ERR_INVALID;
	c->h = h;
	c->done = done;
	c->arg = arg;
	/* curl calls the timer callback with 0: the transfer starts from the loop. */
	if ((mc = curl_multi_add_handle(h->multi, c->easy)) != CURLM_OK) {
		call_free(c);
		return fb_err_set(err, FB_ERR_INTERNAL, "curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
	}
	c->next = h->calls;
	if (h->calls != NULL)
		h->calls->prev = c;
	h->calls = c;
	h->running++;
	if (call != NULL)
		*call = c;
	return FB_OK;
}

void
fb_net_http_cancel(struct fb_net_http_call *c)
{
	if (c == NULL)
		return;
	detach(c);
	call_free(c);
}

size_t
fb_net_http_running(const struct fb_net_http *h)
{
	return h->running;
}
