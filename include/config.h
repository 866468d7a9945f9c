/* config.h: the daemon's configuration file, sprofd.conf(5): "Keyword
 * value" lines, global settings first, then one section per target that
 * starts with "Target NAME". Read the way OpenSSH reads sshd_config: every
 * setting starts unset; the file is parsed, each error logged as
 * FILE:LINE: reason; a target's unset settings then take the global value,
 * else the built-in default; and the result is checked as a whole. A
 * config owns all of its strings and compiled patterns. */
#ifndef SPROFD_CONFIG_H
#define SPROFD_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"
#include "sampler.h"

#define CONFIG_DEFAULT_PATH   "/etc/sprofd.conf"
#define CONFIG_DEFAULT_SOCKET "/run/sprofd/ctl.sock"

/* How a target names its processes; re-resolved at every run. */
enum proc_kind {
	PROC_PID,      /* a fixed PID */
	PROC_PIDFILE,  /* the PID written in a file */
	PROC_EXE,      /* processes running this executable */
	PROC_CMDLINE,  /* processes whose command line matches a regex */
};

enum proc_select {
	SELECT_NEWEST,  /* the most recently started match */
	SELECT_ALL,     /* every match, each profiled on its own */
};

/* Which profiles of a target are kept; 0 means no limit. */
struct keep {
	uint64_t max_files;
	uint64_t max_bytes;
	double max_age;       /* seconds */
};

struct target_conf {
	char *name;
	int line;             /* of its Target keyword */
	enum proc_kind kind;
	char *arg;            /* the PID, path or expression as written */
	pid_t pid;            /* PROC_PID */
	regex_t re;           /* PROC_CMDLINE */
	bool has_re;
	bool has_user;        /* only processes of this effective user */
	uid_t uid;
	char *user;
	enum proc_select select;
	unsigned hz;
	double duration, interval, jitter;  /* seconds */
	enum sample_mode mode;
	int max_depth;
	bool python;          /* Python frames in a Python process (Python yes) */
	char *formats;
	char *output_dir;     /* with %t expanded */
	struct keep keep;
	double cpu_budget;    /* percent of one CPU; 0: none */
	char *split;          /* Split: flask, django or a function; NULL: none */
	bool children;        /* Children yes: the process and its descendants */
};

struct config {
	char *path;
	char *control_socket; /* NULL: no control socket */
	char *pidfile;
	enum log_level log_level;
	unsigned max_sessions;
	double total_cpu_budget;      /* percent of one CPU; 0: none */
	double ondemand_max_duration; /* seconds */
	struct target_conf *targets;
	size_t ntargets;
};

/* Reads and checks a configuration file. Returns NULL after logging every
 * error found, each as "FILE:LINE: reason". */
struct config *config_load(const char *path);
/* Parses configuration text as if read from the file named path; for
 * tests and for config_load. Checks no file permissions. */
struct config *config_parse(const char *path, const char *text, size_t len);
/* Prints the effective settings in the file's own syntax, so the output
 * is itself a valid configuration. */
void config_print(const struct config *c, FILE *f);
/* The target with this name, or NULL. */
const struct target_conf *config_target(const struct config *c, const char *name);
void config_free(struct config *c);

/* Value syntax shared with the command line of "sprofd ctl": seconds with
 * optional units (1h30m, 10s, 500ms, 1.5) and their canonical form. */
int config_parse_time(const char *s, double *out);
void config_format_time(double secs, char *buf, size_t len);

#endif
