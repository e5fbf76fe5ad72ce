import threading

import numpy as np
import pytest

import mnemo


def test_context_manager_commits_every_model_together(db):
    with db.transaction() as tx:
        tx.kv_put("k", "v")
        tx.put_record("m1", "content")
        tx.put_vector("m1", [1, 0, 0, 0])
        tx.put_record("m2", "other")
        tx.link("m1", "rel", "m2")
        assert tx.kv_get("k") == b"v" and tx.get_record("m1").content == "content"
        assert not db.kv_exists("k")  # not visible outside before commit
    assert not tx.active
    assert db.kv_get("k") == b"v" and db.edge_exists("m1", "rel", "m2")
    assert db.search([1, 0, 0, 0], k=1)[0].id == "m1"


def test_an_exception_rolls_back_every_model(db):
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx.kv_put("k", "v")
            tx.put_record("m1", "content")
            tx.put_vector("m1", [1, 0, 0, 0])
            raise RuntimeError("boom")
    assert not db.kv_exists("k") and not db.record_exists("m1")
    assert db.search([1, 0, 0, 0], k=1) == []
    with pytest.raises(mnemo.InvalidArgument) as e:
        tx.kv_put("k", "v")
    assert "rolled back" in e.value.message


def test_explicit_commit_rollback_and_use_after(db):
    tx = db.transaction()
    tx.kv_put("a", "1")
    tx.commit()
    with pytest.raises(mnemo.InvalidArgument) as e:
        tx.kv_get("a")
    assert "committed" in e.value.message
    with pytest.raises(mnemo.InvalidArgument):
        tx.commit()
    tx2 = db.transaction()
    tx2.kv_put("b", "1")
    tx2.rollback()
    with pytest.raises(mnemo.InvalidArgument):
        tx2.rollback()
    assert db.kv_get("a") == b"1" and not db.kv_exists("b")


def test_read_only_transaction(db):
    db.kv_put("a", "1")
    with db.transaction(read_only=True) as tx:
        assert tx.kv_get("a") == b"1"
        with pytest.raises(mnemo.ReadOnly) as e:
            tx.kv_put("a", "2")
        assert e.value.code == -14


def test_conflict_is_busy_and_nothing_applies(db):
    db.kv_put("c", "0")
    tx = db.transaction()
    assert tx.kv_get("c") == b"0"
    db.kv_put("c", "5")  # another writer changes what tx read
    tx.kv_put("c", "1")
    tx.kv_put("other", "x")
    with pytest.raises(mnemo.Busy) as e:
        tx.commit()
    assert e.value.code == -5
    assert db.kv_get("c") == b"5" and not db.kv_exists("other")
    tx = db.transaction()
    tx.kv_get("c")
    db.kv_put("c", "6")
    with pytest.raises(mnemo.Busy):
        with tx:  # the context manager's commit raises it too
            tx.kv_put("c", "7")


def test_run_retries_a_conflict(db):
    db.kv_put("c", "0")
    seen = []

    def incr(tx):
        v = int(tx.kv_get("c"))
        if not seen:
            db.kv_put("c", "100")  # a concurrent commit: this attempt must conflict
        seen.append(v)
        tx.kv_put("c", str(v + 1))
        return v + 1

    assert db.run(incr) == 101
    assert seen == [0, 100] and db.kv_get("c") == b"101"


def test_run_exception_rolls_back_and_propagates(db):
    def bad(tx):
        tx.kv_put("x", "1")
        raise KeyError("mine")

    with pytest.raises(KeyError):
        db.run(bad)
    assert not db.kv_exists("x")


def test_run_gives_up_after_max_attempts(db):
    db.kv_put("c", "0")
    n = []

    def always_conflicts(tx):
        n.append(1)
        tx.kv_get("c")
        db.kv_put("c", str(len(n)))
        tx.kv_put("c", "x")

    with pytest.raises(mnemo.Busy):
        db.run(always_conflicts, max_attempts=3, initial_backoff_us=1)
    assert len(n) == 3


def test_run_owns_its_transaction(db):
    kept = []

    def fn(tx):
        kept.append(tx)
        with pytest.raises(mnemo.InvalidArgument):
            tx.commit()
        with pytest.raises(mnemo.InvalidArgument):
            tx.rollback()
        tx.kv_put("k", "v")

    db.run(fn)
    assert db.kv_get("k") == b"v"
    with pytest.raises(mnemo.InvalidArgument):
        kept[0].kv_get("k")  # the transaction does not outlive the call


def test_retry_decorator_with_threads(db):
    db.kv_put("counter", "0")

    @mnemo.retry(db)
    def bump(tx, by):
        tx.kv_put("counter", str(int(tx.kv_get("counter")) + by))

    def worker():
        for _ in range(25):
            bump(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.kv_get("counter") == b"100"
    assert bump.__name__ == "bump"


def test_transaction_reads_its_own_vectors_and_scans(db):
    with db.transaction() as tx:
        tx.put_record("a", "x")
        tx.put_vectors(["a"], np.ones((1, 4), dtype=np.float32))
        assert tx.search([1, 1, 1, 1], k=1)[0].id == "a"
        tx.kv_put("p1", "1")
        assert list(tx.kv_scan(prefix="p")) == [(b"p1", b"1")]
        assert [r.id for r in tx.list_records()] == ["a"]
        assert tx.indexes() == []


def test_run_read_only(db):
    db.kv_put("a", "1")

    def read(tx):
        assert tx.read_only
        with pytest.raises(mnemo.ReadOnly):
            tx.kv_put("a", "2")
        return tx.kv_get("a")

    assert db.run(read, read_only=True) == b"1"


def test_a_transaction_misused_from_two_threads_never_crashes(db):
    db.kv_put("k", "0")
    errors = []

    def hammer(tx):
        for _ in range(2000):
            try:
                tx.kv_put("k", "x")
            except mnemo.InvalidArgument:
                pass  # in use by the other thread, or finished: refused, not a crash
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    for _ in range(5):
        tx = db.transaction()
        t = threading.Thread(target=hammer, args=(tx,))
        t.start()
        try:
            tx.commit()
        except (mnemo.Busy, mnemo.InvalidArgument):
            pass
        t.join()
    assert errors == []
