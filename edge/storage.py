"""The SD card: refuse new work before the disk is full, and delete old photos and tracks once they are delivered.

**Full disk.** `DiskGuard` says whether the unit may start new work (a case, an
exam): not below ``[storage] min_free_mb`` free where the journal lives, and
again only above ``resume_free_mb`` (so it does not flap at the edge). A write
that fails for want of space (SQLite's "database or disk is full", ``ENOSPC``)
marks it full at once. What is already journaled is never at risk: SQLite
refuses the whole transaction that does not fit, and the state in memory
changes only after the journal's commit. The guard looks at the disk again at
every start of work, so the unit takes work again by itself once space returns.

**Retention.** `sweep` deletes files by age (``max_age_days``) and then, oldest
first, until the folder is within its budget (``files_budget_mb``). It never
deletes a file whose case or exam has an event the cloud has not acknowledged
(`edge.journal.Journal.delivered`): a lane's photos once their case is closed
and every event of it is acknowledged; an exam car's track once its upload
(every ``exam.track_chunk`` event) is acknowledged. Files it cannot attribute
are kept.
"""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.unit_config import StorageConfig

log = logging.getLogger("passlane.storage")
MIB = 1 << 20


def is_disk_full(exc: BaseException) -> bool:
    """Whether an exception is the disk running out of space (SQLite's SQLITE_FULL or the OS's ENOSPC)."""
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


class DiskGuard:
    """Free space where the unit writes, with hysteresis; thread-safe."""

    def __init__(self, folder: Path, cfg: StorageConfig) -> None:
        self.folder = folder
        self.cfg = cfg
        self.full = False
        self.free_bytes = 0
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Look at the disk now; True when new work may start."""
        free = shutil.disk_usage(self.folder).free
        with self._lock:
            was = self.full
            self.free_bytes = free
            if self.full:
                self.full = free < self.cfg.resume_free_mb * MIB
            else:
                self.full = free < self.cfg.min_free_mb * MIB
            if was != self.full:
                log.log(logging.WARNING if self.full else logging.INFO, "disk: %s", self.describe())
            return not self.full

    def mark_full(self) -> None:
        """A write failed for want of space: no new work until ``resume_free_mb`` is free again."""
        with self._lock:
            if not self.full:
                log.warning("disk full: a write failed in %s", self.folder)
            self.full = True

    def describe(self) -> str:
        """The state in words, for the unit's alert and status."""
        free_mb = self.free_bytes / MIB
        if self.full:
            return (
                f"disk full: {free_mb:.1f} MiB free in {self.folder} (needs {self.cfg.resume_free_mb:g} MiB); "
                "no new work until space returns; nothing journaled is lost"
            )
        return f"{free_mb:.1f} MiB free in {self.folder}"

    def refusal(self, what: str) -> str | None:
        """Why ``what`` (a case, an exam) cannot start now, or None when it may."""
        return None if self.check() else f"{self.describe()}: no new {what}"


# ---------------------------------------------------------------- retention


@dataclass(frozen=True)
class StoredFile:
    """A file that retention may delete: whose case or exam it belongs to, its age and size."""

    path: Path
    owner: str
    mtime: float
    size: int


@dataclass
class SweepResult:
    deleted: int = 0
    freed_bytes: int = 0
    kept_undelivered: int = 0
    total_bytes: int = 0


def photo_files(photos_dir: Path) -> list[StoredFile]:
    """A lane's photos and VIN crops: ``photos/<case id>/<file>``; the folder names the case."""
    if not photos_dir.is_dir():
        return []
    out = []
    for case_dir in photos_dir.iterdir():
        if case_dir.is_dir():
            out += [_stored(f, case_dir.name) for f in case_dir.iterdir() if f.is_file()]
    return out


def track_files(tracks_dir: Path) -> list[StoredFile]:
    """An exam car's tracks once uploaded (``<exam id>.jsonl.uploaded`` and its ``.jsonl.gz``); a track still to
    upload (``.jsonl``) is never offered, nor the ``.gz`` beside it."""
    if not tracks_dir.is_dir():
        return []
    pending = {p.name.removesuffix(".jsonl") for p in tracks_dir.glob("*.jsonl")}
    out = []
    for f in tracks_dir.iterdir():
        exam_id = f.name.split(".", 1)[0]
        if f.is_file() and exam_id not in pending and f.name.endswith((".jsonl.uploaded", ".jsonl.gz")):
            out.append(_stored(f, exam_id))
    return out


def _stored(path: Path, owner: str) -> StoredFile:
    st = path.stat()
    return StoredFile(path, owner, st.st_mtime, st.st_size)


def sweep(
    files: Iterable[StoredFile],
    delivered: Callable[[str], bool],
    cfg: StorageConfig,
    now: float | None = None,
) -> SweepResult:
    """Delete files older than ``max_age_days``, then the oldest until the total is within ``files_budget_mb``;
    only files whose owner is ``delivered`` (asked once per owner)."""
    now = time.time() if now is None else now
    ordered = sorted(files, key=lambda f: f.mtime)
    result = SweepResult(total_bytes=sum(f.size for f in ordered))
    answers: dict[str, bool] = {}
    budget = cfg.files_budget_mb * MIB
    cutoff = now - cfg.max_age_days * 86400
    for f in ordered:
        if f.mtime >= cutoff and result.total_bytes <= budget:
            break  # oldest first: every later file is younger and the budget is kept
        if f.owner not in answers:
            answers[f.owner] = delivered(f.owner)
        if not answers[f.owner]:
            result.kept_undelivered += 1
            continue
        try:
            f.path.unlink()
        except FileNotFoundError:
            pass
        result.deleted += 1
        result.freed_bytes += f.size
        result.total_bytes -= f.size
    if result.deleted:
        log.info("retention: deleted %d files (%.1f MiB)", result.deleted, result.freed_bytes / MIB)
    return result


def remove_empty_folders(root: Path) -> None:
    """The case folders under ``photos/`` that retention emptied."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        try:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        except OSError:
            pass
