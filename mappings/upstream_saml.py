# upstream_saml: turns a SAML upstream's attributes into a fedbroker identity.
# The default rule of every saml upstream; copy it under another name and set
# upstreams[].mapping to change it. Each attribute comes as a list of values,
# under its Name as the IdP sends it: the common names of LDAP/eduPerson
# (urn:oid:...), Microsoft Entra ID / ADFS (http://schemas...) and Okta or
# pysaml2 (plain names) are tried in turn.
# Returns a dict: username (required: letters, digits and . _ @ + -), email,
# email_verified, name and groups (a list of names; groups declared in
# fedbroker.yaml with the same name lend their attributes, e.g. aws_role).

# The values of every attribute, as lists (a single value as a list of one).
attrs = {k: (v if isinstance(v, list) else [v]) for k, v in upstream.items()}

email_names = [
    "email", "mail", "emailAddress", "Email",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
]
username_names = [
    "username", "uid", "userName",
    "urn:oid:0.9.2342.19200300.100.1.1",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
]
name_names = [
    "displayName", "name", "cn",
    "urn:oid:2.16.840.1.113730.3.1.241", "urn:oid:2.5.4.3",
    "http://schemas.microsoft.com/identity/claims/displayname",
]
given_names = ["givenName", "firstName", "urn:oid:2.5.4.42",
               "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"]
surname_names = ["sn", "surname", "lastName", "urn:oid:2.5.4.4",
                 "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"]
group_names = [
    "groups", "Groups", "memberOf", "isMemberOf",
    "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "http://schemas.xmlsoap.org/claims/Group",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
]

# The first value of the first attribute present, for each field.
email = ([attrs[n][0] for n in email_names if attrs.get(n)] + [None])[0]
username = ([attrs[n][0] for n in username_names if attrs.get(n)] + [email])[0]
name = ([attrs[n][0] for n in name_names if attrs.get(n)] + [None])[0]
if not name:
    given = ([attrs[n][0] for n in given_names if attrs.get(n)] + [None])[0]
    sur = ([attrs[n][0] for n in surname_names if attrs.get(n)] + [None])[0]
    name = " ".join([p for p in [given, sur] if isinstance(p, str)]) or None

# Every value of every group attribute.
groups = []
for n in group_names:
    groups.extend(attrs.get(n, []))

return {
    "username": username,
    "email": email,
    # SAML has no "verified" flag: an address is trusted for linking only
    # when you say so (return True here for an IdP that sends verified
    # addresses only, and set link_by_email on the upstream).
    "email_verified": False,
    "name": name,
    "groups": [g for g in groups if isinstance(g, str)],
}
