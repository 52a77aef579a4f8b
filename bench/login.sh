#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The cost of signing in, in two figures:
#  1. argon2id password verifications per second at the configured cost
#     (local.password.* of CONFIG, else the built-in defaults t=3, 64 MiB, p=1), by
#     bench/argon2 (fedbroker's own fb_local_password_verify in a loop): with one
#     process, and with as many processes as workers (what the machine can verify);
#  2. complete sign-in round trips per second through the real server: a new browser
#     (no cookie) GETs /login, POSTs the username, password and CSRF token, follows the
#     redirect to the dashboard and gets it (3 requests), with local.password set to
#     the lowest cost (t=1, 8 KiB) so that the HTTP, CSRF, session cookie and store path
#     is what is measured. CLIENTS Python clients (keep-alive) run for DURATION seconds.
#  3. GET /healthz requests per second on ONE worker, alone and while SIGNERS clients
#     sign in over and over at the DEFAULT cost (t=3, 64 MiB): password hashing runs
#     on the worker's CPU threads (server.cpu_threads), so the event loop keeps
#     answering cheap requests; when it ran on the loop, the rate collapsed.
# Prints them, and the cap the configured cost puts on sign-ins.
# Installs nothing; loopback only; stops by itself.
#
#   bench/login.sh [PATH/TO/fedbroker]   (default: $FEDBROKER_BIN, ./src/fedbroker)
#   env: CONFIG=fedbroker.yaml DURATION=5 WORKERS=<CPUs> CLIENTS=<2 x WORKERS> SIGNERS=4
#   bench/argon2 is looked for next to the binary's build tree (make bench/argon2).
set -u
bin=${1:-${FEDBROKER_BIN:-./src/fedbroker}}
duration=${DURATION:-5}
workers=${WORKERS:-$(nproc)}
clients=${CLIENTS:-$((workers * 2))}
config=${CONFIG:--}
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")

if [ ! -x "$bin" ]; then
	echo "fedbroker binary not found: $bin (give its path as the first argument)" >&2
	exit 1
fi
if [ ! -x "$py" ]; then
	echo "bench/login.sh needs /usr/bin/python3 (apt-get install python3)" >&2
	exit 1
fi
bindir=$(cd "$(dirname "$bin")" && pwd)
argon2=${ARGON2_BENCH:-$bindir/../bench/argon2}
if [ ! -x "$argon2" ]; then
	echo "bench/argon2 not found at $argon2: build it with 'make bench/argon2' in the build directory" >&2
	exit 1
fi

. "$here/lib.sh"
bench_init

# ---- 1. argon2id at the configured cost
one=$("$argon2" "$config" 3 1) || { echo "bench/argon2 failed" >&2; exit 1; }
many=$("$argon2" "$config" 3 "$workers") || { echo "bench/argon2 failed" >&2; exit 1; }

# ---- 2. sign-in round trips, cost set low
password="bench password for signing in"
bench_fedbroker "$workers" "$password" "local:
  password: {time_cost: 1, memory_kib: 8, parallelism: 1}
  bootstrap: {enabled: false}"

PYTHONPATH="$src/tests/integration" "$py" - "$port" "$clients" "$duration" "$password" \
	>"$tmp/trips" 2>"$tmp/trips.err" <<'EOP'
import multiprocessing, sys, time
import webclient

port, clients, duration, password = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

def client(q):
    b = webclient.Browser("127.0.0.1", port)
    n = bad = 0
    end = time.time() + duration
    while time.time() < end:
        b.cookies.clear()  # a new browser each time: no pre-session id, no session
        form = b.get("/login")
        r = b.submit(form, "/login", {"username": "bench", "password": password})
        if r.status == 303:
            r = b.get(r.location)
        if r.status == 200 and "<h1>Applications</h1>" in r.text:
            n += 1
        else:
            bad += 1
    q.put((n, bad))

q = multiprocessing.Queue()
ps = [multiprocessing.Process(target=client, args=(q,)) for _ in range(clients)]
t0 = time.time()
for p in ps:
    p.start()
res = [q.get() for _ in ps]
for p in ps:
    p.join()
elapsed = time.time() - t0
print("%d %d %.3f" % (sum(r[0] for r in res), sum(r[1] for r in res), elapsed))
EOP
st=$?
if [ $st -ne 0 ]; then
	echo "sign-in clients failed:" >&2
	cat "$tmp/trips.err" "$tmp/fb.out" "$tmp/fb.err" >&2
	exit 1
fi
read -r trips bad elapsed <"$tmp/trips"

echo "argon2id verifications at the configured cost (config: $config):"
echo "  $one"
echo "  $many"
awk -v n="$trips" -v b="$bad" -v t="$elapsed" -v c="$clients" -v w="$workers" 'BEGIN {
	printf "sign-in round trips (GET /login, POST /login, GET /), password cost t=1 m=8KiB:\n"
	printf "  %d clients, %d workers, %.1f s: %.1f round trips/s (%.1f requests/s), %d failed\n",
	    c, w, t, n / t, 3 * n / t, b
}'
rate=$(echo "$many" | sed -n 's/.*: \([0-9.]*\) verifications\/s.*/\1/p')
awk -v v="$rate" -v n="$trips" -v t="$elapsed" -v w="$workers" 'BEGIN {
	if (v > 0 && n > 0)
		printf "at the configured cost, hashing alone caps sign-ins at about %.1f/s on %d workers (%.1f%% of the round-trip rate above)\n", v, w, 100 * v / (n / t)
}'

# ---- 3. /healthz on one worker during sign-ins at the default cost
signers=${SIGNERS:-4}
bench_fedbroker 1 "$password" "local:
  bootstrap: {enabled: false}
  lockout: {max_failures: 100, per_address: {max_failures: 10000}}"
PYTHONPATH="$src/tests/integration" "$py" - "$port" "$signers" "$duration" "$password" \
	>"$tmp/hz" 2>"$tmp/hz.err" <<'EOP'
import multiprocessing, sys, time
import webclient

port, signers, duration, password = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

def healthz_rate(secs):
    b = webclient.Browser("127.0.0.1", port)
    n, worst, end = 0, 0.0, time.time() + secs
    while time.time() < end:
        t = time.time()
        if b.get("/healthz").status == 200:
            n += 1
        worst = max(worst, time.time() - t)
    return n / secs, worst

def signer(stop, q):
    b = webclient.Browser("127.0.0.1", port, timeout=60)
    n = other = 0
    while not stop.is_set():
        b.cookies.clear()
        r = b.submit(b.get("/login"), "/login", {"username": "bench", "password": password})
        if r.status == 303:
            n += 1
        else:
            other += 1  # 503 when the CPU queue is full
    q.put((n, other))

alone, worst_alone = healthz_rate(duration)
stop, q = multiprocessing.Event(), multiprocessing.Queue()
ps = [multiprocessing.Process(target=signer, args=(stop, q)) for _ in range(signers)]
for p in ps:
    p.start()
time.sleep(0.5)
busy, worst_busy = healthz_rate(duration)
stop.set()
res = [q.get() for _ in ps]
for p in ps:
    p.join()
print("%.1f %.1f %.1f %.1f %d %d" % (alone, 1e3 * worst_alone, busy, 1e3 * worst_busy,
                                     sum(r[0] for r in res), sum(r[1] for r in res)))
EOP
if [ $? -ne 0 ]; then
	echo "healthz during sign-ins failed:" >&2
	cat "$tmp/hz.err" "$tmp/fb.out" "$tmp/fb.err" >&2
	exit 1
fi
read -r alone worst_alone busy worst_busy signed refused <"$tmp/hz"
echo "GET /healthz on 1 worker, keep-alive, one client:"
echo "  alone: $alone requests/s (slowest $worst_alone ms)"
echo "  during $signers clients signing in at the default cost (t=3, 64 MiB): $busy requests/s (slowest $worst_busy ms); $signed sign-ins, $refused answered 503 (CPU queue full)"
[ "$bad" -eq 0 ] || exit 1
