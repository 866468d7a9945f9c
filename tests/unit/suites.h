/* suites.h: every Check suite of the unit test runner. */
#ifndef SPROFD_TEST_SUITES_H
#define SPROFD_TEST_SUITES_H

#include <check.h>

Suite *suite_util(void);
Suite *suite_marshal(void);
Suite *suite_stacks(void);
Suite *suite_profile(void);
Suite *suite_report(void);
Suite *suite_symbols(void);
Suite *suite_maps(void);
Suite *suite_unwind(void);
Suite *suite_writers(void);
Suite *suite_pstats(void);
Suite *suite_config(void);
Suite *suite_schedule(void);
Suite *suite_ctl(void);
Suite *suite_protobuf(void);
Suite *suite_workermsg(void);
Suite *suite_python(void);
Suite *suite_procfs(void);
Suite *suite_sampler(void);
Suite *suite_oncpu(void);
Suite *suite_modules(void);
Suite *suite_session(void);
Suite *suite_diff(void);
Suite *suite_topview(void);
Suite *suite_split(void);

#endif
