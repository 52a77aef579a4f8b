# aws_tag_groups: feeds the session tag
# https://aws.amazon.com/SAML/Attributes/PrincipalTag:groups, so IAM policies
# can test aws:PrincipalTag/groups (attribute-based access control). A tag
# holds one value of at most 256 characters: the user's group names, sorted,
# separated by ":". No group: None leaves the tag out. The role's trust
# policy must allow sts:TagSession.
names = sorted(g.name for g in user.groups)
if not names:
    return None
return ":".join(names)[:256]
