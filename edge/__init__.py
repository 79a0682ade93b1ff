"""Runtime shared by every PassLane Raspberry Pi unit (lane controller, exam vehicle)."""
