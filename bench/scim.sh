#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# SCIM push against the SCIM peer (tests/peers/scim/server.mjs, AWS rules, no artificial
# latency), through `fedbroker scim sync`:
#  1. the initial sync of USERS users and GROUPS groups (memberships of realistic sizes:
#     most groups 5-50 members, a few over 1,000);
#  2. a resync with no change: its write count must be 0;
#  3. CHANGES changes (renames), then a sync (a full sync reads every object: its cost
#     grows with the directory);
#  4. the daemon's incremental push: `fedbroker serve` running (its start-up reconcile
#     done), CHANGES more renames written to the store, and the time until every one is
#     at the peer (the store's record of the body last pushed), with the jobs process'
#     CPU time: this grows with the changes, not with the directory (compare NUSERS).
# Prints objects per second, requests per object, the broker's CPU time per object (user +
# system of the sync process) and the resync's writes. Not a timed test.
# Needs node and tests/peers' npm packages (cd tests/peers && npm ci). Loopback only.
#
#   bench/scim.sh [PATH/TO/fedbroker]   (default: $FEDBROKER_BIN, ./src/fedbroker)
#   env: NUSERS=10000 NGROUPS=1000 NCHANGES=100
set -u
bin=${1:-${FEDBROKER_BIN:-./src/fedbroker}}
users=${NUSERS:-10000}
groups=${NGROUPS:-1000}
changes=${NCHANGES:-100}
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
py=/usr/bin/python3

if [ ! -x "$bin" ]; then
	echo "fedbroker binary not found: $bin (give its path as the first argument)" >&2
	exit 1
fi
if [ ! -d "$src/tests/peers/node_modules/scimmy-routers" ]; then
	echo "bench/scim.sh needs tests/peers' npm packages (cd tests/peers && npm ci)" >&2
	exit 1
fi
tmp=$(mktemp -d)
peer_pid=
cleanup() {
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

(cd "$src/tests/peers" && exec node scim/server.mjs --token bench-token >"$tmp/peer.out" 2>"$tmp/peer.err") &
peer_pid=$!
i=0
while ! grep -q READY "$tmp/peer.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 300 ] && { echo "the SCIM peer did not start" >&2; cat "$tmp/peer.err" >&2; exit 1; }
	sleep 0.1
done
port=$(awk '/READY/ {print $2}' "$tmp/peer.out")

# The groups (declared, with their members) and the users (written through the store's
# schema: its triggers log them for the push as for any writer).
"$py" - "$tmp" "$users" "$groups" "$port" <<'PYEOF'
import random, sys
tmp, users, groups, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(1)
with open(tmp + "/fedbroker.yaml", "w") as f:
    f.write("server: {state_dir: %s/state}\nlog: {level: warn}\n" % tmp)
    f.write("scim:\n  targets:\n    - {name: bench, url: \"http://127.0.0.1:%s/scim/v2\", "
            "token: env:FB_BENCH_TOKEN, profile: aws, concurrency: 8}\n" % port)
    f.write("groups:\n")
    for g in range(groups):
        n = rng.choice([1200, 1500]) if g < 3 else rng.randint(5, 50)
        members = rng.sample(range(users), min(n, users))
        f.write("  - name: g%04d\n    members: [%s]\n"
                % (g, ", ".join("u%05d" % m for m in members)))
PYEOF
export FB_BENCH_TOKEN=bench-token
"$bin" user list --init --config "$tmp/fedbroker.yaml" >/dev/null || exit 1
"$py" - "$tmp" "$users" <<'PYEOF'
import sqlite3, sys
tmp, users = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(tmp + "/state/fedbroker.db")
with db:
    db.executemany("INSERT INTO users (id, username, name, email, source, active, created, "
                   "last_seen) VALUES (?, ?, ?, ?, 'corp', 1, 1, 1)",
                   (("id%05d" % i, "u%05d" % i, "Given%d Family%d" % (i, i),
                     "u%05d@example.com" % i) for i in range(users)))
PYEOF

# One sync: prints "seconds cpu_seconds requests writes objects" from its JSON report.
sync() {
	/usr/bin/time -f "%e %U %S" -o "$tmp/time" "$bin" scim sync bench --json \
	    --config "$tmp/fedbroker.yaml" >"$tmp/report.json" 2>"$tmp/sync.err"
	"$py" - "$tmp" <<'PYEOF'
import json, sys
tmp = sys.argv[1]
r = json.load(open(tmp + "/report.json"))
e, u, s = open(tmp + "/time").read().split()
print(e, float(u) + float(s), r["requests"], r["writes"], r["pushed"], r["ok"])
PYEOF
}

report() {
	label=$1
	shift
	set -- $*
	"$py" -c "
import sys
e, cpu, req, wr, obj, ok = float('$1'), float('$2'), int('$3'), int('$4'), int('$5'), '$6'
print('%-22s %8.1f s  %7d objects  %8.0f objects/s  %5.2f requests/object  %7.3f ms CPU/object  %d writes  in step: %s'
      % ('$label', e, obj, obj / e if e else 0, req / obj if obj else 0,
         1000 * cpu / obj if obj else 0, wr, ok))"
}

echo "SCIM push: $users users, $groups groups (3 of over 1,000 members), peer on 127.0.0.1:$port"
report "initial sync" "$(sync)"
report "resync (no change)" "$(sync)"
"$py" - "$tmp" "$changes" <<'PYEOF'
import sqlite3, sys
tmp, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(tmp + "/state/fedbroker.db")
with db:
    for i in range(n):
        db.execute("UPDATE users SET name = ? WHERE username = ?",
                   ("Renamed%d Family%d" % (i, i), "u%05d" % (i * 7)))
PYEOF
report "after $changes changes" "$(sync)"

# ---- 4. the daemon's incremental push
fbport=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "1s|.*|server: {state_dir: $tmp/state, listen: [\"127.0.0.1:$fbport\"], workers: 1}|" "$tmp/fedbroker.yaml"
"$bin" serve --config "$tmp/fedbroker.yaml" >"$tmp/serve.out" 2>"$tmp/serve.err" &
fb_pid=$!
trap 'kill "$fb_pid" 2>/dev/null; wait "$fb_pid" 2>/dev/null; cleanup' EXIT INT TERM
i=0
until "$py" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$fbport/healthz', timeout=2)" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$fb_pid" 2>/dev/null; then
		echo "fedbroker serve did not start:" >&2
		cat "$tmp/serve.err" >&2
		exit 1
	fi
	sleep 0.2
done
# Renames prefix+i of every 7th user from user off, then waits until the store says the
# body last pushed for each carries its new name; prints "seconds jobs_cpu_seconds".
converge() {
	"$py" - "$tmp" "$changes" "$1" "$2" "$fb_pid" <<'PYEOF'
import os, sqlite3, sys, time
tmp, n, prefix, off, master = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tick = os.sysconf("SC_CLK_TCK")
def jobs_cpu():
    for d in os.listdir("/proc"):
        try:
            st = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        if "(fb-jobs)" in st and int(rest[1]) == master:
            return (int(rest[11]) + int(rest[12])) / tick
    return 0.0
db = sqlite3.connect(tmp + "/state/fedbroker.db", timeout=30)
users = db.execute("SELECT count(*) FROM users").fetchone()[0]
ids = sorted({"id%05d" % ((off + 7 * i) % users) for i in range(n)})
cpu0, t0 = jobs_cpu(), time.time()
with db:
    for i, uid in enumerate(ids):
        db.execute("UPDATE users SET name = ? WHERE id = ?", ("%s%d Family%d" % (prefix, i, i), uid))
marks = ",".join("?" * len(ids))
while True:
    done = db.execute("SELECT count(*) FROM scim_remote WHERE target = 'bench' AND kind = 'user'"
                      " AND object IN (%s) AND body LIKE ?" % marks, ids + ['%' + prefix + '%']).fetchone()[0]
    if done == len(ids):
        break
    if time.time() - t0 > 600:
        sys.exit("not converged after 600 s: %d of %d" % (done, len(ids)))
    time.sleep(0.05)
print("%.2f %.2f" % (time.time() - t0, jobs_cpu() - cpu0))
PYEOF
}
# The start-up reconcile first (it lists the target and compares every object): wait
# until the jobs process is idle (under 20 ms of CPU in each of two seconds), then a
# warm-up change set.
"$py" - "$fb_pid" <<'PYEOF' || exit 1
import os, sys, time
master, tick = int(sys.argv[1]), os.sysconf("SC_CLK_TCK")
def jobs_cpu():
    for d in os.listdir("/proc"):
        try:
            st = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        if "(fb-jobs)" in st and int(rest[1]) == master:
            return (int(rest[11]) + int(rest[12])) / tick
    return None
t0, quiet, last = time.time(), 0, jobs_cpu()
while quiet < 2:
    if time.time() - t0 > 900:
        sys.exit("the daemon's start-up reconcile did not end in 900 s")
    time.sleep(1)
    now = jobs_cpu()
    quiet = quiet + 1 if now is not None and last is not None and now - last < 0.02 else 0
    last = now
PYEOF
converge Warmup 1 >/dev/null || exit 1
set -- $(converge Pushed 3) || exit 1
"$py" -c "
n, e, cpu = $changes, $1, $2
print('%-22s %8.2f s  %7d objects  %8.0f objects/s  %7.3f ms jobs CPU/object  (directory: $users users)'
      % ('daemon, $changes changes', e, n, n / e if e else 0, 1000 * cpu / n if n else 0))"
echo "(the resync must make 0 writes; a full sync reads every object's digest, so its"
echo " time grows with the directory; the daemon's incremental push handles only the outbox:"
echo " run with another NUSERS to see its time follow the changes, not the directory)"
