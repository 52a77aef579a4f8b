/* SPDX-License-Identifier: Apache-2.0 */
/* placeholder */
#include "unit.h"
int
fb_test_conf_register(void)
{
	return 0;
}
