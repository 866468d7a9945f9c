/* fuzz_workermsg.c: one datagram through wmsg_decode, as the supervisor
 * gets it from a worker that may have gone wrong (and a worker from the
 * supervisor). A message that decodes must have values in range and must
 * survive wmsg_encode: the encoded message decodes to the same message. */
#include <string.h>

#include "fuzz.h"
#include "workermsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wmsg m, back;
	char buf[WMSG_MAX];
	size_t n;

	if (wmsg_decode(data, size, &m) < 0)
		return 0;
	FUZZ_CHECK(m.kind >= WMSG_RATE && m.kind <= WMSG_WROTE, "kind %d", (int)m.kind);
	if (m.kind == WMSG_RATE)
		FUZZ_CHECK(m.stride >= 1 && m.stride <= WMSG_STRIDE_MAX, "stride %u", m.stride);
	FUZZ_CHECK(memchr(m.comm, '\0', sizeof(m.comm)), "comm unterminated");
	n = wmsg_encode(&m, buf);
	FUZZ_CHECK(n > 0 && n < WMSG_MAX, "encoded in %zu bytes", n);
	FUZZ_CHECK(wmsg_decode(buf, n, &back) == 0, "'%.*s' does not decode", (int)n, buf);
	FUZZ_CHECK(back.kind == m.kind && back.stride == m.stride &&
		   strcmp(back.comm, m.comm) == 0, "'%.*s' decodes otherwise", (int)n, buf);
	return 0;
}
