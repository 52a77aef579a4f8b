/* SPDX-License-Identifier: Apache-2.0 */
/* conf/keys.c: the one table of configuration keys, and how each type is read and checked. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/internal.h"

enum conf_type {
	CT_STR = 0, /* a string, checked by the key's validator if any */
	CT_STRS,    /* a string or a list of strings */
	CT_INT,     /* an integer in min..max */
	CT_BOOL,    /* true or false */
	CT_DUR,     /* "30s", "15m", "8h", "7d" or seconds; min..max in the field's unit */
	CT_ENUM,    /* one of choices ("a|b|c"), stored as its index */
	CT_PATH,    /* a file or directory, relative to the configuration file's directory */
	CT_SECRET,  /* a secret reference (env:NAME, file:PATH), stored resolved */
	CT_SECRETS, /* a list of secret references, min..max entries */
	CT_ITEMS,   /* a list of mappings described by the keys "<name>[].<key>" */
	CT_MAP,     /* a mapping of free-form values, kept as a JSON object (null: {}) */
};

#define CF_REQ 0x1 /* must be given (in a list item) */
#define CF_MS  0x2 /* duration stored in milliseconds ("250ms" allowed) */

/* Checks a string value; returns it, possibly normalised (new), or NULL after reporting. */
typedef char *conf_check_fn(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl,
    const char *path, const char *v);

struct conf_key {
	const char *name; /* dotted path; "keys[].id" for a list item's key */
	enum conf_type type;
	const char *def;      /* default, written as a YAML plain scalar; NULL: none or derived */
	int64_t min, max;     /* range (INT, DUR) or number of entries (STRS, SECRETS, ITEMS) */
	const char *choices;  /* ENUM: "a|b|c", in the order of the C enum */
	conf_check_fn *check; /* STR, STRS: extra validation */
	unsigned flags;
	size_t off, size; /* target field in struct fb_conf (or struct fb_conf_key) */
	size_t noff;      /* STRS, SECRETS, ITEMS: the field counting the entries */
};

static conf_check_fn v_listen, v_cidr, v_url, v_cookie_name, v_key_id, v_group_name, v_username, v_host,
    v_mailbox, v_text, v_logo, v_sp_name, v_uri, v_mapping_name, v_attr_name, v_relay_state,
    v_upstream_name, v_domain, v_tenant, v_scope, v_jws_alg, v_app_host, v_path_prefix,
    v_method, v_header_name, v_client_id, v_redirect_uri, v_grant_type, v_claim_name,
    v_token_header;

#define C(f) offsetof(struct fb_conf, f), sizeof(((struct fb_conf *)NULL)->f), 0
#define CN(f, n)                                                                                   \
	offsetof(struct fb_conf, f), sizeof(((struct fb_conf *)NULL)->f),                          \
	    offsetof(struct fb_conf, n)
/* A list of items: size is the size of one item. */
#define CI(f, n)                                                                                   \
	offsetof(struct fb_conf, f), sizeof(*((struct fb_conf *)NULL)->f),                         \
	    offsetof(struct fb_conf, n)
#define K(f) offsetof(struct fb_conf_key, f), sizeof(((struct fb_conf_key *)NULL)->f), 0
#define G(f) offsetof(struct fb_conf_group, f), sizeof(((struct fb_conf_group *)NULL)->f), 0
#define GN(f, n)                                                                                   \
	offsetof(struct fb_conf_group, f), sizeof(((struct fb_conf_group *)NULL)->f),              \
	    offsetof(struct fb_conf_group, n)
/* Members of struct fb_conf_saml_sp, of its ACS and of its attributes. */
#define S(f) offsetof(struct fb_conf_saml_sp, f), sizeof(((struct fb_conf_saml_sp *)NULL)->f), 0
#define SN(f, n)                                                                                   \
	offsetof(struct fb_conf_saml_sp, f), sizeof(((struct fb_conf_saml_sp *)NULL)->f),          \
	    offsetof(struct fb_conf_saml_sp, n)
#define SI(f, n)                                                                                   \
	offsetof(struct fb_conf_saml_sp, f), sizeof(*((struct fb_conf_saml_sp *)NULL)->f),         \
	    offsetof(struct fb_conf_saml_sp, n)
#define A(f) offsetof(struct fb_conf_saml_acs, f), sizeof(((struct fb_conf_saml_acs *)NULL)->f), 0
#define T(f)                                                                                       \
	offsetof(struct fb_conf_saml_attr, f), sizeof(((struct fb_conf_saml_attr *)NULL)->f), 0
/* Members of struct fb_conf_scim_target. */
#define M(f) offsetof(struct fb_conf_scim_target, f), sizeof(((struct fb_conf_scim_target *)NULL)->f), 0
#define MN(f, n)                                                                                   \
	offsetof(struct fb_conf_scim_target, f), sizeof(((struct fb_conf_scim_target *)NULL)->f),  \
	    offsetof(struct fb_conf_scim_target, n)
/* Members of struct fb_conf_oidc_client and of its claims. */
#define O(f) offsetof(struct fb_conf_oidc_client, f), sizeof(((struct fb_conf_oidc_client *)NULL)->f), 0
#define ON(f, n)                                                                                   \
	offsetof(struct fb_conf_oidc_client, f), sizeof(((struct fb_conf_oidc_client *)NULL)->f),  \
	    offsetof(struct fb_conf_oidc_client, n)
#define OI(f, n)                                                                                   \
	offsetof(struct fb_conf_oidc_client, f), sizeof(*((struct fb_conf_oidc_client *)NULL)->f), \
	    offsetof(struct fb_conf_oidc_client, n)
#define OC(f) offsetof(struct fb_conf_oidc_claim, f), sizeof(((struct fb_conf_oidc_claim *)NULL)->f), 0
/* Members of struct fb_conf_upstream (oidc.x and saml.x included). */
#define U(f) offsetof(struct fb_conf_upstream, f), sizeof(((struct fb_conf_upstream *)NULL)->f), 0
#define UN(f, n)                                                                                   \
	offsetof(struct fb_conf_upstream, f), sizeof(((struct fb_conf_upstream *)NULL)->f),        \
	    offsetof(struct fb_conf_upstream, n)

/* Members of struct fb_conf_app, of its rules and of its mapped headers. */
#define P(f) offsetof(struct fb_conf_app, f), sizeof(((struct fb_conf_app *)NULL)->f), 0
#define PN(f, n)                                                                                   \
	offsetof(struct fb_conf_app, f), sizeof(((struct fb_conf_app *)NULL)->f),                  \
	    offsetof(struct fb_conf_app, n)
#define PI(f, n)                                                                                   \
	offsetof(struct fb_conf_app, f), sizeof(*((struct fb_conf_app *)NULL)->f),                 \
	    offsetof(struct fb_conf_app, n)
#define R(f) offsetof(struct fb_conf_app_rule, f), sizeof(((struct fb_conf_app_rule *)NULL)->f), 0
#define RN(f, n)                                                                                   \
	offsetof(struct fb_conf_app_rule, f), sizeof(((struct fb_conf_app_rule *)NULL)->f),        \
	    offsetof(struct fb_conf_app_rule, n)
#define X(f)                                                                                       \
	offsetof(struct fb_conf_app_mapped, f), sizeof(((struct fb_conf_app_mapped *)NULL)->f), 0

/*
 * THE key table. One line per key; tests/check_conf_doc.sh reads the names
 * (lines starting with a tab and {") and man/fedbroker.yaml.5 documents each.
 */
/* clang-format off */
static const struct conf_key conf_keys[] = {
	/* name, type, default, min, max, choices, check, flags, field */
	{"server.listen", CT_STRS, "127.0.0.1:8080", 1, 64, NULL, v_listen, 0, CN(listen, nlisten)},
	{"server.workers", CT_INT, "0", 0, 256, NULL, NULL, 0, C(workers)},
	{"server.public_url", CT_STR, NULL, 0, 0, NULL, v_url, 0, C(public_url)},
	{"server.state_dir", CT_PATH, "/var/lib/fedbroker", 0, 0, NULL, NULL, 0, C(state_dir)},
	{"server.tls.cert", CT_PATH, NULL, 0, 0, NULL, NULL, 0, C(tls_cert)},
	{"server.tls.key", CT_PATH, NULL, 0, 0, NULL, NULL, 0, C(tls_key)},
	{"server.tls.client_ca", CT_PATH, NULL, 0, 0, NULL, NULL, 0, C(tls_client_ca)},
	{"server.limits.max_header_bytes", CT_INT, "8192", 1024, 1048576, NULL, NULL, 0, C(max_header_bytes)},
	{"server.limits.max_body_bytes", CT_INT, "1048576", 1024, 67108864, NULL, NULL, 0, C(max_body_bytes)},
	{"server.limits.request_timeout", CT_DUR, "30s", 1, 600, NULL, NULL, 0, C(request_timeout)},
	{"server.limits.idle_timeout", CT_DUR, "60s", 1, 3600, NULL, NULL, 0, C(idle_timeout)},
	{"server.shutdown_timeout", CT_DUR, "30s", 0, 600, NULL, NULL, 0, C(shutdown_timeout)},
	{"server.drain_window", CT_DUR, "2s", 0, 600000, NULL, NULL, CF_MS, C(drain_window_ms)},
	{"server.cpu_threads", CT_INT, "1", 1, 16, NULL, NULL, 0, C(cpu_threads)},
	{"server.cpu_queue", CT_INT, "32", 1, 4096, NULL, NULL, 0, C(cpu_queue)},
	{"server.max_connections", CT_INT, "0", 0, 1048576, NULL, NULL, 0, C(max_connections)},
	{"server.trusted_proxies", CT_STRS, NULL, 0, 256, NULL, v_cidr, 0, CN(trusted_proxies, ntrusted_proxies)},
	{"server.hsts_max_age", CT_DUR, "365d", 0, 63072000, NULL, NULL, 0, C(hsts_max_age)},
	{"log.format", CT_ENUM, "logfmt", 0, 0, "logfmt|json", NULL, 0, C(log_format)},
	{"log.level", CT_ENUM, "info", 0, 0, "debug|info|warn|error", NULL, 0, C(log_level)},
	{"log.access", CT_BOOL, "true", 0, 0, NULL, NULL, 0, C(log_access)},
	{"store.driver", CT_ENUM, "sqlite", 0, 0, "sqlite|postgres", NULL, 0, C(store_driver)},
	{"store.path", CT_PATH, NULL, 0, 0, NULL, NULL, 0, C(store_path)},
	{"store.dsn", CT_SECRET, NULL, 0, 0, NULL, NULL, 0, C(store_dsn)},
	{"store.busy_timeout", CT_DUR, "5s", 0, 60000, NULL, NULL, CF_MS, C(store_busy_timeout_ms)},
	{"store.migrate", CT_ENUM, "auto", 0, 0, "auto|manual", NULL, 0, C(store_migrate)},
	{"store.pool_size", CT_INT, "1", 1, 64, NULL, NULL, 0, C(store_pool_size)},
	{"store.connect_timeout", CT_DUR, "5s", 1, 300, NULL, NULL, 0, C(store_connect_timeout)},
	{"store.statement_timeout", CT_DUR, "5s", 0, 3600000, NULL, NULL, CF_MS, C(store_statement_timeout_ms)},
	{"store.tls_ca", CT_PATH, NULL, 0, 0, NULL, NULL, 0, C(store_tls_ca)},
	{"keys", CT_ITEMS, NULL, 0, 64, NULL, NULL, 0, CI(keys, nkeys)},
	{"keys[].id", CT_STR, NULL, 0, 0, NULL, v_key_id, CF_REQ, K(id)},
	{"keys[].key", CT_PATH, NULL, 0, 0, NULL, NULL, CF_REQ, K(key_file)},
	{"keys[].cert", CT_PATH, NULL, 0, 0, NULL, NULL, CF_REQ, K(cert_file)},
	{"keys[].passphrase", CT_SECRET, NULL, 0, 0, NULL, NULL, 0, K(passphrase)},
	{"keys[].state", CT_ENUM, "active", 0, 0, "active|published|retired", NULL, 0, K(state)},
	{"key_rollover.min_publish_time", CT_DUR, "24h", 0, 2592000, NULL, NULL, 0, C(key_min_publish_time)},
	{"session.cookie_name", CT_STR, "fb_session", 0, 0, NULL, v_cookie_name, 0, C(cookie_name)},
	{"session.lifetime", CT_DUR, "8h", 300, 2592000, NULL, NULL, 0, C(session_lifetime)},
	{"session.cookie_keys", CT_SECRETS, NULL, 0, 16, NULL, NULL, 0, CN(cookie_secrets, ncookie_secrets)},
	{"metrics.enabled", CT_BOOL, "true", 0, 0, NULL, NULL, 0, C(metrics_enabled)},
	{"metrics.listen", CT_STR, NULL, 0, 0, NULL, v_listen, 0, C(metrics_listen)},
	{"metrics.token", CT_SECRET, NULL, 0, 0, NULL, NULL, 0, C(metrics_token)},
	{"groups", CT_ITEMS, NULL, 0, 1000, NULL, NULL, 0, CI(groups, ngroups)},
	{"groups[].name", CT_STR, NULL, 0, 0, NULL, v_group_name, CF_REQ, G(name)},
	{"groups[].attributes", CT_MAP, "null", 0, 0, NULL, NULL, 0, G(attributes)},
	{"groups[].members", CT_STRS, NULL, 0, 100000, NULL, v_username, 0, GN(members, nmembers)},
	{"groups[].require_mfa", CT_BOOL, "false", 0, 0, NULL, NULL, 0, G(require_mfa)},
	{"local.password.time_cost", CT_INT, "3", 1, 10, NULL, NULL, 0, C(argon2_t_cost)},
	{"local.password.memory_kib", CT_INT, "65536", 8, 4194304, NULL, NULL, 0, C(argon2_m_cost_kib)},
	{"local.password.parallelism", CT_INT, "1", 1, 16, NULL, NULL, 0, C(argon2_parallelism)},
	{"local.bootstrap.enabled", CT_BOOL, "true", 0, 0, NULL, NULL, 0, C(bootstrap_enabled)},
	{"local.bootstrap.password", CT_SECRET, NULL, 0, 0, NULL, NULL, 0, C(bootstrap_password)},
	{"local.bootstrap.token", CT_SECRET, NULL, 0, 0, NULL, NULL, 0, C(bootstrap_token)},
	{"local.lockout.max_failures", CT_INT, "5", 1, 100, NULL, NULL, 0, C(lockout_max_failures)},
	{"local.lockout.per_address.max_failures", CT_INT, "20", 1, 10000, NULL, NULL, 0, C(lockout_addr_max_failures)},
	{"local.lockout.window", CT_DUR, "15m", 60, 604800, NULL, NULL, 0, C(lockout_window)},
	{"local.lockout.max_delay", CT_DUR, "15m", 1, 86400, NULL, NULL, 0, C(lockout_max_delay)},
	{"local.lockout.initial_delay", CT_DUR, "1s", 1, 86400, NULL, NULL, 0, C(lockout_initial_delay)},
	{"local.recovery_link_lifetime", CT_DUR, "30m", 60, 604800, NULL, NULL, 0, C(recovery_lifetime)},
	{"smtp.host", CT_STR, NULL, 0, 0, NULL, v_host, 0, C(smtp_host)},
	{"smtp.port", CT_INT, NULL, 1, 65535, NULL, NULL, 0, C(smtp_port)},
	{"smtp.security", CT_ENUM, "starttls", 0, 0, "starttls|tls|none", NULL, 0, C(smtp_security)},
	{"smtp.username", CT_STR, NULL, 0, 0, NULL, v_text, 0, C(smtp_username)},
	{"smtp.password", CT_SECRET, NULL, 0, 0, NULL, NULL, 0, C(smtp_password)},
	{"smtp.from", CT_STR, NULL, 0, 0, NULL, v_mailbox, 0, C(smtp_from)},
	{"smtp.timeout", CT_DUR, "30s", 1, 600, NULL, NULL, 0, C(smtp_timeout)},
	{"branding.organization", CT_STR, "fedbroker", 0, 0, NULL, v_text, 0, C(org_name)},
	{"branding.logo_url", CT_STR, NULL, 0, 0, NULL, v_logo, 0, C(logo_url)},
	{"mappings.dir", CT_PATH, NULL, 0, 0, NULL, NULL, 0, C(mappings_dir)},
	{"saml.idp.entity_id", CT_STR, NULL, 0, 0, NULL, v_uri, 0, C(saml_entity_id)},
	{"saml.idp.sign_metadata", CT_BOOL, "false", 0, 0, NULL, NULL, 0, C(saml_sign_metadata)},
	{"saml.idp.want_authn_requests_signed", CT_BOOL, "false", 0, 0, NULL, NULL, 0, C(saml_want_requests_signed)},
	{"saml.idp.request_lifetime", CT_DUR, "10m", 60, 86400, NULL, NULL, 0, C(saml_request_lifetime)},
	{"saml.idp.clock_skew", CT_DUR, "60s", 0, 600, NULL, NULL, 0, C(saml_clock_skew)},
	{"saml.service_providers", CT_ITEMS, NULL, 0, 4096, NULL, NULL, 0, CI(saml_sps, nsaml_sps)},
	{"saml.service_providers[].name", CT_STR, NULL, 0, 0, NULL, v_sp_name, CF_REQ, S(name)},
	{"saml.service_providers[].display_name", CT_STR, NULL, 0, 0, NULL, v_text, 0, S(display_name)},
	{"saml.service_providers[].metadata", CT_PATH, NULL, 0, 0, NULL, NULL, 0, S(metadata)},
	{"saml.service_providers[].entity_id", CT_STR, NULL, 0, 0, NULL, v_uri, 0, S(entity_id)},
	{"saml.service_providers[].acs", CT_ITEMS, NULL, 0, 64, NULL, NULL, 0, SI(acs, nacs)},
	{"saml.service_providers[].acs[].url", CT_STR, NULL, 0, 0, NULL, v_url, CF_REQ, A(url)},
	{"saml.service_providers[].acs[].index", CT_INT, NULL, 0, 65535, NULL, NULL, 0, A(index)},
	{"saml.service_providers[].acs[].default", CT_BOOL, "false", 0, 0, NULL, NULL, 0, A(is_default)},
	{"saml.service_providers[].slo_url", CT_STR, NULL, 0, 0, NULL, v_url, 0, S(slo_url)},
	{"saml.service_providers[].slo_binding", CT_ENUM, "redirect", 0, 0, "redirect|post", NULL, 0, S(slo_binding)},
	{"saml.service_providers[].certificate", CT_PATH, NULL, 0, 0, NULL, NULL, 0, S(certificate)},
	{"saml.service_providers[].encryption_certificate", CT_PATH, NULL, 0, 0, NULL, NULL, 0, S(encryption_certificate)},
	{"saml.service_providers[].audience", CT_STR, NULL, 0, 0, NULL, v_uri, 0, S(audience)},
	{"saml.service_providers[].sign", CT_ENUM, "both", 0, 0, "both|assertion|response", NULL, 0, S(sign)},
	{"saml.service_providers[].signature_algorithm", CT_ENUM, "rsa-sha256", 0, 0, "rsa-sha256|rsa-sha384|rsa-sha512|ecdsa-sha256|rsa-sha1", NULL, 0, S(signature_algorithm)},
	{"saml.service_providers[].accept_sha1", CT_BOOL, "false", 0, 0, NULL, NULL, 0, S(accept_sha1)},
	{"saml.service_providers[].nameid.format", CT_ENUM, "persistent", 0, 0, "persistent|transient|email|unspecified", NULL, 0, S(nameid_format)},
	{"saml.service_providers[].nameid.source", CT_ENUM, "username", 0, 0, "username|email|uid", NULL, 0, S(nameid_source)},
	{"saml.service_providers[].nameid.mapping", CT_STR, NULL, 0, 0, NULL, v_mapping_name, 0, S(nameid_mapping)},
	{"saml.service_providers[].assertion_lifetime", CT_DUR, "5m", 30, 3600, NULL, NULL, 0, S(assertion_lifetime)},
	{"saml.service_providers[].session_lifetime", CT_DUR, "0", 0, 2592000, NULL, NULL, 0, S(session_lifetime)},
	{"saml.service_providers[].groups", CT_STRS, NULL, 0, 1000, NULL, v_group_name, 0, SN(groups, ngroups)},
	{"saml.service_providers[].require_signed_requests", CT_BOOL, NULL, 0, 0, NULL, NULL, 0, S(require_signed_requests)},
	{"saml.service_providers[].encrypt_assertion", CT_BOOL, "false", 0, 0, NULL, NULL, 0, S(encrypt_assertion)},
	{"saml.service_providers[].profile", CT_ENUM, "generic", 0, 0, "generic|aws|aws-identity-center", NULL, 0, S(profile)},
	{"saml.service_providers[].relay_state", CT_STR, NULL, 0, 0, NULL, v_relay_state, 0, S(relay_state)},
	{"saml.service_providers[].signing_key", CT_STR, NULL, 0, 0, NULL, v_key_id, 0, S(signing_key)},
	{"saml.service_providers[].attributes", CT_ITEMS, NULL, 0, 256, NULL, NULL, 0, SI(attributes, nattributes)},
	{"saml.service_providers[].attributes[].name", CT_STR, NULL, 0, 0, NULL, v_attr_name, CF_REQ, T(name)},
	{"saml.service_providers[].attributes[].mapping", CT_STR, NULL, 0, 0, NULL, v_mapping_name, CF_REQ, T(mapping)},
	{"saml.service_providers[].attributes[].friendly_name", CT_STR, NULL, 0, 0, NULL, v_text, 0, T(friendly_name)},
	{"saml.service_providers[].attributes[].name_format", CT_ENUM, "uri", 0, 0, "uri|basic|unspecified", NULL, 0, T(name_format)},
	{"saml.sp.entity_id", CT_STR, NULL, 0, 0, NULL, v_uri, 0, C(saml_sp_entity_id)},
	{"upstreams", CT_ITEMS, NULL, 0, 64, NULL, NULL, 0, CI(upstreams, nupstreams)},
	{"upstreams[].name", CT_STR, NULL, 0, 0, NULL, v_upstream_name, CF_REQ, U(name)},
	{"upstreams[].display_name", CT_STR, NULL, 0, 0, NULL, v_text, 0, U(display_name)},
	{"upstreams[].type", CT_ENUM, NULL, 0, 0, "oidc|saml", NULL, CF_REQ, U(type)},
	{"upstreams[].domains", CT_STRS, NULL, 0, 1000, NULL, v_domain, 0, UN(domains, ndomains)},
	{"upstreams[].mapping", CT_STR, NULL, 0, 0, NULL, v_mapping_name, 0, U(mapping)},
	{"upstreams[].link_by_email", CT_BOOL, "false", 0, 0, NULL, NULL, 0, U(link_by_email)},
	{"upstreams[].provision", CT_BOOL, "true", 0, 0, NULL, NULL, 0, U(provision)},
	{"upstreams[].logout", CT_BOOL, "false", 0, 0, NULL, NULL, 0, U(logout)},
	{"upstreams[].session_lifetime", CT_DUR, "0", 0, 2592000, NULL, NULL, 0, U(session_lifetime)},
	{"upstreams[].oidc.preset", CT_ENUM, "generic", 0, 0, "generic|google|microsoft|okta", NULL, 0, U(oidc.preset)},
	{"upstreams[].oidc.tenant", CT_STR, NULL, 0, 0, NULL, v_tenant, 0, U(oidc.tenant)},
	{"upstreams[].oidc.domain", CT_STR, NULL, 0, 0, NULL, v_host, 0, U(oidc.domain)},
	{"upstreams[].oidc.issuer", CT_STR, NULL, 0, 0, NULL, v_url, 0, U(oidc.issuer)},
	{"upstreams[].oidc.client_id", CT_STR, NULL, 0, 0, NULL, v_text, 0, U(oidc.client_id)},
	{"upstreams[].oidc.client_secret", CT_SECRET, NULL, 0, 0, NULL, NULL, 0, U(oidc.client_secret)},
	{"upstreams[].oidc.client_auth", CT_ENUM, "client_secret_basic", 0, 0, "client_secret_basic|client_secret_post|private_key_jwt", NULL, 0, U(oidc.client_auth)},
	{"upstreams[].oidc.scopes", CT_STRS, NULL, 1, 64, NULL, v_scope, 0, UN(oidc.scopes, oidc.nscopes)},
	{"upstreams[].oidc.userinfo", CT_BOOL, "false", 0, 0, NULL, NULL, 0, U(oidc.userinfo)},
	{"upstreams[].oidc.algorithms", CT_STRS, NULL, 1, 16, NULL, v_jws_alg, 0, UN(oidc.algorithms, oidc.nalgorithms)},
	{"upstreams[].oidc.ca_file", CT_PATH, NULL, 0, 0, NULL, NULL, 0, U(oidc.ca_file)},
	{"upstreams[].oidc.timeout", CT_DUR, "10s", 100, 300000, NULL, NULL, CF_MS, U(oidc.timeout_ms)},
	{"upstreams[].oidc.clock_skew", CT_DUR, "60s", 0, 600, NULL, NULL, 0, U(oidc.clock_skew)},
	{"upstreams[].oidc.discovery_refresh", CT_DUR, "1h", 60, 604800, NULL, NULL, 0, U(oidc.discovery_refresh)},
	{"upstreams[].saml.metadata", CT_PATH, NULL, 0, 0, NULL, NULL, 0, U(saml.metadata)},
	{"upstreams[].saml.metadata_url", CT_STR, NULL, 0, 0, NULL, v_url, 0, U(saml.metadata_url)},
	{"upstreams[].saml.metadata_certificate", CT_PATH, NULL, 0, 0, NULL, NULL, 0, U(saml.metadata_certificate)},
	{"upstreams[].saml.metadata_refresh", CT_DUR, "1h", 60, 604800, NULL, NULL, 0, U(saml.metadata_refresh)},
	{"upstreams[].saml.ca_file", CT_PATH, NULL, 0, 0, NULL, NULL, 0, U(saml.ca_file)},
	{"upstreams[].saml.allow_unsolicited", CT_BOOL, "false", 0, 0, NULL, NULL, 0, U(saml.allow_unsolicited)},
	{"upstreams[].saml.accept_sha1", CT_BOOL, "false", 0, 0, NULL, NULL, 0, U(saml.accept_sha1)},
	{"upstreams[].saml.sign_requests", CT_ENUM, "auto", 0, 0, "auto|always|never", NULL, 0, U(saml.sign_requests)},
	{"upstreams[].saml.clock_skew", CT_DUR, "60s", 0, 600, NULL, NULL, 0, U(saml.clock_skew)},
	{"upstreams[].saml.login_hint", CT_ENUM, "none", 0, 0, "none|subject", NULL, 0, U(saml.login_hint)},
	{"scim.targets", CT_ITEMS, NULL, 0, 16, NULL, NULL, 0, CI(scim_targets, nscim_targets)},
	{"scim.targets[].name", CT_STR, NULL, 0, 0, NULL, v_upstream_name, CF_REQ, M(name)},
	{"scim.targets[].url", CT_STR, NULL, 0, 0, NULL, v_url, CF_REQ, M(url)},
	{"scim.targets[].token", CT_SECRET, NULL, 0, 0, NULL, NULL, CF_REQ, M(token)},
	{"scim.targets[].profile", CT_ENUM, "generic", 0, 0, "generic|aws", NULL, 0, M(profile)},
	{"scim.targets[].groups", CT_STRS, NULL, 0, 1000, NULL, v_group_name, 0, MN(groups, ngroups)},
	{"scim.targets[].user_mapping", CT_STR, NULL, 0, 0, NULL, v_mapping_name, 0, M(user_mapping)},
	{"scim.targets[].group_mapping", CT_STR, NULL, 0, 0, NULL, v_mapping_name, 0, M(group_mapping)},
	{"scim.targets[].on_delete", CT_ENUM, "delete", 0, 0, "delete|deactivate|keep", NULL, 0, M(on_delete)},
	{"scim.targets[].on_out_of_scope", CT_ENUM, "deactivate", 0, 0, "delete|deactivate|keep", NULL, 0, M(on_out_of_scope)},
	{"scim.targets[].reconcile_interval", CT_DUR, "1h", 0, 604800, NULL, NULL, 0, M(reconcile_interval)},
	{"scim.targets[].concurrency", CT_INT, "4", 1, 64, NULL, NULL, 0, M(concurrency)},
	{"scim.targets[].rate_limit", CT_INT, "0", 0, 10000, NULL, NULL, 0, M(rate_limit)},
	{"scim.targets[].timeout", CT_DUR, "30s", 100, 600000, NULL, NULL, CF_MS, M(timeout_ms)},
	{"scim.targets[].backoff_max", CT_DUR, "5m", 1, 86400, NULL, NULL, 0, M(backoff_max)},
	{"scim.targets[].ca_file", CT_PATH, NULL, 0, 0, NULL, NULL, 0, M(ca_file)},
	{"apps", CT_ITEMS, NULL, 0, 10000, NULL, NULL, 0, CI(apps, napps)},
	{"apps[].name", CT_STR, NULL, 0, 0, NULL, v_sp_name, CF_REQ, P(name)},
	{"apps[].display_name", CT_STR, NULL, 0, 0, NULL, v_text, 0, P(display_name)},
	{"apps[].hosts", CT_STRS, NULL, 1, 64, NULL, v_app_host, CF_REQ, PN(hosts, nhosts)},
	{"apps[].groups", CT_STRS, NULL, 0, 1000, NULL, v_group_name, 0, PN(groups, ngroups)},
	{"apps[].rules", CT_ITEMS, NULL, 0, 256, NULL, NULL, 0, PI(rules, nrules)},
	{"apps[].rules[].path", CT_STR, NULL, 0, 0, NULL, v_path_prefix, CF_REQ, R(path)},
	{"apps[].rules[].methods", CT_STRS, NULL, 0, 16, NULL, v_method, 0, RN(methods, nmethods)},
	{"apps[].rules[].action", CT_ENUM, "allow", 0, 0, "allow|deny|anonymous", NULL, 0, R(action)},
	{"apps[].rules[].groups", CT_STRS, NULL, 0, 1000, NULL, v_group_name, 0, RN(groups, ngroups)},
	{"apps[].headers.username", CT_STR, "X-Forwarded-User", 0, 0, NULL, v_header_name, 0, P(header_username)},
	{"apps[].headers.email", CT_STR, "X-Forwarded-Email", 0, 0, NULL, v_header_name, 0, P(header_email)},
	{"apps[].headers.groups", CT_STR, "X-Forwarded-Groups", 0, 0, NULL, v_header_name, 0, P(header_groups)},
	{"apps[].headers.name", CT_STR, "X-Forwarded-Name", 0, 0, NULL, v_header_name, 0, P(header_name)},
	{"apps[].headers.mapped", CT_ITEMS, NULL, 0, 32, NULL, NULL, 0, PI(mapped, nmapped)},
	{"apps[].headers.mapped[].header", CT_STR, NULL, 0, 0, NULL, v_header_name, CF_REQ, X(header)},
	{"apps[].headers.mapped[].mapping", CT_STR, NULL, 0, 0, NULL, v_mapping_name, CF_REQ, X(mapping)},
	{"apps[].session_lifetime", CT_DUR, "0", 0, 2592000, NULL, NULL, 0, P(session_lifetime)},
	{"apps[].upstream", CT_STR, NULL, 0, 0, NULL, v_upstream_name, 0, P(upstream)},
	{"apps[].audiences", CT_STRS, NULL, 0, 64, NULL, v_text, 0, PN(audiences, naudiences)},
	{"apps[].pass_access_token", CT_BOOL, "false", 0, 0, NULL, NULL, 0, P(pass_access_token)},
	{"apps[].access_token_header", CT_STR, "Authorization", 0, 0, NULL, v_token_header, 0, P(access_token_header)},
	{"oidc.clock_skew", CT_DUR, "60s", 0, 300, NULL, NULL, 0, C(oidc_clock_skew)},
	{"oidc.code_lifetime", CT_DUR, "60s", 10, 600, NULL, NULL, 0, C(oidc_code_lifetime)},
	{"oidc.mtls.ca_file", CT_PATH, NULL, 0, 0, NULL, NULL, 0, C(oidc_mtls_ca_file)},
	{"oidc.mtls.header", CT_STR, NULL, 0, 0, NULL, v_header_name, 0, C(oidc_mtls_header)},
	{"oidc.mtls.header_format", CT_ENUM, "xfcc", 0, 0, "xfcc|pem", NULL, 0, C(oidc_mtls_header_format)},
	{"oidc.clients", CT_ITEMS, NULL, 0, 4096, NULL, NULL, 0, CI(oidc_clients, noidc_clients)},
	{"oidc.clients[].id", CT_STR, NULL, 0, 0, NULL, v_client_id, CF_REQ, O(id)},
	{"oidc.clients[].type", CT_ENUM, "confidential", 0, 0, "confidential|public|service", NULL, 0, O(type)},
	{"oidc.clients[].secret", CT_SECRET, NULL, 0, 0, NULL, NULL, 0, O(secret)},
	{"oidc.clients[].jwks", CT_PATH, NULL, 0, 0, NULL, NULL, 0, O(jwks)},
	{"oidc.clients[].tls.subject_dn", CT_STR, NULL, 0, 0, NULL, v_text, 0, O(tls_subject_dn)},
	{"oidc.clients[].tls.san_dns", CT_STR, NULL, 0, 0, NULL, v_text, 0, O(tls_san_dns)},
	{"oidc.clients[].tls.san_uri", CT_STR, NULL, 0, 0, NULL, v_text, 0, O(tls_san_uri)},
	{"oidc.clients[].tls.san_email", CT_STR, NULL, 0, 0, NULL, v_text, 0, O(tls_san_email)},
	{"oidc.clients[].tls.san_ip", CT_STR, NULL, 0, 0, NULL, v_text, 0, O(tls_san_ip)},
	{"oidc.clients[].tls.thumbprint", CT_STR, NULL, 0, 0, NULL, v_text, 0, O(tls_thumbprint)},
	{"oidc.clients[].tls.self_signed", CT_BOOL, "false", 0, 0, NULL, NULL, 0, O(tls_self_signed)},
	{"oidc.clients[].redirect_uris", CT_STRS, NULL, 0, 64, NULL, v_redirect_uri, 0, ON(redirect_uris, nredirect_uris)},
	{"oidc.clients[].post_logout_redirect_uris", CT_STRS, NULL, 0, 64, NULL, v_redirect_uri, 0, ON(post_logout_redirect_uris, npost_logout_redirect_uris)},
	{"oidc.clients[].cors_origins", CT_STRS, NULL, 0, 64, NULL, v_url, 0, ON(cors_origins, ncors_origins)},
	{"oidc.clients[].grant_types", CT_STRS, NULL, 1, 3, NULL, v_grant_type, 0, ON(grant_types, ngrant_types)},
	{"oidc.clients[].scopes", CT_STRS, NULL, 1, 64, NULL, v_scope, 0, ON(scopes, nscopes)},
	{"oidc.clients[].groups", CT_STRS, NULL, 0, 1000, NULL, v_group_name, 0, ON(groups, ngroups)},
	{"oidc.clients[].require_pkce", CT_BOOL, "true", 0, 0, NULL, NULL, 0, O(require_pkce)},
	{"oidc.clients[].signing_alg", CT_ENUM, "ES256", 0, 0, "ES256|RS256", NULL, 0, O(signing_alg)},
	{"oidc.clients[].access_token_lifetime", CT_DUR, "10m", 30, 86400, NULL, NULL, 0, O(access_token_lifetime)},
	{"oidc.clients[].id_token_lifetime", CT_DUR, "10m", 30, 86400, NULL, NULL, 0, O(id_token_lifetime)},
	{"oidc.clients[].refresh_token_lifetime", CT_DUR, "8h", 0, 7776000, NULL, NULL, 0, O(refresh_token_lifetime)},
	{"oidc.clients[].claims", CT_ITEMS, NULL, 0, 64, NULL, NULL, 0, OI(claims, nclaims)},
	{"oidc.clients[].claims[].name", CT_STR, NULL, 0, 0, NULL, v_claim_name, CF_REQ, OC(name)},
	{"oidc.clients[].claims[].mapping", CT_STR, NULL, 0, 0, NULL, v_mapping_name, CF_REQ, OC(mapping)},
	{"oidc.clients[].introspect", CT_ENUM, "own", 0, 0, "own|any", NULL, 0, O(introspect_any)},
	{"oidc.clients[].name", CT_STR, NULL, 0, 0, NULL, v_text, 0, O(name)},
	{"oidc.clients[].first_party", CT_BOOL, "true", 0, 0, NULL, NULL, 0, O(first_party)},
	{"oidc.clients[].consent_lifetime", CT_DUR, "90d", 60, 31536000, NULL, NULL, 0, O(consent_lifetime)},
};
/* clang-format on */

#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/* Cookie secrets shorter than this are refused (SECURITY: they key HMAC and AES-GCM). */
#define FB_CONF_MIN_COOKIE_SECRET 16

const char *
fb_conf_keys_name(size_t i)
{
	return i < NKEYS ? conf_keys[i].name : NULL;
}

static const struct conf_key *
key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

/* 1 when name is a section: some key's name starts with "name.". */
static int
is_section(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < NKEYS; i++)
		if (strncmp(conf_keys[i].name, name, n) == 0 && conf_keys[i].name[n] == '.')
			return 1;
	return 0;
}

static char *
join(const char *prefix, const char *k)
{
	return prefix[0] == '\0' ? fb_xstrdup(k) : fb_xasprintf("%s.%s", prefix, k);
}

static const char *
found(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
	default:
		return "nothing (null)";
	}
}

static const char *
expected(const struct conf_key *kd)
{
	switch (kd->type) {
	case CT_STR:
		return "a string";
	case CT_STRS:
		return "a string or a list of strings";
	case CT_INT:
		return "an integer";
	case CT_BOOL:
		return "a boolean (true or false)";
	case CT_DUR:
		return "a duration (e.g. 30s, 15m, 8h, 7d)";
	case CT_ENUM:
		return "a string";
	case CT_PATH:
		return "a path (a string)";
	case CT_SECRET:
		return "a secret reference (env:NAME or file:PATH)";
	case CT_SECRETS:
		return "a list of secret references (env:NAME or file:PATH)";
	case CT_ITEMS:
		return "a list of mappings";
	case CT_MAP:
		return "a mapping";
	default:
		return "something else";
	}
}

static void
type_problem(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *want, const json_t *v)
{
	const char *hint = "";
	json_t *plain = NULL;

	/* A quoted number or boolean: say how to write it. */
	if (json_is_string(v)) {
		plain = fb_conf_yaml_plain(json_string_value(v), json_string_length(v));
		if (!json_is_string(plain) && !json_is_null(plain))
			hint = " (remove the quotes)";
	}
	fb_conf_problem(ctx, pl, path, 1, "expected %s, found %s%s", want, found(v), hint);
	json_decref(plain);
}

/* Formats a duration in the largest unit that divides it. */
static void
fmt_dur(int64_t v, int ms, char *out, size_t outlen)
{
	static const struct {
		int64_t secs;
		char unit;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};

	if (ms && v % 1000 != 0) {
		snprintf(out, outlen, "%lldms", (long long)v);
		return;
	}
	if (ms)
		v /= 1000;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (v != 0 && v % units[i].secs == 0) {
			snprintf(out, outlen, "%lld%c", (long long)(v / units[i].secs),
			    units[i].unit);
			return;
		}
	snprintf(out, outlen, "%llds", (long long)v);
}

static char **
field_str(void *base, const struct conf_key *kd)
{
	return (char **)((char *)base + kd->off);
}

static void
store_int(void *base, const struct conf_key *kd, int64_t v)
{
	char *p = (char *)base + kd->off;

	if (kd->size == sizeof(int)) {
		int i = (int)v;

		memcpy(p, &i, sizeof(i));
	} else {
		memcpy(p, &v, sizeof(v));
	}
}

static void
store_count(void *base, const struct conf_key *kd, size_t n)
{
	memcpy((char *)base + kd->noff, &n, sizeof(n));
}

static size_t
load_count(void *base, const struct conf_key *kd)
{
	size_t n;

	memcpy(&n, (char *)base + kd->noff, sizeof(n));
	return n;
}

static void
free_strs(char **v, size_t n, int secret)
{
	for (size_t i = 0; i < n && v != NULL; i++) {
		if (secret)
			fb_secret_free(v[i]);
		else
			free(v[i]);
	}
	free(v);
}

/* The string of v, or NULL after reporting (wrong type, NUL inside). Borrowed. */
static const char *
get_str(struct fb_conf_ctx *ctx, const struct conf_key *kd, const json_t *v,
    const struct fb_conf_place *pl, const char *path, const char *want)
{
	if (!json_is_string(v)) {
		type_problem(ctx, pl, path, want != NULL ? want : expected(kd), v);
		return NULL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		fb_conf_problem(ctx, pl, path, 1, "the value contains a NUL character");
		return NULL;
	}
	return json_string_value(v);
}

static const char *
base_dir(const struct fb_conf_ctx *ctx, const struct fb_conf_place *pl)
{
	switch (pl->origin) {
	case FB_CONF_FILE:
		return ctx->basedir;
	case FB_CONF_CMDLINE:
		return ctx->cwd;
	case FB_CONF_NOWHERE:
	default:
		return NULL;
	}
}

static int
read_int(struct fb_conf_ctx *ctx, const struct conf_key *kd, const json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	json_int_t n;

	if (!json_is_integer(v)) {
		type_problem(ctx, pl, path, expected(kd), v);
		return -1;
	}
	n = json_integer_value(v);
	if (n < kd->min || n > kd->max) {
		fb_conf_problem(ctx, pl, path, 1, "%lld is out of range (allowed: %lld..%lld)",
		    (long long)n, (long long)kd->min, (long long)kd->max);
		return -1;
	}
	store_int(base, kd, n);
	return 0;
}

static int
read_bool(struct fb_conf_ctx *ctx, const struct conf_key *kd, const json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	static const char *const yaml11[] = {"yes", "no", "on", "off", "y", "n", "True", "False",
	    "TRUE", "FALSE", "Yes", "No", "YES", "NO", "On", "Off", "ON", "OFF"};

	if (json_is_boolean(v)) {
		store_int(base, kd, json_is_true(v));
		return 0;
	}
	if (json_is_string(v))
		for (size_t i = 0; i < sizeof(yaml11) / sizeof(yaml11[0]); i++)
			if (strcmp(json_string_value(v), yaml11[i]) == 0) {
				fb_conf_problem(ctx, pl, path, 1,
				    "'%s' is not a boolean here: write true or false", yaml11[i]);
				return -1;
			}
	type_problem(ctx, pl, path, expected(kd), v);
	return -1;
}

static int
read_dur(struct fb_conf_ctx *ctx, const struct conf_key *kd, const json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	int ms = (kd->flags & CF_MS) != 0;
	char lo[32], hi[32], got[32];
	struct fb_err err;
	int64_t n;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n < 0 || n > INT64_MAX / 1000) {
			fb_conf_problem(ctx, pl, path, 1, "%lld is not a duration in seconds",
			    (long long)n);
			return -1;
		}
		if (ms)
			n *= 1000;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = strlen(s);

		if (ms && len > 2 && strcmp(s + len - 2, "ms") == 0 && s[0] >= '0' && s[0] <= '9') {
			char *num = fb_xstrndup(s, len - 2);
			enum fb_status r = fb_duration_parse(num, &n, &err);

			free(num);
			if (r != FB_OK) {
				fb_conf_problem(ctx, pl, path, 1,
				    "'%s' is not a duration (write e.g. 250ms, 5s)", s);
				return -1;
			}
		} else {
			if (fb_duration_parse(s, &n, &err) != FB_OK) {
				fb_conf_problem(ctx, pl, path, 1, "%s", err.msg);
				return -1;
			}
			if (ms && n > INT64_MAX / 1000) {
				fb_conf_problem(ctx, pl, path, 1, "duration '%s' is too large", s);
				return -1;
			}
			if (ms)
				n *= 1000;
		}
	} else {
		type_problem(ctx, pl, path, expected(kd), v);
		return -1;
	}
	if (n < kd->min || n > kd->max) {
		fmt_dur(kd->min, ms, lo, sizeof(lo));
		fmt_dur(kd->max, ms, hi, sizeof(hi));
		fmt_dur(n, ms, got, sizeof(got));
		fb_conf_problem(ctx, pl, path, 1, "%s is out of range (allowed: %s..%s)", got, lo,
		    hi);
		return -1;
	}
	store_int(base, kd, n);
	return 0;
}

/* "a|b|c" -> "a, b, c" (new). */
static char *
choices_list(const char *choices)
{
	struct fb_buf b;

	fb_buf_init(&b, 1024);
	for (const char *c = choices; *c != '\0'; c++)
		fb_buf_add(&b, *c == '|' ? ", " : c, *c == '|' ? 2 : 1, NULL);
	return fb_buf_take(&b);
}

static int
read_enum(struct fb_conf_ctx *ctx, const struct conf_key *kd, const json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	const char *s, *c = kd->choices, *best = NULL;
	size_t bestlen = 0;
	int idx = 0, bestd = 3;
	char *list;

	if ((s = get_str(ctx, kd, v, pl, path, NULL)) == NULL)
		return -1;
	while (*c != '\0') {
		size_t len = strcspn(c, "|");
		char *cand = fb_xstrndup(c, len);
		int d = fb_str_distance(s, cand);

		free(cand);
		if (d == 0) {
			store_int(base, kd, idx);
			return 0;
		}
		if (d < bestd) {
			bestd = d;
			best = c;
			bestlen = len;
		}
		c += len;
		if (*c == '|')
			c++;
		idx++;
	}
	list = choices_list(kd->choices);
	if (best != NULL)
		fb_conf_problem(ctx, pl, path, 1,
		    "unknown value '%s' (expected one of: %s; did you mean '%.*s'?)", s, list,
		    (int)bestlen, best);
	else
		fb_conf_problem(ctx, pl, path, 1, "unknown value '%s' (expected one of: %s)", s,
		    list);
	free(list);
	return -1;
}

static int
read_path(struct fb_conf_ctx *ctx, const struct conf_key *kd, const json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	const char *s = get_str(ctx, kd, v, pl, path, NULL);
	char **slot = field_str(base, kd);

	if (s == NULL)
		return -1;
	if (*s == '\0') {
		fb_conf_problem(ctx, pl, path, 1, "the path is empty");
		return -1;
	}
	free(*slot);
	*slot = fb_conf_path_join(base_dir(ctx, pl), s);
	return 0;
}

/* Resolves one secret reference; returns the value (new) or NULL after reporting. */
static char *
read_secret(struct fb_conf_ctx *ctx, const struct conf_key *kd, const json_t *v,
    const struct fb_conf_place *pl, const char *path, const char *want)
{
	struct fb_err err;
	const char *s;
	char *out = NULL;

	/* SECURITY: a wrong type is named, but the value (maybe a pasted secret) never echoed. */
	if (!json_is_string(v)) {
		fb_conf_problem(ctx, pl, path, 1, "expected %s, found %s", want, found(v));
		return NULL;
	}
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v)) {
		fb_conf_problem(ctx, pl, path, 1, "the value contains a NUL character");
		return NULL;
	}
	if (fb_conf_secret_resolve_at(s, base_dir(ctx, pl), &out, &err) != FB_OK) {
		fb_conf_problem(ctx, pl, path, 1, "%s", err.msg);
		return NULL;
	}
	return out;
}

static int
read_strs(struct fb_conf_ctx *ctx, const struct conf_key *kd, const json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	char ***slot = (char ***)((char *)base + kd->off);
	int secret = kd->type == CT_SECRETS;
	const char *want = secret ? "a secret reference (env:NAME or file:PATH)" : "a string";
	size_t n = 0, i;
	char **out;
	int bad = 0;

	if (json_is_null(v) && secret) {
		v = NULL;
	} else if (json_is_string(v) && !secret) {
		n = 1;
	} else if (json_is_array(v)) {
		n = json_array_size(v);
	} else {
		type_problem(ctx, pl, path, expected(kd), v);
		return -1;
	}
	if ((int64_t)n < kd->min || (int64_t)n > kd->max) {
		fb_conf_problem(ctx, pl, path, 1, "%zu entries given; allowed: %lld..%lld", n,
		    (long long)kd->min, (long long)kd->max);
		return -1;
	}
	out = fb_xcalloc(n + 1, sizeof(*out));
	for (i = 0; i < n; i++) {
		const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		char *epath =
		    json_is_array(v) ? fb_xasprintf("%s[%zu]", path, i) : fb_xstrdup(path);
		struct fb_conf_place epl;
		const char *s;

		fb_conf_place_of(ctx, epath, &epl);
		if (epl.origin == FB_CONF_NOWHERE)
			epl = *pl;
		if (secret) {
			out[i] = read_secret(ctx, kd, e, &epl, epath, want);
			/* SECURITY: cookie keys seal sessions: refuse guessable short ones. */
			if (out[i] != NULL && strlen(out[i]) < FB_CONF_MIN_COOKIE_SECRET) {
				fb_conf_problem(ctx, &epl, epath, 1,
				    "the secret is %zu bytes long; at least %d are needed "
				    "(make one with: openssl rand -base64 32)",
				    strlen(out[i]), FB_CONF_MIN_COOKIE_SECRET);
				fb_secret_free(out[i]);
				out[i] = NULL;
			}
		} else if ((s = get_str(ctx, kd, e, &epl, epath, want)) != NULL) {
			out[i] = kd->check != NULL ? kd->check(ctx, &epl, epath, s) : fb_xstrdup(s);
		}
		bad |= out[i] == NULL;
		free(epath);
	}
	if (bad) {
		free_strs(out, n, secret);
		return -1;
	}
	free_strs(*slot, load_count(base, kd), secret);
	*slot = out;
	store_count(base, kd, n);
	return 0;
}

static void walk_mapping(struct fb_conf_ctx *ctx, json_t *obj, const char *tprefix,
    const char *dprefix, void *base);
static int read_value(struct fb_conf_ctx *ctx, const struct conf_key *kd, json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base);

/* Sets the defaults of the keys named "<prefix>.<x>" (no list item keys at the top). */
static void
apply_defaults(struct fb_conf_ctx *ctx, const char *prefix, void *base)
{
	struct fb_conf_place none = {FB_CONF_NOWHERE, 0, 0};
	size_t n = strlen(prefix);

	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *kd = &conf_keys[i];
		json_t *v;

		if (kd->def == NULL)
			continue;
		if (n == 0 ? strchr(kd->name, '[') != NULL
		           : strncmp(kd->name, prefix, n) != 0 || kd->name[n] != '.' ||
		                 strchr(kd->name + n + 1, '[') != NULL)
			continue; /* a nested list's keys get their defaults per item */
		v = fb_conf_yaml_plain(kd->def, strlen(kd->def));
		read_value(ctx, kd, v, &none, kd->name, base);
		json_decref(v);
	}
}

/* The hint for an item that is not a mapping: "a mapping (id:, key:, cert:, ...)" (new). */
static char *
item_hint(const char *tprefix)
{
	size_t n = strlen(tprefix);
	struct fb_buf b;

	fb_buf_init(&b, 1024);
	fb_buf_addf(&b, NULL, "a mapping (");
	for (size_t k = 0; k < NKEYS; k++)
		if ((conf_keys[k].flags & CF_REQ) != 0 &&
		    strncmp(conf_keys[k].name, tprefix, n) == 0 && conf_keys[k].name[n] == '.' &&
		    strpbrk(conf_keys[k].name + n + 1, ".[") == NULL)
			fb_buf_addf(&b, NULL, "%s:, ", conf_keys[k].name + n + 1);
	fb_buf_addf(&b, NULL, "...)");
	return fb_buf_take(&b);
}

static int
read_items(struct fb_conf_ctx *ctx, const struct conf_key *kd, json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	char **slot = (char **)((char *)base + kd->off);
	char *tprefix = fb_xasprintf("%s[]", kd->name);
	/*
	 * "keys" -> "key", "saml.service_providers" -> "service_provider",
	 * "...[].acs" -> "acs": what one item is called in messages.
	 */
	const char *last = strrchr(kd->name, '.') != NULL ? strrchr(kd->name, '.') + 1 : kd->name;
	char *noun = fb_xstrndup(last, strlen(last) - (strlen(last) > 3 ? 1 : 0));
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	int r = -1;

	if (!json_is_array(v) && !json_is_null(v)) {
		type_problem(ctx, pl, path, expected(kd), v);
		goto out;
	}
	if ((int64_t)n > kd->max) {
		fb_conf_problem(ctx, pl, path, 1, "%zu entries given; allowed: at most %lld", n,
		    (long long)kd->max);
		goto out;
	}
	/* kd->size is the size of one item (struct fb_conf_key, struct fb_conf_group). */
	*slot = fb_xcalloc(n + 1, kd->size);
	store_count(base, kd, n);
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(v, i);
		char *ipath = fb_xasprintf("%s[%zu]", path, i);
		void *ibase = *slot + i * kd->size;
		struct fb_conf_place ipl;

		fb_conf_place_of(ctx, ipath, &ipl);
		apply_defaults(ctx, tprefix, ibase);
		if (!json_is_object(item)) {
			char *hint = item_hint(tprefix);

			type_problem(ctx, &ipl, ipath, hint, item);
			free(hint);
			free(ipath);
			continue;
		}
		walk_mapping(ctx, item, tprefix, ipath, ibase);
		for (size_t k = 0; k < NKEYS; k++) {
			const struct conf_key *ik = &conf_keys[k];
			const char *leaf;

			if ((ik->flags & CF_REQ) == 0 ||
			    strncmp(ik->name, tprefix, strlen(tprefix)) != 0 ||
			    ik->name[strlen(tprefix)] != '.')
				continue;
			leaf = ik->name + strlen(tprefix) + 1;
			if (strpbrk(leaf, ".[") != NULL)
				continue; /* a key of a nested list or section */
			if (json_object_get(item, leaf) == NULL) {
				char *lpath = fb_xasprintf("%s.%s", ipath, leaf);

				fb_conf_problem(ctx, &ipl, lpath, 1,
				    "missing (required in every %s)", noun);
				free(lpath);
			}
		}
		free(ipath);
	}
	r = 0;
out:
	free(noun);
	free(tprefix);
	return r;
}

static int
read_map(struct fb_conf_ctx *ctx, const struct conf_key *kd, json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	json_t **slot = (json_t **)((char *)base + kd->off);

	if (!json_is_object(v) && !json_is_null(v)) {
		type_problem(ctx, pl, path, expected(kd), v);
		return -1;
	}
	json_decref(*slot);
	/* The parse tree is freed after the load: keep a copy (depth bounded by the parser). */
	*slot = json_is_null(v) ? json_object() : json_deep_copy(v);
	return 0;
}

/* Reads v into kd's field of base; 0 when stored, -1 after reporting. */
static int
read_value(struct fb_conf_ctx *ctx, const struct conf_key *kd, json_t *v,
    const struct fb_conf_place *pl, const char *path, void *base)
{
	const char *s;
	char *val;

	switch (kd->type) {
	case CT_STR:
		if ((s = get_str(ctx, kd, v, pl, path, NULL)) == NULL)
			return -1;
		val = kd->check != NULL ? kd->check(ctx, pl, path, s) : fb_xstrdup(s);
		if (val == NULL)
			return -1;
		free(*field_str(base, kd));
		*field_str(base, kd) = val;
		return 0;
	case CT_STRS:
	case CT_SECRETS:
		return read_strs(ctx, kd, v, pl, path, base);
	case CT_INT:
		return read_int(ctx, kd, v, pl, path, base);
	case CT_BOOL:
		return read_bool(ctx, kd, v, pl, path, base);
	case CT_DUR:
		return read_dur(ctx, kd, v, pl, path, base);
	case CT_ENUM:
		return read_enum(ctx, kd, v, pl, path, base);
	case CT_PATH:
		return read_path(ctx, kd, v, pl, path, base);
	case CT_SECRET:
		if ((val = read_secret(ctx, kd, v, pl, path, expected(kd))) == NULL)
			return -1;
		fb_secret_free(*field_str(base, kd));
		*field_str(base, kd) = val;
		return 0;
	case CT_ITEMS:
		return read_items(ctx, kd, v, pl, path, base);
	case CT_MAP:
		return read_map(ctx, kd, v, pl, path, base);
	default:
		return -1;
	}
}

/* Reports an unknown key, suggesting the closest known sibling. */
static void
unknown_key(struct fb_conf_ctx *ctx, const char *tprefix, const char *dpath, const char *k)
{
	size_t n = strlen(tprefix), klen = strlen(k), nleaf = 0;
	const char *leaves[NKEYS];
	size_t lens[NKEYS];
	struct fb_conf_place pl;
	struct fb_buf known;
	size_t best = 0;
	int bestd = 256;

	/* The distinct names one level below tprefix ("tls" once for tls.cert and tls.key). */
	for (size_t i = 0; i < NKEYS; i++) {
		const char *name = conf_keys[i].name, *leaf;
		size_t len, j;

		if (n > 0 && (strncmp(name, tprefix, n) != 0 || name[n] != '.'))
			continue;
		leaf = n > 0 ? name + n + 1 : name;
		len = strcspn(leaf, ".[");
		for (j = 0; j < nleaf; j++)
			if (lens[j] == len && strncmp(leaves[j], leaf, len) == 0)
				break;
		if (j == nleaf) {
			leaves[nleaf] = leaf;
			lens[nleaf++] = len;
		}
	}
	fb_buf_init(&known, 4096);
	for (size_t j = 0; j < nleaf; j++) {
		char *cand = fb_xstrndup(leaves[j], lens[j]);
		int d = fb_str_distance(k, cand);

		/* A shortened name ("max_body" for "max_body_bytes") counts as close. */
		if (d > 1 && klen >= 3 && klen < lens[j] && strncmp(leaves[j], k, klen) == 0)
			d = 1;
		free(cand);
		if (d < bestd) {
			bestd = d;
			best = j;
		}
		fb_buf_addf(&known, NULL, "%s%.*s", j > 0 ? ", " : "", (int)lens[j], leaves[j]);
	}
	fb_conf_key_place_of(ctx, dpath, &pl);
	if (nleaf > 0 && bestd > 0 && bestd <= (klen >= 6 ? 3 : 2) && (size_t)bestd < klen)
		fb_conf_problem(ctx, &pl, dpath, 1, "unknown key '%s' (did you mean '%.*s'?)", k,
		    (int)lens[best], leaves[best]);
	else
		fb_conf_problem(ctx, &pl, dpath, 1, "unknown key '%s' (known here: %s)", k,
		    nleaf > 0 ? known.data : "none");
	fb_buf_cleanup(&known);
}

static void
walk_mapping(struct fb_conf_ctx *ctx, json_t *obj, const char *tprefix, const char *dprefix,
    void *base)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		char *tname = join(tprefix, k), *dname = join(dprefix, k);
		/* A key holding '.' or '[' would alias a nested one: it is simply unknown. */
		int plain = strpbrk(k, ".[]") == NULL;
		const struct conf_key *kd = plain ? key_find(tname) : NULL;
		struct fb_conf_place pl;

		fb_conf_place_of(ctx, dname, &pl);
		if (kd != NULL)
			read_value(ctx, kd, v, &pl, dname, base);
		else if (plain && is_section(tname) && json_is_object(v))
			walk_mapping(ctx, v, tname, dname, base);
		else if (plain && is_section(tname) && !json_is_null(v))
			type_problem(ctx, &pl, dname, "a mapping (a section of keys)", v);
		else if (!plain || !is_section(tname))
			unknown_key(ctx, tprefix, dname, k);
		free(tname);
		free(dname);
	}
}

void
fb_conf_keys_defaults(struct fb_conf_ctx *ctx)
{
	apply_defaults(ctx, "", ctx->conf);
}

void
fb_conf_keys_walk(struct fb_conf_ctx *ctx, json_t *root)
{
	walk_mapping(ctx, root, "", "", ctx->conf);
}

int
fb_conf_keys_apply(struct fb_conf_ctx *ctx, const char *name, json_t *value,
    const struct fb_conf_place *pl)
{
	const struct conf_key *kd = key_find(name);

	if (kd == NULL || strchr(name, '[') != NULL)
		return -1;
	return read_value(ctx, kd, value, pl, name, ctx->conf);
}

/* ---- validators --------------------------------------------------------- */

static int
parse_port(const char *s)
{
	long port = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		port = port * 10 + (*s - '0');
	}
	return port >= 1 && port <= 65535 ? (int)port : -1;
}

static char *
v_listen(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	char *addr = NULL, *out = NULL;
	const char *port;
	unsigned char bin[16];

	if (v[0] == '[') {
		const char *close = strstr(v, "]:");

		if (close == NULL) {
			fb_conf_problem(ctx, pl, path, 1,
			    "'%s' is not [IPV6]:PORT (e.g. [::1]:8080)", v);
			goto out;
		}
		addr = fb_xstrndup(v + 1, (size_t)(close - v - 1));
		port = close + 2;
		if (inet_pton(AF_INET6, addr, bin) != 1) {
			fb_conf_problem(ctx, pl, path, 1, "'%s' is not a numeric IPv6 address",
			    addr);
			goto out;
		}
	} else {
		const char *colon = strrchr(v, ':');

		if (colon == NULL) {
			fb_conf_problem(ctx, pl, path, 1,
			    "'%s' has no port: write ADDRESS:PORT (e.g. 127.0.0.1:8080)", v);
			goto out;
		}
		addr = fb_xstrndup(v, (size_t)(colon - v));
		port = colon + 1;
		if (strchr(addr, ':') != NULL) {
			fb_conf_problem(ctx, pl, path, 1,
			    "'%s': put an IPv6 address in brackets (e.g. [::1]:8080)", v);
			goto out;
		}
		if (*addr == '\0') {
			fb_conf_problem(ctx, pl, path, 1,
			    "'%s' has no address: write 0.0.0.0:PORT to listen on every address",
			    v);
			goto out;
		}
		if (strcmp(addr, "localhost") != 0 && inet_pton(AF_INET, addr, bin) != 1) {
			fb_conf_problem(ctx, pl, path, 1,
			    "'%s' is not a numeric IPv4 address or localhost (host names are "
			    "not resolved)",
			    addr);
			goto out;
		}
	}
	if (parse_port(port) < 0) {
		fb_conf_problem(ctx, pl, path, 1, "port '%s' is not a number in 1..65535", port);
		goto out;
	}
	out = fb_xstrdup(v);
out:
	free(addr);
	return out;
}

/* server.trusted_proxies: an IPv4 or IPv6 address or CIDR block, kept canonical. */
static char *
v_cidr(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	struct fb_addr_cidr c;
	struct fb_err err;
	char text[FB_ADDR_TEXT_MAX];

	if (fb_addr_cidr_parse(v, &c, &err) != FB_OK) {
		fb_conf_problem(ctx, pl, path, 1, "%s", err.msg);
		return NULL;
	}
	fb_addr_format(&c.addr, text, sizeof(text));
	return fb_xasprintf("%s/%d", text, c.bits);
}

static char *
v_url(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *part = NULL, *out = NULL;
	CURLUcode rc;
	size_t len;

	if (u == NULL) {
		fb_conf_problem(ctx, pl, path, 1, "cannot parse URLs (out of memory)");
		goto out;
	}
	if (strlen(v) > 2048) {
		fb_conf_problem(ctx, pl, path, 1, "the URL is longer than 2048 characters");
		goto out;
	}
	if ((rc = curl_url_set(u, CURLUPART_URL, v, 0)) != CURLUE_OK) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' is not a URL: %s", v,
		    curl_url_strerror(rc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' must start with https:// or http://", v);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' must not hold a user name or password", v);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK || strchr(v, '?') != NULL ||
	    strchr(v, '#') != NULL) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' must not have a query (?) or fragment (#)",
		    v);
		goto out;
	}
	out = fb_xstrdup(v);
	len = strlen(out);
	while (len > 0 && out[len - 1] == '/')
		out[--len] = '\0';
out:
	curl_free(scheme);
	curl_free(part);
	curl_url_cleanup(u);
	return out;
}

static char *
v_cookie_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	size_t len = strlen(v);

	/* RFC 6265 4.1.1: cookie-name is an RFC 2616 token (no CTLs, no separators). */
	if (len == 0 || len > 64 ||
	    strspn(v, "!#$%&'*+-.^_`|~0123456789"
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz") != len) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is not a cookie name: use 1 to 64 letters, digits or !#$%%&'*+-.^_`|~ "
		    "(RFC 6265)",
		    v);
		return NULL;
	}
	return fb_xstrdup(v);
}

/* apps[].access_token_header: Authorization (RFC 6750 2.1), or a header name as above. */
static char *
v_token_header(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	if (strcasecmp(v, "Authorization") == 0)
		return fb_xstrdup(v);
	if (v[0] == '\0') {
		fb_conf_problem(ctx, pl, path, 1, "the header carrying the access token has no name");
		return NULL;
	}
	return v_header_name(ctx, pl, path, v);
}

/* A short name (key ids, group names): 1 to 64 letters, digits, '.', '_' or '-'. */
static char *
short_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v,
    const char *what)
{
	size_t len = strlen(v);

	if (len == 0 || len > 64 ||
	    strspn(v, "-_.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz") != len) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is not a %s: use 1 to 64 letters, digits, '.', '_' or '-'", v, what);
		return NULL;
	}
	return fb_xstrdup(v);
}

static char *
v_key_id(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	return short_name(ctx, pl, path, v, "key id");
}

static char *
v_group_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	return short_name(ctx, pl, path, v, "group name");
}

/* 1 when s holds a byte below 0x20 or DEL (CR, LF, tab, ...). */
static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Free text on one line: 1..256 bytes of UTF-8 without control characters. */
static char *
v_text(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	size_t len = strlen(v);

	if (len == 0 || len > 256) {
		fb_conf_problem(ctx, pl, path, 1, "must be 1 to 256 bytes long (found %zu)", len);
		return NULL;
	}
	if (!fb_utf8_check(v, len) || has_control(v)) {
		fb_conf_problem(ctx, pl, path, 1,
		    "must be one line of UTF-8 text without control characters");
		return NULL;
	}
	return fb_xstrdup(v);
}

static char *
v_username(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	size_t len = strlen(v);

	if (len == 0 || len > 256 || !fb_utf8_check(v, len) || has_control(v) || v[0] == ' ' ||
	    v[len - 1] == ' ') {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is not a username: 1 to 256 bytes of UTF-8, no control characters, no "
		    "leading or trailing space",
		    len <= 256 && !has_control(v) && fb_utf8_check(v, len) ? v : "(unprintable)");
		return NULL;
	}
	return fb_xstrdup(v);
}

static char *
v_host(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	size_t len = strlen(v);
	unsigned char bin[16];
	const char *p;

	if (strstr(v, "://") != NULL) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is a URL: give only the host name (e.g. "
		    "email-smtp.eu-west-1.amazonaws.com) "
		    "and set smtp.port and smtp.security",
		    v);
		return NULL;
	}
	/* A bracketed or bare IPv6 literal is kept without brackets. */
	if (len > 2 && v[0] == '[' && v[len - 1] == ']') {
		char *a = fb_xstrndup(v + 1, len - 2);

		if (inet_pton(AF_INET6, a, bin) == 1)
			return a;
		free(a);
	} else if (inet_pton(AF_INET6, v, bin) == 1) {
		return fb_xstrdup(v);
	}
	if (strchr(v, ':') != NULL) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s': give the port in smtp.port, not in the host name", v);
		return NULL;
	}
	/* RFC 1123 host names (IPv4 literals have the same shape). */
	for (p = v; *p != '\0';) {
		size_t l =
		    strspn(p, "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

		if (l == 0 || l > 63 || p[0] == '-' || p[l - 1] == '-' ||
		    (p[l] != '.' && p[l] != '\0') || (p[l] == '.' && p[l + 1] == '\0'))
			break;
		p += l + (p[l] == '.');
	}
	if (len == 0 || len > 253 || *p != '\0') {
		fb_conf_problem(ctx, pl, path, 1, "'%s' is not a host name or IP address",
		    len <= 253 && !has_control(v) ? v : "(unprintable)");
		return NULL;
	}
	return fb_xstrdup(v);
}

static char *
v_mailbox(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	char *name = NULL, *addr = NULL;
	struct fb_err err;

	if (fb_conf_mailbox_parse(v, &name, &addr, &err) != FB_OK) {
		fb_conf_problem(ctx, pl, path, 1, "%s", err.msg);
		return NULL;
	}
	free(name);
	free(addr);
	return fb_xstrdup(v);
}

static char *
v_logo(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	size_t len = strlen(v);
	CURLU *u = NULL;
	char *scheme = NULL, *user = NULL, *out = NULL;

	/* SECURITY: the value lands in an HTML attribute; refuse what has no business in a URL. */
	if (len == 0 || len > 2048 || strpbrk(v, " \"'<>\\`") != NULL || has_control(v)) {
		fb_conf_problem(ctx, pl, path, 1,
		    "must be an https:// URL or a path starting with '/', up to 2048 characters, "
		    "without spaces, quotes or angle brackets");
		goto out;
	}
	if (v[0] == '/') {
		if (v[1] == '/') {
			fb_conf_problem(ctx, pl, path, 1,
			    "'%s' is a scheme-relative URL: write https://%s", v, v + 2);
			goto out;
		}
		out = fb_xstrdup(v);
		goto out;
	}
	if ((u = curl_url()) == NULL || curl_url_set(u, CURLUPART_URL, v, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "https") != 0) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' must be an https:// URL or a path starting with '/'", v);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' must not hold a user name or password", v);
		goto out;
	}
	out = fb_xstrdup(v);
out:
	curl_free(scheme);
	curl_free(user);
	curl_url_cleanup(u);
	return out;
}

/* A name of 1 to 64 characters from allowed; what describes it in the problem. */
static char *
v_short_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v, const char *allowed, const char *what)
{
	size_t len = strlen(v);

	if (len == 0 || len > 64 || strspn(v, allowed) != len) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' is not %s",
		    len <= 64 && !has_control(v) ? v : "(too long or unprintable)", what);
		return NULL;
	}
	return fb_xstrdup(v);
}

static char *
v_sp_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	/* The name is a URL path segment (/saml/idp/init/<name>): keep it plain. */
	return v_short_name(ctx, pl, path, v, "-_0123456789abcdefghijklmnopqrstuvwxyz",
	    "a service provider name: use 1 to 64 lowercase letters, digits, '_' or '-' (it "
	    "appears in the URL /saml/idp/init/NAME)");
}

/* A URI (entity ids, audiences): 1..1024 printable ASCII characters with a scheme. */
static char *
v_uri(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	size_t len = strlen(v), scheme = strspn(v,
	    "+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == '"' ||
		    v[i] == '<' || v[i] == '>') {
			fb_conf_problem(ctx, pl, path, 1,
			    "must be a URI of printable ASCII without spaces, quotes or angle "
			    "brackets");
			return NULL;
		}
	if (len == 0 || len > 1024 || scheme == 0 || v[scheme] != ':' ||
	    !((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z'))) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%.1024s' is not a URI (1 to 1024 characters starting with a scheme, e.g. "
		    "https://sso.example.com/saml or urn:example:sp)",
		    v);
		return NULL;
	}
	return fb_xstrdup(v);
}

static char *
v_mapping_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	return v_short_name(ctx, pl, path, v,
	    "-_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	    "a mapping name: give the file name under mappings.dir without .py (1 to 64 "
	    "letters, digits, '_' or '-')");
}

/* A SAML attribute Name: 1..1024 bytes of UTF-8 without control characters or spaces. */
static char *
v_attr_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	size_t len = strlen(v);

	if (len == 0 || len > 1024 || !fb_utf8_check(v, len) || has_control(v) ||
	    strchr(v, ' ') != NULL) {
		fb_conf_problem(ctx, pl, path, 1,
		    "must be 1 to 1024 bytes of UTF-8 without spaces or control characters");
		return NULL;
	}
	return fb_xstrdup(v);
}

/* A default RelayState: printable ASCII, at most 1024 characters (SPs read it as a URL). */
static char *
v_relay_state(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	size_t len = strlen(v);

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f) {
			fb_conf_problem(ctx, pl, path, 1,
			    "must be printable ASCII (percent-encode anything else)");
			return NULL;
		}
	if (len == 0 || len > 1024) {
		fb_conf_problem(ctx, pl, path, 1, "must be 1 to 1024 characters long (found %zu)",
		    len);
		return NULL;
	}
	return fb_xstrdup(v);
}

/* An upstream name: a URL path segment (/upstream/<name>/start). */
static char *
v_upstream_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	if (strlen(v) > 32) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%.64s' is longer than 32 characters (it appears in the URL "
		    "/upstream/NAME/start)",
		    has_control(v) ? "(unprintable)" : v);
		return NULL;
	}
	return v_short_name(ctx, pl, path, v, "-_0123456789abcdefghijklmnopqrstuvwxyz",
	    "an upstream name: use 1 to 32 lowercase letters, digits, '_' or '-' (it appears in "
	    "the URL /upstream/NAME/start)");
}

/* An email domain for home-realm discovery: a DNS name of at least two labels, lowercased. */
static char *
v_domain(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	size_t len = strlen(v);
	const char *p = v;
	int labels = 0;
	char *out;

	while (len > 0 && *p != '\0') {
		size_t l =
		    strspn(p, "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

		if (l == 0 || l > 63 || p[0] == '-' || p[l - 1] == '-' ||
		    (p[l] != '.' && p[l] != '\0') || (p[l] == '.' && p[l + 1] == '\0'))
			break;
		labels++;
		p += l + (p[l] == '.');
	}
	if (len == 0 || len > 253 || *p != '\0' || labels < 2) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is not an email domain (a DNS name such as example.com, without '@')",
		    len <= 253 && !has_control(v) ? v : "(too long or unprintable)");
		return NULL;
	}
	out = fb_xstrdup(v);
	for (char *q = out; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return out;
}

/* A Microsoft Entra tenant: its id (a GUID) or one of its domains; not a multi-tenant alias. */
static char *
v_tenant(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	if (strcmp(v, "common") == 0 || strcmp(v, "organizations") == 0 ||
	    strcmp(v, "consumers") == 0) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is a multi-tenant endpoint whose ID tokens name another issuer: give "
		    "your tenant id (a GUID) or its domain",
		    v);
		return NULL;
	}
	return v_short_name(ctx, pl, path, v,
	    "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	    "a tenant: give the tenant id (a GUID) or its domain");
}

/* An OAuth scope token (RFC 6749 3.3): printable ASCII without spaces, '"' or '\\'. */
static char *
v_scope(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	size_t len = strlen(v);

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == '"' ||
		    v[i] == '\\')
			len = 0;
	if (len == 0 || len > 256) {
		fb_conf_problem(ctx, pl, path, 1,
		    "must be one scope: 1 to 256 printable ASCII characters without spaces, '\"' "
		    "or '\\'");
		return NULL;
	}
	return fb_xstrdup(v);
}

/* An OAuth client_id: 1..128 of [A-Za-z0-9._:-] (it appears in URLs and logs). */
static char *
v_client_id(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	size_t len = strlen(v);

	for (size_t i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-",
			v[i]) == NULL)
			len = 0;
	if (len == 0 || len > 128) {
		fb_conf_problem(ctx, pl, path, 1,
		    "must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'");
		return NULL;
	}
	return fb_xstrdup(v);
}

/*
 * A redirect URI (RFC 6749 3.1.2, RFC 8252 7): absolute, no fragment, no
 * user name; https://, http:// on a loopback host only, or a native app's
 * private-use scheme with a dot (com.example.app:/cb). Kept as written: it
 * is compared exactly.
 */
static char *
v_redirect_uri(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *part = NULL, *out = NULL;
	CURLUcode rc;

	if (u == NULL) {
		fb_conf_problem(ctx, pl, path, 1, "cannot parse URLs (out of memory)");
		goto out;
	}
	if (strlen(v) > 2048 || has_control(v) || strchr(v, ' ') != NULL) {
		fb_conf_problem(ctx, pl, path, 1,
		    "must be a URL of at most 2048 characters without spaces");
		goto out;
	}
	if ((rc = curl_url_set(u, CURLUPART_URL, v, CURLU_NON_SUPPORT_SCHEME)) != CURLUE_OK) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' is not an absolute URL: %s", v,
		    curl_url_strerror(rc));
		goto out;
	}
	if (strchr(v, '#') != NULL) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' must not have a fragment (#)", v);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' must not hold a user name or password", v);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		fb_conf_problem(ctx, pl, path, 1, "'%s' has no scheme", v);
		goto out;
	}
	/* SECURITY: a code sent over plain http to another host can be read on the way. */
	if ((strcmp(scheme, "http") == 0 && !fb_conf_url_is_loopback(v)) ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0 &&
	        strchr(scheme, '.') == NULL)) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' must be https://, http:// on a loopback address, or a private-use scheme "
		    "with a dot (com.example.app:/callback)",
		    v);
		goto out;
	}
	out = fb_xstrdup(v);
out:
	curl_free(scheme);
	curl_free(part);
	curl_url_cleanup(u);
	return out;
}

/* An OAuth grant type the provider implements. */
static char *
v_grant_type(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	if (strcmp(v, "authorization_code") == 0 || strcmp(v, "refresh_token") == 0 ||
	    strcmp(v, "client_credentials") == 0)
		return fb_xstrdup(v);
	fb_conf_problem(ctx, pl, path, 1,
	    "'%.64s' is not a grant type (known: authorization_code, refresh_token, "
	    "client_credentials)",
	    has_control(v) ? "(unprintable)" : v);
	return NULL;
}

/* A claim name a mapping may set: 1..64 of [A-Za-z0-9_.:-], not a registered JWT claim. */
static char *
v_claim_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	static const char *const reserved[] = {"iss", "sub", "aud", "exp", "iat", "nbf", "jti",
	    "nonce", "azp", "auth_time", "at_hash", "client_id", "scope", "cnf", "sid", "acr",
	    "amr"};
	size_t len = strlen(v);

	for (size_t i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-",
			v[i]) == NULL)
			len = 0;
	if (len == 0 || len > 64) {
		fb_conf_problem(ctx, pl, path, 1,
		    "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', ':' and '-'");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(v, reserved[i]) == 0) {
			fb_conf_problem(ctx, pl, path, 1,
			    "'%s' is set by the provider itself and cannot come from a mapping", v);
			return NULL;
		}
	return fb_xstrdup(v);
}

/* A JWS algorithm of the ID-token allow-list: asymmetric ones only. */
static char *
v_jws_alg(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	static const char *const ok[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	    "ES256", "ES384", "ES512", "EdDSA"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(v, ok[i]) == 0)
			return fb_xstrdup(v);
	/* SECURITY: "none" accepts anything; HS* would be keyed with the issuer's public key. */
	if (strcasecmp(v, "none") == 0 || strncasecmp(v, "HS", 2) == 0)
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is refused: ID tokens must be signed with the issuer's private key (use "
		    "RS256, ES256, PS256, ...)",
		    v);
	else
		fb_conf_problem(ctx, pl, path, 1,
		    "'%.64s' is not a signature algorithm (known: RS256, RS384, RS512, PS256, PS384, "
		    "PS512, ES256, ES384, ES512, EdDSA)",
		    has_control(v) ? "(unprintable)" : v);
	return NULL;
}

/* A rule's or a host's path prefix: "/", or "/seg/seg" of plain characters, no dot segments. */
static int
path_prefix_ok(const char *v)
{
	if (v[0] != '/' || strlen(v) > 1024)
		return 0;
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("%?#;\\\"<>", *p) != NULL)
			return 0;
	for (const char *seg = v + 1;; seg = strchr(seg, '/') + 1) {
		size_t len = strcspn(seg, "/");

		if (seg[len] == '\0' && len == 0)
			return 1; /* "/" alone, or one trailing slash */
		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (seg[len] == '\0')
			return 1;
	}
}

/* apps[].rules[].path: a path prefix, matched segment-wise ("/admin" covers "/admin/x"). */
static char *
v_path_prefix(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	if (!path_prefix_ok(v)) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is not a path prefix: write it as the browser's decoded path, starting "
		    "with '/', without '//', '.' or '..' segments, '%%', '?', '#', ';' or '\\' "
		    "(e.g. /admin or /api/v1)",
		    strlen(v) <= 1024 && !has_control(v) ? v : "(too long or unprintable)");
		return NULL;
	}
	return fb_xstrdup(v);
}

/*
 * apps[].hosts: "host" or "host/prefix" as the browser sees it. Kept lower
 * case, without a trailing dot (requests are compared the same way).
 */
static char *
v_app_host(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	size_t hlen = strcspn(v, "/");
	char *host, *checked, *out = NULL;

	if (strstr(v, "://") != NULL) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is a URL: give the host name as the browser sends it, optionally with "
		    "a path prefix (e.g. wiki.example.com or example.com/wiki)",
		    v);
		return NULL;
	}
	host = fb_xstrndup(v, hlen);
	for (char *p = host; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (hlen > 1 && host[hlen - 1] == '.')
		host[hlen - 1] = '\0';
	if (strchr(host, ':') != NULL) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s': give the host without a port (a request's port is ignored when its "
		    "host is compared)",
		    v);
		goto out;
	}
	if ((checked = v_host(ctx, pl, path, host)) == NULL)
		goto out;
	free(checked);
	if (v[hlen] == '/' && !path_prefix_ok(v + hlen)) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s': the path prefix must start with '/' and hold no '//', '.' or '..' "
		    "segments, '%%', '?', '#', ';' or '\\'",
		    v);
		goto out;
	}
	/* "host/" is the host alone. */
	out = v[hlen] == '/' && v[hlen + 1] != '\0' ? fb_xasprintf("%s%s", host, v + hlen)
	                                          : fb_xstrdup(host);
out:
	free(host);
	return out;
}

/* apps[].rules[].methods: an HTTP method, kept upper case. */
static char *
v_method(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path, const char *v)
{
	static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
	    "OPTIONS", "CONNECT", "TRACE"};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcasecmp(v, known[i]) == 0)
			return fb_xstrdup(known[i]);
	fb_conf_problem(ctx, pl, path, 1,
	    "'%.32s' is not an HTTP method (known: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, "
	    "CONNECT, TRACE)",
	    has_control(v) ? "(unprintable)" : v);
	return NULL;
}

/* apps[].headers.*: an HTTP header name (RFC 9110 token), or "" for none. */
static char *
v_header_name(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    const char *v)
{
	static const char *const reserved[] = {"host", "cookie", "set-cookie", "authorization",
	    "content-length", "transfer-encoding", "connection", "location", "x-forwarded-for",
	    "x-forwarded-host", "x-forwarded-proto", "x-forwarded-uri", "x-forwarded-method",
	    "x-original-url", "x-original-method"};
	size_t len = strlen(v);

	if (len > 64 || strspn(v, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz") != len) {
		fb_conf_problem(ctx, pl, path, 1,
		    "'%s' is not an HTTP header name (letters, digits and - _ . at most 64; \"\" "
		    "sends no header)",
		    len <= 64 && !has_control(v) ? v : "(too long or unprintable)");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(v, reserved[i]) == 0) {
			fb_conf_problem(ctx, pl, path, 1,
			    "'%s' is a header HTTP or the proxy itself uses: choose another name", v);
			return NULL;
		}
	return fb_xstrdup(v);
}
