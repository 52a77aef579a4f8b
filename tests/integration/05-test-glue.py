#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""05: the test glue cannot hide a failure (issue 10, "Test honesty"). A missing
node-saml fails the SAML tests under FB_REQUIRE_PEERS=1 instead of leaving it out,
and a configuration that check-config refuses fails the test that wrote it instead
of skipping it.
"""

import os
import sys
import unittest

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402


class TestGlue(harness.TestCase):
    def node_saml_gone(self, required):
        saved_missing, saved_env = pc.node_saml_missing, os.environ.get("FB_REQUIRE_PEERS")
        pc.node_saml_missing = lambda: "(cd tests/peers/saml && npm ci)"

        def restore():
            pc.node_saml_missing = saved_missing
            if saved_env is None:
                os.environ.pop("FB_REQUIRE_PEERS", None)
            else:
                os.environ["FB_REQUIRE_PEERS"] = saved_env
        self.addCleanup(restore)
        if required:
            os.environ["FB_REQUIRE_PEERS"] = "1"
        else:
            os.environ.pop("FB_REQUIRE_PEERS", None)

    def test_missing_node_saml_fails_when_peers_are_required(self):
        self.node_saml_gone(required=True)
        with self.assertRaisesRegex(AssertionError, "node-saml"):
            fbsaml.node_saml_present()
        # validate_all reaches node-saml only after the other two accept: refused_by_all
        # asks for it whatever the verdicts, so it shows the rule on any input.
        with self.assertRaisesRegex(AssertionError, "required test peer missing: node-saml"):
            fbsaml.refused_by_all(self, "", "", "urn:sp", "https://sp.test/acs",
                                  libraries=("node-saml",))

    def test_missing_node_saml_is_noted_otherwise(self):
        self.node_saml_gone(required=False)
        self.assertFalse(fbsaml.node_saml_present())

    def test_refused_configuration_fails_not_skips(self):
        sp = fbsaml.aws_sp()
        sp["no_such_key"] = 1
        try:
            fbsaml.saml_server(self, [sp], start=False)
        except unittest.SkipTest as e:  # pragma: no cover -- what this test forbids
            self.fail("a refused configuration became a skip: %s" % e)
        except AssertionError as e:
            self.assertIn("no_such_key", str(e))
        else:
            self.fail("check-config accepted an unknown key")


if __name__ == "__main__":
    harness.main()
