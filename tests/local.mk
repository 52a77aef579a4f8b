# Tests: unit (CUnit), source checks, integration, fuzz replay.
TESTS += tests/unit/fb-unit
