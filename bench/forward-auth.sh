#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Forward auth's checks (issue 15) against nginx answering a fixed 200 on the same
# machine, with wrk: GET /auth/envoy/page with a valid app cookie (signed in,
# allowed) and GET /auth/envoy/public/x without one (an anonymous rule), first with
# one app configured, then with 1,000 (the cost must not grow with the number of
# apps). Each is loaded RUNS times in turn with nginx; prints the median rates, p99
# latencies and the ratio fedbroker/nginx (target >= 0.80, p99 < 2 ms). Installs
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

# apps: YAML of N apps; app0 is the one asked about (its host a0.bench).
apps_yaml() {
	echo "apps:"
	i=0
	while [ "$i" -lt "$1" ]; do
		echo "  - {name: a$i, hosts: [a$i.bench], rules: [{path: /public, action: anonymous}]}"
		i=$((i + 1))
	done
}

# The app cookie of user bench for a0.bench: the whole hand-off, as a browser does it.
app_cookie() {
	"$py" - "$port" "$password" <<'EOP'
import http.client, re, sys, urllib.parse
port, password = int(sys.argv[1]), sys.argv[2]
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
r, _ = req("GET", "/auth/envoy/page", headers={"Host": "a0.bench", "Accept": "text/html"})
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
r, _ = req("GET", cb.path + "?" + cb.query, headers={"Host": "a0.bench",
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
p99() { awk '$1 == "99%" { print $2 }' "$1"; }
errs() { awk '/Non-2xx|Socket errors/ { print }' "$1"; }

# measure LABEL PATH [COOKIE]: fedbroker and nginx in turn, RUNS times each.
measure() {
	fbrates="" ngrates=""
	i=1
	while [ "$i" -le "$runs" ]; do
		if [ -n "${3:-}" ]; then
			run_wrk "http://127.0.0.1:$port/auth/envoy$2" "$tmp/wrk.fb" -H "Host: a0.bench" -H "Cookie: $3"
		else
			run_wrk "http://127.0.0.1:$port/auth/envoy$2" "$tmp/wrk.fb" -H "Host: a0.bench"
		fi
		run_wrk "http://127.0.0.1:$ngport$2" "$tmp/wrk.ng"
		fbrates="$fbrates $(rate "$tmp/wrk.fb")"
		ngrates="$ngrates $(rate "$tmp/wrk.ng")"
		i=$((i + 1))
	done
	fbrate=$(echo "$fbrates" | median)
	ngrate=$(echo "$ngrates" | median)
	printf '%s\n  fedbroker: %10.0f req/s median   p99 %s (last run); runs:%s\n' "$1" "$fbrate" "$(p99 "$tmp/wrk.fb")" "$fbrates"
	printf '  nginx:     %10.0f req/s median   p99 %s (last run); runs:%s\n' "$ngrate" "$(p99 "$tmp/wrk.ng")" "$ngrates"
	e=$(errs "$tmp/wrk.fb")
	[ -n "$e" ] && echo "  fedbroker errors: $e"
	awk -v a="$fbrate" -v b="$ngrate" 'BEGIN {
		r = a / b
		printf "  ratio fedbroker/nginx: %.2f (target >= 0.80: %s)\n", r, (r >= 0.80 ? "met" : "NOT met")
	}'
}

echo "wrk -t$threads -c$conns -d${duration}s, $ncpu CPUs, $ncpu workers / nginx workers, $runs runs each in turn"
for napps in 1 1000; do
	bench_fedbroker "$ncpu" "$password" "$(apps_yaml "$napps")"
	cookie=$(app_cookie) || { echo "could not sign in for the app cookie" >&2; exit 1; }
	measure "$napps app(s): signed in, allowed (valid app cookie)" /page "$cookie"
	measure "$napps app(s): anonymous path, no cookie" /public/x
done
