# store module: persistent state behind a backend table (SQLite, PostgreSQL).
FB_LIB_SOURCES += src/store/store.h src/store/internal.h src/store/store.c src/store/sqlite.c \
	src/store/postgres.c
FB_UNIT_SOURCES += tests/unit/test_store.c
