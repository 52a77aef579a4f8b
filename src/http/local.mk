# http module: the HTTP front end of a worker (libevent evhttp).
FB_LIB_SOURCES += src/http/http.h src/http/internal.h src/http/server.c src/http/router.c \
	src/http/reply.c src/http/metrics.c src/http/ops.c
FB_UNIT_SOURCES += tests/unit/test_http.c
