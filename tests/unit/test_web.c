/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_web.c: forms, HTML escaping, cookies, the next-path guard, session cookies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "http/web.h"
#include "http/oauth2.h"
#include "unit.h"

/* ---- forms ------------------------------------------------------------------ */

static enum fb_status
parse(struct fb_arena *a, const char *body, struct fb_http_form **f)
{
	struct fb_err err = {0};

	return fb_http_form_parse(a, body, strlen(body), f, &err);
}

static void
test_form_parse(void)
{
	struct fb_arena *a = fb_arena_new();
	struct fb_http_form *f = NULL;

	CU_ASSERT_EQUAL(parse(a, "a=1&b=%C3%A9+x&&c&d=&a=2", &f), FB_OK);
	CU_ASSERT_EQUAL(fb_http_form_count(f), 5);
	CU_ASSERT_STRING_EQUAL(fb_http_form_get(f, "a"), "1"); /* the first wins */
	CU_ASSERT_STRING_EQUAL(fb_http_form_get(f, "b"), "\xc3\xa9 x");
	CU_ASSERT_STRING_EQUAL(fb_http_form_get(f, "c"), "");
	CU_ASSERT_STRING_EQUAL(fb_http_form_get(f, "d"), "");
	CU_ASSERT_PTR_NULL(fb_http_form_get(f, "e"));
	CU_ASSERT_EQUAL(parse(a, "", &f), FB_OK);
	CU_ASSERT_EQUAL(fb_http_form_count(f), 0);
	/* Line breaks and tabs are text in a value (a textarea), = in a value is kept. */
	CU_ASSERT_EQUAL(parse(a, "t=a%0D%0Ab%09c&e=x=y", &f), FB_OK);
	CU_ASSERT_STRING_EQUAL(fb_http_form_get(f, "t"), "a\r\nb\tc");
	CU_ASSERT_STRING_EQUAL(fb_http_form_get(f, "e"), "x=y");
	/* Non-ASCII name, UTF-8 4-byte value. */
	CU_ASSERT_EQUAL(parse(a, "%C3%A9=%F0%9F%94%91", &f), FB_OK);
	CU_ASSERT_STRING_EQUAL(fb_http_form_get(f, "\xc3\xa9"), "\xf0\x9f\x94\x91");
	fb_arena_free(a);
}

static void
test_form_limits(void)
{
	struct fb_arena *a = fb_arena_new();
	struct fb_http_form *f = NULL;
	struct fb_buf b;
	struct fb_err err = {0};

	/* Field count. */
	fb_buf_init(&b, 1 << 20);
	for (int i = 0; i < FB_HTTP_FORM_FIELDS_MAX; i++)
		fb_buf_addf(&b, NULL, "%sf%d=%d", i > 0 ? "&" : "", i, i);
	CU_ASSERT_EQUAL(fb_http_form_parse(a, b.data, b.len, &f, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_http_form_count(f), FB_HTTP_FORM_FIELDS_MAX);
	fb_buf_addf(&b, NULL, "&one=more");
	f = NULL;
	CU_ASSERT_EQUAL(fb_http_form_parse(a, b.data, b.len, &f, &err), FB_ERR_LIMIT);
	CU_ASSERT_PTR_NULL(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "fields"));
	/* Value size: the limit is on decoded bytes. */
	fb_buf_reset(&b);
	fb_buf_addf(&b, NULL, "v=");
	for (int i = 0; i < FB_HTTP_FORM_VALUE_MAX; i++)
		fb_buf_add(&b, "%41", 3, NULL);
	CU_ASSERT_EQUAL(fb_http_form_parse(a, b.data, b.len, &f, &err), FB_OK);
	CU_ASSERT_EQUAL(strlen(fb_http_form_get(f, "v")), FB_HTTP_FORM_VALUE_MAX);
	fb_buf_add(&b, "A", 1, NULL);
	CU_ASSERT_EQUAL(fb_http_form_parse(a, b.data, b.len, &f, &err), FB_ERR_LIMIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "form v:"));
	CU_ASSERT_PTR_NULL(strstr(err.msg, "AAAA")); /* never the value */
	/* Name size. */
	fb_buf_reset(&b);
	for (int i = 0; i <= FB_HTTP_FORM_NAME_MAX; i++)
		fb_buf_add(&b, "n", 1, NULL);
	fb_buf_addf(&b, NULL, "=1");
	CU_ASSERT_EQUAL(fb_http_form_parse(a, b.data, b.len, &f, &err), FB_ERR_LIMIT);
	fb_buf_cleanup(&b);
	fb_arena_free(a);
}

static void
test_form_invalid(void)
{
	static const char *const bad[] = {
	    "a=%zz", "a=%4", "a=%", "a=1&b=%G0", /* malformed escapes */
	    "a=%C3", "a=%FF", "a=%C0%AF",
	    "a=%ED%A0%80",                        /* not UTF-8 (truncated, overlong, surrogate) */
	    "a=%00", "a=x%00y", "a=%01", "a=%7F", /* NUL and control characters */
	    "n%0A=1", "n%09=1",                   /* no control characters in names */
	};
	struct fb_arena *a = fb_arena_new();
	struct fb_http_form *f = NULL;
	struct fb_err err = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum fb_status r = fb_http_form_parse(a, bad[i], strlen(bad[i]), &f, &err);

		if (r != FB_ERR_INVALID)
			fprintf(stderr, "form %s: %s\n", bad[i], fb_status_name(r));
		CU_ASSERT_EQUAL(r, FB_ERR_INVALID);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "form "));
	}
	/* A raw (unencoded) invalid byte is refused too. */
	CU_ASSERT_EQUAL(fb_http_form_parse(a, "a=\xff", 3, &f, &err), FB_ERR_INVALID);
	/* Bytes after the stated length are not read. */
	CU_ASSERT_EQUAL(fb_http_form_parse(a, "a=1%zz", 3, &f, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(fb_http_form_get(f, "a"), "1");
	fb_arena_free(a);
}

static void
test_form_content_type(void)
{
	CU_ASSERT_TRUE(fb_http_form_content_type_check("application/x-www-form-urlencoded"));
	CU_ASSERT_TRUE(fb_http_form_content_type_check("Application/X-WWW-Form-Urlencoded"));
	CU_ASSERT_TRUE(
	    fb_http_form_content_type_check("application/x-www-form-urlencoded; charset=UTF-8"));
	CU_ASSERT_FALSE(fb_http_form_content_type_check(NULL));
	CU_ASSERT_FALSE(fb_http_form_content_type_check("multipart/form-data; boundary=x"));
	CU_ASSERT_FALSE(fb_http_form_content_type_check("application/x-www-form-urlencodedX"));
	CU_ASSERT_FALSE(fb_http_form_content_type_check("text/plain"));
}

/* ---- HTML ------------------------------------------------------------------------ */

static void
test_page(void)
{
	struct fb_conf *conf = NULL;
	struct fb_http_page p;
	const char *yaml = "branding:\n  organization: \"Acme <Corp>\"\n"
	                   "  logo_url: \"https://acme.example/logo.png?a=1&b=2\"\n";

	CU_ASSERT_FATAL(
	    fb_conf_load_string(yaml, strlen(yaml), NULL, NULL, &conf, NULL, NULL) == FB_OK);
	fb_http_page_begin(&p, conf, "Sign <in>");
	fb_http_page_html(&p, "<p>%s|%d|%u|%lld|%zu|100%%</p>", "<b>\"x\"</b>", -3, 4u,
	    (long long)-5, (size_t)6);
	CU_ASSERT_EQUAL(p.st, FB_OK);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(p.b.data, "<title>Sign &lt;in&gt; - Acme &lt;Corp&gt;</title>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.b.data, "name=\"viewport\""));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(p.b.data, "<img src=\"https://acme.example/logo.png?a=1&amp;b=2\""));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(p.b.data, "<p>&lt;b&gt;&quot;x&quot;&lt;/b&gt;|-3|4|-5|6|100%</p>"));
	CU_ASSERT_PTR_NULL(strstr(p.b.data, "<b>"));
	fb_http_page_cleanup(&p);
	fb_conf_free(conf);
}

/* ---- cookies ------------------------------------------------------------------ */

static void
test_cookies(void)
{
	struct fb_arena *a = fb_arena_new();
	char *c;

	CU_ASSERT_STRING_EQUAL(fb_http_cookie_find(a, "fb_session=abc", "fb_session"), "abc");
	CU_ASSERT_STRING_EQUAL(fb_http_cookie_find(a, "x=1; fb_session_pre=p; fb_session=s; y=2",
	                           "fb_session"),
	    "s");
	CU_ASSERT_STRING_EQUAL(fb_http_cookie_find(a, "x=1; fb_session_pre=p; fb_session=s",
	                           "fb_session_pre"),
	    "p");
	CU_ASSERT_STRING_EQUAL(fb_http_cookie_find(a, "a=1;b=2 ;  c=3", "c"), "3");
	CU_ASSERT_STRING_EQUAL(fb_http_cookie_find(a, "a=1; a=2", "a"), "1");
	CU_ASSERT_PTR_NULL(fb_http_cookie_find(a, "xfb_session=1", "fb_session"));
	CU_ASSERT_PTR_NULL(fb_http_cookie_find(a, "fb_session=", "fb_session"));
	CU_ASSERT_PTR_NULL(fb_http_cookie_find(a, "fb_session", "fb_session"));
	CU_ASSERT_PTR_NULL(fb_http_cookie_find(a, NULL, "fb_session"));
	CU_ASSERT_PTR_NULL(fb_http_cookie_find(a, "", "fb_session"));
	{
		char *big = fb_xmalloc(FB_HTTP_COOKIE_MAX + 8);

		memset(big, 'v', FB_HTTP_COOKIE_MAX + 7);
		memcpy(big, "a=", 2);
		big[FB_HTTP_COOKIE_MAX + 7] = '\0';
		CU_ASSERT_PTR_NULL(fb_http_cookie_find(a, big, "a"));
		free(big);
	}
	c = fb_http_cookie_build("fb_session", "v1.x", -1, 0);
	CU_ASSERT_STRING_EQUAL(c, "fb_session=v1.x; Path=/; HttpOnly; SameSite=Lax");
	free(c);
	c = fb_http_cookie_build("fb_session", "v1.x", 3600, 1);
	CU_ASSERT_STRING_EQUAL(c, "fb_session=v1.x; Path=/; HttpOnly; SameSite=Lax; Secure; "
	                          "Max-Age=3600");
	free(c);
	c = fb_http_cookie_build("fb_session", "", 0, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(c, "Max-Age=0"));
	free(c);
	/* On an https site every cookie name has the __Host- prefix (once). */
	CU_ASSERT_STRING_EQUAL(fb_http_cookie_name(a, "fb_session", 1), "__Host-fb_session");
	CU_ASSERT_STRING_EQUAL(fb_http_cookie_name(a, "fb_session", 0), "fb_session");
	CU_ASSERT_STRING_EQUAL(fb_http_cookie_name(a, "__Host-x", 1), "__Host-x");
	CU_ASSERT_STRING_EQUAL(fb_http_cookie_name(a, "__Secure-x", 1), "__Secure-x");
	fb_arena_free(a);
}

/* ---- the next-path guard ------------------------------------------------------ */

static void
test_next_check(void)
{
	static const char *const good[] = {
	    "/",
	    "/apps",
	    "/saml/idp/sso?SAMLRequest=abc%2F%2F&RelayState=x",
	    "/a/b/c#frag",
	    "/%2F%2Fevil.example",
	    "/login?next=/x",
	};
	static const char *const bad[] = {
	    "",
	    "//evil.example",
	    "//evil.example/path",
	    "/\\evil.example",
	    "\\\\evil.example",
	    "https://evil.example/",
	    "http:/evil.example",
	    "javascript:alert(1)",
	    "evil.example",
	    "/\t/evil.example",
	    "/\n/evil.example",
	    "/\r/evil",
	    "/a\\b",
	    "/ spaced",
	    "/caf\xc3\xa9",
	    "/x\x7f",
	    "\t/x",
	};
	char *longest;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!fb_http_next_check(good[i]))
			fprintf(stderr, "next refused: %s\n", good[i]);
		CU_ASSERT_TRUE(fb_http_next_check(good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fb_http_next_check(bad[i]))
			fprintf(stderr, "next accepted: %s\n", bad[i]);
		CU_ASSERT_FALSE(fb_http_next_check(bad[i]));
	}
	CU_ASSERT_FALSE(fb_http_next_check(NULL));
	longest = fb_xmalloc(FB_HTTP_NEXT_MAX + 2);
	memset(longest, 'a', FB_HTTP_NEXT_MAX + 1);
	longest[0] = '/';
	longest[FB_HTTP_NEXT_MAX] = '\0';
	CU_ASSERT_TRUE(fb_http_next_check(longest));
	longest[FB_HTTP_NEXT_MAX] = 'a';
	longest[FB_HTTP_NEXT_MAX + 1] = '\0';
	CU_ASSERT_FALSE(fb_http_next_check(longest));
	free(longest);
}

/* ---- sessions ------------------------------------------------------------------ */

static struct fb_sealer *
sealer(unsigned char fill)
{
	unsigned char keys[1][32];

	memset(keys[0], fill, sizeof(keys[0]));
	return fb_crypto_sealer_new((const unsigned char(*)[32])keys, 1);
}

static void
test_session_roundtrip(void)
{
	struct fb_sealer *s = sealer(7);
	struct fb_http_session in, out;
	struct fb_err err = {0};
	char *tok = NULL;

	fb_http_session_init(&in, "uid-1", "alice", FB_HTTP_SESSION_MFA_PENDING, 0, 600);
	CU_ASSERT_EQUAL(strlen(in.sid), 22);
	CU_ASSERT_EQUAL(in.expires_at - in.auth_time, 600);
	CU_ASSERT_EQUAL_FATAL(fb_http_session_seal(s, &in, &tok, &err), FB_OK);
	CU_ASSERT_PTR_NULL(strstr(tok, "alice")); /* sealed, not readable */
	CU_ASSERT_EQUAL_FATAL(fb_http_session_open(s, tok, &out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out.sid, in.sid);
	CU_ASSERT_STRING_EQUAL(out.user_id, "uid-1");
	CU_ASSERT_STRING_EQUAL(out.username, "alice");
	CU_ASSERT_EQUAL(out.auth_time, in.auth_time);
	CU_ASSERT_EQUAL(out.expires_at, in.expires_at);
	CU_ASSERT_EQUAL(out.state, FB_HTTP_SESSION_MFA_PENDING);
	CU_ASSERT_EQUAL(out.mfa, 0);
	CU_ASSERT_PTR_NULL(out.upstream);
	fb_http_session_cleanup(&out);
	free(tok);
	/* A session made by an upstream sign-in records the upstream. */
	in.upstream = fb_xstrdup("corp");
	CU_ASSERT_EQUAL_FATAL(fb_http_session_seal(s, &in, &tok, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_http_session_open(s, tok, &out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out.upstream, "corp");
	fb_http_session_cleanup(&out);
	free(tok);
	/* Each session gets its own id. */
	{
		struct fb_http_session other;

		fb_http_session_init(&other, "uid-1", "alice", FB_HTTP_SESSION_FULL, 1, 600);
		CU_ASSERT_STRING_NOT_EQUAL(other.sid, in.sid);
		CU_ASSERT_EQUAL_FATAL(fb_http_session_seal(s, &other, &tok, &err), FB_OK);
		CU_ASSERT_EQUAL_FATAL(fb_http_session_open(s, tok, &out, &err), FB_OK);
		CU_ASSERT_EQUAL(out.state, FB_HTTP_SESSION_FULL);
		CU_ASSERT_EQUAL(out.mfa, 1);
		fb_http_session_cleanup(&out);
		fb_http_session_cleanup(&other);
		free(tok);
	}
	fb_http_session_cleanup(&in);
	fb_http_session_cleanup(NULL);
	fb_crypto_sealer_free(s);
}

static void
test_session_tamper(void)
{
	struct fb_sealer *s = sealer(7), *other = sealer(8);
	struct fb_http_session in, out;
	struct fb_err err = {0};
	char *tok = NULL, *csrf = NULL, *junk = NULL;
	size_t n;
	char orig;
	enum fb_status r;

	fb_http_session_init(&in, "uid-1", "alice", FB_HTTP_SESSION_FULL, 1, 600);
	CU_ASSERT_EQUAL_FATAL(fb_http_session_seal(s, &in, &tok, &err), FB_OK);
	/*
	 * Change one character in the middle of the ciphertext to two other
	 * values; each is refused, and the original opens again. (Toggling
	 * between 'A' and 'B' restored the original whenever it was 'A'.)
	 */
	n = strlen(tok);
	orig = tok[n / 2];
	tok[n / 2] = orig == 'A' ? 'B' : 'A';
	r = fb_http_session_open(s, tok, &out, &err);
	CU_ASSERT_TRUE(r == FB_ERR_SIGNATURE || r == FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(out.username);
	tok[n / 2] = orig == 'C' ? 'D' : 'C';
	r = fb_http_session_open(s, tok, &out, &err);
	CU_ASSERT_TRUE(r == FB_ERR_SIGNATURE || r == FB_ERR_INVALID);
	tok[n / 2] = orig;
	CU_ASSERT_EQUAL_FATAL(fb_http_session_open(s, tok, &out, &err), FB_OK);
	fb_http_session_cleanup(&out);
	tok[n / 2] = orig == 'A' ? 'B' : 'A';
	/* Another deployment's key, garbage, a token of another purpose. */
	CU_ASSERT_EQUAL(fb_http_session_open(other, tok, &out, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_http_session_open(s, "v1.garbage", &out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_http_session_open(s, "", &out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_csrf_new(s, in.sid, 600, &csrf, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_http_session_open(s, csrf, &out, &err), FB_ERR_SIGNATURE);
	/* Sealed for sessions but not a session payload. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s, FB_HTTP_SESSION_PURPOSE, "{\"v\":1}", 7,
	                          fb_time_now() + 60, &junk, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_http_session_open(s, junk, &out, &err), FB_ERR_INVALID);
	free(junk);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s, FB_HTTP_SESSION_PURPOSE,
	                          "{\"v\":1,\"sid\":\"a\",\"uid\":\"b\",\"usr\":\"c\",\"iat\":1,"
	                          "\"exp\":2,\"st\":\"root\",\"mfa\":true}",
	                          80, fb_time_now() + 60, &junk, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_http_session_open(s, junk, &out, &err), FB_ERR_INVALID);
	free(junk);
	/* An incomplete session is not sealed. */
	free(in.username);
	in.username = NULL;
	CU_ASSERT_EQUAL(fb_http_session_seal(s, &in, &junk, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(junk);
	free(csrf);
	free(tok);
	fb_http_session_cleanup(&in);
	fb_crypto_sealer_free(s);
	fb_crypto_sealer_free(other);
}

static void
test_session_expiry(void)
{
	struct fb_sealer *s = sealer(7);
	struct fb_http_session in, out;
	struct fb_err err = {0};
	char *tok = NULL;

	fb_http_session_init(&in, "uid-1", "alice", FB_HTTP_SESSION_FULL, 0, 300);
	CU_ASSERT_EQUAL_FATAL(fb_http_session_seal(s, &in, &tok, &err), FB_OK);
	fb_time_offset = 299;
	CU_ASSERT_EQUAL(fb_http_session_open(s, tok, &out, &err), FB_OK);
	fb_http_session_cleanup(&out);
	fb_time_offset = 300;
	CU_ASSERT_EQUAL(fb_http_session_open(s, tok, &out, &err), FB_ERR_EXPIRED);
	CU_ASSERT_PTR_NULL(out.sid);
	fb_time_offset = 0;
	free(tok);
	fb_http_session_cleanup(&in);
	fb_crypto_sealer_free(s);
}

/* The OpenID provider's request bodies: parameters by name, unknown ones ignored, none twice. */
static void
test_oauth2_params(void)
{
	struct fb_arena *a = fb_arena_new();
	struct fb_oidc_params p;
	struct fb_err err;
	const char *name, *value;
	struct fb_http_form *f = NULL;
	char *big;
	const char *body = "grant_type=authorization_code&code=a%2Bb&x=1&redirect_uri=https%3A%2F%2Fa%2Fcb";

	CU_ASSERT_EQUAL(fb_http_oauth2_params(a, body, strlen(body), &p, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(p.grant_type, "authorization_code");
	CU_ASSERT_STRING_EQUAL(p.code, "a+b");
	CU_ASSERT_STRING_EQUAL(p.redirect_uri, "https://a/cb");
	CU_ASSERT_PTR_NULL(p.client_id);
	CU_ASSERT_EQUAL(fb_http_form_parse(a, body, strlen(body), &f, &err), FB_OK);
	CU_ASSERT_TRUE(fb_http_form_field(f, 2, &name, &value));
	CU_ASSERT_STRING_EQUAL(name, "x");
	CU_ASSERT_FALSE(fb_http_form_field(f, 4, &name, &value));
	body = "code=1&grant_type=refresh_token&code=2";
	CU_ASSERT_EQUAL(fb_http_oauth2_params(a, body, strlen(body), &p, &err), FB_ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "parameter code is given twice");
	body = "code=%zz";
	CU_ASSERT_EQUAL(fb_http_oauth2_params(a, body, strlen(body), &p, &err), FB_ERR_INVALID);
	big = fb_xmalloc(FB_HTTP_OAUTH2_BODY_MAX + 2);
	memset(big, 'a', FB_HTTP_OAUTH2_BODY_MAX + 1);
	big[FB_HTTP_OAUTH2_BODY_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(fb_http_oauth2_params(a, big, strlen(big), &p, &err), FB_ERR_LIMIT);
	free(big);
	fb_arena_free(a);
}

int
fb_test_web_register(void)
{
	CU_pSuite s = CU_add_suite("web", NULL, NULL);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "form parse", test_form_parse) == NULL ||
	    CU_add_test(s, "oauth2 request bodies", test_oauth2_params) == NULL ||
	    CU_add_test(s, "form limits", test_form_limits) == NULL ||
	    CU_add_test(s, "form invalid", test_form_invalid) == NULL ||
	    CU_add_test(s, "form content type", test_form_content_type) == NULL ||
	    CU_add_test(s, "page layout", test_page) == NULL ||
	    CU_add_test(s, "cookies", test_cookies) == NULL ||
	    CU_add_test(s, "next guard (open redirect)", test_next_check) == NULL ||
	    CU_add_test(s, "session round trip", test_session_roundtrip) == NULL ||
	    CU_add_test(s, "session tamper", test_session_tamper) == NULL ||
	    CU_add_test(s, "session expiry", test_session_expiry) == NULL)
		return -1;
	return 0;
}
