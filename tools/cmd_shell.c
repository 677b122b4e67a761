/* vmplace shell: the scenario language typed by a person. The prompt is
 * shown only to a terminal so that piped input gives clean output. */
#include <stdio.h>

#include "commands.h"
#include "script.h"

#ifdef _WIN32
#include <io.h>
#define stdin_is_terminal() _isatty(_fileno(stdin))
#else
#include <unistd.h>
#define stdin_is_terminal() isatty(fileno(stdin))
#endif

int vmp_cli_shell(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fputs("usage: vmplace shell   (commands on standard input; type help)\n", stderr);
    return 2;
  }
  vmp_interp *in = vmp_interp_new(stdout, VMP_INTERP_SHELL);
  if (in == NULL) {
    fputs("vmplace: out of memory\n", stderr);
    return 1;
  }
  int interactive = stdin_is_terminal();
  if (interactive) puts("vmplace shell: type help for the commands, quit or end of file to leave.");
  /* Line numbers help when the input is a file; a person knows their line. */
  int status =
      vmp_interp_run(in, stdin, interactive ? NULL : "<stdin>", interactive ? "vmplace> " : NULL);
  printf("%lu passed, %lu failed\n", vmp_interp_passed(in), vmp_interp_failed(in));
  vmp_interp_free(in);
  return status == 0 ? 0 : 1;
}
