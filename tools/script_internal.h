/*
 * Shared between the interpreter core (script.c) and the command handlers
 * (script_commands.c). Not used outside the interpreter.
 */
#ifndef VMPLACE_TOOLS_SCRIPT_INTERNAL_H
#define VMPLACE_TOOLS_SCRIPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "script.h"
#include "vmplace.h"

#define INTERP_NAME_MAX 32
#define INTERP_TEXT_MAX 256

/* A region by name. A released one keeps its entry (region NULL) with the
 * addresses it had, so that a script can place a new region where it
 * was: the one address a script knows to be free, on every backend. */
typedef struct named_region {
  char name[INTERP_NAME_MAX];
  vmp_region *region;
  uintptr_t base;
} named_region;

typedef struct named_mem {
  char name[INTERP_NAME_MAX];
  vmp_mem *mem;
} named_mem;

struct vmp_interp {
  FILE *out;
  vmp_interp_mode mode;
  size_t page;
  named_region *regions;
  size_t region_count, region_cap;
  named_mem *mems;
  size_t mem_count, mem_cap;
  unsigned long passed, failed;
  int quit;
};

/* The outcome of one command. A handler either reports a syntax problem
 * (parse_failed, with expected/got explaining it), or leaves rc as the
 * operation's result and, when rc is 0 but what it observed is wrong,
 * sets detail_failed with expected/got. */
typedef struct interp_check {
  int rc;
  int parse_failed;
  int detail_failed;
  char expected[INTERP_TEXT_MAX];
  char got[INTERP_TEXT_MAX];
} interp_check;

typedef void interp_handler(vmp_interp *in, char **args, int nargs, interp_check *chk);

typedef struct interp_command {
  const char *name;
  int min_args, max_args;
  const char *usage;   /* "split R OFF SIZE" */
  const char *summary; /* one line for help */
  int is_check;        /* counted as passed/failed, may take => RESULT */
  int shell_only;
  interp_handler *run;
} interp_command;

extern const interp_command interp_commands[];
extern const size_t interp_command_count;

#if defined(__GNUC__)
#if defined(__MINGW32__)
/* mingw's C99 printf (see __USE_MINGW_ANSI_STDIO) checks as gnu_printf. */
#define INTERP_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#else
#define INTERP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#endif
#else
#define INTERP_PRINTF(a, b)
#endif

/* Marks chk as a syntax failure: "expected <expected>, got <got...>". */
void interp_parse_error(interp_check *chk, const char *expected, const char *got_fmt, ...)
    INTERP_PRINTF(3, 4);

/* Marks chk as a wrong observation (rc stays 0). */
void interp_mismatch(interp_check *chk, const char *expected, const char *got_fmt, ...)
    INTERP_PRINTF(3, 4);

/* Look-ups that report an unknown name as a parse error (return NULL). */
vmp_region *interp_region(vmp_interp *in, const char *name, interp_check *chk);
vmp_mem *interp_mem(vmp_interp *in, const char *name, interp_check *chk);

/* Checks that `name` is a valid identifier not yet bound (else parse error,
 * returns 0). */
int interp_name_available(vmp_interp *in, const char *name, interp_check *chk);

/* Bind a new name; on out-of-memory the object is released/closed and
 * VMP_ENOMEM returned. */
int interp_bind_region(vmp_interp *in, const char *name, vmp_region *region);
int interp_bind_mem(vmp_interp *in, const char *name, vmp_mem *mem);

/* Marks a region released (after vmp_release): its name no longer names
 * a region, but still gives its base to interp_anchor. */
void interp_forget_region(vmp_interp *in, const char *name);

/* The base of the region called `name`, reserved now or released: the
 * address that placement commands count from. 0 on success, else a parse
 * error in chk (and -1). */
int interp_anchor(vmp_interp *in, const char *name, uintptr_t *base, interp_check *chk);

/* The name an object was created under, or NULL. */
const char *interp_mem_name(const vmp_mem *mem, void *in);

#endif
