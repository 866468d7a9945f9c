/* test_marshal.c: placeholder suite, replaced by the module's tests. */
#include "suites.h"

Suite *suite_marshal(void)
{
	return suite_create("marshal");
}
