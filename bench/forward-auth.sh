#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Forward auth's checks (issue 15) against nginx answering a fixed 200 on the same
# machine, with wrk: GET /auth/envoy/page with a valid app cookie (signed in,
# allowed), GET /auth/envoy/public/x without one (an anonymous rule), GET
# /auth/envoy/page with "Authorization: Bearer" and an access token of the
# provider (client_credentials; the signature checked at each request), and with
# an app cookie of an app with pass_access_token (an access token minted per
# session and reused), first with one app configured (two for the last), then
# with 1,000 (the cost must not grow with the number of apps). Each is loaded RUNS times in turn with nginx; prints the median rates, p99
# latencies, the ratio fedbroker/nginx (target >= 0.80, p99 < 2 ms) and the CPU time
# the workers spent per request (which the load of a shared machine does not skew). Installs
# nothing; loopback only; stops by itself. Measures; it is not a test.
#
#   bench/forward-auth.sh [PATH/TO/fedbroker]   (default: $FEDBROKER_BIN, ./src/fedbroker)
#   env: DURATION=10 THREADS=2 CONNECTIONS=64 RUNS=3
set -u
bin=${1:-${FEDBROKER_BIN:-./src/fedbroker}}
duration=${DURATION:-10}
threads=${THREADS:-2}
conns=${CONNECTIONS:-64}
runs=${RUNS:-3}
py=/usr/bin/python3

ncpu=$(nproc)
. "$(dirname "$0")/lib.sh"
bench_need_nginx bench/forward-auth.sh
bench_init
password="bench password for forward auth"

# ---- nginx, a fixed 200
ngport=$(bench_port)
mkdir -p "$tmp/nginx"
userline=""
[ "$(id -u)" -eq 0 ] && userline="user $(id -un) $(id -gn);"
cat >"$tmp/nginx/nginx.conf" <<EOC
$userline
worker_processes $ncpu;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	server {
		listen 127.0.0.1:$ngport reuseport;
		location / { default_type text/plain; return 200 ""; }
		location = /healthz { default_type text/plain; return 200 "ok"; }
	}
}
EOC
"$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" >"$tmp/nginx.out" 2>&1 &
ngpid=$!
if ! bench_wait "$ngport"; then
	echo "nginx did not start:" >&2
	cat "$tmp/nginx.out" "$tmp/nginx/error.log" >&2
	exit 1
fi

# The provider's service client whose access tokens app a0 accepts (the generated
# key is RSA: RS256).
svc_secret="bench-service-secret-0123456789abcdef"
echo "$svc_secret" >"$tmp/svc.secret"

# apps: YAML of N apps (at least 2); a0 is the one asked about (its host a0.bench),
# a1 the same with pass_access_token.
apps_yaml() {
	cat <<EOC
oidc:
  clients:
    - {id: svc, type: service, signing_alg: RS256, secret: "file:$tmp/svc.secret"}
apps:
  - {name: a0, hosts: [a0.bench], audiences: [svc], rules: [{path: /public, action: anonymous}]}
  - {name: a1, hosts: [a1.bench], pass_access_token: true}
EOC
	i=2
	while [ "$i" -lt "$1" ]; do
		echo "  - {name: a$i, hosts: [a$i.bench], rules: [{path: /public, action: anonymous}]}"
		i=$((i + 1))
	done
}

# An access token of the provider for client svc (client_credentials).
service_token() {
	"$py" - "$port" "$svc_secret" <<'EOP'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("POST", "/oauth2/token", "grant_type=client_credentials&client_id=svc&client_secret=" +
          sys.argv[2], {"Content-Type": "application/x-www-form-urlencoded"})
print(json.loads(c.getresponse().read())["access_token"])
EOP
}

# The app cookie of user bench for host $1: the whole hand-off, as a browser does it.
app_cookie() {
	"$py" - "$port" "$password" "$1" <<'EOP'
import http.client, re, sys, urllib.parse
port, password, host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
jar = {}
def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = dict(headers or {})
    if jar and "Cookie" not in h:
        h["Cookie"] = "; ".join("%s=%s" % kv for kv in jar.items())
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    for k, v in r.getheaders():
        if k.lower() == "set-cookie":
            n, _, val = v.split(";")[0].partition("=")
            jar[n] = val
    return r, data
r, _ = req("GET", "/auth/envoy/page", headers={"Host": host, "Accept": "text/html"})
loc = r.getheader("Location")
state = jar.pop("fb_session_app_state")
start = loc[loc.index("/auth/start"):]
r, page = req("GET", "/login")
csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
body = urllib.parse.urlencode({"csrf": csrf, "next": start, "username": "bench",
                               "password": password})
r, _ = req("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
r, _ = req("GET", start)
cb = urllib.parse.urlsplit(r.getheader("Location"))
r, _ = req("GET", cb.path + "?" + cb.query, headers={"Host": host,
           "Cookie": "fb_session_app_state=" + state})
print("fb_session_app=" + jar["fb_session_app"])
EOP
}

run_wrk() { # run_wrk URL OUTFILE [HEADER...]
	url=$1 out=$2
	shift 2
	wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$@" "$url" >"$out" 2>&1
}
rate() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
requests() { awk '/requests in/ { print $1 }' "$1"; }
# The CPU time (clock ticks, user + system) the children of process $1 used so far:
# fedbroker's workers, nginx's workers. Per request, it is what a check costs,
# whatever else the shared machine runs.
cpu_ticks() {
	for c in $(pgrep -P "$1"); do
		awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null
	done | awk '{ s += $1 } END { print s + 0 }'
}
hz=$(getconf CLK_TCK)
# us_per_req TICKS_BEFORE TICKS_AFTER WRKFILE
us_per_req() { awk -v a="$1" -v b="$2" -v n="$(requests "$3")" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }'; }
p99() { awk '$1 == "99%" { print $2 }' "$1"; }
errs() { awk '/Non-2xx|Socket errors/ { print }' "$1"; }

# measure LABEL PATH [HEADER [HOST]]: fedbroker and nginx in turn, RUNS times each.
measure() {
	fbrates="" ngrates="" fbcpu="" ngcpu=""
	i=1
	while [ "$i" -le "$runs" ]; do
		t0=$(cpu_ticks "$fbpid")
		if [ -n "${3:-}" ]; then
			run_wrk "http://127.0.0.1:$port/auth/envoy$2" "$tmp/wrk.fb" -H "Host: ${4:-a0.bench}" -H "$3"
		else
			run_wrk "http://127.0.0.1:$port/auth/envoy$2" "$tmp/wrk.fb" -H "Host: a0.bench"
		fi
		t1=$(cpu_ticks "$fbpid")
		fbcpu="$fbcpu $(us_per_req "$t0" "$t1" "$tmp/wrk.fb")"
		t0=$(cpu_ticks "$ngpid")
		run_wrk "http://127.0.0.1:$ngport$2" "$tmp/wrk.ng"
		t1=$(cpu_ticks "$ngpid")
		ngcpu="$ngcpu $(us_per_req "$t0" "$t1" "$tmp/wrk.ng")"
		fbrates="$fbrates $(rate "$tmp/wrk.fb")"
		ngrates="$ngrates $(rate "$tmp/wrk.ng")"
		i=$((i + 1))
	done
	fbrate=$(echo "$fbrates" | median)
	ngrate=$(echo "$ngrates" | median)
	printf '%s\n  fedbroker: %10.0f req/s median   p99 %s (last run); runs:%s\n' "$1" "$fbrate" "$(p99 "$tmp/wrk.fb")" "$fbrates"
	printf '  nginx:     %10.0f req/s median   p99 %s (last run); runs:%s\n' "$ngrate" "$(p99 "$tmp/wrk.ng")" "$ngrates"
	printf '  CPU per request (workers, user+system): fedbroker %s us, nginx %s us (median of:%s /%s)\n' \
		"$(echo "$fbcpu" | median)" "$(echo "$ngcpu" | median)" "$fbcpu" "$ngcpu"
	e=$(errs "$tmp/wrk.fb")
	[ -n "$e" ] && echo "  fedbroker errors: $e"
	awk -v a="$fbrate" -v b="$ngrate" 'BEGIN {
		r = a / b
		printf "  ratio fedbroker/nginx: %.2f (target >= 0.80: %s)\n", r, (r >= 0.80 ? "met" : "NOT met")
	}'
}

echo "wrk -t$threads -c$conns -d${duration}s, $ncpu CPUs, $ncpu workers / nginx workers, $runs runs each in turn"
for napps in 2 1000; do
	bench_fedbroker "$ncpu" "$password" "$(apps_yaml "$napps")"
	cookie=$(app_cookie a0.bench) || { echo "could not sign in for the app cookie" >&2; exit 1; }
	measure "$napps apps: signed in, allowed (valid app cookie)" /page "Cookie: $cookie"
	measure "$napps apps: anonymous path, no cookie" /public/x
	token=$(service_token) || { echo "could not get an access token" >&2; exit 1; }
	measure "$napps apps: Bearer access token (RS256, client_credentials)" /page \
		"Authorization: Bearer $token"
	cookie=$(app_cookie a1.bench) || { echo "could not sign in for the app cookie" >&2; exit 1; }
	measure "$napps apps: signed in, pass_access_token (a minted token, reused)" /page \
		"Cookie: $cookie" a1.bench
done
