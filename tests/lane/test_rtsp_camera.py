"""The VIN camera on a real RTSP stream: synthetic VIN scenes encoded to H.264 by ffmpeg, served by a GStreamer RTSP
server (gst-rtsp-server through PyGObject, Debian's packages: `make sysdeps`), read by OpenCV through `VinCamera`.

The stream shows one car for its first 3 s and another after: a grab after the camera stood idle must show the car
there now, not a frame buffered while nobody looked (OpenCV's plain `read()` returned the first car here).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from lane_controller.vin_camera import CameraError, VinCamera, VinReading
from vision.synth import render_scene

SYSTEM_PYTHON = "/usr/bin/python3"
FIRST_VIN, SECOND_VIN = "LSVAM4187C2184847", "LFV2A21K6D4051234"
FPS, FIRST_S, TOTAL_S = 10, 3, 40
PACKAGES = "ffmpeg gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gst-1.0"

SERVER = """
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
port, path = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( filesrc location={path} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )")
server.get_mount_points().add_factory("/vin", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
"""


def _missing_tools() -> str | None:
    if shutil.which("ffmpeg") is None:
        return "ffmpeg"
    probe = 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer'
    if not Path(SYSTEM_PYTHON).exists() or subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode:
        return "GStreamer's RTSP server for the system Python"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scenes() -> tuple[np.ndarray, np.ndarray]:
    return render_scene(FIRST_VIN, 3), render_scene(SECOND_VIN, 5)


@pytest.fixture(scope="module")
def rtsp_url(tmp_path_factory: pytest.TempPathFactory, scenes: tuple[np.ndarray, np.ndarray]) -> Iterator[str]:
    missing = _missing_tools()
    if missing:
        pytest.skip(f"{missing} is not installed: apt-get install {PACKAGES} (make sysdeps)")
    folder = tmp_path_factory.mktemp("rtsp")
    video = folder / "vin.mp4"
    first, second = scenes
    h, w = first.shape[:2]
    encode = subprocess.Popen(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
         "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", str(FPS),
         "-pix_fmt", "yuv420p", str(video)],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert encode.stdin is not None
    for i in range(FPS * TOTAL_S):
        encode.stdin.write((first if i < FPS * FIRST_S else second).tobytes())
    encode.stdin.close()
    assert encode.wait(120) == 0
    (folder / "server.py").write_text(SERVER)
    port = _free_port()
    server = subprocess.Popen(
        [SYSTEM_PYTHON, str(folder / "server.py"), str(port), str(video)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield f"rtsp://127.0.0.1:{port}/vin"
    finally:
        server.terminate()
        server.wait(10)


def _shows(frame: np.ndarray, scenes: tuple[np.ndarray, np.ndarray]) -> str:
    """Which car the frame shows, by its likeness to each rendered scene (PSNR)."""
    first, second = (cv2.PSNR(frame, s) for s in scenes)
    return "first" if first > second else "second"


def test_a_grab_is_the_rtsp_frame_the_camera_shows_now_and_its_vin_reads(
    rtsp_url: str, scenes: tuple[np.ndarray, np.ndarray]
) -> None:
    camera = VinCamera(rtsp_url)
    try:
        t0 = time.monotonic()
        frame = camera.grab()
        first_frame_s = time.monotonic() - t0
        assert frame.shape == scenes[0].shape
        assert _shows(frame, scenes) == "first"
        assert cv2.PSNR(frame, scenes[0]) > 35, "H.264 at crf 18: the frame is the scene, not a broken decode"
        print(f"first frame after {first_frame_s:.2f} s, PSNR {cv2.PSNR(frame, scenes[0]):.1f} dB")

        time.sleep(FIRST_S + 3)  # the camera stands idle while the first car leaves and the second arrives
        frame = camera.grab()
        assert _shows(frame, scenes) == "second", "a frame buffered while nobody looked would show the first car"
        read = VinReading(load=True).read(frame)
        assert read.vin == SECOND_VIN, read
        t0 = time.monotonic()
        frames = [camera.grab() for _ in range(5)]
        assert time.monotonic() - t0 >= 4 / FPS * 0.8, "each grab waits for a newly decoded frame"
        assert all(f.shape == scenes[1].shape for f in frames)
    finally:
        camera.close()


def test_an_idle_stream_is_let_go_and_opened_again_by_the_next_grab(rtsp_url: str) -> None:
    camera = VinCamera(rtsp_url, idle_s=0.5)
    try:
        camera.grab()
        deadline = time.monotonic() + 10
        while camera.streaming and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a state with a deadline
        assert not camera.streaming, "no decoding between cars"
        assert camera.grab().ndim == 3, "the next grab opens the stream again"
    finally:
        camera.close()


def test_a_stream_nobody_serves_is_a_camera_error_not_a_hang_and_its_message_hides_the_password() -> None:
    camera = VinCamera(f"rtsp://admin:s3cret-pw@127.0.0.1:{_free_port()}/vin")
    t0 = time.monotonic()
    with pytest.raises(CameraError, match=r"camera rtsp://admin:\*\*\*@127\.0\.0\.1:\d+/vin") as failed:
        camera.grab()
    assert time.monotonic() - t0 < 15
    assert "s3cret-pw" not in str(failed.value), "the alert, the journal and the log show this message"
    camera.close()
