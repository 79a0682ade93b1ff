"""MicroPython firmware for the RP2040 lane-bus boards (I/O board, plate issuer)."""
