/* SPDX-License-Identifier: Apache-2.0 */
/* daemon/internal.h: what the daemon's files share. */
#ifndef FB_DAEMON_INTERNAL_H
#define FB_DAEMON_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "http/http.h"

/*
 * Everything loaded from one configuration: immutable once loaded; each
 * generation of workers is forked with one, a reload loads another.
 */
struct fb_daemon_runtime {
	struct fb_conf *conf;
	struct fb_keyring *keyring;
	struct fb_sealer *sealer;
	int workers; /* resolved: conf->workers, or the CPU count */
	json_t *rules; /* mappings.dir as read: file name -> text (what a reload compares) */
	/*
	 * Built once by the master (fb_daemon_conf_build) for every worker of
	 * this generation to inherit at the fork, instead of each rebuilding
	 * them (1,000 SPs: about 0.2 s of CPU per worker); NULL when none.
	 */
	struct fb_map_set *maps;
	struct fb_saml_idp *idp;
};

/*
 * fb_daemon_conf_check that keeps what it built, for the master to build
 * once what every worker would otherwise rebuild after the fork: the
 * compiled rules of mappings.dir in *maps and the SAML IdP in *idp (both
 * new, or NULL when there is none or the check found an error; *idp
 * borrows *maps, conf and kr: fb_saml_idp_free it first). maps and idp
 * are both given or both NULL.
 */
struct fb_map_set;
struct fb_saml_idp;
enum fb_status fb_daemon_conf_build(const struct fb_conf *conf, const struct fb_keyring *kr,
    struct fb_conf_report *rep, struct fb_map_set **maps, struct fb_saml_idp **idp,
    struct fb_err *err);

/* mappings.dir's rule files: file name -> text. New object (empty when dir is NULL or unreadable). */
json_t *fb_daemon_rules_snapshot(const char *dir);
/*
 * Logs that the configuration was reloaded (event config_reloaded) with
 * what changed from old to nrt (both borrowed) as fields: the sections of
 * the file, the service providers (by name), the keys (by id, an active
 * key changing counts) and the rule files (by name), each a
 * comma-separated list, absent when nothing changed there.
 */
void fb_daemon_runtime_changes_log(const struct fb_daemon_runtime *old,
    const struct fb_daemon_runtime *nrt, size_t workers);

/*
 * Loads the configuration (path may be NULL; ov borrowed), creates the
 * state directory (0700) when missing, loads keys and the cookie sealer,
 * checks the TLS pair and applies store migrations (open, then close).
 * Report lines are printed on stderr when startup is 1, logged otherwise.
 * New in *out (fb_daemon_runtime_free). On failure err holds the reason
 * (FB_ERR_CONFIG for configuration errors, already reported line by line).
 */
enum fb_status fb_daemon_runtime_load(const char *path, const struct fb_conf_overrides *ov,
    int startup, struct fb_daemon_runtime **out, struct fb_err *err);
/* NULL is a no-op. */
void fb_daemon_runtime_free(struct fb_daemon_runtime *rt);
/* "http://ADDR:PORT, ..." for the listen addresses (new, caller frees). */
char *fb_daemon_runtime_urls(const struct fb_daemon_runtime *rt);

/*
 * Raises the soft descriptor limit (RLIMIT_NOFILE) to the hard one, so the
 * workers' connection caps derive from it. Returns the limit now in force.
 */
uint64_t fb_daemon_nofile_raise(void);

/*
 * Logs a warning when server.public_url names a port people would use
 * directly (an explicit one, or the scheme's on a loopback host) that no
 * listen address uses: links built from it would be dead.
 */
void fb_daemon_public_url_check(const struct fb_conf *conf);

/*
 * A listening TCP socket on "ADDR:PORT" or "[V6]:PORT" with SO_REUSEPORT
 * (several sockets share the port and the kernel balances connections).
 * FB_ERR_IO "cannot listen on ADDR: reason" (err filled).
 */
enum fb_status fb_daemon_listen(const char *addr, int *fd, struct fb_err *err);

/*
 * A worker: serves on fds (borrowed) until SIGTERM/SIGINT, then drains for
 * at most shutdown_timeout; /metrics on metrics_fd alone when it is not -1
 * (metrics.listen). Returns the process exit status.
 */
int fb_daemon_worker_main(const struct fb_daemon_runtime *rt, int slot, const int *fds,
    size_t nfds, int metrics_fd, struct fb_http_metrics *metrics);
/* The jobs process: purges expired store entries until SIGTERM. Exit status. */
int fb_daemon_jobs_main(const struct fb_daemon_runtime *rt);

/*
 * The signals of a process the master forks (a worker, the jobs process).
 * Members are private; zero the struct before _init.
 */
struct fb_daemon_signals {
	struct event *term, *intr;
	sigset_t set;
};
/*
 * On base, SIGTERM and SIGINT call stop(sig, what, arg); SIGHUP is ignored;
 * then SIGTERM, SIGINT, SIGHUP and SIGCHLD, which the master blocks and
 * children inherit blocked, are unblocked. FB_ERR_INTERNAL when libevent
 * cannot watch them (err filled, nothing left to clean up).
 */
enum fb_status fb_daemon_signals_init(struct fb_daemon_signals *s, struct event_base *base,
    void (*stop)(evutil_socket_t, short, void *), void *arg, struct fb_err *err);
/* After the loop ends: blocks them again, so a repeated SIGTERM cannot kill the teardown. */
void fb_daemon_signals_block(struct fb_daemon_signals *s);
/* Frees the events (restoring the default actions); safe on a zeroed struct and twice. */
void fb_daemon_signals_cleanup(struct fb_daemon_signals *s);

#endif
