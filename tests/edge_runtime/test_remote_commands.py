"""Remote commands: only listed ones, expiry honoured, answered, journaled, never executed twice."""

from __future__ import annotations

import time

import pytest

from edge.contract import CommandName, CommandStatus, RemoteCommand
from edge.remote_commands import CommandDispatcher

from rt_helpers import wait_until

pytestmark = pytest.mark.broker


def _cmd(name: CommandName, rid: str, expires_in: float = 60, **args) -> RemoteCommand:
    now = time.time()
    return RemoteCommand(request_id=rid, command=name, args=args, issued_by="ops-1", reason="test", issued_at=now, expires_at=now + expires_in)


def test_commands_are_answered_journaled_and_never_run_twice(journal, session, cloud):
    runs = []

    def open_barrier(cmd):
        runs.append(cmd.request_id)
        return CommandStatus.DONE, "opened", {}

    d = CommandDispatcher(journal, session, {CommandName.OPEN_BARRIER: open_barrier})
    d.attach()
    cloud.send_command("lane-01", _cmd(CommandName.OPEN_BARRIER, "req-00000001", barrier="exit"))
    wait_until(lambda: any(r.request_id == "req-00000001" for r in cloud.command_results), 10, "result")
    cloud.send_command("lane-01", _cmd(CommandName.OPEN_BARRIER, "req-00000001", barrier="exit"))  # a repeat
    cloud.send_command("lane-01", _cmd(CommandName.SEND_DIAGNOSTICS, "req-00000002"))  # not listed on this unit
    cloud.send_command("lane-01", _cmd(CommandName.OPEN_BARRIER, "req-00000003", expires_in=-1, barrier="exit"))
    wait_until(lambda: len(cloud.command_results) >= 4, 10, "all results")
    by_id = {}
    for r in cloud.command_results:
        by_id.setdefault(r.request_id, []).append(r.status.value)
    assert runs == ["req-00000001"]
    assert by_id["req-00000001"] == ["done", "done"]
    assert by_id["req-00000002"] == ["refused"] and by_id["req-00000003"] == ["expired"]
    kinds = [e for e in journal.events() if e["kind"] == "command.executed"]
    assert {e["data"]["request_id"] for e in kinds} == {"req-00000001", "req-00000002", "req-00000003"}
    assert journal.command("req-00000001")["status"] == "done"
