# upstream module: sign-in through an upstream identity provider (mapping, linking, provisioning).
FB_LIB_SOURCES += src/upstream/upstream.h src/upstream/upstream.c
FB_UNIT_SOURCES += tests/unit/test_upstream.c
