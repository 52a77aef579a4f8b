/* SPDX-License-Identifier: Apache-2.0 */
/*
 * saml: the SAML 2.0 identity provider fedbroker is to service providers
 * such as the AWS console and AWS IAM Identity Center: IdP metadata, SP
 * metadata import, IdP- and SP-initiated single sign-on, single logout,
 * and the AWS rules checked before anything is sent. Only this module
 * includes lasso, xmlsec and libxml2; everything here speaks in plain C
 * strings, JSON and fedbroker structs.
 */
#ifndef FB_SAML_SAML_H
#define FB_SAML_SAML_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"

/* ---- names -------------------------------------------------------------------- */

/* The HTTP paths the IdP answers (http/saml.c registers them). */
#define FB_SAML_PATH_METADATA "/saml/idp/metadata"
#define FB_SAML_PATH_CERT     "/saml/idp/cert.pem"
#define FB_SAML_PATH_SSO      "/saml/idp/sso"
#define FB_SAML_PATH_INIT     "/saml/idp/init/" /* + the SP's configured name */
#define FB_SAML_PATH_SLO      "/saml/idp/slo"

/* SAML2 Bindings 3.4 and 3.5: the protocol binding URIs. */
#define FB_SAML_BINDING_REDIRECT_URI "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
#define FB_SAML_BINDING_POST_URI     "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

/* SAML2 Core 8.3: NameID formats. */
#define FB_SAML_NAMEID_PERSISTENT  "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
#define FB_SAML_NAMEID_TRANSIENT   "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
#define FB_SAML_NAMEID_EMAIL       "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
#define FB_SAML_NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

/* SAML2 Core 2.7.3.1: attribute NameFormat URIs. */
#define FB_SAML_ATTRNAME_URI         "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#define FB_SAML_ATTRNAME_BASIC       "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
#define FB_SAML_ATTRNAME_UNSPECIFIED "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"

/* AWS IAM (id_roles_providers_create_saml_assertions): attribute names, case-sensitive. */
#define FB_SAML_AWS_ATTR_PREFIX          "https://aws.amazon.com/SAML/Attributes/"
#define FB_SAML_AWS_ATTR_ROLE            FB_SAML_AWS_ATTR_PREFIX "Role"
#define FB_SAML_AWS_ATTR_ROLE_SESSION    FB_SAML_AWS_ATTR_PREFIX "RoleSessionName"
#define FB_SAML_AWS_ATTR_DURATION        FB_SAML_AWS_ATTR_PREFIX "SessionDuration"
#define FB_SAML_AWS_ATTR_SOURCE_IDENTITY FB_SAML_AWS_ATTR_PREFIX "SourceIdentity"
#define FB_SAML_AWS_ATTR_PRINCIPAL_TAG   FB_SAML_AWS_ATTR_PREFIX "PrincipalTag:"
#define FB_SAML_AWS_ATTR_TRANSITIVE      FB_SAML_AWS_ATTR_PREFIX "TransitiveTagKeys"
/* The classic AWS sign-in SP. */
#define FB_SAML_AWS_ENTITY_ID  "urn:amazon:webservices"
#define FB_SAML_AWS_SIGNIN_ACS "https://signin.aws.amazon.com/saml"
/* IAM Identity Center's limits on the IdP metadata and certificate it accepts (characters). */
#define FB_SAML_AWS_IDC_METADATA_MAX 75000
#define FB_SAML_AWS_IDC_CERT_MAX     2500

/*
 * Largest SAMLRequest/SAMLResponse parameter accepted (base64 characters)
 * and largest message after base64 and raw-inflate decoding (bytes).
 * SECURITY: both are checked before the bytes are decoded, parsed or
 * inflated further (deflate bombs).
 */
#define FB_SAML_MESSAGE_MAX  (64 * 1024)
#define FB_SAML_INFLATED_MAX (256 * 1024)
/*
 * Longest RelayState passed through, in bytes. SAML2 Bindings 3.4.3 says
 * an SP SHOULD keep it to 80 bytes, but SPs send more (the AWS console's is
 * a console URL, often well past 80): 1024 leaves room for deep links.
 */
#define FB_SAML_RELAY_STATE_MAX 1024
/*
 * The one RelayState rule, for SP- and IdP-initiated sign-on and logout
 * alike: at most FB_SAML_RELAY_STATE_MAX bytes (FB_ERR_LIMIT), UTF-8, no
 * control character (C0, DEL, C1) (FB_ERR_INVALID); err says which.
 * NULL is fine (none).
 */
enum fb_status fb_saml_relay_state_check(const char *rs, struct fb_err *err);

/* ---- the identity provider of one worker ----------------------------------------- */

struct fb_saml_idp; /* per worker: the LassoServer with every SP, keys, compiled mappings */
struct fb_saml_sp;  /* one service provider, borrowed from its idp */

/*
 * Builds the IdP of conf (borrowed; must outlive the idp): templated IdP
 * metadata listing every key of kr (borrowed, must outlive the idp; the
 * active key signs unless an SP names another with signing_key), one
 * lasso service provider per conf->saml_sps entry (from its metadata file
 * or from metadata templated out of its inline keys), the preloaded
 * signing keys, and the mappings: maps (borrowed, outliving the IdP: the
 * worker's rules, compiled once and shared with the upstream sign-in), or
 * when NULL those of conf->mappings_dir compiled here.
 * Call it once per worker process after fork (lasso state is per
 * process); nothing is read from disk afterwards. lasso_init() is called
 * on first use. New in *out (fb_saml_idp_free). FB_ERR_CONFIG (err names
 * the SP, file and reason) when a metadata file is unreadable or not SP
 * metadata, a certificate or key cannot be loaded, a mapping named by an
 * SP is missing or fails to compile.
 */
struct fb_map_set;
enum fb_status fb_saml_idp_new(const struct fb_conf *conf, const struct fb_keyring *kr,
    const struct fb_map_set *maps, struct fb_saml_idp **out, struct fb_err *err);
/* NULL is a no-op. */
void fb_saml_idp_free(struct fb_saml_idp *idp);
/* The IdP's entity id (conf saml.idp.entity_id or <public_url>/saml/idp/metadata). Borrowed. */
const char *fb_saml_idp_entity_id(const struct fb_saml_idp *idp);
/* The active signing certificate as PEM text. Borrowed, valid while idp lives. */
const char *fb_saml_idp_cert_pem(const struct fb_saml_idp *idp);
/*
 * The IdP metadata (EntityDescriptor with IDPSSODescriptor: one
 * KeyDescriptor use="signing" per key of the keyring, active first, so
 * SPs can trust the next key before it signs; NameIDFormats;
 * SingleSignOnService and SingleLogoutService for the Redirect and POST
 * bindings), enveloped-signed with the active key when sign is 1. New in
 * *out (caller frees), its length in *len (may be NULL).
 * FB_ERR_INTERNAL when signing fails (err filled).
 */
enum fb_status fb_saml_idp_metadata(const struct fb_saml_idp *idp, int sign, char **out,
    size_t *len, struct fb_err *err);
/*
 * The same metadata without building a whole IdP (no SP metadata is
 * read): for `fedbroker metadata export`. conf and kr borrowed.
 */
enum fb_status fb_saml_metadata_export(const struct fb_conf *conf, const struct fb_keyring *kr,
    int sign, char **out, size_t *len, struct fb_err *err);

/* ---- service providers --------------------------------------------------------- */

size_t fb_saml_idp_sp_count(const struct fb_saml_idp *idp);
/* In configuration order; NULL when out of range. Borrowed, valid while idp lives. */
const struct fb_saml_sp *fb_saml_idp_sp_at(const struct fb_saml_idp *idp, size_t i);
/* By the configured name (saml.service_providers[].name); NULL when unknown. */
const struct fb_saml_sp *fb_saml_idp_sp_get(const struct fb_saml_idp *idp, const char *name);
/* By entity id; NULL when unknown. */
const struct fb_saml_sp *fb_saml_idp_sp_by_entity_id(const struct fb_saml_idp *idp,
    const char *entity_id);
/* The SP's configuration entry (borrowed from conf). */
const struct fb_conf_saml_sp *fb_saml_sp_conf(const struct fb_saml_sp *sp);
/* Its configured name and its entity id (from metadata or configuration). Borrowed. */
const char *fb_saml_sp_name(const struct fb_saml_sp *sp);
const char *fb_saml_sp_entity_id(const struct fb_saml_sp *sp);
/*
 * The ACS responses go to when the request names none (IdP-initiated):
 * the one marked default, else the lowest index. Borrowed; never NULL
 * (an SP without an HTTP-POST ACS is refused by fb_saml_idp_new).
 */
const char *fb_saml_sp_default_acs(const struct fb_saml_sp *sp);
/*
 * What the SP is, as JSON (new, json_decref): {"name", "display_name",
 * "entity_id", "profile", "nameid_format", "nameid_format_pinned": bool
 * (false: an AuthnRequest may ask for another format), "audience", "sign",
 * "signature_algorithm", "require_signed_requests": bool,
 * "encrypt_assertion": bool, "acs": [{"url", "binding", "index",
 * "default": bool}], "slo": [{"url", "binding"}], "groups": [...],
 * "attributes": [{"name", "mapping"}], "start_path": "/saml/idp/init/NAME"}.
 */
json_t *fb_saml_sp_describe(const struct fb_saml_sp *sp);

/*
 * 1 when username may use the SP (conf borrowed): the SP lists no groups,
 * or username is a member of one of them, as declared or through the
 * nupstream groups upstreams gave the user (upstream, borrowed; NULL when
 * 0). Works on the configuration alone (no idp needed): the dashboard lists
 * conf->saml_sps with it.
 */
int fb_saml_sp_conf_allowed(const struct fb_conf *conf, const struct fb_conf_saml_sp *sp,
    const char *username, const char *const *upstream, size_t nupstream);

/* ---- signing in ------------------------------------------------------------------ */

/* Who is signing in; all borrowed for the call. */
struct fb_saml_subject {
	const struct fb_store_user *user; /* id, username, name, email (from the store) */
	const char *session_id;		  /* the browser session's sid: the SessionIndex base */
	int64_t auth_time;		  /* when the person authenticated (AuthnInstant) */
	int mfa;			  /* 1 when a second factor was passed */
	int64_t expires_at;		  /* when the browser session ends (0: unknown) */
	const char *client_addr;	  /* the browser's address (audit lines); may be NULL */
	/*
	 * What the session check read already for the answer to this SP (its
	 * want from fb_saml_signon_want: one round trip for both), or NULL:
	 * the answer reads it.
	 */
	const struct fb_store_signon *known;
};

/* The store namespace of what a sign-on records for single logout, under the SessionIndex. */
#define FB_SAML_SLO_NS "saml-slo"
/*
 * What the answer to sp for browser session sid reads from the store
 * besides the user (fb_store_signon_get's sp, ns and key), for the session
 * check to read in the same call (fb_store_session_user): want's members
 * borrowed from sp, but want->key, new in *key (caller frees).
 */
void fb_saml_signon_want(const struct fb_saml_sp *sp, const char *sid,
    struct fb_store_signon_want *want, char **key);

/*
 * What the HTTP layer does next. Exactly one of three shapes:
 *  - post_url set: send an auto-submitting HTML form POSTing post_field =
 *    post_value (and RelayState = relay_state when not NULL) to post_url
 *    (the HTTP layer makes the page). This is a success Response, a SAML
 *    error Response the SP must see (RequestDenied, NoPassive, ...), or a
 *    LogoutResponse.
 *  - redirect_url set: a 303 to this absolute URL (a LogoutResponse over
 *    the HTTP-Redirect binding).
 *  - neither: show the person an error page: http_status, title and
 *    detail (plain text for people: names the rule and the mapping that
 *    broke it, never a secret).
 * event (static) is the audit event name logged for failures ("saml_aws_check_failed",
 * "saml_request_invalid", ...) or NULL on success.
 */
struct fb_saml_reply {
	char *post_url;
	const char *post_field; /* "SAMLResponse" or "SAMLRequest"; static */
	char *post_value;	/* base64 */
	char *relay_state;
	char *redirect_url;
	int http_status;
	char *title;
	char *detail;
	const char *event;
};

/* Frees r's members and zeroes it; NULL is a no-op. */
void fb_saml_reply_cleanup(struct fb_saml_reply *r);

/*
 * IdP-initiated sign-on (the AWS console way in): builds and signs a
 * Response for sp to its default ACS, with RelayState relay_state
 * (borrowed; NULL: the SP's configured relay_state, if any). store
 * (borrowed) keeps persistent NameIDs; reqid (may be NULL) goes on audit
 * lines. Fills *reply: a POST on success; an error page when the user may
 * not use the SP (403, FB_ERR_DENIED), a mapping fails (FB_ERR_DENIED) or
 * an AWS check refuses a value (FB_ERR_DENIED); every refusal is also an
 * audit line. FB_ERR_INTERNAL (err filled, page 500) when lasso fails.
 * The returned status is FB_OK only for a success Response.
 */
enum fb_status fb_saml_idp_initiated(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_sp *sp, const struct fb_saml_subject *who, const char *relay_state,
    const char *reqid, struct fb_saml_reply *reply, struct fb_err *err);

/* The bindings a request arrives with. */
enum fb_saml_binding {
	FB_SAML_REDIRECT = 0, /* GET, deflated and base64 in the query; query signature */
	FB_SAML_POST,	      /* POST form, base64; enveloped signature */
};

/* An AuthnRequest, decoded and verified; opaque. */
struct fb_saml_request;

/*
 * Decodes and checks an AuthnRequest arriving at /saml/idp/sso.
 * Redirect: query is the raw (still percent-encoded) query string; the
 * signature (SigAlg, Signature) is verified over the raw parameters as
 * sent (SAML2 Bindings 3.4.4.1). POST: saml_request and relay_state are
 * the decoded form fields (query NULL). Checks, in order: sizes,
 * base64, inflate, no DOCTYPE (SECURITY: no DTDs, no entities), the XML,
 * the Issuer is a known SP, the signature (required when the SP requires
 * signed requests; a present signature is always verified; SHA-1 refused
 * unless the SP accepts it), the ACS (AssertionConsumerServiceURL or
 * Index must be one the SP declares, HTTP-POST), the ID not seen before
 * (store replay cache, until saml.idp.request_lifetime). New in *out on
 * FB_OK (fb_saml_request_free).
 * On failure *out is NULL and *reply says what to show: a SAML error
 * Response to the SP when the SP and an ACS are known and trusted
 * (RequestDenied, ...), else an error page; err is filled and an audit
 * line written. Statuses: FB_ERR_INVALID (malformed), FB_ERR_LIMIT (too
 * large), FB_ERR_NOTFOUND (unknown SP), FB_ERR_SIGNATURE, FB_ERR_REPLAY,
 * FB_ERR_PROTOCOL (undeclared ACS, unsupported binding or NameID policy).
 */
enum fb_status fb_saml_request_parse(struct fb_saml_idp *idp, struct fb_store *store,
    enum fb_saml_binding binding, const char *query, const char *saml_request,
    const char *relay_state, const char *reqid, struct fb_saml_request **out,
    struct fb_saml_reply *reply, struct fb_err *err);
/* NULL is a no-op. */
void fb_saml_request_free(struct fb_saml_request *req);
/* The SP that sent it (borrowed from the idp). */
const struct fb_saml_sp *fb_saml_request_sp(const struct fb_saml_request *req);
/* Its ID attribute, ForceAuthn and IsPassive (SAML2 Core 3.4.1). */
const char *fb_saml_request_id(const struct fb_saml_request *req);
int fb_saml_request_force_authn(const struct fb_saml_request *req);
int fb_saml_request_is_passive(const struct fb_saml_request *req);
/* When it was received (seconds): ForceAuthn needs an authentication after it. */
int64_t fb_saml_request_received(const struct fb_saml_request *req);

/*
 * Keeps req in the store while the person signs in (SECURITY: the login
 * page gets only a random handle, not the message): new handle in *handle
 * (caller frees; 22 base64url characters), valid for
 * saml.idp.request_lifetime. Statuses of the store.
 */
enum fb_status fb_saml_request_stash(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_request *req, char **handle, struct fb_err *err);
/*
 * Takes the stashed request back (once: the handle is deleted) and checks
 * it again against the idp. FB_ERR_NOTFOUND when unknown, used or expired,
 * FB_ERR_INVALID when the handle is malformed; else as
 * fb_saml_request_parse (without the replay check, done at arrival).
 */
enum fb_status fb_saml_request_resume(struct fb_saml_idp *idp, struct fb_store *store,
    const char *handle, struct fb_saml_request **out, struct fb_err *err);

/*
 * Answers req. who NULL means nobody is signed in and req is passive: a
 * NoPassive error Response. Otherwise as fb_saml_idp_initiated, to the
 * ACS req chose, InResponseTo req's ID, with req's RelayState; refusals
 * (user not allowed, mapping failed, AWS check) are error pages for the
 * person, like IdP-initiated ones.
 */
enum fb_status fb_saml_request_answer(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_request *req, const struct fb_saml_subject *who, const char *reqid,
    struct fb_saml_reply *reply, struct fb_err *err);

/* ---- single logout ------------------------------------------------------------ */

/*
 * Processes a LogoutRequest at /saml/idp/slo (Redirect: query raw, POST:
 * saml_request and relay_state decoded; the same decoding, size, DOCTYPE
 * and signature checks as AuthnRequests: an unsigned request from an SP
 * that must sign is refused) and fills *reply with a signed
 * LogoutResponse to the SP's SingleLogoutService, by POST or Redirect as
 * the SP declares. session_id is the browser session's sid (NULL: none).
 * SECURITY: the request ends that session only when it names what the
 * session was asserted as to that SP (the NameID of its last assertion,
 * Format and qualifiers when given, and its SessionIndex when given; an
 * unsigned request must give the SessionIndex); otherwise the
 * LogoutResponse says Requester, an audit line is written and
 * FB_ERR_DENIED is returned: the caller leaves the session alone. The
 * caller ends the browser session when FB_OK is returned. On other
 * failures, as fb_saml_request_parse.
 */
enum fb_status fb_saml_logout(struct fb_saml_idp *idp, struct fb_store *store,
    enum fb_saml_binding binding, const char *query, const char *saml_request,
    const char *relay_state, const char *session_id, const char *reqid,
    struct fb_saml_reply *reply, struct fb_err *err);

/* ---- explain and AWS helpers (CLI) -------------------------------------------- */

/*
 * What user would get at sp, without a browser and without writing to
 * the store (a persistent NameID not yet stored is shown as it would be
 * created, flagged "nameid_new": true). *out is new JSON:
 *   {"sp": sp describe, "user": the mapping input user object,
 *    "allowed": bool, "groups": [names], "group_attributes": {merged},
 *    "nameid": {"format", "value", "new": bool},
 *    "attributes": [{"name", "mapping", "values": [...]} |
 *                   {"name", "mapping", "error": "NAME:LINE:COL: kind: msg",
 *                    "line", "column"}],
 *    "checks": [{"rule", "attribute", "mapping", "ok": bool, "message"}],
 *    "ok": bool (a response would be sent),
 *    "assertion": "<saml:Assertion ...>" (the signed Assertion XML; absent when !ok)}
 * Always FB_OK unless building fails for a reason unrelated to the user
 * (FB_ERR_INTERNAL, err filled). store may be NULL (NameIDs then "new").
 */
enum fb_status fb_saml_explain(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_sp *sp, const struct fb_store_user *user, json_t **out,
    struct fb_err *err);
/*
 * The same with the user's upstream groups given (nupstream names, borrowed)
 * instead of read from the store: for an identity not linked yet
 * (fedbroker explain --upstream).
 */
enum fb_status fb_saml_explain_with(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_sp *sp, const struct fb_store_user *user, const char *const *upstream,
    size_t nupstream, json_t **out, struct fb_err *err);

/*
 * The IAM role trust policy (JSON text, new in *out) allowing
 * sts:AssumeRoleWithSAML (and sts:TagSession, sts:SetSourceIdentity) for
 * the SAML provider arn:aws:iam::ACCOUNT:saml-provider/PROVIDER, with the
 * condition saml:aud equal to the ACS sp posts to (its default ACS): AWS
 * takes saml:aud from the Recipient, so a regional ACS needs the regional
 * value. account is 12 digits, provider 1..128 characters of
 * [A-Za-z0-9._-]: FB_ERR_INVALID otherwise.
 */
enum fb_status fb_saml_aws_trust_policy(const struct fb_saml_sp *sp, const char *account,
    const char *provider, char **out, struct fb_err *err);

/* ---- metadata files ------------------------------------------------------------- */

/*
 * Parses SP or IdP metadata (len bytes of xml, borrowed; an
 * EntityDescriptor, or an EntitiesDescriptor holding exactly one) and
 * describes it in *out (new JSON):
 *   {"entity_id", "role": "sp"|"idp", "valid_until": "..."|null,
 *    "expired": bool, "signed": bool, "signature_verified": bool,
 *    "authn_requests_signed": bool, "want_assertions_signed": bool,
 *    "nameid_formats": [...],
 *    "acs": [{"url", "binding", "index", "default": bool}],      (SP)
 *    "sso": [{"url", "binding"}],                                 (IdP)
 *    "slo": [{"url", "binding"}],
 *    "certificates": [{"use": "signing"|"encryption"|"both", "subject",
 *                      "not_after": "RFC 3339", "expired": bool, "pem"}],
 *    "warnings": ["..."]}
 * cert_pem (borrowed, may be NULL): when given, the metadata must carry
 * an enveloped signature that verifies with it (FB_ERR_SIGNATURE
 * otherwise). An expired validUntil or certificate is a warning, not an
 * error. SECURITY: DOCTYPE refused, no network, no entities.
 * FB_ERR_INVALID with the reason for anything that is not metadata.
 */
enum fb_status fb_saml_metadata_parse(const char *xml, size_t len, const char *cert_pem,
    json_t **out, struct fb_err *err);
/*
 * The saml.service_providers entry to paste into fedbroker.yaml for SP
 * metadata described by info (from fb_saml_metadata_parse), saved as
 * metadata_path, under name: one YAML list item indented to go under
 * "  service_providers:", with display_name and groups placeholders; new
 * (caller frees).
 * The profile (aws, aws-identity-center) and NameID format are guessed
 * from the entity id and the formats offered.
 */
char *fb_saml_metadata_stanza(const json_t *info, const char *name, const char *metadata_path);
/*
 * The same for IdP metadata: an upstreams list item (type saml, the
 * metadata path, sign_requests auto, display_name and domains
 * placeholders), indented to go under "upstreams:"; new.
 */
char *fb_saml_metadata_upstream_stanza(const json_t *info, const char *name,
    const char *metadata_path);

/*
 * Writes len bytes of data to path through a temporary file in the same
 * directory and a rename, so a reader never sees half a file. mode: the
 * new file's permissions. FB_ERR_IO.
 */
enum fb_status fb_saml_file_write(const char *path, const char *data, size_t len, mode_t mode,
    struct fb_err *err);

/* ---- upstream metadata refresh (mdrefresh.c) -------------------------------------- */

/*
 * Where the jobs process keeps an upstream's last good IdP metadata
 * fetched from upstreams[].saml.metadata_url:
 * <state_dir>/upstream-metadata/<name><suffix> (suffix ".xml": the
 * metadata; ".status.json": the refresh counters). New (caller frees).
 */
char *fb_saml_upstream_metadata_path(const struct fb_conf *conf, const struct fb_conf_upstream *up,
    const char *suffix);
/*
 * BLOCKING (the jobs process only): fetches up's metadata_url (https, TLS
 * verified with saml.ca_file, 10 s timeout, FB_SAML_METADATA_FILE_MAX
 * bytes), verifies its enveloped signature with the pinned
 * metadata_certificate only, requires IdP metadata with a signing
 * certificate, the same entityID as the last good copy (when there is
 * one) and a validUntil still in the future, then stores it atomically
 * (0644) at fb_saml_upstream_metadata_path(".xml"). On any failure the
 * last good copy is left as it was. The ".status.json" file counts
 * failures and records the last success either way.
 * *changed: 1 when the stored copy changed. *next: when to fetch again
 * (now + metadata_refresh, no later than validUntil; a failure retries
 * after min(metadata_refresh, 5 min)), also kept in the status file.
 */
enum fb_status fb_saml_upstream_metadata_refresh(const struct fb_conf *conf,
    const struct fb_conf_upstream *up, int *changed, int64_t *next, struct fb_err *err);
/*
 * The two halves of fb_saml_upstream_metadata_refresh, for a fetch that
 * does not block (the jobs process: fb_net_http_start, so one dead URL does
 * not hold the others back). _request fills rq for up's metadata_url
 * (pointing into up). _store takes the fetch's outcome: fetched is its
 * status, with resp when FB_OK, else fetch_err (may be NULL) saying why;
 * then everything else as fb_saml_upstream_metadata_refresh.
 */
struct fb_net_http_request;
struct fb_net_http_response;
void fb_saml_upstream_metadata_request(const struct fb_conf_upstream *up,
    struct fb_net_http_request *rq);
enum fb_status fb_saml_upstream_metadata_store(const struct fb_conf *conf,
    const struct fb_conf_upstream *up, enum fb_status fetched,
    const struct fb_net_http_response *resp, const struct fb_err *fetch_err, int *changed,
    int64_t *next, struct fb_err *err);
/*
 * When up's next refresh is due (the time the last refresh scheduled, as
 * fb_saml_upstream_metadata_refresh's *next, kept in the status file), so
 * a restarted jobs process (at each reload) does not fetch again at once;
 * 0 (now) when no last good copy is stored.
 */
int64_t fb_saml_upstream_metadata_due(const struct fb_conf *conf, const struct fb_conf_upstream *up);
/*
 * Appends to out the Prometheus lines of every upstream with a
 * metadata_url, read from the jobs process' status files:
 * fedbroker_upstream_metadata_refresh_failures_total{upstream} and
 * fedbroker_upstream_metadata_last_success_timestamp_seconds{upstream}.
 */
enum fb_status fb_saml_upstream_metadata_metrics(const struct fb_conf *conf, struct fb_buf *out,
    struct fb_err *err);

/*
 * Checks what the configuration alone cannot see (called by
 * check-config): builds the IdP (as fb_saml_idp_new) and appends a
 * "saml.service_providers[i].key: message" line per problem to *problems
 * (new JSON array of {"path", "message", "error": bool}); warnings for
 * unmet SP needs (an Identity Center SP whose NameID is fed by a value
 * that is not an addr-spec for some configured user, IdP metadata over
 * 75,000 characters or a certificate over 2,500, expired SP metadata or
 * certificates). kr may be NULL (no key generated yet): the key checks
 * are skipped. FB_OK when no error was found (warnings allowed).
 */
enum fb_status fb_saml_check(const struct fb_conf *conf, const struct fb_keyring *kr,
    json_t **problems, struct fb_err *err);
/*
 * fb_saml_check that also hands back what it built, for the daemon's master
 * to build the IdP once before it forks the workers (which inherit it; a
 * reload builds a new one): the rules come from maps (borrowed, outliving
 * the IdP; NULL: compiled from conf->mappings_dir as fb_saml_idp_new does),
 * and when out is not NULL, kr holds keys and no problem is an error, *out
 * is the IdP fb_saml_idp_new(conf, kr, maps) would build (fb_saml_idp_free),
 * else NULL.
 */
enum fb_status fb_saml_check_build(const struct fb_conf *conf, const struct fb_keyring *kr,
    const struct fb_map_set *maps, json_t **problems, struct fb_saml_idp **out, struct fb_err *err);

/* ---- building blocks, exposed for tests and fuzzing ------------------------------ */

/*
 * Decodes a SAMLRequest/SAMLResponse parameter: base64 (whitespace
 * allowed), then raw DEFLATE (RFC 1951) when inflate is 1 (the Redirect
 * binding). FB_ERR_LIMIT past FB_SAML_MESSAGE_MAX / FB_SAML_INFLATED_MAX,
 * FB_ERR_INVALID for bad base64 or deflate data, or a result that is not
 * UTF-8 XML without DOCTYPE. New NUL-terminated buffer in *out (caller
 * frees), length in *len.
 */
enum fb_status fb_saml_message_decode(const char *param, int inflate, char **out, size_t *len,
    struct fb_err *err);
/*
 * The value of parameter name in a raw query string, still
 * percent-encoded (borrowed pointer into query, its length in *len);
 * NULL when absent. Several occurrences: FB_ERR_INVALID via *dup = 1.
 */
const char *fb_saml_query_param(const char *query, const char *name, size_t *len, int *dup);

/*
 * The decoded value of field name in an application/x-www-form-urlencoded
 * body of len bytes ('+' is a space), new in *out (caller frees), for
 * SAMLRequest fields larger than the page forms allow (and the
 * RelayState of a query string). FB_ERR_NOTFOUND when absent,
 * FB_ERR_INVALID when present twice, badly %-escaped or holding an
 * encoded NUL (err says which). body borrowed.
 */
enum fb_status fb_saml_form_get(const char *body, size_t len, const char *name, char **out,
    struct fb_err *err);

/*
 * The AWS rules (notes/aws.md A.4) applied to the values about to be
 * sent: attrs is a JSON object {attribute name: [values]}. Every rule
 * that applies gets a verdict in *out (new JSON array of {"rule",
 * "attribute" (absent for the NameID), "ok": bool, "message"}): the
 * failures first, with what is wrong, then (when passed is 1: explain
 * shows them; a sign-in has no use for them) the rules passed, with what
 * they demand. *ok set to 1 when none failed. identity_center 1 checks
 * the NameID (nameid, format) is an emailAddress addr-spec instead.
 */
void fb_saml_aws_check(const json_t *attrs, int identity_center, const char *nameid_format,
    const char *nameid, int passed, json_t **out, int *ok);

/* ---- the broker as a service provider to upstream IdPs (sp.c) --------------------- */

/* The broker's one SP entity: its metadata, and the per-upstream endpoints (+ name + suffix). */
#define FB_SAML_PATH_SP_METADATA "/saml/sp/metadata"
#define FB_SAML_PATH_UPSTREAM	 "/upstream/"
#define FB_SAML_UPSTREAM_ACS	 "/acs"
#define FB_SAML_UPSTREAM_SLO	 "/slo"

/* One upstream SAML IdP as configured (all borrowed for the call that takes it). */
struct fb_saml_upstream_def {
	const char *name;     /* upstreams[].name: the /upstream/<name>/ paths */
	const char *metadata; /* the IdP's metadata (EntityDescriptor with IDPSSODescriptor);
				 NULL: not loaded (listed in our metadata, cannot sign in) */
	size_t metadata_len;
	int allow_unsolicited; /* accept responses to no request of ours (IdP-initiated) */
	int accept_sha1;       /* accept RSA-SHA1 / SHA-1 digests */
	enum fb_conf_saml_sign_requests sign_requests;
	int64_t clock_skew; /* seconds allowed either way on every time check */
	enum fb_conf_saml_login_hint login_hint;
};

struct fb_saml_broker; /* the broker's SP entity and its upstream IdPs; one per worker */

/*
 * The broker's SP entity: entity_id (borrowed; NULL: <public_url>/saml/sp/metadata),
 * the keys of kr (borrowed, must outlive the broker; the active one signs
 * AuthnRequests, every RSA key can decrypt). New in *out
 * (fb_saml_broker_free). FB_ERR_CONFIG without public_url or keys.
 */
enum fb_status fb_saml_broker_new(const char *public_url, const char *entity_id,
    const struct fb_keyring *kr, struct fb_saml_broker **out, struct fb_err *err);
void fb_saml_broker_free(struct fb_saml_broker *b);
/*
 * Adds an upstream IdP from its metadata (through the XML gate: UTF-8, no
 * DTD). FB_ERR_CONFIG (err names the upstream and the reason) when the
 * metadata is not IdP metadata, has no signing certificate, no
 * HTTP-Redirect SingleSignOnService, or the name is taken.
 */
enum fb_status fb_saml_broker_add_upstream(struct fb_saml_broker *b,
    const struct fb_saml_upstream_def *def, struct fb_err *err);
/*
 * The broker of conf (saml.sp.entity_id, server.public_url) with every
 * upstream of type saml, in order; with idps 1 each IdP's metadata file
 * is loaded (an upstream with only metadata_url and no file yet is listed
 * but not loaded: a warning is logged), with idps 0 only the names are
 * (fedbroker metadata export --sp). Statuses as fb_saml_broker_new and
 * fb_saml_broker_add_upstream; FB_ERR_CONFIG naming a file that cannot
 * be read.
 */
enum fb_status fb_saml_broker_from_conf(const struct fb_conf *conf, const struct fb_keyring *kr,
    int idps, struct fb_saml_broker **out, struct fb_err *err);
/*
 * The SP metadata: EntityDescriptor with SPSSODescriptor
 * (AuthnRequestsSigned="true" unless every upstream says sign_requests:
 * never, WantAssertionsSigned="true"), a signing
 * KeyDescriptor per key and an encryption one per RSA key, a
 * SingleLogoutService (HTTP-Redirect) and an indexed HTTP-POST
 * AssertionConsumerService per upstream, in the order added. Enveloped-signed
 * with the active key when sign is 1. New in *out, length in *len (may be NULL).
 */
enum fb_status fb_saml_broker_metadata(const struct fb_saml_broker *b, int sign, char **out,
    size_t *len, struct fb_err *err);

/*
 * An AuthnRequest to upstream name over HTTP-Redirect: the URL to send the
 * browser to in *url (new), its ID in *request_id (new: keep it bound to this
 * browser, the response must answer it). Signed (RSA-SHA256, or
 * ECDSA-SHA256 with an EC key) unless sign_requests is never: auto signs
 * as always does, since our metadata says AuthnRequestsSigned (an IdP
 * that wants signed requests gets them, one that reads our metadata
 * expects them). relay_state (borrowed, may be NULL) is passed
 * through. login_hint (may be NULL): the email address the person typed,
 * put in the request's Subject when the upstream's login_hint is subject
 * and it is an email address. FB_ERR_NOTFOUND for an unknown upstream.
 */
enum fb_status fb_saml_broker_authn_request(struct fb_saml_broker *b, const char *name,
    const char *relay_state, const char *login_hint, char **url, char **request_id,
    struct fb_err *err);

/*
 * Marks id used until expires_at (seconds): FB_OK the first time,
 * FB_ERR_REPLAY after; other statuses when the cache cannot be reached.
 * The ACS calls it for the assertion ID and the request ID.
 */
typedef enum fb_status (*fb_saml_once_fn)(void *ctx, const char *id, int64_t expires_at,
    struct fb_err *err);
/* The store's key/value replay cache as an fb_saml_once_fn (ctx: struct fb_store *). */
enum fb_status fb_saml_broker_once_store(void *store, const char *id, int64_t expires_at,
    struct fb_err *err);

/* What a valid response says (members new; fb_saml_login_cleanup). */
struct fb_saml_login {
	char *issuer;	     /* the IdP's entity id */
	char *nameid;	     /* the NameID's whole text */
	char *nameid_format; /* or NULL */
	json_t *attributes;  /* {"Name": ["value", ...]} (also under FriendlyName when given) */
	char *session_index; /* or NULL */
	int64_t expires_at;  /* SessionNotOnOrAfter, 0 when not said */
	char *assertion_id;
	int response_signed, assertion_signed, encrypted;
};
void fb_saml_login_cleanup(struct fb_saml_login *l);

/* An ACS call: the POSTed response and what this browser started. */
struct fb_saml_acs {
	const char *upstream;	   /* the <name> of /upstream/<name>/acs */
	const char *saml_response; /* the SAMLResponse field (base64) */
	const char *request_id;	   /* the ID of the AuthnRequest this browser sent, or NULL */
	int64_t now;		   /* seconds */
	fb_saml_once_fn once;	   /* replay cache */
	void *once_ctx;
	const char *reqid; /* for audit lines, may be NULL */
};

/*
 * Validates a SAML Response at the ACS of an upstream, strictly: the XML
 * gate; exactly one Assertion (or EncryptedAssertion, decrypted with the
 * SP's keys) and it is the Response's child; IDs unique in the document; a
 * signature over the Response or the Assertion by one of the IdP's
 * metadata certificates (never a key from KeyInfo), one Reference to the
 * signed element's own ID, enveloped and c14n transforms only, SHA-1 only
 * when accept_sha1; Issuers; Destination, Recipient = the ACS; Audience =
 * the SP entity id; Conditions and SubjectConfirmationData times with the
 * clock skew; InResponseTo = request_id (none: only when
 * allow_unsolicited); a NameID that is text only (a comment or element in it
 * is refused); the assertion ID and the request ID used once. Fills *out
 * on FB_OK. Otherwise *reply is a clear page (a non-success StatusCode
 * shows the status: FB_ERR_DENIED), an audit line is written and err
 * filled: FB_ERR_INVALID, FB_ERR_LIMIT, FB_ERR_NOTFOUND (unknown
 * upstream), FB_ERR_SIGNATURE, FB_ERR_PROTOCOL (a check failed),
 * FB_ERR_REPLAY, or the cache's status.
 */
enum fb_status fb_saml_broker_acs(struct fb_saml_broker *b, const struct fb_saml_acs *in,
    struct fb_saml_login *out, struct fb_saml_reply *reply, struct fb_err *err);

/* A LogoutRequest from an upstream IdP, verified (members new; fb_saml_logout_req_cleanup). */
struct fb_saml_logout_req {
	char *id;
	char *nameid;
	char *nameid_format; /* or NULL */
	char **session_indexes; /* none: every session of the NameID */
	size_t nsession_indexes;
	char *relay_state; /* or NULL */
};
void fb_saml_logout_req_cleanup(struct fb_saml_logout_req *l);
/*
 * Checks a LogoutRequest the IdP of upstream name sent to
 * /upstream/NAME/slo (Redirect: query raw, its query signature; POST:
 * saml_request and relay_state decoded, an enveloped signature over the
 * request). SECURITY: signed by the IdP's metadata certificate, always;
 * the XML gate; Issuer the IdP; Destination (when given) one of our SLO
 * URLs; NotOnOrAfter with the clock skew; a NameID of text only. Fills
 * *out on FB_OK; otherwise *reply is a page, an audit line is written:
 * FB_ERR_NOTFOUND, FB_ERR_PROTOCOL, FB_ERR_SIGNATURE.
 */
enum fb_status fb_saml_broker_logout_parse(struct fb_saml_broker *b, const char *name,
    enum fb_saml_binding binding, const char *query, const char *saml_request,
    const char *relay_state, int64_t now, const char *reqid, struct fb_saml_logout_req *out,
    struct fb_saml_reply *reply, struct fb_err *err);
/*
 * 1 when l names the session asserted as nameid with session_index (NULL:
 * none recorded): the NameID is the same and, when l gives SessionIndexes,
 * one of them is session_index.
 */
int fb_saml_logout_req_matches(const struct fb_saml_logout_req *l, const char *nameid,
    const char *session_index);
/*
 * The signed LogoutResponse (Success, or Requester when !success) to the
 * IdP's HTTP-Redirect SingleLogoutService (its ResponseLocation when
 * given), as a URL in *url (new). FB_ERR_NOTFOUND when the IdP has none.
 */
enum fb_status fb_saml_broker_logout_response(struct fb_saml_broker *b, const char *name,
    const char *in_response_to, int success, const char *relay_state, char **url,
    struct fb_err *err);
/*
 * A signed LogoutRequest for nameid (format and session_index may be
 * NULL) to the IdP's HTTP-Redirect SingleLogoutService, as a URL in *url
 * (new): the broker's sign-out when upstreams[].logout is true.
 * FB_ERR_NOTFOUND when the IdP has none.
 */
enum fb_status fb_saml_broker_logout_request(struct fb_saml_broker *b, const char *name,
    const char *nameid, const char *nameid_format, const char *session_index,
    const char *relay_state, char **url, struct fb_err *err);

#endif
