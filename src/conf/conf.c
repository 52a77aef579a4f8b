/* SPDX-License-Identifier: Apache-2.0 */
/* conf/conf.c: loading (file, text, defaults, command line), the report, secrets, freeing. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "conf/internal.h"

/* ---- the report ---------------------------------------------------------- */

size_t
fb_conf_report_count(const struct fb_conf_report *rep)
{
	return rep != NULL ? rep->n : 0;
}

const char *
fb_conf_report_line(const struct fb_conf_report *rep, size_t i)
{
	return rep != NULL && i < rep->n ? rep->e[i].text : NULL;
}

int
fb_conf_report_is_error(const struct fb_conf_report *rep, size_t i)
{
	return rep != NULL && i < rep->n ? rep->e[i].is_error : 0;
}

size_t
fb_conf_report_errors(const struct fb_conf_report *rep)
{
	return rep != NULL ? rep->nerrors : 0;
}

size_t
fb_conf_report_warnings(const struct fb_conf_report *rep)
{
	return rep != NULL ? rep->nwarnings : 0;
}

void
fb_conf_report_free(struct fb_conf_report *rep)
{
	if (rep == NULL)
		return;
	for (size_t i = 0; i < rep->n; i++)
		free(rep->e[i].text);
	free(rep->e);
	free(rep);
}

static void
report_add(struct fb_conf_report *rep, char *text, const struct fb_conf_place *pl, int is_error)
{
	struct fb_conf_report_entry *e;

	if (is_error)
		rep->nerrors++;
	else
		rep->nwarnings++;
	if (rep->n == FB_CONF_MAX_REPORT) {
		rep->dropped++;
		free(text);
		return;
	}
	rep->e = fb_xrealloc(rep->e, (rep->n + 1) * sizeof(*rep->e));
	e = &rep->e[rep->n];
	e->text = text;
	e->line = pl != NULL && pl->origin == FB_CONF_FILE ? pl->line : 0;
	e->col = pl != NULL && pl->origin == FB_CONF_FILE ? pl->col : 0;
	e->seq = rep->n++;
	e->is_error = is_error != 0;
}

/* File order; problems without a position last, each group in discovery order. */
static int
entry_cmp(const void *a, const void *b)
{
	const struct fb_conf_report_entry *x = a, *y = b;

	if ((x->line == 0) != (y->line == 0))
		return x->line == 0 ? 1 : -1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts the report and replaces the last kept line by a count of those not shown. */
static void
report_finish(struct fb_conf_report *rep, const char *name)
{
	if (rep->n > 1)
		qsort(rep->e, rep->n, sizeof(*rep->e), entry_cmp);
	if (rep->dropped == 0 || rep->n == 0)
		return;
	free(rep->e[rep->n - 1].text);
	rep->e[rep->n - 1].text =
	    fb_xasprintf("%s: %zu more problems not shown", name, rep->dropped + 1);
}

void
fb_conf_problem(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    int is_error, const char *fmt, ...)
{
	const char *warn = is_error ? "" : "warning: ";
	enum fb_conf_origin origin = pl != NULL ? pl->origin : FB_CONF_NOWHERE;
	char *msg, *line, *where;
	va_list ap;

	va_start(ap, fmt);
	msg = fb_xvasprintf(fmt, ap);
	va_end(ap);
	if (origin == FB_CONF_FILE)
		where = fb_xasprintf("%s:%ld:%ld", ctx->name, pl->line, pl->col);
	else if (origin == FB_CONF_CMDLINE)
		where = fb_xstrdup("(command line)");
	else
		where = fb_xstrdup(ctx->name);
	if (path != NULL)
		line = fb_xasprintf("%s: %s: %s%s", where, path, warn, msg);
	else
		line = fb_xasprintf("%s: %s%s", where, warn, msg);
	/* One problem, one line: values quoted in messages may hold control characters. */
	for (char *p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	free(where);
	free(msg);
	report_add(ctx->rep, line, pl, is_error);
}

void
fb_conf_report_add(struct fb_conf_report *rep, const struct fb_conf *conf, const char *path,
    int is_error, const char *message)
{
	struct fb_conf_ctx ctx = {0};
	struct fb_conf_place pl = {0};
	char *p;

	if (rep == NULL)
		return;
	if (conf == NULL || path == NULL) {
		report_add(rep, fb_xstrdup(message), NULL, is_error);
		return;
	}
	ctx.name = conf->path;
	ctx.valpos = conf->places;
	ctx.rep = rep;
	/* The value's place, or that of the nearest enclosing key the file has. */
	p = fb_xstrdup(path);
	for (;;) {
		char *cut;

		fb_conf_place_of(&ctx, p, &pl);
		if (pl.origin != FB_CONF_NOWHERE)
			break;
		cut = strrchr(p, '.');
		if (strrchr(p, '[') != NULL && (cut == NULL || strrchr(p, '[') > cut))
			cut = strrchr(p, '[');
		if (cut == NULL)
			break;
		*cut = '\0';
	}
	free(p);
	fb_conf_problem(&ctx, &pl, path, is_error, "%s", message);
}

/* ---- places -------------------------------------------------------------- */

void
fb_conf_place_record(json_t *map, const char *path, const struct fb_conf_place *pl)
{
	json_int_t packed;

	if (pl->origin == FB_CONF_CMDLINE) {
		json_object_set_new(map, path, json_integer(-1));
		return;
	}
	/* The first place wins: a later one can only come from a refused duplicate. */
	if (pl->origin != FB_CONF_FILE || json_object_get(map, path) != NULL)
		return;
	packed = ((json_int_t)pl->line << 32) | (json_int_t)(pl->col & 0xffffffff);
	json_object_set_new(map, path, json_integer(packed));
}

static void
place_unpack(const json_t *v, struct fb_conf_place *pl)
{
	json_int_t packed;

	memset(pl, 0, sizeof(*pl));
	if (!json_is_integer(v))
		return;
	packed = json_integer_value(v);
	if (packed < 0) {
		pl->origin = FB_CONF_CMDLINE;
		return;
	}
	pl->origin = FB_CONF_FILE;
	pl->line = (long)(packed >> 32);
	pl->col = (long)(packed & 0xffffffff);
}

void
fb_conf_place_of(const struct fb_conf_ctx *ctx, const char *path, struct fb_conf_place *pl)
{
	place_unpack(json_object_get(ctx->valpos, path), pl);
}

void
fb_conf_key_place_of(const struct fb_conf_ctx *ctx, const char *path, struct fb_conf_place *pl)
{
	place_unpack(json_object_get(ctx->keypos, path), pl);
	if (pl->origin == FB_CONF_NOWHERE)
		fb_conf_place_of(ctx, path, pl);
}

int
fb_conf_is_set(const struct fb_conf_ctx *ctx, const char *path)
{
	return json_object_get(ctx->valpos, path) != NULL;
}

/* ---- paths and secrets ---------------------------------------------------- */

char *
fb_conf_path_join(const char *basedir, const char *path)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (path[0] == '/' || basedir == NULL)
		return fb_xstrdup(path[0] != '\0' ? path : ".");
	if (path[0] == '\0' || strcmp(path, ".") == 0)
		return fb_xstrdup(basedir);
	return fb_xasprintf("%s%s%s", basedir, basedir[strlen(basedir) - 1] == '/' ? "" : "/",
	    path);
}

/* Reads a secret file: regular, at most FB_CONF_MAX_SECRET bytes, no NUL. */
static enum fb_status
read_secret_file(const char *file, char **out, struct fb_err *err)
{
	char *buf = fb_xmalloc(FB_CONF_MAX_SECRET + 1);
	enum fb_status r = FB_ERR_CONFIG;
	size_t len = 0;
	struct stat st;
	ssize_t got;
	int fd;

	*out = NULL;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		fb_err_set(err, r, "cannot read secret file '%s': %s", file, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fb_err_set(err, r, "secret file '%s' is not a regular file", file);
		goto out;
	}
	while (len <= FB_CONF_MAX_SECRET) {
		got = read(fd, buf + len, FB_CONF_MAX_SECRET + 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fb_err_set(err, r, "cannot read secret file '%s': %s", file,
			    strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > FB_CONF_MAX_SECRET) {
		fb_err_set(err, r, "secret file '%s' is larger than %d bytes", file,
		    FB_CONF_MAX_SECRET);
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		fb_err_set(err, r, "secret file '%s' contains a NUL byte", file);
		goto out;
	}
	/* Files written by editors or echo end with a newline that is not part of the secret. */
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		fb_err_set(err, r, "secret file '%s' is empty", file);
		goto out;
	}
	*out = fb_xstrndup(buf, len);
	r = FB_OK;
out:
	if (fd >= 0)
		close(fd);
	fb_secret_wipe(buf, FB_CONF_MAX_SECRET + 1);
	free(buf);
	return r;
}

enum fb_status
fb_conf_secret_resolve_at(const char *ref, const char *basedir, char **out, struct fb_err *err)
{
	enum fb_status r = FB_ERR_CONFIG;
	char *file = NULL;

	*out = NULL;
	if (strncmp(ref, "env:", 4) == 0) {
		const char *name = ref + 4, *v;
		size_t len = strlen(name);

		if (len == 0 || len > 255 || (name[0] >= '0' && name[0] <= '9') ||
		    strspn(name,
		        "_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != len) {
			fb_err_set(err, r,
			    "'env:%.64s' does not name an environment variable "
			    "(letters, digits, _)",
			    name);
			goto out;
		}
		if ((v = getenv(name)) == NULL) {
			fb_err_set(err, r, "environment variable %s is not set (from env:%s)", name,
			    name);
			goto out;
		}
		if (*v == '\0') {
			fb_err_set(err, r, "environment variable %s is empty (from env:%s)", name,
			    name);
			goto out;
		}
		*out = fb_xstrdup(v);
	} else if (strncmp(ref, "file:", 5) == 0) {
		if (ref[5] == '\0') {
			fb_err_set(err, r, "'file:' needs a path (e.g. file:/run/secrets/name)");
			goto out;
		}
		file = fb_conf_path_join(basedir, ref + 5);
		if ((r = read_secret_file(file, out, err)) != FB_OK)
			goto out;
	} else {
		/*
		 * SECURITY: the value is not repeated: it may be a secret pasted
		 * into the file, and this message goes to terminals and logs.
		 */
		fb_err_set(err, r,
		    "a secret must be given by reference: write env:VARIABLE or "
		    "file:/path/to/file (the value is not shown)");
		goto out;
	}
	fb_log_secret_add(*out);
	r = FB_OK;
out:
	free(file);
	return r;
}

enum fb_status
fb_conf_secret_resolve(const char *ref, char **out, struct fb_err *err)
{
	return fb_conf_secret_resolve_at(ref, NULL, out, err);
}

/* ---- loading --------------------------------------------------------------- */

void
fb_conf_saml_sp_cleanup(struct fb_conf_saml_sp *sp)
{
	free(sp->name);
	free(sp->display_name);
	free(sp->metadata);
	free(sp->entity_id);
	for (size_t i = 0; i < sp->nacs; i++)
		free(sp->acs[i].url);
	free(sp->acs);
	free(sp->slo_url);
	free(sp->certificate);
	free(sp->encryption_certificate);
	free(sp->audience);
	free(sp->nameid_mapping);
	for (size_t i = 0; i < sp->ngroups; i++)
		free(sp->groups[i]);
	free(sp->groups);
	free(sp->relay_state);
	free(sp->signing_key);
	for (size_t i = 0; i < sp->nattributes; i++) {
		free(sp->attributes[i].name);
		free(sp->attributes[i].mapping);
		free(sp->attributes[i].friendly_name);
	}
	free(sp->attributes);
	memset(sp, 0, sizeof(*sp));
}

void
fb_conf_free(struct fb_conf *conf)
{
	if (conf == NULL)
		return;
	free(conf->path);
	for (size_t i = 0; i < conf->nlisten; i++)
		free(conf->listen[i]);
	free(conf->listen);
	for (size_t i = 0; i < conf->ntrusted_proxies; i++)
		free(conf->trusted_proxies[i]);
	free(conf->trusted_proxies);
	free(conf->public_url);
	free(conf->state_dir);
	free(conf->tls_cert);
	free(conf->tls_key);
	free(conf->tls_client_ca);
	free(conf->oidc_mtls_ca_file);
	free(conf->oidc_mtls_header);
	free(conf->store_path);
	free(conf->store_tls_ca);
	fb_secret_free(conf->store_dsn);
	for (size_t i = 0; i < conf->nkeys; i++) {
		free(conf->keys[i].id);
		free(conf->keys[i].key_file);
		free(conf->keys[i].cert_file);
		fb_secret_free(conf->keys[i].passphrase);
	}
	free(conf->keys);
	free(conf->cookie_name);
	for (size_t i = 0; i < conf->ncookie_secrets; i++)
		fb_secret_free(conf->cookie_secrets[i]);
	free(conf->cookie_secrets);
	for (size_t i = 0; i < conf->ngroups; i++) {
		free(conf->groups[i].name);
		json_decref(conf->groups[i].attributes);
		for (size_t j = 0; j < conf->groups[i].nmembers; j++)
			free(conf->groups[i].members[j]);
		free(conf->groups[i].members);
	}
	free(conf->groups);
	fb_secret_free(conf->bootstrap_password);
	fb_secret_free(conf->bootstrap_token);
	free(conf->metrics_listen);
	fb_secret_free(conf->metrics_token);
	free(conf->smtp_host);
	free(conf->smtp_username);
	fb_secret_free(conf->smtp_password);
	free(conf->smtp_from);
	free(conf->org_name);
	free(conf->logo_url);
	free(conf->mappings_dir);
	json_decref(conf->places);
	json_decref(conf->tree);
	free(conf->saml_entity_id);
	for (size_t i = 0; i < conf->nsaml_sps; i++)
		fb_conf_saml_sp_cleanup(&conf->saml_sps[i]);
	free(conf->saml_sps);
	free(conf->saml_sp_entity_id);
	for (size_t i = 0; i < conf->nupstreams; i++)
		fb_conf_upstream_cleanup(&conf->upstreams[i]);
	free(conf->upstreams);
	for (size_t i = 0; i < conf->nscim_targets; i++)
		fb_conf_scim_target_cleanup(&conf->scim_targets[i]);
	free(conf->scim_targets);
	for (size_t i = 0; i < conf->napps; i++)
		fb_conf_app_cleanup(&conf->apps[i]);
	free(conf->apps);
	for (size_t i = 0; i < conf->noidc_clients; i++)
		fb_conf_oidc_client_cleanup(&conf->oidc_clients[i]);
	free(conf->oidc_clients);
	free(conf);
}

static char *
current_dir(void)
{
	char *cwd = getcwd(NULL, 0);
	char *out = fb_xstrdup(cwd != NULL ? cwd : ".");

	free(cwd);
	return out;
}

/* The absolute directory holding file (new). */
static char *
dir_of(const char *file, const char *cwd)
{
	const char *slash = strrchr(file, '/');
	char *dir, *real, *out;

	if (slash == NULL)
		return fb_xstrdup(cwd);
	dir = slash == file ? fb_xstrdup("/") : fb_xstrndup(file, (size_t)(slash - file));
	real = realpath(dir, NULL);
	out = real != NULL ? fb_xstrdup(real) : fb_conf_path_join(cwd, dir);
	free(real);
	free(dir);
	return out;
}

static void
apply_overrides(struct fb_conf_ctx *ctx, const struct fb_conf_overrides *ov)
{
	struct fb_conf_place cmd = {FB_CONF_CMDLINE, 0, 0};
	json_t *v;

	if (ov == NULL)
		return;
	if (ov->listen != NULL) {
		const char *p = ov->listen;

		/* --listen takes one address or several separated by commas. */
		v = json_array();
		for (;;) {
			size_t len = strcspn(p, ",");
			char *path = fb_xasprintf("server.listen[%zu]", json_array_size(v));

			if (json_array_append_new(v, json_stringn(p, len)) != 0)
				fb_conf_problem(ctx, &cmd, "server.listen", 1, "not UTF-8");
			fb_conf_place_record(ctx->valpos, path, &cmd);
			free(path);
			if (p[len] == '\0')
				break;
			p += len + 1;
		}
		fb_conf_place_record(ctx->valpos, "server.listen", &cmd);
		fb_conf_keys_apply(ctx, "server.listen", v, &cmd);
		json_decref(v);
	}
	if (ov->state_dir != NULL) {
		v = json_string(ov->state_dir);
		fb_conf_place_record(ctx->valpos, "server.state_dir", &cmd);
		if (v == NULL)
			fb_conf_problem(ctx, &cmd, "server.state_dir", 1, "the path is not UTF-8");
		else
			fb_conf_keys_apply(ctx, "server.state_dir", v, &cmd);
		json_decref(v);
	}
	if (ov->workers != -1) {
		v = json_integer(ov->workers);
		fb_conf_place_record(ctx->valpos, "server.workers", &cmd);
		fb_conf_keys_apply(ctx, "server.workers", v, &cmd);
		json_decref(v);
	}
}

/*
 * Loads text (NULL: nothing, the defaults) named name; relative paths are
 * resolved against file's directory (file NULL: the working directory).
 * pre is FB_OK, or the failure already reported by the caller (reading).
 */
static enum fb_status
load_text(const char *text, size_t len, const char *name, const char *file,
    const struct fb_conf_overrides *ov, enum fb_status pre, struct fb_conf **out,
    struct fb_conf_report **report, struct fb_conf_report *rep, struct fb_err *err)
{
	struct fb_conf_ctx ctx;
	enum fb_status r = pre != FB_OK ? pre : FB_ERR_CONFIG;
	json_t *root = NULL;
	int parsed = 0;

	*out = NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.name = name;
	ctx.cwd = current_dir();
	ctx.basedir = file != NULL ? dir_of(file, ctx.cwd) : fb_xstrdup(ctx.cwd);
	ctx.keypos = json_object();
	ctx.valpos = json_object();
	ctx.rep = rep;
	ctx.conf = fb_xcalloc(1, sizeof(*ctx.conf));
	ctx.conf->path = fb_xstrdup(file != NULL ? file : name);
	fb_conf_keys_defaults(&ctx);
	if (pre != FB_OK) {
		/* reported by the caller */
	} else if (text == NULL) {
		parsed = 1;
	} else if (len > FB_CONF_MAX_BYTES) {
		fb_conf_problem(&ctx, NULL, NULL, 1, "the file is larger than 1 MiB");
	} else if (fb_conf_yaml_parse(&ctx, text, len, &root) == FB_OK) {
		fb_conf_keys_walk(&ctx, root);
		parsed = 1;
	}
	if (parsed) {
		apply_overrides(&ctx, ov);
		fb_conf_check_all(&ctx);
	}
	report_finish(rep, name);
	if (rep->nerrors > 0) {
		for (size_t i = 0; i < rep->n; i++)
			if (rep->e[i].is_error) {
				fb_err_set(err, r, "%s", rep->e[i].text);
				break;
			}
		goto out;
	}
	*out = ctx.conf;
	ctx.conf->places = json_incref(ctx.valpos);
	ctx.conf->tree = root != NULL ? json_incref(root) : json_object();
	ctx.conf = NULL; /* transferred */
	r = FB_OK;
out:
	if (report != NULL)
		*report = rep;
	else
		fb_conf_report_free(rep);
	fb_conf_free(ctx.conf);
	json_decref(root);
	json_decref(ctx.keypos);
	json_decref(ctx.valpos);
	free(ctx.basedir);
	free(ctx.cwd);
	return r;
}

enum fb_status
fb_conf_load_string(const char *text, size_t len, const char *name,
    const struct fb_conf_overrides *ov, struct fb_conf **out, struct fb_conf_report **report,
    struct fb_err *err)
{
	if (report != NULL)
		*report = NULL;
	return load_text(text != NULL ? text : "", text != NULL ? len : 0,
	    name != NULL ? name : "(string)", NULL, ov, FB_OK, out, report,
	    fb_xcalloc(1, sizeof(struct fb_conf_report)), err);
}

enum fb_status
fb_conf_load(const char *path, const struct fb_conf_overrides *ov, struct fb_conf **out,
    struct fb_conf_report **report, struct fb_err *err)
{
	struct fb_conf_report *rep = fb_xcalloc(1, sizeof(*rep));
	enum fb_status pre = FB_OK, r;
	struct fb_buf b;
	char chunk[8192], *text;
	struct stat st;
	size_t len = 0;
	ssize_t got;
	int fd;

	if (report != NULL)
		*report = NULL;
	if (path == NULL)
		return load_text(NULL, 0, "(built-in)", NULL, ov, FB_OK, out, report, rep, err);
	fb_buf_init(&b, FB_CONF_MAX_BYTES);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0 || fstat(fd, &st) != 0) {
		report_add(rep, fb_xasprintf("%s: cannot read: %s", path, strerror(errno)), NULL,
		    1);
		pre = FB_ERR_IO;
	} else if (!S_ISREG(st.st_mode)) {
		report_add(rep, fb_xasprintf("%s: cannot read: not a regular file", path), NULL, 1);
		pre = FB_ERR_IO;
	}
	while (pre == FB_OK) {
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			report_add(rep, fb_xasprintf("%s: cannot read: %s", path, strerror(errno)),
			    NULL, 1);
			pre = FB_ERR_IO;
		}
		if (got <= 0)
			break;
		/* SECURITY: memory is bounded before parsing. */
		if (fb_buf_add(&b, chunk, (size_t)got, NULL) != FB_OK) {
			report_add(rep, fb_xasprintf("%s: the file is larger than 1 MiB", path),
			    NULL, 1);
			pre = FB_ERR_CONFIG;
		}
		len += (size_t)got;
	}
	if (fd >= 0)
		close(fd);
	text = fb_buf_take(&b);
	r = load_text(pre == FB_OK ? text : NULL, len, path, path, ov, pre, out, report, rep, err);
	free(text);
	return r;
}

int
fb_conf_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n >= 1 && n <= 4096 ? (int)n : 1;
}

int
fb_conf_store_is_shared(const struct fb_conf *conf)
{
	return conf->store_driver == FB_STORE_POSTGRES;
}
