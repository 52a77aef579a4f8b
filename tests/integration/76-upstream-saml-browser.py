#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""76: the AWS console way in through an upstream SAML IdP, end to end in headless
Chromium (76-upstream-saml-browser.mjs; issue 11, item 7): the AWS start URL while
signed out, the login page's upstream button, pysaml2's sign-in form (a running
IdP, tests/peers/python/pysaml2_idp_http.py), the broker's ACS, and the
auto-submitted SAMLResponse at the AWS stand-in carrying the Role built from the
group the upstream sent.

Needs Debian's chromium, node, tests/peers' playwright-core, python3-pysaml2 and
xmlsec1; skipped with the install command when one is missing.
"""

import json
import os
import subprocess
import sys
import urllib.request

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

DRIVER = os.path.join(harness.HERE, "76-upstream-saml-browser.mjs")
IDP_ID = "https://idp.corp.test/saml"
MAPPING = ('mail = upstream["mail"][0]\n'
           'return {"username": mail.split("@")[0], "email": mail, "email_verified": True,\n'
           '        "groups": upstream["groups"]}\n')


def missing_peers():
    need = harness.missing_browser_peers()
    import importlib.util
    if importlib.util.find_spec("saml2") is None or not os.access("/usr/bin/xmlsec1", os.X_OK):
        need.append("apt-get install -y python3-pysaml2 xmlsec1")
    return need


class UpstreamSamlBrowser(harness.TestCase):
    def test_aws_start_url_through_the_upstream(self):
        need = missing_peers()
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        import pysaml2_idp
        import pysaml2_idp_http
        d = self.tmpdir()
        key, cert = pc.make_keypair(d, "corpidp")
        users = {"carol": ("idp-password", "carol-7",
                           {"mail": ["carol@corp.test"], "groups": ["aws-admins"]})}
        idp_srv, idp_base, idp = pysaml2_idp_http.serve(IDP_ID, [], users, key=key, cert=cert)
        self.addCleanup(idp_srv.server_close)
        self.addCleanup(idp_srv.shutdown)
        idp_md = os.path.join(d, "corp-idp.xml")
        with open(idp_md, "w") as f:
            f.write(idp.metadata())
        standin, acs = fbsaml.standin(self, "", mode="classic", library="pysaml2")
        sp = fbsaml.aws_sp("aws", metadata=None, entity_id="urn:amazon:webservices",
                           acs=[{"url": acs, "default": True}], display_name="AWS console")
        upstream = {"name": "corp", "display_name": "Corp SSO", "type": "saml",
                    "saml": {"metadata": idp_md}}
        # The upstream's group aws-admins is the declared group lending the AWS role.
        srv = fbsaml.saml_server(self, [sp], [
            {"name": "aws-admins", "attributes": {"aws_role": "Admin"}}], [],
            {"upstream_saml": MAPPING}, conf={"upstreams": [upstream]})
        standin.state["idp_metadata"] = fbsaml.idp_metadata(self, srv)
        r = srv.http("GET", "/saml/sp/metadata")
        self.assertEqual(r.status, 200)
        # The IdP now knows the broker's SP (same key: its metadata is unchanged).
        idp_srv.idp = pysaml2_idp.IdP(IDP_ID, idp_base, [r.body.decode()], key=key, cert=cert)
        env = dict(os.environ, FB_BASE_URL="http://127.0.0.1:%d" % srv.port,
                   FB_START_PATH="/saml/idp/init/aws", FB_BUTTON="Sign in with Corp SSO",
                   FB_USER="carol", FB_PASSWORD="idp-password", FB_PEERS=harness.PEERS,
                   FB_ACS_URL=acs, FB_ARTIFACTS=harness.ARTIFACTS)
        p = subprocess.run(["node", DRIVER], env=env, capture_output=True, text=True,
                           timeout=300)
        out = p.stdout + p.stderr
        print("\n" + out)
        self.assertEqual(p.returncode, 0, out + "\n" + srv.logs() + "\n".join(idp_srv.log))
        self.assertIn("browser: all steps passed", p.stdout)
        with urllib.request.urlopen(acs.rsplit("/", 1)[0] + "/verdicts", timeout=10) as resp:
            verdicts = json.loads(resp.read())
        self.assertEqual(len(verdicts), 1, verdicts)
        self.assertTrue(verdicts[0]["ok"], verdicts[0])
        self.assertEqual(verdicts[0]["roles"], [
            "arn:aws:iam::%s:role/Admin,%s" % (fbsaml.ACCOUNT, fbsaml.PROVIDER_ARN)])
        srv.stop()


if __name__ == "__main__":
    harness.main()
