"""CPython-only simulator: the real firmware on a simulated HAL, its serial
byte stream served over TCP, and a JSON-lines control port for the world."""
