"""The unit's own disk-full and clock alerts read in Chinese on the tablet, from the texts the real guards write."""

from __future__ import annotations

import sys
from pathlib import Path

from edge.clock_sync import ClockGate
from edge.storage import DiskGuard
from edge.unit_config import ClockConfig, StorageConfig
from lane_controller.i18n import translate_device_message


def full_disk_text(tmp_path: Path) -> str:
    guard = DiskGuard(tmp_path, StorageConfig(min_free_mb=10**9, resume_free_mb=10**9))  # no disk has that much free
    assert not guard.check() and guard.full
    return guard.describe()


def test_a_full_disk_reads_in_chinese_with_its_figures_and_what_it_stops(tmp_path: Path) -> None:
    text = full_disk_text(tmp_path)
    for said in (text, f"{text}: no new case", f"photo not saved: {text}"):
        zh = translate_device_message(said, "zh-CN")
        assert zh.startswith(("磁盘已满：", "照片未保存：磁盘已满：")), zh
        assert str(tmp_path) in zh and "MiB" in zh
        rest = zh.replace(str(tmp_path), "")
        assert not any(word in rest for word in ("disk", "free", "needs", "no new", "saved", "journaled")), rest
    assert translate_device_message(f"{text}: no new case", "zh-CN").endswith("不能开新案件")
    assert translate_device_message(text, "en") == text


def test_an_unsynchronised_clock_reads_in_chinese_and_names_what_cannot_start() -> None:
    gate = ClockGate(ClockConfig(require_sync=True, sync_command=[sys.executable, "-c", "raise SystemExit(1)"]))
    refusal = gate.refusal("case")
    assert refusal is not None and refusal.startswith("clock not synchronised")
    zh = translate_device_message(refusal, "zh-CN")
    assert zh.startswith("时钟未同步：同步前不能开始案件（"), zh
    detail = gate.known().detail
    assert translate_device_message(f"clock not synchronised: no case starts ({detail})", "zh-CN").startswith(
        "时钟未同步"
    )
