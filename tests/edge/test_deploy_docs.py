"""docs/deploy.md promises no command that does not exist, links only to files that do, and names every shipped file."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

from edge.cli import SUBCOMMANDS

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "deploy.md"
# `passlane` followed by its words: a command, then subcommands, up to the first option or argument
COMMAND = re.compile(r"(?:^|[\s`/])passlane((?: [a-z][a-z-]*)+)")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_exists(words: list[str]) -> bool:
    """Whether `passlane WORDS...` names a registered command (words past a leaf are its arguments)."""
    if words[0] not in SUBCOMMANDS:
        return False
    parser = argparse.ArgumentParser()
    importlib.import_module(SUBCOMMANDS[words[0]][0]).register(parser)
    for word in words[1:]:
        choices = _subcommands(parser)
        if not choices:
            return True  # a leaf: the rest are its arguments
        if word not in choices:
            return False
        parser = choices[word]
    return True


def named_commands(text: str) -> list[list[str]]:
    """Each `passlane ...` the text names, as words (`sudo -u passlane passlane lane ...`: the user name dropped)."""
    out = []
    for m in COMMAND.finditer(text):
        words = m.group(1).split()
        while words and words[0] == "passlane":
            words.pop(0)
        if words and words[0] in SUBCOMMANDS:
            out.append(words)
    return out


def test_every_passlane_command_the_page_names_exists() -> None:
    commands = named_commands(DOC.read_text())
    assert {"lane", "exam", "bridge", "pki"} <= {c[0] for c in commands}
    assert ["bridge", "init-db", "--config"][:2] in [c[:2] for c in commands]
    assert [" ".join(c) for c in commands if not command_exists(c)] == []
    # the check sees what does not exist
    assert not command_exists(["lane", "no-such-command"])
    assert named_commands("run `passlane sim nothing` then passlane vin") == [["sim", "nothing"], ["vin"]]
    assert not command_exists(["sim", "nothing"])


def test_every_relative_link_resolves_and_every_shipped_file_is_named() -> None:
    text = DOC.read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (DOC.parent / target).exists(), target
    for shipped in (REPO / "deploy").rglob("*"):
        if shipped.is_file():
            assert str(shipped.relative_to(REPO)) in text, f"{shipped} is not described in docs/deploy.md"
