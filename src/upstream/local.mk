# upstream module: sign-in through an upstream identity provider (mapping, linking, provisioning).
FB_LIB_SOURCES += src/upstream/upstream.h
