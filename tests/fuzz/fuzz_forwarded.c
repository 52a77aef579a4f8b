/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_forwarded.c: libFuzzer target for the forwarding headers
 * of a trusted proxy (fb_http_origin_resolve: Forwarded, X-Forwarded-For,
 * -Proto, -Host, X-Request-Id). The input is header lines "Name: value"
 * separated by newlines; a name of one letter stands for a header
 * (F Forwarded, X X-Forwarded-For, P -Proto, H -Host, R X-Request-Id).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/core.h"
#include "http/http.h"
#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
header_name(const char *s)
{
	static const struct {
		const char *abbr, *name;
	} names[] = {{"F", "Forwarded"}, {"X", "X-Forwarded-For"}, {"P", "X-Forwarded-Proto"},
	    {"H", "X-Forwarded-Host"}, {"R", "X-Request-Id"}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].abbr) == 0)
			return names[i].name;
	return s;
}

/* SECURITY: whatever the headers, the client is an address, never other text. */
static void
check(const struct fb_http_origin *o, const char *peer)
{
	struct fb_addr a;

	if (strcmp(o->client, peer) != 0 && !fb_addr_parse(o->client, &a))
		__builtin_trap();
	if (o->proto[0] != '\0' && strcmp(o->proto, "http") != 0 && strcmp(o->proto, "https") != 0)
		__builtin_trap();
	if (strlen(o->host) > FB_HTTP_HOST_MAX ||
	    o->host[strspn(o->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                            "0123456789.-:[]")] != '\0')
		__builtin_trap();
	if (o->upstream_id[0] != '\0' && !fb_http_reqid_check(o->upstream_id))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *list[] = {(char *)"10.0.0.0/8", (char *)"2001:db8::/32"};
	struct fb_http_proxies tp;
	struct fb_http_origin o;
	struct evkeyvalq h;
	struct fb_arena *arena;
	char *s, *line, *next;

	if (fb_http_proxies_parse(list, 2, &tp, NULL) != FB_OK)
		__builtin_trap();
	s = fb_xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	TAILQ_INIT(&h);
	for (line = s; line != NULL; line = next) {
		char *colon;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		evhttp_add_header(&h, header_name(line), colon + (colon[1] == ' ' ? 2 : 1));
	}
	arena = fb_arena_new();
	fb_http_origin_resolve(&tp, "10.0.0.1", &h, arena, &o);
	check(&o, "10.0.0.1");
	fb_http_origin_resolve(&tp, "2001:db8::7", &h, arena, &o);
	check(&o, "2001:db8::7");
	/* An untrusted peer: nothing is read. */
	fb_http_origin_resolve(&tp, "192.0.2.1", &h, arena, &o);
	if (o.trusted || strcmp(o.client, "192.0.2.1") != 0 || o.proto[0] != '\0' ||
	    o.upstream_id[0] != '\0')
		__builtin_trap();
	fb_arena_free(arena);
	evhttp_clear_headers(&h);
	fb_http_proxies_cleanup(&tp);
	free(s);
	return 0;
}
