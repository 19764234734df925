/* verify --replay: a recorded run executed again from its config, for some
 * epochs or all of them, must write the same metrics records, bit for bit:
 * losses, accuracies and, in every epoch record, the hashes of the weights
 * and alphas it reached. The whole run must also leave the same files.
 * Only meaningful on the platform that produced the run. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"
#include "tsedarts/verify.h"
#include "verify_internal.h"

/* All the epochs a run of this config trains (every stage's, for a
 * staged search). */
static td_status config_epochs(const char *cfg, int *epochs)
{
    if (audit_config_is_search(cfg)) {
        search_config c;
        TD_CHECK(search_config_parse(cfg, &c));
        *epochs = search_total_epochs(&c);
    } else {
        train_config c;
        TD_CHECK(train_config_parse(cfg, &c));
        *epochs = c.epochs;
    }
    return TD_OK;
}

/* The run of cfg into scratch: its first `epochs` epochs, or with whole
 * set all of it, outputs included. */
static td_status replay_run(const char *cfg, const backend *be, const char *scratch, int epochs, int whole)
{
    td_status s;
    if (audit_config_is_search(cfg)) {
        search_config c;
        TD_CHECK(search_config_parse(cfg, &c));
        search_options o;
        memset(&o, 0, sizeof o);
        o.be = be;
        o.out_dir = scratch;
        o.quiet = 1;
        o.stop_after_epochs = whole ? 0 : epochs;
        search_result r;
        s = search_run(&c, &o, &r);
    } else {
        train_config c;
        TD_CHECK(train_config_parse(cfg, &c));
        train_options o;
        memset(&o, 0, sizeof o);
        o.be = be;
        o.out_dir = scratch;
        o.quiet = 1;
        o.stop_after_epochs = whole ? 0 : epochs;
        train_result r;
        s = train_run(&c, &o, &r);
    }
    if (stop_requested()) return TD_FAIL(TD_ERR_INTERRUPTED, "replay stopped by a signal; nothing was compared");
    return s == TD_ERR_INTERRUPTED ? TD_OK : s; /* stopped after the epochs asked for */
}

/* A log's lines, in place in *text (malloc'd). */
typedef struct lines {
    char *text;
    int n;
    char **line;
} lines;

static void lines_free(lines *l)
{
    free(l->text);
    free(l->line);
    memset(l, 0, sizeof *l);
}

static td_status lines_read(const char *dir, lines *l)
{
    memset(l, 0, sizeof *l);
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/metrics.jsonl", dir));
    if (!file_exists(path)) return TD_OK;
    TD_CHECK(file_read_all(path, &l->text, NULL));
    for (char *p = l->text; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl) break; /* a cut-off last line is no record */
        char **grown = realloc(l->line, (size_t)(l->n + 1) * sizeof *grown);
        if (!grown) {
            lines_free(l);
            return TD_FAIL(TD_ERR_MEMORY, "out of memory");
        }
        l->line = grown;
        *nl = '\0';
        l->line[l->n++] = p;
        p = nl + 1;
    }
    return TD_OK;
}

/* Names what differs between two records: the first key whose value
 * differs, or a key only one of them has. */
static td_status records_differ(int k, const char *recorded, const char *replayed)
{
    json_t *a = json_loads(recorded, 0, NULL), *b = json_loads(replayed, 0, NULL);
    json_t *ep = json_object_get(b, "epoch");
    char where[64] = "", what[512] = "";
    if (json_is_integer(ep)) snprintf(where, sizeof where, ", epoch %lld", (long long)json_integer_value(ep) + 1);
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v)
    {
        json_t *w = json_object_get(a, key);
        if (w && json_equal(w, v)) continue;
        char *x = w ? json_dumps(w, JSON_ENCODE_ANY) : NULL, *y = json_dumps(v, JSON_ENCODE_ANY);
        snprintf(what, sizeof what, "\"%s\" recorded %s, replayed %s", key, x ? x : "(absent)", y ? y : "?");
        free(x);
        free(y);
        break;
    }
    if (!what[0]) snprintf(what, sizeof what, "the recorded record has fields the replay does not write");
    if (a) json_decref(a);
    if (b) json_decref(b);
    return TD_FAIL(TD_ERR_CHECK, "record %d%s differs from the replay: %s", k + 1, where, what);
}

/* The replayed records against the recorded ones; with whole, the log
 * must also end where the replay's does. */
static td_status compare_logs(const char *run_dir, const char *scratch, int whole, int *compared)
{
    lines want, got;
    TD_CHECK(lines_read(run_dir, &want));
    td_status s = lines_read(scratch, &got);
    *compared = 0;
    for (int k = 0; s == TD_OK && k < got.n; k++) {
        if (k >= want.n)
            s = TD_FAIL(TD_ERR_CHECK, "%s/metrics.jsonl ends after %d record(s); the replay writes record %d", run_dir,
                        want.n, k + 1);
        else if (strcmp(want.line[k], got.line[k]))
            s = records_differ(k, want.line[k], got.line[k]);
        else
            ++*compared;
    }
    if (s == TD_OK && !got.n) s = TD_FAIL(TD_ERR_CHECK, "the replay wrote no records");
    if (s == TD_OK && whole && want.n != got.n)
        s = TD_FAIL(TD_ERR_CHECK, "%s/metrics.jsonl holds %d records; the whole run, replayed, writes %d", run_dir,
                    want.n, got.n);
    lines_free(&want);
    lines_free(&got);
    return s;
}

/* The files a finished run leaves, byte for byte. */
static td_status compare_files(const char *run_dir, const char *scratch, int search, char *listed, size_t len)
{
    static const char *const search_files[] = {"weights.safetensors", "alphas.safetensors", "genotype.txt",
                                               "result.json"};
    static const char *const train_files[] = {"weights.safetensors", "result.json"};
    const char *const *names = search ? search_files : train_files;
    int n = search ? 4 : 2;
    listed[0] = '\0';
    for (int i = 0; i < n; i++) {
        char a[4400], b[4400], ha[SHA256_HEX_LEN], hb[SHA256_HEX_LEN];
        TD_CHECK(path_format(a, sizeof a, "%s/%s", run_dir, names[i]));
        TD_CHECK(path_format(b, sizeof b, "%s/%s", scratch, names[i]));
        if (!file_exists(a)) return TD_FAIL(TD_ERR_CHECK, "%s: missing; the replayed run writes it", a);
        TD_CHECK(sha256_file(a, ha));
        TD_CHECK(sha256_file(b, hb));
        if (strcmp(ha, hb)) return TD_FAIL(TD_ERR_CHECK, "%s differs from the replayed run's", a);
        snprintf(listed + strlen(listed), len - strlen(listed), "%s%s", i ? ", " : "", names[i]);
    }
    return TD_OK;
}

/* The replay itself, in scratch (which the caller removes). */
static td_status replay_in(const char *run_dir, const backend *be, const char *cfg, int epochs, const char *scratch,
                           FILE *out)
{
    int total;
    TD_CHECK(config_epochs(cfg, &total));
    if (epochs == VERIFY_REPLAY_ALL) epochs = total;
    if (epochs < 1 || epochs > total)
        return TD_FAIL(TD_ERR_ARG, "--epochs %d: the run has %d epoch(s); replay 1 to %d, or all", epochs, total,
                       total);
    int whole = epochs == total, compared;
    TD_CHECK(replay_run(cfg, be, scratch, epochs, whole));
    TD_CHECK(compare_logs(run_dir, scratch, whole, &compared));
    fprintf(out, "ok    replay: %d of %d epoch(s) of %s: %d record(s), weight hashes included, bit-identical\n",
            epochs, total, run_dir, compared);
    if (!whole) return TD_OK;
    char listed[256];
    TD_CHECK(compare_files(run_dir, scratch, audit_config_is_search(cfg), listed, sizeof listed));
    fprintf(out, "ok    replay: the final files (%s) are bit-identical\n", listed);
    return TD_OK;
}

static td_status replay(const char *run_dir, const char *device, int epochs, FILE *out)
{
    const backend *be;
    TD_CHECK(audit_open_device(run_dir, device, &be));
    char *cfg;
    TD_CHECK(audit_read_config(run_dir, &cfg));
    char *scratch;
    td_status s = dir_make_temp("replay", &scratch);
    if (s != TD_OK) {
        free(cfg);
        return s;
    }
    /* from here every path out goes through the removal below */
    s = replay_in(run_dir, be, cfg, epochs, scratch, out);
    free(cfg);
    char why[1024] = "";
    if (s != TD_OK) snprintf(why, sizeof why, "%s", td_error_message());
    td_status r = dir_remove_tree(scratch);
    free(scratch);
    if (s == TD_OK || r == TD_OK) return s != TD_OK ? s : r;
    /* both failed: the replay's fault first, the removal's after it */
    char also[1024];
    snprintf(also, sizeof also, "%s", td_error_message());
    return TD_FAIL(s, "%s; also %s", why, also);
}

td_status verify_replay_epochs(const char *run_dir, const char *device, int epochs, FILE *out)
{
    file_confine_reads(run_dir); /* the run's files only, never through a link */
    td_status s = replay(run_dir, device, epochs, out);
    file_confine_reads(NULL);
    return s;
}

td_status verify_replay(const char *run_dir, const char *device, FILE *out)
{
    return verify_replay_epochs(run_dir, device, 1, out);
}
