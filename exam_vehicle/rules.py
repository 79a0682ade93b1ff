"""The versioned rules table: every threshold the judge uses, with the standard's wording, in one TOML file.

`exam_vehicle/rules/c1-2022.toml` and `c2-2022.toml` ship with PassLane (GA 1026-2022 /
GA/T 1028.3-2022 as `docs/exam-judging.md` cites them). A table names its `version`, and
every result the judge gives names it too. Each `[[rule]]` has an id, the item it belongs to
(or ``general``), the standard's wording in Chinese, what it costs (points deducted, or
``"fail"``) and its parameters; `[judging]` holds how the judge reads the car (stopped,
moving, how many epochs confirm a line), `[validity]` when a run cannot be judged at all.
Which rules exist is the judge's business: `Judge` refuses a table that lacks one it judges
or has one it does not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge.settings import ConfigError, Section, parse, read_toml

RULES_DIR = Path(__file__).resolve().parent / "rules"
DEFAULT_TABLE = {"C1": "c1-2022", "C2": "c2-2022"}


class Rule(Section):
    """One thing the standard deducts for (or fails on)."""

    id: str = Field(
        title="Rule id",
        description="stable, kebab-case; the item's prefix (bay-, hill-, parallel-, s-curve-, right-angle-) or none for general rules",
    )
    item: str = Field(title="Item", description="the exam item the rule belongs to, or 'general' (any time)")
    wording: str = Field(min_length=1, title="Wording", description="the standard's wording, Chinese")
    points: int | Literal["fail"] = Field(
        title="Points", description="points deducted, or 'fail' (the test ends, not passed)"
    )
    params: dict[str, float] = Field(
        default_factory=dict, title="Parameters", description="the rule's thresholds (seconds, metres)"
    )
    note: str = Field("", title="Note", description="how PassLane judges it, in English")
    alternative: str = Field("", title="Alternative", description="where sources disagree: what others say")

    @model_validator(mode="after")
    def _points(self) -> Rule:
        if self.points != "fail" and not 0 < int(self.points) <= 100:
            raise ValueError(f"rule {self.id}: points must be 1-100 or 'fail'")
        return self


class Judging(Section):
    """How the judge reads motion from epochs: the same for every rule."""

    stopped_below_mps: float = Field(
        0.08, gt=0, title="Stopped below", description="speed over ground under which an epoch counts as standing still"
    )
    moving_above_mps: float = Field(
        0.15, gt=0, title="Moving above", description="speed over ground over which an epoch counts as moving"
    )
    motion_confirm_epochs: int = Field(
        3,
        ge=1,
        title="Motion confirmation",
        description="consecutive epochs that confirm a stop or a start (it is dated from the first)",
    )
    line_confirm_epochs: int = Field(
        2,
        ge=1,
        title="Line confirmation",
        description="consecutive epochs a body or wheel must touch a line before it is a fault (one epoch of noise is not)",
    )
    course_heading_min_mps: float = Field(
        0.5,
        ge=0,
        title="Course-over-ground heading",
        description="without a dual-antenna heading, the course over ground is used above this speed",
    )
    settle_epochs: int = Field(
        10,
        ge=1,
        title="Settled stop",
        description="standing epochs averaged into where a stop is (the hill's stop, the parking stop, the pose before reversing)",
    )
    position_mean_epochs: int = Field(
        3,
        ge=1,
        title="Rollback position",
        description="epochs averaged into each position the hill's rollback is measured on",
    )
    area_leave_margin_m: float = Field(
        0.3,
        ge=0,
        title="Leaving an area",
        description="how far outside an item's area the body centre must be for the item to end (receiver noise at a border must not end and restart it)",
    )


class Validity(Section):
    """When a run cannot be judged: it is invalid (not failed)."""

    rtk_fixed_loss_max_s: float = Field(
        3.0,
        gt=0,
        title="RTK fixed loss",
        description="longest time without an RTK-fixed epoch before the run is invalid",
    )


class RulesTable(Section):
    """One licence class's rules table."""

    version: str = Field(min_length=1, title="Version", description="named by every result judged with this table")
    licence: Literal["C1", "C2"] = Field(title="Licence class")
    standard: str = Field(title="Standard", description="the standard(s) the table follows")
    start_score: int = Field(100, title="Start score")
    pass_mark: int = Field(title="Pass mark", description="80 for small cars (C1, C2), 90 for large vehicles")
    items: list[str] = Field(
        title="Items", description="the items this licence class drives; their order comes from the course's route"
    )
    judging: Judging = Field(default_factory=Judging)
    validity: Validity = Field(default_factory=Validity)
    rule: list[Rule] = Field(title="Rules")

    @model_validator(mode="after")
    def _unique(self) -> RulesTable:
        ids = [r.id for r in self.rule]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {', '.join(dupes)}")
        for r in self.rule:
            if r.item != "general" and r.item not in self.items:
                raise ValueError(f"rule {r.id} belongs to {r.item!r}, which is not one of this table's items")
        return self

    def get(self, rule_id: str) -> Rule:
        for r in self.rule:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def param(self, rule_id: str, name: str) -> float:
        return self.get(rule_id).params[name]


def load_rules(path: Path | str) -> RulesTable:
    """A rules table file, or a shipped one by name (``c1-2022``). ConfigError when unusable."""
    p = Path(path)
    if not p.exists() and not p.suffix and (RULES_DIR / f"{p.name}.toml").exists():
        p = RULES_DIR / f"{p.name}.toml"
    return parse(RulesTable, read_toml(p), str(p))


def default_rules(licence: str) -> RulesTable:
    """The shipped table for a licence class."""
    if licence not in DEFAULT_TABLE:
        raise ConfigError(f"no rules table ships for licence class {licence}")
    return load_rules(RULES_DIR / f"{DEFAULT_TABLE[licence]}.toml")
