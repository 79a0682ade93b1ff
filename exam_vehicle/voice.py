"""Voice prompts in the test car: item start and end, each deduction, the result, in Chinese.

Speaking is a side effect that must never slow or stop the judging: prompts go
into a small queue that one thread speaks in order; when the queue is full the
oldest prompt is dropped (a late prompt is worse than none), and a missing
synthesiser or audio device is logged once and counted, nothing more.
espeak-ng (Debian package ``espeak-ng``, voice ``cmn``) renders the speech and
``aplay`` (``alsa-utils``) plays it.
"""

from __future__ import annotations

import collections
import logging
import shutil
import subprocess
import threading
from collections.abc import Callable

log = logging.getLogger("passlane.exam.voice")

Speak = Callable[[str], None]


def espeak(voice: str = "cmn", device: str | None = None, speed_wpm: int = 150) -> Speak | None:
    """A speak function through espeak-ng and aplay, or None when either is not installed."""
    synth, player = shutil.which("espeak-ng"), shutil.which("aplay")
    if synth is None or player is None:
        return None

    def speak(text: str) -> None:
        wav = subprocess.run(
            [synth, "-v", voice, "-s", str(speed_wpm), "--stdout", text], capture_output=True, timeout=20, check=True
        ).stdout
        subprocess.run(
            [player, "-q", *(["-D", device] if device else []), "-"],
            input=wav,
            capture_output=True,
            timeout=60,
            check=True,
        )

    return speak


class Announcer:
    """Speaks prompts in order on its own thread; never raises into the caller, never blocks it."""

    def __init__(self, speak: Speak | None, max_waiting: int = 4) -> None:
        self.speak = speak
        self.spoken = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: str | None = None
        self._queue: collections.deque[str] = collections.deque()
        self._max = max_waiting
        self._wake = threading.Condition()
        self._stop = False
        self._speaking = 0
        self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
        if speak is None:
            log.warning("no speech synthesiser or audio player (espeak-ng, aplay): prompts are shown, not spoken")
        else:
            self._thread.start()

    @property
    def waiting(self) -> int:
        """Prompts queued and not yet spoken."""
        with self._wake:
            return len(self._queue) + self._speaking

    def say(self, text: str) -> None:
        if self.speak is None:
            self.dropped += 1
            return
        with self._wake:
            if len(self._queue) >= self._max:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(text)
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                text = self._queue.popleft()
                self._speaking = 1
            try:
                assert self.speak is not None
                self.speak(text)
                self.spoken += 1
            except Exception as exc:  # noqa: BLE001 - no audio device, a crashed player: judging goes on
                self.failed += 1
                if self.last_error is None:
                    log.warning("a prompt was not spoken: %s", exc)
                self.last_error = str(exc)[:200]
            finally:
                with self._wake:
                    self._speaking = 0

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(2)


def item_started(name: str) -> str:
    return f"开始{name}"


def item_ended(name: str) -> str:
    return f"{name}结束"


def deduction(wording: str, points: int | None) -> str:
    """'<the standard's wording>, 扣N分' or '..., 不合格' for a disqualifying fault."""
    return f"{wording}，不合格" if points is None else f"{wording}，扣{points}分"


def result(score: int, passed: bool) -> str:
    return f"考试结束，成绩{score}分，{'合格' if passed else '不合格'}"


def invalid(reason: str) -> str:
    return f"本次考试无效：{reason}"
