/* SPDX-License-Identifier: Apache-2.0 */
/* saml/binding.c: the HTTP bindings' encodings (base64, raw DEFLATE, query strings), safe XML parsing, the POST form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "core/core.h"
#include "saml/saml.h"
#include "saml/internal.h"

/* ---- small encodings --------------------------------------------------------------- */

char *
fb_saml_b64(const void *p, size_t n)
{
	char *out = fb_xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

char *
fb_saml_id_new(void)
{
	unsigned char r[20];
	char hex[41];

	/* SECURITY: IDs from OpenSSL's CSPRNG, never glib's (it repeats across fork()). */
	fb_rand_bytes(r, sizeof(r));
	fb_hex_encode(r, sizeof(r), hex);
	/* SAML2 Core 1.3.4: an xs:ID must not start with a digit. */
	return fb_xasprintf("_%s", hex);
}

void
fb_saml_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

enum fb_status
fb_saml_url_encode(struct fb_buf *b, const char *s, struct fb_err *err)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		enum fb_status r;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			r = fb_buf_add(b, s, 1, err);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};

			r = fb_buf_add(b, e, 3, err);
		}
		if (r != FB_OK)
			return r;
	}
	return FB_OK;
}

/* base64 alphabet values (RFC 4648 4); 64 whitespace, 65 '=', 66 anything else. */
static unsigned char b64_val[256];

static void
b64_table_init(void)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	memset(b64_val, 66, sizeof(b64_val));
	for (int i = 0; i < 64; i++)
		b64_val[(unsigned char)a[i]] = (unsigned char)i;
	b64_val[' '] = b64_val['\t'] = b64_val['\r'] = b64_val['\n'] = 64;
	b64_val['='] = 65;
}

/*
 * Decodes base64 (RFC 4648 4, whitespace skipped) strictly, in one pass: any
 * other character, data after the padding, or a length that is not a
 * multiple of 4 is an error.
 */
static enum fb_status
b64_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen, struct fb_err *err)
{
	unsigned char *buf = fb_xmalloc(slen / 4 * 3 + 4), *o = buf;
	uint32_t acc = 0;
	size_t n = 0, pad = 0;
	enum fb_status r = FB_ERR_INVALID;

	if (b64_val[0] == 0)
		b64_table_init();
	for (size_t i = 0; i < slen; i++) {
		unsigned char v = b64_val[(unsigned char)s[i]];

		if (v < 64) {
			if (pad > 0) {
				fb_err_set(err, r, "not base64: data after '=' padding");
				goto out;
			}
			acc = acc << 6 | v;
			if (++n % 4 == 0) {
				*o++ = (unsigned char)(acc >> 16);
				*o++ = (unsigned char)(acc >> 8);
				*o++ = (unsigned char)acc;
			}
		} else if (v == 65) {
			pad++;
			n++;
		} else if (v != 64) {
			fb_err_set(err, r, "not base64: character 0x%02x at offset %zu",
			    (unsigned char)s[i], i);
			goto out;
		}
	}
	if (n == 0 || n % 4 != 0 || pad > 2) {
		fb_err_set(err, r, "not base64: %zu characters (a multiple of 4 is needed)", n);
		goto out;
	}
	/* The last quantum with its padding: one or two bytes. */
	if (pad > 0) {
		acc <<= 6 * pad;
		*o++ = (unsigned char)(acc >> 16);
		if (pad == 1)
			*o++ = (unsigned char)(acc >> 8);
	}
	*outlen = (size_t)(o - buf);
	*o = '\0';
	*out = buf;
	buf = NULL;
	r = FB_OK;
out:
	free(buf);
	return r;
}

/* Raw DEFLATE (RFC 1951), as the Redirect binding uses (SAML2 Bindings 3.4.4.1). */
static enum fb_status
inflate_raw(const unsigned char *in, size_t inlen, char **out, size_t *outlen, struct fb_err *err)
{
	z_stream z;
	char *buf = fb_xmalloc(FB_SAML_INFLATED_MAX + 1);
	enum fb_status r = FB_ERR_INVALID;
	int zr;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
		free(buf);
		return fb_err_set(err, FB_ERR_INTERNAL, "inflateInit2 failed");
	}
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)inlen;
	z.next_out = (unsigned char *)buf;
	/* SECURITY: the output is bounded: a deflate bomb stops at the limit. */
	z.avail_out = FB_SAML_INFLATED_MAX;
	zr = inflate(&z, Z_FINISH);
	if (zr == Z_BUF_ERROR && z.avail_out == 0) {
		r = fb_err_set(err, FB_ERR_LIMIT, "the inflated message is larger than %d bytes",
		    FB_SAML_INFLATED_MAX);
		goto out;
	}
	if (zr != Z_STREAM_END) {
		fb_err_set(err, r, "not DEFLATE data: %s",
		    z.msg != NULL ? z.msg : "truncated stream");
		goto out;
	}
	*outlen = FB_SAML_INFLATED_MAX - z.avail_out;
	buf[*outlen] = '\0';
	*out = buf;
	buf = NULL;
	r = FB_OK;
out:
	inflateEnd(&z);
	free(buf);
	return r;
}

int
fb_saml_has_doctype(const char *xml, size_t len)
{
	static const char needle[] = "<!DOCTYPE";
	size_t n = sizeof(needle) - 1;

	/* Case-insensitive scan: libxml2 only accepts the upper-case form, but be strict. */
	/* An ENTITY declaration can only live in a DTD, but refuse it outright too. */
	for (const char *p = xml, *end = xml + len; (p = memchr(p, '<', (size_t)(end - p))) != NULL;
	     p++)
		if (end - p >= 2 && p[1] == '!' &&
		    (((size_t)(end - p) >= n && strncasecmp(p, needle, n) == 0) ||
		        (end - p >= 8 && strncasecmp(p, "<!ENTITY", 8) == 0)))
			return 1;
	return 0;
}

enum fb_status
fb_saml_message_decode(const char *param, int inflate, char **out, size_t *len,
    struct fb_err *err)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0, plen;
	enum fb_status r;

	*out = NULL;
	*len = 0;
	if (param == NULL || param[0] == '\0')
		return fb_err_set(err, FB_ERR_INVALID, "the message parameter is missing or empty");
	plen = strlen(param);
	/* SECURITY: bounded before decoding. */
	if (plen > FB_SAML_MESSAGE_MAX)
		return fb_err_set(err, FB_ERR_LIMIT, "the message is %zu characters long (at most %d)",
		    plen, FB_SAML_MESSAGE_MAX);
	if ((r = b64_decode(param, plen, &raw, &rawlen, err)) != FB_OK)
		return r;
	if (inflate) {
		r = inflate_raw(raw, rawlen, out, len, err);
		free(raw);
		if (r != FB_OK)
			return r;
	} else {
		*out = (char *)raw;
		*len = rawlen;
	}
	if (memchr(*out, '\0', *len) != NULL || !fb_utf8_check(*out, *len)) {
		r = fb_err_set(err, FB_ERR_INVALID, "the message is not UTF-8 text");
		goto fail;
	}
	/* An early, clearer refusal; fb_saml_xml_parse refuses DTDs whatever the encoding. */
	if (fb_saml_has_doctype(*out, *len)) {
		r = fb_err_set(err, FB_ERR_INVALID, "the message has a DOCTYPE (DTDs are refused)");
		goto fail;
	}
	return FB_OK;
fail:
	free(*out);
	*out = NULL;
	*len = 0;
	return r;
}

int
fb_saml_xml_is(const xmlNode *n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       xmlStrEqual(n->ns->href, BAD_CAST ns) && xmlStrEqual(n->name, BAD_CAST name);
}

xmlNodePtr
fb_saml_xml_child(xmlNodePtr n, const char *ns, const char *name)
{
	for (xmlNodePtr c = n != NULL ? n->children : NULL; c != NULL; c = c->next)
		if (fb_saml_xml_is(c, ns, name))
			return c;
	return NULL;
}

char *
fb_saml_xml_prop(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	char *out = v != NULL ? fb_xstrdup((const char *)v) : NULL;

	xmlFree(v);
	return out;
}

/* SAX hook: a DOCTYPE (internal or external subset) stops the parse (SECURITY: no DTD at all). */
static void
xml_refuse_dtd(void *ctx, const xmlChar *name, const xmlChar *external_id,
    const xmlChar *system_id)
{
	xmlParserCtxtPtr c = ctx;

	*(int *)c->_private = 1;
	xmlStopParser(c);
}

/* 1 when enc (may be NULL: none declared) names UTF-8. */
static int
xml_encoding_ok(const xmlChar *enc)
{
	return enc == NULL || strcasecmp((const char *)enc, "UTF-8") == 0 ||
	       strcasecmp((const char *)enc, "UTF8") == 0;
}

enum fb_status
fb_saml_xml_parse(const char *xml, size_t len, xmlDocPtr *out, struct fb_err *err)
{
	xmlParserCtxtPtr c = NULL;
	xmlDocPtr doc = NULL;
	const xmlChar *declared = NULL;
	int dtd = 0;
	enum fb_status r = FB_ERR_INVALID;

	*out = NULL;
	if (len > INT32_MAX)
		return fb_err_set(err, FB_ERR_LIMIT, "the XML is too large");
	/*
	 * SECURITY: UTF-8 only (a UTF-16 or UTF-32 byte order mark is not
	 * UTF-8; UTF-8's own is). The parser is told the bytes are UTF-8 whatever
	 * the declaration says, so no other decoder (UTF-7...) ever runs and a
	 * DOCTYPE cannot hide in another encoding; a declaration naming another
	 * encoding is refused below.
	 */
	if (memchr(xml, '\0', len) != NULL || !fb_utf8_check(xml, len))
		return fb_err_set(err, r, "the XML is not UTF-8 text (only UTF-8 is accepted)");
	if ((c = xmlNewParserCtxt()) == NULL)
		return fb_err_set(err, FB_ERR_NOMEM, "xmlNewParserCtxt failed");
	/* SECURITY: the parser itself stops at a DOCTYPE, before any declaration in it is read. */
	c->_private = &dtd;
	c->sax->internalSubset = xml_refuse_dtd;
	c->sax->externalSubset = xml_refuse_dtd;
	/* SECURITY: no network, no entity substitution (no NOENT), no DTD loading (no DTDLOAD). */
	doc = xmlCtxtReadMemory(c, xml, (int)len, NULL, "UTF-8",
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	/* The declared encoding: libxml2 keeps it on the input when not the forced one. */
	if (c->input != NULL && c->input->encoding != NULL)
		declared = c->input->encoding;
	else if (doc != NULL)
		declared = doc->encoding;
	if (!xml_encoding_ok(declared)) {
		fb_err_set(err, r, "the XML declares encoding %.40s (only UTF-8 is accepted)",
		    (const char *)declared);
		goto out;
	}
	if (dtd || (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL))) {
		fb_err_set(err, r, "the XML has a DOCTYPE (DTDs are refused)");
		goto out;
	}
	if (doc == NULL || !c->wellFormed) {
		const xmlError *xe = xmlCtxtGetLastError(c);

		fb_err_set(err, r, "not well-formed XML: %s",
		    xe != NULL && xe->message != NULL ? xe->message : "parse error");
		goto out;
	}
	if (xmlDocGetRootElement(doc) == NULL) {
		fb_err_set(err, r, "the XML has no root element");
		goto out;
	}
	*out = doc;
	doc = NULL;
	r = FB_OK;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	xmlFreeParserCtxt(c);
	return r;
}

char *
fb_saml_doc_dump(xmlDocPtr doc, size_t *len)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlSaveCtxtPtr ctx = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL);
	char *out;

	xmlSaveDoc(ctx, doc);
	xmlSaveClose(ctx);
	out = fb_xstrndup((const char *)xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
	if (len != NULL)
		*len = strlen(out);
	xmlBufferFree(buf);
	return out;
}

const char *
fb_saml_query_param(const char *query, const char *name, size_t *len, int *dup)
{
	size_t nlen = strlen(name);
	const char *found = NULL;

	*len = 0;
	if (dup != NULL)
		*dup = 0;
	if (query == NULL)
		return NULL;
	for (const char *p = query; *p != '\0';) {
		size_t plen = strcspn(p, "&");

		if (plen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			if (found != NULL) {
				if (dup != NULL)
					*dup = 1;
			} else {
				found = p + nlen + 1;
				*len = plen - nlen - 1;
			}
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	return found;
}

char *
fb_saml_url_decode(const char *s, size_t len, int plus_space)
{
	char *out = fb_xmalloc(len + 1);
	size_t k = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len) {
				free(out);
				return NULL;
			}
			hi = g_ascii_xdigit_value(s[i + 1]);
			lo = g_ascii_xdigit_value(s[i + 2]);
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			out[k++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '+' && plus_space) {
			out[k++] = ' ';
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
	if (memchr(out, '\0', k) != NULL) {
		free(out);
		return NULL;
	}
	return out;
}

enum fb_status
fb_saml_param_decode(const char *s, size_t len, int plus_space, const char *name, char **out,
    struct fb_err *err)
{
	if ((*out = fb_saml_url_decode(s, len, plus_space)) != NULL)
		return FB_OK;
	/* SECURITY: an encoded NUL would cut the value silently in C strings: refused by name. */
	for (size_t i = 0; i + 2 < len; i++)
		if (s[i] == '%' && s[i + 1] == '0' && s[i + 2] == '0')
			return fb_err_set(err, FB_ERR_INVALID, "the %s holds an encoded NUL (%%00)",
			    name);
	return fb_err_set(err, FB_ERR_INVALID, "the %s has a bad %%-escape", name);
}

enum fb_status
fb_saml_relay_state_check(const char *rs, struct fb_err *err)
{
	size_t n;

	if (rs == NULL)
		return FB_OK;
	n = strlen(rs);
	if (n > FB_SAML_RELAY_STATE_MAX)
		return fb_err_set(err, FB_ERR_LIMIT,
		    "the RelayState is %zu bytes long (at most %d are passed through)", n,
		    FB_SAML_RELAY_STATE_MAX);
	if (!fb_utf8_check(rs, n))
		return fb_err_set(err, FB_ERR_INVALID, "the RelayState is not UTF-8");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)rs[i];

		/* C0 controls and DEL, and the C1 controls (U+0080..U+009F: 0xC2 0x80..0x9F). */
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && i + 1 < n && (unsigned char)rs[i + 1] < 0xa0))
			return fb_err_set(err, FB_ERR_INVALID,
			    "the RelayState holds a control character at byte %zu", i);
	}
	return FB_OK;
}

enum fb_status
fb_saml_form_get(const char *body, size_t len, const char *name, char **out, struct fb_err *err)
{
	char *copy = fb_xstrndup(body != NULL ? body : "", body != NULL ? len : 0);
	size_t vlen = 0;
	int dup = 0;
	const char *v = fb_saml_query_param(copy, name, &vlen, &dup);
	enum fb_status r = FB_OK;

	*out = NULL;
	if (v == NULL)
		r = fb_err_set(err, FB_ERR_NOTFOUND, "no %s field", name);
	else if (dup)
		r = fb_err_set(err, FB_ERR_INVALID, "the %s field is given twice", name);
	else
		r = fb_saml_param_decode(v, vlen, 1, name, out, err);
	free(copy);
	return r;
}

void
fb_saml_reply_cleanup(struct fb_saml_reply *r)
{
	if (r == NULL)
		return;
	free(r->post_url);
	free(r->post_value);
	free(r->relay_state);
	free(r->redirect_url);
	free(r->title);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}
