# upstream_oidc: turns what an OpenID Connect upstream says about the person
# (the ID token's claims, merged with userinfo when upstreams[].oidc.userinfo
# is on) into a fedbroker identity. The default rule of every oidc upstream;
# copy it under another name and set upstreams[].mapping to change it.
# Returns a dict: username (required: letters, digits and . _ @ + -), email,
# email_verified (True only when the upstream vouches for the address: it
# decides whether link_by_email may link to an existing account), name, and
# groups (a list of names; groups declared in fedbroker.yaml with the same
# name lend their attributes, e.g. aws_role).
email = upstream.get("email")
verified = upstream.get("email_verified", False)
# Some issuers (Cognito, older Okta) send the flag as a string.
verified = verified == True or verified == "true"

# preferred_username (Okta, Keycloak, authentik, Entra's UPN), else the email
# (Google sends none).
username = upstream.get("preferred_username") or email

name = upstream.get("name")
if not name:
    name = " ".join([p for p in [upstream.get("given_name"), upstream.get("family_name")] if p]) or None

# groups: Okta, Keycloak, authentik and Entra (object ids unless the app sends
# names) use "groups"; one group may come as a plain string.
groups = upstream.get("groups", [])
if isinstance(groups, str):
    groups = [groups]

return {
    "username": username,
    "email": email,
    "email_verified": verified,
    "name": name,
    "groups": [g for g in groups if isinstance(g, str)],
}
