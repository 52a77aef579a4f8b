/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_next.c: libFuzzer target for the open-redirect guard (fb_http_next_check). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "http/http.h"
#include "http/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fb_xmalloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	/* SECURITY: what passes is a local path a browser cannot read as another host. */
	if (fb_http_next_check(s)) {
		size_t n = strlen(s);

		if (s[0] != '/' || (n > 1 && (s[1] == '/' || s[1] == '\\')) || n > FB_HTTP_NEXT_MAX ||
		    strpbrk(s, "\\\t\r\n") != NULL)
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
				__builtin_trap();
	}
	free(s);
	return 0;
}
