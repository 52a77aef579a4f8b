/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/oauth2.h: the OpenID provider's endpoints (/.well-known/openid-configuration,
 * /oauth2/...), part of the http module; the protocol work is the oidc
 * module's (oidc/oidc.h).
 */
#ifndef FB_HTTP_OAUTH2_H
#define FB_HTTP_OAUTH2_H

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "oidc/oidc.h"
#include "http/http.h"

/*
 * Builds this worker's OpenID provider (fb_oidc_op_new over conf, kr and
 * the worker's mapping rules) and registers the discovery document,
 * /oauth2/jwks, /oauth2/authorize, /oauth2/token, /oauth2/userinfo,
 * /oauth2/introspect and /oauth2/revoke on r; nothing when conf declares no
 * client or kr is NULL. Call once per worker after fork. Statuses of
 * fb_oidc_op_new (FB_ERR_CONFIG naming the client) and fb_http_router_add.
 */
enum fb_status fb_http_oauth2_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    const struct fb_keyring *kr, struct fb_err *err);

/*
 * This worker's OpenID provider for forward auth (Bearer tokens, access
 * tokens for apps): the one fb_http_oauth2_routes_add built, else built on
 * first use over env's configuration and keyring. NULL without a keyring,
 * or when it cannot be built (logged once).
 */
const struct fb_oidc_op *fb_http_oauth2_op(const struct fb_http_env *env);

/* Most bytes of a token, introspection or revocation request body. */
#define FB_HTTP_OAUTH2_BODY_MAX (16 * 1024)

/*
 * Reads a token, introspection or revocation request body
 * (application/x-www-form-urlencoded, at most FB_HTTP_OAUTH2_BODY_MAX
 * bytes) into *p: strings in a, unknown parameters ignored (RFC 6749 3.1).
 * FB_ERR_INVALID / FB_ERR_LIMIT: malformed, too large, or a parameter given
 * twice (RFC 6749 3.1, 3.2); err names it, never a value.
 */
enum fb_status fb_http_oauth2_params(struct fb_arena *a, const char *body, size_t len,
    struct fb_oidc_params *p, struct fb_err *err);

#endif
