#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The unit runner fails a run in which a suite's set-up failed (its tests never
# ran): tests/unit/main.c adds such a suite when FB_UNIT_BROKEN_SUITE=1.
unit=${1:-tests/unit/fb-unit}
[ -x "$unit" ] || { echo "runner: no $unit: build it first"; exit 99; }
out=$(FB_UNIT_BROKEN_SUITE=1 FB_UNIT_SUITES=broken-setup "$unit" 2>&1)
rc=$?
fail=0
if [ $rc -ne 1 ]; then
	echo "runner: a suite whose set-up failed gave exit status $rc, not 1"
	fail=1
fi
if ! printf '%s\n' "$out" | grep -q '^unit: 0 passed, 1 failed (1 suite whose set-up failed)$'; then
	echo "runner: the summary does not count the suite whose set-up failed:"
	fail=1
fi
if [ $fail -ne 0 ]; then
	printf '%s\n' "$out"
	exit 1
fi
echo "runner: a suite whose set-up failed fails the run"
