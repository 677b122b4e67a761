/*
 * Subcommands of the vmplace tool. Each lives in its own file and is
 * listed in vmplace.c's table; argv[0] is the subcommand's own name.
 * Each returns the process exit status.
 */
#ifndef VMPLACE_TOOLS_COMMANDS_H
#define VMPLACE_TOOLS_COMMANDS_H

int vmp_cli_script(int argc, char **argv);
int vmp_cli_shell(int argc, char **argv);
int vmp_cli_demo(int argc, char **argv);
int vmp_cli_cat(int argc, char **argv);
int vmp_cli_pipe(int argc, char **argv);
int vmp_cli_doctor(int argc, char **argv);

#endif
