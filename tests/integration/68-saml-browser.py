#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""68: the AWS console way in, end to end in headless Chromium (68-saml-browser.mjs):
local sign-in, the AWS app on the dashboard, the auto-submitted SAMLResponse
reaching the AWS stand-in ACS, which validates it with pysaml2 and AWS's rules
(issue 5, "Verified by independent implementations"; items 1 and 8).

Needs Debian's chromium (/usr/bin/chromium), node, and tests/peers' pinned
playwright-core (`npm ci` there); skipped with the install command when one is missing.
"""

import json
import os
import subprocess
import sys
import urllib.request

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402

PEERS = harness.PEERS
ARTIFACTS = harness.ARTIFACTS
DRIVER = os.path.join(harness.HERE, "68-saml-browser.mjs")


def missing_peers():
    need = harness.missing_browser_peers()
    import importlib.util
    if importlib.util.find_spec("saml2") is None or not os.access("/usr/bin/xmlsec1", os.X_OK):
        need.append("apt-get install -y python3-pysaml2 python3-onelogin-saml2 xmlsec1")
    return need


class SamlBrowser(harness.TestCase):
    def test_dashboard_to_aws_standin(self):
        need = missing_peers()
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        standin, acs = fbsaml.standin(self, "", mode="classic", library="pysaml2")
        sp = fbsaml.aws_sp("aws", metadata=None, entity_id="urn:amazon:webservices",
                           acs=[{"url": acs, "default": True}], display_name="AWS console")
        srv = fbsaml.saml_server(self, [sp], [
            {"name": "aws-admins", "attributes": {"aws_role": "Admin"}, "members": ["alice"]}],
            ["alice"])
        standin.state["idp_metadata"] = fbsaml.idp_metadata(self, srv)
        env = dict(os.environ, FB_BASE_URL="http://127.0.0.1:%d" % srv.port, FB_USER="alice",
                   FB_PASSWORD=fbsaml.PASSWORD, FB_PEERS=PEERS, FB_ACS_URL=acs,
                   FB_APP_NAME="AWS console", FB_ARTIFACTS=ARTIFACTS)
        p = subprocess.run(["node", DRIVER], env=env, capture_output=True, text=True,
                           timeout=300)
        out = p.stdout + p.stderr
        print("\n" + out)
        self.assertEqual(p.returncode, 0, out + "\n" + srv.logs())
        self.assertIn("browser: all steps passed", p.stdout)
        with urllib.request.urlopen(acs.rsplit("/", 1)[0] + "/verdicts", timeout=10) as r:
            verdicts = json.loads(r.read())
        self.assertEqual(len(verdicts), 2, verdicts)
        for v in verdicts:
            self.assertTrue(v["ok"], v)
            self.assertEqual(v["roles"], [
                "arn:aws:iam::123412341234:role/Admin," + fbsaml.PROVIDER_ARN])
            self.assertEqual(v["attributes"][fbsaml.ROLE_SESSION_NAME], ["alice"])
        srv.stop()


if __name__ == "__main__":
    harness.main()
