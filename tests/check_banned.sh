#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails on functions STYLE.md bans: raw allocation outside src/core/mem.c,
# unbounded string functions, and unchecked number parsing.
srcdir=${srcdir:-.}
cd "$srcdir" || exit 99
fail=0
banned='strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|sscanf|gets|strncpy'
out=$(grep -nE "(^|[^_a-zA-Z0-9.>])($banned)[[:space:]]*\(" $(find src tests -name '*.c' -o -name '*.h') 2>/dev/null |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*)')
if [ -n "$out" ]; then
	echo "banned functions (use snprintf, fb_buf, strtol with checks):"
	echo "$out"
	fail=1
fi
out=$(grep -nE "(^|[^_a-zA-Z0-9.>])(malloc|calloc|realloc)[[:space:]]*\(" $(find src -name '*.c') |
	grep -v '^src/core/mem.c:' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*)')
if [ -n "$out" ]; then
	echo "raw allocation outside src/core/mem.c (use fb_xmalloc and friends):"
	echo "$out"
	fail=1
fi
[ $fail -eq 0 ] && echo "banned functions: none"
exit $fail
