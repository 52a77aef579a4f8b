/* SPDX-License-Identifier: Apache-2.0 */
/* cli: one file per subcommand; each returns the process exit status. */
#ifndef FB_CLI_CLI_H
#define FB_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"

struct fb_conf;
struct fb_conf_app;
struct fb_store;
struct fb_keyring;
struct fb_saml_idp;
struct fb_saml_sp;

/* Exit statuses shared by every subcommand. */
#define FB_EXIT_OK 0
#define FB_EXIT_FAIL 1	/* the command ran and found a problem */
#define FB_EXIT_USAGE 2 /* bad command line */

int fb_cli_serve(int argc, char **argv);
int fb_cli_check_config(int argc, char **argv);
int fb_cli_keys(int argc, char **argv);
int fb_cli_version(int argc, char **argv);
int fb_cli_map(int argc, char **argv);
int fb_cli_user(int argc, char **argv);
int fb_cli_token(int argc, char **argv);
int fb_cli_audit_cmd(int argc, char **argv);
int fb_cli_scim(int argc, char **argv);
int fb_cli_metadata(int argc, char **argv);
int fb_cli_explain(int argc, char **argv);
int fb_cli_aws(int argc, char **argv);
int fb_cli_store(int argc, char **argv);
int fb_cli_integrate(int argc, char **argv);
/*
 * Checks a store export document (doc, as read with JSON_REJECT_DUPLICATES)
 * before `store import` writes anything: the header, known tables, every
 * row's columns and types, no duplicate keys. FB_ERR_INVALID naming where
 * (a JSON path), never a value. Also the fuzz target tests/fuzz/fuzz_store_import.c.
 */
enum fb_status fb_cli_store_import_check(const json_t *doc, struct fb_err *err);
int fb_cli_oidc(int argc, char **argv);
struct fb_cli_ctx;
struct fb_map_set;
struct fb_oidc_op;
/*
 * The OpenID provider of x (its configuration and keyring, the usable
 * mapping rules of mappings.dir in *maps, clients of the store when x has
 * it open), as a worker builds it: *op and *maps new (fb_oidc_op_free,
 * fb_map_set_free, in that order). The statuses of fb_oidc_op_new.
 */
enum fb_status fb_cli_oidc_op_open(const struct fb_cli_ctx *x, struct fb_oidc_op **op,
    struct fb_map_set **maps, struct fb_err *err);

/* The help lines of the options of struct fb_cli_conf_opts, as every --help prints them. */
#define FB_CLI_HELP_CONFIG                                                                   \
	"  -c, --config FILE    configuration file (default $FEDBROKER_CONFIG, else built-in)\n" \
	"      --state-dir DIR  state directory (overrides server.state_dir)\n"             \
	"      --init           create the state directory or store when it is missing\n"
#define FB_CLI_HELP_HELP "  -h, --help           this help\n"

/* 1 when argv[1..] holds -h or --help (after the subcommand name). */
int fb_cli_wants_help(int argc, char **argv);
/*
 * Prints "fedbroker: <message>" to stderr (and the err's place with FB_DEBUG
 * set). Returns FB_EXIT_FAIL, so a command can `return fb_cli_error(&err);`.
 */
int fb_cli_error(const struct fb_err *err);
/*
 * Prints "fedbroker CMD: <message>" and "(see 'fedbroker CMD --help')" to
 * stderr; cmd is the command as typed ("keys list", "explain"). Returns
 * FB_EXIT_USAGE.
 */
int fb_cli_usage_error(const char *cmd, const char *fmt, ...) FB_PRINTF(2, 3);
/*
 * The configuration file a subcommand uses when --config is absent:
 * $FEDBROKER_CONFIG, else NULL (built-in defaults). Borrowed.
 */
const char *fb_cli_default_config(void);

/* ---- subcommands ------------------------------------------------------------------- */

/* A subcommand of a command: run gets argv[0] = name. */
struct fb_cli_command {
	const char *name; /* NULL ends a table */
	int (*run)(int argc, char **argv);
};

/*
 * Runs the subcommand argv[1] of the command argv[0] ("keys") from table.
 * No subcommand: usage (the command's help) on stderr, FB_EXIT_USAGE;
 * -h, --help or help: usage on stdout, FB_EXIT_OK; an unknown one:
 * "fedbroker CMD: unknown command 'X'" and usage on stderr, FB_EXIT_USAGE.
 * Otherwise the subcommand's exit status. All borrowed.
 */
int fb_cli_dispatch(int argc, char **argv, const char *usage, const struct fb_cli_command *table);

/* ---- options ----------------------------------------------------------------------- */

/* One option a subcommand takes, for fb_cli_args_parse. */
struct fb_cli_option {
	const char *name;   /* long name without "--"; NULL ends a table */
	char letter;	    /* the short form (-c), or 0 */
	const char **value; /* takes an argument, stored here (borrowed from argv); or NULL */
	int *flag;	    /* else: takes none, sets *flag to 1 */
	/*
	 * Both value and flag: repeatable, the i-th argument in value[i] (an
	 * array of FB_CLI_MANY_MAX), *flag counts them (start at 0).
	 */
};
#define FB_CLI_MANY_MAX 64

/* What locates the configuration: --config/-c and --state-dir; and --init. */
struct fb_cli_conf_opts {
	const char *config;    /* NULL: fb_cli_default_config() */
	const char *state_dir; /* NULL: server.state_dir */
	int init;	       /* --init: a missing state directory or store may be created */
};

/* The fb_cli_option rows of struct fb_cli_conf_opts *o. */
#define FB_CLI_OPT_CONFIG(o) {"config", 'c', &(o)->config, NULL}
#define FB_CLI_OPT_STATE_DIR(o) {"state-dir", 0, &(o)->state_dir, NULL}
#define FB_CLI_OPT_INIT(o) {"init", 0, NULL, &(o)->init}

/*
 * What a subcommand's command line holds: its name in messages ("user
 * add"), its --help text, with conf non-NULL the options of struct
 * fb_cli_conf_opts (stored there), its other options, and its operand:
 * with operand non-NULL exactly one is required (missing: the usage error
 * missing), else none. All borrowed.
 */
struct fb_cli_syntax {
	const char *cmd;
	const char *help;
	struct fb_cli_conf_opts *conf;
	const struct fb_cli_option *opts; /* NULL: none beyond conf's */
	const char **operand;
	const char *missing;
};

/*
 * Parses argv (argv[0] is the subcommand) with getopt_long as syntax says;
 * -h/--help prints the help on stdout. Options and operands mix freely.
 * Returns -1 when the command should go on, else the exit status to return
 * (FB_EXIT_OK after the help, FB_EXIT_USAGE after a usage error it printed).
 */
int fb_cli_args_parse(int argc, char **argv, const struct fb_cli_syntax *syntax);

/* ---- what a command works on ------------------------------------------------------- */

/* What fb_cli_ctx_open opens beyond the configuration. */
#define FB_CLI_STORE 0x1u
#define FB_CLI_KEYRING 0x2u
#define FB_CLI_STORE_IF_THERE 0x4u /* the store when it exists, else st stays NULL */

/* The configuration and, as asked for, the store and the signing keys. */
struct fb_cli_ctx {
	struct fb_conf *conf;
	const char *config;	/* the configuration file loaded, NULL for built-in (borrowed) */
	int init;		/* --init was given */
	struct fb_store *st;	/* with FB_CLI_STORE, else NULL */
	struct fb_keyring *kr;	/* with FB_CLI_KEYRING (existing keys only), else NULL */
};

/*
 * Loads the configuration o locates, sets logging to standard error at
 * warn at least (the audit lines of what a command changes; info is noise
 * here), then opens what need asks for. The store must exist unless
 * --init was given (fb_cli_store_check). On failure prints the error,
 * leaves x empty and returns FB_EXIT_FAIL; else FB_EXIT_OK and x is to be
 * closed with fb_cli_ctx_close.
 */
int fb_cli_ctx_open(const struct fb_cli_conf_opts *o, unsigned need, struct fb_cli_ctx *x);
/*
 * FB_OK when path (what: "the store", "the state directory") exists or
 * x->init is set; else FB_ERR_NOTFOUND, and the message names path, the
 * configuration it came from and how to point at the real one: only
 * `fedbroker serve` or --init creates state.
 */
enum fb_status fb_cli_store_check(const struct fb_cli_ctx *x, const char *path, const char *what,
    struct fb_err *err);
/*
 * With the store open (FB_CLI_STORE), every audit line the command writes
 * (account_created, token_created, ...) is also recorded in the store's
 * audit log, actor "cli:" and the user running it, until fb_cli_ctx_close.
 * fb_cli_audit writes one such line (event, fields: borrowed, as for
 * fb_log_event; msg a plain message) for a command that changes something
 * outside the store (keys, files): it opens the store when x has none
 * and the store exists (it never creates one).
 * A failure to record is a warning; the command's result stands.
 */
void fb_cli_audit(struct fb_cli_ctx *x, const char *event, const struct fb_log_field *fields,
    const char *msg);
/* Frees what x holds (an empty or closed x is fine). */
void fb_cli_ctx_close(struct fb_cli_ctx *x);

/*
 * The service provider named name (given as --sp) of idp in *out, borrowed
 * from idp. FB_ERR_NOTFOUND when there is none: the message suggests the
 * nearest configured name.
 */
enum fb_status fb_cli_sp_get(const struct fb_saml_idp *idp, const char *name,
    const struct fb_saml_sp **out, struct fb_err *err);

/*
 * The app named name (given as --app) in conf, borrowed; NULL after
 * printing that there is none, with the nearest configured name.
 */
const struct fb_conf_app *fb_cli_app_get(const struct fb_conf *conf, const char *name);

/* ---- output ------------------------------------------------------------------------ */

/* j (borrowed) on stdout with json_dumps flags and a newline; FB_EXIT_OK or FB_EXIT_FAIL. */
int fb_cli_json_print(const json_t *j, size_t flags);
/* The time t as fb_time_format prints it in UTC, or "never" for 0, into out. */
void fb_cli_time_format(int64_t t, char *out, size_t len);

/*
 * Reads a JSON file ("-": standard input); what names the option in the
 * message printed when it cannot be read or parsed (file:line:column). New in
 * *out; 0, or -1 after printing.
 */
int fb_cli_json_read(const char *path, const char *what, json_t **out);
/* The JSON type of v in words ("an object", "a list", "a number"...), for messages. Static. */
const char *fb_cli_json_kind(const json_t *v);

#endif
