"""Writing the file a person named (`--out`, a save dialog): whole or not at all, and never
replacing what the name stands for. Every export, report and bundle writer goes through here.

- A regular file, or a name not yet taken: the content is written to a temporary file beside it,
  which then replaces it by rename, so a failed or killed export leaves the old file and no half
  file under the real name.
- A symbolic link is followed: the link stays, and what it points at is written by these rules
  (a regular file behind it is replaced by rename, in its own folder).
- Anything else (a FIFO to another program, a device such as /dev/null or /dev/stdout) is written
  into, never renamed over: renaming would swap the pipe or device for a regular file. It gets
  the content once complete, copied from a temporary file in the system's temporary folder (a
  device's folder is not ours to write in, and a reader should not see half an export).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterator

from ..errors import HealthQAError

# Files SQLite may create beside a database it writes (a bundle is one): cleaned up with the staging file.
_SIDE_FILES = ("-wal", "-shm", "-journal")


class OutputError(HealthQAError):
    """The named output cannot be written; the message names it and says why."""


def _is_replaceable(target: Path) -> bool:
    """True for a regular file or a free name: the only things an export may rename over."""
    try:
        return stat.S_ISREG(target.stat().st_mode)
    except FileNotFoundError:
        return True


def _remove(path: Path) -> None:
    for name in (path, *(Path(f"{path}{suffix}") for suffix in _SIDE_FILES)):
        name.unlink(missing_ok=True)


@contextlib.contextmanager
def output_path(out: str | Path) -> Iterator[Path]:
    """A path to write the whole content to; when the block ends without error, `out` gets it
    (see the module docstring). On error `out` is untouched and the temporary file is gone."""
    out = Path(out)
    try:
        target = out.resolve() if out.is_symlink() else out  # the link stays; what it points at is written
    except (OSError, RuntimeError):  # a loop of links
        raise OutputError(f"cannot write {out}: it is a symbolic link that leads nowhere") from None
    if target.is_dir():
        raise OutputError(f"{out} is a folder; give a file name")
    replace = _is_replaceable(target)
    if replace and not target.parent.is_dir():
        raise OutputError(f"cannot write {out}: the folder {target.parent} does not exist")
    folder = None if replace else Path(tempfile.mkdtemp(prefix="healthqa-out-"))
    staging = (target.with_name(f".{target.name}.{os.getpid()}.part") if replace
               else folder / (target.name or "output"))
    _remove(staging)  # a leftover of a killed export by a process that had our pid
    try:
        yield staging
        if replace:
            os.replace(staging, target)
        else:
            with staging.open("rb") as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
    except OSError as exc:
        raise OutputError(f"cannot write {out} ({exc.strerror or exc})") from None
    finally:
        _remove(staging)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def open_output(out: str | Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text handle whose content `out` gets when the block ends without error."""
    with output_path(out) as staging:
        with staging.open("w", encoding="utf-8", newline=newline) as handle:
            yield handle
