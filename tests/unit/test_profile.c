/* test_profile.c: placeholder suite, replaced by the module's tests. */
#include "suites.h"

Suite *suite_profile(void)
{
	return suite_create("profile");
}
