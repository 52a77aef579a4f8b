#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""82: `fedbroker store export|import|migrate|copy` (issue 12, items 1 and 6):
a store with local accounts (password, TOTP, recovery codes), API tokens,
upstream links and groups and persistent NameIDs is exported and imported into
a fresh state directory, where `user show` reads the same, the same password
and TOTP sign in, and the same persistent NameID reaches an SP (checked by
independent SAML libraries); copy sqlite->sqlite with its counts; migrate
--check on an older schema, and store.migrate manual (serve and the other
commands refuse it untouched until `store migrate`); bad input (truncated JSON, another format
version, a duplicate user, an unknown field, a row the database refuses, a
non-empty target), each with its message and the target unchanged.
On PostgreSQL (tests/pgtest.py's server): copy sqlite -> postgres -> sqlite,
each side reading the same (`user show`, the password and TOTP or a recovery
code sign in, the same persistent NameID); migrate --check and store.migrate
manual on a database at schema 6; an import refused mid-way leaves the
database unchanged.
"""

import hashlib
import json
import os
import pty
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time

import harness
import webclient

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests"))
import pgtest  # noqa: E402

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

GROUPS = [{"name": "aws-admins", "attributes": {"aws_role": "Admin"}, "members": ["alice"]}]
USERS = ["alice", "bob"]


def fb(*args, stdin=None, stdout=subprocess.PIPE):
    return subprocess.run([harness.BIN] + list(args), input=stdin, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def at(srv, *args, **kw):
    """`fedbroker ARGS` on srv's configuration and state directory."""
    return fb(*(list(args) + ["--config", srv.config, "--state-dir", srv.state_dir]), **kw)


def db_of(srv):
    return os.path.join(srv.state_dir, "fedbroker.db")


def store_created(srv):
    """Whether srv's store exists: its SQLite file, or fedbroker's schema in its PostgreSQL
    database (FB_TEST_STORE=postgres)."""
    if srv.conf.get("store", {}).get("driver") != "postgres":
        return os.path.exists(db_of(srv))
    return srv.store_sql("SELECT to_regclass('fedbroker_schema') IS NOT NULL")[1] == [("t",)]


def tables_of(path):
    with open(path) as f:
        return json.load(f)["tables"]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# A store of the latest schema taken back to schema 7 (the OpenID provider's migration 9 and
# SCIM push's migration 8 undone), as a
# deployment still on an older fedbroker would have it.
SQLITE_BACK_TO_7 = (
    "DROP TABLE oidc_clients;"
    " DROP TABLE oidc_grants; DROP TABLE oidc_families; DROP TABLE oidc_revoked_jti;"
    " DROP TABLE scim_changes; DROP TABLE scim_cursors; DROP TABLE scim_outbox;"
    " DROP TABLE scim_remote; DROP TABLE scim_members; DROP TABLE scim_reports;"
    " DROP TRIGGER scim_user_insert; DROP TRIGGER scim_user_update;"
    " DROP TRIGGER scim_user_delete; DROP TRIGGER scim_group_insert;"
    " DROP TRIGGER scim_group_delete; DROP INDEX upstream_groups_name;"
    " PRAGMA user_version = 7;")
PG_BACK_TO_7 = (
    "DROP TRIGGER scim_user ON users; DROP TRIGGER scim_group ON upstream_groups;"
    " DROP FUNCTION scim_user_changed(); DROP FUNCTION scim_group_changed();"
    " DROP FUNCTION scim_log(text, text);"
    " DROP TABLE oidc_clients, oidc_grants, oidc_families, oidc_revoked_jti;"
    " DROP TABLE scim_changes, scim_cursors, scim_outbox, scim_remote, scim_members,"
    " scim_reports; DROP INDEX upstream_groups_name; UPDATE fedbroker_schema SET version = 7")

class StoreCli(harness.TestCase):
    """One populated broker (A) for every test; each test makes its own targets."""

    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        cls.a = fbsaml.saml_server(cls.holder, [fbsaml.aws_sp("aws")], GROUPS, USERS)
        a = cls.a
        # alice: TOTP and recovery codes through the pages, then a persistent NameID.
        b = fbsaml.signed_in(cls.holder, a, "alice")
        p = b.get("/mfa/enrol")
        cls.holder.assertEqual(p.status, 200, p.text[:2000])
        cls.secret = p.by_id("totp-secret").replace(" ", "")
        webclient.wait_fresh_step()
        r = b.submit(p, "/mfa/enrol", {"pending": p.hidden("pending"),
                                       "code": webclient.totp(cls.secret)})
        cls.holder.assertIn("Two-step verification is on", r.text)
        cls.codes = re.findall(r"<li>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</li>", r.text)
        cls.holder.assertEqual(len(cls.codes), 10)
        _, resp, _ = fbsaml.response_of(cls.holder, b.get("/saml/idp/init/aws"))
        cls.nameid = pc.describe(pc.decode_post(resp))["name_id"]
        cls.holder.assertTrue(cls.nameid)
        # bob: an API token; carol: a user of an upstream with a link and groups.
        cp = at(a, "token", "create", "--user", "bob", "--description", "ci")
        cls.holder.assertEqual(cp.returncode, 0, cp.stderr)
        a.store_sql("INSERT INTO users (id, username, name, email, source, active, created,"
                    " last_seen) VALUES ('u-carol', 'carol', 'Carol C', 'carol@example.org',"
                    " 'corp', 1, 1700000000, 1700000100)")
        a.store_sql("INSERT INTO upstream_links VALUES ('corp', 'https://idp.example',"
                    " 'sub-carol', 'u-carol', 1700000000, 1700000100)")
        for g in ("engineers", "oncall"):
            a.store_sql("INSERT INTO upstream_groups VALUES ('u-carol', 'corp', ?)", (g,))
        cls.show = {u: at(a, "user", "show", u).stdout for u in ("alice", "bob", "carol")}
        cls.tokens = at(a, "token", "list").stdout
        # An OpenID client kept in the store: exported with its secret's hash (issue 14).
        cp = at(a, "oidc", "client", "add", "--id", "exported-svc", "--type", "service",
                "--scope", "jobs", "--signing-alg", "RS256", "--generate-secret")
        cls.holder.assertEqual(cp.returncode, 0, cp.stderr)
        cls.oidc_secret = cp.stdout.split("client_secret: ")[1].split()[0]
        cls.dir = cls.holder.tmpdir()
        cls.pg = None
        cls.export = os.path.join(cls.dir, "export.json")
        cp = at(a, "store", "export", "--json", "--output", cls.export)
        cls.holder.assertEqual(cp.returncode, 0, cp.stderr)

    @classmethod
    def tearDownClass(cls):
        if cls.a.proc is not None and cls.a.proc.poll() is None:
            cls.a.stop()
        if cls.pg is not None:
            cls.pg.stop()
        cls.holder.doCleanups()

    def fresh(self, over=None):
        """A second broker B with A's configuration (and over) and cookie keys, empty state."""
        b = harness.Server(self, conf={}, workers=2)
        conf = harness.deep_merge(self.a.conf, {
            "server": {"listen": ["127.0.0.1:%d" % b.port],
                       "public_url": "http://127.0.0.1:%d" % b.port}})
        if "store" in b.conf:  # PostgreSQL: B's own (empty) database, not A's
            conf["store"] = b.conf["store"]
        conf = harness.deep_merge(conf, over or {})
        b.conf = conf
        b.write_config(conf)
        # SECURITY: TOTP secrets are sealed with the cookie keys: a restore needs them
        # (generated in A's state dir; on PostgreSQL, session.cookie_keys of A's conf).
        if os.path.exists(os.path.join(self.a.state_dir, "cookie-keys")):
            shutil.copy(os.path.join(self.a.state_dir, "cookie-keys"), b.state_dir)
        return b

    def write(self, name, doc):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def doc(self):
        with open(self.export) as f:
            return json.load(f)

    # ---- PostgreSQL ------------------------------------------------------------------

    def pg_fresh(self):
        """A new database on the class's PostgreSQL server: its DSN, name and a secret
        reference (file:PATH, mode 0600) to the DSN, as store.dsn and postgres:REF take it."""
        if StoreCli.pg is None:
            StoreCli.pg = pgtest.Server().start()
        dsn = self.pg.fresh_dsn()
        ref = os.path.join(self.tmpdir(), "dsn")
        with open(os.open(ref, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(dsn + "\n")
        return dsn, dsn.split("dbname=")[1].strip("'"), "file:" + ref

    def fresh_pg(self, ref, over=None):
        """fresh(), its store the PostgreSQL database of ref."""
        # A shared store means replicas: serve generates no signing key for it (the cookie
        # keys travel as A's cookie-keys file, which fresh() copies).
        keys = {"keys": harness.replica_conf(self.tmpdir())["keys"]}
        return self.fresh(harness.deep_merge(
            harness.deep_merge({"store": {"driver": "postgres", "dsn": ref}}, keys),
            over or {}))

    def pg_shape(self, db):
        """The relations of db and its schema version: what a refused command must not change."""
        return (self.pg.psql("SELECT string_agg(relname || ':' || relkind::text, ','"
                             " ORDER BY relname) FROM pg_class WHERE relnamespace ="
                             " 'public'::regnamespace", db),
                self.pg.psql("SELECT string_agg(version::text, ',') FROM fedbroker_schema", db))

    def signs_in(self, b, mfa):
        """alice signs in on the running b with the password and mfa (a TOTP code or a
        recovery code), and the persistent NameID the SP gets is A's, checked by
        independent SAML libraries."""
        br = fbsaml.browser(self, b)
        r = br.login("alice", fbsaml.PASSWORD)
        self.assertEqual((r.status, r.location), (303, "/login/mfa"), r.text[:2000])
        p = br.get("/login/mfa")
        r = br.submit(p, "/login/mfa", {"code": mfa})
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        _, resp, _ = fbsaml.response_of(self, br.get("/saml/idp/init/aws"))
        md = fbsaml.idp_metadata(self, b)
        verdicts = fbsaml.validate_all(self, resp, md, "urn:amazon:webservices", fbsaml.AWS_ACS)
        self.assertEqual(pc.describe(pc.decode_post(resp))["name_id"], self.nameid)
        for lib, v in verdicts.items():
            if v.get("lib_name_id") is not None:
                self.assertEqual(v["lib_name_id"], self.nameid, lib)
        return br

    # ---- export -----------------------------------------------------------------------

    def test_export_holds_everything_and_is_private(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.export).st_mode), 0o600)
        d = self.doc()
        self.assertEqual((d["format"], d["format_version"], d["schema_version"], d["driver"]),
                         ("fedbroker-store-export", 1, 10, harness.STORE))
        self.assertRegex(d["fedbroker_version"], r"^\d+\.\d+")
        self.assertRegex(d["created"], r"^\d{4}-\d\d-\d\dT")
        t = d["tables"]
        self.assertEqual(sorted(u["username"] for u in t["users"]), ["alice", "bob", "carol"])
        cred = {c["user_id"]: c for c in t["local_credentials"]}
        alice = [u["id"] for u in t["users"] if u["username"] == "alice"][0]
        self.assertTrue(cred[alice]["password_hash"].startswith("$argon2id$"))
        self.assertTrue(cred[alice]["totp_secret"])
        self.assertNotIn(self.secret, json.dumps(d), "the TOTP secret is sealed")
        self.assertEqual(len(t["recovery_codes"]), 10)
        self.assertEqual(len(t["api_tokens"]), 1)
        self.assertRegex(t["api_tokens"][0]["secret_hash"], r"^[0-9a-f]{64}$")
        self.assertEqual([n["nameid"] for n in t["saml_nameids"]], [self.nameid])
        self.assertEqual(len(t["upstream_links"]), 1)
        self.assertEqual(sorted(g["name"] for g in t["upstream_groups"]),
                         ["engineers", "oncall"])
        self.assertEqual([c["id"] for c in t["oidc_clients"]], ["exported-svc"])
        self.assertRegex(t["oidc_clients"][0]["secret_hash"], r"^[0-9a-f]{64}$")
        self.assertEqual(json.loads(t["oidc_clients"][0]["spec"])["type"], "service")
        self.assertNotIn(self.oidc_secret, json.dumps(d), "only the secret's hash")
        # Codes and refresh-token families are short-lived: not exported.
        for table in ("oidc_grants", "oidc_families", "oidc_revoked_jti"):
            self.assertNotIn(table, t)
        self.assertNotIn("audit_log", t, "the audit log only with --audit")
        self.assertNotIn("kv", t)
        # The sign-in above replaced a session (revoked): revocations travel, until they expire.
        self.assertTrue(t["session_revocations"])
        for rev in t["session_revocations"]:
            self.assertEqual(sorted(rev), ["expires_at", "sid"])
            self.assertGreater(rev["expires_at"], time.time())

    def test_export_audit_and_stdout(self):
        cp = at(self.a, "store", "export", "--json", "--audit")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        d = json.loads(cp.stdout)
        self.assertIn("token_created", [r["event"] for r in d["tables"]["audit_log"]])
        cp = at(self.a, "store", "export")
        self.assertEqual(cp.returncode, 2)
        self.assertIn("--json is required", cp.stderr)

    def test_export_refused_to_a_terminal(self):
        master, slave = pty.openpty()
        try:
            cp = at(self.a, "store", "export", "--json", stdout=slave)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        try:
            shown = os.read(master, 65536).decode("utf-8", "replace")
        except (BlockingIOError, OSError):
            shown = ""
        os.close(master)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("refusing to write password hashes and TOTP secrets to a terminal",
                      cp.stderr)
        self.assertNotIn("argon2id", shown)

    # ---- import round trip ------------------------------------------------------------

    def test_round_trip(self):
        b = self.fresh()
        cp = at(b, "store", "import", "--json", self.export, "--init")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("imported 22 rows", cp.stdout)
        for u, text in self.show.items():
            self.assertEqual(at(b, "user", "show", u).stdout, text, "user show %s" % u)
        self.assertEqual(at(b, "token", "list").stdout, self.tokens)
        cp = at(b, "oidc", "client", "list", "--json")
        self.assertEqual([(c["id"], c["source"]) for c in json.loads(cp.stdout)],
                         [("exported-svc", "store")])
        b.start()
        # The restored client authenticates with its secret at B (the hash travelled).
        r = b.request("POST", "/oauth2/token", headers={
            "Content-Type": "application/x-www-form-urlencoded"},
            body="grant_type=client_credentials&client_id=exported-svc&client_secret="
            + self.oidc_secret)
        self.assertEqual(r.status, 200, r.body)
        # The same password, then the same TOTP secret (the next step: this one was used),
        # and the same persistent NameID reaches the SP.
        br = self.signs_in(b, webclient.totp(self.secret, step_offset=1))
        self.assertIn("(10 recovery codes left)", br.get("/").text)
        # A recovery code of A works once on B.
        br2 = fbsaml.browser(self, b)
        br2.login("alice", fbsaml.PASSWORD)
        r = br2.submit(br2.get("/login/mfa"), "/login/mfa", {"code": self.codes[3]})
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        b.stop()

    def test_oidc_client_add_needs_a_key_of_its_algorithm(self):
        """A client no key of the keyring can sign for is refused, nothing stored."""
        b = self.fresh({"keys": harness.replica_conf(self.tmpdir())["keys"]})  # RSA only
        cp = at(b, "oidc", "client", "add", "--id", "noec", "--type", "service",
                "--generate-secret", "--init")
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("signing_alg ES256 needs an EC P-256 key", cp.stderr)
        self.assertNotIn("client_secret:", cp.stdout)
        self.assertEqual(json.loads(at(b, "oidc", "client", "list", "--json").stdout), [])
        cp = at(b, "oidc", "client", "add", "--id", "rsa", "--type", "service",
                "--signing-alg", "RS256", "--generate-secret")
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def test_revocations_travel(self):
        """A session signed out before the export stays signed out after the import: the
        cookie keys travel with a restore, so without its revocation a copied cookie of a
        signed-out session would work again on the restored store."""
        b = self.fresh()
        self.assertEqual(at(b, "store", "import", "--json", self.export, "--init").returncode, 0)
        b.start()
        br = self.signs_in(b, webclient.totp(self.secret, step_offset=1))
        stolen = dict(br.cookies)
        r = br.submit(br.get("/logout"), "/logout", {})
        self.assertEqual(r.status, 200, r.text[:2000])
        b.stop()
        out = os.path.join(self.tmpdir(), "b.json")
        cp = at(b, "store", "export", "--json", "--output", out)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        with open(out) as f:
            self.assertGreater(len(json.load(f)["tables"]["session_revocations"]),
                               len(self.doc()["tables"]["session_revocations"]))
        c = self.fresh()
        cp = at(c, "store", "import", "--json", out, "--init")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        c.start()
        thief = webclient.Browser("127.0.0.1", c.port)
        thief.cookies.update(stolen)
        r = thief.get("/")
        self.assertEqual((r.status, r.location), (303, "/login"), r.text[:2000])
        c.stop()

    def test_restored_store_gets_no_bootstrap_admin(self):
        """Only upstream users (no local account) restored: still not a first start."""
        b = self.fresh({"local": {"bootstrap": {"enabled": True}}})
        d = self.doc()
        carol = [u for u in d["tables"]["users"] if u["username"] == "carol"]
        d["tables"] = {"users": carol,
                       "upstream_links": d["tables"]["upstream_links"],
                       "upstream_groups": d["tables"]["upstream_groups"]}
        cp = at(b, "store", "import", "--json", self.write("carol.json", d), "--init")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("imported 4 rows", cp.stdout)
        b.start()
        b.stop()
        self.assertNotIn("bootstrap administrator created", b.logs())
        cp = at(b, "user", "show", "admin")
        self.assertEqual(cp.returncode, 1, cp.stdout)
        self.assertIn("engineers", at(b, "user", "show", "carol").stdout)

    # ---- bad input -----------------------------------------------------------------------

    def assertRefused(self, srv, path, *words):
        """Import of path into srv fails with words in the message and leaves it unchanged."""
        dump_before = at(srv, "store", "export", "--json", "--audit").stdout \
            if store_created(srv) else None
        cp = at(srv, "store", "import", "--json", path, "--init")
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        for w in words:
            self.assertIn(w, cp.stderr)
        self.assertIn("nothing was imported", cp.stderr)
        self.assertNotIn("Traceback", cp.stderr)
        if dump_before is not None:
            after = at(srv, "store", "export", "--json", "--audit").stdout
            self.assertEqual(json.loads(after)["tables"], json.loads(dump_before)["tables"])
        return cp.stderr

    def test_bad_input(self):
        b = self.fresh()
        # A target that already holds an account.
        cp = at(b, "user", "add", "zed", "--init", "--password-stdin",
                stdin=fbsaml.PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        with open(self.export) as f:
            text = f.read()
        trunc = self.write("trunc.json", text[:len(text) // 2])
        err = self.assertRefused(b, trunc, "trunc.json:")
        self.assertRegex(err, r"trunc\.json:\d+:\d+: ", "the place of the error")
        d = self.doc()
        d["format_version"] = 2
        self.assertRefused(b, self.write("v2.json", d), "$.format_version: 2 is not supported")
        d = self.doc()
        d["schema_version"] = 99
        self.assertRefused(b, self.write("s99.json", d), "$.schema_version: 99")
        d = self.doc()
        dup = dict(d["tables"]["users"][1])
        dup["id"] = "another-id"
        d["tables"]["users"].append(dup)
        self.assertRefused(b, self.write("dup.json", d),
                           "$.tables.users[3]: the same username as $.tables.users[1]")
        d = self.doc()
        d["tables"]["users"][0]["colour"] = "red"
        self.assertRefused(b, self.write("unknown.json", d),
                           "$.tables.users[0].colour: unknown field")
        d = self.doc()
        d["tables"]["scim_things"] = []
        self.assertRefused(b, self.write("table.json", d), "$.tables.scim_things: unknown table")
        d = self.doc()
        d["tables"]["api_tokens"][0]["created"] = "yesterday"
        self.assertRefused(b, self.write("type.json", d),
                           "$.tables.api_tokens[0].created: must be an integer, not a string")
        d = self.doc()
        del d["tables"]["users"][0]["source"]
        self.assertRefused(b, self.write("missing.json", d),
                           "$.tables.users[0].source: missing")
        # A valid file into the non-empty store.
        self.assertRefused(b, self.export, "the store is not empty (table users holds rows)")
        # A row the database refuses, found after rows were written: all rolled back.
        c = self.fresh()
        cp = at(c, "store", "migrate", "--init")  # creates nothing: migrate never does
        self.assertNotEqual(cp.returncode, 0)
        self.assertFalse(store_created(c))
        d = self.doc()
        d["tables"]["api_tokens"][0]["user_id"] = "nobody"
        err = self.assertRefused(c, self.write("fk.json", d), "$.tables.api_tokens[0]",
                                 "FOREIGN KEY" if harness.STORE == "sqlite"
                                 else "violates foreign key constraint")
        self.assertNotIn("argon2id", err)
        cp = at(c, "store", "export", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual({k: len(v) for k, v in json.loads(cp.stdout)["tables"].items()},
                         {k: 0 for k in json.loads(cp.stdout)["tables"]},
                         "nothing of the failed import stayed")

    @harness.sqlite_only("writes an SQLite copy of A's store behind its back")
    def test_empty_and_non_utf8_text(self):
        d = self.tmpdir()
        path = os.path.join(d, "fedbroker.db")
        cp = at(self.a, "store", "copy", "--from", "config", "--to", "sqlite:" + path)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        args = ["--config", self.a.config, "--state-dir", d]
        db = sqlite3.connect(path)
        with db:
            db.execute("UPDATE users SET name = '' WHERE username = 'bob'")
        # An empty text goes through export and import as it is.
        cp = fb("store", "export", "--json", *args)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        bob = [u for u in json.loads(cp.stdout)["tables"]["users"] if u["username"] == "bob"]
        self.assertEqual(bob[0]["name"], "")
        empty = self.tmpdir()
        cp = fb("store", "import", "--json", "-", "--init", "--config", self.a.config,
                "--state-dir", empty, stdin=cp.stdout)  # from standard input
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("imported 22 rows from -", cp.stdout)
        # Bytes that are not UTF-8 (written behind the store's back): refused, named, no file.
        with db:
            db.execute("UPDATE users SET name = CAST(X'41FF42' AS TEXT) WHERE username = 'bob'")
        db.close()
        out = os.path.join(d, "bad.json")
        cp = fb("store", "export", "--json", "--output", out, *args)
        self.assertEqual(cp.returncode, 1, cp.stdout)
        self.assertRegex(cp.stderr, r"\$\.tables\.users\[\d\]\.name: the stored text is not "
                         r"UTF-8")
        self.assertFalse(os.path.exists(out))
        self.assertEqual([n for n in os.listdir(d) if n.startswith("bad")], [], "no partial file")

    # ---- copy ------------------------------------------------------------------------------

    def test_copy_sqlite_to_sqlite(self):
        target = os.path.join(self.tmpdir(), "copy", "fedbroker.db")
        cp = at(self.a, "store", "copy", "--from", "config", "--to", "sqlite:" + target)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("copied 22 rows", cp.stdout)
        self.assertRegex(cp.stdout, r"users\s+3 -> 3")
        self.assertRegex(cp.stdout, r"recovery_codes\s+10 -> 10")
        self.assertEqual(stat.S_IMODE(os.stat(target).st_mode), 0o600)
        cp = fb("store", "export", "--json", "--state-dir", os.path.dirname(target),
                "--config", self.a.config)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(json.loads(cp.stdout)["tables"], self.doc()["tables"])
        # Again into the now full target: refused, the target unchanged.
        before = digest(target)
        cp = at(self.a, "store", "copy", "--from", "config", "--to", "sqlite:" + target)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("not empty", cp.stderr)
        self.assertEqual(digest(target), before)
        # A source that is not there is not made.
        gone = os.path.join(self.tmpdir(), "none.db")
        cp = at(self.a, "store", "copy", "--from", "sqlite:" + gone, "--to",
                "sqlite:" + os.path.join(self.tmpdir(), "x.db"))
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no store at " + gone, cp.stderr)
        self.assertFalse(os.path.exists(gone))
        # The DSN of postgres only by reference, never on the command line.
        cp = at(self.a, "store", "copy", "--from", "config", "--to",
                "postgres:host=db password=hunter2")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("must be a secret reference", cp.stderr)
        self.assertNotIn("hunter2", cp.stderr)
        cp = at(self.a, "store", "copy", "--from", "config", "--to", "mysql:x")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("is not sqlite:PATH, postgres:REF or config", cp.stderr)

    # ---- migrate ---------------------------------------------------------------------------

    @harness.sqlite_only("an SQLite copy of A's store taken back to an older schema")
    def test_migrate_check_on_an_older_schema(self):
        d = self.tmpdir()
        cp = at(self.a, "store", "copy", "--from", "config", "--to",
                "sqlite:" + os.path.join(d, "fedbroker.db"))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        db = sqlite3.connect(os.path.join(d, "fedbroker.db"))
        db.executescript(SQLITE_BACK_TO_7)
        db.close()
        path = os.path.join(d, "fedbroker.db")
        before = digest(path)
        args = ["--config", self.a.config, "--state-dir", d]
        cp = fb("store", "migrate", "--check", *args)
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("schema version 7, latest 10: pending migrations: 3", cp.stdout)
        self.assertEqual(digest(path), before, "--check changes nothing")
        cp = fb("store", "export", "--json", *args)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("run 'fedbroker store migrate'", cp.stderr)
        self.assertEqual(digest(path), before, "export does not migrate")
        # store.migrate manual: the other commands (and serve) refuse, untouched.
        manual = self.write("manual.yaml", harness.to_yaml(harness.deep_merge(
            self.a.conf, {"store": {"migrate": "manual"}})) + "\n")
        margs = ["--config", manual, "--state-dir", d]
        cp = fb("user", "list", *margs)
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("store.migrate is manual: run 'fedbroker store migrate' first", cp.stderr)
        self.assertEqual(digest(path), before, "nothing migrated behind the operator's back")
        cp = fb("check-config", manual)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        cp = subprocess.run([harness.BIN, "serve", "--listen", "127.0.0.1:%d" % harness.free_port(),
                             "--workers", "1"] + margs, capture_output=True, text=True,
                            timeout=30)
        self.assertNotEqual(cp.returncode, 0, "serve started on a store needing migrations")
        self.assertIn("store.migrate is manual", cp.stdout + cp.stderr)
        self.assertEqual(digest(path), before)
        cp = fb("store", "migrate", *margs)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("schema migrated from version 7 to 10", cp.stdout)
        cp = fb("store", "migrate", "--check", *args)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("schema version 10, the latest", cp.stdout)
        cp = fb("store", "export", "--json", *args)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(len(json.loads(cp.stdout)["tables"]["users"]), 3)
        cp = fb("user", "show", "carol", *margs)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("Carol C", cp.stdout)


    # ---- PostgreSQL --------------------------------------------------------------------

    @harness.sqlite_only("copies A's SQLite store to PostgreSQL and back; the SQLite run does it")
    def test_copy_sqlite_to_postgres_and_back(self):
        dsn, db, ref = self.pg_fresh()
        cp = at(self.a, "store", "copy", "--from", "config", "--to", "postgres:" + ref,
                "--audit")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("(%s) to postgres:%s (postgres)" % (harness.STORE, ref), cp.stdout)
        self.assertRegex(cp.stdout, r"users\s+3 -> 3")
        self.assertRegex(cp.stdout, r"recovery_codes\s+10 -> 10")
        self.assertRegex(cp.stdout, r"audit_log\s+(\d+) -> \1")
        self.assertNotIn(self.pg.password, cp.stdout + cp.stderr)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM users", db), "3")
        # A broker on the database reads what A reads, row for row and in the same order.
        b = self.fresh_pg(ref)
        cp = at(b, "store", "export", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(json.loads(cp.stdout)["driver"], "postgres")
        self.assertEqual(json.loads(cp.stdout)["tables"], self.doc()["tables"])
        for u, text in self.show.items():
            self.assertEqual(at(b, "user", "show", u).stdout, text, "user show %s" % u)
        self.assertEqual(at(b, "token", "list").stdout, self.tokens)
        # The audit log goes on after the copied rows (the id sequence was moved).
        cp = at(b, "token", "create", "--user", "bob", "--description", "after copy")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertNotIn("not recorded in the store's audit log", cp.stderr)
        log = json.loads(at(b, "store", "export", "--json", "--audit").stdout)["tables"]
        ids = [r["id"] for r in log["audit_log"]]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(log["audit_log"][-1]["event"], "token_created")
        b.start()
        self.signs_in(b, webclient.totp(self.secret, step_offset=1))
        b.stop()
        self.assertNotIn(self.pg.password, b.logs())
        shown = {u: at(b, "user", "show", u).stdout for u in self.show}
        pg_doc = json.loads(at(b, "store", "export", "--json", "--audit").stdout)
        # And back: postgres -> sqlite, into a third broker's state directory.
        c = self.fresh()
        cp = at(b, "store", "copy", "--from", "config", "--to", "sqlite:" + db_of(c), "--audit")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("(postgres) to sqlite:%s (sqlite)" % db_of(c), cp.stdout)
        self.assertRegex(cp.stdout, r"api_tokens\s+2 -> 2")
        cp = at(c, "store", "export", "--json", "--audit")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(json.loads(cp.stdout)["tables"], pg_doc["tables"])
        for u, text in shown.items():
            self.assertEqual(at(c, "user", "show", u).stdout, text, "user show %s" % u)
        c.start()
        self.signs_in(c, self.codes[6])
        c.stop()
        # Copying into the now full database is refused, the database unchanged.
        before = self.pg.psql("SELECT count(*) FROM users", db), self.pg_shape(db)
        cp = at(c, "store", "copy", "--from", "config", "--to", "postgres:" + ref)
        self.assertEqual(cp.returncode, 1, cp.stdout)
        self.assertIn("not empty (table users holds rows)", cp.stderr)
        self.assertNotIn(self.pg.password, cp.stderr)
        self.assertEqual((self.pg.psql("SELECT count(*) FROM users", db), self.pg_shape(db)),
                         before)

    def test_migrate_on_postgres(self):
        dsn, db, ref = self.pg_fresh()
        b = self.fresh_pg(ref)
        # A database fedbroker never used is no store: migrate creates nothing there.
        cp = at(b, "store", "migrate", "--check")
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("no store in this PostgreSQL database", cp.stderr)
        self.assertEqual(self.pg.psql("SELECT to_regclass('fedbroker_schema') IS NULL", db), "t")
        cp = at(self.a, "store", "copy", "--from", "config", "--to", "postgres:" + ref)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # Back to schema 7, as a deployment still on an older fedbroker would be.
        self.pg.psql(PG_BACK_TO_7, db)
        before = self.pg_shape(db)
        cp = at(b, "store", "migrate", "--check")
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("schema version 7, latest 10: pending migrations: 3", cp.stdout)
        self.assertEqual(self.pg_shape(db), before, "--check changes nothing")
        cp = at(b, "store", "export", "--json")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("run 'fedbroker store migrate'", cp.stderr)
        self.assertEqual(self.pg_shape(db), before, "export does not migrate")
        # store.migrate manual: the other commands and serve refuse, the database untouched.
        m = self.fresh_pg(ref, {"store": {"migrate": "manual"}})
        cp = at(m, "user", "list")
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("store.migrate is manual: run 'fedbroker store migrate' first", cp.stderr)
        self.assertEqual(self.pg_shape(db), before, "nothing migrated behind the operator's back")
        cp = subprocess.run([harness.BIN, "serve", "--listen",
                             "127.0.0.1:%d" % harness.free_port(), "--workers", "1",
                             "--config", m.config, "--state-dir", m.state_dir],
                            capture_output=True, text=True, timeout=30)
        self.assertNotEqual(cp.returncode, 0, "serve started on a store needing migrations")
        self.assertIn("store.migrate is manual", cp.stdout + cp.stderr)
        self.assertNotIn(self.pg.password, cp.stdout + cp.stderr)
        self.assertEqual(self.pg_shape(db), before)
        cp = at(m, "store", "migrate")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("schema migrated from version 7 to 10", cp.stdout)
        self.assertEqual(self.pg.psql("SELECT version FROM fedbroker_schema", db), "10")
        self.assertEqual(self.pg.psql("SELECT to_regclass('scim_outbox') IS NOT NULL", db),
                         "t")
        cp = at(m, "store", "migrate", "--check")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("schema version 10, the latest", cp.stdout)
        self.assertEqual(at(m, "user", "show", "alice").stdout, self.show["alice"])
        m.start()
        self.assertEqual(m.http("GET", "/readyz").status, 200)
        m.stop()

    def test_postgres_import_refused(self):
        dsn, db, ref = self.pg_fresh()
        b = self.fresh_pg(ref)
        cp = at(b, "user", "list", "--init")  # an empty store of the latest schema
        self.assertEqual(cp.returncode, 0, cp.stderr)

        def state():
            cp = at(b, "store", "export", "--json", "--audit")
            self.assertEqual(cp.returncode, 0, cp.stderr)
            return json.loads(cp.stdout)["tables"], self.pg_shape(db)

        def refused(path, *words):
            before = state()
            cp = at(b, "store", "import", "--json", path)
            self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
            for w in words + ("nothing was imported",):
                self.assertIn(w, cp.stderr)
            self.assertNotIn("argon2id", cp.stderr)
            self.assertNotIn(self.pg.password, cp.stderr)
            self.assertEqual(state(), before)
            return cp.stderr

        # A row the database refuses after users, credentials and codes were written.
        d = self.doc()
        d["tables"]["api_tokens"][0]["user_id"] = "nobody"
        refused(self.write("pg-fk.json", d), "import: api_tokens:",
                "violates foreign key constraint")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM users", db), "0")
        # A value out of the column's range (active is an INTEGER on PostgreSQL).
        d = self.doc()
        d["tables"]["users"][0]["active"] = 2 ** 40
        refused(self.write("pg-range.json", d), "$.tables.users[0]: import: users:",
                "out of range")
        # A reference to no user in the last row of a table: the server checks foreign
        # keys at the end of the table's COPY and names no row; the row is still named.
        d = self.doc()
        name, rows = [(k, v) for k, v in d["tables"].items()
                      if len(v) >= 2 and "user_id" in v[-1]][0]
        rows[-1]["user_id"] = "nobody"
        refused(self.write("pg-fk-last.json", d),
                "$.tables.%s[%d]: import: %s:" % (name, len(rows) - 1, name),
                "violates foreign key constraint")
        # Imported whole, then again: the full store is refused. Text with COPY's
        # special characters goes in as it is.
        d = self.doc()
        d["tables"]["users"][0]["name"] = "tab\there, newline\nthere, back\\slash, cr\r, \\N"
        cp = at(b, "store", "import", "--json", self.write("pg-text.json", d))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("imported 22 rows", cp.stdout)
        self.assertEqual(state()[0]["users"], d["tables"]["users"])
        refused(self.export, "the store is not empty (table users holds rows)")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM users", db), "3")


if __name__ == "__main__":
    harness.main()
