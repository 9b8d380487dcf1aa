"""Where recordings live. Keys are server-generated relative paths ("audio/<hex>.mp3");
a user's filename never becomes one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Protocol


class Storage(Protocol):
    def put_file(self, key: str, source: str | os.PathLike, *, move: bool = False) -> None: ...
    def local_path(self, key: str) -> Path: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...


class LocalStorage:
    """A folder on this host (or on a share every worker mounts)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        relative = PurePosixPath(key)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"invalid storage key: {key!r}")
        return self.root.joinpath(*relative.parts)

    def put_file(self, key: str, source: str | os.PathLike, *, move: bool = False) -> None:
        """Store `source` under `key`; with move=True the source file is consumed."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            # os.replace is atomic within a filesystem; fall back to copy across devices.
            try:
                os.replace(source, target)
                return
            except OSError:
                pass
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        if move:
            os.unlink(source)

    def local_path(self, key: str) -> Path:
        """A path on this host from which the object can be read."""
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    @property
    def incoming_dir(self) -> Path:
        """Where uploads stream to before they are accepted (same filesystem: moves are atomic)."""
        path = self.root / ".incoming"
        path.mkdir(parents=True, exist_ok=True)
        return path
