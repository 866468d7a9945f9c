/* commands.h: the subcommands of the sprofd executable; main() only picks
 * one. Each returns an exit code from sprofd.h. */
#ifndef SPROFD_COMMANDS_H
#define SPROFD_COMMANDS_H

#include <getopt.h>

/* A command's options as getopt_long takes them: the one table each
 * command parses with, and main() routes with. */
struct command_options {
	const struct option *longopts;
	const char *shortopts;      /* with the leading ':' */
};
extern const struct command_options profile_options;
extern const struct command_options daemon_options;

/* sprofd [-p PID ...]: profile one process (the default command). */
int cmd_profile(int argc, char **argv);
/* sprofd report FILE.prof: the console table of a saved profile. */
int cmd_report(int argc, char **argv);
/* sprofd dump -p PID: every thread's current stack, once. */
int cmd_dump(int argc, char **argv);
/* sprofd top -p PID: the functions of a running process, live; takes
 * profile_options. */
int cmd_top(int argc, char **argv);
/* sprofd -D | -t [-c FILE]: the daemon, or a check of its configuration. */
int cmd_daemon(int argc, char **argv);
/* sprofd ctl COMMAND: asks the running daemon over its control socket. */
int cmd_ctl(int argc, char **argv);

#endif
