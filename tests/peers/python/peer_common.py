# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the Python SAML peers: keys, a neutral reader of SAML
messages (for reporting what a library accepted), binding encoders and the
JSON verdict format that every peer (pysaml2, onelogin, node-saml, the AWS
stand-in) prints.

Run with /usr/bin/python3 (Debian's python3-pysaml2, python3-onelogin-saml2,
python3-lxml and the xmlsec1 CLI).

Verdict (a dict, printed as one JSON object by the command-line front ends):
    ok            True when the library accepted the message
    library       "pysaml2" | "onelogin" | "node-saml" | "aws-standin"
    error         the library's reason when ok is False
    issuer, destination, in_response_to, status
    name_id, name_id_format, session_index, audiences, recipient,
    not_on_or_after (SubjectConfirmationData), attributes {Name: [values]},
    signed_response, signed_assertion (bool: a ds:Signature child exists),
    signature_algorithms (list of SignatureMethod URIs)
"""

import base64
import os
import subprocess
import urllib.parse
import zlib
from xml.etree import ElementTree as ET

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
}

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
SIG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SIG_RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
DIGEST_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
XMLSEC1 = "/usr/bin/xmlsec1"


def make_keypair(dirpath, name="sp", bits=2048, cn=None):
    """An RSA key and a self-signed certificate made by the openssl CLI: (key, cert) paths."""
    key = os.path.join(dirpath, name + ".key.pem")
    cert = os.path.join(dirpath, name + ".crt.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:%d" % bits, "-nodes", "-sha256",
                    "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=" + (cn or name)],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return key, cert


def pem_body(pem_text):
    """The base64 body of the first certificate in PEM text, on one line."""
    lines = pem_text.strip().splitlines()
    out, inside = [], False
    for line in lines:
        if line.startswith("-----BEGIN CERTIFICATE"):
            inside = True
            continue
        if line.startswith("-----END CERTIFICATE"):
            break
        if inside:
            out.append(line.strip())
    return "".join(out)


def der_to_pem(b64body):
    b = "".join(b64body.split())
    return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(
        b[i:i + 64] for i in range(0, len(b), 64))


def read(path):
    with open(path) as f:
        return f.read()


# ---- metadata ------------------------------------------------------------------------

def metadata_info(xml_text, role="idp"):
    """Entity id, signing certificates (base64 bodies) and endpoints of IdP or SP metadata."""
    root = ET.fromstring(xml_text.encode() if isinstance(xml_text, str) else xml_text)
    if root.tag == "{%s}EntitiesDescriptor" % NS["md"]:
        root = root.find("md:EntityDescriptor", NS)
    desc = root.find("md:IDPSSODescriptor" if role == "idp" else "md:SPSSODescriptor", NS)
    if desc is None:
        raise ValueError("no %s descriptor in metadata" % role.upper())
    certs = []
    for kd in desc.findall("md:KeyDescriptor", NS):
        if kd.get("use") not in (None, "signing"):
            continue
        for c in kd.findall(".//ds:X509Certificate", NS):
            certs.append("".join(c.text.split()))

    def eps(tag):
        return [(e.get("Binding"), e.get("Location"), e.get("index"))
                for e in desc.findall("md:" + tag, NS)]
    return {
        "entity_id": root.get("entityID"),
        "certs": certs,
        "sso": eps("SingleSignOnService"),
        "slo": eps("SingleLogoutService"),
        "acs": eps("AssertionConsumerService"),
        "name_id_formats": [e.text.strip() for e in desc.findall("md:NameIDFormat", NS)],
        "want_authn_requests_signed": desc.get("WantAuthnRequestsSigned"),
    }


def endpoint(eps, binding):
    for b, loc, _ in eps:
        if b == binding:
            return loc
    return None


# ---- reading messages -------------------------------------------------------------------

def decode_post(b64):
    """The XML bytes of an HTTP-POST binding value."""
    if isinstance(b64, bytes):
        b64 = b64.decode("ascii")
    return base64.b64decode("".join(b64.split()), validate=True)


def decode_redirect(value):
    """The XML bytes of an HTTP-Redirect binding value (base64 of raw DEFLATE)."""
    return zlib.decompress(base64.b64decode(value), -15)


def encode_redirect(xml_bytes):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(c.compress(xml_bytes) + c.flush()).decode("ascii")


def describe(xml_bytes):
    """What a SAML protocol message says, read without any library (for reports)."""
    root = ET.fromstring(xml_bytes)
    d = {"root": root.tag.split("}")[-1], "id": root.get("ID"),
         "destination": root.get("Destination"), "in_response_to": root.get("InResponseTo"),
         "issue_instant": root.get("IssueInstant")}
    iss = root.find("saml:Issuer", NS)
    d["issuer"] = iss.text.strip() if iss is not None and iss.text else None
    st = root.find("samlp:Status/samlp:StatusCode", NS)
    if st is not None:
        d["status"] = st.get("Value")
        sub = st.find("samlp:StatusCode", NS)
        d["sub_status"] = sub.get("Value") if sub is not None else None
        msg = root.find("samlp:Status/samlp:StatusMessage", NS)
        d["status_message"] = msg.text if msg is not None else None
    d["signed_response"] = root.find("ds:Signature", NS) is not None
    algs = [sm.get("Algorithm") for sm in root.iter("{%s}SignatureMethod" % NS["ds"])]
    d["signature_algorithms"] = algs
    d["digest_algorithms"] = [dm.get("Algorithm")
                              for dm in root.iter("{%s}DigestMethod" % NS["ds"])]
    assertions = root.findall("saml:Assertion", NS)
    d["assertion_count"] = len(assertions)
    d["encrypted_assertion_count"] = len(root.findall("saml:EncryptedAssertion", NS))
    if assertions:
        a = assertions[0]
        d["assertion_id"] = a.get("ID")
        ai = a.find("saml:Issuer", NS)
        d["assertion_issuer"] = ai.text.strip() if ai is not None and ai.text else None
        d["signed_assertion"] = a.find("ds:Signature", NS) is not None
        nid = a.find("saml:Subject/saml:NameID", NS)
        if nid is not None:
            d["name_id"] = (nid.text or "").strip()
            d["name_id_format"] = nid.get("Format")
            d["name_id_sp_name_qualifier"] = nid.get("SPNameQualifier")
        scs = a.findall("saml:Subject/saml:SubjectConfirmation", NS)
        d["subject_confirmations"] = [
            {"method": sc.get("Method"),
             "recipient": (sc.find("saml:SubjectConfirmationData", NS).get("Recipient")
                           if sc.find("saml:SubjectConfirmationData", NS) is not None else None),
             "not_on_or_after": (sc.find("saml:SubjectConfirmationData", NS).get("NotOnOrAfter")
                                 if sc.find("saml:SubjectConfirmationData", NS) is not None
                                 else None),
             "not_before": (sc.find("saml:SubjectConfirmationData", NS).get("NotBefore")
                            if sc.find("saml:SubjectConfirmationData", NS) is not None else None),
             "in_response_to": (sc.find("saml:SubjectConfirmationData", NS).get("InResponseTo")
                                if sc.find("saml:SubjectConfirmationData", NS) is not None
                                else None)}
            for sc in scs]
        if scs:
            d["recipient"] = d["subject_confirmations"][0]["recipient"]
            d["not_on_or_after"] = d["subject_confirmations"][0]["not_on_or_after"]
        cond = a.find("saml:Conditions", NS)
        if cond is not None:
            d["conditions_not_before"] = cond.get("NotBefore")
            d["conditions_not_on_or_after"] = cond.get("NotOnOrAfter")
            d["audiences"] = [x.text.strip() for x in cond.findall(
                "saml:AudienceRestriction/saml:Audience", NS) if x.text]
        an = a.find("saml:AuthnStatement", NS)
        if an is not None:
            d["session_index"] = an.get("SessionIndex")
            d["session_not_on_or_after"] = an.get("SessionNotOnOrAfter")
            d["authn_instant"] = an.get("AuthnInstant")
        attrs = {}
        for at in a.findall("saml:AttributeStatement/saml:Attribute", NS):
            attrs.setdefault(at.get("Name"), []).extend(
                (v.text or "") for v in at.findall("saml:AttributeValue", NS))
        d["attributes"] = attrs
        d["attribute_name_formats"] = {
            at.get("Name"): at.get("NameFormat")
            for at in a.findall("saml:AttributeStatement/saml:Attribute", NS)}
    # LogoutRequest / AuthnRequest fields
    nid = root.find("saml:NameID", NS)
    if nid is not None and "name_id" not in d:
        d["name_id"] = (nid.text or "").strip()
        d["name_id_format"] = nid.get("Format")
    si = root.find("samlp:SessionIndex", NS)
    if si is not None:
        d["session_index"] = si.text
    return d


def has_signature(xml_bytes):
    """True when the root element of a message has a ds:Signature child."""
    return ET.fromstring(xml_bytes).find("ds:Signature", NS) is not None


def verdict(library, ok, xml_bytes=None, error=None, **extra):
    """The verdict dict (see the module comment)."""
    v = {"ok": bool(ok), "library": library}
    if error is not None:
        v["error"] = str(error)
    if xml_bytes is not None:
        try:
            v.update({k: x for k, x in describe(xml_bytes).items() if k not in v})
        except ET.ParseError as e:
            v.setdefault("parse_error", str(e))
    v.update(extra)
    return v


# ---- HTTP binding helpers -----------------------------------------------------------------

def redirect_url(base, param, xml_bytes, relay_state=None, sign_key_pem=None,
                 sig_alg=SIG_RSA_SHA256):
    """An HTTP-Redirect URL for xml_bytes, signed per SAML Bindings 3.4.4.1 when a key is given."""
    parts = [(param, encode_redirect(xml_bytes))]
    if relay_state is not None:
        parts.append(("RelayState", relay_state))
    if sign_key_pem is not None:
        parts.append(("SigAlg", sig_alg))
        signed = "&".join("%s=%s" % (k, urllib.parse.quote(v, safe="")) for k, v in parts)
        parts.append(("Signature", rsa_sign(sign_key_pem, signed.encode(), sig_alg)))
    q = "&".join("%s=%s" % (k, urllib.parse.quote(v, safe="")) for k, v in parts)
    return base + ("&" if "?" in base else "?") + q


def rsa_sign(key_path, data, sig_alg=SIG_RSA_SHA256):
    """base64 of an RSA PKCS#1 v1.5 signature by the openssl CLI."""
    dg = "-sha1" if sig_alg == SIG_RSA_SHA1 else "-sha256"
    p = subprocess.run(["openssl", "dgst", dg, "-sign", key_path], input=data,
                       capture_output=True, check=True)
    return base64.b64encode(p.stdout).decode("ascii")


def xmlsec_sign(xml_bytes, key_path, cert_path, id_attr_node="AuthnRequest"):
    """Signs a message carrying an empty ds:Signature template with the xmlsec1 CLI."""
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(xml_bytes)
        f.flush()
        p = subprocess.run([XMLSEC1, "--sign", "--privkey-pem", "%s,%s" % (key_path, cert_path),
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:" +
                            id_attr_node, f.name], capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("xmlsec1 --sign: " + p.stderr.decode(errors="replace"))
        return p.stdout


def xmlsec_verify(xml_bytes, cert_pem_path, node, key_data="rsa,x509"):
    """(ok, output) of `xmlsec1 --verify` on the ds:Signature child of node
    ('Response', 'Assertion', 'LogoutResponse', ...), keys from cert_pem_path only
    (key_data "ecdsa,x509" for an EC certificate)."""
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(xml_bytes)
        f.flush()
        p = subprocess.run([XMLSEC1, "--verify", "--enabled-key-data", key_data,
                            "--pubkey-cert-pem", cert_pem_path,
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse",
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest",
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",
                            "--node-xpath",
                            "/*/*[local-name()='Signature']" if node != "Assertion" else
                            "//*[local-name()='Assertion']/*[local-name()='Signature']",
                            f.name], capture_output=True)
        return p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")


# ---- node-saml (tests/peers/saml/sp.mjs) ----------------------------------------------------

NODE_SP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saml",
                       "sp.mjs")


def node_saml_missing():
    """None when node and the pinned @node-saml/node-saml are installed, else the fix."""
    import shutil
    if shutil.which("node") is None:
        return "apt-get install -y nodejs npm"
    if not os.path.isdir(os.path.join(os.path.dirname(NODE_SP), "node_modules", "@node-saml",
                                      "node-saml")):
        return "(cd tests/peers/saml && npm ci)"
    return None


def node_saml_validate(b64, entity_id, acs, idp_metadata, in_response_to=None,
                       allow_assertion_only=False, idp_entity_id=None):
    """The verdict of node-saml (sp.mjs) on a SAMLResponse; idp_metadata is XML text."""
    import json
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(idp_metadata)
        f.flush()
        cmd = ["node", NODE_SP, "--entity-id", entity_id, "--acs", acs, "--idp-metadata", f.name]
        if in_response_to:
            cmd += ["--in-response-to", in_response_to]
        if allow_assertion_only:
            cmd.append("--allow-assertion-only")
        if idp_entity_id:
            cmd += ["--idp-entity-id", idp_entity_id]
        p = subprocess.run(cmd, input=b64 if isinstance(b64, str) else b64.decode(),
                           capture_output=True, text=True, timeout=60)
    try:
        v = json.loads(p.stdout)
    except ValueError:
        return verdict("node-saml", False, error="sp.mjs failed (%d): %s%s" % (
            p.returncode, p.stdout, p.stderr))
    if v.get("ok") != (p.returncode == 0):
        v["ok"] = False
        v["error"] = "sp.mjs exit status %d disagrees with its verdict" % p.returncode
    try:
        v.update({k: x for k, x in describe(decode_post(b64)).items() if k not in v})
    except Exception:  # noqa: BLE001 -- the description is only a report
        pass
    return v


def query_of(url):
    """The decoded query parameters of url as a dict."""
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query,
                                       keep_blank_values=True))


def verify_redirect_signature(raw_query, cert_path, param="SAMLResponse"):
    """(ok, reason): the HTTP-Redirect query signature (SAML2 Bindings 3.4.4.1) over
    param, RelayState and SigAlg exactly as they appear, still URL-encoded, in
    raw_query, checked with the public key of cert_path by the openssl CLI."""
    import tempfile
    parts = {}
    for kv in raw_query.split("&"):
        k, _, v = kv.partition("=")
        if k in parts:
            return False, "%s appears twice" % k
        parts[k] = v
    if "Signature" not in parts or "SigAlg" not in parts:
        return False, "no Signature/SigAlg"
    signed = "&".join("%s=%s" % (k, parts[k]) for k in (param, "RelayState", "SigAlg")
                      if k in parts)
    alg = urllib.parse.unquote_plus(parts["SigAlg"])
    dg = {SIG_RSA_SHA256: "-sha256", SIG_RSA_SHA1: "-sha1"}.get(alg)
    if dg is None:
        return False, "SigAlg %s not handled" % alg
    sig = base64.b64decode(urllib.parse.unquote_plus(parts["Signature"]))
    with tempfile.TemporaryDirectory() as d:
        pub = os.path.join(d, "pub.pem")
        sf = os.path.join(d, "sig")
        p = subprocess.run(["openssl", "x509", "-in", cert_path, "-pubkey", "-noout", "-out",
                            pub], capture_output=True)
        if p.returncode != 0:
            return False, p.stderr.decode(errors="replace")
        with open(sf, "wb") as f:
            f.write(sig)
        p = subprocess.run(["openssl", "dgst", dg, "-verify", pub, "-signature", sf],
                           input=signed.encode(), capture_output=True)
        return p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace").strip()
