#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora of tests/fuzz/fuzz_saml_redirect.c and
fuzz_saml_post.c: AuthnRequests and LogoutRequests made by pysaml2 and
onelogin for the fuzz targets' IdP (https://idp.example.test, SP
https://sp.example.test/sp signing with tests/fixtures/keys/rsa2048.key.pem),
valid and broken. The first byte of each seed picks the target's mode
(0: the binding's raw value, 1: XML the target encodes, 2: the bare decoder).

    gen_saml_corpus.py OUTDIR     (writes OUTDIR/saml_redirect/ and OUTDIR/saml_post/)
"""

import base64
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import peer_common as pc  # noqa: E402
import onelogin_sp  # noqa: E402
import pysaml2_sp  # noqa: E402

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
KEYS = os.path.join(SRCDIR, "tests", "fixtures", "keys")
IDP = "https://idp.example.test"
SP_ID, SP_ACS, SP_SLO = ("https://sp.example.test/sp", "https://sp.example.test/acs",
                         "https://sp.example.test/slo")

IDP_METADATA = """<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" \
xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{idp}/saml/idp/metadata">\
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">\
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}\
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
<md:SingleLogoutService Binding="{r}" Location="{idp}/saml/idp/slo"/>\
<md:SingleLogoutService Binding="{p}" Location="{idp}/saml/idp/slo"/>\
<md:SingleSignOnService Binding="{r}" Location="{idp}/saml/idp/sso"/>\
<md:SingleSignOnService Binding="{p}" Location="{idp}/saml/idp/sso"/>\
</md:IDPSSODescriptor></md:EntityDescriptor>"""


def main(out):
    key = os.path.join(KEYS, "rsa2048.key.pem")
    cert = os.path.join(KEYS, "rsa2048.crt.pem")
    md = IDP_METADATA.format(idp=IDP, cert=pc.pem_body(pc.read(cert)), r=pc.BINDING_REDIRECT,
                             p=pc.BINDING_POST)
    ps = pysaml2_sp.SP(SP_ID, [(SP_ACS, pc.BINDING_POST)], md, slo=[(SP_SLO,
                                                                      pc.BINDING_REDIRECT)],
                       key=key, cert=cert, authn_requests_signed=True)
    ol = onelogin_sp.SP(SP_ID, SP_ACS, md, slo=SP_SLO, key=key, cert=cert)
    red, post = {}, {}

    def q(url):
        return url.split("?", 1)[1].encode()

    # ---- Redirect
    r = ps.authn_request(binding=pc.BINDING_REDIRECT, sign=True, force_authn=True)
    red["pysaml2-authn-signed"] = b"\x00" + q(r["url"])
    xml = pc.decode_redirect(pc.query_of(r["url"])["SAMLRequest"])
    red["pysaml2-authn-xml"] = b"\x01" + xml
    red["authn-param"] = b"\x02" + pc.query_of(r["url"])["SAMLRequest"].encode()
    red["pysaml2-authn-unsigned"] = b"\x00" + q(ps.authn_request(
        binding=pc.BINDING_REDIRECT, is_passive=True)["url"])
    red["pysaml2-authn-index"] = b"\x00" + q(ps.authn_request(
        binding=pc.BINDING_REDIRECT, sign=True, acs_index=7)["url"])
    red["pysaml2-authn-sha1"] = b"\x00" + q(ps.authn_request(
        binding=pc.BINDING_REDIRECT, sign=True, sig_alg=pc.SIG_RSA_SHA1,
        digest_alg=pc.DIGEST_SHA1)["url"])
    red["onelogin-authn-signed"] = b"\x00" + q(ol.authn_request(
        binding=pc.BINDING_REDIRECT, sign=True)["url"])
    lr = ps.logout_request("alice", pc.NAMEID_PERSISTENT, "s1", binding=pc.BINDING_REDIRECT)
    red["pysaml2-logout-signed"] = b"\x00" + q(lr["url"])
    red["onelogin-logout-signed"] = b"\x00" + q(ol.logout_request(
        "alice", pc.NAMEID_PERSISTENT, "s1")["url"])
    red["logout-xml"] = b"\x01" + pc.decode_redirect(pc.query_of(lr["url"])["SAMLRequest"])
    red["doctype-xml"] = b"\x01" + b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + \
        xml.replace(SP_ID.encode(), SP_ID.encode() + b"&e;")
    red["duplicate-param"] = b"\x00" + q(r["url"]) + b"&SAMLRequest=AAAA"
    red["bad-base64"] = b"\x00SAMLRequest=%%%21%21not-base64&RelayState="
    red["bad-deflate"] = b"\x02" + base64.b64encode(b"\xff\xfenot deflate data")

    # ---- POST
    r = ps.authn_request(binding=pc.BINDING_POST, sign=True)
    post["pysaml2-authn-signed"] = b"\x00" + r["fields"]["SAMLRequest"].encode() + b"\nrs"
    post["pysaml2-authn-signed-xml"] = b"\x01" + r["xml"]
    post["pysaml2-authn-unsigned"] = b"\x00" + ps.authn_request(
        binding=pc.BINDING_POST, sign=False)["fields"]["SAMLRequest"].encode()
    o = ol.authn_request(binding=pc.BINDING_POST, sign=True, force_authn=True)
    post["onelogin-authn-signed-xml"] = b"\x01" + o["xml"]
    lp = ps.logout_request("alice", pc.NAMEID_PERSISTENT, "s1", binding=pc.BINDING_POST)
    post["pysaml2-logout-signed"] = b"\x00" + lp["fields"]["SAMLRequest"].encode()
    post["onelogin-logout-signed-xml"] = b"\x01" + ol.logout_request_post(
        "alice", pc.NAMEID_PERSISTENT, "s1")["xml"]
    post["wrapped-signature-xml"] = b"\x01" + r["xml"].replace(
        b"<ns1:Issuer", b"<ns0:Extensions><ns0:AuthnRequest ID=\"evil\"/></ns0:Extensions>"
        b"<ns1:Issuer", 1)
    post["doctype-xml"] = b"\x01<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY a \"aaaa\">" \
        b"<!ENTITY b \"&a;&a;&a;&a;\">]><a>&b;</a>"
    post["not-xml"] = b"\x02" + base64.b64encode(b"<a><b></a>")
    post["bad-base64"] = b"\x00!!!not base64 at all!!!"

    import time
    print("FUZZ_SAML_CLOCK for tests/fuzz/fuzz_saml.h: %d" % (int(time.time()) + 30))
    for name, seeds in (("saml_redirect", red), ("saml_post", post)):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for k, v in seeds.items():
            with open(os.path.join(d, k), "wb") as f:
                f.write(v)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
