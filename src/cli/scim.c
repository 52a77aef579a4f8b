/* SPDX-License-Identifier: Apache-2.0 */
/* cli/scim.c: fedbroker scim sync|status: push a SCIM target now, and what the pushes did. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "scim/scim.h"
#include "cli/cli.h"

static const char usage_scim[] =
    "usage: fedbroker scim <command> [options]\n"
    "\n"
    "SCIM 2.0 push to the directories of scim.targets (AWS IAM Identity Center...).\n"
    "The running daemon's jobs process pushes every change by itself; these commands\n"
    "reconcile a target now and show what the pushes did.\n"
    "\n"
    "commands:\n"
    "  sync     bring one target in step now (a full reconcile), or show the plan\n"
    "  status   per target: outbox depth, last sync, objects in error and why\n"
    "\n"
    "'fedbroker scim <command> --help' describes a command.\n";

static const char usage_sync[] =
    "usage: fedbroker scim sync TARGET [--dry-run] [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Reads TARGET's users and groups page by page, compares what it should hold\n"
    "with what it holds and what fedbroker pushed there, and sends what differs:\n"
    "creates, updates, deactivations or deletions (the target's\n"
    "policy), membership adds and removes. Objects fedbroker did not create are\n"
    "never deleted. A second run right after a successful one sends no write.\n"
    "The report (requests, writes, retries, objects in error) is kept in the store\n"
    "and shown by 'fedbroker scim status'. Exit status 1 when an object failed\n"
    "or the target's lists could not be read. The dry run reads only the store.\n"
    "On a terminal a progress bar shows the objects done, the rate and the ETA.\n"
    "\n"
    "      --dry-run        print the plan (creates, updates, membership changes,\n"
    "                       deletions) and change nothing, here or at the target\n"
    "      --json           print a JSON report (or plan) instead of text\n" FB_CLI_HELP_CONFIG
        FB_CLI_HELP_HELP;

static const char usage_status[] =
    "usage: fedbroker scim status [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "For each target of scim.targets: the outbox depth (objects waiting to be\n"
    "pushed), how many of them failed and why, when the target was last seen in\n"
    "step, what the jobs processes sent, and the last sync's report.\n"
    "\n"
    "      --json           print JSON instead of text\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

static int
error_each(const struct fb_store_scim_item *it, void *arg)
{
	if (it->last_error != NULL)
		json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:i}", "kind", it->kind,
		    "object", it->object, "error", it->last_error, "attempts", it->attempts));
	return 0;
}

/* The target's outbox state: depth, failing and the errors. New object. */
static json_t *
outbox_state(struct fb_store *st, const char *target)
{
	json_t *errors = json_array();
	size_t depth = 0, failing = 0;

	fb_store_scim_outbox_depth(st, target, &depth, &failing, NULL);
	fb_store_scim_outbox_list(st, target, error_each, errors, NULL);
	return json_pack("{s:I, s:I, s:o}", "outbox", (json_int_t)depth, "failing",
	    (json_int_t)failing, "errors", errors);
}

static void
print_plan(const char *target, const json_t *plan)
{
	size_t i, counts[6] = {0};
	static const char *const actions[] = {"create", "update", "deactivate", "delete",
	    "add_members", "remove_members"};
	json_t *p;

	json_array_foreach(plan, i, p) {
		const char *action = json_string_value(json_object_get(p, "action"));
		const char *name = json_string_value(json_object_get(p, "name"));

		if (action == NULL) {
			printf("error       %-5s %s: %s\n", json_string_value(json_object_get(p, "kind")),
			    json_string_value(json_object_get(p, "object")),
			    json_string_value(json_object_get(p, "error")));
			continue;
		}
		for (size_t k = 0; k < 6; k++)
			if (strcmp(actions[k], action) == 0)
				counts[k]++;
		printf("%-14s %-5s %s", action, json_string_value(json_object_get(p, "kind")),
		    name != NULL ? name : json_string_value(json_object_get(p, "object")));
		if (json_array_size(json_object_get(p, "changes")) > 0) {
			size_t k;
			json_t *c;

			printf(" (");
			json_array_foreach(json_object_get(p, "changes"), k, c)
				printf("%s%s", k > 0 ? ", " : "", json_string_value(c));
			printf(")");
		}
		if (json_integer_value(json_object_get(p, "members")) > 0)
			printf(" (%lld members)",
			    (long long)json_integer_value(json_object_get(p, "members")));
		printf("\n");
	}
	printf("plan for %s: %zu creates, %zu updates, %zu deactivations, %zu deletions, "
	       "%zu member adds, %zu member removes (nothing was sent)\n",
	    target, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
}

/* On a terminal: objects done of queued, the rate and the time left, at most 4 times a second. */
static void
progress(const struct fb_scim_counts *n, size_t queued, int64_t start_ms, int last)
{
	static int64_t shown;
	int64_t now = fb_time_now_ms(), done = (int64_t)(n->pushed + n->failed);
	double secs = (double)(now - start_ms) / 1000.0, rate = secs > 0 ? (double)done / secs : 0;
	int width = 30, fill;

	if (!last && now - shown < 250)
		return;
	shown = now;
	if (done > (int64_t)queued)
		done = (int64_t)queued;
	fill = queued > 0 ? (int)(width * done / (int64_t)queued) : width;
	fprintf(stderr, "\r[%.*s%*s] %lld/%zu objects, %.0f/s, ETA %.0f s   ", fill,
	    "##############################", width - fill, "", (long long)done, queued, rate,
	    rate > 0 ? (double)((int64_t)queued - done) / rate : 0.0);
	if (last)
		fputc('\n', stderr);
	fflush(stderr);
}

static int
scim_sync(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *target = NULL;
	int json = 0, dry = 0, rc, ok;
	const struct fb_cli_option opts[] = {
	    {"json", 0, NULL, &json},
	    {"dry-run", 0, NULL, &dry},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"scim sync", usage_sync, &co, opts, &target,
	    "missing TARGET (a name of scim.targets)"};
	const struct fb_scim_counts *n;
	struct event_base *base = NULL;
	struct fb_scim *s = NULL;
	json_t *plan = NULL, *report = NULL;
	struct fb_cli_ctx x;
	struct fb_err err;
	size_t queued = 0;
	int64_t start;
	char *text;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if ((base = event_base_new()) == NULL) {
		fb_err_set(&err, FB_ERR_INTERNAL, "event_base_new failed");
		rc = fb_cli_error(&err);
		goto out;
	}
	if (fb_scim_new(x.conf, x.st, base, target, dry ? FB_SCIM_DRY_RUN : 0, &s, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	if (dry) {
		if (fb_scim_plan(s, target, &plan, &err) != FB_OK) {
			rc = fb_cli_error(&err);
			goto out;
		}
		if (json)
			rc = fb_cli_json_print(plan, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		else
			print_plan(target, plan);
		goto out;
	}
	start = fb_time_now_ms();
	if (fb_scim_reconcile(s, target, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	fb_scim_poll(s);
	n = fb_scim_counts(s, target);
	while (!fb_scim_idle(s)) {
		event_base_loop(base, EVLOOP_ONCE);
		if (!json && isatty(STDERR_FILENO))
			progress(n, n->queued, start, 0);
	}
	if (!json && isatty(STDERR_FILENO))
		progress(n, n->queued, start, 1);
	queued = n->queued;
	report = outbox_state(x.st, target);
	ok = json_integer_value(json_object_get(report, "failing")) == 0 && n->error[0] == '\0';
	if (n->error[0] != '\0')
		json_object_set_new(report, "error", json_string(n->error));
	json_object_update_new(report,
	    json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "target", target, "ok", ok,
	        "objects", (json_int_t)queued, "listed", (json_int_t)n->listed, "pushed",
	        (json_int_t)n->pushed, "requests", (json_int_t)n->requests, "writes",
	        (json_int_t)n->writes, "retries", (json_int_t)n->retries, "duration_ms",
	        (json_int_t)(fb_time_now_ms() - start)));
	text = json_dumps(report, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (fb_store_scim_report_put(x.st, target, ok, text, &err) != FB_OK)
		fb_log_err(FB_LOG_WARN, NULL, &err);
	free(text);
	if (json) {
		fb_cli_json_print(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		size_t i;
		json_t *e;

		printf("%s: %s: %zu objects looked at, %llu requests, %llu writes, %llu retries, "
		       "%lld in error\n",
		    target, ok ? "in step" : "NOT in step", queued, (unsigned long long)n->requests,
		    (unsigned long long)n->writes, (unsigned long long)n->retries,
		    (long long)json_integer_value(json_object_get(report, "failing")));
		if (n->error[0] != '\0')
			printf("  target: %s\n", n->error);
		json_array_foreach(json_object_get(report, "errors"), i, e)
			printf("  %s %s: %s\n", json_string_value(json_object_get(e, "kind")),
			    json_string_value(json_object_get(e, "object")),
			    json_string_value(json_object_get(e, "error")));
	}
	rc = ok ? FB_EXIT_OK : FB_EXIT_FAIL;
out:
	json_decref(plan);
	json_decref(report);
	fb_scim_free(s);
	if (base != NULL)
		event_base_free(base);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
scim_status(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	int json = 0, rc;
	const struct fb_cli_option opts[] = {
	    {"json", 0, NULL, &json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"scim status", usage_status, &co, opts, NULL, NULL};
	json_t *all = json_array();
	struct fb_cli_ctx x;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0) {
		json_decref(all);
		return rc;
	}
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK) {
		json_decref(all);
		return rc;
	}
	for (size_t i = 0; i < x.conf->nscim_targets; i++) {
		const struct fb_conf_scim_target *t = &x.conf->scim_targets[i];
		json_t *o = outbox_state(x.st, t->name), *last = json_null();
		struct fb_scim_live live;
		char *report = NULL;
		int64_t at = 0, success;
		int ok = 0;

		if (fb_store_scim_report_get(x.st, t->name, &at, &ok, &report, NULL) == FB_OK) {
			json_t *r = json_loads(report, 0, NULL);

			last = json_pack("{s:I, s:b, s:o}", "at", (json_int_t)at, "ok", ok, "report",
			    r != NULL ? r : json_string(report));
		}
		free(report);
		/* The outbox last seen empty by a jobs process, or a sync by hand in step. */
		fb_scim_live_get(x.st, t->name, &live, NULL);
		success = live.last_success > (ok ? at : 0) ? live.last_success : (ok ? at : 0);
		json_object_set_new(o, "target", json_string(t->name));
		json_object_set_new(o, "url", json_string(t->url));
		json_object_set_new(o, "last_success",
		    success > 0 ? json_integer(success) : json_null());
		json_object_set_new(o, "jobs",
		    json_pack("{s:I, s:I, s:I, s:I}", "processes", (json_int_t)live.processes,
		        "requests", (json_int_t)live.requests, "writes", (json_int_t)live.writes,
		        "retries", (json_int_t)live.retries));
		json_object_set_new(o, "last_sync", last);
		json_array_append_new(all, o);
	}
	if (json) {
		rc = fb_cli_json_print(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		size_t i, k;
		json_t *o, *e;

		if (x.conf->nscim_targets == 0)
			printf("no SCIM target (scim.targets is empty)\n");
		json_array_foreach(all, i, o) {
			json_t *last = json_object_get(o, "last_sync");
			json_t *jobs = json_object_get(o, "jobs");
			char when[40] = "never", ok_at[40] = "never";

			if (json_is_object(last))
				fb_cli_time_format(json_integer_value(json_object_get(last, "at")), when,
				    sizeof(when));
			if (json_is_integer(json_object_get(o, "last_success")))
				fb_cli_time_format(json_integer_value(
				                       json_object_get(o, "last_success")),
				    ok_at, sizeof(ok_at));
			printf("%s (%s): outbox %lld, failing %lld, last success %s, last report "
			       "%s%s\n",
			    json_string_value(json_object_get(o, "target")),
			    json_string_value(json_object_get(o, "url")),
			    (long long)json_integer_value(json_object_get(o, "outbox")),
			    (long long)json_integer_value(json_object_get(o, "failing")), ok_at,
			    when,
			    !json_is_object(last)                       ? ""
			    : json_is_true(json_object_get(last, "ok")) ? " (in step)"
			                                                : " (with errors)");
			if (json_integer_value(json_object_get(jobs, "processes")) > 0)
				printf(
				    "  jobs processes: %lld requests, %lld writes, %lld retries\n",
				    (long long)json_integer_value(
				        json_object_get(jobs, "requests")),
				    (long long)json_integer_value(json_object_get(jobs, "writes")),
				    (long long)json_integer_value(
				        json_object_get(jobs, "retries")));
			json_array_foreach(json_object_get(o, "errors"), k, e)
				printf("  %s %s: %s\n", json_string_value(json_object_get(e, "kind")),
				    json_string_value(json_object_get(e, "object")),
				    json_string_value(json_object_get(e, "error")));
		}
	}
	json_decref(all);
	fb_cli_ctx_close(&x);
	return rc;
}

int
fb_cli_scim(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"sync", scim_sync},
	    {"status", scim_status},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_scim, table);
}
