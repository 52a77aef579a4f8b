#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The store backends side by side (issue 12, "Benchmark"), in one run:
#  1. starts a private PostgreSQL server (tests/pgtest.py serve: Debian's postgresql,
#     a temporary data directory, a free loopback port, the current user or postgres);
#  2. makes one export of NUSERS users (the local user "bench" who signs in, and
#     NUSERS - 1 others with a password hash each) and `fedbroker store import`s it
#     into a new SQLite store and into a new PostgreSQL database (the time of each);
#  3. writes NSPS SAML service providers (metadata files in the configuration's
#     metadata/ directory, the AWS fixture under other entity ids) plus the classic
#     AWS SP, and NAPPS forward-auth apps; the same configuration for both stores
#     but the store section;
#  4. starts fedbroker on each store in turn: start-up time (from exec to the first
#     200 of /healthz) and the resident memory (VmRSS) of the master and each child
#     once it answers -- target: start-up under a second;
#  5. signs "bench" in on each (and through the forward-auth hand-off of app a0)
#     and loads GET /saml/idp/init/aws (the path bench/saml-idp.sh drives) and a
#     forward-auth check (GET /auth/envoy/page for a0.bench with the app cookie)
#     with wrk, alternating SQLite and PostgreSQL RUNS times (this machine's rates
#     swing between runs; the medians are compared): responses/s on each and the
#     ratio PostgreSQL/SQLite -- target >= 0.80 (PostgreSQL costs at most 20% of
#     the throughput);
#  5b. counts the statements PostgreSQL runs per sign-on and per check
#     (log_statement = all for NCOUNT requests of each, the private server only);
#  6. runs bench/store_call on each store: how long one store call of that
#     sign-on blocks a worker's event loop (median, p99, max microseconds);
# and prints a summary. Installs nothing; loopback only; stops every server it
# started. Exit status 0 when it ran.
#
#   bench/store.sh [BUILDDIR]   (default build/default: BUILDDIR/src/fedbroker; it makes
#                                BUILDDIR/bench/store_call)
#   env: NUSERS=100000 NSPS=1000 NAPPS=1000 DURATION=10 RUNS=3 WORKERS=<CPUs>
#        CONNECTIONS=<8 x WORKERS> NCALLS=2000 NCOUNT=200
#        STARTS=3 (start-ups per store: the median is compared)
# Needs: apt-get install wrk postgresql python3 procps
set -u
builddir=${1:-build/default}
bin=$builddir/src/fedbroker
nusers=${NUSERS:-100000}
nsps=${NSPS:-1000}
napps=${NAPPS:-1000}
ncount=${NCOUNT:-200}
duration=${DURATION:-10}
runs=${RUNS:-3}
cpus=$(nproc)
workers=${WORKERS:-$cpus}
threads=${THREADS:-$cpus}
connections=${CONNECTIONS:-$((workers * 8))}
ncalls=${NCALLS:-2000}
starts=${STARTS:-3}
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")

if [ ! -x "$bin" ]; then
	echo "fedbroker binary not found: $bin (give the build directory as the first argument)" >&2
	exit 1
fi
for tool in wrk "$py" psql pgrep; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench/store.sh needs $tool (apt-get install wrk postgresql python3 procps)" >&2
		exit 1
	fi
done
make -C "$builddir" bench/store_call >/dev/null || exit 1
metadata=$src/tests/fixtures/aws/aws-signin-saml-metadata.xml

. "$here/lib.sh"
bench_init
pgpid=""
fbpids=""
term_wait() { # term_wait PID: SIGTERM, then waits (10 s at most) until it is gone
	kill -TERM "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
store_cleanup() {
	for p in $fbpids; do # the poller's children, not this shell's: wait for them to go
		term_wait "$p"
	done
	if [ -n "$pgpid" ]; then # pgtest.py stops its server when its stdin closes
		exec 3>&-
		wait "$pgpid" 2>/dev/null
	fi
	bench_cleanup
}
trap store_cleanup EXIT

# 1. PostgreSQL
mkfifo "$tmp/pg.in"
"$py" "$src/tests/pgtest.py" serve <"$tmp/pg.in" >"$tmp/pg.out" 2>"$tmp/pg.err" &
pgpid=$!
exec 3>"$tmp/pg.in"
i=0
until grep -q '^ready' "$tmp/pg.out" 2>/dev/null; do
	if ! kill -0 "$pgpid" 2>/dev/null || [ $i -ge 600 ]; then
		echo "bench/store.sh: the PostgreSQL server did not start:" >&2
		cat "$tmp/pg.err" >&2
		exit 1
	fi
	i=$((i + 1))
	sleep 0.1
done
admin=$(sed -n 's/^dsn //p' "$tmp/pg.out")
psql "$admin" -X -q -c "CREATE DATABASE fbbench" || exit 1
FB_BENCH_DSN=$(echo "$admin" | sed -e "s/dbname='postgres'/dbname='fbbench'/" \
	-e "s/dbname=postgres\( \|$\)/dbname=fbbench\1/")
case $FB_BENCH_DSN in *fbbench*) ;; *) echo "bench/store.sh: no dbname in the DSN of tests/pgtest.py" >&2; exit 1 ;; esac
export FB_BENCH_DSN
pgver=$(psql "$admin" -X -A -t -c "SHOW server_version" | cut -d' ' -f1)

# 2. the users: one export, imported into both stores
password="bench password for signing in"
mkdir -m 700 "$tmp/seed"
printf 'server:\n  listen: ["127.0.0.1:1"]\nlocal:\n  password: {time_cost: 1, memory_kib: 8, parallelism: 1}\n' \
	>"$tmp/seed.yaml"
echo "$password" | "$bin" user add bench --init --password-stdin --config "$tmp/seed.yaml" \
	--state-dir "$tmp/seed" >"$tmp/seed.out" 2>&1 || { cat "$tmp/seed.out" >&2; exit 1; }
"$bin" store export --json --config "$tmp/seed.yaml" --state-dir "$tmp/seed" \
	--output "$tmp/seed.json" >"$tmp/seed.out" 2>&1 || { cat "$tmp/seed.out" >&2; exit 1; }
"$py" - "$tmp/seed.json" "$tmp/users.json" "$nusers" <<'EOP' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tables"]
u0, c0 = t["users"][0], t["local_credentials"][0]
for i in range(1, int(sys.argv[3])):
    uid = "benchuser%07d" % i
    t["users"].append(dict(u0, id=uid, username="user%07d" % i, name="User %d" % i,
                           email="user%07d@example.com" % i))
    t["local_credentials"].append(dict(c0, user_id=uid))
json.dump(d, open(sys.argv[2], "w"))
EOP

# 3. the configuration: a signing key, NSPS metadata files (the AWS fixture under
# other entity ids, with the key's certificate and no validUntil: the fixture's have
# expired, and 2,000 warnings would be measured too), cookie keys
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 30 \
	-subj /CN=fedbroker-bench >/dev/null 2>&1 || { echo "openssl req failed" >&2; exit 1; }
mkdir "$tmp/metadata"
"$py" - "$metadata" "$tmp/metadata" "$nsps" "$tmp/cert.pem" <<'EOP' || exit 1
import re, sys
xml = open(sys.argv[1]).read()
pem = open(sys.argv[4]).read()
b64 = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
xml = re.sub(r"<ds:X509Certificate>[^<]*</ds:X509Certificate>",
             "<ds:X509Certificate>%s</ds:X509Certificate>" % b64, xml)
xml = re.sub(r' validUntil="[^"]*"', "", xml)
for i in range(int(sys.argv[3])):
    open("%s/sp%04d.xml" % (sys.argv[2], i), "w").write(
        xml.replace('entityID="urn:amazon:webservices"', 'entityID="urn:bench:sp:%04d"' % i))
EOP
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/cookie.key"
{
	echo "keys: [{id: bench, key: \"$tmp/key.pem\", cert: \"$tmp/cert.pem\"}]"
	echo "session: {cookie_keys: [\"file:$tmp/cookie.key\"]}"
	echo "local:"
	echo "  password: {time_cost: 1, memory_kib: 8, parallelism: 1}"
	echo "  bootstrap: {enabled: false}"
	echo "groups:"
	echo "  - name: aws-admins"
	echo "    attributes: {aws_role: Admin}"
	echo "    members: [bench]"
	echo "mappings:"
	echo "  dir: \"$src/mappings\""
	echo "saml:"
	echo "  service_providers:"
	echo "    - name: aws"
	echo "      profile: aws"
	echo "      metadata: \"$metadata\""
	echo "      attributes:"
	echo "        - {name: \"https://aws.amazon.com/SAML/Attributes/Role\", mapping: aws_role}"
	echo "        - {name: \"https://aws.amazon.com/SAML/Attributes/RoleSessionName\", mapping: aws_role_session_name}"
	echo "        - {name: \"https://aws.amazon.com/SAML/Attributes/SessionDuration\", mapping: aws_session_duration}"
	i=0
	while [ $i -lt "$nsps" ]; do
		printf '    - {name: sp%04d, metadata: "%s/metadata/sp%04d.xml"}\n' $i "$tmp" $i
		i=$((i + 1))
	done
	echo "apps:" # a0 is the one checked; each with one anonymous path, as forward-auth.sh's
	i=0
	while [ $i -lt "$napps" ]; do
		echo "  - {name: a$i, hosts: [a$i.bench], rules: [{path: /public, action: anonymous}]}"
		i=$((i + 1))
	done
} >"$tmp/common.yaml"

# configure STORE: $tmp/STORE.yaml and a new state directory $tmp/STORE
configure() {
	mkdir -m 700 "$tmp/$1"
	{
		echo "server:"
		echo "  listen: [\"127.0.0.1:$(bench_port)\"]"
		echo "  workers: $workers"
		echo "  public_url: \"http://127.0.0.1:PORT\""
		echo "log: {level: warn, access: false}"
		if [ "$1" = postgres ]; then
			echo "store: {driver: postgres, dsn: \"env:FB_BENCH_DSN\"}"
		fi
		cat "$tmp/common.yaml"
	} >"$tmp/$1.yaml"
	p=$(sed -n 's/.*127.0.0.1:\([0-9]*\)".*/\1/p' "$tmp/$1.yaml" | head -n 1)
	sed -i "s/:PORT\"/:$p\"/" "$tmp/$1.yaml"
	eval "port_$1=$p"
}

# import STORE: the users into STORE's new store; prints the seconds it took
import() {
	"$py" - "$bin" "$tmp/$1.yaml" "$tmp/$1" "$tmp/users.json" <<'EOP'
import subprocess, sys, time
b, conf, state, f = sys.argv[1:5]
t = time.monotonic()
r = subprocess.run([b, "store", "import", "--json", f, "--init", "--config", conf, "--state-dir", state],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
if r.returncode != 0:
    sys.exit("store import: " + r.stdout)
print("%.2f" % (time.monotonic() - t))
EOP
}

# start STORE: fedbroker serve on it, started by a poller that times it from the exec
# to the first 200 of /healthz (the poller's own start-up not counted); sets fbpid_STORE,
# writes the seconds in $tmp/STORE.start
start() {
	port=$(eval echo "\$port_$1")
	"$py" - "$port" "$bin" "$tmp/$1.yaml" "$tmp/$1" "$tmp/$1.out" "$tmp/$1.err" \
		>"$tmp/$1.start" <<'EOP'
import http.client, subprocess, sys, time
port, b, conf, state, out, err = sys.argv[1:7]
t0 = time.monotonic()
p = subprocess.Popen([b, "serve", "--config", conf, "--state-dir", state],
                     stdout=open(out, "w"), stderr=open(err, "w"))
print(p.pid, flush=True)
deadline = t0 + 60
while time.monotonic() < deadline and p.poll() is None:
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=2)
        c.request("GET", "/healthz")
        if c.getresponse().status == 200:
            print("%.3f" % (time.monotonic() - t0))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.002)
sys.exit(1)
EOP
	r=$?
	pid=$(head -n 1 "$tmp/$1.start")
	fbpids="$fbpids $pid"
	eval "fbpid_$1=$pid"
	return $r
}

rss() { # rss PID: "master N KiB, children N N ... KiB"
	m=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
	c=""
	for p in $(pgrep -P "$1"); do
		c="$c $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")"
	done
	echo "$m$c"
}

signin() { # signin PORT: prints the session cookie, then app a0's forward-auth cookie
	PYTHONPATH="$src/tests/integration:$src/tests/peers/python" "$py" - "$1" "$password" <<'EOP'
import sys, urllib.parse
import webclient, fbsaml
port, password = int(sys.argv[1]), sys.argv[2]
b = webclient.Browser("127.0.0.1", port)
r = b.login("bench", password, follow=True)
if "fb_session" not in b.cookies:
    sys.exit("sign-in failed (status %d)" % r.status)
p = b.get("/saml/idp/init/aws")
action, fields = fbsaml.post_form(p.text)
if p.status != 200 or "SAMLResponse" not in fields:
    sys.exit("GET /saml/idp/init/aws: status %d, no SAMLResponse form" % p.status)
print("fb_session=%s" % b.cookies["fb_session"])
# Forward auth: the check sends to /auth/start, which hands a code to the app's callback.
app = {"Host": "a0.bench", "Accept": "text/html"}
p = b.request("GET", "/auth/envoy/page", headers=app)
if p.status != 302 or "/auth/start" not in (p.location or ""):
    sys.exit("forward-auth check without a cookie: status %d" % p.status)
p = b.get(p.location[p.location.index("/auth/start"):])
cb = urllib.parse.urlsplit(p.location or "")
b.request("GET", cb.path + "?" + cb.query, headers={"Host": "a0.bench"})
if "fb_session_app" not in b.cookies:
    sys.exit("the forward-auth hand-off gave no app cookie (status %d)" % p.status)
p = b.request("GET", "/auth/envoy/page", headers=dict(app, Cookie="fb_session_app=" +
              b.cookies["fb_session_app"]))
if p.status != 200:
    sys.exit("forward-auth check with the app cookie: status %d" % p.status)
print("fb_session_app=%s" % b.cookies["fb_session_app"])
EOP
}

echo "fedbroker: $workers workers; PostgreSQL $pgver on 127.0.0.1 (tests/pgtest.py); $nusers users," \
	"$((nsps + 1)) SAML SPs, $napps apps"
for s in sqlite postgres; do
	configure $s
	it=$(import $s) || { echo "$it" >&2; exit 1; }
	sts=""
	k=1
	while :; do # STARTS start-ups, the last one kept running
		start $s || { echo "fedbroker on $s did not start:" >&2; cat "$tmp/$s.err" >&2; exit 1; }
		sts="$sts $(sed -n 2p "$tmp/$s.start")"
		[ $k -ge "$starts" ] && break
		term_wait "$(eval echo "\$fbpid_$s")"
		k=$((k + 1))
	done
	st=$(echo "$sts" | median)
	eval "import_$s=$it start_$s=$st rss_$s=\"$(rss "$(eval echo "\$fbpid_$s")")\""
	signin "$(eval echo "\$port_$s")" >"$tmp/$s.cookies" ||
		{ echo "bench/store.sh: no response on $s" >&2; cat "$tmp/$s.err" >&2; exit 1; }
	eval "cookie_$s=\"$(sed -n 1p "$tmp/$s.cookies")\" appcookie_$s=\"$(sed -n 2p "$tmp/$s.cookies")\""
	echo "  $s: import ${it}s, start-up ${st}s (median of:$sts), VmRSS KiB (master, children):" \
		"$(eval echo "\$rss_$s")"
done

cpu_ticks() { # cpu_ticks PID: CPU time used so far by PID and its children, in ticks
	for p in "$1" $(pgrep -P "$1"); do
		awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null
	done | awk '{ s += $1 } END { print s + 0 }'
}
hz=$(getconf CLK_TCK)
pgmaster=$(head -n 1 "$(sed -n 's/^dir //p' "$tmp/pg.out")/data/postmaster.pid")

load() { # load STORE KIND: responses/s of a sign-on (KIND signon: GET /saml/idp/init/aws)
	# or a forward-auth check (check: GET /auth/envoy/page for app a0), then the CPU ms per
	# response of fedbroker's processes and of the PostgreSQL server's
	port=$(eval echo "\$port_$1")
	pid=$(eval echo "\$fbpid_$1")
	if [ "$2" = signon ]; then
		set -- "$1" "http://127.0.0.1:$port/saml/idp/init/aws" -H "Cookie: $(eval echo "\$cookie_$1")"
	else
		set -- "$1" "http://127.0.0.1:$port/auth/envoy/page" -H "Host: a0.bench" \
			-H "Cookie: $(eval echo "\$appcookie_$1")"
	fi
	s=$1 url=$2
	shift 2
	f0=$(cpu_ticks "$pid")
	g0=$(cpu_ticks "$pgmaster")
	wrk -t"$threads" -c"$connections" -d"${duration}s" "$@" "$url" >"$tmp/wrk" 2>&1 ||
		{ cat "$tmp/wrk" >&2; exit 1; }
	f1=$(cpu_ticks "$pid")
	g1=$(cpu_ticks "$pgmaster")
	if grep -q "Non-2xx" "$tmp/wrk"; then
		echo "bench/store.sh: non-2xx answers on $s:" >&2
		cat "$tmp/wrk" "$tmp/$s.err" >&2
		exit 1
	fi
	awk -v f=$((f1 - f0)) -v g=$((g1 - g0)) -v hz="$hz" '
		/^Requests\/sec:/ { r = $2 }
		/ requests in / { n = $1 }
		END { printf "%s %.3f %.3f\n", r, f * 1000 / hz / n, g * 1000 / hz / n }' "$tmp/wrk"
}
for kind in signon check; do
	if [ $kind = signon ]; then
		echo "GET /saml/idp/init/aws: wrk -t$threads -c$connections -d${duration}s; $runs runs each, in turn"
	else
		echo "forward-auth check GET /auth/envoy/page (app a0 of $napps): the same"
	fi
	rates_sqlite=""
	rates_postgres=""
	cpu_fa=""
	cpu_fb=""
	cpu_gb=""
	i=1
	while [ $i -le "$runs" ]; do
		set -- $(load sqlite $kind) || exit 1
		a=$1 fa=$2
		set -- $(load postgres $kind) || exit 1
		b=$1 fb=$2 gb=$3
		echo "  run $i: SQLite $a/s (fedbroker CPU ${fa} ms per response)," \
			"PostgreSQL $b/s (fedbroker CPU ${fb} ms, PostgreSQL server CPU ${gb} ms per response)"
		[ -n "$a" ] && [ -n "$b" ] || exit 1
		rates_sqlite="$rates_sqlite $a"
		rates_postgres="$rates_postgres $b"
		cpu_fa="$cpu_fa $fa"
		cpu_fb="$cpu_fb $fb"
		cpu_gb="$cpu_gb $gb"
		i=$((i + 1))
	done
	echo "$(echo "$rates_sqlite" | median) $(echo "$rates_postgres" | median)" \
		"$(echo "$cpu_fa" | median) $(echo "$cpu_fb" | median) $(echo "$cpu_gb" | median)" \
		>"$tmp/medians.$kind"
done

# 5b. The statements PostgreSQL runs per sign-on and per check: log_statement = all
# on the private server for NCOUNT of each, one at a time (the statements of its
# connections named fedbroker in the bench database, from the server's log).
pgdata=$(sed -n 's/^dir //p' "$tmp/pg.out")/data
pgset() {
	psql "$admin" -X -q -c "ALTER SYSTEM SET log_statement = '$1'" \
		-c "ALTER SYSTEM SET log_min_messages = '$2'" \
		-c "ALTER SYSTEM SET log_line_prefix = '%a|%d|'" -c "SELECT pg_reload_conf()" >/dev/null
}
count() { # count KIND: statements per request of KIND on PostgreSQL
	port=$port_postgres
	"$py" - "$port" "$1" "$cookie_postgres" "$appcookie_postgres" "$ncount" \
		"$pgdata/server.log" <<'EOP'
import http.client, os, re, sys, time
port, kind, cookie, appcookie, n, log = sys.argv[1:7]
port, n = int(port), int(n)
if kind == "signon":
    path, headers = "/saml/idp/init/aws", {"Cookie": cookie}
else:
    path, headers = "/auth/envoy/page", {"Host": "a0.bench", "Cookie": appcookie}
def one():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 200:
        sys.exit("%s: status %d" % (path, r.status))
for _ in range(20):  # every worker has read the new settings (its next statement)
    one()
time.sleep(0.5)
off = os.path.getsize(log)
for _ in range(n):
    one()
time.sleep(0.5)
with open(log, errors="replace") as f:
    f.seek(off)
    stmts = [l for l in f if re.match(r"fedbroker\|fbbench\|LOG:  (statement|execute)", l)]
print("%.2f" % (len(stmts) / n))
EOP
}
pgset all log
st_signon=$(count signon) || exit 1
st_check=$(count check) || exit 1
pgset none fatal

echo "one store call (bench/store_call, $ncalls rounds of the sign-on's calls; us: median p99 max)"
for s in sqlite postgres; do
	"$builddir/bench/store_call" "$tmp/$s.yaml" "$tmp/$s" bench "$ncalls" >"$tmp/calls.$s" ||
		exit 1
done

"$py" - "$(cat "$tmp/medians.signon")" "$(cat "$tmp/medians.check")" \
	"$start_sqlite" "$start_postgres" "$rss_sqlite" "$rss_postgres" \
	"$import_sqlite" "$import_postgres" "$tmp/calls.sqlite" "$tmp/calls.postgres" \
	"$st_signon" "$st_check" "$nusers" <<'EOP'
import sys
a = sys.argv[1:]
so, ck = [x.split() for x in a[0:2]]
rs, rp = float(so[0]), float(so[1])
cs, cp = float(ck[0]), float(ck[1])
ss, sp = float(a[2]), float(a[3])
ms, mp = [int(x) for x in a[4].split()], [int(x) for x in a[5].split()]
calls = [dict((l.split()[0], l.split()[1:]) for l in open(f)) for f in a[8:10]]
ok = True
def verdict(c):
    global ok
    ok = ok and c
    return "met" if c else "NOT met"
print("                                    SQLite   PostgreSQL")
print("SAML IdP sign-on responses/s    %10.1f   %10.1f   ratio %.2f, target >= 0.80: %s" % (
    rs, rp, rp / rs, verdict(rp / rs >= 0.80)))
print("CPU ms per response: fedbroker %6s       %6s   + PostgreSQL server %s ms (medians)" % (
    so[2], so[3], so[4]))
print("  per CPU second (SQLite's fedbroker CPU / PostgreSQL's fedbroker + server CPU): %.2f" % (
    float(so[2]) / (float(so[3]) + float(so[4]))))
print("forward-auth checks/s           %10.1f   %10.1f   ratio %.2f, target >= 0.80: %s" % (
    cs, cp, cp / cs, verdict(cp / cs >= 0.80)))
print("CPU ms per check: fedbroker    %6s       %6s   + PostgreSQL server %s ms (medians)" % (
    ck[2], ck[3], ck[4]))
print("PostgreSQL statements per sign-on %.2f, per forward-auth check %.2f" % (
    float(a[10]), float(a[11])))
print("start-up to /healthz 200, s     %10.3f   %10.3f   target < 1 s: %s" % (
    ss, sp, verdict(ss < 1 and sp < 1)))
print("VmRSS master, MiB               %10.1f   %10.1f" % (ms[0] / 1024, mp[0] / 1024))
print("VmRSS largest child, MiB        %10.1f   %10.1f" % (max(ms[1:]) / 1024, max(mp[1:]) / 1024))
print("VmRSS all processes, MiB        %10.1f   %10.1f" % (sum(ms) / 1024, sum(mp) / 1024))
print("store import of %s users, s  %10s   %10s" % (a[12], a[6], a[7]))
for k in calls[0]:
    s, p = calls[0][k], calls[1][k]
    print("store call %-16s us  %5s %5s %6s   %5s %5s %6s   (median p99 max)" % (k, *s, *p))
sys.exit(0 if ok else 3)
EOP
exit 0
