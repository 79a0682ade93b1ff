"""Config files for the units the harness starts (tests, benches, the demo): written once here, as a site would.

Each unit's file holds the edge runtime's sections (its broker account, outbox,
telemetry, journal) and its own; what differs between callers is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol


class _Broker(Protocol):
    host: str
    port: int


class _Pki(Protocol):
    @property
    def ca_cert(self) -> Path: ...

    def password_file(self, unit: str) -> Path: ...


def edge_sections_toml(
    broker: _Broker,
    pki: _Pki,
    unit: str,
    journal: Path | None = None,
    resend_after_s: float | None = None,
    telemetry_s: float | None = None,
) -> str:
    """The sections every unit's config has (the edge runtime's); those left None keep their defaults."""
    out = f'''[mqtt]
host = "{broker.host}"
port = {broker.port}
password = {{ file = "{pki.password_file(unit)}" }}
tls = {{ ca_file = "{pki.ca_cert}" }}
'''
    if resend_after_s is not None:
        out += f"\n[outbox]\nresend_after_s = {resend_after_s:g}\n"
    if telemetry_s is not None:
        out += f"\n[telemetry]\ninterval_s = {telemetry_s:g}\n"
    if journal is not None:
        out += f'\n[journal]\npath = "{journal}"\n'
    # the harness runs on machines whose clock need not be NTP-synchronised (tests, the demo)
    out += "\n[clock]\nrequire_sync = false\n"
    return out


def exam_vehicle_toml(
    site: str,
    unit: str,
    broker: _Broker,
    pki: _Pki,
    gnss_url: str,
    board_url: str,
    page_port: int,
    *,
    tracks_dir: Path | str = "var/tracks",
    exam: Mapping[str, str | float] | None = None,
    journal: Path | None = None,
    resend_after_s: float | None = None,
    telemetry_s: float | None = None,
) -> str:
    """An exam vehicle's config: its receiver and vehicle board, the `[exam]` settings given, no loudspeaker."""
    exam_lines = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in (exam or {}).items())
    return f'''site = "{site}"
unit = "{unit}"
tracks_dir = "{tracks_dir}"

{edge_sections_toml(broker, pki, unit, journal, resend_after_s, telemetry_s)}
[gnss]
url = "{gnss_url}"

[vehicle_board]
url = "{board_url}"

[exam]
{exam_lines}
[page]
port = {page_port}

[audio]
enabled = false
'''
