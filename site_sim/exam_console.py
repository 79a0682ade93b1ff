"""What the operator does at the exam console, through its JSON API (docs/exam-site.md, "Console API").

Import the day's candidates (CSV), check a candidate in by ID number, start a
checked-in candidate on a free car (the bridge makes the exam id and sends
`start_exam`), and sign the result off. The same requests the console's pages
make; here a simulated person makes them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any, Protocol

import httpx


class _Candidate(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def id_number(self) -> str: ...


class Console:
    """The console API of one bridge, with the operator's bearer token."""

    def __init__(self, http: httpx.Client, patience_s: float = 60.0) -> None:
        self.http = http
        self.patience_s = patience_s
        self._ids: dict[str, str] = {}  # ID number -> candidate id

    def _request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request; while the bridge is down (restarting) the operator tries again, as a person reloads a page."""
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                return self.http.request(method, url, **kw)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)  # a person's pause before trying again

    @staticmethod
    def served(http: httpx.Client) -> bool:
        """Whether this bridge serves the console API (it is being built beside this simulation)."""
        try:
            return http.get("/api/exam/cars").status_code == 200
        except httpx.HTTPError:
            return False

    def import_day(self, candidates: Iterable[_Candidate], licence: str = "C1") -> int:
        """The day's bookings as one CSV (all or nothing); booked now, local time."""
        booked = dt.datetime.now().replace(second=0, microsecond=0).isoformat(timespec="minutes")
        rows = ["name,id_number,licence_class,booking_time"]
        rows += [f"{c.name},{c.id_number},{licence},{booked}" for c in candidates]
        resp = self._request(
            "POST",
            "/api/exam/candidates/import",
            content=("\n".join(rows) + "\n").encode(),
            headers={"Content-Type": "text/csv"},
        )
        if resp.status_code != 200:
            raise RuntimeError(f"candidates import refused: {resp.status_code} {resp.text[:500]}")
        return int(resp.json()["imported"])

    def check_in(self, cand: _Candidate) -> None:
        """Check in today's booking; the candidate is started under that booking (not another day's)."""
        resp = self._request("POST", "/api/exam/check-in", json={"id_number": cand.id_number})
        if resp.status_code == 200:
            self._ids[cand.id_number] = str(resp.json()["candidate_id"])
        elif resp.status_code != 409:  # 409: already checked in (a retake after an interruption)
            raise RuntimeError(f"check-in of {cand.name} refused: {resp.status_code} {resp.text[:300]}")

    def _candidate_id(self, cand: _Candidate) -> str:
        if cand.id_number not in self._ids:
            for row in self._request("GET", "/api/exam/candidates").json():
                self._ids[row["id_number"]] = row["candidate_id"]
        return self._ids[cand.id_number]

    def start(self, cand: _Candidate, car: str) -> str:
        """Start the candidate on `car`; the exam id the bridge made (raises httpx.HTTPStatusError when refused)."""
        resp = self._request("POST", f"/api/exam/candidates/{self._candidate_id(cand)}/start", json={"car": car})
        resp.raise_for_status()
        return str(resp.json()["exam_id"])

    def sign_off(self, exam_id: str, note: str = "", within_s: float = 15.0) -> bool:
        """The examiner's sign-off, once the bridge has the result (it may be a moment behind the car)."""
        deadline = time.monotonic() + within_s
        while True:
            resp = self._request("POST", f"/api/exam/exams/{exam_id}/sign-off", json={"note": note})
            if resp.status_code == 200 or time.monotonic() > deadline:
                return resp.status_code == 200
            time.sleep(0.5)

    def exam(self, exam_id: str) -> dict[str, Any] | None:
        resp = self._request("GET", f"/api/exam/exams/{exam_id}")
        return resp.json() if resp.status_code == 200 else None
