# saml module: the SAML 2.0 IdP (to the AWS console, IAM Identity Center, any SAML SP).
FB_LIB_SOURCES += src/saml/saml.h src/saml/internal.h src/saml/server.c src/saml/metadata.c \
	src/saml/binding.c src/saml/sign.c src/saml/idp.c src/saml/request.c src/saml/slo.c \
	src/saml/aws.c src/saml/check.c src/saml/sp.c src/saml/dsig.c src/saml/mdrefresh.c
FB_UNIT_SOURCES += tests/unit/test_saml.c tests/unit/test_saml_sp.c
EXTRA_DIST += tests/fixtures/aws
