# crypto module: signing keys, sealed cookies, CSRF tokens.
FB_LIB_SOURCES += src/crypto/crypto.h src/crypto/internal.h src/crypto/keys.c \
	src/crypto/seal.c src/crypto/csrf.c src/crypto/cert.c
FB_UNIT_SOURCES += tests/unit/test_crypto.c
EXTRA_DIST += tests/fixtures/keys
