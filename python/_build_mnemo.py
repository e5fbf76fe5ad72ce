"""Builds mnemo._mnemo, the cffi extension (API mode, out of line) over the public C API.

Every C name the package uses is declared in CDEF below and nowhere else, so a rename in
include/mnemo/ touches this file and the one Python line that calls it.

The extension links the static libmnemo.a of a meson build directory (MNEMO_BUILD_DIR, default
<repo>/build) with the libraries meson records for it (its uninstalled pkg-config file), so an
installed package does not depend on the build directory staying where it was.
Run directly (`/usr/bin/python3 python/_build_mnemo.py`) it builds the extension in place, into
python/mnemo/.
"""
import os
import shlex
import subprocess

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

CDEF = r"""
/* common.h */
enum mnemo_error { MNEMO_OK, MNEMO_ERROR, MNEMO_EINVAL, MNEMO_ENOTFOUND, MNEMO_EEXISTS, MNEMO_EBUSY,
    MNEMO_ECORRUPT, MNEMO_EIO, MNEMO_ENOMEM, MNEMO_EDIM, MNEMO_ITEROVER, MNEMO_ENOTDB,
    MNEMO_EVERSION, MNEMO_ELOCKED, MNEMO_EREADONLY, MNEMO_ENOTSUP, MNEMO_EFULL, MNEMO_EUNKNOWN, ... };
const char *mnemo_version(int *major, int *minor, int *patch);
const char *mnemo_strerror(int code);
const char *mnemo_errmsg(void);
void mnemo_free(void *p);

typedef enum { MNEMO_DIR_OUT, MNEMO_DIR_IN, MNEMO_DIR_BOTH, ... } mnemo_direction;

/* db.h */
typedef struct mnemo_db mnemo_db;
typedef enum { MNEMO_COMPRESSION_DEFAULT, MNEMO_COMPRESSION_NONE, MNEMO_COMPRESSION_SNAPPY,
    MNEMO_COMPRESSION_ZLIB, MNEMO_COMPRESSION_BZIP2, MNEMO_COMPRESSION_LZ4,
    MNEMO_COMPRESSION_ZSTD, ... } mnemo_compression;
typedef enum { MNEMO_METRIC_DEFAULT, MNEMO_METRIC_L2, MNEMO_METRIC_COSINE, MNEMO_METRIC_IP, ...
    } mnemo_metric;
typedef enum { MNEMO_QUANT_DEFAULT, MNEMO_QUANT_NONE, MNEMO_QUANT_INT8, ... } mnemo_quantization;
#define MNEMO_OPTIONS_VERSION ...
#define MNEMO_CACHE_OFF ...
#define MNEMO_CACHE_DEFAULT_BYTES ...
typedef struct mnemo_storage_options {
    mnemo_compression compression;
    size_t write_buffer_bytes;
    size_t read_cache_bytes;
    int key_filter_bits;
    ...;
} mnemo_storage_options;
typedef struct mnemo_options {
    unsigned version;
    int create_if_missing;
    int read_only;
    int sync_on_commit;
    mnemo_storage_options storage;
    size_t cache_size;
    uint32_t vector_dim;
    mnemo_metric vector_metric;
    uint32_t hnsw_m;
    uint32_t hnsw_ef_construction;
    uint32_t hnsw_ef_search;
    const char *engine;
    mnemo_quantization vector_quantization;
    size_t index_memory_limit;
    ...;
} mnemo_options;
int mnemo_open(mnemo_db **out, const char *path, const mnemo_options *opts);
int mnemo_close(mnemo_db *db);
#define MNEMO_COLLECTION_OPTIONS_VERSION ...
typedef struct mnemo_collection_options {
    unsigned version;
    uint32_t vector_dim;
    mnemo_metric vector_metric;
    uint32_t hnsw_m;
    uint32_t hnsw_ef_construction;
    uint32_t hnsw_ef_search;
    mnemo_quantization vector_quantization;
} mnemo_collection_options;
int mnemo_collection_create(mnemo_db **out, mnemo_db *db, const char *name, const mnemo_collection_options *opts);
int mnemo_collection_open(mnemo_db **out, mnemo_db *db, const char *name);
const char *mnemo_collection_name(mnemo_db *db);
typedef struct mnemo_collection_info {
    const char *name;
    uint64_t records;
    uint64_t vectors;
} mnemo_collection_info;
typedef struct mnemo_collection_list {
    size_t count;
    mnemo_collection_info *items;
} mnemo_collection_list;
int mnemo_collection_list_all(mnemo_collection_list **out, mnemo_db *db);
void mnemo_collection_list_free(mnemo_collection_list *l);
int mnemo_collection_rename(mnemo_db *db, const char *from, const char *to);
int mnemo_collection_drop(mnemo_db *db, const char *name);
int mnemo_checkpoint(mnemo_db *db, const char *dir);
int mnemo_flush(mnemo_db *db);
int mnemo_compact(mnemo_db *db);
#define MNEMO_STATS_VERSION ...
typedef struct mnemo_stats {
    unsigned version;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t cache_inserts;
    uint64_t cache_evictions;
    size_t cache_bytes_used;
    size_t cache_capacity;
    size_t cache_entries;
    char engine[16];
    uint64_t store_disk_bytes;
    uint64_t store_memory_bytes;
    uint64_t store_sequence;
    size_t collection_indexes_loaded;
    size_t collection_index_bytes;
    uint64_t collection_index_evictions;
    ...;
} mnemo_stats;
int mnemo_stats_get(mnemo_stats *out, mnemo_db *db);
const char *mnemo_path(mnemo_db *db);

/* txn.h */
typedef struct mnemo_txn mnemo_txn;
#define MNEMO_TXN_READONLY ...
int mnemo_txn_begin(mnemo_txn **out, mnemo_db *db, unsigned flags);
int mnemo_txn_commit(mnemo_txn *txn);
int mnemo_txn_rollback(mnemo_txn *txn);
void mnemo_txn_free(mnemo_txn *txn);
typedef int (*mnemo_txn_fn)(mnemo_txn *txn, void *arg);
typedef struct mnemo_txn_retry { unsigned version; unsigned max_attempts; unsigned initial_backoff_us;
    unsigned max_backoff_us; ...; } mnemo_txn_retry;
#define MNEMO_TXN_RETRY_VERSION ...
int mnemo_txn_run(mnemo_db *db, unsigned flags, mnemo_txn_fn fn, void *arg, const mnemo_txn_retry *retry);

/* iter.h, kv.h */
typedef struct mnemo_iter mnemo_iter;
int mnemo_iter_next(mnemo_iter *it);
int mnemo_iter_seek(mnemo_iter *it, const void *key, size_t klen);
int mnemo_iter_key(mnemo_iter *it, const void **key, size_t *klen);
int mnemo_iter_value(mnemo_iter *it, const void **val, size_t *vlen);
int mnemo_iter_next_kv(mnemo_iter *it, const void **key, size_t *klen, const void **val, size_t *vlen);
void mnemo_iter_free(mnemo_iter *it);
int mnemo_kv_put(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen, const void *val, size_t vlen);
int mnemo_kv_get(void **val, size_t *vlen, mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen);
typedef struct mnemo_view { const void *data; size_t len; ...; } mnemo_view;
int mnemo_kv_view(mnemo_view *view, mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen);
void mnemo_view_release(mnemo_view *view);
int mnemo_kv_delete(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen);
int mnemo_kv_exists(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen);
typedef enum { MNEMO_KV_PUT, MNEMO_KV_DELETE, ... } mnemo_kv_op_type;
typedef struct mnemo_kv_op { mnemo_kv_op_type type; const void *key; size_t klen; const void *val;
    size_t vlen; ...; } mnemo_kv_op;
int mnemo_kv_batch(mnemo_db *db, mnemo_txn *txn, const mnemo_kv_op *ops, size_t n);
#define MNEMO_KV_ITER_OPTIONS_VERSION ...
typedef struct mnemo_kv_iter_options { unsigned version; const void *prefix; size_t prefix_len;
    const void *start; size_t start_len; const void *end; size_t end_len; int reverse; ...;
    } mnemo_kv_iter_options;
int mnemo_kv_iter(mnemo_iter **out, mnemo_db *db, mnemo_txn *txn, const mnemo_kv_iter_options *opts);

/* record.h */
typedef struct mnemo_record { const char *id; const char *content; double importance;
    int64_t created_at; int64_t updated_at; int64_t expires_at; const char *metadata;
    uint64_t internal_id; size_t content_len; ...; } mnemo_record;
typedef enum { MNEMO_PUT_UPSERT, MNEMO_PUT_INSERT, MNEMO_PUT_REPLACE, ... } mnemo_record_put_mode;
int mnemo_record_put(mnemo_db *db, mnemo_txn *txn, const mnemo_record *rec, mnemo_record_put_mode mode);
int mnemo_record_get(mnemo_record **out, mnemo_db *db, mnemo_txn *txn, const char *id);
int mnemo_record_exists(mnemo_db *db, mnemo_txn *txn, const char *id);
int mnemo_record_delete(mnemo_db *db, mnemo_txn *txn, const char *id);
void mnemo_record_free(mnemo_record *rec);
#define MNEMO_UPDATE_CONTENT ...
#define MNEMO_UPDATE_IMPORTANCE ...
#define MNEMO_UPDATE_EXPIRES_AT ...
#define MNEMO_UPDATE_METADATA ...
#define MNEMO_RECORD_CHANGES_VERSION ...
typedef struct mnemo_record_changes { unsigned version; unsigned fields; const char *content;
    double importance; int64_t expires_at; const char *metadata_patch; ...; } mnemo_record_changes;
int mnemo_record_update(mnemo_db *db, mnemo_txn *txn, const char *id, const mnemo_record_changes *upd);
typedef struct mnemo_record_page { size_t count; mnemo_record *records; char *next_cursor; ...;
    } mnemo_record_page;
void mnemo_record_page_free(mnemo_record_page *list);
typedef enum { MNEMO_LIST_BY_ID, MNEMO_LIST_OLDEST_FIRST, MNEMO_LIST_NEWEST_FIRST, ... }
    mnemo_record_list_order;
#define MNEMO_RECORD_LIST_OPTIONS_VERSION ...
typedef struct mnemo_record_list_options { unsigned version; mnemo_record_list_order order; const char *id_prefix;
    int64_t created_from; int64_t created_to; size_t limit; const char *cursor; ...; }
    mnemo_record_list_options;
int mnemo_record_list(mnemo_record_page **out, mnemo_db *db, mnemo_txn *txn, const mnemo_record_list_options *opts);
#define MNEMO_RECORD_FIND_OPTIONS_VERSION ...
typedef struct mnemo_record_find_options { unsigned version; size_t limit; const char *cursor; ...; }
    mnemo_record_find_options;
int mnemo_record_find(mnemo_record_page **out, mnemo_db *db, mnemo_txn *txn, const char *filter,
                      const mnemo_record_find_options *opts);
int mnemo_record_index_create(mnemo_db *db, const char *path);
int mnemo_record_index_drop(mnemo_db *db, const char *path);
int mnemo_record_index_list(char ***paths, size_t *n, mnemo_db *db, mnemo_txn *txn);
void mnemo_record_index_list_free(char **paths, size_t n);
int mnemo_record_purge_expired(mnemo_db *db, size_t *purged);

/* graph.h */
typedef struct mnemo_graph_edge { const char *from; const char *label; const char *to; double weight;
    const char *props; ...; } mnemo_graph_edge;
#define MNEMO_LINK_CREATE_MISSING ...
#define MNEMO_LINK_DEFAULT_WEIGHT ...
int mnemo_graph_link(mnemo_db *db, mnemo_txn *txn, const mnemo_graph_edge *e, unsigned flags);
int mnemo_graph_unlink(mnemo_db *db, mnemo_txn *txn, const char *from, const char *label, const char *to);
int mnemo_graph_link_across(mnemo_db *from_db, mnemo_txn *txn, const mnemo_graph_edge *e, mnemo_db *to_db,
                            unsigned flags);
int mnemo_graph_unlink_across(mnemo_db *from_db, mnemo_txn *txn, const char *from, const char *label,
                              mnemo_db *to_db, const char *to);
int mnemo_graph_get(mnemo_graph_edge **out, mnemo_db *db, mnemo_txn *txn, const char *from, const char *label,
                    const char *to);
int mnemo_graph_exists(mnemo_db *db, mnemo_txn *txn, const char *from, const char *label, const char *to);
void mnemo_graph_edge_free(mnemo_graph_edge *e);
typedef struct mnemo_graph_neighbor { const char *id; const char *label; double weight; const char *props;
    mnemo_direction direction; const char *collection; ...; } mnemo_graph_neighbor;
int mnemo_graph_neighbors(mnemo_iter **out, mnemo_db *db, mnemo_txn *txn, const char *id,
                          mnemo_direction dir, const char *label, size_t limit);
int mnemo_iter_neighbor(mnemo_iter *it, const mnemo_graph_neighbor **n);
int mnemo_graph_degree(uint64_t *out, mnemo_db *db, mnemo_txn *txn, const char *id, mnemo_direction dir,
                       const char *label);
#define MNEMO_GRAPH_TRAVERSE_OPTIONS_VERSION ...
typedef struct mnemo_graph_traverse_options { unsigned version; mnemo_direction dir; const char *label;
    unsigned max_depth; size_t max_nodes; ...; } mnemo_graph_traverse_options;
typedef int (*mnemo_graph_visit_fn)(const char *id, unsigned depth, const char *via,
                                    const char *via_label, void *arg);
int mnemo_graph_traverse(mnemo_db *db, mnemo_txn *txn, const char *const *starts, size_t n_starts,
                         const mnemo_graph_traverse_options *opts, mnemo_graph_visit_fn visit, void *arg);
typedef struct mnemo_graph_path { size_t hops; char **nodes; char **labels; double weight; ...; }
    mnemo_graph_path;
#define MNEMO_GRAPH_PATH_OPTIONS_VERSION ...
typedef struct mnemo_graph_path_options { unsigned version; mnemo_direction dir; const char *label;
    int weighted; unsigned max_hops; ...; } mnemo_graph_path_options;
int mnemo_graph_shortest_path(mnemo_graph_path **out, mnemo_db *db, mnemo_txn *txn, const char *from,
                              const char *to, const mnemo_graph_path_options *opts);
void mnemo_graph_path_free(mnemo_graph_path *p);
#define MNEMO_GRAPH_IMPORT_OPTIONS_VERSION ...
typedef struct mnemo_graph_import_options { unsigned version; const char *label; int undirected;
    size_t batch; ...; } mnemo_graph_import_options;
#define MNEMO_GRAPH_IMPORT_STATS_VERSION ...
typedef struct mnemo_graph_import_stats { unsigned version; uint64_t lines; uint64_t edges; uint64_t nodes_created; ...; }
    mnemo_graph_import_stats;
int mnemo_graph_import_edgelist(mnemo_db *db, const char *path, const mnemo_graph_import_options *opts,
                                mnemo_graph_import_stats *stats);
int mnemo_graph_check(mnemo_db *db, uint64_t *edges);

/* vector.h */
#define MNEMO_VECTOR_SPACE_VERSION ...
typedef struct mnemo_vector_space { unsigned version; uint32_t dim; mnemo_metric metric; uint32_t hnsw_m;
    uint32_t hnsw_ef_construction; uint32_t hnsw_ef_search; mnemo_quantization quantization; ...; } mnemo_vector_space;
int mnemo_vector_space_get(mnemo_vector_space *out, mnemo_db *db);
int mnemo_vector_put(mnemo_db *db, mnemo_txn *txn, const char *id, const float *vec, size_t dim);
int mnemo_vector_put_batch(mnemo_db *db, mnemo_txn *txn, const char *const *ids, const float *vecs,
                           size_t n, size_t dim);
int mnemo_vector_get(float **out, size_t *dim, mnemo_db *db, mnemo_txn *txn, const char *id);
int mnemo_vector_delete(mnemo_db *db, mnemo_txn *txn, const char *id);
#define MNEMO_VECTOR_SEARCH_OPTIONS_VERSION ...
typedef struct mnemo_vector_search_options { unsigned version; uint32_t ef; int exact; const char *filter;
    const char *near; uint32_t hops; mnemo_direction near_dir; const char *near_label; ...; }
    mnemo_vector_search_options;
typedef struct mnemo_vector_hit { const char *id; float distance; uint32_t hops; const char *via; ...; }
    mnemo_vector_hit;
typedef struct mnemo_vector_hits { size_t count; mnemo_vector_hit *hits; ...; } mnemo_vector_hits;
void mnemo_vector_hits_free(mnemo_vector_hits *hits);
int mnemo_vector_search(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *query, size_t dim,
                        size_t k, const mnemo_vector_search_options *opts);
int mnemo_vector_search_batch(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *queries,
                              size_t n, size_t dim, size_t k, const mnemo_vector_search_options *opts);
int mnemo_vector_search_expand(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *query,
                               size_t dim, size_t k, const mnemo_vector_search_options *opts, uint32_t hops,
                               mnemo_direction dir);
#define MNEMO_VECTOR_STATS_VERSION ...
typedef struct mnemo_vector_stats { unsigned version; uint64_t vectors; uint64_t deleted_slots; uint64_t index_bytes;
    uint64_t log_entries; uint64_t rebuilds; const char *simd; ...; } mnemo_vector_stats;
int mnemo_vector_stats_get(mnemo_vector_stats *out, mnemo_db *db);
int mnemo_vector_check(mnemo_db *db, uint64_t *vectors);

/* text.h */
#define MNEMO_TEXT_OPTIONS_VERSION ...
typedef void (*mnemo_progress_fn)(uint64_t done, uint64_t total, void *arg);
typedef struct mnemo_text_options { unsigned version; const char *stem_language; int stopwords;
    double k1; double b; mnemo_progress_fn progress; void *progress_arg; ...; } mnemo_text_options;
int mnemo_text_enable(mnemo_db *db, const mnemo_text_options *opts);
int mnemo_text_disable(mnemo_db *db);
#define MNEMO_TEXT_INFO_VERSION ...
typedef struct mnemo_text_info { unsigned version; char stem_language[...]; int stopwords; double k1; double b; int ready;
    uint64_t documents; uint64_t total_terms; ...; } mnemo_text_info;
int mnemo_text_info_get(mnemo_text_info *out, mnemo_db *db, mnemo_txn *txn);
#define MNEMO_TEXT_SEARCH_OPTIONS_VERSION ...
typedef struct mnemo_text_search_options { unsigned version; double k1; double b; const char *filter;
    const char *near; uint32_t hops; mnemo_direction near_dir; const char *near_label; ...; }
    mnemo_text_search_options;
typedef struct mnemo_text_hit { const char *id; double score; ...; } mnemo_text_hit;
typedef struct mnemo_text_hits { size_t count; mnemo_text_hit *hits; ...; } mnemo_text_hits;
void mnemo_text_hits_free(mnemo_text_hits *hits);
int mnemo_text_search(mnemo_text_hits **out, mnemo_db *db, mnemo_txn *txn, const char *query, size_t k,
                      const mnemo_text_search_options *opts);

/* recall.h */
typedef enum { MNEMO_RECALL_RRF, MNEMO_RECALL_WEIGHTED, ... } mnemo_recall_fusion;
typedef enum { MNEMO_RECALL_UPDATED_AT, MNEMO_RECALL_CREATED_AT, ... } mnemo_recall_clock;
#define MNEMO_RECALL_QUERY_VERSION ...
typedef struct mnemo_recall_query { unsigned version; const char *text; const float *vector; size_t dim;
    const char *filter; const char *near; uint32_t hops; mnemo_direction near_dir;
    const char *near_label; mnemo_recall_fusion fusion; double rrf_k; double text_weight;
    double vector_weight; double recency_weight; double importance_weight; double half_life_ms;
    mnemo_recall_clock clock; int64_t now; size_t depth; ...; } mnemo_recall_query;
typedef struct mnemo_recall_hit { const char *id; double score; double relevance; uint32_t text_rank;
    double text_score; uint32_t vector_rank; float distance; double recency; double importance;
    int64_t time; ...; } mnemo_recall_hit;
typedef struct mnemo_recall_hits { size_t count; mnemo_recall_hit *hits; ...; } mnemo_recall_hits;
void mnemo_recall_hits_free(mnemo_recall_hits *hits);
int mnemo_recall(mnemo_recall_hits **out, mnemo_db *db, mnemo_txn *txn, const mnemo_recall_query *q,
                 size_t k);

/* The C side of python/bench/bench_python.py: the same loops as the Python side, in the same
   process on the same database; each returns the seconds it took. */
double _mnemo_bench_kv_put(mnemo_db *db, size_t from, size_t n);
double _mnemo_bench_kv_get(mnemo_db *db, size_t from, size_t n);
double _mnemo_bench_search(mnemo_db *db, const float *queries, size_t nq, size_t dim, size_t k);

/* Python callbacks handed to the C library (the GIL is taken back for their duration). */
extern "Python" int _mnemo_py_txn_fn(mnemo_txn *txn, void *arg);
extern "Python" void _mnemo_py_progress_fn(uint64_t done, uint64_t total, void *arg);
extern "Python" int _mnemo_py_visit_fn(const char *id, unsigned depth, const char *via,
                                      const char *via_label, void *arg);
"""


def _build_dir():
    return os.path.abspath(os.environ.get("MNEMO_BUILD_DIR", os.path.join(REPO, "build")))


def _link_args(build):
    """libmnemo.a and the libraries meson says it needs (from the build's uninstalled .pc)."""
    archive = os.path.join(build, "libmnemo.a")
    pc_dir = os.path.join(build, "meson-uninstalled")
    if not os.path.exists(archive) or not os.path.isdir(pc_dir):
        raise SystemExit(f"mnemo: no meson build in {build} (build it first: meson setup build && "
                         f"ninja -C build -j2, or set MNEMO_BUILD_DIR)")
    env = dict(os.environ, PKG_CONFIG_PATH=pc_dir)
    libs = subprocess.run(["pkg-config", "--static", "--libs", "mnemo"], env=env, check=True,
                          capture_output=True, text=True).stdout
    # -lmnemo would pick the shared library next to the archive: link the archive itself.
    flags = [f for f in shlex.split(libs) if f != "-lmnemo" and not f.startswith("-L" + build)]
    return [archive] + flags + ["-lstdc++"]


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
BENCH_C = r"""
#include <stdio.h>
#include <string.h>
#include <time.h>

static double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* keys "k%08zu", values 100 bytes of 'v': what bench_python.py's Python loops use */
static double _mnemo_bench_kv_put(mnemo_db *db, size_t from, size_t n)
{
    char key[32], val[100];
    memset(val, 'v', sizeof val);
    double t = bench_now();
    for (size_t i = from; i < from + n; i++) {
        int len = snprintf(key, sizeof key, "k%08zu", i);
        if (mnemo_kv_put(db, NULL, key, (size_t)len, val, sizeof val) < 0)
            return -1;
    }
    return bench_now() - t;
}

static double _mnemo_bench_kv_get(mnemo_db *db, size_t from, size_t n)
{
    char key[32];
    double t = bench_now();
    for (size_t i = from; i < from + n; i++) {
        int len = snprintf(key, sizeof key, "k%08zu", i);
        void *v;
        size_t vlen;
        if (mnemo_kv_get(&v, &vlen, db, NULL, key, (size_t)len) < 0)
            return -1;
        mnemo_free(v);
    }
    return bench_now() - t;
}

static double _mnemo_bench_search(mnemo_db *db, const float *queries, size_t nq, size_t dim, size_t k)
{
    double t = bench_now();
    for (size_t q = 0; q < nq; q++) {
        mnemo_vector_hits *h;
        if (mnemo_vector_search(&h, db, NULL, queries + q * dim, dim, k, NULL) < 0)
            return -1;
        mnemo_vector_hits_free(h);
    }
    return bench_now() - t;
}
"""

ffibuilder.set_source(
    "mnemo._mnemo",
    "#include <mnemo/mnemo.h>\n" + BENCH_C,
    include_dirs=[os.path.join(REPO, "include")],
    extra_link_args=_link_args(_build_dir()),
)

if __name__ == "__main__":
    os.chdir(HERE)
    ffibuilder.compile(verbose=False)
