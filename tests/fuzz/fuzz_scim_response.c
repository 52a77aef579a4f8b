/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_scim_response.c: libFuzzer target for the readers of a SCIM
 * target's answers (scim/body.c): list pages (Resources, totalResults,
 * itemsPerPage, nextCursor), a resource's id, and error bodies (RFC 7644
 * 3.12 or AWS's shape).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "scim/scim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s, int may_be_null)
{
	if (s == NULL) {
		if (!may_be_null)
			__builtin_trap();
		return;
	}
	if (s[0] == '\0' || strlen(s) > FB_SCIM_ID_MAX)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct fb_scim_page p;
	struct fb_err err = {0};
	char detail[400], *id;

	if (size > 1024 * 1024)
		return 0;
	for (int k = 0; k < 2; k++) {
		if (fb_scim_page_parse(body, size, k == 0 ? "userName" : "displayName", &p, &err) ==
		    FB_OK) {
			/* Every entry has an id; strings bounded; counts sane. */
			if (p.total < -1 || p.items < 0 || (p.n > 0 && p.v == NULL))
				__builtin_trap();
			for (size_t i = 0; i < p.n; i++) {
				check_str(p.v[i].id, 0);
				check_str(p.v[i].external_id, 1);
				check_str(p.v[i].name, 1);
				if (p.v[i].active != 0 && p.v[i].active != 1)
					__builtin_trap();
			}
			check_str(p.next_cursor, 1);
		} else if (p.v != NULL || p.n != 0 || err.msg[0] == '\0') {
			__builtin_trap(); /* a failure zeroes the page and says why */
		}
		fb_scim_page_cleanup(&p);
	}
	if ((id = fb_scim_resource_id(body, size)) != NULL)
		check_str(id, 0);
	free(id);
	/* The detail is bounded and printable: it goes to logs and the outbox. */
	fb_scim_error_detail(body, size, detail, sizeof(detail));
	if (strlen(detail) >= sizeof(detail))
		__builtin_trap();
	for (const char *c = detail; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			__builtin_trap();
	return 0;
}
