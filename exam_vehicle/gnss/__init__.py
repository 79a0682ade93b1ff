"""The GNSS receiver side: one position epoch per fix, from NMEA 0183 and u-blox UBX in one byte stream."""

from exam_vehicle.gnss.epoch import Epoch, FixQuality
from exam_vehicle.gnss.reader import GnssReader, ReaderStats

__all__ = ["Epoch", "FixQuality", "GnssReader", "ReaderStats"]
