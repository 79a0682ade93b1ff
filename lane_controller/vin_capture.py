"""The lane's camera work on one worker thread: VIN checks and checklist photos, and the files they leave.

Camera grabs, the VIN model and image files share one thread (one malloc arena
for the big frames), and each frame's memory is handed back to the OS after
use, so the lane's memory stays flat over months.

A VIN check grabs `vision.capture.FRAMES` frames within `WINDOW_S` seconds,
ranks them by sharpness, leaves out blurred and glared ones, and reads the best
(up to three, until one is clear). When the case knows the certificate's VIN
(from the partner records) the frames are *verified* against it
(vision/verifier.py: match, mismatch or review); otherwise they are read. When no
frame is usable, or none shows a VIN line, the answer is a re-shoot with its
reason (blur, glare, no VIN found), never a bad frame sent to review.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lane_controller import case as C
from lane_controller.memory import release_memory
from lane_controller.vin_camera import CameraError, VinCamera, VinReading, crop_jpeg, thumbnail_b64, vin_cut
from vision import capture

READ_AT_MOST = 3  # usable frames read per check, sharpest first, until one is clear


class VisionWorker:
    """The VIN camera, the reader and photo files, behind one worker thread."""

    def __init__(self, camera: VinCamera, reader: VinReading, data_dir: Path, clock: Callable[[], float]) -> None:
        self.camera = camera
        self.reader = reader
        self.data_dir = data_dir
        self.clock = clock
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vision")

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def photo_path(self, case_id: str, name: str) -> Path:
        path = self.data_dir / "photos" / case_id / f"{name}-{int(self.clock() * 1000)}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    async def read_vin(self, case_id: str, expected: str | None = None) -> C.VinRead:
        """Grab a few frames and verify the certificate's VIN (`expected`) in them, or read the VIN when
        it is not known; the crop is kept as the case's VIN photo. A camera fault raises."""
        frames = await self._run(self.grab_frames)
        try:
            res, img, box = await self._run(self.check_frames, frames, expected)
            path = self.photo_path(case_id, "vin")
            await self._run(crop_jpeg, img, box, path)
            small = await self._run(thumbnail_b64, vin_cut(img, box))
        finally:
            del frames
            await self._run(release_memory)
        return res.model_copy(update={"image": str(path.relative_to(self.data_dir)), "image_b64": small})

    def grab_frames(self) -> list[np.ndarray]:
        """`capture.FRAMES` frames within `capture.WINDOW_S` from a live camera; one from a snapshot folder."""
        frames = [self.camera.grab()]
        if self.reader.reader is None or self.camera.stills:
            return frames  # (a snapshot folder's next grab is the same photo: no wait buys another frame)
        gap = capture.WINDOW_S / capture.FRAMES
        for _ in range(capture.FRAMES - 1):
            time.sleep(gap)  # the camera's pace, on the worker thread; not synchronisation
            try:
                f = self.camera.grab()
            except CameraError:  # the first frame stands; a later failed grab only means fewer frames
                break
            if not any(f.shape == g.shape and np.array_equal(f, g) for g in frames):
                frames.append(f)
        return frames

    def check_frames(self, frames: list[np.ndarray], expected: str | None) -> tuple[C.VinRead, np.ndarray, Any]:
        """The answer from the best frames, the image to keep (the verified cut, or a frame) and the
        box to cut from it."""
        if self.reader.reader is None:
            read = self.reader.read(frames[0])
            return read, frames[0], read.box
        qualities = [capture.quality(f) for f in frames]
        usable = capture.order(qualities)
        sharpest = frames[max(range(len(frames)), key=lambda k: qualities[k].sharpness)]
        if not usable:
            return capture.reshoot(capture.unusable_reason(qualities), len(frames), expected), sharpest, None
        results: list[tuple[C.VinRead, np.ndarray | None, int]] = []
        for i in usable[:READ_AT_MOST]:
            if expected:
                read, crop = self.reader.verify(frames[i], expected)
            else:
                read, crop = self.reader.read(frames[i]), None
            results.append((read, crop, i))
            v = read.verification
            if (v is not None and v.decision == "match") or (v is None and read.decision == "accept"):
                break
        best = capture.combine([r for r, _, _ in results])
        read, crop, i = next(x for x in results if x[0] is best)
        if read.vin is None and (read.verification is None or read.verification.read is None):
            return capture.reshoot("no_vin", len(frames), expected), frames[i], None
        matched = read.verification is not None and read.verification.decision == "match"
        if capture.quality(frames[i], read.box).glared and not matched:
            return capture.reshoot("glare", len(frames), expected), frames[i], read.box
        read = read.model_copy(update={"frames": len(frames)})
        return (read, crop, None) if crop is not None else (read, frames[i], read.box)

    async def store_photo(self, case_id: str, code: str, data: bytes | None) -> str:
        """A checklist photo: uploaded bytes, or a frame of the station camera when ``data`` is None; its path under the data folder."""
        path = self.photo_path(case_id, code)
        if data is None:
            import cv2

            try:
                frame = await self._run(self.camera.grab)
            except CameraError as exc:  # the inspector sees why and uploads a photo from the tablet instead
                raise C.Refused(f"station camera: {exc}") from None
            await self._run(cv2.imwrite, str(path), frame)
            del frame
            await self._run(release_memory)
        else:
            await asyncio.to_thread(path.write_bytes, data)
        return str(path.relative_to(self.data_dir))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
