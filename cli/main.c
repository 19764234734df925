/* tsedarts: entry point and command dispatch. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"protocol", cmd_protocol, "the paper's protocol on the DARTS space (Table 2), with an audit trail"},
    {"verify", cmd_verify, "audit a results tree or a run; recompute its test error; replay its epochs"},
    {"search", cmd_search, "architecture search: darts1, darts2, tse, tse-exact, drnas, tse-drnas, pdarts, tse-pdarts"},
    {"train", cmd_train, "retrain a genotype from scratch and report test error"},
    {"genotype", cmd_genotype, "show a genotype as text, DARTS Python syntax, Graphviz DOT, or drawn (SVG, PNG)"},
    {"bench", cmd_bench, "benchmark a search step (time, GFLOP/s, memory)"},
    {"info", cmd_info, "print a network's parameter counts"},
    {"selftest", cmd_selftest, "check every primitive: gradients and f32/f64 (or GPU/CPU) parity"},
};

/* What a command printed is its answer (verify's verdict, a genotype, a
 * root hash): a write that failed (a full disk, a closed pipe) is an
 * error, never a silent success. */
static int output_written(int rc)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return rc;
    fprintf(stderr, "tsedarts: error: cannot write the output: %s\n", errno ? strerror(errno) : "write error");
    return rc ? rc : 1;
}

static void usage(void)
{
    printf("usage: tsedarts COMMAND [options]   (tsedarts COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return output_written(commands[i].run(argc - 2, argv + 2));
    fprintf(stderr, "tsedarts: error: unknown command '%s'\n", argv[1]);
    usage();
    return 2;
}
