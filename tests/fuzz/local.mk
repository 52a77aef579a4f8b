# Fuzz targets (tests/fuzz): the corpora are replayed in every make check by
# a normal build of each target (replay-<target>); when clang can link
# libFuzzer, make check also builds fuzz-<target> and runs it briefly.
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/dict tests/fuzz/replay.sh tests/fuzz/libfuzzer.sh

check_PROGRAMS += tests/fuzz/replay-conf
tests_fuzz_replay_conf_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_conf.c
tests_fuzz_replay_conf_LDADD = src/libfedbroker.la $(DEP_LIBS)
TESTS += tests/fuzz/replay.sh

if HAVE_LIBFUZZER
# Built by clang directly from the library's sources: automake cannot use a
# second compiler for one program.
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
tests/fuzz/fuzz-conf: $(FB_LIB_SOURCES) tests/fuzz/fuzz_conf.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_conf.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) -w -o $@ $$srcs $(DEP_LIBS)
TESTS += tests/fuzz/libfuzzer.sh
# The test's log depends on the binary (named .sh.log, or .log with TEST_EXTENSIONS = .sh).
tests/fuzz/libfuzzer.sh.log tests/fuzz/libfuzzer.log: tests/fuzz/fuzz-conf
CLEANFILES += tests/fuzz/fuzz-conf
endif

# Mapping engine (src/map): rule source text, and identities run through the shipped rules.
check_PROGRAMS += tests/fuzz/replay-mapping_rules tests/fuzz/replay-mapping_eval
tests_fuzz_replay_mapping_rules_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_mapping_rules.c
tests_fuzz_replay_mapping_rules_LDADD = src/libfedbroker.la $(DEP_LIBS)
tests_fuzz_replay_mapping_eval_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_mapping_eval.c
tests_fuzz_replay_mapping_eval_CPPFLAGS = $(AM_CPPFLAGS) -DFB_MAPPINGS_DIR='"$(abs_top_srcdir)/mappings"'
tests_fuzz_replay_mapping_eval_LDADD = src/libfedbroker.la $(DEP_LIBS)

if HAVE_LIBFUZZER
tests/fuzz/fuzz-mapping_rules: $(FB_LIB_SOURCES) tests/fuzz/fuzz_mapping_rules.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_mapping_rules.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/fuzz-mapping_eval: $(FB_LIB_SOURCES) tests/fuzz/fuzz_mapping_eval.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_mapping_eval.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) \
	  -DFB_MAPPINGS_DIR='"$(abs_top_srcdir)/mappings"' -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/libfuzzer.sh.log tests/fuzz/libfuzzer.log: tests/fuzz/fuzz-mapping_rules tests/fuzz/fuzz-mapping_eval
CLEANFILES += tests/fuzz/fuzz-mapping_rules tests/fuzz/fuzz-mapping_eval
endif

# SAML IdP request decoders (src/saml): the HTTP-Redirect and HTTP-POST bindings
# (seeds: tests/peers/python/gen_saml_corpus.py).
FUZZ_SAML_CPPFLAGS = -DFB_FIXTURES_DIR='"$(abs_top_srcdir)/tests/fixtures"'
check_PROGRAMS += tests/fuzz/replay-saml_redirect tests/fuzz/replay-saml_post
tests_fuzz_replay_saml_redirect_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_saml_redirect.c \
	tests/fuzz/fuzz_saml.h
tests_fuzz_replay_saml_redirect_CPPFLAGS = $(AM_CPPFLAGS) $(FUZZ_SAML_CPPFLAGS)
tests_fuzz_replay_saml_redirect_LDADD = src/libfedbroker.la $(DEP_LIBS)
tests_fuzz_replay_saml_post_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_saml_post.c \
	tests/fuzz/fuzz_saml.h
tests_fuzz_replay_saml_post_CPPFLAGS = $(AM_CPPFLAGS) $(FUZZ_SAML_CPPFLAGS)
tests_fuzz_replay_saml_post_LDADD = src/libfedbroker.la $(DEP_LIBS)

if HAVE_LIBFUZZER
tests/fuzz/fuzz-saml_redirect: $(FB_LIB_SOURCES) tests/fuzz/fuzz_saml_redirect.c tests/fuzz/fuzz_saml.h
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_saml_redirect.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) $(FUZZ_SAML_CPPFLAGS) \
	  -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/fuzz-saml_post: $(FB_LIB_SOURCES) tests/fuzz/fuzz_saml_post.c tests/fuzz/fuzz_saml.h
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_saml_post.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) $(FUZZ_SAML_CPPFLAGS) \
	  -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/libfuzzer.sh.log tests/fuzz/libfuzzer.log: tests/fuzz/fuzz-saml_redirect tests/fuzz/fuzz-saml_post
CLEANFILES += tests/fuzz/fuzz-saml_redirect tests/fuzz/fuzz-saml_post
endif

# The broker's SAML ACS (src/saml/sp.c): responses from an upstream IdP.
check_PROGRAMS += tests/fuzz/replay-saml_acs
tests_fuzz_replay_saml_acs_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_saml_acs.c
tests_fuzz_replay_saml_acs_CPPFLAGS = $(AM_CPPFLAGS) $(FUZZ_SAML_CPPFLAGS)
tests_fuzz_replay_saml_acs_LDADD = src/libfedbroker.la $(DEP_LIBS)

if HAVE_LIBFUZZER
tests/fuzz/fuzz-saml_acs: $(FB_LIB_SOURCES) tests/fuzz/fuzz_saml_acs.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_saml_acs.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) $(FUZZ_SAML_CPPFLAGS) \
	  -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/libfuzzer.sh.log tests/fuzz/libfuzzer.log: tests/fuzz/fuzz-saml_acs
CLEANFILES += tests/fuzz/fuzz-saml_acs
endif

# The pages' parsers (src/http): urlencoded forms, session cookies, the next= redirect guard,
# a trusted proxy's forwarding headers, the OpenID provider's token request bodies.
check_PROGRAMS += tests/fuzz/replay-form tests/fuzz/replay-session tests/fuzz/replay-next \
	tests/fuzz/replay-forwarded tests/fuzz/replay-oauth2_form tests/fuzz/replay-client_cert
tests_fuzz_replay_form_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_form.c
tests_fuzz_replay_form_LDADD = src/libfedbroker.la $(DEP_LIBS)
tests_fuzz_replay_session_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_session.c
tests_fuzz_replay_session_LDADD = src/libfedbroker.la $(DEP_LIBS)
tests_fuzz_replay_next_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_next.c
tests_fuzz_replay_next_LDADD = src/libfedbroker.la $(DEP_LIBS)
tests_fuzz_replay_forwarded_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_forwarded.c
tests_fuzz_replay_forwarded_LDADD = src/libfedbroker.la $(DEP_LIBS)
# Forward auth's decision (src/authz): hosts and paths against per-path rules.
check_PROGRAMS += tests/fuzz/replay-authz
tests_fuzz_replay_authz_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_authz.c
tests_fuzz_replay_authz_LDADD = src/libfedbroker.la $(DEP_LIBS)
tests_fuzz_replay_oauth2_form_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_oauth2_form.c
tests_fuzz_replay_oauth2_form_LDADD = src/libfedbroker.la $(DEP_LIBS)
# A TLS-ending proxy's client-certificate header (RFC 8705 behind Envoy or nginx).
tests_fuzz_replay_client_cert_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_client_cert.c
tests_fuzz_replay_client_cert_LDADD = src/libfedbroker.la $(DEP_LIBS)

if HAVE_LIBFUZZER
FUZZ_HTTP_TARGETS = tests/fuzz/fuzz-form tests/fuzz/fuzz-session tests/fuzz/fuzz-next \
	tests/fuzz/fuzz-forwarded tests/fuzz/fuzz-authz tests/fuzz/fuzz-oauth2_form \
	tests/fuzz/fuzz-client_cert
$(FUZZ_HTTP_TARGETS): tests/fuzz/fuzz-%: $(FB_LIB_SOURCES) tests/fuzz/fuzz_%.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_$*.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/libfuzzer.sh.log tests/fuzz/libfuzzer.log: $(FUZZ_HTTP_TARGETS)
CLEANFILES += $(FUZZ_HTTP_TARGETS)
endif

# OIDC relying party (src/oidc): ID tokens against the fixture JWKS, and JWKS documents
# (seeds: tests/peers/oidc/gen_jwt_corpus.mjs).
check_PROGRAMS += tests/fuzz/replay-jwt
tests_fuzz_replay_jwt_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_jwt.c
tests_fuzz_replay_jwt_CPPFLAGS = $(AM_CPPFLAGS) $(FUZZ_SAML_CPPFLAGS)
tests_fuzz_replay_jwt_LDADD = src/libfedbroker.la $(DEP_LIBS)
EXTRA_DIST += tests/fixtures/oidc

# OpenID provider (src/oidc/op.c): private_key_jwt client assertions.
check_PROGRAMS += tests/fuzz/replay-client_assertion
tests_fuzz_replay_client_assertion_SOURCES = tests/fuzz/standalone.c \
	tests/fuzz/fuzz_client_assertion.c
tests_fuzz_replay_client_assertion_CPPFLAGS = $(AM_CPPFLAGS) $(FUZZ_SAML_CPPFLAGS)
tests_fuzz_replay_client_assertion_LDADD = src/libfedbroker.la $(DEP_LIBS)

if HAVE_LIBFUZZER
tests/fuzz/fuzz-client_assertion: $(FB_LIB_SOURCES) tests/fuzz/fuzz_client_assertion.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_client_assertion.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(FUZZ_SAML_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/libfuzzer.sh.log tests/fuzz/libfuzzer.log: tests/fuzz/fuzz-client_assertion
CLEANFILES += tests/fuzz/fuzz-client_assertion
endif

if HAVE_LIBFUZZER
tests/fuzz/fuzz-jwt: $(FB_LIB_SOURCES) tests/fuzz/fuzz_jwt.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_jwt.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) $(FUZZ_SAML_CPPFLAGS) \
	  -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/libfuzzer.sh.log tests/fuzz/libfuzzer.log: tests/fuzz/fuzz-jwt
CLEANFILES += tests/fuzz/fuzz-jwt
endif

# SCIM push (src/scim): the readers of a target's answers (list pages, resources, errors).
check_PROGRAMS += tests/fuzz/replay-scim_response
tests_fuzz_replay_scim_response_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_scim_response.c
tests_fuzz_replay_scim_response_LDADD = src/libfedbroker.la $(DEP_LIBS)

# fedbroker store import: the document checker (src/cli/store.c, with the CLI's sources).
check_PROGRAMS += tests/fuzz/replay-store_import
tests_fuzz_replay_store_import_SOURCES = tests/fuzz/standalone.c tests/fuzz/fuzz_store_import.c \
	$(FB_CLI_SOURCES)
tests_fuzz_replay_store_import_LDADD = src/libfedbroker.la $(DEP_LIBS)

if HAVE_LIBFUZZER
tests/fuzz/fuzz-scim_response: $(FB_LIB_SOURCES) tests/fuzz/fuzz_scim_response.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) tests/fuzz/fuzz_scim_response.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/fuzz-store_import: $(FB_LIB_SOURCES) $(FB_CLI_SOURCES) tests/fuzz/fuzz_store_import.c
	$(AM_V_CC)srcs=; for f in $(FB_LIB_SOURCES) $(FB_CLI_SOURCES) tests/fuzz/fuzz_store_import.c; do \
	  case $$f in *.c) srcs="$$srcs $(srcdir)/$$f";; esac; done; \
	$(CLANG) $(FUZZ_CFLAGS) $(AM_CPPFLAGS) $(CPPFLAGS) $(DEP_CFLAGS) -w -o $@ $$srcs $(DEP_LIBS)
tests/fuzz/libfuzzer.sh.log tests/fuzz/libfuzzer.log: tests/fuzz/fuzz-scim_response tests/fuzz/fuzz-store_import
CLEANFILES += tests/fuzz/fuzz-scim_response tests/fuzz/fuzz-store_import
endif
