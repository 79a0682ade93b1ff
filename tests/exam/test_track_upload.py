"""The raw track uploads in pieces that fit the contract, resume after a stop, and reassemble to the exact track."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from edge.contract import MAX_EVENT_BYTES, EventEnvelope
from exam_vehicle.track_upload import compress_once, pieces, reassemble


def _track(tmp_path: Path, lines: int = 30_000) -> Path:
    rng = random.Random(5)
    path = tmp_path / "lane-09-261206-00e001.jsonl"
    with path.open("w") as fh:
        for i in range(lines):  # a 10 Hz exam of 50 minutes with noisy positions: little to compress
            fh.write(
                json.dumps(
                    {
                        "kind": "epoch",
                        "t": 1.0e9 + i / 10,
                        "lat": 32.0 + rng.random() * 1e-4,
                        "lon": 118.0 + rng.random() * 1e-4,
                        "quality": "rtk_fixed",
                    }
                )
                + "\n"
            )
    return path


def test_every_piece_fits_in_one_event_and_the_pieces_give_back_the_exact_track(tmp_path: Path) -> None:
    track = _track(tmp_path)
    got = list(pieces("lane-09-261206-00e001", compress_once(track)))
    assert len(got) > 3 and got[-1].last and not any(p.last for p in got[:-1])
    for p in got:
        ev = EventEnvelope(
            unit="lane-09", seq=1, ts=1.0, kind="exam.track_chunk", case_id=p.exam_id, data=p.model_dump()
        )
        assert len(ev.to_bytes()) < MAX_EVENT_BYTES
    shuffled = got[:]
    random.Random(1).shuffle(shuffled)
    assert reassemble(shuffled) == track.read_bytes()


def test_compression_is_done_once_and_gives_the_same_bytes_so_an_upload_can_resume(tmp_path: Path) -> None:
    track = _track(tmp_path, 5_000)
    first = compress_once(track).read_bytes()
    assert compress_once(track).read_bytes() == first
    all_pieces = list(pieces("e", compress_once(track), piece_bytes=4096))
    resumed = list(pieces("e", compress_once(track), start=3, piece_bytes=4096))
    assert resumed == all_pieces[3:]


def test_a_missing_or_altered_piece_is_refused(tmp_path: Path) -> None:
    got = list(pieces("e", compress_once(_track(tmp_path, 5_000)), piece_bytes=4096))
    with pytest.raises(ValueError, match="missing"):
        reassemble(got[:1] + got[2:])
    with pytest.raises(ValueError, match="does not match"):
        reassemble([got[0].model_copy(update={"sha256": "0" * 64}), *got[1:]])
    with pytest.raises(ValueError, match="last"):
        reassemble(got[:-1])
