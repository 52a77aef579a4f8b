/* SPDX-License-Identifier: Apache-2.0 */
/* http/page.c: HTML escaping, the page layout and style sheet, cookies and local redirects. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "http/http.h"
#include "http/web.h"

#define TEXT_HTML "text/html; charset=utf-8"

/*
 * One style sheet for every page, inline so a page is one request and
 * works without anything else. Colours are chosen for WCAG AA contrast
 * (4.5:1 and above) on their backgrounds; the layout is one column that
 * fills a phone and stays narrow on a desktop.
 */
static const char style_sheet[] =
    "*{box-sizing:border-box}"
    "body{margin:0;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\","
    "sans-serif;font-size:1rem;line-height:1.5;color:#1f2328;background:#f3f4f6}"
    ".top{background:#1f2937;padding:.75rem 1rem}"
    ".top a{color:#fff;text-decoration:none;display:inline-flex;align-items:center;gap:.6rem;"
    "font-weight:600;font-size:1.125rem}"
    ".top img{height:2rem;width:auto;background:#fff;border-radius:.25rem}"
    "main{max-width:30rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;"
    "box-shadow:0 1px 3px rgba(0,0,0,.2)}"
    "main.wide{max-width:44rem}"
    "@media (max-width:32rem){main,main.wide{margin:0;border-radius:0;box-shadow:none}}"
    "h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}"
    "h2{font-size:1.125rem;margin:1.5rem 0 .5rem}"
    "p{margin:.75rem 0}"
    "label{display:block;font-weight:600;margin:1rem 0 .25rem}"
    "input[type=text],input[type=email],input[type=password]{display:block;width:100%;padding:.6rem .75rem;"
    "font:inherit;color:#1f2328;background:#fff;border:1px solid #6b7280;border-radius:.375rem}"
    "input:focus,button:focus,a:focus{outline:3px solid #2563eb;outline-offset:2px}"
    "button{display:block;width:100%;margin-top:1.25rem;padding:.7rem 1rem;font:inherit;"
    "font-weight:600;color:#fff;background:#1d4ed8;border:1px solid #1d4ed8;"
    "border-radius:.375rem;cursor:pointer}"
    "button:hover{background:#1e40af}"
    "button.secondary{color:#1d4ed8;background:#fff}"
    "button.secondary:hover{background:#eff6ff}"
    "form.inline button{display:inline-block;width:auto}"
    ".alert{margin:0 0 1rem;padding:.75rem 1rem;border-radius:.375rem;color:#991b1b;"
    "background:#fef2f2;border:1px solid #f87171}"
    ".ok{color:#14532d;background:#f0fdf4;border-color:#4ade80}"
    ".note{color:#1e3a8a;background:#eff6ff;border-color:#93c5fd}"
    ".hint{color:#4b5563;font-size:.875rem;margin:.25rem 0 0}"
    "a{color:#1d4ed8}"
    "code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "word-break:break-all}"
    ".secret{font-size:1.125rem;letter-spacing:.05em}"
    ".qr svg{display:block;width:100%;max-width:15rem;height:auto;margin:1rem auto}"
    "ul.codes{columns:2;padding-left:1.25rem;font-family:ui-monospace,monospace}"
    "ul.apps{padding-left:0;list-style:none}ul.apps a{display:block;margin:.5rem 0;padding:.75rem 1rem;border:1px solid #d1d5db;border-radius:.375rem;font-weight:600;text-decoration:none}ul.apps a:hover{background:#eff6ff}"
    ".who{color:#4b5563}"
    "details{margin-top:1rem}"
    "footer.reqid{max-width:30rem;margin:0 auto 2rem;padding:0 1.5rem;color:#4b5563;"
    "font-size:.875rem}";

/* ---- pages ------------------------------------------------------------------ */

static void
page_add(struct fb_http_page *p, const char *s, size_t n)
{
	if (p->st == FB_OK)
		p->st = fb_buf_add(&p->b, s, n, NULL);
}

static void
page_text(struct fb_http_page *p, const char *s)
{
	if (p->st == FB_OK)
		p->st = fb_buf_add_escaped(&p->b, s, NULL);
}

void
fb_http_page_raw(struct fb_http_page *p, const char *html)
{
	page_add(p, html, strlen(html));
}

void
fb_http_page_html(struct fb_http_page *p, const char *fmt, ...)
{
	va_list ap;
	const char *run = fmt;
	char num[32];

	va_start(ap, fmt);
	for (const char *c = fmt; *c != '\0'; c++) {
		int n = -1;

		if (*c != '%')
			continue;
		page_add(p, run, (size_t)(c - run));
		if (strncmp(c, "%s", 2) == 0) {
			page_text(p, va_arg(ap, const char *));
			c += 1;
		} else if (strncmp(c, "%d", 2) == 0) {
			n = snprintf(num, sizeof(num), "%d", va_arg(ap, int));
			c += 1;
		} else if (strncmp(c, "%u", 2) == 0) {
			n = snprintf(num, sizeof(num), "%u", va_arg(ap, unsigned));
			c += 1;
		} else if (strncmp(c, "%lld", 4) == 0) {
			n = snprintf(num, sizeof(num), "%lld", va_arg(ap, long long));
			c += 3;
		} else if (strncmp(c, "%zu", 3) == 0) {
			n = snprintf(num, sizeof(num), "%zu", va_arg(ap, size_t));
			c += 2;
		} else if (strncmp(c, "%%", 2) == 0) {
			page_add(p, "%", 1);
			c += 1;
		} else {
			fb_log(FB_LOG_ERROR, "unsupported conversion in page format \"%s\"", fmt);
			abort();
		}
		if (n > 0)
			page_add(p, num, (size_t)n);
		run = c + 1;
	}
	page_add(p, run, strlen(run));
	va_end(ap);
}

/* Starts the page in a buffer of max bytes; the style element carries p->nonce when set. */
static void
page_start(struct fb_http_page *p, const struct fb_conf *conf, const char *title, size_t max)
{
	const char *org = conf->org_name != NULL ? conf->org_name : "fedbroker";

	fb_buf_init(&p->b, max);
	p->st = FB_OK;
	fb_http_page_html(p,
	    "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<meta name=\"robots\" content=\"noindex\">\n"
	    "<title>%s - %s</title>\n",
	    title, org);
	if (p->nonce[0] != '\0')
		fb_http_page_html(p, "<style nonce=\"%s\">", p->nonce);
	else
		fb_http_page_raw(p, "<style>");
	fb_http_page_raw(p, style_sheet);
	fb_http_page_raw(p, "</style>\n</head>\n<body>\n<header class=\"top\"><a href=\"/\">");
	if (conf->logo_url != NULL)
		fb_http_page_html(p, "<img src=\"%s\" alt=\"\">", conf->logo_url);
	fb_http_page_html(p, "<span>%s</span></a></header>\n", org);
}

void
fb_http_page_begin(struct fb_http_page *p, const struct fb_conf *conf, const char *title)
{
	p->nonce[0] = '\0';
	page_start(p, conf, title, FB_HTTP_PAGE_MAX);
}

void
fb_http_page_begin_strict(struct fb_http_page *p, struct fb_http_req *req,
    const struct fb_conf *conf, const char *title, size_t max)
{
	char *nonce = fb_rand_token(18), *csp;

	snprintf(p->nonce, sizeof(p->nonce), "%s", nonce);
	free(nonce);
	/* SECURITY: only this response's own style and script run; form-action is the SP's. */
	csp = fb_xasprintf("default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; "
			   "img-src 'self' https:; base-uri 'none'; frame-ancestors 'none'",
	    p->nonce, p->nonce);
	fb_http_reply_header(req, "Content-Security-Policy", csp);
	free(csp);
	page_start(p, conf, title, max);
}

const char *
fb_http_page_nonce(const struct fb_http_page *p)
{
	return p->nonce;
}

void
fb_http_page_not_found(struct fb_http_req *req)
{
	struct fb_http_page p;

	fb_http_page_begin(&p, fb_http_req_env(req)->conf, "Page not found");
	fb_http_page_raw(&p, "<main>\n<h1>Page not found</h1>\n<p class=\"alert\" role=\"alert\">"
			     "There is no page at this address. Check the link, or start again "
			     "from your apps.</p>\n<p><a href=\"/\">Back to your apps</a></p>\n"
			     "</main>");
	fb_http_page_send(req, &p, 404);
}

void
fb_http_page_unavailable(struct fb_http_req *req, const char *title, const char *detail,
    const struct fb_err *err)
{
	struct fb_http_page p;

	if (err != NULL)
		fb_rlog_err(req, err);
	fb_http_page_begin(&p, fb_http_req_env(req)->conf, title);
	fb_http_page_html(&p,
	    "<main>\n<h1>%s</h1>\n<p class=\"alert\" role=\"alert\">%s</p>\n"
	    "<p><a href=\"/\">Back to your apps</a></p>\n</main>",
	    title, detail);
	fb_http_page_send(req, &p, 503);
}

void
fb_http_page_cleanup(struct fb_http_page *p)
{
	fb_buf_cleanup(&p->b);
}

void
fb_http_page_send(struct fb_http_req *req, struct fb_http_page *p, int code)
{
	if (code >= 400 && fb_http_req_id(req) != NULL)
		fb_http_page_html(p,
		    "\n<footer class=\"reqid\"><p>Request id: <code>%s</code>. Give it to your "
		    "administrator if you ask for help.</p></footer>",
		    fb_http_req_id(req));
	fb_http_page_raw(p, "\n</body>\n</html>\n");
	if (p->st != FB_OK) {
		fb_rlog(req, FB_LOG_ERROR, "page larger than %d bytes", FB_HTTP_PAGE_MAX);
		fb_http_reply_error(req, FB_ERR_INTERNAL, NULL, NULL);
	} else {
		fb_http_reply(req, code, TEXT_HTML, p->b.data, p->b.len);
	}
	fb_http_page_cleanup(p);
}

/* ---- cookies -------------------------------------------------------------- */

const char *
fb_http_cookie_find(struct fb_arena *a, const char *header, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = header;

	if (header == NULL || nlen == 0)
		return NULL;
	while (*p != '\0') {
		const char *end = strchr(p, ';');
		size_t len;

		if (end == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t vlen = len - nlen - 1;

			if (vlen == 0 || vlen > FB_HTTP_COOKIE_MAX)
				return NULL;
			return fb_arena_printf(a, "%.*s", (int)vlen, p + nlen + 1);
		}
		p = *end == ';' ? end + 1 : end;
	}
	return NULL;
}

const char *
fb_http_cookie_name(struct fb_arena *a, const char *name, int secure)
{
	/* An operator's name that has a prefix already keeps it. */
	if (!secure || strncmp(name, FB_HTTP_COOKIE_HOST_PREFIX,
			   sizeof(FB_HTTP_COOKIE_HOST_PREFIX) - 1) == 0 ||
	    strncmp(name, "__Secure-", 9) == 0)
		return name;
	return fb_arena_printf(a, "%s%s", FB_HTTP_COOKIE_HOST_PREFIX, name);
}

const char *
fb_http_req_cookie(struct fb_http_req *req, const char *name)
{
	struct fb_arena *a = fb_http_req_arena(req);

	return fb_http_cookie_find(a, fb_http_req_header(req, "Cookie"),
	    fb_http_cookie_name(a, name, fb_http_req_tls(req)));
}

char *
fb_http_cookie_build(const char *name, const char *value, int64_t max_age, int secure)
{
	char age[40] = "";

	if (max_age >= 0)
		snprintf(age, sizeof(age), "; Max-Age=%lld", (long long)max_age);
	/* SECURITY: not readable by scripts, not sent on cross-site POSTs, TLS only over TLS. */
	return fb_xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Lax%s%s", name, value,
	    secure ? "; Secure" : "", age);
}

void
fb_http_reply_cookie(struct fb_http_req *req, const char *name, const char *value, int64_t max_age)
{
	int secure = fb_http_req_tls(req);
	char *c = fb_http_cookie_build(fb_http_cookie_name(fb_http_req_arena(req), name, secure),
	    value, max_age, secure);

	fb_http_reply_header(req, "Set-Cookie", c);
	free(c);
}

/* ---- redirects ------------------------------------------------------------- */

int
fb_http_next_check(const char *next)
{
	size_t n;

	if (next == NULL || next[0] != '/')
		return 0;
	/* SECURITY: "//host" and "/\host" are other hosts to a browser: open redirect. */
	if (next[1] == '/' || next[1] == '\\')
		return 0;
	n = strlen(next);
	if (n > FB_HTTP_NEXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)next[i];

		/* SECURITY: browsers strip TAB/CR/LF and read '\' as '/'; keep plain ASCII. */
		if (c <= 0x20 || c >= 0x7f || c == '\\')
			return 0;
	}
	return 1;
}

void
fb_http_redirect(struct fb_http_req *req, const char *location)
{
	fb_http_reply_header(req, "Location", location);
	fb_http_reply(req, 303, NULL, NULL, 0);
}
