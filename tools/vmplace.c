/* vmplace: the command-line face of the library. This file only dispatches;
 * each subcommand is its own file (see commands.h). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "vmplace.h"

typedef struct subcommand {
  const char *name;
  const char *args;
  const char *summary;
  int (*run)(int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
    {"script", "FILE...", "run scenario scripts ('-' reads stdin); exit 1 if a check fails",
     vmp_cli_script},
    {"shell", "", "the scenario language, interactively from stdin", vmp_cli_shell},
    {"demo", "", "two views side by side, and a mirrored ring buffer", vmp_cli_demo},
    {"cat", "FILE...", "the files' bytes on stdout, through one contiguous view", vmp_cli_cat},
    {"pipe", "[-m N] [-q]", "stdin to stdout through a mirrored ring of N bytes (16M)",
     vmp_cli_pipe},
    {"doctor", "",
     "address-space limits and shared memory, with what to do; exit 1 if one "
     "would break a typical workload",
     vmp_cli_doctor},
};

static void usage(FILE *out) {
  fputs("usage: vmplace COMMAND [ARGS]\n\nCommands:\n", out);
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
    char head[64];
    snprintf(head, sizeof head, "%s %s", subcommands[i].name, subcommands[i].args);
    fprintf(out, "  %-16s %s\n", head, subcommands[i].summary);
  }
  fputs(
      "  help             this text (also --help)\n"
      "  --version        print the version and the backend\n\n"
      "Scenario scripts and the shell count in pages (vmplace --version shows the\n"
      "page size); the library's API counts in bytes. The scenario language and\n"
      "the behaviour contract are in docs/contract.md; 'vmplace shell' then 'help'\n"
      "lists the commands.\n",
      out);
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("vmplace %d.%d.%d (backend %s, page %zu bytes)\n", VMP_VERSION_MAJOR, VMP_VERSION_MINOR,
           VMP_VERSION_PATCH, vmp_backend_name(), vmp_page_size());
    return 0;
  }
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
    if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "vmplace: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
