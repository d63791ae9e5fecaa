"""The file blob store: content-addressed, and every blob durable (its bytes, then its name) before put_many returns."""

import os
import signal
import threading
import warnings

import pytest

from app.inbound import blobs
from app.inbound.blobs import FileBlobStore, blob_key


def _mails(count: int) -> list[bytes]:
    return [f"Subject: mail {n}\r\n\r\nbody {n}\r\n".encode() for n in range(count)]


def _leftovers(root) -> list[str]:
    return [name for _folder, _dirs, files in os.walk(root) for name in files if name.startswith(".incoming-")]


def test_put_many_takes_a_generator_and_stores_each_blob_once(tmp_path):
    store = FileBlobStore(tmp_path / "blobs")
    raws = _mails(30)
    produced = []

    def fetching():
        for raw in raws + raws[:3]:  # the same bytes twice in one call
            produced.append(raw)
            yield raw

    keys = store.put_many(fetching())
    assert keys == [blob_key(raw) for raw in raws + raws[:3]] and len(produced) == 33
    assert all(store.get(blob_key(raw)) == raw for raw in raws)
    files = [name for _folder, _dirs, names in os.walk(tmp_path / "blobs") for name in names]
    assert sorted(files) == sorted(blob_key(raw) for raw in raws)
    first = os.stat(store._path(keys[0])).st_ino
    assert store.put(raws[0]) == keys[0] and os.stat(store._path(keys[0])).st_ino == first  # not written again


def test_bytes_then_name_then_folders_are_fsynced_before_put_many_returns(tmp_path, monkeypatch):
    """A new blob: its bytes are fsynced before it gets its name, and its folder (and, for a new folder, the
    folder's parent) after it, all before put_many returns."""
    store = FileBlobStore(tmp_path / "blobs")
    events, opened = [], {}
    real_open, real_fsync, real_replace = os.open, os.fsync, os.replace

    def recording_open(path, flags, *args):
        descriptor = real_open(path, flags, *args)
        opened[descriptor] = os.fspath(path)
        return descriptor

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", opened[fd])), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append(("name", dst, src)), real_replace(src, dst))[1])
    raws = _mails(20)
    keys = store.put_many(iter(raws))
    events.append(("returned",))
    for key in keys:
        path = os.fspath(store._path(key))
        leaf, top = os.path.dirname(path), os.path.dirname(os.path.dirname(path))
        ((name_at, (_name, _path, tmp)),) = [(i, e) for i, e in enumerate(events) if e[:2] == ("name", path)]
        assert ("fsync", tmp) in events[:name_at]  # the bytes, under the temporary name
        synced = {e[1] for e in events[name_at:events.index(("returned",))] if e[0] == "fsync"}
        assert {leaf, top, os.fspath(tmp_path / "blobs")} <= synced  # all three folders were new
    assert not _leftovers(tmp_path)


def test_a_failing_generator_leaves_complete_blobs_or_none(tmp_path):
    store = FileBlobStore(tmp_path / "blobs")
    raws = _mails(10)

    def broken_fetch():
        yield from raws[:6]
        raise ConnectionError("the server went away")

    with pytest.raises(ConnectionError):
        store.put_many(broken_fetch())
    assert all(store.get(blob_key(raw)) == raw for raw in raws[:6])  # finished, though nobody will record them
    assert not any(store.exists(blob_key(raw)) for raw in raws[6:]) and not _leftovers(tmp_path)


def test_a_failing_write_raises_and_leaves_no_partial_file(tmp_path, monkeypatch):
    store = FileBlobStore(tmp_path / "blobs")
    raws = _mails(8)
    real_fsync, victims, lock = os.fsync, [], threading.Lock()

    def failing_fsync(fd):
        with lock:
            fail = not victims and os.readlink(f"/proc/self/fd/{fd}").split("/")[-1].startswith(".incoming-")
            victims.extend([fd] if fail else [])
        if fail:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output"):
        store.put_many(raws)
    assert sum(store.exists(blob_key(raw)) for raw in raws) == 7 and not _leftovers(tmp_path)


def test_a_forked_worker_gets_threads_of_its_own(tmp_path):
    """RQ runs each job in a forked work horse: the parent's pool threads do not exist there."""
    store = FileBlobStore(tmp_path / "blobs")
    store.put(b"in the parent")  # the parent now has a pool
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # forking a process with threads: that is the point
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.alarm(20)  # a child stuck on the parent's dead threads must not hang the suite
        try:
            os._exit(0 if store.put(b"in the child") == blob_key(b"in the child") else 1)
        finally:
            os._exit(2)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and store.get(blob_key(b"in the child")) == b"in the child"


def test_keys_are_checked_before_they_become_paths(tmp_path):
    store = FileBlobStore(tmp_path)
    for key in ("../" + "a" * 61, "A" * 64, "a" * 63, "a" * 64 + "\n"):
        with pytest.raises(ValueError, match="not a blob key"):
            store.exists(key)
    assert blobs.FSYNC_THREADS >= 1
