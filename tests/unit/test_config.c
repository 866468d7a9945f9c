/* test_config.c: the daemon's configuration file (suite "config") and its
 * policies (suite "schedule"): timetable, process selection, retention and
 * the overhead controller. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "output.h"
#include "schedule.h"
#include "suites.h"
#include "util.h"

/* ---- capturing errors ---- */

static char errors[16][512];
static int nerrors;

static void capture(enum log_level lvl, const char *msg)
{
	if (lvl == LOG_LVL_ERR && nerrors < 16)
		snprintf(errors[nerrors++], sizeof(errors[0]), "%s", msg);
}

/* Errors are checked through the hook; stderr would only be noise. */
static void quiet_setup(void)
{
	int null = open("/dev/null", O_WRONLY);

	dup2(null, 2);
	close(null);
	nerrors = 0;
	log_set_hook(capture);
}

static void quiet_teardown(void)
{
	log_set_hook(NULL);
}

static struct config *parse(const char *text)
{
	nerrors = 0;
	return config_parse("test.conf", text, strlen(text));
}

/* ---- config ---- */

START_TEST(test_config_defaults)
{
	struct config *c = parse("Target web\n\tProcess pid 4242\n");
	const struct target_conf *t;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(nerrors, 0);
	ck_assert_str_eq(c->control_socket, CONFIG_DEFAULT_SOCKET);
	ck_assert_str_eq(c->pidfile, "/run/sprofd.pid");
	ck_assert_int_eq(c->log_level, LOG_LVL_INFO);
	ck_assert_uint_eq(c->max_sessions, 8);
	ck_assert(c->total_cpu_budget == 10);
	ck_assert(c->ondemand_max_duration == 300);
	ck_assert_uint_eq(c->ntargets, 1);
	t = config_target(c, "web");
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(config_target(c, "db"));
	ck_assert_int_eq(t->line, 1);
	ck_assert_int_eq(t->kind, PROC_PID);
	ck_assert_int_eq(t->pid, 4242);
	ck_assert_int_eq(t->select, SELECT_NEWEST);
	ck_assert_uint_eq(t->hz, 100);
	ck_assert(t->duration == 10);
	ck_assert(t->interval == 300);
	ck_assert(t->jitter == 30);      /* a tenth of the interval */
	ck_assert_int_eq(t->mode, MODE_CPU);
	ck_assert_int_eq(t->max_depth, 256);
	ck_assert(t->python);
	ck_assert_str_eq(t->formats, "prof");
	ck_assert_str_eq(t->output_dir, "/var/lib/sprofd/web");
	ck_assert_uint_eq(t->keep.max_files, 1000);
	ck_assert_uint_eq(t->keep.max_bytes, 1ull << 30);
	ck_assert(t->keep.max_age == 30 * 86400);
	ck_assert(t->cpu_budget == 0);
	ck_assert(!t->has_user);
	config_free(c);
	config_free(NULL);
}
END_TEST

/* Global values are defaults for every target; a target's own win. */
START_TEST(test_config_inherit)
{
	struct config *c = parse(
		"# comment\n"
		"frequency 50          # keywords ignore case; comments may follow\n"
		"Interval 1h30m\n"
		"OutputDir /srv/prof/%t/100%%\n"
		"MaxFiles none\n"
		"CPUBudget 2.5%\n"
		"TotalCPUBudget none\n"
		"ControlSocket none\n"
		"\n"
		"Target a\n"
		"  Process pidfile /run/a.pid\n"
		"  Duration 500ms\n"
		"Target b\n"
		"  Process exe /usr/sbin/b\n"
		"  Select all\n"
		"  Frequency 997\n"
		"  Jitter 0\n"
		"  Mode WALL\n"
		"  MaxBytes 512K\n"
		"  MaxAge 2d\n"
		"  OutputDir /srv/b\n"
		"  Formats prof\n"
		"  User 0\n"
		"  Python no\n");
	const struct target_conf *a, *b;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->control_socket);
	ck_assert(c->total_cpu_budget == 0);
	a = config_target(c, "a");
	b = config_target(c, "b");
	ck_assert_int_eq(a->kind, PROC_PIDFILE);
	ck_assert_str_eq(a->arg, "/run/a.pid");
	ck_assert_uint_eq(a->hz, 50);
	ck_assert(fabs(a->duration - 0.5) < 1e-12);
	ck_assert(a->interval == 5400);
	ck_assert(a->jitter == 540);
	ck_assert_str_eq(a->output_dir, "/srv/prof/a/100%");
	ck_assert_uint_eq(a->keep.max_files, 0);
	ck_assert(a->cpu_budget == 2.5);
	ck_assert_int_eq(b->kind, PROC_EXE);
	ck_assert_int_eq(b->select, SELECT_ALL);
	ck_assert_uint_eq(b->hz, 997);
	ck_assert(b->jitter == 0);
	ck_assert_int_eq(b->mode, MODE_WALL);
	ck_assert(a->python);
	ck_assert(!b->python);
	ck_assert_uint_eq(b->keep.max_bytes, 512 * 1024);
	ck_assert(b->keep.max_age == 2 * 86400);
	ck_assert_str_eq(b->output_dir, "/srv/b");
	ck_assert(b->has_user);
	ck_assert_uint_eq(b->uid, 0);
	ck_assert_int_eq(b->line, 13);
	config_free(c);
}
END_TEST

/* Every bad configuration is refused with FILE:LINE: and a reason. */
START_TEST(test_config_errors)
{
	static const struct {
		const char *text;
		int line;
		const char *reason;
	} cases[] = {
		{ "Foo 1\n", 1, "unknown keyword 'Foo'" },
		{ "\n\nFrequency 0\n", 3, "Frequency must be a whole number from 1 to 10000, not '0'" },
		{ "Frequency fast\n", 1, "not 'fast'" },
		{ "Python maybe\n", 1, "Python must be no or yes" },
		{ "Frequency\n", 1, "Frequency takes one value" },
		{ "Frequency 1 2\n", 1, "takes one value; quote a value that has spaces" },
		{ "Duration 10x\n", 1, "Duration must be a time" },
		{ "Interval 1m30\n", 1, "Interval must be a time" },
		{ "Process pid 1\n", 1, "Process belongs to a target" },
		{ "Target a\nProcess pid 1\nControlSocket /x\n", 3, "ControlSocket is a global setting" },
		{ "Target a\n", 1, "target 'a' has no Process line" },
		{ "Target a\nProcess pid 1\nTarget a\nProcess pid 2\n", 3,
		  "target 'a' is already defined at line 1" },
		{ "Target ../x\n", 1, "target name '../x' must be" },
		{ "Target\n", 1, "Target takes one name" },
		{ "Target a\nProcess pid 1\nDuration 5m\n", 3,
		  "target 'a': Duration 5m must be shorter than Interval 5m" },
		{ "Interval 10s\nTarget a\nProcess pid 1\nDuration 1s\nJitter 10s\n", 5,
		  "Jitter 10s must be shorter than Interval 10s" },
		{ "Target a\nProcess cmdline \"(\"\n", 2, "Process cmdline '(':" },
		{ "Target a\nProcess name x\n", 2, "Process kind must be pid, pidfile, exe or cmdline" },
		{ "Target a\nProcess pid x\n", 2, "Process pid needs a process ID, not 'x'" },
		{ "Target a\nProcess exe sbin/x\n", 2, "Process exe needs an absolute path" },
		{ "Target a\nProcess pid\n", 2, "Process takes a kind" },
		{ "Target a\nProcess pid 1\nFrequency 10\nFrequency 20\n", 4,
		  "Frequency is given twice in target a (first at line 3)" },
		{ "Target a\nProcess pid 1\nOutputDir /x\nTarget b\nProcess pid 2\nOutputDir /x\n", 6,
		  "targets 'b' and 'a' (line 1) both write to /x" },
		{ "OutputDir /x\nTarget a\nProcess pid 1\nTarget b\nProcess pid 2\n", 4,
		  "both write to /x" },
		{ "OutputDir var/x\n", 1, "OutputDir must be an absolute path, not 'var/x'" },
		{ "OutputDir /x/%q\n", 1, "unknown token %q" },
		{ "Target a\nProcess cmdline \"abc\n", 2, "unterminated quoted string" },
		{ "Formats prof,nosuch\n", 1, "unknown format 'nosuch'" },
		{ "Target a\nProcess pid 1\nUser no_such_user_xyz\n", 3, "no user 'no_such_user_xyz'" },
		{ "CPUBudget 0\n", 1, "CPUBudget must be a percentage" },
		{ "TotalCPUBudget 150%\n", 1, "at most 100" },
		{ "MaxBytes 12Q\n", 1, "MaxBytes must be a size" },
		{ "MaxSessions 0\n", 1, "MaxSessions must be a whole number from 1 to 1024" },
		{ "LogLevel loud\n", 1, "LogLevel must be error, warning, info or debug, not 'loud'" },
		{ "Mode fast\n", 1, "Mode must be cpu or wall" },
		{ "Target a\nProcess pid 1\nSelect some\n", 3, "Select must be newest or all" },
		{ "ControlSocket run/s\n", 1, "ControlSocket must be an absolute path" },
		{ "MaxAge forever\n", 1, "MaxAge must be a time from 0 to 3650d (or none)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *c = parse(cases[i].text);
		char prefix[32];

		ck_assert_msg(c == NULL, "case %zu accepted: %s", i, cases[i].text);
		ck_assert_msg(nerrors >= 1, "case %zu: no error logged", i);
		snprintf(prefix, sizeof(prefix), "test.conf:%d: ", cases[i].line);
		ck_assert_msg(strncmp(errors[0], prefix, strlen(prefix)) == 0,
			      "case %zu: '%s' does not start with '%s'", i, errors[0], prefix);
		ck_assert_msg(strstr(errors[0], cases[i].reason) != NULL,
			      "case %zu: '%s' does not say '%s'", i, errors[0], cases[i].reason);
	}
}
END_TEST

/* All errors are reported, not just the first. */
START_TEST(test_config_all_errors)
{
	struct config *c = parse("Frequency 0\nBogus x\nTarget a\nDuration 1x\n");

	ck_assert_ptr_null(c);
	ck_assert_int_eq(nerrors, 4);
	ck_assert(strncmp(errors[0], "test.conf:1: ", 13) == 0);
	ck_assert(strncmp(errors[1], "test.conf:2: ", 13) == 0);
	ck_assert(strncmp(errors[2], "test.conf:4: ", 13) == 0);
	ck_assert(strstr(errors[3], "test.conf:3: target 'a' has no Process line") != NULL);
}
END_TEST

static char *print(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	config_print(c, f);
	fclose(f);
	return buf;
}

/* What -t prints is itself a configuration that means the same: parsing
 * it and printing again gives the same text. */
START_TEST(test_config_print_roundtrip)
{
	const char *text =
		"LogLevel debug\nMaxSessions 3\nTotalCPUBudget 7.5%\nOnDemandMaxDuration 90s\n"
		"Target one\nProcess cmdline \"^/usr/bin/python3 .*app\\\\.py \\\"x\\\"\"\n"
		"User root\nInterval 2s\nDuration 1.5s\nJitter 250ms\nMaxFiles 3\nMaxBytes 10M\n"
		"MaxAge none\nCPUBudget 1%\nOutputDir \"/tmp/with space/%t\"\n"
		"Target two\nProcess pid 77\nFrequency 1000\nMode wall\nMaxDepth 64\n";
	struct config *c = parse(text), *c2;
	char *out, *out2;
	const struct target_conf *t;

	ck_assert_ptr_nonnull(c);
	t = config_target(c, "one");
	ck_assert_str_eq(t->arg, "^/usr/bin/python3 .*app\\.py \"x\"");
	ck_assert_str_eq(t->output_dir, "/tmp/with space/one");
	out = print(c);
	ck_assert_ptr_nonnull(strstr(out, "\nTotalCPUBudget 7.5%\n"));
	ck_assert_ptr_nonnull(strstr(out, "\tDuration 1500ms\n"));
	ck_assert_ptr_nonnull(strstr(out, "\tInterval 2s\n"));
	ck_assert_ptr_nonnull(strstr(out, "\tMaxBytes 10M\n"));
	ck_assert_ptr_nonnull(strstr(out, "\tMaxAge none\n"));
	ck_assert_ptr_nonnull(strstr(out, "\tFrequency 1000\n"));
	c2 = parse(out);
	ck_assert_msg(c2 != NULL, "printed config does not parse: %s\n%s", errors[0], out);
	out2 = print(c2);
	ck_assert_str_eq(out, out2);
	ck_assert_str_eq(config_target(c2, "one")->arg, t->arg);
	free(out);
	free(out2);
	config_free(c);
	config_free(c2);
}
END_TEST

START_TEST(test_config_time)
{
	static const struct { const char *s; double v; } ok[] = {
		{ "10", 10 }, { "1.5", 1.5 }, { "10s", 10 }, { "500ms", 0.5 }, { "5m", 300 },
		{ "1h30m", 5400 }, { "2d", 172800 }, { "1m30s", 90 }, { "0", 0 }, { ".5s", 0.5 },
	};
	static const char *const bad[] = { "", "1m30", "abc", "-1", "1x", "1 s", "s", "1e3" };
	char buf[32];
	double v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(config_parse_time(ok[i].s, &v) == 0, "'%s' refused", ok[i].s);
		ck_assert_msg(fabs(v - ok[i].v) < 1e-9, "'%s' gave %g", ok[i].s, v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(config_parse_time(bad[i], &v) < 0, "'%s' accepted", bad[i]);
	config_format_time(90, buf, sizeof(buf));
	ck_assert_str_eq(buf, "90s");
	config_format_time(3600, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1h");
	config_format_time(0.25, buf, sizeof(buf));
	ck_assert_str_eq(buf, "250ms");
	config_format_time(1.0005, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.0005s");
}
END_TEST

/* config_load refuses a file that others can write. */
START_TEST(test_config_load_mode)
{
	char path[] = "/tmp/sprofd-conf-XXXXXX";
	int fd = mkstemp(path);
	struct config *c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "Target a\nProcess pid 1\n", 23), 23);
	close(fd);
	chmod(path, 0644);
	c = config_load(path);
	ck_assert_ptr_nonnull(c);
	config_free(c);
	chmod(path, 0666);
	nerrors = 0;
	ck_assert_ptr_null(config_load(path));
	ck_assert_int_eq(nerrors, 1);
	ck_assert_ptr_nonnull(strstr(errors[0], "writable by group or others (mode 0666)"));
	unlink(path);
	nerrors = 0;
	ck_assert_ptr_null(config_load(path));
	ck_assert_ptr_nonnull(strstr(errors[0], "cannot open the configuration"));
}
END_TEST

/* ---- schedule ---- */

START_TEST(test_schedule_next)
{
	uint64_t s = 1000000000ull, iv = 2 * s, base, start;

	/* First run: base is "now - interval", so it starts now. */
	base = 100 * s - iv;
	start = schedule_next(&base, iv, 0, 100 * s, 0.7);
	ck_assert_uint_eq(start, 100 * s);
	ck_assert_uint_eq(base, 100 * s);
	/* Next runs stay on the grid however late the loop wakes. */
	start = schedule_next(&base, iv, 0, 100 * s + 5000, 0.0);
	ck_assert_uint_eq(start, 102 * s);
	start = schedule_next(&base, iv, 0, 102 * s + 7000, 0.0);
	ck_assert_uint_eq(start, 104 * s);
	/* Jitter adds frac of itself, off the grid only for that run. */
	start = schedule_next(&base, iv, s, 104 * s, 0.5);
	ck_assert_uint_eq(start, 106 * s + s / 2);
	ck_assert_uint_eq(base, 106 * s);
	/* After a long sleep, missed runs are not made up: one run now. */
	start = schedule_next(&base, iv, 0, 500 * s, 0.0);
	ck_assert_uint_eq(start, 500 * s);
	start = schedule_next(&base, iv, 0, 500 * s, 0.0);
	ck_assert_uint_eq(start, 502 * s);
}
END_TEST

START_TEST(test_retention_names)
{
	uint32_t pid;
	uint64_t t;
	bool temp;

	ck_assert(output_parse_name("web.123.1700000000.prof", &pid, &t, &temp));
	ck_assert_uint_eq(pid, 123);
	ck_assert_uint_eq(t, 1700000000);
	ck_assert(!temp);
	ck_assert(output_parse_name("callgrind.out.web.9.1700000001", &pid, &t, &temp));
	ck_assert_uint_eq(pid, 9);
	ck_assert_uint_eq(t, 1700000001);
	ck_assert(output_parse_name("my.server.7.1700000002.pb.gz", &pid, &t, &temp));
	ck_assert_uint_eq(pid, 7);
	ck_assert(output_parse_name(".web.123.1700000000.prof.ab12cd34", &pid, &t, &temp));
	ck_assert(temp);
	ck_assert_uint_eq(pid, 123);
	ck_assert(!output_parse_name("notes.txt", &pid, &t, &temp));
	ck_assert(!output_parse_name("123.1700000000.prof", &pid, &t, &temp));
	ck_assert(!output_parse_name("web.123.17.prof", &pid, &t, &temp));
	ck_assert(!output_parse_name("web.x123.1700000000.prof", &pid, &t, &temp));
	ck_assert(!output_parse_name("", &pid, &t, &temp));
}
END_TEST

/* Every name output.c gives by default, and the temporary name of each,
 * reads back as the same profile: the writer and retention agree. */
START_TEST(test_output_names_round_trip)
{
	static const char *const ids[] = { "prof", "pprof", "collapsed", "callgrind", "svg",
					   "icicle" };
	struct output_opts o = { .comm = "my server.1", .pid = 4242, .start_time = 1700000123 };
	uint32_t pid;
	uint64_t t;
	bool temp;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char *name = output_path(&o, ids[i]), *tmp;

		ck_assert_msg(name, "%s", ids[i]);
		ck_assert_msg(output_parse_name(name, &pid, &t, &temp), "%s", name);
		ck_assert(!temp);
		ck_assert_uint_eq(pid, 4242);
		ck_assert_uint_eq(t, 1700000123);
		tmp = output_temp_name(name, 0x123456789abcdefull + i);
		ck_assert_int_eq(tmp[0], '.');
		ck_assert_msg(output_parse_name(tmp, &pid, &t, &temp), "%s", tmp);
		ck_assert(temp);
		ck_assert_uint_eq(pid, 4242);
		ck_assert_uint_eq(t, 1700000123);
		free(tmp);
		/* In a directory, the temporary file is beside the file. */
		tmp = output_temp_name("/var/x/web.1.1700000000.prof", 7);
		ck_assert_int_eq(strncmp(tmp, "/var/x/.web.1.1700000000.prof.", 30), 0);
		ck_assert_uint_eq(strlen(tmp), 30 + OUTPUT_TEMP_RANDOM);
		free(tmp);
		free(name);
	}
}
END_TEST

/* Five profiles written 10 s apart (the oldest first), each 100 bytes. */
static void five(struct rfile *f, char names[][64], const char *ext)
{
	for (int i = 0; i < 5; i++) {
		snprintf(names[i], 64, "web.%d.%d.%s", 100 + i, 1700000000 + 10 * i, ext);
		f[i] = (struct rfile){ names[i], 100, 1700000000.0 + 10 * i + 1, false };
	}
}

START_TEST(test_retention_plan)
{
	struct rfile f[12];
	char names[12][64];
	struct keep k = { 0 };
	double now = 1700000100.0;

	/* No limits: nothing goes. */
	five(f, names, "prof");
	ck_assert_uint_eq(retention_plan(f, 5, &k, now), 0);
	/* MaxFiles 3: the two oldest go. */
	k.max_files = 3;
	ck_assert_uint_eq(retention_plan(f, 5, &k, now), 2);
	ck_assert(f[0].drop && f[1].drop && !f[2].drop && !f[3].drop && !f[4].drop);
	/* MaxBytes 250: two profiles fit. */
	k = (struct keep){ .max_bytes = 250 };
	ck_assert_uint_eq(retention_plan(f, 5, &k, now), 3);
	ck_assert(f[2].drop && !f[3].drop && !f[4].drop);
	/* The newest is kept even when alone it is over the limit. */
	k = (struct keep){ .max_bytes = 50 };
	ck_assert_uint_eq(retention_plan(f, 5, &k, now), 4);
	ck_assert(!f[4].drop);
	/* MaxAge 75 s: written at +1, +11, ... +41; now is +100, so the
	 * ages are 99, 89, 79, 69 and 59 s. */
	k = (struct keep){ .max_age = 75 };
	ck_assert_uint_eq(retention_plan(f, 5, &k, now), 3);
	ck_assert(f[0].drop && f[1].drop && f[2].drop && !f[3].drop);
	/* Even when every profile is too old, the newest stays. */
	k = (struct keep){ .max_age = 1 };
	ck_assert_uint_eq(retention_plan(f, 5, &k, now), 4);
	ck_assert(!f[4].drop);

	/* Two formats per profile: files of one profile go together, and
	 * MaxFiles counts files. Other files and fresh temporaries stay;
	 * a temporary left over for hours goes. */
	five(f, names, "prof");
	for (int i = 0; i < 5; i++) {
		snprintf(names[5 + i], 64, "web.%d.%d.svg", 100 + i, 1700000000 + 10 * i);
		f[5 + i] = (struct rfile){ names[5 + i], 100, f[i].mtime + 0.5, false };
	}
	f[10] = (struct rfile){ "README", 10, 1.0, false };
	f[11] = (struct rfile){ ".web.1.1600000000.prof.abcd1234", 10, now - 7200, false };
	k = (struct keep){ .max_files = 5 };
	ck_assert_uint_eq(retention_plan(f, 12, &k, now), 7);
	for (int i = 0; i < 5; i++) {
		ck_assert_msg(f[i].drop == (i < 3), "%s", f[i].name);
		ck_assert_msg(f[5 + i].drop == (i < 3), "%s", f[5 + i].name);
	}
	ck_assert(!f[10].drop);
	ck_assert(f[11].drop);
	f[11].mtime = now - 60;
	ck_assert_uint_eq(retention_plan(f, 12, &k, now), 6);
	ck_assert(!f[11].drop);
}
END_TEST

/* On a real directory: only regular files of ours with profile names. */
START_TEST(test_retention_apply)
{
	char dir[] = "/tmp/sprofd-ret-XXXXXX", path[256];
	struct keep k = { .max_files = 2 };
	struct timeval tv[2];
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/web.%d.%d.prof", dir, 100 + i, 1700000000 + i);
		fd = open(path, O_WRONLY | O_CREAT, 0640);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "x", 1), 1);
		close(fd);
		tv[0].tv_sec = tv[1].tv_sec = 1700000000 + i;
		tv[0].tv_usec = tv[1].tv_usec = 0;
		utimes(path, tv);
	}
	/* A symlink with a profile's name, and someone else's file. */
	snprintf(path, sizeof(path), "%s/web.1.1600000000.prof", dir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof(path), "%s/web.2.1600000000.prof", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	close(fd);
	tv[0].tv_sec = tv[1].tv_sec = 1600000000;
	utimes(path, tv);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(retention_apply(dir, &k), geteuid() == 0 ? 3 : 4);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/web.%d.%d.prof", dir, 100 + i, 1700000000 + i);
		ck_assert_int_eq(access(path, F_OK) == 0, i >= 3);
	}
	snprintf(path, sizeof(path), "%s/web.1.1600000000.prof", dir);
	ck_assert_int_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/web.2.1600000000.prof", dir);
	unlink(path);
	for (int i = 3; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/web.%d.%d.prof", dir, 100 + i, 1700000000 + i);
		unlink(path);
	}
	/* A directory others can write into is left alone. */
	chmod(dir, 0777);
	ck_assert_int_eq(retention_apply(dir, &k), -1);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_budget_stride)
{
	/* No budget: full rate. */
	ck_assert_uint_eq(budget_stride(4, 50, 0, 100), 1);
	/* Over: enough to land at 80% of the budget (10% at stride 1 with a 5%
	 * budget: 10 / 4 -> 3). */
	ck_assert_uint_eq(budget_stride(1, 10, 5, 100), 3);
	ck_assert_uint_eq(budget_stride(3, 6, 5, 100), 5);
	/* Barely over still lowers. */
	ck_assert_uint_eq(budget_stride(2, 5.01, 5, 100), 3);
	/* Never below 1 Hz: the stride is at most the rate. */
	ck_assert_uint_eq(budget_stride(1, 1000, 1, 100), 100);
	ck_assert_uint_eq(budget_stride(100, 1000, 1, 100), 100);
	/* Within budget: unchanged; well under: back up, halving the stride. */
	ck_assert_uint_eq(budget_stride(4, 3, 5, 100), 4);
	ck_assert_uint_eq(budget_stride(4, 1.9, 5, 100), 2);
	ck_assert_uint_eq(budget_stride(1, 0.1, 5, 100), 1);
}
END_TEST

START_TEST(test_proc_read_self)
{
	struct proc_info pi;

	ck_assert_int_eq(proc_read(getpid(), &pi), 0);
	ck_assert_int_eq(pi.pid, getpid());
	ck_assert_uint_eq(pi.uid[0], getuid());
	ck_assert_uint_eq(pi.uid[1], geteuid());
	ck_assert_uint_eq(pi.owner, geteuid());
	ck_assert_uint_gt(pi.start, 0);
	ck_assert(!pi.kthread);
	ck_assert_int_eq(pi.state, 'R');
	{
		char comm[64] = "";
		FILE *f = fopen("/proc/self/comm", "r");
		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(fgets(comm, sizeof(comm), f));
		fclose(f);
		comm[strcspn(comm, "\n")] = '\0';
		ck_assert_str_eq(pi.comm, comm);
	}
	ck_assert_int_eq(proc_read(0, &pi), -1);
}
END_TEST

/* Waits until pid runs /bin/sleep (after its exec). */
static void wait_exec(pid_t pid)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 500; i++) {
		ssize_t n = readlink(path, buf, sizeof(buf) - 1);
		if (n > 0 && (buf[n] = '\0', strstr(buf, "sleep")))
			return;
		usleep(10000);
	}
}

/* Processes named by command line, newest or all, and never sprofd's own. */
START_TEST(test_schedule_resolve)
{
	struct config *c = parse("Target one\nProcess cmdline \"^sleep 1234\\\\.5$\"\n"
				 "Target all\nProcess cmdline \"^sleep 1234\\\\.5$\"\nSelect all\n"
				 "Target me\nProcess pid 1\n");
	char why[256];
	pid_t kids[2], *pids, self;
	size_t n;

	ck_assert_ptr_nonnull(c);
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			execl("/bin/sleep", "sleep", "1234.5", (char *)NULL);
			_exit(127);
		}
		wait_exec(kids[i]);
		/* Apart in start time (clock ticks), so "newest" is clear. */
		usleep(30000);
	}
	n = schedule_resolve(config_target(c, "one"), NULL, 0, &pids, why, sizeof(why));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(pids[0], kids[1]);
	free(pids);
	n = schedule_resolve(config_target(c, "all"), NULL, 0, &pids, why, sizeof(why));
	ck_assert_uint_eq(n, 2);
	ck_assert((pids[0] == kids[0] && pids[1] == kids[1]) ||
		  (pids[0] == kids[1] && pids[1] == kids[0]));
	free(pids);
	n = schedule_resolve(config_target(c, "all"), kids, 2, &pids, why, sizeof(why));
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_nonnull(strstr(why, "no process matches"));
	for (int i = 0; i < 2; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	self = 1;
	n = schedule_resolve(config_target(c, "me"), &self, 1, &pids, why, sizeof(why));
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(why, "PID 1 is sprofd's own");
	config_free(c);
}
END_TEST

/* With Children yes, a match descended from another match is in its tree:
 * only the root is named. */
START_TEST(test_schedule_resolve_children)
{
	struct config *c = parse("Target flat\nProcess cmdline \"1234\\\\.75\"\nSelect all\n"
				 "Target tree\nProcess cmdline \"1234\\\\.75\"\nSelect all\n"
				 "Children yes\n");
	char why[256];
	pid_t sh, sleeper, *pids = NULL;
	size_t n = 0;

	ck_assert_ptr_nonnull(c);
	sh = fork();
	if (sh == 0) {
		execl("/bin/sh", "sh", "-c", "sleep 1234.75 & wait", (char *)NULL);
		_exit(127);
	}
	/* The shell and its sleep both match once the sleep runs. */
	for (int i = 0; i < 300 && n < 2; i++) {
		free(pids);
		n = schedule_resolve(config_target(c, "flat"), NULL, 0, &pids, why, sizeof(why));
		if (n < 2)
			usleep(10000);
	}
	ck_assert_uint_eq(n, 2);
	sleeper = pids[0] == sh ? pids[1] : pids[0];
	free(pids);
	n = schedule_resolve(config_target(c, "tree"), NULL, 0, &pids, why, sizeof(why));
	kill(sleeper, SIGKILL);
	kill(sh, SIGKILL);
	waitpid(sh, NULL, 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(pids[0], sh);
	free(pids);
	config_free(c);
}
END_TEST

Suite *suite_config(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, quiet_setup, quiet_teardown);
	tcase_add_test(tc, test_config_defaults);
	tcase_add_test(tc, test_config_inherit);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_config_all_errors);
	tcase_add_test(tc, test_config_print_roundtrip);
	tcase_add_test(tc, test_config_time);
	tcase_add_test(tc, test_config_load_mode);
	suite_add_tcase(s, tc);
	return s;
}

Suite *suite_schedule(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("policies");

	tcase_add_checked_fixture(tc, quiet_setup, quiet_teardown);
	tcase_add_test(tc, test_schedule_next);
	tcase_add_test(tc, test_retention_names);
	tcase_add_test(tc, test_output_names_round_trip);
	tcase_add_test(tc, test_retention_plan);
	tcase_add_test(tc, test_retention_apply);
	tcase_add_test(tc, test_budget_stride);
	tcase_add_test(tc, test_proc_read_self);
	tcase_add_test(tc, test_schedule_resolve);
	tcase_add_test(tc, test_schedule_resolve_children);
	suite_add_tcase(s, tc);
	return s;
}
