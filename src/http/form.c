/* SPDX-License-Identifier: Apache-2.0 */
/* http/form.c: application/x-www-form-urlencoded bodies, parsed with limits and checked UTF-8. */
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "http/web.h"

struct form_field {
	const char *name;
	const char *value;
};

struct fb_http_form {
	struct form_field f[FB_HTTP_FORM_FIELDS_MAX];
	size_t n;
};

/*
 * Decodes one name or value of n bytes (WHATWG URL "application/x-www-
 * form-urlencoded parser": '+' is a space, %XX a byte) into a new arena
 * string; max bounds the decoded length. is_value allows TAB, CR and LF.
 */
static enum fb_status
decode(struct fb_arena *a, const char *s, size_t n, size_t max, int is_value, const char *what,
    const char **out, struct fb_err *err)
{
	char *d = fb_arena_alloc(a, n + 1);
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < n ? fb_hex_value(s[i + 1]) : -1;
			int lo = i + 2 < n ? fb_hex_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return fb_err_set(err, FB_ERR_INVALID,
				    "form %s: malformed %%-escape", what);
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		d[len++] = c;
	}
	d[len] = '\0';
	if (len > max)
		return fb_err_set(err, FB_ERR_LIMIT, "form %s: %zu bytes, more than %zu", what, len,
		    max);
	/* SECURITY: no NUL (it would cut the value short of what was checked), valid UTF-8. */
	if (!fb_utf8_check(d, len))
		return fb_err_set(err, FB_ERR_INVALID, "form %s: not valid UTF-8", what);
	for (size_t i = 0; i < len; i++) {
		unsigned char u = (unsigned char)d[i];

		if ((u < 0x20 || u == 0x7f) && !(is_value && (u == '\t' || u == '\r' || u == '\n')))
			return fb_err_set(err, FB_ERR_INVALID, "form %s: control character", what);
	}
	*out = d;
	return FB_OK;
}

enum fb_status
fb_http_form_parse(struct fb_arena *a, const char *body, size_t len, struct fb_http_form **out,
    struct fb_err *err)
{
	struct fb_http_form *f = fb_arena_alloc(a, sizeof(*f));
	const char *p = body, *end = body + len;
	enum fb_status r = FB_ERR_INVALID;

	*out = NULL;
	memset(f, 0, sizeof(*f));
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *nend = eq != NULL ? eq : stop;
		const char *vstart = eq != NULL ? eq + 1 : stop;
		struct form_field *fld;

		if (stop == p) { /* "a=1&&b=2": empty piece */
			p = stop + 1;
			continue;
		}
		if (f->n == FB_HTTP_FORM_FIELDS_MAX) {
			r = fb_err_set(err, FB_ERR_LIMIT, "form: more than %d fields",
			    FB_HTTP_FORM_FIELDS_MAX);
			goto out;
		}
		fld = &f->f[f->n];
		if ((r = decode(a, p, (size_t)(nend - p), FB_HTTP_FORM_NAME_MAX, 0, "field name",
		         &fld->name, err)) != FB_OK)
			goto out;
		if ((r = decode(a, vstart, (size_t)(stop - vstart), FB_HTTP_FORM_VALUE_MAX, 1,
		         fld->name, &fld->value, err)) != FB_OK)
			goto out;
		f->n++;
		p = stop + (amp != NULL ? 1 : 0);
	}
	*out = f;
	r = FB_OK;
out:
	return r;
}

const char *
fb_http_form_get(const struct fb_http_form *f, const char *name)
{
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].name, name) == 0)
			return f->f[i].value;
	return NULL;
}

int
fb_http_form_field(const struct fb_http_form *f, size_t i, const char **name, const char **value)
{
	if (f == NULL || i >= f->n)
		return 0;
	*name = f->f[i].name;
	*value = f->f[i].value;
	return 1;
}

size_t
fb_http_form_count(const struct fb_http_form *f)
{
	return f != NULL ? f->n : 0;
}

int
fb_http_form_content_type_check(const char *ct)
{
	size_t n = strlen(FB_HTTP_FORM_CONTENT_TYPE);

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, FB_HTTP_FORM_CONTENT_TYPE, n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}
