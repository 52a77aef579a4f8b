/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench.h: what the benchmark helpers share. */
#ifndef FB_BENCH_BENCH_H
#define FB_BENCH_BENCH_H

#include <time.h>

/* CPU seconds of this process, so neighbours on the machine do not count. */
static inline double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
