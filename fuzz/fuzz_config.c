/* config.json of a search or a training run (read on --resume and by
 * verify). */
#include <stdlib.h>

#include "fuzz_input.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    search_config s;
    train_config t;
    search_config_parse(text, &s);
    train_config_parse(text, &t);
    free(text);
    return 0;
}
