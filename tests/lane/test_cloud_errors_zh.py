"""Every error code the bridge answers a lane's request with reads in Chinese on the tablet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lane_controller.i18n import CLOUD_ERRORS, translate_cloud_error, translate_device_message

ROOT = Path(__file__).resolve().parents[2]


def bridge_error_codes() -> set[str]:
    """The codes written in the bridge's source: `RequestError("code", ...)` and `Response(..., error="code")`."""
    codes: set[str] = set()
    for path in (ROOT / "cloud_bridge").rglob("*.py"):
        text = path.read_text()
        codes |= set(re.findall(r'RequestError\(\s*"([a-z_]+)"', text)) | set(re.findall(r'error="([a-z_]+)"', text))
    return codes


def test_the_catalogue_has_every_code_the_bridge_can_send() -> None:
    codes = bridge_error_codes()
    assert {"not_found", "taken", "quota", "rate_limited"} <= codes  # the scan finds them
    assert codes <= set(CLOUD_ERRORS), sorted(codes - set(CLOUD_ERRORS))


@pytest.mark.parametrize(
    ("shown", "zh"),
    [
        ("not_found", "合作方系统中未查到记录"),
        ("苏A12345: taken: number 苏A12345 is reserved by another case", "苏A12345：该号码已被占用，请另选"),
        ("plate options: rate_limited more than 5 requests per second", "获取号码：请求过于频繁，请稍后再试"),
        ("payment start: case_closed case c1 is closed (registered)", "发起缴费：案件已办结"),
    ],
)
def test_an_answer_the_bridge_refused_reads_in_chinese_and_stays_english_in_english(shown: str, zh: str) -> None:
    said = translate_device_message(shown, "zh-CN") if shown.startswith(("plate options", "payment")) else None
    assert (said or translate_cloud_error(shown, "zh-CN")) == zh
    assert translate_cloud_error(shown, "en") == shown
    assert translate_cloud_error("the cloud is far away", "zh-CN") == "the cloud is far away"  # not a code: as is
