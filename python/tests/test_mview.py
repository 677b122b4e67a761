"""MView: files back to back as one buffer."""

import os
import unittest

import vmplace
from support import PAGE, ScratchDir, pattern


class MViewTest(ScratchDir):
    def test_files_read_as_one_buffer(self):
        a = pattern(2 * PAGE, seed=1)
        b = pattern(3 * PAGE, seed=2)
        c = pattern(1000, seed=3)  # the last may end anywhere
        paths = [self.make_file(n, d) for n, d in (("a", a), ("b", b), ("c", c))]
        with vmplace.MView(paths) as v:
            self.assertEqual(len(v), len(a) + len(b) + len(c))
            self.assertEqual(v.length, len(v))
            self.assertEqual(v.segment_count, 3)
            self.assertGreaterEqual(v.capacity, v.length)
            self.assertFalse(v.writable)
            with memoryview(v) as mv:
                self.assertTrue(mv.readonly)
                self.assertEqual(mv.tobytes(), a + b + c)
                with self.assertRaises(TypeError):
                    mv[0] = 0
            self.assertEqual(v.locate(2 * PAGE + 5), (1, 5))
            info = v.describe(2)
            self.assertEqual((info.file_offset, info.length, info.view_offset),
                             (0, 1000, 5 * PAGE))
            os.fstat(info.fd)
            self.assertIsNone(v.check())
            self.assertIn("segments=3", repr(v))
        self.assertTrue(v.closed)
        v.close()
        self.assertEqual(repr(v), "<vmplace.MView closed>")
        with self.assertRaises(ValueError):
            memoryview(v)
        with self.assertRaises(ValueError):
            len(v)

    def test_ranges_descriptors_and_append(self):
        data = pattern(4 * PAGE, seed=4)
        path = self.make_file("f", data)
        fd = os.open(path, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        with vmplace.MView([(path, PAGE, PAGE), fd], capacity=16 * PAGE) as v:
            self.assertEqual(bytes(v), data[PAGE:2 * PAGE] + data)
            base = v.base
            with memoryview(v) as before:
                v.append((path, 0, 2 * PAGE))  # exported buffers stay valid
                self.assertEqual(before.tobytes(), data[PAGE:2 * PAGE] + data)
            self.assertEqual(v.base, base)
            self.assertEqual(v.segment_count, 3)
            self.assertEqual(bytes(v)[5 * PAGE:], data[:2 * PAGE])
            big = self.make_file("big", b"")
            os.truncate(big, v.capacity)
            with self.assertRaises(vmplace.Error) as cm:
                v.append(big)  # does not fit the capacity
            self.assertEqual(cm.exception.code, vmplace.ERANGE)
            self.assertEqual(v.segment_count, 3)

    def test_close_while_exported_raises_buffer_error(self):
        path = self.make_file("f", pattern(PAGE))
        v = vmplace.MView([path])
        view = memoryview(v)
        with self.assertRaises(BufferError):
            v.close()
        self.assertEqual(v.exports, 1)
        self.assertEqual(view[0], pattern(PAGE)[0])  # still mapped
        view.release()
        v.close()
        self.assertTrue(v.closed)

    def test_writable_view_writes_the_files(self):
        paths = [self.make_file(n, bytes(PAGE)) for n in ("x", "y")]
        with vmplace.MView(paths, writable=True) as v:
            self.assertTrue(v.writable)
            with memoryview(v) as mv:
                mv[PAGE - 2:PAGE + 2] = b"ABCD"  # across the files
        with open(paths[0], "rb") as f:
            self.assertEqual(f.read()[-2:], b"AB")
        with open(paths[1], "rb") as f:
            self.assertEqual(f.read()[:2], b"CD")

    def test_check_reports_a_shrunk_file(self):
        paths = [self.make_file(n, bytes(2 * PAGE)) for n in ("x", "y")]
        with vmplace.MView(paths) as v:
            os.truncate(paths[1], PAGE)
            self.assertEqual(v.check(), 1)

    def test_page_rule_names_the_segment(self):
        odd = self.make_file("odd", bytes(100))
        with self.assertRaises(vmplace.Error) as cm:
            vmplace.MView([odd, odd])  # only the last may end off the page
        self.assertEqual((cm.exception.name, cm.exception.segment), ("EALIGN", 0))
        with self.assertRaises(vmplace.Error) as cm:
            vmplace.MView([(odd, 0, 2 * PAGE)])
        self.assertEqual(cm.exception.name, "EBOUNDS")
        with self.assertRaises(vmplace.Error) as cm:
            vmplace.MView([odd], writable=True, capacity=1)
        self.assertEqual(cm.exception.name, "ERANGE")
        with self.assertRaises(OverflowError):
            vmplace.MView([(odd, -1, 0)])  # not a file offset at all
        with self.assertRaises(TypeError):
            vmplace.MView(odd)  # a path, not a list of them

    def test_empty_view_can_be_appended_to(self):
        path = self.make_file("f", pattern(PAGE, seed=9))
        with vmplace.MView([], capacity=4 * PAGE) as v:
            self.assertEqual(len(v), 0)
            self.assertEqual(bytes(v), b"")
            v.append(path)
            self.assertEqual(bytes(v), pattern(PAGE, seed=9))


if __name__ == "__main__":
    unittest.main()
