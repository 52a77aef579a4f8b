# scim module: SCIM 2.0 push (bodies through the mapping rules, the outbox drainer).
FB_LIB_SOURCES += src/scim/scim.h src/scim/body.c src/scim/push.c
FB_UNIT_SOURCES += tests/unit/test_scim.c
