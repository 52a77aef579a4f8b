/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_form.c: libFuzzer target for the urlencoded form parser (http/form.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "http/http.h"
#include "http/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fb_arena *a = fb_arena_new();
	struct fb_http_form *f = NULL;
	struct fb_err err;
	const char *v;

	/* Every value read back must be a string of its own (NUL-terminated, bounded). */
	if (fb_http_form_parse(a, (const char *)data, size, &f, &err) == FB_OK) {
		if (fb_http_form_count(f) > FB_HTTP_FORM_FIELDS_MAX)
			__builtin_trap();
		for (const char *const *n = (const char *const[]){"a", "csrf", "next", "username",
		         "password", "", NULL};
		     *n != NULL; n++)
			if ((v = fb_http_form_get(f, *n)) != NULL && strlen(v) > FB_HTTP_FORM_VALUE_MAX)
				__builtin_trap();
	}
	fb_arena_free(a);
	return 0;
}
