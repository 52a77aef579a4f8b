/* SPDX-License-Identifier: Apache-2.0 */
/* store/sqlite.c: the SQLite backend (WAL, one handle per process) and its schema migrations. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/internal.h"
#include "store/store.h"

/* Used when the configuration gives no busy timeout. */
#define DEFAULT_BUSY_MS 5000

/*
 * The schema, one script per version: index i brings user_version i to
 * i + 1. Each runs in one transaction with its version bump. Never edit a
 * released script; append a new one.
 */
static const char *const migrations_v[] = {
	/* 1: key/value with expiry, session revocations, known users. */
	"CREATE TABLE kv ("
	"  ns TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value BLOB NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  PRIMARY KEY (ns, key));"
	"CREATE INDEX kv_expires_at ON kv (expires_at);"
	"CREATE TABLE session_revocations ("
	"  sid TEXT PRIMARY KEY NOT NULL,"
	"  expires_at INTEGER NOT NULL);"
	"CREATE INDEX session_revocations_expires_at ON session_revocations (expires_at);"
	"CREATE TABLE users ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  username TEXT NOT NULL UNIQUE,"
	"  name TEXT,"
	"  email TEXT,"
	"  source TEXT NOT NULL,"
	"  active INTEGER NOT NULL DEFAULT 1,"
	"  created INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL);",
	/*
	 * 2: local accounts: credentials, recovery codes, API tokens. Rows go
	 * with their user (ON DELETE CASCADE; foreign_keys is on).
	 */
	"CREATE TABLE local_credentials ("
	"  user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  password_hash TEXT,"
	"  account_type TEXT NOT NULL CHECK (account_type IN ('internal', 'service')),"
	"  totp_secret TEXT,"
	"  totp_last_step INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  last_login INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE recovery_codes ("
	"  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  code_hash TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  used_at INTEGER,"
	"  PRIMARY KEY (user_id, code_hash));"
	"CREATE TABLE api_tokens ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  secret_hash TEXT NOT NULL,"
	"  description TEXT,"
	"  created INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL DEFAULT 0,"
	"  revoked_at INTEGER);"
	"CREATE INDEX api_tokens_user_id ON api_tokens (user_id);",
	/*
	 * 3: persistent SAML NameIDs, one opaque value per user and service
	 * provider (entity id), gone with the user.
	 */
	"CREATE TABLE saml_nameids ("
	"  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  sp TEXT NOT NULL,"
	"  nameid TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (user_id, sp),"
	"  UNIQUE (sp, nameid));",
	/*
	 * 4: a session generation per local account: sealed sessions carry it
	 * and stop working when it moves (password reset, disabling).
	 */
	"ALTER TABLE local_credentials ADD COLUMN session_gen INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 5: key/value expiry in milliseconds (a lock of 1 s set at .989 s
	 * must not end 11 ms later), and the lock ends the lockout keeps
	 * ("t:" keys, decimal seconds until then) in milliseconds too. A
	 * "never" (INT64_MAX seconds, the bootstrap flag) stays INT64_MAX.
	 */
	"UPDATE kv SET expires_at = CASE WHEN expires_at > 9223372036854775"
	"  THEN 9223372036854775807 ELSE expires_at * 1000 END;"
	"UPDATE kv SET value = CAST(CAST(CAST(CAST(value AS TEXT) AS INTEGER) * 1000 AS TEXT) AS BLOB)"
	"  WHERE ns = 'lockout' AND key LIKE 't:%';",
	/*
	 * 6: the audit log of administrative actions (the command line's),
	 * so that the daemon's operators see who changed what.
	 */
	"CREATE TABLE audit_log ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  event TEXT NOT NULL,"
	"  detail TEXT NOT NULL);",
	/*
	 * 7: upstream identities: links (upstream, issuer, subject) -> user,
	 * and the groups each upstream gave a user at its last sign-in.
	 */
	"CREATE TABLE upstream_links ("
	"  upstream TEXT NOT NULL,"
	"  issuer TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  created INTEGER NOT NULL,"
	"  last_used INTEGER NOT NULL,"
	"  PRIMARY KEY (upstream, issuer, subject));"
	"CREATE INDEX upstream_links_user_id ON upstream_links (user_id);"
	"CREATE TABLE upstream_groups ("
	"  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  upstream TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  PRIMARY KEY (user_id, upstream, name));"
	"CREATE INDEX users_email ON users (email COLLATE NOCASE);",
	/*
	 * 8: SCIM push. scim_changes logs the latest change of each user and
	 * group (membership) from triggers, so the change and its log entry
	 * share a transaction whatever wrote it; each target's drainer copies
	 * the entries past its cursor into its outbox. The outbox holds one
	 * entry per object with a lease (owner, until), so two jobs processes
	 * never push one object at once. scim_remote maps local objects to
	 * the target's ids (managed 0: adopted, never deleted); scim_members
	 * mirrors the memberships pushed; scim_reports keeps the last sync's.
	 */
	"CREATE TABLE scim_changes ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),"
	"  object TEXT NOT NULL,"
	"  UNIQUE (kind, object));"
	"INSERT INTO scim_changes (kind, object) SELECT 'user', id FROM users ORDER BY created, id;"
	"INSERT INTO scim_changes (kind, object)"
	"  SELECT DISTINCT 'group', name FROM upstream_groups ORDER BY name;"
	"CREATE TRIGGER scim_user_insert AFTER INSERT ON users BEGIN"
	"  DELETE FROM scim_changes WHERE kind = 'user' AND object = NEW.id;"
	"  INSERT INTO scim_changes (kind, object) VALUES ('user', NEW.id); END;"
	"CREATE TRIGGER scim_user_update AFTER UPDATE ON users"
	"  WHEN OLD.username IS NOT NEW.username OR OLD.name IS NOT NEW.name"
	"    OR OLD.email IS NOT NEW.email OR OLD.source IS NOT NEW.source"
	"    OR OLD.active IS NOT NEW.active BEGIN"
	"  DELETE FROM scim_changes WHERE kind = 'user' AND object = NEW.id;"
	"  INSERT INTO scim_changes (kind, object) VALUES ('user', NEW.id); END;"
	"CREATE TRIGGER scim_user_delete AFTER DELETE ON users BEGIN"
	"  DELETE FROM scim_changes WHERE kind = 'user' AND object = OLD.id;"
	"  INSERT INTO scim_changes (kind, object) VALUES ('user', OLD.id); END;"
	"CREATE TRIGGER scim_group_insert AFTER INSERT ON upstream_groups BEGIN"
	"  DELETE FROM scim_changes WHERE kind = 'group' AND object = NEW.name;"
	"  INSERT INTO scim_changes (kind, object) VALUES ('group', NEW.name); END;"
	"CREATE TRIGGER scim_group_delete AFTER DELETE ON upstream_groups BEGIN"
	"  DELETE FROM scim_changes WHERE kind = 'group' AND object = OLD.name;"
	"  INSERT INTO scim_changes (kind, object) VALUES ('group', OLD.name); END;"
	"CREATE TABLE scim_cursors ("
	"  target TEXT PRIMARY KEY NOT NULL,"
	"  seq INTEGER NOT NULL);"
	"CREATE TABLE scim_outbox ("
	"  target TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  object TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL,"
	"  last_error TEXT,"
	"  lease_owner TEXT,"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (target, kind, object));"
	"CREATE INDEX scim_outbox_seq ON scim_outbox (target, seq);"
	"CREATE TABLE scim_remote ("
	"  target TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  object TEXT NOT NULL,"
	"  remote_id TEXT NOT NULL,"
	"  managed INTEGER NOT NULL,"
	"  digest TEXT,"
	"  body TEXT,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (target, kind, object),"
	"  UNIQUE (target, kind, remote_id));"
	"CREATE TABLE scim_members ("
	"  target TEXT NOT NULL,"
	"  grp TEXT NOT NULL,"
	"  user_id TEXT NOT NULL,"
	"  PRIMARY KEY (target, grp, user_id));"
	"CREATE TABLE scim_reports ("
	"  target TEXT PRIMARY KEY NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  ok INTEGER NOT NULL,"
	"  report TEXT NOT NULL);"
	"CREATE INDEX upstream_groups_name ON upstream_groups (name);",
	/*
	 * 9: the OpenID provider. oidc_grants holds authorization codes and
	 * refresh tokens by the hash of their value, used once (used_at);
	 * oidc_families groups what one sign-in issued, so a replayed code or
	 * refresh token revokes all of it; oidc_revoked_jti lists revoked
	 * access tokens until they expire.
	 */
	"CREATE TABLE oidc_families ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  client_id TEXT NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  revoked_at INTEGER);"
	"CREATE INDEX oidc_families_expires_at ON oidc_families (expires_at);"
	"CREATE TABLE oidc_grants ("
	"  hash TEXT PRIMARY KEY NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('code', 'refresh')),"
	"  family TEXT NOT NULL,"
	"  client_id TEXT NOT NULL,"
	"  data TEXT NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  used_at INTEGER);"
	"CREATE INDEX oidc_grants_expires_at ON oidc_grants (expires_at);"
	"CREATE TABLE oidc_revoked_jti ("
	"  jti TEXT PRIMARY KEY NOT NULL,"
	"  expires_at INTEGER NOT NULL);"
	"CREATE INDEX oidc_revoked_jti_expires_at ON oidc_revoked_jti (expires_at);",
	/*
	 * 10: the OpenID provider's clients kept in the store (fedbroker oidc
	 * client add): spec holds the oidc.clients[] keys as JSON, the secret
	 * only as its SHA-256, jwks the client's public keys.
	 */
	"CREATE TABLE oidc_clients ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  secret_hash TEXT,"
	"  jwks TEXT,"
	"  created INTEGER NOT NULL);",
};

FB_STATIC const char *const *fb_store_sqlite_migrations = migrations_v;
FB_STATIC size_t fb_store_sqlite_nmigrations = sizeof(migrations_v) / sizeof(migrations_v[0]);

/* The statements kept prepared for the life of a handle. */
enum sq_stmt {
	SQ_BEGIN = 0,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_PING,
	SQ_KV_PUT,
	SQ_KV_ADD,
	SQ_KV_GET,
	SQ_KV_DELETE,
	SQ_KV_PURGE,
	SQ_REV_PURGE,
	SQ_REV_PUT,
	SQ_SESSION_STATE,
	SQ_USER_FIND,
	SQ_USER_INSERT,
	SQ_USER_UPDATE,
	SQ_USER_GET,
	SQ_USER_DELETE,
	SQ_USER_GET_ID,
	SQ_CRED_INSERT,
	SQ_CRED_GET,
	SQ_CRED_PASSWORD,
	SQ_CRED_TOTP,
	SQ_CRED_STEP,
	SQ_CRED_LOGIN,
	SQ_CRED_GEN,
	SQ_CRED_COUNT,
	SQ_RC_DELETE,
	SQ_RC_INSERT,
	SQ_RC_USE,
	SQ_RC_COUNT,
	SQ_TOK_INSERT,
	SQ_TOK_GET,
	SQ_TOK_REVOKE,
	SQ_NAMEID_INSERT,
	SQ_NAMEID_GET,
	SQ_AUDIT_INSERT,
	SQ_LINK_FIND,
	SQ_LINK_INSERT,
	SQ_LINK_TOUCH,
	SQ_GROUPS_DELETE,
	SQ_GROUPS_INSERT,
	SQ_USER_SEEN,
	SQ_USER_PROFILE,
	SQ_USER_EMAIL,
	SQ_SCIM_CURSOR,
	SQ_SCIM_FILL,
	SQ_SCIM_CURSOR_SET,
	SQ_SCIM_ADD,
	SQ_SCIM_CLAIM,
	SQ_SCIM_LEASE,
	SQ_SCIM_DONE,
	SQ_SCIM_RELEASE,
	SQ_SCIM_FAIL,
	SQ_SCIM_DEPTH,
	SQ_SCIM_REMOTE_GET,
	SQ_SCIM_REMOTE_PUT,
	SQ_SCIM_REMOTE_DELETE,
	SQ_SCIM_MEMBER_ADD,
	SQ_SCIM_MEMBER_DELETE,
	SQ_SCIM_REPORT_PUT,
	SQ_SCIM_REPORT_GET,
	SQ_OIDC_FAMILY_PUT,
	SQ_OIDC_GRANT_INSERT,
	SQ_OIDC_GRANT_GET,
	SQ_OIDC_GRANT_USE,
	SQ_OIDC_FAMILY_REVOKE,
	SQ_OIDC_JTI_PUT,
	SQ_OIDC_TOKEN_STATE,
	SQ_OIDC_GRANT_PURGE,
	SQ_OIDC_FAMILY_PURGE,
	SQ_OIDC_JTI_PURGE,
	SQ_OIDC_CLIENT_INSERT,
	SQ_OIDC_CLIENT_GET,
	SQ_OIDC_CLIENT_DELETE,
	SQ_OIDC_CLIENT_FAMILIES_REVOKE,
	SQ_NSTMT,
};

#define USER_COLUMNS "id, username, name, email, source, active, created, last_seen"
#define CRED_COLUMNS                                                                       \
	"user_id, password_hash, account_type, totp_secret, totp_last_step, created, last_login"
#define OIDC_CLIENT_COLUMNS "id, spec, secret_hash, jwks, created"
#define TOKEN_COLUMNS                                                                      \
	"t.id, t.user_id, u.username, t.secret_hash, t.description, t.created, t.expires_at," \
	" t.revoked_at"

static const char *const sq_sql[SQ_NSTMT] = {
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_PING] = "SELECT count(*) FROM sqlite_master",
	[SQ_KV_PUT] = "INSERT INTO kv (ns, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)"
		      " ON CONFLICT (ns, key) DO UPDATE"
		      " SET value = excluded.value, expires_at = excluded.expires_at",
	/* One statement: the conflict check and the write are atomic. */
	[SQ_KV_ADD] = "INSERT INTO kv (ns, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)"
		      " ON CONFLICT (ns, key) DO UPDATE"
		      " SET value = excluded.value, expires_at = excluded.expires_at"
		      " WHERE kv.expires_at <= ?5",
	[SQ_KV_GET] = "SELECT value FROM kv WHERE ns = ?1 AND key = ?2 AND expires_at > ?3",
	[SQ_KV_DELETE] = "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
	[SQ_KV_PURGE] = "DELETE FROM kv WHERE expires_at <= ?1",
	[SQ_REV_PURGE] = "DELETE FROM session_revocations WHERE expires_at <= ?1",
	[SQ_REV_PUT] = "INSERT INTO session_revocations (sid, expires_at) VALUES (?1, ?2)"
		       " ON CONFLICT (sid) DO UPDATE"
		       " SET expires_at = max(expires_at, excluded.expires_at)",
	[SQ_SESSION_STATE] = "SELECT EXISTS (SELECT 1 FROM session_revocations"
	    " WHERE sid = ?1 AND expires_at > ?3),"
	    " (SELECT session_gen FROM local_credentials WHERE user_id = ?2)",
	[SQ_USER_FIND] = "SELECT id, created FROM users WHERE username = ?1",
	[SQ_USER_INSERT] = "INSERT INTO users (" USER_COLUMNS ")"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SQ_USER_UPDATE] = "UPDATE users SET name = ?2, email = ?3, source = ?4, active = ?5,"
			   " last_seen = ?6 WHERE username = ?1",
	[SQ_USER_GET] = "SELECT " USER_COLUMNS " FROM users WHERE username = ?1",
	[SQ_USER_DELETE] = "DELETE FROM users WHERE username = ?1",
	[SQ_USER_GET_ID] = "SELECT " USER_COLUMNS " FROM users WHERE id = ?1",
	[SQ_CRED_INSERT] = "INSERT INTO local_credentials (" CRED_COLUMNS ")"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQ_CRED_GET] = "SELECT " CRED_COLUMNS ", session_gen FROM local_credentials"
			" WHERE user_id = ?1",
	[SQ_CRED_PASSWORD] = "UPDATE local_credentials SET password_hash = ?2 WHERE user_id = ?1",
	[SQ_CRED_TOTP] = "UPDATE local_credentials SET totp_secret = ?2, totp_last_step = ?3"
			 " WHERE user_id = ?1",
	/* SECURITY: the condition and the write are one statement: a step is accepted once. */
	[SQ_CRED_STEP] = "UPDATE local_credentials SET totp_last_step = ?2"
			 " WHERE user_id = ?1 AND totp_secret IS NOT NULL AND totp_last_step < ?2",
	[SQ_CRED_LOGIN] = "UPDATE local_credentials SET last_login = ?2 WHERE user_id = ?1",
	[SQ_CRED_GEN] = "UPDATE local_credentials SET session_gen = session_gen + 1"
			" WHERE user_id = ?1",
	[SQ_CRED_COUNT] = "SELECT count(*) FROM local_credentials",
	[SQ_RC_DELETE] = "DELETE FROM recovery_codes WHERE user_id = ?1",
	[SQ_RC_INSERT] = "INSERT INTO recovery_codes (user_id, code_hash, created)"
			 " VALUES (?1, ?2, ?3)",
	/* SECURITY: one statement, so a code is used once even when workers race. */
	[SQ_RC_USE] = "UPDATE recovery_codes SET used_at = ?3"
		      " WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
	[SQ_RC_COUNT] = "SELECT count(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
	[SQ_TOK_INSERT] = "INSERT INTO api_tokens (id, user_id, secret_hash, description, created,"
			  " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQ_TOK_GET] = "SELECT " TOKEN_COLUMNS " FROM api_tokens t JOIN users u ON u.id = t.user_id"
		       " WHERE t.id = ?1",
	[SQ_TOK_REVOKE] = "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
	/* The first value stored for (user, sp) wins: racing workers all read it back. */
	[SQ_NAMEID_INSERT] = "INSERT INTO saml_nameids (user_id, sp, nameid, created)"
			     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, sp) DO NOTHING",
	[SQ_NAMEID_GET] = "SELECT nameid FROM saml_nameids WHERE user_id = ?1 AND sp = ?2",
	[SQ_AUDIT_INSERT] = "INSERT INTO audit_log (at, actor, event, detail) VALUES (?1, ?2, ?3, ?4)",
	[SQ_LINK_FIND] = "SELECT user_id FROM upstream_links"
			 " WHERE upstream = ?1 AND issuer = ?2 AND subject = ?3",
	[SQ_LINK_INSERT] = "INSERT INTO upstream_links (upstream, issuer, subject, user_id, created,"
			   " last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
	[SQ_LINK_TOUCH] = "UPDATE upstream_links SET last_used = ?4"
			  " WHERE upstream = ?1 AND issuer = ?2 AND subject = ?3",
	[SQ_GROUPS_DELETE] = "DELETE FROM upstream_groups WHERE user_id = ?1 AND upstream = ?2",
	[SQ_GROUPS_INSERT] = "INSERT OR IGNORE INTO upstream_groups (user_id, upstream, name)"
			     " VALUES (?1, ?2, ?3)",
	[SQ_USER_SEEN] = "UPDATE users SET last_seen = ?2 WHERE id = ?1",
	[SQ_USER_PROFILE] = "UPDATE users SET last_seen = ?2, name = ?3, email = ?4 WHERE id = ?1",
	[SQ_USER_EMAIL] = "SELECT " USER_COLUMNS ", count(*) OVER () FROM users"
			  " WHERE email = ?1 COLLATE NOCASE ORDER BY username LIMIT 1",
	[SQ_SCIM_CURSOR] = "SELECT coalesce((SELECT seq FROM scim_cursors WHERE target = ?1), 0),"
			   " (SELECT coalesce(max(seq), 0) FROM scim_changes)",
	/* A newer change of a queued object resets its attempts and makes it due now. */
	[SQ_SCIM_FILL] = "INSERT INTO scim_outbox (target, kind, object, seq, next_at)"
			 " SELECT ?1, kind, object, seq, ?3 FROM scim_changes WHERE seq > ?2"
			 " ORDER BY seq ON CONFLICT (target, kind, object) DO UPDATE"
			 " SET seq = excluded.seq, attempts = 0, next_at = excluded.next_at,"
			 " last_error = NULL",
	[SQ_SCIM_CURSOR_SET] = "INSERT INTO scim_cursors (target, seq) VALUES (?1, ?2)"
			       " ON CONFLICT (target) DO UPDATE SET seq = excluded.seq",
	/*
	 * An entry added by hand stands for the object's latest change (or none
	 * yet); added again, its seq moves on, so a push under way does not take
	 * it away (done matches the seq it claimed).
	 */
	[SQ_SCIM_ADD] = "INSERT INTO scim_outbox (target, kind, object, seq, next_at)"
			" VALUES (?1, ?2, ?3, coalesce((SELECT seq FROM scim_changes"
			" WHERE kind = ?2 AND object = ?3), 0), ?4)"
			" ON CONFLICT (target, kind, object) DO UPDATE"
			" SET seq = scim_outbox.seq + 1, attempts = 0, next_at = excluded.next_at,"
			" last_error = NULL",
	/* Users first: a group pushed after its members needs no PATCH per member. */
	[SQ_SCIM_CLAIM] = "SELECT kind, object, seq, attempts, next_at, last_error FROM scim_outbox"
			  " WHERE target = ?1 AND next_at <= ?2 AND lease_until <= ?2"
			  " ORDER BY kind = 'group', seq LIMIT ?3",
	[SQ_SCIM_LEASE] = "UPDATE scim_outbox SET lease_owner = ?4, lease_until = ?5,"
			  " attempts = attempts + 1"
			  " WHERE target = ?1 AND kind = ?2 AND object = ?3",
	[SQ_SCIM_DONE] = "DELETE FROM scim_outbox WHERE target = ?1 AND kind = ?2 AND object = ?3"
			 " AND lease_owner = ?4 AND seq = ?5",
	[SQ_SCIM_RELEASE] = "UPDATE scim_outbox SET lease_owner = NULL, lease_until = 0"
			    " WHERE target = ?1 AND kind = ?2 AND object = ?3 AND lease_owner = ?4",
	[SQ_SCIM_FAIL] = "UPDATE scim_outbox SET lease_owner = NULL, lease_until = 0,"
			 " next_at = ?5, last_error = ?6"
			 " WHERE target = ?1 AND kind = ?2 AND object = ?3 AND lease_owner = ?4",
	[SQ_SCIM_DEPTH] = "SELECT count(*), count(last_error) FROM scim_outbox WHERE target = ?1",
	[SQ_SCIM_REMOTE_GET] = "SELECT target, kind, object, remote_id, managed, digest, updated, body"
			       " FROM scim_remote WHERE target = ?1 AND kind = ?2 AND object = ?3",
	[SQ_SCIM_REMOTE_PUT] = "INSERT INTO scim_remote (target, kind, object, remote_id, managed,"
			       " digest, updated, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
			       " ON CONFLICT (target, kind, object) DO UPDATE"
			       " SET remote_id = excluded.remote_id, managed = excluded.managed,"
			       " digest = excluded.digest, updated = excluded.updated,"
			       " body = excluded.body",
	/* The remote object is gone: so is what was pushed into it. */
	[SQ_SCIM_REMOTE_DELETE] = "DELETE FROM scim_remote"
				  " WHERE target = ?1 AND kind = ?2 AND object = ?3",
	[SQ_SCIM_MEMBER_ADD] = "INSERT OR IGNORE INTO scim_members (target, grp, user_id)"
			       " VALUES (?1, ?2, ?3)",
	[SQ_SCIM_MEMBER_DELETE] = "DELETE FROM scim_members"
				  " WHERE target = ?1 AND grp = ?2 AND user_id = ?3",
	[SQ_SCIM_REPORT_PUT] = "INSERT INTO scim_reports (target, at, ok, report)"
			       " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (target) DO UPDATE"
			       " SET at = excluded.at, ok = excluded.ok, report = excluded.report",
	[SQ_SCIM_REPORT_GET] = "SELECT at, ok, report FROM scim_reports WHERE target = ?1",
	[SQ_OIDC_FAMILY_PUT] = "INSERT INTO oidc_families (id, client_id, expires_at)"
			       " VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE"
			       " SET expires_at = max(expires_at, excluded.expires_at)",
	[SQ_OIDC_GRANT_INSERT] = "INSERT INTO oidc_grants (hash, kind, family, client_id, data,"
				 " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQ_OIDC_GRANT_GET] = "SELECT g.family, g.client_id, g.data, g.expires_at,"
			      " g.used_at IS NOT NULL, f.revoked_at IS NOT NULL"
			      " FROM oidc_grants g JOIN oidc_families f ON f.id = g.family"
			      " WHERE g.hash = ?1 AND g.kind = ?2 AND g.expires_at > ?3",
	[SQ_OIDC_GRANT_USE] = "UPDATE oidc_grants SET used_at = ?2"
			      " WHERE hash = ?1 AND used_at IS NULL",
	[SQ_OIDC_FAMILY_REVOKE] = "UPDATE oidc_families SET revoked_at = ?2"
				  " WHERE id = ?1 AND revoked_at IS NULL",
	[SQ_OIDC_JTI_PUT] = "INSERT INTO oidc_revoked_jti (jti, expires_at) VALUES (?1, ?2)"
			    " ON CONFLICT (jti) DO UPDATE"
			    " SET expires_at = max(expires_at, excluded.expires_at)",
	[SQ_OIDC_TOKEN_STATE] = "SELECT EXISTS (SELECT 1 FROM oidc_revoked_jti"
				" WHERE jti = ?1 AND expires_at > ?3)"
				" OR EXISTS (SELECT 1 FROM oidc_families"
				" WHERE id = ?2 AND revoked_at IS NOT NULL)",
	[SQ_OIDC_GRANT_PURGE] = "DELETE FROM oidc_grants WHERE expires_at <= ?1",
	[SQ_OIDC_FAMILY_PURGE] = "DELETE FROM oidc_families WHERE expires_at <= ?1",
	[SQ_OIDC_JTI_PURGE] = "DELETE FROM oidc_revoked_jti WHERE expires_at <= ?1",
	[SQ_OIDC_CLIENT_INSERT] = "INSERT INTO oidc_clients (id, spec, secret_hash, jwks, created)"
				  " VALUES (?1, ?2, ?3, ?4, ?5)",
	[SQ_OIDC_CLIENT_GET] = "SELECT " OIDC_CLIENT_COLUMNS " FROM oidc_clients WHERE id = ?1",
	[SQ_OIDC_CLIENT_DELETE] = "DELETE FROM oidc_clients WHERE id = ?1",
	[SQ_OIDC_CLIENT_FAMILIES_REVOKE] = "UPDATE oidc_families SET revoked_at = ?2"
					   " WHERE client_id = ?1 AND revoked_at IS NULL",
};

#define SQ_OIDC_CLIENT_LIST_SQL "SELECT " OIDC_CLIENT_COLUMNS " FROM oidc_clients ORDER BY id"

/* The list query is prepared per call, so a callback may use the cached statements. */
#define SQ_USER_LIST_SQL "SELECT " USER_COLUMNS " FROM users ORDER BY username"
#define SQ_LINK_LIST_SQL                                                                   \
	"SELECT user_id, upstream, issuer, subject, created, last_used FROM upstream_links"    \
	" WHERE user_id = ?1 ORDER BY upstream, issuer, subject"
#define SQ_GROUPS_LIST_SQL                                                                 \
	"SELECT DISTINCT name FROM upstream_groups WHERE user_id = ?1"                         \
	" AND (?2 IS NULL OR upstream = ?2) ORDER BY name"
#define SQ_TOKEN_LIST_SQL                                                                  \
	"SELECT " TOKEN_COLUMNS " FROM api_tokens t JOIN users u ON u.id = t.user_id"        \
	" WHERE ?1 IS NULL OR t.user_id = ?1 ORDER BY t.created, t.id"

#define SQ_SCIM_OUTBOX_LIST_SQL                                                            \
	"SELECT kind, object, seq, attempts, next_at, last_error FROM scim_outbox"             \
	" WHERE target = ?1 ORDER BY seq"
#define SQ_SCIM_REMOTE_LIST_SQL                                                            \
	"SELECT target, kind, object, remote_id, managed, digest, updated, body"               \
	" FROM scim_remote"                                                                    \
	" WHERE target = ?1 AND kind = ?2 ORDER BY object"
#define SQ_SCIM_MEMBER_LIST_SQL                                                            \
	"SELECT user_id FROM scim_members WHERE target = ?1 AND grp = ?2 ORDER BY user_id"
#define SQ_GROUP_MEMBERS_SQL                                                               \
	"SELECT " USER_COLUMNS " FROM users WHERE id IN"                                       \
	" (SELECT user_id FROM upstream_groups WHERE name = ?1) ORDER BY username"

/* The last ?1 records (all when ?1 is -1), oldest first. */
#define SQ_AUDIT_LIST_SQL                                                                  \
	"SELECT id, at, actor, event, detail FROM (SELECT * FROM audit_log ORDER BY id DESC" \
	" LIMIT ?1) ORDER BY id"

/* The backend's state behind st->be. */
struct sq {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[SQ_NSTMT]; /* prepared on first use */
};

static struct sq *
sq_of(struct fb_store *st)
{
	return st->be;
}

/* Fills err with what failed, the path and SQLite's message; returns FB_ERR_IO. */
static enum fb_status
sq_fail(struct sq *sq, const char *what, struct fb_err *err)
{
	return fb_err_set(err, FB_ERR_IO, "%s: %s: %s", what, sq->path, sqlite3_errmsg(sq->db));
}

/* The cached statement id, ready to bind; NULL with err filled on failure. */
static sqlite3_stmt *
sq_stmt(struct sq *sq, enum sq_stmt id, const char *what, struct fb_err *err)
{
	if (sq->stmt[id] == NULL &&
	    sqlite3_prepare_v3(sq->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &sq->stmt[id],
		NULL) != SQLITE_OK) {
		sq_fail(sq, what, err);
		sq->stmt[id] = NULL;
	}
	return sq->stmt[id];
}

/* Makes s reusable and drops its bindings (they may point at the caller's secrets). */
static void
sq_done(sqlite3_stmt *s)
{
	if (s != NULL) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* ---- running statements ------------------------------------------------- */

/* One parameter value, made by sq_text, sq_int or sq_blob; pointers borrowed. */
struct sq_val {
	enum sq_val_type { SQ_VAL_TEXT, SQ_VAL_INT, SQ_VAL_BLOB } type;
	const void *p; /* the text (NULL binds NULL) or the blob */
	size_t len;    /* the blob's length */
	int64_t i;
};

static struct sq_val
sq_text(const char *v)
{
	return (struct sq_val){.type = SQ_VAL_TEXT, .p = v};
}

static struct sq_val
sq_int(int64_t v)
{
	return (struct sq_val){.type = SQ_VAL_INT, .i = v};
}

/* A zero-length value is bound as an empty blob, not NULL. */
static struct sq_val
sq_blob(const void *v, size_t len)
{
	return (struct sq_val){.type = SQ_VAL_BLOB, .p = len != 0 ? v : "", .len = len};
}

/* The values of ?1, ?2, ... as the two arguments (array, count) the runners take. */
#define SQ_VALS(...)                                                                       \
	(const struct sq_val[]){__VA_ARGS__},                                              \
	    sizeof((const struct sq_val[]){__VA_ARGS__}) / sizeof(struct sq_val)

/* Binds v[0..n) to ?1..?n of s (no copies: the values must outlive the step). */
static int
sq_bind(sqlite3_stmt *s, const struct sq_val *v, size_t n)
{
	int rc = SQLITE_OK;

	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		int k = (int)i + 1;

		switch (v[i].type) {
		case SQ_VAL_TEXT:
			rc = v[i].p == NULL ? sqlite3_bind_null(s, k)
					    : sqlite3_bind_text(s, k, v[i].p, -1, SQLITE_STATIC);
			break;
		case SQ_VAL_INT:
			rc = sqlite3_bind_int64(s, k, v[i].i);
			break;
		case SQ_VAL_BLOB:
			rc = sqlite3_bind_blob64(s, k, v[i].p, v[i].len, SQLITE_STATIC);
			break;
		}
	}
	return rc;
}

/* The cached statement id with v bound; NULL with err filled (what) on failure. */
static sqlite3_stmt *
sq_bound(struct sq *sq, enum sq_stmt id, const struct sq_val *v, size_t n, const char *what,
    struct fb_err *err)
{
	sqlite3_stmt *s;

	if ((s = sq_stmt(sq, id, what, err)) == NULL)
		return NULL;
	if (sq_bind(s, v, n) != SQLITE_OK) {
		sq_fail(sq, what, err);
		sq_done(s);
		return NULL;
	}
	return s;
}

/*
 * Runs statement id, which returns no rows, with v bound: FB_OK, or FB_ERR_IO
 * with err filled (what). Then sqlite3_changes(sq->db) counts the rows it
 * changed, and after a failure sqlite3_extended_errcode(sq->db) says why
 * (callers map constraint violations to their own statuses).
 */
static enum fb_status
sq_write(struct sq *sq, enum sq_stmt id, const struct sq_val *v, size_t n, const char *what,
    struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r = FB_OK;

	if ((s = sq_bound(sq, id, v, n, what, err)) == NULL)
		return FB_ERR_IO;
	if (sqlite3_step(s) != SQLITE_DONE)
		r = sq_fail(sq, what, err);
	sq_done(s);
	return r;
}

/*
 * Runs query id, which returns at most one row, with v bound. FB_OK: *row is
 * the statement on that row (borrowed; read its columns, then sq_done(*row)).
 * FB_ERR_NOTFOUND: no row, err untouched so the caller says what is missing.
 * FB_ERR_IO: err filled (what).
 */
static enum fb_status
sq_get(struct sq *sq, enum sq_stmt id, const struct sq_val *v, size_t n, sqlite3_stmt **row,
    const char *what, struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	*row = NULL;
	if ((s = sq_bound(sq, id, v, n, what, err)) == NULL)
		return FB_ERR_IO;
	switch (sqlite3_step(s)) {
	case SQLITE_ROW:
		*row = s;
		return FB_OK;
	case SQLITE_DONE:
		r = FB_ERR_NOTFOUND;
		break;
	default:
		r = sq_fail(sq, what, err);
		break;
	}
	sq_done(s);
	return r;
}

/* Runs a count(*) query with v bound into *count. */
static enum fb_status
sq_count(struct sq *sq, enum sq_stmt id, const struct sq_val *v, size_t n, size_t *count,
    const char *what, struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	if ((r = sq_get(sq, id, v, n, &s, what, err)) == FB_ERR_NOTFOUND)
		return sq_fail(sq, what, err); /* count(*) always returns its row */
	if (r == FB_OK) {
		*count = (size_t)sqlite3_column_int64(s, 0);
		sq_done(s);
	}
	return r;
}

/* BEGIN IMMEDIATE: takes the write lock now, so a read-modify-write cannot be overtaken. */
static enum fb_status
sq_begin(struct sq *sq, const char *what, struct fb_err *err)
{
	return sq_write(sq, SQ_BEGIN, NULL, 0, what, err);
}

static enum fb_status
sq_commit(struct sq *sq, const char *what, struct fb_err *err)
{
	return sq_write(sq, SQ_COMMIT, NULL, 0, what, err);
}

/* Rolls back the open transaction, if any; keeps err (the first failure) intact. */
static void
sq_rollback(struct sq *sq)
{
	if (sqlite3_get_autocommit(sq->db) == 0 &&
	    sq_write(sq, SQ_ROLLBACK, NULL, 0, "rollback", NULL) != FB_OK)
		fb_log(FB_LOG_ERROR, "store %s: rollback failed: %s", sq->path,
		    sqlite3_errmsg(sq->db));
}

/* A new NUL-terminated copy of column i (a blob or text). */
static void
column_copy(sqlite3_stmt *s, int i, unsigned char **val, size_t *len)
{
	const void *p = sqlite3_column_blob(s, i);
	size_t n = (size_t)sqlite3_column_bytes(s, i);

	*val = fb_xmalloc(n + 1);
	if (n != 0)
		memcpy(*val, p, n);
	(*val)[n] = '\0';
	*len = n;
}

/* Column i as text, NULL for NULL: new when copy, else borrowed from s until its next step. */
static char *
column_text(sqlite3_stmt *s, int i, int copy)
{
	const unsigned char *p = sqlite3_column_text(s, i);

	if (p == NULL || !copy)
		return (char *)p;
	return fb_xstrdup((const char *)p);
}

/*
 * Runs sql, prepared for this call so that each may use the cached
 * statements, with v bound, calling each(s, arg) on every row until it
 * returns non-zero.
 */
static enum fb_status
sq_each(struct sq *sq, const char *sql, const struct sq_val *v, size_t n,
    int (*each)(sqlite3_stmt *s, void *arg), void *arg, const char *what, struct fb_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;
	enum fb_status r = FB_ERR_IO;

	if (sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sq_bind(s, v, n) != SQLITE_OK) {
		r = sq_fail(sq, what, err);
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (each(s, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = sq_fail(sq, what, err);
		goto out;
	}
	r = FB_OK;
out:
	sqlite3_finalize(s);
	return r;
}

/* ---- opening and migrating -------------------------------------------- */

static int
sq_schema_latest(void)
{
	return (int)fb_store_sqlite_nmigrations;
}

/* Reads PRAGMA user_version into *v. */
static enum fb_status
sq_user_version(struct sq *sq, int *v, struct fb_err *err)
{
	sqlite3_stmt *s = NULL;
	enum fb_status r = FB_ERR_IO;

	*v = 0;
	if (sqlite3_prepare_v2(sq->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		if (sqlite3_errcode(sq->db) == SQLITE_NOTADB)
			r = fb_err_set(err, FB_ERR_IO, "store: %s is not an SQLite database (%s)",
			    sq->path, sqlite3_errmsg(sq->db));
		else
			r = sq_fail(sq, "store: reading the schema version", err);
		goto out;
	}
	*v = sqlite3_column_int(s, 0);
	r = FB_OK;
out:
	sqlite3_finalize(s);
	return r;
}

/* Runs SQL text (pragmas, migration scripts) with sqlite3_exec. */
static enum fb_status
sq_exec(struct sq *sq, const char *sql, const char *what, struct fb_err *err)
{
	if (sqlite3_exec(sq->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(sq, what, err);
	return FB_OK;
}

static enum fb_status
sq_refuse_newer(struct sq *sq, int v, struct fb_err *err)
{
	return fb_err_set(err, FB_ERR_CONFIG,
	    "store: %s: schema version %d is newer than this fedbroker (%d); refusing to touch it",
	    sq->path, v, sq_schema_latest());
}

/*
 * Brings the schema to the latest version, one migration per transaction.
 * The version is re-read under the write lock, so workers opening a fresh
 * file at the same time migrate it once.
 */
static enum fb_status
sq_migrate(struct sq *sq, int *version, struct fb_err *err)
{
	char what[64], bump[64];
	int v, latest = sq_schema_latest();
	enum fb_status r = FB_ERR_IO;

	for (;;) {
		if ((r = sq_begin(sq, "store: migrate: begin", err)) != FB_OK)
			goto out;
		if ((r = sq_user_version(sq, &v, err)) != FB_OK)
			goto out;
		if (v > latest) {
			r = sq_refuse_newer(sq, v, err);
			goto out;
		}
		if (v == latest)
			break;
		snprintf(what, sizeof(what), "store: migration to schema version %d", v + 1);
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if ((r = sq_exec(sq, fb_store_sqlite_migrations[v], what, err)) != FB_OK ||
		    (r = sq_exec(sq, bump, what, err)) != FB_OK ||
		    (r = sq_commit(sq, what, err)) != FB_OK)
			goto out;
		fb_log(FB_LOG_INFO, "store %s: schema migrated to version %d", sq->path, v + 1);
	}
	if ((r = sq_commit(sq, "store: migrate: commit", err)) != FB_OK)
		goto out;
	*version = v;
	r = FB_OK;
out:
	if (r != FB_OK)
		sq_rollback(sq);
	return r;
}

/* SECURITY: the state directory is private; creates only the last component, 0700. */
static enum fb_status
dir_ensure(const char *path, struct fb_err *err)
{
	char *dir = fb_xstrdup(path);
	char *slash = strrchr(dir, '/');
	enum fb_status r = FB_ERR_IO;

	if (slash == NULL || slash == dir) {
		r = FB_OK; /* the current or the root directory */
		goto out;
	}
	*slash = '\0';
	if (mkdir(dir, 0700) == 0)
		fb_log(FB_LOG_INFO, "store: created directory %s", dir);
	else if (errno != EEXIST) {
		r = fb_err_set(err, FB_ERR_IO, "store: cannot create directory %s for %s: %s", dir,
		    path, strerror(errno));
		goto out;
	}
	r = FB_OK;
out:
	free(dir);
	return r;
}

/*
 * SECURITY: creates the database file 0600 before SQLite sees it; SQLite
 * gives the -wal and -shm files the database file's permissions.
 */
static enum fb_status
file_ensure(const char *path, struct fb_err *err)
{
	struct stat sb;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return fb_err_set(err, FB_ERR_IO, "store: cannot open %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		close(fd);
		return fb_err_set(err, FB_ERR_IO, "store: %s is not a regular file", path);
	}
	if ((sb.st_mode & 077) != 0)
		fb_log(FB_LOG_WARN, "store: %s is accessible by group or others (mode %03o); "
				    "it should be 0600",
		    path, (unsigned)(sb.st_mode & 0777));
	close(fd);
	return FB_OK;
}

/*
 * Switches to WAL, which lets readers in other workers go on while one
 * writes. Switching a fresh file needs an exclusive lock and SQLite does not
 * call the busy handler for it, so workers opening together retry here
 * within the busy timeout.
 */
static enum fb_status
sq_wal(struct sq *sq, int busy_ms, struct fb_err *err)
{
	int64_t deadline = fb_time_mono_us() + (int64_t)busy_ms * 1000;
	sqlite3_stmt *s = NULL;
	const char *mode;
	int rc;
	enum fb_status r = FB_ERR_IO;

	if (sqlite3_prepare_v2(sq->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK) {
		r = sq_fail(sq, "store: setting journal_mode WAL", err);
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_BUSY && fb_time_mono_us() < deadline) {
		sqlite3_reset(s);
		sqlite3_sleep(10);
	}
	if (rc != SQLITE_ROW) {
		r = sq_fail(sq, "store: setting journal_mode WAL", err);
		goto out;
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		r = fb_err_set(err, FB_ERR_IO, "store: %s: journal_mode is %s, WAL was refused",
		    sq->path, mode != NULL ? mode : "unknown");
		goto out;
	}
	r = FB_OK;
out:
	sqlite3_finalize(s); /* a stepped statement would block COMMIT */
	return r;
}

/* The configured busy timeout as SQLite takes it; DEFAULT_BUSY_MS when unset. */
static int
busy_ms(int64_t ms)
{
	if (ms <= 0)
		return DEFAULT_BUSY_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void
sq_free(struct sq *sq)
{
	if (sq == NULL)
		return;
	for (size_t i = 0; i < SQ_NSTMT; i++)
		sqlite3_finalize(sq->stmt[i]);
	if (sq->db != NULL && sqlite3_close(sq->db) != SQLITE_OK)
		fb_log(FB_LOG_ERROR, "store %s: close: %s", sq->path, sqlite3_errmsg(sq->db));
	free(sq->path);
	free(sq);
}

static enum fb_status
sq_open(struct fb_store *st, const struct fb_conf *conf, struct fb_err *err)
{
	struct sq *sq = NULL;
	int rc, v, busy;
	enum fb_status r = FB_ERR_IO;

	sq = fb_xcalloc(1, sizeof(*sq));
	if ((sq->path = fb_store_path(conf)) == NULL) {
		r = fb_err_set(err, FB_ERR_CONFIG, "store.path: not set and no server.state_dir");
		goto out;
	}
	if (!st->unmigrated &&
	    ((r = dir_ensure(sq->path, err)) != FB_OK || (r = file_ensure(sq->path, err)) != FB_OK))
		goto out;
	/* Each process has its own handle and uses it from one thread. */
	rc = sqlite3_open_v2(sq->path, &sq->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = fb_err_set(err, FB_ERR_IO, "store: cannot open %s: %s", sq->path,
		    sq->db != NULL ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
		goto out;
	}
	busy = busy_ms(conf->store_busy_timeout_ms);
	sqlite3_busy_timeout(sq->db, busy);
	/* Read-only checks first: a foreign or newer file must stay byte-identical. */
	if ((r = sq_user_version(sq, &v, err)) != FB_OK)
		goto out;
	if (v > sq_schema_latest()) {
		r = sq_refuse_newer(sq, v, err);
		goto out;
	}
	if (st->unmigrated && v != sq_schema_latest())
		goto done; /* only the version is read: nothing is changed */
	if ((r = sq_wal(sq, busy, err)) != FB_OK)
		goto out;
	/* SECURITY: secure_delete overwrites deleted one-time codes in the file. */
	if ((r = sq_exec(sq, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
			     " PRAGMA secure_delete = ON;",
		 "store: setting pragmas", err)) != FB_OK)
		goto out;
	if ((r = sq_migrate(sq, &v, err)) != FB_OK)
		goto out;
done:
	st->be = sq;
	st->version = v;
	sq = NULL; /* transferred */
	r = FB_OK;
out:
	sq_free(sq);
	return r;
}

static void
sq_close(struct fb_store *st)
{
	sq_free(sq_of(st));
	st->be = NULL;
}

static enum fb_status
sq_ping(struct fb_store *st, struct fb_err *err)
{
	size_t n;

	return sq_count(sq_of(st), SQ_PING, NULL, 0, &n, "ping", err);
}

/* ---- key/value ---------------------------------------------------------- */

static enum fb_status
sq_kv_put(struct fb_store *st, const char *ns, const char *key, const void *val, size_t len,
    int64_t expires_at, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_KV_PUT,
	    SQ_VALS(sq_text(ns), sq_text(key), sq_blob(val, len), sq_int(expires_at)), "kv_put",
	    err);
}

static enum fb_status
sq_kv_add(struct fb_store *st, const char *ns, const char *key, const void *val, size_t len,
    int64_t expires_at, int64_t now, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_write(sq, SQ_KV_ADD,
		 SQ_VALS(sq_text(ns), sq_text(key), sq_blob(val, len), sq_int(expires_at),
		     sq_int(now)),
		 "kv_add", err)) != FB_OK)
		return r;
	/* No row changed: a live entry was there (the upsert's WHERE was false). */
	if (sqlite3_changes(sq->db) == 0)
		return fb_err_set(err, FB_ERR_REPLAY, "kv_add: key in namespace %s already present",
		    ns);
	return FB_OK;
}

/* Reads the live entry into a new buffer; FB_ERR_NOTFOUND when absent. */
static enum fb_status
kv_read(struct sq *sq, const char *ns, const char *key, int64_t now, unsigned char **val,
    size_t *len, const char *what, struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq, SQ_KV_GET, SQ_VALS(sq_text(ns), sq_text(key), sq_int(now)), &s, what, err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "%s: no such key in namespace %s", what,
		    ns);
	if (r == FB_OK) {
		column_copy(s, 0, val, len);
		sq_done(s);
	}
	return r;
}

static enum fb_status
sq_kv_get(struct fb_store *st, const char *ns, const char *key, int64_t now, unsigned char **val,
    size_t *len, struct fb_err *err)
{
	return kv_read(sq_of(st), ns, key, now, val, len, "kv_get", err);
}

static enum fb_status
kv_delete(struct sq *sq, const char *ns, const char *key, const char *what, struct fb_err *err)
{
	return sq_write(sq, SQ_KV_DELETE, SQ_VALS(sq_text(ns), sq_text(key)), what, err);
}

/* SECURITY: read and delete under one write lock, so a one-time code is used once. */
static enum fb_status
sq_kv_take(struct fb_store *st, const char *ns, const char *key, int64_t now,
    unsigned char **val, size_t *len, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	unsigned char *v = NULL;
	size_t n = 0;
	enum fb_status r = FB_ERR_IO;

	if ((r = sq_begin(sq, "kv_take", err)) != FB_OK)
		goto out;
	if ((r = kv_read(sq, ns, key, now, &v, &n, "kv_take", err)) != FB_OK)
		goto out;
	if ((r = kv_delete(sq, ns, key, "kv_take", err)) != FB_OK ||
	    (r = sq_commit(sq, "kv_take", err)) != FB_OK)
		goto out;
	*val = v;
	*len = n;
	v = NULL; /* transferred */
	r = FB_OK;
out:
	if (r != FB_OK)
		sq_rollback(sq);
	if (v != NULL) {
		fb_secret_wipe(v, n);
		free(v);
	}
	return r;
}

static enum fb_status
sq_kv_delete(struct fb_store *st, const char *ns, const char *key, struct fb_err *err)
{
	return kv_delete(sq_of(st), ns, key, "kv_delete", err);
}

static enum fb_status
purge_one(struct sq *sq, enum sq_stmt id, int64_t now, size_t *n, struct fb_err *err)
{
	enum fb_status r;

	if ((r = sq_write(sq, id, SQ_VALS(sq_int(now)), "purge", err)) == FB_OK)
		*n += (size_t)sqlite3_changes(sq->db);
	return r;
}

static enum fb_status
sq_purge(struct fb_store *st, int64_t now, size_t *n, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r = FB_ERR_IO;

	*n = 0;
	if ((r = sq_begin(sq, "purge", err)) != FB_OK ||
	    (r = purge_one(sq, SQ_KV_PURGE, now * 1000, n, err)) != FB_OK ||
	    (r = purge_one(sq, SQ_REV_PURGE, now, n, err)) != FB_OK ||
	    (r = purge_one(sq, SQ_OIDC_GRANT_PURGE, now, n, err)) != FB_OK ||
	    (r = purge_one(sq, SQ_OIDC_FAMILY_PURGE, now, n, err)) != FB_OK ||
	    (r = purge_one(sq, SQ_OIDC_JTI_PURGE, now, n, err)) != FB_OK ||
	    (r = sq_commit(sq, "purge", err)) != FB_OK)
		goto out;
	r = FB_OK;
out:
	if (r != FB_OK) {
		sq_rollback(sq);
		*n = 0;
	}
	return r;
}

/* ---- session revocations ------------------------------------------------ */

static enum fb_status
sq_session_revoke(struct fb_store *st, const char *sid, int64_t expires_at, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_REV_PUT, SQ_VALS(sq_text(sid), sq_int(expires_at)),
	    "session_revoke", err);
}

/* One statement, one read transaction: what each request with a session checks. */
static enum fb_status
sq_session_state(struct fb_store *st, const char *sid, const char *user_id, int64_t now,
    int *revoked, int64_t *gen, struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq_of(st), SQ_SESSION_STATE, SQ_VALS(sq_text(sid), sq_text(user_id), sq_int(now)),
	    &s, "session_state", err);
	if (r != FB_OK)
		return r;
	*revoked = sqlite3_column_int(s, 0) != 0;
	*gen = sqlite3_column_type(s, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 1);
	sq_done(s);
	return FB_OK;
}

/* ---- users ---------------------------------------------------------------- */

/* The stored id and created of username; *id NULL when there is none. */
static enum fb_status
user_find(struct sq *sq, const char *username, char **id, int64_t *created, struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	*id = NULL;
	*created = 0;
	r = sq_get(sq, SQ_USER_FIND, SQ_VALS(sq_text(username)), &s, "user_upsert", err);
	if (r == FB_ERR_NOTFOUND)
		return FB_OK;
	if (r == FB_OK) {
		*id = column_text(s, 0, 1);
		*created = sqlite3_column_int64(s, 1);
		sq_done(s);
	}
	return r;
}

/* Inserts u with id and created, or (id NULL) updates the stored user u->username. */
static enum fb_status
user_write(struct sq *sq, const struct fb_store_user *u, const char *id, int64_t created,
    struct fb_err *err)
{
	enum fb_status r;

	if (id != NULL)
		r = sq_write(sq, SQ_USER_INSERT,
		    SQ_VALS(sq_text(id), sq_text(u->username), sq_text(u->name), sq_text(u->email),
			sq_text(u->source), sq_int(u->active != 0), sq_int(created),
			sq_int(u->last_seen)),
		    "user_upsert", err);
	else
		r = sq_write(sq, SQ_USER_UPDATE,
		    SQ_VALS(sq_text(u->username), sq_text(u->name), sq_text(u->email),
			sq_text(u->source), sq_int(u->active != 0), sq_int(u->last_seen)),
		    "user_upsert", err);
	if (r != FB_OK && sqlite3_extended_errcode(sq->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		r = fb_err_set(err, FB_ERR_INVALID,
		    "user_upsert: user %s: id %s is already used by another user", u->username, id);
	return r;
}

static enum fb_status
sq_user_upsert(struct fb_store *st, struct fb_store_user *u, const char *new_id, int64_t now,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	char *found = NULL;
	const char *id;
	int64_t created;
	enum fb_status r = FB_ERR_IO;

	if ((r = sq_begin(sq, "user_upsert", err)) != FB_OK ||
	    (r = user_find(sq, u->username, &found, &created, err)) != FB_OK)
		goto out;
	if (found != NULL) {
		if (u->id != NULL && strcmp(u->id, found) != 0) {
			r = fb_err_set(err, FB_ERR_INVALID,
			    "user_upsert: user %s: id %s differs from the stored id %s",
			    u->username, u->id, found);
			goto out;
		}
		if ((r = user_write(sq, u, NULL, 0, err)) != FB_OK)
			goto out;
	} else {
		id = u->id != NULL ? u->id : new_id;
		created = u->created != 0 ? u->created : now;
		if ((r = user_write(sq, u, id, created, err)) != FB_OK)
			goto out;
	}
	if ((r = sq_commit(sq, "user_upsert", err)) != FB_OK)
		goto out;
	if (u->id == NULL) {
		u->id = found != NULL ? found : fb_xstrdup(new_id);
		found = NULL; /* transferred */
	}
	u->created = created;
	r = FB_OK;
out:
	if (r != FB_OK)
		sq_rollback(sq);
	free(found);
	return r;
}

/* Fills u from a row of USER_COLUMNS; strings new when copy, else borrowed from s. */
static void
user_row(sqlite3_stmt *s, int copy, struct fb_store_user *u)
{
	u->id = column_text(s, 0, copy);
	u->username = column_text(s, 1, copy);
	u->name = column_text(s, 2, copy);
	u->email = column_text(s, 3, copy);
	u->source = column_text(s, 4, copy);
	u->active = sqlite3_column_int(s, 5);
	u->created = sqlite3_column_int64(s, 6);
	u->last_seen = sqlite3_column_int64(s, 7);
}

/* One user by the key bound to statement id (username or id) into out (new members). */
static enum fb_status
user_fetch(struct sq *sq, enum sq_stmt id, const char *key, struct fb_store_user *out,
    const char *what, struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq, id, SQ_VALS(sq_text(key)), &s, what, err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "%s: no user %s", what, key);
	if (r != FB_OK)
		return r;
	user_row(s, 1, out);
	sq_done(s);
	return FB_OK;
}

static enum fb_status
sq_user_get(struct fb_store *st, const char *username, struct fb_store_user *out,
    struct fb_err *err)
{
	return user_fetch(sq_of(st), SQ_USER_GET, username, out, "user_get", err);
}

static enum fb_status
sq_user_get_by_id(struct fb_store *st, const char *id, struct fb_store_user *out,
    struct fb_err *err)
{
	return user_fetch(sq_of(st), SQ_USER_GET_ID, id, out, "user_get_by_id", err);
}

/* What sq_user_list passes through sq_each. */
struct user_each {
	int (*fn)(const struct fb_store_user *u, void *arg);
	void *arg;
};

static int
user_each(sqlite3_stmt *s, void *arg)
{
	struct user_each *e = arg;
	struct fb_store_user u;

	user_row(s, 0, &u);
	return e->fn(&u, e->arg);
}

static enum fb_status
sq_user_list(struct fb_store *st, int (*fn)(const struct fb_store_user *u, void *arg), void *arg,
    struct fb_err *err)
{
	struct user_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_USER_LIST_SQL, NULL, 0, user_each, &e, "user_list", err);
}

static enum fb_status
sq_user_delete(struct fb_store *st, const char *username, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_write(sq, SQ_USER_DELETE, SQ_VALS(sq_text(username)), "user_delete", err)) !=
	    FB_OK)
		return r;
	if (sqlite3_changes(sq->db) == 0)
		return fb_err_set(err, FB_ERR_NOTFOUND, "user_delete: no user %s", username);
	return FB_OK;
}

/* ---- counters ---------------------------------------------------------- */

/* SECURITY: read and write under one write lock, so no failure is lost to a race. */
static enum fb_status
sq_kv_incr(struct fb_store *st, const char *ns, const char *key, int64_t expires_at,
    int64_t now, int64_t *count, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	unsigned char *v = NULL;
	char num[32], *end;
	size_t n = 0;
	long long c = 0;
	enum fb_status r = FB_ERR_IO;

	if ((r = sq_begin(sq, "kv_incr", err)) != FB_OK)
		goto out;
	r = kv_read(sq, ns, key, now, &v, &n, "kv_incr", err);
	if (r == FB_OK) {
		errno = 0;
		c = strtoll((const char *)v, &end, 10);
		if (n == 0 || errno != 0 || *end != '\0' || c < 0 || c == LLONG_MAX) {
			r = fb_err_set(err, FB_ERR_INVALID,
			    "kv_incr: the entry in namespace %s is not a count", ns);
			goto out;
		}
	} else if (r != FB_ERR_NOTFOUND)
		goto out;
	c++;
	snprintf(num, sizeof(num), "%lld", c);
	if ((r = sq_write(sq, SQ_KV_PUT,
		 SQ_VALS(sq_text(ns), sq_text(key), sq_blob(num, strlen(num)), sq_int(expires_at)),
		 "kv_incr", err)) != FB_OK ||
	    (r = sq_commit(sq, "kv_incr", err)) != FB_OK)
		goto out;
	*count = c;
	r = FB_OK;
out:
	if (r != FB_OK)
		sq_rollback(sq);
	free(v);
	return r;
}

/* ---- local account credentials ------------------------------------------ */

static const char *
account_type_name(enum fb_store_account_type t)
{
	return t == FB_ACCOUNT_SERVICE ? "service" : "internal";
}

/* Runs UPDATE statement id with v bound; FB_ERR_NOTFOUND when no row of user_id changed. */
static enum fb_status
cred_update(struct sq *sq, enum sq_stmt id, const struct sq_val *v, size_t n,
    const char *user_id, const char *what, struct fb_err *err)
{
	enum fb_status r;

	if ((r = sq_write(sq, id, v, n, what, err)) != FB_OK)
		return r;
	if (sqlite3_changes(sq->db) == 0)
		return fb_err_set(err, FB_ERR_NOTFOUND, "%s: user id %s has no local account", what,
		    user_id);
	return FB_OK;
}

static enum fb_status
sq_cred_create(struct fb_store *st, struct fb_store_user *u, const struct fb_store_cred *c,
    const char *new_id, int64_t now, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	char *found = NULL;
	const char *id = u->id != NULL ? u->id : new_id;
	int64_t created = u->created != 0 ? u->created : now, ignored;
	enum fb_status r = FB_ERR_IO;

	if ((r = sq_begin(sq, "cred_create", err)) != FB_OK ||
	    (r = user_find(sq, u->username, &found, &ignored, err)) != FB_OK)
		goto out;
	if (found != NULL) {
		r = fb_err_set(err, FB_ERR_INVALID, "cred_create: user %s already exists",
		    u->username);
		goto out;
	}
	if ((r = user_write(sq, u, id, created, err)) != FB_OK ||
	    (r = sq_write(sq, SQ_CRED_INSERT,
		 SQ_VALS(sq_text(id), sq_text(c->password_hash),
		     sq_text(account_type_name(c->type)), sq_text(c->totp_secret),
		     sq_int(c->totp_last_step), sq_int(c->created != 0 ? c->created : now),
		     sq_int(c->last_login)),
		 "cred_create", err)) != FB_OK ||
	    (r = sq_commit(sq, "cred_create", err)) != FB_OK)
		goto out;
	if (u->id == NULL)
		u->id = fb_xstrdup(new_id);
	u->created = created;
	r = FB_OK;
out:
	if (r != FB_OK)
		sq_rollback(sq);
	free(found);
	return r;
}

static enum fb_status
sq_cred_get(struct fb_store *st, const char *user_id, struct fb_store_cred *out,
    struct fb_err *err)
{
	const unsigned char *type;
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq_of(st), SQ_CRED_GET, SQ_VALS(sq_text(user_id)), &s, "cred_get", err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "cred_get: user id %s has no local account",
		    user_id);
	if (r != FB_OK)
		return r;
	out->user_id = column_text(s, 0, 1);
	out->password_hash = column_text(s, 1, 1);
	type = sqlite3_column_text(s, 2);
	out->type = type != NULL && strcmp((const char *)type, "service") == 0
			? FB_ACCOUNT_SERVICE
			: FB_ACCOUNT_INTERNAL;
	out->totp_secret = column_text(s, 3, 1);
	out->totp_last_step = sqlite3_column_int64(s, 4);
	out->created = sqlite3_column_int64(s, 5);
	out->last_login = sqlite3_column_int64(s, 6);
	out->session_gen = sqlite3_column_int64(s, 7);
	sq_done(s);
	return FB_OK;
}

static enum fb_status
sq_cred_password_set(struct fb_store *st, const char *user_id, const char *hash,
    struct fb_err *err)
{
	return cred_update(sq_of(st), SQ_CRED_PASSWORD, SQ_VALS(sq_text(user_id), sq_text(hash)),
	    user_id, "cred_password_set", err);
}

static enum fb_status
sq_cred_totp_set(struct fb_store *st, const char *user_id, const char *secret, int64_t last_step,
    struct fb_err *err)
{
	return cred_update(sq_of(st), SQ_CRED_TOTP,
	    SQ_VALS(sq_text(user_id), sq_text(secret), sq_int(last_step)), user_id,
	    "cred_totp_set", err);
}

static enum fb_status
sq_cred_totp_accept(struct fb_store *st, const char *user_id, int64_t step, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	struct fb_store_cred c;
	enum fb_status r;

	if ((r = sq_write(sq, SQ_CRED_STEP, SQ_VALS(sq_text(user_id), sq_int(step)),
		 "cred_totp_accept", err)) != FB_OK)
		return r;
	if (sqlite3_changes(sq->db) != 0)
		return FB_OK;
	/* Nothing changed: say why (only for the message; the refusal is already decided). */
	memset(&c, 0, sizeof(c));
	if ((r = sq_cred_get(st, user_id, &c, err)) != FB_OK)
		return r;
	if (c.totp_secret == NULL)
		r = fb_err_set(err, FB_ERR_NOTFOUND, "cred_totp_accept: user id %s has no TOTP",
		    user_id);
	else
		r = fb_err_set(err, FB_ERR_REPLAY,
		    "cred_totp_accept: user id %s: TOTP time step already used", user_id);
	fb_store_cred_cleanup(&c);
	return r;
}

static enum fb_status
sq_cred_login_set(struct fb_store *st, const char *user_id, int64_t when, struct fb_err *err)
{
	return cred_update(sq_of(st), SQ_CRED_LOGIN, SQ_VALS(sq_text(user_id), sq_int(when)),
	    user_id, "cred_login_set", err);
}

static enum fb_status
sq_cred_sessions_revoke(struct fb_store *st, const char *user_id, struct fb_err *err)
{
	return cred_update(sq_of(st), SQ_CRED_GEN, SQ_VALS(sq_text(user_id)), user_id,
	    "cred_sessions_revoke", err);
}

static enum fb_status
sq_cred_count(struct fb_store *st, size_t *n, struct fb_err *err)
{
	return sq_count(sq_of(st), SQ_CRED_COUNT, NULL, 0, n, "cred_count", err);
}

/* ---- recovery codes ---------------------------------------------------- */

/* After a failed insert r: FB_ERR_NOTFOUND when the referenced user is missing, else r. */
static enum fb_status
insert_fail(struct sq *sq, enum fb_status r, const char *what, const char *user_id,
    struct fb_err *err)
{
	if (sqlite3_extended_errcode(sq->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
		return fb_err_set(err, FB_ERR_NOTFOUND, "%s: no user with id %s", what, user_id);
	return r;
}

static enum fb_status
sq_recovery_replace(struct fb_store *st, const char *user_id, const char *const *hashes,
    size_t n, int64_t now, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	struct fb_store_user u;
	enum fb_status r = FB_ERR_IO;

	memset(&u, 0, sizeof(u));
	if ((r = sq_begin(sq, "recovery_codes_replace", err)) != FB_OK ||
	    (r = user_fetch(sq, SQ_USER_GET_ID, user_id, &u, "recovery_codes_replace", err)) !=
		FB_OK ||
	    (r = sq_write(sq, SQ_RC_DELETE, SQ_VALS(sq_text(user_id)), "recovery_codes_replace",
		 err)) != FB_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((r = sq_write(sq, SQ_RC_INSERT,
			 SQ_VALS(sq_text(user_id), sq_text(hashes[i]), sq_int(now)),
			 "recovery_codes_replace", err)) != FB_OK) {
			r = insert_fail(sq, r, "recovery_codes_replace", user_id, err);
			goto out;
		}
	}
	if ((r = sq_commit(sq, "recovery_codes_replace", err)) != FB_OK)
		goto out;
	r = FB_OK;
out:
	if (r != FB_OK)
		sq_rollback(sq);
	fb_store_user_cleanup(&u);
	return r;
}

static enum fb_status
sq_recovery_use(struct fb_store *st, const char *user_id, const char *hash, int64_t now,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_write(sq, SQ_RC_USE, SQ_VALS(sq_text(user_id), sq_text(hash), sq_int(now)),
		 "recovery_code_use", err)) != FB_OK)
		return r;
	if (sqlite3_changes(sq->db) == 0)
		return fb_err_set(err, FB_ERR_NOTFOUND,
		    "recovery_code_use: user id %s has no such unused recovery code", user_id);
	return FB_OK;
}

static enum fb_status
sq_recovery_count(struct fb_store *st, const char *user_id, size_t *n, struct fb_err *err)
{
	return sq_count(sq_of(st), SQ_RC_COUNT, SQ_VALS(sq_text(user_id)), n,
	    "recovery_codes_count", err);
}

/* ---- API tokens -------------------------------------------------------- */

static enum fb_status
sq_token_add(struct fb_store *st, const struct fb_store_token *t, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_write(sq, SQ_TOK_INSERT,
		 SQ_VALS(sq_text(t->id), sq_text(t->user_id), sq_text(t->secret_hash),
		     sq_text(t->description), sq_int(t->created), sq_int(t->expires_at)),
		 "token_add", err)) == FB_OK)
		return FB_OK;
	if (sqlite3_extended_errcode(sq->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		return fb_err_set(err, FB_ERR_INVALID, "token_add: token id %s is taken", t->id);
	return insert_fail(sq, r, "token_add", t->user_id, err);
}

/* Fills t from a row of TOKEN_COLUMNS; strings new when copy, else borrowed from s. */
static void
token_row(sqlite3_stmt *s, int copy, struct fb_store_token *t)
{
	t->id = column_text(s, 0, copy);
	t->user_id = column_text(s, 1, copy);
	t->username = column_text(s, 2, copy);
	t->secret_hash = column_text(s, 3, copy);
	t->description = column_text(s, 4, copy);
	t->created = sqlite3_column_int64(s, 5);
	t->expires_at = sqlite3_column_int64(s, 6);
	t->revoked_at = sqlite3_column_int64(s, 7);
}

static enum fb_status
sq_token_get(struct fb_store *st, const char *id, struct fb_store_token *out,
    struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq_of(st), SQ_TOK_GET, SQ_VALS(sq_text(id)), &s, "token_get", err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "token_get: no token %s", id);
	if (r != FB_OK)
		return r;
	token_row(s, 1, out);
	sq_done(s);
	return FB_OK;
}

/* What sq_token_list passes through sq_each. */
struct token_each {
	int (*fn)(const struct fb_store_token *t, void *arg);
	void *arg;
};

static int
token_each(sqlite3_stmt *s, void *arg)
{
	struct token_each *e = arg;
	struct fb_store_token t;

	token_row(s, 0, &t);
	return e->fn(&t, e->arg);
}

static enum fb_status
sq_token_list(struct fb_store *st, const char *user_id,
    int (*fn)(const struct fb_store_token *t, void *arg), void *arg, struct fb_err *err)
{
	struct token_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_TOKEN_LIST_SQL, SQ_VALS(sq_text(user_id)), token_each, &e,
	    "token_list", err);
}

static enum fb_status
sq_token_revoke(struct fb_store *st, const char *id, int64_t now, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	struct fb_store_token t;
	enum fb_status r;

	if ((r = sq_write(sq, SQ_TOK_REVOKE, SQ_VALS(sq_text(id), sq_int(now)), "token_revoke",
		 err)) != FB_OK)
		return r;
	if (sqlite3_changes(sq->db) != 0)
		return FB_OK;
	/* Revoked already (FB_OK) or absent (FB_ERR_NOTFOUND). */
	memset(&t, 0, sizeof(t));
	r = sq_token_get(st, id, &t, err);
	fb_store_token_cleanup(&t);
	if (r == FB_ERR_NOTFOUND)
		fb_err_set(err, FB_ERR_NOTFOUND, "token_revoke: no token %s", id);
	return r;
}

/* ---- the audit log --------------------------------------------------------------- */

static enum fb_status
sq_audit_add(struct fb_store *st, int64_t now, const char *actor, const char *event,
    const char *detail, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_AUDIT_INSERT,
	    SQ_VALS(sq_int(now), sq_text(actor), sq_text(event), sq_text(detail)), "audit_add",
	    err);
}

/* What sq_audit_list passes through sq_each. */
struct audit_each {
	int (*fn)(const struct fb_store_audit *a, void *arg);
	void *arg;
};

static int
audit_each(sqlite3_stmt *s, void *arg)
{
	struct audit_each *e = arg;
	struct fb_store_audit a;

	a.id = sqlite3_column_int64(s, 0);
	a.at = sqlite3_column_int64(s, 1);
	a.actor = column_text(s, 2, 0);
	a.event = column_text(s, 3, 0);
	a.detail = column_text(s, 4, 0);
	return e->fn(&a, e->arg);
}

static enum fb_status
sq_audit_list(struct fb_store *st, size_t limit,
    int (*fn)(const struct fb_store_audit *a, void *arg), void *arg, struct fb_err *err)
{
	struct audit_each e = {fn, arg};
	int64_t n = limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit;

	return sq_each(sq_of(st), SQ_AUDIT_LIST_SQL, SQ_VALS(sq_int(n)), audit_each, &e,
	    "audit_list", err);
}

/* ---- persistent NameIDs ------------------------------------------------------ */

static enum fb_status
nameid_read(struct sq *sq, const char *user_id, const char *sp, char **nameid, const char *what,
    struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq, SQ_NAMEID_GET, SQ_VALS(sq_text(user_id), sq_text(sp)), &s, what, err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "%s: no NameID stored", what);
	if (r == FB_OK) {
		*nameid = column_text(s, 0, 1);
		sq_done(s);
	}
	return r;
}

static enum fb_status
sq_nameid_get(struct fb_store *st, const char *user_id, const char *sp, char **nameid,
    struct fb_err *err)
{
	return nameid_read(sq_of(st), user_id, sp, nameid, "nameid_get", err);
}

static enum fb_status
sq_nameid_ensure(struct fb_store *st, const char *user_id, const char *sp,
    const char *candidate, int64_t now, char **nameid, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_begin(sq, "nameid_ensure", err)) != FB_OK)
		return r;
	r = sq_write(sq, SQ_NAMEID_INSERT,
	    SQ_VALS(sq_text(user_id), sq_text(sp), sq_text(candidate), sq_int(now)),
	    "nameid_ensure", err);
	if (r != FB_OK) {
		int ext = sqlite3_extended_errcode(sq->db);

		if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
			r = fb_err_set(err, FB_ERR_NOTFOUND, "nameid_ensure: no such user");
		else if (ext == SQLITE_CONSTRAINT_UNIQUE)
			r = fb_err_set(err, FB_ERR_INVALID,
			    "nameid_ensure: the NameID is taken by another user of this SP");
		goto fail;
	}
	if ((r = nameid_read(sq, user_id, sp, nameid, "nameid_ensure", err)) != FB_OK ||
	    (r = sq_commit(sq, "nameid_ensure", err)) != FB_OK)
		goto fail;
	return FB_OK;
fail:
	sq_rollback(sq);
	return r;
}

/* ---- upstream identities ------------------------------------------------------ */

static enum fb_status
link_read(struct sq *sq, const char *upstream, const char *issuer, const char *subject,
    char **user_id, const char *what, struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	*user_id = NULL;
	r = sq_get(sq, SQ_LINK_FIND, SQ_VALS(sq_text(upstream), sq_text(issuer), sq_text(subject)),
	    &s, what, err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "%s: no link for this identity", what);
	if (r == FB_OK) {
		*user_id = column_text(s, 0, 1);
		sq_done(s);
	}
	return r;
}

static enum fb_status
sq_link_find(struct fb_store *st, const char *upstream, const char *issuer, const char *subject,
    char **user_id, struct fb_err *err)
{
	return link_read(sq_of(st), upstream, issuer, subject, user_id, "link_find", err);
}

/* What sq_link_list passes through sq_each. */
struct link_each {
	int (*fn)(const struct fb_store_link *l, void *arg);
	void *arg;
};

static int
link_each(sqlite3_stmt *s, void *arg)
{
	struct link_each *e = arg;
	struct fb_store_link l = {
	    .user_id = column_text(s, 0, 0),
	    .upstream = column_text(s, 1, 0),
	    .issuer = column_text(s, 2, 0),
	    .subject = column_text(s, 3, 0),
	    .created = sqlite3_column_int64(s, 4),
	    .last_used = sqlite3_column_int64(s, 5),
	};

	return e->fn(&l, e->arg);
}

static enum fb_status
sq_link_list(struct fb_store *st, const char *user_id,
    int (*fn)(const struct fb_store_link *l, void *arg), void *arg, struct fb_err *err)
{
	struct link_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_LINK_LIST_SQL, SQ_VALS(sq_text(user_id)), link_each, &e,
	    "link_list", err);
}

/* What sq_groups_list passes through sq_each. */
struct name_each {
	int (*fn)(const char *name, void *arg);
	void *arg;
};

static int
name_each(sqlite3_stmt *s, void *arg)
{
	struct name_each *e = arg;

	return e->fn(column_text(s, 0, 0), e->arg);
}

static enum fb_status
sq_groups_list(struct fb_store *st, const char *user_id, const char *upstream,
    int (*fn)(const char *name, void *arg), void *arg, struct fb_err *err)
{
	struct name_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_GROUPS_LIST_SQL,
	    SQ_VALS(sq_text(user_id), sq_text(upstream)), name_each, &e, "upstream_groups", err);
}

/* The user part of an upstream sign-in: insert (create) or update the existing one. */
static enum fb_status
signin_user(struct sq *sq, struct fb_store_user *u, const struct fb_store_upstream_signin *in,
    const char *new_id, int64_t now, struct fb_err *err)
{
	char *found = NULL;
	int64_t created;
	enum fb_status r;

	if (in->create) {
		if ((r = user_find(sq, u->username, &found, &created, err)) != FB_OK)
			return r;
		if (found != NULL) {
			free(found);
			return fb_err_set(err, FB_ERR_INVALID,
			    "upstream_signin: user %s already exists", u->username);
		}
		u->created = u->created != 0 ? u->created : now;
		u->last_seen = now;
		return user_write(sq, u, u->id != NULL ? u->id : new_id, u->created, err);
	}
	if (in->update_profile)
		r = sq_write(sq, SQ_USER_PROFILE,
		    SQ_VALS(sq_text(u->id), sq_int(now), sq_text(u->name), sq_text(u->email)),
		    "upstream_signin", err);
	else
		r = sq_write(sq, SQ_USER_SEEN, SQ_VALS(sq_text(u->id), sq_int(now)),
		    "upstream_signin", err);
	if (r == FB_OK && sqlite3_changes(sq->db) == 0)
		r = fb_err_set(err, FB_ERR_NOTFOUND, "upstream_signin: no user id %s", u->id);
	if (r == FB_OK)
		u->last_seen = now;
	return r;
}

static enum fb_status
sq_upstream_signin(struct fb_store *st, struct fb_store_user *u,
    const struct fb_store_upstream_signin *in, const char *new_id, int64_t now,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	const char *uid;
	char *linked = NULL;
	int same = 0;
	enum fb_status r;

	if ((r = sq_begin(sq, "upstream_signin", err)) != FB_OK ||
	    (r = signin_user(sq, u, in, new_id, now, err)) != FB_OK)
		goto out;
	uid = u->id != NULL ? u->id : new_id;
	r = link_read(sq, in->upstream, in->issuer, in->subject, &linked, "upstream_signin", err);
	if (r == FB_ERR_NOTFOUND)
		r = sq_write(sq, SQ_LINK_INSERT,
		    SQ_VALS(sq_text(in->upstream), sq_text(in->issuer), sq_text(in->subject),
			sq_text(uid), sq_int(now)),
		    "upstream_signin", err);
	else if (r == FB_OK && strcmp(linked, uid) != 0)
		r = fb_err_set(err, FB_ERR_INVALID,
		    "upstream_signin: the identity is linked to another user");
	else if (r == FB_OK)
		r = sq_write(sq, SQ_LINK_TOUCH,
		    SQ_VALS(sq_text(in->upstream), sq_text(in->issuer), sq_text(in->subject),
			sq_int(now)),
		    "upstream_signin", err);
	if (r != FB_OK || (r = fb_store_signin_groups_same(st, uid, in, &same, err)) != FB_OK)
		goto out;
	/* Unchanged groups are not rewritten: nothing for the SCIM change log either. */
	if (!same && (r = sq_write(sq, SQ_GROUPS_DELETE,
			  SQ_VALS(sq_text(uid), sq_text(in->upstream)), "upstream_signin", err)) !=
		FB_OK)
		goto out;
	for (size_t i = 0; !same && i < in->ngroups; i++)
		if ((r = sq_write(sq, SQ_GROUPS_INSERT,
			 SQ_VALS(sq_text(uid), sq_text(in->upstream), sq_text(in->groups[i])),
			 "upstream_signin", err)) != FB_OK)
			goto out;
	if ((r = sq_commit(sq, "upstream_signin", err)) != FB_OK)
		goto out;
	if (u->id == NULL)
		u->id = fb_xstrdup(new_id);
out:
	if (r != FB_OK)
		sq_rollback(sq);
	free(linked);
	return r;
}

static enum fb_status
sq_user_find_email(struct fb_store *st, const char *email, struct fb_store_user *out,
    size_t *count, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	sqlite3_stmt *s;
	enum fb_status r;

	*count = 0;
	r = sq_get(sq, SQ_USER_EMAIL, SQ_VALS(sq_text(email)), &s, "user_find_email", err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "user_find_email: no user has this email");
	if (r != FB_OK)
		return r;
	user_row(s, 1, out);
	*count = (size_t)sqlite3_column_int64(s, 8);
	sq_done(s);
	return FB_OK;
}

/* ---- export and import ----------------------------------------------------------- */

/* Column i of s as the export's typed value (text borrowed from s until its next step). */
static struct fb_store_value
column_value(sqlite3_stmt *s, int i, enum fb_store_coltype type)
{
	struct fb_store_value v = {0};

	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		v.null = 1;
	else if (type == FB_STORE_COL_INT)
		v.num = sqlite3_column_int64(s, i);
	else
		v.text = column_text(s, i, 0);
	return v;
}

struct rows_walk {
	const struct fb_store_table *t;
	struct fb_store_value *row;
	fb_store_row_fn fn;
	void *arg;
	int stopped;
};

static int
rows_each_row(sqlite3_stmt *s, void *arg)
{
	struct rows_walk *w = arg;

	for (size_t i = 0; i < w->t->ncols; i++)
		w->row[i] = column_value(s, (int)i, w->t->cols[i].type);
	w->stopped = w->fn(w->t, w->row, w->arg);
	return w->stopped;
}

/*
 * Every table's rows in one deferred read transaction: in WAL mode its
 * first read fixes the snapshot, and writers in other processes go on.
 */
static enum fb_status
sq_rows_each(struct fb_store *st, const struct fb_store_table *const *tables, size_t n,
    fb_store_row_fn fn, void *arg, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	struct rows_walk w = {NULL, NULL, fn, arg, 0};
	char what[96];
	enum fb_status r;

	if ((r = sq_exec(sq, "BEGIN", "export: begin", err)) != FB_OK)
		return r;
	for (size_t i = 0; i < n && r == FB_OK && !w.stopped; i++) {
		char *sql = fb_store_table_sql(tables[i], "select", 0);

		w.t = tables[i];
		w.row = fb_xcalloc(tables[i]->ncols, sizeof(*w.row));
		snprintf(what, sizeof(what), "export: %s", tables[i]->name);
		r = sq_each(sq, sql, NULL, 0, rows_each_row, &w, what, err);
		free(w.row);
		free(sql);
	}
	if (r == FB_OK)
		r = sq_exec(sq, "COMMIT", "export: end", err);
	if (r != FB_OK)
		sq_rollback(sq);
	return r;
}

/* FB_ERR_INVALID when t holds a row. */
static enum fb_status
table_check_empty(struct sq *sq, const struct fb_store_table *t, struct fb_err *err)
{
	sqlite3_stmt *s = NULL;
	char *sql = fb_store_table_sql(t, "any", 0);
	enum fb_status r = FB_ERR_IO;

	if (sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL) != SQLITE_OK) {
		r = sq_fail(sq, "import: checking the store is empty", err);
		goto out;
	}
	switch (sqlite3_step(s)) {
	case SQLITE_DONE:
		r = FB_OK;
		break;
	case SQLITE_ROW:
		r = fb_err_set(err, FB_ERR_INVALID,
		    "import: %s: the store is not empty (table %s holds rows); import writes "
		    "only into a new, empty store",
		    sq->path, t->name);
		break;
	default:
		r = sq_fail(sq, "import: checking the store is empty", err);
		break;
	}
out:
	sqlite3_finalize(s);
	free(sql);
	return r;
}

/* Binds row (t->ncols values) to ?1.. of s and inserts it. */
static enum fb_status
row_insert(struct sq *sq, sqlite3_stmt *s, const struct fb_store_table *t,
    const struct fb_store_value *row, struct fb_err *err)
{
	int rc = SQLITE_OK;

	for (size_t i = 0; i < t->ncols && rc == SQLITE_OK; i++) {
		int k = (int)i + 1;

		if (row[i].null)
			rc = sqlite3_bind_null(s, k);
		else if (t->cols[i].type == FB_STORE_COL_INT)
			rc = sqlite3_bind_int64(s, k, row[i].num);
		else
			rc = sqlite3_bind_text(s, k, row[i].text, -1, SQLITE_STATIC);
	}
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_DONE)
		rc = SQLITE_OK;
	sq_done(s);
	if (rc == SQLITE_OK)
		return FB_OK;
	if ((sqlite3_extended_errcode(sq->db) & 0xff) == SQLITE_CONSTRAINT)
		return fb_err_set(err, FB_ERR_INVALID, "import: %s: %s", t->name,
		    sqlite3_errmsg(sq->db));
	return sq_fail(sq, "import: insert", err);
}

static enum fb_status
sq_rows_load(struct fb_store *st, const struct fb_store_table *const *empty, size_t nempty,
    fb_store_row_next_fn next, void *arg, size_t *n, struct fb_store_row_at *at,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	const struct fb_store_table *t, *prev = NULL;
	const struct fb_store_value *row;
	sqlite3_stmt *s = NULL;
	enum fb_status r;

	*n = 0;
	if ((r = sq_begin(sq, "import: begin", err)) != FB_OK)
		goto out;
	for (size_t i = 0; i < nempty; i++)
		if ((r = table_check_empty(sq, empty[i], err)) != FB_OK)
			goto out;
	for (;;) {
		if ((r = next(arg, &t, &row, err)) != FB_OK || t == NULL)
			break;
		if (t != prev) {
			char *sql = fb_store_table_sql(t, "insert", 0);

			sqlite3_finalize(s);
			s = NULL;
			prev = t;
			if (sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL) != SQLITE_OK)
				r = sq_fail(sq, "import: prepare", err);
			free(sql);
			if (r != FB_OK)
				goto out;
		}
		if ((r = row_insert(sq, s, t, row, err)) != FB_OK)
			goto out;
		(*n)++;
	}
	if (r != FB_OK)
		goto out;
	sqlite3_finalize(s); /* a pending statement would block COMMIT */
	s = NULL;
	at->table = NULL; /* no row to blame from here on */
	r = sq_commit(sq, "import: commit", err);
out:
	sqlite3_finalize(s);
	if (r != FB_OK) {
		sq_rollback(sq);
		*n = 0;
	}
	return r;
}

/* ---- SCIM push ------------------------------------------------------------ */

static enum fb_status
sq_scim_fill(struct fb_store *st, const char *target, int64_t now, size_t *n,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	sqlite3_stmt *s;
	int64_t from, to;
	enum fb_status r;

	*n = 0;
	if ((r = sq_begin(sq, "scim_outbox_fill", err)) != FB_OK)
		goto out;
	if ((r = sq_get(sq, SQ_SCIM_CURSOR, SQ_VALS(sq_text(target)), &s, "scim_outbox_fill",
		 err)) != FB_OK) {
		if (r == FB_ERR_NOTFOUND)
			r = sq_fail(sq, "scim_outbox_fill", err);
		goto out;
	}
	from = sqlite3_column_int64(s, 0);
	to = sqlite3_column_int64(s, 1);
	sq_done(s);
	if (to > from) {
		if ((r = sq_write(sq, SQ_SCIM_FILL,
			 SQ_VALS(sq_text(target), sq_int(from), sq_int(now)), "scim_outbox_fill",
			 err)) != FB_OK)
			goto out;
		*n = (size_t)sqlite3_changes(sq->db);
		if ((r = sq_write(sq, SQ_SCIM_CURSOR_SET, SQ_VALS(sq_text(target), sq_int(to)),
			 "scim_outbox_fill", err)) != FB_OK)
			goto out;
	}
	r = sq_commit(sq, "scim_outbox_fill", err);
out:
	if (r != FB_OK) {
		sq_rollback(sq);
		*n = 0;
	}
	return r;
}

static enum fb_status
sq_scim_add(struct fb_store *st, const char *target, const char *kind, const char *object,
    int64_t now, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_SCIM_ADD,
	    SQ_VALS(sq_text(target), sq_text(kind), sq_text(object), sq_int(now)),
	    "scim_outbox_add", err);
}

/* Fills it from a row of kind, object, seq, attempts, next_at, last_error (new strings). */
static void
scim_item_row(sqlite3_stmt *s, struct fb_store_scim_item *it)
{
	it->kind = column_text(s, 0, 1);
	it->object = column_text(s, 1, 1);
	it->seq = sqlite3_column_int64(s, 2);
	it->attempts = sqlite3_column_int(s, 3);
	it->next_at = sqlite3_column_int64(s, 4);
	it->last_error = column_text(s, 5, 1);
}

/* Reads the due entries, then leases them, under one write lock. */
static enum fb_status
sq_scim_claim(struct fb_store *st, const char *target, const char *owner, int64_t now,
    int64_t lease_until, size_t limit, struct fb_store_scim_item **items, size_t *n,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	struct fb_store_scim_item *v = NULL;
	sqlite3_stmt *s;
	size_t k = 0;
	int rc;
	enum fb_status r;

	*items = NULL;
	*n = 0;
	if ((r = sq_begin(sq, "scim_outbox_claim", err)) != FB_OK)
		goto out;
	if ((s = sq_bound(sq, SQ_SCIM_CLAIM,
		 SQ_VALS(sq_text(target), sq_int(now), sq_int((int64_t)limit)),
		 "scim_outbox_claim", err)) == NULL) {
		r = FB_ERR_IO;
		goto out;
	}
	v = fb_xcalloc(limit, sizeof(*v));
	while (k < limit && (rc = sqlite3_step(s)) == SQLITE_ROW)
		scim_item_row(s, &v[k++]);
	if (k < limit && rc != SQLITE_DONE) {
		r = sq_fail(sq, "scim_outbox_claim", err);
		sq_done(s);
		goto out;
	}
	sq_done(s);
	for (size_t i = 0; i < k; i++)
		if ((r = sq_write(sq, SQ_SCIM_LEASE,
			 SQ_VALS(sq_text(target), sq_text(v[i].kind), sq_text(v[i].object),
			     sq_text(owner), sq_int(lease_until)),
			 "scim_outbox_claim", err)) != FB_OK)
			goto out;
	if ((r = sq_commit(sq, "scim_outbox_claim", err)) != FB_OK)
		goto out;
	if (k > 0) { /* none claimed: *items stays NULL (the array is freed below) */
		*items = v;
		*n = k;
		v = NULL;
	}
out:
	if (r != FB_OK)
		sq_rollback(sq);
	fb_store_scim_items_free(v, k);
	return r;
}

static enum fb_status
sq_scim_release(struct fb_store *st, const char *target, const char *kind, const char *object,
    const char *owner, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_SCIM_RELEASE,
	    SQ_VALS(sq_text(target), sq_text(kind), sq_text(object), sq_text(owner)),
	    "scim_outbox_release", err);
}

static enum fb_status
sq_scim_done(struct fb_store *st, const char *target, const char *kind, const char *object,
    const char *owner, int64_t seq, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_write(sq, SQ_SCIM_DONE,
		 SQ_VALS(sq_text(target), sq_text(kind), sq_text(object), sq_text(owner),
		     sq_int(seq)),
		 "scim_outbox_done", err)) != FB_OK || sqlite3_changes(sq->db) != 0)
		return r;
	/* A newer change came meanwhile: the entry stays, due now, for another push. */
	return sq_scim_release(st, target, kind, object, owner, err);
}

static enum fb_status
sq_scim_fail(struct fb_store *st, const char *target, const char *kind, const char *object,
    const char *owner, int64_t retry_at, const char *error, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_SCIM_FAIL,
	    SQ_VALS(sq_text(target), sq_text(kind), sq_text(object), sq_text(owner),
		sq_int(retry_at), sq_text(error)),
	    "scim_outbox_fail", err);
}

struct scim_item_each {
	int (*fn)(const struct fb_store_scim_item *it, void *arg);
	void *arg;
};

static int
scim_item_each(sqlite3_stmt *s, void *arg)
{
	struct scim_item_each *e = arg;
	struct fb_store_scim_item it = {
	    .kind = column_text(s, 0, 0),
	    .object = column_text(s, 1, 0),
	    .seq = sqlite3_column_int64(s, 2),
	    .attempts = sqlite3_column_int(s, 3),
	    .next_at = sqlite3_column_int64(s, 4),
	    .last_error = column_text(s, 5, 0),
	};

	return e->fn(&it, e->arg);
}

static enum fb_status
sq_scim_outbox_list(struct fb_store *st, const char *target,
    int (*fn)(const struct fb_store_scim_item *it, void *arg), void *arg, struct fb_err *err)
{
	struct scim_item_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_SCIM_OUTBOX_LIST_SQL, SQ_VALS(sq_text(target)),
	    scim_item_each, &e, "scim_outbox_list", err);
}

static enum fb_status
sq_scim_depth(struct fb_store *st, const char *target, size_t *depth, size_t *failing,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq, SQ_SCIM_DEPTH, SQ_VALS(sq_text(target)), &s, "scim_outbox_depth", err);
	if (r == FB_ERR_NOTFOUND)
		return sq_fail(sq, "scim_outbox_depth", err);
	if (r != FB_OK)
		return r;
	*depth = (size_t)sqlite3_column_int64(s, 0);
	*failing = (size_t)sqlite3_column_int64(s, 1);
	sq_done(s);
	return FB_OK;
}

/* Fills rm from a row of target, kind, object, remote_id, managed, digest, updated, body. */
static void
scim_remote_row(sqlite3_stmt *s, int copy, struct fb_store_scim_remote *rm)
{
	rm->target = column_text(s, 0, copy);
	rm->kind = column_text(s, 1, copy);
	rm->object = column_text(s, 2, copy);
	rm->remote_id = column_text(s, 3, copy);
	rm->managed = sqlite3_column_int(s, 4);
	rm->digest = column_text(s, 5, copy);
	rm->body = column_text(s, 7, copy);
	rm->updated = sqlite3_column_int64(s, 6);
}

static enum fb_status
sq_scim_remote_get(struct fb_store *st, const char *target, const char *kind,
    const char *object, struct fb_store_scim_remote *out, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq, SQ_SCIM_REMOTE_GET, SQ_VALS(sq_text(target), sq_text(kind), sq_text(object)),
	    &s, "scim_remote_get", err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "scim_remote_get: %s: no remote id for %s %s",
		    target, kind, object);
	if (r != FB_OK)
		return r;
	scim_remote_row(s, 1, out);
	sq_done(s);
	return FB_OK;
}

static enum fb_status
sq_scim_remote_put(struct fb_store *st, const struct fb_store_scim_remote *rm, int64_t now,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	r = sq_write(sq, SQ_SCIM_REMOTE_PUT,
	    SQ_VALS(sq_text(rm->target), sq_text(rm->kind), sq_text(rm->object),
		sq_text(rm->remote_id), sq_int(rm->managed != 0), sq_text(rm->digest), sq_int(now),
		sq_text(rm->body)),
	    "scim_remote_put", err);
	if (r != FB_OK && sqlite3_extended_errcode(sq->db) == SQLITE_CONSTRAINT_UNIQUE)
		r = fb_err_set(err, FB_ERR_INVALID,
		    "scim_remote_put: %s: remote %s id %s is already another object's", rm->target,
		    rm->kind, rm->remote_id);
	return r;
}

static enum fb_status
sq_scim_remote_delete(struct fb_store *st, const char *target, const char *kind,
    const char *object, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_SCIM_REMOTE_DELETE,
	    SQ_VALS(sq_text(target), sq_text(kind), sq_text(object)), "scim_remote_delete", err);
}

struct scim_remote_each {
	int (*fn)(const struct fb_store_scim_remote *rm, void *arg);
	void *arg;
};

static int
scim_remote_each(sqlite3_stmt *s, void *arg)
{
	struct scim_remote_each *e = arg;
	struct fb_store_scim_remote rm;

	scim_remote_row(s, 0, &rm);
	return e->fn(&rm, e->arg);
}

static enum fb_status
sq_scim_remote_list(struct fb_store *st, const char *target, const char *kind,
    int (*fn)(const struct fb_store_scim_remote *rm, void *arg), void *arg, struct fb_err *err)
{
	struct scim_remote_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_SCIM_REMOTE_LIST_SQL,
	    SQ_VALS(sq_text(target), sq_text(kind)), scim_remote_each, &e, "scim_remote_list",
	    err);
}

static enum fb_status
sq_scim_member_put(struct fb_store *st, const char *target, const char *group,
    const char *user_id, int present, struct fb_err *err)
{
	return sq_write(sq_of(st), present ? SQ_SCIM_MEMBER_ADD : SQ_SCIM_MEMBER_DELETE,
	    SQ_VALS(sq_text(target), sq_text(group), sq_text(user_id)), "scim_member_put", err);
}

/* The members in one transaction: one commit, not one per member. */
static enum fb_status
sq_scim_members_put(struct fb_store *st, const char *target, const char *group,
    const char *const *user_ids, size_t n, int present, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_begin(sq, "scim_members_put", err)) != FB_OK)
		return r;
	for (size_t i = 0; r == FB_OK && i < n; i++)
		r = sq_write(sq, present ? SQ_SCIM_MEMBER_ADD : SQ_SCIM_MEMBER_DELETE,
		    SQ_VALS(sq_text(target), sq_text(group), sq_text(user_ids[i])),
		    "scim_members_put", err);
	if (r == FB_OK)
		r = sq_commit(sq, "scim_members_put", err);
	if (r != FB_OK)
		sq_rollback(sq);
	return r;
}

static enum fb_status
sq_scim_member_list(struct fb_store *st, const char *target, const char *group,
    int (*fn)(const char *user_id, void *arg), void *arg, struct fb_err *err)
{
	struct name_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_SCIM_MEMBER_LIST_SQL,
	    SQ_VALS(sq_text(target), sq_text(group)), name_each, &e, "scim_member_list", err);
}

static enum fb_status
sq_scim_report_put(struct fb_store *st, const char *target, int64_t now, int ok,
    const char *report, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_SCIM_REPORT_PUT,
	    SQ_VALS(sq_text(target), sq_int(now), sq_int(ok != 0), sq_text(report)),
	    "scim_report_put", err);
}

static enum fb_status
sq_scim_report_get(struct fb_store *st, const char *target, int64_t *at, int *ok,
    char **report, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq, SQ_SCIM_REPORT_GET, SQ_VALS(sq_text(target)), &s, "scim_report_get", err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "scim_report_get: %s: no sync report yet",
		    target);
	if (r != FB_OK)
		return r;
	*at = sqlite3_column_int64(s, 0);
	*ok = sqlite3_column_int(s, 1);
	*report = column_text(s, 2, 1);
	sq_done(s);
	return FB_OK;
}

static enum fb_status
sq_group_members(struct fb_store *st, const char *group,
    int (*fn)(const struct fb_store_user *u, void *arg), void *arg, struct fb_err *err)
{
	struct user_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_GROUP_MEMBERS_SQL, SQ_VALS(sq_text(group)), user_each, &e,
	    "group_members", err);
}

/* ---- the OpenID provider's grants ------------------------------------------ */

static const char *
oidc_kind_name(enum fb_store_oidc_kind kind)
{
	return kind == FB_STORE_OIDC_CODE ? "code" : "refresh";
}

static enum fb_status
sq_oidc_grant_add(struct fb_store *st, const struct fb_store_oidc_grant *g, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_begin(sq, "oidc_grant_add", err)) != FB_OK)
		return r;
	if ((r = sq_write(sq, SQ_OIDC_FAMILY_PUT,
		 SQ_VALS(sq_text(g->family), sq_text(g->client_id), sq_int(g->expires_at)),
		 "oidc_grant_add", err)) != FB_OK)
		goto out;
	r = sq_write(sq, SQ_OIDC_GRANT_INSERT,
	    SQ_VALS(sq_text(g->hash), sq_text(oidc_kind_name(g->kind)), sq_text(g->family),
		sq_text(g->client_id), sq_text(g->data), sq_int(g->expires_at)),
	    "oidc_grant_add", err);
	if (r != FB_OK) {
		if (sqlite3_extended_errcode(sq->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
			r = fb_err_set(err, FB_ERR_REPLAY, "oidc_grant_add: the hash is taken");
		goto out;
	}
	r = sq_commit(sq, "oidc_grant_add", err);
out:
	if (r != FB_OK)
		sq_rollback(sq);
	return r;
}

/* SECURITY: read, mark used (or revoke the family) under one write lock. */
static enum fb_status
sq_oidc_grant_use(struct fb_store *st, const char *hash, enum fb_store_oidc_kind kind,
    int64_t now, struct fb_store_oidc_grant *out, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	sqlite3_stmt *s;
	int used, revoked;
	enum fb_status r;

	if ((r = sq_begin(sq, "oidc_grant_use", err)) != FB_OK)
		return r;
	r = sq_get(sq, SQ_OIDC_GRANT_GET, SQ_VALS(sq_text(hash), sq_text(oidc_kind_name(kind)),
	    sq_int(now)), &s, "oidc_grant_use", err);
	if (r == FB_ERR_NOTFOUND)
		r = fb_err_set(err, FB_ERR_NOTFOUND, "oidc_grant_use: no such %s",
		    oidc_kind_name(kind));
	if (r != FB_OK)
		goto out;
	out->hash = fb_xstrdup(hash);
	out->kind = kind;
	out->family = column_text(s, 0, 1);
	out->client_id = column_text(s, 1, 1);
	out->data = column_text(s, 2, 1);
	out->expires_at = sqlite3_column_int64(s, 3);
	used = sqlite3_column_int(s, 4) != 0;
	revoked = sqlite3_column_int(s, 5) != 0;
	sq_done(s);
	if (used) {
		if ((r = sq_write(sq, SQ_OIDC_FAMILY_REVOKE, SQ_VALS(sq_text(out->family),
			 sq_int(now)), "oidc_grant_use", err)) != FB_OK ||
		    (r = sq_commit(sq, "oidc_grant_use", err)) != FB_OK)
			goto out;
		return fb_err_set(err, FB_ERR_REPLAY, "oidc_grant_use: the %s was used before",
		    oidc_kind_name(kind));
	}
	if (revoked) {
		sq_rollback(sq);
		return fb_err_set(err, FB_ERR_DENIED, "oidc_grant_use: the %s is revoked",
		    oidc_kind_name(kind));
	}
	if ((r = sq_write(sq, SQ_OIDC_GRANT_USE, SQ_VALS(sq_text(hash), sq_int(now)),
		 "oidc_grant_use", err)) != FB_OK)
		goto out;
	r = sq_commit(sq, "oidc_grant_use", err);
out:
	if (r != FB_OK)
		sq_rollback(sq);
	return r;
}

static enum fb_status
sq_oidc_family_revoke(struct fb_store *st, const char *family, int64_t now, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_OIDC_FAMILY_REVOKE, SQ_VALS(sq_text(family), sq_int(now)),
	    "oidc_family_revoke", err);
}

static enum fb_status
sq_oidc_jti_revoke(struct fb_store *st, const char *jti, int64_t expires_at, struct fb_err *err)
{
	return sq_write(sq_of(st), SQ_OIDC_JTI_PUT, SQ_VALS(sq_text(jti), sq_int(expires_at)),
	    "oidc_jti_revoke", err);
}

static enum fb_status
sq_oidc_token_state(struct fb_store *st, const char *jti, const char *family, int64_t now,
    int *revoked, struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq_of(st), SQ_OIDC_TOKEN_STATE,
	    SQ_VALS(sq_text(jti), sq_text(family), sq_int(now)), &s, "oidc_token_state", err);
	if (r != FB_OK)
		return r;
	*revoked = sqlite3_column_int(s, 0) != 0;
	sq_done(s);
	return FB_OK;
}

/* ---- the OpenID provider's clients ------------------------------------------ */

static void
oidc_client_row(sqlite3_stmt *s, int copy, struct fb_store_oidc_client *out)
{
	out->id = column_text(s, 0, copy);
	out->spec = column_text(s, 1, copy);
	out->secret_hash = column_text(s, 2, copy);
	out->jwks = column_text(s, 3, copy);
	out->created = sqlite3_column_int64(s, 4);
}

static enum fb_status
sq_oidc_client_add(struct fb_store *st, const struct fb_store_oidc_client *c, int64_t now,
    struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	r = sq_write(sq, SQ_OIDC_CLIENT_INSERT,
	    SQ_VALS(sq_text(c->id), sq_text(c->spec), sq_text(c->secret_hash), sq_text(c->jwks),
		sq_int(now)),
	    "oidc_client_add", err);
	if (r != FB_OK && sqlite3_extended_errcode(sq->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		r = fb_err_set(err, FB_ERR_REPLAY, "oidc_client_add: client %s exists", c->id);
	return r;
}

static enum fb_status
sq_oidc_client_get(struct fb_store *st, const char *id, struct fb_store_oidc_client *out,
    struct fb_err *err)
{
	sqlite3_stmt *s;
	enum fb_status r;

	r = sq_get(sq_of(st), SQ_OIDC_CLIENT_GET, SQ_VALS(sq_text(id)), &s, "oidc_client_get", err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "oidc_client_get: no client %s", id);
	if (r != FB_OK)
		return r;
	oidc_client_row(s, 1, out);
	sq_done(s);
	return FB_OK;
}

/* What sq_oidc_client_list passes through sq_each. */
struct oidc_client_each {
	int (*fn)(const struct fb_store_oidc_client *c, void *arg);
	void *arg;
};

static int
oidc_client_each(sqlite3_stmt *s, void *arg)
{
	struct oidc_client_each *e = arg;
	struct fb_store_oidc_client c;

	oidc_client_row(s, 0, &c);
	return e->fn(&c, e->arg);
}

static enum fb_status
sq_oidc_client_list(struct fb_store *st,
    int (*fn)(const struct fb_store_oidc_client *c, void *arg), void *arg, struct fb_err *err)
{
	struct oidc_client_each e = {fn, arg};

	return sq_each(sq_of(st), SQ_OIDC_CLIENT_LIST_SQL, NULL, 0, oidc_client_each, &e,
	    "oidc_client_list", err);
}

static enum fb_status
sq_oidc_client_remove(struct fb_store *st, const char *id, int64_t now, struct fb_err *err)
{
	struct sq *sq = sq_of(st);
	enum fb_status r;

	if ((r = sq_begin(sq, "oidc_client_remove", err)) != FB_OK)
		return r;
	if ((r = sq_write(sq, SQ_OIDC_CLIENT_DELETE, SQ_VALS(sq_text(id)), "oidc_client_remove",
		 err)) != FB_OK)
		goto out;
	if (sqlite3_changes(sq->db) == 0) {
		r = fb_err_set(err, FB_ERR_NOTFOUND, "oidc_client_remove: no client %s", id);
		goto out;
	}
	if ((r = sq_write(sq, SQ_OIDC_CLIENT_FAMILIES_REVOKE, SQ_VALS(sq_text(id), sq_int(now)),
		 "oidc_client_remove", err)) != FB_OK)
		goto out;
	r = sq_commit(sq, "oidc_client_remove", err);
out:
	if (r != FB_OK)
		sq_rollback(sq);
	return r;
}

const struct fb_store_ops fb_store_sqlite_ops = {
	.name = "sqlite",
	.schema_latest = sq_schema_latest,
	.open = sq_open,
	.close = sq_close,
	.ping = sq_ping,
	.kv_put = sq_kv_put,
	.kv_add = sq_kv_add,
	.kv_get = sq_kv_get,
	.kv_take = sq_kv_take,
	.kv_delete = sq_kv_delete,
	.purge = sq_purge,
	.session_revoke = sq_session_revoke,
	.session_state = sq_session_state,
	.user_upsert = sq_user_upsert,
	.user_get = sq_user_get,
	.user_list = sq_user_list,
	.user_delete = sq_user_delete,
	.user_get_by_id = sq_user_get_by_id,
	.kv_incr = sq_kv_incr,
	.cred_create = sq_cred_create,
	.cred_get = sq_cred_get,
	.cred_password_set = sq_cred_password_set,
	.cred_totp_set = sq_cred_totp_set,
	.cred_totp_accept = sq_cred_totp_accept,
	.cred_login_set = sq_cred_login_set,
	.cred_sessions_revoke = sq_cred_sessions_revoke,
	.cred_count = sq_cred_count,
	.recovery_replace = sq_recovery_replace,
	.recovery_use = sq_recovery_use,
	.recovery_count = sq_recovery_count,
	.token_add = sq_token_add,
	.token_get = sq_token_get,
	.token_list = sq_token_list,
	.audit_add = sq_audit_add,
	.audit_list = sq_audit_list,
	.token_revoke = sq_token_revoke,
	.nameid_get = sq_nameid_get,
	.nameid_ensure = sq_nameid_ensure,
	.link_find = sq_link_find,
	.link_list = sq_link_list,
	.groups_list = sq_groups_list,
	.upstream_signin = sq_upstream_signin,
	.user_find_email = sq_user_find_email,
	.rows_each = sq_rows_each,
	.rows_load = sq_rows_load,
	.scim_fill = sq_scim_fill,
	.scim_add = sq_scim_add,
	.scim_claim = sq_scim_claim,
	.scim_done = sq_scim_done,
	.scim_release = sq_scim_release,
	.scim_fail = sq_scim_fail,
	.scim_outbox_list = sq_scim_outbox_list,
	.scim_depth = sq_scim_depth,
	.scim_remote_get = sq_scim_remote_get,
	.scim_remote_put = sq_scim_remote_put,
	.scim_remote_delete = sq_scim_remote_delete,
	.scim_remote_list = sq_scim_remote_list,
	.scim_member_put = sq_scim_member_put,
	.scim_members_put = sq_scim_members_put,
	.scim_member_list = sq_scim_member_list,
	.scim_report_put = sq_scim_report_put,
	.scim_report_get = sq_scim_report_get,
	.group_members = sq_group_members,
	.oidc_grant_add = sq_oidc_grant_add,
	.oidc_grant_use = sq_oidc_grant_use,
	.oidc_family_revoke = sq_oidc_family_revoke,
	.oidc_jti_revoke = sq_oidc_jti_revoke,
	.oidc_token_state = sq_oidc_token_state,
	.oidc_client_add = sq_oidc_client_add,
	.oidc_client_get = sq_oidc_client_get,
	.oidc_client_list = sq_oidc_client_list,
	.oidc_client_remove = sq_oidc_client_remove,
};
