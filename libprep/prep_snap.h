/*
 * Copyright (C) the ngx_prep authors
 *
 * The snapshot format: one immutable file per corte, written once by
 * prep-ingest and read through mmap() by every nginx worker.
 *
 * Layout (all integers little-endian, every position an offset from the
 * start of the file, never a pointer):
 *
 *     header      prep_snap_header_t, 256 bytes, at offset 0
 *     data        raw bodies and gzip variants, appended in order
 *     index       entry_count * prep_snap_entry_t, 8-byte aligned,
 *                 sorted by path (bytewise), no duplicates
 *     strings     NUL-terminated paths and content types
 *
 * Integrity: header_crc covers the header (with header_crc as zero),
 * index_crc covers index and strings, data_crc covers the data region.
 * The reader checks every offset and length against the file before
 * anything is used, so a truncated, bit-flipped or foreign file is refused
 * rather than trusted.
 *
 * This header is plain C: no nginx headers, shared by the module, the
 * ingest daemon and the tests.
 */


#ifndef _PREP_SNAP_H_INCLUDED_
#define _PREP_SNAP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>


#define PREP_SNAP_MAGIC            "PREPSNAP"
#define PREP_SNAP_MAGIC_LEN        8
#define PREP_SNAP_VERSION          1
#define PREP_SNAP_BYTE_ORDER       0x01020304u
#define PREP_SNAP_HEADER_SIZE      256

#define PREP_SNAP_ID_LEN           32
#define PREP_SNAP_TEXT_LEN         64
#define PREP_SNAP_HASH_LEN         16
#define PREP_SHA256_LEN            32

/* limits the reader enforces, so a hostile file cannot make it loop */
#define PREP_SNAP_MAX_ENTRIES      1000000u
#define PREP_SNAP_MAX_PATH         1024u
#define PREP_SNAP_MAX_TYPE         128u

/* corte limits: the local time must stay within year 9999 */
#define PREP_SNAP_MAX_UTC_OFFSET   (14 * 3600)
#define PREP_SNAP_MAX_TIME         (253402300799LL - PREP_SNAP_MAX_UTC_OFFSET)

/* ISO 8601 with offset: "2024-06-02T20:15:00-05:00" plus NUL */
#define PREP_SNAP_ISO8601_LEN      26

#define PREP_ERRLEN                256


typedef struct {
    char      magic[PREP_SNAP_MAGIC_LEN];
    uint32_t  version;
    uint32_t  byte_order;
    uint32_t  header_size;
    uint32_t  header_crc;
    uint64_t  file_size;

    uint64_t  data_off;
    uint64_t  data_size;
    uint32_t  data_crc;
    uint32_t  entry_count;
    uint64_t  index_off;
    uint64_t  strings_off;
    uint64_t  strings_size;
    uint32_t  index_crc;

    /* seconds east of UTC: -18000 for "(UTC-5)" */
    int32_t   corte_utc_offset;
    int64_t   corte_time;
    int64_t   created_time;

    /* "20240602_2015": the corte's local date and time, NUL padded */
    char      corte_id[PREP_SNAP_ID_LEN];

    /* the text the corte time was read from, NUL padded */
    char      corte_text[PREP_SNAP_TEXT_LEN];

    uint8_t   package_sha256[PREP_SHA256_LEN];
    uint8_t   reserved[24];
} prep_snap_header_t;


typedef struct {
    uint32_t  path_off;         /* into strings; "/assets/x.json" */
    uint32_t  path_len;         /* without the NUL */
    uint32_t  type_off;         /* into strings; "application/json" */
    uint32_t  type_len;
    uint64_t  data_off;         /* from the start of the file */
    uint64_t  data_len;
    uint64_t  gzip_off;
    uint64_t  gzip_len;         /* 0: no gzip variant */
    uint8_t   hash[PREP_SNAP_HASH_LEN];  /* first bytes of SHA-256 */
} prep_snap_entry_t;


/* a validated view over a mapped snapshot; holds no allocation */
typedef struct {
    const uint8_t              *base;
    size_t                      size;
    const prep_snap_header_t   *header;
    const prep_snap_entry_t    *entries;
    uint32_t                    nentries;
    const char                 *strings;
    size_t                      strings_size;
} prep_snap_t;


typedef enum {
    PREP_SNAP_OK = 0,
    PREP_SNAP_ETOOSMALL,
    PREP_SNAP_EMAGIC,
    PREP_SNAP_EVERSION,
    PREP_SNAP_EBYTEORDER,
    PREP_SNAP_EHEADER,
    PREP_SNAP_EHEADERCRC,
    PREP_SNAP_ESIZE,
    PREP_SNAP_EBOUNDS,
    PREP_SNAP_EINDEXCRC,
    PREP_SNAP_EENTRY,
    PREP_SNAP_EORDER,
    PREP_SNAP_EDATACRC,
    PREP_SNAP_ECORTE,
    PREP_SNAP_EIO,
    PREP_SNAP_ENOMEM,
    PREP_SNAP_EINVAL,
    PREP_SNAP_ELIMIT
} prep_snap_rc_e;


/* prep_snap_open() flags */
#define PREP_SNAP_VERIFY_DATA      0x1   /* also check data_crc (slow) */


/*
 * Validates the snapshot in [base, base + size) and fills "s".  Returns
 * PREP_SNAP_OK or an error code; on error a one-line explanation is
 * written to err (may be NULL).  Never reads outside the buffer.
 */
int prep_snap_open(prep_snap_t *s, const void *base, size_t size,
    unsigned flags, char *err, size_t errlen);

/* binary search by exact path ("/index.html"); NULL when absent */
const prep_snap_entry_t *prep_snap_lookup(const prep_snap_t *s,
    const char *path, size_t len);

const char *prep_snap_entry_path(const prep_snap_t *s,
    const prep_snap_entry_t *e);
const char *prep_snap_entry_type(const prep_snap_t *s,
    const prep_snap_entry_t *e);
const uint8_t *prep_snap_entry_data(const prep_snap_t *s,
    const prep_snap_entry_t *e);
const uint8_t *prep_snap_entry_gzip(const prep_snap_t *s,
    const prep_snap_entry_t *e);

/*
 * Writes the strong ETag, quotes included: "\"<32 hex>\"" for the raw
 * body, "\"<32 hex>-gz\"" for the gzip variant.  buf must hold
 * PREP_SNAP_ETAG_LEN bytes; returns the length without the NUL.
 */
#define PREP_SNAP_ETAG_LEN         (2 * PREP_SNAP_HASH_LEN + 6)
size_t prep_snap_etag(const prep_snap_entry_t *e, int gzip, char *buf);

/* "2024-06-02T20:15:00-05:00" from corte_time and corte_utc_offset */
size_t prep_snap_corte_iso8601(const prep_snap_header_t *h, char *buf,
    size_t len);

const char *prep_snap_strerror(int rc);

/* CRC-32 (zlib's polynomial) of a region of any size */
uint32_t prep_snap_crc32(uint32_t crc, const void *data, size_t len);


/*
 * The writer.  Data is streamed: begin an entry, write its bytes in
 * chunks, end it with the content's SHA-256; gzip variants are added
 * later for any entry, also streamed.  Only the index (a few dozen bytes
 * per entry) stays in memory.  All writes go to fd sequentially after a
 * placeholder header; prep_snap_writer_finish() sorts the index, writes
 * index and strings, then the header at offset 0.  The caller fsyncs and
 * renames.
 */

typedef struct prep_snap_writer_s  prep_snap_writer_t;

/* fd: a new, empty file opened for writing, at offset 0 */
prep_snap_writer_t *prep_snap_writer_create(int fd, char *err,
    size_t errlen);
void prep_snap_writer_destroy(prep_snap_writer_t *w);

/*
 * Bodies (and gzip variants of bodies) of PREP_SNAP_PAGE_MIN bytes or more
 * start on a PREP_SNAP_PAGE boundary of the file, the gap zero-filled.
 * nginx sends them with sendfile(), and a sendfile() that starts inside
 * a page, under TCP_CORK ("tcp_nopush on", Debian's default) with Nagle,
 * ends each response with a segment that waits for the client's delayed
 * ACK: 40 ms a response on loopback (bench/RESULTS.md).  Readers need no
 * change: entries were never required to be contiguous.
 */
#define PREP_SNAP_PAGE             4096u
#define PREP_SNAP_PAGE_MIN         16384u

/* before prep_snap_writer_begin(): the next body will be size bytes */
int prep_snap_writer_align_for(prep_snap_writer_t *w, uint64_t size);

/* path normalized ("/a/b.json"), type as "text/html; charset=utf-8" */
int prep_snap_writer_begin(prep_snap_writer_t *w, const char *path,
    size_t path_len, const char *type, size_t type_len);
int prep_snap_writer_write(prep_snap_writer_t *w, const void *data,
    size_t len);
/* returns the entry's ordinal (>= 0) or -1 on error */
long prep_snap_writer_end(prep_snap_writer_t *w,
    const uint8_t sha256[PREP_SHA256_LEN]);

/* gzip variant of entry "ordinal"; one at a time, after that entry ended;
 * page-aligned when the entry's body is PREP_SNAP_PAGE_MIN or more */
int prep_snap_writer_gzip_begin(prep_snap_writer_t *w, long ordinal);
int prep_snap_writer_gzip_write(prep_snap_writer_t *w, const void *data,
    size_t len);
int prep_snap_writer_gzip_end(prep_snap_writer_t *w);

/* the writer's view of entry "ordinal": file offset and length of data */
int prep_snap_writer_entry(prep_snap_writer_t *w, long ordinal,
    uint64_t *data_off, uint64_t *data_len);

/* writes out buffered bytes, so pread() on fd sees every ended entry */
int prep_snap_writer_flush(prep_snap_writer_t *w);

void prep_snap_writer_set_corte(prep_snap_writer_t *w, int64_t corte_time,
    int32_t utc_offset, const char *id, const char *text,
    const uint8_t package_sha256[PREP_SHA256_LEN]);

/* fails with PREP_SNAP_EINVAL and a message on a duplicate path */
int prep_snap_writer_finish(prep_snap_writer_t *w);

const char *prep_snap_writer_error(prep_snap_writer_t *w);


#endif /* _PREP_SNAP_H_INCLUDED_ */
