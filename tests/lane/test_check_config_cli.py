"""`passlane lane check-config` as a new user runs it: the file as a plain argument (or --config), and a
missing site CA or broker password answered with the `passlane pki init` that makes them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edge.pki import SitePki

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "lane_controller" / "lane.example.toml"
SECRETS = {"PASSLANE_UI_SECRET": "a session secret", "PASSLANE_PIN_INSP_1": "1234"}


def check_config(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "lane", "check-config", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **SECRETS},
    )


def _lane_toml(tmp_path: Path, site_dir: Path) -> Path:
    """The example config with its CA and password in `site_dir`, as `passlane pki init site_dir` lays them out."""
    text = EXAMPLE.read_text().replace(
        "/etc/passlane/secrets/lane-01.password", str(site_dir / "secrets" / "lane-01.password")
    )
    cfg = tmp_path / "lane.toml"
    cfg.write_text(text.replace("/etc/passlane/ca.crt", str(site_dir / "ca.crt")))
    return cfg


def test_check_config_takes_the_file_as_a_plain_argument_or_as_config(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    SitePki(site_dir).init("site-1", {"lane-01": "lane"})
    cfg = _lane_toml(tmp_path, site_dir)
    for args in ([str(cfg)], ["--config", str(cfg)]):
        r = check_config(*args)
        assert r.returncode == 0, r.stderr
        assert f"{cfg}: ok (site site-1, unit lane-01" in r.stdout
    r = check_config()
    assert r.returncode == 2 and "LANE_TOML" in r.stderr


def test_a_missing_site_ca_and_password_suggest_the_exact_pki_init_command(tmp_path: Path) -> None:
    r = check_config(str(EXAMPLE))
    assert r.returncode == 1
    assert "mqtt.tls.ca_file: /etc/passlane/ca.crt does not exist" in r.stderr
    assert "passlane pki init /etc/passlane --site site-1 --unit lane-01\n" in r.stderr

    site_dir = tmp_path / "site"
    cfg = _lane_toml(tmp_path, site_dir)
    r = check_config(str(cfg))
    assert r.returncode == 1
    command = f"passlane pki init {site_dir} --site site-1 --unit lane-01"
    assert command in r.stderr
    made = subprocess.run(
        [sys.executable, "-m", "edge.cli", *command.split()[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stdout + made.stderr
    r = check_config(str(cfg))
    assert r.returncode == 0, r.stderr  # the suggested command was all it took
    assert "pki init" not in r.stderr


def test_no_pki_hint_when_only_other_secrets_are_missing(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    SitePki(site_dir).init("site-1", {"lane-01": "lane"})
    cfg = _lane_toml(tmp_path, site_dir)
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "lane", "check-config", "--config", str(cfg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in SECRETS},
    )
    assert r.returncode == 1 and "inspectors.0.pin" in r.stderr
    assert "pki init" not in r.stderr
