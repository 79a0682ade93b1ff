"""`Epoch`: one position fix as the reader gives it and the judge takes it. Pydantic only."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class FixQuality(StrEnum):
    """How good a fix is, in the words the exam rules use (GGA quality 0, 1, 2, 4, 5, 6; gpsd status 0-5)."""

    INVALID = "invalid"
    GPS = "gps"
    DGPS = "dgps"
    RTK_FLOAT = "rtk_float"
    RTK_FIXED = "rtk_fixed"
    DEAD_RECKONING = "dead_reckoning"


class Epoch(BaseModel):
    """One position epoch (all sentences of one fix time merged). `--json` of `passlane gnss read` prints these fields.

    `t` is the reader's clock when the epoch was complete (unix seconds); the unit then puts it on its judging
    time base (`exam_vehicle.time_base`: the fix time, by default), the one
    clock every judge input is stamped with (see `exam_vehicle`). Offline readers set it from the fix time.
    """

    model_config = ConfigDict(extra="forbid")
    t: float = Field(description="when the epoch was complete (the reader's clock), or its judging time, unix seconds")
    time: str = Field(description="the fix time: ISO 8601 UTC when a date is known, else HH:MM:SS.sss")
    lat: float | None = Field(None, description="latitude, signed degrees (north positive)")
    lon: float | None = Field(None, description="longitude, signed degrees (east positive)")
    alt: float | None = Field(None, description="altitude above mean sea level, metres")
    quality: FixQuality = FixQuality.INVALID
    sats: int | None = Field(None, description="satellites used")
    hdop: float | None = None
    speed_mps: float | None = Field(None, description="speed over ground, m/s")
    course_deg: float | None = Field(None, description="course over ground, degrees from true north")
    heading_deg: float | None = Field(
        None, description="the car's heading from a dual-antenna receiver (HDT/THS/RELPOSNED), when given"
    )
    h_acc_m: float | None = Field(None, description="horizontal accuracy estimate, metres (GST or UBX), when given")
