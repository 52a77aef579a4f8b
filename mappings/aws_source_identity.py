# aws_source_identity: feeds the SAML attribute
# https://aws.amazon.com/SAML/Attributes/SourceIdentity. AWS keeps it for the
# whole role session (also across role chaining) and shows it in CloudTrail,
# so it should name the person, not the role. AWS accepts 2 to 64 characters
# of letters, digits and _+=,.@- that do not begin with "aws:"; anything else
# becomes "-". The role's trust policy must allow sts:SetSourceIdentity.
name = re_sub(r"[^\w+=,.@-]", "-", user.username or "")
if len(name) < 2:
    name = f"user-{user.uid}"
return name[:64]
