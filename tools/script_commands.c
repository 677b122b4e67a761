/* The commands of the scenario language, one handler each. Arguments are
 * parsed here; what counts as passing is decided in script.c. */
#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "layout.h"
#include "probe.h"
#include "script_internal.h"
#include "tempfile.h"

/* ---- argument parsing ---------------------------------------------------- */

/* A page or byte count: decimal digits, optionally ending in b for bytes.
 * A page count whose byte value does not fit in 64 bits becomes the
 * largest page multiple that does: the library must see a huge aligned
 * value (and answer ERANGE), not a wrapped small one. */
static int parse_amount(const vmp_interp *in, const char *word, const char *what, uint64_t *bytes,
                        interp_check *chk) {
  size_t len = strlen(word);
  int in_bytes = len > 1 && word[len - 1] == 'b';
  size_t digits = in_bytes ? len - 1 : len;
  uint64_t value = 0;
  int valid = digits > 0;
  for (size_t i = 0; valid && i < digits; i++) {
    if (!isdigit((unsigned char)word[i])) {
      valid = 0;
      break;
    }
    unsigned d = (unsigned)(word[i] - '0');
    if (value > (UINT64_MAX - d) / 10) {
      interp_parse_error(chk, what, "'%s', which does not fit in 64 bits", word);
      return 0;
    }
    value = value * 10 + d;
  }
  if (!valid) {
    interp_parse_error(chk, what, "'%s'", word);
    return 0;
  }
  if (in_bytes)
    *bytes = value;
  else if (value > UINT64_MAX / in->page)
    *bytes = UINT64_MAX - (uint64_t)in->page + 1;
  else
    *bytes = value * (uint64_t)in->page;
  return 1;
}

/* Same, as a size_t, saturating the same way on 32-bit machines. */
static int parse_size(const vmp_interp *in, const char *word, const char *what, size_t *out,
                      interp_check *chk) {
  uint64_t bytes;
  if (!parse_amount(in, word, what, &bytes, chk)) return 0;
  if (bytes > SIZE_MAX)
    *out = bytes % in->page == 0 ? SIZE_MAX - in->page + 1 : SIZE_MAX;
  else
    *out = (size_t)bytes;
  return 1;
}

static int parse_count(const char *word, const char *what, uint64_t *out, interp_check *chk) {
  uint64_t value = 0;
  int valid = word[0] != '\0';
  for (const char *p = word; valid && *p != '\0'; p++) {
    unsigned d = (unsigned)(*p - '0');
    valid = isdigit((unsigned char)*p) && value <= (UINT64_MAX - d) / 10;
    value = value * 10 + d;
  }
  if (!valid) {
    interp_parse_error(chk, what, "'%s'", word);
    return 0;
  }
  *out = value;
  return 1;
}

/* 0x00..0xff or 0..255. */
static int parse_byte(const char *word, unsigned char *out, interp_check *chk) {
  const char *p = word;
  unsigned base = 10, value = 0;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    base = 16;
    p += 2;
  }
  int valid = *p != '\0' && strlen(p) <= 3;
  for (; valid && *p != '\0'; p++) {
    int c = tolower((unsigned char)*p);
    unsigned d;
    if (isdigit(c))
      d = (unsigned)(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = (unsigned)(c - 'a' + 10);
    else {
      valid = 0;
      break;
    }
    value = value * base + d;
  }
  if (!valid || value > 0xff) {
    interp_parse_error(chk, "BYTE (0x00..0xff)", "'%s'", word);
    return 0;
  }
  *out = (unsigned char)value;
  return 1;
}

/* none, or letters r, w, x each at most once. Combinations the library
 * refuses (w, x, wx) are accepted here so that scripts can test EINVAL. */
static int parse_prot(const char *word, int *out, interp_check *chk) {
  if (strcmp(word, "none") == 0) {
    *out = VMP_PROT_NONE;
    return 1;
  }
  int prot = 0;
  int valid = word[0] != '\0';
  for (const char *p = word; valid && *p != '\0'; p++) {
    int bit = *p == 'r'   ? VMP_PROT_READ
              : *p == 'w' ? VMP_PROT_WRITE
              : *p == 'x' ? VMP_PROT_EXEC
                          : 0;
    valid = bit != 0 && (prot & bit) == 0;
    prot |= bit;
  }
  if (!valid) {
    interp_parse_error(chk, "PROT (none, r, rw, rx or rwx)", "'%s'", word);
    return 0;
  }
  *out = prot;
  return 1;
}

/* Prints a byte amount the way scripts write it: pages, or bytes with b. */
static const char *amount_text(const vmp_interp *in, uint64_t bytes, char *buf, size_t len) {
  if (bytes % in->page == 0)
    snprintf(buf, len, "%" PRIu64, bytes / in->page);
  else
    snprintf(buf, len, "%" PRIu64 "b", bytes);
  return buf;
}

/* ---- region operations ------------------------------------------------- */

/* The optional last word align=PAGES (0 when it is not there). */
static int parse_align(vmp_interp *in, char *word, size_t *alignment, interp_check *chk) {
  *alignment = 0;
  if (word == NULL) return 1;
  if (strncmp(word, "align=", 6) != 0) {
    interp_parse_error(chk, "align=PAGES", "'%s'", word);
    return 0;
  }
  return parse_size(in, word + 6, "align=PAGES", alignment, chk);
}

static void cmd_reserve(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  size_t size, alignment;
  if (!interp_name_available(in, args[0], chk) ||
      !parse_size(in, args[1], "SIZE (pages, or bytes ending in b)", &size, chk) ||
      !parse_align(in, nargs == 3 ? args[2] : NULL, &alignment, chk))
    return;
  vmp_region *region = NULL;
  chk->rc = vmp_reserve(size, alignment, &region);
  if (chk->rc == 0) chk->rc = interp_bind_region(in, args[0], region);
}

/* ---- placement: addresses counted from a region's base ------------------ */

/* The base of region `anchor` (reserved now or released) plus the amount
 * in `off_word`. Scripts name addresses this way because no absolute
 * address is free on every system. A sum past the top of the address
 * space becomes the highest address with the same remainder modulo the
 * granularity: the library sees a huge address (ERANGE), never a wrapped
 * small one, and a misaligned one still gets EALIGN first. */
static int anchor_address(vmp_interp *in, const char *anchor, const char *off_word,
                          const char *what, uintptr_t *out, interp_check *chk) {
  uintptr_t base;
  uint64_t off;
  if (interp_anchor(in, anchor, &base, chk) != 0 || !parse_amount(in, off_word, what, &off, chk))
    return 0;
  if (off <= (uint64_t)(UINTPTR_MAX - base)) {
    *out = base + (uintptr_t)off;
    return 1;
  }
  uintptr_t grain = (uintptr_t)vmp_granularity();
  uintptr_t residue = (uintptr_t)(((uint64_t)(base % grain) + off % grain) % grain);
  *out = UINTPTR_MAX - grain + 1 + residue;
  return 1;
}

/* An address as the scripts write it: the anchor's name and a distance. */
static const char *relative_text(const vmp_interp *in, const char *anchor, uintptr_t base,
                                 uintptr_t addr, char *buf, size_t len) {
  char amount[32];
  if (addr >= base)
    snprintf(buf, len, "%s + %s", anchor, amount_text(in, addr - base, amount, sizeof amount));
  else
    snprintf(buf, len, "%s - %s", anchor, amount_text(in, base - addr, amount, sizeof amount));
  return buf;
}

static void cmd_reserve_at(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  uintptr_t addr;
  size_t size;
  if (!interp_name_available(in, args[0], chk) ||
      !anchor_address(in, args[1], args[2], "OFF (pages, or bytes ending in b)", &addr, chk) ||
      !parse_size(in, args[3], "SIZE (pages, or bytes ending in b)", &size, chk))
    return;
  vmp_region *region = NULL;
  chk->rc = vmp_reserve_at((void *)addr, size, &region);
  if (chk->rc == 0) chk->rc = interp_bind_region(in, args[0], region);
}

static void cmd_reserve_in(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  uintptr_t lowest, highest;
  size_t size, alignment;
  if (!interp_name_available(in, args[0], chk) ||
      !parse_size(in, args[1], "SIZE (pages, or bytes ending in b)", &size, chk) ||
      !anchor_address(in, args[2], args[3], "LOW (pages, or bytes ending in b)", &lowest, chk) ||
      !anchor_address(in, args[2], args[4], "HIGH (pages, or bytes ending in b)", &highest, chk) ||
      !parse_align(in, nargs == 6 ? args[5] : NULL, &alignment, chk))
    return;
  vmp_region *region = NULL;
  chk->rc = vmp_reserve_in(lowest, highest, size, alignment, &region);
  if (chk->rc == 0) chk->rc = interp_bind_region(in, args[0], region);
}

static void cmd_at(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  uintptr_t want, anchor;
  vmp_region *region = interp_region(in, args[0], chk);
  if (region == NULL ||
      !anchor_address(in, args[1], args[2], "OFF (pages, or bytes ending in b)", &want, chk))
    return;
  interp_anchor(in, args[1], &anchor, chk);
  uintptr_t base = (uintptr_t)vmp_base(region);
  if (base != want) {
    char e[64], g[64];
    interp_mismatch(chk, relative_text(in, args[1], anchor, want, e, sizeof e), "%s",
                    relative_text(in, args[1], anchor, base, g, sizeof g));
  }
}

static void cmd_within(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  uintptr_t lowest, highest, anchor;
  vmp_region *region = interp_region(in, args[0], chk);
  if (region == NULL ||
      !anchor_address(in, args[1], args[2], "LOW (pages, or bytes ending in b)", &lowest, chk) ||
      !anchor_address(in, args[1], args[3], "HIGH (pages, or bytes ending in b)", &highest, chk))
    return;
  interp_anchor(in, args[1], &anchor, chk);
  uintptr_t base = (uintptr_t)vmp_base(region), end = base + vmp_size(region);
  if (base < lowest || end > highest) {
    char e1[64], e2[64], g1[64], g2[64], expected[INTERP_TEXT_MAX];
    snprintf(expected, sizeof expected, "%s inside %s .. %s", args[0],
             relative_text(in, args[1], anchor, lowest, e1, sizeof e1),
             relative_text(in, args[1], anchor, highest, e2, sizeof e2));
    interp_mismatch(chk, expected, "%s .. %s",
                    relative_text(in, args[1], anchor, base, g1, sizeof g1),
                    relative_text(in, args[1], anchor, end, g2, sizeof g2));
  }
}

typedef int range_op(vmp_region *region, size_t off, size_t size);

/* OFF SIZE after the region name. */
static vmp_region *region_range(vmp_interp *in, char **args, size_t *off, size_t *size,
                                interp_check *chk) {
  vmp_region *region = interp_region(in, args[0], chk);
  if (region == NULL || !parse_size(in, args[1], "OFF (pages, or bytes ending in b)", off, chk) ||
      !parse_size(in, args[2], "SIZE (pages, or bytes ending in b)", size, chk))
    return NULL;
  return region;
}

static void run_range_op(vmp_interp *in, char **args, interp_check *chk, range_op *op) {
  size_t off, size;
  vmp_region *region = region_range(in, args, &off, &size, chk);
  if (region != NULL) chk->rc = op(region, off, size);
}

static void cmd_split(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_range_op(in, args, chk, vmp_split);
}

static void cmd_coalesce(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_range_op(in, args, chk, vmp_coalesce);
}

static void cmd_unmap(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_range_op(in, args, chk, vmp_unmap);
}

static void cmd_unmap_coalesce(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_range_op(in, args, chk, vmp_unmap_coalesce);
}

static void cmd_discard(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_range_op(in, args, chk, vmp_discard);
}

/* `R OFF SIZE PROT` handed to fn. */
static void run_prot_op(vmp_interp *in, char **args, interp_check *chk,
                        int (*fn)(vmp_region *, size_t, size_t, int)) {
  size_t off, size;
  int prot;
  vmp_region *region = region_range(in, args, &off, &size, chk);
  if (region != NULL && parse_prot(args[3], &prot, chk)) chk->rc = fn(region, off, size, prot);
}

static void cmd_commit(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_prot_op(in, args, chk, vmp_commit);
}

static void cmd_carve_commit(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_prot_op(in, args, chk, vmp_carve_commit);
}

static void cmd_protect(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_prot_op(in, args, chk, vmp_protect);
}

/* `R OFF SIZE M MOFF PROT` handed to fn. */
static void run_map_op(vmp_interp *in, char **args, interp_check *chk,
                       int (*fn)(vmp_region *, size_t, size_t, vmp_mem *, uint64_t, int)) {
  size_t off, size;
  uint64_t mem_off;
  int prot;
  vmp_region *region = region_range(in, args, &off, &size, chk);
  if (region == NULL) return;
  vmp_mem *mem = interp_mem(in, args[3], chk);
  if (mem == NULL ||
      !parse_amount(in, args[4], "MOFF (pages, or bytes ending in b)", &mem_off, chk) ||
      !parse_prot(args[5], &prot, chk))
    return;
  chk->rc = fn(region, off, size, mem, mem_off, prot);
}

static void cmd_map(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_map_op(in, args, chk, vmp_map);
}

static void cmd_carve_map(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_map_op(in, args, chk, vmp_carve_map);
}

static void cmd_release(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  vmp_region *region = interp_region(in, args[0], chk);
  if (region == NULL) return;
  chk->rc = vmp_release(region);
  /* The handle is gone whatever release said: a second release would be a
   * use after free. */
  interp_forget_region(in, args[0]);
}

/* ---- memory objects ---------------------------------------------------- */

static void cmd_mem(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  uint64_t size;
  if (!interp_name_available(in, args[0], chk) ||
      !parse_amount(in, args[1], "SIZE (pages, or bytes ending in b)", &size, chk))
    return;
  vmp_mem *mem = NULL;
  chk->rc = vmp_mem_create(size, 0, &mem);
  if (chk->rc == 0) chk->rc = interp_bind_mem(in, args[0], mem);
}

static void cmd_file(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  uint64_t size;
  if (!interp_name_available(in, args[0], chk) ||
      !parse_amount(in, args[1], "SIZE (pages, or bytes ending in b)", &size, chk))
    return;
  unsigned flags;
  if (strcmp(args[2], "ro") == 0)
    flags = VMP_MEM_READ;
  else if (strcmp(args[2], "rw") == 0)
    flags = VMP_MEM_RW;
  else {
    interp_parse_error(chk, "ro or rw", "'%s'", args[2]);
    return;
  }
  vmp_mem *mem = NULL;
  chk->rc = vmp_cli_temp_file(size, flags, &mem);
  if (chk->rc == 0) chk->rc = interp_bind_mem(in, args[0], mem);
}

/* ---- memory access ----------------------------------------------------- */

/* The address of page OFF of the region, after the same checks the library
 * makes (EALIGN, then ERANGE), so that an access outside is an error
 * result and never a touch of memory the region does not own. */
static unsigned char *page_address(vmp_interp *in, char **args, interp_check *chk) {
  vmp_region *region = interp_region(in, args[0], chk);
  size_t off;
  if (region == NULL || !parse_size(in, args[1], "OFF (pages, or bytes ending in b)", &off, chk))
    return NULL;
  if (off % in->page != 0)
    chk->rc = VMP_EALIGN;
  else if (off >= vmp_size(region))
    chk->rc = VMP_ERANGE;
  if (chk->rc != 0) return NULL;
  return (unsigned char *)vmp_base(region) + off;
}

static void cmd_poke(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  unsigned char value;
  if (!parse_byte(args[2], &value, chk)) return;
  unsigned char *page = page_address(in, args, chk);
  if (page == NULL) return;
  if (vmp_probe_write(page, value))
    interp_mismatch(chk, "ok", "fault writing the first byte of page %s", args[1]);
  else if (vmp_probe_write(page + in->page - 1, value))
    interp_mismatch(chk, "ok", "fault writing the last byte of page %s", args[1]);
}

static void cmd_peek(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  unsigned char want, first, last;
  if (!parse_byte(args[2], &want, chk)) return;
  unsigned char *page = page_address(in, args, chk);
  if (page == NULL) return;
  if (vmp_probe_read(page, &first))
    interp_mismatch(chk, args[2], "fault reading the first byte of page %s", args[1]);
  else if (vmp_probe_read(page + in->page - 1, &last))
    interp_mismatch(chk, args[2], "fault reading the last byte of page %s", args[1]);
  else if (first != want || last != want) {
    char expected[32];
    snprintf(expected, sizeof expected, "0x%02x", want);
    if (first == last)
      interp_mismatch(chk, expected, "0x%02x", first);
    else
      interp_mismatch(chk, expected, "0x%02x (first byte), 0x%02x (last byte)", first, last);
  }
}

/* Does touching `p` fault? A write probe first reads the byte and writes
 * the same value back, so a check that finds the page writable leaves its
 * contents unchanged. */
static int access_faults(unsigned char *p, int write) {
  unsigned char value = 0;
  int read_faulted = vmp_probe_read(p, &value);
  if (!write) return read_faulted;
  return vmp_probe_write(p, value);
}

static void cmd_fault(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  int write;
  if (strcmp(args[2], "read") == 0)
    write = 0;
  else if (strcmp(args[2], "write") == 0)
    write = 1;
  else {
    interp_parse_error(chk, "read or write", "'%s'", args[2]);
    return;
  }
  unsigned char *page = page_address(in, args, chk);
  if (page == NULL) return;
  const char *what = write ? "writing" : "reading";
  if (!access_faults(page, write))
    interp_mismatch(chk, "a fault", "no fault %s the first byte of page %s", what, args[1]);
  else if (!access_faults(page + in->page - 1, write))
    interp_mismatch(chk, "a fault", "no fault %s the last byte of page %s", what, args[1]);
}

/* ---- layout checks ----------------------------------------------------- */

static void cmd_span(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  vmp_region *region = interp_region(in, args[0], chk);
  uint64_t off, start, size;
  if (region == NULL || !parse_amount(in, args[1], "OFF (pages, or bytes ending in b)", &off, chk))
    return;
  vmp_kind kind;
  if (strcmp(args[2], "placeholder") == 0)
    kind = VMP_PLACEHOLDER;
  else if (strcmp(args[2], "private") == 0)
    kind = VMP_PRIVATE;
  else if (strcmp(args[2], "view") == 0)
    kind = VMP_VIEW;
  else {
    interp_parse_error(chk, "KIND (placeholder, private or view)", "'%s'", args[2]);
    return;
  }
  if (!parse_amount(in, args[3], "START (pages, or bytes ending in b)", &start, chk) ||
      !parse_amount(in, args[4], "SIZE (pages, or bytes ending in b)", &size, chk))
    return;

  /* Unsigned arithmetic: an offset past the end wraps to an address that
   * is still outside the region, which is what the query must report. */
  uintptr_t addr = (uintptr_t)vmp_base(region) + (uintptr_t)off;
  if ((uint64_t)(uintptr_t)off != off)
    addr = (uintptr_t)vmp_base(region) - 1; /* beyond a 32-bit address space */
  vmp_span_info info;
  chk->rc = vmp_query(region, (const void *)addr, &info);
  if (chk->rc != 0) return;
  if (info.kind != kind || info.offset != start || info.size != size) {
    char e1[32], e2[32], g1[32], g2[32], expected[INTERP_TEXT_MAX];
    snprintf(expected, sizeof expected, "%s %s %s", vmp_kind_name(kind),
             amount_text(in, start, e1, sizeof e1), amount_text(in, size, e2, sizeof e2));
    interp_mismatch(chk, expected, "%s %s %s", vmp_kind_name(info.kind),
                    amount_text(in, info.offset, g1, sizeof g1),
                    amount_text(in, info.size, g2, sizeof g2));
  }
}

/* `NAME N`: the region's count of `noun`s (spans, or the kernel mappings
 * vmp_mapping_count() derives from them) must be N. */
static void check_count(vmp_interp *in, char **args, interp_check *chk, const char *noun,
                        size_t (*count_of)(vmp_region *)) {
  vmp_region *region = interp_region(in, args[0], chk);
  char what[64];
  snprintf(what, sizeof what, "N (a number of %ss)", noun);
  uint64_t want;
  if (region == NULL || !parse_count(args[1], what, &want, chk)) return;
  size_t count = count_of(region);
  if ((uint64_t)count != want) {
    char expected[64];
    snprintf(expected, sizeof expected, "%" PRIu64 " %s%s", want, noun, want == 1 ? "" : "s");
    interp_mismatch(chk, expected, "%zu %s%s", count, noun, count == 1 ? "" : "s");
  }
}

static void cmd_spans(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  check_count(in, args, chk, "span", vmp_span_count);
}

static void cmd_mappings(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  check_count(in, args, chk, "mapping", vmp_mapping_count);
}

static void cmd_carve(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  run_range_op(in, args, chk, vmp_carve);
}

static void cmd_label(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  size_t off, size;
  vmp_region *region = region_range(in, args, &off, &size, chk);
  if (region != NULL) chk->rc = vmp_label(region, off, size, args[3]);
}

static void cmd_extend(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  size_t more;
  vmp_region *region = interp_region(in, args[0], chk);
  if (region != NULL && parse_size(in, args[1], "SIZE (pages, or bytes ending in b)", &more, chk))
    chk->rc = vmp_extend(region, more);
}

static void cmd_aligned(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  vmp_region *region = interp_region(in, args[0], chk);
  uint64_t alignment;
  if (region == NULL ||
      !parse_amount(in, args[1], "PAGES (pages, or bytes ending in b)", &alignment, chk))
    return;
  if (alignment == 0) {
    interp_parse_error(chk, "PAGES greater than 0", "'%s'", args[1]);
    return;
  }
  uintptr_t base = (uintptr_t)vmp_base(region);
  if ((uint64_t)base % alignment != 0) {
    char expected[96], text[32];
    snprintf(expected, sizeof expected, "a base that is a multiple of %s pages",
             amount_text(in, alignment, text, sizeof text));
    interp_mismatch(chk, expected, "base 0x%" PRIxPTR, base);
  }
}

/* ---- shell helpers ----------------------------------------------------- */

static void cmd_show(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)nargs;
  vmp_region *region = interp_region(in, args[0], chk);
  if (region == NULL) return;
  size_t spans = vmp_span_count(region);
  fprintf(in->out, "region %s: base 0x%" PRIxPTR ", %zu pages, %zu span%s\n", args[0],
          (uintptr_t)vmp_base(region), vmp_size(region) / in->page, spans, spans == 1 ? "" : "s");
  int rc = vmp_cli_print_spans(in->out, region, "  ", interp_mem_name, in);
  if (rc != 0) fprintf(in->out, "  (listing failed: %s: %s)\n", vmp_err_name(rc), vmp_strerror(rc));
}

static void cmd_help(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)args, (void)nargs, (void)chk;
  vmp_interp_print_help(in->out);
}

static void cmd_quit(vmp_interp *in, char **args, int nargs, interp_check *chk) {
  (void)args, (void)nargs, (void)chk;
  in->quit = 1;
}

const interp_command interp_commands[] = {
    {"reserve", 2, 3, "reserve R SIZE [align=PAGES]", "reserve region R", 1, 0, cmd_reserve},
    {"split", 3, 3, "split R OFF SIZE", "split a placeholder", 1, 0, cmd_split},
    {"coalesce", 3, 3, "coalesce R OFF SIZE", "merge placeholders", 1, 0, cmd_coalesce},
    {"carve", 3, 3, "carve R OFF SIZE", "make the range a placeholder of its own", 1, 0, cmd_carve},
    {"extend", 2, 2, "extend R SIZE", "grow R in place by a placeholder", 1, 0, cmd_extend},
    {"reserve_at", 4, 4, "reserve_at R A OFF SIZE", "reserve R exactly at A's base + OFF", 1, 0,
     cmd_reserve_at},
    {"reserve_in", 5, 6, "reserve_in R SIZE A LOW HIGH [align=PAGES]",
     "reserve R inside [A's base + LOW, A's base + HIGH)", 1, 0, cmd_reserve_in},
    {"label", 4, 4, "label R OFF SIZE NAME", "name private pages in the process's map", 1, 0,
     cmd_label},
    {"commit", 4, 4, "commit R OFF SIZE PROT", "placeholder to private memory", 1, 0, cmd_commit},
    {"carve_commit", 4, 4, "carve_commit R OFF SIZE PROT",
     "part of a placeholder to private memory", 1, 0, cmd_carve_commit},
    {"mem", 2, 2, "mem M SIZE", "create anonymous shared memory M", 1, 0, cmd_mem},
    {"file", 3, 3, "file F SIZE ro|rw", "create a temporary file, open it as F", 1, 0, cmd_file},
    {"map", 6, 6, "map R OFF SIZE M MOFF PROT", "placeholder to view of M at MOFF", 1, 0, cmd_map},
    {"carve_map", 6, 6, "carve_map R OFF SIZE M MOFF PROT",
     "part of a placeholder to view of M at MOFF", 1, 0, cmd_carve_map},
    {"unmap", 3, 3, "unmap R OFF SIZE", "back to placeholder", 1, 0, cmd_unmap},
    {"unmap_coalesce", 3, 3, "unmap_coalesce R OFF SIZE",
     "back to placeholder, merged with the placeholders beside it", 1, 0, cmd_unmap_coalesce},
    {"protect", 4, 4, "protect R OFF SIZE PROT", "change protection", 1, 0, cmd_protect},
    {"discard", 3, 3, "discard R OFF SIZE", "discard private pages", 1, 0, cmd_discard},
    {"release", 1, 1, "release R", "release region R", 1, 0, cmd_release},
    {"poke", 3, 3, "poke R OFF BYTE", "write BYTE to first and last byte of page OFF", 1, 0,
     cmd_poke},
    {"peek", 3, 3, "peek R OFF BYTE", "expect first and last byte of page OFF to be BYTE", 1, 0,
     cmd_peek},
    {"fault", 3, 3, "fault R OFF read|write", "expect the access to page OFF to fault", 1, 0,
     cmd_fault},
    {"span", 5, 5, "span R OFF KIND START SIZE", "expect the span holding page OFF", 1, 0,
     cmd_span},
    {"spans", 2, 2, "spans R N", "expect R to hold N spans", 1, 0, cmd_spans},
    {"mappings", 2, 2, "mappings R N", "expect R to cost N kernel mappings", 1, 0, cmd_mappings},
    {"aligned", 2, 2, "aligned R PAGES", "expect R's base to be a multiple of PAGES pages", 1, 0,
     cmd_aligned},
    {"at", 3, 3, "at R A OFF", "expect R's base to be A's base + OFF", 1, 0, cmd_at},
    {"within", 4, 4, "within R A LOW HIGH", "expect R inside [A's base + LOW, A's base + HIGH)", 1,
     0, cmd_within},
    {"show", 1, 1, "show R", "print R's spans (checks nothing)", 0, 0, cmd_show},
    {"help", 0, 0, "help", "this list (shell only)", 0, 1, cmd_help},
    {"quit", 0, 0, "quit", "leave the shell (shell only)", 0, 1, cmd_quit},
};

const size_t interp_command_count = sizeof interp_commands / sizeof interp_commands[0];
