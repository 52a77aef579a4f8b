#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails on the functions docs/STYLE.md ("Memory, strings and input") bans:
# unbounded or truncating string functions and unchecked number parsing
# anywhere, and allocation outside src/core/mem.c (malloc and friends, and
# the functions that allocate behind the caller's back: strdup, strndup,
# asprintf, vasprintf), which must go through fb_xmalloc, fb_xstrdup,
# fb_xasprintf.
#
#   check_banned.sh            self-test (each tests/fixtures/checks/banned
#                              file named bad_* must fail, good_* must pass),
#                              then every .c and .h of src/ and tests/
#   check_banned.sh FILE...    only those files
srcdir=${srcdir:-.}
cd "$srcdir" || exit 99
top=$(pwd)

strings='strcpy|strcat|strncat|sprintf|vsprintf|strtok|atoi|atol|atoll|sscanf|gets|strncpy'
alloc='malloc|calloc|realloc|strdup|strndup|asprintf|vasprintf'

# Lines of files $2... calling a function of the regular expression $1, comment
# lines aside. A call is the name not preceded by a name character, '.' or
# '>' (so fb_xstrdup and s->gets do not count), then optional space and '('.
calls() {
	pat=$1
	shift
	[ $# -gt 0 ] || return 0
	grep -nHE "(^|[^_a-zA-Z0-9.>])($pat)[[:space:]]*\(" "$@" 2>/dev/null |
	    grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*)'
}

# Checks files $@; prints each problem; returns 1 when there is one.
check_files() {
	fail=0
	out=$(calls "$strings" "$@")
	if [ -n "$out" ]; then
		echo "banned functions (use snprintf, fb_buf, strtol with checks):"
		echo "$out"
		fail=1
	fi
	out=$(calls "$alloc" "$@" | grep -v '^src/core/mem\.c:')
	if [ -n "$out" ]; then
		echo "allocation outside src/core/mem.c (use fb_xmalloc, fb_xstrdup, fb_xasprintf):"
		echo "$out"
		fail=1
	fi
	return $fail
}

# Each bad_* fixture alone must fail and each good_* must pass: a pattern that
# stops matching would otherwise let the whole tree pass unseen.
self_test() {
	bad=0
	n=0
	for f in tests/fixtures/checks/banned/*.c; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		out=$(check_files "$f")
		rc=$?
		case ${f##*/} in
		bad_*) [ $rc -ne 0 ] || { echo "banned self-test: $f passed, must fail"; bad=1; } ;;
		good_*) [ $rc -eq 0 ] || { echo "banned self-test: $f failed: $out"; bad=1; } ;;
		esac
	done
	if [ $n -eq 0 ]; then
		echo "banned self-test: no fixture in $top/tests/fixtures/checks/banned"
		return 1
	fi
	[ $bad -eq 0 ] && echo "banned self-test: every bad_* fixture fails, every good_* passes"
	return $bad
}

if [ $# -gt 0 ]; then
	check_files "$@"
	exit $?
fi
self_test || exit 1
# shellcheck disable=SC2046
check_files $(find src tests -path tests/fixtures/checks -prune -o -path tests/peers -prune -o \
    \( -name '*.c' -o -name '*.h' \) -print | sort)
fail=$?
[ $fail -eq 0 ] && echo "banned functions: none"
exit $fail
