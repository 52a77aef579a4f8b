#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/upstream.sh: what signing in through an upstream costs (issue 11,
# "Benchmark"), on one core, next to what OpenSSL does on that core:
#   - ID-token validations per second, RS256 and ES256 (bench/oidc_idtoken:
#     the compact token through fb_oidc_idtoken_verify to the issuer and
#     subject handed to the linking step), against `openssl speed -seconds 3
#     rsa2048` and `openssl speed -seconds 3 ecdsap256` verify/s, with the
#     ratio and the share of the non-crypto work (against the helper's own
#     EVP verification of the same signature);
#   - SAML ACS validations per second (bench/saml_acs: a Response and its
#     Assertion, both signed) against the same rsa2048 verify/s.
# A benchmark, not a test: not in make check.
#
#   bash bench/upstream.sh [BUILDDIR]     (default build/default; N=4000 CORE=0)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-${BUILDDIR:-$here/../build/default}}
n=${N:-4000}
core=${CORE:-0}

if ! command -v openssl >/dev/null; then
	echo "upstream.sh: openssl is missing (apt-get install openssl)" >&2
	exit 1
fi
if [ ! -f "$builddir/Makefile" ]; then
	echo "upstream.sh: $builddir is not a configured build directory" >&2
	exit 1
fi
make -s -C "$builddir" bench/oidc_idtoken bench/saml_acs >/dev/null
pin=""
if command -v taskset >/dev/null; then
	pin="taskset -c $core"
fi

# openssl speed -mr: "+F2:N:bits:sign:verify" (RSA), "+F4:N:bits:sign:verify" (ECDSA);
# OpenSSL 3 gives operations per second there, 1.1 seconds per operation.
speed_verify() {
	$pin openssl speed -mr -seconds 3 "$1" 2>/dev/null |
		awk -F: -v tag="$2" '$1 == tag && $5 > 0 {
			printf "%.0f\n", $5 < 1 ? 1 / $5 : $5; exit }'
}
rsa=$(speed_verify rsa2048 +F2)
ecd=$(speed_verify ecdsap256 +F4)
if [ -z "$rsa" ] || [ -z "$ecd" ]; then
	echo "upstream.sh: could not read openssl speed's verify/s" >&2
	exit 1
fi

echo "one core (${pin:-not pinned: taskset missing}), CPU time of the helpers, N=$n"
echo
echo "OIDC ID token (compact JWS -> fb_oidc_idtoken_verify -> iss/sub for linking):"
$pin "$builddir/bench/oidc_idtoken" "$n" | while read -r alg val ver bytes; do
	case $alg in
	RS256) ossl=$rsa name="openssl speed rsa2048 verify" ;;
	ES256) ossl=$ecd name="openssl speed ecdsap256 verify" ;;
	*) continue ;;
	esac
	awk -v a="$alg" -v val="$val" -v ver="$ver" -v o="$ossl" -v nm="$name" -v b="$bytes" 'BEGIN {
		printf "  %s (%d-byte token): %8d validations/s  (%.1f us)\n", a, b, val, 1e6 / val
		printf "    %-34s %8d verifications/s  validation/verify ratio %.2f\n", nm ":", o, val / o
		printf "    %-34s %8d verifications/s\n", "EVP verify, same signature and key:", ver
		nc = (1 / val - 1 / ver) / (1 / val)
		printf "    non-crypto share of a validation: %.0f%%  (non-crypto / signature check %.2f, target < 1)\n",
			100 * nc, (1 / val - 1 / ver) / (1 / ver)
	}'
done
echo
echo "SAML ACS (Response + Assertion, both RSA-SHA256 signatures):"
$pin "$builddir/bench/saml_acs" "$((n / 4))" | sed 's/^/  /' | tee "${TMPDIR:-/tmp}/upstream-bench.$$"
acs=$(sed -n 's/.*: \([0-9][0-9]*\) validations\/s.*/\1/p' "${TMPDIR:-/tmp}/upstream-bench.$$")
rm -f "${TMPDIR:-/tmp}/upstream-bench.$$"
if [ -n "$acs" ]; then
	awk -v v="$acs" -v o="$rsa" 'BEGIN {
		printf "  openssl speed rsa2048 verify:                   %d verifications/s\n", o
		printf "  ACS validation / rsa2048 verify ratio: %.3f; non-crypto share: %.0f%%\n",
			v / o, 100 * (1 / v - 2 / o) / (1 / v)
	}'
fi
