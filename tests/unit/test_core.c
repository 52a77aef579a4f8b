/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_core.c: errors, log lines and redaction, buffers, arenas, encodings, time. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/core.h"
#include "unit.h"

/* Runs fn with the log sent to a temporary file and returns what was written (new). */
static char *
capture_log(enum fb_log_format fmt, void (*fn)(void))
{
	char path[] = "/tmp/fb-log-XXXXXX";
	int fd = mkstemp(path);
	char *out;
	long n;
	FILE *f;

	CU_ASSERT_FATAL(fd >= 0);
	fb_log_setup(fmt, FB_LOG_DEBUG, fd);
	fn();
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, 2);
	close(fd);
	f = fopen(path, "r");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	out = fb_xcalloc(1, (size_t)n + 1);
	CU_ASSERT(fread(out, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	unlink(path);
	return out;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
log_some(void)
{
	fb_log(FB_LOG_INFO, "hello \"world\" with s3cr3t-value inside%s", "");
	fb_audit("req-1", "login_failed", "user %s", "bob");
	fb_log(FB_LOG_WARN, "an injected\nlevel=error line");
}

static void
test_log_logfmt(void)
{
	char *out;

	fb_log_secret_add("s3cr3t-value");
	out = capture_log(FB_LOG_LOGFMT, log_some);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " level=info cat=app "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "msg=\"hello \\\"world\\\" with [REDACTED] inside\""));
	CU_ASSERT_PTR_NULL(strstr(out, "s3cr3t-value"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "cat=audit"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "reqid=req-1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "event=login_failed"));
	/* Three events, three lines, however many quotes and newlines a message holds. */
	CU_ASSERT_EQUAL(count_lines(out), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "msg=\"an injected\\nlevel=error line\""));
	free(out);
	fb_log_secret_clear();
}

static void
test_log_json(void)
{
	char *out, *nl;
	json_t *o;
	json_error_t je;

	fb_log_secret_add("s3cr3t-value");
	out = capture_log(FB_LOG_JSON, log_some);
	nl = strchr(out, '\n');
	CU_ASSERT_FATAL(nl != NULL);
	*nl = '\0';
	o = json_loads(out, 0, &je);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "level")), "info");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "msg")),
	    "hello \"world\" with [REDACTED] inside");
	CU_ASSERT_PTR_NOT_NULL(json_object_get(o, "time"));
	json_decref(o);
	o = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, &je);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "cat")), "audit");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "event")), "login_failed");
	json_decref(o);
	free(out);
	fb_log_secret_clear();
}

static void
log_fields(void)
{
	fb_log_min_level = FB_LOG_ERROR;
	/* An audit event is written whatever the level, at info; identifiers as fields. */
	fb_audit_fields("req-2", "saml_response_sent",
	    FB_LOG_FIELDS(FB_LOG_STR("sp", "aws prod"), FB_LOG_STR("nameid", "n=1"),
		FB_LOG_STR("skipped", NULL), FB_LOG_INT("count", 42), FB_LOG_INT("neg", -7),
		FB_LOG_REAL("ms", 1.5), FB_LOG_STR("token", "xx s3cr3t-value yy")),
	    "sent");
	/* An app event below the level is not. */
	fb_log_event(FB_LOG_INFO, "app", __func__, NULL, "quiet", NULL, "not written");
}

static void
test_log_fields_json(void)
{
	char *out;
	json_t *o;
	json_error_t je;

	fb_log_secret_add("s3cr3t-value");
	out = capture_log(FB_LOG_JSON, log_fields);
	CU_ASSERT_EQUAL(count_lines(out), 1);
	CU_ASSERT_PTR_NULL(strstr(out, "s3cr3t-value"));
	o = json_loads(out, JSON_DISABLE_EOF_CHECK, &je);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "level")), "info");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "cat")), "audit");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "event")), "saml_response_sent");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "sp")), "aws prod");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "nameid")), "n=1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "msg")), "sent");
	CU_ASSERT_PTR_NULL(json_object_get(o, "skipped"));
	CU_ASSERT(json_is_integer(json_object_get(o, "count")));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "count")), 42);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "neg")), -7);
	CU_ASSERT(json_is_real(json_object_get(o, "ms")));
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(o, "ms")), 1.5, 1e-9);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "token")), "xx [REDACTED] yy");
	json_decref(o);
	free(out);
	fb_log_secret_clear();
}

static void
test_log_fields_logfmt(void)
{
	char *out;

	fb_log_secret_add("s3cr3t-value");
	out = capture_log(FB_LOG_LOGFMT, log_fields);
	CU_ASSERT_EQUAL(count_lines(out), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " level=info cat=audit "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " event=saml_response_sent sp=\"aws prod\" "
					   "nameid=\"n=1\" count=42 neg=-7 ms=1.500 "
					   "token=\"xx [REDACTED] yy\""));
	CU_ASSERT_PTR_NULL(strstr(out, "skipped"));
	CU_ASSERT_PTR_NULL(strstr(out, "s3cr3t-value"));
	free(out);
	fb_log_secret_clear();
}

static void
test_log_level_filter(void)
{
	CU_ASSERT_EQUAL(fb_log_level_parse("warn"), FB_LOG_WARN);
	CU_ASSERT_EQUAL(fb_log_level_parse("loud"), -1);
	CU_ASSERT_EQUAL(fb_log_format_parse("json"), FB_LOG_JSON);
	CU_ASSERT_EQUAL(fb_log_format_parse("xml"), -1);
}

static enum fb_status
fail_here(struct fb_err *err)
{
	return fb_err_set(err, FB_ERR_INVALID, "bad %s", "thing");
}

static void
test_err(void)
{
	struct fb_err err;

	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fail_here(&err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(err.code, FB_ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "bad thing");
	CU_ASSERT_STRING_EQUAL(err.func, "fail_here");
	CU_ASSERT_PTR_NOT_NULL(strstr(err.file, "test_core.c"));
	fb_err_prefix(&err, "conf.yaml:%d", 3);
	CU_ASSERT_STRING_EQUAL(err.msg, "conf.yaml:3: bad thing");
	/* A NULL err is allowed everywhere. */
	CU_ASSERT_EQUAL(fail_here(NULL), FB_ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(fb_status_name(FB_ERR_EXPIRED), "expired");
}

static void
test_buf_limit(void)
{
	struct fb_buf b;
	struct fb_err err;
	char *s;

	fb_buf_init(&b, 8);
	CU_ASSERT_EQUAL(fb_buf_add(&b, "1234", 4, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_buf_addf(&b, &err, "%d", 5678), FB_OK);
	CU_ASSERT_EQUAL(b.len, 8);
	CU_ASSERT_EQUAL(fb_buf_add(&b, "9", 1, &err), FB_ERR_LIMIT);
	CU_ASSERT_EQUAL(b.len, 8);
	s = fb_buf_take(&b);
	CU_ASSERT_STRING_EQUAL(s, "12345678");
	free(s);
	fb_buf_cleanup(&b);
}

static int disposed;

static void
dispose_cb(void *p)
{
	disposed += *(int *)p;
}

static void
test_arena(void)
{
	struct fb_arena *a = fb_arena_new();
	int one = 1, ten = 10;
	char *big;

	CU_ASSERT_STRING_EQUAL(fb_arena_strdup(a, "abc"), "abc");
	CU_ASSERT_STRING_EQUAL(fb_arena_printf(a, "%s-%d", "x", 7), "x-7");
	big = fb_arena_alloc(a, 10000);
	memset(big, 'z', 10000);
	for (int i = 0; i < 1000; i++)
		CU_ASSERT_PTR_NOT_NULL(fb_arena_alloc(a, 24));
	disposed = 0;
	fb_arena_dispose(a, dispose_cb, &one);
	fb_arena_dispose(a, dispose_cb, &ten);
	fb_arena_free(a);
	CU_ASSERT_EQUAL(disposed, 11);
	fb_arena_free(NULL);
}

static void
test_b64url(void)
{
	const unsigned char raw[] = {0xfb, 0xff, 0xfe, 0x00, 0x41};
	unsigned char *out;
	size_t len;
	char *s;
	struct fb_err err;

	for (size_t n = 0; n <= sizeof(raw); n++) {
		s = fb_b64url_encode(raw, n);
		CU_ASSERT_PTR_NULL(strpbrk(s, "+/="));
		CU_ASSERT_EQUAL(fb_b64url_decode(s, &out, &len, &err), FB_OK);
		CU_ASSERT_EQUAL(len, n);
		CU_ASSERT(memcmp(out, raw, n) == 0);
		free(out);
		free(s);
	}
	CU_ASSERT_EQUAL(fb_b64url_decode("ab$d", &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_b64url_decode("abcde", &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(out);
}

static void
test_rand(void)
{
	char *a = fb_rand_token(16), *b = fb_rand_token(16);
	char hex[9];

	CU_ASSERT_EQUAL(strlen(a), 22);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	free(a);
	free(b);
	fb_hex_encode("\x01\xab\xff\x10", 4, hex);
	CU_ASSERT_STRING_EQUAL(hex, "01abff10");
	CU_ASSERT_EQUAL(fb_memeq_ct("abc", "abc", 3), 0);
	CU_ASSERT_NOT_EQUAL(fb_memeq_ct("abc", "abd", 3), 0);
}

static void
test_duration(void)
{
	int64_t v;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_duration_parse("30s", &v, &err), FB_OK);
	CU_ASSERT_EQUAL(v, 30);
	CU_ASSERT_EQUAL(fb_duration_parse("15m", &v, &err), FB_OK);
	CU_ASSERT_EQUAL(v, 900);
	CU_ASSERT_EQUAL(fb_duration_parse("8h", &v, &err), FB_OK);
	CU_ASSERT_EQUAL(v, 28800);
	CU_ASSERT_EQUAL(fb_duration_parse("2d", &v, &err), FB_OK);
	CU_ASSERT_EQUAL(v, 172800);
	CU_ASSERT_EQUAL(fb_duration_parse("42", &v, &err), FB_OK);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT_EQUAL(fb_duration_parse("", &v, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_duration_parse("5x", &v, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a duration"));
	CU_ASSERT_EQUAL(fb_duration_parse("5ms", &v, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_duration_parse("-5s", &v, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_duration_parse("99999999999999999999s", &v, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_duration_parse("9999999999999999d", &v, &err), FB_ERR_INVALID);
}

static void
test_time_format(void)
{
	char out[40];

	fb_time_format(0, 5, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "1970-01-01T00:00:00.005Z");
	fb_time_format(1700000000, -1, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "2023-11-14T22:13:20Z");
	fb_time_offset = 100;
	CU_ASSERT(fb_time_now() - (int64_t)time(NULL) >= 99);
	fb_time_offset = 0;
}

static void
test_text(void)
{
	CU_ASSERT_EQUAL(fb_str_distance("listen", "listn"), 1);
	CU_ASSERT_EQUAL(fb_str_distance("workers", "wrokers"), 2);
	CU_ASSERT_EQUAL(fb_str_distance("", "abc"), 3);
	CU_ASSERT_EQUAL(fb_utf8_check("h\xc3\xa9llo", 6), 1);
	CU_ASSERT_EQUAL(fb_utf8_check("\xc3", 1), 0);		/* truncated */
	CU_ASSERT_EQUAL(fb_utf8_check("\xc0\xaf", 2), 0);	/* overlong '/' */
	CU_ASSERT_EQUAL(fb_utf8_check("\xed\xa0\x80", 3), 0);	/* surrogate */
	CU_ASSERT_EQUAL(fb_utf8_check("a\0b", 3), 0);		/* NUL */
	CU_ASSERT_EQUAL(fb_utf8_check("\xf0\x9f\x98\x80", 4), 1);
}

/*
 * The UTF-8 helpers every module shares (conf, http, saml, local passwords
 * and the mapping language used copies of their own).
 */
static void
test_utf8(void)
{
	/* 8-byte ASCII runs are skipped in one step: a bad byte after one is still seen. */
	static const char long_bad[] = "abcdefgh12345678\xc0\xaf";
	static const char long_ok[] = "abcdefgh12345678h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac";
	char out[4];
	uint32_t cps[] = {0x41, 0xe9, 0x20ac, 0x1f600, 0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0x10000,
	    0x10ffff};

	CU_ASSERT_EQUAL(fb_utf8_valid("a\0b", 3), 1); /* NUL allowed (rule strings hold it) */
	CU_ASSERT_EQUAL(fb_utf8_check("a\0b", 3), 0);
	CU_ASSERT_EQUAL(fb_utf8_valid(long_bad, sizeof(long_bad) - 1), 0);
	CU_ASSERT_EQUAL(fb_utf8_valid(long_ok, sizeof(long_ok) - 1), 1);
	CU_ASSERT_EQUAL(fb_utf8_check(long_ok, sizeof(long_ok) - 1), 1);
	CU_ASSERT_EQUAL(fb_utf8_valid("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
	CU_ASSERT_EQUAL(fb_utf8_valid("\xe0\x80\xaf", 3), 0);     /* overlong */
	CU_ASSERT_EQUAL(fb_utf8_valid("\xff", 1), 0);
	CU_ASSERT_EQUAL(fb_utf8_valid("", 0), 1);
	/* Code points, and the byte offset of each. */
	CU_ASSERT_EQUAL(fb_utf8_len("h\xc3\xa9llo", 6), 5);
	CU_ASSERT_EQUAL(fb_utf8_len("\xf0\x9f\x98\x80x", 5), 2);
	CU_ASSERT_EQUAL(fb_utf8_len("", 0), 0);
	CU_ASSERT_EQUAL(fb_utf8_offset("h\xc3\xa9llo", 6, 0), 0);
	CU_ASSERT_EQUAL(fb_utf8_offset("h\xc3\xa9llo", 6, 1), 1);
	CU_ASSERT_EQUAL(fb_utf8_offset("h\xc3\xa9llo", 6, 2), 3);
	CU_ASSERT_EQUAL(fb_utf8_offset("h\xc3\xa9llo", 6, 5), 6);
	CU_ASSERT_EQUAL(fb_utf8_offset("h\xc3\xa9llo", 6, 99), 6);
	/* Encoding: each edge of each length, read back by the checker. */
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		size_t n = fb_utf8_encode(cps[i], out);

		CU_ASSERT_EQUAL(n, cps[i] < 0x80      ? 1u
		                   : cps[i] < 0x800   ? 2u
		                   : cps[i] < 0x10000 ? 3u
		                                      : 4u);
		CU_ASSERT_EQUAL(fb_utf8_valid(out, n), 1);
		CU_ASSERT_EQUAL(fb_utf8_len(out, n), 1);
	}
	CU_ASSERT_EQUAL(fb_utf8_encode(0x20ac, out), 3);
	CU_ASSERT_EQUAL(memcmp(out, "\xe2\x82\xac", 3), 0);
	CU_ASSERT_EQUAL(fb_utf8_encode(0x1f600, out), 4);
	CU_ASSERT_EQUAL(memcmp(out, "\xf0\x9f\x98\x80", 4), 0);
}

/* HTML and XML escaping (pages, the SAML POST form, metadata). */
static void
test_buf_escaped(void)
{
	struct fb_buf b;

	fb_buf_init(&b, 1024);
	CU_ASSERT_EQUAL(fb_buf_add_escaped(&b, "<a href=\"x\" title='y'>&amp;</a>", NULL), FB_OK);
	CU_ASSERT_STRING_EQUAL(b.data,
	    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
	fb_buf_reset(&b);
	CU_ASSERT_EQUAL(fb_buf_add_escaped(&b, NULL, NULL), FB_OK);
	CU_ASSERT_EQUAL(fb_buf_add_escaped(&b, "plain \xc3\xa9t\xc3\xa9", NULL), FB_OK);
	CU_ASSERT_STRING_EQUAL(b.data, "plain \xc3\xa9t\xc3\xa9");
	fb_buf_cleanup(&b);
	/* The bound holds. */
	fb_buf_init(&b, 8);
	CU_ASSERT_EQUAL(fb_buf_add_escaped(&b, "<<<", NULL), FB_ERR_LIMIT);
	fb_buf_cleanup(&b);
}

/* Addresses and CIDR blocks (server.trusted_proxies). */
static void
test_addr(void)
{
	static const char *const bad[] = {"", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1",
	    "10.0.0.0/8x", "10.1.0.0/8", "2001:db8::/129", "2001:db8::1/32", "host.example",
	    "10.0.0", "fe80::1%eth0", "::ffff:10.0.0.0/95", "[::1]", "10.0.0.0/0008"};
	struct fb_addr_cidr c;
	struct fb_addr a;
	struct fb_err err;
	char text[FB_ADDR_TEXT_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(fb_addr_cidr_parse(bad[i], &c, &err), FB_ERR_INVALID);
	}
	CU_ASSERT_EQUAL(fb_addr_cidr_parse("10.0.0.0/8", &c, &err), FB_OK);
	CU_ASSERT_EQUAL(c.bits, 8);
	CU_ASSERT_TRUE(fb_addr_parse("10.255.1.2", &a) && fb_addr_cidr_match(&c, &a));
	CU_ASSERT_TRUE(fb_addr_parse("11.0.0.1", &a) && !fb_addr_cidr_match(&c, &a));
	CU_ASSERT_TRUE(fb_addr_parse("::ffff:10.1.2.3", &a) && fb_addr_cidr_match(&c, &a));
	CU_ASSERT_TRUE(fb_addr_parse("::a01:203", &a) && !fb_addr_cidr_match(&c, &a));
	CU_ASSERT_EQUAL(fb_addr_cidr_parse("192.0.2.7", &c, &err), FB_OK);
	CU_ASSERT_EQUAL(c.bits, 32);
	CU_ASSERT_TRUE(fb_addr_parse("192.0.2.7", &a) && fb_addr_cidr_match(&c, &a));
	CU_ASSERT_TRUE(fb_addr_parse("192.0.2.8", &a) && !fb_addr_cidr_match(&c, &a));
	CU_ASSERT_EQUAL(fb_addr_cidr_parse("172.16.0.0/12", &c, &err), FB_OK);
	CU_ASSERT_TRUE(fb_addr_parse("172.31.255.255", &a) && fb_addr_cidr_match(&c, &a));
	CU_ASSERT_TRUE(fb_addr_parse("172.32.0.0", &a) && !fb_addr_cidr_match(&c, &a));
	CU_ASSERT_EQUAL(fb_addr_cidr_parse("2001:db8::/32", &c, &err), FB_OK);
	CU_ASSERT_TRUE(fb_addr_parse("2001:db8:1::5", &a) && fb_addr_cidr_match(&c, &a));
	CU_ASSERT_TRUE(fb_addr_parse("2001:db9::5", &a) && !fb_addr_cidr_match(&c, &a));
	CU_ASSERT_TRUE(fb_addr_parse("10.0.0.1", &a) && !fb_addr_cidr_match(&c, &a));
	CU_ASSERT_EQUAL(fb_addr_cidr_parse("::ffff:10.0.0.0/104", &c, &err), FB_OK);
	CU_ASSERT_EQUAL(c.bits, 8);
	CU_ASSERT_FALSE(c.addr.v6);
	CU_ASSERT_EQUAL(fb_addr_cidr_parse("0.0.0.0/0", &c, &err), FB_OK);
	CU_ASSERT_TRUE(fb_addr_parse("203.0.113.1", &a) && fb_addr_cidr_match(&c, &a));
	/* Canonical text. */
	CU_ASSERT_TRUE(fb_addr_parse("2001:DB8:0:0::1", &a));
	fb_addr_format(&a, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "2001:db8::1");
	CU_ASSERT_TRUE(fb_addr_parse("::ffff:192.0.2.1", &a));
	fb_addr_format(&a, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "192.0.2.1");
	CU_ASSERT_FALSE(fb_addr_parse(NULL, &a));
	CU_ASSERT_FALSE(fb_addr_parse("1.2.3.4 ", &a));
	/* The peer audit lines carry: copied, cleared by NULL or "". */
	{
		char peer[] = "10.0.0.1";

		CU_ASSERT_PTR_NULL(fb_log_peer());
		fb_log_peer_set(peer);
		peer[0] = '9';
		CU_ASSERT_STRING_EQUAL(fb_log_peer(), "10.0.0.1");
		fb_log_peer_set("");
		CU_ASSERT_PTR_NULL(fb_log_peer());
		fb_log_peer_set("10.0.0.2");
		fb_log_peer_set(NULL);
		CU_ASSERT_PTR_NULL(fb_log_peer());
	}
}

/* The test clock: fb_time_now is the floor of fb_time_now_ms, whichever clock runs. */
static int64_t fixed;

static int64_t
fixed_clock(void)
{
	return fixed;
}

static void
test_clock_ms(void)
{
	int64_t real = fb_time_now_ms();

	CU_ASSERT_TRUE(real / 1000 - fb_time_now() <= 1);
	fb_time_clock_ms = fixed_clock;
	fixed = 1700000000999;
	CU_ASSERT_EQUAL(fb_time_now(), 1700000000);
	fixed++;
	CU_ASSERT_EQUAL(fb_time_now(), 1700000001);
	fb_time_offset = 5;
	CU_ASSERT_EQUAL(fb_time_now_ms(), 1700000006000);
	fb_time_offset = 0;
	fixed = -1;
	CU_ASSERT_EQUAL(fb_time_now(), -1);
	fb_time_clock_ms = NULL;
}

int
fb_test_core_register(void)
{
	CU_pSuite s = CU_add_suite("core", NULL, NULL);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "log logfmt and redaction", test_log_logfmt) == NULL ||
	    CU_add_test(s, "log json", test_log_json) == NULL ||
	    CU_add_test(s, "log event fields json", test_log_fields_json) == NULL ||
	    CU_add_test(s, "log event fields logfmt", test_log_fields_logfmt) == NULL ||
	    CU_add_test(s, "log level names", test_log_level_filter) == NULL ||
	    CU_add_test(s, "errors carry place and message", test_err) == NULL ||
	    CU_add_test(s, "bounded buffer", test_buf_limit) == NULL ||
	    CU_add_test(s, "escaped for HTML and XML", test_buf_escaped) == NULL ||
	    CU_add_test(s, "arena and disposers", test_arena) == NULL ||
	    CU_add_test(s, "base64url", test_b64url) == NULL ||
	    CU_add_test(s, "random tokens and hex", test_rand) == NULL ||
	    CU_add_test(s, "durations", test_duration) == NULL ||
	    CU_add_test(s, "time", test_time_format) == NULL ||
	    CU_add_test(s, "text helpers", test_text) == NULL ||
	    CU_add_test(s, "UTF-8", test_utf8) == NULL ||
	    CU_add_test(s, "addresses", test_addr) == NULL ||
	    CU_add_test(s, "clock in milliseconds", test_clock_ms) == NULL)
		return -1;
	return 0;
}
