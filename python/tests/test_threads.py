"""Python threads: searches in parallel give the serial answers; long calls release the GIL."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import mnemo


@pytest.fixture
def vecs(open_db):
    rng = np.random.default_rng(7)
    db = open_db("v", dim=32, metric="l2")
    n = 2000
    ids = [f"v{i}" for i in range(n)]
    with db.transaction() as tx:
        for i in ids:
            tx.put_record(i, "", metadata={"even": int(i[1:]) % 2 == 0})
    data = rng.standard_normal((n, 32), dtype=np.float32)
    db.put_vectors(ids, data)
    return db, rng.standard_normal((64, 32), dtype=np.float32)


def test_parallel_searches_match_serial(vecs):
    db, queries = vecs
    serial = [[h.id for h in db.search(q, k=10)] for q in queries]
    serial_f = [[h.id for h in db.search(q, k=5, filter={"even": True})] for q in queries]

    def work(i):
        q = queries[i % len(queries)]
        return i, [h.id for h in db.search(q, k=10)], [h.id for h in db.search(q, k=5, filter={"even": True})]

    with ThreadPoolExecutor(max_workers=4) as ex:
        for i, got, got_f in ex.map(work, range(256)):
            assert got == serial[i % len(queries)] and got_f == serial_f[i % len(queries)]


def test_writers_and_searchers_in_parallel(vecs):
    db, queries = vecs
    errors = []

    def writer(t):
        try:
            for j in range(50):
                rid = f"w{t}-{j}"
                with db.transaction() as tx:
                    tx.put_record(rid, "new")
                    tx.put_vector(rid, queries[j % len(queries)])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    def searcher():
        try:
            for q in queries:
                assert len(db.search(q, k=10)) == 10
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=writer, args=(t,)) for t in range(2)] + \
         [threading.Thread(target=searcher) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert db.check_vectors() == 2100


def gil_free_increments(call):
    """Increments a counting thread makes while `call` runs, against those of 20 ms of sleep (the
    counter's free rate). Holding the GIL for the call would leave the counter at about 0."""
    n, stop = [0], [False]

    def count():
        while not stop[0]:
            n[0] += 1
    t = threading.Thread(target=count)
    t.start()
    try:
        c = n[0]
        time.sleep(0.02)
        free = n[0] - c
        c = n[0]
        t0 = time.perf_counter()
        call()
        elapsed = time.perf_counter() - t0
        during = n[0] - c
    finally:
        stop[0] = True
        t.join()
    return during, free, elapsed


def test_long_calls_release_the_gil(open_db, tmp_path):
    db = open_db("gil", dim=32, metric="l2")
    edges = tmp_path / "edges.txt"
    edges.write_text("".join(f"n{i} n{(i * 7) % 5000}\n" for i in range(5000)))
    during, free, elapsed = gil_free_increments(lambda: db.import_edgelist(edges))
    # a call of >= 100 ms with the GIL held would let the counter run at most one switch
    # interval (5 ms) worth; released, it runs through the call
    assert during > 3 * free, (during, free, elapsed)
    ids = [f"n{i}" for i in range(5000)]
    data = np.random.default_rng(1).standard_normal((5000, 32), dtype=np.float32)
    during, free, elapsed = gil_free_increments(lambda: db.put_vectors(ids, data))
    assert during > 3 * free, (during, free, elapsed)
