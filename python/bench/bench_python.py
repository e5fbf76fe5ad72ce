"""Per-call cost of the Python binding against C, in the same process on the same database.

The C side is a few loops compiled into the extension (_mnemo_bench_* in python/_build_mnemo.py)
doing exactly what the Python loops here do. Both run on one database (rocksdb engine, a
temporary directory), interleaved in chunks so that the machine's load changes hit both alike:
  kv_put   auto-commit overwrite of a 100-byte value (keys k00000000..), CHUNK calls
  kv_get   the same keys, CHUNK calls
  search   the 100 siftsmall queries at k=10 (default ef) over the 10,000 siftsmall vectors
  vector_put_batch  the 10,000 siftsmall vectors in one call, on two fresh databases
Each op alternates C and Python chunks ROUNDS times (who goes first alternates too; a first
round warms both up and is not counted); the line gives the medians per call, the
Python overhead per call and the ratio C time / Python time (1.0 = no overhead); search also in
queries per second, with its goal (Python >= 0.8x C).

Usage: PYTHONPATH=python /usr/bin/python3 python/bench/bench_python.py [--rounds 15] [--chunk 2000]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import mnemo
from mnemo._mnemo import ffi, lib

HERE = os.path.dirname(os.path.abspath(__file__))
SIFT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "data", "siftsmall")
VAL = b"v" * 100


def fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:].view(np.float32).copy()


def py_kv_put(db, keys):
    t = time.perf_counter()
    for k in keys:
        db.kv_put(k, VAL)
    return time.perf_counter() - t


def py_kv_get(db, keys):
    t = time.perf_counter()
    for k in keys:
        db.kv_get(k)
    return time.perf_counter() - t


def py_search(db, queries):
    t = time.perf_counter()
    for q in queries:
        db.search(q, k=10)
    return time.perf_counter() - t


def compare(op, rounds, n, c_fn, py_fn, extra=None):
    c, p = [], []
    for r in range(rounds + 1):  # round 0 warms both up and is not counted
        first, second = (c_fn, py_fn) if r % 2 else (py_fn, c_fn)  # alternate who goes first
        t1, t2 = first(), second()
        tc, tp = (t1, t2) if first is c_fn else (t2, t1)
        if tc < 0:
            raise SystemExit(f"{op}: the C loop failed: {ffi.string(lib.mnemo_errmsg()).decode()}")
        if r:
            c.append(tc / n)
            p.append(tp / n)
    cm, pm = statistics.median(c), statistics.median(p)
    line = {"bench": "python", "op": op, "calls_per_round": n, "rounds": rounds,
            "c_us_per_call": round(cm * 1e6, 3), "py_us_per_call": round(pm * 1e6, 3),
            "overhead_us": round((pm - cm) * 1e6, 3), "ratio_c_over_py": round(cm / pm, 3)}
    line.update(extra(cm, pm) if extra else {})
    print(json.dumps(line), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--chunk", type=int, default=2000)
    a = ap.parse_args()
    base = fvecs(os.path.join(SIFT, "siftsmall_base.fvecs"))
    queries = fvecs(os.path.join(SIFT, "siftsmall_query.fvecs"))
    ids = [f"v{i}" for i in range(len(base))]
    with tempfile.TemporaryDirectory() as d:
        with mnemo.open(d + "/db", create=True, dim=base.shape[1], metric="l2") as db:
            h = db._db()
            keys = [b"k%08d" % i for i in range(a.chunk)]
            lib._mnemo_bench_kv_put(h, 0, a.chunk)  # the keys exist: both sides overwrite
            compare("kv_put", a.rounds, a.chunk, lambda: lib._mnemo_bench_kv_put(h, 0, a.chunk),
                    lambda: py_kv_put(db, keys))
            compare("kv_get", a.rounds, a.chunk, lambda: lib._mnemo_bench_kv_get(h, 0, a.chunk),
                    lambda: py_kv_get(db, keys))
            with db.transaction() as tx:
                for i in ids:
                    tx.put_record(i)
            db.put_vectors(ids, base)
            qbuf = ffi.from_buffer("float[]", queries)
            compare("search_k10", a.rounds, len(queries),
                    lambda: lib._mnemo_bench_search(h, qbuf, len(queries), queries.shape[1], 10),
                    lambda: py_search(db, queries),
                    lambda cm, pm: {"dataset": "siftsmall", "c_qps": round(1 / cm),
                                    "py_qps": round(1 / pm), "goal": "py_qps >= 0.8 c_qps",
                                    "met": cm / pm >= 0.8})
        # batch put: the C call given ready arguments against db.put_vectors from a list of str
        dbs = []

        def fresh():
            p = os.path.join(d, f"b{len(dbs)}")
            x = mnemo.open(p, create=True, dim=base.shape[1], metric="l2")
            with x.transaction() as tx:
                for i in ids:
                    tx.put_record(i)
            dbs.append(x)
            return x

        cids = [ffi.new("char[]", i.encode()) for i in ids]
        carr, cvec = ffi.new("char *[]", cids), ffi.from_buffer("float[]", base)

        def c_batch():
            x = fresh()
            t = time.perf_counter()
            rc = lib.mnemo_vector_put_batch(x._db(), ffi.NULL, carr, cvec, len(ids), base.shape[1])
            t = time.perf_counter() - t
            x.close()
            return t if rc == 0 else -1

        def py_batch():
            x = fresh()
            t = time.perf_counter()
            x.put_vectors(ids, base)
            t = time.perf_counter() - t
            x.close()
            return t

        compare("vector_put_batch", max(3, a.rounds // 5), len(ids), c_batch, py_batch)


if __name__ == "__main__":
    sys.exit(main())
