"""Tablet UI strings: zh-CN by default, English on the toggle. One key per concept."""

from __future__ import annotations

import re
from typing import Any

from edge.event_names import EVENT_NAMES

STRINGS: dict[str, dict[str, str]] = {
    "app": {"zh-CN": "通道式上牌 · 车道", "en": "Drive-through registration · lane"},
    "sign_in": {"zh-CN": "查验员登录", "en": "Inspector sign-in"},
    "inspector_id": {"zh-CN": "查验员编号", "en": "Inspector id"},
    "pin": {"zh-CN": "PIN 码", "en": "PIN"},
    "sign_in_btn": {"zh-CN": "登录", "en": "Sign in"},
    "sign_out": {"zh-CN": "退出", "en": "Sign out"},
    "overview": {"zh-CN": "车道总览", "en": "Lane overview"},
    "station": {"zh-CN": "查验工位", "en": "Station"},
    "idle": {"zh-CN": "空闲", "en": "Free"},
    "open_case": {"zh-CN": "新建业务", "en": "Open case"},
    "id_number": {"zh-CN": "身份证号", "en": "ID card number"},
    "booking_number": {"zh-CN": "预约号", "en": "Booking number"},
    "barriers": {"zh-CN": "道闸", "en": "Barriers"},
    "entry": {"zh-CN": "入口", "en": "Entry"},
    "exit": {"zh-CN": "出口", "en": "Exit"},
    "devices": {"zh-CN": "设备状态", "en": "Device health"},
    "cloud": {"zh-CN": "云端连接", "en": "Cloud link"},
    "online": {"zh-CN": "在线", "en": "online"},
    "offline": {"zh-CN": "离线", "en": "offline"},
    "outbox": {"zh-CN": "待上传事件", "en": "Events awaiting upload"},
    "alerts": {"zh-CN": "告警", "en": "Alerts"},
    "dismiss": {"zh-CN": "知道了", "en": "Dismiss"},
    "recent": {"zh-CN": "最近完成", "en": "Recently closed"},
    "case": {"zh-CN": "业务", "en": "Case"},
    "stage": {"zh-CN": "环节", "en": "Stage"},
    "age": {"zh-CN": "用时", "en": "Time in lane"},
    "promise": {"zh-CN": "30 分钟承诺", "en": "30-minute promise"},
    "over_promise": {"zh-CN": "已超时", "en": "over the promise"},
    "simulated_time": {"zh-CN": "（模拟时间）", "en": "(simulated time)"},
    "waiting": {"zh-CN": "等待", "en": "Waiting for"},
    "hold": {"zh-CN": "暂停", "en": "On hold"},
    "owner_vehicle": {"zh-CN": "车主与车辆（合作方数据）", "en": "Owner and vehicle (partner records)"},
    "owner": {"zh-CN": "车主", "en": "Owner"},
    "certificate": {"zh-CN": "合格证", "en": "Certificate"},
    "purchase_tax": {"zh-CN": "购置税", "en": "Purchase tax"},
    "insurance": {"zh-CN": "交强险", "en": "Compulsory insurance"},
    "problems": {"zh-CN": "问题", "en": "Problems"},
    "admit": {"zh-CN": "放行进入（开入口道闸）", "en": "Admit (open entry barrier)"},
    "vin": {"zh-CN": "车辆识别代号", "en": "VIN"},
    "vin_read": {"zh-CN": "识别结果", "en": "Read"},
    "confidence": {"zh-CN": "置信度", "en": "Confidence"},
    "decision": {"zh-CN": "判定", "en": "Decision"},
    "certificate_vin": {"zh-CN": "合格证 VIN", "en": "Certificate VIN"},
    "vin_review": {"zh-CN": "需人工复核 VIN", "en": "VIN needs review"},
    "why_review": {"zh-CN": "复核原因", "en": "Why review"},
    "review_low_confidence": {
        "zh-CN": "部分字符识别置信度低，请逐位核对",
        "en": "Some symbols are unclear: check each one",
    },
    "review_check_digit_invalid": {
        "zh-CN": "校验位不符，请核对第 9 位及易混字符",
        "en": "The check digit does not match: check position 9 and look-alike symbols",
    },
    "review_check_digit_not_required": {
        "zh-CN": "该厂商不使用校验位，识别结果无法自校验",
        "en": "This maker does not use the check digit, so the read cannot check itself",
    },
    "review_found_by_search": {
        "zh-CN": "在框附近的其他位置读到，请确认是车辆识别代号",
        "en": "Found only in a cut beside the detected box: make sure it is the VIN",
    },
    "verification": {"zh-CN": "与合格证 VIN 比对", "en": "Against the certificate VIN"},
    "verdict_match": {"zh-CN": "一致（已自动确认）", "en": "match (confirmed without the inspector)"},
    "verdict_mismatch": {"zh-CN": "不一致，请核对标红位置", "en": "mismatch: check the positions in red"},
    "verdict_review": {"zh-CN": "无法确定，请人工核对", "en": "unsure: the inspector checks it"},
    "score": {"zh-CN": "证据分", "en": "score"},
    "differs_at": {"zh-CN": "不一致位置", "en": "differs at"},
    "reshoot_blur": {
        "zh-CN": "照片模糊，请待车辆停稳后重新识别",
        "en": "The photos are blurred: read again once the car stands still",
    },
    "reshoot_glare": {
        "zh-CN": "VIN 处反光，请调整角度或遮光后重新识别",
        "en": "Glare over the VIN: change the angle or shade it, then read again",
    },
    "reshoot_no_vin": {
        "zh-CN": "照片中未找到 VIN，请对准铭牌后重新识别",
        "en": "No VIN found in the photos: aim at the plate and read again",
    },
    "confirm_vin": {"zh-CN": "确认 / 更正 VIN", "en": "Accept / correct VIN"},
    "reason": {"zh-CN": "原因", "en": "Reason"},
    "reread": {"zh-CN": "重新识别", "en": "Read again"},
    "checklist": {"zh-CN": "查验项目", "en": "Inspection checklist"},
    "pass": {"zh-CN": "√ 合格", "en": "✓ pass"},
    "fail": {"zh-CN": "× 不合格", "en": "✗ fail"},
    "na": {"zh-CN": "— 不适用", "en": "— n/a"},
    "photos": {"zh-CN": "照片", "en": "Photos"},
    "upload": {"zh-CN": "上传", "en": "Upload"},
    "station_camera": {"zh-CN": "工位相机拍照", "en": "Station camera"},
    "conclude": {"zh-CN": "完成查验", "en": "Conclude inspection"},
    "plates": {"zh-CN": "号牌选号", "en": "Plate number"},
    "choose": {"zh-CN": "选择", "en": "Choose"},
    "compose": {"zh-CN": "自编号码", "en": "Owner-composed number"},
    "reserve": {"zh-CN": "预留", "en": "Reserve"},
    "payment": {"zh-CN": "缴费", "en": "Payment"},
    "paid": {"zh-CN": "已缴费", "en": "paid"},
    "unpaid": {"zh-CN": "待缴费", "en": "awaiting payment"},
    "issuing": {"zh-CN": "制牌", "en": "Plate issuing"},
    "issue": {"zh-CN": "制牌（重试）", "en": "Issue plates (retry)"},
    "fitted": {"zh-CN": "号牌已安装", "en": "Plates fitted"},
    "open_exit": {"zh-CN": "开出口道闸", "en": "Open exit barrier"},
    "reject": {"zh-CN": "退办", "en": "Reject"},
    "abort": {"zh-CN": "中止", "en": "Abort"},
    "hold_btn": {"zh-CN": "暂停", "en": "Hold"},
    "resume": {"zh-CN": "恢复", "en": "Resume"},
    "timeline": {"zh-CN": "业务记录", "en": "Case journal"},
    "back": {"zh-CN": "返回总览", "en": "Back to overview"},
    "language": {"zh-CN": "English", "en": "中文"},
    "outcome": {"zh-CN": "结果", "en": "Outcome"},
    "loop": {"zh-CN": "地感", "en": "loop"},
    "light": {"zh-CN": "信号灯", "en": "light"},
    "arm": {"zh-CN": "闸杆", "en": "arm"},
    "camera": {"zh-CN": "VIN 相机", "en": "VIN camera"},
    "reader_loaded": {"zh-CN": "VIN 识别已加载", "en": "VIN reader loaded"},
    "reader_off": {
        "zh-CN": "VIN 识别已关闭（--no-reader）：每个 VIN 由查验员人工核对",
        "en": "VIN reader OFF (--no-reader): the inspector reads every VIN",
    },
    "passed": {"zh-CN": "车辆已通过（人工确认）", "en": "Vehicle has passed (confirm by eye)"},
    "passed_help": {
        "zh-CN": "地感未报告通过时（如车道控制器重启期间），查验员目视确认后使用。道闸仍只在地感和光电均无车时落杆。",
        "en": "Use when the loop did not report the passage (e.g. while the lane controller restarted). The arm still closes only when loop and photo-eye are clear.",
    },
    # the car the case is about, and the lane's queue (overview)
    "no_vehicle_yet": {"zh-CN": "车辆信息待调取", "en": "vehicle not known yet"},
    "vehicles_to_choose": {"zh-CN": "车主名下 {n} 辆待选", "en": "one of the owner's {n} vehicles"},
    "queue": {"zh-CN": "等候进入的车辆", "en": "Vehicles waiting to enter"},
    "queue_empty": {"zh-CN": "没有已建业务等候进入的车辆", "en": "No open case is waiting to enter"},
    "in_lane": {"zh-CN": "道内车辆", "en": "In the lane"},
    "waiting_count": {"zh-CN": "等候进入", "en": "Waiting to enter"},
    "at_entry": {
        "zh-CN": "入口地感上有车，尚未建业务",
        "en": "A vehicle stands on the entry loop with no case yet",
    },
    "queue_note": {
        "zh-CN": "只统计已建业务的车辆和入口地感上的车辆；更后面排队的车辆车道无法感知。",
        "en": "Counts the vehicles with an open case and the one on the entry loop; the lane cannot sense cars further back.",
    },
    # the case page's sticky head: the step the case is at and its one primary action
    "now": {"zh-CN": "当前", "en": "Now"},
    "step_records": {"zh-CN": "正在调取合作方资料", "en": "Fetching the partner records"},
    "step_admit": {"zh-CN": "资料齐全：放行车辆进入", "en": "Records complete: let the vehicle in"},
    "step_vehicle_choice": {
        "zh-CN": "车主名下有多辆待登记车辆：请选择到场的车辆",
        "en": "The owner has several vehicles awaiting registration: choose the one at the lane",
    },
    "vehicle_choice_help": {
        "zh-CN": "核对到场车辆的品牌型号、颜色和车辆识别代号，选择对应的一辆。",
        "en": "Match the brand and model, colour and VIN of the car at the lane, and choose that one.",
    },
    "this_vehicle": {"zh-CN": "是这辆车", "en": "This vehicle"},
    "vehicles_not_listed": {
        "zh-CN": "另有 {n} 辆未列出：到场车辆不在列表中时，请退出本业务，按预约号重新办理。",
        "en": "{n} more are not listed: if the car at the lane is not here, end this case and open one by its booking number.",
    },
    "chosen_vehicle": {"zh-CN": "已选", "en": "Chosen"},
    "step_records_problem": {
        "zh-CN": "资料有问题，不能放行：请退办",
        "en": "The records have problems, the vehicle cannot be admitted: reject the case",
    },
    "step_entering": {"zh-CN": "入口已开，等待车辆驶入", "en": "Entry open: waiting for the vehicle to drive in"},
    "step_vin_reading": {"zh-CN": "正在识别车辆识别代号", "en": "Reading the VIN"},
    "step_vin_review": {"zh-CN": "核对并确认车辆识别代号", "en": "Check and confirm the VIN"},
    "step_inspection": {
        "zh-CN": "逐项查验、拍照，然后完成查验",
        "en": "Mark each item, take the photos, then conclude",
    },
    "step_plate_choice": {"zh-CN": "车主选号", "en": "The owner chooses a plate number"},
    "step_payment": {"zh-CN": "请车主扫码缴费", "en": "The owner scans the code and pays"},
    "step_issuing": {"zh-CN": "正在制牌", "en": "Making the plates"},
    "step_issue_failed": {
        "zh-CN": "制牌失败：排除故障后重试",
        "en": "Plate issuing failed: clear the fault, then retry",
    },
    "step_fitting": {"zh-CN": "号牌已制作：请安装号牌", "en": "Plates made: fit them"},
    "step_exit": {"zh-CN": "开出口道闸放行", "en": "Open the exit barrier"},
    "step_passing_exit": {"zh-CN": "出口已开，等待车辆驶出", "en": "Exit open: waiting for the vehicle to drive out"},
    "step_hold": {"zh-CN": "业务已暂停", "en": "The case is on hold"},
    "step_closed": {"zh-CN": "业务已办结", "en": "The case is closed"},
    "go_vin": {"zh-CN": "去核对 VIN", "en": "Go to the VIN"},
    "go_vehicle_choice": {"zh-CN": "去选择车辆", "en": "Choose the vehicle"},
    "go_plates": {"zh-CN": "去选号", "en": "Go to the plate numbers"},
    "go_payment": {"zh-CN": "显示缴费二维码", "en": "Show the payment code"},
    "items_done": {"zh-CN": "已查验", "en": "Items marked"},
    "photos_done": {"zh-CN": "已拍照", "en": "Photos taken"},
    "done": {"zh-CN": "已完成", "en": "done"},
    # one control to end or pause a case, away from the primary action
    "end_case": {"zh-CN": "结束或暂停本业务", "en": "End or pause this case"},
    "end_what": {"zh-CN": "选择操作", "en": "Choose what to do"},
    "end_reject_help": {
        "zh-CN": "车辆本次不予登记（如 VIN 与合格证不符、查验不合格）。业务结束，已进入的车辆从出口离场，车主须处理问题后重新预约。",
        "en": "The vehicle fails registration this time (e.g. its VIN differs from the certificate, the inspection failed). "
        "The case ends, a vehicle inside leaves through the exit, and the owner must fix the problem and book again.",
    },
    "end_abort_help": {
        "zh-CN": "业务取消，不作登记结论（如车主离开、误建业务）。已预留的号牌释放，车主可重新办理。",
        "en": "The case is cancelled with no registration decision (e.g. the owner left, it was opened by mistake). "
        "A reserved plate number is released; the owner can start again.",
    },
    "end_hold_help": {
        "zh-CN": "业务暂停，之后可恢复（如等候材料）。暂停期间不放行、不制牌、不开出口。",
        "en": "The case pauses and can be resumed later (e.g. waiting for a document). "
        "While on hold nothing is admitted, issued or let out.",
    },
    "end_more": {"zh-CN": "补充说明", "en": "Details"},
    "end_more_help": {"zh-CN": "选“其他”时必填", "en": "needed when the reason is “other”"},
    "end_next": {"zh-CN": "下一步：确认", "en": "Next: confirm"},
    "end_confirm_reject": {
        "zh-CN": "确认退办？车辆本次不予登记，车主须重新预约。此操作不能撤销。",
        "en": "Reject the case? The vehicle is not registered this time and the owner must book again. "
        "This cannot be undone.",
    },
    "end_confirm_abort": {
        "zh-CN": "确认中止？业务取消，已预留的号牌释放。此操作不能撤销。",
        "en": "Abort the case? It is cancelled and a reserved plate number released. This cannot be undone.",
    },
    "end_confirm_hold": {
        "zh-CN": "确认暂停？业务暂停，可随时点“恢复”继续。",
        "en": "Put the case on hold? It pauses until someone taps “Resume”.",
    },
    "end_do_reject": {"zh-CN": "确认退办", "en": "Yes, reject"},
    "end_do_abort": {"zh-CN": "确认中止", "en": "Yes, abort"},
    "end_do_hold": {"zh-CN": "确认暂停", "en": "Yes, hold"},
    "end_back": {"zh-CN": "返回", "en": "Go back"},
    "end_need_reason": {"zh-CN": "请选择原因，或选“其他”并填写说明", "en": "Choose a reason, or “other” and write it"},
    "end_after_issue": {
        "zh-CN": "号牌已制作，不能退办，只能中止。",
        "en": "The plates are made: the case can no longer be rejected, only aborted.",
    },
    # photos, the VIN crop and the full-size viewer
    "take_photo": {"zh-CN": "拍照", "en": "Take photo"},
    "retake": {"zh-CN": "重拍", "en": "Retake"},
    "open_full": {"zh-CN": "点击查看原图，可放大", "en": "Tap to open full size and zoom"},
    "zoom_in": {"zh-CN": "放大", "en": "Zoom in"},
    "zoom_out": {"zh-CN": "缩小", "en": "Zoom out"},
    "zoom_fit": {"zh-CN": "适应屏幕", "en": "Fit"},
    "close": {"zh-CN": "关闭", "en": "Close"},
    # payment and plate issuing
    "scan_to_pay": {"zh-CN": "请车主用手机扫码缴费", "en": "The owner scans this code with a phone to pay"},
    "amount": {"zh-CN": "金额", "en": "Amount"},
    "plates_made": {"zh-CN": "号牌已制作", "en": "Plates made"},
    "plates_making": {"zh-CN": "制牌中", "en": "Making plates"},
    "plate_nev": {"zh-CN": "新能源号牌", "en": "new-energy plate"},
    "plate_ordinary": {"zh-CN": "小型汽车号牌", "en": "small-car plate"},
    # the VIN camera, said without its folder path or stream URL
    "camera_device": {"zh-CN": "本机相机", "en": "camera device"},
    "camera_stream": {"zh-CN": "网络相机", "en": "network camera"},
    "camera_module": {"zh-CN": "树莓派相机模块", "en": "Raspberry Pi camera module"},
    "camera_folder": {"zh-CN": "快照目录（模拟或测试）", "en": "snapshot folder (simulation or test)"},
    "camera_ok": {"zh-CN": "正常", "en": "working"},
    "camera_fault": {"zh-CN": "故障", "en": "fault"},
    # refusals of the tablet API (flashed on the page; scripts read them too)
    "err_sign_in_first": {"zh-CN": "请先登录", "en": "Sign in first"},
    "err_wrong_pin": {"zh-CN": "查验员编号或 PIN 码错误", "en": "Wrong inspector id or PIN"},
    "err_too_many_sign_ins": {
        "zh-CN": "登录失败次数过多，请 {seconds} 秒后再试",
        "en": "Too many failed sign-ins: try again in {seconds} s",
    },
    "err_bad_input": {"zh-CN": "输入无效：{fields}", "en": "Invalid input: {fields}"},
    "err_not_json": {"zh-CN": "请求内容须为 JSON 对象", "en": "The request body must be a JSON object"},
    "err_bad_body": {"zh-CN": "无法读取请求内容", "en": "The request body could not be read"},
    "err_body_too_large": {"zh-CN": "请求内容过大", "en": "The request is too large"},
    "err_photo_type": {"zh-CN": "照片须为 JPEG 或 PNG 图像", "en": "A photo must be a JPEG or PNG image"},
    "err_photo_too_large": {"zh-CN": "照片不能超过 10 MB", "en": "A photo may be at most 10 MB"},
    "err_no_such_case": {"zh-CN": "没有该业务", "en": "No such case"},
    "err_no_such_file": {"zh-CN": "没有该文件", "en": "No such file"},
    "err_unknown_action": {"zh-CN": "未知操作：{action}", "en": "Unknown action: {action}"},
    "err_not_found": {"zh-CN": "没有该页面", "en": "Not found"},
}

STAGES: dict[str, dict[str, str]] = {
    "opened": {"zh-CN": "已受理", "en": "opened"},
    "records_fetched": {"zh-CN": "已调取资料", "en": "partner records fetched"},
    "admitted": {"zh-CN": "已进入工位", "en": "admitted"},
    "vin_confirmed": {"zh-CN": "VIN 已确认", "en": "VIN confirmed"},
    "inspected": {"zh-CN": "查验合格", "en": "inspected"},
    "plate_reserved": {"zh-CN": "号牌已预留", "en": "plate reserved"},
    "paid": {"zh-CN": "已缴费", "en": "paid"},
    "plates_issued": {"zh-CN": "号牌已制作", "en": "plates issued"},
    "plates_fitted": {"zh-CN": "号牌已安装", "en": "plates fitted"},
    "leaving": {"zh-CN": "无牌离场", "en": "leaving without plates"},
    "exit_open": {"zh-CN": "出口已开", "en": "exit open"},
    "closed": {"zh-CN": "已办结", "en": "closed"},
}

ITEMS: dict[str, dict[str, str]] = {
    "vin": {"zh-CN": "车辆识别代号", "en": "VIN"},
    "engine": {"zh-CN": "发动机型号/号码", "en": "Engine model / number"},
    "brand_model": {"zh-CN": "品牌/型号", "en": "Brand / model"},
    "colour": {"zh-CN": "车身颜色", "en": "Body colour"},
    "seats": {"zh-CN": "核定载人数", "en": "Approved passengers"},
    "vehicle_type": {"zh-CN": "车辆类型", "en": "Vehicle type"},
    "plate_shape": {"zh-CN": "号牌/车辆外观形状", "en": "Plate / outer shape"},
    "tyres": {"zh-CN": "轮胎完好情况", "en": "Tyres"},
    "belts_triangle": {"zh-CN": "安全带、三角警告牌", "en": "Seat belts, warning triangle"},
}

PHOTOS: dict[str, dict[str, str]] = {
    "0111": {"zh-CN": "车辆左前方 45°", "en": "left-front 45°"},
    "0112": {"zh-CN": "车辆右后方 45°", "en": "right-rear 45°"},
    "0113": {"zh-CN": "车辆识别代号", "en": "VIN"},
    "0119": {"zh-CN": "发动机号码/标签", "en": "engine number / label"},
    "0158": {"zh-CN": "车辆正后方", "en": "straight rear"},
    "0115": {"zh-CN": "货箱", "en": "cargo compartment"},
    "0205": {"zh-CN": "查验记录表", "en": "inspection record form"},
}


EVENTS = EVENT_NAMES  # every event kind, named once for every page (edge/event_names.py)

VALUES: dict[str, dict[str, str]] = {  # values the pages show: partner record states, VIN read decisions, outcomes
    "paid": {"zh-CN": "已缴纳", "en": "paid"},
    "exempt": {"zh-CN": "免征", "en": "exempt"},
    "missing": {"zh-CN": "缺失", "en": "missing"},
    "valid": {"zh-CN": "有效", "en": "valid"},
    "expired": {"zh-CN": "已过期", "en": "expired"},
    "invalid": {"zh-CN": "无效", "en": "invalid"},
    "accept": {"zh-CN": "自动通过", "en": "accept"},
    "review": {"zh-CN": "人工复核", "en": "review"},
    "none": {"zh-CN": "未读到", "en": "none"},
    "registered": {"zh-CN": "已上牌", "en": "registered"},
    "rejected": {"zh-CN": "退办", "en": "rejected"},
    "aborted": {"zh-CN": "已中止", "en": "aborted"},
    "nev": {"zh-CN": "新能源", "en": "NEV"},
    "check_digit": {"zh-CN": "校验位", "en": "check digit"},
    "unknown": {"zh-CN": "未知", "en": "unknown"},
    "closed": {"zh-CN": "落杆", "en": "closed"},
    "opening": {"zh-CN": "正在抬杆", "en": "opening"},
    "open": {"zh-CN": "抬杆", "en": "open"},
    "closing": {"zh-CN": "正在落杆", "en": "closing"},
    "stopped": {"zh-CN": "停止", "en": "stopped"},
    "fault": {"zh-CN": "故障", "en": "fault"},
    "red": {"zh-CN": "红", "en": "red"},
    "green": {"zh-CN": "绿", "en": "green"},
    "off": {"zh-CN": "灭", "en": "off"},
    "minutes": {"zh-CN": "分钟", "en": "min"},
    # who wrote a journal event besides an inspector
    "system": {"zh-CN": "系统", "en": "system"},
    "cloud": {"zh-CN": "云端", "en": "cloud"},
    # what the simulated inspector (and many a real one) types as the VIN confirmation's reason
    "checked on the vehicle": {"zh-CN": "已在车上核对", "en": "checked on the vehicle"},
    "read by eye": {"zh-CN": "人工目视识读", "en": "read by eye"},
    # the case's record problems (lane_controller.case._record_problems)
    "no factory certificate record": {"zh-CN": "无合格证记录", "en": "no factory certificate record"},
    "purchase tax not paid": {"zh-CN": "购置税未缴纳", "en": "purchase tax not paid"},
    "no valid compulsory insurance": {"zh-CN": "无有效交强险", "en": "no valid compulsory insurance"},
}

COLOURS: dict[str, dict[str, str]] = {  # body colours as the factory certificate gives them (in Chinese)
    "白": {"zh-CN": "白", "en": "white"},
    "黑": {"zh-CN": "黑", "en": "black"},
    "灰": {"zh-CN": "灰", "en": "grey"},
    "银": {"zh-CN": "银", "en": "silver"},
    "蓝": {"zh-CN": "蓝", "en": "blue"},
    "红": {"zh-CN": "红", "en": "red"},
    "绿": {"zh-CN": "绿", "en": "green"},
    "棕": {"zh-CN": "棕", "en": "brown"},
    "黄": {"zh-CN": "黄", "en": "yellow"},
}

# the preset reasons of the end-or-pause control, per action; the reason journaled is the English text (the lane's
# words, like every other reason), shown in zh-CN through CASE_REASONS; "other" means the inspector writes one
END_REASONS: dict[str, tuple[str, ...]] = {
    "reject": (
        "VIN differs from the certificate",
        "vehicle differs from the certificate",
        "inspection failed",
        "partner records have problems",
        "other",
    ),
    "abort": ("owner left", "owner asked to stop", "case opened by mistake", "equipment fault", "other"),
    "hold": ("waiting for documents", "owner away for a moment", "equipment fault", "inspector called away", "other"),
}
CASE_REASONS: dict[str, dict[str, str]] = {
    "VIN differs from the certificate": {"zh-CN": "VIN 与合格证不符", "en": "VIN differs from the certificate"},
    "vehicle differs from the certificate": {
        "zh-CN": "车辆与合格证不符",
        "en": "vehicle differs from the certificate",
    },
    "inspection failed": {"zh-CN": "查验不合格", "en": "inspection failed"},
    "partner records have problems": {"zh-CN": "合作方资料有问题", "en": "partner records have problems"},
    "owner left": {"zh-CN": "车主离开", "en": "owner left"},
    "owner asked to stop": {"zh-CN": "车主要求取消", "en": "owner asked to stop"},
    "case opened by mistake": {"zh-CN": "误建业务", "en": "case opened by mistake"},
    "equipment fault": {"zh-CN": "设备故障", "en": "equipment fault"},
    "waiting for documents": {"zh-CN": "等候材料", "en": "waiting for documents"},
    "owner away for a moment": {"zh-CN": "车主暂时离开", "en": "owner away for a moment"},
    "inspector called away": {"zh-CN": "查验员临时离开", "en": "inspector called away"},
    "other": {"zh-CN": "其他", "en": "other"},
}

DEVICE_DETAILS: dict[str, str] = {  # what lane_controller.hardware reports of a board, in zh-CN
    "link down": "通信中断",
    "recovered": "已恢复",
}
DEVICE_DETAIL_PREFIXES: dict[str, str] = {"could not start: ": "无法启动："}
# the plate issuer's job states and faults (firmware/lanebus.py JOB_STATE_NAMES, FAULT_NAMES), in zh-CN
ISSUER_WORDS: dict[str, str] = {
    "none": "无",
    "accepted": "已接收",
    "feeding": "送牌中",
    "printing": "印制中",
    "ejecting": "出牌中",
    "done": "完成",
    "paused": "已暂停",
    "interrupted": "已中断",
    "jam": "卡牌",
    "magazine_empty": "牌库空",
    "cover_open": "机盖打开",
    "print_failure": "印制失败",
    "reset_during_job": "制牌中复位",
    "arm_travel": "机械臂行程故障",
}
ISSUER_JOB = re.compile(r"job (\w+): (\w+)")
ISSUER_PROGRESS = re.compile(r"plate issuer: (\w+), (\d+) plate\(s\) done")


def _device_detail_zh(detail: str) -> str:
    """What a board reported (``link down``, ``job interrupted: jam``, ``could not start: ...``) in zh-CN."""
    if detail in DEVICE_DETAILS:
        return DEVICE_DETAILS[detail]
    if m := ISSUER_JOB.fullmatch(detail):
        return f"制牌任务{ISSUER_WORDS.get(m[1], m[1])}：{ISSUER_WORDS.get(m[2], m[2])}"
    return next((z + detail[len(p) :] for p, z in DEVICE_DETAIL_PREFIXES.items() if detail.startswith(p)), detail)


DEVICES: dict[str, str] = {"io-board": "I/O 板", "plate-issuer": "制牌机", "camera": "VIN 相机"}


def device_name(name: str, lang: str) -> str:
    """A board's name as the tablet shows it (``io-board`` -> ``I/O 板`` in zh-CN)."""
    return name if lang == "en" else DEVICES.get(name, name)


DISK_FULL = re.compile(
    r"(?P<pre>(?:photo )?not saved: )?disk full: (?P<free>[\d.]+) MiB free in (?P<folder>.+?) \(needs (?P<need>[\d.e+]+) MiB\); "
    r"no new work until space returns; nothing journaled is lost(?P<what>: no new \w+)?"
)
CLOCK_UNSYNCED = re.compile(r"clock not synchronised: no (?P<what>\w+) starts(?: until it is)? \((?P<detail>.*)\)")
_NOT_SAVED = {"not saved: ": "未保存：", "photo not saved: ": "照片未保存："}
_NEW_WORK = {"case": "案件", "exam": "考试"}


def _unit_state_zh(text: str) -> str | None:
    """The unit's own disk and clock alerts (edge.storage, edge.clock_sync) in zh-CN, or None for other texts."""
    if m := DISK_FULL.fullmatch(text):
        what = (m["what"] or "").removeprefix(": no new ")
        return (
            f"{_NOT_SAVED.get(m['pre'] or '', '')}磁盘已满：{m['folder']} 仅剩 {m['free']} MiB（需要 {m['need']} MiB）；"
            "空间恢复前不接新业务，已记录的数据不会丢失" + (f"；不能开新{_NEW_WORK.get(what, what)}" if what else "")
        )
    if m := CLOCK_UNSYNCED.fullmatch(text):
        return f"时钟未同步：同步前不能开始{_NEW_WORK.get(m['what'], m['what'])}（{m['detail']}）"
    return None


CLOUD_ERRORS: dict[str, str] = {  # the bridge's error codes (cloud_bridge.service RequestError, limits) in zh-CN
    "bad_request": "请求无效",
    "case_closed": "案件已办结",
    "no_plate": "号牌不可用",
    "not_found": "合作方系统中未查到记录",
    "not_offered": "该号码不在本案件的可选号码中",
    "not_your_case": "不是本车道的案件",
    "quota": "超出本案件的次数限制",
    "rate_limited": "请求过于频繁，请稍后再试",
    "taken": "该号码已被占用，请另选",
    "unknown_item": "云端不认识该项目",
    "unknown_authority": "发牌机关与本站不符",
    "internal": "云端内部错误",
    "error": "云端出错",
}
CLOUD_STEPS = {"plate options": "获取号码", "payment start": "发起缴费"}
CLOUD_ERROR = re.compile(
    r"(?:(?P<step>plate options|payment start): )?(?:(?P<number>[^\s:：]+): )?(?P<code>[a-z_]+)(?=$|[\s:])"
)


def translate_cloud_error(text: str | None, lang: str) -> str | None:
    """An answer the bridge refused with (``not_found``, ``苏A12345: taken: ...``, ``plate options: quota ...``) in the
    tablet's language: the step and the code in words; the bridge's English detail is left to the English page."""
    if not text or lang == "en":
        return text
    m = CLOUD_ERROR.match(text)
    if m is None or m["code"] not in CLOUD_ERRORS:
        return text
    said = CLOUD_ERRORS[m["code"]]
    if m["number"]:
        said = f"{m['number']}：{said}"
    return f"{CLOUD_STEPS[m['step']]}：{said}" if m["step"] else said


def translate_device_message(text: str, lang: str) -> str:
    """A device alert (``"io-board: link down"``) in the tablet's language; English stays as the lane wrote it."""
    if lang == "en" or ": " not in text:
        return text
    if (said := _unit_state_zh(text)) is not None:
        return said
    if text.split(": ", 1)[0] in CLOUD_STEPS:
        return translate_cloud_error(text, lang) or text
    device, detail = text.split(": ", 1)
    return f"{device_name(device, lang)}：{_device_detail_zh(detail)}"


REASONS: dict[str, str] = {  # what a case waits for (lane_controller.case.waiting_for and the runtime), in zh-CN
    "partner records": "调取合作方资料",
    "vehicle to enter": "车辆驶入",
    "inspector to admit the vehicle": "查验员放行进入",
    "inspector to choose the vehicle": "查验员选择到场车辆",
    "VIN review": "人工复核 VIN",
    "VIN read": "识别 VIN",
    "reading VIN": "正在识别 VIN",
    "inspection": "查验",
    "plate reservation": "号牌预留",
    "owner's plate choice": "车主选号",
    "payment": "缴费",
    "plate issuer": "制牌",
    "plate issuer working": "制牌中",
    "plates to be fitted": "安装号牌",
    "exit to open": "开出口道闸",
    "exit to open (leaving without plates)": "开出口道闸（无牌离场）",
    "vehicle to pass the exit": "车辆驶出",
    "no cloud connection configured": "未配置云端连接",
}
REASON_PREFIXES: dict[str, str] = {
    "waiting for the cloud": "等待云端",
    "on hold": "暂停",
    "partner records (": "调取合作方资料（",
}


def translate_reason(text: str | None, lang: str) -> str | None:
    """A waiting reason in the tablet's language (English stays as the lane wrote it)."""
    if not text or lang == "en":
        return text
    if text in REASONS:
        return REASONS[text]
    preset, _, more = text.partition(": ")
    if preset == "on hold" and more:
        inner = translate_reason(more, lang) or more
        return "暂停：" + (translate_device_message(more, lang) if inner == more else inner)
    if preset == "inspection failed" and more:  # the case machine's reason: the failed items
        return "查验不合格：" + "、".join(ITEMS.get(i, {}).get("zh-CN", i) for i in more.split(", "))
    if preset in CASE_REASONS:  # a preset of the end-or-pause control, maybe with the inspector's own words
        return CASE_REASONS[preset]["zh-CN"] + (f"：{more}" if more else "")
    if m := ISSUER_PROGRESS.fullmatch(text):
        return f"制牌：{ISSUER_WORDS.get(m[1], m[1])}，已完成 {m[2]} 块"
    if text.startswith("plate issuer: "):
        return "制牌：" + _device_detail_zh(text[len("plate issuer: ") :])
    for prefix, zh in REASON_PREFIXES.items():
        if text.startswith(prefix):
            return zh + text[len(prefix) :]
    return text


LANGUAGES = ("zh-CN", "en")


def language_of(cookie: str | None, default: str) -> str:
    """The tablet's language: the ``lang`` cookie set by the toggle, else the lane's default; zh-CN for anything else."""
    lang = cookie or default
    return lang if lang in LANGUAGES else "zh-CN"


def translator(lang: str):  # noqa: ANN201
    def t(key: str, table: dict[str, dict[str, str]] = STRINGS, **fields: Any) -> str:
        """The text of `key`; `fields` fill its placeholders (``{n}``)."""
        entry = table.get(key)
        text = entry.get(lang, entry.get("en", key)) if entry else key
        return text.format(**fields) if fields else text

    return t
