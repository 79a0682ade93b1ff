"""Host side of the lane bus: asyncio driver for the RP2040 I/O board and
plate issuer on any pyserial URL.  The protocol itself lives in
firmware/lanebus.py (one codec, shared with the boards)."""

from .boards import (BarrierStatus, IoBoard, IoStatus, IssuerStatus, JobStatus, PlateIssuer)
from .client import (BoardClient, BoardEvent, BoardInfo, BoardOffline, CommandRefused, LaneBusHostError,
                     LinkStats, Reply, WrongBoard)

__all__ = ["BarrierStatus", "BoardClient", "BoardEvent", "BoardInfo", "BoardOffline", "CommandRefused",
           "IoBoard", "IoStatus", "IssuerStatus", "JobStatus", "LaneBusHostError", "LinkStats",
           "PlateIssuer", "Reply", "WrongBoard"]
