/* pylayout.c: the per-version tables (see pylayout.h). Every offset was
 * compiled against that version's own headers (offsetof) and read live
 * from a running interpreter; from 3.13 on they agree with the
 * _Py_DebugOffsets it exports, which pystage checks again at attach. */
#include "pylayout.h"

#include <stddef.h>

static const struct pylayout layouts[] = {
	{ .minor = 8, .lasti = PY_LASTI_BYTES, .lines = PY_LINES_LNOTAB, .group = PY_GROUP_EACH,
	  .rt_interp_head = 32, .is_next = 0, .is_threads_head = 8,
	  .ts_next = 8, .ts_interp = 16, .ts_frame = 24, .ts_cframe_current = -1,
	  .ts_thread_id = 176, .ts_size = 184,
	  .fr_back = 24, .fr_code = 32, .fr_lasti = 104, .fr_entry = -1, .fr_owner = -1,
	  .fr_size = 112,
	  .co_argcount = 16, .co_flags = 36, .co_firstlineno = 40, .co_filename = 104,
	  .co_name = 112, .co_qualname = -1, .co_lines = 120, .co_basicsize = 176,
	  .str_ascii_data = 48, .str_compact_data = 72 },
	{ .minor = 9, .lasti = PY_LASTI_BYTES, .lines = PY_LINES_LNOTAB, .group = PY_GROUP_EACH,
	  .rt_interp_head = 32, .is_next = 0, .is_threads_head = 8,
	  .ts_next = 8, .ts_interp = 16, .ts_frame = 24, .ts_cframe_current = -1,
	  .ts_thread_id = 176, .ts_size = 184,
	  .fr_back = 24, .fr_code = 32, .fr_lasti = 104, .fr_entry = -1, .fr_owner = -1,
	  .fr_size = 112,
	  .co_argcount = 16, .co_flags = 36, .co_firstlineno = 40, .co_filename = 104,
	  .co_name = 112, .co_qualname = -1, .co_lines = 120, .co_basicsize = 176,
	  .str_ascii_data = 48, .str_compact_data = 72 },
	{ .minor = 10, .lasti = PY_LASTI_UNITS, .lines = PY_LINES_PEP626, .group = PY_GROUP_EACH,
	  .rt_interp_head = 32, .is_next = 0, .is_threads_head = 8,
	  .ts_next = 8, .ts_interp = 16, .ts_frame = 24, .ts_cframe_current = -1,
	  .ts_thread_id = 176, .ts_size = 184,
	  .fr_back = 24, .fr_code = 32, .fr_lasti = 96, .fr_entry = -1, .fr_owner = -1,
	  .fr_size = 104,
	  .co_argcount = 16, .co_flags = 36, .co_firstlineno = 40, .co_filename = 104,
	  .co_name = 112, .co_qualname = -1, .co_lines = 120, .co_basicsize = 176,
	  .str_ascii_data = 48, .str_compact_data = 72 },
	{ .minor = 11, .lasti = PY_LASTI_POINTER, .lines = PY_LINES_LOCATIONS,
	  .group = PY_GROUP_ENTRY,
	  .rt_interp_head = 40, .is_next = 0, .is_threads_head = 16,
	  .ts_next = 8, .ts_interp = 16, .ts_frame = 56, .ts_cframe_current = 8,
	  .ts_thread_id = 152, .ts_native_id = 160, .ts_stack_chunk = 296, .ts_stack_top = 304,
	  .ts_size = 320,
	  .fr_back = 48, .fr_code = 32, .fr_lasti = 56, .fr_entry = 68, .fr_owner = 69,
	  .fr_size = 72,
	  .co_argcount = 56, .co_flags = 48, .co_firstlineno = 72, .co_filename = 112,
	  .co_name = 120, .co_qualname = 128, .co_lines = 136, .co_code_adaptive = 184,
	  .co_basicsize = 184, .str_ascii_data = 48, .str_compact_data = 72 },
	{ .minor = 12, .lasti = PY_LASTI_POINTER, .lines = PY_LINES_LOCATIONS,
	  .group = PY_GROUP_OWNER,
	  .rt_interp_head = 40, .is_next = 0, .is_threads_head = 72,
	  .ts_next = 8, .ts_interp = 16, .ts_frame = 56, .ts_cframe_current = 0,
	  .ts_thread_id = 136, .ts_native_id = 144, .ts_stack_chunk = 232, .ts_stack_top = 240,
	  .ts_size = 256,
	  .fr_back = 8, .fr_code = 0, .fr_lasti = 56, .fr_entry = -1, .fr_owner = 70,
	  .fr_size = 72,
	  .co_argcount = 52, .co_flags = 48, .co_firstlineno = 68, .co_filename = 112,
	  .co_name = 120, .co_qualname = 128, .co_lines = 136, .co_code_adaptive = 192,
	  .co_basicsize = 192, .str_ascii_data = 40, .str_compact_data = 56 },
	{ .minor = 13, .lasti = PY_LASTI_POINTER, .lines = PY_LINES_LOCATIONS,
	  .group = PY_GROUP_OWNER,
	  .rt_interp_head = 632, .is_next = 7264, .is_threads_head = 7344,
	  .ts_next = 8, .ts_interp = 16, .ts_frame = 72, .ts_cframe_current = -1,
	  .ts_thread_id = 152, .ts_native_id = 160, .ts_stack_chunk = 232, .ts_stack_top = 240,
	  .ts_size = 256,
	  .fr_back = 8, .fr_code = 0, .fr_lasti = 56, .fr_entry = -1, .fr_owner = 70,
	  .fr_size = 72,
	  .co_argcount = 52, .co_flags = 48, .co_firstlineno = 68, .co_filename = 112,
	  .co_name = 120, .co_qualname = 128, .co_lines = 136, .co_code_adaptive = 200,
	  .co_basicsize = 200, .str_ascii_data = 40, .str_compact_data = 56 },
	/* 3.14 and 3.15: checked on Debian sid's 3.14.10 and 3.15.2 (offsetof
	 * with the build's core flags, and live). The code pointer is a
	 * _PyStackRef with tag bits; 3.15 ends each chain with a sentinel
	 * frame (owner 3, no previous), which ends no group of its own. */
	{ .minor = 14, .lasti = PY_LASTI_POINTER, .lines = PY_LINES_LOCATIONS,
	  .group = PY_GROUP_OWNER,
	  .rt_interp_head = 808, .is_next = 7272, .is_threads_head = 7344,
	  .ts_next = 8, .ts_interp = 16, .ts_frame = 72, .ts_cframe_current = -1,
	  .ts_thread_id = 152, .ts_native_id = 160, .ts_stack_chunk = 232, .ts_stack_top = 240,
	  .ts_size = 256,
	  .fr_back = 8, .fr_code = 0, .fr_lasti = 56, .fr_entry = -1, .fr_owner = 74,
	  .fr_size = 80, .code_tagged = true,
	  .co_argcount = 52, .co_flags = 48, .co_firstlineno = 68, .co_filename = 112,
	  .co_name = 120, .co_qualname = 128, .co_lines = 136, .co_code_adaptive = 208,
	  .co_basicsize = 208, .str_ascii_data = 40, .str_compact_data = 56 },
	{ .minor = 15, .lasti = PY_LASTI_POINTER, .lines = PY_LINES_LOCATIONS,
	  .group = PY_GROUP_OWNER,
	  .rt_interp_head = 936, .is_next = 7264, .is_threads_head = 7336,
	  .ts_next = 8, .ts_interp = 16, .ts_frame = 72, .ts_cframe_current = -1,
	  .ts_thread_id = 176, .ts_native_id = 184, .ts_stack_chunk = 256, .ts_stack_top = 264,
	  .ts_size = 280,
	  .fr_back = 8, .fr_code = 0, .fr_lasti = 56, .fr_entry = -1, .fr_owner = 74,
	  .fr_size = 80, .code_tagged = true,
	  .co_argcount = 52, .co_flags = 48, .co_firstlineno = 68, .co_filename = 112,
	  .co_name = 120, .co_qualname = 128, .co_lines = 136, .co_code_adaptive = 208,
	  .co_basicsize = 208, .str_ascii_data = 40, .str_compact_data = 56 },
};

const struct pylayout *pylayout_for(unsigned minor)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].minor == minor)
			return &layouts[i];
	return NULL;
}
