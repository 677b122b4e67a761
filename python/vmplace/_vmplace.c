/*
 * vmplace._vmplace: the C library as Python objects.
 *
 * The one rule everything here serves: no Python object can reach memory
 * that is no longer mapped. Every piece of memory Python can touch is handed
 * out through the buffer protocol by an object that counts its exports
 * (like mmap.mmap), and every operation that would unmap or lock away memory
 * that is exported raises BufferError instead, leaving everything as it was.
 * A Window holds a strong reference to what it looks into, so the owner
 * outlives every window and every window outlives its memoryviews.
 *
 * All calls run with the GIL held except the ring waits and the ring's
 * descriptor I/O, which release it in bounded slices so that signals
 * (Ctrl-C) are seen between them; a ring closed during such a wait is
 * closed by the last waiter to come back. Ring records follow the export
 * rule too: a record is not submitted or consumed (its bytes would become
 * the other side's) while a buffer of it is exported.
 *
 * A new library call becomes a method in four steps: a function taking the
 * handle from the object's *_handle() accessor (ValueError once closed),
 * arguments through the conv_* converters (unsigned sizes, 64-bit offsets),
 * an error through raise_err(); an entry with a docstring in the type's
 * method table; a line in __init__.pyi. tests/test_api.py fails until the
 * docstring and the stub are there. Anything that can unmap or lower the
 * protection of memory must first ask the owner's window list (or export
 * count) and raise BufferError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vmplace.h"

PyMODINIT_FUNC PyInit__vmplace(void);

static PyObject *VmpError;

/* ---- errors ------------------------------------------------------------- */

static int set_attr_int(PyObject *obj, const char *name, long long value) {
  PyObject *v = PyLong_FromLongLong(value);
  if (!v) return -1;
  int rc = PyObject_SetAttrString(obj, name, v);
  Py_DECREF(v);
  return rc;
}

static int set_attr_str(PyObject *obj, const char *name, const char *value) {
  PyObject *v = PyUnicode_FromString(value);
  if (!v) return -1;
  int rc = PyObject_SetAttrString(obj, name, v);
  Py_DECREF(v);
  return rc;
}

/* Raises the Python exception for library code `err` returned by `what`.
 * OS errors become OSError(errno, ...), which Python turns into the built-in
 * subclass (FileNotFoundError, PermissionError, ...); the library's own codes
 * become vmplace.Error. Both carry .code (the library's value) and .name
 * (vmp_err_name). `filename` may be NULL; `segment` < 0 means none. Always
 * returns NULL. */
static PyObject *raise_code(int err, const char *what, PyObject *filename, Py_ssize_t segment) {
  PyObject *exc = NULL;
  if (vmp_err_is_os(err)) {
    int os_code = vmp_err_os_code(err);
    exc = filename
              ? PyObject_CallFunction(PyExc_OSError, "isO", os_code, vmp_strerror(err), filename)
              : PyObject_CallFunction(PyExc_OSError, "is", os_code, vmp_strerror(err));
  } else {
    /* The file goes into the message: OSError's own filename slot would
     * make str() print an errno, which library codes have none of. */
    exc = PyObject_CallFunction(
        VmpError, "N",
        filename ? PyUnicode_FromFormat("%s: %s [%s]: %R", what, vmp_strerror(err),
                                        vmp_err_name(err), filename)
                 : PyUnicode_FromFormat("%s: %s [%s]", what, vmp_strerror(err), vmp_err_name(err)));
  }
  if (!exc) return NULL;
  if (set_attr_int(exc, "code", err) < 0 || set_attr_str(exc, "name", vmp_err_name(err)) < 0) {
    Py_DECREF(exc);
    return NULL;
  }
  if (segment >= 0 && set_attr_int(exc, "segment", segment) < 0) {
    Py_DECREF(exc);
    return NULL;
  }
  PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
  Py_DECREF(exc);
  return NULL;
}

static PyObject *raise_err(int err, const char *what) { return raise_code(err, what, NULL, -1); }

static PyObject *raise_closed(const char *what) {
  PyErr_Format(PyExc_ValueError, "I/O operation on a closed %s", what);
  return NULL;
}

/* ---- argument converters ------------------------------------------------ */

static int conv_size(PyObject *obj, void *out) {
  size_t v = PyLong_AsSize_t(obj);
  if (v == (size_t)-1 && PyErr_Occurred()) return 0;
  *(size_t *)out = v;
  return 1;
}

static int conv_u64(PyObject *obj, void *out) {
  if (!PyLong_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "an integer is required, not %.100s", Py_TYPE(obj)->tp_name);
    return 0;
  }
  unsigned long long v = PyLong_AsUnsignedLongLong(obj);
  if (v == (unsigned long long)-1 && PyErr_Occurred()) return 0;
  *(uint64_t *)out = (uint64_t)v;
  return 1;
}

static int conv_fd(PyObject *obj, void *out) {
  int fd = PyObject_AsFileDescriptor(obj);
  if (fd < 0) return 0;
  *(int *)out = fd;
  return 1;
}

static size_t clamp_to_ssize(size_t n) {
  return n > (size_t)PY_SSIZE_T_MAX ? (size_t)PY_SSIZE_T_MAX : n;
}

static PyObject *struct_sequence(PyTypeObject *type, PyObject **items, Py_ssize_t count);

/* ---- windows ------------------------------------------------------------ */

typedef struct Window Window;

/* The windows of one owner, so that an operation on the owner can find the
 * exports that overlap what it would change. */
typedef struct {
  Window *head;
} window_list;

enum window_kind { WINDOW_REGION, WINDOW_RING_READ, WINDOW_RING_WRITE };

struct Window {
  PyObject_HEAD PyObject *owner; /* strong reference: the owner outlives the window */
  window_list *list;
  Window *prev, *next;
  enum window_kind kind;
  size_t offset; /* region: from the base; ring: from the data start */
  char *ptr;     /* ring: the first byte (fixed while the ring is open) */
  size_t len;
  Py_ssize_t exports;
  Py_ssize_t writable_exports;
  /* region: the owner's generation when the pages were last found mapped
   * and readable (0: never), and whether one was read-only then */
  uint64_t checked_generation;
  int checked_readonly;
};

static PyTypeObject WindowType;

static void list_link(window_list *list, Window *w) {
  w->list = list;
  w->prev = NULL;
  w->next = list->head;
  if (list->head) list->head->prev = w;
  list->head = w;
}

static void list_unlink(Window *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    w->list->head = w->next;
  if (w->next) w->next->prev = w->prev;
}

/* The number of exports overlapping [off, off+size), and of those writable. */
static Py_ssize_t list_exports(const window_list *list, size_t off, size_t size,
                               Py_ssize_t *writable) {
  Py_ssize_t total = 0, w_total = 0;
  for (const Window *w = list->head; w; w = w->next) {
    if (!w->exports) continue;
    if (w->offset < off + size && off < w->offset + w->len) {
      total += w->exports;
      w_total += w->writable_exports;
    }
  }
  if (writable) *writable = w_total;
  return total;
}

static Py_ssize_t list_all_exports(const window_list *list) {
  Py_ssize_t total = 0;
  for (const Window *w = list->head; w; w = w->next) total += w->exports;
  return total;
}

static Window *window_new(PyObject *owner, window_list *list, enum window_kind kind, size_t offset,
                          char *ptr, size_t len) {
  Window *w = PyObject_New(Window, &WindowType);
  if (!w) return NULL;
  Py_INCREF(owner);
  w->owner = owner;
  w->kind = kind;
  w->offset = offset;
  w->ptr = ptr;
  w->len = len;
  w->exports = 0;
  w->writable_exports = 0;
  w->checked_generation = 0;
  w->checked_readonly = 0;
  list_link(list, w);
  return w;
}

static void window_dealloc(Window *w) {
  list_unlink(w);
  Py_DECREF(w->owner);
  PyObject_Free(w);
}

/* ---- memory objects ----------------------------------------------------- */

typedef struct {
  PyObject_HEAD vmp_mem *mem;
} Mem;

static PyTypeObject MemType;

static Mem *mem_wrap(PyTypeObject *type, vmp_mem *handle) {
  Mem *self = (Mem *)type->tp_alloc(type, 0);
  if (!self) {
    vmp_mem_close(handle);
    return NULL;
  }
  self->mem = handle;
  return self;
}

static PyObject *Mem_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"size", NULL};
  uint64_t size;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&:Mem", kwlist, conv_u64, &size)) return NULL;
  vmp_mem *handle;
  int err = vmp_mem_create(size, 0, &handle);
  if (err) return raise_err(err, "vmp_mem_create");
  return (PyObject *)mem_wrap(type, handle);
}

static PyObject *Mem_open(PyObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"path", "writable", NULL};
  PyObject *path;
  int writable = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p:open", kwlist, PyUnicode_FSConverter, &path,
                                   &writable))
    return NULL;
  vmp_mem *handle;
  int err = vmp_mem_open(PyBytes_AS_STRING(path), writable ? VMP_MEM_RW : VMP_MEM_READ, &handle);
  if (err) {
    PyObject *name = PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(path));
    Py_DECREF(path);
    raise_code(err, "vmp_mem_open", name, -1);
    Py_XDECREF(name);
    return NULL;
  }
  Py_DECREF(path);
  return (PyObject *)mem_wrap((PyTypeObject *)cls, handle);
}

static PyObject *Mem_adopt(PyObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"fd", "flags", NULL};
  int fd;
  unsigned flags = 0;
  /* A plain int only: the object closes it, so a file object's descriptor
   * would be closed twice. */
  if (!PyArg_ParseTupleAndKeywords(args, kw, "i|I:adopt", kwlist, &fd, &flags)) return NULL;
  vmp_mem *handle;
  int err = vmp_mem_adopt(fd, flags, &handle);
  if (err) return raise_err(err, "vmp_mem_adopt");
  return (PyObject *)mem_wrap((PyTypeObject *)cls, handle);
}

static PyObject *Mem_create_named(PyObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"size", "name", "flags", NULL};
  uint64_t size;
  const char *name;
  unsigned flags = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&s|I:create_named", kwlist, conv_u64, &size, &name,
                                   &flags))
    return NULL;
  vmp_mem *handle;
  int err = vmp_mem_create_named(size, name, flags, &handle);
  if (err) return raise_err(err, "vmp_mem_create_named");
  return (PyObject *)mem_wrap((PyTypeObject *)cls, handle);
}

static vmp_mem *mem_open_handle(Mem *self) {
  if (!self->mem) raise_closed("memory object");
  return self->mem;
}

static PyTypeObject MemInfoType;

static PyStructSequence_Field mem_info_fields[] = {
    {"backing",
     "where the memory comes from: 'memfd', 'shm', 'temp_file', 'file', 'section' "
     "or 'descriptor'"},
    {"sealed", "its size can never shrink, so views of it can never fault from truncation"},
    {"huge_pages",
     "1: huge pages; 2: ordinary pages whose views ask for transparent huge "
     "pages; 0: ordinary pages"},
    {"exec",
     "True: made exec-capable (MEM_EXEC); False: sealed against exec; None: as the "
     "system decides"},
    {"fell_back",
     "the backend's own way was refused and shm or a file was taken instead, "
     "which can fill up and then fault"},
    {NULL, NULL}};

static PyStructSequence_Desc mem_info_desc = {
    "vmplace.MemInfo", "What was obtained for a memory object, as Mem.query() reports it.",
    mem_info_fields, 5};

static const char *backing_name(vmp_backing b) {
  switch (b) {
    case VMP_BACKING_MEMFD:
      return "memfd";
    case VMP_BACKING_SHM:
      return "shm";
    case VMP_BACKING_TEMP_FILE:
      return "temp_file";
    case VMP_BACKING_FILE:
      return "file";
    case VMP_BACKING_SECTION:
      return "section";
    case VMP_BACKING_DESCRIPTOR:
      return "descriptor";
  }
  return "unknown";
}

static PyObject *tristate(int v) {
  if (v < 0) Py_RETURN_NONE;
  return PyBool_FromLong(v);
}

static PyObject *Mem_query(Mem *self, PyObject *noargs) {
  (void)noargs;
  vmp_mem *m = mem_open_handle(self);
  if (!m) return NULL;
  vmp_mem_info info;
  int err = vmp_mem_query(m, &info);
  if (err) return raise_err(err, "vmp_mem_query");
  PyObject *items[5] = {PyUnicode_FromString(backing_name(info.backing)),
                        PyBool_FromLong(info.sealed), PyLong_FromLong(info.huge_pages),
                        tristate(info.exec), PyBool_FromLong(info.fell_back)};
  return struct_sequence(&MemInfoType, items, 5);
}

static PyObject *Mem_size(Mem *self, PyObject *noargs) {
  (void)noargs;
  vmp_mem *m = mem_open_handle(self);
  if (!m) return NULL;
  uint64_t size;
  int err = vmp_mem_size(m, &size);
  if (err) return raise_err(err, "vmp_mem_size");
  return PyLong_FromUnsignedLongLong(size);
}

static PyObject *Mem_grow(Mem *self, PyObject *arg) {
  uint64_t size;
  if (!conv_u64(arg, &size)) return NULL;
  vmp_mem *m = mem_open_handle(self);
  if (!m) return NULL;
  int err = vmp_mem_grow(m, size);
  if (err) return raise_err(err, "vmp_mem_grow");
  Py_RETURN_NONE;
}

static PyObject *Mem_fileno(Mem *self, PyObject *noargs) {
  (void)noargs;
  vmp_mem *m = mem_open_handle(self);
  if (!m) return NULL;
  return PyLong_FromSsize_t((Py_ssize_t)vmp_mem_fd(m));
}

static PyObject *Mem_close(Mem *self, PyObject *noargs) {
  (void)noargs;
  vmp_mem *m = self->mem;
  self->mem = NULL;
  if (m) {
    int err = vmp_mem_close(m);
    if (err) return raise_err(err, "vmp_mem_close");
  }
  Py_RETURN_NONE;
}

static PyObject *enter_self(PyObject *self, PyObject *noargs) {
  (void)noargs;
  Py_INCREF(self);
  return self;
}

static PyObject *Mem_exit(Mem *self, PyObject *args) {
  (void)args;
  return Mem_close(self, NULL);
}

static void Mem_dealloc(Mem *self) {
  if (self->mem) vmp_mem_close(self->mem);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Mem_get_closed(Mem *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->mem == NULL);
}

static PyObject *Mem_get_readable(Mem *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->mem && (vmp_mem_flags(self->mem) & VMP_MEM_READ));
}

static PyObject *Mem_get_writable(Mem *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->mem && (vmp_mem_flags(self->mem) & VMP_MEM_WRITE));
}

static PyObject *Mem_repr(Mem *self) {
  if (!self->mem) return PyUnicode_FromString("<vmplace.Mem closed>");
  uint64_t size = 0;
  int err = vmp_mem_size(self->mem, &size);
  unsigned flags = vmp_mem_flags(self->mem);
  if (err)
    return PyUnicode_FromFormat("<vmplace.Mem fd=%zd %s>", (Py_ssize_t)vmp_mem_fd(self->mem),
                                (flags & VMP_MEM_WRITE) ? "rw" : "r");
  return PyUnicode_FromFormat("<vmplace.Mem fd=%zd size=%llu %s>",
                              (Py_ssize_t)vmp_mem_fd(self->mem), (unsigned long long)size,
                              (flags & VMP_MEM_WRITE) ? "rw" : "r");
}

static PyMethodDef Mem_methods[] = {
    {"open", (PyCFunction)(void (*)(void))Mem_open, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "open(path, writable=False) -> Mem\n\nOpen the regular file at path as a memory object, "
     "read-only unless writable. The file is neither created nor resized. A missing file raises "
     "FileNotFoundError, a refused one PermissionError; a path that is not a regular file raises "
     "vmplace.Error (EINVAL)."},
    {"adopt", (PyCFunction)(void (*)(void))Mem_adopt, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "adopt(fd, flags=0) -> Mem\n\nTake ownership of an open descriptor (a regular file or shared "
     "memory): on success the Mem closes it; on failure the caller keeps it. flags (MEM_READ, "
     "MEM_RW) may only narrow what the descriptor's open mode allows; 0 means all of it."},
    {"create_named", (PyCFunction)(void (*)(void))Mem_create_named,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "create_named(size, name, flags=0) -> Mem\n\nAs Mem(size), with a name that tells the "
     "object apart in the process's map (Linux: /memfd:name in /proc/self/maps; the fallbacks "
     "and Windows carry none). name is 1 to 79 printable ASCII characters, none of \\ ` $ [ ] "
     "(else vmplace.Error EINVAL). flags: any of MEM_NO_FALLBACK (the backend's own way or "
     "ENOTSUP, never /dev/shm or a file), MEM_EXEC (views may be executable), "
     "MEM_PREALLOCATE (reserve the backing store now: a full tmpfs fails here, not with SIGBUS "
     "later), MEM_HUGE, MEM_HUGE_OR_THP."},
    {"query", (PyCFunction)Mem_query, METH_NOARGS,
     "query() -> MemInfo\n\nWhat was obtained for the object: its backing, whether it is "
     "sealed, huge pages, exec, and whether it fell back to /dev/shm or a file."},
    {"size", (PyCFunction)Mem_size, METH_NOARGS,
     "size() -> int\n\nThe object's current size in bytes, asked of the system."},
    {"grow", (PyCFunction)Mem_grow, METH_O,
     "grow(new_size)\n\nGrow the object to new_size bytes (new bytes read as zero). Shrinking "
     "raises vmplace.Error (EINVAL), a read-only object EACCES."},
    {"fileno", (PyCFunction)Mem_fileno, METH_NOARGS,
     "fileno() -> int\n\nThe descriptor, still owned by this object (to pass to another process)."},
    {"close", (PyCFunction)Mem_close, METH_NOARGS,
     "close()\n\nGive the handle back. Views already mapped stay valid. Idempotent."},
    {"__enter__", enter_self, METH_NOARGS, "Return self."},
    {"__exit__", (PyCFunction)Mem_exit, METH_VARARGS, "Close the object."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Mem_getset[] = {
    {"closed", (getter)Mem_get_closed, NULL, "True once close() was called.", NULL},
    {"readable", (getter)Mem_get_readable, NULL, "Whether views may read.", NULL},
    {"writable", (getter)Mem_get_writable, NULL, "Whether views may write (shared).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject MemType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vmplace.Mem",
    .tp_basicsize = sizeof(Mem),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc =
        "Mem(size)\n\nA memory object: what region views map. Mem(size) creates anonymous "
        "shared memory of size bytes (a page multiple), zero-filled, with nothing named "
        "left behind; Mem.open(path) opens a file; Mem.adopt(fd) takes a descriptor. A "
        "context manager; close() is idempotent and views stay valid after it.",
    .tp_new = Mem_new,
    .tp_dealloc = (destructor)Mem_dealloc,
    .tp_repr = (reprfunc)Mem_repr,
    .tp_methods = Mem_methods,
    .tp_getset = Mem_getset,
};

/* ---- regions ------------------------------------------------------------ */

typedef struct {
  PyObject_HEAD vmp_region *region;
  window_list windows;
  /* Counts the changes made to the region; every change goes through this
   * object, so a window checked at the current generation needs no new
   * walk over its pages. */
  uint64_t generation;
} Region;

static PyTypeObject RegionType;
static PyTypeObject SpanInfoType;

static PyStructSequence_Field span_info_fields[] = {
    {"start", "address of the span's first byte"},
    {"offset", "span start in bytes from the region's base"},
    {"size", "span size in bytes"},
    {"kind", "'placeholder', 'private' or 'view'"},
    {"prot", "protection (PROT_*) of the page asked about, or of the span's first page"},
    {"mem_offset", "view: the object offset of the span's first byte; else 0"},
    {NULL, NULL}};

static PyStructSequence_Desc span_info_desc = {
    "vmplace.SpanInfo", "One span of a region, as Region.query() and Region.spans() report it.",
    span_info_fields, 6};

/* A struct sequence of `type` made of `count` new references, all taken
 * (released on failure; a NULL among them means an error is set). */
static PyObject *struct_sequence(PyTypeObject *type, PyObject **items, Py_ssize_t count) {
  PyObject *s = NULL;
  for (Py_ssize_t i = 0; i < count; i++)
    if (!items[i]) goto fail;
  s = PyStructSequence_New(type);
  if (!s) goto fail;
  for (Py_ssize_t i = 0; i < count; i++) PyStructSequence_SET_ITEM(s, i, items[i]);
  return s;
fail:
  for (Py_ssize_t i = 0; i < count; i++) Py_XDECREF(items[i]);
  return NULL;
}

static PyObject *span_info_new(const vmp_span_info *info) {
  PyObject *items[6] = {
      PyLong_FromVoidPtr(info->start), PyLong_FromSize_t(info->offset),
      PyLong_FromSize_t(info->size),   PyUnicode_FromString(vmp_kind_name(info->kind)),
      PyLong_FromLong(info->prot),     PyLong_FromUnsignedLongLong(info->mem_offset)};
  return struct_sequence(&SpanInfoType, items, 6);
}

static vmp_region *region_handle(Region *self) {
  if (!self->region) raise_closed("region");
  return self->region;
}

/* Takes the region: released again when the object cannot be made. */
static PyObject *region_wrap(PyTypeObject *type, vmp_region *r) {
  Region *self = (Region *)type->tp_alloc(type, 0);
  if (!self) {
    vmp_release(r);
    return NULL;
  }
  self->region = r;
  self->windows.head = NULL;
  self->generation = 1;
  return (PyObject *)self;
}

static PyObject *Region_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"size", "alignment", NULL};
  size_t size, alignment = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|O&:Region", kwlist, conv_size, &size, conv_size,
                                   &alignment))
    return NULL;
  vmp_region *r;
  int err = vmp_reserve(size, alignment, &r);
  if (err) return raise_err(err, "vmp_reserve");
  return region_wrap(type, r);
}

static PyObject *Region_reserve_at(PyObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"addr", "size", NULL};
  size_t addr, size;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&:reserve_at", kwlist, conv_size, &addr, conv_size,
                                   &size))
    return NULL;
  vmp_region *r;
  int err = vmp_reserve_at((void *)(uintptr_t)addr, size, &r);
  if (err) return raise_err(err, "vmp_reserve_at");
  return region_wrap((PyTypeObject *)cls, r);
}

static PyObject *Region_reserve_in(PyObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"lowest", "highest", "size", "alignment", NULL};
  size_t lowest, highest, size, alignment = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&O&|O&:reserve_in", kwlist, conv_size, &lowest,
                                   conv_size, &highest, conv_size, &size, conv_size, &alignment))
    return NULL;
  vmp_region *r;
  int err = vmp_reserve_in((uintptr_t)lowest, (uintptr_t)highest, size, alignment, &r);
  if (err) return raise_err(err, "vmp_reserve_in");
  return region_wrap((PyTypeObject *)cls, r);
}

static void Region_dealloc(Region *self) {
  /* No window can be left: each holds a reference to the region. */
  if (self->region) vmp_release(self->region);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

typedef int (*range_op)(vmp_region *, size_t, size_t);

static PyObject *region_range_call(Region *self, PyObject *args, const char *fmt, range_op op,
                                   const char *what) {
  size_t off, size;
  if (!PyArg_ParseTuple(args, fmt, conv_size, &off, conv_size, &size)) return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  int err = op(r, off, size);
  self->generation++;
  if (err) return raise_err(err, what);
  Py_RETURN_NONE;
}

static PyObject *Region_split(Region *self, PyObject *args) {
  return region_range_call(self, args, "O&O&:split", vmp_split, "vmp_split");
}

static PyObject *Region_coalesce(Region *self, PyObject *args) {
  return region_range_call(self, args, "O&O&:coalesce", vmp_coalesce, "vmp_coalesce");
}

static PyObject *Region_carve(Region *self, PyObject *args) {
  return region_range_call(self, args, "O&O&:carve", vmp_carve, "vmp_carve");
}

static PyObject *Region_extend(Region *self, PyObject *arg) {
  size_t more;
  if (!conv_size(arg, &more)) return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  /* Growing adds room after the end: every exported buffer stays mapped. */
  int err = vmp_extend(r, more);
  self->generation++;
  if (err) return raise_err(err, "vmp_extend");
  Py_RETURN_NONE;
}

static PyObject *Region_label(Region *self, PyObject *args) {
  size_t off, size;
  const char *name;
  if (!PyArg_ParseTuple(args, "O&O&s:label", conv_size, &off, conv_size, &size, &name)) return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  /* A name changes neither the pages nor their protection: exports stay. */
  int err = vmp_label(r, off, size, name);
  if (err) return raise_err(err, "vmp_label");
  Py_RETURN_NONE;
}

static PyObject *Region_discard(Region *self, PyObject *args) {
  /* Discarded pages stay mapped (they read as zero): exports may stay. */
  return region_range_call(self, args, "O&O&:discard", vmp_discard, "vmp_discard");
}

/* Whether the library could accept the range: only then may exports be what
 * stops the call. Bad arguments get the library's own error (EINVAL, EALIGN,
 * ERANGE, in its order) rather than BufferError. */
static int range_is_plausible(vmp_region *r, size_t off, size_t size) {
  size_t page = vmp_page_size();
  return size != 0 && off % page == 0 && size % page == 0 && off <= vmp_size(r) &&
         size <= vmp_size(r) - off;
}

static int prot_is_valid(int prot) {
  return prot == VMP_PROT_NONE || prot == VMP_PROT_READ || prot == VMP_PROT_RW ||
         prot == (VMP_PROT_READ | VMP_PROT_EXEC) || prot == (VMP_PROT_RW | VMP_PROT_EXEC);
}

/* unmap and unmap_coalesce: nothing exported over the range may go. */
static PyObject *region_unmap_call(Region *self, PyObject *args, const char *fmt, range_op op,
                                   const char *what) {
  size_t off, size;
  if (!PyArg_ParseTuple(args, fmt, conv_size, &off, conv_size, &size)) return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  Py_ssize_t n =
      range_is_plausible(r, off, size) ? list_exports(&self->windows, off, size, NULL) : 0;
  if (n) {
    PyErr_Format(PyExc_BufferError, "cannot unmap: %zd exported buffer(s) over the range", n);
    return NULL;
  }
  int err = op(r, off, size);
  self->generation++;
  if (err) return raise_err(err, what);
  Py_RETURN_NONE;
}

static PyObject *Region_unmap(Region *self, PyObject *args) {
  return region_unmap_call(self, args, "O&O&:unmap", vmp_unmap, "vmp_unmap");
}

static PyObject *Region_unmap_coalesce(Region *self, PyObject *args) {
  return region_unmap_call(self, args, "O&O&:unmap_coalesce", vmp_unmap_coalesce,
                           "vmp_unmap_coalesce");
}

static int parse_prot(PyObject *obj, void *out) {
  long v = PyLong_AsLong(obj);
  if (v == -1 && PyErr_Occurred()) return 0;
  if (v < INT32_MIN || v > INT32_MAX) {
    PyErr_SetString(PyExc_OverflowError, "protection out of range");
    return 0;
  }
  *(int *)out = (int)v;
  return 1;
}

static PyObject *Region_protect(Region *self, PyObject *args) {
  size_t off, size;
  int prot;
  if (!PyArg_ParseTuple(args, "O&O&O&:protect", conv_size, &off, conv_size, &size, parse_prot,
                        &prot))
    return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  /* Taking away what an exported buffer relies on would turn its next
   * access into a crash. */
  Py_ssize_t writable = 0;
  Py_ssize_t n = range_is_plausible(r, off, size) && prot_is_valid(prot)
                     ? list_exports(&self->windows, off, size, &writable)
                     : 0;
  if ((n && !(prot & VMP_PROT_READ)) || (writable && !(prot & VMP_PROT_WRITE))) {
    PyErr_Format(PyExc_BufferError,
                 "cannot take %s away: %zd exported buffer(s) over the range rely on it",
                 (prot & VMP_PROT_READ) ? "write access" : "access", n);
    return NULL;
  }
  int err = vmp_protect(r, off, size, prot);
  self->generation++;
  if (err) return raise_err(err, "vmp_protect");
  Py_RETURN_NONE;
}

typedef int (*commit_op)(vmp_region *, size_t, size_t, int);

/* commit and carve_commit. */
static PyObject *region_commit_call(Region *self, PyObject *args, PyObject *kw, const char *fmt,
                                    commit_op op, const char *what) {
  static char *kwlist[] = {"offset", "size", "prot", NULL};
  size_t off, size;
  int prot = VMP_PROT_RW;
  if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, conv_size, &off, conv_size, &size,
                                   parse_prot, &prot))
    return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  int err = op(r, off, size, prot);
  self->generation++;
  if (err) return raise_err(err, what);
  Py_RETURN_NONE;
}

static PyObject *Region_commit(Region *self, PyObject *args, PyObject *kw) {
  return region_commit_call(self, args, kw, "O&O&|O&:commit", vmp_commit, "vmp_commit");
}

static PyObject *Region_carve_commit(Region *self, PyObject *args, PyObject *kw) {
  return region_commit_call(self, args, kw, "O&O&|O&:carve_commit", vmp_carve_commit,
                            "vmp_carve_commit");
}

typedef int (*map_op)(vmp_region *, size_t, size_t, vmp_mem *, uint64_t, int);

/* map and carve_map. */
static PyObject *region_map_call(Region *self, PyObject *args, PyObject *kw, const char *fmt,
                                 map_op op, const char *what) {
  static char *kwlist[] = {"offset", "size", "mem", "mem_offset", "prot", NULL};
  size_t off, size;
  PyObject *mem_obj;
  uint64_t mem_off = 0;
  PyObject *prot_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, conv_size, &off, conv_size, &size,
                                   &MemType, &mem_obj, conv_u64, &mem_off, &prot_obj))
    return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  vmp_mem *m = mem_open_handle((Mem *)mem_obj);
  if (!m) return NULL;
  int prot;
  if (prot_obj == Py_None)
    prot = (vmp_mem_flags(m) & VMP_MEM_WRITE) ? VMP_PROT_RW : VMP_PROT_READ;
  else if (!parse_prot(prot_obj, &prot))
    return NULL;
  int err = op(r, off, size, m, mem_off, prot);
  self->generation++;
  if (err) return raise_err(err, what);
  Py_RETURN_NONE;
}

static PyObject *Region_map(Region *self, PyObject *args, PyObject *kw) {
  return region_map_call(self, args, kw, "O&O&O!|O&O:map", vmp_map, "vmp_map");
}

static PyObject *Region_carve_map(Region *self, PyObject *args, PyObject *kw) {
  return region_map_call(self, args, kw, "O&O&O!|O&O:carve_map", vmp_carve_map, "vmp_carve_map");
}

static PyObject *Region_query(Region *self, PyObject *arg) {
  size_t off;
  if (!conv_size(arg, &off)) return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  if (off >= vmp_size(r)) return raise_err(VMP_ERANGE, "vmp_query");
  vmp_span_info info;
  int err = vmp_query(r, (char *)vmp_base(r) + off, &info);
  if (err) return raise_err(err, "vmp_query");
  return span_info_new(&info);
}

/* The spans are copied out under the region's lock first and turned into
 * Python objects after: allocating objects may run the garbage collector,
 * and a finalizer that called into the same region would deadlock on it. */
typedef struct {
  vmp_span_info *items;
  size_t count, room;
} span_buffer;

static int copy_span(const vmp_span_info *info, void *arg) {
  span_buffer *buf = arg;
  if (buf->count == buf->room) return 1; /* grew since it was counted */
  buf->items[buf->count++] = *info;
  return 0;
}

static PyObject *region_span_list(vmp_region *r) {
  for (;;) {
    span_buffer buf = {NULL, 0, vmp_span_count(r) + 1};
    buf.items = PyMem_Calloc(buf.room, sizeof *buf.items);
    if (!buf.items) return PyErr_NoMemory();
    int rc = vmp_foreach_span(r, copy_span, &buf);
    if (rc == 1) {
      PyMem_Free(buf.items);
      continue;
    }
    if (rc) {
      PyMem_Free(buf.items);
      return raise_err(rc, "vmp_foreach_span");
    }
    PyObject *list = PyList_New((Py_ssize_t)buf.count);
    for (size_t i = 0; list && i < buf.count; i++) {
      PyObject *s = span_info_new(&buf.items[i]);
      if (!s)
        Py_CLEAR(list);
      else
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    PyMem_Free(buf.items);
    return list;
  }
}

static PyObject *Region_spans(Region *self, PyObject *noargs) {
  (void)noargs;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  return region_span_list(r);
}

static PyObject *Region_buffer(Region *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"offset", "size", NULL};
  size_t off, size;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&:buffer", kwlist, conv_size, &off, conv_size,
                                   &size))
    return NULL;
  vmp_region *r = region_handle(self);
  if (!r) return NULL;
  if (size == 0) return raise_err(VMP_EINVAL, "Region.buffer");
  if (off > vmp_size(r) || size > vmp_size(r) - off) return raise_err(VMP_ERANGE, "Region.buffer");
  if (size > (size_t)PY_SSIZE_T_MAX) return raise_err(VMP_ERANGE, "Region.buffer");
  /* What the pages allow is checked at each export, not here: it may change
   * between the two. */
  return (PyObject *)window_new((PyObject *)self, &self->windows, WINDOW_REGION, off, NULL, size);
}

static PyObject *Region_close(Region *self, PyObject *noargs) {
  (void)noargs;
  if (!self->region) Py_RETURN_NONE;
  Py_ssize_t n = list_all_exports(&self->windows);
  if (n) {
    PyErr_Format(PyExc_BufferError, "cannot close the region: %zd exported buffer(s)", n);
    return NULL;
  }
  vmp_region *r = self->region;
  self->region = NULL;
  int err = vmp_release(r);
  if (err) {
    /* Windows may give a region back in parts; the handle stays, so that
     * close() can be called again to finish. */
    self->region = r;
    return raise_err(err, "vmp_release");
  }
  Py_RETURN_NONE;
}

static PyObject *Region_exit(Region *self, PyObject *args) {
  (void)args;
  return Region_close(self, NULL);
}

static PyObject *Region_repr(Region *self) {
  if (!self->region) return PyUnicode_FromString("<vmplace.Region closed>");
  PyObject *spans = region_span_list(self->region);
  if (!spans) return NULL;
  PyObject *parts = PyList_New(0);
  if (!parts) {
    Py_DECREF(spans);
    return NULL;
  }
  static const char *prot_names[8] = {"---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx"};
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(spans); i++) {
    PyObject *s = PyList_GET_ITEM(spans, i);
    size_t off = PyLong_AsSize_t(PyStructSequence_GET_ITEM(s, 1));
    size_t size = PyLong_AsSize_t(PyStructSequence_GET_ITEM(s, 2));
    PyObject *kind = PyStructSequence_GET_ITEM(s, 3);
    long prot = PyLong_AsLong(PyStructSequence_GET_ITEM(s, 4));
    char range[64];
    snprintf(range, sizeof range, "0x%zx+0x%zx", off, size);
    PyObject *part = PyUnicode_CompareWithASCIIString(kind, "placeholder") == 0
                         ? PyUnicode_FromFormat("%s %U", range, kind)
                         : PyUnicode_FromFormat("%s %U %s", range, kind, prot_names[prot & 7]);
    if (!part || PyList_Append(parts, part) < 0) {
      Py_XDECREF(part);
      Py_DECREF(parts);
      Py_DECREF(spans);
      return NULL;
    }
    Py_DECREF(part);
  }
  Py_DECREF(spans);
  PyObject *sep = PyUnicode_FromString(", ");
  PyObject *joined = sep ? PyUnicode_Join(sep, parts) : NULL;
  Py_XDECREF(sep);
  Py_DECREF(parts);
  if (!joined) return NULL;
  char size_text[32];
  snprintf(size_text, sizeof size_text, "0x%zx", vmp_size(self->region));
  PyObject *out = PyUnicode_FromFormat("<vmplace.Region base=%p size=%s spans=[%U]>",
                                       vmp_base(self->region), size_text, joined);
  Py_DECREF(joined);
  return out;
}

static PyObject *Region_get_base(Region *self, void *c) {
  (void)c;
  vmp_region *r = region_handle(self);
  return r ? PyLong_FromVoidPtr(vmp_base(r)) : NULL;
}

static PyObject *Region_get_size(Region *self, void *c) {
  (void)c;
  vmp_region *r = region_handle(self);
  return r ? PyLong_FromSize_t(vmp_size(r)) : NULL;
}

static PyObject *Region_get_span_count(Region *self, void *c) {
  (void)c;
  vmp_region *r = region_handle(self);
  return r ? PyLong_FromSize_t(vmp_span_count(r)) : NULL;
}

static PyObject *Region_get_mapping_count(Region *self, void *c) {
  (void)c;
  vmp_region *r = region_handle(self);
  return r ? PyLong_FromSize_t(vmp_mapping_count(r)) : NULL;
}

static PyObject *Region_get_closed(Region *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->region == NULL);
}

static PyObject *Region_get_exports(Region *self, void *c) {
  (void)c;
  return PyLong_FromSsize_t(list_all_exports(&self->windows));
}

static PyMethodDef Region_methods[] = {
    {"reserve_at", (PyCFunction)(void (*)(void))Region_reserve_at,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "reserve_at(addr, size) -> Region\n\nReserve exactly [addr, addr+size) as one placeholder "
     "(addr a multiple of granularity(), size of the page). Nothing already there is ever "
     "replaced: when any page of the range is mapped or reserved, by this process or anything "
     "in it, vmplace.Error EADDRINUSE, and nothing changed."},
    {"reserve_in", (PyCFunction)(void (*)(void))Region_reserve_in,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "reserve_in(lowest, highest, size, alignment=0) -> Region\n\nReserve size bytes as one "
     "placeholder lying wholly inside the address window [lowest, highest) (multiples of "
     "granularity()), at a multiple of alignment (0 or a power of two of at least the page): "
     "reserve_in(0, 1 << 32, size) for memory below 4 GiB. EADDRINUSE when no free range of "
     "that size fits the window, ERANGE when the window is too small to hold it at all."},
    {"extend", (PyCFunction)Region_extend, METH_O,
     "extend(more)\n\nGrow the region in place by more bytes (a page multiple): a new "
     "placeholder span after its end. The base never moves and exported buffers stay valid; "
     "when any of the room after the end is taken, vmplace.Error EADDRINUSE and nothing "
     "changed (the region is never moved)."},
    {"carve", (PyCFunction)Region_carve, METH_VARARGS,
     "carve(offset, size)\n\nMake [offset, offset+size) a placeholder span of its own, whether "
     "it already is exactly one (nothing changes) or lies inside a larger one (split)."},
    {"label", (PyCFunction)Region_label, METH_VARARGS,
     "label(offset, size, name)\n\nName private pages in the process's map (Linux 5.17+: "
     "[anon:name] in /proc/self/maps; elsewhere the arguments are checked and nothing is "
     "shown, see capabilities().labels). name is 1 to 79 printable ASCII characters, none of "
     "\\ ` $ [ ]. The range lies in one private span (ESTATE for other kinds)."},
    {"split", (PyCFunction)Region_split, METH_VARARGS,
     "split(offset, size)\n\nMake [offset, offset+size) a placeholder of its own, cut out of the "
     "placeholder that holds it."},
    {"coalesce", (PyCFunction)Region_coalesce, METH_VARARGS,
     "coalesce(offset, size)\n\nMerge the placeholders covering exactly [offset, offset+size) (two "
     "or more) into one."},
    {"commit", (PyCFunction)(void (*)(void))Region_commit, METH_VARARGS | METH_KEYWORDS,
     "commit(offset, size, prot=PROT_RW)\n\nReplace exactly one whole placeholder with private "
     "zero-filled memory."},
    {"carve_commit", (PyCFunction)(void (*)(void))Region_carve_commit, METH_VARARGS | METH_KEYWORDS,
     "carve_commit(offset, size, prot=PROT_RW)\n\ncarve() and commit() in one step: "
     "[offset, offset+size), inside one placeholder, becomes private zero-filled memory, the "
     "rest of that placeholder staying placeholders on either side. On failure nothing "
     "changed (not even the split)."},
    {"map", (PyCFunction)(void (*)(void))Region_map, METH_VARARGS | METH_KEYWORDS,
     "map(offset, size, mem, mem_offset=0, prot=None)\n\nReplace exactly one whole placeholder "
     "with "
     "a view of mem from byte mem_offset. prot defaults to PROT_RW for a writable object and "
     "PROT_READ for a read-only one. The view keeps the object alive."},
    {"carve_map", (PyCFunction)(void (*)(void))Region_carve_map, METH_VARARGS | METH_KEYWORDS,
     "carve_map(offset, size, mem, mem_offset=0, prot=None)\n\ncarve() and map() in one step: "
     "[offset, offset+size), inside one placeholder, becomes a view of mem from byte "
     "mem_offset, the rest of that placeholder staying placeholders on either side. prot as "
     "for map(). On failure nothing changed (not even the split)."},
    {"unmap", (PyCFunction)Region_unmap, METH_VARARGS,
     "unmap(offset, size)\n\nTurn the range (a whole view, or pages of private memory) back into a "
     "placeholder. BufferError while a buffer over any of it is exported."},
    {"unmap_coalesce", (PyCFunction)Region_unmap_coalesce, METH_VARARGS,
     "unmap_coalesce(offset, size)\n\nunmap(), then the placeholder left merges with the span "
     "right before and the span right after it, each where it is a placeholder: the reverse of "
     "carve_map() and carve_commit(). BufferError while a buffer over any of it is exported."},
    {"protect", (PyCFunction)Region_protect, METH_VARARGS,
     "protect(offset, size, prot)\n\nChange the protection of pages in one private or view span. "
     "BufferError when it would take read access from an exported buffer, or write access from "
     "a writable one. A view keeps within its ceiling on every system: a view mapped executable "
     "can never be made writable, nor one mapped without execute executable "
     "(vmplace.Error EACCES)."},
    {"discard", (PyCFunction)Region_discard, METH_VARARGS,
     "discard(offset, size)\n\nGive private pages' memory back; they read as zero afterwards and "
     "stay mapped (exports stay valid)."},
    {"query", (PyCFunction)Region_query, METH_O,
     "query(offset) -> SpanInfo\n\nThe span holding byte offset of the region (prot is that "
     "page's)."},
    {"spans", (PyCFunction)Region_spans, METH_NOARGS,
     "spans() -> list[SpanInfo]\n\nEvery span in address order (prot is each span's first "
     "page's)."},
    {"buffer", (PyCFunction)(void (*)(void))Region_buffer, METH_VARARGS | METH_KEYWORDS,
     "buffer(offset, size) -> Window\n\nA buffer-protocol object over [offset, offset+size). Each "
     "export (memoryview, numpy.frombuffer) checks that every page is mapped and readable; it is "
     "read-only when any page is not writable. Zero-copy."},
    {"close", (PyCFunction)Region_close, METH_NOARGS,
     "close()\n\nUnmap everything and give the address range back. BufferError while any buffer "
     "is exported. Idempotent."},
    {"__enter__", enter_self, METH_NOARGS, "Return self."},
    {"__exit__", (PyCFunction)Region_exit, METH_VARARGS, "Close the region."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Region_getset[] = {
    {"base", (getter)Region_get_base, NULL, "The base address, as an int.", NULL},
    {"size", (getter)Region_get_size, NULL, "The size in bytes.", NULL},
    {"span_count", (getter)Region_get_span_count, NULL, "The number of spans.", NULL},
    {"mapping_count", (getter)Region_get_mapping_count, NULL,
     "How many kernel mappings the region costs now (what counts against Linux's "
     "vm.max_map_count; see budget()), derived from its spans as the kernel merges them.",
     NULL},
    {"closed", (getter)Region_get_closed, NULL, "True once close() succeeded.", NULL},
    {"exports", (getter)Region_get_exports, NULL, "Buffers exported now, over all windows.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject RegionType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vmplace.Region",
    .tp_basicsize = sizeof(Region),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc =
        "Region(size, alignment=0)\n\nReserve size bytes of address space (a page multiple) "
        "as one placeholder; split it, commit private memory or map Mem views into it, "
        "never leaving any of it free for another allocation. Offsets and sizes are bytes "
        "from the base, page multiples. A context manager; close() is idempotent.",
    .tp_new = Region_new,
    .tp_dealloc = (destructor)Region_dealloc,
    .tp_repr = (reprfunc)Region_repr,
    .tp_methods = Region_methods,
    .tp_getset = Region_getset,
};

/* ---- rings -------------------------------------------------------------- */

typedef struct Record Record;

typedef struct {
  PyObject_HEAD vmp_ring *ring;
  window_list windows;
  int waiters;               /* calls in a wait with the GIL released */
  int close_pending;         /* close() came during a wait: the last waiter closes */
  int multi;                 /* many producers (learnt from the ring on attach) */
  int in_next;               /* next() calls waiting with the GIL released */
  Py_ssize_t record_exports; /* buffers of its records exported now */
  /* Borrowed (a record clears them when it goes): the one reservation a
   * single-producer ring holds, which the next reserve replaces, and the
   * record next() gave and nobody consumed yet, which next() gives again. */
  Record *pending_reserve;
  Record *pending_next;
} Ring;

static PyTypeObject RingType;

static vmp_ring *ring_handle(Ring *self) {
  if (!self->ring || self->close_pending) {
    raise_closed("ring");
    return NULL;
  }
  return self->ring;
}

static Ring *ring_wrap(PyTypeObject *type, vmp_ring *r) {
  Ring *self = (Ring *)type->tp_alloc(type, 0);
  if (!self) {
    vmp_ring_close(r);
    return NULL;
  }
  self->ring = r;
  self->windows.head = NULL;
  self->waiters = 0;
  self->close_pending = 0;
  /* Only a multi-producer ring accepts an abandonment timeout; setting the
   * documented default (1 s) to a ring just mapped changes nothing. */
  self->multi = vmp_ring_set_abandon_timeout(r, 1000000000) == 0;
  self->in_next = 0;
  self->record_exports = 0;
  self->pending_reserve = NULL;
  self->pending_next = NULL;
  return self;
}

/* VMP_RING_NO_INHERIT leaves a forked child (multiprocessing's default
 * start method) holding Ring objects, and maybe buffers exported before the
 * fork, over memory it does not have: the one way a Python program could
 * reach unmapped memory. The binding refuses it. */
static int refuse_no_inherit(unsigned flags) {
  if (flags & VMP_RING_NO_INHERIT) {
    PyErr_SetString(PyExc_ValueError,
                    "RING_NO_INHERIT is refused: a forked child would keep Python objects over "
                    "memory it does not have");
    return -1;
  }
  return 0;
}

static PyObject *Ring_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"size", "flags", "multi_producer", NULL};
  size_t size;
  unsigned flags = 0;
  int multi_producer = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|I$p:Ring", kwlist, conv_size, &size, &flags,
                                   &multi_producer))
    return NULL;
  if (refuse_no_inherit(flags) < 0) return NULL;
  if (multi_producer) flags |= VMP_RING_MULTI_PRODUCER;
  vmp_ring *r;
  int err = vmp_ring_create(size, flags, &r);
  if (err) return raise_err(err, "vmp_ring_create");
  return (PyObject *)ring_wrap(type, r);
}

static PyObject *Ring_attach(PyObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"fd", "flags", NULL};
  int fd;
  unsigned flags = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|I:attach", kwlist, conv_fd, &fd, &flags))
    return NULL;
  if (refuse_no_inherit(flags) < 0) return NULL;
  vmp_ring *r;
  int err = vmp_ring_attach(fd, flags, &r);
  if (err) return raise_err(err, "vmp_ring_attach");
  return (PyObject *)ring_wrap((PyTypeObject *)cls, r);
}

static void Ring_dealloc(Ring *self) {
  if (self->ring) vmp_ring_close(self->ring);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Ring_fileno(Ring *self, PyObject *noargs) {
  (void)noargs;
  vmp_ring *r = ring_handle(self);
  return r ? PyLong_FromSsize_t((Py_ssize_t)vmp_ring_fd(r)) : NULL;
}

static PyObject *Ring_write(Ring *self, PyObject *arg) {
  Py_buffer src;
  if (PyObject_GetBuffer(arg, &src, PyBUF_SIMPLE) < 0) return NULL;
  vmp_ring *r = ring_handle(self);
  ptrdiff_t n = r ? vmp_ring_write(r, src.buf, (size_t)src.len) : 0;
  PyBuffer_Release(&src);
  if (!r) return NULL;
  if (n < 0) return raise_err((int)n, "vmp_ring_write");
  return PyLong_FromSsize_t((Py_ssize_t)n);
}

static PyObject *Ring_readinto(Ring *self, PyObject *arg) {
  Py_buffer dst;
  if (PyObject_GetBuffer(arg, &dst, PyBUF_WRITABLE) < 0) return NULL;
  vmp_ring *r = ring_handle(self);
  ptrdiff_t n = r ? vmp_ring_read(r, dst.buf, (size_t)dst.len) : 0;
  PyBuffer_Release(&dst);
  if (!r) return NULL;
  if (n < 0) return raise_err((int)n, "vmp_ring_read");
  return PyLong_FromSsize_t((Py_ssize_t)n);
}

static PyObject *Ring_read(Ring *self, PyObject *args) {
  Py_ssize_t limit = -1;
  if (!PyArg_ParseTuple(args, "|n:read", &limit)) return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  size_t cap = vmp_ring_capacity(r);
  size_t want = (limit < 0 || (size_t)limit > cap) ? VMP_RING_ALL : (size_t)limit;
  if (want == 0) return PyBytes_FromStringAndSize(NULL, 0);
  const void *ptr;
  size_t len;
  int err = vmp_ring_read_begin(r, want, &ptr, &len);
  if (err) return raise_err(err, "vmp_ring_read_begin");
  size_t take = (limit >= 0 && len > (size_t)limit) ? (size_t)limit : len;
  PyObject *out = PyBytes_FromStringAndSize(ptr, (Py_ssize_t)clamp_to_ssize(take));
  if (!out) return NULL;
  err = vmp_ring_read_release(r, take);
  if (err) {
    Py_DECREF(out);
    return raise_err(err, "vmp_ring_read_release");
  }
  return out;
}

static PyObject *ring_window(Ring *self, PyObject *args, int writing) {
  size_t want = 1;
  if (!PyArg_ParseTuple(args, writing ? "|O&:write_window" : "|O&:read_window", conv_size, &want))
    return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  void *ptr;
  size_t len;
  int err = writing ? vmp_ring_write_begin(r, want, &ptr, &len)
                    : vmp_ring_read_begin(r, want, (const void **)&ptr, &len);
  if (err) return raise_err(err, writing ? "vmp_ring_write_begin" : "vmp_ring_read_begin");
  size_t offset = (size_t)((char *)ptr - (char *)vmp_ring_data(r));
  return (PyObject *)window_new((PyObject *)self, &self->windows,
                                writing ? WINDOW_RING_WRITE : WINDOW_RING_READ, offset, ptr,
                                clamp_to_ssize(len));
}

static PyObject *Ring_write_window(Ring *self, PyObject *args) {
  return ring_window(self, args, 1);
}

static PyObject *Ring_read_window(Ring *self, PyObject *args) { return ring_window(self, args, 0); }

static PyObject *Ring_commit(Ring *self, PyObject *arg) {
  size_t n;
  if (!conv_size(arg, &n)) return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  int err = vmp_ring_write_commit(r, n);
  if (err) return raise_err(err, "vmp_ring_write_commit");
  Py_RETURN_NONE;
}

static PyObject *Ring_release(Ring *self, PyObject *arg) {
  size_t n;
  if (!conv_size(arg, &n)) return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  int err = vmp_ring_read_release(r, n);
  if (err) return raise_err(err, "vmp_ring_read_release");
  Py_RETURN_NONE;
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Long enough that a wait costs nothing extra, short enough that Ctrl-C and
 * a close() from another thread are seen at once to a person. */
#define WAIT_SLICE_NS ((int64_t)50 * 1000 * 1000)

static int parse_timeout(PyObject *obj, int64_t *timeout_ns) {
  if (obj == Py_None) {
    *timeout_ns = -1;
    return 1;
  }
  double secs = PyFloat_AsDouble(obj);
  if (secs == -1.0 && PyErr_Occurred()) return 0;
  if (!(secs >= 0)) {
    PyErr_SetString(PyExc_ValueError, "timeout must be a non-negative number of seconds or None");
    return 0;
  }
  *timeout_ns = secs > 9.0e9 ? -1 : (int64_t)(secs * 1e9);
  return 1;
}

/* A wait's deadline, cut into slices of at most WAIT_SLICE_NS. */
typedef struct {
  int64_t timeout; /* < 0: none */
  int64_t deadline;
} wait_clock;

static void clock_start(wait_clock *clk, int64_t timeout) {
  clk->timeout = timeout;
  clk->deadline = timeout >= 0 ? monotonic_ns() + timeout : 0;
}

static int64_t clock_slice(const wait_clock *clk) {
  if (clk->timeout < 0) return WAIT_SLICE_NS;
  int64_t left = clk->deadline - monotonic_ns();
  if (left < 0) left = 0;
  return left < WAIT_SLICE_NS ? left : WAIT_SLICE_NS;
}

static int clock_expired(const wait_clock *clk) {
  return clk->timeout >= 0 && monotonic_ns() >= clk->deadline;
}

/* Called with the GIL taken back after a call made without it (counted in
 * self->waiters): -1 with ValueError when close() came meanwhile, the last
 * such caller closing the ring. */
static int ring_leave_wait(Ring *self, vmp_ring *r) {
  self->waiters--;
  if (!self->close_pending) return 0;
  if (self->waiters == 0) {
    self->ring = NULL;
    self->close_pending = 0;
    vmp_ring_close(r);
  }
  PyErr_SetString(PyExc_ValueError, "the ring was closed during the wait");
  return -1;
}

static PyObject *ring_wait(Ring *self, PyObject *args, PyObject *kw, int writing) {
  static char *kwlist[] = {"want", "timeout", NULL};
  size_t want = 1;
  PyObject *timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, writing ? "|O&O:wait_write" : "|O&O:wait_read", kwlist,
                                   conv_size, &want, &timeout_obj))
    return NULL;
  int64_t timeout;
  if (!parse_timeout(timeout_obj, &timeout)) return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  wait_clock clk;
  clock_start(&clk, timeout);
  for (;;) {
    int64_t slice = clock_slice(&clk);
    int err;
    self->waiters++;
    Py_BEGIN_ALLOW_THREADS err =
        writing ? vmp_ring_wait_write(r, want, slice) : vmp_ring_wait_read(r, want, slice);
    Py_END_ALLOW_THREADS if (ring_leave_wait(self, r) < 0) return NULL;
    if (err == 0) Py_RETURN_TRUE;
    if (err != VMP_ETIMEDOUT)
      return raise_err(err, writing ? "vmp_ring_wait_write" : "vmp_ring_wait_read");
    if (PyErr_CheckSignals() < 0) return NULL;
    if (clock_expired(&clk)) Py_RETURN_FALSE;
  }
}

static PyObject *Ring_wait_write(Ring *self, PyObject *args, PyObject *kw) {
  return ring_wait(self, args, kw, 1);
}

static PyObject *Ring_wait_read(Ring *self, PyObject *args, PyObject *kw) {
  return ring_wait(self, args, kw, 0);
}

/* ---- records ------------------------------------------------------------ */

/* A record is one reservation (the producer's, writable) or one record
 * next() gave (the consumer's, read-only), exported through the buffer
 * protocol like a window. Once it is submitted, discarded or consumed its
 * bytes belong to the other side, so that is refused (BufferError) while a
 * buffer of it is exported, and it exports nothing after. */
enum record_state {
  RECORD_OPEN,
  RECORD_SUBMITTED,
  RECORD_DISCARDED,
  RECORD_CONSUMED,
  RECORD_REPLACED, /* a single-producer ring's later reservation took its place */
  RECORD_ABANDONED /* the consumer skipped it: its producer was too slow */
};

static const char *const record_state_names[] = {"open",     "submitted", "discarded",
                                                 "consumed", "replaced",  "abandoned"};

struct Record {
  PyObject_HEAD Ring *ring; /* strong reference: the ring outlives its records */
  vmp_ring_record rec;
  int producer;
  enum record_state state;
  Py_ssize_t exports;
};

static PyTypeObject RecordType;

static Record *record_new(Ring *ring, const vmp_ring_record *rec, int producer) {
  Record *self = PyObject_New(Record, &RecordType);
  if (!self) return NULL;
  Py_INCREF(ring);
  self->ring = ring;
  self->rec = *rec;
  self->producer = producer;
  self->state = RECORD_OPEN;
  self->exports = 0;
  return self;
}

static void record_forget(Record *self) {
  if (self->ring->pending_reserve == self) self->ring->pending_reserve = NULL;
  if (self->ring->pending_next == self) self->ring->pending_next = NULL;
}

static void Record_dealloc(Record *self) {
  /* A reservation nobody submitted is given up, so that the consumer of a
   * multi-producer ring does not wait for it until the abandonment timeout. */
  if (self->state == RECORD_OPEN && self->producer && self->ring->ring &&
      !self->ring->close_pending)
    vmp_ring_discard(self->ring->ring, &self->rec);
  record_forget(self);
  Py_DECREF(self->ring);
  PyObject_Free(self);
}

enum record_op { RECORD_SUBMIT, RECORD_DISCARD, RECORD_CONSUME };

/* Submits, discards or consumes; the checks first, so a refused call leaves
 * the record as it was. */
static PyObject *record_finish(Record *self, enum record_op op) {
  static const char *const verbs[] = {"submit", "discard", "consume"};
  if ((op == RECORD_CONSUME) == self->producer) {
    PyErr_Format(PyExc_ValueError, "cannot %s a record %s", verbs[op],
                 self->producer ? "that was reserved (submit or discard it)"
                                : "that was received (consume it)");
    return NULL;
  }
  if (self->state != RECORD_OPEN) {
    PyErr_Format(PyExc_ValueError, "cannot %s the record: it was %s", verbs[op],
                 record_state_names[self->state]);
    return NULL;
  }
  vmp_ring *r = ring_handle(self->ring);
  if (!r) return NULL;
  if (self->exports) {
    PyErr_Format(PyExc_BufferError, "cannot %s the record: %zd exported buffer(s)", verbs[op],
                 self->exports);
    return NULL;
  }
  int err = op == RECORD_SUBMIT    ? vmp_ring_submit(r, &self->rec)
            : op == RECORD_DISCARD ? vmp_ring_discard(r, &self->rec)
                                   : vmp_ring_consume(r, &self->rec);
  if (err == VMP_ETIMEDOUT && op != RECORD_CONSUME) {
    self->state = RECORD_ABANDONED; /* it is the consumer's now, whatever we do */
    record_forget(self);
  }
  if (err)
    return raise_err(err, op == RECORD_SUBMIT    ? "vmp_ring_submit"
                          : op == RECORD_DISCARD ? "vmp_ring_discard"
                                                 : "vmp_ring_consume");
  self->state = op == RECORD_SUBMIT    ? RECORD_SUBMITTED
                : op == RECORD_DISCARD ? RECORD_DISCARDED
                                       : RECORD_CONSUMED;
  record_forget(self);
  Py_RETURN_NONE;
}

static PyObject *Record_submit(Record *self, PyObject *noargs) {
  (void)noargs;
  return record_finish(self, RECORD_SUBMIT);
}

static PyObject *Record_discard(Record *self, PyObject *noargs) {
  (void)noargs;
  return record_finish(self, RECORD_DISCARD);
}

static PyObject *Record_consume(Record *self, PyObject *noargs) {
  (void)noargs;
  return record_finish(self, RECORD_CONSUME);
}

static PyObject *Record_exit(Record *self, PyObject *args) {
  PyObject *exc_type = Py_None, *exc = Py_None, *tb = Py_None;
  if (!PyArg_UnpackTuple(args, "__exit__", 0, 3, &exc_type, &exc, &tb)) return NULL;
  if (self->state != RECORD_OPEN) Py_RETURN_NONE;
  PyObject *done = record_finish(self, !self->producer       ? RECORD_CONSUME
                                       : exc_type == Py_None ? RECORD_SUBMIT
                                                             : RECORD_DISCARD);
  if (!done) return NULL;
  Py_DECREF(done);
  Py_RETURN_NONE; /* an exception from the block goes on */
}

static int Record_getbuffer(Record *self, Py_buffer *view, int flags) {
  if (self->state != RECORD_OPEN) {
    PyErr_Format(PyExc_ValueError, "the record was %s: its bytes are not its own any more",
                 record_state_names[self->state]);
    return -1;
  }
  if (!ring_handle(self->ring)) return -1;
  if (PyBuffer_FillInfo(view, (PyObject *)self, self->rec.data,
                        (Py_ssize_t)clamp_to_ssize(self->rec.len), !self->producer, flags) < 0)
    return -1;
  self->exports++;
  self->ring->record_exports++;
  return 0;
}

static void Record_releasebuffer(Record *self, Py_buffer *view) {
  (void)view;
  self->exports--;
  self->ring->record_exports--;
}

static Py_ssize_t Record_length(Record *self) { return (Py_ssize_t)clamp_to_ssize(self->rec.len); }

static PyObject *Record_repr(Record *self) {
  return PyUnicode_FromFormat("<vmplace.Record %s len=%zu %s exports=%zd>",
                              self->producer ? "reserved" : "received", self->rec.len,
                              record_state_names[self->state], self->exports);
}

static PyObject *Record_get_state(Record *self, void *c) {
  (void)c;
  return PyUnicode_FromString(record_state_names[self->state]);
}

static PyObject *Record_get_writable(Record *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->producer);
}

static PyObject *Record_get_exports(Record *self, void *c) {
  (void)c;
  return PyLong_FromSsize_t(self->exports);
}

static PyObject *Record_get_ring(Record *self, void *c) {
  (void)c;
  Py_INCREF(self->ring);
  return (PyObject *)self->ring;
}

static PyMethodDef Record_methods[] = {
    {"submit", (PyCFunction)Record_submit, METH_NOARGS,
     "submit()\n\nPublish the reserved record with its bytes as they are now. BufferError while "
     "a buffer of it is exported; vmplace.Error (ETIMEDOUT) when the consumer of a "
     "multi-producer ring already skipped it as abandoned."},
    {"discard", (PyCFunction)Record_discard, METH_NOARGS,
     "discard()\n\nGive the reservation up (counted as discarded). BufferError while a buffer "
     "of it is exported."},
    {"consume", (PyCFunction)Record_consume, METH_NOARGS,
     "consume()\n\nRelease a received record: its bytes may be reused at once. BufferError "
     "while a buffer of it is exported."},
    {"__enter__", enter_self, METH_NOARGS, "Return self."},
    {"__exit__", (PyCFunction)Record_exit, METH_VARARGS,
     "Submit the reservation (discard it when the block raised), or consume the received "
     "record; nothing when that was done already."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Record_getset[] = {
    {"state", (getter)Record_get_state, NULL,
     "'open', 'submitted', 'discarded', 'consumed', 'replaced' (a single-producer ring's next "
     "reservation took its place) or 'abandoned'.",
     NULL},
    {"writable", (getter)Record_get_writable, NULL,
     "True for a reservation (a producer's), False for a received record.", NULL},
    {"exports", (getter)Record_get_exports, NULL, "Buffers exported now.", NULL},
    {"ring", (getter)Record_get_ring, NULL, "The Ring the record is in.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyBufferProcs Record_as_buffer = {(getbufferproc)Record_getbuffer,
                                         (releasebufferproc)Record_releasebuffer};

static PySequenceMethods Record_as_sequence = {.sq_length = (lenfunc)Record_length};

static PyTypeObject RecordType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vmplace.Record",
    .tp_basicsize = sizeof(Record),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "One record of a ring, contiguous in the ring's memory, with the buffer protocol: "
        "writable for a reservation (Ring.reserve), read-only for a received record "
        "(Ring.next); memoryview(rec) and numpy.frombuffer(rec) are zero-copy. A context "
        "manager: a reservation is submitted at the end of the block (discarded when it "
        "raised), a received record consumed. Neither happens while a buffer of it is "
        "exported (BufferError).",
    .tp_dealloc = (destructor)Record_dealloc,
    .tp_repr = (reprfunc)Record_repr,
    .tp_as_buffer = &Record_as_buffer,
    .tp_as_sequence = &Record_as_sequence,
    .tp_methods = Record_methods,
    .tp_getset = Record_getset,
};

static PyObject *Ring_reserve(Ring *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"size", "timeout", NULL};
  size_t len;
  PyObject *timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|O:reserve", kwlist, conv_size, &len, &timeout_obj))
    return NULL;
  int64_t timeout;
  if (!parse_timeout(timeout_obj, &timeout)) return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  Record *replaced = self->multi ? NULL : self->pending_reserve;
  if (replaced && replaced->exports) {
    /* The new reservation would start where that one's exported bytes are. */
    PyErr_Format(PyExc_BufferError,
                 "cannot reserve: the previous reservation has %zd exported buffer(s) and a "
                 "single-producer ring holds one reservation at a time",
                 replaced->exports);
    return NULL;
  }
  vmp_ring_record rec;
  int err;
  if (timeout == 0) {
    err = vmp_ring_reserve(r, len, 0, &rec);
  } else {
    /* Waiting for room counts nothing; only the last try, once the time is
     * up, counts the record as dropped, as vmp_ring_reserve would. Room is
     * looked for again with the GIL held right before each reservation, so
     * no other thread of this process can take it in between. A producer
     * in another process can: then the reservation itself waits one slice
     * more, and counts a drop only when that runs out too. */
    wait_clock clk;
    clock_start(&clk, timeout);
    for (;;) {
      err = vmp_ring_wait_room(r, len, 0);
      if (err == 0) {
        err = vmp_ring_reserve(r, len, 0, &rec);
        if (err != VMP_EFULL) break;
        int64_t slice = clock_slice(&clk);
        if (slice == 0) break; /* that was the last try */
        self->waiters++;
        Py_BEGIN_ALLOW_THREADS err = vmp_ring_reserve(r, len, slice, &rec);
        Py_END_ALLOW_THREADS
            /* Given back while the ring is still there: the wait may close it. */
            if (!err && self->close_pending) vmp_ring_discard(r, &rec);
        if (ring_leave_wait(self, r) < 0) return NULL;
        if (err != VMP_ETIMEDOUT || clock_expired(&clk)) break; /* counted once */
      } else if (err != VMP_ETIMEDOUT) {
        break;
      } else if (clock_expired(&clk)) {
        err = vmp_ring_reserve(r, len, 0, &rec);
        break;
      } else {
        int64_t slice = clock_slice(&clk);
        self->waiters++;
        Py_BEGIN_ALLOW_THREADS err = vmp_ring_wait_room(r, len, slice);
        Py_END_ALLOW_THREADS if (ring_leave_wait(self, r) < 0) return NULL;
        if (err && err != VMP_ETIMEDOUT) break;
      }
      if (PyErr_CheckSignals() < 0) return NULL;
    }
    if (err == VMP_EFULL) err = VMP_ETIMEDOUT; /* a wait that ran out, as the library says */
  }
  if (err) return raise_err(err, "vmp_ring_reserve");
  Record *out = record_new(self, &rec, 1);
  if (!out) {
    vmp_ring_discard(r, &rec);
    return NULL;
  }
  if (!self->multi) {
    if (self->pending_reserve) self->pending_reserve->state = RECORD_REPLACED;
    self->pending_reserve = out;
  }
  return (PyObject *)out;
}

static PyObject *Ring_next(Ring *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"timeout", NULL};
  PyObject *timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:next", kwlist, &timeout_obj)) return NULL;
  int64_t timeout;
  if (!parse_timeout(timeout_obj, &timeout)) return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  if (self->pending_next) { /* the library gives the same record again */
    Py_INCREF(self->pending_next);
    return (PyObject *)self->pending_next;
  }
  vmp_ring_record rec;
  int err = vmp_ring_next(r, 0, &rec); /* a record there already needs no GIL release */
  if (err == VMP_ETIMEDOUT && timeout != 0) {
    wait_clock clk;
    clock_start(&clk, timeout);
    while (err == VMP_ETIMEDOUT && !clock_expired(&clk)) {
      int64_t slice = clock_slice(&clk);
      self->waiters++;
      self->in_next++;
      Py_BEGIN_ALLOW_THREADS err = vmp_ring_next(r, slice, &rec);
      Py_END_ALLOW_THREADS self->in_next--;
      if (ring_leave_wait(self, r) < 0) return NULL;
      if (err == VMP_ETIMEDOUT && PyErr_CheckSignals() < 0) return NULL;
    }
  }
  if (err) return raise_err(err, "vmp_ring_next");
  Record *out = record_new(self, &rec, 0);
  if (out) self->pending_next = out;
  return (PyObject *)out;
}

/* The record argument of Ring.submit/discard/consume: one of this ring. */
static Record *ring_own_record(Ring *self, PyObject *arg) {
  if (!PyObject_TypeCheck(arg, &RecordType)) {
    PyErr_Format(PyExc_TypeError, "a vmplace.Record is required, not %.100s",
                 Py_TYPE(arg)->tp_name);
    return NULL;
  }
  Record *rec = (Record *)arg;
  if (rec->ring != self) {
    PyErr_SetString(PyExc_ValueError, "the record belongs to another ring");
    return NULL;
  }
  return rec;
}

static PyObject *Ring_submit(Ring *self, PyObject *arg) {
  Record *rec = ring_own_record(self, arg);
  return rec ? record_finish(rec, RECORD_SUBMIT) : NULL;
}

static PyObject *Ring_discard(Ring *self, PyObject *arg) {
  Record *rec = ring_own_record(self, arg);
  return rec ? record_finish(rec, RECORD_DISCARD) : NULL;
}

static PyObject *Ring_consume(Ring *self, PyObject *arg) {
  Record *rec = ring_own_record(self, arg);
  return rec ? record_finish(rec, RECORD_CONSUME) : NULL;
}

static PyObject *Ring_set_abandon_timeout(Ring *self, PyObject *arg) {
  int64_t timeout;
  if (!parse_timeout(arg, &timeout)) return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  if (self->in_next) {
    PyErr_SetString(PyExc_RuntimeError,
                    "cannot change the abandonment timeout while next() waits in another thread");
    return NULL;
  }
  int err = vmp_ring_set_abandon_timeout(r, timeout);
  if (err) return raise_err(err, "vmp_ring_set_abandon_timeout");
  Py_RETURN_NONE;
}

static PyTypeObject RingStatsType;

static PyStructSequence_Field ring_stats_fields[] = {
    {"bytes_written",
     "bytes through the ring, record headers included (modulo a multiple of "
     "the capacity near 2**64)"},
    {"bytes_read", "bytes the consumer released, likewise"},
    {"records_written", "records submitted"},
    {"records_read", "records consumed"},
    {"dropped", "reservations that failed for want of room"},
    {"discarded", "records reserved, then discarded"},
    {"abandoned", "records the consumer skipped after the abandonment timeout"},
    {NULL, NULL}};

static PyStructSequence_Desc ring_stats_desc = {
    "vmplace.RingStats",
    "The counts a ring keeps in its shared control page, as Ring.stats() reports them. Either "
    "side may read them; a peer can make them wrong, never harmful.",
    ring_stats_fields, 7};

static PyObject *Ring_stats(Ring *self, PyObject *noargs) {
  (void)noargs;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  vmp_ring_stats st;
  int err = vmp_ring_get_stats(r, &st);
  if (err) return raise_err(err, "vmp_ring_get_stats");
  PyObject *items[7] = {
      PyLong_FromUnsignedLongLong(st.bytes_written),   PyLong_FromUnsignedLongLong(st.bytes_read),
      PyLong_FromUnsignedLongLong(st.records_written), PyLong_FromUnsignedLongLong(st.records_read),
      PyLong_FromUnsignedLongLong(st.dropped),         PyLong_FromUnsignedLongLong(st.discarded),
      PyLong_FromUnsignedLongLong(st.abandoned)};
  return struct_sequence(&RingStatsType, items, 7);
}

/* ---- descriptor I/O ------------------------------------------------------ */

/* Whether a read or write on fd may block. Unknown (not a descriptor):
 * no, so the library's own call reports the error. */
static int fd_blocks(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && !(fl & O_NONBLOCK);
}

static PyObject *ring_fd_io(Ring *self, PyObject *args, PyObject *kw, int filling) {
  static char *kwlist[] = {"fd", "max", NULL};
  int fd;
  PyObject *max_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, filling ? "O&|O:fill" : "O&|O:drain", kwlist, conv_fd,
                                   &fd, &max_obj))
    return NULL;
  size_t max = VMP_RING_ALL;
  if (max_obj != Py_None && !conv_size(max_obj, &max)) return NULL;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  /* Nothing to move: answered before waiting on the descriptor; a call
   * the library refuses (EINVAL first) is left to it. */
  int err = max == 0 || self->multi ? VMP_EINVAL
            : filling               ? vmp_ring_wait_write(r, 1, 0)
                                    : vmp_ring_wait_read(r, 1, 0);
  if (err == VMP_ETIMEDOUT) {
    if (filling) return raise_err(VMP_EFULL, "vmp_ring_fill");
    return PyLong_FromLong(0);
  }
  /* The library retries a read or write a signal interrupts, so a blocking
   * descriptor is first waited on here, in slices, where Ctrl-C is seen. */
  if (!err && fd_blocks(fd)) {
    for (;;) {
      struct pollfd p = {.fd = fd, .events = filling ? POLLIN : POLLOUT, .revents = 0};
      int rc, saved;
      self->waiters++;
      Py_BEGIN_ALLOW_THREADS rc = poll(&p, 1, (int)(WAIT_SLICE_NS / 1000000));
      saved = errno;
      Py_END_ALLOW_THREADS if (ring_leave_wait(self, r) < 0) return NULL;
      if (rc > 0) break; /* ready, or an error or hang-up the call reports */
      if (rc < 0 && saved != EINTR) {
        errno = saved;
        return PyErr_SetFromErrno(PyExc_OSError);
      }
      if (PyErr_CheckSignals() < 0) return NULL;
    }
  }
  ptrdiff_t n;
  self->waiters++;
  Py_BEGIN_ALLOW_THREADS n = filling ? vmp_ring_fill(r, fd, max) : vmp_ring_drain(r, fd, max);
  Py_END_ALLOW_THREADS if (ring_leave_wait(self, r) < 0) return NULL;
  if (n < 0) return raise_err((int)n, filling ? "vmp_ring_fill" : "vmp_ring_drain");
  return PyLong_FromSsize_t((Py_ssize_t)n);
}

static PyObject *Ring_fill(Ring *self, PyObject *args, PyObject *kw) {
  return ring_fd_io(self, args, kw, 1);
}

static PyObject *Ring_drain(Ring *self, PyObject *args, PyObject *kw) {
  return ring_fd_io(self, args, kw, 0);
}

static PyObject *Ring_get_record_max(Ring *self, void *c) {
  (void)c;
  vmp_ring *r = ring_handle(self);
  return r ? PyLong_FromSize_t(vmp_ring_record_max(r)) : NULL;
}

static PyObject *Ring_get_multi_producer(Ring *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->multi);
}

static PyObject *Ring_shutdown(Ring *self, PyObject *noargs) {
  (void)noargs;
  vmp_ring *r = ring_handle(self);
  if (!r) return NULL;
  vmp_ring_shutdown(r);
  Py_RETURN_NONE;
}

static PyObject *Ring_close(Ring *self, PyObject *noargs) {
  (void)noargs;
  if (!self->ring || self->close_pending) Py_RETURN_NONE;
  Py_ssize_t n = list_all_exports(&self->windows) + self->record_exports;
  if (n) {
    PyErr_Format(PyExc_BufferError, "cannot close the ring: %zd exported buffer(s)", n);
    return NULL;
  }
  if (self->waiters) {
    /* Another thread is inside a wait on this ring with the GIL released;
     * it comes back within one slice and closes the ring then. */
    self->close_pending = 1;
    Py_RETURN_NONE;
  }
  vmp_ring *r = self->ring;
  self->ring = NULL;
  int err = vmp_ring_close(r);
  if (err) return raise_err(err, "vmp_ring_close");
  Py_RETURN_NONE;
}

static PyObject *Ring_exit(Ring *self, PyObject *args) {
  (void)args;
  return Ring_close(self, NULL);
}

static PyObject *Ring_get_capacity(Ring *self, void *c) {
  (void)c;
  vmp_ring *r = ring_handle(self);
  return r ? PyLong_FromSize_t(vmp_ring_capacity(r)) : NULL;
}

static PyObject *Ring_get_closed(Ring *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->ring == NULL || self->close_pending);
}

static PyObject *Ring_get_exports(Ring *self, void *c) {
  (void)c;
  return PyLong_FromSsize_t(list_all_exports(&self->windows) + self->record_exports);
}

static PyObject *Ring_repr(Ring *self) {
  if (!self->ring || self->close_pending) return PyUnicode_FromString("<vmplace.Ring closed>");
  return PyUnicode_FromFormat("<vmplace.Ring capacity=%zu>", vmp_ring_capacity(self->ring));
}

static PyMethodDef Ring_methods[] = {
    {"attach", (PyCFunction)(void (*)(void))Ring_attach, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "attach(fd, flags=0) -> Ring\n\nMap the ring another process created, from its descriptor "
     "(which stays the caller's). Everything read from the shared control page is checked: a bad "
     "peer gives vmplace.Error (EPEER)."},
    {"fileno", (PyCFunction)Ring_fileno, METH_NOARGS,
     "fileno() -> int\n\nThe descriptor to give a peer (socket.send_fds, inheritance); still owned "
     "by the ring."},
    {"write", (PyCFunction)Ring_write, METH_O,
     "write(data) -> int\n\nCopy as much of data as fits now; return the count (0 when full). "
     "Never blocks."},
    {"read", (PyCFunction)Ring_read, METH_VARARGS,
     "read(n=-1) -> bytes\n\nTake up to n bytes (all that are there when n < 0) without blocking; "
     "b'' when empty. vmplace.Error (ESHUTDOWN) once shut down and drained."},
    {"readinto", (PyCFunction)Ring_readinto, METH_O,
     "readinto(buffer) -> int\n\nCopy up to len(buffer) bytes into buffer without blocking; return "
     "the count."},
    {"write_window", (PyCFunction)Ring_write_window, METH_VARARGS,
     "write_window(want=1) -> Window\n\nThe free space as one contiguous writable buffer (maybe "
     "shorter than want, even empty). Fill it, then commit(n)."},
    {"commit", (PyCFunction)Ring_commit, METH_O,
     "commit(n)\n\nPublish n bytes written into the last write_window()."},
    {"read_window", (PyCFunction)Ring_read_window, METH_VARARGS,
     "read_window(want=1) -> Window\n\nThe waiting data as one contiguous read-only buffer (maybe "
     "shorter than want, even empty). Use it, then release(n)."},
    {"release", (PyCFunction)Ring_release, METH_O,
     "release(n)\n\nGive back the first n bytes of the last read_window()."},
    {"wait_write", (PyCFunction)(void (*)(void))Ring_wait_write, METH_VARARGS | METH_KEYWORDS,
     "wait_write(want=1, timeout=None) -> bool\n\nBlock, with the GIL released, until want bytes "
     "can be written: True, or False when timeout seconds passed (None: no limit). Ctrl-C "
     "interrupts it. vmplace.Error (ESHUTDOWN) once the ring is shut down."},
    {"wait_read", (PyCFunction)(void (*)(void))Ring_wait_read, METH_VARARGS | METH_KEYWORDS,
     "wait_read(want=1, timeout=None) -> bool\n\nBlock, with the GIL released, until want bytes "
     "can be read (or the ring is shut down with some left): True, or False on timeout. "
     "vmplace.Error (ESHUTDOWN) once shut down and empty."},
    {"reserve", (PyCFunction)(void (*)(void))Ring_reserve, METH_VARARGS | METH_KEYWORDS,
     "reserve(size, timeout=None) -> Record\n\nReserve a record of size bytes (0 to "
     "record_max), one contiguous writable buffer in the ring. Waits for room with the GIL "
     "released (Ctrl-C interrupts it): timeout in seconds, None for no limit, 0 to fail at once "
     "with vmplace.Error (EFULL); a wait that runs out gives vmplace.Error (ETIMEDOUT), and both "
     "count the record as dropped (so does a producer in another process taking the room first "
     "when none comes back for one more 50 ms slice). On a single-producer ring a reservation "
     "replaces the one "
     "before (BufferError while that one is exported). Submit it, discard it, or use it as a "
     "context manager."},
    {"next", (PyCFunction)(void (*)(void))Ring_next, METH_VARARGS | METH_KEYWORDS,
     "next(timeout=None) -> Record\n\nThe next record, whole, as a read-only buffer, until it "
     "is consumed (called again before that: the same record). Waits with the GIL released "
     "(Ctrl-C interrupts it); vmplace.Error ETIMEDOUT when none came in timeout seconds (0: "
     "only looks), ESHUTDOWN once the ring is shut down and no record is left, EPEER when what "
     "a producer wrote cannot be valid."},
    {"submit", (PyCFunction)Ring_submit, METH_O, "submit(record)\n\nThe same as record.submit()."},
    {"discard", (PyCFunction)Ring_discard, METH_O,
     "discard(record)\n\nThe same as record.discard()."},
    {"consume", (PyCFunction)Ring_consume, METH_O,
     "consume(record)\n\nThe same as record.consume(): release a record next() gave."},
    {"set_abandon_timeout", (PyCFunction)Ring_set_abandon_timeout, METH_O,
     "set_abandon_timeout(timeout)\n\nHow long, in seconds, this consumer waits for a "
     "reserved record of a multi-producer ring before it skips it as abandoned (default 1; "
     "None: never). Must be longer than any live producer takes between reserve and submit. "
     "vmplace.Error (EINVAL) on a single-producer ring."},
    {"stats", (PyCFunction)Ring_stats, METH_NOARGS,
     "stats() -> RingStats\n\nThe counts kept in the shared control page (bytes and records "
     "written and read, dropped, discarded, abandoned), from either side."},
    {"fill", (PyCFunction)(void (*)(void))Ring_fill, METH_VARARGS | METH_KEYWORDS,
     "fill(fd, max=None) -> int\n\nOne read from fd (an int or an object with fileno()) "
     "straight into the free space, of at most max bytes (None: as many as fit); return the "
     "count, 0 at end of file. A blocking descriptor is waited on with the GIL released (Ctrl-C "
     "interrupts it); a non-blocking one with nothing raises BlockingIOError. vmplace.Error "
     "(EFULL) when the ring has no room (wait_write first); EINVAL on a multi-producer ring."},
    {"drain", (PyCFunction)(void (*)(void))Ring_drain, METH_VARARGS | METH_KEYWORDS,
     "drain(fd, max=None) -> int\n\nOne write to fd (an int or an object with fileno()) "
     "straight from the waiting data, of at most max bytes; return the count, 0 when the ring "
     "is empty (wait_read first). Waits on a blocking descriptor as fill() does. A reader that "
     "is gone raises BrokenPipeError, never SIGPIPE."},
    {"shutdown", (PyCFunction)Ring_shutdown, METH_NOARGS,
     "shutdown()\n\nMark the ring shut down for both sides in every process and wake every "
     "waiter; the reader drains what is left."},
    {"close", (PyCFunction)Ring_close, METH_NOARGS,
     "close()\n\nUnmap the ring in this process. BufferError while a window is exported. "
     "Idempotent. A wait in another thread then ends with ValueError."},
    {"__enter__", enter_self, METH_NOARGS, "Return self."},
    {"__exit__", (PyCFunction)Ring_exit, METH_VARARGS, "Close the ring."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Ring_getset[] = {
    {"capacity", (getter)Ring_get_capacity, NULL, "The capacity in bytes.", NULL},
    {"closed", (getter)Ring_get_closed, NULL, "True once close() was called.", NULL},
    {"exports", (getter)Ring_get_exports, NULL, "Buffers of its windows and records exported now.",
     NULL},
    {"record_max", (getter)Ring_get_record_max, NULL,
     "The largest payload of one record: the capacity less the record header.", NULL},
    {"multi_producer", (getter)Ring_get_multi_producer, NULL,
     "True when many producers may reserve records at once (learnt from the ring on attach).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject RingType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vmplace.Ring",
    .tp_basicsize = sizeof(Ring),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc =
        "Ring(size, flags=0, *, multi_producer=False)\n\nA mirrored ring: a byte queue "
        "for one producer and one consumer (threads or processes) whose free space and "
        "data are always contiguous, or a queue of records (reserve, next), from many "
        "producers with multi_producer=True.",
    .tp_new = Ring_new,
    .tp_dealloc = (destructor)Ring_dealloc,
    .tp_repr = (reprfunc)Ring_repr,
    .tp_methods = Ring_methods,
    .tp_getset = Ring_getset,
};

/* ---- windows, continued: export ---------------------------------------- */

/* Finds where the window's bytes are now, and whether they may be written:
 * every page must be mapped and readable, or the buffer would crash the
 * process on first touch. */
static int region_window_resolve(Window *w, char **ptr, int *readonly) {
  Region *owner = (Region *)w->owner;
  if (!owner->region) {
    raise_closed("region");
    return -1;
  }
  vmp_region *r = owner->region;
  char *base = vmp_base(r);
  if (w->checked_generation == owner->generation) {
    *ptr = base + w->offset;
    *readonly = w->checked_readonly;
    return 0;
  }
  size_t page = vmp_page_size();
  int ro = 0;
  size_t pos = w->offset - w->offset % page;
  while (pos < w->offset + w->len) {
    vmp_span_info info;
    int err = vmp_query(r, base + pos, &info);
    if (err) {
      raise_err(err, "vmp_query");
      return -1;
    }
    if (info.kind == VMP_PLACEHOLDER) {
      raise_code(VMP_ESTATE, "Region.buffer (a placeholder in the range)", NULL, -1);
      return -1;
    }
    if (!(info.prot & VMP_PROT_READ)) {
      raise_code(VMP_ESTATE, "Region.buffer (a page without read access in the range)", NULL, -1);
      return -1;
    }
    if (!(info.prot & VMP_PROT_WRITE)) ro = 1;
    pos += page;
  }
  *ptr = base + w->offset;
  *readonly = ro;
  w->checked_generation = owner->generation;
  w->checked_readonly = ro;
  return 0;
}

static int window_getbuffer(Window *w, Py_buffer *view, int flags) {
  char *ptr;
  int readonly;
  if (w->kind == WINDOW_REGION) {
    if (region_window_resolve(w, &ptr, &readonly) < 0) return -1;
  } else {
    Ring *owner = (Ring *)w->owner;
    if (!owner->ring || owner->close_pending) {
      raise_closed("ring");
      return -1;
    }
    ptr = w->ptr;
    readonly = w->kind == WINDOW_RING_READ;
  }
  if (PyBuffer_FillInfo(view, (PyObject *)w, ptr, (Py_ssize_t)w->len, readonly, flags) < 0)
    return -1;
  w->exports++;
  if (!readonly) w->writable_exports++;
  return 0;
}

static void window_releasebuffer(Window *w, Py_buffer *view) {
  w->exports--;
  if (!view->readonly) w->writable_exports--;
}

static Py_ssize_t window_length(Window *w) { return (Py_ssize_t)w->len; }

static PyObject *Window_repr(Window *w) {
  const char *kind = w->kind == WINDOW_REGION      ? "region"
                     : w->kind == WINDOW_RING_READ ? "ring read"
                                                   : "ring write";
  char range[80];
  snprintf(range, sizeof range, "offset=0x%zx size=0x%zx", w->offset, w->len);
  return PyUnicode_FromFormat("<vmplace.Window %s %s exports=%zd>", kind, range, w->exports);
}

static PyObject *Window_get_offset(Window *w, void *c) {
  (void)c;
  return PyLong_FromSize_t(w->offset);
}

static PyObject *Window_get_exports(Window *w, void *c) {
  (void)c;
  return PyLong_FromSsize_t(w->exports);
}

static PyObject *Window_get_owner(Window *w, void *c) {
  (void)c;
  Py_INCREF(w->owner);
  return w->owner;
}

static PyGetSetDef Window_getset[] = {
    {"offset", (getter)Window_get_offset, NULL,
     "Where the window starts: bytes from the region's base, or from the ring's data start.", NULL},
    {"exports", (getter)Window_get_exports, NULL, "Buffers exported now.", NULL},
    {"owner", (getter)Window_get_owner, NULL, "The Region or Ring the window looks into.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyBufferProcs Window_as_buffer = {(getbufferproc)window_getbuffer,
                                         (releasebufferproc)window_releasebuffer};

static PySequenceMethods Window_as_sequence = {.sq_length = (lenfunc)window_length};

static PyTypeObject WindowType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vmplace.Window",
    .tp_basicsize = sizeof(Window),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "A range of mapped memory with the buffer protocol: memoryview(w) and "
        "numpy.frombuffer(w) are zero-copy, and read-only where the memory is. Made by "
        "Region.buffer(), Ring.read_window() and Ring.write_window(); its owner refuses to "
        "unmap it while a buffer is exported (BufferError).",
    .tp_dealloc = (destructor)window_dealloc,
    .tp_repr = (reprfunc)Window_repr,
    .tp_as_buffer = &Window_as_buffer,
    .tp_as_sequence = &Window_as_sequence,
    .tp_getset = Window_getset,
};

/* ---- multi-file views --------------------------------------------------- */

typedef struct {
  PyObject_HEAD vmp_mview *view;
  int writable;
  int close_files;
  Py_ssize_t exports;
} MView;

static PyTypeObject MViewType;
static PyTypeObject SegmentInfoType;

static PyStructSequence_Field segment_info_fields[] = {
    {"fd", "the segment's file descriptor, still the view's (valid until close)"},
    {"file_offset", "where the segment starts in its file"},
    {"length", "its bytes"},
    {"view_offset", "where it starts in the view"},
    {NULL, NULL}};

static PyStructSequence_Desc segment_info_desc = {
    "vmplace.SegmentInfo", "One segment of a multi-file view, as MView.describe() reports it.",
    segment_info_fields, 4};

/* A segment as Python gives it: a path (str, bytes, os.PathLike), a
 * descriptor (int), or a tuple (path_or_fd, offset=0, length=0). `keep`
 * receives the encoded path, which must live until the call is made. */
static int parse_segment(PyObject *obj, vmp_segment *seg, PyObject **keep) {
  memset(seg, 0, sizeof *seg);
  *keep = NULL;
  PyObject *src = obj;
  if (PyTuple_Check(obj)) {
    if (!PyArg_ParseTuple(obj, "O|O&O&:segment", &src, conv_u64, &seg->offset, conv_u64,
                          &seg->length))
      return -1;
  }
  if (PyLong_Check(src)) {
    int fd = PyObject_AsFileDescriptor(src);
    if (fd < 0) return -1;
    seg->fd = fd;
    return 0;
  }
  PyObject *bytes;
  if (!PyUnicode_FSConverter(src, &bytes)) return -1;
  *keep = bytes;
  seg->path = PyBytes_AS_STRING(bytes);
  return 0;
}

static PyObject *segment_name(const vmp_segment *seg) {
  if (seg->path) return PyUnicode_DecodeFSDefault(seg->path);
  return PyLong_FromSsize_t((Py_ssize_t)seg->fd);
}

static PyObject *raise_segment_error(int err, const char *what, const vmp_segment *segs,
                                     size_t count, size_t bad) {
  PyObject *name = bad < count ? segment_name(&segs[bad]) : NULL;
  if (bad < count && !name) return NULL;
  raise_code(err, what, name, bad < count ? (Py_ssize_t)bad : -1);
  Py_XDECREF(name);
  return NULL;
}

static PyObject *MView_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"segments", "capacity", "writable", "close_files", NULL};
  PyObject *seq_obj;
  uint64_t capacity = 0;
  int writable = 0, close_files = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O&p$p:MView", kwlist, &seq_obj, conv_u64, &capacity,
                                   &writable, &close_files))
    return NULL;
  unsigned flags = (writable ? VMP_MVIEW_WRITE : 0u) | (close_files ? VMP_MVIEW_CLOSE_FILES : 0u);
  if (PyUnicode_Check(seq_obj) || PyBytes_Check(seq_obj)) {
    PyErr_SetString(PyExc_TypeError, "segments must be a sequence of paths, descriptors or tuples");
    return NULL;
  }
  PyObject *seq = PySequence_Fast(seq_obj, "segments must be a sequence");
  if (!seq) return NULL;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
  vmp_segment *segs = PyMem_Calloc(count ? (size_t)count : 1, sizeof *segs);
  PyObject **keep = PyMem_Calloc(count ? (size_t)count : 1, sizeof *keep);
  PyObject *result = NULL;
  if (!segs || !keep) {
    PyErr_NoMemory();
    goto done;
  }
  for (Py_ssize_t i = 0; i < count; i++)
    if (parse_segment(PySequence_Fast_GET_ITEM(seq, i), &segs[i], &keep[i]) < 0) goto done;
  vmp_mview *view;
  size_t bad = (size_t)-1;
  int err;
  Py_BEGIN_ALLOW_THREADS /* opening and mapping many files */
      err = vmp_mview_open(segs, (size_t)count, capacity, flags, &view, &bad);
  Py_END_ALLOW_THREADS if (err) {
    raise_segment_error(err, "vmp_mview_open", segs, (size_t)count, bad);
    goto done;
  }
  MView *self = (MView *)type->tp_alloc(type, 0);
  if (!self) {
    vmp_mview_close(view);
    goto done;
  }
  self->view = view;
  self->writable = writable;
  self->close_files = close_files;
  self->exports = 0;
  result = (PyObject *)self;
done:
  if (keep)
    for (Py_ssize_t i = 0; i < count; i++) Py_XDECREF(keep[i]);
  PyMem_Free(keep);
  PyMem_Free(segs);
  Py_DECREF(seq);
  return result;
}

static vmp_mview *mview_handle(MView *self) {
  if (!self->view) raise_closed("multi-file view");
  return self->view;
}

static void MView_dealloc(MView *self) {
  if (self->view) vmp_mview_close(self->view);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *MView_append(MView *self, PyObject *arg) {
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  vmp_segment seg;
  PyObject *keep;
  if (parse_segment(arg, &seg, &keep) < 0) return NULL;
  int err;
  /* Appending maps into room no export covers: exported buffers stay. */
  err = vmp_mview_append(v, &seg);
  if (err) raise_segment_error(err, "vmp_mview_append", &seg, 1, 0);
  Py_XDECREF(keep);
  if (err) return NULL;
  Py_RETURN_NONE;
}

static PyObject *MView_locate(MView *self, PyObject *arg) {
  uint64_t off;
  if (!conv_u64(arg, &off)) return NULL;
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  size_t seg;
  uint64_t file_off;
  int err = vmp_mview_locate(v, off, &seg, &file_off);
  if (err) return raise_err(err, "vmp_mview_locate");
  return Py_BuildValue("(nK)", (Py_ssize_t)seg, (unsigned long long)file_off);
}

static PyObject *MView_describe(MView *self, PyObject *arg) {
  size_t index;
  if (!conv_size(arg, &index)) return NULL;
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  vmp_mview_segment_info info;
  int err = vmp_mview_describe(v, index, &info);
  if (err) return raise_err(err, "vmp_mview_describe");
  PyObject *items[4] = {
      PyLong_FromSsize_t((Py_ssize_t)info.fd), PyLong_FromUnsignedLongLong(info.file_offset),
      PyLong_FromUnsignedLongLong(info.length), PyLong_FromUnsignedLongLong(info.view_offset)};
  return struct_sequence(&SegmentInfoType, items, 4);
}

static PyObject *MView_check(MView *self, PyObject *noargs) {
  (void)noargs;
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  size_t seg = (size_t)-1;
  int err = vmp_mview_check(v, &seg);
  if (err == VMP_EBOUNDS) return PyLong_FromSize_t(seg);
  if (err) return raise_err(err, "vmp_mview_check");
  Py_RETURN_NONE;
}

static PyObject *MView_refresh(MView *self, PyObject *noargs) {
  (void)noargs;
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  /* Growing maps pages after the end: a buffer exported before covers
   * fewer bytes than the view then has, all of them still mapped. */
  uint64_t length = 0;
  int err = vmp_mview_refresh(v, &length);
  if (err) return raise_err(err, "vmp_mview_refresh");
  return PyLong_FromUnsignedLongLong(length);
}

static PyObject *MView_retire(MView *self, PyObject *arg) {
  size_t count;
  if (!conv_size(arg, &count)) return NULL;
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  /* An export covers the view from its first byte, so retiring any segment
   * not yet retired would turn bytes it reaches into placeholder. A count
   * past the segments gets the library's ERANGE, one already retired the
   * library's no-op. */
  if (self->exports && count > vmp_mview_retired(v) && count <= vmp_mview_segments(v)) {
    PyErr_Format(PyExc_BufferError, "cannot retire segments: %zd exported buffer(s) reach them",
                 self->exports);
    return NULL;
  }
  int err = vmp_mview_retire(v, count);
  if (err) return raise_err(err, "vmp_mview_retire");
  Py_RETURN_NONE;
}

static PyObject *MView_set_padding(MView *self, PyObject *arg) {
  size_t bytes;
  if (!conv_size(arg, &bytes)) return NULL;
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  /* The padding lies past the end, where no export reaches. */
  int err = vmp_mview_set_padding(v, bytes);
  if (err) return raise_err(err, "vmp_mview_set_padding");
  Py_RETURN_NONE;
}

static PyObject *MView_read(MView *self, PyObject *args) {
  uint64_t off;
  size_t n;
  if (!PyArg_ParseTuple(args, "O&O&:read", conv_u64, &off, conv_size, &n)) return NULL;
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  uint64_t len = vmp_mview_length(v);
  /* The library's range check first, before a buffer of n bytes is made. */
  if (off > len || n > len - off) return raise_err(VMP_ERANGE, "vmp_mview_read");
  if (n > (size_t)PY_SSIZE_T_MAX) {
    PyErr_SetString(PyExc_OverflowError, "too many bytes for one bytes object");
    return NULL;
  }
  PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
  if (!out) return NULL;
  int err = vmp_mview_read(v, off, PyBytes_AS_STRING(out), n);
  if (err) {
    Py_DECREF(out);
    return raise_err(err, "vmp_mview_read");
  }
  return out;
}

static PyObject *MView_readinto(MView *self, PyObject *args) {
  uint64_t off;
  Py_buffer dst;
  if (!PyArg_ParseTuple(args, "O&w*:readinto", conv_u64, &off, &dst)) return NULL;
  vmp_mview *v = mview_handle(self);
  if (!v) {
    PyBuffer_Release(&dst);
    return NULL;
  }
  /* The library copies with memcpy or the kernel's copy, neither of which
   * may overlap its source: a buffer of this view (or inside its room) is
   * refused. */
  uintptr_t lo = (uintptr_t)vmp_mview_base(v), hi = lo + (uintptr_t)vmp_mview_capacity(v);
  uintptr_t at = (uintptr_t)dst.buf;
  if (dst.len && at < hi && lo < at + (uintptr_t)dst.len) {
    PyBuffer_Release(&dst);
    PyErr_SetString(PyExc_ValueError, "readinto: the buffer overlaps the view itself");
    return NULL;
  }
  int err = vmp_mview_read(v, off, dst.buf, (size_t)dst.len);
  Py_ssize_t n = dst.len;
  PyBuffer_Release(&dst);
  if (err) return raise_err(err, "vmp_mview_read");
  return PyLong_FromSsize_t(n);
}

static PyObject *MView_scan(MView *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"byte", "offset", "size", NULL};
  unsigned char byte;
  uint64_t off = 0;
  PyObject *size_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "b|O&O:scan", kwlist, &byte, conv_u64, &off,
                                   &size_obj))
    return NULL;
  vmp_mview *v = mview_handle(self);
  if (!v) return NULL;
  uint64_t n;
  if (size_obj == Py_None) {
    uint64_t len = vmp_mview_length(v);
    n = off <= len ? len - off : 0;
  } else if (!conv_u64(size_obj, &n)) {
    return NULL;
  }
  uint64_t found = 0;
  int err = vmp_mview_scan(v, off, n, byte, &found);
  if (err) return raise_err(err, "vmp_mview_scan");
  if (found == off + n) Py_RETURN_NONE;
  return PyLong_FromUnsignedLongLong(found);
}

static PyObject *MView_close(MView *self, PyObject *noargs) {
  (void)noargs;
  if (!self->view) Py_RETURN_NONE;
  if (self->exports) {
    PyErr_Format(PyExc_BufferError, "cannot close the view: %zd exported buffer(s)", self->exports);
    return NULL;
  }
  vmp_mview *v = self->view;
  self->view = NULL;
  int err = vmp_mview_close(v);
  if (err) return raise_err(err, "vmp_mview_close");
  Py_RETURN_NONE;
}

static PyObject *MView_exit(MView *self, PyObject *args) {
  (void)args;
  return MView_close(self, NULL);
}

static int MView_getbuffer(MView *self, Py_buffer *view, int flags) {
  vmp_mview *v = mview_handle(self);
  if (!v) return -1;
  uint64_t len = vmp_mview_length(v);
  if (len > (uint64_t)PY_SSIZE_T_MAX) {
    PyErr_SetString(PyExc_OverflowError, "the view is too large for a buffer");
    return -1;
  }
  if (PyBuffer_FillInfo(view, (PyObject *)self, vmp_mview_base(v), (Py_ssize_t)len, !self->writable,
                        flags) < 0)
    return -1;
  self->exports++;
  return 0;
}

static void MView_releasebuffer(MView *self, Py_buffer *view) {
  (void)view;
  self->exports--;
}

static Py_ssize_t MView_length(MView *self) {
  vmp_mview *v = mview_handle(self);
  if (!v) return -1;
  return (Py_ssize_t)vmp_mview_length(v);
}

static PyObject *MView_get_length(MView *self, void *c) {
  (void)c;
  vmp_mview *v = mview_handle(self);
  return v ? PyLong_FromUnsignedLongLong(vmp_mview_length(v)) : NULL;
}

static PyObject *MView_get_capacity(MView *self, void *c) {
  (void)c;
  vmp_mview *v = mview_handle(self);
  return v ? PyLong_FromUnsignedLongLong(vmp_mview_capacity(v)) : NULL;
}

static PyObject *MView_get_segment_count(MView *self, void *c) {
  (void)c;
  vmp_mview *v = mview_handle(self);
  return v ? PyLong_FromSize_t(vmp_mview_segments(v)) : NULL;
}

static PyObject *MView_get_base(MView *self, void *c) {
  (void)c;
  vmp_mview *v = mview_handle(self);
  return v ? PyLong_FromVoidPtr(vmp_mview_base(v)) : NULL;
}

static PyObject *MView_get_closed(MView *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->view == NULL);
}

static PyObject *MView_get_writable(MView *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->writable);
}

static PyObject *MView_get_close_files(MView *self, void *c) {
  (void)c;
  return PyBool_FromLong(self->close_files);
}

static PyObject *MView_get_retired(MView *self, void *c) {
  (void)c;
  vmp_mview *v = mview_handle(self);
  return v ? PyLong_FromSize_t(vmp_mview_retired(v)) : NULL;
}

static PyObject *MView_get_exports(MView *self, void *c) {
  (void)c;
  return PyLong_FromSsize_t(self->exports);
}

static PyObject *MView_repr(MView *self) {
  if (!self->view) return PyUnicode_FromString("<vmplace.MView closed>");
  return PyUnicode_FromFormat(
      "<vmplace.MView segments=%zu length=%llu capacity=%llu %s>", vmp_mview_segments(self->view),
      (unsigned long long)vmp_mview_length(self->view),
      (unsigned long long)vmp_mview_capacity(self->view), self->writable ? "rw" : "r");
}

static PyMethodDef MView_methods[] = {
    {"append", (PyCFunction)MView_append, METH_O,
     "append(segment)\n\nMap one more segment right after the last, without moving the base "
     "(vmplace.Error ERANGE when it does not fit the capacity). Exported buffers stay valid and "
     "keep the length they had."},
    {"locate", (PyCFunction)MView_locate, METH_O,
     "locate(offset) -> (segment, file_offset)\n\nWhich segment byte offset comes from, and where "
     "in its file."},
    {"describe", (PyCFunction)MView_describe, METH_O,
     "describe(segment) -> SegmentInfo\n\nThe descriptor and ranges of one segment (for sendfile "
     "and the like)."},
    {"check", (PyCFunction)MView_check, METH_NOARGS,
     "check() -> int | None\n\nThe index of the first segment whose file shrank since it was "
     "mapped (touching past its end would crash), or None."},
    {"refresh", (PyCFunction)MView_refresh, METH_NOARGS,
     "refresh() -> int\n\nFollow the last segment's file as it grows, when it was given to the "
     "end of the file (length 0): the pages it gained are mapped after the end, in place. "
     "Returns the length now. Buffers exported before stay valid and keep their length. "
     "vmplace.Error EBOUNDS when the file was truncated, ERANGE when it no longer fits the "
     "capacity; nothing changed then."},
    {"retire", (PyCFunction)MView_retire, METH_O,
     "retire(count)\n\nTurn segments [0, count) back into placeholder and close their files "
     "(so they may be deleted). Later bytes keep their offsets; reading a retired one with "
     "read() or locate() raises vmplace.Error ESTATE. count is an index: a count not above "
     "retired does nothing. BufferError while any buffer is exported (it reaches those "
     "bytes); ERANGE for a count above segment_count."},
    {"set_padding", (PyCFunction)MView_set_padding, METH_O,
     "set_padding(bytes)\n\nGuarantee bytes readable zero bytes after the view's end (rounded "
     "up to the page; 0 takes them away), for parsers that read past the last byte. They move "
     "with the end on refresh() and append() and count against the capacity (ERANGE)."},
    {"read", (PyCFunction)MView_read, METH_VARARGS,
     "read(offset, size) -> bytes\n\nCopy bytes [offset, offset+size) without ever crashing: "
     "bytes whose file was truncated raise vmplace.Error EGONE, retired ones ESTATE, a range "
     "past the length ERANGE."},
    {"readinto", (PyCFunction)MView_readinto, METH_VARARGS,
     "readinto(offset, buffer) -> int\n\nAs read(), into a writable buffer, filling all of it; "
     "returns its length. On EGONE the buffer may hold part of the bytes. A buffer of this view "
     "itself raises ValueError (the copy cannot overlap its source)."},
    {"scan", (PyCFunction)(void (*)(void))MView_scan, METH_VARARGS | METH_KEYWORDS,
     "scan(byte, offset=0, size=None) -> int | None\n\nThe view offset of the first byte equal "
     "to byte in [offset, offset+size) (size None: to the end), or None; fault-safe, with the "
     "checks and errors of read()."},
    {"close", (PyCFunction)MView_close, METH_NOARGS,
     "close()\n\nUnmap everything and close the files. BufferError while a buffer is exported. "
     "Idempotent."},
    {"__enter__", enter_self, METH_NOARGS, "Return self."},
    {"__exit__", (PyCFunction)MView_exit, METH_VARARGS, "Close the view."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef MView_getset[] = {
    {"length", (getter)MView_get_length, NULL, "The exact byte count of all segments.", NULL},
    {"capacity", (getter)MView_get_capacity, NULL, "The most bytes the view can ever hold.", NULL},
    {"segment_count", (getter)MView_get_segment_count, NULL, "The number of segments.", NULL},
    {"base", (getter)MView_get_base, NULL, "The address of the first byte, as an int.", NULL},
    {"closed", (getter)MView_get_closed, NULL, "True once close() succeeded.", NULL},
    {"writable", (getter)MView_get_writable, NULL, "Whether the files are mapped read-write.",
     NULL},
    {"close_files", (getter)MView_get_close_files, NULL,
     "Whether the view keeps no descriptor for segments but the last (close_files=True).", NULL},
    {"retired", (getter)MView_get_retired, NULL, "How many segments are retired: [0, n) are.",
     NULL},
    {"exports", (getter)MView_get_exports, NULL, "Buffers exported now.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyBufferProcs MView_as_buffer = {(getbufferproc)MView_getbuffer,
                                        (releasebufferproc)MView_releasebuffer};

static PySequenceMethods MView_as_sequence = {.sq_length = (lenfunc)MView_length};

static PyTypeObject MViewType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vmplace.MView",
    .tp_basicsize = sizeof(MView),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc =
        "MView(segments, capacity=0, writable=False, *, close_files=False)\n\nFiles, or "
        "ranges of files, mapped back to back as one buffer, with room reserved after them "
        "for append(). A segment is a path, a descriptor, or (path_or_fd, offset, length) "
        "(length 0: to the end of the file, followed by refresh()). memoryview(v) and "
        "numpy.frombuffer(v) see all of it, zero-copy, read-only unless writable; read() "
        "and scan() never crash on a truncated file. close_files=True keeps no descriptor "
        "for segments but the last (every segment must then be a path), so that a view of "
        "many files costs few descriptors. A context manager; close() is idempotent.",
    .tp_new = MView_new,
    .tp_dealloc = (destructor)MView_dealloc,
    .tp_repr = (reprfunc)MView_repr,
    .tp_as_buffer = &MView_as_buffer,
    .tp_as_sequence = &MView_as_sequence,
    .tp_methods = MView_methods,
    .tp_getset = MView_getset,
};

/* ---- module ------------------------------------------------------------- */

static PyObject *mod_page_size(PyObject *m, PyObject *noargs) {
  (void)m;
  (void)noargs;
  return PyLong_FromSize_t(vmp_page_size());
}

static PyObject *mod_granularity(PyObject *m, PyObject *noargs) {
  (void)m;
  (void)noargs;
  return PyLong_FromSize_t(vmp_granularity());
}

static PyTypeObject CapabilitiesType;

static PyStructSequence_Field capabilities_fields[] = {
    {"backend", "the backend's name: 'linux', 'posix' or 'windows' (for messages)"},
    {"page_size", "page_size()"},
    {"granularity", "granularity()"},
    {"view_offset_unit", "a view's object offset is a multiple of it (bytes)"},
    {"seals", "objects are sealed against shrinking and Ring.attach refuses one that is not"},
    {"anon_resizable", "Mem.grow works on anonymous objects (ENOTSUP otherwise)"},
    {"mapped_files_shrink", "another program can cut a mapped file, so views can fault"},
    {"discard_mixed_one_step", "discard over pages of several protections is one system call"},
    {"huge_pages", "RING_HUGE_PAGES can work (while huge pages are free)"},
    {"no_inherit", "RING_NO_INHERIT is honoured by the library (the binding refuses it)"},
    {"wait_across_processes", "a ring's waiter sleeps in the kernel and a peer process wakes it"},
    {"fault_safe_copy",
     "MView.read and scan copy with the system's checked copy: a cut racing "
     "with the copy is EGONE, not SIGBUS"},
    {"place_exact_checked", "Region.reserve_at is one call the system refuses over a taken range"},
    {"place_window_by_system", "Region.reserve_in lets the system pick the gap"},
    {"place_window_gap_list", "Region.reserve_in reads the process's map to find a gap"},
    {"knows_mapping_limit",
     "budget() reports the mapping limit and count, and ENOMEM at that "
     "limit is EMAPLIMIT"},
    {"labels", "Region.label and Mem.create_named names show in the process's map"},
    {NULL, NULL}};

#define CAPABILITY_COUNT 17

static PyStructSequence_Desc capabilities_desc = {
    "vmplace.Capabilities",
    "What the backend compiled in can do, as capabilities() reports it: decide from these "
    "fields, never from the backend's name. A frozen named tuple.",
    capabilities_fields, CAPABILITY_COUNT};

static PyObject *mod_capabilities(PyObject *m, PyObject *noargs) {
  (void)m;
  (void)noargs;
  const vmp_caps *c = vmp_capabilities();
  PyObject *items[CAPABILITY_COUNT] = {PyUnicode_FromString(c->backend),
                                       PyLong_FromSize_t(c->page_size),
                                       PyLong_FromSize_t(c->granularity),
                                       PyLong_FromSize_t(c->view_offset_unit),
                                       PyBool_FromLong(c->seals),
                                       PyBool_FromLong(c->anon_resizable),
                                       PyBool_FromLong(c->mapped_files_shrink),
                                       PyBool_FromLong(c->discard_mixed_one_step),
                                       PyBool_FromLong(c->huge_pages),
                                       PyBool_FromLong(c->no_inherit),
                                       PyBool_FromLong(c->wait_across_processes),
                                       PyBool_FromLong(c->fault_safe_copy),
                                       PyBool_FromLong(c->place_exact_checked),
                                       PyBool_FromLong(c->place_window_by_system),
                                       PyBool_FromLong(c->place_window_gap_list),
                                       PyBool_FromLong(c->knows_mapping_limit),
                                       PyBool_FromLong(c->labels)};
  return struct_sequence(&CapabilitiesType, items, CAPABILITY_COUNT);
}

static PyTypeObject BudgetType;

static PyStructSequence_Field budget_fields[] = {
    {"map_limit", "kernel mappings the process may hold (vm.max_map_count), or None"},
    {"map_count", "kernel mappings the process holds now, or None"},
    {"overcommit", "vm.overcommit_memory: 0 heuristic, 1 always, 2 never; or None"},
    {"as_limit", "soft RLIMIT_AS in bytes, or None for no limit"},
    {"data_limit", "soft RLIMIT_DATA in bytes, or None for no limit"},
    {"memfd", "True: memfd_create works; False: it is refused; None: the system has none"},
    {"shm_size", "bytes of /dev/shm, or None"},
    {"shm_free", "free bytes of /dev/shm, or None"},
    {"huge_free", "bytes of free huge pages, or None"},
    {"huge_page", "the huge page size in bytes, or None"},
    {NULL, NULL}};

static PyStructSequence_Desc budget_desc = {
    "vmplace.Budget",
    "The process's budget of address space and shared memory, as budget() reports it; a field "
    "the system cannot tell is None.",
    budget_fields, 10};

static PyObject *known_i64(int64_t v) {
  if (v < 0) Py_RETURN_NONE;
  return PyLong_FromLongLong((long long)v);
}

static PyObject *known_limit(uint64_t v) {
  if (v == UINT64_MAX) Py_RETURN_NONE;
  return PyLong_FromUnsignedLongLong((unsigned long long)v);
}

static PyObject *mod_budget(PyObject *m, PyObject *noargs) {
  (void)m;
  (void)noargs;
  vmp_budget b;
  int err = vmp_budget_get(&b);
  if (err) return raise_err(err, "vmp_budget_get");
  PyObject *items[10] = {known_i64(b.map_limit),    known_i64(b.map_count),
                         known_i64(b.overcommit),   known_limit(b.as_limit),
                         known_limit(b.data_limit), tristate(b.memfd),
                         known_i64(b.shm_size),     known_i64(b.shm_free),
                         known_i64(b.huge_free),    known_i64(b.huge_page)};
  return struct_sequence(&BudgetType, items, 10);
}

static int conv_code(PyObject *arg, int *code) {
  long v = PyLong_AsLong(arg);
  if (v == -1 && PyErr_Occurred()) return -1;
  if (v < INT32_MIN || v > INT32_MAX) {
    PyErr_SetString(PyExc_OverflowError, "error code out of range");
    return -1;
  }
  *code = (int)v;
  return 0;
}

static PyObject *mod_strerror(PyObject *m, PyObject *arg) {
  (void)m;
  int code;
  if (conv_code(arg, &code) < 0) return NULL;
  return PyUnicode_FromString(vmp_strerror(code));
}

static PyObject *mod_err_name(PyObject *m, PyObject *arg) {
  (void)m;
  int code;
  if (conv_code(arg, &code) < 0) return NULL;
  return PyUnicode_FromString(vmp_err_name(code));
}

static PyMethodDef module_methods[] = {
    {"page_size", mod_page_size, METH_NOARGS,
     "page_size() -> int\n\nThe page size in bytes: the unit of every offset and size."},
    {"granularity", mod_granularity, METH_NOARGS,
     "granularity() -> int\n\nThe alignment every region base has at least."},
    {"capabilities", mod_capabilities, METH_NOARGS,
     "capabilities() -> Capabilities\n\nWhat the backend compiled in can do, one field a "
     "capability (a frozen named tuple; the same for the life of the process)."},
    {"budget", mod_budget, METH_NOARGS,
     "budget() -> Budget\n\nThe process's budget of address space and shared memory as it is "
     "now: kernel mappings (limit and count), overcommit, RLIMIT_AS and RLIMIT_DATA, memfd, "
     "/dev/shm and huge pages. A field the system cannot tell is None."},
    {"strerror", mod_strerror, METH_O,
     "strerror(code) -> str\n\nThe message for a library error code."},
    {"err_name", mod_err_name, METH_O,
     "err_name(code) -> str\n\nThe unique name of a library error code ('EINVAL', 'OS:ENOENT')."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_vmplace",
    "The C extension behind the vmplace package; import vmplace instead.",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL};

static int add_type(PyObject *m, const char *name, PyTypeObject *type) {
  if (PyType_Ready(type) < 0) return -1;
  Py_INCREF(type);
  if (PyModule_AddObject(m, name, (PyObject *)type) < 0) {
    Py_DECREF(type);
    return -1;
  }
  return 0;
}

PyMODINIT_FUNC PyInit__vmplace(void) {
  PyObject *m = PyModule_Create(&module_def);
  if (!m) return NULL;
  PyObject *dict =
      Py_BuildValue("{s:O,s:O,s:O}", "code", Py_None, "name", Py_None, "segment", Py_None);
  if (!dict) goto fail;
  VmpError = PyErr_NewExceptionWithDoc(
      "vmplace.Error",
      "An error code of the vmplace library itself (operating-system errors are raised as the "
      "built-in OSError subclasses instead). .code is the library's (negative) code, .name its "
      "name ('EINVAL', 'ERANGE', ...); .segment names the segment at fault for MView calls.",
      PyExc_OSError, dict);
  Py_DECREF(dict);
  if (!VmpError) goto fail;
  Py_INCREF(VmpError);
  if (PyModule_AddObject(m, "Error", VmpError) < 0) {
    Py_DECREF(VmpError);
    goto fail;
  }
  if (PyStructSequence_InitType2(&SpanInfoType, &span_info_desc) < 0 ||
      PyStructSequence_InitType2(&SegmentInfoType, &segment_info_desc) < 0 ||
      PyStructSequence_InitType2(&RingStatsType, &ring_stats_desc) < 0 ||
      PyStructSequence_InitType2(&MemInfoType, &mem_info_desc) < 0 ||
      PyStructSequence_InitType2(&CapabilitiesType, &capabilities_desc) < 0 ||
      PyStructSequence_InitType2(&BudgetType, &budget_desc) < 0)
    goto fail;
  if (add_type(m, "SpanInfo", &SpanInfoType) < 0 ||
      add_type(m, "SegmentInfo", &SegmentInfoType) < 0 ||
      add_type(m, "RingStats", &RingStatsType) < 0 || add_type(m, "MemInfo", &MemInfoType) < 0 ||
      add_type(m, "Capabilities", &CapabilitiesType) < 0 ||
      add_type(m, "Budget", &BudgetType) < 0 || add_type(m, "Record", &RecordType) < 0 ||
      add_type(m, "Mem", &MemType) < 0 || add_type(m, "Region", &RegionType) < 0 ||
      add_type(m, "Window", &WindowType) < 0 || add_type(m, "Ring", &RingType) < 0 ||
      add_type(m, "MView", &MViewType) < 0)
    goto fail;
#define ADD_INT(name, value) \
  if (PyModule_AddIntConstant(m, name, (long)(value)) < 0) goto fail;
  ADD_INT("PROT_NONE", VMP_PROT_NONE)
  ADD_INT("PROT_READ", VMP_PROT_READ)
  ADD_INT("PROT_WRITE", VMP_PROT_WRITE)
  ADD_INT("PROT_RW", VMP_PROT_RW)
  ADD_INT("PROT_EXEC", VMP_PROT_EXEC)
  ADD_INT("MEM_READ", VMP_MEM_READ)
  ADD_INT("MEM_WRITE", VMP_MEM_WRITE)
  ADD_INT("MEM_RW", VMP_MEM_RW)
  ADD_INT("MEM_NO_FALLBACK", VMP_MEM_NO_FALLBACK)
  ADD_INT("MEM_EXEC", VMP_MEM_EXEC)
  ADD_INT("MEM_PREALLOCATE", VMP_MEM_PREALLOCATE)
  ADD_INT("MEM_HUGE", VMP_MEM_HUGE)
  ADD_INT("MEM_HUGE_OR_THP", VMP_MEM_HUGE_OR_THP)
  ADD_INT("RING_HUGE_PAGES", VMP_RING_HUGE_PAGES)
  ADD_INT("RING_NO_INHERIT", VMP_RING_NO_INHERIT)
  ADD_INT("RING_MULTI_PRODUCER", VMP_RING_MULTI_PRODUCER)
#define ADD_ERR(name, value, msg) ADD_INT(#name, value)
  VMP_ERRNO_MAP(ADD_ERR)
#undef ADD_ERR
#undef ADD_INT
  if (PyModule_AddStringConstant(m, "backend", vmp_backend_name()) < 0) goto fail;
  PyObject *version =
      Py_BuildValue("(iii)", VMP_VERSION_MAJOR, VMP_VERSION_MINOR, VMP_VERSION_PATCH);
  if (!version || PyModule_AddObject(m, "version", version) < 0) {
    Py_XDECREF(version);
    goto fail;
  }
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}
