#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""40: the first start fills the state dir (keys, store, cookie keys, all
0600): an active RSA key and a published EC P-256 one (ES256, the OpenID
provider's default), which a state dir of an older version gains on its next
start; keys list/generate show and roll the signing keys."""

import json
import os
import stat

import harness


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def key_ids(state_dir):
    d = os.path.join(state_dir, "keys")
    return sorted(f[:-len(".key.pem")] for f in os.listdir(d) if f.endswith(".key.pem"))


def key_states(state_dir):
    """{id: (state, alg, bits)} from keys list --json."""
    cp = harness.run(["keys", "list", "--state-dir", state_dir, "--json"])
    assert cp.returncode == 0, cp.stdout + cp.stderr
    doc = json.loads(cp.stdout)
    if isinstance(doc, dict):
        doc = doc.get("keys", doc)
    return {k["id"]: (k["state"], k.get("alg") or k.get("type"), k.get("bits")) for k in doc}


def active_id(state_dir):
    return [i for i, s in key_states(state_dir).items() if s[0] == "active"][0]


class FirstStart(harness.TestCase):
    def started_and_stopped(self):
        srv = self.server()
        srv.start()
        srv.stop()
        return srv

    def keys_list(self, state_dir):
        cp = harness.run(["keys", "list", "--state-dir", state_dir])
        self.assertNoCrash(cp, "keys list")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        return cp.stdout

    def line_of(self, out, kid):
        lines = [l for l in out.splitlines() if kid in l]
        self.assertEqual(len(lines), 1, "one line for %s in:\n%s" % (kid, out))
        return lines[0]

    @harness.sqlite_only("checks the modes and header of the SQLite file in the state dir")
    def test_state_files(self):
        srv = self.started_and_stopped()
        sd = srv.state_dir
        ids = key_ids(sd)
        self.assertEqual(len(ids), 2, "two keys generated: %s" % os.listdir(os.path.join(sd, "keys")))
        for kid in ids:
            self.assertEqual(mode(os.path.join(sd, "keys", kid + ".key.pem")), 0o600, kid)
        key = os.path.join(sd, "keys", ids[0] + ".key.pem")
        self.assertEqual(mode(key), 0o600, key)
        with open(key) as f:
            self.assertIn("PRIVATE KEY", f.read())
        crt = os.path.join(sd, "keys", ids[0] + ".crt.pem")
        self.assertTrue(os.path.exists(crt), crt)
        self.assertEqual(mode(os.path.join(sd, "keys")) & 0o077, 0, "keys/ is private")
        db = os.path.join(sd, "fedbroker.db")
        self.assertEqual(mode(db), 0o600, db)
        with open(db, "rb") as f:
            self.assertEqual(f.read(16), b"SQLite format 3\x00")
        ck = os.path.join(sd, "cookie-keys")
        self.assertEqual(mode(ck), 0o600, ck)
        for extra in ("fedbroker.db-wal", "fedbroker.db-shm"):
            p = os.path.join(sd, extra)
            if os.path.exists(p):
                self.assertEqual(mode(p) & 0o077, 0, p)

    @harness.generated_keys_only("the key serve generates in the state dir")
    def test_restart_keeps_state(self):
        srv = self.server()
        srv.start()
        srv.stop()
        ids = key_ids(srv.state_dir)
        with open(os.path.join(srv.state_dir, "cookie-keys"), "rb") as f:
            ck = f.read()
        srv.start()
        srv.stop()
        self.assertEqual(key_ids(srv.state_dir), ids, "no second key on restart")
        with open(os.path.join(srv.state_dir, "cookie-keys"), "rb") as f:
            self.assertEqual(f.read(), ck, "cookie keys kept")

    @harness.generated_keys_only("the key serve generates in the state dir")
    def test_keys_list_and_generate(self):
        srv = self.started_and_stopped()
        sd = srv.state_dir
        first = active_id(sd)
        ec = [i for i in key_ids(sd) if i != first][0]
        out = self.keys_list(sd)
        l = self.line_of(out, first)
        self.assertIn("active", l)
        self.assertIn("RSA", l)
        self.assertIn("2048", l)
        self.assertEqual(out.count("active"), 1, out)
        # The EC P-256 key beside it, published: it signs ES256 tokens (the provider's default).
        l = self.line_of(out, ec)
        self.assertIn("published", l)
        self.assertIn("EC", l)
        self.assertIn("256", l)

        cp = harness.run(["keys", "generate", "--state-dir", sd])
        self.assertNoCrash(cp, "keys generate")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        ids = key_ids(sd)
        self.assertEqual(len(ids), 3, ids)
        second = [i for i in ids if i not in (first, ec)][0]
        self.assertIn(second, cp.stdout + cp.stderr, "generate names the new key")
        self.assertEqual(mode(os.path.join(sd, "keys", second + ".key.pem")), 0o600)

        # Published only: activating at once would break SPs that lack the new metadata.
        out = self.keys_list(sd)
        self.assertIn("published", self.line_of(out, second))
        self.assertIn("active", self.line_of(out, first))
        self.assertIn("keys activate " + second, cp.stdout, "says the next step")

        cp = harness.run(["keys", "activate", second, "--state-dir", sd])
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        out = self.keys_list(sd)
        self.assertIn("active", self.line_of(out, second))
        self.assertIn("published", self.line_of(out, first))
        self.assertNotIn("active", self.line_of(out, first))

        # The server starts with the rolled keys.
        srv.start()
        srv.stop()
        self.assertEqual(key_ids(sd), ids)

    @harness.generated_keys_only("the key serve generates in the state dir")
    def test_keys_list_json(self):
        srv = self.started_and_stopped()
        cp = harness.run(["keys", "list", "--state-dir", srv.state_dir, "--json"])
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        doc = json.loads(cp.stdout)
        if isinstance(doc, dict):
            doc = doc.get("keys", doc)
        self.assertEqual(len(doc), 2, doc)
        self.assertEqual(sorted(k["id"] for k in doc), key_ids(srv.state_dir))
        self.assertEqual(sorted(k["state"] for k in doc), ["active", "published"])

    @harness.generated_keys_only("the keys serve generates in the state dir")
    def test_older_state_dir_gains_an_ec_key(self):
        """A state dir of an older version (one RSA key, no EC) gains a published EC P-256
        key on its next start; the active key stays; a third start adds nothing."""
        srv = self.server()
        sd = srv.state_dir
        cp = harness.run(["keys", "generate", "--state-dir", sd])
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        old = key_ids(sd)
        self.assertEqual(len(old), 1)
        srv.start()
        srv.stop()
        states = key_states(sd)
        self.assertEqual(len(states), 2, states)
        self.assertEqual(states[old[0]][0], "active")
        new = [i for i in states if i != old[0]][0]
        self.assertEqual(states[new][0], "published")
        srv.start()
        srv.stop()
        self.assertEqual(len(key_ids(sd)), 2, "no third key")

    @harness.generated_keys_only("the key serve generates in the state dir")
    def test_generate_publish_only(self):
        srv = self.started_and_stopped()
        sd = srv.state_dir
        before = key_ids(sd)
        first = active_id(sd)
        cp = harness.run(["keys", "generate", "--state-dir", sd, "--type", "ec",
                          "--publish-only"])
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        second = [i for i in key_ids(sd) if i not in before][0]
        out = self.keys_list(sd)
        self.assertIn("active", self.line_of(out, first))
        self.assertIn("published", self.line_of(out, second))
        self.assertIn("EC", self.line_of(out, second))
        # Recorded in the store's audit log for the daemon's operators (issue 10).
        cp = harness.run(["audit", "list", "--state-dir", sd, "--json"])
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        recs = [r for r in json.loads(cp.stdout) if r["event"] == "key_generated"]
        self.assertEqual([r["detail"]["key"] for r in recs], [second])

    @harness.generated_keys_only("the key serve generates in the state dir")
    def test_generate_activate(self):
        srv = self.started_and_stopped()
        sd = srv.state_dir
        before = key_ids(sd)
        first = active_id(sd)
        cp = harness.run(["keys", "generate", "--state-dir", sd, "--activate"])
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        second = [i for i in key_ids(sd) if i not in before][0]
        out = self.keys_list(sd)
        self.assertIn("active", self.line_of(out, second))
        self.assertIn("published", self.line_of(out, first))
        cp = harness.run(["keys", "generate", "--state-dir", sd, "--activate",
                          "--publish-only"])
        self.assertEqual(cp.returncode, 2, cp.stdout + cp.stderr)
        self.assertEqual(len(key_ids(sd)), 3, "a usage error generates nothing")

    def test_first_key_of_empty_dir_is_active(self):
        sd = self.tmpdir()
        cp = harness.run(["keys", "generate", "--state-dir", sd])
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        out = self.keys_list(sd)
        self.assertIn("active", self.line_of(out, key_ids(sd)[0]))

    def test_keys_list_empty_state(self):
        d = self.tmpdir()
        cp = harness.run(["keys", "list", "--state-dir", d])
        self.assertNoCrash(cp, "keys list")
        self.assertIn(cp.returncode, (0, 1), cp.stdout + cp.stderr)
        self.assertIn(d, cp.stdout + cp.stderr, "says where it looked")
        kd = os.path.join(d, "keys")
        self.assertFalse(os.path.isdir(kd) and os.listdir(kd), "list never generates a key")

    def test_generate_bad_arguments(self):
        d = self.tmpdir()
        for args in (["--type", "dsa"], ["--bits", "512"], ["--id", "../evil"],
                     ["--days", "0"]):
            with self.subTest(args=args):
                cp = harness.run(["keys", "generate", "--state-dir", d] + args)
                self.assertNoCrash(cp, "keys generate")
                self.assertIn(cp.returncode, (1, 2), cp.stdout + cp.stderr)
                self.assertNotEqual(cp.stderr.strip(), "")
        self.assertFalse(os.path.exists(os.path.join(d, "evil.key.pem")))


if __name__ == "__main__":
    harness.main()
