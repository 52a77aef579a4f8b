# authz module: forward auth's decision (apps, per-path rules, identity headers).
FB_LIB_SOURCES += src/authz/authz.h src/authz/authz.c
FB_UNIT_SOURCES += tests/unit/test_authz.c
