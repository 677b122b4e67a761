/*
 * wine-probe: measures how Windows' virtual-memory placeholder calls behave
 * on the system it runs on (written for Wine 10; runs on Windows 10 1803+
 * too). Standalone: no part of the library is used. Each line prints a call,
 * its return value and GetLastError(); docs/wine-facts.md is written from
 * this output.
 *
 *   tools/wine-test probe          (cross-builds it and runs it under wine)
 *
 * Sizes are counted in pages ("p") and addresses as offsets from the
 * reservation being probed.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef MEM_RESERVE_PLACEHOLDER
#define MEM_RESERVE_PLACEHOLDER 0x40000
#endif
#ifndef MEM_REPLACE_PLACEHOLDER
#define MEM_REPLACE_PLACEHOLDER 0x4000
#endif
#ifndef MEM_PRESERVE_PLACEHOLDER
#define MEM_PRESERVE_PLACEHOLDER 0x2
#endif
#ifndef MEM_COALESCE_PLACEHOLDERS
#define MEM_COALESCE_PLACEHOLDERS 0x1
#endif

/* Our own spelling of MEM_EXTENDED_PARAMETER and MEM_ADDRESS_REQUIREMENTS,
 * so the probe builds with old and new MinGW headers alike. */
typedef struct {
  DWORD64 type; /* low 8 bits: MEM_EXTENDED_PARAMETER_TYPE */
  union {
    DWORD64 u64;
    void *pointer;
  } v;
} probe_ext_param;
typedef struct {
  void *lowest;
  void *highest;
  SIZE_T alignment;
} probe_addr_req;
#define PROBE_PARAM_ADDRESS_REQUIREMENTS 1

typedef void *(WINAPI *virtual_alloc2_fn)(HANDLE, void *, SIZE_T, ULONG, ULONG, probe_ext_param *,
                                          ULONG);
typedef void *(WINAPI *map_view3_fn)(HANDLE, HANDLE, void *, ULONG64, SIZE_T, ULONG, ULONG,
                                     probe_ext_param *, ULONG);
typedef BOOL(WINAPI *unmap_view2_fn)(HANDLE, void *, ULONG);
typedef BOOL(WINAPI *unmap_view_ex_fn)(void *, ULONG);

static virtual_alloc2_fn pVirtualAlloc2;
static map_view3_fn pMapViewOfFile3;
static unmap_view2_fn pUnmapViewOfFile2;
static unmap_view_ex_fn pUnmapViewOfFileEx;

static size_t P;       /* page size */
static HANDLE section; /* 64 pages of pagefile-backed memory */

#define PAGES(n) ((SIZE_T)(n)*P)

/* ---- printing --------------------------------------------------------- */

static const char *state_name(DWORD s) {
  switch (s) {
    case MEM_COMMIT:
      return "MEM_COMMIT";
    case MEM_RESERVE:
      return "MEM_RESERVE";
    case MEM_FREE:
      return "MEM_FREE";
    default:
      return "?";
  }
}

static const char *type_name(DWORD t) {
  switch (t) {
    case 0:
      return "0";
    case MEM_PRIVATE:
      return "MEM_PRIVATE";
    case MEM_MAPPED:
      return "MEM_MAPPED";
    case MEM_IMAGE:
      return "MEM_IMAGE";
    default:
      return "?";
  }
}

static void rel(char *buf, size_t n, const void *p, const char *base) {
  if (!p)
    snprintf(buf, n, "NULL");
  else {
    long long d = (long long)((const char *)p - base);
    if (d % (long long)P == 0)
      snprintf(buf, n, "%+lldp", d / (long long)P);
    else
      snprintf(buf, n, "%+lldB", d);
  }
}

/* VirtualQuery, region by region, over [base, base + size). */
static void walk(char *base, size_t npages) {
  char *p = base, *end = base + PAGES(npages);
  while (p < end) {
    MEMORY_BASIC_INFORMATION m;
    SetLastError(0);
    SIZE_T n = VirtualQuery(p, &m, sizeof m);
    if (!n) {
      printf("      VirtualQuery(+%lldp) failed, err %lu\n", (long long)((p - base) / (long long)P),
             GetLastError());
      return;
    }
    char b[32], ab[32];
    rel(b, sizeof b, m.BaseAddress, base);
    rel(ab, sizeof ab, m.AllocationBase, base);
    printf(
        "      BaseAddress=%s AllocationBase=%s RegionSize=%llup State=%s "
        "Type=%s Protect=0x%lx AllocationProtect=0x%lx\n",
        b, ab, (unsigned long long)(m.RegionSize / P), state_name(m.State), type_name(m.Type),
        m.Protect, m.AllocationProtect);
    p = (char *)m.BaseAddress + m.RegionSize;
  }
}

static void show_bool(const char *what, BOOL r, DWORD err) {
  printf("    %s -> %d, err %lu\n", what, (int)r, r ? 0UL : err);
}

static void show_ptr(const char *what, void *r, char *base, DWORD err) {
  char b[32];
  rel(b, sizeof b, r, base);
  printf("    %s -> %s, err %lu\n", what, b, r ? 0UL : err);
}

#define VFREE(base, off, np, flags, text)                           \
  do {                                                              \
    SetLastError(0);                                                \
    BOOL r_ = VirtualFree((base) + PAGES(off), PAGES(np), (flags)); \
    show_bool(text, r_, GetLastError());                            \
  } while (0)

/* ---- fault catching (j) ------------------------------------------------ */

/* int probe_read(const volatile char *p): 0, or 1 when the read faulted.
 * int probe_write(volatile char *p, int v): the same for a write.
 * The vectored handler moves Rip from the faulting instruction to the
 * instruction after it and sets eax = 1. */
__asm__(
    ".text\n"
    ".globl probe_read\n"
    "probe_read:\n"
    "  xorl %eax, %eax\n"
    ".globl probe_read_insn\n"
    "probe_read_insn:\n"
    "  movb (%rcx), %dl\n"
    ".globl probe_read_resume\n"
    "probe_read_resume:\n"
    "  ret\n"
    ".globl probe_write\n"
    "probe_write:\n"
    "  xorl %eax, %eax\n"
    ".globl probe_write_insn\n"
    "probe_write_insn:\n"
    "  movb %dl, (%rcx)\n"
    ".globl probe_write_resume\n"
    "probe_write_resume:\n"
    "  ret\n");
int probe_read(const volatile char *p);
int probe_write(volatile char *p, int v);
extern char probe_read_insn[], probe_read_resume[], probe_write_insn[], probe_write_resume[];

enum { MODE_OFF, MODE_RIP, MODE_LONGJMP, MODE_BUILTIN_LONGJMP };
static volatile int veh_mode;
static volatile LONG veh_calls;
static volatile DWORD veh_code;
static volatile ULONG_PTR veh_info0, veh_info1;
static jmp_buf veh_jb;
static void *veh_bjb[5];

static LONG CALLBACK veh(EXCEPTION_POINTERS *ep) {
  EXCEPTION_RECORD *er = ep->ExceptionRecord;
  if (veh_mode == MODE_OFF || er->ExceptionCode != EXCEPTION_ACCESS_VIOLATION)
    return EXCEPTION_CONTINUE_SEARCH;
  InterlockedIncrement(&veh_calls);
  veh_code = er->ExceptionCode;
  veh_info0 = er->NumberParameters > 0 ? er->ExceptionInformation[0] : 99;
  veh_info1 = er->NumberParameters > 1 ? er->ExceptionInformation[1] : 0;
  CONTEXT *c = ep->ContextRecord;
  switch (veh_mode) {
    case MODE_RIP:
      if (c->Rip == (DWORD64)(uintptr_t)probe_read_insn) {
        c->Rip = (DWORD64)(uintptr_t)probe_read_resume;
        c->Rax = 1;
        return EXCEPTION_CONTINUE_EXECUTION;
      }
      if (c->Rip == (DWORD64)(uintptr_t)probe_write_insn) {
        c->Rip = (DWORD64)(uintptr_t)probe_write_resume;
        c->Rax = 1;
        return EXCEPTION_CONTINUE_EXECUTION;
      }
      return EXCEPTION_CONTINUE_SEARCH;
    case MODE_LONGJMP:
      longjmp(veh_jb, 1);
    case MODE_BUILTIN_LONGJMP:
      __builtin_longjmp(veh_bjb, 1);
  }
  return EXCEPTION_CONTINUE_SEARCH;
}

/* "ok" or "FAULT(read|write at +Np)" */
static char *next_buf(void) {
  static char bufs[8][64];
  static unsigned n;
  return bufs[n++ % 8];
}

static const char *rip_read(char *p, char *base) {
  char *buf = next_buf();
  veh_mode = MODE_RIP;
  veh_info0 = 99;
  int f = probe_read(p);
  veh_mode = MODE_OFF;
  if (!f) return "ok";
  char a[32];
  rel(a, sizeof a, (void *)veh_info1, base);
  snprintf(buf, 64, "FAULT(info0=%lu addr=%s)", (unsigned long)veh_info0, a);
  return buf;
}

static const char *rip_write(char *p, char *base) {
  char *buf = next_buf();
  veh_mode = MODE_RIP;
  veh_info0 = 99;
  int f = probe_write(p, 0x5a);
  veh_mode = MODE_OFF;
  if (!f) return "ok";
  char a[32];
  rel(a, sizeof a, (void *)veh_info1, base);
  snprintf(buf, 64, "FAULT(info0=%lu addr=%s)", (unsigned long)veh_info0, a);
  return buf;
}

static int zero_page(const char *p) {
  for (size_t i = 0; i < P; i++)
    if (p[i]) return 0;
  return 1;
}

/* ---- helpers ------------------------------------------------------------ */

static char *placeholder(size_t npages) {
  SetLastError(0);
  char *p = pVirtualAlloc2(NULL, NULL, PAGES(npages), MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
                           PAGE_NOACCESS, NULL, 0);
  if (!p)
    printf("    !! VirtualAlloc2(placeholder %zup) failed, err %lu\n", npages, GetLastError());
  return p;
}

static void *replace_private(char *at, size_t npages, char *base, const char *text) {
  SetLastError(0);
  void *r =
      pVirtualAlloc2(NULL, at, PAGES(npages), MEM_RESERVE | MEM_COMMIT | MEM_REPLACE_PLACEHOLDER,
                     PAGE_READWRITE, NULL, 0);
  show_ptr(text, r, base, GetLastError());
  return r;
}

static void *replace_view(char *at, ULONG64 off, size_t npages, char *base, const char *text) {
  SetLastError(0);
  void *r = pMapViewOfFile3(section, GetCurrentProcess(), at, off, PAGES(npages),
                            MEM_REPLACE_PLACEHOLDER, PAGE_READWRITE, NULL, 0);
  show_ptr(text, r, base, GetLastError());
  return r;
}

/* Gives back whatever is left in [base, base + npages), piece by piece. */
static void cleanup(char *base, size_t npages) {
  char *p = base, *end = base + PAGES(npages);
  while (p < end) {
    MEMORY_BASIC_INFORMATION m;
    if (!VirtualQuery(p, &m, sizeof m)) return;
    char *next = (char *)m.BaseAddress + m.RegionSize;
    if (m.State != MEM_FREE) {
      if (m.Type == MEM_MAPPED)
        UnmapViewOfFile(m.AllocationBase);
      else
        VirtualFree(m.AllocationBase, 0, MEM_RELEASE);
    }
    p = next;
  }
}

/* ---- the facts ---------------------------------------------------------- */

static void fact_a(void) {
  printf("\n[a] split a 16p placeholder in the middle\n");
  char *b = placeholder(16);
  if (!b) return;
  printf("    base %p\n", (void *)b);
  walk(b, 16);
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+4p, 4p, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
  walk(b, 16);
  printf("    read +0p: %s, +4p: %s, +8p: %s\n", rip_read(b, b), rip_read(b + PAGES(4), b),
         rip_read(b + PAGES(8), b));
  /* The same with size 0 and at the very start / end. */
  VFREE(b, 4, 0, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+4p, 0, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+4p, 4p (whole piece), MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
  VFREE(b, 8, 2, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+8p, 2p (start of last piece), MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
  VFREE(b, 14, 2, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+14p, 2p (end of last piece), MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
  VFREE(b, 3, 2, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+3p, 2p (across two placeholders), MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
  walk(b, 16);
  cleanup(b, 16);
}

static void fact_b_one(const char *what, size_t off, size_t np) {
  char *b = placeholder(8);
  if (!b) return;
  char *m = replace_private(
      b, 8, b, "VirtualAlloc2(+0p, 8p, MEM_RESERVE|MEM_COMMIT|MEM_REPLACE_PLACEHOLDER, RW)");
  if (!m) {
    cleanup(b, 8);
    return;
  }
  memset(m, 0x11, PAGES(8));
  char t[160];
  snprintf(t, sizeof t, "VirtualFree(+%zup, %zup %s, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)", off,
           np, what);
  VFREE(b, off, np, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER, t);
  walk(b, 8);
  printf("    read +0p: %s, +%zup: %s\n", rip_read(b, b), off, rip_read(b + PAGES(off), b));
  if (off != 0 && off + np < 8)
    printf("    data kept: +0p 0x%02x, +7p 0x%02x (0x11 written)\n", (unsigned char)b[0],
           (unsigned char)b[PAGES(7)]);
  else if (off != 0)
    printf("    data kept: +0p 0x%02x (0x11 written)\n", (unsigned char)b[0]);
  if (off == 0 && np == 8) {
    void *again =
        replace_private(b, 8, b, "again VirtualAlloc2(+0p, 8p, ...REPLACE_PLACEHOLDER, RW)");
    if (again) {
      printf("    zero-filled again: %s\n", zero_page(b) && zero_page(b + PAGES(7)) ? "yes" : "no");
      VFREE(b, 0, 8, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
            "VirtualFree(+0p, 8p, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
      replace_view(b, 0, 8, b,
                   "MapViewOfFile3(+0p, off 0, 8p, MEM_REPLACE_PLACEHOLDER, RW) after that");
      walk(b, 8);
    }
    VFREE(b, 0, 0, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
          "VirtualFree(+0p, 0, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER) (size 0)");
  }
  cleanup(b, 8);
}

static void fact_b(void) {
  printf("\n[b] partial release of a private replacement back to placeholder\n");
  fact_b_one("(middle)", 2, 2);
  fact_b_one("(first 2 pages)", 0, 2);
  fact_b_one("(last 2 pages)", 6, 2);
  fact_b_one("(whole)", 0, 8);
  /* With size 0 */
  char *b = placeholder(8);
  if (!b) return;
  if (replace_private(b, 8, b, "VirtualAlloc2(+0p, 8p, ...REPLACE_PLACEHOLDER, RW)")) {
    VFREE(b, 0, 0, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
          "VirtualFree(+0p, 0, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
    walk(b, 8);
  }
  cleanup(b, 8);
}

static void fact_c(void) {
  printf("\n[c] MEM_DECOMMIT of 2 middle pages of a private replacement\n");
  char *b = placeholder(8);
  if (!b) return;
  if (!replace_private(b, 8, b, "VirtualAlloc2(+0p, 8p, ...REPLACE_PLACEHOLDER, RW)")) {
    cleanup(b, 8);
    return;
  }
  memset(b, 0x22, PAGES(8));
  VFREE(b, 2, 2, MEM_DECOMMIT, "VirtualFree(+2p, 2p, MEM_DECOMMIT)");
  walk(b, 8);
  printf("    read +2p: %s, read +1p: %s\n", rip_read(b + PAGES(2), b), rip_read(b + PAGES(1), b));
  replace_view(b + PAGES(2), 0, 2, b,
               "MapViewOfFile3(+2p, off 0, 2p, MEM_REPLACE_PLACEHOLDER, RW)");
  replace_private(b + PAGES(2), 2, b,
                  "VirtualAlloc2(+2p, 2p, MEM_RESERVE|MEM_COMMIT|MEM_REPLACE_PLACEHOLDER, RW)");
  SetLastError(0);
  void *r = VirtualAlloc(b + PAGES(2), PAGES(2), MEM_COMMIT, PAGE_READWRITE);
  show_ptr("VirtualAlloc(+2p, 2p, MEM_COMMIT, RW)", r, b, GetLastError());
  walk(b, 8);
  if (r)
    printf("    recommitted pages zero-filled: %s; neighbours kept: +1p 0x%02x, +4p 0x%02x\n",
           zero_page(b + PAGES(2)) && zero_page(b + PAGES(3)) ? "yes" : "no",
           (unsigned char)b[PAGES(1)], (unsigned char)b[PAGES(4)]);
  VFREE(b, 2, 2, MEM_DECOMMIT, "VirtualFree(+2p, 2p, MEM_DECOMMIT) again");
  VFREE(b, 0, 8, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+0p, 8p, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER) (whole, decommitted pages "
        "inside)");
  walk(b, 8);
  cleanup(b, 8);

  b = placeholder(8);
  if (!b) return;
  if (replace_private(b, 8, b, "VirtualAlloc2(+0p, 8p, ...REPLACE_PLACEHOLDER, RW)")) {
    VFREE(b, 2, 2, MEM_DECOMMIT, "VirtualFree(+2p, 2p, MEM_DECOMMIT)");
    VFREE(b, 2, 2, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
          "VirtualFree(+2p, 2p (the decommitted pages), MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
    walk(b, 8);
  }
  cleanup(b, 8);
}

static void fact_d(void) {
  printf("\n[d] MapViewOfFile3 section offsets\n");
  /* Mark the section so the offsets can be checked. */
  char *v = MapViewOfFile(section, FILE_MAP_WRITE, 0, 0, PAGES(64));
  if (v) {
    for (size_t i = 0; i < 64; i++) memset(v + PAGES(i), (int)(0x80 + i), P);
    UnmapViewOfFile(v);
  }
  struct {
    ULONG64 off;
    const char *name;
  } cases[] = {{4096, "4 KiB"}, {65536, "64 KiB"}, {3 * 4096, "12 KiB"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *b = placeholder(4);
    if (!b) return;
    char t[160];
    snprintf(t, sizeof t, "MapViewOfFile3(+0p, offset %s, 4p, MEM_REPLACE_PLACEHOLDER, RW)",
             cases[i].name);
    char *m = replace_view(b, cases[i].off, 4, b, t);
    if (m) {
      walk(b, 4);
      printf("    first byte 0x%02x (page %llu of the section)\n", (unsigned char)m[0],
             (unsigned long long)(cases[i].off / P));
    }
    cleanup(b, 4);
  }
  /* Plain MapViewOfFileEx for comparison. */
  SetLastError(0);
  void *r = MapViewOfFileEx(section, FILE_MAP_WRITE, 0, 4096, PAGES(4), NULL);
  show_ptr("MapViewOfFileEx(offset 4 KiB) (no placeholder)", r, (char *)r, GetLastError());
  if (r) UnmapViewOfFile(r);
}

static void fact_e(void) {
  printf("\n[e] sizes and addresses that are page but not 64 KiB multiples\n");
  char *b = placeholder(16);
  if (!b) return;
  VFREE(b, 1, 3, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+1p, 3p, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
  VFREE(b, 4, 5, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+4p, 5p, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER)");
  /* pieces: +0 1p, +1 3p, +4 5p, +9 7p */
  char *m1 = replace_private(b, 1, b, "VirtualAlloc2(+0p, 1p, ...REPLACE_PLACEHOLDER, RW) (4 KiB)");
  char *m2 =
      replace_view(b + PAGES(1), 0, 3, b,
                   "MapViewOfFile3(+1p, off 0, 3p, REPLACE_PLACEHOLDER, RW) (12 KiB at +4 KiB)");
  char *m3 = replace_private(
      b + PAGES(4), 5, b, "VirtualAlloc2(+4p, 5p, ...REPLACE_PLACEHOLDER, RW) (20 KiB at +16 KiB)");
  char *m4 = replace_view(b + PAGES(9), PAGES(3), 7, b,
                          "MapViewOfFile3(+9p, off 3p, 7p, REPLACE_PLACEHOLDER, RW)");
  walk(b, 16);
  if (m1 && m2 && m3 && m4) {
    m1[0] = 1;
    m2[0] = 2;
    m3[0] = 3;
    m4[0] = 4;
    printf("    all four written and read back: %s\n",
           m1[0] == 1 && m2[0] == 2 && m3[0] == 3 && m4[0] == 4 ? "yes" : "no");
  }
  if (m2) {
    SetLastError(0);
    BOOL r = pUnmapViewOfFile2(GetCurrentProcess(), m2, MEM_PRESERVE_PLACEHOLDER);
    show_bool("UnmapViewOfFile2(+1p, MEM_PRESERVE_PLACEHOLDER)", r, GetLastError());
  }
  if (m4) {
    SetLastError(0);
    BOOL r = pUnmapViewOfFile2(GetCurrentProcess(), b + PAGES(10), MEM_PRESERVE_PLACEHOLDER);
    show_bool("UnmapViewOfFile2(+10p (inside the view, not its start), MEM_PRESERVE_PLACEHOLDER)",
              r, GetLastError());
  }
  walk(b, 16);
  cleanup(b, 16);
}

static void fact_f(void) {
  printf("\n[f] coalescing\n");
  char *b = placeholder(12);
  if (!b) return;
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+4p, 4p, RELEASE|PRESERVE) (3 pieces)");
  VFREE(b, 0, 8, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+0p, 8p, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS) (first two only)");
  walk(b, 12);
  VFREE(b, 0, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+0p, 4p, RELEASE|PRESERVE) (3 pieces again)");
  walk(b, 12);
  VFREE(b, 0, 12, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+0p, 12p, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS) (3 placeholders)");
  walk(b, 12);
  VFREE(b, 0, 12, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+0p, 12p, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS) (1 placeholder)");
  VFREE(b, 0, 0, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+0p, 0, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS)");
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER, "VirtualFree(+4p, 4p, RELEASE|PRESERVE)");
  VFREE(b, 2, 8, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+2p, 8p, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS) (not on piece boundaries)");
  VFREE(b, 0, 16, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+0p, 16p, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS) (past the reservation)");
  walk(b, 12);
  cleanup(b, 12);

  b = placeholder(8);
  if (!b) return;
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER, "VirtualFree(+4p, 4p, RELEASE|PRESERVE)");
  replace_private(b + PAGES(4), 4, b, "VirtualAlloc2(+4p, 4p, ...REPLACE_PLACEHOLDER, RW)");
  VFREE(b, 0, 8, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+0p, 8p, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS) (placeholder + private)");
  walk(b, 8);
  cleanup(b, 8);

  b = placeholder(8);
  if (!b) return;
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER, "VirtualFree(+4p, 4p, RELEASE|PRESERVE)");
  replace_view(b + PAGES(4), 0, 4, b, "MapViewOfFile3(+4p, off 0, 4p, REPLACE_PLACEHOLDER, RW)");
  VFREE(b, 0, 8, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+0p, 8p, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS) (placeholder + view)");
  walk(b, 8);
  cleanup(b, 8);

  /* Two placeholders from two separate reservations that happen to touch
   * cannot be coalesced; not tested (no way to force adjacency). */
}

static void fact_g(void) {
  printf("\n[g] releasing a region of placeholder + private + view\n");
  char *b = placeholder(12);
  if (!b) return;
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER, "VirtualFree(+4p, 4p, RELEASE|PRESERVE)");
  replace_private(b + PAGES(4), 4, b, "VirtualAlloc2(+4p, 4p, ...REPLACE_PLACEHOLDER, RW)");
  replace_view(b + PAGES(8), 0, 4, b, "MapViewOfFile3(+8p, off 0, 4p, REPLACE_PLACEHOLDER, RW)");
  walk(b, 12);
  VFREE(b, 0, 12, MEM_RELEASE, "VirtualFree(+0p, 12p, MEM_RELEASE) (whole range)");
  VFREE(b, 4, 8, MEM_RELEASE, "VirtualFree(+4p, 8p, MEM_RELEASE) (private + view)");
  walk(b, 12);
  VFREE(b, 0, 0, MEM_RELEASE, "VirtualFree(+0p, 0, MEM_RELEASE) (the first placeholder)");
  walk(b, 12);
  VFREE(b, 4, 0, MEM_RELEASE, "VirtualFree(+4p, 0, MEM_RELEASE) (the private allocation)");
  VFREE(b, 8, 0, MEM_RELEASE, "VirtualFree(+8p, 0, MEM_RELEASE) (the view)");
  SetLastError(0);
  BOOL r = UnmapViewOfFile(b + PAGES(8));
  show_bool("UnmapViewOfFile(+8p) (the view)", r, GetLastError());
  walk(b, 12);
  cleanup(b, 12);

  printf("    -- the other way: everything back to placeholders, coalesce, one release\n");
  b = placeholder(12);
  if (!b) return;
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER, "VirtualFree(+4p, 4p, RELEASE|PRESERVE)");
  replace_private(b + PAGES(4), 4, b, "VirtualAlloc2(+4p, 4p, ...REPLACE_PLACEHOLDER, RW)");
  replace_view(b + PAGES(8), 0, 4, b, "MapViewOfFile3(+8p, off 0, 4p, REPLACE_PLACEHOLDER, RW)");
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
        "VirtualFree(+4p, 4p, MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER) (private)");
  SetLastError(0);
  r = pUnmapViewOfFile2(GetCurrentProcess(), b + PAGES(8), MEM_PRESERVE_PLACEHOLDER);
  show_bool("UnmapViewOfFile2(+8p, MEM_PRESERVE_PLACEHOLDER)", r, GetLastError());
  VFREE(b, 0, 12, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS,
        "VirtualFree(+0p, 12p, MEM_RELEASE|MEM_COALESCE_PLACEHOLDERS)");
  VFREE(b, 0, 0, MEM_RELEASE, "VirtualFree(+0p, 0, MEM_RELEASE)");
  walk(b, 12);
  cleanup(b, 12);
}

static void fact_h(void) {
  printf("\n[h] VirtualAlloc2 + MemExtendedParameterAddressRequirements\n");
  SIZE_T aligns[] = {1 << 20, 1 << 16, 1 << 21};
  for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
    for (int placeholder_flag = 1; placeholder_flag >= 0; placeholder_flag--) {
      probe_addr_req req = {NULL, NULL, aligns[i]};
      probe_ext_param prm;
      memset(&prm, 0, sizeof prm);
      prm.type = PROBE_PARAM_ADDRESS_REQUIREMENTS;
      prm.v.pointer = &req;
      for (int k = 0; k < 3; k++) {
        SetLastError(0);
        char *r = pVirtualAlloc2(NULL, NULL, PAGES(16),
                                 MEM_RESERVE | (placeholder_flag ? MEM_RESERVE_PLACEHOLDER : 0),
                                 PAGE_NOACCESS, &prm, 1);
        DWORD e = GetLastError();
        printf("    VirtualAlloc2(16p, MEM_RESERVE%s, Alignment=0x%llx) -> %p, err %lu%s\n",
               placeholder_flag ? "|MEM_RESERVE_PLACEHOLDER" : "", (unsigned long long)aligns[i],
               (void *)r, r ? 0UL : e,
               r ? ((uintptr_t)r % aligns[i] == 0 ? " (aligned)" : " (NOT aligned)") : "");
        if (r) {
          if (placeholder_flag && k == 0) {
            VFREE(r, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER,
                  "  it is a placeholder: VirtualFree(+4p, 4p, RELEASE|PRESERVE)");
          }
          cleanup(r, 16);
        }
      }
    }
  }
  /* An alignment that is not a power of two or below 64 KiB. */
  SIZE_T bad[] = {4096, 3 << 16};
  for (size_t i = 0; i < 2; i++) {
    probe_addr_req req = {NULL, NULL, bad[i]};
    probe_ext_param prm;
    memset(&prm, 0, sizeof prm);
    prm.type = PROBE_PARAM_ADDRESS_REQUIREMENTS;
    prm.v.pointer = &req;
    SetLastError(0);
    char *r = pVirtualAlloc2(NULL, NULL, PAGES(16), MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
                             PAGE_NOACCESS, &prm, 1);
    printf("    VirtualAlloc2(16p, RESERVE|PLACEHOLDER, Alignment=0x%llx) -> %p, err %lu\n",
           (unsigned long long)bad[i], (void *)r, r ? 0UL : GetLastError());
    if (r) cleanup(r, 16);
  }
}

static void fact_i(void) {
  printf("\n[i] which unmap-with-flags functions exist\n");
  HMODULE k32 = GetModuleHandleA("kernel32.dll");
  HMODULE kb = GetModuleHandleA("kernelbase.dll");
  const char *names[] = {"UnmapViewOfFileEx",    "UnmapViewOfFile2",     "VirtualAlloc2",
                         "MapViewOfFile3",       "VirtualAlloc2FromApp", "MapViewOfFile3FromApp",
                         "DiscardVirtualMemory", "OfferVirtualMemory"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    printf("    %-22s kernel32: %-3s kernelbase: %s\n", names[i],
           GetProcAddress(k32, names[i]) ? "yes" : "no",
           kb && GetProcAddress(kb, names[i]) ? "yes" : "no");
  if (!pUnmapViewOfFileEx) return;
  char *b = placeholder(4);
  if (!b) return;
  if (replace_view(b, 0, 4, b, "MapViewOfFile3(+0p, off 0, 4p, REPLACE_PLACEHOLDER, RW)")) {
    SetLastError(0);
    BOOL r = pUnmapViewOfFileEx(b, MEM_PRESERVE_PLACEHOLDER);
    show_bool("kernel32 UnmapViewOfFileEx(+0p, MEM_PRESERVE_PLACEHOLDER)", r, GetLastError());
    walk(b, 4);
  }
  cleanup(b, 4);
}

static void fact_j(void) {
  printf("\n[j] access violations in a vectored exception handler\n");
  PVOID h = AddVectoredExceptionHandler(1, veh);
  printf("    AddVectoredExceptionHandler -> %s\n", h ? "ok" : "NULL");
  char *b = placeholder(8);
  if (!b) return;
  VFREE(b, 4, 4, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER, "VirtualFree(+4p, 4p, RELEASE|PRESERVE)");
  replace_private(b + PAGES(4), 4, b, "VirtualAlloc2(+4p, 4p, ...REPLACE_PLACEHOLDER, RW)");
  DWORD old;
  VirtualProtect(b + PAGES(5), P, PAGE_READONLY, &old);
  VirtualProtect(b + PAGES(6), P, PAGE_NOACCESS, &old);
  VirtualFree(b + PAGES(7), P, MEM_DECOMMIT);
  veh_calls = 0;
  printf("    Rip method: read placeholder +0p: %s\n", rip_read(b, b));
  printf("    Rip method: read placeholder +3p again: %s\n", rip_read(b + PAGES(3), b));
  printf("    Rip method: write placeholder +1p: %s\n", rip_write(b + PAGES(1), b));
  printf("    Rip method: read private RW +4p: %s, write: %s\n", rip_read(b + PAGES(4), b),
         rip_write(b + PAGES(4), b));
  printf("    Rip method: read READONLY +5p: %s, write: %s\n", rip_read(b + PAGES(5), b),
         rip_write(b + PAGES(5), b));
  printf("    Rip method: read NOACCESS +6p: %s\n", rip_read(b + PAGES(6), b));
  printf("    Rip method: read decommitted +7p: %s\n", rip_read(b + PAGES(7), b));
  printf("    handler calls: %ld, last ExceptionCode 0x%lx\n", (long)veh_calls,
         (unsigned long)veh_code);

  /* longjmp (the CRT's, which unwinds) out of the handler */
  volatile int faults = 0;
  for (int k = 0; k < 3; k++) {
    if (setjmp(veh_jb) == 0) {
      veh_mode = MODE_LONGJMP;
      volatile char c = *(volatile char *)(b + PAGES(k));
      (void)c;
      veh_mode = MODE_OFF;
      printf("    longjmp method: read +%dp did not fault\n", k);
    } else {
      veh_mode = MODE_OFF;
      faults++;
    }
  }
  printf("    longjmp (CRT setjmp/longjmp) method: %d of 3 faults caught and resumed\n", faults);

  faults = 0;
  for (int k = 0; k < 3; k++) {
    if (__builtin_setjmp(veh_bjb) == 0) {
      veh_mode = MODE_BUILTIN_LONGJMP;
      volatile char c = *(volatile char *)(b + PAGES(k));
      (void)c;
      veh_mode = MODE_OFF;
      printf("    __builtin_longjmp method: read +%dp did not fault\n", k);
    } else {
      veh_mode = MODE_OFF;
      faults++;
    }
  }
  printf("    __builtin_setjmp/__builtin_longjmp method: %d of 3 faults caught and resumed\n",
         faults);
  printf("    after all of them, Rip method still works: %s\n", rip_read(b, b));
  RemoveVectoredExceptionHandler(h);
  cleanup(b, 8);
}

/* The protections of this fact, with the names the output gives them. */
static const DWORD k_prots[] = {PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_EXECUTE_READ,
                                PAGE_EXECUTE_READWRITE};
static const char *const k_names[] = {"NOACCESS", "READONLY", "READWRITE", "EXECUTE_READ",
                                      "EXECUTE_READWRITE"};

static void fact_k(void) {
  printf("\n[k] a view's protection later: only within what it was mapped with?\n");
  HANDLE exec_section = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_EXECUTE_READWRITE, 0,
                                           (DWORD)PAGES(16), NULL);
  if (!exec_section) {
    printf("    CreateFileMappingW(PAGE_EXECUTE_READWRITE) failed, err %lu\n", GetLastError());
    return;
  }
  size_t n = sizeof k_prots / sizeof k_prots[0];
  for (size_t i = 0; i < n; i++) {
    char *b = placeholder(16);
    if (!b) break;
    char what[96];
    snprintf(what, sizeof what, "MapViewOfFile3(+0p, 16p, REPLACE_PLACEHOLDER, %s)", k_names[i]);
    SetLastError(0);
    void *v = pMapViewOfFile3(exec_section, GetCurrentProcess(), b, 0, PAGES(16),
                              MEM_REPLACE_PLACEHOLDER, k_prots[i], NULL, 0);
    show_ptr(what, v, b, GetLastError());
    if (v) {
      walk(b, 16);
      for (size_t j = 0; j < n; j++) {
        DWORD old;
        SetLastError(0);
        BOOL r = VirtualProtect(b, P, k_prots[j], &old);
        DWORD err = GetLastError();
        snprintf(what, sizeof what, "VirtualProtect(+0p, 1p, %s)", k_names[j]);
        show_bool(what, r, err);
        VirtualProtect(b, P, k_prots[i], &old); /* back to the mapped protection */
      }
    }
    cleanup(b, 16);
  }
  CloseHandle(exec_section);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  P = si.dwPageSize;
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  const char *(CDECL * wine_version)(void) =
      ntdll ? (const char *(CDECL *)(void))(void (*)(void))GetProcAddress(ntdll, "wine_get_version")
            : NULL;
  OSVERSIONINFOA ov = {sizeof ov, 0, 0, 0, 0, {0}};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  GetVersionExA(&ov);
#pragma GCC diagnostic pop
  printf("wine-probe: %s; Windows %lu.%lu.%lu; page %lu, allocation granularity %lu\n",
         wine_version ? wine_version() : "not Wine", ov.dwMajorVersion, ov.dwMinorVersion,
         ov.dwBuildNumber, si.dwPageSize, si.dwAllocationGranularity);

  HMODULE kb = LoadLibraryA("kernelbase.dll");
  HMODULE k32 = GetModuleHandleA("kernel32.dll");
  if (kb) {
    pVirtualAlloc2 = (virtual_alloc2_fn)(void (*)(void))GetProcAddress(kb, "VirtualAlloc2");
    pMapViewOfFile3 = (map_view3_fn)(void (*)(void))GetProcAddress(kb, "MapViewOfFile3");
    pUnmapViewOfFile2 = (unmap_view2_fn)(void (*)(void))GetProcAddress(kb, "UnmapViewOfFile2");
  }
  pUnmapViewOfFileEx = (unmap_view_ex_fn)(void (*)(void))GetProcAddress(k32, "UnmapViewOfFileEx");
  printf(
      "kernelbase: VirtualAlloc2 %s, MapViewOfFile3 %s, UnmapViewOfFile2 %s; kernel32: "
      "UnmapViewOfFileEx %s\n",
      pVirtualAlloc2 ? "yes" : "no", pMapViewOfFile3 ? "yes" : "no",
      pUnmapViewOfFile2 ? "yes" : "no", pUnmapViewOfFileEx ? "yes" : "no");
  if (!pVirtualAlloc2 || !pMapViewOfFile3 || !pUnmapViewOfFile2) return 2;

  section =
      CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, (DWORD)PAGES(64), NULL);
  if (!section) {
    printf("CreateFileMappingW failed, err %lu\n", GetLastError());
    return 2;
  }

  /* Handler first: the other facts use it to check that pages fault. */
  PVOID h = AddVectoredExceptionHandler(1, veh);

  const char *only = argc > 1 ? argv[1] : "abcdefghijk";
  if (strchr(only, 'a')) fact_a();
  if (strchr(only, 'b')) fact_b();
  if (strchr(only, 'c')) fact_c();
  if (strchr(only, 'd')) fact_d();
  if (strchr(only, 'e')) fact_e();
  if (strchr(only, 'f')) fact_f();
  if (strchr(only, 'g')) fact_g();
  if (strchr(only, 'h')) fact_h();
  if (strchr(only, 'i')) fact_i();
  RemoveVectoredExceptionHandler(h);
  if (strchr(only, 'j')) fact_j();
  if (strchr(only, 'k')) fact_k();
  CloseHandle(section);
  printf("\nwine-probe: done\n");
  return 0;
}
