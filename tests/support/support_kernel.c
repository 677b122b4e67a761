/* Both implementations of support_kernel.h; the system picks one. */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#define _POSIX_C_SOURCE 200809L /* pread, O_CLOEXEC */
#endif

#include "support_kernel.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int prepare(kv_snapshot *snap, const void *base, size_t size) {
  snap->base = (char *)base;
  snap->page_size = vmp_page_size();
  snap->pages = size / snap->page_size;
  snap->page = calloc(snap->pages ? snap->pages : 1, sizeof *snap->page);
  return snap->page ? 0 : -1;
}

void kv_free(kv_snapshot *snap) {
  free(snap->page);
  snap->page = NULL;
  snap->pages = 0;
}

/* Fills the pages of [lo, hi) that fall inside the snapshot. */
static void fill(kv_snapshot *snap, uintptr_t lo, uintptr_t hi, kv_page value,
                 int offset_advances) {
  uintptr_t start = (uintptr_t)snap->base;
  uintptr_t end = start + snap->pages * snap->page_size;
  uintptr_t from = lo > start ? lo : start;
  uintptr_t to = hi < end ? hi : end;
  for (uintptr_t a = from; a < to; a += snap->page_size) {
    kv_page p = value;
    if (offset_advances) p.file_offset += a - lo;
    snap->page[(a - start) / snap->page_size] = p;
  }
}

#if defined(_WIN32)

static unsigned char prot_of(DWORD protect) {
  switch (protect & 0xff) {
    case PAGE_READONLY:
    case PAGE_WRITECOPY:
      return VMP_PROT_READ;
    case PAGE_READWRITE:
      return VMP_PROT_RW;
    case PAGE_EXECUTE_READ:
    case PAGE_EXECUTE_WRITECOPY:
      return VMP_PROT_READ | VMP_PROT_EXEC;
    case PAGE_EXECUTE_READWRITE:
      return VMP_PROT_RW | VMP_PROT_EXEC;
    case PAGE_EXECUTE:
      return VMP_PROT_EXEC;
    default:
      return VMP_PROT_NONE;
  }
}

int kv_available(void) { return 1; }

size_t kv_granularity(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwAllocationGranularity;
}

int kv_take(kv_snapshot *snap, const void *base, size_t size) {
  if (prepare(snap, base, size)) return -1;
  const char *p = base, *end = (const char *)base + size;
  while (p < end) {
    MEMORY_BASIC_INFORMATION mbi;
    if (VirtualQuery(p, &mbi, sizeof mbi) != sizeof mbi) {
      kv_free(snap);
      return -1;
    }
    kv_page value = {0};
    if (mbi.State == MEM_RESERVE) {
      value.state = KV_RESERVED;
    } else if (mbi.State == MEM_COMMIT) {
      value.state = mbi.Type == MEM_PRIVATE ? KV_PRIVATE : KV_SHARED;
      value.prot = prot_of(mbi.Protect);
    }
    /* The type is folded into the state, but a reserved range of a mapped
     * view would differ from a placeholder: keep that visible. */
    if (mbi.State == MEM_RESERVE && mbi.Type == MEM_MAPPED) value.ident = 1;
    uintptr_t lo = (uintptr_t)mbi.BaseAddress;
    fill(snap, lo, lo + mbi.RegionSize, value, 0);
    p = (const char *)mbi.BaseAddress + mbi.RegionSize;
  }
  return 0;
}

static int add_range(kv_reservations *res, uintptr_t lo, uintptr_t hi);

int kv_reservations_take(kv_reservations *res) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  memset(res, 0, sizeof *res);
  const char *p = si.lpMinimumApplicationAddress;
  while (p < (const char *)si.lpMaximumApplicationAddress) {
    MEMORY_BASIC_INFORMATION mbi;
    if (VirtualQuery(p, &mbi, sizeof mbi) != sizeof mbi) break;
    /* Placeholders are reserved PAGE_NOACCESS; heaps reserve read-write. */
    if (mbi.State == MEM_RESERVE && mbi.AllocationProtect == PAGE_NOACCESS &&
        add_range(res, (uintptr_t)mbi.BaseAddress, (uintptr_t)mbi.BaseAddress + mbi.RegionSize)) {
      kv_reservations_free(res);
      return -1;
    }
    p = (const char *)mbi.BaseAddress + mbi.RegionSize;
  }
  return 0;
}

int kv_read(const void *addr, void *buf, size_t len) {
  (void)addr, (void)buf, (void)len;
  return -1; /* a page without access cannot be read from inside */
}

char *kv_mappings_text(const void *base, size_t size) {
  (void)base, (void)size;
  return NULL; /* VirtualQuery's ranges are per page state: kv_take has it all */
}

/* VirtualQuery shows no more than kv_take() has. */
int kv_region_exact(vmp_region *r, char *why, size_t why_len) {
  (void)r, (void)why, (void)why_len;
  return 0;
}

/* Handles and reservations are leftovers_*()'s; the library names nothing
 * on Windows (its sections are unnamed). */
struct kv_outside {
  int unused;
};

kv_outside *kv_outside_take(const void *base, size_t size) {
  (void)base, (void)size;
  return calloc(1, sizeof(kv_outside));
}

int kv_outside_compare(const kv_outside *o, int mappings, char *why, size_t why_len) {
  (void)o, (void)mappings, (void)why, (void)why_len;
  return 0;
}

#else /* POSIX: /proc/self/maps, read by support_maps.c, and /proc/self/mem */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "support_maps.h"
#include "support_posix.h"

int kv_available(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (f) fclose(f);
  return f != NULL;
}

size_t kv_granularity(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static kv_page page_of(const vmpt_vma *m) {
  kv_page v = {0};
  v.prot = (unsigned char)((m->perms[0] == 'r' ? VMP_PROT_READ : 0) |
                           (m->perms[1] == 'w' ? VMP_PROT_WRITE : 0) |
                           (m->perms[2] == 'x' ? VMP_PROT_EXEC : 0));
  v.state = m->perms[3] == 's' ? KV_SHARED : KV_PRIVATE;
  v.ident = m->inode;
  v.file_offset = m->inode ? m->offset : 0;
  return v;
}

int kv_take(kv_snapshot *snap, const void *base, size_t size) {
  if (prepare(snap, base, size)) return -1;
  const vmpt_vma *v;
  size_t n = vmpt_maps_read(&v);
  if (n == 0) {
    kv_free(snap);
    return -1;
  }
  for (size_t i = 0; i < n; i++) fill(snap, v[i].start, v[i].end, page_of(&v[i]), v[i].inode != 0);
  return 0;
}

static int add_range(kv_reservations *res, uintptr_t lo, uintptr_t hi);

int kv_reservations_take(kv_reservations *res) {
  memset(res, 0, sizeof *res);
  const vmpt_vma *v;
  size_t n = vmpt_maps_read(&v);
  if (n == 0) return -1;
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].perms, "---p") == 0 && v[i].inode == 0 &&
        add_range(res, v[i].start, v[i].end)) {
      kv_reservations_free(res);
      return -1;
    }
  return 0;
}

int kv_read(const void *addr, void *buf, size_t len) {
  static int mem_fd = -1;
  if (mem_fd < 0) mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  if (mem_fd < 0) return -1;
  for (size_t done = 0; done < len;) {
    ssize_t got = pread(mem_fd, (char *)buf + done, len - done, (off_t)((uintptr_t)addr + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    done += (size_t)got;
  }
  return 0;
}

char *kv_mappings_text(const void *base, size_t size) { return vmpt_maps_region_text(base, size); }

int kv_region_exact(vmp_region *r, char *why, size_t why_len) {
  return vmpt_maps_check_region(r, why, why_len);
}

struct kv_outside {
  vmpt_outside *maps;
  uint64_t shm_names, tmp_names;
};

kv_outside *kv_outside_take(const void *base, size_t size) {
  kv_outside *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->maps = vmpt_outside_take(base, size);
  o->shm_names = vmpt_dir_fingerprint("/dev/shm", NULL);
  o->tmp_names = vmpt_dir_fingerprint(vmpt_tmpdir(), NULL);
  return o;
}

int kv_outside_compare(const kv_outside *o, int mappings, char *why, size_t why_len) {
  if (!o || (!o->maps && kv_available())) {
    vmpt_say(why, why_len, "the mappings outside were not recorded");
    return 1;
  }
  if (mappings && o->maps && vmpt_outside_compare(o->maps, why, why_len) != 0) return 1;
  int shm_same = vmpt_dir_fingerprint("/dev/shm", NULL) == o->shm_names;
  int tmp_same = vmpt_dir_fingerprint(vmpt_tmpdir(), NULL) == o->tmp_names;
  if (shm_same && tmp_same) return 0;
  /* The library's names carry the pid: clean up before failing, so that a
   * failing test does not litter. */
  char prefix[64];
  snprintf(prefix, sizeof prefix, "vmplace-%ld-", (long)getpid());
  vmpt_remove_names("/dev/shm", prefix);
  vmpt_remove_names(vmpt_tmpdir(), prefix);
  vmpt_say(why, why_len, "a name was left in %s", shm_same ? vmpt_tmpdir() : "/dev/shm");
  return 1;
}

#endif

void kv_outside_free(kv_outside *o) {
#if !defined(_WIN32)
  if (o) vmpt_outside_free(o->maps);
#endif
  free(o);
}

static int add_range(kv_reservations *res, uintptr_t lo, uintptr_t hi) {
  if (res->count == res->capacity) {
    size_t cap = res->capacity ? 2 * res->capacity : 256;
    uintptr_t *nlo = realloc(res->lo, cap * sizeof *nlo);
    if (!nlo) return -1;
    res->lo = nlo;
    uintptr_t *nhi = realloc(res->hi, cap * sizeof *nhi);
    if (!nhi) return -1;
    res->hi = nhi;
    res->capacity = cap;
  }
  res->lo[res->count] = lo;
  res->hi[res->count] = hi;
  res->count++;
  return 0;
}

void kv_reservations_free(kv_reservations *res) {
  free(res->lo);
  free(res->hi);
  memset(res, 0, sizeof *res);
}

uint64_t kv_reservations_new_bytes(const kv_reservations *before, const kv_reservations *after) {
  uint64_t fresh = 0;
  size_t j = 0;
  for (size_t i = 0; i < after->count; i++) {
    uintptr_t lo = after->lo[i], hi = after->hi[i];
    /* Both lists are in address order: walk the earlier ranges along. */
    while (j < before->count && before->hi[j] <= lo) j++;
    for (size_t k = j; k < before->count && lo < hi && before->lo[k] < hi; k++) {
      if (before->lo[k] > lo) fresh += before->lo[k] - lo;
      if (before->hi[k] > lo) lo = before->hi[k];
    }
    if (lo < hi) fresh += hi - lo;
  }
  return fresh;
}

size_t kv_first_difference(const kv_snapshot *a, const kv_snapshot *b) {
  if (a->base != b->base || a->pages != b->pages) return 0;
  for (size_t i = 0; i < a->pages; i++) {
    const kv_page *x = &a->page[i], *y = &b->page[i];
    if (x->state != y->state || x->prot != y->prot || x->ident != y->ident ||
        x->file_offset != y->file_offset)
      return i;
  }
  return (size_t)-1;
}

static const char *state_name(unsigned state) {
  switch (state) {
    case KV_FREE:
      return "free";
    case KV_RESERVED:
      return "reserved";
    case KV_PRIVATE:
      return "private";
    default:
      return "shared";
  }
}

const char *kv_describe(const kv_snapshot *snap, size_t i, char *buf, size_t len) {
  const kv_page *p = &snap->page[i];
  snprintf(buf, len, "page %zu: %s %c%c%c inode=%" PRIu64 " offset=%" PRIu64, i,
           state_name(p->state), (p->prot & VMP_PROT_READ) ? 'r' : '-',
           (p->prot & VMP_PROT_WRITE) ? 'w' : '-', (p->prot & VMP_PROT_EXEC) ? 'x' : '-', p->ident,
           p->file_offset);
  return buf;
}

int kv_accessible(const kv_snapshot *snap, size_t i) {
  const kv_page *p = &snap->page[i];
  return (p->state == KV_PRIVATE || p->state == KV_SHARED) && p->prot != VMP_PROT_NONE;
}

int kv_readable(const kv_snapshot *snap, size_t i) {
  const kv_page *p = &snap->page[i];
  return (p->state == KV_PRIVATE || p->state == KV_SHARED) && (p->prot & VMP_PROT_READ);
}

int kv_writable(const kv_snapshot *snap, size_t i) {
  const kv_page *p = &snap->page[i];
  return (p->state == KV_PRIVATE || p->state == KV_SHARED) && (p->prot & VMP_PROT_WRITE);
}

int kv_page_matches(const kv_snapshot *snap, size_t i, vmp_kind kind, int prot,
                    uint64_t view_page_offset) {
  const kv_page *p = &snap->page[i];
  switch (kind) {
    case VMP_PLACEHOLDER:
#if defined(_WIN32)
      return p->state == KV_RESERVED && p->ident == 0;
#else
      /* A PROT_NONE private anonymous mapping is all POSIX has. */
      return p->state == KV_PRIVATE && p->prot == VMP_PROT_NONE && p->ident == 0;
#endif
    case VMP_PRIVATE:
      return p->state == KV_PRIVATE && p->prot == prot && p->ident == 0;
    case VMP_VIEW:
#if defined(_WIN32)
      (void)view_page_offset;
      return p->state == KV_SHARED && p->prot == prot;
#else
      return p->state == KV_SHARED && p->prot == prot && p->ident != 0 &&
             p->file_offset == view_page_offset;
#endif
  }
  return 0;
}
