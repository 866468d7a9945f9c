/* pystage.c: the Python stage (see pystage.h). */
#include "pystage.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "capture.h"
#include "log.h"
#include "pycode.h"
#include "pyelf.h"
#include "pylayout.h"
#include "pymerge.h"
#include "pyread.h"
#include "symbols.h"
#include "util.h"

#define MAX_SLOTS 65536
#define MAX_NAME_CHARS 1024
#define FRAME_CHUNK 1024
/* After an exec, how long and how often to look for the new program's
 * interpreter (its libraries are mapped after the exec event). */
#define REDETECT_NS 3000000000ull
#define REDETECT_EVERY_NS 50000000ull
/* Bytes of a code object read to check it is the one decoded before. */
#define FP_MAX 32
/* Frame ids remembered per code object, by instruction offset: a hot
 * function is sampled at a few offsets again and again, and finding the
 * line walks its line table from the start. */
#define LINE_WAYS 16

struct codeent {
	uint8_t fp[FP_MAX];       /* the object's name, file and table pointers */
	const char *file, *name;
	int firstlineno;
	uint8_t *table;
	size_t ntable;
	bool ok;
	int64_t at[LINE_WAYS];    /* code offset ... */
	uint64_t id[LINE_WAYS];   /* ... and its frame id (0: none) */
};

struct pystage {
	pid_t pid;
	struct pystage_opts o;
	/* The interpreter of the program running now; lay NULL: idle. */
	struct pyelf elf;
	const struct pylayout *lay;
	struct pyreader *rd;
	char version[32];
	bool found;               /* an interpreter was seen (version is set) */
	uint64_t redetect_until, last_detect;
	/* Code objects by address: entries owned here. */
	struct u64map *codes;     /* address -> index in ents */
	struct codeent *ents;
	size_t nents, entcap;
	struct py_capture *slots;  /* by slot number, grown on demand */
	size_t nslots;
	/* Frames handed out, by id - 1, in chunks that never move. */
	pthread_mutex_t mu;
	struct sym_frame **chunks;
	size_t nframes, chunkcap;
	struct u64map *frame_ids; /* hash of (file, name, line, src_line) -> id */
	struct strtab *strs;
	/* Merge scratch. */
	uint64_t *py, *out;
	bool *end;
	struct iovec *lv, *rv;
	uint8_t *fpbuf;
	size_t scratch;
	struct pystage_stats st;
};

static const struct sym_frame unknown_frame = {
	.func = "[python: unreadable code]", .file = "", .module = "",
};

static int vm_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	if (!addr)
		return -1;
	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* Reads a string of up to cap bytes at addr (NUL-terminated). */
static bool read_cstr(pid_t pid, uint64_t addr, char *buf, size_t cap)
{
	if (vm_read(pid, addr, buf, cap - 1) < 0)
		return false;
	buf[cap - 1] = '\0';
	return true;
}

/* Checks the layout against the target's own PyCode_Type: its size, and
 * the offsets of the members sprofd reads. */
static bool check_code_type(struct pystage *ps, char *why, size_t whylen)
{
	const struct pylayout *L = ps->lay;
	static const char *const names[] = { "co_filename", "co_name", "co_qualname",
					     "co_firstlineno", "co_argcount", "co_flags",
					     "co_lnotab", "co_linetable" };
	uint64_t basic = 0, members = 0;
	uint8_t md[PY_MEMBERDEF_SIZE];
	int checked = 0;

	if (!ps->elf.code_type)
		return true;   /* nothing to check with */
	if (vm_read(ps->pid, ps->elf.code_type + PY_TP_BASICSIZE, &basic, 8) < 0 ||
	    vm_read(ps->pid, ps->elf.code_type + PY_TP_MEMBERS, &members, 8) < 0) {
		snprintf(why, whylen, "cannot read PyCode_Type");
		return false;
	}
	if (basic != L->co_basicsize) {
		snprintf(why, whylen, "code objects are %llu bytes, not %u",
			 (unsigned long long)basic, L->co_basicsize);
		return false;
	}
	for (int i = 0; members && i < 64; i++) {
		uint64_t nameptr, off;
		char name[32];
		int64_t want = -2;

		if (vm_read(ps->pid, members + (uint64_t)i * PY_MEMBERDEF_SIZE, md, sizeof(md)) < 0)
			break;
		memcpy(&nameptr, md, 8);
		if (!nameptr)
			break;
		memcpy(&off, md + PY_MEMBERDEF_OFFSET, 8);
		if (!read_cstr(ps->pid, nameptr, name, sizeof(name)))
			continue;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (strcmp(name, names[k]) == 0)
				want = k == 0 ? (int64_t)L->co_filename : k == 1 ? (int64_t)L->co_name :
				       k == 2 ? (int64_t)L->co_qualname :
				       k == 3 ? (int64_t)L->co_firstlineno :
				       k == 4 ? (int64_t)L->co_argcount :
				       k == 5 ? (int64_t)L->co_flags : (int64_t)L->co_lines;
		if (want == -2)
			continue;
		if ((int64_t)off != want) {
			snprintf(why, whylen, "PyCode_Type says %s is at %llu, not %lld", name,
				 (unsigned long long)off, (long long)want);
			return false;
		}
		checked++;
	}
	if (checked < 3) {
		snprintf(why, whylen, "PyCode_Type lists too few known members (%d)", checked);
		return false;
	}
	return true;
}

/* Where _Py_DebugOffsets (3.13+, at the start of _PyRuntime) keeps the
 * offsets sprofd reads: the struct's own layout changes with each minor. */
enum dbg_field {
	D_INTERP_HEAD, D_IS_NEXT, D_THREADS_HEAD, D_TS_NEXT, D_TS_INTERP, D_TS_FRAME,
	D_TS_THREAD_ID, D_TS_NATIVE_ID, D_TS_CHUNK, D_FR_BACK, D_FR_CODE, D_FR_LASTI, D_FR_OWNER,
	D_CO_FILENAME, D_CO_NAME, D_CO_QUALNAME, D_CO_LINES, D_CO_FIRSTLINENO, D_CO_ADAPTIVE,
	D_NFIELDS
};

static const struct {
	unsigned minor;
	uint16_t at[D_NFIELDS];
} dbg_positions[] = {
	{ 13, { 40, 64, 72, 168, 176, 184, 192, 200, 208, 232, 240, 248, 264, 280, 288, 296, 304,
		312, 344 } },
	{ 14, { 40, 64, 72, 192, 200, 208, 216, 224, 232, 256, 264, 272, 288, 320, 328, 336, 344,
		352, 384 } },
	{ 15, { 40, 64, 72, 192, 200, 208, 240, 248, 256, 320, 328, 336, 352, 384, 392, 400, 408,
		416, 448 } },
};

/* 3.13+: checks the layout against the interpreter's own _Py_DebugOffsets. */
static bool check_debug_offsets(struct pystage *ps, char *why, size_t whylen)
{
	const struct pylayout *L = ps->lay;
	static const char *const what[D_NFIELDS] = {
		"interpreters_head", "interpreter next", "threads_head", "thread next",
		"thread interp", "current_frame", "thread_id", "native_thread_id", "datastack_chunk",
		"frame previous", "frame executable", "frame instr_ptr", "frame owner", "co_filename",
		"co_name", "co_qualname", "co_linetable", "co_firstlineno", "co_code_adaptive",
	};
	const uint64_t want[D_NFIELDS] = {
		L->rt_interp_head, L->is_next, L->is_threads_head, L->ts_next, L->ts_interp,
		L->ts_frame, L->ts_thread_id, L->ts_native_id, L->ts_stack_chunk, L->fr_back,
		L->fr_code, L->fr_lasti, (uint64_t)L->fr_owner, L->co_filename, L->co_name,
		(uint64_t)L->co_qualname, L->co_lines, L->co_firstlineno, L->co_code_adaptive,
	};
	const uint16_t *at = NULL;
	uint8_t d[464];

	for (size_t i = 0; i < sizeof(dbg_positions) / sizeof(dbg_positions[0]); i++)
		if (dbg_positions[i].minor == ps->elf.minor)
			at = dbg_positions[i].at;
	if (!at)
		return true;
	if (!ps->elf.debug_offsets || vm_read(ps->pid, ps->elf.runtime, d, sizeof(d)) < 0) {
		snprintf(why, whylen, "cannot read _Py_DebugOffsets");
		return false;
	}
	if (memcmp(d + 16, "\0\0\0\0\0\0\0\0", 8) != 0) {
		snprintf(why, whylen, "it is a free-threaded build");
		return false;
	}
	for (size_t i = 0; i < D_NFIELDS; i++) {
		uint64_t v;
		memcpy(&v, d + at[i], 8);
		if (v != want[i]) {
			snprintf(why, whylen, "_Py_DebugOffsets puts %s at %llu, not %llu",
				 what[i], (unsigned long long)v, (unsigned long long)want[i]);
			return false;
		}
	}
	return true;
}

/* Looks for the interpreter of the program running now. */
static void detect(struct pystage *ps, bool quiet_if_none)
{
	char why[300];
	int rc = pyelf_find(ps->pid, &ps->elf, why, sizeof(why));

	ps->last_detect = mono_ns();
	if (rc == 0) {
		if (!quiet_if_none)
			log_debug("python: PID %d: no Python interpreter found", (int)ps->pid);
		return;
	}
	if (ps->elf.minor) {
		if (ps->elf.micro_known)
			snprintf(ps->version, sizeof(ps->version), "%u.%u.%u", ps->elf.major,
				 ps->elf.minor, ps->elf.micro);
		else
			snprintf(ps->version, sizeof(ps->version), "%u.%u", ps->elf.major,
				 ps->elf.minor);
		ps->found = true;
	}
	ps->redetect_until = 0;
	if (rc < 0) {
		log_warn("python: PID %d: %s; Python frames are not shown, native frames only",
			 (int)ps->pid, why);
		return;
	}
	ps->lay = pylayout_for(ps->elf.minor);
	if (!ps->lay) {
		log_warn("python: PID %d runs Python %s (%s), a version sprofd cannot read "
			 "(3.8 to 3.15); Python frames are not shown, native frames only",
			 (int)ps->pid, ps->version, ps->elf.path);
		return;
	}
	if (!check_code_type(ps, why, sizeof(why)) || !check_debug_offsets(ps, why, sizeof(why))) {
		log_warn("python: PID %d runs Python %s (%s) laid out unlike the Python %s sprofd "
			 "knows (%s); Python frames are not shown, native frames only",
			 (int)ps->pid, ps->version, ps->elf.path, ps->version, why);
		ps->lay = NULL;
		return;
	}
	ps->rd = pyreader_new(ps->pid, ps->lay, ps->elf.runtime);
	log_debug("python: PID %d runs Python %s (%s): _PyRuntime at %#llx, %d eval-loop range%s",
		  (int)ps->pid, ps->version, ps->elf.path, (unsigned long long)ps->elf.runtime,
		  ps->elf.neval, ps->elf.neval == 1 ? "" : "s");
}

struct pystage *pystage_new(pid_t pid, const struct pystage_opts *o)
{
	struct pystage *ps = xcalloc(1, sizeof(*ps));

	ps->pid = pid;
	if (o)
		ps->o = *o;
	ps->codes = u64map_new();
	ps->frame_ids = u64map_new();
	ps->strs = strtab_new();
	pthread_mutex_init(&ps->mu, NULL);
	detect(ps, false);
	return ps;
}

/* Forgets the interpreter of the old program. */
static void forget(struct pystage *ps)
{
	pyreader_free(ps->rd);
	ps->rd = NULL;
	ps->lay = NULL;
	for (size_t i = 0; i < ps->nents; i++)
		free(ps->ents[i].table);
	ps->nents = 0;
	u64map_free(ps->codes);
	ps->codes = u64map_new();
	for (size_t i = 0; i < ps->nslots; i++)
		ps->slots[i].status = PY_READ_NONE;
}

void pystage_exec(struct pystage *ps)
{
	forget(ps);
	ps->found = false;
	ps->redetect_until = mono_ns() + REDETECT_NS;
	detect(ps, true);
}

void pystage_ahead(struct pystage *ps, pid_t tid, struct capture *c)
{
	if (ps->rd)
		pyreader_ahead(ps->rd, tid, c);
	else
		c->nmore = 0;
}

void pystage_thread_gone(struct pystage *ps, pid_t tid)
{
	if (ps->rd)
		pyreader_thread_gone(ps->rd, tid);
}

bool pystage_read(struct pystage *ps, unsigned slot, const struct capture *c, int max)
{
	if (slot >= MAX_SLOTS)
		return true;
	if (slot >= ps->nslots) {
		size_t cap = ps->nslots;
		xgrow((void **)&ps->slots, &cap, (size_t)slot + 1, sizeof(*ps->slots));
		memset(ps->slots + ps->nslots, 0, (cap - ps->nslots) * sizeof(*ps->slots));
		ps->nslots = cap;
	}
	if (!ps->rd) {
		ps->slots[slot].status = PY_READ_NONE;
		return true;
	}
	pyreader_read(ps->rd, c, max, &ps->slots[slot]);
	ps->st.stops++;
	ps->st.stop_reads = pyreader_syscalls(ps->rd);
	return ps->slots[slot].status != PY_READ_NOSTATE || c->regs.fs_base ||
	       ps->lay->ts_native_id;
}

/* Decodes the str object at addr to UTF-8, interned; NULL if unreadable. */
static const char *read_str(struct pystage *ps, uint64_t addr)
{
	const struct pylayout *L = ps->lay;
	uint8_t h[80], data[MAX_NAME_CHARS * 4];
	char utf8[MAX_NAME_CHARS * 4 + 1];
	uint64_t len;
	uint32_t state;
	unsigned kind;

	if (vm_read(ps->pid, addr, h, L->str_compact_data) < 0)
		return NULL;
	memcpy(&len, h + PY_STR_LENGTH, 8);
	memcpy(&state, h + PY_STR_STATE, 4);
	kind = (state >> 2) & 7;
	if (!(state & (1u << 5)) || (kind != 1 && kind != 2 && kind != 4))
		return NULL;   /* not a compact str: code objects' names are */
	if (len > MAX_NAME_CHARS)
		len = MAX_NAME_CHARS;
	if (len && vm_read(ps->pid, addr + ((state & (1u << 6)) ? L->str_ascii_data :
					     L->str_compact_data), data, len * kind) < 0)
		return NULL;
	if (pycode_utf8(data, (size_t)len, kind, utf8, sizeof(utf8)) < 0)
		return NULL;
	return strtab_intern(ps->strs, utf8);
}

/* The fingerprint of a code object: its name, file and line-table
 * pointers, contiguous in every version. */
static void fp_span(const struct pylayout *L, uint32_t *off, uint32_t *len)
{
	*off = L->co_filename;
	*len = L->co_lines + 8 - L->co_filename;
}

/* Decodes the code object at addr into e. */
static void decode_code(struct pystage *ps, uint64_t addr, struct codeent *e)
{
	const struct pylayout *L = ps->lay;
	uint8_t h[256];
	uint64_t type, nameptr, fileptr, tabptr, tlen;
	int32_t first;
	uint32_t off, len;
	int32_t q = L->co_qualname >= 0 ? L->co_qualname : (int32_t)L->co_name;

	free(e->table);
	memset(e, 0, sizeof(*e));
	fp_span(L, &off, &len);
	if (vm_read(ps->pid, addr, h, L->co_lines + 8) < 0)
		return;
	memcpy(&type, h + PY_OB_TYPE, 8);
	if (ps->elf.code_type && type != ps->elf.code_type)
		return;
	memcpy(e->fp, h + off, len);
	memcpy(&first, h + L->co_firstlineno, 4);
	memcpy(&fileptr, h + L->co_filename, 8);
	memcpy(&nameptr, h + q, 8);
	memcpy(&tabptr, h + L->co_lines, 8);
	e->firstlineno = first > 0 ? first : 0;
	e->file = read_str(ps, fileptr);
	e->name = read_str(ps, nameptr);
	if (!e->file || !e->name)
		return;
	if (tabptr && vm_read(ps->pid, tabptr + PY_BYTES_SIZE, &tlen, 8) == 0 &&
	    tlen <= PYCODE_MAX_TABLE) {
		e->table = xmalloc(tlen ? tlen : 1);
		if (vm_read(ps->pid, tabptr + PY_BYTES_DATA, e->table, tlen) == 0)
			e->ntable = tlen;
	}
	e->ok = true;
	ps->st.codes++;
}

/* The id of a frame (file, name, first line, current line), made once. */
static uint64_t frame_id(struct pystage *ps, const struct codeent *e, int line)
{
	uint64_t key[4] = { (uintptr_t)e->file, (uintptr_t)e->name, (uint64_t)e->firstlineno,
			    (uint64_t)line };
	uint64_t h = hash_bytes(key, sizeof(key), 0x9e3779b9), id;
	struct sym_frame *f;

	pthread_mutex_lock(&ps->mu);
	for (;; h++) {
		if (!u64map_get(ps->frame_ids, h, &id))
			break;
		f = &ps->chunks[(id - 1) / FRAME_CHUNK][(id - 1) % FRAME_CHUNK];
		if (f->file == e->file && f->func == e->name && f->line == e->firstlineno &&
		    f->src_line == line)
			goto out;
	}
	if (ps->nframes % FRAME_CHUNK == 0) {
		xgrow((void **)&ps->chunks, &ps->chunkcap, ps->nframes / FRAME_CHUNK + 1,
		      sizeof(*ps->chunks));
		ps->chunks[ps->nframes / FRAME_CHUNK] = xcalloc(FRAME_CHUNK, sizeof(struct sym_frame));
	}
	id = ++ps->nframes;
	f = &ps->chunks[(id - 1) / FRAME_CHUNK][(id - 1) % FRAME_CHUNK];
	*f = (struct sym_frame){ .func = e->name, .file = e->file, .line = e->firstlineno,
				 .module = "", .src_line = line,
				 .src_file = line ? e->file : NULL };
	u64map_put(ps->frame_ids, h, id);
out:
	pthread_mutex_unlock(&ps->mu);
	return PYSTAGE_PC_FLAG | id;
}

/* The offset pycode_line wants, from what the frame holds. */
static int64_t code_offset(const struct pylayout *L, uint64_t code, int64_t lasti)
{
	switch (L->lasti) {
	case PY_LASTI_BYTES:
		return lasti;
	case PY_LASTI_UNITS:
		return lasti < 0 ? -1 : lasti * 2;
	case PY_LASTI_POINTER:
		return ((int64_t)((uint64_t)lasti - (code + L->co_code_adaptive))) / 2;
	}
	return -1;
}

static void grow_scratch(struct pystage *ps, size_t n)
{
	if (n <= ps->scratch)
		return;
	ps->py = xrealloc(ps->py, n * sizeof(*ps->py));
	ps->out = xrealloc(ps->out, n * 2 * sizeof(*ps->out));
	ps->end = xrealloc(ps->end, n * sizeof(*ps->end));
	ps->lv = xrealloc(ps->lv, n * sizeof(*ps->lv));
	ps->rv = xrealloc(ps->rv, n * sizeof(*ps->rv));
	ps->fpbuf = xrealloc(ps->fpbuf, n * FP_MAX);
	ps->scratch = n;
}

/* Names the Python frames of a capture: one read for the fingerprints of
 * every code object on it, a full decode for those new or changed. */
static void name_frames(struct pystage *ps, const struct py_capture *pc)
{
	const struct pylayout *L = ps->lay;
	uint32_t off, len;
	ssize_t got = 0;
	int n = pc->n;

	fp_span(L, &off, &len);
	for (int i = 0; i < n; i++) {
		ps->lv[i] = (struct iovec){ ps->fpbuf + (size_t)i * FP_MAX, len };
		ps->rv[i] = (struct iovec){ (void *)(uintptr_t)(pc->f[i].code + off), len };
	}
	for (int i = 0; i < n; i += 1024) {
		int k = n - i < 1024 ? n - i : 1024;
		ssize_t r = process_vm_readv(ps->pid, ps->lv + i, (unsigned long)k, ps->rv + i,
					     (unsigned long)k, 0);
		if (r < 0)
			break;
		got += r;
		if (r < (ssize_t)(len * (size_t)k))
			break;
	}
	for (int i = 0; i < n; i++) {
		const struct py_raw *f = &pc->f[i];
		bool readable = (size_t)got >= (size_t)(i + 1) * len;
		uint64_t idx;
		struct codeent *e;
		int64_t at;
		unsigned way;
		int line;

		if (!u64map_get(ps->codes, f->code, &idx)) {
			xgrow((void **)&ps->ents, &ps->entcap, ps->nents + 1, sizeof(*ps->ents));
			idx = ps->nents++;
			memset(&ps->ents[idx], 0, sizeof(*ps->ents));
			u64map_put(ps->codes, f->code, idx);
			decode_code(ps, f->code, &ps->ents[idx]);
		} else if (!readable || memcmp(ps->ents[idx].fp, ps->fpbuf + (size_t)i * FP_MAX,
					       len) != 0) {
			/* Freed, and its address reused: decode it afresh. */
			decode_code(ps, f->code, &ps->ents[idx]);
		}
		e = &ps->ents[idx];
		if (!e->ok) {
			ps->py[i] = 0;
			continue;
		}
		at = code_offset(L, f->code, f->lasti);
		way = (unsigned)(((uint64_t)at * 0x9e3779b97f4a7c15ull) >> 60) % LINE_WAYS;
		if (!e->id[way] || e->at[way] != at) {
			line = pycode_line(L->lines, e->table, e->ntable, e->firstlineno, at);
			e->id[way] = frame_id(ps, e, line);
			e->at[way] = at;
		}
		ps->py[i] = e->id[way];
	}
}

int pystage_merge(struct pystage *ps, unsigned slot, uint64_t *pcs, int n, int max, bool *trunc)
{
	struct py_capture *pc;
	struct pymerge_in in;
	struct pymerge_out res;

	if (!ps->lay && ps->redetect_until && mono_ns() < ps->redetect_until &&
	    mono_ns() - ps->last_detect > REDETECT_EVERY_NS)
		detect(ps, true);
	if (slot >= ps->nslots || !ps->lay)
		return n;
	pc = &ps->slots[slot];
	if (pc->status == PY_READ_NONE)
		return n;
	if (pc->status != PY_READ_OK || pc->n == 0) {
		/* Eval frames with no Python frames read for them: kept as
		 * they are, and counted. */
		for (int i = 0; i < n; i++)
			if (pyelf_in(ps->elf.eval, ps->elf.neval, pcs[i])) {
				ps->st.samples++;
				ps->st.mismatched++;
				ps->st.eval_left++;
				if (pc->status == PY_READ_FAILED)
					ps->st.read_failed++;
				else if (ps->rd)
					pyreader_forget(ps->rd, pc->tid);
				break;
			}
		pc->status = PY_READ_NONE;
		return n;
	}
	grow_scratch(ps, (size_t)pc->n + (size_t)n + 1);
	name_frames(ps, pc);
	/* Frames whose code could not be read keep their place, unnamed. */
	for (int i = 0; i < pc->n; i++) {
		ps->end[i] = pc->f[i].end;
		if (!ps->py[i])
			ps->py[i] = PYSTAGE_PC_FLAG;
	}
	in = (struct pymerge_in){ .native = pcs, .nnative = n, .py = ps->py, .end = ps->end,
				  .npy = pc->n, .eval = ps->elf.eval, .neval = ps->elf.neval,
				  .interp = ps->elf.text, .ninterp = ps->elf.ntext,
				  .keep_interp = ps->o.interp_frames };
	pymerge(&in, ps->out, max, &res);
	memcpy(pcs, ps->out, sizeof(*pcs) * (size_t)res.n);
	if (res.cut || pc->truncated)
		*trunc = true;
	ps->st.samples++;
	/* A cut native stack leaves the outer Python frames over by right. */
	if (res.eval_left || (res.py_left && !*trunc)) {
		ps->st.mismatched++;
		if (res.eval_left)
			ps->st.eval_left++;
		if (res.py_left)
			ps->st.py_left++;
	}
	pc->status = PY_READ_NONE;
	return res.n;
}

int pystage_lookup(struct pystage *ps, uint64_t pc, const struct sym_frame **frames)
{
	uint64_t id = pc & 0xffffffffull;

	pthread_mutex_lock(&ps->mu);
	if (id == 0 || id > ps->nframes)
		*frames = &unknown_frame;
	else
		*frames = &ps->chunks[(id - 1) / FRAME_CHUNK][(id - 1) % FRAME_CHUNK];
	pthread_mutex_unlock(&ps->mu);
	return 1;
}

const char *pystage_version(const struct pystage *ps)
{
	return ps && ps->found ? ps->version : NULL;
}

bool pystage_reading(const struct pystage *ps)
{
	return ps && ps->lay;
}

void pystage_stats(const struct pystage *ps, struct pystage_stats *out)
{
	*out = ps->st;
	out->threads = ps->rd ? pyreader_threads(ps->rd) : 0;
}

void pystage_free(struct pystage *ps)
{
	if (!ps)
		return;
	forget(ps);
	u64map_free(ps->codes);
	free(ps->ents);
	for (size_t i = 0; i < ps->nslots; i++)
		py_capture_fini(&ps->slots[i]);
	free(ps->slots);
	for (size_t i = 0; i * FRAME_CHUNK < ps->nframes; i++)
		free(ps->chunks[i]);
	free(ps->chunks);
	u64map_free(ps->frame_ids);
	strtab_free(ps->strs);
	pthread_mutex_destroy(&ps->mu);
	free(ps->py);
	free(ps->out);
	free(ps->end);
	free(ps->lv);
	free(ps->rv);
	free(ps->fpbuf);
	free(ps);
}
