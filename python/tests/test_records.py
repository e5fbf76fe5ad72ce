import time

import pytest

import mnemo


def test_put_get_as_dataclass_with_metadata_dict(db):
    db.put_record("m1", content="met Ada in Paris", importance=0.7,
                  metadata={"topic": "travel", "people": ["Ada"], "n": 2})
    r = db.get_record("m1")
    assert isinstance(r, mnemo.Record)
    assert (r.id, r.content, r.importance) == ("m1", "met Ada in Paris", 0.7)
    assert r.metadata == {"n": 2, "people": ["Ada"], "topic": "travel"}
    assert r.created_at > 0 and r.updated_at >= r.created_at and r.expires_at == 0
    assert r.internal_id > 0
    db.put_record(mnemo.Record("m2", "from a dataclass", 0.1, {"k": "v"}))
    assert db.get_record("m2").metadata == {"k": "v"}
    assert db.record_exists("m2") and not db.record_exists("nope")
    assert db.get_record("nope", None) is None


def test_unicode_content_and_ids(db):
    db.put_record("café ☕", content="naïve résumé — 東京")
    assert db.get_record("café ☕").content == "naïve résumé — 東京"


def test_put_modes(db):
    db.put_record("a", "1", mode="insert")
    with pytest.raises(mnemo.Exists):
        db.put_record("a", "2", mode="insert")
    with pytest.raises(mnemo.NotFound):
        db.put_record("b", "2", mode="replace")
    db.put_record("a", "3", mode="replace")
    assert db.get_record("a").content == "3"
    with pytest.raises(mnemo.InvalidArgument):
        db.put_record("a", "3", mode="sideways")


def test_bad_records_raise_invalid_argument(db):
    with pytest.raises(mnemo.InvalidArgument) as e:
        db.put_record("", "x")
    assert "mnemo_record_put" in e.value.message
    with pytest.raises(mnemo.InvalidArgument):
        db.put_record("x", "y", importance=float("nan"))
    with pytest.raises(mnemo.InvalidArgument) as e:
        db.put_record("x", "y", metadata='{"a": ')  # JSON text is passed as it is
    assert "line" in e.value.message
    with pytest.raises(mnemo.InvalidArgument):
        db.put_record("x", "y", metadata={"a": float("nan")})
    with pytest.raises(mnemo.InvalidArgument):
        db.put_record("a\0b", "y")
    with pytest.raises(mnemo.InvalidArgument):
        db.put_record("\udcff", "y")  # not UTF-8: the library names it


def test_update_and_delete(db):
    db.put_record("m", "old", importance=0.2, metadata={"a": 1, "b": {"c": 2}})
    db.update_record("m", content="new", importance=0.9, metadata_patch={"a": None, "b": {"d": 3}})
    r = db.get_record("m")
    assert (r.content, r.importance, r.metadata) == ("new", 0.9, {"b": {"c": 2, "d": 3}})
    with pytest.raises(mnemo.InvalidArgument):
        db.update_record("m")  # no field named
    with pytest.raises(mnemo.NotFound):
        db.update_record("absent", content="x")
    db.delete_record("m")
    with pytest.raises(mnemo.NotFound):
        db.get_record("m")
    with pytest.raises(mnemo.NotFound):
        db.delete_record("m")


def test_list_in_pages_by_id_and_time(db):
    for i in range(10):
        db.put_record(f"r{i}", str(i), created_at=1000 + i)
    db.put_record("other", "x", created_at=5000)
    assert [r.id for r in db.list_records(prefix="r", page_size=3)] == [f"r{i}" for i in range(10)]
    assert [r.id for r in db.list_records(order="newest", page_size=4)][:3] == ["other", "r9", "r8"]
    assert [r.id for r in db.list_records(order="oldest", created_from=1003, created_to=1006)] == \
        ["r3", "r4", "r5"]
    with pytest.raises(mnemo.InvalidArgument):
        db.list_records(order="random")


def test_find_with_filters_and_indexes(db):
    for i in range(20):
        db.put_record(f"r{i}", "", importance=i / 20,
                      metadata={"topic": "pets" if i % 2 else "work", "n": i})
    got = sorted(r.id for r in db.find_records({"topic": "pets", "n": {"$gte": 15}}))
    assert got == ["r15", "r17", "r19"]
    db.create_index("topic")
    db.create_index("n")
    assert db.indexes() == ["n", "topic"]
    with pytest.raises(mnemo.Exists):
        db.create_index("topic")
    assert sorted(r.id for r in db.find_records('{"topic": "pets", "n": {"$gte": 15}}', page_size=2)) == got
    assert len(list(db.find_records({"importance": {"$lt": 0.1}}))) == 2
    db.drop_index("n")
    assert db.indexes() == ["topic"]
    with pytest.raises(mnemo.NotFound):
        db.drop_index("n")
    with pytest.raises(mnemo.InvalidArgument) as e:
        db.find_records({"n": {"$bogus": 1}})
    assert "$bogus" in e.value.message


def test_expiry_hides_then_purge_removes(db):
    now_ms = int(time.time() * 1000)
    db.put_record("short", "x", expires_at=now_ms + 50)
    db.put_record("long", "y", expires_at=now_ms + 3600_000)
    db.put_record("forever", "z")
    time.sleep(0.1)
    assert not db.record_exists("short")
    with pytest.raises(mnemo.NotFound):
        db.get_record("short")
    assert db.purge_expired() == 1
    db.update_record("long", expires_at=0)
    assert db.get_record("long").expires_at == 0


def test_deeply_nested_metadata_reads_back(db):
    # the library takes metadata nested up to jansson's 2048 levels; Python's json stops near 1000
    # (RecursionError, no mnemo error), so such a record could be written but never read
    deep = '{"a":' * 1500 + '1' + '}' * 1500
    db.put_record("deep", "x", metadata=deep)
    md = db.get_record("deep").metadata
    for _ in range(1499):
        md = md["a"]
    assert md == {"a": 1}
    assert [r.id for r in db.find_records({"a.a.a": {"$exists": True}})] == ["deep"]
    assert [r.id for r in db.list_records()] == ["deep"]


def test_metadata_dict_too_deep_for_python_is_an_invalid_argument(db):
    deep = 1
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(mnemo.InvalidArgument, match="JSON text"):
        db.put_record("d", "x", metadata=deep)
