"""Region and Mem: spans, views, the buffer protocol and its lifetimes."""

import gc
import os
import time
import unittest

import vmplace
from support import PAGE, ScratchDir, pattern


class RegionTest(unittest.TestCase):
    def region(self, pages=16):
        r = vmplace.Region(pages * PAGE)
        self.addCleanup(self.close_quietly, r)
        return r

    @staticmethod
    def close_quietly(obj):
        gc.collect()
        obj.close()

    def test_reserve_reports_base_size_and_one_placeholder(self):
        r = self.region(8)
        self.assertEqual(r.size, 8 * PAGE)
        self.assertEqual(r.base % vmplace.granularity(), 0)
        self.assertEqual(r.span_count, 1)
        (span,) = r.spans()
        self.assertEqual((span.offset, span.size, span.kind), (0, 8 * PAGE, "placeholder"))
        self.assertEqual(span.start, r.base)

    def test_alignment(self):
        with vmplace.Region(4 * PAGE, alignment=1 << 21) as r:
            self.assertEqual(r.base % (1 << 21), 0)

    def test_repr_shows_each_span(self):
        r = self.region(16)
        r.split(0, 4 * PAGE)
        r.commit(0, 4 * PAGE)
        r.split(4 * PAGE, 2 * PAGE)
        mem = vmplace.Mem(2 * PAGE)
        r.map(4 * PAGE, 2 * PAGE, mem, prot=vmplace.PROT_READ)
        mem.close()
        text = repr(r)
        self.assertIn("0x0+0x%x private rw-" % (4 * PAGE), text)
        self.assertIn("0x%x+0x%x view r--" % (4 * PAGE, 2 * PAGE), text)
        self.assertIn("0x%x+0x%x placeholder" % (6 * PAGE, 10 * PAGE), text)
        self.assertIn("base=0x%x" % r.base, text)
        r.unmap(4 * PAGE, 2 * PAGE)
        r.unmap(0, 4 * PAGE)
        r.coalesce(0, 16 * PAGE)
        self.assertIn("spans=[0x0+0x%x placeholder]" % (16 * PAGE), repr(r))
        r.close()
        self.assertEqual(repr(r), "<vmplace.Region closed>")

    def test_context_manager_and_idempotent_close(self):
        with vmplace.Region(4 * PAGE) as r:
            self.assertFalse(r.closed)
        self.assertTrue(r.closed)
        r.close()
        r.close()
        with self.assertRaises(ValueError):
            r.split(0, PAGE)
        with self.assertRaises(ValueError):
            r.base

    def test_query_and_spans(self):
        r = self.region(8)
        r.split(2 * PAGE, 2 * PAGE)
        r.commit(2 * PAGE, 2 * PAGE, vmplace.PROT_READ)
        info = r.query(3 * PAGE + 5)
        self.assertEqual((info.offset, info.size, info.kind, info.prot),
                         (2 * PAGE, 2 * PAGE, "private", vmplace.PROT_READ))
        self.assertEqual([s.kind for s in r.spans()], ["placeholder", "private", "placeholder"])
        with self.assertRaises(vmplace.Error) as cm:
            r.query(8 * PAGE)
        self.assertEqual(cm.exception.code, vmplace.ERANGE)

    def test_listing_spans_survives_a_collection_that_calls_into_the_region(self):
        r = self.region(64)
        for i in range(0, 64, 2):
            r.split(i * PAGE, PAGE)
        calls = []

        def on_collect(phase, info):
            calls.append(r.span_count)  # takes the region's lock

        old = gc.get_threshold()
        gc.set_threshold(1, 1, 1)
        gc.callbacks.append(on_collect)
        try:
            spans = r.spans()
            text = repr(r)
        finally:
            gc.callbacks.remove(on_collect)
            gc.set_threshold(*old)
        self.assertEqual(len(spans), 64)
        self.assertIn("placeholder", text)
        self.assertTrue(calls)  # collections did run meanwhile

    def test_exports_of_a_large_window_do_not_walk_its_pages_each_time(self):
        size = 256 << 20
        r = self.region(size // PAGE)
        r.commit(0, size)
        w = r.buffer(0, size)
        memoryview(w).release()  # the first export checks every page
        t0 = time.monotonic()
        for _ in range(5000):
            memoryview(w).release()
        self.assertLess(time.monotonic() - t0, 1.0)  # walking every page: about 6 s here
        r.protect(0, PAGE, vmplace.PROT_READ)  # a change: checked again
        with memoryview(w) as view:
            self.assertTrue(view.readonly)

    def test_private_memory_is_shared_between_windows_without_copies(self):
        r = self.region(4)
        r.split(0, 2 * PAGE)
        r.commit(0, 2 * PAGE)
        a = memoryview(r.buffer(0, 2 * PAGE))
        b = memoryview(r.buffer(PAGE, 10))
        self.assertFalse(a.readonly)
        self.assertEqual(len(b), 10)
        a[PAGE:PAGE + 5] = b"hello"
        self.assertEqual(bytes(b[:5]), b"hello")
        b[9] = 0x42
        self.assertEqual(a[PAGE + 9], 0x42)
        a.release()
        b.release()

    def test_close_while_exported_raises_buffer_error_and_changes_nothing(self):
        r = self.region(4)
        r.split(0, PAGE)
        r.commit(0, PAGE)
        w = r.buffer(0, PAGE)
        view = memoryview(w)
        view[0] = 1
        with self.assertRaises(BufferError):
            r.close()
        self.assertFalse(r.closed)
        self.assertEqual(r.exports, 1)
        view[1] = 2  # still mapped
        self.assertEqual(bytes(view[:2]), b"\x01\x02")
        view.release()
        self.assertEqual(r.exports, 0)
        r.close()
        self.assertTrue(r.closed)
        with self.assertRaises(ValueError):
            memoryview(w)  # the window outlives the region, but gives nothing

    def test_exports_are_counted(self):
        r = self.region(2)
        r.split(0, PAGE)
        r.commit(0, PAGE)
        w = r.buffer(0, PAGE)
        views = [memoryview(w) for _ in range(3)]
        self.assertEqual(w.exports, 3)
        for v in views[:2]:
            v.release()
        with self.assertRaises(BufferError):
            r.close()
        views[2].release()
        r.close()

    def test_unmap_while_exported_raises_buffer_error(self):
        r = self.region(4)
        r.split(0, 2 * PAGE)
        r.commit(0, 2 * PAGE)
        view = memoryview(r.buffer(PAGE, PAGE))
        with self.assertRaises(BufferError):
            r.unmap(0, 2 * PAGE)
        with self.assertRaises(BufferError):
            r.unmap(PAGE, PAGE)
        self.assertEqual(r.query(PAGE).kind, "private")
        for bad, code in (((PAGE + 1, PAGE), vmplace.EALIGN), ((0, 0), vmplace.EINVAL),
                          ((0, 8 * PAGE), vmplace.ERANGE)):
            with self.assertRaises(vmplace.Error) as cm:  # bad input: its own error first
                r.unmap(*bad)
            self.assertEqual(cm.exception.code, code)
        with self.assertRaises(vmplace.Error) as cm:
            r.protect(0, 2 * PAGE, vmplace.PROT_WRITE)  # write without read
        self.assertEqual(cm.exception.code, vmplace.EINVAL)
        r.unmap(0, PAGE)  # pages no buffer covers may go
        self.assertEqual(r.query(0).kind, "placeholder")
        view[0] = 9
        view.release()
        r.unmap(PAGE, PAGE)

    def test_dropping_the_region_object_keeps_exported_memory_mapped(self):
        r = vmplace.Region(2 * PAGE)
        r.split(0, PAGE)
        r.commit(0, PAGE)
        view = memoryview(r.buffer(0, PAGE))
        del r
        gc.collect()
        view[PAGE - 1] = 7  # would crash if the region had been released
        self.assertEqual(view[PAGE - 1], 7)
        view.release()

    def test_protect_may_not_take_away_what_an_export_uses(self):
        r = self.region(2)
        r.split(0, PAGE)
        r.commit(0, PAGE)
        w = r.buffer(0, PAGE)
        view = memoryview(w)
        with self.assertRaises(BufferError):
            r.protect(0, PAGE, vmplace.PROT_READ)
        with self.assertRaises(BufferError):
            r.protect(0, PAGE, vmplace.PROT_NONE)
        self.assertEqual(r.query(0).prot, vmplace.PROT_RW)
        view.release()
        r.protect(0, PAGE, vmplace.PROT_READ)
        ro = memoryview(w)
        self.assertTrue(ro.readonly)
        with self.assertRaises(TypeError):
            ro[0] = 1
        with self.assertRaises(BufferError):
            r.protect(0, PAGE, vmplace.PROT_NONE)
        r.protect(0, PAGE, vmplace.PROT_RW)  # giving more is fine
        ro.release()
        r.protect(0, PAGE, vmplace.PROT_NONE)
        with self.assertRaises(vmplace.Error) as cm:
            memoryview(w)
        self.assertEqual(cm.exception.name, "ESTATE")

    def test_buffer_over_a_placeholder_is_refused_at_export(self):
        r = self.region(4)
        r.split(0, PAGE)
        r.commit(0, PAGE)
        w = r.buffer(0, 2 * PAGE)  # reaches into the placeholder
        with self.assertRaises(vmplace.Error) as cm:
            memoryview(w)
        self.assertEqual(cm.exception.code, vmplace.ESTATE)
        with self.assertRaises(vmplace.Error) as cm:
            r.buffer(0, 0)
        self.assertEqual(cm.exception.code, vmplace.EINVAL)
        with self.assertRaises(vmplace.Error) as cm:
            r.buffer(3 * PAGE, 2 * PAGE)
        self.assertEqual(cm.exception.code, vmplace.ERANGE)

    def test_discard_keeps_exports_valid_and_zeroes(self):
        r = self.region(2)
        r.split(0, PAGE)
        r.commit(0, PAGE)
        view = memoryview(r.buffer(0, PAGE))
        view[:4] = b"abcd"
        r.discard(0, PAGE)
        self.assertEqual(bytes(view[:4]), b"\0\0\0\0")
        view.release()

    def test_views_of_one_mem_see_the_same_bytes(self):
        r = self.region(4)
        mem = vmplace.Mem(PAGE)
        for off in (0, 2 * PAGE):
            r.split(off, PAGE)
            r.map(off, PAGE, mem)
        mem.close()  # the views keep the object
        a = memoryview(r.buffer(0, PAGE))
        b = memoryview(r.buffer(2 * PAGE, PAGE))
        a[100:103] = b"xyz"
        self.assertEqual(bytes(b[100:103]), b"xyz")
        self.assertEqual(r.query(2 * PAGE).kind, "view")
        a.release()
        b.release()

    def test_a_span_across_kinds(self):
        r = self.region(4)
        r.split(0, PAGE)
        r.commit(0, PAGE)
        r.split(PAGE, PAGE)
        mem = vmplace.Mem(PAGE)
        r.map(PAGE, PAGE, mem)
        mem.close()
        view = memoryview(r.buffer(PAGE - 2, 4))  # private then view: both mapped
        view[:] = b"1234"
        view.release()
        w = r.buffer(PAGE - 2, 4)
        self.assertEqual(bytes(w), b"1234")


class MemTest(ScratchDir):
    def test_create_size_grow_fileno_close(self):
        with vmplace.Mem(2 * PAGE) as mem:
            self.assertEqual(mem.size(), 2 * PAGE)
            self.assertTrue(mem.readable and mem.writable)
            fd = mem.fileno()
            self.assertEqual(os.fstat(fd).st_size, 2 * PAGE)
            mem.grow(4 * PAGE)
            self.assertEqual(mem.size(), 4 * PAGE)
            with self.assertRaises(vmplace.Error) as cm:
                mem.grow(PAGE)
            self.assertEqual(cm.exception.name, "EINVAL")
            self.assertIn("size=%d rw" % (4 * PAGE), repr(mem))
        self.assertTrue(mem.closed)
        mem.close()
        self.assertEqual(repr(mem), "<vmplace.Mem closed>")
        with self.assertRaises(ValueError):
            mem.size()
        with self.assertRaises(OSError):
            os.fstat(fd)

    def test_open_read_only_file_gives_read_only_buffers(self):
        data = pattern(2 * PAGE)
        path = self.make_file("ro", data)
        with vmplace.Mem.open(path) as mem, vmplace.Region(4 * PAGE) as r:
            self.assertTrue(mem.readable)
            self.assertFalse(mem.writable)
            r.split(0, 2 * PAGE)
            r.map(0, 2 * PAGE, mem)  # prot follows the object: read-only
            with self.assertRaises(vmplace.Error) as cm:
                r.protect(0, PAGE, vmplace.PROT_RW)
            self.assertEqual(cm.exception.code, vmplace.EACCES)
            view = memoryview(r.buffer(0, 2 * PAGE))
            self.assertTrue(view.readonly)
            self.assertEqual(view.tobytes(), data)
            with self.assertRaises(TypeError):
                view[0] = 0
            view.release()
            r.unmap(0, 2 * PAGE)

    def test_open_writable_file_writes_through(self):
        path = self.make_file("rw", bytes(PAGE))
        with vmplace.Mem.open(path, writable=True) as mem, vmplace.Region(PAGE) as r:
            r.map(0, PAGE, mem)
            with memoryview(r.buffer(0, PAGE)) as view:
                view[10:15] = b"hello"
            r.unmap(0, PAGE)
        with open(path, "rb") as f:
            self.assertEqual(f.read()[10:15], b"hello")

    def test_adopt_takes_the_descriptor(self):
        path = self.make_file("adopt", pattern(PAGE))
        fd = os.open(path, os.O_RDONLY)
        mem = vmplace.Mem.adopt(fd)
        self.assertEqual(mem.fileno(), fd)
        self.assertFalse(mem.writable)
        mem.close()
        with self.assertRaises(OSError):
            os.fstat(fd)
        fd = os.open(path, os.O_RDONLY)
        try:
            with self.assertRaises(vmplace.Error) as cm:
                vmplace.Mem.adopt(fd, vmplace.MEM_RW)
            self.assertEqual(cm.exception.code, vmplace.EACCES)
            os.fstat(fd)  # on failure the caller keeps it
        finally:
            os.close(fd)


if __name__ == "__main__":
    unittest.main()
