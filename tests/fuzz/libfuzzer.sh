#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A short libFuzzer run of each target built with clang (make check builds
# them when clang can link -fsanitize=fuzzer). New inputs go to a temporary
# directory, never into the source tree's corpus.
set -eu

top=${srcdir:-$(dirname "$0")/../..}
runs=${FB_FUZZ_RUNS:-100000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
ran=0
for dir in "$top"/tests/fuzz/corpus/*/; do
	target=$(basename "$dir")
	bin=tests/fuzz/fuzz-$target
	[ -x "$bin" ] || continue
	ran=$((ran + 1))
	mkdir -p "$tmp/$target"
	dict=
	[ -f "$top/tests/fuzz/dict/$target.dict" ] && dict="-dict=$top/tests/fuzz/dict/$target.dict"
	if ! "$bin" -runs="$runs" -max_len=4096 -max_total_time=50 -timeout=10 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix="$tmp/$target-" $dict "$tmp/$target" "$dir" \
		>"$tmp/$target.log" 2>&1; then
		tail -n 60 "$tmp/$target.log" >&2
		for a in "$tmp/$target"-*; do
			[ -f "$a" ] && cp "$a" "tests/fuzz/" && echo "libfuzzer: crash input kept in tests/fuzz/$(basename "$a")" >&2
		done
		status=1
	else
		grep -E '^stat::number_of_executed_units|^Done' "$tmp/$target.log" | sed "s/^/fuzz-$target: /"
	fi
done
if [ $ran -eq 0 ]; then
	echo "libfuzzer: no tests/fuzz/fuzz-* target was built" >&2
	exit 1
fi
exit $status
