/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/main.c: registers every module's CUnit suite and runs them. */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "core/core.h"
#include "unit.h"

/* Weak, so a module's suite can land after the runner. */
#pragma weak fb_test_conf_register
#pragma weak fb_test_crypto_register
#pragma weak fb_test_store_register
#pragma weak fb_test_http_register
#pragma weak fb_test_web_register
#pragma weak fb_test_map_register
#pragma weak fb_test_ident_register
#pragma weak fb_test_net_register
#pragma weak fb_test_oidc_register
#pragma weak fb_test_local_register
#pragma weak fb_test_saml_register
#pragma weak fb_test_saml_sp_register
#pragma weak fb_test_daemon_register
#pragma weak fb_test_upstream_register
#pragma weak fb_test_scim_register
#pragma weak fb_test_authz_register

char *
fb_test_tmpdir(void)
{
	char tmpl[] = "/tmp/fb-unit-XXXXXX";

	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return fb_xstrdup(tmpl);
}

static int
broken_init(void)
{
	return 1;
}

static void
never_runs(void)
{
	CU_FAIL("a suite whose set-up failed ran a test");
}

/*
 * FB_UNIT_BROKEN_SUITE=1 adds a suite whose set-up fails, so that
 * tests/unit/runner.sh can prove that such a suite fails the run.
 */
static int
broken_suite_register(void)
{
	CU_pSuite s;

	if (getenv("FB_UNIT_BROKEN_SUITE") == NULL)
		return 0;
	s = CU_add_suite("broken-setup", broken_init, NULL);
	if (s == NULL || CU_add_test(s, "never runs", never_runs) == NULL)
		return 1;
	return 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

void
fb_test_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *
fb_test_read_src(const char *rel, size_t *n)
{
	char *path = fb_xasprintf("%s/%s", FB_SRCDIR, rel), *b = fb_xmalloc(64 * 1024);
	FILE *f = fopen(path, "rb");

	*n = f != NULL ? fread(b, 1, 64 * 1024 - 1, f) : 0;
	b[*n] = '\0';
	if (f != NULL)
		fclose(f);
	free(path);
	return b;
}

char *
fb_test_write_file(const char *dir, const char *name, const char *text)
{
	char *path = fb_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		abort();
	}
	fputs(text, f);
	fclose(f);
	return path;
}

int
main(int argc, char **argv)
{
	int (*suites[])(void) = {
		fb_test_core_register,
		fb_test_conf_register,
		fb_test_crypto_register,
		fb_test_store_register,
		fb_test_http_register,
		fb_test_web_register,
		fb_test_map_register,
		fb_test_ident_register,
		fb_test_net_register,
		fb_test_oidc_register,
		fb_test_local_register,
		fb_test_saml_register,
		fb_test_saml_sp_register,
		fb_test_daemon_register,
		fb_test_upstream_register,
		fb_test_scim_register,
		fb_test_authz_register,
		broken_suite_register,
	};
	unsigned failed, tests_failed, suites_failed;

	/* Keep test logs quiet unless asked: FB_TEST_LOG=1 shows them. */
	if (getenv("FB_TEST_LOG") == NULL)
		fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, 2);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i] != NULL && suites[i]() != 0) {
			fprintf(stderr, "suite registration failed: %s\n", CU_get_error_msg());
			return 2;
		}
	/* FB_UNIT_SUITES="saml conf" runs only the suites named (a developer's shortcut). */
	if (getenv("FB_UNIT_SUITES") != NULL)
		for (CU_pSuite s = CU_get_registry()->pSuite; s != NULL; s = s->pNext)
			CU_set_suite_active(s, strstr(getenv("FB_UNIT_SUITES"), s->pName) != NULL);
	CU_basic_set_mode(argc > 1 && strcmp(argv[1], "-v") == 0 ? CU_BRM_VERBOSE : CU_BRM_NORMAL);
	CU_basic_run_tests();
	/*
	 * A suite whose set-up (or clean-up) failed ran none of its tests: it is
	 * a failure like any failed test, never a quiet pass.
	 */
	tests_failed = CU_get_number_of_tests_failed();
	suites_failed = CU_get_number_of_suites_failed();
	failed = CU_get_number_of_failures() + tests_failed + suites_failed;
	printf("unit: %u passed, %u failed", CU_get_number_of_tests_run() - tests_failed,
	    tests_failed + suites_failed);
	if (suites_failed > 0)
		printf(" (%u suite%s whose set-up failed)", suites_failed,
		    suites_failed == 1 ? "" : "s");
	printf("\n");
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
