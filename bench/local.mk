# Benchmarks built by `make bench` (not by make all or make check).
EXTRA_PROGRAMS = bench/mapping
bench_mapping_SOURCES = bench/mapping.c
bench_mapping_LDADD = src/libfedbroker.la $(DEP_LIBS)
CLEANFILES += bench/mapping

.PHONY: bench
bench: bench/mapping$(EXEEXT)
	./bench/mapping$(EXEEXT)
