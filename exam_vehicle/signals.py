"""The car's own signals, as the vehicle board reports them and the judge takes them. Pydantic only."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Signal(StrEnum):
    """One signal of the test car (GA/T 1028.3: what the exam vehicle senses)."""

    SEAT_BELT = "seat_belt"  # True: fastened
    DOOR_OPEN = "door_open"  # True: any door open
    HANDBRAKE = "handbrake"  # True: set
    GEAR_NEUTRAL = "gear_neutral"  # True: in neutral (or P on an automatic)
    GEAR_REVERSE = "gear_reverse"  # True: in reverse
    CLUTCH = "clutch"  # True: pedal down (C1)
    BRAKE = "brake"  # True: pedal down
    TURN_LEFT = "turn_left"  # True: left signal blinking (debounced on the board)
    TURN_RIGHT = "turn_right"  # True: right signal blinking
    IGNITION = "ignition"  # True: on
    ENGINE_RUNNING = "engine_running"  # True: running
    ENGINE_RPM = "engine_rpm"  # int: revolutions per minute


class SignalChange(BaseModel):
    """One signal's new value, stamped on arrival and put on the judging time base (the same clock as `Epoch.t`)."""

    model_config = ConfigDict(extra="forbid")
    t: float = Field(description="when the change arrived, on the unit's judging time base, unix seconds")
    signal: Signal
    value: bool | int
