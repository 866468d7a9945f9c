/* test_util.c: placeholder suite, replaced by the module's tests. */
#include "suites.h"

Suite *suite_util(void)
{
	return suite_create("util");
}
