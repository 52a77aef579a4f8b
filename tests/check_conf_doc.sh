#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fails when a key of the table in src/conf/keys.c is not documented in
# man/fedbroker.yaml.5, or the man page documents a key the table lacks.
set -eu

top=${srcdir:-$(dirname "$0")/..}
keys_c="$top/src/conf/keys.c"
man="$top/man/fedbroker.yaml.5"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Table lines start with a tab and {"name", ...
sed -n 's/^	{"\([^"]*\)",.*/\1/p' "$keys_c" | sort >"$tmp/table"
# In the KEYS section of the man page each key is a .TP line, then ".B key".
awk '/^\.SH /{keys = ($2 == "KEYS")} keys && tp && /^\.B /{print $2} {tp = ($0 == ".TP")}' "$man" |
	sed 's/^"//; s/"$//' | sort >"$tmp/man"

if [ ! -s "$tmp/table" ]; then
	echo "check_conf_doc: no keys found in $keys_c" >&2
	exit 1
fi
status=0
for k in $(comm -23 "$tmp/table" "$tmp/man"); do
	echo "check_conf_doc: key '$k' of src/conf/keys.c is not documented in man/fedbroker.yaml.5" >&2
	status=1
done
for k in $(comm -13 "$tmp/table" "$tmp/man"); do
	echo "check_conf_doc: man/fedbroker.yaml.5 documents '$k', which src/conf/keys.c lacks" >&2
	status=1
done
[ $status -eq 0 ] && echo "check_conf_doc: $(wc -l <"$tmp/table") keys documented"
exit $status
