"""The lane's part of `passlane doctor`: its config loader, its boards, and one frame from its VIN camera."""

from __future__ import annotations

from pathlib import Path

from edge.config import LaneConfig
from edge.config import load_config as load_config
from edge.doctor import Check, Result, Status, common_checks

__all__ = ["camera_result", "checks", "load_config"]


def camera_result(source: str) -> Result:
    """One frame can be read from the configured source (device, stream or snapshot folder), as the lane reads it."""
    from lane_controller.vin_camera import CameraError, VinCamera, without_password

    fix = (
        "check the camera's power and cable (or network), and that [camera] source names it; for a snapshot "
        "camera, that it uploads into that folder"
    )
    try:
        camera = VinCamera(source)
        try:
            frame = camera.grab()
        finally:
            camera.close()  # a live stream: let the device go for the running lane
    except CameraError as exc:
        return Result("camera", Status.FAIL, str(exc), fix)
    height, width = frame.shape[:2]
    return Result("camera", Status.OK, f"one {width}x{height} frame read from {without_password(source)}")


def checks(cfg: LaneConfig) -> list[tuple[str, Check]]:
    """The shared checks with the lane's two boards, then its camera."""
    boards = [("io-board", cfg.io_board.url), ("plate-issuer", cfg.plate_issuer.url)]
    data_folder = Path(cfg.journal.path).parent
    return common_checks(cfg, boards, data_folder) + [("camera", lambda: camera_result(cfg.camera.source))]
