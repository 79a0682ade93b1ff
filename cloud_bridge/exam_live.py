"""Live exam data for the web process: the cars' positions (MQTT `position` leaf) and exam changes (the store).

Positions are live data, never stored: the web process holds its own MQTT subscription with the
bridge account to `passlane/v1/+/+/position` (not shared: every web process sees every car) and
keeps each car's latest. Exam changes (status, item, score, deductions) are read from the exam
tables the ingest fold writes, by polling `updated_at`: the web process may run beside workers in
other processes, so the database is the one place it can learn of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from cloud_bridge.config import BridgeSettings
from cloud_bridge.store import Store
from edge.contract import Leaf, PayloadError, PositionReport, parse_topic

log = logging.getLogger("passlane.bridge")
POSITION_FILTER = f"passlane/v1/+/+/{Leaf.POSITION.value}"
POLL_S = 0.5
HEARTBEAT_S = 15.0


class LivePositions:
    """Each car's latest position, and the listeners (SSE streams) that want every one as it arrives."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self._listeners: set[Callable[[dict[str, Any]], None]] = set()
        self._lock = threading.Lock()
        self._client: Any = None
        self._unavailable = False  # said once: no password for the bridge account in this process

    def offer(self, topic_name: str, payload: bytes) -> None:
        """One `position` message: kept when it is a valid report of the unit of its topic; else dropped."""
        try:
            site, unit, leaf = parse_topic(topic_name)
            report = PositionReport.model_validate_json(payload)
        except (PayloadError, ValueError):
            return
        if leaf != Leaf.POSITION or report.unit != unit:
            return
        p = {"site": site, **report.model_dump(mode="json"), "received_at": time.time()}
        with self._lock:
            self.latest[unit] = p
            listeners = list(self._listeners)
        for fn in listeners:
            fn(p)

    def listen(self, fn: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.add(fn)
        return lambda: self._drop(fn)

    def _drop(self, fn: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            self._listeners.discard(fn)

    def subscribe(self, settings: BridgeSettings) -> bool:
        """Subscribe with the bridge's MQTT account once; False (no live positions) when it has no password here."""
        with self._lock:
            if self._client is not None or self._unavailable:
                return not self._unavailable
            try:
                settings.mqtt.password()
                settings.mqtt.ca_file()
            except (ValueError, OSError) as exc:
                log.info("no live exam positions: %s", exc)
                self._unavailable = True
                return False
            from cloud_bridge.worker import make_client

            client, props = make_client(
                settings, f"{settings.mqtt.client_id_prefix}-live-{os.getpid()}", manual_ack=False, persistent=False
            )
            client.on_connect = lambda c, u, f, rc, p: (
                c.subscribe(POSITION_FILTER, qos=0) if not rc.is_failure else None
            )
            client.on_message = lambda c, u, m: self.offer(m.topic, bytes(m.payload))
            client.connect_async(
                settings.mqtt.host, settings.mqtt.port, settings.mqtt.keepalive_s, clean_start=True, properties=props
            )
            client.loop_start()
            self._client = client
        return True

    def stop(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


class ExamChanges:
    """What changed in the exam tables since the last look: one `exam` event per changed exam and per new deduction."""

    def __init__(self, store: Store, since: float) -> None:
        self.store = store
        self.since = since
        self.deductions_seen: dict[str, int] | None = None

    def poll(self) -> list[dict[str, Any]]:
        if (
            self.deductions_seen is None
        ):  # the exams under way when the stream began: only their later deductions are news
            self.deductions_seen = {
                x: len((self.store.exams.detail(x) or {"deductions": []})["deductions"])
                for x in self.store.exams.running_units().values()
            }
        out = []
        for row in self.store.exams.changed_since(self.since):
            self.since = max(self.since, float(row["updated_at"]))
            detail = self.store.exams.detail(row["exam_id"]) or {"deductions": []}
            base = {k: row.get(k) for k in ("exam_id", "site", "unit", "status", "item", "score", "candidate", "car")}
            base["ts"] = row["updated_at"]
            new = detail["deductions"][self.deductions_seen.get(row["exam_id"], 0) :]
            self.deductions_seen[row["exam_id"]] = len(detail["deductions"])
            out += [{**base, "deduction": d} for d in new] or [base]
        return out


async def live_stream(
    positions: LivePositions, store: Store, disconnected: Callable[[], Any], now: float
) -> AsyncIterator[str]:
    """The SSE stream: every position as received, and exam changes as the store shows them (every POLL_S)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=2000)

    def put(p: dict[str, Any]) -> None:
        if not queue.full():  # a browser that cannot keep up misses positions, never the process's memory
            queue.put_nowait(p)

    def push(p: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(put, p)

    stop = positions.listen(push)
    changes = ExamChanges(store, now)
    try:
        yield ": live\n\n"
        for p in list(positions.latest.values()):
            yield sse("position", p)
        next_poll, next_beat = time.monotonic(), time.monotonic() + HEARTBEAT_S
        while not await disconnected():
            try:
                p = await asyncio.wait_for(queue.get(), timeout=max(0.0, next_poll - time.monotonic()))
                yield sse("position", p)
                continue
            except TimeoutError:
                pass
            for ev in await asyncio.to_thread(changes.poll):
                yield sse("exam", ev)
            next_poll = time.monotonic() + POLL_S
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_S
                yield ": beat\n\n"
    finally:
        stop()
