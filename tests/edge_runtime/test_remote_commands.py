"""Remote commands: only listed ones, expiry honoured, answered, journaled, never executed twice."""

from __future__ import annotations

import pytest
from rt_helpers import SITE, wait_until

from edge.contract import CommandName, CommandStatus, Leaf, topic
from edge.remote_commands import CommandDispatcher

pytestmark = pytest.mark.broker


def test_commands_are_answered_journaled_and_never_run_twice(journal, session, cloud):
    """Commands come from the real bridge; a redelivered command (same request id) is answered again, not re-run."""
    runs = []

    def open_barrier(cmd):
        runs.append(cmd.request_id)
        return CommandStatus.DONE, "opened", {}

    d = CommandDispatcher(journal, session, {CommandName.OPEN_BARRIER: open_barrier})
    d.attach()

    def status(rid: str):
        return next((c["status"] for c in cloud.storage.commands.recent() if c["request_id"] == rid), None)

    first = cloud.service.send_command(SITE, "lane-01", CommandName.OPEN_BARRIER, {"barrier": "exit"}, "ops-1", "test")
    wait_until(lambda: status(first.request_id) == "done", 15, "result stored by the bridge")
    cloud.service.publish(
        topic(SITE, "lane-01", Leaf.CMD), first.to_bytes(), 1, False
    )  # a redelivery of the same command
    unlisted = cloud.service.send_command(
        SITE, "lane-01", CommandName.SEND_DIAGNOSTICS, {}, "ops-1", "test"
    )  # not listed on this unit
    expired = cloud.service.send_command(
        SITE, "lane-01", CommandName.OPEN_BARRIER, {"barrier": "exit"}, "ops-1", "test", ttl_s=-1
    )
    wait_until(
        lambda: status(unlisted.request_id) == "refused" and status(expired.request_id) == "expired", 15, "all results"
    )
    wait_until(lambda: len([e for e in journal.events() if e["kind"] == "command.executed"]) >= 3, 10, "journaled")
    assert runs == [first.request_id]
    kinds = [e for e in journal.events() if e["kind"] == "command.executed"]
    assert {e["data"]["request_id"] for e in kinds} == {first.request_id, unlisted.request_id, expired.request_id}
    assert journal.command(first.request_id)["status"] == "done"
