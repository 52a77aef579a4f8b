# http module: the HTTP front end of a worker (libevent evhttp).
FB_LIB_SOURCES += src/http/http.h src/http/internal.h src/http/server.c src/http/router.c \
	src/http/reply.c src/http/metrics.c src/http/ops.c src/http/defer.c src/http/proxy.c \
	src/http/mtls.c
# The pages: forms, layout, cookies, session, and one file per page family.
FB_LIB_SOURCES += src/http/web.h src/http/pages.h src/http/form.c src/http/page.c \
	src/http/session.c src/http/web.c src/http/login.c src/http/mfa.c src/http/recover.c \
	src/http/dashboard.c src/http/account.c src/http/upstream.c
# The SAML IdP's endpoints (/saml/idp/...); the protocol itself is src/saml.
FB_LIB_SOURCES += src/http/samlidp.h src/http/saml.c src/http/saml_sp.c src/http/oidc_rp.c \
	src/http/oauth2.h src/http/oauth2.c
# Forward auth's endpoints (the decision itself is src/authz).
FB_LIB_SOURCES += src/http/authz.c
FB_UNIT_SOURCES += tests/unit/test_http.c tests/unit/test_web.c
# bench/login.sh's argon2id rate at a configuration's cost: `make bench/argon2` builds it
# (not make all); it links the same library as the daemon.
check_PROGRAMS += bench/argon2
bench_argon2_SOURCES = bench/argon2.c
bench_argon2_LDADD = src/libfedbroker.la $(DEP_LIBS)
