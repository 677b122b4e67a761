/*
 * The scenario-script interpreter (docs/contract.md section 3), shared by
 * `vmplace script` and `vmplace shell`. It is fed one line at a time; each
 * command is one check, counted as passed or failed, and a failure is
 * printed as "WHERE:LINE: expected X, got Y". Names of regions and objects
 * live in the interpreter; vmp_interp_free() releases everything created.
 */
#ifndef VMPLACE_TOOLS_SCRIPT_H
#define VMPLACE_TOOLS_SCRIPT_H

#include <stdio.h>

typedef struct vmp_interp vmp_interp;

typedef enum vmp_interp_mode {
  VMP_INTERP_SCRIPT, /* failures exactly "FILE:LINE: expected X, got Y" */
  VMP_INTERP_SHELL   /* also accepts help/quit; adds the error's message */
} vmp_interp_mode;

/* NULL when out of memory. Messages go to `out`. */
vmp_interp *vmp_interp_new(FILE *out, vmp_interp_mode mode);

/* Releases every region and closes every object still named, then frees
 * the interpreter. NULL is ignored. */
void vmp_interp_free(vmp_interp *in);

/* Runs one line (without its newline). `where` prefixes failure messages
 * as "where:lineno: " (NULL: no prefix). Returns 1 when the line asked to
 * quit, else 0. */
int vmp_interp_line(vmp_interp *in, const char *where, unsigned long lineno, const char *line);

/* Runs every line of `stream`. With a non-NULL prompt, prints it before
 * each line. Stops at end of file or quit. Returns 0, or -1 when the
 * stream could not be read to the end (a read error or out of memory). */
int vmp_interp_run(vmp_interp *in, FILE *stream, const char *where, const char *prompt);

unsigned long vmp_interp_passed(const vmp_interp *in);
unsigned long vmp_interp_failed(const vmp_interp *in);

/* Counts a failure that happened outside any line (an unreadable file). */
void vmp_interp_count_failure(vmp_interp *in);

/* The command summary that `help` prints. */
void vmp_interp_print_help(FILE *out);

#endif
