"""The offline bundle (`passlane bundle`, edge/bundle.py, deploy/install.sh).

Resolves the whole aarch64 dependency set for Debian 12's and 13's Python against the package
registry, binary wheels only, so a dependency without an arm64 wheel fails here; builds a bundle
for this machine, installs it into a scratch root with no index, and runs the installed
`passlane lane check-config`.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from edge.bundle import PYTHONS, build, platform_tags, requirements, resolve
from edge.pki import SitePki

REPO = Path(__file__).resolve().parents[2]


def test_platform_tags_cover_debian_12s_glibc_down_to_manylinux2014() -> None:
    tags = platform_tags("aarch64")
    assert tags[0] == "manylinux_2_36_aarch64" and "manylinux_2_17_aarch64" in tags
    assert "manylinux2014_aarch64" in tags and "manylinux_2_38_aarch64" not in tags
    assert "manylinux1_x86_64" in platform_tags("x86_64")


@pytest.mark.parametrize("python", PYTHONS)
def test_every_role_resolves_to_binary_wheels_for_aarch64(python: str) -> None:
    """A Pi (arm64, Debian 12 or 13) can install every role offline: every dependency has a wheel for it."""
    wanted = resolve("aarch64", python, requirements("edge,exam,cloud"))
    for name in ("onnxruntime", "opencv-python-headless", "numpy", "pydantic-core", "shapely", "psycopg-binary"):
        assert name in wanted, f"{name} missing from the aarch64 set for Python {python}"


def _lane_config(tmp: Path, pki: SitePki) -> Path:
    text = (REPO / "lane_controller" / "lane.example.toml").read_text()
    text = text.replace("/etc/passlane/secrets/lane-01.password", str(pki.password_file("lane-01")))
    text = text.replace("/etc/passlane/ca.crt", str(pki.ca_cert))
    text = text.replace("/var/lib/passlane/lane.sqlite", str(tmp / "lane.sqlite"))
    path = tmp / "lane.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_a_bundle_installs_into_a_scratch_root_and_its_passlane_checks_a_config(tmp_path: Path) -> None:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    bundle = build(platform.machine(), tmp_path / "bundle", pythons=(here,), extras="edge")
    assert {p.name for p in bundle.iterdir()} >= {"wheels", "systemd", "udev", "firmware", "install.sh", "VERSION"}
    root = tmp_path / "root"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env["PIP_NO_INDEX"] = "1"  # offline: pip may not ask the registry for anything
    done = subprocess.run(
        [str(bundle / "install.sh"), "--role", "lane", "--root", str(root), "--python", sys.executable],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = (bundle / "VERSION").read_text().strip()
    assert os.readlink(root / "opt/passlane/current") == version
    assert (root / "etc/systemd/system/passlane-lane.service").exists()
    assert (root / "etc/udev/rules.d/99-passlane.rules").exists()
    assert (root / f"opt/passlane/{version}/share/passlane/firmware/main.py").exists()
    unit = (root / "etc/systemd/system/passlane-lane.service").read_text()
    documentation = unit.split("Documentation=file:")[1].split()[0]
    assert (root / documentation.lstrip("/")).exists(), f"the unit's Documentation= {documentation} is not installed"

    pki = SitePki(tmp_path / "site")
    pki.init("site-1", {"bridge": "bridge", "ops": "ops", "lane-01": "lane"})
    config = _lane_config(tmp_path, pki)
    secrets = {"PASSLANE_UI_SECRET": "s" * 32, "PASSLANE_PIN_INSP_1": "1234", "PASSLANE_PIN_INSP_2": "5678"}
    checked = subprocess.run(
        [str(root / "opt/passlane/current/bin/passlane"), "lane", "check-config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **secrets},
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok (site site-1, unit lane-01" in checked.stdout
