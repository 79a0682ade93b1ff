"""Risk rules ("异常风险预警"): pure functions from events and facts to alert signals.

No I/O here: the caller hands in the event, what was known about its case
before it (`CaseFacts`, `cloud_bridge.case_view`), and counters; the rules
return `AlertSignal`s. `fold_signals` judges everything one ingest fold found
(`FoldFindings`), once the fold has committed (`cloud_bridge.ingest_service`).
An alert is keyed (`AlertSignal.key`): the store keeps one open alert per key
and updates it when the same key fires again, so a rule may fire freely. A
rule also says when its cause has ended (a clearing signal, `clears=True`:
the device recovered, the unit is back online): the store then resolves the
open alert of that key itself, keeping it and auditing the resolution.

Each alert carries its detail twice: `detail`, English text for logs and the
API, and `code` with `values`, which the pages word through the catalogue
(`cloud_bridge/i18n.py`, key `ad_<code>`) in the reader's language.

Defaults are documented in docs/bridge.md and can be changed in a rules file
(TOML, a `[rules]` table with the fields of `RiskRulesConfig`).
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.case_view import CaseFacts, data_float, data_str, issued_number, vin_confirmation
from cloud_bridge.ingest import ExamFinding, FoldFindings, sign_in_name
from edge.contract import EventEnvelope, EventKind
from firmware.lanebus import FAULT_NAMES

log = logging.getLogger("passlane.bridge")


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"


class Rule(StrEnum):
    INSPECTION_TOO_SHORT = "inspection_too_short"
    VIN_CORRECTED = "vin_corrected"
    VIN_DIFFERS_FROM_CERTIFICATE = "vin_differs_from_certificate"
    OVERRIDE_RATE = "inspector_override_rate"
    CASE_OPEN_TOO_LONG = "case_open_too_long"
    DEVICE_OFFLINE = "device_offline"
    BARRIER_OUTSIDE_CASE = "barrier_outside_case"
    PLATE_WITHOUT_PAYMENT = "plate_without_payment"
    PLATE_ISSUED_TWICE = "plate_issued_twice"
    FAILED_LOGINS = "failed_logins"
    EVENT_REFUSED = "event_refused"
    EVENT_CONFLICT = "event_conflict"
    EVENT_CHAIN_BROKEN = "event_chain_broken"
    CASE_OF_ANOTHER_UNIT = "case_of_another_unit"
    DEAD_LETTER_FLOOD = "dead_letter_flood"
    PLATE_JAM = "plate_jam"
    # exam supervision (docs/exam-site.md): named as the exam console and the spec name them
    EXAM_DEGRADED_FIX = "exam-degraded-fix"
    EXAM_RESULT_OVERRIDDEN = "exam-result-overridden"
    EXAM_RETAKE_TOO_SOON = "exam-retake-too-soon"
    EXAM_TOO_FAST = "exam-too-fast"
    EXAM_PASS_RATE_DEVIATION = "exam-pass-rate-deviation"
    EXAM_TRACK_MISSING = "exam-track-missing"


class RiskRulesConfig(BaseModel):
    """Thresholds of the risk rules; every one a documented, changeable default."""

    model_config = ConfigDict(extra="forbid")
    min_inspection_s: float = Field(
        120.0,
        ge=0,
        description="an inspection shorter than this (seconds from admission or first item to case.inspected) is flagged; unconfirmed default",
    )
    override_rate_limit: float = Field(
        0.2, ge=0, le=1, description="an inspector whose VIN corrections / inspections exceed this share is flagged"
    )
    override_min_samples: int = Field(
        20, ge=1, description="inspections an inspector needs before the override rate is judged"
    )
    case_open_limit_s: float = Field(
        1800.0,
        ge=1,
        description="a case still open this long after case.opened is flagged (the 30-minute promise; the dashboard's limit too)",
    )
    device_offline_after_s: float = Field(
        120.0, ge=5, description="a unit silent this long (no status, telemetry or event) counts as offline"
    )
    failed_logins_limit: int = Field(
        5,
        ge=1,
        description="failed sign-ins (lane inspectors or dashboard users) within the window that raise an alert",
    )
    failed_logins_window_s: float = Field(600.0, ge=1, description="window for counting failed sign-ins")
    exam_retake_min_days: float = Field(
        10.0,
        ge=0,
        description="a candidate (ID number) examined again sooner than this many days after a failed exam is flagged",
    )
    exam_min_minutes: float = Field(
        3.0, ge=0, description="a completed exam (every item driven) that took less than this many minutes is flagged"
    )
    exam_rate_min_exams: int = Field(
        20, ge=1, description="judged exams a car or examiner needs before its pass rate is compared with the site's"
    )
    exam_rate_max_gap: float = Field(
        0.25, gt=0, le=1, description="a car's or examiner's pass rate further than this from its site's is flagged"
    )
    exam_rate_window_days: float = Field(
        30.0, gt=0, description="pass rates are computed over the exams that ended within this many days"
    )
    exam_track_grace_s: float = Field(
        600.0, ge=0, description="an exam ended this long ago whose track has not arrived complete is flagged"
    )
    severity: dict[str, Severity] = Field(
        default_factory=lambda: dict[str, Severity](
            {
                Rule.INSPECTION_TOO_SHORT: Severity.WARNING,
                Rule.VIN_CORRECTED: Severity.INFO,
                Rule.VIN_DIFFERS_FROM_CERTIFICATE: Severity.HIGH,
                Rule.OVERRIDE_RATE: Severity.WARNING,
                Rule.CASE_OPEN_TOO_LONG: Severity.WARNING,
                Rule.DEVICE_OFFLINE: Severity.HIGH,
                Rule.BARRIER_OUTSIDE_CASE: Severity.HIGH,
                Rule.PLATE_WITHOUT_PAYMENT: Severity.CRITICAL,
                Rule.PLATE_ISSUED_TWICE: Severity.CRITICAL,
                Rule.FAILED_LOGINS: Severity.WARNING,
                Rule.EVENT_REFUSED: Severity.HIGH,
                Rule.EVENT_CONFLICT: Severity.HIGH,
                Rule.EVENT_CHAIN_BROKEN: Severity.HIGH,
                Rule.CASE_OF_ANOTHER_UNIT: Severity.CRITICAL,
                Rule.DEAD_LETTER_FLOOD: Severity.WARNING,
                Rule.PLATE_JAM: Severity.HIGH,
                Rule.EXAM_DEGRADED_FIX: Severity.HIGH,
                Rule.EXAM_RESULT_OVERRIDDEN: Severity.HIGH,
                Rule.EXAM_RETAKE_TOO_SOON: Severity.WARNING,
                Rule.EXAM_TOO_FAST: Severity.WARNING,
                Rule.EXAM_PASS_RATE_DEVIATION: Severity.WARNING,
                Rule.EXAM_TRACK_MISSING: Severity.HIGH,
            }
        ),
        description="severity per rule (info, warning, high, critical)",
    )
    disabled: list[Rule] = Field(default_factory=list, description="rules switched off")

    def sev(self, rule: Rule) -> Severity:
        return Severity(self.severity.get(rule, Severity.WARNING))


def load_rules(path: Path | None) -> RiskRulesConfig:
    if path is None:
        return RiskRulesConfig()
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return RiskRulesConfig.model_validate(data.get("rules", data))


@dataclass(frozen=True)
class AlertSignal:
    """An alert to raise (or update), or with `clears` the end of its cause: resolve the open alert of `key`.

    `code` and `values` are the detail for the catalogue (`ad_<code>`); on a clearing signal `code` says why
    the cause ended and `only_codes`, when given, limits the clearing to an open alert raised with one of them.
    """

    rule: Rule
    key: str  # de-duplication key: one open alert per key
    severity: Severity
    title: str
    detail: str
    site: str | None = None
    unit: str | None = None
    case_id: str | None = None
    code: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    clears: bool = False
    only_codes: tuple[str, ...] = ()


def alert_signal(
    cfg: RiskRulesConfig,
    rule: Rule,
    key: object,
    title: str,
    detail: str,
    site: str | None,
    unit: str | None,
    case_id: str | None = None,
    *,
    code: str = "",
    values: dict[str, Any] | None = None,
) -> AlertSignal:
    """An alert of `rule` at its configured severity; one stays open per rule and `key` (a case, a unit, a plate)."""
    return AlertSignal(
        rule, f"{rule}:{key}", cfg.sev(rule), title, detail, site, unit, case_id, code=code, values=values or {}
    )


def clear_signal(
    cfg: RiskRulesConfig,
    rule: Rule,
    key: object,
    cause: str,
    site: str | None,
    unit: str | None,
    *,
    only_codes: tuple[str, ...] = (),
    values: dict[str, Any] | None = None,
) -> AlertSignal:
    """The cause of `rule`'s alert for `key` has ended (`cause` says how): its open alert resolves itself, if there is one."""
    return AlertSignal(
        rule,
        f"{rule}:{key}",
        cfg.sev(rule),
        title="",
        detail=cause,
        site=site,
        unit=unit,
        code=cause,
        values=values or {},
        clears=True,
        only_codes=only_codes,
    )


@dataclass(frozen=True)
class _Judged:
    """One event being judged: what a rule needs to read it and to word its alert."""

    ev: EventEnvelope
    before: CaseFacts | None
    site: str
    cfg: RiskRulesConfig
    paid_by_bridge: bool

    def signal(
        self,
        rule: Rule,
        key: object,
        title: str,
        detail: str,
        case_id: str | None = None,
        *,
        code: str = "",
        values: dict[str, Any] | None = None,
    ) -> AlertSignal:
        return alert_signal(
            self.cfg, rule, key, title, detail, self.site, self.ev.unit, case_id, code=code or rule.value, values=values
        )


def _inspection_too_short(j: _Judged) -> list[AlertSignal]:
    ev, d, before = j.ev, j.ev.data, j.before
    duration = data_float(d.get("duration_s"))
    if duration is None and d.get("too_fast") is True:  # the lane judged it too fast itself
        duration = 0.0
    if duration is None and before is not None:
        start = before.first_item_at if before.first_item_at is not None else before.admitted_at
        duration = None if start is None else ev.ts - start
    if duration is None or float(duration) >= j.cfg.min_inspection_s:
        return []
    detail = f"case {ev.case_id}: inspection took {float(duration):.0f}s < {j.cfg.min_inspection_s:.0f}s (inspector {ev.actor})"
    values = {
        "case": ev.case_id,
        "duration_s": float(duration),
        "min_s": j.cfg.min_inspection_s,
        "inspector": ev.actor or "?",
    }
    return [
        j.signal(
            Rule.INSPECTION_TOO_SHORT, ev.case_id, "Inspection shorter than minimum", detail, ev.case_id, values=values
        )
    ]


def _vin_corrected(j: _Judged) -> list[AlertSignal]:
    vin, read, corrected = vin_confirmation(j.ev.data)
    if not corrected:
        return []
    case = j.ev.case_id
    detail = f"case {case}: read {read or '?'} confirmed as {vin} by {j.ev.actor}"
    values = {"case": case, "read": read or "?", "vin": vin, "inspector": j.ev.actor or "?"}
    return [j.signal(Rule.VIN_CORRECTED, case, "VIN corrected by inspector", detail, case, values=values)]


def _vin_differs_from_certificate(j: _Judged) -> list[AlertSignal]:
    vin, _, _ = vin_confirmation(j.ev.data)
    cert_vin = data_str(j.ev.data.get("certificate_vin")) or (j.before.cert_vin if j.before else None)
    if not (vin and cert_vin and vin != cert_vin):
        return []
    case = j.ev.case_id
    detail = f"case {case}: confirmed VIN {vin} but the certificate says {cert_vin}"
    values = {"case": case, "vin": vin, "cert_vin": cert_vin}
    return [
        j.signal(Rule.VIN_DIFFERS_FROM_CERTIFICATE, case, "VIN differs from certificate", detail, case, values=values)
    ]


def _barrier_outside_case(j: _Judged) -> list[AlertSignal]:
    ev, d = j.ev, j.ev.data
    state = str(d.get("state") or d.get("command") or d.get("action") or d.get("to") or "").lower()
    opened = state in ("open", "opened", "opening", "raise", "raised", "up")
    in_case = bool(ev.case_id) and (j.before is None or j.before.closed_at is None)
    if not opened or in_case:
        return []
    barrier = d.get("barrier", "?")
    by_command = bool(d.get("request_id") or d.get("remote"))
    remote = " (remote command)" if by_command else ""
    detail = f"{ev.unit}: barrier {barrier} opened with no open case{remote} at {ev.ts:.0f}"
    return [
        j.signal(
            Rule.BARRIER_OUTSIDE_CASE,
            f"{ev.unit}:{barrier}",
            "Barrier opened outside a case",
            detail,
            ev.case_id,
            code="barrier_outside_case_remote" if by_command else "barrier_outside_case",
            values={"unit": ev.unit, "barrier": str(barrier), "at": ev.ts},
        )
    ]


def _plate_without_payment(j: _Judged) -> list[AlertSignal]:
    if j.paid_by_bridge or (j.before is not None and j.before.paid):
        return []
    case = j.ev.case_id
    plate = issued_number(j.ev.data) or "?"
    detail = f"case {case}: plate {plate} issued but no payment is recorded"
    values = {"case": case, "plate": plate}
    return [j.signal(Rule.PLATE_WITHOUT_PAYMENT, case, "Plate issued without payment", detail, case, values=values)]


def _device(d: dict[str, Any]) -> str:
    return data_str(d.get("device")) or data_str(d.get("board")) or data_str(d.get("name")) or "device"


def device_fault_name(detail: str) -> str:
    """The fault a lane's free-text device report names, for the catalogue (`fault_<name>`).

    The lane words its reports as the board said them: "jam (job j-1)", "job paused: jam", "link down",
    "could not start: ..."; a report of none of these is `other` and keeps its text.
    """
    text = detail.strip().lower()
    if text.startswith("could not start"):
        return "start_failed"
    if text.startswith("link down"):
        return "link_down"
    for name in FAULT_NAMES[1:]:
        if re.search(rf"\b{name}\b", text):
            return name
    return "other"


def _is_plate_jam(j: _Judged) -> bool:
    d = j.ev.data
    words = str(d.get("fault") or d.get("reason") or d.get("detail") or "")
    return _device(d) == "plate-issuer" and device_fault_name(words) == "jam"


def _device_offline(j: _Judged) -> list[AlertSignal]:
    """A device fault the lane reported; a plate jam is its own alert (`_plate_jam`), not this one."""
    if _is_plate_jam(j) and Rule.PLATE_JAM not in j.cfg.disabled:
        return []
    d, dev = j.ev.data, _device(j.ev.data)
    said = str(d.get("reason") or d.get("detail") or "")
    detail = f"{j.ev.unit}: {dev} fault: {said}".strip()
    fault = device_fault_name(said)
    values = {"unit": j.ev.unit, "device": dev, "fault": fault, "detail": said}
    code = "device_fault_other" if fault == "other" else "device_fault"  # the lane's own words, when no name fits
    return [j.signal(Rule.DEVICE_OFFLINE, f"{j.ev.unit}:{dev}", "Device fault", detail, code=code, values=values)]


def _plate_jam(j: _Judged) -> list[AlertSignal]:
    """The plate issuer jammed: a plate sticks in the feeder or ejector and the job pauses until someone frees it."""
    if not _is_plate_jam(j):
        return []
    job = data_str(j.ev.data.get("job_id")) or ""
    detail = f"{j.ev.unit}: plate issuer jammed" + (f" (job {job})" if job else "")
    values = {"unit": j.ev.unit, "job": job or "—"}
    return [
        j.signal(
            Rule.PLATE_JAM, f"{j.ev.unit}:plate-issuer", "Plate issuer jammed", detail, j.ev.case_id, values=values
        )
    ]


def _device_recovered(j: _Judged) -> list[AlertSignal]:
    """The lane says a device works again: the device's fault alert resolves itself."""
    dev = _device(j.ev.data)
    values = {"unit": j.ev.unit, "device": dev}
    key = f"{j.ev.unit}:{dev}"
    return [clear_signal(j.cfg, Rule.DEVICE_OFFLINE, key, "device_recovered", j.site, j.ev.unit, values=values)]


def _jam_cleared(j: _Judged) -> list[AlertSignal]:
    """The plate issuer works again (its fault was cleared once the jammed plate was freed): the jam alert resolves itself."""
    if _device(j.ev.data) != "plate-issuer":
        return []
    values = {"unit": j.ev.unit, "device": "plate-issuer"}
    key = f"{j.ev.unit}:plate-issuer"
    return [clear_signal(j.cfg, Rule.PLATE_JAM, key, "device_recovered", j.site, j.ev.unit, values=values)]


# Which rules judge which event kind, in the order their alerts are raised.
EVENT_RULES: dict[EventKind, tuple[tuple[Rule, Callable[[_Judged], list[AlertSignal]]], ...]] = {
    EventKind.CASE_INSPECTED: ((Rule.INSPECTION_TOO_SHORT, _inspection_too_short),),
    EventKind.CASE_VIN_CONFIRMED: (
        (Rule.VIN_CORRECTED, _vin_corrected),
        (Rule.VIN_DIFFERS_FROM_CERTIFICATE, _vin_differs_from_certificate),
    ),
    EventKind.BARRIER_ACTUATED: ((Rule.BARRIER_OUTSIDE_CASE, _barrier_outside_case),),
    EventKind.CASE_PLATES_ISSUED: ((Rule.PLATE_WITHOUT_PAYMENT, _plate_without_payment),),
    EventKind.DEVICE_FAULT: ((Rule.DEVICE_OFFLINE, _device_offline), (Rule.PLATE_JAM, _plate_jam)),
    EventKind.DEVICE_RECOVERED: ((Rule.DEVICE_OFFLINE, _device_recovered), (Rule.PLATE_JAM, _jam_cleared)),
}
JUDGED_KINDS: frozenset[EventKind] = frozenset(EVENT_RULES)
"""The event kinds a rule judges by themselves: the fold notes the other events only when they tripped over something."""


def check_event(
    ev: EventEnvelope, before: CaseFacts | None, site: str, cfg: RiskRulesConfig, *, paid_by_bridge: bool = False
) -> list[AlertSignal]:
    """The rules that judge one event against what was known of its case before it."""
    judged = _Judged(ev, before, site, cfg, paid_by_bridge)
    off = set(cfg.disabled)
    return [signal for rule, judge in EVENT_RULES.get(ev.kind, ()) if rule not in off for signal in judge(judged)]


def override_rate_signal(
    inspector: str,
    inspections: int,
    corrections: int,
    cfg: RiskRulesConfig,
    site: str | None = None,
    unit: str | None = None,
) -> AlertSignal | None:
    if Rule.OVERRIDE_RATE in cfg.disabled or inspections < cfg.override_min_samples:
        return None
    rate = corrections / inspections
    if rate <= cfg.override_rate_limit:
        return None
    return alert_signal(
        cfg,
        Rule.OVERRIDE_RATE,
        inspector,
        "Inspector override rate above limit",
        f"inspector {inspector}: {corrections} VIN corrections in {inspections} inspections ({rate:.0%} > {cfg.override_rate_limit:.0%})",
        site,
        unit,
        code=Rule.OVERRIDE_RATE.value,
        values={
            "inspector": inspector,
            "corrections": corrections,
            "inspections": inspections,
            "rate_pct": round(rate * 100),
            "limit_pct": round(cfg.override_rate_limit * 100),
        },
    )


def failed_logins_signal(
    who: str, count_in_window: int, cfg: RiskRulesConfig, site: str | None = None, unit: str | None = None
) -> AlertSignal | None:
    if Rule.FAILED_LOGINS in cfg.disabled or count_in_window < cfg.failed_logins_limit:
        return None
    return alert_signal(
        cfg,
        Rule.FAILED_LOGINS,
        who,
        "Repeated failed sign-ins",
        f"{who}: {count_in_window} failed sign-ins within {cfg.failed_logins_window_s:.0f}s",
        site,
        unit,
        code=Rule.FAILED_LOGINS.value,
        values={"who": who, "count": count_in_window, "window_real_s": cfg.failed_logins_window_s},
    )


def open_case_signals(open_cases: list[dict[str, Any]], now: float, cfg: RiskRulesConfig) -> list[AlertSignal]:
    """Cases still open beyond the limit (periodic sweep)."""
    if Rule.CASE_OPEN_TOO_LONG in cfg.disabled:
        return []
    out = []
    for c in open_cases:
        opened = c.get("opened_at")
        if opened is not None and c.get("closed_at") is None and now - opened > cfg.case_open_limit_s:
            out.append(
                alert_signal(
                    cfg,
                    Rule.CASE_OPEN_TOO_LONG,
                    c["case_id"],
                    "Case open too long",
                    f"case {c['case_id']} open for {(now - opened) / 60:.0f} min (stage {c.get('stage')})",
                    c.get("site"),
                    c.get("unit"),
                    c["case_id"],
                    code=Rule.CASE_OPEN_TOO_LONG.value,
                    values={"case": c["case_id"], "open_s": now - opened, "stage": c.get("stage") or ""},
                )
            )
    return out


# what the sweep raises about a unit and its boards, and so may clear: not a fault the lane reported itself
_UNIT_OFFLINE_CODES = ("unit_offline", "unit_silent")
_BOARD_OFFLINE_CODES = ("board_offline",)


def offline_unit_signals(units: list[dict[str, Any]], now: float, cfg: RiskRulesConfig) -> list[AlertSignal]:
    """Units that said they went offline (Last Will) or fell silent, and boards reported offline (periodic sweep).

    A unit online and heard from again, and a board its telemetry reports online again, clear the alert the
    sweep raised about them (a device fault the lane reported clears with its `device.recovered`).
    """
    if Rule.DEVICE_OFFLINE in cfg.disabled:
        return []
    out = []
    for u in units:
        if u.get("role") == "bridge":
            continue
        unit, site = u["unit"], u.get("site")
        last = u.get("last_seen_at")
        state = u.get("state")
        silent = last is not None and now - last > cfg.device_offline_after_s and state != "stopped"
        if state == "offline" or silent:
            quiet = None if state == "offline" or last is None else now - last
            why = "Last Will: offline" if quiet is None else f"silent for {quiet:.0f}s"
            code, values = (
                ("unit_offline", {"unit": unit})
                if quiet is None
                else ("unit_silent", {"unit": unit, "silent_real_s": quiet})
            )
            out.append(
                alert_signal(
                    cfg,
                    Rule.DEVICE_OFFLINE,
                    unit,
                    "Unit offline",
                    f"{unit}: {why}",
                    site,
                    unit,
                    code=code,
                    values=values,
                )
            )
        elif state == "online":
            out.append(
                clear_signal(
                    cfg,
                    Rule.DEVICE_OFFLINE,
                    unit,
                    "unit_online",
                    site,
                    unit,
                    only_codes=_UNIT_OFFLINE_CODES,
                    values={"unit": unit},
                )
            )
        offline = set(u.get("boards_offline") or [])
        for board in sorted(offline):
            out.append(
                alert_signal(
                    cfg,
                    Rule.DEVICE_OFFLINE,
                    f"{unit}:{board}",
                    "Board offline",
                    f"{unit}: board {board} offline",
                    site,
                    unit,
                    code="board_offline",
                    values={"unit": unit, "device": board},
                )
            )
        for b in (u.get("telemetry") or {}).get("boards") or []:
            name = b.get("name") if isinstance(b, dict) else None
            if isinstance(name, str) and b.get("online") and name not in offline:
                out.append(
                    clear_signal(
                        cfg,
                        Rule.DEVICE_OFFLINE,
                        f"{unit}:{name}",
                        "board_online",
                        site,
                        unit,
                        only_codes=_BOARD_OFFLINE_CODES,
                        values={"unit": unit, "device": name},
                    )
                )
    return out


def case_of_another_unit_signal(ev: EventEnvelope, site: str, cfg: RiskRulesConfig) -> AlertSignal:
    """A unit reported an event about a case another unit opened: kept in its record, applied to nothing."""
    return alert_signal(
        cfg,
        Rule.CASE_OF_ANOTHER_UNIT,
        ev.unit,
        "Event about another unit's case",
        f"{ev.unit}: event {ev.seq} ({ev.kind.value}) names case {ev.case_id}, which is not this unit's; it changed nothing",
        site,
        ev.unit,
        code=Rule.CASE_OF_ANOTHER_UNIT.value,
        values={"unit": ev.unit, "seq": ev.seq, "kind": ev.kind.value, "case": ev.case_id or "?"},
    )


def integrity_signals(
    conflicts: list[Any],
    refused: list[Any],
    breaks: dict[str, tuple[int, int, str]],
    dropped: dict[str, int],
    unit_site: dict[str, str],
    cfg: RiskRulesConfig,
) -> list[AlertSignal]:
    """Alerts about a unit's record itself: conflicting versions of an event, refused events, a broken chain, a dead-letter flood.

    `conflicts` have .unit/.seq, `refused` are stored refusal markers (.ev), `breaks` is unit -> (count, a seq, why).
    """
    off = set(cfg.disabled)
    out: list[AlertSignal] = []
    if Rule.EVENT_CONFLICT not in off:
        for c in conflicts:
            replaced = c.stored_hash is None
            what = (
                "arrived valid after a refused message with its seq: the valid one replaced the refusal, which stays a dead letter"
                if replaced
                else "arrived again with other content; both versions are kept (bridge audit verify)"
            )
            out.append(
                alert_signal(
                    cfg,
                    Rule.EVENT_CONFLICT,
                    c.unit,
                    "Conflicting versions of an event",
                    f"{c.unit}: event {c.seq} {what}",
                    unit_site.get(c.unit),
                    c.unit,
                    code="event_replaced_refusal" if replaced else "event_conflict",
                    values={"unit": c.unit, "seq": c.seq},
                )
            )
    if Rule.EVENT_REFUSED not in off:
        for a in refused:
            ev = a.ev
            out.append(
                alert_signal(
                    cfg,
                    Rule.EVENT_REFUSED,
                    ev.unit,
                    "Event refused by the bridge",
                    f"{ev.unit}: event {ev.seq} refused ({ev.data.get('reason', '')}); kept as a dead letter, the watermark moved past it",
                    unit_site.get(ev.unit),
                    ev.unit,
                    code=Rule.EVENT_REFUSED.value,
                    values={"unit": ev.unit, "seq": ev.seq, "reason": str(ev.data.get("reason", ""))},
                )
            )
    if Rule.EVENT_CHAIN_BROKEN not in off:
        for unit, (n, seq, why) in sorted(breaks.items()):
            out.append(
                alert_signal(
                    cfg,
                    Rule.EVENT_CHAIN_BROKEN,
                    unit,
                    "Event chain broken",
                    f"{unit}: event {seq}: {why} ({n} broken link{'s' if n != 1 else ''} in this batch): an event was forged, altered or lost",
                    unit_site.get(unit),
                    unit,
                    code=Rule.EVENT_CHAIN_BROKEN.value,
                    values={"unit": unit, "seq": seq, "count": n, "why": why},
                )
            )
    if Rule.DEAD_LETTER_FLOOD not in off:
        for unit, n in sorted(dropped.items()):
            out.append(
                alert_signal(
                    cfg,
                    Rule.DEAD_LETTER_FLOOD,
                    unit,
                    "Flood of malformed messages",
                    f"{unit}: {n} malformed messages beyond this hour's dead-letter budget were only counted",
                    unit_site.get(unit),
                    None if unit == "?" else unit,
                    code=Rule.DEAD_LETTER_FLOOD.value,
                    values={"unit": unit, "count": n},
                )
            )
    return out


def plate_issued_twice_signal(
    number: str, case_id: str | None, holder: str | None, site: str | None, unit: str | None, cfg: RiskRulesConfig
) -> AlertSignal:
    return alert_signal(
        cfg,
        Rule.PLATE_ISSUED_TWICE,
        number,
        "Plate number issued twice",
        f"plate {number} reported issued for case {case_id} but it belongs to case {holder}",
        site,
        unit,
        case_id,
        code=Rule.PLATE_ISSUED_TWICE.value,
        values={"plate": number, "case": case_id or "?", "holder": holder or "?"},
    )


def fold_signals(f: FoldFindings, cfg: RiskRulesConfig) -> list[AlertSignal]:
    """Every alert one fold's findings call for, in the order they fire (the last detail per key is the one kept).

    A rule that trips over odd event data is skipped for that event: whatever a lane put in
    `data`, its events are stored and the other rules still run.
    """
    out = integrity_signals(f.conflicts, f.refused, f.breaks, f.dead_dropped, f.unit_site, cfg)
    for e in f.events:
        ev = e.ev
        if e.foreign:
            out.append(case_of_another_unit_signal(ev, e.site, cfg))
            continue
        try:
            out += check_event(ev, e.before, e.site, cfg, paid_by_bridge=e.paid_by_bridge)
        except Exception:
            log.exception("risk rules skipped for %s#%s", ev.unit, ev.seq)
        if e.sign_in_failures is not None:
            sig = failed_logins_signal(sign_in_name(ev), e.sign_in_failures, cfg, e.site, ev.unit)
            if sig:
                out.append(sig)
        if e.plate_clash is not None:
            out.append(
                plate_issued_twice_signal(e.plate_clash.number, ev.case_id, e.plate_clash.holder, e.site, ev.unit, cfg)
            )
    for t in f.inspectors:
        sig = override_rate_signal(t.inspector, t.inspections, t.corrections, cfg, t.site, t.unit)
        if sig:
            out.append(sig)
    return out + exam_fold_signals(f.exams, cfg)


# ---------------------------------------------------------------- exam supervision (docs/exam-site.md)
def exam_link(exam_id: str) -> str:
    """Where an exam alert's evidence is: the exam's result page."""
    return f"/exam/exams/{exam_id}"


def exam_signal(
    cfg: RiskRulesConfig,
    rule: Rule,
    key: object,
    title: str,
    detail: str,
    exam: dict[str, Any],
    *,
    code: str = "",
    values: dict[str, Any] | None = None,
) -> AlertSignal:
    """An exam alert: its rule, the exam as `case_id`, the car and site, and the link to the evidence in its detail."""
    exam_id = str(exam.get("exam_id"))
    return alert_signal(
        cfg,
        rule,
        key,
        title,
        f"{detail} — {exam_link(exam_id)}",
        exam.get("site"),
        exam.get("unit"),
        exam_id,
        code=code or rule.value,
        values={"exam": exam_id, "unit": exam.get("unit") or "?", **(values or {})},
    )


def _exam_degraded_fix(x: ExamFinding, cfg: RiskRulesConfig) -> list[AlertSignal]:
    worst = x.exam.get("worst_quality")
    if x.kind != "track_complete" or worst in (None, "rtk_fixed") or x.exam.get("status") not in ("passed", "failed"):
        return []
    detail = f"exam {x.exam['exam_id']} on {x.unit} was judged while the fix was {worst} (worse than RTK fixed)"
    return [
        exam_signal(
            cfg,
            Rule.EXAM_DEGRADED_FIX,
            x.exam["exam_id"],
            "Exam judged on a degraded fix",
            detail,
            x.exam,
            values={"fix": str(worst)},
        )
    ]


def _exam_result_changed(x: ExamFinding, cfg: RiskRulesConfig) -> list[AlertSignal]:
    if x.kind != "result_changed" or x.previous is None:
        return []
    p = x.previous
    detail = (
        f"exam {x.exam['exam_id']}: stored result {p.get('status')} ({p.get('score')}) changed to "
        f"{x.exam.get('status')} ({x.exam.get('score')}) by {x.unit}"
    )
    return [
        exam_signal(
            cfg,
            Rule.EXAM_RESULT_OVERRIDDEN,
            x.exam["exam_id"],
            "Stored exam result changed",
            detail,
            x.exam,
            code="exam-result-changed",
            values={
                "was": str(p.get("status")),
                "was_score": p.get("score"),
                "now": str(x.exam.get("status")),
                "now_score": x.exam.get("score"),
            },
        )
    ]


def _exam_retake_too_soon(x: ExamFinding, cfg: RiskRulesConfig) -> list[AlertSignal]:
    started, failed = x.exam.get("started_at"), x.last_failed_at
    if x.kind != "started" or started is None or failed is None:
        return []
    days = (float(started) - failed) / 86400.0
    if days >= cfg.exam_retake_min_days:
        return []
    detail = (
        f"exam {x.exam['exam_id']}: candidate {x.id_number} examined again {days:.1f} days after a failed exam "
        f"(at least {cfg.exam_retake_min_days:g} days)"
    )
    return [
        exam_signal(
            cfg,
            Rule.EXAM_RETAKE_TOO_SOON,
            x.exam["exam_id"],
            "Candidate examined again too soon",
            detail,
            x.exam,
            values={"candidate": x.id_number or "?", "days": round(days, 1), "min_days": cfg.exam_retake_min_days},
        )
    ]


def _exam_too_fast(x: ExamFinding, cfg: RiskRulesConfig) -> list[AlertSignal]:
    e = x.exam
    if x.kind not in ("result", "result_changed") or e.get("ended_by") != "completed" or e.get("started_at") is None:
        return []
    minutes = (float(e["ended_at"]) - float(e["started_at"])) / 60.0
    if minutes >= cfg.exam_min_minutes:
        return []
    detail = f"exam {e['exam_id']} on {x.unit}: every item driven in {minutes:.1f} min (at least {cfg.exam_min_minutes:g} min)"
    values = {"minutes": round(minutes, 1), "min_minutes": cfg.exam_min_minutes}
    return [
        exam_signal(cfg, Rule.EXAM_TOO_FAST, e["exam_id"], "Exam finished implausibly fast", detail, e, values=values)
    ]


def _exam_track_corrupt(x: ExamFinding, cfg: RiskRulesConfig) -> list[AlertSignal]:
    if x.kind != "track_corrupt":
        return []
    detail = f"exam {x.exam['exam_id']} on {x.unit}: its track's pieces do not reassemble (missing or altered)"
    return [
        exam_signal(
            cfg,
            Rule.EXAM_TRACK_MISSING,
            x.exam["exam_id"],
            "Exam track corrupt",
            detail,
            x.exam,
            code="exam-track-corrupt",
        )
    ]


# Which rules judge the exam fold's findings, in the order their alerts are raised.
EXAM_RULES: tuple[tuple[Rule, Callable[[ExamFinding, RiskRulesConfig], list[AlertSignal]]], ...] = (
    (Rule.EXAM_RETAKE_TOO_SOON, _exam_retake_too_soon),
    (Rule.EXAM_RESULT_OVERRIDDEN, _exam_result_changed),
    (Rule.EXAM_TOO_FAST, _exam_too_fast),
    (Rule.EXAM_DEGRADED_FIX, _exam_degraded_fix),
    (Rule.EXAM_TRACK_MISSING, _exam_track_corrupt),
)


def exam_fold_signals(found: list[ExamFinding], cfg: RiskRulesConfig) -> list[AlertSignal]:
    """The exam rules over what one fold found; a rule that trips over odd data is skipped for that finding."""
    off, out = set(cfg.disabled), []
    for x in found:
        for rule, judge in EXAM_RULES:
            if rule in off:
                continue
            try:
                out += judge(x, cfg)
            except Exception:
                log.exception("exam rule %s skipped for %s", rule, x.exam.get("exam_id"))
    return out


def exam_override_signal(
    exam: dict[str, Any], who: str, passed: bool, reason: str, cfg: RiskRulesConfig
) -> AlertSignal | None:
    """An examiner overrode the electronic judgement (kept beside it)."""
    if Rule.EXAM_RESULT_OVERRIDDEN in cfg.disabled:
        return None
    detail = (
        f"exam {exam['exam_id']}: {who} overrode the electronic result {exam.get('status')} ({exam.get('score')}) "
        f"with {'passed' if passed else 'failed'}: {reason}"
    )
    return exam_signal(
        cfg,
        Rule.EXAM_RESULT_OVERRIDDEN,
        exam["exam_id"],
        "Examiner overrode the electronic judgement",
        detail,
        exam,
        values={
            "who": who,
            "was": str(exam.get("status")),
            "was_score": exam.get("score"),
            "now": "passed" if passed else "failed",
            "reason": reason,
        },
    )


def pass_rate_signals(judged: list[dict[str, Any]], cfg: RiskRulesConfig) -> list[AlertSignal]:
    """Cars and examiners whose pass rate over enough exams differs from their site's by more than the gap (periodic sweep)."""
    if Rule.EXAM_PASS_RATE_DEVIATION in cfg.disabled:
        return []
    groups: dict[tuple[str, str, str], list[bool]] = {}
    for x in judged:
        passed = x["status"] == "passed"
        groups.setdefault((x["site"], "site", ""), []).append(passed)
        groups.setdefault((x["site"], "car", x["unit"]), []).append(passed)
        if x.get("signed_by"):
            groups.setdefault((x["site"], "examiner", x["signed_by"]), []).append(passed)
    out = []
    for (site, what, who), results in sorted(groups.items()):
        site_results = groups[(site, "site", "")]
        if what == "site" or len(results) < cfg.exam_rate_min_exams:
            continue
        rate, site_rate = sum(results) / len(results), sum(site_results) / len(site_results)
        if abs(rate - site_rate) <= cfg.exam_rate_max_gap:
            continue
        detail = (
            f"{what} {who} at {site}: pass rate {rate:.0%} over {len(results)} exams, the site's {site_rate:.0%} "
            f"over {len(site_results)} (gap over {cfg.exam_rate_max_gap:.0%}) — /exam/exams?{what}={who}"
        )
        out.append(
            alert_signal(
                cfg,
                Rule.EXAM_PASS_RATE_DEVIATION,
                f"{site}:{what}:{who}",
                "Exam pass rate deviates from the site's",
                detail,
                site,
                who if what == "car" else None,
                code=f"exam-pass-rate-{what}",
                values={
                    "who": who,
                    "site": site,
                    "rate_pct": round(rate * 100),
                    "n": len(results),
                    "site_rate_pct": round(site_rate * 100),
                    "site_n": len(site_results),
                    "gap_pct": round(cfg.exam_rate_max_gap * 100),
                },
            )
        )
    return out


def track_missing_signals(missing: list[dict[str, Any]], now: float, cfg: RiskRulesConfig) -> list[AlertSignal]:
    """Exams ended longer ago than the grace whose track has not arrived complete (periodic sweep; the store picks them)."""
    if Rule.EXAM_TRACK_MISSING in cfg.disabled:
        return []
    out = []
    for x in missing:
        if x.get("ended_at") is None or now - float(x["ended_at"]) <= cfg.exam_track_grace_s:
            continue
        detail = (
            f"exam {x['exam_id']} on {x['unit']} ended {(now - float(x['ended_at'])) / 60:.0f} min ago and its track "
            f"is {x.get('track_state') or 'pending'}, not complete"
        )
        values = {"minutes": round((now - float(x["ended_at"])) / 60), "state": x.get("track_state") or "pending"}
        out.append(
            exam_signal(cfg, Rule.EXAM_TRACK_MISSING, x["exam_id"], "Exam track missing", detail, x, values=values)
        )
    return out


def rules_reference() -> str:
    """The Markdown reference of the rules file's keys and default severities (for docs/bridge.md)."""
    cfg = RiskRulesConfig()
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for name, f in RiskRulesConfig.model_fields.items():
        if name in ("severity", "disabled"):
            continue
        lines.append(f"| `{name}` | `{getattr(cfg, name)!r}` | {f.description} |")
    lines += ["", "| rule | default severity |", "|---|---|"]
    lines += [f"| `{r.value}` | `{cfg.sev(r).value}` |" for r in Rule]
    return "\n".join(lines)
