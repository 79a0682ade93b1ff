"""What the exam console and central ops may ask a test car remotely: start an exam, end it, send diagnostics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from edge.contract import CASE_ID_RE, CommandName, CommandStatus, RemoteCommand

if TYPE_CHECKING:
    from exam_vehicle.unit import ExamUnit

Outcome = tuple[CommandStatus, str, dict[str, Any]]


class ExamCommands:
    """The handlers; they run on the dispatcher's thread and act on the unit's loop."""

    def __init__(self, unit: ExamUnit) -> None:
        self.unit = unit

    def handlers(self) -> dict[CommandName, Callable[[RemoteCommand], Outcome]]:
        return {
            CommandName.START_EXAM: self.start_exam,
            CommandName.END_EXAM: self.end_exam,
            CommandName.SEND_DIAGNOSTICS: self.diagnostics,
        }

    def _on_loop(self, fn: Callable[[], Any], timeout: float = 15.0) -> Any:
        assert self.unit.loop is not None

        async def call() -> Any:
            return fn()

        coro: Coroutine[Any, Any, Any] = call()
        return asyncio.run_coroutine_threadsafe(coro, self.unit.loop).result(timeout)

    def start_exam(self, cmd: RemoteCommand) -> Outcome:
        from exam_vehicle.unit import ExamRefused

        candidate, exam_id = cmd.args.get("candidate"), cmd.args.get("exam_id")
        if not isinstance(candidate, str) or not 0 < len(candidate) <= 64:
            return CommandStatus.REFUSED, "args.candidate: the candidate (at most 64 characters) is required", {}
        if exam_id is not None and (
            not isinstance(exam_id, str)
            or not CASE_ID_RE.match(exam_id)
            or not exam_id.startswith(self.unit.cfg.unit + "-")
        ):
            return CommandStatus.REFUSED, f"args.exam_id: an exam id of this unit ({self.unit.cfg.unit}-yymmdd-hex)", {}
        try:
            started = self._on_loop(lambda: self.unit.start_exam(candidate, exam_id))
        except ExamRefused as exc:
            return CommandStatus.REFUSED, str(exc), {}
        return CommandStatus.DONE, f"exam {started} started", {"exam_id": started}

    def end_exam(self, cmd: RemoteCommand) -> Outcome:
        from exam_vehicle.unit import ExamRefused

        try:
            self._on_loop(self.unit.end_exam)
        except ExamRefused as exc:
            return CommandStatus.REFUSED, str(exc), {}
        return CommandStatus.DONE, "exam ended", {}

    def diagnostics(self, cmd: RemoteCommand) -> Outcome:
        return CommandStatus.DONE, "diagnostics attached", {"status": self._on_loop(self.unit.status)}
