/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/standalone.c: replays corpus files through a fuzz target, without libFuzzer. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest input replayed; the targets cap their own input below this. */
#define REPLAY_MAX (4 * 1024 * 1024)

static int
replay_file(const char *path)
{
	struct fb_buf b;
	char chunk[8192];
	size_t n;
	FILE *f = fopen(path, "rb");
	int r = 0;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	fb_buf_init(&b, REPLAY_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (fb_buf_add(&b, chunk, n, NULL) != FB_OK) {
			fprintf(stderr, "%s: larger than %d bytes\n", path, REPLAY_MAX);
			r = -1;
			break;
		}
	if (ferror(f) != 0) {
		perror(path);
		r = -1;
	}
	fclose(f);
	if (r == 0) {
		/* A copy of exactly the file's size, so ASan sees reads past the end. */
		uint8_t *copy = fb_xmalloc(b.len > 0 ? b.len : 1);

		if (b.len > 0)
			memcpy(copy, b.data, b.len);
		LLVMFuzzerTestOneInput(copy, b.len);
		free(copy);
	}
	fb_buf_cleanup(&b);
	return r;
}

int
main(int argc, char **argv)
{
	size_t files = 0;
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	/* The targets may log; keep the output to the summary. */
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, 2);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent *de;
		DIR *d;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed |= replay_file(argv[i]) != 0;
			files++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			char *p;

			if (de->d_name[0] == '.')
				continue;
			p = fb_xasprintf("%s/%s", argv[i], de->d_name);
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				failed |= replay_file(p) != 0;
				files++;
			}
			free(p);
		}
		closedir(d);
	}
	printf("%s: %zu inputs replayed%s\n", argv[0], files, failed ? ", some unreadable" : "");
	return failed || files == 0 ? 1 : 0;
}
