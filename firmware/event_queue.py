"""A fixed-size ring of board events for the pure firmware cores.

Each slot holds an event type and three bytes (a, b, c) plus one object
reference (the job a plate-issuer event is about, or None).  Pushing stores
into preallocated buffers: the control loop never allocates for an event.
The board shell drains the ring into the lane bus once per loop step.
"""


class EventQueue:
    """Fixed-size ring of (type, a, b, c, ref) events; no allocation on push."""

    def __init__(self, size=32):
        self._buf = bytearray(4 * size)
        self._refs = [None] * size
        self._size = size
        self._head = 0
        self._len = 0
        self.dropped = 0

    def push(self, t, a, b, c, ref=None):
        """Queue one event; a full ring counts it in `dropped` instead."""
        if self._len == self._size:
            self.dropped += 1
            return
        slot = (self._head + self._len) % self._size
        i = slot * 4
        buf = self._buf
        buf[i] = t
        buf[i + 1] = a
        buf[i + 2] = b
        buf[i + 3] = c
        self._refs[slot] = ref
        self._len += 1

    def __len__(self):
        return self._len

    def pop_into(self, out):
        """Drop the oldest event, storing its type in out[0] (no allocation)."""
        out[0] = self._buf[self._head * 4]
        self._refs[self._head] = None
        self._head = (self._head + 1) % self._size
        self._len -= 1

    def pop(self):
        """The oldest event as (type, a, b, c, ref); the shell's side, which may allocate."""
        slot = self._head
        i = slot * 4
        buf = self._buf
        ev = (buf[i], buf[i + 1], buf[i + 2], buf[i + 3], self._refs[slot])
        self._refs[slot] = None
        self._head = (self._head + 1) % self._size
        self._len -= 1
        return ev
