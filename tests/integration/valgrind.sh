#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fedbroker under valgrind: serve (master and forked workers) through start,
# a few requests and SIGTERM, then check-config on a bad file. Fails on any
# definitely lost byte or memory error in any process's report. Skips (77)
# without valgrind, with FB_SKIP_VALGRIND set, or on a sanitizer build.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${FEDBROKER_BIN:-}
if [ -z "$bin" ]; then
	if [ -n "${abs_top_builddir:-}" ]; then
		bin=$abs_top_builddir/src/fedbroker
	else
		bin=$(pwd)/src/fedbroker
	fi
fi
py=/usr/bin/python3

skip() {
	echo "valgrind: SKIP: $*"
	exit 77
}
[ -n "${FB_SKIP_VALGRIND:-}" ] && skip "FB_SKIP_VALGRIND is set"
command -v valgrind >/dev/null 2>&1 || skip "valgrind is not installed (apt-get install valgrind)"
[ -x "$py" ] || skip "/usr/bin/python3 is missing (apt-get install python3)"
if [ ! -x "$bin" ]; then
	echo "valgrind: the fedbroker binary is missing: $bin"
	echo "valgrind: 0 passed, 1 failed"
	exit 1
fi
# libtool may leave a wrapper script: valgrind the real binary.
if head -c 2 "$bin" | grep -q '#!'; then
	real=$(dirname "$bin")/.libs/$(basename "$bin")
	[ -x "$real" ] && bin=$real
fi
grep -q '__asan_init' "$bin" 2>/dev/null && skip "sanitizer build (ASan and valgrind do not mix)"

tmp=$(mktemp -d /tmp/fbvalgrind.XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
	fi
	if [ -z "${FB_KEEP_TMP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT INT TERM

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
nok() { failed=$((failed + 1)); echo "FAIL: $*"; }

# vg REPORT_DIR COMMAND...: runs valgrind in this process (exec), so that
# "vg ... &" gives the pid of valgrind itself: call it in a subshell.
vg() {
	d=$1
	shift
	exec valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
		--show-leak-kinds=definite --trace-children=yes --child-silent-after-fork=no \
		--num-callers=30 --suppressions="$here/data/valgrind.supp" \
		--log-file="$d/vg.%p.log" "$@"
}

# Checks every report in dir $1; prints the bad ones.
check_reports() {
	bad=0
	n=0
	for f in "$1"/vg.*.log; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if grep -Eq 'definitely lost: [1-9]' "$f" || ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
			echo "---- $f"
			cat "$f"
			bad=1
		fi
	done
	if [ "$n" -eq 0 ]; then
		echo "no valgrind report in $1"
		return 1
	fi
	echo "$n valgrind report(s) in $1"
	return $bad
}

# ---- serve ---------------------------------------------------------------
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/serve" "$tmp/state"
chmod 700 "$tmp/state"
cat >"$tmp/fedbroker.yaml" <<EOC
server:
  listen: ["127.0.0.1:$port"]
  workers: 1
  shutdown_timeout: 10s
log:
  level: debug
local:
  password: {time_cost: 1, memory_kib: 8, parallelism: 1}
  bootstrap: {enabled: false}
groups:
  - name: aws-admins
    attributes: {aws_role: Admin}
    members: [vg]
mappings:
  dir: "$here/../../mappings"
saml:
  service_providers:
    - name: aws
      profile: aws
      metadata: "$here/../fixtures/aws/aws-signin-saml-metadata.xml"
      attributes:
        - {name: "https://aws.amazon.com/SAML/Attributes/Role", mapping: aws_role}
        - {name: "https://aws.amazon.com/SAML/Attributes/RoleSessionName", mapping: aws_role_session_name}
EOC
# A key and a user made natively first: RSA generation under valgrind is slow.
"$bin" keys generate --init --state-dir "$tmp/state" >/dev/null || nok "keys generate --init"
echo "valgrind password 1" | "$bin" user add vg --init --password-stdin --config "$tmp/fedbroker.yaml" \
	--state-dir "$tmp/state" >/dev/null || nok "user add --init"

(vg "$tmp/serve" "$bin" serve --config "$tmp/fedbroker.yaml" --state-dir "$tmp/state" \
	--listen "127.0.0.1:$port" --workers 1 >"$tmp/serve.out" 2>"$tmp/serve.err") &
pid=$!

"$py" - "$port" "$pid" "$here" <<'EOP'
import http.client, sys, time
port = int(sys.argv[1])
deadline = time.time() + 120
import os
while True:
    if not os.path.exists("/proc/%s" % sys.argv[2]):
        print("fedbroker exited before answering /healthz")
        sys.exit(1)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/healthz")
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    if time.time() > deadline:
        print("fedbroker did not answer /healthz under valgrind")
        sys.exit(1)
    time.sleep(0.5)
for method, path, body in (("GET", "/healthz", None), ("GET", "/readyz", None),
                           ("GET", "/metrics", None), ("GET", "/nowhere", None),
                           ("POST", "/healthz", b"x" * 100)):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body, headers={"X-Request-Id": "valgrind-test-1"})
    r = c.getresponse()
    r.read()
    print("%s %s -> %d" % (method, path, r.status))
import socket
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(b"GARBAGE\r\n\r\n")
print("garbage ->", s.recv(100)[:12])
s.close()
# A sign-in, a signed SAML response (XML built, canonicalized, signed) and a bad SAMLRequest.
sys.path.insert(0, sys.argv[3])
import webclient
b = webclient.Browser("127.0.0.1", port, timeout=60)
r = b.login("vg", "valgrind password 1", follow=True)
if "fb_session" not in b.cookies:
    print("sign-in failed under valgrind: %d" % r.status)
    sys.exit(1)
r = b.get("/saml/idp/init/aws")
print("GET /saml/idp/init/aws -> %d" % r.status)
if r.status != 200 or "SAMLResponse" not in r.text:
    sys.exit(1)
r = b.get("/saml/idp/sso?SAMLRequest=not-deflated-base64")
print("GET /saml/idp/sso (bad request) -> %d" % r.status)
if r.status != 400:
    sys.exit(1)
EOP
req=$?
if [ "$req" -eq 0 ]; then ok "requests under valgrind"; else nok "requests under valgrind"; fi

kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=""
if [ "$rc" -eq 0 ]; then
	ok "serve exits 0 after SIGTERM under valgrind"
else
	nok "serve exit status $rc under valgrind (99: valgrind found errors)"
	cat "$tmp/serve.err" | tail -40
fi
# Give the workers' reports a moment to be written.
sleep 1
if check_reports "$tmp/serve"; then ok "serve: no leak, no memory error"; else nok "serve: valgrind reports"; fi

# ---- check-config on a bad file -----------------------------------------
mkdir -p "$tmp/cc"
printf 'server:\n  listn: 1\n  workers: many\nlog: &a\n  level: loud\nx: *a\n' >"$tmp/bad.yaml"
(vg "$tmp/cc" "$bin" check-config "$tmp/bad.yaml") >"$tmp/cc.out" 2>&1
rc=$?
if [ "$rc" -eq 1 ]; then ok "check-config bad file exits 1 under valgrind"; else
	nok "check-config exit status $rc under valgrind"
	cat "$tmp/cc.out"
fi
if check_reports "$tmp/cc"; then ok "check-config: no leak, no memory error"; else nok "check-config: valgrind reports"; fi

mkdir -p "$tmp/cc2"
head -c 3000 /dev/urandom >"$tmp/garbage.yaml"
(vg "$tmp/cc2" "$bin" check-config "$tmp/garbage.yaml") >"$tmp/cc2.out" 2>&1
rc=$?
if [ "$rc" -eq 1 ]; then ok "check-config garbage exits 1 under valgrind"; else
	nok "check-config garbage: exit status $rc under valgrind"
	cat "$tmp/cc2.out"
fi
if check_reports "$tmp/cc2"; then ok "check-config garbage: no leak"; else nok "check-config garbage: valgrind reports"; fi

echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
