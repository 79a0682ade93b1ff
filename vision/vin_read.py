"""`VinRead`: the one shape of a VIN read, from the reader through the lane's case and its events to the tablet.

Only pydantic here, so the pure case machine can hold a read without loading
the models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Alternative(BaseModel):
    """A next-best symbol at one position (1-based), with its probability."""

    position: int
    char: str
    confidence: float


class CharCheck(BaseModel):
    """What the image says at one position of the expected VIN (vision/verify.py)."""

    position: int = Field(description="1-based")
    expected: str
    posterior: float = Field(description="P(expected symbol) against the other symbols tried here")
    best_other: str = Field("", description="the likeliest other symbol here")
    best_other_posterior: float = 0.0
    margin: float = Field(description="nats the expected VIN beats its best change at this position")
    x0: float = Field(description="the symbol's cell in the verified crop, pixels from its left edge")
    x1: float


class VinVerification(BaseModel):
    """Whether the image shows the expected (certificate) VIN, with per-symbol evidence."""

    expected: str
    decision: Literal["match", "mismatch", "review"]
    score: float = Field(description="nats the expected VIN beats its closest alternative (the weakest position)")
    read: str | None = Field(None, description="the unconstrained read of the same cut")
    differs_at: list[int] = Field(default_factory=list, description="1-based positions the image reads differently")
    chars: list[CharCheck] = Field(default_factory=list)
    crop_width: float = Field(0.0, description="width of the verified crop (the read's image) the x ranges refer to")
    thresholds: str = Field("", description="version of the calibrated thresholds")
    ms: float = 0.0


class VinRead(BaseModel):
    """The reader's answer for one image (JSON-ready)."""

    vin: str | None = Field(None, description="17 VIN symbols, or None when no VIN was found")
    decision: Literal["accept", "review", "none"] = "none"
    confidence: float = Field(0.0, description="lowest per-symbol confidence (0..1)")
    check_digit: Literal["valid", "invalid"] | None = None
    corrected: bool = Field(False, description="the check-digit search changed an ambiguous symbol")
    box: list[list[float]] | None = Field(None, description="VIN line corners TL, TR, BR, BL in image pixels")
    char_confidences: list[float] = Field(default_factory=list)
    alternatives: list[Alternative] = Field(default_factory=list)
    next_best: list[str] = Field(default_factory=list, description="next-best whole VINs")
    model_years: list[int] = Field(default_factory=list)
    wmi_region: str | None = None
    review_reason: (
        Literal["low_confidence", "check_digit_invalid", "check_digit_not_required", "found_by_search"] | None
    ) = None
    ms: float = 0.0
    image: str | None = Field(
        None, description="where the unit keeps the crop the read came from (a path under its data folder)"
    )
    image_b64: str | None = Field(
        None,
        description="the crop as a small JPEG in base64 (at most 16 KiB before encoding): it travels in the "
        "case.vin_read event so the ops case page shows what the camera saw; the lane's case keeps only the path",
    )
    reshoot: Literal["blur", "glare", "no_vin"] | None = Field(
        None, description="the camera frames were not good enough to read: why a new photo is needed"
    )
    frames: int = Field(1, description="camera frames looked at")
    verification: VinVerification | None = Field(
        None, description="the certificate's VIN checked against the image, when the lane knew it"
    )
