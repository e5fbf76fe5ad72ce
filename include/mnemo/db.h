/**
 * @file mnemo/db.h
 * Opening, closing and maintaining a mnemo database.
 *
 * Threads: a mnemo_db is shared by any number of threads. Call mnemo_close once, when no other
 * thread uses the handle any more; if one still does, close waits for its calls in flight and
 * its later calls get MNEMO_EINVAL (a misuse made safe, not a way to stop other threads).
 */
#ifndef MNEMO_DB_H
#define MNEMO_DB_H

#include "mnemo/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An open database (opaque). */
typedef struct mnemo_db mnemo_db;

/** On-disk format written by and accepted by this library. */
#define MNEMO_FORMAT_VERSION 3

/** Compression for stored data files. */
typedef enum mnemo_compression {
    MNEMO_COMPRESSION_DEFAULT = 0, /**< LZ4: cheap to decode, good for mixed read/write */
    MNEMO_COMPRESSION_NONE,
    MNEMO_COMPRESSION_SNAPPY,
    MNEMO_COMPRESSION_ZLIB,
    MNEMO_COMPRESSION_BZIP2,
    MNEMO_COMPRESSION_LZ4,
    MNEMO_COMPRESSION_ZSTD,
} mnemo_compression;

#define MNEMO_OPTIONS_VERSION 6 /* 1..3 were the layouts of mnemo 0.x; 4 is 1.0's (no
                                  vector_quantization), 5 has no index_memory_limit; numbers are
                                  never reused */

/** Distance of a vector space. Distances come back as: squared Euclidean (L2); 1 - cosine
 * similarity (COSINE: vectors are normalised on write); 1 - dot product (IP). Smaller is nearer. */
typedef enum mnemo_metric {
    MNEMO_METRIC_DEFAULT = 0, /**< as stored, or L2 for a new space */
    MNEMO_METRIC_L2,
    MNEMO_METRIC_COSINE,
    MNEMO_METRIC_IP,
} mnemo_metric;

/** How the HNSW index of a vector space holds the vectors (docs/vectors.md "Quantization"). The
 * stored vectors (vector_data) are float32 either way. */
typedef enum mnemo_quantization {
    MNEMO_QUANT_DEFAULT = 0, /**< as stored, or NONE for a new space */
    MNEMO_QUANT_NONE,        /**< float32 in the index */
    MNEMO_QUANT_INT8,        /**< one int8 code per component plus 16 bytes per vector in the index
                                  (about a quarter of the floats' memory); searches rank by the codes
                                  and re-rank the best candidates with the stored float vectors */
} mnemo_quantization;

/** Progress of a long job (rebuilding the vector index at open, indexing text): `done` of `total`
 * items; `arg` is the caller's progress_arg. */
typedef void (*mnemo_progress_fn)(uint64_t done, uint64_t total, void *arg);

/** How the storage engine lays data out: tuning that each engine maps onto its own knobs and
 * ignores where it has none (docs/storage.md says which engine reads what). All-zero means the
 * defaults below. Part of mnemo_options by value; knobs added in 1.x take the place of `reserved`. */
typedef struct mnemo_storage_options {
    mnemo_compression compression; /**< compression of data files (default LZ4) */
    size_t write_buffer_bytes;     /**< bytes of writes buffered in memory per keyspace before they
                                        are written to a data file (default 64 MiB, at least 64 KiB) */
    size_t read_cache_bytes;       /**< bytes of the engine's cache of data blocks read from its files,
                                        shared by every keyspace (default 64 MiB) */
    int key_filter_bits;           /**< bits per key of the per-file filters that let a point read
                                        skip files without the key (bloom; default 10, at most 64;
                                        negative = no filters) */
    uint64_t reserved[4];          /**< must be zero (MNEMO_OPTIONS_INIT does it): room for later knobs */
} mnemo_storage_options;

/** Default of mnemo_options.cache_size: 64 MiB. On by default because graph traversals and
 * repeated record reads are several times faster with it (docs/benchmarks.md) and a cache entry
 * is never served staler than the last commit (docs/graph.md "The cache"). */
#define MNEMO_CACHE_DEFAULT_BYTES ((size_t)64 << 20)
/** mnemo_options.cache_size that turns mnemo's cache off. */
#define MNEMO_CACHE_OFF ((size_t)-1)

/** Options for mnemo_open. All-zero (or a NULL pointer) means the defaults below. New fields are
 * only ever added at the end. */
typedef struct mnemo_options {
    unsigned version;         /**< MNEMO_OPTIONS_VERSION (0 is taken as the current one; the
                                   versions of mnemo 0.x, 1 to 3, are MNEMO_EINVAL) */
    int create_if_missing;    /**< create the database if the path does not exist (default 0) */
    int read_only;            /**< open read-only; writes return MNEMO_EREADONLY (default 0). On rocksdb, a
                                   database another process holds for writing is then followed: the
                                   handle sees that writer's commits (docs/storage.md "Followers") */
    int sync_on_commit;       /**< make every commit durable before it returns: no acknowledged
                                   commit is ever lost, at the cost of write speed (default 0: a
                                   crash may lose the last few commits, never part of one) */
    const char *engine; /**< storage engine of a database being created: "rocksdb" (NULL or "": the
                             default), "lmdb" (when built), or "memory" (also implied by the path
                             ":memory:"). An existing database opens with the engine it was created
                             with; naming another is MNEMO_EINVAL. */
    size_t cache_size;        /**< bytes for mnemo's own cache of decoded records and adjacency
                                   lists, read outside transactions (0: the default,
                                   MNEMO_CACHE_DEFAULT_BYTES; MNEMO_CACHE_OFF: none) */
    mnemo_storage_options storage; /**< engine tuning; all-zero: the defaults */
    /* The vector space (see mnemo/vector.h). A database has at most one; it is created by the
     * first open that sets vector_dim and persisted. Later opens may leave every field 0 (use
     * what is stored); a non-zero field that differs from the stored space is MNEMO_EINVAL. */
    uint32_t vector_dim;           /**< dimension, 1..65536 (0: none, or as stored) */
    mnemo_metric vector_metric;    /**< default L2 */
    uint32_t hnsw_m;               /**< HNSW links per node (default 16, 2..1024) */
    uint32_t hnsw_ef_construction; /**< HNSW build beam (default 200) */
    uint32_t hnsw_ef_search;       /**< default search beam (default 64) */
    mnemo_progress_fn progress;    /**< called while a damaged vector index is rebuilt (may be NULL) */
    void *progress_arg;            /**< passed to progress */
    /* version 5 */
    mnemo_quantization vector_quantization; /**< index codes of a new space (default NONE); like
                                                 the other space fields, fixed once created */
    /* version 6 */
    size_t index_memory_limit; /**< bytes the loaded vector indexes of the database's collections
                                    may hold together: loading one past it evicts the least
                                    recently used idle ones, which load again when next needed
                                    (docs/collections.md "Memory"). 0: no limit (the default). The
                                    default collection's index is not counted and stays loaded. */
} mnemo_options;

/** Initialiser: `mnemo_options o = MNEMO_OPTIONS_INIT;` */
#define MNEMO_OPTIONS_INIT {MNEMO_OPTIONS_VERSION, 0, 0, 0, NULL, 0, \
                            {MNEMO_COMPRESSION_DEFAULT, 0, 0, 0, {0, 0, 0, 0}}, \
                            0, MNEMO_METRIC_DEFAULT, 0, 0, 0, NULL, NULL, MNEMO_QUANT_DEFAULT, 0}

/** Open (or create) the database in directory `path`.
 * @param[out] out   the handle, set only on success; close it with mnemo_close().
 * @param[in]  path  a directory; with create_if_missing it is created if absent. ":memory:" opens a
 *                   new, empty database of the memory engine: nothing touches disk and it is gone
 *                   on close (it cannot be read-only and has no checkpoint).
 * @param[in]  opts  NULL for defaults.
 * @return 0; MNEMO_EINVAL (NULL/empty argument, bad option, unknown engine, or an engine other
 *         than the database's); MNEMO_ENOTFOUND (no database there
 *         and create_if_missing is off); MNEMO_ENOTDB (the path is a file, a non-empty directory or
 *         a RocksDB database that is not mnemo's); MNEMO_EVERSION (unknown on-disk format);
 *         MNEMO_ELOCKED (another process or handle has it open); MNEMO_EBUSY (read-only, rocksdb:
 *         the writer process kept removing files the open was reading, retried a few times; retry
 *         later); MNEMO_ENOTSUP (compression not built into RocksDB); MNEMO_ECORRUPT; MNEMO_EIO;
 *         MNEMO_ENOMEM. */
MNEMO_API int mnemo_open(mnemo_db **out, const char *path, const mnemo_options *opts);

/** Flush, close and release the database. Open transactions are rolled back and open iterators
 * invalidated (their handles must still be freed; every call on them returns MNEMO_EINVAL).
 * A closed handle stays safe to pass to any function, which returns MNEMO_EINVAL, until a later
 * mnemo_open recycles it (like a file descriptor). Accepts NULL. Calls in flight on other threads
 * finish first (close waits for them); calls that start once close began get MNEMO_EINVAL.
 * With a vector space, the background work on the index stops first (a rebuild in progress is
 * dropped, a snapshot in progress is left unswitched), then the index is saved as a snapshot.
 * @return 0; MNEMO_EIO if the final flush failed (the handle is closed anyway); MNEMO_EINVAL
 *         (already closed, or called from inside a call on this database, e.g. a mnemo_txn_run
 *         or mnemo_graph_traverse callback: the handle stays open). */
MNEMO_API int mnemo_close(mnemo_db *db);

/** Write a consistent copy of the database into `dir` (which must not exist), using hard links
 * where possible. The copy opens with mnemo_open.
 * @return 0; MNEMO_EINVAL; MNEMO_EEXISTS (dir exists); MNEMO_EIO; MNEMO_ENOTSUP (a memory
 *         database: it has no files to copy). Thread-safe. */
MNEMO_API int mnemo_checkpoint(mnemo_db *db, const char *dir);

/** Write all in-memory tables to disk files (the log already makes them durable).
 * @return 0; MNEMO_EINVAL; MNEMO_EREADONLY; MNEMO_EIO. Thread-safe. */
MNEMO_API int mnemo_flush(mnemo_db *db);

/** Compact every column family completely: drops deleted data and rewrites files.
 * @return 0; MNEMO_EINVAL; MNEMO_EREADONLY; MNEMO_EIO. Thread-safe; may take long. */
MNEMO_API int mnemo_compact(mnemo_db *db);

#define MNEMO_STATS_VERSION 3
/** Figures about an open database. New fields only at the end. The caller sets `version` (start
 * from MNEMO_STATS_INIT); the library fills only the fields that version has. */
typedef struct mnemo_stats {
    unsigned version;          /**< MNEMO_STATS_VERSION of the caller's header; left as set */
    uint64_t cache_hits;       /**< lookups in mnemo's cache that found an entry */
    uint64_t cache_misses;     /**< lookups that did not */
    uint64_t cache_inserts;    /**< entries filled */
    uint64_t cache_evictions;  /**< entries pushed out to stay within capacity */
    size_t cache_bytes_used;   /**< bytes charged by the entries now held */
    size_t cache_capacity;     /**< bytes mnemo's cache may hold (MNEMO_CACHE_DEFAULT_BYTES unless set; 0: off) */
    size_t cache_entries;      /**< entries now held */
    /* --- version 2 --- */
    char engine[16];           /**< the storage engine: "rocksdb", "lmdb" or "memory" */
    uint64_t store_disk_bytes;   /**< bytes of data files the engine holds on disk (0 for memory) */
    uint64_t store_memory_bytes; /**< bytes of memory the engine uses for tables and caches */
    uint64_t store_sequence;     /**< the engine's latest commit sequence number */
    /* --- version 3 --- */
    size_t collection_indexes_loaded; /**< vector indexes of the database's collections now in
                                           memory (the default collection's not counted) */
    size_t collection_index_bytes;    /**< their memory, each as of its load */
    uint64_t collection_index_evictions; /**< indexes evicted to stay within index_memory_limit */
} mnemo_stats;
#define MNEMO_STATS_INIT {MNEMO_STATS_VERSION, 0, 0, 0, 0, 0, 0, 0, {0}, 0, 0, 0, 0, 0, 0}

/** Read the database's figures into the fields of out->version.
 * @return 0; MNEMO_EINVAL (NULL out, out->version 0 or newer than the library, NULL or closed db).
 *         Thread-safe. */
MNEMO_API int mnemo_stats_get(mnemo_stats *out, mnemo_db *db);

/** The path the database was opened with (borrowed, valid until close), or NULL for a bad handle. */
MNEMO_API const char *mnemo_path(mnemo_db *db);

#ifdef __cplusplus
}
#endif
#endif
