/* SPDX-License-Identifier: Apache-2.0 */
/* saml/server.c: the IdP of one worker: keys parsed once, one LassoServer with every SP, compiled mappings. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <libxml/parser.h>
#include <lasso/lasso.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/keys.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "ident/ident.h"
#include "map/map.h"
#include "saml/saml.h"
#include "saml/internal.h"

/* lasso, libxml2 and xmlsec talk through glib's log and xmlsec's callback: into ours, at debug. */
static void
glib_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
	fb_log(FB_LOG_DEBUG, "%s: %s", domain != NULL ? domain : "glib", msg);
}

static void
xmlsec_log(const char *file, int line, const char *func, const char *obj, const char *subj,
    int reason, const char *msg)
{
	fb_log(FB_LOG_DEBUG, "xmlsec: %s: %s: reason %d: %s", func != NULL ? func : "?",
	    subj != NULL ? subj : "", reason, msg != NULL ? msg : "");
}

void
fb_saml_lib_init(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	lasso_init();
	/* SECURITY: no external DTD, no entity substitution for any parser in this process. */
	xmlLoadExtDtdDefaultValue = 0;
	xmlSubstituteEntitiesDefault(0);
	g_log_set_handler("Lasso", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
	    glib_log, NULL);
	g_log_set_handler("libxml2", G_LOG_LEVEL_MASK, glib_log, NULL);
	g_log_set_handler("libxmlsec", G_LOG_LEVEL_MASK, glib_log, NULL);
	xmlSecErrorsSetCallback(xmlsec_log);
}

/* ---- keys ------------------------------------------------------------------------- */

void
fb_saml_keys_free(struct fb_saml_key *keys, size_t n)
{
	for (size_t i = 0; i < n && keys != NULL; i++) {
		free(keys[i].id);
		if (keys[i].key != NULL)
			xmlSecKeyDestroy(keys[i].key);
		free(keys[i].cert_b64);
		free(keys[i].cert_pem);
	}
	free(keys);
}

/* The certificate as one-line base64 DER and as PEM (both new). */
static int
cert_texts(X509 *cert, char **b64, char **pem)
{
	unsigned char *der = NULL;
	int dlen = i2d_X509(cert, &der);
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long plen;

	if (dlen <= 0 || bio == NULL || PEM_write_bio_X509(bio, cert) != 1 ||
	    (plen = BIO_get_mem_data(bio, &p)) <= 0) {
		OPENSSL_free(der);
		BIO_free(bio);
		return -1;
	}
	*b64 = fb_saml_b64(der, (size_t)dlen);
	*pem = fb_xstrndup(p, (size_t)plen);
	OPENSSL_free(der);
	BIO_free(bio);
	return 0;
}

enum fb_status
fb_saml_keys_load(const struct fb_keyring *kr, struct fb_saml_key **out, size_t *n,
    struct fb_err *err)
{
	size_t count = fb_crypto_keyring_count(kr);
	struct fb_saml_key *keys = fb_xcalloc(count + 1, sizeof(*keys));
	const struct fb_key *active = fb_crypto_keyring_active(kr);
	enum fb_status r = FB_ERR_CONFIG;

	*out = NULL;
	*n = 0;
	/* The active key first: SPs that read only one certificate read the signing one. */
	for (size_t i = 0, j = 1; i < count; i++) {
		const struct fb_key *k = fb_crypto_keyring_get(kr, i);
		struct fb_key_info info;
		struct fb_saml_key *sk;
		xmlSecKeyDataPtr data;
		unsigned char *der = NULL;
		int dlen;

		sk = k == active || (active == NULL && i == 0) ? &keys[0] : &keys[j++];
		fb_crypto_key_info(k, &info);
		sk->id = fb_xstrdup(info.id);
		sk->active = k == active;
		sk->pkey = fb_crypto_key_pkey(k);
		sk->is_ec = EVP_PKEY_base_id(sk->pkey) == EVP_PKEY_EC;
		if (cert_texts(fb_crypto_key_cert(k), &sk->cert_b64, &sk->cert_pem) != 0) {
			fb_err_openssl(err, r, "key '%s': cannot encode its certificate", info.id);
			goto fail;
		}
		/* The EVP_PKEY is shared with the keyring (one more reference, adopted by xmlsec). */
		EVP_PKEY_up_ref(sk->pkey);
		if ((data = xmlSecOpenSSLEvpKeyAdopt(sk->pkey)) == NULL) {
			EVP_PKEY_free(sk->pkey);
			fb_err_set(err, r, "key '%s': xmlsec cannot use it", info.id);
			goto fail;
		}
		if ((sk->key = xmlSecKeyCreate()) == NULL || xmlSecKeySetValue(sk->key, data) < 0) {
			xmlSecKeyDataDestroy(data);
			fb_err_set(err, r, "key '%s': xmlsec cannot use it", info.id);
			goto fail;
		}
		dlen = i2d_X509(fb_crypto_key_cert(k), &der);
		if (dlen <= 0 || xmlSecCryptoAppKeyCertLoadMemory(sk->key, der, (xmlSecSize)dlen,
				     xmlSecKeyDataFormatCertDer) < 0) {
			OPENSSL_free(der);
			fb_err_set(err, r, "key '%s': xmlsec cannot attach its certificate", info.id);
			goto fail;
		}
		OPENSSL_free(der);
	}
	*out = keys;
	*n = count;
	return FB_OK;
fail:
	fb_saml_keys_free(keys, count);
	return r;
}

/* ---- files ------------------------------------------------------------------------- */

enum fb_status
fb_saml_file_read(const char *path, char **out, size_t *len, struct fb_err *err)
{
	struct fb_buf b;
	char chunk[8192];
	ssize_t got;
	int fd;
	enum fb_status r = FB_OK;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return fb_err_set(err, FB_ERR_CONFIG, "cannot read '%s': %s", path,
		    strerror(errno));
	fb_buf_init(&b, FB_SAML_METADATA_FILE_MAX);
	for (;;) {
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = fb_err_set(err, FB_ERR_CONFIG, "cannot read '%s': %s", path,
			    strerror(errno));
			break;
		}
		if (got == 0)
			break;
		if (fb_buf_add(&b, chunk, (size_t)got, NULL) != FB_OK) {
			r = fb_err_set(err, FB_ERR_CONFIG, "'%s' is larger than %d bytes", path,
			    FB_SAML_METADATA_FILE_MAX);
			break;
		}
	}
	close(fd);
	if (r != FB_OK) {
		fb_buf_cleanup(&b);
		return r;
	}
	*len = b.len;
	*out = fb_buf_take(&b);
	if (*out == NULL)
		*out = fb_xstrdup("");
	return FB_OK;
}

/* ---- service providers ----------------------------------------------------------- */

const struct fb_saml_endpoint *
fb_saml_md_default_acs(const struct fb_saml_md *md)
{
	const struct fb_saml_endpoint *best = NULL;

	/* SAML2 Metadata 2.2.3: the one marked isDefault, else the first without isDefault="false". */
	for (size_t i = 0; i < md->nacs; i++)
		if (fb_saml_is_post(md->acs[i].binding) && md->acs[i].is_default == 1)
			return &md->acs[i];
	for (size_t i = 0; i < md->nacs; i++)
		if (fb_saml_is_post(md->acs[i].binding) &&
		    (best == NULL || md->acs[i].index < best->index))
			best = &md->acs[i];
	return best;
}

static void
sp_cleanup(struct fb_saml_sp *sp)
{
	free(sp->metadata_xml);
	for (size_t i = 0; sp->certs != NULL && i < sp->md.ncerts; i++)
		X509_free(sp->certs[i]);
	free(sp->certs);
	fb_saml_md_cleanup(&sp->md);
	if (sp->enc_mngr != NULL)
		xmlSecKeysMngrDestroy(sp->enc_mngr);
	if (sp->enc_key != NULL)
		xmlSecKeyDestroy(sp->enc_key);
	for (size_t i = 0; i < sp->nverify_keys; i++)
		EVP_PKEY_free(sp->verify_keys[i]);
	free(sp->verify_keys);
	free(sp->attrs);
}

static enum fb_status
sp_setup(struct fb_saml_idp *idp, struct fb_saml_sp *sp, const struct fb_conf_saml_sp *c,
    size_t index, struct fb_err *err)
{
	const char *where = c->metadata != NULL ? c->metadata : "inline configuration";
	xmlDocPtr doc = NULL;
	size_t len = 0;
	enum fb_status r;

	sp->conf = c;
	sp->idp = idp;
	if (c->metadata != NULL) {
		if ((r = fb_saml_file_read(c->metadata, &sp->metadata_xml, &len, err)) != FB_OK)
			goto fail;
	} else {
		if ((r = fb_saml_sp_metadata_build(c, &sp->metadata_xml, err)) != FB_OK)
			goto fail;
		len = strlen(sp->metadata_xml);
	}
	if ((r = fb_saml_md_parse(sp->metadata_xml, len, &sp->md, &doc, err)) != FB_OK)
		goto fail;
	xmlFreeDoc(doc);
	if (!sp->md.is_sp) {
		r = fb_err_set(err, FB_ERR_CONFIG, "%s describes an IdP, not a service provider",
		    where);
		goto fail;
	}
	if ((sp->default_acs = fb_saml_md_default_acs(&sp->md)) == NULL) {
		r = fb_err_set(err, FB_ERR_CONFIG,
		    "%s declares no AssertionConsumerService with the HTTP-POST binding", where);
		goto fail;
	}
	/* The SP's signing keys, parsed once: Redirect query signatures are checked with them. */
	sp->verify_keys = fb_xcalloc(sp->md.ncerts + 1, sizeof(*sp->verify_keys));
	sp->certs = fb_xcalloc(sp->md.ncerts + 1, sizeof(*sp->certs));
	for (size_t i = 0; i < sp->md.ncerts; i++) {
		X509 *x;

		if (strcmp(sp->md.certs[i].use, "encryption") == 0)
			continue;
		if ((x = fb_saml_cert_decode(sp->md.certs[i].b64)) != NULL) {
			EVP_PKEY *k = X509_get_pubkey(x);

			if (k != NULL)
				sp->verify_keys[sp->nverify_keys++] = k;
			/* fb_saml_check describes the certificates: decoded once. */
			if (idp->keyless)
				sp->certs[i] = x;
			else
				X509_free(x);
		}
	}
	sp->has_signing_cert = sp->nverify_keys > 0;
	/*
	 * SECURITY: the SP must sign when its entry says so, else when its metadata
	 * does (AuthnRequestsSigned), else when the IdP asks SPs to
	 * (saml.idp.want_authn_requests_signed, published as WantAuthnRequestsSigned)
	 * and the SP has a signing certificate (AWS's SPs have none and never sign).
	 */
	sp->require_signed =
	    c->require_signed_requests_set
	        ? c->require_signed_requests
	        : sp->md.authn_requests_signed ||
	              (idp->conf->saml_want_requests_signed && sp->has_signing_cert);
	if (sp->require_signed && !sp->has_signing_cert) {
		r = fb_err_set(err, FB_ERR_CONFIG,
		    "signed requests are required (require_signed_requests, the metadata's "
		    "AuthnRequestsSigned or saml.idp.want_authn_requests_signed) but %s has no "
		    "signing certificate to verify them",
		    where);
		goto fail;
	}
	if (c->encrypt_assertion) {
		for (size_t i = 0; i < sp->md.ncerts && sp->enc_key == NULL; i++) {
			unsigned char *der = NULL;
			gsize dlen = 0;

			if (strcmp(sp->md.certs[i].use, "signing") == 0)
				continue;
			der = g_base64_decode(sp->md.certs[i].b64, &dlen);
			sp->enc_key = xmlSecCryptoAppKeyLoadMemory(der, (xmlSecSize)dlen,
			    xmlSecKeyDataFormatCertDer, NULL, NULL, NULL);
			g_free(der);
		}
		if (sp->enc_key == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG,
			    "encrypt_assertion is true but %s has no usable encryption certificate",
			    where);
			goto fail;
		}
		if ((r = fb_saml_enc_mngr_new(sp->enc_key, &sp->enc_mngr, err)) != FB_OK)
			goto fail;
	}
	sp->sign_key = idp->active;
	if (idp->nkeys == 0) /* check-config before the first start: no key to check against */
		goto keys_done;
	if (c->signing_key != NULL) {
		sp->sign_key = NULL;
		for (size_t i = 0; i < idp->nkeys; i++)
			if (strcmp(idp->keys[i].id, c->signing_key) == 0)
				sp->sign_key = &idp->keys[i];
		if (sp->sign_key == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG, "signing_key '%s' is not a loaded key",
			    c->signing_key);
			goto fail;
		}
	}
	if ((c->signature_algorithm == FB_CONF_SAML_ECDSA_SHA256) != (sp->sign_key->is_ec != 0)) {
		r = fb_err_set(err, FB_ERR_CONFIG,
		    "signature_algorithm %s does not fit key '%s' (%s)",
		    c->signature_algorithm == FB_CONF_SAML_ECDSA_SHA256 ? "ecdsa-sha256" : "rsa-*",
		    sp->sign_key->id, sp->sign_key->is_ec ? "an EC key" : "an RSA key");
		goto fail;
	}
keys_done:
	sp->nattrs = c->nattributes;
	sp->attrs = fb_xcalloc(c->nattributes + 1, sizeof(*sp->attrs));
	for (size_t i = 0; i < c->nattributes; i++) {
		sp->attrs[i].conf = &c->attributes[i];
		sp->attrs[i].rule = fb_map_set_get(idp->maps, c->attributes[i].mapping);
		if (sp->attrs[i].rule == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG, "attributes[%zu]: no mapping '%s' in %s", i,
			    c->attributes[i].mapping, idp->conf->mappings_dir);
			goto fail;
		}
	}
	if (c->nameid_mapping != NULL &&
	    (sp->nameid_rule = fb_map_set_get(idp->maps, c->nameid_mapping)) == NULL) {
		r = fb_err_set(err, FB_ERR_CONFIG, "nameid.mapping: no mapping '%s' in %s",
		    c->nameid_mapping, idp->conf->mappings_dir);
		goto fail;
	}
	/* lasso gets the SP on its first request (fb_saml_sp_lasso_add), not here. */
	return FB_OK;
fail:
	/* "path: message", the form check-config places at the path's line. */
	fb_err_prefix(err, "saml.service_providers[%zu]: service provider '%s'", index, c->name);
	return r;
}

/* ---- the IdP ---------------------------------------------------------------------- */

void
fb_saml_idp_free(struct fb_saml_idp *idp)
{
	if (idp == NULL)
		return;
	for (size_t i = 0; i < idp->nsps; i++)
		sp_cleanup(&idp->sps[i]);
	free(idp->sps);
	if (idp->server != NULL)
		lasso_server_destroy(idp->server);
	fb_map_set_free(idp->own_maps);
	fb_saml_keys_free(idp->keys, idp->nkeys);
	free(idp->metadata);
	free(idp->entity_id);
	free(idp->sso_url);
	free(idp->slo_url);
	free(idp);
}

/* 1 when some SP names a mapping. */
static int
needs_maps(const struct fb_conf *conf)
{
	for (size_t i = 0; i < conf->nsaml_sps; i++)
		if (conf->saml_sps[i].nattributes > 0 || conf->saml_sps[i].nameid_mapping != NULL)
			return 1;
	return 0;
}

enum fb_status
fb_saml_idp_new(const struct fb_conf *conf, const struct fb_keyring *kr,
    const struct fb_map_set *maps, struct fb_saml_idp **out, struct fb_err *err)
{
	return fb_saml_idp_build(conf, kr, 0, maps, out, err);
}

enum fb_status
fb_saml_idp_build(const struct fb_conf *conf, const struct fb_keyring *kr, int keyless,
    const struct fb_map_set *maps, struct fb_saml_idp **out, struct fb_err *err)
{
	struct fb_saml_idp *idp = fb_xcalloc(1, sizeof(*idp));
	enum fb_status r;

	*out = NULL;
	fb_saml_lib_init();
	idp->conf = conf;
	idp->kr = kr;
	idp->keyless = keyless;
	if (conf->public_url == NULL || conf->saml_entity_id == NULL) {
		r = fb_err_set(err, FB_ERR_CONFIG, "saml: server.public_url is not set");
		goto fail;
	}
	idp->entity_id = fb_xstrdup(conf->saml_entity_id);
	idp->sso_url = fb_xasprintf("%s%s", conf->public_url, FB_SAML_PATH_SSO);
	idp->slo_url = fb_xasprintf("%s%s", conf->public_url, FB_SAML_PATH_SLO);
	if (kr == NULL && keyless) {
		/* Only to check the SPs: nothing is signed with this IdP. */
	} else if (kr == NULL || fb_crypto_keyring_count(kr) == 0) {
		r = fb_err_set(err, FB_ERR_CONFIG, "saml: no signing key is loaded");
		goto fail;
	} else {
		if ((r = fb_saml_keys_load(kr, &idp->keys, &idp->nkeys, err)) != FB_OK)
			goto fail;
		idp->active = &idp->keys[0];
	}
	idp->maps = maps;
	if (maps == NULL && needs_maps(conf)) {
		json_t *errors = NULL;

		/* A broken rule no SP uses is only a warning (daemon/check.c); sp_setup checks the rest. */
		r = fb_map_set_load_usable(conf->mappings_dir, &idp->own_maps, &errors, err);
		idp->maps = idp->own_maps;
		json_decref(errors);
		if (r != FB_OK) {
			fb_err_prefix(err, "mappings.dir");
			r = FB_ERR_CONFIG;
			goto fail;
		}
	}
	idp->metadata = fb_saml_idp_metadata_build(conf, idp->entity_id, idp->keys, idp->nkeys);
	/* No key for lasso: it only parses and verifies; fedbroker signs with xmlsec. */
	idp->server = lasso_server_new_from_buffers(idp->metadata, NULL, NULL, NULL);
	if (idp->server == NULL) {
		r = fb_err_set(err, FB_ERR_INTERNAL, "lasso refuses the IdP metadata");
		goto fail;
	}
	idp->server->signature_method = LASSO_SIGNATURE_METHOD_RSA_SHA256;
	idp->sps = fb_xcalloc(conf->nsaml_sps + 1, sizeof(*idp->sps));
	for (size_t i = 0; i < conf->nsaml_sps; i++) {
		if ((r = sp_setup(idp, &idp->sps[i], &conf->saml_sps[i], i, err)) != FB_OK) {
			idp->nsps = i + 1;
			goto fail;
		}
		idp->nsps = i + 1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(idp->sps[j].md.entity_id, idp->sps[i].md.entity_id) == 0) {
				r = fb_err_set(err, FB_ERR_CONFIG,
				    "saml.service_providers[%zu]: service provider '%s': entity id "
				    "'%s' is also that of %s",
				    i, conf->saml_sps[i].name, idp->sps[i].md.entity_id,
				    conf->saml_sps[j].name);
				goto fail;
			}
	}
	*out = idp;
	return FB_OK;
fail:
	fb_saml_idp_free(idp);
	return r;
}

const char *
fb_saml_idp_entity_id(const struct fb_saml_idp *idp)
{
	return idp->entity_id;
}

const char *
fb_saml_idp_cert_pem(const struct fb_saml_idp *idp)
{
	return idp->active->cert_pem;
}

size_t
fb_saml_idp_sp_count(const struct fb_saml_idp *idp)
{
	return idp->nsps;
}

const struct fb_saml_sp *
fb_saml_idp_sp_at(const struct fb_saml_idp *idp, size_t i)
{
	return i < idp->nsps ? &idp->sps[i] : NULL;
}

const struct fb_saml_sp *
fb_saml_idp_sp_get(const struct fb_saml_idp *idp, const char *name)
{
	for (size_t i = 0; name != NULL && i < idp->nsps; i++)
		if (strcmp(idp->sps[i].conf->name, name) == 0)
			return &idp->sps[i];
	return NULL;
}

const struct fb_saml_sp *
fb_saml_idp_sp_by_entity_id(const struct fb_saml_idp *idp, const char *entity_id)
{
	for (size_t i = 0; entity_id != NULL && i < idp->nsps; i++)
		if (strcmp(idp->sps[i].md.entity_id, entity_id) == 0)
			return &idp->sps[i];
	return NULL;
}

/*
 * Gives sp's metadata to lasso once, on the first request lasso reads for it (an
 * AuthnRequest, a LogoutRequest), not at start: lasso reads each KeyDescriptor with an
 * xmlsec keys manager of its own, which loads the system's CA bundle (about 17 ms each),
 * so 1,000 SPs took 35 s to start (bench/store.sh). Each worker adds the SPs it meets.
 */
enum fb_status
fb_saml_sp_lasso_add(const struct fb_saml_sp *sp, struct fb_err *err)
{
	struct fb_saml_idp *idp = sp->idp;
	struct fb_saml_sp *w = &idp->sps[sp - idp->sps];
	int rc;

	if (w->in_lasso)
		return FB_OK;
	rc = lasso_server_add_provider_from_buffer(idp->server, LASSO_PROVIDER_ROLE_SP,
	    w->metadata_xml, NULL, NULL);
	if (rc != 0)
		return fb_err_set(err, FB_ERR_CONFIG,
		    "saml: service provider '%s': lasso refuses its metadata: [%d] %s", w->conf->name,
		    rc, lasso_strerror(rc));
	w->in_lasso = 1;
	return FB_OK;
}

const struct fb_conf_saml_sp *
fb_saml_sp_conf(const struct fb_saml_sp *sp)
{
	return sp->conf;
}

const char *
fb_saml_sp_name(const struct fb_saml_sp *sp)
{
	return sp->conf->name;
}

const char *
fb_saml_sp_entity_id(const struct fb_saml_sp *sp)
{
	return sp->md.entity_id;
}

const char *
fb_saml_sp_default_acs(const struct fb_saml_sp *sp)
{
	return sp->default_acs->url;
}

int
fb_saml_sp_conf_allowed(const struct fb_conf *conf, const struct fb_conf_saml_sp *sp,
    const char *username, const char *const *upstream, size_t nupstream)
{
	const struct fb_conf_group **groups = NULL;
	size_t n;
	int r = 0;

	if (sp->ngroups == 0)
		return 1;
	n = fb_ident_groups_with(conf, username, upstream, nupstream, &groups);
	for (size_t i = 0; i < sp->ngroups && !r; i++)
		for (size_t j = 0; j < n && !r; j++)
			r = strcmp(groups[j]->name, sp->groups[i]) == 0;
	free(groups);
	return r;
}

enum fb_status
fb_saml_file_write(const char *path, const char *data, size_t len, mode_t mode, struct fb_err *err)
{
	char *tmp = fb_xasprintf("%s.tmp.%ld", path, (long)getpid());
	enum fb_status r = FB_OK;
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
		r = fb_err_set(err, FB_ERR_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		if ((n = write(fd, data + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			r = fb_err_set(err, FB_ERR_IO, "%s: %s", tmp, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	if (r == FB_OK && fsync(fd) != 0)
		r = fb_err_set(err, FB_ERR_IO, "%s: %s", tmp, strerror(errno));
	if (close(fd) != 0 && r == FB_OK)
		r = fb_err_set(err, FB_ERR_IO, "%s: %s", tmp, strerror(errno));
	if (r == FB_OK && rename(tmp, path) != 0)
		r = fb_err_set(err, FB_ERR_IO, "%s: %s", path, strerror(errno));
	if (r != FB_OK)
		unlink(tmp);
out:
	free(tmp);
	return r;
}
