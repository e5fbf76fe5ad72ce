"""Objects that outlive their database or transaction raise InvalidArgument; nothing crashes."""
import gc
import threading

import pytest

import mnemo

from conftest import needs_disk


def fill(db):
    db.kv_put("k1", "v1")
    db.kv_put("k2", "v2")
    db.put_record("a", "x")
    db.put_record("b", "y")
    db.link("a", "r", "b")


def test_every_call_on_a_closed_database_raises(db):
    fill(db)
    db.close()
    assert db.closed
    db.close()  # a second close does nothing
    for call in (lambda: db.kv_get("k1"), lambda: db.get_record("a"), lambda: db.transaction(),
                 lambda: db.search([1, 0, 0, 0]), lambda: db.stats(), lambda: db.kv_scan(),
                 lambda: db.neighbors("a"), lambda: db.run(lambda tx: None), lambda: db.check()):
        with pytest.raises(mnemo.InvalidArgument) as e:
            call()
        assert "closed" in e.value.message
    with pytest.raises(mnemo.InvalidArgument):
        with db:
            pass


def test_iterators_outliving_the_database_raise(db):
    fill(db)
    scan, nbrs = db.kv_scan(), db.neighbors("a", "both")
    records = db.list_records(page_size=1)
    assert next(scan) == (b"k1", b"v1") and next(records).id == "a"
    db.close()
    for g in (scan, nbrs, records):
        with pytest.raises(mnemo.InvalidArgument):
            next(g)
    del scan, nbrs, records
    gc.collect()


def test_transaction_outliving_the_database(db):
    tx = db.transaction()
    tx.kv_put("k", "v")
    it = tx.kv_scan()
    db.close()  # rolls tx back
    assert not tx.active
    with pytest.raises(mnemo.InvalidArgument):
        tx.kv_get("k")
    with pytest.raises(mnemo.InvalidArgument):
        tx.commit()
    with pytest.raises(mnemo.InvalidArgument):
        next(it)
    del tx, it
    gc.collect()


def test_with_block_whose_database_is_closed_inside(db):
    with pytest.raises(mnemo.InvalidArgument):
        with db.transaction() as tx:
            tx.kv_put("k", "v")
            db.close()
            tx.kv_put("k2", "v")
    assert db.closed


def test_iterator_of_a_finished_transaction_raises(db):
    fill(db)
    with db.transaction() as tx:
        scan = tx.kv_scan()
        nbrs = tx.neighbors("a")
        assert next(scan)[0] == b"k1"
    with pytest.raises(mnemo.InvalidArgument) as e:
        next(scan)
    assert "committed" in e.value.message
    with pytest.raises(mnemo.InvalidArgument):
        next(nbrs)


def test_close_inside_run_is_refused_and_the_database_stays_open(db):
    def fn(tx):
        db.close()

    with pytest.raises(mnemo.InvalidArgument):
        db.run(fn)
    assert not db.closed
    db.kv_put("still", "open")


@needs_disk
def test_a_collected_database_is_closed(tmp_path):
    db = mnemo.open(tmp_path / "gc", create=True)
    db.kv_put("k", "v")
    tx = db.transaction()
    scan = db.kv_scan()
    del db, tx, scan
    gc.collect()
    with mnemo.open(tmp_path / "gc") as again:  # not Locked: the first handle was closed
        assert again.kv_get("k") == b"v"


def test_many_handles_and_objects_dropped_in_any_order(open_db):
    for i in range(20):
        db = open_db(f"d{i}")
        fill(db)
        objs = [db.transaction(), db.kv_scan(), db.neighbors("a"), db.list_records(), db.kv_view("k1")]
        if i % 2:
            objs.reverse()
        del objs[:]
        db.close()


def test_concurrent_closes_are_one_close(open_db):
    # both threads passed the "already closed?" test and called mnemo_close on the handle: the
    # second raised InvalidArgument (or, had the handle been recycled by an open in between,
    # closed that other database)
    errors = []
    for rnd in range(50):
        db = open_db(f"c{rnd % 2}")
        barrier = threading.Barrier(2)

        def closer(db=db, barrier=barrier):
            barrier.wait()
            try:
                db.close()
            except mnemo.Error as e:
                errors.append(e)
        threads = [threading.Thread(target=closer) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert db.closed
    assert errors == []
