/* test_symbols.c: placeholder suite, replaced by the module's tests. */
#include "suites.h"

Suite *suite_symbols(void)
{
	return suite_create("symbols");
}
