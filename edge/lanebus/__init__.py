"""Host side of the lane bus: the drivers for the RP2040 I/O board and plate
issuer (`IoBoardDriver`, `PlateIssuerDriver`) on any pyserial URL.  The codec
lives in firmware/lanebus.py (one copy, shared with the boards); the host's
protocol session in session.py (pure), its asyncio + pyserial shell in
client.py."""

from .boards import BarrierStatus, IoBoardDriver, IoStatus, IssuerStatus, JobStatus, PlateIssuerDriver, VehicleStatus
from .client import BoardClient
from .session import (
    BoardEvent,
    BoardInfo,
    BoardOffline,
    BoardSession,
    CommandRefused,
    LaneBusHostError,
    LinkStats,
    Reply,
    WrongBoard,
)

__all__ = [
    "BarrierStatus",
    "BoardClient",
    "BoardEvent",
    "BoardInfo",
    "BoardOffline",
    "BoardSession",
    "CommandRefused",
    "IoBoardDriver",
    "IoStatus",
    "IssuerStatus",
    "JobStatus",
    "LaneBusHostError",
    "LinkStats",
    "PlateIssuerDriver",
    "Reply",
    "VehicleStatus",
    "WrongBoard",
]
