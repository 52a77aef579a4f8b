#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The OpenID provider's token endpoint under load: client_credentials grants
# with a client secret (client_secret_basic), each an ES256-signed access
# token, with wrk over all workers, next to `openssl speed ecdsap256` on the
# same cores; prints both rates and their ratio (target >= 0.5). Then the same
# grant for an RFC 8705 tls_client_auth client whose certificate (made here,
# signed by a CA made here) comes in Envoy's x-forwarded-client-cert from a
# trusted proxy address: each grant parses the certificate, verifies its
# chain, matches its subject and signs a token bound to it (cnf). wrk has no
# client certificates, so the TLS handshake of fedbroker's own listener is not
# in it (with keep-alive it is paid once per connection anyway). Not a timed
# test; loopback only; stops by itself. Not measured yet (issue 14): refresh
# grants, npm's oidc-provider side by side.
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
# The mTLS client's CA and certificate, and its XFCC header (url-encoded PEM).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench-ca -addext basicConstraints=critical,CA:true \
	-keyout "$tmp/ca.key" -out "$tmp/ca.crt" >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=bench/CN=svc" \
	-keyout "$tmp/svc.key" -out "$tmp/svc.csr" >/dev/null 2>&1
printf 'extendedKeyUsage=clientAuth\n' >"$tmp/svc.ext"
openssl x509 -req -in "$tmp/svc.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
	-days 2 -extfile "$tmp/svc.ext" -out "$tmp/svc.crt" >/dev/null 2>&1
xfcc=$("$py" -c 'import sys, urllib.parse; print("Hash=0;Cert=\"%s\";Subject=\"CN=svc\"" % urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$tmp/svc.crt")
bench_server_extra="  trusted_proxies: [127.0.0.1]"
bench_fedbroker "$ncpu" "" "keys:
  - {id: bench, key: $tmp/ec.key.pem, cert: $tmp/ec.crt.pem}
oidc:
  mtls: {header: x-forwarded-client-cert, ca_file: $tmp/ca.crt}
  clients:
    - {id: bench, type: service, secret: file:$tmp/client.secret}
    - {id: bench-mtls, type: service, tls: {subject_dn: \"CN=svc,O=bench\"}}"

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

cat >"$tmp/mtls.lua" <<EOL
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&client_id=bench-mtls"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["x-forwarded-client-cert"] = [[$xfcc]]
done = function(summary, latency, requests)
	io.write(string.format("non2xx %d\n", summary.errors.status))
end
EOL
body=$(curl -s -H "x-forwarded-client-cert: $xfcc" \
	-d grant_type=client_credentials -d client_id=bench-mtls "http://127.0.0.1:$port/oauth2/token")
case $body in
*'"access_token"'*) ;;
*)
	echo "the token endpoint refused the mTLS client: $body" >&2
	cat "$tmp/fb.err" >&2
	exit 1
	;;
esac
out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" -s "$tmp/mtls.lua" \
	"http://127.0.0.1:$port/oauth2/token")
mrate=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
mbad=$(echo "$out" | awk '/^non2xx/ { print $2 }')
bench_stop

sign=$(openssl speed -seconds 3 -multi "$ncpu" ecdsap256 2>/dev/null |
	awk '/^ *256 bits ecdsa \(nistp256\)/ { print $(NF-1) } /^ecdsa \(nistp256\)/ { v = $(NF-1) } END { if (v) print v }' |
	tail -n 1)
echo "client_credentials (secret, ES256 access token): $rate grants/s over $ncpu workers ($bad not 2xx)"
echo "openssl speed ecdsap256 on $ncpu cores: $sign signatures/s"
echo "client_credentials (tls_client_auth via XFCC, chain verified, bound ES256 token): $mrate grants/s ($mbad not 2xx)"
"$py" -c "import sys; r, s = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print('ratio grants/signatures: %.2f (target >= 0.50)' % (r / s if s else 0))" "$rate" "$sign"
"$py" -c "import sys; r, s = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print('ratio mTLS grants/signatures: %.2f' % (r / s if s else 0))" "$mrate" "$sign"
