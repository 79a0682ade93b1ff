"""Every word the examiner's page in the car shows, in zh-CN (first) and English."""

from __future__ import annotations

from collections.abc import Callable

from exam_vehicle.course import ITEM_NAMES_ZH

STRINGS: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "考试车状态", "en": "Exam car status"},
    "unit": {"zh-CN": "考试车", "en": "Car"},
    "exam": {"zh-CN": "考试", "en": "Exam"},
    "candidate": {"zh-CN": "考生", "en": "Candidate"},
    "item": {"zh-CN": "当前项目", "en": "Current item"},
    "no_item": {"zh-CN": "项目之间", "en": "between items"},
    "score": {"zh-CN": "得分", "en": "Score"},
    "deductions": {"zh-CN": "扣分", "en": "Deductions"},
    "none": {"zh-CN": "无", "en": "none"},
    "fail": {"zh-CN": "不合格", "en": "fail"},
    "points": {"zh-CN": "扣{n}分", "en": "-{n}"},
    "result": {"zh-CN": "结果", "en": "Result"},
    "passed": {"zh-CN": "合格", "en": "passed"},
    "failed": {"zh-CN": "不合格", "en": "failed"},
    "invalid": {"zh-CN": "考试无效", "en": "invalid run"},
    "running": {"zh-CN": "考试中", "en": "in progress"},
    "idle": {"zh-CN": "无考试", "en": "no exam"},
    "fix": {"zh-CN": "定位", "en": "Fix"},
    "fix_rtk_fixed": {"zh-CN": "RTK固定解", "en": "RTK fixed"},
    "fix_rtk_float": {"zh-CN": "RTK浮点解", "en": "RTK float"},
    "fix_dgps": {"zh-CN": "差分定位", "en": "DGPS"},
    "fix_gps": {"zh-CN": "单点定位", "en": "GPS"},
    "fix_dead_reckoning": {"zh-CN": "推算定位", "en": "dead reckoning"},
    "fix_invalid": {"zh-CN": "无定位", "en": "no fix"},
    "sats": {"zh-CN": "卫星数", "en": "satellites"},
    "signals": {"zh-CN": "车辆信号", "en": "Vehicle signals"},
    "devices": {"zh-CN": "设备", "en": "Devices"},
    "clock": {"zh-CN": "时钟", "en": "Clock"},
    "clock_synced": {"zh-CN": "已同步", "en": "synchronised"},
    "clock_unsynced": {"zh-CN": "未同步：同步前不能开始考试", "en": "not synchronised: no exam starts until it is"},
    "disk": {"zh-CN": "存储", "en": "Storage"},
    "disk_ok": {"zh-CN": "正常", "en": "enough free space"},
    "disk_full": {"zh-CN": "磁盘已满：空间恢复前不能开始考试", "en": "disk full: no exam starts until space returns"},
    "online": {"zh-CN": "在线", "en": "online"},
    "offline": {"zh-CN": "离线", "en": "offline"},
    "cloud": {"zh-CN": "云端连接", "en": "Cloud link"},
    "outbox": {"zh-CN": "待上传事件", "en": "Events waiting for upload"},
    "on": {"zh-CN": "是", "en": "on"},
    "off": {"zh-CN": "否", "en": "off"},
    "sig_seat_belt": {"zh-CN": "安全带", "en": "Seat belt"},
    "sig_door_open": {"zh-CN": "车门打开", "en": "Door open"},
    "sig_handbrake": {"zh-CN": "驻车制动", "en": "Handbrake"},
    "sig_gear_neutral": {"zh-CN": "空挡", "en": "Neutral"},
    "sig_gear_reverse": {"zh-CN": "倒挡", "en": "Reverse"},
    "sig_clutch": {"zh-CN": "离合器", "en": "Clutch"},
    "sig_brake": {"zh-CN": "制动", "en": "Brake"},
    "sig_turn_left": {"zh-CN": "左转向灯", "en": "Left signal"},
    "sig_turn_right": {"zh-CN": "右转向灯", "en": "Right signal"},
    "sig_ignition": {"zh-CN": "点火", "en": "Ignition"},
    "sig_engine_running": {"zh-CN": "发动机运转", "en": "Engine running"},
    "sig_engine_rpm": {"zh-CN": "发动机转速", "en": "Engine speed"},
    "dev_gnss": {"zh-CN": "卫星定位接收机", "en": "GNSS receiver"},
    "dev_vehicle-board": {"zh-CN": "车辆信号板", "en": "Vehicle board"},
    "lang_other": {"zh-CN": "English", "en": "中文"},
}

ITEM_NAMES_EN = {
    "reverse_into_bay": "Reverse into bay",
    "hill_stop_and_start": "Hill stop and start",
    "parallel_park": "Parallel park",
    "s_curve": "S-curve",
    "right_angle_turn": "Right-angle turn",
}


def translator(lang: str) -> Callable[..., str]:
    """`t(key, **values)` in `lang`; an unknown key is shown as itself (a test finds none on the page)."""

    def t(key: str, **values: object) -> str:
        text = STRINGS.get(key, {}).get(lang) or STRINGS.get(key, {}).get("zh-CN") or key
        return text.format(**values) if values else text

    return t


def item_name(item: str | None, lang: str) -> str:
    if item is None:
        return translator(lang)("no_item")
    return (ITEM_NAMES_ZH if lang == "zh-CN" else ITEM_NAMES_EN).get(item, item)
