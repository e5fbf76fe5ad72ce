"""Python threads: searches in parallel give the serial answers; long calls release the GIL."""
import sys
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


def assert_gil_released(call):
    """A thread counting in Python keeps counting while `call` runs in C. With the GIL held, the
    counter could run only while the caller is still in Python around the call (a few switch
    intervals at most); released, it runs through the whole call."""
    n, stop = [0], [False]

    def count():
        while not stop[0]:
            n[0] += 1
    t = threading.Thread(target=count)
    t.start()
    try:
        c = n[0]
        time.sleep(0.05)
        rate = (n[0] - c) / 0.05  # increments per second, running free
        c = n[0]
        t0 = time.perf_counter()
        call()
        elapsed = time.perf_counter() - t0
        during = n[0] - c
    finally:
        stop[0] = True
        t.join()
    # Held, the counter gets the GIL only while the caller runs Python around the call (argument
    # conversion: a few switch intervals). Released, it counts through the call, though at a
    # fraction of its free rate when the call keeps both cores busy (batch put, on a loaded machine).
    assert elapsed > 0.3, f"the call ({elapsed:.3f} s) is too short to judge"
    assert during > rate * 12 * sys.getswitchinterval(), f"during {during}, rate {rate}, {elapsed} s"


def test_the_gil_check_catches_a_call_holding_the_gil():
    data = np.random.default_rng(3).random(3_000_000).tolist()
    with pytest.raises(AssertionError, match="during"):
        assert_gil_released(lambda: sorted(data))  # one C call (timsort) that keeps the GIL


def test_long_calls_release_the_gil(open_db, tmp_path):
    db = open_db("gil", dim=32, metric="l2")

    def edges(n, prefix):
        f = tmp_path / f"{prefix}.txt"
        f.write_text("".join(f"{prefix}{i} {prefix}{(i * 7) % n}\n" for i in range(n)))
        return f
    n = 5000  # imports are fast on some engines: grow the file until one takes 0.3 s
    while True:
        t = time.perf_counter()
        db.import_edgelist(edges(n, f"w{n}-"))
        if time.perf_counter() - t > 0.3 or n > 1_000_000:
            break
        n *= 3
    f = edges(n, "x")
    assert_gil_released(lambda: db.import_edgelist(f))
    ids = [f"x{i}" for i in range(5000)]
    data = np.random.default_rng(1).standard_normal((5000, 32), dtype=np.float32)
    assert_gil_released(lambda: db.put_vectors(ids, data))
    assert_gil_released(lambda: db.search_batch(np.tile(data, (4, 1)), k=10))
