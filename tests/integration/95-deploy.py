#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""95: the deployment kit of contrib/.

- `make install` (DESTDIR and prefix overrides): the binary, the three man pages,
  every mapping and metadata file, the systemd unit and the example configuration
  under the configured directories; the installed binary accepts the installed
  configuration and finds its rule files there; an existing configuration is never
  overwritten, and `make uninstall` removes only an unchanged one.
- The systemd unit: its sandbox as `systemd-analyze security --offline=yes` rates it
  (at most the measured EXPOSURE_MAX), `systemd-analyze verify` of the installed unit,
  and a SAML sign-in served under the kernel's memory-deny-write-execute (the
  prctl behind MemoryDenyWriteExecute=yes).
- contrib/kubernetes and the Helm chart contrib/helm/fedbroker: validated against
  the Kubernetes API schemas (npm kubernetes-models) and the prometheus-operator
  CRD schema (npm @kubernetes-models/prometheus-operator); the chart rendered by
  95-helm-render.mjs (a subset of Go templates: no helm binary in Debian); the
  fedbroker.yaml they carry accepted by check-config.
- contrib/Containerfile: the runtime stage installs a package for every shared
  library the binary loads, the build stage installs BUILD_PKGS, the user is not root.
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))

SRC = harness.SRCDIR
CONTRIB = os.path.join(SRC, "contrib")
UNIT = os.path.join(CONTRIB, "systemd", "fedbroker.service")
KUBE = os.path.join(CONTRIB, "kubernetes")
CHART = os.path.join(CONTRIB, "helm", "fedbroker")
VALIDATE = os.path.join(harness.HERE, "95-kube-validate.mjs")
RENDER = os.path.join(harness.HERE, "95-helm-render.mjs")
# `systemd-analyze security --offline=yes contrib/systemd/fedbroker.service` with
# systemd 252 (Debian 12) rates the unit 1.1 ("OK"); a change that loosens the
# sandbox fails here.
EXPOSURE_MAX = 1.1
MAN_PAGES = ("man8/fedbroker.8", "man5/fedbroker.yaml.5", "man7/fedbroker-mapping.7")
PR_SET_MDWE = 65


def sh(args, env=None, timeout=120):
    """Runs a command (not the fedbroker binary under test); CompletedProcess (text)."""
    return subprocess.run(list(args), capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL, errors="replace")


def builddir():
    top = os.environ.get("abs_top_builddir")
    if top:
        return top
    return os.path.dirname(os.path.dirname(harness.BIN))


def clean_make_env():
    """The environment for a nested make: none of the outer make's job server."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


def configured_dirs():
    """The installation directories configure chose, expanded (from config.status)."""
    with open(os.path.join(builddir(), "config.status"), encoding="utf-8") as f:
        text = f.read()
    raw = dict(re.findall(r'^S\["(\w+)"\]="(.*)"$', text, re.M))

    def expand(v, depth=0):
        if depth > 10:
            raise AssertionError("unexpandable %s" % v)
        return re.sub(r"\$\{(\w+)\}", lambda m: expand(raw[m.group(1)], depth + 1), v)

    names = ("prefix", "bindir", "datadir", "mandir", "sysconfdir", "localstatedir",
             "systemdsystemunitdir", "PACKAGE")
    d = {n: expand(raw[n]) for n in names if n in raw}
    d["pkgdatadir"] = os.path.join(d["datadir"], d["PACKAGE"])
    return d


def make(tc, *args):
    cp = subprocess.run(["make", "-s", "-C", builddir()] + list(args), capture_output=True,
                        text=True, timeout=600, env=clean_make_env())
    tc.assertEqual(cp.returncode, 0, "make %s failed\n%s%s" % (" ".join(args), cp.stdout,
                                                               cp.stderr))
    return cp


def node_missing():
    need = []
    if shutil.which("node") is None:
        need.append("apt-get install -y nodejs npm")
    for n in ("kubernetes-models", "@kubernetes-models/prometheus-operator", "yaml"):
        if not os.path.isdir(os.path.join(harness.PEERS, "node_modules", n)):
            need.append("(cd tests/peers && npm ci)")
            break
    return need


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def unit_settings(text):
    """[(key, value)] of a unit file's lines, in order."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        out.append((k.strip(), v.strip()))
    return out


def yaml_docs(path_or_text, is_text=False):
    import yaml
    text = path_or_text if is_text else read(path_or_text)
    return [d for d in yaml.safe_load_all(text) if d]


def check_config_text(tc, text, what):
    """check-config of a fedbroker.yaml meant for the image, its /usr/share/fedbroker
    paths pointed at the source tree and its env: secrets set. A PostgreSQL store
    gets a fresh database of tests/pgtest.py and the signing key Secret's files."""
    d = tc.tmpdir()
    conf = os.path.join(d, "fedbroker.yaml")
    env = dict(os.environ, FB_COOKIE_KEY="k" * 32, FB_METRICS_TOKEN="t" * 32)
    if "env:FB_STORE_DSN" in text:
        sys.path.insert(0, os.path.join(SRC, "tests"))
        import pgtest
        if pgtest.bindir() is None:
            raise harness.peer_missing("PostgreSQL (%s)" % pgtest.INSTALL_HINT)
        env["FB_STORE_DSN"] = pgtest.shared().new_database()
        signing = os.path.join(d, "signing")
        os.mkdir(signing)
        shutil.copy(os.path.join(harness.FIXTURE_KEYS, "rsa2048.key.pem"),
                    os.path.join(signing, "tls.key"))
        shutil.copy(os.path.join(harness.FIXTURE_KEYS, "rsa2048.crt.pem"),
                    os.path.join(signing, "tls.crt"))
        text = text.replace("/etc/fedbroker-signing", signing)
    text = text.replace("/usr/share/fedbroker", SRC)
    tc.write(conf, text)
    cp = sh([harness.BIN, "check-config", conf], env=env)
    tc.assertNoCrash(cp, what)
    tc.assertEqual(cp.returncode, 0, "%s refused by check-config\n%s%s"
                   % (what, cp.stdout, cp.stderr))
    # The negative control: the same file with its rule files gone is refused.
    tc.write(conf, text.replace(os.path.join(SRC, "mappings"), os.path.join(d, "nothing")))
    cp = sh([harness.BIN, "check-config", conf], env=env)
    tc.assertEqual(cp.returncode, 1, "%s: check-config did not look for the rule files\n%s%s"
                   % (what, cp.stdout, cp.stderr))
    tc.assertIn("mappings", cp.stderr)


# ---- make install ----------------------------------------------------------------

class MakeInstall(harness.TestCase):
    def assertTree(self, root, dirs):
        """The files of make install below root (DESTDIR or '') for directories dirs."""
        def p(*parts):
            return root + os.path.join(*parts) if root else os.path.join(*parts)
        self.assertTrue(os.access(p(dirs["bindir"], "fedbroker"), os.X_OK), "binary")
        for page in MAN_PAGES:
            self.assertTrue(os.path.isfile(p(dirs["mandir"], page)), page)
        for sub in ("mappings", "metadata"):
            shipped = sorted(os.listdir(os.path.join(SRC, sub)))
            self.assertTrue(shipped)
            installed = sorted(os.listdir(p(dirs["pkgdatadir"], sub)))
            self.assertEqual(installed, shipped, "every file of %s/ is installed" % sub)
        conf_path = os.path.join(dirs["sysconfdir"], "fedbroker", "fedbroker.yaml")
        self.check_conf(read(p(conf_path)), dirs)
        if not dirs.get("systemdsystemunitdir"):
            # configure --without-systemdsystemunitdir: no unit anywhere.
            units = glob.glob((root or "/nonexistent") + "/**/fedbroker.service", recursive=True)
            self.assertEqual(units, [])
            return None, p(conf_path)
        unit = p(dirs["systemdsystemunitdir"], "fedbroker.service")
        text = read(unit)
        self.assertIn("ExecStart=%s serve --config %s " % (
            os.path.join(dirs["bindir"], "fedbroker"), conf_path), text)
        settings = re.sub(r"(?m)^#.*", "", text).replace(dirs["bindir"], "BINDIR")
        self.assertNotIn("/usr/local/bin", settings)
        return unit, p(conf_path)

    def check_conf(self, conf, dirs):
        self.assertNotIn("@", re.sub(r"#.*", "", conf), "every @dir@ substituted")
        self.assertIn("dir: %s/mappings\n" % dirs["pkgdatadir"], conf)
        self.assertIn("metadata: %s/metadata/aws-signin-saml-metadata.xml\n"
                      % dirs["pkgdatadir"], conf)

    def test_destdir_tree_under_the_configured_directories(self):
        dirs = configured_dirs()
        dest = os.path.join(self.tmpdir(), "dest")
        make(self, "install", "DESTDIR=" + dest)
        self.assertTree(dest, dirs)
        # Nothing outside the configured directories.
        roots = [dirs[k] for k in ("bindir", "mandir", "pkgdatadir", "systemdsystemunitdir")
                 if dirs.get(k)]
        roots.append(os.path.join(dirs["sysconfdir"], "fedbroker"))
        for path in glob.glob(dest + "/**", recursive=True):
            if os.path.isfile(path):
                rel = path[len(dest):]
                self.assertTrue(any(rel.startswith(r + "/") for r in roots), rel)
        make(self, "uninstall", "DESTDIR=" + dest)
        left = [p for p in glob.glob(dest + "/**", recursive=True) if os.path.isfile(p)]
        self.assertEqual(left, [], "make uninstall leaves nothing")

    def test_installed_binary_accepts_installed_config_and_finds_its_mappings(self):
        t = self.tmpdir()
        dirs = {"prefix": t + "/usr", "bindir": t + "/usr/bin", "datadir": t + "/usr/share",
                "mandir": t + "/usr/share/man", "sysconfdir": t + "/etc",
                "localstatedir": t + "/var",
                "systemdsystemunitdir": t + "/usr/lib/systemd/system"}
        dirs["pkgdatadir"] = dirs["datadir"] + "/fedbroker"
        over = ["%s=%s" % (k, dirs[k]) for k in ("prefix", "sysconfdir", "localstatedir",
                                                 "systemdsystemunitdir")]
        make(self, "install", *over)
        unit, conf = self.assertTree("", dirs)
        fb = os.path.join(dirs["bindir"], "fedbroker")
        cp = sh([fb, "check-config", conf])
        self.assertNoCrash(cp, "check-config")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertNotIn("error", cp.stderr)
        # The rule files it found are the installed ones: without them it refuses.
        os.rename(dirs["pkgdatadir"] + "/mappings", dirs["pkgdatadir"] + "/mappings.away")
        cp = sh([fb, "check-config", conf])
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn(dirs["pkgdatadir"] + "/mappings", cp.stderr)
        os.rename(dirs["pkgdatadir"] + "/mappings.away", dirs["pkgdatadir"] + "/mappings")
        # The installed unit names the installed binary and configuration.
        if shutil.which("systemd-analyze") is None:
            raise harness.peer_missing("systemd-analyze (apt-get install systemd)")
        cp = sh(["systemd-analyze", "verify", "--man=no", unit])
        self.assertEqual(cp.returncode, 0, "systemd-analyze verify %s\n%s%s"
                         % (unit, cp.stdout, cp.stderr))
        # A changed configuration survives install and uninstall.
        mine = read(conf) + "# mine\n"
        self.write(conf, mine)
        cp = make(self, "install", *over)
        self.assertIn("kept the existing", cp.stdout)
        self.assertEqual(read(conf), mine)
        cp = make(self, "uninstall", *over)
        self.assertIn("kept the changed", cp.stdout)
        self.assertEqual(read(conf), mine, "uninstall keeps a changed configuration")
        self.assertFalse(os.path.exists(fb))
        self.assertFalse(os.path.exists(unit))
        # An unchanged one goes with the rest.
        os.unlink(conf)
        make(self, "install", *over)
        make(self, "uninstall", *over)
        self.assertFalse(os.path.exists(conf))


# ---- systemd -----------------------------------------------------------------------

class SystemdUnit(harness.TestCase):
    def test_security_exposure_at_most_measured(self):
        if shutil.which("systemd-analyze") is None:
            raise harness.peer_missing("systemd-analyze (apt-get install systemd)")
        cp = sh(["systemd-analyze", "security", "--offline=yes", "--no-pager", UNIT])
        m = re.search(r"Overall exposure level for fedbroker\.service: (\d+\.\d+) (\w+)",
                      cp.stdout)
        self.assertIsNotNone(m, cp.stdout + cp.stderr)
        self.assertLessEqual(float(m.group(1)), EXPOSURE_MAX, cp.stdout)
        self.assertEqual(m.group(2), "OK")

    def test_sandbox_settings(self):
        s = unit_settings(read(UNIT))
        d = {}
        for k, v in s:
            d.setdefault(k, []).append(v)
        want = {"DynamicUser": "yes", "StateDirectory": "fedbroker", "ProtectSystem": "strict",
                "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                "NoNewPrivileges": "yes", "LockPersonality": "yes",
                "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": "",
                "AmbientCapabilities": "", "LimitNOFILE": "65536",
                "ExecReload": "/bin/kill -HUP $MAINPID",
                "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX"}
        for k, v in want.items():
            self.assertEqual(d.get(k), [v], k)
        self.assertIn("@system-service", d.get("SystemCallFilter", []))

    def test_saml_sign_in_under_memory_deny_write_execute(self):
        """MemoryDenyWriteExecute=yes is the kernel's MDWE prctl (systemd uses seccomp
        for the same rule): serve under it, sign in, and get a signed AWS response."""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            import fbsaml
            import peer_common as pc
        except ImportError as e:
            raise harness.peer_missing("%s (apt-get install python3-pysaml2 xmlsec1)" % e)
        wrapper = os.path.join(self.tmpdir(), "mdwe.py")
        self.write(wrapper, "import ctypes, os, sys\n"
                   "libc = ctypes.CDLL(None, use_errno=True)\n"
                   "if libc.prctl(%d, 1, 0, 0, 0) != 0:\n"
                   "    sys.exit('PR_SET_MDWE: errno %%d' %% ctypes.get_errno())\n"
                   "os.execv(sys.argv[1], sys.argv[1:])\n" % PR_SET_MDWE)
        py = sys.executable
        # The wrapper works: a process under it cannot map memory writable and executable.
        probe = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
                 "libc.mmap.restype = ctypes.c_void_p; "
                 "print(libc.mmap(None, 4096, 7, 0x22, -1, 0) in (None, 2**64 - 1))")
        cp = sh([py, wrapper, py, "-c", probe])
        if "PR_SET_MDWE" in cp.stderr and libc.prctl(66, 0, 0, 0, 0) < 0:
            self.fail("this kernel has no PR_SET_MDWE (Linux >= 6.3): %s" % cp.stderr)
        self.assertEqual(cp.stdout.strip(), "True", "mmap RWX refused under MDWE\n" + cp.stderr)
        srv = fbsaml.saml_server(self, [fbsaml.aws_sp("aws")],
                                 [{"name": "admins", "attributes": {"aws_role": "Admin"},
                                   "members": ["alice"]}], ["alice"], start=False)
        srv.start(cmd_prefix=[py, wrapper])
        md = fbsaml.idp_metadata(self, srv)
        b = fbsaml.signed_in(self, srv, "alice")
        action, resp, _ = fbsaml.response_of(self, b.get("/saml/idp/init/aws"))
        self.assertEqual(action, fbsaml.AWS_ACS)
        # Signed (OpenSSL through xmlsec) with the published key: xmlsec1 verifies it.
        r = srv.request("GET", "/saml/idp/cert.pem")
        self.assertEqual(r.status, 200)
        cert = self.write(os.path.join(self.tmpdir(), "idp.pem"), r.body)
        self.assertIn(pc.pem_body(r.body.decode()), pc.metadata_info(md)["certs"])
        xml = pc.decode_post(resp)
        for node in ("Response", "Assertion"):
            ok, out = pc.xmlsec_verify(xml, cert, node)
            self.assertTrue(ok, "%s signature: %s" % (node, out))
        srv.stop()


# ---- Kubernetes and Helm -------------------------------------------------------------

class Kubernetes(harness.TestCase):
    def setUp(self):
        super().setUp()
        need = node_missing()
        if need:
            raise harness.peer_missing("npm validators missing: " + "; ".join(need))

    def validate(self, *files):
        cp = sh(["node", VALIDATE] + list(files))
        return cp

    def by_kind(self, docs):
        out = {}
        for d in docs:
            self.assertNotIn(d["kind"], out, "one %s" % d["kind"])
            out[d["kind"]] = d
        return out

    def check_objects(self, docs, what, postgres=False):
        k = self.by_kind(docs)
        kinds = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy",
                 "ServiceMonitor"}
        self.assertEqual(set(k), kinds if postgres else kinds | {"PersistentVolumeClaim"}, what)
        self.assertNotIn("Secret", k, "no secret value is committed")
        dep = k["Deployment"]
        if postgres:
            self.check_replicas(k)
        else:
            # One replica while the store is SQLite on a ReadWriteOnce volume.
            self.assertEqual(dep["spec"]["replicas"], 1)
        pod = dep["spec"]["template"]["spec"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        (c,) = pod["containers"]
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
        sc = c["securityContext"]
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertNotIn("add", sc["capabilities"])
        self.assertTrue(c["resources"]["requests"] and c["resources"]["limits"])
        for e in c["env"]:
            self.assertNotIn("value", e, "secrets by reference only: %s" % e["name"])
            self.assertIn("secretKeyRef", e["valueFrom"])
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        conf = yaml_docs(k["ConfigMap"]["data"]["fedbroker.yaml"], True)[0]
        self.assertEqual(conf["server"]["listen"], ["0.0.0.0:%d" % ports["http"]])
        self.assertEqual(conf["metrics"]["listen"], "0.0.0.0:%d" % ports["metrics"])
        self.assertEqual(conf["store"]["driver"], "postgres" if postgres else "sqlite")
        env_names = {e["name"] for e in c["env"]}
        for ref in re.findall(r"env:(\w+)", k["ConfigMap"]["data"]["fedbroker.yaml"]):
            self.assertIn(ref, env_names, "every env: reference of the config is set")
        svc_ports = {p["name"] for p in k["Service"]["spec"]["ports"]}
        self.assertEqual([e["port"] for e in k["ServiceMonitor"]["spec"]["endpoints"]],
                         ["metrics"])
        self.assertIn("metrics", svc_ports)
        sel = dep["spec"]["selector"]["matchLabels"]
        for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"):
            spec = k[kind]["spec"]
            s = spec.get("selector") or spec.get("podSelector")
            s = s.get("matchLabels", s)
            self.assertEqual(s, sel, "%s selects the pods" % kind)
        self.assertEqual(dep["spec"]["template"]["metadata"]["labels"] | sel,
                         dep["spec"]["template"]["metadata"]["labels"])
        check_config_text(self, k["ConfigMap"]["data"]["fedbroker.yaml"], what)
        return k

    def check_replicas(self, k):
        """Replicas on PostgreSQL: 2 or more, rolled one at a time, one always up; the
        DSN, the signing key and the cookie keys from Secrets; no volume of state."""
        dep = k["Deployment"]
        self.assertGreaterEqual(dep["spec"]["replicas"], 2)
        self.assertEqual(dep["spec"]["strategy"]["type"], "RollingUpdate")
        self.assertEqual(dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)
        self.assertEqual(k["PodDisruptionBudget"]["spec"], k["PodDisruptionBudget"]["spec"] |
                         {"minAvailable": 1})
        self.assertNotIn("maxUnavailable", k["PodDisruptionBudget"]["spec"])
        pod = dep["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
        conf = yaml_docs(k["ConfigMap"]["data"]["fedbroker.yaml"], True)[0]
        self.assertEqual(conf["store"]["dsn"], "env:FB_STORE_DSN")
        self.assertIn("FB_STORE_DSN", env)
        for ref in conf["session"]["cookie_keys"]:
            self.assertIn(ref[len("env:"):], env, "cookie keys from a Secret")
        vols = {v["name"]: v for v in pod["volumes"]}
        self.assertNotIn("persistentVolumeClaim", vols["state"])
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        for key in conf["keys"]:
            for f in (key["key"], key["cert"]):
                vol = vols[mounts[os.path.dirname(f)]]
                self.assertIn(os.path.basename(f), ("tls.key", "tls.crt"))
                self.assertIn("secretName", vol["secret"], "the signing key from a Secret")
        self.assertIn(5432, [p["port"] for r in k["NetworkPolicy"]["spec"]["egress"]
                             for p in r["ports"]], "PostgreSQL is reachable")

    def postgres_manifests(self):
        """contrib/kubernetes/postgres/ and the objects it shares with the SQLite set."""
        files = sorted(glob.glob(os.path.join(KUBE, "postgres", "*.yaml")))
        names = {os.path.basename(f) for f in files}
        self.assertEqual(names, {"configmap.yaml", "deployment.yaml", "pdb.yaml"})
        return files + [os.path.join(KUBE, f) for f in ("service.yaml", "networkpolicy.yaml",
                                                        "servicemonitor.yaml")]

    def test_postgres_manifests_valid_against_api_schemas(self):
        files = self.postgres_manifests()
        cp = self.validate(*files)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("validated 6 objects, 0 invalid", cp.stdout)
        self.check_objects([d for f in files for d in yaml_docs(f)], "contrib/kubernetes/postgres",
                           postgres=True)

    def test_helm_chart_postgres_renders_the_postgres_manifests(self):
        d = os.path.join(self.tmpdir(), "chart")
        shutil.copytree(CHART, d)
        values = os.path.join(d, "values.yaml")
        text = read(values)
        self.assertIn("\npostgres:\n  # -- ", text)
        self.write(values, re.sub(r"(\npostgres:\n(?:  #.*\n)*  enabled: )false\n", r"\1true\n",
                                  text))
        cp = sh(["node", RENDER, d])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        out = os.path.join(self.tmpdir(), "rendered.yaml")
        self.write(out, cp.stdout)
        cp = self.validate(out)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        k = self.check_objects(yaml_docs(out), "helm chart (postgres)", postgres=True)
        plain = self.by_kind(d for f in self.postgres_manifests() for d in yaml_docs(f))
        self.assert_same_specs(k, plain, ("Deployment", "Service", "PodDisruptionBudget",
                                          "NetworkPolicy", "ServiceMonitor"))
        self.assertEqual(yaml_docs(k["ConfigMap"]["data"]["fedbroker.yaml"], True),
                         yaml_docs(plain["ConfigMap"]["data"]["fedbroker.yaml"], True))

    def assert_same_specs(self, k, plain, kinds):
        """The chart renders what the plain manifests say (instance labels aside)."""
        def norm(v):
            if isinstance(v, dict):
                return {k2: norm(v2) for k2, v2 in v.items() if k2 not in (
                    "annotations", "app.kubernetes.io/component", "app.kubernetes.io/instance",
                    "app.kubernetes.io/version")}
            if isinstance(v, list):
                return [norm(x) for x in v]
            return v

        for kind in kinds:
            self.assertEqual(norm(k[kind]["spec"]), norm(plain[kind]["spec"]), kind)

    def test_manifests_valid_against_api_schemas(self):
        files = sorted(glob.glob(os.path.join(KUBE, "*.yaml")))
        cp = self.validate(*files)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("validated 7 objects, 0 invalid", cp.stdout)
        docs = [d for f in files for d in yaml_docs(f)]
        self.check_objects(docs, "contrib/kubernetes")

    def test_validator_refuses_broken_objects(self):
        bad = os.path.join(self.tmpdir(), "bad.yaml")
        text = read(os.path.join(KUBE, "deployment.yaml")).replace("replicas: 1",
                                                                  "replicas: one")
        text += "---\n" + read(os.path.join(KUBE, "servicemonitor.yaml")).replace(
            "  selector:\n", "  selectr:\n")
        text += "---\napiVersion: v1\nkind: Servce\nmetadata: {name: x}\n"
        # A misspelled optional field (the API server's strict validation refuses it).
        text += "---\n" + read(os.path.join(KUBE, "deployment.yaml")).replace(
            "name: fedbroker\n", "name: typo\n", 1).replace("readinessProbe:", "readinesProbe:")
        self.write(bad, text)
        cp = self.validate(bad)
        self.assertEqual(cp.returncode, 1, cp.stdout)
        self.assertIn("invalid Deployment fedbroker (bad.yaml): data/spec/replicas must be "
                      "integer", cp.stdout)
        self.assertIn("invalid ServiceMonitor fedbroker (bad.yaml): data/spec must have "
                      "required property selector", cp.stdout)
        self.assertIn("no schema for v1 Servce", cp.stdout)
        self.assertIn("invalid Deployment typo (bad.yaml): data/spec/template/spec/containers/0/"
                      "readinesProbe: unknown field", cp.stdout)
        self.assertIn("validated 4 objects, 4 invalid", cp.stdout)

    def render(self):
        cp = sh(["node", RENDER, CHART])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return cp.stdout

    def test_helm_chart_renders_valid_objects(self):
        out = os.path.join(self.tmpdir(), "rendered.yaml")
        self.write(out, self.render())
        cp = self.validate(out)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        k = self.check_objects(yaml_docs(out), "helm chart")
        plain = self.by_kind(d for f in glob.glob(os.path.join(KUBE, "*.yaml"))
                             for d in yaml_docs(f))
        self.assert_same_specs(k, plain, ("Deployment", "Service", "PodDisruptionBudget",
                                          "NetworkPolicy", "ServiceMonitor",
                                          "PersistentVolumeClaim"))
        self.assertEqual(yaml_docs(k["ConfigMap"]["data"]["fedbroker.yaml"], True),
                         yaml_docs(plain["ConfigMap"]["data"]["fedbroker.yaml"], True))
        self.assertEqual(k["ConfigMap"]["data"].keys(), plain["ConfigMap"]["data"].keys())

    def test_helm_chart_structure_and_documented_values(self):
        chart = yaml_docs(os.path.join(CHART, "Chart.yaml"))[0]
        self.assertEqual(chart["apiVersion"], "v2")
        self.assertEqual(chart["name"], "fedbroker")
        self.assertEqual(chart["type"], "application")
        self.assertRegex(chart["version"], r"^\d+\.\d+\.\d+$")
        m = re.search(r"AC_INIT\(\[fedbroker\], \[([^\]]+)\]", read(os.path.join(SRC,
                                                                              "configure.ac")))
        self.assertEqual(chart["appVersion"], m.group(1))
        values_text = read(os.path.join(CHART, "values.yaml"))
        values = yaml_docs(values_text, True)[0]
        # Which keys carry a "# --" comment: walk the lines, tracking the key path.
        documented = set()
        stack = []
        pending = False
        for line in values_text.splitlines():
            s = line.strip()
            if s.startswith("# --"):
                pending = True
                continue
            if s.startswith("#") or not s:
                continue
            m = re.match(r"^( *)([A-Za-z]\w*):", line)
            if not m:
                continue
            ind = len(m.group(1))
            while stack and stack[-1][0] >= ind:
                stack.pop()
            stack.append((ind, m.group(2)))
            if pending:
                documented.add(".".join(k for _, k in stack))
            pending = False
        templates = "".join(read(p) for p in glob.glob(os.path.join(CHART, "templates", "*")))
        used = set(re.findall(r"\.Values\.([\w.]+)", templates))

        def leaves(v, path=""):
            if isinstance(v, dict) and v:
                for k2, v2 in v.items():
                    yield from leaves(v2, path + "." + k2 if path else k2)
            else:
                yield path

        for leaf in leaves(values):
            parts = leaf.split(".")
            prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
            self.assertTrue(prefixes & documented, "values.yaml: %s has no '# --' comment" % leaf)
            self.assertTrue(prefixes & used, "values.yaml: %s is used by no template" % leaf)
        for u in used:
            v = values
            for part in u.split("."):
                self.assertIn(part, v, "templates use .Values.%s, which values.yaml lacks" % u)
                v = v[part]
        for t in glob.glob(os.path.join(CHART, "templates", "*.yaml")):
            self.assertTrue(read(t).startswith("# SPDX-License-Identifier"), t)

    def test_helm_renderer_refuses_what_it_cannot_render(self):
        d = os.path.join(self.tmpdir(), "chart")
        shutil.copytree(CHART, d)
        t = os.path.join(d, "templates", "service.yaml")
        self.write(t, read(t).replace("{{ .Values.service.type }}", "{{ .Values.service.typo }}"))
        cp = sh(["node", RENDER, d])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("templates/service.yaml:10: no value .Values.service.typo", cp.stderr)
        self.write(t, read(t).replace("{{ .Values.service.typo }}",
                                      "{{ include \"x\" . }}"))
        cp = sh(["node", RENDER, d])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("unsupported", cp.stderr)


# ---- Containerfile --------------------------------------------------------------------

def containerfile_stages():
    """[(from_line, [instructions])] with continuation lines joined."""
    text = read(os.path.join(CONTRIB, "Containerfile"))
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        word = s.split()[0].upper()
        if word == "FROM":
            stages.append((s, []))
        else:
            stages[-1][1].append(s)
    return stages


def apt_packages(instructions):
    pkgs = []
    for ins in instructions:
        if not ins.upper().startswith("RUN "):
            continue
        for cmd in re.split(r"&&|;", ins[4:]):
            words = shlex.split(cmd)
            while words and "=" in words[0]:
                words.pop(0)
            if words[:2] == ["apt-get", "install"]:
                pkgs += [w for w in words[2:] if not w.startswith("-")]
    return pkgs


def dpkg_field(pkg, field):
    cp = subprocess.run(["dpkg-query", "-W", "-f=${%s}" % field, pkg], capture_output=True,
                        text=True)
    return cp.stdout if cp.returncode == 0 else None


def installed(pkg):
    return "install ok installed" in (dpkg_field(pkg, "Status") or "")


def depends_closure(pkgs):
    """The packages pkgs pull in (Depends, Pre-Depends), as installed on this machine."""
    seen = set()
    todo = list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        deps = (dpkg_field(p, "Depends") or "") + "," + (dpkg_field(p, "Pre-Depends") or "")
        for alt in deps.split(","):
            names = [re.sub(r"[\s(:].*", "", a.strip()) for a in alt.split("|") if a.strip()]
            chosen = [n for n in names if installed(n)] or names[:1]
            todo += [n for n in chosen[:1] if n]
    return seen


def package_of(lib):
    for path in (lib, os.path.realpath(lib)):
        for cand in (path, re.sub(r"^/usr", "", path), "/usr" + path):
            cp = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if cp.returncode == 0:
                return cp.stdout.split(":")[0].strip()
    return None


class Containerfile(harness.TestCase):
    def test_runtime_stage_provides_every_library_and_runs_as_non_root(self):
        stages = containerfile_stages()
        self.assertEqual(len(stages), 2, "a build stage and a runtime stage")
        self.assertRegex(stages[0][0], r"^FROM debian:bookworm-slim AS build$")
        self.assertEqual(stages[1][0], "FROM debian:bookworm-slim")
        build, runtime = stages[0][1], stages[1][1]
        # The build stage installs what contrib/dev.sh builds with.
        dev = read(os.path.join(CONTRIB, "dev.sh"))
        build_pkgs = re.search(r'BUILD_PKGS="([^"]*)"', dev).group(1).split()
        self.assertEqual(sorted(set(build_pkgs) - set(apt_packages(build))), [],
                         "BUILD_PKGS missing from the build stage")
        # Runtime: nothing to build with, a package for every library.
        rt = apt_packages(runtime)
        self.assertTrue(rt)
        self.assertFalse([p for p in rt if p.endswith("-dev") or p == "build-essential"], rt)
        base = {p for p in subprocess.run(
            ["dpkg-query", "-W", "-f=${Package} ${Priority} ${Essential}\n"],
            capture_output=True, text=True).stdout.splitlines()
            if p.split()[1:2] == ["required"] or p.endswith(" yes")}
        base = depends_closure({p.split()[0] for p in base})
        self.assertIn("libc6", base)
        have = depends_closure(rt) | base
        cp = sh(["ldd", harness.BIN])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        libs = re.findall(r"=> (/\S+)", cp.stdout)
        self.assertGreater(len(libs), 10)
        # The sanitizer runtimes of an --enable-sanitizers build are no part of the image.
        libs = [lib for lib in libs
                if not re.match(r"lib(asan|ubsan|lsan|tsan)\.so", os.path.basename(lib))]
        missing = []
        for lib in libs:
            pkg = package_of(lib)
            self.assertIsNotNone(pkg, "dpkg -S found no package for %s" % lib)
            pkg = pkg.split(":")[0]
            if pkg not in have:
                missing.append("%s (%s)" % (lib, pkg))
        self.assertEqual(missing, [], "the runtime stage installs no package providing these")
        # Non-root, and the binary the build stage installed.
        users = [i.split(None, 1)[1] for i in runtime if i.upper().startswith("USER ")]
        self.assertEqual(len(users), 1)
        uid = users[0].split(":")[0]
        self.assertNotIn(uid, ("root", "0"))
        self.assertTrue(uid.isdigit() and int(uid) >= 1000, "a numeric uid (runAsNonRoot)")
        self.assertIn("COPY --from=build /out/ /", runtime)
        self.assertTrue(any("--prefix=/usr" in i for i in build))
        self.assertTrue(any(i.startswith('ENTRYPOINT ["/usr/bin/fedbroker"]') for i in runtime))
        pod = yaml_docs(os.path.join(KUBE, "deployment.yaml"))[0]["spec"]["template"]["spec"]
        self.assertEqual(str(pod["securityContext"]["runAsUser"]), uid,
                         "the Deployment runs as the image's user")


if __name__ == "__main__":
    harness.main()
