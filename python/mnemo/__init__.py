"""mnemo: an embeddable multi-model database (key-value, memory records, graph, vectors, full
text) in one transaction. See docs/python.md.

    import mnemo
    with mnemo.open("memory", create=True, dim=384, metric="cosine") as db:
        with db.transaction() as tx:
            tx.put_record("m1", content="met Ada in Paris", metadata={"topic": "travel"})
            tx.put_vector("m1", embedding)
        for hit in db.search(query, k=10, filter={"topic": "travel"}):
            print(hit.id, hit.distance)
"""
from ._db import (Collection, CollectionInfo, Database, Edge, Hit, ImportStats, Neighbor, Path, RecallHit, Record, Stats,
                  TextHit, TextInfo, Transaction, VectorSpace, VectorStats, Visit, open, retry)
from ._errors import (Busy, Corrupt, Error, Exists, Full, InvalidArgument, IOFailure, Locked,
                      NoMemory, NotADatabase, NotFound, NotSupported, ReadOnly, Unknown,
                      VersionMismatch, WrongDimension)
from ._mnemo import ffi as _ffi, lib as _lib

__version__ = _ffi.string(_lib.mnemo_version(_ffi.NULL, _ffi.NULL, _ffi.NULL)).decode()

__all__ = ["open", "retry", "Database", "Collection", "CollectionInfo", "Transaction", "Record", "Hit", "TextHit", "RecallHit",
           "Edge", "Neighbor", "Visit", "Path", "ImportStats", "VectorSpace", "VectorStats",
           "TextInfo", "Stats", "Error", "InvalidArgument", "NotFound", "Exists", "Busy",
           "Corrupt", "IOFailure", "NoMemory", "WrongDimension", "NotADatabase",
           "VersionMismatch", "Locked", "ReadOnly", "NotSupported", "Full", "Unknown"]
