/*
 * Copyright (C) the ngx_prep authors
 *
 * HyperLogLog distinct counting over 64-bit hashes: fixed memory, about
 * 1.04 / sqrt(2^p) relative error (0.81% at p = 14), and mergeable, so
 * the visitors of several servers behind a CDN add up without counting a
 * visitor twice.  Registers are plain bytes: an updater on another core
 * only ever raises a register, so a racing update can at worst lose one
 * raise, never corrupt the estimate.
 */


#ifndef _PREP_HLL_H_INCLUDED_
#define _PREP_HLL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define PREP_HLL_MIN_P   4
#define PREP_HLL_MAX_P   16

#define prep_hll_size(p)  ((size_t) 1 << (p))


/* registers: prep_hll_size(p) bytes, zeroed for an empty set */
void prep_hll_add(uint8_t *registers, unsigned p, uint64_t hash);

/*
 * The register prep_hll_add() raises for hash and the rank it raises it
 * to (1 to 65 - p), for updaters that store the register themselves
 * (atomically, in shared memory).
 */
size_t prep_hll_index(unsigned p, uint64_t hash, uint8_t *rank);

/* registers of dst become the union of dst and src (same p) */
void prep_hll_merge(uint8_t *dst, const uint8_t *src, unsigned p);

/* the estimated number of distinct hashes added */
uint64_t prep_hll_count(const uint8_t *registers, unsigned p);


/*
 * SipHash-2-4 (Aumasson and Bernstein): a keyed 64-bit hash.  With a
 * secret key that rotates daily, a visitor id cannot be reversed into an
 * address, and nobody outside can craft collisions.
 */
uint64_t prep_siphash24(const uint8_t key[16], const void *data,
    size_t len);


#endif /* _PREP_HLL_H_INCLUDED_ */
