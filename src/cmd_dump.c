/* cmd_dump.c: sprofd dump (not written yet). */
#include "commands.h"
#include "log.h"
#include "sprofd.h"

int cmd_dump(int argc, char **argv)
{
	log_err("'sprofd dump' is not available in this build");
	return EXIT_USAGE;
}
