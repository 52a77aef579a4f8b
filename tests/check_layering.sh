#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails when a module includes a header of its own layer's neighbours or of a
# higher layer (DESIGN.md: core < conf < crypto, store, net < ident, directory
# < map < local, saml, oidc, authz, scim < http < daemon < cli, main), or when
# a library that belongs to one module is included elsewhere.
srcdir=${srcdir:-.}
cd "$srcdir/src" || exit 99

level() {
	case $1 in
	core) echo 0 ;; conf) echo 1 ;; crypto|store|net) echo 2 ;;
	ident|directory) echo 3 ;; map) echo 4 ;;
	local|saml|oidc|authz|scim) echo 5 ;; http) echo 6 ;; daemon) echo 7 ;;
	cli) echo 8 ;; main.c) echo 9 ;; *) echo "" ;;
	esac
}

fail=0
for f in $(find . -name '*.[ch]' | sed 's|^\./||' | sort); do
	mod=${f%%/*}
	mylevel=$(level "$mod")
	if [ -z "$mylevel" ]; then
		echo "$f: module '$mod' has no layer in tests/check_layering.sh"
		fail=1
		continue
	fi
	for inc in $(sed -n 's/^#include "\([a-z_]*\)\/.*/\1/p' "$f" | sort -u); do
		[ "$inc" = "$mod" ] && continue
		l=$(level "$inc")
		if [ -z "$l" ] || [ "$l" -ge "$mylevel" ]; then
			echo "$f: includes $inc/ (layer ${l:-?}) from $mod (layer $mylevel)"
			fail=1
		fi
	done
	# Libraries owned by one module.
	if grep -q '^#include <event2/http' "$f" && [ "$mod" != http ]; then
		echo "$f: only src/http/ may include <event2/http.h>"; fail=1
	fi
	if grep -Eq '^#include <(lasso|xmlsec)/' "$f" && [ "$mod" != saml ]; then
		echo "$f: only src/saml/ may include lasso or xmlsec"; fail=1
	fi
	if grep -q 'curl_multi_' "$f" && [ "$mod" != net ]; then
		echo "$f: only src/net/ may call curl_multi_*"; fail=1
	fi
	if grep -Eq '^#include <(sqlite3|libpq-fe)\.h>' "$f" && [ "$mod" != store ] && [ "$f" != cli/version.c ]; then
		echo "$f: only src/store/ may include a database library"; fail=1
	fi
done
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
