"""The raw track goes to the bridge as events: gzip once, cut into pieces, each piece one `exam.track_chunk` event.

Pieces travel through the unit's durable outbox like every other event, so
the upload survives a broker outage or a restart and resumes where it
stopped: the compressed file is written once (atomically, deterministic
gzip) and the journal says which pieces are already events. Each piece
carries its SHA-256 so the bridge can check the reassembled track.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict

PIECE_BYTES = 32 * 1024
"""Compressed bytes per piece: its event (base64, about 44 KiB) stays well under the contract's 64 KiB."""


class TrackPiece(BaseModel):
    """The data of one `exam.track_chunk` event."""

    model_config = ConfigDict(extra="forbid")
    exam_id: str
    index: int
    last: bool
    sha256: str
    data: str  # base64 of the gzip bytes of this piece


def compress_once(track: Path) -> Path:
    """`track` gzipped beside it (``.jsonl.gz``), written once and atomically; the same bytes every time for the same track."""
    target = track.with_name(track.name + ".gz")
    if target.exists():
        return target
    tmp = target.with_name(target.name + ".tmp")
    with (
        track.open("rb") as src,
        open(tmp, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
    ):
        while block := src.read(1 << 16):
            gz.write(block)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


def pieces(exam_id: str, compressed: Path, start: int = 0, piece_bytes: int = PIECE_BYTES) -> Iterator[TrackPiece]:
    """The pieces of a compressed track from index `start` on (a resumed upload skips what is already sent)."""
    size = compressed.stat().st_size
    total = max(1, -(-size // piece_bytes))
    with compressed.open("rb") as fh:
        fh.seek(start * piece_bytes)
        for index in range(start, total):
            chunk = fh.read(piece_bytes)
            yield TrackPiece(
                exam_id=exam_id,
                index=index,
                last=index == total - 1,
                sha256=hashlib.sha256(chunk).hexdigest(),
                data=base64.b64encode(chunk).decode("ascii"),
            )


def reassemble(received: list[TrackPiece]) -> bytes:
    """The track's JSON lines from its pieces (any order); ValueError when one is missing, altered or the last is absent."""
    by_index = {p.index: p for p in received}
    if not by_index or not any(p.last for p in by_index.values()):
        raise ValueError("the last piece has not arrived")
    last = max(p.index for p in by_index.values() if p.last)
    missing = [i for i in range(last + 1) if i not in by_index]
    if missing:
        raise ValueError(f"pieces missing: {missing[:10]}")
    out = bytearray()
    for i in range(last + 1):
        chunk = base64.b64decode(by_index[i].data)
        if hashlib.sha256(chunk).hexdigest() != by_index[i].sha256:
            raise ValueError(f"piece {i} does not match its hash")
        out += chunk
    return gzip.decompress(bytes(out))
