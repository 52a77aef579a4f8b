#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The OpenID provider's token endpoint under load: client_credentials grants
# with a client secret (client_secret_basic), each an ES256-signed access
# token, with wrk over all workers, next to `openssl speed ecdsap256` on the
# same cores; prints both rates and their ratio (target >= 0.5). Not a timed
# test; loopback only; stops by itself. Not measured yet (issue 14): mTLS
# clients, refresh grants, npm's oidc-provider side by side.
#
#   bench/oidc.sh [PATH/TO/fedbroker]     (default: $FEDBROKER_BIN, ./src/fedbroker)
#   env: DURATION=10 THREADS=2 CONNECTIONS=32
set -u
bin=${1:-${FEDBROKER_BIN:-./src/fedbroker}}
duration=${DURATION:-10}
threads=${THREADS:-2}
conns=${CONNECTIONS:-32}
py=/usr/bin/python3

for c in wrk openssl "$py"; do
	command -v "$c" >/dev/null 2>&1 || { echo "bench/oidc.sh needs $c" >&2; exit 1; }
done
if [ ! -x "$bin" ]; then
	echo "fedbroker binary not found: $bin (give its path as the first argument)" >&2
	exit 1
fi
ncpu=$(nproc)
. "$(dirname "$0")/lib.sh"
bench_init

secret=bench-client-secret-0123456789abcdef
printf '%s\n' "$secret" >"$tmp/client.secret"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench -keyout "$tmp/ec.key.pem" -out "$tmp/ec.crt.pem" >/dev/null 2>&1
chmod 600 "$tmp/ec.key.pem"
bench_fedbroker "$ncpu" "" "keys:
  - {id: bench, key: $tmp/ec.key.pem, cert: $tmp/ec.crt.pem}
oidc:
  clients:
    - {id: bench, type: service, secret: file:$tmp/client.secret}"

auth=$(printf 'bench:%s' "$secret" | base64 -w0)
cat >"$tmp/cc.lua" <<EOL
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $auth"
done = function(summary, latency, requests)
	io.write(string.format("non2xx %d\n", summary.errors.status))
end
EOL
# One grant first: a failure here is a broken set-up, not a slow one.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $auth" \
	-d grant_type=client_credentials "http://127.0.0.1:$port/oauth2/token")
if [ "$code" != 200 ]; then
	echo "the token endpoint answered $code" >&2
	cat "$tmp/fb.err" >&2
	exit 1
fi
out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" -s "$tmp/cc.lua" \
	"http://127.0.0.1:$port/oauth2/token")
rate=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
bad=$(echo "$out" | awk '/^non2xx/ { print $2 }')
bench_stop

sign=$(openssl speed -seconds 3 -multi "$ncpu" ecdsap256 2>/dev/null |
	awk '/^ *256 bits ecdsa \(nistp256\)/ { print $(NF-1) } /^ecdsa \(nistp256\)/ { v = $(NF-1) } END { if (v) print v }' |
	tail -n 1)
echo "client_credentials (secret, ES256 access token): $rate grants/s over $ncpu workers ($bad not 2xx)"
echo "openssl speed ecdsap256 on $ncpu cores: $sign signatures/s"
"$py" -c "import sys; r, s = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print('ratio grants/signatures: %.2f (target >= 0.50)' % (r / s if s else 0))" "$rate" "$sign"
