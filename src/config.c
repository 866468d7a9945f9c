/* config.c: parsing, defaults, checks and printing of sprofd.conf (see
 * config.h); text in, a config out, no file system (config_load.c reads
 * the file and checks the places it names).
 *
 * One table lists every keyword with where it may appear, its value type,
 * range and default. A section (the global one, or a target's) holds the
 * raw values it set and the lines they came from; a target's effective
 * settings are its own values, else the global ones, else the defaults,
 * which are parsed by the same code as the file so -t prints them alike. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"
#include "sprofd.h"
#include "split.h"
#include "util.h"

#define MAX_TOKENS 8

enum kw_id {
	K_CONTROLSOCKET, K_PIDFILE, K_LOGLEVEL, K_MAXSESSIONS, K_TOTALCPUBUDGET,
	K_ONDEMANDMAXDURATION,
	K_PROCESS, K_USER, K_SELECT,
	K_FREQUENCY, K_DURATION, K_INTERVAL, K_JITTER, K_MODE, K_MAXDEPTH, K_FORMATS,
	K_OUTPUTDIR, K_MAXFILES, K_MAXBYTES, K_MAXAGE, K_CPUBUDGET, K_SPLIT, K_CHILDREN, K_PYTHON,
	K_COUNT
};

enum scope { SC_GLOBAL = 1, SC_TARGET = 2, SC_BOTH = 3 };

enum vtype { V_PATH, V_DIR, V_ENUM, V_UINT, V_TIME, V_SIZE, V_PERCENT, V_FORMATS, V_PROCESS,
	     V_USER, V_SPLIT };

struct kw {
	const char *name;
	enum scope scope;
	enum vtype type;
	double min, max;
	bool none_ok;              /* "none" is allowed (as NULL or 0) */
	const char *const *choices;
	const char *def;           /* default, in file syntax; NULL: unset */
};

static const char *const levels[] = { "error", "warning", "info", "debug", NULL };
static const char *const selects[] = { "newest", "all", NULL };
static const char *const kinds[] = { "pid", "pidfile", "exe", "cmdline", NULL };
static const char *const yes_no[] = { "no", "yes", NULL };

static const struct kw table[K_COUNT] = {
	[K_CONTROLSOCKET] = { "ControlSocket", SC_GLOBAL, V_PATH, 0, 0, true, NULL,
			      CONFIG_DEFAULT_SOCKET },
	[K_PIDFILE] = { "PidFile", SC_GLOBAL, V_PATH, 0, 0, false, NULL, "/run/sprofd.pid" },
	[K_LOGLEVEL] = { "LogLevel", SC_GLOBAL, V_ENUM, 0, 0, false, levels, "info" },
	[K_MAXSESSIONS] = { "MaxSessions", SC_GLOBAL, V_UINT, 1, 1024, false, NULL, "8" },
	[K_TOTALCPUBUDGET] = { "TotalCPUBudget", SC_GLOBAL, V_PERCENT, 0, 100, true, NULL, "10%" },
	[K_ONDEMANDMAXDURATION] = { "OnDemandMaxDuration", SC_GLOBAL, V_TIME, 0.001, 86400, false,
				    NULL, "5m" },
	[K_PROCESS] = { "Process", SC_TARGET, V_PROCESS, 0, 0, false, kinds, NULL },
	[K_USER] = { "User", SC_TARGET, V_USER, 0, 0, false, NULL, NULL },
	[K_SELECT] = { "Select", SC_TARGET, V_ENUM, 0, 0, false, selects, "newest" },
	[K_FREQUENCY] = { "Frequency", SC_BOTH, V_UINT, SPROFD_HZ_MIN, SPROFD_HZ_MAX, false, NULL,
			  "100" },
	[K_DURATION] = { "Duration", SC_BOTH, V_TIME, 0.001, 86400, false, NULL, "10s" },
	[K_INTERVAL] = { "Interval", SC_BOTH, V_TIME, 0.1, 30 * 86400, false, NULL, "5m" },
	/* Unset: a tenth of the interval. */
	[K_JITTER] = { "Jitter", SC_BOTH, V_TIME, 0, 30 * 86400, false, NULL, NULL },
	[K_MODE] = { "Mode", SC_BOTH, V_ENUM, 0, 0, false, sample_mode_names, "cpu" },
	[K_MAXDEPTH] = { "MaxDepth", SC_BOTH, V_UINT, 1, SPROFD_DEPTH_MAX, false, NULL, "256" },
	[K_FORMATS] = { "Formats", SC_BOTH, V_FORMATS, 0, 0, false, NULL, "prof" },
	[K_OUTPUTDIR] = { "OutputDir", SC_BOTH, V_DIR, 0, 0, false, NULL, "/var/lib/sprofd/%t" },
	[K_MAXFILES] = { "MaxFiles", SC_BOTH, V_UINT, 0, 1e9, true, NULL, "1000" },
	[K_MAXBYTES] = { "MaxBytes", SC_BOTH, V_SIZE, 0, 1e15, true, NULL, "1G" },
	[K_MAXAGE] = { "MaxAge", SC_BOTH, V_TIME, 0, 3650 * 86400.0, true, NULL, "30d" },
	[K_CPUBUDGET] = { "CPUBudget", SC_BOTH, V_PERCENT, 0, 100, true, NULL, "none" },
	/* flask, django or a function (split.h); none: not split. */
	[K_SPLIT] = { "Split", SC_BOTH, V_SPLIT, 0, 0, true, NULL, "none" },
	[K_CHILDREN] = { "Children", SC_BOTH, V_ENUM, 0, 0, false, yes_no, "no" },
	[K_PYTHON] = { "Python", SC_BOTH, V_ENUM, 0, 0, false, yes_no, "yes" },
};

/* One value as parsed: a number (enum index, count, seconds, bytes,
 * percent) or a string (path, list, pattern), and where it came from. */
struct val {
	bool set;
	bool tried;        /* given, but refused: say nothing more about it */
	int line;          /* 0: a default */
	double num;
	char *str;         /* owned; NULL for "none" */
	int kind;          /* V_PROCESS: enum proc_kind */
};

struct section {
	char *name;        /* NULL for the global section */
	int line;
	bool bogus;        /* its Target line was refused: lines go nowhere */
	struct val v[K_COUNT];
};

struct parser {
	const char *path;
	int errors;
	struct section global;
	struct section *targets;
	size_t ntargets, cap;
};

/* Logs one error as FILE:LINE: reason, and counts it. */
static void __attribute__((format(printf, 3, 4)))
perr(struct parser *p, int line, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (line > 0)
		log_err("%s:%d: %s", p->path, line, buf);
	else
		log_err("%s: %s", p->path, buf);
	p->errors++;
}

/* Frees a value and marks it unset. */
static void val_clear(struct val *v)
{
	free(v->str);
	memset(v, 0, sizeof(*v));
}

/* Frees what a section holds. */
static void section_clear(struct section *s)
{
	for (int k = 0; k < K_COUNT; k++)
		val_clear(&s->v[k]);
	free(s->name);
	s->name = NULL;
}

/* Reads a plain decimal number (digits and one point) at *p and moves *p
 * past it; strtod alone would also take 1e3, 0x10 or inf. */
static int parse_decimal(const char **p, double *out)
{
	size_t n = strspn(*p, "0123456789."), i;
	char num[32], *end;

	for (i = 0; i < n && (*p)[i] == '.'; i++)
		;
	if (n == 0 || n >= sizeof(num) || i == n)
		return -1;
	memcpy(num, *p, n);
	num[n] = '\0';
	errno = 0;
	*out = strtod(num, &end);
	if (errno || *end || !isfinite(*out))
		return -1;
	*p += n;
	return 0;
}

int config_parse_time(const char *s, double *out)
{
	double total = 0;
	const char *p = s;

	if (!*s)
		return -1;
	while (*p) {
		bool first = p == s;
		double v, mult;

		if (parse_decimal(&p, &v) < 0)
			return -1;
		if (strncmp(p, "ms", 2) == 0) {
			mult = 0.001;
			p += 2;
		} else if (*p == 's' || *p == 'm' || *p == 'h' || *p == 'd') {
			mult = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : 86400;
			p++;
		} else if (*p == '\0' && first) {
			mult = 1;   /* a bare number: seconds */
		} else {
			return -1;
		}
		total += v * mult;
	}
	*out = total;
	return 0;
}

void config_format_time(double secs, char *buf, size_t len)
{
	static const struct { double secs; const char *unit; } units[] = {
		{ 86400, "d" }, { 3600, "h" }, { 60, "m" }, { 1, "s" }, { 0.001, "ms" },
	};
	char dec[48];
	size_t end;

	/* First to the nanosecond, as the decimals below would show it, so
	 * that what is printed reads back as itself; but never down to 0,
	 * which reads as "none" where that is allowed. */
	if (secs > 0 && secs < 1e-9)
		secs = 1e-9;
	if (secs < 1e15) {
		snprintf(dec, sizeof(dec), "%.9f", secs);
		secs = strtod(dec, NULL);
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		double n = secs / units[i].secs, whole, tol;
		if (!(n >= 1 && n < 1e18))
			continue;
		/* Rounded by hand: sprofd links no libm. Large counts are whole
		 * within a relative error: 9h11ms is 32400012 ms only roughly in
		 * binary. */
		whole = (double)(uint64_t)(n + 0.5);
		tol = n > 1000 ? 1e-12 * n : 1e-9;
		if (n - whole < tol && whole - n < tol) {
			snprintf(buf, len, "%.0f%s", whole, units[i].unit);
			return;
		}
	}
	/* Decimals: %g would round to six digits, or write an exponent,
	 * which config_parse_time refuses. */
	if (len == 0)
		return;
	snprintf(buf, len, "%.9f", secs);
	end = strlen(buf);
	while (end > 1 && buf[end - 1] == '0')
		end--;
	if (end > 1 && buf[end - 1] == '.')
		end--;
	snprintf(buf + end, len - end, "s");
}

/* Parses a byte count with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *s, double *out)
{
	const char *end = s;
	double v, mult = 1;

	if (parse_decimal(&end, &v) < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K': mult = 1024; end++; break;
	case 'M': mult = 1024 * 1024; end++; break;
	case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	/* 2^64 and above have no whole count, and the cast would be undefined. */
	if (*end || v * mult >= 18446744073709551616.0)
		return -1;
	*out = (double)(uint64_t)(v * mult);
	return 0;
}

/* A byte count in the largest unit that divides it (so it reads back the same). */
static void format_size(double bytes, char *buf, size_t len)
{
	static const char units[] = "TGMK";
	uint64_t b = (uint64_t)bytes;

	for (int i = 0; units[i]; i++) {
		uint64_t m = 1ull << (10 * (4 - i));
		if (b >= m && b % m == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(b / m), units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)b);
}

/* Parses a whole number. */
static int parse_uint(const char *s, double *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = (double)v;
	return 0;
}

/* Parses "5", "5%" or "0.5%". */
static int parse_percent(const char *s, double *out)
{
	const char *end = s;
	double v;

	if (parse_decimal(&end, &v) < 0)
		return -1;
	if (*end == '%')
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

/* Index of s in a NULL-terminated list, ignoring case, or -1. */
static int choice(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcasecmp(list[i], s) == 0)
			return i;
	return -1;
}

/* "a, b or c" for messages. */
static void list_choices(const char *const *list, char *buf, size_t len)
{
	size_t n = 0, used = 0;

	while (list[n])
		n++;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
					 i == 0 ? "" : i == n - 1 ? " or " : ", ", list[i]);
}

/* Checks the %-tokens of an OutputDir: %t (target name) and %%. */
static int check_tokens(const char *s, char *why, size_t len)
{
	for (const char *p = s; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 't' || p[1] == '%') {
			p++;
			continue;
		}
		snprintf(why, len, "unknown token %%%c in '%s' (known: %%t for the target's "
			 "name, %%%% for a %%)", p[1] ? p[1] : ' ', s);
		return -1;
	}
	return 0;
}

/* Expands %t and %% in an OutputDir. */
static char *expand_dir(const char *s, const char *target)
{
	size_t cap = strlen(s) + 1, n = 0;
	char *out;

	/* Room for the name at every %t, however many there are. */
	for (const char *p = strstr(s, "%t"); p; p = strstr(p + 1, "%t"))
		cap += strlen(target);
	out = xmalloc(cap);

	for (const char *p = s; *p; p++) {
		if (p[0] == '%' && p[1] == 't') {
			n += (size_t)snprintf(out + n, cap - n, "%s", target);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			out[n++] = '%';
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return out;
}

/* Parses the arguments of one keyword into v. Returns 0, or -1 with a
 * reason in why. */
static int parse_value(const struct kw *kw, char **args, int nargs, struct val *v, char *why,
		       size_t len)
{
	const char *a = args[0];
	char list[128];

	if (nargs != (kw->type == V_PROCESS ? 2 : 1)) {
		if (kw->type == V_PROCESS)
			snprintf(why, len, "%s takes a kind (pid, pidfile, exe or cmdline) and a value; "
				 "quote a value that has spaces", kw->name);
		else
			snprintf(why, len, "%s takes one value%s", kw->name,
				 nargs ? "; quote a value that has spaces" : "");
		return -1;
	}
	if (kw->none_ok && strcasecmp(a, "none") == 0) {
		v->num = 0;
		v->str = NULL;
		return 0;
	}
	switch (kw->type) {
	case V_PATH:
	case V_DIR:
		if (a[0] != '/') {
			snprintf(why, len, "%s must be an absolute path, not '%s'", kw->name, a);
			return -1;
		}
		if (kw->type == V_DIR && check_tokens(a, why, len) < 0)
			return -1;
		v->str = xstrdup(a);
		return 0;
	case V_ENUM: {
		int i = choice(kw->choices, a);
		if (i < 0) {
			list_choices(kw->choices, list, sizeof(list));
			snprintf(why, len, "%s must be %s, not '%s'", kw->name, list, a);
			return -1;
		}
		v->num = i;
		return 0;
	}
	case V_UINT:
		if (parse_uint(a, &v->num) < 0 || v->num < kw->min || v->num > kw->max) {
			snprintf(why, len, "%s must be a whole number from %g to %g%s, not '%s'",
				 kw->name, kw->min, kw->max, kw->none_ok ? " (or none)" : "", a);
			return -1;
		}
		return 0;
	case V_TIME: {
		char lo[32], hi[32];
		if (config_parse_time(a, &v->num) == 0 && v->num >= kw->min && v->num <= kw->max)
			return 0;
		config_format_time(kw->min, lo, sizeof(lo));
		config_format_time(kw->max, hi, sizeof(hi));
		snprintf(why, len, "%s must be a time from %s to %s%s, like 30s, 5m, 1h30m or 2d, "
			 "not '%s'", kw->name, kw->min > 0 ? lo : "0", hi,
			 kw->none_ok ? " (or none)" : "", a);
		return -1;
	}
	case V_SIZE:
		if (parse_size(a, &v->num) < 0 || v->num > kw->max) {
			snprintf(why, len, "%s must be a size in bytes, like 500M or 2G (K, M, G, T are "
				 "powers of 1024)%s, not '%s'", kw->name,
				 kw->none_ok ? ", or none" : "", a);
			return -1;
		}
		return 0;
	case V_PERCENT:
		if (parse_percent(a, &v->num) < 0 || v->num <= 0 || v->num > kw->max) {
			snprintf(why, len, "%s must be a percentage of one CPU above 0 and at most "
				 "%g, like 5%% or 0.5%%%s, not '%s'", kw->name, kw->max,
				 kw->none_ok ? " (or none)" : "", a);
			return -1;
		}
		return 0;
	case V_SPLIT: {
		char reason[160];
		struct split_rule *r = split_rule_new(a, reason, sizeof(reason));
		if (!r) {
			snprintf(why, len, "Split %s: %s", a, reason);
			return -1;
		}
		split_rule_free(r);
		v->str = xstrdup(a);
		return 0;
	}
	case V_FORMATS: {
		char reason[256];
		if (output_check_formats(a, reason, sizeof(reason)) < 0) {
			snprintf(why, len, "Formats %s: %s", a, reason);
			return -1;
		}
		v->str = xstrdup(a);
		return 0;
	}
	case V_USER: {
		struct passwd *pw = getpwnam(a);
		double uid;
		if (pw)
			v->num = pw->pw_uid;
		else if (parse_uint(a, &uid) == 0 && uid < 4294967295.0)
			v->num = uid;
		else {
			snprintf(why, len, "no user '%s' on this system", a);
			return -1;
		}
		v->str = xstrdup(a);
		return 0;
	}
	case V_PROCESS: {
		const char *arg = args[1];
		int k = choice(kinds, a);
		if (k < 0) {
			snprintf(why, len, "Process kind must be pid, pidfile, exe or cmdline, not '%s'",
				 a);
			return -1;
		}
		if (k == PROC_PID) {
			double pid;
			if (parse_uint(arg, &pid) < 0 || pid < 1 || pid > 4194304) {
				snprintf(why, len, "Process pid needs a process ID, not '%s'", arg);
				return -1;
			}
			v->num = pid;
		} else if ((k == PROC_PIDFILE || k == PROC_EXE) && arg[0] != '/') {
			snprintf(why, len, "Process %s needs an absolute path, not '%s'", kinds[k], arg);
			return -1;
		} else if (k == PROC_CMDLINE) {
			regex_t re;
			int rc = regcomp(&re, arg, REG_EXTENDED | REG_NOSUB);
			if (rc != 0) {
				char msg[128];
				regerror(rc, &re, msg, sizeof(msg));
				snprintf(why, len, "Process cmdline '%s': %s", arg, msg);
				return -1;
			}
			regfree(&re);
		}
		v->kind = k;
		v->str = xstrdup(arg);
		return 0;
	}
	}
	snprintf(why, len, "internal error: no parser for %s", kw->name);
	return -1;
}

/* Splits a line into tokens, in place: words separated by blanks, or
 * "quoted strings" in which \" and \\ stand for " and \. A # outside quotes
 * starts a comment. Returns the count, or -1 with a reason. */
static int tokenize(char *line, char **tok, int max, char *why, size_t len)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *out;

		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == '\0' || *p == '#')
			return n;
		if (n == max) {
			snprintf(why, len, "too many words on one line");
			return -1;
		}
		tok[n++] = out = p;
		if (*p == '"') {
			p++;
			for (;;) {
				if (*p == '\0') {
					snprintf(why, len, "unterminated quoted string");
					return -1;
				}
				if (*p == '"') {
					p++;
					break;
				}
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				*out++ = *p++;
			}
			if (*p && *p != ' ' && *p != '\t' && *p != '\r') {
				snprintf(why, len, "a quoted string must be followed by a blank");
				return -1;
			}
		} else {
			while (*p && *p != ' ' && *p != '\t' && *p != '\r')
				*out++ = *p++;
		}
		if (*p)
			p++;
		*out = '\0';
	}
}

/* Whether a target name is usable as a file name component and in logs. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
			return false;
	return true;
}

/* The table entry of a keyword (any case), or NULL. */
static const struct kw *find_kw(const char *name, enum kw_id *id)
{
	for (int k = 0; k < K_COUNT; k++) {
		if (strcasecmp(table[k].name, name) == 0) {
			*id = (enum kw_id)k;
			return &table[k];
		}
	}
	return NULL;
}

/* Handles one non-empty line. */
static void parse_line(struct parser *p, int line, char **tok, int n)
{
	struct section *sec = p->ntargets ? &p->targets[p->ntargets - 1] : &p->global;
	const struct kw *kw;
	enum kw_id id;
	struct val v;
	char why[512];

	if (strcasecmp(tok[0], "Target") == 0) {
		bool bogus = true;

		if (n != 2)
			perr(p, line, "Target takes one name");
		else if (!valid_name(tok[1]))
			perr(p, line, "target name '%s' must be 1 to 64 letters, digits, '_', '-' or "
			     "'.', not starting with '.' or '-'", tok[1]);
		else
			bogus = false;
		for (size_t i = 0; !bogus && i < p->ntargets; i++) {
			if (!p->targets[i].bogus && strcmp(p->targets[i].name, tok[1]) == 0) {
				perr(p, line, "target '%s' is already defined at line %d", tok[1],
				     p->targets[i].line);
				bogus = true;
			}
		}
		/* A refused Target line still starts a section, so that the
		 * lines after it are checked but not blamed on another target. */
		xgrow((void **)&p->targets, &p->cap, p->ntargets + 1, sizeof(*p->targets));
		sec = &p->targets[p->ntargets++];
		memset(sec, 0, sizeof(*sec));
		sec->name = xstrdup(n >= 2 ? tok[1] : "?");
		sec->line = line;
		sec->bogus = bogus;
		return;
	}
	kw = find_kw(tok[0], &id);
	if (!kw) {
		perr(p, line, "unknown keyword '%s'", tok[0]);
		return;
	}
	if (sec->name && !(kw->scope & SC_TARGET)) {
		perr(p, line, "%s is a global setting: move it above the first Target line "
		     "(here it is in target '%s')", kw->name, sec->name);
		return;
	}
	if (!sec->name && !(kw->scope & SC_GLOBAL)) {
		perr(p, line, "%s belongs to a target: put it after a 'Target NAME' line", kw->name);
		return;
	}
	if (sec->v[id].set || sec->v[id].tried) {
		perr(p, line, "%s is given twice%s%s (first at line %d)", kw->name,
		     sec->name ? " in target " : "", sec->name ? sec->name : "", sec->v[id].line);
		return;
	}
	memset(&v, 0, sizeof(v));
	if (parse_value(kw, tok + 1, n - 1, &v, why, sizeof(why)) < 0) {
		val_clear(&v);
		perr(p, line, "%s", why);
		sec->v[id].tried = true;
		sec->v[id].line = line;
		return;
	}
	v.set = true;
	v.line = line;
	sec->v[id] = v;
}

/* The effective value of keyword k for target t: its own, else global,
 * else the default (parsed here, so it is never wrong in type). */
static const struct val *effective(struct parser *p, struct section *t, enum kw_id k,
				   struct val *scratch)
{
	char why[256], buf[256];
	char *args[2];

	memset(scratch, 0, sizeof(*scratch));
	if (t && t->v[k].set)
		return &t->v[k];
	if (p->global.v[k].set)
		return &p->global.v[k];
	if (table[k].def) {
		snprintf(buf, sizeof(buf), "%s", table[k].def);
		args[0] = buf;
		if (parse_value(&table[k], args, 1, scratch, why, sizeof(why)) < 0)
			log_err("internal error: bad default for %s: %s", table[k].name, why);
		scratch->set = true;
	}
	/* A default counts as set on the Target line, for messages. */
	scratch->line = t ? t->line : 0;
	return scratch;
}

/* Fills and checks target i from its section. */
static void build_target(struct parser *p, struct config *c, size_t i)
{
	struct section *sec = &p->targets[i];
	struct target_conf *t = &c->targets[i];
	struct val sc;
	const struct val *v;
	int dur_line, int_line, jit_line;

	t->name = xstrdup(sec->name);
	t->line = sec->line;
	if (!sec->v[K_PROCESS].set) {
		if (!sec->v[K_PROCESS].tried)
			perr(p, sec->line, "target '%s' has no Process line: say which processes to profile "
			     "(Process pid|pidfile|exe|cmdline VALUE)", sec->name);
	} else {
		v = &sec->v[K_PROCESS];
		t->kind = (enum proc_kind)v->kind;
		t->arg = xstrdup(v->str);
		if (t->kind == PROC_PID)
			t->pid = (pid_t)v->num;
		if (t->kind == PROC_CMDLINE &&
		    regcomp(&t->re, t->arg, REG_EXTENDED | REG_NOSUB) == 0)
			t->has_re = true;
	}
	if (sec->v[K_USER].set) {
		t->has_user = true;
		t->uid = (uid_t)sec->v[K_USER].num;
		t->user = xstrdup(sec->v[K_USER].str);
	}
	t->select = (enum proc_select)effective(p, sec, K_SELECT, &sc)->num;
	val_clear(&sc);
	t->hz = (unsigned)effective(p, sec, K_FREQUENCY, &sc)->num;
	val_clear(&sc);
	v = effective(p, sec, K_DURATION, &sc);
	t->duration = v->num;
	dur_line = v->line;
	val_clear(&sc);
	v = effective(p, sec, K_INTERVAL, &sc);
	t->interval = v->num;
	int_line = v->line;
	val_clear(&sc);
	v = effective(p, sec, K_JITTER, &sc);
	t->jitter = v->set ? v->num : t->interval / 10;
	jit_line = v->line;
	val_clear(&sc);
	t->mode = (enum sample_mode)effective(p, sec, K_MODE, &sc)->num;
	val_clear(&sc);
	t->children = effective(p, sec, K_CHILDREN, &sc)->num != 0;
	val_clear(&sc);
	t->max_depth = (int)effective(p, sec, K_MAXDEPTH, &sc)->num;
	val_clear(&sc);
	t->python = effective(p, sec, K_PYTHON, &sc)->num != 0;
	val_clear(&sc);
	t->formats = xstrdup(effective(p, sec, K_FORMATS, &sc)->str);
	val_clear(&sc);
	t->output_dir = expand_dir(effective(p, sec, K_OUTPUTDIR, &sc)->str, t->name);
	val_clear(&sc);
	t->keep.max_files = (uint64_t)effective(p, sec, K_MAXFILES, &sc)->num;
	val_clear(&sc);
	t->keep.max_bytes = (uint64_t)effective(p, sec, K_MAXBYTES, &sc)->num;
	val_clear(&sc);
	t->keep.max_age = effective(p, sec, K_MAXAGE, &sc)->num;
	val_clear(&sc);
	t->cpu_budget = effective(p, sec, K_CPUBUDGET, &sc)->num;
	val_clear(&sc);
	v = effective(p, sec, K_SPLIT, &sc);
	t->split = v->str ? xstrdup(v->str) : NULL;
	val_clear(&sc);

	if (t->duration >= t->interval) {
		char d[32], iv[32];
		config_format_time(t->duration, d, sizeof(d));
		config_format_time(t->interval, iv, sizeof(iv));
		perr(p, dur_line > int_line ? dur_line : int_line,
		     "target '%s': Duration %s must be shorter than Interval %s", t->name, d, iv);
	}
	if (t->jitter >= t->interval) {
		char j[32], iv[32];
		config_format_time(t->jitter, j, sizeof(j));
		config_format_time(t->interval, iv, sizeof(iv));
		perr(p, jit_line > int_line ? jit_line : int_line,
		     "target '%s': Jitter %s must be shorter than Interval %s", t->name, j, iv);
	}
	for (size_t j = 0; j < i; j++) {
		if (strcmp(c->targets[j].output_dir, t->output_dir) == 0) {
			int line = sec->v[K_OUTPUTDIR].set ? sec->v[K_OUTPUTDIR].line : sec->line;
			perr(p, line, "targets '%s' and '%s' (line %d) both write to %s: each target "
			     "needs a directory of its own, since retention removes the oldest "
			     "profiles there", t->name, c->targets[j].name, c->targets[j].line,
			     t->output_dir);
			break;
		}
	}
}

struct config *config_parse(const char *path, const char *text, size_t len)
{
	struct parser p;
	struct config *c = xcalloc(1, sizeof(*c));
	struct val sc;
	const char *s = text, *end = text + len;
	int line = 0;

	memset(&p, 0, sizeof(p));
	p.path = path;
	c->path = xstrdup(path);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		char *buf, *tok[MAX_TOKENS], why[128];
		int ntok;

		line++;
		if (memchr(s, '\0', n)) {
			perr(&p, line, "the line holds a NUL byte");
		} else {
			buf = xmalloc(n + 1);
			memcpy(buf, s, n);
			buf[n] = '\0';
			ntok = tokenize(buf, tok, MAX_TOKENS, why, sizeof(why));
			if (ntok < 0)
				perr(&p, line, "%s", why);
			else if (ntok > 0)
				parse_line(&p, line, tok, ntok);
			free(buf);
		}
		s += n + (nl ? 1 : 0);
	}

	c->control_socket = effective(&p, NULL, K_CONTROLSOCKET, &sc)->str;
	c->control_socket = c->control_socket ? xstrdup(c->control_socket) : NULL;
	val_clear(&sc);
	c->pidfile = xstrdup(effective(&p, NULL, K_PIDFILE, &sc)->str);
	val_clear(&sc);
	c->log_level = (enum log_level)effective(&p, NULL, K_LOGLEVEL, &sc)->num;
	val_clear(&sc);
	c->max_sessions = (unsigned)effective(&p, NULL, K_MAXSESSIONS, &sc)->num;
	val_clear(&sc);
	c->total_cpu_budget = effective(&p, NULL, K_TOTALCPUBUDGET, &sc)->num;
	val_clear(&sc);
	c->ondemand_max_duration = effective(&p, NULL, K_ONDEMANDMAXDURATION, &sc)->num;
	val_clear(&sc);
	/* Refused sections only matter for their errors, already counted. */
	for (size_t i = 0; i < p.ntargets; i++) {
		if (p.targets[i].bogus) {
			section_clear(&p.targets[i]);
			memmove(&p.targets[i], &p.targets[i + 1], (p.ntargets - i - 1) * sizeof(*p.targets));
			p.ntargets--;
			i--;
		}
	}
	c->ntargets = p.ntargets;
	c->targets = xcalloc(p.ntargets ? p.ntargets : 1, sizeof(*c->targets));
	for (size_t i = 0; i < p.ntargets; i++)
		build_target(&p, c, i);

	for (size_t i = 0; i < p.ntargets; i++)
		section_clear(&p.targets[i]);
	free(p.targets);
	section_clear(&p.global);
	if (p.errors) {
		config_free(c);
		return NULL;
	}
	return c;
}

/* Prints a value so that the parser reads it back the same. */
static void print_quoted(FILE *f, const char *s)
{
	bool plain = *s != '\0' && *s != '"';

	/* Anything that ends a word, starts a comment or a quoted string. */
	for (const char *p = s; *p && plain; p++)
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '#' || *p == '"' || *p == '\\')
			plain = false;
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

/* Prints "KEY TIME" (or "KEY none" for 0 where that means no limit). */
static void print_time(FILE *f, const char *key, double secs, bool none_ok)
{
	char buf[32];

	if (none_ok && secs == 0) {
		fprintf(f, "%s none\n", key);
		return;
	}
	config_format_time(secs, buf, sizeof(buf));
	fprintf(f, "%s %s\n", key, buf);
}

/* Prints "KEY N%", or "KEY none" for no budget. */
static void print_percent(FILE *f, const char *indent, const char *key, double pct)
{
	if (pct == 0)
		fprintf(f, "%s%s none\n", indent, key);
	else
		fprintf(f, "%s%s %g%%\n", indent, key, pct);
}

void config_print(const struct config *c, FILE *f)
{
	char buf[64];

	fprintf(f, "# effective settings of %s\n", c->path);
	fputs("ControlSocket ", f);
	print_quoted(f, c->control_socket ? c->control_socket : "none");
	fputs("\nPidFile ", f);
	print_quoted(f, c->pidfile);
	fprintf(f, "\nLogLevel %s\n", levels[c->log_level]);
	fprintf(f, "MaxSessions %u\n", c->max_sessions);
	print_percent(f, "", "TotalCPUBudget", c->total_cpu_budget);
	print_time(f, "OnDemandMaxDuration", c->ondemand_max_duration, false);
	for (size_t i = 0; i < c->ntargets; i++) {
		const struct target_conf *t = &c->targets[i];

		fprintf(f, "\nTarget %s\n\tProcess %s ", t->name, kinds[t->kind]);
		print_quoted(f, t->arg);
		fputc('\n', f);
		if (t->has_user) {
			fputs("\tUser ", f);
			print_quoted(f, t->user);
			fputc('\n', f);
		}
		fprintf(f, "\tSelect %s\n", selects[t->select]);
		fprintf(f, "\tFrequency %u\n", t->hz);
		print_time(f, "\tDuration", t->duration, false);
		print_time(f, "\tInterval", t->interval, false);
		print_time(f, "\tJitter", t->jitter, false);
		fprintf(f, "\tMode %s\n", sample_mode_name(t->mode));
		fprintf(f, "\tMaxDepth %d\n", t->max_depth);
		fprintf(f, "\tPython %s\n", yes_no[t->python]);
		fputs("\tFormats ", f);
		print_quoted(f, t->formats);
		fputs("\n\tOutputDir ", f);
		/* A literal % must stay a literal when read back. */
		{
			char *esc = xmalloc(strlen(t->output_dir) * 2 + 1), *o = esc;
			for (const char *p = t->output_dir; *p; p++) {
				if (*p == '%')
					*o++ = '%';
				*o++ = *p;
			}
			*o = '\0';
			print_quoted(f, esc);
			free(esc);
		}
		fputc('\n', f);
		if (t->keep.max_files)
			fprintf(f, "\tMaxFiles %llu\n", (unsigned long long)t->keep.max_files);
		else
			fputs("\tMaxFiles none\n", f);
		if (t->keep.max_bytes) {
			format_size((double)t->keep.max_bytes, buf, sizeof(buf));
			fprintf(f, "\tMaxBytes %s\n", buf);
		} else {
			fputs("\tMaxBytes none\n", f);
		}
		print_time(f, "\tMaxAge", t->keep.max_age, true);
		print_percent(f, "\t", "CPUBudget", t->cpu_budget);
		fputs("\tSplit ", f);
		print_quoted(f, t->split ? t->split : "none");
		fputc('\n', f);
	}
}

const struct target_conf *config_target(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->ntargets; i++)
		if (strcmp(c->targets[i].name, name) == 0)
			return &c->targets[i];
	return NULL;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ntargets; i++) {
		struct target_conf *t = &c->targets[i];
		free(t->name);
		free(t->arg);
		if (t->has_re)
			regfree(&t->re);
		free(t->user);
		free(t->formats);
		free(t->output_dir);
		free(t->split);
	}
	free(c->targets);
	free(c->path);
	free(c->control_socket);
	free(c->pidfile);
	free(c);
}
