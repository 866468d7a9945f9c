/* writer_svg.c: a flame graph as one self-contained SVG file: every frame
 * a rectangle as wide as its share of the samples, callers below callees
 * (or above, for the icicle), siblings in name order, so equal stacks
 * merge however their samples were spread over time. Frames narrower than
 * a tenth of a pixel are left out. A small script, embedded, makes it
 * interactive in a browser: click to zoom into a frame, Reset Zoom, Search
 * (a regular expression; matches turn magenta and their share is shown),
 * Invert (flame <-> icicle), and the name, samples and percentage of the
 * frame under the mouse. The address may preselect a view: ?s=REGEX
 * searches, ?f=NAME zooms into the widest frame called NAME, ?icicle or
 * ?flame picks the direction. Nothing is fetched from anywhere. */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "util.h"

#define SVG_WIDTH 1200
#define SVG_PAD 10          /* left and right margins */
#define SVG_FRAME_H 16      /* one stack level */
#define SVG_TOP 60          /* title and buttons */
#define SVG_BOTTOM 34       /* the line that names the frame under the mouse */
#define SVG_FONT 12
#define SVG_CHAR_W 7.2      /* a monospace character at SVG_FONT px */
#define SVG_MIN_W 0.1       /* narrower frames are left out, in pixels */

#define NONE PROFILE_NONE

/* A stack as the names of its frames, outermost first, by rank (place in
 * name order). */
struct sseq {
	uint32_t *v;
	uint32_t n;
	uint64_t count;
};

/* A node of the merged call tree, while it is being summed up. */
struct snode {
	uint32_t label;         /* NONE for the root, "all" */
	uint32_t depth;
	uint64_t x;             /* samples left of it */
	uint64_t total;         /* samples in it and below */
};

struct svg {
	const struct profile *p;
	struct frame_labels fl;
	uint32_t *rank;         /* per label: its place in name order */
	uint32_t *byrank;       /* per rank: the label */
	struct sseq *seqs;      /* sorted */
	uint32_t *all;          /* the ranks of all stacks */
	size_t maxf;            /* most frames of a stack */
	uint64_t total;
	char buf[32];
};

static int svg_text_cmp(const void *x, const void *y, void *arg)
{
	const struct svg *s = arg;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return strcmp(s->fl.text[a], s->fl.text[b]);
}

/* Lexicographic on ranks, except that a stack comes before its prefixes:
 * a frame's children are drawn from its left edge, its self time after
 * them. */
static int svg_seq_cmp(const void *x, const void *y)
{
	const struct sseq *a = x, *b = y;
	uint32_t n = a->n < b->n ? a->n : b->n;

	for (uint32_t i = 0; i < n; i++)
		if (a->v[i] != b->v[i])
			return a->v[i] < b->v[i] ? -1 : 1;
	return (a->n < b->n) - (a->n > b->n);
}

/* Every stack as a sequence of ranks, sorted. Sorted so, stacks that share
 * outer frames come together, siblings in name order: the merged tree can
 * be walked without being built (svg_walk). */
static void svg_prepare(struct svg *s)
{
	const struct profile *p = s->p;
	size_t total = 0;

	frame_labels_init(&s->fl, p);
	/* Ranks by text; labels have distinct texts, so distinct ranks. */
	s->byrank = xmalloc((s->fl.n + 1) * sizeof(*s->byrank));
	for (uint32_t i = 0; i < s->fl.n; i++)
		s->byrank[i] = i;
	qsort_r(s->byrank, s->fl.n, sizeof(*s->byrank), svg_text_cmp, s);
	s->rank = xmalloc((s->fl.n + 1) * sizeof(*s->rank));
	for (uint32_t i = 0; i < s->fl.n; i++)
		s->rank[s->byrank[i]] = i;

	for (size_t i = 0; i < p->nstacks; i++)
		for (uint32_t j = 0; j < p->stacks[i].n; j++)
			total += p->locs[p->stack_locs[p->stacks[i].loc + j]].nframes;
	s->all = xmalloc((total + 1) * sizeof(*s->all));
	s->seqs = xmalloc((p->nstacks + 1) * sizeof(*s->seqs));
	total = 0;
	for (size_t i = 0; i < p->nstacks; i++) {
		struct sseq *q = &s->seqs[i];

		q->v = s->all + total;
		q->n = (uint32_t)writer_stack_labels(p, &s->fl, &p->stacks[i], q->v);
		for (uint32_t j = 0; j < q->n; j++)
			q->v[j] = s->rank[q->v[j]];
		q->count = p->stacks[i].count;
		total += q->n;
		if (q->n > s->maxf)
			s->maxf = q->n;
		s->total += q->count;
	}
	qsort(s->seqs, p->nstacks, sizeof(*s->seqs), svg_seq_cmp);
}

typedef void (*svg_visit_fn)(struct svg *s, const struct snode *n, void *ctx);

/* Walks the merged tree, calling visit for each node once its total is
 * known (after its children). Nodes open while consecutive stacks share
 * them; a node's left edge is the samples of all stacks sorted before its
 * first one. */
static void svg_walk(struct svg *s, svg_visit_fn visit, void *ctx)
{
	struct snode *path = xmalloc((s->maxf + 2) * sizeof(*path));
	const struct sseq *prev = NULL;
	uint32_t open = 0;      /* nodes open below the root */
	uint64_t x = 0;

	path[0] = (struct snode){ .label = NONE, .depth = 0, .x = 0, .total = 0 };
	for (size_t i = 0; i < s->p->nstacks; i++) {
		const struct sseq *q = &s->seqs[i];
		uint32_t common = 0;

		if (prev)
			while (common < q->n && common < prev->n && q->v[common] == prev->v[common])
				common++;
		for (; open > common; open--)
			visit(s, &path[open], ctx);
		for (; open < q->n; open++)
			path[open + 1] = (struct snode){ .label = s->byrank[q->v[open]],
							 .depth = open + 1, .x = x, .total = 0 };
		for (uint32_t d = 0; d <= open; d++)
			path[d].total += q->count;
		x += q->count;
		prev = q;
	}
	for (;; open--) {
		visit(s, &path[open], ctx);
		if (open == 0)
			break;
	}
	free(path);
}

/* Characters in s, counting each maximal invalid subpart as one (it shows
 * as one U+FFFD). */
static size_t utf8_chars(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = 0, len, bad;

	while (*s) {
		len = utf8_seq(s, &bad);
		s += len ? len : bad;
		n++;
	}
	return n;
}

/* Writes up to max characters of s as XML text: markup escaped, bytes that
 * are not UTF-8 as U+FFFD, control characters as spaces. */
static void svg_escape(FILE *f, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t n = 0; *s && n < max; n++) {
		size_t bad, len = utf8_seq(s, &bad);

		if (len == 0) {
			/* One per maximal subpart, as .prof and pprof have it. */
			fputs("\xef\xbf\xbd", f);
			s += bad;
			continue;
		}
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if (*s < 0x20 || *s == 0x7f)
				putc(' ', f);
			else if (len == 3 && s[0] == 0xef && s[1] == 0xbf && s[2] >= 0xbe)
				fputs("\xef\xbf\xbd", f);   /* U+FFFE, U+FFFF: not XML */
			else
				fwrite(s, 1, len, f);
		}
		s += len;
	}
}

/* The text of a node. */
static const char *svg_text_of(const struct svg *s, uint32_t label)
{
	return label == NONE ? "all" : s->fl.text[label];
}

/* A warm colour from the function's name, so a function keeps its colour
 * wherever it appears; threads are blue and unnamed code grey. */
static void svg_colour(const struct svg *s, uint32_t label, char out[8])
{
	const char *name = "all";
	uint64_t h;
	unsigned r, g, b;

	if (label != NONE) {
		const struct pfn *fn = &s->p->fns[s->fl.fn[label]];
		name = fn->name;
		if (strcmp(fn->file, "~") == 0 && strncmp(name, "thread ", 7) == 0) {
			h = hash_bytes(name, strlen(name), 2);
			snprintf(out, 8, "#%02x%02x%02x", 80 + (unsigned)(h % 40),
				 140 + (unsigned)(h >> 8) % 50, 220 + (unsigned)(h >> 16) % 36);
			return;
		}
		if (name[0] == '[') {
			snprintf(out, 8, "#%02x%02x%02x", 180, 180, 170);
			return;
		}
	} else {
		snprintf(out, 8, "#%02x%02x%02x", 200, 200, 190);
		return;
	}
	h = hash_bytes(name, strlen(name), 1);
	r = 205 + (unsigned)(h % 50);
	g = (unsigned)((h >> 8) % 230);
	b = (unsigned)((h >> 20) % 55);
	snprintf(out, 8, "#%02x%02x%02x", r, g, b);
}

/* One frame: its group with tooltip (text, then tip in parentheses),
 * rectangle and as much of text as fits. */
static void svg_rect(FILE *f, const char *text, const char *tip, const char *colour, double x,
		     double w, double y)
{
	size_t fit = w > 6 ? (size_t)((w - 6) / SVG_CHAR_W) : 0, len;

	fputs("<g><title>", f);
	svg_escape(f, text, SIZE_MAX);
	fputs(" (", f);
	svg_escape(f, tip, SIZE_MAX);
	fprintf(f, ")</title><rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" "
		"height=\"%d\" fill=\"%s\"/>", x, y, w, SVG_FRAME_H - 1, colour);
	if (fit >= 3) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\">", x + 3, y + SVG_FRAME_H - 4.5);
		len = utf8_chars(text);
		if (len <= fit) {
			svg_escape(f, text, len);
		} else {
			svg_escape(f, text, fit - 2);
			fputs("..", f);
		}
		fputs("</text>", f);
	}
	fputs("</g>\n", f);
}

/* A frame of the merged tree, with its samples and share as tooltip. */
static void svg_frame(struct svg *s, FILE *f, const struct snode *n, double x, double w, double y)
{
	double pct = 100.0 * (double)n->total / (double)s->total;
	char colour[8], tip[80];

	svg_colour(s, n->label, colour);
	snprintf(tip, sizeof(tip), "%s sample%s, %.2f%%", fmt_thousands(s->buf, n->total),
		 n->total == 1 ? "" : "s", pct);
	svg_rect(f, svg_text_of(s, n->label), tip, colour, x, w, y);
}

/* What the two walks over the tree need. */
struct svg_pass {
	FILE *f;
	uint64_t min;           /* samples a frame needs to be drawn: 0.1 px */
	double scale;           /* pixels per sample */
	bool icicle;
	int height;
	uint32_t maxdepth;
	size_t nodes, drawn;
};

/* First walk: how deep the drawn frames go, and how many there are. A
 * node's total only shrinks going down, so its own width decides whether
 * it and all above it are drawn. */
static void svg_measure(struct svg *s, const struct snode *n, void *ctx)
{
	struct svg_pass *ps = ctx;

	ps->nodes++;
	if (n->total >= ps->min && n->depth > ps->maxdepth)
		ps->maxdepth = n->depth;
}

/* Second walk: the frames. */
static void svg_draw(struct svg *s, const struct snode *n, void *ctx)
{
	struct svg_pass *ps = ctx;
	double y;

	if (n->total < ps->min)
		return;
	y = ps->icicle ? SVG_TOP + (double)n->depth * SVG_FRAME_H
		       : ps->height - SVG_BOTTOM - (double)(n->depth + 1) * SVG_FRAME_H;
	svg_frame(s, ps->f, n, SVG_PAD + (double)n->x * ps->scale, (double)n->total * ps->scale, y);
	ps->drawn++;
}

static const char svg_style[] =
	"<style type=\"text/css\"><![CDATA[\n"
	"text { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 12px; "
	"fill: #000; }\n"
	"#frames g { cursor: pointer; }\n"
	"#frames g:hover rect { stroke: #000; stroke-width: 0.5; }\n"
	"#frames text { pointer-events: none; }\n"
	".btn { cursor: pointer; fill: #333; }\n"
	".btn:hover { text-decoration: underline; }\n"
	".off { display: none; }\n"
	".above { opacity: 0.5; }\n"
	"#title { font-size: 17px; text-anchor: middle; }\n"
	"]]></style>\n";

/* The script: plain ES5 on the DOM of this file, nothing loaded. */
static const char svg_script[] =
	"<script type=\"text/ecmascript\"><![CDATA[\n"
	"\"use strict\";\n"
	"(function () {\n"
	"var svg = document.documentElement, NS = 'http://www.w3.org/2000/svg';\n"
	"var W = +svg.getAttribute('width'), H = +svg.getAttribute('height');\n"
	"var PAD = +svg.getAttribute('data-pad'), FH = +svg.getAttribute('data-fh');\n"
	"var TOP = +svg.getAttribute('data-top'), BOTTOM = +svg.getAttribute('data-bottom');\n"
	"var CW = +svg.getAttribute('data-cw');\n"
	"var icicle = svg.getAttribute('data-icicle') === '1';\n"
	"var $ = function (id) { return document.getElementById(id); };\n"
	"var details = $('details'), matched = $('matched'), unzoom = $('unzoom');\n"
	"var frames = [], zoomed = null, re = null;\n"
	"function level(y) {\n"
	"  return icicle ? Math.round((y - TOP) / FH) : Math.round((H - BOTTOM - y) / FH) - 1;\n"
	"}\n"
	"var gs = $('frames').getElementsByTagName('g');\n"
	"for (var i = 0; i < gs.length; i++) {\n"
	"  var g = gs[i], r = g.getElementsByTagName('rect')[0];\n"
	"  var info = g.getElementsByTagName('title')[0].textContent;\n"
	"  var t = g.getElementsByTagName('text')[0];\n"
	"  if (!t) { t = document.createElementNS(NS, 'text'); g.appendChild(t); }\n"
	"  var f = { g: g, r: r, t: t, info: info, name: info.slice(0, info.lastIndexOf(' (')),\n"
	"    x0: +r.getAttribute('x'), w0: +r.getAttribute('width'),\n"
	"    d: level(+r.getAttribute('y')), fill: r.getAttribute('fill') };\n"
	"  g.frame = f;\n"
	"  frames.push(f);\n"
	"}\n"
	"function label(f, w) {\n"
	"  var n = Math.floor((w - 6) / CW);\n"
	"  if (n < 3) return '';\n"
	"  var a = Array.from ? Array.from(f.name) : f.name.split('');\n"
	"  return a.length <= n ? f.name : a.slice(0, n - 2).join('') + '..';\n"
	"}\n"
	"function place(f, x, w, above) {\n"
	"  f.r.setAttribute('x', x.toFixed(1));\n"
	"  f.r.setAttribute('width', w.toFixed(1));\n"
	"  f.t.setAttribute('x', (x + 3).toFixed(1));\n"
	"  f.t.textContent = label(f, w);\n"
	"  f.g.setAttribute('class', above ? 'above' : '');\n"
	"}\n"
	"function y(f) { return icicle ? TOP + f.d * FH : H - BOTTOM - (f.d + 1) * FH; }\n"
	"function layout() {\n"
	"  var z = zoomed, eps = 1e-6;\n"
	"  var scale = z ? (W - 2 * PAD) / z.w0 : 1;\n"
	"  frames.forEach(function (f) {\n"
	"    f.r.setAttribute('y', y(f));\n"
	"    f.t.setAttribute('y', y(f) + FH - 4.5);\n"
	"    if (!z) { place(f, f.x0, f.w0, false); return; }\n"
	"    if (f.d >= z.d && f.x0 >= z.x0 - eps && f.x0 + f.w0 <= z.x0 + z.w0 + eps)\n"
	"      place(f, PAD + (f.x0 - z.x0) * scale, f.w0 * scale, false);\n"
	"    else if (f.d < z.d && f.x0 <= z.x0 + eps && f.x0 + f.w0 >= z.x0 + z.w0 - eps)\n"
	"      place(f, PAD, W - 2 * PAD, true);\n"
	"    else f.g.setAttribute('class', 'off');\n"
	"  });\n"
	"  unzoom.setAttribute('class', z ? 'btn' : 'btn off');\n"
	"}\n"
	"function zoom(f) { zoomed = f && f.d > 0 ? f : null; layout(); }\n"
	"function search(term) {\n"
	"  re = null;\n"
	"  if (term) {\n"
	"    try { re = new RegExp(term); }\n"
	"    catch (e) { details.textContent = 'Bad regular expression: ' + term; }\n"
	"  }\n"
	"  var hits = [];\n"
	"  frames.forEach(function (f) {\n"
	"    var hit = re !== null && re.test(f.name);\n"
	"    f.r.setAttribute('fill', hit ? '#e040e0' : f.fill);\n"
	"    if (hit) hits.push(f);\n"
	"  });\n"
	"  hits.sort(function (a, b) { return a.x0 - b.x0 || a.d - b.d; });\n"
	"  var sum = 0, end = -1;\n"
	"  hits.forEach(function (f) {\n"
	"    var a = Math.max(f.x0, end), b = f.x0 + f.w0;\n"
	"    if (b > a) { sum += b - a; end = b; }\n"
	"  });\n"
	"  matched.textContent = re ? 'Matched: ' + (100 * sum / (W - 2 * PAD)).toFixed(1) + '%' : '';\n"
	"  svg.setAttribute('data-matched', re ? (100 * sum / (W - 2 * PAD)).toFixed(3) : '');\n"
	"  $('search').textContent = re ? 'Reset Search' : 'Search';\n"
	"}\n"
	"function frameOf(e) {\n"
	"  for (var n = e.target; n && n !== svg; n = n.parentNode) if (n.frame) return n.frame;\n"
	"  return null;\n"
	"}\n"
	"$('frames').addEventListener('click', function (e) {\n"
	"  var f = frameOf(e);\n"
	"  if (f) zoom(f === zoomed ? null : f);\n"
	"});\n"
	"$('frames').addEventListener('mouseover', function (e) {\n"
	"  var f = frameOf(e);\n"
	"  details.textContent = f ? f.info : '';\n"
	"});\n"
	"$('frames').addEventListener('mouseout', function () { details.textContent = ''; });\n"
	"unzoom.addEventListener('click', function () { zoom(null); });\n"
	"$('search').addEventListener('click', function () {\n"
	"  if (re) { search(''); return; }\n"
	"  var term = window.prompt('Search for frames (a regular expression):', '');\n"
	"  if (term) search(term);\n"
	"});\n"
	"$('invert').addEventListener('click', function () { icicle = !icicle; layout(); });\n"
	"document.addEventListener('keydown', function (e) {\n"
	"  if (e.key === 'Escape') { zoom(null); search(''); }\n"
	"  else if ((e.ctrlKey || e.metaKey) && e.key === 'f') {\n"
	"    e.preventDefault();\n"
	"    $('search').dispatchEvent(new MouseEvent('click'));\n"
	"  }\n"
	"});\n"
	"var args = (location.search.slice(1) + '&' + location.hash.slice(1)).split('&');\n"
	"args.forEach(function (a) {\n"
	"  var k = a.split('=')[0], v = decodeURIComponent(a.slice(k.length + 1).replace(/\\+/g, ' '));\n"
	"  if (k === 'icicle') icicle = true;\n"
	"  else if (k === 'flame') icicle = false;\n"
	"  else if (k === 's' && v) search(v);\n"
	"  else if (k === 'f' && v) {\n"
	"    var best = null;\n"
	"    frames.forEach(function (f) { if (f.name === v && (!best || f.w0 > best.w0)) best = f; });\n"
	"    zoomed = best;\n"
	"  }\n"
	"});\n"
	"layout();\n"
	"svg.setAttribute('data-ready', String(frames.length));\n"
	"})();\n"
	"]]></script>\n";

/* Everything before the frames: size, style, title, buttons. */
static void svg_open(FILE *f, int height, bool icicle, const char *title, const char *subtitle)
{
	fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"xmlns=\"http://www.w3.org/2000/svg\" data-pad=\"%d\" data-fh=\"%d\" "
		"data-top=\"%d\" data-bottom=\"%d\" data-cw=\"%.1f\" data-icicle=\"%d\">\n",
		SVG_WIDTH, height, SVG_WIDTH, height, SVG_PAD, SVG_FRAME_H, SVG_TOP, SVG_BOTTOM,
		SVG_CHAR_W, icicle ? 1 : 0);
	fputs(svg_style, f);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#f4f4f0\"/>\n");
	fprintf(f, "<text id=\"title\" x=\"%d\" y=\"24\">", SVG_WIDTH / 2);
	svg_escape(f, title, SIZE_MAX);
	fputs("</text>\n", f);
	fprintf(f, "<text id=\"subtitle\" x=\"%d\" y=\"42\" style=\"text-anchor: middle; "
		"fill: #555\">", SVG_WIDTH / 2);
	svg_escape(f, subtitle, SIZE_MAX);
	fputs("</text>\n", f);
	fprintf(f, "<text id=\"unzoom\" class=\"btn off\" x=\"%d\" y=\"24\">Reset Zoom</text>\n",
		SVG_PAD);
	fprintf(f, "<text id=\"invert\" class=\"btn\" x=\"%d\" y=\"24\">Invert</text>\n",
		SVG_WIDTH - SVG_PAD - 180);
	fprintf(f, "<text id=\"search\" class=\"btn\" x=\"%d\" y=\"24\" "
		"style=\"text-anchor: end\">Search</text>\n", SVG_WIDTH - SVG_PAD);
	fprintf(f, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", SVG_PAD, height - 12);
	fprintf(f, "<text id=\"matched\" x=\"%d\" y=\"%d\" style=\"text-anchor: end\"></text>\n",
		SVG_WIDTH - SVG_PAD, height - 12);
	fputs("<g id=\"frames\">\n", f);
}

/* Everything after the frames; 0, or -1 with errno set if f failed. */
static int svg_close(FILE *f, size_t drawn, size_t nodes)
{
	fputs("</g>\n", f);
	fprintf(f, "<!-- sprofd %s: %zu of %zu frames drawn; those under %.1f px wide are "
		"left out -->\n", SPROFD_VERSION, drawn, nodes, SVG_MIN_W);
	fputs(svg_script, f);
	fputs("</svg>\n", f);
	if (ferror(f)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

static int svg_write_common(const struct profile *p, FILE *f, bool icicle)
{
	const struct profile_meta *m = &p->meta;
	struct svg s;
	struct svg_pass ps;
	int height, rc;
	char samples[32], title[128], subtitle[128];

	memset(&s, 0, sizeof(s));
	s.p = p;
	svg_prepare(&s);
	memset(&ps, 0, sizeof(ps));
	ps.f = f;
	ps.icicle = icicle;
	ps.scale = (double)(SVG_WIDTH - 2 * SVG_PAD) / (double)(s.total ? s.total : 1);
	ps.min = (uint64_t)(SVG_MIN_W / ps.scale);
	while ((double)ps.min * ps.scale < SVG_MIN_W)
		ps.min++;
	svg_walk(&s, svg_measure, &ps);
	height = SVG_TOP + SVG_BOTTOM + (int)(ps.maxdepth + 1) * SVG_FRAME_H;
	ps.height = height;

	if (m->comm[0] || m->pid)
		snprintf(title, sizeof(title), "%s of %.*s (PID %d)",
			 icicle ? "Icicle graph" : "Flame graph", (int)sizeof(m->comm), m->comm,
			 (int)m->pid);
	else
		snprintf(title, sizeof(title), "%s", icicle ? "Icicle graph" : "Flame graph");
	if (m->hz > 0)
		snprintf(subtitle, sizeof(subtitle), "%s samples at %g Hz, %s mode",
			 fmt_thousands(samples, p->total), m->hz, m->wall ? "wall" : "cpu");
	else
		snprintf(subtitle, sizeof(subtitle), "%s samples", fmt_thousands(samples, p->total));
	errno = 0;
	svg_open(f, height, icicle, title, subtitle);
	svg_walk(&s, svg_draw, &ps);
	rc = svg_close(f, ps.drawn, ps.nodes);

	free(s.seqs);
	free(s.all);
	free(s.byrank);
	free(s.rank);
	frame_labels_fini(&s.fl);
	return rc;
}

int svg_tree_write(FILE *f, const char *title, const char *subtitle,
		   const struct svg_node *nodes, size_t n)
{
	double full = SVG_WIDTH - 2 * SVG_PAD;
	uint32_t maxdepth = 0;
	size_t drawn = 0;
	int height;

	for (size_t i = 0; i < n; i++)
		if (nodes[i].w * full >= SVG_MIN_W && nodes[i].depth > maxdepth)
			maxdepth = nodes[i].depth;
	height = SVG_TOP + SVG_BOTTOM + (int)(maxdepth + 1) * SVG_FRAME_H;
	errno = 0;
	svg_open(f, height, false, title, subtitle);
	for (size_t i = 0; i < n; i++) {
		const struct svg_node *nd = &nodes[i];

		if (nd->w * full < SVG_MIN_W)
			continue;
		svg_rect(f, nd->text, nd->tip, nd->colour, SVG_PAD + nd->x * full, nd->w * full,
			 height - SVG_BOTTOM - (double)(nd->depth + 1) * SVG_FRAME_H);
		drawn++;
	}
	return svg_close(f, drawn, n);
}

static int svg_write(const struct profile *p, FILE *f)
{
	return svg_write_common(p, f, false);
}

static int icicle_write(const struct profile *p, FILE *f)
{
	return svg_write_common(p, f, true);
}

const struct writer writer_svg = {
	.id = "svg",
	.ext = ".svg",
	.write = svg_write,
};

const struct writer writer_icicle = {
	.id = "icicle",
	.ext = ".icicle.svg",
	.write = icicle_write,
};
