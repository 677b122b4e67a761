"""Where regions lie (reserve_at, reserve_in, extend), carving and labels,
the mapping budget, memory objects' names and what they were made of, and
the capabilities the tests decide from."""

import ctypes
import resource
import unittest

import vmplace
from support import PAGE, ScratchDir, pattern

CAPS = vmplace.capabilities()
GRAN = vmplace.granularity()


def maps_line(addr):
    """The line of /proc/self/maps holding addr, or None (no such file)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo <= addr < hi:
                    return line.rstrip("\n")
    except FileNotFoundError:
        return None
    return ""


def free_range(size):
    """An address where size bytes were free a moment ago: reserved, then
    given back (nothing in this single-threaded test takes it meanwhile)."""
    with vmplace.Region(size) as r:
        return r.base


class CapabilitiesTest(unittest.TestCase):
    def test_every_field_of_the_c_struct(self):
        self.assertEqual(vmplace.Capabilities.n_fields, 17)
        self.assertEqual(len(CAPS), 17)
        self.assertEqual(CAPS.backend, vmplace.backend)
        self.assertEqual(CAPS.page_size, PAGE)
        self.assertEqual(CAPS.granularity, GRAN)
        self.assertEqual(CAPS.view_offset_unit % PAGE, 0)
        for name in ("seals", "anon_resizable", "mapped_files_shrink", "discard_mixed_one_step",
                     "huge_pages", "no_inherit", "wait_across_processes", "fault_safe_copy",
                     "place_exact_checked", "place_window_by_system", "place_window_gap_list",
                     "knows_mapping_limit", "labels"):
            self.assertIsInstance(getattr(CAPS, name), bool, name)
        self.assertEqual(vmplace.capabilities(), CAPS)

    def test_frozen(self):
        with self.assertRaises((AttributeError, TypeError)):
            CAPS.labels = not CAPS.labels
        with self.assertRaises(TypeError):
            CAPS[0] = "other"

    def test_anon_resizable_is_what_grow_does(self):
        with vmplace.Mem(PAGE) as m:
            if CAPS.anon_resizable:
                m.grow(2 * PAGE)
                self.assertEqual(m.size(), 2 * PAGE)
            else:
                with self.assertRaises(vmplace.Error) as cm:
                    m.grow(2 * PAGE)
                self.assertEqual(cm.exception.name, "ENOTSUP")

    def test_seals_are_what_objects_get(self):
        with vmplace.Mem(PAGE) as m:
            info = m.query()
        if CAPS.seals and not info.fell_back:
            self.assertTrue(info.sealed)
        if not CAPS.seals and info.backing in ("shm", "temp_file"):
            self.assertFalse(info.sealed)

    def test_knows_mapping_limit_is_what_budget_reports(self):
        b = vmplace.budget()
        if CAPS.knows_mapping_limit:
            self.assertIsNotNone(b.map_limit)
            self.assertIsNotNone(b.map_count)
            self.assertGreater(b.map_count, 0)
            self.assertGreaterEqual(b.map_limit, b.map_count)
        else:
            self.assertIsNone(b.map_limit)
            self.assertIsNone(b.map_count)


class BudgetTest(unittest.TestCase):
    def test_fields_and_rlimits(self):
        b = vmplace.budget()
        self.assertEqual(vmplace.Budget.n_fields, 10)
        self.assertIn(b.overcommit, (None, 0, 1, 2))
        self.assertIn(b.memfd, (None, True, False))
        for lim, field in ((resource.RLIMIT_AS, b.as_limit), (resource.RLIMIT_DATA, b.data_limit)):
            soft = resource.getrlimit(lim)[0]
            self.assertEqual(field, None if soft == resource.RLIM_INFINITY else soft)

    def test_map_count_sees_a_split_mapping(self):
        if not CAPS.knows_mapping_limit:
            self.skipTest("the backend cannot count kernel mappings")
        with vmplace.Region(8 * PAGE) as r:
            before = vmplace.budget().map_count
            r.split(2 * PAGE, PAGE)
            r.commit(2 * PAGE, PAGE)
            self.assertEqual(r.mapping_count, 3)
            self.assertGreaterEqual(vmplace.budget().map_count, before + 2)


class ReserveAtTest(unittest.TestCase):
    def test_exactly_there(self):
        for _ in range(5):
            addr = free_range(8 * PAGE) + 2 * GRAN
            try:
                r = vmplace.Region.reserve_at(addr, 2 * PAGE)
            except vmplace.Error as e:  # something else took it meanwhile
                self.assertEqual(e.name, "EADDRINUSE")
                continue
            with r:
                self.assertIsInstance(r, vmplace.Region)
                self.assertEqual((r.base, r.size, r.span_count), (addr, 2 * PAGE, 1))
                self.assertEqual(r.spans()[0].kind, "placeholder")
                r.split(0, PAGE)
                r.commit(0, PAGE)
                with memoryview(r.buffer(0, PAGE)) as mv:
                    mv[:3] = b"abc"
            return
        self.fail("no free range came back five times")

    def test_an_occupied_range_is_refused_and_the_occupant_untouched(self):
        with vmplace.Region(4 * PAGE) as occupant:
            occupant.commit(0, 4 * PAGE)
            data = pattern(4 * PAGE, seed=5)
            with memoryview(occupant.buffer(0, 4 * PAGE)) as mv:
                mv[:] = data
            spans = occupant.spans()
            for addr, size in ((occupant.base + PAGE, PAGE),
                               (occupant.base - GRAN, GRAN + PAGE),  # overlaps its start
                               (occupant.base, 4 * PAGE)):
                with self.assertRaises(vmplace.Error) as cm:
                    vmplace.Region.reserve_at(addr, size)
                self.assertEqual(cm.exception.name, "EADDRINUSE")
                self.assertEqual(cm.exception.code, vmplace.EADDRINUSE)
            self.assertEqual(occupant.spans(), spans)
            with memoryview(occupant.buffer(0, 4 * PAGE)) as mv:
                self.assertEqual(mv.tobytes(), data)

    def test_argument_errors_in_order(self):
        def name_of(*args):
            with self.assertRaises(vmplace.Error) as cm:
                vmplace.Region.reserve_at(*args)
            return cm.exception.name

        self.assertEqual(name_of(0, PAGE), "EINVAL")
        self.assertEqual(name_of(GRAN, 0), "EINVAL")
        self.assertEqual(name_of(GRAN + 1, PAGE), "EALIGN")
        self.assertEqual(name_of(GRAN, PAGE + 1), "EALIGN")
        top = (1 << (8 * ctypes.sizeof(ctypes.c_void_p))) - GRAN
        self.assertEqual(name_of(top, 2 * GRAN), "ERANGE")
        with self.assertRaises(OverflowError):
            vmplace.Region.reserve_at(-GRAN, PAGE)


class ReserveInTest(unittest.TestCase):
    def test_inside_the_window_at_the_alignment(self):
        for _ in range(5):
            lo = free_range(64 * PAGE + 16 * GRAN)
            lo = (lo + 16 * GRAN - 1) // (16 * GRAN) * (16 * GRAN)
            hi = lo + 32 * PAGE
            try:
                r = vmplace.Region.reserve_in(lo, hi, 4 * PAGE, alignment=8 * PAGE)
            except vmplace.Error as e:
                self.assertEqual(e.name, "EADDRINUSE")
                continue
            with r:
                self.assertGreaterEqual(r.base, lo)
                self.assertLessEqual(r.base + r.size, hi)
                self.assertEqual(r.base % (8 * PAGE), 0)
                self.assertEqual(r.size, 4 * PAGE)
            return
        self.fail("no free window came back five times")

    def test_a_taken_window_is_eaddrinuse(self):
        with vmplace.Region(16 * PAGE, alignment=GRAN) as occupant:
            spans = occupant.spans()
            with self.assertRaises(vmplace.Error) as cm:
                vmplace.Region.reserve_in(occupant.base, occupant.base + occupant.size, PAGE)
            self.assertEqual(cm.exception.name, "EADDRINUSE")
            self.assertEqual(occupant.spans(), spans)

    def test_argument_errors(self):
        def name_of(*args, **kw):
            with self.assertRaises(vmplace.Error) as cm:
                vmplace.Region.reserve_in(*args, **kw)
            return cm.exception.name

        lo = 1 << 32
        self.assertEqual(name_of(lo, lo, PAGE), "EINVAL")  # empty window
        self.assertEqual(name_of(lo, lo + GRAN, 0), "EINVAL")
        self.assertEqual(name_of(lo, lo + 16 * GRAN, PAGE, alignment=3 * PAGE), "EINVAL")
        self.assertEqual(name_of(lo, lo + 16 * GRAN, PAGE + 1), "EALIGN")
        self.assertEqual(name_of(lo + 1, lo + 16 * GRAN, PAGE), "EALIGN")
        self.assertEqual(name_of(lo, lo + GRAN, 2 * GRAN), "ERANGE")  # cannot hold it


class ExtendTest(unittest.TestCase):
    def pair(self):
        """A region of 2 pages with free room after it, at a spot found free."""
        for _ in range(5):
            addr = free_range(8 * GRAN)
            try:
                return vmplace.Region.reserve_at(addr, 2 * GRAN)
            except vmplace.Error as e:
                self.assertEqual(e.name, "EADDRINUSE")
        self.fail("no free range came back five times")

    def test_grows_in_place_and_exports_stay(self):
        with self.pair() as r:
            base = r.base
            r.split(0, GRAN)
            r.commit(0, GRAN)
            w = r.buffer(0, GRAN)
            with memoryview(w) as mv:
                mv[:4] = b"keep"
                r.extend(2 * GRAN)
                self.assertEqual(mv[:4].tobytes(), b"keep")
            self.assertEqual((r.base, r.size), (base, 4 * GRAN))
            self.assertEqual(r.spans()[-1].kind, "placeholder")
            self.assertEqual((r.spans()[-1].offset, r.spans()[-1].size), (2 * GRAN, 2 * GRAN))
            r.commit(2 * GRAN, 2 * GRAN)  # the new room is the region's
            with memoryview(r.buffer(2 * GRAN, 2 * GRAN)) as mv:
                mv[-1] = 9
            del w

    def test_taken_room_is_eaddrinuse_and_nothing_moves(self):
        with self.pair() as r:
            try:
                neighbour = vmplace.Region.reserve_at(r.base + r.size, GRAN)
            except vmplace.Error:
                self.skipTest("the room after the region was taken meanwhile")
            with neighbour:
                spans = r.spans()
                with self.assertRaises(vmplace.Error) as cm:
                    r.extend(PAGE)
                self.assertEqual(cm.exception.name, "EADDRINUSE")
                self.assertEqual((r.size, r.spans()), (2 * GRAN, spans))
                self.assertEqual(neighbour.spans()[0].kind, "placeholder")

    def test_argument_errors(self):
        with vmplace.Region(GRAN) as r:
            for more, name in ((0, "EINVAL"), (PAGE + 1, "EALIGN")):
                with self.assertRaises(vmplace.Error) as cm:
                    r.extend(more)
                self.assertEqual(cm.exception.name, name)
            self.assertEqual(r.size, GRAN)
        with self.assertRaises(ValueError):
            r.extend(PAGE)


class CarveAndLabelTest(unittest.TestCase):
    def test_carve_splits_or_keeps(self):
        with vmplace.Region(4 * PAGE) as r:
            r.carve(PAGE, PAGE)
            self.assertEqual([(s.offset, s.size) for s in r.spans()],
                             [(0, PAGE), (PAGE, PAGE), (2 * PAGE, 2 * PAGE)])
            r.carve(PAGE, PAGE)  # already exactly one: nothing changes
            self.assertEqual(r.span_count, 3)
            r.commit(PAGE, PAGE)
            with self.assertRaises(vmplace.Error) as cm:
                r.carve(PAGE, PAGE)
            self.assertEqual(cm.exception.name, "ESTATE")
            with self.assertRaises(vmplace.Error) as cm:
                r.carve(0, 2 * PAGE)  # across two spans
            self.assertEqual(cm.exception.name, "ESTATE")
            with self.assertRaises(vmplace.Error) as cm:
                r.carve(PAGE + 1, PAGE)
            self.assertEqual(cm.exception.name, "EALIGN")

    def test_carve_commit_splits_or_takes_a_whole_placeholder(self):
        with vmplace.Region(4 * PAGE) as r:
            r.carve_commit(PAGE, PAGE)  # inside the one placeholder: split
            self.assertEqual([(s.offset, s.size, s.kind) for s in r.spans()],
                             [(0, PAGE, "placeholder"), (PAGE, PAGE, "private"),
                              (2 * PAGE, 2 * PAGE, "placeholder")])
            self.assertEqual(r.query(PAGE).prot, vmplace.PROT_RW)
            with memoryview(r.buffer(PAGE, PAGE)) as view:
                self.assertEqual(bytes(view), bytes(PAGE))
                view[:3] = b"abc"
                view[PAGE - 1] = 7
                self.assertEqual((bytes(view[:3]), view[PAGE - 1]), (b"abc", 7))
            r.carve_commit(0, PAGE)  # exactly one placeholder: as commit
            self.assertEqual(r.span_count, 3)
            self.assertEqual((r.query(0).kind, r.query(0).size), ("private", PAGE))
            r.carve_commit(2 * PAGE, 2 * PAGE, prot=vmplace.PROT_READ)
            self.assertEqual([(s.offset, s.size, s.kind, s.prot) for s in r.spans()],
                             [(0, PAGE, "private", vmplace.PROT_RW),
                              (PAGE, PAGE, "private", vmplace.PROT_RW),
                              (2 * PAGE, 2 * PAGE, "private", vmplace.PROT_READ)])
            with memoryview(r.buffer(2 * PAGE, 2 * PAGE)) as view:
                self.assertTrue(view.readonly)
                self.assertEqual(bytes(view), bytes(2 * PAGE))

    def test_carve_commit_errors_change_nothing(self):
        with vmplace.Region(4 * PAGE) as r:
            r.carve(0, PAGE)  # two placeholders: [0, PAGE) and [PAGE, 4 * PAGE)
            r.carve_commit(3 * PAGE, PAGE)
            spans = r.spans()
            for args, name in (((0, 2 * PAGE), "EEXTENT"),  # from one placeholder into the next
                               ((3 * PAGE, PAGE), "ESTATE"),  # private already
                               ((2 * PAGE, 2 * PAGE), "ESTATE"),  # reaches into it
                               ((PAGE + 1, PAGE), "EALIGN"), ((PAGE, 0), "EINVAL"),
                               ((PAGE, 4 * PAGE), "ERANGE"),
                               ((PAGE, PAGE, vmplace.PROT_WRITE), "EINVAL")):
                with self.assertRaises(vmplace.Error) as cm:
                    r.carve_commit(*args)
                self.assertEqual(cm.exception.name, name, args)
                self.assertEqual(r.spans(), spans, args)
        with self.assertRaises(ValueError):
            r.carve_commit(0, PAGE)

    def test_carve_map_views_see_the_same_bytes(self):
        with vmplace.Region(8 * PAGE) as r, vmplace.Mem(2 * PAGE) as mem:
            r.carve_map(2 * PAGE, PAGE, mem)
            self.assertEqual([(s.offset, s.size, s.kind) for s in r.spans()],
                             [(0, 2 * PAGE, "placeholder"), (2 * PAGE, PAGE, "view"),
                              (3 * PAGE, 5 * PAGE, "placeholder")])
            self.assertEqual(r.query(2 * PAGE).prot, vmplace.PROT_RW)  # a writable object
            r.carve_map(5 * PAGE, PAGE, mem)
            r.carve_map(7 * PAGE, PAGE, mem, mem_offset=PAGE, prot=vmplace.PROT_READ)
            self.assertEqual(r.span_count, 6)
            info = r.query(7 * PAGE)
            self.assertEqual((info.kind, info.mem_offset, info.prot),
                             ("view", PAGE, vmplace.PROT_READ))
            a = memoryview(r.buffer(2 * PAGE, PAGE))
            b = memoryview(r.buffer(5 * PAGE, PAGE))
            c = memoryview(r.buffer(7 * PAGE, PAGE))
            self.assertTrue(c.readonly)
            a[100:103] = b"xyz"
            self.assertEqual(bytes(b[100:103]), b"xyz")
            b[PAGE - 1] = 9
            self.assertEqual(a[PAGE - 1], 9)
            self.assertEqual(bytes(c), bytes(PAGE))  # the object's second page
            for v in (a, b, c):
                v.release()
            spans = r.spans()
            for args, name in (((2 * PAGE, PAGE, mem), "ESTATE"),  # a view already
                               ((0, 3 * PAGE, mem), "ESTATE"),
                               ((3 * PAGE, PAGE, mem, PAGE + 1), "EALIGN"),
                               ((3 * PAGE, PAGE, mem, 2 * PAGE), "EBOUNDS"),
                               ((3 * PAGE, 4 * PAGE, mem), "ESTATE")):
                with self.assertRaises(vmplace.Error) as cm:
                    r.carve_map(*args)
                self.assertEqual(cm.exception.name, name, args)
                self.assertEqual(r.spans(), spans, args)
            r.unmap(7 * PAGE, PAGE)
            r.carve(6 * PAGE, PAGE)  # [6, 7) and [7, 8): two placeholders
            with self.assertRaises(vmplace.Error) as cm:
                r.carve_map(6 * PAGE, 2 * PAGE, mem)
            self.assertEqual(cm.exception.name, "EEXTENT")
            with self.assertRaises(TypeError):
                r.carve_map(0, PAGE, b"not a Mem")

    def test_carve_map_keeps_the_object_alive(self):
        with vmplace.Region(4 * PAGE) as r:
            mem = vmplace.Mem(PAGE)
            r.carve_map(PAGE, PAGE, mem)
            mem.close()
            with self.assertRaises(ValueError):
                r.carve_map(3 * PAGE, PAGE, mem)  # a closed object
            with memoryview(r.buffer(PAGE, PAGE)) as view:
                view[0] = 5
                self.assertEqual(view[0], 5)

    def test_unmap_coalesce_gives_back_one_placeholder(self):
        with vmplace.Region(4 * PAGE) as r, vmplace.Mem(PAGE) as mem:
            r.carve_map(PAGE, PAGE, mem)
            self.assertEqual(r.span_count, 3)
            r.unmap_coalesce(PAGE, PAGE)
            self.assertEqual(r.span_count, 1)
            info = r.query(PAGE)
            self.assertEqual((info.offset, info.size, info.kind), (0, 4 * PAGE, "placeholder"))
            r.carve_commit(2 * PAGE, PAGE)
            self.assertEqual(r.span_count, 3)
            r.unmap_coalesce(2 * PAGE, PAGE)
            self.assertEqual([(s.offset, s.size, s.kind) for s in r.spans()],
                             [(0, 4 * PAGE, "placeholder")])
            # A plain unmap leaves the placeholder on its own: three spans.
            r.carve_map(PAGE, PAGE, mem)
            r.unmap(PAGE, PAGE)
            self.assertEqual([(s.offset, s.size, s.kind) for s in r.spans()],
                             [(0, PAGE, "placeholder"), (PAGE, PAGE, "placeholder"),
                              (2 * PAGE, 2 * PAGE, "placeholder")])

    def test_unmap_coalesce_merges_one_span_on_each_side_at_most(self):
        with vmplace.Region(4 * PAGE) as r, vmplace.Mem(PAGE) as mem:
            r.carve(0, PAGE)  # split on purpose: stays
            r.carve_map(2 * PAGE, PAGE, mem)
            self.assertEqual(r.span_count, 4)
            r.unmap_coalesce(2 * PAGE, PAGE)
            self.assertEqual([(s.offset, s.size, s.kind) for s in r.spans()],
                             [(0, PAGE, "placeholder"), (PAGE, 3 * PAGE, "placeholder")])
            # Private pieces on both sides: nothing to merge with.
            r.carve_commit(PAGE, 3 * PAGE)
            r.unmap_coalesce(2 * PAGE, PAGE)
            self.assertEqual([(s.offset, s.size, s.kind) for s in r.spans()],
                             [(0, PAGE, "placeholder"), (PAGE, PAGE, "private"),
                              (2 * PAGE, PAGE, "placeholder"), (3 * PAGE, PAGE, "private")])

    def test_unmap_coalesce_while_exported_and_errors(self):
        with vmplace.Region(4 * PAGE) as r:
            r.carve_commit(PAGE, 2 * PAGE)
            view = memoryview(r.buffer(2 * PAGE, PAGE))
            with self.assertRaises(BufferError):
                r.unmap_coalesce(PAGE, 2 * PAGE)
            with self.assertRaises(BufferError):
                r.unmap_coalesce(2 * PAGE, PAGE)
            self.assertEqual(r.span_count, 3)
            for args, name in (((PAGE + 1, PAGE), "EALIGN"), ((0, 0), "EINVAL"),
                               ((0, 8 * PAGE), "ERANGE"),  # bad input: its own error first
                               ((0, PAGE), "ESTATE"),  # a placeholder
                               ((0, 2 * PAGE), "ESTATE")):
                with self.assertRaises(vmplace.Error) as cm:
                    r.unmap_coalesce(*args)
                self.assertEqual(cm.exception.name, name, args)
            r.unmap_coalesce(PAGE, PAGE)  # pages no buffer covers may go
            self.assertEqual([(s.offset, s.size, s.kind) for s in r.spans()],
                             [(0, 2 * PAGE, "placeholder"), (2 * PAGE, PAGE, "private"),
                              (3 * PAGE, PAGE, "placeholder")])
            view[0] = 1
            view.release()
            r.unmap_coalesce(2 * PAGE, PAGE)
            self.assertEqual(r.span_count, 1)

    def test_mapping_count_follows_the_spans(self):
        with vmplace.Region(4 * PAGE) as r:
            r.carve(PAGE, PAGE)
            self.assertEqual(r.mapping_count, 1)  # neighbouring placeholders count once
            r.commit(PAGE, PAGE)
            self.assertEqual(r.mapping_count, 3)
            r.protect(PAGE, PAGE, vmplace.PROT_READ)
            self.assertEqual(r.mapping_count, 3)
            r.unmap(PAGE, PAGE)
            self.assertEqual(r.mapping_count, 1)
        with self.assertRaises(ValueError):
            r.mapping_count

    def test_label(self):
        with vmplace.Region(4 * PAGE) as r:
            r.split(0, 2 * PAGE)
            r.commit(0, 2 * PAGE)
            for args, name in (((0, PAGE, "a$b"), "EINVAL"), ((0, PAGE, ""), "EINVAL"),
                               ((0, PAGE, "n" * 80), "EINVAL"), ((1, PAGE, "x"), "EALIGN"),
                               ((2 * PAGE, PAGE, "x"), "ESTATE")):
                with self.assertRaises(vmplace.Error) as cm:
                    r.label(*args)
                self.assertEqual(cm.exception.name, name, args)
            r.label(0, 2 * PAGE, "n" * 79)
            r.label(0, 2 * PAGE, "py-guest-ram")
            line = maps_line(r.base)
            if CAPS.labels and line and "[anon:" in line:
                self.assertIn("[anon:py-guest-ram]", line)
                self.assertNotIn("py-guest-ram", maps_line(r.base + 2 * PAGE))
            elif not CAPS.labels and line is not None:
                self.assertNotIn("py-guest-ram", line)


class MemInfoTest(ScratchDir):
    def test_query_of_each_kind(self):
        with vmplace.Mem(PAGE) as m:
            info = m.query()
            self.assertEqual(vmplace.MemInfo.n_fields, 5)
            self.assertIn(info.backing, ("memfd", "shm", "temp_file", "section"))
            if info.backing == "memfd":
                self.assertFalse(info.fell_back)
            self.assertIn(info.exec, (None, True, False))
            self.assertEqual(info.huge_pages, 0)
        with self.assertRaises(ValueError):
            m.query()
        with vmplace.Mem.open(self.make_file("f", bytes(PAGE))) as f:
            self.assertEqual(f.query().backing, "file")
            self.assertFalse(f.query().fell_back)

    def test_create_named(self):
        for args, name in (((PAGE, "a$b"), "EINVAL"), ((PAGE, ""), "EINVAL"),
                           ((PAGE, "ok", 1), "EINVAL"), ((PAGE + 1, "ok"), "EALIGN")):
            with self.assertRaises(vmplace.Error) as cm:
                vmplace.Mem.create_named(*args)
            self.assertEqual(cm.exception.name, name, args)
        with vmplace.Mem.create_named(4 * PAGE, "py-jit-code") as m, \
                vmplace.Region(4 * PAGE) as r:
            self.assertIsInstance(m, vmplace.Mem)
            self.assertEqual(m.size(), 4 * PAGE)
            r.map(0, 4 * PAGE, m)
            line = maps_line(r.base)
            if line is not None:
                if CAPS.labels and m.query().backing == "memfd":
                    self.assertIn("memfd:py-jit-code", line)
                else:
                    self.assertNotIn("py-jit-code", line)
            r.unmap(0, 4 * PAGE)

    def test_no_fallback_and_exec(self):
        try:
            m = vmplace.Mem.create_named(PAGE, "strict", vmplace.MEM_NO_FALLBACK)
        except vmplace.Error as e:
            self.assertEqual(e.name, "ENOTSUP")
            if vmplace.backend == "posix":
                return
            raise unittest.SkipTest("the backend's own way is refused here")
        with m:
            self.assertNotEqual(vmplace.backend, "posix")  # it has no way of its own
            self.assertFalse(m.query().fell_back)
        with vmplace.Mem.create_named(PAGE, "code", vmplace.MEM_EXEC) as m, \
                vmplace.Region(PAGE) as r:
            if m.query().backing == "memfd":
                self.assertTrue(m.query().exec)
            r.map(0, PAGE, m, prot=vmplace.PROT_READ | vmplace.PROT_EXEC)
            self.assertEqual(r.query(0).prot, vmplace.PROT_READ | vmplace.PROT_EXEC)

    def test_preallocate(self):
        with vmplace.Mem.create_named(2 * PAGE, "pre", vmplace.MEM_PREALLOCATE) as m:
            self.assertEqual(m.size(), 2 * PAGE)


class NewErrorCodesTest(unittest.TestCase):
    def test_constants_match_the_library(self):
        for name in ("EGONE", "EADDRINUSE", "EMAPLIMIT"):
            code = getattr(vmplace, name)
            self.assertLess(code, -30000)
            self.assertEqual(vmplace.err_name(code), name)
            self.assertIn(name, vmplace.__all__)
        self.assertEqual(len({vmplace.EGONE, vmplace.EADDRINUSE, vmplace.EMAPLIMIT}), 3)


if __name__ == "__main__":
    unittest.main()
