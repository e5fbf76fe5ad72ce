import pytest

import mnemo

from conftest import ENGINE, needs_disk


def test_open_options_reach_the_library(open_db):
    db = open_db("o", dim=8, metric="ip", hnsw_m=8, ef_construction=50, ef_search=20,
                 cache_size=1 << 20, sync=True)
    assert db.vector_space() == mnemo.VectorSpace(8, "ip", 8, 50, 20)
    s = db.stats()
    assert s.cache_capacity == 1 << 20 and s.engine == ENGINE
    db.put_record("a", "x")
    db.get_record("a")
    db.get_record("a")
    s2 = db.stats()
    assert s2.cache_hits + s2.cache_misses > s.cache_hits + s.cache_misses
    assert s2.store_sequence > s.store_sequence


def test_the_cache_is_on_by_default_and_none_turns_it_off(open_db):
    assert open_db("d").stats().cache_capacity == 64 << 20
    off = open_db("n", cache_size=None)
    off.put_record("a", "x")
    off.get_record("a")
    s = off.stats()
    assert s.cache_capacity == 0 and s.cache_hits + s.cache_misses == 0


@needs_disk
def test_vector_space_persists_and_a_different_one_is_refused(open_db, tmp_path):
    open_db("p", dim=3, metric="l2").close()
    with mnemo.open(tmp_path / "p") as db:
        assert db.vector_space().dim == 3 and db.vector_space().metric == "l2"
    with pytest.raises(mnemo.InvalidArgument):
        mnemo.open(tmp_path / "p", dim=4)


def test_an_int8_space_is_reported_searched_and_fixed(open_db, tmp_path):
    db = open_db("q", dim=4, metric="l2", quantization="int8")
    assert db.vector_space() == mnemo.VectorSpace(4, "l2", 16, 200, 64, "int8")
    db.put_record("a", "x")
    db.put_vector("a", [1.0, 2.0, 3.0, 4.5])
    hit = db.search([1.0, 2.0, 3.0, 4.0], k=1)[0]
    assert hit.id == "a" and hit.distance == pytest.approx(0.25)  # the stored floats' distance
    with pytest.raises(mnemo.InvalidArgument, match="quantization"):
        open_db("bad", dim=4, quantization="int4")


@needs_disk
def test_an_int8_space_refuses_a_reopen_asking_for_none(open_db, tmp_path):
    open_db("r", dim=4, quantization="int8").close()
    with pytest.raises(mnemo.InvalidArgument, match="quantization int8"):
        mnemo.open(tmp_path / "r", quantization="none")
    with mnemo.open(tmp_path / "r") as db:
        assert db.vector_space().quantization == "int8"


@pytest.mark.skipif(ENGINE != "rocksdb", reason="tuning of the rocksdb engine")
def test_engine_tuning_options(tmp_path):
    with mnemo.open(tmp_path / "t", create=True, compression="zstd", write_buffer_bytes=1 << 20,
                    read_cache_bytes=1 << 20, key_filter_bits=-1) as db:
        db.kv_put("k", "v" * 1000)
        db.flush()
        db.compact()
        assert db.kv_get("k") == b"v" * 1000
        assert db.stats().store_disk_bytes > 0


def test_flush_compact_and_path(open_db):
    db = open_db("f")
    db.kv_put("k", "v")
    db.flush()
    db.compact()
    assert db.kv_get("k") == b"v"
    assert db.path.endswith("f") or db.path == ":memory:"
    assert mnemo.__version__.count(".") == 2


@needs_disk
def test_read_only_database_refuses_admin_writes(open_db, tmp_path):
    open_db("r").close()
    with mnemo.open(tmp_path / "r", read_only=True) as db:
        with pytest.raises(mnemo.ReadOnly):
            db.create_index("topic")
        with pytest.raises(mnemo.ReadOnly):
            db.put_record("a", "x")
        with pytest.raises(mnemo.ReadOnly):
            with db.transaction() as tx:
                tx.kv_put("k", "v")
