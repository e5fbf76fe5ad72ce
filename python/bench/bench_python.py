"""Per-call cost of the Python binding against C, in the same run on the same library.

Runs python/bench/driver.c (compiled here against the same static libmnemo.a as the extension)
and the same work from Python, alternating, REPS times each, each on a fresh database in a
temporary directory (rocksdb engine): N_KV auto-commit kv_put of 100-byte values, N_KV kv_get,
the 10,000 siftsmall vectors put in one batch, then ROUNDS x 100 siftsmall queries at k=10
(default ef). Prints one JSON line per operation with the medians, the Python overhead per call
and the ratio; search q/s has the goal Python >= 0.8x C.

Usage: /usr/bin/python3 python/bench/bench_python.py [--reps 5] [--n-kv 20000] [--rounds 20]
(PYTHONPATH=python, or the package installed; MNEMO_BUILD_DIR as for the build, default build/)
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import mnemo

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SIFT = os.path.join(REPO, "data", "siftsmall")


def build_driver(out):
    build = os.path.abspath(os.environ.get("MNEMO_BUILD_DIR", os.path.join(REPO, "build")))
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(build, "meson-uninstalled"))
    libs = subprocess.run(["pkg-config", "--static", "--libs", "mnemo"], env=env, check=True,
                          capture_output=True, text=True).stdout
    flags = [f for f in shlex.split(libs) if f != "-lmnemo" and not f.startswith("-L" + build)]
    subprocess.run(["cc", "-O2", "-std=c11", "-I", os.path.join(REPO, "include"),
                    os.path.join(HERE, "driver.c"), "-o", out, os.path.join(build, "libmnemo.a")]
                   + flags + ["-lstdc++"], check=True)


def fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32).copy()


def run_c(driver, n_kv, rounds):
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([driver, d + "/db", SIFT, str(n_kv), str(rounds)], check=True,
                             capture_output=True, text=True).stdout
    return {r["op"]: r["seconds"] / r["n"] for r in map(json.loads, out.splitlines())}


def run_py(n_kv, rounds, base, queries):
    res = {}
    val = b"v" * 100
    with tempfile.TemporaryDirectory() as d, mnemo.open(d + "/db", create=True, dim=base.shape[1],
                                                         metric="l2") as db:
        keys = [b"k%08d" % i for i in range(n_kv)]
        t = time.perf_counter()
        for k in keys:
            db.kv_put(k, val)
        res["kv_put"] = (time.perf_counter() - t) / n_kv
        t = time.perf_counter()
        for k in keys:
            db.kv_get(k)
        res["kv_get"] = (time.perf_counter() - t) / n_kv
        ids = [f"v{i}" for i in range(len(base))]
        with db.transaction() as tx:
            for i in ids:
                tx.put_record(i)
        t = time.perf_counter()
        db.put_vectors(ids, base)
        res["vector_put_batch"] = (time.perf_counter() - t) / len(base)
        n = 0
        t = time.perf_counter()
        for _ in range(rounds):
            for q in queries:
                n += len(db.search(q, k=10))
        res["search_k10"] = (time.perf_counter() - t) / (rounds * len(queries))
        assert n == rounds * len(queries) * 10
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--n-kv", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    base = fvecs(os.path.join(SIFT, "siftsmall_base.fvecs"))
    queries = fvecs(os.path.join(SIFT, "siftsmall_query.fvecs"))
    with tempfile.TemporaryDirectory() as d:
        driver = os.path.join(d, "driver")
        build_driver(driver)
        c_runs, py_runs = [], []
        for _ in range(a.reps):
            c_runs.append(run_c(driver, a.n_kv, a.rounds))
            py_runs.append(run_py(a.n_kv, a.rounds, base, queries))
    for op in ("kv_get", "kv_put", "vector_put_batch", "search_k10"):
        c = statistics.median(r[op] for r in c_runs)
        p = statistics.median(r[op] for r in py_runs)
        line = {"bench": "python", "op": op, "reps": a.reps, "c_us_per_op": round(c * 1e6, 3),
                "py_us_per_op": round(p * 1e6, 3), "overhead_us": round((p - c) * 1e6, 3),
                "ratio_c_over_py": round(c / p, 3)}
        if op == "search_k10":
            line.update({"dataset": "siftsmall", "c_qps": round(1 / c), "py_qps": round(1 / p),
                         "goal": "py_qps >= 0.8 c_qps", "met": c / p >= 0.8})
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(main())
