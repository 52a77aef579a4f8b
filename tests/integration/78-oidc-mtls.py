#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""78: RFC 8705 mutual-TLS client authentication and certificate-bound tokens
(issue 14, items 3 and 4). A test CA made here with the openssl CLI; fedbroker
on HTTPS asking for client certificates (server.tls.client_ca). npm's
openid-client does client_credentials with tls_client_auth (subject DN) and
self_signed_tls_client_auth (a pinned thumbprint) and jose checks that the
access token's cnf x5t#S256 is the certificate's thumbprint; introspection
returns cnf; userinfo serves a bound token with its certificate and refuses it
with another or none (RFC 8705 3). Behind a TLS-ending proxy: Envoy's
x-forwarded-client-cert from a trusted address (127.0.0.2) counts, from another
address it is ignored and audited; Debian's nginx ending TLS passes
$ssl_client_escaped_cert (oidc.mtls.header_format: pem). Bad input: no certificate, the wrong one, a
chain not trusted, a secret for a certificate client, a malformed XFCC. Each:
invalid_client (401) or invalid_token, an audit line, nothing issued. Runs on
SQLite and, with FB_TEST_STORE=postgres, on PostgreSQL.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import unittest
import urllib.parse

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402

RP = os.path.join(harness.PEERS, "oidc", "rp.mjs")
NGINX = "/usr/sbin/nginx"
KEYS = harness.FIXTURE_KEYS
WEB_CB = "https://app.example.test/cb"
SVC_SECRET = "svc-secret-0123456789abcdefghij"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DN = "CN=svc-mtls,O=fedbroker test"


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True,
                          check=True).stdout


def thumbprint(pem_file):
    der = openssl("x509", "-in", pem_file, "-outform", "DER")
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def make_ca(d, name):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + name,
            "-addext", "basicConstraints=critical,CA:true",
            "-addext", "keyUsage=critical,keyCertSign")
    return key, crt


def make_cert(d, name, subj, ca=None, san=None):
    """A client certificate: signed by ca (key, crt), or self-signed. (cert, key)."""
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:false\nextendedKeyUsage=clientAuth\n")
        if san:
            f.write("subjectAltName=%s\n" % san)
    if ca is None:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", subj,
                "-addext", "extendedKeyUsage=clientAuth")
        return crt, key
    csr = os.path.join(d, name + ".csr")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", subj)
    openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
            "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


def peers_missing():
    if shutil.which("node") is None or not all(os.path.isdir(os.path.join(
            harness.PEERS, "node_modules", m)) for m in ("openid-client", "jose")):
        return harness.peer_missing("node and tests/peers' openid-client and jose "
                                    "(cd tests/peers && npm ci)")
    return None


@unittest.skipIf(shutil.which("openssl") is None, "the openssl CLI is not installed")
class OidcMtls(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        cls.holder.setUp()
        d = cls.d = cls.holder.tmpdir()
        keys = []
        for kid, name, state in (("ec", "ec256", "active"),):
            for ext in ("key", "crt"):
                shutil.copy(os.path.join(KEYS, "%s.%s.pem" % (name, ext)),
                            os.path.join(d, "%s.%s.pem" % (kid, ext)))
            os.chmod(os.path.join(d, kid + ".key.pem"), 0o600)
            keys.append({"id": kid, "key": os.path.join(d, kid + ".key.pem"),
                         "cert": os.path.join(d, kid + ".crt.pem"), "state": state})
        with open(os.path.join(d, "svc.secret"), "w") as f:
            f.write(SVC_SECRET + "\n")
        ca = make_ca(d, "test-ca")
        rogue = make_ca(d, "rogue-ca")
        cls.ca_crt = ca[1]
        cls.certs = {
            "svc": make_cert(d, "svc", "/O=fedbroker test/CN=svc-mtls", ca,
                             "DNS:svc.example.test"),
            "other": make_cert(d, "other", "/O=fedbroker test/CN=other", ca,
                               "DNS:other.example.test"),
            # The right subject, from a CA fedbroker does not trust.
            "rogue": make_cert(d, "rogue", "/O=fedbroker test/CN=svc-mtls", rogue,
                               "DNS:svc.example.test"),
            "self": make_cert(d, "self", "/CN=robot-self"),
            "self2": make_cert(d, "self2", "/CN=robot-self"),
        }
        # svc-jwks registers its certificates in a JWKS (RFC 8705 2.2.2): self2's as x5c,
        # another one by x5t#S256 only.
        der = openssl("x509", "-in", cls.certs["self2"][0], "-outform", "DER")
        with open(os.path.join(d, "svc-jwks.jwks"), "w") as f:
            json.dump({"keys": [{"kty": "EC", "x5t#S256": thumbprint(cls.certs["other"][0])},
                                {"kty": "EC", "x5c": [base64.b64encode(der).decode()]}]}, f)
        cls.tls_cert, cls.tls_key = harness.openssl_selfsigned(d)
        srv = cls.srv = harness.Server(cls.holder, conf={}, workers=2, tls=True)
        mdir = fbsaml.write_mappings(os.path.join(srv.dir, "mappings"), None)
        conf = {
            "server": {"public_url": "https://127.0.0.1:%d" % srv.port,
                       "tls": {"cert": cls.tls_cert, "key": cls.tls_key,
                               "client_ca": ca[1]},
                       "trusted_proxies": ["127.0.0.2"]},
            "local": {"password": {"time_cost": 1, "memory_kib": 1024},
                      "bootstrap": {"enabled": False}, "lockout": {"max_failures": 100}},
            "mappings": {"dir": mdir},
            "keys": keys,
            "oidc": {"mtls": {"header": "x-forwarded-client-cert"}, "clients": [
                {"id": "svc-pki", "type": "service", "tls": {"subject_dn": DN},
                 "scopes": ["reports.read"]},
                {"id": "svc-san", "type": "service", "tls": {"san_dns": "svc.example.test"},
                 "scopes": ["reports.read"]},
                {"id": "svc-self", "type": "service",
                 "tls": {"thumbprint": thumbprint(cls.certs["self"][0])},
                 "scopes": ["reports.read"]},
                {"id": "svc-jwks", "type": "service", "jwks": os.path.join(d, "svc-jwks.jwks"),
                 "tls": {"self_signed": True}, "scopes": ["reports.read"]},
                {"id": "svc", "type": "service",
                 "secret": "file:" + os.path.join(d, "svc.secret"), "scopes": ["reports.read"]},
                {"id": "web-mtls", "tls": {"subject_dn": DN}, "redirect_uris": [WEB_CB]},
            ]},
            # Forward auth is a resource server too: svc-pki's bound tokens open reports.
            "apps": [{"name": "reports", "hosts": ["reports.test"], "audiences": ["svc-pki"]}],
        }
        srv.conf = harness.deep_merge(srv.base_conf, conf)
        srv.write_config(srv.conf)
        cp = subprocess.run([harness.BIN, "check-config", srv.config], capture_output=True,
                            text=True, timeout=60)
        cls.holder.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        fbsaml.add_user(cls.holder, srv, "alice", email="alice@example.com")
        srv.start()
        cls.issuer = "https://127.0.0.1:%d" % srv.port

    @classmethod
    def tearDownClass(cls):
        cls.holder.doCleanups()

    # -- helpers
    def ctx(self, cert=None):
        c = ssl.create_default_context(cafile=self.tls_cert)
        c.check_hostname = False
        if cert is not None:
            c.load_cert_chain(*self.certs[cert])
        return c

    def post(self, path, fields, cert=None, headers=None, source="127.0.0.1"):
        c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, timeout=10,
                                        context=self.ctx(cert), source_address=(source, 0))
        try:
            c.request("POST", path, body=urllib.parse.urlencode(fields),
                      headers={**FORM, **(headers or {})})
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"{}"), r
        finally:
            c.close()

    def get(self, path, cert=None, headers=None):
        c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, timeout=10,
                                        context=self.ctx(cert))
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"{}"), r
        finally:
            c.close()

    def rp(self, step, cert, **args):
        missing = peers_missing()
        if missing:
            raise missing
        a = {"issuer": self.issuer,
             "tls": {"cert": self.certs[cert][0], "key": self.certs[cert][1],
                     "ca": self.tls_cert}}
        a.update(args)
        cp = subprocess.run(["node", RP, step, json.dumps(a)], capture_output=True, text=True,
                            timeout=60, cwd=harness.PEERS)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def audit(self, offset, event):
        return fbsaml.audit_since(self.srv, offset, event)

    def offset(self):
        return len(self.srv.stdout())

    def refused(self, st, body, off, event="oidc_client_auth_failed"):
        self.assertEqual(st, 401, body)
        self.assertEqual(body.get("error"), "invalid_client", body)
        self.assertNotIn("access_token", body)
        self.assertTrue(self.audit(off, event), "audit line %s" % event)

    def xfcc(self, cert):
        with open(self.certs[cert][0]) as f:
            pem = f.read()
        return 'By=spiffe://proxy;Hash=abc;Cert="%s";Subject="x"' % urllib.parse.quote(pem,
                                                                                       safe="")

    # -- discovery
    def test_discovery(self):
        st, d, _ = self.get("/.well-known/openid-configuration")
        self.assertEqual(st, 200)
        self.assertTrue(d["tls_client_certificate_bound_access_tokens"])
        for k in ("token_endpoint_auth_methods_supported",
                  "introspection_endpoint_auth_methods_supported",
                  "revocation_endpoint_auth_methods_supported"):
            self.assertIn("tls_client_auth", d[k])
            self.assertIn("self_signed_tls_client_auth", d[k])

    def test_cli_show(self):
        for cid, method in (("svc-pki", "tls_client_auth"),
                            ("svc-self", "self_signed_tls_client_auth"),
                            ("svc-jwks", "self_signed_tls_client_auth")):
            cp = fbsaml.cli(self.srv, "oidc", "client", "show", cid, "--json")
            self.assertEqual(cp.returncode, 0, cp.stderr)
            self.assertEqual(json.loads(cp.stdout)["auth_methods"], [method])

    def test_check_config_refuses(self):
        """A CA bundle that is not one, a jwks without a certificate: check-config says
        which, before anything serves."""
        d = self.tmpdir()
        with open(os.path.join(d, "bad-ca.pem"), "w") as f:
            f.write("not a certificate\n")
        with open(os.path.join(d, "nocert.jwks"), "w") as f:
            json.dump({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}, f)
        for change, want in (
                ({"oidc": {"mtls": {"ca_file": os.path.join(d, "bad-ca.pem")}}},
                 "oidc.mtls.ca_file"),
                ({"oidc": {"clients": [{"id": "x", "type": "service", "tls": {"self_signed": True},
                                        "jwks": os.path.join(d, "nocert.jwks")}]}},
                 "no certificate")):
            conf = harness.deep_merge(json.loads(json.dumps(self.srv.conf)), change)
            path = os.path.join(d, "fedbroker.yaml")
            with open(path, "w") as f:
                f.write(harness.to_yaml(conf) + "\n")
            cp = subprocess.run([harness.BIN, "check-config", path], capture_output=True,
                                text=True, timeout=60)
            self.assertNotEqual(cp.returncode, 0, cp.stdout)
            self.assertIn(want, cp.stdout + cp.stderr)

    # -- openid-client and jose
    def test_tls_client_auth_openid_client(self):
        off = self.offset()
        t = self.rp("cc", "svc", client_id="svc-pki", scope="reports.read")
        self.assertNotIn("error", t, t)
        self.assertEqual(t["at_header"]["typ"], "at+jwt")
        self.assertEqual(t["at_claims"]["client_id"], "svc-pki")
        self.assertEqual(t["at_claims"]["cnf"], {"x5t#S256": thumbprint(self.certs["svc"][0])})
        self.assertTrue(self.audit(off, "oidc_token_issued"))
        # Introspection (the client authenticated by its certificate) returns cnf.
        st, body, _ = self.post("/oauth2/introspect", {"client_id": "svc-pki",
                                                       "token": t["tokens"]["access_token"]},
                                cert="svc")
        self.assertEqual(st, 200, body)
        self.assertTrue(body["active"])
        self.assertEqual(body["cnf"], {"x5t#S256": thumbprint(self.certs["svc"][0])})
        # Revocation by the client authenticated by its certificate, not without it.
        token = t["tokens"]["access_token"]
        off = self.offset()
        st, body, _ = self.post("/oauth2/revoke", {"client_id": "svc-pki", "token": token})
        self.refused(st, body, off)
        st, body, _ = self.post("/oauth2/revoke", {"client_id": "svc-pki", "token": token},
                                cert="svc")
        self.assertEqual(st, 200, body)
        st, body, _ = self.post("/oauth2/introspect", {"client_id": "svc-pki", "token": token},
                                cert="svc")
        self.assertEqual((st, body), (200, {"active": False}))

    def test_self_signed_tls_client_auth_openid_client(self):
        t = self.rp("cc", "self", client_id="svc-self", scope="reports.read")
        self.assertNotIn("error", t, t)
        self.assertEqual(t["at_claims"]["cnf"]["x5t#S256"], thumbprint(self.certs["self"][0]))
        # Another self-signed certificate with the same subject is not the pinned one.
        off = self.offset()
        t = self.rp("cc", "self2", client_id="svc-self", scope="reports.read")
        self.assertEqual(t.get("status"), 401, t)
        self.assertNotIn("tokens", t)
        self.assertTrue(self.audit(off, "oidc_client_auth_failed"))

    def test_self_signed_from_jwks(self):
        t = self.rp("cc", "self2", client_id="svc-jwks", scope="reports.read")
        self.assertNotIn("error", t, t)
        self.assertEqual(t["at_claims"]["cnf"]["x5t#S256"], thumbprint(self.certs["self2"][0]))
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-jwks"}, cert="other")
        self.assertEqual(st, 200, body)
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-jwks"}, cert="self")
        self.refused(st, body, off)
        # Its JWKS holds certificates, not keys for private_key_jwt.
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {
            "grant_type": "client_credentials", "client_id": "svc-jwks",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "e30.e30.e30"}, cert="self2")
        self.refused(st, body, off)

    def test_san_dns(self):
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-san"}, cert="svc")
        self.assertEqual(st, 200, body)
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-san"}, cert="other")
        self.refused(st, body, off)

    def test_secret_client_unbound(self):
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc",
                                                  "client_secret": SVC_SECRET}, cert="svc")
        self.assertEqual(st, 200, body)
        claims = json.loads(base64.urlsafe_b64decode(
            body["access_token"].split(".")[1] + "=="))
        self.assertNotIn("cnf", claims, "a secret client's token is not bound")

    # -- bad input
    def test_no_certificate(self):
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-pki"})
        self.refused(st, body, off)
        self.assertIn("no client certificate", body["error_description"])

    def test_wrong_certificate(self):
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-pki"}, cert="other")
        self.refused(st, body, off)

    def test_chain_not_trusted(self):
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-pki"}, cert="rogue")
        self.refused(st, body, off)
        self.assertIn("not trusted", body["error_description"])

    def test_no_fallback_to_secret(self):
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-pki",
                                                  "client_secret": SVC_SECRET}, cert="svc")
        self.refused(st, body, off)
        hdr = {"Authorization": "Basic " + base64.b64encode(
            ("svc-pki:" + SVC_SECRET).encode()).decode()}
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials"},
                                cert="svc", headers=hdr)
        self.refused(st, body, off)

    # -- forward auth: a certificate-bound token at a protected app (RFC 8705 3)
    def check(self, token, cert=None, xfcc=None, source="127.0.0.1"):
        """Envoy's ext_authz check for reports.test with the token (and the client's
        certificate in XFCC, as Envoy's forward_client_cert_details passes it)."""
        h = {"Host": "reports.test", "Authorization": "Bearer " + token}
        if xfcc is not None:
            h["x-forwarded-client-cert"] = self.xfcc(xfcc)
        c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, timeout=10,
                                        context=self.ctx(cert), source_address=(source, 0))
        try:
            c.request("GET", "/auth/envoy/report", headers=h)
            r = c.getresponse()
            r.read()
            return r
        finally:
            c.close()

    def test_forward_auth_bound_token(self):
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-pki"},
                                headers={"x-forwarded-client-cert": self.xfcc("svc")},
                                source="127.0.0.2")
        self.assertEqual(st, 200, body)
        at = body["access_token"]
        # Its certificate, from the trusted proxy or on fedbroker's own TLS connection.
        for kw in ({"xfcc": "svc", "source": "127.0.0.2"}, {"cert": "svc"}):
            r = self.check(at, **kw)
            self.assertEqual(r.status, 200, kw)
            self.assertEqual(r.getheader("X-Forwarded-User"), "svc-pki")
        # None, another one, or the right one in a header from an untrusted address.
        for kw in ({}, {"xfcc": "other", "source": "127.0.0.2"}, {"cert": "other"},
                   {"xfcc": "svc"}):
            r = self.check(at, **kw)
            self.assertEqual(r.status, 401, kw)
            self.assertIn('error="invalid_token"', r.getheader("WWW-Authenticate") or "", kw)
        # The verdict is not cached with the token: the right certificate still opens it.
        self.assertEqual(self.check(at, cert="svc").status, 200)

    # -- behind a proxy
    def test_xfcc_from_trusted_proxy(self):
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-pki"},
                                headers={"x-forwarded-client-cert": self.xfcc("svc")},
                                source="127.0.0.2")
        self.assertEqual(st, 200, body)
        claims = json.loads(base64.urlsafe_b64decode(
            body["access_token"].split(".")[1] + "=="))
        self.assertEqual(claims["cnf"]["x5t#S256"], thumbprint(self.certs["svc"][0]))
        # Several elements: the one the proxy appended last counts.
        both = self.xfcc("svc") + "," + self.xfcc("other")
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-pki"},
                                headers={"x-forwarded-client-cert": both}, source="127.0.0.2")
        self.refused(st, body, off)

    def test_xfcc_from_untrusted_address(self):
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                  "client_id": "svc-pki"},
                                headers={"x-forwarded-client-cert": self.xfcc("svc")})
        self.refused(st, body, off)
        self.assertTrue(self.audit(off, "oidc_mtls_header_ignored"))

    def test_xfcc_malformed(self):
        for bad in ('Cert="%2D%2D%2D', "Cert=notapem", 'By=x;Cert="a";Cert="b"', ",", ";;="):
            off = self.offset()
            st, body, _ = self.post("/oauth2/token", {"grant_type": "client_credentials",
                                                      "client_id": "svc-pki"},
                                    headers={"x-forwarded-client-cert": bad},
                                    source="127.0.0.2")
            self.refused(st, body, off)
            self.assertTrue(self.audit(off, "oidc_mtls_header_malformed"), bad)

    def test_xfcc_twice(self):
        """Two x-forwarded-client-cert lines: which one the proxy set cannot be told."""
        off = self.offset()
        c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, timeout=10,
                                        context=self.ctx(), source_address=("127.0.0.2", 0))
        try:
            body = urllib.parse.urlencode({"grant_type": "client_credentials",
                                           "client_id": "svc-pki"})
            c.putrequest("POST", "/oauth2/token")
            c.putheader("Content-Type", FORM["Content-Type"])
            c.putheader("Content-Length", str(len(body)))
            c.putheader("x-forwarded-client-cert", self.xfcc("svc"))
            c.putheader("X-Forwarded-Client-Cert", self.xfcc("svc"))
            c.endheaders(body.encode())
            r = c.getresponse()
            self.refused(r.status, json.loads(r.read()), off)
        finally:
            c.close()
        self.assertTrue(self.audit(off, "oidc_mtls_header_malformed"))

    # -- the resource side: userinfo, and refresh tokens of a bound client
    def test_userinfo_bound_token(self):
        b = fbsaml.browser(self, self.srv)
        b.tls = True
        verifier = "v" * 50
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        q = {"response_type": "code", "client_id": "web-mtls", "redirect_uri": WEB_CB,
             "scope": "openid profile", "state": "s", "nonce": "n",
             "code_challenge": challenge, "code_challenge_method": "S256"}
        p = b.get("/oauth2/authorize?" + urllib.parse.urlencode(q))
        self.assertEqual(p.status, 303, p.text[:500])
        form = b.get(p.location)
        p = b.submit(form, "/login", {"username": "alice", "password": fbsaml.PASSWORD})
        for _ in range(6):
            loc = p.location or ""
            if p.status not in (302, 303) or not (loc.startswith("/") or
                                                 loc.startswith(self.issuer)):
                break
            p = b.get(fbsaml.path_of(loc) if loc.startswith("http") else loc)
        self.assertEqual(p.status, 302, p.text[:500])
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)["code"][0]
        off = self.offset()
        st, body, _ = self.post("/oauth2/token", {"grant_type": "authorization_code",
                                                  "client_id": "web-mtls", "code": code,
                                                  "redirect_uri": WEB_CB,
                                                  "code_verifier": verifier}, cert="svc")
        self.assertEqual(st, 200, body)
        at = body["access_token"]
        bearer = {"Authorization": "Bearer " + at}
        st, ui, _ = self.get("/oauth2/userinfo", cert="svc", headers=bearer)
        self.assertEqual(st, 200, ui)
        self.assertEqual(ui["preferred_username"], "alice")
        for other in ("other", None):
            off = self.offset()
            st, ui, r = self.get("/oauth2/userinfo", cert=other, headers=bearer)
            self.assertEqual(st, 401, ui)
            self.assertEqual(ui["error"], "invalid_token")
            self.assertIn("invalid_token", r.getheader("WWW-Authenticate"))
            self.assertTrue(self.audit(off, "oidc_userinfo_refused"))
        # The refresh token stays the client's: no certificate, no new tokens.
        off = self.offset()
        st, b2, _ = self.post("/oauth2/token", {"grant_type": "refresh_token",
                                                "client_id": "web-mtls",
                                                "refresh_token": body["refresh_token"]})
        self.refused(st, b2, off)
        st, b2, _ = self.post("/oauth2/token", {"grant_type": "refresh_token",
                                                "client_id": "web-mtls",
                                                "refresh_token": body["refresh_token"]},
                              cert="svc")
        self.assertEqual(st, 200, b2)
        claims = json.loads(base64.urlsafe_b64decode(b2["access_token"].split(".")[1] + "=="))
        self.assertEqual(claims["cnf"]["x5t#S256"], thumbprint(self.certs["svc"][0]))



@unittest.skipIf(shutil.which("openssl") is None, "the openssl CLI is not installed")
class OidcMtlsNginx(harness.TestCase):
    """Debian's nginx ends TLS, asks for a client certificate (optional_no_ca) and
    passes it as $ssl_client_escaped_cert in X-SSL-Client-Cert to fedbroker on plain
    HTTP, which trusts 127.0.0.1 as its proxy."""

    def setUp(self):
        super().setUp()
        if not os.path.exists(NGINX):
            raise harness.peer_missing("nginx is not installed (Debian package nginx)")
        d = self.d = self.tmpdir()
        ca = make_ca(d, "test-ca")
        self.certs = {"svc": make_cert(d, "svc", "/O=fedbroker test/CN=svc-mtls", ca),
                      "other": make_cert(d, "other", "/O=fedbroker test/CN=other", ca)}
        self.tls_cert, tls_key = harness.openssl_selfsigned(d)
        port = harness.free_port()
        self.issuer = "https://127.0.0.1:%d" % port
        keydir = os.path.join(d, "keys")
        os.mkdir(keydir)
        for ext in ("key", "crt"):
            shutil.copy(os.path.join(KEYS, "ec256.%s.pem" % ext),
                        os.path.join(keydir, "ec.%s.pem" % ext))
        os.chmod(os.path.join(keydir, "ec.key.pem"), 0o600)
        self.srv = self.server(conf={
            "server": {"trusted_proxies": ["127.0.0.1"], "public_url": self.issuer},
            "keys": [{"id": "ec", "key": os.path.join(keydir, "ec.key.pem"),
                      "cert": os.path.join(keydir, "ec.crt.pem")}],
            "oidc": {"mtls": {"header": "X-SSL-Client-Cert", "header_format": "pem",
                              "ca_file": ca[1]},
                     "clients": [{"id": "svc-pki", "type": "service",
                                  "tls": {"subject_dn": DN}, "scopes": ["reports.read"]}]},
        }, workers=1)
        self.srv.start()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("daemon off;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
                    "events {}\nhttp {\naccess_log off;\n" % (d, d))
            for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                f.write("%s_temp_path %s/%s;\n" % (t, d, t))
            f.write("server {\n listen 127.0.0.1:%d ssl;\n ssl_certificate %s;\n"
                    " ssl_certificate_key %s;\n ssl_client_certificate %s;\n"
                    " ssl_verify_client optional_no_ca;\n location / {\n"
                    "  proxy_pass http://127.0.0.1:%d;\n"
                    "  proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;\n"
                    " }\n}\n}\n" % (port, self.tls_cert, tls_key, ca[1], self.srv.port))
        p = subprocess.Popen([NGINX, "-c", conf, "-p", d, "-e", d + "/error.log"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop, p)
        deadline = time.time() + 15
        while not harness.port_listening(port):
            self.assertIsNone(p.poll(), "nginx exited")
            self.assertLess(time.time(), deadline, "nginx did not listen")
            time.sleep(0.05)
        self.port = port

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    def post(self, fields, cert=None):
        c = ssl.create_default_context(cafile=self.tls_cert)
        c.check_hostname = False
        if cert is not None:
            c.load_cert_chain(*self.certs[cert])
        h = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=c)
        try:
            h.request("POST", "/oauth2/token", body=urllib.parse.urlencode(fields), headers=FORM)
            r = h.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        finally:
            h.close()

    def test_through_nginx(self):
        missing = peers_missing()
        if missing:
            raise missing
        a = {"issuer": self.issuer, "client_id": "svc-pki", "scope": "reports.read",
             "tls": {"cert": self.certs["svc"][0], "key": self.certs["svc"][1],
                     "ca": self.tls_cert}}
        cp = subprocess.run(["node", RP, "cc", json.dumps(a)], capture_output=True, text=True,
                            timeout=60, cwd=harness.PEERS)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        t = json.loads(cp.stdout.strip().splitlines()[-1])
        self.assertNotIn("error", t, t)
        self.assertEqual(t["at_claims"]["cnf"], {"x5t#S256": thumbprint(self.certs["svc"][0])})
        for cert in (None, "other"):
            off = len(self.srv.stdout())
            st, body = self.post({"grant_type": "client_credentials", "client_id": "svc-pki"},
                                 cert)
            self.assertEqual(st, 401, body)
            self.assertEqual(body["error"], "invalid_client")
            self.assertTrue(fbsaml.audit_since(self.srv, off, "oidc_client_auth_failed"))


if __name__ == "__main__":
    harness.main()
