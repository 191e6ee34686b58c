/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the one publication path (ingest/daemon/publication.c)
 * and the store's rule it names snapshots by
 * (ingest_store_commit_or_keep(), ingest/store/store.c), on real
 * packages built in memory and a store in a temporary directory.  The
 * outcome for every case of the decision against the live corte: none
 * live, newer, older, the live corte with other bytes, the live package
 * itself, an unreadable current; a dry run leaves the store untouched;
 * a sound snapshot of the same name is kept, a corrupt one replaced;
 * the policy's hooks; and the step each error calls for.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <cmocka.h>

#include "test_util.h"

#include "daemon/ingest_publication.h"
#include "package/ingest_limits.h"


#define PKG_CAP      (1u << 20)

#define INDEX_HTML   "<!doctype html><html><head><title>PREP</title></head>" \
                     "<body><app-root></app-root></body></html>"


/* a package in memory, on an unlinked file */
typedef struct {
    char            name[64];       /* 20240603_HHMM_PREP_QROO.tar.gz */
    unsigned char  *buf;
    size_t          used;
    int             fd;
} pkg_t;


/* one run of the publication, with what a caller keeps */
typedef struct {
    ingest_step_e          step;
    ingest_err_t           err;
    ingest_publication_t   pub;
    ingest_live_t          live;
    ingest_validate_out_t  vo;
    char                   final[INGEST_SNAP_NAME_LEN];
    char                   tmp[INGEST_PUB_TMP_LEN];
    int                    tmp_fd;
    int                    tmp_left;    /* the temp file was still there */
} run_t;


static char             dir[64];
static ingest_store_t   st;
static ingest_limits_t  limits;
static int              hold_calls;
static int              validated_calls;


static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;

    return remove(path) == 0 ? 0 : -1;
}


static int
setup(void **state)
{
    ingest_err_t  err;

    (void) state;

    temp_dir(dir, sizeof(dir), "test_publication");
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);
    assert_int_equal(ingest_store_lock(&st, &err), 0);
    ingest_limits_default(&limits);
    hold_calls = 0;
    validated_calls = 0;

    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    ingest_store_close(&st);
    assert_int_equal(nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS), 0);

    return 0;
}


/*
 * The package of corte 2024-06-03 00:<minute> (UTC-5): its name, the
 * ultimoCorte of a JSON file and the CSV preamble agree; other is
 * content that changes the bytes but not the corte.
 */
static void
pkg_make(pkg_t *p, int minute, const char *other)
{
    char             json[256], csv[128];
    struct archive  *a;

    (void) snprintf(p->name, sizeof(p->name),
                    "20240603_00%02d_PREP_QROO.tar.gz", minute);
    (void) snprintf(json, sizeof(json), "{\"ultimoCorte\": {\"fecha\": "
                    "\"03/06/2024\", \"hora\": \"00:%02d (UTC-5)\"}}",
                    minute);
    (void) snprintf(csv, sizeof(csv), "sep=|\nAYUNTAMIENTOS\n2024/06/03 "
                    "00:%02d (UTC-5)\nA|B\n1|2\n", minute);

    p->buf = malloc(PKG_CAP);
    assert_non_null(p->buf);

    a = tgz_open(p->buf, PKG_CAP, &p->used);

    add_file(a, "site/index.html", INDEX_HTML, strlen(INDEX_HTML));
    add_file(a, "site/assets/avance.json", json, strlen(json));
    add_file(a, "site/assets/bd/QROO_AYUN_2024.csv", csv, strlen(csv));
    add_file(a, "site/nota.txt", other, strlen(other));

    tgz_close(a);

    p->fd = temp_fd(p->buf, p->used);
}


static void
pkg_free(pkg_t *p)
{
    (void) close(p->fd);
    free(p->buf);
}


static ingest_step_e
hook_validated(ingest_publication_t *pub, void *data, ingest_err_t *err)
{
    ingest_step_e  *answer;

    assert_non_null(pub->vo);
    assert_true(pub->final[0] != '\0');

    validated_calls++;
    answer = data;

    if (answer != NULL && *answer != INGEST_STEP_CONTINUE) {
        (void) ingest_fail(err, INGEST_SHA256_MISMATCH, "the sidecar says "
                           "otherwise");
        return *answer;
    }

    return INGEST_STEP_CONTINUE;
}


static int
hook_hold(ingest_publication_t *pub, void *data)
{
    (void) pub;
    (void) data;

    hold_calls++;

    return 1;
}


/*
 * Runs the publication of p as a command does, then cleans up as its
 * caller does (the temp file, if any is left, removed).
 */
static void
run(run_t *r, pkg_t *p, const ingest_publication_policy_t *policy)
{
    memset(r, 0, sizeof(run_t));
    r->tmp_fd = -1;
    ingest_err_reset(&r->err);

    if (policy->dry_run) {
        r->tmp_fd = temp_fd(NULL, 0);
    }

    r->pub.store = &st;
    r->pub.pkg_fd = p->fd;
    r->pub.package_name = p->name;
    r->pub.limits = &limits;
    r->pub.gzip_level = 1;
    r->pub.lock_fd = -1;
    r->pub.tmp_fd = &r->tmp_fd;
    r->pub.tmp = policy->dry_run ? NULL : r->tmp;
    r->pub.scratch_fd = policy->dry_run ? st.cortes_fd : -1;
    r->pub.live = &r->live;
    r->pub.vo = &r->vo;
    r->pub.final = r->final;

    assert_int_equal(lseek(p->fd, 0, SEEK_SET), 0);

    r->step = ingest_publication_run(&r->pub, policy, &r->err);

    if (r->tmp_fd >= 0) {
        (void) close(r->tmp_fd);
    }

    if (r->tmp[0] != '\0') {
        r->tmp_left = ingest_store_exists(&st, r->tmp);
        ingest_store_tmp_remove(&st, r->tmp);
    }
}


static void
publish(run_t *r, pkg_t *p)
{
    ingest_publication_policy_t  policy;

    memset(&policy, 0, sizeof(ingest_publication_policy_t));
    run(r, p, &policy);
}


static void
current_of(char *name, size_t size)
{
    ingest_err_t  err;

    ingest_err_reset(&err);
    if (ingest_store_current(&st, name, size, &err) != 1) {
        name[0] = '\0';
    }
}


/* the names in cortes/, sorted, joined by spaces */
static void
cortes_list(char *buf, size_t size)
{
    int              i, n;
    size_t           len;
    struct dirent  **list;
    char             path[128];

    (void) snprintf(path, sizeof(path), "%s/cortes", dir);
    n = scandir(path, &list, NULL, alphasort);
    assert_true(n >= 0);

    buf[0] = '\0';

    for (i = 0; i < n; i++) {
        if (list[i]->d_name[0] != '.' || list[i]->d_name[1] == 't') {
            len = strlen(buf);
            (void) snprintf(buf + len, size - len, "%s%s", len ? " " : "",
                            list[i]->d_name);
        }

        free(list[i]);
    }

    free(list);
}


static ino_t
inode_of(const char *name)
{
    struct stat  sb;

    assert_int_equal(fstatat(st.cortes_fd, name, &sb, AT_SYMLINK_NOFOLLOW),
                     0);

    return sb.st_ino;
}


static ino_t
link_inode(void)
{
    struct stat  sb;

    assert_int_equal(fstatat(st.dir_fd, INGEST_STORE_CURRENT, &sb,
                             AT_SYMLINK_NOFOLLOW),
                     0);

    return sb.st_ino;
}


static void
expect_published(run_t *r, const char *id)
{
    char  cur[INGEST_SNAP_NAME_LEN];

    assert_int_equal(r->step, INGEST_STEP_CONTINUE);
    assert_int_equal(r->err.reason, INGEST_OK);
    assert_int_equal(r->pub.outcome, INGEST_PUB_PUBLISHED);
    assert_int_equal(strncmp(r->final, id, strlen(id)), 0);
    current_of(cur, sizeof(cur));
    assert_string_equal(cur, r->final);
    assert_int_equal(r->tmp_left, 0);
    assert_int_equal(r->tmp_fd, -1);
}


/* ------------------------------------------------------------ decision */


static void
test_no_live_corte_publishes(void **state)
{
    run_t  r;
    pkg_t  a;
    char   list[512];

    (void) state;

    pkg_make(&a, 15, "a");
    publish(&r, &a);

    expect_published(&r, "20240603_0015-");
    assert_int_equal(r.live.have, 0);
    cortes_list(list, sizeof(list));
    assert_string_equal(list, r.final);

    pkg_free(&a);
}


static void
test_newer_publishes(void **state)
{
    run_t  r;
    pkg_t  a, b;
    char   first[INGEST_SNAP_NAME_LEN];

    (void) state;

    pkg_make(&a, 15, "a");
    pkg_make(&b, 30, "b");

    publish(&r, &a);
    expect_published(&r, "20240603_0015-");
    (void) snprintf(first, sizeof(first), "%s", r.final);

    publish(&r, &b);
    expect_published(&r, "20240603_0030-");
    assert_int_equal(r.live.have, 1);
    assert_string_equal(r.live.name, first);
    assert_true(r.pub.flip_s >= 0);

    pkg_free(&a);
    pkg_free(&b);
}


static void
test_older_is_refused(void **state)
{
    run_t  r;
    pkg_t  a, b;
    char   cur[INGEST_SNAP_NAME_LEN], list[512], before[512];
    ino_t  link;

    (void) state;

    pkg_make(&a, 15, "a");
    pkg_make(&b, 30, "b");

    publish(&r, &b);
    expect_published(&r, "20240603_0030-");
    cortes_list(before, sizeof(before));
    link = link_inode();

    publish(&r, &a);
    assert_int_equal(r.step, INGEST_STEP_REJECT);
    assert_int_equal(r.err.reason, INGEST_OLDER_CORTE);
    assert_string_equal(r.err.msg, "corte 20240603_0015 "
                        "(2024-06-03T00:15:00-05:00) is older than the "
                        "live corte 20240603_0030 "
                        "(2024-06-03T00:30:00-05:00)");

    /* nothing named, current as it was; the temp file is the caller's */
    assert_int_equal(r.tmp_left, 1);
    cortes_list(list, sizeof(list));
    assert_string_equal(list, before);
    current_of(cur, sizeof(cur));
    assert_int_equal(strncmp(cur, "20240603_0030-", 14), 0);
    assert_true(link_inode() == link);

    pkg_free(&a);
    pkg_free(&b);
}


static void
test_same_id_other_bytes_is_refused(void **state)
{
    run_t  r;
    pkg_t  b, b2;
    char   cur[INGEST_SNAP_NAME_LEN], live[INGEST_SNAP_NAME_LEN];

    (void) state;

    pkg_make(&b, 30, "b");
    pkg_make(&b2, 30, "b, corrected");

    publish(&r, &b);
    expect_published(&r, "20240603_0030-");
    (void) snprintf(live, sizeof(live), "%s", r.final);

    publish(&r, &b2);
    assert_int_equal(r.step, INGEST_STEP_REJECT);
    assert_int_equal(r.err.reason, INGEST_CORTE_CONFLICT);
    assert_non_null(strstr(r.err.msg, "corte 20240603_0030 is live with "
                           "other content"));
    assert_non_null(strstr(r.err.msg, "a published corte is never "
                           "replaced"));
    assert_string_not_equal(r.final, live);
    assert_int_equal(ingest_store_exists(&st, r.final), 0);

    current_of(cur, sizeof(cur));
    assert_string_equal(cur, live);

    pkg_free(&b);
    pkg_free(&b2);
}


static void
test_identical_is_already_current(void **state)
{
    run_t  r;
    pkg_t  a;
    char   list[512], before[512];
    ino_t  link, snap;

    (void) state;

    pkg_make(&a, 15, "a");

    publish(&r, &a);
    expect_published(&r, "20240603_0015-");
    cortes_list(before, sizeof(before));
    link = link_inode();
    snap = inode_of(r.final);

    publish(&r, &a);
    assert_int_equal(r.step, INGEST_STEP_CONTINUE);
    assert_int_equal(r.pub.outcome, INGEST_PUB_LIVE);
    assert_int_equal(r.err.reason, INGEST_OK);

    /* the temp file went, the live snapshot and current are untouched */
    assert_int_equal(r.tmp_left, 0);
    assert_int_equal(r.tmp[0], '\0');
    cortes_list(list, sizeof(list));
    assert_string_equal(list, before);
    assert_true(link_inode() == link);
    assert_true(inode_of(r.final) == snap);

    pkg_free(&a);
}


static void
test_unreadable_current_is_replaced(void **state)
{
    int    fd;
    run_t  r;
    pkg_t  a, b;

    (void) state;

    pkg_make(&a, 15, "a");
    pkg_make(&b, 30, "b");

    /* current names a file of cortes/ that is not a snapshot: nothing
     * readable is live, so even the older corte goes in */
    fd = openat(st.cortes_fd, "20240603_0045-000000000000.snap",
                O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "garbage", 7), 7);
    (void) close(fd);
    assert_int_equal(symlinkat("cortes/20240603_0045-000000000000.snap",
                               st.dir_fd, INGEST_STORE_CURRENT),
                     0);

    publish(&r, &b);
    expect_published(&r, "20240603_0030-");
    assert_int_equal(r.live.have, 0);

    /* and current naming nothing at all */
    assert_int_equal(unlinkat(st.dir_fd, INGEST_STORE_CURRENT, 0), 0);
    assert_int_equal(symlinkat("cortes/missing.snap", st.dir_fd,
                               INGEST_STORE_CURRENT),
                     0);

    publish(&r, &a);
    expect_published(&r, "20240603_0015-");
    assert_int_equal(r.live.have, 0);

    pkg_free(&a);
    pkg_free(&b);
}


/* ------------------------------------------------------------- dry run */


static void
test_dry_run_leaves_the_store_alone(void **state)
{
    run_t                        r;
    pkg_t                        a, b, c;
    char                         list[512], before[512];
    char                         cur[INGEST_SNAP_NAME_LEN];
    ino_t                        link;
    ingest_publication_policy_t  policy;

    (void) state;

    pkg_make(&a, 15, "a");
    pkg_make(&b, 30, "b");
    pkg_make(&c, 45, "c");

    memset(&policy, 0, sizeof(ingest_publication_policy_t));
    policy.dry_run = 1;

    /* nothing live: it would be published */
    run(&r, &b, &policy);
    assert_int_equal(r.step, INGEST_STEP_CONTINUE);
    assert_int_equal(r.pub.outcome, INGEST_PUB_PUBLISHED);
    assert_int_equal(r.live.have, 0);
    cortes_list(list, sizeof(list));
    assert_string_equal(list, "");
    current_of(cur, sizeof(cur));
    assert_string_equal(cur, "");

    publish(&r, &b);
    expect_published(&r, "20240603_0030-");
    cortes_list(before, sizeof(before));
    link = link_inode();

    run(&r, &c, &policy);
    assert_int_equal(r.step, INGEST_STEP_CONTINUE);
    assert_int_equal(r.pub.outcome, INGEST_PUB_PUBLISHED);
    assert_int_equal(strncmp(r.final, "20240603_0045-", 14), 0);
    assert_int_equal(ingest_store_exists(&st, r.final), 0);

    run(&r, &b, &policy);
    assert_int_equal(r.step, INGEST_STEP_CONTINUE);
    assert_int_equal(r.pub.outcome, INGEST_PUB_LIVE);

    run(&r, &a, &policy);
    assert_int_equal(r.step, INGEST_STEP_REJECT);
    assert_int_equal(r.err.reason, INGEST_OLDER_CORTE);

    /* nothing of the three dry runs is in the store */
    cortes_list(list, sizeof(list));
    assert_string_equal(list, before);
    assert_true(link_inode() == link);

    pkg_free(&a);
    pkg_free(&b);
    pkg_free(&c);
}


static void
test_dry_run_without_a_store(void **state)
{
    int                          fd;
    pkg_t                        a;
    char                         final[INGEST_SNAP_NAME_LEN];
    ingest_err_t                 err;
    ingest_live_t                live;
    ingest_validate_out_t        vo;
    ingest_publication_t         pub;
    ingest_publication_policy_t  policy;

    (void) state;

    pkg_make(&a, 15, "a");
    fd = temp_fd(NULL, 0);

    memset(&policy, 0, sizeof(ingest_publication_policy_t));
    policy.dry_run = 1;

    memset(&pub, 0, sizeof(ingest_publication_t));
    pub.pkg_fd = a.fd;
    pub.package_name = a.name;
    pub.limits = &limits;
    pub.lock_fd = -1;
    pub.tmp_fd = &fd;
    pub.scratch_fd = st.cortes_fd;
    pub.live = &live;
    pub.vo = &vo;
    pub.final = final;

    ingest_err_reset(&err);
    assert_int_equal(ingest_publication_run(&pub, &policy, &err),
                     INGEST_STEP_CONTINUE);
    assert_int_equal(pub.outcome, INGEST_PUB_PUBLISHED);
    assert_int_equal(live.have, 0);
    assert_string_equal(vo.res.corte.id, "20240603_0015");

    (void) close(fd);
    pkg_free(&a);
}


/* ----------------------------------------------- existing snapshots */


/* a and b published, then current back on a, as a rollback leaves it:
 * b's snapshot stays in cortes/ */
static void
rolled_back(pkg_t *a, pkg_t *b, char *snap_b)
{
    run_t         r;
    char          snap_a[INGEST_SNAP_NAME_LEN];
    ingest_err_t  err;

    pkg_make(a, 15, "a");
    pkg_make(b, 30, "b");

    publish(&r, a);
    expect_published(&r, "20240603_0015-");
    (void) snprintf(snap_a, sizeof(snap_a), "%s", r.final);
    publish(&r, b);
    expect_published(&r, "20240603_0030-");
    (void) snprintf(snap_b, INGEST_SNAP_NAME_LEN, "%s", r.final);

    ingest_err_reset(&err);
    assert_int_equal(ingest_store_flip(&st, snap_a, &err), 0);
}


static void
test_sound_existing_snapshot_is_kept(void **state)
{
    run_t  r;
    pkg_t  a, b;
    char   snap_b[INGEST_SNAP_NAME_LEN], list[512], before[512];
    ino_t  ino_b;

    (void) state;

    rolled_back(&a, &b, snap_b);
    ino_b = inode_of(snap_b);
    cortes_list(before, sizeof(before));

    publish(&r, &b);
    expect_published(&r, "20240603_0030-");
    assert_string_equal(r.final, snap_b);
    assert_true(inode_of(snap_b) == ino_b);
    cortes_list(list, sizeof(list));
    assert_string_equal(list, before);

    pkg_free(&a);
    pkg_free(&b);
}


static void
corrupt(const char *name)
{
    int                rc, fd;
    char               msg[PREP_ERRLEN], byte;
    off_t              at;
    ingest_snapfile_t  sf;

    rc = ingest_snapfile_open(&sf, st.cortes_fd, name, 0, msg, sizeof(msg));
    assert_int_equal(rc, PREP_SNAP_OK);
    at = (off_t) (sf.snap.header->data_off + sf.snap.header->data_size / 2);
    ingest_snapfile_close(&sf);

    /* one byte in the middle of the data: the header and the index
     * still read, only the data CRC tells */
    fd = openat(st.cortes_fd, name, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    byte ^= 0x55;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    (void) close(fd);

    rc = ingest_snapfile_open(&sf, st.cortes_fd, name, 0, msg, sizeof(msg));
    assert_int_equal(rc, PREP_SNAP_OK);
    ingest_snapfile_close(&sf);
}


static int
sound(const char *name)
{
    int                rc;
    char               msg[PREP_ERRLEN];
    ingest_snapfile_t  sf;

    rc = ingest_snapfile_open(&sf, st.cortes_fd, name, PREP_SNAP_VERIFY_DATA,
                              msg, sizeof(msg));
    ingest_snapfile_close(&sf);

    return rc == PREP_SNAP_OK;
}


static void
test_corrupt_existing_snapshot_is_replaced(void **state)
{
    run_t  r;
    pkg_t  a, b;
    char   snap_b[INGEST_SNAP_NAME_LEN];
    ino_t  ino_b;

    (void) state;

    rolled_back(&a, &b, snap_b);
    corrupt(snap_b);
    assert_false(sound(snap_b));
    ino_b = inode_of(snap_b);

    publish(&r, &b);
    expect_published(&r, "20240603_0030-");
    assert_string_equal(r.final, snap_b);
    assert_true(inode_of(snap_b) != ino_b);
    assert_true(sound(snap_b));

    pkg_free(&a);
    pkg_free(&b);
}


static void
test_corrupt_live_snapshot_is_repaired(void **state)
{
    run_t  r;
    pkg_t  a;
    char   snap[INGEST_SNAP_NAME_LEN];

    (void) state;

    pkg_make(&a, 15, "a");

    publish(&r, &a);
    (void) snprintf(snap, sizeof(snap), "%s", r.final);
    corrupt(snap);

    /* the live package again, but what current names does not verify:
     * written anew and made current again */
    publish(&r, &a);
    expect_published(&r, "20240603_0015-");
    assert_string_equal(r.final, snap);
    assert_true(sound(snap));

    pkg_free(&a);
}


static void
test_commit_or_keep(void **state)
{
    int           fd, fd2;
    char          tmp[32], tmp2[32];
    run_t         r;
    pkg_t         a;
    ino_t         ino;
    ingest_err_t  err;

    (void) state;

    ingest_err_reset(&err);

    /* no snapshot of that name: committed */
    assert_int_equal(ingest_store_tmp(&st, tmp, sizeof(tmp), &fd, &err), 0);
    assert_int_equal(write(fd, "not a snapshot", 14), 14);
    assert_int_equal(ingest_store_commit_or_keep(&st, fd, tmp, "x.snap",
                                                 &err),
                     0);
    (void) close(fd);
    assert_int_equal(ingest_store_exists(&st, tmp), 0);
    assert_int_equal(ingest_store_exists(&st, "x.snap"), 1);
    ino = inode_of("x.snap");

    /* one that is not sound: replaced */
    assert_int_equal(ingest_store_tmp(&st, tmp2, sizeof(tmp2), &fd2, &err),
                     0);
    assert_int_equal(ingest_store_commit_or_keep(&st, fd2, tmp2, "x.snap",
                                                 &err),
                     0);
    (void) close(fd2);
    assert_int_equal(ingest_store_exists(&st, tmp2), 0);
    assert_true(inode_of("x.snap") != ino);

    /* a sound one: kept, the temp file removed */
    pkg_make(&a, 15, "a");
    publish(&r, &a);
    expect_published(&r, "20240603_0015-");
    ino = inode_of(r.final);
    assert_int_equal(ingest_store_tmp(&st, tmp, sizeof(tmp), &fd, &err), 0);
    assert_int_equal(ingest_store_commit_or_keep(&st, fd, tmp, r.final,
                                                 &err),
                     1);
    (void) close(fd);
    assert_int_equal(ingest_store_exists(&st, tmp), 0);
    assert_true(inode_of(r.final) == ino);
    pkg_free(&a);

    /* a temp file that is not there: an error, with the reason */
    assert_int_equal(ingest_store_commit_or_keep(&st, -1, ".tmp-gone",
                                                 "y.snap", &err),
                     -1);
    assert_int_not_equal(err.reason, INGEST_OK);
    assert_int_equal(ingest_store_exists(&st, "y.snap"), 0);
}


/* -------------------------------------------------------------- policy */


static void
test_hold_names_without_flipping(void **state)
{
    run_t                        r;
    pkg_t                        a, b, c;
    char                         cur[INGEST_SNAP_NAME_LEN];
    char                         live[INGEST_SNAP_NAME_LEN];
    ingest_publication_policy_t  policy;

    (void) state;

    pkg_make(&a, 15, "a");
    pkg_make(&b, 30, "b");
    pkg_make(&c, 0, "c");

    publish(&r, &a);
    (void) snprintf(live, sizeof(live), "%s", r.final);

    memset(&policy, 0, sizeof(ingest_publication_policy_t));
    policy.hold = hook_hold;

    run(&r, &b, &policy);
    assert_int_equal(r.step, INGEST_STEP_CONTINUE);
    assert_int_equal(r.pub.outcome, INGEST_PUB_HELD);
    assert_int_equal(hold_calls, 1);
    assert_int_equal(r.tmp_left, 0);
    assert_true(sound(r.final));
    current_of(cur, sizeof(cur));
    assert_string_equal(cur, live);

    /* the hold is asked only of a package to publish */
    run(&r, &a, &policy);
    assert_int_equal(r.pub.outcome, INGEST_PUB_LIVE);
    run(&r, &c, &policy);
    assert_int_equal(r.step, INGEST_STEP_REJECT);
    assert_int_equal(hold_calls, 1);

    pkg_free(&a);
    pkg_free(&b);
    pkg_free(&c);
}


static void
test_validated_hook_comes_before_the_decision(void **state)
{
    run_t                        r;
    pkg_t                        a, b;
    char                         list[512], before[512];
    ingest_step_e                answer;
    ingest_publication_policy_t  policy;

    (void) state;

    pkg_make(&a, 15, "a");
    pkg_make(&b, 30, "b");

    publish(&r, &b);
    cortes_list(before, sizeof(before));

    memset(&policy, 0, sizeof(ingest_publication_policy_t));
    policy.validated = hook_validated;
    policy.data = &answer;

    /* its answer wins over the decision (older) it comes before */
    answer = INGEST_STEP_WAIT;
    run(&r, &a, &policy);
    assert_int_equal(r.step, INGEST_STEP_WAIT);
    assert_int_equal(r.err.reason, INGEST_SHA256_MISMATCH);
    assert_int_equal(validated_calls, 1);
    cortes_list(list, sizeof(list));
    assert_string_equal(list, before);

    answer = INGEST_STEP_CONTINUE;
    run(&r, &a, &policy);
    assert_int_equal(r.step, INGEST_STEP_REJECT);
    assert_int_equal(r.err.reason, INGEST_OLDER_CORTE);
    assert_int_equal(validated_calls, 2);

    pkg_free(&a);
    pkg_free(&b);
}


static void
test_bad_packages(void **state)
{
    run_t                        r;
    pkg_t                        a, half, junk;
    char                         list[512];
    ingest_publication_policy_t  policy;

    (void) state;

    pkg_make(&a, 15, "a");

    memset(&half, 0, sizeof(pkg_t));
    (void) snprintf(half.name, sizeof(half.name), "%s", a.name);
    half.fd = temp_fd(a.buf, a.used / 2);

    memset(&junk, 0, sizeof(pkg_t));
    (void) snprintf(junk.name, sizeof(junk.name), "%s", a.name);
    junk.fd = temp_fd("not a package at all", 20);

    memset(&policy, 0, sizeof(ingest_publication_policy_t));
    policy.validated = hook_validated;

    /* an upload cut short may still be growing: wait */
    run(&r, &half, &policy);
    assert_int_equal(r.step, INGEST_STEP_WAIT);
    assert_int_equal(r.err.reason, INGEST_TRUNCATED);

    run(&r, &junk, &policy);
    assert_int_equal(r.step, INGEST_STEP_REJECT);
    assert_int_equal(r.err.reason, INGEST_NOT_GZIP);

    /* neither reached the hook, nor the store */
    assert_int_equal(validated_calls, 0);
    cortes_list(list, sizeof(list));
    assert_string_equal(list, "");

    /* the same, validated in a child */
    policy.in_child = 1;
    run(&r, &junk, &policy);
    assert_int_equal(r.step, INGEST_STEP_REJECT);
    assert_int_equal(r.err.reason, INGEST_NOT_GZIP);

    run(&r, &a, &policy);
    expect_published(&r, "20240603_0015-");
    assert_int_equal(validated_calls, 1);

    (void) close(half.fd);
    (void) close(junk.fd);
    pkg_free(&a);
}


static void
test_steps_of_errors(void **state)
{
    ingest_err_t  err;

    (void) state;

    ingest_err_reset(&err);
    assert_int_equal(ingest_step_of(&err), INGEST_STEP_CONTINUE);

    err.reason = INGEST_TRUNCATED;
    assert_int_equal(ingest_step_of(&err), INGEST_STEP_WAIT);
    assert_int_equal(ingest_step_exit(INGEST_STEP_WAIT, &err),
                     INGEST_EXIT_REJECTED);

    err.reason = INGEST_OLDER_CORTE;
    assert_int_equal(ingest_step_of(&err), INGEST_STEP_REJECT);
    assert_int_equal(ingest_step_exit(INGEST_STEP_REJECT, &err),
                     INGEST_EXIT_REJECTED);

    err.reason = INGEST_NOSPACE;
    assert_int_equal(ingest_step_of(&err), INGEST_STEP_FAIL);
    assert_int_equal(ingest_step_exit(INGEST_STEP_FAIL, &err),
                     INGEST_EXIT_FAILED);

    err.reason = INGEST_USAGE;
    assert_int_equal(ingest_step_exit(INGEST_STEP_FAIL, &err),
                     INGEST_EXIT_USAGE);

    assert_int_equal(ingest_step_exit(INGEST_STEP_CONTINUE, &err),
                     INGEST_EXIT_OK);
    assert_int_equal(ingest_step_exit(INGEST_STEP_DONE, &err),
                     INGEST_EXIT_OK);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_no_live_corte_publishes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_publishes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_older_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_same_id_other_bytes_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_identical_is_already_current,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_current_is_replaced,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_leaves_the_store_alone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_without_a_store,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sound_existing_snapshot_is_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_corrupt_existing_snapshot_is_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_corrupt_live_snapshot_is_repaired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_or_keep, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hold_names_without_flipping,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_validated_hook_comes_before_the_decision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_packages, setup, teardown),
        cmocka_unit_test(test_steps_of_errors),
    };

    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        fprintf(stderr, "no C.UTF-8 locale\n");
        return 1;
    }

    return cmocka_run_group_tests(tests, NULL, NULL);
}
