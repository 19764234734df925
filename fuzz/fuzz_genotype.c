/* Genotype text, as given with --genotype or read from genotype.txt. */
#include <stdlib.h>

#include "fuzz_input.h"
#include "tsedarts/genotype.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    genotype g;
    genotype_parse(text, "fuzz", &g);
    free(text);
    return 0;
}
