/* Fashion-MNIST's IDX files (gzip or plain): the first half of the input
 * is the images file, the rest the labels file. */
#include "fuzz_input.h"
#include "tsedarts/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t half = size / 2;
    fuzz_file("t10k-images-idx3-ubyte.gz", data, half);
    fuzz_file("t10k-labels-idx1-ubyte.gz", data + half, size - half);
    dataset d;
    if (dataset_load_fashion_mnist(fuzz_dir(), 0, 1, &d) == TD_OK) dataset_free(&d);
    return 0;
}
