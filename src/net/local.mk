# net module: outbound connections (mail through the configured SMTP relay, HTTPS with libcurl).
FB_LIB_SOURCES += src/net/net.h src/net/internal.h src/net/smtp.c src/net/http.c
FB_UNIT_SOURCES += tests/unit/test_net.c
