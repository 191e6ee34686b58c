/*
 * Copyright (C) the ngx_prep authors
 *
 * libFuzzer target: bytes in, as a dropped package, through the whole
 * package validator and snapshot builder (ingest_build: gzip check,
 * strict tar check, libarchive, names, limits, corte sources in CSV,
 * JSON and zips, gzip variants), into a memory file; a snapshot that is
 * built must then validate.  Small limits keep each run fast.
 */


#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "package/ingest_build.h"
#include "store/ingest_store.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int  fuzz_spill = -1;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    /* as main() does: libarchive needs a UTF-8 locale for names */
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        abort();
    }

    fuzz_spill = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    return fuzz_spill >= 0 ? 0 : -1;
}


static int
fuzz_memfd(const char *name, const uint8_t *data, size_t size)
{
    int      fd;
    ssize_t  n;

    fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        abort();
    }

    while (size > 0) {
        n = write(fd, data, size);
        if (n <= 0) {
            abort();
        }

        data += n;
        size -= (size_t) n;
    }

    return fd;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     pkg, snap, rc;
    char                    msg[PREP_ERRLEN];
    ingest_err_t            err;
    ingest_limits_t         lim;
    ingest_snapfile_t       sf;
    ingest_build_conf_t     conf;
    ingest_build_result_t   res;

    pkg = fuzz_memfd("package", data, size);
    snap = fuzz_memfd("snapshot", NULL, 0);

    lim.max_entries = 500;
    lim.max_entry_size = 4u << 20;
    lim.max_total_size = 16u << 20;
    lim.max_ratio = 200;

    memset(&conf, 0, sizeof(ingest_build_conf_t));
    conf.fd = snap;
    conf.spill_dir = fuzz_spill;
    conf.package_name = "20240603_0015_PREP_QROO.tar.gz";
    conf.limits = &lim;
    conf.gzip_level = 1;
    conf.threads = 1;
    conf.prev_fd = -1;

    ingest_err_reset(&err);

    if (ingest_build(pkg, &conf, &res, &err) == 0) {
        /* what was accepted must be a snapshot nginx accepts */
        rc = ingest_snapfile_map(&sf, snap, PREP_SNAP_VERIFY_DATA, msg,
                                 sizeof(msg));
        if (rc != PREP_SNAP_OK) {
            abort();
        }

        ingest_snapfile_close(&sf);

    } else if (err.reason == INGEST_OK || err.msg[0] == '\0') {
        /* every failure says what and why */
        abort();
    }

    (void) close(pkg);
    (void) close(snap);

    return 0;
}
