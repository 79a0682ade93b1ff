"""Issuing plates waits on the issuer's own reports (each plate made, the job done), not on a fixed poll:
with the fallback poll set to a minute, a pair of plates at 50x is still issued within seconds."""

from __future__ import annotations

import asyncio
import time

from edge.contract import PlateKind
from lane_controller import hardware
from lane_controller.hardware import BoardHardware


class _Listener:
    def __init__(self) -> None:
        self.progress: list[tuple[str, str, int]] = []
        self.faults: list[tuple[str, str, bool]] = []

    async def vehicle_passed(self, barrier: str) -> None:
        pass

    async def device_fault(self, device: str, detail: str, recovered: bool) -> None:
        self.faults.append((device, detail, recovered))

    def issue_progress(self, job_id: str, state: str, plates_done: int) -> None:
        self.progress.append((job_id, state, plates_done))


def test_a_finished_job_is_noticed_from_the_issuers_report_not_the_fallback_poll(boards, monkeypatch):
    monkeypatch.setattr(hardware, "JOB_POLL_S", 60.0)
    io, issuer = boards
    listener = _Listener()

    async def main() -> float:
        hw = BoardHardware(io.url, issuer.url, issue_timeout_s=120.0)
        await hw.start(listener)
        try:
            t0 = time.monotonic()
            await asyncio.wait_for(hw.issue("job-reports-1", PlateKind.ORDINARY, "苏A12345"), 30)
            return time.monotonic() - t0
        finally:
            await hw.close()

    took = asyncio.run(main())
    assert took < 30  # a poll-only wait would have taken the full minute
    assert ("job-reports-1", "done", 2) in listener.progress
    assert not listener.faults
    made = [p for p in issuer.control().state()["issued"] if p["text"] == "苏A12345"]
    assert len(made) == 2
