#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# SCIM push against the SCIM peer (tests/peers/scim/server.mjs, AWS rules, no artificial
# latency), through `fedbroker scim sync`:
#  1. the initial sync of USERS users and GROUPS groups (memberships of realistic sizes:
#     most groups 5-50 members, a few over 1,000);
#  2. a resync with no change: its write count must be 0;
#  3. CHANGES changes (renames), then a sync: what it costs grows with the changes, not
#     with the directory.
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
echo "(the resync must make 0 writes; a full sync reads every object's digest, so its"
echo " time grows with the directory; the daemon's incremental push handles only the outbox)"
