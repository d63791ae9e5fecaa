"""Content-addressed storage for raw mail: the key is the SHA-256 of the bytes, so storing twice stores once.

``BlobStore`` is the interface an S3-compatible store can implement; ``FileBlobStore`` keeps blobs under the
region's ``blob_root`` and makes each write durable (fsync of the file, its folder, and any folder it had to create)
before reporting success. ``put_many`` does that for a whole chunk at once: the files' and folders' fsyncs run in
parallel, which lets the filesystem commit them together instead of one journal commit after the other.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

FSYNC_THREADS = 16


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def put_many(self, blobs: Sequence[bytes]) -> list[str]: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileBlobStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("not a blob key")
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its key once the bytes are on disk (a crash after this loses nothing)."""
        return self.put_many([data])[0]

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store every blob; returns their keys (in order) once all of them are on disk."""
        keys = [blob_key(data) for data in blobs]
        missing = {key: data for key, data in zip(keys, blobs, strict=True) if not self._path(key).exists()}
        if not missing:
            return keys
        folders: set[Path] = set()
        staged: list[tuple[object, str, Path]] = []  # (open file, temporary name, final path)
        try:
            for key, data in missing.items():
                path = self._path(key)
                folders |= _make_folders(path.parent)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
                handle = os.fdopen(fd, "wb")
                staged.append((handle, tmp, path))
                handle.write(data)
                handle.flush()
            _each(lambda item: os.fsync(item[0].fileno()), staged)
            for handle, tmp, path in staged:
                handle.close()
                os.replace(tmp, path)  # atomic: readers see all of the blob or none of it
        except BaseException:
            for handle, tmp, _path in staged:
                handle.close()
                Path(tmp).unlink(missing_ok=True)
            raise
        # The new names live in their folders, and a new folder's name in its parent: all of them must be durable.
        _each(_fsync_folder, folders | {path.parent for _handle, _tmp, path in staged})
        return keys


def _make_folders(folder: Path) -> set[Path]:
    """Create ``folder`` and missing parents; returns the parents whose entries changed (to be fsynced)."""
    if folder.is_dir():
        return set()
    changed = _make_folders(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:  # another worker created it a moment ago
        return changed
    return changed | {folder.parent}


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _each(function: Callable, items: Iterable) -> None:
    """``function`` on every item; fsyncs release the GIL, so a few threads let the disk take them together."""
    items = list(items)
    if len(items) <= 1:
        for item in items:
            function(item)
        return
    with ThreadPoolExecutor(max_workers=min(FSYNC_THREADS, len(items))) as pool:
        for _ in pool.map(function, items):  # re-raises the first error
            pass


def store_for_region(region) -> FileBlobStore:
    return FileBlobStore(region.blob_root)
