/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_store_import.c: libFuzzer target for the checker of a
 * `fedbroker store import` document (cli/store.c), run on what jansson reads
 * the way the command does (duplicate keys refused): whatever it is given,
 * a failure says where, and a document it passes has every table known and
 * every row of the right shape.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "store/store.h"
#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc, *rows, *row;
	const char *name;
	struct fb_err err = {0};
	size_t i;

	if (size > 1024 * 1024)
		return 0;
	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL)
		return 0;
	if (fb_cli_store_import_check(doc, &err) != FB_OK) {
		if (err.msg[0] != '$')
			__builtin_trap(); /* every message starts with the JSON path */
	} else {
		json_object_foreach(json_object_get(doc, "tables"), name, rows) {
			const struct fb_store_table *t = fb_store_table_get(name);

			if (t == NULL || !json_is_array(rows))
				__builtin_trap();
			json_array_foreach(rows, i, row)
				if (json_object_size(row) != t->ncols)
					__builtin_trap();
		}
	}
	json_decref(doc);
	return 0;
}
