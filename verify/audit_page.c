/* report.html is outside the root hash because it states it (it is
 * hashed in HOST.sha256 with the figures, whose bytes depend on the
 * plotting tools' versions). What it states is checked here instead: the
 * root hash is this tree's, and every figure it gives (Table 2, the search
 * tables, the selected mark, the genotypes, the failures, the baseline)
 * is the runs' as verify recomputes them, as report.md's are; its paper
 * columns are report.json's. So an edited number on the page fails plain
 * verify, even with HOST.sha256 written again over it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "verify_internal.h"

#define PAGE_HASH_MARK "--root-hash "

/* ------------------------------------------------ the page as lines */

typedef struct text_buf {
    char *s;
    size_t n, cap;
} text_buf;

static int buf_put(text_buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap) cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) return 0;
        b->s = t;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 1;
}

typedef struct renderer {
    report_doc *d;
    text_buf line, row, cell;
    int in_row, in_cell, colspan, tag_span, oom;
} renderer;

static void emit(renderer *r, const char *text)
{
    /* trimmed; empty lines are dropped */
    while (*text == ' ') text++;
    size_t n = strlen(text);
    while (n && text[n - 1] == ' ') n--;
    if (!n) return;
    char **grown = realloc(r->d->line, (size_t)(r->d->n + 1) * sizeof *grown);
    char *copy = malloc(n + 1);
    if (!grown || !copy) {
        free(copy);
        if (grown) r->d->line = grown;
        r->oom = 1;
        return;
    }
    memcpy(copy, text, n);
    copy[n] = '\0';
    r->d->line = grown;
    r->d->line[r->d->n++] = copy;
}

static void flush_line(renderer *r)
{
    if (r->line.n) emit(r, r->line.s);
    r->line.n = 0;
    if (r->line.s) r->line.s[0] = '\0';
}

static void put_text(renderer *r, const char *s, size_t n)
{
    text_buf *b = r->in_cell ? &r->cell : &r->line;
    if (!buf_put(b, s, n)) r->oom = 1;
}

/* The value of attribute name in a tag's text, or NULL. */
static const char *attr(const char *tag, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 2 < len; i++)
        if (!strncmp(tag + i, name, nl) && tag[i + nl] == '=' && tag[i + nl + 1] == '"' &&
            (i == 0 || isspace((unsigned char)tag[i - 1]))) {
            const char *v = tag + i + nl + 2, *end = memchr(v, '"', len - (size_t)(v - tag));
            if (!end) return NULL;
            *vlen = (size_t)(end - v);
            return v;
        }
    return NULL;
}

static int is_tag(const char *name, size_t n, const char *want) { return strlen(want) == n && !strncmp(name, want, n); }

static void end_cell(renderer *r)
{
    if (!r->in_cell) return;
    r->in_cell = 0;
    const char *c = r->cell.s ? r->cell.s : "";
    while (*c == ' ') c++;
    size_t n = strlen(c);
    while (n && c[n - 1] == ' ') n--;
    if (!buf_put(&r->row, " ", 1) || !buf_put(&r->row, c, n) || !buf_put(&r->row, " |", 2)) r->oom = 1;
    for (int k = 1; k < r->colspan; k++)
        if (!buf_put(&r->row, "  |", 3)) r->oom = 1;
    r->cell.n = 0;
}

/* One tag: <name attrs> or </name>, at tag[0..len). */
static void tag(renderer *r, const char *t, size_t len)
{
    int close = t[0] == '/';
    const char *name = t + close;
    size_t n = 0;
    while (n < len - (size_t)close && isalnum((unsigned char)name[n])) n++;
    if (is_tag(name, n, "tr")) {
        if (!close) {
            flush_line(r);
            r->in_row = 1;
            r->row.n = 0;
            if (!buf_put(&r->row, "|", 1)) r->oom = 1;
        } else if (r->in_row) {
            end_cell(r);
            emit(r, r->row.s);
            r->in_row = 0;
        }
    } else if (is_tag(name, n, "td") || is_tag(name, n, "th")) {
        end_cell(r);
        if (!close && r->in_row) {
            size_t vl = 0;
            const char *v = attr(t, len, "colspan", &vl);
            r->colspan = v ? atoi(v) : 1;
            if (r->colspan < 1 || r->colspan > 16) r->colspan = 1;
            r->in_cell = 1;
            r->cell.n = 0;
        }
    } else if (is_tag(name, n, "span")) {
        size_t vl = 0;
        const char *v = close ? NULL : attr(t, len, "class", &vl);
        /* a mark beside a number ("selected") reads as report.md has it */
        if (v && vl == 3 && !strncmp(v, "tag", 3)) {
            put_text(r, "(", 1);
            r->tag_span = 1;
        } else if (close && r->tag_span) {
            put_text(r, ")", 1);
            r->tag_span = 0;
        }
    } else if (is_tag(name, n, "h1") || is_tag(name, n, "h2") || is_tag(name, n, "h3")) {
        flush_line(r);
        if (!close && name[1] != '1') put_text(r, "## ", 3);
    } else if (is_tag(name, n, "p") || is_tag(name, n, "figcaption") || is_tag(name, n, "figure") ||
               is_tag(name, n, "div") || is_tag(name, n, "pre") || is_tag(name, n, "table") || is_tag(name, n, "br")) {
        if (!r->in_row) flush_line(r);
    }
}

/* Renders the page's text into d (images and styles left out). */
static td_status render(const char *html, report_doc *d)
{
    renderer r = {.d = d};
    static const char *const entities[][2] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", "\""}};
    for (const char *p = html; *p && !r.oom;) {
        if (*p == '<') {
            const char *end = strchr(p, '>');
            if (!end) break;
            size_t len = (size_t)(end - p - 1);
            /* a style or title holds no statement */
            if (!strncmp(p + 1, "style", 5) || !strncmp(p + 1, "title", 5)) {
                const char *closing = strstr(end, p[1] == 's' ? "</style>" : "</title>");
                p = closing ? closing + 8 : end + 1;
                continue;
            }
            tag(&r, p + 1, len);
            p = end + 1;
        } else if (*p == '&') {
            int done = 0;
            for (int k = 0; k < 4 && !done; k++)
                if (!strncmp(p, entities[k][0], strlen(entities[k][0]))) {
                    put_text(&r, entities[k][1], 1);
                    p += strlen(entities[k][0]);
                    done = 1;
                }
            if (!done) put_text(&r, p++, 1);
        } else if (*p == '\n') {
            if (!r.in_row) flush_line(&r);
            p++;
        } else {
            size_t n = strcspn(p, "<&\n");
            put_text(&r, p, n);
            p += n;
        }
    }
    flush_line(&r);
    free(r.line.s);
    free(r.row.s);
    free(r.cell.s);
    return r.oom ? TD_FAIL(TD_ERR_MEMORY, "out of memory reading report.html") : TD_OK;
}

static void doc_free(report_doc *d)
{
    for (int i = 0; i < d->n; i++) free(d->line[i]);
    free(d->line);
}

/* ------------------------------------------------------ the checks */

static void format_paper(char *buf, size_t len, const json_t *pair)
{
    const json_t *std = json_array_get(pair, 1);
    if (json_is_number(std))
        snprintf(buf, len, "%.2f (%.2f)", json_number_value(json_array_get(pair, 0)), json_number_value(std));
    else
        snprintf(buf, len, "%.2f", json_number_value(json_array_get(pair, 0)));
}

/* Table 2's paper columns are report.json's (which the root hash covers). */
static td_status paper_columns(const char *dir, const report_doc *d)
{
    json_t *rep;
    TD_CHECK(audit_read_json(dir, "report.json", &rep));
    const json_t *rows = json_object_get(rep, "rows");
    td_status s = TD_OK;
    for (size_t i = 0; s == TD_OK && i < json_array_size(rows); i++) {
        const json_t *row = json_array_get(rows, i), *paper = json_object_get(row, "paper");
        const char *label = json_string_value(json_object_get(row, "label"));
        char p8[64], p20[64], want[512];
        format_paper(p8, sizeof p8, json_object_get(paper, "eval8"));
        format_paper(p20, sizeof p20, json_object_get(paper, "eval20"));
        int found = 0;
        for (int k = 0; label && k < d->n && !found; k++) {
            snprintf(want, sizeof want, "| %s | %s |", label, p8);
            if (strncmp(d->line[k], want, strlen(want))) continue;
            /* | label | p8 | ours | p20 | ours | */
            const char *c = d->line[k] + strlen(want);
            const char *third = strchr(c, '|');
            snprintf(want, sizeof want, "| %s |", p20);
            found = third && !strncmp(third, want, strlen(want));
        }
        if (!found)
            s = TD_FAIL(TD_ERR_CHECK, "report.html: Table 2 does not give %s the paper's %s and %s of report.json",
                        label ? label : "?", p8, p20);
    }
    if (rep) json_decref(rep);
    return s;
}

static td_status stated_hash(const char *path, const char *text, const char *root_hash)
{
    const char *at = strstr(text, PAGE_HASH_MARK);
    char stated[SHA256_HEX_LEN] = "";
    if (at) {
        at += strlen(PAGE_HASH_MARK);
        size_t n = strspn(at, "0123456789abcdef");
        if (n == 64) memcpy(stated, at, 64), stated[64] = '\0';
    }
    if (!stated[0]) return TD_FAIL(TD_ERR_CHECK, "%s states no root hash (\"%s<64 hex digits>\")", path, PAGE_HASH_MARK);
    if (strcmp(stated, root_hash))
        return TD_FAIL(TD_ERR_CHECK, "%s states root hash %.12s..., the tree's is %.12s... (rewrite it: tsedarts "
                       "protocol report)", path, stated, root_hash);
    return TD_OK;
}

td_status audit_report_page(const char *dir, const char *root_hash, const struct audit_ledger *l)
{
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/report.html", dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    td_status s = stated_hash(path, text, root_hash);
    report_doc d = {"report.html", 1, 0, NULL};
    if (s == TD_OK && l) s = render(text, &d);
    free(text);
    if (s == TD_OK && l) s = audit_report_doc(&d, l);
    if (s == TD_OK && l) s = paper_columns(dir, &d);
    doc_free(&d);
    return s;
}
