"""A lane whose disk fills up (a real 4 MiB tmpfs): no new case, a clear alert and telemetry, nothing journaled
lost, and cases again by themselves once space returns. Also the SQLite settings docs/deploy.md states, read back
from the running journal's own connection."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lane_helpers import await_until, lane_config

from edge.doctor import Status, journal_result
from edge.journal import PRAGMAS
from edge.unit_config import StorageConfig
from lane_controller import case as C
from lane_controller.hardware import BoardHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading

pytestmark = pytest.mark.broker


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (needs root and CAP_SYS_ADMIN: skipped with the reason otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk says no more (ENOSPC)."""
    filler = folder / "filler.bin"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)
    return filler


def test_the_running_journal_uses_wal_and_synchronous_full(tmp_path):
    """What docs/deploy.md says, read from a real Journal's own connection and (journal_mode) from the file."""
    from edge.journal import Journal

    journal = Journal(tmp_path / "lane.sqlite", "lane-01")
    try:
        assert journal.pragmas() == {
            "journal_mode": "wal",
            "synchronous": 2,
            "journal_size_limit": 64 << 20,
            "cache_size": -1024,
        }
        assert journal.pragmas() == PRAGMAS
    finally:
        journal.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "lane.sqlite")) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # WAL is a property of the file


@pytest.mark.parametrize(
    ("min_free_mb", "resume_free_mb", "refusal"),
    [
        (1.0, 1.5, "no new case"),  # the guard's threshold refuses before SQLite would have to
        (0.0, 0.0, "not saved"),  # no threshold: SQLite itself finds no room, and the whole step is refused
    ],
    ids=["threshold", "sqlite-full"],
)
def test_a_full_disk_stops_new_cases_keeps_the_journal_and_recovers_when_space_returns(
    tmp_path, mqtt_broker, site_pki, cloud, boards, min_free_mb, resume_free_mb, refusal
):
    io, issuer = boards
    with small_disk(tmp_path / "disk") as disk:
        cfg = lane_config(
            disk, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
        )
        cfg = cfg.model_copy(
            update={
                "storage": StorageConfig(min_free_mb=min_free_mb, resume_free_mb=resume_free_mb, sweep_interval_s=0.2)
            }
        )
        owner = cloud.good[0].owner_id_number

        async def main() -> None:
            lane = Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=VinReading(load=False))
            await lane.start()
            try:
                assert lane.journal.pragmas() == PRAGMAS  # the running lane's journal: WAL, synchronous=FULL
                first = (await lane.open_case("A", owner, None, "insp-1")).case_id
                await await_until(lambda: lane.cases[first].stage == C.Stage.RECORDS_FETCHED, 15, "partner records")
                await lane.apply(first, C.Abort("driver left"), "insp-1")
                await await_until(lambda: first not in lane.cases, 10, "case closed")
                before = lane.journal.events(limit=100000)

                filler = await asyncio.to_thread(fill, disk)
                with pytest.raises(C.Refused, match="disk full") as refused:
                    await lane.open_case("A", owner, None, "insp-1")
                assert refusal in refused.value.reason
                assert "disk full" in lane.alerts["disk:full"]["text"]  # the tablet's alert banner
                assert lane.telemetry_sample(0).disk_full is True
                assert lane.journal.events(limit=100000) == before  # nothing journaled was touched
                assert lane.journal.case(first) is not None and not lane.journal.case(first).open

                filler.unlink()  # the technician frees space; the lane is not restarted
                second = (await lane.open_case("A", owner, None, "insp-1")).case_id
                assert "disk:full" not in lane.alerts
                assert lane.telemetry_sample(0).disk_full is False
                after = lane.journal.events(limit=100000)
                assert after[: len(before)] == before and after[len(before)]["case_id"] == second
                await await_until(
                    lambda: lane.journal.outbox_depth() == 0 and lane.journal.acked_seq() == lane.journal.last_seq(),
                    20,
                    "every event, those from before the disk filled too, acknowledged by the bridge",
                )
            finally:
                await lane.stop()
            assert journal_result(cfg.journal.path, cfg.unit).status is Status.OK  # the hash chain verifies

        asyncio.run(main())


def test_the_running_lane_deletes_a_closed_delivered_cases_old_photos_and_keeps_an_open_cases(
    tmp_path, mqtt_broker, site_pki, cloud, boards
):
    io, issuer = boards
    cfg = lane_config(
        tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
    )
    cfg = cfg.model_copy(update={"storage": StorageConfig(max_age_days=1, sweep_interval_s=0.2)})
    owner = cloud.good[0].owner_id_number

    def old_photo(case_id: str) -> Path:
        path = cfg.journal.path.parent / "photos" / case_id / "0111-1.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8photo")
        os.utime(path, (1.0e9, 1.0e9))  # taken in 2001: far older than max_age_days
        return path

    async def main() -> None:
        lane = Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=VinReading(load=False))
        await lane.start()
        try:
            closed = (await lane.open_case("A", owner, None, "insp-1")).case_id
            await await_until(lambda: lane.cases[closed].stage == C.Stage.RECORDS_FETCHED, 15, "partner records")
            await lane.apply(closed, C.Abort("driver left"), "insp-1")
            still_open = (await lane.open_case("A", owner, None, "insp-1")).case_id
            closed_photo, open_photo = old_photo(closed), old_photo(still_open)
            await await_until(lambda: not closed_photo.exists(), 20, "the closed, acknowledged case's photo deleted")
            assert lane.journal.delivered(closed, closed=True)
            assert not closed_photo.parent.exists(), "its emptied case folder too"
            swept = await asyncio.to_thread(lane.upkeep.sweep_photos)  # one more sweep, surely after the first
            assert open_photo.exists() and swept.kept_undelivered == 1, "an open case's photos are never deleted"
        finally:
            await lane.stop()

    asyncio.run(main())
