"""NumPy over the binding's buffers: zero-copy, read-only where the memory is,
and never over memory that is gone."""

import gc
import os
import unittest

import vmplace
from support import PAGE, ScratchDir, needs_numpy, numpy as np


def address(array):
    return array.__array_interface__["data"][0]


@needs_numpy
class RegionArrayTest(unittest.TestCase):
    def test_array_over_a_committed_span_is_the_memory_itself(self):
        with vmplace.Region(4 * PAGE) as r:
            r.split(0, 2 * PAGE)
            r.commit(0, 2 * PAGE)
            a = np.frombuffer(r.buffer(0, 2 * PAGE), dtype=np.uint32)
            self.assertEqual(address(a), r.base)
            self.assertTrue(a.flags.writeable)
            a[:] = np.arange(a.size, dtype=np.uint32)
            b = np.frombuffer(r.buffer(PAGE, PAGE), dtype=np.uint32)
            self.assertEqual(int(b[0]), PAGE // 4)
            with self.assertRaises(BufferError):
                r.close()
            with self.assertRaises(BufferError):
                r.unmap(0, 2 * PAGE)
            self.assertEqual(int(a[-1]), a.size - 1)  # nothing was unmapped
            del a, b
            gc.collect()
            r.unmap(0, 2 * PAGE)

    def test_array_survives_the_region_object(self):
        r = vmplace.Region(2 * PAGE)
        r.split(0, PAGE)
        r.commit(0, PAGE)
        a = np.frombuffer(r.buffer(0, PAGE), dtype=np.uint8)
        del r
        gc.collect()
        a[:] = 5  # the array keeps the window, the window the region
        self.assertEqual(int(a.sum()), 5 * PAGE)

    def test_read_only_mapping_gives_a_read_only_array(self):
        with vmplace.Mem(PAGE) as mem, vmplace.Region(PAGE) as r:
            r.map(0, PAGE, mem, prot=vmplace.PROT_READ)
            a = np.frombuffer(r.buffer(0, PAGE), dtype=np.uint8)
            self.assertFalse(a.flags.writeable)
            with self.assertRaises(ValueError):
                a[0] = 1
            del a
            r.unmap(0, PAGE)


@needs_numpy
class MViewArrayTest(ScratchDir):
    def test_one_array_over_many_files(self):
        paths = []
        for i in range(10):
            paths.append(self.make_file("shard%02d" % i,
                                        np.full(PAGE // 8, i, dtype=np.uint64).tobytes()))
        with vmplace.MView(paths) as v:
            a = np.frombuffer(v, dtype=np.uint64)
            self.assertEqual(address(a), v.base)
            self.assertFalse(a.flags.writeable)
            self.assertEqual(a.size, 10 * PAGE // 8)
            self.assertEqual(int(a.sum()), sum(range(10)) * (PAGE // 8))
            self.assertEqual(int(a[PAGE // 8 * 7]), 7)
            with self.assertRaises(BufferError):
                v.close()
            del a

    def test_writable_view_array_writes_the_files(self):
        paths = [self.make_file(n, bytes(PAGE)) for n in ("x", "y")]
        with vmplace.MView(paths, writable=True) as v:
            a = np.frombuffer(v, dtype=np.uint8)
            self.assertTrue(a.flags.writeable)
            a[PAGE:] = 0xEE
            del a
        with open(paths[1], "rb") as f:
            self.assertEqual(f.read(), b"\xee" * PAGE)

    def test_one_gib_over_sixteen_files(self):
        shard = 64 << 20
        count = 16
        markers = {}
        paths = []
        for i in range(count):
            path = os.path.join(self.dir, "big%02d" % i)
            with open(path, "wb") as f:
                f.truncate(shard)  # sparse: costs no disk
                for k in (0, shard // 2, shard - 8):
                    f.seek(k)
                    value = i * 1000 + k % 997 + 1
                    f.write(np.uint64(value).tobytes())
                    markers[i * shard + k] = value
            paths.append(path)
        with vmplace.MView(paths) as v:
            self.assertEqual(len(v), count * shard)
            self.assertEqual(len(v), 1 << 30)
            a = np.frombuffer(v, dtype=np.uint64)
            self.assertEqual(address(a), v.base)
            self.assertEqual(int(a.sum()), sum(markers.values()))
            for off, value in list(markers.items())[::7]:
                self.assertEqual(int(a[off // 8]), value)
            self.assertEqual(v.locate(5 * shard + 24), (5, 24))
            del a


@needs_numpy
class RingRecordsTest(unittest.TestCase):
    RECORD = np.dtype([("seq", "<u8"), ("value", "<f8"), ("tag", "S16")])  # 32 bytes

    def test_records_written_and_read_in_place_across_the_wrap(self):
        with vmplace.Ring(PAGE) as ring:
            per_batch = 100  # 3200 bytes: batches keep crossing the end
            seq = 0
            for batch in range(20):
                self.assertTrue(ring.wait_write(per_batch * self.RECORD.itemsize, 0))
                w = ring.write_window(per_batch * self.RECORD.itemsize)
                out = np.frombuffer(w, dtype=self.RECORD, count=per_batch)
                written_at = address(out)
                out["seq"] = np.arange(seq, seq + per_batch)
                out["value"] = out["seq"] * 0.5
                out["tag"] = b"batch%d" % batch
                del out
                ring.commit(per_batch * self.RECORD.itemsize)
                r = ring.read_window(per_batch * self.RECORD.itemsize)
                got = np.frombuffer(r, dtype=self.RECORD, count=per_batch)
                self.assertFalse(got.flags.writeable)
                self.assertEqual(address(got), written_at)  # the same bytes, no copy
                self.assertTrue(np.array_equal(got["seq"], np.arange(seq, seq + per_batch)))
                self.assertTrue(np.array_equal(got["value"], got["seq"] * 0.5))
                self.assertTrue((got["tag"] == b"batch%d" % batch).all())
                with self.assertRaises(BufferError):
                    ring.close()
                del got
                ring.release(per_batch * self.RECORD.itemsize)
                seq += per_batch
            self.assertGreater(seq * self.RECORD.itemsize, 10 * ring.capacity)


if __name__ == "__main__":
    unittest.main()
