"""Atomic file writes: a reader never sees a half-written file, a failure never loses the old one.

A written file is synced to disk with its directory entry (fsync of the file, then of the folder), so
a crash right after a write leaves either the old or the new file, never an empty one. Private files
(tokens, keys) are read only when no one but their owner may open them, and created mode 0600.

Also the publishing of a whole output directory (built beside its place, moved in when complete)
and the JSON and YAML text every output uses.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from throttlebed.errors import InputError
from throttlebed.interrupts import raise_if_interrupted


def _read_umask() -> int:
    """The process umask, read without changing it where the kernel tells it (Linux >= 4.7)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)  # the only other way: set and restore; safe here, at import, before any thread
    os.umask(mask)
    return mask


# Read once at import: os.umask is process-wide, and setting it while threads create files would race.
_UMASK = _read_umask()


def _umask() -> int:
    return _UMASK


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's contents to disk (a folder: the names in it)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unusable_place(path: Path, e: OSError) -> InputError:
    """The one-line bad-input error of a path that cannot be written (a folder, under a file...)."""
    return InputError(f"cannot write here: {e.strerror or e}", source=str(path))


def check_output_file(path: str | Path, where: str | None = None, *,
                      inputs: Iterable[str | Path] = ()) -> Path:
    """``path`` can become a file: not a folder, not a device, pipe or socket, not one of the command's
    ``inputs``, nothing on its way a file, its folder writable.

    InputError (exit 2, one line) otherwise; nothing is left behind. Call it before long work.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p} is a folder, not a file", where=where)
    _check_special(p, where)
    for given in inputs:
        if p.exists() and Path(given).exists() and p.samefile(given):
            raise InputError(f"{p} is the command's input {given}: writing it would replace what is read",
                             where=where)
    _check_folders(p.parent, where, p)
    return p


def _check_special(path: Path, where: str | None = None) -> None:
    """Refuse to replace something that is not a regular file (a device, a named pipe, a socket)."""
    if path.exists() and not path.is_file():
        raise InputError(f"{path} is not a regular file (a device, pipe or socket): not replaced",
                         where=where)


def check_output_dir(path: str | Path, where: str | None = None) -> Path:
    """``path`` can be (or become) an output folder: not a file, nothing on its way a file, writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{p} is a file, not a folder", where=where)
    _check_folders(p if p.exists() else p.parent, where, p)
    return p


def _check_folders(folder: Path, where: str | None, target: Path) -> None:
    for f in [folder, *folder.parents]:
        if not f.exists():
            continue
        if not f.is_dir():
            raise InputError(f"{f} is not a folder", where=where)
        if not os.access(f, os.W_OK | os.X_OK):
            raise InputError(f"{f}: cannot write there (permission denied or read-only)", where=where)
        _probe_writable(f, where, target)
        return


def _probe_writable(folder: Path, where: str | None, target: Path) -> None:
    """Create and remove a file in ``folder``: the test of writing that also holds for root (whom
    permission bits do not stop) on read-only mounts and kernel file systems such as /proc."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".throttlebed-probe-"):
            pass
    except OSError as e:
        raise InputError(f"{target}: cannot write there ({folder}: {e.strerror or e})", where=where) from None


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, sync it, rename it into place and
    sync the folder: after a crash the file is either the old one or the complete new one.

    A place that cannot hold the file (a folder at ``path``, a file on its way, no permission,
    read-only) is bad input: InputError naming ``path``, and nothing is written.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{target} is a folder, not a file", source=str(target))
    _check_special(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except (NotADirectoryError, FileExistsError, PermissionError, IsADirectoryError) as e:
        raise _unusable_place(target, e) from None
    except OSError as e:
        if e.errno in (errno.EROFS, errno.ENOENT, errno.EACCES):
            raise _unusable_place(target, e) from None
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
        fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(target.parent)
    return target


def private_file_refusal(path: Path) -> str | None:
    """Why ``path`` is not private (group or others may read, write or run it); None when it is."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return f"group or others may open it (mode {mode:04o}); allow its owner only: chmod 600 {path}"
    return None


def read_private_text(path: str | Path) -> str:
    """The text of a secret file; InputError naming the file if it cannot be read or is not private."""
    p = Path(path)
    try:
        refusal = private_file_refusal(p)
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(e.strerror or "cannot read", source=str(p)) from None
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file", source=str(p)) from None
    if refusal:
        raise InputError(refusal, source=str(p))
    return text


def create_private_text(path: str | Path, text: str) -> bool:
    """Create ``path`` with ``text``, mode 0600, synced; False (nothing written) if it already exists."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        p.unlink(missing_ok=True)
        raise
    fsync_path(p.parent)
    return True


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def json_text(doc: Any) -> str:
    """``doc`` as indented UTF-8 JSON with a final newline (NaN refused)."""
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def yaml_text(data: Any) -> str:
    """``data`` as block YAML, keys in their given order."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _give_usual_modes(tree: Path) -> None:
    """Give a directory tree the usual modes (temporary files and directories are created private)."""
    tree.chmod(0o777 & ~_umask())
    for p in tree.rglob("*"):
        p.chmod((0o777 if p.is_dir() else 0o666) & ~_umask())


def partial_dir(out: Path) -> Path:
    """A fresh temporary directory beside ``out`` (same file system, so it can be renamed)."""
    check_output_dir(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except (NotADirectoryError, FileExistsError, PermissionError) as e:
        raise _unusable_place(out, e) from None


def publish_dir(tmp: Path, out: Path) -> None:
    """Move a finished output directory into place: rename, or replace file by file.

    Nothing is published after an interrupt, even one whose exception was swallowed on the way.
    """
    raise_if_interrupted()
    _give_usual_modes(tmp)
    if not out.exists():
        os.replace(tmp, out)
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory")
    for src in sorted(tmp.rglob("*")):
        if src.is_file():
            dst = out / src.relative_to(tmp)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    shutil.rmtree(tmp, ignore_errors=True)
