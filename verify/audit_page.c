/* report.html is outside the root hash because it states it (it is
 * hashed in HOST.sha256); what is checked here is that the hash it states
 * is this tree's, so a page left from another state of the tree is caught
 * even where HOST.sha256 was written again over it. */
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "verify_internal.h"

#define PAGE_HASH_MARK "--root-hash "

td_status audit_report_page(const char *dir, const char *root_hash)
{
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/report.html", dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    const char *at = strstr(text, PAGE_HASH_MARK);
    char stated[SHA256_HEX_LEN] = "";
    if (at) {
        at += strlen(PAGE_HASH_MARK);
        size_t n = strspn(at, "0123456789abcdef");
        if (n == 64) memcpy(stated, at, 64), stated[64] = '\0';
    }
    free(text);
    if (!stated[0]) return TD_FAIL(TD_ERR_CHECK, "%s states no root hash (\"%s<64 hex digits>\")", path, PAGE_HASH_MARK);
    if (strcmp(stated, root_hash))
        return TD_FAIL(TD_ERR_CHECK, "%s states root hash %.12s..., the tree's is %.12s... (rewrite it: tsedarts "
                       "protocol report)", path, stated, root_hash);
    return TD_OK;
}
