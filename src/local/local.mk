# local module: local accounts, passwords, TOTP, recovery, API tokens, limits, bootstrap.
FB_LIB_SOURCES += src/local/local.h src/local/internal.h src/local/account.c \
	src/local/password.c src/local/totp.c src/local/qr.c src/local/recovery.c \
	src/local/token.c src/local/lockout.c src/local/bootstrap.c
FB_UNIT_SOURCES += tests/unit/test_local.c
