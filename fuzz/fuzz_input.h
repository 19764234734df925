/* libFuzzer targets for the parsers of outside input. Most parsers read
 * files, so a target writes its input to a private scratch file and hands
 * over the path; the scratch directory is made once per process. */
#ifndef TSEDARTS_FUZZ_INPUT_H
#define TSEDARTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* A private directory for this process (mkdtemp under $TMPDIR). */
const char *fuzz_dir(void);
/* Writes data to fuzz_dir()/name and returns its path (static storage). */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
/* data as a NUL-terminated string (malloc'd). */
char *fuzz_text(const uint8_t *data, size_t size);

#endif
