/* writer_pprof.c: pprof's format, a gzip-compressed profile.proto message,
 * as go tool pprof, Grafana Pyroscope and Parca read it:
 *   sample_type  [samples/count, cpu/nanoseconds] (wall/ in wall mode)
 *   sample       one per distinct stack: location ids leaf first, the two
 *                values, labels thread_id (number), thread_name and pid,
 *                and endpoint when split (--split)
 *   location     one per distinct address, with its mapping and one line
 *                per frame, inlined frames first, the real function last
 *   function     name, system name, file, declaration line
 *   mapping      executable mappings with path and build ID
 *   period_type  cpu/nanoseconds, period 1e9 / hz
 * plus time_nanos, duration_nanos and comments. Every id is an index + 1,
 * since id 0 means "none". The profile is encoded in pieces and compressed
 * as it goes, so it never sits in memory whole. */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "log.h"
#include "profile.h"
#include "protobuf.h"
#include "split.h"
#include "util.h"

/* profile.proto field numbers. */
enum {
	PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10, PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	VALUETYPE_TYPE = 1, VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
	LABEL_KEY = 1, LABEL_STR = 2, LABEL_NUM = 3,
	MAPPING_ID = 1, MAPPING_MEMORY_START = 2, MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILE_OFFSET = 4, MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6,
	MAPPING_HAS_FUNCTIONS = 7, MAPPING_HAS_FILENAMES = 8, MAPPING_HAS_LINE_NUMBERS = 9,
	MAPPING_HAS_INLINE_FRAMES = 10,
	LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1, LINE_LINE = 2,
	FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3, FUNCTION_FILENAME = 4,
	FUNCTION_START_LINE = 5,
};

#define PPROF_CHUNK (64 * 1024)

/* The output: protobuf bytes collect in buf and are deflated into f. */
struct pprof_out {
	FILE *f;
	z_stream z;
	struct mbuf buf;
	unsigned char zbuf[PPROF_CHUNK];
	struct strids *strs;
	struct strtab *utf8;    /* strings made valid UTF-8, as the table needs */
	int err;                /* errno of the first failure, or 0 */
};

/* Deflates what is buffered (all of it when finishing) into f. */
static void pprof_pump(struct pprof_out *o, bool finish)
{
	int flush = finish ? Z_FINISH : Z_NO_FLUSH, zr;

	if (o->err)
		return;
	o->z.next_in = o->buf.data;
	o->z.avail_in = (uInt)o->buf.len;
	do {
		size_t have;

		o->z.next_out = o->zbuf;
		o->z.avail_out = sizeof(o->zbuf);
		zr = deflate(&o->z, flush);
		if (zr == Z_STREAM_ERROR) {
			o->err = EIO;
			return;
		}
		have = sizeof(o->zbuf) - o->z.avail_out;
		if (have && fwrite(o->zbuf, 1, have, o->f) != have) {
			o->err = errno ? errno : EIO;
			return;
		}
	} while (o->z.avail_out == 0 || (finish && zr != Z_STREAM_END));
	o->buf.len = 0;
}

/* Appends a nested message (encoded in sub) as field of the profile. */
static void pprof_message(struct pprof_out *o, uint32_t field, struct mbuf *sub)
{
	pb_bytes(&o->buf, field, sub->data, sub->len);
	sub->len = 0;
	if (o->buf.len >= PPROF_CHUNK)
		pprof_pump(o, false);
}

/* The string table index of s; protobuf strings must be UTF-8, so bytes
 * that are not become U+FFFD, as in .prof files. */
static int64_t pprof_str(struct pprof_out *o, const char *s)
{
	return (int64_t)strids_get(o->strs, writer_utf8(o->utf8, s), NULL);
}

static void pprof_value_type(struct pprof_out *o, struct mbuf *m, uint32_t field,
			     const char *type, const char *unit)
{
	pb_int(m, VALUETYPE_TYPE, pprof_str(o, type));
	pb_int(m, VALUETYPE_UNIT, pprof_str(o, unit));
	pprof_message(o, field, m);
}

/* The samples: one per distinct stack. */
static void pprof_samples(struct pprof_out *o, const struct profile *p, int64_t period)
{
	struct mbuf m, label;
	uint64_t *ids = NULL, vals[2], name;
	size_t cap = 0;
	int64_t k_tid = pprof_str(o, "thread_id"), k_name = pprof_str(o, "thread_name");
	int64_t k_ep = p->split ? pprof_str(o, "endpoint") : 0;
	int64_t k_pid = pprof_str(o, "pid");
	struct u64map *names = u64map_new();   /* tid -> string index of its name */

	for (size_t t = 0; t < p->ntasks; t++)
		if (p->tasks[t].name[0])
			u64map_put(names, (uint32_t)p->tasks[t].tid,
				   (uint64_t)pprof_str(o, p->tasks[t].name));
	mbuf_init(&m);
	mbuf_init(&label);
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *s = &p->stacks[i];

		xgrow((void **)&ids, &cap, s->n, sizeof(*ids));
		for (uint32_t j = 0; j < s->n; j++)
			ids[j] = (uint64_t)p->stack_locs[s->loc + j] + 1;
		pb_packed(&m, SAMPLE_LOCATION_ID, ids, s->n);
		vals[0] = s->count;
		vals[1] = s->count * (uint64_t)period;
		pb_packed(&m, SAMPLE_VALUE, vals, 2);

		pb_int(&label, LABEL_KEY, k_tid);
		pb_int(&label, LABEL_NUM, s->tid);
		pb_bytes(&m, SAMPLE_LABEL, label.data, label.len);
		label.len = 0;
		if (s->pid) {
			pb_int(&label, LABEL_KEY, k_pid);
			pb_int(&label, LABEL_NUM, s->pid);
			pb_bytes(&m, SAMPLE_LABEL, label.data, label.len);
			label.len = 0;
		}
		if (u64map_get(names, (uint32_t)s->tid, &name)) {
			pb_int(&label, LABEL_KEY, k_name);
			pb_int(&label, LABEL_STR, (int64_t)name);
			pb_bytes(&m, SAMPLE_LABEL, label.data, label.len);
			label.len = 0;
		}
		if (p->split && i < p->split->nstacks) {   /* --split */
			pb_int(&label, LABEL_KEY, k_ep);
			pb_int(&label, LABEL_STR,
			       pprof_str(o, p->split->eps[p->split->of_stack[i]].name));
			pb_bytes(&m, SAMPLE_LABEL, label.data, label.len);
			label.len = 0;
		}
		pprof_message(o, PROFILE_SAMPLE, &m);
	}
	free(ids);
	mbuf_free(&m);
	mbuf_free(&label);
	u64map_free(names);
}

static void pprof_mappings(struct pprof_out *o, const struct profile *p)
{
	struct mbuf m;

	mbuf_init(&m);
	for (size_t i = 0; i < p->nmaps; i++) {
		const struct pmap *pm = &p->maps[i];

		pb_uint(&m, MAPPING_ID, i + 1);
		pb_uint(&m, MAPPING_MEMORY_START, pm->start);
		pb_uint(&m, MAPPING_MEMORY_LIMIT, pm->limit);
		pb_uint(&m, MAPPING_FILE_OFFSET, pm->offset);
		pb_int(&m, MAPPING_FILENAME, pprof_str(o, pm->path));
		pb_int(&m, MAPPING_BUILD_ID, pprof_str(o, pm->build_id));
		/* Already symbolized: pprof must not look the addresses up again
		 * in whatever binary it finds under that name. */
		pb_bool(&m, MAPPING_HAS_FUNCTIONS, true);
		pb_bool(&m, MAPPING_HAS_FILENAMES, true);
		pb_bool(&m, MAPPING_HAS_LINE_NUMBERS, true);
		pb_bool(&m, MAPPING_HAS_INLINE_FRAMES, true);
		pprof_message(o, PROFILE_MAPPING, &m);
	}
	mbuf_free(&m);
}

static void pprof_locations(struct pprof_out *o, const struct profile *p)
{
	struct mbuf m, line;

	mbuf_init(&m);
	mbuf_init(&line);
	for (size_t i = 0; i < p->nlocs; i++) {
		const struct ploc *l = &p->locs[i];

		pb_uint(&m, LOCATION_ID, i + 1);
		if (l->map != PROFILE_NONE)
			pb_uint(&m, LOCATION_MAPPING_ID, (uint64_t)l->map + 1);
		pb_uint(&m, LOCATION_ADDRESS, l->addr);
		/* Innermost first: the last line is the function the others
		 * were inlined into, as profile.proto orders them. */
		for (uint32_t k = 0; k < l->nframes; k++) {
			const struct pframe *fr = &p->frames[l->frame + k];

			pb_uint(&line, LINE_FUNCTION_ID, (uint64_t)fr->fn + 1);
			pb_int(&line, LINE_LINE, fr->line);
			pb_bytes(&m, LOCATION_LINE, line.data, line.len);
			line.len = 0;
		}
		pprof_message(o, PROFILE_LOCATION, &m);
	}
	mbuf_free(&m);
	mbuf_free(&line);
}

static void pprof_functions(struct pprof_out *o, const struct profile *p)
{
	struct mbuf m;

	mbuf_init(&m);
	for (size_t i = 0; i < p->nfns; i++) {
		const struct pfn *fn = &p->fns[i];
		int64_t name = pprof_str(o, fn->name);

		pb_uint(&m, FUNCTION_ID, i + 1);
		pb_int(&m, FUNCTION_NAME, name);
		pb_int(&m, FUNCTION_SYSTEM_NAME, name);
		pb_int(&m, FUNCTION_FILENAME, pprof_str(o, fn->file));
		pb_int(&m, FUNCTION_START_LINE, fn->line);
		pprof_message(o, PROFILE_FUNCTION, &m);
	}
	mbuf_free(&m);
}

/* A few lines that go tool pprof -comments shows, added to the string
 * table; c gets the strings, which must outlive the table. */
static void pprof_comments(struct pprof_out *o, const struct profile *p, const char *kind,
			   char *c[3])
{
	const struct profile_meta *mt = &p->meta;

	char procs[32] = "";

	if (mt->nprocs > 1)
		snprintf(procs, sizeof(procs), ", %u processes", mt->nprocs);
	c[0] = xasprintf("sprofd %s: PID %d (%.*s)%s, %u thread%s, %s mode at %g Hz",
			 SPROFD_VERSION, (int)mt->pid, (int)sizeof(mt->comm), mt->comm, procs,
			 mt->nthreads, mt->nthreads == 1 ? "" : "s", kind, mt->hz);
	c[1] = xasprintf("%llu samples in %.3f s; %llu truncated at the depth limit",
			 (unsigned long long)p->total, mt->duration,
			 (unsigned long long)mt->truncated);
	c[2] = xasprintf("%llu ticks, %llu missed", (unsigned long long)mt->ticks,
			 (unsigned long long)mt->missed_ticks);
	for (int i = 0; i < 3; i++)
		pb_int(&o->buf, PROFILE_COMMENT, pprof_str(o, c[i]));
}

static int pprof_write(const struct profile *p, FILE *f)
{
	struct pprof_out *o = xcalloc(1, sizeof(*o));
	int64_t period = p->meta.hz > 0 ? (int64_t)(1e9 / p->meta.hz + 0.5) : 0;
	const char *kind = p->meta.wall ? "wall" : "cpu";
	char *comments[3];
	struct mbuf m;
	int rc = 0;

	o->f = f;
	o->strs = strids_new();
	o->utf8 = strtab_new();
	mbuf_init(&o->buf);
	mbuf_init(&m);
	/* Best speed: the protobuf is mostly small varints that repeat, which
	 * compress nearly as well at level 1, at a fraction of the time. */
	if (deflateInit2(&o->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		log_err("pprof: cannot start compressing: %s", o->z.msg ? o->z.msg : "zlib error");
		strids_free(o->strs);
		strtab_free(o->utf8);
		free(o);
		errno = ENOMEM;
		return -1;
	}
	pprof_str(o, "");   /* string 0 must be empty */

	pprof_value_type(o, &m, PROFILE_SAMPLE_TYPE, "samples", "count");
	pprof_value_type(o, &m, PROFILE_SAMPLE_TYPE, kind, "nanoseconds");
	pprof_samples(o, p, period);
	pprof_mappings(o, p);
	pprof_locations(o, p);
	pprof_functions(o, p);
	pb_int(&o->buf, PROFILE_TIME_NANOS, (int64_t)p->meta.start_time * 1000000000);
	pb_int(&o->buf, PROFILE_DURATION_NANOS, (int64_t)(p->meta.duration * 1e9));
	pprof_value_type(o, &m, PROFILE_PERIOD_TYPE, kind, "nanoseconds");
	pb_int(&o->buf, PROFILE_PERIOD, period);
	pprof_comments(o, p, kind, comments);
	/* The table goes last, after everything that refers to it. */
	for (uint32_t i = 0; i < strids_count(o->strs); i++) {
		pb_string(&o->buf, PROFILE_STRING_TABLE, strids_at(o->strs, i));
		if (o->buf.len >= PPROF_CHUNK)
			pprof_pump(o, false);
	}
	pprof_pump(o, true);

	if (o->err) {
		errno = o->err;
		rc = -1;
	}
	for (int i = 0; i < 3; i++)
		free(comments[i]);
	deflateEnd(&o->z);
	mbuf_free(&o->buf);
	mbuf_free(&m);
	strids_free(o->strs);
	strtab_free(o->utf8);
	free(o);
	return rc;
}

const struct writer writer_pprof = {
	.id = "pprof",
	.ext = ".pb.gz",
	.write = pprof_write,
};
