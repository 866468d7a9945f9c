/* pyread.c: Python frames of a stopped thread (see pyread.h). */
#include "pyread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "capture.h"
#include "pylayout.h"
#include "util.h"

/* Bounds on what target memory may make us do. */
#define MAX_INTERPS 64
#define MAX_THREADS 4096
#define MAX_CHUNK (1u << 20)      /* most data stack copied in one read */
/* A thread with no known thread state looks again at most this often:
 * walking every thread state costs a read each. A thread never looked up
 * before waits only WALK_MIN_NS since the last walk: a new thread's own
 * samples must not go without their Python frames for long, and a storm
 * of new threads must not cost a walk each. */
#define WALK_INTERVAL_NS 50000000ull
#define WALK_MIN_NS 1000000ull

struct region {
	uint64_t addr;
	const uint8_t *buf;
	size_t len;
};

/* What a thread's last read found, to read it the next time with one
 * process_vm_readv, before knowing whether it still holds: its thread
 * state; 3.11+ its data stack (the part in use, with some slack); <= 3.10
 * the frames of its chain, which are heap objects, one read each
 * otherwise (a deep stack mostly keeps its outer frames from one sample
 * to the next). What was read is used only where it proves current. */
#define CHUNK_SLACK 2048
/* <= 3.10: the innermost frames of the chain before, kept beside the
 * chain's: a thread that calls the same short function over and over is
 * sampled now in it, now between two calls, and the frame object of the
 * next call is mostly the same one (each code object keeps one for
 * reuse). */
#define KEEP_OLD 4
struct lastchain {
	uint64_t tstate;
	uint64_t chunk;
	size_t chunk_len;
	uint64_t *addr;
	int n, cap;
};

struct pyreader {
	pid_t pid;
	const struct pylayout *lay;
	uint64_t runtime;
	struct u64map *bytid;      /* tid -> tstate (0: none at the last walk) */
	struct u64map *bypthread;  /* <= 3.10: pthread_t -> tstate, from the last walk */
	uint64_t walked_ns;
	bool walked;
	uint8_t *chunk;            /* 3.11+: copy of the data stack in use */
	size_t chunk_cap;
	struct region reg[2];      /* C stack copy, data stack copy */
	int nreg;
	pyread_mem_fn mem;
	void *mem_ctx;
	uint64_t syscalls;
	/* See struct lastchain: by tid, and the batch read. */
	struct u64map *chains;     /* tid -> struct lastchain *, owned */
	pid_t ahead_tid;           /* pyreader_ahead asked the capture of this tid */
	size_t ahead_n;            /* for this many ranges (0: none pending) */
	uint8_t *batch;            /* frames of the last chain, fr_size each */
	int batch_n;               /* how many of them were read */
	uint8_t pre_ts[512];       /* the thread state read ahead */
	uint64_t pre_ts_addr, pre_ts_addr_chunk;
	size_t pre_chunk_len;
	bool pre_ts_ok, pre_chunk_ok;
	size_t batch_cap;
	struct iovec *liov, *riov;
	size_t iov_cap;
};

static int vm_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct pyreader *r = ctx;
	struct iovec l = { buf, len }, rv = { (void *)(uintptr_t)addr, len };

	r->syscalls++;
	return process_vm_readv(r->pid, &l, 1, &rv, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* Reads len bytes at addr: from a local copy that holds them all, else
 * from the target. */
static int rd(struct pyreader *r, uint64_t addr, void *buf, size_t len)
{
	if (!addr)
		return -1;
	for (int i = 0; i < r->nreg; i++) {
		const struct region *g = &r->reg[i];
		if (addr >= g->addr && addr - g->addr <= g->len && len <= g->len - (addr - g->addr)) {
			memcpy(buf, g->buf + (addr - g->addr), len);
			return 0;
		}
	}
	return r->mem(r->mem_ctx, addr, buf, len);
}

static uint64_t u64_at(const uint8_t *b, uint32_t off)
{
	uint64_t v;
	memcpy(&v, b + off, 8);
	return v;
}

static void free_chains(struct pyreader *r)
{
	size_t pos = 0;
	uint64_t k, v;

	while (u64map_next(r->chains, &pos, &k, &v)) {
		struct lastchain *lc = (struct lastchain *)(uintptr_t)v;
		free(lc->addr);
		free(lc);
	}
	u64map_free(r->chains);
}

struct pyreader *pyreader_new(pid_t pid, const struct pylayout *lay, uint64_t runtime)
{
	struct pyreader *r = xcalloc(1, sizeof(*r));

	r->pid = pid;
	r->lay = lay;
	r->runtime = runtime;
	r->bytid = u64map_new();
	r->bypthread = u64map_new();
	r->chains = u64map_new();
	r->mem = vm_read;
	r->mem_ctx = r;
	return r;
}

void pyreader_set_mem(struct pyreader *r, pyread_mem_fn fn, void *ctx)
{
	r->mem = fn;
	r->mem_ctx = ctx;
}

void pyreader_forget(struct pyreader *r, pid_t tid)
{
	uint64_t t;

	if (u64map_get(r->bytid, (uint64_t)(uint32_t)tid, &t) && !t)
		u64map_del(r->bytid, (uint64_t)(uint32_t)tid);
}

void pyreader_thread_gone(struct pyreader *r, pid_t tid)
{
	uint64_t key = (uint64_t)(uint32_t)tid, v;

	u64map_del(r->bytid, key);
	if (u64map_get(r->chains, key, &v)) {
		struct lastchain *lc = (struct lastchain *)(uintptr_t)v;
		free(lc->addr);
		free(lc);
		u64map_del(r->chains, key);
	}
	if (r->ahead_tid == tid)
		r->ahead_n = 0;
}

size_t pyreader_threads(const struct pyreader *r)
{
	return u64map_count(r->bytid) > u64map_count(r->chains) ? u64map_count(r->bytid) :
									 u64map_count(r->chains);
}

uint64_t pyreader_syscalls(const struct pyreader *r)
{
	return r->syscalls;
}

void pyreader_free(struct pyreader *r)
{
	if (!r)
		return;
	u64map_free(r->bytid);
	u64map_free(r->bypthread);
	free(r->chunk);
	free_chains(r);
	free(r->batch);
	free(r->liov);
	free(r->riov);
	free(r);
}

void py_capture_fini(struct py_capture *pc)
{
	free(pc->f);
	memset(pc, 0, sizeof(*pc));
}

/* Walks every thread state of every interpreter and notes who is who: the
 * TID (3.11+) or the pthread_t (<= 3.10, matched later with fs_base). */
static void walk_threads(struct pyreader *r)
{
	const struct pylayout *L = r->lay;
	uint8_t ts[512];
	uint64_t interp, t;

	u64map_free(r->bytid);
	u64map_free(r->bypthread);
	r->bytid = u64map_new();
	r->bypthread = u64map_new();
	r->walked = true;
	r->walked_ns = mono_ns();
	if (rd(r, r->runtime + L->rt_interp_head, &interp, 8) < 0)
		return;
	for (int i = 0; interp && i < MAX_INTERPS; i++) {
		if (rd(r, interp + L->is_threads_head, &t, 8) < 0)
			break;
		for (int k = 0; t && k < MAX_THREADS; k++) {
			if (rd(r, t, ts, L->ts_size) < 0 || u64_at(ts, L->ts_interp) != interp)
				break;
			if (L->ts_native_id) {
				uint64_t tid = (uint64_t)(uint32_t)u64_at(ts, L->ts_native_id);
				u64map_put(r->bytid, tid, t);
			} else {
				u64map_put(r->bypthread, u64_at(ts, L->ts_thread_id), t);
			}
			t = u64_at(ts, L->ts_next);
		}
		if (rd(r, interp + L->is_next, &interp, 8) < 0)
			break;
	}
}

/* The thread state of the thread of c, read into ts; 0 if none. */
static uint64_t find_tstate(struct pyreader *r, const struct capture *c, uint8_t *ts)
{
	const struct pylayout *L = r->lay;
	uint64_t key = (uint64_t)(uint32_t)c->tid, t = 0, fs = c->regs.fs_base;
	bool have;

	for (int attempt = 0; attempt < 2; attempt++) {
		have = u64map_get(r->bytid, key, &t);
		if ((!have || !t) && !L->ts_native_id && fs && u64map_get(r->bypthread, fs, &t) &&
		    t) {
			u64map_put(r->bytid, key, t);
			have = true;
		}
		if (have && t && t == r->pre_ts_addr && r->pre_ts_ok)
			memcpy(ts, r->pre_ts, L->ts_size);
		if (have && t && ((t == r->pre_ts_addr && r->pre_ts_ok) ||
				  rd(r, t, ts, L->ts_size) == 0)) {
			/* Thread states are freed and reused: this one must
			 * still be this thread's. */
			bool mine = L->ts_native_id ?
				(uint32_t)u64_at(ts, L->ts_native_id) == (uint32_t)c->tid :
				(!fs || u64_at(ts, L->ts_thread_id) == fs);
			if (mine && u64_at(ts, L->ts_interp))
				return t;
		}
		if (r->walked && mono_ns() - r->walked_ns < (have ? WALK_INTERVAL_NS : WALK_MIN_NS)) {
			if (!have)
				u64map_put(r->bytid, key, 0);
			return 0;
		}
		walk_threads(r);
	}
	return 0;
}

/* Copies the data stack in use (3.11+), so that the frames on it are read
 * locally: the copy read ahead if it covers it, else with one read. */
static void copy_chunk(struct pyreader *r, const uint8_t *ts, struct lastchain *tc)
{
	const struct pylayout *L = r->lay;
	uint64_t chunk = u64_at(ts, L->ts_stack_chunk), top = u64_at(ts, L->ts_stack_top);
	uint64_t limit = u64_at(ts, L->ts_stack_top + 8);
	size_t len;

	tc->chunk = 0;
	if (!chunk || top <= chunk || top - chunk > MAX_CHUNK)
		return;
	len = (size_t)(top - chunk);
	if (!(r->pre_chunk_ok && chunk == r->pre_ts_addr_chunk && len <= r->pre_chunk_len)) {
		xgrow((void **)&r->chunk, &r->chunk_cap, len, 1);
		if (r->mem(r->mem_ctx, chunk, r->chunk, len) < 0)
			return;
	}
	r->reg[r->nreg++] = (struct region){ chunk, r->chunk, len };
	/* Next time: as much again, and some, within the chunk. */
	tc->chunk = chunk;
	tc->chunk_len = len + CHUNK_SLACK;
	if (limit > top && limit - chunk < tc->chunk_len)
		tc->chunk_len = (size_t)(limit - chunk);
	if (tc->chunk_len > MAX_CHUNK)
		tc->chunk_len = MAX_CHUNK;
}

/* The last chain of thread tid (created empty). */
static struct lastchain *thread_chain(struct pyreader *r, pid_t tid)
{
	uint64_t v;
	struct lastchain *lc;

	if (u64map_get(r->chains, (uint64_t)(uint32_t)tid, &v))
		return (struct lastchain *)(uintptr_t)v;
	lc = xcalloc(1, sizeof(*lc));
	u64map_put(r->chains, (uint64_t)(uint32_t)tid, (uint64_t)(uintptr_t)lc);
	return lc;
}

/* The ranges the thread's last read found (see struct lastchain), to be
 * read in one process_vm_readv into the read-ahead buffers: its thread
 * state, then its data stack (3.11+) or the frames of its chain (<= 3.10).
 * Returns how many (0: nothing known, or a test's reader, which goes
 * piece by piece). */
static size_t plan_ahead(struct pyreader *r, const struct lastchain *tc)
{
	const struct pylayout *L = r->lay;
	size_t fs = L->fr_size, ts = L->ts_size, niov = 1;
	/* With the stack's range and the two below: the kernel's most. */
	int nframes = L->group == PY_GROUP_EACH ? (tc->n < 1021 ? tc->n : 1021) : 0;

	if (!tc->tstate || r->mem != vm_read)
		return 0;
	if ((size_t)nframes + 2 > r->iov_cap) {
		r->iov_cap = (size_t)nframes + 2;
		r->liov = xrealloc(r->liov, sizeof(*r->liov) * r->iov_cap);
		r->riov = xrealloc(r->riov, sizeof(*r->riov) * r->iov_cap);
	}
	r->liov[0] = (struct iovec){ r->pre_ts, ts };
	r->riov[0] = (struct iovec){ (void *)(uintptr_t)tc->tstate, ts };
	if (tc->chunk && tc->chunk_len) {
		xgrow((void **)&r->chunk, &r->chunk_cap, tc->chunk_len, 1);
		r->liov[1] = (struct iovec){ r->chunk, tc->chunk_len };
		r->riov[1] = (struct iovec){ (void *)(uintptr_t)tc->chunk, tc->chunk_len };
		niov = 2;
	}
	if (nframes) {
		xgrow((void **)&r->batch, &r->batch_cap, (size_t)nframes * fs, 1);
		for (int i = 0; i < nframes; i++) {
			r->liov[niov] = (struct iovec){ r->batch + (size_t)i * fs, fs };
			r->riov[niov++] = (struct iovec){ (void *)(uintptr_t)tc->addr[i], fs };
		}
	}
	return niov;
}

/* Notes what of the planned ranges came: got bytes, in order (a bad
 * address ends the transfer: what came before it is good). */
static void took_ahead(struct pyreader *r, const struct lastchain *tc, size_t niov, size_t got)
{
	size_t fs = r->lay->fr_size, ts = r->lay->ts_size;
	bool chunk = niov >= 2 && r->liov[1].iov_base == r->chunk;

	r->pre_ts_addr = tc->tstate;
	r->pre_ts_ok = niov && got >= ts;
	r->pre_ts_addr_chunk = tc->chunk;
	r->pre_chunk_len = tc->chunk_len;
	r->pre_chunk_ok = chunk && got >= ts + tc->chunk_len;
	if (niov > (chunk ? 2u : 1u) && got > ts + (chunk ? tc->chunk_len : 0))
		r->batch_n = (int)((got - ts - (chunk ? tc->chunk_len : 0)) / fs);
}

/* Reads the planned ranges with a process_vm_readv of their own: the
 * capture did not carry them. */
static void read_ahead(struct pyreader *r, const struct lastchain *tc)
{
	size_t niov = plan_ahead(r, tc);
	ssize_t got;

	if (!niov)
		return;
	r->syscalls++;
	got = process_vm_readv(r->pid, r->liov, niov, r->riov, niov, 0);
	took_ahead(r, tc, niov, got > 0 ? (size_t)got : 0);
}

void pyreader_ahead(struct pyreader *r, pid_t tid, struct capture *c)
{
	uint64_t v;

	r->ahead_n = 0;
	c->nmore = 0;
	/* A thread never read has nothing to read ahead. */
	if (!u64map_get(r->chains, (uint64_t)(uint32_t)tid, &v))
		return;
	r->ahead_n = plan_ahead(r, (const struct lastchain *)(uintptr_t)v);
	r->ahead_tid = tid;
	c->more_local = r->liov;
	c->more_remote = r->riov;
	c->nmore = r->ahead_n;
	c->more_got = 0;
}

/* <= 3.10: notes the frames of the chain just read, for the next read
 * ahead, and some of the last chain's innermost that it lacks. */
static void keep_chain(struct lastchain *lc, const struct py_capture *out)
{
	uint64_t old[KEEP_OLD];
	int nold = 0;

	for (int i = 0; i < lc->n && i < 2 * KEEP_OLD && nold < KEEP_OLD; i++) {
		bool seen = false;
		for (int k = 0; k < out->n && !seen; k++)
			seen = out->f[k].frame == lc->addr[i];
		if (!seen)
			old[nold++] = lc->addr[i];
	}
	if (out->n + nold > lc->cap) {
		lc->cap = out->n + nold;
		lc->addr = xrealloc(lc->addr, sizeof(*lc->addr) * (size_t)lc->cap);
	}
	for (int i = 0; i < out->n; i++)
		lc->addr[i] = out->f[i].frame;
	if (nold)
		memcpy(lc->addr + out->n, old, sizeof(*old) * (size_t)nold);
	lc->n = out->n + nold;
}

/* Reads frame at addr into fr: from the batch if the last chain had it
 * (looked for from *hint on, where the chains agree), else alone. */
static int read_frame(struct pyreader *r, const struct lastchain *lc, int *hint, uint64_t addr,
		      uint8_t *fr)
{
	size_t fs = r->lay->fr_size;

	for (int pass = 0; pass < 2 && r->batch_n; pass++)
		for (int i = pass ? 0 : *hint; i < (pass ? *hint : r->batch_n); i++)
			if (lc->addr[i] == addr) {
				memcpy(fr, r->batch + (size_t)i * fs, fs);
				*hint = i + 1;
				return 0;
			}
	return rd(r, addr, fr, fs);
}

void pyreader_read(struct pyreader *r, const struct capture *c, int max, struct py_capture *out)
{
	struct lastchain *lc = NULL;
	int hint = 0;
	const struct pylayout *L = r->lay;
	uint8_t ts[512], fr[128];
	uint64_t frame, tortoise = 0;
	unsigned power = 1, lam = 0;

	out->n = 0;
	out->tid = c->tid;
	out->truncated = false;
	out->status = PY_READ_FAILED;
	if (max > out->cap) {
		out->f = xrealloc(out->f, sizeof(*out->f) * (size_t)max);
		out->cap = max;
	}
	r->nreg = 0;
	if (c->len)
		r->reg[r->nreg++] = (struct region){ c->sp, c->stack, c->len };
	lc = thread_chain(r, c->tid);
	r->pre_ts_ok = r->pre_chunk_ok = false;
	r->batch_n = 0;
	/* What the capture copied for us, if it did; else read it now. */
	if (r->ahead_n && r->ahead_tid == c->tid && c->nmore == r->ahead_n &&
	    c->more_local == r->liov && c->more_got)
		took_ahead(r, lc, r->ahead_n, c->more_got);
	else
		read_ahead(r, lc);
	r->ahead_n = 0;
	lc->tstate = find_tstate(r, c, ts);
	r->pre_ts_ok = false;
	if (!lc->tstate) {
		out->status = PY_READ_NOSTATE;
		goto done;
	}
	if (L->ts_stack_chunk)
		copy_chunk(r, ts, lc);
	frame = u64_at(ts, L->ts_frame);
	if (L->ts_cframe_current >= 0 && frame &&
	    rd(r, frame + (uint64_t)L->ts_cframe_current, &frame, 8) < 0)
		goto done;
	while (frame) {
		uint64_t code;
		uint8_t owner;

		/* Brent's cycle detection: a chain that comes back to where
		 * it was is garbage. */
		if (frame == tortoise)
			goto done;
		if (++lam == power) {
			tortoise = frame;
			power *= 2;
			lam = 0;
		}
		if (read_frame(r, lc, &hint, frame, fr) < 0)
			goto done;
		code = u64_at(fr, L->fr_code);
		if (L->code_tagged)
			code &= ~3ull;
		owner = L->fr_owner >= 0 ? fr[L->fr_owner] : 0;
		if (L->group == PY_GROUP_OWNER && owner >= 3) {
			/* The entry frame of a C-level call: it ends the group
			 * of the frames above it and is not shown. */
			if (out->n)
				out->f[out->n - 1].end = true;
		} else {
			struct py_raw *p;

			if (out->n == max) {
				out->truncated = true;
				break;
			}
			p = &out->f[out->n++];
			p->frame = frame;
			p->code = code;
			if (L->lasti == PY_LASTI_POINTER) {
				p->lasti = (int64_t)u64_at(fr, L->fr_lasti);
			} else {
				int32_t v;
				memcpy(&v, fr + L->fr_lasti, 4);
				p->lasti = v;
			}
			p->end = L->group == PY_GROUP_EACH ||
				 (L->group == PY_GROUP_ENTRY && fr[L->fr_entry]);
		}
		frame = u64_at(fr, L->fr_back);
	}
	if (out->n)
		out->f[out->n - 1].end = true;
	out->status = PY_READ_OK;
	if (L->group == PY_GROUP_EACH)   /* one frame per Python frame */
		keep_chain(lc, out);
done:
	if (out->status != PY_READ_OK)
		out->n = 0;
	r->nreg = 0;
}
