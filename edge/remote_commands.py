"""Remote commands from the cloud: only listed commands, each with a request id and expiry.

Every command is answered with a CommandResult on ``cmd/result`` and recorded
in the journal (table ``commands`` plus a ``command.executed`` business event).
A repeated request id is answered with the recorded result, never executed twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edge.contract import CommandName, CommandResult, CommandStatus, EventKind, Leaf, RemoteCommand
from edge.journal import Journal, NewEvent

log = logging.getLogger("passlane.commands")

# a handler returns (status, detail, data); it may block (it runs in its own thread)
Handler = Callable[[RemoteCommand], tuple[CommandStatus, str, dict[str, Any]]]


class CommandDispatcher:
    def __init__(
        self,
        journal: Journal,
        session: Any,
        handlers: dict[CommandName, Handler],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.journal = journal
        self.session = session
        self.handlers = handlers
        self.clock = clock
        self.results: list[CommandResult] = []

    def attach(self) -> None:
        self.session.on_command.append(self.receive)

    def receive(self, cmd: RemoteCommand) -> None:
        threading.Thread(target=self.handle, args=(cmd,), name=f"cmd-{cmd.request_id}", daemon=True).start()

    def handle(self, cmd: RemoteCommand) -> CommandResult:
        now = self.clock()
        seen = self.journal.command(cmd.request_id)
        if seen is not None and seen["status"] != "running":
            res = CommandResult(
                unit=self.journal.unit,
                request_id=cmd.request_id,
                command=cmd.command,
                status=CommandStatus(seen["status"]),
                detail=seen["detail"][:900] + " (repeat: not executed again)",
                ts=now,
            )
            return self._answer(res)
        data: dict[str, Any]
        if now > cmd.expires_at:
            status, detail, data = CommandStatus.EXPIRED, f"expired {now - cmd.expires_at:.0f} s ago", {}
        elif cmd.command not in self.handlers:
            status, detail, data = CommandStatus.REFUSED, f"{cmd.command} is not allowed on this unit", {}
        else:
            self.journal.record_command(
                cmd.request_id, cmd.command.value, "running", "", cmd.model_dump(mode="json"), now
            )
            try:
                status, detail, data = self.handlers[cmd.command](cmd)
            except Exception as exc:
                log.exception("command %s failed", cmd.command)
                status, detail, data = CommandStatus.FAILED, str(exc) or type(exc).__name__, {}
        detail = detail[:1000]  # an exception's text can be long; the contract bounds it
        done = self.clock()
        ev = NewEvent(
            EventKind.COMMAND_EXECUTED,
            actor=cmd.issued_by,
            ts=done,
            data={
                "request_id": cmd.request_id,
                "command": cmd.command.value,
                "args": cmd.args,
                "reason": cmd.reason,
                "status": status.value,
                "detail": detail,
            },
        )
        self.journal.record_command(
            cmd.request_id,
            cmd.command.value,
            status.value,
            detail,
            {"command": cmd.model_dump(mode="json"), "data": data},
            done,
            events=[ev],
        )
        res = CommandResult(
            unit=self.journal.unit,
            request_id=cmd.request_id,
            command=cmd.command,
            status=status,
            detail=detail,
            ts=done,
            data=data,
        )
        return self._answer(res)

    def _answer(self, res: CommandResult) -> CommandResult:
        self.results.append(res)
        if self.session is not None:
            self.session.publish(Leaf.CMD_RESULT, res)
        return res
