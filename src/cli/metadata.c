/* SPDX-License-Identifier: Apache-2.0 */
/* cli/metadata.c: fedbroker metadata export|import|show: the IdP's metadata out, SPs' in. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "saml/saml.h"
#include "cli/cli.h"

/* Largest metadata document read from a file or a URL (aggregates are refused anyway). */
#define METADATA_MAX (4 * 1024 * 1024)
/* Seconds a metadata download may take. */
#define FETCH_TIMEOUT 30L

static const char usage_metadata[] =
    "usage: fedbroker metadata <command> [options]\n"
    "\n"
    "SAML metadata: the broker's own (IdP, or SP with --sp) metadata out, service\n"
    "providers' and upstream identity providers' in.\n"
    "\n"
    "commands:\n"
    "  export   print the IdP metadata SPs import (--sp: the SP metadata IdPs import)\n"
    "  import   read SP or IdP metadata from a file or URL, save it, print the config\n"
    "  show     describe a metadata file or URL\n"
    "\n"
    "'fedbroker metadata <command> --help' describes a command.\n";

static const char usage_export[] =
    "usage: fedbroker metadata export [--sp] [--out FILE] [--sign] [--config FILE]\n"
    "                                 [--state-dir DIR]\n"
    "\n"
    "Prints the IdP metadata that /saml/idp/metadata serves: the entity id, every\n"
    "published signing certificate (the active key first, so a service provider\n"
    "can trust the next key before it signs), the NameID formats, and the\n"
    "SingleSignOnService and SingleLogoutService endpoints under server.public_url.\n"
    "Upload it to AWS IAM (Identity providers, SAML) or IAM Identity Center. The\n"
    "signing keys must exist: start the broker once or run 'fedbroker keys generate'.\n"
    "\n"
    "With --sp, prints instead the metadata of the broker's service provider, which\n"
    "/saml/sp/metadata serves and the upstream SAML identity providers import: the\n"
    "entity id (saml.sp.entity_id), the signing and encryption certificates, one\n"
    "HTTP-POST AssertionConsumerService per SAML upstream (/upstream/NAME/acs) and\n"
    "the SingleLogoutService; AuthnRequestsSigned and WantAssertionsSigned are true.\n"
    "\n"
    "      --sp             the service provider metadata (for upstream IdPs)\n"
    "  -o, --out FILE       write FILE (mode 0644) instead of standard output\n"
    "      --sign           add an enveloped signature made with the active key\n"
    FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

static const char usage_import[] =
    "usage: fedbroker metadata import FILE|URL --name NAME [--cert PEM] [--dir DIR] [--force]\n"
    "                                 [--config FILE]\n"
    "\n"
    "Reads service provider (or IdP) metadata from FILE or from an http(s) URL,\n"
    "checks it, shows what it declares (entity id, endpoints, NameID formats,\n"
    "certificates and their expiry), saves it as DIR/NAME.xml and prints the\n"
    "entry to paste under saml.service_providers in the configuration (a list\n"
    "item with display_name and groups to fill in); for identity provider\n"
    "metadata, the entry to paste under upstreams (a SAML upstream). With --cert the\n"
    "metadata must carry an enveloped signature made with that certificate's key.\n"
    "An expired validUntil or certificate is a warning, not an error (AWS's\n"
    "published metadata often carries one). Nothing is written when a check fails.\n"
    "\n"
    "  -n, --name NAME      the service provider's name: 1 to 64 of a-z 0-9 _ -\n"
    "      --cert PEM       verify the metadata's signature with this certificate\n"
    "      --dir DIR        where to save (default: metadata/ next to the configuration\n"
    "                       file, else ./metadata)\n"
    "  -f, --force          replace an existing DIR/NAME.xml\n"
    "  -c, --config FILE    configuration file (locates the default --dir)\n" FB_CLI_HELP_HELP;

static const char usage_show[] =
    "usage: fedbroker metadata show FILE|URL [--cert PEM] [--json]\n"
    "\n"
    "Describes SAML metadata without saving anything: entity id, role, validity,\n"
    "signature, endpoints, NameID formats, certificates and their expiry, and\n"
    "warnings. Exit status 1 when it is not usable metadata (or the signature does\n"
    "not verify with --cert).\n"
    "\n"
    "      --cert PEM       verify the metadata's signature with this certificate\n"
    "      --json           print the description as JSON\n" FB_CLI_HELP_HELP;

/* Everything a metadata subcommand may be given. */
struct args {
	struct fb_cli_conf_opts co;
	const char *out;
	const char *name;
	const char *cert;
	const char *dir;
	const char *source; /* FILE|URL operand */
	int sp;
	int sign;
	int force;
	int json;
};

#define MISSING_SOURCE "the metadata FILE or URL is missing"

/* ---- reading ------------------------------------------------------------------- */

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct fb_buf *b = arg;

	/* A short count makes curl stop with CURLE_WRITE_ERROR: the size limit. */
	return fb_buf_add(b, p, size * n, NULL) == FB_OK ? size * n : 0;
}

/*
 * Downloads url (http or https only; TLS verified; at most METADATA_MAX
 * bytes, FETCH_TIMEOUT seconds) into *out (new, NUL-terminated), its
 * length in *len. Blocking: the CLI may wait.
 */
static enum fb_status
fetch_url(const char *url, char **out, size_t *len, struct fb_err *err)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	struct fb_buf b;
	CURL *c = NULL;
	CURLcode cc;
	long status = 0;
	enum fb_status r;

	fb_buf_init(&b, METADATA_MAX);
	if ((c = curl_easy_init()) == NULL) {
		r = fb_err_set(err, FB_ERR_INTERNAL, "curl_easy_init failed");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* SECURITY: only http(s), also across redirects (no file://, no gopher). */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, FETCH_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)METADATA_MAX);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "fedbroker-metadata/" PACKAGE_VERSION);
	cc = curl_easy_perform(c);
	if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED) {
		r = fb_err_set(err, FB_ERR_LIMIT, "%s: larger than %d bytes", url, METADATA_MAX);
		goto out;
	}
	if (cc != CURLE_OK) {
		r = fb_err_set(err, FB_ERR_UPSTREAM, "%s: %s", url,
		    ebuf[0] != '\0' ? ebuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		r = fb_err_set(err, FB_ERR_UPSTREAM, "%s: HTTP status %ld (expected 200)", url,
		    status);
		goto out;
	}
	*len = b.len;
	*out = fb_buf_take(&b);
	r = FB_OK;
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	fb_buf_cleanup(&b);
	return r;
}

/* Reads path (at most max bytes) into *out (new, NUL-terminated), its length in *len. */
static enum fb_status
read_file(const char *path, size_t max, char **out, size_t *len, struct fb_err *err)
{
	char chunk[8192];
	struct fb_buf b;
	FILE *f;
	size_t n;
	enum fb_status r = FB_OK;

	if ((f = fopen(path, "rb")) == NULL)
		return fb_err_set(err, FB_ERR_IO, "%s: %s", path, strerror(errno));
	fb_buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((r = fb_buf_add(&b, chunk, n, NULL)) != FB_OK) {
			r = fb_err_set(err, FB_ERR_LIMIT, "%s: larger than %zu bytes", path, max);
			goto out;
		}
	if (ferror(f)) {
		r = fb_err_set(err, FB_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	*len = b.len;
	*out = fb_buf_take(&b);
out:
	fclose(f);
	fb_buf_cleanup(&b);
	return r;
}

static int
is_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

/* The metadata source (file or URL) into *xml. */
static enum fb_status
read_source(const char *src, char **xml, size_t *len, struct fb_err *err)
{
	if (is_url(src))
		return fetch_url(src, xml, len, err);
	return read_file(src, METADATA_MAX, xml, len, err);
}

/*
 * Reads and parses the metadata of a->source, verifying its signature
 * with a->cert when given. New JSON in *info; with xml non-NULL, the
 * document read in *xml (new) and its length in *len.
 */
static enum fb_status
load_info(const struct args *a, json_t **info, char **xml, size_t *len, struct fb_err *err)
{
	char *doc = NULL, *pem = NULL;
	size_t n = 0, plen = 0;
	enum fb_status r;

	if ((r = read_source(a->source, &doc, &n, err)) != FB_OK)
		goto out;
	if (a->cert != NULL && (r = read_file(a->cert, 256 * 1024, &pem, &plen, err)) != FB_OK)
		goto out;
	if ((r = fb_saml_metadata_parse(doc, n, pem, info, err)) != FB_OK) {
		fb_err_prefix(err, "%s: ", a->source);
		goto out;
	}
	if (xml != NULL) {
		*xml = doc;
		*len = n;
		doc = NULL; /* transferred */
	}
out:
	free(doc);
	free(pem);
	return r;
}

/* ---- printing ------------------------------------------------------------------- */

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static int
jtrue(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* The short name of a binding URI ("HTTP-POST"). */
static const char *
binding_name(const char *uri)
{
	const char *p = strrchr(uri, ':');

	return p != NULL ? p + 1 : uri;
}

static void
print_endpoints(const json_t *info, const char *key, const char *title)
{
	const json_t *arr = json_object_get(info, key), *e;
	size_t i;

	if (json_array_size(arr) == 0)
		return;
	printf("%s:\n", title);
	json_array_foreach(arr, i, e)
	{
		const json_t *idx = json_object_get(e, "index");

		printf("  ");
		if (json_is_integer(idx))
			printf("[%" JSON_INTEGER_FORMAT "] ", json_integer_value(idx));
		printf("%-13s %s%s\n", binding_name(jstr(e, "binding")), jstr(e, "url"),
		    jtrue(e, "default") ? "  (default)" : "");
	}
}

/* The human-readable description of fb_saml_metadata_parse's JSON; warnings to stderr. */
static void
print_info(const json_t *info, const char *source, const char *cert)
{
	const json_t *arr, *e;
	int sp = strcmp(jstr(info, "role"), "sp") == 0;
	size_t i;

	printf("source:          %s\n", source);
	printf("entity id:       %s\n", jstr(info, "entity_id"));
	printf("role:            %s\n", sp ? "service provider (SP)" : "identity provider (IdP)");
	if (json_is_string(json_object_get(info, "valid_until")))
		printf("valid until:     %s%s\n", jstr(info, "valid_until"),
		    jtrue(info, "expired") ? "  (EXPIRED)" : "");
	else
		printf("valid until:     (not limited)\n");
	if (!jtrue(info, "signed"))
		printf("signature:       none\n");
	else if (jtrue(info, "signature_verified"))
		printf("signature:       verified with %s\n", cert);
	else
		printf("signature:       present, not verified (give --cert to verify it)\n");
	if (sp)
		printf("requests:        AuthnRequestsSigned=%s WantAssertionsSigned=%s\n",
		    jtrue(info, "authn_requests_signed") ? "true" : "false",
		    jtrue(info, "want_assertions_signed") ? "true" : "false");
	arr = json_object_get(info, "nameid_formats");
	printf("NameID formats:%s\n", json_array_size(arr) == 0 ? "  (none declared)" : "");
	json_array_foreach(arr, i, e)
	{
		printf("  %s\n", json_string_value(e));
	}
	print_endpoints(info, "acs", "assertion consumer services");
	print_endpoints(info, "sso", "single sign-on services");
	print_endpoints(info, "slo", "single logout services");
	arr = json_object_get(info, "certificates");
	printf("certificates:%s\n", json_array_size(arr) == 0 ? "    (none)" : "");
	json_array_foreach(arr, i, e)
	{
		const char *kn = jstr(e, "key_name");

		printf("  %-10s ", jstr(e, "use"));
		if (*kn != '\0')
			printf("key %s: ", kn);
		printf("%s  expires %s%s\n", jstr(e, "subject"), jstr(e, "not_after"),
		    jtrue(e, "expired") ? "  (EXPIRED)" : "");
	}
	fflush(stdout);
	arr = json_object_get(info, "warnings");
	json_array_foreach(arr, i, e)
	{
		fprintf(stderr, "warning: %s\n", json_string_value(e));
	}
}

/* ---- export ----------------------------------------------------------------------- */

static int
metadata_export(int argc, char **argv)
{
	struct args a = {0};
	const struct fb_cli_option opts[] = {
	    {"sp", 0, NULL, &a.sp},
	    {"out", 'o', &a.out, NULL},
	    {"sign", 0, NULL, &a.sign},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"metadata export", usage_export, &a.co, opts, NULL,
	    NULL};
	struct fb_cli_ctx x;
	char *xml = NULL;
	size_t len = 0;
	struct fb_err err;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&a.co, FB_CLI_KEYRING, &x)) != FB_EXIT_OK)
		return rc;
	rc = FB_EXIT_FAIL;
	fb_err_clear(&err);
	if (a.sp) {
		struct fb_saml_broker *b = NULL;
		enum fb_status r = fb_saml_broker_from_conf(x.conf, x.kr, 0, &b, &err);

		if (r == FB_OK)
			r = fb_saml_broker_metadata(b, a.sign, &xml, &len, &err);
		fb_saml_broker_free(b);
		if (r != FB_OK)
			goto out;
	} else if (fb_saml_metadata_export(x.conf, x.kr, a.sign, &xml, &len, &err) != FB_OK) {
		goto out;
	}
	if (a.out != NULL) {
		/* Metadata is public: 0644, so a web server or a deploy job can read it. */
		if (fb_saml_file_write(a.out, xml, len, 0644, &err) != FB_OK)
			goto out;
		fprintf(stderr, "wrote %s (%zu bytes%s)\n", a.out, len, a.sign ? ", signed" : "");
	} else if (fwrite(xml, 1, len, stdout) != len || fflush(stdout) != 0) {
		fb_err_set(&err, FB_ERR_IO, "standard output: %s", strerror(errno));
		goto out;
	}
	rc = FB_EXIT_OK;
out:
	if (rc != FB_EXIT_OK)
		fb_cli_error(&err);
	free(xml);
	fb_cli_ctx_close(&x);
	return rc;
}

/* ---- import ------------------------------------------------------------------------ */

/* The name rule of saml.service_providers[].name (it is a URL path segment). */
static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/*
 * The directory metadata is saved in: --dir, else metadata/ next to the
 * configuration file, else ./metadata. New (caller frees).
 */
static char *
target_dir(const struct args *a, const char *config)
{
	const char *slash;

	if (a->dir != NULL)
		return fb_xstrdup(a->dir);
	if (config == NULL)
		return fb_xstrdup("metadata");
	slash = strrchr(config, '/');
	if (slash == NULL)
		return fb_xstrdup("metadata");
	return fb_xasprintf("%.*s/metadata", (int)(slash - config), config);
}

static int
metadata_import(int argc, char **argv)
{
	struct args a = {0};
	const struct fb_cli_option opts[] = {
	    {"name", 'n', &a.name, NULL},
	    {"cert", 0, &a.cert, NULL},
	    {"dir", 0, &a.dir, NULL},
	    {"force", 'f', NULL, &a.force},
	    FB_CLI_OPT_CONFIG(&a.co),
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"metadata import", usage_import, NULL, opts, &a.source,
	    MISSING_SOURCE};
	const char *config;
	char *dir = NULL, *path = NULL, *xml = NULL, *stanza = NULL, *rel = NULL;
	size_t len = 0;
	json_t *info = NULL;
	struct stat st;
	struct fb_err err;
	int rc, idp;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (a.name == NULL)
		return fb_cli_usage_error(syntax.cmd, "--name NAME is required");
	if (!name_ok(a.name))
		return fb_cli_usage_error(syntax.cmd,
		    "--name '%s': use 1 to 64 lowercase letters, digits, '_' or '-' (it "
		    "appears in the URL /saml/idp/init/NAME)",
		    a.name);
	rc = FB_EXIT_FAIL;
	fb_err_clear(&err);
	config = a.co.config != NULL ? a.co.config : fb_cli_default_config();
	if (load_info(&a, &info, &xml, &len, &err) != FB_OK)
		goto out;
	print_info(info, a.source, a.cert);
	idp = strcmp(jstr(info, "role"), "sp") != 0;
	/* upstreams[].name is at most 32 characters (it is also a URL path segment). */
	if (idp && strlen(a.name) > 32) {
		fb_err_set(&err, FB_ERR_INVALID,
		    "--name '%s': an upstream's name is at most 32 characters", a.name);
		goto out;
	}
	dir = target_dir(&a, config);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fb_err_set(&err, FB_ERR_IO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	path = fb_xasprintf("%s/%s.xml", dir, a.name);
	if (!a.force && stat(path, &st) == 0) {
		fb_err_set(&err, FB_ERR_IO, "%s exists already (use --force to replace it)", path);
		goto out;
	}
	/* Saved byte for byte: a signature over it stays verifiable. */
	if (fb_saml_file_write(path, xml, len, 0644, &err) != FB_OK)
		goto out;
	fprintf(stderr, "saved %s\n", path);
	rel = a.dir == NULL && config != NULL ? fb_xasprintf("metadata/%s.xml", a.name)
					      : fb_xstrdup(path);
	if (idp) {
		stanza = fb_saml_metadata_upstream_stanza(info, a.name, rel);
		printf("\n# Paste under 'upstreams:' in %s (a list item; with no upstreams:\n"
		       "# section yet, add the line 'upstreams:' first). Give the identity\n"
		       "# provider the broker's SP metadata: fedbroker metadata export --sp\n%s",
		    config != NULL ? config : "the configuration", stanza);
		rc = FB_EXIT_OK;
		goto out;
	}
	stanza = fb_saml_metadata_stanza(info, a.name, rel);
	printf("\n# Paste under 'service_providers:' in the saml: section of %s\n"
	       "# (a list item, indented like the entries already there). With no saml:\n"
	       "# section yet, add these two lines first:\n"
	       "#   saml:\n"
	       "#     service_providers:\n%s",
	    config != NULL ? config : "the configuration", stanza);
	rc = FB_EXIT_OK;
out:
	if (rc != FB_EXIT_OK)
		fb_cli_error(&err);
	json_decref(info);
	free(stanza);
	free(rel);
	free(path);
	free(dir);
	free(xml);
	return rc;
}

/* ---- show ------------------------------------------------------------------------ */

static int
metadata_show(int argc, char **argv)
{
	struct args a = {0};
	const struct fb_cli_option opts[] = {
	    {"cert", 0, &a.cert, NULL},
	    {"json", 0, NULL, &a.json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"metadata show", usage_show, NULL, opts, &a.source,
	    MISSING_SOURCE};
	json_t *info = NULL;
	struct fb_err err;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	fb_err_clear(&err);
	if (load_info(&a, &info, NULL, NULL, &err) != FB_OK)
		return fb_cli_error(&err);
	rc = FB_EXIT_OK;
	if (a.json)
		rc = fb_cli_json_print(info, JSON_INDENT(2) | JSON_SORT_KEYS);
	else
		print_info(info, a.source, a.cert);
	json_decref(info);
	return rc;
}

int
fb_cli_metadata(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"export", metadata_export},
	    {"import", metadata_import},
	    {"show", metadata_show},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_metadata, table);
}
