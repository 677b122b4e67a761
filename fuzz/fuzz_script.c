/*
 * The scenario language (docs/contract.md section 3) as `vmplace script`
 * and `vmplace shell` read it: the input is the text, run through the
 * interpreter in one mode or the other (the first byte chooses). Any text
 * at all must give checks that pass or fail, never a crash, a hang or a
 * leak: the interpreter releases what the script made, and LeakSanitizer
 * and the descriptor count say whether it did. An input starting with the
 * byte 0x01 is shell input (the rest of it); any other is a script, so the
 * scenario files themselves are the seed corpus.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_util.h"
#include "script.h"

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  sink = fopen("/dev/null", "w");
  if (!sink) fuzz_fail("cannot open /dev/null");
  fuzz_report_operations_at_exit("script");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  vmp_interp_mode mode = data[0] == 0x01 ? VMP_INTERP_SHELL : VMP_INTERP_SCRIPT;
  size_t skip = mode == VMP_INTERP_SHELL;
  if (size == skip) return 0;
  FILE *text = fmemopen((void *)(data + skip), size - skip, "r");
  if (!text) return 0; /* fmemopen refuses an empty buffer on some libcs */
  int fds = fuzz_open_fds();
  vmp_interp *in = vmp_interp_new(sink, mode);
  if (!in) fuzz_fail("vmp_interp_new");
  vmp_interp_run(in, text, "fuzz", mode == VMP_INTERP_SHELL ? "> " : NULL);
  fuzz_operations += vmp_interp_passed(in) + vmp_interp_failed(in);
  vmp_interp_free(in);
  fclose(text);
  if (fuzz_open_fds() != fds) fuzz_fail("a script left descriptors open");
  return 0;
}
