# Benchmarks built by `make bench` (not by make all or make check).
EXTRA_PROGRAMS = bench/mapping bench/saml_acs bench/oidc_idtoken bench/store_call
bench_mapping_SOURCES = bench/mapping.c
bench_mapping_LDADD = src/libfedbroker.la $(DEP_LIBS)
bench_saml_acs_SOURCES = bench/saml_acs.c bench/bench.h
bench_saml_acs_LDADD = src/libfedbroker.la $(DEP_LIBS)
bench_oidc_idtoken_SOURCES = bench/oidc_idtoken.c bench/bench.h
bench_oidc_idtoken_LDADD = src/libfedbroker.la $(DEP_LIBS)
bench_store_call_SOURCES = bench/store_call.c
bench_store_call_LDADD = src/libfedbroker.la $(DEP_LIBS)
CLEANFILES += bench/mapping bench/saml_acs bench/oidc_idtoken bench/store_call

.PHONY: bench
bench: bench/mapping$(EXEEXT) bench/saml_acs$(EXEEXT) bench/oidc_idtoken$(EXEEXT)
	./bench/mapping$(EXEEXT)
	./bench/saml_acs$(EXEEXT)
	./bench/oidc_idtoken$(EXEEXT)
