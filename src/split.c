/* split.c: per-endpoint profiles (see split.h). */
#include "split.h"

#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "pystage.h"
#include "stacks.h"
#include "symbols.h"
#include "util.h"

enum split_kind { SPLIT_FLASK, SPLIT_DJANGO, SPLIT_FUNCTION };

struct split_rule {
	enum split_kind kind;
	char *spec;
	regex_t re;
	bool have_re;   /* spec compiles as an expression */
};

struct split_rule *split_rule_new(const char *spec, char *err, size_t errlen)
{
	struct split_rule *r;

	if (!spec || !*spec) {
		snprintf(err, errlen, "give flask, django, or a function name or pattern");
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->spec = xstrdup(spec);
	if (strcmp(spec, "flask") == 0) {
		r->kind = SPLIT_FLASK;
	} else if (strcmp(spec, "django") == 0) {
		r->kind = SPLIT_DJANGO;
	} else {
		r->kind = SPLIT_FUNCTION;
		/* Names like "<lambda>" are no valid expression; they still
		 * match by name. */
		r->have_re = regcomp(&r->re, spec, REG_EXTENDED | REG_NOSUB) == 0;
	}
	return r;
}

const char *split_rule_spec(const struct split_rule *r)
{
	return r->spec;
}

void split_rule_free(struct split_rule *r)
{
	if (!r)
		return;
	if (r->have_re)
		regfree(&r->re);
	free(r->spec);
	free(r);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && strcmp(s + n - m, tail) == 0;
}

/* Whether a frame of name and file is the split point of r (the name alone
 * for by_name; else also the pattern on "file:line(name)"). */
static bool split_point(const struct split_rule *r, const char *file, int line, const char *name,
			bool by_name)
{
	bool hit;
	char *where;

	switch (r->kind) {
	case SPLIT_FLASK:
		/* co_qualname from 3.11 on; co_name and the file before. */
		return strcmp(name, "Flask.dispatch_request") == 0 ||
		       (strcmp(name, "dispatch_request") == 0 && ends_with(file, "flask/app.py"));
	case SPLIT_DJANGO:
		return strcmp(name, "BaseHandler._get_response") == 0 ||
		       (strcmp(name, "_get_response") == 0 &&
			ends_with(file, "django/core/handlers/base.py"));
	case SPLIT_FUNCTION:
		if (strcmp(name, r->spec) == 0)
			return true;
		if (by_name || !r->have_re)
			return false;
		where = xasprintf("%s:%d(%s)", file, line, name);
		hit = regexec(&r->re, where, 0, NULL, 0) == 0;
		free(where);
		return hit;
	}
	return false;
}

/* Whether file is of Python's standard library (lib/python3.X/, not a
 * site- or dist-packages directory below it). */
static bool stdlib_file(const char *file)
{
	return strstr(file, "/lib/python") && !strstr(file, "-packages/");
}

/* The framework's own frames and the plumbing of view decorators, which
 * flask and django pass over on their way to the view: dispatch_request
 * looks the view up through Werkzeug's proxies and ensure_sync (which asks
 * inspect); Django wraps views in its decorators, contextlib's and
 * asgiref's adapters. No view lives in the standard library. */
static bool plumbing(const struct split_rule *r, const char *file)
{
	if (r->kind == SPLIT_FLASK)
		return strstr(file, "/flask/") || strstr(file, "/werkzeug/") || stdlib_file(file);
	if (r->kind == SPLIT_DJANGO)
		return strstr(file, "/django/") || strstr(file, "/asgiref/") || stdlib_file(file);
	return false;
}

long split_classify(const struct split_rule *r, const struct split_frame *f, size_t n,
		    bool by_name)
{
	size_t at, i;

	for (at = 0; at < n; at++)
		if (split_point(r, f[at].file, f[at].line, f[at].name, by_name))
			break;
	if (at == n)
		return -1;
	if (r->kind != SPLIT_FUNCTION) {
		for (i = at + 1; i < n; i++)
			if (f[i].py && !plumbing(r, f[i].file))
				return (long)i;
		/* In the framework's own code, between the dispatch and the
		 * view: the split point's. */
		return (long)at;
	}
	/* The callee: between two Python frames lie the interpreter's own
	 * (with --interp-frames), which are no endpoint. */
	for (i = at + 1; i < n; i++)
		if (!f[at].py || f[i].py)
			return (long)i;
	return (long)at;
}

/* ---- splitting a profile ---- */

/* The frames of a stack, outermost first, into *fr (grown as needed). */
static size_t stack_frames(const struct stack_view *sv, profile_lookup_fn lookup, void *ctx,
			   struct split_frame **fr, size_t *cap)
{
	size_t n = 0;

	for (uint32_t j = sv->n; j-- > 0;) {
		const struct sym_frame *sf;
		int k = lookup(ctx, sv->pcs[j], &sf);

		xgrow((void **)fr, cap, n + (size_t)k, sizeof(**fr));
		while (k-- > 0)
			(*fr)[n++] = (struct split_frame){ sf[k].file ? sf[k].file : "", sf[k].line,
							   sf[k].func,
							   PYSTAGE_IS_PY(sv->pcs[j]) };
	}
	return n;
}

/* A name's part of a file name: letters, digits, '-', '_' and '.' kept,
 * anything else '_', no leading dot, at most 64 bytes. */
static void slugify(char *out, size_t len, const char *name)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < len && i < 64; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		out[i] = ok ? c : '_';
	}
	out[i] = '\0';
	if (!out[0])
		snprintf(out, len, "_");
	else if (out[0] == '.')
		out[0] = '_';
}

/* Gives every endpoint but the first a slug no other has. */
static void split_slugs(struct psplit *s)
{
	char base[80], slug[96];

	s->eps[0].slug = "";
	for (size_t i = 1; i < s->n; i++) {
		slugify(base, sizeof(base), s->eps[i].name);
		snprintf(slug, sizeof(slug), "%s", base);
		for (unsigned k = 2;; k++) {
			bool taken = false;

			for (size_t j = 1; j < i && !taken; j++)
				taken = strcmp(s->eps[j].slug, slug) == 0;
			if (!taken)
				break;
			snprintf(slug, sizeof(slug), "%s-%u", base, k);
		}
		s->eps[i].slug = strtab_intern(s->strs, slug);
	}
}

/* The function with the most self samples of an endpoint's profile. */
static void split_top(struct pendpoint *e)
{
	const struct profile *p = e->prof;

	e->top = "";
	e->top_self = 0;
	for (size_t i = 1; p && i < p->nfuncs; i++) {
		if (p->funcs[i].tt > e->top_self) {
			e->top_self = p->funcs[i].tt;
			e->top = p->funcs[i].name;
		}
	}
}

static int cmp_ep(const void *a, const void *b)
{
	const struct pendpoint *x = a, *y = b;

	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Orders endpoints 1.. by samples, most first; renumbers of_stack. */
static void split_sort(struct psplit *s, struct stacktab **tabs)
{
	size_t *idx = xmalloc(s->n * sizeof(*idx));
	uint32_t *newof = xmalloc((s->n ? s->n : 1) * sizeof(*newof));

	for (size_t i = 0; i < s->n; i++)
		idx[i] = i;
	for (size_t i = 1; i < s->n; i++)
		for (size_t j = i; j > 1 && cmp_ep(&s->eps[idx[j - 1]], &s->eps[idx[j]]) > 0; j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	{
		struct pendpoint *eps = xmalloc(s->n * sizeof(*eps));
		struct stacktab **nt = tabs ? xmalloc(s->n * sizeof(*nt)) : NULL;

		for (size_t i = 0; i < s->n; i++) {
			eps[i] = s->eps[idx[i]];
			if (nt)
				nt[i] = tabs[idx[i]];
			newof[idx[i]] = (uint32_t)i;
		}
		memcpy(s->eps, eps, s->n * sizeof(*eps));
		if (nt)
			memcpy(tabs, nt, s->n * sizeof(*nt));
		free(eps);
		free(nt);
	}
	for (size_t i = 0; i < s->nstacks; i++)
		s->of_stack[i] = newof[s->of_stack[i]];
	free(newof);
	free(idx);
}

static struct psplit *psplit_new(const struct split_rule *r)
{
	struct psplit *s = xcalloc(1, sizeof(*s));

	s->spec = xstrdup(r->spec);
	s->strs = strtab_new();
	s->eps = xcalloc(1, sizeof(*s->eps));
	s->eps[0] = (struct pendpoint){ .name = SPLIT_OUTSIDE, .file = "", .slug = "", .top = "" };
	s->n = 1;
	return s;
}

/* The key of a function: its file, line and name, interned in s. */
static const char *func_key(struct psplit *s, const char *file, int line, const char *name)
{
	char buf[512], *big = NULL;
	const char *k;
	int n = snprintf(buf, sizeof(buf), "%s\037%d\037%s", file, line, name);

	if (n < 0 || (size_t)n >= sizeof(buf))
		big = xasprintf("%s\037%d\037%s", file, line, name);
	k = strtab_intern(s->strs, big ? big : buf);
	free(big);
	return k;
}

/* The endpoint (file, line, name), added if new; cap is eps's capacity,
 * idx maps keys (func_key) to endpoints. */
static size_t split_endpoint(struct psplit *s, size_t *cap, struct u64map *idx, const char *file,
			     int line, const char *name)
{
	uint64_t key = (uint64_t)(uintptr_t)func_key(s, file, line, name), e;

	if (u64map_get(idx, key, &e))
		return (size_t)e;
	xgrow((void **)&s->eps, cap, s->n + 1, sizeof(*s->eps));
	s->eps[s->n] = (struct pendpoint){ .name = strtab_intern(s->strs, name),
					   .file = strtab_intern(s->strs, file), .line = line,
					   .slug = "", .top = "" };
	u64map_put(idx, key, s->n);
	return s->n++;
}

/* Counts a sample outside every endpoint under its innermost function, in
 * leaf (key -> samples) and names (key -> name), for the outside's top
 * function: it gets no profile of its own. */
static void count_outside(struct psplit *s, struct u64map *leaf, struct u64map *names,
			  const struct split_frame *f, size_t n, uint64_t count)
{
	uint64_t key, v = 0;

	if (n == 0)
		return;
	key = (uint64_t)(uintptr_t)func_key(s, f[n - 1].file, f[n - 1].line, f[n - 1].name);
	u64map_get(leaf, key, &v);
	u64map_put(leaf, key, v + count);
	u64map_put(names, key, (uint64_t)(uintptr_t)f[n - 1].name);
}

static void outside_top(struct pendpoint *e, const struct u64map *leaf,
			const struct u64map *names)
{
	uint64_t key, v, name;
	size_t pos = 0;

	while (u64map_next(leaf, &pos, &key, &v)) {
		if (v <= e->top_self || !u64map_get(names, key, &name))
			continue;
		e->top_self = v;
		e->top = (const char *)(uintptr_t)name;
	}
}

void split_apply(struct profile *p, const struct split_rule *r, const struct stacktab *st,
		 profile_lookup_fn lookup, void *ctx, const struct profile_meta *meta,
		 const struct profile_opts *opts)
{
	struct psplit *s = psplit_new(r);
	struct split_frame *fr = NULL;
	struct stacktab **tabs;
	struct stack_view sv;
	struct u64map *idx = u64map_new(), *leaf = u64map_new(), *names = u64map_new();
	size_t ns = stacktab_size(st), frcap = 0, epcap = 1, tabcap = 1, ntabs = 1;
	bool by_name = false;

	/* As report --callers: a name some function has is a name, else a
	 * pattern. */
	if (r->kind == SPLIT_FUNCTION) {
		for (size_t i = 0; i < ns && !by_name; i++) {
			size_t n;

			stacktab_get(st, i, &sv);
			n = stack_frames(&sv, lookup, ctx, &fr, &frcap);
			for (size_t k = 0; k < n && !by_name; k++)
				by_name = strcmp(fr[k].name, r->spec) == 0;
		}
	}
	s->nstacks = ns;
	s->of_stack = xmalloc((ns ? ns : 1) * sizeof(*s->of_stack));
	tabs = xmalloc(sizeof(*tabs));
	tabs[0] = NULL;   /* the outside gets no profile */
	for (size_t i = 0; i < ns; i++) {
		size_t n, e = 0;
		long at;

		stacktab_get(st, i, &sv);
		n = stack_frames(&sv, lookup, ctx, &fr, &frcap);
		at = split_classify(r, fr, n, by_name);
		if (at >= 0)
			e = split_endpoint(s, &epcap, idx, fr[at].file, fr[at].line, fr[at].name);
		if (e == ntabs) {   /* a new endpoint */
			xgrow((void **)&tabs, &tabcap, ntabs + 1, sizeof(*tabs));
			tabs[ntabs++] = stacktab_new();
		}
		s->of_stack[i] = (uint32_t)e;
		s->eps[e].samples += sv.count;
		if (e == 0)
			count_outside(s, leaf, names, fr, n, sv.count);
		else
			stacktab_add(tabs[e], sv.pcs, sv.n, sv.tid, sv.truncated, sv.count);
	}
	free(fr);
	split_sort(s, tabs);
	for (size_t e = 0; e < s->n; e++)
		s->eps[e].secs = (double)s->eps[e].samples * p->interval;
	outside_top(&s->eps[0], leaf, names);
	for (size_t e = 1; e < s->n; e++) {
		s->eps[e].prof = profile_build(tabs[e], lookup, ctx, meta, opts);
		split_top(&s->eps[e]);
		stacktab_free(tabs[e]);
	}
	free(tabs);
	u64map_free(idx);
	u64map_free(leaf);
	u64map_free(names);
	split_slugs(s);
	split_free(p->split);
	p->split = s;
}

/* ---- from call edges ---- */

/* Marks in reach (one bit per endpoint, up to 64) the functions that
 * endpoint bit reaches from f by callee edges, not through split points. */
static void reach_from(const struct profile *p, const bool *is_split, uint64_t *reach, size_t f,
		       uint64_t bit)
{
	size_t *todo = xmalloc((p->nfuncs + 1) * sizeof(*todo)), nt = 0;

	todo[nt++] = f;
	reach[f] |= bit;
	while (nt > 0) {
		size_t g = todo[--nt];

		for (size_t i = 0; i < p->nedges; i++) {
			size_t c = p->edges[i].callee;

			if (p->edges[i].caller != g || is_split[c] || (reach[c] & bit))
				continue;
			reach[c] |= bit;
			todo[nt++] = c;
		}
	}
	free(todo);
}

/* Adds the endpoints that edge ei into f leads to: f itself, or if it is
 * the framework's plumbing, f's callees outside it. */
static void edge_endpoints(const struct profile *p, const struct split_rule *r,
			   const bool *is_split, struct psplit *s, size_t *epcap, struct u64map *idx,
			   size_t *epfunc, size_t f, size_t ei, int depth)
{
	size_t e;

	if (plumbing(r, p->funcs[f].file) && depth < 16) {
		for (size_t i = 0; i < p->nedges; i++)
			if (p->edges[i].caller == f && !is_split[p->edges[i].callee] &&
			    p->edges[i].callee != f)
				edge_endpoints(p, r, is_split, s, epcap, idx, epfunc,
					       p->edges[i].callee, i, depth + 1);
		return;
	}
	e = split_endpoint(s, epcap, idx, p->funcs[f].file, p->funcs[f].line, p->funcs[f].name);
	s->eps[e].samples += p->edges[ei].cc;
	s->eps[e].secs += profile_edge_ct(p, ei);
	epfunc[e] = f;
}

size_t split_from_edges(struct profile *p, const struct split_rule *r)
{
	struct psplit *s = psplit_new(r);
	bool *is_split = xcalloc(p->nfuncs + 1, sizeof(*is_split));
	uint64_t *reach = xcalloc(p->nfuncs + 1, sizeof(*reach)), inside = 0;
	double inside_secs = 0;
	size_t epcap = 1, *epfunc = xcalloc(p->nfuncs + 2, sizeof(*epfunc));
	struct u64map *idx = u64map_new();
	bool by_name = false;

	s->approx = true;
	if (r->kind == SPLIT_FUNCTION)
		for (size_t i = 1; i < p->nfuncs && !by_name; i++)
			by_name = strcmp(p->funcs[i].name, r->spec) == 0;
	for (size_t i = 1; i < p->nfuncs; i++)
		is_split[i] = split_point(r, p->funcs[i].file, p->funcs[i].line, p->funcs[i].name,
					  by_name);
	/* Each edge out of a split point leads to an endpoint. A Python
	 * function's native callees are no endpoint (stacks have the next
	 * Python frame or none): their samples are the split point's own. */
	for (size_t i = 0; i < p->nedges; i++) {
		size_t from = p->edges[i].caller, to = p->edges[i].callee;

		if (!is_split[from] || is_split[to])
			continue;
		if (ends_with(p->funcs[from].file, ".py") && !ends_with(p->funcs[to].file, ".py")) {
			size_t e = split_endpoint(s, &epcap, idx, p->funcs[from].file,
						  p->funcs[from].line, p->funcs[from].name);

			s->eps[e].samples += p->edges[i].cc;
			s->eps[e].secs += profile_edge_ct(p, i);
			epfunc[e] = to;   /* what it reaches: through that callee only */
			continue;
		}
		edge_endpoints(p, r, is_split, s, &epcap, idx, epfunc, to, i, 0);
	}
	for (size_t e = 1; e < s->n && e <= 64; e++)
		reach_from(p, is_split, reach, epfunc[e], 1ull << (e - 1));
	for (size_t e = 1; e < s->n; e++) {
		struct pendpoint *ep = &s->eps[e];
		uint64_t bit = e <= 64 ? 1ull << (e - 1) : 0;
		double best = 0;

		inside += ep->samples;
		inside_secs += ep->secs;
		for (size_t i = 1; bit && i < p->nfuncs; i++) {
			/* Only functions this endpoint alone reaches. */
			if (reach[i] != bit || profile_func_tt(p, i) <= best)
				continue;
			best = profile_func_tt(p, i);
			ep->top = p->funcs[i].name;
			ep->top_self = p->funcs[i].tt;
		}
	}
	s->eps[0].samples = p->total > inside ? p->total - inside : 0;
	s->eps[0].secs = profile_total_time(p) > inside_secs ? profile_total_time(p) - inside_secs : 0;
	/* Outside: the functions no endpoint reaches. */
	{
		double best = 0;

		for (size_t i = 1; i < p->nfuncs; i++) {
			if (reach[i] || is_split[i] || profile_func_tt(p, i) <= best)
				continue;
			best = profile_func_tt(p, i);
			s->eps[0].top = p->funcs[i].name;
			s->eps[0].top_self = p->funcs[i].tt;
		}
	}
	split_sort(s, NULL);
	split_slugs(s);
	free(is_split);
	free(reach);
	free(epfunc);
	u64map_free(idx);
	split_free(p->split);
	p->split = s;
	return s->n - 1;
}

/* ---- the table ---- */

/* Columns a name takes: its UTF-8 characters. */
static size_t text_width(const char *t)
{
	size_t n = 0;

	for (; *t; t++)
		n += ((unsigned char)*t & 0xC0) != 0x80;
	return n;
}

void split_print(FILE *f, const struct profile *p)
{
	const struct psplit *s = p->split;
	double total = 0;
	size_t width = 8;
	char num[32];

	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		total += s->eps[i].secs;
		if (text_width(s->eps[i].name) > width)
			width = text_width(s->eps[i].name);
	}
	if (width > 40)
		width = 40;
	/* A file read back does not say its mode. */
	fprintf(f, "\n%-*s  %9s  %6s  %9s  %s\n", (int)width, "endpoint",
		p->ftimes ? "calls" : "samples", "share",
		s->approx ? "seconds" : p->meta.wall ? "wall s" : "cpu s", "top self function");
	for (size_t i = 0; i < s->n; i++) {
		const struct pendpoint *e = &s->eps[i];
		size_t len = text_width(e->name);

		if (i == 0 && e->samples == 0)
			continue;
		str_escape(f, e->name);
		fprintf(f, "%*s  %9s  %5.1f%%  %9.3f  ", (int)(len < width ? width - len : 0), "",
			fmt_thousands(num, e->samples), total > 0 ? e->secs / total * 100.0 : 0.0,
			e->secs);
		str_escape(f, e->top);
		fputc('\n', f);
	}
	if (s->approx)
		fputs("(from call edges: a .prof keeps who called whom, not whole stacks, so an "
		      "endpoint's share is exact only if the split point is not recursive, and its "
		      "top function is taken among the functions no other endpoint calls)\n", f);
}

void split_free(struct psplit *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		profile_free(s->eps[i].prof);
	free(s->eps);
	free(s->of_stack);
	free(s->spec);
	strtab_free(s->strs);
	free(s);
}
