"""What central ops may ask a lane to do remotely (`RemoteCommand`s), each refused, done or failed with a reason."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from edge.config import load_config
from edge.contract import CommandName, CommandStatus, EventKind, RemoteCommand
from edge.journal import NewEvent
from lane_controller.hardware import HardwareFault

if TYPE_CHECKING:
    from lane_controller.runtime import Lane

Outcome = tuple[CommandStatus, str, dict[str, Any]]


class LaneCommands:
    """The handlers of the commands a lane accepts; they run on the dispatcher's thread and reach the lane's loop."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane

    def handlers(self) -> dict[CommandName, Callable[[RemoteCommand], Outcome]]:
        return {
            CommandName.OPEN_BARRIER: self.open_barrier,
            CommandName.RELOAD_CONFIG: self.reload_config,
            CommandName.SEND_DIAGNOSTICS: self.send_diagnostics,
        }

    def _on_loop(self, coro: Coroutine[Any, Any, Any], timeout: float = 15.0) -> Any:
        assert self.lane.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.lane.loop).result(timeout)

    def open_barrier(self, cmd: RemoteCommand) -> Outcome:
        barrier = cmd.args.get("barrier")
        if barrier not in ("entry", "exit"):
            return CommandStatus.REFUSED, "args.barrier must be entry or exit", {}
        try:
            self._on_loop(self.lane.hw.open_barrier(barrier))
        except HardwareFault as f:
            return CommandStatus.FAILED, str(f), {}
        self.lane.journal.record(
            [
                NewEvent(
                    EventKind.BARRIER_ACTUATED,
                    actor=cmd.issued_by,
                    ts=self.lane.clock(),
                    data={"barrier": barrier, "command": "open", "remote": True, "reason": cmd.reason},
                )
            ]
        )
        self._on_loop(self.lane.refresh_hardware())
        return CommandStatus.DONE, f"{barrier} barrier opened", {}

    def reload_config(self, cmd: RemoteCommand) -> Outcome:
        lane = self.lane
        if lane.config_path is None:
            return CommandStatus.REFUSED, "the lane was not started from a config file", {}
        new = load_config(lane.config_path)
        fixed = (lane.cfg.site, lane.cfg.unit, lane.cfg.mqtt.host, lane.cfg.mqtt.port, lane.cfg.journal.path)
        if (new.site, new.unit, new.mqtt.host, new.mqtt.port, new.journal.path) != fixed:
            return CommandStatus.REFUSED, "site, unit, broker and journal changes need a restart", {}
        lane.reconfigure(new)
        return CommandStatus.DONE, "config reloaded (inspectors, inspection rules, plates, telemetry)", {}

    def send_diagnostics(self, cmd: RemoteCommand) -> Outcome:
        async def snapshot() -> dict[str, Any]:
            return self.lane.overview()

        return (
            CommandStatus.DONE,
            "diagnostics attached",
            {"overview": self._on_loop(snapshot()), "telemetry": self.lane.telemetry_sample(0).model_dump(mode="json")},
        )
