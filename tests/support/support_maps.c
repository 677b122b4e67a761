#define _GNU_SOURCE
#include "support_maps.h"
#include "support_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VMPT_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VMPT_UNDER_SANITIZER 1
#endif
#endif
#ifndef VMPT_UNDER_SANITIZER
#define VMPT_UNDER_SANITIZER 0
#endif

/* Static so that reading the maps does not call malloc, which could add
 * or grow a mapping between two readings. Enough for vm.max_map_count. */
#define MAX_VMAS 70000
#define MAPS_TEXT_MAX (12u << 20)
static vmpt_vma vmas[MAX_VMAS];
static char maps_text[MAPS_TEXT_MAX];

static size_t slurp_maps(void) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  size_t used = 0;
  if (fd < 0) return 0;
  for (;;) {
    ssize_t got = read(fd, maps_text + used, MAPS_TEXT_MAX - 1 - used);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    used += (size_t)got;
    if (used >= MAPS_TEXT_MAX - 1) break;
  }
  close(fd);
  maps_text[used] = '\0';
  return used;
}

static int parse_line(char *line, vmpt_vma *v) {
  unsigned long long start, end, offset, inode;
  unsigned major_no, minor_no;
  int path_at = 0;
  if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, v->perms, &offset, &major_no,
             &minor_no, &inode, &path_at) < 7)
    return 0;
  v->start = (uintptr_t)start;
  v->end = (uintptr_t)end;
  v->offset = offset;
  v->dev_major = major_no;
  v->dev_minor = minor_no;
  v->inode = inode;
  snprintf(v->path, sizeof v->path, "%s", path_at ? line + path_at : "");
  return 1;
}

size_t vmpt_maps_read(const vmpt_vma **out) {
  size_t n = 0;
  char *line, *next;
  *out = vmas;
  if (!slurp_maps()) return 0;
  for (line = maps_text; *line && n < MAX_VMAS; line = next) {
    char *nl = strchr(line, '\n');
    next = nl ? nl + 1 : line + strlen(line);
    if (nl) *nl = '\0';
    if (parse_line(line, &vmas[n])) n++;
  }
  return n;
}

const vmpt_vma *vmpt_maps_at(const void *addr) {
  const vmpt_vma *m;
  size_t n = vmpt_maps_read(&m);
  for (size_t i = 0; i < n; i++)
    if (m[i].start <= (uintptr_t)addr && (uintptr_t)addr < m[i].end) return &m[i];
  return NULL;
}

size_t vmpt_maps_count_in(const void *base, size_t size) {
  const vmpt_vma *v;
  size_t n = vmpt_maps_read(&v), count = 0;
  uintptr_t lo = (uintptr_t)base, hi = lo + size;
  for (size_t i = 0; i < n; i++)
    if (v[i].start < hi && v[i].end > lo) count++;
  return count;
}

/* ---- the region, page by page ------------------------------------------ */

typedef struct span_list {
  vmp_span_info *items;
  size_t count, cap;
} span_list;

static int collect_span(const vmp_span_info *info, void *arg) {
  span_list *l = arg;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    vmp_span_info *grown = realloc(l->items, cap * sizeof *grown);
    if (!grown) return -1;
    l->items = grown;
    l->cap = cap;
  }
  l->items[l->count++] = *info;
  return 0;
}

static void expected_perms(int prot, char shared, char out[5]) {
  out[0] = (prot & VMP_PROT_READ) ? 'r' : '-';
  out[1] = (prot & VMP_PROT_WRITE) ? 'w' : '-';
  out[2] = (prot & VMP_PROT_EXEC) ? 'x' : '-';
  out[3] = shared;
  out[4] = '\0';
}

typedef struct object_id {
  int known;
  dev_t dev;
  ino_t ino;
} object_id;

static object_id identify(vmp_mem *mem) {
  object_id id = {0, 0, 0};
  struct stat st;
  intptr_t fd = vmp_mem_fd(mem);
  if (fd >= 0 && fstat((int)fd, &st) == 0) {
    id.known = 1;
    id.dev = st.st_dev;
    id.ino = st.st_ino;
  }
  return id;
}

int vmpt_maps_check_region(vmp_region *region, char *why, size_t why_len) {
  span_list spans = {NULL, 0, 0};
  const size_t page = vmp_page_size();
  uintptr_t base = (uintptr_t)vmp_base(region);
  size_t size = vmp_size(region);
  int *page_prot = NULL;
  object_id *ids = NULL;
  const vmpt_vma *v;
  size_t nv, vi = 0, si, pages = size / page;
  int bad = 0;

  if (vmp_foreach_span(region, collect_span, &spans) != 0) {
    vmpt_say(why, why_len, "vmp_foreach_span failed");
    free(spans.items);
    return 1;
  }
  page_prot = calloc(pages ? pages : 1, sizeof *page_prot);
  ids = calloc(spans.count ? spans.count : 1, sizeof *ids);
  if (!page_prot || !ids) {
    vmpt_say(why, why_len, "out of memory");
    bad = 1;
    goto done;
  }
  /* Spans must tile the region; query gives each page's protection. */
  {
    uintptr_t expect = base;
    for (si = 0; si < spans.count && !bad; si++) {
      const vmp_span_info *s = &spans.items[si];
      if ((uintptr_t)s->start != expect || s->offset != expect - base || !s->size) {
        vmpt_say(why, why_len, "span %zu at %p (offset %zu, size %zu) does not tile the region", si,
                 s->start, s->offset, s->size);
        bad = 1;
      }
      expect += s->size;
      if (s->kind == VMP_VIEW) ids[si] = identify(s->mem);
    }
    if (!bad && expect != base + size) {
      vmpt_say(why, why_len, "spans end at %#" PRIxPTR ", region ends at %#" PRIxPTR, expect,
               base + size);
      bad = 1;
    }
  }
  for (size_t p = 0; p < pages && !bad; p++) {
    vmp_span_info info;
    int rc = vmp_query(region, (const char *)base + p * page, &info);
    if (rc) {
      vmpt_say(why, why_len, "vmp_query(page %zu) = %s", p, vmp_err_name(rc));
      bad = 1;
    }
    page_prot[p] = info.prot;
  }
  if (bad) goto done;

  /* Read the maps last: no allocation from here on. */
  nv = vmpt_maps_read(&v);
  for (si = 0; si < spans.count && !bad; si++) {
    const vmp_span_info *s = &spans.items[si];
    for (size_t off = 0; off < s->size && !bad; off += page) {
      uintptr_t addr = (uintptr_t)s->start + off;
      size_t p = (addr - base) / page;
      char want[5];
      while (vi < nv && v[vi].end <= addr) vi++;
      if (vi == nv || v[vi].start > addr) {
        vmpt_say(why, why_len, "page %zu (%s span at offset %zu) is not mapped at all", p,
                 vmp_kind_name(s->kind), s->offset);
        bad = 1;
        break;
      }
      const vmpt_vma *m = &v[vi];
      switch (s->kind) {
        case VMP_PLACEHOLDER:
          expected_perms(VMP_PROT_NONE, 'p', want);
          if (strcmp(m->perms, want) || m->inode != 0) {
            vmpt_say(why, why_len, "placeholder page %zu is mapped %s inode %" PRIu64 " (%s)", p,
                     m->perms, m->inode, m->path);
            bad = 1;
          }
          break;
        case VMP_PRIVATE:
          expected_perms(page_prot[p], 'p', want);
          if (strcmp(m->perms, want) || m->inode != 0) {
            vmpt_say(why, why_len,
                     "private page %zu is mapped %s inode %" PRIu64 " (%s), expected %s anonymous",
                     p, m->perms, m->inode, m->path, want);
            bad = 1;
          }
          break;
        case VMP_VIEW: {
          uint64_t want_off = s->mem_offset + off;
          uint64_t got_off = m->offset + (addr - m->start);
          expected_perms(page_prot[p], 's', want);
          if (strcmp(m->perms, want) || got_off != want_off) {
            vmpt_say(why, why_len,
                     "view page %zu is mapped %s at file offset %#" PRIx64
                     ", expected %s at %#" PRIx64,
                     p, m->perms, got_off, want, want_off);
            bad = 1;
          } else if (ids[si].known &&
                     (m->inode != (uint64_t)ids[si].ino || m->dev_major != major(ids[si].dev) ||
                      m->dev_minor != minor(ids[si].dev))) {
            vmpt_say(why, why_len,
                     "view page %zu maps inode %" PRIu64 " on %x:%x, the object is inode %" PRIu64
                     " on %x:%x",
                     p, m->inode, m->dev_major, m->dev_minor, (uint64_t)ids[si].ino,
                     major(ids[si].dev), minor(ids[si].dev));
            bad = 1;
          }
          break;
        }
        default:
          vmpt_say(why, why_len, "span %zu has unknown kind %d", si, (int)s->kind);
          bad = 1;
      }
    }
  }
done:
  free(spans.items);
  free(page_prot);
  free(ids);
  return bad;
}

/* ---- everything else ---------------------------------------------------- */

struct vmpt_outside {
  uintptr_t lo, hi;
  size_t count;
  char **lines; /* sorted, compared ones only */
};

static int is_volatile(const vmpt_vma *m) {
  if (strcmp(m->path, "[stack]") == 0 || strcmp(m->path, "[heap]") == 0) return 1;
  if (m->inode != 0) return 0;
  if (m->path[0] && m->path[0] != '[') return 0; /* a deleted file, memfd... */
  if (m->perms[3] == 's') return 0;
  if (m->perms[1] == 'w') return 1;
  return VMPT_UNDER_SANITIZER;
}

static int cmp_line(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *format_piece(const vmpt_vma *m, uintptr_t start, uintptr_t end) {
  char buf[320];
  uint64_t off = m->inode ? m->offset + (start - m->start) : m->offset;
  snprintf(buf, sizeof buf, "%" PRIxPTR "-%" PRIxPTR " %s %08" PRIx64 " %02x:%02x %" PRIu64 " %s",
           start, end, m->perms, off, m->dev_major, m->dev_minor, m->inode, m->path);
  return strdup(buf);
}

/* Pieces of the current maps outside [lo, hi), formatted, sorted; only
 * the ones worth comparing. Copies the parsed maps first, since the
 * formatting allocates. */
static char **outside_lines(uintptr_t lo, uintptr_t hi, size_t *count) {
  const vmpt_vma *v;
  size_t n = vmpt_maps_read(&v), k = 0;
  vmpt_vma *copy = malloc((n ? n : 1) * sizeof *copy);
  char **lines = calloc(2 * n + 1, sizeof *lines);
  if (!copy || !lines) {
    free(copy);
    free(lines);
    return NULL;
  }
  memcpy(copy, v, n * sizeof *copy);
  for (size_t i = 0; i < n; i++) {
    const vmpt_vma *m = &copy[i];
    if (is_volatile(m)) continue;
    if (m->start < lo) lines[k++] = format_piece(m, m->start, m->end < lo ? m->end : lo);
    if (m->end > hi) lines[k++] = format_piece(m, m->start > hi ? m->start : hi, m->end);
  }
  free(copy);
  qsort(lines, k, sizeof *lines, cmp_line);
  *count = k;
  return lines;
}

static void free_lines(char **lines, size_t count) {
  for (size_t i = 0; i < count; i++) free(lines[i]);
  free(lines);
}

vmpt_outside *vmpt_outside_take(const void *base, size_t size) {
  vmpt_outside *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->lo = (uintptr_t)base;
  o->hi = o->lo + size;
  o->lines = outside_lines(o->lo, o->hi, &o->count);
  if (!o->lines) {
    free(o);
    return NULL;
  }
  return o;
}

int vmpt_outside_compare(const vmpt_outside *before, char *why, size_t why_len) {
  size_t count, i = 0, j = 0;
  char **after;
  int bad = 0;
  if (!before) {
    vmpt_say(why, why_len, "no snapshot of the outside");
    return 1;
  }
  after = outside_lines(before->lo, before->hi, &count);
  if (!after) {
    vmpt_say(why, why_len, "cannot read the maps");
    return 1;
  }
  /* Both sorted: walk them together, report the first difference. */
  while (!bad && (i < before->count || j < count)) {
    int c = i == before->count ? 1 : j == count ? -1 : strcmp(before->lines[i], after[j]);
    if (c == 0) {
      i++;
      j++;
    } else if (c < 0) {
      vmpt_say(why, why_len, "mapping outside the region vanished or changed: %s",
               before->lines[i]);
      bad = 1;
    } else {
      vmpt_say(why, why_len, "mapping outside the region appeared or changed: %s", after[j]);
      bad = 1;
    }
  }
  free_lines(after, count);
  return bad;
}

void vmpt_outside_free(vmpt_outside *o) {
  if (!o) return;
  free_lines(o->lines, o->count);
  free(o);
}

char *vmpt_maps_region_text(const void *base, size_t size) {
  const vmpt_vma *v;
  size_t n = vmpt_maps_read(&v), k = 0, len = 0;
  uintptr_t lo = (uintptr_t)base, hi = lo + size;
  vmpt_vma *copy = malloc((n ? n : 1) * sizeof *copy);
  char *text;
  if (!copy) return NULL;
  memcpy(copy, v, n * sizeof *copy);
  for (size_t i = 0; i < n; i++)
    if (copy[i].start < hi && copy[i].end > lo) copy[k++] = copy[i];
  text = malloc(k * 320 + 1);
  if (!text) {
    free(copy);
    return NULL;
  }
  text[0] = '\0';
  for (size_t i = 0; i < k; i++) {
    uintptr_t s = copy[i].start < lo ? lo : copy[i].start;
    uintptr_t e = copy[i].end > hi ? hi : copy[i].end;
    char *piece = format_piece(&copy[i], s, e);
    if (piece) len += (size_t)sprintf(text + len, "%s\n", piece);
    free(piece);
  }
  free(copy);
  return text;
}
