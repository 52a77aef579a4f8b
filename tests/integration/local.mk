# SPDX-License-Identifier: Apache-2.0
# Integration tests: the real binary over real loopback sockets, and valgrind.
TESTS += tests/integration/run.sh tests/integration/valgrind.sh
AM_TESTS_ENVIRONMENT = abs_top_builddir='$(abs_top_builddir)'; abs_top_srcdir='$(abs_top_srcdir)'; \
	export abs_top_builddir abs_top_srcdir;
EXTRA_DIST += tests/integration/run.sh tests/integration/valgrind.sh tests/integration/harness.py \
	tests/integration/10-cli.py tests/integration/20-check-config.py \
	tests/integration/30-serve-errors.py tests/integration/40-first-start.py \
	tests/integration/50-http.py tests/integration/60-limits.py tests/integration/70-tls.py \
	tests/integration/80-signals.py tests/integration/90-logging.py tests/integration/data \
	bench/http.sh bench/README.md
