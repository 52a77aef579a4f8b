/* SPDX-License-Identifier: Apache-2.0 */
/* map/builtins.c: the builtin functions, the str/dict/list methods and the regex pair. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Regular expressions: PCRE2 rather than POSIX regexec. glibc's regexec has
 * no backtracking blow-up but is quadratic on unanchored searches ((a+)+$
 * over 10,000 characters takes about a second) and lacks Python's syntax
 * (\d, non-greedy, named groups). PCRE2 speaks Python's dialect and every
 * match runs under a match limit, a depth limit and a heap limit, so a
 * catastrophic pattern gives up after a bounded amount of work with an
 * error instead of hanging; that work is charged to the step budget.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/core.h"
#include "map/internal.h"

/* Longest pattern accepted. */
#define RE_MAX_PATTERN 1000
/* Match limits tried in turn, and the steps each attempt costs. */
static const uint32_t re_limits[] = {200, 20000};
static const int64_t re_costs[] = {10, 1000};

const struct builtin_info fb_map_builtins[B_COUNT] = {
    [B_LEN] = {"len", 1, 1, ""},
    [B_STR] = {"str", 0, 1, ""},
    [B_INT] = {"int", 0, 2, ""},
    [B_FLOAT] = {"float", 0, 1, ""},
    [B_BOOL] = {"bool", 0, 1, ""},
    [B_LIST] = {"list", 0, 1, ""},
    [B_DICT] = {"dict", 0, 1, "*"},
    [B_SORTED] = {"sorted", 1, 1, "reverse"},
    [B_REVERSED] = {"reversed", 1, 1, ""},
    [B_ANY] = {"any", 1, 1, ""},
    [B_ALL] = {"all", 1, 1, ""},
    [B_MIN] = {"min", 1, 255, "default"},
    [B_MAX] = {"max", 1, 255, "default"},
    [B_RANGE] = {"range", 1, 3, ""},
    [B_ISINSTANCE] = {"isinstance", 2, 2, ""},
    [B_RE_MATCH] = {"re_match", 2, 2, ""},
    [B_RE_SUB] = {"re_sub", 3, 3, "count"},
};

const struct method_info fb_map_methods[M_NUM] = {
    [M_LOWER] = {"lower", 0, 0, ""},
    [M_UPPER] = {"upper", 0, 0, ""},
    [M_STRIP] = {"strip", 0, 1, ""},
    [M_LSTRIP] = {"lstrip", 0, 1, ""},
    [M_RSTRIP] = {"rstrip", 0, 1, ""},
    [M_SPLIT] = {"split", 0, 2, "sep maxsplit"},
    [M_RSPLIT] = {"rsplit", 0, 2, "sep maxsplit"},
    [M_JOIN] = {"join", 1, 1, ""},
    [M_REPLACE] = {"replace", 2, 3, ""},
    [M_STARTSWITH] = {"startswith", 1, 1, ""},
    [M_ENDSWITH] = {"endswith", 1, 1, ""},
    [M_FORMAT] = {"format", 0, 255, "*"},
    [M_PARTITION] = {"partition", 1, 1, ""},
    [M_RPARTITION] = {"rpartition", 1, 1, ""},
    [M_FIND] = {"find", 1, 1, ""},
    [M_COUNT] = {"count", 1, 1, ""},
    [M_REMOVEPREFIX] = {"removeprefix", 1, 1, ""},
    [M_REMOVESUFFIX] = {"removesuffix", 1, 1, ""},
    [M_GET] = {"get", 1, 2, ""},
    [M_KEYS] = {"keys", 0, 0, ""},
    [M_VALUES] = {"values", 0, 0, ""},
    [M_ITEMS] = {"items", 0, 0, ""},
    [M_UPDATE] = {"update", 1, 1, ""},
    [M_APPEND] = {"append", 1, 1, ""},
    [M_EXTEND] = {"extend", 1, 1, ""},
    [M_INDEX] = {"index", 1, 1, ""},
    [M_GROUP_ATTRIBUTES] = {"group_attributes", 0, 0, ""},
};

static const struct val *
kwarg(const struct node *n, const struct val *kw, const char *name)
{
	for (int i = 0; i < n->nkw; i++)
		if (strcmp(n->kwname[i], name) == 0)
			return &kw[i];
	return NULL;
}

static int
need_str(struct ctx *c, struct val v, const char *what)
{
	if (v.t != VT_STR)
		return fb_map_rt_error(c, FB_MAP_ETYPE, "%s must be str, not %s", what,
		    fb_map_type_name(v));
	return 0;
}

static int
need_int(struct ctx *c, struct val v, int64_t *out)
{
	if (v.t != VT_INT && v.t != VT_BOOL)
		return fb_map_rt_error(c, FB_MAP_ETYPE,
		    "'%s' object cannot be interpreted as an integer", fb_map_type_name(v));
	*out = v.u.i;
	return 0;
}

static struct val
copy_str(struct ctx *c, const char *s, size_t n, int *err)
{
	char *p = fb_map_str_alloc(c, n);

	if (p == NULL) {
		*err = -1;
		return fb_map_none();
	}
	memcpy(p, s, n);
	return fb_map_str(p, n);
}

/* Collects any iterable into a new list. */
static int
to_list(struct ctx *c, struct val v, struct list **out)
{
	struct list *l;

	if (v.t == VT_LIST || v.t == VT_TUPLE) {
		if ((l = fb_map_list_new(c, v.u.l->len)) == NULL ||
		    fb_map_charge(c, v.u.l->len / 8) != 0)
			return -1;
		if (v.u.l->len > 0)
			memcpy(l->v, v.u.l->v, v.u.l->len * sizeof(struct val));
		l->len = v.u.l->len;
	} else {
		if ((l = fb_map_list_new(c, 0)) == NULL || fb_map_list_extend(c, l, v) != 0)
			return -1;
	}
	*out = l;
	return 0;
}

/* ---- numbers from text ------------------------------------------------------- */

static int
parse_int(struct ctx *c, struct val s, int64_t base, int64_t *out)
{
	const char *p = s.u.s, *end = s.u.s + s.n;
	char buf[80];
	size_t k = 0;
	int neg = 0;
	char *e;

	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	if (p < end && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	if (end - p >= 2 && p[0] == '0' && (base == 0 || base == 16 || base == 8 || base == 2)) {
		int ch = p[1] | 0x20;
		int b = ch == 'x' ? 16 : ch == 'o' ? 8 : ch == 'b' ? 2 : 0;

		if (b != 0 && (base == 0 || base == b)) {
			base = b;
			p += 2;
			if (p < end && *p == '_')
				p++;
		}
	}
	if (base == 0) {
		base = 10;
		if (end - p > 1 && p[0] == '0' && strspn(p, "0_") < (size_t)(end - p))
			goto bad;
	}
	if (neg)
		buf[k++] = '-';
	for (const char *q = p; q < end; q++) {
		if (*q == '_' && q > p && q + 1 < end && q[-1] != '_')
			continue;
		if (k >= sizeof(buf) - 1 || !isalnum((unsigned char)*q))
			goto bad;
		buf[k++] = *q;
	}
	buf[k] = '\0';
	if (p == end || buf[neg] == '\0')
		goto bad;
	errno = 0;
	*out = strtoll(buf, &e, (int)base);
	if (*e != '\0')
		goto bad;
	if (errno == ERANGE)
		return fb_map_rt_error(c, FB_MAP_EVALUE, "integer overflow (integers are 64-bit)");
	return 0;
bad:
	return fb_map_rt_error(c, FB_MAP_EVALUE, "invalid literal for int() with base %lld: '%.*s'",
	    (long long)base, s.n > 100 ? 100 : (int)s.n, s.u.s);
}

static int
parse_float(struct ctx *c, struct val s, double *out)
{
	const char *p = s.u.s, *end = s.u.s + s.n;
	char buf[400];
	size_t k = 0;
	char *e;

	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	for (const char *q = p; q < end; q++) {
		if (*q == '_' && q > p && q + 1 < end && isdigit((unsigned char)q[-1]) &&
		    isdigit((unsigned char)q[1]))
			continue;
		/* No hex floats or other strtod extras beyond Python's syntax. */
		if (k >= sizeof(buf) - 1 ||
		    (strchr("0123456789+-.eE", *q) == NULL && strchr("infINFtyTYaA", *q) == NULL))
			goto bad;
		buf[k++] = *q;
	}
	buf[k] = '\0';
	if (k == 0)
		goto bad;
	{
		const char *w = buf + (buf[0] == '+' || buf[0] == '-');

		if (isalpha((unsigned char)*w) && strcasecmp(w, "inf") != 0 &&
		    strcasecmp(w, "infinity") != 0 && strcasecmp(w, "nan") != 0)
			goto bad;
	}
	*out = strtod(buf, &e);
	if (*e != '\0' || e == buf)
		goto bad;
	return 0;
bad:
	return fb_map_rt_error(c, FB_MAP_EVALUE, "could not convert string to float: '%.*s'",
	    s.n > 100 ? 100 : (int)s.n, s.u.s);
}

/* ---- sorting ------------------------------------------------------------------- */

/* A stable merge sort; reverse keeps equal items in their original order, as Python does. */
static int
sort_vals(struct ctx *c, struct val *v, uint32_t n, int reverse)
{
	struct val *tmp, *src = v, *dst;

	if (n < 2)
		return 0;
	if ((tmp = fb_map_alloc(c, n * sizeof(*tmp))) == NULL)
		return -1;
	dst = tmp;
	for (uint32_t w = 1; w < n; w *= 2) {
		for (uint32_t lo = 0; lo < n; lo += 2 * w) {
			uint32_t mid = lo + w < n ? lo + w : n,
			         hi = lo + 2 * w < n ? lo + 2 * w : n;
			uint32_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi) {
				int r;

				if (fb_map_charge(c, 1) != 0)
					return -1;
				r = reverse ? fb_map_compare(c, src[i], src[j], "<")
				            : fb_map_compare(c, src[j], src[i], "<");
				if (r == -2)
					return -1;
				dst[k++] = r < 0 ? src[j++] : src[i++];
			}
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		{
			struct val *t = src;

			src = dst;
			dst = t;
		}
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	return 0;
}

/* ---- regular expressions --------------------------------------------------------- */

static pcre2_code *
re_compile(const char *pat, size_t n, char *err, size_t errlen)
{
	pcre2_compile_context *cc;
	pcre2_code *re;
	PCRE2_SIZE eo;
	int ec;

	if (n > RE_MAX_PATTERN) {
		snprintf(err, errlen, "regular expression longer than %d bytes", RE_MAX_PATTERN);
		return NULL;
	}
	if ((cc = pcre2_compile_context_create(NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pcre2_set_parens_nest_limit(cc, 50);
	re = pcre2_compile((PCRE2_SPTR)pat, n, PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &ec,
	    &eo, cc);
	pcre2_compile_context_free(cc);
	if (re == NULL) {
		PCRE2_UCHAR msg[200];

		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(err, errlen, "invalid regular expression at offset %zu: %s", (size_t)eo,
		    (const char *)msg);
	}
	return re;
}

void *
fb_map_regex_compile_const(struct cerr *e, int line, int col, const char *pat, size_t n)
{
	char err[300];
	pcre2_code *re = re_compile(pat, n, err, sizeof(err));

	if (re == NULL)
		fb_map_cerror(e, FB_MAP_EVALUE, line, col, "%s", err);
	return re;
}

void
fb_map_regex_free(void *re)
{
	pcre2_code_free(re);
}

struct rematch {
	pcre2_code *re;
	int owned;
	pcre2_match_data *md;
	pcre2_match_context *mc;
};

static void
rematch_cleanup(struct rematch *m)
{
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mc);
	if (m->owned)
		pcre2_code_free(m->re);
}

static int
rematch_init(struct ctx *c, const struct node *n, struct val pat, struct rematch *m)
{
	char err[300];

	memset(m, 0, sizeof(*m));
	if (need_str(c, pat, "the pattern") != 0)
		return -1;
	if (n->re != NULL) {
		m->re = n->re;
	} else {
		if (fb_map_charge(c, 10 + pat.n) != 0)
			return -1;
		if ((m->re = re_compile(pat.u.s, pat.n, err, sizeof(err))) == NULL)
			return fb_map_rt_error(c, FB_MAP_EVALUE, "%s", err);
		m->owned = 1;
	}
	m->md = pcre2_match_data_create_from_pattern(m->re, NULL);
	m->mc = pcre2_match_context_create(NULL);
	if (m->md == NULL || m->mc == NULL) {
		rematch_cleanup(m);
		return fb_map_rt_error(c, FB_MAP_EBUDGET,
		    "out of memory for the regular expression");
	}
	pcre2_set_depth_limit(m->mc, 1000);
	pcre2_set_heap_limit(m->mc, 1024); /* KiB */
	return 0;
}

/*
 * 1 matched, 0 not, -1 error. Tries a small match limit, then a larger one.
 * SECURITY: bounded backtracking (match, depth and heap limits), charged to
 * the step budget: no regex denial of service.
 */
static int
rematch_exec(struct ctx *c, struct rematch *m, struct val s, size_t off, uint32_t opts)
{
	int rc = PCRE2_ERROR_NOMATCH;

	for (size_t t = 0; t < sizeof(re_limits) / sizeof(re_limits[0]); t++) {
		if (fb_map_charge(c, re_costs[t]) != 0 || fb_map_charge_bytes(c, s.n - off) != 0)
			return -1;
		pcre2_set_match_limit(m->mc, re_limits[t]);
		rc = pcre2_match(m->re, (PCRE2_SPTR)s.u.s, s.n, off, opts, m->md, m->mc);
		if (rc != PCRE2_ERROR_MATCHLIMIT)
			break;
	}
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT)
		return fb_map_rt_error(c, FB_MAP_EVALUE,
		    "regular expression needs too much backtracking on this input (simplify the "
		    "pattern)");
	if (rc < 0) {
		PCRE2_UCHAR msg[200];

		pcre2_get_error_message(rc, msg, sizeof(msg));
		return fb_map_rt_error(c, FB_MAP_EVALUE, "regular expression failed: %s",
		    (const char *)msg);
	}
	return 1;
}

static int
re_match(struct ctx *c, const struct node *n, struct val *args, struct val *out)
{
	struct rematch m;
	int r;

	if (need_str(c, args[1], "re_match()'s second argument") != 0 ||
	    rematch_init(c, n, args[0], &m) != 0)
		return -1;
	/* Anchored at the start, like Python's re.match. */
	r = rematch_exec(c, &m, args[1], 0, PCRE2_ANCHORED);
	if (r == 1) {
		uint32_t ng = pcre2_get_ovector_count(m.md);
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m.md);
		struct list *l = fb_map_list_new(c, ng);

		if (l == NULL) {
			r = -1;
		} else {
			for (uint32_t i = 0; i < ng; i++)
				l->v[i] = ov[2 * i] == PCRE2_UNSET
				              ? fb_map_none()
				              : fb_map_str(args[1].u.s + ov[2 * i],
				                    ov[2 * i + 1] - ov[2 * i]);
			l->len = ng;
			*out = fb_map_list_val(l, 0);
		}
	} else if (r == 0) {
		*out = fb_map_none();
	}
	rematch_cleanup(&m);
	return r < 0 ? -1 : 0;
}

/* Appends repl with Python's \1, \g<1>, \g<name> and escapes expanded. */
static int
re_expand(struct ctx *c, struct rematch *m, struct val repl, struct val s, struct sbuf *b)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
	uint32_t ng = pcre2_get_ovector_count(m->md);

	for (uint32_t i = 0; i < repl.n; i++) {
		char ch = repl.u.s[i];
		long g = -1;

		if (ch != '\\' || i + 1 >= repl.n) {
			if (fb_map_sb_addc(b, ch) != 0)
				return -1;
			continue;
		}
		ch = repl.u.s[++i];
		if (ch >= '0' && ch <= '9') {
			g = ch - '0';
			if (i + 1 < repl.n && repl.u.s[i + 1] >= '0' && repl.u.s[i + 1] <= '9')
				g = g * 10 + (repl.u.s[++i] - '0');
		} else if (ch == 'g' && i + 1 < repl.n && repl.u.s[i + 1] == '<') {
			const char *name = repl.u.s + i + 2;
			const char *end = memchr(name, '>', repl.n - (i + 2));
			char buf[64];

			if (end == NULL || end == name || (size_t)(end - name) >= sizeof(buf))
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "bad group reference in the replacement");
			memcpy(buf, name, (size_t)(end - name));
			buf[end - name] = '\0';
			if (isdigit((unsigned char)buf[0])) {
				char *e;

				g = strtol(buf, &e, 10);
				if (*e != '\0')
					g = ng;
			} else {
				int num = pcre2_substring_number_from_name(m->re, (PCRE2_SPTR)buf);

				if (num < 0)
					return fb_map_rt_error(c, FB_MAP_EVALUE,
					    "unknown group name '%s' in the replacement", buf);
				g = num;
			}
			i = (uint32_t)(end - repl.u.s);
		} else {
			static const char from[] = "ntr\\abfv", to[] = "\n\t\r\\\a\b\f\v";
			const char *p = strchr(from, ch);

			if (p != NULL && ch != '\0') {
				if (fb_map_sb_addc(b, to[p - from]) != 0)
					return -1;
				continue;
			}
			if (isalpha((unsigned char)ch))
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "bad escape \\%c in the replacement", ch);
			if (fb_map_sb_addc(b, '\\') != 0 || fb_map_sb_addc(b, ch) != 0)
				return -1;
			continue;
		}
		if (g < 0 || g >= (long)ng)
			return fb_map_rt_error(c, FB_MAP_EVALUE, "invalid group reference %ld", g);
		if (ov[2 * g] != PCRE2_UNSET &&
		    fb_map_sb_add(b, s.u.s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]) != 0)
			return -1;
	}
	return 0;
}

static int
re_sub(struct ctx *c, const struct node *n, struct val *args, const struct val *kw, struct val *out)
{
	struct val repl = args[1], s = args[2];
	const struct val *cv = kwarg(n, kw, "count");
	int64_t count = 0, done = 0;
	struct rematch m;
	struct sbuf b;
	size_t off = 0, last = 0;
	uint32_t opts = 0;
	int r = 0;

	if (need_str(c, repl, "re_sub()'s replacement") != 0 ||
	    need_str(c, s, "re_sub()'s third argument") != 0)
		return -1;
	if (cv != NULL && need_int(c, *cv, &count) != 0)
		return -1;
	if (rematch_init(c, n, args[0], &m) != 0)
		return -1;
	fb_map_sb_init(&b, c);
	while (off <= s.n && (count <= 0 || done < count)) {
		PCRE2_SIZE *ov;

		r = rematch_exec(c, &m, s, off, opts);
		if (r < 0)
			break;
		if (r == 0) {
			if (opts == 0 || off >= s.n)
				break;
			/* No non-empty match where an empty one was: move on one character. */
			off++;
			while (off < s.n && ((unsigned char)s.u.s[off] & 0xc0) == 0x80)
				off++;
			opts = 0;
			continue;
		}
		ov = pcre2_get_ovector_pointer(m.md);
		if ((r = fb_map_sb_add(&b, s.u.s + last, ov[0] - last)) != 0 ||
		    (r = re_expand(c, &m, repl, s, &b)) != 0)
			break;
		last = ov[1];
		off = ov[1];
		done++;
		opts = ov[0] == ov[1] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
	}
	if (r >= 0 && (r = fb_map_sb_add(&b, s.u.s + last, s.n - last)) == 0)
		*out = fb_map_sb_val(&b);
	rematch_cleanup(&m);
	return r < 0 ? -1 : 0;
}

/* ---- builtins ---------------------------------------------------------------------- */

static int
isinstance(struct ctx *c, struct val v, struct val t, int *out)
{
	if (t.t == VT_TUPLE) {
		*out = 0;
		for (uint32_t i = 0; i < t.u.l->len && !*out; i++)
			if (isinstance(c, v, t.u.l->v[i], out) != 0)
				return -1;
		return 0;
	}
	if (t.t != VT_TYPE)
		return fb_map_rt_error(c, FB_MAP_ETYPE,
		    "isinstance() arg 2 must be a type or tuple of types, not %s",
		    fb_map_type_name(t));
	/* bool is a kind of int, as in Python. */
	*out = v.t == t.n || (t.n == VT_INT && v.t == VT_BOOL);
	return 0;
}

static int
minmax(struct ctx *c, const struct node *n, struct val *args, int nargs, const struct val *kw,
    int max, struct val *out)
{
	const struct val *def = kwarg(n, kw, "default");
	struct val best = {0}, x;
	struct iter it;
	int have = 0, r;

	if (nargs > 1) {
		if (def != NULL)
			return fb_map_rt_error(c, FB_MAP_ETYPE,
			    "cannot specify a default for %s() with multiple positional arguments",
			    max ? "max" : "min");
		for (int i = 0; i < nargs; i++) {
			if (have) {
				if ((r = fb_map_compare(c, args[i], best, max ? ">" : "<")) == -2)
					return -1;
				if ((max && r > 0) || (!max && r < 0))
					best = args[i];
			} else {
				best = args[i];
				have = 1;
			}
		}
		*out = best;
		return 0;
	}
	if (fb_map_iter_init(c, args[0], &it) != 0)
		return -1;
	while ((r = fb_map_iter_next(c, &it, &x)) == 1) {
		if (fb_map_charge(c, 1) != 0)
			return -1;
		if (have) {
			int k = fb_map_compare(c, x, best, max ? ">" : "<");

			if (k == -2)
				return -1;
			if ((max && k > 0) || (!max && k < 0))
				best = x;
		} else {
			best = x;
			have = 1;
		}
	}
	if (r < 0)
		return -1;
	if (!have) {
		if (def != NULL) {
			*out = *def;
			return 0;
		}
		return fb_map_rt_error(c, FB_MAP_EVALUE, "%s() arg is an empty sequence",
		    max ? "max" : "min");
	}
	*out = best;
	return 0;
}

static int
dict_update(struct ctx *c, struct dict *d, struct val v)
{
	struct iter it;
	struct val x;
	int r;

	if (v.t == VT_DICT) {
		if (fb_map_dict_force(c, v.u.d) != 0)
			return -1;
		for (uint32_t i = 0; i < v.u.d->len; i++)
			if (fb_map_charge(c, 1) != 0 || fb_map_dict_set(c, d, v.u.d->e[i].k,
			                                    v.u.d->e[i].klen, v.u.d->e[i].v) != 0)
				return -1;
		return 0;
	}
	if (fb_map_iter_init(c, v, &it) != 0)
		return -1;
	while ((r = fb_map_iter_next(c, &it, &x)) == 1) {
		if (fb_map_charge(c, 1) != 0)
			return -1;
		if ((x.t != VT_LIST && x.t != VT_TUPLE) || x.u.l->len != 2)
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "dictionary update sequence element is not a pair");
		if (x.u.l->v[0].t != VT_STR)
			return fb_map_rt_error(c, FB_MAP_ETYPE, "dict keys must be str, not %s",
			    fb_map_type_name(x.u.l->v[0]));
		if (fb_map_dict_set(c, d, x.u.l->v[0].u.s, x.u.l->v[0].n, x.u.l->v[1]) != 0)
			return -1;
	}
	return r;
}

int
fb_map_call_builtin(struct ctx *c, const struct node *n, struct val *args, int nargs,
    struct val *kw, struct val *out)
{
	struct list *l;
	struct iter it;
	struct val x;
	int64_t i64 = 0;
	double f = 0;
	int r, b;

	switch (n->op) {
	case B_LEN:
		switch (args[0].t) {
		case VT_STR:
			if (fb_map_charge_bytes(c, args[0].n) != 0)
				return -1;
			*out = fb_map_int((int64_t)fb_utf8_len(args[0].u.s, args[0].n));
			return 0;
		case VT_LIST:
		case VT_TUPLE:
			*out = fb_map_int(args[0].u.l->len);
			return 0;
		case VT_DICT:
			*out = fb_map_int(fb_map_dict_len(args[0].u.d));
			return 0;
		case VT_RANGE:
			*out = fb_map_int(fb_map_range_len(args[0].u.r));
			return 0;
		default:
			return fb_map_rt_error(c, FB_MAP_ETYPE, "object of type '%s' has no len()",
			    fb_map_type_name(args[0]));
		}
	case B_STR:
		if (nargs == 0) {
			*out = fb_map_str("", 0);
			return 0;
		}
		return fb_map_to_str(c, args[0], out);
	case B_INT:
		if (nargs == 0) {
			*out = fb_map_int(0);
			return 0;
		}
		if (nargs == 2) {
			if (args[0].t != VT_STR)
				return fb_map_rt_error(c, FB_MAP_ETYPE,
				    "int() can't convert non-string with explicit base");
			if (need_int(c, args[1], &i64) != 0)
				return -1;
			if (i64 != 0 && (i64 < 2 || i64 > 36))
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "int() base must be >= 2 and <= 36, or 0");
			if (parse_int(c, args[0], i64, &i64) != 0)
				return -1;
			*out = fb_map_int(i64);
			return 0;
		}
		switch (args[0].t) {
		case VT_BOOL:
		case VT_INT:
			*out = fb_map_int(args[0].u.i);
			return 0;
		case VT_FLOAT:
			f = args[0].u.f;
			if (isnan(f))
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "cannot convert float NaN to integer");
			if (isinf(f))
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "cannot convert float infinity to integer");
			f = trunc(f);
			if (f >= 9223372036854775808.0 || f < -9223372036854775808.0)
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "integer overflow (integers are 64-bit)");
			*out = fb_map_int((int64_t)f);
			return 0;
		case VT_STR:
			if (parse_int(c, args[0], 10, &i64) != 0)
				return -1;
			*out = fb_map_int(i64);
			return 0;
		default:
			return fb_map_rt_error(c, FB_MAP_ETYPE,
			    "int() argument must be a string or a number, not '%s'",
			    fb_map_type_name(args[0]));
		}
	case B_FLOAT:
		if (nargs == 0) {
			*out = fb_map_float(0);
			return 0;
		}
		switch (args[0].t) {
		case VT_BOOL:
		case VT_INT:
			*out = fb_map_float((double)args[0].u.i);
			return 0;
		case VT_FLOAT:
			*out = args[0];
			return 0;
		case VT_STR:
			if (parse_float(c, args[0], &f) != 0)
				return -1;
			*out = fb_map_float(f);
			return 0;
		default:
			return fb_map_rt_error(c, FB_MAP_ETYPE,
			    "float() argument must be a string or a number, not '%s'",
			    fb_map_type_name(args[0]));
		}
	case B_BOOL:
		*out = fb_map_bool(nargs > 0 && fb_map_truthy(args[0]));
		return 0;
	case B_LIST:
		if (nargs == 0) {
			l = fb_map_list_new(c, 0);
		} else if (to_list(c, args[0], &l) != 0) {
			return -1;
		}
		if (l == NULL)
			return -1;
		*out = fb_map_list_val(l, 0);
		return 0;
	case B_DICT: {
		struct dict *d = fb_map_dict_new(c, 0);

		if (d == NULL || (nargs > 0 && dict_update(c, d, args[0]) != 0))
			return -1;
		for (int i = 0; i < n->nkw; i++)
			if (fb_map_dict_set(c, d, n->kwname[i], strlen(n->kwname[i]), kw[i]) != 0)
				return -1;
		*out = fb_map_dict_val(d);
		return 0;
	}
	case B_SORTED: {
		const struct val *rev = kwarg(n, kw, "reverse");

		if (to_list(c, args[0], &l) != 0 ||
		    sort_vals(c, l->v, l->len, rev != NULL && fb_map_truthy(*rev)) != 0)
			return -1;
		*out = fb_map_list_val(l, 0);
		return 0;
	}
	case B_REVERSED:
		if (args[0].t != VT_LIST && args[0].t != VT_TUPLE && args[0].t != VT_STR &&
		    args[0].t != VT_RANGE && args[0].t != VT_DICT)
			return fb_map_rt_error(c, FB_MAP_ETYPE, "'%s' object is not reversible",
			    fb_map_type_name(args[0]));
		if (to_list(c, args[0], &l) != 0)
			return -1;
		for (uint32_t i = 0; i < l->len / 2; i++) {
			x = l->v[i];
			l->v[i] = l->v[l->len - 1 - i];
			l->v[l->len - 1 - i] = x;
		}
		*out = fb_map_list_val(l, 0);
		return 0;
	case B_ANY:
	case B_ALL:
		if (fb_map_iter_init(c, args[0], &it) != 0)
			return -1;
		b = n->op == B_ALL;
		while ((r = fb_map_iter_next(c, &it, &x)) == 1) {
			if (fb_map_charge(c, 1) != 0)
				return -1;
			if (fb_map_truthy(x) != (n->op == B_ALL)) {
				b = !b;
				break;
			}
		}
		if (r < 0)
			return -1;
		*out = fb_map_bool(b);
		return 0;
	case B_MIN:
	case B_MAX:
		return minmax(c, n, args, nargs, kw, n->op == B_MAX, out);
	case B_RANGE: {
		struct range *rg = fb_map_alloc(c, sizeof(*rg));
		int64_t v[3] = {0, 0, 1};

		if (rg == NULL)
			return -1;
		for (int i = 0; i < nargs; i++)
			if (need_int(c, args[i], &v[i]) != 0)
				return -1;
		if (nargs == 1) {
			v[1] = v[0];
			v[0] = 0;
		}
		if (v[2] == 0)
			return fb_map_rt_error(c, FB_MAP_EVALUE, "range() arg 3 must not be zero");
		rg->start = v[0];
		rg->stop = v[1];
		rg->step = v[2];
		out->t = VT_RANGE;
		out->n = 0;
		out->u.r = rg;
		return 0;
	}
	case B_ISINSTANCE:
		if (isinstance(c, args[0], args[1], &b) != 0)
			return -1;
		*out = fb_map_bool(b);
		return 0;
	case B_RE_MATCH:
		return re_match(c, n, args, out);
	case B_RE_SUB:
		return re_sub(c, n, args, kw, out);
	default:
		return fb_map_rt_error(c, FB_MAP_EVALUE, "internal error: builtin %d", n->op);
	}
}

/* ---- str methods ---------------------------------------------------------------------- */

static int
is_space(unsigned char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

/* Length of the UTF-8 character at s[i] (within n). */
static size_t
charlen(const char *s, size_t n, size_t i)
{
	size_t e = i + 1;

	while (e < n && ((unsigned char)s[e] & 0xc0) == 0x80)
		e++;
	return e - i;
}

/* Start of the character that ends at s[e] (exclusive). */
static size_t
charstart(const char *s, size_t e)
{
	size_t b = e - 1;

	while (b > 0 && ((unsigned char)s[b] & 0xc0) == 0x80)
		b--;
	return b;
}

static int
in_chars(const char *ch, size_t n, struct val set)
{
	for (size_t i = 0; i < set.n; i += charlen(set.u.s, set.n, i))
		if (charlen(set.u.s, set.n, i) == n && memcmp(set.u.s + i, ch, n) == 0)
			return 1;
	return 0;
}

static int
strip(struct ctx *c, struct val s, int nargs, struct val *args, int left, int right,
    struct val *out)
{
	size_t b = 0, e = s.n;
	int useset = nargs > 0 && args[0].t != VT_NONE;

	if (useset && need_str(c, args[0], "strip's argument") != 0)
		return -1;
	if (fb_map_charge_bytes(c, s.n) != 0)
		return -1;
	while (left && b < e) {
		size_t k = charlen(s.u.s, e, b);

		if (useset ? !in_chars(s.u.s + b, k, args[0]) : !is_space((unsigned char)s.u.s[b]))
			break;
		b += k;
	}
	while (right && e > b) {
		size_t st = charstart(s.u.s, e);

		if (useset ? !in_chars(s.u.s + st, e - st, args[0])
		           : !is_space((unsigned char)s.u.s[st]))
			break;
		e = st;
	}
	*out = fb_map_str(s.u.s + b, e - b);
	return 0;
}

static int
split(struct ctx *c, const struct node *n, struct val s, int nargs, struct val *args,
    const struct val *kw, int fromright, struct val *out)
{
	const struct val *sepv = nargs > 0 ? &args[0] : kwarg(n, kw, "sep");
	const struct val *maxv = nargs > 1 ? &args[1] : kwarg(n, kw, "maxsplit");
	int64_t maxsplit = -1;
	struct list *l;
	const char *p = s.u.s;
	size_t len = s.n;

	if (maxv != NULL && need_int(c, *maxv, &maxsplit) != 0)
		return -1;
	if (sepv != NULL && sepv->t != VT_NONE && need_str(c, *sepv, "the separator") != 0)
		return -1;
	if (sepv != NULL && sepv->t == VT_STR && sepv->n == 0)
		return fb_map_rt_error(c, FB_MAP_EVALUE, "empty separator");
	if ((l = fb_map_list_new(c, 0)) == NULL || fb_map_charge_bytes(c, len) != 0)
		return -1;
	if (sepv == NULL || sepv->t == VT_NONE) {
		/* Runs of whitespace; no empty strings. */
		if (!fromright) {
			size_t i = 0;

			while (1) {
				size_t st;

				while (i < len && is_space((unsigned char)p[i]))
					i++;
				if (i >= len)
					break;
				if (maxsplit >= 0 && (int64_t)l->len >= maxsplit) {
					/* The rest, trailing whitespace kept (as Python does). */
					if (fb_map_list_push(c, l, fb_map_str(p + i, len - i)) != 0)
						return -1;
					break;
				}
				st = i;
				while (i < len && !is_space((unsigned char)p[i]))
					i++;
				if (fb_map_list_push(c, l, fb_map_str(p + st, i - st)) != 0)
					return -1;
			}
		} else {
			size_t e = len;

			while (1) {
				size_t st;

				while (e > 0 && is_space((unsigned char)p[e - 1]))
					e--;
				if (e == 0)
					break;
				if (maxsplit >= 0 && (int64_t)l->len >= maxsplit) {
					if (fb_map_list_push(c, l, fb_map_str(p, e)) != 0)
						return -1;
					break;
				}
				st = e;
				while (st > 0 && !is_space((unsigned char)p[st - 1]))
					st--;
				if (fb_map_list_push(c, l, fb_map_str(p + st, e - st)) != 0)
					return -1;
				e = st;
			}
		}
	} else {
		const char *sep = sepv->u.s;
		size_t sn = sepv->n;

		if (!fromright) {
			size_t i = 0;

			for (;;) {
				const char *hit = maxsplit >= 0 && (int64_t)l->len >= maxsplit
				                      ? NULL
				                      : memmem(p + i, len - i, sep, sn);

				if (hit == NULL) {
					if (fb_map_list_push(c, l, fb_map_str(p + i, len - i)) != 0)
						return -1;
					break;
				}
				if (fb_map_list_push(c, l,
				        fb_map_str(p + i, (size_t)(hit - (p + i)))) != 0)
					return -1;
				i = (size_t)(hit - p) + sn;
			}
		} else {
			size_t e = len;

			for (;;) {
				size_t hit = (size_t)-1;

				if (!(maxsplit >= 0 && (int64_t)l->len >= maxsplit))
					for (size_t k = e; k >= sn; k--)
						if (memcmp(p + k - sn, sep, sn) == 0) {
							hit = k - sn;
							break;
						}
				if (hit == (size_t)-1) {
					if (fb_map_list_push(c, l, fb_map_str(p, e)) != 0)
						return -1;
					break;
				}
				if (fb_map_list_push(c, l,
				        fb_map_str(p + hit + sn, e - hit - sn)) != 0)
					return -1;
				e = hit;
			}
		}
	}
	if (fromright)
		for (uint32_t i = 0; i < l->len / 2; i++) {
			struct val t = l->v[i];

			l->v[i] = l->v[l->len - 1 - i];
			l->v[l->len - 1 - i] = t;
		}
	*out = fb_map_list_val(l, 0);
	return 0;
}

static int
join(struct ctx *c, struct val sep, struct val items, struct val *out)
{
	struct sbuf b;
	struct iter it;
	struct val x;
	int r, i = 0;

	fb_map_sb_init(&b, c);
	if (fb_map_iter_init(c, items, &it) != 0)
		return -1;
	while ((r = fb_map_iter_next(c, &it, &x)) == 1) {
		if (x.t != VT_STR)
			return fb_map_rt_error(c, FB_MAP_ETYPE,
			    "sequence item %d: expected str instance, %s found", i,
			    fb_map_type_name(x));
		if (fb_map_charge_bytes(c, x.n + sep.n) != 0 || fb_map_charge(c, 1) != 0 ||
		    (i > 0 && fb_map_sb_add(&b, sep.u.s, sep.n) != 0) ||
		    fb_map_sb_add(&b, x.u.s, x.n) != 0)
			return -1;
		i++;
	}
	if (r < 0)
		return -1;
	*out = fb_map_sb_val(&b);
	return 0;
}

static int
replace(struct ctx *c, struct val s, struct val *args, int nargs, struct val *out)
{
	struct val old = args[0], new = args[1];
	int64_t count = -1, done = 0;
	struct sbuf b;
	size_t i = 0;

	if (need_str(c, old, "replace()'s first argument") != 0 ||
	    need_str(c, new, "replace()'s second argument") != 0 ||
	    (nargs > 2 && need_int(c, args[2], &count) != 0))
		return -1;
	if (fb_map_charge_bytes(c, s.n) != 0)
		return -1;
	fb_map_sb_init(&b, c);
	if (old.n == 0) {
		/* An empty pattern matches before every character and at the end. */
		while (count < 0 || done < count) {
			if (fb_map_sb_add(&b, new.u.s, new.n) != 0 || fb_map_charge(c, 1) != 0)
				return -1;
			done++;
			if (i >= s.n)
				break;
			{
				size_t k = charlen(s.u.s, s.n, i);

				if (fb_map_sb_add(&b, s.u.s + i, k) != 0)
					return -1;
				i += k;
			}
		}
		if (fb_map_sb_add(&b, s.u.s + i, s.n - i) != 0)
			return -1;
		*out = fb_map_sb_val(&b);
		return 0;
	}
	while (count < 0 || done < count) {
		const char *hit = memmem(s.u.s + i, s.n - i, old.u.s, old.n);

		if (hit == NULL)
			break;
		if (fb_map_sb_add(&b, s.u.s + i, (size_t)(hit - (s.u.s + i))) != 0 ||
		    fb_map_sb_add(&b, new.u.s, new.n) != 0 || fb_map_charge(c, 1) != 0)
			return -1;
		i = (size_t)(hit - s.u.s) + old.n;
		done++;
	}
	if (done == 0) {
		*out = s;
		return 0;
	}
	if (fb_map_sb_add(&b, s.u.s + i, s.n - i) != 0)
		return -1;
	*out = fb_map_sb_val(&b);
	return 0;
}

static int
affix(struct ctx *c, struct val s, struct val a, int end, int *out)
{
	if (a.t == VT_TUPLE) {
		*out = 0;
		for (uint32_t i = 0; i < a.u.l->len && !*out; i++)
			if (affix(c, s, a.u.l->v[i], end, out) != 0)
				return -1;
		return 0;
	}
	if (a.t != VT_STR)
		return fb_map_rt_error(c, FB_MAP_ETYPE,
		    "%s first arg must be str or a tuple of str, not %s",
		    end ? "endswith" : "startswith", fb_map_type_name(a));
	*out = a.n <= s.n && memcmp(end ? s.u.s + s.n - a.n : s.u.s, a.u.s, a.n) == 0;
	return 0;
}

static int
partition(struct ctx *c, struct val s, struct val sep, int fromright, struct val *out)
{
	struct list *l;
	const char *hit = NULL;

	if (need_str(c, sep, "the separator") != 0)
		return -1;
	if (sep.n == 0)
		return fb_map_rt_error(c, FB_MAP_EVALUE, "empty separator");
	if (fb_map_charge_bytes(c, s.n) != 0 || (l = fb_map_list_new(c, 3)) == NULL)
		return -1;
	if (!fromright) {
		hit = memmem(s.u.s, s.n, sep.u.s, sep.n);
	} else {
		for (size_t k = s.n; k >= sep.n && hit == NULL; k--)
			if (memcmp(s.u.s + k - sep.n, sep.u.s, sep.n) == 0)
				hit = s.u.s + k - sep.n;
	}
	if (hit == NULL) {
		l->v[0] = fromright ? fb_map_str("", 0) : s;
		l->v[1] = fb_map_str("", 0);
		l->v[2] = fromright ? s : fb_map_str("", 0);
	} else {
		l->v[0] = fb_map_str(s.u.s, (size_t)(hit - s.u.s));
		l->v[1] = sep;
		l->v[2] = fb_map_str(hit + sep.n, s.n - (size_t)(hit - s.u.s) - sep.n);
	}
	l->len = 3;
	*out = fb_map_list_val(l, 1);
	return 0;
}

/* str.find and str.index: the character index of sub, or -1. */
static int
find(struct ctx *c, struct val s, struct val sub, int64_t *out)
{
	const char *hit;

	if (need_str(c, sub, "the substring") != 0 || fb_map_charge_bytes(c, s.n) != 0)
		return -1;
	hit = sub.n == 0 ? s.u.s : memmem(s.u.s, s.n, sub.u.s, sub.n);
	*out = hit == NULL ? -1 : (int64_t)fb_utf8_len(s.u.s, (size_t)(hit - s.u.s));
	return 0;
}

/* ---- str.format ------------------------------------------------------------------------- */

static int format_field(struct ctx *c, const char *f, size_t fn, struct val *args, int nargs,
    const struct node *n, const struct val *kw, int *autoidx, struct sbuf *b, int depth);

static int
format_string(struct ctx *c, const char *s, size_t len, struct val *args, int nargs,
    const struct node *n, const struct val *kw, int *autoidx, struct sbuf *b, int depth)
{
	for (size_t i = 0; i < len;) {
		if (s[i] == '{' && i + 1 < len && s[i + 1] == '{') {
			if (fb_map_sb_addc(b, '{') != 0)
				return -1;
			i += 2;
		} else if (s[i] == '}' && i + 1 < len && s[i + 1] == '}') {
			if (fb_map_sb_addc(b, '}') != 0)
				return -1;
			i += 2;
		} else if (s[i] == '}') {
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "single '}' encountered in format string");
		} else if (s[i] == '{') {
			size_t j = i + 1;
			int nest = 1;

			while (j < len) {
				if (s[j] == '{')
					nest++;
				else if (s[j] == '}' && --nest == 0)
					break;
				j++;
			}
			if (j >= len)
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "single '{' encountered in format string");
			if (format_field(c, s + i + 1, j - i - 1, args, nargs, n, kw, autoidx, b,
			        depth) != 0)
				return -1;
			i = j + 1;
		} else {
			if (fb_map_sb_addc(b, s[i]) != 0)
				return -1;
			i++;
		}
	}
	return 0;
}

static int
format_field(struct ctx *c, const char *f, size_t fn, struct val *args, int nargs,
    const struct node *n, const struct val *kw, int *autoidx, struct sbuf *b, int depth)
{
	size_t i = 0, nameend;
	struct val v, s;
	char conv = 0;

	if (depth > 1)
		return fb_map_rt_error(c, FB_MAP_EVALUE, "max string recursion exceeded");
	while (i < fn && f[i] != '!' && f[i] != ':' && f[i] != '[' && f[i] != '.')
		i++;
	nameend = i;
	if (nameend == 0) {
		if (*autoidx < 0)
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "cannot switch from manual field specification to automatic field "
			    "numbering");
		if (*autoidx >= nargs)
			return fb_map_rt_error(c, FB_MAP_EINDEX,
			    "replacement index %d out of range for positional args tuple",
			    *autoidx);
		v = args[(*autoidx)++];
	} else if (isdigit((unsigned char)f[0])) {
		long k = 0;

		if (*autoidx > 0)
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "cannot switch from automatic field numbering to manual field "
			    "specification");
		*autoidx = -1;
		for (size_t q = 0; q < nameend; q++) {
			if (!isdigit((unsigned char)f[q]) || k > 1000)
				return fb_map_rt_error(c, FB_MAP_EVALUE, "bad format field '%.*s'",
				    (int)fn, f);
			k = k * 10 + (f[q] - '0');
		}
		if (k >= nargs)
			return fb_map_rt_error(c, FB_MAP_EINDEX,
			    "replacement index %ld out of range for positional args tuple", k);
		v = args[k];
	} else {
		const struct val *kv = NULL;

		for (int k = 0; k < n->nkw; k++)
			if (strlen(n->kwname[k]) == nameend &&
			    memcmp(n->kwname[k], f, nameend) == 0)
				kv = &kw[k];
		if (kv == NULL)
			return fb_map_rt_error(c, FB_MAP_EKEY, "'%.*s'", (int)nameend, f);
		v = *kv;
	}
	while (i < fn && (f[i] == '[' || f[i] == '.')) {
		const char *close;
		struct val key;
		int found;

		if (f[i] == '.')
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "attribute access in format fields is not supported");
		close = memchr(f + i, ']', fn - i);
		if (close == NULL)
			return fb_map_rt_error(c, FB_MAP_EVALUE, "missing ']' in format string");
		key = fb_map_str(f + i + 1, (size_t)(close - f - i - 1));
		if (v.t == VT_DICT) {
			if ((found = fb_map_dict_lookup(c, v.u.d, key.u.s, key.n, &v)) < 0)
				return -1;
			if (found == 0)
				return fb_map_rt_error(c, FB_MAP_EKEY, "'%.*s'", (int)key.n,
				    key.u.s);
		} else if ((v.t == VT_LIST || v.t == VT_TUPLE) && key.n > 0 &&
		           strspn(key.u.s, "0123456789") >= key.n) {
			long k = strtol(key.u.s, NULL, 10);

			if (k >= (long)v.u.l->len)
				return fb_map_rt_error(c, FB_MAP_EINDEX, "list index out of range");
			v = v.u.l->v[k];
		} else {
			return fb_map_rt_error(c, FB_MAP_ETYPE, "'%s' object is not subscriptable",
			    fb_map_type_name(v));
		}
		i = (size_t)(close - f) + 1;
	}
	if (i < fn && f[i] == '!') {
		if (i + 1 >= fn || strchr("rsa", f[i + 1]) == NULL)
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "invalid conversion character: expected 's', 'r', or 'a'");
		conv = f[i + 1];
		i += 2;
	}
	if (conv == 'r' || conv == 'a') {
		struct sbuf r;

		fb_map_sb_init(&r, c);
		if (fb_map_sb_repr(&r, v) != 0)
			return -1;
		v = fb_map_sb_val(&r);
	} else if (conv == 's' && fb_map_to_str(c, v, &v) != 0) {
		return -1;
	}
	if (i < fn && f[i] != ':')
		return fb_map_rt_error(c, FB_MAP_EVALUE, "expected ':' after conversion specifier");
	if (i < fn) {
		struct sbuf spec;

		fb_map_sb_init(&spec, c);
		if (format_string(c, f + i + 1, fn - i - 1, args, nargs, n, kw, autoidx, &spec,
		        depth + 1) != 0)
			return -1;
		if (fb_map_format(c, v, spec.p, spec.len, &s) != 0)
			return -1;
	} else if (fb_map_format(c, v, "", 0, &s) != 0) {
		return -1;
	}
	return fb_map_sb_add(b, s.u.s, s.n);
}

/* ---- methods ---------------------------------------------------------------------------- */

static int
no_method(struct ctx *c, const struct node *n, struct val self)
{
	return fb_map_rt_error(c, FB_MAP_EATTRIBUTE, "'%s' object has no attribute '%s'",
	    fb_map_type_name(self), n->name);
}

static int
str_method(struct ctx *c, const struct node *n, struct val s, struct val *args, int nargs,
    struct val *kw, struct val *out)
{
	int err = 0, b;
	int64_t i64 = 0;

	switch (n->op) {
	case M_LOWER:
	case M_UPPER: {
		char *p;

		if (fb_map_charge_bytes(c, s.n) != 0)
			return -1;
		for (b = 0; (uint32_t)b < s.n; b++)
			if (n->op == M_LOWER ? (s.u.s[b] >= 'A' && s.u.s[b] <= 'Z')
			                     : (s.u.s[b] >= 'a' && s.u.s[b] <= 'z'))
				break;
		if ((uint32_t)b == s.n) {
			*out = s;
			return 0;
		}
		*out = copy_str(c, s.u.s, s.n, &err);
		if (err != 0)
			return -1;
		p = (char *)(uintptr_t)out->u.s;
		for (uint32_t k = 0; k < s.n; k++)
			p[k] = (char)(n->op == M_LOWER ? tolower((unsigned char)p[k])
			                               : toupper((unsigned char)p[k]));
		return 0;
	}
	case M_STRIP:
		return strip(c, s, nargs, args, 1, 1, out);
	case M_LSTRIP:
		return strip(c, s, nargs, args, 1, 0, out);
	case M_RSTRIP:
		return strip(c, s, nargs, args, 0, 1, out);
	case M_SPLIT:
	case M_RSPLIT:
		return split(c, n, s, nargs, args, kw, n->op == M_RSPLIT, out);
	case M_JOIN:
		return join(c, s, args[0], out);
	case M_REPLACE:
		return replace(c, s, args, nargs, out);
	case M_STARTSWITH:
	case M_ENDSWITH:
		if (affix(c, s, args[0], n->op == M_ENDSWITH, &b) != 0)
			return -1;
		*out = fb_map_bool(b);
		return 0;
	case M_FORMAT: {
		struct sbuf sb;
		int autoidx = 0;

		fb_map_sb_init(&sb, c);
		if (fb_map_charge_bytes(c, s.n) != 0 ||
		    format_string(c, s.u.s, s.n, args, nargs, n, kw, &autoidx, &sb, 0) != 0)
			return -1;
		*out = fb_map_sb_val(&sb);
		return 0;
	}
	case M_PARTITION:
	case M_RPARTITION:
		return partition(c, s, args[0], n->op == M_RPARTITION, out);
	case M_FIND:
	case M_INDEX:
		if (find(c, s, args[0], &i64) != 0)
			return -1;
		if (i64 < 0 && n->op == M_INDEX)
			return fb_map_rt_error(c, FB_MAP_EVALUE, "substring not found");
		*out = fb_map_int(i64);
		return 0;
	case M_COUNT: {
		int64_t k = 0;

		if (need_str(c, args[0], "the substring") != 0 || fb_map_charge_bytes(c, s.n) != 0)
			return -1;
		if (args[0].n == 0) {
			*out = fb_map_int((int64_t)fb_utf8_len(s.u.s, s.n) + 1);
			return 0;
		}
		for (const char *p = s.u.s, *hit;
		     (hit = memmem(p, s.n - (size_t)(p - s.u.s), args[0].u.s, args[0].n)) != NULL;
		     p = hit + args[0].n)
			k++;
		*out = fb_map_int(k);
		return 0;
	}
	case M_REMOVEPREFIX:
	case M_REMOVESUFFIX:
		if (need_str(c, args[0], "the affix") != 0 ||
		    affix(c, s, args[0], n->op == M_REMOVESUFFIX, &b) != 0)
			return -1;
		*out = !b                        ? s
		       : n->op == M_REMOVEPREFIX ? fb_map_str(s.u.s + args[0].n, s.n - args[0].n)
		                                 : fb_map_str(s.u.s, s.n - args[0].n);
		return 0;
	default:
		return no_method(c, n, s);
	}
}

static int
dict_method(struct ctx *c, const struct node *n, struct val d, struct val *args, int nargs,
    struct val *out)
{
	struct list *l;
	int found;

	switch (n->op) {
	case M_GET:
		found = args[0].t == VT_STR
		            ? fb_map_dict_lookup(c, d.u.d, args[0].u.s, args[0].n, out)
		            : 0;
		if (found < 0)
			return -1;
		if (found == 0)
			*out = nargs > 1 ? args[1] : fb_map_none();
		return 0;
	case M_KEYS:
	case M_VALUES:
	case M_ITEMS:
		if (fb_map_dict_force(c, d.u.d) != 0 ||
		    (l = fb_map_list_new(c, d.u.d->len)) == NULL ||
		    fb_map_charge(c, d.u.d->len / 8) != 0)
			return -1;
		for (uint32_t i = 0; i < d.u.d->len; i++) {
			const struct dent *e = &d.u.d->e[i];

			if (n->op == M_KEYS) {
				l->v[i] = fb_map_str(e->k, e->klen);
			} else if (n->op == M_VALUES) {
				l->v[i] = e->v;
			} else {
				struct list *pair = fb_map_list_new(c, 2);

				if (pair == NULL)
					return -1;
				pair->v[0] = fb_map_str(e->k, e->klen);
				pair->v[1] = e->v;
				pair->len = 2;
				l->v[i] = fb_map_list_val(pair, 1);
			}
		}
		l->len = d.u.d->len;
		*out = fb_map_list_val(l, 0);
		return 0;
	case M_UPDATE:
		if (fb_map_check_mutable(c, d) != 0 || dict_update(c, d.u.d, args[0]) != 0)
			return -1;
		*out = fb_map_none();
		return 0;
	default:
		return no_method(c, n, d);
	}
}

static int
list_method(struct ctx *c, const struct node *n, struct val l, struct val *args, struct val *out)
{
	int r;

	switch (n->op) {
	case M_APPEND:
		if (l.t == VT_TUPLE)
			break;
		if (fb_map_check_mutable(c, l) != 0 || fb_map_list_push(c, l.u.l, args[0]) != 0)
			return -1;
		*out = fb_map_none();
		return 0;
	case M_EXTEND:
		if (l.t == VT_TUPLE)
			break;
		if (fb_map_check_mutable(c, l) != 0 || fb_map_list_extend(c, l.u.l, args[0]) != 0)
			return -1;
		*out = fb_map_none();
		return 0;
	case M_INDEX:
	case M_COUNT: {
		int64_t k = 0;

		for (uint32_t i = 0; i < l.u.l->len; i++) {
			if (fb_map_charge(c, 1) != 0 ||
			    (r = fb_map_equal(c, l.u.l->v[i], args[0])) < 0)
				return -1;
			if (r == 1 && n->op == M_INDEX) {
				*out = fb_map_int(i);
				return 0;
			}
			k += r;
		}
		if (n->op == M_INDEX) {
			struct sbuf b;

			fb_map_sb_init(&b, c);
			if (fb_map_sb_repr(&b, args[0]) != 0)
				return -1;
			return fb_map_rt_error(c, FB_MAP_EVALUE, "%.*s is not in %s",
			    b.len > 200 ? 200 : (int)b.len, b.p, fb_map_type_name(l));
		}
		*out = fb_map_int(k);
		return 0;
	}
	default:
		break;
	}
	return no_method(c, n, l);
}

int
fb_map_call_method(struct ctx *c, const struct node *n, struct val self, struct val *args,
    int nargs, struct val *kw, struct val *out)
{
	switch (self.t) {
	case VT_STR:
		return str_method(c, n, self, args, nargs, kw, out);
	case VT_DICT:
		return dict_method(c, n, self, args, nargs, out);
	case VT_LIST:
	case VT_TUPLE:
		return list_method(c, n, self, args, out);
	case VT_USER:
		if (n->op == M_GROUP_ATTRIBUTES)
			return fb_map_group_attributes(c, self, out);
		return no_method(c, n, self);
	default:
		return no_method(c, n, self);
	}
}
