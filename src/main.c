/* main.c: picks the subcommand; everything else lives in cmd_*.c. */
#include <string.h>

#include "commands.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "dump") == 0)
		return cmd_dump(argc - 1, argv + 1);
	return cmd_profile(argc, argv);
}
