#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#endif
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#endif

#include "support_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support_check.h"

size_t util_page(void) { return vmp_page_size(); }

size_t util_grain(void) {
  size_t page = vmp_page_size(), grain = 65536;
  return grain < page ? page : (grain + page - 1) / page * page;
}

/* Platform facts (the C library's and the file system's, not the
 * backend's): what a missing file is called, whether a directory opens. */
#if defined(_WIN32)
const char *util_missing_file_error_name(void) { return "OS:ERROR_FILE_NOT_FOUND"; }
int util_directories_open(void) { return 0; }
static const int system_errors[] = {ERROR_NOT_ENOUGH_MEMORY, ERROR_IO_DEVICE, ERROR_ACCESS_DENIED};
#else
const char *util_missing_file_error_name(void) { return "OS:ENOENT"; }
int util_directories_open(void) { return 1; }
static const int system_errors[] = {ENOMEM, EIO, EACCES};
#endif

int util_system_error(util_error which) { return system_errors[which]; }

intptr_t util_open_native(const char *path, int writable) {
#if defined(_WIN32)
  HANDLE h = CreateFileA(path, GENERIC_READ | (writable ? GENERIC_WRITE : 0),
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                         OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  return h == INVALID_HANDLE_VALUE ? -1 : (intptr_t)h;
#else
  return open(path, writable ? O_RDWR : O_RDONLY);
#endif
}

int util_native_usable(intptr_t fd) {
#if defined(_WIN32)
  LARGE_INTEGER size;
  return GetFileSizeEx((HANDLE)fd, &size) != 0;
#else
  return fcntl((int)fd, F_GETFD) != -1;
#endif
}

void util_close_native(intptr_t fd) {
#if defined(_WIN32)
  CloseHandle((HANDLE)fd);
#else
  close((int)fd);
#endif
}

unsigned char util_pattern(unsigned seed, size_t i) {
  return (unsigned char)(seed * 31u + (unsigned)(i / vmp_page_size()) * 7u + 1u);
}

void util_fill(void *p, size_t size, unsigned seed) {
  unsigned char *b = p;
  for (size_t i = 0; i < size; i++) b[i] = util_pattern(seed, i);
}

size_t util_find_mismatch(const void *p, size_t size, unsigned seed) {
  const unsigned char *b = p;
  for (size_t i = 0; i < size; i++)
    if (b[i] != util_pattern(seed, i)) return i;
  return (size_t)-1;
}

int util_all_bytes(const void *p, size_t size, unsigned char value) {
  const unsigned char *b = p;
  for (size_t i = 0; i < size; i++)
    if (b[i] != value) return 0;
  return 1;
}

const char *util_temp_directory(char *buf, size_t len) {
#if defined(_WIN32)
  DWORD n = GetTempPathA((DWORD)len, buf);
  if (n == 0 || n >= len) return ".\\";
  return buf;
#else
  const char *dir = getenv("TMPDIR");
  (void)buf, (void)len;
  return dir && *dir ? dir : "/tmp";
#endif
}

int util_temp_file(char *path, size_t len, size_t size, unsigned seed) {
  static unsigned counter;
  char dir[512];
  const char *d = util_temp_directory(dir, sizeof dir);
  size_t dlen = strlen(d);
  const char *sep = dlen && (d[dlen - 1] == '/' || d[dlen - 1] == '\\') ? "" : "/";
  /* Unique enough for one test process at a time per directory: time,
   * clock, a counter and a stack address. */
  unsigned long tag = (unsigned long)time(NULL) ^ ((unsigned long)clock() << 8) ^
                      (unsigned long)(uintptr_t)&counter;
  int n = snprintf(path, len, "%s%svmpt-%lx-%u.bin", d, sep, tag, counter++);
  if (n < 0 || (size_t)n >= len) return -1;
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf) {
    fclose(f);
    remove(path);
    return -1;
  }
  util_fill(buf, size, seed);
  size_t wrote = fwrite(buf, 1, size, f);
  free(buf);
  if (fclose(f) != 0 || wrote != size) {
    remove(path);
    return -1;
  }
  return 0;
}

int util_read_file(const char *path, size_t offset, void *buf, size_t size) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  int ok = fseek(f, (long)offset, SEEK_SET) == 0 && fread(buf, 1, size, f) == size;
  fclose(f);
  return ok ? 0 : -1;
}

/* ---- region state ---------------------------------------------------------- */

typedef struct span_collector {
  region_state *s;
  int overflow;
} span_collector;

static int collect_span(const vmp_span_info *info, void *arg) {
  span_collector *c = arg;
  if (c->s->span_count == UTIL_MAX_SPANS) {
    c->overflow = 1;
    return 1;
  }
  c->s->spans[c->s->span_count++] = *info;
  return 0;
}

int state_take(vmp_region *r, region_state *s) {
  memset(s, 0, sizeof *s);
  span_collector c = {s, 0};
  if (vmp_foreach_span(r, collect_span, &c) != 0 && c.overflow) return -1;
  size_t page = util_page(), pages = vmp_size(r) / page;
  char *base = vmp_base(r);
  s->base = base;
  s->pages = pages;
  s->have_kernel = kv_take(&s->kernel, base, vmp_size(r)) == 0;
  s->kernel_text = kv_mappings_text(base, vmp_size(r));
  s->bytes = malloc(vmp_size(r));
  s->captured = calloc(pages ? pages : 1, 1);
  s->page_prot = calloc(pages ? pages : 1, sizeof *s->page_prot);
  if (!s->bytes || !s->captured || !s->page_prot) {
    state_free(s);
    return -1;
  }
  for (size_t i = 0; i < pages; i++) {
    vmp_span_info info;
    char *addr = base + i * page;
    int known = vmp_query(r, addr, &info) == 0;
    s->page_prot[i] = known ? info.prot : -1;
    int readable = s->have_kernel
                       ? kv_readable(&s->kernel, i)
                       : known && info.kind != VMP_PLACEHOLDER && (info.prot & VMP_PROT_READ);
    if (readable)
      memcpy(s->bytes + i * page, addr, page);
    else if (!known || info.kind == VMP_PLACEHOLDER || kv_read(addr, s->bytes + i * page, page))
      continue;
    s->captured[i] = 1;
  }
  return 0;
}

void state_free(region_state *s) {
  if (s->have_kernel) kv_free(&s->kernel);
  free(s->kernel_text);
  free(s->bytes);
  free(s->captured);
  free(s->page_prot);
  s->kernel_text = NULL;
  s->bytes = s->captured = NULL;
  s->page_prot = NULL;
  s->have_kernel = 0;
}

static int same_span(const vmp_span_info *a, const vmp_span_info *b) {
  return a->start == b->start && a->offset == b->offset && a->size == b->size &&
         a->kind == b->kind && a->prot == b->prot && a->mem == b->mem &&
         a->mem_offset == b->mem_offset;
}

static int differ(char *why, size_t len, const char *fmt, ...) VMPT_PRINTF(3, 4);
static int differ(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (why && len) vsnprintf(why, len, fmt, ap);
  va_end(ap);
  return 1;
}

int state_compare(const region_state *a, const region_state *b, char *why, size_t len) {
  if (a->base != b->base || a->pages != b->pages)
    return differ(why, len, "the region moved or changed size");
  if (a->span_count != b->span_count)
    return differ(why, len, "%zu spans before, %zu after", a->span_count, b->span_count);
  for (size_t i = 0; i < a->span_count; i++)
    if (!same_span(&a->spans[i], &b->spans[i]))
      return differ(why, len, "span %zu was %s at %zu+%zu prot %d, now %s at %zu+%zu prot %d", i,
                    vmp_kind_name(a->spans[i].kind), a->spans[i].offset, a->spans[i].size,
                    a->spans[i].prot, vmp_kind_name(b->spans[i].kind), b->spans[i].offset,
                    b->spans[i].size, b->spans[i].prot);
  if (a->have_kernel && b->have_kernel) {
    size_t i = kv_first_difference(&a->kernel, &b->kernel);
    if (i != (size_t)-1) {
      char x[160], y[160];
      return differ(why, len, "kernel view changed: before %s, after %s",
                    kv_describe(&a->kernel, i, x, sizeof x),
                    kv_describe(&b->kernel, i, y, sizeof y));
    }
  }
  size_t page = util_page();
  for (size_t i = 0; i < a->pages; i++) {
    if (a->page_prot[i] != b->page_prot[i])
      return differ(why, len, "page %zu had protection %d, has %d now", i, a->page_prot[i],
                    b->page_prot[i]);
    if (a->captured[i] != b->captured[i])
      return differ(why, len, "page %zu was %sreadable, is %sreadable now", i,
                    a->captured[i] ? "" : "not ", b->captured[i] ? "" : "not ");
    if (a->captured[i] && memcmp(a->bytes + i * page, b->bytes + i * page, page) != 0)
      return differ(why, len, "the bytes of page %zu changed", i);
  }
  if (a->kernel_text && b->kernel_text && strcmp(a->kernel_text, b->kernel_text) != 0)
    return differ(why, len, "kernel mappings changed:\n--- before\n%s--- after\n%s", a->kernel_text,
                  b->kernel_text);
  return 0;
}

int state_same(const region_state *a, const region_state *b, const char *file, int line,
               const char *context) {
  char why[8192];
  if (state_compare(a, b, why, sizeof why) == 0) return 1;
  check_failf(file, line, "%s: %s", context, why);
  return 0;
}

int util_kernel_agrees(vmp_region *r, const char *file, int line) {
  kv_snapshot snap;
  char *base = vmp_base(r);
  size_t page = util_page();
  if (kv_take(&snap, base, vmp_size(r)) != 0) return 1; /* the system cannot tell */
  int agrees = 1;
  for (size_t i = 0; i < snap.pages && agrees; i++) {
    vmp_span_info info;
    char *addr = base + i * page;
    if (vmp_query(r, addr, &info) != 0) {
      check_failf(file, line, "vmp_query(page %zu) failed", i);
      agrees = 0;
      break;
    }
    uint64_t view_offset = info.mem_offset + (uint64_t)(addr - (char *)info.start);
    if (!kv_page_matches(&snap, i, info.kind, info.prot, view_offset)) {
      char buf[160];
      check_failf(file, line,
                  "kernel disagrees with vmp_query at page %zu: library says %s prot %d "
                  "(span %zu+%zu), kernel says %s",
                  i, vmp_kind_name(info.kind), info.prot, info.offset / page, info.size / page,
                  kv_describe(&snap, i, buf, sizeof buf));
      agrees = 0;
    }
  }
  kv_free(&snap);
  return agrees;
}

int util_span_is(vmp_region *r, size_t off, vmp_kind kind, size_t start, size_t size,
                 const char *file, int line) {
  vmp_span_info info;
  int rc = vmp_query(r, (char *)vmp_base(r) + off, &info);
  if (rc != 0) {
    check_failf(file, line, "vmp_query(offset %zu) = %s", off, vmp_err_name(rc));
    return 0;
  }
  if (info.kind != kind || info.offset != start || info.size != size ||
      info.start != (char *)vmp_base(r) + start) {
    check_failf(file, line, "span at %zu: expected %s %zu+%zu, got %s %zu+%zu", off,
                vmp_kind_name(kind), start, size, vmp_kind_name(info.kind), info.offset, info.size);
    return 0;
  }
  return 1;
}

/* ---- leftovers ---------------------------------------------------------------------- */

long util_open_handles(void) {
#if defined(_WIN32)
  DWORD count = 0;
  return GetProcessHandleCount(GetCurrentProcess(), &count) ? (long)count : -1;
#else
  long count = 0;
  for (int fd = 0; fd < 4096; fd++) count += fcntl(fd, F_GETFD) != -1;
  return count;
#endif
}

void leftovers_take(leftovers *l) {
  l->have_reserved = kv_reservations_take(&l->reserved) == 0;
  l->handles = util_open_handles();
}

void leftovers_free(leftovers *l) {
  if (l->have_reserved) kv_reservations_free(&l->reserved);
  l->have_reserved = 0;
}

void leftovers_check(leftovers *l, const char *file, int line, const char *context) {
  long handles = util_open_handles();
  if (handles != l->handles)
    check_failf(file, line, "%s: %ld handles left open", context, handles - l->handles);
  kv_reservations after;
  if (l->have_reserved && kv_reservations_take(&after) == 0) {
    uint64_t fresh = kv_reservations_new_bytes(&l->reserved, &after);
    if (fresh)
      check_failf(file, line, "%s: %llu bytes of address space left reserved", context,
                  (unsigned long long)fresh);
    kv_reservations_free(&after);
  }
  leftovers_free(l);
}

int util_region_and_object(size_t region_size, uint64_t object_size, vmp_region **r, vmp_mem **m) {
  if (!CHECK_RC(vmp_reserve(region_size, 0, r), 0)) return 1;
  if (!CHECK_RC(vmp_mem_create(object_size, 0, m), 0)) {
    vmp_release(*r);
    return 1;
  }
  return 0;
}

/* ---- threads ------------------------------------------------------------------------ */

#if defined(_WIN32)
static DWORD WINAPI thread_main(LPVOID p) {
  util_thread *t = p;
  t->fn(t->arg);
  return 0;
}

int util_thread_start(util_thread *t, void (*fn)(void *), void *arg) {
  t->fn = fn;
  t->arg = arg;
  t->system = CreateThread(NULL, 0, thread_main, t, 0, NULL);
  return t->system != NULL;
}

void util_thread_join(util_thread *t) {
  WaitForSingleObject(t->system, INFINITE);
  CloseHandle(t->system);
}

void util_sleep_ms(unsigned ms) { Sleep(ms); }
#else
static void *thread_main(void *p) {
  util_thread *t = p;
  t->fn(t->arg);
  return NULL;
}

int util_thread_start(util_thread *t, void (*fn)(void *), void *arg) {
  pthread_t *id = malloc(sizeof *id);
  if (!id) return 0;
  t->fn = fn;
  t->arg = arg;
  t->system = id;
  if (pthread_create(id, NULL, thread_main, t) == 0) return 1;
  free(id);
  return 0;
}

void util_thread_join(util_thread *t) {
  pthread_join(*(pthread_t *)t->system, NULL);
  free(t->system);
}

void util_sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}
#endif
