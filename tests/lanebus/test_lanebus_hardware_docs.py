"""hardware_specs/io-board.md and plate-issuer.md pin tables agree with the
RP2040 HAL (firmware/hal_rp2.py, read as source: `machine` is not importable
on CPython)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from firmware import io_board, plate_issuer
from firmware import lanebus as lb

ROOT = Path(__file__).resolve().parents[2]


def hal_constants() -> dict[str, object]:
    tree = ast.parse((ROOT / "firmware" / "hal_rp2.py").read_text())
    ns: dict[str, object] = {
        "lb": lb,
        **{k: getattr(m, k) for m in (io_board, plate_issuer) for k in dir(m) if k.isupper()},
    }
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                out[name] = eval(compile(ast.Expression(node.value), "hal_rp2", "eval"), ns)  # noqa: S307
    return out


def table(doc: str, first_header: str) -> list[list[str]]:
    rows, on = [], False
    for line in (ROOT / "hardware_specs" / doc).read_text().splitlines():
        if line.startswith("| " + first_header + " |"):
            on = True
            continue
        if on and line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not set(cells[0]) <= set("-: "):
                rows.append(cells)
        elif on:
            break
    return rows


RELAY_BITS = {
    "OPEN": io_board.R_OPEN,
    "CLOSE": io_board.R_CLOSE,
    "STOP": io_board.R_STOP,
    "RED": io_board.R_RED,
    "GREEN": io_board.R_GREEN,
}
INPUT_BITS = {
    "loop": lb.IN_LOOP,
    "beam": lb.IN_BEAM,
    "edge": lb.IN_EDGE,
    "limit open": lb.IN_LIMIT_OPEN,
    "limit closed": lb.IN_LIMIT_CLOSED,
}


def _gp(cell: str) -> int:
    return int(re.fullmatch(r"GP(\d+)", cell).group(1))


def test_io_board_relay_table_matches_hal():
    doc = {}
    for gp, relay, *_ in table("io-board.md", "GPIO | Relay"):
        barrier, what = relay.split()
        doc[_gp(gp)] = RELAY_BITS[what] << (io_board.BARRIER_SHIFT if barrier == "exit" else 0)
    assert doc == dict(hal_constants()["IO_RELAY_PINS"])


def test_io_board_input_table_matches_hal():
    doc = {}
    for gp, name, _contact, presence in table("io-board.md", "GPIO | Input"):
        if name == "emergency stop":
            bit = io_board.IN_ESTOP
        else:
            barrier, what = name.split(" ", 1)
            bit = INPUT_BITS[what] << (io_board.BARRIER_SHIFT if barrier == "exit" else 0)
        doc[_gp(gp)] = (bit, "fail-safe" in presence)
    assert doc == {g: (bit, fs) for g, bit, fs in hal_constants()["IO_INPUT_PINS"]}


def test_plate_issuer_pins_match_hal():
    c = hal_constants()
    text = (ROOT / "hardware_specs" / "plate-issuer.md").read_text()
    assert "GP2 / GP3 / GP4" in text and tuple(c["ISSUER_FEED_PINS"]) == (2, 3, 4)
    assert f"start on GP{c['ISSUER_PRINT_PIN']}" in text
    assert f"motor GP{c['ISSUER_EJECT_PIN']}" in text
    sensors = {bit: g for g, bit, _ in c["ISSUER_SENSOR_PINS"]}
    for bit, label in (
        (lb.S_COVER_OPEN, "GP12"),
        (lb.S_TRAY_OCCUPIED, "GP13"),
        (lb.S_PLATE_AT_PRINTER, "GP14"),
        (lb.S_EXIT_BEAM, "GP15"),
        (plate_issuer.S_PRINTER_BUSY, "GP16"),
        (plate_issuer.S_PRINTER_ERROR, "GP17"),
    ):
        assert f"GP{sensors[bit]}" == label and label in text
    for i in range(3):
        assert sensors[1 << (plate_issuer.MAGAZINE_SHIFT + i)] == 18 + i


def _methods(tree: ast.Module, cls: str) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return {n.name for n in node.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
    raise AssertionError(cls)


def test_real_and_simulated_hal_have_the_same_methods():
    from firmware.sim.server import SimHal

    tree = ast.parse((ROOT / "firmware" / "hal_rp2.py").read_text())
    common = _methods(tree, "_CommonHal")
    real_io = common | _methods(tree, "IoBoardHal")
    real_issuer = common | _methods(tree, "PlateIssuerHal")
    real_vehicle = common | _methods(tree, "VehicleBoardHal")
    sim = {n for n in dir(SimHal) if not n.startswith("_")} - {"feed_rx"}  # feed_rx: the TCP side's input
    assert real_io | real_issuer | real_vehicle == sim


def test_every_barrier_safety_reference_names_the_file_in_hardware_specs():
    """docs/architecture.md and the firmware linked to a barrier-safety.md that was not in the repo."""
    assert (ROOT / "hardware_specs" / "barrier-safety.md").is_file()
    for path in (
        "docs/architecture.md",
        "firmware/io_board.py",
        "hardware_specs/io-board.md",
        "hardware_specs/lane-bus.md",
    ):
        text = (ROOT / path).read_text(encoding="utf-8")
        assert "barrier-safety.md" in text, path
        for m in re.finditer(r"\(([^)\s]*barrier-safety\.md)\)", text):  # markdown links resolve
            assert ((ROOT / path).parent / m.group(1)).resolve().is_file(), (path, m.group(1))
    rules = (ROOT / "hardware_specs" / "barrier-safety.md").read_text(encoding="utf-8")
    assert "## Rules the PassLane I/O firmware must enforce" in rules and "## Sources" in rules
