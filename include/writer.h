/* writer.h: output formats. Each format is one module with one descriptor;
 * a writer reads a finished profile and never reaches back into sampling.
 * Files are written atomically: a temporary file in the target directory,
 * fsync, then rename, so no reader ever sees half a file.
 *
 * Also the few helpers that several writers share: frames of a stack in
 * order, the text a frame shows, and an index of distinct strings. */
#ifndef SPROFD_WRITER_H
#define SPROFD_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct profile;
struct pframe;
struct pstack;
struct strtab;

struct writer {
	const char *id;     /* "prof" */
	const char *ext;    /* ".prof"; output.c names the files */
	/* Writes the profile to f. Returns 0, or -1 with errno set. */
	int (*write)(const struct profile *p, FILE *f);
};

/* The writer with this id, or NULL. */
const struct writer *writer_find(const char *id);
/* The n-th writer (in the order formats are listed), or NULL past the end. */
const struct writer *writer_at(size_t n);

/* Writes p to path through w atomically. Returns 0, or -1 after logging a
 * message that names the path and the cause. */
int writer_write_file(const struct writer *w, const struct profile *p, const char *path);
/* The same for any content: write(ctx, f) fills the file, returning 0, or
 * -1 with errno set. */
int writer_write_with(const char *path, int (*write)(void *ctx, FILE *f), void *ctx);

extern const struct writer writer_prof;       /* Python pstats */
extern const struct writer writer_pprof;      /* gzipped profile.proto */
extern const struct writer writer_collapsed;  /* "a;b;c 12" lines */
extern const struct writer writer_callgrind;  /* callgrind.out for KCachegrind */
extern const struct writer writer_svg;        /* flame graph */
extern const struct writer writer_icicle;     /* the same, root at the top */

/* A frame of a flame graph whose tree the caller laid out (svg_tree_write). */
struct svg_node {
	double x, w;            /* left edge and width, fractions of the whole */
	uint32_t depth;         /* 0: the bottom frame */
	const char *text;       /* the name shown */
	const char *tip;        /* the tooltip after the name, in parentheses */
	char colour[8];         /* "#rrggbb" */
};
/* Writes nodes as an interactive flame graph (writer_svg's page, title and
 * subtitle given); frames under a tenth of a pixel are left out. Returns
 * 0, or -1 with errno set. */
int svg_tree_write(FILE *f, const char *title, const char *subtitle,
		   const struct svg_node *nodes, size_t n);

/* ---- shared by writers ---- */

/* The most frames any stack of p has. */
size_t writer_max_frames(const struct profile *p);
/* Fills out (writer_max_frames entries) with the frames of s, outermost
 * first; returns how many. */
size_t writer_stack_frames(const struct profile *p, const struct pstack *s,
			   const struct pframe **out);
/* What a frame is called in stack-shaped formats: the function's name;
 * with opts.lines also " (FILE:LINE)", FILE's base name. Points to the
 * name itself or into buf. */
const char *writer_frame_label(const struct profile *p, const struct pframe *fr, char *buf,
			       size_t len);
/* The texts of all frames of a profile (writer_frame_label), numbered so
 * that equal texts share a number. */
struct frame_labels {
	uint32_t *of_frame;     /* the label of p->frames[i] */
	const char **text;      /* per label */
	uint32_t *fn;           /* per label: the function of its first frame */
	size_t n;
	struct strtab *strs;
};
void frame_labels_init(struct frame_labels *fl, const struct profile *p);
void frame_labels_fini(struct frame_labels *fl);
/* Fills out (writer_max_frames entries) with the labels of s, outermost
 * first; returns how many. */
size_t writer_stack_labels(const struct profile *p, const struct frame_labels *fl,
			   const struct pstack *s, uint32_t *out);

/* s as valid UTF-8, for formats whose strings must be: s itself when it
 * is, else a copy kept in t in which each maximal invalid subpart is one
 * U+FFFD, as Python's bytes.decode('utf-8', 'replace') has it (and so as
 * .prof files have it). */
const char *writer_utf8(struct strtab *t, const char *s);

/* Distinct strings numbered from 0 in the order first seen; the index
 * keeps pointers to the strings, which must outlive it. */
struct strids;
struct strids *strids_new(void);
/* The number of s, adding it if new (and then setting *added if given). */
uint32_t strids_get(struct strids *x, const char *s, bool *added);
size_t strids_count(const struct strids *x);
const char *strids_at(const struct strids *x, uint32_t i);
void strids_free(struct strids *x);

#endif
