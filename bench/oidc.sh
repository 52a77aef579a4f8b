#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The OpenID provider's token endpoint under load (issue 14, "Benchmark"), each
# grant loaded with wrk over all workers in turn, in one run:
#   - client_credentials with a client secret (client_secret_basic), an ES256
#     access token each;
#   - the same for an RFC 8705 tls_client_auth client whose certificate (made
#     here, signed by a CA made here) comes in Envoy's x-forwarded-client-cert
#     from a trusted proxy address: each grant parses the certificate, verifies
#     its chain (cached per worker), matches its subject and signs a token bound
#     to it (cnf). wrk has no client certificates, so the TLS handshake of
#     fedbroker's own listener is not in it (with keep-alive it is paid once per
#     connection anyway);
#   - client_credentials for a client with signing_alg RS256 (RSA-2048);
#   - refresh grants (client_secret_basic, scope openid): each rotates the
#     refresh token and signs an ID token and an access token (2 ES256
#     signatures per grant). A refresh token is used once (a reuse revokes the
#     family), so the script first signs user bench in and runs the code flow
#     (PKCE) in python once per wrk connection, and wrk's Lua takes the new
#     refresh token from each answer for its next request;
#   - npm's oidc-provider (tests/peers/oidc/bench-op.mjs) on the same machine,
#     one client_credentials client, ES256 JWT access tokens with the same key,
#     as many node processes (node:cluster) as fedbroker has workers, the same
#     wrk load (a first load warms V8's JIT up, the second is measured).
# Next to `openssl speed -multi NCPU ecdsap256` and `rsa2048` signatures per
# second on the same cores, with the ratios by the clock (targets:
# client_credentials >= 0.5 of the ES256 signing rate; >= 10x oidc-provider),
# and per CPU: the CPU time (user + system, from /proc) each server's processes
# spent per grant, against the CPU of a signature (`openssl speed` of one
# process, which counts its CPU time). The machine may be shared: the clock
# rates swing with its load, the CPU per grant hardly does. Not a timed test;
# loopback only; stops by itself.
#
#   bench/oidc.sh [PATH/TO/fedbroker]     (default: $FEDBROKER_BIN, ./src/fedbroker)
#   env: DURATION=10 THREADS=2 CONNECTIONS=32 (a multiple of THREADS)
#        KEEP=1: the temporary directory (configuration, wrk output) is kept
set -u
bin=${1:-${FEDBROKER_BIN:-./src/fedbroker}}
duration=${DURATION:-10}
threads=${THREADS:-2}
conns=${CONNECTIONS:-32}
py=/usr/bin/python3
peers=$(cd "$(dirname "$0")/../tests/peers" && pwd)

for c in wrk openssl curl node "$py"; do
	command -v "$c" >/dev/null 2>&1 || { echo "bench/oidc.sh needs $c" >&2; exit 1; }
done
if [ ! -x "$bin" ]; then
	echo "fedbroker binary not found: $bin (give its path as the first argument)" >&2
	exit 1
fi
if [ ! -d "$peers/node_modules/oidc-provider" ]; then
	echo "bench/oidc.sh needs npm's oidc-provider: cd tests/peers && npm ci" >&2
	exit 1
fi
if [ $((conns % threads)) -ne 0 ]; then
	echo "CONNECTIONS ($conns) must be a multiple of THREADS ($threads)" >&2
	exit 1
fi
ncpu=$(nproc)
. "$(dirname "$0")/lib.sh"
bench_init
[ -n "${KEEP:-}" ] &&
	trap 'bench_stop; [ -n "$ngpid" ] && kill -TERM "$ngpid"; echo "kept $tmp" >&2' EXIT
hz=$(getconf CLK_TCK)

# The CPU time (clock ticks, user + system) process $1 and its children used so
# far: fedbroker's master, workers and jobs process; node's primary and workers.
cpu_ticks() {
	for c in "$1" $(pgrep -P "$1"); do
		awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null
	done | awk '{ s += $1 } END { print s + 0 }'
}

# load LABEL PID URL LUA: wrk over URL with the script LUA; sets rate, bad (answers
# not 2xx, from the script's done()), us (CPU microseconds of PID's processes per
# request); the figures go in $tmp/LABEL.
load() {
	t0=$(cpu_ticks "$2")
	wrk -t"$threads" -c"$conns" -d"${duration}s" -s "$4" "$3" >"$tmp/$1.wrk" 2>&1
	t1=$(cpu_ticks "$2")
	rate=$(awk '/^Requests\/sec/ { print $2 }' "$tmp/$1.wrk")
	[ -n "$rate" ] || { echo "wrk failed ($1):" >&2; cat "$tmp/$1.wrk" >&2; exit 1; }
	bad=$(awk '/^non2xx/ { print $2 }' "$tmp/$1.wrk")
	n=$(awk '/requests in/ { print $1 }' "$tmp/$1.wrk")
	us=$(awk -v a="$t0" -v b="$t1" -v n="${n:-0}" -v hz="$hz" \
		'BEGIN { printf "%.0f", n ? (b - a) * 1e6 / hz / n : 0 }')
	echo "$rate $bad $us" >"$tmp/$1"
}
done_lua='done = function(summary, latency, requests)
	io.write(string.format("non2xx %d\n", summary.errors.status))
end'
# cc_lua FILE AUTH [BODY [HEADER VALUE]]: a client_credentials request, the same each time.
cc_lua() {
	{
		echo 'wrk.method = "POST"'
		echo "wrk.body = \"${3:-grant_type=client_credentials}\""
		echo 'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"'
		[ -n "$2" ] && echo "wrk.headers[\"Authorization\"] = \"Basic $2\""
		[ -n "${4:-}" ] && echo "wrk.headers[\"$4\"] = [[$5]]"
		printf "%s\n" "$done_lua"
	} >"$1"
}
# must_issue WHAT BODY: the set-up is broken unless BODY holds an access token.
must_issue() {
	case $2 in
	*'"access_token"'*) ;;
	*)
		echo "$1 was refused: $2" >&2
		cat "$tmp/fb.err" >&2
		exit 1
		;;
	esac
}

secret=bench-client-secret-0123456789abcdef
printf '%s\n' "$secret" >"$tmp/client.secret"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench -keyout "$tmp/ec.key.pem" -out "$tmp/ec.crt.pem" >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
	-subj /CN=bench-rsa -keyout "$tmp/rsa.key.pem" -out "$tmp/rsa.crt.pem" >/dev/null 2>&1
chmod 600 "$tmp/ec.key.pem" "$tmp/rsa.key.pem"
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
password="bench password for the code flow"
redirect=http://127.0.0.1/cb
bench_server_extra="  trusted_proxies: [127.0.0.1]"
bench_fedbroker "$ncpu" "$password" "keys:
  - {id: bench, key: $tmp/ec.key.pem, cert: $tmp/ec.crt.pem}
  - {id: bench-rsa, key: $tmp/rsa.key.pem, cert: $tmp/rsa.crt.pem, state: published}
local:
  password: {time_cost: 1, memory_kib: 8, parallelism: 1}
oidc:
  mtls: {header: x-forwarded-client-cert, ca_file: $tmp/ca.crt}
  clients:
    - {id: bench, type: service, secret: file:$tmp/client.secret}
    - {id: bench-mtls, type: service, tls: {subject_dn: \"CN=svc,O=bench\"}}
    - {id: bench-rs, type: service, secret: file:$tmp/client.secret, signing_alg: RS256}
    - {id: bench-web, secret: file:$tmp/client.secret, redirect_uris: [\"$redirect\"]}"
url="http://127.0.0.1:$port/oauth2/token"

# ---- client_credentials, secret, ES256
auth=$(printf 'bench:%s' "$secret" | base64 -w0)
cc_lua "$tmp/cc.lua" "$auth"
# One grant first: a failure here is a broken set-up, not a slow one.
must_issue "client_credentials" "$(curl -s -H "Authorization: Basic $auth" -d grant_type=client_credentials "$url")"
load cc "$fbpid" "$url" "$tmp/cc.lua"

# ---- client_credentials, tls_client_auth through XFCC
cc_lua "$tmp/mtls.lua" "" "grant_type=client_credentials&client_id=bench-mtls" \
	x-forwarded-client-cert "$xfcc"
must_issue "the mTLS client" "$(curl -s -H "x-forwarded-client-cert: $xfcc" \
	-d grant_type=client_credentials -d client_id=bench-mtls "$url")"
load mtls "$fbpid" "$url" "$tmp/mtls.lua"

# ---- client_credentials, secret, RS256
rsauth=$(printf 'bench-rs:%s' "$secret" | base64 -w0)
cc_lua "$tmp/rs.lua" "$rsauth"
body=$(curl -s -H "Authorization: Basic $rsauth" -d grant_type=client_credentials "$url")
must_issue "the RS256 client" "$body"
"$py" -c 'import base64, json, sys; t = json.loads(sys.argv[1])["access_token"].split(".")[0]; h = json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))); sys.exit(h["alg"] != "RS256")' "$body" ||
	{ echo "the RS256 client's token is not RS256: $body" >&2; exit 1; }
load rs "$fbpid" "$url" "$tmp/rs.lua"

# ---- refresh grants: one refresh token per wrk connection (and two spare per
# thread), from the code flow of user bench: sign in, then authorize and redeem.
per=$((conns / threads + 2))
PYTHONPATH="$(dirname "$0")/../tests/integration" "$py" - "$port" "$password" "$secret" \
	"$redirect" $((per * threads)) >"$tmp/refresh.tokens" 2>"$tmp/refresh.err" <<'EOP'
import base64, hashlib, json, secrets, sys, urllib.parse
import webclient
port, password, secret, redirect, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
b = webclient.Browser("127.0.0.1", port)
r = b.login("bench", password)
if r.status != 303:
    sys.exit("signing in answered %d" % r.status)
basic = "Basic " + base64.b64encode(("bench-web:" + secret).encode()).decode()
for i in range(n):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    r = b.get("/oauth2/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": "bench-web", "redirect_uri": redirect,
        "scope": "openid", "state": "s%d" % i, "nonce": "n%d" % i,
        "code_challenge": challenge, "code_challenge_method": "S256"}))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.location or "").query)
    if r.status != 302 or "code" not in q:
        sys.exit("the authorization request answered %d %s: %s" % (
            r.status, r.location, r.text[:500]))
    r = b.request("POST", "/oauth2/token", form={
        "grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": redirect,
        "code_verifier": verifier}, headers={"Authorization": basic})
    t = json.loads(r.raw)
    if r.status != 200 or "refresh_token" not in t or "id_token" not in t:
        sys.exit("the code exchange answered %d: %s" % (r.status, r.text[:500]))
    print(t["refresh_token"])
EOP
st=$?
[ "$st" -eq 0 ] || { cat "$tmp/refresh.err" "$tmp/fb.err" >&2; exit 1; }
webauth=$(printf 'bench-web:%s' "$secret" | base64 -w0)
# Each wrk thread gets its share of the tokens (setup), keeps them in a queue,
# takes one for each request and puts the new one from each answer back: a
# connection holds one token while its request is out, so with as many tokens as
# connections every request has a live one. An answer without a token (an
# error) ends that chain: its requests then fail, counted as not 2xx.
cat >"$tmp/refresh.lua" <<EOL
local tokens = {}
for l in io.lines("$tmp/refresh.tokens") do tokens[#tokens + 1] = l end
local per, next_thread = $per, 0
setup = function(thread)
	thread:set("mine", table.concat(tokens, " ", next_thread * per + 1, (next_thread + 1) * per))
	next_thread = next_thread + 1
end
local queue, head, tail = {}, 1, 0
init = function(args)
	for t in string.gmatch(mine, "%S+") do tail = tail + 1; queue[tail] = t end
end
request = function()
	local t = "spent"
	if head <= tail then t = queue[head]; queue[head] = nil; head = head + 1 end
	return wrk.format("POST", nil, {
		["Content-Type"] = "application/x-www-form-urlencoded",
		["Authorization"] = "Basic $webauth" }, "grant_type=refresh_token&refresh_token=" .. t)
end
response = function(status, headers, body)
	local t = string.match(body, '"refresh_token":%s*"([^"]+)"')
	if t then tail = tail + 1; queue[tail] = t end
end
$done_lua
EOL
load refresh "$fbpid" "$url" "$tmp/refresh.lua"
bench_stop

# ---- npm's oidc-provider: client_credentials, ES256 JWT access tokens, the same key
opport=$(bench_port)
node "$peers/oidc/bench-op.mjs" --port "$opport" --key "$tmp/ec.key.pem" --secret "$secret" \
	--workers "$ncpu" >"$tmp/op.out" 2>"$tmp/op.err" &
ngpid=$! # bench_init's clean-up stops it (SIGQUIT ends node and its cluster workers)
i=0
until grep -q '^READY' "$tmp/op.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$ngpid" 2>/dev/null; then
		echo "oidc-provider did not start:" >&2
		cat "$tmp/op.out" "$tmp/op.err" >&2
		exit 1
	fi
	sleep 0.1
done
opurl="http://127.0.0.1:$opport/token"
must_issue "oidc-provider's client_credentials" \
	"$(curl -s -H "Authorization: Basic $auth" -d grant_type=client_credentials "$opurl")"
# A first load warms V8's JIT up (about 2x slower CPU per grant in its first
# seconds); the second is the one measured.
load op "$ngpid" "$opurl" "$tmp/cc.lua"
load op "$ngpid" "$opurl" "$tmp/cc.lua"
kill -TERM "$ngpid" 2>/dev/null && wait "$ngpid" 2>/dev/null
ngpid=""

# ---- the raw signing rates on the same cores
# speed ALG [MULTI]: signatures/s, one process (openssl counts its CPU time: the
# CPU a signature costs, whatever the load) or MULTI processes (the clock rate of
# all cores: what the grants' clock rate is compared with, as the issue asks).
speed() {
	openssl speed -seconds 3 ${2:+-multi "$2"} "$1" 2>/dev/null |
		awk '/^ *256 bits ecdsa \(nistp256\)/ { v = $(NF-1) } /^ecdsa \(nistp256\)/ { v = $(NF-1) }
		     /^rsa 2048 bits/ { v = $(NF-1) } /^rsa  *2048/ { v = $(NF-1) } END { print v }'
}
es=$(speed ecdsap256 "$ncpu")
rs=$(speed rsa2048 "$ncpu")
es1=$(speed ecdsap256)
rs1=$(speed rsa2048)

read -r ccr ccbad ccus <"$tmp/cc"
read -r mr mbad mus <"$tmp/mtls"
read -r rr rbad rus <"$tmp/rs"
read -r fr fbad fus <"$tmp/refresh"
read -r opr opbad opus <"$tmp/op"
"$py" - "$ncpu" "$threads" "$conns" "$duration" "$es" "$rs" "$es1" "$rs1" \
	"$ccr" "$ccbad" "$ccus" "$mr" "$mbad" "$mus" "$rr" "$rbad" "$rus" \
	"$fr" "$fbad" "$fus" "$opr" "$opbad" "$opus" <<'EOP'
import sys
a = sys.argv[1:]
ncpu, threads, conns, duration = a[0:4]
f = lambda s: float(s) if s else 0.0
es, rs, es1, rs1 = f(a[4]), f(a[5]), f(a[6]), f(a[7])
ratio = lambda x, y: x / y if y else 0.0
sig_us = {"ES256": ratio(1e6, es1), "RS256": ratio(1e6, rs1)}
rate = {"ES256": es, "RS256": rs}
rows = [("client_credentials, secret, ES256", 8, "ES256", 1),
        ("client_credentials, mTLS (XFCC), ES256, cnf", 11, "ES256", 1),
        ("client_credentials, secret, RS256", 14, "RS256", 1),
        ("refresh_token, secret, ES256 ID + access token", 17, "ES256", 2),
        ("oidc-provider client_credentials, ES256", 20, "ES256", 1)]
print("wrk -t%s -c%s -d%ss; %s CPUs; fedbroker %s workers; oidc-provider %s node processes "
      "(node:cluster)" % (threads, conns, duration, ncpu, ncpu, ncpu))
print("openssl speed -multi %s: ecdsap256 %.0f signatures/s, rsa2048 %.0f signatures/s (clock)" %
      (ncpu, es, rs))
print("openssl speed, one process: ecdsap256 %.1f us, rsa2048 %.1f us of CPU per signature" %
      (sig_us["ES256"], sig_us["RS256"]))
print()
print("%-47s %9s %7s %10s %4s %8s %8s" % ("grant", "grants/s", "not 2xx", "CPU/grant", "sigs",
                                         "clock", "CPU"))
for name, i, alg, sigs in rows:
    r, us = f(a[i]), f(a[i + 2])
    print("%-47s %9.0f %7s %7.0f us %4d %8.2f %8.2f" % (
        name, r, a[i + 1] or "?", us, sigs, ratio(r * sigs, rate[alg]),
        ratio(sigs * sig_us[alg], us)))
print("(clock: grants/s x signatures per grant / openssl -multi signatures/s; CPU: the CPU of "
      "those signatures / the CPU of a grant)")
print()
cc, ccus, op, opus = f(a[8]), f(a[10]), f(a[20]), f(a[22])
print("client_credentials ES256, grants per signing rate: %.2f by the clock, %.2f per CPU "
      "(target >= 0.50)" % (ratio(cc, es), ratio(sig_us["ES256"], ccus)))
print("refresh grants, 2 ES256 signatures each: %.2f grants per signing rate by the clock, "
      "%.2f per CPU" % (ratio(f(a[17]), es), ratio(sig_us["ES256"], f(a[19]))))
print("RS256 client_credentials, grants per rsa2048 signing rate: %.2f by the clock, %.2f per "
      "CPU" % (ratio(f(a[14]), rs), ratio(sig_us["RS256"], f(a[16]))))
print("fedbroker/oidc-provider client_credentials, %s processes each: %.1fx by the clock, "
      "%.1fx per CPU second (target >= 10x)" % (ncpu, ratio(cc, op), ratio(opus, ccus)))
EOP
