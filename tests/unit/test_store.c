/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_store.c: the store API on SQLite, including races between processes. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/internal.h"
#include "store/store.h"
#include "unit.h"

#define NCHILD 4

/* ---- the backend under test ----------------------------------------------- */

/*
 * The suite "store" runs on SQLite, "store-pg" runs the same tests (those not
 * about SQLite's files) on a private PostgreSQL server started by
 * tests/pgtest.py (or the one named by FB_TEST_PG_DSN, with FB_TEST_PG_CA),
 * each test on a fresh database.
 */
static int use_pg;
static char *pg_admin; /* the server's administrator DSN */
static char *pg_ca;    /* the CA that signed its certificate */
static char *pg_dir;   /* pgtest.py's directory */
static pid_t pg_pid;   /* pgtest.py serve, 0 when FB_TEST_PG_DSN named a server */
static int pg_stdin = -1;

/* Which database stands for which directory: a test reopens "dir/fedbroker.db". */
static struct {
	char *dir, *dsn;
} pg_dbs[64];
static size_t pg_ndbs;

/* Runs sql on the database of dsn; 1 on success (the message on stderr otherwise). */
static int
pg_exec_at(const char *dsn, const char *sql)
{
	PGconn *c = PQconnectdb(dsn);
	PGresult *r = NULL;
	int ok = 0;

	if (PQstatus(c) != CONNECTION_OK)
		fprintf(stderr, "pg_exec_at: %s", PQerrorMessage(c));
	else if (PQresultStatus(r = PQexec(c, sql)) != PGRES_COMMAND_OK &&
	         PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "pg_exec_at: %s: %s", sql, PQerrorMessage(c));
	else
		ok = 1;
	PQclear(r);
	PQfinish(c);
	return ok;
}

/* The integer in the first column of the first row of sql on dsn's database; -1 on error. */
static long long
pg_int_at(const char *dsn, const char *sql)
{
	PGconn *c = PQconnectdb(dsn);
	PGresult *r = NULL;
	long long v = -1;

	if (PQstatus(c) == CONNECTION_OK && PQresultStatus(r = PQexec(c, sql)) == PGRES_TUPLES_OK &&
	    PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		fprintf(stderr, "pg_int_at: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return v;
}

/* A new empty database: its DSN (new). */
static char *
pg_fresh(void)
{
	static int n;
	char *sql = fb_xasprintf("CREATE DATABASE fbu_%ld_%d", (long)getpid(), ++n);
	char *dsn = fb_xasprintf("%s dbname=fbu_%ld_%d", pg_admin, (long)getpid(), n);

	CU_ASSERT_FATAL(pg_exec_at(pg_admin, sql));
	free(sql);
	return dsn;
}

/* The database standing for directory dir (made on first use). Borrowed. */
static const char *
pg_dsn_for(const char *dir)
{
	for (size_t i = 0; i < pg_ndbs; i++)
		if (strcmp(pg_dbs[i].dir, dir) == 0)
			return pg_dbs[i].dsn;
	CU_ASSERT_FATAL(pg_ndbs < sizeof(pg_dbs) / sizeof(pg_dbs[0]));
	pg_dbs[pg_ndbs].dir = fb_xstrdup(dir);
	pg_dbs[pg_ndbs].dsn = pg_fresh();
	return pg_dbs[pg_ndbs++].dsn;
}

/* The database of the SQLite file path would be (its directory's). */
static const char *
pg_dsn_of_path(const char *path)
{
	char *dir = fb_xstrdup(path), *slash = strrchr(dir, '/');
	const char *dsn;

	if (slash != NULL)
		*slash = '\0';
	dsn = pg_dsn_for(dir);
	free(dir);
	return dsn;
}

/* A configuration for the store at path (an SQLite file, or what stands for it). */
static struct fb_conf
conf_of(const char *path)
{
	struct fb_conf c;

	memset(&c, 0, sizeof(c));
	c.state_dir = (char *)"/";
	c.store_busy_timeout_ms = 5000;
	c.store_connect_timeout = 5;
	c.store_statement_timeout_ms = 5000;
	c.store_pool_size = 1;
	if (use_pg) {
		c.store_driver = FB_STORE_POSTGRES;
		c.store_dsn = (char *)pg_dsn_of_path(path);
	} else {
		c.store_driver = FB_STORE_SQLITE;
		c.store_path = (char *)path;
	}
	return c;
}

/* A hand-built configuration for a store at dir/name (name NULL: the state_dir default). */
static struct fb_conf
conf_at(const char *dir, const char *name, char **path)
{
	struct fb_conf c;

	*path = fb_xasprintf("%s/%s", dir, name != NULL ? name : "fedbroker.db");
	c = conf_of(*path);
	c.state_dir = (char *)dir;
	if (name == NULL && !use_pg) {
		free(*path);
		*path = NULL;
		c.store_path = NULL;
	}
	return c;
}

/* Starts tests/pgtest.py serve and reads its DSN; 0 on success (CUnit suite set-up). */
static int
pg_suite_init(void)
{
	int in[2], out[2];
	char line[1024];
	FILE *f;

	use_pg = 1;
	if (getenv("FB_TEST_PG_DSN") != NULL) {
		pg_admin = fb_xstrdup(getenv("FB_TEST_PG_DSN"));
		pg_ca = getenv("FB_TEST_PG_CA") != NULL ? fb_xstrdup(getenv("FB_TEST_PG_CA")) : NULL;
		return 0;
	}
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
		return 1;
	pg_pid = fork();
	if (pg_pid < 0)
		return 1;
	if (pg_pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execlp("python3", "python3", FB_SRCDIR "/tests/pgtest.py", "serve", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	pg_stdin = in[1];
	if ((f = fdopen(out[0], "r")) == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "dsn ", 4) == 0)
			pg_admin = fb_xstrdup(line + 4);
		else if (strncmp(line, "ca ", 3) == 0)
			pg_ca = fb_xstrdup(line + 3);
		else if (strncmp(line, "dir ", 4) == 0)
			pg_dir = fb_xstrdup(line + 4);
		else if (strcmp(line, "ready") == 0)
			break;
	}
	fclose(f);
	if (pg_admin == NULL) {
		fprintf(stderr, "store-pg: tests/pgtest.py serve did not start a server\n");
		return 1;
	}
	return 0;
}

static int
pg_suite_cleanup(void)
{
	int status;

	use_pg = 0;
	if (pg_stdin >= 0)
		close(pg_stdin); /* pgtest.py stops the server and removes it */
	pg_stdin = -1;
	if (pg_pid > 0)
		waitpid(pg_pid, &status, 0);
	pg_pid = 0;
	for (size_t i = 0; i < pg_ndbs; i++) {
		free(pg_dbs[i].dir);
		free(pg_dbs[i].dsn);
	}
	pg_ndbs = 0;
	free(pg_admin);
	free(pg_ca);
	free(pg_dir);
	pg_admin = pg_ca = pg_dir = NULL;
	return 0;
}

static struct fb_store *
open_ok(const struct fb_conf *c)
{
	struct fb_store *st = NULL;
	struct fb_err err;

	fb_err_clear(&err);
	if (fb_store_open(c, &st, &err) != FB_OK)
		fprintf(stderr, "fb_store_open: %s\n", err.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	return st;
}

/* The whole file in a new buffer (NULL when unreadable). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = fb_xmalloc((size_t)n + 1);
		*len = fread(buf, 1, (size_t)n, f);
	}
	fclose(f);
	return buf;
}

static int
file_mode(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return -1;
	return (int)(sb.st_mode & 0777);
}

static int
file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* PRAGMA user_version read with a separate raw connection. */
static int
raw_user_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* PRAGMA journal_mode (persistent for WAL) read with a separate raw connection. */
static const char *
raw_journal_mode(const char *path)
{
	static char mode[16];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	snprintf(mode, sizeof(mode), "error");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return mode;
}

/* 1 when the table exists, read with a separate raw connection. */
static int
raw_has_table(const char *path, const char *table)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int found = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
		-1, &s, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		found = 1;
	sqlite3_finalize(s);
	sqlite3_close(db);
	return found;
}

static void
test_open_fresh(void)
{
	char *dir = fb_test_tmpdir(), *path, *sub = fb_xasprintf("%s/state", dir), *p2;
	struct fb_conf c = conf_at(sub, "fedbroker.db", &path);
	struct fb_store *st;
	struct fb_err err;
	mode_t old = umask(022);
	char *wal = fb_xasprintf("%s-wal", path), *shm = fb_xasprintf("%s-shm", path);

	/* The missing state directory is created 0700, the files 0600 despite umask 022. */
	st = open_ok(&c);
	CU_ASSERT_EQUAL(file_mode(sub), 0700);
	CU_ASSERT_EQUAL(file_mode(path), 0600);
	CU_ASSERT_STRING_EQUAL(fb_store_driver_name(st), "sqlite");
	CU_ASSERT_EQUAL(fb_store_schema_latest(), 10);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	CU_ASSERT_EQUAL(fb_store_ping(st, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "k", "v", 1, fb_time_now() + 60, &err), FB_OK);
	/* WAL mode: the -wal and -shm files exist while open, with the database's mode. */
	CU_ASSERT_TRUE(file_exists(wal));
	CU_ASSERT_EQUAL(file_mode(wal), 0600);
	CU_ASSERT_EQUAL(file_mode(shm), 0600);
	CU_ASSERT_EQUAL(raw_user_version(path), fb_store_schema_latest());
	CU_ASSERT_STRING_EQUAL(raw_journal_mode(path), "wal");
	CU_ASSERT_TRUE(raw_has_table(path, "kv"));
	CU_ASSERT_TRUE(raw_has_table(path, "session_revocations"));
	CU_ASSERT_TRUE(raw_has_table(path, "users"));
	CU_ASSERT_TRUE(raw_has_table(path, "local_credentials"));
	CU_ASSERT_TRUE(raw_has_table(path, "recovery_codes"));
	CU_ASSERT_TRUE(raw_has_table(path, "api_tokens"));
	fb_store_close(st);
	umask(old);

	/* Reopening keeps the data and the version. */
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	{
		unsigned char *v = NULL;
		size_t n = 0;

		CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "k", &v, &n, &err), FB_OK);
		CU_ASSERT_EQUAL(n, 1);
		free(v);
	}
	fb_store_close(st);
	fb_store_close(NULL);

	/* No store.path: <state_dir>/fedbroker.db. */
	c = conf_at(dir, NULL, &p2);
	st = open_ok(&c);
	p2 = fb_xasprintf("%s/fedbroker.db", dir);
	CU_ASSERT_TRUE(file_exists(p2));
	fb_store_close(st);
	free(p2);

	/* Neither: a configuration error. */
	c.state_dir = NULL;
	st = NULL;
	CU_ASSERT_EQUAL(fb_store_open(&c, &st, &err), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "store.path"));

	free(wal);
	free(shm);
	free(path);
	free(sub);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_store_path(void)
{
	struct fb_conf c;
	char *p;

	memset(&c, 0, sizeof(c));
	CU_ASSERT_PTR_NULL(fb_store_path(&c));
	c.state_dir = (char *)"/srv/fb";
	p = fb_store_path(&c);
	CU_ASSERT_STRING_EQUAL(p, "/srv/fb/fedbroker.db");
	free(p);
	c.store_path = (char *)"/data/x.db";
	p = fb_store_path(&c);
	CU_ASSERT_STRING_EQUAL(p, "/data/x.db");
	free(p);
	c.store_driver = FB_STORE_POSTGRES;
	CU_ASSERT_PTR_NULL(fb_store_path(&c));
}

/* Opening path must fail with FB_ERR_IO and a message naming path and containing reason. */
static void
expect_open_fail(const char *dir, const char *name, const char *reason)
{
	char *path;
	struct fb_conf c = conf_at(dir, name, &path);
	struct fb_store *st = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_store_open(&c, &st, &err), FB_ERR_IO);
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, reason));
	if (strstr(err.msg, reason) == NULL)
		fprintf(stderr, "message: %s\n", err.msg);
	free(path);
}

/*
 * fb_store_open of dir/name must fail with reason, checked in a child process
 * that runs without root's privileges: as root, the child takes nobody's user
 * and group, and owner (made unwritable by its mode) goes to nobody first.
 * Returns 0 when the open failed as expected, else 1 (the message on stderr).
 */
static int
open_fail_unprivileged(const char *dir, const char *owner, const char *name, const char *reason)
{
	const struct passwd *pw = NULL;
	pid_t pid;
	int status;

	if (geteuid() == 0) {
		pw = getpwnam("nobody");
		if (pw == NULL || chmod(dir, 0711) != 0 ||
		    chown(owner, pw->pw_uid, pw->pw_gid) != 0) {
			perror("nobody");
			return 1;
		}
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		char *path;
		struct fb_conf c = conf_at(dir, name, &path);
		struct fb_store *st = NULL;
		struct fb_err err;

		if (pw != NULL && (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
		                      setuid(pw->pw_uid) != 0 || geteuid() == 0)) {
			perror("dropping privileges");
			_exit(2);
		}
		fb_err_clear(&err);
		if (fb_store_open(&c, &st, &err) == FB_ERR_IO && st == NULL &&
		    strstr(err.msg, path) != NULL && strstr(err.msg, reason) != NULL)
			_exit(0);
		fprintf(stderr, "expected '%s' opening %s, got: %s\n", reason, path, err.msg);
		_exit(1);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status);
}

static void
test_open_bad_paths(void)
{
	char *dir = fb_test_tmpdir(), *f, *ro;

	/* Only the last directory component is created. */
	expect_open_fail(dir, "missing/deeper/fedbroker.db", "No such file or directory");
	f = fb_xasprintf("%s/missing", dir);
	CU_ASSERT_TRUE(file_exists(dir));
	CU_ASSERT_FALSE(file_exists(f));
	free(f);
	/* A regular file where the directory should be. */
	f = fb_test_write_file(dir, "plain", "x\n");
	expect_open_fail(dir, "plain/fedbroker.db", "Not a directory");
	/* The database path is a directory. */
	ro = fb_xasprintf("%s/adir", dir);
	CU_ASSERT_EQUAL(mkdir(ro, 0700), 0);
	expect_open_fail(dir, "adir", "Is a directory");
	free(ro);
	/* An unwritable directory: as root, the check runs as nobody (root ignores modes). */
	ro = fb_xasprintf("%s/ro", dir);
	CU_ASSERT_EQUAL(mkdir(ro, 0500), 0);
	CU_ASSERT_EQUAL(open_fail_unprivileged(dir, ro, "ro/fedbroker.db", "Permission denied"), 0);
	chmod(ro, 0700);
	free(ro);
	free(f);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_open_not_a_database(void)
{
	const char *text = "this is a text file, not a database; it is long enough to "
			   "fill the 100 byte SQLite header and then some more text.\n";
	char *dir = fb_test_tmpdir(), *path, *wal;
	struct fb_conf c;
	struct fb_store *st = NULL;
	struct fb_err err;
	size_t n = 0;
	char *after;

	path = fb_test_write_file(dir, "text.db", text);
	free(path);
	c = conf_at(dir, "text.db", &path);
	CU_ASSERT_EQUAL(fb_store_open(&c, &st, &err), FB_ERR_IO);
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not an SQLite database"));
	after = slurp(path, &n);
	CU_ASSERT_EQUAL(n, strlen(text));
	CU_ASSERT_TRUE(after != NULL && memcmp(after, text, n) == 0);
	wal = fb_xasprintf("%s-wal", path);
	CU_ASSERT_FALSE(file_exists(wal));
	free(wal);
	free(after);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_open_newer_schema(void)
{
	char *dir = fb_test_tmpdir(), *path, *before, *after, want[200];
	struct fb_conf c = conf_at(dir, "new.db", &path);
	struct fb_store *st = NULL;
	struct fb_err err;
	sqlite3 *db = NULL;
	size_t n1 = 0, n2 = 0;
	char sql[128];

	/* A database written by a future fedbroker. */
	snprintf(sql, sizeof(sql), "CREATE TABLE future (x); PRAGMA user_version = %d;",
	    fb_store_schema_latest() + 1);
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	chmod(path, 0600);
	before = slurp(path, &n1);

	CU_ASSERT_EQUAL(fb_store_open(&c, &st, &err), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(st);
	snprintf(want, sizeof(want),
	    "schema version %d is newer than this fedbroker (%d); refusing to touch it",
	    fb_store_schema_latest() + 1, fb_store_schema_latest());
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
	after = slurp(path, &n2);
	CU_ASSERT_TRUE(n1 > 0 && n1 == n2 && memcmp(before, after, n1) == 0);
	free(before);
	free(after);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_migration_rollback(void)
{
	const char *const *saved = fb_store_sqlite_migrations;
	size_t nsaved = fb_store_sqlite_nmigrations;
	const char *bad_first[] = {
		"CREATE TABLE early (a); INSERT INTO nosuch VALUES (1);",
	};
	const char *bad_second[] = {
		saved[0],
		"CREATE TABLE extra (a); INSERT INTO nosuch VALUES (1);",
	};
	const char *good_second[] = {
		saved[0],
		"CREATE TABLE extra (a);",
	};
	char *dir = fb_test_tmpdir(), *path, *p2;
	struct fb_conf c = conf_at(dir, "m.db", &path);
	struct fb_store *st = NULL;
	struct fb_err err;

	/* A failing first migration leaves version 0 and no table. */
	fb_store_sqlite_migrations = bad_first;
	fb_store_sqlite_nmigrations = 1;
	CU_ASSERT_EQUAL(fb_store_open(&c, &st, &err), FB_ERR_IO);
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "migration to schema version 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no such table: nosuch"));
	CU_ASSERT_EQUAL(raw_user_version(path), 0);
	CU_ASSERT_FALSE(raw_has_table(path, "early"));

	/* Version 1 commits, a failing version 2 rolls back completely. */
	c = conf_at(dir, "m2.db", &p2);
	fb_store_sqlite_migrations = bad_second;
	fb_store_sqlite_nmigrations = 2;
	CU_ASSERT_EQUAL(fb_store_open(&c, &st, &err), FB_ERR_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "migration to schema version 2"));
	CU_ASSERT_EQUAL(raw_user_version(p2), 1);
	CU_ASSERT_TRUE(raw_has_table(p2, "kv"));
	CU_ASSERT_FALSE(raw_has_table(p2, "extra"));

	/* Fixed, it applies on the next open. */
	fb_store_sqlite_migrations = good_second;
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), 2);
	CU_ASSERT_TRUE(raw_has_table(p2, "extra"));
	fb_store_close(st);

	fb_store_sqlite_migrations = saved;
	fb_store_sqlite_nmigrations = nsaved;
	free(p2);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* A store in a fresh directory; *dirp to remove afterwards. */
static struct fb_store *
store_new(char **dirp)
{
	char *path;
	struct fb_conf c;
	struct fb_store *st;

	*dirp = fb_test_tmpdir();
	c = conf_at(*dirp, "fedbroker.db", &path);
	st = open_ok(&c);
	free(path);
	return st;
}

static void
store_done(struct fb_store *st, char *dir)
{
	fb_store_close(st);
	fb_test_rmtree(dir);
	free(dir);
	fb_time_offset = 0;
}

static void
test_kv_basic(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	const unsigned char bin[] = {0x00, 0x01, 0xff, 0x00, 0x7f};
	int64_t exp = fb_time_now() + 300;
	unsigned char *v = NULL;
	size_t n = 0;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "a", bin, sizeof(bin), exp, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "a", &v, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, sizeof(bin));
	CU_ASSERT_TRUE(v != NULL && memcmp(v, bin, sizeof(bin)) == 0 && v[n] == '\0');
	free(v);

	/* Namespaces are separate. */
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "replay", "a", &v, &n, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv_get"));

	/* put overwrites; an empty value is a value. */
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "a", "xyz", 3, exp, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "a", &v, &n, &err), FB_OK);
	CU_ASSERT_TRUE(n == 3 && memcmp(v, "xyz", 4) == 0);
	free(v);
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "empty", NULL, 0, exp, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "empty", &v, &n, &err), FB_OK);
	CU_ASSERT_TRUE(n == 0 && v != NULL && v[0] == '\0');
	free(v);

	/* add: only when absent. */
	CU_ASSERT_EQUAL(fb_store_kv_add(st, "replay", "id1", "1", 1, exp, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_add(st, "replay", "id1", "2", 1, exp, &err), FB_ERR_REPLAY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv_add"));
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "replay", "id1", &v, &n, &err), FB_OK);
	CU_ASSERT_TRUE(n == 1 && v[0] == '1');
	free(v);

	/* take: once. */
	CU_ASSERT_EQUAL(fb_store_kv_take(st, "otc", "a", &v, &n, &err), FB_OK);
	CU_ASSERT_TRUE(n == 3 && memcmp(v, "xyz", 3) == 0);
	free(v);
	CU_ASSERT_EQUAL(fb_store_kv_take(st, "otc", "a", &v, &n, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "a", &v, &n, &err), FB_ERR_NOTFOUND);

	/* delete: idempotent. */
	CU_ASSERT_EQUAL(fb_store_kv_delete(st, "replay", "id1", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_delete(st, "replay", "id1", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "replay", "id1", &v, &n, &err), FB_ERR_NOTFOUND);
	store_done(st, dir);
}

/* 1 when sid is revoked (as a request with a session sees it), 0 if not, -1 on an error. */
static int
revoked_of(struct fb_store *st, const char *sid)
{
	struct fb_err err = {0};
	int64_t gen = 0;
	int revoked = -1;

	if (fb_store_session_state(st, sid, "u-nobody", &revoked, &gen, &err) != FB_OK)
		return -1;
	CU_ASSERT_EQUAL(gen, -1);
	return revoked;
}

static void
test_kv_expiry(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	int64_t now = fb_time_now();
	unsigned char *v = NULL;
	size_t n = 0, purged = 99;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "short", "s", 1, now + 10, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "long", "l", 1, now + 1000, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_add(st, "replay", "r", "r", 1, now + 10, &err), FB_OK);
	/* Expiring exactly now counts as expired. */
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "now", "n", 1, now, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "now", &v, &n, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "short", &v, &n, &err), FB_OK);
	free(v);

	fb_time_offset = 20;
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "short", &v, &n, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_kv_take(st, "otc", "short", &v, &n, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "long", &v, &n, &err), FB_OK);
	free(v);
	/* add overwrites an expired entry, then guards the new one. */
	CU_ASSERT_EQUAL(fb_store_kv_add(st, "replay", "r", "R", 1, now + 100, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_add(st, "replay", "r", "X", 1, now + 100, &err), FB_ERR_REPLAY);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "replay", "r", &v, &n, &err), FB_OK);
	CU_ASSERT_TRUE(n == 1 && v[0] == 'R');
	free(v);

	/* purge: "short" and "now" are gone, plus one expired revocation. */
	CU_ASSERT_EQUAL(fb_store_session_revoke(st, "sid-old", now + 5, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_session_revoke(st, "sid-live", now + 500, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_purge(st, fb_time_now(), &purged, &err), FB_OK);
	CU_ASSERT_EQUAL(purged, 3);
	CU_ASSERT_EQUAL(fb_store_kv_purge(st, fb_time_now(), &purged, &err), FB_OK);
	CU_ASSERT_EQUAL(purged, 0);
	CU_ASSERT_EQUAL(fb_store_kv_purge(st, fb_time_now(), NULL, &err), FB_OK);
	/* Purged entries are gone from the table, not merely hidden. */
	fb_time_offset = 0;
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "short", &v, &n, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(revoked_of(st, "sid-old"), 0);
	CU_ASSERT_EQUAL(revoked_of(st, "sid-live"), 1);
	CU_ASSERT_EQUAL(fb_store_kv_purge(st, now + 2000, &purged, &err), FB_OK);
	CU_ASSERT_EQUAL(purged, 3); /* long, r, sid-live */
	store_done(st, dir);
}

/* Bad input is refused before the database is touched: it is write-locked here. */
static void
test_kv_limits(void)
{
	char *dir, *path;
	struct fb_store *st = store_new(&dir);
	char key[FB_STORE_KEY_MAX + 2];
	unsigned char *big = fb_xcalloc(1, FB_STORE_VALUE_MAX + 1), *v = NULL;
	int64_t exp = fb_time_now() + 60;
	sqlite3 *db = NULL;
	PGconn *pgc = NULL;
	size_t n = 0;
	struct fb_err err;
	struct fb_conf c;
	struct fb_store *st2;

	memset(key, 'k', sizeof(key));
	key[FB_STORE_KEY_MAX] = '\0';
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", key, "v", 1, exp, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "big", big, FB_STORE_VALUE_MAX, exp, &err),
	    FB_OK);
	fb_store_close(st);

	/*
	 * A short busy (statement) timeout, and another connection holding the
	 * write lock (PostgreSQL: an exclusive lock on the table).
	 */
	c = conf_at(dir, "fedbroker.db", &path);
	c.store_busy_timeout_ms = 100;
	c.store_statement_timeout_ms = 100;
	st2 = open_ok(&c);
	if (use_pg) {
		pgc = PQconnectdb(c.store_dsn);
		CU_ASSERT_EQUAL_FATAL(PQstatus(pgc), CONNECTION_OK);
		PQclear(PQexec(pgc, "BEGIN; LOCK TABLE kv IN ACCESS EXCLUSIVE MODE"));
	} else {
		CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
		CU_ASSERT_EQUAL(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	}

	key[FB_STORE_KEY_MAX] = 'k';
	key[FB_STORE_KEY_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(fb_store_kv_put(st2, "otc", key, "v", 1, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "key is longer than 256 bytes"));
	CU_ASSERT_PTR_NULL(strstr(err.msg, "kkkk")); /* keys never appear in messages */
	CU_ASSERT_EQUAL(fb_store_kv_get(st2, "otc", key, &v, &n, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_kv_take(st2, "otc", key, &v, &n, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_kv_add(st2, "otc", key, "v", 1, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_kv_delete(st2, "otc", key, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_kv_put(st2, key, "k", "v", 1, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "namespace is longer"));
	CU_ASSERT_EQUAL(fb_store_kv_put(st2, "", "k", "v", 1, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv_put: namespace is empty"));
	CU_ASSERT_EQUAL(fb_store_kv_put(st2, NULL, "k", "v", 1, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_kv_put(st2, "otc", "", "v", 1, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "key is empty"));
	CU_ASSERT_EQUAL(fb_store_kv_get(st2, "otc", NULL, &v, &n, &err), FB_ERR_INVALID);
	n = FB_STORE_VALUE_MAX + 1;
	CU_ASSERT_EQUAL(fb_store_kv_put(st2, "otc", "big", big, n, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "value of 65537 bytes is over the 65536 byte"));
	CU_ASSERT_EQUAL(fb_store_kv_add(st2, "otc", "big", big, n, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_kv_put(st2, "otc", "k", NULL, 5, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_session_revoke(st2, "", exp, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_session_revoke(st2, key, exp, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "session id is longer"));

	/* A valid write waits for the lock, then fails naming what and why. */
	CU_ASSERT_EQUAL(fb_store_kv_put(st2, "otc", "k", "v", 1, exp, &err), FB_ERR_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv_put: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, use_pg ? "statement timeout (store.statement_timeout 100 ms) exceeded"
						    : "database is locked"));
	CU_ASSERT_EQUAL(fb_store_kv_take(st2, "otc", "big", &v, &n, &err), FB_ERR_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv_take: "));
	if (use_pg) {
		PQclear(PQexec(pgc, "ROLLBACK"));
		PQfinish(pgc);
	} else {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(db);
	}

	/* After the lock is gone the handle works again; the limits held exactly. */
	key[FB_STORE_KEY_MAX] = '\0';
	CU_ASSERT_EQUAL(fb_store_kv_get(st2, "otc", key, &v, &n, &err), FB_OK);
	free(v);
	CU_ASSERT_EQUAL(fb_store_kv_take(st2, "otc", "big", &v, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, FB_STORE_VALUE_MAX);
	free(v);
	free(big);
	free(path);
	store_done(st2, dir);
}

static void
test_sessions(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	int64_t now = fb_time_now(), gen = 0;
	int revoked = -1;
	struct fb_err err;

	CU_ASSERT_EQUAL(revoked_of(st, "s1"), 0);
	CU_ASSERT_EQUAL(fb_store_session_revoke(st, "s1", now + 100, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked_of(st, "s1"), 1);
	CU_ASSERT_EQUAL(revoked_of(st, "s2"), 0);
	/* Revoking again with an earlier end keeps the later one. */
	CU_ASSERT_EQUAL(fb_store_session_revoke(st, "s1", now + 10, &err), FB_OK);
	fb_time_offset = 50;
	CU_ASSERT_EQUAL(revoked_of(st, "s1"), 1);
	fb_time_offset = 100;
	CU_ASSERT_EQUAL(revoked_of(st, "s1"), 0);
	CU_ASSERT_EQUAL(fb_store_session_state(st, "", "u-1", &revoked, &gen, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "session_state: session id is empty"));
	CU_ASSERT_EQUAL(fb_store_session_state(st, "s1", "", &revoked, &gen, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "session_state: user id is empty"));
	store_done(st, dir);
}

struct list_state {
	struct fb_store *st;
	char names[8][32];
	int n;
	int stop_after;
	int nested_ok;
};

static int
list_cb(const struct fb_store_user *u, void *arg)
{
	struct list_state *ls = arg;
	struct fb_store_user again;

	if (ls->n < 8)
		snprintf(ls->names[ls->n], sizeof(ls->names[0]), "%s", u->username);
	ls->n++;
	/* The callback may use the store. */
	if (fb_store_user_get(ls->st, u->username, &again, NULL) == FB_OK &&
	    strcmp(again.id, u->id) == 0)
		ls->nested_ok++;
	fb_store_user_cleanup(&again);
	return ls->stop_after != 0 && ls->n >= ls->stop_after;
}

static void
test_users(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	struct fb_store_user u, g;
	struct list_state ls;
	int64_t now = fb_time_now();
	char *first_id;
	struct fb_err err;

	/* Insert: id generated, created defaults to now. */
	memset(&u, 0, sizeof(u));
	u.username = fb_xstrdup("carol");
	u.name = fb_xstrdup("Carol C");
	u.email = fb_xstrdup("carol@example.org");
	u.source = fb_xstrdup("local");
	u.active = 1;
	u.last_seen = now;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u.id);
	CU_ASSERT_TRUE(strlen(u.id) >= 20);
	CU_ASSERT_TRUE(u.created >= now && u.created <= fb_time_now());
	first_id = fb_xstrdup(u.id);

	CU_ASSERT_EQUAL(fb_store_user_get(st, "carol", &g, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(g.id, first_id);
	CU_ASSERT_STRING_EQUAL(g.username, "carol");
	CU_ASSERT_STRING_EQUAL(g.name, "Carol C");
	CU_ASSERT_STRING_EQUAL(g.email, "carol@example.org");
	CU_ASSERT_STRING_EQUAL(g.source, "local");
	CU_ASSERT_EQUAL(g.active, 1);
	CU_ASSERT_EQUAL(g.created, u.created);
	CU_ASSERT_EQUAL(g.last_seen, now);
	fb_store_user_cleanup(&g);
	fb_store_user_cleanup(&u);

	/* Update without an id: same id, created kept, NULLs stored as NULL. */
	memset(&u, 0, sizeof(u));
	u.username = fb_xstrdup("carol");
	u.source = fb_xstrdup("upstream-a");
	u.active = 0;
	u.created = 12345;
	u.last_seen = now + 60;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(u.id, first_id);
	CU_ASSERT_NOT_EQUAL(u.created, 12345);
	CU_ASSERT_EQUAL(fb_store_user_get(st, "carol", &g, &err), FB_OK);
	CU_ASSERT_PTR_NULL(g.name);
	CU_ASSERT_PTR_NULL(g.email);
	CU_ASSERT_STRING_EQUAL(g.source, "upstream-a");
	CU_ASSERT_EQUAL(g.active, 0);
	CU_ASSERT_EQUAL(g.last_seen, now + 60);
	CU_ASSERT_EQUAL(g.created, u.created);
	fb_store_user_cleanup(&g);

	/* A different id for an existing username is refused, nothing changes. */
	free(u.id);
	u.id = fb_xstrdup("not-the-id");
	u.active = 1;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "differs from the stored id"));
	CU_ASSERT_EQUAL(fb_store_user_get(st, "carol", &g, &err), FB_OK);
	CU_ASSERT_EQUAL(g.active, 0);
	fb_store_user_cleanup(&g);
	fb_store_user_cleanup(&u);

	/* An id used by another username is refused. */
	memset(&u, 0, sizeof(u));
	u.id = fb_xstrdup(first_id);
	u.username = fb_xstrdup("mallory");
	u.source = fb_xstrdup("local");
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "already used by another user"));
	CU_ASSERT_EQUAL(fb_store_user_get(st, "mallory", &g, &err), FB_ERR_NOTFOUND);
	fb_store_user_cleanup(&u);

	/* An explicit id and created on insert are kept. */
	memset(&u, 0, sizeof(u));
	u.id = fb_xstrdup("alice-id");
	u.username = fb_xstrdup("alice");
	u.source = fb_xstrdup("local");
	u.created = 1000;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(u.id, "alice-id");
	CU_ASSERT_EQUAL(u.created, 1000);
	fb_store_user_cleanup(&u);
	memset(&u, 0, sizeof(u));
	u.username = fb_xstrdup("bob");
	u.source = fb_xstrdup("local");
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	CU_ASSERT_STRING_NOT_EQUAL(u.id, first_id);
	fb_store_user_cleanup(&u);

	/* Bad input. */
	memset(&u, 0, sizeof(u));
	u.username = (char *)"";
	u.source = (char *)"local";
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "username is empty"));
	u.username = (char *)"dave";
	u.source = NULL;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "user_upsert: user dave: source is empty"));
	u.source = (char *)"local";
	u.name = (char *)"\xff\xfe";
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "user_upsert: user dave: name is not valid UTF-8"));
	CU_ASSERT_PTR_NULL(u.id);
	CU_ASSERT_EQUAL(fb_store_user_get(st, "", &g, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_user_get(st, "nobody", &g, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no user nobody"));

	/* List: ordered by username, the callback may stop it. */
	memset(&ls, 0, sizeof(ls));
	ls.st = st;
	CU_ASSERT_EQUAL(fb_store_user_list(st, list_cb, &ls, &err), FB_OK);
	CU_ASSERT_EQUAL(ls.n, 3);
	CU_ASSERT_EQUAL(ls.nested_ok, 3);
	CU_ASSERT_STRING_EQUAL(ls.names[0], "alice");
	CU_ASSERT_STRING_EQUAL(ls.names[1], "bob");
	CU_ASSERT_STRING_EQUAL(ls.names[2], "carol");
	memset(&ls, 0, sizeof(ls));
	ls.st = st;
	ls.stop_after = 2;
	CU_ASSERT_EQUAL(fb_store_user_list(st, list_cb, &ls, &err), FB_OK);
	CU_ASSERT_EQUAL(ls.n, 2);

	/* Delete. */
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "bob", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_user_get(st, "bob", &g, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "bob", &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "", &err), FB_ERR_INVALID);
	memset(&ls, 0, sizeof(ls));
	ls.st = st;
	CU_ASSERT_EQUAL(fb_store_user_list(st, list_cb, &ls, &err), FB_OK);
	CU_ASSERT_EQUAL(ls.n, 2);
	fb_store_user_cleanup(NULL);
	free(first_id);
	store_done(st, dir);
}

/* ---- several processes ---------------------------------------------------- */

/*
 * Forks NCHILD children that each open their own handle on path, wait until
 * all are open, then run fn at once. Counts exit codes 0..3 into counts.
 */
static void
race(const char *path, int (*fn)(struct fb_store *st, int i), int counts[4])
{
	int ready[2], go[2], status;
	pid_t pids[NCHILD];
	char c;
	ssize_t got = 0, k;
	/* Resolved before forking: the children share one database. */
	struct fb_conf conf = conf_of(path);

	memset(counts, 0, 4 * sizeof(int));
	CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	for (int i = 0; i < NCHILD; i++) {
		pids[i] = fork();
		CU_ASSERT_FATAL(pids[i] >= 0);
		if (pids[i] == 0) {
			struct fb_store *st = NULL;
			int rc;

			close(ready[0]);
			close(go[1]);
			struct fb_err err;


			if (fb_store_open(&conf, &st, &err) != FB_OK) {
				fprintf(stderr, "child %d: %s\n", i, err.msg);
				_exit(3);
			}
			/* Closed after writing, so the parent sees EOF if a sibling dies. */
			if (write(ready[1], "r", 1) != 1)
				_exit(3);
			close(ready[1]);
			/* Blocks until the parent closes go: everyone starts together. */
			if (read(go[0], &c, 1) != 0)
				_exit(3);
			rc = fn(st, i);
			fb_store_close(st);
			_exit(rc);
		}
	}
	close(ready[1]);
	close(go[0]);
	while (got < NCHILD && (k = read(ready[0], &c, 1)) == 1)
		got++;
	close(go[1]);
	close(ready[0]);
	for (int i = 0; i < NCHILD; i++) {
		CU_ASSERT_EQUAL(waitpid(pids[i], &status, 0), pids[i]);
		if (WIFEXITED(status) && WEXITSTATUS(status) <= 3)
			counts[WEXITSTATUS(status)]++;
	}
}

static int
child_add(struct fb_store *st, int i)
{
	char v = (char)('0' + i);

	switch (fb_store_kv_add(st, "replay", "same", &v, 1, fb_time_now() + 60, NULL)) {
	case FB_OK:
		return 0;
	case FB_ERR_REPLAY:
		return 1;
	default:
		return 2;
	}
}

static int
child_take(struct fb_store *st, int i)
{
	unsigned char *v = NULL;
	size_t n = 0;
	int rc;

	switch (fb_store_kv_take(st, "otc", "code", &v, &n, NULL)) {
	case FB_OK:
		rc = n == 4 && memcmp(v, "once", 4) == 0 ? 0 : 2;
		break;
	case FB_ERR_NOTFOUND:
		rc = 1;
		break;
	default:
		rc = 2;
		break;
	}
	free(v);
	return rc;
}

static int
child_ping(struct fb_store *st, int i)
{
	return fb_store_ping(st, NULL) == FB_OK && fb_store_schema_version(st) == fb_store_schema_latest() ? 0 : 2;
}

static void
test_fork_races(void)
{
	char *dir = fb_test_tmpdir(), *path, *fresh;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store *st;
	unsigned char *v = NULL;
	size_t n = 0;
	int counts[4];
	struct fb_err err;

	for (int round = 0; round < 5; round++) {
		/* The parent's handle is closed before forking (handles do not cross fork). */
		st = open_ok(&c);
		CU_ASSERT_EQUAL(fb_store_kv_delete(st, "replay", "same", &err), FB_OK);
		CU_ASSERT_EQUAL(
		    fb_store_kv_put(st, "otc", "code", "once", 4, fb_time_now() + 60, &err), FB_OK);
		fb_store_close(st);

		race(path, child_add, counts);
		CU_ASSERT_EQUAL(counts[0], 1);
		CU_ASSERT_EQUAL(counts[1], NCHILD - 1);
		race(path, child_take, counts);
		CU_ASSERT_EQUAL(counts[0], 1);
		CU_ASSERT_EQUAL(counts[1], NCHILD - 1);

		st = open_ok(&c);
		CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "code", &v, &n, &err), FB_ERR_NOTFOUND);
		CU_ASSERT_EQUAL(fb_store_kv_get(st, "replay", "same", &v, &n, &err), FB_OK);
		free(v);
		fb_store_close(st);
	}

	/* Workers opening a brand-new file together switch it to WAL and migrate it once. */
	for (int round = 0; round < 5; round++) {
		fresh = fb_xasprintf("%s/fresh%d/fedbroker.db", dir, round);
		race(fresh, child_ping, counts);
		CU_ASSERT_EQUAL(counts[0], NCHILD);
		if (use_pg) {
			/* One version row: the migrations ran once, under the advisory lock. */
			CU_ASSERT_EQUAL(pg_int_at(pg_dsn_of_path(fresh),
					    "SELECT max(version) * 1000 + count(*) FROM fedbroker_schema"),
			    fb_store_schema_latest() * 1000 + 1);
		} else {
			CU_ASSERT_EQUAL(raw_user_version(fresh), fb_store_schema_latest());
			CU_ASSERT_STRING_EQUAL(raw_journal_mode(fresh), "wal");
		}
		free(fresh);
	}
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* A handle used in a forked child is refused; the parent's handle stays fine. */
static void
test_fork_foreign_handle(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	struct fb_err err;
	int status = 0;
	pid_t pid;

	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct fb_err cerr;
		int rc = 0;

		if (fb_store_ping(st, &cerr) != FB_ERR_INTERNAL ||
		    strstr(cerr.msg, "open one per process") == NULL)
			rc = 1;
		if (fb_store_kv_put(st, "otc", "k", "v", 1, fb_time_now() + 60, NULL) !=
		    FB_ERR_INTERNAL)
			rc = 1;
		/*
		 * No fb_store_close: in a child it could only free the wrapper and
		 * leave SQLite's memory to the parent's handle (a leak valgrind
		 * would count); _exit keeps it reachable instead.
		 */
		_exit(rc);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(fb_store_ping(st, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "k", "v", 1, fb_time_now() + 60, &err), FB_OK);
	store_done(st, dir);
}

/* ---- schema 2: local accounts -------------------------------------------- */

/* Creates local account name with id (may be NULL) and a password hash; asserts success. */
static void
cred_add(struct fb_store *st, const char *name, const char *id)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	struct fb_err err;

	memset(&u, 0, sizeof(u));
	memset(&c, 0, sizeof(c));
	u.id = id != NULL ? fb_xstrdup(id) : NULL;
	u.username = (char *)name;
	u.source = (char *)"local";
	u.active = 1;
	c.password_hash = (char *)"$argon2id$hash";
	c.type = FB_ACCOUNT_INTERNAL;
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_cred_create(st, &u, &c, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL(u.id);
	free(u.id);
}

static void
test_creds(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	struct fb_store_user u, got;
	struct fb_store_cred c, out;
	struct fb_err err;
	size_t n = 9;

	CU_ASSERT_EQUAL(fb_store_cred_count(st, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	memset(&u, 0, sizeof(u));
	memset(&c, 0, sizeof(c));
	u.username = (char *)"ann";
	u.name = (char *)"Ann";
	u.source = (char *)"local";
	u.active = 1;
	c.password_hash = (char *)"$argon2id$v=19$m=64,t=1,p=1$salt$hash";
	c.type = FB_ACCOUNT_SERVICE;
	CU_ASSERT_EQUAL(fb_store_cred_create(st, &u, &c, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u.id);
	CU_ASSERT_TRUE(u.created > 0);
	CU_ASSERT_EQUAL(fb_store_cred_get(st, u.id, &out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out.user_id, u.id);
	CU_ASSERT_STRING_EQUAL(out.password_hash, c.password_hash);
	CU_ASSERT_EQUAL(out.type, FB_ACCOUNT_SERVICE);
	CU_ASSERT_PTR_NULL(out.totp_secret);
	CU_ASSERT_EQUAL(out.totp_last_step, 0);
	CU_ASSERT_EQUAL(out.last_login, 0);
	CU_ASSERT_TRUE(out.created > 0);
	fb_store_cred_cleanup(&out);
	fb_store_cred_cleanup(NULL);
	CU_ASSERT_EQUAL(fb_store_user_get_by_id(st, u.id, &got, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(got.username, "ann");
	CU_ASSERT_STRING_EQUAL(got.name, "Ann");
	fb_store_user_cleanup(&got);
	CU_ASSERT_EQUAL(fb_store_user_get_by_id(st, "nosuchid", &got, &err), FB_ERR_NOTFOUND);

	/* A second account of the same name, local or not, is refused whole. */
	free(u.id);
	u.id = NULL;
	CU_ASSERT_EQUAL(fb_store_cred_create(st, &u, &c, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "user ann already exists"));
	CU_ASSERT_PTR_NULL(u.id);
	CU_ASSERT_EQUAL(fb_store_cred_count(st, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 1);
	c.type = (enum fb_store_account_type)7;
	u.username = (char *)"bob";
	CU_ASSERT_EQUAL(fb_store_cred_create(st, &u, &c, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown account type"));
	CU_ASSERT_EQUAL(fb_store_user_get(st, "bob", &got, &err), FB_ERR_NOTFOUND);

	/* Updates. */
	CU_ASSERT_EQUAL(fb_store_user_get(st, "ann", &got, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_password_set(st, got.id, "$argon2id$new", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_totp_set(st, got.id, "v1.sealed", 5, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_login_set(st, got.id, 1234, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_get(st, got.id, &out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out.password_hash, "$argon2id$new");
	CU_ASSERT_STRING_EQUAL(out.totp_secret, "v1.sealed");
	CU_ASSERT_EQUAL(out.totp_last_step, 5);
	CU_ASSERT_EQUAL(out.last_login, 1234);
	CU_ASSERT_EQUAL(out.session_gen, 0);
	fb_store_cred_cleanup(&out);
	/* The session generation moves on by one per revocation. */
	CU_ASSERT_EQUAL(fb_store_cred_sessions_revoke(st, got.id, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_sessions_revoke(st, got.id, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_get(st, got.id, &out, &err), FB_OK);
	CU_ASSERT_EQUAL(out.session_gen, 2);
	fb_store_cred_cleanup(&out);
	CU_ASSERT_EQUAL(fb_store_cred_sessions_revoke(st, "nosuchid", &err), FB_ERR_NOTFOUND);
	/* The replay guard: only later steps, each once. */
	CU_ASSERT_EQUAL(fb_store_cred_totp_accept(st, got.id, 5, &err), FB_ERR_REPLAY);
	CU_ASSERT_EQUAL(fb_store_cred_totp_accept(st, got.id, 4, &err), FB_ERR_REPLAY);
	CU_ASSERT_EQUAL(fb_store_cred_totp_accept(st, got.id, 6, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_totp_accept(st, got.id, 6, &err), FB_ERR_REPLAY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "already used"));
	CU_ASSERT_EQUAL(fb_store_cred_password_set(st, got.id, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_totp_set(st, got.id, NULL, 0, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_totp_accept(st, got.id, 7, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no TOTP"));
	CU_ASSERT_EQUAL(fb_store_cred_get(st, got.id, &out, &err), FB_OK);
	CU_ASSERT_PTR_NULL(out.password_hash);
	fb_store_cred_cleanup(&out);
	/* Unknown ids and bad arguments. */
	CU_ASSERT_EQUAL(fb_store_cred_get(st, "nosuchid", &out, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_cred_password_set(st, "nosuchid", "x", &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_cred_totp_set(st, "nosuchid", "x", 0, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_cred_totp_accept(st, "nosuchid", 9, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_cred_login_set(st, "nosuchid", 9, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_cred_get(st, "", &out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_cred_password_set(st, got.id, "", &err), FB_ERR_INVALID);

	/* Credentials go with their user. */
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "ann", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_get(st, got.id, &out, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_cred_count(st, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	fb_store_user_cleanup(&got);
	store_done(st, dir);
}

static void
test_recovery_codes(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	const char *const hashes[] = {"h1", "h2", "h3"};
	const char *const other[] = {"h9"};
	struct fb_err err;
	size_t n = 0;

	cred_add(st, "ann", "uid-ann");
	CU_ASSERT_EQUAL(fb_store_recovery_codes_replace(st, "uid-ann", hashes, 3, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_count(st, "uid-ann", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(fb_store_recovery_code_use(st, "uid-ann", "h2", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_recovery_code_use(st, "uid-ann", "h2", &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_recovery_code_use(st, "uid-ann", "h7", &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_count(st, "uid-ann", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 2);
	/* Replace drops every earlier code, used or not. */
	CU_ASSERT_EQUAL(fb_store_recovery_codes_replace(st, "uid-ann", other, 1, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_recovery_code_use(st, "uid-ann", "h1", &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_count(st, "uid-ann", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_replace(st, "uid-ann", NULL, 0, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_count(st, "uid-ann", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_replace(st, "nosuchid", hashes, 3, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_replace(st, "uid-ann", hashes, 101, &err),
	    FB_ERR_INVALID);
	/* Codes go with their user. */
	CU_ASSERT_EQUAL(fb_store_recovery_codes_replace(st, "uid-ann", hashes, 3, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "ann", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_count(st, "uid-ann", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	store_done(st, dir);
}

static int
collect_token(const struct fb_store_token *t, void *arg)
{
	struct fb_buf *b = arg;

	fb_buf_addf(b, NULL, "%s/%s/%s;", t->id, t->username,
	    t->description != NULL ? t->description : "-");
	return 0;
}

static void
test_tokens(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	struct fb_store_token t, out;
	struct fb_buf b;
	struct fb_err err;

	cred_add(st, "ann", "uid-ann");
	cred_add(st, "bob", "uid-bob");
	memset(&t, 0, sizeof(t));
	t.id = (char *)"t1";
	t.user_id = (char *)"uid-ann";
	t.secret_hash = (char *)"aaaa";
	t.description = (char *)"deploy";
	t.created = 100;
	t.expires_at = 5000;
	CU_ASSERT_EQUAL(fb_store_token_add(st, &t, &err), FB_OK);
	t.id = (char *)"t2";
	t.user_id = (char *)"uid-bob";
	t.description = NULL;
	t.created = 200;
	t.expires_at = 0;
	CU_ASSERT_EQUAL(fb_store_token_add(st, &t, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_token_add(st, &t, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "token id t2 is taken"));
	t.id = (char *)"t3";
	t.user_id = (char *)"nosuchid";
	CU_ASSERT_EQUAL(fb_store_token_add(st, &t, &err), FB_ERR_NOTFOUND);
	t.user_id = (char *)"uid-bob";
	t.description = (char *)"\xff";
	CU_ASSERT_EQUAL(fb_store_token_add(st, &t, &err), FB_ERR_INVALID);

	CU_ASSERT_EQUAL(fb_store_token_get(st, "t1", &out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out.user_id, "uid-ann");
	CU_ASSERT_STRING_EQUAL(out.username, "ann");
	CU_ASSERT_STRING_EQUAL(out.secret_hash, "aaaa");
	CU_ASSERT_STRING_EQUAL(out.description, "deploy");
	CU_ASSERT_EQUAL(out.created, 100);
	CU_ASSERT_EQUAL(out.expires_at, 5000);
	CU_ASSERT_EQUAL(out.revoked_at, 0);
	fb_store_token_cleanup(&out);
	CU_ASSERT_EQUAL(fb_store_token_get(st, "nope", &out, &err), FB_ERR_NOTFOUND);

	fb_buf_init(&b, 4096);
	CU_ASSERT_EQUAL(fb_store_token_list(st, NULL, collect_token, &b, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(b.data, "t1/ann/deploy;t2/bob/-;");
	fb_buf_reset(&b);
	CU_ASSERT_EQUAL(fb_store_token_list(st, "uid-bob", collect_token, &b, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(b.data, "t2/bob/-;");

	/* Revocation keeps its first time. */
	fb_time_offset = 0;
	CU_ASSERT_EQUAL(fb_store_token_revoke(st, "t1", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_token_get(st, "t1", &out, &err), FB_OK);
	CU_ASSERT_TRUE(out.revoked_at > 0);
	t.revoked_at = out.revoked_at;
	fb_store_token_cleanup(&out);
	fb_time_offset = 1000;
	CU_ASSERT_EQUAL(fb_store_token_revoke(st, "t1", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_token_get(st, "t1", &out, &err), FB_OK);
	CU_ASSERT_EQUAL(out.revoked_at, t.revoked_at);
	fb_store_token_cleanup(&out);
	CU_ASSERT_EQUAL(fb_store_token_revoke(st, "nope", &err), FB_ERR_NOTFOUND);

	/* Tokens go with their user. */
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "ann", &err), FB_OK);
	fb_buf_reset(&b);
	CU_ASSERT_EQUAL(fb_store_token_list(st, NULL, collect_token, &b, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(b.data, "t2/bob/-;");
	fb_buf_cleanup(&b);
	store_done(st, dir);
}

static void
test_kv_incr(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	int64_t count = 0, now = fb_time_now();
	unsigned char *v = NULL;
	size_t n = 0;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "lockout", "k", now + 60, &count, &err), FB_OK);
	CU_ASSERT_EQUAL(count, 1);
	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "lockout", "k", now + 60, &count, &err), FB_OK);
	CU_ASSERT_EQUAL(count, 2);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "lockout", "k", &v, &n, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL((char *)v, "2");
	free(v);
	/* The expiry is moved each time; an expired counter starts again at 1. */
	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "lockout", "k", now + 10, &count, &err), FB_OK);
	CU_ASSERT_EQUAL(count, 3);
	fb_time_offset = 11;
	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "lockout", "k", now + 100, &count, &err), FB_OK);
	CU_ASSERT_EQUAL(count, 1);
	/* Not a count. */
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "lockout", "s", "abc", 3, now + 100, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "lockout", "s", now + 100, &count, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a count"));
	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "", "s", now + 100, &count, &err), FB_ERR_INVALID);
	store_done(st, dir);
}

/* Each child offers its own candidate; all must read back the same stored value. */
static int
child_nameid(struct fb_store *st, int i)
{
	char cand[32], *got = NULL;
	int rc;

	snprintf(cand, sizeof(cand), "cand-%d", i);
	if (fb_store_nameid_ensure(st, "uid-ann", "urn:sp", cand, &got, NULL) != FB_OK)
		return 2;
	rc = strncmp(got, "cand-", 5) == 0 ? 0 : 2;
	free(got);
	return rc;
}

static void
test_nameids(void)
{
	char *dir, *path, *got = NULL, *got2 = NULL;
	struct fb_store *st = store_new(&dir);
	struct fb_store_user u;
	struct fb_err err;
	int counts[4];

	memset(&u, 0, sizeof(u));
	u.id = (char *)"uid-ann";
	u.username = (char *)"ann";
	u.source = (char *)"local";
	u.active = 1;
	CU_ASSERT_EQUAL_FATAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_nameid_get(st, "uid-ann", "urn:sp", &got, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(got);
	/* The first candidate is stored; later ones are ignored: stable per user and SP. */
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, "uid-ann", "urn:sp", "n1", &got, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(got, "n1");
	free(got);
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, "uid-ann", "urn:sp", "n2", &got, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(got, "n1");
	free(got);
	CU_ASSERT_EQUAL(fb_store_nameid_get(st, "uid-ann", "urn:sp", &got, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(got, "n1");
	free(got);
	/* Another SP gets its own. */
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, "uid-ann", "urn:other", "m1", &got2, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(got2, "m1");
	free(got2);
	/* Bad arguments, an unknown user, a value taken by another user at the same SP. */
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, "", "urn:sp", "x", &got, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, "uid-ann", "urn:sp", "", &got, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, "uid-nobody", "urn:sp", "x", &got, &err),
	    FB_ERR_NOTFOUND);
	u.id = (char *)"uid-bob";
	u.username = (char *)"bob";
	CU_ASSERT_EQUAL_FATAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, "uid-bob", "urn:sp", "n1", &got, &err),
	    FB_ERR_INVALID);
	/* They go with the user. */
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "ann", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_nameid_get(st, "uid-ann", "urn:sp", &got, &err), FB_ERR_NOTFOUND);
	/* Racing first sign-ins from several workers all get the one stored value. */
	u.id = (char *)"uid-ann";
	u.username = (char *)"ann";
	CU_ASSERT_EQUAL_FATAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	path = fb_xasprintf("%s/fedbroker.db", dir);
	fb_store_close(st);
	race(path, child_nameid, counts);
	CU_ASSERT_EQUAL(counts[0], NCHILD);
	{
		char *p2;
		struct fb_conf c = conf_at(dir, "fedbroker.db", &p2);

		st = open_ok(&c);
		free(p2);
	}
	CU_ASSERT_EQUAL(fb_store_nameid_get(st, "uid-ann", "urn:sp", &got, &err), FB_OK);
	free(got);
	free(path);
	store_done(st, dir);
}

static int
child_totp_accept(struct fb_store *st, int i)
{
	switch (fb_store_cred_totp_accept(st, "uid-ann", 100, NULL)) {
	case FB_OK:
		return 0;
	case FB_ERR_REPLAY:
		return 1;
	default:
		return 2;
	}
}

static int
child_code_use(struct fb_store *st, int i)
{
	switch (fb_store_recovery_code_use(st, "uid-ann", "h1", NULL)) {
	case FB_OK:
		return 0;
	case FB_ERR_NOTFOUND:
		return 1;
	default:
		return 2;
	}
}

static int
child_incr(struct fb_store *st, int i)
{
	int64_t c = 0;

	if (fb_store_kv_incr(st, "lockout", "race", fb_time_now() + 60, &c, NULL) != FB_OK)
		return 2;
	return 0;
}

/* A TOTP step and a recovery code are accepted once, and no failure count is lost. */
static void
test_fork_races_local(void)
{
	char *dir = fb_test_tmpdir(), *path;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	const char *const hashes[] = {"h1"};
	struct fb_store *st;
	unsigned char *v = NULL;
	size_t n = 0;
	int counts[4];
	struct fb_err err;

	st = open_ok(&c);
	cred_add(st, "ann", "uid-ann");
	fb_store_close(st);
	for (int round = 0; round < 3; round++) {
		st = open_ok(&c);
		CU_ASSERT_EQUAL(fb_store_cred_totp_set(st, "uid-ann", "v1.sealed", 1, &err), FB_OK);
		CU_ASSERT_EQUAL(fb_store_recovery_codes_replace(st, "uid-ann", hashes, 1, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(fb_store_kv_delete(st, "lockout", "race", &err), FB_OK);
		fb_store_close(st);
		race(path, child_totp_accept, counts);
		CU_ASSERT_EQUAL(counts[0], 1);
		CU_ASSERT_EQUAL(counts[1], NCHILD - 1);
		race(path, child_code_use, counts);
		CU_ASSERT_EQUAL(counts[0], 1);
		CU_ASSERT_EQUAL(counts[1], NCHILD - 1);
		race(path, child_incr, counts);
		CU_ASSERT_EQUAL(counts[0], NCHILD);
		st = open_ok(&c);
		CU_ASSERT_EQUAL(fb_store_kv_get(st, "lockout", "race", &v, &n, &err), FB_OK);
		CU_ASSERT_EQUAL(strtol((char *)v, NULL, 10), NCHILD);
		free(v);
		fb_store_close(st);
	}
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* A store at c made with only the first version migrations, as an older fedbroker left it. */
static struct fb_store *
open_at_version(const struct fb_conf *c, size_t version)
{
	size_t *nm = use_pg ? &fb_store_postgres_nmigrations : &fb_store_sqlite_nmigrations;
	size_t nsaved = *nm;
	struct fb_store *st;

	*nm = version;
	st = open_ok(c);
	*nm = nsaved;
	CU_ASSERT_EQUAL(fb_store_schema_version(st), (int)version);
	return st;
}

/* A version 1 store with users is brought to version 2 and keeps them. */
static void
test_migrate_v1_v2(void)
{
	char *dir = fb_test_tmpdir(), *path;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store_user u;
	struct fb_store *st;
	struct fb_err err;

	st = open_at_version(&c, 1);
	memset(&u, 0, sizeof(u));
	u.username = (char *)"old";
	u.source = (char *)"google";
	u.active = 1;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	free(u.id);
	fb_store_close(st);
	CU_ASSERT_FALSE(raw_has_table(path, "local_credentials"));
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	CU_ASSERT_EQUAL(raw_user_version(path), fb_store_schema_latest());
	CU_ASSERT_TRUE(raw_has_table(path, "saml_nameids"));
	CU_ASSERT_EQUAL(fb_store_user_get(st, "old", &u, &err), FB_OK);
	fb_store_user_cleanup(&u);
	cred_add(st, "new", NULL);
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* A version 3 store with a local account gets session generations (4), starting at 0. */
static void
test_migrate_v3_v4(void)
{
	int64_t gen = -1;
	char *dir = fb_test_tmpdir(), *path;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store_user u;
	struct fb_store_cred got;
	struct fb_store *st;
	struct fb_err err;

	st = open_at_version(&c, 3);
	cred_add(st, "ann", NULL);
	fb_store_close(st);
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	CU_ASSERT_EQUAL(fb_store_user_get(st, "ann", &u, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_get(st, u.id, &got, &err), FB_OK);
	CU_ASSERT_EQUAL(got.session_gen, 0);
	fb_store_cred_cleanup(&got);
	CU_ASSERT_EQUAL(fb_store_cred_sessions_revoke(st, u.id, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_get(st, u.id, &got, &err), FB_OK);
	CU_ASSERT_EQUAL(got.session_gen, 1);
	fb_store_cred_cleanup(&got);
	/* The generation, as every request with a session reads it (with the revocation). */
	{
		int revoked = -1;

		CU_ASSERT_EQUAL(fb_store_session_revoke(st, "sid-r", fb_time_now() + 60, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(fb_store_session_state(st, "sid-a", u.id, &revoked, &gen, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(gen, 1);
		CU_ASSERT_EQUAL(revoked, 0);
		CU_ASSERT_EQUAL(fb_store_session_state(st, "sid-r", u.id, &revoked, &gen, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(gen, 1);
		CU_ASSERT_EQUAL(revoked, 1);
		/* No local credentials: -1, not an error (the pages decide). */
		CU_ASSERT_EQUAL(fb_store_session_state(st, "sid-r", "u-nobody", &revoked, &gen,
				    &err),
		    FB_OK);
		CU_ASSERT_EQUAL(gen, -1);
		CU_ASSERT_EQUAL(revoked, 1);
	}
	fb_store_user_cleanup(&u);
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* The first column of the first row of sql, read with a separate raw connection; -1 on error. */
static int64_t
raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Runs sql on the file with a separate raw connection; 1 when it worked. */
static int
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int ok;

	ok = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return ok;
}

static int64_t fixed_ms;

static int64_t
fixed_clock(void)
{
	return fixed_ms;
}

/*
 * Version 4 kept kv expiry (and the lockout's lock ends) in seconds; 5
 * keeps milliseconds: live entries stay live, expired ones stay expired,
 * a lock end moves to the same instant in milliseconds, nothing is lost.
 */
static void
test_migrate_v4_v5(void)
{
	char *dir = fb_test_tmpdir(), *path, *sql;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store *st;
	struct fb_err err;
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t now = fb_time_now(), count = 0;

	st = open_at_version(&c, 4);
	fb_store_close(st);
	/* Rows as version 4 wrote them: expiry in seconds, a lock end in seconds. */
	sql = fb_xasprintf("INSERT INTO kv VALUES ('otc', 'live', CAST('v' AS BLOB), %lld);"
			   "INSERT INTO kv VALUES ('otc', 'dead', CAST('v' AS BLOB), %lld);"
			   "INSERT INTO kv VALUES ('lockout', 't:u:abc', CAST('%lld' AS BLOB), %lld);"
			   "INSERT INTO kv VALUES ('lockout', 'n:u:abc', CAST('7' AS BLOB), %lld);"
			   "INSERT INTO kv VALUES ('flag', 'never', CAST('1' AS BLOB), "
			   "9223372036854775807);",
	    (long long)now + 600, (long long)now - 1, (long long)now + 300, (long long)now + 300,
	    (long long)now + 900);
	CU_ASSERT_TRUE(raw_exec(path, sql));
	free(sql);
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "live", &v, &n, &err), FB_OK);
	free(v);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "dead", &v, &n, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "lockout", "t:u:abc", &v, &n, &err), FB_OK);
	if (v != NULL)
		CU_ASSERT_EQUAL(strtoll((const char *)v, NULL, 10), (now + 300) * 1000);
	free(v);
	/* The count is a count still, and the entry outlives its old second by no less. */
	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "lockout", "n:u:abc", now + 900, &count, &err), FB_OK);
	CU_ASSERT_EQUAL(count, 8);
	/* "Never" is never still (no overflow into a float), and kv_add still sees it. */
	CU_ASSERT_EQUAL(raw_int(path, "SELECT typeof(expires_at) = 'integer' AND "
				      "expires_at = 9223372036854775807 FROM kv WHERE ns = 'flag'"),
	    1);
	CU_ASSERT_EQUAL(fb_store_kv_add(st, "flag", "never", "1", 1, INT64_MAX, &err),
	    FB_ERR_REPLAY);
	/* The seconds expiry is the last millisecond before that second, not later. */
	fb_time_clock_ms = fixed_clock;
	fixed_ms = (now + 600) * 1000 - 1;
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "live", &v, &n, &err), FB_OK);
	free(v);
	fixed_ms++;
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "live", &v, &n, &err), FB_ERR_NOTFOUND);
	fb_time_clock_ms = NULL;
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* Expiry to the millisecond (fb_store_kv_put_ms, fb_store_kv_incr_ms) with a test clock. */
static void
test_kv_ms(void)
{
	char *dir = fb_test_tmpdir(), *path;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store *st = open_ok(&c);
	struct fb_err err;
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t count = 0;

	fb_time_clock_ms = fixed_clock;
	fixed_ms = 1700000000989; /* .989 s */
	CU_ASSERT_EQUAL(fb_store_kv_put_ms(st, "t", "k", "v", 1, fixed_ms + 1000, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_incr_ms(st, "t", "c", fixed_ms + 1000, &count, &err), FB_OK);
	/* 11 ms later, in the next second: still there (whole seconds would have ended it). */
	fixed_ms += 11;
	CU_ASSERT_EQUAL(fb_time_now(), 1700000001);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "t", "k", &v, &n, &err), FB_OK);
	free(v);
	fixed_ms += 988; /* 1 ms before the end */
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "t", "k", &v, &n, &err), FB_OK);
	free(v);
	CU_ASSERT_EQUAL(fb_store_kv_incr_ms(st, "t", "c", fixed_ms + 1000, &count, &err), FB_OK);
	CU_ASSERT_EQUAL(count, 2);
	fixed_ms += 1; /* the end */
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "t", "k", &v, &n, &err), FB_ERR_NOTFOUND);
	fixed_ms += 1000;
	CU_ASSERT_EQUAL(fb_store_kv_incr_ms(st, "t", "c", fixed_ms + 1000, &count, &err), FB_OK);
	CU_ASSERT_EQUAL(count, 1);
	/* The seconds API still means seconds. */
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "t", "s", "v", 1, fb_time_now() + 1, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "t", "s", &v, &n, &err), FB_OK);
	free(v);
	fixed_ms = (fb_time_now() + 1) * 1000;
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "t", "s", &v, &n, &err), FB_ERR_NOTFOUND);
	fb_time_clock_ms = NULL;
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* What audit_collect gathers: "actor event detail" lines. */
static int
audit_collect(const struct fb_store_audit *a, void *arg)
{
	json_t *arr = arg;

	CU_ASSERT(a->id > 0);
	CU_ASSERT(a->at > 0);
	json_array_append_new(arr, json_sprintf("%s %s %s", a->actor, a->event, a->detail));
	return 0;
}

/* A version 5 store with an account gets the audit log (6) and keeps the account. */
static void
test_migrate_v5_v6_audit(void)
{
	char *dir = fb_test_tmpdir(), *path;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store_user u;
	struct fb_store *st;
	struct fb_err err;
	json_t *arr = json_array();
	char big[FB_STORE_VALUE_MAX + 2];

	st = open_at_version(&c, 5);
	cred_add(st, "ann", NULL);
	fb_store_close(st);
	CU_ASSERT_FALSE(raw_has_table(path, "audit_log"));
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	CU_ASSERT_TRUE(raw_has_table(path, "audit_log"));
	CU_ASSERT_EQUAL(fb_store_user_get(st, "ann", &u, &err), FB_OK);
	fb_store_user_cleanup(&u);
	/* Recorded in order; the last N are listed oldest first. */
	CU_ASSERT_EQUAL(fb_store_audit_add(st, "cli:root", "account_created", "{\"user\":\"a\"}",
			    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_audit_add(st, "cli:root", "account_disabled", NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_audit_add(st, "cli:ops", "key_activated", "{}", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_audit_list(st, 0, audit_collect, arr, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(json_array_size(arr), 3);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(arr, 0)),
	    "cli:root account_created {\"user\":\"a\"}");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(arr, 1)),
	    "cli:root account_disabled {}");
	json_array_clear(arr);
	CU_ASSERT_EQUAL(fb_store_audit_list(st, 2, audit_collect, arr, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(json_array_size(arr), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(arr, 1)), "cli:ops key_activated {}");
	/* Bad arguments: refused, nothing recorded. */
	CU_ASSERT_EQUAL(fb_store_audit_add(st, "", "e", "{}", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_audit_add(st, "a", NULL, "{}", &err), FB_ERR_INVALID);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(fb_store_audit_add(st, "a", "e", big, &err), FB_ERR_INVALID);
	json_array_clear(arr);
	CU_ASSERT_EQUAL(fb_store_audit_list(st, 0, audit_collect, arr, &err), FB_OK);
	CU_ASSERT_EQUAL(json_array_size(arr), 3);
	json_decref(arr);
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* fb_store_once: accepted once until it expires, per namespace, apart from other entries. */
static void
test_once(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	int64_t now = fb_time_now_ms();
	unsigned char *v = NULL;
	size_t len;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_store_once(st, "saml", "_id1", now + 60000, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_once(st, "saml", "_id1", now + 60000, &err), FB_ERR_REPLAY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "already used"));
	CU_ASSERT_EQUAL(fb_store_once(st, "oidc", "_id1", now + 60000, &err), FB_OK);
	/* Not an ordinary key/value entry of the same namespace. */
	CU_ASSERT_EQUAL(fb_store_kv_get(st, "saml", "_id1", &v, &len, &err), FB_ERR_NOTFOUND);
	/* Expired: usable again. */
	CU_ASSERT_EQUAL(fb_store_once(st, "saml", "_old", now + 1000, &err), FB_OK);
	fb_time_offset = 2;
	CU_ASSERT_EQUAL(fb_store_once(st, "saml", "_old", now + 60000, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_once(st, "saml", "_old", now + 60000, &err), FB_ERR_REPLAY);
	CU_ASSERT_EQUAL(fb_store_once(st, "saml", "", now, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_once(st, "", "x", now, &err), FB_ERR_INVALID);
	store_done(st, dir);
}

static int
link_collect(const struct fb_store_link *l, void *arg)
{
	json_t *a = arg;

	json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "user_id", l->user_id,
	    "upstream", l->upstream, "issuer", l->issuer, "subject", l->subject));
	return 0;
}

static void
free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Upstream links and groups: one transaction per sign-in, nothing kept on a refusal. */
static void
test_upstream_links(void)
{
	static const char *const g1[] = {"admins", "dev", "dev"};
	static const char *const g2[] = {"ops"};
	char *dir, *uid = NULL, **groups = NULL;
	struct fb_store *st = store_new(&dir);
	struct fb_store_user u, v, w;
	struct fb_store_upstream_signin in = {"corp", "https://idp.example", "sub-1", 1, 0, g1, 3};
	json_t *links = json_array();
	size_t n = 0;
	struct fb_err err;

	memset(&u, 0, sizeof(u));
	u.username = (char *)"ann";
	u.email = (char *)"Ann@Example.com";
	u.source = (char *)"corp";
	u.active = 1;
	CU_ASSERT_EQUAL_FATAL(fb_store_upstream_signin(st, &u, &in, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u.id);
	CU_ASSERT_EQUAL(fb_store_link_find(st, "corp", "https://idp.example", "sub-1", &uid, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(uid, u.id);
	free(uid);
	CU_ASSERT_EQUAL(fb_store_link_find(st, "corp", "https://idp.example", "sub-2", &uid, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(uid);
	CU_ASSERT_EQUAL(fb_store_upstream_groups(st, u.id, &groups, &n, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(groups[0], "admins");
	CU_ASSERT_STRING_EQUAL(groups[1], "dev");
	CU_ASSERT_PTR_NULL(groups[2]);
	free_names(groups, n);

	/* A second upstream's groups add up; the same upstream's are replaced. */
	in = (struct fb_store_upstream_signin){"saml", "urn:idp", "ann@example.com", 0, 1, g2, 1};
	memset(&v, 0, sizeof(v));
	v.id = u.id;
	v.name = (char *)"Ann A.";
	v.email = (char *)"ann@example.com";
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &v, &in, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_upstream_groups(st, u.id, &groups, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 3);
	free_names(groups, n);
	CU_ASSERT_EQUAL(fb_store_upstream_groups_of(st, u.id, "saml", &groups, &n, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(groups[0], "ops");
	free_names(groups, n);
	in = (struct fb_store_upstream_signin){"corp", "https://idp.example", "sub-1", 0, 0, NULL, 0};
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &v, &in, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_upstream_groups_of(st, u.id, "corp", &groups, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NULL(groups);
	/* update_profile wrote the name and email. */
	memset(&w, 0, sizeof(w));
	CU_ASSERT_EQUAL(fb_store_user_get(st, "ann", &w, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(w.name, "Ann A.");
	CU_ASSERT_STRING_EQUAL(w.source, "corp");
	fb_store_user_cleanup(&w);
	CU_ASSERT_EQUAL(fb_store_link_list(st, u.id, link_collect, links, &err), FB_OK);
	CU_ASSERT_EQUAL(json_array_size(links), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(links, 0),
				   "upstream")),
	    "corp");

	/* Emails are found without case; count says how many users share one. */
	CU_ASSERT_EQUAL(fb_store_user_find_email(st, "ANN@example.COM", &w, &n, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(w.username, "ann");
	CU_ASSERT_EQUAL(n, 1);
	fb_store_user_cleanup(&w);
	CU_ASSERT_EQUAL(fb_store_user_find_email(st, "bob@example.com", &w, &n, &err),
	    FB_ERR_NOTFOUND);

	/* Refusals write nothing: a taken username, a link to another user, a missing user. */
	memset(&w, 0, sizeof(w));
	w.username = (char *)"ann";
	w.source = (char *)"other";
	w.active = 1;
	in = (struct fb_store_upstream_signin){"other", "iss", "sub-x", 1, 0, g2, 1};
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &w, &in, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(w.id);
	CU_ASSERT_EQUAL(fb_store_link_find(st, "other", "iss", "sub-x", &uid, &err),
	    FB_ERR_NOTFOUND);
	w.username = (char *)"bob";
	in = (struct fb_store_upstream_signin){"corp", "https://idp.example", "sub-1", 1, 0, g2, 1};
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &w, &in, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(w.id);
	CU_ASSERT_EQUAL(fb_store_user_get(st, "bob", &v, &err), FB_ERR_NOTFOUND);
	memset(&w, 0, sizeof(w));
	w.id = (char *)"no-such-id";
	in = (struct fb_store_upstream_signin){"corp", "iss", "sub-9", 0, 0, g2, 1};
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &w, &in, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_link_find(st, "corp", "iss", "sub-9", &uid, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_upstream_groups_of(st, u.id, "saml", &groups, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 1);
	free_names(groups, n);
	/* Bad arguments. */
	in = (struct fb_store_upstream_signin){"corp", "", "sub", 0, 0, NULL, 0};
	w.id = u.id;
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &w, &in, &err), FB_ERR_INVALID);
	in = (struct fb_store_upstream_signin){"corp", "iss", "sub", 0, 0, g2, 1001};
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &w, &in, &err), FB_ERR_INVALID);

	/* Deleting the user deletes its links and groups. */
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "ann", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_link_find(st, "corp", "https://idp.example", "sub-1", &uid, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_upstream_groups(st, u.id, &groups, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	json_decref(links);
	free(u.id);
	store_done(st, dir);
}

/* A version 5 store with users is brought to version 6 (links, groups) and keeps them. */
/*
 * What a SAML sign-on reads, in one call each (bench/store.sh: on PostgreSQL one
 * statement, one round trip, where there were five): the same answers as the
 * separate calls, an expired entry or a missing user as those give them.
 */
static void
test_signon_reads(void)
{
	static const char *const g[] = {"ops", "admins", "ops"};
	char *dir, *nid = NULL;
	struct fb_store *st = store_new(&dir);
	struct fb_store_user u, got;
	struct fb_store_upstream_signin in = {"corp", "https://idp.example", "sub-1", 1, 0, g, 3};
	struct fb_store_signon so;
	struct fb_err err;
	int64_t gen = 0, c0 = 0, c1 = 0, t = 0, m = 0;
	int revoked = 1;

	memset(&u, 0, sizeof(u));
	u.username = (char *)"ann";
	u.source = (char *)"corp";
	u.active = 1;
	CU_ASSERT_EQUAL_FATAL(fb_store_upstream_signin(st, &u, &in, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, u.id, "urn:sp", "n1", &nid, &err), FB_OK);
	free(nid);
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "saml-slo", "k1", "rec\0x", 5, fb_time_now() + 60,
	                    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "saml-slo", "k2", "old", 3, fb_time_now() - 1, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_session_revoke(st, "sid-r", fb_time_now() + 60, &err), FB_OK);
	if (use_pg)
		fb_store_postgres_stats(st, &c0, &t, &m);
	CU_ASSERT_EQUAL_FATAL(fb_store_signon_get(st, u.id, "urn:sp", "saml-slo", "k1", &so, &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(so.ngroups, 2);
	CU_ASSERT_STRING_EQUAL(so.groups[0], "admins");
	CU_ASSERT_STRING_EQUAL(so.groups[1], "ops");
	CU_ASSERT_PTR_NULL(so.groups[2]);
	CU_ASSERT_STRING_EQUAL(so.nameid, "n1");
	CU_ASSERT_EQUAL(so.kvlen, 5);
	CU_ASSERT_TRUE(so.kv != NULL && memcmp(so.kv, "rec\0x", 5) == 0);
	fb_store_signon_cleanup(&so);
	/* No NameID at that SP, an expired entry, a user without groups: all absent. */
	CU_ASSERT_EQUAL(fb_store_signon_get(st, u.id, "urn:other", "saml-slo", "k2", &so, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(so.ngroups, 2);
	CU_ASSERT_PTR_NULL(so.nameid);
	CU_ASSERT_PTR_NULL(so.kv);
	CU_ASSERT_EQUAL(so.kvlen, 0);
	fb_store_signon_cleanup(&so);
	CU_ASSERT_EQUAL(fb_store_signon_get(st, "u-nobody", "urn:sp", "saml-slo", "k1", &so, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(so.ngroups, 0);
	CU_ASSERT_PTR_NULL(so.groups);
	CU_ASSERT_PTR_NULL(so.nameid);
	CU_ASSERT_PTR_NOT_NULL(so.kv);
	fb_store_signon_cleanup(&so);
	/* The session's checks and its user. */
	CU_ASSERT_EQUAL_FATAL(fb_store_session_user(st, "sid-a", u.id, &revoked, &gen, &got, NULL,
	                          NULL, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(revoked, 0);
	CU_ASSERT_EQUAL(gen, -1); /* no local credentials */
	CU_ASSERT_STRING_EQUAL(got.id, u.id);
	CU_ASSERT_STRING_EQUAL(got.username, "ann");
	CU_ASSERT_STRING_EQUAL(got.source, "corp");
	CU_ASSERT_EQUAL(got.active, 1);
	fb_store_user_cleanup(&got);
	CU_ASSERT_EQUAL(fb_store_session_user(st, "sid-r", u.id, &revoked, &gen, &got, NULL, NULL,
	                    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(revoked, 1);
	fb_store_user_cleanup(&got);
	revoked = 0;
	CU_ASSERT_EQUAL(fb_store_session_user(st, "sid-r", "u-nobody", &revoked, &gen, &got, NULL,
	                    NULL, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(revoked, 1);
	CU_ASSERT_PTR_NULL(got.id);
	/* With what a sign-on at urn:sp reads: the same answers, in the same call. */
	{
		const struct fb_store_signon_want want = {"urn:sp", "saml-slo", "k1"};

		revoked = 1;
		CU_ASSERT_EQUAL_FATAL(fb_store_session_user(st, "sid-a", u.id, &revoked, &gen, &got,
		                          &want, &so, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(revoked, 0);
		CU_ASSERT_STRING_EQUAL(got.username, "ann");
		CU_ASSERT_EQUAL_FATAL(so.ngroups, 2);
		CU_ASSERT_STRING_EQUAL(so.groups[0], "admins");
		CU_ASSERT_STRING_EQUAL(so.groups[1], "ops");
		CU_ASSERT_STRING_EQUAL(so.nameid, "n1");
		CU_ASSERT_TRUE(so.kvlen == 5 && memcmp(so.kv, "rec\0x", 5) == 0);
		fb_store_user_cleanup(&got);
		fb_store_signon_cleanup(&so);
		CU_ASSERT_EQUAL(fb_store_session_user(st, "sid-r", "u-nobody", &revoked, &gen, &got,
		                    &want, &so, &err),
		    FB_ERR_NOTFOUND);
		CU_ASSERT_EQUAL(revoked, 1);
		CU_ASSERT_PTR_NULL(so.groups);
		CU_ASSERT_PTR_NULL(so.kv);
		CU_ASSERT_EQUAL(fb_store_session_user(st, "sid-a", u.id, &revoked, &gen, &got,
		                    &(const struct fb_store_signon_want){"urn:sp", "saml-slo", ""},
		                    &so, &err),
		    FB_ERR_INVALID);
	}
	/* Bad input: refused before the store is asked. */
	CU_ASSERT_EQUAL(fb_store_signon_get(st, "", "urn:sp", "saml-slo", "k1", &so, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_signon_get(st, u.id, "urn:sp", "saml-slo", "", &so, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_session_user(st, "", u.id, &revoked, &gen, &got, NULL, NULL, &err),
	    FB_ERR_INVALID);
	if (use_pg) {
		/* Eight calls above reached the server: one round trip each. */
		fb_store_postgres_stats(st, &c1, &t, &m);
		CU_ASSERT_EQUAL(c1 - c0, 8);
	}
	free(u.id);
	store_done(st, dir);
}

static void
test_migrate_v6_v7(void)
{
	char *dir = fb_test_tmpdir(), *path;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store_upstream_signin in = {"corp", "iss", "sub", 0, 0, NULL, 0};
	struct fb_store_user u;
	struct fb_store *st;
	struct fb_err err;

	st = open_at_version(&c, 6);
	memset(&u, 0, sizeof(u));
	u.username = (char *)"old";
	u.source = (char *)"local";
	u.email = (char *)"old@example.com";
	u.active = 1;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	fb_store_close(st);
	CU_ASSERT_FALSE(raw_has_table(path, "upstream_links"));
	st = open_ok(&c);
	CU_ASSERT_EQUAL(raw_user_version(path), fb_store_schema_latest());
	CU_ASSERT_TRUE(raw_has_table(path, "upstream_links"));
	CU_ASSERT_TRUE(raw_has_table(path, "upstream_groups"));
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &u, &in, &err), FB_OK);
	fb_store_user_cleanup(&(struct fb_store_user){.id = u.id});
	memset(&u, 0, sizeof(u));
	CU_ASSERT_EQUAL(fb_store_user_find_email(st, "old@example.com", &u, NULL, &err), FB_OK);
	fb_store_user_cleanup(&u);
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* ---- export and import ------------------------------------------------------------ */

/* Appends a row as a JSON array of its values (null, string or integer) to arg[t->name]. */
static int
row_capture(const struct fb_store_table *t, const struct fb_store_value *row, void *arg)
{
	json_t *r = json_array();

	for (size_t i = 0; i < t->ncols; i++) {
		if (row[i].null)
			json_array_append_new(r, json_null());
		else if (t->cols[i].type == FB_STORE_COL_INT)
			json_array_append_new(r, json_integer(row[i].num));
		else
			json_array_append_new(r, json_string(row[i].text));
	}
	json_array_append_new(json_object_get(arg, t->name), r);
	return 0;
}

/* {"users": [[...], ...], ...}: every exportable table of st (the optional ones too). */
static json_t *
store_dump(struct fb_store *st)
{
	size_t n;
	const struct fb_store_table *t = fb_store_tables(&n);
	json_t *out = json_object();
	struct fb_err err;

	for (size_t i = 0; i < n; i++)
		json_object_set_new(out, t[i].name, json_array());
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_rows_each(st, 1, row_capture, out, &err), FB_OK);
	return out;
}

/* Yields the rows of a store_dump, table by table; a row's values live in row[]. */
struct dump_src {
	json_t *dump;
	size_t table, index;
	struct fb_store_value row[16];
};

static enum fb_status
dump_next(void *arg, const struct fb_store_table **t, const struct fb_store_value **row,
    struct fb_err *err)
{
	struct dump_src *d = arg;
	size_t n;
	const struct fb_store_table *tabs = fb_store_tables(&n);

	(void)err;
	*t = NULL;
	for (; d->table < n; d->table++, d->index = 0) {
		json_t *rows = json_object_get(d->dump, tabs[d->table].name);
		json_t *r = json_array_get(rows, d->index);

		if (r == NULL)
			continue;
		for (size_t k = 0; k < tabs[d->table].ncols; k++) {
			json_t *v = json_array_get(r, k);

			d->row[k] = (struct fb_store_value){.null = json_is_null(v),
			    .text = json_string_value(v), .num = json_integer_value(v)};
		}
		d->index++;
		*t = &tabs[d->table];
		*row = d->row;
		return FB_OK;
	}
	return FB_OK;
}

/* ---- SCIM helpers (export and SCIM tests) ------------------------------------ */

/* Collects "kind:object" of each outbox entry, comma-separated. */
static int
scim_item_cat(const struct fb_store_scim_item *it, void *arg)
{
	char **acc = arg;
	char *n = fb_xasprintf("%s%s%s:%s", *acc != NULL ? *acc : "", *acc != NULL ? "," : "",
	    it->kind, it->object);

	free(*acc);
	*acc = n;
	return 0;
}

/* The outbox of target as "kind:object,..." (new; "" when empty). */
static char *
scim_outbox_str(struct fb_store *st, const char *target)
{
	char *acc = NULL;

	CU_ASSERT_EQUAL(fb_store_scim_outbox_list(st, target, scim_item_cat, &acc, NULL), FB_OK);
	return acc != NULL ? acc : fb_xstrdup("");
}

/* 1 when target's outbox holds kind:object. */
static int
scim_outbox_has(struct fb_store *st, const char *target, const char *kind, const char *object)
{
	char *str = scim_outbox_str(st, target), *want = fb_xasprintf("%s:%s", kind, object);
	int found = strstr(str, want) != NULL;

	free(want);
	free(str);
	return found;
}

static int
scim_name_cat(const char *name, void *arg)
{
	return scim_item_cat(&(struct fb_store_scim_item){.kind = (char *)"m", .object = (char *)name},
	    arg);
}

/* A store holding one of everything a backup keeps. */
static void
store_fill(struct fb_store *st)
{
	const char *const hashes[] = {"h1", "h2"};
	const char *const groups[] = {"admins", "ops"};
	struct fb_store_upstream_signin in = {"corp", "https://idp.example", "sub-1", 1, 0, groups, 2};
	struct fb_store_token t = {.id = (char *)"tok1", .user_id = (char *)"u-alice",
	    .secret_hash = (char *)"abcd", .description = NULL, .expires_at = 0};
	struct fb_store_user u = {.username = (char *)"bob", .source = (char *)"corp", .active = 1};
	struct fb_err err;
	char *nameid = NULL;

	fb_err_clear(&err);
	cred_add(st, "alice", "u-alice");
	CU_ASSERT_EQUAL(fb_store_cred_totp_set(st, "u-alice", "sealed-totp", 42, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_replace(st, "u-alice", hashes, 2, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_recovery_code_use(st, "u-alice", "h1", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_token_add(st, &t, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_token_revoke(st, "tok1", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_nameid_ensure(st, "u-alice", "urn:sp", "nid-1", &nameid, &err),
	    FB_OK);
	free(nameid);
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &u, &in, &err), FB_OK);
	free(u.id);
	CU_ASSERT_EQUAL(fb_store_audit_add(st, "cli:test", "account_created", "{}", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_remote_put(st,
			    &(struct fb_store_scim_remote){(char *)"aws", (char *)"user",
				(char *)"u-alice", (char *)"r-alice", 1, (char *)"d-alice",
				(char *)"{\"userName\":\"alice\"}", 0},
			    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_member_put(st, "aws", "admins", "u-alice", 1, &err), FB_OK);
	/* Work and history, not exported. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "aws", FB_STORE_SCIM_GROUP, "ops", &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_report_put(st, "aws", 1, "{\"writes\":1}", &err), FB_OK);
	/* An OpenID client of the store is kept; its grants (short-lived) are not. */
	CU_ASSERT_EQUAL(fb_store_oidc_client_add(st,
			    &(struct fb_store_oidc_client){(char *)"svc",
				(char *)"{\"id\":\"svc\",\"type\":\"service\"}", (char *)"00ff", NULL, 0},
			    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &(struct fb_store_oidc_grant){(char *)"h-c",
	    FB_STORE_OIDC_CODE, (char *)"fam", (char *)"svc", (char *)"{}", fb_time_now() + 60},
	    &err), FB_OK);
}

/* What one store holds, another takes whole, and both then read the same. */
static void
test_export_import(void)
{
	char *da, *db;
	struct fb_store *a = store_new(&da), *b = store_new(&db);
	json_t *dump, *again;
	struct dump_src src;
	struct fb_store_cred c;
	struct fb_err err;
	size_t n = 0, k;

	store_fill(a);
	dump = store_dump(a);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(dump, "users")), 2);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(dump, "recovery_codes")), 2);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(dump, "upstream_groups")), 2);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(dump, "audit_log")), 1);
	memset(&src, 0, sizeof(src));
	src.dump = dump;
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_rows_load(b, 1, dump_next, &src, &n, NULL, &err), FB_OK);
	if (err.msg[0] != '\0')
		fprintf(stderr, "rows_load: %s\n", err.msg);
	CU_ASSERT_EQUAL(n, 2 + 1 + 2 + 1 + 1 + 1 + 2 + 1 + 1 + 1 + 1);
	again = store_dump(b);
	CU_ASSERT_TRUE(json_equal(dump, again));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(dump, "oidc_clients")), 1);
	CU_ASSERT_PTR_NULL(json_object_get(dump, "oidc_grants"));
	{
		struct fb_store_oidc_client oc;

		CU_ASSERT_EQUAL(fb_store_oidc_client_get(b, "svc", &oc, &err), FB_OK);
		CU_ASSERT_STRING_EQUAL(oc.secret_hash, "00ff");
		CU_ASSERT_PTR_NULL(oc.jwks);
		fb_store_oidc_client_cleanup(&oc);
	}
	/* The SCIM remote ids come back; a restored store pushes each object once to compare. */
	{
		struct fb_store_scim_remote rm;
		char *acc = NULL;
		int64_t at;
		int ok;

		CU_ASSERT_EQUAL(json_array_size(json_object_get(dump, "scim_remote")), 1);
		CU_ASSERT_EQUAL(json_array_size(json_object_get(dump, "scim_members")), 1);
		CU_ASSERT_PTR_NULL(json_object_get(dump, "scim_outbox"));
		CU_ASSERT_EQUAL(fb_store_scim_remote_get(b, "aws", "user", "u-alice", &rm, &err),
		    FB_OK);
		CU_ASSERT_STRING_EQUAL(rm.remote_id, "r-alice");
		CU_ASSERT_STRING_EQUAL(rm.digest, "d-alice");
		CU_ASSERT_STRING_EQUAL(rm.body, "{\"userName\":\"alice\"}");
		fb_store_scim_remote_cleanup(&rm);
		CU_ASSERT_EQUAL(fb_store_scim_member_list(b, "aws", "admins", scim_name_cat, &acc,
				    &err),
		    FB_OK);
		CU_ASSERT_STRING_EQUAL(acc, "m:u-alice");
		free(acc);
		CU_ASSERT_EQUAL(fb_store_scim_report_get(b, "aws", &at, &ok, &acc, &err),
		    FB_ERR_NOTFOUND);
		/* Every user and group once (alice, bob, admins, ops), nothing else. */
		CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(b, "aws", &k, &err), FB_OK);
		CU_ASSERT_EQUAL(k, 4);
		CU_ASSERT_TRUE(scim_outbox_has(b, "aws", "user", "u-alice"));
		CU_ASSERT_TRUE(scim_outbox_has(b, "aws", "group", "ops"));
	}
	/* The credentials work through the ordinary API. */
	CU_ASSERT_EQUAL(fb_store_cred_get(b, "u-alice", &c, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(c.totp_secret, "sealed-totp");
	CU_ASSERT_EQUAL(fb_store_cred_totp_accept(b, "u-alice", 42, &err), FB_ERR_REPLAY);
	fb_store_cred_cleanup(&c);
	CU_ASSERT_EQUAL(fb_store_recovery_codes_count(b, "u-alice", &k, &err), FB_OK);
	CU_ASSERT_EQUAL(k, 1);
	{
		size_t counts[16];

		CU_ASSERT_EQUAL(fb_store_rows_count(b, 0, counts, &err), FB_OK);
		CU_ASSERT_EQUAL(counts[fb_store_table_get("api_tokens") - fb_store_tables(&k)], 1);
		CU_ASSERT_EQUAL(counts[fb_store_table_get("users") - fb_store_tables(&k)], 2);
		CU_ASSERT_EQUAL(counts[fb_store_table_get("audit_log") - fb_store_tables(&k)], 0);
	}
	/* The audit log goes on after the imported rows (PostgreSQL: its sequence moved). */
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_audit_add(b, "cli:test", "after_import", "{}", &err), FB_OK);
	if (err.msg[0] != '\0')
		fprintf(stderr, "audit_add: %s\n", err.msg);
	{
		json_t *all = store_dump(b), *log = json_object_get(all, "audit_log");

		CU_ASSERT_EQUAL(json_array_size(log), 2);
		CU_ASSERT_TRUE(json_integer_value(json_array_get(json_array_get(log, 1), 0)) >
		    json_integer_value(json_array_get(json_array_get(log, 0), 0)));
		json_decref(all);
	}
	/* A second import into the now full store is refused, naming a table. */
	memset(&src, 0, sizeof(src));
	src.dump = dump;
	CU_ASSERT_EQUAL(fb_store_rows_load(b, 1, dump_next, &src, &n, NULL, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not empty (table users"));
	CU_ASSERT_EQUAL(n, 0);
	json_decref(again);
	json_decref(dump);
	store_done(a, da);
	store_done(b, db);
}

/* Bad rows are refused and nothing of the import stays. */
static void
test_import_refused(void)
{
	char *da, *db;
	struct fb_store *a = store_new(&da), *b = store_new(&db);
	json_t *dump, *users, *after;
	struct dump_src src;
	struct fb_store_row_at at;
	struct fb_err err;
	size_t n = 0;

	store_fill(a);
	dump = store_dump(a);
	after = store_dump(b);
	users = json_object_get(dump, "users");

	/* The optional audit log, not asked for. */
	memset(&src, 0, sizeof(src));
	src.dump = dump;
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_rows_load(b, 0, dump_next, &src, &n, NULL, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "audit_log"));

	/* A duplicate username (a second user row with another id). */
	json_object_set_new(dump, "audit_log", json_array());
	json_array_append_new(users, json_deep_copy(json_array_get(users, 0)));
	json_array_set_new(json_array_get(users, 2), 0, json_string("other-id"));
	memset(&src, 0, sizeof(src));
	src.dump = dump;
	CU_ASSERT_EQUAL(fb_store_rows_load(b, 0, dump_next, &src, &n, &at, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg,
	    use_pg ? "import: users: duplicate key value violates unique constraint"
		   : "import: users: UNIQUE"));
	CU_ASSERT_EQUAL(n, 0);
	/* The row to blame, though PostgreSQL's COPY finds it once the table's rows are sent. */
	CU_ASSERT_PTR_EQUAL(at.table, fb_store_table_get("users"));
	CU_ASSERT_EQUAL(at.index, 2);
	json_array_remove(users, 2);

	/* A NULL where the column takes none. */
	json_array_set_new(json_array_get(users, 0), 4, json_null());
	memset(&src, 0, sizeof(src));
	src.dump = dump;
	CU_ASSERT_EQUAL(fb_store_rows_load(b, 0, dump_next, &src, &n, NULL, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "users.source: null is not allowed"));
	json_array_set_new(json_array_get(users, 0), 4, json_string("local"));

	/* A token of no user (foreign key), after every user was written. */
	json_array_set_new(json_array_get(json_object_get(dump, "api_tokens"), 0), 1,
	    json_string("nobody"));
	memset(&src, 0, sizeof(src));
	src.dump = dump;
	CU_ASSERT_EQUAL(fb_store_rows_load(b, 0, dump_next, &src, &n, &at, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_EQUAL(at.table, fb_store_table_get("api_tokens"));
	CU_ASSERT_EQUAL(at.index, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg,
	    use_pg ? "import: api_tokens: insert or update on table \"api_tokens\" violates "
		     "foreign key constraint"
		   : "import: api_tokens: FOREIGN KEY"));
	/* The message names no value of the row (the server's DETAIL would). */
	CU_ASSERT_PTR_NULL(strstr(err.msg, "nobody"));

	/* Nothing of the failed imports stayed. */
	{
		json_t *now = store_dump(b);

		CU_ASSERT_TRUE(json_equal(now, after));
		json_decref(now);
	}
	json_decref(after);
	json_decref(dump);
	store_done(a, da);
	store_done(b, db);
}

/*
 * What shows whether a store changed: the bytes of the SQLite file path;
 * on PostgreSQL, the tables of c's database, their row counts and the
 * schema version. New, *n long.
 */
static char *
store_fingerprint(const struct fb_conf *c, const char *path, size_t *n)
{
	PGconn *pc;
	PGresult *r = NULL;
	char *out = NULL;

	if (!use_pg)
		return slurp(path, n);
	pc = PQconnectdb(c->store_dsn);
	if (PQstatus(pc) == CONNECTION_OK &&
	    PQresultStatus(r = PQexec(pc,
			       "SELECT string_agg(relname || ':' || relkind::text || ':' ||"
			       " (SELECT count(*) FROM pg_attribute WHERE attrelid = c.oid) ||"
			       " CASE WHEN relkind = 'r' THEN ':' || (xpath('/row/n/text()',"
			       " query_to_xml(format('SELECT count(*) AS n FROM %I', relname),"
			       " false, true, '')))[1]::text ELSE '' END, ',' ORDER BY relname)"
			       " FROM pg_class c WHERE relnamespace = 'public'::regnamespace"))
		== PGRES_TUPLES_OK &&
	    PQntuples(r) == 1)
		out = fb_xstrdup(PQgetvalue(r, 0, 0));
	else
		fprintf(stderr, "store_fingerprint: %s", PQerrorMessage(pc));
	PQclear(r);
	PQfinish(pc);
	*n = out != NULL ? strlen(out) : 0;
	return out;
}

/* The schema version the store at c holds, read without fedbroker. */
static int
raw_version(const struct fb_conf *c, const char *path)
{
	return use_pg ? (int)pg_int_at(c->store_dsn, "SELECT version FROM fedbroker_schema")
		      : raw_user_version(path);
}

/* The fingerprint of a store at c left closed at version. */
static char *
file_at_version(const struct fb_conf *c, const char *path, size_t version, size_t *n)
{
	fb_store_close(open_at_version(c, version));
	return store_fingerprint(c, path, n);
}

/* An unmigrated open reads the version and changes nothing; other calls are refused. */
static void
test_open_unmigrated(void)
{
	char *dir = fb_test_tmpdir(), *path, *missing;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_conf m = conf_at(dir, "none/missing.db", &missing);
	struct fb_store_user u;
	struct fb_store *st = NULL;
	struct fb_err err;
	char *before, *after;
	size_t nb, na;

	before = file_at_version(&c, path, 6, &nb);
	fb_err_clear(&err);
	CU_ASSERT_EQUAL_FATAL(fb_store_open_unmigrated(&c, &st, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), 6);
	CU_ASSERT_EQUAL(fb_store_user_get(st, "x", &u, &err), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "fedbroker store migrate"));
	fb_store_close(st);
	after = store_fingerprint(&c, path, &na);
	CU_ASSERT_EQUAL(raw_version(&c, path), 6);
	CU_ASSERT_TRUE(before != NULL && nb == na && memcmp(before, after, nb) == 0);
	if (use_pg)
		CU_ASSERT_EQUAL(pg_int_at(c.store_dsn,
				    "SELECT (to_regclass('upstream_links') IS NULL)::int"),
		    1);
	free(before);
	free(after);
	/* Migrated, an unmigrated open is an ordinary one. */
	st = open_ok(&c);
	fb_store_close(st);
	CU_ASSERT_EQUAL_FATAL(fb_store_open_unmigrated(&c, &st, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	CU_ASSERT_EQUAL(fb_store_user_get(st, "x", &u, &err), FB_ERR_NOTFOUND);
	fb_store_close(st);
	/* A store that is not there is not made. */
	st = NULL;
	if (use_pg) {
		char *sql;

		/* An empty database is at version 0 and stays empty. */
		CU_ASSERT_EQUAL_FATAL(fb_store_open_unmigrated(&m, &st, &err), FB_OK);
		CU_ASSERT_EQUAL(fb_store_schema_version(st), 0);
		CU_ASSERT_EQUAL(fb_store_user_get(st, "x", &u, &err), FB_ERR_CONFIG);
		fb_store_close(st);
		CU_ASSERT_EQUAL(pg_int_at(m.store_dsn, "SELECT count(*) FROM pg_class WHERE"
						       " relnamespace = 'public'::regnamespace"),
		    0);
		/* A database that does not exist is not created. */
		m.store_dsn = fb_xasprintf("%s dbname=fbu_none_%ld", pg_admin, (long)getpid());
		st = NULL;
		CU_ASSERT_EQUAL(fb_store_open_unmigrated(&m, &st, &err), FB_ERR_IO);
		CU_ASSERT_PTR_NULL(st);
		sql = fb_xasprintf("SELECT count(*) FROM pg_database WHERE datname = 'fbu_none_%ld'",
		    (long)getpid());
		CU_ASSERT_EQUAL(pg_int_at(pg_admin, sql), 0);
		free(sql);
		free(m.store_dsn);
	} else {
		CU_ASSERT_NOT_EQUAL(fb_store_open_unmigrated(&m, &st, &err), FB_OK);
		CU_ASSERT_PTR_NULL(st);
		CU_ASSERT_FALSE(file_exists(missing));
	}
	free(missing);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* store.migrate manual: an older store is refused untouched until migrated on purpose. */
static void
test_open_manual_migrate(void)
{
	char *dir = fb_test_tmpdir(), *path, *fresh_path;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_conf fresh = conf_at(dir, "new/fedbroker.db", &fresh_path);
	struct fb_store *st = NULL;
	struct fb_err err;
	char *before, *after;
	size_t nb, na;

	before = file_at_version(&c, path, 6, &nb);
	c.store_migrate = FB_STORE_MIGRATE_MANUAL;
	st = NULL;
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_open(&c, &st, &err), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "store.migrate is manual"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "schema version 6"));
	after = store_fingerprint(&c, path, &na);
	CU_ASSERT_TRUE(before != NULL && nb == na && memcmp(before, after, nb) == 0);
	CU_ASSERT_EQUAL(raw_version(&c, path), 6);
	/* Migrated on purpose, it opens. */
	CU_ASSERT_EQUAL_FATAL(fb_store_open_migrate(&c, &st, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	fb_store_close(st);
	st = open_ok(&c);
	fb_store_close(st);
	/* A new store is set up whatever store.migrate says. */
	fresh.store_migrate = FB_STORE_MIGRATE_MANUAL;
	st = open_ok(&fresh);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	fb_store_close(st);
	free(before);
	free(after);
	free(path);
	free(fresh_path);
	fb_test_rmtree(dir);
	free(dir);
}

/* While the export reads users, another process adds an account: a later table must not show it. */
struct snapshot_probe {
	const char *path; /* the SQLite file, or the PostgreSQL DSN */
	int wrote;
	size_t creds;
};

/* The account the other process adds. */
#define SNAPSHOT_LATE                                                                      \
	"INSERT INTO users VALUES ('late', 'late', NULL, NULL, 'local', 1, 1, 1);"         \
	" INSERT INTO local_credentials (user_id, account_type, created)"                  \
	" VALUES ('late', 'internal', 1);"

static int
snapshot_row(const struct fb_store_table *t, const struct fb_store_value *row, void *arg)
{
	struct snapshot_probe *p = arg;
	sqlite3 *db = NULL;

	(void)row;
	if (strcmp(t->name, "local_credentials") == 0)
		p->creds++;
	if (strcmp(t->name, "users") == 0 && !p->wrote && use_pg) {
		p->wrote = 1;
		CU_ASSERT(pg_exec_at(p->path, SNAPSHOT_LATE));
	}
	if (strcmp(t->name, "users") == 0 && !p->wrote) {
		p->wrote = 1;
		CU_ASSERT_EQUAL(sqlite3_open_v2(p->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(db, 5000);
		CU_ASSERT_EQUAL(sqlite3_exec(db, SNAPSHOT_LATE, NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(db);
	}
	return 0;
}

static void
test_export_snapshot(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	char *path = use_pg ? fb_xstrdup(pg_dsn_for(dir)) : fb_xasprintf("%s/fedbroker.db", dir);
	struct snapshot_probe p = {path, 0, 0};
	struct fb_err err;
	size_t counts[16], n;

	cred_add(st, "alice", "u-alice");
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_rows_each(st, 0, snapshot_row, &p, &err), FB_OK);
	CU_ASSERT_EQUAL(p.wrote, 1);
	CU_ASSERT_EQUAL(p.creds, 1);
	/* The next export sees it. */
	CU_ASSERT_EQUAL(fb_store_rows_count(st, 0, counts, &err), FB_OK);
	CU_ASSERT_EQUAL(counts[fb_store_table_get("local_credentials") - fb_store_tables(&n)], 2);
	free(path);
	store_done(st, dir);
}

/* Yields one row of the table arg (not one of the list). */
static enum fb_status
bogus_next(void *arg, const struct fb_store_table **t, const struct fb_store_value **row,
    struct fb_err *err)
{
	static const struct fb_store_value v[1] = {{0, "x", 0}};

	(void)err;
	*t = arg;
	*row = v;
	return FB_OK;
}

/* Only tables of the one list reach a backend (they build SQL from it). */
static void
test_rows_foreign_table(void)
{
	static const struct fb_store_column cols[] = {{"x", FB_STORE_COL_TEXT, 0}};
	const struct fb_store_table bogus = {"sqlite_master", cols, 1, "x", 0};
	char *dir;
	struct fb_store *st = store_new(&dir);
	struct fb_err err;
	size_t n = 7;

	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_rows_load(st, 0, bogus_next, (void *)&bogus, &n, NULL, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a table of fb_store_tables"));
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NULL(fb_store_table_get("kv"));
	CU_ASSERT_PTR_NOT_NULL(fb_store_table_get("users"));
	store_done(st, dir);
}

/* A backend without export or import ops is refused by store.c, never called. */
static void
test_rows_no_ops(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	const struct fb_store_ops *saved = st->ops;
	struct fb_store_ops none = *saved;
	struct dump_src src;
	struct fb_err err;
	size_t counts[16], n = 7;

	none.rows_each = NULL;
	none.rows_load = NULL;
	st->ops = &none;
	memset(&src, 0, sizeof(src));
	src.dump = json_object();
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_rows_count(st, 0, counts, &err), FB_ERR_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot export"));
	CU_ASSERT_EQUAL(fb_store_rows_load(st, 0, dump_next, &src, &n, NULL, &err), FB_ERR_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot import"));
	CU_ASSERT_EQUAL(n, 0);
	st->ops = saved;
	json_decref(src.dump);
	store_done(st, dir);
}

/* ---- PostgreSQL only ---------------------------------------------------------- */

/* A fresh store and the DSN of its database (borrowed). */
static struct fb_store *
pg_store_new(char **dirp, const char **dsn)
{
	struct fb_store *st = store_new(dirp);

	*dsn = pg_dsn_for(*dirp);
	return st;
}

/* A configuration for dsn (borrowed) on the test server, with the default timeouts. */
static struct fb_conf
pg_conf(const char *dsn)
{
	struct fb_conf c = conf_of("/unused/fedbroker.db");

	c.store_dsn = (char *)dsn;
	return c;
}

/* Opening fails with code and a message containing want and never secret. */
static void
pg_open_fails(const struct fb_conf *c, enum fb_status code, const char *want, const char *secret)
{
	struct fb_store *st = NULL;
	struct fb_err err;

	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_open(c, &st, &err), code);
	CU_ASSERT_PTR_NULL(st);
	if (strstr(err.msg, want) == NULL)
		fprintf(stderr, "want \"%s\" in: %s\n", want, err.msg);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
	if (secret != NULL)
		CU_ASSERT_PTR_NULL(strstr(err.msg, secret));
	/* check-config says the same without changing anything. */
	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_check(c, NULL, &err), code);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
	if (secret != NULL)
		CU_ASSERT_PTR_NULL(strstr(err.msg, secret));
}

/* A fresh database migrates to the latest version in one step; an older one catches up. */
static void
test_pg_migrate(void)
{
	char *dsn = pg_fresh();
	struct fb_conf c = pg_conf(dsn);
	size_t saved = fb_store_postgres_nmigrations;
	struct fb_store *st;
	struct fb_store_user u = {.username = (char *)"old", .source = (char *)"local", .active = 1};
	struct fb_store_user got = {0};
	struct fb_err err;
	int v = -2;

	/* A database fedbroker has not used: version 0, and checking it creates nothing. */
	CU_ASSERT_EQUAL(fb_store_check(&c, &v, &err), FB_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(pg_int_at(dsn, "SELECT (to_regclass('fedbroker_schema') IS NULL)::int"), 1);
	fb_store_postgres_nmigrations = 6;
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), 6);
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_OK);
	fb_store_close(st);
	fb_store_postgres_nmigrations = saved;
	CU_ASSERT_EQUAL(pg_int_at(dsn, "SELECT (to_regclass('upstream_links') IS NULL)::int"), 1);
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	CU_ASSERT_STRING_EQUAL(fb_store_driver_name(st), "postgres");
	CU_ASSERT_EQUAL(pg_int_at(dsn, "SELECT version FROM fedbroker_schema"), fb_store_schema_latest());
	CU_ASSERT_EQUAL(pg_int_at(dsn, "SELECT (to_regclass('upstream_links') IS NOT NULL)::int"), 1);
	CU_ASSERT_EQUAL(fb_store_user_get_by_id(st, u.id, &got, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(got.username, "old");
	fb_store_user_cleanup(&got);
	fb_store_close(st);
	CU_ASSERT_EQUAL(fb_store_check(&c, &v, &err), FB_OK);
	CU_ASSERT_EQUAL(v, fb_store_schema_latest());
	free(u.id);
	free(dsn);
}

/* Rows come in byte order (as from SQLite) whatever the database's collation. */
static void
test_pg_export_order(void)
{
	char *sql = fb_xasprintf("CREATE DATABASE fbu_icu_%ld TEMPLATE template0 ENCODING 'UTF8'"
				 " LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
	    (long)getpid());
	char *dsn = fb_xasprintf("%s dbname=fbu_icu_%ld", pg_admin, (long)getpid());
	struct fb_conf c = pg_conf(dsn);
	const char *const names[] = {"carol", "alice", "Bob"};
	struct fb_store *st;
	json_t *dump, *users;
	struct fb_err err;

	CU_ASSERT_FATAL(pg_exec_at(pg_admin, sql));
	st = open_ok(&c);
	for (size_t i = 0; i < 3; i++) {
		struct fb_store_user u = {.username = (char *)names[i], .source = (char *)"local",
		    .active = 1};

		fb_err_clear(&err);
		CU_ASSERT_EQUAL(fb_store_user_upsert(st, &u, &err), FB_OK);
		free(u.id);
	}
	/* The database itself sorts as English does: alice first. */
	CU_ASSERT_EQUAL(pg_int_at(dsn, "SELECT ((SELECT username FROM users ORDER BY username"
				       " LIMIT 1) = 'alice')::int"),
	    1);
	dump = store_dump(st);
	users = json_object_get(dump, "users");
	CU_ASSERT_EQUAL_FATAL(json_array_size(users), 3);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_array_get(users, 0), 1)), "Bob");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_array_get(users, 1), 1)),
	    "alice");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_array_get(users, 2), 1)),
	    "carol");
	json_decref(dump);
	fb_store_close(st);
	free(dsn);
	free(sql);
}

/* A schema newer than this binary: refused at open and by check-config, left as it is. */
static void
test_pg_newer_schema(void)
{
	char *dir;
	const char *dsn;
	struct fb_store *st = pg_store_new(&dir, &dsn);
	struct fb_conf c = pg_conf(dsn);
	struct fb_err err;
	char want[128];

	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "keep", "v", 1, fb_time_now() + 600, &err), FB_OK);
	fb_store_close(st);
	CU_ASSERT_TRUE(pg_exec_at(dsn, "UPDATE fedbroker_schema SET version = 99"));
	snprintf(want, sizeof(want), "schema version 99 is newer than this fedbroker (%d)",
	    fb_store_schema_latest());
	pg_open_fails(&c, FB_ERR_CONFIG, want, NULL);
	CU_ASSERT_EQUAL(pg_int_at(dsn, "SELECT version FROM fedbroker_schema"), 99);
	CU_ASSERT_EQUAL(pg_int_at(dsn, "SELECT count(*) FROM kv WHERE key = 'keep'"), 1);
	fb_test_rmtree(dir);
	free(dir);
}

/* Text that is not UTF-8 (PostgreSQL refuses it) is bad input, not an outage. */
static void
test_pg_not_utf8(void)
{
	char *dir;
	const char *dsn;
	struct fb_store *st = pg_store_new(&dir, &dsn);
	unsigned char *v = NULL;
	size_t n = 0;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", "\xff\xfe", &v, &n, &err), FB_ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "kv_get: a text value is not valid UTF-8");
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "\xc3(", "v", 1, fb_time_now() + 60, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_ping(st, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "caf\xc3\xa9", "v", 1, fb_time_now() + 60, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_take(st, "otc", "caf\xc3\xa9", &v, &n, &err), FB_OK);
	free(v);
	store_done(st, dir);
}

/* Wrong password, unreachable server, not a DSN, a remote server without verify-full. */
static void
test_pg_bad_dsn(void)
{
	char *dsn = fb_xasprintf("%s password=WrongSecret-4711", pg_admin);
	struct fb_conf c = pg_conf(dsn);

	pg_open_fails(&c, FB_ERR_IO, "password authentication failed", "WrongSecret-4711");
	pg_open_fails(&c, FB_ERR_IO, "cannot connect to postgres://fbadmin@127.0.0.1:", NULL);
	free(dsn);
	c.store_dsn = (char *)"host=127.0.0.1 port=1 user=ann password=Pw-Secret-1 dbname=fb";
	pg_open_fails(&c, FB_ERR_IO, "cannot connect to postgres://ann@127.0.0.1:1/fb", "Pw-Secret-1");
	c.store_dsn = (char *)"this is not=a dsn 'at all";
	pg_open_fails(&c, FB_ERR_CONFIG, "store.dsn: not a PostgreSQL connection string", "at all");
	c.store_dsn = (char *)"host=db.example.org sslmode=require user=ann password=Pw-Secret-1";
	pg_open_fails(&c, FB_ERR_CONFIG,
	    "sslmode=require does not verify the server db.example.org; a server that is not on "
	    "this machine needs sslmode=verify-full",
	    "Pw-Secret-1");
	c.store_dsn = (char *)"postgresql://ann:Pw-Secret-1@db.example.org/fb?sslmode=prefer";
	pg_open_fails(&c, FB_ERR_CONFIG, "sslmode=prefer does not verify", "Pw-Secret-1");
	c.store_dsn = NULL;
	pg_open_fails(&c, FB_ERR_CONFIG, "store.dsn: not set", NULL);
}

/* TLS to a server named pg.test: verified with store.tls_ca, refused with another CA. */
static void
test_pg_tls(void)
{
	char *dir;
	const char *dsn;
	struct fb_store *st = pg_store_new(&dir, &dsn), *st2;
	char *remote = fb_xasprintf("%s host=pg.test hostaddr=127.0.0.1", dsn);
	char *other = fb_xasprintf("%s/other-ca.crt", pg_dir != NULL ? pg_dir : "/nonexistent");
	char *plain = fb_xasprintf("%s sslmode=disable", dsn);
	struct fb_conf c = pg_conf(remote);

	fb_store_close(st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pg_ca);
	c.store_tls_ca = pg_ca;
	st2 = open_ok(&c);
	CU_ASSERT_EQUAL(pg_int_at(pg_admin, "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a"
					    " USING (pid) WHERE a.application_name = 'fedbroker'"
					    " AND s.ssl"),
	    1);
	fb_store_close(st2);
	if (pg_dir != NULL) {
		c.store_tls_ca = other;
		pg_open_fails(&c, FB_ERR_IO, "certificate verify failed", NULL);
	}
	/* Loopback may go without TLS. */
	c = pg_conf(plain);
	st2 = open_ok(&c);
	fb_store_close(st2);
	free(remote);
	free(other);
	free(plain);
	fb_test_rmtree(dir);
	free(dir);
}

/* A server older than PostgreSQL 13 (a stand-in speaking the start-up protocol). */
static void
test_pg_old_server(void)
{
	int in[2], out[2], port = 0, status;
	char line[128], *dsn;
	struct fb_conf c;
	FILE *f;
	pid_t pid;

	CU_ASSERT_FATAL(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execlp("python3", "python3", FB_SRCDIR "/tests/pgtest.py", "oldserver", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f = fdopen(out[0], "r");
	if (f != NULL && fgets(line, sizeof(line), f) != NULL && strncmp(line, "port ", 5) == 0)
		port = (int)strtol(line + 5, NULL, 10);
	CU_ASSERT_FATAL(port > 0);
	dsn = fb_xasprintf("host=127.0.0.1 port=%d user=ann password=Pw-Secret-1 dbname=fb", port);
	c = pg_conf(dsn);
	pg_open_fails(&c, FB_ERR_CONFIG,
	    "PostgreSQL server version 9.6.24 is too old; fedbroker needs PostgreSQL 13 or later",
	    "Pw-Secret-1");
	close(in[1]);
	fclose(f);
	waitpid(pid, &status, 0);
	free(dsn);
}

/* What the hook does in the test running: its target, and what it saw. */
/*
 * Statements an import runs one by one (through pg_exec), in
 * import_statements; at the first, when import_lock_dsn is set, another
 * connection locks users against writes for 0.4 s (import_lock).
 */
static int import_statements;
static const char *import_lock_dsn;
static PGconn *import_lock;

static void
count_import(const char *what, int n, int backend_pid)
{
	PGresult *r;

	(void)n;
	(void)backend_pid;
	if (strncmp(what, "import", 6) != 0)
		return;
	if (import_statements++ == 0 && import_lock_dsn != NULL) {
		import_lock = PQconnectdb(import_lock_dsn);
		PQclear(PQexec(import_lock, "BEGIN"));
		r = PQexec(import_lock, "LOCK TABLE users IN EXCLUSIVE MODE");
		CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
		CU_ASSERT_EQUAL(PQsendQuery(import_lock, "SELECT pg_sleep(0.4); COMMIT"), 1);
	}
}

/*
 * An import sends each table's rows in one COPY: the statements it runs one
 * by one (the empty checks) do not grow with the rows (one INSERT and one
 * round trip per row before: 29 s for 100,000 users). A COPY carries a
 * whole table, so store.statement_timeout (here 100 ms, while another
 * connection holds a lock on users for 0.4 s) does not bound it.
 */
static void
test_pg_import_copy(void)
{
	char *da, *db;
	const char *dsn;
	struct fb_store *a = store_new(&da), *first = pg_store_new(&db, &dsn), *b;
	struct fb_conf conf = pg_conf(dsn);
	json_t *dump, *users, *creds, *again;
	struct dump_src src;
	struct fb_err err;
	size_t n = 0, ntables;
	PGresult *r;

	conf.store_statement_timeout_ms = 100;
	b = open_ok(&conf);

	fb_store_tables(&ntables);
	store_fill(a);
	dump = store_dump(a);
	users = json_object_get(dump, "users");
	creds = json_object_get(dump, "local_credentials");
	for (int i = 0; i < 500; i++) {
		json_t *u = json_deep_copy(json_array_get(users, 0));
		json_t *c = json_deep_copy(json_array_get(creds, 0));
		char id[32], name[32], full[48];

		/* After every generated id (base64url) in the dump's order. */
		snprintf(id, sizeof(id), "~copy-user-%04d", i);
		snprintf(name, sizeof(name), "copy%04d", i);
		snprintf(full, sizeof(full), "Copy\t%04d\\N\n\r", i); /* COPY's specials */
		json_array_set_new(u, 0, json_string(id));
		json_array_set_new(u, 1, json_string(name));
		json_array_set_new(u, 2, json_string(full));
		json_array_set_new(c, 0, json_string(id));
		json_array_append_new(users, u);
		json_array_append_new(creds, c);
	}
	memset(&src, 0, sizeof(src));
	src.dump = dump;
	fb_err_clear(&err);
	import_statements = 0;
	import_lock_dsn = dsn;
	fb_store_postgres_hook = count_import;
	CU_ASSERT_EQUAL(fb_store_rows_load(b, 1, dump_next, &src, &n, NULL, &err), FB_OK);
	fb_store_postgres_hook = NULL;
	import_lock_dsn = NULL;
	if (err.msg[0] != '\0')
		fprintf(stderr, "rows_load: %s\n", err.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(import_lock);
	while ((r = PQgetResult(import_lock)) != NULL) {
		CU_ASSERT_EQUAL(PQresultStatus(r), PQresultStatus(r) == PGRES_TUPLES_OK
			? PGRES_TUPLES_OK : PGRES_COMMAND_OK);
		PQclear(r);
	}
	PQfinish(import_lock);
	import_lock = NULL;
	/* (the one stored OpenID client of store_fill among them) */
	CU_ASSERT_EQUAL(n, 2 + 1 + 2 + 1 + 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1000);
	CU_ASSERT(import_statements <= (int)ntables);
	again = store_dump(b);
	CU_ASSERT_TRUE(json_equal(dump, again));
	json_decref(again);
	json_decref(dump);
	fb_store_close(b);
	store_done(a, da);
	store_done(first, db);
}

static struct hook_plan {
	const char *what; /* the operation to act in */
	int at;		  /* before its statement number at */
	int fired;	  /* times it acted */
	int seen;	  /* times the operation's statement at ran */
	const char *dsn;  /* the database */
	int terminate;	  /* 1: end the connection; 0: change the counter meanwhile */
	int deadlock;	  /* 1: lock what the operation needs next, wait for what it holds */
	PGconn *other;	  /* the deadlocking connection */
} hook;

/*
 * Deadlock: another connection deletes the session revocations (locking
 * what purge deletes next) and then waits for the key/value rows purge has
 * locked. Its deadlock_timeout is long, so the server ends purge's
 * transaction (40P01); on the run again, it finishes and commits first.
 */
static void
deadlock_step(void)
{
	PGresult *r;

	if (hook.other == NULL) {
		hook.other = PQconnectdb(hook.dsn);
		CU_ASSERT_EQUAL_FATAL(PQstatus(hook.other), CONNECTION_OK);
		r = PQexec(hook.other, "SET deadlock_timeout = '60s'; BEGIN;"
				       " DELETE FROM session_revocations");
		CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
		CU_ASSERT(PQsendQuery(hook.other, "DELETE FROM kv") == 1);
		return;
	}
	while ((r = PQgetResult(hook.other)) != NULL) {
		CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
	}
	PQclear(PQexec(hook.other, "COMMIT"));
	PQfinish(hook.other);
	hook.other = NULL;
}

static void
test_hook(const char *what, int n, int backend_pid)
{
	char sql[128];

	if (strcmp(what, hook.what) != 0)
		return;
	/* The deadlocking connection commits before the run again starts. */
	if (hook.deadlock && hook.fired > 0 && n == 0 && hook.other != NULL) {
		deadlock_step();
		return;
	}
	if (n != hook.at)
		return;
	hook.seen++;
	if (hook.fired > 0)
		return;
	hook.fired++;
	if (hook.deadlock) {
		deadlock_step();
	} else if (hook.terminate) {
		/* Waits until the server process is gone (PostgreSQL 14 and later). */
		snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 10000)", backend_pid);
		CU_ASSERT(pg_exec_at(pg_admin, sql));
	} else {
		CU_ASSERT(pg_exec_at(hook.dsn,
		    "UPDATE kv SET value = '5'::bytea WHERE ns = 'lockout' AND key = 'k'"));
	}
}

/* The connection dropped in the middle of a transaction: nothing written, the next call works. */
static void
test_pg_dropped(void)
{
	char *dir;
	const char *dsn;
	struct fb_store *st = pg_store_new(&dir, &dsn);
	struct fb_store_user u = {.username = (char *)"zed", .source = (char *)"local", .active = 1};
	struct fb_store_user got = {0};
	struct fb_store_cred cr = {.password_hash = (char *)"$argon2id$h", .type = FB_ACCOUNT_INTERNAL};
	struct fb_err err;
	size_t n = 9;

	/* After the user row, before the credentials row. */
	hook = (struct hook_plan){.what = "cred_create", .at = 2, .dsn = dsn, .terminate = 1};
	fb_store_postgres_hook = test_hook;
	CU_ASSERT_EQUAL(fb_store_cred_create(st, &u, &cr, &err), FB_ERR_IO);
	CU_ASSERT_EQUAL(hook.fired, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cred_create: the connection to postgres://"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "was lost"));
	CU_ASSERT_PTR_NULL(strstr(err.msg, "password="));
	free(u.id);
	u.id = NULL;
	/* The next call reconnects; the user was not half-written. */
	CU_ASSERT_EQUAL(fb_store_user_get(st, "zed", &got, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_cred_count(st, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(fb_store_cred_create(st, &u, &cr, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_cred_count(st, &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 1);
	/* Outside a transaction too: a terminated idle connection costs one call. */
	CU_ASSERT_EQUAL(pg_int_at(pg_admin, "SELECT count(pg_terminate_backend(pid, 10000)) FROM"
					    " pg_stat_activity WHERE application_name = 'fedbroker'"),
	    1);
	CU_ASSERT_EQUAL(fb_store_ping(st, &err), FB_ERR_IO);
	CU_ASSERT_EQUAL(fb_store_ping(st, &err), FB_OK);
	fb_store_postgres_hook = NULL;
	free(u.id);
	store_done(st, dir);
}

/* A serialization failure (a concurrent write between read and write) is run again. */
static void
test_pg_retry(void)
{
	char *dir;
	const char *dsn;
	struct fb_store *st = pg_store_new(&dir, &dsn);
	struct fb_err err;
	int64_t count = 0;

	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "lockout", "k", fb_time_now() + 60, &count, &err), FB_OK);
	CU_ASSERT_EQUAL(count, 1);
	/* Before the write (statement 1, after the read): another connection sets 5. */
	hook = (struct hook_plan){.what = "kv_incr", .at = 1, .dsn = dsn};
	fb_store_postgres_hook = test_hook;
	CU_ASSERT_EQUAL(fb_store_kv_incr(st, "lockout", "k", fb_time_now() + 60, &count, &err), FB_OK);
	fb_store_postgres_hook = NULL;
	CU_ASSERT_EQUAL(hook.fired, 1);
	CU_ASSERT_EQUAL(hook.seen, 2); /* the first run failed (40001), the second wrote */
	CU_ASSERT_EQUAL(count, 6);
	store_done(st, dir);
}

/* A deadlock with another connection: the server ends one transaction, which is run again. */
static void
test_pg_deadlock(void)
{
	char *dir;
	const char *dsn;
	struct fb_store *st = pg_store_new(&dir, &dsn);
	struct fb_err err;
	int64_t now = fb_time_now();
	size_t n = 0;

	CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", "old", "v", 1, now - 10, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_session_revoke(st, "sid-old", now - 10, &err), FB_OK);
	/* After purge deleted the key/value rows, before the revocations. */
	hook = (struct hook_plan){.what = "purge", .at = 1, .dsn = dsn, .deadlock = 1};
	fb_store_postgres_hook = test_hook;
	CU_ASSERT_EQUAL(fb_store_kv_purge(st, now, &n, &err), FB_OK);
	fb_store_postgres_hook = NULL;
	CU_ASSERT_EQUAL(hook.fired, 1);
	CU_ASSERT(hook.seen >= 2); /* run again after the deadlock */
	CU_ASSERT_PTR_NULL(hook.other);
	/* The other connection deleted both rows first: nothing was left to purge. */
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(pg_int_at(dsn, "SELECT count(*) FROM kv"), 0);
	store_done(st, dir);
}

/*
 * What one call blocks a worker for, on either backend: measured by the test
 * and (PostgreSQL) by the backend itself, and printed for the record.
 */
static void
test_latency(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	int64_t calls = 0, total = 0, max = 0, c0, t0, m0, us, wall = 0, worst = 0;
	unsigned char *v = NULL;
	size_t n;
	char key[32];
	struct fb_err err;

	fb_store_postgres_stats(st, &c0, &t0, &m0);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		us = fb_time_mono_us();
		CU_ASSERT_EQUAL(fb_store_kv_put(st, "otc", key, "value", 5, fb_time_now() + 60, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(fb_store_kv_get(st, "otc", key, &v, &n, &err), FB_OK);
		us = fb_time_mono_us() - us;
		wall += us;
		worst = us > worst ? us : worst;
		free(v);
	}
	printf("\n    %s kv_put+kv_get: 200 pairs, mean %lld us per call, slowest pair %lld us ",
	    fb_store_driver_name(st), (long long)(wall / 400), (long long)worst);
	/* A round trip on loopback, even on a loaded machine. */
	CU_ASSERT(wall / 400 < 50000);
	fb_store_postgres_stats(st, &calls, &total, &max);
	if (use_pg) {
		/* The backend's own account agrees: every call counted, no more time than spent. */
		CU_ASSERT_EQUAL(calls - c0, 400);
		CU_ASSERT(total - t0 <= wall);
		CU_ASSERT(max > 0 && max <= worst);
	} else {
		CU_ASSERT_EQUAL(calls, 0);
	}
	store_done(st, dir);
}

/* ---- SCIM push ------------------------------------------------------------ */

static void
scim_user(struct fb_store *st, struct fb_store_user *u, const char *username, int active)
{
	struct fb_err err;

	memset(u, 0, sizeof(*u));
	u->username = (char *)username;
	u->name = (char *)"Ann Example";
	u->email = fb_xasprintf("%s@example.com", username);
	u->source = (char *)"local";
	u->active = active;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, u, &err), FB_OK);
}

/* Every change to a user or a group membership reaches the outbox, once per object. */
static void
test_scim_outbox(void)
{
	static const char *const g1[] = {"admins", "dev"};
	static const char *const g2[] = {"dev"};
	char *dir = fb_test_tmpdir(), *path, *str, *ann_id, *bob_id;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store_upstream_signin in = {"corp", "iss", "sub-bob", 0, 0, g1, 2};
	struct fb_store_scim_item *items = NULL, *more = NULL;
	struct fb_store_user ann, bob, bad;
	struct fb_store *st = open_ok(&c);
	size_t n = 0, m = 0, depth, failing;
	struct fb_err err;

	scim_user(st, &ann, "ann", 1);
	scim_user(st, &bob, "bob", 1);
	ann_id = ann.id;
	bob_id = bob.id;
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &bob, &in, &err), FB_OK);
	/* A new target gets everything logged so far, one entry per object, in change order. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 4);
	str = scim_outbox_str(st, "aws");
	CU_ASSERT_PTR_NOT_NULL(strstr(str, "user:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(str, "group:admins"));
	CU_ASSERT_PTR_NOT_NULL(strstr(str, "group:dev"));
	free(str);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);
	/* Another target has its own outbox. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "other", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 4);

	/* A sign-in with the same groups (in another order, one twice) logs nothing. */
	{
		static const char *const again[] = {"dev", "admins", "dev"};
		char **got = NULL;
		size_t ng = 0;

		in.groups = again;
		in.ngroups = 3;
		CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &bob, &in, &err), FB_OK);
		CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
		CU_ASSERT_EQUAL(n, 0);
		CU_ASSERT_EQUAL(fb_store_upstream_groups(st, bob_id, &got, &ng, &err), FB_OK);
		CU_ASSERT_EQUAL(ng, 2);
		for (size_t i = 0; i < ng; i++)
			free(got[i]);
		free(got);
		in.groups = g1;
		in.ngroups = 2;
	}

	/* Writing a user unchanged (a sign-in's last_seen) logs nothing; disabling does. */
	ann.last_seen = 12345;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &ann, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);

	/* A claim leases the due entries to one owner; nobody else gets them meanwhile. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "aws", "host:1", 60, 100, &items, &n, &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_EQUAL(strcmp(items[0].kind, FB_STORE_SCIM_USER), 0);
	CU_ASSERT(items[0].seq < items[1].seq && items[2].seq < items[3].seq);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "aws", "host:2", 60, 100, &more, &m, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(m, 0);
	fb_store_scim_items_free(more, m);

	/* Done removes the entry... */
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].object, ann_id) == 0)
			CU_ASSERT_EQUAL(fb_store_scim_outbox_done(st, "aws", &items[i], "host:1", &err),
			    FB_OK);
	/* ...unless the object changed while it was pushed: then it stays, due again. */
	ann.active = 0;
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &ann, &err), FB_OK);
	in.groups = g2;
	in.ngroups = 1;
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &bob, &in, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT(n >= 2); /* ann, admins (and dev, rewritten by the sign-in) */
	/* Another owner's done or fail does nothing. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_done(st, "aws", &items[3], "host:2", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fail(st, "aws", &items[3], "host:2", 0, "x", &err),
	    FB_OK);
	for (size_t i = 0; i < 4; i++)
		if (strcmp(items[i].object, ann_id) != 0)
			CU_ASSERT_EQUAL(fb_store_scim_outbox_done(st, "aws", &items[i], "host:1", &err),
			    FB_OK);
	fb_store_scim_items_free(items, 4);
	CU_ASSERT_TRUE(scim_outbox_has(st, "aws", "user", ann_id));
	CU_ASSERT_TRUE(scim_outbox_has(st, "aws", "group", "admins"));

	/* A failure keeps the entry with its error, not due before retry_at. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "aws", "host:1", 60, 1, &items, &n, &err),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fail(st, "aws", &items[0], "host:1",
			    fb_time_now() + 3600, "HTTP 400: givenName is missing", &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_depth(st, "aws", &depth, &failing, &err), FB_OK);
	CU_ASSERT(depth >= 2);
	CU_ASSERT_EQUAL(failing, 1);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "aws", "host:1", 60, 1000, &more, &m, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(m, depth - 1);
	for (size_t i = 0; i < m; i++)
		CU_ASSERT_EQUAL(more[i].attempts, 0);
	for (size_t i = 0; i < m; i++)
		CU_ASSERT_NOT_EQUAL(strcmp(more[i].object, items[0].object), 0);
	fb_store_scim_items_free(more, m);
	fb_store_scim_items_free(items, n);

	/* A failed write logs nothing: the change and its log entry are one transaction. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	memset(&bad, 0, sizeof(bad));
	bad.id = bob_id;
	bad.username = (char *)"carol";
	bad.source = (char *)"local";
	CU_ASSERT_EQUAL(fb_store_user_upsert(st, &bad, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 0);

	/* Deleting a user logs the user and the groups it leaves. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "third", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_user_delete(st, "bob", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 2); /* bob, dev */
	CU_ASSERT_TRUE(scim_outbox_has(st, "aws", "user", bob_id));
	CU_ASSERT_TRUE(scim_outbox_has(st, "aws", "group", "dev"));

	/* Queued by hand (a reconcile, a configured group). */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "aws", FB_STORE_SCIM_GROUP, "staff", &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "aws", FB_STORE_SCIM_GROUP, "staff", &err),
	    FB_OK);
	str = scim_outbox_str(st, "aws");
	CU_ASSERT_PTR_NOT_NULL(strstr(str, "group:staff"));
	CU_ASSERT_PTR_NULL(strstr(strstr(str, "group:staff") + 1, "group:staff"));
	free(str);

	/* Added again while claimed: the push's done leaves it for another push. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "fifth", FB_STORE_SCIM_GROUP, "g", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "fifth", "h", 60, 10, &items, &n, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "fifth", FB_STORE_SCIM_GROUP, "g", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_done(st, "fifth", &items[0], "h", &err), FB_OK);
	CU_ASSERT_TRUE(scim_outbox_has(st, "fifth", "group", "g"));
	fb_store_scim_items_free(items, n);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "fifth", "h", 60, 10, &items, &n, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_done(st, "fifth", &items[0], "h", &err), FB_OK);
	CU_ASSERT_FALSE(scim_outbox_has(st, "fifth", "group", "g"));
	fb_store_scim_items_free(items, n);

	/* Released (a clean stop): due again at once, for anyone; another owner cannot. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "sixth", FB_STORE_SCIM_USER, "u", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "sixth", "h", 60, 10, &items, &n, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_release(st, "sixth", &items[0], "other", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "sixth", "k", 60, 10, &more, &m, &err), FB_OK);
	CU_ASSERT_EQUAL(m, 0);
	CU_ASSERT_PTR_NULL(more); /* none claimed: no array to free */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_release(st, "sixth", &items[0], "h", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "sixth", "k", 60, 10, &more, &m, &err), FB_OK);
	CU_ASSERT_EQUAL(m, 1);
	fb_store_scim_items_free(more, m);
	fb_store_scim_items_free(items, n);

	/* A claim counts: an entry claimed again says so (its push may have happened). */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "fourth", FB_STORE_SCIM_USER, "u", &err), FB_OK);
	for (int round = 0; round < 2; round++) {
		CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "fourth", "h", 60, 10, &items, &n, &err),
		    FB_OK);
		CU_ASSERT_EQUAL_FATAL(n, 1);
		CU_ASSERT_EQUAL(items[0].attempts, round);
		CU_ASSERT_EQUAL(fb_store_scim_outbox_fail(st, "fourth", &items[0], "h", 0, "x", &err),
		    FB_OK);
		fb_store_scim_items_free(items, n);
	}

	/* Bad arguments: clear errors, nothing touched. */
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "aws", "role", "x", &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kind"));
	CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "", FB_STORE_SCIM_USER, "x", &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "aws", "o", 0, 1, &items, &n, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "aws", "o", 60, 1001, &items, &n, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_depth(st, "aws", &depth, &failing, &err), FB_OK);
	CU_ASSERT_EQUAL(failing, 1);

	free(ann.email);
	free(bob.email);
	fb_store_user_cleanup(&(struct fb_store_user){.id = ann_id});
	fb_store_user_cleanup(&(struct fb_store_user){.id = bob_id});
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

static int
scim_remote_count(const struct fb_store_scim_remote *rm, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int
scim_user_cat(const struct fb_store_user *u, void *arg)
{
	return scim_name_cat(u->username, arg);
}

/* Remote ids, the membership mirror and the last report. */
static void
test_scim_remote(void)
{
	static const char *const g[] = {"dev"};
	char *dir = fb_test_tmpdir(), *path, *report = NULL, *acc = NULL;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store_scim_remote rm = {(char *)"aws", (char *)"user", (char *)"u1",
	    (char *)"r-1", 1, (char *)"d1", (char *)"{\"userName\":\"a\"}", 0};
	struct fb_store_scim_remote got;
	struct fb_store_upstream_signin in = {"corp", "iss", "sub-a", 0, 0, g, 1};
	struct fb_store_user a, b;
	struct fb_store *st = open_ok(&c);
	int64_t at;
	int ok, count = 0;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_store_scim_remote_get(st, "aws", "user", "u1", &got, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_scim_remote_put(st, &rm, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_remote_get(st, "aws", "user", "u1", &got, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(got.remote_id, "r-1");
	CU_ASSERT_STRING_EQUAL(got.digest, "d1");
	CU_ASSERT_STRING_EQUAL(got.body, "{\"userName\":\"a\"}");
	CU_ASSERT_EQUAL(got.managed, 1);
	CU_ASSERT(got.updated > 0);
	fb_store_scim_remote_cleanup(&got);
	/* Adopted: updated in place. */
	rm.managed = 0;
	rm.digest = NULL;
	rm.body = NULL;
	CU_ASSERT_EQUAL(fb_store_scim_remote_put(st, &rm, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_remote_get(st, "aws", "user", "u1", &got, &err), FB_OK);
	CU_ASSERT_EQUAL(got.managed, 0);
	CU_ASSERT_PTR_NULL(got.digest);
	CU_ASSERT_PTR_NULL(got.body);
	fb_store_scim_remote_cleanup(&got);
	/* One remote id belongs to one object. */
	rm.object = (char *)"u2";
	CU_ASSERT_EQUAL(fb_store_scim_remote_put(st, &rm, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "already"));
	rm.remote_id = (char *)"r-2";
	CU_ASSERT_EQUAL(fb_store_scim_remote_put(st, &rm, &err), FB_OK);
	rm.kind = (char *)"group";
	CU_ASSERT_EQUAL(fb_store_scim_remote_put(st, &rm, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_remote_list(st, "aws", "user", scim_remote_count, &count,
			    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(count, 2);
	CU_ASSERT_EQUAL(fb_store_scim_remote_delete(st, "aws", "user", "u1", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_remote_delete(st, "aws", "user", "u1", &err), FB_OK);
	count = 0;
	CU_ASSERT_EQUAL(fb_store_scim_remote_list(st, "aws", "user", scim_remote_count, &count,
			    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(count, 1);

	CU_ASSERT_EQUAL(fb_store_scim_member_put(st, "aws", "dev", "u2", 1, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_member_put(st, "aws", "dev", "u1", 1, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_member_put(st, "aws", "dev", "u1", 1, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_member_put(st, "aws", "dev", "u3", 0, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_member_list(st, "aws", "dev", scim_name_cat, &acc, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(acc, "m:u1,m:u2");
	free(acc);
	acc = NULL;
	CU_ASSERT_EQUAL(fb_store_scim_member_put(st, "aws", "dev", "u1", 0, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_member_list(st, "aws", "dev", scim_name_cat, &acc, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(acc, "m:u2");
	free(acc);
	acc = NULL;
	/* Many at once (one transaction on SQLite); a bad id writes none of them. */
	{
		const char *const add[] = {"u4", "u5", "u2"}, *const gone[] = {"u5", "u2"};
		const char *const bad[] = {"u6", ""};

		CU_ASSERT_EQUAL(fb_store_scim_members_put(st, "aws", "dev", add, 3, 1, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(fb_store_scim_members_put(st, "aws", "dev", bad, 2, 1, &err),
		    FB_ERR_INVALID);
		CU_ASSERT_EQUAL(fb_store_scim_member_list(st, "aws", "dev", scim_name_cat, &acc,
		                    &err),
		    FB_OK);
		CU_ASSERT_STRING_EQUAL(acc, "m:u2,m:u4,m:u5");
		free(acc);
		acc = NULL;
		CU_ASSERT_EQUAL(fb_store_scim_members_put(st, "aws", "dev", gone, 2, 0, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(fb_store_scim_members_put(st, "aws", "dev", gone, 0, 0, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(fb_store_scim_member_list(st, "aws", "dev", scim_name_cat, &acc,
		                    &err),
		    FB_OK);
		CU_ASSERT_STRING_EQUAL(acc, "m:u4");
		free(acc);
		acc = NULL;
	}

	CU_ASSERT_EQUAL(fb_store_scim_report_get(st, "aws", &at, &ok, &report, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_scim_report_put(st, "aws", 1, "{\"writes\":3}", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_report_put(st, "aws", 0, "{\"writes\":0}", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_report_get(st, "aws", &at, &ok, &report, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(report, "{\"writes\":0}");
	CU_ASSERT_EQUAL(ok, 0);
	CU_ASSERT(at > 0);
	free(report);
	CU_ASSERT_EQUAL(fb_store_scim_report_put(st, "aws", 1, "", &err), FB_ERR_INVALID);

	/* The local members of an upstream group. */
	scim_user(st, &a, "zed", 1);
	scim_user(st, &b, "amy", 1);
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &a, &in, &err), FB_OK);
	in.subject = "sub-b";
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &b, &in, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_group_members(st, "dev", scim_user_cat, &acc, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(acc, "m:amy,m:zed");
	free(acc);
	free(a.email);
	free(b.email);
	fb_store_user_cleanup(&(struct fb_store_user){.id = a.id});
	fb_store_user_cleanup(&(struct fb_store_user){.id = b.id});
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* Each child claims entries and records each in a replay cache: a second claim would show. */
static int
child_scim_claim(struct fb_store *st, int i)
{
	struct fb_store_scim_item *items = NULL;
	char owner[32];
	size_t n = 0;
	int rc = 0;

	snprintf(owner, sizeof(owner), "child:%d", i);
	for (;;) {
		if (fb_store_scim_outbox_claim(st, "aws", owner, 60, 3, &items, &n, NULL) != FB_OK)
			return 2;
		if (n == 0)
			break;
		for (size_t k = 0; k < n && rc == 0; k++) {
			if (fb_store_kv_add(st, "claimed", items[k].object, NULL, 0,
				fb_time_now() + 60, NULL) != FB_OK ||
			    fb_store_scim_outbox_done(st, "aws", &items[k], owner, NULL) != FB_OK)
				rc = 2;
		}
		fb_store_scim_items_free(items, n);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Processes claiming at once never get one entry twice, and together drain the outbox. */
static void
test_scim_claim_race(void)
{
	char *dir = fb_test_tmpdir(), *path, name[32];
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store *st = open_ok(&c);
	size_t depth, failing;
	int counts[4];

	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "g%02d", i);
		CU_ASSERT_EQUAL(fb_store_scim_outbox_add(st, "aws", FB_STORE_SCIM_GROUP, name, NULL),
		    FB_OK);
	}
	fb_store_close(st);
	race(path, child_scim_claim, counts);
	CU_ASSERT_EQUAL(counts[0], NCHILD);
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_depth(st, "aws", &depth, &failing, NULL), FB_OK);
	CU_ASSERT_EQUAL(depth, 0);
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

/* 1 when a session waits for a lock on scim_changes, checked every 10 ms for up to 10 s. */
static int
pg_scim_lock_waited(PGconn *raw)
{
	for (int i = 0; i < 1000; i++) {
		PGresult *r = PQexec(raw, "SELECT 1 FROM pg_locks WHERE NOT granted"
					  " AND relation = 'scim_changes'::regclass");
		int waiting = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;

		PQclear(r);
		if (waiting)
			return 1;
		usleep(10000);
	}
	return 0;
}

/*
 * PostgreSQL hands out sequence values in call order, not commit order: a
 * change whose transaction commits after a later change's is still copied
 * to the outbox (fill waits for it instead of moving its cursor past it).
 */
static void
test_pg_scim_fill_order(void)
{
	char *dsn = pg_fresh();
	struct fb_conf c = pg_conf(dsn);
	struct fb_store *st = open_ok(&c);
	struct fb_store_scim_item *items = NULL;
	struct fb_store_user early, late;
	PGconn *raw = NULL;
	PGresult *r;
	size_t n = 0;
	pid_t pid;
	int status = -1;
	struct fb_err err;

	scim_user(st, &early, "early", 1);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_claim(st, "aws", "t", 60, 10, &items, &n, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_done(st, "aws", &items[0], "t", &err), FB_OK);
	fb_store_scim_items_free(items, n);
	CU_ASSERT_FALSE(scim_outbox_has(st, "aws", "user", early.id));

	/* The early change stays uncommitted while a later one commits. */
	raw = PQconnectdb(dsn);
	CU_ASSERT_FATAL(PQstatus(raw) == CONNECTION_OK);
	PQclear(PQexec(raw, "BEGIN"));
	r = PQexec(raw, "UPDATE users SET name = 'Renamed' WHERE username = 'early'");
	CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	scim_user(st, &late, "late", 1);

	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct fb_store *cs = NULL;

		if (fb_store_open(&c, &cs, NULL) != FB_OK ||
		    fb_store_scim_outbox_fill(cs, "aws", &n, NULL) != FB_OK)
			_exit(2);
		fb_store_close(cs);
		_exit(0);
	}
	/* The fill waits for the open transaction (it does not, without the lock: then it is lost). */
	CU_ASSERT_TRUE(pg_scim_lock_waited(raw));
	PQclear(PQexec(raw, "COMMIT"));
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT_TRUE(scim_outbox_has(st, "aws", "user", late.id));
	CU_ASSERT_TRUE(scim_outbox_has(st, "aws", "user", early.id));

	PQfinish(raw);
	free(early.email);
	free(late.email);
	fb_store_user_cleanup(&(struct fb_store_user){.id = early.id});
	fb_store_user_cleanup(&(struct fb_store_user){.id = late.id});
	fb_store_close(st);
	free(dsn);
}

/* The OpenID provider's codes and refresh tokens: used once; a second use revokes the family. */
static void
test_oidc_grants(void)
{
	char *dir;
	struct fb_store *st = store_new(&dir);
	int64_t now = fb_time_now();
	struct fb_store_oidc_grant code = {(char *)"h-code", FB_STORE_OIDC_CODE, (char *)"fam-1",
	    (char *)"app", (char *)"{\"sub\":\"u-1\"}", now + 60};
	struct fb_store_oidc_grant rt = {(char *)"h-rt1", FB_STORE_OIDC_REFRESH, (char *)"fam-1",
	    (char *)"app", (char *)"{\"sub\":\"u-1\"}", now + 3600};
	struct fb_store_oidc_grant other = {(char *)"h-rt2", FB_STORE_OIDC_REFRESH,
	    (char *)"fam-2", (char *)"app", (char *)"{}", now + 3600};
	struct fb_store_oidc_grant out;
	struct fb_err err;
	int revoked = -1;

	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &code, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &code, &err), FB_ERR_REPLAY);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &other, &err), FB_OK);
	/* A code is not a refresh token. */
	CU_ASSERT_EQUAL(fb_store_oidc_grant_use(st, "h-code", FB_STORE_OIDC_REFRESH, &out, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(out.family);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_use(st, "h-code", FB_STORE_OIDC_CODE, &out, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(out.family, "fam-1");
	CU_ASSERT_STRING_EQUAL(out.client_id, "app");
	CU_ASSERT_STRING_EQUAL(out.data, "{\"sub\":\"u-1\"}");
	CU_ASSERT_EQUAL(out.expires_at, now + 60);
	fb_store_oidc_grant_cleanup(&out);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &rt, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "jti-1", "fam-1", &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 0);
	/* The code replayed: refused, and the family (the refresh token it led to) revoked. */
	CU_ASSERT_EQUAL(fb_store_oidc_grant_use(st, "h-code", FB_STORE_OIDC_CODE, &out, &err),
	    FB_ERR_REPLAY);
	CU_ASSERT_STRING_EQUAL(out.family, "fam-1");
	fb_store_oidc_grant_cleanup(&out);
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "jti-1", "fam-1", &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 1);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_use(st, "h-rt1", FB_STORE_OIDC_REFRESH, &out, &err),
	    FB_ERR_DENIED);
	fb_store_oidc_grant_cleanup(&out);
	/* Another family is untouched. */
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "jti-2", "fam-2", &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 0);
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "jti-2", NULL, &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 0);
	/* Revoked access tokens, until they expire. */
	CU_ASSERT_EQUAL(fb_store_oidc_jti_revoke(st, "jti-2", now + 100, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_jti_revoke(st, "jti-2", now + 10, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "jti-2", NULL, &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 1);
	fb_time_offset = 50;
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "jti-2", NULL, &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 1);
	/* A refresh token used once, then again (reuse): the family goes. */
	CU_ASSERT_EQUAL(fb_store_oidc_grant_use(st, "h-rt2", FB_STORE_OIDC_REFRESH, &out, &err),
	    FB_OK);
	fb_store_oidc_grant_cleanup(&out);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_use(st, "h-rt2", FB_STORE_OIDC_REFRESH, &out, &err),
	    FB_ERR_REPLAY);
	fb_store_oidc_grant_cleanup(&out);
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "x", "fam-2", &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 1);
	/* Expired: gone, then purged. */
	fb_time_offset = 100;
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "jti-2", NULL, &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 0);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &(struct fb_store_oidc_grant){(char *)"h-c2",
	    FB_STORE_OIDC_CODE, (char *)"fam-3", (char *)"app", (char *)"{}", now + 20}, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_use(st, "h-c2", FB_STORE_OIDC_CODE, &out, &err),
	    FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_oidc_family_revoke(st, "fam-3", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "j", "fam-3", &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 1);
	/* Bad input. */
	CU_ASSERT_EQUAL(fb_store_oidc_grant_use(st, "", FB_STORE_OIDC_CODE, &out, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &(struct fb_store_oidc_grant){(char *)"h",
	    FB_STORE_OIDC_CODE, (char *)"", (char *)"app", (char *)"{}", now + 20}, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "family is empty"));
	store_done(st, dir);
}

static int
oidc_client_cat(const struct fb_store_oidc_client *c, void *arg)
{
	char **acc = arg, *next = fb_xasprintf("%s%s;", *acc != NULL ? *acc : "", c->id);

	free(*acc);
	*acc = next;
	return 0;
}

/* OpenID clients kept in the store: added once, listed, removed with their grants revoked. */
static void
test_oidc_clients(void)
{
	char *dir, *acc = NULL;
	struct fb_store *st = store_new(&dir);
	struct fb_store_oidc_client a = {(char *)"web", (char *)"{\"id\":\"web\"}", (char *)"ab12",
	    NULL, 0};
	struct fb_store_oidc_client b = {(char *)"api", (char *)"{\"id\":\"api\"}", NULL,
	    (char *)"{\"keys\":[]}", 0};
	struct fb_store_oidc_client out;
	struct fb_err err;
	int revoked = -1;

	fb_err_clear(&err);
	CU_ASSERT_EQUAL(fb_store_oidc_client_add(st, &a, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_client_add(st, &b, &err), FB_OK);
	/* A taken id: refused, the first one kept. */
	a.spec = (char *)"{\"id\":\"web\",\"type\":\"public\"}";
	CU_ASSERT_EQUAL(fb_store_oidc_client_add(st, &a, &err), FB_ERR_REPLAY);
	CU_ASSERT_EQUAL(fb_store_oidc_client_get(st, "web", &out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out.spec, "{\"id\":\"web\"}");
	CU_ASSERT_STRING_EQUAL(out.secret_hash, "ab12");
	CU_ASSERT_PTR_NULL(out.jwks);
	CU_ASSERT(out.created > 0);
	fb_store_oidc_client_cleanup(&out);
	CU_ASSERT_EQUAL(fb_store_oidc_client_list(st, oidc_client_cat, &acc, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(acc, "api;web;");
	free(acc);
	acc = NULL;
	/* Removing one revokes the families of its grants, not another client's. */
	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &(struct fb_store_oidc_grant){(char *)"h1",
	    FB_STORE_OIDC_REFRESH, (char *)"fam-web", (char *)"web", (char *)"{}",
	    fb_time_now() + 600}, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_grant_add(st, &(struct fb_store_oidc_grant){(char *)"h2",
	    FB_STORE_OIDC_REFRESH, (char *)"fam-api", (char *)"api", (char *)"{}",
	    fb_time_now() + 600}, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_client_remove(st, "web", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "j", "fam-web", &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 1);
	CU_ASSERT_EQUAL(fb_store_oidc_token_revoked(st, "j", "fam-api", &revoked, &err), FB_OK);
	CU_ASSERT_EQUAL(revoked, 0);
	CU_ASSERT_EQUAL(fb_store_oidc_client_get(st, "web", &out, &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_oidc_client_remove(st, "web", &err), FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fb_store_oidc_client_list(st, oidc_client_cat, &acc, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(acc, "api;");
	free(acc);
	/* Bad input. */
	CU_ASSERT_EQUAL(fb_store_oidc_client_add(st,
			    &(struct fb_store_oidc_client){(char *)"", (char *)"{}", NULL, NULL, 0},
			    &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_oidc_client_add(st,
			    &(struct fb_store_oidc_client){(char *)"x", NULL, NULL, NULL, 0}, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_store_oidc_client_get(st, "", &out, &err), FB_ERR_INVALID);
	store_done(st, dir);
}

/* A version 7 store's users and groups are all logged by migration 8 (a new target pushes them). */
static void
test_migrate_v7_v8(void)
{
	static const char *const g[] = {"ops"};
	char *dir = fb_test_tmpdir(), *path, *str;
	struct fb_conf c = conf_at(dir, "fedbroker.db", &path);
	struct fb_store_upstream_signin in = {"corp", "iss", "sub", 0, 0, g, 1};
	struct fb_store_user u;
	struct fb_store *st;
	size_t n;
	struct fb_err err;

	st = open_at_version(&c, 7);
	scim_user(st, &u, "old", 1);
	CU_ASSERT_EQUAL(fb_store_upstream_signin(st, &u, &in, &err), FB_OK);
	fb_store_close(st);
	if (use_pg) {
		CU_ASSERT_EQUAL(pg_int_at(c.store_dsn,
				    "SELECT (to_regclass('scim_outbox') IS NULL)::int"), 1);
	} else {
		CU_ASSERT_FALSE(raw_has_table(path, "scim_outbox"));
	}
	st = open_ok(&c);
	CU_ASSERT_EQUAL(fb_store_schema_version(st), fb_store_schema_latest());
	CU_ASSERT_EQUAL(fb_store_scim_outbox_fill(st, "aws", &n, &err), FB_OK);
	CU_ASSERT_EQUAL(n, 2);
	str = scim_outbox_str(st, "aws");
	CU_ASSERT_PTR_NOT_NULL(strstr(str, "group:ops"));
	free(str);
	free(u.email);
	fb_store_user_cleanup(&(struct fb_store_user){.id = u.id});
	fb_store_close(st);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
}

int
fb_test_store_register(void)
{
	CU_pSuite s = CU_add_suite("store", NULL, NULL);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "open fresh", test_open_fresh) == NULL ||
	    CU_add_test(s, "store path", test_store_path) == NULL ||
	    CU_add_test(s, "open bad paths", test_open_bad_paths) == NULL ||
	    CU_add_test(s, "open not a database", test_open_not_a_database) == NULL ||
	    CU_add_test(s, "open newer schema", test_open_newer_schema) == NULL ||
	    CU_add_test(s, "migration rollback", test_migration_rollback) == NULL ||
	    CU_add_test(s, "migrate 3 to 4", test_migrate_v3_v4) == NULL ||
	    CU_add_test(s, "migrate 4 to 5", test_migrate_v4_v5) == NULL ||
	    CU_add_test(s, "kv milliseconds", test_kv_ms) == NULL ||
	    CU_add_test(s, "migrate 5 to 6, audit log", test_migrate_v5_v6_audit) == NULL ||
	    CU_add_test(s, "kv basic", test_kv_basic) == NULL ||
	    CU_add_test(s, "kv expiry and purge", test_kv_expiry) == NULL ||
	    CU_add_test(s, "kv limits", test_kv_limits) == NULL ||
	    CU_add_test(s, "sessions", test_sessions) == NULL ||
	    CU_add_test(s, "oidc grants", test_oidc_grants) == NULL ||
	    CU_add_test(s, "oidc clients", test_oidc_clients) == NULL ||
	    CU_add_test(s, "users", test_users) == NULL ||
	    CU_add_test(s, "fork races", test_fork_races) == NULL ||
	    CU_add_test(s, "fork foreign handle", test_fork_foreign_handle) == NULL ||
	    CU_add_test(s, "local credentials", test_creds) == NULL ||
	    CU_add_test(s, "migrate 1 to 2", test_migrate_v1_v2) == NULL ||
	    CU_add_test(s, "recovery codes", test_recovery_codes) == NULL ||
	    CU_add_test(s, "API tokens", test_tokens) == NULL ||
	    CU_add_test(s, "kv incr", test_kv_incr) == NULL ||
	    CU_add_test(s, "persistent NameIDs", test_nameids) == NULL ||
	    CU_add_test(s, "fork races local accounts", test_fork_races_local) == NULL ||
	    CU_add_test(s, "once", test_once) == NULL ||
	    CU_add_test(s, "upstream links and groups", test_upstream_links) == NULL ||
	    CU_add_test(s, "a sign-on's reads, one call", test_signon_reads) == NULL ||
	    CU_add_test(s, "migrate 6 to 7, upstream links", test_migrate_v6_v7) == NULL ||
	    CU_add_test(s, "export and import", test_export_import) == NULL ||
	    CU_add_test(s, "import refused", test_import_refused) == NULL ||
	    CU_add_test(s, "open unmigrated", test_open_unmigrated) == NULL ||
	    CU_add_test(s, "open with store.migrate manual", test_open_manual_migrate) == NULL ||
	    CU_add_test(s, "rows of a foreign table", test_rows_foreign_table) == NULL ||
	    CU_add_test(s, "a backend without export ops", test_rows_no_ops) == NULL ||
	    CU_add_test(s, "export reads one snapshot", test_export_snapshot) == NULL ||
	    CU_add_test(s, "scim outbox", test_scim_outbox) == NULL ||
	    CU_add_test(s, "scim remote ids, members, reports", test_scim_remote) == NULL ||
	    CU_add_test(s, "scim claim race", test_scim_claim_race) == NULL ||
	    CU_add_test(s, "migrate 7 to 8, scim", test_migrate_v7_v8) == NULL ||
	    CU_add_test(s, "latency", test_latency) == NULL)
		return -1;
	/*
	 * The same API on PostgreSQL. Not here, as they are about SQLite's
	 * files: open fresh, store path, open bad paths, not a database, the
	 * SQLite migrations (PostgreSQL has its own tests below).
	 */
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} both[] = {
	    {"kv basic", test_kv_basic},
	    {"oidc grants", test_oidc_grants},
	    {"oidc clients", test_oidc_clients},
	    {"kv expiry and purge", test_kv_expiry},
	    {"kv limits, statement timeout", test_kv_limits},
	    {"kv milliseconds", test_kv_ms},
	    {"sessions", test_sessions},
	    {"users", test_users},
	    {"fork races, migrate once", test_fork_races},
	    {"fork foreign handle", test_fork_foreign_handle},
	    {"local credentials", test_creds},
	    {"recovery codes", test_recovery_codes},
	    {"API tokens", test_tokens},
	    {"kv incr", test_kv_incr},
	    {"persistent NameIDs", test_nameids},
	    {"fork races local accounts", test_fork_races_local},
	    {"once", test_once},
	    {"upstream links and groups", test_upstream_links},
	    {"a sign-on's reads, one call", test_signon_reads},
	    {"export and import", test_export_import},
	    {"import refused", test_import_refused},
	    {"open unmigrated", test_open_unmigrated},
	    {"open with store.migrate manual", test_open_manual_migrate},
	    {"rows of a foreign table", test_rows_foreign_table},
	    {"a backend without export ops", test_rows_no_ops},
	    {"export reads one snapshot", test_export_snapshot},
	    {"scim outbox", test_scim_outbox},
	    {"scim remote ids, members, reports", test_scim_remote},
	    {"scim claim race", test_scim_claim_race},
	    {"migrate 7 to 8, scim", test_migrate_v7_v8},
	    {"scim fill waits for changes not yet committed", test_pg_scim_fill_order},
	    {"migrate", test_pg_migrate},
	    {"export in byte order", test_pg_export_order},
	    {"newer schema", test_pg_newer_schema},
	    {"bad DSN, wrong password", test_pg_bad_dsn},
	    {"text not UTF-8", test_pg_not_utf8},
	    {"TLS verify-full", test_pg_tls},
	    {"server too old", test_pg_old_server},
	    {"connection dropped", test_pg_dropped},
	    {"serialization failure retried", test_pg_retry},
	    {"deadlock retried", test_pg_deadlock},
	    {"import by COPY", test_pg_import_copy},
	    {"latency", test_latency},
	};
	if ((s = CU_add_suite("store-pg", pg_suite_init, pg_suite_cleanup)) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++)
		if (CU_add_test(s, both[i].name, both[i].fn) == NULL)
			return -1;
	return 0;
}
