/* Hash-chained metrics logs (metrics.jsonl), as resume and verify read them. */
#include "fuzz_input.h"
#include "tsedarts/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int lines;
    chain_log_verify(fuzz_file("metrics.jsonl", data, size), &lines);
    return 0;
}
