/* safetensors files: header JSON, names, dtypes, shapes, data offsets. */
#include "fuzz_input.h"
#include "tsedarts/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file f;
    if (safetensors_open(fuzz_file("x.safetensors", data, size), &f) != TD_OK) return 0;
    for (int i = 0; i < safetensors_count(&f); i++) {
        st_tensor t;
        safetensors_get(&f, safetensors_name(&f, i), &t);
    }
    safetensors_close(&f);
    return 0;
}
