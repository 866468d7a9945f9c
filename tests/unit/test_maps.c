/* test_maps.c: placeholder suite, replaced by the module's tests. */
#include "suites.h"

Suite *suite_maps(void)
{
	return suite_create("maps");
}
