"""Atomic file writing: the target is either untouched or complete, never half written, and
every failure names the user's path (never the temporary file) and its cause in one line."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from typing import IO

from ..errors import OverwriteError, SaveError

__all__ = ["refuse_overwrite", "same_file", "write_atomically", "write_chunks"]


def write_atomically(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on an unbuffered temporary file beside ``path``, then rename it over
    ``path``. Raises :class:`SaveError` naming ``path`` when it cannot be written; the
    temporary file is removed whatever happens.

    A symbolic link stays a link: the file it points to is replaced. An existing file keeps its
    permission bits. A character device (``/dev/null``, a terminal) is written into, not
    replaced; other special files (pipes, sockets, block devices) are refused.
    """
    given = os.fspath(path)
    if not given:
        raise SaveError("cannot write '': the output path is empty", given, errno.ENOENT)
    target = os.path.realpath(given)
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise _save_error(given, exc) from None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise SaveError(f"cannot write {given}: it is a directory", given, errno.EISDIR)
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        _write_device(given, target, existing, write)
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target),
                                   prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as exc:
        raise _save_error(given, exc) from None
    try:
        with os.fdopen(fd, "r+b", buffering=0) as out:
            write(out)
            os.fchmod(out.fileno(), _mode(existing))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, SaveError):
            raise _save_error(given, exc) from None
        raise


def _mode(existing: os.stat_result | None) -> int:
    """The permission bits of the file being replaced, or those a new file gets."""
    if existing is not None:
        return stat.S_IMODE(existing.st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_device(given: str, target: str, existing: os.stat_result,
                  write: Callable[[IO[bytes]], None]) -> None:
    """Write into the character device ``target`` (through a temporary file, as ``write``
    may seek); refuse other special files."""
    if not stat.S_ISCHR(existing.st_mode):
        raise SaveError(f"cannot write {given}: not a regular file or a character device",
                        given, errno.EINVAL)
    try:
        with tempfile.TemporaryFile(buffering=0) as staged, open(target, "wb") as out:
            write(staged)
            staged.seek(0)
            shutil.copyfileobj(staged, out)
    except OSError as exc:
        if isinstance(exc, SaveError):
            raise
        raise _save_error(given, exc) from None


def write_chunks(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` atomically (see :func:`write_atomically`)."""

    def write(out: IO[bytes]) -> None:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:  # an unbuffered write may take only part
                view = view[out.write(view) or 0:]

    write_atomically(path, write)


def refuse_overwrite(source: str | os.PathLike[str] | None, path: str | os.PathLike[str],
                     *, advice: str = "pass overwrite=True") -> None:
    """Raise :class:`OverwriteError` when ``path`` is the file ``source`` (the same file under
    another name or through a hard link included)."""
    if source is None:
        return
    given = os.fspath(path)
    if same_file(source, given) or os.path.abspath(source) == os.path.abspath(given):
        raise OverwriteError(f"refusing to overwrite {given}, the file the model was loaded "
                             f"from ({advice})", given, errno.EEXIST)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name one existing file (under any name or link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _save_error(given: str, exc: OSError) -> SaveError:
    """``exc`` (raised for the temporary file or the target) restated for the user's path."""
    directory = os.path.dirname(os.path.realpath(given)) or os.sep
    if exc.errno == errno.ENOENT and not os.path.exists(directory):
        cause = f"directory {directory} does not exist"
    elif exc.errno == errno.ENOTDIR and not os.path.isdir(directory):
        cause = f"{directory} is not a directory"
    elif exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS):
        cause = f"cannot create a file in {directory} ({exc.strerror})"
    else:
        cause = exc.strerror or str(exc)
    return SaveError(f"cannot write {given}: {cause}", given, exc.errno)
