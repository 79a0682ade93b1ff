"""Helpers for the whole-site tests: run vehicles through a real site and compare both sides' records."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from site_sim.run import RunOptions, SiteRun
from site_sim.site import Site
from site_sim.summary import SiteSummary


def run_vehicles(site: Site, opts: RunOptions, log: list[str] | None = None) -> tuple[SiteRun, SiteSummary]:
    lines = log if log is not None else []
    run = SiteRun(site, opts, out=lines.append)
    summary = asyncio.run(run.run())
    return run, summary


def lane_journal_events(site: Site, unit: str) -> list[dict[str, Any]]:
    """Every event in a lane's SQLite journal (read straight from the file, as an auditor would)."""
    parts = next(p for p in site.lane_parts if p.unit == unit)
    with sqlite3.connect(f"file:{parts.root / 'journal.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT seq, ts, kind, case_id, actor, data FROM events ORDER BY seq").fetchall()
    return [
        {"seq": r[0], "ts": r[1], "kind": r[2], "case_id": r[3], "actor": r[4], "data": json.loads(r[5])} for r in rows
    ]


def bridge_events(site: Site, token: str, unit: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with httpx.Client(base_url=site.dashboard_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        while True:
            page = http.get(
                f"/api/units/{unit}/events/unmasked",
                params={"after": events[-1]["seq"] if events else 0, "limit": 10000},
            )
            page.raise_for_status()
            if not page.json():
                return events
            events += page.json()


def audit_verify(site: Site) -> tuple[int, str]:
    """`passlane bridge audit verify` on the site's database with its audit key: (exit status, what it printed)."""
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "bridge",
            "audit",
            "verify",
            "--db",
            str(site.bridge_db),
            "--audit-key-file",
            str(site.audit_key_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.returncode, out.stdout + out.stderr


def comparable(event: dict[str, Any]) -> tuple[Any, ...]:
    return (
        event["seq"],
        round(float(event["ts"]), 6),
        event["kind"],
        event.get("case_id"),
        event.get("actor"),
        json.dumps(event["data"], sort_keys=True, ensure_ascii=False),
    )


def issued_plates(site: Site) -> list[str]:
    """Every plate pair the simulated plate issuers actually produced (the world's record)."""
    texts: list[str] = []
    for parts in site.lane_parts:
        log = parts.root / "world-plate-issuer.jsonl"
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("event") == "plate_issued":
                texts.append(entry["text"])
    return texts


def barrier_safety_violations(site: Site) -> list[dict[str, Any]]:
    """World-log entries where an arm moved down onto a vehicle or a person."""
    bad: list[dict[str, Any]] = []
    for parts in site.lane_parts:
        for line in (parts.root / "world-io-board.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry.get("event") == "arm_struck_presence" or (
                entry.get("event") == "arm_closing" and entry.get("presence")
            ):
                bad.append(entry)
    return bad


def site_root(tmp_path: Path) -> Path:
    return tmp_path / "site"
