/* SPDX-License-Identifier: Apache-2.0 */
/* saml/internal.h: what the saml module's files share (not for other modules). */
#ifndef FB_SAML_INTERNAL_H
#define FB_SAML_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libxml/tree.h>
#include <lasso/lasso.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <xmlsec/keys.h>
#include <xmlsec/keysmngr.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "map/map.h"
#include "store/store.h"
#include "saml/saml.h"

/* SAML 2.0 namespaces. */
#define FB_SAML_NS_PROTOCOL "urn:oasis:names:tc:SAML:2.0:protocol"
#define FB_SAML_NS_ASSERTION "urn:oasis:names:tc:SAML:2.0:assertion"
#define FB_SAML_NS_METADATA "urn:oasis:names:tc:SAML:2.0:metadata"
#define FB_SAML_NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define FB_SAML_NS_XS "http://www.w3.org/2001/XMLSchema"
#define FB_SAML_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

/* SAML2 Core 3.2.2.2: status codes. */
#define FB_SAML_STATUS_SUCCESS "urn:oasis:names:tc:SAML:2.0:status:Success"
#define FB_SAML_STATUS_REQUESTER "urn:oasis:names:tc:SAML:2.0:status:Requester"
#define FB_SAML_STATUS_RESPONDER "urn:oasis:names:tc:SAML:2.0:status:Responder"
#define FB_SAML_STATUS_REQUEST_DENIED "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
#define FB_SAML_STATUS_NO_PASSIVE "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
#define FB_SAML_STATUS_AUTHN_FAILED "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
#define FB_SAML_STATUS_INVALID_NAMEID_POLICY "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
#define FB_SAML_STATUS_UNSUPPORTED_BINDING "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding"

#define FB_SAML_CM_BEARER "urn:oasis:names:tc:SAML:2.0:cm:bearer"
#define FB_SAML_AC_PPT "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

/* One signing key of the keyring, parsed once per worker. */
struct fb_saml_key {
	char *id;
	xmlSecKeyPtr key;  /* private key with its certificate (KeyInfo X509Data) */
	EVP_PKEY *pkey;	   /* borrowed from the keyring (query signatures) */
	int is_ec;	   /* 1 for EC keys (ECDSA), 0 for RSA */
	char *cert_b64;	   /* base64 DER of the certificate, one line */
	char *cert_pem;	   /* PEM text of the certificate */
	int active;
};

/* An endpoint of SP metadata. */
struct fb_saml_endpoint {
	char *url;
	char *binding;	     /* full binding URI */
	char *response_url;  /* SLO: ResponseLocation, may be NULL */
	int index;	     /* ACS only */
	int is_default;	     /* ACS only */
};

/* A certificate found in metadata. */
struct fb_saml_mdcert {
	char *use; /* "signing", "encryption" or "both" */
	char *b64; /* base64 DER as found (whitespace removed) */
	char *key_name; /* the ds:KeyName of its KeyInfo (fedbroker's key id), or NULL */
};

/* What is read from an EntityDescriptor (SP or IdP role). */
struct fb_saml_md {
	char *entity_id;
	int is_sp; /* SPSSODescriptor found (else IDPSSODescriptor) */
	char *valid_until;
	char *cache_duration; /* the EntityDescriptor's (or its group's) cacheDuration */
	int authn_requests_signed;
	int want_assertions_signed;
	char **nameid_formats;
	size_t nnameid_formats;
	struct fb_saml_endpoint *acs;
	size_t nacs;
	struct fb_saml_endpoint *sso;
	size_t nsso;
	struct fb_saml_endpoint *slo;
	size_t nslo;
	struct fb_saml_mdcert *certs;
	size_t ncerts;
	int signed_;	    /* a ds:Signature child of the EntityDescriptor */
};

/* One attribute of an SP with its compiled mapping. */
struct fb_saml_attr {
	const struct fb_conf_saml_attr *conf;
	const struct fb_map_rule *rule; /* borrowed from idp->maps */
};

/* A service provider (saml.h: struct fb_saml_sp). */
struct fb_saml_sp {
	const struct fb_conf_saml_sp *conf;
	struct fb_saml_idp *idp;
	char *metadata_xml; /* as given to lasso */
	struct fb_saml_md md;
	const struct fb_saml_endpoint *default_acs;
	int require_signed;
	int has_signing_cert;
	xmlSecKeyPtr enc_key;	 /* the SP's encryption public key, or NULL */
	xmlSecKeysMngrPtr enc_mngr; /* a keys manager holding it (encryption needs one) */
	EVP_PKEY **verify_keys; /* the SP's signing keys (Redirect query signatures) */
	size_t nverify_keys;
	X509 **certs; /* md.certs[i] decoded, or NULL; kept only by a keyless (check) build */
	const struct fb_saml_key *sign_key;
	struct fb_saml_attr *attrs;
	size_t nattrs;
	const struct fb_map_rule *nameid_rule; /* or NULL */
	int in_lasso; /* added to idp->server (fb_saml_sp_lasso_add) */
};

/* The IdP of one worker (saml.h: struct fb_saml_idp). */
struct fb_saml_idp {
	const struct fb_conf *conf;
	int keyless; /* built by fb_saml_check: the SPs keep their decoded certificates */
	const struct fb_keyring *kr;
	char *entity_id;
	char *sso_url;
	char *slo_url;
	struct fb_saml_key *keys;
	size_t nkeys;
	const struct fb_saml_key *active;
	char *metadata;	 /* unsigned IdP metadata (templated) */
	LassoServer *server;
	struct fb_saml_sp *sps;
	size_t nsps;
	const struct fb_map_set *maps; /* the worker's, or own_maps */
	struct fb_map_set *own_maps;
};

/* ---- server.c ---------------------------------------------------------------- */

/* lasso_init() once per process; routes lasso's and xmlsec's logs into ours. */
void fb_saml_lib_init(void);
/* Loads the keyring's keys into xmlsec keys (new array in *out, free with fb_saml_keys_free). */
enum fb_status fb_saml_keys_load(const struct fb_keyring *kr, struct fb_saml_key **out,
    size_t *n, struct fb_err *err);
void fb_saml_keys_free(struct fb_saml_key *keys, size_t n);
/* Largest metadata file read or fetched (bytes). */
#define FB_SAML_METADATA_FILE_MAX (1024 * 1024)
/* Reads a metadata file (at most FB_SAML_METADATA_FILE_MAX bytes) into *out (new). FB_ERR_CONFIG. */
enum fb_status fb_saml_file_read(const char *path, char **out, size_t *len, struct fb_err *err);
/*
 * fb_saml_idp_new; with keyless set, kr may be NULL: the SPs are set up
 * and checked but nothing can be signed (check-config before the first
 * start has generated keys).
 */
enum fb_status fb_saml_idp_build(const struct fb_conf *conf, const struct fb_keyring *kr,
    int keyless, const struct fb_map_set *maps, struct fb_saml_idp **out, struct fb_err *err);

/* ---- metadata.c ----------------------------------------------------------------- */

/* The IdP's metadata for conf and keys (new, caller frees). */
char *fb_saml_idp_metadata_build(const struct fb_conf *conf, const char *entity_id,
    const struct fb_saml_key *keys, size_t nkeys);
/* Signs metadata text with key: an enveloped signature as the root's first child (new in *out). */
enum fb_status fb_saml_metadata_sign(const char *xml, const struct fb_saml_key *key, char **out,
    size_t *len, struct fb_err *err);
/* Parses an EntityDescriptor (SP or IdP) from xml into md (members new: fb_saml_md_cleanup). */
enum fb_status fb_saml_md_parse(const char *xml, size_t len, struct fb_saml_md *md,
    xmlDocPtr *docp, struct fb_err *err);
void fb_saml_md_cleanup(struct fb_saml_md *md);
/* SP metadata templated from an inline SP's keys (new, caller frees). FB_ERR_CONFIG on a bad cert. */
enum fb_status fb_saml_sp_metadata_build(const struct fb_conf_saml_sp *sp, char **out,
    struct fb_err *err);
/* Parses an xs:dateTime "YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm)" into seconds; -1 when not one. */
int64_t fb_saml_datetime_parse(const char *s);
/*
 * Parses a non-negative xs:duration "PnYnMnDTnHnMn[.n]S" (a year 365 days,
 * a month 30: for cacheDuration that is close enough) into whole seconds
 * (capped at ten years); -1 when not one.
 */
int64_t fb_saml_duration_parse(const char *s);
/* base64 DER (one line, new) of the first certificate in a PEM file; NULL + err when none. */
char *fb_saml_pem_file_cert_b64(const char *path, struct fb_err *err);

/* ---- binding.c ---------------------------------------------------------------- */

/*
 * The one gate every XML text passes before lasso or xmlsec sees it
 * (requests of both bindings, SP metadata, metadata import): UTF-8 only
 * (no NUL, no other byte order mark, a declared encoding other than UTF-8
 * refused; the parser decodes UTF-8 whatever is declared), no network, no
 * entity substitution, no DTD loading, and the parser itself stops at a
 * DOCTYPE (SECURITY: no reliance on a text filter). FB_ERR_INVALID with the
 * reason otherwise. New doc.
 */
enum fb_status fb_saml_xml_parse(const char *xml, size_t len, xmlDocPtr *out,
    struct fb_err *err);
/* 1 when n is an element named name in namespace ns. */
int fb_saml_xml_is(const xmlNode *n, const char *ns, const char *name);
/* The first child element of n (NULL: none) named name in namespace ns, or NULL. */
xmlNodePtr fb_saml_xml_child(xmlNodePtr n, const char *ns, const char *name);
/* The value of n's attribute name (new, caller frees), or NULL when it has none. */
char *fb_saml_xml_prop(xmlNodePtr n, const char *name);
/*
 * 1 when xml holds a DOCTYPE declaration: a cheap early refusal of plain
 * DTDs in messages (a clearer error sooner); fb_saml_xml_parse is the gate.
 */
int fb_saml_has_doctype(const char *xml, size_t len);
/* base64 of n bytes, one line (new). */
char *fb_saml_b64(const void *p, size_t n);
/* A new "_" + 40 hex characters identifier from the CSPRNG (new). */
char *fb_saml_id_new(void);
/* "YYYY-MM-DDThh:mm:ssZ" for t into out (>= 32 bytes). */
void fb_saml_time(int64_t t, char *out, size_t outlen);
/* Serializes doc (no XML declaration) into a new string; *len its length. */
char *fb_saml_doc_dump(xmlDocPtr doc, size_t *len);
/*
 * Percent-decodes len bytes of s ('+' is a space when plus_space); new,
 * NUL-terminated; NULL on a bad escape or an encoded NUL.
 */
char *fb_saml_url_decode(const char *s, size_t len, int plus_space);
/*
 * fb_saml_url_decode with the reason when it fails (FB_ERR_INVALID: "the
 * <name> holds an encoded NUL (%00)" or "has a bad %-escape"). New in *out.
 */
enum fb_status fb_saml_param_decode(const char *s, size_t len, int plus_space, const char *name,
    char **out, struct fb_err *err);
/* Appends s URL-encoded (RFC 3986 unreserved kept) to b. */
enum fb_status fb_saml_url_encode(struct fb_buf *b, const char *s, struct fb_err *err);

/* ---- sign.c ----------------------------------------------------------------------- */

/*
 * Signs node (an element with attribute ID, in a document) with key: an
 * enveloped ds:Signature placed after the element's first child (the
 * Issuer, SAML2 Core 5.4.1) or as the first child when after_first is 0,
 * exc-c14n, one Reference to #ID, alg's digest, KeyInfo with the
 * certificate.
 */
enum fb_status fb_saml_sign_node(xmlNodePtr node, const struct fb_saml_key *key,
    enum fb_conf_saml_alg alg, int after_first, struct fb_err *err);
/*
 * Verifies sig, an enveloped ds:Signature child of node in doc: one
 * Reference to node's own ID, enveloped-signature then (exclusive) c14n,
 * RSA or ECDSA with SHA-2 (SHA-1 when accept_sha1), by one of keys; the
 * digest is node's own subtree (never one found by ID). FB_ERR_SIGNATURE
 * with err saying why.
 */
enum fb_status fb_saml_dsig_verify(xmlDocPtr doc, xmlNodePtr node, xmlNodePtr sig,
    EVP_PKEY *const *keys, size_t nkeys, int accept_sha1, struct fb_err *err);
/* A keys manager holding a copy of enc_key (new, xmlSecKeysMngrDestroy). */
enum fb_status fb_saml_enc_mngr_new(xmlSecKeyPtr enc_key, xmlSecKeysMngrPtr *out,
    struct fb_err *err);
/*
 * Replaces the Assertion node by an EncryptedAssertion (AES-256-GCM, the key
 * wrapped with RSA-OAEP for the key in mngr).
 */
enum fb_status fb_saml_encrypt_assertion(xmlDocPtr doc, xmlNodePtr assertion,
    xmlSecKeysMngrPtr mngr, struct fb_err *err);
/* The Redirect-binding signature of a query ("SAMLResponse=...&RelayState=...&SigAlg=..."): base64. */
enum fb_status fb_saml_query_sign(const struct fb_saml_key *key, enum fb_conf_saml_alg alg,
    const char *query, char **sig_b64, struct fb_err *err);
/*
 * Verifies the Redirect-binding signature of a raw query (SAML2 Bindings
 * 3.4.4.1): over "<field>=..&RelayState=..&SigAlg=.." exactly as sent,
 * with any of keys. FB_OK when it verifies, FB_ERR_NOTFOUND when the query
 * carries no Signature, FB_ERR_SIGNATURE when it does not verify or names
 * an unknown algorithm (SHA-1 only when accept_sha1), FB_ERR_INVALID when
 * malformed. *unsigned_query (may be NULL) gets the query without SigAlg
 * and Signature (new).
 */
enum fb_status fb_saml_query_verify(const char *query, const char *field, EVP_PKEY *const *keys,
    size_t nkeys, int accept_sha1, char **unsigned_query, struct fb_err *err);
/* The XML-DSig URI of alg. */
const char *fb_saml_alg_uri(enum fb_conf_saml_alg alg);
/* Verifies an enveloped signature on the root of doc with the PEM certificate. */
enum fb_status fb_saml_verify_root(xmlDocPtr doc, const char *cert_pem, struct fb_err *err);

/* ---- idp.c ----------------------------------------------------------------------- */

/* Everything a response is built from. */
struct fb_saml_answer {
	const struct fb_saml_sp *sp;
	const char *acs;	  /* Destination and Recipient */
	const char *in_response_to; /* NULL for IdP-initiated */
	const char *relay_state;
	const char *status1;	  /* NULL: Success with an assertion */
	const char *status2;
	const char *status_message;
	enum fb_conf_nameid_format nameid_format; /* fb_saml_nameid_format_pick */
	int allow_create;                         /* 0: a persistent NameID must exist already */
};

/* A verified AuthnRequest (saml.h: struct fb_saml_request). */
struct fb_saml_request {
	const struct fb_saml_sp *sp;
	char *id;
	char *acs; /* declared, HTTP-POST */
	char *relay_state;
	int force_authn;
	int is_passive;
	int64_t received;
	enum fb_conf_nameid_format nameid_format; /* chosen from NameIDPolicy/@Format */
	int allow_create; /* NameIDPolicy/@AllowCreate, 1 without a policy */
};

/* 1 when nameid.format is given for sp (or its profile dictates one): requests cannot change it. */
int fb_saml_nameid_pinned(const struct fb_saml_sp *sp);
/* The URI of NameID format f. */
const char *fb_saml_nameid_uri(enum fb_conf_nameid_format f);
/*
 * The NameID format for an answer to sp. requested is an AuthnRequest's
 * NameIDPolicy/@Format (NULL: none; unspecified counts as none). Unless
 * nameid.format is given (or a profile dictates it), a requested format
 * fedbroker issues (persistent, transient, emailAddress) is honoured, and
 * without one the configured default is used when the SP's metadata lists
 * it (or lists none, or unspecified), else the first format it lists that
 * fedbroker issues. FB_ERR_PROTOCOL (*out: the configured format) when the
 * requested format is not issued, or differs from a pinned one.
 */
enum fb_status fb_saml_nameid_format_pick(const struct fb_saml_sp *sp, const char *requested,
    enum fb_conf_nameid_format *out);
/*
 * Puts a signed error Response (status1, status2) to acs into reply's POST
 * fields, keeping reply's page (shown if building fails).
 */
void fb_saml_error_response(struct fb_saml_idp *idp, const struct fb_saml_sp *sp,
    const char *acs, const char *in_response_to, const char *relay_state, const char *status1,
    const char *status2, const char *message, struct fb_saml_reply *reply);

/* Builds, signs (and encrypts) the Response; the base64 in *out (new). For explain, *xml (may be NULL). */
enum fb_status fb_saml_response_build(struct fb_saml_idp *idp, const struct fb_saml_answer *a,
    const char *nameid, const char *nameid_format, const json_t *attrs,
    const struct fb_saml_subject *who, char **out, char **assertion_xml, struct fb_err *err);
/* Fills reply with an error page. */
void fb_saml_reply_page(struct fb_saml_reply *r, int status, const char *event, const char *title,
    const char *fmt, ...) FB_PRINTF(5, 6);
/* 1 when the endpoint's binding is HTTP-POST. */
int fb_saml_is_post(const char *binding);
/* The default ACS endpoint of a parsed SP metadata, or NULL. */
const struct fb_saml_endpoint *fb_saml_md_default_acs(const struct fb_saml_md *md);

/* ---- sp.c ----------------------------------------------------------------------- */

/*
 * Reads the IdP metadata file of SAML upstream up as the broker would
 * (check-config): FB_ERR_CONFIG naming the upstream and the reason when it
 * cannot be read or is not usable IdP metadata. FB_OK without a file.
 */
enum fb_status fb_saml_upstream_metadata_check(const struct fb_conf *conf,
    const struct fb_conf_upstream *up, struct fb_err *err);

/* ---- slo.c ------------------------------------------------------------------------ */

/* The SessionIndex of browser session sid at an SP: opaque, never the sid itself. New. */
char *fb_saml_session_index(const char *sid, const char *sp_entity_id);
/*
 * Remembers, until the browser session ends, the NameID (and format) just
 * asserted to sp for who's session, under its SessionIndex: what a
 * LogoutRequest must name to end it. No-op without store or session.
 * known (may be NULL: read here) is what the sign-on read from the store
 * already (fb_store_signon_get with FB_SAML_SLO_NS and the SessionIndex):
 * nothing is written when it holds the same record.
 */
enum fb_status fb_saml_slo_remember(struct fb_store *store, const struct fb_saml_sp *sp,
    const struct fb_saml_subject *who, const char *nameid, const char *nameid_format,
    const struct fb_store_signon *known, struct fb_err *err);

/* ---- request.c ------------------------------------------------------------------- */

/* An incoming request (AuthnRequest or LogoutRequest), decoded and pre-checked. */
struct fb_saml_incoming {
	char *xml; /* decoded message */
	size_t len;
	xmlDocPtr doc;
	char *msg;	   /* what lasso gets: the raw query (Redirect) or the base64 (POST) */
	char *relay_state; /* decoded */
	char *sig_alg;	   /* Redirect: SigAlg, decoded */
	int has_sig;
	int redirect;	     /* arrived over the HTTP-Redirect binding */
	enum fb_status qsig; /* Redirect: fb_saml_query_verify's verdict */
	const struct fb_saml_sp *sp;
	char *id;
	char *issuer;
	char *destination;
};

void fb_saml_incoming_cleanup(struct fb_saml_incoming *in);
/*
 * Decodes, bounds, parses (no DOCTYPE), checks the root element
 * (samlp:root_name), ID, Issuer (a known SP) and the SHA-1 policy. On
 * failure reply is a page, an audit line is written and err is filled.
 */
/* Gives sp's metadata to lasso, once per process (server.c). */
enum fb_status fb_saml_sp_lasso_add(const struct fb_saml_sp *sp, struct fb_err *err);
enum fb_status fb_saml_incoming_decode(struct fb_saml_idp *idp, enum fb_saml_binding binding,
    const char *query, const char *saml_request, const char *relay_state, const char *root_name,
    const char *reqid, struct fb_saml_incoming *in, struct fb_saml_reply *reply,
    struct fb_err *err);
/* Applies the SP's signing policy to lasso's signature status. */
enum fb_status fb_saml_incoming_signature(struct fb_saml_incoming *in, int lasso_status,
    const char *reqid, struct fb_saml_reply *reply, struct fb_err *err);
/* IssueInstant within the request lifetime. */
enum fb_status fb_saml_incoming_fresh(struct fb_saml_idp *idp, struct fb_saml_incoming *in,
    const char *reqid, struct fb_saml_reply *reply, struct fb_err *err);
/* The ID not seen before from this SP (store replay cache). */
enum fb_status fb_saml_incoming_replay(struct fb_saml_idp *idp, struct fb_store *store,
    struct fb_saml_incoming *in, const char *reqid, struct fb_saml_reply *reply,
    struct fb_err *err);

/*
 * The X.509 certificate in b64 (base64 DER, as in metadata), decoded; NULL
 * when it is not one. Every SP certificate is decoded here, once per process
 * and certificate (OpenSSL 3's d2i_X509 costs about 0.15 ms): the count of
 * calls is in fb_saml_cert_decodes (tests pin it).
 */
X509 *fb_saml_cert_decode(const char *b64);
extern unsigned long fb_saml_cert_decodes;
/*
 * fb_saml_metadata_parse, with the certificates of the metadata already
 * decoded by the caller (certs[i] for the i-th certificate, NULL: decode it
 * here); certs may be NULL.
 */
enum fb_status fb_saml_metadata_describe(const char *xml, size_t len, const char *cert_pem,
    X509 *const *certs, size_t ncerts, json_t **out, struct fb_err *err);
/*
 * What fb_saml_metadata_describe says of metadata parsed already (md,
 * borrowed; verified: its signature was checked): the SPs of a build are
 * described without parsing their XML again (start-up with 1,000 SPs). New.
 */
json_t *fb_saml_md_describe(const struct fb_saml_md *md, int verified, X509 *const *certs,
    size_t ncerts);

#endif
