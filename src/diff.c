/* diff.c: two profiles side by side (see diff.h). Shares are of each
 * profile's own total (profile_total_time), so seconds of cProfile and
 * samples of sprofd compare alike. The flame graph is rebuilt from
 * AFTER's caller edges, since pstats files keep no whole stacks: from the
 * roots down, each function's time is split over its callees in the
 * proportion of the edges' cumulative times, a function already on the
 * path is not entered again, and the depth is bounded. */
#include "diff.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "profile.h"
#include "util.h"
#include "writer.h"

#define NONE UINT32_MAX
#define DIFF_MAX_DEPTH 128
#define DIFF_MIN_W 1e-4     /* narrower frames (a tenth of a pixel) are not built */

/* A function in before, after, or both. */
struct drow {
	uint32_t b, a;          /* indexes into each profile's funcs, or NONE */
	double sb, sa, cb, ca;  /* self and cumulative shares, percent */
};

struct diff {
	const struct profile *b, *a;
	struct drow *rows;
	size_t n;
	uint32_t *row_of_a;     /* per function of after: its row */
	double maxself;         /* the largest change of a self share, points */
};

static int key_cmp(const struct pfunc *x, const struct pfunc *y, bool line)
{
	int r = strcmp(x->file, y->file);

	if (r == 0)
		r = strcmp(x->name, y->name);
	if (r == 0 && line)
		r = (x->line > y->line) - (x->line < y->line);
	return r;
}

static int func_cmp(const void *x, const void *y, void *arg)
{
	const struct profile *p = arg;

	return key_cmp(&p->funcs[*(const uint32_t *)x], &p->funcs[*(const uint32_t *)y], true);
}

/* Functions of p but the root, by (file, name, line). */
static uint32_t *diff_sorted(const struct profile *p, size_t *n)
{
	uint32_t *v = xmalloc((p->nfuncs + 1) * sizeof(*v));

	*n = p->nfuncs > 0 ? p->nfuncs - 1 : 0;
	for (size_t i = 0; i < *n; i++)
		v[i] = (uint32_t)(i + 1);
	qsort_r(v, *n, sizeof(*v), func_cmp, (void *)p);
	return v;
}

static double share(const struct profile *p, double secs, double total)
{
	(void)p;
	return total > 0 ? secs / total * 100.0 : 0.0;
}

static void diff_add(struct diff *d, uint32_t b, uint32_t a)
{
	struct drow *r = &d->rows[d->n++];
	double tb = profile_total_time(d->b), ta = profile_total_time(d->a);

	memset(r, 0, sizeof(*r));
	r->b = b;
	r->a = a;
	if (b != NONE) {
		r->sb = share(d->b, profile_func_tt(d->b, b), tb);
		r->cb = share(d->b, profile_func_ct(d->b, b), tb);
	}
	if (a != NONE) {
		r->sa = share(d->a, profile_func_tt(d->a, a), ta);
		r->ca = share(d->a, profile_func_ct(d->a, a), ta);
	}
	if (fabs(r->sa - r->sb) > d->maxself)
		d->maxself = fabs(r->sa - r->sb);
}

/* Pairs one group of functions with the same (file, name): equal lines
 * first, then what is left in line order (a definition that moved). */
static void diff_group(struct diff *d, const uint32_t *vb, size_t nb, const uint32_t *va,
		       size_t na)
{
	bool *usedb = xcalloc(nb + 1, sizeof(*usedb)), *useda = xcalloc(na + 1, sizeof(*useda));
	size_t i = 0, j;

	for (j = 0; j < na; j++)
		for (i = 0; i < nb; i++)
			if (!usedb[i] && d->b->funcs[vb[i]].line == d->a->funcs[va[j]].line) {
				diff_add(d, vb[i], va[j]);
				usedb[i] = useda[j] = true;
				break;
			}
	i = 0;
	for (j = 0; j < na; j++) {
		if (useda[j])
			continue;
		while (i < nb && usedb[i])
			i++;
		diff_add(d, i < nb ? vb[i] : NONE, va[j]);
		if (i < nb)
			usedb[i++] = true;
	}
	for (i = 0; i < nb; i++)
		if (!usedb[i])
			diff_add(d, vb[i], NONE);
	free(usedb);
	free(useda);
}

struct diff *diff_new(const struct profile *before, const struct profile *after)
{
	struct diff *d = xcalloc(1, sizeof(*d));
	size_t nb, na, i = 0, j = 0;
	uint32_t *vb = diff_sorted(before, &nb), *va = diff_sorted(after, &na);

	d->b = before;
	d->a = after;
	d->rows = xmalloc((nb + na + 1) * sizeof(*d->rows));
	while (i < nb || j < na) {
		int c = i == nb ? 1 : j == na ? -1
			: key_cmp(&before->funcs[vb[i]], &after->funcs[va[j]], false);
		size_t i2 = i, j2 = j;

		if (c < 0) {
			diff_add(d, vb[i++], NONE);
		} else if (c > 0) {
			diff_add(d, NONE, va[j++]);
		} else {
			while (i2 < nb && key_cmp(&before->funcs[vb[i2]], &before->funcs[vb[i]],
						  false) == 0)
				i2++;
			while (j2 < na && key_cmp(&after->funcs[va[j2]], &after->funcs[va[j]],
						  false) == 0)
				j2++;
			diff_group(d, vb + i, i2 - i, va + j, j2 - j);
			i = i2;
			j = j2;
		}
	}
	d->row_of_a = xmalloc((after->nfuncs + 1) * sizeof(*d->row_of_a));
	for (size_t k = 0; k < after->nfuncs; k++)
		d->row_of_a[k] = NONE;
	for (size_t k = 0; k < d->n; k++)
		if (d->rows[k].a != NONE)
			d->row_of_a[d->rows[k].a] = (uint32_t)k;
	free(vb);
	free(va);
	return d;
}

void diff_free(struct diff *d)
{
	if (!d)
		return;
	free(d->rows);
	free(d->row_of_a);
	free(d);
}

static const struct pfunc *row_func(const struct diff *d, const struct drow *r)
{
	return r->a != NONE ? &d->a->funcs[r->a] : &d->b->funcs[r->b];
}

struct order_ctx {
	const struct diff *d;
	enum report_sort sort;
};

static int cmp_abs_desc(double x1, double x2)
{
	x1 = fabs(x1);
	x2 = fabs(x2);
	return x1 > x2 ? -1 : x1 < x2 ? 1 : 0;
}

/* By the size of the change of the chosen share, then of the other, then
 * by name; the row index breaks ties, so the order is stable. */
static int diff_cmp(const void *x, const void *y, void *arg)
{
	const struct order_ctx *c = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	const struct drow *a = &c->d->rows[i], *b = &c->d->rows[j];
	int r;

	switch (c->sort) {
	case SORT_CUMTIME:
		if ((r = cmp_abs_desc(a->ca - a->cb, b->ca - b->cb)) == 0)
			r = cmp_abs_desc(a->sa - a->sb, b->sa - b->sb);
		break;
	case SORT_NAME:
		r = 0;
		break;
	default:
		if ((r = cmp_abs_desc(a->sa - a->sb, b->sa - b->sb)) == 0)
			r = cmp_abs_desc(a->ca - a->cb, b->ca - b->cb);
		break;
	}
	if (r == 0) {
		const struct pfunc *fa = row_func(c->d, a), *fb = row_func(c->d, b);

		if ((r = strcmp(fa->name, fb->name)) == 0 && (r = strcmp(fa->file, fb->file)) == 0)
			r = (fa->line > fb->line) - (fa->line < fb->line);
	}
	return r ? r : (i > j) - (i < j);
}

void diff_print(FILE *f, const struct diff *d, const char *bpath, const char *apath, int rows,
		enum report_sort sort)
{
	struct order_ctx ctx = { d, sort };
	size_t *order, shown;

	fputs("before: ", f);
	report_file_header(f, d->b, bpath);
	fputs("after:  ", f);
	report_file_header(f, d->a, apath);
	if (rows == 0 || d->n == 0)
		return;
	order = xmalloc(d->n * sizeof(*order));
	for (size_t k = 0; k < d->n; k++)
		order[k] = k;
	qsort_r(order, d->n, sizeof(*order), diff_cmp, &ctx);
	shown = rows < 0 || (size_t)rows > d->n ? d->n : (size_t)rows;
	fputc('\n', f);
	if (shown < d->n)
		fprintf(f, "   List reduced from %zu to %zu due to restriction <%zu>\n\n", d->n,
			shown, shown);
	fputs("   self% of each total       cum% of each total\n"
	      "  before   after  change   before   after  change  mark   filename:lineno(function)\n",
	      f);
	for (size_t k = 0; k < shown; k++) {
		const struct drow *r = &d->rows[order[k]];
		const char *mark = r->b == NONE ? "+new"
			: r->a == NONE ? "-gone"
			: d->b->funcs[r->b].line != d->a->funcs[r->a].line ? "moved" : "";

		fprintf(f, "%8.2f %7.2f %+7.2f  %7.2f %7.2f %+7.2f  %-5s  ", r->sb, r->sa,
			r->sa - r->sb, r->cb, r->ca, r->ca - r->cb, mark);
		report_location(f, row_func(d, r));
	}
	free(order);
}

/* ---- the differential flame graph ---- */

struct flame {
	const struct diff *d;
	const struct profile *p;    /* after */
	uint32_t *out_of;           /* per function: its first edge in byout */
	uint32_t *byout;            /* edge indexes grouped by caller */
	uint32_t path[DIFF_MAX_DEPTH + 1];
	struct svg_node *nodes;
	size_t n, cap;
	double width;               /* seconds the whole graph is wide */
};

/* Red for a self share that grew, blue for one that shrank, the deeper
 * the larger the change against the largest; grey for no change. */
static void flame_colour(const struct diff *d, const struct drow *r, char out[8])
{
	double ch = r->sa - r->sb, k = d->maxself > 0 ? fabs(ch) / d->maxself : 0;
	unsigned v = 235 - (unsigned)(k * 190);

	if (ch > 0)
		snprintf(out, 8, "#ff%02x%02x", v, v);
	else if (ch < 0)
		snprintf(out, 8, "#%02x%02xff", v, v);
	else
		snprintf(out, 8, "#ebebeb");
}

static char *flame_tip(const struct drow *r)
{
	/* No " (" in here: the page takes the name to be what precedes the
	 * last one. */
	return xasprintf("%sself %.2f%% before, %.2f%% after, %+.2f points; cum %.2f%% before, "
			 "%.2f%% after, %+.2f points", r->b == NONE ? "new; " : "", r->sb, r->sa,
			 r->sa - r->sb, r->cb, r->ca, r->ca - r->cb);
}

static struct svg_node *flame_push(struct flame *fl, double x, double t, uint32_t depth)
{
	struct svg_node *nd;

	if (fl->n == fl->cap) {
		fl->cap = fl->cap ? 2 * fl->cap : 256;
		fl->nodes = xrealloc(fl->nodes, fl->cap * sizeof(*fl->nodes));
	}
	nd = &fl->nodes[fl->n++];
	memset(nd, 0, sizeof(*nd));
	nd->x = x / fl->width;
	nd->w = t / fl->width;
	nd->depth = depth;
	return nd;
}

struct child {
	uint32_t fn;
	double t;
};

static int child_cmp(const void *x, const void *y, void *arg)
{
	const struct profile *p = arg;
	const struct child *a = x, *b = y;
	int r = strcmp(p->funcs[a->fn].name, p->funcs[b->fn].name);

	return r ? r : (a->fn > b->fn) - (a->fn < b->fn);
}

/* Function fn, t seconds wide from x, at depth (fl->path holds its
 * callers), and below it its callees. */
static void flame_grow(struct flame *fl, uint32_t fn, double x, double t, uint32_t depth)
{
	const struct profile *p = fl->p;
	struct svg_node *nd = flame_push(fl, x, t, depth);
	const struct drow *r = &fl->d->rows[fl->d->row_of_a[fn]];
	struct child *kids;
	size_t nk = 0;
	double ct = profile_func_ct(p, fn), sum = 0, scale;

	nd->text = p->funcs[fn].name;
	nd->tip = flame_tip(r);
	flame_colour(fl->d, r, nd->colour);
	if (depth >= DIFF_MAX_DEPTH || ct <= 0)
		return;
	fl->path[depth] = fn;
	kids = xmalloc((fl->out_of[fn + 1] - fl->out_of[fn] + 1) * sizeof(*kids));
	for (uint32_t k = fl->out_of[fn]; k < fl->out_of[fn + 1]; k++) {
		uint32_t e = fl->byout[k], g = p->edges[e].callee;
		bool on_path = false;

		for (uint32_t q = 1; q <= depth && !on_path; q++)
			on_path = fl->path[q] == g;
		if (on_path || g == 0)
			continue;
		kids[nk].fn = g;
		kids[nk].t = profile_edge_ct(p, e) / ct * t;
		sum += kids[nk++].t;
	}
	/* Under recursion the edges out of a function may sum to more than
	 * its own time. */
	scale = sum > t ? t / sum : 1.0;
	qsort_r(kids, nk, sizeof(*kids), child_cmp, (void *)p);
	for (size_t k = 0; k < nk; k++) {
		double w = kids[k].t * scale;

		if (w / fl->width >= DIFF_MIN_W)
			flame_grow(fl, kids[k].fn, x, w, depth + 1);
		x += w;
	}
	free(kids);
}

/* The tree from AFTER's roots: the callees of its root if it has edges
 * (sprofd's files), else the functions nobody calls (cProfile's). */
static void flame_build(struct flame *fl)
{
	const struct profile *p = fl->p;
	struct child *roots = xmalloc((p->nfuncs + 1) * sizeof(*roots));
	bool *called = xcalloc(p->nfuncs + 1, sizeof(*called));
	size_t nr = 0;
	double x = 0, total = profile_total_time(p), sum = 0;
	struct svg_node *all;
	char *tip;

	fl->out_of = xcalloc(p->nfuncs + 2, sizeof(*fl->out_of));
	fl->byout = xmalloc((p->nedges + 1) * sizeof(*fl->byout));
	for (size_t e = 0; e < p->nedges; e++)
		fl->out_of[p->edges[e].caller + 1]++;
	for (size_t i = 0; i < p->nfuncs; i++)
		fl->out_of[i + 1] += fl->out_of[i];
	{
		uint32_t *at = xmalloc((p->nfuncs + 1) * sizeof(*at));

		memcpy(at, fl->out_of, p->nfuncs * sizeof(*at));
		for (size_t e = 0; e < p->nedges; e++)
			fl->byout[at[p->edges[e].caller]++] = (uint32_t)e;
		free(at);
	}
	if (p->nfuncs > 0 && fl->out_of[1] > fl->out_of[0]) {
		for (uint32_t k = fl->out_of[0]; k < fl->out_of[1]; k++) {
			uint32_t e = fl->byout[k];

			roots[nr].fn = p->edges[e].callee;
			roots[nr++].t = profile_edge_ct(p, e);
		}
	} else {
		for (size_t e = 0; e < p->nedges; e++)
			if (p->edges[e].caller != p->edges[e].callee)
				called[p->edges[e].callee] = true;
		for (size_t i = 1; i < p->nfuncs; i++) {
			if (called[i])
				continue;
			roots[nr].fn = (uint32_t)i;
			roots[nr++].t = profile_func_ct(p, i);
		}
	}
	for (size_t k = 0; k < nr; k++)
		sum += roots[k].t;
	fl->width = sum > total ? sum : total;
	if (fl->width <= 0)
		fl->width = 1;
	qsort_r(roots, nr, sizeof(*roots), child_cmp, (void *)p);
	all = flame_push(fl, 0, fl->width, 0);
	all->text = "all";
	tip = xasprintf("%.3f s in AFTER", total);
	all->tip = tip;
	snprintf(all->colour, sizeof(all->colour), "#c8c8be");
	for (size_t k = 0; k < nr; k++) {
		if (roots[k].t / fl->width >= DIFF_MIN_W && roots[k].fn != 0)
			flame_grow(fl, roots[k].fn, x, roots[k].t, 1);
		x += roots[k].t;
	}
	free(roots);
	free(called);
}

struct svg_job {
	struct flame *fl;
	const char *title, *subtitle;
};

static int diff_svg_fill(void *ctx, FILE *f)
{
	struct svg_job *j = ctx;

	return svg_tree_write(f, j->title, j->subtitle, j->fl->nodes, j->fl->n);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

int diff_write_svg(const struct diff *d, const char *bpath, const char *apath, const char *path)
{
	struct flame fl;
	struct svg_job job;
	char *title;
	int rc;

	memset(&fl, 0, sizeof(fl));
	fl.d = d;
	fl.p = d->a;
	flame_build(&fl);
	title = xasprintf("Differential flame graph: %s to %s", base_name(bpath), base_name(apath));
	job.fl = &fl;
	job.title = title;
	job.subtitle = "the shape of AFTER, rebuilt from its call edges; red: self share grew, "
		       "blue: shrank";
	rc = writer_write_with(path, diff_svg_fill, &job);
	for (size_t i = 0; i < fl.n; i++)
		free((char *)fl.nodes[i].tip);
	free(fl.nodes);
	free(fl.out_of);
	free(fl.byout);
	free(title);
	return rc;
}
