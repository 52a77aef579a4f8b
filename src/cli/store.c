/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli/store.c: fedbroker store export, import, migrate and copy: backups
 * and moves between stores, over the store's generic row API (any backend).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "local/local.h"
#include "cli/cli.h"

/* What the export file says it is, and the one layout this fedbroker writes and reads. */
#define EXPORT_FORMAT         "fedbroker-store-export"
#define EXPORT_FORMAT_VERSION 1
/* The longest JSON path a message names ($.tables.NAME[N].COLUMN). */
#define PATH_MAX_LEN 160

static const char usage_store[] =
    "usage: fedbroker store <command> [options]\n"
    "\n"
    "Backups, restores and moves of the store (SQLite or PostgreSQL): users with their\n"
    "credentials, links to upstream identities and their groups, persistent NameIDs,\n"
    "API tokens (as hashes) and, when asked, the audit log. Key/value entries, counters,\n"
    "one-time values and session revocations are ephemeral and not exported.\n"
    "\n"
    "commands:\n"
    "  export   write everything the store holds as JSON\n"
    "  import   load an export into a new, empty store, in one transaction\n"
    "  migrate  apply pending schema migrations, or --check for them\n"
    "  copy     copy one store into another, empty one, and compare the counts\n"
    "\n"
    "'fedbroker store <command> --help' describes a command.\n";

static const char usage_export[] =
    "usage: fedbroker store export --json [--output FILE] [--audit] [--force]\n"
    "           [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Writes the store as one JSON document: a header (format, format_version,\n"
    "schema_version, fedbroker_version, created, driver) and \"tables\", each an array\n"
    "of rows. The export holds password hashes, sealed TOTP secrets and recovery code\n"
    "hashes: FILE is written mode 0600 (complete or not at all), and standard output\n"
    "is refused when it is a terminal unless --force is given. TOTP secrets are sealed\n"
    "with the cookie keys (session.cookie_keys, else STATE_DIR/cookie-keys): a restore\n"
    "needs the same keys.\n"
    "The store must be at the current schema version ('fedbroker store migrate').\n"
    "\n"
    "      --json           JSON, the one format (required)\n"
    "      --output FILE    write to FILE instead of standard output\n"
    "      --audit          include the audit log\n"
    "      --force          write to a terminal too\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

static const char usage_import[] =
    "usage: fedbroker store import --json FILE [--config FILE] [--state-dir DIR] [--init]\n"
    "\n"
    "Loads an export ('fedbroker store export --json') into the configured store, which\n"
    "must be empty (a new state directory: use --init; before the first 'fedbroker\n"
    "serve', which creates the bootstrap account). The whole file is checked first;\n"
    "a problem is reported with the JSON path of the field (\"$.tables.users[2].email\")\n"
    "and nothing is written. The rows are then written in one transaction: all or none.\n"
    "An audit log in the file is imported too (the store's must then be empty).\n"
    "A restored store is not a first start: no bootstrap account is made in it.\n"
    "\n"
    "      --json FILE      the export to load (\"-\": standard input)\n" FB_CLI_HELP_CONFIG
        FB_CLI_HELP_HELP;

static const char usage_migrate[] =
    "usage: fedbroker store migrate [--check] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Applies the pending schema migrations of the configured store, each in one\n"
    "transaction, and prints the schema version before and after. With --check,\n"
    "changes nothing: prints the current and the latest schema version and exits 1\n"
    "when migrations are pending (0 when none). 'fedbroker serve' migrates at start\n"
    "unless store.migrate is manual: then only this command migrates.\n"
    "\n"
    "      --check          only report; exit 1 when migrations are pending\n" FB_CLI_HELP_CONFIG
        FB_CLI_HELP_HELP;

static const char usage_copy[] =
    "usage: fedbroker store copy --from STORE --to STORE [--audit]\n"
    "           [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Copies everything 'fedbroker store export' holds from one store into another,\n"
    "empty one (in one transaction), then compares the row counts of every table.\n"
    "STORE is one of:\n"
    "  sqlite:PATH      an SQLite file (the source must exist; the target may be new)\n"
    "  postgres:REF     PostgreSQL; REF is a secret reference to the connection string\n"
    "                   (env:NAME or file:PATH), never the string itself\n"
    "  config           the store of the configuration (--config, --state-dir)\n"
    "The source must be at the current schema version ('fedbroker store migrate').\n"
    "\n"
    "      --from STORE     the store to read\n"
    "      --to STORE       the empty store to write\n"
    "      --audit          copy the audit log too\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

/* ---- opening stores ------------------------------------------------------------------ */

/*
 * Opens the store conf names without migrating it (an export or a copy
 * reads a store as it is): the SQLite file must exist, the PostgreSQL
 * database must hold fedbroker's schema.
 */
static enum fb_status
store_open_existing(const struct fb_cli_ctx *x, const struct fb_conf *conf, struct fb_store **st,
    struct fb_err *err)
{
	char *path = fb_store_path(conf);
	enum fb_status r = FB_OK;

	if (path != NULL) {
		struct fb_cli_ctx probe = *x;

		probe.init = 0; /* reading never creates */
		r = fb_cli_store_check(&probe, path, "store", err);
	}
	free(path);
	if (r != FB_OK || (r = fb_store_open_unmigrated(conf, st, err)) != FB_OK)
		return r;
	if (conf->store_driver == FB_STORE_POSTGRES && fb_store_schema_version(*st) == 0) {
		fb_store_close(*st);
		*st = NULL;
		return fb_err_set(err, FB_ERR_NOTFOUND,
		    "no store in this PostgreSQL database (no fedbroker schema): only "
		    "'fedbroker serve' or a command with --init creates one");
	}
	return FB_OK;
}

/* Puts "prefix: " (and " (nothing was imported)" when tail) around err's message. */
static void
err_wrap(struct fb_err *err, const char *prefix, const char *tail)
{
	struct fb_err inner = *err;

	fb_err_set(err, inner.code, "%s: %s%s", prefix, inner.msg, tail != NULL ? tail : "");
}

/* ---- export -------------------------------------------------------------------------- */

/* What the export's row callback fills: the "tables" object, and the first value JSON cannot hold. */
struct export_walk {
	json_t *tables;
	const struct fb_store_table *bad_table;
	const char *bad_column;
	size_t bad_row;
};

/* Appends row to its table's array, as an object keyed by column; stops at text not UTF-8. */
static int
export_row(const struct fb_store_table *t, const struct fb_store_value *row, void *arg)
{
	struct export_walk *w = arg;
	json_t *rows = json_object_get(w->tables, t->name), *o = json_object();

	for (size_t i = 0; i < t->ncols; i++) {
		json_t *v;

		if (row[i].null)
			v = json_null();
		else if (t->cols[i].type == FB_STORE_COL_INT)
			v = json_integer((json_int_t)row[i].num);
		else if ((v = json_string(row[i].text)) == NULL) {
			w->bad_table = t;
			w->bad_column = t->cols[i].name;
			w->bad_row = json_array_size(rows);
			json_decref(o);
			return 1;
		}
		json_object_set_new(o, t->cols[i].name, v);
	}
	json_array_append_new(rows, o);
	return 0;
}

/* The whole export of st (with the audit log when audit) in *out, new. */
static enum fb_status
export_build(struct fb_store *st, int audit, json_t **out, struct fb_err *err)
{
	size_t n;
	const struct fb_store_table *t = fb_store_tables(&n);
	struct export_walk w = {json_object(), NULL, NULL, 0};
	json_t *doc;
	char now[40];
	enum fb_status r = FB_OK;

	*out = NULL;
	fb_time_format(fb_time_now(), -1, now, sizeof(now));
	doc = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s}", "format", EXPORT_FORMAT, "format_version",
	    EXPORT_FORMAT_VERSION, "schema_version", fb_store_schema_version(st),
	    "fedbroker_version", FB_VERSION, "created", now, "driver", fb_store_driver_name(st));
	/* Every table exported appears, empty or not. */
	for (size_t i = 0; i < n; i++)
		if (!t[i].optional || audit)
			json_object_set_new(w.tables, t[i].name, json_array());
	r = fb_store_rows_each(st, audit, export_row, &w, err);
	json_object_set_new(doc, "tables", w.tables);
	if (r == FB_OK && w.bad_table != NULL)
		r = fb_err_set(err, FB_ERR_INVALID,
		    "export: $.tables.%s[%zu].%s: the stored text is not UTF-8, which JSON cannot "
		    "hold; nothing was exported",
		    w.bad_table->name, w.bad_row, w.bad_column);
	if (r != FB_OK) {
		json_decref(doc);
		return r;
	}
	*out = doc;
	return FB_OK;
}

/*
 * Writes doc to path mode 0600 through a temporary file renamed into
 * place, so that a failure leaves no partial export.
 */
static enum fb_status
export_write(const json_t *doc, const char *path, struct fb_err *err)
{
	char *tmp = fb_xasprintf("%s.XXXXXX", path);
	enum fb_status r = FB_ERR_IO;
	FILE *f = NULL;
	int fd;

	/* SECURITY: mkstemp creates the file 0600; the export holds credential hashes. */
	if ((fd = mkstemp(tmp)) < 0) {
		r = fb_err_set(err, FB_ERR_IO, "--output %s: cannot create a file beside it: %s",
		    path, strerror(errno));
		goto out_name;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		r = fb_err_set(err, FB_ERR_IO, "--output %s: %s", path, strerror(errno));
		goto out;
	}
	if (json_dumpf(doc, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0 ||
	    fputc('\n', f) == EOF || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		r = fb_err_set(err, FB_ERR_IO, "--output %s: writing: %s", path, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		r = fb_err_set(err, FB_ERR_IO, "--output %s: writing: %s", path, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		r = fb_err_set(err, FB_ERR_IO, "--output %s: %s", path, strerror(errno));
		goto out;
	}
	r = FB_OK;
out:
	if (f != NULL)
		fclose(f);
	if (r != FB_OK)
		unlink(tmp);
out_name:
	free(tmp);
	return r;
}

static int
store_export(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *output = NULL;
	int json = 0, audit = 0, force = 0;
	const struct fb_cli_option opts[] = {
	    {"json", 0, NULL, &json},
	    {"output", 0, &output, NULL},
	    {"audit", 0, NULL, &audit},
	    {"force", 0, NULL, &force},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"store export", usage_export, &co, opts, NULL, NULL};
	struct fb_store *st = NULL;
	struct fb_cli_ctx x;
	json_t *doc = NULL;
	struct fb_err err;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (!json)
		return fb_cli_usage_error("store export", "--json is required (the one format)");
	if (output == NULL && isatty(STDOUT_FILENO) && !force) {
		fprintf(stderr,
		    "fedbroker store export: refusing to write password hashes and TOTP "
		    "secrets to a terminal; use --output FILE, a pipe, or --force\n");
		return FB_EXIT_FAIL;
	}
	if ((rc = fb_cli_ctx_open(&co, 0, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (store_open_existing(&x, x.conf, &st, &err) != FB_OK ||
	    export_build(st, audit, &doc, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	if (output != NULL) {
		if (export_write(doc, output, &err) != FB_OK) {
			rc = fb_cli_error(&err);
			goto out;
		}
	} else if (json_dumpf(doc, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0 ||
	           fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "fedbroker store export: writing to standard output: %s\n",
		    strerror(errno));
		rc = FB_EXIT_FAIL;
		goto out;
	}
	rc = FB_EXIT_OK;
out:
	json_decref(doc);
	fb_store_close(st);
	fb_cli_ctx_close(&x);
	return rc;
}

/* ---- import: checking the document --------------------------------------------------- */

/* A header field that must be a string. */
static enum fb_status
check_header_string(const json_t *doc, const char *key, struct fb_err *err)
{
	const json_t *v = json_object_get(doc, key);

	if (v == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "$.%s: missing", key);
	if (!json_is_string(v))
		return fb_err_set(err, FB_ERR_INVALID, "$.%s: must be a string, not %s", key,
		    fb_cli_json_kind(v));
	return FB_OK;
}

static enum fb_status
check_header(const json_t *doc, struct fb_err *err)
{
	static const char *const known[] = {"format", "format_version", "schema_version",
	    "fedbroker_version", "created", "driver", "tables", NULL};
	const json_t *v;
	const char *key;
	json_t *val;
	enum fb_status r;

	if (!json_is_object(doc))
		return fb_err_set(err, FB_ERR_INVALID, "$: must be an object, not %s",
		    fb_cli_json_kind(doc));
	json_object_foreach((json_t *)doc, key, val) {
		size_t i;

		for (i = 0; known[i] != NULL && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] == NULL)
			return fb_err_set(err, FB_ERR_INVALID, "$.%s: unknown field", key);
	}
	if ((r = check_header_string(doc, "format", err)) != FB_OK)
		return r;
	if (strcmp(json_string_value(json_object_get(doc, "format")), EXPORT_FORMAT) != 0)
		return fb_err_set(err, FB_ERR_INVALID,
		    "$.format: not \"" EXPORT_FORMAT "\": not a fedbroker store export");
	v = json_object_get(doc, "format_version");
	if (!json_is_integer(v))
		return fb_err_set(err, FB_ERR_INVALID, "$.format_version: %s",
		    v == NULL ? "missing" : "must be an integer");
	if (json_integer_value(v) != EXPORT_FORMAT_VERSION)
		return fb_err_set(err, FB_ERR_INVALID,
		    "$.format_version: %" JSON_INTEGER_FORMAT
		    " is not supported (this fedbroker reads format version %d)",
		    json_integer_value(v), EXPORT_FORMAT_VERSION);
	v = json_object_get(doc, "schema_version");
	if (!json_is_integer(v))
		return fb_err_set(err, FB_ERR_INVALID, "$.schema_version: %s",
		    v == NULL ? "missing" : "must be an integer");
	if (json_integer_value(v) > fb_store_schema_latest() || json_integer_value(v) < 1)
		return fb_err_set(err, FB_ERR_INVALID,
		    "$.schema_version: %" JSON_INTEGER_FORMAT
		    " is not a schema this fedbroker knows (it knows 1 to %d): import with the "
		    "fedbroker that exported it, or a newer one",
		    json_integer_value(v), fb_store_schema_latest());
	if ((r = check_header_string(doc, "fedbroker_version", err)) != FB_OK ||
	    (r = check_header_string(doc, "created", err)) != FB_OK ||
	    (r = check_header_string(doc, "driver", err)) != FB_OK)
		return r;
	v = json_object_get(doc, "tables");
	if (!json_is_object(v))
		return fb_err_set(err, FB_ERR_INVALID, "$.tables: %s",
		    v == NULL ? "missing" : "must be an object");
	return FB_OK;
}

/* One value of column c at path: its JSON type and nullability. */
static enum fb_status
check_value(const struct fb_store_column *c, const json_t *v, const char *path, struct fb_err *err)
{
	if (v == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "%s: missing", path);
	if (json_is_null(v)) {
		if (!c->nullable)
			return fb_err_set(err, FB_ERR_INVALID, "%s: must not be null", path);
		return FB_OK;
	}
	if (c->type == FB_STORE_COL_INT && !json_is_integer(v))
		return fb_err_set(err, FB_ERR_INVALID, "%s: must be an integer%s, not %s", path,
		    c->nullable ? " or null" : "", fb_cli_json_kind(v));
	if (c->type == FB_STORE_COL_TEXT && !json_is_string(v))
		return fb_err_set(err, FB_ERR_INVALID, "%s: must be a string%s, not %s", path,
		    c->nullable ? " or null" : "", fb_cli_json_kind(v));
	return FB_OK;
}

/*
 * The key of row (t->order's columns, which are unique in every table) as
 * one string, new; rows with equal keys would collide in the store.
 */
static char *
row_key(const struct fb_store_table *t, const json_t *row)
{
	struct fb_buf b;
	char *order = fb_xstrdup(t->order), *save = NULL;

	fb_buf_init(&b, SIZE_MAX);
	for (char *col = strtok_r(order, ", ", &save); col != NULL;
	     col = strtok_r(NULL, ", ", &save)) {
		const json_t *v = json_object_get(row, col);

		if (json_is_integer(v))
			(void)fb_buf_addf(&b, NULL, "i%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
		else
			(void)fb_buf_addf(&b, NULL, "s%zu:%s",
			    strlen(json_string_value(v) != NULL ? json_string_value(v) : ""),
			    json_string_value(v) != NULL ? json_string_value(v) : "");
	}
	free(order);
	return fb_buf_take(&b);
}

/* Every row of table t at $.tables.NAME: objects of exactly t's columns, no duplicate keys. */
static enum fb_status
check_rows(const struct fb_store_table *t, const json_t *rows, struct fb_err *err)
{
	char path[PATH_MAX_LEN];
	json_t *seen = json_object();
	size_t i;
	json_t *row;
	enum fb_status r = FB_OK;

	if (!json_is_array(rows)) {
		r = fb_err_set(err, FB_ERR_INVALID, "$.tables.%s: must be an array, not %s",
		    t->name, fb_cli_json_kind(rows));
		goto out;
	}
	json_array_foreach(rows, i, row) {
		const char *key;
		json_t *v, *first;
		char *k;

		snprintf(path, sizeof(path), "$.tables.%s[%zu]", t->name, i);
		if (!json_is_object(row)) {
			r = fb_err_set(err, FB_ERR_INVALID, "%s: must be an object, not %s", path,
			    fb_cli_json_kind(row));
			goto out;
		}
		json_object_foreach(row, key, v) {
			size_t c;

			for (c = 0; c < t->ncols && strcmp(t->cols[c].name, key) != 0; c++)
				;
			if (c == t->ncols) {
				r = fb_err_set(err, FB_ERR_INVALID, "%s.%s: unknown field", path,
				    key);
				goto out;
			}
		}
		for (size_t c = 0; c < t->ncols; c++) {
			char cpath[PATH_MAX_LEN + 64];

			snprintf(cpath, sizeof(cpath), "%s.%s", path, t->cols[c].name);
			if ((r = check_value(&t->cols[c], json_object_get(row, t->cols[c].name),
			         cpath, err)) != FB_OK)
				goto out;
		}
		/* SECURITY: the message names where, never the value (it may be a hash). */
		k = row_key(t, row);
		first = json_object_get(seen, k);
		if (first != NULL) {
			r = fb_err_set(err, FB_ERR_INVALID,
			    "%s: the same %s as $.tables.%s[%" JSON_INTEGER_FORMAT
			    "] (a duplicate)",
			    path, t->order, t->name, json_integer_value(first));
			free(k);
			goto out;
		}
		json_object_set_new(seen, k, json_integer((json_int_t)i));
		free(k);
	}
out:
	json_decref(seen);
	return r;
}

/* The whole document: header, known tables, every row. Nothing is written before this passes. */
enum fb_status
fb_cli_store_import_check(const json_t *doc, struct fb_err *err)
{
	const char *name;
	json_t *rows;
	enum fb_status r;

	if ((r = check_header(doc, err)) != FB_OK)
		return r;
	json_object_foreach(json_object_get(doc, "tables"), name, rows) {
		const struct fb_store_table *t = fb_store_table_get(name);

		if (t == NULL)
			return fb_err_set(err, FB_ERR_INVALID, "$.tables.%s: unknown table", name);
		if ((r = check_rows(t, rows, err)) != FB_OK)
			return r;
	}
	return FB_OK;
}

/* ---- import: writing ------------------------------------------------------------------ */

/* Yields the checked document's rows in table order (parents first). */
struct import_src {
	const json_t *tables;
	size_t table, index;
	struct fb_store_value *row; /* room for the widest table */
};

static enum fb_status
import_next(void *arg, const struct fb_store_table **t, const struct fb_store_value **row,
    struct fb_err *err)
{
	struct import_src *s = arg;
	size_t n;
	const struct fb_store_table *tabs = fb_store_tables(&n);

	(void)err;
	*t = NULL;
	*row = NULL;
	for (; s->table < n; s->table++, s->index = 0) {
		const json_t *r =
		    json_array_get(json_object_get(s->tables, tabs[s->table].name), s->index);

		if (r == NULL)
			continue;
		for (size_t c = 0; c < tabs[s->table].ncols; c++) {
			const json_t *v = json_object_get(r, tabs[s->table].cols[c].name);

			s->row[c] = (struct fb_store_value){.null = json_is_null(v),
			    .text = json_string_value(v),
			    .num = json_integer_value(v)};
		}
		s->index++;
		*t = &tabs[s->table];
		*row = s->row;
		return FB_OK;
	}
	return FB_OK;
}

/*
 * Checks doc whole, then writes it into st in one transaction; *n rows.
 * Errors name the JSON path of the row or field at fault.
 */
static enum fb_status
import_doc(struct fb_store *st, const json_t *doc, size_t *n, struct fb_err *err)
{
	size_t ntables, widest = 0;
	const struct fb_store_table *tabs = fb_store_tables(&ntables);
	struct import_src src;
	struct fb_store_row_at at;
	int with_optional = 0;
	enum fb_status r;

	*n = 0;
	if ((r = fb_cli_store_import_check(doc, err)) != FB_OK)
		return r;
	memset(&src, 0, sizeof(src));
	src.tables = json_object_get(doc, "tables");
	for (size_t i = 0; i < ntables; i++) {
		if (tabs[i].ncols > widest)
			widest = tabs[i].ncols;
		if (tabs[i].optional && json_object_get(src.tables, tabs[i].name) != NULL)
			with_optional = 1;
	}
	src.row = fb_xcalloc(widest, sizeof(*src.row));
	r = fb_store_rows_load(st, with_optional, import_next, &src, n, &at, err);
	if (r != FB_OK && at.table != NULL) { /* the rows come in the arrays' order */
		char path[PATH_MAX_LEN];

		snprintf(path, sizeof(path), "$.tables.%s[%zu]", at.table->name, at.index);
		err_wrap(err, path, NULL);
	}
	free(src.row);
	/*
	 * SECURITY: a restored deployment is not a first start: no bootstrap
	 * administrator may appear in it, even with no local account among
	 * the users. The rows are committed already: a failure here is a
	 * warning with the remedy.
	 */
	if (r == FB_OK && *n > 0) {
		struct fb_err ferr;

		fb_err_clear(&ferr);
		if (fb_local_bootstrap_skip(st, &ferr) != FB_OK)
			fb_log(FB_LOG_WARN,
			    "the rows were imported, but not the mark that the bootstrap is done "
			    "(%s): set local.bootstrap.enabled: false before the first start",
			    ferr.msg);
	}
	return r;
}

/* Loads a JSON file ("-": standard input) rejecting duplicate keys; prints why not. */
static int
json_read_strict(const char *path, json_t **out)
{
	json_error_t je;
	int flags = JSON_REJECT_DUPLICATES;

	*out = strcmp(path, "-") == 0 ? json_loadf(stdin, flags, &je)
	                              : json_load_file(path, flags, &je);
	if (*out == NULL) {
		fprintf(stderr, "fedbroker: --json %s:%d:%d: %s (nothing was imported)\n", path,
		    je.line, je.column, je.text);
		return -1;
	}
	return 0;
}

static int
store_import(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *file = NULL;
	const struct fb_cli_option opts[] = {
	    {"json", 0, &file, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"store import", usage_import, &co, opts, NULL, NULL};
	struct fb_cli_ctx x;
	json_t *doc = NULL;
	struct fb_err err;
	char *where = NULL;
	size_t n = 0;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (file == NULL)
		return fb_cli_usage_error("store import", "--json FILE is required");
	if (json_read_strict(file, &doc) != 0)
		return FB_EXIT_FAIL;
	where = fb_xasprintf("--json %s", file);
	/* The document is checked before the store is even opened. */
	fb_err_clear(&err);
	if (fb_cli_store_import_check(doc, &err) != FB_OK) {
		err_wrap(&err, where, " (nothing was imported)");
		rc = fb_cli_error(&err);
		json_decref(doc);
		free(where);
		return rc;
	}
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK) {
		json_decref(doc);
		free(where);
		return rc;
	}
	if (import_doc(x.st, doc, &n, &err) != FB_OK) {
		err_wrap(&err, where, " (nothing was imported)");
		rc = fb_cli_error(&err);
		goto out;
	}
	fb_cli_audit(&x, "store_imported",
	    (const struct fb_log_field[]){FB_LOG_STR("file", file), FB_LOG_INT("rows", n),
	        FB_LOG_STR(NULL, NULL)},
	    "store imported");
	printf("imported %zu rows from %s\n", n, file);
	rc = FB_EXIT_OK;
out:
	json_decref(doc);
	free(where);
	fb_cli_ctx_close(&x);
	return rc;
}

/* ---- migrate ------------------------------------------------------------------------- */

static int
store_migrate(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	int check = 0;
	const struct fb_cli_option opts[] = {
	    {"check", 0, NULL, &check},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"store migrate", usage_migrate, &co, opts, NULL, NULL};
	struct fb_store *st = NULL;
	struct fb_cli_ctx x;
	struct fb_err err;
	int rc, from, latest = fb_store_schema_latest();

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&co, 0, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (store_open_existing(&x, x.conf, &st, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	from = fb_store_schema_version(st);
	if (check) {
		if (from == latest)
			printf("schema version %d, the latest: nothing to migrate\n", from);
		else
			printf("schema version %d, latest %d: pending migrations: %d "
			       "(run 'fedbroker store migrate')\n",
			    from, latest, latest - from);
		rc = from == latest ? FB_EXIT_OK : FB_EXIT_FAIL;
		goto out;
	}
	if (from == latest) {
		printf("schema version %d, the latest: nothing to migrate\n", from);
		rc = FB_EXIT_OK;
		goto out;
	}
	/* Opening to migrate applies them, each in one transaction, whatever store.migrate says. */
	fb_store_close(st);
	st = NULL;
	if (fb_store_open_migrate(x.conf, &st, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	fb_store_close(st);
	st = NULL;
	fb_cli_audit(&x, "store_migrated",
	    (const struct fb_log_field[]){FB_LOG_INT("from", from), FB_LOG_INT("to", latest),
	        FB_LOG_STR(NULL, NULL)},
	    "store schema migrated");
	printf("schema migrated from version %d to %d\n", from, latest);
	rc = FB_EXIT_OK;
out:
	fb_store_close(st);
	fb_cli_ctx_close(&x);
	return rc;
}

/* ---- copy ---------------------------------------------------------------------------- */

/*
 * The configuration of the store spec names ("sqlite:PATH",
 * "postgres:REF", "config"): a shallow copy of base with the store's
 * members replaced; *dsn holds the resolved connection string (free with
 * fb_secret_free).
 */
static enum fb_status
spec_conf(const struct fb_conf *base, const char *opt, const char *spec, struct fb_conf *out,
    char **dsn, struct fb_err *err)
{
	*out = *base;
	*dsn = NULL;
	if (strcmp(spec, "config") == 0)
		return FB_OK;
	if (strncmp(spec, "sqlite:", 7) == 0 && spec[7] != '\0') {
		out->store_driver = FB_STORE_SQLITE;
		out->store_path = (char *)spec + 7;
		out->store_dsn = NULL;
		return FB_OK;
	}
	if (strncmp(spec, "postgres:", 9) == 0 && spec[9] != '\0') {
		enum fb_status r;

		/* SECURITY: the connection string (it may hold a password) only by reference. */
		if (strncmp(spec + 9, "env:", 4) != 0 && strncmp(spec + 9, "file:", 5) != 0)
			return fb_err_set(err, FB_ERR_INVALID,
			    "%s postgres:REF: REF must be a secret reference (env:NAME or "
			    "file:PATH) to the connection string, not the string itself",
			    opt);
		if ((r = fb_conf_secret_resolve(spec + 9, dsn, err)) != FB_OK)
			return r;
		out->store_driver = FB_STORE_POSTGRES;
		out->store_path = NULL;
		out->store_dsn = *dsn;
		return FB_OK;
	}
	return fb_err_set(err, FB_ERR_INVALID,
	    "%s: '%s' is not sqlite:PATH, postgres:REF or config", opt, spec);
}

/*
 * Compares the row count of every table of doc (what was read from the
 * source, in one snapshot) with the target's; prints them. FB_ERR_INTERNAL
 * on a mismatch.
 */
static enum fb_status
copy_compare(const json_t *doc, struct fb_store *to, int audit, struct fb_err *err)
{
	size_t n;
	const struct fb_store_table *t = fb_store_tables(&n);
	size_t *counts = fb_xcalloc(n, sizeof(*counts));
	enum fb_status r;

	if ((r = fb_store_rows_count(to, audit, counts, err)) != FB_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t a, b = counts[i];

		if (t[i].optional && !audit)
			continue;
		a = json_array_size(json_object_get(json_object_get(doc, "tables"), t[i].name));
		printf("  %-20s %8zu -> %zu\n", t[i].name, a, b);
		if (a != b)
			r = fb_err_set(err, FB_ERR_INTERNAL,
			    "copy: table %s: %zu rows in the source, %zu in the target", t[i].name,
			    a, b);
	}
out:
	free(counts);
	return r;
}

static int
store_copy(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *from_spec = NULL, *to_spec = NULL;
	int audit = 0;
	const struct fb_cli_option opts[] = {
	    {"from", 0, &from_spec, NULL},
	    {"to", 0, &to_spec, NULL},
	    {"audit", 0, NULL, &audit},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"store copy", usage_copy, &co, opts, NULL, NULL};
	struct fb_conf from_conf, to_conf;
	struct fb_store *from = NULL, *to = NULL;
	char *from_dsn = NULL, *to_dsn = NULL;
	struct fb_cli_ctx x;
	json_t *doc = NULL;
	struct fb_err err;
	size_t n = 0;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (from_spec == NULL || to_spec == NULL)
		return fb_cli_usage_error("store copy", "--from STORE and --to STORE are required");
	if (strcmp(from_spec, to_spec) == 0)
		return fb_cli_usage_error("store copy", "--from and --to name the same store");
	if ((rc = fb_cli_ctx_open(&co, 0, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	rc = FB_EXIT_FAIL;
	if (spec_conf(x.conf, "--from", from_spec, &from_conf, &from_dsn, &err) != FB_OK ||
	    spec_conf(x.conf, "--to", to_spec, &to_conf, &to_dsn, &err) != FB_OK)
		goto fail;
	if (store_open_existing(&x, &from_conf, &from, &err) != FB_OK) {
		err_wrap(&err, "--from", NULL);
		goto fail;
	}
	if (export_build(from, audit, &doc, &err) != FB_OK)
		goto fail;
	/* The target may be new: opening it creates and migrates it. */
	if (fb_store_open(&to_conf, &to, &err) != FB_OK) {
		err_wrap(&err, "--to", NULL);
		goto fail;
	}
	if (import_doc(to, doc, &n, &err) != FB_OK) {
		err_wrap(&err, "--to", " (nothing was copied)");
		goto fail;
	}
	printf("copied %zu rows from %s (%s) to %s (%s):\n", n, from_spec,
	    fb_store_driver_name(from), to_spec, fb_store_driver_name(to));
	if (copy_compare(doc, to, audit, &err) != FB_OK)
		goto fail;
	/* Logged only: neither store need be the configuration's, whose audit log is not opened. */
	fb_log_event(FB_LOG_INFO, "audit", "cli", NULL, "store_copied",
	    (const struct fb_log_field[]){FB_LOG_STR("from", fb_store_driver_name(from)),
	        FB_LOG_STR("to", fb_store_driver_name(to)), FB_LOG_INT("rows", n),
	        FB_LOG_STR(NULL, NULL)},
	    "store copied");
	rc = FB_EXIT_OK;
	goto out;
fail:
	rc = fb_cli_error(&err);
out:
	json_decref(doc);
	fb_store_close(from);
	fb_store_close(to);
	fb_secret_free(from_dsn);
	fb_secret_free(to_dsn);
	fb_cli_ctx_close(&x);
	return rc;
}

int
fb_cli_store(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"export", store_export},
	    {"import", store_import},
	    {"migrate", store_migrate},
	    {"copy", store_copy},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_store, table);
}
