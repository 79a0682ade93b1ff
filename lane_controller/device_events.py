"""What the lane does when its boards speak: a vehicle passed a barrier, a device failed or recovered, the issuer progressed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.contract import EventKind
from lane_controller import case as C

if TYPE_CHECKING:
    from lane_controller.runtime import Lane


class DeviceEvents:
    """The lane's `HardwareListener` callbacks, turned into case inputs, journal events and alerts."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane

    async def vehicle_passed(self, barrier: str) -> None:
        """The oldest case waiting for this passage takes it (one vehicle at a time per barrier)."""
        lane = self.lane
        for c in sorted(lane.cases.values(), key=lambda c: c.opened_at):
            if barrier == "entry" and c.stage == C.Stage.RECORDS_FETCHED and c.entry_requested:
                await lane.safe_apply(c.case_id, C.VehiclePassed("entry"))
                break
            if barrier == "exit" and c.stage == C.Stage.EXIT_OPEN:
                await lane.safe_apply(c.case_id, C.VehiclePassed("exit"))
                break
        await lane.refresh_hardware()

    def issue_progress(self, job_id: str, state: str, plates_done: int) -> None:
        lane = self.lane
        for c in lane.cases.values():
            if c.issue_job == job_id and c.stage == C.Stage.PAID:
                lane.waiting[c.case_id] = f"plate issuer: {state}, {plates_done} plate(s) done"
                lane.changes.bump()

    async def device_fault(self, device: str, detail: str, recovered: bool) -> None:
        lane = self.lane
        if recovered:
            lane.alerts.pop(f"device:{device}", None)
            lane.device_state[device] = {"online": True, "detail": ""}
            lane.record(EventKind.DEVICE_RECOVERED, {"device": device})
        else:
            lane.device_state[device] = {"online": False, "detail": detail}
            lane.alert(f"device:{device}", f"{device}: {detail}")
            lane.record(EventKind.DEVICE_FAULT, {"device": device, "detail": detail[:500]})
        lane.changes.bump()
