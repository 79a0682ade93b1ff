"""Splitting one receiver byte stream into NMEA sentences, UBX frames and RTCM3 frames. Pure: bytes in, frames out.

A real receiver interleaves NMEA text, u-blox UBX binary and (when it forwards
corrections) RTCM3 binary on one port; a log adds `#` comment lines. The framer
finds each frame by its own start byte and length or terminator, checks its
checksum, and counts what it had to skip. Nothing in the stream can make it
raise, and it never holds more than `MAX_BUFFERED` bytes between calls: a frame
that could be longer than that is not a frame.

A decision is only ever taken on bytes already seen in full (a candidate that
may still complete is kept until it does or cannot), so the frames do not
depend on how the stream was split; `flush()` ends the stream and settles
whatever is left.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from operator import mul
from typing import NamedTuple

MAX_SENTENCE = 256  # NMEA says 82; receivers exceed it (SkyTraq PSTI), never by this much
MAX_UBX_PAYLOAD = 4096  # NAV-SAT, NAV-SIG and RXM-RAWX of a busy sky fit; longer claims are noise
MAX_COMMENT = 4096
MAX_BUFFERED = max(MAX_SENTENCE, 8 + MAX_UBX_PAYLOAD, MAX_COMMENT, 3 + 1023 + 3)

_DOLLAR, _HASH, _LF, _CR, _UBX1, _UBX2, _RTCM = 0x24, 0x23, 0x0A, 0x0D, 0xB5, 0x62, 0xD3
_CANDIDATE = re.compile(rb"[$#\r\n\xb5\xd3]")
_NOT_SENTENCE = re.compile(rb"[^\x20-\x23\x25-\x7e]")  # ends a sentence: anything but printable ASCII without '$'
_HEX = b"0123456789ABCDEFabcdef"

UBX_NAMES: dict[tuple[int, int], str] = {
    (0x01, 0x01): "NAV-POSECEF",
    (0x01, 0x04): "NAV-DOP",
    (0x01, 0x07): "NAV-PVT",
    (0x01, 0x11): "NAV-VELECEF",
    (0x01, 0x20): "NAV-TIMEGPS",
    (0x01, 0x21): "NAV-TIMEUTC",
    (0x01, 0x22): "NAV-CLOCK",
    (0x01, 0x35): "NAV-SAT",
    (0x01, 0x3C): "NAV-RELPOSNED",
    (0x01, 0x43): "NAV-SIG",
    (0x01, 0x61): "NAV-EOE",
    (0x0A, 0x38): "MON-RF",
}


def _crc24q_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
        table.append(crc & 0xFFFFFF)
    return table


_CRC24Q = _crc24q_table()


def crc24q(data: bytes) -> int:
    """RTCM3's CRC-24Q (the frame's last three bytes)."""
    crc = 0
    table = _CRC24Q
    for b in data:
        crc = ((crc << 8) & 0xFFFFFF) ^ table[(crc >> 16) ^ b]
    return crc


def ubx_checksum(body: bytes) -> tuple[int, int]:
    """UBX's 8-bit Fletcher over class, id, length and payload: (CK_A, CK_B)."""
    n = len(body)
    return sum(body) & 0xFF, sum(map(mul, body, range(n, 0, -1))) & 0xFF


def nmea_checksum(body: bytes) -> int:
    """XOR of the bytes between '$' and '*'."""
    x = 0
    for b in body:
        x ^= b
    return x


class NmeaFrame(NamedTuple):
    """A sentence whose checksum matched: its text between '$' and '*'."""

    text: str


class UbxFrame(NamedTuple):
    """A UBX frame whose checksum matched."""

    cls: int
    id: int
    payload: bytes


Frame = NmeaFrame | UbxFrame


@dataclass
class FramingStats:
    """What the framer saw, per kind. Skipped bytes and frames are counted here, never raised."""

    nmea: Counter[str] = field(
        default_factory=Counter
    )  # good sentences by type ("GGA"; proprietary by address: "PSTI")
    ubx: Counter[str] = field(default_factory=Counter)  # good frames by name ("NAV-PVT"; others as "0x01-0x35")
    rtcm3_frames: int = 0  # correction frames recognised (CRC-24Q good) and skipped
    bad_checksum: int = 0  # NMEA or UBX frames complete but with a wrong checksum
    truncated: int = 0  # sentences or frames cut short (by another frame, a bad byte, the end) or over length
    garbage_bytes: int = 0  # bytes that began no frame
    comment_lines: int = 0  # `#` lines of a log


class Framer:
    """Bytes in any split -> complete, checksum-good frames. `comments=True` for log files (`#` lines)."""

    def __init__(self, comments: bool = False) -> None:
        self.stats = FramingStats()
        self._comments = comments
        self._buf = b""
        self._line_start = True  # the byte before `_buf` ended a line (or the stream just began)

    @property
    def buffered(self) -> int:
        """Bytes held for a frame not yet complete (never more than MAX_BUFFERED after a call)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        return self._run(bytes(data), final=False)

    def flush(self) -> list[Frame]:
        """End of stream: settle what is held (a cut sentence is counted; a last line without newline is read)."""
        return self._run(b"", final=True)

    def _run(self, data: bytes, final: bool) -> list[Frame]:
        buf = self._buf + data if self._buf else data
        frames: list[Frame] = []
        pos, n = 0, len(buf)
        while pos < n:
            b = buf[pos]
            if b == _DOLLAR:
                nxt = self._sentence(buf, pos, final, frames)
            elif b == _UBX1:
                nxt = self._ubx(buf, pos, final, frames)
            elif b == _RTCM:
                nxt = self._rtcm3(buf, pos, final)
            elif b == _LF or b == _CR:
                nxt = pos + 1
            elif b == _HASH and self._comments and (buf[pos - 1] == _LF if pos else self._line_start):
                nxt = self._comment(buf, pos, final)
            else:
                m = _CANDIDATE.search(buf, pos + 1)
                nxt = m.start() if m else n
                self.stats.garbage_bytes += nxt - pos
            if nxt < 0:
                break
            pos = nxt
        if pos:
            self._line_start = buf[pos - 1] == _LF
        self._buf = buf[pos:]
        return frames

    def _sentence(self, buf: bytes, pos: int, final: bool, frames: list[Frame]) -> int:
        limit = min(len(buf), pos + MAX_SENTENCE)
        m = _NOT_SENTENCE.search(buf, pos + 1, limit)
        if m is None:
            if limit - pos >= MAX_SENTENCE:
                self.stats.truncated += 1  # no end in sight: not a sentence
                return limit
            if not final:
                return -1
            end = limit  # a log's last line without a newline
        else:
            end = m.start()
            if buf[end] != _CR and buf[end] != _LF:
                self.stats.truncated += 1  # cut by a byte no sentence holds: resume there
                return end
        self._check_sentence(buf[pos + 1 : end], frames)
        return end

    def _check_sentence(self, body: bytes, frames: list[Frame]) -> None:
        star = body.rfind(b"*")
        if star < 0:
            self.stats.truncated += 1
            return
        hh = body[star + 1 :]
        if len(hh) != 2 or hh[0] not in _HEX or hh[1] not in _HEX or int(hh, 16) != nmea_checksum(body[:star]):
            self.stats.bad_checksum += 1
            return
        text = body[:star].decode("ascii")
        address = text.split(",", 1)[0]
        kind = address if address[:1] == "P" or len(address) != 5 else address[2:]
        self.stats.nmea[kind] += 1
        frames.append(NmeaFrame(text))

    def _ubx(self, buf: bytes, pos: int, final: bool, frames: list[Frame]) -> int:
        n = len(buf)
        if n - pos >= 2 and buf[pos + 1] != _UBX2:
            self.stats.garbage_bytes += 1
            return pos + 1
        if n - pos >= 6:
            length = buf[pos + 4] | buf[pos + 5] << 8
            if length > MAX_UBX_PAYLOAD:
                self.stats.garbage_bytes += 2
                return pos + 2
            end = pos + 8 + length
            if end <= n:
                body = buf[pos + 2 : end - 2]
                if ubx_checksum(body) != (buf[end - 2], buf[end - 1]):
                    self.stats.bad_checksum += 1
                    return pos + 2  # the rest is scanned again: a real frame may start inside
                cls, mid = body[0], body[1]
                self.stats.ubx[UBX_NAMES.get((cls, mid)) or f"0x{cls:02x}-0x{mid:02x}"] += 1
                frames.append(UbxFrame(cls, mid, body[4:]))
                return end
        if not final:
            return -1
        if n - pos < 2:
            self.stats.garbage_bytes += 1
            return n
        self.stats.truncated += 1
        return pos + 2

    def _rtcm3(self, buf: bytes, pos: int, final: bool) -> int:
        n = len(buf)
        if n - pos >= 3:
            if buf[pos + 1] & 0xFC:
                self.stats.garbage_bytes += 1
                return pos + 1
            end = pos + 6 + ((buf[pos + 1] & 0x03) << 8 | buf[pos + 2])
            if end <= n:
                if crc24q(buf[pos : end - 3]) != int.from_bytes(buf[end - 3 : end], "big"):
                    self.stats.garbage_bytes += 1
                    return pos + 1
                self.stats.rtcm3_frames += 1
                return end
        if not final:
            return -1
        self.stats.garbage_bytes += 1
        return pos + 1

    def _comment(self, buf: bytes, pos: int, final: bool) -> int:
        nl = buf.find(b"\n", pos, pos + MAX_COMMENT)
        if nl < 0:
            if len(buf) - pos >= MAX_COMMENT:
                self.stats.garbage_bytes += 1  # too long to be a comment: read on as stream bytes
                return pos + 1
            if not final:
                return -1
            nl = len(buf) - 1
        self.stats.comment_lines += 1
        return nl + 1
