/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/unit/test_saml.c: the SAML IdP. Responses are consumed in memory
 * by a lasso service provider built here (STYLE 2.9), requests are built
 * by one; decoders get bad base64, deflate, XML and DTDs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <lasso/lasso.h>
#include <lasso/saml-2.0/saml2_helper.h>
#include <lasso/xml/misc_text_node.h>
#include <lasso/xml/saml-2.0/saml2_assertion.h>
#include <lasso/xml/saml-2.0/saml2_attribute.h>
#include <lasso/xml/saml-2.0/saml2_attribute_statement.h>
#include <lasso/xml/saml-2.0/saml2_attribute_value.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_response.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "saml/saml.h"
#include "saml/internal.h"
#include "unit.h"

#define AWS_ACS "https://signin.aws.amazon.com/saml"
#define IDP_URL "https://sso.example.com"
#define IDP_ENTITY IDP_URL "/saml/idp/metadata"

/* ---- fixtures -------------------------------------------------------------------- */

/* The shipped mappings plus a few for failure cases. */
static void
write_mappings(const char *dir)
{
	static const char *const shipped[] = {"aws_role", "aws_role_session_name",
	    "aws_session_duration"};
	char *p;

	for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		char *src = fb_xasprintf("%s/mappings/%s.py", FB_SRCDIR, shipped[i]);
		char *name = fb_xasprintf("%s.py", shipped[i]);
		FILE *f = fopen(src, "r");
		char buf[8192];
		size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		buf[n] = '\0';
		if (f != NULL)
			fclose(f);
		free(fb_test_write_file(dir, name, buf));
		free(src);
		free(name);
	}
	free(fb_test_write_file(dir, "bad_role.py", "return [\"arn:aws:iam::1:role/x\"]\n"));
	free(fb_test_write_file(dir, "bad_session.py", "return \"has space\"\n"));
	free(fb_test_write_file(dir, "broken.py", "return user.attributes[\"missing\"]\n"));
	free(fb_test_write_file(dir, "long_duration.py", "return \"99999\"\n"));
	free(fb_test_write_file(dir, "tag_team.py", "return \"platform\"\n"));
	free(fb_test_write_file(dir, "source_id.py", "return user.username\n"));
	free(fb_test_write_file(dir, "email.py", "return user.email\n"));
	p = fb_test_write_file(dir, "multi.py", "return [\"a<b\", \"c&d\", \"e\"]\n");
	free(p);
}

struct env {
	char *dir;
	struct fb_conf *conf;
	struct fb_keyring *kr;
	struct fb_store *st;
	struct fb_saml_idp *idp;
	struct fb_store_user alice, bob, carol;
};

#define BASE_YAML \
    "server:\n" \
    "  public_url: " IDP_URL "\n" \
    "  state_dir: %s/state\n" \
    "keys:\n" \
    "  - id: k1\n" \
    "    key: %s/tests/fixtures/keys/rsa2048.key.pem\n" \
    "    cert: %s/tests/fixtures/keys/rsa2048.crt.pem\n" \
    "mappings:\n" \
    "  dir: %s/mappings\n" \
    "groups:\n" \
    "  - name: superusers\n" \
    "    attributes: {aws_role: Admin}\n" \
    "    members: [alice, bob@example.com]\n" \
    "  - name: others\n" \
    "    members: [carol]\n" \
    "saml:\n" \
    "  service_providers:\n" \
    "    - name: aws\n" \
    "      metadata: %s/tests/fixtures/aws/aws-signin-saml-metadata.xml\n" \
    "      profile: aws\n" \
    "      groups: [superusers, others]\n" \
    "      session_lifetime: 8h\n" \
    "      relay_state: https://console.aws.amazon.com/\n" \
    "      attributes:\n" \
    "        - name: https://aws.amazon.com/SAML/Attributes/Role\n" \
    "          mapping: aws_role\n" \
    "        - name: https://aws.amazon.com/SAML/Attributes/RoleSessionName\n" \
    "          mapping: aws_role_session_name\n" \
    "        - name: https://aws.amazon.com/SAML/Attributes/SessionDuration\n" \
    "          mapping: aws_session_duration\n" \
    "        - name: https://aws.amazon.com/SAML/Attributes/PrincipalTag:team\n" \
    "          mapping: tag_team\n" \
    "    - name: idc\n" \
    "      metadata: %s/tests/fixtures/aws/identity-center-sp-metadata.xml\n" \
    "      profile: aws-identity-center\n" \
    "      nameid: {format: email}\n" \
    "%s"

static int
env_setup(struct env *e, const char *extra)
{
	struct fb_err err = {0};
	char *mdir, *yaml;
	struct fb_store_user *users[] = {&e->alice, &e->bob, &e->carol};
	const char *names[] = {"alice", "bob@example.com", "carol"};
	const char *emails[] = {"alice@example.com", "bob@example.com", NULL};

	memset(e, 0, sizeof(*e));
	e->dir = fb_test_tmpdir();
	mdir = fb_xasprintf("%s/mappings", e->dir);
	mkdir(mdir, 0700);
	write_mappings(mdir);
	free(mdir);
	yaml = fb_xasprintf(BASE_YAML, e->dir, FB_SRCDIR, FB_SRCDIR, e->dir, FB_SRCDIR, FB_SRCDIR,
	    extra != NULL ? extra : "");
	if (fb_conf_load_string(yaml, strlen(yaml), "t.yaml", NULL, &e->conf, NULL, &err) != FB_OK) {
		fprintf(stderr, "\nconf: %s\n", err.msg);
		free(yaml);
		return -1;
	}
	free(yaml);
	if (fb_crypto_keyring_load(e->conf, &e->kr, &err) != FB_OK ||
	    fb_store_open(e->conf, &e->st, &err) != FB_OK ||
	    fb_saml_idp_new(e->conf, e->kr, NULL, &e->idp, &err) != FB_OK) {
		fprintf(stderr, "\nsetup: %s\n", err.msg);
		return -1;
	}
	for (size_t i = 0; i < 3; i++) {
		users[i]->username = fb_xstrdup(names[i]);
		users[i]->email = emails[i] != NULL ? fb_xstrdup(emails[i]) : NULL;
		users[i]->source = fb_xstrdup("local");
		users[i]->active = 1;
		if (fb_store_user_upsert(e->st, users[i], &err) != FB_OK) {
			fprintf(stderr, "\nuser: %s\n", err.msg);
			return -1;
		}
	}
	return 0;
}

static void
env_cleanup(struct env *e)
{
	fb_saml_idp_free(e->idp);
	fb_store_close(e->st);
	fb_crypto_keyring_free(e->kr);
	fb_conf_free(e->conf);
	fb_store_user_cleanup(&e->alice);
	fb_store_user_cleanup(&e->bob);
	fb_store_user_cleanup(&e->carol);
	if (e->dir != NULL)
		fb_test_rmtree(e->dir);
	free(e->dir);
}

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	struct fb_buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	fb_buf_init(&b, 1 << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fb_buf_add(&b, chunk, n, NULL);
	fclose(f);
	return fb_buf_take(&b);
}

static char *
b64_decode(const char *b64)
{
	size_t n = strlen(b64);
	unsigned char *out = fb_xmalloc(n + 1);
	int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);

	out[len > 0 ? len : 0] = '\0';
	return (char *)out;
}

/* Decodes into a buffer kept until the next call (for one-line assertions). */
static const char *
b64_decode_keep(const char *b64)
{
	static char *last;

	free(last);
	last = b64 != NULL ? b64_decode(b64) : NULL;
	return last != NULL ? last : "";
}

static char *
b64_encode(const char *s)
{
	size_t n = strlen(s);
	char *out = fb_xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static struct fb_saml_subject
subject_of(const struct fb_store_user *u)
{
	struct fb_saml_subject s = {u, "sid-123", 0, 0, 0, "192.0.2.7", NULL};

	s.auth_time = fb_time_now() - 10;
	return s;
}

/* ---- a lasso service provider ------------------------------------------------------ */

struct sp {
	LassoServer *srv;
	LassoLogin *login;
	LassoSaml2Assertion *as;
	int rc;
};

/* Consumes a SAMLResponse (base64) as the SP whose metadata is sp_md, trusting our IdP. */
static int
sp_consume(struct env *e, const char *sp_md, const char *key, const char *cert, const char *b64,
    struct sp *sp)
{
	char *idp_md = NULL;
	struct fb_err err = {0};

	memset(sp, 0, sizeof(*sp));
	if (fb_saml_idp_metadata(e->idp, 0, &idp_md, NULL, &err) != FB_OK)
		return -1;
	sp->srv = lasso_server_new_from_buffers(sp_md, key, NULL, cert);
	if (sp->srv == NULL ||
	    lasso_server_add_provider_from_buffer(sp->srv, LASSO_PROVIDER_ROLE_IDP, idp_md, NULL,
		NULL) != 0) {
		free(idp_md);
		return -1;
	}
	free(idp_md);
	sp->login = lasso_login_new(sp->srv);
	sp->rc = lasso_login_process_authn_response_msg(sp->login, (char *)b64);
	if (sp->rc == 0)
		sp->as = LASSO_SAML2_ASSERTION(lasso_login_get_assertion(sp->login));
	return sp->rc;
}

static void
sp_cleanup(struct sp *sp)
{
	if (sp->as != NULL)
		g_object_unref(sp->as);
	if (sp->login != NULL)
		lasso_login_destroy(sp->login);
	if (sp->srv != NULL)
		lasso_server_destroy(sp->srv);
}

/* The values of attribute name in the assertion, joined with '|' (new; "" when absent). */
static char *
attr_values(LassoSaml2Assertion *as, const char *name)
{
	struct fb_buf b;
	GList *s, *a, *v, *t;

	fb_buf_init(&b, 65536);
	fb_buf_add(&b, "", 0, NULL);
	for (s = as->AttributeStatement; s != NULL; s = s->next)
		for (a = LASSO_SAML2_ATTRIBUTE_STATEMENT(s->data)->Attribute; a != NULL; a = a->next) {
			LassoSaml2Attribute *at = LASSO_SAML2_ATTRIBUTE(a->data);

			if (strcmp(at->Name, name) != 0)
				continue;
			for (v = at->AttributeValue; v != NULL; v = v->next)
				for (t = LASSO_SAML2_ATTRIBUTE_VALUE(v->data)->any; t != NULL; t = t->next)
					if (LASSO_IS_MISC_TEXT_NODE(t->data))
						fb_buf_addf(&b, NULL, "%s%s", b.len > 0 ? "|" : "",
						    LASSO_MISC_TEXT_NODE(t->data)->content);
		}
	return fb_buf_take(&b);
}

/* ---- binding ------------------------------------------------------------------------- */

static char *
deflate_b64(const char *xml)
{
	z_stream z;
	unsigned char out[65536];
	char *b64;

	memset(&z, 0, sizeof(z));
	deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (unsigned char *)(uintptr_t)xml;
	z.avail_in = (uInt)strlen(xml);
	z.next_out = out;
	z.avail_out = sizeof(out);
	deflate(&z, Z_FINISH);
	b64 = fb_xmalloc(4 * ((z.total_out + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, out, (int)z.total_out);
	deflateEnd(&z);
	return b64;
}

static void
test_decode(void)
{
	struct fb_err err = {0};
	char *out = NULL, *b64, *big;
	size_t len = 0;

	/* POST: base64 only, whitespace allowed. */
	CU_ASSERT_EQUAL(fb_saml_message_decode("PGEvPg==", 0, &out, &len, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out, "<a/>");
	free(out);
	CU_ASSERT_EQUAL(fb_saml_message_decode("PGEv\r\nPg==", 0, &out, &len, &err), FB_OK);
	free(out);
	/* Every length (so every padding), against OpenSSL's encoder, with line breaks. */
	for (size_t n = 1; n < 200; n++) {
		char text[200], enc[300], wrapped[400];
		size_t k = 0;
		int el;

		for (size_t i = 0; i < n; i++)
			text[i] = (char)('a' + (i * 7 + n) % 26);
		el = EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)text, (int)n);
		for (int i = 0; i < el; i++) {
			wrapped[k++] = enc[i];
			if (i % 76 == 75)
				wrapped[k++] = '\n';
		}
		wrapped[k] = '\0';
		CU_ASSERT_EQUAL_FATAL(fb_saml_message_decode(wrapped, 0, &out, &len, &err), FB_OK);
		CU_ASSERT_EQUAL(len, n);
		CU_ASSERT_EQUAL(memcmp(out, text, n), 0);
		free(out);
	}
	CU_ASSERT_EQUAL(fb_saml_message_decode("PGE=", 0, &out, &len, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out, "<a");
	free(out);
	CU_ASSERT_EQUAL(fb_saml_message_decode("PG===", 0, &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_saml_message_decode("====", 0, &out, &len, &err), FB_ERR_INVALID);
	/* Bad base64: wrong characters, length, padding in the middle. */
	CU_ASSERT_EQUAL(fb_saml_message_decode("PGEvPg=*", 0, &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_EQUAL(fb_saml_message_decode("PGEvP", 0, &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_saml_message_decode("PG==PGEv", 0, &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_saml_message_decode("", 0, &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_saml_message_decode(NULL, 0, &out, &len, &err), FB_ERR_INVALID);
	/* Redirect: raw DEFLATE. */
	b64 = deflate_b64("<samlp:AuthnRequest/>");
	CU_ASSERT_EQUAL(fb_saml_message_decode(b64, 1, &out, &len, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out, "<samlp:AuthnRequest/>");
	free(out);
	free(b64);
	/* Not deflate data. */
	CU_ASSERT_EQUAL(fb_saml_message_decode("PGEvPg==", 1, &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "DEFLATE"));
	/* A deflate bomb stops at the limit. */
	big = fb_xcalloc(FB_SAML_INFLATED_MAX + 100, 1);
	memset(big, 'a', FB_SAML_INFLATED_MAX + 50);
	b64 = deflate_b64(big);
	CU_ASSERT_EQUAL(fb_saml_message_decode(b64, 1, &out, &len, &err), FB_ERR_LIMIT);
	free(b64);
	/* An oversized parameter is refused before decoding. */
	memset(big, 'A', FB_SAML_MESSAGE_MAX + 4);
	big[FB_SAML_MESSAGE_MAX + 4] = '\0';
	CU_ASSERT_EQUAL(fb_saml_message_decode(big, 0, &out, &len, &err), FB_ERR_LIMIT);
	free(big);
	/* DOCTYPE and ENTITY are refused whatever the case. */
	b64 = b64_encode("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>");
	CU_ASSERT_EQUAL(fb_saml_message_decode(b64, 0, &out, &len, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "DOCTYPE"));
	free(b64);
	b64 = b64_encode("<?xml version=\"1.0\"?><!doctype a SYSTEM \"http://x/\"><a/>");
	CU_ASSERT_EQUAL(fb_saml_message_decode(b64, 0, &out, &len, &err), FB_ERR_INVALID);
	free(b64);
	b64 = deflate_b64("<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a/>");
	CU_ASSERT_EQUAL(fb_saml_message_decode(b64, 1, &out, &len, &err), FB_ERR_INVALID);
	free(b64);
	/* Not UTF-8. */
	CU_ASSERT_EQUAL(fb_saml_message_decode("/w==", 0, &out, &len, &err), FB_ERR_INVALID);
}

/* The one RelayState rule (issue 10, finding 8) and the reasons a parameter does not decode. */
static void
test_relay_state_rule(void)
{
	static const char *const bad[] = {"a\x01" "b", "a\nb", "a\x7f", "a\xc2\x85" "b", "\xff"};
	struct fb_err err = {0};
	char long_rs[FB_SAML_RELAY_STATE_MAX + 2], *out = NULL;

	CU_ASSERT_EQUAL(fb_saml_relay_state_check(NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_relay_state_check("https://console.aws.amazon.com/?a=b#c", &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_saml_relay_state_check("caf\xc3\xa9 \xc2\xa0", &err), FB_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(fb_saml_relay_state_check(bad[i], &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "UTF-8"));
	memset(long_rs, 'x', sizeof(long_rs) - 1);
	long_rs[FB_SAML_RELAY_STATE_MAX] = '\0';
	CU_ASSERT_EQUAL(fb_saml_relay_state_check(long_rs, &err), FB_OK);
	long_rs[FB_SAML_RELAY_STATE_MAX] = 'x';
	long_rs[FB_SAML_RELAY_STATE_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(fb_saml_relay_state_check(long_rs, &err), FB_ERR_LIMIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1024"));
	/* An encoded NUL is named, not cut; a bad escape likewise. */
	CU_ASSERT_EQUAL(fb_saml_param_decode("a%00b", 5, 1, "RelayState", &out, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "RelayState holds an encoded NUL"));
	CU_ASSERT_EQUAL(fb_saml_param_decode("a%zzb", 5, 1, "RelayState", &out, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad %-escape"));
	CU_ASSERT_EQUAL(fb_saml_param_decode("a+%41", 5, 1, "RelayState", &out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out, "a A");
	free(out);
	CU_ASSERT_EQUAL(fb_saml_form_get("RelayState=a%00b", 16, "RelayState", &out, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NUL"));
}

static void
test_query_and_form(void)
{
	size_t len = 0;
	int dup = 0;
	const char *v;
	char *out = NULL;
	struct fb_err err = {0};

	v = fb_saml_query_param("SAMLRequest=abc%2B&RelayState=x&SigAlg=y", "RelayState", &len,
	    &dup);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(len, 1);
	CU_ASSERT_EQUAL(dup, 0);
	v = fb_saml_query_param("SAMLRequest=abc&SAMLRequest=def", "SAMLRequest", &len, &dup);
	CU_ASSERT_EQUAL(dup, 1);
	CU_ASSERT_PTR_NULL(fb_saml_query_param("SAMLRequestX=1", "SAMLRequest", &len, &dup));
	CU_ASSERT_EQUAL(fb_saml_form_get("a=1&SAMLRequest=ab%2Bc+d", 24, "SAMLRequest", &out, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(out, "ab+c d");
	free(out);
	CU_ASSERT_EQUAL(fb_saml_form_get("SAMLRequest=%zz", 15, "SAMLRequest", &out, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_saml_form_get("SAMLRequest=%00", 15, "SAMLRequest", &out, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_saml_form_get("x=1", 3, "SAMLRequest", &out, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_saml_form_get("SAMLRequest=1&SAMLRequest=2", 27, "SAMLRequest", &out,
			    &err),
	    FB_ERR_INVALID);
}

/* ---- AWS checks -------------------------------------------------------------------- */

/* Runs the classic checks on attrs (JSON text); returns the rules broken, joined by ' '. */
static char *
aws_rules(const char *attrs_json, int idc, const char *nameid)
{
	json_t *attrs = json_loads(attrs_json, 0, NULL), *out = NULL, *p;
	struct fb_buf b;
	size_t i;
	int ok = -1;

	fb_saml_aws_check(attrs, idc, idc ? FB_SAML_NAMEID_EMAIL : NULL, nameid, 1, &out, &ok);
	fb_buf_init(&b, 4096);
	fb_buf_add(&b, "", 0, NULL);
	size_t failed = 0, passed = 0;

	json_array_foreach(out, i, p) {
		if (json_is_true(json_object_get(p, "ok"))) {
			passed++;
			continue;
		}
		/* The failures come first. */
		CU_ASSERT_EQUAL(passed, 0);
		fb_buf_addf(&b, NULL, "%s%s", failed++ > 0 ? " " : "",
		    json_string_value(json_object_get(p, "rule")));
	}
	/* Every rule gets a verdict: the classic ones at least 5, Identity Center's 2. */
	CU_ASSERT(failed + passed >= (idc ? 2u : 5u));
	CU_ASSERT_EQUAL(ok, failed == 0);
	json_decref(out);
	/* Without the rules passed (a sign-in): the same failures and verdict, nothing else. */
	{
		int ok2 = -1;

		fb_saml_aws_check(attrs, idc, idc ? FB_SAML_NAMEID_EMAIL : NULL, nameid, 0, &out,
		    &ok2);
		CU_ASSERT_EQUAL(json_array_size(out), failed);
		CU_ASSERT_EQUAL(ok2, ok);
		json_array_foreach(out, i, p)
			CU_ASSERT(!json_is_true(json_object_get(p, "ok")));
		json_decref(out);
	}
	json_decref(attrs);
	return fb_buf_take(&b);
}

static void
check_rules(const char *attrs, int idc, const char *nameid, const char *want)
{
	char *got = aws_rules(attrs, idc, nameid);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "\n%s\n  got:  '%s'\n  want: '%s'\n", attrs, got, want);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);
}

#define R FB_SAML_AWS_ATTR_ROLE
#define S FB_SAML_AWS_ATTR_ROLE_SESSION
#define GOOD_ROLE "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/fb"

static void
test_aws_checks(void)
{
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"alice\"]}", 0, NULL, "");
	/* Provider first is accepted too; paths in role names; other partitions. */
	check_rules("{\"" R "\": [\"arn:aws:iam::123456789012:saml-provider/fb,"
		    "arn:aws:iam::123456789012:role/path/to/Dev\"], \"" S "\": [\"a@b.c\"]}",
	    0, NULL, "");
	check_rules("{\"" R "\": [\"arn:aws-us-gov:iam::123456789012:role/R,"
		    "arn:aws-us-gov:iam::123456789012:saml-provider/P\"], \"" S "\": [\"ab\"]}",
	    0, NULL, "");
	check_rules("{\"" S "\": [\"alice\"]}", 0, NULL, "aws-role-required");
	check_rules("{\"" R "\": [], \"" S "\": [\"alice\"]}", 0, NULL, "aws-role-required");
	check_rules("{\"" R "\": [\"arn:aws:iam::123456789012:role/Admin\"], \"" S "\": [\"al\"]}", 0,
	    NULL, "aws-role-format");
	check_rules("{\"" R "\": [\"arn:aws:iam::12345:role/A,arn:aws:iam::123456789012:saml-"
		    "provider/p\"], \"" S "\": [\"al\"]}",
	    0, NULL, "aws-role-format");
	check_rules("{\"" R "\": [\"arn:aws:iam::123456789012:role/A,arn:aws:iam::123456789012:role/"
		    "B\"], \"" S "\": [\"al\"]}",
	    0, NULL, "aws-role-format");
	check_rules("{\"" R "\": [\"" GOOD_ROLE ",x\"], \"" S "\": [\"al\"]}", 0, NULL,
	    "aws-role-format");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"]}", 0, NULL, "aws-role-session-name-required");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"a b\"]}", 0, NULL,
	    "aws-role-session-name-format");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"a\"]}", 0, NULL,
	    "aws-role-session-name-format");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S
		    "\": [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}",
	    0, NULL, "aws-role-session-name-format");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"ab\", \"cd\"]}", 0, NULL,
	    "aws-role-session-name-single");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"ab\"], \"" FB_SAML_AWS_ATTR_SOURCE_IDENTITY
		    "\": [\"aws:me\"]}",
	    0, NULL, "aws-source-identity-format");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"ab\"], \"" FB_SAML_AWS_ATTR_SOURCE_IDENTITY
		    "\": [\"alice@example.com\"]}",
	    0, NULL, "");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"ab\"], \"" FB_SAML_AWS_ATTR_DURATION
		    "\": [\"899\"]}",
	    0, NULL, "aws-session-duration-range");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"ab\"], \"" FB_SAML_AWS_ATTR_DURATION
		    "\": [\"43201\"]}",
	    0, NULL, "aws-session-duration-range");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"ab\"], \"" FB_SAML_AWS_ATTR_DURATION
		    "\": [\"1h\"]}",
	    0, NULL, "aws-session-duration-range");
	check_rules("{\"" R "\": [\"" GOOD_ROLE "\"], \"" S "\": [\"ab\"], \"" FB_SAML_AWS_ATTR_DURATION
		    "\": [\"900\"], \"" FB_SAML_AWS_ATTR_PRINCIPAL_TAG "team\": [\"a\", \"b\"]}",
	    0, NULL, "aws-principal-tag-single");
	/* Identity Center: the NameID must be an addr-spec. */
	check_rules("{}", 1, "alice@example.com", "");
	check_rules("{}", 1, "alice", "aws-idc-nameid-addr-spec");
	check_rules("{}", 1, "a b@example.com", "aws-idc-nameid-addr-spec");
}

/* ---- IdP-initiated sign-on, consumed by lasso ------------------------------------------- */

static void
test_idp_initiated_aws(void)
{
	struct env e;
	struct fb_saml_reply r = {0};
	struct fb_err err = {0};
	struct fb_saml_subject who;
	struct sp sp;
	char *sp_md, *xml, *v, *nameid1 = NULL;
	LassoSaml2SubjectConfirmationData *scd;
	const struct fb_saml_sp *aws;

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	aws = fb_saml_idp_sp_get(e.idp, "aws");
	CU_ASSERT_PTR_NOT_NULL_FATAL(aws);
	CU_ASSERT_STRING_EQUAL(fb_saml_sp_default_acs(aws), AWS_ACS);
	who = subject_of(&e.alice);
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_initiated(e.idp, e.st, aws, &who, NULL, "req1", &r, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(r.post_url, AWS_ACS);
	CU_ASSERT_STRING_EQUAL(r.post_field, "SAMLResponse");
	/* The SP's configured RelayState when the link gives none. */
	CU_ASSERT_STRING_EQUAL(r.relay_state, "https://console.aws.amazon.com/");
	xml = b64_decode(r.post_value);
	if (getenv("FB_TEST_DUMP") != NULL)
		fprintf(stderr, "\n%s\n", xml);
	/* Both signed (the default), RSA-SHA256 with SHA-256 digests, no DOCTYPE. */
	CU_ASSERT_EQUAL(count(xml, "<ds:Signature "), 2);
	CU_ASSERT_EQUAL(count(xml, "xmldsig-more#rsa-sha256"), 2);
	CU_ASSERT_EQUAL(count(xml, "xmlenc#sha256"), 2);
	CU_ASSERT_EQUAL(count(xml, "SubjectConfirmation "), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Destination=\"" AWS_ACS "\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "SessionNotOnOrAfter="));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "SessionIndex=\"_"));
	CU_ASSERT_PTR_NULL(strstr(xml, "sid-123")); /* the SessionIndex does not reveal the sid */
	/* The classic AWS SP, consuming it. */
	sp_md = read_text(FB_SRCDIR "/tests/fixtures/aws/aws-signin-saml-metadata.xml");
	CU_ASSERT_EQUAL(sp_consume(&e, sp_md, NULL, NULL, r.post_value, &sp), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp.as);
	CU_ASSERT_EQUAL(LASSO_PROFILE(sp.login)->signature_status, 0);
	CU_ASSERT_STRING_EQUAL(
	    LASSO_SAMLP2_STATUS_RESPONSE(LASSO_PROFILE(sp.login)->response)->Destination, AWS_ACS);
	CU_ASSERT_STRING_EQUAL(sp.as->Issuer->content, IDP_ENTITY);
	CU_ASSERT_EQUAL(lasso_saml2_assertion_validate_audience(sp.as, "urn:amazon:webservices"),
	    LASSO_SAML2_ASSERTION_VALID);
	CU_ASSERT_EQUAL(lasso_saml2_assertion_validate_time_checks(sp.as, 0, time(NULL)),
	    LASSO_SAML2_ASSERTION_VALID);
	CU_ASSERT_NOT_EQUAL(lasso_saml2_assertion_validate_time_checks(sp.as, 0, time(NULL) + 3600),
	    LASSO_SAML2_ASSERTION_VALID);
	scd = lasso_saml2_assertion_get_subject_confirmation_data(sp.as, FALSE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(scd);
	CU_ASSERT_STRING_EQUAL(scd->Recipient, AWS_ACS);
	CU_ASSERT_PTR_NOT_NULL(scd->NotOnOrAfter);
	CU_ASSERT_PTR_NULL(scd->InResponseTo);
	CU_ASSERT_STRING_EQUAL(sp.as->Subject->NameID->Format, FB_SAML_NAMEID_PERSISTENT);
	nameid1 = fb_xstrdup(sp.as->Subject->NameID->content);
	v = attr_values(sp.as, FB_SAML_AWS_ATTR_ROLE);
	CU_ASSERT_STRING_EQUAL(v, "arn:aws:iam::123412341234:role/Admin,"
				  "arn:aws:iam::123412341234:saml-provider/fedbroker");
	free(v);
	v = attr_values(sp.as, FB_SAML_AWS_ATTR_ROLE_SESSION);
	CU_ASSERT_STRING_EQUAL(v, "alice");
	free(v);
	v = attr_values(sp.as, FB_SAML_AWS_ATTR_DURATION);
	CU_ASSERT_STRING_EQUAL(v, "28800");
	free(v);
	v = attr_values(sp.as, FB_SAML_AWS_ATTR_PRINCIPAL_TAG "team");
	CU_ASSERT_STRING_EQUAL(v, "platform");
	free(v);
	sp_cleanup(&sp);
	free(xml);
	/* A second sign-in: the same persistent NameID, a new Response and Assertion ID. */
	{
		struct fb_saml_reply r2 = {0};
		char *xml1 = b64_decode(r.post_value), *xml2;

		CU_ASSERT_EQUAL_FATAL(
		    fb_saml_idp_initiated(e.idp, e.st, aws, &who, "/next", "req2", &r2, &err), FB_OK);
		CU_ASSERT_STRING_EQUAL(r2.relay_state, "/next");
		CU_ASSERT_EQUAL(sp_consume(&e, sp_md, NULL, NULL, r2.post_value, &sp), 0);
		CU_ASSERT_STRING_EQUAL(sp.as->Subject->NameID->content, nameid1);
		xml2 = b64_decode(r2.post_value);
		CU_ASSERT_STRING_NOT_EQUAL(strstr(xml1, " ID=\""), strstr(xml2, " ID=\""));
		sp_cleanup(&sp);
		free(xml1);
		free(xml2);
		fb_saml_reply_cleanup(&r2);
	}
	/*
	 * What the session check read with the session (who.known: one round trip)
	 * is what the answer uses: no read of its own.
	 */
	{
		struct fb_saml_reply r3 = {0};
		struct fb_store_signon known = {NULL, 0, (char *)"nameid-read-with-the-session",
		    NULL, 0};
		struct fb_saml_subject w = who;

		w.known = &known;
		CU_ASSERT_EQUAL_FATAL(fb_saml_idp_initiated(e.idp, e.st, aws, &w, NULL, "req3", &r3,
		                          &err),
		    FB_OK);
		CU_ASSERT_EQUAL(sp_consume(&e, sp_md, NULL, NULL, r3.post_value, &sp), 0);
		CU_ASSERT_STRING_EQUAL(sp.as->Subject->NameID->content,
		    "nameid-read-with-the-session");
		sp_cleanup(&sp);
		fb_saml_reply_cleanup(&r3);
	}
	/* Tampering with an attribute value breaks the signature. */
	{
		char *x = b64_decode(r.post_value), *p = strstr(x, "role/Admin"), *t;

		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		memcpy(p + 5, "Owner", 5);
		t = b64_encode(x);
		CU_ASSERT_NOT_EQUAL(sp_consume(&e, sp_md, NULL, NULL, t, &sp), 0);
		sp_cleanup(&sp);
		free(t);
		free(x);
	}
	free(nameid1);
	free(sp_md);
	fb_saml_reply_cleanup(&r);
	env_cleanup(&e);
}

/* Refusals: not allowed, no role, bad values, a failing mapping: a page, never a response. */
static void
test_idp_initiated_refusals(void)
{
	struct env e;
	struct fb_saml_reply r = {0};
	struct fb_err err = {0};
	struct fb_saml_subject who;
	const struct fb_saml_sp *sp;
	const char *extra =
	    "    - name: badrole\n"
	    "      entity_id: urn:test:badrole\n"
	    "      acs: [{url: 'https://badrole.example.com/acs'}]\n"
	    "      profile: aws\n"
	    "      attributes:\n"
	    "        - {name: 'https://aws.amazon.com/SAML/Attributes/Role', mapping: bad_role}\n"
	    "        - {name: 'https://aws.amazon.com/SAML/Attributes/RoleSessionName', mapping: "
	    "bad_session}\n"
	    "    - name: broken\n"
	    "      entity_id: urn:test:broken\n"
	    "      acs: [{url: 'https://broken.example.com/acs'}]\n"
	    "      attributes:\n"
	    "        - {name: x, mapping: broken}\n"
	    "    - name: duration\n"
	    "      entity_id: urn:test:duration\n"
	    "      acs: [{url: 'https://duration.example.com/acs'}]\n"
	    "      profile: aws\n"
	    "      groups: [superusers]\n"
	    "      attributes:\n"
	    "        - {name: 'https://aws.amazon.com/SAML/Attributes/Role', mapping: aws_role}\n"
	    "        - {name: 'https://aws.amazon.com/SAML/Attributes/RoleSessionName', mapping: "
	    "aws_role_session_name}\n"
	    "        - {name: 'https://aws.amazon.com/SAML/Attributes/SessionDuration', mapping: "
	    "long_duration}\n";

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, extra), 0);
	/* carol is allowed at aws (group others) but her groups grant no aws_role. */
	who = subject_of(&e.carol);
	sp = fb_saml_idp_sp_get(e.idp, "aws");
	CU_ASSERT_EQUAL(fb_saml_idp_initiated(e.idp, e.st, sp, &who, NULL, "r", &r, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_PTR_NULL(r.post_url);
	CU_ASSERT_EQUAL(r.http_status, 403);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_aws_check_failed");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "aws-role-required"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "aws_role"));
	/* carol is not in superusers: not allowed at duration. */
	sp = fb_saml_idp_sp_get(e.idp, "duration");
	CU_ASSERT_EQUAL(fb_saml_idp_initiated(e.idp, e.st, sp, &who, NULL, "r", &r, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_sp_denied");
	CU_ASSERT_PTR_NULL(r.post_url);
	who = subject_of(&e.alice);
	CU_ASSERT_EQUAL(fb_saml_idp_initiated(e.idp, e.st, sp, &who, NULL, "r", &r, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "aws-session-duration-range"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "long_duration"));
	sp = fb_saml_idp_sp_get(e.idp, "badrole");
	CU_ASSERT_EQUAL(fb_saml_idp_initiated(e.idp, e.st, sp, &who, NULL, "r", &r, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "aws-role-format"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "bad_role"));
	sp = fb_saml_idp_sp_get(e.idp, "broken");
	CU_ASSERT_EQUAL(fb_saml_idp_initiated(e.idp, e.st, sp, &who, NULL, "r", &r, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_mapping_failed");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "broken:1:"));
	/* A RelayState with control characters is refused. */
	sp = fb_saml_idp_sp_get(e.idp, "aws");
	CU_ASSERT_EQUAL(fb_saml_idp_initiated(e.idp, e.st, sp, &who, "a\nb", "r", &r, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(r.http_status, 400);
	fb_saml_reply_cleanup(&r);
	env_cleanup(&e);
}

static void
test_identity_center(void)
{
	struct env e;
	struct fb_saml_reply r = {0};
	struct fb_err err = {0};
	struct fb_saml_subject who;
	const struct fb_saml_sp *sp;
	struct sp lsp;
	char *sp_md, *xml;

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	sp = fb_saml_idp_sp_get(e.idp, "idc");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	/* alice's username is not an email: refused before anything is sent. */
	who = subject_of(&e.alice);
	CU_ASSERT_EQUAL(fb_saml_idp_initiated(e.idp, e.st, sp, &who, NULL, "r", &r, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "aws-idc-nameid-addr-spec"));
	/* bob@example.com's is. */
	who = subject_of(&e.bob);
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_initiated(e.idp, e.st, sp, &who, NULL, "r", &r, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(r.post_url,
	    "https://us-east-1.signin.aws/platform/saml/acs/4941442d6e756de2-7ca3-4e79-ac25-d7469b3eee1e");
	xml = b64_decode(r.post_value);
	CU_ASSERT_EQUAL(count(xml, "<saml:Assertion"), 1);
	CU_ASSERT_PTR_NULL(strstr(xml, "EncryptedAssertion"));
	free(xml);
	sp_md = read_text(FB_SRCDIR "/tests/fixtures/aws/identity-center-sp-metadata.xml");
	CU_ASSERT_EQUAL(sp_consume(&e, sp_md, NULL, NULL, r.post_value, &lsp), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lsp.as);
	CU_ASSERT_STRING_EQUAL(lsp.as->Subject->NameID->Format, FB_SAML_NAMEID_EMAIL);
	CU_ASSERT_STRING_EQUAL(lsp.as->Subject->NameID->content, "bob@example.com");
	CU_ASSERT_EQUAL(lasso_saml2_assertion_validate_audience(lsp.as,
			    "https://us-east-1.signin.aws.amazon.com/platform/saml/d-90660f6748"),
	    LASSO_SAML2_ASSERTION_VALID);
	sp_cleanup(&lsp);
	free(sp_md);
	fb_saml_reply_cleanup(&r);
	env_cleanup(&e);
}

/* ---- IDs: unique across fork() ----------------------------------------------------------- */

static void
test_ids_across_fork(void)
{
	struct env e;
	int fds[2];
	char child_id[128] = {0};
	struct fb_saml_reply r = {0};
	struct fb_err err = {0};
	struct fb_saml_subject who;
	pid_t pid;
	char *xml, *mine;

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	who = subject_of(&e.alice);
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	/* A store handle must not cross fork(): each process opens its own. */
	fb_store_close(e.st);
	e.st = NULL;
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		/* The child builds a response exactly like the parent and sends its ID. */
		struct fb_saml_reply cr = {0};
		char *cx, *id;
		const struct fb_saml_sp *sp = fb_saml_idp_sp_get(e.idp, "aws");

		if (fb_store_open(e.conf, &e.st, &err) != FB_OK ||
		    fb_saml_idp_initiated(e.idp, e.st, sp, &who, NULL, "c", &cr, &err) != FB_OK)
			_exit(1);
		cx = b64_decode(cr.post_value);
		id = strstr(cx, " ID=\"");
		if (id == NULL || write(fds[1], id + 5, 41) != 41)
			_exit(1);
		/* Freed so that memory checkers following the child see no leak. */
		free(cx);
		fb_saml_reply_cleanup(&cr);
		fb_store_close(e.st);
		fb_saml_idp_free(e.idp);
		fb_crypto_keyring_free(e.kr);
		fb_conf_free(e.conf);
		fb_store_user_cleanup(&e.alice);
		fb_store_user_cleanup(&e.bob);
		fb_store_user_cleanup(&e.carol);
		free(e.dir);
		_exit(0);
	}
	close(fds[1]);
	CU_ASSERT_EQUAL(read(fds[0], child_id, 41), 41);
	close(fds[0]);
	waitpid(pid, NULL, 0);
	CU_ASSERT_EQUAL_FATAL(fb_store_open(e.conf, &e.st, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_initiated(e.idp, e.st, fb_saml_idp_sp_get(e.idp, "aws"),
				  &who, NULL, "p", &r, &err),
	    FB_OK);
	xml = b64_decode(r.post_value);
	mine = strstr(xml, " ID=\"");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mine);
	CU_ASSERT_EQUAL(child_id[0], '_');
	CU_ASSERT_NOT_EQUAL(strncmp(mine + 5, child_id, 41), 0);
	free(xml);
	fb_saml_reply_cleanup(&r);
	env_cleanup(&e);
}

/* ---- SP-initiated: requests built by a lasso SP ----------------------------------------- */

#define APP "https://app.example.com"

/* The app SP of the running test (tests run one at a time). */
static struct app *cur_app;
static const char *app_key_pem;

/* Replaces a glib string member. */
static void
set_str(char **slot, const char *v)
{
	g_free(*slot);
	*slot = g_strdup(v);
}

/* A signing SP "app": key and certificate generated, metadata written, configured by file. */
struct app {
	char *key_pem, *cert_pem, *metadata, *md_path;
	char *key_file, *cert_file;
	struct fb_keyring *kr;	 /* the app's key, loaded as fedbroker loads its own */
	struct fb_saml_key *keys; /* ... and made an xmlsec key, to sign its requests */
	size_t nkeys;
};

static char *
pem_body(const char *pem)
{
	const char *b = strstr(pem, "-----\n") + 6, *e = strstr(b, "-----END");
	char *out = fb_xmalloc((size_t)(e - b) + 1);
	size_t k = 0;

	for (const char *p = b; p < e; p++)
		if (*p != '\n' && *p != '\r')
			out[k++] = *p;
	out[k] = '\0';
	return out;
}

static void
app_make(const char *dir, struct app *a, int signed_requests)
{
	struct fb_err err = {0};
	char *kdir = fb_xasprintf("%s/appkeys", dir), *body;

	memset(a, 0, sizeof(*a));
	CU_ASSERT_EQUAL_FATAL(fb_crypto_key_generate(kdir, "app", "rsa", 2048, 30, "app",
				  FB_KEY_ACTIVE, &err),
	    FB_OK);
	a->key_file = fb_xasprintf("%s/app.key.pem", kdir);
	a->key_pem = read_text(a->key_file);
	a->cert_file = fb_xasprintf("%s/app.crt.pem", kdir);
	a->cert_pem = read_text(a->cert_file);
	{
		struct fb_conf_key k = {(char *)"app", a->key_file, a->cert_file, NULL,
		    FB_KEY_ACTIVE};
		struct fb_conf c;

		memset(&c, 0, sizeof(c));
		c.keys = &k;
		c.nkeys = 1;
		CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&c, &a->kr, &err), FB_OK);
		CU_ASSERT_EQUAL_FATAL(fb_saml_keys_load(a->kr, &a->keys, &a->nkeys, &err), FB_OK);
	}
	body = pem_body(a->cert_pem);
	a->metadata = fb_xasprintf(
	    "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
	    "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"" APP "/sp\">\n"
	    "<md:SPSSODescriptor AuthnRequestsSigned=\"%s\" WantAssertionsSigned=\"true\" "
	    "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n"
	    "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s"
	    "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n"
	    "<md:SingleLogoutService Binding=\"" FB_SAML_BINDING_REDIRECT_URI "\" Location=\"" APP
	    "/slo\"/>\n"
	    "<md:SingleLogoutService Binding=\"" FB_SAML_BINDING_POST_URI "\" Location=\"" APP
	    "/slo-post\"/>\n"
	    "<md:NameIDFormat>" FB_SAML_NAMEID_PERSISTENT "</md:NameIDFormat>\n"
	    "<md:AssertionConsumerService Binding=\"" FB_SAML_BINDING_POST_URI "\" Location=\"" APP
	    "/acs\" index=\"0\" isDefault=\"true\"/>\n"
	    "<md:AssertionConsumerService Binding=\"" FB_SAML_BINDING_POST_URI "\" Location=\"" APP
	    "/acs2\" index=\"1\"/>\n"
	    "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-"
	    "Artifact\" Location=\"" APP "/art\" index=\"2\"/>\n"
	    "</md:SPSSODescriptor></md:EntityDescriptor>\n",
	    signed_requests ? "true" : "false", body);
	a->md_path = fb_test_write_file(dir, "app.xml", a->metadata);
	free(body);
	free(kdir);
}

static void
app_free(struct app *a)
{
	fb_saml_keys_free(a->keys, a->nkeys);
	fb_crypto_keyring_free(a->kr);
	free(a->key_file);
	free(a->cert_file);
	free(a->key_pem);
	free(a->cert_pem);
	free(a->metadata);
	free(a->md_path);
}

/* An env with the app SP (metadata file written first, so it goes in the configuration). */
static int
env_with_app(struct env *e, struct app *a, int signed_requests, const char *more)
{
	char *dir = fb_test_tmpdir(), *extra;
	int rc;

	app_make(dir, a, signed_requests);
	extra = fb_xasprintf("    - name: app\n"
			     "      metadata: %s\n"
			     "%s",
	    a->md_path, more != NULL ? more : "");
	rc = env_setup(e, extra);
	free(extra);
	/* The app's files live in their own directory, removed with the env's. */
	if (e->dir != NULL) {
		char *cmd = fb_xasprintf("%s/app", e->dir);

		rename(dir, cmd);
		free(cmd);
	}
	free(dir);
	return rc;
}

/*
 * A lasso SP of app, trusting our IdP. It holds no key: lasso 2.8.1 leaks
 * memory for every key it loads, so the test signs the app's messages
 * itself with fedbroker's xmlsec signer (app_sign).
 */
static LassoServer *
app_server(struct env *e, struct app *a)
{
	char *idp_md = NULL;
	LassoServer *srv;

	fb_saml_idp_metadata(e->idp, 0, &idp_md, NULL, NULL);
	srv = lasso_server_new_from_buffers(a->metadata, NULL, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
	srv->signature_method = LASSO_SIGNATURE_METHOD_RSA_SHA256;
	CU_ASSERT_EQUAL(lasso_server_add_provider_from_buffer(srv, LASSO_PROVIDER_ROLE_IDP, idp_md,
			    NULL, NULL),
	    0);
	free(idp_md);
	return srv;
}

/* Signs a POST message (base64 of XML) of the app with its key: enveloped, after the Issuer. */
static char *
app_sign(struct app *a, const char *b64, int sha1)
{
	char *xml = b64_decode(b64), *out, *dumped;
	xmlDocPtr doc = NULL;
	struct fb_err err = {0};
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(xml, strlen(xml), &doc, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_sign_node(xmlDocGetRootElement(doc), &a->keys[0],
				  sha1 ? FB_CONF_SAML_RSA_SHA1 : FB_CONF_SAML_RSA_SHA256, 1, &err),
	    FB_OK);
	dumped = fb_saml_doc_dump(doc, &len);
	out = b64_encode(dumped);
	free(dumped);
	xmlFreeDoc(doc);
	free(xml);
	return out;
}

/* Percent-encodes s (RFC 3986 unreserved kept). New. */
static char *
url_enc(const char *s)
{
	struct fb_buf b;

	fb_buf_init(&b, 4 * strlen(s) + 1);
	fb_buf_add(&b, "", 0, NULL);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			fb_buf_add(&b, s, 1, NULL);
		else
			fb_buf_addf(&b, NULL, "%%%02X", c);
	}
	return fb_buf_take(&b);
}

/*
 * The HTTP-Redirect query of a message (SAML2 Bindings 3.4.4.1): field =
 * deflated base64 XML, RelayState, and when key_pem is given SigAlg and a
 * Signature made here with OpenSSL (lasso's query signing leaks memory).
 */
static char *
redirect_query(const char *field, const char *xml, const char *relay, const char *key_pem,
    int sha1)
{
	char *b64 = deflate_b64(xml), *e1 = url_enc(b64), *q, *signed_q;
	const char *alg = sha1 ? "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	                       : "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
	char *e2 = url_enc(alg), *e3;
	BIO *bio;
	EVP_PKEY *k;
	EVP_MD_CTX *ctx;
	unsigned char sig[1024];
	char sig64[2048];
	size_t siglen = sizeof(sig);

	q = relay != NULL ? fb_xasprintf("%s=%s&RelayState=%s", field, e1, relay)
	                  : fb_xasprintf("%s=%s", field, e1);
	free(b64);
	free(e1);
	if (key_pem == NULL) {
		free(e2);
		return q;
	}
	signed_q = fb_xasprintf("%s&SigAlg=%s", q, e2);
	free(q);
	free(e2);
	bio = BIO_new_mem_buf(key_pem, -1);
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	ctx = EVP_MD_CTX_new();
	CU_ASSERT_FATAL(k != NULL && ctx != NULL &&
			EVP_DigestSignInit(ctx, NULL, sha1 ? EVP_sha1() : EVP_sha256(), NULL, k) == 1 &&
			EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)signed_q,
			    strlen(signed_q)) == 1);
	EVP_EncodeBlock((unsigned char *)sig64, sig, (int)siglen);
	e3 = url_enc(sig64);
	q = fb_xasprintf("%s&Signature=%s", signed_q, e3);
	free(e3);
	free(signed_q);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	BIO_free(bio);
	return q;
}

/* 1 when a Redirect query's signature verifies with the certificate (PEM). */
static int
redirect_verify(const char *query, const char *cert_pem)
{
	const char *sig = strstr(query, "&Signature=");
	char *signed_part, *dec;
	unsigned char raw[1024];
	int n, ok;
	BIO *bio = BIO_new_mem_buf(cert_pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	EVP_PKEY *k = x != NULL ? X509_get_pubkey(x) : NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t j = 0;

	if (sig == NULL || k == NULL)
		return 0;
	signed_part = fb_xstrndup(query, (size_t)(sig - query));
	dec = fb_xstrdup(sig + 11);
	/* %2B, %2F, %3D back to base64 characters. */
	for (size_t i = 0; dec[i] != '\0'; i++) {
		if (dec[i] == '%') {
			char h[3] = {dec[i + 1], dec[i + 2], 0};

			dec[j++] = (char)strtol(h, NULL, 16);
			i += 2;
		} else {
			dec[j++] = dec[i];
		}
	}
	dec[j] = '\0';
	n = EVP_DecodeBlock(raw, (const unsigned char *)dec, (int)strlen(dec));
	while (j > 0 && dec[j - 1] == '=') {
		n--;
		j--;
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k) == 1 &&
	     EVP_DigestVerify(ctx, raw, (size_t)n, (const unsigned char *)signed_part,
		 strlen(signed_part)) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(bio);
	free(dec);
	free(signed_part);
	return ok;
}

/*
 * Builds an AuthnRequest with the lasso SP: Redirect (query in *msg) or POST
 * (base64 in *msg). tweak (may be NULL) edits the request first. The
 * request's ID in *id. signed_ 0 builds it unsigned; sha1 signs with RSA-SHA1.
 */
static void
app_request_alg(LassoServer *srv, const char *key_pem, int post, int signed_, int sha1,
    void (*tweak)(LassoSamlp2AuthnRequest *), char **msg, char **id)
{
	LassoLogin *login = lasso_login_new(srv);
	LassoSamlp2AuthnRequest *req;
	int rc;

	lasso_profile_set_signature_hint(LASSO_PROFILE(login), LASSO_PROFILE_SIGNATURE_HINT_FORBID);
	rc = lasso_login_init_authn_request(login, (char *)IDP_ENTITY, LASSO_HTTP_METHOD_POST);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	req = LASSO_SAMLP2_AUTHN_REQUEST(LASSO_PROFILE(login)->request);
	set_str(&req->ProtocolBinding, FB_SAML_BINDING_POST_URI);
	req->NameIDPolicy->AllowCreate = TRUE;
	if (tweak != NULL)
		tweak(req);
	lasso_profile_set_signature_hint(LASSO_PROFILE(login), LASSO_PROFILE_SIGNATURE_HINT_FORBID);
	set_str(&LASSO_PROFILE(login)->msg_relayState, "rs-42");
	rc = lasso_login_build_authn_request_msg(login);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	*id = fb_xstrdup(LASSO_SAMLP2_REQUEST_ABSTRACT(req)->ID);
	if (post && signed_) {
		*msg = app_sign(cur_app, LASSO_PROFILE(login)->msg_body, sha1);
	} else if (post) {
		*msg = fb_xstrdup(LASSO_PROFILE(login)->msg_body);
	} else {
		char *xml = b64_decode(LASSO_PROFILE(login)->msg_body);

		*msg = redirect_query("SAMLRequest", xml, "rs-42", signed_ ? key_pem : NULL, sha1);
		free(xml);
	}
	lasso_login_destroy(login);
}

static void
app_request(LassoServer *srv, int post, int signed_, void (*tweak)(LassoSamlp2AuthnRequest *),
    char **msg, char **id)
{
	app_request_alg(srv, app_key_pem, post, signed_, 0, tweak, msg, id);
}

static void
tweak_acs2(LassoSamlp2AuthnRequest *r)
{
	set_str(&r->ProtocolBinding, NULL);
	r->AssertionConsumerServiceIndex = 1;
}

static void
tweak_evil_acs(LassoSamlp2AuthnRequest *r)
{
	set_str(&r->AssertionConsumerServiceURL, "https://evil.example.com/acs");
}

static void
tweak_artifact_acs(LassoSamlp2AuthnRequest *r)
{
	set_str(&r->AssertionConsumerServiceURL, APP "/art");
}

/* What tweak_nameid puts in the NameIDPolicy. */
static const char *nameid_want;
static int nameid_create;

static void
tweak_nameid(LassoSamlp2AuthnRequest *r)
{
	set_str(&r->NameIDPolicy->Format, nameid_want);
	r->NameIDPolicy->AllowCreate = nameid_create;
}

static void
tweak_passive(LassoSamlp2AuthnRequest *r)
{
	r->IsPassive = TRUE;
	r->ForceAuthn = TRUE;
}

static enum fb_status
parse(struct env *e, int post, const char *msg, struct fb_saml_request **sr,
    struct fb_saml_reply *r)
{
	struct fb_err err = {0};

	fb_saml_reply_cleanup(r);
	return fb_saml_request_parse(e->idp, e->st, post ? FB_SAML_POST : FB_SAML_REDIRECT,
	    post ? NULL : msg, post ? msg : NULL, post ? "rs-42" : NULL, "t", sr, r, &err);
}

static void
test_sp_initiated(void)
{
	struct env e;
	struct app a;
	LassoServer *srv;
	struct fb_saml_request *sr = NULL, *sr2 = NULL;
	struct fb_saml_reply r = {0};
	struct fb_saml_subject who;
	struct fb_err err = {0};
	struct sp lsp;
	char *msg = NULL, *id = NULL, *handle = NULL, *xml;
	LassoSaml2SubjectConfirmationData *scd;

	CU_ASSERT_EQUAL_FATAL(env_with_app(&e, &a, 1, NULL), 0);
	app_key_pem = a.key_pem;
	cur_app = &a;
	srv = app_server(&e, &a);
	who = subject_of(&e.alice);
	/* Redirect binding, signed: verified, answered to the default ACS with InResponseTo. */
	app_request(srv, 0, 1, NULL, &msg, &id);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "SigAlg="));
	CU_ASSERT_TRUE(redirect_verify(msg, a.cert_pem));
	/* lasso gets an SP on its first request, not at start (1,000 SPs took 35 s). */
	CU_ASSERT_EQUAL(g_hash_table_size(e.idp->server->providers), 0);
	CU_ASSERT_EQUAL_FATAL(parse(&e, 0, msg, &sr, &r), FB_OK);
	CU_ASSERT_EQUAL(g_hash_table_size(e.idp->server->providers), 1);
	CU_ASSERT_STRING_EQUAL(fb_saml_request_id(sr), id);
	CU_ASSERT_STRING_EQUAL(fb_saml_sp_name(fb_saml_request_sp(sr)), "app");
	CU_ASSERT_EQUAL(fb_saml_request_is_passive(sr), 0);
	CU_ASSERT_EQUAL_FATAL(fb_saml_request_answer(e.idp, e.st, sr, &who, "t", &r, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(r.post_url, APP "/acs");
	CU_ASSERT_STRING_EQUAL(r.relay_state, "rs-42");
	CU_ASSERT_EQUAL(sp_consume(&e, a.metadata, a.key_pem, a.cert_pem, r.post_value, &lsp), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lsp.as);
	scd = lasso_saml2_assertion_get_subject_confirmation_data(lsp.as, FALSE);
	CU_ASSERT_STRING_EQUAL(scd->InResponseTo, id);
	CU_ASSERT_STRING_EQUAL(scd->Recipient, APP "/acs");
	CU_ASSERT_STRING_EQUAL(
	    LASSO_SAMLP2_STATUS_RESPONSE(LASSO_PROFILE(lsp.login)->response)->InResponseTo, id);
	CU_ASSERT_EQUAL(lasso_saml2_assertion_validate_audience(lsp.as, APP "/sp"),
	    LASSO_SAML2_ASSERTION_VALID);
	sp_cleanup(&lsp);
	/* The same request again: a replay. */
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr2, &r), FB_ERR_REPLAY);
	CU_ASSERT_EQUAL(g_hash_table_size(e.idp->server->providers), 1);
	CU_ASSERT_PTR_NULL(sr2);
	CU_ASSERT_EQUAL(r.http_status, 409);
	CU_ASSERT_PTR_NULL(r.post_url);
	/* Stash while the person signs in, resume once. */
	CU_ASSERT_EQUAL_FATAL(fb_saml_request_stash(e.idp, e.st, sr, &handle, &err), FB_OK);
	CU_ASSERT_PTR_NULL(strstr(handle, id));
	CU_ASSERT_EQUAL_FATAL(fb_saml_request_resume(e.idp, e.st, handle, &sr2, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(fb_saml_request_id(sr2), id);
	fb_saml_request_free(sr2);
	sr2 = NULL;
	CU_ASSERT_EQUAL(fb_saml_request_resume(e.idp, e.st, handle, &sr2, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_saml_request_resume(e.idp, e.st, "../x", &sr2, &err), FB_ERR_INVALID);
	free(handle);
	fb_saml_request_free(sr);
	sr = NULL;
	free(msg);
	free(id);
	/* POST binding, signed (enveloped): index 1 picks the second ACS. */
	app_request(srv, 1, 1, tweak_acs2, &msg, &id);
	CU_ASSERT_EQUAL_FATAL(parse(&e, 1, msg, &sr, &r), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_request_answer(e.idp, e.st, sr, &who, "t", &r, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(r.post_url, APP "/acs2");
	xml = b64_decode(r.post_value);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Recipient=\"" APP "/acs2\""));
	free(xml);
	fb_saml_request_free(sr);
	sr = NULL;
	free(msg);
	free(id);
	/* Unsigned, while the SP must sign: refused. */
	app_request(srv, 0, 0, NULL, &msg, &id);
	CU_ASSERT_PTR_NULL(strstr(msg, "Signature="));
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_SIGNATURE);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_signature_missing");
	CU_ASSERT_PTR_NULL(r.post_url);
	free(msg);
	free(id);
	app_request(srv, 1, 0, NULL, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 1, msg, &sr, &r), FB_ERR_SIGNATURE);
	free(msg);
	free(id);
	/* A bad signature: the query's Signature altered. */
	app_request(srv, 0, 1, NULL, &msg, &id);
	{
		char *sig = strstr(msg, "Signature=") + 10;

		sig[3] = sig[3] == 'A' ? 'B' : 'A';
	}
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_SIGNATURE);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_signature_invalid");
	free(msg);
	free(id);
	/* An ACS URL the SP does not declare, or not HTTP-POST: refused, nothing posted. */
	app_request(srv, 0, 1, tweak_evil_acs, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_PROTOCOL);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_acs_undeclared");
	CU_ASSERT_PTR_NULL(r.post_url);
	free(msg);
	free(id);
	app_request(srv, 0, 1, tweak_artifact_acs, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_PROTOCOL);
	free(msg);
	free(id);
	/* A NameID format fedbroker does not issue: an InvalidNameIDPolicy Response. */
	nameid_want = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName";
	nameid_create = TRUE;
	app_request(srv, 0, 1, tweak_nameid, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_PROTOCOL);
	CU_ASSERT_STRING_EQUAL(r.post_url, APP "/acs");
	xml = b64_decode(r.post_value);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "InvalidNameIDPolicy"));
	CU_ASSERT_PTR_NULL(strstr(xml, "Assertion"));
	CU_ASSERT_EQUAL(count(xml, "<ds:Signature "), 1);
	free(xml);
	free(msg);
	free(id);
	/* IsPassive and nobody signed in: a NoPassive Response. */
	app_request(srv, 1, 1, tweak_passive, &msg, &id);
	CU_ASSERT_EQUAL_FATAL(parse(&e, 1, msg, &sr, &r), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_request_is_passive(sr), 1);
	CU_ASSERT_EQUAL(fb_saml_request_force_authn(sr), 1);
	CU_ASSERT_EQUAL(fb_saml_request_answer(e.idp, e.st, sr, NULL, "t", &r, &err), FB_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(r.post_url, APP "/acs");
	xml = b64_decode(r.post_value);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "NoPassive"));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, id));
	free(xml);
	fb_saml_request_free(sr);
	sr = NULL;
	free(msg);
	free(id);
	/* Too old (the replay cache would have forgotten it). */
	app_request(srv, 0, 1, NULL, &msg, &id);
	fb_time_offset = e.conf->saml_request_lifetime + 60;
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_EXPIRED);
	fb_time_offset = 0;
	free(msg);
	free(id);
	/* SHA-1 is refused unless allowed. */
	app_request_alg(srv, a.key_pem, 0, 1, 1, NULL, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_SIGNATURE);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "SHA-1"));
	free(msg);
	free(id);
	/* POST: an enveloped RSA-SHA1 signature. */
	app_request_alg(srv, a.key_pem, 1, 1, 1, NULL, &msg, &id);
	CU_ASSERT_PTR_NOT_NULL(strstr(b64_decode_keep(msg), "rsa-sha1"));
	CU_ASSERT_EQUAL(parse(&e, 1, msg, &sr, &r), FB_ERR_SIGNATURE);
	fb_saml_request_free(sr);
	sr = NULL;
	free(msg);
	free(id);
	lasso_server_destroy(srv);
	fb_saml_reply_cleanup(&r);
	app_free(&a);
	env_cleanup(&e);
}

/*
 * A signed Redirect AuthnRequest of app asking for NameID format (with
 * AllowCreate create) parsed and answered for user u: the status of the
 * answer; *xml the Response posted (new, or NULL when none), *parsed the
 * parse's status.
 */
static enum fb_status
ask(struct env *e, LassoServer *srv, const struct fb_store_user *u, const char *format, int create,
    enum fb_status *parsed, struct fb_saml_reply *r, char **xml)
{
	struct fb_saml_request *sr = NULL;
	struct fb_saml_subject who = subject_of(u);
	struct fb_err err = {0};
	char *msg = NULL, *id = NULL;
	enum fb_status st = FB_ERR_INTERNAL;

	*xml = NULL;
	nameid_want = format;
	nameid_create = create;
	app_request(srv, 0, 1, tweak_nameid, &msg, &id);
	*parsed = parse(e, 0, msg, &sr, r);
	if (*parsed == FB_OK)
		st = fb_saml_request_answer(e->idp, e->st, sr, &who, "t", r, &err);
	if (r->post_value != NULL)
		*xml = b64_decode(r->post_value);
	fb_saml_request_free(sr);
	free(msg);
	free(id);
	return st;
}

/* The text of the first saml:NameID of xml (new), or NULL. */
static char *
nameid_of(const char *xml)
{
	const char *p = xml != NULL ? strstr(xml, "<saml:NameID ") : NULL, *q, *end;

	if (p == NULL || (q = strchr(p, '>')) == NULL ||
	    (end = strstr(q, "</saml:NameID>")) == NULL)
		return NULL;
	return fb_xstrndup(q + 1, (size_t)(end - q - 1));
}

/*
 * The NameID format an AuthnRequest asks for is honoured unless the
 * configuration pins one (mod_auth_mellon asks for transient by default);
 * AllowCreate="false" with persistent wants an identifier that exists.
 */
static void
test_sp_initiated_nameid_format(void)
{
	struct env e;
	struct app a;
	LassoServer *srv;
	struct fb_saml_reply r = {0};
	struct fb_saml_request *sr = NULL, *sr2 = NULL;
	struct fb_err err = {0};
	char *xml = NULL, *nid = NULL, *stored = NULL, *msg = NULL, *id = NULL, *handle = NULL;
	enum fb_status parsed;

	CU_ASSERT_EQUAL_FATAL(env_with_app(&e, &a, 1, NULL), 0);
	app_key_pem = a.key_pem;
	cur_app = &a;
	srv = app_server(&e, &a);
	/* Transient, asked for while the default (persistent) is not pinned: honoured. */
	CU_ASSERT_EQUAL(ask(&e, srv, &e.alice, FB_SAML_NAMEID_TRANSIENT, FALSE, &parsed, &r, &xml),
	    FB_OK);
	CU_ASSERT_EQUAL(parsed, FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Format=\"" FB_SAML_NAMEID_TRANSIENT "\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "SPNameQualifier=\"" APP "/sp\""));
	nid = nameid_of(xml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(nid);
	CU_ASSERT_EQUAL(strlen(nid), 41); /* "_" + 40 hex: random per response */
	CU_ASSERT_EQUAL(fb_store_nameid_get(e.st, e.alice.id, APP "/sp", &stored, &err),
	    FB_ERR_NOTFOUND);
	free(nid);
	free(xml);
	/* The format survives the stash while the person signs in. */
	nameid_want = FB_SAML_NAMEID_TRANSIENT;
	app_request(srv, 0, 1, tweak_nameid, &msg, &id);
	CU_ASSERT_EQUAL_FATAL(parse(&e, 0, msg, &sr, &r), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_request_stash(e.idp, e.st, sr, &handle, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_request_resume(e.idp, e.st, handle, &sr2, &err), FB_OK);
	{
		struct fb_saml_subject who = subject_of(&e.alice);

		CU_ASSERT_EQUAL(fb_saml_request_answer(e.idp, e.st, sr2, &who, "t", &r, &err),
		    FB_OK);
		xml = b64_decode(r.post_value);
		CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Format=\"" FB_SAML_NAMEID_TRANSIENT "\""));
		free(xml);
	}
	fb_saml_request_free(sr);
	fb_saml_request_free(sr2);
	free(handle);
	free(msg);
	free(id);
	/* emailAddress: the account's email (nameid.source not given), no qualifiers. */
	CU_ASSERT_EQUAL(ask(&e, srv, &e.alice, FB_SAML_NAMEID_EMAIL, TRUE, &parsed, &r, &xml),
	    FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Format=\"" FB_SAML_NAMEID_EMAIL "\""));
	nid = nameid_of(xml);
	CU_ASSERT_STRING_EQUAL(nid != NULL ? nid : "", "alice@example.com");
	CU_ASSERT_PTR_NULL(strstr(xml, "SPNameQualifier="));
	free(nid);
	free(xml);
	/* carol has no email: a page, and InvalidNameIDPolicy for the SP that asked. */
	CU_ASSERT_EQUAL(ask(&e, srv, &e.carol, FB_SAML_NAMEID_EMAIL, TRUE, &parsed, &r, &xml),
	    FB_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_nameid_missing");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "asked for an emailAddress NameID"));
	CU_ASSERT_PTR_NOT_NULL(xml != NULL ? strstr(xml, "InvalidNameIDPolicy") : NULL);
	CU_ASSERT_PTR_NULL(xml != NULL ? strstr(xml, "Assertion") : "");
	free(xml);
	/* Leaving the format to fedbroker, AllowCreate="false" does not hold one back. */
	CU_ASSERT_EQUAL(ask(&e, srv, &e.carol, FB_SAML_NAMEID_UNSPECIFIED, FALSE, &parsed, &r, &xml),
	    FB_OK);
	CU_ASSERT_PTR_NOT_NULL(xml != NULL ? strstr(xml, FB_SAML_NAMEID_PERSISTENT) : NULL);
	free(xml);
	/* unspecified: the IdP's choice, the configured persistent. */
	CU_ASSERT_EQUAL(ask(&e, srv, &e.alice, FB_SAML_NAMEID_UNSPECIFIED, TRUE, &parsed, &r, &xml),
	    FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Format=\"" FB_SAML_NAMEID_PERSISTENT "\""));
	free(xml);
	CU_ASSERT_EQUAL_FATAL(fb_store_nameid_get(e.st, e.alice.id, APP "/sp", &stored, &err),
	    FB_OK);
	/* Persistent with AllowCreate="false": the identifier made above is reused. */
	CU_ASSERT_EQUAL(ask(&e, srv, &e.alice, FB_SAML_NAMEID_PERSISTENT, FALSE, &parsed, &r, &xml),
	    FB_OK);
	nid = nameid_of(xml);
	CU_ASSERT_STRING_EQUAL(nid != NULL ? nid : "", stored);
	free(nid);
	free(xml);
	free(stored);
	stored = NULL;
	/* ... but none is made for bob: InvalidNameIDPolicy (Responder), nothing stored. */
	CU_ASSERT_EQUAL(ask(&e, srv, &e.bob, FB_SAML_NAMEID_PERSISTENT, FALSE, &parsed, &r, &xml),
	    FB_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_nameid_policy");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "AllowCreate"));
	CU_ASSERT_STRING_EQUAL(r.post_url, APP "/acs");
	CU_ASSERT_PTR_NOT_NULL_FATAL(xml);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, FB_SAML_STATUS_RESPONDER));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "InvalidNameIDPolicy"));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "InResponseTo=\"_"));
	CU_ASSERT_PTR_NULL(strstr(xml, "Assertion"));
	free(xml);
	CU_ASSERT_EQUAL(fb_store_nameid_get(e.st, e.bob.id, APP "/sp", &stored, &err),
	    FB_ERR_NOTFOUND);
	/* AllowCreate="true" makes it. */
	CU_ASSERT_EQUAL(ask(&e, srv, &e.bob, FB_SAML_NAMEID_PERSISTENT, TRUE, &parsed, &r, &xml),
	    FB_OK);
	free(xml);
	CU_ASSERT_EQUAL(fb_store_nameid_get(e.st, e.bob.id, APP "/sp", &stored, &err), FB_OK);
	free(stored);
	stored = NULL;
	lasso_server_destroy(srv);
	fb_saml_reply_cleanup(&r);
	app_free(&a);
	env_cleanup(&e);

	/* nameid.format given: it wins, another format gets InvalidNameIDPolicy. */
	CU_ASSERT_EQUAL_FATAL(env_with_app(&e, &a, 1,
	                          "      nameid:\n        format: persistent\n"),
	    0);
	app_key_pem = a.key_pem;
	cur_app = &a;
	srv = app_server(&e, &a);
	CU_ASSERT_EQUAL(ask(&e, srv, &e.alice, FB_SAML_NAMEID_TRANSIENT, FALSE, &parsed, &r, &xml),
	    FB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(parsed, FB_ERR_PROTOCOL);
	CU_ASSERT_EQUAL(r.http_status, 400);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "nameid.format"));
	CU_ASSERT_PTR_NOT_NULL(xml != NULL ? strstr(xml, "InvalidNameIDPolicy") : NULL);
	CU_ASSERT_PTR_NULL(xml != NULL ? strstr(xml, "Assertion") : "");
	free(xml);
	CU_ASSERT_EQUAL(ask(&e, srv, &e.alice, FB_SAML_NAMEID_PERSISTENT, TRUE, &parsed, &r, &xml),
	    FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Format=\"" FB_SAML_NAMEID_PERSISTENT "\""));
	free(xml);
	CU_ASSERT_EQUAL(ask(&e, srv, &e.alice, FB_SAML_NAMEID_UNSPECIFIED, TRUE, &parsed, &r, &xml),
	    FB_OK);
	free(xml);
	lasso_server_destroy(srv);
	fb_saml_reply_cleanup(&r);
	app_free(&a);
	env_cleanup(&e);
}

/* Without a requested format: the SP metadata's NameIDFormat list, unless pinned. */
static void
test_nameid_format_pick(void)
{
	static const char *const pins[] = {NULL, "      nameid: {format: persistent}\n"};
	struct {
		const char *listed[2];
		size_t n;
		enum fb_conf_nameid_format free_pick, pinned_pick;
	} cases[] = {
	    {{NULL, NULL}, 0, FB_CONF_NAMEID_PERSISTENT, FB_CONF_NAMEID_PERSISTENT},
	    {{FB_SAML_NAMEID_TRANSIENT, NULL}, 1, FB_CONF_NAMEID_TRANSIENT,
	        FB_CONF_NAMEID_PERSISTENT},
	    {{FB_SAML_NAMEID_EMAIL, FB_SAML_NAMEID_PERSISTENT}, 2, FB_CONF_NAMEID_PERSISTENT,
	        FB_CONF_NAMEID_PERSISTENT},
	    {{"urn:example:other", FB_SAML_NAMEID_EMAIL}, 2, FB_CONF_NAMEID_EMAIL,
	        FB_CONF_NAMEID_PERSISTENT},
	    {{FB_SAML_NAMEID_UNSPECIFIED, FB_SAML_NAMEID_TRANSIENT}, 2, FB_CONF_NAMEID_PERSISTENT,
	        FB_CONF_NAMEID_PERSISTENT},
	    {{"urn:example:other", NULL}, 1, FB_CONF_NAMEID_PERSISTENT, FB_CONF_NAMEID_PERSISTENT},
	};

	for (size_t k = 0; k < 2; k++) {
		struct env e;
		struct app a;
		const struct fb_saml_sp *csp;
		struct fb_saml_sp *sp;
		char **saved;
		size_t nsaved;
		enum fb_conf_nameid_format f;

		CU_ASSERT_EQUAL_FATAL(env_with_app(&e, &a, 1, pins[k]), 0);
		csp = fb_saml_idp_sp_get(e.idp, "app");
		sp = (struct fb_saml_sp *)(uintptr_t)csp;
		CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
		CU_ASSERT_EQUAL(fb_saml_nameid_pinned(sp), (int)k);
		{
			json_t *d = fb_saml_sp_describe(csp);

			CU_ASSERT_EQUAL(json_is_true(json_object_get(d, "nameid_format_pinned")),
			    (int)k);
			json_decref(d);
		}
		saved = sp->md.nameid_formats;
		nsaved = sp->md.nnameid_formats;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			sp->md.nameid_formats = (char **)(uintptr_t)cases[i].listed;
			sp->md.nnameid_formats = cases[i].n;
			CU_ASSERT_EQUAL(fb_saml_nameid_format_pick(sp, NULL, &f), FB_OK);
			CU_ASSERT_EQUAL(f, k == 0 ? cases[i].free_pick : cases[i].pinned_pick);
		}
		sp->md.nameid_formats = saved;
		sp->md.nnameid_formats = nsaved;
		/* A requested format wins over the metadata; one not issued never does. */
		CU_ASSERT_EQUAL(fb_saml_nameid_format_pick(sp, FB_SAML_NAMEID_TRANSIENT, &f),
		    k == 0 ? FB_OK : FB_ERR_PROTOCOL);
		CU_ASSERT_EQUAL(f, k == 0 ? FB_CONF_NAMEID_TRANSIENT : FB_CONF_NAMEID_PERSISTENT);
		CU_ASSERT_EQUAL(fb_saml_nameid_format_pick(sp, "urn:example:other", &f),
		    FB_ERR_PROTOCOL);
		CU_ASSERT_EQUAL(fb_saml_nameid_format_pick(sp, FB_SAML_NAMEID_UNSPECIFIED, &f),
		    FB_OK);
		CU_ASSERT_EQUAL(f, FB_CONF_NAMEID_PERSISTENT);
		app_free(&a);
		env_cleanup(&e);
	}
	/* A profile pins the format too (Identity Center: email). */
	{
		struct env e;
		enum fb_conf_nameid_format f;
		const struct fb_saml_sp *idc;

		CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
		idc = fb_saml_idp_sp_get(e.idp, "idc");
		CU_ASSERT_EQUAL(fb_saml_nameid_format_pick(idc, FB_SAML_NAMEID_TRANSIENT, &f),
		    FB_ERR_PROTOCOL);
		CU_ASSERT_EQUAL(fb_saml_nameid_format_pick(idc, NULL, &f), FB_OK);
		CU_ASSERT_EQUAL(f, FB_CONF_NAMEID_EMAIL);
		env_cleanup(&e);
	}
}

/* An SP that may sign: unsigned accepted, a present signature still verified. */
static void
test_sp_initiated_optional_signature(void)
{
	struct env e;
	struct app a;
	LassoServer *srv;
	struct fb_saml_request *sr = NULL;
	struct fb_saml_reply r = {0};
	char *msg = NULL, *id = NULL;

	CU_ASSERT_EQUAL_FATAL(env_with_app(&e, &a, 0, NULL), 0);
	app_key_pem = a.key_pem;
	cur_app = &a;
	srv = app_server(&e, &a);
	app_request(srv, 0, 0, NULL, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_OK);
	fb_saml_request_free(sr);
	sr = NULL;
	free(msg);
	free(id);
	app_request(srv, 1, 0, NULL, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 1, msg, &sr, &r), FB_OK);
	fb_saml_request_free(sr);
	sr = NULL;
	free(msg);
	free(id);
	app_request(srv, 0, 1, NULL, &msg, &id);
	{
		char *sig = strstr(msg, "Signature=") + 10;

		sig[5] = sig[5] == 'A' ? 'B' : 'A';
	}
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_SIGNATURE);
	free(msg);
	free(id);
	/* POST, signed, then one attribute of the signed XML changed. */
	app_request(srv, 1, 1, NULL, &msg, &id);
	{
		char *x = b64_decode(msg), *p = strstr(x, "IssueInstant=") + 14, *b;

		p[3] = p[3] == '1' ? '2' : '1';
		b = b64_encode(x);
		CU_ASSERT_EQUAL(parse(&e, 1, b, &sr, &r), FB_ERR_SIGNATURE);
		free(b);
		free(x);
	}
	free(msg);
	free(id);
	lasso_server_destroy(srv);
	fb_saml_reply_cleanup(&r);
	app_free(&a);
	env_cleanup(&e);
}

/*
 * Issue 10, finding 2: saml.idp.want_authn_requests_signed (published as
 * WantAuthnRequestsSigned) is enforced for every SP with a signing
 * certificate that does not set require_signed_requests: unsigned
 * AuthnRequests and LogoutRequests are refused, signed ones pass.
 */
static void
test_want_requests_signed(void)
{
	struct env e;
	struct app a;
	LassoServer *srv;
	struct fb_saml_request *sr = NULL;
	struct fb_saml_reply r = {0};
	struct fb_err err = {0};
	char *msg = NULL, *id = NULL, *xml, *query;

	CU_ASSERT_EQUAL_FATAL(
	    env_with_app(&e, &a, 0, "  idp:\n    want_authn_requests_signed: true\n"), 0);
	app_key_pem = a.key_pem;
	cur_app = &a;
	srv = app_server(&e, &a);
	app_request(srv, 0, 0, NULL, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_ERR_SIGNATURE);
	CU_ASSERT_PTR_NULL(sr);
	free(msg);
	free(id);
	app_request(srv, 1, 0, NULL, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 1, msg, &sr, &r), FB_ERR_SIGNATURE);
	free(msg);
	free(id);
	app_request(srv, 0, 1, NULL, &msg, &id);
	CU_ASSERT_EQUAL(parse(&e, 0, msg, &sr, &r), FB_OK);
	fb_saml_request_free(sr);
	free(msg);
	free(id);
	/* An unsigned LogoutRequest naming nobody in particular: refused for its signature. */
	xml = fb_xasprintf("<samlp:LogoutRequest xmlns:samlp=\"" FB_SAML_NS_PROTOCOL "\" "
			   "xmlns:saml=\"" FB_SAML_NS_ASSERTION "\" ID=\"_lr1\" Version=\"2.0\" "
			   "IssueInstant=\"2020-01-01T00:00:00Z\"><saml:Issuer>%s</saml:Issuer>"
			   "<saml:NameID>alice</saml:NameID></samlp:LogoutRequest>",
	    APP "/sp");
	query = redirect_query("SAMLRequest", xml, NULL, NULL, 0);
	CU_ASSERT_EQUAL(fb_saml_logout(e.idp, e.st, FB_SAML_REDIRECT, query, NULL, NULL, "sid-123",
			    "t", &r, &err),
	    FB_ERR_SIGNATURE);
	free(query);
	free(xml);
	lasso_server_destroy(srv);
	fb_saml_reply_cleanup(&r);
	app_free(&a);
	env_cleanup(&e);
}

/* Requests that never reach lasso, and Identity Center's unsigned ones. */
static void
test_sp_initiated_bad_input(void)
{
	struct env e;
	struct fb_saml_request *sr = NULL;
	struct fb_saml_reply r = {0};
	char now[32], *xml, *b64, *q;
	time_t t = time(NULL);

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	xml = fb_xasprintf("<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
			   "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_idc1\" "
			   "Version=\"2.0\" IssueInstant=\"%s\" Destination=\"" IDP_URL
			   "/saml/idp/sso\" AssertionConsumerServiceURL=\"https://us-east-1.sso."
			   "signin.aws/platform/saml/acs/4941442d6e756de2-7ca3-4e79-ac25-"
			   "d7469b3eee1e\"><saml:Issuer>https://us-east-1.signin.aws.amazon.com/"
			   "platform/saml/d-90660f6748</saml:Issuer></samlp:AuthnRequest>",
	    now);
	b64 = b64_encode(xml);
	/* Identity Center signs nothing: accepted, the declared second ACS chosen. */
	CU_ASSERT_EQUAL_FATAL(parse(&e, 1, b64, &sr, &r), FB_OK);
	fb_saml_request_free(sr);
	sr = NULL;
	free(b64);
	/* An unknown SP. */
	q = strstr(xml, "d-90660f6748");
	memcpy(q, "d-00000000", 10);
	b64 = b64_encode(xml);
	CU_ASSERT_EQUAL(parse(&e, 1, b64, &sr, &r), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(r.http_status, 404);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_sp_unknown");
	free(b64);
	free(xml);
	/* Not base64, not XML, a DOCTYPE, the wrong message, too large, no parameter. */
	CU_ASSERT_EQUAL(parse(&e, 1, "@@@", &sr, &r), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(r.http_status, 400);
	b64 = b64_encode("<samlp:AuthnRequest");
	CU_ASSERT_EQUAL(parse(&e, 1, b64, &sr, &r), FB_ERR_INVALID);
	free(b64);
	b64 = b64_encode("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>");
	CU_ASSERT_EQUAL(parse(&e, 1, b64, &sr, &r), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.detail, "DOCTYPE"));
	free(b64);
	b64 = b64_encode("<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
			 "ID=\"_x\"/>");
	CU_ASSERT_EQUAL(parse(&e, 1, b64, &sr, &r), FB_ERR_PROTOCOL);
	free(b64);
	q = fb_xcalloc(FB_SAML_MESSAGE_MAX + 8, 1);
	memset(q, 'A', FB_SAML_MESSAGE_MAX + 4);
	CU_ASSERT_EQUAL(parse(&e, 1, q, &sr, &r), FB_ERR_LIMIT);
	CU_ASSERT_EQUAL(r.http_status, 413);
	free(q);
	CU_ASSERT_EQUAL(parse(&e, 0, "RelayState=x", &sr, &r), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(parse(&e, 0, "SAMLRequest=a&SAMLRequest=b", &sr, &r), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(parse(&e, 0, "SAMLRequest=%zz", &sr, &r), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(parse(&e, 0, "SAMLRequest=PGEvPg%3D%3D", &sr, &r), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(sr);
	fb_saml_reply_cleanup(&r);
	env_cleanup(&e);
}

/* ---- single logout ------------------------------------------------------------------------ */

/* A LogoutRequest of the lasso SP holding session dump: POST base64 (signed or not). */
static char *
app_logout_request(LassoServer *srv, const char *dump, int signed_, LassoLogout **keep)
{
	LassoLogout *logout = lasso_logout_new(srv);
	char *out;

	CU_ASSERT_EQUAL(lasso_profile_set_session_from_dump(LASSO_PROFILE(logout), dump), 0);
	lasso_profile_set_signature_hint(LASSO_PROFILE(logout), LASSO_PROFILE_SIGNATURE_HINT_FORBID);
	CU_ASSERT_EQUAL_FATAL(lasso_logout_init_request(logout, (char *)IDP_ENTITY,
				  LASSO_HTTP_METHOD_POST),
	    0);
	lasso_profile_set_signature_hint(LASSO_PROFILE(logout), LASSO_PROFILE_SIGNATURE_HINT_FORBID);
	CU_ASSERT_EQUAL_FATAL(lasso_logout_build_request_msg(logout), 0);
	out = fb_xstrdup(LASSO_PROFILE(logout)->msg_body);
	CU_ASSERT_PTR_NULL(strstr(b64_decode_keep(out), "Signature"));
	if (signed_) {
		char *s2 = app_sign(cur_app, out, 0);

		free(out);
		out = s2;
	}
	if (keep != NULL)
		*keep = logout;
	else
		lasso_logout_destroy(logout);
	return out;
}

static void
test_logout(void)
{
	struct env e;
	struct app a;
	LassoServer *srv;
	LassoLogout *logout = NULL;
	struct fb_saml_reply r = {0};
	struct fb_saml_subject who;
	struct fb_err err = {0};
	struct sp lsp;
	char *dump, *msg, *xml, *query, *idp_cert;

	CU_ASSERT_EQUAL_FATAL(env_with_app(&e, &a, 1, NULL), 0);
	cur_app = &a;
	who = subject_of(&e.alice);
	/* Signed in at the app first (IdP-initiated), so the lasso SP has a session. */
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_initiated(e.idp, e.st, fb_saml_idp_sp_get(e.idp, "app"),
				  &who, NULL, "t", &r, &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(sp_consume(&e, a.metadata, a.key_pem, a.cert_pem, r.post_value, &lsp),
	    0);
	CU_ASSERT_EQUAL_FATAL(lasso_login_accept_sso(lsp.login), 0);
	dump = lasso_session_dump(lasso_profile_get_session(LASSO_PROFILE(lsp.login)));
	srv = app_server(&e, &a);
	/* POST: a signed LogoutResponse posted back, which the SP accepts. */
	msg = app_logout_request(srv, dump, 1, &logout);

	/*
	 * Issue 10, finding 2: another browser session (one that never signed in
	 * here) is left alone: the SP hears Requester, nothing is ended.
	 */
	CU_ASSERT_EQUAL_FATAL(fb_saml_logout(e.idp, e.st, FB_SAML_POST, NULL, msg, "rs",
				  "another-sid", "t", &r, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(r.post_url, APP "/slo-post");
	xml = b64_decode(r.post_value);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "StatusCode Value=\"" FB_SAML_STATUS_REQUESTER "\""));
	CU_ASSERT_PTR_NULL(strstr(xml, FB_SAML_STATUS_SUCCESS));
	free(xml);
	CU_ASSERT_STRING_EQUAL(r.event, "saml_logout_refused");
	free(msg);
	lasso_logout_destroy(logout);
	msg = app_logout_request(srv, dump, 1, &logout);
	CU_ASSERT_EQUAL_FATAL(fb_saml_logout(e.idp, e.st, FB_SAML_POST, NULL, msg, "rs",
				  who.session_id, "t", &r, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(r.post_url, APP "/slo-post");
	CU_ASSERT_STRING_EQUAL(r.relay_state, "rs");
	CU_ASSERT_EQUAL(lasso_logout_process_response_msg(logout, r.post_value), 0);
	lasso_logout_destroy(logout);
	/* Replayed: refused. */
	CU_ASSERT_EQUAL(fb_saml_logout(e.idp, e.st, FB_SAML_POST, NULL, msg, NULL, who.session_id,
			    "t", &r, &err),
	    FB_ERR_REPLAY);
	free(msg);
	/* Unsigned, from an SP that must sign: refused. */
	msg = app_logout_request(srv, dump, 0, NULL);
	CU_ASSERT_EQUAL(fb_saml_logout(e.idp, e.st, FB_SAML_POST, NULL, msg, NULL, who.session_id,
			    "t", &r, &err),
	    FB_ERR_SIGNATURE);

	/* Redirect: the response comes back over Redirect, signed with our key. */
	free(msg);
	msg = app_logout_request(srv, dump, 0, NULL);
	xml = b64_decode(msg);
	query = redirect_query("SAMLRequest", xml, "rs%20x", a.key_pem, 0);
	CU_ASSERT_EQUAL_FATAL(fb_saml_logout(e.idp, e.st, FB_SAML_REDIRECT, query, NULL, NULL,
				  who.session_id, "t", &r, &err),
	    FB_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r.redirect_url);
	CU_ASSERT_EQUAL(strncmp(r.redirect_url, APP "/slo?SAMLResponse=", 30), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.redirect_url, "&RelayState=rs%20x&SigAlg="));
	idp_cert = read_text(FB_SRCDIR "/tests/fixtures/keys/rsa2048.crt.pem");
	CU_ASSERT_TRUE(redirect_verify(strchr(r.redirect_url, '?') + 1, idp_cert));
	free(idp_cert);
	free(query);
	/* Tampered: refused. */
	free(xml);
	free(msg);
	msg = app_logout_request(srv, dump, 0, NULL);
	xml = b64_decode(msg);
	query = redirect_query("SAMLRequest", xml, NULL, a.key_pem, 0);
	{
		char *p = strstr(query, "&Signature=") + 11;

		p[4] = p[4] == 'A' ? 'B' : 'A';
	}
	CU_ASSERT_EQUAL(fb_saml_logout(e.idp, e.st, FB_SAML_REDIRECT, query, NULL, NULL,
			    who.session_id, "t", &r, &err),
	    FB_ERR_SIGNATURE);
	free(query);
	free(xml);
	free(msg);
	g_free(dump);
	lasso_server_destroy(srv);
	sp_cleanup(&lsp);
	fb_saml_reply_cleanup(&r);
	app_free(&a);
	env_cleanup(&e);
}

/* ---- metadata ------------------------------------------------------------------------------ */

static void
test_metadata(void)
{
	struct env e;
	struct fb_err err = {0};
	char *xml = NULL, *signed_xml = NULL, *cert, *stanza;
	json_t *info = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	CU_ASSERT_STRING_EQUAL(fb_saml_idp_entity_id(e.idp), IDP_ENTITY);
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_metadata(e.idp, 0, &xml, &len, &err), FB_OK);
	CU_ASSERT_EQUAL(len, strlen(xml));
	CU_ASSERT(len < FB_SAML_AWS_IDC_METADATA_MAX);
	CU_ASSERT(strlen(fb_saml_idp_cert_pem(e.idp)) < FB_SAML_AWS_IDC_CERT_MAX);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Location=\"" IDP_URL "/saml/idp/sso\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "Location=\"" IDP_URL "/saml/idp/slo\""));
	CU_ASSERT_EQUAL_FATAL(fb_saml_metadata_parse(xml, len, NULL, &info, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(info, "role")), "idp");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(info, "entity_id")), IDP_ENTITY);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(info, "sso")), 2);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(info, "certificates")), 1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(info, "nameid_formats")), 4);
	json_decref(info);
	/* Signed metadata verifies with our certificate; a tampered copy does not. */
	cert = read_text(FB_SRCDIR "/tests/fixtures/keys/rsa2048.crt.pem");
	CU_ASSERT_EQUAL(fb_saml_metadata_parse(xml, len, cert, &info, &err), FB_ERR_SIGNATURE);
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_metadata(e.idp, 1, &signed_xml, &len, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_metadata_parse(signed_xml, len, cert, &info, &err), FB_OK);
	CU_ASSERT_TRUE(json_is_true(json_object_get(info, "signature_verified")));
	json_decref(info);
	{
		char *p = strstr(signed_xml, "/saml/idp/sso");

		p[1] = 'X';
		CU_ASSERT_EQUAL(fb_saml_metadata_parse(signed_xml, len, cert, &info, &err),
		    FB_ERR_SIGNATURE);
	}
	free(cert);
	free(signed_xml);
	free(xml);
	/* The AWS fixture: validUntil in the past is a warning, not an error. */
	xml = read_text(FB_SRCDIR "/tests/fixtures/aws/aws-signin-saml-metadata.xml");
	CU_ASSERT_EQUAL_FATAL(fb_saml_metadata_parse(xml, strlen(xml), NULL, &info, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(info, "role")), "sp");
	CU_ASSERT_TRUE(json_is_true(json_object_get(info, "expired")));
	CU_ASSERT(json_array_size(json_object_get(info, "warnings")) >= 1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(info, "nameid_formats")), 8);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
				   json_array_get(json_object_get(info, "acs"), 0), "url")),
	    AWS_ACS);
	stanza = fb_saml_metadata_stanza(info, "aws", "metadata/aws.xml");
	/* A list item for under "  service_providers:", not a second saml: key. */
	CU_ASSERT_EQUAL(strncmp(stanza, "    - name: aws\n", 16), 0);
	CU_ASSERT_PTR_NULL(strstr(stanza, "saml:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(stanza, "\n      display_name: aws"));
	CU_ASSERT_PTR_NOT_NULL(strstr(stanza, "\n      groups: []"));
	CU_ASSERT_PTR_NOT_NULL(strstr(stanza, "\n      metadata: \"metadata/aws.xml\"\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(stanza, "profile: aws\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(stanza, "mapping: aws_role\n"));
	free(stanza);
	json_decref(info);
	free(xml);
	xml = read_text(FB_SRCDIR "/tests/fixtures/aws/identity-center-sp-metadata.xml");
	CU_ASSERT_EQUAL_FATAL(fb_saml_metadata_parse(xml, strlen(xml), NULL, &info, &err), FB_OK);
	stanza = fb_saml_metadata_stanza(info, "idc", "metadata/idc.xml");
	CU_ASSERT_PTR_NOT_NULL(strstr(stanza, "profile: aws-identity-center\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(stanza, "format: email\n"));
	free(stanza);
	json_decref(info);
	free(xml);
	/* Any other SP (mod_auth_mellon's metadata lists no format): nothing pinned. */
	info = json_pack("{s:s, s:[]}", "entity_id", "https://sp.example.com/mellon/metadata",
	    "nameid_formats");
	stanza = fb_saml_metadata_stanza(info, "mellon", "metadata/mellon.xml");
	CU_ASSERT_PTR_NULL(strstr(stanza, "\n        format:"));
	CU_ASSERT_PTR_NULL(strstr(stanza, "profile:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(stanza, "# nameid: {format: persistent}"));
	free(stanza);
	json_decref(info);
	/* Not metadata. */
	CU_ASSERT_EQUAL(fb_saml_metadata_parse("<a/>", 4, NULL, &info, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_saml_metadata_parse("<a", 2, NULL, &info, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_saml_metadata_parse("<!DOCTYPE a><a/>", 16, NULL, &info, &err),
	    FB_ERR_INVALID);
	/* The trust policy names the ACS posted to. */
	{
		char *pol = NULL;
		const struct fb_saml_sp *aws = fb_saml_idp_sp_get(e.idp, "aws");

		CU_ASSERT_EQUAL(fb_saml_aws_trust_policy(aws, "123456789012", "fedbroker", &pol, &err),
		    FB_OK);
		CU_ASSERT_PTR_NOT_NULL(strstr(pol, "\"SAML:aud\": \"" AWS_ACS "\""));
		CU_ASSERT_PTR_NOT_NULL(
		    strstr(pol, "arn:aws:iam::123456789012:saml-provider/fedbroker"));
		free(pol);
		CU_ASSERT_EQUAL(fb_saml_aws_trust_policy(aws, "1234", "fedbroker", &pol, &err),
		    FB_ERR_INVALID);
		CU_ASSERT_EQUAL(fb_saml_aws_trust_policy(aws, "123456789012", "a b", &pol, &err),
		    FB_ERR_INVALID);
	}
	env_cleanup(&e);
}

/* ---- configuration --------------------------------------------------------------------- */

static size_t
conf_errors(const char *yaml, const char *want)
{
	struct fb_conf *c = NULL;
	struct fb_conf_report *rep = NULL;
	size_t n, found = 0;

	fb_conf_load_string(yaml, strlen(yaml), "t.yaml", NULL, &c, &rep, NULL);
	n = fb_conf_report_errors(rep);
	for (size_t i = 0; i < fb_conf_report_count(rep); i++)
		if (strstr(fb_conf_report_line(rep, i), want) != NULL)
			found = 1;
	if (!found) {
		fprintf(stderr, "\nwanted '%s' in:\n", want);
		for (size_t i = 0; i < fb_conf_report_count(rep); i++)
			fprintf(stderr, "  %s\n", fb_conf_report_line(rep, i));
	}
	CU_ASSERT_EQUAL(found, 1);
	fb_conf_free(c);
	fb_conf_report_free(rep);
	return n;
}

static void
test_conf_keys(void)
{
	struct fb_conf *c = NULL;
	struct fb_err err = {0};
	const char *ok =
	    "server: {public_url: 'https://sso.example.com'}\n"
	    "groups: [{name: g}]\n"
	    "saml:\n"
	    "  service_providers:\n"
	    "    - name: app\n"
	    "      entity_id: urn:app\n"
	    "      acs:\n"
	    "        - url: https://app.example.com/a\n"
	    "        - url: https://app.example.com/b\n"
	    "          default: true\n"
	    "          index: 7\n"
	    "      groups: g\n"
	    "      nameid: {format: email, source: email}\n"
	    "      sign: assertion\n"
	    "      signature_algorithm: rsa-sha512\n";

	CU_ASSERT_EQUAL_FATAL(fb_conf_load_string(ok, strlen(ok), "t.yaml", NULL, &c, NULL, &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(c->nsaml_sps, 1);
	CU_ASSERT_STRING_EQUAL(c->saml_entity_id, "https://sso.example.com/saml/idp/metadata");
	CU_ASSERT_STRING_EQUAL(c->saml_sps[0].display_name, "app");
	CU_ASSERT_EQUAL(c->saml_sps[0].nacs, 2);
	CU_ASSERT_EQUAL(c->saml_sps[0].acs[0].index, 0);
	CU_ASSERT_EQUAL(c->saml_sps[0].acs[0].is_default, 0);
	CU_ASSERT_EQUAL(c->saml_sps[0].acs[1].index, 7);
	CU_ASSERT_EQUAL(c->saml_sps[0].acs[1].is_default, 1);
	CU_ASSERT_EQUAL(c->saml_sps[0].nameid_format, FB_CONF_NAMEID_EMAIL);
	CU_ASSERT_EQUAL(c->saml_sps[0].nameid_source, FB_CONF_NAMEID_FROM_EMAIL);
	CU_ASSERT_EQUAL(c->saml_sps[0].sign, FB_CONF_SAML_SIGN_ASSERTION);
	CU_ASSERT_EQUAL(c->saml_sps[0].signature_algorithm, FB_CONF_SAML_RSA_SHA512);
	CU_ASSERT_EQUAL(c->saml_sps[0].assertion_lifetime, 300);
	CU_ASSERT_EQUAL(c->saml_sps[0].require_signed_requests_set, 0);
	CU_ASSERT_EQUAL(c->saml_sps[0].nameid_format_set, 1);
	CU_ASSERT_EQUAL(c->saml_sps[0].nameid_source_set, 1);
	CU_ASSERT_EQUAL(c->saml_sps[0].ngroups, 1);
	CU_ASSERT_TRUE(fb_saml_sp_conf_allowed(c, &c->saml_sps[0], "nobody", NULL, 0) == 0);
	/* A group an upstream gave counts like a declared membership. */
	{
		const char *const ug[] = {"other", c->saml_sps[0].groups[0]};

		CU_ASSERT_TRUE(fb_saml_sp_conf_allowed(c, &c->saml_sps[0], "nobody", ug, 1) == 0);
		CU_ASSERT_TRUE(fb_saml_sp_conf_allowed(c, &c->saml_sps[0], "nobody", ug, 2) == 1);
	}
	fb_conf_free(c);
	/* Without nameid.format the SP's requests choose; a mapping then feeds emailAddress. */
	{
		static const char *const yaml[] = {
		    "saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}], nameid: {mapping: aws_role}}]}\n",
		    "saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}], nameid: {mapping: aws_role, format: persistent}}]}\n",
		};
		static const char *const said[] = {"used only when the SP asks for an emailAddress",
		    "ignored: a persistent or transient NameID"};

		for (size_t k = 0; k < 2; k++) {
			struct fb_conf_report *rep = NULL;
			char *text =
			    fb_xasprintf("mappings: {dir: %s/mappings}\n%s", FB_SRCDIR, yaml[k]);
			int seen = 0;

			c = NULL;
			CU_ASSERT_EQUAL(fb_conf_load_string(text, strlen(text), "t.yaml", NULL, &c,
			                    &rep, &err),
			    FB_OK);
			CU_ASSERT_PTR_NOT_NULL_FATAL(c);
			CU_ASSERT_EQUAL(c->saml_sps[0].nameid_format_set, (int)k);
			CU_ASSERT_EQUAL(c->saml_sps[0].nameid_source_set, 0);
			for (size_t i = 0; i < fb_conf_report_count(rep); i++)
				seen |= strstr(fb_conf_report_line(rep, i), said[k]) != NULL;
			CU_ASSERT_TRUE(seen);
			fb_conf_report_free(rep);
			fb_conf_free(c);
			free(text);
		}
	}
	conf_errors("saml: {service_providers: [{name: a}]}\n",
	    "saml.service_providers[0].entity_id: missing: give metadata:");
	conf_errors("saml: {service_providers: [{entity_id: 'urn:x', acs: [{url: 'https://x/a'}]}]}\n",
	    "saml.service_providers[0].name: missing (required in every service_provider)");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{index: 1}]}]}\n",
	    "saml.service_providers[0].acs[0].url: missing (required in every acs)");
	conf_errors("saml: {service_providers: [{name: A B, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}]}]}\n",
	    "is not a service provider name");
	conf_errors("saml: {service_providers: [{name: a, metadata: /nonexistent.xml, entity_id: "
		    "'urn:x'}]}\n",
	    "give either metadata: or the inline entity_id:");
	conf_errors("saml: {service_providers: [{name: a, metadata: /nonexistent.xml}]}\n",
	    "cannot read '/nonexistent.xml'");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'not a uri', acs: [{url: "
		    "'https://x/a'}]}]}\n",
	    "must be a URI");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a', default: true}, {url: 'https://x/b', default: true}]}]}\n",
	    "2 entries are marked default");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}], groups: [nope]}]}\n",
	    "unknown group 'nope'");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}], attributes: [{name: n, mapping: nomap}]}]}\n",
	    "no mapping 'nomap'");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}]}, {name: a, entity_id: 'urn:y', acs: [{url: 'https://x/a'}]}]}\n",
	    "duplicate service provider 'a'");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}], require_signed_requests: true}]}\n",
	    "true needs the SP's certificate");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}], sign: everything}]}\n",
	    "unknown value 'everything'");
	conf_errors("saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}], nameid: {fromat: email}}]}\n",
	    "unknown key 'fromat' (did you mean 'format'?)");
	/* Warnings only: AWS needs that config-check can see. */
	{
		const char *w =
		    "saml: {service_providers: [{name: a, entity_id: 'urn:x', acs: [{url: "
		    "'https://x/a'}], profile: aws-identity-center, encrypt_assertion: false}]}\n";
		struct fb_conf_report *rep = NULL;

		CU_ASSERT_EQUAL(fb_conf_load_string(w, strlen(w), "t.yaml", NULL, &c, &rep, &err),
		    FB_OK);
		CU_ASSERT(fb_conf_report_warnings(rep) >= 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(fb_conf_report_line(rep, 0), "emailAddress"));
		fb_conf_report_free(rep);
		fb_conf_free(c);
	}
}

/* The inline SP: metadata templated from the keys, ECDSA signing, encryption. */
static void
test_inline_sp(void)
{
	struct env e;
	struct fb_saml_reply r = {0};
	struct fb_saml_subject who;
	struct fb_err err = {0};
	char *xml, *extra;

	extra = fb_xasprintf(
	    "    - name: inline\n"
	    "      entity_id: urn:test:inline\n"
	    "      acs: [{url: 'https://inline.example.com/acs'}]\n"
	    "      slo_url: https://inline.example.com/slo\n"
	    "      certificate: %s/tests/fixtures/keys/rsa2048.crt.pem\n"
	    "      encrypt_assertion: true\n"
	    "      sign: both\n"
	    "      nameid: {format: transient}\n"
	    "      attributes: [{name: urn:oid:0.9.2342.19200300.100.1.3, mapping: email, "
	    "name_format: uri, friendly_name: mail}, {name: multi, mapping: multi, name_format: "
	    "basic}]\n",
	    FB_SRCDIR);
	CU_ASSERT_EQUAL_FATAL(env_setup(&e, extra), 0);
	free(extra);
	who = subject_of(&e.alice);
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_initiated(e.idp, e.st,
				  fb_saml_idp_sp_get(e.idp, "inline"), &who, NULL, "t", &r, &err),
	    FB_OK);
	xml = b64_decode(r.post_value);
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<saml:EncryptedAssertion"));
	CU_ASSERT_PTR_NULL(strstr(xml, "alice@example.com"));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "aes256-gcm"));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "rsa-oaep"));
	free(xml);
	/* The SP's private key (the fixture's) decrypts it, lasso checks the signatures. */
	{
		struct sp lsp;
		char *key = read_text(FB_SRCDIR "/tests/fixtures/keys/rsa2048.key.pem");
		char *cert = read_text(FB_SRCDIR "/tests/fixtures/keys/rsa2048.crt.pem");
		char *spmd = fb_xasprintf(
		    "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
		    "entityID=\"urn:test:inline\"><md:SPSSODescriptor "
		    "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">"
		    "<md:AssertionConsumerService Binding=\"" FB_SAML_BINDING_POST_URI
		    "\" Location=\"https://inline.example.com/acs\" index=\"0\"/>"
		    "</md:SPSSODescriptor></md:EntityDescriptor>");

		CU_ASSERT_EQUAL(sp_consume(&e, spmd, key, cert, r.post_value, &lsp), 0);
		if (lsp.as != NULL) {
			char *v = attr_values(lsp.as, "urn:oid:0.9.2342.19200300.100.1.3");

			CU_ASSERT_STRING_EQUAL(v, "alice@example.com");
			free(v);
			v = attr_values(lsp.as, "multi");
			CU_ASSERT_STRING_EQUAL(v, "a<b|c&d|e");
			free(v);
			CU_ASSERT_STRING_EQUAL(lsp.as->Subject->NameID->Format,
			    FB_SAML_NAMEID_TRANSIENT);
		}
		sp_cleanup(&lsp);
		free(spmd);
		free(key);
		free(cert);
	}
	fb_saml_reply_cleanup(&r);
	env_cleanup(&e);
}

/* sign: assertion gives one signature in the Assertion, sign: response one before it. */
static void
test_sign_choices(void)
{
	struct env e;
	struct fb_saml_reply r = {0};
	struct fb_saml_subject who;
	struct fb_err err = {0};
	char *xml, *extra;

	extra = fb_xasprintf(
	    "    - name: aonly\n"
	    "      entity_id: urn:test:aonly\n"
	    "      acs: [{url: 'https://aonly.example.com/acs'}]\n"
	    "      sign: assertion\n"
	    "    - name: ronly\n"
	    "      entity_id: urn:test:ronly\n"
	    "      acs: [{url: 'https://ronly.example.com/acs'}]\n"
	    "      sign: response\n"
	    "      signature_algorithm: rsa-sha512\n");
	CU_ASSERT_EQUAL_FATAL(env_setup(&e, extra), 0);
	free(extra);
	who = subject_of(&e.alice);
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_initiated(e.idp, e.st, fb_saml_idp_sp_get(e.idp, "aonly"),
				  &who, NULL, "t", &r, &err),
	    FB_OK);
	xml = b64_decode(r.post_value);
	CU_ASSERT_EQUAL(count(xml, "<ds:Signature "), 1);
	CU_ASSERT(strstr(xml, "<ds:Signature ") > strstr(xml, "<saml:Assertion"));
	free(xml);
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_initiated(e.idp, e.st, fb_saml_idp_sp_get(e.idp, "ronly"),
				  &who, NULL, "t", &r, &err),
	    FB_OK);
	xml = b64_decode(r.post_value);
	CU_ASSERT_EQUAL(count(xml, "<ds:Signature "), 1);
	CU_ASSERT(strstr(xml, "<ds:Signature ") < strstr(xml, "<saml:Assertion"));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "rsa-sha512"));
	CU_ASSERT_PTR_NOT_NULL(strstr(xml, "xmlenc#sha512"));
	free(xml);
	fb_saml_reply_cleanup(&r);
	env_cleanup(&e);
}

/*
 * fb_saml_sign_node takes the digest before it inserts the Signature: what
 * a verifier's enveloped-signature transform gives must be the same bytes,
 * with comments inside the node (left out of "#ID") and around it, escaped
 * text and attributes, and the Signature first or after the Issuer. xmlsec's
 * own verifier (XPointer, enveloped transform) checks each; a changed byte
 * is refused.
 */
static void
test_sign_node_verifies(void)
{
	static const char *docs[] = {
	    "<r:Root xmlns:r=\"urn:r\" ID=\"_r1\"><r:Issuer>i</r:Issuer><!-- c -->"
	    "<r:V a=\"1&amp;2\" xmlns:o=\"urn:o\">t&lt;</r:V></r:Root>",
	    "<!-- before --><r:Root xmlns:r=\"urn:r\" ID=\"_r2\"><r:Issuer>i</r:Issuer>"
	    "<r:V>t&lt;<!-- c --></r:V></r:Root><?pi after?>",
	};
	char *dir = fb_test_tmpdir();
	struct app a;

	app_make(dir, &a, 0);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		for (int after_first = 0; after_first <= 1; after_first++) {
			struct fb_err err = {0};
			xmlDocPtr doc = NULL;
			char *xml, *bad;
			size_t len = 0;

			CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(docs[i], strlen(docs[i]), &doc, &err),
			    FB_OK);
			CU_ASSERT_EQUAL_FATAL(fb_saml_sign_node(xmlDocGetRootElement(doc), &a.keys[0],
						  FB_CONF_SAML_RSA_SHA256, after_first, &err),
			    FB_OK);
			xml = fb_saml_doc_dump(doc, &len);
			xmlFreeDoc(doc);
			if (after_first) {
				CU_ASSERT_PTR_NOT_NULL(strstr(xml, "</r:Issuer><ds:Signature"));
			} else {
				const char *sig = strstr(xml, "<ds:Signature");
				const char *issuer = strstr(xml, "<r:Issuer");

				/* Both present, and the signature first. */
				CU_ASSERT_PTR_NOT_NULL(sig);
				CU_ASSERT_PTR_NOT_NULL(issuer);
				CU_ASSERT(sig != NULL && issuer != NULL && sig < issuer);
			}
			CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(xml, len, &doc, &err), FB_OK);
			if (fb_saml_verify_root(doc, a.cert_pem, &err) != FB_OK)
				fprintf(stderr, "\n%s\n%s\n", err.msg, xml);
			CU_ASSERT_EQUAL(fb_saml_verify_root(doc, a.cert_pem, &err), FB_OK);
			xmlFreeDoc(doc);
			/* A byte of the signed text changed: refused. */
			bad = fb_xstrdup(xml);
			CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(bad, ">t&lt;"));
			strstr(bad, ">t&lt;")[1] = 'u';
			CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(bad, len, &doc, &err), FB_OK);
			CU_ASSERT_EQUAL(fb_saml_verify_root(doc, a.cert_pem, &err), FB_ERR_SIGNATURE);
			xmlFreeDoc(doc);
			free(bad);
			free(xml);
		}
	}
	app_free(&a);
	fb_test_rmtree(dir);
	free(dir);
}

/*
 * The XML gate (issue 10, finding 5): UTF-8 only, and the parser itself
 * refuses a DTD, whatever the declared encoding (UTF-7 hid a DOCTYPE from
 * the old text filter), the metadata reader included.
 */
static void
test_xml_gate(void)
{
	static const struct {
		const char *xml;
		size_t len; /* 0: strlen */
		const char *why;
	} bad[] = {
	    /* UTF-7: "+ADw-" is '<'; a DOCTYPE with an external entity no text filter sees. */
	    {"<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-!DOCTYPE r +AFs-+ADw-!ENTITY x SYSTEM "
	     "+ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-<r>&x;</r>",
	        0, "encoding UTF-7"},
	    {"<?xml version=\"1.0\" encoding=\"utf-7\"?><r/>", 0, "encoding utf-7"},
	    {"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>caf\xc3\xa9</r>", 0,
	        "encoding ISO-8859-1"},
	    {"<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>", 0, "encoding UTF-16"},
	    /* UTF-16 with its byte order marks, and without one. */
	    {"\xff\xfe<\0r\0/\0>\0", 10, "not UTF-8"},
	    {"\xfe\xff\0<\0r\0/\0>", 10, "not UTF-8"},
	    {"<\0r\0/\0>\0", 8, "not UTF-8"},
	    /* Plain DTDs: the parser stops at the DOCTYPE. */
	    {"<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>", 0, "DOCTYPE"},
	    {"<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://127.0.0.1:9/p.dtd\"> %p;]><r/>", 0,
	        "DOCTYPE"},
	    {"<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
	     "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]><r>&c;&c;&c;</r>",
	        0, "DOCTYPE"},
	    {"<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/r.dtd\"><r/>", 0, "DOCTYPE"},
	    {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE r><r/>", 0, "DOCTYPE"},
	    /* An entity never declared is not well-formed. */
	    {"<r>&x;</r>", 0, "well-formed"},
	};
	static const char *const good[] = {
	    "<r/>",
	    "<?xml version=\"1.0\"?><r/>",
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><r/>",
	    "<?xml version=\"1.0\" encoding=\"utf-8\"?><r>caf\xc3\xa9</r>",
	    "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?><r/>", /* UTF-8's BOM */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fb_err err = {0};
		xmlDocPtr doc = NULL;
		size_t len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].xml);
		json_t *info = NULL;

		CU_ASSERT_EQUAL(fb_saml_xml_parse(bad[i].xml, len, &doc, &err), FB_ERR_INVALID);
		CU_ASSERT_PTR_NULL(doc);
		if (strstr(err.msg, bad[i].why) == NULL)
			fprintf(stderr, "\ncase %zu: %s\n", i, err.msg);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].why));
		/* The metadata reader (import and SP files) goes through the same gate. */
		CU_ASSERT_EQUAL(fb_saml_metadata_parse(bad[i].xml, len, NULL, &info, &err),
		    FB_ERR_INVALID);
		CU_ASSERT_PTR_NULL(info);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct fb_err err = {0};
		xmlDocPtr doc = NULL;

		CU_ASSERT_EQUAL(fb_saml_xml_parse(good[i], strlen(good[i]), &doc, &err), FB_OK);
		if (doc != NULL)
			xmlFreeDoc(doc);
	}
}

/* The element and attribute lookups the request and metadata readers share. */
static void
test_xml_lookups(void)
{
	static const char xml[] = "<p:R xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" a=\"1\">text"
				  "<q:C/><p:C b=\"\"/><p:C b=\"second\"/></p:R>";
	struct fb_err err = {0};
	xmlDocPtr doc = NULL;
	xmlNodePtr root, c;
	char *v;

	CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(xml, strlen(xml), &doc, &err), FB_OK);
	root = xmlDocGetRootElement(doc);
	CU_ASSERT_TRUE(fb_saml_xml_is(root, "urn:p", "R"));
	CU_ASSERT_FALSE(fb_saml_xml_is(root, "urn:q", "R"));
	CU_ASSERT_FALSE(fb_saml_xml_is(root, "urn:p", "C"));
	CU_ASSERT_FALSE(fb_saml_xml_is(root->children, "urn:p", "R")); /* a text node */
	CU_ASSERT_FALSE(fb_saml_xml_is(NULL, "urn:p", "R"));
	/* The first child in that namespace: not q:C, and p:C's empty b is "", not NULL. */
	c = fb_saml_xml_child(root, "urn:p", "C");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	v = fb_saml_xml_prop(c, "b");
	CU_ASSERT_STRING_EQUAL(v, "");
	free(v);
	CU_ASSERT_PTR_NULL(fb_saml_xml_prop(c, "a"));
	CU_ASSERT_PTR_NULL(fb_saml_xml_child(root, "urn:p", "D"));
	CU_ASSERT_PTR_NULL(fb_saml_xml_child(NULL, "urn:p", "C"));
	v = fb_saml_xml_prop(root, "a");
	CU_ASSERT_STRING_EQUAL(v, "1");
	free(v);
	xmlFreeDoc(doc);
}

/* explain: what a user would get, without writing to the store. */
static void
test_explain(void)
{
	struct env e;
	struct fb_err err = {0};
	json_t *out = NULL;
	char *got = NULL;

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fb_saml_explain(e.idp, e.st, fb_saml_idp_sp_get(e.idp, "aws"),
				  &e.alice, &out, &err),
	    FB_OK);
	CU_ASSERT_TRUE(json_is_true(json_object_get(out, "ok")));
	CU_ASSERT_TRUE(json_is_true(json_object_get(json_object_get(out, "nameid"), "new")));
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(out, "assertion")),
	    "<saml:Assertion"));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(out, "attributes")), 4);
	CU_ASSERT_EQUAL(fb_store_nameid_get(e.st, e.alice.id, "urn:amazon:webservices", &got, &err),
	    FB_ERR_NOTFOUND);
	json_decref(out);
	CU_ASSERT_EQUAL_FATAL(fb_saml_explain(e.idp, e.st, fb_saml_idp_sp_get(e.idp, "aws"),
				  &e.carol, &out, &err),
	    FB_OK);
	CU_ASSERT_TRUE(json_is_false(json_object_get(out, "ok")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(json_object_get(out,
				       "checks"), 0), "rule")),
	    "aws-role-required");
	CU_ASSERT_PTR_NULL(json_object_get(out, "assertion"));
	json_decref(out);
	env_cleanup(&e);
}

/* check-config: what only building the IdP shows. */
static void
test_check(void)
{
	struct env e;
	struct fb_err err = {0};
	json_t *problems = NULL, *p;
	size_t i;
	int idc_user = 0, expired = 0;

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	CU_ASSERT_EQUAL(fb_saml_check(e.conf, e.kr, &problems, &err), FB_OK);
	json_array_foreach(problems, i, p) {
		const char *m = json_string_value(json_object_get(p, "message"));

		idc_user |= strstr(m, "'alice'") != NULL && strstr(m, "not an email") != NULL;
		expired |= strstr(m, "validUntil") != NULL;
		CU_ASSERT_TRUE(json_is_false(json_object_get(p, "error")));
	}
	/* Identity Center is open to everyone here; alice's username is not an addr-spec. */
	CU_ASSERT_TRUE(idc_user);
	CU_ASSERT_TRUE(expired);
	json_decref(problems);
	/* Before the first start no key exists: the SPs are still checked, the keys not. */
	idc_user = 0;
	CU_ASSERT_EQUAL(fb_saml_check(e.conf, NULL, &problems, &err), FB_OK);
	json_array_foreach(problems, i, p) {
		const char *m = json_string_value(json_object_get(p, "message"));

		idc_user |= strstr(m, "'alice'") != NULL;
		CU_ASSERT_PTR_NULL(strstr(m, "certificate is"));
	}
	CU_ASSERT_TRUE(idc_user);
	json_decref(problems);
	env_cleanup(&e);
}

/*
 * Start-up with many SPs (bench/store.sh): each SP certificate is decoded once
 * per process. The check-config build decodes the signing certificates and
 * describes all of them with those (the rest once); a worker's build decodes
 * its signing certificates once; the description is the same either way.
 */
static void
test_cert_decodes(void)
{
	struct env e;
	struct fb_err err = {0};
	struct fb_saml_idp *idp = NULL;
	json_t *problems = NULL, *a = NULL, *b = NULL;
	unsigned long certs = 0, signing = 0;

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	for (size_t i = 0; i < e.idp->nsps; i++)
		for (size_t k = 0; k < e.idp->sps[i].md.ncerts; k++) {
			certs++;
			signing += strcmp(e.idp->sps[i].md.certs[k].use, "encryption") != 0;
		}
	CU_ASSERT_TRUE(signing > 0);
	fb_saml_cert_decodes = 0;
	CU_ASSERT_EQUAL(fb_saml_check(e.conf, e.kr, &problems, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_cert_decodes, certs);
	json_decref(problems);
	fb_saml_cert_decodes = 0;
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_new(e.conf, e.kr, NULL, &idp, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_cert_decodes, signing);
	/* A worker's IdP keeps no certificate, only the keys. */
	for (size_t i = 0; i < idp->nsps; i++)
		for (size_t k = 0; k < idp->sps[i].md.ncerts; k++)
			CU_ASSERT_PTR_NULL(idp->sps[i].certs[k]);
	fb_saml_idp_free(idp);
	/* The check's build keeps them, and describes the SP as from scratch. */
	CU_ASSERT_EQUAL_FATAL(fb_saml_idp_build(e.conf, e.kr, 1, NULL, &idp, &err), FB_OK);
	for (size_t i = 0; i < idp->nsps; i++) {
		const struct fb_saml_sp *sp = &idp->sps[i];
		size_t len = strlen(sp->metadata_xml);

		CU_ASSERT_EQUAL(fb_saml_metadata_parse(sp->metadata_xml, len, NULL, &a, &err), FB_OK);
		fb_saml_cert_decodes = 0;
		CU_ASSERT_EQUAL(fb_saml_metadata_describe(sp->metadata_xml, len, NULL, sp->certs,
		                    sp->md.ncerts, &b, &err),
		    FB_OK);
		signing = 0;
		for (size_t k = 0; k < sp->md.ncerts; k++)
			if (strcmp(sp->md.certs[k].use, "encryption") != 0) {
				CU_ASSERT_PTR_NOT_NULL(sp->certs[k]);
				signing++;
			}
		/* Only the encryption certificates are decoded again. */
		CU_ASSERT_EQUAL(fb_saml_cert_decodes, sp->md.ncerts - signing);
		CU_ASSERT_TRUE(json_equal(a, b));
		CU_ASSERT_TRUE(
		    json_array_size(json_object_get(b, "certificates")) == sp->md.ncerts);
		json_decref(b);
		/* From what the build parsed (the check's way): the same, no XML parsed again. */
		b = fb_saml_md_describe(&sp->md, 0, sp->certs, sp->md.ncerts);
		CU_ASSERT_TRUE(json_equal(a, b));
		json_decref(a);
		json_decref(b);
	}
	fb_saml_idp_free(idp);
	/* Not a certificate: NULL, counted. */
	fb_saml_cert_decodes = 0;
	CU_ASSERT_PTR_NULL(fb_saml_cert_decode("bm90IGEgY2VydGlmaWNhdGU="));
	CU_ASSERT_PTR_NULL(fb_saml_cert_decode(""));
	CU_ASSERT_EQUAL(fb_saml_cert_decodes, 2);
	env_cleanup(&e);
}

/*
 * The daemon's master builds the IdP once, in its configuration check, and the
 * workers inherit it (bench/store.sh start-up): that build decodes each SP
 * certificate once, keeps none of them afterwards, and is the IdP
 * fb_saml_idp_new builds; nothing is handed back without keys or with errors.
 */
static void
test_check_build(void)
{
	struct env e;
	struct fb_err err = {0};
	struct fb_saml_idp *idp = NULL;
	json_t *problems = NULL;
	unsigned long certs = 0;
	char *a = NULL, *b = NULL;

	CU_ASSERT_EQUAL_FATAL(env_setup(&e, NULL), 0);
	for (size_t i = 0; i < e.idp->nsps; i++)
		certs += e.idp->sps[i].md.ncerts;
	fb_saml_cert_decodes = 0;
	CU_ASSERT_EQUAL(fb_saml_check_build(e.conf, e.kr, NULL, &problems, &idp, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_cert_decodes, certs);
	json_decref(problems);
	CU_ASSERT_PTR_NOT_NULL_FATAL(idp);
	CU_ASSERT_EQUAL(idp->keyless, 0);
	CU_ASSERT_EQUAL(idp->nsps, e.idp->nsps);
	for (size_t i = 0; i < idp->nsps; i++) {
		CU_ASSERT_STRING_EQUAL(idp->sps[i].md.entity_id, e.idp->sps[i].md.entity_id);
		CU_ASSERT_EQUAL(idp->sps[i].nverify_keys, e.idp->sps[i].nverify_keys);
		CU_ASSERT_EQUAL(idp->sps[i].require_signed, e.idp->sps[i].require_signed);
		for (size_t k = 0; k < idp->sps[i].md.ncerts; k++)
			CU_ASSERT_PTR_NULL(idp->sps[i].certs[k]);
	}
	/* It signs as the worker's own build does: the same metadata. */
	CU_ASSERT_EQUAL(fb_saml_idp_metadata(idp, 1, &a, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_idp_metadata(e.idp, 1, &b, NULL, &err), FB_OK);
	CU_ASSERT_TRUE(a != NULL && b != NULL && strlen(a) == strlen(b));
	free(a);
	free(b);
	fb_saml_idp_free(idp);
	/* No key yet (check-config before the first start): checked, nothing handed back. */
	idp = (struct fb_saml_idp *)&e;
	CU_ASSERT_EQUAL(fb_saml_check_build(e.conf, NULL, NULL, &problems, &idp, &err), FB_OK);
	CU_ASSERT_PTR_NULL(idp);
	json_decref(problems);
	env_cleanup(&e);
}

/* ---- registration ------------------------------------------------------------------------ */

int
fb_test_saml_register(void)
{
	CU_pSuite s = CU_add_suite("saml", NULL, NULL);

	if (s == NULL ||
	    CU_add_test(s, "decode: base64, deflate, DTD, limits", test_decode) == NULL ||
	    CU_add_test(s, "query parameters and forms", test_query_and_form) == NULL ||
	    CU_add_test(s, "RelayState: one rule", test_relay_state_rule) == NULL ||
	    CU_add_test(s, "AWS checks", test_aws_checks) == NULL ||
	    CU_add_test(s, "IdP-initiated to AWS, consumed by lasso", test_idp_initiated_aws) ==
	        NULL ||
	    CU_add_test(s, "refusals: groups, AWS rules, mappings", test_idp_initiated_refusals) ==
	        NULL ||
	    CU_add_test(s, "IAM Identity Center", test_identity_center) == NULL ||
	    CU_add_test(s, "IDs differ across fork()", test_ids_across_fork) == NULL ||
	    CU_add_test(s, "SP-initiated: Redirect, POST, signatures, ACS", test_sp_initiated) ==
	        NULL ||
	    CU_add_test(s, "SP-initiated: bad input", test_sp_initiated_bad_input) == NULL ||
	    CU_add_test(s, "SP-initiated: the NameID format asked for",
	        test_sp_initiated_nameid_format) == NULL ||
	    CU_add_test(s, "NameID format without a request", test_nameid_format_pick) == NULL ||
	    CU_add_test(s, "SP-initiated: optional signatures are verified",
	        test_sp_initiated_optional_signature) == NULL ||
	    CU_add_test(s, "single logout", test_logout) == NULL ||
	    CU_add_test(s, "want_authn_requests_signed is enforced", test_want_requests_signed) ==
	        NULL ||
	    CU_add_test(s, "metadata: ours, AWS, signed, trust policy", test_metadata) == NULL ||
	    CU_add_test(s, "configuration keys", test_conf_keys) == NULL ||
	    CU_add_test(s, "inline SP: encryption, attributes", test_inline_sp) == NULL ||
	    CU_add_test(s, "what is signed", test_sign_choices) == NULL ||
	    CU_add_test(s, "a signature verifies", test_sign_node_verifies) == NULL ||
	    CU_add_test(s, "xml lookups", test_xml_lookups) == NULL ||
	    CU_add_test(s, "xml gate: UTF-8 only, no DTD", test_xml_gate) == NULL ||
	    CU_add_test(s, "explain", test_explain) == NULL ||
	    CU_add_test(s, "check-config", test_check) == NULL ||
	    CU_add_test(s, "each SP certificate decoded once", test_cert_decodes) == NULL ||
	    CU_add_test(s, "the master's build: checked once, kept", test_check_build) == NULL)
		return -1;
	return 0;
}
