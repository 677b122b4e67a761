"""python/bench/bench.py runs and prints its three lines in the bench format
(--quick: tiny sizes, a check of the code, not a measurement)."""

import os
import re
import subprocess
import sys
import unittest

from support import needs_numpy

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "bench", "bench.py")
LINE = re.compile(r"^(py_\w+): vmplace [0-9.]+ (\S+), baseline [0-9.]+ \2, ratio [0-9.]+$")


@needs_numpy
class BenchSmokeTest(unittest.TestCase):
    def test_quick_run_prints_every_line_and_bar(self):
        proc = subprocess.run([sys.executable, BENCH, "--quick"], capture_output=True,
                              timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        out = proc.stdout.decode().splitlines()
        names = [m.group(1) for m in map(LINE.match, out) if m]
        expected = ["py_ring_vs_pipe_64KiB", "py_ring_vs_shm_64B", "py_mview_scan"]
        self.assertEqual(names, expected, out)
        bars = [line.split(":")[0] for line in out if line.startswith("# bar ")]
        self.assertEqual(bars, ["# bar " + n for n in expected])

    def test_filter(self):
        proc = subprocess.run([sys.executable, BENCH, "--quick", "mview"], capture_output=True,
                              timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual([l.split(":")[0] for l in proc.stdout.decode().splitlines()
                          if not l.startswith("#")], ["py_mview_scan"])


if __name__ == "__main__":
    unittest.main()
