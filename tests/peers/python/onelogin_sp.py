#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A SAML service provider built on Debian's python3-onelogin-saml2 in strict
mode (shares no code with fedbroker or pysaml2): validates Responses and
Redirect-binding LogoutResponses, produces AuthnRequests (Redirect; POST is
built from its request class and signed with xmlsec1) and LogoutRequests.

Importable (class SP) and a command line:
    onelogin_sp.py validate --idp-metadata FILE --entity-id ID --acs URL
                   [--in-response-to ID] [--allow-assertion-only] < SAMLResponse(base64)
prints one JSON verdict (see peer_common) and exits 0 when accepted, 1 if not.
"""

import argparse
import base64
import json
import os
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import peer_common as pc  # noqa: E402

from onelogin.saml2.auth import OneLogin_Saml2_Auth  # noqa: E402
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request  # noqa: E402
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request  # noqa: E402
from onelogin.saml2.response import OneLogin_Saml2_Response  # noqa: E402
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # noqa: E402
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # noqa: E402
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML  # noqa: E402

LIBRARY = "onelogin"


def request_data(url, get_data=None, post_data=None):
    """onelogin's view of the HTTP request that reached url (used for Destination/Recipient)."""
    u = urllib.parse.urlsplit(url)
    https = u.scheme == "https"
    port = u.port or (443 if https else 80)
    return {"https": "on" if https else "off", "http_host": u.hostname,
            "server_port": str(port), "script_name": u.path or "/",
            "get_data": get_data or {}, "post_data": post_data or {}}


class SP:
    """One onelogin SP trusting one IdP (metadata as XML text). acs is one URL (HTTP-POST)."""

    def __init__(self, entity_id, acs, idp_metadata, slo=None, key=None, cert=None,
                 want_response_signed=True, want_assertions_signed=True,
                 name_id_format=pc.NAMEID_UNSPECIFIED, authn_requests_signed=False,
                 sig_alg=pc.SIG_RSA_SHA256):
        info = pc.metadata_info(idp_metadata)
        self.entity_id, self.acs, self.slo = entity_id, acs, slo
        self.key, self.cert = key, cert
        self.idp_metadata = idp_metadata
        self.idp_info = info
        idp = {"entityId": info["entity_id"],
               "singleSignOnService": {"url": pc.endpoint(info["sso"], pc.BINDING_REDIRECT) or
                                       pc.endpoint(info["sso"], pc.BINDING_POST),
                                       "binding": pc.BINDING_REDIRECT},
               "x509certMulti": {"signing": info["certs"]}}
        slo_url = pc.endpoint(info["slo"], pc.BINDING_REDIRECT)
        if slo_url:
            idp["singleLogoutService"] = {"url": slo_url, "binding": pc.BINDING_REDIRECT}
        sp = {"entityId": entity_id,
              "assertionConsumerService": {"url": acs, "binding": pc.BINDING_POST},
              "NameIDFormat": name_id_format}
        if slo:
            sp["singleLogoutService"] = {"url": slo, "binding": pc.BINDING_REDIRECT}
        if key:
            sp["x509cert"] = pc.pem_body(pc.read(cert))
            sp["privateKey"] = pc.read(key)
        self.settings_dict = {
            "strict": True, "debug": False, "sp": sp, "idp": idp,
            "security": {
                "authnRequestsSigned": authn_requests_signed,
                "logoutRequestSigned": authn_requests_signed,
                "logoutResponseSigned": authn_requests_signed,
                "wantAssertionsSigned": want_assertions_signed,
                "wantMessagesSigned": want_response_signed,
                "wantNameId": True,
                "rejectDeprecatedAlgorithm": True,
                "requestedAuthnContext": False,
                # SAML needs no AttributeStatement (Identity Center reads only the NameID).
                "wantAttributeStatement": False,
                "signatureAlgorithm": sig_alg,
                "digestAlgorithm": pc.DIGEST_SHA1 if sig_alg == pc.SIG_RSA_SHA1 else
                pc.DIGEST_SHA256,
            },
        }
        self.settings = OneLogin_Saml2_Settings(self.settings_dict, sp_validation_only=True)

    # ---- responses
    def validate_response(self, b64, in_response_to=None, received_at=None):
        """A verdict on a POSTed SAMLResponse; received_at is the URL it was posted to (the ACS)."""
        try:
            xml = pc.decode_post(b64)
        except Exception as e:  # noqa: BLE001
            return pc.verdict(LIBRARY, False, error="base64: %s" % e)
        req = request_data(received_at or self.acs, post_data={"SAMLResponse": b64})
        try:
            r = OneLogin_Saml2_Response(self.settings, b64)
            ok = r.is_valid(req, request_id=in_response_to, raise_exceptions=True)
            if not ok:
                return pc.verdict(LIBRARY, False, xml, error=r.get_error())
            # The getters check more (e.g. SPNameQualifier = this SP's entity id).
            lib = {"lib_name_id": r.get_nameid(), "lib_name_id_format": r.get_nameid_format(),
                   "lib_issuer": r.get_issuers()[0], "lib_session_index": r.get_session_index()}
            # onelogin 1.12's getter raises when there is no AttributeStatement at all,
            # which SAML allows (an SP that needs no attribute, e.g. Identity Center).
            lib["lib_attributes"] = r.get_attributes() if OneLogin_Saml2_XML.query(
                r.document, "//saml:AttributeStatement") else {}
        except Exception as e:  # noqa: BLE001
            return pc.verdict(LIBRARY, False, xml, error="%s: %s" % (type(e).__name__, e))
        return pc.verdict(LIBRARY, True, xml, **lib)

    # ---- requests
    def authn_request(self, binding=pc.BINDING_REDIRECT, sign=False, sig_alg=pc.SIG_RSA_SHA256,
                      force_authn=False, is_passive=False, relay_state="rs-onelogin"):
        """An AuthnRequest: dict id, binding, url, fields (POST), xml."""
        dest = pc.endpoint(self.idp_info["sso"], binding)
        if binding == pc.BINDING_REDIRECT:
            settings = self._settings(sign, sig_alg)
            settings["idp"]["singleSignOnService"]["url"] = dest
            auth = OneLogin_Saml2_Auth(request_data(self.acs),
                                       OneLogin_Saml2_Settings(settings, sp_validation_only=True))
            url = auth.login(return_to=relay_state, force_authn=force_authn,
                             is_passive=is_passive)
            return {"id": auth.get_last_request_id(), "binding": binding, "url": url,
                    "xml": auth.get_last_request_xml().encode()}
        settings = self._settings(False, sig_alg)
        settings["idp"]["singleSignOnService"]["url"] = dest
        req = OneLogin_Saml2_Authn_Request(OneLogin_Saml2_Settings(settings,
                                                                   sp_validation_only=True),
                                           force_authn=force_authn, is_passive=is_passive)
        xml = req.get_xml()
        if sign:
            xml = OneLogin_Saml2_Utils.add_sign(
                xml, pc.read(self.key), pc.read(self.cert), sign_algorithm=sig_alg,
                digest_algorithm=pc.DIGEST_SHA1 if sig_alg == pc.SIG_RSA_SHA1 else
                pc.DIGEST_SHA256)
        xml = xml if isinstance(xml, bytes) else xml.encode()
        return {"id": req.get_id(), "binding": binding, "url": dest, "xml": xml,
                "fields": {"SAMLRequest": base64.b64encode(xml).decode(),
                           "RelayState": relay_state}}

    def logout_request(self, name_id, name_id_format, session_index=None, sign=True,
                       sig_alg=pc.SIG_RSA_SHA256, relay_state="rs-onelogin-slo"):
        """A Redirect-binding LogoutRequest: dict id, binding, url, xml."""
        settings = self._settings(sign, sig_alg)
        auth = OneLogin_Saml2_Auth(request_data(self.acs),
                                   OneLogin_Saml2_Settings(settings, sp_validation_only=True))
        url = auth.logout(return_to=relay_state, name_id=name_id, session_index=session_index,
                          name_id_format=name_id_format)
        return {"id": auth.get_last_request_id(), "binding": pc.BINDING_REDIRECT, "url": url,
                "xml": auth.get_last_request_xml().encode()}

    def logout_request_post(self, name_id, name_id_format, session_index=None, sign=True,
                            sig_alg=pc.SIG_RSA_SHA256, relay_state="rs-onelogin-slo"):
        """A POST-binding LogoutRequest from onelogin's request class, signed with its add_sign."""
        dest = pc.endpoint(self.idp_info["slo"], pc.BINDING_POST)
        settings = self._settings(False, sig_alg)
        settings["idp"]["singleLogoutService"] = {"url": dest, "binding": pc.BINDING_POST}
        req = OneLogin_Saml2_Logout_Request(OneLogin_Saml2_Settings(settings,
                                                                    sp_validation_only=True),
                                            name_id=name_id, session_index=session_index,
                                            name_id_format=name_id_format)
        xml = req.get_xml()
        if sign:
            xml = OneLogin_Saml2_Utils.add_sign(xml, pc.read(self.key), pc.read(self.cert),
                                                sign_algorithm=sig_alg,
                                                digest_algorithm=pc.DIGEST_SHA256)
        xml = xml if isinstance(xml, bytes) else xml.encode()
        return {"id": req.id, "binding": pc.BINDING_POST, "url": dest, "xml": xml,
                "fields": {"SAMLRequest": base64.b64encode(xml).decode(),
                           "RelayState": relay_state}}

    def validate_logout_response_redirect(self, url, request_id=None):
        """A verdict on a Redirect-binding LogoutResponse given as the full URL it was sent to."""
        u = urllib.parse.urlsplit(url)
        get = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        if "SAMLResponse" not in get:
            return pc.verdict(LIBRARY, False, error="no SAMLResponse in %s" % url)
        try:
            xml = pc.decode_redirect(get["SAMLResponse"])
        except Exception as e:  # noqa: BLE001
            return pc.verdict(LIBRARY, False, error="decode: %s" % e)
        req = request_data(url.split("?")[0], get_data=get)
        auth = OneLogin_Saml2_Auth(req, self.settings)
        try:
            auth.process_slo(keep_local_session=True, request_id=request_id)
        except Exception as e:  # noqa: BLE001
            return pc.verdict(LIBRARY, False, xml, error="%s: %s" % (type(e).__name__, e))
        errs = auth.get_errors()
        if errs:
            return pc.verdict(LIBRARY, False, xml, error="%s %s" % (
                errs, auth.get_last_error_reason()))
        return pc.verdict(LIBRARY, True, xml)

    def _settings(self, sign, sig_alg):
        import copy
        s = copy.deepcopy(self.settings_dict)
        s["security"]["authnRequestsSigned"] = sign
        s["security"]["logoutRequestSigned"] = sign
        s["security"]["signatureAlgorithm"] = sig_alg
        return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="validate a SAMLResponse read from stdin")
    v.add_argument("--idp-metadata", required=True)
    v.add_argument("--entity-id", required=True)
    v.add_argument("--acs", required=True)
    v.add_argument("--in-response-to")
    v.add_argument("--allow-assertion-only", action="store_true")
    a = ap.parse_args(argv)
    sp = SP(a.entity_id, a.acs, pc.read(a.idp_metadata),
            want_response_signed=not a.allow_assertion_only)
    res = sp.validate_response(sys.stdin.read().strip(), a.in_response_to)
    print(json.dumps(res, indent=1, sort_keys=True))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
