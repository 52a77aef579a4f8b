/* SPDX-License-Identifier: Apache-2.0 */
#include "core/core.h"
#include "unit.h"
int
fb_test_core_register(void)
{
	return 0;
}
