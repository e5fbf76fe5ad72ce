/* Private to src/text/: settings, stored-value helpers and corpus statistics shared by the index
 * (index.c) and the search (search.c). */
#ifndef MNEMO_TEXT_IMPL_H
#define MNEMO_TEXT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/keys.h"
#include "text/text.h"

#define TEXT_CONFIG_KEY MNEMO_MKEY_TEXT
#define TEXT_MK_POSTING 'P'
#define TEXT_MK_DOC 'F'
#define TEXT_MK_STATS 'S'
#define TEXT_TAG_KILL 0  /* 'P' term 0x00 0x00 iid gen(u32 BE): that generation of the posting is dead */
#define TEXT_TAG_BLOCK 1  /* 'P' term 0x00 0x01 seg: the postings one transaction wrote */
#define TEXT_TAG_MERGED 2 /* 'P' term 0x00 0x02 [chunk(u16 BE), from 1]: the postings a merge wrote */
#define TEXT_KILL_KEY_TAIL 13  /* tag, iid, gen */
#define TEXT_BLOCK_KEY_TAIL 9  /* tag, seg */
#define TEXT_MERGED_KEY_TAIL 3 /* tag, chunk (the first chunk: the tag alone) */
/* 1 when the key tail (after 'P' term 0x00, n bytes) names a block of postings. */
#define TEXT_IS_BLOCK(t, n) \
    (((n) == TEXT_BLOCK_KEY_TAIL && (t)[0] == TEXT_TAG_BLOCK) ||                                                  \
     (((n) == 1 || (n) == TEXT_MERGED_KEY_TAIL) && (t)[0] == TEXT_TAG_MERGED))

enum { TEXT_BUILDING = 1, TEXT_READY = 2 };

typedef struct text_conf {
    mnemo_text_cfg cfg;
    double k1, b;
    int state; /* TEXT_BUILDING or TEXT_READY */
} text_conf;

#define TEXT_DEFAULT_K1 1.2
#define TEXT_DEFAULT_B 0.75
#define TEXT_MAX_K1 100.0

/* The settings as txn sees them (txn NULL: committed). track != 0 makes a later change of them
 * conflict with txn: every record write tracks them, so enabling or disabling full text and a
 * record write never interleave. 0, MNEMO_ENOTFOUND (not enabled) or MNEMO_ECORRUPT. */
int mnemo_text__conf(text_conf *out, mnemo_db *db, mnemo_txn *txn, int track);

/* Corpus statistics as txn sees them, its own uncommitted changes included. */
int mnemo_text__stats(uint64_t *docs, uint64_t *total_len, mnemo_db *db, mnemo_txn *txn);

/* Checks k1 and b given to a call (0 = default); `fn` names the call in the message. */
int mnemo_text__check_bm25(double k1, double b, const char *fn);

/* LEB128 varints for the small numbers of postings. get returns bytes read, 0 when malformed. */
size_t mnemo_text__put_varint(unsigned char *p, uint64_t v);
size_t mnemo_text__get_varint(const unsigned char *p, size_t n, uint64_t *v);

/* 'P' term 0x00: the prefix of every key of the term (len + 2 bytes). */
size_t mnemo_text__term_prefix(unsigned char *out, const char *term, size_t len);

/* 'P' term 0x00 0x00 iid gen: the kill key of a posting; returns its length. */
size_t mnemo_text__kill_key(unsigned char *out, const char *term, size_t len, uint64_t iid, uint32_t gen);

/* One posting in a block (a block is its entries, by ascending iid, nothing else):
 *   varint iid delta, varint document length, varint tf << 1 | (gen != 0), [varint gen],
 *   tf varint position deltas. */
typedef struct text_entry {
    uint64_t iid;
    uint32_t dl, tf, gen;
    const unsigned char *pos; /* tf varint position deltas, pos_len bytes */
    size_t pos_len;
} text_entry;
/* Decodes the entry at v (n bytes left) following prev_iid (0 for the first): bytes read, or 0
 * when it is malformed. */
size_t mnemo_text__decode_entry(text_entry *e, const unsigned char *v, size_t n, uint64_t prev_iid);

/* A kill key's record and generation; kill keys of a term come sorted by (iid, gen). */
typedef struct text_kill {
    uint64_t iid;
    uint32_t gen;
} text_kill;
/* 1 when (iid, gen) is among the n sorted kills. */
int mnemo_text__killed(const text_kill *k, size_t n, uint64_t iid, uint32_t gen);

/* Merges the blocks of one term (dead entries and applied kill keys dropped) in a transaction of
 * its own; searches call it for terms whose blocks have piled up (TEXT_MERGE_BLOCKS). */
#define TEXT_MERGE_BLOCKS 64
int mnemo_text__merge_term(mnemo_db *db, const char *term, size_t len);

/* The postings of term that txn indexed and has not written yet (they are written at its commit),
 * in no particular order: cb gets the record, its length, tf and tf varint position deltas. */
typedef int (*mnemo_text_pending_fn)(void *arg, uint64_t iid, uint32_t dl, uint32_t tf, const unsigned char *pos,
                                     size_t pos_len);
int mnemo_text__pending(mnemo_db *db, mnemo_txn *txn, const char *term, size_t len, mnemo_text_pending_fn cb, void *arg);

#endif
