/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_http.c: status table, router, request ids, framing, metrics, header sizes. */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/core.h"
#include "http/http.h"
#include "http/internal.h"
#include "unit.h"

/* ---- status table -------------------------------------------------------- */

static void
test_status_table(void)
{
	static const struct {
		enum fb_status s;
		int code;
	} want[] = {
		{FB_OK, 200}, {FB_ERR_NOMEM, 503}, {FB_ERR_INVALID, 400}, {FB_ERR_PROTOCOL, 400},
		{FB_ERR_SIGNATURE, 403}, {FB_ERR_EXPIRED, 403}, {FB_ERR_REPLAY, 409},
		{FB_ERR_DENIED, 403}, {FB_ERR_UPSTREAM, 502}, {FB_ERR_IO, 503},
		{FB_ERR_CONFIG, 500}, {FB_ERR_INTERNAL, 500}, {FB_ERR_NOTFOUND, 404},
		{FB_ERR_LIMIT, 413},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CU_ASSERT_EQUAL(fb_http_status_for(want[i].s), want[i].code);
	CU_ASSERT_EQUAL(fb_http_status_for((enum fb_status)999), 500);
	/* The one rule for a failing store: these decide nothing and answer 503. */
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CU_ASSERT_EQUAL(fb_http_store_down(want[i].s), want[i].s == FB_ERR_IO ||
		    want[i].s == FB_ERR_INTERNAL || want[i].s == FB_ERR_NOMEM);
	CU_ASSERT_STRING_EQUAL(fb_http_reason(404), "Not Found");
	CU_ASSERT_STRING_EQUAL(fb_http_reason(431), "Request Header Fields Too Large");
	CU_ASSERT_STRING_EQUAL(fb_http_reason(408), "Request Timeout");
	CU_ASSERT_STRING_EQUAL(fb_http_reason(299), "Unknown");
}

static void
test_security_headers(void)
{
	size_t plen = 0, tlen = 0;
	const char *plain = fb_http_security_headers_text(0, 0, &plen);
	const char *tls = fb_http_security_headers_text(1, 0, &tlen);

	CU_ASSERT_EQUAL(plen, strlen(plain));
	CU_ASSERT_EQUAL(tlen, strlen(tls));
	CU_ASSERT_PTR_NOT_NULL(strstr(plain, "X-Content-Type-Options: nosniff\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(plain, "Content-Security-Policy: frame-ancestors 'none'\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(plain, "X-Frame-Options: DENY\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(plain, "Referrer-Policy: no-referrer\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(plain, "Cache-Control: no-store\r\n"));
	CU_ASSERT_PTR_NULL(strstr(plain, "Strict-Transport-Security"));
	CU_ASSERT_PTR_NOT_NULL(strstr(tls, "Strict-Transport-Security: max-age=31536000\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(tls, "Cache-Control: no-store\r\n"));
	/* Built once: the same text again. */
	CU_ASSERT_PTR_EQUAL(fb_http_security_headers_text(0, 0, NULL), plain);
	/* A handler's own policy: the default one is left out, the rest stays. */
	const char *own = fb_http_security_headers_text(1, 1, NULL);
	CU_ASSERT_PTR_NULL(strstr(own, "Content-Security-Policy"));
	CU_ASSERT_PTR_NOT_NULL(strstr(own, "X-Frame-Options: DENY\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(own, "Strict-Transport-Security"));
}

/* ---- router ----------------------------------------------------------------- */

static int calls[4];

static void
h0(struct fb_http_req *req, void *arg)
{
	calls[0]++;
}

static void
h1(struct fb_http_req *req, void *arg)
{
	calls[1]++;
}

static void
h2(struct fb_http_req *req, void *arg)
{
	calls[2]++;
}

static void
test_router(void)
{
	struct fb_http_router *r = fb_http_router_new();
	struct fb_err err = {0};
	fb_http_handler_fn *fn = NULL;
	void *arg = NULL;
	const char *label = NULL;
	unsigned allow = 0;
	int tag = 7;

	CU_ASSERT_EQUAL(fb_http_router_add(r, "/healthz", FB_HTTP_GET, h0, &tag, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_http_router_add(r, "/upstream/*", FB_HTTP_GET | FB_HTTP_POST, h1, NULL,
			    &err), FB_OK);
	CU_ASSERT_EQUAL(fb_http_router_add(r, "/upstream/x/*", FB_HTTP_POST, h2, NULL, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_http_router_add(r, "/upstream/exact", FB_HTTP_DELETE, h0, NULL, &err),
	    FB_OK);

	/* exact */
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_GET, "/healthz", &fn, &arg, &label, &allow),
	    FB_HTTP_ROUTE_FOUND);
	CU_ASSERT_PTR_EQUAL(fn, h0);
	CU_ASSERT_PTR_EQUAL(arg, &tag);
	CU_ASSERT_STRING_EQUAL(label, "/healthz");
	/* GET implies HEAD */
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_HEAD, "/healthz", &fn, &arg, &label, &allow),
	    FB_HTTP_ROUTE_FOUND);
	CU_ASSERT_EQUAL(allow, FB_HTTP_GET | FB_HTTP_HEAD);
	/* exact paths do not match below themselves */
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_GET, "/healthz/x", &fn, &arg, &label,
			    &allow), FB_HTTP_ROUTE_NOT_FOUND);
	CU_ASSERT_STRING_EQUAL(label, FB_HTTP_ROUTE_UNMATCHED);
	CU_ASSERT_EQUAL(allow, 0);
	/* 405 with the methods allowed */
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_POST, "/healthz", &fn, &arg, &label, &allow),
	    FB_HTTP_ROUTE_BAD_METHOD);
	CU_ASSERT_STRING_EQUAL(label, "/healthz");
	CU_ASSERT_EQUAL(allow, FB_HTTP_GET | FB_HTTP_HEAD);
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_OTHER, "/healthz", &fn, &arg, &label,
			    &allow), FB_HTTP_ROUTE_BAD_METHOD);
	/* prefix: the label is the pattern, not the path */
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_POST, "/upstream/google/acs", &fn, &arg,
			    &label, &allow), FB_HTTP_ROUTE_FOUND);
	CU_ASSERT_PTR_EQUAL(fn, h1);
	CU_ASSERT_STRING_EQUAL(label, "/upstream/*");
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_GET, "/upstream/", &fn, &arg, &label,
			    &allow), FB_HTTP_ROUTE_FOUND);
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_GET, "/upstream", &fn, &arg, &label,
			    &allow), FB_HTTP_ROUTE_NOT_FOUND);
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_GET, "/upstreamx/a", &fn, &arg, &label,
			    &allow), FB_HTTP_ROUTE_NOT_FOUND);
	/* the longest prefix wins, even when its method does not match */
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_POST, "/upstream/x/1", &fn, &arg, &label,
			    &allow), FB_HTTP_ROUTE_FOUND);
	CU_ASSERT_PTR_EQUAL(fn, h2);
	CU_ASSERT_STRING_EQUAL(label, "/upstream/x/*");
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_GET, "/upstream/x/1", &fn, &arg, &label,
			    &allow), FB_HTTP_ROUTE_BAD_METHOD);
	CU_ASSERT_EQUAL(allow, FB_HTTP_POST);
	/* an exact path wins over a prefix */
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_DELETE, "/upstream/exact", &fn, &arg,
			    &label, &allow), FB_HTTP_ROUTE_FOUND);
	CU_ASSERT_STRING_EQUAL(label, "/upstream/exact");
	CU_ASSERT_EQUAL(fb_http_router_match(r, FB_HTTP_GET, "/", NULL, NULL, NULL, NULL),
	    FB_HTTP_ROUTE_NOT_FOUND);

	/* bad additions */
	CU_ASSERT_EQUAL(fb_http_router_add(r, "/healthz", FB_HTTP_POST, h0, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "already"));
	CU_ASSERT_EQUAL(fb_http_router_add(r, "healthz", FB_HTTP_GET, h0, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'healthz'"));
	CU_ASSERT_EQUAL(fb_http_router_add(r, "/m", 0, h0, NULL, &err), FB_ERR_INVALID);
	fb_http_router_free(r);
	fb_http_router_free(NULL);
}

static void
test_router_limit(void)
{
	struct fb_http_router *r = fb_http_router_new();
	struct fb_err err = {0};
	char path[32];

	for (int i = 0; i < FB_HTTP_ROUTES_MAX; i++) {
		snprintf(path, sizeof(path), "/r%d", i);
		CU_ASSERT_EQUAL(fb_http_router_add(r, path, FB_HTTP_GET, h0, NULL, &err), FB_OK);
	}
	CU_ASSERT_EQUAL(fb_http_router_add(r, "/one-more", FB_HTTP_GET, h0, NULL, &err),
	    FB_ERR_LIMIT);
	fb_http_router_free(r);
}

static void
test_methods(void)
{
	char buf[64];

	CU_ASSERT_EQUAL(fb_http_method_parse("GET"), FB_HTTP_GET);
	CU_ASSERT_EQUAL(fb_http_method_parse("PATCH"), FB_HTTP_PATCH);
	CU_ASSERT_EQUAL(fb_http_method_parse("get"), FB_HTTP_OTHER);
	CU_ASSERT_EQUAL(fb_http_method_parse("BREW"), FB_HTTP_OTHER);
	fb_http_methods_format(FB_HTTP_GET | FB_HTTP_HEAD | FB_HTTP_POST, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "GET, HEAD, POST");
	fb_http_methods_format(0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "");
}

/* ---- request ids ------------------------------------------------------------ */

static void
test_reqid(void)
{
	char id64[65], id65[66];

	memset(id64, 'a', 64);
	id64[64] = '\0';
	memset(id65, 'a', 65);
	id65[65] = '\0';
	CU_ASSERT_TRUE(fb_http_reqid_check("abc"));
	CU_ASSERT_TRUE(fb_http_reqid_check("test-req.ID_0123456789"));
	CU_ASSERT_TRUE(fb_http_reqid_check("x"));
	CU_ASSERT_TRUE(fb_http_reqid_check(id64));
	CU_ASSERT_FALSE(fb_http_reqid_check(id65));
	CU_ASSERT_FALSE(fb_http_reqid_check(""));
	CU_ASSERT_FALSE(fb_http_reqid_check(NULL));
	CU_ASSERT_FALSE(fb_http_reqid_check("has space"));
	CU_ASSERT_FALSE(fb_http_reqid_check("<script>"));
	CU_ASSERT_FALSE(fb_http_reqid_check("a\"b"));
	CU_ASSERT_FALSE(fb_http_reqid_check("semi;colon"));
	CU_ASSERT_FALSE(fb_http_reqid_check("new\nline"));
	CU_ASSERT_FALSE(fb_http_reqid_check("caf\xc3\xa9"));
}

/* ---- header size -------------------------------------------------------------- */

static void
test_header_bytes(void)
{
	struct evkeyvalq h;
	const char *line = "GET /healthz HTTP/1.1\r\n";
	size_t n;

	TAILQ_INIT(&h);
	/* request line + final CRLF */
	CU_ASSERT_EQUAL(fb_http_header_bytes("GET", "/healthz", &h), strlen(line) + 2);
	evhttp_add_header(&h, "Host", "x");
	evhttp_add_header(&h, "X-Filler", "0123456789");
	n = fb_http_header_bytes("GET", "/healthz", &h);
	CU_ASSERT_EQUAL(n, strlen(line) + strlen("Host: x\r\n") + strlen("X-Filler: 0123456789\r\n") +
	    2);
	evhttp_clear_headers(&h);
}

/* ---- request framing (RFC 9112 6.1, 6.3) ------------------------------------- */

/* fb_http_framing_check on the fields given as name, value, ..., NULL. */
static int
framing(const char *first, ...)
{
	struct evkeyvalq h;
	va_list ap;
	int st;

	TAILQ_INIT(&h);
	va_start(ap, first);
	for (const char *k = first; k != NULL; k = va_arg(ap, const char *))
		evhttp_add_header(&h, k, va_arg(ap, const char *));
	va_end(ap);
	st = fb_http_framing_check(&h);
	evhttp_clear_headers(&h);
	return st;
}

static void
test_framing(void)
{
	CU_ASSERT_EQUAL(framing("Host", "x", NULL), 0);
	CU_ASSERT_EQUAL(framing("Content-Length", "5", NULL), 0);
	CU_ASSERT_EQUAL(framing("Content-Length", "5", "content-length", "5", NULL), 0);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "chunked", NULL), 0);
	CU_ASSERT_EQUAL(framing("transfer-encoding", "Chunked", NULL), 0);
	/* differing or malformed lengths */
	CU_ASSERT_EQUAL(framing("Content-Length", "5", "Content-Length", "6", NULL), 400);
	CU_ASSERT_EQUAL(framing("Content-Length", "0", "CONTENT-LENGTH", "6", NULL), 400);
	CU_ASSERT_EQUAL(framing("Content-Length", "5, 6", NULL), 400);
	CU_ASSERT_EQUAL(framing("Content-Length", "5, 5", NULL), 400);
	CU_ASSERT_EQUAL(framing("Content-Length", "-1", NULL), 400);
	CU_ASSERT_EQUAL(framing("Content-Length", "+5", NULL), 400);
	CU_ASSERT_EQUAL(framing("Content-Length", "", NULL), 400);
	/* codings other than a lone chunked */
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "gzip", NULL), 501);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "identity", NULL), 501);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "chunked, gzip", NULL), 501);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "gzip, chunked", NULL), 501);
	/* several Transfer-Encoding fields are odd whatever they say */
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "chunked", "Transfer-Encoding", "gzip", NULL),
	    400);
	CU_ASSERT_EQUAL(
	    framing("Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL), 400);
	/* both framings */
	CU_ASSERT_EQUAL(framing("Content-Length", "5", "Transfer-Encoding", "chunked", NULL), 400);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "chunked", "Content-Length", "0", NULL), 400);
	/* RFC 9112 5.1: whitespace between a field name and the colon (evhttp keeps it) */
	CU_ASSERT_EQUAL(framing("Content-Length ", "5", NULL), 400);
	CU_ASSERT_EQUAL(framing("Content-Length\t", "5", NULL), 400);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding ", "chunked", NULL), 400);
	CU_ASSERT_EQUAL(framing("X-Other ", "a", NULL), 400);
	CU_ASSERT_EQUAL(framing(" Host", "x", NULL), 400);
	CU_ASSERT_EQUAL(framing("", "x", NULL), 400);
	CU_ASSERT_EQUAL(framing("X-Fine_Name.1~", "a b", NULL), 0);
	/* obs-fold: evhttp joins the folded line with a space */
	CU_ASSERT_EQUAL(framing("Content-Length", "5 0", NULL), 400);
	CU_ASSERT_EQUAL(framing("Content-Length", " 5", NULL), 400);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "chunked x", NULL), 400);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", " chunked", NULL), 400);
	/* malformed coding lists */
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "", NULL), 400);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "chunked,", NULL), 400);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", ",chunked", NULL), 400);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "chunked;q=1", NULL), 400);
	CU_ASSERT_EQUAL(framing("Transfer-Encoding", "\"chunked\"", NULL), 400);
}

/* The connection cap stays below the descriptor limit, with room for the worker's files. */
static void
test_conn_cap(void)
{
	CU_ASSERT_EQUAL(fb_http_conn_cap(1024), 1024 - 32 - 64);
	CU_ASSERT_EQUAL(fb_http_conn_cap(256), 256 - 32 - 16);
	CU_ASSERT_EQUAL(fb_http_conn_cap(65536), 65536 - 32 - 4096);
	CU_ASSERT_EQUAL(fb_http_conn_cap(20), 10);
	CU_ASSERT_EQUAL(fb_http_conn_cap(1), 1);
	CU_ASSERT_EQUAL(fb_http_conn_cap(0), 1);
	CU_ASSERT(fb_http_conn_cap(UINT64_MAX) < 1048576);
	for (uint64_t n = 1; n < 5000; n += 7)
		CU_ASSERT(fb_http_conn_cap(n) < n || n == 1);
}

/* fb_http_own_reply_rewrite on resp; the result (new) or NULL on error. */
static char *
rewrite(const char *resp)
{
	struct fb_buf b;
	struct fb_err err = {0};

	fb_buf_init(&b, 4096);
	if (fb_http_own_reply_rewrite(resp, strlen(resp), "X-A: 1\r\nX-B: 2\r\n", &b, &err) !=
	    FB_OK) {
		fb_buf_cleanup(&b);
		return NULL;
	}
	return fb_buf_take(&b);
}

static void
test_own_reply_rewrite(void)
{
	char *r;

	/* No length (as after CONNECT), Connection: close kept once. */
	r = rewrite("HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\n"
		    "Date: x\r\n\r\n<HTML>body</HTML>\n");
	CU_ASSERT_STRING_EQUAL(r, "HTTP/1.1 400 Bad Request\r\nX-A: 1\r\nX-B: 2\r\n"
				  "Content-Type: text/html\r\nDate: x\r\nContent-Length: 18\r\n"
				  "Connection: close\r\n\r\n<HTML>body</HTML>\n");
	free(r);
	/* Its own length replaced by the real one; keep-alive replaced by close. */
	r = rewrite("HTTP/1.1 413 Content Too Large\r\ncontent-length: 99\r\n"
		    "connection: keep-alive\r\n\r\nab");
	CU_ASSERT_STRING_EQUAL(r, "HTTP/1.1 413 Content Too Large\r\nX-A: 1\r\nX-B: 2\r\n"
				  "Content-Length: 2\r\nConnection: close\r\n\r\nab");
	free(r);
	/* No header fields at all, no body. */
	r = rewrite("HTTP/1.0 501 Not Implemented\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(r, "HTTP/1.0 501 Not Implemented\r\nX-A: 1\r\nX-B: 2\r\n"
				  "Content-Length: 0\r\nConnection: close\r\n\r\n");
	free(r);
	/* A field whose name only starts like one we replace is kept. */
	r = rewrite("HTTP/1.1 400 Bad Request\r\nConnectionX: y\r\n\r\nz");
	CU_ASSERT_PTR_NOT_NULL(r);
	CU_ASSERT_PTR_NOT_NULL(r != NULL ? strstr(r, "\r\nConnectionX: y\r\n") : NULL);
	free(r);
	/* Incomplete heads are refused. */
	CU_ASSERT_PTR_NULL(rewrite("HTTP/1.1 400 Bad Request\r\nContent-Type: x\r\n"));
	CU_ASSERT_PTR_NULL(rewrite("garbage\r\n\r\n"));
}

static void
test_reqid_format(void)
{
	const char *prefix = "AbCdEfGhIjKlMnOp";
	char a[FB_HTTP_REQID_MAX + 1], b[FB_HTTP_REQID_MAX + 1];

	fb_http_reqid_format(prefix, 0, a);
	CU_ASSERT_STRING_EQUAL(a, "AbCdEfGhIjKlMnOpAAAAAA");
	fb_http_reqid_format(prefix, 1, b);
	CU_ASSERT_STRING_EQUAL(b, "AbCdEfGhIjKlMnOpAAAAAB");
	fb_http_reqid_format(prefix, 64, b);
	CU_ASSERT_STRING_EQUAL(b, "AbCdEfGhIjKlMnOpAAAABA");
	fb_http_reqid_format(prefix, (UINT64_C(1) << 36) - 1, b);
	CU_ASSERT_STRING_EQUAL(b, "AbCdEfGhIjKlMnOp______");
	CU_ASSERT_TRUE(fb_http_reqid_check(b));
	/* 1000 consecutive ids: distinct and acceptable as ids. */
	for (uint64_t i = 0; i < 1000; i++) {
		fb_http_reqid_format(prefix, i, a);
		fb_http_reqid_format(prefix, i + 1, b);
		CU_ASSERT_EQUAL(strlen(a), FB_HTTP_REQID_PREFIX_LEN + FB_HTTP_REQID_SEQ_LEN);
		CU_ASSERT_TRUE(fb_http_reqid_check(a));
		CU_ASSERT_STRING_NOT_EQUAL(a, b);
	}
}

/* ---- metrics ------------------------------------------------------------------ */

/* The value of the sample line that starts with prefix (labels included), -1 when absent. */
static double
sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *eol = strchr(p, '\n');

		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = eol != NULL ? eol + 1 : NULL;
	}
	return -1;
}

/*
 * Checks the exposition line by line: comments are HELP or TYPE, every
 * sample belongs to a family declared by a TYPE line before it, and each
 * family has exactly one HELP and one TYPE.
 */
static int
exposition_ok(const char *text)
{
	char *copy = fb_xstrdup(text), *save = NULL;
	char families[32][96];
	size_t nfam = 0;
	int ok = 1;

	for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "# HELP ", 7) == 0)
			continue;
		if (strncmp(l, "# TYPE ", 7) == 0) {
			char name[96];
			const char *sp = strchr(l + 7, ' ');

			if (sp == NULL || nfam == 32 || (size_t)(sp - (l + 7)) >= sizeof(name)) {
				ok = 0;
				break;
			}
			snprintf(name, sizeof(name), "%.*s", (int)(sp - (l + 7)), l + 7);
			for (size_t i = 0; i < nfam; i++)
				if (strcmp(families[i], name) == 0)
					ok = 0;
			if (strcmp(sp + 1, "counter") != 0 && strcmp(sp + 1, "gauge") != 0 &&
			    strcmp(sp + 1, "histogram") != 0)
				ok = 0;
			snprintf(families[nfam++], sizeof(families[0]), "%s", name);
			continue;
		}
		if (l[0] == '#') {
			ok = 0;
			break;
		}
		/* a sample: its name must start with a declared family */
		{
			int found = 0;

			for (size_t i = 0; i < nfam; i++) {
				size_t fl = strlen(families[i]);

				if (strncmp(l, families[i], fl) == 0 &&
				    (l[fl] == ' ' || l[fl] == '{' || l[fl] == '_'))
					found = 1;
			}
			if (!found || strchr(l, ' ') == NULL)
				ok = 0;
		}
	}
	free(copy);
	return ok;
}

static char *
render(struct fb_http_metrics *m)
{
	struct fb_buf b;
	struct fb_err err = {0};

	fb_buf_init(&b, 1 << 20);
	CU_ASSERT_EQUAL(fb_http_metrics_render(m, &b, &err), FB_OK);
	return fb_buf_take(&b);
}

/* Audit lines are counted by event: the log's hook feeds the shared counters. */
static void
test_metrics_audit(void)
{
	struct fb_http_metrics *m = NULL;
	struct fb_err err = {0};
	char *text, name[32];
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	CU_ASSERT_EQUAL_FATAL(fb_http_metrics_new(&m, &err), FB_OK);
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, devnull);
	fb_log_audit_hook_set(fb_http_metrics_audit, m);
	fb_audit(NULL, "login_failed", "one");
	fb_audit(NULL, "login_failed", "two");
	fb_audit(NULL, "saml_sp_unknown", "three");
	fb_log(FB_LOG_ERROR, "not an audit line");
	/* Past the table's room, names count as "other": the cardinality stays bounded. */
	for (int i = 0; i < FB_HTTP_AUDIT_EVENTS_MAX + 5; i++) {
		snprintf(name, sizeof(name), "ev%d", i);
		fb_http_metrics_audit(name, m);
	}
	fb_log_audit_hook_set(NULL, NULL);
	fb_audit(NULL, "login_failed", "not counted");
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_INFO, 2);
	close(devnull);
	text = render(m);
	CU_ASSERT_TRUE(exposition_ok(text));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# TYPE fedbroker_audit_events_total counter\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "fedbroker_audit_events_total{event=\"login_failed\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "fedbroker_audit_events_total{event=\"saml_sp_unknown\"} 1\n"));
	/* 96 named slots, two taken above: ev0..ev93 fit, the last 7 count as "other". */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "fedbroker_audit_events_total{event=\"ev93\"} 1\n"));
	CU_ASSERT_PTR_NULL(strstr(text, "event=\"ev94\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "fedbroker_audit_events_total{event=\"other\"} 7\n"));
	free(text);
	fb_http_metrics_free(m);
}

static void
test_metrics_render(void)
{
	struct fb_http_metrics *m = NULL;
	struct fb_err err = {0};
	char *text;

	CU_ASSERT_EQUAL_FATAL(fb_http_metrics_new(&m, &err), FB_OK);
	fb_http_metrics_set_workers(m, 3);
	fb_http_metrics_worker_restarted(m);
	fb_http_metrics_observe(m, "/healthz", 200, 0.0001);
	fb_http_metrics_observe(m, "/healthz", 200, 0.003);
	fb_http_metrics_observe(m, "/healthz", 405, 20.0);
	fb_http_metrics_observe(m, FB_HTTP_ROUTE_UNMATCHED, 404, 0.0002);
	fb_http_metrics_observe(m, "/we\"ird\\", 200, 0.1);
	fb_http_metrics_accept_paused(m, FB_HTTP_PAUSE_DESCRIPTORS);
	fb_http_metrics_accept_paused(m, FB_HTTP_PAUSE_DESCRIPTORS);
	fb_http_metrics_accept_paused(m, FB_HTTP_PAUSE_CONNECTIONS);
	fb_http_metrics_idle_closed(m);
	text = render(m);
	CU_ASSERT_TRUE(exposition_ok(text));
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_accept_paused_total{reason=\"descriptors\"}"), 2);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_accept_paused_total{reason=\"connections\"}"), 1);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_idle_closed_total"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# TYPE fedbroker_http_requests_total counter\n"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(text, "# TYPE fedbroker_http_request_duration_seconds histogram\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# HELP fedbroker_build_info "));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "fedbroker_build_info{version=\"" FB_VERSION "\"} 1\n"));
	CU_ASSERT_EQUAL(sample(text, "fedbroker_workers"), 3);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_worker_restarts_total"), 1);
	CU_ASSERT_TRUE(sample(text, "process_start_time_seconds") > 1e9);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_requests_total{route=\"/healthz\",code=\"200\"}"),
	    2);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_requests_total{route=\"/healthz\",code=\"405\"}"),
	    1);
	CU_ASSERT_EQUAL(
	    sample(text, "fedbroker_http_requests_total{route=\"unmatched\",code=\"404\"}"), 1);
	/* label values are escaped */
	CU_ASSERT_EQUAL(
	    sample(text, "fedbroker_http_requests_total{route=\"/we\\\"ird\\\\\",code=\"200\"}"), 1);
	/* buckets are cumulative; +Inf and _count hold every observation */
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_request_duration_seconds_bucket"
				     "{route=\"/healthz\",le=\"0.0005\"}"), 1);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_request_duration_seconds_bucket"
				     "{route=\"/healthz\",le=\"0.005\"}"), 2);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_request_duration_seconds_bucket"
				     "{route=\"/healthz\",le=\"10\"}"), 2);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_request_duration_seconds_bucket"
				     "{route=\"/healthz\",le=\"+Inf\"}"), 3);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_request_duration_seconds_count"
				     "{route=\"/healthz\"}"), 3);
	CU_ASSERT_DOUBLE_EQUAL(sample(text, "fedbroker_http_request_duration_seconds_sum"
					    "{route=\"/healthz\"}"), 20.0031, 0.0001);
	free(text);
	fb_http_metrics_free(m);
}

/* Two processes add to the same shared counters (the master maps them before forking). */
static void
test_metrics_shared(void)
{
	struct fb_http_metrics *m = NULL;
	struct fb_err err = {0};
	char *text;
	pid_t pid;
	int st = -1;

	CU_ASSERT_EQUAL_FATAL(fb_http_metrics_new(&m, &err), FB_OK);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 1000; i++) {
			fb_http_metrics_observe(m, "/healthz", 200, 0.001);
			fb_http_metrics_observe(m, "/child-only", 201, 0.001);
		}
		fb_http_metrics_worker_restarted(m);
		_exit(0);
	}
	for (int i = 0; i < 1000; i++)
		fb_http_metrics_observe(m, "/healthz", 200, 0.001);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	text = render(m);
	CU_ASSERT_TRUE(exposition_ok(text));
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_requests_total{route=\"/healthz\",code=\"200\"}"),
	    2000);
	CU_ASSERT_EQUAL(
	    sample(text, "fedbroker_http_requests_total{route=\"/child-only\",code=\"201\"}"), 1000);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_request_duration_seconds_count"
				     "{route=\"/healthz\"}"), 2000);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_worker_restarts_total"), 1);
	/* one series per route, however many processes added the name */
	{
		const char *p = text;
		int series = 0;

		while ((p = strstr(p, "fedbroker_http_requests_total{route=\"/child-only\"")) != NULL) {
			series++;
			p++;
		}
		CU_ASSERT_EQUAL(series, 1);
	}
	free(text);
	fb_http_metrics_free(m);
}

/* Routes beyond the segment's capacity are counted as unmatched, not dropped. */
static void
test_metrics_overflow(void)
{
	struct fb_http_metrics *m = NULL;
	struct fb_err err = {0};
	char route[32], *text;

	CU_ASSERT_EQUAL_FATAL(fb_http_metrics_new(&m, &err), FB_OK);
	for (int i = 0; i < FB_HTTP_ROUTES_MAX + 10; i++) {
		snprintf(route, sizeof(route), "/r%d", i);
		fb_http_metrics_observe(m, route, 200, 0.001);
	}
	text = render(m);
	CU_ASSERT_EQUAL(sample(text, "fedbroker_http_requests_total{route=\"unmatched\",code=\"200\"}"),
	    10);
	free(text);
	fb_http_metrics_free(m);
}

/* ---- the CPU pool of deferred replies ---------------------------------------- */

struct pool_fx {
	pthread_t loop;
	int worked, done, cancelled, off_loop, on_loop;
	struct event_base *base;
	pthread_mutex_t mu;
};

struct pool_job {
	struct pool_fx *fx;
	int n;
	int slow;
};

static void
pool_work(void *arg)
{
	struct pool_job *j = arg;

	if (j->slow)
		usleep(50 * 1000);
	pthread_mutex_lock(&j->fx->mu);
	j->fx->worked++;
	if (!pthread_equal(pthread_self(), j->fx->loop))
		j->fx->off_loop++;
	pthread_mutex_unlock(&j->fx->mu);
}

static void
pool_done(struct fb_http_req *req, void *arg)
{
	struct pool_job *j = arg;

	if (pthread_equal(pthread_self(), j->fx->loop))
		j->fx->on_loop++;
	j->fx->done++;
	free(j);
}

static void
pool_cancel(struct fb_http_req *req, void *arg)
{
	struct pool_job *j = arg;

	j->fx->cancelled++;
	free(j);
}

static void
pool_idle(void *arg)
{
	struct pool_fx *fx = arg;

	event_base_loopbreak(fx->base);
}

static struct pool_job *
pool_job_new(struct pool_fx *fx, int n, int slow)
{
	struct pool_job *j = fb_xcalloc(1, sizeof(*j));

	j->fx = fx;
	j->n = n;
	j->slow = slow;
	return j;
}

static void
test_cpu_pool(void)
{
	struct pool_fx fx = {.loop = pthread_self()};
	struct fb_http_pool *p = NULL;
	struct pool_job *extra;
	struct fb_err err;

	pthread_mutex_init(&fx.mu, NULL);
	fx.base = event_base_new();
	CU_ASSERT_EQUAL_FATAL(fb_http_pool_new(fx.base, 2, 3, pool_idle, &fx, &p, &err), FB_OK);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(fb_http_pool_submit(p, NULL, pool_work, pool_done,
				    pool_job_new(&fx, i, 0), &err),
		    FB_OK);
	/* Bounded: the fourth is refused at once and stays the caller's. */
	extra = pool_job_new(&fx, 3, 0);
	CU_ASSERT_EQUAL(fb_http_pool_submit(p, NULL, pool_work, pool_done, extra, &err),
	    FB_ERR_LIMIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "3 jobs pending"));
	free(extra);
	CU_ASSERT_EQUAL(fb_http_pool_pending(p), 3);
	/* The loop runs the completions; idle stops it when the last one ran. */
	event_base_dispatch(fx.base);
	CU_ASSERT_EQUAL(fx.worked, 3);
	CU_ASSERT_EQUAL(fx.off_loop, 3);
	CU_ASSERT_EQUAL(fx.done, 3);
	CU_ASSERT_EQUAL(fx.on_loop, 3);
	CU_ASSERT_EQUAL(fb_http_pool_pending(p), 0);
	/* Freed with jobs pending: each completion is called with no request, none leaks. */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(fb_http_pool_submit(p, NULL, pool_work, pool_cancel,
				    pool_job_new(&fx, i, 1), &err),
		    FB_OK);
	fb_http_pool_free(p);
	CU_ASSERT_EQUAL(fx.cancelled, 3);
	CU_ASSERT_EQUAL(fb_http_pool_pending(NULL), 0);
	fb_http_pool_free(NULL);
	event_base_free(fx.base);
	pthread_mutex_destroy(&fx.mu);
}

/* ---- behind a load balancer (proxy.c) ---------------------------------------- */

/*
 * Resolves the headers hdrs ("Name", "value", ..., NULL) of a request from
 * peer with the trusted proxies list (NULL-ended) into *o; o->reason is
 * copied into why (or "").
 */
static void
origin(const char *const *list, const char *peer, const char *const *hdrs,
    struct fb_http_origin *o, char *why, size_t whylen)
{
	struct fb_http_proxies tp;
	struct evkeyvalq h;
	struct fb_arena *a = fb_arena_new();
	struct fb_err err;
	size_t n = 0;

	while (list != NULL && list[n] != NULL)
		n++;
	CU_ASSERT_EQUAL_FATAL(fb_http_proxies_parse((char *const *)list, n, &tp, &err), FB_OK);
	TAILQ_INIT(&h);
	for (size_t i = 0; hdrs != NULL && hdrs[i] != NULL; i += 2)
		evhttp_add_header(&h, hdrs[i], hdrs[i + 1]);
	fb_http_origin_resolve(&tp, peer, &h, a, o);
	snprintf(why, whylen, "%s", o->reason != NULL ? o->reason : "");
	evhttp_clear_headers(&h);
	fb_http_proxies_cleanup(&tp);
	fb_arena_free(a);
}

/* The client address of a request from peer with one header name: value. */
static const char *
client_of(const char *peer, const char *name, const char *value)
{
	static const char *const lb[] = {"10.0.0.0/8", "2001:db8:ffff::/48", NULL};
	static struct fb_http_origin o;
	char why[128];
	const char *const hdrs[] = {name, value, NULL};

	origin(lb, peer, hdrs, &o, why, sizeof(why));
	return o.client;
}

static void
test_forwarded_for(void)
{
	/* Proxies: 10/8 and 2001:db8:ffff::/48. Clients: everything else. */
	static const struct {
		const char *peer, *xff, *want;
	} xff[] = {
		{"10.0.0.1", "203.0.113.7", "203.0.113.7"},
		{"10.0.0.1", " 203.0.113.7 ", "203.0.113.7"},
		{"10.0.0.1", "203.0.113.7:51000", "203.0.113.7"},
		/* Spoofed entries on the left are never looked at. */
		{"10.0.0.1", "1.2.3.4, 203.0.113.7", "203.0.113.7"},
		{"10.0.0.1", "garbage, 203.0.113.7", "203.0.113.7"},
		{"10.0.0.1", "10.9.9.9, 203.0.113.7", "203.0.113.7"},
		/* Trusted hops are walked past, right to left. */
		{"10.0.0.1", "1.2.3.4, 203.0.113.7, 10.1.1.1, 10.2.2.2", "203.0.113.7"},
		/* Every hop trusted: the leftmost. */
		{"10.0.0.1", "10.3.3.3, 10.1.1.1", "10.3.3.3"},
		/* IPv6: bare, bracketed, with a port, canonicalised. */
		{"10.0.0.1", "2001:DB8:0::1", "2001:db8::1"},
		{"10.0.0.1", "[2001:db8::1]", "2001:db8::1"},
		{"10.0.0.1", "[2001:db8::1]:443", "2001:db8::1"},
		{"2001:db8:ffff::5", "198.51.100.1", "198.51.100.1"},
		{"10.0.0.1", "::ffff:198.51.100.2", "198.51.100.2"},
		/* Garbage from a trusted hop: the hop that wrote it, never the garbage. */
		{"10.0.0.1", "not-an-ip", "10.0.0.1"},
		{"10.0.0.1", "203.0.113.7, 10.1.1.1, bogus", "10.0.0.1"},
		{"10.0.0.1", "203.0.113.7, bogus, 10.1.1.1", "10.1.1.1"},
		{"10.0.0.1", "203.0.113.7:99999", "10.0.0.1"},
		{"10.0.0.1", "203.0.113.7:", "10.0.0.1"},
		{"10.0.0.1", "[2001:db8::1", "10.0.0.1"},
		{"10.0.0.1", "[203.0.113.7]", "10.0.0.1"},
		{"10.0.0.1", "fe80::1%eth0", "10.0.0.1"},
		{"10.0.0.1", "unknown", "10.0.0.1"},
		{"10.0.0.1", "", "10.0.0.1"},
		/* Empty list elements are ignored. */
		{"10.0.0.1", "203.0.113.7,", "203.0.113.7"},
		{"10.0.0.1", "203.0.113.7, , 10.1.1.1,", "203.0.113.7"},
		{"10.0.0.1", ",", "10.0.0.1"},
		{"10.0.0.1", "\"203.0.113.7", "10.0.0.1"},
		{"10.0.0.1", "203.0.113.7\x01", "10.0.0.1"},
		/* An untrusted peer's header is not read at all. */
		{"192.0.2.50", "203.0.113.7", "192.0.2.50"},
		{"::1", "203.0.113.7", "::1"},
		{"-", "203.0.113.7", "-"},
	};

	for (size_t i = 0; i < sizeof(xff) / sizeof(xff[0]); i++) {
		const char *got = client_of(xff[i].peer, "X-Forwarded-For", xff[i].xff);

		if (strcmp(got, xff[i].want) != 0)
			fprintf(stderr, "X-Forwarded-For case %zu '%s': got %s, want %s\n", i,
			    xff[i].xff, got, xff[i].want);
		CU_ASSERT_STRING_EQUAL(got, xff[i].want);
	}
}

static void
test_forwarded_rfc7239(void)
{
	static const struct {
		const char *fwd, *want;
	} fwd[] = {
		{"for=203.0.113.7", "203.0.113.7"},
		{"For=\"203.0.113.7\"", "203.0.113.7"},
		{"for=203.0.113.7;proto=https;by=10.0.0.1", "203.0.113.7"},
		{"for=\"203.0.113.7:4711\"", "203.0.113.7"},
		{"for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"},
		{"for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"},
		{"for=\"[2001:db8:cafe::17]:_port\"", "2001:db8:cafe::17"},
		{"for=192.0.2.43, for=198.51.100.17", "198.51.100.17"},
		{"for=192.0.2.43, for=198.51.100.17, for=10.1.1.1", "198.51.100.17"},
		/* A forged element on the left, even malformed, is never reached. */
		{"for=1.2.3.4;for=5.6.7.8, for=198.51.100.17", "198.51.100.17"},
		{"garbage, for=198.51.100.17", "198.51.100.17"},
		/* An extension parameter is read and dropped. */
		{"for=198.51.100.17;secret=\"x;y\"", "198.51.100.17"},
		/* Obfuscated identifiers and unknown: the proxy that wrote them. */
		{"for=_hidden", "10.0.0.1"},
		{"for=198.51.100.17, for=_SEVKISEK", "10.0.0.1"},
		{"for=unknown", "10.0.0.1"},
		{"for=_bad!", "10.0.0.1"},
		/* Malformed: unbracketed IPv6, repeated parameter, bad syntax. */
		{"for=2001:db8::1", "10.0.0.1"},
		{"for=\"2001:db8::1\"", "10.0.0.1"},
		{"for=198.51.100.17;for=198.51.100.18", "10.0.0.1"},
		{"for=198.51.100.17;", "198.51.100.17"},
		{"for=198.51.100.17;;proto=https", "198.51.100.17"},
		{"for=198.51.100.17 ; proto=https", "198.51.100.17"},
		{"for=192.0.2.1, , for=198.51.100.17", "198.51.100.17"},
		{";", "10.0.0.1"},
		{"for=198.51.100.17;by=10.0.0.1;by=10.0.0.2", "10.0.0.1"},
		{"for = 198.51.100.17", "10.0.0.1"},
		{"for=", "10.0.0.1"},
		{"for", "10.0.0.1"},
		{"=198.51.100.17", "10.0.0.1"},
		{"proto=https", "10.0.0.1"},
		{"for=\"198.51.100.17", "10.0.0.1"},
		{"for=\"198.51.100.17\\\"", "10.0.0.1"},
		{"for=198.51.100.17 junk", "10.0.0.1"},
		{"for=\"198.51.100.17\x7f\"", "10.0.0.1"},
	};

	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		const char *got = client_of("10.0.0.1", "Forwarded", fwd[i].fwd);

		if (strcmp(got, fwd[i].want) != 0)
			fprintf(stderr, "Forwarded case %zu '%s': got %s, want %s\n", i, fwd[i].fwd,
			    got, fwd[i].want);
		CU_ASSERT_STRING_EQUAL(got, fwd[i].want);
	}
}

/* Several header lines, Forwarded before X-Forwarded-For, scheme, host and request ids. */
static void
test_forwarded_fields(void)
{
	static const char *const lb[] = {"10.0.0.0/8", NULL};
	struct fb_http_origin o;
	char why[128];

	/* Two X-Forwarded-For lines are one list, in order. */
	origin(lb, "10.0.0.1",
	    (const char *const[]){"X-Forwarded-For", "1.1.1.1, 203.0.113.7", "X-Forwarded-For",
		"10.5.5.5", "X-Forwarded-Proto", "https", "X-Forwarded-Host",
		"sso.example.com", "X-Request-Id", "lb-abc.123", NULL},
	    &o, why, sizeof(why));
	CU_ASSERT_TRUE(o.trusted);
	CU_ASSERT_STRING_EQUAL(o.client, "203.0.113.7");
	CU_ASSERT_EQUAL(o.hops, 1);
	CU_ASSERT_STRING_EQUAL(o.proto, "https");
	CU_ASSERT_STRING_EQUAL(o.host, "sso.example.com");
	CU_ASSERT_STRING_EQUAL(o.upstream_id, "lb-abc.123");
	CU_ASSERT_STRING_EQUAL(why, "");
	/* Forwarded wins over X-Forwarded-For; its element gives proto and host. */
	origin(lb, "10.0.0.1",
	    (const char *const[]){"X-Forwarded-For", "198.51.100.99", "Forwarded",
		"for=192.0.2.1;proto=http, for=198.51.100.17;proto=HTTPS;host=\"sso.example.com:8443\"",
		"X-Forwarded-Proto", "http", NULL},
	    &o, why, sizeof(why));
	CU_ASSERT_STRING_EQUAL(o.client, "198.51.100.17");
	CU_ASSERT_STRING_EQUAL(o.proto, "https");
	CU_ASSERT_STRING_EQUAL(o.host, "sso.example.com:8443");
	/* A list of protos: the nearest proxy's (rightmost). Bad values are dropped, with why. */
	origin(lb, "10.0.0.1",
	    (const char *const[]){"X-Forwarded-Proto", "http, https", "X-Forwarded-Host",
		"evil.example.com/<x>", NULL},
	    &o, why, sizeof(why));
	CU_ASSERT_STRING_EQUAL(o.client, "10.0.0.1");
	CU_ASSERT_STRING_EQUAL(o.proto, "https");
	CU_ASSERT_STRING_EQUAL(o.host, "");
	CU_ASSERT_STRING_EQUAL(why, "malformed X-Forwarded-Host");
	origin(lb, "10.0.0.1", (const char *const[]){"X-Forwarded-Proto", "gopher", NULL}, &o, why,
	    sizeof(why));
	CU_ASSERT_STRING_EQUAL(o.proto, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "not http or https"));
	/* A malformed request id from a proxy is dropped; a client's is never read. */
	origin(lb, "10.0.0.1", (const char *const[]){"X-Request-Id", "a b\"<script>", NULL}, &o,
	    why, sizeof(why));
	CU_ASSERT_STRING_EQUAL(o.upstream_id, "");
	CU_ASSERT_STRING_EQUAL(why, "malformed X-Request-Id");
	origin(lb, "192.0.2.9",
	    (const char *const[]){"X-Request-Id", "client-chosen", "X-Forwarded-Proto", "https",
		"X-Forwarded-For", "203.0.113.7", NULL},
	    &o, why, sizeof(why));
	CU_ASSERT_FALSE(o.trusted);
	CU_ASSERT_STRING_EQUAL(o.client, "192.0.2.9");
	CU_ASSERT_STRING_EQUAL(o.upstream_id, "");
	CU_ASSERT_STRING_EQUAL(o.proto, "");
	/* A reason is given for garbage from a trusted proxy. */
	origin(lb, "10.0.0.1", (const char *const[]){"X-Forwarded-For", "bogus", NULL}, &o, why,
	    sizeof(why));
	CU_ASSERT_STRING_EQUAL(why, "not an IP address");
	origin(lb, "10.0.0.1", (const char *const[]){"Forwarded", "for=_x", NULL}, &o, why,
	    sizeof(why));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "obfuscated"));
	/* No trusted proxies at all: nothing is read. */
	origin(NULL, "10.0.0.1", (const char *const[]){"X-Forwarded-For", "203.0.113.7", NULL}, &o,
	    why, sizeof(why));
	CU_ASSERT_FALSE(o.trusted);
	CU_ASSERT_STRING_EQUAL(o.client, "10.0.0.1");
}

/* A chain longer than the walk allows, and a list longer than is kept, end at a trusted hop. */
static void
test_forwarded_long(void)
{
	static const char *const lb[] = {"10.0.0.0/8", NULL};
	struct fb_http_origin o;
	struct fb_buf b;
	char why[128];

	fb_buf_init(&b, 1 << 20);
	fb_buf_addf(&b, NULL, "203.0.113.7");
	for (int i = 0; i < 40; i++)
		fb_buf_addf(&b, NULL, ", 10.0.0.%d", i + 1);
	fb_buf_add(&b, "", 1, NULL);
	origin(lb, "10.0.0.1", (const char *const[]){"X-Forwarded-For", (const char *)b.data, NULL},
	    &o, why, sizeof(why));
	CU_ASSERT_EQUAL(o.hops, 32);
	CU_ASSERT_STRING_EQUAL(o.client, "10.0.0.9");
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "too many"));
	fb_buf_cleanup(&b);
	/* 1000 forged entries on the left of the real one. */
	fb_buf_init(&b, 1 << 20);
	for (int i = 0; i < 1000; i++)
		fb_buf_addf(&b, NULL, "1.2.3.%d, ", i % 250);
	fb_buf_addf(&b, NULL, "198.51.100.17");
	fb_buf_add(&b, "", 1, NULL);
	origin(lb, "10.0.0.1", (const char *const[]){"X-Forwarded-For", (const char *)b.data, NULL},
	    &o, why, sizeof(why));
	CU_ASSERT_STRING_EQUAL(o.client, "198.51.100.17");
	fb_buf_cleanup(&b);
}

/* server.hsts_max_age and the https decision: public_url's scheme, or TLS here. */
static void
test_hsts_https(void)
{
	struct fb_conf c;
	const char *t;

	memset(&c, 0, sizeof(c));
	c.public_url = (char *)"https://sso.example.com";
	CU_ASSERT_TRUE(fb_http_site_https(&c, 0));
	c.public_url = (char *)"HTTPS://sso.example.com";
	CU_ASSERT_TRUE(fb_http_site_https(&c, 0));
	c.public_url = (char *)"http://127.0.0.1:8080";
	CU_ASSERT_FALSE(fb_http_site_https(&c, 0));
	CU_ASSERT_TRUE(fb_http_site_https(&c, 1));
	fb_http_hsts_set(600);
	t = fb_http_security_headers_text(1, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "Strict-Transport-Security: max-age=600\r\n"));
	t = fb_http_security_headers_text(0, 0, NULL);
	CU_ASSERT_PTR_NULL(strstr(t, "Strict-Transport-Security"));
	fb_http_hsts_set(0);
	t = fb_http_security_headers_text(1, 1, NULL);
	CU_ASSERT_PTR_NULL(strstr(t, "Strict-Transport-Security"));
	fb_http_hsts_set(31536000);
	t = fb_http_security_headers_text(1, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "Strict-Transport-Security: max-age=31536000\r\n"));
}

/* A proxy's client-certificate header (Envoy XFCC, nginx escaped PEM). */
static void
test_client_cert_header(void)
{
	static const char pem[] =
	    "-----BEGIN CERTIFICATE-----\nMIIB+/=\n-----END CERTIFICATE-----\n";
	static const char enc[] = "-----BEGIN%20CERTIFICATE-----%0AMIIB%2B%2F%3D%0A-----END%20"
	                          "CERTIFICATE-----%0A";
	struct fb_err err = {0};
	char *out = NULL, *h;

	/* nginx: the value is the url-encoded PEM ('+' is not a space). */
	CU_ASSERT_EQUAL_FATAL(fb_http_client_cert_header_parse(enc, FB_CONF_MTLS_PEM, &out, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(out, pem);
	free(out);
	/* Envoy: quoted and not, other keys skipped, keys case-insensitive. */
	h = fb_xasprintf("By=spiffe://a;Hash=12;cert=\"%s\";Subject=\"CN=a,O=b\";URI=", enc);
	CU_ASSERT_EQUAL_FATAL(fb_http_client_cert_header_parse(h, FB_CONF_MTLS_XFCC, &out, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(out, pem);
	free(out);
	free(h);
	/* Several elements: the last one (the nearest proxy's) counts; Chain before Cert. */
	h = fb_xasprintf("Cert=\"x\";Subject=\"a,b;c\",By=p;Cert=%s;Chain=%s", "junk", enc);
	CU_ASSERT_EQUAL_FATAL(fb_http_client_cert_header_parse(h, FB_CONF_MTLS_XFCC, &out, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(out, pem);
	free(out);
	free(h);
	h = fb_xasprintf("Cert=%s,By=p;Subject=\"q\\\"uote\"", enc);
	CU_ASSERT_EQUAL(fb_http_client_cert_header_parse(h, FB_CONF_MTLS_XFCC, &out, &err),
	    FB_ERR_INVALID);
	CU_ASSERT(strstr(err.msg, "no Cert") != NULL);
	free(h);
	/* Malformed. */
	{
		static const char *const bad[] = {"", "Cert=\"%2D%2D", "Cert=\"abc", "Cert",
		    "Cert=a;Cert=b", ",", "By=x;Cert=%00-----BEGIN%20CERTIFICATE-----",
		    "Cert=\"-----BEGIN CERT\"", "Subject=\"a\";Cert=\"\"", NULL};

		for (size_t i = 0; bad[i] != NULL; i++) {
			out = NULL;
			CU_ASSERT_EQUAL(fb_http_client_cert_header_parse(bad[i], FB_CONF_MTLS_XFCC,
			                    &out, &err),
			    FB_ERR_INVALID);
			CU_ASSERT_PTR_NULL(out);
		}
		CU_ASSERT_EQUAL(fb_http_client_cert_header_parse("abc", FB_CONF_MTLS_PEM, &out,
		                    &err),
		    FB_ERR_INVALID);
		CU_ASSERT_EQUAL(fb_http_client_cert_header_parse(NULL, FB_CONF_MTLS_PEM, &out,
		                    &err),
		    FB_ERR_INVALID);
	}
	/* Too long. */
	h = fb_xmalloc(FB_HTTP_CLIENT_CERT_HEADER_MAX + 2);
	memset(h, 'a', FB_HTTP_CLIENT_CERT_HEADER_MAX + 1);
	h[FB_HTTP_CLIENT_CERT_HEADER_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(fb_http_client_cert_header_parse(h, FB_CONF_MTLS_PEM, &out, &err),
	    FB_ERR_INVALID);
	free(h);
}

int
fb_test_http_register(void)
{
	CU_pSuite s = CU_add_suite("http", NULL, NULL);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "status table", test_status_table) == NULL ||
	    CU_add_test(s, "security headers", test_security_headers) == NULL ||
	    CU_add_test(s, "router", test_router) == NULL ||
	    CU_add_test(s, "router limit", test_router_limit) == NULL ||
	    CU_add_test(s, "methods", test_methods) == NULL ||
	    CU_add_test(s, "request id", test_reqid) == NULL ||
	    CU_add_test(s, "header bytes", test_header_bytes) == NULL ||
	    CU_add_test(s, "request framing", test_framing) == NULL ||
	    CU_add_test(s, "connection cap", test_conn_cap) == NULL ||
	    CU_add_test(s, "own reply rewrite", test_own_reply_rewrite) == NULL ||
	    CU_add_test(s, "request id format", test_reqid_format) == NULL ||
	    CU_add_test(s, "metrics count audit events", test_metrics_audit) == NULL ||
	    CU_add_test(s, "metrics render", test_metrics_render) == NULL ||
	    CU_add_test(s, "metrics shared across processes", test_metrics_shared) == NULL ||
	    CU_add_test(s, "metrics route overflow", test_metrics_overflow) == NULL ||
	    CU_add_test(s, "cpu pool", test_cpu_pool) == NULL ||
	    CU_add_test(s, "forwarded X-Forwarded-For", test_forwarded_for) == NULL ||
	    CU_add_test(s, "forwarded RFC 7239", test_forwarded_rfc7239) == NULL ||
	    CU_add_test(s, "forwarded fields", test_forwarded_fields) == NULL ||
	    CU_add_test(s, "forwarded long lists", test_forwarded_long) == NULL ||
	    CU_add_test(s, "hsts and https", test_hsts_https) == NULL ||
	    CU_add_test(s, "client certificate header", test_client_cert_header) == NULL)
		return -1;
	return 0;
}
