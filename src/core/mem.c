/* SPDX-License-Identifier: Apache-2.0 */
/* core/mem.c: allocation that never returns NULL, bounded buffers, arenas. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/core.h"

static void
oom(size_t n)
{
	fb_log_write(FB_LOG_ERROR, "app", __func__, NULL, NULL, "out of memory (%zu bytes)", n);
	abort();
}

void *
fb_xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		oom(n);
	return p;
}

void *
fb_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *
fb_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);

	if (q == NULL)
		oom(n);
	return q;
}

char *
fb_xstrdup(const char *s)
{
	return fb_xstrndup(s, strlen(s));
}

char *
fb_xstrndup(const char *s, size_t n)
{
	char *p;
	size_t len = strnlen(s, n);

	p = fb_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
fb_xvasprintf(const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	char *p;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		oom(0);
	p = fb_xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *
fb_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = fb_xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void
fb_secret_wipe(void *p, size_t n)
{
	if (p != NULL)
		OPENSSL_cleanse(p, n);
}

void
fb_secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* ---- fb_buf ---- */

void
fb_buf_init(struct fb_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

enum fb_status
fb_buf_add(struct fb_buf *b, const void *p, size_t n, struct fb_err *err)
{
	size_t want;

	if (n > b->max || b->len > b->max - n)
		return fb_err_set(err, FB_ERR_LIMIT, "buffer limit of %zu bytes exceeded", b->max);
	want = b->len + n + 1;
	if (want > b->cap) {
		size_t cap = b->cap == 0 ? 64 : b->cap;

		while (cap < want)
			cap *= 2;
		b->data = fb_xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return FB_OK;
}

enum fb_status
fb_buf_addf(struct fb_buf *b, struct fb_err *err, const char *fmt, ...)
{
	va_list ap;
	char *s;
	enum fb_status r;

	va_start(ap, fmt);
	s = fb_xvasprintf(fmt, ap);
	va_end(ap);
	r = fb_buf_add(b, s, strlen(s), err);
	free(s);
	return r;
}

enum fb_status
fb_buf_add_escaped(struct fb_buf *b, const char *s, struct fb_err *err)
{
	const char *run;

	if (s == NULL)
		return FB_OK;
	run = s;
	for (const char *p = s;; p++) {
		const char *ent = NULL;

		/* Long runs without a special character (base64 in the SAML form) in one step. */
		p += strcspn(p, "&<>\"'");
		switch (*p) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		case '\'':
			ent = "&#39;";
			break;
		case '\0':
			return fb_buf_add(b, run, (size_t)(p - run), err);
		default:
			break;
		}
		if (ent != NULL) {
			enum fb_status r;

			if ((r = fb_buf_add(b, run, (size_t)(p - run), err)) != FB_OK ||
			    (r = fb_buf_add(b, ent, strlen(ent), err)) != FB_OK)
				return r;
			run = p + 1;
		}
	}
}

char *
fb_buf_take(struct fb_buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = fb_xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
fb_buf_reset(struct fb_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
fb_buf_cleanup(struct fb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- fb_arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	_Alignas(max_align_t) unsigned char mem[];
};

struct arena_dispose {
	struct arena_dispose *next;
	void (*fn)(void *);
	void *p;
};

struct fb_arena {
	struct arena_chunk *chunks;
	struct arena_dispose *disposers;
};

#define ARENA_CHUNK 4096

struct fb_arena *
fb_arena_new(void)
{
	return fb_xcalloc(1, sizeof(struct fb_arena));
}

void
fb_arena_free(struct fb_arena *a)
{
	struct arena_chunk *c, *cn;
	struct arena_dispose *d, *dn;

	if (a == NULL)
		return;
	/* Disposers were pushed on the front: this runs them newest first. */
	for (d = a->disposers; d != NULL; d = dn) {
		dn = d->next;
		d->fn(d->p);
	}
	for (c = a->chunks; c != NULL; c = cn) {
		cn = c->next;
		free(c);
	}
	free(a);
}

void *
fb_arena_alloc(struct fb_arena *a, size_t n)
{
	struct arena_chunk *c = a->chunks;
	size_t align = _Alignof(max_align_t);
	void *p;

	n = (n + align - 1) & ~(align - 1);
	if (c == NULL || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = fb_xmalloc(sizeof(*c) + size);
		c->used = 0;
		c->size = size;
		c->next = a->chunks;
		a->chunks = c;
	}
	p = c->mem + c->used;
	c->used += n;
	return p;
}

char *
fb_arena_strdup(struct fb_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = fb_arena_alloc(a, n);

	memcpy(p, s, n);
	return p;
}

char *
fb_arena_printf(struct fb_arena *a, const char *fmt, ...)
{
	va_list ap;
	char *tmp, *p;

	va_start(ap, fmt);
	tmp = fb_xvasprintf(fmt, ap);
	va_end(ap);
	p = fb_arena_strdup(a, tmp);
	free(tmp);
	return p;
}

void
fb_arena_dispose(struct fb_arena *a, void (*fn)(void *), void *p)
{
	struct arena_dispose *d = fb_arena_alloc(a, sizeof(*d));

	d->fn = fn;
	d->p = p;
	d->next = a->disposers;
	a->disposers = d;
}
