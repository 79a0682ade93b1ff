"""Board entry point.  On the board, /main.py is the two lines

    from firmware.main import main
    main()

and /board.cfg holds one word: `io-board` or `plate-issuer` (optionally
followed by `uart` to use UART0 instead of USB CDC for the lane bus).
"""


def read_board_cfg(path="/board.cfg"):
    try:
        with open(path) as f:
            words = f.read().split()
    except OSError:
        words = []
    kind = words[0] if words else "io-board"
    return kind, "uart" in words


def main():
    from firmware import hal_rp2

    kind, use_uart = read_board_cfg()
    if kind == "plate-issuer":
        from firmware.plate_issuer import PlateIssuer
        PlateIssuer(hal_rp2.PlateIssuerHal(use_uart)).run()
    else:
        from firmware.io_board import IoBoard
        IoBoard(hal_rp2.IoBoardHal(use_uart)).run()
