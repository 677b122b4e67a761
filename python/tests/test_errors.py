"""Every error mapping: the library's codes to vmplace.Error, OS codes to the
built-in OSError subclasses."""

import errno
import os
import unittest

import vmplace
from support import PAGE, ScratchDir


class LibraryCodesTest(unittest.TestCase):
    def check(self, name, fn, *args):
        with self.assertRaises(vmplace.Error) as cm:
            fn(*args)
        e = cm.exception
        self.assertIsInstance(e, OSError)
        self.assertEqual(e.name, name)
        self.assertEqual(e.code, getattr(vmplace, name))
        self.assertIsNone(e.errno)
        self.assertIn("[%s]" % name, str(e))
        self.assertIn(vmplace.strerror(e.code), str(e))
        return e

    def test_error_is_an_oserror_with_code_and_name(self):
        self.assertTrue(issubclass(vmplace.Error, OSError))
        self.assertIsNone(vmplace.Error.code)
        self.assertEqual(vmplace.err_name(vmplace.EBOUNDS), "EBOUNDS")
        self.assertEqual(vmplace.err_name(-errno.ENOENT), "OS:ENOENT")
        self.assertEqual(vmplace.err_name(0), "OK")

    def test_each_code(self):
        self.check("EINVAL", vmplace.Region, 0)
        self.check("EALIGN", vmplace.Region, PAGE + 1)
        self.check("EINVAL", vmplace.Region, PAGE, 3)  # alignment not a power of two
        with vmplace.Region(4 * PAGE) as r:
            self.check("ERANGE", r.split, 2 * PAGE, 4 * PAGE)
            self.check("EALIGN", r.split, 1, PAGE)
            r.split(0, PAGE)
            r.commit(0, PAGE)
            self.check("ESTATE", r.commit, 0, PAGE)
            self.check("EEXTENT", r.commit, PAGE, PAGE)  # part of a placeholder
            with vmplace.Mem(PAGE) as mem:
                self.check("EBOUNDS", r.map, PAGE, 3 * PAGE, mem)
                self.check("EALIGN", r.map, PAGE, 3 * PAGE, mem, 1)
            self.check("EINVAL", r.commit, PAGE, 3 * PAGE, 2)  # write without read
            r.unmap(0, PAGE)
        with vmplace.Ring(PAGE) as ring:
            ring.shutdown()
            self.check("ESHUTDOWN", ring.write, b"x")
            self.check("ESHUTDOWN", ring.read)
            self.check("EINVAL", ring.commit, 1)
        with vmplace.Mem(4 * PAGE) as mem:
            self.check("EPEER", vmplace.Ring.attach, mem.fileno())  # no ring header

    def test_enomem(self):
        # More address space than any 64-bit system gives a process.
        self.check("ENOMEM", vmplace.Region, 1 << 62)

    def test_eacces_is_the_library_code_not_permission_error(self):
        with vmplace.Mem(PAGE) as rw:
            fd = os.open("/proc/self/fd/%d" % rw.fileno(), os.O_RDONLY)
        try:
            with vmplace.Mem.adopt(fd) as ro, vmplace.Region(PAGE) as r:
                fd = -1
                e = self.check("EACCES", r.map, 0, PAGE, ro, 0, vmplace.PROT_RW)
                self.assertNotIsInstance(e, PermissionError)
        finally:
            if fd >= 0:
                os.close(fd)

    def test_enotsup_for_huge_pages_when_there_are_none(self):
        try:
            with open("/proc/sys/vm/nr_hugepages") as f:
                free = int(f.read())
        except OSError:
            free = 0
        if free:
            self.skipTest("this system has huge pages")
        self.check("ENOTSUP", vmplace.Ring, PAGE, vmplace.RING_HUGE_PAGES)

    def test_etimedout_is_a_false_return_of_a_wait(self):
        with vmplace.Ring(PAGE) as ring:
            self.assertFalse(ring.wait_read(1, 0))
            self.assertEqual(vmplace.err_name(vmplace.ETIMEDOUT), "ETIMEDOUT")

    def test_mview_names_the_segment_at_fault(self):
        e = self.check("EINVAL", vmplace.MView, ["/"])  # a directory
        self.assertEqual(e.segment, 0)
        self.assertTrue(str(e).endswith(": '/'"), str(e))


class OsErrorsTest(ScratchDir):
    def test_missing_file_is_file_not_found_error(self):
        path = os.path.join(self.dir, "missing")
        with self.assertRaises(FileNotFoundError) as cm:
            vmplace.Mem.open(path)
        e = cm.exception
        self.assertEqual(e.errno, errno.ENOENT)
        self.assertEqual(e.filename, path)
        self.assertEqual(e.code, -errno.ENOENT)
        self.assertEqual(e.name, "OS:ENOENT")
        self.assertNotIsInstance(e, vmplace.Error)

    def test_missing_segment_is_file_not_found_error_with_its_index(self):
        ok = self.make_file("ok", bytes(PAGE))
        missing = os.path.join(self.dir, "missing")
        with self.assertRaises(FileNotFoundError) as cm:
            vmplace.MView([ok, missing])
        self.assertEqual(cm.exception.segment, 1)
        self.assertEqual(cm.exception.filename, missing)

    def test_refused_file_is_permission_error(self):
        path = self.make_file("secret", bytes(PAGE))
        os.chmod(path, 0)
        os.chmod(self.dir, 0o755)
        # root is not refused: ask from a child that gave its rights up.
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                if os.geteuid() == 0:
                    os.setgid(65534)
                    os.setuid(65534)
                try:
                    vmplace.Mem.open(path)
                    answer = b"opened"
                except PermissionError as e:
                    ok = e.errno == errno.EACCES and e.name == "OS:EACCES"
                    answer = b"PermissionError" if ok else b"wrong attributes"
                except BaseException as e:  # noqa: B036 (reported to the parent)
                    answer = type(e).__name__.encode()
                os.write(write_end, answer)
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            answer = f.read()
        os.waitpid(pid, 0)
        self.assertEqual(answer, b"PermissionError")

    def test_os_errors_keep_their_errno(self):
        fd = os.open(self.dir, os.O_RDONLY)  # a directory: EINVAL of the library
        try:
            with self.assertRaises(vmplace.Error) as cm:
                vmplace.Mem.adopt(fd)
            self.assertEqual(cm.exception.code, vmplace.EINVAL)
        finally:
            os.close(fd)
        path = self.make_file("plain", b"")
        with self.assertRaises(NotADirectoryError) as cm:
            vmplace.Mem.open(os.path.join(path, "below"))
        self.assertEqual(cm.exception.errno, errno.ENOTDIR)
        self.assertEqual(cm.exception.name, "OS:ENOTDIR")


if __name__ == "__main__":
    unittest.main()
