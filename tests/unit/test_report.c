/* test_report.c: placeholder suite, replaced by the module's tests. */
#include "suites.h"

Suite *suite_report(void)
{
	return suite_create("report");
}
