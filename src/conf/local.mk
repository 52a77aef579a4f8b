# conf module: one YAML file -> a checked, immutable struct fb_conf.
FB_LIB_SOURCES += src/conf/conf.h src/conf/internal.h src/conf/conf.c src/conf/yaml.c \
	src/conf/keys.c src/conf/check.c src/conf/mail.c src/conf/upstream.c \
	src/conf/scim.c src/conf/apps.c src/conf/oidc.c
FB_UNIT_SOURCES += tests/unit/test_conf.c
dist_man_MANS += man/fedbroker.yaml.5
EXTRA_DIST += tests/check_conf_doc.sh
