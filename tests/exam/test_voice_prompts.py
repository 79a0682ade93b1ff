"""Voice prompts in the car: spoken in Chinese through real espeak-ng and ALSA, and never in the judge's way."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from exam_vehicle import voice
from exam_vehicle.voice import Announcer

needs_speech = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("aplay") is None,
    reason="espeak-ng and alsa-utils are installed by `make test` (scripts/ensure-sysdeps.sh)",
)


def _wait(cond, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@needs_speech
def test_a_prompt_is_synthesised_in_chinese_and_played_to_the_audio_device(tmp_path: Path) -> None:
    played = tmp_path / "played.raw"
    speak = voice.espeak(
        device=f"file:FILE={played},FORMAT=raw"
    )  # ALSA's file plugin: the played samples land in a file
    assert speak is not None
    announcer = Announcer(speak)
    try:
        announcer.say(voice.deduction("车身出线", None))
        _wait(lambda: announcer.spoken == 1)
        assert played.stat().st_size > 22_050, "at least half a second of 22 kHz 16-bit speech"
    finally:
        announcer.close()


@needs_speech
def test_without_an_audio_device_prompts_fail_quietly_and_saying_never_blocks(tmp_path: Path) -> None:
    speak = voice.espeak(device="hw:7,0")  # no such card
    assert speak is not None
    announcer = Announcer(speak)
    try:
        started = time.monotonic()
        for n in range(20):
            announcer.say(voice.item_started(f"项目{n}"))
        assert time.monotonic() - started < 0.1, "say() only queues"
        _wait(lambda: announcer.failed >= 1 and announcer.waiting == 0)
        assert announcer.spoken == 0 and announcer.failed + announcer.dropped == 20
    finally:
        announcer.close()


def test_no_synthesiser_means_prompts_are_counted_not_spoken() -> None:
    announcer = Announcer(None)
    announcer.say(voice.result(92, True))
    assert (announcer.spoken, announcer.dropped) == (0, 1)


def test_the_prompts_say_what_the_examiner_would() -> None:
    assert voice.item_started("倒车入库") == "开始倒车入库"
    assert voice.deduction("中途停车时间超过2秒", 5) == "中途停车时间超过2秒，扣5分"
    assert voice.deduction("车身出线", None) == "车身出线，不合格"
    assert voice.result(75, False) == "考试结束，成绩75分，不合格"
