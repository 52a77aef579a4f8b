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

struct fb_saml_reply;

/*
 * Hands this worker the SAML IdP its master built for the same
 * configuration before the fork (fb_saml_check_build; borrowed, for the
 * worker's life): fb_http_saml_routes_add then builds none. NULL: it does.
 */
struct fb_saml_idp;
void fb_http_saml_idp_use(struct fb_saml_idp *idp);
/*
 * Builds this worker's SAML IdP (fb_saml_idp_new over conf and kr, both
 * borrowed and outliving the router) unless fb_http_saml_idp_use gave one,
 * and registers /saml/idp/metadata,
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
 * Answers req with the auto-submitting form that carries r's message
 * (r->post_url, post_field, post_value, relay_state) in the site's layout:
 * its script runs by the page's CSP nonce; without JavaScript a button.
 */
void fb_http_saml_post_form(struct fb_http_req *req, const struct fb_saml_reply *r);

#endif
