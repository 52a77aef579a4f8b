# oidc module: the OpenID Connect relying party (ID token checks through libcjose).
FB_LIB_SOURCES += src/oidc/oidc.h src/oidc/jwt.c src/oidc/rp.c src/oidc/op.c
FB_UNIT_SOURCES += tests/unit/test_oidc.c
