"""The VIN camera and the VIN read: a frame from a device, an RTSP/HTTP stream or a snapshot folder.

``camera.source`` in lane.toml is what a real installation has:

* a device number (``"0"``) or an RTSP/HTTP URL: a live stream, read with OpenCV
  (`LiveStream`). While in use it is read continuously on its own thread and a
  grab waits for a frame decoded after it was asked for: a stream nobody read
  for a while holds seconds of old frames (RTSP over UDP: the socket's buffer;
  V4L2: the driver's buffers), and reading those would show the car before.
  After ``idle_s`` without a grab the stream is let go (no decoding between
  cars) and opened again by the next grab, which then waits for the stream's
  first frame (about 2 s for RTSP, measured in tests/lane/test_rtsp_camera.py);
* a folder into which a snapshot camera uploads frames: a grab is the NEWEST
  image in the folder at that moment (by modification time, re-scanned on
  every grab), so the lane sees whatever stands in front of the camera now.
  Files still being written (``*.tmp``, ``*.tmp.jpg``) are ignored.

The camera never knows which vehicle the lane expects: what it returns is
only what it sees. The reader is ``vision.VinReader``; failing to load it is a
start-up error unless the operator runs the lane without it (``--no-reader``),
and then every VIN is read by the inspector and the tablet says so.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from vision.vin_read import VinRead

log = logging.getLogger("passlane.vin")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
PARTIAL_SUFFIXES = (".tmp", ".tmp.jpg")


class CameraError(RuntimeError):
    """The camera gave no usable frame (the lane raises a camera alert; the inspector reads by eye)."""


class ReaderUnavailable(RuntimeError):
    """The VIN reader could not be loaded; the lane refuses to start without ``--no-reader``."""


def upload_frame(folder: Path, frame: np.ndarray, quality: int = 95) -> Path:
    """Write a frame into a snapshot folder the way a camera's uploader does: under a
    partial name first, then renamed, so `newest_frame` never sees a half-written file.
    The simulated world and the tests put the car in front of the camera with it."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns()}.jpg"
    tmp = path.with_name(path.stem + ".tmp.jpg")
    if not cv2.imwrite(str(tmp), frame, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise CameraError(f"could not write {tmp}")
    tmp.replace(path)
    return path


def newest_frame(folder: Path) -> Path:
    """The most recently written image in ``folder`` (what the snapshot camera shows now)."""
    best: tuple[int, str] | None = None
    best_path: Path | None = None
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise CameraError(f"camera folder {folder}: {exc}") from None
    for f in entries:
        name = f.name.lower()
        if name.endswith(PARTIAL_SUFFIXES) or not name.endswith(IMAGE_SUFFIXES):
            continue
        try:
            mtime = f.stat().st_mtime_ns
        except OSError:  # removed between the listing and the stat
            continue
        key = (mtime, f.name)
        if best is None or key > best:
            best, best_path = key, f
    if best_path is None:
        raise CameraError(f"camera folder {folder}: no image (nothing uploaded by the camera)")
    return best_path


def without_password(source: str) -> str:
    """The source as messages, logs and alerts may show it: an RTSP URL's password (``rtsp://user:pw@cam/``, as
    most IP cameras want it) replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(source)
    if "://" not in source or parts.password is None:
        return source
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class LiveStream:
    """A device or stream URL read on its own thread while grabs come; a grab is a frame decoded after it was asked."""

    def __init__(self, source: str, idle_s: float = 30.0, frame_timeout_s: float = 10.0) -> None:
        self.source = source
        self.shown = without_password(source)
        self.idle_s = idle_s
        self.frame_timeout_s = frame_timeout_s
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._frame: np.ndarray | None = None
        self._frame_at = -float("inf")
        self._wanted = 0
        self._last_use = 0.0
        self._error: str | None = None
        self._running = False
        self._stop = False

    @property
    def live(self) -> bool:
        """Whether the stream is open and being read now."""
        return self._running

    def _start(self) -> None:
        """Open and read the stream on a new thread (called holding the condition)."""
        self._error, self._stop, self._running = None, False, True
        self._thread = threading.Thread(target=self._read, name="camera-stream", daemon=True)
        self._thread.start()

    def grab(self) -> np.ndarray:
        asked = time.monotonic()
        deadline = asked + self.frame_timeout_s
        with self._cond:
            self._last_use = asked
            if not self._running:
                self._start()
            self._wanted += 1
            try:
                while self._frame is None or self._frame_at <= asked:
                    if not self._running:
                        if self._error is not None:
                            raise CameraError(f"camera {self.shown}: {self._error}")
                        self._start()  # the reader had just let the stream go for idleness
                    if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                        raise CameraError(f"camera {self.shown}: no frame within {self.frame_timeout_s:g} s")
                return self._frame
            finally:
                self._wanted -= 1
                self._last_use = time.monotonic()  # idle counts from the last grab served

    def _read(self) -> None:
        """The reader thread: decode every frame (so none waits in a buffer), convert only those asked for."""
        import cv2

        cap = cv2.VideoCapture(int(self.source) if self.source.isdigit() else self.source)
        try:
            if not cap.isOpened():
                self._fail("could not be opened")
                return
            while not self._stop and (self._wanted or time.monotonic() - self._last_use < self.idle_s):
                if not cap.grab():
                    self._fail("no frame (stream ended or camera unreachable)")
                    return
                if self._wanted:
                    ok, frame = cap.retrieve()
                    with self._cond:
                        if ok:
                            self._frame, self._frame_at = frame, time.monotonic()
                        self._cond.notify_all()
        finally:
            cap.release()
            with self._cond:
                self._running = False
                self._cond.notify_all()

    def _fail(self, why: str) -> None:
        with self._cond:
            self._error = why
            self._cond.notify_all()

    def close(self) -> None:
        """Stop reading and let the device or stream go."""
        self._stop = True
        thread = self._thread
        if thread is not None:
            thread.join(5)
        self._thread = None


PICAMERA_PREFIX = "picamera2:"
PICAMERA_SIZE = (1280, 960)


class PiCamera:
    """A Raspberry Pi camera module on the camera connector (`picamera2:<n>`), through picamera2 where it is installed.

    picamera2 comes with Raspberry Pi OS (Debian package python3-picamera2, on libcamera), not from PyPI, so the
    lane's venv must see the system's packages (`install.sh --system-site-packages`). Opened on the first grab and
    kept running (a module streams at no cost to the CPU until a frame is asked for); 'RGB888' is BGR in memory,
    the order OpenCV and the reader use."""

    def __init__(self, index: int) -> None:
        self.index = index
        self._cam: Any = None

    @property
    def live(self) -> bool:
        return self._cam is not None

    def _open(self) -> Any:
        try:
            from picamera2 import Picamera2  # Raspberry Pi OS only (python3-picamera2)
        except ImportError:
            raise CameraError(
                f"camera {PICAMERA_PREFIX}{self.index}: picamera2 is not installed here (Raspberry Pi OS: "
                "apt-get install python3-picamera2, and install the lane with --system-site-packages)"
            ) from None
        try:
            cam = Picamera2(self.index)
            cam.configure(cam.create_still_configuration(main={"size": PICAMERA_SIZE, "format": "RGB888"}))
            cam.start()
        except Exception as exc:  # noqa: BLE001 - libcamera's errors (no module, busy) become the camera's fault
            raise CameraError(f"camera {PICAMERA_PREFIX}{self.index}: {exc}") from None
        return cam

    def grab(self) -> np.ndarray:
        if self._cam is None:
            self._cam = self._open()
        try:
            return np.asarray(self._cam.capture_array("main"))
        except Exception as exc:  # noqa: BLE001
            raise CameraError(f"camera {PICAMERA_PREFIX}{self.index}: no frame ({exc})") from None

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.stop()
            cam.close()


def picamera_index(source: str) -> int | None:
    """The module number of a `picamera2:<n>` source, None for any other source."""
    if not source.startswith(PICAMERA_PREFIX):
        return None
    rest = source[len(PICAMERA_PREFIX) :]
    if not rest.isdigit():
        raise CameraError(f"camera source {source!r}: write {PICAMERA_PREFIX}0 for the first camera module")
    return int(rest)


class VinCamera:
    def __init__(self, source: str, idle_s: float = 30.0) -> None:
        self.source = source
        module = picamera_index(source)
        self.module = PiCamera(module) if module is not None else None
        self.folder = Path(source) if module is None and not source.isdigit() and "://" not in source else None
        if self.folder is not None and not self.folder.is_dir():
            raise CameraError(
                f"camera source {source!r} is neither a device number, a stream URL nor an existing folder"
            )
        self._stream = LiveStream(source, idle_s) if self.folder is None and self.module is None else None
        self._lock = threading.Lock()
        self._grabs: list[float] = []

    @property
    def fps(self) -> float | None:
        """Frames grabbed per second over the last minute (the camera's effective rate)."""
        now = time.monotonic()
        recent = [t for t in self._grabs if now - t < 60]
        self._grabs = recent
        if len(recent) < 2:
            return None
        return round((len(recent) - 1) / max(recent[-1] - recent[0], 1e-6), 2)

    @property
    def stills(self) -> bool:
        """A snapshot folder: a new frame only when a new photo is written, so waiting for more is pointless."""
        return self.folder is not None

    @property
    def streaming(self) -> bool:
        """Whether a live stream or camera module is open now (never for a snapshot folder)."""
        return (self._stream is not None and self._stream.live) or (self.module is not None and self.module.live)

    def grab(self) -> np.ndarray:
        """The frame the camera shows now (BGR). Blocking: run it in a worker thread."""
        import cv2

        with self._lock:
            self._grabs.append(time.monotonic())
            if self.folder is not None:
                path = newest_frame(self.folder)
                img = cv2.imread(str(path))
                if img is None:
                    raise CameraError(f"camera folder: {path.name} is not a readable image")
                return img
            if self.module is not None:
                return self.module.grab()
            assert self._stream is not None
            return self._stream.grab()

    def close(self) -> None:
        """Let a live device, stream or camera module go (another process, e.g. the running lane, may want it)."""
        if self._stream is not None:
            self._stream.close()
        if self.module is not None:
            self.module.close()


class VinReading:
    """``vision.VinReader``, loaded once at start. ``load=False`` is the operator's explicit ``--no-reader``:
    every read is then 'none' and the inspector reads the VIN by eye."""

    def __init__(self, load: bool = True) -> None:
        self.reader = None
        self._verifier: Any = None
        self.error: str | None = None
        if load:
            try:
                from vision import VinReader

                self.reader = VinReader()
                self._warm_up(self.reader)
            except Exception as exc:
                raise ReaderUnavailable(
                    f"the VIN reader could not be loaded ({type(exc).__name__}: {exc}); "
                    "fix the model installation or start the lane with --no-reader"
                ) from exc

    @staticmethod
    def _warm_up(reader: Any) -> None:
        """Run both models once on blank images at start (7 ms): ONNX Runtime finishes setting a model up
        on its first run, which made the first car's read 2.7 times as long as the next ones'."""
        reader.read(np.zeros((960, 1280, 3), np.uint8))
        reader.recognizer.probs([np.zeros((48, 400, 3), np.uint8)])

    @property
    def status(self) -> str:
        """What the tablet shows about the reader."""
        return "loaded" if self.reader is not None else "off (--no-reader): every VIN is read by the inspector"

    def read(self, frame: np.ndarray) -> VinRead:
        if self.reader is None:
            return VinRead(decision="none", check_digit="invalid")
        return self.reader.read(frame)

    def verify(self, frame: np.ndarray, expected: str) -> tuple[VinRead, np.ndarray | None]:
        """The certificate's VIN checked against the frame (vision.verifier): the read with its
        verification, and the cut it was checked on (the tablet draws the evidence on it)."""
        if self.reader is None:
            return VinRead(decision="none", check_digit="invalid"), None
        if self._verifier is None:
            from vision.verifier import VinVerifier

            self._verifier = VinVerifier(self.reader)
        done = self._verifier.verify(frame, expected)
        return done.read, done.crop


def vin_cut(frame: np.ndarray, box: Any) -> np.ndarray:
    """The VIN line with a margin of a third of its height all round (a detector box is tight: the tops of
    the characters must not be cut off), or the whole frame when there is no usable box."""
    try:
        if box is not None:
            pts = np.asarray(box, dtype=float).reshape(-1, 2)  # corners TL, TR, BR, BL (or x0, y0, x1, y1)
            x0, y0 = (int(v) for v in pts.min(axis=0))
            x1, y1 = (int(v) for v in pts.max(axis=0))
            if x1 > x0 and y1 > y0:
                pad = max(10, (y1 - y0) // 3)
                return frame[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
    except (TypeError, ValueError):
        pass
    return frame


def crop_jpeg(frame: np.ndarray, box: Any, path: Path) -> Path:
    """Save the VIN crop (or the whole frame) as a JPEG for the case page."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), vin_cut(frame, box))
    return path


THUMBNAIL_MAX_BYTES = 16 * 1024
THUMBNAIL_MAX_WIDTH = 640


def thumbnail_b64(img: np.ndarray, max_bytes: int = THUMBNAIL_MAX_BYTES, max_width: int = THUMBNAIL_MAX_WIDTH) -> str:
    """`img` as a JPEG of at most `max_bytes`, in base64: first lower quality, then a smaller picture.

    Bounded so that a case.vin_read event stays far below the 64 KiB event limit (edge.contract)."""
    import base64

    import cv2

    scale = min(1.0, max_width / max(1, img.shape[1]))
    while True:
        size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
        small = img if scale >= 1.0 else cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        for quality in (85, 70, 55, 40):
            ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and (len(buf) <= max_bytes or max(size) <= 8):  # (8 px of anything fits: the loop ends)
                return base64.b64encode(buf.tobytes()).decode("ascii")
        scale *= 0.7
