/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/mtls.c: where a request's client certificate comes from (RFC 8705):
 * the TLS handshake of our own listener (server.tls.client_ca), or, behind a
 * proxy that ends TLS, the header it sets (oidc.mtls.header: Envoy's
 * x-forwarded-client-cert, or nginx's $ssl_client_escaped_cert), read only
 * from server.trusted_proxies.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "http/internal.h"

/*
 * Certificates of a proxy's header, by the header's exact value: parsing a
 * certificate costs more than signing the token, and a service sends the
 * same one again and again. Of this worker's event loop only.
 */
#define PARSED_MAX 32
static struct {
	char *value;
	struct fb_crypto_cert *cert;
} parsed[PARSED_MAX];
static size_t parsed_next;

/* The certificate of header value h (a new reference), parsed once; NULL: err says why. */
static struct fb_crypto_cert *
header_cert(const char *h, enum fb_conf_mtls_header format, struct fb_err *err)
{
	struct fb_crypto_cert *c = NULL;
	char *pem = NULL;
	size_t slot;

	for (size_t i = 0; i < PARSED_MAX; i++)
		if (parsed[i].value != NULL && strcmp(parsed[i].value, h) == 0)
			return fb_crypto_cert_ref(parsed[i].cert);
	if (fb_http_client_cert_header_parse(h, format, &pem, err) != FB_OK ||
	    fb_crypto_cert_parse(pem, strlen(pem), &c, err) != FB_OK) {
		free(pem);
		return NULL;
	}
	free(pem);
	slot = parsed_next++ % PARSED_MAX;
	free(parsed[slot].value);
	fb_crypto_cert_free(parsed[slot].cert);
	parsed[slot].value = fb_xstrdup(h);
	parsed[slot].cert = fb_crypto_cert_ref(c);
	return c;
}

/* The end of the XFCC part starting at s: the first sep outside double quotes. */
static const char *
xfcc_part_end(const char *s, const char *end, char sep)
{
	int quoted = 0;

	for (; s < end; s++) {
		if (quoted && *s == '\\' && s + 1 < end)
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (!quoted && *s == sep)
			return s;
	}
	return quoted ? NULL : end;
}

/* The value [v, end) unquoted (\" kept as "), new; NULL when a quote is unbalanced. */
static char *
xfcc_unquote(const char *v, const char *end)
{
	char *out, *o;

	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (v == end || *v != '"')
		return fb_xstrndup(v, (size_t)(end - v));
	if (end - v < 2 || end[-1] != '"')
		return NULL;
	o = out = fb_xmalloc((size_t)(end - v));
	for (v++, end--; v < end; v++) {
		if (*v == '\\' && v + 1 < end)
			v++;
		*o++ = *v;
	}
	*o = '\0';
	return out;
}

enum fb_status
fb_http_client_cert_header_parse(const char *value, enum fb_conf_mtls_header format, char **pem,
    struct fb_err *err)
{
	const char *elem, *end, *p, *e;
	char *cert = NULL, *chain = NULL, *enc, *dec;
	size_t declen = 0;
	enum fb_status r = FB_ERR_INVALID;

	*pem = NULL;
	if (value == NULL || value[0] == '\0' || strlen(value) > FB_HTTP_CLIENT_CERT_HEADER_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "empty, or longer than %d bytes",
		    FB_HTTP_CLIENT_CERT_HEADER_MAX);
	if (format == FB_CONF_MTLS_PEM) {
		enc = fb_xstrdup(value);
		goto decode;
	}
	/*
	 * Envoy: elements separated by commas, each added by one proxy; the
	 * last is the one our trusted proxy appended (the client it saw).
	 */
	end = value + strlen(value);
	elem = value;
	for (p = value; (e = xfcc_part_end(p, end, ',')) != NULL && e < end; p = e + 1)
		elem = e + 1;
	if (e == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "x-forwarded-client-cert: unbalanced quote");
	end = xfcc_part_end(elem, end, ',');
	for (p = elem; p < end; p = e + 1) {
		const char *eq;
		char **slot = NULL;

		if ((e = xfcc_part_end(p, end, ';')) == NULL)
			goto bad;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if ((eq = memchr(p, '=', (size_t)(e - p))) == NULL) {
			if (p == e)
				continue;
			goto bad;
		}
		if (eq - p == 4 && strncasecmp(p, "Cert", 4) == 0)
			slot = &cert;
		else if (eq - p == 5 && strncasecmp(p, "Chain", 5) == 0)
			slot = &chain;
		if (slot == NULL)
			continue; /* By, Hash, Subject, URI, DNS: not needed */
		if (*slot != NULL || (*slot = xfcc_unquote(eq + 1, e)) == NULL)
			goto bad;
		if (e == end)
			break;
	}
	/* Chain holds the leaf first and the intermediates: better for verifying. */
	if (chain != NULL && chain[0] != '\0') {
		enc = chain;
		chain = NULL;
	} else if (cert != NULL && cert[0] != '\0') {
		enc = cert;
		cert = NULL;
	} else {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "x-forwarded-client-cert: no Cert or Chain in the last element");
		goto out;
	}
decode:
	dec = evhttp_uridecode(enc, 0, &declen);
	free(enc);
	if (dec == NULL || declen != strlen(dec) ||
	    strstr(dec, "-----BEGIN CERTIFICATE-----") == NULL) {
		free(dec);
		r = fb_err_set(err, FB_ERR_INVALID, "not a url-encoded PEM certificate");
		goto out;
	}
	*pem = dec;
	r = FB_OK;
	goto out;
bad:
	r = fb_err_set(err, FB_ERR_INVALID, "x-forwarded-client-cert: a malformed element");
out:
	free(cert);
	free(chain);
	return r;
}

/* How many times req carries header name. */
static int
header_count(const struct fb_http_req *req, const char *name)
{
	const struct evkeyval *kv;
	int n = 0;

	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req->ev), next)
		n += strcasecmp(kv->key, name) == 0;
	return n;
}

struct fb_crypto_cert *
fb_http_req_client_cert(struct fb_http_req *req)
{
	const struct fb_conf *conf = req->env->conf;
	const char *h =
	    conf->oidc_mtls_header != NULL ? fb_http_req_header(req, conf->oidc_mtls_header) : NULL;
	struct fb_crypto_cert *c = NULL;
	struct fb_err err = {0};

	if (h != NULL && !req->proxied) {
		/* SECURITY: anyone can send the header; only a trusted proxy's counts. */
		fb_audit(fb_http_req_id(req), "oidc_mtls_header_ignored",
		    "%s from %s, not a trusted proxy: the request has no client certificate",
		    conf->oidc_mtls_header, fb_http_req_peer(req));
		return NULL;
	}
	if (h != NULL) {
		/* SECURITY: two of them: which one the proxy set cannot be told. */
		if (header_count(req, conf->oidc_mtls_header) > 1)
			fb_err_set(&err, FB_ERR_INVALID, "the header is given more than once");
		else
			c = header_cert(h, conf->oidc_mtls_header_format, &err);
		if (c == NULL)
			fb_audit(fb_http_req_id(req), "oidc_mtls_header_malformed",
			    "%s from %s: %s: the request has no client certificate",
			    conf->oidc_mtls_header, fb_http_req_peer(req), err.msg);
		return c;
	}
	/* A trusted proxy that passes certificates: its own is not the client's. */
	if (req->proxied && conf->oidc_mtls_header != NULL)
		return NULL;
	return fb_http_req_tls_cert(req);
}
