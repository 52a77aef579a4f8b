/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/argon2.c: argon2id password verifications per second at the cost of a
 * configuration (local.password.*), through fedbroker's own functions
 * (fb_local_password_hash once, then fb_local_password_verify in a loop).
 * Used by bench/login.sh; not a test.
 *
 *   bench/argon2 [CONFIG] [SECONDS] [PROCESSES]
 *
 * CONFIG: a fedbroker.yaml ("-" or absent: the built-in defaults), SECONDS:
 * how long each process verifies (default 3), PROCESSES: how many verify at
 * once (default 1; bench/login.sh passes the worker count). Prints
 *   argon2id: t=3 m=65536KiB p=1: 1 process: 12.3 verifications/s (81.3 ms each)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "conf/conf.h"
#include "local/local.h"

#define PASSWORD "correct horse battery staple"

static long
arg_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "bench/argon2: %s must be %ld..%ld, not '%s'\n", what, min, max, s);
		exit(2);
	}
	return v;
}

/* Verifies until secs have passed; writes the count to fd. */
static void
verify_loop(const char *encoded, long secs, int fd)
{
	int64_t end = fb_time_mono_us() + (int64_t)secs * 1000000;
	long long n = 0;
	char line[32];
	int len;

	while (fb_time_mono_us() < end) {
		if (fb_local_password_verify(encoded, PASSWORD, NULL) != FB_OK) {
			fprintf(stderr, "bench/argon2: verification failed\n");
			_exit(1);
		}
		n++;
	}
	len = snprintf(line, sizeof(line), "%lld\n", n);
	if (write(fd, line, (size_t)len) != len)
		_exit(1);
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
	long secs = argc > 2 ? arg_long(argv[2], 1, 3600, "SECONDS") : 3;
	long procs = argc > 3 ? arg_long(argv[3], 1, 1024, "PROCESSES") : 1;
	struct fb_conf *conf = NULL;
	struct fb_err err = {0};
	char *encoded = NULL;
	long long total = 0;
	int fds[2];
	FILE *in;
	char line[32];

	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, 2);
	if (fb_conf_load(path, NULL, &conf, NULL, &err) != FB_OK) {
		fprintf(stderr, "bench/argon2: %s\n", err.msg);
		return 1;
	}
	if (fb_local_password_hash(conf, PASSWORD, &encoded, &err) != FB_OK) {
		fprintf(stderr, "bench/argon2: %s\n", err.msg);
		return 1;
	}
	if (pipe(fds) != 0) {
		perror("bench/argon2: pipe");
		return 1;
	}
	for (long i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("bench/argon2: fork");
			return 1;
		}
		if (pid == 0) {
			close(fds[0]);
			verify_loop(encoded, secs, fds[1]);
			_exit(0);
		}
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (in != NULL && fgets(line, sizeof(line), in) != NULL)
		total += strtoll(line, NULL, 10);
	while (wait(NULL) > 0)
		;
	printf("argon2id: t=%u m=%uKiB p=%u: %ld process%s: %.1f verifications/s (%.1f ms each)\n",
	    conf->argon2_t_cost, conf->argon2_m_cost_kib, conf->argon2_parallelism, procs,
	    procs == 1 ? "" : "es", (double)total / (double)secs,
	    total > 0 ? 1000.0 * (double)secs * (double)procs / (double)total : 0.0);
	if (in != NULL)
		fclose(in);
	free(encoded);
	fb_conf_free(conf);
	return total > 0 ? 0 : 1;
}
