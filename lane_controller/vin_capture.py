"""The lane's camera work on one worker thread: VIN reads and checklist photos, and the files they leave.

Camera grabs, the VIN model and image files share one thread (one malloc arena
for the big frames), and each frame's memory is handed back to the OS after
use, so the lane's memory stays flat over months.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lane_controller import case as C
from lane_controller.memory import release_memory
from lane_controller.vin_camera import CameraError, VinCamera, VinReading, crop_jpeg


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

    async def read_vin(self, case_id: str) -> C.VinRead:
        """Grab a frame and read the VIN; the crop is kept as the case's VIN photo. A camera fault raises."""
        frame = await self._run(self.camera.grab)
        try:
            res = await self._run(self.reader.read, frame)
            img = await self._run(crop_jpeg, frame, res.box, self.photo_path(case_id, "vin"))
        finally:
            del frame
            await self._run(release_memory)
        return res.model_copy(update={"image": str(img.relative_to(self.data_dir))})

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
