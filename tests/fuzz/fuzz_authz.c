/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_authz.c: libFuzzer target for forward auth's decision
 * (src/authz): input "METHOD\nHOST\nURI" against a fixed apps: list.
 * Traps when a normalised path keeps a "." or ".." segment, an empty
 * segment or a control character, when a host keeps upper case, a port or
 * a trailing dot, or when an anonymous request reaches /admin or passes
 * outside the anonymous /public.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "authz/authz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf_text[] = "apps:\n"
                                "  - name: a\n"
                                "    hosts: [a.test, b.test/app]\n"
                                "    rules:\n"
                                "      - {path: /public, action: anonymous}\n"
                                "      - {path: /admin, action: deny}\n";

static void
path_check(const char *p)
{
	if (p[0] != '/')
		__builtin_trap();
	for (const char *s = p; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
			__builtin_trap();
		if (s[0] == '/' && s[1] == '/')
			__builtin_trap();
		if (s[0] == '/' && s[1] == '.' && (s[2] == '/' || s[2] == '\0'))
			__builtin_trap();
		if (s[0] == '/' && s[1] == '.' && s[2] == '.' && (s[3] == '/' || s[3] == '\0'))
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fb_conf *conf;
	static struct fb_authz *az;
	struct fb_authz_request rq = {0};
	struct fb_authz_decision d;
	char *in, *host, *uri, *nl;
	struct fb_err err;

	if (conf == NULL) {
		if (fb_conf_load_string(conf_text, strlen(conf_text), "fuzz.yaml", NULL, &conf,
		        NULL, &err) != FB_OK)
			abort();
		az = fb_authz_new(conf);
	}
	in = fb_xmalloc(size + 1);
	memcpy(in, data, size);
	in[size] = '\0';
	if ((nl = strchr(in, '\n')) == NULL)
		goto out;
	*nl = '\0';
	host = nl + 1;
	if ((nl = strchr(host, '\n')) == NULL)
		goto out;
	*nl = '\0';
	uri = nl + 1;
	rq.method = in;
	rq.host = host;
	rq.uri = uri;
	fb_authz_decide(az, &rq, &d);
	if (d.path != NULL)
		path_check(d.path);
	if (d.verdict != FB_AUTHZ_BAD_REQUEST)
		for (const char *s = d.host; *s != '\0'; s++)
			if ((*s >= 'A' && *s <= 'Z') || (*s == ':' && d.host[0] != '[') ||
			    (*s == '.' && s[1] == '\0'))
				__builtin_trap();
	/* SECURITY: nobody reaches /admin; an anonymous request passes only under /public. */
	if (d.verdict == FB_AUTHZ_ANONYMOUS || d.verdict == FB_AUTHZ_ALLOW) {
		const char *p = d.path;

		if (d.app == NULL || p == NULL)
			__builtin_trap();
		if (strcmp(d.host, "b.test") == 0)
			p += 4; /* "/app" */
		if (strncmp(p, "/admin", 6) == 0 && (p[6] == '\0' || p[6] == '/'))
			__builtin_trap();
		if (d.verdict == FB_AUTHZ_ANONYMOUS &&
		    !(strncmp(p, "/public", 7) == 0 && (p[7] == '\0' || p[7] == '/')))
			__builtin_trap();
	}
	fb_authz_decision_cleanup(&d);
out:
	free(in);
	return 0;
}
