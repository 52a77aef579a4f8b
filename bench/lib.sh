# SPDX-License-Identifier: Apache-2.0
# bench/lib.sh: what the benchmark scripts share (sourced, not run). It expects
# $bin (the fedbroker binary) and $py (/usr/bin/python3) to be set, and gives:
#   bench_init            a private $tmp removed on exit, with the servers started
#   bench_port            a free loopback port
#   bench_wait PORT       until GET /healthz answers 200 (20 s); status 1 otherwise
#   bench_fedbroker WORKERS PASSWORD [YAML]   (bench_server_extra: more lines of server:)
#                         a fresh state directory and configuration (loopback port
#                         $port, access log off, no bootstrap account, plus YAML),
#                         the local user "bench" when PASSWORD is not empty, then
#                         `fedbroker serve` in the background ($fbpid) until it answers
#   bench_stop            stops that fedbroker
#   bench_need_nginx NAME  exits with the Debian packages to install unless wrk, nginx
#                         (its path in $nginx) and python3 are there and $bin runs
#   median                the median of the numbers on standard input
# Extra processes a script starts (nginx) go in $ngpid: bench_init's exit stops them.

bench_need_nginx() {
	missing=""
	command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
	nginx=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
	[ -n "$nginx" ] || missing="$missing nginx-light"
	[ -x "$py" ] || missing="$missing python3"
	if [ -n "$missing" ]; then
		echo "$1 needs the Debian packages:$missing" >&2
		echo "install them with: apt-get install$missing" >&2
		exit 1
	fi
	if [ ! -x "$bin" ]; then
		echo "fedbroker binary not found: $bin (give its path as the first argument)" >&2
		exit 1
	fi
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

bench_stop() {
	[ -n "$fbpid" ] && kill -TERM "$fbpid" 2>/dev/null && wait "$fbpid" 2>/dev/null
	fbpid=""
}

bench_cleanup() {
	bench_stop
	[ -n "$ngpid" ] && kill -QUIT "$ngpid" 2>/dev/null && wait "$ngpid" 2>/dev/null
	rm -rf "$tmp"
}

bench_init() {
	tmp=$(mktemp -d /tmp/fbbench.XXXXXX)
	fbpid=""
	ngpid=""
	trap bench_cleanup EXIT
	trap 'exit 1' HUP INT PIPE TERM # so the clean-up runs (e.g. output piped to head)
}

bench_port() {
	"$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_wait() {
	"$py" - "$1" <<'EOP'
import http.client, sys, time
deadline = time.time() + 20
while time.time() < deadline:
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
        c.request("GET", "/healthz")
        if c.getresponse().status == 200:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOP
}

bench_fedbroker() {
	bench_stop
	port=$(bench_port)
	rm -rf "$tmp/state" && mkdir -m 700 "$tmp/state"
	cat >"$tmp/fedbroker.yaml" <<EOC
server:
  listen: ["127.0.0.1:$port"]
  workers: $1
  public_url: "http://127.0.0.1:$port"
${bench_server_extra:-}
log:
  level: warn
  access: false
${3:-}
EOC
	if [ -n "$2" ]; then
		echo "$2" | "$bin" user add bench --init --password-stdin --config "$tmp/fedbroker.yaml" \
			--state-dir "$tmp/state" >"$tmp/useradd.out" 2>&1 ||
			{ cat "$tmp/useradd.out" >&2; exit 1; }
	fi
	"$bin" serve --config "$tmp/fedbroker.yaml" --state-dir "$tmp/state" \
		>"$tmp/fb.out" 2>"$tmp/fb.err" &
	fbpid=$!
	if ! bench_wait "$port"; then
		echo "fedbroker did not start:" >&2
		cat "$tmp/fb.out" "$tmp/fb.err" >&2
		exit 1
	fi
}
