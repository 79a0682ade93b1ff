"""The `passlane` command as a new user meets it: `--version`, the top usage line, and help text on every
option and positional of every subcommand."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from edge.cli import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[1]


def passlane(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_version_prints_the_installed_version_and_exits_0() -> None:
    r = passlane("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"passlane {importlib.metadata.version('passlane')}"


def test_top_help_shows_the_usage_with_version_and_command_and_lists_every_command() -> None:
    r = passlane("--help")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == "usage: passlane [-h] [--version] COMMAND ..."
    assert "--version" in r.stdout
    for name in SUBCOMMANDS:
        assert f"\n  {name} " in r.stdout, f"`passlane -h` does not list {name}"


def _parsers(name: str, parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _parsers(f"{name} {sub}", child)


def _without_help(name: str, parser: argparse.ArgumentParser) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions if a.help}
            missing += [f"{name} {sub} (the subcommand)" for sub in action.choices if sub not in helped]
        elif not action.help:
            missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_option_and_positional_of_every_subcommand_has_help_text() -> None:
    missing: list[str] = []
    seen = 0
    for command, (module_name, text) in SUBCOMMANDS.items():
        parser = argparse.ArgumentParser(prog=f"passlane {command}", description=text)
        importlib.import_module(module_name).register(parser)
        for name, sub in _parsers(f"passlane {command}", parser):
            seen += 1
            missing += _without_help(name, sub)
    assert seen > 30  # the walk reached the leaf subcommands
    assert missing == [], "options and positionals without help:\n" + "\n".join(missing)
