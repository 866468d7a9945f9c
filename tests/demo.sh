#!/bin/sh
# demo.sh: profile the bundled demo server for five seconds, then show how
# to look at the result. Run from the top of the source tree (make demo).
set -u

demo=tests/targets/demo
out=demo.prof

if [ ! -x ./sprofd ] || [ ! -x "$demo" ]; then
	echo "demo: build first: make all tests/targets/demo" >&2
	exit 1
fi

# Start the demo server with its stdout on a pipe we can read "ready" from.
fifo=$(mktemp -u "${TMPDIR:-/tmp}/sprofd-demo.XXXXXX")
mkfifo "$fifo" || exit 1
"$demo" >"$fifo" &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -f "$fifo"' EXIT INT TERM
if ! read -r line <"$fifo" || [ "$line" != ready ]; then
	echo "demo: the demo server did not start" >&2
	exit 1
fi
rm -f "$fifo"

echo "demo: a pretend server is running as PID $pid: 4 workers handle requests"
echo "demo: (parse_request, compute_checksum, render_response) and 1 thread idles."
echo "demo: profiling it for 5 seconds at 100 Hz:"
echo
echo "  \$ ./sprofd -p $pid -d 5 -o $out"
./sprofd -p "$pid" -d 5 -o "$out"
status=$?
echo
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

if [ "$status" -ne 0 ]; then
	echo "demo: sprofd failed with exit status $status" >&2
	exit "$status"
fi

cat <<EOT
demo: $out is a Python pstats file. Ways to look at it:

  python3 -m pstats $out          interactive: 'sort tottime', 'stats 10', 'callers compute_checksum'
  python3 -c 'import pstats; pstats.Stats("$out").sort_stats("cumulative").print_stats(15)'
  snakeviz $out                   a sunburst in the browser (pip install snakeviz)
  gprof2dot -f pstats $out | dot -Tsvg -o demo.svg
                                  a call graph (pip install gprof2dot; apt-get install graphviz)
EOT
exit "$status"
