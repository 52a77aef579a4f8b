/* SPDX-License-Identifier: Apache-2.0 */
/* map/value.c: values of one evaluation: memory, strings, lists, dicts, JSON, equality, str(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "map/internal.h"

/* Chunks after the first (which eval keeps on its stack) grow up to this. */
#define CHUNK_MIN (16 * 1024)
#define CHUNK_MAX (256 * 1024)
/* Dicts with more keys than this get a hash index. */
#define DICT_LINEAR 12
/* JSON objects with more keys than this stay lazy (see struct dict). */
#define LAZY_MIN 8

/* ---- memory ------------------------------------------------------------ */

static void *
bump(struct ctx *c, size_t n)
{
	void *p;

	if (n > (size_t)(c->end - c->cur)) {
		size_t size = c->chunks != NULL ? c->chunks->size * 2 : CHUNK_MIN;
		struct chunk *ch;

		if (size > CHUNK_MAX)
			size = CHUNK_MAX;
		if (size < n)
			size = n;
		ch = fb_xmalloc(sizeof(*ch) + size);
		ch->next = c->chunks;
		ch->size = size;
		c->chunks = ch;
		c->cur = c->chunk_start = ch->data;
		c->end = ch->data + size;
	}
	p = c->cur;
	c->cur += n;
	c->mem_used += n;
	return p;
}

/* SECURITY: every byte an evaluation allocates is counted against its memory budget. */
void *
fb_map_try_alloc(struct ctx *c, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if (n > c->mem_limit - c->mem_used)
		return NULL;
	return bump(c, n);
}

void *
fb_map_alloc(struct ctx *c, size_t n)
{
	void *p = fb_map_try_alloc(c, n);

	if (p == NULL)
		fb_map_rt_error(c, FB_MAP_EBUDGET, "memory budget exceeded (%zu bytes)",
		    c->mem_limit);
	return p;
}

void *
fb_map_realloc(struct ctx *c, void *p, size_t old, size_t n)
{
	void *np;

	old = (old + 7) & ~(size_t)7;
	n = (n + 7) & ~(size_t)7;
	if (n <= old)
		return p;
	/* The last allocation of the current chunk grows in place. */
	if (p != NULL && (char *)p >= c->chunk_start && (char *)p + old == c->cur &&
	    n - old <= (size_t)(c->end - c->cur)) {
		if (n - old > c->mem_limit - c->mem_used) {
			fb_map_rt_error(c, FB_MAP_EBUDGET, "memory budget exceeded (%zu bytes)",
			    c->mem_limit);
			return NULL;
		}
		c->cur += n - old;
		c->mem_used += n - old;
		return p;
	}
	if ((np = fb_map_alloc(c, n)) == NULL)
		return NULL;
	if (old > 0)
		memcpy(np, p, old);
	return np;
}

char *
fb_map_str_alloc(struct ctx *c, size_t n)
{
	if (n > UINT32_MAX - 8) {
		fb_map_rt_error(c, FB_MAP_EBUDGET, "memory budget exceeded (%zu bytes)",
		    c->mem_limit);
		return NULL;
	}
	return fb_map_alloc(c, n > 0 ? n : 1);
}

/* ---- constructors ---------------------------------------------------------- */

struct val
fb_map_str(const char *s, size_t n)
{
	struct val v = {.t = VT_STR, .n = (uint32_t)n};

	v.u.s = s;
	return v;
}

struct val
fb_map_cstr(const char *s)
{
	return fb_map_str(s, strlen(s));
}

struct val
fb_map_int(int64_t i)
{
	struct val v = {.t = VT_INT};

	v.u.i = i;
	return v;
}

struct val
fb_map_float(double f)
{
	struct val v = {.t = VT_FLOAT};

	v.u.f = f;
	return v;
}

struct val
fb_map_bool(int b)
{
	struct val v = {.t = VT_BOOL};

	v.u.i = b != 0;
	return v;
}

struct val
fb_map_none(void)
{
	struct val v = {.t = VT_NONE};

	return v;
}

/* ---- lists ------------------------------------------------------------------- */

struct list *
fb_map_list_new(struct ctx *c, uint32_t cap)
{
	struct list *l = fb_map_alloc(c, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->len = 0;
	l->cap = cap;
	l->v = NULL;
	l->frozen = 0;
	if (cap > 0 && (l->v = fb_map_alloc(c, (size_t)cap * sizeof(struct val))) == NULL)
		return NULL;
	return l;
}

int
fb_map_list_push(struct ctx *c, struct list *l, struct val v)
{
	if (l->len == l->cap) {
		uint32_t cap = l->cap < 4 ? 4 : l->cap * 2;
		struct val *nv;

		if (l->cap >= UINT32_MAX / 2)
			return fb_map_rt_error(c, FB_MAP_EBUDGET,
			    "memory budget exceeded (%zu bytes)", c->mem_limit);
		nv = fb_map_realloc(c, l->v, (size_t)l->cap * sizeof(struct val),
		    (size_t)cap * sizeof(struct val));
		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->len++] = v;
	return 0;
}

struct val
fb_map_list_val(struct list *l, int tuple)
{
	struct val v = {.t = (uint8_t)(tuple ? VT_TUPLE : VT_LIST)};

	v.u.l = l;
	return v;
}

/* ---- dicts ---------------------------------------------------------------------- */

/* A multiply-xorshift hash over 8-byte words: keys here are often long ARNs. */
static uint32_t
hash_key(const char *k, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, k + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, k + i, n - i);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	}
	h ^= h >> 29;
	return (uint32_t)h;
}

struct dict *
fb_map_dict_new(struct ctx *c, uint32_t cap)
{
	struct dict *d = fb_map_alloc(c, sizeof(*d));

	if (d == NULL)
		return NULL;
	memset(d, 0, sizeof(*d));
	d->cap = cap;
	if (cap > 0 && (d->e = fb_map_alloc(c, (size_t)cap * sizeof(struct dent))) == NULL)
		return NULL;
	return d;
}

struct val
fb_map_dict_val(struct dict *d)
{
	struct val v = {.t = VT_DICT};

	v.u.d = d;
	return v;
}

static void
index_put(struct dict *d, uint32_t i)
{
	uint32_t mask = d->icap - 1, h = d->e[i].hash & mask;

	while (d->idx[h] != 0)
		h = (h + 1) & mask;
	d->idx[h] = i + 1;
}

/* Builds (or rebuilds, bigger) the index; without memory, lookups stay linear. */
static void
index_build(struct ctx *c, struct dict *d)
{
	uint32_t icap = 32;

	while (icap < d->len * 2 + 2)
		icap *= 2;
	d->idx = fb_map_try_alloc(c, (size_t)icap * sizeof(uint32_t));
	if (d->idx == NULL) {
		d->icap = 0;
		return;
	}
	d->icap = icap;
	memset(d->idx, 0, (size_t)icap * sizeof(uint32_t));
	for (uint32_t i = 0; i < d->len; i++) {
		if (d->e[i].hash == 0)
			d->e[i].hash = hash_key(d->e[i].k, d->e[i].klen) | 1;
		index_put(d, i);
	}
}

static int64_t
dict_find(struct ctx *c, struct dict *d, const char *k, size_t klen)
{
	uint32_t h, mask;
	int64_t probes = 0;

	if (d->len <= DICT_LINEAR || (d->idx == NULL && (d->frozen == FROZEN_SHARED ||
	                                                    (index_build(c, d), d->idx == NULL)))) {
		/* Long keys of equal length (ARNs) are told apart by their hashes first. */
		h = klen > 16 ? hash_key(k, klen) | 1 : 0;
		for (uint32_t i = 0; i < d->len; i++) {
			struct dent *e = &d->e[i];

			if (e->klen != klen)
				continue;
			if (h != 0) {
				if (e->hash == 0 && d->frozen != FROZEN_SHARED)
					e->hash = hash_key(e->k, e->klen) | 1;
				if (e->hash != 0 && e->hash != h)
					continue;
			}
			if (memcmp(e->k, k, klen) == 0)
				return i;
		}
		c->steps -= d->len / 16;
		return -1;
	}
	h = hash_key(k, klen) | 1;
	mask = d->icap - 1;
	for (uint32_t s = h & mask; d->idx[s] != 0; s = (s + 1) & mask) {
		struct dent *e = &d->e[d->idx[s] - 1];

		if (e->hash == h && e->klen == klen && memcmp(e->k, k, klen) == 0) {
			c->steps -= probes;
			return d->idx[s] - 1;
		}
		probes++;
	}
	/* Crafted colliding keys cost steps, so they cannot stall an evaluation. */
	c->steps -= probes;
	return -1;
}

static int from_json(struct ctx *c, const json_t *j, struct val *out, int depth);

uint32_t
fb_map_dict_len(const struct dict *d)
{
	return d->lazy != NULL ? (uint32_t)json_object_size(d->lazy) : d->len;
}

/* Converts a lazy dict's entries; depth is how deep d sits in the input. */
static int
dict_force(struct ctx *c, struct dict *d, int depth)
{
	const json_t *j = d->lazy;
	const char *k;
	json_t *x;

	if (j == NULL)
		return 0;
	d->cap = (uint32_t)json_object_size(j);
	if (d->cap > 0 && (d->e = fb_map_alloc(c, (size_t)d->cap * sizeof(struct dent))) == NULL)
		return -1;
	d->lazy = NULL;
	/* Keys of one JSON object are distinct: append without looking up. */
	json_object_foreach((json_t *)(uintptr_t)j, k, x) {
		struct dent *e = &d->e[d->len];

		e->k = k;
		e->klen = (uint32_t)strlen(k);
		e->hash = 0;
		e->v = fb_map_none();
		d->len++;
		if (from_json(c, x, &e->v, depth + 1) != 0)
			return -1;
	}
	return 0;
}

int
fb_map_dict_force(struct ctx *c, struct dict *d)
{
	return dict_force(c, d, 0);
}

int
fb_map_dict_lookup(struct ctx *c, struct dict *d, const char *k, size_t klen, struct val *out)
{
	int64_t i;

	if (d->lazy != NULL) {
		const json_t *x;

#if JANSSON_VERSION_HEX >= 0x020e00
		x = json_object_getn(d->lazy, k, klen);
#else
		char buf[256];

		if (klen >= sizeof(buf) || memchr(k, '\0', klen) != NULL)
			goto force;
		memcpy(buf, k, klen);
		buf[klen] = '\0';
		x = json_object_get(d->lazy, buf);
#endif
		if (x == NULL)
			return 0;
		/* A list or dict must stay the same object when read again: convert all. */
		if (!json_is_object(x) && !json_is_array(x))
			return from_json(c, x, out, 1) != 0 ? -1 : 1;
#if JANSSON_VERSION_HEX < 0x020e00
force:
#endif
		if (fb_map_dict_force(c, d) != 0)
			return -1;
	}
	if ((i = dict_find(c, d, k, klen)) < 0)
		return 0;
	*out = d->e[i].v;
	return 1;
}

int
fb_map_dict_set(struct ctx *c, struct dict *d, const char *k, size_t klen, struct val v)
{
	int64_t i;
	struct dent *e;

	if (fb_map_dict_force(c, d) != 0)
		return -1;
	i = dict_find(c, d, k, klen);

	if (i >= 0) {
		d->e[i].v = v;
		return 0;
	}
	if (d->len == d->cap) {
		uint32_t cap = d->cap < 4 ? 4 : d->cap * 2;
		struct dent *ne = fb_map_realloc(c, d->e, (size_t)d->cap * sizeof(struct dent),
		    (size_t)cap * sizeof(struct dent));

		if (ne == NULL)
			return -1;
		d->e = ne;
		d->cap = cap;
	}
	e = &d->e[d->len++];
	e->k = k;
	e->klen = (uint32_t)klen;
	e->hash = 0;
	e->v = v;
	if (d->idx != NULL) {
		if (d->len * 2 + 2 > d->icap) {
			index_build(c, d);
		} else {
			e->hash = hash_key(k, klen) | 1;
			index_put(d, d->len - 1);
		}
	}
	return 0;
}

/* ---- the exposed objects ------------------------------------------------------ */

const char *const fb_map_attr_names[A_COUNT] = {
    "username",
    "name",
    "email",
    "uid",
    "is_active",
    "attributes",
    "groups",
    "type",
    "upstream",
};

/* Slot of attribute a in objects of type vt (VT_USER, VT_GROUP, VT_REQUEST); -1 if none. */
int
fb_map_obj_slot(int vt, enum attr a)
{
	static const int8_t user[A_COUNT] = {0, 1, 2, 3, 4, 5, 6, -1, -1};
	static const int8_t group[A_COUNT] = {-1, 0, -1, -1, -1, 1, -1, -1, -1};
	static const int8_t request[A_COUNT] = {-1, 0, -1, -1, -1, -1, -1, 1, 2};

	if ((unsigned)a >= A_COUNT)
		return -1;
	switch (vt) {
	case VT_USER:
		return user[a];
	case VT_GROUP:
		return group[a];
	case VT_REQUEST:
		return request[a];
	default:
		return -1;
	}
}

static int
obj_fields(int vt)
{
	return vt == VT_USER ? 7 : vt == VT_GROUP ? 2 : 3;
}

int
fb_map_obj_new(struct ctx *c, int vt, const json_t *j, struct val *out)
{
	int nf = obj_fields(vt);
	struct obj *o = fb_map_alloc(c, sizeof(*o) + (size_t)nf * sizeof(struct val));

	if (o == NULL)
		return -1;
	o->j = j;
	memset(o->f, 0, (size_t)nf * sizeof(struct val)); /* VT_UNBOUND */
	out->t = (uint8_t)vt;
	out->n = 0;
	out->u.o = o;
	return 0;
}

int
fb_map_obj_field(struct ctx *c, struct val ov, enum attr a, struct val *out)
{
	int slot = fb_map_obj_slot(ov.t, a);
	struct obj *o = ov.u.o;
	const json_t *j;

	if (slot < 0)
		return fb_map_rt_error(c, FB_MAP_EATTRIBUTE, "'%s' object has no attribute '%s'",
		    fb_map_type_name(ov), (unsigned)a < A_COUNT ? fb_map_attr_names[a] : "?");
	if (o->f[slot].t != VT_UNBOUND) {
		*out = o->f[slot];
		return 0;
	}
	j = o->j;
	if (ov.t == VT_GROUP && json_is_string(j)) { /* a group given by name only */
		j = a == A_NAME ? j : NULL;
	} else if (ov.t == VT_GROUP && json_is_object(j)) {
		/* One pass over the group's members beats a lookup for each. */
		const char *k;
		json_t *x;
		const json_t *name = NULL, *attrs = NULL;

		json_object_foreach((json_t *)(uintptr_t)j, k, x) {
			if (strcmp(k, "name") == 0)
				name = x;
			else if (strcmp(k, "attributes") == 0)
				attrs = x;
		}
		if (o->f[0].t == VT_UNBOUND) {
			o->f[0] = fb_map_none();
			if (name != NULL && fb_map_from_json(c, name, &o->f[0]) != 0)
				return -1;
		}
		j = a == A_NAME ? name : attrs;
		if (a == A_NAME) {
			*out = o->f[0];
			return 0;
		}
	} else {
		j = json_is_object(j) ? json_object_get(j, fb_map_attr_names[a]) : NULL;
	}
	if (a == A_GROUPS) {
		struct list *l;
		size_t n = json_is_array(j) ? json_array_size(j) : 0;

		if ((l = fb_map_list_new(c, (uint32_t)n)) == NULL)
			return -1;
		for (size_t i = 0; i < n; i++) {
			const json_t *g = json_array_get(j, i);

			if (!json_is_object(g) && !json_is_string(g))
				continue;
			if (fb_map_obj_new(c, VT_GROUP, g, &l->v[l->len]) != 0)
				return -1;
			l->len++;
		}
		l->frozen = FROZEN;
		o->f[slot] = fb_map_list_val(l, 0);
	} else if (a == A_ATTRIBUTES && !json_is_object(j)) {
		struct dict *d = fb_map_dict_new(c, 0);

		if (d == NULL)
			return -1;
		d->frozen = FROZEN;
		o->f[slot] = fb_map_dict_val(d);
	} else if (j == NULL) {
		o->f[slot] = fb_map_none();
	} else if (fb_map_from_json(c, j, &o->f[slot]) != 0) {
		return -1;
	}
	*out = o->f[slot];
	return 0;
}

/* ---- JSON ---------------------------------------------------------------------- */

static int
from_json(struct ctx *c, const json_t *j, struct val *out, int depth)
{
	json_t *x;
	size_t i;

	if (depth > 1000)
		return fb_map_rt_error(c, FB_MAP_EVALUE, "input nested too deeply");
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		struct dict *d = fb_map_dict_new(c, 0);

		if (d == NULL)
			return -1;
		d->lazy = j;
		d->frozen = FROZEN;
		/* Small objects (group attributes) are cheaper to convert than to look up in. */
		if (json_object_size(j) <= LAZY_MIN && dict_force(c, d, depth) != 0)
			return -1;
		*out = fb_map_dict_val(d);
		return 0;
	}
	case JSON_ARRAY: {
		struct list *l = fb_map_list_new(c, (uint32_t)json_array_size(j));

		if (l == NULL)
			return -1;
		l->frozen = FROZEN;
		json_array_foreach(j, i, x) {
			if (from_json(c, x, &l->v[i], depth + 1) != 0)
				return -1;
			l->len++;
		}
		*out = fb_map_list_val(l, 0);
		return 0;
	}
	case JSON_STRING:
		*out = fb_map_str(json_string_value(j), json_string_length(j));
		return 0;
	case JSON_INTEGER:
		*out = fb_map_int(json_integer_value(j));
		return 0;
	case JSON_REAL:
		*out = fb_map_float(json_real_value(j));
		return 0;
	case JSON_TRUE:
		*out = fb_map_bool(1);
		return 0;
	case JSON_FALSE:
		*out = fb_map_bool(0);
		return 0;
	case JSON_NULL:
	default:
		*out = fb_map_none();
		return 0;
	}
}

int
fb_map_from_json(struct ctx *c, const json_t *j, struct val *out)
{
	return from_json(c, j, out, 0);
}

/* SECURITY: inputs are read-only, so one evaluation cannot leave anything for the next. */
int
fb_map_check_mutable(struct ctx *c, struct val v)
{
	int frozen = v.t == VT_DICT ? v.u.d->frozen : v.t == VT_LIST ? v.u.l->frozen : 0;

	if (frozen != 0)
		return fb_map_rt_error(c, FB_MAP_ETYPE,
		    "this %s comes from user, request or upstream and is read-only; copy it first "
		    "with %s(...)",
		    fb_map_type_name(v), fb_map_type_name(v));
	return 0;
}

int
fb_map_share(struct ctx *c, struct val v, int depth)
{
	if (depth > 1000)
		return fb_map_rt_error(c, FB_MAP_EVALUE, "input nested too deeply");
	switch (v.t) {
	case VT_LIST:
	case VT_TUPLE:
		v.u.l->frozen = FROZEN_SHARED;
		for (uint32_t i = 0; i < v.u.l->len; i++)
			if (fb_map_share(c, v.u.l->v[i], depth + 1) != 0)
				return -1;
		return 0;
	case VT_DICT:
		if (dict_force(c, v.u.d, depth) != 0)
			return -1;
		if (v.u.d->len > DICT_LINEAR && v.u.d->idx == NULL) {
			index_build(c, v.u.d);
			if (v.u.d->idx == NULL)
				return fb_map_rt_error(c, FB_MAP_EBUDGET, "out of memory");
		}
		/* Shared dicts are never written again: every hash now. */
		for (uint32_t i = 0; i < v.u.d->len; i++)
			if (v.u.d->e[i].hash == 0)
				v.u.d->e[i].hash = hash_key(v.u.d->e[i].k, v.u.d->e[i].klen) | 1;
		v.u.d->frozen = FROZEN_SHARED;
		for (uint32_t i = 0; i < v.u.d->len; i++)
			if (fb_map_share(c, v.u.d->e[i].v, depth + 1) != 0)
				return -1;
		return 0;
	case VT_USER:
	case VT_GROUP:
	case VT_REQUEST: {
		static const enum attr fields[3][7] = {
		    {A_USERNAME, A_NAME, A_EMAIL, A_UID, A_IS_ACTIVE, A_ATTRIBUTES, A_GROUPS},
		    {A_NAME, A_ATTRIBUTES},
		    {A_NAME, A_TYPE, A_UPSTREAM},
		};
		int kind = v.t == VT_USER ? 0 : v.t == VT_GROUP ? 1 : 2;

		for (int i = 0; i < obj_fields(v.t); i++) {
			struct val f;

			if (fb_map_obj_field(c, v, fields[kind][i], &f) != 0 ||
			    fb_map_share(c, f, depth + 1) != 0)
				return -1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* Charges the output's size to the memory budget: shared lists can make it much bigger. */
static int
charge_out(struct ctx *c, size_t n)
{
	if (n > c->mem_limit - c->mem_used)
		return fb_map_rt_error(c, FB_MAP_EBUDGET,
		    "memory budget exceeded (%zu bytes) while building the result", c->mem_limit);
	c->mem_used += n;
	return fb_map_charge(c, 1);
}

static int
to_json(struct ctx *c, struct val v, json_t **out, int depth)
{
	json_t *r = NULL;

	*out = NULL;
	if (depth > MAP_MAX_VALUE_DEPTH)
		return fb_map_rt_error(c, FB_MAP_EVALUE,
		    "result nested deeper than %d levels (does a list contain itself?)",
		    MAP_MAX_VALUE_DEPTH);
	if (charge_out(c, 64 + (v.t == VT_STR ? v.n : 0)) != 0)
		return -1;
	switch (v.t) {
	case VT_NONE:
		*out = json_null();
		return 0;
	case VT_BOOL:
		*out = json_boolean(v.u.i);
		return 0;
	case VT_INT:
		*out = json_integer(v.u.i);
		return 0;
	case VT_FLOAT:
		if (!isfinite(v.u.f))
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "the result contains %s, which JSON cannot represent",
			    isnan(v.u.f) ? "nan" : "inf");
		*out = json_real(v.u.f);
		return 0;
	case VT_STR:
		/*
		 * Strings are UTF-8 by construction (checked sources and JSON, and
		 * operations that cut only at character boundaries); this fast
		 * check keeps that promise to jansson without its slower one.
		 */
		if (!fb_utf8_valid(v.u.s, v.n))
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "the result has a string that is not UTF-8");
		*out = json_stringn_nocheck(v.u.s, v.n);
		return 0;
	case VT_LIST:
	case VT_TUPLE:
		r = json_array();
		for (uint32_t i = 0; i < v.u.l->len; i++) {
			json_t *x;

			if (to_json(c, v.u.l->v[i], &x, depth + 1) != 0) {
				json_decref(r);
				return -1;
			}
			json_array_append_new(r, x);
		}
		*out = r;
		return 0;
	case VT_DICT:
		if (fb_map_dict_force(c, v.u.d) != 0)
			return -1;
		r = json_object();
		for (uint32_t i = 0; i < v.u.d->len; i++) {
			const struct dent *e = &v.u.d->e[i];
			json_t *x;

			if (memchr(e->k, '\0', e->klen) != NULL) {
				json_decref(r);
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "the result has a dict key with a NUL character");
			}
			if (to_json(c, e->v, &x, depth + 1) != 0) {
				json_decref(r);
				return -1;
			}
			if (json_object_setn_new(r, e->k, e->klen, x) != 0) {
				json_decref(r);
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "the result has a dict key that is not UTF-8");
			}
		}
		*out = r;
		return 0;
	case VT_USER:
	case VT_GROUP:
	case VT_REQUEST: {
		static const enum attr fields[3][7] = {
		    {A_USERNAME, A_NAME, A_EMAIL, A_UID, A_IS_ACTIVE, A_ATTRIBUTES, A_GROUPS},
		    {A_NAME, A_ATTRIBUTES},
		    {A_NAME, A_TYPE, A_UPSTREAM},
		};
		int kind = v.t == VT_USER ? 0 : v.t == VT_GROUP ? 1 : 2;

		r = json_object();
		for (int i = 0; i < obj_fields(v.t); i++) {
			struct val f;
			json_t *x;

			if (fb_map_obj_field(c, v, fields[kind][i], &f) != 0 ||
			    to_json(c, f, &x, depth + 1) != 0) {
				json_decref(r);
				return -1;
			}
			json_object_set_new(r, fb_map_attr_names[fields[kind][i]], x);
		}
		*out = r;
		return 0;
	}
	default:
		return fb_map_rt_error(c, FB_MAP_ETYPE,
		    "a %s cannot be returned (not a JSON value)%s", fb_map_type_name(v),
		    v.t == VT_RANGE ? "; use list(range(...))" : "");
	}
}

int
fb_map_to_json(struct ctx *c, struct val v, json_t **out)
{
	return to_json(c, v, out, 0);
}

/* ---- types, truth, equality, order -------------------------------------------------- */

const char *
fb_map_vtype_name(int vt)
{
	switch (vt) {
	case VT_NONE:
		return "NoneType";
	case VT_BOOL:
		return "bool";
	case VT_INT:
		return "int";
	case VT_FLOAT:
		return "float";
	case VT_STR:
		return "str";
	case VT_LIST:
		return "list";
	case VT_TUPLE:
		return "tuple";
	case VT_DICT:
		return "dict";
	case VT_RANGE:
		return "range";
	case VT_USER:
		return "user";
	case VT_GROUP:
		return "group";
	case VT_REQUEST:
		return "request";
	case VT_TYPE:
		return "type";
	default:
		return "unbound";
	}
}

const char *
fb_map_type_name(struct val v)
{
	return fb_map_vtype_name(v.t);
}

int64_t
fb_map_range_len(const struct range *r)
{
	if (r->step > 0 && r->start < r->stop)
		return (
		    int64_t)(((uint64_t)r->stop - (uint64_t)r->start - 1) / (uint64_t)r->step + 1);
	if (r->step < 0 && r->start > r->stop)
		return (int64_t)(((uint64_t)r->start - (uint64_t)r->stop - 1) /
		                     ((uint64_t)(-(r->step + 1)) + 1) +
		                 1);
	return 0;
}

int
fb_map_truthy(struct val v)
{
	switch (v.t) {
	case VT_NONE:
	case VT_UNBOUND:
		return 0;
	case VT_BOOL:
	case VT_INT:
		return v.u.i != 0;
	case VT_FLOAT:
		return v.u.f < 0 || v.u.f > 0 || isnan(v.u.f);
	case VT_STR:
		return v.n > 0;
	case VT_LIST:
	case VT_TUPLE:
		return v.u.l->len > 0;
	case VT_DICT:
		return fb_map_dict_len(v.u.d) > 0;
	case VT_RANGE:
		return fb_map_range_len(v.u.r) > 0;
	default:
		return 1;
	}
}

static int
is_num(struct val v)
{
	return v.t == VT_BOOL || v.t == VT_INT || v.t == VT_FLOAT;
}

/* Compares two numbers exactly: -1, 0, 1, or 2 when unordered (nan). */
static int
num_cmp(struct val a, struct val b)
{
	if (a.t != VT_FLOAT && b.t != VT_FLOAT)
		return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
	if (a.t == VT_FLOAT && b.t == VT_FLOAT) {
		if (isnan(a.u.f) || isnan(b.u.f))
			return 2;
		return a.u.f < b.u.f ? -1 : a.u.f > b.u.f;
	}
	if (a.t == VT_FLOAT) {
		int r = num_cmp(b, a);

		return r == 2 ? 2 : -r;
	}
	/* a int, b float: compare without losing the int's low bits. */
	if (isnan(b.u.f))
		return 2;
	if (b.u.f >= 9223372036854775808.0)
		return -1;
	if (b.u.f < -9223372036854775808.0)
		return 1;
	{
		double fl = floor(b.u.f);
		int64_t bi = (int64_t)fl;

		if (a.u.i < bi)
			return -1;
		if (a.u.i > bi)
			return 1;
		return b.u.f > fl ? -1 : 0;
	}
}

static int
equal(struct ctx *c, struct val a, struct val b, int depth)
{
	if (depth > MAP_MAX_VALUE_DEPTH)
		return fb_map_rt_error(c, FB_MAP_EVALUE,
		    "values nested deeper than %d levels (does a list contain itself?)",
		    MAP_MAX_VALUE_DEPTH);
	if (is_num(a) && is_num(b))
		return num_cmp(a, b) == 0;
	if (a.t != b.t)
		return 0;
	switch (a.t) {
	case VT_NONE:
		return 1;
	case VT_STR:
		if (fb_map_charge_bytes(c, a.n) != 0)
			return -1;
		return a.n == b.n && memcmp(a.u.s, b.u.s, a.n) == 0;
	case VT_LIST:
	case VT_TUPLE:
		if (a.u.l->len != b.u.l->len)
			return 0;
		for (uint32_t i = 0; i < a.u.l->len; i++) {
			int r;

			if (fb_map_charge(c, 1) != 0)
				return -1;
			r = equal(c, a.u.l->v[i], b.u.l->v[i], depth + 1);
			if (r != 1)
				return r;
		}
		return 1;
	case VT_DICT:
		if (fb_map_dict_len(a.u.d) != fb_map_dict_len(b.u.d))
			return 0;
		if (fb_map_dict_force(c, a.u.d) != 0)
			return -1;
		for (uint32_t i = 0; i < a.u.d->len; i++) {
			const struct dent *e = &a.u.d->e[i];
			struct val o;
			int r;

			if (fb_map_charge(c, 1) != 0)
				return -1;
			if ((r = fb_map_dict_lookup(c, b.u.d, e->k, e->klen, &o)) != 1)
				return r;
			r = equal(c, e->v, o, depth + 1);
			if (r != 1)
				return r;
		}
		return 1;
	case VT_RANGE: {
		int64_t la = fb_map_range_len(a.u.r), lb = fb_map_range_len(b.u.r);

		if (la != lb)
			return 0;
		if (la == 0)
			return 1;
		if (a.u.r->start != b.u.r->start)
			return 0;
		return la == 1 || a.u.r->step == b.u.r->step;
	}
	case VT_TYPE:
		return a.n == b.n;
	default:
		return a.u.o == b.u.o;
	}
}

int
fb_map_equal(struct ctx *c, struct val a, struct val b)
{
	return equal(c, a, b, 0);
}

static int
compare(struct ctx *c, struct val a, struct val b, const char *op, int depth)
{
	if (depth > MAP_MAX_VALUE_DEPTH) {
		fb_map_rt_error(c, FB_MAP_EVALUE,
		    "values nested deeper than %d levels (does a list contain itself?)",
		    MAP_MAX_VALUE_DEPTH);
		return -2;
	}
	if (is_num(a) && is_num(b)) {
		int r = num_cmp(a, b);

		return r == 2 ? 0 : r; /* nan: neither smaller nor larger */
	}
	if (a.t == VT_STR && b.t == VT_STR) {
		size_t n = a.n < b.n ? a.n : b.n;
		int r = n > 0 ? memcmp(a.u.s, b.u.s, n) : 0;

		if (fb_map_charge_bytes(c, n) != 0)
			return -2;
		if (r != 0)
			return r < 0 ? -1 : 1;
		return a.n < b.n ? -1 : a.n > b.n;
	}
	if (a.t == b.t && (a.t == VT_LIST || a.t == VT_TUPLE)) {
		uint32_t n = a.u.l->len < b.u.l->len ? a.u.l->len : b.u.l->len;

		for (uint32_t i = 0; i < n; i++) {
			int r;

			if (fb_map_charge(c, 1) != 0)
				return -2;
			r = equal(c, a.u.l->v[i], b.u.l->v[i], depth + 1);
			if (r < 0)
				return -2;
			if (r == 0)
				return compare(c, a.u.l->v[i], b.u.l->v[i], op, depth + 1);
		}
		return a.u.l->len < b.u.l->len ? -1 : a.u.l->len > b.u.l->len;
	}
	fb_map_rt_error(c, FB_MAP_ETYPE, "'%s' not supported between instances of '%s' and '%s'",
	    op, fb_map_type_name(a), fb_map_type_name(b));
	return -2;
}

int
fb_map_compare(struct ctx *c, struct val a, struct val b, const char *op)
{
	return compare(c, a, b, op, 0);
}

/* ---- UTF-8 ---------------------------------------------------------------------- */

int
fb_map_is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/* ---- building strings -------------------------------------------------------------- */

void
fb_map_sb_init(struct sbuf *b, struct ctx *c)
{
	b->c = c;
	b->p = NULL;
	b->len = b->cap = 0;
}

int
fb_map_sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (b->p == NULL || n > b->cap - b->len) {
		size_t cap = b->cap < 32 ? 32 : b->cap;
		char *np;

		while (cap - b->len < n) {
			if (cap > UINT32_MAX / 2)
				return fb_map_rt_error(b->c, FB_MAP_EBUDGET,
				    "memory budget exceeded (%zu bytes)", b->c->mem_limit);
			cap *= 2;
		}
		if ((np = fb_map_realloc(b->c, b->p, b->cap, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

int
fb_map_sb_addc(struct sbuf *b, char ch)
{
	return fb_map_sb_add(b, &ch, 1);
}

struct val
fb_map_sb_val(struct sbuf *b)
{
	return fb_map_str(b->p != NULL ? b->p : "", b->len);
}

void
fb_map_float_repr(double f, char *out, size_t outlen)
{
	char buf[40], digits[20];
	int exp, nd = 0, neg;
	char *e;

	if (isnan(f)) {
		snprintf(out, outlen, "nan");
		return;
	}
	if (isinf(f)) {
		snprintf(out, outlen, f < 0 ? "-inf" : "inf");
		return;
	}
	if (!(f < 0 || f > 0)) {
		snprintf(out, outlen, signbit(f) ? "-0.0" : "0.0");
		return;
	}
	/* The shortest digit string that reads back as the same double (Python's repr). */
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, f);
		if (strtod(buf, NULL) == f)
			break;
	}
	neg = buf[0] == '-';
	e = strchr(buf, 'e');
	exp = (int)strtol(e + 1, NULL, 10);
	for (char *q = buf + neg; q < e; q++)
		if (*q != '.')
			digits[nd++] = *q;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	if (exp >= -4 && exp < 16) {
		char *o = out;
		size_t left = outlen;
		int w;

		w = snprintf(o, left, "%s", neg ? "-" : "");
		o += w;
		left -= (size_t)w;
		if (exp < 0) {
			w = snprintf(o, left, "0.%.*s%s", -exp - 1, "00000", digits);
		} else if (nd <= exp + 1) {
			w = snprintf(o, left, "%s%.*s.0", digits, exp + 1 - nd, "0000000000000000");
		} else {
			w = snprintf(o, left, "%.*s.%s", exp + 1, digits, digits + exp + 1);
		}
		(void)w;
		return;
	}
	snprintf(out, outlen, "%s%c%s%se%c%02d", neg ? "-" : "", digits[0], nd > 1 ? "." : "",
	    digits + 1, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

static int
sb_repr_str(struct sbuf *b, const char *s, size_t n)
{
	char q = memchr(s, '\'', n) != NULL && memchr(s, '"', n) == NULL ? '"' : '\'';

	if (fb_map_charge_bytes(b->c, n) != 0 || fb_map_sb_addc(b, q) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[8];
		int r;

		if (ch == '\\' || ch == (unsigned char)q) {
			esc[0] = '\\';
			esc[1] = (char)ch;
			r = fb_map_sb_add(b, esc, 2);
		} else if (ch == '\n') {
			r = fb_map_sb_add(b, "\\n", 2);
		} else if (ch == '\r') {
			r = fb_map_sb_add(b, "\\r", 2);
		} else if (ch == '\t') {
			r = fb_map_sb_add(b, "\\t", 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", ch);
			r = fb_map_sb_add(b, esc, 4);
		} else {
			r = fb_map_sb_addc(b, (char)ch);
		}
		if (r != 0)
			return -1;
	}
	return fb_map_sb_addc(b, q);
}

static int
sb_value(struct sbuf *b, struct val v, int repr, int depth)
{
	struct ctx *c = b->c;
	char num[64];
	int r = 0;

	if (depth > MAP_MAX_VALUE_DEPTH)
		return fb_map_rt_error(c, FB_MAP_EVALUE,
		    "values nested deeper than %d levels (does a list contain itself?)",
		    MAP_MAX_VALUE_DEPTH);
	if (fb_map_charge(c, 1) != 0)
		return -1;
	switch (v.t) {
	case VT_NONE:
		return fb_map_sb_add(b, "None", 4);
	case VT_BOOL:
		return v.u.i ? fb_map_sb_add(b, "True", 4) : fb_map_sb_add(b, "False", 5);
	case VT_INT:
		snprintf(num, sizeof(num), "%lld", (long long)v.u.i);
		return fb_map_sb_add(b, num, strlen(num));
	case VT_FLOAT:
		fb_map_float_repr(v.u.f, num, sizeof(num));
		return fb_map_sb_add(b, num, strlen(num));
	case VT_STR:
		if (!repr) {
			if (fb_map_charge_bytes(c, v.n) != 0)
				return -1;
			return fb_map_sb_add(b, v.u.s, v.n);
		}
		return sb_repr_str(b, v.u.s, v.n);
	case VT_LIST:
	case VT_TUPLE:
		if (fb_map_sb_addc(b, v.t == VT_LIST ? '[' : '(') != 0)
			return -1;
		for (uint32_t i = 0; i < v.u.l->len && r == 0; i++) {
			if (i > 0)
				r = fb_map_sb_add(b, ", ", 2);
			if (r == 0)
				r = sb_value(b, v.u.l->v[i], 1, depth + 1);
		}
		if (r == 0 && v.t == VT_TUPLE && v.u.l->len == 1)
			r = fb_map_sb_addc(b, ',');
		return r != 0 ? -1 : fb_map_sb_addc(b, v.t == VT_LIST ? ']' : ')');
	case VT_DICT:
		if (fb_map_dict_force(c, v.u.d) != 0 || fb_map_sb_addc(b, '{') != 0)
			return -1;
		for (uint32_t i = 0; i < v.u.d->len && r == 0; i++) {
			const struct dent *e = &v.u.d->e[i];

			if (i > 0)
				r = fb_map_sb_add(b, ", ", 2);
			if (r == 0)
				r = sb_repr_str(b, e->k, e->klen);
			if (r == 0)
				r = fb_map_sb_add(b, ": ", 2);
			if (r == 0)
				r = sb_value(b, e->v, 1, depth + 1);
		}
		return r != 0 ? -1 : fb_map_sb_addc(b, '}');
	case VT_RANGE:
		if (v.u.r->step == 1)
			snprintf(num, sizeof(num), "range(%lld, %lld)", (long long)v.u.r->start,
			    (long long)v.u.r->stop);
		else
			snprintf(num, sizeof(num), "range(%lld, %lld, %lld)",
			    (long long)v.u.r->start, (long long)v.u.r->stop,
			    (long long)v.u.r->step);
		return fb_map_sb_add(b, num, strlen(num));
	case VT_USER:
	case VT_GROUP: {
		struct val name;

		if (fb_map_obj_field(c, v, v.t == VT_USER ? A_USERNAME : A_NAME, &name) != 0)
			return -1;
		if (fb_map_sb_add(b, v.t == VT_USER ? "<user " : "<group ",
		        v.t == VT_USER ? 6 : 7) != 0 ||
		    sb_value(b, name, 1, depth + 1) != 0)
			return -1;
		return fb_map_sb_addc(b, '>');
	}
	case VT_REQUEST:
		return fb_map_sb_add(b, "<request>", 9);
	case VT_TYPE:
		snprintf(num, sizeof(num), "<class '%s'>", fb_map_vtype_name((int)v.n));
		return fb_map_sb_add(b, num, strlen(num));
	default:
		return fb_map_rt_error(c, FB_MAP_EVALUE, "unbound value");
	}
}

int
fb_map_sb_str(struct sbuf *b, struct val v)
{
	return sb_value(b, v, 0, 0);
}

int
fb_map_sb_repr(struct sbuf *b, struct val v)
{
	return sb_value(b, v, 1, 0);
}

int
fb_map_to_str(struct ctx *c, struct val v, struct val *out)
{
	struct sbuf b;

	if (v.t == VT_STR) {
		*out = v;
		return 0;
	}
	fb_map_sb_init(&b, c);
	if (fb_map_sb_str(&b, v) != 0)
		return -1;
	*out = fb_map_sb_val(&b);
	return 0;
}
