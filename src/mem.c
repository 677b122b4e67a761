/* Memory objects: anonymous shared memory, files and adopted descriptors. */
#include "alloc.h"
#include "internal.h"

static int new_mem(vmp_mem **out) {
  vmp_mem *mem = vmp__calloc(1, sizeof *mem);
  if (!mem) return VMP_ENOMEM;
  mem->magic = VMP__MEM_MAGIC;
  atomic_init(&mem->closed, 0);
  atomic_init(&mem->refs, 1);
  atomic_init(&mem->size_floor, 0);
  mem->handle = -1;
  *out = mem;
  return 0;
}

/* Anonymous shared memory the backend's way: ordinary or huge pages. */
/* The handle of a new anonymous object, once the backend has made it
 * (err 0), or its bookkeeping given back (err). */
static int finish_anonymous(vmp_mem *mem, int err, uint64_t size, vmp_mem **out) {
  if (err) {
    vmp__free(mem);
    return err;
  }
  mem->flags = VMP_MEM_RW;
  atomic_store(&mem->size_floor, size);
  *out = mem;
  return 0;
}

static int create_anonymous(uint64_t size, int huge, vmp_mem **out) {
  vmp_mem *mem;
  int err = new_mem(&mem);
  if (err) return err;
  err = huge ? vmp__os_object_create_huge(size, &mem->handle, &mem->traits)
             : vmp__os_object_create(size, &mem->handle, &mem->traits);
  return finish_anonymous(mem, err, size, out);
}

int vmp_mem_create(uint64_t size, unsigned flags, vmp_mem **out) {
  if (!out || size == 0 || flags != 0) return VMP_EINVAL;
  if (size % vmp_page_size()) return VMP_EALIGN;
  return create_anonymous(size, 0, out);
}

int vmp_mem_query(const vmp_mem *mem, vmp_mem_info *out) {
  if (!vmp__mem_usable(mem) || !out) return VMP_EINVAL;
  unsigned t = mem->traits;
  out->backing = (vmp_backing)VMP__OBJ_BACKING_OF(t);
  out->sealed = (t & VMP__OBJ_NO_SHRINK) != 0;
  out->huge_pages = (t & VMP__OBJ_HUGE) ? 1 : (t & VMP__OBJ_THP) ? 2 : 0;
  out->exec = (t & VMP__OBJ_EXEC) ? 1 : (t & VMP__OBJ_NOEXEC) ? 0 : -1;
  out->fell_back = (t & VMP__OBJ_FELL_BACK) != 0;
  return 0;
}

/* The characters the kernel allows in a name, on every backend: printable
 * ASCII except those a shell or a maps parser would trip on. */
int vmp__name_valid(const char *name) {
  if (!name || !*name) return 0;
  size_t n = 0;
  for (const char *c = name; *c; c++, n++) {
    if (n >= VMP__NAME_MAX || *c < 0x20 || *c > 0x7e) return 0;
    if (*c == '\\' || *c == '`' || *c == '$' || *c == '[' || *c == ']') return 0;
  }
  return 1;
}

#define CREATE_FLAGS \
  (VMP_MEM_NO_FALLBACK | VMP_MEM_EXEC | VMP_MEM_PREALLOCATE | VMP_MEM_HUGE | VMP_MEM_HUGE_OR_THP)

/* Huge pages from a pool of them (hugetlbfs), or, when the pool has none
 * to give and the caller allows it, ordinary pages whose views ask for
 * transparent huge pages. */
static int create_huge(uint64_t size, unsigned flags, vmp_mem *mem) {
  size_t huge = 0;
  int err = vmp__os_huge_page_size(size, &huge);
  if (!err && size % huge) return VMP_EALIGN;
  if (!err) err = vmp__os_object_create_huge(size, &mem->handle, &mem->traits);
  if ((err == VMP_ENOTSUP || err == VMP_ENOMEM) && (flags & VMP_MEM_HUGE_OR_THP)) {
    err = vmp__os_object_create_named(size, "vmplace", 0, &mem->handle, &mem->traits);
    if (!err) mem->traits |= VMP__OBJ_THP;
  }
  return err;
}

int vmp_mem_create_named(uint64_t size, const char *name, unsigned flags, vmp_mem **out) {
  if (!out || size == 0 || (flags & ~(unsigned)CREATE_FLAGS) || !vmp__name_valid(name))
    return VMP_EINVAL;
  if (size % vmp_page_size()) return VMP_EALIGN;
  vmp_mem *mem;
  int err = new_mem(&mem);
  if (err) return err;
  unsigned how = ((flags & VMP_MEM_NO_FALLBACK) ? VMP__CREATE_NO_FALLBACK : 0) |
                 ((flags & VMP_MEM_EXEC) ? VMP__CREATE_EXEC : 0) |
                 ((flags & VMP_MEM_PREALLOCATE) ? VMP__CREATE_PREALLOCATE : 0);
  if (flags & (VMP_MEM_HUGE | VMP_MEM_HUGE_OR_THP))
    err = create_huge(size, flags, mem);
  else
    err = vmp__os_object_create_named(size, name, how, &mem->handle, &mem->traits);
  return finish_anonymous(mem, err, size, out);
}

/* For rings with VMP_RING_HUGE_PAGES: vmp_mem_create over huge pages
 * (size a multiple of the huge page size). */
int vmp__mem_create_huge(uint64_t size, vmp_mem **out) { return create_anonymous(size, 1, out); }

static int valid_open_flags(unsigned flags) { return flags == VMP_MEM_READ || flags == VMP_MEM_RW; }

int vmp_mem_open(const char *path, unsigned flags, vmp_mem **out) {
  if (!path || !out || !valid_open_flags(flags)) return VMP_EINVAL;
  /* The path is judged before anything is allocated: a directory is
   * VMP_EINVAL (step 1) even when memory is short (VMP_ENOMEM, step 7). */
  vmp__os_handle handle;
  unsigned traits = 0;
  int err = vmp__os_object_open(path, flags == VMP_MEM_RW, &handle, &traits);
  if (err) return err;
  vmp_mem *mem;
  err = new_mem(&mem);
  if (err) {
    vmp__os_object_close(handle);
    return err;
  }
  mem->handle = handle;
  mem->traits = traits;
  mem->flags = flags;
  *out = mem;
  return 0;
}

int vmp_mem_adopt(intptr_t fd, unsigned flags, vmp_mem **out) {
  if (!out || fd < 0 || (flags != 0 && !valid_open_flags(flags))) return VMP_EINVAL;
  /* The descriptor is judged before anything is allocated: VMP_EINVAL and
   * VMP_EACCES come before VMP_ENOMEM. */
  int writable = 0;
  unsigned traits = 0;
  vmp__os_handle handle;
  int err = vmp__os_object_adopt(fd, (flags & VMP_MEM_WRITE) != 0, &writable, &traits, &handle);
  if (err) return err;
  vmp_mem *mem;
  err = new_mem(&mem);
  if (err) {
    vmp__os_object_forget(handle);
    return err;
  }
  mem->handle = handle;
  mem->traits = traits;
  mem->flags = flags ? flags : (writable ? VMP_MEM_RW : VMP_MEM_READ);
  *out = mem;
  return 0;
}

VMP__HOT int vmp__mem_usable(const vmp_mem *mem) {
  return mem && mem->magic == VMP__MEM_MAGIC && !atomic_load(&mem->closed);
}

int vmp_mem_size(vmp_mem *mem, uint64_t *size_out) {
  if (!vmp__mem_usable(mem) || !size_out) return VMP_EINVAL;
  return vmp__os_object_size(mem->handle, size_out);
}

int vmp_mem_grow(vmp_mem *mem, uint64_t new_size) {
  if (!vmp__mem_usable(mem)) return VMP_EINVAL;
  uint64_t current;
  int err = vmp__os_object_size(mem->handle, &current);
  if (err) return err;
  /* The error order of docs/contract.md: a shrink is VMP_EINVAL (step 1)
   * even on a read-only object, whose VMP_EACCES is step 6. */
  if (new_size < current) return VMP_EINVAL;
  if (!(mem->flags & VMP_MEM_WRITE)) return VMP_EACCES;
  if (new_size == current) return 0;
  err = vmp__os_object_grow(mem->handle, new_size);
  if (!err) atomic_store(&mem->size_floor, new_size);
  return err;
}

intptr_t vmp_mem_fd(const vmp_mem *mem) {
  return vmp__mem_usable(mem) ? vmp__os_object_native(mem->handle) : -1;
}

unsigned vmp_mem_flags(const vmp_mem *mem) { return vmp__mem_usable(mem) ? mem->flags : 0; }

int vmp_mem_close(vmp_mem *mem) {
  if (!mem) return 0;
  if (mem->magic != VMP__MEM_MAGIC) return VMP_EINVAL;
  /* Only the first close gives the descriptor back: a second one, on a
   * struct kept alive by views, must not close a descriptor number that
   * may by now belong to someone else. */
  int was_closed = 0;
  if (!atomic_compare_exchange_strong(&mem->closed, &was_closed, 1)) return VMP_EINVAL;
  int err = vmp__os_object_close(mem->handle);
  mem->handle = -1;
  vmp__mem_unref(mem);
  return err;
}

VMP__HOT void vmp__mem_ref(vmp_mem *mem) {
  atomic_fetch_add_explicit(&mem->refs, 1, memory_order_relaxed);
}

VMP__HOT void vmp__mem_unref(vmp_mem *mem) {
  if (atomic_fetch_sub_explicit(&mem->refs, 1, memory_order_acq_rel) == 1) {
    mem->magic = 0;
    vmp__free(mem);
  }
}

/* The end of the page holding an object's last byte: a view may cover that
 * whole page (past the end of the object it reads as zeros). */
static uint64_t page_end(uint64_t size) {
  uint64_t mask = vmp_page_size() - 1;
  return size > UINT64_MAX - mask ? UINT64_MAX & ~mask : (size + mask) & ~mask;
}

VMP__HOT int vmp__mem_check_view(vmp_mem *mem, uint64_t offset, uint64_t size, int prot) {
  if (offset > UINT64_MAX - size) return VMP_EBOUNDS;
  uint64_t end = offset + size;
  /* An object that can never shrink is at least as large as it ever was:
   * no need to ask the system when the view fits below that. */
  int known_fit = (mem->traits & VMP__OBJ_NO_SHRINK) && end <= atomic_load(&mem->size_floor);
  /* A view's own file, whose size the view asked right before mapping: a
   * second look would only find what the first found, or a file cut in
   * between, which is the same as one cut right after the view is made. */
  known_fit |= mem->length_checked_by_owner;
  if (!known_fit) {
    uint64_t current;
    int err = vmp__os_object_size(mem->handle, &current);
    if (err) return err;
    if (end > page_end(current)) return VMP_EBOUNDS;
    if (mem->traits & VMP__OBJ_NO_SHRINK) atomic_store(&mem->size_floor, current);
  }
  if ((prot & VMP_PROT_WRITE) && !(mem->flags & VMP_MEM_WRITE)) return VMP_EACCES;
  if ((prot & VMP_PROT_EXEC) && (mem->traits & VMP__OBJ_NOEXEC)) return VMP_EACCES;
  return 0;
}
