"""Database, Transaction and the operations they share, over the C API in mnemo._mnemo.

Every C call goes through cffi's API mode, which releases the GIL for the call's duration.
"""
import gc
import json
import operator
import os
import sys
import threading
from dataclasses import dataclass, field

import numpy as np

from ._errors import Busy, error, invalid
from ._mnemo import ffi, lib

_DIRECTIONS = {"out": lib.MNEMO_DIR_OUT, "in": lib.MNEMO_DIR_IN, "both": lib.MNEMO_DIR_BOTH}
_DIRECTION_NAMES = {v: k for k, v in _DIRECTIONS.items()}
_METRICS = {"l2": lib.MNEMO_METRIC_L2, "cosine": lib.MNEMO_METRIC_COSINE, "ip": lib.MNEMO_METRIC_IP}
_METRIC_NAMES = {v: k for k, v in _METRICS.items()}
_QUANTS = {"none": lib.MNEMO_QUANT_NONE, "int8": lib.MNEMO_QUANT_INT8}
_QUANT_NAMES = {v: k for k, v in _QUANTS.items()}
_COMPRESSIONS = {"none": lib.MNEMO_COMPRESSION_NONE, "snappy": lib.MNEMO_COMPRESSION_SNAPPY,
                 "zlib": lib.MNEMO_COMPRESSION_ZLIB, "bzip2": lib.MNEMO_COMPRESSION_BZIP2,
                 "lz4": lib.MNEMO_COMPRESSION_LZ4, "zstd": lib.MNEMO_COMPRESSION_ZSTD}
_PUT_MODES = {"upsert": lib.MNEMO_PUT_UPSERT, "insert": lib.MNEMO_PUT_INSERT,
              "replace": lib.MNEMO_PUT_REPLACE}
_LIST_ORDERS = {"id": lib.MNEMO_LIST_BY_ID, "oldest": lib.MNEMO_LIST_OLDEST_FIRST,
                "newest": lib.MNEMO_LIST_NEWEST_FIRST}
_FUSIONS = {"rrf": lib.MNEMO_RECALL_RRF, "weighted": lib.MNEMO_RECALL_WEIGHTED}
_CLOCKS = {"updated": lib.MNEMO_RECALL_UPDATED_AT, "created": lib.MNEMO_RECALL_CREATED_AT}
_UNSET = object()


# --- values returned to Python -------------------------------------------------------------------

@dataclass
class Record:
    """A memory record. Times are ms since the epoch (0 on put: now / never expires)."""
    id: str
    content: str = ""
    importance: float = 0.0
    metadata: dict = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    expires_at: int = 0
    internal_id: int = 0


@dataclass(slots=True)
class Hit:
    """A vector search result: `hops`/`via` are set for expansion neighbours (search_expand)."""
    id: str
    distance: float
    hops: int = 0
    via: str = None


@dataclass(slots=True)
class TextHit:
    id: str
    score: float


@dataclass(slots=True)
class RecallHit:
    id: str
    score: float
    relevance: float
    text_rank: int
    text_score: float
    vector_rank: int
    distance: float
    recency: float
    importance: float
    time: int


@dataclass
class Edge:
    from_id: str
    label: str
    to: str
    weight: float
    props: dict = None


@dataclass(slots=True)
class Neighbor:
    id: str
    label: str
    weight: float
    props: dict
    direction: str  # "out" (node -> id) or "in" (id -> node)
    collection: str | None = None  # the neighbour's collection when it is another one's


@dataclass(slots=True)
class Visit:
    """A node reached by traverse(): `via` is the node it was reached from (None for a start)."""
    id: str
    depth: int
    via: str = None
    via_label: str = None


@dataclass
class Path:
    nodes: list
    labels: list
    weight: float

    @property
    def hops(self):
        return len(self.labels)


@dataclass
class ImportStats:
    lines: int
    edges: int
    nodes_created: int


@dataclass
class VectorSpace:
    dim: int
    metric: str
    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_ef_search: int
    quantization: str = "none"


@dataclass
class VectorStats:
    vectors: int
    deleted_slots: int
    index_bytes: int
    log_entries: int
    rebuilds: int
    simd: str


@dataclass
class TextInfo:
    stem_language: str
    stopwords: bool
    k1: float
    b: float
    ready: bool
    documents: int
    total_terms: int


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    records: int  # stored records (expired ones not yet purged count)
    vectors: int  # stored embeddings


@dataclass
class Stats:
    cache_hits: int
    cache_misses: int
    cache_inserts: int
    cache_evictions: int
    cache_bytes_used: int
    cache_capacity: int
    cache_entries: int
    engine: str
    store_disk_bytes: int
    store_memory_bytes: int
    store_sequence: int
    collection_indexes_loaded: int  # collections' vector indexes now in memory
    collection_index_bytes: int  # their memory, each as of its load
    collection_index_evictions: int  # evicted under index_memory_limit so far


# --- conversions ---------------------------------------------------------------------------------

def _check(rc):
    if rc < 0:
        raise error(rc)
    return rc


def _bytes(v, what):
    """Keys and values: bytes-like, or str (UTF-8)."""
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8", "surrogatepass")
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise invalid(f"{what} must be bytes or str, not {type(v).__name__}")


def _text(s, what):
    """A C string argument: str -> UTF-8 bytes (invalid UTF-8 is left for the library to name)."""
    if isinstance(s, str):
        b = s.encode("utf-8", "surrogatepass")
    elif isinstance(s, bytes):
        b = s
    else:
        raise invalid(f"{what} must be str, not {type(s).__name__}")
    if b"\0" in b:
        raise invalid(f"{what} contains a NUL character")
    return b


def _path(p, what):
    """A file system path: str, bytes or os.PathLike (str(b"db") would be the path "b'db'")."""
    try:
        p = os.fspath(p)
    except TypeError:
        raise invalid(f"{what} must be a path (str, bytes or os.PathLike), not {type(p).__name__}") from None
    return _text(os.fsencode(p), what)


def _opt_text(s, what):
    return ffi.NULL if s is None else _text(s, what)


def _cstr(b, keep):
    """A C string for a struct field (NUL added), kept alive in `keep` for the call."""
    c = ffi.new("char[]", b)
    keep.append(c)
    return c


def _opt_cstr(v, what, keep):
    return ffi.NULL if v is None else _cstr(_text(v, what), keep)


def _restrict(o, keep, filter, near, near_direction, near_label):  # noqa: A002
    """The filter and graph-neighbourhood fields that searches, text searches and recall share."""
    if filter is not None:
        o.filter = _cstr(_json(filter, "filter"), keep)
    if near is not None:
        o.near = _cstr(_text(near, "near"), keep)
        o.near_dir = 0 if near_direction is None else _direction(near_direction, "near_direction")
    if near_label is not None:
        o.near_label = _cstr(_text(near_label, "near_label"), keep)


def _json(v, what):
    """Metadata, props, filters: a dict (or list) becomes JSON text; str is taken as JSON text."""
    if v is None or isinstance(v, (str, bytes)):
        return _opt_text(v, what)
    try:
        s = json.dumps(v, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise invalid(f"{what} cannot be written as JSON: {e}") from None
    except RecursionError:
        raise invalid(f"{what} is nested too deep for Python's json module; pass it as JSON text "
                      "(the library takes up to 2048 levels)") from None
    return _text(s, what)


def _str(p):
    return None if p == ffi.NULL else ffi.string(p).decode("utf-8", "surrogateescape")


_DEEP_JSON_LOCK = threading.Lock()


def _load_json(p):
    if p == ffi.NULL:
        return None
    text = ffi.string(p).decode("utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        # The library stores JSON nested up to jansson's 2048 levels; Python's decoder recurses
        # once per level under the interpreter's limit (1000): lift it for this one decode.
        with _DEEP_JSON_LOCK:
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 2 * 2048 + 1000))
            try:
                return json.loads(text)
            finally:
                sys.setrecursionlimit(old)


def _direction(d, what="direction"):
    try:
        return _DIRECTIONS[d]
    except KeyError:
        raise invalid(f"{what} must be one of 'out', 'in', 'both', not {d!r}") from None


def _choice(table, v, what):
    try:
        return table[v]
    except KeyError:
        raise invalid(f"{what} must be one of {', '.join(map(repr, table))}, not {v!r}") from None


def _floats(v, what):
    """A contiguous float32 array (numpy converts once, in C, when the input is not one already).
    Complex values (numpy would drop their imaginary part) and non-numbers are InvalidArgument."""
    try:
        a = np.asarray(v)
        complex_ = a.dtype.kind == "c"
        if not complex_:
            a = np.ascontiguousarray(a, dtype=np.float32).reshape(a.shape)  # a 0-d input stays 0-d
    except (TypeError, ValueError) as e:  # strings, None, ragged lists
        raise invalid(f"{what} must be an array of real numbers: {e}") from None
    if complex_:
        raise invalid(f"{what} must be real numbers, not complex")
    if a.size == 0:
        raise invalid(f"{what} is empty")
    return a


def _vector(v, what):
    """One vector: a 1-d array (a 2-d one holding dim floats is several vectors, never flattened)."""
    a = _floats(v, what)
    if a.ndim != 1:
        raise invalid(f"{what} must be a 1-d array of floats, not an array of shape {a.shape}")
    return a


def _integer(v, what, lo, hi):
    try:
        n = operator.index(v)
    except TypeError:
        raise invalid(f"{what} must be an integer, not {type(v).__name__}") from None
    if not lo <= n <= hi:
        raise invalid(f"{what} must be in {lo}..{hi}, not {n}")
    return n


def _unsigned(v, what, bits=64):
    """A C unsigned argument or field: an int in range, else InvalidArgument naming it (cffi alone
    raises OverflowError or TypeError naming nothing)."""
    return _integer(v, what, 0, (1 << bits) - 1)


def _int64(v, what):
    return _integer(v, what, -(1 << 63), (1 << 63) - 1)


def _record(r):
    """A library-owned mnemo_record -> Record (copies)."""
    return Record(
        id=ffi.string(r.id).decode("utf-8"),
        content=ffi.unpack(r.content, r.content_len).decode("utf-8") if r.content != ffi.NULL else "",
        importance=r.importance,
        metadata=_load_json(r.metadata) or {},
        created_at=r.created_at,
        updated_at=r.updated_at,
        expires_at=r.expires_at,
        internal_id=r.internal_id,
    )


def _page_records(page):
    return [_record(page.records[i]) for i in range(page.count)]


# The distance column of a mnemo_vector_hits array, read by numpy without a Python loop.
_HIT_DISTANCE = np.dtype({"names": ["distance"], "formats": [np.float32],
                          "offsets": [ffi.offsetof("mnemo_vector_hit", "distance")],
                          "itemsize": ffi.sizeof("mnemo_vector_hit")})


def _hits(h):
    # the hot path of search: locals instead of global and attribute lookups (-25 % per hit)
    arr, string, null, out = h.hits, ffi.string, ffi.NULL, []
    for i in range(h.count):
        x = arr[i]
        via = x.via
        out.append(Hit(string(x.id).decode("utf-8"), x.distance, x.hops,
                       None if via == null else string(via).decode("utf-8")))
    return out


# --- callbacks from C ----------------------------------------------------------------------------

class _CallState:
    __slots__ = ("db", "fn", "flags", "result", "exc", "visits")

    def __init__(self, db=None, fn=None, flags=0):
        self.db, self.fn, self.flags = db, fn, flags
        self.result = self.exc = None
        self.visits = []


@ffi.def_extern()
def _mnemo_py_txn_fn(txn, arg):
    st = ffi.from_handle(arg)
    st.exc = None
    tx = Transaction(st.db, txn, borrowed=True, read_only=bool(st.flags & lib.MNEMO_TXN_READONLY))
    try:
        st.result = st.fn(tx)
        return 0
    except BaseException as e:  # noqa: BLE001 -- carried back to the caller of run()
        st.exc = e
        return lib.MNEMO_EBUSY if isinstance(e, Busy) else lib.MNEMO_ERROR
    finally:
        tx._finish("finished (the retry helper commits it)")


@ffi.def_extern()
def _mnemo_py_visit_fn(node, depth, via, via_label, arg):
    st = ffi.from_handle(arg)
    try:
        st.visits.append(Visit(ffi.string(node).decode("utf-8"), depth, _str(via), _str(via_label)))
        return 0
    except BaseException as e:  # noqa: BLE001
        st.exc = e
        return lib.MNEMO_ERROR


@ffi.def_extern()
def _mnemo_py_progress_fn(done, total, arg):
    st = ffi.from_handle(arg)
    if st.exc is None:
        try:
            st.fn(done, total)
        except BaseException as e:  # noqa: BLE001 -- raised once the C call returns
            st.exc = e


# --- operations shared by Database (auto-commit) and Transaction ---------------------------------

class _Ops:
    """Every data operation; on a Database each commits alone, on a Transaction it joins it."""

    # ---- key-value
    def kv_put(self, key, value):
        k = _bytes(key, "key")
        v = _bytes(value, "value")
        _check(lib.mnemo_kv_put(self._db(), self._t(), k, len(k), v, len(v)))

    def kv_get(self, key, default=_UNSET):
        """The value (bytes); NotFound when absent unless a default is given."""
        k = _bytes(key, "key")
        out = ffi.new("void **")
        n = ffi.new("size_t *")
        rc = lib.mnemo_kv_get(out, n, self._db(), self._t(), k, len(k))
        if rc < 0:
            if rc == lib.MNEMO_ENOTFOUND and default is not _UNSET:
                return default
            raise error(rc)
        try:
            return ffi.unpack(ffi.cast("char *", out[0]), n[0])
        finally:
            lib.mnemo_free(out[0])

    def kv_view(self, key):
        """The value without a copy: a read-only memoryview over the engine's bytes. The bytes
        stay valid while the memoryview (or anything made from it) is referenced; the database
        refuses to close while one is."""
        k = _bytes(key, "key")
        v = ffi.new("mnemo_view *")
        database = self._database
        database._reserve_view()  # before the C call, so close() cannot slip in while it runs
        try:
            _check(lib.mnemo_kv_view(v, self._db(), self._t(), k, len(k)))
        except BaseException:
            database._unreserve_view()
            raise
        if v.len == 0:
            lib.mnemo_view_release(v)
            database._unreserve_view()
            return memoryview(b"")
        return database._hold_view(v)

    def kv_delete(self, key):
        k = _bytes(key, "key")
        _check(lib.mnemo_kv_delete(self._db(), self._t(), k, len(k)))

    def kv_exists(self, key):
        k = _bytes(key, "key")
        return _check(lib.mnemo_kv_exists(self._db(), self._t(), k, len(k))) == 1

    def kv_batch(self, ops):
        """Apply ("put", key, value) and ("delete", key) operations atomically, in order."""
        ops = list(ops)
        arr = ffi.new("mnemo_kv_op[]", len(ops))
        keep = []
        for i, op in enumerate(ops):
            if not isinstance(op, tuple) or not op or op[0] not in ("put", "delete") or \
                    len(op) != (3 if op[0] == "put" else 2):
                raise invalid(f"kv_batch: operation {i} must be ('put', key, value) or ('delete', key)")
            k = _bytes(op[1], "key")
            keep.append(k)
            arr[i].key, arr[i].klen = ffi.from_buffer(k), len(k)
            if op[0] == "put":
                v = _bytes(op[2], "value")
                keep.append(v)
                arr[i].type, arr[i].val, arr[i].vlen = lib.MNEMO_KV_PUT, ffi.from_buffer(v), len(v)
            else:
                arr[i].type = lib.MNEMO_KV_DELETE
        _check(lib.mnemo_kv_batch(self._db(), self._t(), arr, len(ops)))

    def kv_scan(self, prefix=None, start=None, end=None, reverse=False):
        """A generator of (key, value) bytes pairs; prefix and [start, end) combine. The C
        iterator is freed when the generator ends, is closed or is collected."""
        o = ffi.new("mnemo_kv_iter_options *")
        o.version = lib.MNEMO_KV_ITER_OPTIONS_VERSION
        keep = []
        for name, v in (("prefix", prefix), ("start", start), ("end", end)):
            if v is not None:
                b = _bytes(v, name)
                keep.append(b)
                setattr(o, name, ffi.from_buffer(b))
                setattr(o, name + "_len", len(b))
        o.reverse = bool(reverse)
        out = ffi.new("mnemo_iter **")
        _check(lib.mnemo_kv_iter(out, self._db(), self._t(), o))
        kp, kn = ffi.new("const void **"), ffi.new("size_t *")
        vp, vn = ffi.new("const void **"), ffi.new("size_t *")

        def step(it):  # the move and both halves of the entry in one call into the library
            return lib.mnemo_iter_next_kv(it, kp, kn, vp, vn)

        def pair(it):
            return (ffi.unpack(ffi.cast("char *", kp[0]), kn[0]),
                    ffi.unpack(ffi.cast("char *", vp[0]), vn[0]))
        return self._iterate(out[0], pair, step)

    def _iterate(self, handle, entry, step=None):
        """A generator over a mnemo_iter: step(it) moves it (mnemo_iter_next unless given), entry(it)
        reads the current entry. The iterator is freed when the generator ends, is closed or is
        collected (even if never started)."""
        it = ffi.gc(handle, lib.mnemo_iter_free)
        step = step or lib.mnemo_iter_next

        def gen():
            try:
                while True:
                    self._live()
                    rc = step(it)
                    if rc == lib.MNEMO_ITEROVER:
                        return
                    _check(rc)
                    yield entry(it)
            finally:
                ffi.release(it)
        return gen()

    # ---- records
    def put_record(self, record, content=None, *, importance=0.0, metadata=None, created_at=0,
                   updated_at=0, expires_at=0, mode="upsert"):
        """Store a record: a Record, or its id with the fields as arguments. mode: "upsert",
        "insert" (Exists if present) or "replace" (NotFound if absent)."""
        if isinstance(record, Record):
            r = record
            content, importance, metadata = r.content, r.importance, r.metadata
            created_at, updated_at, expires_at, rid = r.created_at, r.updated_at, r.expires_at, r.id
        else:
            rid = record
        c = ffi.new("mnemo_record *")
        keep = []
        c.id = _cstr(_text(rid, "record id"), keep)
        if content is not None:
            c.content = _cstr(_text(content, "content"), keep)
        if metadata is not None:
            c.metadata = _cstr(_json(metadata, "metadata"), keep)
        c.importance = importance
        c.created_at, c.updated_at = _int64(created_at, "created_at"), _int64(updated_at, "updated_at")
        c.expires_at = _int64(expires_at, "expires_at")
        _check(lib.mnemo_record_put(self._db(), self._t(), c, _choice(_PUT_MODES, mode, "mode")))

    def get_record(self, rid, default=_UNSET):
        """The Record; NotFound when absent or expired unless a default is given."""
        out = ffi.new("mnemo_record **")
        rc = lib.mnemo_record_get(out, self._db(), self._t(), _text(rid, "record id"))
        if rc < 0:
            if rc == lib.MNEMO_ENOTFOUND and default is not _UNSET:
                return default
            raise error(rc)
        try:
            return _record(out[0])
        finally:
            lib.mnemo_record_free(out[0])

    def record_exists(self, rid):
        return _check(lib.mnemo_record_exists(self._db(), self._t(), _text(rid, "record id"))) == 1

    def delete_record(self, rid):
        """Delete a record with its embedding, edges and postings."""
        _check(lib.mnemo_record_delete(self._db(), self._t(), _text(rid, "record id")))

    def update_record(self, rid, *, content=_UNSET, importance=_UNSET, expires_at=_UNSET,
                      metadata_patch=_UNSET):
        """Change some fields; metadata_patch is merged (RFC 7386: None deletes a key)."""
        u = ffi.new("mnemo_record_changes *")
        u.version = lib.MNEMO_RECORD_CHANGES_VERSION
        keep = []
        if content is not _UNSET:
            u.content = _cstr(_text(content, "content"), keep)
            u.fields |= lib.MNEMO_UPDATE_CONTENT
        if importance is not _UNSET:
            u.importance = importance
            u.fields |= lib.MNEMO_UPDATE_IMPORTANCE
        if expires_at is not _UNSET:
            u.expires_at = _int64(expires_at, "expires_at")
            u.fields |= lib.MNEMO_UPDATE_EXPIRES_AT
        if metadata_patch is not _UNSET:
            u.metadata_patch = _cstr(_json(metadata_patch, "metadata_patch"), keep)
            u.fields |= lib.MNEMO_UPDATE_METADATA
        _check(lib.mnemo_record_update(self._db(), self._t(), _text(rid, "record id"), u))

    def list_records(self, order="id", prefix=None, created_from=0, created_to=0, page_size=256):
        """A generator of Records, fetched page_size at a time. order: "id", "oldest", "newest"."""
        o = ffi.new("mnemo_record_list_options *")
        o.version = lib.MNEMO_RECORD_LIST_OPTIONS_VERSION
        o.order = _choice(_LIST_ORDERS, order, "order")
        keep = []
        o.id_prefix = _opt_cstr(prefix, "prefix", keep)
        o.created_from, o.created_to = _int64(created_from, "created_from"), _int64(created_to, "created_to")
        o.limit = _unsigned(page_size, "page_size")
        return self._pages(lambda out: lib.mnemo_record_list(out, self._db(), self._t(), o), o, keep)

    def find_records(self, filter, page_size=256):  # noqa: A002 -- the C API's word
        """A generator of the Records whose metadata and fields match `filter` (dict or JSON)."""
        f = _json(filter, "filter")
        o = ffi.new("mnemo_record_find_options *")
        o.version = lib.MNEMO_RECORD_FIND_OPTIONS_VERSION
        o.limit = _unsigned(page_size, "page_size")
        return self._pages(lambda out: lib.mnemo_record_find(out, self._db(), self._t(), f, o), o, f)

    def _pages(self, fetch, opts, keep):
        # The first page is read now, so a bad argument raises here rather than at iteration.
        out = ffi.new("mnemo_record_page **")
        _check(fetch(out))
        page = ffi.gc(out[0], lib.mnemo_record_page_free)

        def gen(page=page, keep=keep):  # keep: strings the options point into
            while True:
                recs = _page_records(page)
                cur = None if page.next_cursor == ffi.NULL else ffi.string(page.next_cursor)
                ffi.release(page)
                yield from recs
                if cur is None:
                    return
                self._live()
                cb = ffi.new("char[]", cur)
                opts.cursor = cb
                _check(fetch(out))
                page = ffi.gc(out[0], lib.mnemo_record_page_free)
        return gen()

    def indexes(self):
        """The metadata paths with a secondary index."""
        paths, n = ffi.new("char ***"), ffi.new("size_t *")
        _check(lib.mnemo_record_index_list(paths, n, self._db(), self._t()))
        try:
            return [ffi.string(paths[0][i]).decode("utf-8") for i in range(n[0])]
        finally:
            lib.mnemo_record_index_list_free(paths[0], n[0])

    # ---- graph
    def _to_db(self, to_collection):
        """The C handle of an edge's far end: this one, or the collection named (or given)."""
        if to_collection is None:
            return self._db()
        c = to_collection if isinstance(to_collection, Database) else self._database.collection(to_collection)
        return c._db()

    def link(self, from_id, label, to, weight=1.0, props=None, create_missing=False, to_collection=None):
        """Insert the edge (from_id, label, to) or update its weight and props; with
        to_collection (a name or a Collection), `to` is a record of that collection."""
        e = ffi.new("mnemo_graph_edge *")
        keep = []
        setattr(e, "from", _cstr(_text(from_id, "from_id"), keep))  # a Python keyword
        e.label, e.to = _cstr(_text(label, "label"), keep), _cstr(_text(to, "to"), keep)
        e.weight = weight
        if props is not None:
            e.props = _cstr(_json(props, "props"), keep)
        flags = lib.MNEMO_LINK_CREATE_MISSING if create_missing else 0
        _check(lib.mnemo_graph_link_across(self._db(), self._t(), e, self._to_db(to_collection), flags))

    def unlink(self, from_id, label, to, to_collection=None):
        _check(lib.mnemo_graph_unlink_across(self._db(), self._t(), _text(from_id, "from_id"),
                                             _text(label, "label"), self._to_db(to_collection), _text(to, "to")))

    def get_edge(self, from_id, label, to):
        out = ffi.new("mnemo_graph_edge **")
        _check(lib.mnemo_graph_get(out, self._db(), self._t(), _text(from_id, "from_id"),
                                   _text(label, "label"), _text(to, "to")))
        try:
            e = out[0]
            return Edge(_str(getattr(e, "from")), _str(e.label), _str(e.to), e.weight, _load_json(e.props))
        finally:
            lib.mnemo_graph_edge_free(out[0])

    def edge_exists(self, from_id, label, to):
        return _check(lib.mnemo_graph_exists(self._db(), self._t(), _text(from_id, "from_id"),
                                             _text(label, "label"), _text(to, "to"))) == 1

    def neighbors(self, rid, direction="out", label=None, limit=0):
        """A generator of Neighbors of a record (out-edges first, by label then neighbour)."""
        out = ffi.new("mnemo_iter **")
        _check(lib.mnemo_graph_neighbors(out, self._db(), self._t(), _text(rid, "record id"),
                                         _direction(direction), _opt_text(label, "label"),
                                         _unsigned(limit, "limit")))
        n = ffi.new("mnemo_graph_neighbor **")

        def neighbor(it):
            _check(lib.mnemo_iter_neighbor(it, ffi.cast("const mnemo_graph_neighbor **", n)))
            x = n[0]
            return Neighbor(_str(x.id), _str(x.label), x.weight, _load_json(x.props),
                            _DIRECTION_NAMES.get(x.direction), _str(x.collection) if x.collection else None)
        return self._iterate(out[0], neighbor)

    def degree(self, rid, direction="out", label=None):
        out = ffi.new("uint64_t *")
        _check(lib.mnemo_graph_degree(out, self._db(), self._t(), _text(rid, "record id"),
                                      _direction(direction), _opt_text(label, "label")))
        return out[0]

    def traverse(self, starts, direction="out", label=None, max_depth=0, max_nodes=0):
        """Breadth-first from one start id or several: a generator of Visits. The traversal runs
        in C with the GIL released, then its visits are yielded (bound it with max_depth/max_nodes)."""
        if isinstance(starts, (str, bytes)):
            starts = [starts]
        cstarts = [ffi.new("char[]", _text(s, "start")) for s in starts]
        arr = ffi.new("char *[]", cstarts)
        keep = []
        o = ffi.new("mnemo_graph_traverse_options *")
        o.version = lib.MNEMO_GRAPH_TRAVERSE_OPTIONS_VERSION
        o.dir = _direction(direction)
        o.label = _opt_cstr(label, "label", keep)
        o.max_depth, o.max_nodes = _unsigned(max_depth, "max_depth", 32), _unsigned(max_nodes, "max_nodes")
        st = _CallState()
        h = ffi.new_handle(st)
        rc = lib.mnemo_graph_traverse(self._db(), self._t(), arr, len(cstarts), o,
                                      lib._mnemo_py_visit_fn, h)
        if st.exc is not None:
            raise st.exc
        _check(rc)
        return iter(st.visits)

    def shortest_path(self, from_id, to, direction="out", label=None, weighted=False, max_hops=0):
        """The Path of fewest hops (or least weight with weighted=True); NotFound if none."""
        o = ffi.new("mnemo_graph_path_options *")
        o.version = lib.MNEMO_GRAPH_PATH_OPTIONS_VERSION
        o.dir = _direction(direction)
        keep = []
        o.label = _opt_cstr(label, "label", keep)
        o.weighted, o.max_hops = bool(weighted), _unsigned(max_hops, "max_hops", 32)
        out = ffi.new("mnemo_graph_path **")
        _check(lib.mnemo_graph_shortest_path(out, self._db(), self._t(), _text(from_id, "from_id"),
                                             _text(to, "to"), o))
        try:
            p = out[0]
            return Path([_str(p.nodes[i]) for i in range(p.hops + 1)],
                        [_str(p.labels[i]) for i in range(p.hops)], p.weight)
        finally:
            lib.mnemo_graph_path_free(out[0])

    # ---- vectors
    def put_vector(self, rid, vector):
        v = _vector(vector, "vector")
        _check(lib.mnemo_vector_put(self._db(), self._t(), _text(rid, "record id"),
                                    ffi.from_buffer("float[]", v), v.size))

    def put_vectors(self, ids, vectors):
        """Set many embeddings at once: ids[i] gets row i of an (n, dim) float32 array, passed to
        C without copying (other dtypes are converted once by numpy). All or none."""
        a = _floats(vectors, "vectors")
        if a.ndim != 2:
            raise invalid(f"put_vectors: vectors must be a 2-d array (n, dim), not {a.ndim}-d")
        if isinstance(ids, (str, bytes)):
            raise invalid("put_vectors: ids must be a sequence of ids, not one " + type(ids).__name__)
        ids = list(ids)
        if len(ids) != a.shape[0]:
            raise invalid(f"put_vectors: {len(ids)} ids for {a.shape[0]} vectors")
        keep = [ffi.new("char[]", _text(s, "record id")) for s in ids]
        arr = ffi.new("char *[]", keep)
        _check(lib.mnemo_vector_put_batch(self._db(), self._t(), arr, ffi.from_buffer("float[]", a),
                                          a.shape[0], a.shape[1]))

    def get_vector(self, rid):
        """The stored embedding as a float32 array (normalised under cosine)."""
        out, n = ffi.new("float **"), ffi.new("size_t *")
        _check(lib.mnemo_vector_get(out, n, self._db(), self._t(), _text(rid, "record id")))
        try:
            return np.frombuffer(ffi.buffer(out[0], n[0] * 4), dtype=np.float32).copy()
        finally:
            lib.mnemo_free(out[0])

    def delete_vector(self, rid):
        _check(lib.mnemo_vector_delete(self._db(), self._t(), _text(rid, "record id")))

    def _search_options(self, filter, near, hops, near_direction, near_label, ef, exact, keep):
        if filter is None and near is None and not ef and not exact:
            return ffi.NULL
        o = ffi.new("mnemo_vector_search_options *")
        o.version = lib.MNEMO_VECTOR_SEARCH_OPTIONS_VERSION
        o.ef, o.exact, o.hops = _unsigned(ef, "ef", 32), bool(exact), _unsigned(hops, "hops", 32)
        _restrict(o, keep, filter, near, near_direction, near_label)
        return o

    def search(self, query, k=10, *, filter=None, near=None, hops=0,  # noqa: A002
               near_direction=None, near_label=None, ef=0, exact=False):
        """The k nearest records to `query`, nearest first, as a list of Hits. filter: a metadata
        filter (dict or JSON); near/hops: only records within hops graph hops of `near`."""
        q = _vector(query, "query")
        keep = []
        o = self._search_options(filter, near, hops, near_direction, near_label, ef, exact, keep)
        out = ffi.new("mnemo_vector_hits **")
        _check(lib.mnemo_vector_search(out, self._db(), self._t(), ffi.from_buffer("float[]", q),
                                       q.size, _unsigned(k, "k"), o))
        try:
            return _hits(out[0])
        finally:
            lib.mnemo_vector_hits_free(out[0])

    def search_batch(self, queries, k=10, *, filter=None, near=None, hops=0,  # noqa: A002
                     near_direction=None, near_label=None, ef=0, exact=False):
        """n queries at once, from an (n, dim) array: returns (ids, distances), arrays of shape
        (n, k): ids an object array of str (None where a query found fewer than k), distances
        float32 (NaN there)."""
        qs = _floats(queries, "queries")
        if qs.ndim != 2:
            raise invalid(f"search_batch: queries must be a 2-d array (n, dim), not {qs.ndim}-d")
        n = qs.shape[0]
        k = _unsigned(k, "k")
        keep = []
        o = self._search_options(filter, near, hops, near_direction, near_label, ef, exact, keep)
        out = ffi.new("mnemo_vector_hits *[]", n)
        _check(lib.mnemo_vector_search_batch(out, self._db(), self._t(),
                                             ffi.from_buffer("float[]", qs), n, qs.shape[1], k, o))
        ids = np.full((n, k), None, dtype=object)
        dist = np.full((n, k), np.nan, dtype=np.float32)
        try:
            for i in range(n):
                h = out[i]
                c = h.count
                if c:
                    dist[i, :c] = np.frombuffer(ffi.buffer(h.hits, c * _HIT_DISTANCE.itemsize),
                                                dtype=_HIT_DISTANCE)["distance"]
                    ids[i, :c] = [ffi.string(h.hits[j].id).decode("utf-8") for j in range(c)]
        finally:
            for i in range(n):
                lib.mnemo_vector_hits_free(out[i])
        return ids, dist

    def search_expand(self, query, k=10, hops=1, direction="both", *, filter=None,  # noqa: A002
                      near=None, near_hops=0, near_direction=None, near_label=None, ef=0, exact=False):
        """The k nearest, then every record within `hops` graph hops of them (Hit.hops, Hit.via)."""
        q = _vector(query, "query")
        keep = []
        o = self._search_options(filter, near, near_hops, near_direction, near_label, ef, exact, keep)
        out = ffi.new("mnemo_vector_hits **")
        _check(lib.mnemo_vector_search_expand(out, self._db(), self._t(), ffi.from_buffer("float[]", q),
                                              q.size, _unsigned(k, "k"), o, _unsigned(hops, "hops", 32),
                                              _direction(direction)))
        try:
            return _hits(out[0])
        finally:
            lib.mnemo_vector_hits_free(out[0])

    # ---- text and recall
    def text_info(self):
        i = ffi.new("mnemo_text_info *")
        i.version = lib.MNEMO_TEXT_INFO_VERSION
        _check(lib.mnemo_text_info_get(i, self._db(), self._t()))
        return TextInfo(ffi.string(i.stem_language).decode(), bool(i.stopwords), i.k1, i.b,
                        bool(i.ready), i.documents, i.total_terms)

    def text_search(self, query, k=10, *, filter=None, near=None, hops=0,  # noqa: A002
                    near_direction=None, near_label=None, k1=0.0, b=0.0):
        """The k records whose content best matches `query` by BM25, best first (TextHits)."""
        o = ffi.new("mnemo_text_search_options *")
        o.version = lib.MNEMO_TEXT_SEARCH_OPTIONS_VERSION
        o.k1, o.b, o.hops = k1, b, _unsigned(hops, "hops", 32)
        keep = []
        _restrict(o, keep, filter, near, near_direction, near_label)
        out = ffi.new("mnemo_text_hits **")
        _check(lib.mnemo_text_search(out, self._db(), self._t(), _text(query, "query"), _unsigned(k, "k"), o))
        try:
            h = out[0]
            return [TextHit(ffi.string(h.hits[i].id).decode("utf-8"), h.hits[i].score)
                    for i in range(h.count)]
        finally:
            lib.mnemo_text_hits_free(out[0])

    def recall(self, text=None, vector=None, k=10, *, filter=None, near=None, hops=0,  # noqa: A002
               near_direction=None, near_label=None, fusion="rrf", rrf_k=0.0, text_weight=1.0,
               vector_weight=1.0, recency_weight=1.0, importance_weight=1.0, half_life_ms=0.0,
               clock="updated", now=0, depth=0):
        """Hybrid recall: text (BM25) and vector rankings fused with recency and importance.
        Each weight defaults to 1 on its own (C's all-zero rule would turn the others off when one
        is named); 0 turns that part off (all four 0 mean the defaults, as in C)."""
        q = ffi.new("mnemo_recall_query *")
        q.version = lib.MNEMO_RECALL_QUERY_VERSION
        keep = []
        if text is not None:
            q.text = _cstr(_text(text, "text"), keep)
        if vector is not None:
            v = _vector(vector, "vector")
            keep.append(v)
            q.vector, q.dim = ffi.from_buffer("float[]", v), v.size
        _restrict(q, keep, filter, near, near_direction, near_label)
        q.hops = _unsigned(hops, "hops", 32)
        q.fusion = _choice(_FUSIONS, fusion, "fusion")
        q.clock = _choice(_CLOCKS, clock, "clock")
        q.rrf_k, q.text_weight, q.vector_weight = rrf_k, text_weight, vector_weight
        q.recency_weight, q.importance_weight, q.half_life_ms = recency_weight, importance_weight, half_life_ms
        q.now, q.depth = _int64(now, "now"), _unsigned(depth, "depth")
        out = ffi.new("mnemo_recall_hits **")
        _check(lib.mnemo_recall(out, self._db(), self._t(), q, _unsigned(k, "k")))
        try:
            h = out[0]
            return [RecallHit(ffi.string(x.id).decode("utf-8"), x.score, x.relevance, x.text_rank,
                              x.text_score, x.vector_rank, x.distance, x.recency, x.importance, x.time)
                    for x in (h.hits[i] for i in range(h.count))]
        finally:
            lib.mnemo_recall_hits_free(out[0])


# --- transactions --------------------------------------------------------------------------------

class Transaction(_Ops):
    """A transaction over every model. As a context manager it commits when the block ends
    normally and rolls back when it raises. It belongs to one thread at a time; once committed or
    rolled back, every call on it raises InvalidArgument."""

    def __init__(self, database, handle, borrowed=False, read_only=False):
        self._database = database
        self._h = handle
        self._borrowed = borrowed  # run() owns the C transaction: no commit, rollback or free here
        self._done = None
        self.read_only = read_only

    def _db(self):
        return self._database._db()

    def _t(self):
        if self._done is not None:
            raise invalid(f"transaction already {self._done}")
        self._t_view()  # a view of another collection lives as long as its transaction
        self._database._db()
        return self._h

    def _live(self):
        self._t()

    @property
    def active(self):
        return self._done is None and not self._database.closed

    def _finish(self, how):
        # The C handle is freed only with this object: another thread still inside a call on it
        # holds a reference, so the handle it uses is never freed under it (C answers EINVAL).
        if self._done is None:
            self._done = how

    def commit(self):
        """Commit; Busy on a conflict (nothing applied: run the work again in a new transaction)."""
        if self._borrowed:
            raise invalid("commit: the retry helper commits this transaction when the function returns")
        h = self._t()
        rc = lib.mnemo_txn_commit(h)
        if rc != lib.MNEMO_EINVAL:  # EINVAL (in use by another thread) leaves it open
            self._finish("committed" if rc == 0 else "finished (its commit failed)")
        _check(rc)

    def rollback(self):
        if self._borrowed:
            raise invalid("rollback: raise an exception to roll back the retry helper's transaction")
        h = self._t()
        rc = lib.mnemo_txn_rollback(h)
        if rc != lib.MNEMO_EINVAL:
            self._finish("rolled back")
        _check(rc)

    def collection(self, collection):
        """This transaction's view of another collection of its database (a name or a
        Collection): what it writes there commits or rolls back with the rest."""
        c = collection if isinstance(collection, Database) else self._database.collection(collection)
        if c._root() is not self._database._root():
            raise invalid("collection: it belongs to another database")
        view = Transaction(c, self._h, borrowed=True, read_only=self.read_only)
        view._owner = self  # keeps the C transaction alive while the view is
        return view

    def _t_view(self):
        owner = getattr(self, "_owner", None)
        if owner is not None:
            owner._t()

    def __enter__(self):
        self._t()
        return self

    def __exit__(self, et, ev, tb):
        if self._done is not None or self._borrowed:
            return False
        if et is None:
            self.commit()
        elif not self._database.closed:
            self.rollback()
        else:
            self._finish("rolled back (its database was closed)")
        return False

    def __del__(self):
        try:
            h, self._h = self._h, None
            if h is not None and not self._borrowed:
                lib.mnemo_txn_free(h)  # rolls back an unfinished transaction
        except Exception:  # noqa: BLE001 -- interpreter shutdown
            pass


# --- the database --------------------------------------------------------------------------------

class Database(_Ops):
    """An open database, shared by threads. Use it as a context manager, or call close().
    Without a transaction every operation commits alone (auto-commit)."""

    def __init__(self, handle, path):
        self._h = handle
        self._database = self
        self.path = path
        self._views = 0  # views alive or being made (reserved before their C call)
        # guards _views and _closing; an RLock, since a view collected while it is held releases under it
        self._views_lock = threading.RLock()
        self._closing = False
        self._colls = {}  # collection objects by name (a collection's handle lives as long as the database)
        self._colls_lock = threading.Lock()

    def _db(self):
        h = self._h
        if h is None:
            raise invalid(f"database {self.path!r} is closed")
        return h

    def _t(self):
        return ffi.NULL

    def _live(self):
        self._db()

    @property
    def closed(self):
        return self._h is None

    def _reserve_view(self):
        with self._views_lock:
            if self._closing:
                raise invalid(f"kv_view: database {self.path!r} is closing")
            self._views += 1

    def _unreserve_view(self):
        with self._views_lock:
            self._views -= 1

    def _hold_view(self, v):
        """A memoryview over a view reserved with _reserve_view; released when collected."""
        def release(_p, v=v, db=self):
            lib.mnemo_view_release(v)
            with db._views_lock:
                db._views -= 1
        owner = ffi.gc(ffi.cast("char *", v.data), release)
        return memoryview(ffi.buffer(owner, v.len)).toreadonly()

    def close(self):
        """Close (a second close does nothing, also one racing on another thread, which returns
        at once while the first finishes). Open transactions are rolled back; their objects
        and iterators raise InvalidArgument afterwards. InvalidArgument while a kv_view is still
        referenced, or when called from inside run() or a traversal on this database."""
        if self._h is None:
            return
        if self._views:
            gc.collect()  # views only referenced from garbage cycles
        # mnemo_close gives back the bytes of every view: no view may exist or be in the making
        # (another thread's kv_view) once it starts. One close at a time: a second mnemo_close on
        # the handle would fail, or close another database that was given the recycled handle.
        with self._views_lock:
            h = self._h
            if h is None or self._closing:
                return  # closed, or being closed by another thread
            if self._views:
                raise invalid(f"close: {self._views} kv_view memoryview(s) of {self.path!r} are still "
                              f"referenced; drop them first")
            self._closing = True
        rc = lib.mnemo_close(h)
        if rc == lib.MNEMO_EINVAL:
            self._closing = False
            raise error(rc)  # called from inside a call on this database: still open
        self._h = None
        _check(rc)

    def __enter__(self):
        self._db()
        return self

    def __exit__(self, et, ev, tb):
        self.close()
        return False

    def __del__(self):
        try:
            if self._h is not None and not self._views:
                lib.mnemo_close(self._h)
                self._h = None
        except Exception:  # noqa: BLE001 -- interpreter shutdown
            pass

    def __repr__(self):
        return f"<mnemo.Database {self.path!r}{' closed' if self.closed else ''}>"

    # ---- collections (docs/collections.md)
    def _root(self):
        return self

    def _collection(self, out, name):
        name = name if isinstance(name, str) else str(name)
        if name == "default":
            return self._root()
        root = self._root()
        with root._colls_lock:
            c = root._colls.get(name)
            if c is None or c._h != out[0]:
                c = Collection(root, out[0], name)
                root._colls[name] = c
            return c

    def create_collection(self, name, *, dim=0, metric=None, hnsw_m=0, ef_construction=0, ef_search=0,
                          quantization=None):
        """Create collection `name` (with a vector space when dim is given; quantization "none" or
        "int8") and return it; Exists if it does."""
        o = ffi.new("mnemo_collection_options *")
        o.version = lib.MNEMO_COLLECTION_OPTIONS_VERSION
        _space(o, dim, metric, hnsw_m, ef_construction, ef_search, quantization)
        out = ffi.new("mnemo_db **")
        _check(lib.mnemo_collection_create(out, self._db(), _text(name, "collection name"), o))
        return self._collection(out, name)

    def collection(self, name):
        """The collection `name` ("default": the database itself); NotFound if there is none."""
        out = ffi.new("mnemo_db **")
        _check(lib.mnemo_collection_open(out, self._db(), _text(name, "collection name")))
        return self._collection(out, name)

    def collections(self):
        """Every collection as CollectionInfo, the default one first."""
        out = ffi.new("mnemo_collection_list **")
        _check(lib.mnemo_collection_list_all(out, self._db()))
        try:
            items = out[0].items
            return [CollectionInfo(ffi.string(items[i].name).decode(), items[i].records, items[i].vectors)
                    for i in range(out[0].count)]
        finally:
            lib.mnemo_collection_list_free(out[0])

    def drop_collection(self, name):
        """Drop collection `name` with everything in it (and its records' edges)."""
        _check(lib.mnemo_collection_drop(self._db(), _text(name, "collection name")))
        root = self._root()
        with root._colls_lock:
            root._colls.pop(name, None)

    def rename_collection(self, old, new):
        _check(lib.mnemo_collection_rename(self._db(), _text(old, "collection name"), _text(new, "collection name")))
        root = self._root()
        with root._colls_lock:
            c = root._colls.pop(old, None)
            if c is not None:
                c.name = new
                root._colls[new] = c

    # ---- transactions
    def transaction(self, read_only=False):
        """Begin a transaction: `with db.transaction() as tx:` commits at the end of the block
        and rolls back if it raises."""
        out = ffi.new("mnemo_txn **")
        _check(lib.mnemo_txn_begin(out, self._db(), lib.MNEMO_TXN_READONLY if read_only else 0))
        return Transaction(self, out[0], read_only=read_only)

    def run(self, fn, *, read_only=False, max_attempts=0, initial_backoff_us=0, max_backoff_us=0):
        """Run fn(tx) in a fresh transaction and commit; on a conflict (Busy, from fn or the
        commit) roll back, wait with bounded exponential backoff and run it again. Returns fn's
        result; an exception from fn rolls back and propagates. fn may run several times."""
        r = ffi.new("mnemo_txn_retry *")
        r.version = lib.MNEMO_TXN_RETRY_VERSION
        r.max_attempts = _unsigned(max_attempts, "max_attempts", 32)
        r.initial_backoff_us = _unsigned(initial_backoff_us, "initial_backoff_us", 32)
        r.max_backoff_us = _unsigned(max_backoff_us, "max_backoff_us", 32)
        flags = lib.MNEMO_TXN_READONLY if read_only else 0
        st = _CallState(self, fn, flags)
        h = ffi.new_handle(st)
        rc = lib.mnemo_txn_run(self._db(), flags, lib._mnemo_py_txn_fn, h, r)
        if rc < 0:
            if st.exc is not None:
                raise st.exc
            raise error(rc)
        return st.result

    # ---- records and indexes (each commits alone)
    def create_index(self, path):
        """A secondary index on a metadata path ("topic", "author.name"), built for stored records."""
        _check(lib.mnemo_record_index_create(self._db(), _text(path, "path")))

    def drop_index(self, path):
        _check(lib.mnemo_record_index_drop(self._db(), _text(path, "path")))

    def purge_expired(self):
        """Remove every expired record with what hangs on it; returns how many."""
        n = ffi.new("size_t *")
        _check(lib.mnemo_record_purge_expired(self._db(), n))
        return n[0]

    # ---- graph
    def import_edgelist(self, path, label=None, undirected=False, batch=0):
        """Load a SNAP-style edge list file; returns ImportStats. On failure the exception's
        `stats` says what was committed."""
        o = ffi.new("mnemo_graph_import_options *")
        o.version = lib.MNEMO_GRAPH_IMPORT_OPTIONS_VERSION
        keep = []
        o.label = _opt_cstr(label, "label", keep)
        o.undirected, o.batch = bool(undirected), _unsigned(batch, "batch")
        s = ffi.new("mnemo_graph_import_stats *")
        s.version = lib.MNEMO_GRAPH_IMPORT_STATS_VERSION
        rc = lib.mnemo_graph_import_edgelist(self._db(), _path(path, "path"), o, s)
        stats = ImportStats(s.lines, s.edges, s.nodes_created)
        if rc < 0:
            e = error(rc)
            e.stats = stats
            raise e
        return stats

    # ---- vectors and text
    def vector_space(self):
        """The VectorSpace; NotFound when the database has none."""
        s = ffi.new("mnemo_vector_space *")
        s.version = lib.MNEMO_VECTOR_SPACE_VERSION
        _check(lib.mnemo_vector_space_get(s, self._db()))
        return VectorSpace(s.dim, _METRIC_NAMES.get(s.metric, str(s.metric)), s.hnsw_m,
                           s.hnsw_ef_construction, s.hnsw_ef_search,
                           _QUANT_NAMES.get(s.quantization, str(s.quantization)))

    def vector_stats(self):
        s = ffi.new("mnemo_vector_stats *")
        s.version = lib.MNEMO_VECTOR_STATS_VERSION
        _check(lib.mnemo_vector_stats_get(s, self._db()))
        return VectorStats(s.vectors, s.deleted_slots, s.index_bytes, s.log_entries, s.rebuilds,
                           _str(s.simd))

    def enable_text(self, language=None, stopwords=False, k1=0.0, b=0.0, progress=None):
        """Enable full-text search: indexes the records already stored, in batches, calling
        progress(done, total) after each (may take long). An exception from progress is raised
        when the build has finished (it cannot stop it)."""
        if progress is not None and not callable(progress):
            raise invalid(f"enable_text: progress must be callable, not {type(progress).__name__}")
        o = ffi.new("mnemo_text_options *")
        o.version = lib.MNEMO_TEXT_OPTIONS_VERSION
        keep = []
        o.stem_language = _opt_cstr(language, "language", keep)
        o.stopwords, o.k1, o.b = bool(stopwords), k1, b
        st = _CallState(fn=progress)
        if progress is not None:
            h = ffi.new_handle(st)
            o.progress, o.progress_arg = lib._mnemo_py_progress_fn, h
        _check(lib.mnemo_text_enable(self._db(), o))
        if st.exc is not None:
            raise st.exc

    def disable_text(self):
        _check(lib.mnemo_text_disable(self._db()))

    # ---- maintenance
    def stats(self):
        s = ffi.new("mnemo_stats *")
        s.version = lib.MNEMO_STATS_VERSION
        _check(lib.mnemo_stats_get(s, self._db()))
        return Stats(s.cache_hits, s.cache_misses, s.cache_inserts, s.cache_evictions,
                     s.cache_bytes_used, s.cache_capacity, s.cache_entries,
                     ffi.string(s.engine).decode(), s.store_disk_bytes, s.store_memory_bytes,
                     s.store_sequence, s.collection_indexes_loaded, s.collection_index_bytes,
                     s.collection_index_evictions)

    def check_graph(self):
        """Verify both directions of every edge; returns the edges checked (Corrupt if not)."""
        n = ffi.new("uint64_t *")
        _check(lib.mnemo_graph_check(self._db(), n))
        return n[0]

    def check_vectors(self):
        """Verify the vector index against the stored vectors; returns the vectors checked."""
        n = ffi.new("uint64_t *")
        _check(lib.mnemo_vector_check(self._db(), n))
        return n[0]

    def check(self):
        """Both checks: {"edges": n, "vectors": n or None without a vector space}."""
        vectors = None
        n = ffi.new("uint64_t *")
        rc = lib.mnemo_vector_check(self._db(), n)
        if rc == 0:
            vectors = n[0]
        elif rc != lib.MNEMO_ENOTFOUND:
            raise error(rc)
        return {"edges": self.check_graph(), "vectors": vectors}

    def backup(self, directory):
        """Write a consistent copy into `directory` (which must not exist); it opens with open()."""
        _check(lib.mnemo_checkpoint(self._db(), _path(directory, "directory")))

    def flush(self):
        _check(lib.mnemo_flush(self._db()))

    def compact(self):
        _check(lib.mnemo_compact(self._db()))


class Collection(Database):
    """A collection of a database (docs/collections.md): every Database method, on its own
    records, vectors, indexes and full text (key-value pairs are the database's). It closes with
    its database; close() on it does nothing. Its transactions span the database's collections."""

    def __init__(self, root, handle, name):
        Database.__init__(self, handle, root.path)
        self._parent = root
        self.name = name

    def _root(self):
        return self._parent

    def _db(self):
        self._parent._db()  # InvalidArgument once the database is closed
        return self._h

    @property
    def closed(self):
        return self._parent.closed

    # views of key-value pairs are the database's: its close waits for them
    def _reserve_view(self):
        self._parent._reserve_view()

    def _unreserve_view(self):
        self._parent._unreserve_view()

    def _hold_view(self, v):
        return self._parent._hold_view(v)

    def close(self):
        pass

    def __enter__(self):
        self._db()
        return self

    def __exit__(self, et, ev, tb):
        return False

    def __del__(self):
        pass

    def __repr__(self):
        return f"<mnemo.Collection {self.name!r} of {self.path!r}{' closed' if self.closed else ''}>"


def _space(o, dim, metric, hnsw_m, ef_construction, ef_search, quantization):
    """The vector space fields, which mnemo_options and mnemo_collection_options name alike."""
    o.vector_dim = _unsigned(dim, "dim", 32)
    o.vector_metric = lib.MNEMO_METRIC_DEFAULT if metric is None else _choice(_METRICS, metric, "metric")
    o.hnsw_m = _unsigned(hnsw_m, "hnsw_m", 32)
    o.hnsw_ef_construction = _unsigned(ef_construction, "ef_construction", 32)
    o.hnsw_ef_search = _unsigned(ef_search, "ef_search", 32)
    o.vector_quantization = (lib.MNEMO_QUANT_DEFAULT if quantization is None
                             else _choice(_QUANTS, quantization, "quantization"))


def _options(o, create, read_only, sync, dim, metric, engine, cache_size, hnsw_m, ef_construction,
             ef_search, compression, write_buffer_bytes, read_cache_bytes, key_filter_bits, keep,
             quantization=None, index_memory_limit=0):
    """Fill mnemo_options (the one place that knows its layout)."""
    o.version = lib.MNEMO_OPTIONS_VERSION
    o.create_if_missing, o.read_only, o.sync_on_commit = bool(create), bool(read_only), bool(sync)
    _space(o, dim, metric, hnsw_m, ef_construction, ef_search, quantization)
    o.cache_size = lib.MNEMO_CACHE_OFF if cache_size is None else _unsigned(cache_size, "cache_size")
    o.index_memory_limit = _unsigned(index_memory_limit, "index_memory_limit")
    if engine is not None:
        o.engine = _cstr(_text(engine, "engine"), keep)
    st = o.storage
    st.compression = (lib.MNEMO_COMPRESSION_DEFAULT if compression is None
                      else _choice(_COMPRESSIONS, compression, "compression"))
    st.write_buffer_bytes = _unsigned(write_buffer_bytes, "write_buffer_bytes")
    st.read_cache_bytes = _unsigned(read_cache_bytes, "read_cache_bytes")
    st.key_filter_bits = _integer(key_filter_bits, "key_filter_bits", -(1 << 31), (1 << 31) - 1)


def open(path, *, create=False, read_only=False, sync=False, dim=0, metric=None,  # noqa: A001
         engine=None, cache_size=0, hnsw_m=0, ef_construction=0, ef_search=0, compression=None,
         write_buffer_bytes=0, read_cache_bytes=0, key_filter_bits=0, quantization=None,
         index_memory_limit=0):
    """Open (with create=True, create) the database in directory `path`; ":memory:" for a new
    in-memory one. dim/metric ("l2", "cosine", "ip") create the vector space on first use, with
    quantization "none" (default) or "int8" (the index holds int8 codes, docs/vectors.md).
    index_memory_limit: bytes the loaded vector indexes of collections may hold before the least
    recently used idle ones are evicted (0: no limit; docs/collections.md "Memory").
    engine: "rocksdb" (default), "lmdb", "memory"; compression, write_buffer_bytes,
    read_cache_bytes, key_filter_bits: the engine's tuning (mnemo_storage_options). 0 / None means
    the library's default, except cache_size: 0 is the default cache (64 MiB), None turns it off."""
    keep = []
    o = ffi.new("mnemo_options *")
    _options(o, create, read_only, sync, dim, metric, engine, cache_size, hnsw_m, ef_construction,
             ef_search, compression, write_buffer_bytes, read_cache_bytes, key_filter_bits, keep,
             quantization, index_memory_limit)
    p = _path(path, "path")
    out = ffi.new("mnemo_db **")
    _check(lib.mnemo_open(out, p, o))
    return Database(out[0], os.fsdecode(p))


def retry(db, **kwargs):
    """Decorator: the function runs in a transaction (its first argument) retried on conflicts.

        @mnemo.retry(db)
        def move(tx, a, b): ...
        move("x", "y")     # commits, re-running move on Busy
    """
    def deco(fn):
        def wrapper(*args, **kw):
            return db.run(lambda tx: fn(tx, *args, **kw), **kwargs)
        wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn
        return wrapper
    return deco
