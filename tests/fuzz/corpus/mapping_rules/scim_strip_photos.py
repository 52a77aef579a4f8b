# scim_strip_photos: a SCIM payload patch for AWS IAM Identity Center, deep-merged
# into the default user payload before it is sent (None deletes the key).
# This expression strips the default mapping from its 'photos' attribute,
# which is a forbidden property in AWS IAM.
return {
"photos": None,
}
