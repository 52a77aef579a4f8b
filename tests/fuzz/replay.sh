#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Replays every fuzz corpus through its target, built with the normal
# compiler (no clang needed): tests/fuzz/corpus/<target>/ -> tests/fuzz/replay-<target>.
set -eu

top=${srcdir:-$(dirname "$0")/../..}
status=0
for dir in "$top"/tests/fuzz/corpus/*/; do
	target=$(basename "$dir")
	bin=tests/fuzz/replay-$target
	if [ ! -x "$bin" ]; then
		echo "replay: no $bin for corpus $dir" >&2
		status=1
		continue
	fi
	"$bin" "$dir" || status=1
done
exit $status
