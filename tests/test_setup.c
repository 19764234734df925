/* scripts/install-deps.sh as the README runs it, without sudo in front:
 * as root it installs with apt-get and never needs sudo (a fresh machine
 * may have none); as a user it asks sudo for root, and only when a package
 * is missing; the packages include the tests' PyTorch. apt-get, sudo,
 * dpkg-query and id are stand-ins on PATH that record their calls. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sandbox.h"

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

typedef struct stand_ins {
    char *dir, *log;
} stand_ins;

static void stand_in(const char *dir, const char *name, const char *body)
{
    char *p = path_join(dir, name);
    cr_assert_not_null(p);
    cr_assert_eq(file_write_text_atomic(p, body), TD_OK, "%s", td_error_message());
    cr_assert_eq(chmod(p, 0755), 0);
    free(p);
}

/* uid: what `id -u` says; installed: whether dpkg-query finds every package */
static stand_ins make_stand_ins(int uid, int installed)
{
    stand_ins s;
    s.dir = sandbox_dir("setup");
    s.log = path_join(s.dir, "calls.log");
    char body[4400];
    snprintf(body, sizeof body, "#!/bin/sh\necho \"apt-get $*\" >> '%s'\n", s.log);
    stand_in(s.dir, "apt-get", body);
    snprintf(body, sizeof body, "#!/bin/sh\necho \"sudo $*\" >> '%s'\n", s.log);
    stand_in(s.dir, "sudo", body);
    snprintf(body, sizeof body, "#!/bin/sh\necho %d\n", uid);
    stand_in(s.dir, "id", body);
    stand_in(s.dir, "dpkg-query", installed ? "#!/bin/sh\nprintf 'install ok installed'\n" : "#!/bin/sh\nexit 1\n");
    const char *path = getenv("PATH");
    char *with = malloc(strlen(s.dir) + strlen(path ? path : "") + 2);
    cr_assert_not_null(with);
    sprintf(with, "%s:%s", s.dir, path ? path : "");
    setenv("PATH", with, 1);
    free(with);
    return s;
}

static char *script(void)
{
    const char *src = getenv("TSEDARTS_SOURCE_DIR");
    if (!src) cr_skip_test("TSEDARTS_SOURCE_DIR not set");
    char *p = path_join(src, "scripts/install-deps.sh");
    cr_assert_not_null(p);
    return p;
}

/* The calls recorded ("" for none), malloc'd. */
static char *calls(const stand_ins *s)
{
    char *text;
    if (!file_exists(s->log)) return strdup("");
    cr_assert_eq(file_read_all(s->log, &text, NULL), TD_OK);
    return text;
}

Test(setup, as_root_installs_with_apt_get_and_no_sudo)
{
    char *sh = script();
    stand_ins s = make_stand_ins(0, 0);
    const char *argv[] = {sh, NULL};
    cr_expect_eq(sandbox_run(argv, NULL), 0);
    char *log = calls(&s);
    cr_expect(strstr(log, "apt-get install") != NULL, "no apt-get install: %s", log);
    cr_expect(strstr(log, "python3-torch") != NULL, "the tests' PyTorch is not installed: %s", log);
    cr_expect(strstr(log, "sudo") == NULL, "root went through sudo: %s", log);
    free(log);
    free(sh);
    free(s.dir);
    free(s.log);
}

Test(setup, as_a_user_asks_sudo_for_root)
{
    char *sh = script();
    stand_ins s = make_stand_ins(1000, 0);
    const char *argv[] = {sh, NULL};
    cr_expect_eq(sandbox_run(argv, NULL), 0);
    char *log = calls(&s);
    cr_expect(strstr(log, "sudo -- ") != NULL && strstr(log, "install-deps.sh") != NULL,
              "the script did not re-run itself through sudo: %s", log);
    cr_expect(strstr(log, "apt-get") == NULL, "apt-get ran without root: %s", log);
    free(log);
    free(sh);
    free(s.dir);
    free(s.log);
}

Test(setup, with_everything_installed_needs_neither)
{
    char *sh = script();
    stand_ins s = make_stand_ins(1000, 1);
    const char *argv[] = {sh, NULL};
    cr_expect_eq(sandbox_run(argv, NULL), 0);
    char *log = calls(&s);
    cr_expect_str_eq(log, "", "calls with nothing missing: %s", log);
    free(log);
    free(sh);
    free(s.dir);
    free(s.log);
}
