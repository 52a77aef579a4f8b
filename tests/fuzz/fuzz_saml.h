/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_saml.h: what the two SAML request fuzz targets share: one
 * IdP built once (two service providers, a store in a temporary directory)
 * and the encoders that turn raw XML into binding parameters, so the fuzzer
 * reaches the XML and signature code and not only base64 and inflate.
 * Included by fuzz_saml_redirect.c and fuzz_saml_post.c only.
 */
#ifndef FB_TESTS_FUZZ_SAML_H
#define FB_TESTS_FUZZ_SAML_H

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "saml/saml.h"

#ifndef FB_FIXTURES_DIR
#define FB_FIXTURES_DIR "tests/fixtures"
#endif

/* Inputs longer than this are cut: the decoders' own limits are tested by the unit tests. */
#define FUZZ_SAML_MAX (96 * 1024)
/*
 * The clock of the targets: a little after the seeds were made (their
 * IssueInstant), so that they are fresh and reach the signature, ACS and
 * replay checks instead of stopping at "issued too long ago". Regenerate the
 * seeds with tests/peers/python/gen_saml_corpus.py, which prints the value.
 */
#define FUZZ_SAML_CLOCK 1795464780LL

static struct fb_conf *fz_conf;
static struct fb_keyring *fz_kr;
static struct fb_store *fz_st;
static struct fb_saml_idp *fz_idp;
static char fz_dir[] = "/tmp/fb-fuzz-saml-XXXXXX";
static int fz_null = -1;

/* glib's g_error() stops with SIGTRAP, which libFuzzer does not catch: abort instead, so it
 * records the input. */
static void
fz_on_trap(int sig)
{
	abort();
}

static int
fz_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
fz_teardown(void)
{
	fb_saml_idp_free(fz_idp);
	fb_store_close(fz_st);
	fb_crypto_keyring_free(fz_kr);
	fb_conf_free(fz_conf);
	nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
	if (fz_null >= 0)
		close(fz_null);
}

/*
 * The IdP of https://idp.example.test with "sp" (inline; its requests
 * verify with the fixture RSA key, signing optional) and "aws" (AWS's
 * real metadata). The corpus seeds are made for these two.
 */
static void
fz_setup(void)
{
	struct fb_err err;
	char *yaml;

	if (fz_idp != NULL)
		return;
	fb_time_offset = FUZZ_SAML_CLOCK - (int64_t)time(NULL);
	signal(SIGTRAP, fz_on_trap);
	/* Every refusal is an audit line, written whatever the level: not to the terminal. */
	if ((fz_null = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0)
		fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, fz_null);
	if (mkdtemp(fz_dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	yaml = fb_xasprintf(
	    "server:\n"
	    "  public_url: https://idp.example.test\n"
	    "  state_dir: %s\n"
	    "log:\n"
	    "  level: error\n"
	    "saml:\n"
	    "  service_providers:\n"
	    "    - name: sp\n"
	    "      entity_id: https://sp.example.test/sp\n"
	    "      acs:\n"
	    "        - url: https://sp.example.test/acs\n"
	    "        - url: https://sp.example.test/acs2\n"
	    "          index: 7\n"
	    "      slo_url: https://sp.example.test/slo\n"
	    "      certificate: %s/keys/rsa2048.crt.pem\n"
	    "      require_signed_requests: false\n"
	    "    - name: aws\n"
	    "      metadata: %s/aws/aws-signin-saml-metadata.xml\n"
	    "      profile: aws\n",
	    fz_dir, FB_FIXTURES_DIR, FB_FIXTURES_DIR);
	fb_err_clear(&err);
	if (fb_conf_load_string(yaml, strlen(yaml), "fuzz.yaml", NULL, &fz_conf, NULL, &err) !=
		FB_OK ||
	    fb_crypto_keyring_load(fz_conf, &fz_kr, &err) != FB_OK ||
	    fb_store_open(fz_conf, &fz_st, &err) != FB_OK ||
	    fb_saml_idp_new(fz_conf, fz_kr, NULL, &fz_idp, &err) != FB_OK) {
		fprintf(stderr, "fuzz_saml: setup: %s\n", err.msg);
		abort();
	}
	free(yaml);
	atexit(fz_teardown);
}

/* A NUL-terminated copy of n bytes (new). */
static char *
fz_str(const uint8_t *p, size_t n)
{
	char *s = fb_xmalloc(n + 1);

	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Standard base64 of n bytes (new). */
static char *
fz_base64(const uint8_t *p, size_t n)
{
	char *s = fb_xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* Runs one request through every entry point of its binding; frees what they return. */
static void
fz_run(enum fb_saml_binding binding, const char *query, const char *saml_request,
    const char *relay_state)
{
	struct fb_saml_request *req = NULL;
	struct fb_saml_reply reply;
	struct fb_err err;

	memset(&reply, 0, sizeof(reply));
	if (fb_saml_request_parse(fz_idp, fz_st, binding, query, saml_request, relay_state, "fuzz",
		&req, &reply, &err) == FB_OK) {
		(void)fb_saml_request_id(req);
		(void)fb_saml_request_force_authn(req);
		(void)fb_saml_request_is_passive(req);
		(void)fb_saml_sp_name(fb_saml_request_sp(req));
	}
	fb_saml_request_free(req);
	fb_saml_reply_cleanup(&reply);
	memset(&reply, 0, sizeof(reply));
	(void)fb_saml_logout(fz_idp, fz_st, binding, query, saml_request, relay_state, "fuzz-sid",
	    "fuzz", &reply, &err);
	fb_saml_reply_cleanup(&reply);
}

#endif
