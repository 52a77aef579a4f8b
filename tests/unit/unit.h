/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit: one CUnit suite per module, registered by main.c. */
#ifndef FB_TESTS_UNIT_H
#define FB_TESTS_UNIT_H

#include <CUnit/CUnit.h>

/* Each adds its suite(s) to the registry; returns 0 on success. */
int fb_test_core_register(void);
int fb_test_conf_register(void);
int fb_test_crypto_register(void);
int fb_test_store_register(void);
int fb_test_http_register(void);
int fb_test_web_register(void);
int fb_test_map_register(void);
int fb_test_ident_register(void);
int fb_test_net_register(void);
int fb_test_oidc_register(void);
int fb_test_local_register(void);
int fb_test_saml_register(void);
int fb_test_saml_sp_register(void);
int fb_test_daemon_register(void);
int fb_test_upstream_register(void);
int fb_test_scim_register(void);
int fb_test_authz_register(void);

/* A fresh temporary directory (new, caller frees; removed by fb_test_rmtree). */
char *fb_test_tmpdir(void);
void fb_test_rmtree(const char *dir);
/* Writes text to dir/name and returns the path (new, caller frees). */
char *fb_test_write_file(const char *dir, const char *name, const char *text);
/* The file at FB_SRCDIR/rel (at most 64 KiB), NUL-terminated, its length in *n. New. */
char *fb_test_read_src(const char *rel, size_t *n);

#endif
