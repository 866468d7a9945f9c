/* session.c: one profile of one target (see session.h). */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "log.h"
#include "maps.h"
#include "modules.h"
#include "procfs.h"
#include "profile.h"
#include "pystage.h"
#include "split.h"
#include "sprofd.h"
#include "stacks.h"
#include "symbols.h"
#include "util.h"

/* Addresses waiting for the symbolizer thread. Symbolizing a new module can
 * take tens of milliseconds (libdw reads its DWARF); done on the tracing
 * thread it would delay ticks and the target's signals. */
struct symq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t *v;
	size_t n, cap;
	bool done;
	struct u64map *queued;   /* tracing thread only: addresses already sent */
};

/* What the session knows of each program sampled (image numbers, see
 * sampler.h), beside its symbolizer and mappings. */
struct image {
	pid_t pid;
	unsigned proc;           /* index in the target's procs */
	bool current;            /* the program its process runs now */
	struct pystage *py;      /* its process's Python stage, or NULL */
	bool py_owned;           /* the first image of the process owns it */
	uint64_t mods_read_ns;   /* when the symbolizer thread last read its maps */
};

/* A program the tracing thread started to sample, waiting for the
 * symbolizer thread to install it (install_pending): the tracing thread
 * never waits for sym_mu, which a symbolizer reading DWARF holds for tens
 * of milliseconds. */
struct newimg {
	unsigned image;
	bool exec;
	struct symbolizer *sym;
	struct image im;
};

struct session {
	struct session_opts o;
	struct target t;
	struct stacktab *stacks;
	struct strtab *strs;
	/* One symbolizer per program the target ran (image numbers, see
	 * sampler.h); an entry is NULL if the maps could not be read. */
	struct symbolizer **syms;
	size_t nsyms, symcap;
	struct image *imgs;      /* parallel to syms; grown with it */
	/* Programs not installed yet (guarded by q.mu). */
	struct newimg *pend;
	size_t npend, pendcap;
	/* The tracing thread's own: each image's PID, each process's Python
	 * stage (by index in the target's procs). */
	pid_t *img_pid;
	size_t nimg_pid, img_pidcap;
	struct pystage **proc_py;
	size_t nproc_py, proc_pycap;
	struct sampler_stats stats;
	pthread_t thread, symthread;
	bool symthread_running;
	struct symq q;
	sem_t attached;
	int attach_code;
	int stop_fd, done_fd;
	int rc;
	uint64_t start_time;
	char comm[64];
	/* Thread names, tid -> name interned in tnames_strs: filled by the
	 * tracing thread when a thread is first sampled, read after join. */
	struct u64map *tnames;
	struct strtab *tnames_strs;
	/* tid -> PID, PID -> process name (interned in tnames_strs), and the
	 * number of processes seen: filled by the tracing thread, read after
	 * join or copied for a snapshot. */
	struct u64map *tpids, *pnames;
	unsigned nprocs;
	unsigned nprocs_attached;
	/* Per program, like syms: the executable mappings with build IDs,
	 * for pprof. Guarded by sym_mu. */
	struct modules **mods;
	size_t nmods, modcap;
	/* Requests from other threads, served by the tracing thread between
	 * ticks (session_set_stride, session_snapshot); the eventfds order
	 * the hand-over. */
	int req_fd, snap_fd;
	atomic_uint stride;
	atomic_bool snap_wanted;
	struct stacktab *snap;   /* copies taken for a snapshot */
	struct u64map *snap_tnames, *snap_tpids, *snap_pnames;
	struct sampler_stats snap_stats;
	unsigned snap_threads, snap_procs;
	/* The symbolizers are not thread-safe, and share strs: one user at a
	 * time. Guards syms too, which grows at an exec. */
	pthread_mutex_t sym_mu;
	/* Frames by file and offset, shared by every program that maps the
	 * same file (the same build ID): the workers of one master name
	 * libc's addresses once, and libdw reads its DWARF once, not once per
	 * process. Guarded by sym_mu. */
	struct strtab *bids;             /* build IDs, interned */
	struct u64map *shared_files;     /* interned build ID -> index in shared_offs */
	struct u64map **shared_offs;     /* file offset -> index in shared_fr */
	size_t nshared_offs, shared_offcap;
	struct shared_frames {
		const struct sym_frame *f;   /* the symbolizer's that named it */
		int n;
	} *shared_fr;
	size_t nshared_fr, shared_frcap;
	uint64_t shared_hits;
	struct pystage *py;      /* the first process's Python stage (imgs own them) */
};

/* How soon a program the target exec'ed into may read its maps again for
 * an address in none of them: its libraries are being mapped right then. */
#define EXEC_SYM_REFRESH_NS 20000000ull

/* How often the symbolizer thread may read the mappings again for an
 * address in none of them (a library loaded since, or a program just
 * exec'ed into that is still mapping its libraries). */
#define MODS_REFRESH_NS 100000000ull

/* The symbolizer of the program a pc comes from, or NULL. */
static struct symbolizer *image_sym(const struct session *s, uint64_t pc)
{
	unsigned image = SAMPLER_IMAGE(pc);

	return image < s->nsyms ? s->syms[image] : NULL;
}

/* The Python stage of the process a pc comes from, or NULL. */
static struct pystage *image_py(const struct session *s, uint64_t pc)
{
	unsigned image = SAMPLER_IMAGE(pc);

	return image < s->nsyms ? s->imgs[image].py : NULL;
}

/* Records the name of the thread of the newest stack, if not yet known
 * (tracing thread). Stacks are told apart by thread, so a thread's first
 * sample is always a new stack, the last one added. */
static void note_thread(struct session *s)
{
	struct stack_view sv;
	char name[64];

	unsigned image;
	pid_t pid;

	stacktab_get(s->stacks, stacktab_size(s->stacks) - 1, &sv);
	if (u64map_get(s->tnames, (uint64_t)(uint32_t)sv.tid, NULL))
		return;
	image = sv.n ? SAMPLER_IMAGE(sv.pcs[0]) : 0;
	pid = image < s->nimg_pid ? s->img_pid[image] : s->o.pid;
	if (procfs_read_comm(pid, sv.tid, name, sizeof(name)) < 0)
		name[0] = '\0';   /* gone */
	u64map_put(s->tnames, (uint64_t)(uint32_t)sv.tid,
		   (uint64_t)(uintptr_t)strtab_intern(s->tnames_strs, name));
	u64map_put(s->tpids, (uint64_t)(uint32_t)sv.tid, (uint64_t)pid);
}

/* Queues the addresses of a new stack not queued before (tracing thread). */
static void queue_new_stack(void *ctx, const uint64_t *pcs, int n)
{
	struct session *s = ctx;
	struct symq *q = &s->q;
	bool any = false;

	note_thread(s);
	if (!s->symthread_running)
		return;
	pthread_mutex_lock(&q->mu);
	for (int i = 0; i < n; i++) {
		if (u64map_get(q->queued, pcs[i], NULL))
			continue;
		u64map_put(q->queued, pcs[i], 1);
		xgrow((void **)&q->v, &q->cap, q->n + 1, sizeof(*q->v));
		q->v[q->n++] = pcs[i];
		any = true;
	}
	if (any)
		pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Installs the programs the tracing thread started since the last call
 * (sym_mu held, or no other thread left). An exec ends the old program's
 * reading of the maps: they describe the new program now. */
static void install_pending(struct session *s)
{
	struct newimg *pend;
	size_t n;

	pthread_mutex_lock(&s->q.mu);
	pend = s->pend;
	n = s->npend;
	s->pend = NULL;
	s->npend = s->pendcap = 0;
	pthread_mutex_unlock(&s->q.mu);
	for (size_t k = 0; k < n; k++) {
		unsigned image = pend[k].image;
		size_t cap = s->symcap;

		for (size_t i = 0; pend[k].exec && i < s->nsyms; i++) {
			if (s->imgs[i].proc != pend[k].im.proc || !s->imgs[i].current)
				continue;
			s->imgs[i].current = false;
			if (s->syms[i])
				symbolizer_set_refresh(s->syms[i], UINT64_MAX);
		}
		xgrow((void **)&s->syms, &s->symcap, (size_t)image + 1, sizeof(*s->syms));
		if (s->symcap != cap || !s->imgs)
			s->imgs = xrealloc(s->imgs, s->symcap * sizeof(*s->imgs));
		while (s->nsyms <= image) {
			s->syms[s->nsyms] = NULL;
			memset(&s->imgs[s->nsyms], 0, sizeof(s->imgs[0]));
			s->nsyms++;
		}
		s->syms[image] = pend[k].sym;
		s->imgs[image] = pend[k].im;
	}
	free(pend);
}

/* Installs the mappings of program image (sym_mu held). */
static void set_mods(struct session *s, unsigned image, struct modules *mods)
{
	xgrow((void **)&s->mods, &s->modcap, (size_t)image + 1, sizeof(*s->mods));
	while (s->nmods <= image)
		s->mods[s->nmods++] = NULL;
	modules_free(s->mods[image]);
	s->mods[image] = mods;
}

/* Makes sure the mapping of a sampled pc is known while it is surely there
 * (sym_mu held): reads the maps again if it is in none of those read, at
 * most every MODS_REFRESH_NS. Only for the program running now: the maps
 * describe no other. Read just as the target exec'ed again, they describe
 * the next one, which holds this address hardly ever: they are kept only
 * if they do. The maps alone are read first, and the build IDs only if
 * they have a file there: JIT code is in none, at every sample. Once the
 * target is gone the reads fail, and the mappings read last stay. */
static void note_mapping(struct session *s, uint64_t pc)
{
	unsigned image = SAMPLER_IMAGE(pc);
	uint64_t addr = SAMPLER_ADDR(pc), now;
	const struct map_entry *e;
	struct modules *mods;
	struct maps *mp;
	bool in_file;

	struct image *im;

	if (image >= s->nsyms || !(im = &s->imgs[image])->current)
		return;
	if (image < s->nmods && modules_find(s->mods[image], addr))
		return;
	now = mono_ns();
	if (im->mods_read_ns && now - im->mods_read_ns < MODS_REFRESH_NS)
		return;
	im->mods_read_ns = now;
	if (!(mp = maps_read(im->pid)))
		return;
	e = maps_find(mp, addr);
	in_file = e && e->x && e->path[0];
	mods = in_file ? modules_from_maps(im->pid, mp) : NULL;
	maps_free(mp);
	if (mods && modules_find(mods, addr))
		set_mods(s, image, mods);
	else
		modules_free(mods);
}

/* The shared frames of the file a pc is in (sym_mu held), with its offset
 * in the file; NULL when the mapping is unknown or its file has no build
 * ID (the same path may be another file in another mount namespace). */
static struct u64map *shared_file(struct session *s, uint64_t pc, uint64_t *off)
{
	unsigned image = SAMPLER_IMAGE(pc);
	uint64_t addr = SAMPLER_ADDR(pc), idx;
	const struct module_map *mm;
	const char *bid;

	if (image >= s->nmods || !(mm = modules_find(s->mods[image], addr)) || !mm->build_id[0])
		return NULL;
	bid = strtab_intern(s->bids, mm->build_id);
	if (!u64map_get(s->shared_files, (uint64_t)(uintptr_t)bid, &idx)) {
		xgrow((void **)&s->shared_offs, &s->shared_offcap, s->nshared_offs + 1,
		      sizeof(*s->shared_offs));
		idx = s->nshared_offs++;
		s->shared_offs[idx] = u64map_new();
		u64map_put(s->shared_files, (uint64_t)(uintptr_t)bid, idx);
	}
	*off = addr - mm->start + mm->offset;
	return s->shared_offs[idx];
}

static const struct sym_frame unknown_frame = { .func = "[unknown]", .file = "", .module = "" };

/* The frames of a native pc (sym_mu held, or no other thread left): from
 * the frames shared by file when another program named the same place,
 * else from the symbolizer of its own program, shared from then on. */
static int sym_lookup(struct session *s, uint64_t pc, const struct sym_frame **frames)
{
	struct symbolizer *sym = image_sym(s, pc);
	struct u64map *m;
	uint64_t off = 0, idx;
	int n;

	m = shared_file(s, pc, &off);
	if (m && u64map_get(m, off, &idx)) {
		s->shared_hits++;
		*frames = s->shared_fr[idx].f;
		return s->shared_fr[idx].n;
	}
	/* Without a symbolizer (the maps could not be read) nothing has a name. */
	if (!sym) {
		*frames = &unknown_frame;
		return 1;
	}
	n = symbolizer_lookup(sym, SAMPLER_ADDR(pc), frames);
	/* An address the symbolizer found in no module yet (a library just
	 * loaded: it re-reads the maps later) is asked again next time. */
	if (m && n > 0 && strcmp((*frames)[n - 1].func, SYM_NAME_UNKNOWN) != 0 &&
	    strcmp((*frames)[n - 1].func, SYM_NAME_ANON) != 0) {
		xgrow((void **)&s->shared_fr, &s->shared_frcap, s->nshared_fr + 1,
		      sizeof(*s->shared_fr));
		s->shared_fr[s->nshared_fr] = (struct shared_frames){ *frames, n };
		u64map_put(m, off, s->nshared_fr++);
	}
	return n;
}

/* The symbolizer thread: resolves queued addresses while their modules
 * are surely mapped (a library may be unloaded, or the target may exit,
 * before the profile is written). */
static void *symbolize_main(void *arg)
{
	struct session *s = arg;
	struct symq *q = &s->q;
	uint64_t *batch = NULL;
	size_t bcap = 0;

	for (;;) {
		size_t n;

		pthread_mutex_lock(&q->mu);
		while (q->n == 0 && !q->done)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->n == 0 && q->done) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		n = q->n;
		xgrow((void **)&batch, &bcap, n, sizeof(*batch));
		memcpy(batch, q->v, n * sizeof(*batch));
		q->n = 0;
		pthread_mutex_unlock(&q->mu);
		pthread_mutex_lock(&s->sym_mu);
		/* The programs of these addresses were queued before them. */
		install_pending(s);
		for (size_t i = 0; i < n; i++) {
			const struct sym_frame *f;

			if (PYSTAGE_IS_PY(batch[i]))   /* --- python stage: named already --- */
				continue;
			/* The mapping first: its file's build ID finds frames
			 * another program named already. */
			note_mapping(s, batch[i]);
			sym_lookup(s, batch[i], &f);
		}
		pthread_mutex_unlock(&s->sym_mu);
	}
	free(batch);
	return NULL;
}

/* Lets the symbolizer thread finish what is queued, and waits for it. */
static void symthread_finish(struct session *s)
{
	if (!s->symthread_running)
		return;
	pthread_mutex_lock(&s->q.mu);
	s->q.done = true;
	pthread_cond_signal(&s->q.cv);
	pthread_mutex_unlock(&s->q.mu);
	pthread_join(s->symthread, NULL);
	s->symthread_running = false;
}

/* Gives the tracing thread the lowest real-time priority, or failing that
 * a high nice value. A target thread that stops for a sample stays stopped
 * until this thread is scheduled to resume it; on a saturated machine a
 * normal thread can wait milliseconds for a CPU, and the target with it.
 * The thread sleeps between events and each event is microseconds of work,
 * so it takes little from the machine. Threads it creates would inherit the
 * policy, so it must be called after the symbolizer thread exists. */
static void raise_priority(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0) {
		log_debug("tracing thread runs at real-time priority 1 (SCHED_FIFO)");
		return;
	}
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), -10) == 0)
		log_debug("tracing thread runs at nice -10");
}

/* Serves the requests of other threads (tracing thread, between ticks):
 * copies what was sampled so far if a snapshot is wanted, and returns the
 * stride to sample at. */
static unsigned serve_request(void *ctx)
{
	struct session *s = ctx;

	if (atomic_exchange(&s->snap_wanted, false)) {
		struct stack_view sv;
		uint64_t k, v;
		size_t pos = 0;

		s->snap = stacktab_new();
		for (size_t i = 0; i < stacktab_size(s->stacks); i++) {
			stacktab_get(s->stacks, i, &sv);
			stacktab_add(s->snap, sv.pcs, sv.n, sv.tid, sv.truncated, sv.count);
		}
		s->snap_tnames = u64map_new();
		while (u64map_next(s->tnames, &pos, &k, &v))
			u64map_put(s->snap_tnames, k, v);
		s->snap_tpids = u64map_new();
		for (pos = 0; u64map_next(s->tpids, &pos, &k, &v);)
			u64map_put(s->snap_tpids, k, v);
		s->snap_pnames = u64map_new();
		for (pos = 0; u64map_next(s->pnames, &pos, &k, &v);)
			u64map_put(s->snap_pnames, k, v);
		s->snap_stats = s->stats;
		s->snap_stats.end_ns = mono_ns();
		s->snap_threads = s->t.threads_seen;
		s->snap_procs = s->nprocs;
		eventfd_write(s->snap_fd, 1);
	}
	return atomic_load(&s->stride);
}

/* A program starts to be sampled (tracing thread, on_image): a process
 * seen for the first time, or one that exec'ed. It gets a symbolizer of
 * its own, read from its maps as they are, handed to the symbolizer thread
 * (install_pending); a new process also gets its Python stage, which an
 * exec keeps. */
static struct pystage *session_image(void *ctx, unsigned image, pid_t pid, unsigned proc,
				     bool exec)
{
	struct session *s = ctx;
	struct symbolizer *sym;
	struct pystage *py = NULL;
	bool owned = false;
	char comm[64];

	if (!exec && !s->o.no_python) {   /* --- python stage --- */
		py = pystage_new(pid, &s->o.py);
		owned = true;
	}
	sym = symbolizer_new(pid, s->strs);
	if (sym) {
		symbolizer_set_opts(sym, &s->o.sym);
		if (exec)
			symbolizer_set_refresh(sym, EXEC_SYM_REFRESH_NS);
	}
	if (procfs_read_comm(pid, 0, comm, sizeof(comm)) == 0)
		u64map_put(s->pnames, (uint64_t)(uint32_t)pid,
			   (uint64_t)(uintptr_t)strtab_intern(s->tnames_strs, comm));
	if (exec)
		py = proc < s->nproc_py ? s->proc_py[proc] : NULL;
	xgrow((void **)&s->proc_py, &s->proc_pycap, (size_t)proc + 1, sizeof(*s->proc_py));
	while (s->nproc_py <= proc)
		s->proc_py[s->nproc_py++] = NULL;
	s->proc_py[proc] = py;
	xgrow((void **)&s->img_pid, &s->img_pidcap, (size_t)image + 1, sizeof(*s->img_pid));
	while (s->nimg_pid <= image)
		s->img_pid[s->nimg_pid++] = 0;
	s->img_pid[image] = pid;
	if (!exec)
		s->nprocs++;
	if (proc == 0 && !exec)
		s->py = py;
	pthread_mutex_lock(&s->q.mu);
	xgrow((void **)&s->pend, &s->pendcap, s->npend + 1, sizeof(*s->pend));
	s->pend[s->npend++] = (struct newimg){
		.image = image, .exec = exec, .sym = sym,
		.im = { .pid = pid, .proc = proc, .current = true, .py = py, .py_owned = owned },
	};
	pthread_mutex_unlock(&s->q.mu);
	return py;
}

/* attach's report of a thread born or gone (tracing thread): each
 * process's Python stage forgets what it kept of that tid. Told to every
 * stage, since the report does not say whose the tid was; a stage that
 * never read it pays a lookup. */
static void python_thread_event(void *ctx, pid_t tid, enum thread_event ev)
{
	struct session *s = ctx;

	(void)ev;
	for (size_t i = 0; i < s->nproc_py; i++)   /* --- python stage --- */
		if (s->proc_py[i])
			pystage_thread_gone(s->proc_py[i], tid);
}

/* The tracing thread: attach, sample, and end, which detaches. */
static void *session_main(void *arg)
{
	struct session *s = arg;
	struct sampler_conf c;

	struct target_opts to = { .children = s->o.children,
				  .max_procs = s->o.max_procs ? s->o.max_procs :
						TARGET_MAX_PROCS_DEFAULT };

	if (s->o.npids)
		s->attach_code = target_attach_set(&s->t, s->o.pids, s->o.npids, &to);
	else
		s->attach_code = target_attach_set(&s->t, &s->o.pid, 1, &to);
	memcpy(s->comm, s->t.comm, sizeof(s->comm));
	if (s->attach_code != EXIT_OK) {
		sem_post(&s->attached);
		return NULL;
	}
	s->start_time = (uint64_t)time(NULL);
	s->nprocs_attached = (unsigned)s->t.nlive;
	if (!s->o.no_python && target_watch(&s->t, python_thread_event, s) < 0)
		log_warn("python: cannot watch thread exits; what is kept of threads that "
			 "exit stays until the profile ends");
	/* The sampler reads each process's maps as it starts (session_image):
	 * if a process exits mid-profile, its modules are still known. */
	if (pthread_create(&s->symthread, NULL, symbolize_main, s) == 0)
		s->symthread_running = true;
	sem_post(&s->attached);

	raise_priority();
	c.hz = s->o.hz;
	c.duration_ns = (uint64_t)(s->o.duration * 1e9);
	c.max_depth = s->o.max_depth;
	c.stack_cap = s->o.stack_cap;
	c.mode = s->o.mode;
	c.unwind_ptrace = s->o.unwind_ptrace;
	c.stop_fd = s->stop_fd;
	c.req_fd = s->req_fd;
	c.on_request = serve_request;
	c.on_image = session_image;
	s->rc = sampler_run(&s->t, &c, s->stacks, queue_new_stack, s, &s->stats);
	eventfd_write(s->done_fd, 1);
	/* Returning ends this thread; the kernel detaches what is left. */
	return NULL;
}

struct session *session_start(const struct session_opts *o, int *code)
{
	struct session *s = xcalloc(1, sizeof(*s));
	struct modules *mods;
	int err;

	s->o = *o;
	s->stacks = stacktab_new();
	s->strs = strtab_new();
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->snap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	atomic_init(&s->stride, o->stride > 1 ? o->stride : 1);
	/* Served before the first tick. */
	if (o->stride > 1 && s->req_fd >= 0)
		eventfd_write(s->req_fd, 1);
	atomic_init(&s->snap_wanted, false);
	pthread_mutex_init(&s->sym_mu, NULL);
	s->bids = strtab_new();
	s->shared_files = u64map_new();
	sem_init(&s->attached, 0, 0);
	pthread_mutex_init(&s->q.mu, NULL);
	pthread_cond_init(&s->q.cv, NULL);
	s->q.queued = u64map_new();
	s->tnames = u64map_new();
	s->tnames_strs = strtab_new();
	s->tpids = u64map_new();
	s->pnames = u64map_new();
	if (!s->o.pid && o->npids)
		s->o.pid = o->pids[0];
	if (s->stop_fd < 0 || s->done_fd < 0 || s->req_fd < 0 || s->snap_fd < 0) {
		log_err("cannot create an eventfd: %s", strerror(errno));
		*code = EXIT_INTERNAL;
		session_free(s);
		return NULL;
	}
	err = pthread_create(&s->thread, NULL, session_main, s);
	if (err) {
		log_err("cannot start the tracing thread: %s", strerror(err));
		*code = EXIT_INTERNAL;
		session_free(s);
		return NULL;
	}
	while (sem_wait(&s->attached) < 0 && errno == EINTR)
		;
	if (s->attach_code != EXIT_OK) {
		pthread_join(s->thread, NULL);
		*code = s->attach_code;
		s->thread = 0;
		session_free(s);
		return NULL;
	}
	/* While the tracing thread samples: the files are surely there now. */
	mods = modules_read(o->pid);
	pthread_mutex_lock(&s->sym_mu);
	if (s->nmods == 0 || !s->mods[0])
		set_mods(s, 0, mods);
	else
		modules_free(mods);
	pthread_mutex_unlock(&s->sym_mu);
	*code = EXIT_OK;
	return s;
}

void session_stop(struct session *s)
{
	eventfd_write(s->stop_fd, 1);
}

int session_done_fd(const struct session *s)
{
	return s->done_fd;
}

int session_join(struct session *s)
{
	if (s->thread) {
		pthread_join(s->thread, NULL);
		s->thread = 0;
	}
	symthread_finish(s);
	return s->rc;
}

/* Adapts symbolizer_lookup to the profile builder's callback. */
static int lookup_cb(void *ctx, uint64_t addr, const struct sym_frame **frames)
{
	struct session *s = ctx;
	struct pystage *py = image_py(s, addr);

	if (PYSTAGE_IS_PY(addr) && py)   /* --- python stage --- */
		return pystage_lookup(py, addr, frames);
	return sym_lookup(s, addr, frames);
}

/* Takes the names that live threads have now (a thread often names itself
 * after it starts), and the mappings of a target that is still there (it
 * may have loaded libraries since), as those of the program it runs now.
 * Called once sampling has ended. */
static void refresh_names(struct session *s)
{
	struct modules *mods;
	uint64_t tid, val, *tids;
	size_t pos = 0, n = 0;
	char name[64];

	/* The program each process runs now, unless it exec'ed into one we
	 * did not follow. */
	for (size_t i = 0; i < s->nsyms; i++) {
		const struct image *im = &s->imgs[i];

		if (!im->current || s->t.procs[im->proc].gone)
			continue;
		if ((mods = modules_read(im->pid)) != NULL)
			set_mods(s, (unsigned)i, mods);
		if (procfs_read_comm(im->pid, 0, name, sizeof(name)) == 0)
			u64map_put(s->pnames, (uint64_t)(uint32_t)im->pid,
				   (uint64_t)(uintptr_t)strtab_intern(s->tnames_strs, name));
	}
	/* A put may rehash the map, so not while iterating over it. */
	tids = xmalloc((u64map_count(s->tnames) + 1) * sizeof(*tids));
	while (u64map_next(s->tnames, &pos, &tid, &val))
		tids[n++] = tid;
	for (size_t i = 0; i < n; i++) {
		struct thread *th;
		const struct tproc *tp;

		tid = tids[i];
		th = target_find(&s->t, (pid_t)tid);
		/* Only threads still there, of a program that did not change
		 * since (the threads known are the old program's). */
		if (!th || (tp = target_proc(&s->t, th))->gone || tp->execed)
			continue;
		if (procfs_read_comm(tp->pid, (pid_t)tid, name, sizeof(name)) == 0)
			u64map_put(s->tnames, tid,
				   (uint64_t)(uintptr_t)strtab_intern(s->tnames_strs, name));
	}
	free(tids);
}

/* The Python versions of the session's processes, each once ("3.11.2", or
 * "3.11.2, 3.12.1" when they differ), how many processes run one, and
 * their samples whose frames did not line up (sym_mu held, or no other
 * thread left: the images' stages). */
static void describe_pythons(const struct session *s, struct profile_meta *m)
{
	size_t len = 0;

	for (size_t i = 0; i < s->nsyms; i++) {
		const struct pystage *py = s->imgs[i].py;
		struct pystage_stats ps;
		char v[32];
		bool seen = false;

		if (!s->imgs[i].py_owned || !py || !pystage_version(py))
			continue;
		m->python_procs++;
		pystage_stats(py, &ps);
		m->python_mismatched += ps.mismatched;
		snprintf(v, sizeof(v), "%s%s", pystage_version(py),
			 pystage_reading(py) ? "" : " (not read)");
		for (const char *at = m->python; !seen && (at = strstr(at, v)); at += strlen(v))
			seen = (at == m->python || at[-1] == ' ') && (!at[strlen(v)] || at[strlen(v)] == ',');
		if (seen)
			continue;
		if (len + (len ? 2 : 0) + strlen(v) >= sizeof(m->python))
			break;   /* more versions than fit: the first ones */
		len += (size_t)snprintf(m->python + len, sizeof(m->python) - len, "%s%s",
					len ? ", " : "", v);
	}
}

/* The description of a profile of this session, from the given counters
 * (the finished session's, or a snapshot's). */
static void describe(const struct session *s, struct profile_meta *m,
		     const struct sampler_stats *st, unsigned nthreads, struct u64map *tnames,
		     unsigned nprocs, struct u64map *tpids, struct u64map *pnames)
{
	memset(m, 0, sizeof(*m));
	m->pid = s->o.pid;
	memcpy(m->comm, s->comm, sizeof(m->comm));
	m->nthreads = nthreads;
	m->duration = (double)(st->end_ns - st->start_ns) / 1e9;
	m->hz = s->o.hz;
	m->ticks = st->ticks;
	m->missed_ticks = st->missed_ticks;
	m->truncated = st->truncated;
	m->start_time = s->start_time;
	m->wall = s->o.mode == MODE_WALL;
	m->thread_names = tnames;
	m->nprocs = nprocs;
	m->thread_pids = tpids;
	m->proc_names = pnames;
	m->modules = (const struct modules *const *)s->mods;
	m->nmodules = s->nmods;
	m->image_shift = SAMPLER_IMAGE_SHIFT;
	describe_pythons(s, m);   /* --- python stage --- */
}

struct profile *session_profile(struct session *s)
{
	struct profile_meta m;
	struct profile *p;

	install_pending(s);
	if (stacktab_total(s->stacks) == 0)
		return NULL;
	refresh_names(s);
	describe(s, &m, &s->stats, s->t.threads_seen, s->tnames, s->nprocs, s->tpids, s->pnames);
	p = profile_build(s->stacks, lookup_cb, s, &m, &s->o.prof);
	if (s->o.split)   /* --- split stage: over the resolved stacks --- */
		split_apply(p, s->o.split, s->stacks, lookup_cb, s, &m, &s->o.prof);
	if (s->nsyms > 1) {
		uint64_t resolved = 0, hits, r;
		unsigned loaded = 0;

		for (size_t i = 0; i < s->nsyms; i++) {
			if (!s->syms[i])
				continue;
			symbolizer_stats(s->syms[i], &r, &hits);
			resolved += r;
			loaded += r > 0;
		}
		log_debug("symbols: %llu addresses resolved by %u of %zu programs' symbolizers, "
			  "%llu lookups answered by another program's (same build ID)",
			  (unsigned long long)resolved, loaded, s->nsyms,
			  (unsigned long long)s->shared_hits);
	}
	return p;
}

const char *session_comm(const struct session *s)
{
	return s->comm;
}

unsigned session_processes(const struct session *s)
{
	return s->nprocs_attached;
}

const struct pystage *session_python(const struct session *s)
{
	return s->py;
}

const struct sampler_stats *session_stats(const struct session *s)
{
	return &s->stats;
}

int session_target_gone(const struct session *s, int *status)
{
	if (status)
		*status = s->t.exit_status;
	return s->t.nprocs ? s->t.procs[0].gone : s->t.gone;
}

int session_target_execed(const struct session *s)
{
	return s->t.nprocs ? s->t.procs[0].execed : s->t.execed;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	if (s->thread) {
		session_stop(s);
		pthread_join(s->thread, NULL);
	}
	symthread_finish(s);
	target_fini(&s->t);
	install_pending(s);
	for (size_t i = 0; i < s->nsyms; i++) {
		symbolizer_free(s->syms[i]);
		if (s->imgs[i].py_owned)
			pystage_free(s->imgs[i].py);
	}
	free(s->syms);
	free(s->imgs);
	free(s->img_pid);
	free(s->proc_py);
	for (size_t i = 0; i < s->nshared_offs; i++)
		u64map_free(s->shared_offs[i]);
	free(s->shared_offs);
	free(s->shared_fr);
	u64map_free(s->shared_files);
	strtab_free(s->bids);
	u64map_free(s->tpids);
	u64map_free(s->pnames);
	stacktab_free(s->stacks);
	strtab_free(s->strs);
	u64map_free(s->tnames);
	strtab_free(s->tnames_strs);
	for (size_t i = 0; i < s->nmods; i++)
		modules_free(s->mods[i]);
	free(s->mods);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->done_fd >= 0)
		close(s->done_fd);
	if (s->req_fd >= 0)
		close(s->req_fd);
	if (s->snap_fd >= 0)
		close(s->snap_fd);
	stacktab_free(s->snap);
	u64map_free(s->snap_tnames);
	u64map_free(s->snap_tpids);
	u64map_free(s->snap_pnames);
	pthread_mutex_destroy(&s->sym_mu);
	sem_destroy(&s->attached);
	pthread_mutex_destroy(&s->q.mu);
	pthread_cond_destroy(&s->q.cv);
	free(s->q.v);
	u64map_free(s->q.queued);
	free(s);
}

void session_set_stride(struct session *s, unsigned stride)
{
	atomic_store(&s->stride, stride ? stride : 1);
	eventfd_write(s->req_fd, 1);
}

struct profile *session_snapshot(struct session *s)
{
	struct pollfd pfd[2] = {
		{ .fd = s->snap_fd, .events = POLLIN },
		{ .fd = s->done_fd, .events = POLLIN },
	};
	struct profile_meta m;
	struct profile *p = NULL;
	eventfd_t v;

	atomic_store(&s->snap_wanted, true);
	eventfd_write(s->req_fd, 1);
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (pfd[0].revents & POLLIN)
			break;
		/* Sampling ended first: session_profile has it all. */
		if (pfd[1].revents & POLLIN) {
			atomic_store(&s->snap_wanted, false);
			return NULL;
		}
	}
	eventfd_read(s->snap_fd, &v);
	if (stacktab_total(s->snap) > 0) {
		pthread_mutex_lock(&s->sym_mu);
		install_pending(s);
		describe(s, &m, &s->snap_stats, s->snap_threads, s->snap_tnames, s->snap_procs,
			 s->snap_tpids, s->snap_pnames);
		p = profile_build(s->snap, lookup_cb, s, &m, &s->o.prof);
		if (s->o.split)   /* --- split stage --- */
			split_apply(p, s->o.split, s->snap, lookup_cb, s, &m, &s->o.prof);
		pthread_mutex_unlock(&s->sym_mu);
	}
	stacktab_free(s->snap);
	s->snap = NULL;
	u64map_free(s->snap_tnames);
	s->snap_tnames = NULL;
	u64map_free(s->snap_tpids);
	s->snap_tpids = NULL;
	u64map_free(s->snap_pnames);
	s->snap_pnames = NULL;
	return p;
}
