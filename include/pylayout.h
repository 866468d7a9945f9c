/* pylayout.h: where CPython keeps what sprofd reads, one table per minor
 * version (3.8 to 3.15), for the default (GIL, non-debug) x86_64 build;
 * free-threaded builds are not read (their objects are laid out
 * otherwise). Pure data: the tables are
 * static and never freed. Checking a table against a live target is
 * pyelf's and pyread's job. */
#ifndef SPROFD_PYLAYOUT_H
#define SPROFD_PYLAYOUT_H

#include <stdbool.h>
#include <stdint.h>

/* How a frame says where it is in its code. */
enum py_lasti_kind {
	PY_LASTI_BYTES,     /* 3.8, 3.9: f_lasti, byte offset of the last instruction */
	PY_LASTI_UNITS,     /* 3.10: f_lasti, index of the last 2-byte instruction */
	PY_LASTI_POINTER,   /* 3.11+: a pointer into the code's inline bytecode */
};

/* Which line table a code object has (see pycode.h). */
enum py_lines_kind {
	PY_LINES_LNOTAB,    /* 3.8, 3.9: co_lnotab */
	PY_LINES_PEP626,    /* 3.10: co_linetable */
	PY_LINES_LOCATIONS, /* 3.11+: the location table (PEP 657) */
};

/* How the frames of one C-level call of the eval loop are told apart. */
enum py_group_kind {
	PY_GROUP_EACH,      /* <= 3.10: one Python frame per eval-loop call */
	PY_GROUP_ENTRY,     /* 3.11: the group ends with a frame whose is_entry is set */
	PY_GROUP_OWNER,     /* 3.12+: it ends at a frame with owner >= 3, itself not shown */
};

struct pylayout {
	unsigned minor;                /* 3.minor */
	enum py_lasti_kind lasti;
	enum py_lines_kind lines;
	enum py_group_kind group;
	/* _PyRuntime */
	uint32_t rt_interp_head;
	/* PyInterpreterState */
	uint32_t is_next, is_threads_head;
	/* PyThreadState */
	uint32_t ts_next, ts_interp;
	uint32_t ts_frame;             /* <= 3.10 frame, 3.11/3.12 cframe, 3.13+ current_frame */
	int32_t ts_cframe_current;     /* 3.11/3.12: current_frame inside _PyCFrame; else -1 */
	uint32_t ts_thread_id;         /* pthread_t */
	uint32_t ts_native_id;         /* Linux TID (3.11+); 0 if none */
	uint32_t ts_stack_chunk, ts_stack_top;  /* 3.11+ data stack; 0 if none */
	uint32_t ts_size;              /* bytes read of a thread state */
	/* Frames: PyFrameObject (<= 3.10) or _PyInterpreterFrame */
	uint32_t fr_back, fr_code, fr_lasti;   /* fr_lasti: the int, or the pointer */
	int32_t fr_entry;              /* 3.11 is_entry (u8); else -1 */
	int32_t fr_owner;              /* 3.12+ owner (u8); else -1 */
	uint32_t fr_size;              /* bytes read of a frame */
	bool code_tagged;              /* the code pointer carries tag bits (3.14+) */
	/* PyCodeObject */
	uint32_t co_argcount, co_flags, co_firstlineno;
	uint32_t co_filename, co_name;
	int32_t co_qualname;           /* 3.11+; else -1 */
	uint32_t co_lines;             /* co_lnotab (3.8, 3.9) or co_linetable */
	uint32_t co_code_adaptive;     /* 3.11+: offset of the inline bytecode; else 0 */
	uint32_t co_basicsize;         /* PyCode_Type.tp_basicsize expected */
	/* str: compact ASCII and compact non-ASCII data offsets */
	uint32_t str_ascii_data, str_compact_data;
};

/* The table for 3.minor, or NULL if sprofd has none (or none it trusts). */
const struct pylayout *pylayout_for(unsigned minor);
/* Offsets shared by every version: PyObject.ob_type, PyASCIIObject length
 * and state, PyBytesObject size and data, PyTypeObject fields. */
#define PY_OB_TYPE         8
#define PY_STR_LENGTH      16
#define PY_STR_STATE       32
#define PY_BYTES_SIZE      16
#define PY_BYTES_DATA      32
#define PY_TP_NAME         24
#define PY_TP_BASICSIZE    32
#define PY_TP_MEMBERS      240
#define PY_MEMBERDEF_SIZE  40
#define PY_MEMBERDEF_OFFSET 16

#endif
