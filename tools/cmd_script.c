/* vmplace script FILE...: each file runs in a fresh interpreter (names are
 * per script, and everything a script created is released at its end). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "script.h"

static int run_file(const char *path, unsigned long *passed, unsigned long *failed) {
  vmp_interp *in = vmp_interp_new(stdout, VMP_INTERP_SCRIPT);
  if (in == NULL) {
    fprintf(stdout, "%s: out of memory\n", path);
    (*failed)++;
    return -1;
  }
  int is_stdin = strcmp(path, "-") == 0;
  const char *where = is_stdin ? "<stdin>" : path;
  FILE *stream = is_stdin ? stdin : fopen(path, "r");
  if (stream == NULL) {
    /* Not a check the script made, but a script that did not run must not
     * look like one that passed. */
    fprintf(stdout, "%s:0: expected a readable script, got %s\n", path, strerror(errno));
    vmp_interp_count_failure(in);
  } else {
    if (vmp_interp_run(in, stream, where, NULL) != 0) {
      fprintf(stdout, "%s:0: expected the whole script, got a read error\n", where);
      vmp_interp_count_failure(in);
    }
    if (!is_stdin) fclose(stream);
  }
  *passed += vmp_interp_passed(in);
  *failed += vmp_interp_failed(in);
  vmp_interp_free(in);
  return 0;
}

int vmp_cli_script(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: vmplace script FILE...   ('-' reads standard input)\n", stderr);
    return 2;
  }
  unsigned long passed = 0, failed = 0;
  for (int i = 1; i < argc; i++) {
    unsigned long file_passed = 0, file_failed = 0;
    run_file(argv[i], &file_passed, &file_failed);
    if (argc > 2) printf("%s: %lu passed, %lu failed\n", argv[i], file_passed, file_failed);
    passed += file_passed;
    failed += file_failed;
    fflush(stdout);
  }
  printf("%lu passed, %lu failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
