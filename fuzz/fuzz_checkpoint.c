/* Checkpoints: header, meta JSON, section table, checksum. */
#include "fuzz_input.h"
#include "tsedarts/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckpt_file f;
    if (checkpoint_read(fuzz_file("checkpoint.bin", data, size), &f) != TD_OK) return 0;
    char small[16];
    for (int i = 0; i < f.n; i++) checkpoint_section(&f, f.name[i], small, sizeof small);
    checkpoint_free(&f);
    return 0;
}
