/*
 * Copyright (C) the ngx_prep authors
 *
 * HyperLogLog (Flajolet et al. 2007) with the linear counting correction
 * for small cardinalities (Heule et al. 2013, without the empirical bias
 * tables: linear counting covers the range where they matter at p >= 12).
 */


#include <math.h>
#include <string.h>

#include "prep_hll.h"


void
prep_hll_add(uint8_t *registers, unsigned p, uint64_t hash)
{
    size_t   index;
    uint8_t  rank;

    index = prep_hll_index(p, hash, &rank);

    if (registers[index] < rank) {
        registers[index] = rank;
    }
}


size_t
prep_hll_index(unsigned p, uint64_t hash, uint8_t *rank)
{
    uint64_t  rest;

    /* the rank is the position of the first 1 bit of the remaining bits;
     * the sentinel bit bounds it at 64 - p + 1 when they are all zero */
    rest = (hash << p) | ((uint64_t) 1 << (p - 1));
    *rank = (uint8_t) (__builtin_clzll(rest) + 1);

    return (size_t) (hash >> (64 - p));
}


void
prep_hll_merge(uint8_t *dst, const uint8_t *src, unsigned p)
{
    size_t  i;

    for (i = 0; i < prep_hll_size(p); i++) {
        if (dst[i] < src[i]) {
            dst[i] = src[i];
        }
    }
}


uint64_t
prep_hll_count(const uint8_t *registers, unsigned p)
{
    size_t  i, m, zeros;
    double  sum, alpha, estimate;

    m = prep_hll_size(p);
    sum = 0.0;
    zeros = 0;

    for (i = 0; i < m; i++) {
        sum += ldexp(1.0, -(int) registers[i]);
        zeros += registers[i] == 0;
    }

    switch (m) {
    case 16:
        alpha = 0.673;
        break;
    case 32:
        alpha = 0.697;
        break;
    case 64:
        alpha = 0.709;
        break;
    default:
        alpha = 0.7213 / (1.0 + 1.079 / (double) m);
    }

    estimate = alpha * (double) m * (double) m / sum;

    if (estimate <= 2.5 * (double) m && zeros != 0) {
        estimate = (double) m * log((double) m / (double) zeros);
    }

    return (uint64_t) (estimate + 0.5);
}


#define PREP_ROTL(x, b)  (((x) << (b)) | ((x) >> (64 - (b))))

#define PREP_SIPROUND                                                        \
    do {                                                                     \
        v0 += v1; v1 = PREP_ROTL(v1, 13); v1 ^= v0; v0 = PREP_ROTL(v0, 32); \
        v2 += v3; v3 = PREP_ROTL(v3, 16); v3 ^= v2;                         \
        v0 += v3; v3 = PREP_ROTL(v3, 21); v3 ^= v0;                         \
        v2 += v1; v1 = PREP_ROTL(v1, 17); v1 ^= v2; v2 = PREP_ROTL(v2, 32); \
    } while (0)


static uint64_t
prep_load64_le(const uint8_t *p)
{
    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


uint64_t
prep_siphash24(const uint8_t key[16], const void *data, size_t len)
{
    int             i;
    size_t          left;
    uint64_t        k0, k1, v0, v1, v2, v3, m, b;
    const uint8_t  *p, *end;

    k0 = prep_load64_le(key);
    k1 = prep_load64_le(key + 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    p = data;
    end = p + (len - len % 8);

    for ( /* void */ ; p != end; p += 8) {
        m = prep_load64_le(p);
        v3 ^= m;
        PREP_SIPROUND;
        PREP_SIPROUND;
        v0 ^= m;
    }

    left = len % 8;
    b = (uint64_t) len << 56;

    for (i = (int) left - 1; i >= 0; i--) {
        b |= (uint64_t) p[i] << (8 * i);
    }

    v3 ^= b;
    PREP_SIPROUND;
    PREP_SIPROUND;
    v0 ^= b;

    v2 ^= 0xff;
    PREP_SIPROUND;
    PREP_SIPROUND;
    PREP_SIPROUND;
    PREP_SIPROUND;

    return v0 ^ v1 ^ v2 ^ v3;
}
