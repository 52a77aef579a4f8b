# ident module: who is signing in; group membership and merged group attributes.
FB_LIB_SOURCES += src/ident/ident.h src/ident/ident.c
FB_UNIT_SOURCES += tests/unit/test_ident.c
