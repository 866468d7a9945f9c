/* fuzz_ctl.c: a control socket request line through ctl_request_parse, as
 * the daemon gets it from any local user: the input up to its first line
 * break (or NUL). A request that parses must have values in range, and
 * must survive ctl_request_format, which is how the client sends it: the
 * formatted line parses to the same request (a split point byte for byte) (durations to the
 * millisecond the line carries, at least 1 ms: a duration never becomes
 * "until stopped"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fuzz.h"
#include "sprofd.h"

static void check_range(const struct ctl_request *r)
{
	FUZZ_CHECK(r->cmd == CTL_STATUS || r->cmd == CTL_PROFILE || r->cmd == CTL_RUN, "cmd %d",
		   (int)r->cmd);
	if (r->cmd == CTL_PROFILE) {
		FUZZ_CHECK(r->pid >= 1, "pid %d", (int)r->pid);
		FUZZ_CHECK(r->duration >= 0 && r->duration <= 31536000, "duration %g", r->duration);
		FUZZ_CHECK(r->hz >= SPROFD_HZ_MIN && r->hz <= SPROFD_HZ_MAX, "hz %u", r->hz);
		FUZZ_CHECK(r->rows >= 0 && r->rows <= 1000000, "rows %d", r->rows);
		FUZZ_CHECK(r->mode == MODE_CPU || r->mode == MODE_WALL, "mode %d", (int)r->mode);
		FUZZ_CHECK(memchr(r->formats, '\0', sizeof(r->formats)), "formats unterminated");
		FUZZ_CHECK(memchr(r->split, '\0', sizeof(r->split)), "split unterminated");
	}
	if (r->cmd == CTL_RUN)
		FUZZ_CHECK(r->target[0] && memchr(r->target, '\0', sizeof(r->target)), "bad target");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request r, r2;
	char *line = malloc(size + 1), why[256], buf[CTL_LINE_MAX + 512], why2[256];
	size_t n;

	if (!line)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';
	line[strcspn(line, "\n")] = '\0';
	why[0] = '\0';
	if (ctl_request_parse(line, &r, why, sizeof(why)) < 0) {
		FUZZ_CHECK(why[0], "refused without a reason");
		free(line);
		return 0;
	}
	check_range(&r);

	ctl_request_format(&r, buf, sizeof(buf));
	n = strlen(buf);
	FUZZ_CHECK(n > 0 && n < CTL_LINE_MAX && buf[n - 1] == '\n', "formatted line of %zu bytes",
		   n);
	buf[n - 1] = '\0';
	FUZZ_CHECK(ctl_request_parse(buf, &r2, why2, sizeof(why2)) == 0,
		   "the formatted request '%.200s' is refused: %s", buf, why2);
	FUZZ_CHECK(r2.cmd == r.cmd, "command changed");
	if (r.cmd == CTL_PROFILE) {
		FUZZ_CHECK(r2.pid == r.pid && r2.hz == r.hz && r2.mode == r.mode && r2.rows == r.rows &&
			   r2.children == r.children && strcmp(r2.formats, r.formats) == 0 &&
			   strcmp(r2.split, r.split) == 0,
			   "'%.200s' reads back otherwise", buf);
		double want = r.duration > 0 && r.duration < 0.001 ? 0.001 : r.duration;

		FUZZ_CHECK(fabs(r2.duration - want) <= 0.0005 + 1e-9 * want,
			   "duration %.9g reads back as %.9g", r.duration, r2.duration);
		FUZZ_CHECK((r.duration > 0) == (r2.duration > 0),
			   "duration %.9g reads back as %.9g", r.duration, r2.duration);
	}
	if (r.cmd == CTL_RUN)
		FUZZ_CHECK(strcmp(r2.target, r.target) == 0, "target changed");
	free(line);
	return 0;
}
