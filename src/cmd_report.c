/* cmd_report.c: sprofd report (not written yet). */
#include "commands.h"
#include "log.h"
#include "sprofd.h"

int cmd_report(int argc, char **argv)
{
	log_err("'sprofd report' is not available in this build");
	return EXIT_USAGE;
}
