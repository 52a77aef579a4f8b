# aws_role_session_name: feeds the SAML attribute
# https://aws.amazon.com/SAML/Attributes/RoleSessionName, which AWS shows in
# CloudTrail and the console. AWS accepts 2 to 64 characters of letters,
# digits and _+=,.@- only, so anything else becomes "-".
name = re_sub(r"[^\w+=,.@-]", "-", user.username or "")
if len(name) < 2:
    name = f"user-{user.uid}"
return name[:64]
