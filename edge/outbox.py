"""The durable outbox: journaled business events go out in order, QoS 1, until the cloud acknowledges them.

The journal already holds every event (written with the state change it
records). This pump publishes the unsent ones in seq order, at most ``window``
in flight, consecutive ones packed into one message when several are pending
(`edge.contract.pack_events`: a unit catching up after an outage sends tens per
message, a quiet one each alone); the cloud's retained Ack watermark (highest contiguous seq stored)
deletes them. After a reconnect, or when the oldest in-flight event waited
longer than ``resend_after_s``, everything unacknowledged is sent again from
the watermark, in order: the cloud stores by (unit, seq), so a repeat has no
effect. Events are never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge.contract import MAX_PAYLOAD_BYTES, Ack, Leaf, batch_bytes, pack_events
from edge.journal import Journal
from edge.mqtt_session import MqttSession
from edge.stats import recent_samples

log = logging.getLogger("passlane.outbox")


class Outbox:
    def __init__(
        self,
        journal: Journal,
        session: MqttSession,
        *,
        resend_after_s: float = 10.0,
        window: int = 200,
        alarm_depth: int = 500,
        clock: Callable[[], float] = time.time,
        max_message_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        """`max_message_bytes`: the largest message pending events are packed into (one event always goes alone)."""
        self.journal = journal
        self.max_message_bytes = max_message_bytes
        self.messages = 0  # MQTT messages published (an event alone, or a batch of consecutive ones)
        self.session = session
        self.resend_after_s = resend_after_s
        self.window = window
        self.alarm_depth = alarm_depth
        self.clock = clock
        self.resends = 0
        self.published = 0
        self._sent_at: dict[int, float] = {}
        self.ack_latencies = recent_samples()  # publish -> ack, seconds (first publish of each seq)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pump_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.acked_changed = threading.Condition()

    # ------------------------------------------------------------ wiring
    def start(self) -> None:
        self.session.on_connected.append(self._on_connected)
        self.session.on_ack.append(self._on_ack)
        self.journal.listeners.append(self.kick)
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(5)

    def kick(self) -> None:
        self._wake.set()

    @property
    def depth(self) -> int:
        return self.journal.outbox_depth()

    @property
    def alarm(self) -> bool:
        return self.depth > self.alarm_depth

    # ------------------------------------------------------------ callbacks
    def _on_connected(self) -> None:
        with self._pump_lock:
            self.journal.mark_all_unsent()
        self.kick()

    def _on_ack(self, ack: Ack) -> None:
        if ack.unit != self.journal.unit:
            return
        self.journal.ack(ack.acked_seq)
        now = self.clock()
        for seq in [s for s in self._sent_at if s <= ack.acked_seq]:
            self.ack_latencies.append(now - self._sent_at.pop(seq))
        with self.acked_changed:
            self.acked_changed.notify_all()
        self.kick()

    # ------------------------------------------------------------ the pump
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self.pump()
            except Exception:  # a journal hiccup must not stop the pump for good
                log.exception("outbox pump failed")

    def pump(self) -> int:
        if not self.session.connected.is_set():
            return 0
        with self._pump_lock:
            now = self.clock()
            oldest = self.journal.outbox_oldest_sent()
            if oldest is not None and now - oldest > self.resend_after_s:
                self.resends += 1
                log.info("outbox: no ack for %.1f s, re-sending from the watermark", now - oldest)
                self.journal.mark_all_unsent()
            room = self.window - self.journal.outbox_inflight()
            if room <= 0:
                return 0
            rows = self.journal.outbox_unsent(room)
            payloads = [bytes(payload) for _, payload in rows]
            sent: list[int] = []
            for group in pack_events(self.journal.unit, payloads, self.max_message_bytes):
                info = self.session.publish(Leaf.EVENTS, batch_bytes(self.journal.unit, [payloads[i] for i in group]))
                if info.rc != 0:
                    break
                self.messages += 1
                for i in group:
                    sent.append(rows[i][0])
                    self._sent_at.setdefault(rows[i][0], now)
            self.journal.mark_sent(sent, now)
            self.published += len(sent)
            if len(rows) == room and sent:
                self._wake.set()
            return len(sent)
