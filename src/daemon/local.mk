# daemon module: the process model of `fedbroker serve` (master, workers, jobs).
FB_LIB_SOURCES += src/daemon/daemon.h src/daemon/internal.h src/daemon/master.c \
	src/daemon/worker.c src/daemon/jobs.c src/daemon/runtime.c \
	src/daemon/check.c src/daemon/signals.c src/daemon/changes.c
FB_UNIT_SOURCES += tests/unit/test_daemon.c
