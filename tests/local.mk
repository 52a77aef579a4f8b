# Tests: unit (CUnit), source checks, integration, fuzz replay.
TESTS += tests/unit/fb-unit tests/unit/runner.sh tests/check_layering.sh tests/check_banned.sh tests/check_exports.sh
EXTRA_DIST += tests/pgtest.py tests/unit/runner.sh tests/check_layering.sh tests/check_banned.sh tests/check_exports.sh tests/fixtures
TESTS += tests/check_conf_doc.sh
include tests/fuzz/local.mk
include tests/integration/local.mk
# The npm peers are installed from their lock files (contrib/dev.sh), never shipped.
EXTRA_DIST += tests/peers/package.json tests/peers/package-lock.json
