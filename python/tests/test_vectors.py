import numpy as np
import pytest

import mnemo

MEMORIES = {  # id: (metadata, embedding) in a 4-d space (food, pets, work, travel)
    "m1": ({"kind": "fact"}, [0.1, 0.9, 0, 0]),
    "m2": ({"kind": "fact"}, [0.7, 0.7, 0, 0]),
    "m3": ({"kind": "event"}, [0, 0, 1, 0.1]),
    "m4": ({"kind": "event"}, [0, 0, 0.3, 0.9]),
    "m5": ({"kind": "task"}, [0, 0.7, 0, 0.7]),
}


@pytest.fixture
def vdb(db):
    with db.transaction() as tx:
        for rid, (meta, _) in MEMORIES.items():
            tx.put_record(rid, rid, metadata=meta)
        tx.put_vectors(list(MEMORIES), np.array([e for _, e in MEMORIES.values()], dtype=np.float32))
    return db


def cosine_order(q):
    q = np.asarray(q, dtype=np.float64)
    d = {rid: 1 - np.dot(q, e) / (np.linalg.norm(q) * np.linalg.norm(e)) for rid, (_, e) in MEMORIES.items()}
    return sorted(d, key=d.get), d


def test_search_matches_brute_force(vdb):
    q = [0.5, 0.8, 0.1, 0.05]  # no two memories at the same distance
    order, dist = cosine_order(q)
    hits = vdb.search(q, k=3)
    assert [h.id for h in hits] == order[:3]
    for h in hits:
        assert h.distance == pytest.approx(dist[h.id], abs=1e-5)
    assert [h.id for h in vdb.search(np.asarray(q, dtype=np.float64), k=3, exact=True)] == order[:3]
    assert [h.id for h in vdb.search(q, k=10, ef=200)] == order


def test_search_with_filter_and_near(vdb):
    q = [0.5, 0.8, 0, 0]
    assert [h.id for h in vdb.search(q, k=10, filter={"kind": "fact"})] == ["m2", "m1"]
    assert [h.id for h in vdb.search(q, k=10, filter='{"kind": {"$in": ["task"]}}')] == ["m5"]
    vdb.link("m3", "next", "m4")
    assert {h.id for h in vdb.search(q, k=10, near="m3", hops=1)} == {"m3", "m4"}
    assert [h.id for h in vdb.search(q, k=10, near="m3", near_direction="in")] == ["m3"]
    assert [h.id for h in vdb.search(q, k=10, near="m4", near_direction="in", near_label="next")] == ["m4", "m3"]
    with pytest.raises(mnemo.NotFound):
        vdb.search(q, near="nobody")
    with pytest.raises(mnemo.InvalidArgument):
        vdb.search(q, filter={"$nope": 1})


def test_search_expand_follows_links(vdb):
    vdb.link("m2", "about", "m3")
    hits = vdb.search_expand([0.7, 0.7, 0, 0], k=1, hops=1)
    assert [(h.id, h.hops, h.via) for h in hits] == [("m2", 0, None), ("m3", 1, "m2")]


def test_batch_search_returns_arrays(vdb):
    qs = np.array([[0.5, 0.8, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    ids, dist = vdb.search_batch(qs, k=2)
    assert ids.shape == (3, 2) and dist.shape == (3, 2) and dist.dtype == np.float32
    for i, q in enumerate(qs):
        order, d = cosine_order(q)
        assert list(ids[i]) == order[:2]
        np.testing.assert_allclose(dist[i], [d[x] for x in order[:2]], atol=1e-5)
    ids, dist = vdb.search_batch(qs, k=7, filter={"kind": "fact"})
    assert list(ids[0]) == ["m2", "m1", None, None, None, None, None]
    assert np.isnan(dist[0, 2:]).all()


def test_get_delete_vector(vdb):
    v = vdb.get_vector("m3")
    assert v.dtype == np.float32 and v.shape == (4,)
    np.testing.assert_allclose(v, np.array([0, 0, 1, 0.1]) / np.linalg.norm([0, 0, 1, 0.1]), atol=1e-6)
    vdb.delete_vector("m3")
    with pytest.raises(mnemo.NotFound):
        vdb.get_vector("m3")
    assert "m3" not in [h.id for h in vdb.search([0, 0, 1, 0], k=5)]
    vdb.put_vector("m3", [0, 0, 1, 0])
    assert vdb.search([0, 0, 1, 0], k=1)[0].id == "m3"


def test_vector_errors(vdb):
    with pytest.raises(mnemo.WrongDimension) as e:
        vdb.put_vector("m1", [1, 2, 3])
    assert e.value.code == -9 and isinstance(e.value, mnemo.InvalidArgument)
    with pytest.raises(mnemo.WrongDimension):
        vdb.search([1, 2, 3])
    with pytest.raises(mnemo.InvalidArgument):
        vdb.put_vector("m1", [0, 0, 0, 0])  # zero vector under cosine
    with pytest.raises(mnemo.InvalidArgument):
        vdb.search([np.nan, 0, 0, 1])
    with pytest.raises(mnemo.NotFound):
        vdb.put_vector("nobody", [1, 0, 0, 0])
    with pytest.raises(mnemo.InvalidArgument) as e:
        vdb.put_vectors(["m1", "m2"], np.array([[1, 0, 0, 0], [np.inf, 0, 0, 0]], dtype=np.float32))
    assert "1" in e.value.message
    with pytest.raises(mnemo.InvalidArgument):
        vdb.put_vectors(["m1"], np.ones((2, 4), dtype=np.float32))
    with pytest.raises(mnemo.InvalidArgument):
        vdb.search([])


def test_batch_put_takes_non_contiguous_and_float64_input(vdb):
    big = np.arange(40, dtype=np.float64).reshape(5, 8)[:, ::2] + 1  # strided, float64
    vdb.put_vectors(list(MEMORIES), big)
    np.testing.assert_allclose(vdb.get_vector("m5"), big[4] / np.linalg.norm(big[4]), rtol=1e-6)


def test_space_stats_check(vdb):
    assert vdb.vector_space() == mnemo.VectorSpace(4, "cosine", 16, 200, 64)
    s = vdb.vector_stats()
    assert s.vectors == 5 and s.simd in ("avx512", "avx", "sse", "none")
    assert vdb.check_vectors() == 5
    assert vdb.check() == {"edges": 0, "vectors": 5}


def test_database_without_vector_space(open_db):
    db = open_db("plain")
    with pytest.raises(mnemo.NotFound):
        db.vector_space()
    with pytest.raises(mnemo.InvalidArgument):
        db.search([1, 0])
    assert db.check() == {"edges": 0, "vectors": None}
    with pytest.raises(mnemo.InvalidArgument):
        mnemo.open(":memory:", create=True, dim=4, metric="manhattan")


def test_a_single_vector_must_be_one_dimensional(vdb):
    # a (2, 2) array has the space's 4 floats, but it is two vectors: never silently flattened
    for call in (lambda a: vdb.put_vector("m1", a), lambda a: vdb.search(a),
                 lambda a: vdb.search_expand(a), lambda a: vdb.recall(vector=a)):
        with pytest.raises(mnemo.InvalidArgument, match=r"1-d array.*\(2, 2\)"):
            call(np.ones((2, 2), dtype=np.float32))
        with pytest.raises(mnemo.InvalidArgument, match=r"1-d array.*\(1, 4\)"):
            call(np.ones((1, 4), dtype=np.float32))
    with pytest.raises(mnemo.InvalidArgument, match="1-d array"):
        vdb.put_vector("m1", np.float32(1.0))  # a 0-d scalar
    np.testing.assert_allclose(vdb.get_vector("m1"), np.array(MEMORIES["m1"][1]) / np.linalg.norm(MEMORIES["m1"][1]),
                               rtol=1e-6)  # nothing was written


def test_vectors_of_non_real_numbers_are_invalid_arguments(vdb):
    # complex values would lose their imaginary part, strings and objects are no numbers
    for bad in (np.ones(4, dtype=complex), ["a", "b", "c", "d"], [1, 2, None, 4], [[1, 2], [3]]):
        with pytest.raises(mnemo.InvalidArgument, match="query"):
            vdb.search(bad)
        with pytest.raises(mnemo.InvalidArgument, match="vector"):
            vdb.put_vector("m1", bad)
    with pytest.raises(mnemo.InvalidArgument, match="vectors"):
        vdb.put_vectors(["m1"], np.ones((1, 4), dtype=complex))
    with pytest.raises(mnemo.InvalidArgument, match="queries"):
        vdb.search_batch(np.ones((1, 4), dtype=complex))


def test_extreme_floats(vdb):
    # the smallest subnormal, -0.0 and float32's largest value: stored or refused by name, never a crash
    vdb.put_vector("m1", [1e-45, 1, -0.0, 0])
    assert vdb.search([1e-45, 1, -0.0, 0], k=1)[0].id == "m1"
    vdb.put_vector("m2", [3e38, 3e38, 0, 0])  # cosine normalises any length
    assert vdb.search([3e38, 3e38, 0, 0], k=1)[0].id == "m2"
    with pytest.raises(mnemo.InvalidArgument, match="infinite"):
        with np.errstate(over="ignore"):  # float64 beyond float32: inf once converted
            vdb.put_vector("m3", np.array([1e39, 0, 0, 0]))
    with pytest.raises(mnemo.InvalidArgument, match="NaN"):
        vdb.search_batch(np.array([[0, 1, 0, 0], [np.nan, 0, 0, 0]]))


def test_counts_out_of_range_are_invalid_arguments_naming_them(vdb):
    # cffi alone raises OverflowError ("can't convert negative number to unsigned") naming nothing
    q = [1, 0, 0, 0]
    cases = [("k", lambda: vdb.search(q, k=-1)), ("k", lambda: vdb.search(q, k=2 ** 64)),
             ("k", lambda: vdb.search_batch(np.ones((1, 4)), k=-3)),
             ("k", lambda: vdb.search_expand(q, k=-1)), ("hops", lambda: vdb.search_expand(q, hops=-1)),
             ("hops", lambda: vdb.search(q, near="m1", hops=-1)), ("ef", lambda: vdb.search(q, ef=-1)),
             ("k", lambda: vdb.text_search("x", k=-1)), ("k", lambda: vdb.recall(text="x", k=-1)),
             ("depth", lambda: vdb.recall(text="x", depth=-1)),
             ("limit", lambda: list(vdb.neighbors("m1", limit=-1))),
             ("max_depth", lambda: list(vdb.traverse("m1", max_depth=-1))),
             ("max_hops", lambda: vdb.shortest_path("m1", "m2", max_hops=-1)),
             ("page_size", lambda: list(vdb.list_records(page_size=-1))),
             ("page_size", lambda: list(vdb.find_records({}, page_size=-1))),
             ("created_at", lambda: vdb.put_record("x", created_at=2 ** 70)),
             ("max_attempts", lambda: vdb.run(lambda tx: None, max_attempts=-1)),
             ("k", lambda: vdb.search(q, k=1.5)), ("k", lambda: vdb.search(q, k="3"))]
    for name, call in cases:
        with pytest.raises(mnemo.InvalidArgument, match=name):
            call()


def test_put_vectors_refuses_one_string_of_ids(vdb):
    # list("m1") would be the ids "m" and "1": a str is one id, not a sequence of them
    with pytest.raises(mnemo.InvalidArgument, match="ids"):
        vdb.put_vectors("m1", np.ones((2, 4), dtype=np.float32))
    with pytest.raises(mnemo.InvalidArgument, match="ids"):
        vdb.put_vectors(b"m1", np.ones((2, 4), dtype=np.float32))
