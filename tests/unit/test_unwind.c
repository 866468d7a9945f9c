/* test_unwind.c: placeholder suite, replaced by the module's tests. */
#include "suites.h"

Suite *suite_unwind(void)
{
	return suite_create("unwind");
}
