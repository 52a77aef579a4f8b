/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/samlidp.h: the SAML IdP's endpoints (/saml/idp/...), part of the
 * http module; the protocol work is the saml module's (saml/saml.h).
 */
#ifndef FB_HTTP_SAMLIDP_H
#define FB_HTTP_SAMLIDP_H

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "http/http.h"

/*
 * Builds this worker's SAML IdP (fb_saml_idp_new over conf and kr, both
 * borrowed and outliving the router) and registers /saml/idp/metadata,
 * /saml/idp/cert.pem, /saml/idp/sso, /saml/idp/init/<sp> and
 * /saml/idp/slo on r. Call once per worker after fork. When conf
 * declares no service provider only the metadata and certificate routes
 * are added (and nothing is built when kr is NULL). Statuses of
 * fb_saml_idp_new (FB_ERR_CONFIG naming the SP and reason) and of
 * fb_http_router_add; err filled.
 */
enum fb_status fb_http_saml_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    const struct fb_keyring *kr, struct fb_err *err);

/*
 * Builds this worker's SAML service provider (fb_saml_broker_from_conf:
 * every upstream of type saml, its IdP metadata loaded) and registers
 * /saml/sp/metadata; nothing when no SAML upstream is configured or kr is
 * NULL. Called by fb_http_saml_routes_add. FB_ERR_CONFIG naming the
 * upstream and reason.
 */
enum fb_status fb_http_saml_sp_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    const struct fb_keyring *kr, struct fb_err *err);
/*
 * The broker's sign-out through the upstream of session sid: when
 * http/upstream.c recorded one of type saml with logout: true, answers req
 * with a 303 to the IdP carrying a signed LogoutRequest for the NameID and
 * SessionIndex signed in with, and returns 1; 0 (nothing sent) otherwise.
 * Call it after the session was revoked.
 */
int fb_http_saml_sp_logout(struct fb_http_req *req, const char *sid);

#endif
