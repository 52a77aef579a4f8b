# map module: the rule language (lexer, parser, resolver, evaluator), rule sets and output helpers.
FB_LIB_SOURCES += src/map/map.h src/map/internal.h src/map/lexer.c src/map/parser.c \
	src/map/compile.c src/map/value.c src/map/format.c src/map/eval.c src/map/builtins.c \
	src/map/rule.c src/map/set.c src/map/output.c
FB_UNIT_SOURCES += tests/unit/test_map.c
dist_man_MANS += man/fedbroker-mapping.7
# PCRE2 (re_match/re_sub) is found by configure.ac; see builtins.c for why.
