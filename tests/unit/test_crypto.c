/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_crypto.c: signing keys, rollover, sealed tokens, CSRF. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "unit.h"

#define FIX FB_SRCDIR "/tests/fixtures/keys/"

static int
has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

/* Loads one configured key (state active) from the fixtures. */
static enum fb_status
load_one(const char *key, const char *cert, const char *pass, struct fb_keyring **kr,
    struct fb_err *err)
{
	struct fb_conf_key ck = {
	    .id = (char *)(uintptr_t) "k1",
	    .key_file = (char *)(uintptr_t)key,
	    .cert_file = (char *)(uintptr_t)cert,
	    .passphrase = (char *)(uintptr_t)pass,
	    .state = FB_KEY_ACTIVE,
	};
	struct fb_conf conf = {.keys = &ck, .nkeys = 1};

	fb_err_clear(err);
	return fb_crypto_keyring_load(&conf, kr, err);
}

/* Starts sending log lines of level warn and up to a temporary file. */
static int
log_capture_start(char **path)
{
	char tmpl[] = "/tmp/fb-unit-log-XXXXXX";
	int fd = mkstemp(tmpl);

	*path = fb_xstrdup(tmpl);
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_WARN, fd);
	return fd;
}

/* Restores stderr logging and returns what was captured (new). */
static char *
log_capture_stop(int fd, char *path, enum fb_log_level saved)
{
	char buf[8192];
	ssize_t n;

	fb_log_setup(FB_LOG_LOGFMT, saved, 2);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	free(path);
	return fb_xstrdup(buf);
}

/* ---- fixtures ----------------------------------------------------------- */

static void
test_key_rsa_good(void)
{
	struct fb_keyring *kr = NULL;
	struct fb_key_info info;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(load_one(FIX "rsa2048.key.pem", FIX "rsa2048.crt.pem", NULL, &kr,
	                          &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 1);
	CU_ASSERT_PTR_EQUAL(fb_crypto_keyring_active(kr), fb_crypto_keyring_get(kr, 0));
	CU_ASSERT_PTR_NULL(fb_crypto_keyring_get(kr, 1));
	fb_crypto_key_info(fb_crypto_keyring_active(kr), &info);
	CU_ASSERT_STRING_EQUAL(info.id, "k1");
	CU_ASSERT_STRING_EQUAL(info.alg, "RSA");
	CU_ASSERT_EQUAL(info.bits, 2048);
	CU_ASSERT(info.not_after > fb_time_now() + 365 * 86400);
	CU_ASSERT_EQUAL(info.state, FB_KEY_ACTIVE);
	CU_ASSERT_STRING_EQUAL(info.key_file, FIX "rsa2048.key.pem");
	CU_ASSERT_STRING_EQUAL(info.cert_file, FIX "rsa2048.crt.pem");
	CU_ASSERT_PTR_NOT_NULL(fb_crypto_key_pkey(fb_crypto_keyring_active(kr)));
	CU_ASSERT_PTR_NOT_NULL(fb_crypto_key_cert(fb_crypto_keyring_active(kr)));
	fb_crypto_keyring_free(kr);
}

static void
test_key_ec_good(void)
{
	struct fb_keyring *kr = NULL;
	struct fb_key_info info;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(load_one(FIX "ec256.key.pem", FIX "ec256.crt.pem", NULL, &kr, &err),
	    FB_OK);
	fb_crypto_key_info(fb_crypto_keyring_active(kr), &info);
	CU_ASSERT_STRING_EQUAL(info.alg, "EC");
	CU_ASSERT_EQUAL(info.bits, 256);
	fb_crypto_keyring_free(kr);
}

static void
test_key_encrypted(void)
{
	struct fb_keyring *kr = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(load_one(FIX "encrypted.key.pem", FIX "encrypted.crt.pem", "fixture-pass",
	                    &kr, &err),
	    FB_OK);
	fb_crypto_keyring_free(kr);
	kr = NULL;

	CU_ASSERT_EQUAL(load_one(FIX "encrypted.key.pem", FIX "encrypted.crt.pem", "wrong", &kr,
	                    &err),
	    FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(kr);
	CU_ASSERT(has(err.msg, FIX "encrypted.key.pem"));
	CU_ASSERT(has(err.msg, "wrong passphrase"));

	CU_ASSERT_EQUAL(load_one(FIX "encrypted.key.pem", FIX "encrypted.crt.pem", NULL, &kr, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, FIX "encrypted.key.pem"));
	CU_ASSERT(has(err.msg, "no passphrase"));
}

static void
test_key_mismatch(void)
{
	struct fb_keyring *kr = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(load_one(FIX "mismatch.key.pem", FIX "mismatch.crt.pem", NULL, &kr, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(kr);
	CU_ASSERT(has(err.msg, FIX "mismatch.key.pem"));
	CU_ASSERT(has(err.msg, FIX "mismatch.crt.pem"));
	CU_ASSERT(has(err.msg, "does not match"));
}

static void
test_key_garbage(void)
{
	struct fb_keyring *kr = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(load_one(FIX "garbage.pem", FIX "rsa2048.crt.pem", NULL, &kr, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, FIX "garbage.pem"));
	CU_ASSERT(has(err.msg, "not a PEM private key"));

	CU_ASSERT_EQUAL(load_one(FIX "rsa2048.key.pem", FIX "garbage.pem", NULL, &kr, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, FIX "garbage.pem"));
	CU_ASSERT(has(err.msg, "not a PEM X.509 certificate"));

	/* A certificate where the key should be is not a key. */
	CU_ASSERT_EQUAL(load_one(FIX "rsa2048.crt.pem", FIX "rsa2048.crt.pem", NULL, &kr, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "not a PEM private key"));
	CU_ASSERT_PTR_NULL(kr);
}

static void
test_key_weak(void)
{
	struct fb_keyring *kr = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(load_one(FIX "rsa1024.key.pem", FIX "rsa1024.crt.pem", NULL, &kr, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, FIX "rsa1024.key.pem"));
	CU_ASSERT(has(err.msg, "1024 bits is too small"));

	CU_ASSERT_EQUAL(load_one(FIX "secp256k1.key.pem", FIX "secp256k1.crt.pem", NULL, &kr, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, FIX "secp256k1.key.pem"));
	CU_ASSERT(has(err.msg, "curve secp256k1 is not supported"));
	CU_ASSERT_PTR_NULL(kr);
}

static void
test_key_missing(void)
{
	struct fb_keyring *kr = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(load_one(FIX "nope.key.pem", FIX "rsa2048.crt.pem", NULL, &kr, &err),
	    FB_ERR_IO);
	CU_ASSERT(has(err.msg, FIX "nope.key.pem"));
	CU_ASSERT(has(err.msg, "No such file"));

	CU_ASSERT_EQUAL(load_one(FIX "rsa2048.key.pem", FIX "nope.crt.pem", NULL, &kr, &err),
	    FB_ERR_IO);
	CU_ASSERT(has(err.msg, FIX "nope.crt.pem"));
	CU_ASSERT_PTR_NULL(kr);
}

static void
test_key_warnings(void)
{
	enum fb_log_level saved = fb_log_min_level;
	struct fb_keyring *kr = NULL;
	struct fb_key_info info;
	struct fb_err err;
	char *dir = fb_test_tmpdir(), *key, *logpath, *log;
	int fd;

	/* A group-readable copy of the key, with an expired certificate. */
	key = fb_xasprintf("%s/k.pem", dir);
	{
		FILE *in = fopen(FIX "rsa2048.key.pem", "r"), *out = fopen(key, "w");
		char buf[4096];
		size_t n;

		CU_ASSERT_FATAL(in != NULL && out != NULL);
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			fwrite(buf, 1, n, out);
		fclose(in);
		fclose(out);
	}
	chmod(key, 0640);
	fd = log_capture_start(&logpath);
	CU_ASSERT_EQUAL(load_one(key, FIX "expired.crt.pem", NULL, &kr, &err), FB_OK);
	log = log_capture_stop(fd, logpath, saved);
	CU_ASSERT(has(log, "readable by group or others"));
	CU_ASSERT(has(log, key));
	CU_ASSERT(has(log, "expired"));
	CU_ASSERT(has(log, FIX "expired.crt.pem"));
	CU_ASSERT(has(log, "level=warn"));
	fb_crypto_key_info(fb_crypto_keyring_active(kr), &info);
	CU_ASSERT(info.not_after < fb_time_now());
	fb_crypto_keyring_free(kr);
	free(log);
	free(key);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_keyring_active_rules(void)
{
	struct fb_conf_key ck[2] = {
	    {.id = (char *)(uintptr_t) "a",
	        .key_file = (char *)(uintptr_t)FIX "rsa2048.key.pem",
	        .cert_file = (char *)(uintptr_t)FIX "rsa2048.crt.pem",
	        .state = FB_KEY_ACTIVE},
	    {.id = (char *)(uintptr_t) "b",
	        .key_file = (char *)(uintptr_t)FIX "ec256.key.pem",
	        .cert_file = (char *)(uintptr_t)FIX "ec256.crt.pem",
	        .state = FB_KEY_ACTIVE},
	};
	struct fb_conf conf = {.path = (char *)(uintptr_t) "/etc/fb.yaml", .keys = ck, .nkeys = 2};
	struct fb_keyring *kr = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "/etc/fb.yaml"));
	CU_ASSERT(has(err.msg, "2 keys are active (a, b)"));

	ck[0].state = ck[1].state = FB_KEY_PUBLISHED;
	CU_ASSERT_EQUAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "no key is active"));

	ck[1].state = FB_KEY_ACTIVE;
	ck[1].id = (char *)(uintptr_t) "a";
	CU_ASSERT_EQUAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "'a' is used twice"));
	CU_ASSERT_PTR_NULL(kr);

	ck[1].id = (char *)(uintptr_t) "b";
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 2);
	CU_ASSERT_PTR_EQUAL(fb_crypto_keyring_active(kr), fb_crypto_keyring_get(kr, 1));
	fb_crypto_keyring_free(kr);
}

/* ---- the state directory ------------------------------------------------ */

static void
test_keys_generated_in_state_dir(void)
{
	char *dir = fb_test_tmpdir(), *state = fb_xasprintf("%s/state", dir), *kdir;
	struct fb_conf conf = {.state_dir = state,
	    .public_url = (char *)(uintptr_t) "https://login.example.org:8443/fb"};
	struct fb_keyring *kr = NULL, *kr2 = NULL;
	struct fb_key_info info, info2;
	char *path, cn[128];
	struct fb_err err;

	kdir = fb_xasprintf("%s/keys", state);
	/* list never generates */
	CU_ASSERT_EQUAL(fb_crypto_keyring_load_existing(&conf, &kr, &err), FB_ERR_NOTFOUND);
	CU_ASSERT(has(err.msg, kdir));

	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	/* The active RSA key and a published EC P-256 one (ES256, the provider's default). */
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 2);
	for (size_t i = 0; i < fb_crypto_keyring_count(kr); i++) {
		fb_crypto_key_info(fb_crypto_keyring_get(kr, i), &info);
		if (strcmp(info.alg, "EC") == 0) {
			CU_ASSERT_EQUAL(info.bits, 256);
			CU_ASSERT_EQUAL(info.state, FB_KEY_PUBLISHED);
			CU_ASSERT_EQUAL(mode_of(info.key_file), 0600);
		} else {
			CU_ASSERT_PTR_EQUAL(fb_crypto_keyring_get(kr, i), fb_crypto_keyring_active(kr));
		}
	}
	fb_crypto_key_info(fb_crypto_keyring_active(kr), &info);
	CU_ASSERT_STRING_EQUAL(info.alg, "RSA");
	CU_ASSERT_EQUAL(info.bits, 2048);
	CU_ASSERT_EQUAL(info.state, FB_KEY_ACTIVE);
	CU_ASSERT(info.id[0] == 'k' && strlen(info.id) == strlen("k20261123-1a2b"));
	CU_ASSERT(info.not_after > fb_time_now() + 3649LL * 86400);
	CU_ASSERT_EQUAL(mode_of(state), 0700);
	CU_ASSERT_EQUAL(mode_of(kdir), 0700);
	CU_ASSERT_EQUAL(mode_of(info.key_file), 0600);
	CU_ASSERT_EQUAL(mode_of(info.cert_file), 0600);
	path = fb_xasprintf("%s/%s.state", kdir, info.id);
	CU_ASSERT_EQUAL(mode_of(path), 0600);
	free(path);
	X509_NAME_get_text_by_NID(X509_get_subject_name(
	                              fb_crypto_key_cert(fb_crypto_keyring_active(kr))),
	    NID_commonName, cn, sizeof(cn));
	CU_ASSERT_STRING_EQUAL(cn, "login.example.org");

	/* The second load reuses the same key. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr2, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr2), 2);
	fb_crypto_key_info(fb_crypto_keyring_active(kr2), &info2);
	CU_ASSERT_STRING_EQUAL(info.id, info2.id);
	CU_ASSERT_EQUAL(EVP_PKEY_eq(fb_crypto_key_pkey(fb_crypto_keyring_active(kr)),
	                    fb_crypto_key_pkey(fb_crypto_keyring_active(kr2))),
	    1);
	fb_crypto_keyring_free(kr);
	fb_crypto_keyring_free(kr2);
	free(kdir);
	free(state);
	fb_test_rmtree(dir);
	free(dir);
}

/*
 * A state directory of an older version (one RSA key) gains a published EC
 * P-256 key on its next start; the active key stays; one with a P-256 key
 * gains nothing, and neither does a listing (load_existing).
 */
static void
test_keys_state_dir_gains_ec(void)
{
	char *dir = fb_test_tmpdir(), *kdir = fb_xasprintf("%s/keys", dir);
	struct fb_conf conf = {.state_dir = dir};
	struct fb_keyring *kr = NULL;
	struct fb_key_info info;
	struct fb_err err;
	size_t nec = 0;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_key_generate(kdir, "old", "rsa", 2048, 30, "t",
	                          FB_KEY_ACTIVE, &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load_existing(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 1);
	fb_crypto_keyring_free(kr);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 2);
	fb_crypto_key_info(fb_crypto_keyring_active(kr), &info);
	CU_ASSERT_STRING_EQUAL(info.id, "old");
	for (size_t i = 0; i < fb_crypto_keyring_count(kr); i++) {
		fb_crypto_key_info(fb_crypto_keyring_get(kr, i), &info);
		if (strcmp(info.alg, "EC") == 0) {
			nec++;
			CU_ASSERT_EQUAL(info.bits, 256);
			CU_ASSERT_EQUAL(info.state, FB_KEY_PUBLISHED);
		}
	}
	CU_ASSERT_EQUAL(nec, 1);
	fb_crypto_keyring_free(kr);
	/* The next start finds it: no third key. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 2);
	fb_crypto_keyring_free(kr);
	free(kdir);
	fb_test_rmtree(dir);
	free(dir);
}

/* The state word in <kdir>/<id>.state, into buf. */
static const char *
state_of(const char *kdir, const char *id, char *buf, size_t len)
{
	char *p = fb_xasprintf("%s/%s.state", kdir, id);
	FILE *f = fopen(p, "r");

	buf[0] = '\0';
	if (f != NULL) {
		if (fgets(buf, (int)len, f) == NULL)
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	free(p);
	return buf;
}

static void
test_keys_activate_retire(void)
{
	char *dir = fb_test_tmpdir(), *kdir = fb_xasprintf("%s/keys", dir), *prev = NULL;
	struct fb_conf conf = {.state_dir = dir};
	struct fb_conf_key ck = {.id = (char *)(uintptr_t) "k1"};
	struct fb_conf listed = {.keys = &ck, .nkeys = 1, .path = (char *)(uintptr_t) "/etc/fb.yaml"};
	enum fb_conf_key_state was;
	struct fb_keyring *kr = NULL;
	struct fb_key_info info;
	struct fb_err err;
	char st[32], msg[512];

	fb_err_clear(&err);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_key_generate(kdir, "a", "ec", 256, 30, "t", FB_KEY_ACTIVE,
	                          &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_key_generate(kdir, "b", "ec", 256, 30, "t",
	                          FB_KEY_PUBLISHED, &err),
	    FB_OK);
	/* A young key that replaced an older one warns; min 0 or an old enough key does not. */
	CU_ASSERT_EQUAL(fb_crypto_key_state_set(&conf, "b", FB_KEY_ACTIVE, &was, &prev, &err), FB_OK);
	CU_ASSERT_EQUAL(was, FB_KEY_PUBLISHED);
	CU_ASSERT_STRING_EQUAL(prev, "a");
	free(prev);
	CU_ASSERT_STRING_EQUAL(state_of(kdir, "a", st, sizeof(st)), "published");
	CU_ASSERT_STRING_EQUAL(state_of(kdir, "b", st, sizeof(st)), "active");
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_rollover_check(kr, 86400, fb_time_now(), msg,
	                    sizeof(msg)),
	    1);
	CU_ASSERT(has(msg, "active key b") && has(msg, "key_rollover.min_publish_time"));
	CU_ASSERT_EQUAL(fb_crypto_keyring_rollover_check(kr, 0, fb_time_now(), msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(fb_crypto_keyring_rollover_check(kr, 86400, fb_time_now() + 86400, msg,
	                    sizeof(msg)),
	    0);
	fb_crypto_keyring_free(kr);

	/* Refusals change nothing. */
	CU_ASSERT_EQUAL(fb_crypto_key_state_set(&conf, "b", FB_KEY_RETIRED, &was, &prev, &err),
	    FB_ERR_INVALID);
	CU_ASSERT(has(err.msg, "active") && has(err.msg, "keys activate"));
	CU_ASSERT_EQUAL(fb_crypto_key_state_set(&conf, "zz", FB_KEY_ACTIVE, &was, &prev, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT(has(err.msg, "no key zz") && has(err.msg, "a, b"));
	CU_ASSERT_EQUAL(fb_crypto_key_state_set(&listed, "a", FB_KEY_ACTIVE, &was, &prev, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "/etc/fb.yaml") && has(err.msg, "state: active"));
	CU_ASSERT_EQUAL(fb_crypto_key_state_set(&listed, "a", FB_KEY_RETIRED, &was, &prev, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "state: retired") && !has(err.msg, "active now"));
	CU_ASSERT_STRING_EQUAL(state_of(kdir, "b", st, sizeof(st)), "active");

	/* Retire a: gone from the keyring that signs and publishes, listed by _load_all. */
	CU_ASSERT_EQUAL(fb_crypto_key_state_set(&conf, "a", FB_KEY_RETIRED, &was, &prev, &err),
	    FB_OK);
	CU_ASSERT_PTR_NULL(prev);
	CU_ASSERT_EQUAL(fb_crypto_key_state_set(&conf, "a", FB_KEY_RETIRED, &was, &prev, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(was, FB_KEY_RETIRED);
	CU_ASSERT_EQUAL(fb_crypto_key_state_set(&conf, "a", FB_KEY_ACTIVE, &was, &prev, &err),
	    FB_ERR_INVALID);
	CU_ASSERT(has(err.msg, "retired"));
	CU_ASSERT_STRING_EQUAL(state_of(kdir, "a", st, sizeof(st)), "retired");
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 1);
	fb_crypto_keyring_free(kr);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load_all(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 2);
	fb_crypto_key_info(fb_crypto_keyring_get(kr, 0), &info);
	CU_ASSERT_STRING_EQUAL(info.id, "a");
	CU_ASSERT_EQUAL(info.state, FB_KEY_RETIRED);
	CU_ASSERT(info.not_before > 0 && info.not_before <= fb_time_now());
	fb_crypto_keyring_free(kr);
	free(kdir);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_keys_rollover(void)
{
	char *dir = fb_test_tmpdir(), *kdir = fb_xasprintf("%s/keys", dir), *active = NULL;
	struct fb_conf conf = {.state_dir = dir};
	struct fb_keyring *kr = NULL;
	struct fb_key_info info;
	struct fb_err err;
	size_t i, nactive;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_key_generate(kdir, "a", "rsa", 2048, 30, "t", FB_KEY_ACTIVE,
	                          &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_key_generate(kdir, "b", "ec", 256, 30, "t", FB_KEY_ACTIVE,
	                          &err),
	    FB_OK);
	/* published only: does not take over */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_key_generate(kdir, "c", "ec", 384, 30, "t",
	                          FB_KEY_PUBLISHED, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keydir_active(kdir, &active, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(active, "b");
	free(active);

	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_keyring_count(kr), 3);
	for (i = 0, nactive = 0; i < fb_crypto_keyring_count(kr); i++) {
		fb_crypto_key_info(fb_crypto_keyring_get(kr, i), &info);
		nactive += info.state == FB_KEY_ACTIVE;
		if (strcmp(info.id, "a") == 0)
			CU_ASSERT_EQUAL(info.state, FB_KEY_PUBLISHED);
		if (strcmp(info.id, "c") == 0) {
			CU_ASSERT_STRING_EQUAL(info.alg, "EC");
			CU_ASSERT_EQUAL(info.bits, 384);
		}
		CU_ASSERT_EQUAL(mode_of(info.key_file), 0600);
	}
	CU_ASSERT_EQUAL(nactive, 1);
	fb_crypto_key_info(fb_crypto_keyring_active(kr), &info);
	CU_ASSERT_STRING_EQUAL(info.id, "b");
	CU_ASSERT_STRING_EQUAL(info.alg, "EC");
	fb_crypto_keyring_free(kr);

	/* Refusals. */
	CU_ASSERT_EQUAL(fb_crypto_key_generate(kdir, "b", "rsa", 2048, 30, "t", FB_KEY_ACTIVE,
	                    &err),
	    FB_ERR_IO);
	CU_ASSERT(has(err.msg, "exists"));
	CU_ASSERT_EQUAL(fb_crypto_key_generate(kdir, "../x", "rsa", 2048, 30, "t", FB_KEY_ACTIVE,
	                    &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_crypto_key_generate(kdir, "d", "dsa", 2048, 30, "t", FB_KEY_ACTIVE,
	                    &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_crypto_key_generate(kdir, "d", "rsa", 1024, 30, "t", FB_KEY_ACTIVE,
	                    &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_crypto_key_generate(kdir, "d", "ec", 521, 30, "t", FB_KEY_ACTIVE, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_crypto_key_generate(kdir, "d", "rsa", 2048, 0, "t", FB_KEY_ACTIVE, &err),
	    FB_ERR_INVALID);
	/* Nothing was changed by the refusals. */
	CU_ASSERT_EQUAL(fb_crypto_keydir_active(kdir, &active, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(active, "b");
	free(active);

	/* A broken state file is named. */
	free(fb_test_write_file(kdir, "c.state", "expired\n"));
	CU_ASSERT_EQUAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "c.state"));
	CU_ASSERT(has(err.msg, "expired"));
	CU_ASSERT_PTR_NULL(kr);

	free(kdir);
	fb_test_rmtree(dir);
	free(dir);
}

/* ---- sealing ------------------------------------------------------------ */

static const unsigned char key_a[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key_b[32] = "fedcba9876543210fedcba9876543210";

static struct fb_sealer *
sealer(const unsigned char *k1, const unsigned char *k2)
{
	unsigned char keys[2][32];

	memcpy(keys[0], k1, 32);
	if (k2 != NULL)
		memcpy(keys[1], k2, 32);
	return fb_crypto_sealer_new((const unsigned char(*)[32])keys, k2 != NULL ? 2 : 1);
}

/* Returns token with byte i of its decoded form flipped (new). */
static char *
flip(const char *token, size_t i, int from_end)
{
	unsigned char *raw;
	size_t n;
	char *b64, *out;

	CU_ASSERT_FATAL(fb_b64url_decode(token + 3, &raw, &n, NULL) == FB_OK);
	raw[from_end ? n - 1 - i : i] ^= 0x01;
	b64 = fb_b64url_encode(raw, n);
	out = fb_xasprintf("v1.%s", b64);
	free(b64);
	free(raw);
	return out;
}

static void
test_seal_roundtrip(void)
{
	struct fb_sealer *s = sealer(key_a, NULL);
	const unsigned char payload[] = {'h', 'i', 0, 0xff, 'x'};
	unsigned char *out = NULL;
	char *tok = NULL, *tok2 = NULL;
	size_t n = 0;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s, "session", payload, sizeof(payload),
	                          fb_time_now() + 60, &tok, &err),
	    FB_OK);
	CU_ASSERT(strncmp(tok, "v1.", 3) == 0);
	CU_ASSERT_EQUAL(strspn(tok + 3,
	                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	    strlen(tok + 3));
	CU_ASSERT_EQUAL_FATAL(fb_crypto_unseal(s, "session", tok, &out, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, sizeof(payload));
	CU_ASSERT(memcmp(out, payload, n) == 0);
	CU_ASSERT_EQUAL(out[n], '\0');
	free(out);
	/* Fresh nonce every time. */
	CU_ASSERT_EQUAL(fb_crypto_seal(s, "session", payload, sizeof(payload), fb_time_now() + 60,
	                    &tok2, &err),
	    FB_OK);
	CU_ASSERT(strcmp(tok, tok2) != 0);
	free(tok2);
	free(tok);

	/* Empty payload. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s, "x", "", 0, fb_time_now() + 60, &tok, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "x", tok, &out, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	free(out);
	free(tok);
	fb_crypto_sealer_free(s);
}

static void
test_seal_tampered(void)
{
	struct fb_sealer *s = sealer(key_a, NULL);
	unsigned char *out = NULL;
	char *tok = NULL, *bad;
	size_t n;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s, "session", "payload", 7, fb_time_now() + 60, &tok,
	                          &err),
	    FB_OK);
	bad = flip(tok, 4 + 12 + 9, 0); /* ciphertext (payload) */
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", bad, &out, &n, &err), FB_ERR_SIGNATURE);
	free(bad);
	bad = flip(tok, 4 + 12 + 1, 0); /* ciphertext (expiry) */
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", bad, &out, &n, &err), FB_ERR_SIGNATURE);
	free(bad);
	bad = flip(tok, 0, 1); /* tag */
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", bad, &out, &n, &err), FB_ERR_SIGNATURE);
	free(bad);
	bad = flip(tok, 5, 0); /* nonce */
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", bad, &out, &n, &err), FB_ERR_SIGNATURE);
	free(bad);
	bad = flip(tok, 0, 0); /* key id */
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", bad, &out, &n, &err), FB_ERR_NOTFOUND);
	free(bad);
	CU_ASSERT_PTR_NULL(out);
	/* Wrong purpose. */
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "csrf", tok, &out, &n, &err), FB_ERR_SIGNATURE);
	CU_ASSERT_PTR_NULL(out);
	free(tok);
	fb_crypto_sealer_free(s);
}

static void
test_seal_expired(void)
{
	struct fb_sealer *s = sealer(key_a, NULL);
	unsigned char *out = NULL;
	char *tok = NULL;
	size_t n;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s, "session", "p", 1, fb_time_now() + 10, &tok, &err),
	    FB_OK);
	fb_time_offset = 9;
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", tok, &out, &n, &err), FB_OK);
	free(out);
	out = NULL;
	fb_time_offset = 11;
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", tok, &out, &n, &err), FB_ERR_EXPIRED);
	CU_ASSERT_PTR_NULL(out);
	fb_time_offset = 0;
	free(tok);
	fb_crypto_sealer_free(s);
}

static void
test_seal_keys(void)
{
	struct fb_sealer *old = sealer(key_a, NULL), *other = sealer(key_b, NULL);
	struct fb_sealer *rolled = sealer(key_b, key_a);
	unsigned char *out = NULL;
	char *tok = NULL, *tok2 = NULL;
	size_t n;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(old, "session", "p", 1, fb_time_now() + 60, &tok,
	                          &err),
	    FB_OK);
	/* Unknown key. */
	CU_ASSERT_EQUAL(fb_crypto_unseal(other, "session", tok, &out, &n, &err), FB_ERR_NOTFOUND);
	/* After rollover the old key still opens. */
	CU_ASSERT_EQUAL(fb_crypto_unseal(rolled, "session", tok, &out, &n, &err), FB_OK);
	free(out);
	/* The new key seals: the old sealer does not know it. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(rolled, "session", "p", 1, fb_time_now() + 60, &tok2,
	                          &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_unseal(other, "session", tok2, &out, &n, &err), FB_OK);
	free(out);
	CU_ASSERT_EQUAL(fb_crypto_unseal(old, "session", tok2, &out, &n, &err), FB_ERR_NOTFOUND);
	free(tok);
	free(tok2);
	fb_crypto_sealer_free(old);
	fb_crypto_sealer_free(other);
	fb_crypto_sealer_free(rolled);
}

static void
test_seal_malformed(void)
{
	struct fb_sealer *s = sealer(key_a, NULL);
	const char *bad[] = {"", "v1.",
	    "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "v1.!!!!", "v1.AAAA",
	    "v1.A", "session=abc"};
	unsigned char *out = NULL, *big;
	char *huge, *tok = NULL;
	size_t n, i;
	struct fb_err err;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", bad[i], &out, &n, &err),
		    FB_ERR_INVALID);
		CU_ASSERT_PTR_NULL(out);
	}
	huge = fb_xmalloc(FB_CRYPTO_TOKEN_MAX + 2);
	memcpy(huge, "v1.", 3);
	memset(huge + 3, 'A', FB_CRYPTO_TOKEN_MAX - 2);
	huge[FB_CRYPTO_TOKEN_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "session", huge, &out, &n, &err), FB_ERR_INVALID);
	CU_ASSERT(has(err.msg, "longer than"));
	free(huge);

	/* The largest payload seals into a token that opens; one byte more is refused. */
	big = fb_xcalloc(1, FB_CRYPTO_SEAL_MAX + 1);
	CU_ASSERT_EQUAL(fb_crypto_seal(s, "s", big, FB_CRYPTO_SEAL_MAX + 1, fb_time_now() + 60,
	                    &tok, &err),
	    FB_ERR_LIMIT);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s, "s", big, FB_CRYPTO_SEAL_MAX, fb_time_now() + 60,
	                          &tok, &err),
	    FB_OK);
	CU_ASSERT(strlen(tok) <= FB_CRYPTO_TOKEN_MAX);
	CU_ASSERT_EQUAL(fb_crypto_unseal(s, "s", tok, &out, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, FB_CRYPTO_SEAL_MAX);
	free(out);
	free(tok);
	free(big);
	fb_crypto_sealer_free(s);
}

/* ---- CSRF --------------------------------------------------------------- */

static void
test_csrf(void)
{
	struct fb_sealer *s = sealer(key_a, NULL);
	char *tok = NULL, *bad, *stok = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_csrf_new(s, "sess-1", 600, &tok, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_csrf_verify(s, "sess-1", tok, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_csrf_verify(s, "sess-2", tok, &err), FB_ERR_SIGNATURE);
	CU_ASSERT(has(err.msg, "another session"));
	bad = flip(tok, 0, 1);
	CU_ASSERT_EQUAL(fb_crypto_csrf_verify(s, "sess-1", bad, &err), FB_ERR_SIGNATURE);
	free(bad);
	CU_ASSERT_EQUAL(fb_crypto_csrf_verify(s, "sess-1", "garbage", &err), FB_ERR_INVALID);
	fb_time_offset = 601;
	CU_ASSERT_EQUAL(fb_crypto_csrf_verify(s, "sess-1", tok, &err), FB_ERR_EXPIRED);
	fb_time_offset = 0;
	/* A token sealed for another purpose is no CSRF token. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s, "session", "sess-1", 6, fb_time_now() + 60, &stok,
	                          &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_csrf_verify(s, "sess-1", stok, &err), FB_ERR_SIGNATURE);
	CU_ASSERT_EQUAL(fb_crypto_csrf_new(s, "sess-1", 0, &bad, &err), FB_ERR_INVALID);
	free(stok);
	free(tok);
	fb_crypto_sealer_free(s);
}

/*
 * A shared store (postgres) means replicas: no signing key and no cookie key
 * is made per process (nothing is created), while keys put in the state
 * directory (the same files on every replica) or configured are used.
 */
static void
test_shared_store_generates_nothing(void)
{
	char *dir = fb_test_tmpdir(), *state = fb_xasprintf("%s/state", dir);
	char *ck = fb_xasprintf("%s/cookie-keys", state);
	struct fb_conf conf = {.state_dir = state, .store_driver = FB_STORE_POSTGRES};
	struct fb_keyring *kr = NULL;
	struct fb_sealer *s = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "keys:"));
	CU_ASSERT(has(err.msg, "replica"));
	CU_ASSERT_PTR_NULL(kr);
	CU_ASSERT_EQUAL(access(state, F_OK), -1);
	CU_ASSERT_EQUAL(fb_crypto_sealer_load(&conf, &s, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "session.cookie_keys"));
	CU_ASSERT(has(err.msg, "replica"));
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(access(ck, F_OK), -1);
	/* Made once (as with SQLite) and shared: used. */
	conf.store_driver = FB_STORE_SQLITE;
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	fb_crypto_keyring_free(kr);
	kr = NULL;
	CU_ASSERT_EQUAL_FATAL(fb_crypto_sealer_load(&conf, &s, &err), FB_OK);
	fb_crypto_sealer_free(s);
	s = NULL;
	conf.store_driver = FB_STORE_POSTGRES;
	CU_ASSERT_EQUAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_sealer_load(&conf, &s, &err), FB_OK);
	fb_crypto_keyring_free(kr);
	fb_crypto_sealer_free(s);
	fb_test_rmtree(dir);
	free(ck);
	free(state);
	free(dir);
}

/*
 * Replicas sharing a state directory and starting together: while one holds
 * <state_dir>/keys.lock (listing or generating), another waits, then finds
 * the key made meanwhile instead of generating a second active key.
 */
static void
test_keys_generated_once_by_replicas(void)
{
	char *dir = fb_test_tmpdir(), *state = fb_xasprintf("%s/state", dir);
	char *kdir = fb_xasprintf("%s/keys", state), *lock = fb_xasprintf("%s/keys.lock", state);
	struct fb_conf conf = {.state_dir = state};
	struct pollfd pfd;
	char got[64] = "";
	int fds[2], lfd, status;
	struct fb_err err;
	ssize_t n;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(mkdir(state, 0700), 0);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_EQUAL_FATAL(flock(lfd, LOCK_EX), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		/* The second replica: prints the id of the key it signs with. */
		struct fb_keyring *kr = NULL;
		struct fb_key_info info;

		close(fds[0]);
		close(lfd); /* the lock stays with the parent's descriptor */
		if (fb_crypto_keyring_load(&conf, &kr, &err) != FB_OK)
			_exit(1);
		fb_crypto_key_info(fb_crypto_keyring_active(kr), &info);
		_exit(write(fds[1], info.id, strlen(info.id)) > 0 ? 0 : 1);
	}
	close(fds[1]);
	/* It waits for the lock (a second is plenty to generate a key when it does not). */
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	CU_ASSERT_EQUAL(poll(&pfd, 1, 1000), 0);
	/* The first replica makes its key, then lets go. */
	CU_ASSERT_EQUAL(fb_crypto_key_generate(kdir, "k-first", "ec", 256, 30, "t", FB_KEY_ACTIVE,
	                    &err),
	    FB_OK);
	close(lfd);
	n = read(fds[0], got, sizeof(got) - 1);
	CU_ASSERT(n > 0);
	close(fds[0]);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_STRING_EQUAL(got, "k-first");
	fb_test_rmtree(dir);
	free(lock);
	free(kdir);
	free(state);
	free(dir);
}

/* ---- sealer configuration ----------------------------------------------- */

static void
test_sealer_cookie_keys_file(void)
{
	char *dir = fb_test_tmpdir(), *path = fb_xasprintf("%s/cookie-keys", dir), *tok = NULL;
	struct fb_conf conf = {.state_dir = dir};
	struct fb_sealer *s1 = NULL, *s2 = NULL;
	unsigned char *out = NULL;
	char line[128];
	size_t n;
	FILE *f;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_sealer_load(&conf, &s1, &err), FB_OK);
	CU_ASSERT_EQUAL(mode_of(path), 0600);
	f = fopen(path, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), f));
	CU_ASSERT_EQUAL(strlen(line), 44); /* 43 base64url characters and a newline */
	CU_ASSERT_PTR_NULL(fgets(line, sizeof(line), f));
	fclose(f);
	/* The second load reads the same key. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_sealer_load(&conf, &s2, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s1, "t", "p", 1, fb_time_now() + 60, &tok, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_unseal(s2, "t", tok, &out, &n, &err), FB_OK);
	free(out);
	free(tok);
	fb_crypto_sealer_free(s1);
	fb_crypto_sealer_free(s2);
	s1 = s2 = NULL;

	/* Several keys, comments and blank lines: the first seals, all open. */
	{
		char *ka = fb_b64url_encode(key_a, 32), *kb = fb_b64url_encode(key_b, 32);
		char *text = fb_xasprintf("# new\n%s\n\n%s\n", kb, ka);

		free(fb_test_write_file(dir, "cookie-keys", text));
		free(text);
		free(ka);
		free(kb);
	}
	s2 = sealer(key_a, NULL);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_sealer_load(&conf, &s1, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s2, "t", "p", 1, fb_time_now() + 60, &tok, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_unseal(s1, "t", tok, &out, &n, &err), FB_OK);
	free(out);
	free(tok);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s1, "t", "p", 1, fb_time_now() + 60, &tok, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_unseal(s2, "t", tok, &out, &n, &err), FB_ERR_NOTFOUND);
	free(tok);
	fb_crypto_sealer_free(s1);
	fb_crypto_sealer_free(s2);
	s1 = NULL;

	/* A malformed line is named. */
	{
		char *ka = fb_b64url_encode(key_a, 32);
		char *text = fb_xasprintf("%s\nnot-a-key\n", ka);

		free(fb_test_write_file(dir, "cookie-keys", text));
		free(text);
		free(ka);
	}
	CU_ASSERT_EQUAL(fb_crypto_sealer_load(&conf, &s1, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "cookie-keys:2"));
	CU_ASSERT(has(err.msg, path));
	CU_ASSERT_PTR_NULL(s1);
	/* A 16-byte key is not a key either. */
	free(fb_test_write_file(dir, "cookie-keys", "AAAAAAAAAAAAAAAAAAAAAA\n"));
	CU_ASSERT_EQUAL(fb_crypto_sealer_load(&conf, &s1, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "cookie-keys:1"));
	free(fb_test_write_file(dir, "cookie-keys", "# nothing\n\n"));
	CU_ASSERT_EQUAL(fb_crypto_sealer_load(&conf, &s1, &err), FB_ERR_CONFIG);
	CU_ASSERT(has(err.msg, "holds no key"));
	CU_ASSERT_PTR_NULL(s1);

	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_sealer_conf_secrets(void)
{
	char *secrets[2] = {(char *)(uintptr_t) "first secret value",
	    (char *)(uintptr_t) "second secret value"};
	struct fb_conf c1 = {.cookie_secrets = secrets, .ncookie_secrets = 1};
	struct fb_conf c2 = {.cookie_secrets = secrets + 1, .ncookie_secrets = 1};
	struct fb_sealer *s1 = NULL, *s2 = NULL, *raw;
	unsigned char digest[32], *out = NULL;
	unsigned int dlen;
	char *tok = NULL;
	size_t n;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_crypto_sealer_load(&c1, &s1, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_sealer_load(&c2, &s2, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s1, "t", "p", 1, fb_time_now() + 60, &tok, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_unseal(s2, "t", tok, &out, &n, &err), FB_ERR_NOTFOUND);
	/* The key is SHA-256 of the secret. */
	EVP_Digest(secrets[0], strlen(secrets[0]), digest, &dlen, EVP_sha256(), NULL);
	raw = sealer(digest, NULL);
	CU_ASSERT_EQUAL(fb_crypto_unseal(raw, "t", tok, &out, &n, &err), FB_OK);
	free(out);
	free(tok);
	fb_crypto_sealer_free(s1);
	fb_crypto_sealer_free(s2);
	fb_crypto_sealer_free(raw);
	/* Both secrets: the first seals, the second still opens. */
	c1.ncookie_secrets = 2;
	CU_ASSERT_EQUAL_FATAL(fb_crypto_sealer_load(&c2, &s2, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_seal(s2, "t", "p", 1, fb_time_now() + 60, &tok, &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_sealer_load(&c1, &s1, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_unseal(s1, "t", tok, &out, &n, &err), FB_OK);
	free(out);
	free(tok);
	fb_crypto_sealer_free(s1);
	fb_crypto_sealer_free(s2);
}

/* ---- client certificates (RFC 8705) -------------------------------------- */

static void
test_client_cert(void)
{
	struct fb_crypto_cert *c = NULL, *ec = NULL;
	struct fb_crypto_ca *ca = NULL, *other = NULL, *old = NULL;
	struct fb_err err = {0};
	size_t n = 0, m = 0;
	char *pem = fb_test_read_src("tests/fixtures/keys/localhost.crt.pem", &n);
	char *ecpem = fb_test_read_src("tests/fixtures/keys/ec256.crt.pem", &m);
	char *both = fb_xasprintf("%s%s", pem, ecpem);

	CU_ASSERT_EQUAL_FATAL(fb_crypto_cert_parse(pem, n, &c, &err), FB_OK);
	/* openssl x509 -outform DER | openssl dgst -sha256 -binary | basenc --base64url */
	CU_ASSERT_STRING_EQUAL(fb_crypto_cert_thumbprint(c),
	    "59q_5lbP6ykkiyXZfaK-dmNuInavJwfe5LyEeI0abRE");
	CU_ASSERT_STRING_EQUAL(fb_crypto_cert_subject(c), "CN=localhost");
	CU_ASSERT(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_DNS, "localhost"));
	CU_ASSERT(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_DNS, "LocalHost"));
	CU_ASSERT_FALSE(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_DNS, "localhost."));
	CU_ASSERT_FALSE(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_DNS, "local"));
	CU_ASSERT(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_IP, "127.0.0.1"));
	CU_ASSERT_FALSE(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_IP, "127.0.0.2"));
	CU_ASSERT_FALSE(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_IP, "::1"));
	CU_ASSERT_FALSE(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_URI, "localhost"));
	CU_ASSERT_FALSE(fb_crypto_cert_san_check(c, FB_CRYPTO_SAN_EMAIL, "localhost"));
	/* Chains: trusted when its own CA (self-signed), not by another; expired. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_ca_load(FIX "localhost.crt.pem", &ca, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_ca_load(FIX "ec256.crt.pem", &other, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_ca_load(FIX "expired.crt.pem", &old, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_cert_chain_verify(c, ca, fb_time_now(), &err), FB_OK);
	/* Remembered (the same answer again), never past the leaf's notAfter (2126). */
	CU_ASSERT_EQUAL(fb_crypto_cert_chain_verify(c, ca, fb_time_now() + 10, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_cert_chain_verify(c, ca, INT64_C(7258118400), &err),
	    FB_ERR_EXPIRED);
	CU_ASSERT_EQUAL(fb_crypto_cert_chain_verify(c, other, fb_time_now(), &err),
	    FB_ERR_SIGNATURE);
	CU_ASSERT(strstr(err.msg, "not trusted") != NULL);
	fb_crypto_cert_free(c);
	c = NULL;
	free(pem);
	pem = fb_test_read_src("tests/fixtures/keys/expired.crt.pem", &n);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_cert_parse(pem, n, &c, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_crypto_cert_chain_verify(c, old, fb_time_now(), &err), FB_ERR_EXPIRED);
	fb_crypto_cert_free(c);
	c = NULL;
	/* A leaf and an intermediate: the leaf is the client's. */
	CU_ASSERT_EQUAL_FATAL(fb_crypto_cert_parse(both, strlen(both), &ec, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(fb_crypto_cert_subject(ec), "CN=localhost");
	fb_crypto_cert_free(ec);
	/* Bad input. */
	CU_ASSERT_EQUAL(fb_crypto_cert_parse("", 0, &c, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_crypto_cert_parse("garbage", 7, &c, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_crypto_cert_parse(ecpem, 40, &c, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(c);
	fb_crypto_ca_free(ca);
	fb_crypto_ca_free(other);
	CU_ASSERT_EQUAL(fb_crypto_ca_load(FIX "garbage.pem", &ca, &err), FB_ERR_CONFIG);
	CU_ASSERT_EQUAL(fb_crypto_ca_load(FIX "nosuch.pem", &other, &err), FB_ERR_CONFIG);
	fb_crypto_ca_free(old);
	free(pem);
	free(ecpem);
	free(both);
}

int
fb_test_crypto_register(void)
{
	CU_pSuite s = CU_add_suite("crypto", NULL, NULL);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "key: RSA fixture", test_key_rsa_good) == NULL ||
	    CU_add_test(s, "key: EC fixture", test_key_ec_good) == NULL ||
	    CU_add_test(s, "key: encrypted", test_key_encrypted) == NULL ||
	    CU_add_test(s, "key: certificate mismatch", test_key_mismatch) == NULL ||
	    CU_add_test(s, "key: garbage", test_key_garbage) == NULL ||
	    CU_add_test(s, "key: weak keys refused", test_key_weak) == NULL ||
	    CU_add_test(s, "key: missing file", test_key_missing) == NULL ||
	    CU_add_test(s, "key: warnings", test_key_warnings) == NULL ||
	    CU_add_test(s, "keyring: exactly one active", test_keyring_active_rules) == NULL ||
	    CU_add_test(s, "keys: an older state dir gains an EC key",
	        test_keys_state_dir_gains_ec) == NULL ||
	    CU_add_test(s, "keys: generated in state dir", test_keys_generated_in_state_dir) ==
	        NULL ||
	    CU_add_test(s, "keys: rollover", test_keys_rollover) == NULL ||
	    CU_add_test(s, "keys: activate and retire", test_keys_activate_retire) == NULL ||
	    CU_add_test(s, "seal: round trip", test_seal_roundtrip) == NULL ||
	    CU_add_test(s, "seal: tampered", test_seal_tampered) == NULL ||
	    CU_add_test(s, "seal: expired", test_seal_expired) == NULL ||
	    CU_add_test(s, "seal: keys and rollover", test_seal_keys) == NULL ||
	    CU_add_test(s, "seal: malformed", test_seal_malformed) == NULL ||
	    CU_add_test(s, "csrf", test_csrf) == NULL ||
	    CU_add_test(s, "client certificates (RFC 8705)", test_client_cert) == NULL ||
	    CU_add_test(s, "sealer: cookie-keys file", test_sealer_cookie_keys_file) == NULL ||
	    CU_add_test(s, "keys: generated once by replicas starting together",
	        test_keys_generated_once_by_replicas) == NULL ||
	    CU_add_test(s, "keys: none made per replica on a shared store",
	        test_shared_store_generates_nothing) == NULL ||
	    CU_add_test(s, "sealer: configured secrets", test_sealer_conf_secrets) == NULL)
		return -1;
	return 0;
}
