/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oidc: the OpenID Connect relying party that signs people in through an
 * upstream OpenID provider: ID token validation (jwt.c, through libcjose)
 * and the protocol steps (rp.c).
 */
#ifndef FB_OIDC_OIDC_H
#define FB_OIDC_OIDC_H

#include <stdint.h>

#include <jansson.h>

#include "core/core.h"

/* Claim and parameter names (OIDC Core, RFC 6749, RFC 7636, RFC 9207). */
#define FB_OIDC_C_ISS       "iss"
#define FB_OIDC_C_SUB       "sub"
#define FB_OIDC_C_AUD       "aud"
#define FB_OIDC_C_AZP       "azp"
#define FB_OIDC_C_EXP       "exp"
#define FB_OIDC_C_IAT       "iat"
#define FB_OIDC_C_NBF       "nbf"
#define FB_OIDC_C_NONCE     "nonce"
#define FB_OIDC_C_AT_HASH   "at_hash"
#define FB_OIDC_P_CLIENT_ID "client_id"
/* The confirmation of a certificate-bound token (RFC 8705 3.1), inside "cnf". */
#define FB_OIDC_C_X5T_S256 "x5t#S256"

/* Largest compact JWS accepted (bytes). */
#define FB_OIDC_JWT_MAX (64 * 1024)
/* Largest JWKS document accepted (bytes) and keys in it. */
#define FB_OIDC_JWKS_MAX      (256 * 1024)
#define FB_OIDC_JWKS_MAX_KEYS 64
/* The shortest time between two JWKS fetches caused by an unknown kid (ms). */
#define FB_OIDC_JWKS_REFETCH_MIN_MS (60 * 1000)
/* The largest clock skew accepted in the configuration (s). */
#define FB_OIDC_SKEW_MAX 300

/* A provider's public signing keys (a parsed JWKS). */
struct fb_oidc_jwks;

/*
 * Parses a JWKS document (RFC 7517 5): every RSA and EC key whose "use"
 * is absent or "sig" is kept; symmetric ("oct") keys are dropped (an ID
 * token from a JWKS is never checked with an HMAC). *out new
 * (fb_oidc_jwks_free). FB_ERR_INVALID: not JSON, no "keys" array, too
 * large, or a kept key cjose cannot import.
 */
enum fb_status fb_oidc_jwks_parse(const char *json, size_t len, struct fb_oidc_jwks **out,
    struct fb_err *err);
void fb_oidc_jwks_free(struct fb_oidc_jwks *jwks);
/* The number of usable keys. */
size_t fb_oidc_jwks_count(const struct fb_oidc_jwks *jwks);
/*
 * The JWKS (RFC 7517) of kr's public keys, active and published alike
 * (rollover: a provider can trust a key before it signs), each with its kid,
 * "use": "sig" and the "alg" the private_key_jwt assertion names (RS256 or
 * ES256): what /upstream/jwks.json serves. Compact JSON, new in *out.
 */
struct fb_keyring;
enum fb_status fb_oidc_jwks_publish(const struct fb_keyring *kr, char **out, struct fb_err *err);

struct fb_key;
/*
 * The JWS algorithm key signs with: "RS256" (RSA), "ES256" (EC P-256), or
 * NULL (another curve). Static.
 */
const char *fb_oidc_key_alg(const struct fb_key *key);
/*
 * Signs claims as a compact JWS (RFC 7515) with key, alg as
 * fb_oidc_key_alg says, kid the key's id and typ (JWT, at+jwt). The one JWT
 * encoder: client assertions and the provider's tokens. New in *out.
 * FB_ERR_CONFIG: a key that cannot sign JWTs; FB_ERR_INTERNAL: signing failed.
 */
enum fb_status fb_oidc_jwt_sign(const struct fb_key *key, const char *typ, const json_t *claims,
    char **out, struct fb_err *err);

/* What an ID token must satisfy (OIDC Core 3.1.3.7). Members are borrowed. */
struct fb_oidc_idtoken_check {
	const char *issuer;            /* exact iss */
	const char *client_id;         /* in aud; azp when several audiences */
	const char *const *algorithms; /* allow-list, NULL-terminated; NULL: RS256 only */
	const char *nonce;             /* the nonce sent; required */
	const char *access_token;      /* checked against at_hash when both are present */
	int64_t now;                   /* unix seconds */
	int64_t skew;                  /* seconds of clock difference tolerated */
};

/* Why fb_oidc_idtoken_verify failed, beyond the status. */
enum fb_oidc_idtoken_why {
	FB_OIDC_IDT_OK = 0,
	FB_OIDC_IDT_UNKNOWN_KID, /* no key of the JWKS can check it: refetch the JWKS once */
	FB_OIDC_IDT_OTHER,
};

/*
 * Checks an ID token in compact JWS serialization: alg in the allow-list
 * (never "none", never HS*: the keys come from the provider's public JWKS),
 * the signature with the key named by kid (or, without kid, each key of a
 * matching type), then iss, aud (and azp), exp, iat and nbf within skew,
 * nonce, sub present, and at_hash when present (with access_token).
 * *claims new (json_decref) on FB_OK only. *why (may be NULL) says whether
 * an unknown kid was the reason.
 * FB_ERR_INVALID: not a JWS, or a claim of the wrong type;
 * FB_ERR_SIGNATURE: alg refused, no key, or a bad signature;
 * FB_ERR_PROTOCOL: wrong iss, aud, azp, nonce or at_hash, sub missing;
 * FB_ERR_EXPIRED: exp passed, or iat/nbf in the future, beyond skew.
 */
enum fb_status fb_oidc_idtoken_verify(const char *jwt, const struct fb_oidc_jwks *jwks,
    const struct fb_oidc_idtoken_check *chk, json_t **claims, enum fb_oidc_idtoken_why *why,
    struct fb_err *err);

/*
 * The signature part of fb_oidc_idtoken_verify, for any JWT: compact form,
 * alg in algorithms (NULL: RS256 only), typ (NULL: absent or "JWT"; else
 * exactly typ, case-insensitive), no crit, the signature by a key of jwks.
 * *claims new (the payload object) on FB_OK; no claim is checked.
 */
enum fb_status fb_oidc_jwt_verify(const char *jwt, const struct fb_oidc_jwks *jwks,
    const char *const *algorithms, const char *typ, json_t **claims,
    enum fb_oidc_idtoken_why *why, struct fb_err *err);

/*
 * The JWKS cache of one provider, with the refetch rule: a JWKS is
 * refetched on an unknown kid at most once per FB_OIDC_JWKS_REFETCH_MIN_MS
 * (so a stream of tokens with made-up kids cannot make us hammer the
 * provider); the token that caused it is checked once more, then refused.
 */
struct fb_oidc_jwks_cache {
	struct fb_oidc_jwks *jwks; /* owned; NULL before the first fetch */
	int64_t fetched_ms;        /* when jwks was fetched */
	int64_t refetch_ms;        /* the last refetch an unknown kid caused */
	int64_t min_refetch_ms;    /* 0: FB_OIDC_JWKS_REFETCH_MIN_MS */
};
/* 1 when an unknown kid may cause a refetch now (and records it); 0: refuse. */
int fb_oidc_jwks_cache_refetch_take(struct fb_oidc_jwks_cache *c, int64_t now_ms);
/* Replaces the cached keys with jwks (taken). */
void fb_oidc_jwks_cache_set(struct fb_oidc_jwks_cache *c, struct fb_oidc_jwks *jwks,
    int64_t now_ms);
void fb_oidc_jwks_cache_cleanup(struct fb_oidc_jwks_cache *c);

/* ---- the relying party's protocol steps (rp.c) ----------------------------- */

struct fb_conf_upstream_oidc;
struct fb_net_http_request;
struct fb_net_http_response;

/* The path of the discovery document below the issuer (OIDC Discovery 4). */
#define FB_OIDC_DISCOVERY_PATH "/.well-known/openid-configuration"
/* Largest discovery document and token response accepted (bytes). */
#define FB_OIDC_DOC_MAX (256 * 1024)
/* Lifetime of a private_key_jwt client assertion (s). */
#define FB_OIDC_ASSERTION_LIFETIME 60

/* A provider's checked discovery document. Members new (fb_oidc_provider_cleanup). */
struct fb_oidc_provider {
	char *issuer;
	char *authorization_endpoint;
	char *token_endpoint;
	char *jwks_uri;
	char *userinfo_endpoint;    /* or NULL */
	char *end_session_endpoint; /* or NULL */
	int iss_parameter;          /* authorization_response_iss_parameter_supported (RFC 9207) */
};

/* issuer + FB_OIDC_DISCOVERY_PATH (a trailing slash of issuer not doubled). New. */
char *fb_oidc_discovery_url(const char *issuer);
/*
 * Parses a discovery document of issuer: its "issuer" must be issuer exactly
 * (OIDC Discovery 4.3), the endpoints https:// URLs, PKCE S256 supported
 * when code_challenge_methods_supported is given, "code" among
 * response_types_supported. FB_ERR_INVALID (not JSON, a member of the wrong
 * type) or FB_ERR_PROTOCOL (the rules above); *out filled on FB_OK.
 */
enum fb_status fb_oidc_provider_parse(const char *json, size_t len, const char *issuer,
    struct fb_oidc_provider *out, struct fb_err *err);
void fb_oidc_provider_cleanup(struct fb_oidc_provider *p);

/* One authorization request's secrets. Members new (fb_oidc_authz_cleanup). */
struct fb_oidc_authz {
	char *state;    /* 32 random bytes, base64url */
	char *nonce;    /* 32 random bytes, base64url */
	char *verifier; /* PKCE code_verifier (RFC 7636 4.1): 32 random bytes, base64url */
};
/* Fresh random state, nonce and verifier. */
void fb_oidc_authz_init(struct fb_oidc_authz *a);
void fb_oidc_authz_cleanup(struct fb_oidc_authz *a);
/* The PKCE S256 challenge of verifier: base64url(SHA-256(verifier)). New. */
char *fb_oidc_pkce_challenge(const char *verifier);
/*
 * The authorization request URL (OIDC Core 3.1.2.1): response_type=code,
 * client_id, redirect_uri, scope, state, nonce, code_challenge (S256),
 * login_hint when not NULL. New.
 */
char *fb_oidc_authz_url(const struct fb_oidc_provider *p, const struct fb_conf_upstream_oidc *o,
    const char *redirect_uri, const struct fb_oidc_authz *a, const char *login_hint);

/* The parameters of the redirect back to the callback (borrowed; absent ones NULL). */
struct fb_oidc_callback {
	const char *state;
	const char *code;
	const char *iss;
	const char *error;
	const char *error_description;
};
/*
 * Checks the callback against the state sent (constant-time) and, when the
 * provider advertises RFC 9207 or iss is present anyway, iss against the
 * issuer. FB_ERR_DENIED: the provider answered error= (msg has it);
 * FB_ERR_PROTOCOL: state or iss wrong or missing, no code.
 */
enum fb_status fb_oidc_callback_check(const struct fb_oidc_provider *p, const char *state_sent,
    const struct fb_oidc_callback *cb, struct fb_err *err);

/* A token request, ready for net/. Members new (fb_oidc_token_request_cleanup). */
struct fb_oidc_token_request {
	char *url;
	char *body;
	char *username; /* client_secret_basic: client_id, form-encoded (RFC 6749 2.3.1) */
	char *password; /* SECRET */
};
/*
 * Builds the token request of the code grant (RFC 6749 4.1.3 with the PKCE
 * code_verifier) authenticating the client as o->client_auth says:
 * client_secret_basic, client_secret_post, or private_key_jwt (RFC 7523 2.2:
 * a JWT signed with key, fedbroker's active key, kid its id, iss = sub =
 * client_id, aud = the token endpoint, a random jti, valid
 * FB_OIDC_ASSERTION_LIFETIME s from now). FB_ERR_CONFIG: no secret or no
 * key for the method; FB_ERR_INTERNAL: signing failed.
 */
enum fb_status fb_oidc_token_request_build(const struct fb_oidc_provider *p,
    const struct fb_conf_upstream_oidc *o, const char *code, const char *redirect_uri,
    const char *verifier, const struct fb_key *key, int64_t now, struct fb_oidc_token_request *out,
    struct fb_err *err);
void fb_oidc_token_request_cleanup(struct fb_oidc_token_request *r);

/* The tokens of a successful token response. Members new (fb_oidc_tokens_cleanup). */
struct fb_oidc_tokens {
	char *id_token;
	char *access_token; /* or NULL */
	int64_t expires_in; /* 0 when not said */
};
/*
 * Reads a token endpoint response: 200 with JSON holding id_token and
 * token_type Bearer (case-insensitive) when there is an access token.
 * FB_ERR_UPSTREAM: another status (msg has the OAuth error code, never
 * the body); FB_ERR_INVALID: not JSON or no id_token.
 */
enum fb_status fb_oidc_token_response_parse(const struct fb_net_http_response *r,
    struct fb_oidc_tokens *out, struct fb_err *err);
void fb_oidc_tokens_cleanup(struct fb_oidc_tokens *t);
/*
 * Reads a userinfo response (OIDC Core 5.3.2) and merges its claims into
 * claims (ID token's win for iss, aud, exp...; others added): the response's
 * sub must be the ID token's (5.3.4). FB_ERR_UPSTREAM: not 200;
 * FB_ERR_INVALID: not a JSON object (a signed userinfo is not supported);
 * FB_ERR_PROTOCOL: sub differs.
 */
enum fb_status fb_oidc_userinfo_merge(const struct fb_net_http_response *r, json_t *claims,
    struct fb_err *err);
/* The end_session_endpoint URL with id_token_hint, post_logout_redirect_uri (may be NULL),
 * client_id. New, or NULL without an endpoint. */
char *fb_oidc_logout_url(const struct fb_oidc_provider *p, const struct fb_conf_upstream_oidc *o,
    const char *id_token, const char *post_logout_redirect_uri);

/* ---- the OpenID provider (op.c) ------------------------------------------------ */

#define FB_OIDC_OP_PATH_AUTHORIZE  "/oauth2/authorize"
#define FB_OIDC_OP_PATH_TOKEN      "/oauth2/token"
#define FB_OIDC_OP_PATH_JWKS       "/oauth2/jwks"
#define FB_OIDC_OP_PATH_USERINFO   "/oauth2/userinfo"
#define FB_OIDC_OP_PATH_INTROSPECT "/oauth2/introspect"
#define FB_OIDC_OP_PATH_REVOKE     "/oauth2/revoke"
#define FB_OIDC_OP_PATH_LOGOUT     "/oauth2/logout"

struct fb_conf;
struct fb_conf_oidc_client;
struct fb_crypto_cert;
struct fb_keyring;
struct fb_map_set;
struct fb_store;
struct fb_store_user;

/* The provider of one worker: built once, immutable (conf, kr and maps borrowed). */
struct fb_oidc_op;

/*
 * Builds the provider: the issuer (server.public_url), the discovery
 * document, the JWKS (every key of kr: the active and the published), a
 * signing key per client (the active key when its type fits the client's
 * signing_alg, else a published one that does) and each client's mapping
 * rules. FB_ERR_CONFIG naming the client: no key of its algorithm, or a
 * claim's rule missing from maps.
 */
enum fb_status fb_oidc_op_new(const struct fb_conf *conf, const struct fb_keyring *kr,
    const struct fb_map_set *maps, struct fb_oidc_op **out, struct fb_err *err);
void fb_oidc_op_free(struct fb_oidc_op *op);
/*
 * The key of kr that signs alg's ("ES256", "RS256") tokens: the active one
 * when its type fits, else the first published one that does; NULL: none.
 */
const struct fb_key *fb_oidc_keyring_key(const struct fb_keyring *kr, const char *alg);
/*
 * Lets the provider look clients up in store (borrowed, NULL: none) after
 * oidc.clients (the configuration wins an id): fedbroker oidc client add.
 * A worker reads a stored client again at most every 5 s, so a removal or
 * change takes effect within that time on every replica.
 */
void fb_oidc_op_store_set(struct fb_oidc_op *op, struct fb_store *store);
/* Characters of fb_oidc_secret_hash's output, with the NUL. */
#define FB_OIDC_SECRET_HASH_LEN 65
/* The lowercase hex SHA-256 of a client secret: what a stored client keeps of it. */
void fb_oidc_secret_hash(const char *secret, char out[FB_OIDC_SECRET_HASH_LEN]);
/*
 * What the client_credentials grant returns to client_id for scope (NULL:
 * every scope of the client), without authenticating it (fedbroker token
 * client): {"access_token", "token_type", "expires_in", "scope"}, new in
 * *out. FB_ERR_NOTFOUND: no such client; FB_ERR_DENIED: the grant or the
 * scope is not the client's (err says which, as the token endpoint would).
 */
enum fb_status fb_oidc_op_client_token(const struct fb_oidc_op *op, const char *client_id,
    const char *scope, json_t **out, struct fb_err *err);
/* The discovery document (OIDC Discovery 3, RFC 8414), JSON. Borrowed. */
const char *fb_oidc_op_discovery(const struct fb_oidc_op *op);
/* The JWKS (RFC 7517) of every published key, JSON. Borrowed. */
const char *fb_oidc_op_jwks(const struct fb_oidc_op *op);
const char *fb_oidc_op_issuer(const struct fb_oidc_op *op);
/* 1 when origin (an Origin header) is one of a client's cors_origins, exactly. */
int fb_oidc_op_cors_allowed(const struct fb_oidc_op *op, const char *origin);
/* The id of the key that signs client_id's tokens (borrowed), or NULL for an unknown client. */
const char *fb_oidc_op_client_key(const struct fb_oidc_op *op, const char *client_id);

/* The parameters of a request to the provider (borrowed; absent ones NULL). */
struct fb_oidc_params {
	const char *response_type, *client_id, *redirect_uri, *scope, *state, *nonce;
	const char *code_challenge, *code_challenge_method, *prompt, *max_age, *login_hint;
	const char *auth_after; /* ours: a sign-in not older than this (after prompt=login) */
	const char *grant_type, *code, *code_verifier, *refresh_token, *client_secret;
	const char *token, *token_type_hint;
	const char *id_token_hint, *post_logout_redirect_uri;
	const char *client_assertion_type, *client_assertion;
	const char *acr_values;
};
/* The acr of a sign-in with a second factor, and of one without (ID token "acr"). */
#define FB_OIDC_ACR_MFA "urn:fedbroker:acr:mfa"
#define FB_OIDC_ACR_PWD "urn:fedbroker:acr:pwd"
/* The names of struct fb_oidc_params' members, in order, NULL-terminated. Static. */
extern const char *const fb_oidc_param_names[];
/* The member called name of p (a pointer into it), or NULL for an unknown name. */
const char **fb_oidc_param_slot(struct fb_oidc_params *p, const char *name);

/* An OAuth error response (RFC 6749 4.1.2.1, 5.2): error code, description, HTTP status. */
struct fb_oidc_op_error {
	const char *code; /* static: invalid_request, invalid_client, ... */
	char desc[256];	  /* for the client and the audit line; never a secret */
	int status;	  /* 400, 401 (invalid_client), 500, 503 */
};

/* A checked authorization request (members borrowed from the params, or new: scope). */
struct fb_oidc_authz_req {
	const struct fb_conf_oidc_client *client;
	const char *redirect_uri;
	const char *state, *nonce, *challenge, *login_hint;
	char *scope;	 /* granted: asked for and allowed, space-separated (new) */
	int prompt_none; /* prompt=none: never show a page */
	int prompt_login;
	int prompt_consent; /* prompt=consent: the consent page even when remembered */
	int want_mfa;	    /* acr_values asks for FB_OIDC_ACR_MFA */
	int64_t max_age;    /* -1: not given */
	int64_t auth_after; /* 0: not given */
};
void fb_oidc_authz_req_cleanup(struct fb_oidc_authz_req *a);
/*
 * Checks an authorization request (OIDC Core 3.1.2.1, RFC 7636, RFC 9207).
 * FB_ERR_NOTFOUND: the client is unknown or the redirect URI is not one
 * of its own: the error is shown on a page, never sent to the URI (e
 * filled). FB_ERR_PROTOCOL: the rest is wrong: e goes to out->redirect_uri
 * (out->state set). FB_OK: out filled.
 */
enum fb_status fb_oidc_authz_check(const struct fb_oidc_op *op, const struct fb_oidc_params *p,
    struct fb_oidc_authz_req *out, struct fb_oidc_op_error *e);
/*
 * 1 when uri is one of cl's redirect URIs: the same string, or for an
 * http:// loopback IP literal (127.0.0.1, [::1]) the same but the port
 * (RFC 8252 7.3).
 */
int fb_oidc_redirect_uri_match(const struct fb_conf_oidc_client *cl, const char *uri);
/*
 * The authorization response URL: redirect_uri with code or error (and
 * error_description), state when given, and iss (RFC 9207). New.
 */
char *fb_oidc_authz_response(const struct fb_oidc_op *op, const char *redirect_uri,
    const char *code, const struct fb_oidc_op_error *e, const char *state);
/*
 * Whether u may sign in to a->client (its groups; upstream groups count).
 * FB_ERR_DENIED (e: access_denied) otherwise.
 */
enum fb_status fb_oidc_op_user_allowed(const struct fb_oidc_op *op, struct fb_store *store,
    const struct fb_oidc_authz_req *a, const struct fb_store_user *u,
    struct fb_oidc_op_error *e);
/*
 * Issues an authorization code for u (signed in at auth_time, session sid,
 * mfa: with a second factor, which the ID token's acr and amr say)
 * and the request a: stored by its hash, used once, valid
 * oidc.code_lifetime. *code new. Statuses of the store (e: server_error or
 * temporarily_unavailable).
 */
enum fb_status fb_oidc_op_code_issue(const struct fb_oidc_op *op, struct fb_store *store,
    const struct fb_oidc_authz_req *a, const struct fb_store_user *u, int64_t auth_time,
    const char *sid, int mfa, char **code, struct fb_oidc_op_error *e);

/*
 * Consent (third-party clients, oidc.clients[].first_party: false): kept in
 * the store's key/value table (FB_OIDC_CONSENT_NS), per user id and client
 * id, the scopes allowed, until consent_lifetime after the last Allow.
 */
#define FB_OIDC_CONSENT_NS "oidc_consent"
/*
 * Whether the request a of user_id must show the consent page: 1 for
 * prompt=consent, or a third-party client without a remembered consent
 * covering every scope of a->scope; 0 otherwise (*needed). Statuses of the
 * store (e: server_error or temporarily_unavailable).
 */
enum fb_status fb_oidc_op_consent_check(struct fb_store *store, const struct fb_oidc_authz_req *a,
    const char *user_id, int *needed, struct fb_oidc_op_error *e);
/*
 * Remembers that user_id allowed a->client the scopes of a->scope (with
 * those it allowed before) for the client's consent_lifetime. Statuses of
 * the store (e filled as above).
 */
enum fb_status fb_oidc_op_consent_grant(struct fb_store *store, const struct fb_oidc_authz_req *a,
    const char *user_id, struct fb_oidc_op_error *e);
/*
 * Forgets the consent user_id gave client_id (FB_OK whether or not there
 * was one; *found, may be NULL, says). Statuses of the store.
 */
enum fb_status fb_oidc_op_consent_revoke(struct fb_store *store, const char *user_id,
    const char *client_id, int *found, struct fb_err *err);

/* A reply of the token, userinfo, introspection or revocation endpoint. */
struct fb_oidc_op_reply {
	int status;
	char *body;		/* JSON (new) */
	const char *www_authenticate; /* static; 401 only */
	char audit_event[48];	/* the audit line's event, "" when none */
	char audit[320];	/* its text (never a secret) */
};
void fb_oidc_op_reply_cleanup(struct fb_oidc_op_reply *r);
/*
 * The token endpoint (RFC 6749 3.2, 4.1.3, 4.4, 6): authenticates the
 * client (authorization: the Authorization header or NULL; the form's
 * client_id and client_secret or client assertion; cert: the TLS client
 * certificate, NULL when none, for tls_client_auth and
 * self_signed_tls_client_auth, RFC 8705 2), then the grant. A client that
 * authenticated with its certificate gets access tokens bound to it (cnf
 * x5t#S256, RFC 8705 3.1). A code used twice, or by another client,
 * revokes what it issued; a refresh token is rotated and, presented twice,
 * revokes its family. Every failure: the RFC's error and nothing issued.
 */
void fb_oidc_op_token(const struct fb_oidc_op *op, struct fb_store *store,
    const char *authorization, const struct fb_oidc_params *p, const struct fb_crypto_cert *cert,
    struct fb_oidc_op_reply *out);
/*
 * The userinfo endpoint (OIDC Core 5.3): authorization holds the Bearer
 * access token; a certificate-bound one needs cert to be its certificate.
 */
void fb_oidc_op_userinfo(const struct fb_oidc_op *op, struct fb_store *store,
    const char *authorization, const struct fb_crypto_cert *cert, struct fb_oidc_op_reply *out);
/*
 * RFC 8705 3 for an access token's verified claims: FB_OK when it carries
 * no cnf, or cnf x5t#S256 equal to x5t (the presented certificate's
 * thumbprint, or NULL when none); else FB_ERR_DENIED with why.
 */
enum fb_status fb_oidc_op_access_bound(const json_t *claims, const char *x5t, struct fb_err *err);
/*
 * Checks an access token of this provider as a resource server would:
 * signature, typ at+jwt, iss, exp, not revoked, and, when it carries
 * cnf x5t#S256 (RFC 8705 3), that x5t (the presented certificate's
 * thumbprint, fb_crypto_cert_thumbprint, or NULL when none) is that one.
 * FB_OK with *claims new (json_decref). FB_ERR_DENIED: revoked, or bound to
 * another certificate (or to one and none presented); FB_ERR_EXPIRED;
 * FB_ERR_SIGNATURE / FB_ERR_INVALID / FB_ERR_PROTOCOL: not one of ours;
 * FB_ERR_IO: the store failed. For forward auth's Bearer check too.
 */
enum fb_status fb_oidc_op_token_verify(const struct fb_oidc_op *op, struct fb_store *store,
    const char *token, const char *x5t, json_t **claims, struct fb_err *err);
/*
 * Checks an RP-initiated logout request (OpenID Connect RP-Initiated Logout
 * 1.0): id_token_hint (may be NULL) must be an ID token this provider
 * signed (expired ones too) for client_id when given; a
 * post_logout_redirect_uri needs a client (from the hint or client_id) that
 * registered it exactly. FB_OK: *client (may be NULL without a hint or
 * client_id) set. FB_ERR_SIGNATURE, FB_ERR_PROTOCOL, FB_ERR_NOTFOUND: e
 * filled (shown on a page, never sent to the URI).
 */
enum fb_status fb_oidc_op_logout_check(const struct fb_oidc_op *op,
    const struct fb_oidc_params *p, const struct fb_conf_oidc_client **client,
    struct fb_oidc_op_error *e);

/* The client_assertion_type of private_key_jwt (RFC 7523 2.2). */
#define FB_OIDC_ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* The longest lifetime (exp - now) of a client assertion accepted (s). */
#define FB_OIDC_ASSERTION_MAX_LIFETIME 600
/*
 * Checks a private_key_jwt client assertion (RFC 7523 3) at now: a compact
 * JWS whose sub (= iss) names a client with keys (jwks:), client_id (may be
 * NULL) the same, signed by one of its keys (RS256, ES256, PS256), aud the
 * token endpoint or the issuer, exp in the future by at most
 * FB_OIDC_ASSERTION_MAX_LIFETIME, a jti. FB_OK: *client, *jti (new) and
 * *exp set; the caller records the jti (used once). Otherwise e filled
 * (invalid_client, 401).
 */
enum fb_status fb_oidc_op_assertion_check(const struct fb_oidc_op *op, const char *assertion,
    const char *client_id, int64_t now, const struct fb_conf_oidc_client **client, char **jti,
    int64_t *exp, struct fb_oidc_op_error *e);

/*
 * What u would get at client_id, and why, without signing or storing
 * anything (fedbroker explain --client): {"client", "user", "ok", "why",
 * "scope" (every scope the client may have), "signing_alg", "signing_key",
 * "id_token" (claims; code-flow clients), "access_token" (claims)}. *out
 * new. FB_ERR_NOTFOUND: no such client.
 */
enum fb_status fb_oidc_op_explain(const struct fb_oidc_op *op, struct fb_store *store,
    const char *client_id, const struct fb_store_user *u, json_t **out, struct fb_err *err);

/* The token of an "Authorization: Bearer TOKEN" header (RFC 6750 2.1; borrowed), or NULL. */
const char *fb_oidc_bearer(const char *authorization);
/*
 * Checks an access token this provider issued, for a resource server of
 * fedbroker's own (forward auth) at now: the signature by a key of the
 * keyring (no HTTP), typ at+jwt, iss, a jti, exp and nbf within skew
 * seconds. Neither aud nor revocation (fb_oidc_op_access_revoked) is
 * checked. *claims new on FB_OK. FB_ERR_INVALID / FB_ERR_SIGNATURE: not
 * a JWS of ours; FB_ERR_PROTOCOL: another issuer, no jti or exp;
 * FB_ERR_EXPIRED.
 */
enum fb_status fb_oidc_op_access_verify(const struct fb_oidc_op *op, const char *token,
    int64_t now, int64_t skew, json_t **claims, struct fb_err *err);
/* *revoked: 1 when the jti of claims, or its family, was revoked in store. */
enum fb_status fb_oidc_op_access_revoked(struct fb_store *store, const json_t *claims,
    int *revoked, struct fb_err *err);
/*
 * Mints an access token (RFC 9068, typ at+jwt) that forward auth sends an
 * app's upstream: iss, sub, aud and client_id aud, iat, nbf, exp now +
 * lifetime, a random jti; signed by the keyring's EC P-256 key (else RSA).
 * *out new. FB_ERR_CONFIG: no such key.
 */
enum fb_status fb_oidc_op_app_token(const struct fb_oidc_op *op, const char *aud,
    const char *sub, int64_t lifetime, int64_t now, char **out, struct fb_err *err);

/* Token introspection (RFC 7662) for confidential and service clients. */
void fb_oidc_op_introspect(const struct fb_oidc_op *op, struct fb_store *store,
    const char *authorization, const struct fb_oidc_params *p, const struct fb_crypto_cert *cert,
    struct fb_oidc_op_reply *out);
/* Token revocation (RFC 7009) for confidential and service clients. */
void fb_oidc_op_revoke(const struct fb_oidc_op *op, struct fb_store *store,
    const char *authorization, const struct fb_oidc_params *p, const struct fb_crypto_cert *cert,
    struct fb_oidc_op_reply *out);

#endif
