/* CIFAR-10's binary batches (the test batch). */
#include "fuzz_input.h"
#include "tsedarts/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file("test_batch.bin", data, size);
    dataset d;
    if (dataset_load_cifar10(fuzz_dir(), 0, &d) == TD_OK) dataset_free(&d);
    return 0;
}
