#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails when the library defines a global symbol without the fb_ prefix
# (AddressSanitizer's own __odr_asan markers aside).
lib=src/.libs/libfedbroker.a
[ -f "$lib" ] || { echo "no $lib: build first"; exit 99; }
bad=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBRC]/ { print $3 }' |
	grep -v '^fb_' | grep -v '^__odr_asan' | sort -u)
if [ -n "$bad" ]; then
	echo "global symbols without the fb_ prefix:"
	echo "$bad"
	exit 1
fi
echo "exports: all prefixed fb_"
