"""Board side of the lane bus: framing, handshake, at-most-once execution
per sequence number, NAKs, reliable in-order events and host-link liveness.

Shared by every board (I/O board, plate issuer, vehicle board).  The board application passes itself as `app`; it
must have `kind`, `status_values(uptime_ms)`, `on_host_link(state, now)` and
`handle_command(mtype, values, now) -> (result, reply_values, detail)`.
"""

from firmware import lanebus as lb
from firmware.ticks import Uptime, ticks_diff

FW_VERSION = (1, 0, 0)

# read-only / idempotent commands: executed again on a repeat, never cached,
# so they cannot push a state-changing command's reply out of the cache
_NOT_CACHED = (lb.PING, lb.GET_STATUS, lb.JOB_STATUS)


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
        # events sent but not yet acknowledged, oldest first (go-back-N)
        self._ev_seq = [0] * lb.EVENT_WINDOW
        self._ev_frame = [b""] * lb.EVENT_WINDOW
        self._ev_head = 0
        self._ev_len = 0
        self._ev_sent_at = now
        self.events_dropped = 0
        self.events_resent = 0
        self.last_rx = now
        self.uptime = Uptime(now)
        self.host_link = 0
        self.duplicates = 0
        self.commands = 0
        self.executed = [0] * 64  # per command type: how many were executed (not replayed)

    # ------------------------------------------------------------ output
    def send_event(self, mtype, values, fields=None, now=None):
        """STATUS goes out with seq 0 and is never repeated; every other event
        gets the next event seq and is kept until the host acknowledges it."""
        if fields is None:
            fields = lb.request_fields(mtype, self.app.kind)
        body = lb.pack_fields(fields, values)
        if mtype == lb.EV_STATUS:
            self.hal.serial_write(lb.encode_frame(0, mtype, body))
            return
        self._event_seq = lb.seq_next(self._event_seq)
        frame = lb.encode_frame(self._event_seq, mtype, body)
        if self._ev_len == lb.EVENT_WINDOW:
            # the host has not acknowledged for a long time: forget the oldest
            self._ev_head = (self._ev_head + 1) % lb.EVENT_WINDOW
            self._ev_len -= 1
            self.events_dropped += 1
        if self._ev_len == 0 and now is not None:
            self._ev_sent_at = now
        i = (self._ev_head + self._ev_len) % lb.EVENT_WINDOW
        self._ev_seq[i] = self._event_seq
        self._ev_frame[i] = frame
        self._ev_len += 1
        self.hal.serial_write(frame)

    def oldest_unacked_event(self):
        if self._ev_len:
            return self._ev_seq[self._ev_head]
        return lb.seq_next(self._event_seq)

    def _event_ack(self, seq):
        """Cumulative: forget every kept event up to `seq`.  An ACK for a seq
        this board never sent (a stale ACK from a host that restarted, or
        one meant for the board before a reset) acknowledges nothing."""
        if self._event_seq == 0 or lb.seq_diff(seq, self._event_seq) > 0:
            return
        while self._ev_len and lb.seq_diff(seq, self._ev_seq[self._ev_head]) >= 0:
            self._ev_frame[self._ev_head] = b""
            self._ev_head = (self._ev_head + 1) % lb.EVENT_WINDOW
            self._ev_len -= 1

    def _resend_events(self, now):
        if not self._ev_len or not self.host_link:
            return
        if ticks_diff(now, self._ev_sent_at) < lb.EVENT_RETRY_MS:
            return
        self._ev_sent_at = now
        for k in range(self._ev_len):
            self.hal.serial_write(self._ev_frame[(self._ev_head + k) % lb.EVENT_WINDOW])
            self.events_resent += 1

    def _nak(self, seq, code, detail):
        self.hal.serial_write(lb.encode_frame(seq, lb.NAK, bytes([code, detail & 0xFF])))

    # ------------------------------------------------------------ input
    def poll(self, now):
        """Read what the serial port has, execute complete commands."""
        self.uptime.update(now)
        while True:
            n = self.hal.serial_read(self._rx)
            if not n:
                break
            for pkt in self.decoder.feed(memoryview(self._rx)[:n]):
                self._handle(pkt, now)
        if self.decoder.oversize != self._seen_oversize:
            self._seen_oversize = self.decoder.oversize
            self._nak(0, lb.E_FRAME_TOO_LONG, 0)
        self._resend_events(now)
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
        if mtype == lb.EVENT_ACK:
            # cumulative, idempotent, and the one command without a reply
            if len(pkt.body) == 2:
                self._event_ack((pkt.body[0] << 8) | pkt.body[1])
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
        frame = self._execute(pkt, mtype, now)
        if mtype in _NOT_CACHED:
            self.hal.serial_write(frame)
            return
        i = self._cache_next
        self._cache_seq[i] = pkt.seq
        self._cache_type[i] = mtype
        self._cache_frame[i] = frame
        self._cache_next = (i + 1) % lb.DEDUP_DEPTH
        self.hal.serial_write(frame)

    def _execute(self, pkt, mtype, now):
        """Run one command (not HELLO, not EVENT_ACK); the reply frame."""
        fields = lb.request_fields(mtype, self.app.kind)
        try:
            vals = lb.unpack_fields(fields, pkt.body)
        except lb.FieldError:
            return lb.encode_reply(pkt.seq, mtype, lb.E_BAD_LENGTH)
        bad = lb.bad_str_field(fields, vals)
        if bad >= 0:
            # a str field must be UTF-8: never journal, print or echo anything else
            return lb.encode_reply(pkt.seq, mtype, lb.E_BAD_FIELD, detail=bad)
        if mtype == lb.PING:
            result, out, detail = lb.OK, [self.uptime.ms()], 0
        elif mtype == lb.GET_STATUS:
            result, out, detail = lb.OK, self.app.status_values(self.uptime.ms()), 0
        else:
            result, out, detail = self.app.handle_command(mtype, vals, now)
        self.commands += 1
        self.executed[mtype & 0x3F] += 1
        return lb.encode_reply(pkt.seq, mtype, result, lb.reply_fields(mtype, self.app.kind), out, detail)

    def _hello(self, pkt):
        try:
            major, _minor, session = lb.unpack_fields(lb.request_fields(lb.HELLO), pkt.body)
        except lb.FieldError:
            self.hal.serial_write(lb.encode_reply(pkt.seq, lb.HELLO, lb.E_BAD_LENGTH))
            return
        if major != lb.PROTOCOL_MAJOR:
            self.hal.serial_write(lb.encode_reply(pkt.seq, lb.HELLO, lb.E_BAD_VERSION, detail=lb.PROTOCOL_MAJOR))
            return
        if session != self.session:
            # a new host session: forget the replies of the previous one
            self.session = session
            for i in range(lb.DEDUP_DEPTH):
                self._cache_seq[i] = -1
        vals = [
            self.app.kind,
            lb.PROTOCOL_MAJOR,
            lb.PROTOCOL_MINOR,
            FW_VERSION[0],
            FW_VERSION[1],
            FW_VERSION[2],
            self.hal.boot_id() & 0xFFFFFFFF,
            self.oldest_unacked_event(),
            self.hal.board_id(),
        ]
        self.hal.serial_write(lb.encode_reply(pkt.seq, lb.HELLO, lb.OK, lb.reply_fields(lb.HELLO), vals))


LOOP_PERIOD_MS = 5


class BoardMain:
    """The main loop every board shares: sense (and act), serve the host, send the queued events, the
    heartbeat STATUS, feed the watchdog. A board gives its HAL and its logic core (the link's `app`),
    and `sense(now)` and `send_events(now)`."""

    def __init__(self, hal, logic, now):
        self.hal = hal
        self.logic = logic
        self.link = BoardLink(hal, logic, now)
        self._last_status = now
        self.running = True

    def sense(self, now):
        raise NotImplementedError

    def send_events(self, now):
        raise NotImplementedError

    def step(self):
        hal = self.hal
        now = hal.ticks_ms()
        self.sense(now)
        self.send_events(now)
        if ticks_diff(now, self._last_status) >= lb.HEARTBEAT_MS:
            self._last_status = now
            self.link.send_event(lb.EV_STATUS, self.logic.status_values(self.link.uptime.ms()))
        hal.feed_watchdog()

    def run(self):
        while self.running:
            self.step()
            self.hal.idle(LOOP_PERIOD_MS)
