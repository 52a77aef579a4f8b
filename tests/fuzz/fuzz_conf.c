/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_conf.c: libFuzzer target for the configuration loader (YAML -> fb_conf). */
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *conf = NULL;
	struct fb_err err;

	/* Every line of the report is read, so a bad pointer or length shows up. */
	fb_conf_load_string((const char *)data, size, "fuzz.yaml", NULL, &conf, &rep, &err);
	for (size_t i = 0; i < fb_conf_report_count(rep); i++)
		(void)fb_str_distance(fb_conf_report_line(rep, i), "");
	fb_conf_report_free(rep);
	fb_conf_free(conf);
	return 0;
}
