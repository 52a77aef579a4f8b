# aws_role: feeds the SAML attribute https://aws.amazon.com/SAML/Attributes/Role
# that the AWS console (and STS AssumeRoleWithSAML) reads. One value per
# group of the user that has an "aws_role" attribute, each "ROLE_ARN,PROVIDER_ARN";
# the console lets the user choose when there are several. A group's aws_role
# is a role name ("admin") or a whole role ARN ("arn:aws:iam::...:role/admin").
# Set account and provider to your AWS account id and the name of the SAML
# identity provider you created for fedbroker in IAM.
account = "123412341234"
provider = f"arn:aws:iam::{account}:saml-provider/fedbroker"

# Sorted by group name, so the order does not depend on the upstream's.
pairs = sorted([g.name, g.attributes["aws_role"]] for g in user.groups if "aws_role" in g.attributes)
roles = []
for name, role in pairs:
    if not role.startswith("arn:"):
        role = f"arn:aws:iam::{account}:role/{role}"
    roles.append(f"{role},{provider}")
# No role: None leaves the attribute out, and AWS refuses the sign-in clearly.
return roles or None
