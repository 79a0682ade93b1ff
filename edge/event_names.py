"""Every business event's name as people read it, in zh-CN and English: one entry per `edge.contract.EventKind`.

The lane tablet's journal and the bridge's timelines and stage columns show the same names, so they are kept here,
beside the contract both sides share.
"""

from __future__ import annotations

EVENT_NAMES: dict[str, dict[str, str]] = {
    "case.opened": {"zh-CN": "业务受理", "en": "case opened"},
    "case.partner_records": {"zh-CN": "调取合作方资料", "en": "partner records"},
    "case.admitted": {"zh-CN": "放行进入工位", "en": "admitted"},
    "case.vin_read": {"zh-CN": "VIN 识别", "en": "VIN read"},
    "case.vin_confirmed": {"zh-CN": "VIN 确认", "en": "VIN confirmed"},
    "case.inspection_item": {"zh-CN": "查验项目", "en": "inspection item"},
    "case.photo": {"zh-CN": "照片", "en": "photo"},
    "case.inspected": {"zh-CN": "查验完成", "en": "inspected"},
    "case.plate_reserved": {"zh-CN": "号牌预留", "en": "plate reserved"},
    "case.paid": {"zh-CN": "已缴费", "en": "paid"},
    "case.plates_issued": {"zh-CN": "号牌已制作", "en": "plates issued"},
    "case.plates_fitted": {"zh-CN": "号牌已安装", "en": "plates fitted"},
    "case.exit_opened": {"zh-CN": "出口道闸开启", "en": "exit opened"},
    "case.closed": {"zh-CN": "业务办结", "en": "case closed"},
    "case.rejected": {"zh-CN": "退办", "en": "rejected"},
    "case.aborted": {"zh-CN": "中止", "en": "aborted"},
    "case.held": {"zh-CN": "暂停", "en": "on hold"},
    "case.resumed": {"zh-CN": "恢复", "en": "resumed"},
    "barrier.actuated": {"zh-CN": "道闸动作", "en": "barrier moved"},
    "device.fault": {"zh-CN": "设备故障", "en": "device fault"},
    "device.recovered": {"zh-CN": "设备恢复", "en": "device recovered"},
    "command.executed": {"zh-CN": "远程指令已执行", "en": "command executed"},
    "inspector.signed_in": {"zh-CN": "查验员登录", "en": "inspector signed in"},
    "inspector.sign_in_failed": {"zh-CN": "查验员登录失败", "en": "inspector sign-in failed"},
    "exam.started": {"zh-CN": "考试开始", "en": "exam started"},
    "exam.item_started": {"zh-CN": "项目开始", "en": "item started"},
    "exam.item_ended": {"zh-CN": "项目结束", "en": "item ended"},
    "exam.deduction": {"zh-CN": "扣分", "en": "deduction"},
    "exam.result": {"zh-CN": "考试结果", "en": "exam result"},
    "exam.invalid": {"zh-CN": "考试无效", "en": "exam invalid"},
    "exam.interrupted": {"zh-CN": "考试中断", "en": "exam interrupted"},
    "exam.track_chunk": {"zh-CN": "轨迹上传", "en": "track uploaded"},
    "event.refused": {"zh-CN": "事件被拒收", "en": "event refused"},
}
