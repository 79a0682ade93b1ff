"""`passlane bundle`: a self-contained folder that installs PassLane on a unit with no network (docs/deploy.md).

Built on a machine with access to the package registry, for one architecture: the project's wheel,
every dependency as binary wheels for Linux on that architecture and the Python of Debian 12 (3.11)
and 13 (3.13), the firmware, the systemd units, the udev rules, the broker config and `install.sh`.
Binary wheels only (`--only-binary :all:`): a dependency without a wheel for the target fails here,
on the build machine, and not on a site without internet.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHONS = ("3.11", "3.13")  # Debian 12 bookworm, Debian 13 trixie
GLIBC_MINOR = 36  # Debian 12's glibc 2.36 (Debian 13 has 2.41): wheels for up to manylinux_2_36 run on both
ARCHES = ("aarch64", "x86_64")
ROLE_EXTRAS = {"lane": "edge", "exam-vehicle": "edge,exam", "bridge": "cloud"}


class BundleError(Exception):
    """The bundle cannot be built: a dependency has no wheel for the target, or a build step failed."""


def platform_tags(arch: str) -> list[str]:
    """The manylinux tags a Debian 12/13 machine of `arch` accepts (pip does not expand them from one)."""
    oldest = 17 if arch == "aarch64" else 5
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, oldest - 1, -1)]
    legacy = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
    return tags + [f"{name}_{arch}" for name, minor in legacy.items() if minor >= oldest]


def requirements(extras: str = "edge,exam,cloud") -> list[str]:
    """The project's runtime requirements for these extras, read from pyproject.toml (the one list)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras.split(","):
        reqs += project["optional-dependencies"][extra]
    return sorted(set(reqs))


def _target_args(arch: str, python: str) -> list[str]:
    nodot = python.replace(".", "")
    args = ["--only-binary", ":all:", "--implementation", "cp", "--python-version", python, "--abi", f"cp{nodot}"]
    for tag in platform_tags(arch):
        args += ["--platform", tag]
    return args


def _pip(args: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise BundleError(f"pip {args[0]} failed:\n{tail}")
    return result


def resolve(arch: str, python: str, reqs: list[str]) -> dict[str, str]:
    """name -> version of every wheel the target needs, resolved against the registry without downloading them."""
    report = json.loads(
        _pip(
            ["install", "--dry-run", "--quiet", "--ignore-installed", "--report", "-", *_target_args(arch, python)]
            + ["--target", "/nonexistent-bundle-target", *reqs]
        ).stdout
    )
    names = (re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower() for item in report["install"])  # PEP 503
    return dict(zip(names, (item["metadata"]["version"] for item in report["install"])))


def download(arch: str, python: str, reqs: list[str], dest: Path) -> None:
    """The wheels themselves, into `dest` (pip skips those already there)."""
    _pip(["download", "--quiet", "--dest", str(dest), *_target_args(arch, python), *reqs])


def _copy_tree_files(src: Path, dest: Path, pattern: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob(pattern)):
        if path.is_file():
            shutil.copy2(path, dest / path.name)


def build(arch: str, out: Path, *, pythons: tuple[str, ...] = PYTHONS, extras: str = "edge,exam,cloud") -> Path:
    """Write the bundle into `out`: by default every role's wheels for both Debian Pythons (tests narrow it)."""
    if arch not in ARCHES:
        raise BundleError(f"unknown architecture {arch!r}: one of {', '.join(ARCHES)}")
    out.mkdir(parents=True, exist_ok=True)
    wheel_dir = out / "wheels"
    wheel_dir.mkdir(exist_ok=True)
    _pip(["wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheel_dir), str(REPO)])
    for python in pythons:
        download(arch, python, requirements(extras), wheel_dir)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    (out / "VERSION").write_text(version + "\n")
    (out / "ARCH").write_text(arch + "\n")
    _copy_tree_files(REPO / "deploy" / "systemd", out / "systemd", "*.service")
    _copy_tree_files(REPO / "deploy" / "systemd", out / "systemd", "*.timer")
    _copy_tree_files(REPO / "deploy" / "udev", out / "udev", "*.rules")
    _copy_tree_files(REPO / "deploy" / "mosquitto", out / "mosquitto", "*.conf")
    _copy_tree_files(REPO / "firmware", out / "firmware", "*.py")
    shutil.copy2(REPO / "firmware" / "README.md", out / "firmware" / "README.md")
    shutil.copy2(REPO / "docs" / "deploy.md", out / "deploy.md")
    install = out / "install.sh"
    shutil.copy2(REPO / "deploy" / "install.sh", install)
    install.chmod(0o755)
    return out


def _cmd(ns: argparse.Namespace) -> int:
    try:
        out = build(ns.arch, ns.out)
    except BundleError as exc:
        print(f"passlane bundle: {exc}", file=sys.stderr)
        return 1
    count = len(list((out / "wheels").glob("*.whl")))
    print(f"bundle for {ns.arch} in {out}: {count} wheels; install with: sudo {out}/install.sh --role lane")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True, choices=ARCHES, help="the units' architecture (a Pi: aarch64)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the bundle into")
    parser.set_defaults(func=_cmd)
