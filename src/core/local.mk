FB_LIB_SOURCES += src/core/core.h src/core/err.c src/core/log.c src/core/mem.c \
	src/core/rand.c src/core/text.c src/core/addr.c \
	src/core/logctx.c
FB_UNIT_SOURCES += tests/unit/test_core.c
