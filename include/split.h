/* split.h: per-endpoint profiles (--split). A stage over resolved stacks,
 * after symbolizing: each sample whose stack passes through the split point
 * (Flask's dispatch, Django's request handler, or a function given by name
 * or pattern) belongs to the endpoint the split point called; the others are
 * "(outside requests)". It owns the rule, the endpoints and one profile per
 * endpoint, which it hangs on the profile of all samples (profile.split);
 * profile_free frees them with it.
 *
 * The core, split_classify, looks at one stack of frames and nothing else,
 * so the same rule applies to any stack, whichever process it comes from. */
#ifndef SPROFD_SPLIT_H
#define SPROFD_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profile.h"

struct split_rule;
struct stacktab;
struct strtab;

/* The name of the samples outside every endpoint. */
#define SPLIT_OUTSIDE "(outside requests)"

/* A rule from "flask", "django", or FUNCTION: a function name, or an
 * extended regular expression on "file:line(function)" as report --callers
 * takes it (a spec that is no valid expression matches by name only).
 * Returns NULL with a one-line reason in err if spec is empty. */
struct split_rule *split_rule_new(const char *spec, char *err, size_t errlen);
const char *split_rule_spec(const struct split_rule *r);
void split_rule_free(struct split_rule *r);

/* A frame as split_classify sees it. */
struct split_frame {
	const char *file;   /* declaration's file ("" if unknown) */
	int line;           /* declaration line */
	const char *name;   /* function (qualified name for Python 3.11+) */
	bool py;            /* a Python frame */
};

/* The endpoint of a stack of frames, outermost first: the index of the
 * frame the outermost split point called (for a Python split point, the
 * next Python frame; for flask and django, the first Python frame after
 * the dispatch outside the framework's packages and decorator plumbing),
 * or of the split point itself if there is none; -1 if no frame is a
 * split point. by_name (FUNCTION rules only): match names exactly, no
 * pattern. */
long split_classify(const struct split_rule *r, const struct split_frame *f, size_t n,
		    bool by_name);

/* One endpoint of a split profile. */
struct pendpoint {
	const char *name;     /* function name; SPLIT_OUTSIDE for eps[0] */
	const char *file;     /* its file and declaration line ("", 0 for eps[0]) */
	int line;
	const char *slug;     /* its part of file names: safe, unique; "" for eps[0] */
	uint64_t samples;
	double secs;          /* its seconds (CPU or wall, as the mode) */
	const char *top;      /* the function with the most self samples in it, or "" */
	uint64_t top_self;
	struct profile *prof; /* its samples alone; NULL for eps[0] (whose samples
			       * the profile of all samples has) and from
			       * split_from_edges */
};

struct psplit {
	char *spec;
	struct pendpoint *eps;   /* eps[0]: outside requests; then by samples */
	size_t n;
	uint32_t *of_stack;      /* per stack of the split profile: endpoint index */
	size_t nstacks;
	bool approx;             /* from call edges only (split_from_edges) */
	struct strtab *strs;
};

/* Splits p, the profile of st (built from it by profile_build with the same
 * lookup, meta and opts): classifies every stack of st and builds one
 * profile per endpoint; sets p->split. A FUNCTION rule matches by name if
 * some sampled function has that name, else by pattern (as report
 * --callers). Costs about one more profile_build. */
void split_apply(struct profile *p, const struct split_rule *r, const struct stacktab *st,
		 profile_lookup_fn lookup, void *ctx, const struct profile_meta *meta,
		 const struct profile_opts *opts);
/* The same from a profile read from a pstats file, which keeps call edges
 * and not stacks: an endpoint's samples are those of the edge from the
 * split point to it, its top function the one with the most self time
 * among the functions only it reaches. Sets p->split (approx) and returns
 * the number of endpoints found. */
size_t split_from_edges(struct profile *p, const struct split_rule *r);
/* The endpoint table: endpoint, samples, share, seconds (CPU or wall, as the
 * profile's mode), top self function. */
void split_print(FILE *f, const struct profile *p);
void split_free(struct psplit *s);

#endif
