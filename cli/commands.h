/* One function per `tsedarts` command. Each returns the process exit code. */
#ifndef TSEDARTS_CLI_COMMANDS_H
#define TSEDARTS_CLI_COMMANDS_H

int cmd_selftest(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_genotype(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_protocol(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif
