#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs every tests/integration/NN-*.py against the real binary; the closing
# line is "integration: N passed, N failed[, N skipped]". Optional arguments
# select modules (e.g. run.sh 50 80). Env: FEDBROKER_BIN, FB_KEEP_TMP=1.
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if [ ! -x "$py" ]; then
	echo "integration: /usr/bin/python3 is missing (apt-get install python3)" >&2
	exit 77
fi
if [ $# -gt 0 ]; then
	files=""
	for n in "$@"; do
		for f in "$here"/$n-*.py; do
			[ -f "$f" ] && files="$files $f"
		done
	done
else
	files=$(ls "$here"/[0-9][0-9]-*.py)
fi
if [ -z "$files" ]; then
	echo "integration: no test module found in $here" >&2
	echo "integration: 0 passed, 1 failed"
	exit 1
fi
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
export PYTHONDONTWRITEBYTECODE=1
# shellcheck disable=SC2086
exec "$py" -c 'import sys, harness; sys.exit(harness.run_all(sys.argv[1:]))' $files
