"""A write that failed because the disk, a quota or the process's file-size limit is full.

Such a failure is not a bug: the user frees space (or raises `ulimit -f`) and runs the same command again,
which resumes from the last checkpoint (written whole or not at all) and rewrites the report (swapped in
only once complete). So the entry points print it as one line (g2core.cli), wherever it was raised:
as an OSError, or wrapped by a library (torch.save raises RuntimeError with the OSError as its context).
"""

from __future__ import annotations

import errno

FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class DiskFull(OSError):
    """A file could not be written for lack of space; what was written before it is intact."""


def full_write(exc: BaseException | None) -> OSError | None:
    """The OSError for lack of space behind `exc` (itself, its cause or its context), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in FULL:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full(path: object, exc: BaseException) -> DiskFull:
    """The one-line error for a failed write of `path` (`exc` may wrap the OSError)."""
    found = full_write(exc)
    code = found.errno if found is not None else errno.ENOSPC
    reason = found.strerror if found is not None and found.strerror else "no space left"
    return DiskFull(
        code,
        f"cannot write {path} ({reason}): the disk, a quota or the file-size limit (ulimit -f) is full; "
        "what was written before is intact: free space, then run the same command again",
    )


def describe(exc: BaseException) -> str | None:
    """One line for an exception caused by lack of space, or None when it was something else."""
    if isinstance(exc, DiskFull):
        return str(exc.strerror)
    found = full_write(exc)
    if found is None:
        return None
    return str(disk_full(found.filename or "a file", found).strerror)
