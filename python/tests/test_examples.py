"""The examples in python/examples run and do what they say."""

import os
import subprocess
import sys
import unittest

from support import needs_numpy

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


@needs_numpy
class ExamplesTest(unittest.TestCase):
    def run_example(self, name, *args):
        proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args],
                              capture_output=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return proc.stdout.decode()

    def test_ring_records(self):
        out = self.run_example("ring_records.py", "200000")
        self.assertIn("200000 records", out)

    def test_ring_mpsc(self):
        out = self.run_example("ring_mpsc.py", "3", "5000")
        self.assertIn("3 producers x 5000 records", out)

    def test_shards(self):
        out = self.run_example("shards.py")
        self.assertIn(": ok", out)


if __name__ == "__main__":
    unittest.main()
