"""Fixtures: each test gets its own database in its own temporary directory, on the engine named
by MNEMO_TEST_ENGINE (rocksdb by default; lmdb, memory)."""
import os

import pytest

import mnemo

ENGINE = os.environ.get("MNEMO_TEST_ENGINE", "rocksdb")


@pytest.fixture
def open_db(tmp_path):
    """open_db(name="db", **options) opens (creating) a database under tmp_path; all are closed
    at the end of the test."""
    opened = []

    def _open(name="db", **kw):
        kw.setdefault("create", True)
        if ENGINE == "memory":
            path = ":memory:"
        else:
            path = tmp_path / name
            kw.setdefault("engine", ENGINE)
        db = mnemo.open(path, **kw)
        opened.append(db)
        return db

    yield _open
    for db in opened:
        try:
            db.close()
        except mnemo.Error:
            pass


@pytest.fixture
def db(open_db):
    """A database with a 4-d cosine vector space."""
    return open_db(dim=4, metric="cosine")


needs_disk = pytest.mark.skipif(ENGINE == "memory", reason="reopens the database from disk")
