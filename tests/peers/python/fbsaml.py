# SPDX-License-Identifier: Apache-2.0
"""Glue between the integration tests (tests/integration/6N-saml-*.py) and the
SAML peers: puts the peer folders on sys.path, reads the auto-submitting POST
forms fedbroker answers with, runs the three validators on one response, and
starts the AWS stand-in. Standard library plus the peers' own imports.
"""

import html
import os
import re
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.dirname(HERE)
SRCDIR = os.path.dirname(os.path.dirname(PEERS))
for _d in (HERE, os.path.join(PEERS, "aws")):
    if _d not in sys.path:
        sys.path.insert(0, _d)

import peer_common as pc  # noqa: E402

AWS_FIXTURES = os.path.join(SRCDIR, "tests", "fixtures", "aws")
SHARED_FIXTURES = os.path.normpath(os.path.join(SRCDIR, "..", "shared", "fixtures", "aws"))
AWS_METADATA = "aws-signin-saml-metadata.xml"
IDC_METADATA = "identity-center-sp-metadata.xml"
IDC_ENTITY_ID = "https://us-east-1.signin.aws.amazon.com/platform/saml/d-90660f6748"
IDC_ACS0 = ("https://us-east-1.signin.aws/platform/saml/acs/"
            "4941442d6e756de2-7ca3-4e79-ac25-d7469b3eee1e")
IDC_ACS1 = ("https://us-east-1.sso.signin.aws/platform/saml/acs/"
            "4941442d6e756de2-7ca3-4e79-ac25-d7469b3eee1e")
AWS_ACS = "https://signin.aws.amazon.com/saml"


def fixture(name):
    """Path of an AWS metadata fixture (tests/fixtures/aws, else ../shared/fixtures/aws)."""
    for d in (AWS_FIXTURES, SHARED_FIXTURES):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError("AWS fixture %s not in %s" % (name, AWS_FIXTURES))


def post_form(text):
    """(action, {name: value}) of the first <form method="post"> in an HTML page,
    or (None, {}) when there is none. Values are HTML-unescaped."""
    m = re.search(r'<form\b[^>]*>', text, re.I)
    if m is None:
        return None, {}
    tag = m.group(0)
    am = re.search(r'\baction="([^"]*)"', tag)
    action = html.unescape(am.group(1)) if am else None
    end = text.find("</form>", m.end())
    body = text[m.end(): end if end >= 0 else len(text)]
    fields = {}
    for im in re.finditer(r"<input\b[^>]*>", body, re.I):
        t = im.group(0)
        n = re.search(r'\bname="([^"]*)"', t)
        v = re.search(r'\bvalue="([^"]*)"', t)
        if n:
            fields[html.unescape(n.group(1))] = html.unescape(v.group(1)) if v else ""
    return action, fields


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query,
                                       keep_blank_values=True))


def node_saml_present():
    """True when node-saml can run. When it cannot: under FB_REQUIRE_PEERS=1 (contrib/dev.sh
    test, CI) an AssertionError naming the install command, so a missing peer never passes
    quietly; otherwise False, with a note on stderr (the other libraries still run)."""
    import harness
    miss = pc.node_saml_missing()
    if miss is None:
        return True
    e = harness.peer_missing("node-saml: %s" % miss)
    if isinstance(e, AssertionError):
        raise e
    sys.stderr.write("node-saml not installed (%s): not run\n" % miss)
    return False


def validate_all(tc, b64, idp_metadata, entity_id, acs, in_response_to=None,
                 allow_assertion_only=False, libraries=("pysaml2", "onelogin", "node-saml")):
    """Has every independent SP library validate b64; fails tc unless all accept.
    Returns {library: verdict}. A missing node-saml fails under FB_REQUIRE_PEERS=1
    (node_saml_present)."""
    import onelogin_sp
    import pysaml2_sp
    out = {}
    for lib in libraries:
        if lib == "pysaml2":
            sp = pysaml2_sp.SP(entity_id, [(acs, pc.BINDING_POST)], idp_metadata,
                               want_response_signed=not allow_assertion_only)
            v = sp.validate_response(b64, in_response_to)
        elif lib == "onelogin":
            sp = onelogin_sp.SP(entity_id, acs, idp_metadata,
                                want_response_signed=not allow_assertion_only)
            v = sp.validate_response(b64, in_response_to)
        else:
            if not node_saml_present():
                continue
            v = pc.node_saml_validate(b64, entity_id, acs, idp_metadata,
                                      in_response_to=in_response_to,
                                      allow_assertion_only=allow_assertion_only)
        tc.assertTrue(v["ok"], "%s refused the response: %s\n%s" % (
            lib, v.get("error"), pc.decode_post(b64).decode("utf-8", "replace")[:6000]))
        out[lib] = v
    tc.assertGreaterEqual(len(out), 2, "at least two independent SP implementations")
    return out


def refused_by_all(tc, b64, idp_metadata, entity_id, acs, libraries=("pysaml2", "onelogin",
                                                                       "node-saml")):
    """Every library refuses b64; returns {library: error}."""
    import onelogin_sp
    import pysaml2_sp
    out = {}
    for lib in libraries:
        if lib == "pysaml2":
            v = pysaml2_sp.SP(entity_id, [(acs, pc.BINDING_POST)], idp_metadata) \
                .validate_response(b64)
        elif lib == "onelogin":
            v = onelogin_sp.SP(entity_id, acs, idp_metadata).validate_response(b64)
        else:
            if not node_saml_present():
                continue
            v = pc.node_saml_validate(b64, entity_id, acs, idp_metadata)
        tc.assertFalse(v["ok"], "%s accepted a response it must refuse" % lib)
        out[lib] = v.get("error")
    return out


def standin(tc, idp_metadata, **kw):
    """The AWS stand-in ACS (acs.py) in a thread: (server, acs_url); shut down at cleanup."""
    import acs
    srv, url = acs.serve(idp_metadata, **kw)
    tc.addCleanup(srv.server_close)
    tc.addCleanup(srv.shutdown)
    return srv, url


# ---- a fedbroker with SAML service providers (needs tests/integration on sys.path) ----------

PASSWORD = "correct horse battery staple"
ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
ROLE_SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
SESSION_DURATION = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
SOURCE_IDENTITY = "https://aws.amazon.com/SAML/Attributes/SourceIdentity"
PRINCIPAL_TAG = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"
MAPPINGS = os.path.join(SRCDIR, "mappings")
ACCOUNT = "123412341234"  # the shipped mappings/aws_role.py's example account
PROVIDER_ARN = "arn:aws:iam::%s:saml-provider/fedbroker" % ACCOUNT

# The classic AWS SP as the shipped example configures it (issue 5 item 4).
AWS_ATTRIBUTES = [
    {"name": ROLE, "mapping": "aws_role"},
    {"name": ROLE_SESSION_NAME, "mapping": "aws_role_session_name"},
    {"name": SESSION_DURATION, "mapping": "aws_session_duration"},
]


def aws_sp(name="aws", metadata=None, **over):
    """A classic AWS SP entry: from AWS's metadata fixture, or inline when over has entity_id."""
    sp = {"name": name, "display_name": "AWS console", "profile": "aws",
          "metadata": metadata or (None if "entity_id" in over else fixture(AWS_METADATA)),
          "attributes": AWS_ATTRIBUTES}
    sp.update(over)
    return {k: v for k, v in sp.items() if v is not None}


def cli(srv, *args, stdin=None, timeout=60):
    """`fedbroker ARGS --config C --state-dir S` for srv's files; CompletedProcess (text)."""
    import subprocess
    import harness
    return subprocess.run([harness.BIN] + list(args) + ["--config", srv.config, "--state-dir",
                                                        srv.state_dir],
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def add_user(tc, srv, name, password=PASSWORD, email=None, display=None):
    extra = []
    if email:
        extra += ["--email", email]
    if display:
        extra += ["--name", display]
    cp = cli(srv, "user", "add", name, "--init", "--password-stdin", *extra, stdin=password + "\n")
    tc.assertEqual(cp.returncode, 0, "user add %s: %s%s" % (name, cp.stdout, cp.stderr))


def write_mappings(dirpath, extra):
    """A mappings dir: the shipped rules plus extra {name: source}."""
    import shutil
    os.makedirs(dirpath, exist_ok=True)
    for f in os.listdir(MAPPINGS):
        if f.endswith(".py"):
            shutil.copy(os.path.join(MAPPINGS, f), dirpath)
    for name, src in (extra or {}).items():
        with open(os.path.join(dirpath, name + ".py"), "w") as f:
            f.write(src)
    return dirpath


def saml_server(holder, sps, groups=(), users=(), mappings=None, conf=None, workers=2,
                start=True, server=None):
    """A harness.Server (server, or a new one) with SAML service providers sps,
    groups, local users [(name, email)] made by the CLI before start, and
    mappings (extra rules {name: source} added to the shipped ones). Returns
    the server (started)."""
    import harness
    srv = server or harness.Server(holder, conf={}, workers=workers)
    mdir = write_mappings(os.path.join(srv.dir, "mappings"), mappings)
    c = {
        "server": {"public_url": "http://127.0.0.1:%d" % srv.port},
        "local": {"password": {"time_cost": 1, "memory_kib": 1024},
                  "bootstrap": {"enabled": False}, "lockout": {"max_failures": 100}},
        "groups": list(groups),
        "mappings": {"dir": mdir},
        "saml": {"service_providers": list(sps)},
    }
    srv.conf = harness.deep_merge(harness.deep_merge(srv.base_conf, c), conf or {})
    srv.write_config(srv.conf)
    import subprocess
    cp = subprocess.run([harness.BIN, "check-config", srv.config], capture_output=True,
                        text=True, timeout=60)
    # A configuration the test wrote and fedbroker refuses is the test's failure, never a skip.
    holder.assertEqual(cp.returncode, 0, "check-config refused the test's configuration:\n%s%s"
                       % (cp.stdout, cp.stderr))
    for u in users:
        name, email = (u, None) if isinstance(u, str) else u
        add_user(holder, srv, name, email=email)
    if start:
        srv.start()
    return srv


def idp_metadata(tc, srv):
    r = srv.request("GET", "/saml/idp/metadata")
    tc.assertEqual(r.status, 200, r.body[:2000])
    return r.body.decode("utf-8")


def browser(tc, srv):
    import webclient
    b = webclient.Browser("127.0.0.1", srv.port)
    tc.addCleanup(b.close)
    return b


def signed_in(tc, srv, user, password=PASSWORD):
    """A browser with a session for user (local sign-in)."""
    b = browser(tc, srv)
    p = b.login(user, password, follow=True)
    tc.assertEqual(p.status, 200, p.text[:2000])
    tc.assertIn("fb_session", b.cookies, "signed in")
    return b


def audit_since(srv, offset, event=None, timeout=3.0):
    """Audit records (dicts) written after offset, optionally only event=EVENT; waits a little."""
    import time
    import harness
    deadline = time.time() + timeout
    while True:
        found = []
        for line in srv.lines_since(offset):
            try:
                rec = harness.parse_log_line(line)
            except ValueError:
                continue
            if rec.get("cat") == "audit" and (event is None or rec.get("event") == event):
                found.append(rec)
        if found or time.time() > deadline:
            return found
        time.sleep(0.05)


def response_of(tc, page):
    """(action, SAMLResponse, RelayState) of the auto-submitting form page."""
    tc.assertEqual(page.status, 200, page.text[:3000])
    action, fields = post_form(page.text)
    tc.assertIsNotNone(action, "no form in\n" + page.text[:3000])
    tc.assertIn("SAMLResponse", fields, page.text[:3000])
    return action, fields["SAMLResponse"], fields.get("RelayState")


def path_of(url):
    """The path and query of an absolute URL (what the test browser requests)."""
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


def send(b, req):
    """Sends a request made by a peer (dict from authn_request/logout_request) through
    browser b: GET for Redirect, POST of its form fields for POST. Returns the Page."""
    if req["binding"] == pc.BINDING_REDIRECT:
        return b.get(path_of(req["url"]))
    return b.post(path_of(req["url"]), req["fields"])


def through_login(tc, b, page, user, password=PASSWORD):
    """When page sends the browser to /login, signs in as user and follows the
    redirects back; returns the final page (unchanged when no login was asked)."""
    if page.status in (302, 303) and "/login" in (page.location or ""):
        form = b.get(path_of(page.location) if page.location.startswith("http")
                     else page.location)
        tc.assertEqual(form.status, 200, form.text[:2000])
        page = b.submit(form, "/login", {"username": user, "password": password})
    n = 0
    while page.status in (302, 303) and n < 6:
        loc = page.location
        page = b.get(path_of(loc) if loc.startswith("http") else loc)
        n += 1
    return page


def sp_metadata_pysaml2(entity_id, acs, key=None, cert=None, slo=None, signed_requests=False,
                        name_id_format=None):
    """SP metadata made by pysaml2 (for fedbroker's metadata: file)."""
    import pysaml2_sp
    return pysaml2_sp.SP(entity_id, acs, None, slo=slo, key=key, cert=cert,
                         authn_requests_signed=signed_requests,
                         name_id_format=name_id_format).metadata()


def post_to(url, fields, timeout=60):
    """POSTs form fields to url (the stand-in ACS, as the auto-submitting form would):
    (status, parsed JSON body)."""
    import json
    import urllib.error
    import urllib.request
    data = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(url, data, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
