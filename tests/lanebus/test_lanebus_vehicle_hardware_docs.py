"""hardware_specs/vehicle-board.md agrees with the vehicle board's RP2040 HAL (firmware/hal_rp2.py, read as
source: `machine` is not importable on CPython) and its firmware's timing constants; the simulated HAL has
the real one's methods; the firmware imports nothing but firmware modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from firmware import io_board, link, plate_issuer, vehicle_board
from firmware import lanebus as lb

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "hardware_specs" / "vehicle-board.md"


def hal_constants() -> dict[str, object]:
    tree = ast.parse((ROOT / "firmware" / "hal_rp2.py").read_text())
    ns: dict[str, object] = {"lb": lb}
    for m in (io_board, plate_issuer, vehicle_board):
        ns.update({k: getattr(m, k) for k in dir(m) if k.isupper()})
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper():
            out[node.targets[0].id] = eval(compile(ast.Expression(node.value), "hal_rp2", "eval"), ns)  # noqa: S307
    return out


def table(first_header: str) -> list[list[str]]:
    rows, on = [], False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| " + first_header + " |"):
            on = True
            continue
        if on and line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not set(cells[0]) <= set("-: "):
                rows.append(cells)
        elif on:
            break
    assert rows, first_header
    return rows


def _gp(cell: str) -> int:
    m = re.fullmatch(r"GP(\d+)", cell)
    assert m, cell
    return int(m.group(1))


def test_switch_input_table_matches_the_hal_pin_map():
    doc = {_gp(r[0]): lb.VEHICLE_SIGNAL_NAMES.index(r[1]) for r in table("GPIO | Signal")}
    pins = hal_constants()["VEHICLE_INPUT_PINS"]
    assert doc == {g: sig for g, sig, _ in pins}
    assert not any(inv for _, _, inv in pins)  # "none is inverted as built"
    assert "none is inverted as built" in DOC.read_text(encoding="utf-8")


def test_every_switch_signal_has_an_input_and_the_engine_comes_from_the_tach():
    names = {r[1] for r in table("GPIO | Signal")}
    assert names == set(lb.VEHICLE_SIGNAL_NAMES) - {"engine_running", "engine_rpm"}


def test_tach_pin_and_hold_off_match_the_hal():
    c = hal_constants()
    (row,) = table("GPIO | Input")
    assert _gp(row[0]) == c["VEHICLE_TACH_PIN"] and "tach" in row[1]
    assert f"TACH_HOLDOFF_US ({c['TACH_HOLDOFF_US']} µs)" in DOC.read_text(encoding="utf-8")


def test_timing_table_matches_the_firmware():
    doc = {r[0]: int(r[1]) for r in table("Constant | Value")}
    # the loop period is every board's (firmware.link), the rest the vehicle board's own
    assert doc == {name: getattr(vehicle_board, name, getattr(link, name, None)) for name in doc}
    assert set(doc) >= {
        "DEBOUNCE_MS",
        "TURN_OFF_MS",
        "RPM_WINDOW_MS",
        "RPM_REPORT_STEP",
        "ENGINE_RUNNING_RPM",
        "ENGINE_STOPPED_RPM",
    }


def test_coarse_tach_steps_in_the_doc_are_the_firmwares():
    text = DOC.read_text(encoding="utf-8")
    assert (
        f"({vehicle_board.rpm_report_step(10)} rpm at 1 pulse per revolution, "
        f"{vehicle_board.rpm_report_step(5)} at 0.5)" in text
    )
    assert vehicle_board.rpm_report_step(vehicle_board.DEFAULT_PULSES_PER_REV_X10) == vehicle_board.RPM_REPORT_STEP


def _methods(tree: ast.Module, cls: str) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return {n.name for n in node.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
    raise AssertionError(cls)


def test_simulated_hal_has_the_vehicle_hal_methods():
    from firmware.sim.server import SimHal

    tree = ast.parse((ROOT / "firmware" / "hal_rp2.py").read_text())
    real = _methods(tree, "_CommonHal") | _methods(tree, "VehicleBoardHal")
    assert real <= {n for n in dir(SimHal) if not n.startswith("_")}
    assert _methods(tree, "VehicleBoardHal") == {"read_signals", "pulse_count"}


def test_vehicle_firmware_imports_only_board_firmware():
    """What lint-imports' "board firmware imports nothing of the host" contract says of the other boards
    (its module list in pyproject.toml does not name firmware.vehicle_board yet)."""
    tree = ast.parse((ROOT / "firmware" / "vehicle_board.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported and all(m.startswith("firmware.") or m == "firmware" for m in imported), imported
    assert not any(m.startswith("firmware.sim") for m in imported)
