/* The engine room: opening and closing databases (choosing the engine, the format and engine
 * markers, the modules in order), stats, flush, compact, checkpoint. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/keys.h"
#include "db/db.h"
#include "txn/txn.h"
#include "txn/txn_db.h"

/* Keys of the markers in `metadata` (core/keys.h). Format: "mnemo" + format version (u32 BE) +
 * crc32c of those 9 bytes (u32 BE). Engine: the engine's name, sealed (core/coding.h). */
#define FORMAT_KEY MNEMO_MKEY_FORMAT
#define FORMAT_KEY_LEN MNEMO_MKEY_LEN(MNEMO_MKEY_FORMAT)
#define FORMAT_VALUE_LEN 13
#define FORMAT_WITHOUT_TEXT 2 /* the format before text_index; migrated on a read-write open */
#define ENGINE_KEY MNEMO_MKEY_ENGINE
#define ENGINE_KEY_LEN MNEMO_MKEY_LEN(MNEMO_MKEY_ENGINE)
#define ENGINE_NAME_MAX 15

#define MEMORY_PATH ":memory:"
#define ETCD_SCHEME "etcd://"
#define DEFAULT_ENGINE "rocksdb"
#define DEFAULT_WRITE_BUFFER (64u << 20)
#define DEFAULT_READ_CACHE (64u << 20)
#define DEFAULT_KEY_FILTER_BITS 10

/* ---- handle shells: a closed db's memory stays ours so a stale handle is detected, not UB ---- */

static pthread_mutex_t shell_lock = PTHREAD_MUTEX_INITIALIZER;
static mnemo_db *shell_free_list;

mnemo_db *mnemo_db__shell_get(void)
{
    pthread_mutex_lock(&shell_lock);
    mnemo_db *db = shell_free_list;
    if (db)
        shell_free_list = db->next_free;
    pthread_mutex_unlock(&shell_lock);
    if (!db && (db = mnemo__calloc(1, sizeof *db)) != NULL)
        pthread_mutex_init(&db->t.res_lock, NULL); /* once: the shell's for good (txn_db.h) */
    return db;
}

void mnemo_db__shell_put(mnemo_db *db)
{
    pthread_mutex_lock(&shell_lock);
    db->next_free = shell_free_list;
    shell_free_list = db;
    pthread_mutex_unlock(&shell_lock);
}

const char *mnemo_path(mnemo_db *db)
{
    MNEMO_GUARD(g);
    return mnemo_guard__db(&g, db, "mnemo_path") ? NULL : db->t.path;
}

/* ---- options ---- */

static int normalise_options(mnemo_options *o, const mnemo_options *in)
{
    static const mnemo_options defaults = MNEMO_OPTIONS_INIT;
    *o = defaults;
    /* Versions 1..3 were mnemo 0.x's layouts: reading them as today's would misread every field. */
    if (in && in->version >= 1 && in->version <= 3)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: options version %u is of mnemo 0.x; rebuild against "
                          "this header (MNEMO_OPTIONS_INIT gives version %u)", in->version, MNEMO_OPTIONS_VERSION);
    if (in && in->version > MNEMO_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: options version %u is newer than this library (%u)",
                          in->version, MNEMO_OPTIONS_VERSION);
    if (in) /* a version-4 caller's struct ends before vector_quantization, a version-5 one's
             * before index_memory_limit */
        memcpy(o, in, in->version == 4   ? offsetof(mnemo_options, vector_quantization)
                      : in->version == 5 ? offsetof(mnemo_options, index_memory_limit)
                                         : sizeof *o);
    o->version = MNEMO_OPTIONS_VERSION;
    mnemo_storage_options *st = &o->storage;
    for (size_t i = 0; i < sizeof st->reserved / sizeof st->reserved[0]; i++)
        if (st->reserved[i])
            return mnemo__err(MNEMO_EINVAL, "mnemo_open: storage.reserved[%zu] is not zero (start from "
                              "MNEMO_OPTIONS_INIT)", i);
    if (o->read_only && o->create_if_missing)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: read_only and create_if_missing exclude each other");
    if (o->cache_size == 0)
        o->cache_size = MNEMO_CACHE_DEFAULT_BYTES;
    else if (o->cache_size == MNEMO_CACHE_OFF)
        o->cache_size = 0; /* what the cache room calls off */
    if (st->write_buffer_bytes == 0)
        st->write_buffer_bytes = DEFAULT_WRITE_BUFFER;
    if (st->write_buffer_bytes < (64u << 10))
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: storage.write_buffer_bytes %zu is below the 64 KiB minimum",
                          st->write_buffer_bytes);
    if (st->read_cache_bytes == 0)
        st->read_cache_bytes = DEFAULT_READ_CACHE;
    if (st->key_filter_bits == 0)
        st->key_filter_bits = DEFAULT_KEY_FILTER_BITS;
    if (st->key_filter_bits > 64)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: storage.key_filter_bits %d is above 64", st->key_filter_bits);
    if ((unsigned)st->compression > MNEMO_COMPRESSION_ZSTD)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: unknown storage.compression %d", (int)st->compression);
    if (o->engine && !*o->engine)
        o->engine = NULL;
    if (o->engine && !mnemo_store__engine(o->engine))
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: unknown engine '%.64s' (this build has rocksdb, %smemory)",
                          o->engine, mnemo_store__engine("lmdb") ? "lmdb, " : "");
    return 0;
}

/* ---- what is at the path, and which engine opens it ---- */

enum path_kind { PATH_MISSING, PATH_EMPTY_DIR, PATH_DIR, PATH_NOT_DIR };

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
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    closedir(dir);
    *kind = entries ? PATH_DIR : PATH_EMPTY_DIR;
    return 0;
}

/* The engine for this open: *create says whether the store is to be created. */
static int choose_engine(const mnemo_store_ops **ops, int *create, const char *path, const mnemo_options *o)
{
    if (!strcmp(path, MEMORY_PATH)) {
        if (o->engine && strcmp(o->engine, "memory"))
            return mnemo__err(MNEMO_EINVAL, "mnemo_open: '%s' is the memory engine, but the options name engine '%s'",
                              MEMORY_PATH, o->engine);
        if (o->read_only)
            return mnemo__err(MNEMO_EINVAL, "mnemo_open: a memory database cannot be opened read-only (it starts "
                                            "empty)");
        *ops = &mnemo_store__memory;
        *create = 1;
        return 0;
    }
    if (o->engine && !strcmp(o->engine, "memory"))
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: the memory engine opens only the path '%s', not '%s'",
                          MEMORY_PATH, path);
    if (!strncmp(path, ETCD_SCHEME, strlen(ETCD_SCHEME))) { /* a cluster, not a directory */
        if (!(*ops = mnemo_store__engine("etcd")))
            return mnemo__err(MNEMO_ENOTSUP, "mnemo_open: '%s' needs the etcd engine, which this build lacks "
                                             "(built without libcurl)", path);
        if (o->engine && strcmp(o->engine, "etcd"))
            return mnemo__err(MNEMO_EINVAL, "mnemo_open: '%s' is an etcd database, but the options name engine '%s'",
                              path, o->engine);
        *create = o->create_if_missing && !o->read_only;
        return 0;
    }
    if (o->engine && !strcmp(o->engine, "etcd"))
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: the etcd engine opens a path etcd://host:port/prefix, not '%s'",
                          path);
    enum path_kind kind = PATH_MISSING;
    int rc = inspect_path(path, &kind);
    if (rc)
        return rc;
    switch (kind) {
    case PATH_NOT_DIR:
        return mnemo__err(MNEMO_ENOTDB, "mnemo_open: '%s' is a file, not a database directory", path);
    case PATH_MISSING:
    case PATH_EMPTY_DIR:
        if (!o->create_if_missing)
            return mnemo__err(MNEMO_ENOTFOUND, "mnemo_open: no database at '%s' (set create_if_missing to create one)",
                              path);
        *ops = mnemo_store__engine(o->engine ? o->engine : DEFAULT_ENGINE);
        *create = 1;
        return 0;
    case PATH_DIR: break;
    }
    if (!(*ops = mnemo_store__detect(path)))
        return mnemo__err(MNEMO_ENOTDB, "mnemo_open: '%s' is a non-empty directory that holds no database", path);
    if (o->engine && strcmp(o->engine, (*ops)->name))
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: '%s' is a %s database, but the options name engine '%s'", path,
                          (*ops)->name, o->engine);
    *create = 0;
    return 0;
}

/* ---- the format and engine markers ---- */

static int keyspace_is_empty(mnemo_db *db, mnemo_cf cf, int *empty)
{
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, NULL, cf, NULL, 0, NULL, 0);
    if (rc)
        return rc;
    mnemo_cursor__first(c);
    *empty = !mnemo_cursor__valid(c);
    rc = mnemo_cursor__status(c, "mnemo_open: looking for data");
    mnemo_cursor__close(c);
    return rc;
}

static int write_markers(mnemo_db *db)
{
    unsigned char v[FORMAT_VALUE_LEN];
    memcpy(v, "mnemo", 5);
    mnemo__put_be32(v + 5, MNEMO_FORMAT_VERSION);
    mnemo__put_be32(v + 9, mnemo__crc32c(0, v, 9));
    const char *name = db->t.ops->name;
    unsigned char e[ENGINE_NAME_MAX + MNEMO_SEAL_OVERHEAD];
    size_t elen = mnemo__seal(e, name, strlen(name));
    mnemo_batch *b;
    int rc = mnemo_batch__create(&b, db);
    if (rc)
        return rc;
    mnemo_batch__put(b, MNEMO_CF_METADATA, FORMAT_KEY, FORMAT_KEY_LEN, v, sizeof v);
    mnemo_batch__put(b, MNEMO_CF_METADATA, ENGINE_KEY, ENGINE_KEY_LEN, e, elen);
    rc = mnemo_batch__write(b);
    mnemo_batch__free(b);
    return rc;
}

/* The engine recorded at creation must be the one that opened the store. Databases made before the
 * marker existed were all RocksDB ones. */
static int check_engine_marker(mnemo_db *db)
{
    char *v;
    size_t len;
    int rc = mnemo_txn__get(&v, &len, db, NULL, MNEMO_CF_METADATA, ENGINE_KEY, ENGINE_KEY_LEN, 0);
    const char *opened = db->t.ops->name;
    if (rc == MNEMO_ENOTFOUND)
        return strcmp(opened, DEFAULT_ENGINE) ? mnemo__err(MNEMO_ECORRUPT, "mnemo_open: '%s' has no engine marker "
                                                                           "(metadata key \\0engine)", db->t.path)
                                              : 0;
    if (rc)
        return rc;
    const void *name;
    size_t nlen;
    if (mnemo__unseal(v, len, &name, &nlen) != 0 || nlen > ENGINE_NAME_MAX)
        rc = mnemo__err(MNEMO_ECORRUPT, "mnemo_open: engine marker in '%s' (metadata key \\0engine) is damaged",
                        db->t.path);
    else if (nlen != strlen(opened) || memcmp(name, opened, nlen))
        rc = mnemo__err(MNEMO_ECORRUPT, "mnemo_open: '%s' records engine '%.*s' but its files are %s's", db->t.path,
                        (int)nlen, (const char *)name, opened);
    mnemo__free(v);
    return rc;
}

static int check_markers(mnemo_db *db, int created)
{
    char *v;
    size_t len;
    int rc = mnemo_txn__get(&v, &len, db, NULL, MNEMO_CF_METADATA, FORMAT_KEY, FORMAT_KEY_LEN, 0);
    if (rc == MNEMO_ENOTFOUND) {
        /* A creation interrupted before the markers were written leaves only empty keyspaces. */
        int empty = 1;
        rc = 0;
        for (int c = 0; c < MNEMO_CF_COUNT && empty && !rc; c++)
            rc = keyspace_is_empty(db, (mnemo_cf)c, &empty);
        if (rc)
            return rc;
        if (!created && !empty)
            return mnemo__err(MNEMO_ECORRUPT, "mnemo_open: '%s' has data but no format marker", db->t.path);
        if (db->t.opts.read_only)
            return mnemo__err(MNEMO_ENOTDB, "mnemo_open: '%s' was never initialised as a mnemo database", db->t.path);
        return write_markers(db);
    }
    if (rc)
        return rc;
    const unsigned char *u = (const unsigned char *)v;
    if (len != FORMAT_VALUE_LEN || memcmp(u, "mnemo", 5) != 0 || mnemo__get_be32(u + 9) != mnemo__crc32c(0, u, 9))
        rc = mnemo__err(MNEMO_ECORRUPT, "mnemo_open: format marker in '%s' (metadata key \\0format) is damaged",
                        db->t.path);
    else if (mnemo__get_be32(u + 5) == FORMAT_WITHOUT_TEXT) {
        /* Format 2 lacked text_index (an ADDED_LATER keyspace the engine has just created on a
         * read-write open); nothing else changed, full text starts disabled. Read-only opens go on
         * at format 2 and see the keyspace empty. */
        if (!db->t.opts.read_only)
            rc = write_markers(db);
    } else if (mnemo__get_be32(u + 5) != MNEMO_FORMAT_VERSION)
        rc = mnemo__err(MNEMO_EVERSION, "mnemo_open: '%s' has on-disk format %u; this library reads format %u",
                        db->t.path, mnemo__get_be32(u + 5), MNEMO_FORMAT_VERSION);
    mnemo__free(v);
    return rc ? rc : check_engine_marker(db);
}

/* ---- open and close ---- */

/* Everything after the store closed (or never opened): the shell goes back to the free list. */
static void release_shell(mnemo_db *db)
{
    mnemo_cache__destroy(db->t.cache);
    db->t.cache = NULL;
    mnemo__free(db->t.path);
    db->t.path = NULL;
    db->t.store = NULL;
    pthread_mutex_destroy(&db->t.module_lock);
    pthread_mutex_destroy(&db->t.own_lock);
    pthread_mutex_destroy(&db->coll_lock);
    mnemo__free(db->colls);
    db->colls = NULL;
    atomic_store(&db->t.magic, MNEMO_DB_MAGIC_CLOSED);
    mnemo_db__shell_put(db);
}

/* Closes an open handle: transactions and cursors, then the modules, then the store. */
static int close_db(mnemo_db *db)
{
    atomic_store(&db->t.magic, MNEMO_DB_MAGIC_CLOSING);
    /* Calls in flight on other threads finish first (txn.c enter_db); new ones see the magic. */
    mnemo_guard__wait_calls(db);
    mnemo_db__collections_close(db);
    /* Transactions and cursors hold store objects that must go before the store does. */
    mnemo_txn__close_all(&db->t);
    mnemo_txn__modules_destroy(&db->t);
    int rc = db->t.ops->close(db->t.store);
    release_shell(db);
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
    const mnemo_store_ops *ops = NULL;
    int create = 0;
    if ((rc = choose_engine(&ops, &create, path, &o)) != 0)
        return rc;
    o.engine = ops->name; /* static: safe to keep past the caller's string */

    mnemo_db *db = mnemo_db__shell_get();
    if (!db)
        return mnemo__err_nomem("mnemo_open");
    /* All but the count of guarded calls, which a thread on a stale handle may still hold. */
    memset((char *)db + offsetof(mnemo_txn_db, magic), 0, sizeof *db - offsetof(mnemo_txn_db, magic));
    db->t.opts = o;
    db->t.ops = ops;
    db->t.path = mnemo__memdup(path, strlen(path));
    if (!db->t.path) {
        mnemo_db__shell_put(db);
        return mnemo__err_nomem("mnemo_open");
    }
    db->t.root = db;
    pthread_mutex_init(&db->coll_lock, NULL);
    pthread_mutex_init(&db->t.module_lock, NULL);
    pthread_mutex_init(&db->t.own_lock, NULL);
    mnemo_res__init_list(&db->t.res);

    mnemo_store_config cfg = {path, create, o.read_only, o.sync_on_commit, o.storage, mnemo_keyspaces,
                              MNEMO_CF_COUNT};
    rc = mnemo_cache__create(&db->t.cache, o.cache_size, 0);
    if (!rc)
        rc = ops->open(&db->t.store, &cfg);
    if (rc) {
        release_shell(db);
        return rc;
    }
    db->t.follower = ops->follower && ops->follower(db->t.store);
    db->t.shared = ops->shared || db->t.follower;
    atomic_store_explicit(&db->t.magic, MNEMO_DB_MAGIC_OPEN, memory_order_release);
    rc = check_markers(db, create);
    /* The modules check and load their state once the handle works. */
    for (unsigned i = 0; i < mnemo_db__n_module_opens && !rc; i++)
        rc = mnemo_db__module_opens[i].open(db);
    if (rc) {
        /* The reason is the first error: the close that follows must not replace it with its own. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mnemo_errmsg());
        (void)close_db(db);
        return mnemo__err(rc, "%s", msg);
    }
    if (!o.read_only && !db->t.follower)
        mnemo_db__collections_resume(db);
    *out = db;
    return 0;
}

int mnemo_close(mnemo_db *db)
{
    if (!db)
        return 0;
    if (mnemo_guard__held(db))
        return mnemo__err(MNEMO_EINVAL, "mnemo_close: called from inside a call on this database (a callback); "
                                        "close it after that call returned");
    unsigned magic = atomic_load(&db->t.magic);
    if (magic == MNEMO_DB_MAGIC_OPEN && db->t.root != db)
        return 0; /* a collection's handle closes with its database (collection.h) */
    /* One closer wins; the others, and later calls, are told the handle is closed. */
    unsigned open = MNEMO_DB_MAGIC_OPEN;
    if (!atomic_compare_exchange_strong(&db->t.magic, &open, MNEMO_DB_MAGIC_CLOSING))
        return mnemo__err(MNEMO_EINVAL, "mnemo_close: database handle is closed");
    return close_db(db);
}

/* ---- maintenance ---- */

int mnemo_stats_get(mnemo_stats *out, mnemo_db *db)
{
    MNEMO_GUARD(g);
    int rc = mnemo_guard__db(&g, db, "mnemo_stats_get");
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "mnemo_stats_get: out is NULL");
    static const size_t sizes[] = {offsetof(mnemo_stats, engine), offsetof(mnemo_stats, collection_indexes_loaded),
                                   sizeof(mnemo_stats)};
    size_t bytes;
    if ((rc = mnemo__filled_size(&bytes, "mnemo_stats_get", "mnemo_stats", out->version, sizes,
                                 MNEMO_STATS_VERSION)) != 0)
        return rc;
    mnemo_store_stats ss = {0};
    if ((rc = db->t.ops->stats(db->t.store, &ss)) != 0)
        return rc;
    mnemo_cache_stats cs;
    mnemo_cache__stats(db->t.cache, &cs);
    mnemo_stats all;
    memset(&all, 0, sizeof all);
    all.version = out->version;
    all.cache_hits = cs.hits;
    all.cache_misses = cs.misses;
    all.cache_inserts = cs.inserts;
    all.cache_evictions = cs.evictions;
    all.cache_bytes_used = cs.bytes_used;
    all.cache_capacity = cs.capacity;
    all.cache_entries = cs.entries;
    snprintf(all.engine, sizeof all.engine, "%s", db->t.ops->name);
    all.store_disk_bytes = ss.disk_bytes;
    all.store_memory_bytes = ss.memory_bytes;
    all.store_sequence = ss.last_sequence;
    mnemo_db__module_stats(db, &all);
    memcpy(out, &all, bytes);
    return 0;
}

int mnemo_flush(mnemo_db *db)
{
    MNEMO_GUARD(g);
    int rc = mnemo_guard__write(&g, db, NULL, "mnemo_flush");
    return rc ? rc : db->t.ops->flush(db->t.store);
}

int mnemo_compact(mnemo_db *db)
{
    MNEMO_GUARD(g);
    int rc = mnemo_guard__write(&g, db, NULL, "mnemo_compact");
    return rc ? rc : db->t.ops->compact(db->t.store);
}

int mnemo_checkpoint(mnemo_db *db, const char *dir)
{
    MNEMO_GUARD(g);
    int rc = mnemo_guard__db(&g, db, "mnemo_checkpoint");
    if (rc)
        return rc;
    if (!dir || !*dir)
        return mnemo__err(MNEMO_EINVAL, "mnemo_checkpoint: directory is %s", dir ? "empty" : "NULL");
    struct stat st;
    if (stat(dir, &st) == 0)
        return mnemo__err(MNEMO_EEXISTS, "mnemo_checkpoint: '%s' already exists", dir);
    return db->t.ops->checkpoint(db->t.store, dir);
}
