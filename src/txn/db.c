/* Opening and closing databases: column families, options, the format marker, checkpoints. */
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "txn/rocks_cxx.h"
#include "txn/txn_impl.h"
#include "vector/vector.h"

static const char *const CF_NAMES[MNEMO_CF_COUNT] = {
    "default", "records", "graph_forward", "graph_backward", "vector_data", "vector_index", "metadata",
    "text_index",
};

/* Key of the format marker in `metadata`; other modules use printable prefixes, so a leading NUL
 * keeps it apart. Value: "mnemo" + format version (u32 BE) + crc32c of those 9 bytes (u32 BE). */
static const char FORMAT_KEY[] = "\0format";
#define FORMAT_KEY_LEN (sizeof FORMAT_KEY - 1)
#define FORMAT_VALUE_LEN 13

#define DEFAULT_WRITE_BUFFER (64u << 20)
#define DEFAULT_BLOCK_CACHE (64u << 20)
#define DEFAULT_BLOOM_BITS 10

const char *mnemo_cf__name(mnemo_cf cf) { return (unsigned)cf < MNEMO_CF_COUNT ? CF_NAMES[cf] : "?"; }

void mnemo_res__init_list(mnemo_res *s) { s->prev = s->next = s; }

void mnemo_res__link(mnemo_res *s, mnemo_res *r)
{
    r->next = s->next;
    r->prev = s;
    s->next->prev = r;
    s->next = r;
}

void mnemo_res__unlink(mnemo_res *r)
{
    if (r->next) {
        r->prev->next = r->next;
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
}

/* ---- handle shells: a closed db's memory stays ours so a stale handle is detected, not UB ---- */

static pthread_mutex_t shell_lock = PTHREAD_MUTEX_INITIALIZER;
static mnemo_db *shell_free_list;

static mnemo_db *shell_get(void)
{
    pthread_mutex_lock(&shell_lock);
    mnemo_db *db = shell_free_list;
    if (db)
        shell_free_list = db->next_free;
    pthread_mutex_unlock(&shell_lock);
    if (!db)
        db = mnemo__calloc(1, sizeof *db);
    return db;
}

static void shell_put(mnemo_db *db)
{
    pthread_mutex_lock(&shell_lock);
    db->next_free = shell_free_list;
    shell_free_list = db;
    pthread_mutex_unlock(&shell_lock);
}

int mnemo_db__check(mnemo_db *db, const char *fn)
{
    if (!db)
        return mnemo__err(MNEMO_EINVAL, "%s: database handle is NULL", fn);
    if (atomic_load_explicit(&db->magic, memory_order_acquire) != MNEMO_DB_MAGIC_OPEN)
        return mnemo__err(MNEMO_EINVAL, "%s: database handle is closed", fn);
    return 0;
}

const mnemo_options *mnemo_db__options(mnemo_db *db) { return &db->opts; }

const char *mnemo_path(mnemo_db *db) { return mnemo_db__check(db, "mnemo_path") ? NULL : db->path; }

/* ---- options ---- */

static int compression_type(mnemo_compression c, int *out)
{
    switch (c) {
    case MNEMO_COMPRESSION_DEFAULT:
    case MNEMO_COMPRESSION_LZ4: *out = rocksdb_lz4_compression; return 0;
    case MNEMO_COMPRESSION_NONE: *out = rocksdb_no_compression; return 0;
    case MNEMO_COMPRESSION_SNAPPY: *out = rocksdb_snappy_compression; return 0;
    case MNEMO_COMPRESSION_ZLIB: *out = rocksdb_zlib_compression; return 0;
    case MNEMO_COMPRESSION_BZIP2: *out = rocksdb_bz2_compression; return 0;
    case MNEMO_COMPRESSION_ZSTD: *out = rocksdb_zstd_compression; return 0;
    }
    return mnemo__err(MNEMO_EINVAL, "mnemo_open: unknown compression %d", (int)c);
}

static int normalise_options(mnemo_options *o, const mnemo_options *in)
{
    static const mnemo_options defaults = MNEMO_OPTIONS_INIT;
    *o = defaults;
    if (in && in->version == 1) /* a caller built against version 1 has the shorter struct */
        memcpy(o, in, offsetof(mnemo_options, vector_dim));
    else if (in)
        *o = *in;
    if (o->version == 0)
        o->version = MNEMO_OPTIONS_VERSION;
    if (o->version > MNEMO_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: options version %u is newer than this library (%u)",
                          o->version, MNEMO_OPTIONS_VERSION);
    if (o->read_only && o->create_if_missing)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: read_only and create_if_missing exclude each other");
    if (o->write_buffer_size == 0)
        o->write_buffer_size = DEFAULT_WRITE_BUFFER;
    if (o->write_buffer_size < (64u << 10))
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: write_buffer_size %zu is below the 64 KiB minimum",
                          o->write_buffer_size);
    if (o->block_cache_size == 0)
        o->block_cache_size = DEFAULT_BLOCK_CACHE;
    if (o->bloom_bits_per_key == 0)
        o->bloom_bits_per_key = DEFAULT_BLOOM_BITS;
    if (o->bloom_bits_per_key > 64)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: bloom_bits_per_key %d is above 64", o->bloom_bits_per_key);
    int ctype;
    return compression_type(o->compression, &ctype);
}

/* Tuned for mixed read/write on small machines; see docs/storage.md for what was measured. */
static int build_rocks_options(mnemo_db *db, int create)
{
    const mnemo_options *o = &db->opts;
    int ctype = 0;
    compression_type(o->compression, &ctype);

    db->rocks_opts = rocksdb_options_create();
    db->table_opts = rocksdb_block_based_options_create();
    db->block_cache = rocksdb_cache_create_lru(o->block_cache_size);
    if (!db->rocks_opts || !db->table_opts || !db->block_cache)
        return mnemo__err_nomem("mnemo_open: RocksDB options");

    rocksdb_block_based_options_set_block_cache(db->table_opts, db->block_cache);
    if (o->bloom_bits_per_key > 0)
        rocksdb_block_based_options_set_filter_policy(db->table_opts,
                                                      rocksdb_filterpolicy_create_bloom(o->bloom_bits_per_key));
    rocksdb_block_based_options_set_format_version(db->table_opts, 5);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(db->table_opts, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(db->table_opts, 1);
    rocksdb_options_set_block_based_table_factory(db->rocks_opts, db->table_opts);

    rocksdb_options_set_create_if_missing(db->rocks_opts, (unsigned char)create);
    rocksdb_options_set_create_missing_column_families(db->rocks_opts, (unsigned char)create);
    rocksdb_options_increase_parallelism(db->rocks_opts, 2);
    rocksdb_options_set_max_background_jobs(db->rocks_opts, 2);
    rocksdb_options_set_compression(db->rocks_opts, ctype);
    rocksdb_options_set_write_buffer_size(db->rocks_opts, o->write_buffer_size);
    /* The column families share one memtable budget. */
    rocksdb_options_set_db_write_buffer_size(db->rocks_opts, 4 * o->write_buffer_size);
    /* Optimistic commit validation needs the memtable history since the txn's snapshot; keeping
     * some after a flush turns would-be "try again" failures into real validation. */
    rocksdb_options_set_max_write_buffer_size_to_maintain(db->rocks_opts, (int64_t)o->write_buffer_size);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(db->rocks_opts, 1);
    rocksdb_options_set_bytes_per_sync(db->rocks_opts, 1u << 20);
    rocksdb_options_set_keep_log_file_num(db->rocks_opts, 4);
    rocksdb_options_set_info_log_level(db->rocks_opts, 2 /* WARN */);

    db->write_opts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(db->write_opts, (unsigned char)(o->sync_on_commit != 0));
    db->read_opts = rocksdb_readoptions_create();
    db->txn_opts = rocksdb_optimistictransaction_options_create();
    rocksdb_optimistictransaction_options_set_set_snapshot(db->txn_opts, 1);
    return 0;
}

static void release_rocks(mnemo_db *db)
{
    for (int i = 0; i < MNEMO_CF_COUNT; i++)
        if (db->cf[i]) {
            rocksdb_column_family_handle_destroy(db->cf[i]);
            db->cf[i] = NULL;
        }
    if (db->otxn) {
        if (db->base)
            rocksdb_optimistictransactiondb_close_base_db(db->base);
        rocksdb_optimistictransactiondb_close(db->otxn);
    } else if (db->base) {
        rocksdb_close(db->base);
    }
    db->otxn = NULL;
    db->base = NULL;
    if (db->txn_opts)
        rocksdb_optimistictransaction_options_destroy(db->txn_opts);
    if (db->read_opts)
        rocksdb_readoptions_destroy(db->read_opts);
    if (db->write_opts)
        rocksdb_writeoptions_destroy(db->write_opts);
    if (db->rocks_opts)
        rocksdb_options_destroy(db->rocks_opts);
    if (db->table_opts)
        rocksdb_block_based_options_destroy(db->table_opts);
    if (db->block_cache)
        rocksdb_cache_destroy(db->block_cache);
    db->txn_opts = NULL;
    db->read_opts = NULL;
    db->write_opts = NULL;
    db->rocks_opts = NULL;
    db->table_opts = NULL;
    db->block_cache = NULL;
}

/* ---- what is at the path ---- */

enum path_kind { PATH_MISSING, PATH_EMPTY_DIR, PATH_ROCKSDB, PATH_OTHER_DIR, PATH_NOT_DIR };

static int inspect_path(const char *path, enum path_kind *kind)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            *kind = PATH_MISSING;
            return 0;
        }
        return mnemo__err(MNEMO_EIO, "mnemo_open: cannot stat '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        *kind = PATH_NOT_DIR;
        return 0;
    }
    DIR *dir = opendir(path);
    if (!dir)
        return mnemo__err(MNEMO_EIO, "mnemo_open: cannot read directory '%s': %s", path, strerror(errno));
    int entries = 0, has_current = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        entries++;
        if (!strcmp(e->d_name, "CURRENT"))
            has_current = 1;
    }
    closedir(dir);
    *kind = has_current ? PATH_ROCKSDB : entries ? PATH_OTHER_DIR : PATH_EMPTY_DIR;
    return 0;
}

/* Format 2 had every column family but text_index (added last, format 3). Opening such a database
 * read-write creates it here, before the real open; read-only opens go without it. */
#define FORMAT_WITHOUT_TEXT 2

static int add_text_keyspace(mnemo_db *db)
{
    const char *names[MNEMO_CF_COUNT - 1];
    const rocksdb_options_t *cf_opts[MNEMO_CF_COUNT - 1];
    rocksdb_column_family_handle_t *cf[MNEMO_CF_COUNT - 1];
    for (int i = 0; i < MNEMO_CF_COUNT - 1; i++) {
        names[i] = CF_NAMES[i];
        cf_opts[i] = db->rocks_opts;
    }
    char *err = NULL;
    rocksdb_t *raw = rocksdb_open_column_families(db->rocks_opts, db->path, MNEMO_CF_COUNT - 1, names, cf_opts, cf,
                                                  &err);
    if (!err) {
        rocksdb_column_family_handle_t *h =
            rocksdb_create_column_family(raw, db->rocks_opts, CF_NAMES[MNEMO_CF_TEXT_INDEX], &err);
        if (h)
            rocksdb_column_family_handle_destroy(h);
        for (int i = 0; i < MNEMO_CF_COUNT - 1; i++)
            rocksdb_column_family_handle_destroy(cf[i]);
        rocksdb_close(raw);
    }
    if (err) {
        int rc = mnemo__err_rocksdb(err, "mnemo_open: adding the text_index column family to a format-2 database");
        rocksdb_free(err);
        return rc;
    }
    return 0;
}

/* An existing RocksDB directory must carry every mnemo column family (and no others); *legacy is
 * set when only text_index is missing (a format-2 database). */
static int check_column_families(mnemo_db *db, int *legacy)
{
    char *err = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(db->rocks_opts, db->path, &n, &err);
    if (err) {
        int rc = mnemo__err_rocksdb(err, "mnemo_open: listing column families");
        rocksdb_free(err);
        return rc;
    }
    int found[MNEMO_CF_COUNT] = {0};
    const char *unknown = NULL;
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        for (int c = 0; c < MNEMO_CF_COUNT; c++)
            if (!strcmp(names[i], CF_NAMES[c]))
                found[c] = known = 1;
        if (!known && !unknown)
            unknown = names[i];
    }
    int rc = 0;
    if (!found[MNEMO_CF_METADATA])
        rc = mnemo__err(MNEMO_ENOTDB, "mnemo_open: '%s' is a RocksDB database but not a mnemo database "
                                      "(no 'metadata' column family)", db->path);
    else if (unknown)
        rc = mnemo__err(MNEMO_EVERSION, "mnemo_open: '%s' has column family '%s' that this version of "
                                        "mnemo does not know", db->path, unknown);
    else if (!found[MNEMO_CF_TEXT_INDEX])
        *legacy = 1;
    if (!rc)
        for (int c = 0; c < MNEMO_CF_COUNT && !rc; c++)
            if (!found[c] && c != MNEMO_CF_TEXT_INDEX)
                rc = mnemo__err(MNEMO_ECORRUPT, "mnemo_open: '%s' lacks column family '%s'", db->path, CF_NAMES[c]);
    rocksdb_list_column_families_destroy(names, n);
    return rc;
}

/* n_cf: MNEMO_CF_COUNT, or one less for a format-2 database opened read-only (no text_index). */
static int open_rocks(mnemo_db *db, int n_cf)
{
    const char *names[MNEMO_CF_COUNT];
    const rocksdb_options_t *cf_opts[MNEMO_CF_COUNT];
    for (int i = 0; i < MNEMO_CF_COUNT; i++) {
        names[i] = CF_NAMES[i];
        cf_opts[i] = db->rocks_opts;
    }
    char *err = NULL;
    if (db->opts.read_only) {
        db->base = rocksdb_open_for_read_only_column_families(db->rocks_opts, db->path, n_cf, names,
                                                              cf_opts, db->cf, 0, &err);
    } else {
        /* Serial validation: see rocks_cxx.h and docs/transactions.md. The graph importer writes
         * each batch's edge keys in key order. */
        unsigned sorted = 1u << MNEMO_CF_GRAPH_FORWARD | 1u << MNEMO_CF_GRAPH_BACKWARD;
        db->otxn = mnemo_txn__open_serial(db->rocks_opts, db->path, MNEMO_CF_COUNT, names, cf_opts, sorted, db->cf,
                                          &err);
        if (!err)
            db->base = rocksdb_optimistictransactiondb_get_base_db(db->otxn);
    }
    if (err) {
        int rc = mnemo__err_rocksdb(err, "mnemo_open");
        if (rc == MNEMO_ELOCKED)
            rc = mnemo__err(MNEMO_ELOCKED, "mnemo_open: '%s' is already open in another process or handle (%s)",
                            db->path, err);
        rocksdb_free(err);
        for (int i = 0; i < MNEMO_CF_COUNT; i++)
            db->cf[i] = NULL;
        return rc;
    }
    return 0;
}

static int cf_is_empty(mnemo_db *db, mnemo_cf cf)
{
    if (!db->cf[cf])
        return 1;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db->base, db->read_opts, db->cf[cf]);
    rocksdb_iter_seek_to_first(it);
    int empty = !rocksdb_iter_valid(it);
    rocksdb_iter_destroy(it);
    return empty;
}

static int write_format_marker(mnemo_db *db)
{
    unsigned char v[FORMAT_VALUE_LEN];
    memcpy(v, "mnemo", 5);
    mnemo__put_be32(v + 5, MNEMO_FORMAT_VERSION);
    mnemo__put_be32(v + 9, mnemo__crc32c(0, v, 9));
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    char *err = NULL;
    rocksdb_put_cf(db->base, wo, db->cf[MNEMO_CF_METADATA], FORMAT_KEY, FORMAT_KEY_LEN, (const char *)v,
                   sizeof v, &err);
    rocksdb_writeoptions_destroy(wo);
    if (err) {
        int rc = mnemo__err_rocksdb(err, "mnemo_open: writing the format marker");
        rocksdb_free(err);
        return rc;
    }
    return 0;
}

static int check_format_marker(mnemo_db *db, int created)
{
    char *err = NULL;
    size_t len = 0;
    char *v = rocksdb_get_cf(db->base, db->read_opts, db->cf[MNEMO_CF_METADATA], FORMAT_KEY, FORMAT_KEY_LEN,
                             &len, &err);
    if (err) {
        int rc = mnemo__err_rocksdb(err, "mnemo_open: reading the format marker");
        rocksdb_free(err);
        return rc;
    }
    if (!v) {
        /* A creation interrupted before the marker was written leaves only empty families. */
        int empty = 1;
        for (int c = 0; c < MNEMO_CF_COUNT; c++)
            empty = empty && cf_is_empty(db, (mnemo_cf)c);
        if (!created && !empty)
            return mnemo__err(MNEMO_ECORRUPT, "mnemo_open: '%s' has data but no format marker", db->path);
        if (db->opts.read_only)
            return mnemo__err(MNEMO_ENOTDB, "mnemo_open: '%s' was never initialised as a mnemo database", db->path);
        return write_format_marker(db);
    }
    const unsigned char *u = (const unsigned char *)v;
    int rc = 0;
    if (len != FORMAT_VALUE_LEN || memcmp(u, "mnemo", 5) != 0 || mnemo__get_be32(u + 9) != mnemo__crc32c(0, u, 9))
        rc = mnemo__err(MNEMO_ECORRUPT, "mnemo_open: format marker in '%s' (metadata key \\0format) is damaged",
                        db->path);
    else if (mnemo__get_be32(u + 5) == FORMAT_WITHOUT_TEXT && !db->opts.read_only)
        rc = write_format_marker(db); /* text_index was added by add_text_keyspace */
    else if (mnemo__get_be32(u + 5) != MNEMO_FORMAT_VERSION && mnemo__get_be32(u + 5) != FORMAT_WITHOUT_TEXT)
        rc = mnemo__err(MNEMO_EVERSION, "mnemo_open: '%s' has on-disk format %u; this library reads format %u",
                        db->path, mnemo__get_be32(u + 5), MNEMO_FORMAT_VERSION);
    rocksdb_free(v);
    return rc;
}

int mnemo_open(mnemo_db **out, const char *path, const mnemo_options *opts)
{
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: out is NULL");
    if (!path || !*path)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: path is %s", path ? "empty" : "NULL");
    mnemo_options o;
    int rc = normalise_options(&o, opts);
    if (rc)
        return rc;

    enum path_kind kind;
    if ((rc = inspect_path(path, &kind)) != 0)
        return rc;
    int create = 0;
    switch (kind) {
    case PATH_NOT_DIR:
        return mnemo__err(MNEMO_ENOTDB, "mnemo_open: '%s' is a file, not a database directory", path);
    case PATH_OTHER_DIR:
        return mnemo__err(MNEMO_ENOTDB, "mnemo_open: '%s' is a non-empty directory that holds no database", path);
    case PATH_MISSING:
    case PATH_EMPTY_DIR:
        if (!o.create_if_missing)
            return mnemo__err(MNEMO_ENOTFOUND, "mnemo_open: no database at '%s' (set create_if_missing to create one)",
                              path);
        create = 1;
        break;
    case PATH_ROCKSDB: break;
    }

    mnemo_db *db = shell_get();
    if (!db)
        return mnemo__err_nomem("mnemo_open");
    memset(db, 0, sizeof *db);
    db->opts = o;
    db->path = mnemo__memdup(path, strlen(path));
    if (!db->path) {
        shell_put(db);
        return mnemo__err_nomem("mnemo_open");
    }
    pthread_mutex_init(&db->res_lock, NULL);
    pthread_mutex_init(&db->module_lock, NULL);
    mnemo_res__init_list(&db->res);

    rc = mnemo_cache__create(&db->cache, o.cache_size, 0);
    if (!rc)
        rc = build_rocks_options(db, create);
    int legacy = 0;
    if (!rc && !create)
        rc = check_column_families(db, &legacy);
    if (!rc && legacy && !o.read_only)
        rc = add_text_keyspace(db);
    if (!rc)
        rc = open_rocks(db, legacy && o.read_only ? MNEMO_CF_COUNT - 1 : MNEMO_CF_COUNT);
    if (!rc)
        rc = check_format_marker(db, create);
    if (rc) {
        release_rocks(db);
        mnemo_cache__destroy(db->cache);
        mnemo__free(db->path);
        pthread_mutex_destroy(&db->module_lock);
        pthread_mutex_destroy(&db->res_lock);
        atomic_store(&db->magic, MNEMO_DB_MAGIC_CLOSED);
        shell_put(db);
        return rc;
    }
    atomic_store_explicit(&db->magic, MNEMO_DB_MAGIC_OPEN, memory_order_release);
    /* The vector space is checked (and its index loaded) once the handle works. */
    if ((rc = mnemo_vector__open(db)) != 0) {
        (void)mnemo_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

/* Writes every column family's memtable to a file and waits for it. */
static int flush_all(mnemo_db *db, const char *what)
{
    int rc = 0;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    for (int i = 0; i < MNEMO_CF_COUNT && !rc; i++) {
        char *err = NULL;
        rocksdb_flush_cf(db->base, fo, db->cf[i], &err);
        if (err) {
            rc = mnemo__err_rocksdb(err, what);
            rocksdb_free(err);
        }
    }
    rocksdb_flushoptions_destroy(fo);
    return rc;
}

int mnemo_close(mnemo_db *db)
{
    if (!db)
        return 0;
    int rc = mnemo_db__check(db, "mnemo_close");
    if (rc)
        return rc;
    atomic_store_explicit(&db->magic, MNEMO_DB_MAGIC_CLOSED, memory_order_release);

    /* Transactions and cursors hold RocksDB objects that must go before the database does. */
    pthread_mutex_lock(&db->res_lock);
    while (db->res.next != &db->res) {
        mnemo_res *r = db->res.next;
        mnemo_res__unlink(r);
        r->invalidate(r);
    }
    pthread_mutex_unlock(&db->res_lock);

    for (int m = MNEMO_MOD_COUNT - 1; m >= 0; m--) {
        void *state = atomic_load(&db->module_state[m]);
        if (state && db->module_ops[m]->destroy)
            db->module_ops[m]->destroy(db, state);
        atomic_store(&db->module_state[m], NULL);
        db->module_ops[m] = NULL;
    }

    if (!db->opts.read_only)
        rc = flush_all(db, "mnemo_close: flush");
    release_rocks(db);
    mnemo_cache__destroy(db->cache);
    db->cache = NULL;
    mnemo__free(db->path);
    db->path = NULL;
    pthread_mutex_destroy(&db->module_lock);
    pthread_mutex_destroy(&db->res_lock);
    shell_put(db);
    return rc;
}

int mnemo_db__module(void **state, mnemo_db *db, mnemo_module m, const mnemo_module_ops *ops)
{
    void *s = atomic_load_explicit(&db->module_state[m], memory_order_acquire);
    if (s) {
        *state = s;
        return 0;
    }
    int rc = 0;
    pthread_mutex_lock(&db->module_lock);
    s = atomic_load_explicit(&db->module_state[m], memory_order_acquire);
    if (!s && (rc = ops->init(db, &s)) == 0) {
        db->module_ops[m] = ops;
        atomic_store_explicit(&db->module_state[m], s, memory_order_release);
    }
    pthread_mutex_unlock(&db->module_lock);
    if (!rc)
        *state = s;
    return rc;
}

void *mnemo_db__module_peek(mnemo_db *db, mnemo_module m)
{
    return atomic_load_explicit(&db->module_state[m], memory_order_acquire);
}

struct mnemo_cache *mnemo_db__cache(mnemo_db *db) { return db->cache; }

uint64_t mnemo_db__estimate_keys(mnemo_db *db, mnemo_cf cf)
{
    char *v = rocksdb_property_value_cf(db->base, db->cf[cf], "rocksdb.estimate-num-keys");
    uint64_t n = v ? strtoull(v, NULL, 10) : 0;
    rocksdb_free(v);
    return n;
}

int mnemo_stats_get(mnemo_stats *out, mnemo_db *db)
{
    int rc = mnemo_db__check(db, "mnemo_stats_get");
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "mnemo_stats_get: out is NULL");
    mnemo_cache_stats cs;
    mnemo_cache__stats(db->cache, &cs);
    memset(out, 0, sizeof *out);
    out->version = MNEMO_STATS_VERSION;
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_inserts = cs.inserts;
    out->cache_evictions = cs.evictions;
    out->cache_bytes_used = cs.bytes_used;
    out->cache_capacity = cs.capacity;
    out->cache_entries = cs.entries;
    return 0;
}

int mnemo_flush(mnemo_db *db)
{
    int rc = mnemo_db__check(db, "mnemo_flush");
    if (rc)
        return rc;
    if (db->opts.read_only)
        return mnemo__err(MNEMO_EREADONLY, "mnemo_flush: database '%s' is open read-only", db->path);
    return flush_all(db, "mnemo_flush");
}

int mnemo_compact(mnemo_db *db)
{
    int rc = mnemo_db__check(db, "mnemo_compact");
    if (rc)
        return rc;
    if (db->opts.read_only)
        return mnemo__err(MNEMO_EREADONLY, "mnemo_compact: database '%s' is open read-only", db->path);
    for (int i = 0; i < MNEMO_CF_COUNT; i++)
        rocksdb_compact_range_cf(db->base, db->cf[i], NULL, 0, NULL, 0);
    return 0;
}

int mnemo_checkpoint(mnemo_db *db, const char *dir)
{
    int rc = mnemo_db__check(db, "mnemo_checkpoint");
    if (rc)
        return rc;
    if (!dir || !*dir)
        return mnemo__err(MNEMO_EINVAL, "mnemo_checkpoint: directory is %s", dir ? "empty" : "NULL");
    struct stat st;
    if (stat(dir, &st) == 0)
        return mnemo__err(MNEMO_EEXISTS, "mnemo_checkpoint: '%s' already exists", dir);
    char *err = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(db->base, &err);
    if (!err) {
        rocksdb_checkpoint_create(cp, dir, 0, &err);
        rocksdb_checkpoint_object_destroy(cp);
    }
    if (err) {
        rc = mnemo__err_rocksdb(err, "mnemo_checkpoint");
        if (rc != MNEMO_ENOMEM && rc != MNEMO_EEXISTS)
            rc = mnemo__err(MNEMO_EIO, "mnemo_checkpoint: cannot write '%s': %s", dir, err);
        rocksdb_free(err);
    }
    return rc;
}
