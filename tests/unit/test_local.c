/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_local.c: local accounts: passwords, TOTP, recovery, tokens, limits, bootstrap. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "local/local.h"
#include "local/internal.h"
#include "unit.h"

/* ---- fixture ------------------------------------------------------------- */

static char *superusers_members[] = {(char *)"boss"};

/* A configuration with a cheap argon2 cost and small limits; groups: superusers requires MFA. */
struct fx {
	char *dir;
	struct fb_conf conf;
	struct fb_conf_group group;
	struct fb_store *st;
	struct fb_sealer *sealer;
	int logfd; /* /dev/null for the audit lines, or 0 */
};

static void
fx_open(struct fx *f)
{
	static const unsigned char key[1][32] = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}};
	struct fb_err err;

	memset(f, 0, sizeof(*f));
	f->dir = fb_test_tmpdir();
	f->conf.store_driver = FB_STORE_SQLITE;
	f->conf.state_dir = f->dir;
	f->conf.store_busy_timeout_ms = 5000;
	f->conf.public_url = (char *)"https://sso.example.com";
	f->conf.org_name = (char *)"Example Org";
	f->conf.argon2_t_cost = 1;
	f->conf.argon2_m_cost_kib = 64;
	f->conf.argon2_parallelism = 1;
	f->conf.bootstrap_enabled = 1;
	f->conf.lockout_max_failures = 3;
	f->conf.lockout_addr_max_failures = 3;
	f->conf.lockout_window = 900;
	f->conf.lockout_max_delay = 8;
	f->conf.recovery_lifetime = 1800;
	f->group.name = (char *)"superusers";
	f->group.attributes = json_pack("{s:s}", "aws_role", "Admin");
	f->group.members = superusers_members;
	f->group.nmembers = 1;
	f->group.require_mfa = 1;
	f->conf.groups = &f->group;
	f->conf.ngroups = 1;
	fb_err_clear(&err);
	if (fb_store_open(&f->conf, &f->st, &err) != FB_OK)
		fprintf(stderr, "fb_store_open: %s\n", err.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->st);
	f->sealer = fb_crypto_sealer_new(key, 1);
	fb_time_offset = 0;
	/* Audit lines are always written: keep them out of the test output unless asked. */
	if (getenv("FB_TEST_LOG") == NULL) {
		f->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		fb_log_setup(FB_LOG_LOGFMT, fb_log_min_level, f->logfd);
	}
}

static void
fx_close(struct fx *f)
{
	if (f->logfd > 0) {
		fb_log_setup(FB_LOG_LOGFMT, fb_log_min_level, 2);
		close(f->logfd);
	}
	fb_time_offset = 0;
	fb_crypto_sealer_free(f->sealer);
	fb_store_close(f->st);
	json_decref(f->group.attributes);
	fb_test_rmtree(f->dir);
	free(f->dir);
}

/* Creates an internal account with a password; asserts success. */
static void
add_user(struct fx *f, const char *name, const char *password)
{
	struct fb_err err;

	fb_err_clear(&err);
	CU_ASSERT_EQUAL_FATAL(fb_local_account_create(&f->conf, f->st, name, NULL, NULL,
				  FB_ACCOUNT_INTERNAL, password, NULL, NULL, &err),
	    FB_OK);
}

/* The user id of name. New. */
static char *
user_id(struct fx *f, const char *name)
{
	struct fb_local_account a;
	char *id;

	CU_ASSERT_EQUAL_FATAL(fb_local_account_get(f->st, name, &a, NULL), FB_OK);
	id = fb_xstrdup(a.id);
	fb_local_account_cleanup(&a);
	return id;
}

static enum fb_local_result
signin(struct fx *f, const char *user, const char *pw, const char *addr)
{
	struct fb_local_attempt a;
	enum fb_local_result res;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_local_signin(&f->conf, f->st, user, pw, addr, NULL, &a, &err), FB_OK);
	res = a.result;
	fb_local_attempt_cleanup(&a);
	return res;
}

/* ---- passwords ----------------------------------------------------------- */

static void
test_password_policy(void)
{
	char big[FB_LOCAL_PASSWORD_MAX + 2];
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_local_password_check("correct horse battery", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_password_check("short", &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "too weak"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "at least 12"));
	CU_ASSERT_EQUAL(fb_local_password_check("elevenchars", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_password_check("twelve chars", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_password_check("", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_password_check(NULL, &err), FB_ERR_INVALID);
	/* 12 characters of 2 bytes: counted as characters, not bytes. */
	CU_ASSERT_EQUAL(fb_local_password_check("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
						"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
			    &err),
	    FB_OK);
	/* 11 characters of 2 bytes (22 bytes) is still too short. */
	CU_ASSERT_EQUAL(fb_local_password_check("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
						"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
			    &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_password_check("not utf-8 \xff\xfe at all", &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "UTF-8"));
	CU_ASSERT_EQUAL(fb_local_password_check("line\nbreak in here", &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "control character"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(fb_local_password_check(big, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "longer than 1024"));
	big[FB_LOCAL_PASSWORD_MAX] = '\0';
	CU_ASSERT_EQUAL(fb_local_password_check(big, &err), FB_OK);
}

static void
test_password_hash(void)
{
	struct fx f;
	char *h1 = NULL, *h2 = NULL, *pw;
	struct fb_err err;

	fx_open(&f);
	CU_ASSERT_EQUAL(fb_local_password_hash(&f.conf, "correct horse battery", &h1, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_password_hash(&f.conf, "correct horse battery", &h2, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h2);
	CU_ASSERT_EQUAL(strncmp(h1, "$argon2id$v=19$m=64,t=1,p=1$", 28), 0);
	/* Random salt: the same password hashes differently. */
	CU_ASSERT_STRING_NOT_EQUAL(h1, h2);
	CU_ASSERT_EQUAL(fb_local_password_verify(h1, "correct horse battery", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_password_verify(h2, "correct horse battery", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_password_verify(h1, "correct horse batterx", &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(fb_local_password_verify(h1, "", &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(fb_local_password_verify("$2y$10$bcrypt", "x", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_password_verify("$argon2id$garbage", "x", &err), FB_ERR_INVALID);
	/* The cost is read from the hash: a changed configuration still verifies, and flags it. */
	CU_ASSERT_FALSE(fb_local_password_stale(&f.conf, h1));
	f.conf.argon2_t_cost = 2;
	CU_ASSERT_TRUE(fb_local_password_stale(&f.conf, h1));
	CU_ASSERT_EQUAL(fb_local_password_verify(h1, "correct horse battery", &err), FB_OK);
	pw = fb_local_password_generate();
	CU_ASSERT_EQUAL(strlen(pw), 24);
	CU_ASSERT_EQUAL(fb_local_password_check(pw, &err), FB_OK);
	fb_secret_free(pw);
	free(h1);
	free(h2);
	fx_close(&f);
}

/* ---- TOTP ----------------------------------------------------------------- */

static void
test_hotp_rfc4226(void)
{
	/* RFC 4226 Appendix D: secret "12345678901234567890", counters 0..9. */
	static const uint32_t want[] = {755224, 287082, 359152, 969429, 338314, 254676, 287922,
	    162583, 399871, 520489};
	const unsigned char *k = (const unsigned char *)"12345678901234567890";

	for (uint64_t c = 0; c < 10; c++)
		CU_ASSERT_EQUAL(fb_local_hotp(k, 20, c, 6), want[c]);
}

static void
test_totp_rfc6238(void)
{
	/* RFC 6238 Appendix B, SHA-1 rows (8 digits), seed "12345678901234567890". */
	static const struct {
		int64_t t;
		uint32_t code8;
	} v[] = {
	    {59, 94287082},
	    {1111111109, 7081804},
	    {1111111111, 14050471},
	    {1234567890, 89005924},
	    {2000000000, 69279037},
	    {20000000000LL, 65353130},
	};
	const unsigned char *k = (const unsigned char *)"12345678901234567890";
	char code[8];
	int64_t step;
	struct fb_err err;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t c = (uint64_t)fb_local_totp_step(v[i].t);

		CU_ASSERT_EQUAL(fb_local_hotp(k, 20, c, 8), v[i].code8);
		/* Six digits are the last six of the same truncation. */
		CU_ASSERT_EQUAL(fb_local_hotp(k, 20, c, 6), v[i].code8 % 1000000);
		snprintf(code, sizeof(code), "%06u", (unsigned)(v[i].code8 % 1000000));
		CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, code, v[i].t, &step, &err), FB_OK);
		CU_ASSERT_EQUAL(step, (int64_t)c);
	}
	CU_ASSERT_EQUAL(fb_local_totp_step(59), 1);
	CU_ASSERT_EQUAL(fb_local_totp_step(60), 2);
	CU_ASSERT_EQUAL(fb_local_totp_step(-1), -1);
}

static void
test_totp_drift(void)
{
	const unsigned char *k = (const unsigned char *)"12345678901234567890";
	int64_t t = 1111111111, base = fb_local_totp_step(t), step;
	char code[16];
	struct fb_err err;

	for (int d = -3; d <= 3; d++) {
		snprintf(code, sizeof(code), "%06u",
		    (unsigned)fb_local_hotp(k, 20, (uint64_t)(base + d), 6));
		if (d >= -1 && d <= 1) {
			CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, code, t, &step, &err), FB_OK);
			CU_ASSERT_EQUAL(step, base + d);
		} else {
			CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, code, t, &step, &err),
			    FB_ERR_DENIED);
		}
	}
	snprintf(code, sizeof(code), "%03u %03u",
	    (unsigned)fb_local_hotp(k, 20, (uint64_t)base, 6) / 1000,
	    (unsigned)fb_local_hotp(k, 20, (uint64_t)base, 6) % 1000);
	CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, code, t, &step, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, "12345", t, &step, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, "1234567", t, &step, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, "12a456", t, &step, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, "", t, &step, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_totp_match(k, 20, NULL, t, &step, &err), FB_ERR_INVALID);
}

static void
test_base32(void)
{
	/* RFC 4648 section 10, without padding. */
	static const char *const v[][2] = {{"", ""}, {"f", "MY"}, {"fo", "MZXQ"},
	    {"foo", "MZXW6"}, {"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"},
	    {"foobar", "MZXW6YTBOI"}};
	unsigned char *out = NULL;
	size_t n = 0;
	struct fb_err err;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = fb_local_base32_encode((const unsigned char *)v[i][0], strlen(v[i][0]));

		CU_ASSERT_STRING_EQUAL(e, v[i][1]);
		free(e);
		CU_ASSERT_EQUAL(fb_local_base32_decode(v[i][1], &out, &n, &err), FB_OK);
		CU_ASSERT_EQUAL(n, strlen(v[i][0]));
		CU_ASSERT_EQUAL(memcmp(out, v[i][0], n), 0);
		free(out);
	}
	CU_ASSERT_EQUAL(fb_local_base32_decode("mzxw 6ytb oi==", &out, &n, &err), FB_OK);
	CU_ASSERT_TRUE(n == 6 && memcmp(out, "foobar", 6) == 0);
	free(out);
	CU_ASSERT_EQUAL(fb_local_base32_decode("MZ1W", &out, &n, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "character 3"));
	CU_ASSERT_EQUAL(fb_local_base32_decode("MZX", &out, &n, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "length"));
}

static void
test_totp_uri_qr(void)
{
	struct fx f;
	const unsigned char *k = (const unsigned char *)"12345678901234567890";
	char *uri, *svg = NULL, *big;
	struct fb_err err;

	fx_open(&f);
	uri = fb_local_totp_uri(&f.conf, "ann@example.com", k, 20);
	CU_ASSERT_STRING_EQUAL(uri,
	    "otpauth://totp/Example%20Org:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	    "&issuer=Example%20Org&algorithm=SHA1&digits=6&period=30");
	CU_ASSERT_EQUAL(fb_local_qr_svg(uri, &svg, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
	CU_ASSERT_EQUAL(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(svg, "aria-label=\"QR code\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(svg, "<path fill=\"#000\" d=\"M4 4h1v1h-1z"));
	CU_ASSERT_EQUAL(strcmp(svg + strlen(svg) - 6, "</svg>"), 0);
	free(svg);
	svg = NULL;
	CU_ASSERT_EQUAL(fb_local_qr_svg("", &svg, &err), FB_ERR_INVALID);
	big = fb_xmalloc(8000);
	memset(big, 'x', 7999);
	big[7999] = '\0';
	CU_ASSERT_EQUAL(fb_local_qr_svg(big, &svg, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(svg);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "do not fit"));
	free(big);
	free(uri);
	fx_close(&f);
}

/* The current code of an enrolment's secret (grouped base32) at the test clock. */
static void
code_now(const char *grouped, int64_t delta, char out[8])
{
	unsigned char *key = NULL;
	size_t n = 0;

	CU_ASSERT_EQUAL_FATAL(fb_local_base32_decode(grouped, &key, &n, NULL), FB_OK);
	snprintf(out, 8, "%06u",
	    (unsigned)fb_local_hotp(key, n, (uint64_t)fb_local_totp_step(fb_time_now() + delta),
		6));
	free(key);
}

static enum fb_local_result
totp_signin(struct fx *f, const char *uid, const char *code)
{
	struct fb_local_attempt a;
	enum fb_local_result res;
	struct fb_err err;

	CU_ASSERT_EQUAL(
	    fb_local_totp_signin(&f->conf, f->st, f->sealer, uid, code, "192.0.2.1", NULL, &a, &err),
	    FB_OK);
	res = a.result;
	fb_local_attempt_cleanup(&a);
	return res;
}

static void
test_totp_enrol_signin(void)
{
	struct fx f;
	struct fb_local_totp_enrolment e;
	struct fb_local_account a;
	char *uid, *other, code[8], wrong[8], *tampered;
	struct fb_err err;

	fx_open(&f);
	f.conf.lockout_max_failures = 50;
	f.conf.lockout_addr_max_failures = 50; /* the limits have their own test */
	add_user(&f, "ann", "correct horse battery");
	add_user(&f, "bob", "correct horse battery");
	uid = user_id(&f, "ann");
	other = user_id(&f, "bob");
	/* Align the clock to the start of a step so that +30 s is exactly the next one. */
	fb_time_offset = 30 - fb_time_now() % 30;

	CU_ASSERT_EQUAL_FATAL(
	    fb_local_totp_enrol_begin(&f.conf, f.sealer, uid, "ann", &e, &err), FB_OK);
	CU_ASSERT_EQUAL(strlen(e.secret), 32 + 7); /* 32 base32 characters in groups of 4 */
	CU_ASSERT_EQUAL(strncmp(e.uri, "otpauth://totp/Example%20Org:ann?secret=", 40), 0);
	CU_ASSERT_EQUAL(strncmp(e.qr_svg, "<svg", 4), 0);
	CU_ASSERT_PTR_NOT_NULL(e.pending);
	code_now(e.secret, 0, code);
	snprintf(wrong, sizeof(wrong), "%06ld", (strtol(code, NULL, 10) + 1) % 1000000);
	/* Nothing is stored before a right code. */
	CU_ASSERT_EQUAL(fb_local_totp_enrol_finish(&f.conf, f.st, f.sealer, uid, e.pending, wrong,
			    NULL, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a, NULL), FB_OK);
	CU_ASSERT_FALSE(a.totp_enabled);
	fb_local_account_cleanup(&a);
	CU_ASSERT_EQUAL(fb_local_totp_enrol_finish(&f.conf, f.st, f.sealer, uid, e.pending, "12",
			    NULL, &err),
	    FB_ERR_INVALID);
	/* A pending token is bound to its user. */
	CU_ASSERT_EQUAL(fb_local_totp_enrol_finish(&f.conf, f.st, f.sealer, other, e.pending, code,
			    NULL, &err),
	    FB_ERR_SIGNATURE);
	tampered = fb_xstrdup(e.pending);
	tampered[strlen(tampered) - 3] = tampered[strlen(tampered) - 3] == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(fb_local_totp_enrol_finish(&f.conf, f.st, f.sealer, uid, tampered, code,
			    NULL, &err),
	    FB_ERR_SIGNATURE);
	free(tampered);
	CU_ASSERT_EQUAL(fb_local_totp_enrol_finish(&f.conf, f.st, f.sealer, uid, e.pending, code,
			    NULL, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a, NULL), FB_OK);
	CU_ASSERT_TRUE(a.totp_enabled);
	fb_local_account_cleanup(&a);

	/* The enrolment code's step is used: the same code does not sign in. */
	CU_ASSERT_EQUAL(totp_signin(&f, uid, code), FB_LOCAL_REPLAYED);
	/* The next step's code works once. */
	fb_time_offset += 30;
	code_now(e.secret, 0, code);
	CU_ASSERT_EQUAL(totp_signin(&f, uid, wrong), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(totp_signin(&f, uid, code), FB_LOCAL_ACCEPTED);
	CU_ASSERT_EQUAL(totp_signin(&f, uid, code), FB_LOCAL_REPLAYED);
	/* A code of an earlier step (within drift) is refused once a later one was used. */
	code_now(e.secret, -30, code);
	CU_ASSERT_EQUAL(totp_signin(&f, uid, code), FB_LOCAL_REPLAYED);
	/* Drift: the code of the next step is accepted now. */
	fb_time_offset += 600; /* clear the limits' locks from the failures above */
	code_now(e.secret, 30, code);
	CU_ASSERT_EQUAL(totp_signin(&f, uid, code), FB_LOCAL_ACCEPTED);
	/* A user without TOTP, and an unknown user, are rejected. */
	CU_ASSERT_EQUAL(totp_signin(&f, other, code), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(totp_signin(&f, "nosuchid", code), FB_LOCAL_REJECTED);
	/* An expired pending token. */
	fb_local_totp_enrolment_cleanup(&e);
	CU_ASSERT_EQUAL_FATAL(
	    fb_local_totp_enrol_begin(&f.conf, f.sealer, other, "bob", &e, &err), FB_OK);
	fb_time_offset += FB_LOCAL_TOTP_ENROL_LIFETIME + 1;
	code_now(e.secret, 0, code);
	CU_ASSERT_EQUAL(fb_local_totp_enrol_finish(&f.conf, f.st, f.sealer, other, e.pending, code,
			    NULL, &err),
	    FB_ERR_EXPIRED);
	fb_local_totp_enrolment_cleanup(&e);

	/* Reset: TOTP gone. */
	CU_ASSERT_EQUAL(fb_local_mfa_reset(f.st, "ann", NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a, NULL), FB_OK);
	CU_ASSERT_FALSE(a.totp_enabled);
	fb_local_account_cleanup(&a);
	CU_ASSERT_EQUAL(fb_local_mfa_reset(f.st, "nobody", NULL, &err), FB_ERR_NOTFOUND);
	free(uid);
	free(other);
	fx_close(&f);
}

/* A secret sealed with a key that is no longer configured cannot be opened: a clear error. */
static void
test_totp_unknown_key(void)
{
	static const unsigned char key2[1][32] = {{9, 9, 9}};
	struct fx f;
	struct fb_local_totp_enrolment e;
	struct fb_local_attempt at;
	struct fb_sealer *s2 = fb_crypto_sealer_new(key2, 1);
	char *uid, code[8];
	struct fb_err err;

	fx_open(&f);
	add_user(&f, "ann", "correct horse battery");
	uid = user_id(&f, "ann");
	CU_ASSERT_EQUAL_FATAL(fb_local_totp_enrol_begin(&f.conf, f.sealer, uid, "ann", &e, &err),
	    FB_OK);
	code_now(e.secret, 0, code);
	CU_ASSERT_EQUAL(fb_local_totp_enrol_finish(&f.conf, f.st, f.sealer, uid, e.pending, code,
			    NULL, &err),
	    FB_OK);
	CU_ASSERT_NOT_EQUAL(
	    fb_local_totp_signin(&f.conf, f.st, s2, uid, code, NULL, NULL, &at, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "reset the user's MFA"));
	fb_local_attempt_cleanup(&at);
	fb_local_totp_enrolment_cleanup(&e);
	fb_crypto_sealer_free(s2);
	free(uid);
	fx_close(&f);
}

/* ---- accounts and sign-in --------------------------------------------------- */

static int
count_account(const struct fb_local_account *a, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_accounts(void)
{
	struct fx f;
	struct fb_local_account a;
	struct fb_store_user jit;
	struct fb_err err;
	int n = 0;

	fx_open(&f);
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "ann", "Ann Smith",
			    "ann@example.com", FB_ACCOUNT_INTERNAL, "correct horse battery", NULL,
			    &a, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(a.username, "ann");
	CU_ASSERT_STRING_EQUAL(a.name, "Ann Smith");
	CU_ASSERT_TRUE(a.active && a.has_password && !a.totp_enabled);
	CU_ASSERT_EQUAL(a.type, FB_ACCOUNT_INTERNAL);
	fb_local_account_cleanup(&a);
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "ann", NULL, NULL,
			    FB_ACCOUNT_INTERNAL, NULL, NULL, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "user ann already exists");
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "-bad", NULL, NULL,
			    FB_ACCOUNT_INTERNAL, NULL, NULL, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "must start with a letter or digit"));
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "a b", NULL, NULL,
			    FB_ACCOUNT_INTERNAL, NULL, NULL, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "weak", NULL, NULL,
			    FB_ACCOUNT_INTERNAL, "short", NULL, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "too weak"));
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "weak", &a, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "mail", NULL, "not-an-address",
			    FB_ACCOUNT_INTERNAL, NULL, NULL, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "email"));
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "ci-bot", NULL, NULL,
			    FB_ACCOUNT_SERVICE, NULL, NULL, &a, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(a.type, FB_ACCOUNT_SERVICE);
	CU_ASSERT_FALSE(a.has_password);
	fb_local_account_cleanup(&a);
	/* A user seen from an upstream is not a local account, and blocks the name. */
	memset(&jit, 0, sizeof(jit));
	jit.username = (char *)"carol";
	jit.source = (char *)"google";
	jit.active = 1;
	CU_ASSERT_EQUAL(fb_store_user_upsert(f.st, &jit, &err), FB_OK);
	free(jit.id);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "carol", &a, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a local account"));
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "carol", NULL, NULL,
			    FB_ACCOUNT_INTERNAL, NULL, NULL, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_account_list(f.st, count_account, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 2);
	/* Disable, enable, delete. */
	CU_ASSERT_EQUAL(fb_local_account_set_active(f.st, "ann", 0, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a, &err), FB_OK);
	CU_ASSERT_FALSE(a.active);
	CU_ASSERT_STRING_EQUAL(a.email, "ann@example.com"); /* nothing else changed */
	fb_local_account_cleanup(&a);
	CU_ASSERT_EQUAL(fb_local_account_set_active(f.st, "ann", 1, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_set_active(f.st, "carol", 0, NULL, &err), FB_ERR_NOTFOUND);
	/* Edit: name and email change, bad input stores nothing, "" removes, NULL keeps. */
	CU_ASSERT_EQUAL(fb_local_account_edit(f.st, "ann", "Ann B", "ann@b.example", NULL, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_edit(f.st, "ann", "x\ny", NULL, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "name"));
	CU_ASSERT_EQUAL(fb_local_account_edit(f.st, "ann", "Other", "no-at-sign", NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "email"));
	CU_ASSERT_EQUAL(fb_local_account_edit(f.st, "carol", "C", NULL, NULL, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(a.name, "Ann B");
	CU_ASSERT_STRING_EQUAL(a.email, "ann@b.example");
	CU_ASSERT_TRUE(a.has_password); /* the rest is kept */
	fb_local_account_cleanup(&a);
	CU_ASSERT_EQUAL(fb_local_account_edit(f.st, "ann", NULL, "", NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(a.name, "Ann B");
	CU_ASSERT_PTR_NULL(a.email);
	fb_local_account_cleanup(&a);
	CU_ASSERT_EQUAL(fb_local_account_delete(f.st, "ann", NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_local_account_delete(f.st, "ann", NULL, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_local_password_set(&f.conf, f.st, "ann", "correct horse battery", NULL,
			    &err),
	    FB_ERR_NOTFOUND);
	fx_close(&f);
}

/* Runs the three steps of a password change; *gen gets the new generation. */
static enum fb_status
pwchange(struct fx *f, const char *user, const char *current, const char *next, int64_t *gen)
{
	struct fb_local_pwchange c;
	struct fb_err err;
	enum fb_status r;

	*gen = -1;
	r = fb_local_password_change_begin(&f->conf, f->st, user, current, next, "192.0.2.9",
	    "req-pw", &c, &err);
	if (r == FB_OK) {
		fb_local_password_change_work(&c);
		r = fb_local_password_change_end(f->st, &c, gen, &err);
	}
	fb_local_password_change_cleanup(&c);
	return r;
}

/* A person changing their own password: the current one must be right; sessions end. */
static void
test_password_change(void)
{
	struct fx f;
	struct fb_local_attempt a;
	struct fb_local_account acc;
	struct fb_err err;
	int64_t gen, gen0;

	fx_open(&f);
	add_user(&f, "ann", "correct horse battery");
	CU_ASSERT_EQUAL_FATAL(fb_local_account_get(f.st, "ann", &acc, &err), FB_OK);
	gen0 = acc.session_gen;
	fb_local_account_cleanup(&acc);
	/* Weak new password, missing current one: refused before anything is read. */
	CU_ASSERT_EQUAL(pwchange(&f, "ann", "correct horse battery", "short", &gen),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(pwchange(&f, "ann", NULL, "a long new passphrase", &gen), FB_ERR_INVALID);
	/* Wrong current password: denied, counted, nothing changed. */
	CU_ASSERT_EQUAL(pwchange(&f, "ann", "wrong horse battery", "a long new passphrase", &gen),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(gen, -1);
	CU_ASSERT_EQUAL(fb_local_signin(&f.conf, f.st, "ann", "correct horse battery", NULL, NULL,
			    &a, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(a.result, FB_LOCAL_ACCEPTED);
	fb_local_attempt_cleanup(&a);
	/* No such account. */
	CU_ASSERT_EQUAL(pwchange(&f, "nobody", "x", "a long new passphrase", &gen), FB_ERR_NOTFOUND);
	/* Right: the new one works, the old one not, the generation moved. */
	CU_ASSERT_EQUAL(pwchange(&f, "ann", "correct horse battery", "a long new passphrase", &gen),
	    FB_OK);
	CU_ASSERT(gen > gen0);
	CU_ASSERT_EQUAL(fb_local_signin(&f.conf, f.st, "ann", "a long new passphrase", NULL, NULL,
			    &a, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(a.result, FB_LOCAL_ACCEPTED);
	CU_ASSERT_EQUAL(a.account.session_gen, gen);
	fb_local_attempt_cleanup(&a);
	CU_ASSERT_EQUAL(fb_local_signin(&f.conf, f.st, "ann", "correct horse battery", NULL, NULL,
			    &a, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(a.result, FB_LOCAL_REJECTED);
	fb_local_attempt_cleanup(&a);
	/* Wrong current passwords lock the account like failed sign-ins (max_failures 3). */
	for (int i = 0; i < 3; i++)
		pwchange(&f, "ann", "wrong horse battery", "another long passphrase", &gen);
	CU_ASSERT_EQUAL(pwchange(&f, "ann", "a long new passphrase", "another long passphrase",
			    &gen),
	    FB_ERR_LIMIT);
	fx_close(&f);
}

static void
test_signin(void)
{
	struct fx f;
	struct fb_local_attempt a;
	struct fb_err err;
	char big[2000];

	fx_open(&f);
	add_user(&f, "ann", "correct horse battery");
	add_user(&f, "boss", "correct horse battery");
	CU_ASSERT_EQUAL(fb_local_signin(&f.conf, f.st, "ann", "correct horse battery", NULL, NULL,
			    &a, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(a.result, FB_LOCAL_ACCEPTED);
	CU_ASSERT_STRING_EQUAL(a.account.username, "ann");
	CU_ASSERT_FALSE(a.mfa_needed);
	CU_ASSERT_EQUAL(fb_local_login_finish(&f.conf, f.st, a.account.id, NULL, NULL, &err), FB_OK);
	fb_local_attempt_cleanup(&a);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a.account, &err), FB_OK);
	CU_ASSERT_TRUE(a.account.last_login > 0);
	fb_local_account_cleanup(&a.account);
	/* A member of a require_mfa group must go through a second factor. */
	CU_ASSERT_EQUAL(fb_local_signin(&f.conf, f.st, "boss", "correct horse battery", NULL, NULL,
			    &a, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(a.result, FB_LOCAL_ACCEPTED);
	CU_ASSERT_TRUE(a.mfa_needed);
	fb_local_attempt_cleanup(&a);

	CU_ASSERT_EQUAL(signin(&f, "ann", "correct horse batterY", NULL), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(signin(&f, "nobody", "correct horse battery", NULL), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(signin(&f, "ann", "", NULL), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(signin(&f, "ann", "bad \xff utf-8 password", NULL), FB_LOCAL_REJECTED);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(signin(&f, "ann", big, NULL), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(signin(&f, big, "correct horse battery", NULL), FB_LOCAL_REJECTED);
	/* Service accounts do not sign in with a password, even one that was set. */
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "bot", NULL, NULL,
			    FB_ACCOUNT_SERVICE, "correct horse battery", NULL, NULL, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(signin(&f, "bot", "correct horse battery", NULL), FB_LOCAL_REJECTED);
	/* The failures above locked ann for a moment: wait it out. */
	fb_time_offset += 3600;
	/* Disabled: only said after the right password. */
	CU_ASSERT_EQUAL(fb_local_account_set_active(f.st, "boss", 0, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(signin(&f, "boss", "correct horse battery", NULL), FB_LOCAL_DISABLED);
	CU_ASSERT_EQUAL(signin(&f, "boss", "wrong horse battery", NULL), FB_LOCAL_REJECTED);
	/* A password change takes effect. */
	CU_ASSERT_EQUAL(fb_local_password_set(&f.conf, f.st, "ann", "short", NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_password_set(&f.conf, f.st, "ann", "a new long passphrase", NULL,
			    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(signin(&f, "ann", "correct horse battery", NULL), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(signin(&f, "ann", "a new long passphrase", NULL), FB_LOCAL_ACCEPTED);
	fx_close(&f);
}

/*
 * CPU time of the whole process, in microseconds: the work a sign-in does,
 * which other processes on a loaded machine cannot stretch as they stretch
 * wall-clock time (the fastest of six wall-clock tries still failed under load).
 */
static int64_t
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* An unknown user costs as much work as a wrong password (the dummy hash). */
static void
test_signin_timing(void)
{
	struct fx f;
	int64_t t0, d, wrong = INT64_MAX, unknown = INT64_MAX;

	fx_open(&f);
	f.conf.argon2_m_cost_kib = 8192; /* enough work to dominate the store's own time */
	f.conf.lockout_max_failures = 100;
	f.conf.lockout_addr_max_failures = 100;
	add_user(&f, "ann", "correct horse battery");
	(void)signin(&f, "warmup", "correct horse battery", NULL); /* builds the dummy hash */
	/* The cheapest of several tries of each. */
	for (int i = 0; i < 6; i++) {
		t0 = cpu_us();
		CU_ASSERT_EQUAL(signin(&f, "ann", "wrong horse battery", NULL), FB_LOCAL_REJECTED);
		d = cpu_us() - t0;
		wrong = d < wrong ? d : wrong;
		t0 = cpu_us();
		CU_ASSERT_EQUAL(signin(&f, "nobody", "wrong horse battery", NULL),
		    FB_LOCAL_REJECTED);
		d = cpu_us() - t0;
		unknown = d < unknown ? d : unknown;
	}
	/* Same work: within a factor of two either way (a missing dummy would be ~10x faster). */
	CU_ASSERT_TRUE(unknown * 2 > wrong);
	CU_ASSERT_TRUE(wrong * 2 > unknown);
	fx_close(&f);
}

/* ---- recovery codes --------------------------------------------------------- */

static enum fb_local_result
code_signin(struct fx *f, const char *uid, const char *code)
{
	struct fb_local_attempt a;
	enum fb_local_result res;
	struct fb_err err;

	CU_ASSERT_EQUAL(
	    fb_local_recovery_signin(&f->conf, f->st, uid, code, "192.0.2.7", NULL, &a, &err), FB_OK);
	res = a.result;
	if (res == FB_LOCAL_ACCEPTED)
		CU_ASSERT_STRING_EQUAL(a.account.id, uid);
	fb_local_attempt_cleanup(&a);
	return res;
}

static void
test_recovery_codes(void)
{
	struct fx f;
	struct fb_local_account a;
	char **codes = NULL, **again = NULL, *uid, upper[32];
	struct fb_err err;
	size_t i;

	fx_open(&f);
	f.conf.lockout_max_failures = 50;
	f.conf.lockout_addr_max_failures = 50;
	add_user(&f, "ann", "correct horse battery");
	uid = user_id(&f, "ann");
	CU_ASSERT_EQUAL_FATAL(fb_local_recovery_codes_new(f.st, uid, NULL, &codes, &err), FB_OK);
	for (i = 0; codes[i] != NULL; i++) {
		CU_ASSERT_EQUAL(strlen(codes[i]), FB_LOCAL_RECOVERY_CODE_LEN);
		CU_ASSERT_TRUE(codes[i][4] == '-' && codes[i][9] == '-');
		CU_ASSERT_EQUAL(strspn(codes[i], "abcdefghijklmnopqrstuvwxyz234567-"), 14);
	}
	CU_ASSERT_EQUAL(i, FB_LOCAL_RECOVERY_CODES);
	CU_ASSERT_STRING_NOT_EQUAL(codes[0], codes[1]);
	/* Single use. */
	CU_ASSERT_EQUAL(code_signin(&f, uid, codes[0]), FB_LOCAL_ACCEPTED);
	CU_ASSERT_EQUAL(code_signin(&f, uid, codes[0]), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "ann", &a, NULL), FB_OK);
	CU_ASSERT_EQUAL(a.recovery_codes_left, FB_LOCAL_RECOVERY_CODES - 1);
	fb_local_account_cleanup(&a);
	/* Case, dashes and spaces do not matter. */
	for (i = 0; codes[1][i] != '\0'; i++)
		upper[i] = codes[1][i] == '-' ? ' ' : (char)(codes[1][i] >= 'a' && codes[1][i] <= 'z'
								 ? codes[1][i] - 32
								 : codes[1][i]);
	upper[i] = '\0';
	CU_ASSERT_EQUAL(code_signin(&f, uid, upper), FB_LOCAL_ACCEPTED);
	CU_ASSERT_EQUAL(code_signin(&f, uid, "aaaa-aaaa-aaaa"), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(code_signin(&f, uid, "not a code"), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(code_signin(&f, uid, NULL), FB_LOCAL_REJECTED);
	/* Another user's code does not work for ann. */
	add_user(&f, "bob", "correct horse battery");
	{
		char *bid = user_id(&f, "bob"), **bc = NULL;

		CU_ASSERT_EQUAL(fb_local_recovery_codes_new(f.st, bid, NULL, &bc, &err), FB_OK);
		CU_ASSERT_EQUAL(code_signin(&f, uid, bc[0]), FB_LOCAL_REJECTED);
		CU_ASSERT_EQUAL(code_signin(&f, bid, bc[0]), FB_LOCAL_ACCEPTED);
		fb_local_codes_free(bc);
		free(bid);
	}
	/* Regenerating replaces all: old codes stop working. */
	CU_ASSERT_EQUAL(fb_local_recovery_codes_new(f.st, uid, NULL, &again, &err), FB_OK);
	CU_ASSERT_EQUAL(code_signin(&f, uid, codes[2]), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(code_signin(&f, uid, again[2]), FB_LOCAL_ACCEPTED);
	/* A disabled account's codes do not work. */
	CU_ASSERT_EQUAL(fb_local_account_set_active(f.st, "ann", 0, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(code_signin(&f, uid, again[3]), FB_LOCAL_DISABLED);
	fb_local_codes_free(again);
	CU_ASSERT_EQUAL(fb_local_recovery_codes_new(f.st, "nosuchid", NULL, &again, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(again);
	fb_local_codes_free(codes);
	free(uid);
	fx_close(&f);
}

/* ---- recovery links ---------------------------------------------------------- */

static void
test_recovery_links(void)
{
	struct fx f;
	char *url = NULL, *user = NULL, *token;
	struct fb_err err;

	fx_open(&f);
	add_user(&f, "ann", "correct horse battery");
	CU_ASSERT_EQUAL_FATAL(fb_local_recovery_link_new(&f.conf, f.st, "ann", NULL, &url, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(strncmp(url, "https://sso.example.com/recover?token=", 38), 0);
	token = url + 38;
	CU_ASSERT_EQUAL(strlen(token), 43);
	/* GET: looking does not use it up, however often. */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(fb_local_recovery_link_check(f.st, token, &user, &err), FB_OK);
		CU_ASSERT_STRING_EQUAL(user, "ann");
		free(user);
	}
	/* A weak password is refused and leaves the link usable. */
	CU_ASSERT_EQUAL(fb_local_recovery_link_consume(&f.conf, f.st, token, "short", NULL, &user,
			    &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "too weak"));
	CU_ASSERT_EQUAL(fb_local_recovery_link_check(f.st, token, NULL, &err), FB_OK);
	/* POST: once. */
	CU_ASSERT_EQUAL(fb_local_recovery_link_consume(&f.conf, f.st, token,
			    "brand new passphrase", NULL, &user, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(user, "ann");
	free(user);
	CU_ASSERT_EQUAL(signin(&f, "ann", "brand new passphrase", NULL), FB_LOCAL_ACCEPTED);
	CU_ASSERT_EQUAL(fb_local_recovery_link_consume(&f.conf, f.st, token,
			    "another new passphrase", NULL, &user, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "already used or expired"));
	CU_ASSERT_EQUAL(fb_local_recovery_link_check(f.st, token, &user, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(signin(&f, "ann", "brand new passphrase", NULL), FB_LOCAL_ACCEPTED);
	fb_secret_free(url);

	/* Expiry. */
	CU_ASSERT_EQUAL_FATAL(fb_local_recovery_link_new(&f.conf, f.st, "ann", NULL, &url, &err),
	    FB_OK);
	token = url + 38;
	fb_time_offset = f.conf.recovery_lifetime - 5;
	CU_ASSERT_EQUAL(fb_local_recovery_link_check(f.st, token, NULL, &err), FB_OK);
	fb_time_offset = f.conf.recovery_lifetime + 1;
	CU_ASSERT_EQUAL(fb_local_recovery_link_check(f.st, token, NULL, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_local_recovery_link_consume(&f.conf, f.st, token,
			    "brand new passphrase", NULL, NULL, &err),
	    FB_ERR_NOTFOUND);
	fb_time_offset = 0;
	fb_secret_free(url);

	/* Malformed tokens, unknown users, disabled accounts, service accounts. */
	CU_ASSERT_EQUAL(fb_local_recovery_link_check(f.st, "a'b", NULL, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_recovery_link_check(f.st, "", NULL, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_recovery_link_check(f.st, "unknownbutwellformed", NULL, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_local_recovery_link_new(&f.conf, f.st, "nobody", NULL, &url, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL_FATAL(fb_local_recovery_link_new(&f.conf, f.st, "ann", NULL, &url, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_set_active(f.st, "ann", 0, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_recovery_link_consume(&f.conf, f.st, url + 38,
			    "brand new passphrase", NULL, NULL, &err),
	    FB_ERR_DENIED);
	fb_secret_free(url);
	CU_ASSERT_EQUAL(fb_local_recovery_link_new(&f.conf, f.st, "ann", NULL, &url, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "disabled"));
	CU_ASSERT_EQUAL(fb_local_account_create(&f.conf, f.st, "bot", NULL, NULL,
			    FB_ACCOUNT_SERVICE, NULL, NULL, NULL, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_local_recovery_link_new(&f.conf, f.st, "bot", NULL, &url, &err),
	    FB_ERR_DENIED);
	/* Mail without SMTP configured is a clear configuration error. */
	CU_ASSERT_EQUAL(fb_local_recovery_link_mail(&f.conf, f.st, "ann", NULL, NULL, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "smtp.host"));
	fx_close(&f);
}

/* ---- API tokens ------------------------------------------------------------- */

static int
count_token(const struct fb_store_token *t, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_tokens(void)
{
	struct fx f;
	struct fb_store_token t;
	char *secret = NULL, *id = NULL, *wrong, *s2 = NULL, *id2 = NULL;
	struct fb_err err;
	int n = 0;

	fx_open(&f);
	add_user(&f, "ann", "correct horse battery");
	CU_ASSERT_EQUAL_FATAL(fb_local_token_create(f.st, "ann", "deploy", 0, NULL, &secret, &id,
				  &err),
	    FB_OK);
	CU_ASSERT_EQUAL(strlen(id), 16);
	CU_ASSERT_EQUAL(strncmp(secret, "fbt_", 4), 0);
	CU_ASSERT_EQUAL(strncmp(secret + 4, id, 16), 0);
	CU_ASSERT_EQUAL(secret[20], '_');
	CU_ASSERT_EQUAL(strlen(secret), 4 + 16 + 1 + 43);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, secret, &t, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(t.username, "ann");
	CU_ASSERT_STRING_EQUAL(t.description, "deploy");
	/* Only the hash is stored. */
	CU_ASSERT_PTR_NULL(strstr(t.secret_hash, secret + 21));
	CU_ASSERT_EQUAL(strlen(t.secret_hash), 64);
	fb_store_token_cleanup(&t);
	wrong = fb_xstrdup(secret);
	wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, wrong, NULL, &err), FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "wrong secret"));
	CU_ASSERT_PTR_NULL(strstr(err.msg, wrong + 21));
	free(wrong);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, "fbt_0000000000000000_nope", NULL, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, "", NULL, &err), FB_ERR_INVALID);
	/* Expiry. */
	CU_ASSERT_EQUAL(fb_local_token_create(f.st, "ann", NULL, fb_time_now() + 60, NULL, &s2,
			    &id2, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, s2, NULL, &err), FB_OK);
	fb_time_offset = 61;
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, s2, NULL, &err), FB_ERR_EXPIRED);
	fb_time_offset = 0;
	CU_ASSERT_EQUAL(fb_local_token_create(f.st, "ann", NULL, fb_time_now() - 1, NULL, &wrong,
			    NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_local_token_create(f.st, "nobody", NULL, 0, NULL, &wrong, NULL, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_token_list(f.st, NULL, count_token, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 2);
	/* Disabled owner. */
	CU_ASSERT_EQUAL(fb_local_account_set_active(f.st, "ann", 0, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, secret, NULL, &err), FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "disabled"));
	CU_ASSERT_EQUAL(fb_local_token_create(f.st, "ann", NULL, 0, NULL, &wrong, NULL, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(fb_local_account_set_active(f.st, "ann", 1, NULL, &err), FB_OK);
	/* Revocation. */
	CU_ASSERT_EQUAL(fb_local_token_revoke(f.st, id, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, secret, NULL, &err), FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "revoked"));
	CU_ASSERT_EQUAL(fb_local_token_revoke(f.st, id, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_token_revoke(f.st, "ffffffffffffffff", NULL, &err),
	    FB_ERR_NOTFOUND);
	/* An imported secret of any form. */
	CU_ASSERT_EQUAL(fb_local_token_import(f.st, "ann", "my-configured-bootstrap-token",
			    "bootstrap", 0, NULL, &wrong, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(strlen(wrong), 16);
	free(wrong);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, "my-configured-bootstrap-token", NULL, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, "my-configured-bootstrap-tokem", NULL, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(fb_local_token_import(f.st, "ann", "short", NULL, 0, NULL, NULL, &err),
	    FB_ERR_INVALID);
	/* Deleting the user deletes its tokens. */
	CU_ASSERT_EQUAL(fb_local_account_delete(f.st, "ann", NULL, &err), FB_OK);
	n = 0;
	CU_ASSERT_EQUAL(fb_store_token_list(f.st, NULL, count_token, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, s2, NULL, &err), FB_ERR_DENIED);
	fb_secret_free(secret);
	fb_secret_free(s2);
	free(id);
	free(id2);
	fx_close(&f);
}

/* ---- brute-force limits ------------------------------------------------------ */

/*
 * The test clock: the lockout tests read time from here, so a second
 * boundary crossed while the machine is busy changes nothing.
 */
static int64_t clock_ms;

static int64_t
test_clock(void)
{
	return clock_ms;
}

/* Stops the clock at .989 s of the current second. */
static void
clock_stop(void)
{
	clock_ms = fb_time_now_ms() / 1000 * 1000 + 989;
	fb_time_clock_ms = test_clock;
}

static void
test_lockout(void)
{
	struct fx f;
	struct fb_local_attempt a;
	int64_t retry = 0;
	struct fb_err err;
	/* max_failures 3, max_delay 8: delays 1, 2, 4, 8, 8 after failures 3, 4, 5, 6, 7. */
	static const int64_t want[] = {0, 0, 1, 2, 4, 8, 8};

	clock_stop();
	fx_open(&f);
	add_user(&f, "ann", "correct horse battery");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(fb_local_signin(&f.conf, f.st, "ann", "wrong horse battery", NULL,
				    NULL, &a, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(a.result, FB_LOCAL_REJECTED);
		CU_ASSERT_EQUAL(a.retry_after, want[i]);
		fb_local_attempt_cleanup(&a);
		if (want[i] != 0) {
			/* Locked: even the right password is refused, with the time left. */
			CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry,
					    &err),
			    FB_ERR_LIMIT);
			CU_ASSERT_EQUAL(retry, want[i]);
			CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "account ann is locked"));
			CU_ASSERT_EQUAL(fb_local_signin(&f.conf, f.st, "ann",
					    "correct horse battery", NULL, NULL, &a, &err),
			    FB_OK);
			CU_ASSERT_EQUAL(a.result, FB_LOCAL_LOCKED);
			CU_ASSERT_EQUAL(a.retry_after, want[i]);
			fb_local_attempt_cleanup(&a);
			fb_time_offset += want[i];
		}
	}
	/* Success (every factor passed) resets the count: the next failure does not lock. */
	CU_ASSERT_EQUAL(fb_local_signin(&f.conf, f.st, "ann", "correct horse battery", NULL, NULL,
			    &a, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(a.result, FB_LOCAL_ACCEPTED);
	CU_ASSERT_EQUAL(fb_local_login_finish(&f.conf, f.st, a.account.id, NULL, NULL, &err), FB_OK);
	fb_local_attempt_cleanup(&a);
	CU_ASSERT_EQUAL(signin(&f, "ann", "wrong horse battery", NULL), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry, &err), FB_OK);
	/* The window: failures are forgotten after a quiet window. */
	CU_ASSERT_EQUAL(signin(&f, "ann", "wrong horse battery", NULL), FB_LOCAL_REJECTED);
	fb_time_offset += f.conf.lockout_window + 1;
	CU_ASSERT_EQUAL(signin(&f, "ann", "wrong horse battery", NULL), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry, &err), FB_OK);

	/* Per address: different (unknown) usernames from one address lock the address. */
	CU_ASSERT_EQUAL(signin(&f, "x1", "wrong horse battery", "198.51.100.9"), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(signin(&f, "x2", "wrong horse battery", "198.51.100.9"), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(signin(&f, "x3", "wrong horse battery", "198.51.100.9"), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "x4", "198.51.100.9", &retry, &err),
	    FB_ERR_LIMIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "address 198.51.100.9 is locked"));
	CU_ASSERT_EQUAL(signin(&f, "ann", "correct horse battery", "198.51.100.9"), FB_LOCAL_LOCKED);
	/* Another address is not affected. */
	CU_ASSERT_EQUAL(signin(&f, "ann", "correct horse battery", "198.51.100.10"),
	    FB_LOCAL_ACCEPTED);
	fx_close(&f);
	fb_time_clock_ms = NULL;
}

/*
 * A lock lasts what it announced, to the millisecond: one of 1 s set at
 * .989 s still holds 11 ms later (in the next second) and until 1.989 s;
 * Retry-After rounds up, never announcing less than is left.
 */
static void
test_lockout_ms(void)
{
	struct fx f;
	int64_t retry = 0;
	struct fb_err err;

	clock_stop();
	fx_open(&f);
	add_user(&f, "ann", "correct horse battery");
	f.conf.lockout_max_failures = 1;
	CU_ASSERT_EQUAL(signin(&f, "ann", "wrong horse battery", NULL), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry, &err),
	    FB_ERR_LIMIT);
	CU_ASSERT_EQUAL(retry, 1);
	clock_ms += 11;
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry, &err),
	    FB_ERR_LIMIT);
	CU_ASSERT_EQUAL(retry, 1);
	clock_ms += 500;
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry, &err),
	    FB_ERR_LIMIT);
	CU_ASSERT_EQUAL(retry, 1); /* 489 ms left: announced as 1 s, not 0 */
	clock_ms += 488;
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry, &err),
	    FB_ERR_LIMIT);
	CU_ASSERT_EQUAL(retry, 1);
	CU_ASSERT_EQUAL(signin(&f, "ann", "correct horse battery", NULL), FB_LOCAL_LOCKED);
	clock_ms += 1; /* exactly 1 s after the failure */
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, "ann", NULL, &retry, &err), FB_OK);
	CU_ASSERT_EQUAL(retry, 0);
	CU_ASSERT_EQUAL(signin(&f, "ann", "correct horse battery", NULL), FB_LOCAL_ACCEPTED);
	fx_close(&f);
	fb_time_clock_ms = NULL;
}

/* local.lockout.initial_delay: the first delay, doubling up to max_delay. */
static void
test_lockout_initial_delay(void)
{
	struct fb_conf c;

	memset(&c, 0, sizeof(c));
	c.lockout_max_failures = 3;
	c.lockout_addr_max_failures = 3;
	c.lockout_max_delay = 900;
	c.lockout_initial_delay = 60;
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "u", 2), 0);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "u", 3), 60);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "u", 4), 120);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "u", 5), 240);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "a", 7), 900);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "a", 1000000), 900);
	/* An initial delay above the cap is the cap. */
	c.lockout_initial_delay = 1000;
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "u", 3), 900);
	/* Unset (0) is 1 s. */
	c.lockout_initial_delay = 0;
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "u", 3), 1);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&c, "u", 4), 2);
}

/* The address threshold is its own: an address may fail more often than one account. */
static void
test_lockout_per_address(void)
{
	struct fx f;
	int64_t retry = 0;
	struct fb_err err;
	char name[16];

	clock_stop();
	fx_open(&f);
	f.conf.lockout_addr_max_failures = 6;
	/* The delays themselves: account from its 3rd failure, address from its 6th. */
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&f.conf, "u", 2), 0);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&f.conf, "u", 3), 1);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&f.conf, "a", 5), 0);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&f.conf, "a", 6), 1);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&f.conf, "a", 7), 2);
	CU_ASSERT_EQUAL(fb_local_lockout_delay(&f.conf, "a", 60), f.conf.lockout_max_delay);
	add_user(&f, "ann", "correct horse battery");
	/* Five failures from one address (five accounts, once each): not locked yet. */
	for (int i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		CU_ASSERT_EQUAL(signin(&f, name, "wrong horse battery", "198.51.100.7"),
		    FB_LOCAL_REJECTED);
		CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, NULL, "198.51.100.7", &retry,
				    &err),
		    FB_OK);
	}
	CU_ASSERT_EQUAL(signin(&f, "ann", "correct horse battery", "198.51.100.7"),
	    FB_LOCAL_ACCEPTED);
	/* The sixth locks the address, for every account. */
	CU_ASSERT_EQUAL(signin(&f, "x6", "wrong horse battery", "198.51.100.7"), FB_LOCAL_REJECTED);
	CU_ASSERT_EQUAL(fb_local_lockout_check(&f.conf, f.st, NULL, "198.51.100.7", &retry, &err),
	    FB_ERR_LIMIT);
	CU_ASSERT_EQUAL(retry, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "address 198.51.100.7 is locked"));
	CU_ASSERT_EQUAL(signin(&f, "ann", "correct horse battery", "198.51.100.7"), FB_LOCAL_LOCKED);
	fx_close(&f);
	fb_time_clock_ms = NULL;
}

/* ---- bootstrap ----------------------------------------------------------------- */

/* Runs bootstrap with the log sent to a file; the log text in a new string. */
static char *
bootstrap_logged(struct fx *f, enum fb_status *r)
{
	char *path = fb_xasprintf("%s/log", f->dir), *text;
	enum fb_log_level saved = fb_log_min_level;
	struct fb_err err;
	FILE *fp;
	long n;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	/* Level error: the bootstrap line must come through anyway. */
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, fd);
	*r = fb_local_bootstrap(&f->conf, f->st, &err);
	fb_log_setup(FB_LOG_LOGFMT, saved, f->logfd > 0 ? f->logfd : 2);
	close(fd);
	fp = fopen(path, "r");
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	text = fb_xcalloc(1, (size_t)n + 1);
	if (fread(text, 1, (size_t)n, fp) != (size_t)n)
		text[0] = '\0';
	fclose(fp);
	free(path);
	return text;
}

/* The value of key= in the logfmt line (unquoted values only). New, or NULL. */
static char *
field(const char *line, const char *key)
{
	char *pat = fb_xasprintf(" %s=", key), *v = NULL;
	const char *p = strstr(line, pat);

	if (p != NULL) {
		p += strlen(pat);
		v = fb_xstrndup(p, strcspn(p, " \n"));
	}
	free(pat);
	return v;
}

/* Bootstrap runs without a line and leaves the store without a local account. */
static void
bootstrap_makes_nothing(struct fx *f)
{
	enum fb_status r;
	struct fb_err err;
	size_t n = 1;
	char *log = bootstrap_logged(f, &r);

	CU_ASSERT_EQUAL(r, FB_OK);
	CU_ASSERT_PTR_NULL(strstr(log, "cat=bootstrap"));
	CU_ASSERT_EQUAL(fb_store_cred_count(f->st, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	free(log);
}

static void
test_bootstrap(void)
{
	struct fx f;
	struct fb_local_account a;
	enum fb_status r;
	char *log, *pw, *tok, *line;
	size_t n = 0;
	struct fb_err err;

	fx_open(&f);
	log = bootstrap_logged(&f, &r);
	CU_ASSERT_EQUAL(r, FB_OK);
	line = strstr(log, "cat=bootstrap");
	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "level=warn"));
	pw = field(line, "password");
	tok = field(line, "token");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pw);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
	CU_ASSERT_EQUAL(strlen(pw), 24);
	CU_ASSERT_EQUAL(strncmp(tok, "fbt_", 4), 0);
	/* Once: one bootstrap line. */
	CU_ASSERT_PTR_NULL(strstr(line + 1, "cat=bootstrap"));
	CU_ASSERT_EQUAL(signin(&f, "admin", pw, NULL), FB_LOCAL_ACCEPTED);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, tok, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "admin", &a, &err), FB_OK);
	CU_ASSERT_EQUAL(a.type, FB_ACCOUNT_INTERNAL);
	fb_local_account_cleanup(&a);
	free(log);
	/* Later starts print nothing and create nothing, even with no account left. */
	log = bootstrap_logged(&f, &r);
	CU_ASSERT_EQUAL(r, FB_OK);
	CU_ASSERT_PTR_NULL(strstr(log, "cat=bootstrap"));
	CU_ASSERT_PTR_NULL(strstr(log, pw));
	free(log);
	CU_ASSERT_EQUAL(fb_local_account_delete(f.st, "admin", NULL, &err), FB_OK);
	bootstrap_makes_nothing(&f);
	/* The secrets are registered with the redactor once printed. */
	fb_log_secret_clear();
	free(pw);
	free(tok);
	fx_close(&f);

	/* Disabled: nothing. */
	fx_open(&f);
	f.conf.bootstrap_enabled = 0;
	bootstrap_makes_nothing(&f);
	/* Accounts exist already (made with the CLI): nothing, and never later either. */
	f.conf.bootstrap_enabled = 1;
	add_user(&f, "ann", "correct horse battery");
	log = bootstrap_logged(&f, &r);
	CU_ASSERT_EQUAL(r, FB_OK);
	CU_ASSERT_PTR_NULL(strstr(log, "cat=bootstrap"));
	CU_ASSERT_EQUAL(fb_local_account_get(f.st, "admin", &a, &err), FB_ERR_NOTFOUND);
	free(log);
	fx_close(&f);

	/* Configured password and token: used, and not printed. */
	fx_open(&f);
	f.conf.bootstrap_password = (char *)"configured admin password";
	f.conf.bootstrap_token = (char *)"configured-bootstrap-token-value";
	log = bootstrap_logged(&f, &r);
	CU_ASSERT_EQUAL(r, FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "cat=bootstrap"));
	CU_ASSERT_PTR_NULL(strstr(log, "configured admin password"));
	CU_ASSERT_PTR_NULL(strstr(log, "configured-bootstrap-token-value"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "(from configuration)"));
	CU_ASSERT_EQUAL(signin(&f, "admin", "configured admin password", NULL), FB_LOCAL_ACCEPTED);
	CU_ASSERT_EQUAL(fb_local_token_verify(f.st, "configured-bootstrap-token-value", NULL, &err),
	    FB_OK);
	free(log);
	fx_close(&f);

	/* A weak configured password: a configuration error, nothing created, flag unset. */
	fx_open(&f);
	f.conf.bootstrap_password = (char *)"weak";
	log = bootstrap_logged(&f, &r);
	CU_ASSERT_EQUAL(r, FB_ERR_CONFIG);
	free(log);
	CU_ASSERT_EQUAL(fb_local_bootstrap(&f.conf, f.st, &err), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "local.bootstrap.password"));
	CU_ASSERT_EQUAL(fb_store_cred_count(f.st, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	f.conf.bootstrap_password = NULL;
	log = bootstrap_logged(&f, &r);
	CU_ASSERT_EQUAL(r, FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "cat=bootstrap"));
	free(log);
	fb_log_secret_clear();
	fx_close(&f);
}

/* A store marked as restored (bootstrap skipped) gets no bootstrap account, though it has none. */
static void
test_bootstrap_skip(void)
{
	struct fx f;
	struct fb_err err;

	fx_open(&f);
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_local_bootstrap_skip(f.st, &err), FB_OK);
	bootstrap_makes_nothing(&f);
	fx_close(&f);
}

int
fb_test_local_register(void)
{
	CU_pSuite s = CU_add_suite("local", NULL, NULL);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "password policy", test_password_policy) == NULL ||
	    CU_add_test(s, "password change by its owner", test_password_change) == NULL ||
	    CU_add_test(s, "password hash", test_password_hash) == NULL ||
	    CU_add_test(s, "HOTP RFC 4226 vectors", test_hotp_rfc4226) == NULL ||
	    CU_add_test(s, "TOTP RFC 6238 vectors", test_totp_rfc6238) == NULL ||
	    CU_add_test(s, "TOTP drift", test_totp_drift) == NULL ||
	    CU_add_test(s, "base32", test_base32) == NULL ||
	    CU_add_test(s, "TOTP URI and QR", test_totp_uri_qr) == NULL ||
	    CU_add_test(s, "TOTP enrol and sign in", test_totp_enrol_signin) == NULL ||
	    CU_add_test(s, "TOTP unknown key", test_totp_unknown_key) == NULL ||
	    CU_add_test(s, "accounts", test_accounts) == NULL ||
	    CU_add_test(s, "sign in", test_signin) == NULL ||
	    CU_add_test(s, "sign in timing", test_signin_timing) == NULL ||
	    CU_add_test(s, "recovery codes", test_recovery_codes) == NULL ||
	    CU_add_test(s, "recovery links", test_recovery_links) == NULL ||
	    CU_add_test(s, "API tokens", test_tokens) == NULL ||
	    CU_add_test(s, "lockout", test_lockout) == NULL ||
	    CU_add_test(s, "lockout_per_address", test_lockout_per_address) == NULL ||
	    CU_add_test(s, "lockout_ms", test_lockout_ms) == NULL ||
	    CU_add_test(s, "lockout_initial_delay", test_lockout_initial_delay) == NULL ||
	    CU_add_test(s, "bootstrap", test_bootstrap) == NULL ||
	    CU_add_test(s, "bootstrap skipped (a restored store)", test_bootstrap_skip) == NULL)
		return -1;
	return 0;
}
