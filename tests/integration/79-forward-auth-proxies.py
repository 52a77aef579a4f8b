#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""79: forward auth with real proxies (issue 15): Debian's nginx (auth_request) and Caddy
(forward_auth), each configured by the output of `fedbroker integrate`, in front of a small
app echoing its request headers; headless Chromium signs in through them
(79-forward-auth-browser.mjs). The generated Istio YAML parses and names only fields of
Istio's API; the Traefik one parses."""

import http.client
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import harness

PASSWORD = "correct horse battery staple"
SVC_SECRET = "svc-secret-0123456789abcdefghij"
NGINX = "/usr/sbin/nginx"
CADDY = "/usr/bin/caddy"


def cli(srv, *args, stdin=None):
    return subprocess.run([harness.BIN] + list(args) + ["--config", srv.config, "--state-dir",
                                                        srv.state_dir],
                          input=stdin, capture_output=True, text=True, timeout=60)


class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {k.lower(): v for k, v in self.headers.items()}
        body["path"] = self.path
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def wait_port(port, proc, what, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited with status %d" % (what, proc.returncode))
        if harness.port_listening(port):
            return
        time.sleep(0.05)
    raise AssertionError("%s did not listen on %d" % (what, port))


class Base(harness.TestCase):
    def setUp(self):
        super().setUp()
        port = harness.free_port()
        secret = os.path.join(self.tmpdir(), "svc.secret")
        with open(secret, "w") as f:
            f.write(SVC_SECRET + "\n")
        self.srv = self.server(conf={
            "server": {"trusted_proxies": ["127.0.0.1"],
                       "public_url": "http://sso.test:%d" % port},
            # A service client whose access tokens api accepts (the generated key is RSA).
            "oidc": {"clients": [{"id": "svc", "type": "service", "signing_alg": "RS256",
                                  "secret": "file:" + secret}]},
            "local": {"password": {"time_cost": 1, "memory_kib": 1024},
                      "bootstrap": {"enabled": False}},
            "groups": [{"name": "staff", "members": ["ann"]}],
            "apps": [{"name": "wiki", "hosts": ["wiki.test"], "groups": ["staff"]},
                     {"name": "tools", "hosts": ["tools.test"], "groups": ["staff"]},
                     {"name": "api", "hosts": ["api.test"], "audiences": ["svc"],
                      "pass_access_token": True}],
        }, workers=1)
        # The harness picked its own port: use the one public_url names.
        self.srv.port = port
        self.srv.conf["server"]["listen"] = ["127.0.0.1:%d" % port]
        self.srv.write_config(self.srv.conf)
        self.fb = "http://127.0.0.1:%d" % port

    def integrate(self, proxy, app, *extra):
        cp = cli(self.srv, "integrate", proxy, "--app", app, "--fedbroker", self.fb, *extra)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        return cp.stdout


class Proxies(Base):
    def start_app(self):
        app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        threading.Thread(target=app.serve_forever, daemon=True).start()
        self.addCleanup(app.server_close)
        self.addCleanup(app.shutdown)
        return "http://127.0.0.1:%d" % app.server_address[1]

    def start_nginx(self, backend, app="wiki"):
        if not os.path.exists(NGINX):
            raise harness.peer_missing("nginx is not installed (Debian package nginx)")
        d = self.tmpdir()
        port = harness.free_port()
        servers = self.integrate("nginx", app, "--backend", backend)
        self.assertIn("auth_request /_fedbroker/auth;", servers)
        servers = servers.replace("listen 80;", "listen 127.0.0.1:%d;" % port)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("daemon off;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
                    "events {}\nhttp {\naccess_log off;\n" % (d, d))
            for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                f.write("%s_temp_path %s/%s;\n" % (t, d, t))
            f.write(servers + "}\n")
        p = subprocess.Popen([NGINX, "-c", conf, "-p", d, "-e", d + "/error.log"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, p)
        wait_port(port, p, "nginx")
        return "http://%s.test:%d" % (app, port)

    def start_caddy(self, backend):
        if not os.path.exists(CADDY):
            raise harness.peer_missing("caddy is not installed (Debian package caddy)")
        d = self.tmpdir()
        port = harness.free_port()
        site = self.integrate("caddy", "tools", "--backend", backend)
        self.assertIn("forward_auth 127.0.0.1:%d {" % self.srv.port, site)
        site = site.replace("tools.test {", "http://tools.test:%d {" % port)
        conf = os.path.join(d, "Caddyfile")
        with open(conf, "w") as f:
            f.write("{\n\tadmin off\n}\n" + site)
        env = dict(os.environ, XDG_DATA_HOME=d, XDG_CONFIG_HOME=d, HOME=d)
        p = subprocess.Popen([CADDY, "run", "--config", conf, "--adapter", "caddyfile"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, p)
        wait_port(port, p, "caddy")
        return "http://tools.test:%d" % port

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def test_browser_through_nginx_and_caddy(self):
        need = harness.missing_browser_peers(("playwright-core",))
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        for user in ("ann", "bob"):
            cp = cli(self.srv, "user", "add", user, "--init", "--password-stdin",
                     stdin=PASSWORD + "\n")
            self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.srv.start()
        backend = self.start_app()
        wiki = self.start_nginx(backend)
        tools = self.start_caddy(backend)
        env = dict(os.environ, FB_WIKI_URL=wiki, FB_TOOLS_URL=tools,
                   FB_SSO_URL="http://sso.test:%d" % self.srv.port, FB_USER="ann",
                   FB_OTHER="bob", FB_PASSWORD=PASSWORD, FB_PEERS=harness.PEERS)
        p = subprocess.run(["node", os.path.join(harness.HERE, "79-forward-auth-browser.mjs")],
                           env=env, capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        print("\n" + out)
        self.assertEqual(p.returncode, 0, out + "\n" + self.srv.logs())
        self.assertIn("browser: all steps passed", p.stdout)
        self.srv.stop()

    def test_bearer_through_nginx(self):
        """An access token of fedbroker's provider through nginx's auth_request (it sends
        the client's Authorization along): the app sees the identity headers and, with
        pass_access_token, the token; a bad token gets 401 invalid_token, not a redirect."""
        self.srv.start()
        api = self.start_nginx(self.start_app(), app="api")
        port = int(api.rsplit(":", 1)[1])
        r = self.srv.http("POST", "/oauth2/token",
                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                          body="grant_type=client_credentials&client_id=svc&client_secret=" +
                          SVC_SECRET)
        self.assertEqual(r.status, 200, r.body)
        at = json.loads(r.body)["access_token"]

        def get(token):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            self.addCleanup(c.close)
            c.request("GET", "/x?y=1", headers={"Host": "api.test:%d" % port,
                                                "Authorization": "Bearer " + token})
            resp = c.getresponse()
            return resp.status, resp.getheader("WWW-Authenticate"), resp.read()

        status, _, body = get(at)
        self.assertEqual(status, 200, body[:500])
        seen = json.loads(body)
        self.assertEqual(seen["path"], "/x?y=1")
        self.assertEqual(seen["x-forwarded-user"], "svc")
        self.assertEqual(seen["authorization"], "Bearer " + at)
        status, www, body = get(at[:-6] + ("AAAAAA" if not at.endswith("AAAAAA") else "BBBBBB"))
        self.assertEqual(status, 401, body[:500])
        self.assertIn('error="invalid_token"', www or "")
        self.srv.stop()


# The fields of Istio's MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationHttpProvider
# (istio.io/latest/docs/reference/config/istio.mesh.v1alpha1), AuthorizationPolicy and
# VirtualService, as far as the generated YAML uses them.
ISTIO_EXT_AUTHZ_HTTP = {"service", "port", "timeout", "pathPrefix", "failOpen",
                        "statusOnError", "includeHeadersInCheck",
                        "includeRequestHeadersInCheck", "includeAdditionalHeadersInCheck",
                        "includeRequestBodyInCheck", "headersToUpstreamOnAllow",
                        "headersToDownstreamOnDeny", "headersToDownstreamOnAllow"}
ISTIO_OPERATION = {"hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths",
                   "notPaths"}


class Generated(Base):
    def test_istio_yaml(self):
        import yaml
        docs = list(yaml.safe_load_all(self.integrate("istio", "wiki")))
        self.assertEqual(len(docs), 3)
        mesh, policy, vs = docs
        (prov,) = mesh["meshConfig"]["extensionProviders"]
        self.assertEqual(set(prov), {"name", "envoyExtAuthzHttp"})
        ext = prov["envoyExtAuthzHttp"]
        self.assertLessEqual(set(ext), ISTIO_EXT_AUTHZ_HTTP)
        self.assertEqual(ext["pathPrefix"], "/auth/envoy")
        self.assertIsInstance(ext["port"], int)
        self.assertIn("cookie", ext["includeRequestHeadersInCheck"])
        # Bearer access tokens are decided by fedbroker: Envoy must send them.
        self.assertIn("authorization", ext["includeRequestHeadersInCheck"])
        # Envoy compares header names in lower case: the seed's lost day.
        for h in ext["includeRequestHeadersInCheck"] + ext["headersToUpstreamOnAllow"]:
            self.assertEqual(h, h.lower())
        self.assertEqual(ext["headersToUpstreamOnAllow"],
                         ["x-forwarded-user", "x-forwarded-email", "x-forwarded-groups",
                          "x-forwarded-name"])
        self.assertEqual((policy["apiVersion"], policy["kind"]),
                         ("security.istio.io/v1", "AuthorizationPolicy"))
        self.assertEqual(set(policy["spec"]), {"selector", "action", "provider", "rules"})
        self.assertEqual(policy["spec"]["action"], "CUSTOM")
        self.assertEqual(policy["spec"]["provider"], {"name": prov["name"]})
        op = policy["spec"]["rules"][0]["to"][0]["operation"]
        self.assertLessEqual(set(op), ISTIO_OPERATION)
        self.assertEqual(op["hosts"], ["wiki.test", "wiki.test:*"])
        self.assertEqual(op["notPaths"], ["/_fedbroker/callback"])
        self.assertEqual((vs["apiVersion"], vs["kind"]),
                         ("networking.istio.io/v1", "VirtualService"))
        self.assertEqual(set(vs["spec"]), {"gateways", "hosts", "http"})
        route = vs["spec"]["http"][0]
        self.assertEqual(route["match"], [{"uri": {"exact": "/_fedbroker/callback"}}])
        self.assertEqual(route["route"][0]["destination"]["port"]["number"], 8080)

    def test_passed_access_token_copied(self):
        """pass_access_token: each proxy copies the token's header upstream."""
        import yaml
        ext = list(yaml.safe_load_all(self.integrate("istio", "api")))[0]
        ext = ext["meshConfig"]["extensionProviders"][0]["envoyExtAuthzHttp"]
        self.assertIn("authorization", ext["headersToUpstreamOnAllow"])
        doc = yaml.safe_load(self.integrate("traefik", "api"))
        self.assertIn("Authorization",
                      doc["http"]["middlewares"]["fedbroker-api"]["forwardAuth"][
                          "authResponseHeaders"])
        self.assertIn("copy_headers X-Forwarded-User X-Forwarded-Email X-Forwarded-Groups "
                      "X-Forwarded-Name Authorization\n", self.integrate("caddy", "api"))
        nginx = self.integrate("nginx", "api")
        self.assertIn("auth_request_set $fb_authorization $upstream_http_authorization;", nginx)
        self.assertIn("proxy_set_header Authorization $fb_authorization;", nginx)
        self.assertNotIn("authorization", self.integrate("nginx", "wiki").lower())

    def test_traefik_yaml(self):
        import yaml
        doc = yaml.safe_load(self.integrate("traefik", "wiki"))
        fa = doc["http"]["middlewares"]["fedbroker-wiki"]["forwardAuth"]
        self.assertEqual(fa["address"], self.fb + "/auth/traefik")
        self.assertIs(fa["trustForwardHeader"], False)
        self.assertIn("X-Forwarded-User", fa["authResponseHeaders"])
        self.assertEqual(doc["http"]["routers"]["wiki"]["middlewares"], ["fedbroker-wiki"])

    def test_usage_errors(self):
        cp = cli(self.srv, "integrate", "haproxy", "--app", "wiki")
        self.assertEqual(cp.returncode, 2)
        self.assertIn("unknown proxy 'haproxy'", cp.stderr)
        cp = cli(self.srv, "integrate", "nginx", "--app", "wikki")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("did you mean 'wiki'?", cp.stderr)
        cp = cli(self.srv, "integrate", "nginx")
        self.assertEqual(cp.returncode, 2)
        for bad in ("0", "65536", "8080x", "-1", ""):
            with self.subTest(port=bad):
                cp = cli(self.srv, "integrate", "istio", "--app", "wiki", "--port", bad)
                self.assertEqual(cp.returncode, 2, cp.stderr)
                self.assertIn("not a port number", cp.stderr)
        cp = cli(self.srv, "integrate", "istio", "--app", "wiki", "--port", "9000")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("port: 9000", cp.stdout)


if __name__ == "__main__":
    harness.main()
