"""Every exception class, each raised by the library itself where it can be provoked."""
import os

import pytest

import mnemo
from mnemo._mnemo import lib

from conftest import ENGINE, needs_disk

lmdb_only = pytest.mark.skipif(ENGINE == "memory", reason="patches an LMDB data file on disk")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def patch_file(path, old, new):
    data = open(path, "rb").read()
    assert old in data, "the bytes to damage must be in the file"  # (copy-on-write: maybe twice)
    open(path, "wb").write(data.replace(old, new))


def test_every_code_has_its_class_under_error():
    expected = {
        lib.MNEMO_ERROR: mnemo.Error, lib.MNEMO_EINVAL: mnemo.InvalidArgument,
        lib.MNEMO_ENOTFOUND: mnemo.NotFound, lib.MNEMO_EEXISTS: mnemo.Exists,
        lib.MNEMO_EBUSY: mnemo.Busy, lib.MNEMO_ECORRUPT: mnemo.Corrupt,
        lib.MNEMO_EIO: mnemo.IOFailure, lib.MNEMO_ENOMEM: mnemo.NoMemory,
        lib.MNEMO_EDIM: mnemo.WrongDimension, lib.MNEMO_ENOTDB: mnemo.NotADatabase,
        lib.MNEMO_EVERSION: mnemo.VersionMismatch, lib.MNEMO_ELOCKED: mnemo.Locked,
        lib.MNEMO_EREADONLY: mnemo.ReadOnly, lib.MNEMO_ENOTSUP: mnemo.NotSupported,
        lib.MNEMO_EFULL: mnemo.Full, lib.MNEMO_EUNKNOWN: mnemo.Unknown,
    }
    from mnemo._errors import error
    for code, cls in expected.items():
        e = error(code, "msg")
        assert type(e) is cls and isinstance(e, mnemo.Error) and e.code == code
        assert e.name.startswith("MNEMO_E") and str(e) == f"msg ({e.name})"


def test_not_found_without_create(tmp_path):
    with pytest.raises(mnemo.NotFound) as e:
        mnemo.open(tmp_path / "absent")
    assert "absent" in e.value.message


def test_not_a_database(tmp_path):
    (tmp_path / "file").write_text("not a database")
    with pytest.raises(mnemo.NotADatabase):
        mnemo.open(tmp_path / "file", create=True)


@pytest.mark.skipif(ENGINE == "memory", reason="needs a path")
def test_locked_and_read_only(open_db, tmp_path):
    db = open_db("x")
    db.kv_put("k", "v")
    with pytest.raises(mnemo.Locked):
        mnemo.open(tmp_path / "x")
    db.close()
    with mnemo.open(tmp_path / "x", read_only=True) as ro:
        assert ro.kv_get("k") == b"v"
        with pytest.raises(mnemo.ReadOnly):
            ro.kv_put("k", "w")


def test_backup_errors(open_db, tmp_path):
    db = open_db("b")
    if ENGINE == "memory":
        with pytest.raises(mnemo.NotSupported):
            db.backup(tmp_path / "copy")
        return
    db.kv_put("k", "v")
    db.backup(tmp_path / "copy")
    with pytest.raises(mnemo.Exists):
        db.backup(tmp_path / "copy")
    (tmp_path / "file").write_text("x")
    with pytest.raises(mnemo.IOFailure) as e:
        db.backup(tmp_path / "file" / "sub")  # a path under a file
    assert isinstance(e.value, OSError)
    db.close()
    with mnemo.open(tmp_path / "copy") as copy:
        assert copy.kv_get("k") == b"v"


def test_memory_database_has_no_backup():
    with mnemo.open(":memory:", create=True) as db:
        with pytest.raises(mnemo.NotSupported):
            db.backup("/tmp/never-written")


def test_unknown_engine_and_bad_options(tmp_path):
    with pytest.raises(mnemo.InvalidArgument):
        mnemo.open(tmp_path / "e", create=True, engine="berkeleydb")
    with pytest.raises(mnemo.InvalidArgument):
        mnemo.open(tmp_path / "e", create=True, compression="rar")
    with pytest.raises(mnemo.InvalidArgument):
        mnemo.open(tmp_path / "e", create=True, dim=70000)


@lmdb_only
def test_corrupt_value_names_the_record(tmp_path):
    with mnemo.open(tmp_path / "c", create=True, engine="lmdb") as db:
        db.put_record("victim", "UNIQUE-CONTENT-TO-DAMAGE")
        db.put_record("bystander", "fine")
    patch_file(tmp_path / "c" / "data.mdb", b"UNIQUE-CONTENT-TO-DAMAGE", b"UNIQUE-CONTENT-TO-DAMAGf")
    with mnemo.open(tmp_path / "c") as db:
        with pytest.raises(mnemo.Corrupt) as e:
            db.get_record("victim")
        assert "victim" in e.value.message
        assert db.get_record("bystander").content == "fine"


@lmdb_only
def test_unknown_format_version(tmp_path):
    mnemo.open(tmp_path / "v", create=True, engine="lmdb").close()
    head = b"mnemo" + (3).to_bytes(4, "big")
    new = b"mnemo" + (99).to_bytes(4, "big")
    patch_file(tmp_path / "v" / "data.mdb", b"format" + head + crc32c(head).to_bytes(4, "big"),
               b"format" + new + crc32c(new).to_bytes(4, "big"))
    with pytest.raises(mnemo.VersionMismatch) as e:
        mnemo.open(tmp_path / "v")
    assert "format 99" in e.value.message


def test_open_options_out_of_range_are_invalid_arguments_naming_them(tmp_path):
    for name, kw in (("dim", {"dim": -1}), ("cache_size", {"cache_size": -1}), ("hnsw_m", {"hnsw_m": 2 ** 40}),
                     ("write_buffer_bytes", {"write_buffer_bytes": -5})):
        with pytest.raises(mnemo.InvalidArgument, match=name):
            mnemo.open(tmp_path / "db", create=True, **kw)


@needs_disk
def test_bytes_paths_are_paths(tmp_path, monkeypatch):
    # str(b"db") is "b'db'": a bytes path opened (and created) a directory of that name
    monkeypatch.chdir(tmp_path)
    db = mnemo.open(b"db", create=True, engine=ENGINE)
    db.kv_put("k", "v")
    assert db.path == "db"
    db.backup(b"copy")
    edges = tmp_path / "edges.txt"
    edges.write_text("1 2\n")
    assert db.import_edgelist(os.fsencode(edges)).edges == 1
    db.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "db", "edges.txt"]
    with mnemo.open(b"copy") as c:
        assert c.kv_get("k") == b"v"
