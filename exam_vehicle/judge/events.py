"""What the judge says: one pydantic event per thing that happened, in the order it happened. JSON lines on the wire."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    t: float = Field(description="the unit's clock of the input that caused the event (or of finish)")


class ItemStarted(_Event):
    """The car's body centre entered the area of the next item in the route's order."""

    kind: Literal["item_started"] = "item_started"
    item: str


class ItemEnded(_Event):
    """The item is over: the car left its area, or the test ended in it. `completed` says whether it was driven to the end."""

    kind: Literal["item_ended"] = "item_ended"
    item: str
    completed: bool


class Deduction(_Event):
    """A rule of the table was broken: points deducted, or the test failed."""

    kind: Literal["deduction"] = "deduction"
    rule_id: str
    item: str = Field(description="the item the rule belongs to, or 'general'")
    points: int | Literal["fail"] = Field(description="points deducted, or 'fail'")
    wording: str = Field(description="the standard's wording (Chinese)")
    detail: str = Field("", description="what the judge measured, in English")
    score: int = Field(description="the score after this deduction (a fail deducts no points)")
    e: float | None = Field(None, description="where: metres east of the course's survey origin")
    n: float | None = Field(None, description="where: metres north of the survey origin")
    lat: float | None = None
    lon: float | None = None


class RunInvalid(_Event):
    """The run cannot be judged (not failed): e.g. RTK fixed was lost for longer than the table allows."""

    kind: Literal["run_invalid"] = "run_invalid"
    reason: str


class Result(_Event):
    """The test is over. Always the last event; nothing follows it."""

    kind: Literal["result"] = "result"
    score: int
    passed: bool | None = Field(description="None when the run is invalid: no verdict")
    rules_version: str
    ended_by: Literal["completed", "disqualified", "finished", "invalid"] = Field(
        description="completed: every item driven; disqualified: a fail or the score under the pass mark; "
        "finished: finish() before every item was driven; invalid: see RunInvalid"
    )
    failed_by: str | None = Field(None, description="the rule that failed the test, if one did")


JudgeEvent = Annotated[ItemStarted | ItemEnded | Deduction | RunInvalid | Result, Field(discriminator="kind")]
