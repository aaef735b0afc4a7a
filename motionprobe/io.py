"""Atomic writes: a killed run never leaves half a file behind.

Every file that matters (tables, configs, checkpoints, videos, reports) is written to a temporary
name in the same folder and renamed into place, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from motionprobe.types import BadItem, RunError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the suffix so that writers choosing a format by extension work.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("hi")
    >>> target.read_text()
    'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the mode a plain open() would (shared caches).
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path: str | Path, frame: Any) -> Path:
    """Atomically write a pandas DataFrame as CSV without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_parquet(path: str | Path, frame: Any) -> Path:
    """Atomically write a pandas DataFrame as Parquet without its index."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


#: Run folders this process holds, with how many nested runs hold each (a study's sub-runs).
_HELD: dict[Path, int] = {}
#: A temporary file of :func:`atomic_path` (``.{stem}.{8 random characters}{suffix}``).
_TEMPORARY = re.compile(r"^\.[^/]+\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)?$")


@contextlib.contextmanager
def run_lock(
    out: str | Path, what: str = "run", name: str = ".lock", clean: bool = True
) -> Iterator[Path]:
    """Hold ``out/{name}`` while a run writes into ``out`` (created if missing).

    The lock file records the process id and host. A lock whose process is gone (killed, the
    machine rebooted) is stale and taken over, and the temporary files its interrupted atomic
    writes left in ``out`` are removed; a run nested in one this process already holds (a
    study's probe into its own folder) shares it. The lock is removed on any exit. Shards of one
    job writing into one folder each hold their own ``name`` and pass ``clean=False`` (another
    shard's temporary files are its work in progress).

    Raises:
        RunError: Another live process holds the folder, or ``out`` is not a writable folder.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with run_lock(folder) as lock:
    ...     lock.is_file()
    True
    >>> (folder / ".lock").exists()
    False
    """
    folder = Path(out).resolve()
    lock = folder / name
    if lock in _HELD:
        _HELD[lock] += 1
        try:
            yield lock
        finally:
            _HELD[lock] -= 1
        return
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _take(lock, what, clean)
    except (NotADirectoryError, FileExistsError, PermissionError) as err:
        raise RunError(f"{out}: cannot write a run here ({err.strerror or err})") from err
    _HELD[lock] = 1
    try:
        yield lock
    finally:
        del _HELD[lock]
        lock.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):  # a run that failed to start leaves nothing
            folder.rmdir()


def _take(lock: Path, what: str, clean: bool) -> None:
    """Create ``lock`` for this process, taking over a stale one."""
    me = {"pid": os.getpid(), "host": socket.gethostname(), "what": what}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~_UMASK)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                holder = {}
            if _alive(holder):
                raise RunError(
                    f"{lock.parent}: another {holder.get('what', 'run')} (pid {holder['pid']} "
                    f"on {holder['host']}) is writing here; wait for it or use another --out"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            if clean:
                _remove_orphans(lock.parent)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        return
    raise RunError(f"{lock}: could not be taken; remove it if no run is writing there")


def _remove_orphans(folder: Path) -> None:
    """Remove the temporary files a killed run's atomic writes left under ``folder``."""
    for path in folder.rglob(".*"):
        if path.is_file() and _TEMPORARY.match(path.name):
            path.unlink(missing_ok=True)


def _alive(holder: dict) -> bool:
    """Whether the process a lock names still runs (one on another host is assumed to)."""
    if "pid" not in holder:
        return False
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def provenance(records: list | None = None, seed: int | None = None) -> dict:
    """What a result needs to be reproduced: versions, git commit, dataset manifest hash, seed.

    Args:
        records: The dataset's :class:`~motionprobe.types.VideoRecord` list; its manifest hash
            covers each video's id, label and file size, so a changed copy is noticed.
        seed: The run's seed.
    """
    import hashlib
    import platform
    import subprocess
    from importlib import metadata

    versions = {}
    for package in ("motionprobe", "torch", "torchvision", "numpy", "pandas", "av", "captum"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    info: dict = {"versions": versions, "python": platform.python_version(), "git_commit": commit}
    if records is not None:
        digest = hashlib.sha256()
        for r in sorted(records, key=lambda r: (r.label, r.video_id)):
            size = Path(r.path).stat().st_size if Path(r.path).exists() else -1
            digest.update(f"{r.video_id},{r.label},{size}\n".encode())
        info["manifest_sha256"] = digest.hexdigest()
        info["manifest_videos"] = len(records)
    if seed is not None:
        info["seed"] = seed
    return info


def record_study(out: str | Path, study: str, params: dict, **extra: Any) -> Path:
    """Record a study's name and every parameter in ``out/config.json`` (merged, atomic).

    A probe run already writes ``config.json`` in the same folder; the study's entries are added
    to it, so ``motionprobe report`` knows which study made the folder.

    Args:
        out: The study's results folder.
        study: Its name (a key of :data:`motionprobe.studies.STUDIES`).
        params: The study's parameters (its parsed command line).
        **extra: More entries (e.g. the checkpoints it used).
    """
    path = Path(out) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    config.update(study=study, study_params=params, **extra)
    config.setdefault("provenance", provenance())
    return write_json(path, config)


def hide_bars(progress: bool) -> bool:
    """``disable=`` for a progress bar: hidden when ``progress`` is off or the environment sets
    ``TQDM_DISABLE`` (what ``motionprobe --quiet`` does), which an explicit ``disable=`` would
    otherwise override."""
    return not progress or os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false")


#: The columns of every run's ``bad_items.csv``.
BAD_COLUMNS = ["video_id", "path", "reason", "used"]


def bad_items_frame(bad: list[BadItem]) -> pd.DataFrame:
    """The listed items as a table (:data:`BAD_COLUMNS`), each once, sorted; ``used`` is True
    for a truncated video that was read up to its damage, False for one that was skipped."""
    rows = {(b.video_id, b.path, b.reason, bool(b.used)) for b in bad}
    return pd.DataFrame(sorted(rows), columns=BAD_COLUMNS)


def skipped(bad: list[BadItem] | pd.DataFrame) -> int:
    """How many of the listed items were skipped (not the truncated videos that were used)."""
    if isinstance(bad, pd.DataFrame):
        return int((~bad["used"].astype(bool)).sum()) if "used" in bad else len(bad)
    return sum(not b.used for b in bad)
