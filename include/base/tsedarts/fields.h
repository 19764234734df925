/* Config fields declared once. A config (search, train) lists its fields in
 * one table of descriptors: JSON key, type, place in the struct, default,
 * help, and how the command line sets it. That table alone gives the
 * defaults, the canonical JSON, the parser and the command-line options, so
 * the four cannot disagree. */
#ifndef TSEDARTS_FIELDS_H
#define TSEDARTS_FIELDS_H

#include <stddef.h>

#include "tsedarts/status.h"

typedef enum field_type {
    FIELD_INT,    /* int; JSON integer */
    FIELD_U64,    /* uint64_t (seeds); JSON integer >= 0 */
    FIELD_REAL,   /* double; JSON number */
    FIELD_BOOL,   /* int 0 or 1; JSON integer, as the formats have always held it */
    FIELD_STRING, /* char[size]; JSON string */
    FIELD_ENUM,   /* int-sized enum, an index into choices; JSON string */
    FIELD_CUSTOM, /* a JSON string the config's own hooks format and parse */
} field_type;

/* Hooks of a FIELD_CUSTOM field; they see the whole config because a value
 * may depend on fields earlier in the table (a genotype on the net kind). */
typedef td_status (*field_format_fn)(const void *config, char **text); /* malloc'd */
typedef td_status (*field_parse_fn)(void *config, const char *text, const char *where);

typedef struct field_desc {
    const char *key; /* JSON key; the flag is the key with '-' for '_' unless .flag says otherwise */
    field_type type;
    size_t offset, size; /* of the member: set both with FIELD_AT */
    double def;          /* numbers, bools and enum indices (exact for every int used) */
    const char *def_str; /* FIELD_STRING */
    const char *const *choices; /* FIELD_ENUM: NULL-terminated names. FIELD_BOOL: if set,
                                   the flag takes one of two names (false, true) */
    const char *help;
    /* Written only when it differs from the default and optional when
     * parsed, so that configs from before the field keep their hashes. */
    int optional;
    /* Command line. A FIELD_BOOL flag without choices is a switch that sets
     * the opposite of the default (--no-pad, --nesterov). */
    const char *flag; /* NULL: from the key */
    int no_flag;      /* not settable from the command line (derived from the data, test-only) */
    double min, max;  /* numbers the command line accepts (both 0: any) */
    field_format_fn format;    /* FIELD_CUSTOM */
    field_parse_fn parse;      /* FIELD_CUSTOM: the JSON text */
    field_parse_fn parse_flag; /* FIELD_CUSTOM: the flag's value (NULL: parse) */
} field_desc;

/* The type and the member's place: FIELD_AT(FIELD_INT, search_config, net.C). */
#define FIELD_AT(type_, T, member) .type = (type_), .offset = offsetof(T, member), .size = sizeof(((T *)0)->member)

/* Sets every field to its default (the caller zeroes the struct first). */
void fields_defaults(const field_desc *f, int n, void *config);

/* Canonical JSON: compact, keys sorted, jansson's number formatting. */
td_status fields_to_json(const field_desc *f, int n, const void *config, char **json);

/* Parses JSON written by fields_to_json into config (defaults set first by
 * the caller). Every key must be a field and every field present (unless
 * optional), of its type; `what` ("search config") starts each message. */
td_status fields_from_json(const field_desc *f, int n, const char *what, const char *json, void *config);

/* Sets a field from command-line text, checking type, choices and limits;
 * `where` ("search: --channels") starts the message. A switch's text is
 * ignored: it sets the opposite of the default. */
td_status field_set_text(const field_desc *f, void *config, const char *text, const char *where);

/* The field's flag without dashes into buf; "" if it has none. fields_check
 * holds every flag under FIELD_FLAG_MAX. */
#define FIELD_FLAG_MAX 64
const char *field_flag(const field_desc *f, char buf[FIELD_FLAG_MAX]);
/* Whether the flag takes a value (a switch does not). */
int field_flag_takes_value(const field_desc *f);
/* Help line: the help, the choices and the default. malloc'd. */
char *field_help_text(const field_desc *f);

/* The field with this JSON key, or NULL. */
const field_desc *fields_find(const field_desc *f, int n, const char *key);

/* Checks a table: sizes match types, keys and flags unique, defaults valid
 * and within the limits, every member inside a struct of struct_size. */
td_status fields_check(const field_desc *f, int n, size_t struct_size, const char *what);

#endif
