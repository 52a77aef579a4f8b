/* SPDX-License-Identifier: Apache-2.0 */
/* cli/explain.c: fedbroker explain: what a user would get at a SAML service provider, and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "map/map.h"
#include "saml/saml.h"
#include "oidc/oidc.h"
#include "upstream/upstream.h"
#include "ident/ident.h"
#include "authz/authz.h"
#include "http/http.h"
#include "cli/cli.h"

static const char usage_explain[] =
    "usage: fedbroker explain --user NAME --sp SP [--json] [--config FILE] [--state-dir DIR]\n"
    "       fedbroker explain --app NAME --url URL [--user NAME] [--method METHOD] [--json]\n"
    "                         [--config FILE] [--state-dir DIR]\n"
    "       fedbroker explain --user NAME --client ID [--json] [--config FILE] [--state-dir DIR]\n"
    "       fedbroker explain --upstream NAME --claims FILE [--sp SP] [--subject SUB]\n"
    "                         [--issuer ISS] [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Shows, without a browser, what user NAME would get when signing in to the\n"
    "SAML service provider SP (its name in saml.service_providers) and why: the\n"
    "user's groups and merged group attributes, whether a group lets the user in,\n"
    "the NameID, each attribute's mapping and its values (or the mapping's error\n"
    "with file:line:column), the AWS checks with their verdicts, and the signed\n"
    "Assertion XML that would be sent, or the reason the sign-in would be\n"
    "refused. Nothing is written: a\n"
    "persistent NameID not yet created is shown as it would be.\n"
    "\n"
    "With --client, shows what user NAME would get from the OpenID provider's\n"
    "client ID instead: whether a group lets the user in, the claims of the ID\n"
    "token and of the access token (every scope the client may have, mapped claims\n"
    "included), and the key that would sign them. Nothing is signed or stored.\n"
    "\n"
    "With --upstream, starts from what an upstream identity provider sends\n"
    "instead: FILE holds its claims (OIDC: the ID token's, merged with userinfo)\n"
    "or attributes (SAML: {\"name\": [\"value\", ...]}) as JSON. Shows what the\n"
    "upstream's mapping makes of them, which user the identity links to or the user\n"
    "that would be created (or why the sign-in would be refused), the groups it\n"
    "yields, and what each service provider (or only SP) would get. Nothing is\n"
    "created.\n"
    "\n"
    "Exit status: 0 when a response would be sent (with --upstream and no --sp:\n"
    "when the sign-in would be accepted), 1 when the sign-in would be refused (or\n"
    "the user, upstream or SP does not exist), 2 on a bad command line.\n"
    "\n"
    "  -u, --user NAME      the account (as signed in: local or from an upstream)\n"
    "  -s, --sp SP          the service provider's name\n"
    "      --client ID      the OpenID provider's client (its id in oidc.clients)\n"
    "      --upstream NAME  the upstream (its name in upstreams) the claims come from\n"
    "      --claims FILE    the upstream's claims or attributes, as JSON (- : stdin)\n"
    "      --subject SUB    the upstream's subject (default: the claim sub)\n"
    "      --issuer ISS     the upstream's issuer (default: the claim iss, else the\n"
    "                       configured OIDC issuer)\n"
    "      --json           print the whole explanation as JSON\n"
    "\n"
    "With --app, explains forward auth instead: whether the request METHOD URL\n"
    "(GET by default) to app NAME would be let through for user NAME (without\n"
    "--user: for someone not signed in), which rule or group decided, and the\n"
    "identity headers the app would receive.\n"
    "\n"
    "  -a, --app NAME       the app's name in apps:\n"
    "      --url URL        the URL the browser asks for (https://host/path?query)\n"
    "      --method METHOD  its method (default GET)\n"
    FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

/*
 * fedbroker explain --app: the forward-auth decision for user (NULL:
 * anonymous) at method url. FB_EXIT_OK when the request would pass.
 */
static int
explain_app(const struct fb_cli_conf_opts *co, const char *appname, const char *username,
    const char *url, const char *method, int json)
{
	const struct fb_conf_group **groups = NULL;
	const char **names = NULL;
	struct fb_authz_request rq = {0};
	struct fb_authz_decision d = {0};
	struct fb_store_user user = {0};
	const struct fb_conf_app *app;
	struct fb_authz *az = NULL;
	struct fb_err err = {0};
	struct fb_cli_ctx x;
	const char *p, *path;
	char *host = NULL;
	json_t *out = NULL, *hdrs = NULL, *mapped = NULL;
	struct fb_map_set *rules = NULL;
	char **ug = NULL;
	size_t n = 0, nug = 0;
	int rc, have_user = 0;

	if ((p = strstr(url, "://")) == NULL ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return fb_cli_usage_error("explain", "--url %s: not an http:// or https:// URL",
		    url);
	p += 3;
	path = p + strcspn(p, "/?#");
	if ((rc = fb_cli_ctx_open(co, username != NULL ? FB_CLI_STORE : 0, &x)) != FB_EXIT_OK)
		return rc;
	rc = FB_EXIT_FAIL;
	if ((app = fb_cli_app_get(x.conf, appname)) == NULL)
		goto out;
	if (username != NULL) {
		if (fb_store_user_get(x.st, username, &user, &err) != FB_OK) {
			if (err.code == FB_ERR_NOTFOUND)
				fb_err_set(&err, FB_ERR_NOTFOUND,
				    "--user %s: no such user (local accounts: 'fedbroker user "
				    "list'; "
				    "upstream users appear after their first sign-in)",
				    username);
			fb_cli_error(&err);
			goto out;
		}
		have_user = 1;
		if (fb_store_upstream_groups(x.st, user.id, &ug, &nug, &err) != FB_OK) {
			fb_cli_error(&err);
			goto out;
		}
		n = fb_ident_groups_with(x.conf, username, (const char *const *)ug, nug, &groups);
		names = fb_xcalloc(n + 1, sizeof(*names));
		for (size_t i = 0; i < n; i++)
			names[i] = groups[i]->name;
	}
	host = fb_xstrndup(p, (size_t)(path - p));
	rq.method = method;
	rq.host = host;
	rq.uri = *path == '/' ? path : "/";
	rq.username = username;
	rq.groups = names;
	rq.ngroups = n;
	az = fb_authz_new(x.conf);
	fb_authz_decide(az, &rq, &d);
	if (d.verdict == FB_AUTHZ_ALLOW && d.app != NULL && d.app->nmapped > 0) {
		json_t *uj = NULL;

		if (fb_map_set_load_usable(x.conf->mappings_dir, &rules, NULL, &err) != FB_OK ||
		    fb_ident_user_json(x.conf, &user, &uj, &err) != FB_OK ||
		    fb_authz_mapped_eval(d.app, rules, uj, &mapped, &err) != FB_OK) {
			json_decref(uj);
			fb_cli_error(&err);
			goto out;
		}
		json_decref(uj);
	}
	if (d.verdict == FB_AUTHZ_ALLOW)
		hdrs = fb_authz_headers_build(app, username, user.email, user.name, names, n,
		    mapped);
	else if (d.verdict == FB_AUTHZ_ANONYMOUS)
		hdrs = fb_authz_headers_build(app, NULL, NULL, NULL, NULL, 0, NULL);
	if (hdrs != NULL && d.app != NULL && d.app->pass_access_token)
		json_object_set_new(hdrs, d.app->access_token_header,
		    d.verdict == FB_AUTHZ_ALLOW
		        ? json_sprintf(
		              "%s(an access token: sub %s's id, aud %s, %d s; or the Bearer "
		              "token presented)",
		              strcasecmp(d.app->access_token_header, "Authorization") == 0
		                  ? "Bearer "
		                  : "",
		              username, d.app->name, FB_HTTP_AUTHZ_TOKEN_LIFETIME)
		        : json_string(""));
	out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "app", app->name, "method", method,
	    "host", d.host, "path", d.path != NULL ? d.path : "", "verdict",
	    fb_authz_verdict_name(d.verdict), "reason", d.reason, "pass",
	    d.verdict == FB_AUTHZ_ALLOW || d.verdict == FB_AUTHZ_ANONYMOUS);
	json_object_set_new(out, "user", username != NULL ? json_string(username) : json_null());
	json_object_set_new(out, "decided_by",
	    d.app != NULL ? json_string(d.app->name) : json_null());
	json_object_set_new(out, "rule", json_integer(d.rule));
	json_object_set_new(out, "group", d.group != NULL ? json_string(d.group) : json_null());
	json_object_set_new(out, "headers", hdrs != NULL ? hdrs : json_object());
	/* The aud a Bearer access token must name here (apps[].audiences; default the name). */
	json_object_set_new(out, "audiences", json_array());
	for (size_t a = 0; a < (app->naudiences > 0 ? app->naudiences : 1); a++)
		json_array_append_new(json_object_get(out, "audiences"),
		    json_string(app->naudiences > 0 ? app->audiences[a] : app->name));
	if (d.app != NULL && d.app != app)
		json_object_set_new(out, "note",
		    json_sprintf("the URL belongs to app %s, not %s", d.app->name, app->name));
	if (json) {
		fb_cli_json_print(out, JSON_INDENT(2) | JSON_SORT_KEYS);
	} else {
		const char *k;
		json_t *v;
		size_t ai;

		printf("app:      %s (%s)\n", app->name, app->display_name);
		printf("request:  %s %s (host %s, path %s)\n", method, url, d.host,
		    d.path != NULL ? d.path : "-");
		printf("user:     %s", username != NULL ? username : "(not signed in)");
		for (size_t i = 0; i < n; i++)
			printf("%s%s", i == 0 ? " (groups: " : ", ", names[i]);
		printf("%s\n", n > 0 ? ")" : "");
		printf("verdict:  %s\n", fb_authz_verdict_name(d.verdict));
		printf("because:  %s\n", d.reason);
		if (json_object_get(out, "note") != NULL)
			printf("note:     %s\n", json_string_value(json_object_get(out, "note")));
		if (json_object_size(json_object_get(out, "headers")) == 0)
			printf("headers:  (none)\n");
		json_object_foreach(json_object_get(out, "headers"), k, v)
			printf("header:   %s: %s\n", k, json_string_value(v));
		printf("bearer:   access tokens of this fedbroker with aud");
		json_array_foreach(json_object_get(out, "audiences"), ai, v)
			printf("%s%s", ai == 0 ? " " : ", ", json_string_value(v));
		printf(" decide like the user's session\n");
	}
	rc = json_is_true(json_object_get(out, "pass")) && (d.app == app) ? FB_EXIT_OK
	                                                                  : FB_EXIT_FAIL;
out:
	json_decref(out);
	json_decref(mapped);
	fb_map_set_free(rules);
	fb_authz_decision_cleanup(&d);
	fb_authz_free(az);
	free(host);
	free(names);
	free(groups);
	for (size_t i = 0; i < nug; i++)
		free(ug[i]);
	free(ug);
	if (have_user)
		fb_store_user_cleanup(&user);
	fb_cli_ctx_close(&x);
	return rc;
}

static const char *
jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

/* A JSON value on one line (strings quoted), new. */
static char *
compact(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);

	return s != NULL ? s : fb_xstrdup("?");
}

static void
print_human(const json_t *x)
{
	const json_t *sp = json_object_get(x, "sp"), *user = json_object_get(x, "user");
	const json_t *arr, *e, *v, *nid = json_object_get(x, "nameid");
	const char *k;
	size_t i, j;
	char *s;

	printf("user:        %s", jstr(user, "username", "?"));
	if (json_is_string(json_object_get(user, "name")) ||
	    json_is_string(json_object_get(user, "email")))
		printf(" (%s%s%s)", jstr(user, "name", ""),
		    json_is_string(json_object_get(user, "name")) &&
			    json_is_string(json_object_get(user, "email"))
			? ", "
			: "",
		    jstr(user, "email", ""));
	printf("\n");
	printf("SP:          %s (%s), profile %s\n", jstr(sp, "name", "?"),
	    jstr(sp, "entity_id", "?"), jstr(sp, "profile", "generic"));
	arr = json_object_get(sp, "acs");
	json_array_foreach(arr, i, e)
	{
		if (json_is_true(json_object_get(e, "default")) || json_array_size(arr) == 1)
			printf("ACS:         %s (IdP-initiated responses go here)\n",
			    jstr(e, "url", "?"));
	}
	arr = json_object_get(x, "groups");
	printf("groups:      ");
	if (json_array_size(arr) == 0)
		printf("(none)");
	json_array_foreach(arr, i, e)
	{
		printf("%s%s", i > 0 ? ", " : "", json_string_value(e));
	}
	printf("\n");
	arr = json_object_get(sp, "groups");
	if (json_array_size(arr) == 0)
		printf("allowed:     %s (the SP lists no groups: everyone may use it)\n",
		    json_is_true(json_object_get(x, "allowed")) ? "yes" : "no");
	else {
		printf("allowed:     %s (members of ",
		    json_is_true(json_object_get(x, "allowed")) ? "yes" : "NO");
		json_array_foreach(arr, i, e)
		{
			printf("%s%s", i > 0 ? ", " : "", json_string_value(e));
		}
		printf(")\n");
	}
	printf("group attributes:%s\n",
	    json_object_size(json_object_get(x, "group_attributes")) == 0 ? " (none)" : "");
	json_object_foreach(json_object_get(x, "group_attributes"), k, v)
	{
		s = compact(v);
		printf("  %s = %s\n", k, s);
		free(s);
	}
	printf("NameID:      %s %s%s\n", jstr(nid, "format", "?"), jstr(nid, "value", "(none)"),
	    json_is_true(json_object_get(nid, "new")) ? "  (new: created at the first sign-in)"
						       : "");
	printf("attributes:%s\n",
	    json_array_size(json_object_get(x, "attributes")) == 0 ? " (none configured)" : "");
	json_array_foreach(json_object_get(x, "attributes"), i, e)
	{
		printf("  %s  (mapping %s)\n", jstr(e, "name", "?"), jstr(e, "mapping", "?"));
		if (json_is_string(json_object_get(e, "error")))
			printf("    ERROR %s\n", jstr(e, "error", ""));
		else if (json_array_size(json_object_get(e, "values")) == 0)
			printf("    (no value: the attribute is left out)\n");
		json_array_foreach(json_object_get(e, "values"), j, v)
		{
			s = compact(v);
			printf("    %s\n", s);
			free(s);
		}
	}
	arr = json_object_get(x, "checks");
	if (json_array_size(arr) > 0) {
		printf("checks:\n");
		json_array_foreach(arr, i, e)
		{
			int ok = json_is_true(json_object_get(e, "ok"));

			printf("  %-4s %s", ok ? "ok" : "FAIL", jstr(e, "rule", "?"));
			if (json_is_string(json_object_get(e, "attribute")))
				printf(" [%s", jstr(e, "attribute", ""));
			if (json_is_string(json_object_get(e, "mapping")))
				printf("%smapping %s",
				    json_is_string(json_object_get(e, "attribute")) ? ", " : " [",
				    jstr(e, "mapping", ""));
			if (json_is_string(json_object_get(e, "attribute")) ||
			    json_is_string(json_object_get(e, "mapping")))
				printf("]");
			if (json_is_string(json_object_get(e, "message")))
				printf(": %s", jstr(e, "message", ""));
			printf("\n");
		}
	}
	if (json_is_true(json_object_get(x, "ok"))) {
		/* The label says what the XML below is: signed or not, before any encryption. */
		int unsigned_ = strcmp(jstr(sp, "sign", "both"), "response") == 0;

		printf("result:      a signed response would be sent\n");
		printf("\nassertion (%s%s):\n%s\n",
		    unsigned_ ? "not signed itself: this SP's 'sign: response' signs the Response "
				"around it"
			      : "signed, as the Response would carry it",
		    json_is_true(json_object_get(sp, "encrypt_assertion"))
			? "; shown before it is encrypted for the SP"
			: "",
		    jstr(x, "assertion", ""));
	} else {
		const json_t *ref = json_object_get(x, "refusal");

		printf("result:      REFUSED: the sign-in would stop with an error page\n");
		printf("reason:      %s\n", jstr(ref, "title", "(none given)"));
		if (json_is_string(json_object_get(ref, "detail")))
			printf("detail:      %s\n", jstr(ref, "detail", ""));
		if (json_is_string(json_object_get(ref, "event")))
			printf("audit event: %s\n", jstr(ref, "event", ""));
	}
}

static const char *const action_names[] = {
    [FB_UPSTREAM_LINKED] = "linked",
    [FB_UPSTREAM_LINK_EMAIL] = "link_by_email",
    [FB_UPSTREAM_PROVISIONED] = "create",
};

/* The upstream part of an explanation: the mapping's result and the decision. New. */
static json_t *
upstream_json(const struct fb_upstream_identity *id, enum fb_status r,
    const struct fb_upstream_result *res, const struct fb_err *err)
{
	const struct fb_upstream_mapped *m = &res->mapped;
	json_t *groups = json_array(), *o;

	for (size_t i = 0; i < m->ngroups; i++)
		json_array_append_new(groups, json_string(m->groups[i]));
	o = json_pack("{s:s, s:s, s:s, s:{s:s?, s:s?, s:b, s:s?, s:o}}", "upstream", id->upstream,
	    "issuer", id->issuer, "subject", id->subject, "mapped", "username", m->username, "email",
	    m->email, "email_verified", m->email_verified, "name", m->name, "groups", groups);
	if (r == FB_OK) {
		json_object_set_new(o, "action", json_string(action_names[res->action]));
		json_object_set_new(o, "user", json_pack("{s:s, s:s?, s:s?, s:s?}", "username",
		    res->user.username, "id", res->user.id, "name", res->user.name, "email",
		    res->user.email));
		json_object_set_new(o, "ok", json_true());
	} else {
		json_object_set_new(o, "refusal", json_pack("{s:s, s:s}", "event",
		    fb_upstream_refusal_name(res->refusal), "detail", err->msg));
		json_object_set_new(o, "ok", json_false());
	}
	return o;
}

static void
print_upstream(const json_t *u)
{
	const json_t *m = json_object_get(u, "mapped"), *e;
	const char *action = jstr(u, "action", "");
	size_t i;

	printf("upstream:    %s (issuer %s, subject %s)\n", jstr(u, "upstream", "?"),
	    jstr(u, "issuer", "?"), jstr(u, "subject", "?"));
	printf("mapped:      username %s, email %s (%s), name %s\n", jstr(m, "username", "(none)"),
	    jstr(m, "email", "(none)"),
	    json_is_true(json_object_get(m, "email_verified")) ? "verified" : "not verified",
	    jstr(m, "name", "(none)"));
	printf("upstream groups: ");
	json_array_foreach(json_object_get(m, "groups"), i, e)
	{
		printf("%s%s", i > 0 ? ", " : "", json_string_value(e));
	}
	printf("%s\n", json_array_size(json_object_get(m, "groups")) == 0 ? "(none)" : "");
	if (!json_is_true(json_object_get(u, "ok"))) {
		const json_t *ref = json_object_get(u, "refusal");

		printf("result:      REFUSED: the sign-in would stop with an error page\n");
		printf("reason:      %s\n", jstr(ref, "detail", "(none given)"));
		printf("audit event: %s\n", jstr(ref, "event", ""));
		return;
	}
	if (strcmp(action, "linked") == 0)
		printf("links to:    %s (an existing link)\n",
		    jstr(json_object_get(u, "user"), "username", "?"));
	else if (strcmp(action, "link_by_email") == 0)
		printf("links to:    %s (the existing user with this verified email; the link is "
		       "made at the first sign-in)\n",
		    jstr(json_object_get(u, "user"), "username", "?"));
	else
		printf("links to:    a new user %s (created at the first sign-in)\n",
		    jstr(json_object_get(u, "user"), "username", "?"));
}

/* What each SP (or only spname) would give the user of res. Appends to sps; 1 when all ok. */
static int
upstream_sps(struct fb_cli_ctx *x, struct fb_saml_idp *idp, const char *spname,
    const struct fb_upstream_result *res, json_t *sps, struct fb_err *err)
{
	const struct fb_saml_sp *sp;
	/* A user not created yet has no stored NameIDs or groups: none are read. */
	struct fb_store *st = res->user.id != NULL ? x->st : NULL;
	int all = 1;

	for (size_t i = 0; i < x->conf->nsaml_sps; i++) {
		const char *name = x->conf->saml_sps[i].name;
		json_t *ex = NULL;

		if (spname != NULL && strcmp(spname, name) != 0)
			continue;
		if (fb_cli_sp_get(idp, name, &sp, err) != FB_OK ||
		    fb_saml_explain_with(idp, st, sp, &res->user,
			(const char *const *)res->mapped.groups, res->mapped.ngroups, &ex,
			err) != FB_OK)
			return -1;
		all &= json_is_true(json_object_get(ex, "ok"));
		json_array_append_new(sps, ex);
	}
	return all;
}

/* fedbroker explain --upstream NAME --claims FILE [--sp SP] */
static int
explain_upstream(struct fb_cli_conf_opts *co, const char *upstream, const char *claims_file,
    const char *spname, const char *subject, const char *issuer, int json)
{
	const struct fb_conf_upstream *up;
	struct fb_upstream_identity id = {0};
	struct fb_upstream_result res = {0};
	struct fb_map_set *rules = NULL;
	struct fb_saml_idp *idp = NULL;
	const struct fb_saml_sp *sp;
	json_t *claims = NULL, *out = NULL, *sps = json_array(), *e;
	struct fb_cli_ctx x;
	struct fb_err err, rerr;
	enum fb_status r;
	int rc, ok;
	size_t i;

	if (fb_cli_json_read(claims_file, "--claims", &claims) != 0) {
		json_decref(sps);
		return FB_EXIT_FAIL;
	}
	if (!json_is_object(claims)) {
		fprintf(stderr, "fedbroker: --claims %s: not a JSON object of claims or attributes\n",
		    claims_file);
		json_decref(claims);
		json_decref(sps);
		return FB_EXIT_FAIL;
	}
	if ((rc = fb_cli_ctx_open(co, FB_CLI_KEYRING | FB_CLI_STORE, &x)) != FB_EXIT_OK) {
		json_decref(claims);
		json_decref(sps);
		return rc;
	}
	rc = FB_EXIT_FAIL;
	fb_err_clear(&err);
	if ((up = fb_conf_upstream_find(x.conf, upstream)) == NULL) {
		fb_err_set(&err, FB_ERR_NOTFOUND, "--upstream %s: no such upstream in %s", upstream,
		    x.conf->path);
		goto out;
	}
	if (fb_map_set_load_usable(x.conf->mappings_dir, &rules, NULL, &err) != FB_OK ||
	    fb_saml_idp_new(x.conf, x.kr, rules, &idp, &err) != FB_OK ||
	    (spname != NULL && fb_cli_sp_get(idp, spname, &sp, &err) != FB_OK))
		goto out;
	id.upstream = up->name;
	id.claims = claims;
	id.subject = subject != NULL ? subject : json_string_value(json_object_get(claims, "sub"));
	id.issuer = issuer != NULL ? issuer : json_string_value(json_object_get(claims, "iss"));
	if (id.issuer == NULL)
		id.issuer = up->oidc.issuer;
	if (id.subject == NULL || id.issuer == NULL) {
		fb_err_set(&err, FB_ERR_INVALID,
		    "give the upstream's %s with --%s (the claims have no \"%s\")",
		    id.subject == NULL ? "subject" : "issuer", id.subject == NULL ? "subject" : "issuer",
		    id.subject == NULL ? "sub" : "iss");
		goto out;
	}
	fb_err_clear(&rerr);
	r = fb_upstream_plan(x.conf, x.st, rules, &id, &res, &rerr);
	if (r != FB_OK && r != FB_ERR_DENIED) {
		err = rerr;
		goto out;
	}
	out = json_object();
	json_object_set_new(out, "upstream", upstream_json(&id, r, &res, &rerr));
	ok = r == FB_OK;
	if (ok) {
		int all = upstream_sps(&x, idp, spname, &res, sps, &err);

		if (all < 0)
			goto out;
		/* With --sp, the verdict is that SP's; without, the sign-in's. */
		if (spname != NULL)
			ok = all;
	}
	json_object_set(out, "sps", sps);
	json_object_set_new(out, "ok", json_boolean(ok));
	if (json) {
		fb_cli_json_print(out, JSON_INDENT(2) | JSON_SORT_KEYS);
	} else {
		print_upstream(json_object_get(out, "upstream"));
		json_array_foreach(sps, i, e)
		{
			printf("\n");
			if (spname != NULL) {
				print_human(e);
				continue;
			}
			printf("SP %s: %s\n", jstr(json_object_get(e, "sp"), "name", "?"),
			    json_is_true(json_object_get(e, "ok"))
				? "a response would be sent"
				: jstr(json_object_get(e, "refusal"), "title", "refused"));
			for (size_t a = 0; a < json_array_size(json_object_get(e, "attributes")); a++) {
				const json_t *at = json_array_get(json_object_get(e, "attributes"), a);
				char *v = compact(json_is_string(json_object_get(at, "error"))
					? json_object_get(at, "error")
					: json_object_get(at, "values"));

				printf("  %s = %s\n", jstr(at, "name", "?"), v);
				free(v);
			}
		}
	}
	rc = ok ? FB_EXIT_OK : FB_EXIT_FAIL;
out:
	if (err.code != FB_OK)
		fb_cli_error(&err);
	fb_upstream_result_cleanup(&res);
	json_decref(out);
	json_decref(sps);
	json_decref(claims);
	fb_saml_idp_free(idp);
	fb_map_set_free(rules);
	fb_cli_ctx_close(&x);
	return rc;
}

/* fedbroker explain --user NAME --client ID */
static int
explain_client(struct fb_cli_conf_opts *co, const char *username, const char *client, int json)
{
	struct fb_map_set *maps = NULL;
	struct fb_oidc_op *op = NULL;
	struct fb_store_user user;
	json_t *ex = NULL;
	struct fb_cli_ctx x;
	struct fb_err err;
	int rc, have_user = 0;

	if ((rc = fb_cli_ctx_open(co, FB_CLI_KEYRING | FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	rc = FB_EXIT_FAIL;
	memset(&user, 0, sizeof(user));
	fb_err_clear(&err);
	if (fb_cli_oidc_op_open(&x, &op, &maps, &err) != FB_OK)
		goto out;
	if (fb_store_user_get(x.st, username, &user, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND, "--user %s: no such user", username);
		goto out;
	}
	have_user = 1;
	if (fb_oidc_op_explain(op, x.st, client, &user, &ex, &err) != FB_OK)
		goto out;
	if (json) {
		fb_cli_json_print(ex, JSON_INDENT(2) | JSON_SORT_KEYS);
	} else {
		char *idt = json_dumps(json_object_get(ex, "id_token"), JSON_INDENT(2) | JSON_SORT_KEYS);
		char *at = json_dumps(json_object_get(ex, "access_token"),
		    JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("client %s, user %s: %s\n", client, username, jstr(ex, "why", "?"));
		printf("signed with %s (key %s); scope: %s\n", jstr(ex, "signing_alg", "?"),
		    jstr(ex, "signing_key", "?"), jstr(ex, "scope", ""));
		if (idt != NULL)
			printf("ID token claims:\n%s\n", idt);
		printf("access token claims:\n%s\n", at != NULL ? at : "{}");
		free(idt);
		free(at);
	}
	rc = json_is_true(json_object_get(ex, "ok")) ? FB_EXIT_OK : FB_EXIT_FAIL;
out:
	if (err.code != FB_OK)
		fb_cli_error(&err);
	json_decref(ex);
	if (have_user)
		fb_store_user_cleanup(&user);
	fb_oidc_op_free(op);
	fb_map_set_free(maps);
	fb_cli_ctx_close(&x);
	return rc;
}

int
fb_cli_explain(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *username = NULL, *spname = NULL, *upstream = NULL, *claims = NULL;
	const char *subject = NULL, *issuer = NULL, *appname = NULL, *url = NULL, *method = NULL;
	const char *client = NULL;
	int json = 0, rc, have_user = 0;
	const struct fb_cli_option opts[] = {
	    {"user", 'u', &username, NULL},
	    {"app", 'a', &appname, NULL},
	    {"url", 0, &url, NULL},
	    {"method", 0, &method, NULL},
	    {"sp", 's', &spname, NULL},
	    {"client", 0, &client, NULL},
	    {"upstream", 0, &upstream, NULL},
	    {"claims", 0, &claims, NULL},
	    {"subject", 0, &subject, NULL},
	    {"issuer", 0, &issuer, NULL},
	    {"json", 0, NULL, &json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"explain", usage_explain, &co, opts, NULL, NULL};
	struct fb_store_user user;
	struct fb_saml_idp *idp = NULL;
	const struct fb_saml_sp *sp;
	struct fb_cli_ctx x;
	json_t *ex = NULL;
	struct fb_err err;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (appname != NULL || url != NULL || method != NULL) {
		if (appname == NULL || url == NULL || spname != NULL || upstream != NULL)
			return fb_cli_usage_error(syntax.cmd,
			    "--app NAME and --url URL go together (with --user NAME, --method), "
			    "without --sp or --upstream");
		return explain_app(&co, appname, username, url, method != NULL ? method : "GET",
		    json);
	}
	if (upstream != NULL || claims != NULL) {
		if (upstream == NULL || claims == NULL || username != NULL)
			return fb_cli_usage_error(syntax.cmd,
			    "--upstream NAME and --claims FILE go together, without --user");
		return explain_upstream(&co, upstream, claims, spname, subject, issuer, json);
	}
	if (subject != NULL || issuer != NULL)
		return fb_cli_usage_error(syntax.cmd, "--subject and --issuer go with --upstream");
	if (client != NULL) {
		if (username == NULL || spname != NULL)
			return fb_cli_usage_error(syntax.cmd,
			    "--client ID goes with --user NAME, without --sp");
		return explain_client(&co, username, client, json);
	}
	if (username == NULL || spname == NULL)
		return fb_cli_usage_error(syntax.cmd, "--user NAME and --sp SP are both required");
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_KEYRING | FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	rc = FB_EXIT_FAIL;
	memset(&user, 0, sizeof(user));
	fb_err_clear(&err);
	if (fb_saml_idp_new(x.conf, x.kr, NULL, &idp, &err) != FB_OK ||
	    fb_cli_sp_get(idp, spname, &sp, &err) != FB_OK)
		goto out;
	if (fb_store_user_get(x.st, username, &user, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND,
			    "--user %s: no such user (local accounts: 'fedbroker user list'; "
			    "upstream users appear after their first sign-in)",
			    username);
		goto out;
	}
	have_user = 1;
	if (fb_saml_explain(idp, x.st, sp, &user, &ex, &err) != FB_OK)
		goto out;
	if (json)
		fb_cli_json_print(ex, JSON_INDENT(2) | JSON_SORT_KEYS);
	else
		print_human(ex);
	/* The verdict, not the printing: 1 when the sign-in would be refused. */
	rc = json_is_true(json_object_get(ex, "ok")) ? FB_EXIT_OK : FB_EXIT_FAIL;
out:
	if (err.code != FB_OK)
		fb_cli_error(&err);
	json_decref(ex);
	if (have_user)
		fb_store_user_cleanup(&user);
	fb_saml_idp_free(idp);
	fb_cli_ctx_close(&x);
	return rc;
}
