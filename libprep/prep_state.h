/*
 * Copyright (C) the ngx_prep authors
 *
 * The container of the statistics state file: a versioned, checksummed
 * sequence of typed sections.  The module decides what goes into the
 * sections; this file only frames them, so that a truncated, bit-flipped,
 * foreign or newer file is refused as a whole before anything in it is
 * used.
 *
 * Layout (all integers little-endian):
 *
 *     header     48 bytes:
 *                  magic "PREPSTAT"      8
 *                  version               u32
 *                  header size           u32   (48)
 *                  file size             u64
 *                  created (unix time)   i64
 *                  section count         u32
 *                  body CRC-32           u32   (every byte after the header)
 *                  reserved              u32   (0)
 *                  header CRC-32         u32   (with this field as zero)
 *     sections   each: type u32, payload CRC-32 u32, payload length u64,
 *                then the payload and zero padding to 8 bytes
 *
 * Plain C, no nginx headers: shared by the module and the unit tests.
 */


#ifndef _PREP_STATE_H_INCLUDED_
#define _PREP_STATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define PREP_STATE_MAGIC           "PREPSTAT"
#define PREP_STATE_MAGIC_LEN       8
/* written: 2; read: 1 to 2 (section contents grew, the frame did not) */
#define PREP_STATE_VERSION         2
#define PREP_STATE_VERSION_MIN     1
#define PREP_STATE_HEADER_SIZE     48
#define PREP_STATE_SECTION_SIZE    16

/* a reader refuses more sections than this */
#define PREP_STATE_MAX_SECTIONS    4096


typedef enum {
    PREP_STATE_OK = 0,
    PREP_STATE_ETOOSMALL,
    PREP_STATE_EMAGIC,
    PREP_STATE_EVERSION,
    PREP_STATE_EHEADER,
    PREP_STATE_EHEADERCRC,
    PREP_STATE_ESIZE,
    PREP_STATE_EBODYCRC,
    PREP_STATE_ESECTION,
    PREP_STATE_ESECTIONCRC,
    PREP_STATE_EOVERFLOW
} prep_state_rc_e;


/* the writer fills a caller's buffer; nothing is allocated */
typedef struct {
    uint8_t        *buf;
    size_t          size;
    size_t          len;
    size_t          section;        /* offset of the open section, or 0 */
    uint32_t        count;
    uint32_t        version;        /* PREP_STATE_VERSION unless set */
    int             overflow;
} prep_state_writer_t;


/* a section being read: its type and a bounds-checked cursor */
typedef struct {
    uint32_t        type;
    const uint8_t  *data;
    size_t          len;
    size_t          pos;
    int             short_read;     /* a get went past the end */
} prep_state_section_t;


typedef struct {
    const uint8_t  *base;
    size_t          len;
    size_t          pos;
    uint32_t        left;
    uint32_t        version;
    int64_t         created;
} prep_state_reader_t;


void prep_state_writer_init(prep_state_writer_t *w, void *buf, size_t size);
void prep_state_section_begin(prep_state_writer_t *w, uint32_t type);
void prep_state_put_u32(prep_state_writer_t *w, uint32_t v);
void prep_state_put_u64(prep_state_writer_t *w, uint64_t v);
void prep_state_put_bytes(prep_state_writer_t *w, const void *data,
    size_t len);
void prep_state_section_end(prep_state_writer_t *w);

/*
 * Closes the open section, writes the header and returns the length of
 * the file in the buffer, or 0 when the buffer was too small.
 */
size_t prep_state_writer_finish(prep_state_writer_t *w, int64_t created);

/* bytes a section with a payload of len bytes takes in the file */
#define prep_state_section_space(len)                                        \
    (PREP_STATE_SECTION_SIZE + (((size_t) (len) + 7) & ~(size_t) 7))


/*
 * Validates the whole file in [buf, buf + len): header, sizes, every
 * section's framing and both levels of CRC.  Returns PREP_STATE_OK or an
 * error with a one-line explanation in err (may be NULL).  Never reads
 * outside the buffer.
 */
int prep_state_open(prep_state_reader_t *r, const void *buf, size_t len,
    char *err, size_t errlen);

/* 1 and the next section in s, 0 after the last one */
int prep_state_next(prep_state_reader_t *r, prep_state_section_t *s);

/* reads past the end of a section return 0 or NULL and set short_read */
uint32_t prep_state_get_u32(prep_state_section_t *s);
uint64_t prep_state_get_u64(prep_state_section_t *s);
const uint8_t *prep_state_get_bytes(prep_state_section_t *s, size_t len);
size_t prep_state_left(const prep_state_section_t *s);

const char *prep_state_strerror(int rc);


#endif /* _PREP_STATE_H_INCLUDED_ */
