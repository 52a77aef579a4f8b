#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The two quick-start commands of README.md, on Debian 12 as root:
#   contrib/dev.sh run    install what is missing, build, start the demo broker
#   contrib/dev.sh test   install what is missing (test peers too), build, run every test
# Builds go to build/ (out of tree); state of the demo goes to state/.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

BUILD_PKGS="build-essential autoconf automake autoconf-archive libtool pkg-config
libevent-dev libssl-dev libjansson-dev libyaml-dev libsqlite3-dev liblasso3-dev
libxmlsec1-dev libxml2-dev libglib2.0-dev libcurl4-openssl-dev libpq-dev libargon2-dev
libqrencode-dev libcunit1-dev libpcre2-dev zlib1g-dev libcjose-dev"
TEST_PKGS="python3 python3-aiosmtpd openssl curl sqlite3 valgrind clang libclang-rt-14-dev procps
chromium fonts-dejavu-core python3-pysaml2 python3-onelogin-saml2 xmlsec1 apache2
libapache2-mod-auth-mellon libapache2-mod-auth-openidc systemd python3-yaml nginx postgresql caddy"

# Each step with the time it started: CI has a budget, the log shows where it goes.
say() { printf '==> %s %s\n' "$(date +%T)" "$*"; }

install_pkgs() {
	missing=""
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing Debian packages:$missing" >&2
		echo "run as root, or: apt-get install$missing" >&2
		exit 1
	fi
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# build DIR [configure flags...]: configure once, then make.
build() {
	dir=$1
	shift
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		say "autoreconf"
		autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		say "configure $* ($dir)"
		(cd "$dir" && "$top/configure" -q "$@")
	fi
	say "make ($dir)"
	make -C "$dir" -j"$(nproc)" >/dev/null
}

# Sums the "NAME: N passed, N failed" lines of the test logs under the build dirs.
summary() {
	cat build/*/tests/unit/*.log build/*/tests/integration/*.log 2>/dev/null |
		sed -n 's/^[a-z]*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' |
		awk '{ p += $1; f += $2 } END { printf "%d %d\n", p, f }'
}

cmd_run() {
	install_pkgs $BUILD_PKGS
	build build/default
	mkdir -p state
	say "starting fedbroker (Ctrl-C stops it)"
	exec build/default/src/fedbroker serve --config contrib/demo/fedbroker.yaml --state-dir "$top/state"
}

node_major() {
	node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# The npm test peers: every tests/peers folder with a package-lock.json.
install_peers() {
	locks=$(find tests/peers -name package-lock.json -not -path '*/node_modules/*' 2>/dev/null)
	[ -n "$locks" ] || return 0
	if ! command -v npm >/dev/null 2>&1; then
		install_pkgs nodejs npm
	fi
	# oidc-provider 9 and playwright-core need Node.js 20 or later; Debian 12's is 18.
	# Then Node.js 20 comes from the npm registry as a package pinned by
	# contrib/node/package-lock.json (integrity-checked like every other peer) and goes
	# first on PATH for the rest of this run (npm, the peers and the tests).
	if [ "$(node_major)" -lt 20 ]; then
		case $(uname -m) in
		x86_64) ;;
		*)	echo "the npm test peers need Node.js 20 or later (this node is $(node --version 2>/dev/null || echo missing)); contrib/node pins it for x86_64 only: install Node.js 20 and run again" >&2
			exit 1 ;;
		esac
		if [ ! -x contrib/node/node_modules/.bin/node ] ||
		    [ contrib/node/package-lock.json -nt contrib/node/node_modules ]; then
			say "npm ci (contrib/node: Node.js 20 for the test peers)"
			(cd contrib/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
			touch contrib/node/node_modules
		fi
		PATH=$top/contrib/node/node_modules/.bin:$PATH
		export PATH
		[ "$(node_major)" -ge 20 ] || { echo "contrib/node did not provide Node.js 20" >&2; exit 1; }
	fi
	for lock in $locks; do
		d=$(dirname "$lock")
		if [ ! -d "$d/node_modules" ] || [ "$lock" -nt "$d/node_modules" ]; then
			say "npm ci ($d)"
			(cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
			touch "$d/node_modules"
		fi
	done
}

cmd_test() {
	install_pkgs $BUILD_PKGS $TEST_PKGS
	install_peers
	# Every peer is installed now: a test that cannot find its peer fails instead of skipping.
	export FB_REQUIRE_PEERS=1
	status=0
	build build/default --enable-werror
	say "make check (gcc, warnings as errors)"
	make -C build/default check -j"$(nproc)" >/dev/null || status=1
	build build/asan --enable-werror --enable-sanitizers
	say "make check (ASan + UBSan)"
	# The PostgreSQL run of the integration suite once, in the default build.
	make -C build/asan check -j"$(nproc)" FB_SKIP_VALGRIND=1 FB_SKIP_POSTGRES=1 >/dev/null ||
		status=1
	for d in build/default build/asan; do
		if [ -f "$d/test-suite.log" ]; then
			grep -E '^(# |FAIL|ERROR)' "$d/test-suite.log" | sed "s|^|$d: |" || true
		fi
		# Show the logs of failed tests in full.
		for log in $(grep -l '^:test-result: \(FAIL\|ERROR\)' $(find "$d/tests" -name '*.trs' 2>/dev/null) 2>/dev/null); do
			echo "---- ${log%.trs}.log"
			cat "${log%.trs}.log"
		done
	done
	# The slowest integration modules of each run (tests/integration/harness.py).
	for log in build/default/tests/integration/run*.sh.log build/asan/tests/integration/run.sh.log; do
		if [ -f "$log" ]; then
			grep -E '^integration: +[0-9.]+ s ' "$log" | head -5 | sed "s|^|$log: |"
		fi
	done
	say "done"
	set -- $(summary)
	echo "tests: $1 passed, $2 failed"
	[ "$2" -eq 0 ] || status=1
	exit $status
}

case "${1:-}" in
run) cmd_run ;;
test) cmd_test ;;
build)
	install_pkgs $BUILD_PKGS
	build build/default
	;;
*)
	echo "usage: contrib/dev.sh run|test|build" >&2
	exit 2
	;;
esac
