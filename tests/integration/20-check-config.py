#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""20: fedbroker check-config: valid files pass, every problem is reported
as FILE:LINE:COLUMN: key.path: message, hostile files never crash it."""

import os
import re
import sys

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests"))
import pgtest  # noqa: E402

LINE_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<key>[A-Za-z0-9_.\[\]-]+): (?P<msg>.+)$")

VALID = """\
server:
  listen: ["127.0.0.1:8080"]
  workers: 2
  limits:
    max_header_bytes: 8192
    max_body_bytes: 65536
    request_timeout: 10s
log:
  level: info
  format: json
session:
  cookie_keys: ["env:FB_CHECK_SECRET"]
"""

# Four problems, one per line; columns are 1-based.
BAD = """\
server:
  listn: "127.0.0.1:8080"
  workers: 100000
log:
  access: "perhaps"
session:
  cookie_keys: ["inline-Secret-Value-0123456789"]
"""
# (line, columns accepted (the key's or the value's), key path, words in the message)
BAD_EXPECT = [
    (2, (3,), "server.listn", "did you mean 'listen'"),
    (3, (3, 12), "server.workers", None),
    (5, (3, 11), "log.access", None),
    (7, (3, 16, 17), "session.cookie_keys", None),
]


class CheckConfig(harness.TestCase):
    def check(self, text, name="fedbroker.yaml", env=None, mode="w"):
        d = self.tmpdir()
        p = os.path.join(d, name)
        with open(p, mode) as f:
            f.write(text)
        cp = harness.run(["check-config", p], env=env)
        self.assertNoCrash(cp, "check-config " + name)
        return p, cp

    def problems(self, cp, path):
        """The report's FILE:LINE:COLUMN lines, as match objects, for path."""
        out = []
        for l in (cp.stdout + cp.stderr).splitlines():
            m = LINE_RE.match(l)
            if m and m.group("file") == path:
                out.append(m)
        return out

    def test_valid(self):
        p, cp = self.check(VALID, env={"FB_CHECK_SECRET": "a-cookie-secret-of-some-length"})
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertEqual(self.problems(cp, p), [], "no problem is reported")

    def test_every_problem_with_place(self):
        p, cp = self.check(BAD)
        out = cp.stdout + cp.stderr
        self.assertEqual(cp.returncode, 1, out)
        probs = self.problems(cp, p)
        for line, cols, key, words in BAD_EXPECT:
            with self.subTest(key=key):
                hits = [m for m in probs if m.group("key") == key or
                        m.group("key").startswith(key + "[")]
                self.assertEqual(len(hits), 1, "one line for %s in:\n%s" % (key, out))
                m = hits[0]
                self.assertEqual(int(m.group("line")), line, m.group(0))
                self.assertIn(int(m.group("col")), cols, m.group(0))
                if words:
                    self.assertIn(words, m.group("msg"))
        self.assertEqual(len(probs), len(BAD_EXPECT), "exactly one line per problem:\n" + out)
        # SECURITY: a secret written inline is refused without being echoed.
        self.assertNotIn("inline-Secret-Value-0123456789", out)

    def test_problems_in_file_order(self):
        p, cp = self.check(BAD)
        lines = [int(m.group("line")) for m in self.problems(cp, p)]
        self.assertEqual(len(lines), len(BAD_EXPECT), cp.stdout + cp.stderr)
        self.assertEqual(lines, sorted(lines))

    def test_secret_reference_unresolvable(self):
        text = VALID.replace("FB_CHECK_SECRET", "FB_NO_SUCH_VARIABLE_XYZ")
        p, cp = self.check(text, env={"FB_NO_SUCH_VARIABLE_XYZ": None})
        out = cp.stdout + cp.stderr
        self.assertEqual(cp.returncode, 1, out)
        self.assertIn("FB_NO_SUCH_VARIABLE_XYZ", out)
        probs = self.problems(cp, p)
        self.assertTrue(any(int(m.group("line")) == 12 for m in probs), out)

    def expect_fail(self, text, name, words=(), mode="w"):
        p, cp = self.check(text, name=name, mode=mode)
        out = cp.stdout + cp.stderr
        self.assertEqual(cp.returncode, 1, "%s: %s" % (name, out))
        self.assertIn(p, out, "the message names the file")
        for w in words:
            self.assertIn(w.lower(), out.lower(), "%s: message says %r:\n%s" % (name, w, out))
        self.assertLess(len(out.splitlines()), 50, "a clear message, not a flood")
        return out

    def test_garbage_bytes(self):
        data = bytes(range(256)) * 4 + b"\x00\xff\xfe{[:\n\x00"
        self.expect_fail(data, "garbage.yaml", mode="wb")

    def test_empty_file(self):
        self.expect_fail("", "empty.yaml", words=("empty",))

    def test_yaml_syntax_error(self):
        out = self.expect_fail("server:\n  listen: [\"127.0.0.1:1\"\n  workers: 2\nlog: {\n",
                               "syntax.yaml")
        self.assertRegex(out, r"syntax\.yaml:\d+:\d+: ")

    def test_yaml_alias(self):
        text = "base: &b\n  level: info\nlog: *b\n"
        out = self.expect_fail(text, "alias.yaml", words=("alias",))
        self.assertRegex(out, r"alias\.yaml:[13]:\d+: ")

    def test_billion_laughs(self):
        text = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n"
        self.expect_fail(text, "laughs.yaml")

    def test_not_a_mapping(self):
        self.expect_fail("- just\n- a list\n", "list.yaml")
        self.expect_fail("just a string\n", "scalar.yaml")

    def test_deep_nesting(self):
        text = "server: " + "[" * 5000 + "]" * 5000 + "\n"
        self.expect_fail(text, "deep.yaml")

    def test_missing_file(self):
        d = self.tmpdir()
        p = os.path.join(d, "nope.yaml")
        cp = harness.run(["check-config", p])
        self.assertNoCrash(cp)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn(p, cp.stderr)

    def test_directory(self):
        d = self.tmpdir()
        cp = harness.run(["check-config", d])
        self.assertNoCrash(cp)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn(d, cp.stderr)

    def test_usage(self):
        cp = harness.run(["check-config"])
        self.assertEqual(cp.returncode, 2, cp.stdout + cp.stderr)

    def test_demo_config(self):
        demo = os.path.join(harness.SRCDIR, "contrib", "demo", "fedbroker.yaml")
        self.assertTrue(os.path.exists(demo), demo + " is shipped")
        cp = harness.run(["check-config", demo])
        self.assertNoCrash(cp)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)


    # ---- what the file names: mapping rules (issue 3) and SAML SPs (issue 5)
    def test_mapping_syntax_error_is_placed(self):
        d = self.tmpdir()
        os.mkdir(os.path.join(d, "m"))
        with open(os.path.join(d, "m", "good.py"), "w") as f:
            f.write("return user.username\n")
        with open(os.path.join(d, "m", "bad.py"), "w") as f:
            f.write("x = 1\nreturn [x,\n")
        with open(os.path.join(d, "m", "worse.py"), "w") as f:
            f.write("return undefined_name\n")
        p = os.path.join(d, "fedbroker.yaml")
        with open(p, "w") as f:
            f.write("mappings:\n  dir: m\n")
        cp = harness.run(["check-config", p])
        self.assertNoCrash(cp, "check-config")
        out = cp.stdout + cp.stderr
        # No service provider uses them: warnings, each placed, and the file is usable.
        self.assertEqual(cp.returncode, 0, out)
        self.assertRegex(out, r"m/bad\.py:[23]:\d+: .*no service provider uses", out)
        self.assertRegex(out, r"m/worse\.py:1:\d+: .*undefined_name", out)
        self.assertNotIn("good.py", out)
        self.assertIn("0 errors, 2 warnings", out)
        # A service provider using one of them: that one is an error, the other a warning.
        with open(p, "w") as f:
            f.write("mappings:\n  dir: m\nserver:\n  public_url: https://idp.example.test\n"
                    "saml:\n  service_providers:\n    - name: app\n"
                    "      entity_id: https://sp.example.test\n"
                    "      acs:\n        - url: https://sp.example.test/acs\n"
                    "      attributes:\n        - name: mail\n          mapping: worse\n")
        cp = harness.run(["check-config", p])
        out = cp.stdout + cp.stderr
        self.assertEqual(cp.returncode, 1, out)
        self.assertRegex(out, r"m/worse\.py:1:\d+: .*undefined_name", out)
        self.assertNotRegex(out, r"worse\.py.*no service provider uses", out)
        self.assertRegex(out, r"m/bad\.py:[23]:\d+: .*no service provider uses", out)
        self.assertRegex(out, r": [12] errors?, 1 warning", out)

    def test_unknown_sp_metadata_is_an_error(self):
        d = self.tmpdir()
        md = os.path.join(d, "sp.xml")
        with open(md, "w") as f:
            f.write("<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
                    "entityID=\"https://sp.example.test\"/>\n")
        p = os.path.join(d, "fedbroker.yaml")
        with open(p, "w") as f:
            f.write("server:\n  public_url: https://idp.example.test\nsaml:\n"
                    "  service_providers:\n    - name: nosso\n      metadata: sp.xml\n")
        cp = harness.run(["check-config", p])
        self.assertNoCrash(cp, "check-config")
        out = cp.stdout + cp.stderr
        self.assertEqual(cp.returncode, 1, out)
        self.assertRegex(out, r"%s:\d+:\d+: saml\.service_providers\[0\]: " % re.escape(p), out)
        self.assertIn("service provider 'nosso'", out)
    def test_postgres_needs_keys_and_cookie_keys(self):
        """store.driver postgres means replicas: serve generates neither a signing key nor
        cookie keys, so check-config refuses a file without keys: and session.cookie_keys
        (placed at store.driver), and touches neither the store nor the state dir."""
        if pgtest.bindir() is None:
            raise harness.peer_missing("PostgreSQL (%s)" % pgtest.INSTALL_HINT)
        pg = pgtest.shared()
        dsn = pg.new_database()
        d = self.tmpdir()
        state = os.path.join(d, "state")
        os.mkdir(state, 0o700)
        base = ("server:\n  state_dir: %s\nstore:\n  driver: postgres\n"
                "  dsn: env:FB_CHECK_DSN\n" % state)
        keys = harness.replica_conf(d)
        with_keys = "keys:\n  - id: k\n    key: %s\n    cert: %s\n" % (
            keys["keys"][0]["key"], keys["keys"][0]["cert"])
        cookies = "session:\n  cookie_keys: [\"%s\"]\n" % keys["session"]["cookie_keys"][0]
        env = {"FB_CHECK_DSN": dsn}
        for name, text, missing in (("none.yaml", base, ("keys:", "session.cookie_keys")),
                                    ("nocookie.yaml", base + with_keys,
                                     ("session.cookie_keys",)),
                                    ("nokeys.yaml", base + cookies, ("keys:",))):
            with self.subTest(name=name):
                p, cp = self.check(text, name=name, env=env)
                out = cp.stdout + cp.stderr
                self.assertEqual(cp.returncode, 1, out)
                probs = self.problems(cp, p)
                self.assertEqual([(m.group("key"), int(m.group("line")), int(m.group("col")))
                                  for m in probs], [("store.driver", 4, 11)] * len(missing), out)
                for what, m in zip(missing, probs):
                    self.assertIn("needs " + what if what != "keys:" else "listed in keys:",
                                  m.group("msg"))
                self.assertNotIn("password=", out)
        p, cp = self.check(base + with_keys + cookies, name="both.yaml", env=env)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        # Nothing was made: no schema in the database, nothing in the state directory.
        db = pgtest.dsn_fields(dsn)["dbname"]
        self.assertEqual(pg.psql("SELECT to_regclass('fedbroker_schema') IS NULL", db), "t")
        self.assertEqual(os.listdir(state), [])


if __name__ == "__main__":
    harness.main()
