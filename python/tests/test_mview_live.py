"""MView over live files: follow (refresh), retire, padding, fault-safe
read and scan, and views that keep no descriptors (close_files)."""

import ctypes
import os
import unittest

import vmplace
from support import PAGE, ScratchDir, pattern


def error_name(test, fn, *args):
    with test.assertRaises(vmplace.Error) as cm:
        fn(*args)
    return cm.exception.name


class RefreshTest(ScratchDir):
    def test_follows_a_growing_file_and_old_exports_stay(self):
        first = pattern(PAGE + 100, seed=1)
        path = self.make_file("log", first)
        with vmplace.MView([(path, 0, 0)], capacity=16 * PAGE) as v:
            base = v.base
            self.assertEqual(v.refresh(), len(first))  # nothing new
            before = memoryview(v)
            more = pattern(2 * PAGE, seed=2)
            with open(path, "ab") as f:
                f.write(more)
            self.assertEqual(v.refresh(), len(first) + len(more))
            self.assertEqual((v.base, v.length), (base, len(first) + len(more)))
            self.assertEqual(len(before), len(first))  # covers less, still mapped
            self.assertEqual(before.tobytes(), first)
            with memoryview(v) as now:
                self.assertEqual(now.tobytes(), first + more)
            before.release()

    def test_an_explicit_length_is_left_alone(self):
        path = self.make_file("f", pattern(2 * PAGE))
        with vmplace.MView([(path, 0, PAGE)], capacity=8 * PAGE) as v:
            with open(path, "ab") as f:
                f.write(bytes(PAGE))
            self.assertEqual(v.refresh(), PAGE)

    def test_truncated_is_ebounds_and_growth_past_capacity_erange(self):
        path = self.make_file("f", pattern(2 * PAGE))
        with vmplace.MView([(path, 0, 0)], capacity=4 * PAGE) as v:
            os.truncate(path, 8 * PAGE)
            self.assertEqual(error_name(self, v.refresh), "ERANGE")
            self.assertEqual(v.length, 2 * PAGE)
            os.truncate(path, PAGE)
            self.assertEqual(error_name(self, v.refresh), "EBOUNDS")
            self.assertEqual(v.length, 2 * PAGE)


class RetireTest(ScratchDir):
    def make_view(self, count=3):
        self.data = [pattern(PAGE, seed=i) for i in range(count)]
        self.paths = [self.make_file("s%d" % i, d) for i, d in enumerate(self.data)]
        return vmplace.MView(self.paths, capacity=8 * PAGE)

    def test_retire_while_exported_raises_buffer_error(self):
        with self.make_view() as v:
            mv = memoryview(v)
            with self.assertRaises(BufferError):
                v.retire(1)
            self.assertEqual(v.retired, 0)
            self.assertEqual(mv[:PAGE].tobytes(), self.data[0])  # still mapped
            v.retire(0)  # nothing to retire: allowed while exported
            self.assertEqual(error_name(self, v.retire, 4), "ERANGE")  # the library's order
            mv.release()
            v.retire(1)
            self.assertEqual(v.retired, 1)
            mv = memoryview(v)
            v.retire(1)  # already retired: nothing to do, nothing faults
            with self.assertRaises(BufferError):
                v.retire(2)
            mv.release()

    def test_retired_bytes_keep_their_offsets_and_refuse_reads(self):
        with self.make_view() as v:
            length = v.length
            v.retire(2)
            self.assertEqual((v.retired, v.segment_count, v.length), (2, 3, length))
            self.assertEqual(v.read(2 * PAGE, PAGE), self.data[2])
            self.assertEqual(error_name(self, v.read, 0, 1), "ESTATE")
            self.assertEqual(error_name(self, v.read, 2 * PAGE - 1, 2), "ESTATE")
            self.assertEqual(error_name(self, v.scan, 0), "ESTATE")
            self.assertEqual(error_name(self, v.locate, PAGE), "ESTATE")
            self.assertEqual(v.describe(0).fd, -1)
            self.assertIsNone(v.check())
            for p in self.paths[:2]:
                os.unlink(p)  # closed: may go
            self.assertEqual(v.scan(self.data[2][0], 2 * PAGE), 2 * PAGE)
            v.retire(3)  # all of them: append goes on after
            v.append(self.make_file("next", self.data[0]))
            self.assertEqual(v.read(3 * PAGE, PAGE), self.data[0])


class PaddingTest(ScratchDir):
    def test_zeros_after_the_end(self):
        data = pattern(PAGE + 10, seed=3)
        path = self.make_file("f", data)
        with vmplace.MView([(path, 0, 0)], capacity=8 * PAGE) as v:
            v.set_padding(100)
            end = v.base + v.length
            # Mapped and readable right after the last byte: reading does not crash.
            self.assertEqual(ctypes.string_at(end, 2 * PAGE - 10), bytes(2 * PAGE - 10))
            with open(path, "ab") as f:
                f.write(b"\xff" * PAGE)
            v.refresh()  # the padding moves with the end
            end = v.base + v.length
            self.assertEqual(ctypes.string_at(end - 1, 1), b"\xff")
            self.assertEqual(ctypes.string_at(end, PAGE - 10), bytes(PAGE - 10))
            self.assertEqual(error_name(self, v.set_padding, 8 * PAGE), "ERANGE")
            v.set_padding(0)

    def test_padding_counts_against_the_capacity(self):
        path = self.make_file("f", pattern(2 * PAGE))
        with vmplace.MView([path], capacity=3 * PAGE) as v:
            v.set_padding(PAGE)
            self.assertEqual(error_name(self, v.append, self.make_file("g", bytes(PAGE))),
                             "ERANGE")
            self.assertEqual(v.segment_count, 1)
            v.set_padding(0)
            v.append(self.make_file("h", bytes(PAGE)))
            self.assertEqual(v.segment_count, 2)


class FaultSafeReadTest(ScratchDir):
    def test_read_readinto_and_scan(self):
        a, b = pattern(PAGE, seed=4), pattern(500, seed=5) + b"\n" + bytes(10)
        paths = [self.make_file("a", a), self.make_file("b", b)]
        with vmplace.MView(paths) as v:
            self.assertEqual(v.read(0, v.length), a + b)
            self.assertEqual(v.read(PAGE - 3, 6), (a + b)[PAGE - 3:PAGE + 3])
            self.assertEqual(v.read(v.length, 0), b"")
            buf = bytearray(7)
            self.assertEqual(v.readinto(PAGE - 2, buf), 7)
            self.assertEqual(bytes(buf), (a + b)[PAGE - 2:PAGE + 5])
            self.assertEqual(error_name(self, v.read, v.length - 1, 2), "ERANGE")
            self.assertEqual(error_name(self, v.readinto, v.length, bytearray(1)), "ERANGE")
            self.assertEqual(v.scan(ord("\n")), PAGE + 500)
            self.assertEqual(v.scan(ord("\n"), PAGE + 501), None)
            self.assertEqual(v.scan(ord("\n"), 0, PAGE + 500), None)
            self.assertEqual(error_name(self, v.scan, 0, 0, v.length + 1), "ERANGE")
            with self.assertRaises(OverflowError):
                v.scan(256)

    def test_readinto_refuses_the_view_itself(self):
        paths = [self.make_file(n, pattern(PAGE, seed=i)) for i, n in enumerate("xy")]
        with vmplace.MView(paths, writable=True) as v:
            with memoryview(v) as mv:
                with self.assertRaises(ValueError):
                    v.readinto(0, mv[PAGE:])
            self.assertEqual(v.read(PAGE, PAGE), pattern(PAGE, seed=1))

    def test_a_truncated_file_is_egone_not_a_crash(self):
        data = pattern(3 * PAGE, seed=6)
        path = self.make_file("f", data)
        with vmplace.MView([path]) as v:
            os.truncate(path, PAGE)
            self.assertEqual(v.read(0, PAGE), data[:PAGE])
            with self.assertRaises(vmplace.Error) as cm:
                v.read(PAGE, PAGE)
            self.assertEqual((cm.exception.name, cm.exception.code), ("EGONE", vmplace.EGONE))
            self.assertEqual(error_name(self, v.readinto, 2 * PAGE, bytearray(10)), "EGONE")
            self.assertEqual(error_name(self, v.scan, 0xAB, 0), "EGONE")
            self.assertEqual(v.check(), 0)


class CloseFilesTest(ScratchDir):
    def test_no_descriptors_but_the_last(self):
        data = [pattern(PAGE, seed=i) for i in range(3)]
        paths = [self.make_file("s%d" % i, d) for i, d in enumerate(data)]
        with vmplace.MView(paths[:2], capacity=8 * PAGE, close_files=True) as v:
            self.assertTrue(v.close_files)
            self.assertEqual(v.describe(0).fd, -1)
            os.fstat(v.describe(1).fd)  # the last keeps one
            v.append(paths[2])
            self.assertEqual(v.describe(1).fd, -1)
            self.assertEqual(v.read(0, 3 * PAGE), b"".join(data))
            os.unlink(paths[0])  # read asks the path's size: gone
            with self.assertRaises(FileNotFoundError):
                v.read(0, 1)
            self.assertEqual(v.read(PAGE, PAGE), data[1])
        with vmplace.MView(paths[1:]) as v:
            self.assertFalse(v.close_files)
            os.fstat(v.describe(0).fd)

    def test_a_descriptor_is_refused(self):
        path = self.make_file("f", bytes(PAGE))
        fd = os.open(path, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        with self.assertRaises(vmplace.Error) as cm:
            vmplace.MView([path, fd], close_files=True)
        self.assertEqual((cm.exception.name, cm.exception.segment), ("EINVAL", 1))
        with vmplace.MView([path], capacity=4 * PAGE, close_files=True) as v:
            with self.assertRaises(vmplace.Error) as cm:
                v.append(fd)
            self.assertEqual(cm.exception.name, "EINVAL")
            self.assertEqual(v.segment_count, 1)


if __name__ == "__main__":
    unittest.main()
