"""Board entry point.  On the board, /main.py is the two lines

    from firmware.main import main
    main()

and /board.cfg holds one word: `io-board`, `plate-issuer` or `vehicle-board`
(optionally followed by `uart` to use UART0 instead of USB CDC for the lane
bus).  A vehicle board also takes `ppr=N`, the car's tach pulses per engine
revolution (0.5 to 12, default 2; hardware_specs/vehicle-board.md).
"""


def _words(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def read_board_cfg(path="/board.cfg"):
    words = _words(path)
    kind = words[0] if words else "io-board"
    return kind, "uart" in words


def read_pulses_per_rev_x10(path="/board.cfg"):
    """`ppr=N` from /board.cfg in tenths; the default when absent or out of range."""
    from firmware import lanebus as lb
    from firmware.vehicle_board import DEFAULT_PULSES_PER_REV_X10

    for w in _words(path):
        if w.startswith("ppr="):
            try:
                v = int(float(w[4:]) * 10 + 0.5)
            except ValueError:
                return DEFAULT_PULSES_PER_REV_X10
            if lb.MIN_PULSES_PER_REV_X10 <= v <= lb.MAX_PULSES_PER_REV_X10:
                return v
            return DEFAULT_PULSES_PER_REV_X10
    return DEFAULT_PULSES_PER_REV_X10


def main():
    from firmware import hal_rp2

    kind, use_uart = read_board_cfg()
    if kind == "plate-issuer":
        from firmware.plate_issuer import PlateIssuer

        PlateIssuer(hal_rp2.PlateIssuerHal(use_uart)).run()
    elif kind == "vehicle-board":
        from firmware.vehicle_board import VehicleBoard

        VehicleBoard(hal_rp2.VehicleBoardHal(use_uart), read_pulses_per_rev_x10()).run()
    else:
        from firmware.io_board import IoBoard

        IoBoard(hal_rp2.IoBoardHal(use_uart)).run()
