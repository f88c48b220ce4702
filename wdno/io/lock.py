"""One writer at a time: a lock file that a crashed process does not leave stuck.

Not a part of the paper's method. A run directory (:func:`wdno.io.rundir.lock`) or a data file
being generated is written by one process at a time: :func:`hold` creates the lock file
exclusively (``O_EXCL``) holding the owner's process id, host and start time, and removes it when
the block ends, whatever the outcome. A second process is refused with :class:`LockedError`
naming the owner. A lock is *stale*, and taken over, when its process is dead (same host), or
when its heartbeat (the file's modification time, refreshed every minute by a daemon thread) is
older than :data:`STALE_SECONDS` (another host, e.g. a cluster job killed outright). Holding the
same lock again inside the same process is allowed (the experiment driver's verbs nest).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import socket
import sys
import threading
import time

__all__ = ["HEARTBEAT_SECONDS", "STALE_SECONDS", "LockedError", "hold"]

HEARTBEAT_SECONDS = 60.0
STALE_SECONDS = 600.0
_held: dict[str, int] = {}  # lock path -> nesting depth, in this process


class LockedError(RuntimeError):
    """Another live process holds the lock.

    Attributes:
        path: the lock file.
        owner: its content (``pid``, ``host``, ``since``, ``command``), empty if unreadable.
    """

    def __init__(self, message: str, path: pathlib.Path, owner: dict):
        super().__init__(message)
        self.path, self.owner = path, owner


def _read(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _stale(path: pathlib.Path, owner: dict) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        # Our own pid without our own record: a previous process of a container that reuses pids.
        return owner["pid"] == os.getpid() or not _alive(owner["pid"])
    return age > (STALE_SECONDS if owner else 60.0)  # unreadable: a creation that crashed


def _create(path: pathlib.Path) -> bool:
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    with os.fdopen(descriptor, "w") as file:
        json.dump(owner, file)
    return True


def _heartbeat(path: pathlib.Path, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        with contextlib.suppress(OSError):
            os.utime(path)


@contextlib.contextmanager
def hold(path, *, what: str | None = None):
    """Hold the lock file ``path`` for the block (see the module docstring).

    Args:
        path: the lock file (its directory must exist).
        what: what the lock protects, for the message (default: the lock's directory).

    Raises:
        LockedError: a live process holds it.
    """
    path = pathlib.Path(path)
    key = str(path.absolute())
    if _held.get(key):
        _held[key] += 1
        try:
            yield path
        finally:
            _held[key] -= 1
        return
    for _ in range(3):
        if _create(path):
            break
        owner = _read(path)
        if not _stale(path, owner):
            what = what or str(path.parent)
            who = (
                f"process {owner.get('pid')} on {owner.get('host')} since {owner.get('since')}"
                if owner
                else "another process"
            )
            raise LockedError(
                f"{what} is being written by {who}; wait for it to finish or stop it (one "
                f"writer at a time); if no such process is running, delete {path}",
                path,
                owner,
            )
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # stale: a crashed process's lock
    else:
        raise LockedError(f"{path}: could not take the lock (contended)", path, {})
    _held[key] = 1
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(path, stop), daemon=True).start()
    try:
        yield path
    finally:
        stop.set()
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
