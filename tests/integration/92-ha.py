#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""92: two replicas on one store behind Debian's nginx as a round-robin
balancer (issue 12, items 2 and 4). The replicas share the store (one SQLite
file, or one PostgreSQL database with FB_TEST_STORE=postgres), the signing key
and session.cookie_keys from the configuration, as README "Running replicas"
says. A local sign-in and the AWS start URL through alternating replicas give a
SAML response the AWS stand-in accepts, signed with the key both publish; an
upstream SAML sign-in through one replica and its replayed response refused by
the other; one replica killed with SIGKILL while a thread makes requests, and
every request answered (nginx proxy_next_upstream error timeout). The OpenID
provider across the replicas: a code issued at one and exchanged (PKCE) at the
other, refreshed at the first, replayed at the second and refused with its
family revoked, the tokens verified by jose against each replica's JWKS; and
client_credentials grants through the balancer while one replica is killed."""

import base64
import hashlib
import http.client
import json
import os
import shutil
import pwd
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

try:
    import aws_rules  # noqa: E402
    import pysaml2_idp  # noqa: E402
    MISSING = None
except ImportError as e:
    MISSING = "%s (apt-get install python3-pysaml2 python3-onelogin-saml2 xmlsec1)" % e

NGINX = "/usr/sbin/nginx"
RP = os.path.join(harness.PEERS, "oidc", "rp.mjs")
WEB_SECRET = "web-secret-0123456789abcdefghij"
SVC_SECRET = "svc-secret-0123456789abcdefghij"
WEB_CB = "https://app.example.test/cb"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(cid, secret):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (cid, secret)).encode()).decode(), **FORM}
GROUPS = [{"name": "aws-admins", "attributes": {"aws_role": "Admin"}, "members": ["alice"]}]
IDP_ID = "https://idp.corp.test/saml"
IDP_BASE = "https://idp.corp.test"
MAPPING = ('mail = upstream["mail"][0]\n'
           'return {"username": mail.split("@")[0], "email": mail, "email_verified": True,\n'
           '        "groups": upstream["groups"]}\n')
NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format up '$status "$upstream_addr" $request_method $uri';
    access_log {d}/access.log up;
    upstream fedbroker {{
        server 127.0.0.1:{a};
        server 127.0.0.1:{b};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://fedbroker;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 20s;
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


class Nginx:
    """nginx as an unprivileged process (nobody when run as root) with its own prefix."""

    def __init__(self, tc, port, a_port, b_port):
        self.tc = tc
        self.dir = tc.tmpdir()
        self.port = port
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(d=self.dir, a=a_port, b=b_port, port=self.port))
        cmd = [NGINX, "-p", self.dir, "-c", self.conf, "-e", os.path.join(self.dir, "error.log")]
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o755)
            cmd = ["runuser", "-u", "nobody", "--"] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        tc.addCleanup(self.stop)
        deadline = time.time() + 15
        while not harness.port_listening(self.port):
            if self.proc.poll() is not None or time.time() > deadline:
                tc.fail("nginx did not start\n" + self.log("error.log"))
            time.sleep(0.05)

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read()
        except OSError:
            return ""

    def upstreams(self):
        """The upstream that answered each request so far, in order (the last one tried)."""
        return [re.search(r'"([^"]*)"', l).group(1).split(", ")[-1]
                for l in self.log("access.log").splitlines() if '"' in l]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class HA(harness.TestCase):
    def setUp(self):
        super().setUp()
        if MISSING:
            raise harness.peer_missing(MISSING)
        if not os.access(NGINX, os.X_OK):
            raise harness.peer_missing("nginx (apt-get install -y nginx)")
        d = self.tmpdir()
        os.chmod(d, 0o755)
        # The key and cookie secret every replica reads (a mounted Secret in Kubernetes).
        replicas = harness.replica_conf(d)
        self.idp_key, self.idp_cert = pc.make_keypair(d, "corpidp")
        first = pysaml2_idp.IdP(IDP_ID, IDP_BASE, [], key=self.idp_key, cert=self.idp_cert,
                                want_authn_requests_signed=True)
        idp_md = os.path.join(d, "corp-idp.xml")
        self.write(idp_md, first.metadata())
        store = harness.store_conf(d) or {"path": os.path.join(d, "shared", "fedbroker.db")}
        for name, value in (("web", WEB_SECRET), ("svc", SVC_SECRET)):
            self.write(os.path.join(d, name + ".secret"), value + "\n")
        # The public URL is nginx's, the same for both replicas.
        nginx_port = harness.free_port()
        self.public = "http://127.0.0.1:%d" % nginx_port
        conf = {
            "server": {"public_url": self.public},
            "store": store,
            "keys": replicas["keys"],
            "session": replicas["session"],
            "local": {"lockout": {"max_failures": 3, "initial_delay": "60s"}},
            "upstreams": [{"name": "corp", "display_name": "Corp SSO", "type": "saml",
                           "domains": ["corp.test"], "saml": {"metadata": idp_md}}],
            "apps": [{"name": "tools", "hosts": ["tools.test"], "groups": ["aws-admins"]}],
            "oidc": {"clients": [
                {"id": "web", "secret": "file:" + os.path.join(d, "web.secret"),
                 "redirect_uris": [WEB_CB], "signing_alg": "RS256"},
                {"id": "svc", "type": "service", "secret": "file:" + os.path.join(
                    d, "svc.secret"), "scopes": ["reports.read"], "signing_alg": "RS256"},
            ]},
        }
        self.a, self.b = [fbsaml.saml_server(self, [fbsaml.aws_sp("aws")], GROUPS, users,
                                             mappings={"upstream_saml": MAPPING}, conf=conf,
                                             start=False) for users in (["alice"], [])]
        for srv in (self.a, self.b):
            srv.start()
        self.nginx = Nginx(self, nginx_port, self.a.port, self.b.port)

    def lb(self):
        b = fbsaml.browser(self, self.a)
        b.port = self.nginx.port
        return b

    def test_signin_and_aws_through_alternating_replicas(self):
        # Both replicas publish the same signing certificate.
        mds = [fbsaml.idp_metadata(self, s) for s in (self.a, self.b)]
        infos = [pc.metadata_info(m) for m in mds]
        self.assertEqual(infos[0]["certs"], infos[1]["certs"])
        self.assertEqual(infos[0]["entity_id"], infos[1]["entity_id"])
        b = self.lb()
        start = len(self.nginx.upstreams())
        p = b.login("alice", fbsaml.PASSWORD, follow=True)
        self.assertEqual(p.status, 200, p.text[:2000])
        self.assertIn("fb_session", b.cookies)
        for i in range(4):
            action, resp, _ = fbsaml.response_of(self, b.get("/saml/idp/init/aws"))
            self.assertEqual(action, fbsaml.AWS_ACS)
            verdict = aws_rules.check(resp, mds[i % 2], library="onelogin")
            self.assertTrue(verdict["ok"], verdict)
        used = self.nginx.upstreams()[start:]
        self.assertEqual(set(used), {"127.0.0.1:%d" % self.a.port,
                                     "127.0.0.1:%d" % self.b.port}, used)
        # Round robin: the sign-on requests went to both replicas in turn.
        self.assertTrue(all(used[i] != used[i + 1] for i in range(len(used) - 1)), used)
        # A session revoked at one replica is refused at the other.
        ba = fbsaml.browser(self, self.a)
        bb = fbsaml.browser(self, self.b)
        ba.cookies = dict(b.cookies)
        bb.cookies = dict(b.cookies)
        self.assertEqual(bb.get("/saml/idp/init/aws").status, 200)
        home = ba.get("/")
        self.assertEqual(home.status, 200, home.text[:2000])
        out = ba.submit(home, "/logout", {})
        self.assertIn(out.status, (200, 302, 303), out.text[:2000])
        p = bb.get("/saml/idp/init/aws")
        self.assertEqual(p.status, 303, "replica b refuses the session ended at a")
        self.assertIn("/login", p.location)

    def test_forward_auth_through_alternating_replicas(self):
        """An app's forward-auth hand-off and checks through the balancer (Envoy's ext_authz
        contract: the original Host, the path after the prefix): any replica answers any
        step, and a sign-out at one ends the app session at the other."""
        b = self.lb()
        p = b.login("alice", fbsaml.PASSWORD, follow=True)
        self.assertEqual(p.status, 200, p.text[:2000])
        html = {"Host": "tools.test", "Accept": "text/html"}

        def check(cookie, port=None):
            c = http.client.HTTPConnection("127.0.0.1", port or self.nginx.port, timeout=20)
            try:
                c.request("GET", "/auth/envoy/page", headers=dict(html, Cookie=cookie))
                r = c.getresponse()
                r.body = r.read()
                return r.status, r.getheader("X-Forwarded-User"), r
            finally:
                c.close()

        status, _, r = check("")
        self.assertEqual(status, 302, (r.getheaders(), r.body[:500]))
        state = [v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie" and
                 v.startswith("fb_session_app_state=")][0]
        start = r.getheader("Location")[len(self.public):]
        p = b.get(start)
        self.assertEqual(p.status, 303, p.text[:2000])
        self.assertTrue(p.location.startswith("http://tools.test/_fedbroker/callback?code="),
                        p.location)
        cb = urllib.parse.urlsplit(p.location)
        c = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=20)
        c.request("GET", cb.path + "?" + cb.query, headers={"Host": "tools.test",
                                                            "Cookie": state})
        r = c.getresponse()
        r.read()
        c.close()
        self.assertEqual(r.status, 303)
        app = [v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie" and
               v.startswith("fb_session_app=")][0]
        start = len(self.nginx.upstreams())
        for _ in range(4):
            self.assertEqual(check(app)[:2], (200, "alice"))
        used = self.nginx.upstreams()[start:]
        self.assertEqual(set(used), {"127.0.0.1:%d" % self.a.port,
                                     "127.0.0.1:%d" % self.b.port}, used)
        # Signed out at replica a: replica b refuses the app cookie, once each of its
        # workers' revocation caches (a few seconds at most) has expired: every answer
        # after the first refusal is a refusal by the time ten come in a row.
        ba = fbsaml.browser(self, self.a)
        ba.cookies = dict(b.cookies)
        home = ba.get("/")
        self.assertEqual(home.status, 200, home.text[:2000])
        self.assertIn(ba.submit(home, "/logout", {}).status, (200, 302, 303))
        deadline = time.time() + 15
        refused = 0
        while refused < 10:
            self.assertLess(time.time(), deadline, "replica b still allows the app session")
            status = check(app, self.b.port)[0]
            self.assertIn(status, (200, 302))
            refused = refused + 1 if status == 302 else 0
            time.sleep(0.1)

    def test_upstream_response_replayed_at_the_other_replica(self):
        r = self.a.http("GET", "/saml/sp/metadata")
        self.assertEqual(r.status, 200, r.body[:500])
        def same(md):  # the document's own ID and times differ per request
            return re.sub(rb'(ID|validUntil|cacheDuration)="[^"]*"', b"", md)
        self.assertEqual(same(r.body), same(self.b.http("GET", "/saml/sp/metadata").body))
        sp_id = self.public + "/saml/sp/metadata"
        acs = self.public + "/upstream/corp/acs"
        idp = pysaml2_idp.IdP(IDP_ID, IDP_BASE, [r.body.decode()], key=self.idp_key,
                              cert=self.idp_cert)

        def start(b):
            p = b.get("/upstream/corp/start")
            self.assertEqual(p.status, 303, p.text[:2000])
            return idp.authn_request(urllib.parse.urlsplit(p.location).query)

        ba = fbsaml.browser(self, self.a)
        req = start(ba)
        resp = idp.response(sp_id, acs, name_id="carol-7", in_response_to=req["id"],
                            attributes={"groups": ["dev"], "mail": ["carol@corp.test"]})
        p = ba.post("/upstream/corp/acs", {"SAMLResponse": resp})
        self.assertIn(p.status, (302, 303), p.text[:2000])
        self.assertIn("fb_session", ba.cookies)
        # The same response at the other replica, from a browser with its own request.
        bb = fbsaml.browser(self, self.b)
        start(bb)
        off = self.b.log_size()
        p = bb.post("/upstream/corp/acs", {"SAMLResponse": resp})
        self.assertGreaterEqual(p.status, 400, p.text[:2000])
        self.assertLess(p.status, 500, p.text[:2000])
        self.assertIn("does not answer", p.text)
        self.assertNotIn("fb_session", bb.cookies)
        self.assertTrue(fbsaml.audit_since(self.b, off))

    def test_lockout_counted_across_replicas(self):
        # Failed sign-ins at either replica count for the account at both.
        for srv in (self.a, self.b, self.a):
            b = fbsaml.browser(self, srv)
            p = b.login("alice", "not the password")
            self.assertLess(p.status, 500, p.text[:2000])
            self.assertNotIn("fb_session", b.cookies)
        for srv in (self.b, self.a):
            p = fbsaml.browser(self, srv).login("alice", fbsaml.PASSWORD)
            self.assertEqual(p.status, 429, "locked at both replicas\n" + p.text[:2000])
            self.assertTrue(p.header("Retry-After"))

    def rp(self, step, **args):
        """A step of tests/peers/oidc/rp.mjs (openid-client, jose) against the balancer."""
        if shutil.which("node") is None or not all(os.path.isdir(os.path.join(
                harness.PEERS, "node_modules", m)) for m in ("openid-client", "jose")):
            raise harness.peer_missing("node and tests/peers' openid-client and jose "
                                       "(cd tests/peers && npm ci)")
        a = {"issuer": self.public}
        a.update(args)
        cp = subprocess.run(["node", RP, step, json.dumps(a)], capture_output=True, text=True,
                            timeout=60, cwd=harness.PEERS)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def verified_at_both(self, jwt, typ):
        """jwt verified by jose against the JWKS of each replica (the same key): its claims."""
        out = []
        for srv in (self.a, self.b):
            v = self.rp("verify", client_id="web", client_secret=WEB_SECRET, jwt=jwt, typ=typ,
                        jwks_uri="http://127.0.0.1:%d/oauth2/jwks" % srv.port)
            self.assertNotIn("error", v, v)
            out.append(v)
        self.assertEqual(out[0], out[1])
        return out[0]["claims"]

    def test_oidc_code_refresh_and_replay_across_replicas(self):
        """Authorization code + PKCE: authorized at replica a, exchanged at b, refreshed
        at a; the code replayed at a is refused and revokes the family b issued."""
        # Both replicas publish the same keys.
        jwks = [json.loads(s.http("GET", "/oauth2/jwks").body) for s in (self.a, self.b)]
        self.assertEqual(jwks[0], jwks[1])
        self.assertTrue(jwks[0]["keys"])
        ba = fbsaml.browser(self, self.a)
        p = ba.login("alice", fbsaml.PASSWORD, follow=True)
        self.assertEqual(p.status, 200, p.text[:2000])
        verifier = base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(
            verifier.encode()).digest()).decode().rstrip("=")
        p = ba.get("/oauth2/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": "web", "redirect_uri": WEB_CB,
            "scope": "openid profile email", "state": "st-ha", "nonce": "n-ha",
            "code_challenge": challenge, "code_challenge_method": "S256"}))
        self.assertEqual(p.status, 302, p.text[:2000])
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertEqual(q["iss"], [self.public], "one issuer: the balancer's")
        code = q["code"][0]

        def token(srv, fields):
            r = srv.request("POST", "/oauth2/token", headers=basic("web", WEB_SECRET),
                            body=urllib.parse.urlencode(fields))
            return r.status, json.loads(r.body or b"{}")

        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": WEB_CB,
                 "code_verifier": verifier}
        st, t = token(self.b, grant)
        self.assertEqual(st, 200, t)
        idc = self.verified_at_both(t["id_token"], "JWT")
        self.assertEqual((idc["iss"], idc["aud"], idc["nonce"]), (self.public, "web", "n-ha"))
        self.assertEqual(idc["preferred_username"], "alice")
        atc = self.verified_at_both(t["access_token"], "at+jwt")
        self.assertEqual((atc["client_id"], atc["sub"]), ("web", idc["sub"]))
        # Refreshed at a: rotated, and the new tokens verify at both.
        st, t2 = token(self.a, {"grant_type": "refresh_token",
                                "refresh_token": t["refresh_token"]})
        self.assertEqual(st, 200, t2)
        self.assertNotEqual(t2["refresh_token"], t["refresh_token"])
        self.assertEqual(self.verified_at_both(t2["access_token"], "at+jwt")["sub"], idc["sub"])
        # The code replayed at a: refused; the family b issued is revoked everywhere.
        off = self.a.log_size()
        st, body = token(self.a, grant)
        self.assertEqual((st, body.get("error")), (400, "invalid_grant"), body)
        self.assertNotIn("access_token", body)
        self.assertTrue(fbsaml.audit_since(self.a, off, "oidc_code_replayed"))
        st, body = token(self.b, {"grant_type": "refresh_token",
                                  "refresh_token": t2["refresh_token"]})
        self.assertEqual((st, body.get("error")), (400, "invalid_grant"), "the family is revoked")
        for srv in (self.a, self.b):
            r = srv.request("POST", "/oauth2/introspect", headers=basic("web", WEB_SECRET),
                            body=urllib.parse.urlencode({"token": t2["access_token"]}))
            self.assertEqual(json.loads(r.body), {"active": False}, srv.port)

    def load_while_b_is_killed(self, method, path, headers, body=None):
        """Requests through the balancer, one at a time, while replica b is killed with
        SIGKILL after the first 20, until 60 were sent once all of b's processes are gone:
        (when, status, body) each, when "before" the kill began, "during" it (sent or
        answered while b's processes were dying) or "after" it. Only replica a answered
        the last 20."""
        results = []
        killing = threading.Event()
        killed = threading.Event()
        half = threading.Event()

        def load():
            deadline = time.time() + 60
            after = 0
            while time.time() < deadline and len(results) < 400 and after < 60:
                # Read before sending and after the answer: when the kill came.
                k0, k1 = killing.is_set(), killed.is_set()
                c = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=20)
                try:
                    c.request(method, path, body=body, headers=headers)
                    r = c.getresponse()
                    data = r.read()
                    status = r.status
                except (OSError, http.client.HTTPException) as e:
                    status, data = repr(e), b""
                finally:
                    c.close()
                when = "after" if k1 else "during" if k0 or killing.is_set() else "before"
                results.append((when, status, data))
                if len(results) >= 20:
                    half.set()
                after += k1

        def gone(pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                return True

        t = threading.Thread(target=load)
        t.start()
        self.assertTrue(half.wait(60), "the load started")
        procs = [self.b.proc.pid] + harness.children_of(self.b.proc.pid)
        killing.set()
        self.b.kill()
        deadline = time.time() + 10
        while not all(gone(p) for p in procs):
            self.assertLess(time.time(), deadline, "replica b's processes are gone")
            time.sleep(0.01)
        killed.set()
        t.join(90)
        self.assertFalse(t.is_alive())
        statuses = [(w, s) for w, s, _ in results]
        self.assertGreaterEqual(len([w for w, _ in statuses if w == "after"]), 60, statuses)
        tail = self.nginx.upstreams()[-20:]
        self.assertTrue(all(u.endswith(":%d" % self.a.port) for u in tail), tail)
        return results

    def test_client_credentials_while_one_replica_is_killed(self):
        """client_credentials through the balancer while replica b is killed with SIGKILL:
        every grant sent once b's processes are gone succeeds, and so does every grant
        answered before the kill began. nginx retries a request on the other replica only
        while it has not reached one (proxy_next_upstream error timeout, no non_idempotent:
        a code grant must never be sent twice), so a grant a worker of b was answering as
        the kill landed may end in 502; nothing else may."""
        cc = urllib.parse.urlencode({"grant_type": "client_credentials",
                                     "scope": "reports.read"})
        results = self.load_while_b_is_killed("POST", "/oauth2/token",
                                              basic("svc", SVC_SECRET), cc)
        statuses = [(w, s) for w, s, _ in results]
        self.assertEqual([(w, s) for w, s in statuses if s != 200 and w != "during"], [],
                         "every grant before the kill and after it succeeded")
        self.assertEqual([s for w, s in statuses if w == "during" and s not in (200, 502)],
                         [], statuses)
        # The grants issued after the kill are tokens a's JWKS verifies.
        tok = json.loads([d for w, s, d in results if w == "after"][-1])
        v = self.rp("verify", client_id="svc", client_secret=SVC_SECRET,
                    jwt=tok["access_token"], typ="at+jwt",
                    jwks_uri="http://127.0.0.1:%d/oauth2/jwks" % self.a.port)
        self.assertNotIn("error", v, v)
        self.assertEqual(v["claims"]["client_id"], "svc")
        self.assertEqual(v["claims"]["scope"], "reports.read")

    def test_kill_one_replica_under_load(self):
        b = self.lb()
        p = b.login("alice", fbsaml.PASSWORD, follow=True)
        self.assertEqual(p.status, 200, p.text[:2000])
        cookie = "; ".join("%s=%s" % kv for kv in b.cookies.items())
        results = self.load_while_b_is_killed("GET", "/saml/idp/init/aws", {"Cookie": cookie})
        # A GET that reached b as it died is sent to a again (proxy_next_upstream).
        self.assertEqual([(w, s) for w, s, _ in results if s != 200], [],
                         "every request succeeded")


if __name__ == "__main__":
    harness.main()
