"""docs/exam-judging.md against the code it describes: every rule with its cost and wording, every driver profile; the code's shape."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from judge_helpers import rules

from site_sim.exam_car import PROFILES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "exam-judging.md").read_text(encoding="utf-8")


def test_every_rule_of_the_shipped_tables_is_in_the_doc_with_its_points_and_wording() -> None:
    items = {"general", *rules("c1-2022").items}
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r"^\| `([a-z0-9-]+)` \| ([a-z_]+) \|.*$", DOC, re.MULTILINE)
        if m.group(2) in items
    }
    for name in ("c1-2022", "c2-2022"):
        for r in rules(name).rule:
            row = rows.get(r.id)
            assert row is not None, f"{r.id} is not in docs/exam-judging.md"
            cells = [c.strip() for c in row.split("|")]
            assert cells[3] == ("fail" if r.points == "fail" else f"-{r.points}"), r.id
            assert cells[4] == r.wording or r.id == "engine-start-in-gear", r.id


def test_every_driver_profile_is_in_the_doc() -> None:
    for name in PROFILES:
        assert f"`{name}`" in DOC, f"profile {name} is not in docs/exam-judging.md"


def test_no_exam_vehicle_function_over_80_lines_and_no_class_over_about_300() -> None:
    too_long = []
    for path in sorted((ROOT / "exam_vehicle").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > (320 if isinstance(node, ast.ClassDef) else 80):
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []
