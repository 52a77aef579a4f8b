/* SPDX-License-Identifier: Apache-2.0 */
/* daemon: the process model of `fedbroker serve`: master, workers, jobs, signals, reloads. */
#ifndef FB_DAEMON_DAEMON_H
#define FB_DAEMON_DAEMON_H

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"

/* How often the jobs process purges expired store entries (seconds). */
#define FB_DAEMON_PURGE_INTERVAL 60
/* Restart back-off of a slot whose worker keeps dying: first and largest delay (ms). */
#define FB_DAEMON_BACKOFF_MIN_MS 1000
#define FB_DAEMON_BACKOFF_MAX_MS 10000
/* A worker that lived at least this long (ms) resets its slot's back-off. */
#define FB_DAEMON_STABLE_MS 10000

/*
 * Runs the master until SIGTERM/SIGINT and returns the process exit status
 * (0 after a clean drain, 1 when start-up failed).
 *
 * Start-up, in order; any failure prints "fedbroker: <reason>" (every
 * report line for a configuration error) on stderr, stops children already
 * started and returns 1:
 *   1. fb_conf_load(config_path, ov) (config_path NULL = built-in defaults);
 *   2. the state directory is created (0700) when missing;
 *   3. keys (fb_crypto_keyring_load) and the cookie sealer are loaded;
 *   4. the store is opened once to apply migrations, then closed;
 *   5. one listening socket per (address, worker slot), SO_REUSEPORT, so
 *      the kernel balances connections ("cannot listen on ADDR: reason");
 *   6. logging is set up from the configuration (proc=master);
 *   7. the shared metrics segment is created, N workers (proc=worker.I,
 *      I = 1..N) and one jobs process (proc=jobs) are forked;
 *   8. one line is printed on stdout and logged:
 *        fedbroker listening on http://127.0.0.1:8080 (2 workers)
 *      (https when TLS is configured; one URL per listen address, joined
 *      by ", ").
 *
 * Signals: SIGHUP re-reads config_path with the same overrides; a valid
 * configuration starts a new generation of workers and drains the old one
 * (log "configuration reloaded"), an invalid one is logged line by line
 * and changes nothing (log "reload failed, keeping the running
 * configuration"). SIGTERM/SIGINT drain every child (in-flight requests
 * finish within shutdown_timeout) and return 0 (log "stopped").
 * A worker that dies is logged and restarted in its slot, with back-off.
 */
/*
 * What a loaded configuration names beyond its file, checked by
 * check-config, at start-up and on every reload: every rule of
 * mappings.dir compiles (each failing one a FILE:LINE:COLUMN line), the
 * SAML service providers can be set up (metadata, certificates, AWS's
 * needs; kr NULL when no key was generated yet: key checks skipped).
 * Problems are added to rep (warnings too). FB_ERR_CONFIG, err summing
 * up, when any is an error.
 */
enum fb_status fb_daemon_conf_check(const struct fb_conf *conf, const struct fb_keyring *kr,
    struct fb_conf_report *rep, struct fb_err *err);

int fb_daemon_run(const char *config_path, const struct fb_conf_overrides *ov);

#endif
