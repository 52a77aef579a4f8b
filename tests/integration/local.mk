# SPDX-License-Identifier: Apache-2.0
# Integration tests: the real binary over real loopback sockets, and valgrind.
TESTS += tests/integration/run.sh tests/integration/valgrind.sh
# The same suite on PostgreSQL (FB_TEST_STORE=postgres), for the default build only:
# the sanitizer build's make check passes FB_SKIP_POSTGRES=1 (contrib/dev.sh;
# run-postgres.sh then exits 77, skipped).
TESTS += tests/integration/run-postgres.sh
AM_TESTS_ENVIRONMENT = abs_top_builddir='$(abs_top_builddir)'; abs_top_srcdir='$(abs_top_srcdir)'; \
	export abs_top_builddir abs_top_srcdir;
# The whole folder, so a test added later is never left out of a tarball.
EXTRA_DIST += tests/integration
