#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails when a module includes a header of a module on its own layer or a
# higher one, or when a library that belongs to one module is included
# elsewhere. The layers and the owners of each library are described in
# docs/ARCHITECTURE.md ("Layers"): core < conf < crypto, store, net < ident
# < map < local, saml, upstream < http < daemon < cli < main.c (directory, oidc, authz
# and scim have their places kept for the modules still to come).
#
# Every spelling of an include counts: "# include", "#include<...>", and
# relative paths ("../http/http.h", "./internal.h") resolved from the file.
#
#   check_layering.sh          self-test (each tests/fixtures/checks/layering
#                              file named bad_* must fail, good_* must pass),
#                              then the whole of src/
#   check_layering.sh DIR      only the modules under DIR (a src/-like tree)
srcdir=${srcdir:-.}
cd "$srcdir" || exit 99
top=$(pwd)

level() {
	case $1 in
	core) echo 0 ;; conf) echo 1 ;; crypto|store|net) echo 2 ;;
	ident|directory) echo 3 ;; map) echo 4 ;;
	local|saml|oidc|upstream|authz|scim) echo 5 ;; http) echo 6 ;; daemon) echo 7 ;;
	cli) echo 8 ;; main.c) echo 9 ;; *) echo "" ;;
	esac
}

# The quoted includes of file $1 (relative to the tree's root), one a line, as
# the module each names: "http/http.h" -> http, a bare "internal.h" -> the
# file's own module, "../http/http.h" -> resolved from the file's folder.
included_modules() {
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1" |
	while read -r inc; do
		case $inc in
		./*|../*)
			dir=$(dirname "$1")
			rel=$(realpath -m --relative-to=. "$dir/$inc")
			echo "${rel%%/*}" ;;
		*/*) echo "${inc%%/*}" ;;
		*) echo "${1%%/*}" ;;
		esac
	done | sort -u
}

# The system includes (<...>) of file $1 whose path starts with one of the
# extended regular expression $2, e.g. 'event2/http'.
includes_lib() {
	grep -Eq "^[[:space:]]*#[[:space:]]*include[[:space:]]*<($2)" "$1"
}

# Checks every .c and .h below the current folder (a src/ tree); prints each
# problem; returns 1 when there is one.
check_tree() {
	fail=0
	for f in $(find . -name '*.[ch]' | sed 's|^\./||' | sort); do
		mod=${f%%/*}
		mylevel=$(level "$mod")
		if [ -z "$mylevel" ]; then
			echo "$f: module '$mod' has no layer in tests/check_layering.sh"
			fail=1
			continue
		fi
		for inc in $(included_modules "$f"); do
			[ "$inc" = "$mod" ] && continue
			l=$(level "$inc")
			if [ -z "$l" ] || [ "$l" -ge "$mylevel" ]; then
				echo "$f: includes $inc/ (layer ${l:-?}) from $mod (layer $mylevel)"
				fail=1
			fi
		done
		# Libraries owned by one module.
		if includes_lib "$f" 'event2/http' && [ "$mod" != http ]; then
			echo "$f: only src/http/ may include <event2/http.h>"; fail=1
		fi
		if includes_lib "$f" 'lasso/|xmlsec/' && [ "$mod" != saml ]; then
			echo "$f: only src/saml/ may include lasso or xmlsec"; fail=1
		fi
		if grep -q 'curl_multi_' "$f" && [ "$mod" != net ]; then
			echo "$f: only src/net/ may call curl_multi_*"; fail=1
		fi
		if includes_lib "$f" '(sqlite3|libpq-fe)\.h>' && [ "$mod" != store ] &&
		    [ "$f" != cli/version.c ]; then
			echo "$f: only src/store/ may include a database library"; fail=1
		fi
	done
	return $fail
}

# Each bad_* fixture alone must fail and each good_* must pass: a pattern that
# stops matching would otherwise let the whole tree pass unseen.
self_test() {
	fx=$top/tests/fixtures/checks/layering
	[ -d "$fx" ] || { echo "layering self-test: no $fx"; return 1; }
	bad=0
	tmp=$(mktemp -d) || return 1
	for f in $(cd "$fx" && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
		rm -rf "${tmp:?}"/*
		mkdir -p "$tmp/$(dirname "$f")"
		cp "$fx/$f" "$tmp/$f"
		out=$(cd "$tmp" && check_tree)
		rc=$?
		case ${f##*/} in
		bad_*) [ $rc -ne 0 ] || { echo "layering self-test: $f passed, must fail"; bad=1; } ;;
		good_*) [ $rc -eq 0 ] || { echo "layering self-test: $f failed: $out"; bad=1; } ;;
		esac
	done
	rm -rf "$tmp"
	[ $bad -eq 0 ] && echo "layering self-test: every bad_* fixture fails, every good_* passes"
	return $bad
}

if [ $# -gt 0 ]; then
	cd "$1" || exit 99
	check_tree
	exit $?
fi
self_test || exit 1
cd src || exit 99
check_tree
fail=$?
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
