/*
 * Copyright (C) the ngx_prep authors
 */


#include <stdio.h>
#include <string.h>

#include "package/ingest_tarcheck.h"


#define INGEST_PAX_RECORD_MAX   (1u << 20)

typedef enum {
    INGEST_REC_LENGTH = 0,
    INGEST_REC_KEY,
    INGEST_REC_VALUE
} ingest_rec_state_e;


static void ingest_tar_fail(ingest_tarcheck_t *t, ingest_reason_e reason,
    const char *what);


void
ingest_tarcheck_init(ingest_tarcheck_t *t)
{
    memset(t, 0, sizeof(ingest_tarcheck_t));
    ingest_err_reset(&t->err);

    t->names = EVP_MD_CTX_new();
    t->names_lib = EVP_MD_CTX_new();
    t->name = EVP_MD_CTX_new();

    if (t->names == NULL || t->names_lib == NULL || t->name == NULL
        || EVP_DigestInit_ex(t->names, EVP_sha256(), NULL) != 1
        || EVP_DigestInit_ex(t->names_lib, EVP_sha256(), NULL) != 1)
    {
        ingest_tar_fail(t, INGEST_NOMEM, "no memory for the names' digest");
    }
}


void
ingest_tarcheck_free(ingest_tarcheck_t *t)
{
    EVP_MD_CTX_free(t->names);
    EVP_MD_CTX_free(t->names_lib);
    EVP_MD_CTX_free(t->name);
    t->names = NULL;
    t->names_lib = NULL;
    t->name = NULL;
}


/* a name goes into a digest as its length (8 bytes) then its bytes, so
 * that no two sequences of names give the same stream */
static int
ingest_tar_digest_name(EVP_MD_CTX *md, const unsigned char *digest,
    unsigned dlen, uint64_t len)
{
    unsigned char  l[8];
    unsigned       i;

    for (i = 0; i < 8; i++) {
        l[i] = (unsigned char) (len >> (8 * i));
    }

    return EVP_DigestUpdate(md, l, sizeof(l)) == 1
           && EVP_DigestUpdate(md, digest, dlen) == 1;
}


void
ingest_tarcheck_name(ingest_tarcheck_t *t, const char *name, size_t len)
{
    unsigned char  d[EVP_MAX_MD_SIZE];
    unsigned       dlen;

    if (t->failed) {
        return;
    }

    t->lib_entries++;

    if (EVP_Digest(name, len, d, &dlen, EVP_sha256(), NULL) != 1
        || !ingest_tar_digest_name(t->names_lib, d, dlen, len))
    {
        ingest_tar_fail(t, INGEST_INTERNAL, "SHA-256 failed");
    }
}


static void
ingest_tar_name_begin(ingest_tarcheck_t *t)
{
    t->name_len = 0;

    if (EVP_DigestInit_ex(t->name, EVP_sha256(), NULL) != 1) {
        ingest_tar_fail(t, INGEST_INTERNAL, "SHA-256 failed");
    }
}


static void
ingest_tar_name_add(ingest_tarcheck_t *t, const void *p, size_t len)
{
    t->name_len += len;

    if (EVP_DigestUpdate(t->name, p, len) != 1) {
        ingest_tar_fail(t, INGEST_INTERNAL, "SHA-256 failed");
    }
}


/* the name of an entry is settled: into the sequence */
static void
ingest_tar_name_end(ingest_tarcheck_t *t)
{
    unsigned char  d[EVP_MAX_MD_SIZE];
    unsigned       dlen;

    if (EVP_DigestFinal_ex(t->name, d, &dlen) != 1
        || !ingest_tar_digest_name(t->names, d, dlen, t->name_len))
    {
        ingest_tar_fail(t, INGEST_INTERNAL, "SHA-256 failed");
    }
}


/* a second source of a name for the same entry: readers disagree on
 * which one wins */
static int
ingest_tar_name_source(ingest_tarcheck_t *t, int src)
{
    if (t->name_src != 0) {
        ingest_tar_fail(t, INGEST_PATH_AMBIGUOUS, t->name_src == src
                        ? "two name records for one entry (tar readers "
                          "disagree on which one names it)"
                        : "a pax path and a GNU long name for one entry "
                          "(tar readers disagree on which one names it)");
        return -1;
    }

    t->name_src = src;

    return 0;
}


/* a NUL followed by anything but NULs inside a field */
static int
ingest_tar_nul_inside(const unsigned char *f, size_t len)
{
    size_t  i;

    for (i = 0; i < len && f[i] != '\0'; i++) {
        /* void */
    }

    for ( /* void */ ; i < len; i++) {
        if (f[i] != '\0') {
            return 1;
        }
    }

    return 0;
}


/* the name of an entry that no pax or GNU record named: POSIX ustar
 * joins prefix and name as libarchive does (no second slash) */
static void
ingest_tar_ustar_name(ingest_tarcheck_t *t, const unsigned char *b)
{
    size_t  plen, nlen;

    nlen = strnlen((const char *) b, 100);
    plen = 0;

    if (memcmp(b + 257, "ustar\0", 6) == 0) {
        if (ingest_tar_nul_inside(b + 345, 155)) {
            ingest_tar_fail(t, INGEST_PATH_NUL, "a NUL byte inside the "
                            "ustar prefix field (tar readers disagree on "
                            "the name)");
            return;
        }

        plen = strnlen((const char *) b + 345, 155);
    }

    if (t->name_src != 0) {
        return;
    }

    ingest_tar_name_begin(t);

    if (plen > 0) {
        ingest_tar_name_add(t, b + 345, plen);

        if (b[345 + plen - 1] != '/') {
            ingest_tar_name_add(t, "/", 1);
        }
    }

    ingest_tar_name_add(t, b, nlen);
}


/* a header of an entry (not x, g, L, K): its name is settled */
static void
ingest_tar_entry_named(ingest_tarcheck_t *t, const unsigned char *b)
{
    ingest_tar_ustar_name(t, b);

    if (!t->failed) {
        ingest_tar_name_end(t);
    }

    t->name_src = 0;
}


static void
ingest_tar_fail(ingest_tarcheck_t *t, ingest_reason_e reason,
    const char *what)
{
    if (!t->failed) {
        (void) ingest_fail(&t->err, reason, "%s (strict tar check, near "
                           "byte %llu of the tar stream)", what,
                           (unsigned long long) t->offset);
        t->failed = 1;
    }
}


/* 12 bytes: octal digits between optional spaces and NULs, or base-256 */
static int
ingest_tar_size(const unsigned char *f, size_t len, uint64_t *out)
{
    size_t    i;
    int       digits;
    uint64_t  v;

    v = 0;

    if (f[0] & 0x80) {
        /* base-256; 0xff starts a negative number */
        if (f[0] == 0xff) {
            return -1;
        }

        v = f[0] & 0x7f;

        for (i = 1; i < len; i++) {
            if (v > (UINT64_MAX >> 8)) {
                return -1;
            }

            v = v << 8 | f[i];
        }

        *out = v;
        return 0;
    }

    i = 0;
    while (i < len && f[i] == ' ') {
        i++;
    }

    digits = 0;

    while (i < len && f[i] >= '0' && f[i] <= '7') {
        if (v > (UINT64_MAX >> 3)) {
            return -1;
        }

        v = v << 3 | (uint64_t) (f[i] - '0');
        digits++;
        i++;
    }

    while (i < len && (f[i] == '\0' || f[i] == ' ')) {
        i++;
    }

    if (i != len || (digits == 0 && f[0] != '\0')) {
        return -1;
    }

    *out = v;

    return 0;
}


/* the checksum as unsigned and as signed bytes (old tars): either */
static int
ingest_tar_checksum_ok(const unsigned char *b)
{
    size_t    i;
    uint64_t  want;
    long      sum_u, sum_s;

    if (ingest_tar_size(b + 148, 8, &want) != 0) {
        return 0;
    }

    sum_u = 0;
    sum_s = 0;

    for (i = 0; i < INGEST_TAR_BLOCK; i++) {
        if (i >= 148 && i < 156) {
            sum_u += ' ';
            sum_s += ' ';
            continue;
        }

        sum_u += b[i];
        sum_s += (signed char) b[i];
    }

    return (uint64_t) sum_u == want || (sum_s >= 0 && (uint64_t) sum_s == want);
}


static void
ingest_tar_header(ingest_tarcheck_t *t)
{
    char            type, msg[64];
    size_t          i;
    uint64_t        size;
    const char     *what;
    unsigned char  *b;

    b = t->block;

    for (i = 0; i < INGEST_TAR_BLOCK && b[i] == 0; i++) {
        /* void */
    }

    if (i == INGEST_TAR_BLOCK) {
        t->ended = 1;
        return;
    }

    if (!ingest_tar_checksum_ok(b)) {
        ingest_tar_fail(t, INGEST_TAR_HEADER, "a header with a bad "
                        "checksum");
        return;
    }

    if (ingest_tar_size(b + 124, 12, &size) != 0) {
        ingest_tar_fail(t, INGEST_TAR_HEADER, "a size field that is not "
                        "a number");
        return;
    }

    type = (char) b[156];

    switch (type) {

    case 'x':
    case 'g':
        if (size > INGEST_PAX_RECORD_MAX) {
            ingest_tar_fail(t, INGEST_TAR_HEADER, "a pax header over "
                            "1 MiB");
            return;
        }

        t->in_pax = type == 'x' ? 1 : 2;
        t->pax_left = size;
        t->rec_state = INGEST_REC_LENGTH;
        t->rec_len = 0;
        t->rec_got = 0;

        if (type == 'x') {
            t->have_pax_size = 0;
        }

        t->skip = size;
        t->pad = (INGEST_TAR_BLOCK - size % INGEST_TAR_BLOCK)
                 % INGEST_TAR_BLOCK;
        return;

    case 'L':
    case 'K':
        /* GNU long names: data, not an entry */
        if (size > INGEST_PAX_RECORD_MAX) {
            ingest_tar_fail(t, INGEST_TAR_HEADER, "a GNU long name over "
                            "1 MiB");
            return;
        }

        if (type == 'L') {
            if (ingest_tar_name_source(t, 'L') != 0) {
                return;
            }

            ingest_tar_name_begin(t);
        }

        t->in_long = type;
        t->long_nul = 0;
        t->skip = size;
        t->pad = (INGEST_TAR_BLOCK - size % INGEST_TAR_BLOCK)
                 % INGEST_TAR_BLOCK;
        return;

    case '0':
    case '\0':
    case '7':
        if (t->have_pax_size) {
            size = t->pax_size;
            t->have_pax_size = 0;
        }

        t->entries++;
        t->file_bytes += size;
        ingest_tar_entry_named(t, b);
        t->skip = size;
        t->pad = (INGEST_TAR_BLOCK - size % INGEST_TAR_BLOCK)
                 % INGEST_TAR_BLOCK;
        return;

    case '1': what = "a hard link"; break;
    case '2': what = "a symbolic link"; break;
    case '3': what = "a character device"; break;
    case '4': what = "a block device"; break;
    case '5': what = "a directory"; break;
    case '6': what = "a FIFO"; break;

    default:
        ingest_tar_fail(t, INGEST_TAR_HEADER, "an entry of an unsupported "
                        "type (only files and directories)");
        return;
    }

    if (t->have_pax_size) {
        size = t->pax_size;
        t->have_pax_size = 0;
    }

    t->entries++;
    ingest_tar_entry_named(t, b);

    /* readers disagree on where the data of these ends: none allowed */
    if (size != 0) {
        (void) snprintf(msg, sizeof(msg), "%s with data", what);
        ingest_tar_fail(t, INGEST_TAR_HEADER, msg);
    }
}


static void
ingest_tar_pax_byte(ingest_tarcheck_t *t, unsigned char ch)
{
    t->rec_got++;

    switch (t->rec_state) {

    case INGEST_REC_LENGTH:
        if (ch >= '0' && ch <= '9' && t->rec_len < INGEST_PAX_RECORD_MAX) {
            t->rec_len = t->rec_len * 10 + (ch - '0');
            return;
        }

        if (ch == ' ' && t->rec_len > t->rec_got) {
            t->rec_state = INGEST_REC_KEY;
            t->key_len = 0;
            return;
        }

        ingest_tar_fail(t, INGEST_TAR_HEADER, "a malformed pax record");
        return;

    case INGEST_REC_KEY:
        if (ch == '=') {
            t->key[t->key_len] = '\0';
            t->rec_state = INGEST_REC_VALUE;
            t->value = 0;
            t->value_bad = 0;
            t->value_nul = 0;

            if (strncmp(t->key, "GNU.sparse.", 11) == 0) {
                ingest_tar_fail(t, INGEST_SPARSE, "a GNU.sparse pax "
                                "record (sparse files are refused)");
                return;
            }

            if (strcmp(t->key, "path") == 0) {
                if (t->in_pax == 2) {
                    ingest_tar_fail(t, INGEST_PATH_AMBIGUOUS, "a path in "
                                    "a global pax header (tar readers "
                                    "disagree on what it names)");
                    return;
                }

                if (ingest_tar_name_source(t, 'x') != 0) {
                    return;
                }

                ingest_tar_name_begin(t);
            }

            break;
        }

        if (t->key_len < INGEST_PAX_KEY_MAX) {
            t->key[t->key_len++] = (char) ch;
        }

        break;

    case INGEST_REC_VALUE:
        if (t->rec_got == t->rec_len) {
            break;
        }

        if (ch == '\0') {
            t->value_nul = 1;
        }

        if (strcmp(t->key, "path") == 0) {
            ingest_tar_name_add(t, &ch, 1);

        } else if (strcmp(t->key, "size") == 0) {
            if (ch < '0' || ch > '9' || t->value > (UINT64_MAX / 10 - 9)) {
                t->value_bad = 1;

            } else {
                t->value = t->value * 10 + (ch - '0');
            }
        }

        break;
    }

    if (t->rec_got > t->rec_len) {
        ingest_tar_fail(t, INGEST_TAR_HEADER, "a malformed pax record");
        return;
    }

    if (t->rec_got < t->rec_len) {
        return;
    }

    /* the record's last byte */
    if (ch != '\n' || t->rec_state != INGEST_REC_VALUE) {
        ingest_tar_fail(t, INGEST_TAR_HEADER, "a malformed pax record");
        return;
    }

    if (t->value_nul && (strcmp(t->key, "path") == 0
                         || strcmp(t->key, "linkpath") == 0))
    {
        ingest_tar_fail(t, INGEST_PATH_NUL, t->key[0] == 'p'
                        ? "a NUL byte inside a pax path record (tar "
                          "readers disagree on the name)"
                        : "a NUL byte inside a pax linkpath record (tar "
                          "readers disagree on the target)");
        return;
    }

    if (strcmp(t->key, "linkpath") == 0 && t->in_pax == 2) {
        ingest_tar_fail(t, INGEST_PATH_AMBIGUOUS, "a linkpath in a global "
                        "pax header (tar readers disagree on what it "
                        "names)");
        return;
    }

    if (strcmp(t->key, "size") == 0) {
        if (t->in_pax == 2 || t->value_bad) {
            ingest_tar_fail(t, INGEST_TAR_HEADER, t->in_pax == 2
                            ? "a size in a global pax header"
                            : "a pax size that is not a number");
            return;
        }

        t->pax_size = t->value;
        t->have_pax_size = 1;
    }

    t->rec_state = INGEST_REC_LENGTH;
    t->rec_len = 0;
    t->rec_got = 0;
}


/* GNU long name or link data: the name, then only NULs */
static void
ingest_tar_long_bytes(ingest_tarcheck_t *t, const unsigned char *p,
    size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] == '\0') {
            t->long_nul = 1;
            continue;
        }

        if (t->long_nul) {
            ingest_tar_fail(t, INGEST_PATH_NUL, t->in_long == 'L'
                            ? "a NUL byte inside a GNU long name record "
                              "(tar readers disagree on the name)"
                            : "a NUL byte inside a GNU long link record "
                              "(tar readers disagree on the target)");
            return;
        }

        if (t->in_long == 'L') {
            ingest_tar_name_add(t, p + i, 1);
        }
    }
}


void
ingest_tarcheck_feed(ingest_tarcheck_t *t, const unsigned char *data,
    size_t len)
{
    size_t  i, n;

    while (len > 0 && !t->failed) {

        if (t->ended) {
            for (i = 0; i < len; i++) {
                if (data[i] != 0) {
                    t->offset += i;
                    ingest_tar_fail(t, INGEST_TRAILING_GARBAGE, "data "
                                    "after the end of the tar archive "
                                    "(hidden entries?)");
                    return;
                }
            }

            t->offset += len;
            return;
        }

        if (t->skip > 0) {
            n = t->skip < len ? (size_t) t->skip : len;

            if (t->in_pax) {
                for (i = 0; i < n && !t->failed; i++) {
                    ingest_tar_pax_byte(t, data[i]);
                }

                if (t->skip == n) {
                    if (t->rec_got != 0) {
                        ingest_tar_fail(t, INGEST_TAR_HEADER, "a pax "
                                        "header ends inside a record");
                    }

                    t->in_pax = 0;
                }

            } else if (t->in_long) {
                ingest_tar_long_bytes(t, data, n);

                if (t->skip == n) {
                    t->in_long = 0;
                }
            }

            t->skip -= n;
            t->offset += n;
            data += n;
            len -= n;
            continue;
        }

        if (t->pad > 0) {
            n = t->pad < len ? (size_t) t->pad : len;
            t->pad -= n;
            t->offset += n;
            data += n;
            len -= n;
            continue;
        }

        n = INGEST_TAR_BLOCK - t->have;
        if (n > len) {
            n = len;
        }

        memcpy(t->block + t->have, data, n);
        t->have += n;
        data += n;
        len -= n;

        if (t->have == INGEST_TAR_BLOCK) {
            t->have = 0;
            ingest_tar_header(t);
            t->offset += INGEST_TAR_BLOCK;
        }
    }
}


int
ingest_tarcheck_finish(ingest_tarcheck_t *t)
{
    unsigned char  a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned       alen, blen;

    if (t->failed) {
        return -1;
    }

    if (!t->ended || t->have != 0) {
        ingest_tar_fail(t, INGEST_TAR_HEADER, "the tar archive has no "
                        "end-of-archive block");
        return -1;
    }

    if (t->name_src != 0) {
        ingest_tar_fail(t, INGEST_TAR_HEADER, "a name record for no entry");
        return -1;
    }

    if (t->lib_entries == t->entries && t->entries > 0) {
        if (EVP_DigestFinal_ex(t->names, a, &alen) != 1
            || EVP_DigestFinal_ex(t->names_lib, b, &blen) != 1)
        {
            ingest_tar_fail(t, INGEST_INTERNAL, "SHA-256 failed");
            return -1;
        }

        if (alen != blen || memcmp(a, b, alen) != 0) {
            ingest_tar_fail(t, INGEST_PATH_AMBIGUOUS, "the names of the "
                            "entries read two ways: libarchive's are not "
                            "those the tar headers state");
            return -1;
        }
    }

    return 0;
}
