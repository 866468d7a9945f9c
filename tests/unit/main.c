/* main.c: runs every unit suite; a name on the command line runs only the
 * suites whose name contains it. */
#include <stdlib.h>
#include <string.h>

#include "suites.h"

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		Suite *(*make)(void);
	} all[] = {
		{ "util", suite_util },       { "marshal", suite_marshal },
		{ "stacks", suite_stacks },   { "profile", suite_profile },
		{ "report", suite_report },   { "symbols", suite_symbols },
		{ "maps", suite_maps },       { "unwind", suite_unwind },
		{ "writers", suite_writers }, { "pstats", suite_pstats },
		{ "config", suite_config },   { "schedule", suite_schedule },
		{ "ctl", suite_ctl },
		{ "protobuf", suite_protobuf },     { "workermsg", suite_workermsg },
		{ "python", suite_python },
		{ "procfs", suite_procfs },   { "sampler", suite_sampler },
		{ "oncpu", suite_oncpu },     { "modules", suite_modules },
		{ "session", suite_session }, { "diff", suite_diff },
		{ "topview", suite_topview },
		{ "split", suite_split },
	};
	SRunner *sr = NULL;
	int failed;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		Suite *s;
		if (argc > 1 && !strstr(all[i].name, argv[1]))
			continue;
		s = all[i].make();
		if (!sr)
			sr = srunner_create(s);
		else
			srunner_add_suite(sr, s);
	}
	if (!sr)
		return 1;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
