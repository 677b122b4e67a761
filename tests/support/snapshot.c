#define _GNU_SOURCE
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"
#include "util.h"


static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t vmpt_hash_memory(const void *addr, size_t len) {
  static int mem_fd = -1;
  unsigned char buf[4096];
  uint64_t h = 14695981039346656037ull;
  size_t done = 0;
  if (mem_fd < 0) mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  while (done < len) {
    size_t want = len - done < sizeof buf ? len - done : sizeof buf;
    ssize_t got = mem_fd < 0 ? -1 : pread(mem_fd, buf, want, (off_t)((uintptr_t)addr + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return h ^ 0xdeadull ^ (uint64_t)done; /* unreadable: a distinct value */
    h = fnv1a(h, buf, (size_t)got);
    done += (size_t)got;
  }
  return h ? h : 1;
}

static int collect(const vmp_span_info *info, void *arg) {
  vmpt_snapshot *s = arg;
  if (s->spans_listed == s->span_count) return 1; /* more spans than counted */
  s->spans[s->spans_listed++] = *info;
  return 0;
}

vmpt_snapshot *vmpt_snapshot_take(vmp_region *region) {
  const size_t page = vmp_page_size();
  vmpt_snapshot *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->base = vmp_base(region);
  s->size = vmp_size(region);
  s->pages = s->size / page;
  s->span_count = vmp_span_count(region);
  s->spans = calloc(s->span_count + 1, sizeof *s->spans);
  s->page_prot = calloc(s->pages + 1, sizeof *s->page_prot);
  s->page_hash = calloc(s->pages + 1, sizeof *s->page_hash);
  if (!s->spans || !s->page_prot || !s->page_hash) goto fail;
  if (vmp_foreach_span(region, collect, s) != 0) s->spans_listed = (size_t)-1;
  for (size_t p = 0; p < s->pages; p++) {
    vmp_span_info info;
    const char *addr = (const char *)s->base + p * page;
    if (vmp_query(region, addr, &info) != 0) {
      s->page_prot[p] = -1;
      continue;
    }
    s->page_prot[p] = info.prot;
    if (info.kind != VMP_PLACEHOLDER) s->page_hash[p] = vmpt_hash_memory(addr, page);
  }
  s->maps = vmpt_maps_region_text(s->base, s->size);
  if (!s->maps) goto fail;
  return s;
fail:
  vmpt_snapshot_free(s);
  return NULL;
}

static int same_span(const vmp_span_info *a, const vmp_span_info *b) {
  return a->start == b->start && a->offset == b->offset && a->size == b->size &&
         a->kind == b->kind && a->prot == b->prot && a->mem == b->mem &&
         a->mem_offset == b->mem_offset;
}

int vmpt_snapshot_compare(const vmpt_snapshot *a, const vmpt_snapshot *b, char *why,
                          size_t why_len) {
  if (a->base != b->base || a->size != b->size) {
    vmpt_say(why, why_len, "region moved or resized");
    return 1;
  }
  if (a->span_count != b->span_count || a->spans_listed != b->spans_listed) {
    vmpt_say(why, why_len, "span count %zu (listed %zu) became %zu (listed %zu)", a->span_count,
        a->spans_listed, b->span_count, b->spans_listed);
    return 1;
  }
  for (size_t i = 0; i < a->spans_listed; i++) {
    if (!same_span(&a->spans[i], &b->spans[i])) {
      vmpt_say(why, why_len,
          "span %zu was %s offset %zu size %zu prot %d, became %s offset %zu size %zu prot %d", i,
          vmp_kind_name(a->spans[i].kind), a->spans[i].offset, a->spans[i].size, a->spans[i].prot,
          vmp_kind_name(b->spans[i].kind), b->spans[i].offset, b->spans[i].size,
          b->spans[i].prot);
      return 1;
    }
  }
  for (size_t p = 0; p < a->pages; p++) {
    if (a->page_prot[p] != b->page_prot[p]) {
      vmpt_say(why, why_len, "page %zu protection %d became %d", p, a->page_prot[p], b->page_prot[p]);
      return 1;
    }
    if (a->page_hash[p] != b->page_hash[p]) {
      vmpt_say(why, why_len, "page %zu contents changed", p);
      return 1;
    }
  }
  if (strcmp(a->maps, b->maps) != 0) {
    vmpt_say(why, why_len, "kernel mappings changed:\n--- before\n%s--- after\n%s", a->maps, b->maps);
    return 1;
  }
  return 0;
}

void vmpt_snapshot_free(vmpt_snapshot *s) {
  if (!s) return;
  free(s->spans);
  free(s->page_prot);
  free(s->page_hash);
  free(s->maps);
  free(s);
}
