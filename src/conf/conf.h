/* SPDX-License-Identifier: Apache-2.0 */
/* conf: one YAML file -> a checked, immutable struct fb_conf. */
#ifndef FB_CONF_CONF_H
#define FB_CONF_CONF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"

enum fb_conf_key_state {
	FB_KEY_ACTIVE = 0, /* signs */
	FB_KEY_PUBLISHED,  /* published in metadata/JWKS, does not sign */
	FB_KEY_RETIRED,	   /* kept on disk, neither published nor signing */
};

/* A signing key given in the configuration (keys: list). */
struct fb_conf_key {
	char *id;
	char *key_file;  /* PEM private key (RSA or EC) */
	char *cert_file; /* PEM X.509 certificate */
	char
	    *passphrase; /* resolved secret (from env:/file:), NULL when the key is not encrypted */
	enum fb_conf_key_state state;
};

enum fb_conf_store_driver {
	FB_STORE_SQLITE = 0,
	FB_STORE_POSTGRES,
};

/* store.migrate: when pending schema migrations are applied. */
enum fb_conf_store_migrate {
	FB_STORE_MIGRATE_AUTO = 0, /* whenever the store is opened */
	FB_STORE_MIGRATE_MANUAL,   /* only by fedbroker store migrate (a new store: always) */
};

/*
 * The whole configuration. Immutable once fb_conf_load() returns; every
 * string is owned by the struct and freed by fb_conf_free(). A reload
 * builds a new one.
 */
/* A group declared in the configuration (groups: list). */
struct fb_conf_group {
	char *name;
	json_t *attributes; /* an object of free-form values (aws_role: Admin); never NULL */
	char **members;     /* usernames */
	size_t nmembers;
	int require_mfa;
};

enum fb_conf_smtp_security {
	FB_SMTP_STARTTLS = 0, /* port 587: STARTTLS required */
	FB_SMTP_TLS,          /* port 465: implicit TLS */
	FB_SMTP_NONE,         /* plain (loopback relays and tests only) */
};

/* oidc.mtls.header_format: how a trusted proxy passes the client certificate. */
enum fb_conf_mtls_header {
	FB_CONF_MTLS_XFCC = 0, /* Envoy's x-forwarded-client-cert: Cert="<url-encoded PEM>" */
	FB_CONF_MTLS_PEM,      /* nginx's $ssl_client_escaped_cert: the url-encoded PEM */
};

struct fb_conf {
	char *path;    /* the file it was read from, "(built-in)" when none */
	json_t *places; /* for fb_conf_report_add: where each value is in the file */
	json_t *tree;	/* the file as parsed (an object of sections); never NULL */

	/* server: */
	char **listen; /* "ADDR:PORT" or "[V6]:PORT", at least one */
	size_t nlisten;
	int workers;      /* 0 = one per core */
	char *public_url; /* external base URL, no trailing slash */
	char *state_dir;
	char *tls_cert; /* both or neither */
	char *tls_key;
	char *tls_client_ca; /* server.tls.client_ca: ask TLS clients for a certificate */
	size_t max_header_bytes;
	size_t max_body_bytes;
	int64_t request_timeout;  /* seconds, whole request including body */
	int64_t idle_timeout;     /* seconds a keep-alive connection may stay idle */
	int64_t shutdown_timeout; /* seconds SIGTERM waits for in-flight requests */
	int64_t drain_window_ms;  /* server.drain_window (2s): idle connections kept, answered with close */
	int cpu_threads;	  /* server.cpu_threads (1): threads per worker for CPU jobs */
	int cpu_queue;		  /* server.cpu_queue (32): CPU jobs a worker holds at most */
	int max_connections;	  /* server.max_connections (0): per worker; 0 = from RLIMIT_NOFILE */
	char **trusted_proxies;	  /* server.trusted_proxies: addresses or CIDR blocks */
	size_t ntrusted_proxies;
	int64_t hsts_max_age;	  /* server.hsts_max_age (365d); 0 = no HSTS header */

	/* log: */
	enum fb_log_format log_format;
	enum fb_log_level log_level;
	int log_access; /* one access line per request */

	/* store: */
	enum fb_conf_store_driver store_driver;
	char *store_path; /* sqlite file; default <state_dir>/fedbroker.db */
	char *store_dsn;  /* postgres connection string (a resolved secret) */
	int64_t store_busy_timeout_ms;
	enum fb_conf_store_migrate store_migrate;
	int64_t store_pool_size;	    /* postgres: connections per process */
	int64_t store_connect_timeout;	    /* postgres: seconds */
	int64_t store_statement_timeout_ms; /* postgres: per statement, 0 = none */
	char *store_tls_ca;		    /* postgres: CA file verifying the server */

	/* keys: (empty = generate one in <state_dir>/keys on first start) */
	struct fb_conf_key *keys;
	size_t nkeys;
	/* key_rollover.min_publish_time: seconds a key is published before it may sign */
	int64_t key_min_publish_time;

	/* session: */
	char *cookie_name;
	int64_t session_lifetime; /* seconds */
	char **cookie_secrets;    /* resolved secrets; first seals. Empty = keys in state dir */
	size_t ncookie_secrets;

	/* metrics: */
	int metrics_enabled;
	char *metrics_listen; /* metrics.listen: /metrics on this address only; NULL = main */
	char *metrics_token;  /* metrics.token: resolved secret; NULL = no token asked */

	/* groups: (in file order; names unique) */
	struct fb_conf_group *groups;
	size_t ngroups;

	/* local: (local accounts) */
	uint32_t argon2_t_cost;      /* local.password.time_cost (3) */
	uint32_t argon2_m_cost_kib;  /* local.password.memory_kib (65536) */
	uint32_t argon2_parallelism; /* local.password.parallelism (1) */
	int bootstrap_enabled;       /* local.bootstrap.enabled (true) */
	char *bootstrap_password;  /* local.bootstrap.password: resolved secret or NULL (random) */
	char *bootstrap_token;     /* local.bootstrap.token: resolved secret or NULL (random) */
	int lockout_max_failures;  /* local.lockout.max_failures (5) before delays start */
	int lockout_addr_max_failures; /* local.lockout.per_address.max_failures (20), per address */
	int64_t lockout_window;    /* local.lockout.window (15m) failures are counted in */
	int64_t lockout_max_delay; /* local.lockout.max_delay (15m) the delay grows to */
	int64_t lockout_initial_delay; /* local.lockout.initial_delay (1s): the first delay */
	int64_t recovery_lifetime; /* local.recovery_link_lifetime (30m) */

	/* smtp: (unset host = no email) */
	char *smtp_host;
	int smtp_port; /* default 587 for starttls, 465 for tls, 25 for none */
	enum fb_conf_smtp_security smtp_security;
	char *smtp_username;
	char *smtp_password; /* resolved secret */
	char *smtp_from;
	int64_t smtp_timeout; /* seconds (30s) */

	/* branding: */
	char *org_name; /* branding.organization ("fedbroker") */
	char *logo_url; /* branding.logo_url, may be NULL */

	/* mappings: */
	char *mappings_dir; /* mappings.dir; default <directory of the file>/mappings */

	/* saml: the IdP */
	char *saml_entity_id;	       /* saml.idp.entity_id; default <public_url>/saml/idp/metadata */
	int saml_sign_metadata;	       /* saml.idp.sign_metadata (false) */
	int saml_want_requests_signed; /* saml.idp.want_authn_requests_signed (false) */
	int64_t saml_request_lifetime; /* saml.idp.request_lifetime (10m) */
	int64_t saml_clock_skew;       /* saml.idp.clock_skew (60s): NotBefore = now - skew */
	struct fb_conf_saml_sp *saml_sps; /* saml.service_providers, names unique */
	size_t nsaml_sps;
	/* saml.sp: the broker's one SP entity, for SAML upstreams */
	char *saml_sp_entity_id; /* saml.sp.entity_id; default <public_url>/saml/sp/metadata */

	/* upstreams: identity providers people sign in through (names unique) */
	struct fb_conf_upstream *upstreams;
	size_t nupstreams;

	/* scim.targets: directories kept in step over SCIM 2.0 (names unique) */
	struct fb_conf_scim_target *scim_targets;
	size_t nscim_targets;

	/* apps: web apps behind a proxy asking fedbroker (forward auth; names unique) */
	struct fb_conf_app *apps;
	size_t napps;

	/* oidc: the OpenID provider (issuer: server.public_url) */
	int64_t oidc_code_lifetime;	     /* oidc.code_lifetime (60s) */
	char *oidc_mtls_ca_file; /* tls_client_auth chains (default server.tls.client_ca) */
	char *oidc_mtls_header;  /* a trusted proxy's client-certificate header */
	enum fb_conf_mtls_header oidc_mtls_header_format;
	int64_t oidc_clock_skew;	     /* oidc.clock_skew (60s): exp/nbf of Bearer tokens */
	struct fb_conf_oidc_client *oidc_clients; /* oidc.clients, ids unique */
	size_t noidc_clients;
};

/* ---- forward-auth apps (apps) ---------------------------------------------------- */

/* apps[].rules[].action: what a matching rule decides. */
enum fb_conf_app_action {
	FB_CONF_APP_ALLOW = 0,	  /* signed-in users (of the rule's groups, if any) get in */
	FB_CONF_APP_DENY,	  /* refused (403), signed in or not */
	FB_CONF_APP_ANONYMOUS,	  /* anyone, without signing in (health checks, webhooks) */
};

/*
 * One per-path rule. A rule matches a request when the normalised path is
 * under path (segment-wise), the method is one of methods (none: any) and,
 * when groups are given, the user is in one of them. The first matching
 * rule decides; none: the app's groups decide.
 */
struct fb_conf_app_rule {
	char *path; /* "/admin": starts with '/', normalised (no dot segments, no "//") */
	char **methods; /* upper case; empty = any method */
	size_t nmethods;
	enum fb_conf_app_action action;
	char **groups; /* empty = everyone (ANONYMOUS: must be empty) */
	size_t ngroups;
};

/* A header whose value a mapping rule computes (e.g. X-Role). */
struct fb_conf_app_mapped {
	char *header;  /* an HTTP header name (token characters) */
	char *mapping; /* the rule file's name under mappings.dir */
};

struct fb_conf_app {
	char *name;	    /* [a-z0-9_-]{1,64} */
	char *display_name; /* default: name */
	char **hosts; /* "host" or "host/prefix": lower case, no port, no trailing dot */
	size_t nhosts;
	char **groups; /* who may use it; empty = every signed-in user */
	size_t ngroups;
	struct fb_conf_app_rule *rules;
	size_t nrules;
	char *header_username; /* headers.username (X-Forwarded-User); "" = not sent */
	char *header_email;    /* headers.email (X-Forwarded-Email) */
	char *header_groups;   /* headers.groups (X-Forwarded-Groups), comma-separated */
	char *header_name;     /* headers.name (X-Forwarded-Name): the display name */
	struct fb_conf_app_mapped *mapped; /* headers.mapped */
	size_t nmapped;
	int64_t session_lifetime; /* seconds; 0 = session.lifetime */
	char *upstream;		  /* the sign-in upstream to use; NULL = the sign-in page */
	char **audiences; /* a Bearer access token's aud must name one; empty = the name */
	size_t naudiences;
	int pass_access_token;	   /* send the upstream an access token for the user */
	char *access_token_header; /* access_token_header (Authorization) */
};

/* The app named name, or NULL. */
const struct fb_conf_app *fb_conf_app_find(const struct fb_conf *conf, const char *name);

/* ---- upstream identity providers (upstreams) ------------------------------------ */

enum fb_conf_upstream_type {
	FB_CONF_UPSTREAM_OIDC = 0,
	FB_CONF_UPSTREAM_SAML,
};

/* upstreams[].oidc.preset: how the issuer is found. */
enum fb_conf_oidc_preset {
	FB_CONF_OIDC_GENERIC = 0, /* oidc.issuer */
	FB_CONF_OIDC_GOOGLE,	  /* https://accounts.google.com */
	FB_CONF_OIDC_MICROSOFT,	  /* https://login.microsoftonline.com/<tenant>/v2.0 */
	FB_CONF_OIDC_OKTA,	  /* https://<domain> */
};

/* upstreams[].oidc.client_auth: how the client authenticates at the token endpoint. */
enum fb_conf_oidc_client_auth {
	FB_CONF_OIDC_SECRET_BASIC = 0,
	FB_CONF_OIDC_SECRET_POST,
	FB_CONF_OIDC_PRIVATE_KEY_JWT, /* RFC 7523, signed with fedbroker's active key */
};

/* upstreams[].saml.sign_requests */
enum fb_conf_saml_sign_requests {
	FB_CONF_SAML_SIGN_REQ_AUTO = 0, /* as the IdP's WantAuthnRequestsSigned says */
	FB_CONF_SAML_SIGN_REQ_ALWAYS,
	FB_CONF_SAML_SIGN_REQ_NEVER,
};

/* upstreams[].saml.login_hint: where the typed email goes in the AuthnRequest. */
enum fb_conf_saml_login_hint {
	FB_CONF_SAML_HINT_NONE = 0, /* nowhere (some IdPs refuse a Subject) */
	FB_CONF_SAML_HINT_SUBJECT,  /* <Subject><NameID Format=emailAddress> (SAML core 3.4.1) */
};

struct fb_conf_upstream_oidc {
	enum fb_conf_oidc_preset preset;
	char *tenant;  /* microsoft: a tenant id or domain (not common/organizations) */
	char *domain;  /* okta: the org's host name */
	char *issuer;  /* resolved by check.c from the preset; never NULL for oidc */
	char *client_id;
	char *client_secret; /* resolved secret; NULL for private_key_jwt */
	enum fb_conf_oidc_client_auth client_auth;
	char **scopes;	     /* default openid, email, profile; always holds openid */
	size_t nscopes;
	int userinfo;	     /* merge the userinfo endpoint's claims */
	char **algorithms;   /* ID token signature allow-list (default RS256, ES256, PS256) */
	size_t nalgorithms;
	char *ca_file;	     /* CA bundle, NULL = the system's; verification is always on */
	int64_t timeout_ms;  /* each outbound request (10s) */
	int64_t clock_skew;  /* seconds (60s) */
	int64_t discovery_refresh; /* seconds (1h) */
};

struct fb_conf_upstream_saml {
	char *metadata;		    /* IdP metadata file, or NULL with metadata_url */
	char *metadata_url;	    /* fetched by the jobs process */
	char *metadata_certificate; /* PEM pin verifying the fetched metadata's signature */
	int64_t metadata_refresh;   /* seconds (1h) */
	char *ca_file;		    /* CA bundle for metadata_url, NULL = the system's */
	int allow_unsolicited;
	int accept_sha1;
	enum fb_conf_saml_sign_requests sign_requests;
	int64_t clock_skew; /* seconds (60s) */
	enum fb_conf_saml_login_hint login_hint;
};

/* One upstream identity provider (upstreams[]). */
struct fb_conf_upstream {
	char *name;	    /* [a-z0-9_-]{1,32}: the URL /upstream/<name>/... */
	char *display_name; /* the login button's label; default: name */
	enum fb_conf_upstream_type type;
	char **domains; /* lowercase email domains for home-realm discovery, unique overall */
	size_t ndomains;
	char *mapping;	  /* rule turning claims into an identity; default upstream_<type> */
	int link_by_email; /* link to an existing user by a verified email (false) */
	int provision;	   /* create users on first sign-in (true) */
	int logout;	   /* signing out of the broker signs out upstream (false) */
	int64_t session_lifetime; /* seconds; 0 = session.lifetime (capped by the upstream's) */
	struct fb_conf_upstream_oidc oidc;
	struct fb_conf_upstream_saml saml;
};

/* The upstream named name, or NULL. */
const struct fb_conf_upstream *fb_conf_upstream_find(const struct fb_conf *conf, const char *name);
/* The upstream owning the domain of email (case-insensitive), or NULL. */
const struct fb_conf_upstream *fb_conf_upstream_for_email(const struct fb_conf *conf,
    const char *email);

/* ---- SCIM push targets (scim.targets) --------------------------------------------- */

/* Which directory rules apply on top of SCIM 2.0's (scim.targets[].profile). */
enum fb_conf_scim_profile {
	FB_CONF_SCIM_GENERIC = 0,
	FB_CONF_SCIM_AWS, /* AWS IAM Identity Center: notes in fedbroker.yaml(5) */
};

/* What happens remotely to a deleted user, or one leaving the pushed scope. */
enum fb_conf_scim_deprovision {
	FB_CONF_SCIM_DELETE = 0, /* DELETE /Users/{id} (objects fedbroker created only) */
	FB_CONF_SCIM_DEACTIVATE, /* active: false */
	FB_CONF_SCIM_KEEP,	 /* left as it is */
};

struct fb_conf_scim_target {
	char *name; /* [a-z0-9_-]{1,32}: the CLI's TARGET, the store's and metrics' label */
	char *url;  /* the SCIM base URL, no trailing slash (https, or http on loopback) */
	char *token; /* bearer token: a resolved secret */
	enum fb_conf_scim_profile profile;
	char **groups; /* the pushed scope: members of these groups; empty = every user */
	size_t ngroups;
	char *user_mapping;  /* a rule patching each SCIM User body; may be NULL */
	char *group_mapping; /* a rule patching each SCIM Group body; may be NULL */
	enum fb_conf_scim_deprovision on_delete;       /* a deleted user (delete) */
	enum fb_conf_scim_deprovision on_out_of_scope; /* a user leaving scope (deactivate) */
	int64_t reconcile_interval; /* seconds between full reconciles; 0 = only by hand */
	int concurrency;	    /* requests in flight at once (4) */
	int rate_limit;		    /* requests per second at most; 0 = no limit */
	int64_t timeout_ms;	    /* one request (30s) */
	int64_t backoff_max;	    /* seconds: the longest wait between retries (5m) */
	char *ca_file;		    /* CA bundle for the target's TLS; NULL = the system's */
};

/* The SCIM target named name, or NULL. */
const struct fb_conf_scim_target *fb_conf_scim_target_find(const struct fb_conf *conf,
    const char *name);

/* ---- the OpenID provider's clients (oidc.clients) -------------------------------- */

enum fb_conf_oidc_client_type {
	FB_CONF_OIDC_CONFIDENTIAL = 0, /* a server-side app with a secret */
	FB_CONF_OIDC_PUBLIC,	       /* a browser or native app: no secret, PKCE S256 */
	FB_CONF_OIDC_SERVICE,	       /* a machine: client_credentials only */
};

/* The JWS algorithm of a client's tokens. */
enum fb_conf_oidc_alg {
	FB_CONF_OIDC_ES256 = 0,
	FB_CONF_OIDC_RS256,
};

/* The grant types (oidc.clients[].grant_types), as bits of fb_conf_oidc_client.grants. */
#define FB_CONF_OIDC_GRANT_CODE	   0x1 /* authorization_code */
#define FB_CONF_OIDC_GRANT_REFRESH 0x2 /* refresh_token */
#define FB_CONF_OIDC_GRANT_CLIENT  0x4 /* client_credentials */

/* A claim added to a client's tokens and the mapping rule that produces its value. */
struct fb_conf_oidc_claim {
	char *name;
	char *mapping; /* a rule of mappings.dir, without .py */
};

struct fb_conf_oidc_client {
	char *id; /* client_id: 1..128 of [A-Za-z0-9._:-] */
	enum fb_conf_oidc_client_type type;
	char *secret;		/* resolved secret; NULL for public clients */
	char *jwks;		/* the client's public keys for private_key_jwt (a JWKS file) */
	/* RFC 8705 tls_client_auth: one of these, the chain verified (oidc.mtls.ca_file) */
	char *tls_subject_dn; /* RFC 4514 */
	char *tls_san_dns, *tls_san_uri, *tls_san_email, *tls_san_ip;
	/* RFC 8705 self_signed_tls_client_auth: base64url(SHA-256(DER)) of the certificate */
	char *tls_thumbprint;
	int tls_self_signed;    /* the same, with the certificates of jwks (x5c, x5t#S256) */
	char **redirect_uris;	/* exact match (loopback: any port, RFC 8252 7.3) */
	size_t nredirect_uris;
	char **post_logout_redirect_uris;
	size_t npost_logout_redirect_uris;
	char **cors_origins; /* browser apps' origins (scheme://host[:port]) */
	size_t ncors_origins;
	char **grant_types; /* as written; grants holds them checked */
	size_t ngrant_types;
	unsigned grants;    /* FB_CONF_OIDC_GRANT_* (default from type) */
	char **scopes;	    /* the scopes it may ask for (default: openid profile email groups) */
	size_t nscopes;
	char **groups;	    /* empty = everyone may use it */
	size_t ngroups;
	int require_pkce;   /* confidential clients (true); public ones always */
	enum fb_conf_oidc_alg signing_alg;
	int64_t access_token_lifetime;	/* seconds (10m) */
	int64_t id_token_lifetime;	/* seconds (10m) */
	int64_t refresh_token_lifetime; /* seconds (8h); 0 = no refresh tokens */
	struct fb_conf_oidc_claim *claims;
	size_t nclaims;
	int introspect_any; /* introspect: any (a resource server): every token, not only its own */
	char *name;	    /* the display name the consent page shows (NULL: the id) */
	int first_party;    /* true (default): no consent page unless prompt=consent */
	int64_t consent_lifetime; /* seconds a given consent is remembered (90d) */
	int64_t registered; /* a client of the store: its registration (op.c); 0: configured */
	/* A client kept in the store (fedbroker oidc client add) instead of oidc.clients: */
	char *secret_hash; /* lowercase hex SHA-256 of its secret (never the secret), or NULL */
	char *jwks_json;   /* its public keys for private_key_jwt (a JWKS), or NULL */
};

/* How a client authenticates with a certificate (RFC 8705 2), from its tls: keys. */
enum fb_conf_mtls_method {
	FB_CONF_MTLS_NONE = 0,
	FB_CONF_MTLS_PKI,         /* tls_client_auth: chain, then subject DN or a SAN */
	FB_CONF_MTLS_SELF_SIGNED, /* self_signed_tls_client_auth: the pinned thumbprint */
};
enum fb_conf_mtls_method fb_conf_oidc_client_mtls(const struct fb_conf_oidc_client *cl);

/* The client whose id is id, or NULL. */
const struct fb_conf_oidc_client *fb_conf_oidc_client_find(const struct fb_conf *conf,
    const char *id);
struct fb_conf_report;
/*
 * Reads one client kept in the store: spec (borrowed) is a JSON object
 * with the keys of one oidc.clients[] entry but secret and jwks, checked
 * by the same key table, validators, defaults and rules as the
 * configuration's (a confidential or service client needs secret_hash or
 * jwks_json; claims need their rule in mappings_dir, may be NULL).
 * secret_hash and jwks_json (borrowed, may be NULL) are copied. name names
 * the client in messages. FB_OK: *out filled (fb_conf_oidc_client_cleanup).
 * FB_ERR_CONFIG: err holds the first problem; *report (may be NULL) every
 * line, new, freed by the caller (fb_conf_report_free), set either way.
 */
enum fb_status fb_conf_oidc_client_parse(const json_t *spec, const char *secret_hash,
    const char *jwks_json, const char *mappings_dir, const char *name,
    struct fb_conf_oidc_client *out, struct fb_conf_report **report, struct fb_err *err);
/* Frees the members of cl and zeroes it. */
void fb_conf_oidc_client_cleanup(struct fb_conf_oidc_client *cl);

/* ---- SAML service providers (saml.service_providers) ---------------------------- */

/* What an SP gets signed (saml.service_providers[].sign). */
enum fb_conf_saml_sign {
	FB_CONF_SAML_SIGN_BOTH = 0,  /* the Assertion and the Response */
	FB_CONF_SAML_SIGN_ASSERTION, /* the Assertion only */
	FB_CONF_SAML_SIGN_RESPONSE,  /* the Response only */
};

/* Signature algorithm of what the IdP signs for an SP. */
enum fb_conf_saml_alg {
	FB_CONF_SAML_RSA_SHA256 = 0,
	FB_CONF_SAML_RSA_SHA384,
	FB_CONF_SAML_RSA_SHA512,
	FB_CONF_SAML_ECDSA_SHA256,
	FB_CONF_SAML_RSA_SHA1, /* only by explicit choice */
};

enum fb_conf_nameid_format {
	FB_CONF_NAMEID_PERSISTENT = 0, /* opaque, stable per user and SP, stored */
	FB_CONF_NAMEID_TRANSIENT,      /* random per response */
	FB_CONF_NAMEID_EMAIL,	       /* emailAddress: an addr-spec */
	FB_CONF_NAMEID_UNSPECIFIED,
};

/* The identity field that feeds the NameID (email and unspecified formats). */
enum fb_conf_nameid_source {
	FB_CONF_NAMEID_FROM_USERNAME = 0,
	FB_CONF_NAMEID_FROM_EMAIL,
	FB_CONF_NAMEID_FROM_UID,
};

/* Which service-provider rules apply on top of SAML's. */
enum fb_conf_saml_profile {
	FB_CONF_SAML_GENERIC = 0,
	FB_CONF_SAML_AWS,		  /* classic IAM: the console */
	FB_CONF_SAML_AWS_IDENTITY_CENTER, /* IAM Identity Center */
};

enum fb_conf_saml_slo_binding {
	FB_CONF_SAML_SLO_REDIRECT = 0,
	FB_CONF_SAML_SLO_POST,
};

enum fb_conf_saml_name_format {
	FB_CONF_SAML_ATTR_URI = 0,
	FB_CONF_SAML_ATTR_BASIC,
	FB_CONF_SAML_ATTR_UNSPECIFIED,
};

/* An assertion consumer service given inline (HTTP-POST binding). */
struct fb_conf_saml_acs {
	char *url;
	int index;	/* default: the position in the list */
	int is_default; /* default: false */
};

/* One SAML attribute and the mapping that produces its values. */
struct fb_conf_saml_attr {
	char *name;	     /* e.g. https://aws.amazon.com/SAML/Attributes/Role */
	char *mapping;	     /* a rule of mappings.dir, without .py */
	char *friendly_name; /* may be NULL */
	enum fb_conf_saml_name_format name_format;
};

/*
 * A service provider, from a metadata file (metadata:) or inline
 * (entity_id: + acs:, optional certificate:, slo_url:). Inline values
 * given together with metadata: override nothing: it is one or the other
 * for entity_id, acs, certificate and slo_url (check.c refuses a mix).
 */
struct fb_conf_saml_sp {
	char *name;	    /* [a-z0-9_-]{1,64}: the URL /saml/idp/init/<name> */
	char *display_name; /* shown on the dashboard; default: name */
	char *metadata;	    /* SP metadata file (absolute path) or NULL */
	char *entity_id;    /* inline, or NULL with metadata */
	struct fb_conf_saml_acs *acs;
	size_t nacs;
	char *slo_url; /* inline SingleLogoutService, may be NULL */
	enum fb_conf_saml_slo_binding slo_binding;
	char *certificate;	      /* inline SP signing certificate (PEM file), may be NULL */
	char *encryption_certificate; /* inline SP encryption certificate (PEM file), may be NULL */
	char *audience;		      /* default: the entity id */
	enum fb_conf_saml_sign sign;
	enum fb_conf_saml_alg signature_algorithm;
	int accept_sha1; /* accept SHA-1 signatures on requests from this SP */
	enum fb_conf_nameid_format nameid_format;
	int nameid_format_set; /* 1 when given in the file: it pins the format */
	enum fb_conf_nameid_source nameid_source;
	int nameid_source_set; /* 1 when given in the file */
	char *nameid_mapping; /* a rule feeding the NameID instead of nameid_source; may be NULL */
	int64_t assertion_lifetime; /* seconds (5m) */
	int64_t session_lifetime;   /* SessionNotOnOrAfter in seconds; 0 = not sent */
	char **groups;		    /* empty = everyone may use it */
	size_t ngroups;
	int require_signed_requests;	 /* resolved when _set; else from metadata */
	int require_signed_requests_set; /* 1 when given in the file */
	int encrypt_assertion;
	enum fb_conf_saml_profile profile;
	char *relay_state; /* default RelayState of IdP-initiated sign-on; may be NULL */
	char *signing_key; /* the id of the key that signs for this SP; NULL = the active one */
	struct fb_conf_saml_attr *attributes;
	size_t nattributes;
};

/* Flags given on the command line win over the file (serve --listen ...). */
struct fb_conf_overrides {
	const char *listen;    /* NULL = keep; "ADDR:PORT", several separated by commas */
	const char *state_dir; /* NULL = keep; relative to the working directory */
	int workers;           /* -1 = keep */
};

/*
 * Every problem found while loading: one line each, already formatted as
 * "file:line:column: key.path: message" ("(command line): key.path: ..."
 * for overrides, "file: key.path: ..." when there is no position, e.g. a
 * derived default). Warnings do not fail the load; their message starts
 * with "warning: ". Lines are in file order, cross-key checks last. At most
 * 1000 lines are kept (the last then counts the others); the counts are
 * exact. Every accessor accepts NULL (0 / NULL).
 */
struct fb_conf_report;

/* Number of lines. */
size_t fb_conf_report_count(const struct fb_conf_report *rep);
/* Line i (borrowed, valid while rep lives); NULL when out of range. */
const char *fb_conf_report_line(const struct fb_conf_report *rep, size_t i);
/* 1 when line i is an error, 0 for a warning. */
int fb_conf_report_is_error(const struct fb_conf_report *rep, size_t i);
/* Number of errors and of warnings found. */
size_t fb_conf_report_errors(const struct fb_conf_report *rep);
size_t fb_conf_report_warnings(const struct fb_conf_report *rep);
void fb_conf_report_free(struct fb_conf_report *rep);
/*
 * Adds a problem found after loading (what other modules check of conf)
 * to rep: "file:line:column: path: [warning: ]message", at the place of
 * path's value, or of the nearest enclosing key that is in the file
 * ("saml.service_providers[0].nameid.source" falls back to
 * "saml.service_providers[0].nameid", then "saml.service_providers[0]").
 * With path NULL, message is the whole line (e.g. a mapping file's
 * "FILE:LINE:COLUMN: ..."). conf and message borrowed.
 */
void fb_conf_report_add(struct fb_conf_report *rep, const struct fb_conf *conf, const char *path,
    int is_error, const char *message);

/*
 * Reads and checks the YAML file at path (NULL: the built-in defaults),
 * then applies ov (borrowed, may be NULL), checked like file values.
 * Relative paths in the file (and file: secrets) are made absolute against
 * the file's directory. On success *out is new (free with fb_conf_free);
 * otherwise *out is NULL. *report (may be NULL to not collect) is always
 * set when non-NULL, new, freed by the caller with fb_conf_report_free,
 * and lists warnings and errors. Returns FB_ERR_CONFIG when any error was
 * found (err carries the first line), FB_ERR_IO when the file cannot be
 * read (also a report line).
 */
enum fb_status fb_conf_load(const char *path, const struct fb_conf_overrides *ov,
    struct fb_conf **out, struct fb_conf_report **report, struct fb_err *err);
/*
 * Same, from len bytes of text in memory (borrowed; NULL = empty); name
 * (NULL: "(string)") is used in messages, and relative paths are resolved
 * against the working directory.
 */
enum fb_status fb_conf_load_string(const char *text, size_t len, const char *name,
    const struct fb_conf_overrides *ov, struct fb_conf **out, struct fb_conf_report **report,
    struct fb_err *err);
/* Frees conf and wipes its secrets. NULL is a no-op. */
void fb_conf_free(struct fb_conf *conf);

/*
 * Resolves a secret reference: "env:NAME" (the variable's value) or
 * "file:PATH" (the file's content, one trailing newline removed; a
 * relative PATH is relative to the working directory; at most 64 KiB,
 * no NUL). The value is registered with fb_log_secret_add(). New in *out,
 * free with fb_secret_free. FB_ERR_CONFIG (err filled, never with the
 * value) when the reference is not of that form, the variable is unset or
 * empty, or the file unreadable or empty.
 */
enum fb_status fb_conf_secret_resolve(const char *ref, char **out, struct fb_err *err);

/*
 * 1 when s is an email address fedbroker accepts (an RFC 5322 addr-spec,
 * restricted): local@domain, at most 254 bytes; the local part (1..64
 * bytes) is a dot-atom of ASCII atext (no quoted strings); the domain is
 * dot-separated labels of [A-Za-z0-9-] (1..63 bytes, no leading or
 * trailing '-'). No spaces, CR, LF or control characters. NULL: 0.
 */
int fb_conf_addr_spec_check(const char *s);
/*
 * Splits a mailbox, "addr" or "Display Name <addr>" (the name may be
 * double-quoted; UTF-8 allowed; no CR, LF, control characters, '<', '>'
 * or '"' inside it), into *name (new, NULL when there is none) and *addr
 * (new, checked with fb_conf_addr_spec_check). Free both with free().
 * FB_ERR_INVALID with the reason otherwise (both NULL).
 */
enum fb_status fb_conf_mailbox_parse(const char *s, char **name, char **addr, struct fb_err *err);

/* Number of CPUs online (>= 1), used when workers is 0. */
int fb_conf_cpu_count(void);

/*
 * Whether the store is shared by replicas (store.driver postgres): then no
 * secret (signing key, cookie keys) is generated per replica, since each would
 * make its own; they come from the configuration, the same on every replica.
 */
int fb_conf_store_is_shared(const struct fb_conf *conf);

#endif
