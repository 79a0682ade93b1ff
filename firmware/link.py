"""Board side of the lane bus: framing, handshake, at-most-once execution
per sequence number, NAKs, events and host-link liveness.

Shared by both boards.  The board application passes itself as `app`; it
must have `kind`, `status_values(now)` and
`handle_command(mtype, values, now) -> (result, reply_values, detail)`.
"""

from firmware import lanebus as lb
from firmware.ticks import ticks_diff

FW_VERSION = (1, 0, 0)


class BoardLink:
    def __init__(self, hal, app, now):
        self.hal = hal
        self.app = app
        self.decoder = lb.FrameDecoder()
        self._rx = bytearray(64)
        self._seen_oversize = 0
        self.session = -1
        # dedup cache: ring of (seq, mtype, reply frame)
        self._cache_seq = [-1] * lb.DEDUP_DEPTH
        self._cache_type = [0] * lb.DEDUP_DEPTH
        self._cache_frame = [b""] * lb.DEDUP_DEPTH
        self._cache_next = 0
        self._event_seq = 0
        self.last_rx = now
        self.host_link = 0
        self.duplicates = 0
        self.commands = 0
        self.executed = [0] * 64  # per command type: how many were executed (not replayed)

    # ------------------------------------------------------------ output
    def send_event(self, mtype, values, fields=None):
        if fields is None:
            fields = lb.request_fields(mtype, self.app.kind)
        self._event_seq = (self._event_seq % 0xFFFF) + 1
        self.hal.serial_write(lb.encode_frame(self._event_seq, mtype, lb.pack_fields(fields, values)))

    def _nak(self, seq, code, detail):
        self.hal.serial_write(lb.encode_frame(seq, lb.NAK, bytes([code, detail & 0xFF])))

    # ------------------------------------------------------------ input
    def poll(self, now):
        """Read what the serial port has, execute complete commands."""
        while True:
            n = self.hal.serial_read(self._rx)
            if not n:
                break
            for pkt in self.decoder.feed(memoryview(self._rx)[:n]):
                self._handle(pkt, now)
        if self.decoder.oversize != self._seen_oversize:
            self._seen_oversize = self.decoder.oversize
            self._nak(0, lb.E_FRAME_TOO_LONG, 0)
        if self.host_link and ticks_diff(now, self.last_rx) > lb.HOST_SILENCE_MS:
            self.host_link = 0
            self.app.on_host_link(0, now)

    def _handle(self, pkt, now):
        self.last_rx = now
        if not self.host_link:
            self.host_link = 1
            self.app.on_host_link(1, now)
        if lb.major_of(pkt.version) != lb.PROTOCOL_MAJOR:
            self._nak(pkt.seq, lb.E_BAD_VERSION, lb.PROTOCOL_MAJOR)
            return
        mtype = pkt.mtype
        if mtype == lb.HELLO:
            self._hello(pkt)
            return
        for i in range(lb.DEDUP_DEPTH):
            if self._cache_seq[i] == pkt.seq and self._cache_type[i] == mtype:
                self.duplicates += 1
                self.hal.serial_write(self._cache_frame[i])
                return
        m = lb.message(mtype)
        if m is None or m[2] != "host->board":
            self._nak(pkt.seq, lb.E_UNKNOWN_TYPE, mtype)
            return
        try:
            vals = lb.unpack_fields(lb.request_fields(mtype, self.app.kind), pkt.body)
        except lb.FieldError:
            frame = lb.encode_reply(pkt.seq, mtype, lb.E_BAD_LENGTH)
        else:
            if mtype == lb.PING:
                result, out, detail = lb.OK, [now & 0xFFFFFFFF], 0
            elif mtype == lb.GET_STATUS:
                result, out, detail = lb.OK, self.app.status_values(now), 0
            else:
                result, out, detail = self.app.handle_command(mtype, vals, now)
            self.commands += 1
            self.executed[mtype & 0x3F] += 1
            frame = lb.encode_reply(pkt.seq, mtype, result,
                                    lb.reply_fields(mtype, self.app.kind), out, detail)
        i = self._cache_next
        self._cache_seq[i] = pkt.seq
        self._cache_type[i] = mtype
        self._cache_frame[i] = frame
        self._cache_next = (i + 1) % lb.DEDUP_DEPTH
        self.hal.serial_write(frame)

    def _hello(self, pkt):
        try:
            major, _minor, session = lb.unpack_fields(lb.request_fields(lb.HELLO), pkt.body)
        except lb.FieldError:
            self.hal.serial_write(lb.encode_reply(pkt.seq, lb.HELLO, lb.E_BAD_LENGTH))
            return
        if major != lb.PROTOCOL_MAJOR:
            self.hal.serial_write(lb.encode_reply(pkt.seq, lb.HELLO, lb.E_BAD_VERSION,
                                                  detail=lb.PROTOCOL_MAJOR))
            return
        if session != self.session:
            # a new host session: forget the replies of the previous one
            self.session = session
            for i in range(lb.DEDUP_DEPTH):
                self._cache_seq[i] = -1
        vals = [self.app.kind, lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, FW_VERSION[0], FW_VERSION[1],
                FW_VERSION[2], self.hal.boot_id() & 0xFFFFFFFF, self.hal.board_id()]
        self.hal.serial_write(lb.encode_reply(pkt.seq, lb.HELLO, lb.OK,
                                              lb.reply_fields(lb.HELLO), vals))
