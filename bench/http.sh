#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# GET /healthz on fedbroker against nginx on the same machine, with wrk.
# The two are loaded in turn, RUNS times each (fedbroker, nginx, fedbroker,
# ...), and the median of each is compared: this machine's rates swing by a
# quarter between runs. Prints both request rates (each run and the median),
# p99 latencies, the ratio fedbroker/nginx (target >= 0.80) and fedbroker's
# resident memory per worker at idle (target < 15 MiB). Installs nothing.
# Loopback only; stops by itself.
#
#   bench/http.sh [PATH/TO/fedbroker]     (default: $FEDBROKER_BIN, ./src/fedbroker)
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
bench_need_nginx bench/http.sh
bench_init

# ---- fedbroker
bench_fedbroker "$ncpu" ""
fbport=$port

# ---- nginx, private config, as the current user
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

# ---- idle memory of fedbroker's workers (before any load)
sleep 1
rss_report=$("$py" - "$fbpid" <<'EOP'
import os, sys
master = int(sys.argv[1])
def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    return 0
kids = []
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            st = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == master:
            kids.append(int(d))
print("master %.1f" % (rss(master) / 1024.0))
for k in sorted(kids):
    print("child %d %.1f" % (k, rss(k) / 1024.0))
EOP
)

run_wrk() { # run_wrk PORT OUTFILE
	wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "http://127.0.0.1:$1/healthz" >"$2" 2>&1
}
rate() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
p99() { awk '$1 == "99%" { print $2 }' "$1"; }
errs() { awk '/Non-2xx|Socket errors/ { print }' "$1"; }

fbrates=""
ngrates=""
i=1
while [ "$i" -le "$runs" ]; do
	run_wrk "$fbport" "$tmp/wrk.fb"
	run_wrk "$ngport" "$tmp/wrk.ng"
	fbrate=$(rate "$tmp/wrk.fb")
	ngrate=$(rate "$tmp/wrk.ng")
	if [ -z "$fbrate" ] || [ -z "$ngrate" ]; then
		echo "wrk failed:" >&2
		cat "$tmp/wrk.fb" "$tmp/wrk.ng" >&2
		exit 1
	fi
	fbrates="$fbrates $fbrate"
	ngrates="$ngrates $ngrate"
	i=$((i + 1))
done
fbrate=$(echo "$fbrates" | median)
ngrate=$(echo "$ngrates" | median)
echo "GET /healthz, wrk -t$threads -c$conns -d${duration}s, $ncpu CPUs, $ncpu workers each, $runs runs each in turn"
printf '  fedbroker: %10.0f req/s median   p99 %s (last run); runs:%s\n' "$fbrate" "$(p99 "$tmp/wrk.fb")" "$fbrates"
printf '  nginx:     %10.0f req/s median   p99 %s (last run); runs:%s\n' "$ngrate" "$(p99 "$tmp/wrk.ng")" "$ngrates"
e=$(errs "$tmp/wrk.fb")
[ -n "$e" ] && echo "  fedbroker errors: $e"
e=$(errs "$tmp/wrk.ng")
[ -n "$e" ] && echo "  nginx errors: $e"
awk -v a="$fbrate" -v b="$ngrate" 'BEGIN {
	r = a / b
	printf "  ratio fedbroker/nginx: %.2f (target >= 0.80: %s)\n", r, (r >= 0.80 ? "met" : "NOT met")
}'
echo "fedbroker resident memory at idle (VmRSS):"
echo "$rss_report" | awk '
	$1 == "master" { printf "  master:          %6.1f MiB\n", $2 }
	$1 == "child" { n++; if ($3 > max) max = $3; printf "  child pid %-7s %6.1f MiB\n", $2, $3 }
	END { if (n) printf "  largest child: %.1f MiB (target < 15 MiB: %s)\n", max, (max < 15 ? "met" : "NOT met") }'
