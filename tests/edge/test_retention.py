"""Photo and track retention: by age, then oldest first down to the budget; never a file whose case or exam has an
event the cloud has not acknowledged, nor an open case's photos, nor a track still to upload."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from edge.contract import EventKind
from edge.journal import CaseRow, Journal, NewEvent
from edge.storage import MIB, photo_files, remove_empty_folders, sweep, track_files
from edge.unit_config import StorageConfig

DAY = 86400.0
NOW = time.time()


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal(tmp_path / "lane.sqlite", "lane-01")
    yield j
    j.close()


def _case(journal: Journal, case_id: str, open_: bool) -> None:
    journal.record(
        [NewEvent(EventKind.CASE_OPENED, case_id=case_id, station="A", actor="insp-1", data={})],
        CaseRow(case_id, "A", "opened" if open_ else "closed", open_, {"opened_at": NOW}),
    )


def _deliver_all(journal: Journal) -> None:
    """What the outbox and the bridge do: every event sent, then the bridge's watermark covers them."""
    seqs = [seq for seq, _ in journal.outbox_unsent(10000)]
    journal.mark_sent(seqs, NOW)
    journal.ack(max(seqs))


def _photo(root: Path, case_id: str, name: str, age_days: float, size: int = 1000) -> Path:
    path = root / "photos" / case_id / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff" * size)
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def test_old_photos_go_only_when_their_case_is_closed_and_every_event_of_it_acknowledged(
    tmp_path: Path, journal: Journal
) -> None:
    _case(journal, "delivered", open_=False)
    _case(journal, "still-open", open_=True)
    _deliver_all(journal)
    _case(journal, "not-acked", open_=False)  # journaled after the watermark: still in the outbox
    old = {c: _photo(tmp_path, c, "0111-1.jpg", age_days=100) for c in ("delivered", "still-open", "not-acked")}
    young = _photo(tmp_path, "delivered", "0113-2.jpg", age_days=1)
    stranger = _photo(tmp_path, "unknown-case", "0111-3.jpg", age_days=400)

    result = sweep(
        photo_files(tmp_path / "photos"), lambda c: journal.delivered(c, closed=True), StorageConfig(), now=NOW
    )
    assert not old["delivered"].exists()
    assert old["still-open"].exists() and old["not-acked"].exists() and young.exists()
    assert stranger.exists(), "a folder no case in the journal owns is kept"
    assert (result.deleted, result.kept_undelivered) == (1, 3)

    _deliver_all(journal)  # the bridge acknowledges the rest
    sweep(photo_files(tmp_path / "photos"), lambda c: journal.delivered(c, closed=True), StorageConfig(), now=NOW)
    assert not old["not-acked"].exists() and old["still-open"].exists() and young.exists()
    remove_empty_folders(tmp_path / "photos")
    assert not (tmp_path / "photos" / "not-acked").exists() and (tmp_path / "photos" / "delivered").exists()


def test_over_the_budget_the_oldest_delivered_photos_go_first_and_undelivered_ones_stay(
    tmp_path: Path, journal: Journal
) -> None:
    for c in ("a", "b", "c"):
        _case(journal, c, open_=False)
    _deliver_all(journal)
    _case(journal, "d", open_=False)
    files = {
        "a": _photo(tmp_path, "a", "x.jpg", 5, MIB),
        "d": _photo(tmp_path, "d", "x.jpg", 4, MIB),  # older than b and c, but not delivered
        "b": _photo(tmp_path, "b", "x.jpg", 3, MIB),
        "c": _photo(tmp_path, "c", "x.jpg", 2, MIB),
    }
    cfg = StorageConfig(files_budget_mb=2.0)
    result = sweep(photo_files(tmp_path / "photos"), lambda c: journal.delivered(c, closed=True), cfg, now=NOW)
    assert [k for k, p in files.items() if p.exists()] == ["d", "c"]
    assert result.total_bytes == 2 * MIB and result.freed_bytes == 2 * MIB


def test_a_track_goes_once_its_upload_is_acknowledged_never_before_or_while_it_is_still_to_upload(
    tmp_path: Path, journal: Journal
) -> None:
    tracks = tmp_path / "tracks"
    tracks.mkdir()

    def track(exam_id: str, names: tuple[str, ...]) -> list[Path]:
        out = []
        for name in names:
            p = tracks / f"{exam_id}{name}"
            p.write_bytes(b"{}\n")
            os.utime(p, (NOW - 200 * DAY, NOW - 200 * DAY))
            out.append(p)
        journal.record([NewEvent(EventKind.EXAM_TRACK_CHUNK, case_id=exam_id, actor="system", data={})])
        return out

    uploaded = track("exam-1", (".jsonl.uploaded", ".jsonl.gz"))
    uploading = track("exam-2", (".jsonl", ".jsonl.gz"))
    _deliver_all(journal)
    unacked = track("exam-3", (".jsonl.uploaded", ".jsonl.gz"))
    assert {f.owner for f in track_files(tracks)} == {"exam-1", "exam-3"}, "a track still to upload is not offered"
    sweep(track_files(tracks), journal.delivered, StorageConfig(), now=NOW)
    assert not any(p.exists() for p in uploaded)
    assert all(p.exists() for p in uploading + unacked)
