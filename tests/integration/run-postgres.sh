#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The integration suite again with every Server on PostgreSQL: one server
# started by the harness (tests/pgtest.py), a fresh database per Server.
# Tests of the SQLite file itself skip in this run (harness.sqlite_only).
# Same arguments and closing line as run.sh.
if [ "${FB_SKIP_POSTGRES:-}" = 1 ]; then
	echo "integration (postgres): skipped (FB_SKIP_POSTGRES=1)"
	exit 77
fi
FB_TEST_STORE=postgres
export FB_TEST_STORE
exec "$(cd "$(dirname "$0")" && pwd)/run.sh" "$@"
