# aws_session_duration: feeds the SAML attribute
# https://aws.amazon.com/SAML/Attributes/SessionDuration: how long, in
# seconds, the AWS console session lasts (AWS accepts 900 to 43200, and no
# more than the role's maximum session duration). A user attribute
# "aws_session_duration" overrides the default of 8 hours.
seconds = int(user.attributes.get("aws_session_duration", 8 * 3600))
return str(min(max(seconds, 900), 43200))
