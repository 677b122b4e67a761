/* vmplace demo: the two examples the library was built for, written with
 * the public API only, printing the library's span table and the kernel's
 * mappings after each step. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "layout.h"
#include "vmplace.h"

typedef struct named_object {
  const vmp_mem *mem;
  const char *name;
} named_object;

typedef struct demo {
  size_t page;
  int failures;
  named_object objects[2];
} demo;

static const char *object_name(const vmp_mem *mem, void *arg) {
  const demo *d = arg;
  for (size_t i = 0; i < sizeof d->objects / sizeof d->objects[0]; i++)
    if (d->objects[i].mem != NULL && d->objects[i].mem == mem) return d->objects[i].name;
  return NULL;
}

/* Prints the outcome of one call; returns whether it succeeded. */
static int step(demo *d, int rc, const char *what) {
  if (rc == 0) {
    printf("  %s: ok\n", what);
    return 1;
  }
  printf("  %s: FAILED %s (%s)\n", what, vmp_err_name(rc), vmp_strerror(rc));
  d->failures++;
  return 0;
}

static int check(demo *d, int ok, const char *what) {
  printf("  %s: %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) d->failures++;
  return ok;
}

static void show(demo *d, vmp_region *region) {
  vmp_cli_print_spans(stdout, region, "    ", object_name, d);
  vmp_cli_print_kernel_maps(stdout, region, "    ");
}

static void print_bytes(const char *label, const unsigned char *p, size_t n) {
  printf("    %s:", label);
  for (size_t i = 0; i < n; i++) printf(" %02x", p[i]);
  putchar('\n');
}

/* The view size: 64 KiB, or one page where pages are larger. */
static size_t view_bytes(size_t page) {
  size_t want = 64 * 1024;
  return want < page ? page : (want + page - 1) / page * page;
}

static void adjacent_views(demo *d) {
  size_t view = view_bytes(d->page);
  vmp_region *region = NULL;
  vmp_mem *a = NULL, *b = NULL;
  char what[128];

  printf("== 1. Two memory objects side by side in one reservation ==\n");
  snprintf(what, sizeof what, "reserve %zu KiB (%zu pages)", 2 * view / 1024, 2 * view / d->page);
  if (!step(d, vmp_reserve(2 * view, 0, &region), what)) return;
  printf("    base 0x%" PRIxPTR "\n", (uintptr_t)vmp_base(region));
  show(d, region);

  snprintf(what, sizeof what, "split into two placeholders of %zu pages", view / d->page);
  if (!step(d, vmp_split(region, 0, view), what)) goto out;
  show(d, region);

  if (!step(d, vmp_mem_create(view, 0, &a), "create object A") ||
      !step(d, vmp_mem_create(view, 0, &b), "create object B"))
    goto out;
  d->objects[0] = (named_object){a, "A"};
  d->objects[1] = (named_object){b, "B"};

  if (!step(d, vmp_map(region, 0, view, a, 0, VMP_PROT_RW), "map A over the first placeholder"))
    goto out;
  show(d, region);
  if (!step(d, vmp_map(region, view, view, b, 0, VMP_PROT_RW), "map B over the second placeholder"))
    goto out;
  show(d, region);

  unsigned char *base = vmp_base(region);
  memset(base, 0x11, view);
  memset(base + view, 0x22, view);
  printf("  wrote 0x11 through A's view and 0x22 through B's view\n");
  print_bytes("4 bytes around the seam", base + view - 2, 4);
  const unsigned char seam[4] = {0x11, 0x11, 0x22, 0x22};
  check(d, memcmp(base + view - 2, seam, sizeof seam) == 0,
        "one pointer runs from the end of A into the start of B");

out:
  step(d, vmp_release(region), "release the region");
  d->objects[0].mem = d->objects[1].mem = NULL;
  vmp_mem_close(a);
  vmp_mem_close(b);
}

static void ring_buffer(demo *d) {
  size_t ring = view_bytes(d->page);
  vmp_region *region = NULL;
  vmp_mem *m = NULL;
  char what[128];

  printf("\n== 2. A ring buffer: one object mapped twice, back to back ==\n");
  snprintf(what, sizeof what, "reserve %zu KiB (%zu pages)", 2 * ring / 1024, 2 * ring / d->page);
  if (!step(d, vmp_reserve(2 * ring, 0, &region), what)) return;
  printf("    base 0x%" PRIxPTR "\n", (uintptr_t)vmp_base(region));
  show(d, region);
  if (!step(d, vmp_split(region, 0, ring), "split into two placeholders")) goto out;
  show(d, region);
  snprintf(what, sizeof what, "create object M (%zu KiB)", ring / 1024);
  if (!step(d, vmp_mem_create(ring, 0, &m), what)) goto out;
  d->objects[0] = (named_object){m, "M"};
  if (!step(d, vmp_map(region, 0, ring, m, 0, VMP_PROT_RW), "map M at the start")) goto out;
  show(d, region);
  if (!step(d, vmp_map(region, ring, ring, m, 0, VMP_PROT_RW), "map M again right after it"))
    goto out;
  show(d, region);

  static const char message[] = "written-across-the-seam";
  size_t len = sizeof message - 1, before = 8;
  unsigned char *base = vmp_base(region);
  memcpy(base + ring - before, message, len);
  printf("  wrote \"%s\" (%zu bytes) starting %zu bytes before the seam\n", message, len, before);
  printf("    start of the first copy reads  \"%.*s\"\n", (int)(len - before), (const char *)base);
  printf("    end of the second copy reads   \"%.*s\"\n", (int)before,
         (const char *)base + 2 * ring - before);
  check(d, memcmp(base, message + before, len - before) == 0,
        "the bytes past the seam wrapped to the ring's start");
  check(d, memcmp(base + 2 * ring - before, message, before) == 0,
        "the bytes before the seam appear at the mirror's end");

out:
  step(d, vmp_release(region), "release the region");
  d->objects[0].mem = NULL;
  vmp_mem_close(m);
}

int vmp_cli_demo(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fputs("usage: vmplace demo\n", stderr);
    return 2;
  }
  demo d;
  memset(&d, 0, sizeof d);
  d.page = vmp_page_size();
  printf("backend %s, page %zu bytes\n\n", vmp_backend_name(), d.page);
  adjacent_views(&d);
  ring_buffer(&d);
  if (d.failures != 0)
    printf("\n%d step%s failed\n", d.failures, d.failures == 1 ? "" : "s");
  else
    printf("\nall steps succeeded\n");
  return d.failures == 0 ? 0 : 1;
}
