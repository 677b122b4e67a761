"""What the binding's tests share: NumPy when it is there, scratch files."""

import os
import shutil
import tempfile
import unittest

import vmplace

try:
    import numpy
except ImportError:  # the tests that need it skip
    numpy = None

PAGE = vmplace.page_size()

needs_numpy = unittest.skipIf(numpy is None, "NumPy is not installed (Debian: python3-numpy)")


class ScratchDir(unittest.TestCase):
    """A test case with a private directory, removed afterwards."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="vmplace-py-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def make_file(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


def pattern(size, seed=0):
    """size bytes that differ from one page to the next and from seed to seed."""
    out = bytearray(size)
    for i in range(0, size, 251):
        out[i] = (i // 251 + seed * 7 + 1) % 256
    return bytes(out)
