"""The VIN camera as installed: a snapshot folder gives the newest frame; it never knows which vehicle is expected."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from lane_controller.vin_camera import CameraError, ReaderUnavailable, VinCamera, VinReading


def _frame(path, value: int, size=(10, 10), mtime: int | None = None):
    cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    if mtime is not None:
        os.utime(path, ns=(mtime, mtime))


def test_a_folder_grab_returns_the_newest_upload_rescanned_every_grab(tmp_path):
    _frame(tmp_path / "b-old.jpg", 10, mtime=1_000_000_000_000_000_000)
    _frame(tmp_path / "a-new.jpg", 200, mtime=1_000_000_002_000_000_000)
    cam = VinCamera(str(tmp_path))
    assert cam.grab()[0, 0, 0] > 150, "the newest by modification time, not by name"
    _frame(tmp_path / "c-newer.png", 90, size=(12, 14), mtime=1_000_000_003_000_000_000)
    assert cam.grab().shape[:2] == (12, 14), "a frame uploaded after the first grab is seen by the next"


def test_frames_still_being_written_are_ignored(tmp_path):
    _frame(tmp_path / "done.jpg", 50, mtime=1_000_000_000_000_000_000)
    _frame(tmp_path / "upload.tmp.jpg", 250, size=(5, 5), mtime=1_000_000_009_000_000_000)
    (tmp_path / "upload.tmp").write_bytes(b"\xff\xd8partial")
    (tmp_path / "notes.txt").write_text("not an image")
    assert VinCamera(str(tmp_path)).grab().shape[:2] == (10, 10)


def test_an_empty_folder_is_a_clear_camera_error(tmp_path):
    cam = VinCamera(str(tmp_path))
    with pytest.raises(CameraError, match="no image"):
        cam.grab()


def test_a_source_that_is_no_device_url_or_folder_is_refused(tmp_path):
    with pytest.raises(CameraError, match="neither"):
        VinCamera(str(tmp_path / "missing"))
    with pytest.raises(CameraError, match="neither"):
        VinCamera("sim")


def test_grab_takes_no_expected_vin():
    import inspect

    assert list(inspect.signature(VinCamera.grab).parameters) == ["self"]


def test_without_the_reader_every_read_is_none_and_the_status_says_it_is_off():
    r = VinReading(load=False)
    res = r.read(np.zeros((10, 10, 3), np.uint8))
    assert res.vin is None and res.decision == "none"
    assert "off" in r.status and "--no-reader" in r.status


def test_a_reader_that_cannot_load_is_a_start_up_error(monkeypatch):
    import vision

    def broken(*a, **k):
        raise FileNotFoundError("vision/models/recogniser.onnx")

    monkeypatch.setattr(vision, "VinReader", broken)
    with pytest.raises(ReaderUnavailable, match="--no-reader"):
        VinReading(load=True)


def test_a_camera_module_source_needs_picamera2_and_says_how_to_get_it() -> None:
    """`picamera2:0` is a Raspberry Pi camera module; where picamera2 is missing the first grab says what to install."""
    import importlib.util

    from lane_controller.vin_camera import CameraError, VinCamera

    if importlib.util.find_spec("picamera2") is not None:
        pytest.skip("picamera2 is installed here: the module itself is exercised on a Pi")
    cam = VinCamera("picamera2:0")
    assert cam.folder is None and not cam.stills and not cam.streaming
    with pytest.raises(CameraError, match=r"picamera2:0: picamera2 is not installed .*python3-picamera2"):
        cam.grab()
    with pytest.raises(CameraError, match=r"write picamera2:0"):
        VinCamera("picamera2:front")
