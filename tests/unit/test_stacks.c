/* test_stacks.c: placeholder suite, replaced by the module's tests. */
#include "suites.h"

Suite *suite_stacks(void)
{
	return suite_create("stacks");
}
