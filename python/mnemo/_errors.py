"""Exceptions: one class per MNEMO_E* code, all under mnemo.Error, each carrying the C message."""
from ._mnemo import ffi, lib


class Error(Exception):
    """A mnemo call failed. `code` is the MNEMO_E* code (negative int), `name` its name
    (e.g. "MNEMO_EBUSY"), `message` what the library said failed and where."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.name = ffi.string(lib.mnemo_strerror(code)).decode()
        self.message = message

    def __str__(self):
        return f"{self.message} ({self.name})"


class InvalidArgument(Error, ValueError):
    """MNEMO_EINVAL: bad argument, closed database, finished transaction."""


class NotFound(Error, LookupError):
    """MNEMO_ENOTFOUND: no such key, record, edge, path or database."""


class Exists(Error):
    """MNEMO_EEXISTS."""


class Busy(Error):
    """MNEMO_EBUSY: a transaction conflict; nothing was applied, run the work again."""


class Corrupt(Error):
    """MNEMO_ECORRUPT: a stored value or file failed its checks."""


class IOFailure(Error, OSError):
    """MNEMO_EIO: the file system failed."""


class NoMemory(Error, MemoryError):
    """MNEMO_ENOMEM."""


class WrongDimension(InvalidArgument):
    """MNEMO_EDIM: a vector of another dimension than the database's vector space."""


class NotADatabase(Error):
    """MNEMO_ENOTDB: the path holds something that is not a mnemo database."""


class VersionMismatch(Error):
    """MNEMO_EVERSION: an on-disk format this library does not know."""


class Locked(Error):
    """MNEMO_ELOCKED: another process or handle has the database open."""


class ReadOnly(Error):
    """MNEMO_EREADONLY: a write on a read-only database or transaction."""


class NotSupported(Error):
    """MNEMO_ENOTSUP: not supported by this build or engine."""


class Full(Error):
    """MNEMO_EFULL: a fixed limit of the database is reached."""


class Unknown(Error):
    """MNEMO_EUNKNOWN: a commit's outcome is unknown: the connection to a distributed store was lost
    after sending it, and asking the store whether it applied failed too (docs/errors.md). Re-read
    what the transaction wrote to find out."""


_BY_CODE = {
    lib.MNEMO_EINVAL: InvalidArgument,
    lib.MNEMO_ENOTFOUND: NotFound,
    lib.MNEMO_EEXISTS: Exists,
    lib.MNEMO_EBUSY: Busy,
    lib.MNEMO_ECORRUPT: Corrupt,
    lib.MNEMO_EIO: IOFailure,
    lib.MNEMO_ENOMEM: NoMemory,
    lib.MNEMO_EDIM: WrongDimension,
    lib.MNEMO_ENOTDB: NotADatabase,
    lib.MNEMO_EVERSION: VersionMismatch,
    lib.MNEMO_ELOCKED: Locked,
    lib.MNEMO_EREADONLY: ReadOnly,
    lib.MNEMO_ENOTSUP: NotSupported,
    lib.MNEMO_EFULL: Full,
    lib.MNEMO_EUNKNOWN: Unknown,
}


def error(code, message=None):
    """The exception for a negative code, with this thread's C message unless one is given."""
    if message is None:
        message = ffi.string(lib.mnemo_errmsg()).decode("utf-8", "replace")
    return _BY_CODE.get(code, Error)(code, message)


def invalid(message):
    """A misuse found on the Python side (closed database, finished transaction, bad type)."""
    return InvalidArgument(lib.MNEMO_EINVAL, message)
