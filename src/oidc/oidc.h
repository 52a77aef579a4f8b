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

#endif
