"""The VIN camera and the VIN read: a frame from a device, an RTSP URL, a folder, or a rendered scene.

``source`` in lane.toml: a device number ("0"), an RTSP/HTTP URL, a folder of
images (simulation with recorded frames: ``<certificate VIN>.jpg`` when it
exists, otherwise the frames in turn), or "sim" (a frame
rendered by ``vision.synth`` showing the certificate VIN of the vehicle on the
station). The reader is ``vision.VinReader`` when it is installed; without it
every read is "none" and the inspector reviews the VIN by eye.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("passlane.vin")


@dataclass
class ReadResult:
    vin: str | None
    decision: str
    confidence: float
    check_digit: str
    box: Any = None
    ms: float = 0.0
    alternatives: list[Any] = field(default_factory=list)


class VinCamera:
    def __init__(self, source: str, *, seed: int = 0) -> None:
        self.source = source
        self.seed = seed
        self._n = 0
        self._frames: list[Path] = []
        self._cap = None
        self._lock = threading.Lock()
        self._grabs: list[float] = []
        p = Path(source)
        if source not in ("sim",) and p.is_dir():
            self._frames = sorted(x for x in p.iterdir() if x.suffix.lower() in (".jpg", ".jpeg", ".png"))

    @property
    def fps(self) -> float | None:
        """Frames grabbed per second over the last minute (the camera's effective rate)."""
        now = time.monotonic()
        recent = [t for t in self._grabs if now - t < 60]
        self._grabs = recent
        if len(recent) < 2:
            return None
        return round((len(recent) - 1) / max(recent[-1] - recent[0], 1e-6), 2)

    def grab(self, expected_vin: str | None = None) -> np.ndarray:
        """One frame (BGR). Blocking: run it in a worker thread."""
        import cv2

        with self._lock:
            self._n += 1
            self._grabs.append(time.monotonic())
            if self.source == "sim":
                return _render(expected_vin, self.seed + self._n)
            if self._frames:
                # a recorded frame named after the vehicle's certificate VIN (<VIN>.jpg) is "that vehicle on the
                # station"; otherwise the folder's frames are taken in turn
                named = [f for f in self._frames if expected_vin and f.stem.upper() == expected_vin.upper()]
                frame_path = named[0] if named else self._frames[(self._n - 1) % len(self._frames)]
                img = cv2.imread(str(frame_path))
                if img is None:
                    raise RuntimeError("unreadable image in camera folder")
                return img
            if self._cap is None:
                src: int | str = int(self.source) if self.source.isdigit() else self.source
                self._cap = cv2.VideoCapture(src)
            ok, frame = self._cap.read()
            if not ok:
                self._cap.release()
                self._cap = None
                raise RuntimeError(f"camera {self.source}: no frame")
            return frame


def _render(vin: str | None, seed: int) -> np.ndarray:
    try:
        from vision.synth import render_scene  # type: ignore[attr-defined]

        out = render_scene(vin or "LSVAU2180N2183294", seed)
        img = out[0] if isinstance(out, tuple) else out
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        return img.astype(np.uint8)
    except Exception:  # noqa: BLE001 - without the renderer, a plain frame with the text
        import cv2

        img = np.full((240, 640, 3), 200, np.uint8)
        cv2.putText(img, vin or "", (20, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
        return img


class VinReading:
    """Wraps ``vision.VinReader`` (loaded once); falls back to 'none' when the reader is absent."""

    def __init__(self, load: bool = True) -> None:
        self.reader = None
        self.error: str | None = None
        if load:
            try:
                from vision import VinReader  # type: ignore[attr-defined]

                self.reader = VinReader()
            except Exception as exc:  # noqa: BLE001 - the lane still works: the inspector reads the VIN
                self.error = f"VIN reader unavailable: {exc}"
                log.warning(self.error)

    def read(self, frame: np.ndarray) -> ReadResult:
        t0 = time.perf_counter()
        if self.reader is None:
            return ReadResult(None, "none", 0.0, "invalid", ms=(time.perf_counter() - t0) * 1000)
        r = self.reader.read(frame)
        return ReadResult(getattr(r, "vin", None), str(getattr(r, "decision", "none")), float(getattr(r, "confidence", 0.0) or 0.0),
                          str(getattr(r, "check_digit", "invalid")), getattr(r, "box", None), float(getattr(r, "ms", 0.0) or 0.0),
                          list(getattr(r, "alternatives", []) or []))


def crop_jpeg(frame: np.ndarray, box: Any, path: Path) -> Path:
    """Save the VIN crop (or the whole frame) as a JPEG for the case page."""
    import cv2

    img = frame
    try:
        if box is not None:
            pts = np.asarray(box, dtype=float).reshape(-1, 2)  # corners TL, TR, BR, BL (or x0, y0, x1, y1)
            x0, y0 = (int(v) for v in pts.min(axis=0))
            x1, y1 = (int(v) for v in pts.max(axis=0))
            if x1 > x0 and y1 > y0:
                pad = 10
                img = frame[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad]
    except (TypeError, ValueError):
        img = frame
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path
