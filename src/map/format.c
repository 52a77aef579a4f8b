/* SPDX-License-Identifier: Apache-2.0 */
/* map/format.c: Python's format specification mini-language for f-strings and str.format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "map/internal.h"

/* Widths and precisions above this are refused (Python: "Too many decimal digits"). */
#define SPEC_MAX_NUMBER 100000

struct spec {
	const char *fill; /* one UTF-8 character */
	size_t filln;
	char align; /* '<', '>', '^', '=', or 0 */
	char sign;  /* '+', '-', ' ', or 0 */
	int alt;
	long width;
	char group; /* ',', '_', or 0 */
	long prec;  /* -1 when absent */
	char type;  /* 0 when absent */
};

static int
spec_number(struct ctx *c, const char *s, size_t n, size_t *i, long *out)
{
	long v = 0;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (s[*i] - '0');
		if (v > SPEC_MAX_NUMBER)
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "too many decimal digits in format string (at most %d)",
			    SPEC_MAX_NUMBER);
		(*i)++;
	}
	*out = v;
	return 0;
}

static int
spec_parse(struct ctx *c, const char *s, size_t n, struct spec *sp)
{
	size_t i = 0, cl = 1;

	memset(sp, 0, sizeof(*sp));
	sp->fill = " ";
	sp->filln = 1;
	sp->prec = -1;
	while (cl < n && ((unsigned char)s[cl] & 0xc0) == 0x80)
		cl++;
	if (n > cl && strchr("<>=^", s[cl]) != NULL) {
		sp->fill = s;
		sp->filln = cl;
		sp->align = s[cl];
		i = cl + 1;
	} else if (n > 0 && strchr("<>=^", s[0]) != NULL) {
		sp->align = s[0];
		i = 1;
	}
	if (i < n && (s[i] == '+' || s[i] == '-' || s[i] == ' '))
		sp->sign = s[i++];
	if (i < n && s[i] == '#') {
		sp->alt = 1;
		i++;
	}
	if (i < n && s[i] == '0') {
		if (sp->align == 0) {
			sp->fill = "0";
			sp->filln = 1;
			sp->align = '=';
		}
		i++;
	}
	if (spec_number(c, s, n, &i, &sp->width) != 0)
		return -1;
	if (i < n && (s[i] == ',' || s[i] == '_'))
		sp->group = s[i++];
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "format specifier missing precision");
		if (spec_number(c, s, n, &i, &sp->prec) != 0)
			return -1;
	}
	if (i < n)
		sp->type = s[i++];
	if (i < n)
		return fb_map_rt_error(c, FB_MAP_EVALUE, "invalid format specifier '%.*s'", (int)n,
		    s);
	return 0;
}

/* Pads sign+prefix and body to the width. */
static int
pad(struct ctx *c, const struct spec *sp, char defalign, const char *pre, size_t pren,
    const char *body, size_t bodyn, struct val *out)
{
	struct sbuf b;
	size_t len = fb_utf8_len(pre, pren) + fb_utf8_len(body, bodyn);
	size_t fill = sp->width > 0 && (size_t)sp->width > len ? (size_t)sp->width - len : 0;
	char align = sp->align != 0 ? sp->align : defalign;
	size_t left = 0, right = 0;

	switch (align) {
	case '<':
		right = fill;
		break;
	case '^':
		left = fill / 2;
		right = fill - left;
		break;
	default: /* '>' and '=' */
		left = fill;
		break;
	}
	fb_map_sb_init(&b, c);
	if (fb_map_charge_bytes(c, fill * sp->filln + pren + bodyn) != 0)
		return -1;
	if (align == '=' && fb_map_sb_add(&b, pre, pren) != 0)
		return -1;
	for (size_t i = 0; i < left; i++)
		if (fb_map_sb_add(&b, sp->fill, sp->filln) != 0)
			return -1;
	if (align != '=' && fb_map_sb_add(&b, pre, pren) != 0)
		return -1;
	if (fb_map_sb_add(&b, body, bodyn) != 0)
		return -1;
	for (size_t i = 0; i < right; i++)
		if (fb_map_sb_add(&b, sp->fill, sp->filln) != 0)
			return -1;
	*out = fb_map_sb_val(&b);
	return 0;
}

/* Inserts sep every every digits into the leading run of digits of s (into out). */
static size_t
group_digits(const char *s, size_t n, char sep, int every, char *out)
{
	size_t nd = 0, k = 0;

	while (nd < n && ((s[nd] >= '0' && s[nd] <= '9') || (s[nd] >= 'a' && s[nd] <= 'f') ||
	                     (s[nd] >= 'A' && s[nd] <= 'F')))
		nd++;
	for (size_t i = 0; i < nd; i++) {
		if (i > 0 && (nd - i) % (size_t)every == 0)
			out[k++] = sep;
		out[k++] = s[i];
	}
	memcpy(out + k, s + nd, n - nd);
	return k + n - nd;
}

/* snprintf with a literal format for each conversion (no format strings built at run time). */
static int
cfloat(char *buf, size_t n, char type, int alt, int prec, double a)
{
	switch (type) {
	case 'e':
		return alt ? snprintf(buf, n, "%#.*e", prec, a) : snprintf(buf, n, "%.*e", prec, a);
	case 'E':
		return alt ? snprintf(buf, n, "%#.*E", prec, a) : snprintf(buf, n, "%.*E", prec, a);
	case 'f':
		return alt ? snprintf(buf, n, "%#.*f", prec, a) : snprintf(buf, n, "%.*f", prec, a);
	case 'F':
		return alt ? snprintf(buf, n, "%#.*F", prec, a) : snprintf(buf, n, "%.*F", prec, a);
	case 'G':
		return alt ? snprintf(buf, n, "%#.*G", prec, a) : snprintf(buf, n, "%.*G", prec, a);
	default:
		return alt ? snprintf(buf, n, "%#.*g", prec, a) : snprintf(buf, n, "%.*g", prec, a);
	}
}

static int
format_float(struct ctx *c, double f, const struct spec *sp, const char *tname, struct val *out)
{
	char type = sp->type, pre[2];
	long prec = sp->prec;
	int neg = signbit(f) != 0 && !isnan(f), n;
	double a = fabs(f);
	char *body, *grouped;
	size_t bn, pren = 0;
	int add_point = 0;

	if (type != 0 && strchr("eEfFgGn%", type) == NULL)
		return fb_map_rt_error(c, FB_MAP_EVALUE,
		    "unknown format code '%c' for object of type '%s'", type, tname);
	if (type == 0 && prec < 0) {
		char r[40];

		fb_map_float_repr(a, r, sizeof(r));
		body = fb_map_str_alloc(c, strlen(r) + 1);
		if (body == NULL)
			return -1;
		memcpy(body, r, strlen(r) + 1);
		bn = strlen(r);
	} else {
		if (type == '%')
			a *= 100;
		if (prec < 0)
			prec = 6;
		if (type == 0) {
			/* Like 'g', but a fixed-point result keeps one decimal. */
			add_point = 1;
			if (prec == 0)
				prec = 1;
		}
		if ((type == 'g' || type == 'G' || type == 'n') && prec == 0)
			prec = 1;
		n = cfloat(NULL, 0,
		    type == 0 || type == 'n' ? 'g'
		    : type == '%'            ? 'f'
		                             : type,
		    sp->alt, (int)prec, a);
		if ((body = fb_map_str_alloc(c, (size_t)n + 4)) == NULL)
			return -1;
		cfloat(body, (size_t)n + 1,
		    type == 0 || type == 'n' ? 'g'
		    : type == '%'            ? 'f'
		                             : type,
		    sp->alt, (int)prec, a);
		bn = (size_t)n;
		if (add_point && isfinite(a) && strpbrk(body, ".e") == NULL) {
			memcpy(body + bn, ".0", 2);
			bn += 2;
		}
		if (type == '%')
			body[bn++] = '%';
	}
	if (neg)
		pre[pren++] = '-';
	else if (sp->sign == '+' || sp->sign == ' ')
		pre[pren++] = sp->sign;
	if (sp->group != 0 && isfinite(a)) {
		if ((grouped = fb_map_str_alloc(c, bn * 2)) == NULL)
			return -1;
		bn = group_digits(body, bn, sp->group, 3, grouped);
		body = grouped;
	}
	return pad(c, sp, '>', pre, pren, body, bn, out);
}

static int
format_int(struct ctx *c, int64_t v, const struct spec *sp, const char *tname, struct val *out)
{
	char digits[80], grouped[160], pre[4];
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	int base = 10, every = 3;
	size_t nd = 0, pren = 0;
	char type = sp->type;

	switch (type) {
	case 0:
	case 'd':
	case 'n':
		break;
	case 'b':
		base = 2;
		every = 4;
		break;
	case 'o':
		base = 8;
		every = 4;
		break;
	case 'x':
	case 'X':
		base = 16;
		every = 4;
		break;
	case 'c': {
		char ch[4];
		size_t k = 0;
		uint64_t cp = (uint64_t)v;

		if (v < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return fb_map_rt_error(c, FB_MAP_EVALUE, "%%c arg not in range(0x110000)");
		k = fb_utf8_encode((uint32_t)cp, ch);
		{
			char *s = fb_map_str_alloc(c, k);

			if (s == NULL)
				return -1;
			memcpy(s, ch, k);
			return pad(c, sp, '<', "", 0, s, k, out);
		}
	}
	case 'e':
	case 'E':
	case 'f':
	case 'F':
	case 'g':
	case 'G':
	case '%':
		return format_float(c, (double)v, sp, tname, out);
	default:
		return fb_map_rt_error(c, FB_MAP_EVALUE,
		    "unknown format code '%c' for object of type '%s'", type, tname);
	}
	if (sp->prec >= 0)
		return fb_map_rt_error(c, FB_MAP_EVALUE,
		    "precision not allowed in integer format specifier");
	if (sp->group == ',' && base != 10)
		return fb_map_rt_error(c, FB_MAP_EVALUE, "cannot specify ',' with '%c'", type);
	do {
		digits[sizeof(digits) - 1 - nd++] = "0123456789abcdef"[mag % (uint64_t)base];
		mag /= (uint64_t)base;
	} while (mag > 0);
	if (type == 'X')
		for (size_t i = 0; i < nd; i++)
			if (digits[sizeof(digits) - 1 - i] >= 'a')
				digits[sizeof(digits) - 1 - i] -= 'a' - 'A';
	if (v < 0)
		pre[pren++] = '-';
	else if (sp->sign == '+' || sp->sign == ' ')
		pre[pren++] = sp->sign;
	if (sp->alt && base != 10) {
		pre[pren++] = '0';
		pre[pren++] = type == 'b' ? 'b' : type == 'o' ? 'o' : type;
	}
	if (sp->group != 0) {
		size_t gn =
		    group_digits(digits + sizeof(digits) - nd, nd, sp->group, every, grouped);
		char *s = fb_map_str_alloc(c, gn);

		if (s == NULL)
			return -1;
		memcpy(s, grouped, gn);
		return pad(c, sp, '>', pre, pren, s, gn, out);
	}
	{
		char *s = fb_map_str_alloc(c, nd);

		if (s == NULL)
			return -1;
		memcpy(s, digits + sizeof(digits) - nd, nd);
		return pad(c, sp, '>', pre, pren, s, nd, out);
	}
}

int
fb_map_format(struct ctx *c, struct val v, const char *s, size_t n, struct val *out)
{
	struct spec sp;

	if (n == 0)
		return fb_map_to_str(c, v, out);
	if (spec_parse(c, s, n, &sp) != 0)
		return -1;
	switch (v.t) {
	case VT_STR: {
		size_t len = v.n;

		if (sp.type != 0 && sp.type != 's')
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "unknown format code '%c' for object of type 'str'", sp.type);
		if (sp.sign != 0)
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "sign not allowed in string format specifier");
		if (sp.alt)
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "alternate form (#) not allowed in string format specifier");
		if (sp.align == '=')
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "'=' alignment not allowed in string format specifier");
		if (sp.group != 0)
			return fb_map_rt_error(c, FB_MAP_EVALUE, "cannot specify '%c' with 's'",
			    sp.group);
		if (sp.prec >= 0)
			len = fb_utf8_offset(v.u.s, v.n, (size_t)sp.prec);
		return pad(c, &sp, '<', "", 0, v.u.s, len, out);
	}
	case VT_BOOL:
	case VT_INT:
		return format_int(c, v.u.i, &sp, fb_map_type_name(v), out);
	case VT_FLOAT:
		return format_float(c, v.u.f, &sp, "float", out);
	default:
		return fb_map_rt_error(c, FB_MAP_ETYPE,
		    "unsupported format string passed to %s.__format__", fb_map_type_name(v));
	}
}
