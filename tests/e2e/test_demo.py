"""The bundled demo server profiles as its source says it should."""

from sprofdtest import SprofdTestCase


class DemoTest(SprofdTestCase):

    def test_demo_hot_path(self):
        target = self.start_target("demo")
        out = self.path("demo.prof")
        run = self.sprofd("-p", target.pid, "-F", 200, "-d", 1.5, "-o", out)
        prof = self.check_run(run, out, 200, pid=target.pid, comm="demo")
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        # main, 4 workers, stats.
        self.assertEqual(run.header().group("threads"), "6", info)
        for step in ("receive_request", "parse_request", "compute_checksum", "render_response"):
            self.assertEqual(prof.caller_names(step), ["handle_request"], info)
        self.assertEqual(prof.caller_names("handle_request"), ["worker_main"], info)
        # compute_checksum is the hot spot: the most self time of all, and
        # about two thirds of what the workers do.
        hottest = max(prof.raw.items(), key=lambda kv: kv[1][2])[0]
        self.assertEqual(hottest[2], "compute_checksum", info)
        share = prof.self_samples("compute_checksum") / prof.cc("handle_request")
        self.assertGreater(share, 0.5, info)
        self.assertLess(share, 0.85, info)
        # Cumulative: the helpers inlined into render_response are
        # functions of their own in the profile.
        self.assertGreater(prof.cc("render_response"), prof.cc("parse_request"), info)
