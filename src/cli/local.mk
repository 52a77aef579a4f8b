FB_CLI_SOURCES += src/cli/cli.h src/cli/common.c src/cli/version.c src/cli/serve.c \
	src/cli/check_config.c src/cli/keys.c src/cli/map.c src/cli/user.c src/cli/token.c \
	src/cli/metadata.c src/cli/explain.c src/cli/aws.c src/cli/audit.c \
	src/cli/store.c src/cli/scim.c src/cli/integrate.c src/cli/oidc.c
