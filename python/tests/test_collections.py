"""Collections (docs/collections.md): namespaces in one database, each with its own records,
vector space, indexes and full text; one transaction spans them."""
import pytest

import mnemo


def test_create_open_list_rename_drop(open_db):
    db = open_db()
    alice = db.create_collection("alice", dim=2, metric="cosine")
    assert isinstance(alice, mnemo.Collection) and alice.name == "alice"
    assert db.collection("alice") is alice
    assert db.collection("default") is db
    alice.put_record("m1", content="alice's memory")
    db.put_record("m1", content="the default one")
    alice.put_vector("m1", [1.0, 0.0])
    assert alice.get_record("m1").content == "alice's memory"
    assert db.get_record("m1").content == "the default one"
    assert [h.id for h in alice.search([1.0, 0.0], k=3)] == ["m1"]
    assert db.collections() == [mnemo.CollectionInfo("default", 1, 0), mnemo.CollectionInfo("alice", 1, 1)]
    db.rename_collection("alice", "carol")
    assert db.collection("carol") is alice and alice.name == "carol"
    with pytest.raises(mnemo.NotFound, match="no collection 'alice'"):
        db.collection("alice")
    db.drop_collection("carol")
    with pytest.raises(mnemo.NotFound, match="dropped"):
        alice.get_record("m1")
    assert [c.name for c in db.collections()] == ["default"]


def test_bad_input(open_db):
    db = open_db()
    with pytest.raises(mnemo.InvalidArgument, match="empty"):
        db.create_collection("")
    with pytest.raises(mnemo.InvalidArgument, match="longer than"):
        db.create_collection("x" * 200)
    with pytest.raises(mnemo.Exists):
        db.create_collection("default")
    db.create_collection("a", dim=3)
    with pytest.raises(mnemo.Exists, match="'a' exists"):
        db.create_collection("a")
    with pytest.raises(mnemo.InvalidArgument, match="cannot be dropped"):
        db.drop_collection("default")
    a = db.collection("a")
    a.put_record("r")
    with pytest.raises(mnemo.WrongDimension):
        a.put_vector("r", [1.0, 2.0])
    db.close()
    with pytest.raises(mnemo.InvalidArgument, match="closed"):
        a.get_record("r")


def test_a_transaction_spans_collections(open_db):
    db = open_db()
    a = db.create_collection("a", dim=2)
    b = db.create_collection("b")
    with db.transaction() as tx:
        tx.collection("a").put_record("x", content="in a")
        tx.collection(a).put_vector("x", [1.0, 2.0])
        tx.collection("b").put_record("x", content="in b")
        tx.put_record("x", content="in default")
    assert a.get_record("x").content == "in a"
    assert b.get_record("x").content == "in b"
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx.collection("a").put_record("y")
            tx.collection("b").put_record("y")
            raise RuntimeError("roll back")
    assert not a.record_exists("y") and not b.record_exists("y")
    other = open_db("other")
    with db.transaction() as tx:
        with pytest.raises(mnemo.InvalidArgument, match="another database"):
            tx.collection(other.create_collection("z"))


def test_kv_pairs_are_the_databases(open_db):
    db = open_db()
    a = db.create_collection("a")
    a.kv_put(b"k", b"v")
    assert db.kv_get(b"k") == b"v"


def test_edges_across_collections(open_db):
    db = open_db()
    a = db.create_collection("a")
    b = db.create_collection("b")
    a.put_record("x")
    b.put_record("x")
    a.link("x", "cites", "x", to_collection="b")
    with db.transaction() as tx:
        tx.collection(b).link("x", "cites", "x", to_collection=db, create_missing=True)
    assert [(n.id, n.collection) for n in a.neighbors("x")] == [("x", "b")]
    assert [(n.id, n.collection, n.direction) for n in b.neighbors("x", direction="both")] == \
        [("x", "default", "out"), ("x", "a", "in")]
    assert db.record_exists("x")  # created in the default collection by create_missing
    a.unlink("x", "cites", "x", to_collection=b)
    assert list(a.neighbors("x")) == []
    with pytest.raises(mnemo.NotFound):
        a.link("x", "cites", "nobody", to_collection="b")


def test_a_collection_has_its_own_quantization(open_db):
    db = open_db()
    q = db.create_collection("q", dim=4, quantization="int8")
    f = db.create_collection("f", dim=4)
    assert q.vector_space().quantization == "int8"
    assert f.vector_space().quantization == "none"
    for i in range(20):
        q.put_record(f"r{i}")
        q.put_vector(f"r{i}", [float(i), 1.0, 2.0, 3.0])
    assert q.search([5.0, 1.0, 2.0, 3.0], k=1)[0].id == "r5"


def test_idle_indexes_are_evicted_under_the_memory_limit(open_db):
    # every small index holds hnswlib's fixed 2.5 MiB of locks: a limit of 6 MiB keeps two
    db = open_db(index_memory_limit=6 << 20)
    colls = [db.create_collection(f"c{i}", dim=2) for i in range(5)]
    for i, c in enumerate(colls):
        c.put_record("m", content="x")
        c.put_vector("m", [float(i), 1.0])
    for i, c in enumerate(colls):  # each answers, though the others come and go
        assert [h.id for h in c.search([float(i), 1.0], k=1)] == ["m"]
    s = db.stats()
    assert 1 <= s.collection_indexes_loaded <= 2
    assert s.collection_index_bytes <= 6 << 20
    assert s.collection_index_evictions >= 3
    assert list(colls[0].get_vector("m")) == [0.0, 1.0]
    with pytest.raises(mnemo.InvalidArgument, match="index_memory_limit"):
        open_db("other", index_memory_limit=-1)
