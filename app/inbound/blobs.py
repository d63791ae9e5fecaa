"""Content-addressed storage for raw mail: the key is the SHA-256 of the bytes, so storing twice stores once.

``BlobStore`` is the interface an S3-compatible store can implement; ``FileBlobStore`` keeps blobs under the
region's ``blob_root`` and makes each write durable (fsync of the file, its folder, and the parent of any folder it
had to create) before reporting success. ``put_many`` takes the blobs as they come and hands each one to a pool of
threads, which hash, write and fsync it (bytes, then name) while the caller produces the next: an IMAP fetch still
arriving. Only the parents of new folders are left for the end of the batch, where each is fsynced once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Protocol

FSYNC_THREADS = 8  # fsyncs release the GIL; more threads than this cost more CPU in GIL hand-offs than they save
_KEY = re.compile(r"[0-9a-f]{64}")


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def put_many(self, blobs: Iterable[bytes]) -> list[str]: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileBlobStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._base = os.fspath(self.root)

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError("not a blob key")
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its key once the bytes are on disk (a crash after this loses nothing)."""
        return self.put_many([data])[0]

    def put_many(self, blobs: Iterable[bytes]) -> list[str]:
        """Store every blob; returns their keys (in order) once all of them are on disk.

        ``blobs`` may be a generator: the first blob is being written while it produces the next. If it raises, the
        writes already started are waited for (each leaves a complete blob or nothing) and the error goes on.
        """
        stores: list[Future] = []
        try:
            for data in blobs:
                stores.append(_pool().submit(self._store, data))
        finally:
            wait(stores)
        stored = [store.result() for store in stores]  # re-raises the first error
        # A new folder's name lives in its parent: one fsync per parent for the whole batch (in a young store most
        # blobs need a folder of their own, and 256 parents hold them all).
        _each(_fsync_folder, set().union(*(parents for _key, parents in stored)))
        return [key for key, _parents in stored]

    def _store(self, data: bytes) -> tuple[str, set[str]]:
        """Runs on the pool, which hashes too: the thread that feeds it keeps the GIL for the network. Returns the
        key and the parents of folders made for it, whose fsync is left to ``put_many``."""
        key = blob_key(data)
        path = f"{self._base}/{key[:2]}/{key[2:4]}/{key}"  # a key we made: no checking, no Path, for every blob
        if os.path.exists(path):
            return key, set()
        return key, _write(path, data)


def _write(path: str, data: bytes) -> set[str]:
    """``data`` under ``path``: bytes fsynced before the name appears, then the folder holding the name (here, so
    these fsyncs overlap with the caller producing the next blobs). Returns the parents of any folder made."""
    folder = os.path.dirname(path)
    tmp = f"{folder}/.incoming-{os.urandom(8).hex()}"  # two workers storing the same blob each use their own
    try:
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        parents: set[str] = set()
    except FileNotFoundError:  # only now are folders made (a stat per level for every blob would cost more)
        parents = _make_folders(folder)
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(tmp, path)  # atomic: readers see all of the blob or none of it
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    return parents


def _make_folders(folder: str) -> set[str]:
    """Create ``folder`` and missing parents; returns the parents whose entries changed (to be fsynced).

    A parent counts as changed even when another worker created the folder a moment ago: that worker may not have
    made its name durable yet, and our blob depends on it too.
    """
    parent = os.path.dirname(folder)
    changed = {parent}
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)
    except FileNotFoundError:
        changed |= _make_folders(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)
    return changed


def _fsync_folder(folder: str) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _each(function: Callable[[str], None], items: set[str]) -> None:
    """``function`` on every item, on the pool; re-raises the first error once all have run."""
    runs = [_pool().submit(function, item) for item in items]
    wait(runs)
    for run in runs:
        run.result()


_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Threads made once per process (RQ forks a work horse per job: a child makes its own)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=FSYNC_THREADS, thread_name_prefix="blob-store")
        return _executor


def _forget_pool() -> None:
    global _executor, _lock
    _executor, _lock = None, threading.Lock()  # the parent's threads (and a held lock) do not exist in a child


os.register_at_fork(after_in_child=_forget_pool)


def store_for_region(region) -> FileBlobStore:
    return FileBlobStore(region.blob_root)
