#include "tsedarts/fields.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *member(void *config, const field_desc *f) { return (char *)config + f->offset; }
static const void *cmember(const void *config, const field_desc *f) { return (const char *)config + f->offset; }

/* The size a type stores; 0 for types whose size is the member's own. */
static size_t type_size(field_type t)
{
    switch (t) {
    case FIELD_INT:
    case FIELD_BOOL:
    case FIELD_ENUM: return sizeof(int);
    case FIELD_U64: return sizeof(uint64_t);
    case FIELD_REAL: return sizeof(double);
    case FIELD_STRING:
    case FIELD_CUSTOM: return 0;
    }
    return 0;
}

/* A table whose sizes disagree with its types would write past members. */
static void assert_size(const field_desc *f)
{
    size_t want = type_size(f->type);
    TD_ASSERT(!want || f->size == want, "config field %s: member of %zu bytes for a type of %zu", f->key, f->size, want);
}

static int choice_count(const char *const *choices)
{
    int n = 0;
    while (choices && choices[n]) n++;
    return n;
}

static int choice_index(const char *const *choices, const char *name)
{
    for (int i = 0; choices && choices[i]; i++)
        if (!strcmp(choices[i], name)) return i;
    return -1;
}

/* "a, b, c" into a malloc'd string. */
static char *choice_list(const char *const *choices, const char *sep)
{
    size_t len = 1;
    for (int i = 0; choices[i]; i++) len += strlen(choices[i]) + strlen(sep);
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = 0; choices[i]; i++) {
        if (i) strcat(s, sep);
        strcat(s, choices[i]);
    }
    return s;
}

void fields_defaults(const field_desc *f, int n, void *config)
{
    for (int i = 0; i < n; i++) {
        assert_size(&f[i]);
        void *p = member(config, &f[i]);
        switch (f[i].type) {
        case FIELD_INT:
        case FIELD_BOOL:
        case FIELD_ENUM: *(int *)p = (int)f[i].def; break;
        case FIELD_U64: *(uint64_t *)p = (uint64_t)f[i].def; break;
        case FIELD_REAL: *(double *)p = f[i].def; break;
        case FIELD_STRING: {
            int w = snprintf(p, f[i].size, "%s", f[i].def_str ? f[i].def_str : "");
            TD_ASSERT(w >= 0 && (size_t)w < f[i].size, "config field %s: default longer than its buffer", f[i].key);
            break;
        }
        case FIELD_CUSTOM: break; /* the zeroed member is its default */
        }
    }
}

static int is_default(const field_desc *f, const void *config)
{
    const void *p = cmember(config, f);
    switch (f->type) {
    case FIELD_INT:
    case FIELD_BOOL:
    case FIELD_ENUM: return *(const int *)p == (int)f->def;
    case FIELD_U64: return *(const uint64_t *)p == (uint64_t)f->def;
    case FIELD_REAL: return *(const double *)p == f->def;
    case FIELD_STRING: return !strcmp(p, f->def_str ? f->def_str : "");
    case FIELD_CUSTOM: return 0;
    }
    return 0;
}

static td_status value_to_json(const field_desc *f, const void *config, json_t **out)
{
    const void *p = cmember(config, f);
    json_t *v = NULL;
    switch (f->type) {
    case FIELD_INT:
    case FIELD_BOOL: v = json_integer(*(const int *)p); break;
    case FIELD_U64: v = json_integer((json_int_t) * (const uint64_t *)p); break;
    case FIELD_REAL: v = json_real(*(const double *)p); break;
    case FIELD_STRING:
        if (!memchr(p, '\0', f->size)) return TD_FAIL(TD_ERR_FORMAT, "config field %s: not terminated", f->key);
        v = json_string(p);
        if (!v) return TD_FAIL(TD_ERR_FORMAT, "config field %s: '%s' is not UTF-8", f->key, (const char *)p);
        break;
    case FIELD_ENUM: {
        int k = *(const int *)p;
        if (k < 0 || k >= choice_count(f->choices))
            return TD_FAIL(TD_ERR_FORMAT, "config field %s: value %d is none of its %d names", f->key, k,
                           choice_count(f->choices));
        v = json_string(f->choices[k]);
        break;
    }
    case FIELD_CUSTOM: {
        char *text = NULL;
        TD_CHECK(f->format(config, &text));
        v = json_string(text);
        free(text);
        if (!v) return TD_FAIL(TD_ERR_FORMAT, "config field %s: its text is not UTF-8", f->key);
        break;
    }
    }
    if (!v) return TD_FAIL(TD_ERR_MEMORY, "out of memory writing config field %s", f->key);
    *out = v;
    return TD_OK;
}

td_status fields_to_json(const field_desc *f, int n, const void *config, char **json)
{
    json_t *o = json_object();
    if (!o) return TD_FAIL(TD_ERR_MEMORY, "out of memory writing a config");
    td_status s = TD_OK;
    for (int i = 0; s == TD_OK && i < n; i++) {
        assert_size(&f[i]);
        if (f[i].optional && is_default(&f[i], config)) continue;
        json_t *v = NULL;
        s = value_to_json(&f[i], config, &v);
        if (s == TD_OK && json_object_set_new(o, f[i].key, v))
            s = TD_FAIL(TD_ERR_MEMORY, "out of memory writing config field %s", f[i].key);
    }
    if (s == TD_OK) {
        *json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (!*json) s = TD_FAIL(TD_ERR_MEMORY, "out of memory writing a config");
    }
    json_decref(o);
    return s;
}

/* A JSON value as text for a message (malloc'd; "?" if that fails). */
static char *json_text(const json_t *v)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return t ? t : strdup("?");
}

static td_status value_from_json(const field_desc *f, void *config, const json_t *v, const char *what)
{
    void *p = member(config, f);
    const char *need = NULL;
    switch (f->type) {
    case FIELD_INT:
        if (!json_is_integer(v)) {
            need = "an integer";
        } else if (json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX) {
            need = "an integer within the range of int";
        } else {
            *(int *)p = (int)json_integer_value(v);
            return TD_OK;
        }
        break;
    case FIELD_U64:
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            need = "an integer >= 0";
        } else {
            *(uint64_t *)p = (uint64_t)json_integer_value(v);
            return TD_OK;
        }
        break;
    case FIELD_REAL:
        if (!json_is_number(v)) {
            need = "a number";
        } else {
            *(double *)p = json_number_value(v);
            return TD_OK;
        }
        break;
    case FIELD_BOOL:
        if (!json_is_integer(v) || (json_integer_value(v) != 0 && json_integer_value(v) != 1)) {
            need = "0 or 1";
        } else {
            *(int *)p = (int)json_integer_value(v);
            return TD_OK;
        }
        break;
    case FIELD_STRING:
        if (!json_is_string(v)) {
            need = "a string";
        } else if (json_string_length(v) >= f->size) {
            return TD_FAIL(TD_ERR_FORMAT, "%s: \"%s\" is longer than %zu characters", what, f->key, f->size - 1);
        } else {
            memcpy(p, json_string_value(v), json_string_length(v) + 1);
            return TD_OK;
        }
        break;
    case FIELD_ENUM: {
        int k = json_is_string(v) ? choice_index(f->choices, json_string_value(v)) : -1;
        if (k >= 0) {
            *(int *)p = k;
            return TD_OK;
        }
        char *names = choice_list(f->choices, ", ");
        char *got = json_text(v);
        td_status s = TD_FAIL(TD_ERR_FORMAT, "%s: \"%s\" must be one of {%s}, got %s", what, f->key,
                              names ? names : "?", got);
        free(names);
        free(got);
        return s;
    }
    case FIELD_CUSTOM:
        if (!json_is_string(v)) {
            need = "a string";
        } else {
            return f->parse(config, json_string_value(v), what);
        }
        break;
    }
    char *got = json_text(v);
    td_status s = TD_FAIL(TD_ERR_FORMAT, "%s: \"%s\" must be %s, got %s", what, f->key, need, got);
    free(got);
    return s;
}

td_status fields_from_json(const field_desc *f, int n, const char *what, const char *json, void *config)
{
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    if (!json_is_object(o)) {
        td_status s = o ? TD_FAIL(TD_ERR_FORMAT, "%s: not a JSON object", what)
                        : TD_FAIL(TD_ERR_FORMAT, "%s: not a JSON object (%s)", what, err.text);
        if (o) json_decref(o);
        return s;
    }
    td_status s = TD_OK;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (!fields_find(f, n, key)) {
            s = TD_FAIL(TD_ERR_FORMAT, "%s: unknown key \"%s\"", what, key);
            break;
        }
    }
    /* table order, so that a custom field sees the fields before it */
    for (int i = 0; s == TD_OK && i < n; i++) {
        assert_size(&f[i]);
        v = json_object_get(o, f[i].key);
        if (v)
            s = value_from_json(&f[i], config, v, what);
        else if (!f[i].optional)
            s = TD_FAIL(TD_ERR_FORMAT, "%s: \"%s\" missing", what, f[i].key);
    }
    json_decref(o);
    return s;
}

static int has_limits(const field_desc *f) { return f->min != 0 || f->max != 0; }

static td_status set_integer(const field_desc *f, void *config, const char *text, const char *where)
{
    double lo = f->type == FIELD_U64 ? 0 : INT_MIN, hi = f->type == FIELD_U64 ? (double)LLONG_MAX : INT_MAX;
    if (has_limits(f)) {
        lo = f->min;
        hi = f->max;
    }
    char *end;
    errno = 0;
    long long x = strtoll(text, &end, 10);
    if (errno || *end || end == text || (double)x < lo || (double)x > hi)
        return TD_FAIL(TD_ERR_ARG, "%s must be an integer in [%.0f, %.0f], got '%s'", where, lo, hi, text);
    if (f->type == FIELD_U64)
        *(uint64_t *)member(config, f) = (uint64_t)x;
    else
        *(int *)member(config, f) = (int)x;
    return TD_OK;
}

static td_status set_real(const field_desc *f, void *config, const char *text, const char *where)
{
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    int bad = errno || *end || end == text || !isfinite(x);
    if (has_limits(f)) {
        if (bad || !(x >= f->min && x <= f->max))
            return TD_FAIL(TD_ERR_ARG, "%s must be a number in [%g, %g], got '%s'", where, f->min, f->max, text);
    } else if (bad) {
        return TD_FAIL(TD_ERR_ARG, "%s must be a finite number, got '%s'", where, text);
    }
    *(double *)member(config, f) = x;
    return TD_OK;
}

static td_status set_choice(const field_desc *f, void *config, const char *text, const char *where)
{
    int k = choice_index(f->choices, text);
    if (k >= 0) {
        *(int *)member(config, f) = k;
        return TD_OK;
    }
    char *names = choice_list(f->choices, ", ");
    td_status s = TD_FAIL(TD_ERR_ARG, "%s must be one of {%s}, got '%s'", where, names ? names : "?", text);
    free(names);
    return s;
}

td_status field_set_text(const field_desc *f, void *config, const char *text, const char *where)
{
    assert_size(f);
    switch (f->type) {
    case FIELD_INT:
    case FIELD_U64: return set_integer(f, config, text, where);
    case FIELD_REAL: return set_real(f, config, text, where);
    case FIELD_BOOL:
        if (f->choices) return set_choice(f, config, text, where);
        *(int *)member(config, f) = f->def == 0;
        return TD_OK;
    case FIELD_ENUM: return set_choice(f, config, text, where);
    case FIELD_STRING:
        if (strlen(text) >= f->size)
            return TD_FAIL(TD_ERR_ARG, "%s is longer than %zu characters", where, f->size - 1);
        memcpy(member(config, f), text, strlen(text) + 1);
        return TD_OK;
    case FIELD_CUSTOM: return (f->parse_flag ? f->parse_flag : f->parse)(config, text, where);
    }
    return TD_FAIL(TD_ERR_ARG, "%s: unknown field type", where);
}

const char *field_flag(const field_desc *f, char buf[FIELD_FLAG_MAX])
{
    buf[0] = '\0';
    if (f->no_flag) return buf;
    const char *src = f->flag ? f->flag : f->key;
    size_t len = strlen(src);
    TD_ASSERT(len < FIELD_FLAG_MAX, "config field %s: flag longer than %d characters", f->key, FIELD_FLAG_MAX - 1);
    for (size_t i = 0; i <= len; i++) buf[i] = !f->flag && src[i] == '_' ? '-' : src[i];
    return buf;
}

int field_flag_takes_value(const field_desc *f) { return !(f->type == FIELD_BOOL && !f->choices); }

/* Help, then the choices and the default in one parenthesis: the help's
 * own closing one when it ends with one. */
char *field_help_text(const field_desc *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return NULL;
    size_t help_len = strlen(f->help);
    int merge = help_len && f->help[help_len - 1] == ')';
    fwrite(f->help, 1, help_len - (size_t)merge, m);
    const char *open = merge ? "; " : " (";
    int said = 1;
    switch (f->type) {
    case FIELD_INT: fprintf(m, "%sdefault %d", open, (int)f->def); break;
    case FIELD_U64: fprintf(m, "%sdefault %llu", open, (unsigned long long)f->def); break;
    case FIELD_REAL: fprintf(m, "%sdefault %g", open, f->def); break;
    case FIELD_STRING:
        if (f->def_str && f->def_str[0])
            fprintf(m, "%sdefault %s", open, f->def_str);
        else
            said = 0;
        break;
    case FIELD_BOOL:
    case FIELD_ENUM:
        if (f->choices) {
            char *names = choice_list(f->choices, " | ");
            fprintf(m, "%s%s; default %s", open, names ? names : "?", f->choices[(int)f->def]);
            free(names);
        } else {
            said = 0;
        }
        break;
    case FIELD_CUSTOM: said = 0; break;
    }
    if (said || merge) fputc(')', m);
    if (fclose(m)) {
        free(text);
        return NULL;
    }
    return text;
}

const field_desc *fields_find(const field_desc *f, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i].key, key)) return &f[i];
    return NULL;
}

static td_status check_one(const field_desc *f, size_t struct_size, const char *what)
{
    const char *k = f->key;
    if (!k || !k[0] || strlen(k) >= FIELD_FLAG_MAX) return TD_FAIL(TD_ERR_STATE, "%s: a field without a short key", what);
    if (!f->help || !f->help[0]) return TD_FAIL(TD_ERR_STATE, "%s: field %s has no help", what, k);
    size_t want = type_size(f->type);
    if (want && f->size != want)
        return TD_FAIL(TD_ERR_STATE, "%s: field %s is a member of %zu bytes for a type of %zu", what, k, f->size, want);
    if (f->offset + f->size > struct_size) return TD_FAIL(TD_ERR_STATE, "%s: field %s lies outside the struct", what, k);
    if (f->flag && strlen(f->flag) >= FIELD_FLAG_MAX) return TD_FAIL(TD_ERR_STATE, "%s: flag of %s too long", what, k);
    int n_choices = choice_count(f->choices);
    switch (f->type) {
    case FIELD_INT:
    case FIELD_U64:
        if (f->def != floor(f->def) || (f->type == FIELD_INT && (f->def < INT_MIN || f->def > INT_MAX)) ||
            (f->type == FIELD_U64 && f->def < 0))
            return TD_FAIL(TD_ERR_STATE, "%s: default of %s is not a valid integer", what, k);
        break;
    case FIELD_REAL: break;
    case FIELD_BOOL:
        if (f->def != 0 && f->def != 1) return TD_FAIL(TD_ERR_STATE, "%s: default of %s is not 0 or 1", what, k);
        if (f->choices && n_choices != 2)
            return TD_FAIL(TD_ERR_STATE, "%s: the flag of %s names %d values, not 2", what, k, n_choices);
        break;
    case FIELD_ENUM:
        if (n_choices < 1 || f->def < 0 || f->def >= n_choices || f->def != floor(f->def))
            return TD_FAIL(TD_ERR_STATE, "%s: enum %s has no names or a default outside them", what, k);
        break;
    case FIELD_STRING:
        if (f->def_str && strlen(f->def_str) >= f->size)
            return TD_FAIL(TD_ERR_STATE, "%s: default of %s does not fit its buffer", what, k);
        break;
    case FIELD_CUSTOM:
        if (!f->format || !f->parse || f->optional)
            return TD_FAIL(TD_ERR_STATE, "%s: custom field %s needs format and parse and cannot be optional", what, k);
        break;
    }
    if (has_limits(f) && (f->type == FIELD_INT || f->type == FIELD_U64 || f->type == FIELD_REAL) &&
        !(f->min <= f->def && f->def <= f->max))
        return TD_FAIL(TD_ERR_STATE, "%s: default of %s lies outside its limits [%g, %g]", what, k, f->min, f->max);
    return TD_OK;
}

td_status fields_check(const field_desc *f, int n, size_t struct_size, const char *what)
{
    for (int i = 0; i < n; i++) {
        TD_CHECK(check_one(&f[i], struct_size, what));
        char fi[FIELD_FLAG_MAX], fj[FIELD_FLAG_MAX];
        field_flag(&f[i], fi);
        for (int j = 0; j < i; j++) {
            if (!strcmp(f[i].key, f[j].key)) return TD_FAIL(TD_ERR_STATE, "%s: key %s declared twice", what, f[i].key);
            if (fi[0] && !strcmp(fi, field_flag(&f[j], fj)))
                return TD_FAIL(TD_ERR_STATE, "%s: flag --%s used by %s and %s", what, fi, f[j].key, f[i].key);
            if (f[i].offset < f[j].offset + f[j].size && f[j].offset < f[i].offset + f[i].size)
                return TD_FAIL(TD_ERR_STATE, "%s: fields %s and %s share bytes", what, f[j].key, f[i].key);
        }
    }
    return TD_OK;
}
